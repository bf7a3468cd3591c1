//! End-to-end: the generated pipelines, job scripts included, run for real.
//!
//! Each scenario is its own test with its own [`harness::World`]: two real registries (one
//! anonymous, one with htpasswd Basic auth as a release target), buildah and skopeo on the
//! host, and the fixture project of `tests/e2e/project` (base-tools FROM a busybox base,
//! app FROM base-tools' target location, an independent other) as a git repository whose
//! `.gitlab-ci.yml` includes gipgee's catalog component. gitlab-ci-local runs the whole path:
//! component → `gipgee:generate` → trigger → child pipeline. Every job's result is checked
//! (gitlab-ci-local does not fail on a failed child job), and the registries are read with
//! skopeo, not with gipgee's code.
//!
//! Test jobs run inside their staging image: gitlab-ci-local's shell executor ignores
//! `image:`, so `tests/e2e/job-shell.sh` (gitlab-ci-local's `bash`) runs a `test:*` job's
//! script with `buildah run` in the staging image; the other jobs run on the host.
//!
//! Run them alone with `bash tests/e2e/run.sh` (installs the tools, then runs the scenarios;
//! `bash tests/e2e/run.sh c_ --nocapture` runs one and shows every gitlab-ci-local run).
//! Without the tools (and without GIPGEE_REQUIRE_TOOLS) each scenario says what it skipped.
//! `GIPGEE_E2E_KEEP=1` keeps each scenario's temp folder.

pub mod harness;

use std::collections::BTreeMap;

use crate::support;
use Outcome::{Failed, NotRun, Passed};
use harness::{Outcome, Run, RunSpec, Setup, World};

/// The jobs of the fixture's full pipeline, in pipeline order.
const ALL_JOBS: &[&str] = &[
    "gipgee:plan",
    "build:base-tools",
    "test:base-tools:smoke",
    "test:base-tools:files",
    "release:base-tools",
    "build:other",
    "test:other:smoke",
    "release:other",
    "build:app",
    "test:app:smoke",
    "test:app:greeting",
    "release:app",
];

/// The jobs of base-tools and of app (built on it), in pipeline order.
pub const BASE_TOOLS_AND_APP_JOBS: &[&str] = &[
    "build:base-tools",
    "test:base-tools:smoke",
    "test:base-tools:files",
    "release:base-tools",
    "build:app",
    "test:app:smoke",
    "test:app:greeting",
    "release:app",
];

fn all_passed() -> Vec<(&'static str, Outcome)> {
    ["gipgee:generate", "gipgee:pipeline"]
        .iter()
        .chain(ALL_JOBS)
        .map(|job| (*job, Passed))
        .collect()
}

fn web() -> Vec<(&'static str, String)> {
    vec![("CI_PIPELINE_SOURCE", "web".into())]
}

/// Runs the project's pipeline as `source` (`CI_PIPELINE_SOURCE`: `web`, `push`) starts it.
#[track_caller]
pub fn run_started_by(world: &World, source: &str, step: &str) -> Run {
    world.run(
        step,
        RunSpec {
            vars: vec![("CI_PIPELINE_SOURCE", source.into())],
            ..RunSpec::default()
        },
    )
}

/// Runs the default branch's pipeline as started from the web UI (the world's component
/// include has `force_autostart: true`) and checks that every image was built, tested and
/// released to every target location.
#[track_caller]
pub fn release_everything(world: &World, step: &str) -> Run {
    let run = run_started_by(world, "web", step);
    run.expect_pipeline_jobs(ALL_JOBS);
    run.expect(&all_passed());
    for id in ["base-tools", "other", "app"] {
        expect_released(world, &run, id);
    }
    run
}

/// A scenario's first step: [`release_everything`]; returns the digest of every target
/// location after it.
#[track_caller]
pub fn seed(world: &World) -> BTreeMap<String, Option<String>> {
    release_everything(world, "seed: release main");
    world.target_digests()
}

