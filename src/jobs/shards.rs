//! Sharding a build pipeline that does not fit GitLab's job limit: the layout of its images into
//! shards ([`layout`], a pure function of the images' job counts and parents), and the job specs
//! of the dispatcher and of each shard made from the pipeline's own specs. docs/design.md
//! ("Sharded build pipelines") explains how the files map to GitLab's pipeline levels.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::template_vars::{Files, TriggerVars};
use super::{JobFactory, JobSpec, PLAN_JOB, PipelineSpec};
use crate::config::Config;
use crate::environment::{PipelineRun, Settings};
use crate::gitlab::{MAX_NEEDS, Stage};

/// The dispatcher's job that prints the plan and the layout and carries the shard files.
pub const SHARDS_JOB: &str = "gipgee:shards";

/// The trigger job of shard `number` (from 1).
pub fn shard_job_name(number: usize) -> String {
    format!("gipgee:shard:{number}")
}

/// One image of a build pipeline, as the layout sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub id: String,
    /// Its parent, when the parent is built in the same pipeline.
    pub parent: Option<String>,
    /// Its jobs: build, tests, release.
    pub jobs: usize,
}

/// One shard: its images in plan order, its job count (its plan job included) and the shards
/// (indexes, all lower) holding parents of its images, which must pass before it starts.
/// Serialized as the rebuild layout `generate` hands to `evaluate`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shard {
    pub images: Vec<String>,
    pub jobs: usize,
    pub after: Vec<usize>,
}

/// Lays `items` (in plan order: parents before children) out into shards of at most `max_jobs`
/// jobs each, counting each shard's own plan job. A chain (an image and every image built on it)
/// that fits in one shard stays whole; chains are packed first-fit in plan order. A chain too
/// large for a shard is cut in plan order into pieces, each placed first-fit in a shard after
/// every shard that holds a parent of its images. No shard waits for more than 49 others (its
/// trigger job `needs` them and one job more: GitLab allows 50). An error says what cannot fit.
pub fn layout(items: &[Item], max_jobs: usize) -> Result<Vec<Shard>, String> {
    let capacity = max_jobs.saturating_sub(1);
    if let Some(item) = items.iter().find(|item| item.jobs > capacity) {
        return Err(format!(
            "image `{}` alone has {} jobs (its build, tests and release, and its scan and sign where configured), {} with its shard's plan job: more than {max_jobs}",
            item.id,
            item.jobs,
            item.jobs + 1
        ));
    }
    let mut bins: Vec<Bin> = Vec::new();
    let mut shard_of: BTreeMap<&str, usize> = BTreeMap::new();
    for chain in chains(items) {
        let total: usize = chain.iter().map(|item| item.jobs).sum();
        let pieces = match total <= capacity {
            true => vec![chain],
            false => cut(chain, capacity),
        };
        for piece in pieces {
            // A piece whose images have parents in more shards than a trigger job may `need`
            // (many small images under large ones) is placed in parts that each stay within.
            let mut part = Part::default();
            for item in piece {
                if part.would_wait_too_long(item, &shard_of) {
                    std::mem::take(&mut part).place(&mut bins, &mut shard_of, capacity);
                }
                part.push(item, &shard_of);
            }
            part.place(&mut bins, &mut shard_of, capacity);
        }
    }
    let order: BTreeMap<&str, usize> = items
        .iter()
        .enumerate()
        .map(|(i, item)| (item.id.as_str(), i))
        .collect();
    let shards: Vec<Shard> = bins
        .into_iter()
        .map(|mut bin| {
            bin.images.sort_by_key(|item| order[item.id.as_str()]);
            Shard {
                images: bin.images.iter().map(|item| item.id.clone()).collect(),
                jobs: bin.jobs + 1,
                after: bin.after.into_iter().collect(),
            }
        })
        .collect();
    Ok(shards)
}

