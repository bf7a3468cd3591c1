//! The pipeline files of a plan within GitLab's limits (jobs per pipeline, bytes per file):
//! one pipeline when it fits, else a dispatcher and its shards (docs/design.md, "Pipelines
//! inside GitLab's limits"). Each file is one pipeline spec rendered by [`super::render`]; only
//! the split into specs and the dispatcher's carrying of the shard files are decided here.

use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

use crate::config::Config;
use crate::environment::{RunKind, Settings};
use crate::error::Error;
use crate::gitlab::{Job, PipelineLimits};
use crate::jobs;
use crate::jobs::shards::{self, SHARDS_JOB, ShardFiles};
use crate::plan::Plan;
use crate::render::Templates;

/// One generated pipeline file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineFile {
    pub path: PathBuf,
    pub text: String,
    pub jobs: usize,
    /// What the file is, for the report (empty for a pipeline that is not sharded).
    pub role: String,
}

/// The report of the files: one line per pipeline, e.g.
/// `pipeline 2 of 3 (gipgee-pipeline-shard-1.yml, shard 1): 8 jobs, 5 KiB`.
pub fn report(files: &[PipelineFile], limits: &PipelineLimits) -> String {
    let mut text = String::new();
    for (i, file) in files.iter().enumerate() {
        let role = match file.role.is_empty() {
            true => String::new(),
            false => format!(", {}", file.role),
        };
        text.push_str(&format!(
            "pipeline {} of {} ({}{role}): {} job{}, {} KiB\n",
            i + 1,
            files.len(),
            file.path.display(),
            file.jobs,
            if file.jobs == 1 { "" } else { "s" },
            file.text.len().div_ceil(1024)
        ));
    }
    text.push_str(&format!(
        "limits: {} jobs per pipeline (GIPGEE_MAX_JOBS), {} bytes per file (GIPGEE_MAX_YAML_BYTES)\n",
        limits.max_jobs, limits.max_yaml_bytes
    ));
    text
}

/// The pipeline files of `plan`, the first written to `output`: the pipeline itself when it
/// fits the limits; for a build pipeline that does not, a dispatcher and its shards. An error
/// when no layout fits (a rebuild is sharded only by the layout the update check made).
pub fn generate(
    config: &Config,
    settings: &Settings,
    plan: &Plan,
    templates: &Templates,
    output: &Path,
) -> Result<Vec<PipelineFile>, Error> {
    let limits = settings.limits;
    let spec = jobs::pipeline_spec(config, settings, plan);
    let jobs = spec.jobs.len();
    // Over the job limit the pipeline is sharded whatever its size: writing it whole would only
    // measure it, at the cost of writing every job twice.
    let mut bytes = None;
    if jobs <= limits.max_jobs {
        let text = super::write(&spec, templates, |_| {})?;
        if limits.fit(jobs, text.len()) {
            return Ok(vec![PipelineFile {
                path: output.to_path_buf(),
                text,
                jobs,
                role: String::new(),
            }]);
        }
        bytes = Some(text.len());
    }
    let over = over_limits(jobs, bytes, &limits);
    let build = match plan {
        Plan::Build(build) if !matches!(build.run.kind, RunKind::Rebuild { .. }) => build,
        Plan::Build(_) => return Err(not_sharded("rebuild", &over)),
        Plan::Check(_) => return Err(not_sharded("update-check", &over)),
    };
    let plan_text = build.text();
    let mut max_jobs = limits.max_jobs;
    // The first layout splits the specs made above; a smaller layout needs them again.
    let mut made = Some(spec);
    loop {
        let spec = made
            .take()
            .unwrap_or_else(|| jobs::pipeline_spec(config, settings, plan));
        let mut layout = shards::layout(&shards::items(&spec), max_jobs).map_err(|problem| {
            let reduced = match max_jobs < limits.max_jobs {
                true => format!(
                    " (shards of at most {max_jobs} jobs, to keep each file within {} bytes)",
                    limits.max_yaml_bytes
                ),
                false => String::new(),
            };
            no_layout(&over, &format!("{problem}{reduced}"))
        })?;
        if settings.sequential_shards {
            shards::in_sequence(&mut layout);
        }
        if layout.len() + 1 > limits.max_jobs {
            return Err(no_layout(
                &over,
                &format!(
                    "{} shards need a dispatcher of {} jobs, more than the limit of {}",
                    layout.len(),
                    layout.len() + 1,
                    limits.max_jobs
                ),
            ));
        }
        let paths: Vec<PathBuf> = (1..=layout.len()).map(|k| shard_path(output, k)).collect();
        let artifacts: Vec<String> = paths.iter().map(|p| artifact_name(p)).collect();
        let files = ShardFiles {
            plan_text,
            files: &artifacts,
            reason: &over,
        };
        let run = plan.run();
        let specs = shards::split(config, settings, run, spec, &layout, files);
        let mut rendered = Vec::new();
        for ((spec, path), shard) in specs.shards.iter().zip(&paths).zip(1..) {
            let text = super::write(spec, templates, |_| {})?;
            rendered.push(PipelineFile {
                path: path.clone(),
                jobs: spec.jobs.len(),
                role: format!("shard {shard}"),
                text,
            });
        }
        let largest = rendered.iter().max_by_key(|file| file.text.len());
        if let Some(largest) = largest.filter(|f| f.text.len() > limits.max_yaml_bytes) {
            max_jobs = fewer_jobs(largest, max_jobs, &limits).map_err(|p| no_layout(&over, &p))?;
            continue;
        }
        let carrier = Carrier {
            job: SHARDS_JOB,
            pipeline_id: run.pipeline_id.clone(),
            generate_job: settings.generate_job.clone(),
            files: artifacts.clone(),
        };
        let dispatcher = super::write(&specs.dispatcher, templates, |job| carrier.adjust(job))?;
        if dispatcher.len() > limits.max_yaml_bytes {
            // One line per shard: only very many shards get here.
            return Err(no_layout(
                &over,
                &format!(
                    "the dispatcher that starts the {} shards would be {} bytes",
                    rendered.len(),
                    dispatcher.len()
                ),
            ));
        }
        let mut files = vec![PipelineFile {
            path: output.to_path_buf(),
            jobs: specs.dispatcher.jobs.len(),
            role: format!("starts the {} shards", rendered.len()),
            text: dispatcher,
        }];
        files.extend(rendered);
        return Ok(files);
    }
}

