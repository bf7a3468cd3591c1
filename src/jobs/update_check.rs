//! The jobs of the scheduled update-check pipeline: `layer-check` (which also hands
//! the static gipgee binary to the checks as an artifact), `update-check:<id>` inside each
//! released image, `evaluate` (fan-in through stage order, so no job has more than 50
//! `needs`), the `rebuild` trigger of the pipeline `evaluate` wrote (the third pipeline level
//! at most), and `gipgee:verdict`, which fails the pipeline when a check errored — after the
//! rebuild of what is known stale.

use serde::Serialize;

use super::{JobBuilder, JobSpec, PLAN_JOB, ReferenceInfo, Stage};
use crate::config::UpdateCheck;
use crate::results::{
    BINARY_DIR, ERRORS_FILE, LAYER_CHECK_FILE, REBUILD_PIPELINE, REPORT, RESULTS_DIR, SUMMARY_FILE,
    UPDATE_CHECK_DIR,
};

pub const LAYER_CHECK_JOB: &str = "layer-check";
pub const EVALUATE_JOB: &str = "evaluate";
pub const REBUILD_JOB: &str = "rebuild";
pub const VERDICT_JOB: &str = "gipgee:verdict";

/// Where the update-check jobs leave their results (all relative to the project directory).
#[derive(Serialize)]
pub(super) struct Files {
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
#[derive(Serialize)]
pub(super) struct CheckInfo {
    /// The released image the job runs in (the first target location).
    image: ReferenceInfo,
    /// The user's check command, or none for the built-in `auto` check.
    command: Option<Vec<String>>,
    result_file: String,
    error_file: String,
}

#[derive(Serialize)]
pub(super) struct TriggerInfo {
    artifact: String,
    job: String,
}

pub fn update_check_job_name(id: &str) -> String {
    format!("update-check:{id}")
}

impl JobBuilder<'_> {
    pub(super) fn update_check_specs(&self) -> Vec<JobSpec<'_>> {
        let mut specs = vec![self.plan_spec(), self.layer_check_spec()];
        for planned in &self.plan.images {
            let command = match &planned.image.update_check {
                UpdateCheck::None => continue,
                UpdateCheck::Auto => None,
                UpdateCheck::Command(argv) => Some(argv.clone()),
            };
            let Some(released) = planned.image.target_locations.first() else {
                continue;
            };
            let id = &planned.image.id;
            let needs = Some(vec![LAYER_CHECK_JOB.to_string()]);
            let mut spec = self.spec(
                "update-check",
                update_check_job_name(id),
                Stage::Check,
                needs,
                false,
            );
            spec.context.image = Some(self.image_info(planned));
            spec.context.files = Some(Files::new());
            spec.context.check = Some(CheckInfo {
                image: self.reference_info(released),
                command,
                result_file: format!("{RESULTS_DIR}/{UPDATE_CHECK_DIR}/{id}.result"),
                error_file: format!("{RESULTS_DIR}/{UPDATE_CHECK_DIR}/{id}.error"),
            });
            specs.push(spec);
        }
        specs.push(self.files_spec("evaluate", EVALUATE_JOB, Stage::Evaluate, None));
        let mut rebuild = self.files_spec(
            "trigger",
            REBUILD_JOB,
            Stage::Rebuild,
            Some(vec![EVALUATE_JOB.to_string()]),
        );
        rebuild.context.trigger = Some(TriggerInfo {
            artifact: REBUILD_PIPELINE.into(),
            job: EVALUATE_JOB.into(),
        });
        specs.push(rebuild);
        // After the rebuild (when: always runs it even when the rebuild failed), with the
        // evaluate job's artifacts.
        specs.push(self.files_spec(
            "verdict",
            VERDICT_JOB,
            Stage::Verdict,
            Some(vec![EVALUATE_JOB.to_string(), REBUILD_JOB.to_string()]),
        ));
        specs
    }

    fn layer_check_spec(&self) -> JobSpec<'_> {
        self.files_spec(
            "layer-check",
            LAYER_CHECK_JOB,
            Stage::Check,
            Some(vec![PLAN_JOB.to_string()]),
        )
    }

    fn files_spec(
        &self,
        kind: &'static str,
        name: &str,
        stage: Stage,
        needs: Option<Vec<String>>,
    ) -> JobSpec<'_> {
        let mut spec = self.spec(kind, name.to_string(), stage, needs, false);
        spec.context.files = Some(Files::new());
        spec
    }
}
