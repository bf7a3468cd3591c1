//! The command line: the only place that reads the process environment and wires the steps
//! of a command together (config + environment → plan → jobs → YAML; the checks of the
//! scheduled pipeline). Runs one command and maps the outcome to an exit code: 0 ok, 1 user
//! or configuration error (a message, never a backtrace), 2 usage, 70 a bug.

mod args;
mod evaluate;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

use crate::checks;
use crate::config::{self, Config, MissingVariables};
use crate::diagnostic::{Diagnostic, Severity};
use crate::environment::settings::RegistryLimits;
use crate::environment::{Flags, Mode, PipelineRun, RunKind, Settings, credentials};
use crate::error::Error;
use crate::output::{Input, refuse_inputs, write_file};
use crate::pipeline::{scheduled, sharded};
use crate::plan;
use crate::registry::Client;
use crate::render::{self, Templates};
use crate::revisions::RegistryRevisions;
use crate::vars::Vars;
use args::{Cli, Command, DEFAULT_OUTPUT, ModeArg, TemplatesCommand, UpdateCheckCommand};

/// Writes to stdout; a closed pipe (`gipgee plan | head`) ends the output quietly instead
/// of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// [`say!`] without the newline.
macro_rules! say_raw {
    ($($arg:tt)*) => {{
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// Parses the process arguments, runs the command, prints any error, returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return err.exit_code();
        }
    };
    let vars =
        Vars::from_pairs(std::env::vars_os().filter_map(|(name, value)| {
            Some((name.into_string().ok()?, value.into_string().ok()?))
        }));
    match run(cli.command, &vars) {
        Ok(()) => 0,
        Err(err) => {
            eprint!("{err}");
            err.exit_code()
        }
    }
}