/// On a new branch `branch`, changes `path` as `change` says, commits it with `message` and
/// runs the pipeline of the push.
#[track_caller]
fn push_to_new_branch(
    world: &World,
    branch: &str,
    path: &str,
    change: impl FnOnce(String) -> String,
    message: &str,
) -> Run {
    world.git(&["checkout", "-q", "-b", branch]);
    world.edit(path, change);
    world.commit(message);
    run_started_by(world, "push", &format!("push of {branch}"))
}

/// Every target of `id` has the digest of this run's staging image.
#[track_caller]
pub fn expect_released(world: &World, run: &Run, id: &str) {
    let staging = run.staging(id);
    let digest = expect_pushed(world, run, "the staging image", &staging, id);
    for target in world.targets_of(id) {
        assert_eq!(
            world.digest(&target),
            digest,
            "e2e `{}`: target {target} of {id} should have the digest of its staging image {staging}",
            run.label
        );
    }
}

/// The digest of `staging`, a staging image of `id`, which must be in the registry; `what`
/// names it in the failure.
#[track_caller]
pub fn expect_pushed(
    world: &World,
    run: &Run,
    what: &str,
    staging: &str,
    id: &str,
) -> Option<String> {
    let digest = world.digest(staging);
    assert!(
        digest.is_some(),
        "e2e `{}`: {what} {staging} of {id} is not in the registry",
        run.label
    );
    digest
}

/// No target location changed.
#[track_caller]
pub fn expect_targets_unchanged(
    world: &World,
    run: &Run,
    before: &BTreeMap<String, Option<String>>,
) {
    let after = world.target_digests();
    for (target, digest) in before {
        assert_eq!(
            &after[target], digest,
            "e2e `{}`: nothing may be released, but target {target} changed",
            run.label
        );
    }
}

/// `child` is built on `parent`: its layers start with the parent's layers, and buildah's
/// base-image annotation names the parent's digest.
#[track_caller]
pub fn expect_built_on(world: &World, run: &Run, child: &str, parent: &str) {
    let parent_layers = world.layers(parent);
    let child_layers = world.layers(child);
    assert!(
        child_layers.len() > parent_layers.len() && child_layers.starts_with(&parent_layers),
        "e2e `{}`: {child} should be built on {parent}: its layers {child_layers:?} should start with {parent_layers:?}",
        run.label
    );
    let annotations = &world.manifest(child)["annotations"];
    assert_eq!(
        annotations["org.opencontainers.image.base.digest"].as_str(),
        world.digest(parent).as_deref(),
        "e2e `{}`: {child}'s base-image annotation should name {parent}'s digest; annotations: {annotations}",
        run.label
    );
}

/// gitlab-ci-local ran the job (a test or update-check job) through the job shell, inside
/// its image.
#[track_caller]
pub fn expect_ran_in_image(run: &Run, job: &str) {
    let image = run.job_variable(job, "GIPGEE_IMAGE");
    // As GitLab reads the job: through `extends` (a test job's shared body names the image
    // `$GIPGEE_IMAGE`, expanded from the job's variable).
    let pipeline = serde_yaml::Value::Mapping(run.pipeline().clone());
    let definition = support::resolve_job(&pipeline, job);
    let image_name = definition["image"]["name"]
        .as_str()
        .map(|name| name.replace("$GIPGEE_IMAGE", &image));
    // The job shell takes the image from GIPGEE_IMAGE: it must be the job's `image:`.
    assert_eq!(
        image_name.as_deref(),
        Some(image.as_str()),
        "e2e `{}`: job `{job}`: `image: name` and GIPGEE_IMAGE differ",
        run.label
    );
    assert_eq!(
        definition["image"]["entrypoint"],
        serde_yaml::Value::Sequence(vec!["".into()]),
        "e2e `{}`: job `{job}` should clear the image's entrypoint",
        run.label
    );
    let log = run.log(job);
    assert!(
        log.contains(&format!("running the job in its image {image}")),
        "e2e `{}`: job `{job}` did not run inside {image}; its output:\n{log}",
        run.label
    );
}