/// The shards of `layout` one after another: each waits for the one before it (which waited for
/// all before it), so only one shard's jobs run at a time — for GitLab's limit on the active jobs
/// of a project.
pub fn in_sequence(layout: &mut [Shard]) {
    for (i, shard) in layout.iter_mut().enumerate().skip(1) {
        shard.after = vec![i - 1];
    }
}

#[derive(Default)]
struct Bin<'a> {
    images: Vec<&'a Item>,
    jobs: usize,
    after: BTreeSet<usize>,
}

/// The most shards one shard may wait for: its trigger job `needs` each one's trigger job and
/// the job that carries the shard files, and GitLab allows 50 `needs`.
const MAX_AFTER: usize = MAX_NEEDS - 1;

/// Images of a chain placed together in one shard: a piece, or part of one.
#[derive(Default)]
struct Part<'a> {
    images: Vec<&'a Item>,
    ids: BTreeSet<&'a str>,
    jobs: usize,
    /// The shards holding parents of its images (every parent outside the part is placed).
    after: BTreeSet<usize>,
}

impl<'a> Part<'a> {
    /// The shard of `item`'s parent when it is in another shard.
    fn parent_shard(&self, item: &Item, shard_of: &BTreeMap<&str, usize>) -> Option<usize> {
        let parent = item.parent.as_deref()?;
        match self.ids.contains(parent) {
            true => None,
            false => shard_of.get(parent).copied(),
        }
    }

    /// Whether `item` would make this part wait for more than [`MAX_AFTER`] shards.
    fn would_wait_too_long(&self, item: &Item, shard_of: &BTreeMap<&str, usize>) -> bool {
        self.parent_shard(item, shard_of)
            .is_some_and(|shard| !self.after.contains(&shard) && self.after.len() == MAX_AFTER)
    }

    fn push(&mut self, item: &'a Item, shard_of: &BTreeMap<&str, usize>) {
        if let Some(shard) = self.parent_shard(item, shard_of) {
            self.after.insert(shard);
        }
        self.ids.insert(&item.id);
        self.jobs += item.jobs;
        self.images.push(item);
    }

    /// Places this part first-fit in a shard after every shard it waits for, with room for its
    /// jobs and waiting for at most [`MAX_AFTER`] shards with it; a new shard when none has.
    fn place(
        self,
        bins: &mut Vec<Bin<'a>>,
        shard_of: &mut BTreeMap<&'a str, usize>,
        capacity: usize,
    ) {
        if self.images.is_empty() {
            return;
        }
        let first = self.after.iter().next_back().map_or(0, |last| last + 1);
        let fits = |bin: &Bin| {
            bin.jobs + self.jobs <= capacity && bin.after.union(&self.after).count() <= MAX_AFTER
        };
        let index = match (first..bins.len()).find(|&i| fits(&bins[i])) {
            Some(index) => index,
            None => {
                bins.push(Bin::default());
                bins.len() - 1
            }
        };
        let bin = &mut bins[index];
        bin.jobs += self.jobs;
        bin.after.extend(self.after);
        for item in self.images {
            bin.images.push(item);
            shard_of.insert(&item.id, index);
        }
    }
}

/// The chains of `items`: each root with every item below it, in plan order; chains in the
/// order of their roots.
fn chains<'a>(items: &'a [Item]) -> Vec<Vec<&'a Item>> {
    let by_id: BTreeMap<&str, &Item> = items.iter().map(|i| (i.id.as_str(), i)).collect();
    let root = |item: &'a Item| -> &'a str {
        let mut current = item;
        // Bounded: a parent is always before its child in plan order, so there is no cycle;
        // the bound only guards against a caller breaking that.
        for _ in 0..items.len() {
            match current.parent.as_deref().and_then(|p| by_id.get(p)) {
                Some(parent) => current = parent,
                None => break,
            }
        }
        current.id.as_str()
    };
    let mut chains: Vec<Vec<&Item>> = Vec::new();
    let mut chain_of_root: BTreeMap<&str, usize> = BTreeMap::new();
    for item in items {
        let root = root(item);
        let index = *chain_of_root.entry(root).or_insert_with(|| {
            chains.push(Vec::new());
            chains.len() - 1
        });
        chains[index].push(item);
    }
    chains
}

