//! The YAML writer of pipelines: block mappings and sequences in the order given, and every
//! string written so that a YAML 1.1 parser (GitLab reads pipelines with Ruby's Psych) and a
//! YAML 1.2 parser read the same string. A string is plain only when no parser of either
//! version could take it for something else (`on`, `yes`, `1_000`, `1:20`, `.nan`, `~`, `=`,
//! `:symbol`) and it holds no indicator; otherwise it is quoted. A general-purpose writer
//! follows YAML 1.2 alone and writes `on` or `1_000` plain, which Psych reads as `true` and
//! `1000`.

use std::fmt::Write as _;

use serde_yaml::value::TaggedValue;

use crate::gitlab;
use serde_yaml::{Mapping, Number, Value};

/// Spaces per nesting level of a block mapping.
const INDENT: usize = 2;

/// YAML limits an implicit key (`key: value`) to 1024 characters, `:` included; a longer key
/// is written as an explicit `? key` entry.
const MAX_IMPLICIT_KEY: usize = 1000;

/// The YAML text of a document whose root is `root`.
pub fn document(root: &Mapping) -> String {
    let mut out = String::new();
    if root.is_empty() {
        out.push_str("{}\n");
    } else {
        block_mapping(&mut out, root, 0, false);
    }
    out
}

/// One `key: value` entry of a block mapping whose value may be shared under an anchor.
pub struct AnchoredEntry<'a> {
    pub key: &'a str,
    pub value: &'a str,
    /// The anchor (letters, digits, `-`, `_`): the first entry of a document with it defines it
    /// (`key: &anchor value`), later ones refer to it (`key: *anchor`). Every entry with the
    /// same anchor must have the same value.
    pub anchor: Option<&'a str>,
}

/// Writes `key:` and then `entries` as a block mapping under it at column `indent`; `defined`
/// holds the anchors the document already defines, and gets the ones defined here.
pub fn anchored_mapping(
    out: &mut String,
    key: &str,
    entries: &[AnchoredEntry],
    indent: usize,
    defined: &mut std::collections::HashSet<String>,
) {
    mapping_key(out, key, indent);
    for entry in entries {
        push_indent(out, indent + INDENT);
        write_key(out, entry.key);
        out.push_str(": ");
        match entry.anchor {
            Some(anchor) if defined.contains(anchor) => {
                out.push('*');
                out.push_str(anchor);
            }
            Some(anchor) => {
                defined.insert(anchor.to_string());
                out.push('&');
                out.push_str(anchor);
                out.push(' ');
                write_string(out, entry.value, indent + 2 * INDENT);
            }
            None => write_string(out, entry.value, indent + 2 * INDENT),
        }
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
}

/// Writes `key:` at column `indent`, ending the line: a block mapping or sequence follows.
pub fn mapping_key(out: &mut String, key: &str, indent: usize) {
    push_indent(out, indent);
    write_key(out, key);
    out.push_str(":\n");
}

/// Writes `key: value` at column `indent`, the value a string.
pub fn string_entry(out: &mut String, key: &str, value: &str, indent: usize) {
    push_indent(out, indent);
    write_key(out, key);
    out.push_str(": ");
    write_string(out, value, indent + INDENT);
    out.push('\n');
}

/// Writes `key:` and then `items` as a block sequence at the key's column `indent`, as
/// [`document`] writes a sequence under a key (`key: []` when there are none).
pub fn string_sequence<'s>(
    out: &mut String,
    key: &str,
    items: impl IntoIterator<Item = &'s str>,
    indent: usize,
) {
    let mut items = items.into_iter().peekable();
    if items.peek().is_none() {
        push_indent(out, indent);
        write_key(out, key);
        out.push_str(": []\n");
        return;
    }
    mapping_key(out, key, indent);
    for item in items {
        push_indent(out, indent);
        out.push_str("- ");
        write_string(out, item, indent + INDENT);
        out.push('\n');
    }
}

/// Writes the entries of `map` at column `indent`; with `inline`, the first key continues the
/// current line (after a sequence's `- `).
fn block_mapping(out: &mut String, map: &Mapping, indent: usize, inline: bool) {
    for (index, (key, value)) in map.iter().enumerate() {
        if index > 0 || !inline {
            push_indent(out, indent);
        }
        let key = key_text(key);
        if key.chars().count() > MAX_IMPLICIT_KEY {
            out.push_str("? ");
            out.push_str(&key);
            out.push('\n');
            push_indent(out, indent);
        } else {
            out.push_str(&key);
        }
        out.push(':');
        match value {
            Value::Mapping(inner) if !inner.is_empty() => {
                out.push('\n');
                block_mapping(out, inner, indent + INDENT, false);
            }
            // A sequence under a key sits at the key's column (GitLab's documentation writes
            // it so, and so did the pipelines before this writer).
            Value::Sequence(items) if !items.is_empty() => {
                out.push('\n');
                block_sequence(out, items, indent, false);
            }
            scalar => {
                out.push(' ');
                inline_node(out, scalar, indent + INDENT);
            }
        }
    }
}

