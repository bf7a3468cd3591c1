//! The template context is a contract with custom templates: every variable a template
//! receives is documented in README.md (between the `template-context` markers), for the
//! template kinds that receive it, and nothing undocumented is passed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use gipgee::config::{self, MissingVariables};
use gipgee::environment::{Flags, Mode, PipelineRun, Settings};
use gipgee::jobs::Rebuild;
use gipgee::jobs::shards::Shard;
use gipgee::plan::Plan;
use gipgee::vars::Vars;

/// Values documented as one variable of a documented type: maps whose keys are data (build
/// arg names) and lists of logins.
const DATA_VALUES: &[&str] = &[
    "image.build_args",
    "build.args",
    "build.labels",
    "build.annotations",
    "logins",
];
/// The fields of a reference object, documented once as the `reference` type.
const REFERENCE_FIELDS: &[&str] = &[
    "digest",
    "full",
    "insecure",
    "registry",
    "repository",
    "tag",
];

fn is_reference(value: &serde_json::Value) -> bool {
    value.as_object().is_some_and(|map| {
        map.keys()
            .map(String::as_str)
            .eq(REFERENCE_FIELDS.iter().copied())
    })
}

fn flatten(prefix: &str, value: &serde_json::Value, out: &mut BTreeSet<String>) {
    match value {
        serde_json::Value::Object(map)
            if !DATA_VALUES.contains(&prefix) && !is_reference(value) =>
        {
            for (key, child) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, child, out);
            }
        }
        serde_json::Value::Array(items)
            if !DATA_VALUES.contains(&prefix)
                && items.iter().any(|i| i.is_object() && !is_reference(i)) =>
        {
            for item in items {
                flatten(&format!("{prefix}[]"), item, out);
            }
        }
        _ => {
            out.insert(prefix.to_string());
        }
    }
}

/// Paths each template kind receives, from a build pipeline (a manual run: every build-side
/// kind) and a scheduled update-check pipeline (every check-side kind).
fn actual_paths() -> BTreeMap<String, BTreeSet<String>> {
    let mut paths: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for source in ["web", "schedule", SHARDED_SCHEDULE] {
        for (kind, context) in contexts(source) {
            let mut found = BTreeSet::new();
            flatten("", &context, &mut found);
            paths.entry(kind.to_string()).or_default().extend(found);
        }
    }
    paths
}

/// A scheduled update check whose checks are batched and whose rebuild is sharded.
const SHARDED_SCHEDULE: &str = "schedule, sharded";

