//! The parent/child graph of images: an image whose `baseImage` is another image's target
//! location is built on it. Owns parent lookup, dependency order and cycle detection.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::config::Config;
use crate::diagnostic::{Diagnostic, Position};
use crate::error::Error;
use crate::oci::Reference;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    parents: BTreeMap<String, String>,
    /// Every image id, parents before children, ties broken by id.
    order: Vec<String>,
}

impl Graph {
    pub fn new(config: &Config) -> Result<Graph, Error> {
        // Hashed: comparing references field by field in a tree cost more than the rest of
        // the graph in large configs.
        let targets = config.images.values().map(|i| i.target_locations.len());
        let mut owner_of_target: HashMap<&Reference, &str> = HashMap::with_capacity(targets.sum());
        let mut problems = Vec::new();
        for image in config.images.values() {
            for (index, target) in image.target_locations.iter().enumerate() {
                match owner_of_target.insert(target, &image.id) {
                    Some(other) if other != image.id => {
                        let at = image
                            .positions
                            .target_locations
                            .get(index)
                            .copied()
                            .unwrap_or(image.positions.id);
                        problems.push(
                            Diagnostic::at(
                                at,
                                format!("target location `{target}` is released by `{other}` too"),
                            )
                            .with_help("each target location belongs to one image"),
                        );
                    }
                    _ => {}
                }
            }
        }
        let parents: BTreeMap<String, String> = config
            .images
            .values()
            .filter_map(|image| {
                Some((
                    image.id.clone(),
                    owner_of_target.get(&image.base_image)?.to_string(),
                ))
            })
            .collect();
        // A location claimed twice makes the parent links meaningless: report that alone.
        if problems.is_empty() {
            for cycle in find_cycles(&parents) {
                let at = config
                    .images
                    .get(&cycle[0])
                    .map_or(Position { line: 1, col: 1 }, |i| i.positions.base_image);
                problems.push(
                    Diagnostic::at(
                        at,
                        format!(
                            "images are built on each other in a cycle: {}",
                            cycle.join(" → ")
                        ),
                    )
                    .with_help("`a → b` means a's baseImage is a target location of b"),
                );
            }
        }
        if problems.is_empty() {
            problems.extend(platform_problems(config, &parents));
        }
        if !problems.is_empty() {
            return Err(config.source.invalid(problems));
        }
        let order = dependency_order(config.images.keys(), &parents);
        Ok(Graph { parents, order })
    }

    pub fn parent(&self, id: &str) -> Option<&str> {
        self.parents.get(id).map(String::as_str)
    }

    /// Image ids with parents before children.
    pub fn order(&self) -> &[String] {
        &self.order
    }
}

/// A multi-platform child is built per platform FROM the same platform of its parent: each of
/// its platforms must be one of the parent's.
fn platform_problems(config: &Config, parents: &BTreeMap<String, String>) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    for (child_id, parent_id) in parents {
        // Most images name no platforms: nothing to look up for them.
        let Some(child) = config.images.get(child_id) else {
            continue;
        };
        let wanted = &child.platforms.list;
        if wanted.is_empty() {
            continue;
        }
        let Some(parent) = config.images.get(parent_id) else {
            continue;
        };
        let offered = &parent.platforms.list;
        let missing: Vec<String> = wanted
            .iter()
            .filter(|platform| !offered.iter().any(|p| p.serves(platform)))
            .map(ToString::to_string)
            .collect();
        if missing.is_empty() {
            continue;
        }
        let message = match offered.is_empty() {
            true => format!(
                "`{child_id}` is built for {} FROM `{parent_id}`, which has no `platforms` (one image for its build runner's platform)",
                wanted
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            false => format!(
                "`{child_id}` is built for {} FROM `{parent_id}`, which is not built for it",
                missing.join(", ")
            ),
        };
        problems.push(
            Diagnostic::at(child.positions.base_image, message).with_help(format!(
                "each platform of a child is built FROM the same platform of its parent: list it in `{parent_id}`'s `platforms`"
            )),
        );
    }
    problems
}

