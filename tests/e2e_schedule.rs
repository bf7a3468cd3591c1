//! End-to-end: the scheduled update check (SPEC §4, issue 4), run for real.
//!
//! The world of `tests/e2e.rs` (real registries, buildah and skopeo, the fixture project whose
//! `.gitlab-ci.yml` includes gipgee's component, gitlab-ci-local), seeded by a web run that
//! releases every image; then gitlab-ci-local runs the project's pipeline with
//! `CI_PIPELINE_SOURCE=schedule`: the component generates the update-check pipeline
//! (`gipgee:plan` → `layer-check` → `update-check:<id>` → `evaluate` → `rebuild` →
//! `gipgee:verdict`), and `rebuild` starts the rebuild pipeline `evaluate` wrote, the third
//! pipeline level (its jobs are keyed `rebuild/<job>`).
//!
//! The update checks run inside the released images (the job shell `tests/e2e/job-shell.sh`
//! runs `update-check:*` jobs with `buildah run` in their image, as it does test jobs), with
//! the static gipgee the `layer-check` job hands them: the worlds' jobs run a `+crt-static`
//! build (`harness::static_gipgee`). The busybox images check with the fixture's own command
//! (`tests/e2e/project/tests/update-check.sh`: the ids in `E2E_OUTDATED` have updates); the
//! Debian images of scenario `d` with `auto`, which runs `apt-get update` against the Debian
//! mirror and `apt-get --simulate upgrade`.
//!
//! The fixture's base-tools is on `base/busybox:1`, which scenarios push again with a change;
//! other is on the pinned `base/busybox:1.36`, which stays. The Debian base of scenario `d` is
//! a debootstrap minbase of the machine's Debian mirror (`tests/e2e/debian-rootfs.sh`, cached
//! in ~/.cache/gipgee-tools/debian, made again after a point release: about 30-60 s), so
//! its packages are the mirror's current ones; `debian-outdated` claims an older `hostname`
//! in its dpkg status.
//!
//! Every job's result is checked (gitlab-ci-local does not fail on a failed child job), the
//! checks' results from the files the jobs leave, the registries with skopeo. A failure names
//! the scenario and step, the job and why, with the job's output.
//!
//! Run them alone with `bash tests/e2e/run.sh e2e_schedule::` (`GIPGEE_E2E_KEEP=1` keeps the
//! temp folders). About 50 s on 2 cores with the Debian rootfs cached.

use std::collections::BTreeMap;

use crate::e2e::harness::{self, Outcome, Run, RunSpec, Setup, World};
use crate::e2e::{
    BASE_TOOLS_AND_APP_JOBS, expect_built_on, expect_pushed, expect_ran_in_image,
    expect_targets_unchanged, run_started_by, seed,
};
use Outcome::{Failed, Passed};

/// The fixture's images, all checked by the fixture's own update-check command.
const IMAGES: &[&str] = &["base-tools", "other", "app"];

/// What one check found for one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    UpToDate,
    Stale,
    Error,
}
use Check::{Error, Stale, UpToDate};

fn busybox_world(scenario: &str) -> Option<World> {
    World::with(
        scenario,
        Setup {
            autostart: true,
            static_gipgee: true,
            debian: false,
            multi_platform: false,
        },
    )
}

