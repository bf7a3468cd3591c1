//! The update check that runs *inside* a released image (`gipgee update-check`): the built-in
//! package-manager check (`auto`) and the user's command (`run`). Both end in an
//! [`UpdateCheckResult`], the result file `evaluate` reads.
//!
//! Each package manager `auto` knows is one [`PackageManager`] in its own module, with the
//! commands it runs, what their exit codes and output mean, and tests on real output.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

use crate::error::Error;
use crate::results::UpdateCheckResult;

mod apk;
mod apt;
mod dnf;
mod microdnf;
mod zypper;

/// Set for a user command besides the result file argument, so a check can be a script that
/// does not look at its arguments.
pub const RESULT_FILE_VARIABLE: &str = "GIPGEE_UPDATE_CHECK_RESULT_FILE";

/// The package managers `auto` knows, in the order they are looked for: an image with more
/// than one (dnf beside microdnf or yum) is checked with the first.
pub const PACKAGE_MANAGERS: &[&dyn PackageManager] = &[
    &apk::Apk,
    &apt::AptGet,
    &dnf::DNF,
    &microdnf::Microdnf,
    &dnf::YUM,
    &zypper::Zypper,
];

/// One package manager as the `auto` check uses it: refresh the package indexes (no package
/// downloads), list what could be upgraded, decide.
pub trait PackageManager: Sync {
    /// The program looked for on PATH, and the name shown in the job log.
    fn program(&self) -> &'static str;

    /// The commands (argv) that refresh the package indexes before the listing; each must
    /// exit 0. None when the listing refreshes by itself.
    fn refresh(&self) -> &'static [&'static [&'static str]] {
        &[]
    }

    /// Whether a refresh that exited 0 still failed to download an index, by what it printed
    /// on stderr: a check against missing or old indexes would find no upgrades, a silent
    /// "up to date".
    fn refresh_failed(&self, _stderr: &str) -> bool {
        false
    }

    /// The command (argv) that lists the upgrades, without installing them.
    fn list(&self) -> &'static [&'static str];

    /// What the listing command's exit code means.
    fn listing_exit(&self, code: Option<i32>) -> ListingExit {
        match code {
            Some(0) => ListingExit::Listed,
            _ => ListingExit::Failed,
        }
    }

    /// The upgradable packages in the listing command's output.
    fn parse_upgrades(&self, output: &str) -> Vec<String>;
}

/// What the exit code of a listing command says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListingExit {
    /// The listing worked; the upgrades are what it lists.
    Listed,
    /// The listing worked, and the exit code alone says upgrades exist: `detail` stands for
    /// them when none can be read from the listing.
    UpgradesReported {
        detail: String,
    },
    /// The listing worked only if it lists upgrades; without any the command failed.
    ListedIfUpgrades,
    Failed,
}

/// The non-empty lines of a command's output, trimmed: what every parser starts from.
fn lines(output: &str) -> impl Iterator<Item = &str> {
    output.lines().map(str::trim).filter(|l| !l.is_empty())
}

fn first_word(line: &str) -> String {
    line.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Finds the first package manager on PATH.
pub fn detect(on_path: impl Fn(&str) -> bool) -> Option<&'static dyn PackageManager> {
    PACKAGE_MANAGERS
        .iter()
        .copied()
        .find(|pm| on_path(pm.program()))
}

/// Whether a program is in one of the directories of `path` (a PATH value; no `which`
/// needed: minimal images have none). The caller reads the environment, so this stays a
/// function of its arguments.
pub fn on_path(path: Option<&OsStr>, program: &str) -> bool {
    path.is_some_and(|paths| std::env::split_paths(paths).any(|dir| dir.join(program).is_file()))
}