fn run(command: Command, vars: &Vars) -> Result<(), Error> {
    match command {
        Command::Generate {
            target,
            output,
            templates,
        } => {
            let run = PipelineRun::detect(vars, mode(target.mode))?;
            let settings = settings(target.config, target.selection, templates, vars)?;
            refuse_inputs(&output, &settings_inputs(&settings))?;
            let walk = config::worktree::Walk::of_work_tree(&settings.workdir);
            let templates = until_exit(Templates::new(settings.templates_dir.as_deref())?);
            let config = until_exit(config::load(
                &settings.config,
                vars,
                MissingVariables::Error,
            )?);
            check_work_tree(config, walk, Severity::Error)?;
            let plan = until_exit(make_plan(
                config,
                &settings,
                &run,
                vars,
                MissingVariables::Error,
            )?);
            let generated =
                until_exit(generate_files(config, &settings, plan, templates, &output)?);
            let written: Vec<(&Path, &str)> = generated
                .files
                .iter()
                .map(|f| (f.path.as_path(), f.text.as_str()))
                .chain(
                    generated
                        .data
                        .iter()
                        .map(|(p, t)| (p.as_path(), t.as_str())),
                )
                .collect();
            for (path, _) in &written {
                refuse_inputs(path, &settings_inputs(&settings))?;
            }
            for (path, text) in &written {
                write_file(path, text)?;
            }
            say_raw!("{}", plan.text());
            say_raw!("{}", generated.report(&settings));
            let names: Vec<String> = written
                .iter()
                .map(|(p, _)| p.display().to_string())
                .collect();
            say!("Wrote {}.", names.join(", "));
            Ok(())
        }
        Command::Plan { target } => {
            // On a laptop GitLab's variables are not set: placeholders stand in for them.
            let run = PipelineRun::detect(vars, mode(target.mode))?;
            let settings = settings(target.config, target.selection, None, vars)?;
            let walk = config::worktree::Walk::of_work_tree(&settings.workdir);
            let config = config::load(&settings.config, vars, MissingVariables::Tolerate)?;
            check_work_tree(&config, walk, Severity::Warning)?;
            let plan = make_plan(&config, &settings, &run, vars, MissingVariables::Tolerate)?;
            say_raw!("{}", plan.text());
            // The pipelines `generate` would write, with the built-in templates.
            let templates = Templates::new(None)?;
            let output = Path::new(DEFAULT_OUTPUT);
            let generated = generate_files(&config, &settings, &plan, &templates, output)?;
            say_raw!("{}", generated.report(&settings));
            Ok(())
        }
        Command::Validate { config } => validate(&config, vars),
        Command::Schema => {
            say!("{}", config::schema::json_schema());
            Ok(())
        }
        Command::UpdateCheck { command } => update_check(command),
        Command::LayerCheck {
            config,
            output,
            deadline,
            request_timeout,
        } => {
            let limits = RegistryLimits {
                deadline,
                request_timeout,
            };
            refuse_inputs(&output, &[config_input(&config)])?;
            let config = config::load(&config, vars, MissingVariables::Error)?;
            let client = registry_client(&config, vars, &limits)?;
            let results = checks::layer::check_all(&config, &client);
            say_raw!("{}", checks::layer::report(&results));
            let json = serde_json::to_string_pretty(&results).map_err(|err| {
                Error::User(format!("cannot write the layer-check results: {err}"))
            })?;
            write_file(&output, &json)?;
            let stats = client.stats();
            say!(
                "Checked {} images with {} registry requests; wrote {}.",
                results.images.len(),
                stats.requests,
                output.display()
            );
            Ok(())
        }
        Command::Evaluate {
            config,
            results,
            output,
            junit,
            templates,
            rebuild_layout,
        } => {
            let settings = settings(config, None, templates, vars)?;
            let mut inputs = settings_inputs(&settings);
            inputs.push(Input::Dir {
                what: "the results directory",
                path: &results,
            });
            if let Some(path) = &rebuild_layout {
                inputs.push(Input::File {
                    what: "the rebuild layout",
                    path,
                });
            }
            for written in std::iter::once(&output).chain(&junit) {
                refuse_inputs(written, &inputs)?;
            }
            let run = PipelineRun::detect(vars, Mode::Rebuild)?;
            let templates = Templates::new(settings.templates_dir.as_deref())?;
            let config = config::load(&settings.config, vars, MissingVariables::Error)?;
            let rebuild = evaluate::RebuildFiles {
                output: &output,
                layout: rebuild_layout.as_deref(),
            };
            let evaluation =
                evaluate::evaluate(&config, &settings, &run, &results, &templates, rebuild)?;
            say_raw!("{}", evaluation.report);
            if let Some(junit) = junit {
                write_file(&junit, &evaluation.junit)?;
            }
            let pipelines = evaluation.rebuild_pipelines?;
            for (path, _) in &pipelines {
                refuse_inputs(path, &inputs)?;
            }
            for (path, text) in &pipelines {
                write_file(path, text)?;
            }
            let names: Vec<String> = pipelines
                .iter()
                .map(|(p, _)| p.display().to_string())
                .collect();
            say!("Wrote the rebuild pipeline to {}.", names.join(", "));
            Ok(())
        }
        Command::Migrate { input, output } => migrate(&input, output.as_deref()),
        Command::Templates {
            command: TemplatesCommand::Export { dir, force },
        } => export_templates(&dir, force),
    }
}

/// The files `generate` writes for a plan: its pipelines, and the rebuild layout of an update
/// check whose rebuild is sharded.
struct Generated {
    files: Vec<sharded::PipelineFile>,
    data: Vec<(PathBuf, String)>,
    note: String,
}

impl Generated {
    fn report(&self, settings: &Settings) -> String {
        sharded::report(&self.files, &settings.limits) + &self.note
    }
}