/// Follows parent links from every image; a walk that returns to an image on its own path
/// is a cycle. Returns every cycle once, in parent direction, starting and ending at its
/// smallest id. Each image is walked once: a walk that reaches an image an earlier walk
/// passed stops there (whatever lies beyond was found then), so long chains stay linear.
fn find_cycles(parents: &BTreeMap<String, String>) -> BTreeSet<Vec<String>> {
    let mut cycles = BTreeSet::new();
    let mut walk_of: HashMap<&str, usize> = HashMap::new();
    for (walk, start) in parents.keys().enumerate() {
        let mut path: Vec<&str> = Vec::new();
        let mut current = Some(start.as_str());
        while let Some(id) = current {
            match walk_of.get(id) {
                Some(&earlier) if earlier != walk => break,
                Some(_) => {
                    let at = path.iter().position(|p| *p == id).unwrap_or(0);
                    let mut cycle: Vec<String> = path[at..].iter().map(|p| p.to_string()).collect();
                    let min = cycle
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, id)| *id)
                        .map_or(0, |(i, _)| i);
                    cycle.rotate_left(min);
                    cycle.push(cycle[0].clone());
                    cycles.insert(cycle);
                    break;
                }
                None => {
                    walk_of.insert(id, walk);
                    path.push(id);
                    current = parents.get(id).map(String::as_str);
                }
            }
        }
    }
    cycles
}

/// The ids, parents before children (by depth in the parent chain), ties broken by id.
fn dependency_order<'a>(
    ids: impl Iterator<Item = &'a String>,
    parents: &'a BTreeMap<String, String>,
) -> Vec<String> {
    let mut depths: HashMap<&str, usize> = HashMap::new();
    let mut keyed: Vec<(usize, &str)> = ids
        .map(|id| (depth(id, parents, &mut depths), id.as_str()))
        .collect();
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, id)| id.to_string()).collect()
}

/// How many parents `id` has above it, remembering the depth of every image on the way, so
/// that each image's chain is walked once. Called only on a graph without cycles.
fn depth<'a>(
    id: &'a str,
    parents: &'a BTreeMap<String, String>,
    depths: &mut HashMap<&'a str, usize>,
) -> usize {
    let mut unknown = Vec::new();
    let mut current = Some(id);
    // The depth of the last image in `unknown`: one below a known image, or 0 at a root.
    let mut depth = 0;
    while let Some(image) = current {
        if let Some(&known) = depths.get(image) {
            depth = known + 1;
            break;
        }
        unknown.push(image);
        current = parents.get(image).map(String::as_str);
    }
    for image in unknown.into_iter().rev() {
        depths.insert(image, depth);
        depth += 1;
    }
    depths.get(id).copied().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parents(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(child, parent)| (child.to_string(), parent.to_string()))
            .collect()
    }

    fn cycle(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|id| id.to_string()).collect()
    }

    #[test]
    fn every_cycle_is_found_once_also_through_chains_leading_into_it() {
        // `a` and `z` lead into the cycle b → c → d → b; `e` is a cycle of its own; `f` and
        // `g` are a chain into `a`, walked after it.
        let parents = parents(&[
            ("a", "c"),
            ("b", "c"),
            ("c", "d"),
            ("d", "b"),
            ("e", "e"),
            ("f", "g"),
            ("g", "a"),
            ("z", "d"),
        ]);
        assert_eq!(
            find_cycles(&parents),
            BTreeSet::from([cycle(&["b", "c", "d", "b"]), cycle(&["e", "e"])])
        );
    }

    #[test]
    fn parents_come_before_children_then_ids_in_order() {
        // A chain written children first: 9 → 8 → … → 0, and a second root `m`.
        let pairs: Vec<(String, String)> = (1..10)
            .rev()
            .map(|i| (format!("c{i}"), format!("c{}", i - 1)))
            .collect();
        let parents: BTreeMap<String, String> = pairs.into_iter().collect();
        let mut ids: Vec<String> = (0..10).rev().map(|i| format!("c{i}")).collect();
        ids.push("m".into());
        let order = dependency_order(ids.iter(), &parents);
        assert_eq!(order[..2], ["c0".to_string(), "m".to_string()]);
        let chain: Vec<String> = (1..10).map(|i| format!("c{i}")).collect();
        assert_eq!(order[2..], chain);
        assert!(find_cycles(&parents).is_empty());
    }
}
