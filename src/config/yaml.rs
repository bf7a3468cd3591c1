//! A YAML loader that keeps the position of every node.
//!
//! serde_yaml stops at the first error and forgets where values came from; gipgee must report
//! every problem in gipgee.yaml at once with `file:line:col`. This module turns the YAML event
//! stream (yaml-rust2) into a small tree of [`Node`]s with positions, which the config
//! validator walks.

use std::collections::{HashMap, HashSet};

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::diagnostic::{Diagnostic, Position};

/// A YAML node with the position where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub position: Position,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar; `plain` is false for quoted and block scalars (which are always strings).
    Scalar {
        text: String,
        plain: bool,
    },
    Sequence(Vec<Node>),
    /// Entries in document order.
    Mapping(Vec<(Node, Node)>),
}

impl Node {
    /// A short name of the node's YAML kind, for "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Scalar { .. } if self.is_null() => "null",
            Value::Scalar { .. } => "a scalar",
            Value::Sequence(_) => "a list",
            Value::Mapping(_) => "a mapping",
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true } if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// The scalar's text, for any non-null scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } if !self.is_null() => Some(text),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match &self.value {
            Value::Scalar { text, plain: true } => match text.as_str() {
                "true" | "True" | "TRUE" => Some(true),
                "false" | "False" | "FALSE" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match &self.value {
            Value::Scalar { text, plain: true } => text.parse().ok(),
            _ => None,
        }
    }

    /// Width of the node's text on its first line, for underlining in diagnostics.
    pub fn width(&self) -> usize {
        match &self.value {
            Value::Scalar { text, .. } => text.lines().next().map_or(1, |l| l.chars().count()),
            _ => 1,
        }
    }
}

/// Parses one YAML document. A syntax error is returned as a diagnostic at its position, and
/// so is what a text editor would not show: a NUL byte, or a second document after `---`
/// (silently ignoring it would lose settings). A leading byte order mark is not content.
/// Duplicate keys in a mapping are reported as diagnostics too (YAML forbids them, and a
/// silently ignored duplicate is a lost setting); the first occurrence is kept.
pub fn parse(source: &str) -> Result<(Option<Node>, Vec<Diagnostic>), Diagnostic> {
    let source = strip_bom(source);
    if let Some(at) = source.find('\0') {
        return Err(Diagnostic::at(
            position_of_offset(source, at),
            "a NUL byte: expected YAML text",
        ));
    }
    let mut builder = TreeBuilder::new(source);
    let mut parser = Parser::new_from_str(source);
    let mut documents = 0;
    loop {
        let (event, marker) = parser.next_token().map_err(|err| {
            let marker = err.marker();
            Diagnostic::at(position(marker), format!("invalid YAML: {}", err.info()))
        })?;
        match event {
            Event::StreamEnd => break,
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 {
                    return Err(Diagnostic::at(
                        position(&marker),
                        "a second YAML document: expected one document (remove this `---` and what follows it)",
                    ));
                }
            }
            event => builder.on_event(event, marker),
        }
        if let Some(diag) = builder.alias_error.take() {
            return Err(diag);
        }
    }
    Ok((builder.root, builder.duplicates))
}

/// The text without a leading UTF-8 byte order mark, which some editors write and which is
/// not part of the first key.
pub fn strip_bom(source: &str) -> &str {
    source.strip_prefix('\u{feff}').unwrap_or(source)
}

/// The line and column (in characters) of a byte offset of `text`.
pub fn position_of_offset(text: &str, offset: usize) -> Position {
    let before = text.get(..offset).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    Position {
        line: before.matches('\n').count() + 1,
        col: before[line_start..].chars().count() + 1,
    }
}

fn position(marker: &Marker) -> Position {
    Position {
        line: marker.line(),
        col: marker.col() + 1,
    }
}

/// How many nodes aliases may copy in one document: enough for any real config, and a
/// "billion laughs" file fails with a diagnostic instead of exhausting memory.
const MAX_ALIAS_NODES: usize = 100_000;
/// How many bytes of text aliases may copy in one document: few nodes can still be large
/// (an alias of an alias of a long string doubles it each time).
pub const MAX_ALIAS_BYTES: usize = 1024 * 1024;

struct TreeBuilder<'s> {
    /// The source, for naming an alias in a diagnostic (the events carry only anchor ids).
    source: &'s str,
    alias_nodes: usize,
    alias_bytes: usize,
    stack: Vec<Open>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    duplicates: Vec<Diagnostic>,
    alias_error: Option<Diagnostic>,
}

impl<'s> TreeBuilder<'s> {
    fn new(source: &'s str) -> Self {
        TreeBuilder {
            source,
            alias_nodes: 0,
            alias_bytes: 0,
            stack: Vec::new(),
            anchors: HashMap::new(),
            root: None,
            duplicates: Vec::new(),
            alias_error: None,
        }
    }

