//! The `evaluate` command: the update check's results → a verdict per image, the report, and
//! the rebuild pipeline of the stale images (and every image built on them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::checks;
use crate::config::Config;
use crate::environment::{PipelineRun, Settings};
use crate::error::Error;
use crate::jobs::shards::Shard;
use crate::output::write_file;
use crate::pipeline;
use crate::plan::{self, Plan};
use crate::render::Templates;
use crate::results::{ERRORS_FILE, SUMMARY_FILE, Summary};

/// What `gipgee evaluate` produces.
pub struct Evaluation {
    pub report: String,
    pub junit: String,
    /// The rebuild pipelines (path and text: one, or one per shard), or why they could not be
    /// made (also recorded as an error).
    pub rebuild_pipelines: Result<Vec<(PathBuf, String)>, Error>,
}

/// Where the rebuild pipelines go: `output`, or with a layout one file per shard next to it.
pub struct RebuildFiles<'p> {
    pub output: &'p Path,
    pub layout: Option<&'p Path>,
}

/// Reads the update-check results, decides, and makes the rebuild pipeline: the stale images
/// plus every image built on them, released, starting automatically. Nothing stale gives a
/// rebuild pipeline with only its plan job, which says so. Also leaves the error list and a
/// summary in the results directory for the verdict job.
pub fn evaluate(
    config: &Config,
    settings: &Settings,
    run: &PipelineRun,
    results: &Path,
    templates: &Templates,
    files: RebuildFiles,
) -> Result<Evaluation, Error> {
    let verdicts = checks::evaluate::read_results(config, results);
    let stale: BTreeMap<String, String> = verdicts
        .iter()
        .filter(|(_, v)| v.is_stale())
        .map(|(id, v)| (id.clone(), v.stale_reason()))
        .collect();
    let mut errors: Vec<String> = verdicts
        .iter()
        .flat_map(|(id, v)| v.errors().into_iter().map(move |e| format!("{id}: {e}")))
        .collect();
    let plan = plan::rebuild(config, run, &stale)?;
    let rebuilt: Vec<String> = plan.built().map(|p| p.image.id.clone()).collect();
    // Render last: the report, the JUnit file and the verdict's files must exist even when
    // a (custom) template fails, so the stale images found are never lost.
    let mut rebuild_pipeline =
        rebuild_pipelines(config, settings, &Plan::Build(plan), templates, &files);
    if let Err(err) = &rebuild_pipeline {
        errors.push(format!(
            "the rebuild pipeline could not be generated: {}",
            err.to_string().trim()
        ));
    }
    let errors_text: String = errors.iter().map(|e| format!("{e}\n")).collect();
    let summary = Summary {
        pipeline_id: run.pipeline_id.clone(),
        stale,
        rebuilt,
        errors,
    };
    // The summary last: it says that evaluate finished.
    let written = write_file(&results.join(ERRORS_FILE), &errors_text)
        .and_then(|()| write_file(&results.join(SUMMARY_FILE), &summary.to_json()));
    if let Err(err) = written {
        rebuild_pipeline = Err(err);
    }
    Ok(Evaluation {
        report: checks::evaluate::report(&verdicts),
        junit: checks::evaluate::junit(&verdicts),
        rebuild_pipelines: rebuild_pipeline,
    })
}

/// The rebuild pipeline of `plan`, or with a layout the rebuild pipeline of each of its shards.
fn rebuild_pipelines(
    config: &Config,
    settings: &Settings,
    plan: &Plan,
    templates: &Templates,
    files: &RebuildFiles,
) -> Result<Vec<(PathBuf, String)>, Error> {
    let Some(layout_path) = files.layout else {
        let text = pipeline::sharded::generate_single(config, settings, plan, templates)?;
        return Ok(vec![(files.output.to_path_buf(), text)]);
    };
    let text = crate::config::read_input_file(layout_path)?;
    let layout: Vec<Shard> = serde_json::from_str(&text).map_err(|err| {
        Error::User(format!(
            "{}: not a rebuild layout written by `gipgee generate`: {err}",
            layout_path.display()
        ))
    })?;
    pipeline::scheduled::rebuild_pipelines(config, settings, plan, templates, &layout, files.output)
}
