//! The external checks of a generated pipeline: GitLab's CI schema (check-jsonschema,
//! `vendor.gitlab-ci`), gitlab-ci-local's `--list`, which also checks `needs`, and Ruby's Psych,
//! the YAML 1.1 parser GitLab reads pipelines with, which must read every value as written.
//!
//! `scripts/test.sh` installs both and sets GIPGEE_REQUIRE_TOOLS=1, which turns a missing tool
//! into a failure; a plain `cargo test` on a machine without them says what it skipped.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether every tool is on PATH. When one is missing, the test skips with a message — or,
/// with GIPGEE_REQUIRE_TOOLS set (`scripts/test.sh`), fails.
#[track_caller]
pub fn tools_available(test: &str, tools: &[&str]) -> bool {
    present_or_skip(test, &missing(tools))
}

/// The tools of `tools` that are not on PATH.
pub fn missing(tools: &[&str]) -> Vec<String> {
    tools
        .iter()
        .filter(|tool| find_on_path(tool).is_none())
        .map(|tool| tool.to_string())
        .collect()
}

/// `true` when nothing is `missing`. Otherwise the test skips with a message (`false`) or,
/// with GIPGEE_REQUIRE_TOOLS set, fails at the caller.
#[track_caller]
pub fn present_or_skip(test: &str, missing: &[String]) -> bool {
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("GIPGEE_REQUIRE_TOOLS").is_none(),
        "{test}: {} required (GIPGEE_REQUIRE_TOOLS is set) but missing; run scripts/install-test-deps.sh",
        missing.join(", ")
    );
    eprintln!(
        "SKIPPED {test}: {} missing; run scripts/test.sh for the full checks",
        missing.join(", ")
    );
    false
}

#[track_caller]
fn tool_available(name: &str) -> bool {
    tools_available(name, &[name])
}

/// The executable `tool` on PATH, if there is one.
pub fn find_on_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// check-jsonschema with GitLab's CI schema, as every pipeline check runs it; the files to
/// check are its arguments.
pub fn gitlab_schema_check() -> Command {
    let mut cmd = Command::new("check-jsonschema");
    cmd.args([
        "--builtin-schema",
        "vendor.gitlab-ci",
        "--data-transform",
        "gitlab-ci",
        "--regex-variant",
        "nonunicode",
    ]);
    cmd
}

