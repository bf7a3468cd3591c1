//! Build and release jobs run for real, one job at a time: the rendered scripts of a generated
//! pipeline run in bash with real buildah and skopeo against the real registries of an
//! end-to-end [`World`] (its fixture project, a few edits), and the registry is read back with
//! skopeo. Faster than a whole gitlab-ci-local run, for what one job does: the OCI metadata a
//! build writes.

use std::collections::BTreeMap;

use crate::e2e::harness::World;

const COMMIT_TIME: &str = "2026-11-30T12:00:00+00:00";
const PROJECT_URL: &str = "https://gitlab.example.com/platform/images";

/// Runs `job` of `pipeline` with the variables GitLab sets for every job; panics with its
/// output when it fails.
#[track_caller]
fn run_job(world: &World, pipeline: &serde_yaml::Value, job: &str) -> String {
    let out = world.run_job_script(
        pipeline,
        job,
        &[
            ("CI_PROJECT_URL", PROJECT_URL),
            ("CI_COMMIT_TIMESTAMP", COMMIT_TIME),
        ],
    );
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "job `{job}` failed:\n{output}");
    output
}

fn strings(value: &serde_json::Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .map(|map| {
            map.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_build_writes_oci_metadata_and_the_user_s_labels_and_annotations() {
    let Some(world) = World::new("image metadata", true) else {
        return;
    };
    world.edit("gipgee.yaml", |text| {
        text.replace(
            "defaults:\n",
            "defaults:\n  labels: {com.example.team: images}\n",
        )
        .replace(
            r#"targetLocations: ["${CI_REGISTRY_IMAGE}/other:1"]"#,
            r#"targetLocations: ["${CI_REGISTRY_IMAGE}/other:1", "${CI_REGISTRY_IMAGE}/other:1.36.2", "${CI_REGISTRY_IMAGE}/other:latest"]
    labels: {com.example.tier: "2"}
    annotations: {com.example.docs: "https://docs.example.com/$HOME"}"#,
        )
    });
    let sha = world.commit("labels and annotations");
    let pipeline = world.generate("41");
    run_job(&world, &pipeline, "build:other");
    run_job(&world, &pipeline, "release:other");

    let released = format!("{}/other:1.36.2", world.registry_image());
    let base = format!("{}/base/busybox:1.36", world.anon.host);
    let gipgee_keys = [
        ("org.opencontainers.image.revision", sha.as_str()),
        ("org.opencontainers.image.source", PROJECT_URL),
        ("org.opencontainers.image.created", COMMIT_TIME),
        ("org.opencontainers.image.title", "other"),
        ("org.opencontainers.image.version", "1.36.2"),
    ];
    let base_digest = world.digest(&base).expect("the base image");
    let expected_annotations: BTreeMap<String, String> = gipgee_keys
        .iter()
        .chain(&[
            // Literal: never expanded, neither by gipgee nor by the job's shell.
            ("com.example.docs", "https://docs.example.com/$HOME"),
            ("org.opencontainers.image.base.name", base.as_str()),
            ("org.opencontainers.image.base.digest", base_digest.as_str()),
        ])
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let annotations = strings(&world.manifest(&released)["annotations"]);
    assert_eq!(
        annotations, expected_annotations,
        "the released manifest's annotations"
    );

    let mut labels = strings(&world.image_config(&released)["config"]["Labels"]);
    assert!(labels.remove("io.buildah.version").is_some(), "{labels:?}");
    let expected_labels: BTreeMap<String, String> = gipgee_keys
        .iter()
        .chain(&[("com.example.team", "images"), ("com.example.tier", "2")])
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(
        labels, expected_labels,
        "the released image config's labels"
    );
}