/// `chain` cut in order into pieces of at most `capacity` jobs (every item fits alone).
fn cut(chain: Vec<&Item>, capacity: usize) -> Vec<Vec<&Item>> {
    let mut pieces: Vec<Vec<&Item>> = vec![Vec::new()];
    let mut jobs = 0;
    for item in chain {
        if jobs + item.jobs > capacity {
            pieces.push(Vec::new());
            jobs = 0;
        }
        jobs += item.jobs;
        pieces.last_mut().expect("one piece at least").push(item);
    }
    pieces
}

/// The layout's items of a build pipeline's specs: every job that belongs to an image, counted
/// per image, in the specs' (plan) order.
pub fn items(spec: &PipelineSpec) -> Vec<Item> {
    let mut items: Vec<Item> = Vec::new();
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    for job in &spec.jobs {
        let Some(owner) = &job.owner else {
            continue;
        };
        match index.get(owner.image.as_str()) {
            Some(&i) => items[i].jobs += 1,
            None => {
                index.insert(owner.image.as_str(), items.len());
                items.push(Item {
                    id: owner.image.clone(),
                    parent: owner.built_parent.clone(),
                    jobs: 1,
                });
            }
        }
    }
    items
}

/// The specs of a sharded build pipeline: the dispatcher's and each shard's.
pub struct ShardedSpecs<'a> {
    pub dispatcher: PipelineSpec<'a>,
    pub shards: Vec<PipelineSpec<'a>>,
}

/// What the dispatcher needs to know about the files it starts.
pub struct ShardFiles<'a> {
    /// The plan's text, printed by the dispatcher's plan job.
    pub plan_text: &'a str,
    /// The file of each shard, as the shard trigger jobs include it.
    pub files: &'a [String],
    /// Why the pipeline is sharded, for the plan job's log.
    pub reason: &'a str,
}

/// Splits `spec`, the build pipeline of a plan, into the shards of `layout`, and makes the
/// dispatcher that starts them. A job's `needs` on a job of another shard is dropped (its
/// shard starts only after that shard passed); a job left without `needs` waits for its shard's
/// plan job.
pub fn split<'a>(
    config: &'a Config,
    settings: &'a Settings,
    run: &'a PipelineRun,
    spec: PipelineSpec<'a>,
    layout: &[Shard],
    files: ShardFiles,
) -> ShardedSpecs<'a> {
    let factory = JobFactory::new(config, settings, run);
    let shard_of: BTreeMap<&str, usize> = layout
        .iter()
        .enumerate()
        .flat_map(|(i, shard)| shard.images.iter().map(move |id| (id.as_str(), i)))
        .collect();
    let count = layout.len();
    let plan_lines = PlanLines::new(files.plan_text);
    let mut shard_jobs: Vec<Vec<JobSpec<'a>>> = layout
        .iter()
        .enumerate()
        .map(|(i, shard)| {
            let text = shard_plan_text(i, count, shard, &plan_lines);
            vec![factory.plan_job(&text, shard.images.len())]
        })
        .collect();
    for job in spec.jobs {
        let Some(index) = job
            .owner
            .as_ref()
            .and_then(|owner| shard_of.get(owner.image.as_str()).copied())
        else {
            continue;
        };
        shard_jobs[index].push(job);
    }
    let shards = shard_jobs
        .into_iter()
        .map(|mut jobs| {
            let names: BTreeSet<String> = jobs.iter().map(|job| job.name.clone()).collect();
            for job in &mut jobs {
                if let Some(needs) = &mut job.needs {
                    needs.retain(|need| names.contains(need));
                    if needs.is_empty() {
                        needs.push(PLAN_JOB.to_string());
                    }
                }
            }
            PipelineSpec {
                stages: spec.stages,
                hidden: factory.hidden(),
                jobs,
            }
        })
        .collect();
    let mut dispatcher_jobs = vec![{
        let text = dispatcher_plan_text(files.plan_text, files.reason, layout, files.files);
        let mut job = factory.plan_job(&text, shard_of.len());
        job.name = SHARDS_JOB.to_string();
        job.vars.job = super::template_vars::JobVars::new(SHARDS_JOB, Stage::Plan);
        job
    }];
    for (i, (shard, file)) in layout.iter().zip(files.files).enumerate() {
        let needs = std::iter::once(SHARDS_JOB.to_string())
            .chain(shard.after.iter().map(|j| shard_job_name(j + 1)))
            .collect();
        let mut job = factory.spec("trigger", shard_job_name(i + 1), Stage::Shards, Some(needs));
        job.vars.files = Some(Box::new(Files::new()));
        job.vars.trigger = Some(Box::new(TriggerVars {
            artifact: file.clone(),
            job: SHARDS_JOB.into(),
        }));
        dispatcher_jobs.push(job);
    }
    ShardedSpecs {
        dispatcher: PipelineSpec {
            stages: Stage::DISPATCHER,
            hidden: factory.hidden(),
            jobs: dispatcher_jobs,
        },
        shards,
    }
}

