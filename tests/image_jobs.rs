//! Build and release jobs run for real, one job at a time: the rendered scripts of a generated
//! pipeline run in bash with real buildah and skopeo against the real registries of an
//! end-to-end [`World`] (its fixture project, a few edits), and the registry is read back with
//! skopeo. Faster than a whole gitlab-ci-local run, for what one job does: the OCI metadata a
//! build writes, and a release that never moves an immutable target to another image.

use std::collections::BTreeMap;

use crate::e2e::harness::World;
use crate::support::oci::Layout;
use crate::support::tools;

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

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

/// Runs `job` expecting it to fail; its output.
#[track_caller]
fn run_failing_job(
    world: &World,
    pipeline: &serde_yaml::Value,
    job: &str,
    extra: &[(&str, &str)],
) -> String {
    let out = world.run_job_script(pipeline, job, extra);
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "job `{job}` should fail:\n{output}");
    output
}

#[test]
fn an_immutable_target_is_created_and_kept_but_never_moved_to_another_image() {
    let Some(world) = World::new("immutable targets", true) else {
        return;
    };
    let image = world.registry_image();
    world.edit("gipgee.yaml", |text| {
        text.replace(
            r#"targetLocations: ["${CI_REGISTRY_IMAGE}/other:1"]"#,
            r#"targetLocations: [{ref: "${CI_REGISTRY_IMAGE}/other:1", immutable: true}, "${CI_REGISTRY_IMAGE}/other:latest"]"#,
        )
    });
    world.commit("other:1 is immutable");
    let pipeline = world.generate("51");
    // The immutable check as GitLab reads it: its CI schema, Psych, gitlab-ci-local.
    tools::check_pipeline(&world.project, &world.project.join("gipgee-pipeline.yml"));
    run_job(&world, &pipeline, "build:other");
    let staging =
        crate::support::resolve_job(&pipeline, "release:other")["variables"]["GIPGEE_IMAGE"]
            .as_str()
            .expect("the staging image")
            .to_string();
    let built = world.digest(&staging).expect("the staging image");

    // Absent: released.
    let log = run_job(&world, &pipeline, "release:other");
    assert!(
        log.contains(&format!(
            "gipgee: immutable {image}/other:1 does not exist yet"
        )),
        "{log}"
    );
    assert_eq!(
        world.digest(&format!("{image}/other:1")),
        Some(built.clone())
    );
    // The same image again (a retried release job): fine.
    let log = run_job(&world, &pipeline, "release:other");
    assert!(
        log.contains(&format!(
            "gipgee: immutable {image}/other:1 already holds this image ({built})"
        )),
        "{log}"
    );

    // Another image: refused before anything is copied, also to the mutable target.
    world.edit("images/other/other.txt", |text| text + "changed\n");
    world.commit("other changed");
    let pipeline = world.generate("52");
    run_job(&world, &pipeline, "build:other");
    let staging =
        crate::support::resolve_job(&pipeline, "release:other")["variables"]["GIPGEE_IMAGE"]
            .as_str()
            .expect("the staging image")
            .to_string();
    let rebuilt = world.digest(&staging).expect("the new staging image");
    assert_ne!(rebuilt, built);
    let log = run_failing_job(&world, &pipeline, "release:other", &[]);
    assert!(
        log.contains(&format!(
            "gipgee: {image}/other:1 is immutable and holds {built}, not this image ({rebuilt}): nothing is released. Release to a new tag, or delete this one by hand if it must change."
        )),
        "{log}"
    );
    assert_eq!(
        world.digest(&format!("{image}/other:1")),
        Some(built.clone())
    );
    assert_eq!(world.digest(&format!("{image}/other:latest")), Some(built));
}

#[test]
fn an_immutable_target_compares_a_multi_platform_index_as_a_whole_and_an_unreadable_one_stops() {
    let Some(world) = World::new("immutable index", true) else {
        return;
    };
    let image = world.registry_image();
    world.edit("gipgee.yaml", |text| {
        text.replace(
            r#"targetLocations: ["${CI_REGISTRY_IMAGE}/other:1"]"#,
            r#"targetLocations: ["${CI_REGISTRY_IMAGE}/other:1"]
    immutableTargets: true"#,
        )
    });
    world.commit("other's targets are immutable");
    let pipeline = world.generate("61");
    // Two indexes over the same two platform images, told apart only by an annotation.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut layout = Layout::new(dir.path());
    let layer = layout.layer("index", "content\n");
    let amd64 = layout.image(std::slice::from_ref(&layer), "amd64");
    let arm64 = layout.image(&[layer], "arm64");
    let staging = |n: usize| format!("{image}/staging:index-{n}");
    for n in [1, 2] {
        let index = layout.index(&[
            (&amd64, r#"{"architecture":"amd64","os":"linux"}"#, "{}"),
            (
                &arm64,
                r#"{"architecture":"arm64","os":"linux"}"#,
                &format!(r#"{{"n":"{n}"}}"#),
            ),
        ]);
        layout.tag(&format!("index-{n}"), &index, OCI_INDEX);
        layout.push(&format!("index-{n}"), &staging(n), None, None);
    }
    let (staging_1, staging_2) = (staging(1), staging(2));
    let first = [("GIPGEE_IMAGE", staging_1.as_str())];
    let with = |extra: &[(&str, &str)]| world.run_job_script(&pipeline, "release:other", extra);
    assert!(with(&first).status.success(), "the first release");
    let released = world.manifest(&format!("{image}/other:1"));
    assert_eq!(released["mediaType"], OCI_INDEX, "{released}");
    let again = with(&first);
    assert!(again.status.success(), "the same index again");
    assert!(String::from_utf8_lossy(&again.stdout).contains("already holds this image"));
    let second = [("GIPGEE_IMAGE", staging_2.as_str())];
    let log = run_failing_job(&world, &pipeline, "release:other", &second);
    assert!(log.contains("is immutable and holds sha256:"), "{log}");
    assert_eq!(world.manifest(&format!("{image}/other:1")), released);

    // A target that cannot be read (here: no credentials for it) is never taken as absent.
    let unreadable = format!("{}/platform/other:1", world.auth.host);
    let log = run_failing_job(
        &world,
        &pipeline,
        "release:other",
        &[
            ("GIPGEE_IMAGE", &staging_1),
            ("GIPGEE_TARGET_IMAGE_1", &unreadable),
        ],
    );
    assert!(
        log.contains(&format!(
            "gipgee: cannot read immutable {unreadable}, so cannot tell whether releasing would move it: nothing is released"
        )),
        "{log}"
    );
}
