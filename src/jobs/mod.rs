//! From the plan to job specs: for every job of the pipeline, its name, stage, `needs`, manual
//! start, which template renders it and the variables that template receives (the template
//! context, documented in README and checked by a test). No template is rendered and no YAML
//! is written here.
//!
//! `build` makes the jobs of a build pipeline, `check` those of the scheduled update check;
//! [`template_vars`] holds what every template receives.

mod build;
mod check;
mod metadata;
pub mod scan_sign;
pub mod shards;
pub mod template_vars;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::config::Config;
use crate::environment::{PipelineRun, Settings};
use crate::gitlab::Stage;
use crate::oci::Platform;
use crate::plan::{CheckPlan, Plan};

pub use check::{
    EVALUATE_JOB, Rebuild, batches, rebuild_shard_job_name, update_check_batch_job_name,
};

use template_vars::{JobVars, Login, PlanVars, RunVars, TemplateVars};

pub const PLAN_JOB: &str = "gipgee:plan";

/// A job before rendering: where it goes in the pipeline, and what its template receives.
#[derive(Debug)]
pub struct JobSpec<'a> {
    /// The template kind (`build`, `test`, …): the template file is `<kind>.yml.j2`.
    pub kind: &'static str,
    pub name: String,
    pub stage: Stage,
    /// `None`: no `needs`, the job waits for every earlier stage (fan-in through stages).
    pub needs: Option<Vec<String>>,
    pub manual: bool,
    /// Boxed: the variables of every kind make a large value, and a pipeline spec moves
    /// thousands of jobs (into shards, too) and grows their list.
    pub vars: Box<TemplateVars<'a>>,
    /// How the template makes this job: its own body, or a body shared by jobs alike.
    pub body: Body,
    /// The image this job belongs to (build pipelines), which decides its shard.
    pub owner: Option<Owner>,
}

/// The image a job of a build pipeline belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub image: String,
    /// The image's parent when it is built in the same run: the parent's shard runs first.
    pub built_parent: Option<String>,
}

/// How a job's template is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// The template renders this job's body (jobs that exist once per pipeline, and the
    /// update checks).
    Own,
    /// The template renders a hidden job (`.gipgee-<kind>…`) that every job with the same
    /// template variables extends; the job extends its image's values (`.image:<id>`) after
    /// it and carries only its `needs`. Thousands of images then cost one render and a few
    /// lines each.
    Shared { image: Rc<ImageValues> },
}

/// What differs per image between the jobs of one kind: the CI/CD variables its build, test,
/// scan, release and sign jobs read in their shared bodies. Written once per file as the
/// hidden job `.image:<id>` (see [`image_values_job_name`]), which every job of the image
/// extends.
#[derive(Debug, PartialEq, Eq)]
pub struct ImageValues {
    pub id: String,
    pub variables: Vec<Variable>,
}

/// A CI/CD variable of an image's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    pub name: String,
    pub value: String,
    /// A value other images' values carry too (an image's staging reference: its children's
    /// builds are FROM it) is written once per file under this YAML anchor (the image id) and
    /// referred to after that (`*id`), which keeps large pipelines small.
    pub anchor: Option<String>,
}

impl Variable {
    fn new(name: impl Into<String>, value: impl Into<String>) -> Variable {
        Variable {
            name: name.into(),
            value: value.into(),
            anchor: None,
        }
    }

    /// This variable, its value written once per file under `anchor` (an image id). An id
    /// with a `.` is no anchor name GitLab's YAML parser (libyaml) accepts: its value is
    /// written in full every time.
    fn anchored(self, anchor: &str) -> Variable {
        let valid = anchor
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        Variable {
            anchor: valid.then(|| anchor.to_string()),
            ..self
        }
    }
}

/// Every job of one pipeline, in pipeline order, and the hidden jobs they extend.
#[derive(Debug)]
pub struct PipelineSpec<'a> {
    pub stages: &'static [Stage],
    /// What the `common` template receives: it renders the hidden jobs (`.gipgee-*`) other
    /// jobs extend, which are no job of their own.
    pub hidden: TemplateVars<'a>,
    pub jobs: Vec<JobSpec<'a>>,
}

/// The jobs of the pipeline `plan` describes.
pub fn pipeline_spec<'a>(
    config: &'a Config,
    settings: &'a Settings,
    plan: &'a Plan,
) -> PipelineSpec<'a> {
    let factory = JobFactory::new(config, settings, plan.run());
    let (stages, jobs) = match plan {
        Plan::Build(plan) => {
            let jobs = factory.build_pipeline(plan);
            (build_stages(&jobs), jobs)
        }
        Plan::Check(plan) => (
            Stage::UPDATE_CHECK,
            factory
                .check_pipeline(plan, check::Rebuild::Single, None, usize::MAX)
                .unwrap_or_default(),
        ),
    };
    PipelineSpec {
        stages,
        hidden: factory.hidden(),
        jobs,
    }
}

