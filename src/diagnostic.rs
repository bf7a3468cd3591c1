//! Diagnostics: a problem found in a user's file, with where it is (`file:line:col`), what
//! was expected and a "did you mean", rendered like a compiler error (the line and a caret).
//! Every file gipgee reads from a user (gipgee.yaml, a selection file) reports through these,
//! so that one run shows all problems at once.

use std::fmt;
use std::path::PathBuf;

/// A position in a source file, 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub line: usize,
    pub col: usize,
}

/// Whether a problem stops the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Severity {
    #[default]
    Error,
    /// Shown, but the command goes on (`gipgee plan`, which explores).
    Warning,
}

impl Severity {
    fn label(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One problem found in a file, pointing at where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub position: Option<Position>,
    pub message: String,
    /// How far the caret underline extends (in characters); at least 1.
    pub width: usize,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn at(position: Position, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            position: Some(position),
            message: message.into(),
            width: 1,
            help: None,
        }
    }

    pub fn unplaced(message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
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

    /// The same problem, reported without stopping the command.
    pub fn as_warning(mut self) -> Self {
        self.severity = Severity::Warning;
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

impl fmt::Display for SourceDiagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_diagnostics(f, self)
    }
}

fn write_diagnostics(f: &mut fmt::Formatter<'_>, diags: &SourceDiagnostics) -> fmt::Result {
    let file = diags.file.display();
    let lines: Vec<&str> = diags.source.lines().collect();
    for diag in &diags.diagnostics {
        writeln!(f, "{}: {}", diag.severity.label(), diag.message)?;
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
                    // One character for one keeps the caret in place.
                    let shown = printable(text);
                    writeln!(f, "{pad} |")?;
                    writeln!(f, "{gutter} | {shown}")?;
                    writeln!(f, "{pad} | {indent}{}", "^".repeat(diag.width))?;
                }
            }
            None => writeln!(f, "{pad}--> {file}")?,
        }
        if let Some(help) = &diag.help {
            writeln!(f, "{pad} = help: {help}")?;
        }
    }
    for (severity, plural) in [(Severity::Error, "errors"), (Severity::Warning, "warnings")] {
        let count = diags
            .diagnostics
            .iter()
            .filter(|d| d.severity == severity)
            .count();
        if count > 1 {
            writeln!(f, "{count} {plural} in {file}")?;
        }
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

/// `text` with every control character but tab and line feed shown as `�`: text from a file
/// or a registry (NUL, an escape sequence, a carriage return) is shown in a terminal or a job
/// log, never sent to it as a command that recolours or overwrites lines.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match c.is_control() && c != '\t' && c != '\n' {
            true => char::REPLACEMENT_CHARACTER,
            false => c,
        })
        .collect()
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
        let diagnostics = SourceDiagnostics {
            file: PathBuf::from("gipgee.yaml"),
            source: "version: 1\nimages:\n  a:\n    containerfle: x\n".into(),
            diagnostics: vec![
                Diagnostic::at(Position { line: 4, col: 5 }, "unknown key `containerfle`")
                    .with_width(12)
                    .with_help("did you mean `containerfile`?"),
            ],
        };
        assert_eq!(
            diagnostics.to_string(),
            "error: unknown key `containerfle`\n --> gipgee.yaml:4:5\n  |\n4 |     containerfle: x\n  |     ^^^^^^^^^^^^\n  = help: did you mean `containerfile`?\n"
        );
    }

    #[test]
    fn warnings_are_labelled_and_counted_as_such() {
        let warning = |line| {
            Diagnostic::at(
                Position { line, col: 1 },
                "containerfile `x` does not exist",
            )
            .as_warning()
        };
        let diagnostics = SourceDiagnostics {
            file: PathBuf::from("gipgee.yaml"),
            source: "a\nb\n".into(),
            diagnostics: vec![warning(1), warning(2)],
        };
        assert_eq!(
            diagnostics.to_string(),
            "warning: containerfile `x` does not exist\n --> gipgee.yaml:1:1\n  |\n1 | a\n  | ^\nwarning: containerfile `x` does not exist\n --> gipgee.yaml:2:1\n  |\n2 | b\n  | ^\n2 warnings in gipgee.yaml\n"
        );
    }
}
