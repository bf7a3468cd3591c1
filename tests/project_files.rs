//! The project's own GitLab files pass GitLab's CI schema and read the same in Ruby's Psych
//! (GitLab's YAML 1.1 parser): the pipeline and the body of the catalog component
//! (check-jsonschema cannot read the two-document file, so the `spec:` header is split off
//! first).

use std::path::Path;

use crate::support::tools;

fn project() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_projects_pipeline_passes_the_gitlab_schema_and_gitlab_ci_local() {
    tools::check_schema(&project().join(".gitlab-ci.yml"));
    tools::check_psych_reads_as_written(&project().join(".gitlab-ci.yml"));
    // gitlab-ci-local reads it from a repository of its own (it writes state next to it).
    let repo = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        project().join(".gitlab-ci.yml"),
        repo.path().join(".gitlab-ci.yml"),
    )
    .expect("copy");
    crate::support::git(repo.path(), &["init", "-q", "-b", "main"]);
    crate::support::git(repo.path(), &["add", "-A"]);
    crate::support::git(repo.path(), &["commit", "-q", "-m", "ci"]);
    if let Some(jobs) =
        tools::gitlab_ci_local_list(repo.path(), &repo.path().join(".gitlab-ci.yml"))
    {
        for job in ["lint", "test", "container-image"] {
            assert!(
                jobs.iter().any(|j| j == job),
                "gitlab-ci-local lists {jobs:?}"
            );
        }
    }
}

/// A release must wait for lint, test, the binaries and the image: `needs` skips stage order,
/// so every release job names them.
#[test]
fn no_release_job_can_run_after_a_failed_test() {
    let text = std::fs::read_to_string(project().join(".gitlab-ci.yml")).expect(".gitlab-ci.yml");
    let pipeline: serde_yaml::Value = serde_yaml::from_str(&text).expect("YAML");
    let release_jobs: Vec<(&str, &serde_yaml::Value)> = pipeline
        .as_mapping()
        .expect("a mapping")
        .iter()
        .filter(|(_, job)| job["stage"].as_str() == Some("release"))
        .filter_map(|(name, job)| Some((name.as_str()?, job)))
        .collect();
    assert!(release_jobs.iter().any(|(name, _)| *name == "release"));
    for (name, job) in release_jobs {
        let needs: Vec<&str> = job["needs"]
            .as_sequence()
            .map(|needs| needs.iter().filter_map(|n| n.as_str()).collect())
            .unwrap_or_default();
        for required in ["lint", "test", "container-image"] {
            assert!(
                needs.contains(&required),
                "`{name}` does not wait for `{required}`: {needs:?}"
            );
        }
        assert!(
            job["rules"][0]["if"]
                .as_str()
                .is_some_and(|rule| rule.contains("CI_COMMIT_TAG")),
            "`{name}` runs only for a version tag"
        );
    }
}

#[test]
fn release_notes_are_the_changelog_section_of_the_tag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let changelog = dir.path().join("CHANGELOG.md");
    std::fs::write(
        &changelog,
        "# Changelog\n\n## [Unreleased]\n\n- next\n\n## [1.2.0] - 2026-11-30\n\n### Fixed\n\n- a fix\n\n## [1.1.0] - 2026-10-01\n\n- older\n\n## [1.0.0] - 2026-09-01\n",
    )
    .expect("write");
    let notes = |version: &str| {
        std::process::Command::new("sh")
            .arg(project().join("scripts/release-notes.sh"))
            .arg(version)
            .arg(&changelog)
            .output()
            .expect("sh runs")
    };
    let out = notes("1.2.0");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "\n### Fixed\n\n- a fix\n"
    );
    // No section, or an empty one: no release without notes.
    for missing in ["1.3.0", "1.0.0"] {
        let out = notes(missing);
        assert!(!out.status.success(), "{missing}: {out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("[{missing}]")));
    }
}

