//! Authentication, apart from HTTP: `WWW-Authenticate` challenge parsing, the credentials a
//! client is given (and how they are kept out of logs), and the per-registry state — which
//! scheme a registry asked for, and the bearer tokens obtained per registry and scope.
//!
//! Where credentials come from is the application's business: it hands the client a
//! [`CredentialProvider`], asked by registry host when a registry wants credentials (never
//! before, so a misconfigured source only matters for a registry that needs it). Each
//! [`Credential`] carries a description of its source, which errors quote instead of the
//! credential.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

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
    /// Where the credential came from, in words an error can quote after "the credentials
    /// from": e.g. "the variables `A` / `B`". Never a secret.
    pub source: String,
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

/// Credentials by registry host, supplied by the application.
///
/// `registry_host` is a reference's registry as [`crate::oci::Reference::registry`] spells
/// it (`docker.io`, `host:5000`). `Ok(None)` means "no credentials for this host": the client
/// then reads anonymously. An `Err` is reported as a credentials problem of that registry, so
/// it should name what to fix (a variable, a file), never a value. `Debug` output must not
/// show a secret either: the client's own `Debug` includes the provider's.
pub trait CredentialProvider: fmt::Debug + Send + Sync {
    fn credential(&self, registry_host: &str) -> Result<Option<Credential>, CredentialProblem>;

    /// Every credential this provider may hand out, for any host, as far as it can be
    /// looked up: the client masks them (see [`super::mask`]) in whatever a registry sends
    /// back, which may echo a credential — also one meant for another registry.
    fn known_credentials(&self) -> Vec<Credential>;
}

/// No credentials for any registry: every read is anonymous.
#[derive(Debug, Clone, Copy, Default)]
pub struct Anonymous;

impl CredentialProvider for Anonymous {
    fn credential(&self, _registry_host: &str) -> Result<Option<Credential>, CredentialProblem> {
        Ok(None)
    }

    fn known_credentials(&self) -> Vec<Credential> {
        Vec::new()
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
    /// Asked for together with other scopes: a token server may grant fewer than asked, so
    /// a 401 with it is a reason to ask for this scope alone.
    pub batched: bool,
}

/// Tokens per (registry, realm, service, scope). Each key has its own lock, held while a
/// token is fetched, so parallel reads of one repository fetch one token, not one each; a
/// token asked for several scopes is stored in the slot of each.
///
/// It also remembers where asking for several scopes at once did not work: scopes a
/// batched token did not cover (asked for alone from then on), and token servers that grant
/// only one scope per token (asked for one scope at a time from then on).
#[derive(Debug, Default)]
pub struct TokenCache {
    slots: Mutex<HashMap<TokenKey, Arc<Mutex<Option<Token>>>>>,
    /// Scopes a batched token was refused for.
    alone: Mutex<HashSet<TokenKey>>,
    /// (registry, realm, service) of token servers not asked for several scopes at once.
    unbatched: Mutex<HashSet<ServerId>>,
    /// Per token server, held while a batched token is fetched from it.
    servers: Mutex<HashMap<ServerId, Arc<Mutex<()>>>>,
}

/// A token server: (registry, realm, service).
type ServerId = (String, String, Option<String>);

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

    /// The lock of `key`'s token server, held while a batched token is fetched from it.
    pub fn server_lock(&self, key: &TokenKey) -> Arc<Mutex<()>> {
        let mut servers = self.servers.lock().unwrap_or_else(|e| e.into_inner());
        servers.entry(key.server()).or_default().clone()
    }

    /// From now on, `key`'s scope is asked for alone: a token asked for it among others
    /// was refused.
    pub fn ask_alone(&self, key: &TokenKey) {
        let mut alone = self.alone.lock().unwrap_or_else(|e| e.into_inner());
        alone.insert(key.clone());
    }

    pub fn asked_alone(&self, key: &TokenKey) -> bool {
        let alone = self.alone.lock().unwrap_or_else(|e| e.into_inner());
        alone.contains(key)
    }

    /// From now on, `key`'s token server is asked for one scope per token.
    pub fn stop_batching(&self, key: &TokenKey) {
        let mut unbatched = self.unbatched.lock().unwrap_or_else(|e| e.into_inner());
        unbatched.insert(key.server());
    }

    /// Forgets every token of `key`'s token server that was asked for several scopes: once
    /// the server is known to grant one scope per token, each would cost a refused request
    /// before its scope is asked for alone. Call with no slot locked.
    pub fn forget_batched(&self, key: &TokenKey) {
        let server = key.server();
        let slots: Vec<Arc<Mutex<Option<Token>>>> = {
            let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots
                .iter()
                .filter(|(other, _)| other.server() == server)
                .map(|(_, slot)| slot.clone())
                .collect()
        };
        for slot in slots {
            let mut token = slot.lock().unwrap_or_else(|e| e.into_inner());
            if token.as_ref().is_some_and(|t| t.batched) {
                *token = None;
            }
        }
    }

    /// Whether a token for `key` may be asked for together with other scopes.
    pub fn may_batch(&self, key: &TokenKey) -> bool {
        let unbatched = self.unbatched.lock().unwrap_or_else(|e| e.into_inner());
        !unbatched.contains(&key.server()) && !self.asked_alone(key)
    }
}

impl TokenKey {
    /// The same token server, another scope.
    pub fn with_scope(&self, scope: &str) -> TokenKey {
        TokenKey {
            scope: scope.to_string(),
            ..self.clone()
        }
    }

    fn server(&self) -> ServerId {
        (
            self.registry.clone(),
            self.realm.clone(),
            self.service.clone(),
        )
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
}
