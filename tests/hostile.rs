//! Hostile input: ids, test names, build args and commands full of quotes, `$`, newlines,
//! `#`, `: ` and unicode must keep the pipeline's YAML structure and every shell word intact.
//! The script lines are *run* by a real shell with the tools replaced by a stub that prints its
//! arguments, so an injection would show up as a changed argument list or an extra command.
//! Also: no secret value ever reaches a generated file or gipgee's output.

use std::process::Command;

use crate::support::{self, Test};

const HOSTILE_VALUE: &str = "it's \"quoted\" $HOME $(touch /tmp/gipgee-pwned) `id` # not a comment\nevil: true\n- item: ünïcödé ✓ del\u{7f} nel\u{85} ls\u{2028} ps\u{2029} bom\u{feff}";

fn hostile_config() -> String {
    let value = serde_json::to_string(HOSTILE_VALUE).unwrap();
    format!(
        r#"
version: 1
images:
  weird.id_1-x:
    baseImage: registry.example.com/base:1
    targetLocations: ["registry.example.com/weird:1"]
    staging: registry.example.com/staging
    buildArgs:
      HOSTILE: {value}
    tests:
      - name: "it's a \"test\" $HOME #1: ünïcode"
        command: ["sh", "-c", {value}]
      - name: script
        script: [{value}, "echo 'second line'"]
"#
    )
}

