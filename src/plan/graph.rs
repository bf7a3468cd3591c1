//! The parent/child graph of images: an image whose `baseImage` is another image's target
//! location is built on it. Owns parent lookup, dependency order and cycle detection.

use std::collections::{BTreeMap, BTreeSet};

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
        let mut owner_of_target: BTreeMap<&Reference, &str> = BTreeMap::new();
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
        let (Some(child), Some(parent)) =
            (config.images.get(child_id), config.images.get(parent_id))
        else {
            continue;
        };
        let wanted = &child.platforms.list;
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
/// smallest id.
fn find_cycles(parents: &BTreeMap<String, String>) -> BTreeSet<Vec<String>> {
    let mut cycles = BTreeSet::new();
    for start in parents.keys() {
        let mut path = vec![start.clone()];
        let mut current = start;
        while let Some(parent) = parents.get(current) {
            if let Some(at) = path.iter().position(|p| p == parent) {
                let mut cycle: Vec<String> = path[at..].to_vec();
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
            path.push(parent.clone());
            current = parent;
        }
    }
    cycles
}

fn dependency_order<'a>(
    ids: impl Iterator<Item = &'a String>,
    parents: &BTreeMap<String, String>,
) -> Vec<String> {
    fn depth(id: &str, parents: &BTreeMap<String, String>) -> usize {
        let mut depth = 0;
        let mut current = id;
        while let Some(parent) = parents.get(current) {
            depth += 1;
            current = parent;
        }
        depth
    }
    let mut ids: Vec<String> = ids.cloned().collect();
    ids.sort_by_key(|id| (depth(id, parents), id.clone()));
    ids
}
