//! The jobs of the scheduled update-check pipeline: `layer-check` (which also hands
//! the static gipgee binary to the checks as an artifact), `update-check:<id>` inside each
//! released image, `evaluate` (fan-in through stage order, so no job has more than 50
//! `needs`), the `rebuild` trigger of the pipeline `evaluate` wrote (the third pipeline level
//! at most), and `gipgee:verdict`, which fails the pipeline when a check errored — after the
//! rebuild of what is known stale.

use serde::Serialize;

use super::template_vars::ReferenceVars;
use super::{JobFactory, JobSpec, PLAN_JOB};
use crate::gitlab::Stage;
use crate::plan::{CheckPlan, CheckedImage};
use crate::results::{
    BINARY_DIR, ERRORS_FILE, LAYER_CHECK_FILE, REBUILD_PIPELINE, REPORT, RESULTS_DIR, SUMMARY_FILE,
    UPDATE_CHECK_DIR,
};

pub const LAYER_CHECK_JOB: &str = "layer-check";
pub const EVALUATE_JOB: &str = "evaluate";
pub const REBUILD_JOB: &str = "rebuild";
pub const VERDICT_JOB: &str = "gipgee:verdict";

/// Where the update-check jobs leave their results (all relative to the project directory).
#[derive(Debug, Serialize)]
pub struct Files {
    results_dir: String,
    binary_dir: String,
    layer_check: String,
    errors: String,
    summary: String,
    rebuild_pipeline: String,
    report: String,
}

impl Files {
    fn new() -> Files {
        Files {
            results_dir: RESULTS_DIR.into(),
            binary_dir: BINARY_DIR.into(),
            layer_check: format!("{RESULTS_DIR}/{LAYER_CHECK_FILE}"),
            errors: format!("{RESULTS_DIR}/{ERRORS_FILE}"),
            summary: format!("{RESULTS_DIR}/{SUMMARY_FILE}"),
            rebuild_pipeline: REBUILD_PIPELINE.into(),
            report: REPORT.into(),
        }
    }
}

/// What one `update-check:<id>` job checks and where it writes.
#[derive(Debug, Serialize)]
pub struct CheckVars {
    /// The released image the job runs in (the first target location).
    image: ReferenceVars,
    /// The user's check command, or none for the built-in `auto` check.
    command: Option<Vec<String>>,
    result_file: String,
    error_file: String,
}

#[derive(Debug, Serialize)]
pub struct TriggerVars {
    artifact: String,
    job: String,
}

pub fn update_check_job_name(id: &str) -> String {
    format!("update-check:{id}")
}

impl<'a> JobFactory<'a> {
    pub(super) fn check_pipeline(&self, plan: &CheckPlan) -> Vec<JobSpec<'a>> {
        let mut specs = vec![
            self.plan_job(&plan.to_text(), 0),
            self.files_job(
                "layer-check",
                LAYER_CHECK_JOB,
                Stage::Check,
                Some(vec![PLAN_JOB.to_string()]),
            ),
        ];
        for checked in &plan.images {
            if let Some(spec) = self.update_check_job(checked) {
                specs.push(spec);
            }
        }
        specs.push(self.files_job("evaluate", EVALUATE_JOB, Stage::Evaluate, None));
        let mut rebuild = self.files_job(
            "trigger",
            REBUILD_JOB,
            Stage::Rebuild,
            Some(vec![EVALUATE_JOB.to_string()]),
        );
        rebuild.vars.trigger = Some(TriggerVars {
            artifact: REBUILD_PIPELINE.into(),
            job: EVALUATE_JOB.into(),
        });
        specs.push(rebuild);
        // After the rebuild (when: always runs it even when the rebuild failed), with the
        // evaluate job's artifacts.
        specs.push(self.files_job(
            "verdict",
            VERDICT_JOB,
            Stage::Verdict,
            Some(vec![EVALUATE_JOB.to_string(), REBUILD_JOB.to_string()]),
        ));
        specs
    }

    fn update_check_job(&self, checked: &CheckedImage) -> Option<JobSpec<'a>> {
        let command = checked.update_check()?;
        let released = checked.image.target_locations.first()?;
        let id = &checked.image.id;
        let needs = Some(vec![LAYER_CHECK_JOB.to_string()]);
        let name = update_check_job_name(id);
        let mut spec = self.files_job("update-check", &name, Stage::Check, needs);
        spec.vars.image = Some(self.image_vars(&checked.image, checked.parent.as_deref()));
        spec.vars.check = Some(CheckVars {
            image: self.reference_vars(released),
            command: command.map(<[String]>::to_vec),
            result_file: format!("{RESULTS_DIR}/{UPDATE_CHECK_DIR}/{id}.result"),
            error_file: format!("{RESULTS_DIR}/{UPDATE_CHECK_DIR}/{id}.error"),
        });
        Some(spec)
    }

    /// A job that reads or writes the results directory.
    fn files_job(
        &self,
        kind: &'static str,
        name: &str,
        stage: Stage,
        needs: Option<Vec<String>>,
    ) -> JobSpec<'a> {
        let mut spec = self.spec(kind, name.to_string(), stage, needs);
        spec.vars.files = Some(Files::new());
        spec
    }
}
