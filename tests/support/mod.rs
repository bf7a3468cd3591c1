//! Test support: a builder that runs the real `gipgee` binary in a temporary git repository
//! and compares its whole output, the command helpers every suite uses ([`run`], [`git`]),
//! the external checks every generated pipeline passes ([`tools`]), the registry fixture
//! ([`registry`]) and hand-written OCI layouts ([`oci`]).

#![allow(dead_code)]

pub mod oci;
pub mod registry;
pub mod tools;

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

pub const GIPGEE: &str = env!("CARGO_BIN_EXE_gipgee");

/// Environment every git command of the tests gets: fixed identities and dates make commit
/// shas, and with them the snapshots, identical on every machine.
pub fn git_env(cmd: &mut Command, tick: u64) {
    let date = format!("{} +0000", 1_767_225_600 + tick);
    cmd.env("GIT_AUTHOR_NAME", "gipgee test")
        .env("GIT_AUTHOR_EMAIL", "test@gipgee.invalid")
        .env("GIT_COMMITTER_NAME", "gipgee test")
        .env("GIT_COMMITTER_EMAIL", "test@gipgee.invalid")
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null");
}

/// Runs git in `dir` with [`git_env`]; its trimmed stdout. Panics (at the caller) as
/// [`run`] does.
#[track_caller]
pub fn git(dir: &Path, args: &[&str]) -> String {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir).args(args);
    git_env(&mut cmd, 0);
    run(&mut cmd).trim().to_string()
}

/// Runs `cmd` to completion and returns its stdout. Panics at the caller when it cannot start
/// or does not succeed, naming the command, its directory, its exit status, stdout and stderr.
#[track_caller]
pub fn run(cmd: &mut Command) -> String {
    let out = match cmd.output() {
        Ok(out) => out,
        Err(err) => panic!("`{}` could not start: {err}", describe(cmd)),
    };
    if !out.status.success() {
        panic!(
            "`{}` failed ({}):\n--- stdout\n{}--- stderr\n{}",
            describe(cmd),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A command as a shell line (program and arguments, and its directory if set), for messages.
pub fn describe(cmd: &Command) -> String {
    let mut line = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        let arg = arg.to_string_lossy();
        match arg.is_empty() || arg.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
            true => line.push_str(&format!(" '{}'", arg.replace('\'', r"'\''"))),
            false => line.push_str(&format!(" {arg}")),
        }
    }
    if let Some(dir) = cmd.get_current_dir() {
        line.push_str(&format!(" (in {})", dir.display()));
    }
    line
}

/// The result of one run of the binary. It owns the run's temporary repository, `dir`, which
/// is removed when the output is dropped (at the end of the test).
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub dir: PathBuf,
    _tempdir: TempDir,
}

impl Output {
    #[track_caller]
    pub fn read(&self, path: &str) -> String {
        match std::fs::read_to_string(self.dir.join(path)) {
            Ok(text) => text,
            Err(err) => panic!(
                "read {} (left by the run): {err}",
                self.dir.join(path).display()
            ),
        }
    }
}

/// Runs `gipgee` in a fresh git repository holding the given files, with only the given
/// environment variables (plus PATH and HOME), and checks the whole output.
pub struct Test {
    files: Vec<(String, String)>,
    env: Vec<(String, String)>,
    args: Vec<String>,
    commit: bool,
    expected_stdout: Option<String>,
    expected_stderr: Option<String>,
    expected_code: i32,
    tempdir: TempDir,
}