/// Runs one script line in `sh` with `buildah`/`skopeo` as functions that print each argument
/// on its own line (NUL-free), and returns what they printed.
#[track_caller]
fn run_with_stub(line: &str) -> Vec<String> {
    let script = format!(
        "buildah() {{ for a in \"$@\"; do printf '%s\\0' \"$a\"; done; }}\nskopeo() {{ buildah \"$@\"; }}\n{line}\n"
    );
    // Panics at the caller with the script (the line in it), its status and stderr.
    support::run(Command::new("sh").arg("-c").arg(script))
        .split('\0')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// A script line of a job with the job's variables set, as a runner sets them (GitLab reads
/// `$$` in a variable's value as `$`).
fn with_job_variables(job: &serde_yaml::Mapping, line: &str) -> String {
    let mut script = String::new();
    for (name, value) in job["variables"].as_mapping().into_iter().flatten() {
        let value = value.as_str().unwrap_or_default().replace("$$", "$");
        script.push_str(&format!(
            "{}='{}'; ",
            name.as_str().unwrap_or_default(),
            value.replace('\'', "'\\''")
        ));
    }
    script.push_str(line);
    script
}

#[test]
fn hostile_values_keep_yaml_structure_and_shell_words() {
    let out = Test::new()
        .gitlab_manual_run()
        .env("GIPGEE_FORCE_AUTOSTART", "true")
        .file("gipgee.yaml", &hostile_config())
        .file("Containerfile", "FROM scratch\n")
        .args(&["generate"])
        .any_stdout()
        .run();
    let text = out.read("gipgee-pipeline.yml");
    let pipeline: serde_yaml::Value = serde_yaml::from_str(&text).expect("valid YAML");
    let jobs: Vec<&str> = pipeline
        .as_mapping()
        .unwrap()
        .keys()
        .filter_map(|k| k.as_str())
        .collect();
    let test_job = "test:weird.id_1-x:it's a \"test\" $HOME #1: ünïcode";
    assert_eq!(
        jobs,
        [
            "stages",
            "workflow",
            ".gipgee-buildah",
            ".gipgee-skopeo",
            ".gipgee-build",
            ".gipgee-test",
            ".gipgee-test-2",
            ".gipgee-release",
            "gipgee:plan",
            ".image:weird.id_1-x",
            "build:weird.id_1-x",
            test_job,
            "test:weird.id_1-x:script",
            "release:weird.id_1-x",
        ]
    );

    // The build arg reaches buildah as exactly one argument, unchanged.
    let build = support::resolve_job(&pipeline, "build:weird.id_1-x");
    let build_script = build["script"].as_sequence().unwrap();
    assert_eq!(build_script.len(), 2, "no login lines, one build, one push");
    let argv = run_with_stub(&with_job_variables(
        &build,
        build_script[0].as_str().unwrap(),
    ));
    let hostile_arg = format!("HOSTILE={HOSTILE_VALUE}");
    assert_eq!(
        argv.iter().filter(|a| **a == hostile_arg).count(),
        1,
        "build arg split or changed: {argv:?}"
    );
    assert_eq!(
        argv.last().map(String::as_str),
        Some("."),
        "the context stays the last word: {argv:?}"
    );
    assert!(
        !std::path::Path::new("/tmp/gipgee-pwned").exists(),
        "a command was injected"
    );

    // The test command is one argv, unchanged; script lines are kept as written.
    let command_test = support::resolve_job(&pipeline, test_job);
    // The first line sets GIPGEE_JUNIT_FILE; the test's own lines follow.
    let command_line = command_test["script"][1].as_str().unwrap();
    let words = run_with_stub(&format!("buildah {command_line}"));
    assert_eq!(words, ["sh", "-c", HOSTILE_VALUE]);
    let script_test = support::resolve_job(&pipeline, "test:weird.id_1-x:script");
    let script = script_test["script"].as_sequence().unwrap();
    assert_eq!(script[1].as_str(), Some(HOSTILE_VALUE));
    assert_eq!(script[2].as_str(), Some("echo 'second line'"));
    assert_eq!(
        command_test["variables"]["GIPGEE_TEST_NAME"].as_str(),
        Some("it's a \"test\" $$HOME #1: ünïcode")
    );

    support::tools::check_pipeline(&out.dir, &out.dir.join("gipgee-pipeline.yml"));
}

#[test]
fn secrets_never_reach_the_pipeline_or_the_output() {
    let secrets = [
        "hunter2-registry-password",
        "s3cr3t-token",
        "job-token-value",
    ];
    let out = Test::new()
        .gitlab_manual_run()
        .env("RELEASE_USER", "releaser")
        .env("RELEASE_PASSWORD", secrets[0])
        .env("DOCKERHUB_TOKEN", secrets[1])
        .env("CI_REGISTRY_PASSWORD", secrets[2])
        .env("CI_REGISTRY_USER", "gitlab-ci-token")
        .file("Containerfile", "FROM scratch\n")
        .file(
            "gipgee.yaml",
            r#"
            version: 1
            registries:
              release.example.com: {usernameVariable: RELEASE_USER, passwordVariable: RELEASE_PASSWORD}
              docker.io: {usernameVariable: DOCKERHUB_USER, passwordVariable: DOCKERHUB_TOKEN}
            images:
              a:
                baseImage: docker.io/library/alpine:3.20
                targetLocations: [release.example.com/a:1, "${CI_REGISTRY_IMAGE}/a:1"]
                staging: ${CI_REGISTRY_IMAGE}/staging
                buildArgs: {TOKEN: "${DOCKERHUB_TOKEN}"}
            "#,
        )
        .args(&["generate"])
        .any_stdout()
        .run();
    let pipeline = out.read("gipgee-pipeline.yml");
    for secret in secrets {
        for (what, text) in [
            ("pipeline", &pipeline),
            ("stdout", &out.stdout),
            ("stderr", &out.stderr),
        ] {
            assert!(
                !text.contains(secret),
                "secret {secret:?} leaked into the {what}"
            );
        }
    }
    // The jobs log in by variable name at run time.
    assert!(
        pipeline.contains(r#"printf '%s' "$RELEASE_PASSWORD" | skopeo login"#),
        "{pipeline}"
    );
    assert!(
        pipeline.contains(r#"printf '%s' "$DOCKERHUB_TOKEN" | buildah login"#),
        "{pipeline}"
    );
    assert!(
        pipeline.contains(r#"printf '%s' "$CI_REGISTRY_PASSWORD" | buildah login"#),
        "{pipeline}"
    );
    // Build args are not expanded by gipgee: the literal text goes to the build.
    assert!(
        pipeline.contains("--build-arg 'TOKEN=${DOCKERHUB_TOKEN}'"),
        "{pipeline}"
    );
}

/// Strings a YAML 1.1 parser reads as another type when they are written plain.
const TYPED_LOOKING: &[&str] = &[
    "yes",
    "=",
    "0o17",
    "1:20",
    ".nan",
    "null",
    "~",
    "<<",
    "Off",
    "1,000",
    "2001-12-14",
    ":symbol",
    " leading",
    "trailing ",
    "# not a comment",
    "key: value",
    "two\nlines",
    "  indented\nlines\n",
    "ünïcödé ✓",
];

/// GitLab reads pipelines with Ruby's Psych (YAML 1.1): image ids, test names and script lines
/// that YAML 1.1 reads as booleans, numbers, null, symbols or its `value` type reach GitLab as
/// the strings they are, and the pipeline passes GitLab's CI schema.
#[test]
fn yaml_1_1_reads_every_string_as_written() {
    let script: Vec<String> = TYPED_LOOKING
        .iter()
        .map(|line| serde_json::to_string(line).unwrap())
        .collect();
    let tests: Vec<String> = TYPED_LOOKING
        .iter()
        .filter(|name| !name.contains('\n') && !name.starts_with(' ') && !name.ends_with(' '))
        .map(|name| {
            format!(
                "{{name: {}, script: [\"true\"]}}",
                serde_json::to_string(name).unwrap()
            )
        })
        .collect();
    let image = |id: &str, extra: &str| {
        format!(
            "  {id:?}:\n    baseImage: registry.example.com/base:1\n    \
             targetLocations: [\"registry.example.com/{id}:1\"]\n    \
             staging: registry.example.com/staging\n{extra}"
        )
    };
    let config = format!(
        "version: 1\nimages:\n{}{}{}",
        image("on", ""),
        image("1_000", ""),
        image(
            "yes",
            &format!(
                "    tests:\n      - {{name: script, script: [{}]}}\n{}",
                script.join(", "),
                tests
                    .iter()
                    .map(|test| format!("      - {test}\n"))
                    .collect::<String>()
            )
        ),
    );
    let out = Test::new()
        .gitlab_manual_run()
        .env("GIPGEE_FORCE_AUTOSTART", "true")
        .file("gipgee.yaml", &config)
        .file("Containerfile", "FROM scratch\n")
        .args(&["generate"])
        .any_stdout()
        .run();
    let text = out.read("gipgee-pipeline.yml");
    let pipeline: serde_yaml::Value = serde_yaml::from_str(&text).expect("valid YAML");
    for id in ["on", "1_000", "yes"] {
        assert_eq!(
            support::resolve_job(&pipeline, &format!("build:{id}"))["variables"]["GIPGEE_IMAGE_ID"]
                .as_str(),
            Some(id),
            "{text}"
        );
    }
    let test = support::resolve_job(&pipeline, "test:yes:script");
    let lines: Vec<&str> = test["script"]
        .as_sequence()
        .expect("the script test has a script")
        .iter()
        .map(|line| line.as_str().expect("every script line is a string"))
        .skip(1) // `export GIPGEE_JUNIT_FILE=…`
        .collect();
    assert_eq!(lines, TYPED_LOOKING);

    let file = out.dir.join("gipgee-pipeline.yml");
    support::tools::check_pipeline(&out.dir, &file);
    // Psych reads what was meant, and what was meant is these strings: compared with the
    // values themselves, not only with another parser's reading.
    if let Some(read) = support::tools::psych_load(&file) {
        let hidden = pipeline["test:yes:script"]["extends"][0].as_str().unwrap();
        let read_lines = read[hidden]["script"].as_array().expect("a script");
        assert_eq!(
            read_lines[1..],
            serde_json::json!(TYPED_LOOKING).as_array().unwrap()[..]
        );
        assert_eq!(read[".image:on"]["variables"]["GIPGEE_IMAGE_ID"], "on");
        assert_eq!(
            read[".image:1_000"]["variables"]["GIPGEE_IMAGE_ID"],
            "1_000"
        );
    }
}

/// The `| yaml` filter writes JSON, which YAML 1.1 reads as written too: a template's values
/// mean the same to Psych as to gipgee's own parser (gipgee reads the rendered job and writes
/// the pipeline itself, but a value must not depend on which parser reads it).
#[test]
fn the_yaml_filter_is_read_as_written_by_psych() {
    let mut values: Vec<serde_json::Value> = TYPED_LOOKING
        .iter()
        .chain([&HOSTILE_VALUE, &"", &"a\u{2028}b\u{85}c"])
        .map(|text| serde_json::json!(text))
        .collect();
    values.extend([
        serde_json::json!(1000),
        serde_json::json!(-7),
        serde_json::json!(0.5),
        serde_json::json!(true),
        serde_json::json!(null),
        serde_json::json!({"on": "yes", "1_000": ["=", 1, false]}),
    ]);
    let text: String = values
        .iter()
        .enumerate()
        .map(|(index, value)| {
            let written = gipgee::render::escape::yaml_filter(minijinja::Value::from(
                minijinja::value::Serde(value),
            ))
            .expect("the filter writes every value");
            format!("k{index}: {written}\n")
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("values.yml");
    std::fs::write(&file, &text).unwrap();
    let Some(read) = support::tools::psych_load(&file) else {
        return;
    };
    let intended: serde_json::Map<String, serde_json::Value> = values
        .into_iter()
        .enumerate()
        .map(|(index, value)| (format!("k{index}"), value))
        .collect();
    assert_eq!(read, serde_json::Value::Object(intended), "{text}");
}

/// Every string of up to three characters from the alphabet of YAML's numbers, dates, booleans
/// and nulls is written so that Psych and serde_yaml both read it back unchanged.
#[test]
fn every_short_string_reads_back_unchanged_in_yaml_1_1_and_1_2() {
    let alphabet: Vec<char> = "019._:+-eExXoObB,fFtTzZ iInNyY~=<".chars().collect();
    let mut strings = vec![String::new()];
    let mut previous = vec![String::new()];
    for _ in 0..3 {
        previous = previous
            .iter()
            .flat_map(|prefix| alphabet.iter().map(move |c| format!("{prefix}{c}")))
            .collect();
        strings.extend(previous.iter().cloned());
    }
    let sequence: Vec<serde_yaml::Value> = strings.iter().map(|s| s.as_str().into()).collect();
    let mut root = serde_yaml::Mapping::new();
    root.insert(
        "strings".into(),
        serde_yaml::Value::Sequence(sequence.clone()),
    );
    let text = gipgee::pipeline::yaml::document(&root);
    let read: serde_yaml::Value = serde_yaml::from_str(&text).expect("valid YAML");
    let changed: Vec<String> = strings
        .iter()
        .zip(read["strings"].as_sequence().expect("a sequence"))
        .filter(|(written, read)| read.as_str() != Some(written.as_str()))
        .map(|(written, read)| format!("{written:?} read as {read:?}"))
        .collect();
    assert!(changed.is_empty(), "serde_yaml: {}", changed.join(", "));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("strings.yml");
    std::fs::write(&file, &text).unwrap();
    support::tools::check_psych_reads_as_written(&file);
}

#[test]
fn a_commit_sha_that_is_not_a_commit_id_never_becomes_a_staging_tag() {
    Test::new()
        .gitlab_manual_run()
        .env("CI_COMMIT_SHA", "x:evil tag")
        .file(
            "gipgee.yaml",
            "version: 1\nimages:\n  a: {baseImage: alpine, targetLocations: [registry.example.com/a:1]}\n",
        )
        .args(&["generate"])
        .status(1)
        .stderr("error: `CI_COMMIT_SHA` is `x:evil tag`: expected the commit id GitLab sets (40 or 64 hexadecimal digits)\n")
        .run();
}
