//! The configuration: `gipgee.yaml` version 1, resolved.
//!
//! [`load`] reads the file, validates every field (collecting *all* problems with their
//! positions), merges `defaults` into every image, expands `${VAR}`s and normalises image
//! references. Only a fully valid, resolved [`Config`] leaves this module; nothing downstream
//! re-checks or re-defaults.

mod fields;
mod parse;
pub mod schema;
pub mod yaml;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use fields::{Field, FieldKind, IMAGE_FIELDS, REGISTRY_FIELDS, TEST_FIELDS, TOP_LEVEL_FIELDS};

use crate::diagnostic::{Diagnostic, Position, SourceDiagnostics};
use crate::error::Error;
use crate::oci::{Reference, Repository};
use crate::vars::Vars;

/// The resolved configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The file and text it was read from, for diagnostics found later (the graph).
    pub source: Source,
    /// Credentials and transport settings per registry host (`host[:port]`).
    pub registries: BTreeMap<String, RegistryConfig>,
    /// Images by id; iteration order is the id order, which keeps output deterministic.
    pub images: BTreeMap<String, Image>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub file: PathBuf,
    pub text: String,
}

impl Source {
    /// These diagnostics, shown against this file.
    pub fn invalid(&self, diagnostics: Vec<Diagnostic>) -> Error {
        Error::Invalid(SourceDiagnostics {
            file: self.file.clone(),
            source: self.text.clone(),
            diagnostics,
        })
    }
}

/// Where an image's fields stand in the file, for diagnostics found after parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePositions {
    pub id: Position,
    pub base_image: Position,
    /// One per target location, in order.
    pub target_locations: Vec<Position>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryConfig {
    /// Name (never the value) of the variable holding the user name.
    pub username_variable: Option<String>,
    /// Name (never the value) of the variable holding the password or token.
    pub password_variable: Option<String>,
    /// Plain http instead of https (test registries only).
    pub insecure: bool,
    /// Whether a push to the default branch reads the revision of released images on this
    /// registry (`releasedRevisionCheck`, default true): each read is a manifest GET, which
    /// some registries count against a pull limit.
    pub released_revision_check: bool,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            username_variable: None,
            password_variable: None,
            insecure: false,
            released_revision_check: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub id: String,
    pub positions: ImagePositions,
    pub base_image: Reference,
    pub containerfile: String,
    /// The build context directory (the `context` key).
    pub build_context: String,
    pub target_locations: Vec<Reference>,
    pub staging: Repository,
    /// Globs, repo-relative. The containerfile is added by the selection, not here.
    pub watched_assets: Vec<String>,
    pub build_args: BTreeMap<String, String>,
    pub tests: Vec<ImageTest>,
    pub update_check: UpdateCheck,
    pub layer_check: bool,
    pub builder: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageTest {
    pub name: String,
    pub run: TestRun,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestRun {
    /// Shell lines, run as the job's script.
    Script(Vec<String>),
    /// An argv, run as one command.
    Command(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateCheck {
    Auto,
    None,
    Command(Vec<String>),
}

/// The builders gipgee ships templates for.
pub const BUILDERS: &[&str] = &["buildah"];

/// The default staging repository when neither the image nor `defaults` names one.
pub const DEFAULT_STAGING: &str = "${CI_REGISTRY_IMAGE}/staging";

/// How `${VAR}`s that are not set are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingVariables {
    /// An error naming the variable and the field (generating a pipeline).
    Error,
    /// Not an error; the field is checked only as far as possible (`gipgee validate` on a
    /// laptop, where GitLab's variables are not set).
    Tolerate,
}

/// Reads and resolves a configuration file.
pub fn load(path: &Path, vars: &Vars, missing: MissingVariables) -> Result<Config, Error> {
    let source = std::fs::read_to_string(path).map_err(|err| Error::io("read", path, err))?;
    parse::resolve(path, &source, vars, missing)
}

/// Resolves configuration text (for tests and for `load`).
pub fn from_str(
    path: &Path,
    source: &str,
    vars: &Vars,
    missing: MissingVariables,
) -> Result<Config, Error> {
    parse::resolve(path, source, vars, missing)
}

#[cfg(test)]
mod tests;
