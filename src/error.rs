//! Errors as values with context, and how they are shown to a human.
//!
//! Every failure gipgee reports is an [`Error`]. Configuration problems are collected as
//! [`Diagnostic`]s (file, line, column, what was expected, a "did you mean") so that one run
//! reports all of them. Rendering for the terminal / job log happens only at the edge
//! (`run.rs`), through `Display`.

use std::fmt;
use std::path::{Path, PathBuf};

/// A position in a source file, 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub line: usize,
    pub col: usize,
}

/// One problem found in a file, pointing at where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub position: Option<Position>,
    pub message: String,
    /// How far the caret underline extends (in characters); at least 1.
    pub width: usize,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn at(position: Position, message: impl Into<String>) -> Self {
        Diagnostic {
            position: Some(position),
            message: message.into(),
            width: 1,
            help: None,
        }
    }

    pub fn unplaced(message: impl Into<String>) -> Self {
        Diagnostic {
            position: None,
            message: message.into(),
            width: 1,
            help: None,
        }
    }

    pub fn with_width(mut self, width: usize) -> Self {
        self.width = width.max(1);
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// A file's diagnostics together with the source text they point into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceDiagnostics {
    pub file: PathBuf,
    pub source: String,
    pub diagnostics: Vec<Diagnostic>,
}

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
    /// gipgee's hint on what to configure ([`crate::credentials::explain`]).
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
            Error::Invalid(diags) => write_diagnostics(f, diags),
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
            Error::Registry(err) => writeln!(f, "error: {}", crate::credentials::explain(err)),
        }
    }
}

impl std::error::Error for Error {}

fn write_diagnostics(f: &mut fmt::Formatter<'_>, diags: &SourceDiagnostics) -> fmt::Result {
    let file = diags.file.display();
    let lines: Vec<&str> = diags.source.lines().collect();
    for diag in &diags.diagnostics {
        writeln!(f, "error: {}", diag.message)?;
        let gutter = diag
            .position
            .map(|pos| pos.line.to_string())
            .unwrap_or_default();
        let pad = " ".repeat(gutter.len().max(1));
        match diag.position {
            Some(pos) => {
                writeln!(f, "{pad}--> {file}:{}:{}", pos.line, pos.col)?;
                if let Some(text) = lines.get(pos.line.saturating_sub(1)) {
                    let indent: String = text
                        .chars()
                        .take(pos.col.saturating_sub(1))
                        .map(|c| if c == '\t' { '\t' } else { ' ' })
                        .collect();
                    writeln!(f, "{pad} |")?;
                    writeln!(f, "{gutter} | {text}")?;
                    writeln!(f, "{pad} | {indent}{}", "^".repeat(diag.width))?;
                }
            }
            None => writeln!(f, "{pad}--> {file}")?,
        }
        if let Some(help) = &diag.help {
            writeln!(f, "{pad} = help: {help}")?;
        }
    }
    let count = diags.diagnostics.len();
    if count > 1 {
        writeln!(f, "{count} errors in {file}")?;
    }
    Ok(())
}

/// The closest candidate to `input` by edit distance, if it is close enough to be a likely
/// typo ("did you mean ...?").
pub fn suggest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (input.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|candidate| {
            (
                edit_distance(&input.to_lowercase(), &candidate.to_lowercase()),
                candidate,
            )
        })
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, candidate)| (*distance, *candidate))
        .map(|(_, candidate)| candidate)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys_only() {
        let keys = ["containerfile", "context", "targetLocations"];
        assert_eq!(suggest("containerfle", keys), Some("containerfile"));
        assert_eq!(suggest("targetlocation", keys), Some("targetLocations"));
        assert_eq!(suggest("registry", keys), None);
    }

    #[test]
    fn renders_diagnostic_with_caret_and_help() {
        let err = Error::Invalid(SourceDiagnostics {
            file: PathBuf::from("gipgee.yaml"),
            source: "version: 1\nimages:\n  a:\n    containerfle: x\n".into(),
            diagnostics: vec![
                Diagnostic::at(Position { line: 4, col: 5 }, "unknown key `containerfle`")
                    .with_width(12)
                    .with_help("did you mean `containerfile`?"),
            ],
        });
        assert_eq!(
            err.to_string(),
            "error: unknown key `containerfle`\n --> gipgee.yaml:4:5\n  |\n4 |     containerfle: x\n  |     ^^^^^^^^^^^^\n  = help: did you mean `containerfile`?\n"
        );
    }
}
