//! The `plan` and `generate` commands end to end: configuration and environment → context →
//! selection → plan → jobs → pipeline YAML. Each step lives in its own module; this one
//! only wires them in order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::changes::{self, ChangeBase, Changes};
use crate::checks;
use crate::config::{self, Config, MissingVariables};
use crate::context::{Context, Mode, Trigger};
use crate::error::{Diagnostic, Error, Position, SourceDiagnostics, suggest};
use crate::graph::Graph;
use crate::jobs::JobBuilder;
use crate::plan::Plan;
use crate::render::Templates;
use crate::results::{ERRORS_FILE, SUMMARY_FILE};
use crate::selection::{self, Wanted};
use crate::vars::Vars;

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct Request {
    pub config: PathBuf,
    pub mode: Mode,
    pub selection: Option<PathBuf>,
    /// The git work tree (the directory gipgee runs in).
    pub repo: PathBuf,
    /// `generate` needs every variable; `plan` on a laptop tolerates unset ones.
    pub missing_variables: MissingVariables,
}

/// Resolves the configuration and decides what this pipeline run builds. `log` receives
/// progress lines (git fetches) for the job log.
pub fn make_plan(
    request: &Request,
    vars: &Vars,
    log: &mut dyn FnMut(&str),
) -> Result<(Config, Plan), Error> {
    let config = config::load(&request.config, vars, request.missing_variables)?;
    let graph = Graph::new(&config)?;
    let context = Context::detect(vars, request.mode);
    if request.selection.is_some() && !matches!(context.trigger, Trigger::Rebuild { .. }) {
        return Err(Error::User(
            "`--selection` is only used with `--mode rebuild`".into(),
        ));
    }
    let mut warnings = Vec::new();
    let mut changes_since = |base: ChangeBase| {
        let changes = changes::changed_files(&request.repo, &context.commit_sha, &base, log);
        if let Changes::All {
            reason,
            warning: true,
        } = &changes
        {
            warnings.push(format!("{reason}; building all images to be safe"));
        }
        Wanted::Changes(changes)
    };
    let wanted = match &context.trigger {
        Trigger::Schedule => Wanted::Nothing("checked by the scheduled update check".into()),
        Trigger::Rebuild { .. } => {
            let Some(path) = &request.selection else {
                return Err(Error::User(
                    "`--mode rebuild` needs `--selection FILE` (written by the update check)"
                        .into(),
                ));
            };
            Wanted::Selection(read_selection(path, &config)?)
        }
        Trigger::ManualDefault { source } => {
            Wanted::All(format!("the default branch was started by `{source}`"))
        }
        Trigger::Tag { tag } => Wanted::Nothing(format!(
            "tag pipeline (`{tag}`): images are built from branches"
        )),
        Trigger::Unsupported { source } => {
            Wanted::Nothing(format!("pipeline source `{source}` builds nothing"))
        }
        Trigger::PushDefault { before_sha } => {
            changes_since(ChangeBase::BeforeSha(before_sha.clone()))
        }
        Trigger::PushBranch { default_branch, .. } | Trigger::Local { default_branch } => {
            changes_since(ChangeBase::MergeBaseWith(default_branch.clone()))
        }
        Trigger::MergeRequest { diff_base_sha } => {
            changes_since(ChangeBase::DiffBaseSha(diff_base_sha.clone()))
        }
    };
    let decisions = selection::select(&config, &graph, &wanted);
    let plan = Plan::new(&config, &graph, context, &decisions, warnings)?;
    Ok((config, plan))
}

/// The pipeline YAML for a plan.
pub fn render_pipeline(
    config: &Config,
    config_path: &Path,
    plan: &Plan,
    templates: &Templates,
    vars: &Vars,
) -> Result<String, Error> {
    let builder = JobBuilder::new(config, config_path, plan, templates, vars);
    crate::pipeline::assemble(builder.stages(), builder.hidden_jobs()?, builder.jobs()?)
}

