//! `gipgee migrate`: a configuration in the original gipgee's format → gipgee.yaml version 1.
//!
//! The original format names registry, repository and tag apart (`baseImage: {registry,
//! repository, tag, credentials}`), takes defaults from `defaults.default…` keys, names
//! credentials by id (`registryCredentials`) and lists build args as `{key, value}`. Version 1
//! writes whole references and names credential variables per registry host. Defaults are
//! resolved as the original did and written into each image, so every image reads on its own;
//! the comments at the top of the output say what changed and why. What version 1 cannot
//! express is an error naming it, never a silent change.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;

use crate::config::yaml::{self, Node, Value};
use crate::diagnostic::{Diagnostic, SourceDiagnostics};
use crate::error::Error;
use crate::oci::{Reference, Repository, normalize_registry_host};

/// The update-check command the original used for its built-in check.
const ORIGINAL_AUTO_CHECK: &[&str] = &["update-check", "auto-update-check"];
/// The repository of a staging image whose original configuration named none (the original
/// used the commit sha as the repository name; version 1 makes unique tags instead).
const DEFAULT_STAGING_REPOSITORY: &str = "gipgee-staging";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Original {
    #[serde(default)]
    quirks: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    registry_credentials: BTreeMap<String, Credentials>,
    #[serde(default)]
    defaults: Defaults,
    #[serde(default)]
    images: BTreeMap<String, OriginalImage>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Credentials {
    username_var_name: Option<String>,
    password_var_name: Option<String>,
    auth_env_var: Option<String>,
    auth_file: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Defaults {
    default_staging_registry: Option<String>,
    default_release_registry: Option<String>,
    default_container_file: Option<String>,
    default_staging_registry_credentials: Option<String>,
    default_base_image_registry_credentials: Option<String>,
    default_release_registry_credentials: Option<String>,
    default_update_check_command: Option<Vec<String>>,
    default_test_command: Option<Vec<String>>,
    default_assets_to_watch: Option<Vec<String>>,
    default_base_image: Option<Location>,
    default_build_args: Option<Vec<BuildArg>>,
}

#[derive(Deserialize, Default, Clone)]
struct Location {
    registry: Option<String>,
    repository: Option<String>,
    tag: Option<String>,
    credentials: Option<String>,
}

#[derive(Deserialize)]
struct BuildArg {
    key: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OriginalImage {
    container_file: Option<String>,
    staging_location: Option<Location>,
    #[serde(default)]
    release_locations: Vec<Location>,
    base_image: Option<Location>,
    update_check_command: Option<Vec<String>>,
    test_command: Option<Vec<String>>,
    assets_to_watch: Option<Vec<String>>,
    build_args: Option<Vec<BuildArg>>,
}

/// One image in version 1's terms.
struct Image {
    base_image: String,
    containerfile: String,
    staging: String,
    target_locations: Vec<String>,
    watched_assets: Vec<String>,
    build_args: BTreeMap<String, String>,
    test_command: Option<Vec<String>>,
    update_check: UpdateCheck,
}

enum UpdateCheck {
    Auto,
    None,
    Command(Vec<String>),
}

/// Which credential id a registry host logs in with, and where that was decided.
struct HostLogin {
    credential: String,
    used_by: String,
}

/// The conversion, collecting every problem and every note.
#[derive(Default)]
struct Migration {
    problems: Vec<String>,
    notes: Vec<String>,
    logins: BTreeMap<String, HostLogin>,
}

/// Converts the original configuration `source` (read from `input`) into gipgee.yaml v1.
pub fn migrate(input: &Path, source: &str) -> Result<String, Error> {
    let invalid = |diagnostics: Vec<Diagnostic>| {
        Error::Invalid(SourceDiagnostics {
            file: input.to_path_buf(),
            source: source.to_string(),
            diagnostics,
        })
    };
    let (root, duplicates) = yaml::parse(source).map_err(|diagnostic| invalid(vec![diagnostic]))?;
    if !duplicates.is_empty() {
        return Err(invalid(duplicates));
    }
    let tree = root.as_ref().map_or(serde_json::Value::Null, literal_json);
    let original: Original = serde_json::from_value(tree).map_err(|err| {
        invalid(vec![Diagnostic::unplaced(format!(
            "not a configuration in the original gipgee format: {err}"
        ))])
    })?;
    let mut migration = Migration::default();
    if original.images.is_empty() {
        migration
            .problems
            .push("the configuration has no images".into());
    }
    let images: BTreeMap<&String, Image> = original
        .images
        .iter()
        .filter_map(|(id, image)| Some((id, migration.image(id, image, &original.defaults)?)))
        .collect();
    migration.note_credentials(&original.registry_credentials);
    if !original.quirks.is_empty() {
        let names: Vec<&str> = original.quirks.keys().map(String::as_str).collect();
        migration.notes.push(format!(
            "dropped `quirks` ({}): they worked around kaniko, and gipgee builds with buildah",
            names.join(", ")
        ));
    }
    let registries = migration.registries(&original.registry_credentials);
    if !migration.problems.is_empty() {
        return Err(invalid(
            migration
                .problems
                .into_iter()
                .map(Diagnostic::unplaced)
                .collect(),
        ));
    }
    Ok(render(input, &migration.notes, &registries, &images))
}

impl Migration {
    fn image(&mut self, id: &str, image: &OriginalImage, defaults: &Defaults) -> Option<Image> {
        let problems_before = self.problems.len();
        let containerfile = image
            .container_file
            .clone()
            .or_else(|| defaults.default_container_file.clone());
        if containerfile.is_none() {
            self.problems.push(format!(
                "image `{id}`: no `containerFile` and no `defaults.defaultContainerFile`"
            ));
        }
        let base_image = self.base_image(id, image.base_image.as_ref(), defaults);
        let staging = self.staging(id, image.staging_location.as_ref(), defaults);
        if image.release_locations.is_empty() {
            self.problems
                .push(format!("image `{id}`: no `releaseLocations`"));
        }
        let target_locations: Vec<Option<String>> = image
            .release_locations
            .iter()
            .enumerate()
            .map(|(index, location)| {
                let what = format!("image `{id}`, release location {}", index + 1);
                let registry = location
                    .registry
                    .as_ref()
                    .or(defaults.default_release_registry.as_ref());
                let credentials = location
                    .credentials
                    .as_ref()
                    .or(defaults.default_release_registry_credentials.as_ref());
                self.reference(&what, registry, location, credentials, "latest")
            })
            .collect();
        let update_check = match image
            .update_check_command
            .as_ref()
            .or(defaults.default_update_check_command.as_ref())
        {
            None => UpdateCheck::Auto,
            Some(argv) if argv.is_empty() => UpdateCheck::None,
            Some(argv) if is_original_auto_check(argv) => UpdateCheck::Auto,
            Some(argv) => UpdateCheck::Command(argv.clone()),
        };
        let mut build_args = BTreeMap::new();
        let args = image
            .build_args
            .as_ref()
            .or(defaults.default_build_args.as_ref());
        for arg in args.into_iter().flatten() {
            if build_args
                .insert(arg.key.clone(), arg.value.clone())
                .is_some()
            {
                self.notes.push(format!(
                    "image `{id}`: build arg `{}` was listed twice; the last value is kept, as the build did",
                    arg.key
                ));
            }
        }
        if self.problems.len() > problems_before {
            return None;
        }
        Some(Image {
            base_image: base_image?,
            containerfile: containerfile?,
            staging: staging?,
            target_locations: target_locations.into_iter().collect::<Option<_>>()?,
            watched_assets: image
                .assets_to_watch
                .clone()
                .or_else(|| defaults.default_assets_to_watch.clone())
                .unwrap_or_default(),
            build_args,
            test_command: image
                .test_command
                .clone()
                .or_else(|| defaults.default_test_command.clone())
                .filter(|argv| !argv.is_empty()),
            update_check,
        })
    }

    /// The base image: each part from the image, else from `defaults.defaultBaseImage`.
    fn base_image(
        &mut self,
        id: &str,
        own: Option<&Location>,
        defaults: &Defaults,
    ) -> Option<String> {
        let fallback = defaults.default_base_image.clone().unwrap_or_default();
        let own = own.cloned().unwrap_or_default();
        let merged = Location {
            registry: own.registry.or(fallback.registry),
            repository: own.repository.or(fallback.repository),
            tag: own.tag.or(fallback.tag),
            credentials: own.credentials.or(fallback.credentials),
        };
        let credentials = merged
            .credentials
            .as_ref()
            .or(defaults.default_base_image_registry_credentials.as_ref());
        let what = format!("image `{id}`, base image");
        self.reference(
            &what,
            merged.registry.as_ref(),
            &merged,
            credentials,
            "latest",
        )
    }

    /// The staging repository: version 1 makes the tag (unique per pipeline) itself.
    fn staging(&mut self, id: &str, own: Option<&Location>, defaults: &Defaults) -> Option<String> {
        let own = own.cloned().unwrap_or_default();
        let Some(registry) = own
            .registry
            .as_ref()
            .or(defaults.default_staging_registry.as_ref())
        else {
            self.problems.push(format!(
                "image `{id}`: no staging registry (`stagingLocation.registry` or `defaults.defaultStagingRegistry`)"
            ));
            return None;
        };
        if own.tag.is_some() {
            self.notes.push(format!(
                "image `{id}`: the fixed staging tag is dropped: gipgee tags staging images uniquely per pipeline"
            ));
        }
        let repository = own.repository.clone().unwrap_or_else(|| {
            self.notes.push(format!(
                "image `{id}`: no staging repository was named; `{DEFAULT_STAGING_REPOSITORY}` is used"
            ));
            DEFAULT_STAGING_REPOSITORY.to_string()
        });
        let credentials = own
            .credentials
            .as_ref()
            .or(defaults.default_staging_registry_credentials.as_ref());
        let host = self.host(&format!("image `{id}`, staging"), registry)?;
        self.login(&host, credentials, &format!("image `{id}`, staging"));
        match Repository::parse(&format!("{host}/{repository}")) {
            Ok(repository) => Some(repository.to_string()),
            Err(err) => {
                self.problems
                    .push(format!("image `{id}`, staging: {}", err.reason));
                None
            }
        }
    }

    /// `registry/repository:tag` as one normalised reference; records the location's login.
    fn reference(
        &mut self,
        what: &str,
        registry: Option<&String>,
        location: &Location,
        credentials: Option<&String>,
        default_tag: &str,
    ) -> Option<String> {
        let Some(repository) = &location.repository else {
            self.problems.push(format!("{what}: no `repository`"));
            return None;
        };
        let Some(registry) = registry else {
            self.problems
                .push(format!("{what}: no `registry` and no default registry"));
            return None;
        };
        let host = self.host(what, registry)?;
        self.login(&host, credentials, what);
        let tag = location.tag.as_deref().unwrap_or(default_tag);
        match Reference::parse(&format!("{host}/{repository}:{tag}")) {
            Ok(reference) => Some(reference.to_string()),
            Err(err) => {
                self.problems.push(format!("{what}: {err}"));
                None
            }
        }
    }

    fn host(&mut self, what: &str, registry: &str) -> Option<String> {
        match normalize_registry_host(registry) {
            Ok(host) => Some(host),
            Err(err) => {
                self.problems.push(format!(
                    "{what}: invalid registry `{registry}`: {}",
                    err.reason
                ));
                None
            }
        }
    }

    /// Records which credential id `host` logs in with; two ids for one host is a problem.
    fn login(&mut self, host: &str, credential: Option<&String>, used_by: &str) {
        let Some(credential) = credential else {
            return;
        };
        match self.logins.get(host) {
            Some(known) if &known.credential != credential => self.problems.push(format!(
                "registry `{host}` logs in as `{}` ({}) and as `{credential}` ({used_by}): gipgee.yaml names one account per registry; use one for both",
                known.credential, known.used_by
            )),
            Some(_) => {}
            None => {
                self.logins.insert(
                    host.to_string(),
                    HostLogin {
                        credential: credential.clone(),
                        used_by: used_by.to_string(),
                    },
                );
            }
        }
    }

    /// `registries:` from the credentials the locations use: variable names per host.
    fn registries(
        &mut self,
        credentials: &BTreeMap<String, Credentials>,
    ) -> BTreeMap<String, (String, String)> {
        let mut registries = BTreeMap::new();
        for (host, login) in &self.logins {
            match credentials.get(&login.credential) {
                None => self.problems.push(format!(
                    "{} names the credentials `{}`, which `registryCredentials` does not define",
                    login.used_by, login.credential
                )),
                Some(Credentials {
                    username_var_name: Some(user),
                    password_var_name: Some(password),
                    ..
                }) => {
                    registries.insert(host.clone(), (user.clone(), password.clone()));
                }
                Some(_) => {}
            }
        }
        registries
    }

    /// Notes on credentials that version 1 gets elsewhere than from `registries:`.
    fn note_credentials(&mut self, credentials: &BTreeMap<String, Credentials>) {
        for (name, credential) in credentials {
            if let Some(variable) = &credential.auth_env_var {
                self.notes.push(match variable.as_str() {
                    "DOCKER_AUTH_CONFIG" => format!(
                        "credentials `{name}`: DOCKER_AUTH_CONFIG is read by gipgee itself; nothing to configure"
                    ),
                    other => format!(
                        "credentials `{name}`: gipgee reads docker auth JSON from DOCKER_AUTH_CONFIG, not from `{other}`: set DOCKER_AUTH_CONFIG"
                    ),
                });
            }
            if let Some(file) = &credential.auth_file {
                self.notes.push(format!(
                    "credentials `{name}`: gipgee reads $DOCKER_CONFIG/config.json or ~/.docker/config.json, not `{file}`"
                ));
            }
        }
    }
}

/// The YAML tree as JSON with every scalar as its literal text (`tag: 3.20` is the tag
/// "3.20", not the number 3.2), but for nulls and booleans.
fn literal_json(node: &Node) -> serde_json::Value {
    match &node.value {
        Value::Scalar { .. } if node.is_null() => serde_json::Value::Null,
        Value::Scalar { text, .. } => match node.as_bool() {
            Some(flag) => serde_json::Value::Bool(flag),
            None => serde_json::Value::String(text.clone()),
        },
        Value::Sequence(items) => items.iter().map(literal_json).collect(),
        Value::Mapping(entries) => entries
            .iter()
            .filter_map(|(key, value)| Some((key.as_str()?.to_string(), literal_json(value))))
            .collect(),
    }
}

/// `[./gipgee, update-check, auto-update-check]` (any path to gipgee): the original's
/// built-in check, `updateCheck: auto` now.
fn is_original_auto_check(argv: &[String]) -> bool {
    argv.len() >= ORIGINAL_AUTO_CHECK.len()
        && argv[argv.len() - ORIGINAL_AUTO_CHECK.len()..]
            .iter()
            .zip(ORIGINAL_AUTO_CHECK)
            .all(|(a, b)| a == b)
}

fn render(
    input: &Path,
    notes: &[String],
    registries: &BTreeMap<String, (String, String)>,
    images: &BTreeMap<&String, Image>,
) -> String {
    let q = |text: &str| serde_json::to_string(text).unwrap_or_default();
    let list = |items: &[String]| {
        let quoted: Vec<String> = items.iter().map(|item| q(item)).collect();
        format!("[{}]", quoted.join(", "))
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Converted by `gipgee migrate` from {} (the original gipgee format).",
        input.display()
    );
    let _ = writeln!(
        out,
        "# Defaults are resolved as the original did and written into each image; references are"
    );
    let _ = writeln!(
        out,
        "# whole (`registry/repository:tag`); staging images get a unique tag per pipeline."
    );
    for note in notes {
        let _ = writeln!(out, "# Note: {note}");
    }
    out.push_str("version: 1\n");
    if !registries.is_empty() {
        out.push_str("registries:\n");
        for (host, (user, password)) in registries {
            let _ = writeln!(out, "  {}:", q(host));
            let _ = writeln!(out, "    usernameVariable: {}", q(user));
            let _ = writeln!(out, "    passwordVariable: {}", q(password));
        }
    }
    out.push_str("images:\n");
    for (id, image) in images {
        let _ = writeln!(out, "  {}:", q(id));
        let _ = writeln!(out, "    baseImage: {}", q(&image.base_image));
        let _ = writeln!(out, "    containerfile: {}", q(&image.containerfile));
        let _ = writeln!(out, "    staging: {}", q(&image.staging));
        let _ = writeln!(
            out,
            "    targetLocations: {}",
            list(&image.target_locations)
        );
        if !image.watched_assets.is_empty() {
            let _ = writeln!(out, "    watchedAssets: {}", list(&image.watched_assets));
        }
        if !image.build_args.is_empty() {
            out.push_str("    buildArgs:\n");
            for (key, value) in &image.build_args {
                let _ = writeln!(out, "      {}: {}", q(key), q(value));
            }
        }
        if let Some(argv) = &image.test_command {
            let _ = writeln!(
                out,
                "    tests: [{{name: \"test\", command: {}}}]",
                list(argv)
            );
        }
        let _ = match &image.update_check {
            UpdateCheck::Auto => writeln!(out, "    updateCheck: auto"),
            UpdateCheck::None => writeln!(out, "    updateCheck: none"),
            UpdateCheck::Command(argv) => {
                writeln!(out, "    updateCheck: {{command: {}}}", list(argv))
            }
        };
    }
    out
}