/// The built-in check with the first package manager found in `path` (the PATH value):
/// refresh indexes, list upgrades, decide.
pub fn check_auto(
    path: Option<&OsStr>,
    log: &mut dyn FnMut(&str),
) -> Result<UpdateCheckResult, Error> {
    let pm = detect(|program| on_path(path, program)).ok_or_else(|| {
        Error::User(
            "no supported package manager found (apk, apt-get, dnf, microdnf, yum, zypper): set `updateCheck: none` or a `command` for this image".into(),
        )
    })?;
    log(&format!("package manager: {}", pm.program()));
    for argv in pm.refresh() {
        let out = run(argv, log)?;
        if !out.status.success() {
            return Err(failed(argv, &out));
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        if pm.refresh_failed(&stderr) {
            return Err(Error::User(format!(
                "`{}` could not download every package index: {}",
                argv.join(" "),
                stderr.trim()
            )));
        }
    }
    let argv = pm.list();
    let out = run(argv, log)?;
    let mut upgrades = pm.parse_upgrades(&String::from_utf8_lossy(&out.stdout));
    match pm.listing_exit(out.status.code()) {
        ListingExit::Listed => {}
        ListingExit::UpgradesReported { detail } => {
            if upgrades.is_empty() {
                upgrades.push(detail);
            }
        }
        ListingExit::ListedIfUpgrades if !upgrades.is_empty() => {}
        ListingExit::ListedIfUpgrades | ListingExit::Failed => return Err(failed(argv, &out)),
    }
    Ok(UpdateCheckResult {
        upgrade_needed: !upgrades.is_empty(),
        details: upgrades,
    })
}

fn run(argv: &[&str], log: &mut dyn FnMut(&str)) -> Result<Output, Error> {
    log(&format!("running: {}", argv.join(" ")));
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| Error::User("an empty package-manager command".into()))?;
    Command::new(program)
        .args(args)
        .output()
        .map_err(|err| Error::User(format!("cannot run {program}: {err}")))
}

fn failed(argv: &[&str], out: &Output) -> Error {
    Error::User(format!(
        "`{}` failed ({}): {}",
        argv.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

/// Runs the user's check: `argv <image-id> <result-file>`, with the result file also in
/// GIPGEE_UPDATE_CHECK_RESULT_FILE; then reads the result it wrote.
pub fn check_command(
    argv: &[String],
    image_id: &str,
    result_file: &Path,
) -> Result<UpdateCheckResult, Error> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| Error::User("the update check command is empty".into()))?;
    let status = Command::new(program)
        .args(args)
        .arg(image_id)
        .arg(result_file)
        .env(RESULT_FILE_VARIABLE, result_file)
        .status()
        .map_err(|err| Error::User(format!("cannot run update check `{program}`: {err}")))?;
    if !status.success() {
        return Err(Error::User(format!(
            "update check `{program}` failed ({status})"
        )));
    }
    let text = std::fs::read_to_string(result_file)
        .map_err(|err| Error::io("read the result file", result_file, err))?;
    UpdateCheckResult::parse(&text)
        .map_err(|message| Error::User(format!("update check `{program}`: {message}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detected(on_path: impl Fn(&str) -> bool) -> Option<&'static str> {
        detect(on_path).map(|pm| pm.program())
    }

    #[test]
    fn detects_the_first_known_package_manager() {
        assert_eq!(detected(|p| p == "apt-get" || p == "dnf"), Some("apt-get"));
        assert_eq!(detected(|p| p == "microdnf"), Some("microdnf"));
        assert_eq!(detected(|_| false), None);
    }

    #[test]
    fn package_managers_are_looked_for_in_order() {
        let programs: Vec<&str> = PACKAGE_MANAGERS.iter().map(|pm| pm.program()).collect();
        assert_eq!(
            programs,
            ["apk", "apt-get", "dnf", "microdnf", "yum", "zypper"]
        );
        for pm in PACKAGE_MANAGERS {
            assert_eq!(pm.list().first(), Some(&pm.program()));
            assert!(
                pm.refresh()
                    .iter()
                    .all(|argv| argv.first() == Some(&pm.program()))
            );
        }
    }

    #[test]
    fn on_path_looks_in_the_given_path_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("apk"), "").unwrap();
        std::fs::create_dir(dir.path().join("dnf")).unwrap();
        let path = std::env::join_paths([Path::new("/gipgee-nowhere"), dir.path()]).unwrap();
        assert!(on_path(Some(&path), "apk"));
        assert!(!on_path(Some(&path), "dnf"), "a directory is not a program");
        assert!(!on_path(Some(&path), "apt-get"));
        assert!(!on_path(None, "apk"));
    }
}
