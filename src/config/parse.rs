//! Walks the positioned YAML tree of gipgee.yaml into the resolved [`Config`], collecting every
//! problem as a [`Diagnostic`] instead of stopping at the first.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use globset::Glob;

mod platforms;

use super::fields::{
    Field, FieldKind, IMAGE_FIELDS, REGISTRY_FIELDS, SIGN_FIELDS, TEST_FIELDS, TOP_LEVEL_FIELDS,
};
use super::worktree::{files_under, watched_pattern};
use super::yaml::{self, Node, Value};
use super::{
    BUILDERS, Config, DEFAULT_STAGING, Image, ImagePositions, ImageTest, Metadata,
    MissingVariables, RegistryConfig, Signing, Source, TestRun, UpdateCheck,
};
use crate::diagnostic::{Diagnostic, SourceDiagnostics, suggest};
use crate::error::Error;
use crate::gitlab::{MAX_NEEDS, SECRET_VARIABLES};
use crate::oci::{Reference, Repository, normalize_registry_host};
use crate::vars::{ExpandError, Vars, expand_with, is_variable_name};

mod metadata;
mod targets;

/// Tests per image: the release job `needs` all of them plus the parent's release.
const MAX_TESTS: usize = MAX_NEEDS - 1;
/// Maximum length of an image id: it is part of job names and staging tags.
const MAX_ID_LEN: usize = 128;
/// Build args gipgee sets itself; a user value would silently lose.
const RESERVED_BUILD_ARGS: &[&str] = &["GIPGEE_BASE_IMAGE", "GIPGEE_IMAGE_ID"];

pub(super) fn resolve(
    path: &Path,
    source: &str,
    vars: &Vars,
    missing: MissingVariables,
) -> Result<Config, Error> {
    let mut walker = Walker {
        file: path.to_path_buf(),
        text: source.to_string(),
        vars: vars.clone(),
        credential_variables: BTreeSet::new(),
        missing,
        diagnostics: Vec::new(),
    };
    let config = match yaml::parse(source) {
        Ok((root, duplicates)) => {
            walker.diagnostics.extend(duplicates);
            walker.config(root.as_ref())
        }
        Err(diag) => {
            walker.diagnostics.push(diag);
            None
        }
    };
    match config {
        Some(config) if walker.diagnostics.is_empty() => Ok(config),
        _ => Err(Error::Invalid(SourceDiagnostics {
            file: path.to_path_buf(),
            source: source.to_string(),
            diagnostics: walker.into_sorted_diagnostics(),
        })),
    }
}

struct Walker {
    file: PathBuf,
    text: String,
    vars: Vars,
    /// Variables named in `registries:`: never expanded.
    credential_variables: BTreeSet<String>,
    missing: MissingVariables,
    diagnostics: Vec<Diagnostic>,
}

/// `defaults`: its fields, and the values of those most images inherit, resolved once.
struct Defaults<'n> {
    fields: FieldNodes<'n>,
    base_image: Option<Reference>,
    staging: Option<Repository>,
    tests: Option<Vec<ImageTest>>,
}

impl Defaults<'_> {
    /// `value`, the resolved `field` of `defaults`, if the image has it from `defaults` (an
    /// image's own value, or one `defaults` has wrong, is resolved for the image).
    fn inherited<T: Clone>(&self, image: &FieldNodes, field: &str, value: &Option<T>) -> Option<T> {
        let from_defaults = match (image.get(field), self.fields.get(field)) {
            (Some(own), Some(default)) => std::ptr::eq(*own, *default),
            _ => false,
        };
        value.as_ref().filter(|_| from_defaults).cloned()
    }
}

/// The watched globs as written (normalised) and as parsed, in the same order.
type WatchedGlobs = (Vec<String>, Vec<Option<Glob>>);

/// The fields of one image before defaults are merged: raw nodes by key.
type FieldNodes<'a> = BTreeMap<&'static str, &'a Node>;

impl Walker {
    fn into_sorted_diagnostics(self) -> Vec<Diagnostic> {
        let mut seen = BTreeSet::new();
        let mut diagnostics: Vec<Diagnostic> = self
            .diagnostics
            .into_iter()
            // A bad value in `defaults` is seen once per image; report it once.
            .filter(|d| seen.insert((d.position, d.message.clone())))
            .collect();
        diagnostics.sort_by_key(|d| d.position);
        diagnostics
    }

