//! `gipgee evaluate` on a hostile results directory, through the real binary: the directory
//! is made of earlier jobs' artifacts, so its entries may be symbolic links, FIFOs,
//! directories, huge or not UTF-8. Only regular files are read, each up to a cap, and what
//! was ignored is said; a broken layer-check result never stops the rebuild of what the
//! update checks found stale.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::support::{self, GIPGEE};

const CONFIG: &str = "\
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
";

const RESULTS: &str = "gipgee-results";

/// A stalled evaluate is killed after this long (the tests take well under a second).
const DEADLINE: Duration = Duration::from_secs(30);

/// A project with [`CONFIG`] whose results directory holds every check's result, all up to
/// date, until a test changes an entry.
struct Project {
    tempdir: TempDir,
}

/// What one run of `gipgee evaluate` left.
struct Evaluated {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    junit: String,
    errors: String,
    summary: serde_json::Value,
    rebuild: String,
}

impl Project {
    fn new() -> Project {
        let project = Project {
            tempdir: tempfile::tempdir().expect("tempdir"),
        };
        std::fs::write(project.dir().join("gipgee.yaml"), CONFIG).expect("write the config");
        // The results are artifacts, never committed (git would not add a FIFO either).
        std::fs::write(project.dir().join(".gitignore"), format!("{RESULTS}/\n")).unwrap();
        support::git(project.dir(), &["init", "-q", "-b", "main"]);
        support::git(project.dir(), &["add", "-A"]);
        support::git(project.dir(), &["commit", "-q", "-m", "test"]);
        project.write(
            "layer-check.json",
            br#"{"images": {"base": {"status": "up-to-date", "evidence": "on sha256:a"}, "child": {"status": "up-to-date", "evidence": "on sha256:b"}}}"#,
        );
        project.write("update-check/base.result", b"NO_UPGRADE_NEEDED\n");
        project.write("update-check/child.result", b"NO_UPGRADE_NEEDED\n");
        project
    }

    fn dir(&self) -> &Path {
        self.tempdir.path()
    }

    /// An entry of the results directory.
    fn entry(&self, relative: &str) -> PathBuf {
        self.dir().join(RESULTS).join(relative)
    }

