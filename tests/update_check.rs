//! The update-check side through the real binary: `update-check run|auto` inside an image
//! and `evaluate` turning results into a report, a JUnit file and the rebuild pipeline.

use crate::support::{self, Test};

const CONFIG: &str = "
version: 1
images:
  base:
    baseImage: alpine:3.20
    targetLocations: [registry.example.com/base:1]
    staging: registry.example.com/staging
  child:
    baseImage: registry.example.com/base:1
    targetLocations: [registry.example.com/child:1]
    staging: registry.example.com/staging
    updateCheck: {command: [./check.sh]}
  other:
    baseImage: debian:bookworm
    targetLocations: [registry.example.com/other:1]
    staging: registry.example.com/staging
    layerCheck: false
    updateCheck: none
";

#[test]
fn a_user_check_gets_the_image_id_and_result_file() {
    let out = Test::new()
        .file(
            "check.sh",
            "#!/bin/sh\nprintf 'UPGRADE_NEEDED\\nid=%s file=%s env=%s\\n' \"$1\" \"$2\" \"$GIPGEE_UPDATE_CHECK_RESULT_FILE\" > \"$2\"\n",
        )
        .args(&["update-check", "run", "--image-id", "child", "--result-file", "r/child.result", "--", "sh", "./check.sh"])
        .stdout("child: upgrade needed\n  id=child file=r/child.result env=r/child.result\n")
        .run();
    assert_eq!(
        out.read("r/child.result"),
        "UPGRADE_NEEDED\nid=child file=r/child.result env=r/child.result\n"
    );
}

#[test]
fn a_result_file_off_contract_is_an_error_quoting_it() {
    let out = Test::new()
        .file("check.sh", "#!/bin/sh\necho 'all good' > \"$2\"\n")
        .args(&[
            "update-check", "run", "--image-id", "child", "--result-file", "r/child.result", "--error-file", "r/child.error", "--", "sh", "./check.sh",
        ])
        .status(1)
        .stderr("error: update check `sh`: the result file must start with a line `UPGRADE_NEEDED` or `NO_UPGRADE_NEEDED`, found: \"all good\\n\"\n")
        .run();
    assert_eq!(
        out.read("r/child.error"),
        "update check `sh`: the result file must start with a line `UPGRADE_NEEDED` or `NO_UPGRADE_NEEDED`, found: \"all good\\n\"\n"
    );
}

#[test]
fn auto_without_a_package_manager_says_what_to_do() {
    Test::new()
        .env("PATH", "/nonexistent")
        .args(&["update-check", "auto", "--image-id", "x", "--result-file", "x.result"])
        .status(1)
        .stderr("error: no supported package manager found (apk, apt-get, dnf, microdnf, yum, zypper): set `updateCheck: none` or a `command` for this image\n")
        .run();
}

#[test]
fn auto_fails_when_apt_cannot_download_the_package_indexes() {
    // apt-get update exits 0 when an index cannot be fetched (apt before 2.1.16 always,
    // later apt without Error-Mode=any, which this fake ignores like old apt): without lists
    // the simulated upgrade lists nothing, which must not pass for "no upgrade needed".
    let (test, path) = with_fake_program(
        "apt-get",
        "#!/bin/sh\n\
         if [ \"$1\" = update ]; then\n\
           echo \"W: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease  Could not resolve 'deb.debian.org'\" >&2\n\
           echo 'W: Some index files failed to download. They have been ignored, or old ones used instead.' >&2\n\
         fi\n",
    );
    let error = "`apt-get update -qq -o APT::Update::Error-Mode=any` could not download every package index: W: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease  Could not resolve 'deb.debian.org'\n\
                 W: Some index files failed to download. They have been ignored, or old ones used instead.";
    let out = auto_check(test, &path, &["--error-file", "r/x.error"])
        .status(1)
        .stderr(&format!(
            "gipgee: package manager: apt-get\n\
             gipgee: running: apt-get update -qq -o APT::Update::Error-Mode=any\n\
             error: {error}\n"
        ))
        .run();
    assert_eq!(out.read("r/x.error"), format!("{error}\n"));
    assert!(!out.dir.join("r/x.result").exists(), "no verdict");
}

