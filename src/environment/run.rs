//! The pipeline run: which kind of pipeline GitLab is running (a push to the default branch,
//! a merge request, a schedule, …), decided once from GitLab's predefined variables and the
//! requested mode. README's table "What a pipeline run builds" lists every kind.

use crate::error::Error;
use crate::vars::Vars;

/// Which pipeline gipgee generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Decide from `CI_PIPELINE_SOURCE` (schedule → update check, otherwise build).
    #[default]
    Auto,
    /// A build pipeline for this pipeline run.
    Build,
    /// The scheduled update check.
    UpdateCheck,
    /// Rebuild exactly the images of a selection file (made by an update check).
    Rebuild,
}

/// The kind of pipeline run, with what it needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunKind {
    /// Default branch, started by hand or by the API (`web`, `api`, `trigger`, `pipeline`, `chat`).
    ManualDefault { source: String },
    /// Default branch, `push`.
    PushDefault { before_sha: String },
    /// Another branch, `push` (or another source outside the default branch).
    PushBranch {
        branch: String,
        default_branch: String,
    },
    /// A merge request pipeline.
    MergeRequest { diff_base_sha: String },
    /// A tag pipeline: images are released from the default branch, not from tags.
    Tag { tag: String },
    /// `schedule`: the update check.
    Schedule,
    /// A rebuild made by an update check. It releases only on the default branch: a
    /// schedule on another branch must not overwrite the released images.
    Rebuild { on_default_branch: bool },
    /// Not running in GitLab CI (a laptop): compare with the default branch, release nothing.
    Local { default_branch: String },
    /// A pipeline source gipgee does not build for on the default branch (e.g.
    /// `parent_pipeline`, `ondemand_dast_scan`): nothing is built or released.
    Unsupported { source: String },
}

/// Everything about the pipeline run that the plan depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineRun {
    pub kind: RunKind,
    /// The commit being built (`CI_COMMIT_SHA`, or `HEAD` outside CI).
    pub commit_sha: String,
    /// `CI_PIPELINE_ID`, or `local` outside CI; part of every staging tag.
    pub pipeline_id: String,
    /// `GIPGEE_FORCE_AUTOSTART=true`: no manual first jobs.
    pub force_autostart: bool,
    /// The sources whose runs of the default branch wait for a click on the first job of each
    /// chain (`GIPGEE_MANUAL_SOURCES`, default `web`): a person in the web UI, while `api`,
    /// `trigger`, `pipeline` and `chat` are usually automation that has nobody to click.
    pub manual_sources: Vec<String>,
}

/// The GitLab sources that mean "someone started this pipeline on purpose": all images.
const STARTED_ON_PURPOSE: &[&str] = &["web", "api", "trigger", "pipeline", "chat"];
/// The sources that start manually unless `GIPGEE_MANUAL_SOURCES` says otherwise.
const DEFAULT_MANUAL_SOURCES: &str = "web";

impl PipelineRun {
    /// The run GitLab's variables describe. `CI_COMMIT_SHA`, when set, must be a commit id:
    /// it becomes part of every staging tag and is what git compares.
    pub fn detect(vars: &Vars, mode: Mode) -> Result<PipelineRun, Error> {
        let kind = match mode {
            Mode::Rebuild => RunKind::Rebuild {
                on_default_branch: vars.get("CI_COMMIT_BRANCH")
                    == Some(vars.get("CI_DEFAULT_BRANCH").unwrap_or("main")),
            },
            Mode::UpdateCheck => RunKind::Schedule,
            Mode::Auto | Mode::Build => detect_kind(vars, mode),
        };
        Ok(PipelineRun {
            kind,
            commit_sha: commit_sha(vars)?,
            pipeline_id: pipeline_id(vars)?,
            force_autostart: vars.is_true("GIPGEE_FORCE_AUTOSTART"),
            manual_sources: vars
                .get("GIPGEE_MANUAL_SOURCES")
                .unwrap_or(DEFAULT_MANUAL_SOURCES)
                .split([',', ' '])
                .filter(|source| !source.is_empty())
                .map(str::to_string)
                .collect(),
        })
    }

    /// Whether this run releases what it builds.
    pub fn releases(&self) -> bool {
        matches!(
            self.kind,
            RunKind::ManualDefault { .. }
                | RunKind::PushDefault { .. }
                | RunKind::Rebuild {
                    on_default_branch: true
                }
        )
    }