/// Writes the items of `items` as `- ` lines at column `indent`; with `inline`, the first item
/// continues the current line (a sequence in a sequence).
fn block_sequence(out: &mut String, items: &[Value], indent: usize, inline: bool) {
    for (index, item) in items.iter().enumerate() {
        if index > 0 || !inline {
            push_indent(out, indent);
        }
        out.push_str("- ");
        match item {
            Value::Mapping(inner) if !inner.is_empty() => {
                block_mapping(out, inner, indent + INDENT, true);
            }
            Value::Sequence(inner) if !inner.is_empty() => {
                block_sequence(out, inner, indent + INDENT, true);
            }
            scalar => inline_node(out, scalar, indent + INDENT),
        }
    }
}

/// Writes a node that fits after `key: ` or `- ` and ends its line: a scalar, an empty
/// collection, or a tagged node (GitLab's `!reference [...]`). A multi-line string may
/// continue on the following lines at column `indent`.
fn inline_node(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::String(text) => write_string(out, text, indent),
        other => flow_node(out, other),
    }
    out.push('\n');
}

/// A node in flow style, on one line. Strings are always double-quoted here: in flow context
/// `,` `[` `]` `{` `}` are indicators too.
fn flow_node(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Value::Number(number) => out.push_str(&number_text(number)),
        Value::String(text) => double_quoted(out, text),
        Value::Sequence(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                flow_node(out, item);
            }
            out.push(']');
        }
        Value::Mapping(map) => {
            out.push('{');
            for (index, (key, item)) in map.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                flow_node(out, key);
                out.push_str(": ");
                flow_node(out, item);
            }
            out.push('}');
        }
        Value::Tagged(tagged) => {
            let TaggedValue { tag, value } = tagged.as_ref();
            let _ = write!(out, "{tag} ");
            flow_node(out, value);
        }
    }
}

/// A string mapping key, as [`key_text`] writes it, without making a value of it first.
fn write_key(out: &mut String, key: &str) {
    if is_plain_safe(key) {
        out.push_str(key);
    } else if is_single_quote_safe(key) {
        single_quoted(out, key);
    } else {
        double_quoted(out, key);
    }
}

/// A mapping key: on one line, so never a block scalar.
fn key_text(key: &Value) -> String {
    let mut out = String::new();
    match key {
        Value::String(text) if is_plain_safe(text) => out.push_str(text),
        Value::String(text) if is_single_quote_safe(text) => single_quoted(&mut out, text),
        other => flow_node(&mut out, other),
    }
    out
}

/// A string value: plain when provably a string without indicators, single-quoted when it is
/// one line of printable characters (no escapes: a shell line reads as written), a literal
/// block when it has several such lines, double-quoted with escapes otherwise.
fn write_string(out: &mut String, text: &str, indent: usize) {
    if is_plain_safe(text) {
        out.push_str(text);
    } else if is_single_quote_safe(text) {
        single_quoted(out, text);
    } else if is_literal_block_safe(text) {
        literal_block(out, text, indent);
    } else {
        double_quoted(out, text);
    }
}

/// Characters that may start an indicator or a YAML 1.1 value type (`:symbol` in Psych) at the
/// start of a plain scalar.
fn is_indicator(byte: u8) -> bool {
    matches!(
        byte,
        b'-' | b'?'
            | b':'
            | b','
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'#'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
    )
}

/// Whether `text` is read back as this same string when written plain, by YAML 1.1 and 1.2.
/// Every job name and value of a pipeline goes through it: the ends are checked as bytes
/// (every character they are compared with is ASCII).
fn is_plain_safe(text: &str) -> bool {
    let bytes = text.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    !is_indicator(*first)
        && *first != b' '
        && !matches!(last, b' ' | b':')
        && !text.starts_with("...")
        && has_no_break_nor_separator(text)
        && !gitlab::may_read_as_another_type(text)
}

