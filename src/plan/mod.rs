//! The plan: what this pipeline run does with every image, decided before any job exists.
//!
//! A build pipeline gets a [`BuildPlan`]: which images are built and why (changed files against
//! watched assets, the "all images" runs, a rebuild selection, parents pulling in their
//! children), FROM what, and whether they are released. The scheduled update check gets a
//! [`CheckPlan`]: which checks run for which image. [`graph`] holds the parent/child order
//! both follow.

pub mod build;
pub mod check;
pub mod config_edits;
pub mod graph;
pub mod released;
pub mod selection;

pub use build::{BuildPlan, PlannedImage};
pub use check::{CheckPlan, CheckedImage, PlannedUpdateCheck};
pub use graph::Graph;
pub use released::{Released, ReleasedRevisions};
use selection::{AlsoChanged, Wanted};

use std::collections::BTreeMap;

use crate::changes::{self, ChangeBase, Changes};
use crate::config::Config;
use crate::environment::{PipelineRun, RunKind, Settings};
use crate::error::Error;

/// The plan of one pipeline run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan<'c> {
    Build(BuildPlan<'c>),
    Check(CheckPlan<'c>),
}

impl Plan<'_> {
    pub fn run(&self) -> &PipelineRun {
        match self {
            Plan::Build(plan) => &plan.run,
            Plan::Check(plan) => &plan.run,
        }
    }

    /// The plan for humans, as the plan job and `gipgee plan` print it.
    pub fn text(&self) -> &str {
        match self {
            Plan::Build(plan) => plan.text(),
            Plan::Check(plan) => plan.text(),
        }
    }
}

/// What [`make`] needs from its caller besides the config, the settings and the run: the
/// reading it cannot do itself, so that the plan stays a decision over given facts.
pub struct Inputs<'a> {
    /// Resolves another version of the config's text (the config at the comparison base)
    /// with the same variables as the config being built.
    pub resolve_config: &'a dyn Fn(&str) -> Result<Config, Error>,
    /// Reads the revision of released images (a push to the default branch only).
    pub released: &'a dyn ReleasedRevisions,
    /// Receives progress lines (git fetches) for the job log.
    pub log: &'a mut dyn FnMut(&str),
}

/// Decides what this pipeline run does.
pub fn make<'c>(
    config: &'c Config,
    settings: &Settings,
    run: &PipelineRun,
    inputs: Inputs<'_>,
) -> Result<Plan<'c>, Error> {
    let graph = Graph::new(config)?;
    let rebuild = matches!(run.kind, RunKind::Rebuild { .. });
    if settings.selection.is_some() && !rebuild {
        return Err(Error::User(
            "`--selection` is only used with `--mode rebuild`".into(),
        ));
    }
    let mut planner = Planner {
        config,
        settings,
        run,
        graph: &graph,
        inputs,
        warnings: Vec::new(),
        notes: Vec::new(),
    };
    let wanted = match &run.kind {
        RunKind::Schedule => return Ok(Plan::Check(CheckPlan::new(config, &graph, run.clone()))),
        RunKind::Rebuild { .. } => {
            let Some(path) = &settings.selection else {
                return Err(Error::User(
                    "`--mode rebuild` needs `--selection FILE` (written by the update check)"
                        .into(),
                ));
            };
            Wanted::Selection(selection::read_selection(path, config)?)
        }
        RunKind::ManualDefault { source } => {
            Wanted::All(format!("the default branch was started by `{source}`"))
        }
        RunKind::Tag { tag } => Wanted::Nothing(format!(
            "tag pipeline (`{tag}`): images are built from branches"
        )),
        RunKind::Unsupported { source } => {
            Wanted::Nothing(format!("pipeline source `{source}` builds nothing"))
        }
        RunKind::PushDefault { before_sha } => {
            let wanted = planner.changes_since(ChangeBase::BeforeSha(before_sha.clone()))?;
            match settings.released_revision_check {
                true => planner.with_released_revisions(wanted),
                false => wanted,
            }
        }
        RunKind::PushBranch { default_branch, .. } | RunKind::Local { default_branch } => {
            planner.changes_since(ChangeBase::MergeBaseWith(default_branch.clone()))?
        }
        RunKind::MergeRequest { diff_base_sha } => {
            planner.changes_since(ChangeBase::DiffBaseSha(diff_base_sha.clone()))?
        }
    };
    let decisions = selection::select(config, &graph, &wanted);
    let remarks = (planner.warnings, planner.notes);
    let plan = BuildPlan::new(config, &graph, run.clone(), &decisions, remarks)?;
    Ok(Plan::Build(plan))
}

/// The state of one [`make`]: its inputs, and the warnings and notes the rules leave for the
/// plan text.
struct Planner<'a, 'i> {
    config: &'a Config,
    settings: &'a Settings,
    run: &'a PipelineRun,
    graph: &'a Graph,
    inputs: Inputs<'i>,
    warnings: Vec<String>,
    notes: Vec<String>,
}

