//! Authentication, apart from HTTP: `WWW-Authenticate` challenge parsing, where credentials
//! come from (and how they are named in errors), and the per-registry state — which scheme a
//! registry asked for, and the bearer tokens obtained per registry and scope.
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
//! In docker config files, `auths` keys are matched by host: a scheme and path are ignored,
//! and `index.docker.io` / `registry-1.docker.io` (e.g. `https://index.docker.io/v1/`) mean
//! `docker.io`. Entries with `auth` (base64 `user:password`) or `username` + `password` are
//! used; `identitytoken`, `credsStore` and `credHelpers` are not (they need a helper program
//! or an OAuth refresh flow that CI jobs do not have).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::config::RegistryConfig;
use crate::reference::{DEFAULT_REGISTRY, DOCKER_HUB_API_HOST, LEGACY_DEFAULT_REGISTRY};
use crate::vars::Vars;

/// One parsed challenge of a `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Lower-cased scheme, e.g. `bearer` or `basic`.
    pub scheme: String,
    /// Parameters with lower-cased names; values unquoted.
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// Parses a `WWW-Authenticate` value (RFC 7235): one or more challenges, each a scheme and
/// comma-separated `name=value` / `name="quoted \" value"` parameters. Malformed pieces are
/// skipped rather than failing: the caller only needs the scheme and a few parameters, and a
/// registry's odd formatting should not stop a read that would otherwise work.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let chars: Vec<char> = header.chars().collect();
    let mut pos = 0;
    let mut challenges = Vec::new();
    let skip = |pos: &mut usize, set: &[char]| {
        while *pos < chars.len() && set.contains(&chars[*pos]) {
            *pos += 1;
        }
    };
    let token = |pos: &mut usize| {
        let start = *pos;
        while *pos < chars.len() && is_token_char(chars[*pos]) {
            *pos += 1;
        }
        chars[start..*pos].iter().collect::<String>()
    };
    loop {
        skip(&mut pos, &[' ', '\t', ',']);
        if pos >= chars.len() {
            break;
        }
        let scheme = token(&mut pos);
        if scheme.is_empty() {
            // Not a token character: skip it and look for the next challenge.
            pos += 1;
            continue;
        }
        let mut challenge = Challenge {
            scheme: scheme.to_ascii_lowercase(),
            params: BTreeMap::new(),
        };
        loop {
            skip(&mut pos, &[' ', '\t']);
            let start = pos;
            let name = token(&mut pos);
            skip(&mut pos, &[' ', '\t']);
            if name.is_empty() || pos >= chars.len() || chars[pos] != '=' {
                // A token not followed by `=` starts the next challenge.
                pos = start;
                break;
            }
            pos += 1;
            skip(&mut pos, &[' ', '\t']);
            let value = if pos < chars.len() && chars[pos] == '"' {
                pos += 1;
                let mut value = String::new();
                while pos < chars.len() && chars[pos] != '"' {
                    if chars[pos] == '\\' && pos + 1 < chars.len() {
                        pos += 1;
                    }
                    value.push(chars[pos]);
                    pos += 1;
                }
                pos += 1; // the closing quote (or past the end)
                value
            } else {
                token(&mut pos)
            };
            challenge.params.insert(name.to_ascii_lowercase(), value);
            skip(&mut pos, &[' ', '\t']);
            if pos < chars.len() && chars[pos] == ',' {
                pos += 1;
            } else {
                break;
            }
        }
        challenges.push(challenge);
    }
    challenges
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~/:".contains(c)
}

/// How a registry host wants to be authenticated, learned from its first 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    Basic,
    /// The token flow: a token from `realm` for `service` and a scope.
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

