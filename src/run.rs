//! Runs one CLI command and maps the outcome to an exit code: 0 ok, 1 user or configuration
//! error (a message, never a backtrace), 2 usage.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use clap::Parser;

use crate::cli::{Cli, Command, ModeArg, PlanArgs, TemplatesCommand, UpdateCheckCommand};
use crate::config::{self, MissingVariables};
use crate::context::Mode;
use crate::credentials;
use crate::error::Error;
use crate::generate::{self, Request};
use crate::registry::Client;
use crate::render::{self, Templates};
use crate::vars::Vars;

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
    let vars = Vars::from_process();
    match run(cli.command, &vars) {
        Ok(()) => 0,
        Err(err) => {
            eprint!("{err}");
            err.exit_code()
        }
    }
}

pub fn run(command: Command, vars: &Vars) -> Result<(), Error> {
    match command {
        Command::Generate {
            target,
            output,
            templates,
        } => {
            let templates_dir = templates.filter(|t| !t.as_os_str().is_empty());
            let templates = Templates::new(templates_dir.as_deref())?;
            let request = request(&target, MissingVariables::Error)?;
            let (config, plan) = generate::make_plan(&request, vars, &mut log)?;
            let yaml =
                generate::render_pipeline(&config, &request.config, &plan, &templates, vars)?;
            generate::write_file(&output, &yaml)?;
            say_raw!("{}", plan.to_text());
            say!("Wrote {}.", output.display());
            Ok(())
        }
        Command::Plan { target } => {
            let request = request(&target, MissingVariables::Tolerate)?;
            let (_, plan) = generate::make_plan(&request, vars, &mut log)?;
            say_raw!("{}", plan.to_text());
            Ok(())
        }
        Command::Validate { config } => validate(&config, vars),
        Command::Schema => {
            say!("{}", crate::schema::json_schema());
            Ok(())
        }
        Command::UpdateCheck { command } => update_check(command),
        Command::LayerCheck { config, output } => {
            let config = config::load(&config, vars, MissingVariables::Error)?;
            let client_config = credentials::client_config(&config.registries, vars)?;
            let provider = Arc::new(credentials::CredentialStore::new(&config.registries, vars));
            let client =
                Client::new(client_config, provider).map_err(|err| Error::User(err.to_string()))?;
            let results = crate::layer_check::check_all(&config, &client);
            say_raw!("{}", crate::layer_check::report(&results));
            let json = serde_json::to_string_pretty(&results).map_err(|err| {
                Error::User(format!("cannot write the layer-check results: {err}"))
            })?;
            generate::write_file(&output, &json)?;
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
        } => {
            let templates =
                Templates::new(templates.filter(|t| !t.as_os_str().is_empty()).as_deref())?;
            let evaluation = generate::evaluate(&config, &results, vars, &templates)?;
            say_raw!("{}", evaluation.report);
            if let Some(junit) = junit {
                generate::write_file(&junit, &evaluation.junit)?;
            }
            generate::write_file(&output, &evaluation.rebuild_pipeline?)?;
            say!("Wrote the rebuild pipeline to {}.", output.display());
            Ok(())
        }
        Command::Templates {
            command: TemplatesCommand::Export { dir, force },
        } => export_templates(&dir, force),
    }
}

fn request(args: &PlanArgs, missing_variables: MissingVariables) -> Result<Request, Error> {
    let repo = std::env::current_dir()
        .map_err(|err| Error::io("find", Path::new("the current directory"), err))?;
    let mode = match args.mode {
        ModeArg::Auto => Mode::Auto,
        ModeArg::Build => Mode::Build,
        ModeArg::UpdateCheck => Mode::UpdateCheck,
        ModeArg::Rebuild => Mode::Rebuild,
    };
    Ok(Request {
        config: args.config.clone(),
        mode,
        selection: args.selection.clone(),
        repo,
        missing_variables,
    })
}

fn log(line: &str) {
    eprintln!("gipgee: {line}");
}

fn validate(path: &Path, vars: &Vars) -> Result<(), Error> {
    let config = config::load(path, vars, MissingVariables::Tolerate)?;
    crate::graph::Graph::new(&config)?;
    say!("{}: ok ({} images)", path.display(), config.images.len());
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
        std::fs::write(&path, built_in.source).map_err(|err| Error::io("write", &path, err))?;
        let _ = writeln!(stdout, "wrote {}", path.display());
    }
    Ok(())
}

/// Runs a check and leaves its verdict in the result file, or its failure in the error file
/// (so `evaluate` can report it even when the job fails).
fn update_check(command: UpdateCheckCommand) -> Result<(), Error> {
    let (files, outcome) = match command {
        UpdateCheckCommand::Auto { files } => {
            let outcome = crate::update_check::check_auto(&mut log).and_then(|verdict| {
                generate::write_file(&files.result_file, &verdict.to_file_text())?;
                Ok(verdict)
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
            let outcome =
                crate::update_check::check_command(&argv, &files.image_id, &files.result_file);
            (files, outcome)
        }
    };
    match outcome {
        Ok(verdict) => {
            let state = if verdict.upgrade_needed {
                "upgrade needed"
            } else {
                "no upgrade needed"
            };
            say!("{}: {state}", files.image_id);
            for line in &verdict.details {
                say!("  {line}");
            }
            Ok(())
        }
        Err(err) => {
            if let Some(error_file) = &files.error_file {
                generate::write_file(error_file, err.to_string().trim_start_matches("error: "))?;
            }
            Err(err)
        }
    }
}
