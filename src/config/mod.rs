//! The configuration: `gipgee.yaml` version 1, resolved.
//!
//! [`load`] reads the file, validates every field (collecting *all* problems with their
//! positions), merges `defaults` into every image, expands `${VAR}`s and normalises image
//! references. Only a fully valid, resolved [`Config`] leaves this module; nothing downstream
//! re-checks or re-defaults.

mod fields;
mod parse;
pub mod schema;
pub mod worktree;
pub mod yaml;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::path::{Path, PathBuf};

pub use fields::{
    Field, FieldKind, IMAGE_FIELDS, REGISTRY_FIELDS, SIGN_FIELDS, TEST_FIELDS, TOP_LEVEL_FIELDS,
};

use crate::diagnostic::{Diagnostic, Position, SourceDiagnostics};
use crate::error::Error;
use crate::oci::{Platform, Reference, Repository};
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
        Error::Invalid(self.show(diagnostics))
    }

    /// These diagnostics with this file's text, to render them.
    pub fn show(&self, diagnostics: Vec<Diagnostic>) -> SourceDiagnostics {
        SourceDiagnostics {
            file: self.file.clone(),
            source: self.text.clone(),
            diagnostics,
        }
    }
}

/// Where an image's fields stand in the file, for diagnostics found after parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePositions {
    pub id: Position,
    pub base_image: Position,
    /// One per target location, in order.
    pub target_locations: Vec<Position>,
    /// The `containerfile` value; the `context` value (or the id) when it is the default.
    pub containerfile: Position,
    /// The `context` value, or the id when it is the default.
    pub context: Position,
    /// One per watched glob, in order.
    pub watched_assets: Vec<Position>,
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
    /// The target locations the release may create but never move to another image
    /// (`{ref, immutable: true}`, `immutableTargets`).
    pub immutable_targets: BTreeSet<Reference>,
    pub staging: Repository,
    /// Globs, repo-relative. The containerfile is added by the selection, not here.
    pub watched_assets: Vec<String>,
    /// `watched_assets` parsed once, as the work-tree check matches them (`*` does not cross
    /// `/`), in the same order. `None` for the files of a plain directory (`images/a/**`,
    /// [`worktree::files_under`]), which need no parse, and for one that parses only as
    /// written, not normalised.
    pub watched_globs: Vec<Option<globset::Glob>>,
    pub build_args: BTreeMap<String, String>,
    /// The user's labels and annotations (`defaults` merged key by key).
    pub metadata: Metadata,
    pub tests: Vec<ImageTest>,
    pub update_check: UpdateCheck,
    pub layer_check: bool,
    pub builder: String,
    /// Whether a `scan:<id>` job scans the staging image after its tests and gates its release.
    pub scan: bool,
    /// How the released image is signed by a `sign:<id>` job; `None`: not signed.
    pub sign: Option<Signing>,
    /// `platforms`, `runnerTags` and `cache`.
    pub platforms: Platforms,
}

/// How an image is signed (`sign:` in gipgee.yaml).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signing {
    /// Keyless: a GitLab ID token (audience `sigstore`) identifies the job to Sigstore.
    Keyless,
    /// A private key from a CI/CD variable; only the variables' *names* are kept.
    Key {
        key_variable: String,
        password_variable: Option<String>,
    },
}

/// How an image is built for its platforms, and whether from a cache.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Platforms {
    /// The platforms of a multi-platform image, in the configured order; empty: one image
    /// for the build runner's platform (no `platforms` key).
    pub list: Vec<Platform>,
    /// Runner tags of a platform's test jobs.
    pub runner_tags: BTreeMap<Platform, Vec<String>>,
    /// Whether the build reuses layers from the image's registry cache.
    pub cache: bool,
}

impl Image {
    /// Whether the Containerfile is the default one, `Containerfile` in the build context.
    pub fn has_default_containerfile(&self) -> bool {
        self.containerfile == parse::join_path(&self.build_context, "Containerfile")
    }
}

/// What a build writes into the image besides gipgee's own metadata: `labels` (image config)
/// and `annotations` (manifest), literal values like `buildArgs`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// The keys every build sets (as label and as annotation); the user's `labels` and
/// `annotations` may not set them. `revision` is what the released-revision rule reads.
pub const GIPGEE_METADATA_KEYS: &[&str] = &[
    "org.opencontainers.image.created",
    "org.opencontainers.image.revision",
    "org.opencontainers.image.source",
    "org.opencontainers.image.title",
    "org.opencontainers.image.version",
];

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
    let source = read_input_file(path)?;
    parse::resolve(path, &source, vars, missing)
}

/// The largest input file gipgee reads (a configuration or a selection): a thousand images
/// take about 200 KiB.
pub const MAX_INPUT_BYTES: u64 = 8 * 1024 * 1024;

/// Reads a text file a user or a job wrote: a regular file (a FIFO would block) of at most
/// [`MAX_INPUT_BYTES`], UTF-8 (a byte that is not is an error at its line and column), without
/// a leading byte order mark.
pub fn read_input_file(path: &Path) -> Result<String, Error> {
    let bytes = read_bounded(path)?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok(yaml::strip_bom(&text).to_string()),
        Err(err) => {
            let bytes = err.as_bytes();
            let valid_up_to = err.utf8_error().valid_up_to();
            let valid = String::from_utf8_lossy(&bytes[..valid_up_to]);
            let diagnostic = Diagnostic::at(
                yaml::position_of_offset(&valid, valid.len()),
                format!(
                    "invalid UTF-8 (byte 0x{:02x}): expected UTF-8 text",
                    bytes.get(valid_up_to).copied().unwrap_or_default()
                ),
            );
            Err(Error::Invalid(SourceDiagnostics {
                file: path.to_path_buf(),
                source: String::from_utf8_lossy(bytes).into_owned(),
                diagnostics: vec![diagnostic],
            }))
        }
    }
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, Error> {
    let metadata = std::fs::metadata(path).map_err(|err| Error::io("read", path, err))?;
    if !metadata.is_file() {
        return Err(Error::User(format!(
            "cannot read {}: not a regular file",
            path.display()
        )));
    }
    let file = std::fs::File::open(path).map_err(|err| Error::io("read", path, err))?;
    let mut bytes = Vec::new();
    file.take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| Error::io("read", path, err))?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(Error::User(format!(
            "cannot read {}: larger than {} MiB, more than any configuration needs",
            path.display(),
            MAX_INPUT_BYTES / 1024 / 1024
        )));
    }
    Ok(bytes)
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
