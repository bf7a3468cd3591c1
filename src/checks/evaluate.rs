//! The verdict of a scheduled update check (`gipgee evaluate`): reads the layer-check and
//! update-check results, decides per image up to date / stale / error with the evidence,
//! and writes the report for the job log and as JUnit for GitLab.
//!
//! The results directory (an artifact of the update-check pipeline):
//! `layer-check.json` (written by `gipgee layer-check`), `update-check/<id>.result` (the result
//! file contract, see `update_check`) or `update-check/<id>.error` (why the check failed).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::{Config, UpdateCheck};
use crate::error::Error;
use crate::update_check;

pub const LAYER_CHECK_FILE: &str = "layer-check.json";
pub const UPDATE_CHECK_DIR: &str = "update-check";
/// Written by `evaluate`: the errors, one per line; empty when every check worked.
pub const ERRORS_FILE: &str = "errors.txt";
/// Written by `evaluate` when it finished, so a later job can tell "no errors" from "no verdict".
pub const SUMMARY_FILE: &str = "evaluation.json";

/// What the layer check found for one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "status")]
pub enum LayerResult {
    UpToDate {
        evidence: String,
    },
    /// Stale on some location or platform; `errors` are what could not be checked besides.
    Stale {
        evidence: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        errors: Vec<String>,
    },
    Error {
        error: String,
    },
}

/// `layer-check.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerCheckResults {
    pub images: BTreeMap<String, LayerResult>,
}

/// One check's outcome for one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    UpToDate(String),
    Stale(String),
    Error(String),
    /// The image does not have this check (`layerCheck: false`, `updateCheck: none`).
    NotChecked,
}

/// Both checks for one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageVerdict {
    pub layer: Outcome,
    pub update: Outcome,
    /// Errors next to a stale verdict (a location that could not be read while another was
    /// found stale): reported, and they fail the pipeline, but do not stop the rebuild.
    pub other_errors: Vec<String>,
}

impl ImageVerdict {
    pub fn is_stale(&self) -> bool {
        matches!(self.layer, Outcome::Stale(_)) || matches!(self.update, Outcome::Stale(_))
    }

    pub fn errors(&self) -> Vec<&str> {
        [&self.layer, &self.update]
            .into_iter()
            .filter_map(|o| match o {
                Outcome::Error(e) => Some(e.as_str()),
                _ => None,
            })
            .chain(self.other_errors.iter().map(String::as_str))
            .collect()
    }

    /// Why the image is rebuilt, for the rebuild plan.
    pub fn stale_reason(&self) -> String {
        let reasons: Vec<String> = [("layer check", &self.layer), ("update check", &self.update)]
            .into_iter()
            .filter_map(|(what, o)| match o {
                Outcome::Stale(why) => Some(format!("{what}: {why}")),
                _ => None,
            })
            .collect();
        reasons.join("; ")
    }
}

/// Reads every result for every image of the config. A missing result is an error result,
/// never a silent "up to date".
pub fn read_results(
    config: &Config,
    results: &Path,
) -> Result<BTreeMap<String, ImageVerdict>, Error> {
    let layer_file = results.join(LAYER_CHECK_FILE);
    let layer_results = match std::fs::read_to_string(&layer_file) {
        Ok(text) => Some(
            serde_json::from_str::<LayerCheckResults>(&text).map_err(|err| {
                Error::User(format!(
                    "{} is not a layer-check result: {err}",
                    layer_file.display()
                ))
            })?,
        ),
        Err(_) => None,
    };
    let verdicts = config
        .images
        .values()
        .map(|image| {
            let mut other_errors = Vec::new();
            let layer = match (&layer_results, image.layer_check) {
                (_, false) => Outcome::NotChecked,
                (None, true) => Outcome::Error(
                    "no layer-check result (the layer-check job did not finish)".into(),
                ),
                (Some(results), true) => match results.images.get(&image.id) {
                    Some(LayerResult::UpToDate { evidence }) => Outcome::UpToDate(evidence.clone()),
                    Some(LayerResult::Stale { evidence, errors }) => {
                        other_errors.extend(errors.iter().map(|e| format!("layer check: {e}")));
                        Outcome::Stale(evidence.clone())
                    }
                    Some(LayerResult::Error { error }) => {
                        Outcome::Error(format!("layer check: {error}"))
                    }
                    None => Outcome::Error("the layer check has no result for this image".into()),
                },
            };
            let update = match image.update_check {
                UpdateCheck::None => Outcome::NotChecked,
                _ => read_update_result(&results.join(UPDATE_CHECK_DIR), &image.id),
            };
            let verdict = ImageVerdict {
                layer,
                update,
                other_errors,
            };
            (image.id.clone(), verdict)
        })
        .collect();
    Ok(verdicts)
}

fn read_update_result(dir: &Path, id: &str) -> Outcome {
    if let Ok(error) = std::fs::read_to_string(dir.join(format!("{id}.error"))) {
        return Outcome::Error(format!("update check: {}", error.trim()));
    }
    match std::fs::read_to_string(dir.join(format!("{id}.result"))) {
        Err(_) => Outcome::Error("no update-check result (the update-check job did not run or failed before writing one)".into()),
        Ok(text) => match update_check::parse_result(&text) {
            Err(message) => Outcome::Error(format!("update check: {message}")),
            Ok(verdict) if verdict.upgrade_needed => Outcome::Stale(summarise(&verdict.details, "package updates")),
            Ok(verdict) => Outcome::UpToDate(summarise(&verdict.details, "no package updates")),
        },
    }
}