#[test]
fn a_manual_run_with_autostart_builds_tests_and_releases_everything() {
    let Some(world) = World::new("a: manual run, force_autostart", true) else {
        return;
    };
    let run = release_everything(&world, "web run of main");
    world.check_pipeline(&run);

    // In dependency order: app is built FROM base-tools' staging image, and released after it.
    run.expect_order("build:base-tools", "build:app");
    run.expect_order("release:base-tools", "release:app");
    assert_eq!(
        run.job_variable("build:app", "GIPGEE_BASE_IMAGE"),
        run.staging("base-tools")
    );
    expect_built_on(
        &world,
        &run,
        &run.staging("app"),
        &run.staging("base-tools"),
    );
    let released_base_tools = format!("{}/base-tools:1", world.registry_image());
    expect_built_on(
        &world,
        &run,
        &format!("{}/app:1", world.registry_image()),
        &released_base_tools,
    );

    // The tests ran inside the images: `files` reads what base-tools' Containerfile made,
    // which the host does not have.
    assert!(!std::path::Path::new("/etc/base-tools/version").exists());
    for job in ALL_JOBS.iter().filter(|j| j.starts_with("test:")) {
        expect_ran_in_image(&run, job);
    }
    assert!(
        run.log("test:base-tools:files")
            .contains("base-tools files ok")
    );

    // The release registry's credentials reached the jobs only as variables.
    let text = std::fs::read_to_string(&run.pipeline_file).expect("pipeline");
    assert!(
        !text.contains(harness::RELEASE_PASSWORD),
        "a secret in the pipeline file"
    );
    assert!(text.contains("\"$RELEASE_REGISTRY_PASSWORD\""));
    world.expect_release_registry_protected(&world.targets()[1].1);
    world.expect_tool_state_in_temp_folder();
}

#[test]
fn b_manual_run_without_autostart_builds_only_what_is_played() {
    let Some(world) = World::new("b: manual run, no autostart", false) else {
        return;
    };
    let nothing = world.target_digests();
    let staging_repo = format!("{}/staging", world.registry_image());

    // Nobody clicks. The first job of each chain waits; gitlab-ci-local cannot show the
    // waiting pipeline (it refuses to schedule jobs that need an unplayed manual job, where
    // GitLab would run the plan job and wait), so it runs no child job at all.
    let waiting = run_started_by(&world, "web", "web run of main, nothing played");
    waiting.expect(&[("gipgee:generate", Passed)]);
    waiting.expect_pipeline_jobs(ALL_JOBS);
    for job in waiting.pipeline_jobs() {
        let manual = waiting.pipeline_job(job)["when"].as_str() == Some("manual");
        let first = job == "build:base-tools" || job == "build:other";
        assert_eq!(
            manual, first,
            "e2e `{}`: only the first job of each chain is manual, not `{job}`",
            waiting.label
        );
    }
    // The pipeline is valid nevertheless (GitLab's schema, gitlab-ci-local's checks).
    world.check_pipeline(&waiting);
    let nothing_ran: Vec<(&str, Outcome)> = ALL_JOBS.iter().map(|j| (*j, NotRun)).collect();
    waiting.expect(&nothing_ran);
    assert!(world.tags(&staging_repo).is_empty(), "nothing is built");
    expect_targets_unchanged(&world, &waiting, &nothing);

    // Someone plays `build:other`: that chain runs on, the other waits. The same child
    // pipeline (the artifact), with build:other played.
    let child = "child-pipeline.yml";
    std::fs::copy(&waiting.pipeline_file, world.project.join(child)).expect("copy");
    let other = world.run(
        "play build:other",
        RunSpec {
            vars: web(),
            manual: vec!["build:other"],
            file: Some(child),
            jobs: vec!["release:other"],
        },
    );
    other.expect(&[
        ("gipgee:plan", Passed),
        ("build:other", Passed),
        ("test:other:smoke", Passed),
        ("release:other", Passed),
        ("build:base-tools", NotRun),
        ("test:base-tools:smoke", NotRun),
        ("release:base-tools", NotRun),
        ("build:app", NotRun),
        ("release:app", NotRun),
    ]);
    expect_released(&world, &other, "other");
    let tags = world.tags(&staging_repo);
    assert!(
        tags.iter().all(|t| t.starts_with("other-")),
        "e2e `{}`: only other is built, staging has {tags:?}",
        other.label
    );
    for (id, target) in world.targets() {
        if id != "other" {
            assert_eq!(world.digest(&target), None, "{target} is not released");
        }
    }

    // Through the component again, both manual jobs played: everything after them starts by
    // itself (build:app is not played), and all is released.
    let played = world.run(
        "web run of main, both chains played",
        RunSpec {
            vars: web(),
            manual: vec!["build:base-tools", "build:other"],
            ..RunSpec::default()
        },
    );
    played.expect(&all_passed());
    for id in ["base-tools", "other", "app"] {
        expect_released(&world, &played, id);
    }
    world.expect_tool_state_in_temp_folder();
}