fn generate_files(
    config: &Config,
    settings: &Settings,
    plan: &plan::Plan,
    templates: &Templates,
    output: &Path,
) -> Result<Generated, Error> {
    match plan {
        plan::Plan::Check(check) => {
            let scheduled = scheduled::generate(config, settings, check, templates, output)?;
            let note = scheduled.report();
            Ok(Generated {
                files: vec![scheduled.pipeline],
                data: scheduled
                    .rebuild_layout
                    .map(|layout| (layout.path, layout.text))
                    .into_iter()
                    .collect(),
                note,
            })
        }
        plan::Plan::Build(_) => Ok(Generated {
            files: sharded::generate(config, settings, plan, templates, output)?,
            data: Vec::new(),
            note: String::new(),
        }),
    }
}

/// The plan of a build or check pipeline; the config at the comparison base is resolved as
/// the config itself was (`missing`), with the same variables.
fn make_plan<'c>(
    config: &'c config::Config,
    settings: &Settings,
    run: &PipelineRun,
    vars: &Vars,
    missing: MissingVariables,
) -> Result<plan::Plan<'c>, Error> {
    let resolve_config = |text: &str| config::from_str(&settings.config, text, vars, missing);
    // A registry client only when the released-revision rule may read one.
    let client = match run.kind {
        RunKind::PushDefault { .. } if settings.released_revision_check => {
            registry_client(config, vars, &RELEASED_REVISION_LIMITS).map_err(|err| {
                err.to_string()
                    .trim()
                    .trim_start_matches("error: ")
                    .to_string()
            })
        }
        _ => Err("not needed".into()),
    };
    let released = RegistryRevisions { client };
    let inputs = plan::Inputs {
        resolve_config: &resolve_config,
        released: &released,
        log: &mut log,
    };
    plan::make(config, settings, run, inputs)
}

/// How long the generate job may spend reading released revisions: a registry that does not
/// answer by then falls back to the push's own changes, and the pipeline still starts soon.
const RELEASED_REVISION_LIMITS: RegistryLimits = RegistryLimits {
    deadline: Duration::from_secs(5 * 60),
    request_timeout: Duration::from_secs(30),
};

/// The registry client for the config's registries, with the credentials of the variables,
/// bounded by `limits`.
fn registry_client(
    config: &config::Config,
    vars: &Vars,
    limits: &RegistryLimits,
) -> Result<Client, Error> {
    let client_config = limits.apply(credentials::client_config(&config.registries, vars)?);
    let provider = Arc::new(credentials::CredentialStore::new(&config.registries, vars));
    Ok(Client::new(client_config, provider)?)
}

/// The settings of a command, resolved once from its flags and the variables.
fn settings(
    config: PathBuf,
    selection: Option<PathBuf>,
    templates_dir: Option<PathBuf>,
    vars: &Vars,
) -> Result<Settings, Error> {
    let workdir = std::env::current_dir()
        .map_err(|err| Error::io("find", Path::new("the current directory"), err))?;
    let flags = Flags {
        config,
        selection,
        templates_dir,
        workdir,
    };
    Settings::resolve(flags, vars)
}

/// The configuration, as an input no output may replace.
fn config_input(path: &Path) -> Input<'_> {
    Input::File {
        what: "the configuration",
        path,
    }
}

/// The files a command with these settings reads: the configuration, the selection file and
/// the templates directory.
fn settings_inputs(settings: &Settings) -> Vec<Input<'_>> {
    let mut inputs = vec![config_input(&settings.config)];
    if let Some(path) = &settings.selection {
        inputs.push(Input::File {
            what: "the selection file",
            path,
        });
    }
    if let Some(path) = &settings.templates_dir {
        inputs.push(Input::Dir {
            what: "the templates directory",
            path,
        });
    }
    inputs
}

fn mode(arg: ModeArg) -> Mode {
    match arg {
        ModeArg::Auto => Mode::Auto,
        ModeArg::Build => Mode::Build,
        ModeArg::UpdateCheck => Mode::UpdateCheck,
        ModeArg::Rebuild => Mode::Rebuild,
    }
}

/// Keeps `value` until the process exits instead of freeing it: the OS takes a command's
/// memory back at once, where freeing a large config, plan and pipeline piece by piece cost a
/// tenth of `generate`. Only for what one command builds (a process runs one command).
fn until_exit<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