impl Scheme {
    /// The scheme to use from a 401's challenges: Bearer when offered (it scopes the
    /// credential to one repository and action), else Basic.
    pub fn from_challenges(challenges: &[Challenge]) -> Option<Scheme> {
        challenges
            .iter()
            .find_map(|c| match (c.scheme.as_str(), c.param("realm")) {
                ("bearer", Some(realm)) if !realm.is_empty() => Some(Scheme::Bearer {
                    realm: realm.to_string(),
                    service: c.param("service").map(str::to_string),
                }),
                _ => None,
            })
            .or_else(|| {
                challenges
                    .iter()
                    .any(|c| c.scheme == "basic")
                    .then_some(Scheme::Basic)
            })
    }
}

/// Where a credential came from, named in errors: "the variables `A` / `B` named in
/// `registries:`". Never holds a secret.
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

/// A secret that never shows up in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A user name and password (or token) for one registry, with where they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub password: Secret,
    pub source: Source,
}

impl Credential {
    /// The `Authorization` value for Basic auth.
    pub fn basic_header(&self) -> String {
        let pair = format!("{}:{}", self.username, self.password.expose());
        format!("Basic {}", BASE64.encode(pair))
    }
}

/// Why credentials could not be looked up. The message names variables and files, never a
/// value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialProblem(pub String);

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
            registries: registries
                .iter()
                .map(|(host, config)| (normalize_host(host), config.clone()))
                .collect(),
            vars: vars.clone(),
            auth_config,
            config_file,
        }
    }

    /// Whether gipgee.yaml marks this registry host as plain-http.
    pub fn insecure(&self, registry: &str) -> bool {
        self.registries
            .get(&normalize_host(registry))
            .is_some_and(|c| c.insecure)
    }

    /// The credential for `registry` (a reference's registry, e.g. `docker.io` or
    /// `host:5000`), `None` when no source has one.
    pub fn lookup(&self, registry: &str) -> Result<Option<Credential>, CredentialProblem> {
        let host = normalize_host(registry);
        if let Some(RegistryConfig {
            username_variable: Some(user_var),
            password_variable: Some(pass_var),
            ..
        }) = self.registries.get(&host)
        {
            let get = |name: &str| {
                self.vars.get(name).ok_or_else(|| {
                    CredentialProblem(format!(
                        "the variable `{name}` named in `registries:` of gipgee.yaml is not set (or empty) in this job; check that it is defined for this branch (protected variables are only set on protected branches)"
                    ))
                })
            };
            return Ok(Some(Credential {
                username: get(user_var)?.to_string(),
                password: Secret(get(pass_var)?.to_string()),
                source: Source::Config {
                    username_variable: user_var.clone(),
                    password_variable: pass_var.clone(),
                },
            }));
        }
        if let Some(auths) = self.auth_config.clone()?
            && let Some((key, username, password)) = auths.entries.get(&host)
        {
            return Ok(Some(Credential {
                username: username.clone(),
                password: password.clone(),
                source: Source::DockerAuthConfig { key: key.clone() },
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
                },
            }));
        }
        if self
            .vars
            .get("CI_REGISTRY")
            .is_some_and(|ci| normalize_host(ci) == host)
        {
            if let (Some(user), Some(password)) = (
                self.vars.get("CI_REGISTRY_USER"),
                self.vars.get("CI_REGISTRY_PASSWORD"),
            ) {
                return Ok(Some(Credential {
                    username: user.to_string(),
                    password: Secret(password.to_string()),
                    source: Source::CiRegistry { job_token: false },
                }));
            }
            if let Some(token) = self.vars.get("CI_JOB_TOKEN") {
                return Ok(Some(Credential {
                    username: "gitlab-ci-token".to_string(),
                    password: Secret(token.to_string()),
                    source: Source::CiRegistry { job_token: true },
                }));
            }
        }
        Ok(None)
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
            let host = normalize_host(&key);
            // Two keys for one host (`docker.io` and `https://index.docker.io/v1/`): the
            // first in key order wins, so the choice does not depend on JSON field order.
            entries.entry(host).or_insert((key, pair.0, Secret(pair.1)));
        }
        Ok(DockerAuths { entries })
    }
}

