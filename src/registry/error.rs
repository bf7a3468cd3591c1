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