fn log(line: &str) {
    eprintln!("gipgee: {line}");
}

fn validate(path: &Path, vars: &Vars) -> Result<(), Error> {
    let workdir = std::env::current_dir()
        .map_err(|err| Error::io("find", Path::new("the current directory"), err))?;
    let walk = config::worktree::Walk::of_work_tree(&workdir);
    let config = config::load(path, vars, MissingVariables::Tolerate)?;
    check_work_tree(&config, walk, Severity::Error)?;
    plan::Graph::new(&config)?;
    say!("{}: ok ({} images)", path.display(), config.images.len());
    Ok(())
}

/// The containerfiles, build contexts and watched globs of `config` against the work tree
/// `walk` (started before the config loaded, so the two overlap): errors where a pipeline is
/// at stake, warnings (on stderr) for `plan`, which explores.
fn check_work_tree(
    config: &Config,
    walk: config::worktree::Walk,
    severity: Severity,
) -> Result<(), Error> {
    let problems = config::worktree::check_walked(config, walk);
    match severity {
        _ if problems.is_empty() => Ok(()),
        Severity::Error => Err(config.source.invalid(problems)),
        Severity::Warning => {
            let warnings = problems.into_iter().map(Diagnostic::as_warning).collect();
            eprint!("{}", config.source.show(warnings));
            Ok(())
        }
    }
}

/// Converts an original configuration; never over the original, which the user keeps.
fn migrate(input: &Path, output: Option<&Path>) -> Result<(), Error> {
    if let Some(output) = output {
        let original = Input::File {
            what: "the original configuration",
            path: input,
        };
        refuse_inputs(output, &[original])?;
    }
    let source = config::read_input_file(input)?;
    let converted = crate::migrate::migrate(input, &source)?;
    let Some(output) = output else {
        say_raw!("{converted}");
        return Ok(());
    };
    write_file(output, &converted)?;
    say!("Wrote {}.", output.display());
    Ok(())
}

fn export_templates(dir: &Path, force: bool) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|err| Error::io("create", dir, err))?;
    let mut stdout = std::io::stdout().lock();
    for built_in in render::BUILT_INS {
        let path = dir.join(render::file_name(built_in.kind));
        if path.exists() && !force {
            return Err(Error::User(format!(
                "{} exists; pass --force to overwrite it",
                path.display()
            )));
        }
        write_file(&path, built_in.source)?;
        let _ = writeln!(stdout, "wrote {}", path.display());
    }
    Ok(())
}

/// Runs a check and leaves its result in the result file, or its failure in the error file
/// (so `evaluate` can report it even when the job fails).
fn update_check(command: UpdateCheckCommand) -> Result<(), Error> {
    let (files, outcome) = match command {
        UpdateCheckCommand::Auto { files } => {
            let path = std::env::var_os("PATH");
            let outcome =
                checks::update::check_auto(path.as_deref(), &mut log).and_then(|result| {
                    write_file(&files.result_file, &result.to_file_text())?;
                    Ok(result)
                });
            (files, outcome)
        }
        UpdateCheckCommand::Run { files, argv } => {
            if let Some(dir) = files
                .result_file
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
            {
                std::fs::create_dir_all(dir).map_err(|err| Error::io("create", dir, err))?;
            }
            let outcome = checks::update::check_command(&argv, &files.image_id, &files.result_file);
            (files, outcome)
        }
    };
    match outcome {
        Ok(result) => {
            let state = if result.upgrade_needed {
                "upgrade needed"
            } else {
                "no upgrade needed"
            };
            say!("{}: {state}", files.image_id);
            for line in &result.details {
                say!("  {line}");
            }
            Ok(())
        }
        Err(err) => {
            if let Some(error_file) = &files.error_file {
                write_file(error_file, err.to_string().trim_start_matches("error: "))?;
            }
            Err(err)
        }
    }
}
