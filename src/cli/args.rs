//! Command-line arguments, defined once. Parsing only: the settings are resolved from them
//! (and the variables) in one place, and the commands act on those.

use std::path::PathBuf;
use std::time::Duration;

/// Where `generate` writes the pipeline (and, next to it, the shards of a sharded one).
pub const DEFAULT_OUTPUT: &str = "gipgee-pipeline.yml";

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::environment::settings::parse_duration;

#[derive(Debug, Parser)]
#[command(
    name = "gipgee",
    version,
    about = "GitLab Image Pipeline Generator: build, test, release and keep container images up to date"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write the child pipeline for this pipeline run.
    Generate {
        #[command(flatten)]
        target: PlanArgs,
        /// Where to write the pipeline.
        #[arg(long, short, default_value = DEFAULT_OUTPUT)]
        output: PathBuf,
        /// Directory whose `<kind>.yml.j2` files replace the built-in job templates.
        /// Empty means none: the component always sets GIPGEE_TEMPLATES_DIR, by default to "".
        #[arg(long, env = "GIPGEE_TEMPLATES_DIR", value_parser = path_or_empty)]
        templates: Option<PathBuf>,
    },
    /// Print, per image, whether this pipeline run builds it and why. Writes nothing.
    Plan {
        #[command(flatten)]
        target: PlanArgs,
    },
    /// Check gipgee.yaml and report every problem at once.
    Validate {
        #[arg(long, short, default_value = "gipgee.yaml", env = "GIPGEE_CONFIG")]
        config: PathBuf,
    },
    /// Print the JSON Schema of gipgee.yaml (for editors and yaml-language-server).
    Schema,
    /// Check every released image against the current digest of its base image (the
    /// layer-check job): manifests only, with gipgee's registry client.
    LayerCheck {
        #[arg(long, short, default_value = "gipgee.yaml", env = "GIPGEE_CONFIG")]
        config: PathBuf,
        /// Where to write the results (JSON).
        #[arg(long, short)]
        output: PathBuf,
        /// How long the whole check may take (`30m`, `90s`, `1h`): images not checked by then
        /// get an error, and the results are written all the same.
        #[arg(long, env = "GIPGEE_LAYER_CHECK_DEADLINE", default_value = "30m", value_parser = parse_duration)]
        deadline: Duration,
        /// How long one registry request may take; a host that timed out is not asked again
        /// in the run.
        #[arg(long, env = "GIPGEE_REGISTRY_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
        request_timeout: Duration,
    },
    /// Run the update check inside a released image (an update-check job).
    UpdateCheck {
        #[command(subcommand)]
        command: UpdateCheckCommand,
    },
    /// Read the update-check results, report, and write the rebuild pipeline (the evaluate job).
    Evaluate {
        #[arg(long, short, default_value = "gipgee.yaml", env = "GIPGEE_CONFIG")]
        config: PathBuf,
        /// The results directory of the update-check jobs.
        #[arg(long)]
        results: PathBuf,
        /// Where to write the rebuild pipeline (a sharded rebuild: `gipgee-rebuild-<k>.yml`
        /// next to it, one per shard).
        #[arg(long, short)]
        output: PathBuf,
        /// Where to write the JUnit report.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Directory whose `<kind>.yml.j2` files replace the built-in job templates.
        #[arg(long, env = "GIPGEE_TEMPLATES_DIR", value_parser = path_or_empty)]
        templates: Option<PathBuf>,
        /// The layout of a sharded rebuild, written by `generate` with the update-check
        /// pipeline: one rebuild pipeline per shard.
        #[arg(long)]
        rebuild_layout: Option<PathBuf>,
    },
    /// Convert a configuration of the original gipgee into gipgee.yaml version 1.
    Migrate {
        /// The original configuration.
        #[arg(long, short, default_value = "gipgee.yaml")]
        input: PathBuf,
        /// Where to write the converted configuration; standard output when not given.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Work with the job templates.
    Templates {
        #[command(subcommand)]
        command: TemplatesCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum TemplatesCommand {
    /// Write the built-in templates to DIR as a starting point for your own.
    Export {
        dir: PathBuf,
        /// Overwrite files that already exist.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum UpdateCheckCommand {
    /// The built-in check: ask the image's package manager whether upgrades exist.
    Auto {
        #[command(flatten)]
        files: CheckFiles,
    },
    /// Run your own check: ARGV gets `<image-id> <result-file>` appended.
    Run {
        #[command(flatten)]
        files: CheckFiles,
        #[arg(last = true, required = true)]
        argv: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct CheckFiles {
    #[arg(long)]
    pub image_id: String,
    /// Where the verdict goes (`UPGRADE_NEEDED` / `NO_UPGRADE_NEEDED`, then details).
    #[arg(long)]
    pub result_file: PathBuf,
    /// Where the reason goes when the check itself fails.
    #[arg(long)]
    pub error_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The configuration file.
    #[arg(long, short, default_value = "gipgee.yaml", env = "GIPGEE_CONFIG")]
    pub config: PathBuf,
    /// Which pipeline to make; `auto` decides from CI_PIPELINE_SOURCE.
    #[arg(long, value_enum, default_value_t = ModeArg::Auto, env = "GIPGEE_MODE")]
    pub mode: ModeArg,
    /// The rebuild selection (JSON, written by the update check); needed for `--mode rebuild`.
    #[arg(long, env = "GIPGEE_SELECTION")]
    pub selection: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    Auto,
    Build,
    UpdateCheck,
    Rebuild,
}

/// A path that may be empty (clap's own path parser rejects an empty value, also from the
/// environment).
fn path_or_empty(value: &str) -> Result<PathBuf, std::convert::Infallible> {
    Ok(PathBuf::from(value))
}
