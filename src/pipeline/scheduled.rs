//! The files of the scheduled update check within GitLab's limits (docs/design.md, "Sharded
//! scheduled pipelines"). The update check already uses both child levels (parent →
//! update-check → rebuild), so nothing of it is split into pipelines below it: its update
//! checks are batched into fewer jobs, and the rebuild is split into shards that are all
//! children of the update-check pipeline. `generate` lays out the rebuild of *every* image
//! (the most any run can rebuild) and writes one trigger job per shard and the layout as a file;
//! `evaluate` keeps each image it rebuilds in the shard that layout gave it and writes a
//! rebuild pipeline per shard.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::sharded::{
    Carrier, PipelineFile, artifact_name, fewer_jobs, generate_single, over_limits,
};
use crate::config::Config;
use crate::environment::{PipelineRun, RunKind, Settings};
use crate::error::Error;
use crate::jobs::shards::{self, Shard, ShardFiles};
use crate::jobs::{self, PLAN_JOB, Rebuild};
use crate::plan::{self, CheckPlan, Plan};
use crate::render::Templates;
use crate::results::{REBUILD_LAYOUT, rebuild_shard_pipeline};

/// The files `generate` writes for an update check.
pub struct Scheduled {
    /// The update-check pipeline.
    pub pipeline: PipelineFile,
    /// The layout of a sharded rebuild, for `evaluate`: none when the rebuild of every image
    /// fits one pipeline.
    pub rebuild_layout: Option<LayoutFile>,
}

/// The rebuild layout as written next to the update-check pipeline.
pub struct LayoutFile {
    pub path: PathBuf,
    pub text: String,
    pub shards: usize,
}

impl Scheduled {
    /// What `generate` and `plan` report besides the pipeline: the rebuild's shards.
    pub fn report(&self) -> String {
        match &self.rebuild_layout {
            None => String::new(),
            Some(layout) => format!(
                "the rebuild of every image does not fit one pipeline: it is laid out in {} shards ({}), each a rebuild pipeline `evaluate` writes (gipgee-rebuild-<k>.yml) and `rebuild:<k>` starts\n",
                layout.shards,
                layout.path.display()
            ),
        }
    }
}

/// The update-check pipeline of `plan` within the limits, written to `output`, and the
/// rebuild layout next to it when the rebuild must be sharded. An error when no layout fits.
pub fn generate(
    config: &Config,
    settings: &Settings,
    plan: &CheckPlan,
    templates: &Templates,
    output: &Path,
) -> Result<Scheduled, Error> {
    let layout = rebuild_layout(config, settings, &plan.run, templates)?;
    let layout_path = output.with_file_name(REBUILD_LAYOUT);
    let layout_name = artifact_name(&layout_path);
    let rebuild = match &layout {
        None => Rebuild::Single,
        Some(layout) => Rebuild::Sharded {
            layout,
            layout_file: &layout_name,
        },
    };
    // `evaluate` reads the layout of the generate job: the plan job brings it into the
    // update-check pipeline, whose later jobs get it through stage order.
    let carrier = layout.as_ref().map(|_| Carrier {
        job: PLAN_JOB,
        pipeline_id: plan.run.pipeline_id.clone(),
        generate_job: settings.generate_job.clone(),
        files: vec![layout_name.clone()],
    });
    let limits = settings.limits;
    let mut most_check_jobs = usize::MAX;
    let mut previous: Option<(usize, usize)> = None;
    let (text, jobs) = loop {
        let spec = jobs::check_pipeline_spec(config, settings, plan, rebuild, most_check_jobs)
            .map_err(|problem| does_not_fit(&format!("the update-check pipeline: {problem}")))?;
        let text = super::write(&spec, templates, |job| {
            if let Some(carrier) = &carrier {
                carrier.adjust(job);
            }
        })?;
        let jobs = spec.jobs.len();
        if limits.fit(jobs, text.len()) {
            break (text, jobs);
        }
        // Over the YAML budget: each check job has lines of its own (its needs, its name), so
        // fewer batches (of more images each) make a smaller file.
        let check_jobs = spec
            .jobs
            .iter()
            .filter(|job| CHECK_KINDS.contains(&job.kind))
            .count();
        if jobs > limits.max_jobs || check_jobs <= 1 {
            return Err(does_not_fit(&format!(
                "the update-check pipeline: {}",
                over_limits(jobs, Some(text.len()), &limits)
            )));
        }
        most_check_jobs =
            fewer_check_jobs((check_jobs, text.len()), previous, limits.max_yaml_bytes);
        previous = Some((check_jobs, text.len()));
    };
    let rebuild_layout = layout.map(|layout| LayoutFile {
        path: layout_path,
        // A list of shards always serializes.
        text: serde_json::to_string_pretty(&layout).unwrap_or_default() + "\n",
        shards: layout.len(),
    });
    Ok(Scheduled {
        pipeline: PipelineFile {
            path: output.to_path_buf(),
            text,
            jobs,
            role: String::new(),
        },
        rebuild_layout,
    })
}

