//! The application's error: every failure gipgee reports, as a value with its context (the
//! file, template, image or registry), and the exit code it means. Problems in a user's file
//! are [`SourceDiagnostics`] (all of them at once, with positions); the registry client's
//! errors are its own type, wrapped here. Shown to a human only at the edge (the CLI), through
//! `Display`.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::diagnostic::SourceDiagnostics;

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
    /// for authentication failures, the credential source (never a credential).
    Registry(crate::registry::RegistryError),
}

impl From<crate::registry::RegistryError> for Error {
    fn from(err: crate::registry::RegistryError) -> Self {
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

    /// The process exit code: 1 for user and configuration errors (a message, no backtrace);
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
            Error::Registry(err) => writeln!(f, "error: {err}"),
        }
    }
}

impl std::error::Error for Error {}