/// A test whose PATH has only `program` (a shell script), so no package manager of this
/// machine is found (or run) instead.
fn with_fake_program(program: &str, script: &str) -> (Test, String) {
    let test = Test::new();
    let bin = test.dir().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join(program), script).unwrap();
    std::fs::set_permissions(
        bin.join(program),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let path = bin.display().to_string();
    (test, path)
}

/// `update-check auto` for image `x` into `r/x.result`, with `path` as PATH and `more`
/// arguments.
fn auto_check(test: Test, path: &str, more: &[&str]) -> Test {
    let args = [
        "update-check",
        "auto",
        "--image-id",
        "x",
        "--result-file",
        "r/x.result",
    ];
    test.env("PATH", path).args(&[&args, more].concat())
}

#[test]
fn dnf_exit_100_means_updates_even_when_the_listing_is_not_understood() {
    // Output the parser does not read as packages (a future format, a plugin's noise).
    let (test, path) = with_fake_program(
        "dnf",
        "#!/bin/sh\necho 'Security: 1 advisory available'\nexit 100\n",
    );
    let out = auto_check(test, &path, &[]).any_stdout().any_stderr().run();
    assert_eq!(
        out.read("r/x.result"),
        "UPGRADE_NEEDED\ndnf check-update reported updates (exit code 100)\n"
    );
}

#[test]
fn a_failing_microdnf_is_an_error_not_no_upgrade_needed() {
    let (test, path) = with_fake_program(
        "microdnf",
        "#!/bin/sh\necho 'error: cannot update repo ubi-9-baseos' >&2\nexit 1\n",
    );
    let out = auto_check(test, &path, &[]).status(1).any_stderr().run();
    assert!(out.stderr.contains("error: `microdnf --refresh upgrade --assumeno` failed (exit status: 1): error: cannot update repo ubi-9-baseos"), "{}", out.stderr);
    assert!(!out.dir.join("r/x.result").exists(), "no verdict");
}

/// `gipgee evaluate` of [`CONFIG`] with these files in `gipgee-results/`.
fn evaluate(results: &[(&str, &str)]) -> Test {
    let mut test = Test::new().gitlab_manual_run().file("gipgee.yaml", CONFIG);
    for (path, content) in results {
        test = test.file(&format!("gipgee-results/{path}"), content);
    }
    test.args(EVALUATE)
}

const EVALUATE: &[&str] = &[
    "evaluate",
    "--results",
    "gipgee-results",
    "--output",
    "rebuild.yml",
    "--junit",
    "report.xml",
];

/// The jobs of a rebuild pipeline: its keys with a `:`, not its hidden jobs.
fn job_names(pipeline: &serde_yaml::Value) -> Vec<&str> {
    pipeline
        .as_mapping()
        .unwrap()
        .keys()
        .filter_map(|k| k.as_str())
        .filter(|k| k.contains(':') && !k.starts_with('.'))
        .collect()
}

/// The layer check found base and child up to date.
const LAYER_CHECK_UP_TO_DATE: (&str, &str) = (
    "layer-check.json",
    r#"{"images": {"base": {"status": "up-to-date", "evidence": "on sha256:a"}, "child": {"status": "up-to-date", "evidence": "on sha256:b"}}}"#,
);