/// A shard's plan: the run, where the shard stands, and the plan's lines of its images (the
/// whole plan is in the generate job's log; printing it in every pipeline would make the files
/// grow with the number of images of the run, not of the shard).
fn shard_plan_text(index: usize, count: usize, shard: &Shard, plan: &PlanLines) -> String {
    let mut text = plan.first.map(|l| format!("{l}\n")).unwrap_or_default();
    text.push_str(&format!(
        "Shard {} of {count}{}:\n",
        index + 1,
        after_text(shard)
    ));
    // The shard's images' lines, in the plan's order.
    let mut lines: Vec<usize> = shard
        .images
        .iter()
        .filter_map(|id| plan.build_line.get(id.as_str()).copied())
        .collect();
    lines.sort_unstable();
    for line in lines {
        text.push_str(&format!("{}\n", plan.lines[line]));
    }
    text.push_str(&format!(
        "{} built in this shard.\n",
        images_text(shard.images.len())
    ));
    text
}

/// The plan's text, indexed once: each shard prints the lines of its images, and looking
/// them up per shard in the whole text would cost shards × images.
struct PlanLines<'t> {
    first: Option<&'t str>,
    /// Every line after the first.
    lines: Vec<&'t str>,
    /// The line (in `lines`) that builds an image, by image id.
    build_line: HashMap<&'t str, usize>,
}

