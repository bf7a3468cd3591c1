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
mod image_jobs;
mod layer_check;
mod migrate;
mod project_files;
mod registry;
mod released_revision;
mod scan_sign;
mod scenarios;
mod support;
mod template_context;
mod test_reports;
mod update_check;