/// The host a credential applies to: scheme, path and case dropped, Docker Hub's aliases
/// folded into `docker.io`.
pub fn normalize_host(key: &str) -> String {
    let without_scheme = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = without_scheme
        .split('/')
        .next()
        .unwrap_or(without_scheme)
        .to_ascii_lowercase();
    match host.as_str() {
        LEGACY_DEFAULT_REGISTRY | DOCKER_HUB_API_HOST | "registry.hub.docker.com" => {
            DEFAULT_REGISTRY.to_string()
        }
        _ => host,
    }
}

/// Whether a registry's credentials may go to the token `realm` its own challenge named: over
/// https always (that the registry named it is what makes it trusted, as with Docker Hub's
/// auth.docker.io or GitLab's `/jwt/auth`); over plain http only for a registry marked
/// `insecure` (a test setup), never in clear text on behalf of an https registry.
pub fn realm_may_receive_credentials(realm: &str, registry_insecure: bool) -> bool {
    let scheme = realm.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("https") => true,
        Some("http") => registry_insecure,
        _ => false,
    }
}

/// A bearer token and when to stop using it.
#[derive(Debug, Clone)]
pub struct Token {
    pub value: Secret,
    pub expires: Instant,
}

/// Tokens per (registry, realm, service, scope). Each key has its own lock, held while a
/// token is fetched, so parallel reads of one repository fetch one token, not one each.
#[derive(Debug, Default)]
pub struct TokenCache {
    slots: Mutex<HashMap<TokenKey, Arc<Mutex<Option<Token>>>>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenKey {
    pub registry: String,
    pub realm: String,
    pub service: Option<String>,
    pub scope: String,
}

impl TokenCache {
    /// The slot for `key`; lock it, use the token if still valid, else fetch and store one.
    pub fn slot(&self, key: &TokenKey) -> Arc<Mutex<Option<Token>>> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.entry(key.clone()).or_default().clone()
    }
}

/// The longest a token is used, whatever its `expires_in` says: the value comes from the
/// token server, and a run is far shorter anyway.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// How long to use a token: its `expires_in` (at least 60 s, as the distribution token spec
/// says for a missing or smaller value; at most [`MAX_TOKEN_LIFETIME`]) minus a margin, so a
/// token never expires mid-request.
pub fn token_lifetime(expires_in: Option<u64>) -> Duration {
    let seconds = expires_in
        .unwrap_or(60)
        .clamp(60, MAX_TOKEN_LIFETIME.as_secs());
    Duration::from_secs(seconds - seconds / 10)
}

/// When a token obtained `now` stops being used. Never panics: an `Instant` that cannot
/// hold the lifetime (it is clamped, so only on an odd clock) means "already expired", and
/// the token serves the request it was fetched for only.
pub fn token_expiry(now: Instant, expires_in: Option<u64>) -> Instant {
    now.checked_add(token_lifetime(expires_in)).unwrap_or(now)
}

/// The registry host → scheme map, learned from 401s.
#[derive(Debug, Default)]
pub struct Schemes {
    by_host: Mutex<HashMap<String, Scheme>>,
}

impl Schemes {
    pub fn get(&self, host: &str) -> Option<Scheme> {
        let map = self.by_host.lock().unwrap_or_else(|e| e.into_inner());
        map.get(host).cloned()
    }