impl<'t> PlanLines<'t> {
    fn new(plan_text: &'t str) -> PlanLines<'t> {
        let mut all = plan_text.lines();
        let first = all.next();
        let lines: Vec<&str> = all.collect();
        let build_line = lines
            .iter()
            .enumerate()
            .filter_map(|(index, line)| {
                let mut words = line.split_whitespace();
                (words.next() == Some("build")).then(|| words.next().map(|id| (id, index)))?
            })
            .collect();
        PlanLines {
            first,
            lines,
            build_line,
        }
    }
}

/// `1 image`, `2 images`.
fn images_text(count: usize) -> String {
    match count {
        1 => "1 image".into(),
        _ => format!("{count} images"),
    }
}

/// `, after shard 1, 2` for a shard that waits for others; empty for one that does not.
fn after_text(shard: &Shard) -> String {
    match shard.after.is_empty() {
        true => String::new(),
        false => {
            let after: Vec<String> = shard.after.iter().map(|j| (j + 1).to_string()).collect();
            format!(", after shard {}", after.join(", "))
        }
    }
}

/// The dispatcher's log: the run, why it is sharded, and one line per shard (the plan's lines
/// are in each shard's plan job and in the generate job's log).
fn dispatcher_plan_text(
    plan_text: &str,
    reason: &str,
    layout: &[Shard],
    files: &[String],
) -> String {
    let mut text = plan_text
        .lines()
        .next()
        .map(|l| format!("{l}\n"))
        .unwrap_or_default();
    let images: usize = layout.iter().map(|shard| shard.images.len()).sum();
    text.push_str(&format!(
        "{} built. {reason}: the jobs run in {} shards, each a child pipeline of this one:\n",
        images_text(images),
        layout.len()
    ));
    for (i, (shard, file)) in layout.iter().zip(files).enumerate() {
        text.push_str(&format!(
            "  shard {} ({file}): {}, {} jobs{}\n",
            i + 1,
            images_text(shard.images.len()),
            shard.jobs,
            after_text(shard)
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, parent: Option<&str>, jobs: usize) -> Item {
        Item {
            id: id.into(),
            parent: parent.map(str::to_string),
            jobs,
        }
    }

    fn shard(images: &[&str], jobs: usize, after: &[usize]) -> Shard {
        Shard {
            images: images.iter().map(|s| s.to_string()).collect(),
            jobs,
            after: after.to_vec(),
        }
    }

    /// The e2e fixture: base-tools (4 jobs), other (3), app on base-tools (4).
    fn fixture() -> Vec<Item> {
        vec![
            item("base-tools", None, 4),
            item("other", None, 3),
            item("app", Some("base-tools"), 4),
        ]
    }

    #[test]
    fn everything_in_one_shard_when_it_fits() {
        assert_eq!(
            layout(&fixture(), 12),
            Ok(vec![shard(&["base-tools", "other", "app"], 12, &[])])
        );
    }

    #[test]
    fn a_chain_that_fits_stays_whole_and_chains_pack_first_fit() {
        // base-tools + app = 8 jobs + plan = 9; other goes to a second shard.
        assert_eq!(
            layout(&fixture(), 9),
            Ok(vec![
                shard(&["base-tools", "app"], 9, &[]),
                shard(&["other"], 4, &[])
            ])
        );
    }

    #[test]
    fn a_chain_too_large_is_cut_and_its_pieces_run_after_their_parents() {
        // 8 jobs per pipeline: 7 per shard. base-tools + app (8) must be cut; other fits
        // beside base-tools (4 + 3 = 7); app comes after that shard.
        assert_eq!(
            layout(&fixture(), 8),
            Ok(vec![
                shard(&["base-tools", "other"], 8, &[]),
                shard(&["app"], 5, &[0])
            ])
        );
    }

    #[test]
    fn a_piece_never_lands_before_its_parents_shard() {
        // a → b → c (3 jobs each), x (1 job). Capacity 4: a | b | c, x fills the first gap.
        let items = vec![
            item("a", None, 3),
            item("b", Some("a"), 3),
            item("c", Some("b"), 3),
            item("x", None, 1),
        ];
        assert_eq!(
            layout(&items, 5),
            Ok(vec![
                shard(&["a", "x"], 5, &[]),
                shard(&["b"], 4, &[0]),
                shard(&["c"], 4, &[1]),
            ])
        );
    }

    #[test]
    fn siblings_of_a_cut_chain_share_a_shard_after_their_parent() {
        let items = vec![
            item("root", None, 2),
            item("left", Some("root"), 2),
            item("right", Some("root"), 2),
        ];
        assert_eq!(
            layout(&items, 5),
            Ok(vec![
                shard(&["root", "left"], 5, &[]),
                shard(&["right"], 3, &[0])
            ])
        );
    }

    #[test]
    fn no_shard_waits_for_more_shards_than_its_trigger_job_may_need() {
        // One chain: root, 100 large images on it (one per shard: 31 of 60 jobs), then a small
        // image on each large one. Cut in plan order, a piece of 60 small images has parents in
        // 60 shards: it is placed in parts that wait for at most 49 shards each.
        let mut items = vec![item("root", None, 1)];
        items.extend((0..100).map(|i| item(&format!("large{i:03}"), Some("root"), 31)));
        items.extend(
            (0..100).map(|i| item(&format!("small{i:03}"), Some(&format!("large{i:03}")), 1)),
        );
        let shards = layout(&items, 61).unwrap();
        let shard_of: BTreeMap<&str, usize> = shards
            .iter()
            .enumerate()
            .flat_map(|(i, shard)| shard.images.iter().map(move |id| (id.as_str(), i)))
            .collect();
        assert_eq!(shard_of.len(), items.len());
        let most_after = shards.iter().map(|s| s.after.len()).max().unwrap();
        assert!(most_after > 30, "the case needs many shards: {most_after}");
        for (index, shard) in shards.iter().enumerate() {
            assert!(shard.after.len() <= MAX_AFTER, "shard {index}: {shard:?}");
            assert!(shard.jobs <= 61, "shard {index}: {shard:?}");
            assert!(
                shard.after.iter().all(|&a| a < index),
                "shard {index}: {shard:?}"
            );
        }
        for item in &items {
            if let Some(parent) = &item.parent {
                let (parent, child) = (shard_of[parent.as_str()], shard_of[item.id.as_str()]);
                assert!(
                    parent == child || shards[child].after.contains(&parent),
                    "{} in shard {child} does not wait for its parent's shard {parent}",
                    item.id
                );
            }
        }
    }

    #[test]
    fn shards_in_sequence_each_wait_for_the_one_before() {
        let items = vec![
            item("a", None, 3),
            item("b", Some("a"), 3),
            item("x", None, 3),
            item("y", None, 3),
        ];
        let mut shards = layout(&items, 7).unwrap();
        assert_eq!(
            shards,
            vec![shard(&["a", "b"], 7, &[]), shard(&["x", "y"], 7, &[])]
        );
        in_sequence(&mut shards);
        assert_eq!(
            shards,
            vec![shard(&["a", "b"], 7, &[]), shard(&["x", "y"], 7, &[0])]
        );
    }

    #[test]
    fn an_image_larger_than_a_pipeline_is_an_error_naming_it() {
        let err = layout(&fixture(), 4).unwrap_err();
        assert_eq!(
            err,
            "image `base-tools` alone has 4 jobs (its build, tests and release, and its scan and sign where configured), 5 with its shard's plan job: more than 4"
        );
    }

    #[test]
    fn the_layout_is_deterministic_and_keeps_plan_order_within_a_shard() {
        let items: Vec<Item> = (0..20)
            .map(|i| match i % 4 {
                0 => item(&format!("r{i}"), None, 2),
                _ => item(&format!("c{i}"), Some(&format!("r{}", i - i % 4)), 2),
            })
            .collect();
        let first = layout(&items, 7).unwrap();
        assert_eq!(first, layout(&items, 7).unwrap());
        for shard in &first {
            assert!(shard.jobs <= 7, "{shard:?}");
            let positions: Vec<usize> = shard
                .images
                .iter()
                .map(|id| items.iter().position(|i| &i.id == id).unwrap())
                .collect();
            assert!(positions.windows(2).all(|w| w[0] < w[1]), "{shard:?}");
        }
        let total: usize = first.iter().map(|s| s.images.len()).sum();
        assert_eq!(total, items.len());
    }

    #[test]
    fn a_shard_prints_the_plan_lines_of_its_images_and_the_dispatcher_one_line_per_shard() {
        let plan = "gipgee plan: a manual run\n  build  base-tools  why [released]\n  build  other       why [released]\n  build  app         why [FROM the parent's staging image, released]\n3 of 3 images are built.\n";
        let layout = layout(&fixture(), 8).unwrap();
        assert_eq!(
            shard_plan_text(1, 2, &layout[1], &PlanLines::new(plan)),
            "gipgee plan: a manual run\nShard 2 of 2, after shard 1:\n  build  app         why [FROM the parent's staging image, released]\n1 image built in this shard.\n"
        );
        let files = ["s-1.yml".to_string(), "s-2.yml".to_string()];
        assert_eq!(
            dispatcher_plan_text(plan, "too many jobs", &layout, &files),
            "gipgee plan: a manual run\n3 images built. too many jobs: the jobs run in 2 shards, each a child pipeline of this one:\n  shard 1 (s-1.yml): 2 images, 8 jobs\n  shard 2 (s-2.yml): 1 image, 5 jobs, after shard 1\n"
        );
    }
}