fn contexts(source: &str) -> Vec<(&'static str, serde_json::Value)> {
    let (pipeline_source, max_jobs) = match source {
        SHARDED_SCHEDULE => ("schedule", "7"),
        _ => (source, "500"),
    };
    let project = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/_project");
    let vars = Vars::from_pairs([
        ("CI_PIPELINE_SOURCE", pipeline_source),
        ("CI_COMMIT_BRANCH", "main"),
        ("CI_DEFAULT_BRANCH", "main"),
        ("CI_COMMIT_SHA", "0123456789abcdef0123456789abcdef01234567"),
        ("CI_PIPELINE_ID", "1"),
        ("GIPGEE_MAX_JOBS", max_jobs),
        ("CI_REGISTRY", "registry.gitlab.example.com"),
        (
            "CI_REGISTRY_IMAGE",
            "registry.gitlab.example.com/group/project",
        ),
    ]);
    let flags = Flags {
        config: project.join("gipgee.yaml"),
        workdir: project.clone(),
        ..Flags::default()
    };
    let settings = Settings::resolve(flags, &vars).expect("valid settings");
    let run = PipelineRun::detect(&vars, Mode::Auto).expect("a valid run");
    let config = config::from_str(
        &settings.config,
        &scanned_and_signed(&settings.config),
        &vars,
        MissingVariables::Error,
    )
    .expect("the config loads");
    let resolve_config =
        |text: &str| config::from_str(&settings.config, text, &vars, MissingVariables::Error);
    let released = |_: &[gipgee::oci::Reference]| -> Vec<gipgee::plan::Released> {
        panic!("a manual run reads no released image")
    };
    let inputs = gipgee::plan::Inputs {
        resolve_config: &resolve_config,
        released: &released,
        log: &mut |_| {},
    };
    let plan = gipgee::plan::make(&config, &settings, &run, inputs).expect("plan");
    let layout = [
        Shard {
            images: config.images.keys().cloned().collect(),
            jobs: 2,
            after: Vec::new(),
        },
        Shard {
            images: Vec::new(),
            jobs: 1,
            after: vec![0],
        },
    ];
    let spec = match (&plan, source) {
        // 7 jobs: plan, layer check, evaluate, 2 rebuild triggers, verdict and one batch.
        (Plan::Check(check), SHARDED_SCHEDULE) => {
            let rebuild = Rebuild::Sharded {
                layout: &layout,
                layout_file: "gipgee-rebuild-layout.json",
            };
            gipgee::jobs::check_pipeline_spec(&config, &settings, check, rebuild, usize::MAX)
                .expect("the update check fits in 7 jobs")
        }
        _ => gipgee::jobs::pipeline_spec(&config, &settings, &plan),
    };
    let json = |vars| serde_json::to_value(vars).expect("template variables are JSON");
    std::iter::once(("common", json(&spec.hidden)))
        .chain(spec.jobs.iter().map(|job| (job.kind, json(&job.vars))))
        .collect()
}

/// The fixture's configuration with every image scanned and one signed, so that the scan and
/// sign templates (and the release of a signed image) are among the kinds checked.
fn scanned_and_signed(config: &Path) -> String {
    let text = std::fs::read_to_string(config).expect("the fixture's gipgee.yaml");
    let edited = text
        .replacen("defaults:\n", "defaults:\n  scan: true\n", 1)
        .replacen(
            "    watchedAssets: [\"images/base-tools/**\"]\n",
            "    watchedAssets: [\"images/base-tools/**\"]\n    sign: keyless\n",
            1,
        );
    assert!(
        edited.contains("  scan: true\n") && edited.contains("    sign: keyless\n"),
        "the fixture's gipgee.yaml changed: update this edit"
    );
    edited
}

/// Rows of the README table: `| `path` | type | kinds | meaning |`.
fn documented_paths() -> BTreeMap<String, BTreeSet<String>> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let section = readme
        .split("<!-- template-context:start -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- template-context:end -->").next())
        .expect("README.md has the template-context markers");
    let mut paths: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let path = cells[1].trim_matches('`').to_string();
        for kind in cells[3].split(',').map(str::trim) {
            let kind = if kind == "all" { "*" } else { kind };
            paths
                .entry(kind.to_string())
                .or_default()
                .insert(path.clone());
        }
    }
    paths
}

#[test]
fn every_template_variable_is_documented_for_its_kinds() {
    let actual = actual_paths();
    let documented = documented_paths();
    let for_all = documented.get("*").cloned().unwrap_or_default();
    for (kind, paths) in &actual {
        let mut expected: BTreeSet<String> = documented.get(kind).cloned().unwrap_or_default();
        expected.extend(for_all.iter().cloned());
        let undocumented: Vec<&String> = paths.difference(&expected).collect();
        let stale: Vec<&String> = expected.difference(paths).collect();
        assert!(
            undocumented.is_empty(),
            "template `{kind}` receives undocumented variables: {undocumented:?}"
        );
        assert!(
            stale.is_empty(),
            "README documents variables template `{kind}` does not receive: {stale:?}"
        );
    }
    let unknown_kinds: Vec<&String> = documented
        .keys()
        .filter(|k| *k != "*" && !actual.contains_key(*k))
        .collect();
    assert!(
        unknown_kinds.is_empty(),
        "README names template kinds that do not exist: {unknown_kinds:?}"
    );
}
