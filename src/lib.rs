//! gipgee — the GitLab Image Pipeline Generator.
//!
//! Data flows one way: `config` (gipgee.yaml) + `environment` (the pipeline run, the
//! settings) + `changes` (git) → `plan` → `jobs` (job specs) → `render` (minijinja templates)
//! → `pipeline` (GitLab YAML). The scheduled pipeline's `checks` decide what is rebuilt; the
//! files they pass between jobs follow the contract in `results`. `cli` wires the commands; every file they write goes through `output`.
//! docs/design.md lists every module, what it owns and what it may import.

pub mod changes;
pub mod checks;
pub mod cli;
pub mod config;
pub mod diagnostic;
pub mod environment;
pub mod error;
pub mod gitlab;
pub mod jobs;
pub mod migrate;
pub mod oci;
pub mod output;
pub mod pipeline;
pub mod plan;
pub mod registry;
pub mod render;
pub mod results;
pub mod revisions;
pub mod vars;