/// The layout of the rebuild of every image, with what the rebuild pipelines `evaluate` writes
/// would hold (every image released: the most jobs); none when it fits one pipeline. Laid out
/// by job count, then made again with fewer jobs per shard while a shard's file is over the
/// YAML budget.
fn rebuild_layout(
    config: &Config,
    settings: &Settings,
    run: &PipelineRun,
    templates: &Templates,
) -> Result<Option<Vec<Shard>>, Error> {
    let limits = settings.limits;
    let every_image: BTreeMap<String, String> = config
        .images
        .keys()
        .map(|id| (id.clone(), "laid out for the rebuild".to_string()))
        .collect();
    let run = PipelineRun {
        kind: RunKind::Rebuild {
            on_default_branch: true,
        },
        ..run.clone()
    };
    let plan = Plan::Build(plan::rebuild(config, &run, &every_image)?);
    let single = generate_single(config, settings, &plan, templates);
    if single.is_ok() {
        return Ok(None);
    }
    let mut max_jobs = limits.max_jobs;
    loop {
        let spec = jobs::pipeline_spec(config, settings, &plan);
        let mut layout = shards::layout(&shards::items(&spec), max_jobs)
            .map_err(|problem| does_not_fit(&format!("the rebuild of every image: {problem}")))?;
        let files = shard_pipelines(config, settings, &plan, templates, &layout)?;
        let largest = files.iter().max_by_key(|file| file.text.len());
        if let Some(largest) = largest.filter(|f| f.text.len() > limits.max_yaml_bytes) {
            max_jobs = fewer_jobs(largest, max_jobs, &limits).map_err(|problem| {
                does_not_fit(&format!("the rebuild of every image: {problem}"))
            })?;
            continue;
        }
        if settings.sequential_shards {
            shards::in_sequence(&mut layout);
        }
        return Ok(Some(layout));
    }
}

/// The rebuild pipelines `evaluate` writes for `plan` (the stale images and every image built
/// on them) in the shards of `layout`, the layout `generate` made for the rebuild of every
/// image: one file per shard, next to `output`, each with the shard's images of the plan, or
/// only its plan job when none of them is rebuilt.
pub fn rebuild_pipelines(
    config: &Config,
    settings: &Settings,
    plan: &Plan,
    templates: &Templates,
    layout: &[Shard],
    output: &Path,
) -> Result<Vec<(PathBuf, String)>, Error> {
    let files = shard_pipelines(config, settings, plan, templates, layout)?;
    let mut written = Vec::new();
    for file in files {
        if !settings.limits.fit(file.jobs, file.text.len()) {
            return Err(Error::User(format!(
                "the rebuild pipeline of {} does not fit GitLab's limits: {}",
                file.role,
                over_limits(file.jobs, Some(file.text.len()), &settings.limits)
            )));
        }
        written.push((output.with_file_name(&file.path), file.text));
    }
    Ok(written)
}