    fn error(&mut self, node: &Node, message: impl Into<String>) {
        self.diagnostics
            .push(Diagnostic::at(node.position, message).with_width(node.width()));
    }

    fn config(&mut self, root: Option<&Node>) -> Option<Config> {
        let Some(root) = root.filter(|r| !r.is_null()) else {
            self.diagnostics.push(Diagnostic::unplaced(
                "the file is empty: expected a mapping with `version: 1` and `images`",
            ));
            return None;
        };
        let entries = self.mapping(root, "the top level")?;
        if let Some(key) = original_format_key(entries) {
            let name = key.as_str().unwrap_or_default();
            self.diagnostics.push(
                Diagnostic::at(
                    key.position,
                    format!("`{name}` belongs to the original gipgee format, not to version 1"),
                )
                .with_width(key.width())
                .with_help("`gipgee migrate --input FILE --output gipgee.yaml` converts it"),
            );
            return None;
        }
        let mut version = None;
        let mut registries = BTreeMap::new();
        let mut default_fields: FieldNodes = BTreeMap::new();
        let mut images_node = None;
        for (key, value) in entries {
            match self.known_key(key, TOP_LEVEL_FIELDS.iter().copied(), "top-level key") {
                Some("version") => version = Some(value),
                Some("registries") => {
                    registries = self.registries(value);
                    self.credential_variables = registries
                        .values()
                        .flat_map(|r: &RegistryConfig| {
                            [r.username_variable.clone(), r.password_variable.clone()]
                        })
                        .flatten()
                        .collect();
                }
                Some("defaults") => {
                    default_fields = self.image_fields(value, "`defaults`").unwrap_or_default()
                }
                Some("images") => images_node = Some(value),
                _ => {}
            }
        }
        self.credential_variables
            .extend(signing_key_variables(entries));
        let defaults = self.check_defaults(default_fields);
        match version {
            None => self.diagnostics.push(Diagnostic::at(
                root.position,
                "missing key `version`: expected `version: 1`",
            )),
            Some(v) if v.as_u64() == Some(1) => {}
            Some(v) => self.error(v, "unsupported version: expected `1`"),
        }
        let Some(images_node) = images_node else {
            self.diagnostics.push(Diagnostic::at(
                root.position,
                "missing key `images`: expected a mapping of image id to image",
            ));
            return None;
        };
        let images = self.images(images_node, &defaults);
        Some(Config {
            source: Source {
                file: self.file.clone(),
                text: self.text.clone(),
            },
            registries,
            images,
        })
    }

