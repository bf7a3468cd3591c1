//! The parent/child graph of images: an image whose `baseImage` is another image's target
//! location is built on it. Owns parent lookup, dependency order and cycle detection.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::Config;
use crate::error::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    parents: BTreeMap<String, String>,
    /// Every image id, parents before children, ties broken by id.
    order: Vec<String>,
}

impl Graph {
    pub fn new(config: &Config) -> Result<Graph, Error> {
        let mut owner_of_target = BTreeMap::new();
        let mut problems = Vec::new();
        for image in config.images.values() {
            for target in &image.target_locations {
                if let Some(other) = owner_of_target.insert(target.clone(), image.id.clone())
                    && other != image.id
                {
                    problems.push(format!(
                        "target location `{target}` is released by both `{other}` and `{}`: each location must belong to one image",
                        image.id
                    ));
                }
            }
        }
        let mut parents = BTreeMap::new();
        for image in config.images.values() {
            if let Some(parent) = owner_of_target.get(&image.base_image) {
                parents.insert(image.id.clone(), parent.clone());
            }
        }
        // A location claimed twice makes the parent links meaningless: report that alone.
        if problems.is_empty() {
            for cycle in find_cycles(&parents) {
                problems.push(format!(
                    "images are built on each other in a cycle: {} (`a → b`: a's baseImage is a target location of b)",
                    cycle.join(" → ")
                ));
            }
        }
        if !problems.is_empty() {
            return Err(Error::User(problems.join("\nerror: ")));
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
