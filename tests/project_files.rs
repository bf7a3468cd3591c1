//! The project's own GitLab files pass GitLab's CI schema: the pipeline and the body of the
//! catalog component (check-jsonschema cannot read the two-document file, so the `spec:`
//! header is split off first).

use std::path::Path;

use crate::support::tools;

#[test]
fn the_projects_pipeline_passes_the_gitlab_schema() {
    tools::check_schema(&Path::new(env!("CARGO_MANIFEST_DIR")).join(".gitlab-ci.yml"));
}

#[test]
fn the_component_has_inputs_and_a_valid_body() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/gipgee.yml"))
            .unwrap();
    let (header, body) = text.split_once("\n---\n").expect("spec header and body");
    let spec: serde_yaml::Value = serde_yaml::from_str(header).unwrap();
    let inputs = spec["spec"]["inputs"].as_mapping().expect("spec: inputs");
    for input in [
        "config",
        "stage",
        "image",
        "templates_dir",
        "force_autostart",
        "mode",
    ] {
        assert!(
            inputs.contains_key(input),
            "component input `{input}` is missing"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body.yml");
    // Inputs are interpolated by GitLab; give the schema check plain values.
    std::fs::write(
        &file,
        body.replace("$[[ inputs.force_autostart ]]", "false")
            .replace("$[[ inputs.", "$INPUT_")
            .replace(" ]]", ""),
    )
    .unwrap();
    tools::check_schema(&file);
    let jobs: serde_yaml::Value = serde_yaml::from_str(body).unwrap();
    assert_eq!(
        jobs["gipgee:pipeline"]["trigger"]["include"][0]["job"].as_str(),
        Some("gipgee:generate")
    );
}