impl Test {
    pub fn new() -> Test {
        Test {
            files: Vec::new(),
            env: Vec::new(),
            args: Vec::new(),
            commit: true,
            expected_stdout: Some(String::new()),
            expected_stderr: Some(String::new()),
            expected_code: 0,
            tempdir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn file(mut self, path: &str, content: &str) -> Test {
        self.files.push((path.to_string(), unindent(content)));
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Test {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    /// The variables of a GitLab job on the default branch, started from the web UI.
    pub fn gitlab_manual_run(self) -> Test {
        self.gitlab_manual_run_without_registry()
            .env("CI_REGISTRY", "registry.gitlab.example.com")
            .env(
                "CI_REGISTRY_IMAGE",
                "registry.gitlab.example.com/group/project",
            )
    }

    /// A manual run, but without the registry variables (to test their absence).
    pub fn gitlab_manual_run_without_registry(self) -> Test {
        self.env("CI_PIPELINE_SOURCE", "web")
            .env("CI_DEFAULT_BRANCH", "main")
            .env("CI_COMMIT_BRANCH", "main")
            .env("CI_PIPELINE_ID", "4242")
    }

    pub fn args(mut self, args: &[&str]) -> Test {
        self.args = args.iter().map(|a| a.to_string()).collect();
        self
    }

    pub fn stdout(mut self, expected: &str) -> Test {
        self.expected_stdout = Some(unindent(expected));
        self
    }

    pub fn any_stdout(mut self) -> Test {
        self.expected_stdout = None;
        self
    }

    pub fn stderr(mut self, expected: &str) -> Test {
        self.expected_stderr = Some(unindent(expected));
        self
    }

    pub fn any_stderr(mut self) -> Test {
        self.expected_stderr = None;
        self
    }

    pub fn status(mut self, code: i32) -> Test {
        self.expected_code = code;
        self
    }

    pub fn dir(&self) -> &Path {
        self.tempdir.path()
    }

    /// Runs the binary and checks its output; panics at the caller on a difference.
    #[track_caller]
    pub fn run(self) -> Output {
        let dir = self.tempdir.path().to_path_buf();
        for (path, content) in &self.files {
            let full = dir.join(path);
            std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
            std::fs::write(&full, content).expect("write file");
        }
        if self.commit {
            git(&dir, &["init", "-q", "-b", "main"]);
            git(&dir, &["add", "-A"]);
            git(&dir, &["commit", "-q", "--allow-empty", "-m", "test"]);
        }
        let mut cmd = Command::new(GIPGEE);
        cmd.current_dir(&dir).args(&self.args).env_clear();
        for name in ["PATH", "HOME"] {
            if let Ok(value) = std::env::var(name) {
                cmd.env(name, value);
            }
        }
        git_env(&mut cmd, 0);
        let mut env = self.env.clone();
        if env.iter().any(|(k, _)| k == "CI_PIPELINE_SOURCE")
            && !env.iter().any(|(k, _)| k == "CI_COMMIT_SHA")
        {
            env.push(("CI_COMMIT_SHA".into(), git(&dir, &["rev-parse", "HEAD"])));
        }
        cmd.envs(env);
        let out = match cmd.output() {
            Ok(out) => out,
            Err(err) => panic!("`{}` could not start: {err}", describe(&cmd)),
        };
        let output = Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).to_string(),
            dir,
            _tempdir: self.tempdir,
        };
        let context = format!(
            "gipgee {:?} (in {})\nstdout:\n{}\nstderr:\n{}",
            self.args,
            output.dir.display(),
            output.stdout,
            output.stderr
        );
        if let Some(expected) = &self.expected_stdout {
            assert_eq!(&output.stdout, expected, "stdout differs; {context}");
        }
        if let Some(expected) = &self.expected_stderr {
            assert_eq!(&output.stderr, expected, "stderr differs; {context}");
        }
        assert_eq!(
            output.code, self.expected_code,
            "exit code differs; {context}"
        );
        output
    }
}

/// Removes the common leading indentation and the first newline, so expected text can be
/// written indented in the test; a last line of only indentation closes the literal.
pub fn unindent(text: &str) -> String {
    let text = text.strip_prefix('\n').unwrap_or(text);
    let lines: Vec<&str> = text.split('\n').collect();
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .map(|l| l.get(indent..).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A job of a pipeline as GitLab sees it: its `extends` (a name or a list, hidden jobs that
/// may extend others) merged in, maps deep-merged and the job's own keys last, as GitLab
/// does. Panics when the job or a job it extends is missing.
pub fn resolve_job(pipeline: &serde_yaml::Value, name: &str) -> serde_yaml::Mapping {
    let job = pipeline[name]
        .as_mapping()
        .unwrap_or_else(|| panic!("the pipeline has no job `{name}`"));
    let parents: Vec<&str> = match job.get("extends") {
        Some(serde_yaml::Value::String(parent)) => vec![parent.as_str()],
        Some(serde_yaml::Value::Sequence(list)) => list.iter().filter_map(|p| p.as_str()).collect(),
        _ => Vec::new(),
    };
    let mut resolved = serde_yaml::Mapping::new();
    for parent in parents {
        deep_merge(&mut resolved, &resolve_job(pipeline, parent));
    }
    let mut own = job.clone();
    own.remove("extends");
    deep_merge(&mut resolved, &own);
    resolved
}

fn deep_merge(into: &mut serde_yaml::Mapping, from: &serde_yaml::Mapping) {
    for (key, value) in from {
        match (into.get_mut(key), value) {
            (Some(serde_yaml::Value::Mapping(inner)), serde_yaml::Value::Mapping(more)) => {
                deep_merge(inner, more)
            }
            _ => {
                into.insert(key.clone(), value.clone());
            }
        }
    }
}
