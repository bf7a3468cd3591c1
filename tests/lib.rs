//! gipgee's integration tests: one binary, one module per area.

mod architecture;
mod cli;
mod config_errors;
mod e2e;
mod e2e_platforms;
mod e2e_schedule;
mod evaluate_results;
mod fuzz;
mod hostile;
mod layer_check;
mod migrate;
mod project_files;
mod registry;
mod released_revision;
mod scenarios;
mod support;
mod template_context;
mod update_check;
