//! Registry errors as values callers can match (`kind`), with the registry host and the
//! reference they concern. Messages name credential *sources* (as the credential provider
//! described them), never a credential. They say what happened at the registry, not how the
//! application configures credentials or trust: the application adds that hint, knowing its
//! own configuration (match on `kind`).

use std::fmt;

/// A failed registry operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryError {
    /// The registry host as written in the reference (`docker.io`, `host:5000`).
    pub registry: String,
    /// The normalised reference being read, if the failure concerns one.
    pub reference: Option<String>,
    pub kind: ErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The registry (or its token server) rejected the credentials, or asked for some when
    /// none are configured (`source` is then `None`).
    Unauthorized { source: Option<String> },
    /// The credentials were accepted but do not allow reading this repository.
    Denied { source: Option<String> },
    /// A 401 without a challenge the client answers (`Basic`, or `Bearer` with a realm, sent
    /// by the registry's own origin), so the credentials from `source`, which exist, were
    /// not sent.
    NoUsableChallenge { source: String },
    /// The registry still answered 401 after `rounds` rounds of authentication (it kept
    /// changing what it asked for); `source` is where the credentials sent came from.
    AuthenticationRounds { rounds: u32, source: Option<String> },
    /// The credential provider could not look up the credentials (its message).
    Credentials(String),
    /// Authentication is required, but the registry's token server is plain http and the
    /// registry is not marked insecure: the credentials from `source` were not sent in clear
    /// text, and an anonymous token was not enough.
    CredentialsWithheld { source: String },
    /// No such repository, tag or digest.
    NotFound,
    /// The manifest is larger than the limit.
    TooLarge { limit: u64 },
    /// The body does not hash to the digest that was asked for or announced.
    DigestMismatch { expected: String, actual: String },
    /// The body is not a manifest the client understands.
    InvalidManifest(String),
    /// An index without an entry for the wanted platform.
    NoMatchingPlatform {
        wanted: String,
        available: Vec<String>,
    },
    /// An HTTP status the client cannot go on from (after retries, for 429 and 5xx).
    Status {
        status: u16,
        attempts: u32,
        detail: Option<String>,
    },
    /// No response: connection, timeout, malformed HTTP.
    Transport(String),
    /// The TLS handshake failed (an unknown CA, a wrong host name).
    Tls(String),
    /// A redirect the client will not follow.
    Redirect(String),
    /// Not read: the client's deadline was reached before or while reading.
    DeadlineReached,
}

impl ErrorKind {
    /// The same error with `mask` applied to every text in it, which may quote what a
    /// registry sent (an error body, a header, a URL it redirected to).
    pub fn map_text(self, mask: impl Fn(&str) -> String) -> ErrorKind {
        let opt = |text: Option<String>| text.map(|t| mask(&t));
        match self {
            ErrorKind::Unauthorized { source } => ErrorKind::Unauthorized {
                source: opt(source),
            },
            ErrorKind::Denied { source } => ErrorKind::Denied {
                source: opt(source),
            },
            ErrorKind::NoUsableChallenge { source } => ErrorKind::NoUsableChallenge {
                source: mask(&source),
            },
            ErrorKind::AuthenticationRounds { rounds, source } => ErrorKind::AuthenticationRounds {
                rounds,
                source: opt(source),
            },
            ErrorKind::Credentials(problem) => ErrorKind::Credentials(mask(&problem)),
            ErrorKind::CredentialsWithheld { source } => ErrorKind::CredentialsWithheld {
                source: mask(&source),
            },
            ErrorKind::DigestMismatch { expected, actual } => ErrorKind::DigestMismatch {
                expected: mask(&expected),
                actual: mask(&actual),
            },
            ErrorKind::InvalidManifest(problem) => ErrorKind::InvalidManifest(mask(&problem)),
            ErrorKind::NoMatchingPlatform { wanted, available } => ErrorKind::NoMatchingPlatform {
                wanted: mask(&wanted),
                available: available.iter().map(|p| mask(p)).collect(),
            },
            ErrorKind::Status {
                status,
                attempts,
                detail,
            } => ErrorKind::Status {
                status,
                attempts,
                detail: opt(detail),
            },
            ErrorKind::Transport(problem) => ErrorKind::Transport(mask(&problem)),
            ErrorKind::Tls(problem) => ErrorKind::Tls(mask(&problem)),
            ErrorKind::Redirect(problem) => ErrorKind::Redirect(mask(&problem)),
            kind @ (ErrorKind::NotFound
            | ErrorKind::TooLarge { .. }
            | ErrorKind::DeadlineReached) => kind,
        }
    }
}

