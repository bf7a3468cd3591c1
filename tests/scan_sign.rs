//! The wiring of the scan and sign jobs in the job specs of a build pipeline: what each job
//! waits for, GitLab's 50-`needs` limit with the most tests an image may have, and the image
//! each job belongs to (which decides its shard). The jobs run for real in `tests/e2e.rs`
//! (scenario `i`); their built-in templates' output is the `scan-and-sign` scenario snapshot.

use std::collections::BTreeMap;
use std::path::Path;

use gipgee::config::{self, MissingVariables};
use gipgee::environment::{Flags, Mode, PipelineRun, Settings};
use gipgee::jobs::{self, shards};
use gipgee::vars::Vars;

/// Every job of the build pipeline of a manual run of `config` (all images, released): its
/// name → (`needs`, owning image).
fn jobs_of(config_text: &str) -> BTreeMap<String, (Vec<String>, Option<String>)> {
    with_spec(config_text, |spec| {
        spec.jobs
            .iter()
            .map(|job| {
                let owner = job.owner.as_ref().map(|o| o.image.clone());
                (
                    job.name.clone(),
                    (job.needs.clone().unwrap_or_default(), owner),
                )
            })
            .collect()
    })
}

fn with_spec<T>(config_text: &str, check: impl FnOnce(&jobs::PipelineSpec) -> T) -> T {
    with_run(config_text, ("main", Mode::Auto, None), check)
}

/// The spec of a web run of `branch` in `mode`, with a rebuild `selection` file.
fn with_run<T>(
    config_text: &str,
    (branch, mode, selection): (&str, Mode, Option<std::path::PathBuf>),
    check: impl FnOnce(&jobs::PipelineSpec) -> T,
) -> T {
    let vars = Vars::from_pairs([
        ("CI_PIPELINE_SOURCE", "web"),
        ("CI_COMMIT_BRANCH", branch),
        ("CI_DEFAULT_BRANCH", "main"),
        ("CI_COMMIT_SHA", "0123456789abcdef0123456789abcdef01234567"),
        ("CI_PIPELINE_ID", "1"),
    ]);
    let flags = Flags {
        config: Path::new("gipgee.yaml").to_path_buf(),
        selection,
        ..Flags::default()
    };
    let settings = Settings::resolve(flags, &vars).expect("valid settings");
    let run = PipelineRun::detect(&vars, mode).expect("a valid run");
    let resolve =
        |text: &str| config::from_str(&settings.config, text, &vars, MissingVariables::Error);
    let config = resolve(config_text).expect("the config is valid");
    let released = |_: &[gipgee::oci::Reference]| -> Vec<gipgee::plan::Released> {
        panic!("a manual run reads no released image")
    };
    let inputs = gipgee::plan::Inputs {
        resolve_config: &resolve,
        released: &released,
        log: &mut |_| {},
    };
    let plan = gipgee::plan::make(&config, &settings, &run, inputs).expect("plan");
    check(&jobs::pipeline_spec(&config, &settings, &plan))
}

const PARENT_AND_CHILD: &str = "
version: 1
defaults:
  staging: registry.example.com/staging
  scan: true
  sign: keyless
  tests: [{name: smoke, script: ['true']}]
images:
  parent:
    baseImage: alpine
    targetLocations: [registry.example.com/parent:1, registry.example.com/parent:latest, other.example.com/parent:1]
  child:
    baseImage: registry.example.com/parent:1
    targetLocations: [registry.example.com/child:1]
    tests: []
  plain:
    baseImage: alpine
    targetLocations: [registry.example.com/plain:1]
    scan: false
    sign: false
";

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn the_scan_waits_for_the_tests_the_release_for_the_scan_and_the_sign_for_the_release() {
    let jobs = jobs_of(PARENT_AND_CHILD);
    let needs = |job: &str| jobs[job].0.clone();
    assert_eq!(needs("scan:parent"), names(&["test:parent:smoke"]));
    assert_eq!(needs("release:parent"), names(&["scan:parent"]));
    assert_eq!(
        needs("sign:parent"),
        names(&["release:parent", "scan:parent"])
    );
    // Without tests the scan waits for the build; the child's release also waits for its
    // parent's release, whose failed scan thereby stops it.
    assert_eq!(needs("scan:child"), names(&["build:child"]));
    assert_eq!(
        needs("release:child"),
        names(&["scan:child", "release:parent"])
    );
    // Off: no scan, no sign, the release waits for the tests as before.
    assert!(!jobs.contains_key("scan:plain") && !jobs.contains_key("sign:plain"));
    assert_eq!(needs("release:plain"), names(&["test:plain:smoke"]));
}

#[test]
fn the_sign_job_signs_each_target_repository_once() {
    let out = crate::support::Test::new()
        .gitlab_manual_run()
        .file("gipgee.yaml", PARENT_AND_CHILD)
        .file("Containerfile", "FROM scratch\n")
        .args(&["generate"])
        .any_stdout()
        .run();
    let pipeline: serde_yaml::Value =
        serde_yaml::from_str(&out.read("gipgee-pipeline.yml")).expect("YAML");
    let sign = crate::support::resolve_job(&pipeline, "sign:parent");
    let mut variables: BTreeMap<String, String> =
        serde_yaml::from_value(sign["variables"].clone()).expect("string variables");
    // The image's other values (staging image, targets …) are asserted elsewhere.
    let others = [
        "GIPGEE_IMAGE_ID",
        "GIPGEE_IMAGE",
        "GIPGEE_BASE_IMAGE",
        "GIPGEE_CONTEXT",
        "GIPGEE_IMAGE_VERSION",
    ];
    variables.retain(|name, _| {
        !others.contains(&name.as_str()) && !name.starts_with("GIPGEE_TARGET_IMAGE_")
    });
    assert_eq!(
        variables,
        BTreeMap::from([
            (
                "GIPGEE_SIGN_REPOSITORY_1".to_string(),
                "registry.example.com/parent".to_string()
            ),
            (
                "GIPGEE_SIGN_REPOSITORY_2".to_string(),
                "other.example.com/parent".to_string()
            ),
            // The body's own variables.
            ("GIT_STRATEGY".to_string(), "none".to_string()),
            ("COSIGN_YES".to_string(), "true".to_string()),
        ])
    );
}