    fn mapping<'n>(
        &mut self,
        node: &'n Node,
        what: impl std::fmt::Display,
    ) -> Option<&'n [(Node, Node)]> {
        match &node.value {
            Value::Mapping(entries) => Some(entries),
            _ => {
                self.error(
                    node,
                    format!("expected a mapping for {what}, found {}", node.kind()),
                );
                None
            }
        }
    }

    /// Checks a mapping key against the allowed names; unknown keys are errors with a
    /// suggestion.
    fn known_key<'k>(
        &mut self,
        key: &Node,
        allowed: impl Iterator<Item = &'k str> + Clone,
        what: &str,
    ) -> Option<&'k str> {
        let Some(name) = key.as_str() else {
            self.error(key, format!("expected a {what}, found {}", key.kind()));
            return None;
        };
        if let Some(found) = allowed.clone().find(|a| *a == name) {
            return Some(found);
        }
        let expected: Vec<String> = allowed.clone().map(|a| format!("`{a}`")).collect();
        let mut diag = Diagnostic::at(key.position, format!("unknown {what} `{name}`"))
            .with_width(key.width());
        diag = match suggest(name, allowed) {
            Some(s) => diag.with_help(format!("did you mean `{s}`?")),
            None => diag.with_help(format!("expected one of {}", expected.join(", "))),
        };
        self.diagnostics.push(diag);
        None
    }

    fn registries(&mut self, node: &Node) -> BTreeMap<String, RegistryConfig> {
        let mut result = BTreeMap::new();
        let Some(entries) = self.mapping(node, "`registries`") else {
            return result;
        };
        for (key, value) in entries {
            let Some(host) = self.expanded_string(key, "registry host", "registries") else {
                continue;
            };
            let host = match normalize_registry_host(&host) {
                Ok(host) => host,
                Err(err) => {
                    self.error(
                        key,
                        format!("invalid registry host `{host}`: {}", err.reason),
                    );
                    continue;
                }
            };
            let mut registry = RegistryConfig::default();
            let Some(fields) = self.mapping(value, format_args!("registry `{host}`")) else {
                continue;
            };
            for (field_key, field_value) in fields {
                match self.known_key(
                    field_key,
                    REGISTRY_FIELDS.iter().map(|f| f.name),
                    "registry key",
                ) {
                    Some("usernameVariable") => {
                        registry.username_variable = self.variable_name(field_value)
                    }
                    Some("passwordVariable") => {
                        registry.password_variable = self.variable_name(field_value)
                    }
                    Some("insecure") => registry.insecure = self.bool(field_value).unwrap_or(false),
                    Some("releasedRevisionCheck") => {
                        registry.released_revision_check = self.bool(field_value).unwrap_or(true)
                    }
                    _ => {}
                }
            }
            if registry.username_variable.is_some() != registry.password_variable.is_some() {
                self.error(key, format!("registry `{host}`: expected both `usernameVariable` and `passwordVariable`, or neither"));
            }
            result.insert(host, registry);
        }
        result
    }

    fn variable_name(&mut self, node: &Node) -> Option<String> {
        let name = self.string(node, "a variable name")?;
        if is_variable_name(&name) {
            Some(name)
        } else {
            let hint = if name.starts_with('$') {
                " (write the name without `$`: the job reads the value at run time)"
            } else {
                ""
            };
            self.error(
                node,
                format!("invalid variable name `{name}`: expected [A-Za-z_][A-Za-z0-9_]*{hint}"),
            );
            None
        }
    }

    fn image_fields<'n>(
        &mut self,
        node: &'n Node,
        what: impl std::fmt::Display,
    ) -> Option<FieldNodes<'n>> {
        let entries = self.mapping(node, what)?;
        let mut fields = BTreeMap::new();
        for (key, value) in entries {
            if let Some(name) = self.known_key(
                key,
                IMAGE_FIELDS.iter().map(|f: &Field| f.name),
                "image key",
            ) {
                fields.insert(name, value);
            }
        }
        Some(fields)
    }

    /// Checks every value in `defaults` as written, as the JSON Schema does: a value every
    /// image overrides is never merged, and would otherwise never be looked at. (An image
    /// that inherits it reports the same problem at the same place, shown once.)
    ///
    /// The values most images inherit as they are are kept, resolved, for them.
    fn check_defaults<'n>(&mut self, fields: FieldNodes<'n>) -> Defaults<'n> {
        let mut defaults = Defaults {
            fields,
            base_image: None,
            staging: None,
            tests: None,
        };
        for field in IMAGE_FIELDS {
            let Some(node) = defaults.fields.get(field.name).copied() else {
                continue;
            };
            match (field.name, field.kind) {
                ("baseImage", FieldKind::Reference) => {
                    defaults.base_image = self.reference(node, field.name)
                }
                ("staging", FieldKind::Repository) => {
                    defaults.staging = self.repository(node, field.name)
                }
                ("tests", FieldKind::Tests) => defaults.tests = self.tests(node),
                (_, kind) => self.check_default(node, field.name, kind),
            }
        }
        defaults
    }

    fn check_default(&mut self, node: &Node, name: &str, kind: FieldKind) {
        match kind {
            FieldKind::Reference => drop(self.reference(node, name)),
            FieldKind::Targets => drop(self.targets(node, false)),
            FieldKind::Repository => drop(self.repository(node, name)),
            FieldKind::Path => drop(self.path(node, name)),
            FieldKind::Globs => drop(self.globs(node)),
            FieldKind::BuildArgs => drop(self.build_args(node)),
            FieldKind::Metadata => drop(self.metadata_map(node, name)),
            FieldKind::Tests => drop(self.tests(node)),
            FieldKind::UpdateCheck => drop(self.update_check(node)),
            FieldKind::Bool => drop(self.bool(node)),
            FieldKind::Builder => drop(self.builder(node)),
            FieldKind::Sign => drop(self.sign(node)),
            FieldKind::Platforms => drop(self.platforms(node)),
            FieldKind::RunnerTags => drop(self.runner_tags(node)),
            FieldKind::VariableName | FieldKind::Strings | FieldKind::Text => {}
        }
    }

    fn images(&mut self, node: &Node, defaults: &Defaults) -> BTreeMap<String, Image> {
        let mut images = BTreeMap::new();
        let Some(entries) = self.mapping(node, "`images`") else {
            return images;
        };
        if entries.is_empty() {
            self.error(node, "`images` is empty: expected at least one image");
        }
        for (key, value) in entries {
            let Some(id) = key.as_str() else {
                self.error(key, format!("expected an image id, found {}", key.kind()));
                continue;
            };
            if let Err(reason) = check_image_id(id) {
                self.error(key, format!("invalid image id `{id}`: {reason}"));
                continue;
            }
            let Some(own) = self.image_fields(value, format_args!("image `{id}`")) else {
                continue;
            };
            let metadata = self.metadata(&defaults.fields, &own);
            let mut merged = defaults.fields.clone();
            merged.extend(own);
            let image = self.image(id, key, &merged, defaults);
            if let (Some(mut image), Some(metadata)) = (image, metadata) {
                image.metadata = metadata;
                images.insert(id.to_string(), image);
            }
        }
        images
    }

    fn image(
        &mut self,
        id: &str,
        key: &Node,
        fields: &FieldNodes,
        defaults: &Defaults,
    ) -> Option<Image> {
        let errors_before = self.diagnostics.len();
        let base_image = match fields.get("baseImage") {
            Some(node) => defaults
                .inherited(fields, "baseImage", &defaults.base_image)
                .or_else(|| self.reference(node, "baseImage")),
            None => {
                self.error(
                    key,
                    format!(
                        "image `{id}`: missing `baseImage`: expected the reference it is built FROM"
                    ),
                );
                None
            }
        };
        let immutable_targets = fields
            .get("immutableTargets")
            .map_or(Some(false), |n| self.bool(n));
        let targets = match fields.get("targetLocations") {
            Some(node) => self.targets(node, immutable_targets.unwrap_or(false)),
            None => {
                self.error(key, format!("image `{id}`: missing `targetLocations`: expected at least one reference to release to"));
                None
            }
        };
        let staging = match fields.get("staging") {
            Some(node) => defaults
                .inherited(fields, "staging", &defaults.staging)
                .or_else(|| self.repository(node, "staging")),
            None => self.default_staging(key, id),
        };
        let context = match fields.get("context") {
            Some(node) => self.path(node, "context"),
            None => Some(".".to_string()),
        };
        let containerfile = match fields.get("containerfile") {
            Some(node) => self.path(node, "containerfile"),
            None => context.as_ref().map(|c| join_path(c, "Containerfile")),
        };
        let watched = fields
            .get("watchedAssets")
            .map_or(Some((Vec::new(), Vec::new())), |n| self.globs(n));
        let build_args = fields
            .get("buildArgs")
            .map_or(Some(BTreeMap::new()), |n| self.build_args(n));
        let tests = fields.get("tests").map_or(Some(Vec::new()), |n| {
            defaults
                .inherited(fields, "tests", &defaults.tests)
                .or_else(|| self.tests(n))
        });
        let update_check = fields
            .get("updateCheck")
            .map_or(Some(UpdateCheck::Auto), |n| self.update_check(n));
        let layer_check = fields
            .get("layerCheck")
            .map_or(Some(true), |n| self.bool(n));
        let builder = fields
            .get("builder")
            .map_or(Some(BUILDERS[0].to_string()), |n| self.builder(n));
        let scan = fields.get("scan").map_or(Some(false), |n| self.bool(n));
        let sign = fields.get("sign").map_or(Some(None), |n| self.sign(n));
        let test_count = tests.as_ref().map_or(0, Vec::len);
        let platform_fields = self.platform_fields(id, key, fields, test_count);
        if self.diagnostics.len() > errors_before {
            return None;
        }
        let item_positions = |field: &str| match fields.get(field).map(|n| &n.value) {
            Some(Value::Sequence(items)) => items.iter().map(|item| item.position).collect(),
            _ => Vec::new(),
        };
        let position_of = |field: &str| fields.get(field).map(|n| n.position);
        let (target_locations, immutable_targets) = targets?;
        let watched = watched?;
        let context_position = position_of("context").unwrap_or(key.position);
        Some(Image {
            id: id.to_string(),
            positions: ImagePositions {
                id: key.position,
                base_image: position_of("baseImage").unwrap_or(key.position),
                target_locations: item_positions("targetLocations"),
                containerfile: position_of("containerfile").unwrap_or(context_position),
                context: context_position,
                watched_assets: item_positions("watchedAssets"),
            },
            base_image: base_image?,
            containerfile: containerfile?,
            build_context: context?,
            target_locations,
            immutable_targets,
            staging: staging?,
            watched_assets: watched.0,
            watched_globs: watched.1,
            build_args: build_args?,
            metadata: Metadata::default(),
            tests: tests?,
            update_check: update_check?,
            layer_check: layer_check?,
            builder: builder?,
            scan: scan?,
            sign: sign?,
            platforms: platform_fields?,
        })
    }

    fn default_staging(&mut self, key: &Node, id: &str) -> Option<Repository> {
        let expanded = match self.expand(DEFAULT_STAGING) {
            Ok(text) => text,
            Err(message) => {
                self.error(key, format!("image `{id}` has no `staging` and the default `{DEFAULT_STAGING}` cannot be used: {message}"));
                return None;
            }
        };
        match Repository::parse(&expanded) {
            Ok(repo) => Some(repo),
            Err(err) => {
                self.error(
                    key,
                    format!("image `{id}`: default staging repository: {err}"),
                );
                None
            }
        }
    }

    /// Expands variables; in tolerant mode an unset variable becomes a placeholder so that the
    /// rest of the field can still be checked. Text without `$` is its own expansion (most
    /// values): borrowed, not copied.
    fn expand<'t>(&mut self, text: &'t str) -> Result<Cow<'t, str>, String> {
        if !text.contains('$') {
            return Ok(Cow::Borrowed(text));
        }
        loop {
            let lookup = |name: &str| {
                if self.credential_variables.contains(name) || SECRET_VARIABLES.contains(&name) {
                    return Err(ExpandError::Refused(name.to_string()));
                }
                self.vars
                    .get(name)
                    .map(str::to_string)
                    .ok_or_else(|| ExpandError::Missing(name.to_string()))
            };
            match expand_with(text, lookup) {
                Ok(expanded) => return Ok(Cow::Owned(expanded)),
                Err(ExpandError::Missing(name)) if self.missing == MissingVariables::Tolerate => {
                    // Host-shaped, so it fits wherever the variable stands (a registry, a path).
                    let placeholder =
                        format!("unset-{}.invalid", name.to_lowercase().replace('_', "-"));
                    self.vars.set(&name, &placeholder);
                }
                Err(ExpandError::Missing(name)) => {
                    return Err(format!("variable `{name}` is not set"));
                }
                Err(ExpandError::Refused(name)) => {
                    return Err(format!(
                        "`{name}` holds a credential, and credentials are never expanded into a pipeline (jobs read them at run time)"
                    ));
                }
                Err(ExpandError::Malformed(message)) => return Err(message),
            }
        }
    }

    fn string(&mut self, node: &Node, expected: &str) -> Option<String> {
        self.text(node, expected).map(str::to_string)
    }

    /// A scalar's text, borrowed from the node.
    fn text<'n>(&mut self, node: &'n Node, expected: &str) -> Option<&'n str> {
        match node.as_str() {
            Some(text) if !matches!(node.value, Value::Sequence(_) | Value::Mapping(_)) => {
                Some(text)
            }
            _ => {
                self.error(node, format!("expected {expected}, found {}", node.kind()));
                None
            }
        }
    }

    fn expanded_string<'n>(
        &mut self,
        node: &'n Node,
        expected: &str,
        field: &str,
    ) -> Option<Cow<'n, str>> {
        let text = self.text(node, expected)?;
        match self.expand(text) {
            Ok(expanded) => Some(expanded),
            Err(message) => {
                self.error(
                    node,
                    format!("`{field}`: cannot expand `{text}`: {message}"),
                );
                None
            }
        }
    }

    fn strings(&mut self, node: &Node, expected: &str) -> Option<Vec<String>> {
        let Value::Sequence(items) = &node.value else {
            self.error(
                node,
                format!("expected a list of {expected}, found {}", node.kind()),
            );
            return None;
        };
        let values: Vec<Option<String>> = items
            .iter()
            .map(|item| self.string(item, expected))
            .collect();
        values.into_iter().collect()
    }

    fn bool(&mut self, node: &Node) -> Option<bool> {
        let value = node.as_bool();
        if value.is_none() {
            self.error(
                node,
                format!("expected `true` or `false`, found {}", describe(node)),
            );
        }
        value
    }

    fn reference(&mut self, node: &Node, field: &str) -> Option<Reference> {
        let text = self.expanded_string(node, "an image reference", field)?;
        match Reference::parse(&text) {
            Ok(reference) => Some(reference),
            Err(err) => {
                self.error(node, err.to_string());
                None
            }
        }
    }

    fn repository(&mut self, node: &Node, field: &str) -> Option<Repository> {
        let text = self.expanded_string(node, "a repository", field)?;
        match Repository::parse(&text) {
            Ok(repo) => Some(repo),
            Err(err) => {
                self.error(node, err.to_string());
                None
            }
        }
    }

    fn path(&mut self, node: &Node, field: &str) -> Option<String> {
        let text = self.expanded_string(node, "a path", field)?;
        let path = normalize_repo_path(&text);
        let escapes = path.split('/').any(|part| part == "..");
        if text.trim().is_empty() || text.starts_with('/') || escapes || path.starts_with('-') {
            self.error(
                node,
                format!("invalid path `{text}`: expected a path inside the repository, relative to its root (not starting with `-`)"),
            );
            return None;
        }
        Some(path)
    }

    /// The watched globs, normalised, each with its parsed pattern.
    fn globs(&mut self, node: &Node) -> Option<WatchedGlobs> {
        let Value::Sequence(items) = &node.value else {
            self.error(
                node,
                format!("expected a list of globs, found {}", node.kind()),
            );
            return None;
        };
        let mut globs = Vec::with_capacity(items.len());
        let mut patterns = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items {
            let Some(text) = self.expanded_string(item, "a glob", "watchedAssets") else {
                ok = false;
                continue;
            };
            let normalized = normalize_repo_path(&text);
            // Parsed once, normalised, as the work-tree check matches it. The options do not
            // change what parses: a glob written in normal form needs no second parse to be
            // checked as written (and fails with the message of the glob as written).
            let as_written = normalized == text;
            let plain_directory = as_written && files_under(&normalized).is_some();
            let pattern = match plain_directory {
                true => None,
                false => watched_pattern(&normalized),
            };
            let parses_as_written = match as_written {
                true => plain_directory || pattern.is_some(),
                false => Glob::new(&text).is_ok(),
            };
            if text.trim().is_empty() {
                self.error(
                    item,
                    "empty glob: expected a glob of repository paths, e.g. `images/a/**`",
                );
                ok = false;
            } else if text.starts_with('/') {
                self.error(item, format!("invalid glob `{text}`: globs are relative to the repository root, without a leading `/`"));
                ok = false;
            } else if text.split('/').any(|part| part == "..") {
                self.error(item, format!("invalid glob `{text}`: `..` leaves the repository (globs are relative to its root)"));
                ok = false;
            } else if !parses_as_written && let Err(err) = Glob::new(&text) {
                self.error(item, format!("invalid glob `{text}`: {}", err.kind()));
                ok = false;
            }
            globs.push(normalized);
            patterns.push(pattern);
        }
        ok.then_some((globs, patterns))
    }

    fn build_args(&mut self, node: &Node) -> Option<BTreeMap<String, String>> {
        let entries = self.mapping(node, "`buildArgs`")?;
        let mut args = BTreeMap::new();
        let mut ok = true;
        for (key, value) in entries {
            let (Some(name), Some(value)) = (
                self.string(key, "a build arg name"),
                self.string(value, "a build arg value"),
            ) else {
                ok = false;
                continue;
            };
            if !is_variable_name(&name) {
                self.error(
                    key,
                    format!("invalid build arg name `{name}`: expected [A-Za-z_][A-Za-z0-9_]*"),
                );
                ok = false;
            } else if RESERVED_BUILD_ARGS.contains(&name.as_str()) {
                self.error(key, format!("build arg `{name}` is set by gipgee: remove it (use `baseImage` for the base)"));
                ok = false;
            }
            args.insert(name, value);
        }
        ok.then_some(args)
    }

    fn tests(&mut self, node: &Node) -> Option<Vec<ImageTest>> {
        let Value::Sequence(items) = &node.value else {
            self.error(
                node,
                format!("expected a list of tests, found {}", node.kind()),
            );
            return None;
        };
        if items.len() > MAX_TESTS {
            self.error(
                node,
                format!(
                    "{} tests: expected at most {MAX_TESTS} (the release job waits for every test and for the parent's release, and GitLab allows 50 `needs`)",
                    items.len()
                ),
            );
            return None;
        }
        let mut tests: Vec<ImageTest> = Vec::new();
        let mut ok = true;
        for item in items {
            match self.test(item) {
                Some(test) if tests.iter().any(|t| t.name == test.name) => {
                    self.error(item, format!("duplicate test name `{}`", test.name));
                    ok = false;
                }
                Some(test) => tests.push(test),
                None => ok = false,
            }
        }
        ok.then_some(tests)
    }

    fn test(&mut self, node: &Node) -> Option<ImageTest> {
        let entries = self.mapping(node, "a test")?;
        let (mut name, mut run) = (None, None);
        let mut ok = true;
        for (key, value) in entries {
            match self.known_key(key, TEST_FIELDS.iter().map(|f| f.name), "test key") {
                Some("name") => name = self.test_name(value),
                Some(kind @ ("script" | "command")) => {
                    if run.is_some() {
                        self.error(key, "a test has either `script` or `command`, not both");
                        ok = false;
                    }
                    let what = if kind == "script" {
                        "shell lines"
                    } else {
                        "command arguments"
                    };
                    match self.strings(value, what) {
                        Some(lines) if lines.is_empty() => {
                            self.error(value, format!("expected at least one entry in `{kind}`"));
                            ok = false;
                        }
                        Some(lines) if kind == "script" => run = Some(TestRun::Script(lines)),
                        Some(lines) => run = Some(TestRun::Command(lines)),
                        None => ok = false,
                    }
                }
                _ => ok = false,
            }
        }
        if name.is_none() && ok {
            self.error(node, "a test needs a `name`");
        }
        if run.is_none() && ok {
            self.error(
                node,
                "a test needs a `script` (shell lines) or a `command` (argv)",
            );
        }
        Some(ImageTest {
            name: name?,
            run: run?,
        })
        .filter(|_| ok)
    }

    fn test_name(&mut self, node: &Node) -> Option<String> {
        let name = self.string(node, "a test name")?;
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            self.error(node, "invalid test name: expected 1 to 100 characters, without control characters or newlines");
            return None;
        }
        Some(name)
    }

    fn update_check(&mut self, node: &Node) -> Option<UpdateCheck> {
        match (&node.value, node.as_str()) {
            (Value::Scalar { .. }, Some("auto")) => Some(UpdateCheck::Auto),
            (Value::Scalar { .. }, Some("none")) => Some(UpdateCheck::None),
            (Value::Mapping(entries), _) => {
                let mut command = None;
                for (key, value) in entries {
                    if self
                        .known_key(key, ["command"].into_iter(), "updateCheck key")
                        .is_some()
                    {
                        command = self.strings(value, "command arguments");
                    }
                }
                match command {
                    Some(argv) if !argv.is_empty() => Some(UpdateCheck::Command(argv)),
                    _ => {
                        self.error(
                            node,
                            "expected `command: [argv...]` with at least one argument",
                        );
                        None
                    }
                }
            }
            _ => {
                self.error(
                    node,
                    format!(
                        "expected `auto`, `none` or `{{command: [argv...]}}`, found {}",
                        describe(node)
                    ),
                );
                None
            }
        }
    }

    fn builder(&mut self, node: &Node) -> Option<String> {
        let name = self.string(node, "a builder name")?;
        if BUILDERS.contains(&name.as_str()) {
            return Some(name);
        }
        let mut diag = Diagnostic::at(node.position, format!("unknown builder `{name}`"))
            .with_width(node.width());
        diag = diag.with_help(format!(
            "the built-in builders are: {}",
            BUILDERS.join(", ")
        ));
        self.diagnostics.push(diag);
        None
    }
}

