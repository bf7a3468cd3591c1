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

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The directory of the check results, relative to the project directory.
pub const RESULTS_DIR: &str = "gipgee-results";
/// Where the layer-check job leaves the static gipgee binary for the update checks, which
/// run inside the released images and cannot count on anything being installed there.
pub const BINARY_DIR: &str = "gipgee-bin";
/// The rebuild pipeline `evaluate` writes and the `rebuild` job triggers.
pub const REBUILD_PIPELINE: &str = "gipgee-rebuild.yml";
/// The JUnit report `evaluate` writes, for the pipeline's Tests tab.
pub const REPORT: &str = "gipgee-report.xml";
pub const LAYER_CHECK_FILE: &str = "layer-check.json";
pub const UPDATE_CHECK_DIR: &str = "update-check";
/// Written by `evaluate`: the errors, one per line; empty when every check worked.
pub const ERRORS_FILE: &str = "errors.txt";
/// Written by `evaluate` when it finished, so a later job can tell "no errors" from "no verdict".
pub const SUMMARY_FILE: &str = "evaluation.json";

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
