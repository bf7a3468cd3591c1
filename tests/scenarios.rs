//! Scenario tests: one folder per scenario under `tests/scenarios/` holding a scripted git
//! history (`history.sh`, which also sets the CI variables) and optionally its own
//! `gipgee.yaml`; the fixture project is `tests/scenarios/_project`. Each scenario runs the
//! real binary and snapshots exit code, output and the generated pipeline, which must also
//! pass GitLab's schema and gitlab-ci-local.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{self, GIPGEE};

/// Variables every scenario's GitLab job has.
const COMMON_CI_VARS: &[(&str, &str)] = &[
    ("CI", "true"),
    ("GITLAB_CI", "true"),
    ("CI_DEFAULT_BRANCH", "main"),
    ("CI_PIPELINE_ID", "1000"),
    ("CI_REGISTRY", "registry.gitlab.example.com"),
    (
        "CI_REGISTRY_IMAGE",
        "registry.gitlab.example.com/group/project",
    ),
    ("CI_REGISTRY_USER", "gitlab-ci-token"),
    ("CI_REGISTRY_PASSWORD", "job-token-secret-value"),
    ("RELEASE_USER", "releaser"),
    ("RELEASE_PASSWORD", "release-secret-value"),
];

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios")
}

struct ScenarioRun {
    snapshot: String,
    workdir: PathBuf,
    pipeline: PathBuf,
}

fn run_scenario(name: &str) -> ScenarioRun {
    let scenario = scenarios_dir().join(name);
    let root = tempfile::tempdir().expect("tempdir").keep();
    let fixture = match scenario.join("gipgee.yaml").exists() {
        true => scenario.clone(),
        false => scenarios_dir().join("_project"),
    };
    let env_file = root.join("ci.env");
    let workdir_file = root.join("workdir");
    let script = format!(
        "source {}; source {}",
        scenarios_dir().join("_lib.sh").display(),
        scenario.join("history.sh").display()
    );
    let mut history = Command::new("bash");
    history
        .args(["-c", &script])
        .current_dir(&root)
        .env("FIXTURE_DIR", &fixture)
        .env("CI_ENV_FILE", &env_file)
        .env("WORKDIR_FILE", &workdir_file);
    support::git_env(&mut history, 0);
    let out = history.output().expect("bash runs");
    assert!(
        out.status.success(),
        "history of {name} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let workdir = match std::fs::read_to_string(&workdir_file) {
        Ok(dir) => PathBuf::from(dir.trim()),
        Err(_) => root.join("work"),
    };
    let ci_vars = std::fs::read_to_string(&env_file).unwrap_or_default();

    let mut gipgee = Command::new(GIPGEE);
    gipgee.arg("generate").current_dir(&workdir).env_clear();
    gipgee.env("PATH", std::env::var("PATH").unwrap_or_default());
    gipgee
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null");
    gipgee.envs(COMMON_CI_VARS.iter().copied());
    for line in ci_vars.lines() {
        if let Some((key, value)) = line.split_once('=') {
            gipgee.env(key, value);
        }
    }
    let out = gipgee.output().expect("gipgee runs");
    let pipeline = workdir.join("gipgee-pipeline.yml");
    let pipeline_text =
        std::fs::read_to_string(&pipeline).unwrap_or_else(|_| "(not written)\n".to_string());
    let scrub =
        |text: &[u8]| String::from_utf8_lossy(text).replace(&root.display().to_string(), "[TEMP]");
    let snapshot = format!(
        "CI variables:\n{}\nexit code: {}\n--- stdout\n{}--- stderr\n{}--- gipgee-pipeline.yml\n{}",
        ci_vars,
        out.status.code().unwrap_or(-1),
        scrub(&out.stdout),
        scrub(&out.stderr),
        pipeline_text.replace(&root.display().to_string(), "[TEMP]")
    );
    ScenarioRun {
        snapshot,
        workdir,
        pipeline,
    }
}

fn check_scenario(name: &str) {
    let run = run_scenario(name);
    for secret in ["job-token-secret-value", "release-secret-value"] {
        assert!(
            !run.snapshot.contains(secret),
            "{name}: a secret value reached the output or pipeline"
        );
    }
    insta::assert_snapshot!(name, run.snapshot);
    if run.pipeline.exists() {
        support::tools::check_pipeline(&run.workdir, &run.pipeline);
    }
}

macro_rules! scenarios {
    ($($test:ident => $dir:literal,)*) => {
        $(#[test] fn $test() { check_scenario($dir); })*

        /// Every scenario folder has a test, so adding a folder without one fails.
        #[test]
        fn every_scenario_folder_has_a_test() {
            let known = [$($dir),*];
            let mut missing = Vec::new();
            for entry in std::fs::read_dir(scenarios_dir()).expect("scenarios dir") {
                let name = entry.expect("entry").file_name().to_string_lossy().to_string();
                if !name.starts_with('_') && !known.contains(&name.as_str()) {
                    missing.push(name);
                }
            }
            assert!(missing.is_empty(), "scenario folders without a test: {missing:?}");
        }
    };
}

scenarios! {
    manual_default => "manual-default",
    manual_default_autostart => "manual-default-autostart",
    first_push => "first-push",
    normal_push => "normal-push",
    merged_mr_push => "merged-mr-push",
    force_push => "force-push",
    branch_first_push => "branch-first-push",
    branch_later_push => "branch-later-push",
    mr_pipeline => "mr-pipeline",
    parent_asset_change => "parent-asset-change",
    child_only_change => "child-only-change",
    nothing_matched => "nothing-matched",
    rebuild_selection => "rebuild-selection",
    shallow_clone => "shallow-clone",
    shallow_clone_no_origin => "shallow-clone-no-origin",
    tag_pipeline => "tag-pipeline",
    scheduled_update_check => "scheduled-update-check",
}

/// The same inputs give byte-identical pipelines.
#[test]
fn output_is_deterministic() {
    let first = run_scenario("parent-asset-change");
    let second = run_scenario("parent-asset-change");
    assert_eq!(
        std::fs::read(&first.pipeline).expect("first pipeline"),
        std::fs::read(&second.pipeline).expect("second pipeline")
    );
}
