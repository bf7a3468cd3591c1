//! `targetLocations`: each a reference, or `{ref, immutable}` for a target the release may
//! create but never move to another image; `immutableTargets` (per image or in `defaults`) is
//! the default of `immutable`.

use std::collections::BTreeSet;

use super::Walker;
use crate::config::yaml::{Node, Value};
use crate::oci::Reference;

/// The keys of a target location written as a mapping.
const TARGET_KEYS: &[&str] = &["ref", "immutable"];

/// The target locations of an image, in order, and those of them that are immutable.
pub(super) type Targets = (Vec<Reference>, BTreeSet<Reference>);

impl Walker {
    /// The `targetLocations` list; `immutable_by_default` is the image's `immutableTargets`.
    pub(super) fn targets(&mut self, node: &Node, immutable_by_default: bool) -> Option<Targets> {
        let Value::Sequence(items) = &node.value else {
            self.error(
                node,
                format!("expected a list of image references, found {}", node.kind()),
            );
            return None;
        };
        if items.is_empty() {
            self.error(node, "expected at least one image reference");
            return None;
        }
        let mut references: Vec<Reference> = Vec::new();
        let mut immutable = BTreeSet::new();
        let mut ok = true;
        for item in items {
            match self.target(item, immutable_by_default) {
                // Compared as normalised: `alpine` is `docker.io/library/alpine:latest`.
                Some((reference, _)) if references.contains(&reference) => {
                    self.error(item, format!("`targetLocations` lists `{reference}` twice"));
                    ok = false;
                }
                Some((reference, is_immutable)) => {
                    if is_immutable {
                        immutable.insert(reference.clone());
                    }
                    references.push(reference);
                }
                None => ok = false,
            }
        }
        ok.then_some((references, immutable))
    }

    /// One target location: a reference, or `{ref, immutable}`.
    fn target(&mut self, node: &Node, immutable_by_default: bool) -> Option<(Reference, bool)> {
        let Value::Mapping(entries) = &node.value else {
            return self
                .reference(node, "targetLocations")
                .map(|reference| (reference, immutable_by_default));
        };
        let (mut reference, mut immutable, mut ok) = (None, Some(immutable_by_default), true);
        for (key, value) in entries {
            match self.known_key(key, TARGET_KEYS.iter().copied(), "target location key") {
                Some("ref") => reference = self.reference(value, "targetLocations"),
                Some("immutable") => immutable = self.bool(value),
                _ => ok = false,
            }
        }
        let has_ref = entries.iter().any(|(key, _)| key.as_str() == Some("ref"));
        if !has_ref {
            self.error(
                node,
                "a target location needs a `ref`: expected `{ref: <reference>, immutable: true}`",
            );
        }
        Some((reference?, immutable?)).filter(|_| ok)
    }
}