/// The jobs per shard of the next layout when `largest` is over the YAML budget: fewer, in
/// proportion to how far it is over; an error when that leaves no room for an image.
pub(super) fn fewer_jobs(
    largest: &PipelineFile,
    max_jobs: usize,
    limits: &PipelineLimits,
) -> Result<usize, String> {
    let fitting = largest.jobs * limits.max_yaml_bytes / largest.text.len();
    let next = fitting.min(max_jobs - 1);
    match next >= 2 {
        true => Ok(next),
        false => Err(format!(
            "{} ({} jobs) is {} bytes, over {} bytes, and a shard of fewer jobs has no room for an image's jobs",
            largest.role,
            largest.jobs,
            largest.text.len(),
            limits.max_yaml_bytes
        )),
    }
}

/// One pipeline that must fit the limits as it is: the rebuild pipeline `evaluate` writes,
/// which is already the deepest level GitLab allows.
pub fn generate_single(
    config: &Config,
    settings: &Settings,
    plan: &Plan,
    templates: &Templates,
) -> Result<String, Error> {
    let spec = jobs::pipeline_spec(config, settings, plan);
    let text = super::write(&spec, templates, |_| {})?;
    match settings.limits.fit(spec.jobs.len(), text.len()) {
        true => Ok(text),
        false => Err(not_sharded(
            "rebuild",
            &over_limits(spec.jobs.len(), Some(text.len()), &settings.limits),
        )),
    }
}

/// The dispatcher's `gipgee:shards` job downloads the shard files from the generate job of the
/// parent pipeline and keeps them as its artifacts, which the shards' trigger jobs include
/// (GitLab includes an artifact only of a job in the trigger job's own pipeline); so does the
/// `gipgee:plan` job of an update-check pipeline with the rebuild layout, for `evaluate`.
pub(super) struct Carrier {
    pub(super) job: &'static str,
    pub(super) pipeline_id: String,
    pub(super) generate_job: String,
    pub(super) files: Vec<String>,
}

impl Carrier {
    pub(super) fn adjust(&self, job: &mut Job) {
        if job.name != self.job {
            return;
        }
        job.needs = None;
        let need: Mapping = [
            ("pipeline", Value::from(self.pipeline_id.as_str())),
            ("job", Value::from(self.generate_job.as_str())),
        ]
        .into_iter()
        .map(|(k, v)| (Value::from(k), v))
        .collect();
        job.body
            .insert("needs".into(), Value::Sequence(vec![Value::Mapping(need)]));
        let paths = self.files.iter().map(|f| Value::from(f.as_str())).collect();
        let artifacts: Mapping = [
            ("paths", Value::Sequence(paths)),
            ("expire_in", Value::from("30 days")),
        ]
        .into_iter()
        .map(|(k, v)| (Value::from(k), v))
        .collect();
        job.body
            .insert("artifacts".into(), Value::Mapping(artifacts));
    }
}