impl Walker {
    /// `sign:`: `false` (not signed), `keyless`, or `{keyVariable, passwordVariable}` (the
    /// names of CI/CD variables; the job reads the key at run time).
    fn sign(&mut self, node: &Node) -> Option<Option<Signing>> {
        const EXPECTED: &str =
            "expected `keyless`, `{keyVariable: NAME, passwordVariable: NAME}` or `false`";
        match &node.value {
            Value::Mapping(entries) => {
                let (mut key_variable, mut password_variable) = (None, None);
                let mut ok = true;
                for (key, value) in entries {
                    match self.known_key(key, SIGN_FIELDS.iter().map(|f| f.name), "sign key") {
                        Some("keyVariable") => key_variable = self.variable_name(value),
                        Some("passwordVariable") => {
                            password_variable = self.variable_name(value);
                            ok &= password_variable.is_some();
                        }
                        _ => ok = false,
                    }
                }
                if key_variable.is_none() && ok {
                    self.error(node, format!("missing `keyVariable`: {EXPECTED}"));
                }
                let key_variable = key_variable.filter(|_| ok)?;
                Some(Some(Signing::Key {
                    key_variable,
                    password_variable,
                }))
            }
            _ if node.as_bool() == Some(false) => Some(None),
            _ if node.as_str() == Some("keyless") => Some(Some(Signing::Keyless)),
            _ => {
                let hint = match node.as_bool() {
                    Some(true) => " (`keyless` signs with the job's GitLab ID token)",
                    _ => "",
                };
                self.error(node, format!("{EXPECTED}, found {}{hint}", describe(node)));
                None
            }
        }
    }
}