/// Whether `text` has only printable characters and spaces, and neither `: ` nor ` #` (which
/// end a plain scalar): one pass over the bytes, as every value of a pipeline goes through it
/// (the pairs and ASCII control characters are found byte by byte, exact in UTF-8; any other
/// character is checked as a character).
fn has_no_break_nor_separator(text: &str) -> bool {
    // Most names and values are printable ASCII without a space: checked without branching
    // per byte (so the compiler can check many bytes at once), no pair can occur then.
    let graphic_ascii = text
        .bytes()
        .fold(true, |all, byte| all & (b'!'..=b'~').contains(&byte));
    if graphic_ascii {
        return true;
    }
    let mut previous = 0u8;
    let mut ascii = true;
    for &byte in text.as_bytes() {
        match (previous, byte) {
            (_, 0..=0x1f | 0x7f) | (b':', b' ') | (b' ', b'#') => return false,
            (_, 0x80..) => ascii = false,
            _ => {}
        }
        previous = byte;
    }
    ascii || text.chars().all(|c| c == ' ' || is_printable(c))
}

/// A character YAML writes as itself in any scalar style: not a control character (tab and
/// line breaks included, NEL too), not a Unicode line or paragraph separator, not a byte order
/// mark or non-character.
fn is_printable(c: char) -> bool {
    !c.is_control()
        && !matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
        )
}

/// One line of printable characters: single quotes need no escapes, only `'` doubled.
fn is_single_quote_safe(text: &str) -> bool {
    text.chars().all(is_printable)
}

fn single_quoted(out: &mut String, text: &str) {
    out.push('\'');
    out.push_str(&text.replace('\'', "''"));
    out.push('\'');
}

/// Several lines of printable characters, the first with content not indented (a literal
/// block takes its indentation from that line), and no line of spaces only (those could be
/// read as indentation).
fn is_literal_block_safe(text: &str) -> bool {
    let body = text.trim_end_matches('\n');
    body.contains('\n')
        && body.chars().all(|c| c == '\n' || is_printable(c))
        && body
            .lines()
            .find(|line| !line.is_empty())
            .is_some_and(|first| !first.starts_with(' '))
        && body
            .split('\n')
            .all(|line| line.is_empty() || !line.trim_start_matches(' ').is_empty())
}

/// `|`, with the chomping indicator that keeps the trailing line breaks as they are: `|-` none,
/// `|` one, `|+` several.
fn literal_block(out: &mut String, text: &str, indent: usize) {
    let body = text.trim_end_matches('\n');
    let trailing = text.len() - body.len();
    out.push_str(match trailing {
        0 => "|-",
        1 => "|",
        _ => "|+",
    });
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            push_indent(out, indent);
            out.push_str(line);
        }
    }
    for _ in 1..trailing {
        out.push('\n');
    }
}

/// Double quotes with escapes for everything that is not printable: the one style that can
/// write any string.
fn double_quoted(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if is_printable(c) => out.push(c),
            c => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
        }
    }
    out.push('"');
}

/// A number as YAML 1.1 and 1.2 both read it: a float always has a `.` and a signed exponent
/// (Psych reads `1e3` as a string).
fn number_text(number: &Number) -> String {
    if let Some(int) = number.as_i64() {
        return int.to_string();
    }
    if let Some(uint) = number.as_u64() {
        return uint.to_string();
    }
    let float = number.as_f64().unwrap_or(f64::NAN);
    if float.is_nan() {
        return ".nan".to_string();
    }
    if float.is_infinite() {
        return if float > 0.0 { ".inf" } else { "-.inf" }.to_string();
    }
    let text = format!("{float:?}");
    match text.split_once('e') {
        None => text,
        Some((mantissa, exponent)) => {
            let dot = if mantissa.contains('.') { "" } else { ".0" };
            let sign = if exponent.starts_with('-') { "" } else { "+" };
            format!("{mantissa}{dot}e{sign}{exponent}")
        }
    }
}