/// The jobs of the update-check pipeline of `plan` within the job limit: its update checks in
/// batches when one job per image does not fit or would be more than `most_check_jobs` jobs, and
/// the trigger jobs of `rebuild`. An error says what cannot fit.
pub fn check_pipeline_spec<'a>(
    config: &'a Config,
    settings: &'a Settings,
    plan: &'a CheckPlan,
    rebuild: Rebuild,
    most_check_jobs: usize,
) -> Result<PipelineSpec<'a>, String> {
    let factory = JobFactory::new(config, settings, &plan.run);
    let jobs = factory.check_pipeline(
        plan,
        rebuild,
        Some(settings.limits.max_jobs),
        most_check_jobs,
    )?;
    Ok(PipelineSpec {
        stages: Stage::UPDATE_CHECK,
        hidden: factory.hidden(),
        jobs,
    })
}

/// Makes job specs with the variables every template shares.
struct JobFactory<'a> {
    config: &'a Config,
    settings: &'a Settings,
    run_vars: RunVars<'a>,
    /// The registry login of each host a job needs, decided once (see `logins`).
    logins_by_host: RefCell<HashMap<String, Option<Login>>>,
}

impl<'a> JobFactory<'a> {
    fn new(config: &'a Config, settings: &'a Settings, run: &PipelineRun) -> Self {
        JobFactory {
            config,
            settings,
            run_vars: RunVars::new(settings, run),
            logins_by_host: RefCell::default(),
        }
    }

    /// What the `common` template receives.
    fn hidden(&self) -> TemplateVars<'a> {
        TemplateVars::new(&self.run_vars, JobVars::default())
    }

    /// A job that starts automatically; its kind-specific variables are added by the caller.
    fn spec(
        &self,
        kind: &'static str,
        name: String,
        stage: Stage,
        needs: Option<Vec<String>>,
    ) -> JobSpec<'a> {
        JobSpec {
            kind,
            vars: Box::new(TemplateVars::new(
                &self.run_vars,
                JobVars::new(&name, stage),
            )),
            name,
            stage,
            needs,
            manual: false,
            body: Body::Own,
            owner: None,
        }
    }

    /// The plan job: prints the plan (and keeps a pipeline of only manual jobs from being
    /// blocked).
    fn plan_job(&self, plan_text: &str, built: usize) -> JobSpec<'a> {
        let mut spec = self.spec("plan", PLAN_JOB.to_string(), Stage::Plan, None);
        spec.vars.plan = Some(Box::new(PlanVars {
            lines: plan_job_lines(plan_text),
            built,
        }));
        spec
    }
}

/// The most plan lines the plan job prints: the plan of a large config would make the job as
/// large as every other job together (and exceed what one template may render).
pub const PLAN_JOB_LINES: usize = 100;

/// The lines the plan job prints: the whole plan when it is short, else its first lines, how
/// many are left out, and its last line (the count of built images). The generate job's log
/// has the whole plan.
fn plan_job_lines(plan_text: &str) -> Vec<String> {
    let lines: Vec<&str> = plan_text.lines().collect();
    if lines.len() <= PLAN_JOB_LINES {
        return lines.into_iter().map(str::to_string).collect();
    }
    let head = &lines[..PLAN_JOB_LINES - 2];
    let left_out = lines.len() - head.len() - 1;
    head.iter()
        .map(|line| line.to_string())
        .chain([
            format!("  … {left_out} more lines: the log of the job that ran `gipgee generate` has the whole plan"),
            lines[lines.len() - 1].to_string(),
        ])
        .collect()
}

// Job names are concatenated rather than formatted: a large pipeline makes tens of thousands.

/// The hidden job holding an image's values ([`ImageValues`]).
pub fn image_values_job_name(id: &str) -> String {
    [".image:", id].concat()
}

pub fn build_job_name(id: &str) -> String {
    ["build:", id].concat()
}

pub fn test_job_name(id: &str, test: &str) -> String {
    ["test:", id, ":", test].concat()
}

/// The job of one test on one platform of a multi-platform image:
/// `test:<id>:<test>:<os>-<architecture>[-<variant>]` (a `/` would make a path of the name in
/// tools that keep files per job).
pub fn platform_test_job_name(id: &str, test: &str, platform: &Platform) -> String {
    format!(
        "{}:{}",
        test_job_name(id, test),
        platform.to_string().replace('/', "-")
    )
}

pub fn release_job_name(id: &str) -> String {
    ["release:", id].concat()
}

pub fn scan_job_name(id: &str) -> String {
    ["scan:", id].concat()
}

pub fn sign_job_name(id: &str) -> String {
    ["sign:", id].concat()
}

/// The stages of a build pipeline of these jobs: the scan and sign stages only when a job
/// uses them.
fn build_stages(jobs: &[JobSpec]) -> &'static [Stage] {
    let uses = |stage: Stage| jobs.iter().any(|job| job.stage == stage);
    Stage::build_stages(uses(Stage::Scan), uses(Stage::Sign))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_job_prints_a_long_plan_shortened_with_its_last_line() {
        let short = "run\nselection\n  build  a\n1 of 1 images are built.";
        assert_eq!(plan_job_lines(short), short.lines().collect::<Vec<_>>());
        let long: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        let lines = plan_job_lines(&long);
        assert_eq!(lines.len(), PLAN_JOB_LINES);
        assert_eq!(lines[PLAN_JOB_LINES - 3], "line 97");
        assert_eq!(
            lines[PLAN_JOB_LINES - 2],
            "  … 901 more lines: the log of the job that ran `gipgee generate` has the whole plan"
        );
        assert_eq!(lines[PLAN_JOB_LINES - 1], "line 999");
    }
}