/// `gipgee-pipeline.yml` → `gipgee-pipeline-shard-<k>.yml`, next to it.
pub fn shard_path(output: &Path, number: usize) -> PathBuf {
    let stem = output
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "gipgee-pipeline".into());
    let name = match output.extension() {
        Some(ext) => format!("{stem}-shard-{number}.{}", ext.to_string_lossy()),
        None => format!("{stem}-shard-{number}"),
    };
    output.with_file_name(name)
}

/// How a trigger job names a shard file: as written, relative to the project directory; an
/// absolute output (only tests write one) by its file name.
pub(super) fn artifact_name(path: &Path) -> String {
    match path.is_absolute() {
        true => path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default(),
        false => path.display().to_string(),
    }
}

/// Why a pipeline of `jobs` jobs and `bytes` bytes (when measured) does not fit `limits`.
pub(super) fn over_limits(jobs: usize, bytes: Option<usize>, limits: &PipelineLimits) -> String {
    let mut over = Vec::new();
    if jobs > limits.max_jobs {
        over.push(format!(
            "{jobs} jobs, over the limit of {} jobs per pipeline",
            limits.max_jobs
        ));
    }
    if let Some(bytes) = bytes.filter(|&bytes| bytes > limits.max_yaml_bytes) {
        over.push(format!(
            "{bytes} bytes, over the limit of {} bytes per file",
            limits.max_yaml_bytes
        ));
    }
    format!("as one pipeline it would have {}", over.join(" and "))
}

fn no_layout(over: &str, problem: &str) -> Error {
    Error::User(format!(
        "the build pipeline fits GitLab's limits in no layout: {over}, and {problem}. Raise GIPGEE_MAX_JOBS or GIPGEE_MAX_YAML_BYTES (component inputs `max_jobs`, `max_yaml_bytes`) if your GitLab allows more"
    ))
}

fn not_sharded(pipeline: &str, over: &str) -> Error {
    Error::User(format!(
        "the {pipeline} pipeline does not fit GitLab's limits: {over}; it is split into shards only as the update check laid it out (`gipgee generate` of the update-check pipeline writes the layout, `gipgee evaluate --rebuild-layout` follows it; docs/design.md). Raise GIPGEE_MAX_JOBS or GIPGEE_MAX_YAML_BYTES (component inputs `max_jobs`, `max_yaml_bytes`) if your GitLab allows more"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_files_lie_next_to_the_output() {
        assert_eq!(
            shard_path(Path::new("gipgee-pipeline.yml"), 2),
            PathBuf::from("gipgee-pipeline-shard-2.yml")
        );
        assert_eq!(
            shard_path(Path::new("out/p.yaml"), 1),
            PathBuf::from("out/p-shard-1.yaml")
        );
        assert_eq!(
            artifact_name(Path::new("out/p-shard-1.yaml")),
            "out/p-shard-1.yaml"
        );
        assert_eq!(
            artifact_name(Path::new("/tmp/x/p-shard-1.yml")),
            "p-shard-1.yml"
        );
    }

    #[test]
    fn a_shard_over_the_budget_makes_the_next_layout_smaller_in_proportion() {
        let file = |jobs: usize, bytes: usize| PipelineFile {
            path: PathBuf::from("p-shard-1.yml"),
            text: "x".repeat(bytes),
            jobs,
            role: "shard 1".into(),
        };
        let limits = PipelineLimits {
            max_jobs: 500,
            max_yaml_bytes: 1000,
        };
        // Twice the budget: half the jobs.
        assert_eq!(fewer_jobs(&file(100, 2000), 500, &limits), Ok(50));
        // Only just over: at least one job fewer than before.
        assert_eq!(fewer_jobs(&file(100, 1001), 100, &limits), Ok(99));
        let err = fewer_jobs(&file(2, 5000), 2, &limits).unwrap_err();
        assert_eq!(
            err,
            "shard 1 (2 jobs) is 5000 bytes, over 1000 bytes, and a shard of fewer jobs has no room for an image's jobs"
        );
    }
}