    /// Whether the first job of each chain waits for a click.
    pub fn manual_first_jobs(&self) -> bool {
        matches!(&self.kind, RunKind::ManualDefault { source } if self.manual_sources.contains(source))
            && !self.force_autostart
    }

    /// A short sentence for the job log: what kind of run this is.
    pub fn describe(&self) -> String {
        let release = if self.releases() {
            "images are released"
        } else {
            "nothing is released"
        };
        let what = match &self.kind {
            RunKind::ManualDefault { source } if self.force_autostart => {
                format!(
                    "default branch, started by `{source}` with GIPGEE_FORCE_AUTOSTART=true: all images, jobs start automatically"
                )
            }
            RunKind::ManualDefault { source } if !self.manual_first_jobs() => {
                format!(
                    "default branch, started by `{source}`: all images, jobs start automatically (`{source}` is not one of GIPGEE_MANUAL_SOURCES)"
                )
            }
            RunKind::ManualDefault { source } => {
                format!(
                    "default branch, started by `{source}`: all images, the first job of each chain is manual"
                )
            }
            RunKind::PushDefault { before_sha } => format!(
                "push to the default branch, changes since {}",
                short(before_sha)
            ),
            RunKind::PushBranch {
                branch,
                default_branch,
            } => {
                format!(
                    "push to branch `{branch}`, changes since the merge base with `{default_branch}`"
                )
            }
            RunKind::MergeRequest { diff_base_sha } => {
                format!(
                    "merge request pipeline, changes since {}",
                    short(diff_base_sha)
                )
            }
            RunKind::Tag { tag } => format!("tag `{tag}`: gipgee builds from branches, not tags"),
            RunKind::Schedule => "scheduled update check".to_string(),
            RunKind::Rebuild {
                on_default_branch: true,
            } => "rebuild of the images an update check found stale".to_string(),
            RunKind::Rebuild {
                on_default_branch: false,
            } => "rebuild of the images an update check found stale, outside the default branch (released images come from the default branch)".to_string(),
            RunKind::Local { default_branch } => {
                format!("outside GitLab CI: changes since the merge base with `{default_branch}`")
            }
            RunKind::Unsupported { source } => {
                format!(
                    "pipeline source `{source}`: gipgee builds for push, web, api, trigger, pipeline, chat, merge requests and schedules"
                )
            }
        };
        format!("{what}; {release}")
    }
}

/// `CI_COMMIT_SHA`, or `HEAD` outside CI. A value that is not a git object id (SHA-1 or
/// SHA-256, in hex) is refused rather than written into staging tags.
fn commit_sha(vars: &Vars) -> Result<String, Error> {
    let Some(sha) = vars.get("CI_COMMIT_SHA") else {
        return Ok("HEAD".to_string());
    };
    if matches!(sha.len(), 40 | 64) && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(sha.to_string());
    }
    let shown: String = sha.chars().take(80).flat_map(char::escape_debug).collect();
    Err(Error::User(format!(
        "`CI_COMMIT_SHA` is `{shown}`: expected the commit id GitLab sets (40 or 64 hexadecimal digits)"
    )))
}

/// `CI_PIPELINE_ID`, a number on GitLab (`local` outside CI): part of every staging tag, so
/// nothing else may pass.
fn pipeline_id(vars: &Vars) -> Result<String, Error> {
    let Some(id) = vars.get("CI_PIPELINE_ID") else {
        return Ok("local".to_string());
    };
    if (1..=20).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(id.to_string());
    }
    let shown: String = id.chars().take(80).flat_map(char::escape_debug).collect();
    Err(Error::User(format!(
        "`CI_PIPELINE_ID` is `{shown}`: expected the pipeline id GitLab sets (a number)"
    )))
}

/// A commit sha shortened for people and staging tags.
pub fn short(sha: &str) -> &str {
    sha.get(..8).unwrap_or(sha)
}

