//! Registry credentials and registry-client settings from gipgee's configuration and the
//! job's environment: the adapter between gipgee and its registry client, which knows
//! neither gipgee.yaml nor CI variables.
//!
//! Credential sources, first match wins, looked up by the registry host of a reference:
//! 1. `registries:` in gipgee.yaml: the variables named by `usernameVariable` /
//!    `passwordVariable` (a named but unset variable is an error, reported only when the
//!    registry actually asks for credentials);
//! 2. `DOCKER_AUTH_CONFIG` (the JSON of a docker `config.json`, as GitLab runners use it);
//! 3. the docker config file: `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`;
//! 4. `$CI_REGISTRY`: `CI_REGISTRY_USER` / `CI_REGISTRY_PASSWORD`, else `gitlab-ci-token` /
//!    `CI_JOB_TOKEN`.
//!
//! Sources 1 and 4 follow [`login_variables`], the same rule that decides which variables a
//! generated job logs in with, so what gipgee reads and what its jobs use cannot drift apart.
//!
//! In docker config files, `auths` keys are matched by host: a scheme and path are ignored,
//! and Docker Hub's other names (e.g. `https://index.docker.io/v1/`) mean `docker.io`
//! ([`crate::oci::canonical_host`]). Entries with `auth` (base64 `user:password`) or
//! `username` + `password` are used; `identitytoken`, `credsStore` and `credHelpers` are not
//! (they need a helper program or an OAuth refresh flow that CI jobs do not have).
//!
//! Also here: the client settings gipgee derives from its configuration ([`client_config`]),
//! and the one rule which variables a job logs in with ([`login_variables`]).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::config::RegistryConfig;
use crate::error::Error;
use crate::oci::canonical_host;
use crate::registry::{ClientConfig, Credential, CredentialProblem, CredentialProvider, Secret};
use crate::vars::Vars;

/// The variables holding extra trusted CA certificates (PEM files): the usual OpenSSL one,
/// and the one GitLab sets to a self-managed instance's CA.
pub const CA_FILE_VARIABLES: [&str; 2] = ["SSL_CERT_FILE", "CI_SERVER_TLS_CA_FILE"];

/// Where a credential came from; its `Display` is the [`Credential::source`] errors quote
/// ("the credentials from …"). Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `registries:` in gipgee.yaml.
    Config {
        username_variable: String,
        password_variable: String,
    },
    /// `DOCKER_AUTH_CONFIG`, entry `key` of `auths`.
    DockerAuthConfig { key: String },
    /// A docker config file, entry `key` of `auths`.
    DockerConfigFile { path: PathBuf, key: String },
    /// `$CI_REGISTRY` with `CI_REGISTRY_USER` / `CI_REGISTRY_PASSWORD`, or (when
    /// `job_token`) the user `gitlab-ci-token` with `CI_JOB_TOKEN`.
    CiRegistry { job_token: bool },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Config {
                username_variable,
                password_variable,
            } => write!(
                f,
                "the variables `{username_variable}` / `{password_variable}` (named in `registries:` of gipgee.yaml); check the value of `{password_variable}`"
            ),
            Source::DockerAuthConfig { key } => {
                write!(f, "`DOCKER_AUTH_CONFIG` (entry `auths.\"{key}\"`)")
            }
            Source::DockerConfigFile { path, key } => {
                write!(f, "{} (entry `auths.\"{key}\"`)", path.display())
            }
            Source::CiRegistry { job_token: false } => write!(
                f,
                "`$CI_REGISTRY` with the variables `CI_REGISTRY_USER` / `CI_REGISTRY_PASSWORD`"
            ),
            Source::CiRegistry { job_token: true } => write!(
                f,
                "`$CI_REGISTRY` with the user `gitlab-ci-token` and the variable `CI_JOB_TOKEN`"
            ),
        }
    }
}

/// A parsed docker config (`auths` only), from `DOCKER_AUTH_CONFIG` or a file.
#[derive(Clone, Default)]
struct DockerAuths {
    /// Normalised host → (original key, user, password).
    entries: BTreeMap<String, (String, String, Secret)>,
}