impl RegistryError {
    pub fn new(registry: &str, reference: Option<String>, kind: ErrorKind) -> RegistryError {
        RegistryError {
            registry: registry.to_string(),
            reference,
            kind,
        }
    }
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "registry `{}`: ", self.registry)?;
        if let Some(reference) = &self.reference {
            write!(f, "cannot read `{reference}`: ")?;
        }
        match &self.kind {
            ErrorKind::Unauthorized {
                source: Some(source),
            } => {
                write!(
                    f,
                    "authentication failed with the credentials from {source}"
                )
            }
            ErrorKind::Unauthorized { source: None } => write!(
                f,
                "authentication required, and no credentials are configured for `{}`",
                self.registry
            ),
            ErrorKind::Denied {
                source: Some(source),
            } => write!(
                f,
                "access denied: the credentials from {source} are valid but may not read this repository (or it does not exist: some registries do not tell)"
            ),
            ErrorKind::Denied { source: None } => {
                write!(f, "access denied to anonymous reads")
            }
            ErrorKind::NoUsableChallenge { source } => write!(
                f,
                "authentication required, but the HTTP 401 carries no challenge gipgee answers (`WWW-Authenticate: Basic`, or `Bearer` with a realm, from the registry itself), so the credentials from {source} were not sent"
            ),
            ErrorKind::AuthenticationRounds { rounds, source } => {
                write!(
                    f,
                    "the registry still asks for authentication after {rounds} rounds"
                )?;
                match source {
                    Some(source) => write!(f, " with the credentials from {source}"),
                    None => write!(f, " of anonymous tokens"),
                }
            }
            ErrorKind::Credentials(problem) => f.write_str(problem),
            ErrorKind::CredentialsWithheld { source } => write!(
                f,
                "authentication required, but the registry's token server is plain http: the credentials from {source} are not sent in clear text"
            ),
            ErrorKind::NotFound => f.write_str("not found (no such repository, tag or digest)"),
            ErrorKind::TooLarge { limit } => {
                write!(f, "the manifest is larger than the limit of {limit} bytes")
            }
            ErrorKind::DigestMismatch { expected, actual } => write!(
                f,
                "the manifest does not match its digest: expected {expected}, got {actual}"
            ),
            ErrorKind::InvalidManifest(problem) => write!(f, "invalid manifest: {problem}"),
            ErrorKind::NoMatchingPlatform { wanted, available } => write!(
                f,
                "the index has no image for platform {wanted} (it has: {})",
                if available.is_empty() {
                    "none".to_string()
                } else {
                    available.join(", ")
                }
            ),
            ErrorKind::Status {
                status,
                attempts,
                detail,
            } => {
                write!(f, "HTTP {status}")?;
                if let Some(detail) = detail {
                    write!(f, " ({detail})")?;
                }
                if *attempts > 1 {
                    write!(f, " after {attempts} attempts")?;
                }
                Ok(())
            }
            ErrorKind::Transport(problem) | ErrorKind::Tls(problem) => f.write_str(problem),
            ErrorKind::Redirect(problem) => write!(f, "redirect not followed: {problem}"),
            ErrorKind::DeadlineReached => {
                f.write_str("not read: the deadline of this run was reached")
            }
        }
    }
}

impl std::error::Error for RegistryError {}

/// A [`crate::registry::ClientConfig`] the client cannot work with (extra CA certificates
/// that hold no certificate). The message names the certificates by their label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}