#[test]
fn c_feature_branch_changing_an_app_asset_builds_only_app() {
    let Some(world) = World::new("c: feature branch, app asset", true) else {
        return;
    };
    let released = seed(&world);

    let run = push_to_new_branch(
        &world,
        "feature/app-config",
        "images/app/app.conf",
        |t| t + "log=debug\n",
        "app: debug logging",
    );
    run.expect_pipeline_jobs(&[
        "gipgee:plan",
        "build:app",
        "test:app:smoke",
        "test:app:greeting",
    ]);
    run.expect(&[
        ("gipgee:generate", Passed),
        ("gipgee:pipeline", Passed),
        ("gipgee:plan", Passed),
        ("build:app", Passed),
        ("test:app:smoke", Passed),
        ("test:app:greeting", Passed),
    ]);
    // FROM the released base-tools (its target location), not a staging image.
    let released_base_tools = format!("{}/base-tools:1", world.registry_image());
    assert_eq!(
        run.job_variable("build:app", "GIPGEE_BASE_IMAGE"),
        released_base_tools
    );
    expect_built_on(&world, &run, &run.staging("app"), &released_base_tools);
    expect_targets_unchanged(&world, &run, &released);
    world.expect_tool_state_in_temp_folder();
}

#[test]
fn d_feature_branch_changing_base_tools_builds_it_and_app_on_it() {
    let Some(world) = World::new("d: feature branch, base-tools", true) else {
        return;
    };
    let released = seed(&world);

    let run = push_to_new_branch(
        &world,
        "feature/greet",
        "images/base-tools/greet",
        |t| t + "# say it once\n",
        "base-tools: comment greet",
    );
    let jobs = [
        "gipgee:plan",
        "build:base-tools",
        "test:base-tools:smoke",
        "test:base-tools:files",
        "build:app",
        "test:app:smoke",
        "test:app:greeting",
    ];
    run.expect_pipeline_jobs(&jobs);
    let passed: Vec<(&str, Outcome)> = jobs.iter().map(|j| (*j, Passed)).collect();
    run.expect(&passed);
    run.expect_order("build:base-tools", "build:app");
    // app FROM base-tools' new staging image, which differs from the released base-tools.
    let staging_base_tools = run.staging("base-tools");
    assert_eq!(
        run.job_variable("build:app", "GIPGEE_BASE_IMAGE"),
        staging_base_tools
    );
    expect_built_on(&world, &run, &run.staging("app"), &staging_base_tools);
    let released_base_tools = format!("{}/base-tools:1", world.registry_image());
    assert_ne!(
        world.layers(&staging_base_tools),
        world.layers(&released_base_tools),
        "e2e `{}`: the changed base-tools should have new layers",
        run.label
    );
    expect_targets_unchanged(&world, &run, &released);
    world.expect_tool_state_in_temp_folder();
}

