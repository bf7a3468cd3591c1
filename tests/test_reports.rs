//! JUnit reports of test jobs: a test writes `$GIPGEE_JUNIT_FILE`, the job uploads it as its
//! `junit` report (also when the test fails), and a test that writes none passes all the same.
//! The generated pipeline is checked against GitLab's CI schema and Psych, and its test jobs
//! run under gitlab-ci-local (shell executor, one build directory per job). gitlab-ci-local
//! does not upload `reports: junit` itself, so the test reads what GitLab would collect: the
//! file the report names, in the job's build directory.

use std::path::Path;
use std::process::Command;

use crate::support::{self, Test, tools};

const CONFIG: &str = r#"
    version: 1
    defaults: {staging: registry.gitlab.example.com/group/project/staging}
    images:
      a:
        baseImage: alpine
        targetLocations: [registry.gitlab.example.com/group/project/a:1]
        tests:
          - name: writes
            script:
              - cd /
              - printf '<testsuites><testsuite name="a" tests="1"><testcase name="ok"/></testsuite></testsuites>\n' > "$GIPGEE_JUNIT_FILE"
          - name: silent
            command: ["true"]
          - name: fails-with-report
            script:
              - printf '<testsuites><testsuite name="a" tests="1" failures="1"><testcase name="bad"><failure/></testcase></testsuite></testsuites>\n' > "$GIPGEE_JUNIT_FILE"
              - exit 3
"#;

const JOBS: [&str; 3] = ["test:a:writes", "test:a:silent", "test:a:fails-with-report"];

/// The report file the job's `reports: junit` names, as the job left it in its build
/// directory (gitlab-ci-local's `builds/<job>`, its name made safe), if there is one.
fn collected_report(repo: &Path, job_dir_part: &str, report: &str) -> Option<String> {
    let builds = repo.join(".gitlab-ci-local/builds");
    let entries = std::fs::read_dir(&builds).expect("gitlab-ci-local's build directories");
    let dirs: Vec<_> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(job_dir_part))
        .collect();
    assert_eq!(dirs.len(), 1, "one build directory for `{job_dir_part}`");
    std::fs::read_to_string(dirs[0].path().join(report)).ok()
}

#[test]
fn a_test_s_junit_report_is_collected_when_written_and_its_absence_fails_nothing() {
    if !tools::tools_available("junit reports", &["gitlab-ci-local", "check-jsonschema"]) {
        return;
    }
    let out = Test::new()
        .gitlab_manual_run()
        .env("GIPGEE_FORCE_AUTOSTART", "true")
        .file("gipgee.yaml", CONFIG)
        .file("Containerfile", "FROM scratch\n")
        .args(&["generate"])
        .any_stdout()
        .run();
    let repo = out.dir.clone();
    let file = repo.join("gipgee-pipeline.yml");
    tools::check_pipeline(&repo, &file);

    let pipeline: serde_yaml::Value =
        serde_yaml::from_str(&out.read("gipgee-pipeline.yml")).expect("YAML");
    let mut reports = Vec::new();
    for job in JOBS {
        let definition = support::resolve_job(&pipeline, job);
        let artifacts = &definition["artifacts"];
        assert_eq!(
            artifacts["when"].as_str(),
            Some("always"),
            "{job}: {artifacts:?}"
        );
        reports.push(
            artifacts["reports"]["junit"]
                .as_str()
                .unwrap_or_else(|| panic!("{job} has no junit report: {artifacts:?}"))
                .to_string(),
        );
    }

    let run = Command::new("gitlab-ci-local")
        .current_dir(&repo)
        .args(["--file", "gipgee-pipeline.yml", "--no-color"])
        .args(["--force-shell-executor", "--shell-isolation"])
        .args(JOBS)
        .output()
        .expect("gitlab-ci-local runs");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    for (job, outcome) in [
        ("test:a:writes", "PASS"),
        ("test:a:silent", "PASS"),
        ("test:a:fails-with-report", "FAIL"),
    ] {
        assert!(
            log.lines()
                .any(|line| line.trim() == format!("{outcome}  {job}")),
            "{job} should {outcome}; gitlab-ci-local's log:\n{log}"
        );
    }
    let written = collected_report(&repo, "writes", &reports[0]);
    assert!(
        written
            .as_deref()
            .is_some_and(|x| x.contains(r#"<testcase name="ok"/>"#)),
        "the report of test:a:writes: {written:?}\n{log}"
    );
    assert_eq!(collected_report(&repo, "silent", &reports[1]), None);
    let failed = collected_report(&repo, "report", &reports[2]);
    assert!(
        failed.as_deref().is_some_and(|x| x.contains("<failure/>")),
        "the report of the failing test: {failed:?}\n{log}"
    );
}