    fn write(&self, relative: &str, content: &[u8]) {
        let path = self.entry(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    /// Replaces an entry by a symbolic link to `target`.
    fn symlink(&self, relative: &str, target: &Path) {
        let path = self.entry(relative);
        let _ = std::fs::remove_file(&path);
        std::os::unix::fs::symlink(target, path).unwrap();
    }

    /// `gipgee evaluate` in the project, as the evaluate job runs it; killed (and the test
    /// failed) when it does not finish within [`DEADLINE`].
    #[track_caller]
    fn evaluate(&self) -> Evaluated {
        let out = |name: &str| std::fs::File::create(self.dir().join(name)).unwrap();
        let mut cmd = Command::new(GIPGEE);
        cmd.current_dir(self.dir())
            .args(["evaluate", "--results", RESULTS, "--output", "rebuild.yml"])
            .args(["--junit", "report.xml"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs([
                ("CI_PIPELINE_SOURCE", "schedule"),
                ("CI_DEFAULT_BRANCH", "main"),
                ("CI_COMMIT_BRANCH", "main"),
                ("CI_PIPELINE_ID", "4242"),
                ("CI_REGISTRY", "registry.gitlab.example.com"),
            ])
            .env(
                "CI_COMMIT_SHA",
                support::git(self.dir(), &["rev-parse", "HEAD"]),
            )
            .stdin(Stdio::null())
            .stdout(out("stdout.txt"))
            .stderr(out("stderr.txt"));
        let started = Instant::now();
        let mut child = cmd.spawn().expect("gipgee starts");
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for gipgee") {
                break status;
            }
            if started.elapsed() > DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "`{}` did not finish within {DEADLINE:?}",
                    support::describe(&cmd)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let read = |name: &str| std::fs::read_to_string(self.dir().join(name)).unwrap_or_default();
        Evaluated {
            code: status.code(),
            stdout: read("stdout.txt"),
            stderr: read("stderr.txt"),
            junit: read("report.xml"),
            errors: read(&format!("{RESULTS}/errors.txt")),
            summary: serde_json::from_str(&read(&format!("{RESULTS}/evaluation.json")))
                .unwrap_or_default(),
            rebuild: read("rebuild.yml"),
        }
    }
}

impl Evaluated {
    /// Finished with exit code 0 and the JUnit report is well-formed XML.
    #[track_caller]
    fn assert_finished(&self) {
        assert_eq!(
            self.code,
            Some(0),
            "evaluate failed:\n{}\n{}",
            self.stdout,
            self.stderr
        );
        let parsed = Command::new("python3")
            .args([
                "-c",
                "import sys, xml.dom.minidom; xml.dom.minidom.parseString(sys.stdin.buffer.read())",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut python| {
                use std::io::Write as _;
                python
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(self.junit.as_bytes())?;
                python.wait_with_output()
            })
            .expect("python3 runs");
        assert!(
            parsed.status.success(),
            "the JUnit report is not well-formed XML: {}\n{}",
            String::from_utf8_lossy(&parsed.stderr),
            self.junit
        );
    }
}

#[test]
fn a_symlinked_error_file_is_ignored_and_its_target_never_read() {
    let project = Project::new();
    let secret = project.dir().join("environ");
    std::fs::write(&secret, "CI_JOB_TOKEN=glcbt-secret-4711\n").unwrap();
    project.symlink("update-check/child.error", &secret);
    let out = project.evaluate();
    out.assert_finished();
    assert_eq!(
        out.stdout,
        "ok     base
       layer check   up to date (on sha256:a)
       update check  up to date (no package updates)
ERROR  child
       layer check   up to date (on sha256:b)
       update check  ERROR: update check: ignored gipgee-results/update-check/child.error: a symbolic link, not a regular file
Nothing is stale: the rebuild pipeline builds nothing.
1 image(s) could not be checked: the pipeline fails after the rebuild.
Wrote the rebuild pipeline to rebuild.yml.
"
    );
    for (what, text) in [
        ("the JUnit report", &out.junit),
        ("errors.txt", &out.errors),
    ] {
        assert!(
            !text.contains("glcbt-secret-4711"),
            "{what} has the secret: {text}"
        );
        assert!(
            text.contains("ignored gipgee-results/update-check/child.error: a symbolic link"),
            "{what} says what was ignored: {text}"
        );
    }
}

#[test]
fn symlinked_directories_and_layer_results_are_not_followed() {
    let project = Project::new();
    // Valid results outside the results directory: still not read.
    let elsewhere = project.dir().join("elsewhere");
    std::fs::rename(project.entry("update-check"), &elsewhere).unwrap();
    project.symlink("update-check", &elsewhere);
    let layer = project.dir().join("layer-check.json");
    std::fs::rename(project.entry("layer-check.json"), &layer).unwrap();
    project.symlink("layer-check.json", &layer);
    let out = project.evaluate();
    out.assert_finished();
    assert_eq!(
        out.errors,
        "base: layer check: ignored gipgee-results/layer-check.json: a symbolic link, not a regular file
base: update check: ignored gipgee-results/update-check/base.error: gipgee-results/update-check is a symbolic link, not a directory
child: layer check: ignored gipgee-results/layer-check.json: a symbolic link, not a regular file
child: update check: ignored gipgee-results/update-check/child.error: gipgee-results/update-check is a symbolic link, not a directory
"
    );
}

#[test]
fn a_fifo_or_a_directory_is_reported_as_ignored_without_waiting() {
    let project = Project::new();
    let fifo = project.entry("update-check/child.result");
    std::fs::remove_file(&fifo).unwrap();
    support::run(Command::new("mkfifo").arg(&fifo));
    std::fs::remove_file(project.entry("update-check/base.result")).unwrap();
    std::fs::create_dir(project.entry("update-check/base.result")).unwrap();
    let started = Instant::now();
    let out = project.evaluate();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "evaluate waited"
    );
    out.assert_finished();
    assert_eq!(
        out.errors,
        "base: update check: ignored gipgee-results/update-check/base.result: a directory, not a regular file
child: update check: ignored gipgee-results/update-check/child.result: a FIFO (named pipe), not a regular file
"
    );
    assert!(
        out.junit
            .contains("tests=\"4\" failures=\"0\" errors=\"2\""),
        "{}",
        out.junit
    );
}

#[test]
fn an_oversized_file_is_cut_at_the_cap_with_a_note() {
    let project = Project::new();
    // 64 KiB is the cap; the rest must not reach the report.
    let mut huge = b"cannot pull registry.example.com/child:1 ".to_vec();
    huge.resize(1024 * 1024 + 7, b'x');
    huge.extend_from_slice(b" END-OF-FILE");
    project.write("update-check/child.error", &huge);
    let out = project.evaluate();
    out.assert_finished();
    let note = format!(
        " [{} bytes dropped: gipgee-results/update-check/child.error is {} bytes, only the first 65536 are read]",
        huge.len() - 65536,
        huge.len()
    );
    let cut = String::from_utf8_lossy(&huge[..65536]);
    assert_eq!(out.errors, format!("child: update check: {cut}{note}\n"));
    assert!(out.stdout.contains(&note), "{}", out.stdout);
    assert!(
        out.stdout.len() < 70_000,
        "stdout: {} bytes",
        out.stdout.len()
    );
    assert!(out.junit.len() < 70_000, "JUnit: {} bytes", out.junit.len());
    assert!(!out.stdout.contains("END-OF-FILE") && !out.junit.contains("END-OF-FILE"));
}

#[test]
fn a_layer_check_result_over_its_cap_is_an_error_not_read_whole() {
    let project = Project::new();
    // Valid JSON (trailing whitespace) of 17 MiB: over the 16 MiB cap.
    let mut json = std::fs::read(project.entry("layer-check.json")).unwrap();
    json.resize(17 * 1024 * 1024, b' ');
    project.write("layer-check.json", &json);
    let out = project.evaluate();
    out.assert_finished();
    let error = format!(
        "layer check: too large to be a layer-check result [{} bytes dropped: gipgee-results/layer-check.json is {} bytes, only the first {} are read]",
        json.len() - 16 * 1024 * 1024,
        json.len(),
        16 * 1024 * 1024,
    );
    assert_eq!(out.errors, format!("base: {error}\nchild: {error}\n"));
}

#[test]
fn bytes_that_are_not_utf8_and_control_characters_are_replaced_and_the_reports_stay_valid() {
    let project = Project::new();
    project.write(
        "update-check/child.result",
        b"UPGRADE_NEEDED\ncurl \xff\xfe 8.0 -> 8.1\n",
    );
    project.write(
        "update-check/base.error",
        b"apk: \xc3\x28 bad \xef\xbf\xbe\xef\xbf\xbf \x1b[31mred\x1b[0m\rPASSED",
    );
    let out = project.evaluate();
    out.assert_finished();
    assert!(
        out.stdout
            .contains("update check  STALE: package updates: curl \u{fffd}\u{fffd} 8.0 -> 8.1\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.junit.contains(
            "<failure message=\"stale\">package updates: curl \u{fffd}\u{fffd} 8.0 -&gt; 8.1</failure>"
        ),
        "{}",
        out.junit
    );
    assert_eq!(
        out.summary["errors"],
        serde_json::json!([
            "base: update check: apk: \u{fffd}( bad \u{fffe}\u{ffff} \u{fffd}[31mred\u{fffd}[0m\u{fffd}PASSED"
        ])
    );
    // An escape sequence or a carriage return would recolour or overwrite lines of the job log.
    for control in ['\u{1b}', '\r'] {
        assert!(!out.stdout.contains(control), "{:?}", out.stdout);
        assert!(!out.junit.contains(control), "{:?}", out.junit);
    }
    assert_eq!(
        out.summary["stale"]["child"],
        "update check: package updates: curl \u{fffd}\u{fffd} 8.0 -> 8.1"
    );
}

#[test]
fn a_corrupt_layer_check_result_is_an_error_for_every_image_and_stale_images_are_still_rebuilt() {
    let project = Project::new();
    project.write("layer-check.json", br#"{"images": {"base": {"status": "#);
    project.write(
        "update-check/child.result",
        b"UPGRADE_NEEDED\ncurl 8.0.1-1 -> 8.0.1-2\n",
    );
    let out = project.evaluate();
    out.assert_finished();
    let error = "layer check: gipgee-results/layer-check.json is not a layer-check result: EOF while parsing a value at line 1 column 31";
    assert_eq!(
        out.stdout,
        format!(
            "ERROR  base
       layer check   ERROR: {error}
       update check  up to date (no package updates)
ERROR  child
       layer check   ERROR: {error}
       update check  STALE: package updates: curl 8.0.1-1 -> 8.0.1-2
Stale: child. The rebuild pipeline rebuilds them and every image built on them.
2 image(s) could not be checked: the pipeline fails after the rebuild.
Wrote the rebuild pipeline to rebuild.yml.
"
        )
    );
    assert_eq!(out.errors, format!("base: {error}\nchild: {error}\n"));
    assert!(
        out.junit
            .contains("tests=\"4\" failures=\"1\" errors=\"2\""),
        "{}",
        out.junit
    );
    assert_eq!(
        out.summary,
        serde_json::json!({
            "pipeline_id": "4242",
            "stale": {"child": "update check: package updates: curl 8.0.1-1 -> 8.0.1-2"},
            "rebuilt": ["child"],
            "errors": [format!("base: {error}"), format!("child: {error}")],
        })
    );
    let pipeline: serde_yaml::Value = serde_yaml::from_str(&out.rebuild).expect("YAML");
    assert!(
        pipeline.get("build:child").is_some() && pipeline.get("build:base").is_none(),
        "{}",
        out.rebuild
    );
    support::tools::check_pipeline(project.dir(), &project.dir().join("rebuild.yml"));
}