#[test]
fn e_failing_test_stops_the_release_of_that_image_and_its_children_only() {
    let Some(world) = World::new("e: failing image test", true) else {
        return;
    };
    let released = seed(&world);

    // base-tools now writes version 2; its `files` test expects 1.
    world.edit("images/base-tools/Containerfile", |t| {
        t.replace("echo 1 >", "echo 2 >")
    });
    world.commit("base-tools: version 2");
    let run = run_started_by(&world, "web", "web run of main with a failing test");
    run.expect_pipeline_jobs(ALL_JOBS);
    run.expect(&[
        ("gipgee:plan", Passed),
        ("build:base-tools", Passed),
        ("test:base-tools:smoke", Passed),
        ("test:base-tools:files", Failed),
        ("release:base-tools", NotRun),
        ("build:app", Passed),
        ("test:app:smoke", Passed),
        ("test:app:greeting", Passed),
        ("release:app", NotRun),
        ("build:other", Passed),
        ("test:other:smoke", Passed),
        ("release:other", Passed),
    ]);
    let log = run.log("test:base-tools:files");
    assert!(
        log.contains("expected base-tools version 1, found 2"),
        "e2e `{}`: the test failure should be visible; the job's output:\n{log}",
        run.label
    );
    // base-tools and app (built on it) keep their released digests; other is released.
    for (id, target) in world.targets() {
        if id != "other" {
            assert_eq!(
                world.digest(&target),
                released[&target],
                "e2e `{}`: {target} must not be released",
                run.label
            );
        }
    }
    expect_released(&world, &run, "other");
    world.expect_tool_state_in_temp_folder();
}

#[test]
fn f_broken_containerfile_fails_the_build_and_releases_nothing() {
    let Some(world) = World::new("f: broken Containerfile", true) else {
        return;
    };
    let released = seed(&world);
    let before = world.git(&["rev-parse", "HEAD"]);

    world.edit("images/base-tools/Containerfile", |t| {
        t + "RUN gipgee-e2e-no-such-command --really\n"
    });
    world.commit("base-tools: broken");
    let run = world.run(
        "push to main with a broken Containerfile",
        RunSpec {
            vars: vec![
                ("CI_PIPELINE_SOURCE", "push".into()),
                ("CI_COMMIT_BEFORE_SHA", before),
            ],
            ..RunSpec::default()
        },
    );
    let mut jobs = vec!["gipgee:plan"];
    jobs.extend(BASE_TOOLS_AND_APP_JOBS);
    run.expect_pipeline_jobs(&jobs);
    let mut expected: Vec<(&str, Outcome)> = jobs.iter().map(|j| (*j, NotRun)).collect();
    expected[0].1 = Passed;
    expected[1].1 = Failed;
    run.expect(&expected);
    let log = run.log("build:base-tools");
    assert!(
        log.contains("gipgee-e2e-no-such-command") && log.contains("building at STEP"),
        "e2e `{}`: buildah's error should be visible in build:base-tools; its output:\n{log}",
        run.label
    );
    let staging = run.staging("base-tools");
    assert_eq!(world.digest(&staging), None, "{staging} is not pushed");
    expect_targets_unchanged(&world, &run, &released);
    world.expect_tool_state_in_temp_folder();
}

