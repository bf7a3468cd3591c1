//! The application's error: every failure gipgee reports, as a value with its context (the
//! file, template, image or registry), and the exit code it means. Problems in a user's file
//! are [`SourceDiagnostics`] (all of them at once, with positions); the registry client's
//! errors are its own type, wrapped here. Shown to a human only at the edge (the CLI), through
//! `Display`.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::diagnostic::SourceDiagnostics;
use crate::registry::{ErrorKind, RegistryError};

/// Every error gipgee can report.
#[derive(Debug)]
pub enum Error {
    /// Problems in a user-written file (gipgee.yaml, a selection file, a result file).
    Invalid(SourceDiagnostics),
    /// A job template failed to render or rendered something that is not a GitLab job.
    Template {
        template: String,
        line: Option<usize>,
        message: String,
        excerpt: Option<String>,
    },
    /// A file could not be read or written.
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A user mistake that is not tied to a file position (bad flag combination, missing
    /// variable on the command line, ...).
    User(String),
    /// A bug in gipgee (a state the checks before it should have ruled out).
    Internal(String),
    /// A registry operation failed; the error names the registry host, the reference and,
    /// for authentication failures, the credential source (never a credential). Shown with
    /// gipgee's hint on what to configure ([`explain_registry_error`]).
    Registry(RegistryError),
}

/// The registry client's settings were unusable: a CA file named by a variable holds no
/// certificate.
impl From<crate::registry::ConfigError> for Error {
    fn from(err: crate::registry::ConfigError) -> Self {
        Error::User(err.to_string())
    }
}

impl From<RegistryError> for Error {
    fn from(err: RegistryError) -> Self {
        Error::Registry(err)
    }
}

impl Error {
    pub fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    /// The process exit code: 1 for user and configuration errors (what the user can fix),
    /// 70 (`EX_SOFTWARE`) for a bug in gipgee.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Internal(_) => 70,
            _ => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Invalid(diags) => write!(f, "{diags}"),
            Error::Template {
                template,
                line,
                message,
                excerpt,
            } => {
                match line {
                    Some(line) => {
                        writeln!(f, "error: template `{template}`, line {line}: {message}")?
                    }
                    None => writeln!(f, "error: template `{template}`: {message}")?,
                }
                if let Some(excerpt) = excerpt {
                    for text in excerpt.lines() {
                        writeln!(f, "  | {text}")?;
                    }
                }
                Ok(())
            }
            Error::Io {
                action,
                path,
                source,
            } => writeln!(f, "error: cannot {action} {}: {source}", path.display()),
            Error::User(message) => writeln!(f, "error: {message}"),
            Error::Internal(message) => writeln!(
                f,
                "error: internal error (a bug in gipgee, please report it): {message}"
            ),
            Error::Registry(err) => writeln!(f, "error: {}", explain_registry_error(err)),
        }
    }
}

impl std::error::Error for Error {}

/// A registry error as gipgee shows it: the registry's message, and for the failures a
/// setting can fix, which setting.
pub fn explain_registry_error(err: &RegistryError) -> String {
    let hint = match &err.kind {
        ErrorKind::Unauthorized { source: None } => {
            Some("name the variables under `registries:` in gipgee.yaml, or set DOCKER_AUTH_CONFIG")
        }
        ErrorKind::CredentialsWithheld { .. } => {
            Some("mark the registry `insecure` in gipgee.yaml only if it is a test registry")
        }
        ErrorKind::Tls(_) => Some("a private CA goes into SSL_CERT_FILE or CI_SERVER_TLS_CA_FILE"),
        ErrorKind::DeadlineReached => {
            Some("the time limit is `--deadline` / GIPGEE_LAYER_CHECK_DEADLINE")
        }
        _ => None,
    };
    match hint {
        Some(hint) => format!("{err} ({hint})"),
        None => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explain_adds_what_to_configure() {
        let error = |kind| {
            RegistryError::new(
                "reg.example.com",
                Some("reg.example.com/app:1".into()),
                kind,
            )
        };
        assert_eq!(
            explain_registry_error(&error(ErrorKind::Unauthorized { source: None })),
            "registry `reg.example.com`: cannot read `reg.example.com/app:1`: authentication required, and no credentials are configured for `reg.example.com` (name the variables under `registries:` in gipgee.yaml, or set DOCKER_AUTH_CONFIG)"
        );
        assert_eq!(
            explain_registry_error(&error(ErrorKind::CredentialsWithheld {
                source:
                    "`$CI_REGISTRY` with the user `gitlab-ci-token` and the variable `CI_JOB_TOKEN`"
                        .into()
            })),
            "registry `reg.example.com`: cannot read `reg.example.com/app:1`: authentication required, but the registry's token server is plain http: the credentials from `$CI_REGISTRY` with the user `gitlab-ci-token` and the variable `CI_JOB_TOKEN` are not sent in clear text (mark the registry `insecure` in gipgee.yaml only if it is a test registry)"
        );
        assert_eq!(
            explain_registry_error(&error(ErrorKind::Tls("https://reg.example.com/v2/app/manifests/1: TLS failed: invalid peer certificate: UnknownIssuer".into()))),
            "registry `reg.example.com`: cannot read `reg.example.com/app:1`: https://reg.example.com/v2/app/manifests/1: TLS failed: invalid peer certificate: UnknownIssuer (a private CA goes into SSL_CERT_FILE or CI_SERVER_TLS_CA_FILE)"
        );
        let not_found = error(ErrorKind::NotFound);
        assert_eq!(explain_registry_error(&not_found), not_found.to_string());
    }
}
