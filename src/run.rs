//! Runs one CLI command and maps the outcome to an exit code (SPEC §6): 0 ok, 1 user or
//! configuration error (a message, never a backtrace), 2 usage.

use std::io::Write;
use std::path::Path;

use clap::Parser;

use crate::cli::{Cli, Command, ModeArg, PlanArgs, TemplatesCommand};
use crate::config::{self, MissingVariables};
use crate::context::Mode;
use crate::error::Error;
use crate::generate::{self, Request};
use crate::render::{self, Templates};
use crate::vars::Vars;

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
            let (config, plan) = generate::make_plan(&request(&target)?, vars, &mut log)?;
            let yaml = generate::render_pipeline(&config, &plan, &templates, vars)?;
            std::fs::write(&output, yaml).map_err(|err| Error::io("write", &output, err))?;
            print!("{}", plan.to_text());
            println!("Wrote {}.", output.display());
            Ok(())
        }
        Command::Plan { target } => {
            let (_, plan) = generate::make_plan(&request(&target)?, vars, &mut log)?;
            print!("{}", plan.to_text());
            Ok(())
        }
        Command::Validate { config } => validate(&config, vars),
        Command::Schema => {
            println!("{}", crate::schema::json_schema());
            Ok(())
        }
        Command::Templates {
            command: TemplatesCommand::Export { dir, force },
        } => export_templates(&dir, force),
    }
}

fn request(args: &PlanArgs) -> Result<Request, Error> {
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
    })
}

fn log(line: &str) {
    eprintln!("gipgee: {line}");
}

fn validate(path: &Path, vars: &Vars) -> Result<(), Error> {
    let config = config::load(path, vars, MissingVariables::Tolerate)?;
    crate::graph::Graph::new(&config)?;
    println!("{}: ok ({} images)", path.display(), config.images.len());
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
