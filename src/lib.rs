//! gipgee — the GitLab Image Pipeline Generator.
//!
//! Data flows one way:
//! `config` (gipgee.yaml → resolved model) + `context` (GitLab variables, git changes)
//! → `selection` → `plan` → `render` (minijinja job templates) → `pipeline` (GitLab YAML).
//!
//! `oci` is the image model (references, digests, manifests) everything shares; it does no
//! I/O. `registry` is a manifest-reading client that knows only `oci`; `credentials` adapts
//! gipgee's configuration and job environment to it (credentials, trust, error hints).

pub mod changes;
pub mod cli;
pub mod config;
pub mod context;
pub mod credentials;
pub mod error;
pub mod evaluate;
pub mod generate;
pub mod graph;
pub mod jobs;
pub mod layer_check;
pub mod oci;
pub mod pipeline;
pub mod plan;
pub mod registry;
pub mod render;
pub mod run;
pub mod schema;
pub mod selection;
pub mod update_check;
pub mod vars;
pub mod yaml;