/// The rebuild selection: `{"images": {"<id>": "<why>"}}`. Unknown ids are errors (with a
/// suggestion), so a stale selection never silently rebuilds nothing.
fn read_selection(path: &Path, config: &Config) -> Result<BTreeMap<String, String>, Error> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SelectionFile {
        images: BTreeMap<String, String>,
    }
    let source =
        std::fs::read_to_string(path).map_err(|err| Error::io("read selection", path, err))?;
    let invalid = |diagnostics: Vec<Diagnostic>| {
        Error::Invalid(SourceDiagnostics {
            file: path.to_path_buf(),
            source: source.clone(),
            diagnostics,
        })
    };
    let file: SelectionFile = serde_json::from_str(&source).map_err(|err| {
        let position = Position { line: err.line(), col: err.column() };
        invalid(vec![Diagnostic::at(position, format!("invalid selection file: {err}; expected {{\"images\": {{\"<image id>\": \"<reason>\"}}}}"))])
    })?;
    let unknown: Vec<Diagnostic> = file
        .images
        .keys()
        .filter(|id| !config.images.contains_key(*id))
        .map(|id| {
            let diag = Diagnostic::unplaced(format!("unknown image id `{id}` in the selection"));
            match suggest(id, config.images.keys().map(String::as_str)) {
                Some(s) => diag.with_help(format!("did you mean `{s}`?")),
                None => diag,
            }
        })
        .collect();
    match unknown.is_empty() {
        true => Ok(file.images),
        false => Err(invalid(unknown)),
    }
}

/// What `gipgee evaluate` produces.
pub struct Evaluation {
    pub report: String,
    pub junit: String,
    /// The rebuild pipeline, or why it could not be made (also recorded as an error).
    pub rebuild_pipeline: Result<String, Error>,
}

/// Reads the update-check results, decides, and makes the rebuild pipeline: the stale images
/// plus every image built on them, released, starting automatically. Nothing stale gives a
/// rebuild pipeline with only its plan job, which says so. Also leaves the error list and a
/// summary in the results directory for the verdict job.
pub fn evaluate(
    config_path: &Path,
    results: &Path,
    vars: &Vars,
    templates: &Templates,
) -> Result<Evaluation, Error> {
    let config = config::load(config_path, vars, MissingVariables::Error)?;
    let graph = Graph::new(&config)?;
    let verdicts = checks::evaluate::read_results(&config, results)?;
    let stale: BTreeMap<String, String> = verdicts
        .iter()
        .filter(|(_, v)| v.is_stale())
        .map(|(id, v)| (id.clone(), v.stale_reason()))
        .collect();
    let mut errors: Vec<String> = verdicts
        .iter()
        .flat_map(|(id, v)| v.errors().into_iter().map(move |e| format!("{id}: {e}")))
        .collect();
    let wanted = match stale.is_empty() {
        true => Wanted::Nothing("no image is stale".into()),
        false => Wanted::Selection(stale.clone()),
    };
    let context = Context::detect(vars, Mode::Rebuild);
    let decisions = selection::select(&config, &graph, &wanted);
    let plan = Plan::new(&config, &graph, context, &decisions, Vec::new())?;
    let rebuilt: Vec<String> = plan.built().map(|p| p.image.id.clone()).collect();
    // Render last: the report, the JUnit file and the verdict's files must exist even when
    // a (custom) template fails, so the stale images found are never lost.
    let mut rebuild_pipeline = render_pipeline(&config, config_path, &plan, templates, vars);
    if let Err(err) = &rebuild_pipeline {
        errors.push(format!(
            "the rebuild pipeline could not be generated: {}",
            err.to_string().trim()
        ));
    }
    let summary = serde_json::json!({"stale": stale, "rebuilt": rebuilt, "errors": errors});
    let errors_text: String = errors.iter().map(|e| format!("{e}\n")).collect();
    let written = write_file(&results.join(SUMMARY_FILE), &summary.to_string())
        .and_then(|()| write_file(&results.join(ERRORS_FILE), &errors_text));
    if let Err(err) = written {
        rebuild_pipeline = Err(err);
    }
    Ok(Evaluation {
        report: checks::evaluate::report(&verdicts),
        junit: checks::evaluate::junit(&verdicts),
        rebuild_pipeline,
    })
}

/// Writes a file, creating its directory.
pub fn write_file(path: &Path, text: &str) -> Result<(), Error> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|err| Error::io("create", dir, err))?;
    }
    std::fs::write(path, text).map_err(|err| Error::io("write", path, err))
}
