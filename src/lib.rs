//! gipgee — the GitLab Image Pipeline Generator.
//!
//! Data flows one way:
//! `config` (gipgee.yaml → resolved model) + `context` (GitLab variables, git changes)
//! → `selection` → `plan` → `render` (minijinja job templates) → `pipeline` (GitLab YAML).
//! The scheduled pipeline's `checks` decide what is rebuilt; the files they pass between
//! jobs follow the contract in `results`.

pub mod changes;
pub mod checks;
pub mod cli;
pub mod config;
pub mod diagnostic;
pub mod environment;
pub mod error;
pub mod gitlab;
pub mod jobs;
pub mod oci;
pub mod pipeline;
pub mod plan;
pub mod registry;
pub mod render;
pub mod results;
pub mod vars;