#[test]
fn a_stale_base_rebuilds_it_and_its_child_and_errors_are_reported() {
    let out = evaluate(&[
        (
            "layer-check.json",
            r#"{"images": {"base": {"status": "stale", "evidence": "base alpine:3.20 is sha256:bbb, released image is on sha256:aaa"}, "child": {"status": "up-to-date", "evidence": "on sha256:ccc"}}}"#,
        ),
        ("update-check/base.result", "NO_UPGRADE_NEEDED\n"),
        ("update-check/child.error", "cannot pull registry.example.com/child:1"),
    ])
    .stdout(
        "
        stale  base
               layer check   STALE: base alpine:3.20 is sha256:bbb, released image is on sha256:aaa
               update check  up to date (no package updates)
        ERROR  child
               layer check   up to date (on sha256:ccc)
               update check  ERROR: update check: cannot pull registry.example.com/child:1
        ok     other
               layer check   not checked
               update check  not checked
        Stale: base. The rebuild pipeline rebuilds them and every image built on them.
        1 image(s) could not be checked: the pipeline fails after the rebuild.
        Wrote the rebuild pipeline to rebuild.yml.
        ",
    )
    .run();
    let pipeline: serde_yaml::Value = serde_yaml::from_str(&out.read("rebuild.yml")).unwrap();
    assert_eq!(
        job_names(&pipeline),
        [
            "gipgee:plan",
            "build:base",
            "release:base",
            "build:child",
            "release:child"
        ]
    );
    assert!(
        pipeline["build:base"]["when"].is_null(),
        "a rebuild starts by itself"
    );
    assert_eq!(
        out.read("gipgee-results/errors.txt"),
        "child: update check: cannot pull registry.example.com/child:1\n"
    );
    let junit = out.read("report.xml");
    assert!(
        junit.contains("tests=\"4\" failures=\"1\" errors=\"1\""),
        "{junit}"
    );
    support::tools::check_pipeline(&out.dir, &out.dir.join("rebuild.yml"));
}

#[test]
fn package_updates_rebuild_only_that_image() {
    let out = evaluate(&[
        LAYER_CHECK_UP_TO_DATE,
        ("update-check/base.result", "NO_UPGRADE_NEEDED\n"),
        (
            "update-check/child.result",
            "UPGRADE_NEEDED\ncurl 8.0.1-1 -> 8.0.1-2\n",
        ),
    ])
    .any_stdout()
    .run();
    assert!(
        out.stdout
            .contains("update check  STALE: package updates: curl 8.0.1-1 -> 8.0.1-2"),
        "{}",
        out.stdout
    );
    let pipeline = out.read("rebuild.yml");
    assert!(
        pipeline.contains("build:child:") && !pipeline.contains("build:base:"),
        "{pipeline}"
    );
    assert_eq!(out.read("gipgee-results/errors.txt"), "");
}

#[test]
fn nothing_stale_gives_a_rebuild_pipeline_that_builds_nothing() {
    let out = evaluate(&[
        LAYER_CHECK_UP_TO_DATE,
        ("update-check/base.result", "NO_UPGRADE_NEEDED\n"),
        ("update-check/child.result", "NO_UPGRADE_NEEDED\n"),
    ])
    .any_stdout()
    .run();
    assert!(
        out.stdout
            .contains("Nothing is stale: the rebuild pipeline builds nothing."),
        "{}",
        out.stdout
    );
    let pipeline: serde_yaml::Value = serde_yaml::from_str(&out.read("rebuild.yml")).unwrap();
    assert_eq!(job_names(&pipeline), ["gipgee:plan"]);
    support::tools::check_pipeline(&out.dir, &out.dir.join("rebuild.yml"));
}

#[test]
fn missing_results_are_errors_never_up_to_date() {
    let out = evaluate(&[]).any_stdout().run();
    assert_eq!(
        out.read("gipgee-results/errors.txt"),
        "base: no layer-check result (the layer-check job did not finish)\n\
         base: no update-check result (the update-check job did not run or failed before writing one)\n\
         child: no layer-check result (the layer-check job did not finish)\n\
         child: no update-check result (the update-check job did not run or failed before writing one)\n"
    );
}

