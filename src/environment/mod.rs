//! Where gipgee runs, resolved once from the command line and a snapshot of the variables:
//! the pipeline run GitLab started ([`run`]), the settings of the command ([`settings`]),
//! and the registry credentials and trust the registry client gets ([`credentials`]).

pub mod credentials;
pub mod run;
pub mod settings;

pub use run::{Mode, PipelineRun, RunKind};
pub use settings::{Flags, JobImages, Settings};
