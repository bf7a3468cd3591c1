//! gipgee — the GitLab Image Pipeline Generator.
//!
//! Data flows one way:
//! `config` (gipgee.yaml → resolved model) + `context` (GitLab variables, git changes)
//! → `selection` → `plan` → `render` (minijinja job templates) → `pipeline` (GitLab YAML).

pub mod changes;
pub mod cli;
pub mod config;
pub mod diagnostic;
pub mod environment;
pub mod error;
pub mod evaluate;
pub mod gitlab;
pub mod jobs;
pub mod layer_check;
pub mod pipeline;
pub mod plan;
pub mod reference;
pub mod registry;
pub mod render;
pub mod update_check;
pub mod vars;