    /// The alias as written at `position` (`*name`), for messages.
    fn alias_name(&self, position: Position) -> String {
        let name: String = self
            .source
            .lines()
            .nth(position.line.saturating_sub(1))
            .unwrap_or_default()
            .chars()
            .skip(position.col.saturating_sub(1))
            .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | '[' | ']' | '{' | '}'))
            .collect();
        match name.starts_with('*') {
            true => name,
            false => "an alias".to_string(),
        }
    }

    /// Copies the anchored node to the alias's place, within the alias budgets.
    fn expand_alias(&mut self, id: usize, position: Position) {
        let Some(node) = self.anchors.get(&id) else {
            self.alias_error = Some(Diagnostic::at(position, "alias to an unknown anchor"));
            return;
        };
        let (nodes, bytes) = (node_count(node), text_bytes(node));
        if self.alias_nodes + nodes > MAX_ALIAS_NODES {
            let name = self.alias_name(position);
            self.alias_error = Some(Diagnostic::at(
                position,
                format!("`{name}`: aliases expand to more than {MAX_ALIAS_NODES} nodes"),
            ));
            return;
        }
        if self.alias_bytes + bytes > MAX_ALIAS_BYTES {
            let name = self.alias_name(position);
            self.alias_error = Some(Diagnostic::at(
                position,
                format!(
                    "`{name}`: aliases expand to more than {} KiB of text",
                    MAX_ALIAS_BYTES / 1024
                ),
            ));
            return;
        }
        self.alias_nodes += nodes;
        self.alias_bytes += bytes;
        let mut node = node.clone();
        node.position = position;
        self.push_complete(node, 0);
    }
}

struct Open {
    node: Node,
    anchor: usize,
    pending_key: Option<Node>,
    keys: Keys,
}

/// The string keys of a mapping so far, to find duplicates. A mapping of a few keys (nearly
/// all) is searched; a larger one (`images`) keeps its keys in a set, so that a mapping of
/// thousands of entries stays linear to check.
#[derive(Default)]
struct Keys {
    set: Option<HashSet<String>>,
}

/// The most keys searched one by one.
const KEYS_SEARCHED: usize = 16;

impl Keys {
    /// Adds `key`, a key of `entries` (the mapping's entries so far, without it); false if
    /// it is there already.
    fn insert(&mut self, key: &str, entries: &[(Node, Node)]) -> bool {
        if self.set.is_none() && entries.len() >= KEYS_SEARCHED {
            let keys = entries.iter().filter_map(|(k, _)| k.as_str());
            self.set = Some(keys.map(str::to_string).collect());
        }
        match &mut self.set {
            Some(set) => set.insert(key.to_string()),
            None => !entries.iter().any(|(k, _)| k.as_str() == Some(key)),
        }
    }
}

impl Open {
    fn new(position: Position, value: Value, anchor: usize) -> Open {
        Open {
            node: Node { position, value },
            anchor,
            pending_key: None,
            keys: Keys::default(),
        }
    }
}

impl TreeBuilder<'_> {
    fn push_complete(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        let Some(parent) = self.stack.last_mut() else {
            self.root = Some(node);
            return;
        };
        match &mut parent.node.value {
            Value::Sequence(items) => items.push(node),
            Value::Mapping(entries) => match parent.pending_key.take() {
                None => parent.pending_key = Some(node),
                Some(key) => {
                    let duplicate = key
                        .as_str()
                        .is_some_and(|text| !parent.keys.insert(text, entries));
                    if duplicate {
                        self.duplicates.push(
                            Diagnostic::at(
                                key.position,
                                format!("duplicate key `{}`", key.as_str().unwrap_or_default()),
                            )
                            .with_width(key.width()),
                        );
                    } else {
                        entries.push((key, node));
                    }
                }
            },
            Value::Scalar { .. } => {}
        }
    }

    fn close(&mut self) {
        if let Some(open) = self.stack.pop() {
            self.push_complete(open.node, open.anchor);
        }
    }
}