/// The gipgee image as shipped (the repository's Containerfile, with git) runs `gipgee
/// generate` for a push to the default branch in a shallow clone, as GitLab's runner makes it: it
/// fetches the history it needs and selects only the changed image, not all of them.
#[test]
fn g_the_shipped_image_plans_a_push_in_a_shallow_clone() {
    let Some(world) = World::with(
        "g: the shipped gipgee image",
        Setup {
            static_gipgee: true,
            debian: true,
            ..Setup::default()
        },
    ) else {
        return;
    };
    let image = world.build_gipgee_image();
    let before = world.git(&["rev-parse", "HEAD"]);
    world.edit("images/app/app.conf", |t| t + "log=debug\n");
    let after = world.commit("app: debug logging");
    let vars = [
        ("CI_PIPELINE_SOURCE", "push".to_string()),
        ("CI_DEFAULT_BRANCH", "main".to_string()),
        ("CI_COMMIT_BRANCH", "main".to_string()),
        ("CI_COMMIT_SHA", after.clone()),
        ("CI_COMMIT_BEFORE_SHA", before.clone()),
        ("CI_PIPELINE_ID", "7".to_string()),
        ("CI_REGISTRY", world.anon.host.clone()),
        ("CI_REGISTRY_IMAGE", world.registry_image()),
        ("RELEASE_REGISTRY", world.auth.host.clone()),
        // Nothing is released in this world: the released-revision rule would build every
        // image ("not released yet"); this test is about the push's own changes.
        ("GIPGEE_RELEASED_REVISION_CHECK", "false".to_string()),
    ];
    let (code, stdout, stderr) = world.gipgee_in_image(&image, &["generate"], &vars);
    let shown = format!("exit {code:?}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(code, Some(0), "{shown}");
    assert!(
        stdout.starts_with(&format!(
            "gipgee plan: push to the default branch, changes since {}",
            &before[..8]
        )),
        "{shown}"
    );
    let decisions: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("  "))
        .collect();
    assert!(
        decisions
            .iter()
            .any(|l| l.starts_with("build  app ") && l.contains("`images/app/app.conf` changed")),
        "{shown}"
    );
    for other in ["base-tools", "other", "debian-current", "debian-outdated"] {
        assert!(
            decisions
                .iter()
                .any(|l| l.starts_with(&format!("skip   {other} "))),
            "{other} must not be built; {shown}"
        );
    }
    assert!(!stdout.contains("WARNING"), "{shown}");
    assert!(stdout.contains("\n1 of 5 images are built.\n"), "{shown}");
    assert!(
        stdout.contains("\npipeline 1 of 1 (gipgee-pipeline.yml): 5 jobs,"),
        "one pipeline, no shards: {shown}"
    );
    assert!(
        stdout.ends_with("\nWrote gipgee-pipeline.yml.\n"),
        "{shown}"
    );
}