/// Validates a pipeline file against GitLab's CI schema.
#[track_caller]
pub fn check_schema(pipeline: &Path) {
    if !tool_available("check-jsonschema") {
        return;
    }
    let out = gitlab_schema_check()
        .arg(pipeline)
        .output()
        .expect("check-jsonschema runs");
    assert!(
        out.status.success(),
        "{} fails GitLab's CI schema (check-jsonschema: {}):\n{}{}",
        pipeline.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Validates several pipeline files against GitLab's CI schema in one call (check-jsonschema
/// takes a second or so per call).
#[track_caller]
pub fn check_schema_of_all(pipelines: &[PathBuf]) {
    if !tool_available("check-jsonschema") {
        return;
    }
    let out = gitlab_schema_check()
        .args(pipelines)
        .output()
        .expect("check-jsonschema runs");
    assert!(
        out.status.success(),
        "a pipeline fails GitLab's CI schema (check-jsonschema: {}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Lists the pipeline with gitlab-ci-local (in `repo`, a git repository with an origin) and
/// returns the job names it lists.
#[track_caller]
pub fn gitlab_ci_local_list(repo: &Path, pipeline: &Path) -> Option<Vec<String>> {
    if !tool_available("gitlab-ci-local") {
        return None;
    }
    ensure_origin(repo);
    // gitlab-ci-local takes the file relative to the repository.
    let relative = pipeline
        .strip_prefix(repo)
        .expect("the pipeline lies in the repository");
    let out = Command::new("gitlab-ci-local")
        .current_dir(repo)
        .arg("--file")
        .arg(relative)
        .args(["--list-csv"])
        .output()
        .expect("gitlab-ci-local runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "gitlab-ci-local --list-csv rejects {} ({}):\n{stdout}{}",
        pipeline.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        stdout
            .lines()
            .skip(1)
            .filter_map(|line| line.split(';').next())
            .map(|name| name.trim_matches('"').to_string())
            .collect(),
    )
}

/// Top-level keys that are not jobs.
const GLOBAL_KEYWORDS: &[&str] = &["default", "include", "stages", "variables", "workflow"];

/// Loads YAML files the way GitLab loads a pipeline (`Gitlab::Config::Loader::Yaml`:
/// `YAML.safe_load` with symbols and aliases permitted) and prints one JSON line per file:
/// `{"ok": document}` or `{"error": message}`. Types JSON cannot show are spelled out, so that
/// they differ from any string: a non-string key as `(Class) inspect`, a symbol, date or time
/// as `{"(Class)": inspect}`, an infinite or NaN float as `{"(Float)": "Infinity"}`.
const PSYCH_LOAD: &str = r##"
require "yaml"
require "json"
def typed(value)
  case value
  when Hash then value.to_h { |k, v| [k.is_a?(String) ? k : "(#{k.class}) #{k.inspect}", typed(v)] }
  when Array then value.map { |v| typed(v) }
  when Float then value.finite? ? value : { "(Float)" => value.to_s }
  when String, Integer, true, false, nil then value
  else { "(#{value.class})" => value.inspect }
  end
end
ARGV.each do |file|
  begin
    document = YAML.safe_load(File.read(file, encoding: "UTF-8"), permitted_classes: [Symbol], permitted_symbols: [], aliases: true)
    puts JSON.generate({"ok" => typed(document)})
  rescue Exception => e
    puts JSON.generate({"error" => "#{e.class}: #{e.message}"})
  end
end
"##;

/// The documents of YAML files as Ruby's Psych reads them (see `PSYCH_LOAD`), in the order
/// given, each or Psych's error; one Ruby for all of them. `None` when Ruby is missing.
#[track_caller]
pub fn psych_load_all(files: &[PathBuf]) -> Option<Vec<Result<serde_json::Value, String>>> {
    if !tool_available("ruby") {
        return None;
    }
    let out = Command::new("ruby")
        .args(["-e", PSYCH_LOAD])
        .args(files)
        .output()
        .expect("ruby runs");
    assert!(
        out.status.success(),
        "ruby failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        files.len(),
        "one line per file from ruby:\n{stdout}"
    );
    let read = lines.into_iter().map(|line| {
        let mut result: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(line).expect("ruby prints a JSON object");
        match (result.remove("ok"), result.remove("error")) {
            (Some(document), _) => Ok(document),
            (None, error) => Err(error.map(|e| e.to_string()).unwrap_or_default()),
        }
    });
    Some(read.collect())
}

/// The document of a YAML file as Ruby's Psych reads it; `None` when Ruby is missing.
#[track_caller]
pub fn psych_load(file: &Path) -> Option<serde_json::Value> {
    let mut read = psych_load_all(&[file.to_path_buf()])?;
    match read.pop() {
        Some(Ok(document)) => Some(document),
        Some(Err(error)) => panic!("Psych cannot load {}: {error}", file.display()),
        None => unreachable!("one result per file"),
    }
}

/// A YAML document in `psych_load`'s spelling, so the two compare types included.
pub fn typed_json(value: &serde_yaml::Value) -> serde_json::Value {
    use serde_json::Value as Json;
    use serde_yaml::Value as Yaml;
    match value {
        Yaml::Null => Json::Null,
        Yaml::Bool(flag) => Json::Bool(*flag),
        Yaml::Number(number) => {
            if let Some(int) = number.as_i64() {
                Json::from(int)
            } else if let Some(uint) = number.as_u64() {
                Json::from(uint)
            } else {
                let float = number.as_f64().expect("a number is i64, u64 or f64");
                match serde_json::Number::from_f64(float) {
                    Some(finite) => Json::Number(finite),
                    None => {
                        let ruby = if float.is_nan() {
                            "NaN"
                        } else if float > 0.0 {
                            "Infinity"
                        } else {
                            "-Infinity"
                        };
                        serde_json::json!({ "(Float)": ruby })
                    }
                }
            }
        }
        Yaml::String(text) => Json::String(text.clone()),
        Yaml::Sequence(items) => Json::Array(items.iter().map(typed_json).collect()),
        Yaml::Mapping(map) => Json::Object(
            map.iter()
                .map(|(key, value)| {
                    let key = match key {
                        Yaml::String(text) => text.clone(),
                        other => format!("(non-string key) {other:?}"),
                    };
                    (key, typed_json(value))
                })
                .collect(),
        ),
        Yaml::Tagged(tagged) => {
            serde_json::json!({ format!("(tag) {}", tagged.tag): typed_json(&tagged.value) })
        }
    }
}

/// Psych (YAML 1.1, GitLab's parser) reads `pipeline` as the same document as serde_yaml
/// (YAML 1.2, what gipgee meant), types included: no `on` read as `true`, no `1_000` as a
/// number.
#[track_caller]
pub fn check_psych_reads_as_written(pipeline: &Path) {
    let Some(psych) = psych_load(pipeline) else {
        return;
    };
    let text = std::fs::read_to_string(pipeline).expect("pipeline readable");
    let intended: serde_yaml::Value = serde_yaml::from_str(&text).expect("pipeline is YAML");
    let intended = typed_json(&intended);
    if psych != intended {
        panic!(
            "Psych (GitLab's YAML parser) reads {} differently:\n{}",
            pipeline.display(),
            json_differences(&intended, &psych, "").join("\n")
        );
    }
}

/// Where two documents differ, as `path: intended … read` lines.
fn json_differences(
    intended: &serde_json::Value,
    read: &serde_json::Value,
    at: &str,
) -> Vec<String> {
    use serde_json::Value as Json;
    match (intended, read) {
        (Json::Object(a), Json::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            keys.into_iter()
                .flat_map(|key| {
                    let path = format!("{at}/{key}");
                    match (a.get(key), b.get(key)) {
                        (Some(x), Some(y)) => json_differences(x, y, &path),
                        (x, y) => vec![format!("{path}: intended {x:?}, Psych read {y:?}")],
                    }
                })
                .collect()
        }
        (Json::Array(a), Json::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .flat_map(|(index, (x, y))| json_differences(x, y, &format!("{at}/{index}")))
            .collect(),
        (a, b) if a == b => Vec::new(),
        (a, b) => vec![format!("{at}: intended {a}, Psych read {b}")],
    }
}

/// All checks, and that gitlab-ci-local sees exactly the jobs of the file.
#[track_caller]
pub fn check_pipeline(repo: &Path, pipeline: &Path) {
    // Psych first: its failure names every value read as another type.
    check_psych_reads_as_written(pipeline);
    check_schema(pipeline);
    let text = std::fs::read_to_string(pipeline).expect("pipeline readable");
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).expect("pipeline is YAML");
    let mut expected: Vec<String> = yaml
        .as_mapping()
        .expect("pipeline is a mapping")
        .keys()
        .filter_map(|k| k.as_str())
        .filter(|k| !k.starts_with('.') && !GLOBAL_KEYWORDS.contains(k))
        .map(str::to_string)
        .collect();
    if let Some(mut listed) = gitlab_ci_local_list(repo, pipeline) {
        listed.sort();
        expected.sort();
        assert_eq!(
            listed,
            expected,
            "gitlab-ci-local lists other jobs than {} has",
            pipeline.display()
        );
    }
}

/// gitlab-ci-local needs an `origin` remote and its default branch ref.
#[track_caller]
fn ensure_origin(repo: &Path) {
    let has_origin = Command::new("git")
        .current_dir(repo)
        .args(["remote", "get-url", "origin"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_origin {
        crate::support::git(
            repo,
            &[
                "remote",
                "add",
                "origin",
                "https://gitlab.example.com/group/project.git",
            ],
        );
        crate::support::git(repo, &["update-ref", "refs/remotes/origin/main", "HEAD"]);
    }
}

/// Validates a YAML file against a JSON Schema file; `None` when check-jsonschema is missing.
#[track_caller]
pub fn check_against_schema(schema: &Path, file: &Path) -> Option<bool> {
    if !tool_available("check-jsonschema") {
        return None;
    }
    let out = Command::new("check-jsonschema")
        .arg("--schemafile")
        .arg(schema)
        .arg(file)
        .output()
        .expect("check-jsonschema runs");
    Some(out.status.success())
}