impl MarkedEventReceiver for TreeBuilder<'_> {
    fn on_event(&mut self, event: Event, marker: Marker) {
        let position = position(&marker);
        match event {
            Event::Scalar(text, style, anchor, _tag) => {
                let plain = style == TScalarStyle::Plain;
                self.push_complete(
                    Node {
                        position,
                        value: Value::Scalar { text, plain },
                    },
                    anchor,
                );
            }
            Event::SequenceStart(anchor, _) => {
                let open = Open::new(position, Value::Sequence(Vec::new()), anchor);
                self.stack.push(open);
            }
            Event::MappingStart(anchor, _) => {
                let open = Open::new(position, Value::Mapping(Vec::new()), anchor);
                self.stack.push(open);
            }
            Event::SequenceEnd | Event::MappingEnd => self.close(),
            Event::Alias(id) => self.expand_alias(id, position),
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

/// The bytes of scalar text in a node, keys included.
fn text_bytes(node: &Node) -> usize {
    match &node.value {
        Value::Scalar { text, .. } => text.len(),
        Value::Sequence(items) => items.iter().map(text_bytes).sum(),
        Value::Mapping(entries) => entries
            .iter()
            .map(|(k, v)| text_bytes(k) + text_bytes(v))
            .sum(),
    }
}

fn node_count(node: &Node) -> usize {
    1 + match &node.value {
        Value::Scalar { .. } => 0,
        Value::Sequence(items) => items.iter().map(node_count).sum(),
        Value::Mapping(entries) => entries
            .iter()
            .map(|(k, v)| node_count(k) + node_count(v))
            .sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_positions_of_keys_and_values() {
        let (root, dups) = parse("version: 1\nimages:\n  a:\n    baseImage: alpine\n").unwrap();
        assert!(dups.is_empty());
        let root = root.unwrap();
        let Value::Mapping(entries) = &root.value else {
            panic!("not a mapping")
        };
        assert_eq!(entries[1].0.position, Position { line: 2, col: 1 });
        let Value::Mapping(images) = &entries[1].1.value else {
            panic!()
        };
        let Value::Mapping(fields) = &images[0].1.value else {
            panic!()
        };
        assert_eq!(fields[0].0.position, Position { line: 4, col: 5 });
        assert_eq!(fields[0].1.position, Position { line: 4, col: 16 });
        assert_eq!(fields[0].1.as_str(), Some("alpine"));
    }

    #[test]
    fn reports_duplicate_keys() {
        let (_, dups) = parse("a: 1\nb: 2\na: 3\n").unwrap();
        assert_eq!(dups.len(), 1);
        assert_eq!(dups[0].message, "duplicate key `a`");
        assert_eq!(dups[0].position, Some(Position { line: 3, col: 1 }));
    }

    #[test]
    fn duplicate_keys_are_found_per_mapping_among_many_keys() {
        // The same keys in sibling and nested mappings are no duplicates; a null key and a
        // quoted key with the text of an earlier one are compared by their text.
        let mut source: String = (0..500)
            .map(|i| format!("k{i}: {{a: 1, b: {{a: 2}}}}\n"))
            .collect();
        source.push_str("k7: again\n'k9': quoted\n~: 1\nnull: 2\n");
        let (_, dups) = parse(&source).unwrap();
        let messages: Vec<(&str, usize)> = dups
            .iter()
            .map(|d| (d.message.as_str(), d.position.map_or(0, |p| p.line)))
            .collect();
        assert_eq!(
            messages,
            [("duplicate key `k7`", 501), ("duplicate key `k9`", 502)]
        );
    }

    #[test]
    fn syntax_error_has_position() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.message.starts_with("invalid YAML"), "{}", err.message);
        assert!(err.position.is_some());
    }

    #[test]
    fn aliases_resolve() {
        let (root, _) = parse("x: &a [1, 2]\ny: *a\n").unwrap();
        let Value::Mapping(entries) = root.unwrap().value else {
            panic!()
        };
        assert!(matches!(&entries[1].1.value, Value::Sequence(items) if items.len() == 2));
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            doc.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let err = parse(&doc).unwrap_err();
        // The eighth `*a3` on the line of `a4`.
        assert_eq!(
            err.message,
            "`*a3`: aliases expand to more than 100000 nodes"
        );
        assert_eq!(err.position, Some(Position { line: 5, col: 45 }));
    }

    #[test]
    fn aliases_of_long_text_are_refused_by_their_size() {
        // Few nodes, but every level doubles the text: 32 KiB × 2^7 would be 4 MiB.
        let mut doc = format!("s0: &s0 {}\n", "x".repeat(32 * 1024));
        for i in 1..8 {
            doc.push_str(&format!("s{i}: &s{i} [*s{p}, *s{p}]\n", p = i - 1));
        }
        let err = parse(&doc).unwrap_err();
        assert_eq!(
            err.message,
            "`*s4`: aliases expand to more than 1024 KiB of text"
        );
        assert_eq!(err.position, Some(Position { line: 6, col: 10 }));
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_first_key() {
        let (root, _) = parse("\u{feff}version: 1\n").unwrap();
        let Value::Mapping(entries) = root.unwrap().value else {
            panic!()
        };
        assert_eq!(entries[0].0.as_str(), Some("version"));
        assert_eq!(entries[0].0.position, Position { line: 1, col: 1 });
    }

    #[test]
    fn a_nul_byte_is_an_error_at_its_position() {
        let err = parse("version: 1\nimages:\n  a\0: {}\n").unwrap_err();
        assert_eq!(err.message, "a NUL byte: expected YAML text");
        assert_eq!(err.position, Some(Position { line: 3, col: 4 }));
    }

    #[test]
    fn a_second_document_is_an_error_at_its_start() {
        let err = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert!(
            err.message.starts_with("a second YAML document"),
            "{}",
            err.message
        );
        assert_eq!(err.position, Some(Position { line: 2, col: 1 }));
        // An explicit start and end of the one document are fine.
        assert!(parse("---\na: 1\n...\n").is_ok());
    }

    #[test]
    fn quoted_scalars_are_not_plain() {
        let (root, _) = parse("a: 'true'\nb: true\nc: ~\n").unwrap();
        let Value::Mapping(entries) = root.unwrap().value else {
            panic!()
        };
        assert_eq!(entries[0].1.as_bool(), None);
        assert_eq!(entries[1].1.as_bool(), Some(true));
        assert!(entries[2].1.is_null());
    }
}
