//! The artifact contract of the scheduled update-check pipeline: where its jobs leave their
//! files and what the files say. The checks that write them, `evaluate` that reads them and
//! the jobs that pass them on as artifacts all import it from here, so the three cannot
//! drift apart.
//!
//! The results directory ([`RESULTS_DIR`]):
//! * [`LAYER_CHECK_FILE`] — [`LayerCheckResults`], written by `gipgee layer-check`;
//! * [`UPDATE_CHECK_DIR`]`/<id>.result` — an [`UpdateCheckResult`], written by
//!   `gipgee update-check` or the user's command; or `<id>.error` — why the check failed;
//! * [`ERRORS_FILE`] and [`SUMMARY_FILE`] — written by `gipgee evaluate` for the verdict job.
//!
//! The directory comes from earlier jobs' artifacts, so whoever controls a job (or a user's
//! update-check command) controls its entries: [`read_result_file`] reads only regular files
//! inside it, never more than a cap, and never fails on bytes that are not UTF-8.

use std::collections::BTreeMap;
use std::fs::{File, FileType, OpenOptions};
use std::io::Read as _;
use std::path::{Component, Path};

use serde::{Deserialize, Serialize};

use crate::diagnostic::printable;

/// The directory of the check results, relative to the project directory.
pub const RESULTS_DIR: &str = "gipgee-results";
/// Where the layer-check job leaves the static gipgee binary for the update checks, which
/// run inside the released images and cannot count on anything being installed there.
pub const BINARY_DIR: &str = "gipgee-bin";
/// The rebuild pipeline `evaluate` writes and the `rebuild` job triggers.
pub const REBUILD_PIPELINE: &str = "gipgee-rebuild.yml";
/// The rebuild pipelines of a sharded rebuild, `gipgee-rebuild-<k>.yml` ([`rebuild_shard_pipeline`]),
/// as a glob of the evaluate job's artifacts.
pub const REBUILD_SHARD_PIPELINES: &str = "gipgee-rebuild-*.yml";
/// The layout of a sharded rebuild: written by `generate` next to the update-check pipeline,
/// read by `evaluate`, which must use the layout the update-check pipeline's trigger jobs were
/// made for.
pub const REBUILD_LAYOUT: &str = "gipgee-rebuild-layout.json";
/// The JUnit report `evaluate` writes, for the pipeline's Tests tab.
pub const REPORT: &str = "gipgee-report.xml";
pub const LAYER_CHECK_FILE: &str = "layer-check.json";
pub const UPDATE_CHECK_DIR: &str = "update-check";
/// Written by `evaluate`: the errors, one per line; empty when every check worked.
pub const ERRORS_FILE: &str = "errors.txt";
/// Written by `evaluate` when it finished, so a later job can tell "no errors" from "no verdict".
pub const SUMMARY_FILE: &str = "evaluation.json";
/// The most `evaluate` reads of `update-check/<id>.result` or `.error`: room for a list of a
/// thousand packages, small enough that a few hundred images still fit a job log.
pub const UPDATE_CHECK_FILE_CAP: u64 = 64 * 1024;
/// The most `evaluate` reads of [`LAYER_CHECK_FILE`]: many times the result of a thousand
/// images with every location failing.
pub const LAYER_CHECK_FILE_CAP: u64 = 16 * 1024 * 1024;

/// The rebuild pipeline of shard `number` (from 1) that `evaluate` writes and the
/// `rebuild:<number>` job triggers.
pub fn rebuild_shard_pipeline(number: usize) -> String {
    format!("gipgee-rebuild-{number}.yml")
}

/// `evaluation.json`: what `evaluate` decided, written when it finished, so the verdict job
/// can tell "no errors" from "no verdict".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// The pipeline `evaluate` ran in: a summary left on a runner by an earlier pipeline
    /// is not this one's verdict.
    pub pipeline_id: String,
    /// The stale images and why.
    pub stale: BTreeMap<String, String>,
    /// What the rebuild pipeline builds: the stale images and every image built on them.
    pub rebuilt: Vec<String>,
    /// Every check that did not work, and a rebuild pipeline that could not be made.
    pub errors: Vec<String>,
}

