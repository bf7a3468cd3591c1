//! The plan: what this pipeline run does with every image, decided before any job exists.
//!
//! A build pipeline gets a [`BuildPlan`]: which images are built and why (changed files against
//! watched assets, the "all images" runs, a rebuild selection, parents pulling in their
//! children), FROM what, and whether they are released. The scheduled update check gets a
//! [`CheckPlan`]: which checks run for which image. [`graph`] holds the parent/child order
//! both follow.

pub mod build;
pub mod check;
pub mod graph;
pub mod selection;

pub use build::{BuildPlan, PlannedImage};
pub use check::{CheckPlan, CheckedImage, PlannedUpdateCheck};
pub use graph::Graph;
use selection::Wanted;

use std::collections::BTreeMap;

use crate::changes::{self, ChangeBase, Changes};
use crate::config::Config;
use crate::environment::{PipelineRun, RunKind, Settings};
use crate::error::Error;

/// The plan of one pipeline run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    Build(BuildPlan),
    Check(CheckPlan),
}

impl Plan {
    pub fn run(&self) -> &PipelineRun {
        match self {
            Plan::Build(plan) => &plan.run,
            Plan::Check(plan) => &plan.run,
        }
    }

    /// The plan for humans, as the plan job and `gipgee plan` print it.
    pub fn to_text(&self) -> String {
        match self {
            Plan::Build(plan) => plan.to_text(),
            Plan::Check(plan) => plan.to_text(),
        }
    }
}

/// Decides what this pipeline run does. `log` receives progress lines (git fetches) for the
/// job log.
pub fn make(
    config: &Config,
    settings: &Settings,
    run: &PipelineRun,
    log: &mut dyn FnMut(&str),
) -> Result<Plan, Error> {
    let graph = Graph::new(config)?;
    let rebuild = matches!(run.kind, RunKind::Rebuild { .. });
    if settings.selection.is_some() && !rebuild {
        return Err(Error::User(
            "`--selection` is only used with `--mode rebuild`".into(),
        ));
    }
    let mut warnings = Vec::new();
    let mut changes_since = |base: ChangeBase| -> Result<Wanted, Error> {
        let changes = changes::changed_files(&settings.workdir, &run.commit_sha, &base, log)?;
        if let Changes::All {
            reason,
            warning: true,
        } = &changes
        {
            warnings.push(format!("{reason}; building all images to be safe"));
        }
        Ok(Wanted::Changes(changes))
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
            changes_since(ChangeBase::BeforeSha(before_sha.clone()))?
        }
        RunKind::PushBranch { default_branch, .. } | RunKind::Local { default_branch } => {
            changes_since(ChangeBase::MergeBaseWith(default_branch.clone()))?
        }
        RunKind::MergeRequest { diff_base_sha } => {
            changes_since(ChangeBase::DiffBaseSha(diff_base_sha.clone()))?
        }
    };
    let decisions = selection::select(config, &graph, &wanted);
    BuildPlan::new(config, &graph, run.clone(), &decisions, warnings).map(Plan::Build)
}

/// The plan of a rebuild pipeline: the `stale` images (id → why) and every image built on
/// them; nothing when nothing is stale.
pub fn rebuild(
    config: &Config,
    run: &PipelineRun,
    stale: &BTreeMap<String, String>,
) -> Result<BuildPlan, Error> {
    let graph = Graph::new(config)?;
    let wanted = match stale.is_empty() {
        true => Wanted::Nothing("no image is stale".into()),
        false => Wanted::Selection(stale.clone()),
    };
    let decisions = selection::select(config, &graph, &wanted);
    BuildPlan::new(config, &graph, run.clone(), &decisions, Vec::new())
}

/// The width of the id column in plan text.
fn id_width<'a>(ids: impl Iterator<Item = &'a str>) -> usize {
    ids.map(str::len).max().unwrap_or(0)
}