    pub fn set(&self, host: &str, scheme: Scheme) {
        let mut map = self.by_host.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(host.to_string(), scheme);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_docker_hub_bearer_challenge() {
        let parsed = parse_challenges(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#,
        );
        assert_eq!(
            parsed,
            vec![Challenge {
                scheme: "bearer".into(),
                params: params(&[
                    ("realm", "https://auth.docker.io/token"),
                    ("service", "registry.docker.io"),
                    ("scope", "repository:library/alpine:pull"),
                ]),
            }]
        );
    }

    #[test]
    fn parses_several_challenges_spaces_tokens_and_escapes() {
        let parsed = parse_challenges(
            r#"Basic realm="Registry \"Realm\"", BEARER realm = "http://a/token" , service=reg, error="insufficient_scope",Negotiate"#,
        );
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[0].scheme, "basic");
        assert_eq!(parsed[0].param("realm"), Some(r#"Registry "Realm""#));
        assert_eq!(parsed[1].scheme, "bearer");
        assert_eq!(parsed[1].param("realm"), Some("http://a/token"));
        assert_eq!(parsed[1].param("service"), Some("reg"));
        assert_eq!(parsed[1].param("error"), Some("insufficient_scope"));
        assert_eq!(parsed[2].scheme, "negotiate");
        assert!(parsed[2].params.is_empty());
    }

    #[test]
    fn malformed_challenges_do_not_panic() {
        for input in [
            "",
            ",,,",
            "Bearer realm=\"unterminated",
            "=",
            "Bearer ,realm",
            "\"x\"",
        ] {
            let _ = parse_challenges(input);
        }
        assert_eq!(
            Scheme::from_challenges(&parse_challenges("Bearer realm=\"unterminated")),
            Some(Scheme::Bearer {
                realm: "unterminated".into(),
                service: None
            })
        );
    }

    #[test]
    fn bearer_preferred_over_basic() {
        let challenges = parse_challenges(r#"Basic realm="x", Bearer realm="https://t/token""#);
        assert!(matches!(
            Scheme::from_challenges(&challenges),
            Some(Scheme::Bearer { .. })
        ));
        assert_eq!(
            Scheme::from_challenges(&parse_challenges(r#"Basic realm="x""#)),
            Some(Scheme::Basic)
        );
        assert_eq!(Scheme::from_challenges(&parse_challenges("Bearer")), None);
    }

    #[test]
    fn hosts_normalise_docker_hub_aliases() {
        assert_eq!(normalize_host("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(normalize_host("registry-1.docker.io"), "docker.io");
        assert_eq!(
            normalize_host("Registry.Example.com:5000/v2/"),
            "registry.example.com:5000"
        );
        assert_eq!(normalize_host("http://127.0.0.1:5000"), "127.0.0.1:5000");
    }

    fn registries(host: &str) -> BTreeMap<String, RegistryConfig> {
        BTreeMap::from([(
            host.to_string(),
            RegistryConfig {
                username_variable: Some("REG_USER".into()),
                password_variable: Some("REG_PASSWORD".into()),
                insecure: false,
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
        assert!(matches!(cred.source, Source::DockerConfigFile { .. }));
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
    fn credentials_reach_http_realms_only_of_insecure_registries() {
        assert!(realm_may_receive_credentials(
            "https://auth.docker.io/token",
            false
        ));
        assert!(realm_may_receive_credentials(
            "HTTPS://gitlab.example.com/jwt/auth",
            false
        ));
        assert!(!realm_may_receive_credentials(
            "http://auth.example.com/token",
            false
        ));
        assert!(realm_may_receive_credentials(
            "http://127.0.0.1:5080/token",
            true
        ));
        assert!(!realm_may_receive_credentials("/token", true));
        assert!(!realm_may_receive_credentials("ftp://x/token", true));
    }

    #[test]
    fn token_lifetime_has_floor_and_margin() {
        assert_eq!(token_lifetime(None), Duration::from_secs(54));
        assert_eq!(token_lifetime(Some(10)), Duration::from_secs(54));
        assert_eq!(token_lifetime(Some(300)), Duration::from_secs(270));
    }

    #[test]
    fn token_lifetime_is_capped_and_expiry_never_overflows() {
        let day = MAX_TOKEN_LIFETIME.as_secs();
        assert_eq!(
            token_lifetime(Some(u64::MAX)),
            Duration::from_secs(day - day / 10)
        );
        assert_eq!(token_lifetime(Some(day + 1)), token_lifetime(Some(day)));
        let now = Instant::now();
        assert_eq!(
            token_expiry(now, Some(u64::MAX)),
            now + token_lifetime(Some(day))
        );
        assert_eq!(token_expiry(now, Some(300)), now + Duration::from_secs(270));
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
}