/// Runs the project's pipeline as a pipeline schedule starts it.
#[track_caller]
fn scheduled(world: &World, step: &str, vars: &[(&'static str, &str)]) -> Run {
    let mut all = vec![("CI_PIPELINE_SOURCE", "schedule".to_string())];
    all.extend(vars.iter().map(|(k, v)| (*k, v.to_string())));
    let run = world.run(
        step,
        RunSpec {
            vars: all,
            ..RunSpec::default()
        },
    );
    run.expect(&[("gipgee:generate", Passed), ("gipgee:pipeline", Passed)]);
    run
}

/// The update-check pipeline's jobs when every image is checked.
fn check_jobs(ids: &[&str]) -> Vec<String> {
    let mut jobs: Vec<String> = ["gipgee:plan", "layer-check", "evaluate", "rebuild"]
        .map(String::from)
        .into();
    jobs.push("gipgee:verdict".into());
    jobs.extend(ids.iter().map(|id| format!("update-check:{id}")));
    jobs
}

/// The update-check pipeline has a check job per image; they ran as `outcomes` says
/// (every other job of it passed, `gipgee:verdict` as `verdict` says), each update check
/// inside its released image.
#[track_caller]
fn expect_check_pipeline(
    run: &Run,
    ids: &[&str],
    update_checks: &[(&str, Outcome)],
    verdict: Outcome,
) {
    let jobs = check_jobs(ids);
    let names: Vec<&str> = jobs.iter().map(String::as_str).collect();
    run.expect_pipeline_jobs(&names);
    let expected: Vec<(&str, Outcome)> = names
        .iter()
        .map(|job| {
            let outcome = match job.strip_prefix("update-check:") {
                Some(id) => update_checks
                    .iter()
                    .find(|(i, _)| *i == id)
                    .map_or(Passed, |(_, o)| *o),
                None if *job == "gipgee:verdict" => verdict,
                None => Passed,
            };
            (*job, outcome)
        })
        .collect();
    run.expect(&expected);
    for id in ids {
        expect_ran_in_image(run, &format!("update-check:{id}"));
    }
}

/// The layer check's and the update check's results per image, read from the files the jobs
/// left (`gipgee-results/`), and `evaluate`'s report agrees.
#[track_caller]
fn expect_checks(world: &World, run: &Run, expected: &[(&str, Check, Check)]) {
    let layer_json = world
        .output_file("gipgee-results/layer-check.json")
        .unwrap_or_else(|| {
            run.fail(&format!(
                "\njob `layer-check` left no gipgee-results/layer-check.json; its output:\n{}",
                run.log("layer-check")
            ))
        });
    let layer: serde_json::Value = serde_json::from_str(&layer_json).expect("layer-check JSON");
    let mut problems = String::new();
    for (id, want_layer, want_update) in expected {
        let result = &layer["images"][id];
        let got_layer = match result["status"].as_str() {
            Some("up-to-date") => Some(UpToDate),
            Some("stale") => Some(Stale),
            Some("error") => Some(Error),
            _ => None,
        };
        if got_layer != Some(*want_layer) {
            problems.push_str(&format!(
                "\njob `layer-check`: {id} should be {want_layer:?}, its result is {result}; the job's output:\n{}\n",
                run.log("layer-check")
            ));
        }
        let job = format!("update-check:{id}");
        let result_file = world.output_file(&format!("gipgee-results/update-check/{id}.result"));
        let error_file = world.output_file(&format!("gipgee-results/update-check/{id}.error"));
        let got_update = match (&result_file, &error_file) {
            (_, Some(_)) | (None, None) => Error,
            (Some(text), None) if text.starts_with("UPGRADE_NEEDED\n") => Stale,
            (Some(text), None) if text.starts_with("NO_UPGRADE_NEEDED\n") => UpToDate,
            (Some(_), None) => Error,
        };
        if got_update != *want_update {
            problems.push_str(&format!(
                "\njob `{job}`: {id} should be {want_update:?}, found result file {result_file:?}, error file {error_file:?}; the job's output:\n{}\n",
                run.log(&job)
            ));
        }
    }
    if !problems.is_empty() {
        run.fail(&problems);
    }
}

/// `evaluate` found these images stale (and no others), and the rebuild pipeline rebuilds
/// `rebuilt`; the report says so.
#[track_caller]
fn expect_evaluation(world: &World, run: &Run, stale: &[&str], rebuilt: &[&str]) {
    let summary = world
        .output_file("gipgee-results/evaluation.json")
        .unwrap_or_else(|| {
            run.fail(&format!(
                "\njob `evaluate` left no gipgee-results/evaluation.json; its output:\n{}",
                run.log("evaluate")
            ))
        });
    let summary: serde_json::Value = serde_json::from_str(&summary).expect("evaluation JSON");
    let got_stale: Vec<&str> = summary["stale"]
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let mut got_rebuilt: Vec<&str> = summary["rebuilt"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    got_rebuilt.sort();
    let mut want_stale = stale.to_vec();
    want_stale.sort();
    let mut want_rebuilt = rebuilt.to_vec();
    want_rebuilt.sort();
    if got_stale != want_stale || got_rebuilt != want_rebuilt {
        run.fail(&format!(
            "\njob `evaluate`: expected stale {want_stale:?} and rebuilt {want_rebuilt:?}, it decided {summary}; its output:\n{}",
            run.log("evaluate")
        ));
    }
    let report = run.log("evaluate");
    let line = match stale.is_empty() {
        true => "Nothing is stale: the rebuild pipeline builds nothing.".to_string(),
        false => format!("Stale: {}.", stale.join(", ")),
    };
    assert!(
        report.contains(&line),
        "e2e `{}`: job `evaluate`: the report should say `{line}`; its output:\n{report}",
        run.label
    );
}

/// The rebuild pipeline has exactly the plan job and these images' build, test and release
/// jobs, and every one passed.
#[track_caller]
fn expect_rebuilt(run: &Run, jobs: &[&str]) {
    let mut all = vec!["gipgee:plan"];
    all.extend(jobs);
    run.expect_rebuild_jobs(&all);
    let keys: Vec<String> = all.iter().map(|j| format!("rebuild/{j}")).collect();
    let expected: Vec<(&str, Outcome)> = keys.iter().map(|k| (k.as_str(), Passed)).collect();
    run.expect(&expected);
}

/// Nothing stale: the rebuild pipeline only has its plan job (GitLab cannot skip a trigger
/// job on an artifact's content), which says why, and no image is built.
#[track_caller]
fn expect_nothing_rebuilt(run: &Run) {
    expect_rebuilt(run, &[]);
    let plan = run.log("rebuild/gipgee:plan");
    assert!(
        plan.contains("no image is stale"),
        "e2e `{}`: job `rebuild/gipgee:plan` should say that no image is stale; its output:\n{plan}",
        run.label
    );
}

/// `id`'s target locations have the digest of the rebuild pipeline's staging image of it,
/// which differs from what was released before.
#[track_caller]
fn expect_rereleased(
    world: &World,
    run: &Run,
    id: &str,
    before: &BTreeMap<String, Option<String>>,
) {
    let staging = run.rebuild_staging(id);
    let digest = expect_pushed(world, run, "the rebuild's staging image", &staging, id);
    for target in world.targets_of(id) {
        let now = world.digest(&target);
        assert_eq!(
            now, digest,
            "e2e `{}`: job `rebuild/release:{id}`: target {target} should have the digest of the rebuild's staging image {staging}",
            run.label
        );
        assert_ne!(
            now, before[&target],
            "e2e `{}`: target {target} of {id} should have changed",
            run.label
        );
    }
}

/// The targets of the images not in `changed` kept their digests.
#[track_caller]
fn expect_others_unchanged(
    world: &World,
    run: &Run,
    before: &BTreeMap<String, Option<String>>,
    changed: &[&str],
) {
    for (id, target) in world.targets() {
        if !changed.contains(&id) {
            assert_eq!(
                world.digest(&target),
                before[&target],
                "e2e `{}`: {target} of {id} must not be released again",
                run.label
            );
        }
    }
}

/// base-tools is stale: `evaluate` says so, the rebuild pipeline rebuilds it and app (built on
/// it) and every job of it passes, and both are released again.
#[track_caller]
fn expect_base_tools_and_app_rebuilt(
    world: &World,
    run: &Run,
    before: &BTreeMap<String, Option<String>>,
) {
    expect_evaluation(world, run, &["base-tools"], &["base-tools", "app"]);
    expect_rebuilt(run, BASE_TOOLS_AND_APP_JOBS);
    expect_rereleased(world, run, "base-tools", before);
    expect_rereleased(world, run, "app", before);
}

/// The verdict job passed, saying every check worked.
#[track_caller]
fn expect_every_check_worked(run: &Run) {
    let verdict = run.log("gipgee:verdict");
    assert!(
        verdict.contains("Every check worked."),
        "e2e `{}`: job `gipgee:verdict` should pass saying so; its output:\n{verdict}",
        run.label
    );
}

/// A scheduled run that finds everything up to date.
#[track_caller]
fn expect_all_up_to_date(world: &World, run: &Run, ids: &[&str]) {
    expect_check_pipeline(run, ids, &[], Passed);
    let expected: Vec<(&str, Check, Check)> =
        ids.iter().map(|id| (*id, UpToDate, UpToDate)).collect();
    expect_checks(world, run, &expected);
    expect_evaluation(world, run, &[], &[]);
    expect_nothing_rebuilt(run);
    expect_every_check_worked(run);
}

#[test]
fn a_nothing_changed_every_image_is_up_to_date_and_nothing_is_rebuilt() {
    let Some(world) = busybox_world("schedule a: nothing changed") else {
        return;
    };
    let released = seed(&world);

    let run = scheduled(&world, "scheduled run", &[]);
    // The update-check pipeline and the rebuild pipeline pass GitLab's schema and
    // gitlab-ci-local's checks.
    world.check_pipeline(&run);
    world.check_rebuild_pipeline(&run);
    expect_all_up_to_date(&world, &run, IMAGES);
    for id in IMAGES {
        let log = run.log(&format!("update-check:{id}"));
        assert!(
            log.contains(&format!("update check of {id}: NO_UPGRADE_NEEDED")),
            "e2e `{}`: job `update-check:{id}` should run the fixture's check; its output:\n{log}",
            run.label
        );
    }
    expect_targets_unchanged(&world, &run, &released);
    world.expect_tool_state_in_temp_folder();
}

#[test]
fn b_a_moved_base_rebuilds_base_tools_and_app_on_it_then_all_is_up_to_date() {
    let Some(world) = busybox_world("schedule b: busybox base moved") else {
        return;
    };
    let released = seed(&world);

    // The base's maintainers push `base/busybox:1` again with a change; `other` is on the
    // pinned `base/busybox:1.36`, which stays.
    world.push_changed_busybox_base("2");
    let base = format!("{}/base/busybox:1", world.anon.host);
    let run = scheduled(&world, "scheduled run after the base moved", &[]);
    expect_check_pipeline(&run, IMAGES, &[], Passed);
    expect_checks(
        &world,
        &run,
        &[
            ("base-tools", Stale, UpToDate),
            ("other", UpToDate, UpToDate),
            ("app", UpToDate, UpToDate),
        ],
    );
    expect_base_tools_and_app_rebuilt(&world, &run, &released);
    world.check_rebuild_pipeline(&run);
    // app is rebuilt FROM base-tools' new staging image, after it, and released after it.
    run.expect_order("rebuild/build:base-tools", "rebuild/build:app");
    run.expect_order("rebuild/release:base-tools", "rebuild/release:app");
    assert_eq!(
        run.rebuild_job_variable("build:app", "GIPGEE_BASE_IMAGE"),
        run.rebuild_staging("base-tools"),
        "e2e `{}`: the rebuilt app must be built FROM the rebuilt base-tools",
        run.label
    );
    expect_others_unchanged(&world, &run, &released, &["base-tools", "app"]);
    let base_tools = format!("{}/base-tools:1", world.registry_image());
    expect_built_on(&world, &run, &base_tools, &base);
    expect_built_on(
        &world,
        &run,
        &format!("{}/app:1", world.registry_image()),
        &base_tools,
    );
    expect_every_check_worked(&run);

    // The next scheduled run finds everything up to date.
    let rebuilt = world.target_digests();
    let again = scheduled(&world, "the next scheduled run", &[]);
    expect_all_up_to_date(&world, &again, IMAGES);
    expect_targets_unchanged(&world, &again, &rebuilt);
    world.expect_tool_state_in_temp_folder();
}

#[test]
fn c_a_user_check_reporting_an_upgrade_rebuilds_only_that_image() {
    let Some(world) = busybox_world("schedule c: user check, other outdated") else {
        return;
    };
    let released = seed(&world);

    // The fixture's check (updateCheck: {command: [sh, tests/update-check.sh]}) reports an
    // upgrade for the ids in E2E_OUTDATED.
    let run = scheduled(
        &world,
        "scheduled run, other has an update",
        &[("E2E_OUTDATED", "other")],
    );
    expect_check_pipeline(&run, IMAGES, &[], Passed);
    expect_checks(
        &world,
        &run,
        &[
            ("base-tools", UpToDate, UpToDate),
            ("other", UpToDate, Stale),
            ("app", UpToDate, UpToDate),
        ],
    );
    // The detail lines, written inside the image (its /etc/base-version), reach the report.
    let result = world
        .output_file("gipgee-results/update-check/other.result")
        .unwrap_or_default();
    assert_eq!(
        result, "UPGRADE_NEEDED\npretend-package 1.0 -> 1.1 (in other on base v1)\n",
        "e2e `{}`: job `update-check:other`: the result file",
        run.label
    );
    let report = run.log("evaluate");
    assert!(
        report.contains("STALE: package updates: pretend-package 1.0 -> 1.1 (in other on base v1)"),
        "e2e `{}`: job `evaluate`: the report should show the package; its output:\n{report}",
        run.label
    );
    expect_evaluation(&world, &run, &["other"], &["other"]);
    expect_rebuilt(&run, &["build:other", "test:other:smoke", "release:other"]);
    expect_rereleased(&world, &run, "other", &released);
    expect_others_unchanged(&world, &run, &released, &["other"]);
    world.expect_tool_state_in_temp_folder();
}

#[test]
fn d_the_auto_check_asks_apt_inside_debian_images() {
    let Some(world) = World::with(
        "schedule d: auto check with apt",
        Setup {
            autostart: true,
            static_gipgee: true,
            debian: true,
            multi_platform: false,
        },
    ) else {
        return;
    };
    let debian = ["debian-current", "debian-outdated"];
    let seed = run_started_by(&world, "web", "seed: release main");
    let seed_jobs = seed.pipeline_jobs();
    let passed: Vec<(&str, Outcome)> = seed_jobs.iter().map(|j| (*j, Passed)).collect();
    seed.expect(&passed);
    for id in debian {
        assert!(
            seed_jobs.contains(&format!("release:{id}").as_str()),
            "e2e `{}`: the pipeline should release {id}; its jobs: {seed_jobs:?}",
            seed.label
        );
    }
    let released: BTreeMap<String, Option<String>> = debian
        .iter()
        .map(|id| {
            let target = format!("{}/{id}:1", world.registry_image());
            let digest = world.digest(&target);
            assert!(digest.is_some(), "e2e `{}`: {target} released", seed.label);
            (target, digest)
        })
        .collect();
    let busybox_released = world.target_digests();

    let run = scheduled(&world, "scheduled run", &[]);
    let all: Vec<&str> = IMAGES.iter().copied().chain(debian).collect();
    expect_check_pipeline(&run, &all, &[], Passed);
    expect_checks(
        &world,
        &run,
        &[
            ("base-tools", UpToDate, UpToDate),
            ("other", UpToDate, UpToDate),
            ("app", UpToDate, UpToDate),
            ("debian-current", UpToDate, UpToDate),
            ("debian-outdated", UpToDate, Stale),
        ],
    );
    // apt-get, in the image: it refreshed the indexes from the mirror and simulated the
    // upgrade; the outdated image's dpkg status claims hostname 0.0-e2e.
    for id in debian {
        let job = format!("update-check:{id}");
        let log = run.log(&job);
        for line in [
            "package manager: apt-get",
            "running: apt-get update -qq",
            "running: apt-get --simulate -qq -o Debug::NoLocking=1 dist-upgrade",
        ] {
            assert!(
                log.contains(line),
                "e2e `{}`: job `{job}` should log `{line}`; its output:\n{log}",
                run.label
            );
        }
    }
    let current = world
        .output_file("gipgee-results/update-check/debian-current.result")
        .unwrap_or_default();
    assert_eq!(
        current, "NO_UPGRADE_NEEDED\n",
        "e2e `{}`: job `update-check:debian-current`: the packages of the Debian base are the mirror's current ones (if a Debian point release happened since {} cached its rootfs, it makes it again)",
        run.label, "tests/e2e/debian-rootfs.sh"
    );
    let outdated = world
        .output_file("gipgee-results/update-check/debian-outdated.result")
        .unwrap_or_default();
    assert!(
        outdated.starts_with("UPGRADE_NEEDED\nhostname 0.0-e2e -> ")
            && outdated.lines().count() == 2,
        "e2e `{}`: job `update-check:debian-outdated` should find exactly the hostname upgrade; its result file: {outdated:?}; its output:\n{}",
        run.label,
        run.log("update-check:debian-outdated")
    );
    expect_evaluation(&world, &run, &["debian-outdated"], &["debian-outdated"]);
    expect_rebuilt(
        &run,
        &[
            "build:debian-outdated",
            "test:debian-outdated:claim",
            "release:debian-outdated",
        ],
    );
    let target = format!("{}/debian-outdated:1", world.registry_image());
    let staging = run.rebuild_staging("debian-outdated");
    assert_eq!(
        world.digest(&target),
        world.digest(&staging),
        "e2e `{}`: job `rebuild/release:debian-outdated` should release {staging}",
        run.label
    );
    assert_ne!(world.digest(&target), released[&target]);
    let current_target = format!("{}/debian-current:1", world.registry_image());
    assert_eq!(
        world.digest(&current_target),
        released[&current_target],
        "e2e `{}`: debian-current must not be rebuilt",
        run.label
    );
    expect_targets_unchanged(&world, &run, &busybox_released);
    world.expect_tool_state_in_temp_folder();
}

#[test]
fn e_a_missing_image_and_a_registry_that_is_down_are_errors_that_fail_the_pipeline() {
    let Some(mut world) = busybox_world("schedule e: missing image, registry down") else {
        return;
    };
    let released = seed(&world);

    // other's target location no longer exists; the busybox base moved (base-tools stale).
    let other = format!("{}/other:1", world.registry_image());
    world.delete(&other);
    world.push_changed_busybox_base("2");
    let run = scheduled(&world, "scheduled run, other's image missing", &[]);
    // update-check:other cannot pull its image (allow_failure: the pipeline goes on).
    expect_check_pipeline(&run, IMAGES, &[("other", Failed)], Failed);
    expect_checks(
        &world,
        &run,
        &[
            ("base-tools", Stale, UpToDate),
            ("other", Error, Error),
            ("app", UpToDate, UpToDate),
        ],
    );
    let layer_check = run.log("layer-check");
    assert!(
        layer_check.contains("other") && layer_check.contains("other:1"),
        "e2e `{}`: job `layer-check` should name other's missing image; its output:\n{layer_check}",
        run.label
    );
    // The error does not hide what is known stale: base-tools and app are rebuilt.
    expect_base_tools_and_app_rebuilt(&world, &run, &released);
    assert_eq!(world.digest(&other), None, "nothing released other");
    // ... and the pipeline fails at the end, naming the image and why.
    let verdict = run.log("gipgee:verdict");
    assert!(
        verdict.contains("Some checks failed:")
            && verdict.contains("other: layer check: released image")
            && verdict.contains("other: no update-check result"),
        "e2e `{}`: job `gipgee:verdict` should fail naming other's errors; its output:\n{verdict}",
        run.label
    );
    let report = run.log("evaluate");
    assert!(
        report.contains("ERROR  other") && report.contains("1 image(s) could not be checked"),
        "e2e `{}`: job `evaluate`: the report should show other's error; its output:\n{report}",
        run.label
    );

    // The release registry (base-tools' second target location) goes down: base-tools
    // cannot be checked; app is still evaluated (up to date); nothing is rebuilt.
    let rebuilt = world.target_digests();
    let release_host = world.auth.host.clone();
    world.auth.stop();
    let down = scheduled(&world, "scheduled run, release registry down", &[]);
    expect_check_pipeline(&down, IMAGES, &[("other", Failed)], Failed);
    expect_checks(
        &world,
        &down,
        &[
            ("base-tools", Error, UpToDate),
            ("other", Error, Error),
            ("app", UpToDate, UpToDate),
        ],
    );
    expect_evaluation(&world, &down, &[], &[]);
    expect_nothing_rebuilt(&down);
    let verdict = down.log("gipgee:verdict");
    assert!(
        verdict.contains("base-tools: layer check:")
            && verdict.contains(&release_host)
            && verdict.contains("other: layer check:"),
        "e2e `{}`: job `gipgee:verdict` should fail naming base-tools' unreachable registry {release_host} and other's missing image; its output:\n{verdict}",
        down.label
    );
    for (id, target) in world.targets() {
        if !target.starts_with(&release_host) {
            assert_eq!(
                world.digest(&target),
                rebuilt[&target],
                "e2e `{}`: {target} of {id} must not change",
                down.label
            );
        }
    }
    world.expect_tool_state_in_temp_folder();
}

/// The update-check pipeline of a world whose pipelines may have 8 jobs: the rebuild of every
/// image (12 jobs) is laid out in 2 shards (base-tools and other | app after them), so the
/// pipeline has 6 jobs besides the checks and its 3 checks run in 2 batches.
const SHARDED_CHECK_JOBS: &[&str] = &[
    "gipgee:plan",
    "layer-check",
    "update-check:batch:1",
    "update-check:batch:2",
    "evaluate",
    "rebuild:1",
    "rebuild:2",
    "gipgee:verdict",
];

/// The sharded update-check pipeline ran, every job passed, each image checked by its batch
/// inside its released image; each rebuild shard has exactly `shards`' jobs and they passed.
#[track_caller]
fn expect_sharded_check(run: &Run, shards: [&[&str]; 2]) {
    run.expect_pipeline_jobs(SHARDED_CHECK_JOBS);
    let mut expected: Vec<(String, Outcome)> = SHARDED_CHECK_JOBS
        .iter()
        .map(|job| (job.to_string(), Passed))
        .collect();
    for (number, jobs) in (1..).zip(shards) {
        run.expect_rebuild_shard_jobs(number, jobs);
        let trigger = harness::rebuild_trigger(number);
        expected.extend(jobs.iter().map(|job| (format!("{trigger}/{job}"), Passed)));
    }
    let expected: Vec<(&str, Outcome)> = expected.iter().map(|(j, o)| (j.as_str(), *o)).collect();
    run.expect(&expected);
    for (batch, ids) in [(1, &["base-tools", "other"][..]), (2, &["app"][..])] {
        let job = format!("update-check:batch:{batch}");
        let log = run.log(&job);
        for id in ids {
            let image = format!("/{id}:1");
            let checked_in = log
                .lines()
                .any(|l| l.contains(&format!("update check of {id} in ")) && l.ends_with(&image));
            assert!(
                checked_in && log.contains(&format!("update check of {id}: NO_UPGRADE_NEEDED")),
                "e2e `{}`: job `{job}` should run {id}'s check (the fixture's script) in its released image; its output:\n{log}",
                run.label
            );
        }
    }
    for pipeline in std::iter::once(run.pipeline()).chain(&run.rebuild_shards) {
        let jobs = pipeline
            .iter()
            .filter(|(k, _)| {
                k.as_str()
                    .is_some_and(|k| !k.starts_with('.') && !["stages", "workflow"].contains(&k))
            })
            .count();
        assert!(
            jobs <= 8,
            "e2e `{}`: a pipeline of {jobs} jobs, over the limit of 8",
            run.label
        );
    }
    expect_every_check_worked(run);
}

#[test]
fn f_over_the_job_limit_batched_checks_find_the_stale_images_and_rebuild_shards_rebuild_them() {
    let Some(world) = busybox_world("schedule f: 8 jobs per pipeline") else {
        return;
    };
    let released = seed(&world);
    world.edit(".gitlab-ci.yml", |text| {
        text.replace(
            "force_autostart: true",
            "force_autostart: true\n      max_jobs: 8",
        )
    });
    world.commit("at most 8 jobs per pipeline");

    // base-tools' base moved: base-tools is stale, and app, built on it, is rebuilt after it,
    // in the second shard.
    world.push_changed_busybox_base("2");
    let run = scheduled(&world, "scheduled run after the base moved", &[]);
    let first: Vec<&str> = ["gipgee:plan"]
        .into_iter()
        .chain(BASE_TOOLS_AND_APP_JOBS[..4].iter().copied())
        .collect();
    let second: Vec<&str> = ["gipgee:plan"]
        .into_iter()
        .chain(BASE_TOOLS_AND_APP_JOBS[4..].iter().copied())
        .collect();
    expect_sharded_check(&run, [&first, &second]);
    expect_checks(
        &world,
        &run,
        &[
            ("base-tools", Stale, UpToDate),
            ("other", UpToDate, UpToDate),
            ("app", UpToDate, UpToDate),
        ],
    );
    expect_evaluation(&world, &run, &["base-tools"], &["base-tools", "app"]);
    // The second shard starts after the first passed: app is built after base-tools was
    // released, FROM base-tools' staging image of this rebuild.
    run.expect_order("rebuild:1/release:base-tools", "rebuild:2/build:app");
    assert_eq!(
        run.rebuild_job_variable("build:app", "GIPGEE_BASE_IMAGE"),
        run.rebuild_staging("base-tools"),
        "e2e `{}`: the rebuilt app must be built FROM the rebuilt base-tools",
        run.label
    );
    expect_rereleased(&world, &run, "base-tools", &released);
    expect_rereleased(&world, &run, "app", &released);
    expect_others_unchanged(&world, &run, &released, &["base-tools", "app"]);
    expect_built_on(
        &world,
        &run,
        &format!("{}/app:1", world.registry_image()),
        &format!("{}/base-tools:1", world.registry_image()),
    );
    world.check_pipeline(&run);
    world.check_rebuild_shard_pipelines(&run);

    // The next scheduled run finds everything up to date: each shard's rebuild pipeline is
    // only its plan job.
    let rebuilt = world.target_digests();
    let again = scheduled(&world, "the next scheduled run", &[]);
    expect_sharded_check(&again, [&["gipgee:plan"], &["gipgee:plan"]]);
    expect_evaluation(&world, &again, &[], &[]);
    expect_targets_unchanged(&world, &again, &rebuilt);
    world.expect_tool_state_in_temp_folder();
}