/// The variables named as signing keys and passwords anywhere in the file (`defaults` and
/// every image), read before any value is expanded: like the registries' credentials, they are
/// never expanded into a pipeline.
fn signing_key_variables(entries: &[(Node, Node)]) -> Vec<String> {
    fn field<'n>(node: &'n Node, name: &str) -> Option<&'n Node> {
        match &node.value {
            Value::Mapping(fields) => fields
                .iter()
                .find(|(key, _)| key.as_str() == Some(name))
                .map(|(_, value)| value),
            _ => None,
        }
    }
    let mut signs: Vec<&Node> = Vec::new();
    for (key, value) in entries {
        match (key.as_str(), &value.value) {
            (Some("defaults"), _) => signs.extend(field(value, "sign")),
            (Some("images"), Value::Mapping(images)) => {
                signs.extend(images.iter().filter_map(|(_, image)| field(image, "sign")))
            }
            _ => {}
        }
    }
    signs
        .into_iter()
        .flat_map(|sign| ["keyVariable", "passwordVariable"].map(|name| field(sign, name)))
        .flatten()
        .filter_map(Node::as_str)
        .map(str::to_string)
        .collect()
}

/// A key only the original gipgee format has (at the top, in `defaults` or in an image), so
/// that such a file gets one clear message instead of an "unknown key" per line.
fn original_format_key(entries: &[(Node, Node)]) -> Option<&Node> {
    const TOP: &[&str] = &["registryCredentials", "quirks"];
    const DEFAULTS: &[&str] = &[
        "defaultStagingRegistry",
        "defaultReleaseRegistry",
        "defaultContainerFile",
        "defaultBaseImage",
        "defaultTestCommand",
        "defaultUpdateCheckCommand",
    ];
    const IMAGE: &[&str] = &[
        "releaseLocations",
        "stagingLocation",
        "containerFile",
        "testCommand",
        "updateCheckCommand",
        "assetsToWatch",
    ];
    entries.iter().find_map(|(key, value)| match key.as_str() {
        Some(name) if TOP.contains(&name) => Some(key),
        Some("defaults") => key_among(value, DEFAULTS),
        Some("images") => match &value.value {
            Value::Mapping(images) => images.iter().find_map(|(_, image)| key_among(image, IMAGE)),
            _ => None,
        },
        _ => None,
    })
}

