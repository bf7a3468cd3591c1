//! Where gipgee runs, resolved once: the pipeline run GitLab started ([`run`]) and the
//! settings of the command ([`settings`]), from the command line and a snapshot of the
//! variables. Nothing below this module reads the process environment.

pub mod run;
pub mod settings;

pub use run::{Mode, PipelineRun, RunKind};
pub use settings::{Flags, JobImages, Settings};
