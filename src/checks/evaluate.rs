//! `gipgee evaluate`: reads the layer-check and update-check results of the scheduled
//! pipeline, decides per image up to date / stale / error with the evidence, and words the
//! report for the job log and as JUnit for GitLab. A missing, unreadable or ignored result
//! (see `results::read_result_file`) is an error, never a silent "up to date".

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::config::{Config, UpdateCheck};
use crate::results::{
    LAYER_CHECK_FILE, LAYER_CHECK_FILE_CAP, LayerCheckResults, ResultFile, UPDATE_CHECK_DIR,
    UPDATE_CHECK_FILE_CAP, UpdateCheckResult, Verdict, read_result_file,
};

/// Both checks of one image; `None` where the image does not have the check
/// (`layerCheck: false`, `updateCheck: none`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageVerdict {
    pub layer: Option<Verdict>,
    pub update: Option<Verdict>,
}

impl ImageVerdict {
    fn checks(&self) -> [Option<&Verdict>; 2] {
        [self.layer.as_ref(), self.update.as_ref()]
    }

    pub fn is_stale(&self) -> bool {
        self.checks().into_iter().flatten().any(Verdict::is_stale)
    }

    /// Every error: the checks that did not work, then the errors next to a stale verdict (a
    /// location that could not be read while another was found stale), which fail the
    /// pipeline too but do not stop the rebuild.
    pub fn errors(&self) -> Vec<&str> {
        let failed = self.checks().into_iter().flatten().filter_map(|v| match v {
            Verdict::Error { error } => Some(error.as_str()),
            _ => None,
        });
        failed.chain(self.errors_beside_stale()).collect()
    }

    fn errors_beside_stale(&self) -> impl Iterator<Item = &str> {
        self.checks()
            .into_iter()
            .flatten()
            .flat_map(|v| match v {
                Verdict::Stale { errors, .. } => errors.as_slice(),
                _ => &[],
            })
            .map(String::as_str)
    }

    /// Why the image is rebuilt, for the rebuild plan.
    pub fn stale_reason(&self) -> String {
        let reasons: Vec<String> = [("layer check", &self.layer), ("update check", &self.update)]
            .into_iter()
            .filter_map(|(what, v)| match v {
                Some(Verdict::Stale { evidence, .. }) => Some(format!("{what}: {evidence}")),
                _ => None,
            })
            .collect();
        reasons.join("; ")
    }
}

/// Reads every result for every image of the config. A missing, unreadable or ignored
/// result is an error result, never a silent "up to date"; one check's broken file never
/// stops the other check of any image, so what is found stale is still rebuilt.
pub fn read_results(config: &Config, results: &Path) -> BTreeMap<String, ImageVerdict> {
    let layer_results = read_layer_results(results);
    config
        .images
        .values()
        .map(|image| {
            let layer = image
                .layer_check
                .then(|| layer_verdict(&layer_results, &image.id).printable());
            let update = match image.update_check {
                UpdateCheck::None => None,
                _ => Some(read_update_result(results, &image.id).printable()),
            };
            (image.id.clone(), ImageVerdict { layer, update })
        })
        .collect()
}

/// `layer-check.json`, or why there is none: the layer check's error for every image.
fn read_layer_results(results: &Path) -> Result<LayerCheckResults, String> {
    let path = results.join(LAYER_CHECK_FILE);
    match read_result_file(results, LAYER_CHECK_FILE, LAYER_CHECK_FILE_CAP) {
        ResultFile::Missing => {
            Err("no layer-check result (the layer-check job did not finish)".to_string())
        }
        ResultFile::Ignored(why) => Err(format!("layer check: {why}")),
        ResultFile::Read {
            truncated: Some(note),
            ..
        } => Err(format!(
            "layer check: too large to be a layer-check result {note}"
        )),
        ResultFile::Read {
            text,
            truncated: None,
        } => serde_json::from_str(&text).map_err(|err| {
            format!(
                "layer check: {} is not a layer-check result: {err}",
                path.display()
            )
        }),
    }
}

fn layer_verdict(layer_results: &Result<LayerCheckResults, String>, id: &str) -> Verdict {
    let results = match layer_results {
        Ok(results) => results,
        Err(why) => return error(why.clone()),
    };
    match results.images.get(id) {
        Some(Verdict::UpToDate { evidence }) => Verdict::UpToDate {
            evidence: evidence.clone(),
        },
        Some(Verdict::Stale { evidence, errors }) => Verdict::Stale {
            evidence: evidence.clone(),
            errors: errors.iter().map(|e| format!("layer check: {e}")).collect(),
        },
        Some(Verdict::Error { error: e }) => error(format!("layer check: {e}")),
        None => error("the layer check has no result for this image"),
    }
}

fn error(error: impl Into<String>) -> Verdict {
    Verdict::Error {
        error: error.into(),
    }
}