impl Planner<'_, '_> {
    /// The changed files since `base`, and the config edits among them.
    fn changes_since(&mut self, base: ChangeBase) -> Result<Wanted, Error> {
        let (settings, log) = (self.settings, &mut *self.inputs.log);
        let changes = changes::changed_files(&settings.workdir, &self.run.commit_sha, &base, log)?;
        let changes = match changes {
            Changes::Files { base, files } => {
                let resolve_config = self.inputs.resolve_config;
                match config_edits(self.config, settings, &base, &files, resolve_config) {
                    Ok(edits) => {
                        if !edits.removed.is_empty() {
                            self.notes.push(format!(
                                "Removed from {}: {} (nothing is built for them; their \
                                 released images stay as they are).",
                                config_name(settings),
                                edits.removed.join(", ")
                            ));
                        }
                        let also = AlsoChanged {
                            config_edits: edits.selected,
                            ..AlsoChanged::default()
                        };
                        return Ok(Wanted::Changes(Changes::Files { base, files }, also));
                    }
                    Err(reason) => Changes::All {
                        reason,
                        warning: true,
                    },
                }
            }
            all => all,
        };
        if let Changes::All {
            reason,
            warning: true,
        } = &changes
        {
            self.warnings
                .push(format!("{reason}; building all images to be safe"));
        }
        Ok(Wanted::Changes(changes, AlsoChanged::default()))
    }

    /// `wanted`, plus the released-revision rule for every image it does not build yet.
    fn with_released_revisions(&mut self, wanted: Wanted) -> Wanted {
        let Wanted::Changes(changes @ Changes::Files { .. }, mut also) = wanted else {
            return wanted;
        };
        let unselected: Vec<String> = {
            let wanted = Wanted::Changes(changes.clone(), also.clone());
            selection::select(self.config, self.graph, &wanted)
                .into_iter()
                .filter(|(_, decision)| !decision.is_build())
                .map(|(id, _)| id)
                .collect()
        };
        let (config, settings, run) = (self.config, self.settings, self.run);
        let resolve_config = self.inputs.resolve_config;
        let log = &mut *self.inputs.log;
        let mut since =
            |revision: &str| since_revision(config, settings, run, revision, resolve_config, log);
        let findings = released::decide(
            config,
            &unselected,
            settings.ci_registry.as_deref(),
            self.inputs.released,
            &mut since,
        );
        self.warnings.extend(findings.warnings);
        self.notes.extend(findings.notes);
        also.since_release = findings.selected;
        Wanted::Changes(changes, also)
    }
}

/// What changed between a released `revision` and the commit being built: files and config
/// edits.
fn since_revision(
    config: &Config,
    settings: &Settings,
    run: &PipelineRun,
    revision: &str,
    resolve_config: &dyn Fn(&str) -> Result<Config, Error>,
    log: &mut dyn FnMut(&str),
) -> released::SinceRevision {
    let base = ChangeBase::ReleasedRevision(revision.to_string());
    match changes::changed_files(&settings.workdir, &run.commit_sha, &base, log) {
        Ok(Changes::Files { base, files }) => {
            match config_edits(config, settings, &base, &files, resolve_config) {
                Ok(edits) => released::SinceRevision::Changes { files, edits },
                Err(why) => released::SinceRevision::Unknown(why),
            }
        }
        Ok(Changes::All { reason, .. }) => released::SinceRevision::Unknown(reason),
        Err(err) => released::SinceRevision::Unknown(err.to_string()),
    }
}

/// The config as the plan names it: its path in the repository when known.
fn config_name(settings: &Settings) -> String {
    changes::repo_path(&settings.workdir, &settings.config)
        .unwrap_or_else(|_| settings.config.display().to_string())
}

/// What an edit of the config between `base` and HEAD selects; nothing when `files` does not
/// name the config. `Err`: the edit cannot be judged (the reason), so every image is built.
fn config_edits(
    config: &Config,
    settings: &Settings,
    base: &str,
    files: &std::collections::BTreeSet<String>,
    resolve_config: &dyn Fn(&str) -> Result<Config, Error>,
) -> Result<config_edits::ConfigEdits, String> {
    let path = changes::repo_path(&settings.workdir, &settings.config)
        .map_err(|err| format!("cannot tell whether the config changed: {err}"))?;
    if !files.contains(&path) {
        return Ok(config_edits::ConfigEdits::default());
    }
    let at_base = format!("{path} at {}", crate::environment::run::short(base));
    let text = changes::file_at(&settings.workdir, base, &path)
        .map_err(|err| format!("cannot read {at_base}: {err}"))?;
    let base_config = match text {
        None => None,
        Some(text) => Some(resolve_config(&text).map_err(|err| {
            let first_line = err
                .to_string()
                .lines()
                .map(str::trim)
                .find(|line| !line.is_empty())
                .unwrap_or_default()
                .trim_start_matches("error: ")
                .to_string();
            format!("{at_base} does not resolve ({first_line}), so its edits cannot be compared")
        })?),
    };
    Ok(config_edits::compare(base_config.as_ref(), config, &path))
}

/// The plan of a rebuild pipeline: the `stale` images (id → why) and every image built on
/// them; nothing when nothing is stale.
pub fn rebuild<'c>(
    config: &'c Config,
    run: &PipelineRun,
    stale: &BTreeMap<String, String>,
) -> Result<BuildPlan<'c>, Error> {
    let graph = Graph::new(config)?;
    let wanted = match stale.is_empty() {
        true => Wanted::Nothing("no image is stale".into()),
        false => Wanted::Selection(stale.clone()),
    };
    let decisions = selection::select(config, &graph, &wanted);
    BuildPlan::new(config, &graph, run.clone(), &decisions, Default::default())
}

/// The width of the id column in plan text.
fn id_width<'a>(ids: impl Iterator<Item = &'a str>) -> usize {
    ids.map(str::len).max().unwrap_or(0)
}