/// A short summary of detail lines: the first few, and how many more.
fn summarise(details: &[String], what: &str) -> String {
    const SHOWN: usize = 5;
    if details.is_empty() {
        return what.to_string();
    }
    let shown = details
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    match details.len().saturating_sub(SHOWN) {
        0 => format!("{what}: {shown}"),
        more => format!("{what}: {shown} and {more} more"),
    }
}

/// The report for the job log: per image, the verdict and the evidence.
pub fn report(verdicts: &BTreeMap<String, ImageVerdict>) -> String {
    let mut out = String::new();
    for (id, verdict) in verdicts {
        let status = if !verdict.errors().is_empty() {
            "ERROR"
        } else if verdict.is_stale() {
            "stale"
        } else {
            "ok"
        };
        let _ = writeln!(out, "{status:5}  {id}");
        for (what, outcome) in [
            ("layer check ", &verdict.layer),
            ("update check", &verdict.update),
        ] {
            let line = match outcome {
                Outcome::UpToDate(e) => format!("up to date ({e})"),
                Outcome::Stale(e) => format!("STALE: {e}"),
                Outcome::Error(e) => format!("ERROR: {e}"),
                Outcome::NotChecked => "not checked".to_string(),
            };
            let _ = writeln!(out, "       {what}  {line}");
        }
        for error in &verdict.other_errors {
            let _ = writeln!(out, "       also          ERROR: {error}");
        }
    }
    let stale: Vec<&String> = verdicts
        .iter()
        .filter(|(_, v)| v.is_stale())
        .map(|(id, _)| id)
        .collect();
    let errors = verdicts.values().filter(|v| !v.errors().is_empty()).count();
    let _ = match stale.len() {
        0 => writeln!(
            out,
            "Nothing is stale: the rebuild pipeline builds nothing."
        ),
        _ => writeln!(
            out,
            "Stale: {}. The rebuild pipeline rebuilds them and every image built on them.",
            stale
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    if errors > 0 {
        let _ = writeln!(
            out,
            "{errors} image(s) could not be checked: the pipeline fails after the rebuild."
        );
    }
    out
}

/// The JUnit report GitLab shows in the pipeline's Tests tab: one test case per image and
/// check; stale is a failure, a check that did not work is an error.
pub fn junit(verdicts: &BTreeMap<String, ImageVerdict>) -> String {
    let mut cases = String::new();
    let (mut tests, mut failures, mut errors) = (0, 0, 0);
    for (id, verdict) in verdicts {
        for (check, outcome) in [
            ("layer-check", &verdict.layer),
            ("update-check", &verdict.update),
        ] {
            let body = match outcome {
                Outcome::NotChecked => continue,
                Outcome::UpToDate(e) => format!("<system-out>{}</system-out>", xml_escape(e)),
                Outcome::Stale(e) => {
                    failures += 1;
                    format!("<failure message=\"stale\">{}</failure>", xml_escape(e))
                }
                Outcome::Error(e) => {
                    errors += 1;
                    format!("<error message=\"check failed\">{}</error>", xml_escape(e))
                }
            };
            tests += 1;
            let _ = writeln!(
                cases,
                "    <testcase classname=\"gipgee.{check}\" name=\"{}\">{body}</testcase>",
                xml_escape(id)
            );
        }
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"gipgee update check\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\">\n{cases}  </testsuite>\n</testsuites>\n"
    )
}

fn xml_escape(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&apos;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(layer: Outcome, update: Outcome) -> ImageVerdict {
        ImageVerdict {
            layer,
            update,
            other_errors: Vec::new(),
        }
    }

    #[test]
    fn stale_and_errors_are_reported_with_evidence() {
        let verdicts = BTreeMap::from([
            (
                "a".to_string(),
                verdict(
                    Outcome::Stale("base moved: sha256:1 → sha256:2".into()),
                    Outcome::UpToDate("no package updates".into()),
                ),
            ),
            (
                "b".to_string(),
                verdict(
                    Outcome::UpToDate("on base sha256:3".into()),
                    Outcome::Error("update check: registry down".into()),
                ),
            ),
            (
                "c".to_string(),
                verdict(
                    Outcome::NotChecked,
                    Outcome::Stale("package updates: curl".into()),
                ),
            ),
        ]);
        let text = report(&verdicts);
        assert_eq!(
            text,
            "stale  a\n       layer check   STALE: base moved: sha256:1 → sha256:2\n       update check  up to date (no package updates)\n\
             ERROR  b\n       layer check   up to date (on base sha256:3)\n       update check  ERROR: update check: registry down\n\
             stale  c\n       layer check   not checked\n       update check  STALE: package updates: curl\n\
             Stale: a, c. The rebuild pipeline rebuilds them and every image built on them.\n\
             1 image(s) could not be checked: the pipeline fails after the rebuild.\n"
        );
        let xml = junit(&verdicts);
        assert!(
            xml.contains("tests=\"5\" failures=\"2\" errors=\"1\""),
            "{xml}"
        );
        assert!(xml.contains("sha256:1 → sha256:2</failure>"));
    }

    #[test]
    fn summaries_cut_long_package_lists() {
        let details: Vec<String> = (1..=8).map(|i| format!("p{i}")).collect();
        assert_eq!(
            summarise(&details, "package updates"),
            "package updates: p1, p2, p3, p4, p5 and 3 more"
        );
    }

    #[test]
    fn xml_is_escaped() {
        assert_eq!(xml_escape("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot;");
    }
}
