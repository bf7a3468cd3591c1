//! What a user's template must not leave to chance: a plain word that gipgee, reading rendered
//! jobs as YAML 1.2, takes for a string while GitLab, reading the pipeline as YAML 1.1, would
//! take for a boolean, a number or a date (`allow_failure: yes`, `retry: 0o2`). gipgee writes
//! the pipeline as it read the job, quoted, so without this check the template would silently
//! mean something else on GitLab than in its author's head.

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::TScalarStyle;

use crate::gitlab;

/// The first plain scalar of `text` that YAML 1.1 and 1.2 read differently: its line and a
/// sentence saying what to write instead.
pub(super) fn first_disagreement(text: &str) -> Option<(usize, String)> {
    let mut parser = Parser::new_from_str(text);
    loop {
        // A syntax error was already reported by the YAML 1.2 parse of the same text.
        let (event, marker) = parser.next_token().ok()?;
        match event {
            Event::StreamEnd => return None,
            Event::Scalar(word, TScalarStyle::Plain, _, None) => {
                if let Some(reading) = yaml_1_1_reading(&word) {
                    return Some((
                        marker.line(),
                        format!(
                            "`{word}` is written plain: GitLab (YAML 1.1) reads it as {reading}, gipgee (YAML 1.2) as a string; write `true`/`false` or a number if you mean one, or quote it"
                        ),
                    ));
                }
            }
            _ => {}
        }
    }
}

/// What YAML 1.1 reads a plain `word` as, when YAML 1.2 reads it as another type.
fn yaml_1_1_reading(word: &str) -> Option<&'static str> {
    if !gitlab::may_read_as_another_type(word) {
        return None;
    }
    if is_leading_zero_decimal(word) {
        return Some("an octal number");
    }
    let yaml_1_2 = serde_yaml::from_str::<serde_yaml::Value>(word).ok()?;
    if !matches!(yaml_1_2, serde_yaml::Value::String(_)) {
        return None;
    }
    const BOOLEANS: &[&str] = &["y", "n", "yes", "no", "on", "off"];
    Some(if BOOLEANS.iter().any(|b| b.eq_ignore_ascii_case(word)) {
        "a boolean"
    } else if word == "=" {
        "its `value` type, which GitLab cannot load"
    } else if word.len() > 4 && word.as_bytes()[4] == b'-' {
        "a date, which GitLab cannot load"
    } else {
        "a number"
    })
}

/// `017`: YAML 1.1 reads fifteen; a YAML 1.2 reader seventeen or a string.
fn is_leading_zero_decimal(word: &str) -> bool {
    let digits = word.strip_prefix(['+', '-']).unwrap_or(word);
    digits.len() > 1 && digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_the_two_versions_read_differently_are_found() {
        for (word, reading) in [
            ("yes", "a boolean"),
            ("Off", "a boolean"),
            ("y", "a boolean"),
            ("1_000", "a number"),
            ("1:20", "a number"),
            ("017", "an octal number"),
            ("=", "its `value` type, which GitLab cannot load"),
            ("2001-12-14", "a date, which GitLab cannot load"),
        ] {
            assert_eq!(yaml_1_1_reading(word), Some(reading), "{word}");
        }
    }

    #[test]
    fn words_both_versions_read_alike_pass() {
        for word in [
            "true",
            "false",
            "null",
            "~",
            "2",
            "1.5",
            "0x1f",
            "30 minutes",
            "on_success",
            "always",
            "docker",
            "0",
            ".inf",
        ] {
            assert_eq!(yaml_1_1_reading(word), None, "{word}");
        }
    }

    #[test]
    fn only_plain_scalars_count_and_the_line_is_named() {
        let text = "script:\n  - \"yes\"\n  - 'on'\nallow_failure: yes\n";
        let (line, message) = first_disagreement(text).unwrap();
        assert_eq!(line, 4);
        assert!(message.starts_with("`yes` is written plain"), "{message}");
        assert_eq!(first_disagreement("retry: 2\nwhen: manual\n"), None);
    }
}
