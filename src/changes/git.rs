//! Running git: one repository, isolated from the user's settings that would change its
//! output (renames, relative diffs, quoted paths) or make it wait for input.

use std::path::Path;
use std::process::{Command, Stdio};

/// Runs git in one repository, isolated from the settings that would change
/// its output or make it wait for input.
pub(super) struct Git<'a> {
    pub(super) repo: &'a Path,
}

pub(super) struct Output {
    pub(super) code: Option<i32>,
    pub(super) stdout: Vec<u8>,
    pub(super) stderr: Vec<u8>,
}

impl Output {
    pub(super) fn success(&self) -> bool {
        self.code == Some(0)
    }

    pub(super) fn stdout_line(&self) -> String {
        String::from_utf8_lossy(&self.stdout).trim().to_owned()
    }

    /// The first two non-empty lines of stderr, for a human reason.
    pub(super) fn error_summary(&self) -> String {
        let stderr = String::from_utf8_lossy(&self.stderr);
        let lines: Vec<&str> = stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .take(2)
            .collect();
        if lines.is_empty() {
            match self.code {
                Some(code) => format!("git exited with status {code}"),
                None => "git was killed by a signal".to_owned(),
            }
        } else {
            lines.join(" / ")
        }
    }
}

impl Git<'_> {
    /// Whether the `git` program can be started at all.
    pub(super) fn check_runs(&self) -> std::io::Result<()> {
        Command::new("git")
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map(|_| ())
    }

    pub(super) fn run(&self, args: &[&str]) -> Result<Output, String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(self.repo)
            .args([
                "-c",
                "diff.renames=false",
                "-c",
                "diff.relative=false",
                "-c",
                "color.ui=false",
                "-c",
                "core.quotePath=false",
                "-c",
                "gc.auto=0",
                "-c",
                "maintenance.auto=false",
                "-c",
                "fetch.recurseSubmodules=false",
            ])
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_PAGER", "cat")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_COMMON_DIR")
            .env_remove("GIT_INDEX_FILE")
            .env_remove("GIT_PREFIX")
            .env_remove("GIT_EXTERNAL_DIFF")
            .stdin(Stdio::null())
            .output()
            .map_err(|err| format!("could not run git {}: {err}", args.join(" ")))?;
        Ok(Output {
            code: out.status.code(),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }
}