/// The rebuild pipeline of each shard of `layout` for `plan`, keeping each image the plan
/// builds in the shard the layout gives it (a shard's `after` unchanged: the trigger jobs
/// that start the shards are made already). Named by file name only.
fn shard_pipelines(
    config: &Config,
    settings: &Settings,
    plan: &Plan,
    templates: &Templates,
    layout: &[Shard],
) -> Result<Vec<PipelineFile>, Error> {
    let spec = jobs::pipeline_spec(config, settings, plan);
    let built: BTreeSet<String> = shards::items(&spec).into_iter().map(|i| i.id).collect();
    let laid_out: BTreeSet<&String> = layout.iter().flat_map(|s| &s.images).collect();
    if let Some(missing) = built.iter().find(|id| !laid_out.contains(id)) {
        return Err(Error::User(format!(
            "the rebuild layout (`{REBUILD_LAYOUT}`, made by the `generate` job of this schedule) has no shard for image `{missing}`: the configuration changed between `generate` and `evaluate`"
        )));
    }
    let kept: Vec<Shard> = layout
        .iter()
        .map(|shard| Shard {
            images: shard
                .images
                .iter()
                .filter(|id| built.contains(*id))
                .cloned()
                .collect(),
            jobs: shard.jobs,
            after: shard.after.clone(),
        })
        .collect();
    let names: Vec<String> = (1..=kept.len()).map(rebuild_shard_pipeline).collect();
    let plan_text = plan.text();
    let files = ShardFiles {
        plan_text,
        files: &names,
        reason: "the rebuild of every image does not fit one pipeline",
    };
    let specs = shards::split(config, settings, plan.run(), spec, &kept, files);
    let mut rendered = Vec::new();
    for ((spec, name), number) in specs.shards.iter().zip(names).zip(1..) {
        rendered.push(PipelineFile {
            text: super::write(spec, templates, |_| {})?,
            path: PathBuf::from(name),
            jobs: spec.jobs.len(),
            role: format!("shard {number}"),
        });
    }
    Ok(rendered)
}

/// The kinds of the jobs that check images: one per image, or batches.
const CHECK_KINDS: &[&str] = &["update-check", "update-check-batch"];

/// How many check jobs to try next when the update-check pipeline with `now.0` check jobs is
/// `now.1` bytes, over `budget`: from the bytes one check job costs, measured between this
/// try and the `previous` one, or in proportion to the budget on the first try. Always fewer
/// than now, at least one.
fn fewer_check_jobs(now: (usize, usize), previous: Option<(usize, usize)>, budget: usize) -> usize {
    let (jobs, bytes) = now;
    let estimate = match previous {
        Some((more_jobs, more_bytes)) if more_jobs > jobs && more_bytes > bytes => {
            let per_job = (more_bytes - bytes).div_ceil(more_jobs - jobs);
            let rest = bytes.saturating_sub(jobs * per_job);
            budget.saturating_sub(rest) / per_job
        }
        _ => jobs * budget / bytes,
    };
    estimate.clamp(1, jobs - 1)
}

fn does_not_fit(problem: &str) -> Error {
    Error::User(format!(
        "the scheduled update check fits GitLab's limits in no layout: {problem}. Raise GIPGEE_MAX_JOBS or GIPGEE_MAX_YAML_BYTES (component inputs `max_jobs`, `max_yaml_bytes`) if your GitLab allows more"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fewer_check_jobs_are_estimated_from_the_bytes_each_costs() {
        // First try: in proportion, 400 jobs of 2,000,000 bytes for 1,000,000.
        assert_eq!(fewer_check_jobs((400, 2_000_000), None, 1_000_000), 200);
        // Then from two tries: 1,000 bytes a job and 800,000 besides leave room for 200.
        let next = fewer_check_jobs((300, 1_100_000), Some((400, 1_200_000)), 1_000_000);
        assert_eq!(next, 200);
        // Always fewer than now, never none.
        assert_eq!(fewer_check_jobs((5, 1_001), None, 1_000), 4);
        assert_eq!(fewer_check_jobs((2, 10_000), None, 1_000), 1);
    }
}