impl Summary {
    pub fn to_json(&self) -> String {
        // Strings and maps of strings always serialize.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What a check found for one image: the one answer to "must it be rebuilt?", with the
/// evidence a person needs to believe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "status")]
pub enum Verdict {
    UpToDate {
        evidence: String,
    },
    /// Stale on some location or platform; `errors` are what could not be checked besides.
    /// Stale wins over the errors so that what is known stale is rebuilt all the same.
    Stale {
        evidence: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        errors: Vec<String>,
    },
    /// The check did not work: never read as "up to date".
    Error {
        error: String,
    },
}

impl Verdict {
    /// The verdict with its texts made [`printable`]: they come from files a job (or the
    /// user's update-check command) wrote and go to the job log and the JUnit report.
    pub fn printable(self) -> Verdict {
        match self {
            Verdict::UpToDate { evidence } => Verdict::UpToDate {
                evidence: printable(&evidence),
            },
            Verdict::Stale { evidence, errors } => Verdict::Stale {
                evidence: printable(&evidence),
                errors: errors.iter().map(|e| printable(e)).collect(),
            },
            Verdict::Error { error } => Verdict::Error {
                error: printable(&error),
            },
        }
    }

    /// Stale, with nothing else that could not be checked.
    pub fn stale(evidence: impl Into<String>) -> Verdict {
        Verdict::Stale {
            evidence: evidence.into(),
            errors: Vec::new(),
        }
    }

    pub fn is_stale(&self) -> bool {
        matches!(self, Verdict::Stale { .. })
    }
}

/// `layer-check.json`: the layer check's verdict per image id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerCheckResults {
    pub images: BTreeMap<String, Verdict>,
}

/// First line of an update-check result file when the image needs a rebuild.
pub const UPGRADE_NEEDED: &str = "UPGRADE_NEEDED";
/// First line of an update-check result file when it does not.
pub const NO_UPGRADE_NEEDED: &str = "NO_UPGRADE_NEEDED";

/// The content of an update-check result file (`update-check/<id>.result`): first line
/// [`UPGRADE_NEEDED`] or [`NO_UPGRADE_NEEDED`], then free detail lines (e.g. the packages).
/// A plain text format because a user's shell script writes it too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateCheckResult {
    pub upgrade_needed: bool,
    /// Detail lines: the packages with upgrades, or what was checked.
    pub details: Vec<String>,
}

