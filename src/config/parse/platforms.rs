//! The keys of multi-platform images and the build cache: `platforms`, `runnerTags` and
//! `cache` (README, "Multi-platform images" and "Build cache"), checked apart from the other
//! image keys so that they stay one piece.

use std::collections::BTreeMap;

use super::super::Platforms;
use super::super::yaml::{Node, Value};
use super::{FieldNodes, MAX_TESTS, Walker};
use crate::oci::Platform;

/// The longest platform gipgee accepts: it ends test job names (`test:<id>:<test>:<platform>`),
/// which GitLab allows 255 characters (an id has at most 128, a test name 100).
const MAX_PLATFORM_LEN: usize = 20;

impl Walker {
    /// The image's `platforms`, `runnerTags` and `cache`; `tests` is the image's number of
    /// tests, which with several platforms run once per platform.
    pub(super) fn platform_fields(
        &mut self,
        id: &str,
        key: &Node,
        fields: &FieldNodes,
        tests: usize,
    ) -> Option<Platforms> {
        let platforms = fields
            .get("platforms")
            .map_or(Some(Vec::new()), |n| self.platforms(n));
        let runner_tags = fields
            .get("runnerTags")
            .map_or(Some(BTreeMap::new()), |n| self.runner_tags(n));
        let cache = fields.get("cache").map_or(Some(false), |n| self.bool(n));
        let platforms = platforms?;
        let test_jobs = tests * platforms.len().max(1);
        if test_jobs > MAX_TESTS {
            let node = fields.get("platforms").copied().unwrap_or(key);
            self.error(
                node,
                format!(
                    "image `{id}`: {tests} tests on {} platforms make {test_jobs} test jobs: expected at most {MAX_TESTS} (the release job waits for every test job and for the parent's release, and GitLab allows 50 `needs`)",
                    platforms.len()
                ),
            );
            return None;
        }
        Some(Platforms {
            list: platforms,
            runner_tags: runner_tags?,
            cache: cache?,
        })
    }

    pub(super) fn platforms(&mut self, node: &Node) -> Option<Vec<Platform>> {
        let Value::Sequence(items) = &node.value else {
            self.error(
                node,
                format!(
                    "expected a list of platforms (`os/architecture[/variant]`), found {}",
                    node.kind()
                ),
            );
            return None;
        };
        if items.is_empty() {
            self.error(
                node,
                "expected at least one platform, e.g. `[linux/amd64, linux/arm64]` (leave `platforms` out for a single-platform image)",
            );
            return None;
        }
        let mut platforms: Vec<Platform> = Vec::new();
        let mut ok = true;
        for item in items {
            match self.platform(item) {
                // `linux/arm64` and `linux/arm64/v8` are one platform.
                Some(platform) if platforms.iter().any(|p| same_platform(p, &platform)) => {
                    self.error(item, format!("`platforms` lists `{platform}` twice"));
                    ok = false;
                }
                Some(platform) => platforms.push(platform),
                None => ok = false,
            }
        }
        ok.then_some(platforms)
    }

    fn platform(&mut self, node: &Node) -> Option<Platform> {
        let text = self.string(node, "a platform (`os/architecture[/variant]`)")?;
        let parsed = Platform::parse(&text).and_then(|platform| {
            if text.len() > MAX_PLATFORM_LEN {
                Err(format!(
                    "platform `{text}` is too long: expected at most {MAX_PLATFORM_LEN} characters (it ends test job names)"
                ))
            } else {
                Ok(platform)
            }
        });
        match parsed {
            Ok(platform) => Some(platform),
            Err(message) => {
                self.error(node, message);
                None
            }
        }
    }

    pub(super) fn runner_tags(&mut self, node: &Node) -> Option<BTreeMap<Platform, Vec<String>>> {
        let entries = self.mapping(node, "`runnerTags` (platform → list of runner tags)")?;
        let mut tags = BTreeMap::new();
        let mut ok = true;
        for (key, value) in entries {
            let platform = self.platform(key);
            let list = self.strings(value, "runner tags");
            match (platform, list) {
                (Some(platform), Some(list)) => {
                    if let Some(empty) = list.iter().position(String::is_empty) {
                        let item = match &value.value {
                            Value::Sequence(items) => &items[empty],
                            _ => value,
                        };
                        self.error(item, "empty runner tag: expected a tag name");
                        ok = false;
                    } else if tags.keys().any(|p| same_platform(p, &platform)) {
                        self.error(key, format!("`runnerTags` lists `{platform}` twice"));
                        ok = false;
                    }
                    tags.insert(platform, list);
                }
                _ => ok = false,
            }
        }
        ok.then_some(tags)
    }
}

/// Whether two platforms name the same one (`linux/arm64` is `linux/arm64/v8`).
fn same_platform(a: &Platform, b: &Platform) -> bool {
    a.serves(b) && b.serves(a)
}
