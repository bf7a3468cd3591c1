//! The jobs of the scheduled update-check pipeline: `layer-check` (which also hands
//! the static gipgee binary to the checks as an artifact), `update-check:<id>` inside each
//! released image — or, when one job per image does not fit the job limit (or the YAML
//! budget), `update-check:batch:<k>` jobs that check several images each in the buildah image —,
//! `evaluate`, the trigger jobs of the rebuild pipelines `evaluate` writes (`rebuild`, or
//! `rebuild:<k>` per shard of the rebuild layout; the third pipeline level at most), and
//! `gipgee:verdict`, which fails the pipeline when a check errored — after the rebuild of what is
//! known stale. `evaluate` and the verdict fan in through stage order, so no job has more than 50
//! `needs` however many checks, batches or shards there are.

use super::shards::Shard;
use super::template_vars::{BatchCheck, CheckVars, Files, TriggerVars};
use super::{JobFactory, JobSpec, PLAN_JOB};
use crate::gitlab::Stage;
use crate::plan::{CheckPlan, CheckedImage, PlannedUpdateCheck};
use crate::results::{REBUILD_PIPELINE, RESULTS_DIR, UPDATE_CHECK_DIR, rebuild_shard_pipeline};

pub const LAYER_CHECK_JOB: &str = "layer-check";
pub const EVALUATE_JOB: &str = "evaluate";
pub const REBUILD_JOB: &str = "rebuild";
pub const VERDICT_JOB: &str = "gipgee:verdict";

pub fn update_check_job_name(id: &str) -> String {
    format!("update-check:{id}")
}

/// The job checking the images of batch `number` (from 1).
pub fn update_check_batch_job_name(number: usize) -> String {
    format!("update-check:batch:{number}")
}

/// The trigger job of the rebuild pipeline of shard `number` (from 1).
pub fn rebuild_shard_job_name(number: usize) -> String {
    format!("{REBUILD_JOB}:{number}")
}

/// The rebuild the update-check pipeline starts: one pipeline, or one per shard of the layout
/// of the rebuild of every image (which `evaluate` receives as a file, `layout_file`).
#[derive(Debug, Clone, Copy)]
pub enum Rebuild<'l> {
    Single,
    Sharded {
        layout: &'l [Shard],
        layout_file: &'l str,
    },
}

impl Rebuild<'_> {
    fn trigger_jobs(&self) -> usize {
        match self {
            Rebuild::Single => 1,
            Rebuild::Sharded { layout, .. } => layout.len(),
        }
    }
}

/// How many jobs of the update-check pipeline are not update checks: the plan, the layer
/// check, evaluate, the rebuild triggers and the verdict.
pub fn fixed_check_jobs(rebuild: &Rebuild) -> usize {
    4 + rebuild.trigger_jobs()
}

/// The update checks of `checks` images grouped into batches when one job per check, with the
/// `fixed` other jobs, would be more than `max_jobs`, or more than `most_check_jobs` jobs (a
/// smaller pipeline file: each check job has lines of its own): as many batches as fit,
/// their sizes differing by one at most, in plan order. `None`: one job per check fits. An
/// error when not even one batch fits.
pub fn batches(
    checks: usize,
    fixed: usize,
    max_jobs: usize,
    most_check_jobs: usize,
) -> Result<Option<Vec<usize>>, String> {
    let room = max_jobs.saturating_sub(fixed).min(most_check_jobs);
    if checks <= room {
        return Ok(None);
    }
    if room == 0 {
        return Err(format!(
            "its {fixed} jobs besides the update checks (plan, layer check, evaluate, the rebuild trigger jobs, verdict) leave no room for a job checking the images"
        ));
    }
    let per_batch = checks.div_ceil(room);
    let count = checks.div_ceil(per_batch);
    let (small, larger) = (checks / count, checks % count);
    Ok(Some(
        (0..count)
            .map(|i| small + usize::from(i < larger))
            .collect(),
    ))
}