/// The entries' keys only: who logs in where is nobody's business in a log.
impl fmt::Debug for DockerAuths {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DockerAuths")
            .field(
                "keys",
                &self.entries.values().map(|e| &e.0).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Which variables log in to `host`: those named by `usernameVariable` / `passwordVariable`
/// in `registries:`, else `CI_REGISTRY_USER` / `CI_REGISTRY_PASSWORD` when `host` is
/// `$CI_REGISTRY` (`ci_registry`). Hosts are compared in the spelling of
/// [`crate::oci::canonical_host`]. Only variable names, never values.
pub fn login_variables(
    registries: &BTreeMap<String, RegistryConfig>,
    ci_registry: Option<&str>,
    host: &str,
) -> Option<(String, String)> {
    match login(registries, ci_registry, host)? {
        Login::Configured {
            username_variable,
            password_variable,
        } => Some((username_variable, password_variable)),
        Login::CiRegistry => Some((
            "CI_REGISTRY_USER".to_string(),
            "CI_REGISTRY_PASSWORD".to_string(),
        )),
    }
}

/// What [`login_variables`] decides, with where the decision came from: the credential
/// store treats the two differently (an unset configured variable is an error; `$CI_REGISTRY`
/// falls back to the job token, after the docker configs).
enum Login {
    Configured {
        username_variable: String,
        password_variable: String,
    },
    CiRegistry,
}

fn login(
    registries: &BTreeMap<String, RegistryConfig>,
    ci_registry: Option<&str>,
    host: &str,
) -> Option<Login> {
    let host = auths_key_host(host);
    let configured = registries
        .iter()
        .find(|(key, _)| auths_key_host(key) == host)
        .and_then(|(_, config)| {
            Some(Login::Configured {
                username_variable: config.username_variable.clone()?,
                password_variable: config.password_variable.clone()?,
            })
        });
    configured.or_else(|| {
        ci_registry
            .is_some_and(|ci| auths_key_host(ci) == host)
            .then_some(Login::CiRegistry)
    })
}

/// Looks up credentials by registry host from all sources (see the module docs). Its
/// `Debug` output shows variable names and `auths` keys, never a value.
#[derive(Debug, Clone)]
pub struct CredentialStore {
    registries: BTreeMap<String, RegistryConfig>,
    vars: Vars,
    auth_config: Result<Option<DockerAuths>, CredentialProblem>,
    config_file: Result<Option<(PathBuf, DockerAuths)>, CredentialProblem>,
}

impl CredentialStore {
    /// Reads `DOCKER_AUTH_CONFIG` and the docker config file now; a problem with either is
    /// kept and reported only when a registry asks for credentials.
    pub fn new(registries: &BTreeMap<String, RegistryConfig>, vars: &Vars) -> CredentialStore {
        let auth_config = vars
            .get("DOCKER_AUTH_CONFIG")
            .map(|json| DockerAuths::parse(json, "`DOCKER_AUTH_CONFIG`"))
            .transpose();
        let config_file = docker_config_path(vars)
            .filter(|path| path.is_file())
            .map(|path| {
                let what = path.display().to_string();
                std::fs::read_to_string(&path)
                    .map_err(|e| CredentialProblem(format!("cannot read {what}: {e}")))
                    .and_then(|text| DockerAuths::parse(&text, &what))
                    .map(|auths| (path, auths))
            })
            .transpose();
        CredentialStore {
            registries: registries.clone(),
            vars: vars.clone(),
            auth_config,
            config_file,
        }
    }

    /// The credential for `registry` (a reference's registry, e.g. `docker.io` or
    /// `host:5000`), `None` when no source has one.
    pub fn lookup(&self, registry: &str) -> Result<Option<Credential>, CredentialProblem> {
        let host = auths_key_host(registry);
        let login = login(&self.registries, self.vars.get("CI_REGISTRY"), &host);
        if let Some(Login::Configured {
            username_variable,
            password_variable,
        }) = &login
        {
            let get = |name: &str| {
                self.vars.get(name).ok_or_else(|| {
                    CredentialProblem(format!(
                        "the variable `{name}` named in `registries:` of gipgee.yaml is not set (or empty) in this job; check that it is defined for this branch (protected variables are only set on protected branches)"
                    ))
                })
            };
            return Ok(Some(credential(
                get(username_variable)?,
                get(password_variable)?,
                Source::Config {
                    username_variable: username_variable.clone(),
                    password_variable: password_variable.clone(),
                },
            )));
        }
        if let Some(auths) = self.auth_config.clone()?
            && let Some((key, username, password)) = auths.entries.get(&host)
        {
            return Ok(Some(Credential {
                username: username.clone(),
                password: password.clone(),
                source: Source::DockerAuthConfig { key: key.clone() }.to_string(),
            }));
        }
        if let Some((path, auths)) = self.config_file.clone()?
            && let Some((key, username, password)) = auths.entries.get(&host)
        {
            return Ok(Some(Credential {
                username: username.clone(),
                password: password.clone(),
                source: Source::DockerConfigFile {
                    path,
                    key: key.clone(),
                }
                .to_string(),
            }));
        }
        if let Some(Login::CiRegistry) = login {
            if let (Some(user), Some(password)) = (
                self.vars.get("CI_REGISTRY_USER"),
                self.vars.get("CI_REGISTRY_PASSWORD"),
            ) {
                return Ok(Some(credential(
                    user,
                    password,
                    Source::CiRegistry { job_token: false },
                )));
            }
            if let Some(token) = self.vars.get("CI_JOB_TOKEN") {
                return Ok(Some(credential(
                    "gitlab-ci-token",
                    token,
                    Source::CiRegistry { job_token: true },
                )));
            }
        }
        Ok(None)
    }
}

impl CredentialProvider for CredentialStore {
    fn credential(&self, registry_host: &str) -> Result<Option<Credential>, CredentialProblem> {
        self.lookup(registry_host)
    }

    /// Every credential of every source, set or read, whichever host it is for: the client
    /// masks them all in what registries send back.
    fn known_credentials(&self) -> Vec<Credential> {
        let mut known = Vec::new();
        for config in self.registries.values() {
            if let (Some(user), Some(password)) = (
                config.username_variable.as_deref(),
                config.password_variable.as_deref(),
            ) && let Some(password) = self.vars.get(password)
            {
                let source = Source::Config {
                    username_variable: user.to_string(),
                    password_variable: config.password_variable.clone().unwrap_or_default(),
                };
                known.push(credential(
                    self.vars.get(user).unwrap_or_default(),
                    password,
                    source,
                ));
            }
        }
        let docker_auths = [
            self.auth_config.clone().ok().flatten(),
            self.config_file
                .clone()
                .ok()
                .flatten()
                .map(|(_, auths)| auths),
        ];
        let entries = docker_auths
            .iter()
            .flatten()
            .flat_map(|auths| auths.entries.values());
        for (_, username, password) in entries {
            known.push(Credential {
                username: username.clone(),
                password: password.clone(),
                // Only masked, never quoted.
                source: String::new(),
            });
        }
        if let Some(password) = self.vars.get("CI_REGISTRY_PASSWORD") {
            let user = self.vars.get("CI_REGISTRY_USER").unwrap_or_default();
            known.push(credential(
                user,
                password,
                Source::CiRegistry { job_token: false },
            ));
        }
        if let Some(token) = self.vars.get("CI_JOB_TOKEN") {
            known.push(credential(
                "gitlab-ci-token",
                token,
                Source::CiRegistry { job_token: true },
            ));
        }
        known
    }
}

fn credential(username: &str, password: &str, source: Source) -> Credential {
    Credential {
        username: username.to_string(),
        password: Secret::new(password.to_string()),
        source: source.to_string(),
    }
}

fn docker_config_path(vars: &Vars) -> Option<PathBuf> {
    match vars.get("DOCKER_CONFIG") {
        Some(dir) => Some(PathBuf::from(dir).join("config.json")),
        None => vars
            .get("HOME")
            .map(|home| PathBuf::from(home).join(".docker/config.json")),
    }
}

impl DockerAuths {
    /// Parses the `auths` of a docker config. Errors name `what` and a position, never a
    /// value: the text is full of secrets.
    fn parse(json: &str, what: &str) -> Result<DockerAuths, CredentialProblem> {
        #[derive(serde::Deserialize)]
        struct File {
            #[serde(default)]
            auths: BTreeMap<String, Entry>,
        }
        #[derive(serde::Deserialize)]
        struct Entry {
            #[serde(default)]
            auth: Option<String>,
            #[serde(default)]
            username: Option<String>,
            #[serde(default)]
            password: Option<String>,
        }
        let file: File = serde_json::from_str(json).map_err(|e| {
            CredentialProblem(format!(
                "{what} is not a valid docker config (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        let mut entries = BTreeMap::new();
        for (key, entry) in file.auths {
            let pair = match (
                entry.auth.filter(|a| !a.is_empty()),
                entry.username,
                entry.password,
            ) {
                (Some(auth), _, _) => {
                    let decoded = BASE64
                        .decode(auth.trim())
                        .ok()
                        .and_then(|bytes| String::from_utf8(bytes).ok())
                        .ok_or_else(|| {
                            CredentialProblem(format!(
                                "{what}: `auths.\"{key}\".auth` is not base64 of `user:password`"
                            ))
                        })?;
                    let (user, password) = decoded.split_once(':').ok_or_else(|| {
                        CredentialProblem(format!(
                            "{what}: `auths.\"{key}\".auth` is not base64 of `user:password`"
                        ))
                    })?;
                    (user.to_string(), password.to_string())
                }
                (None, Some(user), Some(password)) => (user, password),
                // identitytoken-only or empty entries: nothing gipgee can use.
                _ => continue,
            };
            let host = auths_key_host(&key);
            // Two keys for one host (`docker.io` and `https://index.docker.io/v1/`): the
            // first in key order wins, so the choice does not depend on JSON field order.
            entries
                .entry(host)
                .or_insert((key, pair.0, Secret::new(pair.1)));
        }
        Ok(DockerAuths { entries })
    }
}

/// The host a docker config `auths` key (or a configured host) applies to: a scheme and path
/// dropped (`https://index.docker.io/v1/` is a common key), then spelled as references spell
/// it.
pub fn auths_key_host(key: &str) -> String {
    let without_scheme = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = without_scheme.split('/').next().unwrap_or(without_scheme);
    canonical_host(host)
}

/// The registry client's settings for gipgee's `registries:` (plain http for those marked
/// `insecure`) and the CA files named by [`CA_FILE_VARIABLES`] in `vars`. Everything else
/// is the client's default. Fails on a CA file that cannot be read.
pub fn client_config(
    registries: &BTreeMap<String, RegistryConfig>,
    vars: &Vars,
) -> Result<ClientConfig, Error> {
    let mut extra_ca_certificates = Vec::new();
    for variable in CA_FILE_VARIABLES {
        let Some(path) = vars.get(variable) else {
            continue;
        };
        let pem = std::fs::read(path)
            .map_err(|e| Error::User(format!("cannot read `{variable}` ({path}): {e}")))?;
        extra_ca_certificates.push((format!("`{variable}` ({path})"), pem));
    }
    Ok(ClientConfig {
        insecure_hosts: registries
            .iter()
            .filter(|(_, config)| config.insecure)
            .map(|(host, _)| host.clone())
            .collect(),
        extra_ca_certificates,
        ..ClientConfig::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_normalise_docker_hub_aliases() {
        assert_eq!(auths_key_host("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(auths_key_host("registry-1.docker.io"), "docker.io");
        assert_eq!(auths_key_host("registry.hub.docker.com"), "docker.io");
        assert_eq!(
            auths_key_host("Registry.Example.com:5000/v2/"),
            "registry.example.com:5000"
        );
        assert_eq!(auths_key_host("http://127.0.0.1:5000"), "127.0.0.1:5000");
    }

    fn registries(host: &str) -> BTreeMap<String, RegistryConfig> {
        BTreeMap::from([(
            host.to_string(),
            RegistryConfig {
                username_variable: Some("REG_USER".into()),
                password_variable: Some("REG_PASSWORD".into()),
                ..RegistryConfig::default()
            },
        )])
    }

    #[test]
    fn config_variables_come_first_and_missing_ones_are_named() {
        let auth = BASE64.encode("docker:from-auth-config");
        let vars = Vars::from_pairs([
            ("REG_USER", "alice"),
            ("REG_PASSWORD", "s3cret"),
            (
                "DOCKER_AUTH_CONFIG",
                &format!(r#"{{"auths": {{"reg.example.com": {{"auth": "{auth}"}}}}}}"#),
            ),
        ]);
        let store = CredentialStore::new(&registries("reg.example.com"), &vars);
        let cred = store.lookup("reg.example.com").unwrap().unwrap();
        assert_eq!(cred.username, "alice");
        assert_eq!(cred.password.expose(), "s3cret");
        assert!(!format!("{cred:?}").contains("s3cret"));

        let store = CredentialStore::new(
            &registries("reg.example.com"),
            &Vars::from_pairs([("REG_USER", "alice")]),
        );
        let problem = store.lookup("reg.example.com").unwrap_err();
        assert!(problem.0.contains("`REG_PASSWORD`"), "{problem:?}");
    }

    #[test]
    fn docker_auth_config_with_hub_alias_keys() {
        let auth = BASE64.encode("hubuser:hubpass");
        let vars = Vars::from_pairs([(
            "DOCKER_AUTH_CONFIG",
            format!(
                r#"{{"auths": {{"https://index.docker.io/v1/": {{"auth": "{auth}"}},
                    "other.example.com": {{"username": "u", "password": "p"}},
                    "token-only.example.com": {{"identitytoken": "x"}}}}}}"#
            ),
        )]);
        let store = CredentialStore::new(&BTreeMap::new(), &vars);
        let hub = store.lookup("docker.io").unwrap().unwrap();
        assert_eq!(
            (hub.username.as_str(), hub.password.expose()),
            ("hubuser", "hubpass")
        );
        assert_eq!(
            hub.source,
            Source::DockerAuthConfig {
                key: "https://index.docker.io/v1/".into()
            }
            .to_string()
        );
        assert_eq!(
            store.lookup("other.example.com").unwrap().unwrap().username,
            "u"
        );
        assert_eq!(store.lookup("token-only.example.com").unwrap(), None);
        assert_eq!(store.lookup("unknown.example.com").unwrap(), None);
    }

    #[test]
    fn invalid_docker_auth_config_is_named_without_its_content() {
        let vars = Vars::from_pairs([("DOCKER_AUTH_CONFIG", r#"{"auths": "hunter2"}"#)]);
        let store = CredentialStore::new(&BTreeMap::new(), &vars);
        let problem = store.lookup("x.example.com").unwrap_err();
        assert!(problem.0.contains("DOCKER_AUTH_CONFIG"), "{problem:?}");
        assert!(!problem.0.contains("hunter2"), "{problem:?}");
    }

    #[test]
    fn docker_config_file_from_docker_config_dir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"auths": {"file.example.com": {"username": "f", "password": "fp"}}}"#,
        )
        .unwrap();
        let vars = Vars::from_pairs([("DOCKER_CONFIG", dir.path().to_str().unwrap())]);
        let store = CredentialStore::new(&BTreeMap::new(), &vars);
        let cred = store.lookup("file.example.com").unwrap().unwrap();
        assert_eq!(cred.username, "f");
        assert_eq!(
            cred.source,
            format!(
                "{} (entry `auths.\"file.example.com\"`)",
                dir.path().join("config.json").display()
            )
        );
    }

    #[test]
    fn ci_registry_uses_registry_password_then_job_token() {
        let mut vars = Vars::from_pairs([
            ("CI_REGISTRY", "registry.gitlab.example.com"),
            ("CI_REGISTRY_USER", "gitlab-ci-token"),
            ("CI_REGISTRY_PASSWORD", "job-pass"),
            ("CI_JOB_TOKEN", "job-token"),
        ]);
        let store = CredentialStore::new(&BTreeMap::new(), &vars);
        let cred = store
            .lookup("registry.gitlab.example.com")
            .unwrap()
            .unwrap();
        assert_eq!(cred.password.expose(), "job-pass");
        assert_eq!(store.lookup("elsewhere.example.com").unwrap(), None);
        vars.set("CI_REGISTRY_PASSWORD", "");
        let store = CredentialStore::new(&BTreeMap::new(), &vars);
        let cred = store
            .lookup("registry.gitlab.example.com")
            .unwrap()
            .unwrap();
        assert_eq!(
            (cred.username.as_str(), cred.password.expose()),
            ("gitlab-ci-token", "job-token")
        );
    }

    #[test]
    fn debug_output_shows_no_credential() {
        let auth = BASE64.encode("docker:hunter2-auth");
        let vars = Vars::from_pairs([
            ("REG_USER", "alice"),
            ("REG_PASSWORD", "hunter2-config"),
            (
                "DOCKER_AUTH_CONFIG",
                &format!(
                    r#"{{"auths": {{"reg.example.com": {{"auth": "{auth}"}},
                        "other.example.com": {{"username": "bob", "password": "hunter2-plain"}}}}}}"#
                ),
            ),
        ]);
        let store = CredentialStore::new(&registries("reg.example.com"), &vars);
        let debug = format!("{store:?} {store:#?}");
        for secret in ["hunter2", &auth, "alice", "bob"] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
        // What helps debugging stays: variable names and `auths` keys.
        assert!(debug.contains("REG_PASSWORD"), "{debug}");
        assert!(debug.contains("other.example.com"), "{debug}");
    }

    #[test]
    fn every_source_hands_its_credentials_to_the_masker() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"auths": {"file.example.com": {"username": "f", "password": "from-file"}}}"#,
        )
        .unwrap();
        let auth = BASE64.encode("docker:from-auth-config");
        let vars = Vars::from_pairs([
            ("REG_USER", "alice"),
            ("REG_PASSWORD", "from-variables"),
            ("DOCKER_CONFIG", dir.path().to_str().unwrap()),
            (
                "DOCKER_AUTH_CONFIG",
                &format!(r#"{{"auths": {{"other.example.com": {{"auth": "{auth}"}}}}}}"#),
            ),
            ("CI_REGISTRY_USER", "ci-user"),
            ("CI_REGISTRY_PASSWORD", "from-ci-registry"),
            ("CI_JOB_TOKEN", "from-job-token"),
        ]);
        let store = CredentialStore::new(&registries("reg.example.com"), &vars);
        let mut known: Vec<(String, String)> = store
            .known_credentials()
            .into_iter()
            .map(|c| (c.username, c.password.expose().to_string()))
            .collect();
        known.sort();
        let pair = |u: &str, p: &str| (u.to_string(), p.to_string());
        assert_eq!(
            known,
            vec![
                pair("alice", "from-variables"),
                pair("ci-user", "from-ci-registry"),
                pair("docker", "from-auth-config"),
                pair("f", "from-file"),
                pair("gitlab-ci-token", "from-job-token"),
            ]
        );
    }

    #[test]
    fn login_variables_prefer_configured_ones_then_ci_registry() {
        let configured = registries("reg.example.com");
        let pair = |u: &str, p: &str| Some((u.to_string(), p.to_string()));
        assert_eq!(
            login_variables(&configured, None, "reg.example.com"),
            pair("REG_USER", "REG_PASSWORD")
        );
        // Configured variables win even for `$CI_REGISTRY`.
        assert_eq!(
            login_variables(&configured, Some("reg.example.com"), "reg.example.com"),
            pair("REG_USER", "REG_PASSWORD")
        );
        assert_eq!(
            login_variables(
                &configured,
                Some("Registry.GitLab.example.com"),
                "registry.gitlab.example.com"
            ),
            pair("CI_REGISTRY_USER", "CI_REGISTRY_PASSWORD")
        );
        // A registry entry without variables (only `insecure`) falls through to `$CI_REGISTRY`.
        let insecure_only = BTreeMap::from([(
            "ci.example.com:5000".to_string(),
            RegistryConfig {
                insecure: true,
                ..RegistryConfig::default()
            },
        )]);
        assert_eq!(
            login_variables(
                &insecure_only,
                Some("ci.example.com:5000"),
                "ci.example.com:5000"
            ),
            pair("CI_REGISTRY_USER", "CI_REGISTRY_PASSWORD")
        );
        assert_eq!(
            login_variables(&insecure_only, None, "ci.example.com:5000"),
            None
        );
        assert_eq!(
            login_variables(
                &configured,
                Some("other.example.com"),
                "elsewhere.example.com"
            ),
            None
        );
    }

    #[test]
    fn client_config_marks_insecure_registries_and_reads_ca_files() {
        let mut registries = registries("reg.example.com");
        registries.insert(
            "127.0.0.1:5000".to_string(),
            RegistryConfig {
                insecure: true,
                ..RegistryConfig::default()
            },
        );
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "PEM bytes").unwrap();
        let vars = Vars::from_pairs([("CI_SERVER_TLS_CA_FILE", ca.to_str().unwrap())]);
        let config = client_config(&registries, &vars).unwrap();
        assert_eq!(
            config.insecure_hosts.iter().collect::<Vec<_>>(),
            vec!["127.0.0.1:5000"]
        );
        assert_eq!(
            config.extra_ca_certificates,
            vec![(
                format!("`CI_SERVER_TLS_CA_FILE` ({})", ca.display()),
                b"PEM bytes".to_vec()
            )]
        );
    }

