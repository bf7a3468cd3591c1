//! A YAML loader that keeps the position of every node.
//!
//! serde_yaml stops at the first error and forgets where values came from; gipgee must report
//! every problem in gipgee.yaml at once with `file:line:col`. This module turns the YAML event
//! stream (yaml-rust2) into a small tree of [`Node`]s with positions, which the config
//! validator walks.

use std::collections::HashMap;

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

/// Parses one YAML document. A syntax error is returned as a diagnostic at its position.
/// Duplicate keys in a mapping are reported as diagnostics too (YAML forbids them, and a
/// silently ignored duplicate is a lost setting); the first occurrence is kept.
pub fn parse(source: &str) -> Result<(Option<Node>, Vec<Diagnostic>), Diagnostic> {
    let mut builder = TreeBuilder::default();
    let mut parser = Parser::new_from_str(source);
    parser.load(&mut builder, false).map_err(|err| {
        let marker = err.marker();
        Diagnostic::at(position(marker), format!("invalid YAML: {}", err.info()))
    })?;
    if let Some(diag) = builder.alias_error {
        return Err(diag);
    }
    Ok((builder.root, builder.duplicates))
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

#[derive(Default)]
struct TreeBuilder {
    alias_nodes: usize,
    stack: Vec<Open>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    duplicates: Vec<Diagnostic>,
    alias_error: Option<Diagnostic>,
}

struct Open {
    node: Node,
    anchor: usize,
    pending_key: Option<Node>,
}

impl TreeBuilder {
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
                    let duplicate = entries.iter().any(|(existing, _)| {
                        existing.as_str().is_some() && existing.as_str() == key.as_str()
                    });
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

impl MarkedEventReceiver for TreeBuilder {
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
            Event::SequenceStart(anchor, _) => self.stack.push(Open {
                node: Node {
                    position,
                    value: Value::Sequence(Vec::new()),
                },
                anchor,
                pending_key: None,
            }),
            Event::MappingStart(anchor, _) => self.stack.push(Open {
                node: Node {
                    position,
                    value: Value::Mapping(Vec::new()),
                },
                anchor,
                pending_key: None,
            }),
            Event::SequenceEnd | Event::MappingEnd => self.close(),
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(node) if self.alias_nodes + node_count(node) > MAX_ALIAS_NODES => {
                    self.alias_error.get_or_insert_with(|| {
                        Diagnostic::at(
                            position,
                            format!("aliases expand to more than {MAX_ALIAS_NODES} nodes"),
                        )
                    });
                }
                Some(node) => {
                    let mut node = node.clone();
                    self.alias_nodes += node_count(&node);
                    node.position = position;
                    self.push_complete(node, 0);
                }
                None => {
                    self.alias_error.get_or_insert_with(|| {
                        Diagnostic::at(position, "alias to an unknown anchor")
                    });
                }
            },
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
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
        assert!(
            err.message.contains("aliases expand to more than"),
            "{}",
            err.message
        );
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