/// The first key of a mapping `node` that is one of `names`.
fn key_among<'n>(node: &'n Node, names: &[&str]) -> Option<&'n Node> {
    match &node.value {
        Value::Mapping(entries) => entries
            .iter()
            .map(|(key, _)| key)
            .find(|key| key.as_str().is_some_and(|k| names.contains(&k))),
        _ => None,
    }
}

fn describe(node: &Node) -> String {
    match node.as_str() {
        Some(text) => format!("`{text}`"),
        None => node.kind().to_string(),
    }
}

/// Repo-relative paths as git reports them: no `./` segments, no doubled or trailing `/`
/// (so `./images/a/**` matches `images/a/x`). The repository root is `.`.
fn normalize_repo_path(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect();
    match parts.is_empty() {
        true => ".".to_string(),
        false => parts.join("/"),
    }
}

pub(super) fn join_path(dir: &str, file: &str) -> String {
    match dir.trim_end_matches('/') {
        "" | "." => file.to_string(),
        dir => [dir, "/", file].concat(),
    }
}

/// An image id: `[A-Za-z0-9_.-]`, at most [`MAX_ID_LEN`] characters, not starting with `.`
/// or `-`.
fn check_image_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("expected at least one character".into());
    }
    if id.len() > MAX_ID_LEN {
        return Err(format!(
            "expected at most {MAX_ID_LEN} characters, found {}",
            id.len()
        ));
    }
    if id.starts_with(['.', '-']) {
        return Err("must not start with `.` or `-`".into());
    }
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(format!(
            "`{bad}` is not allowed: expected letters, digits, `_`, `.` or `-`"
        ));
    }
    Ok(())
}