fn detect_kind(vars: &Vars, mode: Mode) -> RunKind {
    let default_branch = vars.get("CI_DEFAULT_BRANCH").unwrap_or("main").to_string();
    let Some(source) = vars.get("CI_PIPELINE_SOURCE") else {
        return RunKind::Local { default_branch };
    };
    if source == "schedule" && mode == Mode::Auto {
        return RunKind::Schedule;
    }
    if source == "merge_request_event" || vars.get("CI_MERGE_REQUEST_IID").is_some() {
        let diff_base_sha = vars
            .get("CI_MERGE_REQUEST_DIFF_BASE_SHA")
            .unwrap_or_default()
            .to_string();
        return RunKind::MergeRequest { diff_base_sha };
    }
    if let Some(tag) = vars.get("CI_COMMIT_TAG") {
        return RunKind::Tag {
            tag: tag.to_string(),
        };
    }
    let branch = vars.get("CI_COMMIT_BRANCH").unwrap_or_default().to_string();
    if branch != default_branch {
        return RunKind::PushBranch {
            branch,
            default_branch,
        };
    }
    if STARTED_ON_PURPOSE.contains(&source) || source == "schedule" {
        return RunKind::ManualDefault {
            source: source.to_string(),
        };
    }
    if source != "push" {
        return RunKind::Unsupported {
            source: source.to_string(),
        };
    }
    // Unset is not "all zeros": `changes` says which it was.
    let before_sha = vars
        .get("CI_COMMIT_BEFORE_SHA")
        .unwrap_or_default()
        .to_string();
    RunKind::PushDefault { before_sha }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect(pairs: &[(&str, &str)], mode: Mode) -> PipelineRun {
        let mut vars = Vars::from_pairs([
            ("CI_DEFAULT_BRANCH", "main"),
            ("CI_COMMIT_SHA", "0123456789abcdef0123456789abcdef01234567"),
        ]);
        for (k, v) in pairs {
            vars.set(k, v);
        }
        PipelineRun::detect(&vars, mode).unwrap()
    }

    #[test]
    fn the_pipeline_id_must_be_a_number() {
        assert_eq!(
            detect(&[("CI_PIPELINE_ID", "1234567")], Mode::Auto).pipeline_id,
            "1234567"
        );
        for bad in ["12a", "-1", "1 2", "x:evil", &"9".repeat(21)] {
            let vars = Vars::from_pairs([("CI_PIPELINE_ID", bad)]);
            let err = PipelineRun::detect(&vars, Mode::Auto)
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("error: `CI_PIPELINE_ID` is `") && err.contains("a number"),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn the_commit_sha_must_be_a_git_object_id() {
        let sha1 = "0123456789abcdef0123456789abcdef01234567";
        let sha256 = "0123456789ABCDEF".repeat(4);
        for good in [sha1, sha256.as_str()] {
            assert_eq!(
                detect(&[("CI_COMMIT_SHA", good)], Mode::Auto).commit_sha,
                good
            );
        }
        assert_eq!(
            PipelineRun::detect(&Vars::default(), Mode::Auto)
                .unwrap()
                .commit_sha,
            "HEAD",
            "outside CI (an empty variable is an unset one)"
        );
        for bad in [
            "abc",
            "HEAD",
            "0123456789abcdef0123456789abcdef0123456g",
            "x:y\n",
        ] {
            let vars = Vars::from_pairs([("CI_COMMIT_SHA", bad)]);
            let err = PipelineRun::detect(&vars, Mode::Auto)
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("error: `CI_COMMIT_SHA` is `")
                    && err.contains("40 or 64 hexadecimal"),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn every_row_of_the_pipeline_run_table() {
        const ZERO: &str = "0000000000000000000000000000000000000000";
        // (variables, mode, kind, releases, manual first jobs)
        type Case = (
            &'static [(&'static str, &'static str)],
            Mode,
            RunKind,
            bool,
            bool,
        );
        let cases: Vec<Case> = vec![
            // (variables, mode, kind, releases, manual first jobs)
            (
                &[("CI_PIPELINE_SOURCE", "web"), ("CI_COMMIT_BRANCH", "main")],
                Mode::Auto,
                RunKind::ManualDefault {
                    source: "web".into(),
                },
                true,
                true,
            ),
            (
                &[("CI_PIPELINE_SOURCE", "api"), ("CI_COMMIT_BRANCH", "main")],
                Mode::Auto,
                RunKind::ManualDefault {
                    source: "api".into(),
                },
                true,
                false,
            ),
            (
                &[
                    ("CI_PIPELINE_SOURCE", "api"),
                    ("CI_COMMIT_BRANCH", "main"),
                    ("GIPGEE_MANUAL_SOURCES", "web, api"),
                ],
                Mode::Auto,
                RunKind::ManualDefault {
                    source: "api".into(),
                },
                true,
                true,
            ),
            (
                &[
                    ("CI_PIPELINE_SOURCE", "api"),
                    ("CI_COMMIT_BRANCH", "main"),
                    ("GIPGEE_FORCE_AUTOSTART", "true"),
                ],
                Mode::Auto,
                RunKind::ManualDefault {
                    source: "api".into(),
                },
                true,
                false,
            ),
            (
                &[
                    ("CI_PIPELINE_SOURCE", "push"),
                    ("CI_COMMIT_BRANCH", "main"),
                    ("CI_COMMIT_BEFORE_SHA", ZERO),
                ],
                Mode::Auto,
                RunKind::PushDefault {
                    before_sha: ZERO.into(),
                },
                true,
                false,
            ),
            (
                &[("CI_PIPELINE_SOURCE", "push"), ("CI_COMMIT_BRANCH", "main")],
                Mode::Auto,
                RunKind::PushDefault {
                    before_sha: String::new(),
                },
                true,
                false,
            ),
            (
                &[
                    ("CI_PIPELINE_SOURCE", "push"),
                    ("CI_COMMIT_BRANCH", "feature"),
                ],
                Mode::Auto,
                RunKind::PushBranch {
                    branch: "feature".into(),
                    default_branch: "main".into(),
                },
                false,
                false,
            ),
            (
                &[
                    ("CI_PIPELINE_SOURCE", "web"),
                    ("CI_COMMIT_BRANCH", "feature"),
                ],
                Mode::Auto,
                RunKind::PushBranch {
                    branch: "feature".into(),
                    default_branch: "main".into(),
                },
                false,
                false,
            ),
            (
                &[
                    ("CI_PIPELINE_SOURCE", "merge_request_event"),
                    ("CI_MERGE_REQUEST_DIFF_BASE_SHA", "base"),
                ],
                Mode::Auto,
                RunKind::MergeRequest {
                    diff_base_sha: "base".into(),
                },
                false,
                false,
            ),
            (
                &[
                    ("CI_PIPELINE_SOURCE", "push"),
                    ("CI_MERGE_REQUEST_IID", "7"),
                ],
                Mode::Auto,
                RunKind::MergeRequest {
                    diff_base_sha: String::new(),
                },
                false,
                false,
            ),
            (
                &[("CI_PIPELINE_SOURCE", "push"), ("CI_COMMIT_TAG", "v1")],
                Mode::Auto,
                RunKind::Tag { tag: "v1".into() },
                false,
                false,
            ),
            (
                &[
                    ("CI_PIPELINE_SOURCE", "schedule"),
                    ("CI_COMMIT_BRANCH", "main"),
                ],
                Mode::Auto,
                RunKind::Schedule,
                false,
                false,
            ),
            (
                &[
                    ("CI_PIPELINE_SOURCE", "schedule"),
                    ("CI_COMMIT_BRANCH", "main"),
                ],
                Mode::Build,
                RunKind::ManualDefault {
                    source: "schedule".into(),
                },
                true,
                false,
            ),
            (
                &[
                    ("CI_PIPELINE_SOURCE", "parent_pipeline"),
                    ("CI_COMMIT_BRANCH", "main"),
                ],
                Mode::Auto,
                RunKind::Unsupported {
                    source: "parent_pipeline".into(),
                },
                false,
                false,
            ),
            (
                &[
                    ("CI_PIPELINE_SOURCE", "parent_pipeline"),
                    ("CI_COMMIT_BRANCH", "main"),
                ],
                Mode::Rebuild,
                RunKind::Rebuild {
                    on_default_branch: true,
                },
                true,
                false,
            ),
            (
                &[
                    ("CI_PIPELINE_SOURCE", "parent_pipeline"),
                    ("CI_COMMIT_BRANCH", "feature/x"),
                ],
                Mode::Rebuild,
                RunKind::Rebuild {
                    on_default_branch: false,
                },
                false,
                false,
            ),
            (
                &[],
                Mode::Auto,
                RunKind::Local {
                    default_branch: "main".into(),
                },
                false,
                false,
            ),
        ];
        for (pairs, mode, kind, releases, manual) in cases {
            let run = detect(pairs, mode);
            assert_eq!(run.kind, kind, "{pairs:?} {mode:?}");
            assert_eq!(run.releases(), releases, "releases for {pairs:?}");
            assert_eq!(run.manual_first_jobs(), manual, "manual for {pairs:?}");
        }
    }
}