/// The update check's verdict: its error file when there is one (whatever its result file
/// says), else its result file.
fn read_update_result(results: &Path, id: &str) -> Verdict {
    let file = |extension: &str| {
        read_result_file(
            results,
            &format!("{UPDATE_CHECK_DIR}/{id}.{extension}"),
            UPDATE_CHECK_FILE_CAP,
        )
    };
    match file("error") {
        ResultFile::Missing => {}
        ResultFile::Ignored(why) => return error(format!("update check: {why}")),
        ResultFile::Read { text, truncated } => {
            return error(format!(
                "update check: {}",
                with_note(text.trim(), truncated.as_deref())
            ));
        }
    }
    let (text, truncated) = match file("result") {
        ResultFile::Missing => {
            return error(
                "no update-check result (the update-check job did not run or failed before writing one)",
            );
        }
        ResultFile::Ignored(why) => return error(format!("update check: {why}")),
        ResultFile::Read { text, truncated } => (text, truncated),
    };
    let note = truncated.as_deref();
    match UpdateCheckResult::parse(&text) {
        Err(message) => error(format!("update check: {}", with_note(&message, note))),
        Ok(result) if result.upgrade_needed => Verdict::stale(with_note(
            &summarise(&result.details, "package updates"),
            note,
        )),
        Ok(result) => Verdict::UpToDate {
            evidence: with_note(&summarise(&result.details, "no package updates"), note),
        },
    }
}

/// `text`, followed by the note that the file it came from was cut.
fn with_note(text: &str, truncated: Option<&str>) -> String {
    match truncated {
        Some(note) => format!("{text} {note}"),
        None => text.to_string(),
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
        for (what, check) in [
            ("layer check ", &verdict.layer),
            ("update check", &verdict.update),
        ] {
            let line = match check {
                Some(Verdict::UpToDate { evidence }) => format!("up to date ({evidence})"),
                Some(Verdict::Stale { evidence, .. }) => format!("STALE: {evidence}"),
                Some(Verdict::Error { error }) => format!("ERROR: {error}"),
                None => "not checked".to_string(),
            };
            let _ = writeln!(out, "       {what}  {line}");
        }
        for error in verdict.errors_beside_stale() {
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
        for (check, verdict) in [
            ("layer-check", &verdict.layer),
            ("update-check", &verdict.update),
        ] {
            let body = match verdict {
                None => continue,
                Some(Verdict::UpToDate { evidence }) => {
                    format!("<system-out>{}</system-out>", xml_escape(evidence))
                }
                Some(Verdict::Stale { evidence, .. }) => {
                    failures += 1;
                    format!(
                        "<failure message=\"stale\">{}</failure>",
                        xml_escape(evidence)
                    )
                }
                Some(Verdict::Error { error }) => {
                    errors += 1;
                    format!(
                        "<error message=\"check failed\">{}</error>",
                        xml_escape(error)
                    )
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

/// Escapes for XML and leaves out what XML 1.0 does not allow at all (control characters
/// but newline and tab, U+FFFE and U+FFFF), which a result file may contain.
fn xml_escape(text: &str) -> String {
    text.chars()
        .filter(|c| {
            (!c.is_control() || *c == '\n' || *c == '\t') && !matches!(c, '\u{fffe}' | '\u{ffff}')
        })
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

    fn verdict(layer: Option<Verdict>, update: Option<Verdict>) -> ImageVerdict {
        ImageVerdict { layer, update }
    }

    fn up_to_date(evidence: &str) -> Option<Verdict> {
        Some(Verdict::UpToDate {
            evidence: evidence.into(),
        })
    }

    fn stale(evidence: &str) -> Option<Verdict> {
        Some(Verdict::stale(evidence))
    }

    #[test]
    fn stale_and_errors_are_reported_with_evidence() {
        let verdicts = BTreeMap::from([
            (
                "a".to_string(),
                verdict(
                    stale("base moved: sha256:1 → sha256:2"),
                    up_to_date("no package updates"),
                ),
            ),
            (
                "b".to_string(),
                verdict(
                    up_to_date("on base sha256:3"),
                    Some(error("update check: registry down")),
                ),
            ),
            (
                "c".to_string(),
                verdict(None, stale("package updates: curl")),
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
    fn errors_beside_a_stale_verdict_come_after_the_failed_checks() {
        let image = verdict(
            Some(Verdict::Stale {
                evidence: "base moved".into(),
                errors: vec!["layer check: r:2: unauthorized".into()],
            }),
            Some(error("update check: boom")),
        );
        assert!(image.is_stale());
        assert_eq!(
            image.errors(),
            ["update check: boom", "layer check: r:2: unauthorized"]
        );
        assert_eq!(image.stale_reason(), "layer check: base moved");
        let text = report(&BTreeMap::from([("a".to_string(), image)]));
        assert!(
            text.contains("\n       also          ERROR: layer check: r:2: unauthorized\n"),
            "{text}"
        );
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
        assert_eq!(
            xml_escape("a<b & \"c\"\u{1}\u{fffe}\u{ffff}\u{fffd}"),
            "a&lt;b &amp; &quot;c&quot;\u{fffd}"
        );
    }
}
