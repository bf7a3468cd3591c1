//! The escaping filters of the job templates. Every value a template writes goes through one
//! of them: `{{ value | yaml }}` keeps YAML structure intact (a string can never add keys, list
//! items or comments), `{{ value | sh }}` makes one shell word (a string can never add words or
//! commands). Hostile ids, tags, args and commands are data, never syntax.

use std::fmt::Write as _;

use minijinja::Value;

/// `{{ value | yaml }}`: the value as a YAML flow node (JSON is valid YAML), so no string can
/// add keys, list items or comments.
pub fn yaml_filter(value: Value) -> Result<String, minijinja::Error> {
    let json = serde_json::to_string(&value).map_err(|err| {
        minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("cannot write value as YAML: {err}"),
        )
    })?;
    Ok(escape_for_yaml(json))
}

/// JSON leaves some characters raw that YAML forbids or reads as line breaks (DEL, the C1
/// controls, NEL, LS, PS, BOM); written as `\uXXXX` inside the JSON strings they stay the
/// same character. (Outside strings JSON has only ASCII punctuation, so this is safe.) Most
/// values have none of them and are returned as they are.
fn escape_for_yaml(json: String) -> String {
    fn forbidden(c: char) -> bool {
        matches!(
            c,
            '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{feff}'
        )
    }
    if !json.chars().any(forbidden) {
        return json;
    }
    let mut escaped = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if forbidden(c) {
            let _ = write!(escaped, "\\u{:04x}", u32::from(c));
        } else {
            escaped.push(c);
        }
    }
    escaped
}

/// `{{ value | sh }}`: one shell word, single-quoted, so no string can add words or commands.
pub(super) fn sh_filter(value: Value) -> String {
    let text = match value.as_str() {
        Some(text) => text.to_string(),
        None => value.to_string(),
    };
    shell_quote(&text)
}

/// Words the shell treats specially at the start of a command.
const RESERVED_WORDS: &[&str] = &[
    "!", "case", "do", "done", "elif", "else", "esac", "fi", "for", "function", "if", "in",
    "select", "then", "time", "until", "while",
];

/// One shell word. Plain words stay readable; anything else is single-quoted. `=` always
/// quotes (`A=b cmd` would be an assignment), and so do reserved words.
pub fn shell_quote(text: &str) -> String {
    let plain = text.chars().all(|c| {
        c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':' | '@' | ',' | '+')
    });
    if plain && !text.is_empty() && !RESERVED_WORDS.contains(&text) {
        return text.to_string();
    }
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quote_keeps_plain_words_and_quotes_the_rest() {
        assert_eq!(
            shell_quote("registry.example.com/a:1"),
            "registry.example.com/a:1"
        );
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("FOO=bar"), "'FOO=bar'");
        assert_eq!(shell_quote("if"), "'if'");
        assert_eq!(shell_quote("it's $(rm -rf /)"), r"'it'\''s $(rm -rf /)'");
    }

    #[test]
    fn yaml_filter_keeps_structure() {
        let hostile = "x\nevil: true # comment \u{7f}\u{85}\u{2028}\u{2029}\u{feff}\u{9b} end";
        let out = yaml_filter(Value::from(hostile)).unwrap();
        let parsed: serde_yaml::Value = serde_yaml::from_str(&format!("key: {out}")).unwrap();
        assert_eq!(parsed["key"].as_str(), Some(hostile));
    }
}
