//! `labels` and `annotations`: maps of key to literal value (like `buildArgs`, never expanded),
//! merged key by key with `defaults` (the image's own value wins), which may not set the keys
//! every build sets itself ([`GIPGEE_METADATA_KEYS`]).

use std::collections::BTreeMap;

use super::{FieldNodes, Walker};
use crate::config::yaml::Node;
use crate::config::{GIPGEE_METADATA_KEYS, Metadata};

/// Longer keys are certainly a mistake; registries limit the size of a manifest.
const MAX_KEY_LEN: usize = 256;

impl Walker {
    /// An image's labels and annotations: those of `defaults` with the image's own over them.
    pub(super) fn metadata(&mut self, defaults: &FieldNodes, own: &FieldNodes) -> Option<Metadata> {
        let labels = self.merged_metadata(defaults, own, "labels");
        let annotations = self.merged_metadata(defaults, own, "annotations");
        Some(Metadata {
            labels: labels?,
            annotations: annotations?,
        })
    }

    fn merged_metadata(
        &mut self,
        defaults: &FieldNodes,
        own: &FieldNodes,
        field: &str,
    ) -> Option<BTreeMap<String, String>> {
        let mut merged = BTreeMap::new();
        let mut ok = true;
        for node in [defaults.get(field), own.get(field)].into_iter().flatten() {
            match self.metadata_map(node, field) {
                Some(map) => merged.extend(map),
                None => ok = false,
            }
        }
        ok.then_some(merged)
    }

    /// One `labels` or `annotations` map as written.
    pub(super) fn metadata_map(
        &mut self,
        node: &Node,
        field: &str,
    ) -> Option<BTreeMap<String, String>> {
        let what = field.trim_end_matches('s');
        let entries = self.mapping(node, format_args!("`{field}`"))?;
        let mut map = BTreeMap::new();
        let mut ok = true;
        for (key, value) in entries {
            let (Some(name), Some(value)) = (
                self.string(key, &format!("a{} {what} key", article(what))),
                self.string(value, &format!("a{} {what} value", article(what))),
            ) else {
                ok = false;
                continue;
            };
            if let Err(problem) = check_metadata_key(&name) {
                self.error(key, format!("invalid {what} key `{name}`: {problem}"));
                ok = false;
            }
            map.insert(name, value);
        }
        ok.then_some(map)
    }
}

/// `n` before a vowel ("an annotation", "a label").
fn article(word: &str) -> &'static str {
    match word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        true => "n",
        false => "",
    }
}

/// A key as labels and annotations are written (`com.example.team`): letters, digits, `.`,
/// `_`, `-` and `/`, starting with a letter or digit, and none of gipgee's own keys.
fn check_metadata_key(key: &str) -> Result<(), String> {
    if GIPGEE_METADATA_KEYS.contains(&key) {
        return Err("gipgee sets it on every build: remove it".into());
    }
    if key.len() > MAX_KEY_LEN {
        return Err(format!("expected at most {MAX_KEY_LEN} characters"));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/');
    match key.chars().next() {
        Some(first) if first.is_ascii_alphanumeric() && key.chars().all(allowed) => Ok(()),
        _ => Err(
            "expected letters, digits, `.`, `_`, `-` or `/`, starting with a letter or digit (e.g. `com.example.team`)"
                .into(),
        ),
    }
}