/// The component's `spec:` header and its body.
fn component() -> (serde_yaml::Value, String) {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/gipgee.yml"))
            .expect("templates/gipgee.yml");
    let (header, body) = text.split_once("\n---\n").expect("spec header and body");
    let spec = serde_yaml::from_str(header).expect("the spec header is YAML");
    (spec, body.to_string())
}

/// The body as GitLab makes it: every `$[[ inputs.x ]]` replaced by `inputs`' value, else by
/// the input's default. GitLab interpolates only the body, never a default.
fn interpolate(spec: &serde_yaml::Value, body: &str, inputs: &[(&str, &str)]) -> String {
    let declared = spec["spec"]["inputs"].as_mapping().expect("spec: inputs");
    let mut out = body.to_string();
    for (name, input) in declared {
        let name = name.as_str().expect("input names are strings");
        let value = match inputs.iter().find(|(n, _)| *n == name) {
            Some((_, value)) => value.to_string(),
            None => match &input["default"] {
                serde_yaml::Value::String(text) => text.clone(),
                serde_yaml::Value::Bool(flag) => flag.to_string(),
                serde_yaml::Value::Number(number) => number.to_string(),
                other => panic!("input `{name}` has no usable default: {other:?}"),
            },
        };
        out = out.replace(&format!("$[[ inputs.{name} ]]"), &value);
    }
    assert!(
        !out.contains("$[["),
        "an input the spec does not declare: {out}"
    );
    out
}

#[test]
fn the_component_resolves_on_gitlab_17() {
    let (spec, body) = component();
    // `spec: component` (for `$[[ component.version ]]`) exists only from GitLab 18.6, and GitLab
    // never interpolates inside an input's default.
    assert!(
        spec["spec"]["component"].is_null(),
        "spec: component needs GitLab 18.6"
    );
    let header = serde_yaml::to_string(&spec).expect("YAML");
    assert!(
        !header.contains("$[["),
        "a default with $[[ ]] stays uninterpolated: {header}"
    );
    let inputs = spec["spec"]["inputs"].as_mapping().expect("spec: inputs");
    for input in [
        "config",
        "stage",
        "job_prefix",
        "image",
        "templates_dir",
        "manual_sources",
        "force_autostart",
        "trigger_strategy",
        "mode",
    ] {
        assert!(
            inputs.contains_key(input),
            "component input `{input}` is missing"
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("body.yml");
    std::fs::write(&file, interpolate(&spec, &body, &[])).expect("write");
    tools::check_schema(&file);
    tools::check_psych_reads_as_written(&file);
}

#[test]
fn the_component_can_be_included_twice_with_a_job_prefix() {
    let (spec, body) = component();
    let jobs: serde_yaml::Value =
        serde_yaml::from_str(&interpolate(&spec, &body, &[("job_prefix", "base-images")]))
            .expect("the body is YAML");
    let trigger = &jobs["base-images:pipeline"];
    assert_eq!(trigger["needs"][0].as_str(), Some("base-images:generate"));
    assert_eq!(
        trigger["trigger"]["include"][0]["job"].as_str(),
        Some("base-images:generate")
    );
    assert!(jobs["base-images:generate"]["script"].is_sequence());
    assert!(jobs["gipgee:generate"].is_null());
}

/// Pinning the component pins the binary: its default image is the gipgee image of the
/// crate's own version, and CHANGELOG's latest release is that version.
#[test]
fn the_versions_of_crate_component_and_changelog_agree() {
    let (spec, _) = component();
    let image = spec["spec"]["inputs"]["image"]["default"]
        .as_str()
        .expect("the image input has a default");
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        image.rsplit_once(':').map(|(_, tag)| tag),
        Some(version),
        "the component's default image {image} is not gipgee {version}"
    );
    let changelog =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("CHANGELOG.md"))
            .expect("CHANGELOG.md");
    let latest_release = changelog
        .lines()
        .filter_map(|line| line.strip_prefix("## ["))
        .filter_map(|rest| rest.split(']').next())
        .find(|name| *name != "Unreleased");
    if let Some(release) = latest_release {
        assert_eq!(
            release, version,
            "CHANGELOG's latest release and Cargo.toml"
        );
    }
}