/// The binary the update checks run inside any image is static: no program interpreter in
/// its ELF headers (so no loader or libc from the image), and it runs in an empty root.
#[test]
fn the_static_binary_needs_nothing_from_the_image() {
    if !support::tools::tools_available("static binary", &["chroot"]) {
        return;
    }
    let binary = harness::static_gipgee("static binary");
    let elf = std::fs::read(binary).expect("the binary");
    assert_eq!(&elf[..4], b"\x7fELF", "an ELF file");
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let program_headers = u64::from_le_bytes(elf[0x20..0x28].try_into().expect("8 bytes")) as usize;
    let (entry_size, entries) = (u16_at(0x36), u16_at(0x38));
    const PT_INTERP: u32 = 3;
    let interpreter = (0..entries).any(|i| {
        let at = program_headers + i * entry_size;
        u32::from_le_bytes(elf[at..at + 4].try_into().expect("4 bytes")) == PT_INTERP
    });
    assert!(
        !interpreter,
        "{} asks for a program interpreter",
        binary.display()
    );
    let root = tempfile::tempdir().expect("tempdir");
    std::fs::copy(binary, root.path().join("gipgee")).expect("copy");
    let out = std::process::Command::new("chroot")
        .arg(root.path())
        .args(["/gipgee", "--version"])
        .output()
        .expect("chroot runs");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("gipgee {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn h_a_run_over_the_job_limit_runs_in_shards_in_dependency_order() {
    let Some(world) = World::new("h: sharded run, 8 jobs per pipeline", true) else {
        return;
    };
    // The component's input: at most 8 jobs per pipeline. The fixture's 12 jobs do not fit;
    // base-tools + app (8 jobs and a plan job) do not fit one shard either, so app goes to a
    // second shard, after base-tools'.
    world.edit(".gitlab-ci.yml", |text| {
        text.replace(
            "force_autostart: true",
            "force_autostart: true\n      max_jobs: 8",
        )
    });
    world.commit("at most 8 jobs per pipeline");
    let run = run_started_by(&world, "web", "web run of main, sharded");

    let (shard_1, shard_2) = (harness::shard_trigger(1), harness::shard_trigger(2));
    run.expect_pipeline_jobs(&["gipgee:shards", &shard_1, &shard_2]);
    let first: Vec<&str> = ["gipgee:plan"]
        .iter()
        .chain(BASE_TOOLS_AND_APP_JOBS[..4].iter())
        .chain(["build:other", "test:other:smoke", "release:other"].iter())
        .copied()
        .collect();
    let second: Vec<&str> = ["gipgee:plan"]
        .iter()
        .chain(BASE_TOOLS_AND_APP_JOBS[4..].iter())
        .copied()
        .collect();
    run.expect_shard_jobs(1, &first);
    run.expect_shard_jobs(2, &second);
    for shard in &run.shards {
        let jobs = shard.keys().filter_map(|k| k.as_str());
        assert!(
            jobs.filter(|k| !k.starts_with('.') && !["stages", "workflow"].contains(k))
                .count()
                <= 8,
            "e2e `{}`: a shard over the limit",
            run.label
        );
    }

    let in_shard = |trigger: &str, jobs: &[&str]| -> Vec<String> {
        jobs.iter().map(|job| format!("{trigger}/{job}")).collect()
    };
    let shard_1_jobs = in_shard(&shard_1, &first);
    let shard_2_jobs = in_shard(&shard_2, &second);
    let mut expected: Vec<(&str, Outcome)> = [
        "gipgee:generate",
        "gipgee:pipeline",
        "gipgee:shards",
        shard_1.as_str(),
        shard_2.as_str(),
    ]
    .into_iter()
    .map(|job| (job, Passed))
    .collect();
    expected.extend(shard_1_jobs.iter().map(|job| (job.as_str(), Passed)));
    expected.extend(shard_2_jobs.iter().map(|job| (job.as_str(), Passed)));
    run.expect(&expected);

    // The second shard starts only after the first passed: app is built after base-tools
    // was released, FROM base-tools' staging image of this run.
    run.expect_order(
        &format!("{shard_1}/release:base-tools"),
        &format!("{shard_2}/build:app"),
    );
    assert_eq!(
        run.job_variable("build:app", "GIPGEE_BASE_IMAGE"),
        run.staging("base-tools")
    );
    for id in ["base-tools", "other", "app"] {
        expect_released(&world, &run, id);
    }
    expect_built_on(
        &world,
        &run,
        &format!("{}/app:1", world.registry_image()),
        &format!("{}/base-tools:1", world.registry_image()),
    );
    assert!(
        run.log("gipgee:generate")
            .contains("pipeline 1 of 3 (gipgee-pipeline.yml, starts the 2 shards): 3 jobs"),
        "e2e `{}`: generate reports the pipelines; its log:\n{}",
        run.label,
        run.log("gipgee:generate")
    );

    world.check_pipeline(&run);
    world.check_shard_pipelines(&run);
    world.expect_tool_state_in_temp_folder();
}

/// The scan and sign stages, wired for real: the fixture's own scan and sign templates (trivy
/// and cosign cannot run here) stand in for the built-in ones, under the built-in release,
/// which reports the digest it released. base-tools' scan fails: its release and app's (built
/// on it) do not run, nor their signs; other's release waits for its scan and its sign gets
/// the digest the release copied to its target.
#[test]
fn i_a_failing_scan_stops_the_release_and_the_sign_gets_the_released_digest() {
    let Some(world) = World::new("i: scan and sign stages", true) else {
        return;
    };
    world.edit("gipgee.yaml", |t| {
        t.replace("defaults:\n", "defaults:\n  scan: true\n  sign: keyless\n")
    });
    world.edit(".gitlab-ci.yml", |text| {
        text.replace(
            "force_autostart: true",
            "force_autostart: true\n      templates_dir: gipgee-templates",
        )
    });
    std::fs::create_dir_all(world.project.join("gipgee-templates")).expect("mkdir");
    // The scan reads the staging image and fails for the images listed in scan-fails.txt.
    world.edit("gipgee-templates/scan.yml.j2", |_| {
        [
            "script:",
            "  - skopeo inspect --tls-verify=false \"docker://$GIPGEE_IMAGE\" > /dev/null",
            "  - 'echo \"gipgee e2e: scanned $GIPGEE_IMAGE\"'",
            "  - 'if grep -qx \"${CI_JOB_NAME#scan:}\" scan-fails.txt; then echo \"gipgee e2e: vulnerable\" >&2; exit 1; fi'",
            "",
        ]
        .join("\n")
    });
    // The sign reads the image by the digest it was given in every repository it signs.
    world.edit("gipgee-templates/sign.yml.j2", |_| {
        [
            "script:",
            "  - test -n \"$GIPGEE_RELEASED_DIGEST\"",
            "{%- for repository in sign.repositories %}",
            "  - skopeo inspect --tls-verify=false \"docker://${{ repository.variable }}@$GIPGEE_RELEASED_DIGEST\" > /dev/null",
            "  - 'echo \"gipgee e2e: signed ${{ repository.variable }}@$GIPGEE_RELEASED_DIGEST\"'",
            "{%- endfor %}",
            "",
        ]
        .join("\n")
    });
    world.edit("scan-fails.txt", |_| "base-tools\n".into());
    world.commit("scan and sign every image; base-tools' scan fails");

    let run = run_started_by(&world, "web", "web run of main, scanned and signed");
    let jobs = [
        "gipgee:plan",
        "build:base-tools",
        "test:base-tools:smoke",
        "test:base-tools:files",
        "scan:base-tools",
        "release:base-tools",
        "sign:base-tools",
        "build:other",
        "test:other:smoke",
        "scan:other",
        "release:other",
        "sign:other",
        "build:app",
        "test:app:smoke",
        "test:app:greeting",
        "scan:app",
        "release:app",
        "sign:app",
    ];
    run.expect_pipeline_jobs(&jobs);
    run.expect(&[
        ("gipgee:plan", Passed),
        ("build:base-tools", Passed),
        ("test:base-tools:smoke", Passed),
        ("test:base-tools:files", Passed),
        ("scan:base-tools", Failed),
        ("release:base-tools", NotRun),
        ("sign:base-tools", NotRun),
        ("build:app", Passed),
        ("test:app:smoke", Passed),
        ("test:app:greeting", Passed),
        ("scan:app", Passed),
        ("release:app", NotRun),
        ("sign:app", NotRun),
        ("build:other", Passed),
        ("test:other:smoke", Passed),
        ("scan:other", Passed),
        ("release:other", Passed),
        ("sign:other", Passed),
    ]);
    run.expect_order("test:other:smoke", "scan:other");
    run.expect_order("scan:other", "release:other");
    run.expect_order("release:other", "sign:other");
    assert!(
        run.log("scan:other")
            .contains(&format!("gipgee e2e: scanned {}", run.staging("other"))),
        "e2e `{}`: the scan should read other's staging image; its log:\n{}",
        run.label,
        run.log("scan:other")
    );
    for (id, target) in world.targets() {
        if id != "other" {
            assert_eq!(world.digest(&target), None, "{target} is not released");
        }
    }
    expect_released(&world, &run, "other");
    let target = format!("{}/other:1", world.registry_image());
    let digest = world.digest(&target).expect("other is released");
    let repository = format!("{}/other", world.registry_image());
    assert_eq!(
        run.job_variable("sign:other", "GIPGEE_SIGN_REPOSITORY_1"),
        repository
    );
    let signed = format!("gipgee e2e: signed {repository}@{digest}");
    assert!(
        run.log("sign:other").contains(&signed),
        "e2e `{}`: the sign job should get the released digest ({signed}); its log:\n{}",
        run.label,
        run.log("sign:other")
    );
    world.check_pipeline(&run);
    world.expect_tool_state_in_temp_folder();
}