fn push_indent(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Mapping {
        serde_yaml::from_str(text).unwrap()
    }

    fn string_value(text: &str) -> String {
        let mut root = Mapping::new();
        root.insert("k".into(), text.into());
        document(&root)
    }

    #[test]
    fn an_anchored_value_is_written_once_and_read_back_everywhere() {
        let mut defined = std::collections::HashSet::new();
        let mut out = String::new();
        let entry = |key, value, anchor| AnchoredEntry { key, value, anchor };
        out.push_str("a:\n");
        anchored_mapping(
            &mut out,
            "variables",
            &[
                entry("X", "reg/s:a-1", Some("a")),
                entry("Y", "on", None),
                entry("Z", "two\nlines\n", Some("b")),
            ],
            2,
            &mut defined,
        );
        out.push_str("b:\n");
        anchored_mapping(
            &mut out,
            "variables",
            &[
                entry("I", "reg/s:a-1", Some("a")),
                entry("J", "two\nlines\n", Some("b")),
            ],
            2,
            &mut defined,
        );
        assert_eq!(
            out,
            "a:\n  variables:\n    X: &a reg/s:a-1\n    'Y': 'on'\n    Z: &b |\n      two\n      lines\nb:\n  variables:\n    I: *a\n    J: *b\n"
        );
        let read = yaml(&out);
        let variables = |job: &str| read[job]["variables"].clone();
        assert_eq!(variables("a")["X"], variables("b")["I"]);
        assert_eq!(variables("b")["J"], Value::from("two\nlines\n"));
        assert_eq!(variables("a")["Y"], Value::from("on"));
    }

    #[test]
    fn writes_block_collections_in_order() {
        let root = yaml(
            "stages: [a, b]\nworkflow: {rules: [{when: always}]}\njob:\n  needs: []\n  \
             variables: {}\n  script: [x, [p, q], {k: v, l: 1}]\n  retry: 2\n  \
             allow_failure: false\n  timeout: null\n  ratio: 0.5\n",
        );
        assert_eq!(
            document(&root),
            "stages:\n- a\n- b\nworkflow:\n  rules:\n  - when: always\njob:\n  needs: []\n  \
             variables: {}\n  script:\n  - x\n  - - p\n    - q\n  - k: v\n    l: 1\n  \
             retry: 2\n  allow_failure: false\n  timeout: null\n  ratio: 0.5\n"
        );
        assert_eq!(document(&Mapping::new()), "{}\n");
    }

    #[test]
    fn strings_another_type_could_read_are_quoted() {
        for text in [
            "on",
            "ON",
            "Off",
            "yes",
            "YeS",
            "no",
            "y",
            "n",
            "true",
            "False",
            "null",
            "NULL",
            "~",
            "=",
            "<<",
            "1_000",
            "1000",
            "0b1",
            "0o17",
            "017",
            "0x1F",
            "1:20",
            "1:20:30.5",
            "1,000",
            "3.20",
            ".5",
            ".e+1",
            "1e3",
            "1.0e+3",
            "+1",
            "-1",
            ".inf",
            "-.Inf",
            ".NaN",
            "2001-12-14",
            "2001-12-14 21:59:43 -05:00",
            "2001-12-14t21:59:43.10z",
        ] {
            assert_eq!(string_value(text), format!("k: '{text}'\n"), "{text}");
        }
    }

    #[test]
    fn strings_with_indicators_are_quoted() {
        for text in [
            ":symbol", "- item", "-x", "? key", "#comment", "a #b", "a: b", "a:", "&anchor",
            "*alias", "!tag", "|", ">", "'q", "\"q", "%d", "@at", "`tick", "[a]", "{a}", ",a",
            " lead", "trail ", "", "...", "--- x",
        ] {
            let expected = format!("k: '{}'\n", text.replace('\'', "''"));
            assert_eq!(string_value(text), expected, "{text:?}");
        }
    }

    #[test]
    fn provable_strings_stay_plain() {
        for text in [
            "always",
            "gipgee:plan",
            ".gipgee-buildah",
            "registry.example.com/a:1",
            "printf '%s' \"$CI_REGISTRY_PASSWORD\" | buildah login --password-stdin r.io",
            "test -f x && echo {a,b} [c]",
            "a#b",
            "a:b",
            "ünïcödé ✓",
            "v1.0",
            "onion",
            "yes-no",
            "30 minutes",
            "1h 30m",
            "2001-12-14/x",
        ] {
            assert_eq!(string_value(text), format!("k: {text}\n"), "{text:?}");
        }
    }

    #[test]
    fn multi_line_strings_are_literal_blocks_when_safe() {
        assert_eq!(string_value("a\n  b\n"), "k: |\n  a\n    b\n");
        assert_eq!(string_value("a\n\nb"), "k: |-\n  a\n\n  b\n");
        assert_eq!(string_value("a\nb\n\n"), "k: |+\n  a\n  b\n\n");
        let mut root = Mapping::new();
        root.insert("s".into(), Value::Sequence(vec!["a\nb".into()]));
        assert_eq!(document(&root), "s:\n- |-\n  a\n  b\n");
    }

    #[test]
    fn other_strings_are_double_quoted_with_escapes() {
        for (text, written) in [
            (" indented\nnext", r#"" indented\nnext""#),
            ("a\n  \nb", r#""a\n  \nb""#),
            ("tab\there", r#""tab\there""#),
            ("cr\r\nlf", r#""cr\r\nlf""#),
            ("nul\0", r#""nul\0""#),
            ("q\"b\\\n", r#""q\"b\\\n""#),
            (
                "del\u{7f} nel\u{85} ls\u{2028} ps\u{2029} bom\u{feff}\nx",
                r#""del\u007f nel\u0085 ls\u2028 ps\u2029 bom\ufeff\nx""#,
            ),
        ] {
            assert_eq!(string_value(text), format!("k: {written}\n"), "{text:?}");
        }
    }

    #[test]
    fn keys_are_quoted_like_values_but_stay_on_one_line() {
        let mut root = Mapping::new();
        root.insert("on".into(), 1.into());
        root.insert("a\nb".into(), 2.into());
        root.insert(true.into(), 3.into());
        assert_eq!(document(&root), "'on': 1\n\"a\\nb\": 2\ntrue: 3\n");
    }

    #[test]
    fn entries_and_sequences_written_as_text_read_as_documents_write_them() {
        let texts = ["plain", "on", "a: b", "it's", "two\nlines", "tab\there", ""];
        for text in texts {
            let mut out = String::new();
            mapping_key(&mut out, text, 0);
            string_sequence(&mut out, text, [text, "x"], 2);
            string_sequence(&mut out, "none", [], 2);
            string_entry(&mut out, "entry", text, 2);
            let mut inner = Mapping::new();
            let items = Value::Sequence(vec![text.into(), "x".into()]);
            inner.insert(text.into(), items);
            inner.insert("none".into(), Value::Sequence(Vec::new()));
            inner.insert("entry".into(), text.into());
            let expected: Mapping = [(Value::from(text), Value::Mapping(inner))]
                .into_iter()
                .collect();
            assert_eq!(yaml(&out), expected, "{out}");
            assert_eq!(out, document(&expected));
        }
    }

    #[test]
    fn a_key_too_long_for_an_implicit_key_is_explicit() {
        let long = "k".repeat(MAX_IMPLICIT_KEY + 1);
        let mut job = Mapping::new();
        job.insert("stage".into(), "test".into());
        let mut root = Mapping::new();
        root.insert(long.as_str().into(), Value::Mapping(job.clone()));
        root.insert("seq".into(), Value::Sequence(vec!["a".into()]));
        root.insert(format!("{long}2").into(), Value::Sequence(vec!["a".into()]));
        let written = document(&root);
        assert!(
            written.starts_with(&format!(
                "? {long}\n:\n  stage: test\nseq:\n- a\n? {long}2\n:\n- a\n"
            )),
            "{written}"
        );
        let read: Mapping = serde_yaml::from_str(&written).unwrap();
        assert_eq!(read, root);
    }

    #[test]
    fn tagged_nodes_are_written_in_flow_style() {
        let root = yaml("script: !reference [.setup, script]\n");
        assert_eq!(
            document(&root),
            "script: !reference [\".setup\", \"script\"]\n"
        );
    }

    #[test]
    fn floats_keep_their_type_in_yaml_1_1() {
        for (float, written) in [
            (0.5, "0.5"),
            (1.0, "1.0"),
            (1e20, "1.0e+20"),
            (-2.5e-7, "-2.5e-7"),
            (f64::INFINITY, ".inf"),
            (f64::NEG_INFINITY, "-.inf"),
            (f64::NAN, ".nan"),
        ] {
            assert_eq!(number_text(&Number::from(float)), written);
        }
    }

    /// Whatever the string, the text reads back as the same document.
    #[test]
    fn every_string_reads_back_unchanged() {
        let samples = [
            "on",
            "=",
            "1:20",
            " x ",
            "a\nb",
            " a\nb",
            "a\n \nb",
            "\n",
            "\n\na",
            "a\n\n\n",
            "#",
            ": ",
            "x\u{85}y",
            "\u{feff}",
            "'\"",
            "\\",
            "\t",
            "ünï\ncödé",
            "...",
            "---",
        ];
        let mut root = Mapping::new();
        for (index, text) in samples.iter().enumerate() {
            root.insert(format!("k{index}").into(), (*text).into());
            root.insert((*text).into(), Value::Sequence(vec![(*text).into()]));
        }
        let written = document(&root);
        let read: Mapping = serde_yaml::from_str(&written).unwrap();
        assert_eq!(read, root, "{written}");
    }
}
