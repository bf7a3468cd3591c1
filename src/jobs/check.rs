//! The jobs of the scheduled update-check pipeline: `layer-check` (which also hands
//! the static gipgee binary to the checks as an artifact), `update-check:<id>` inside each
//! released image, `evaluate` (fan-in through stage order, so no job has more than 50
//! `needs`), the `rebuild` trigger of the pipeline `evaluate` wrote (the third pipeline level
//! at most), and `gipgee:verdict`, which fails the pipeline when a check errored — after the
//! rebuild of what is known stale.

use super::template_vars::{CheckVars, Files, TriggerVars};
use super::{JobFactory, JobSpec, PLAN_JOB};
use crate::gitlab::Stage;
use crate::plan::{CheckPlan, CheckedImage};
use crate::results::{REBUILD_PIPELINE, RESULTS_DIR, UPDATE_CHECK_DIR};

pub const LAYER_CHECK_JOB: &str = "layer-check";
pub const EVALUATE_JOB: &str = "evaluate";
pub const REBUILD_JOB: &str = "rebuild";
pub const VERDICT_JOB: &str = "gipgee:verdict";

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
        let check = checked.update_check.as_ref()?;
        let id = &checked.image.id;
        let needs = Some(vec![LAYER_CHECK_JOB.to_string()]);
        let name = update_check_job_name(id);
        let mut spec = self.files_job("update-check", &name, Stage::Check, needs);
        spec.vars.image = Some(self.image_vars(&checked.image, checked.parent.as_deref()));
        spec.vars.check = Some(CheckVars {
            image: self.reference_vars(&check.runs_in),
            command: check.command.clone(),
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