    #[test]
    fn unreadable_or_empty_ca_files_are_errors_naming_the_variable() {
        let vars = Vars::from_pairs([("CI_SERVER_TLS_CA_FILE", "/nonexistent/ca.pem")]);
        let err = client_config(&BTreeMap::new(), &vars)
            .unwrap_err()
            .to_string();
        assert!(err.contains("CI_SERVER_TLS_CA_FILE"), "{err}");
        assert!(
            err.starts_with("error: cannot read `CI_SERVER_TLS_CA_FILE` (/nonexistent/ca.pem): "),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let vars = Vars::from_pairs([("SSL_CERT_FILE", empty.to_str().unwrap())]);
        let config = client_config(&BTreeMap::new(), &vars).unwrap();
        let err = crate::registry::Client::new(
            config,
            std::sync::Arc::new(CredentialStore::new(&BTreeMap::new(), &vars)),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("holds no PEM certificate"), "{err}");
        assert!(err.contains("`SSL_CERT_FILE`"), "{err}");
    }

    #[test]
    fn debug_output_of_a_client_with_the_store_shows_no_credential() {
        let docker_auth = BASE64.encode("hubuser:hunter2-docker");
        let vars = Vars::from_pairs([
            ("REG_USER", "alice"),
            ("REG_PASSWORD", "hunter2-config"),
            ("CI_JOB_TOKEN", "hunter2-job"),
            (
                "DOCKER_AUTH_CONFIG",
                &format!(r#"{{"auths": {{"docker.io": {{"auth": "{docker_auth}"}}}}}}"#),
            ),
        ]);
        let registries = registries("reg.example.com");
        let client = crate::registry::Client::new(
            client_config(&registries, &vars).unwrap(),
            std::sync::Arc::new(CredentialStore::new(&registries, &vars)),
        )
        .unwrap();
        let debug = format!("{client:?}\n{client:#?}\n{vars:?}\n{vars:#?}");
        for secret in ["hunter2", &docker_auth, "hubuser"] {
            assert!(!debug.contains(secret), "`{secret}` in {debug}");
        }
        // Names stay, for debugging.
        for name in ["REG_PASSWORD", "CI_JOB_TOKEN", "DOCKER_AUTH_CONFIG"] {
            assert!(debug.contains(name), "`{name}` not in {debug}");
        }
    }
}