impl UpdateCheckResult {
    pub fn to_file_text(&self) -> String {
        let first = if self.upgrade_needed {
            UPGRADE_NEEDED
        } else {
            NO_UPGRADE_NEEDED
        };
        let mut text = format!("{first}\n");
        for line in &self.details {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// Reads a result file. Anything but the contract is an error quoting what was found, so
    /// a script that wrote something else is never taken for "no upgrade needed".
    pub fn parse(text: &str) -> Result<UpdateCheckResult, String> {
        let mut lines = text.lines();
        let first = lines.next().map(str::trim_end);
        let upgrade_needed = match first {
            Some(UPGRADE_NEEDED) => true,
            Some(NO_UPGRADE_NEEDED) => false,
            _ => {
                let quoted: String = text.chars().take(500).collect();
                return Err(format!(
                    "the result file must start with a line `{UPGRADE_NEEDED}` or `{NO_UPGRADE_NEEDED}`, found: {quoted:?}"
                ));
            }
        };
        Ok(UpdateCheckResult {
            upgrade_needed,
            details: lines
                .map(str::to_string)
                .filter(|l| !l.trim().is_empty())
                .collect(),
        })
    }
}

/// What reading one entry of the results directory gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultFile {
    /// There is no such entry.
    Missing,
    /// The entry was not read, and why: `ignored <path>: <reason>`, one line.
    Ignored(String),
    /// The first `cap` bytes, anything that is not UTF-8 replaced by U+FFFD.
    Read {
        text: String,
        /// When the file is larger than the cap: how much was dropped, one line.
        truncated: Option<String>,
    },
}

/// Reads `relative` (`/`-separated, e.g. `update-check/base.result`) inside the results
/// directory `results`: only when every directory on the way is a real directory and the
/// entry a regular file — never through a symbolic link (one to `/proc/self/environ` would
/// copy the job's secrets into the report), never a FIFO (reading one waits forever), a
/// socket or a device. At most `cap` bytes are read.
///
/// The types are checked before the file is opened, so nothing but a regular file is ever
/// opened; the open refuses a symbolic link at the last component and does not wait, and the
/// opened handle is checked again, so an entry swapped after the check is not read either.
/// (A directory on the way swapped for a link in between would be followed: the directory
/// holds the artifacts of jobs that have finished, nothing runs beside `evaluate` to swap it.)
pub fn read_result_file(results: &Path, relative: &str, cap: u64) -> ResultFile {
    let path = results.join(relative);
    let ignored =
        |reason: String| ResultFile::Ignored(format!("ignored {}: {reason}", path.display()));
    let mut on_the_way = results.to_path_buf();
    let parts: Vec<Component> = Path::new(relative).components().collect();
    for (at, part) in parts.iter().enumerate() {
        if !matches!(part, Component::Normal(_)) {
            return ignored("not a plain path inside the results directory".to_string());
        }
        on_the_way.push(part);
        let is_entry = at + 1 == parts.len();
        match std::fs::symlink_metadata(&on_the_way) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return ResultFile::Missing,
            Err(err) => return ignored(format!("cannot read its type: {err}")),
            Ok(meta) if is_entry && !meta.is_file() => {
                return ignored(format!("{}, not a regular file", kind(meta.file_type())));
            }
            Ok(meta) if !is_entry && !meta.is_dir() => {
                return ignored(format!(
                    "{} is {}, not a directory",
                    on_the_way.display(),
                    kind(meta.file_type())
                ));
            }
            Ok(_) => {}
        }
    }
    let file = match open_regular(&path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return ResultFile::Missing,
        Err(err) if is_symlink_refused(&err) => {
            return ignored("a symbolic link, not a regular file".to_string());
        }
        Err(err) => return ignored(format!("cannot open it: {err}")),
    };
    read_capped(file, &path, cap).unwrap_or_else(ignored)
}

/// Opens without following a symbolic link and without waiting (a FIFO swapped in after the
/// type check), and checks that the handle is a regular file.
fn open_regular(path: &Path) -> Result<File, std::io::Error> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    options.open(path)
}

/// The error of an `O_NOFOLLOW` open of a symbolic link.
fn is_symlink_refused(err: &std::io::Error) -> bool {
    #[cfg(unix)]
    return err.raw_os_error() == Some(libc::ELOOP);
    #[cfg(not(unix))]
    return false;
}

fn read_capped(file: File, path: &Path, cap: u64) -> Result<ResultFile, String> {
    let meta = file
        .metadata()
        .map_err(|err| format!("cannot read its type: {err}"))?;
    if !meta.is_file() {
        return Err(format!("{}, not a regular file", kind(meta.file_type())));
    }
    let mut bytes = Vec::new();
    file.take(cap)
        .read_to_end(&mut bytes)
        .map_err(|err| format!("cannot read it: {err}"))?;
    let read = bytes.len() as u64;
    let truncated = (meta.len() > read).then(|| {
        format!(
            "[{} dropped: {} is {}, only the first {read} are read]",
            bytes_count(meta.len() - read),
            path.display(),
            bytes_count(meta.len()),
        )
    });
    Ok(ResultFile::Read {
        text: String::from_utf8_lossy(&bytes).into_owned(),
        truncated,
    })
}

fn bytes_count(count: u64) -> String {
    match count {
        1 => "1 byte".to_string(),
        count => format!("{count} bytes"),
    }
}