const BASE_STALE: &[(&str, &str)] = &[
    (
        "layer-check.json",
        r#"{"images": {"base": {"status": "stale", "evidence": "base moved"}, "child": {"status": "up-to-date", "evidence": "on sha256:c"}}}"#,
    ),
    ("update-check/base.result", "NO_UPGRADE_NEEDED\n"),
    ("update-check/child.result", "NO_UPGRADE_NEEDED\n"),
];

#[test]
fn a_broken_rebuild_template_keeps_the_report_and_records_the_error() {
    let out = evaluate(BASE_STALE)
        .file("tpl/build.yml.j2", "script: [{{ image.nope }}]\n")
        .args(&[EVALUATE, &["--templates", "tpl"]].concat())
        .status(1)
        .any_stdout()
        .any_stderr()
        .run();
    assert!(
        out.stdout.contains("Stale: base."),
        "the report is printed: {}",
        out.stdout
    );
    assert!(
        out.read("report.xml").contains("failures=\"1\""),
        "the JUnit report is written"
    );
    let errors = out.read("gipgee-results/errors.txt");
    assert!(errors.starts_with("the rebuild pipeline could not be generated: error: template `tpl/build.yml.j2`, line 1: undefined value"), "{errors}");
    assert!(
        out.read("gipgee-results/evaluation.json")
            .contains("\"stale\":{\"base\"")
    );
    assert!(!out.dir.join("rebuild.yml").exists());
}

#[test]
fn a_schedule_outside_the_default_branch_rebuilds_without_releasing() {
    let out = evaluate(BASE_STALE)
        .env("CI_COMMIT_BRANCH", "feature/x")
        .any_stdout()
        .run();
    let pipeline = out.read("rebuild.yml");
    assert!(
        pipeline.contains("build:base:") && pipeline.contains("build:child:"),
        "{pipeline}"
    );
    assert!(
        !pipeline.contains("release:"),
        "nothing is released outside the default branch: {pipeline}"
    );
}

/// The verdict job keeps no checkout (`GIT_STRATEGY: none`), so a runner may still hold the
/// summary of an earlier pipeline: only this pipeline's summary counts as evaluate's verdict.
#[test]
fn the_verdict_job_never_reads_an_earlier_pipelines_summary() {
    let out = evaluate(BASE_STALE).any_stdout().run();
    let scheduled = Test::new()
        .gitlab_manual_run()
        .env("CI_PIPELINE_SOURCE", "schedule")
        .file("gipgee.yaml", CONFIG)
        .file("Containerfile", "FROM scratch\n")
        .args(&["generate", "--output", "check.yml"])
        .any_stdout()
        .run();
    let pipeline: serde_yaml::Value =
        serde_yaml::from_str(&scheduled.read("check.yml")).expect("YAML");
    let script: Vec<&str> = pipeline["gipgee:verdict"]["script"]
        .as_sequence()
        .expect("the verdict job has a script")
        .iter()
        .filter_map(|line| line.as_str())
        .collect();
    let verdict = |pipeline_id: &str| {
        std::process::Command::new("sh")
            .args(["-e", "-c", &script.join("\n")])
            .current_dir(&out.dir)
            .env("CI_PIPELINE_ID", pipeline_id)
            .output()
            .expect("sh runs")
    };
    // evaluate ran in pipeline 4242 (the test's CI_PIPELINE_ID) and every check worked.
    let this_pipeline = verdict("4242");
    assert!(this_pipeline.status.success(), "{this_pipeline:?}");
    assert!(String::from_utf8_lossy(&this_pipeline.stdout).contains("Every check worked."));
    let later_pipeline = verdict("4243");
    assert!(!later_pipeline.status.success(), "{later_pipeline:?}");
    assert!(
        String::from_utf8_lossy(&later_pipeline.stdout)
            .contains("evaluate did not finish in this pipeline"),
        "{later_pipeline:?}"
    );
}