#[test]
fn no_sign_job_when_the_run_does_not_release() {
    // A rebuild on a feature branch builds, tests and scans, but releases and signs nothing.
    let dir = tempfile::tempdir().expect("tempdir");
    let selection = dir.path().join("selection.json");
    std::fs::write(&selection, r#"{"images": {"parent": "stale"}}"#).expect("write");
    let names: Vec<String> = with_run(
        PARENT_AND_CHILD,
        ("feature", Mode::Rebuild, Some(selection)),
        |spec| spec.jobs.iter().map(|job| job.name.clone()).collect(),
    );
    assert!(names.iter().any(|name| name == "scan:parent"), "{names:?}");
    assert!(
        !names
            .iter()
            .any(|name| name.starts_with("sign:") || name.starts_with("release:")),
        "{names:?}"
    );
}

#[test]
fn an_image_with_the_most_tests_stays_within_50_needs_with_a_scan() {
    let tests: Vec<String> = (1..=49)
        .map(|i| format!("{{name: t{i}, script: ['true']}}"))
        .collect();
    let text = PARENT_AND_CHILD.replace(
        "    tests: []\n",
        &format!("    tests: [{}]\n", tests.join(", ")),
    );
    let jobs = jobs_of(&text);
    assert_eq!(jobs["scan:child"].0.len(), 49);
    assert_eq!(
        jobs["release:child"].0,
        names(&["scan:child", "release:parent"])
    );
    assert!(jobs.values().all(|(needs, _)| needs.len() <= 50));
}

#[test]
fn scan_and_sign_jobs_belong_to_their_image_and_count_in_its_shard() {
    let jobs = jobs_of(PARENT_AND_CHILD);
    for (name, (_, owner)) in &jobs {
        if let Some(id) = name
            .strip_prefix("scan:")
            .or_else(|| name.strip_prefix("sign:"))
        {
            assert_eq!(owner.as_deref(), Some(id), "{name}");
        }
    }
    with_spec(PARENT_AND_CHILD, |spec| {
        let counts: Vec<(String, usize)> = shards::items(spec)
            .into_iter()
            .map(|item| (item.id, item.jobs))
            .collect();
        // parent: build, test, scan, release, sign; child: build, scan, release, sign;
        // plain: build, test, release.
        assert_eq!(
            counts,
            [
                ("parent".to_string(), 5),
                ("plain".to_string(), 3),
                ("child".to_string(), 4)
            ]
        );
    });
}

/// The built-in scan and sign bodies for images on a registry marked `insecure` (plain http),
/// checked as GitLab and gitlab-ci-local read them: they pass trivy's and cosign's flags for
/// it, and images alike in everything but their repositories share one body each.
#[test]
fn built_in_scan_and_sign_bodies_for_an_insecure_registry_are_shared_and_valid() {
    let out = crate::support::Test::new()
        .gitlab_manual_run()
        .file(
            "gipgee.yaml",
            "version: 1\nregistries:\n  localhost:5000: {insecure: true}\ndefaults:\n  staging: localhost:5000/staging\n  scan: true\n  sign: keyless\nimages:\n  a: {baseImage: alpine:3.20, targetLocations: ['localhost:5000/a:1']}\n  b: {baseImage: alpine:3.20, targetLocations: ['localhost:5000/b:1']}\n",
        )
        .file("Containerfile", "FROM scratch\n")
        .args(&["generate"])
        .any_stdout()
        .run();
    let pipeline: serde_yaml::Value =
        serde_yaml::from_str(&out.read("gipgee-pipeline.yml")).expect("YAML");
    for id in ["a", "b"] {
        assert_eq!(
            pipeline[format!("scan:{id}").as_str()]["extends"][0].as_str(),
            Some(".gipgee-scan")
        );
        assert_eq!(
            pipeline[format!("sign:{id}").as_str()]["extends"][0].as_str(),
            Some(".gipgee-sign")
        );
    }
    let script = |job: &str| -> Vec<String> {
        pipeline[job]["script"]
            .as_sequence()
            .expect("a script")
            .iter()
            .filter_map(|line| line.as_str().map(str::to_string))
            .collect()
    };
    assert!(
        script(".gipgee-scan")
            .iter()
            .filter(|line| line.starts_with("trivy image"))
            .all(|line| line.starts_with("trivy image --insecure ")),
        "{:?}",
        script(".gipgee-scan")
    );
    assert!(
        script(".gipgee-sign").contains(
            &"cosign sign --allow-insecure-registry --allow-http-registry \"$GIPGEE_SIGN_REPOSITORY_1@$GIPGEE_RELEASED_DIGEST\"".to_string()
        ),
        "{:?}",
        script(".gipgee-sign")
    );
    crate::support::tools::check_pipeline(&out.dir, &out.dir.join("gipgee-pipeline.yml"));
}