impl<'a> JobFactory<'a> {
    /// The jobs of the update-check pipeline of `plan`; its update checks batched when one job
    /// per check does not fit `max_jobs` or is more than `most_check_jobs` (`None`: never
    /// batched).
    pub(super) fn check_pipeline(
        &self,
        plan: &CheckPlan,
        rebuild: Rebuild,
        max_jobs: Option<usize>,
        most_check_jobs: usize,
    ) -> Result<Vec<JobSpec<'a>>, String> {
        let mut specs = vec![
            self.plan_job(plan.text(), 0),
            self.files_job(
                "layer-check",
                LAYER_CHECK_JOB,
                Stage::Check,
                Some(vec![PLAN_JOB.to_string()]),
                rebuild,
            ),
        ];
        let checked: Vec<(&CheckedImage, &PlannedUpdateCheck)> = plan
            .images
            .iter()
            .filter_map(|image| Some((image, image.update_check.as_ref()?)))
            .collect();
        let fixed = fixed_check_jobs(&rebuild);
        let batched = match max_jobs {
            Some(max_jobs) => batches(checked.len(), fixed, max_jobs, most_check_jobs)?,
            None => None,
        };
        match batched {
            None => {
                for (image, check) in checked {
                    specs.push(self.update_check_job(image, check, rebuild));
                }
            }
            Some(sizes) => {
                let mut rest = checked.as_slice();
                for (number, size) in (1..).zip(sizes) {
                    let (batch, after) = rest.split_at(size);
                    specs.push(self.update_check_batch_job(number, batch, rebuild));
                    rest = after;
                }
            }
        }
        specs.push(self.files_job("evaluate", EVALUATE_JOB, Stage::Evaluate, None, rebuild));
        let triggers = match rebuild {
            Rebuild::Single => vec![self.rebuild_trigger(
                REBUILD_JOB.into(),
                REBUILD_PIPELINE.into(),
                &[],
                rebuild,
            )],
            Rebuild::Sharded { layout, .. } => layout
                .iter()
                .zip(1..)
                .map(|(shard, number)| {
                    let after: Vec<String> = shard
                        .after
                        .iter()
                        .map(|j| rebuild_shard_job_name(j + 1))
                        .collect();
                    self.rebuild_trigger(
                        rebuild_shard_job_name(number),
                        rebuild_shard_pipeline(number),
                        &after,
                        rebuild,
                    )
                })
                .collect(),
        };
        specs.extend(triggers);
        // No `needs`: the verdict's stage comes after the rebuild's, so stage order starts it
        // after every trigger job (`when: always`: also when the rebuild failed), however many
        // shards there are — `needs` would allow at most 49. Its template takes the artifacts of
        // `evaluate` alone (`dependencies`).
        specs.push(self.files_job("verdict", VERDICT_JOB, Stage::Verdict, None, rebuild));
        Ok(specs)
    }

    /// The trigger job `name` of the rebuild pipeline `artifact` that `evaluate` writes, after
    /// `evaluate` and the trigger jobs `after` (the shards of its images' parents).
    fn rebuild_trigger(
        &self,
        name: String,
        artifact: String,
        after: &[String],
        rebuild: Rebuild,
    ) -> JobSpec<'a> {
        let needs = std::iter::once(EVALUATE_JOB.to_string())
            .chain(after.iter().cloned())
            .collect();
        let mut spec = self.files_job("trigger", &name, Stage::Rebuild, Some(needs), rebuild);
        spec.vars.trigger = Some(Box::new(TriggerVars {
            artifact,
            job: EVALUATE_JOB.into(),
        }));
        spec
    }

    fn update_check_job(
        &self,
        checked: &CheckedImage,
        check: &PlannedUpdateCheck,
        rebuild: Rebuild,
    ) -> JobSpec<'a> {
        let id = &checked.image.id;
        let needs = Some(vec![LAYER_CHECK_JOB.to_string()]);
        let name = update_check_job_name(id);
        let mut spec = self.files_job("update-check", &name, Stage::Check, needs, rebuild);
        spec.vars.image = Some(Box::new(
            self.image_vars(checked.image, checked.parent.as_deref()),
        ));
        spec.vars.check = Some(Box::new(self.check_vars(id, check)));
        spec
    }

    /// One job checking `batch`'s images one after another, in the buildah image.
    fn update_check_batch_job(
        &self,
        number: usize,
        batch: &[(&CheckedImage, &PlannedUpdateCheck)],
        rebuild: Rebuild,
    ) -> JobSpec<'a> {
        let needs = Some(vec![LAYER_CHECK_JOB.to_string()]);
        let name = update_check_batch_job_name(number);
        let mut spec = self.files_job("update-check-batch", &name, Stage::Check, needs, rebuild);
        spec.vars.logins = Some(self.logins(batch.iter().map(|(_, check)| &check.runs_in)));
        spec.vars.batch = Some(
            batch
                .iter()
                .map(|(image, check)| BatchCheck {
                    image_id: image.image.id.clone(),
                    check: self.check_vars(&image.image.id, check),
                })
                .collect(),
        );
        spec
    }

    fn check_vars(&self, id: &str, check: &PlannedUpdateCheck) -> CheckVars {
        CheckVars {
            image: self.reference_vars(&check.runs_in),
            command: check.command.clone(),
            result_file: format!("{RESULTS_DIR}/{UPDATE_CHECK_DIR}/{id}.result"),
            error_file: format!("{RESULTS_DIR}/{UPDATE_CHECK_DIR}/{id}.error"),
        }
    }

    /// A job that reads or writes the results directory.
    fn files_job(
        &self,
        kind: &'static str,
        name: &str,
        stage: Stage,
        needs: Option<Vec<String>>,
        rebuild: Rebuild,
    ) -> JobSpec<'a> {
        let mut spec = self.spec(kind, name.to_string(), stage, needs);
        let mut files = Files::new();
        if let Rebuild::Sharded { layout_file, .. } = rebuild {
            files.shard_rebuild(layout_file);
        }
        spec.vars.files = Some(Box::new(files));
        spec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_are_batched_only_when_one_job_each_does_not_fit() {
        let all = usize::MAX;
        assert_eq!(batches(3, 5, 8, all), Ok(None));
        // 4 fixed jobs + 2 triggers, 8 jobs: room for 2 batches.
        assert_eq!(batches(3, 6, 8, all), Ok(Some(vec![2, 1])));
        assert_eq!(batches(10, 6, 9, all), Ok(Some(vec![4, 3, 3])));
        // 1,000 checks in 495 slots: at most 3 per batch, 334 batches.
        let sizes = batches(1000, 5, 500, all).unwrap().unwrap();
        assert_eq!(sizes.len(), 334);
        assert_eq!(sizes.iter().sum::<usize>(), 1000);
        assert!(sizes.windows(2).all(|w| w[0] >= w[1] && w[0] - w[1] <= 1));
        assert!(batches(3, 8, 8, all).unwrap_err().contains("leave no room"));
        // Fewer check jobs than the job limit allows, for a smaller file.
        assert_eq!(batches(3, 5, 8, 2), Ok(Some(vec![2, 1])));
        assert_eq!(batches(10, 5, 500, 3), Ok(Some(vec![4, 3, 3])));
    }
}