/// What an entry is, for the line saying why it was ignored.
fn kind(file_type: FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if file_type.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if file_type.is_socket() {
            return "a socket";
        }
        if file_type.is_block_device() || file_type.is_char_device() {
            return "a device";
        }
    }
    if file_type.is_symlink() {
        "a symbolic link"
    } else if file_type.is_dir() {
        "a directory"
    } else if file_type.is_file() {
        "a regular file"
    } else {
        "not a file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_files_follow_the_contract() {
        let result =
            UpdateCheckResult::parse("UPGRADE_NEEDED\nopenssl 3.0.1 -> 3.0.2\n\n").unwrap();
        assert!(result.upgrade_needed);
        assert_eq!(result.details, ["openssl 3.0.1 -> 3.0.2"]);
        assert!(
            !UpdateCheckResult::parse("NO_UPGRADE_NEEDED\n")
                .unwrap()
                .upgrade_needed
        );
        let err = UpdateCheckResult::parse("maybe\n").unwrap_err();
        assert!(err.contains("found: \"maybe\\n\""), "{err}");
        assert!(UpdateCheckResult::parse("").is_err());
        assert_eq!(
            UpdateCheckResult::parse(&result.to_file_text()).unwrap(),
            result
        );
    }

    fn results_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("update-check")).unwrap();
        dir
    }

    fn read(text: &str, truncated: Option<&str>) -> ResultFile {
        ResultFile::Read {
            text: text.to_string(),
            truncated: truncated.map(str::to_string),
        }
    }

    #[test]
    fn result_files_are_read_up_to_the_cap_and_lossily() {
        let dir = results_dir();
        let file = dir.path().join("update-check/a.result");
        std::fs::write(&file, "0123456789").unwrap();
        assert_eq!(
            read_result_file(dir.path(), "update-check/a.result", 10),
            read("0123456789", None)
        );
        assert_eq!(
            read_result_file(dir.path(), "update-check/a.result", 4),
            read(
                "0123",
                Some(&format!(
                    "[6 bytes dropped: {} is 10 bytes, only the first 4 are read]",
                    file.display()
                ))
            )
        );
        // A cut in the middle of a character, and bytes that are not UTF-8.
        std::fs::write(&file, b"\xffok \xc3\xa9").unwrap();
        assert_eq!(
            read_result_file(dir.path(), "update-check/a.result", 5),
            read(
                "\u{fffd}ok \u{fffd}",
                Some(&format!(
                    "[1 byte dropped: {} is 6 bytes, only the first 5 are read]",
                    file.display()
                ))
            )
        );
        for missing in ["update-check/b.result", "nowhere/b.result"] {
            assert_eq!(
                read_result_file(dir.path(), missing, 10),
                ResultFile::Missing
            );
        }
    }

    #[test]
    fn only_plain_paths_inside_the_results_directory_are_read() {
        let dir = results_dir();
        std::fs::write(dir.path().join("outside"), "secret").unwrap();
        let results = dir.path().join("update-check");
        let ignored = read_result_file(&results, "../outside", 100);
        assert_eq!(
            ignored,
            ResultFile::Ignored(format!(
                "ignored {}: not a plain path inside the results directory",
                results.join("../outside").display()
            ))
        );
    }

    /// The checks on the opened handle, for an entry swapped after its type was checked.
    #[cfg(unix)]
    #[test]
    fn the_opened_handle_is_checked_too() {
        let dir = results_dir();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("/proc/self/environ", &link).unwrap();
        let err = open_regular(&link).unwrap_err();
        assert!(is_symlink_refused(&err), "{err}");
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|status| status.success()), "mkfifo");
        // Opening does not wait for a writer; reading is refused.
        let handle = open_regular(&fifo).unwrap();
        assert_eq!(
            read_capped(handle, &fifo, 10),
            Err("a FIFO (named pipe), not a regular file".to_string())
        );
    }

    #[test]
    fn layer_check_file_keeps_its_format() {
        let results = LayerCheckResults {
            images: BTreeMap::from([
                (
                    "a".to_string(),
                    Verdict::UpToDate {
                        evidence: "e".into(),
                    },
                ),
                ("b".to_string(), Verdict::stale("s")),
                (
                    "c".to_string(),
                    Verdict::Stale {
                        evidence: "s".into(),
                        errors: vec!["x".into()],
                    },
                ),
                ("d".to_string(), Verdict::Error { error: "x".into() }),
            ]),
        };
        let json = serde_json::to_string(&results).unwrap();
        assert_eq!(
            json,
            r#"{"images":{"a":{"status":"up-to-date","evidence":"e"},"b":{"status":"stale","evidence":"s"},"c":{"status":"stale","evidence":"s","errors":["x"]},"d":{"status":"error","error":"x"}}}"#
        );
        assert_eq!(
            serde_json::from_str::<LayerCheckResults>(&json).unwrap(),
            results
        );
    }
}
