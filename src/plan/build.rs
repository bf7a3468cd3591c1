//! The plan of a build pipeline: for every image, whether it is built and why, what it is
//! built FROM, where its staging image goes, whether it is released and whether its chain
//! starts by hand. Everything the job templates need is decided here; rendering only formats
//! it.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::OnceLock;

use super::graph::Graph;
use super::selection::{Decision, Reason};
use crate::config::{Config, Image};
use crate::environment::run::{PipelineRun, short};
use crate::error::Error;
use crate::oci::{Reference, TAG_LENGTH_MAX};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildPlan<'c> {
    pub run: PipelineRun,
    /// Loud warnings for the job log (e.g. git history could not be read).
    pub warnings: Vec<String>,
    /// Facts about the run worth a line in the plan (e.g. images removed from the config).
    pub notes: Vec<String>,
    /// Every image of the config, parents before children.
    pub images: Vec<PlannedImage<'c>>,
    /// The plan for humans, written the first time it is asked for (the plan job, the job
    /// log and the shards' dispatcher all print it); the plan is not changed after it is made.
    text: OnceLock<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedImage<'c> {
    /// Borrowed from the config: a plan of 10,000 images holds no copy of them.
    pub image: &'c Image,
    pub decision: Decision,
    /// The image this one is built on, when that is another gipgee image.
    pub parent: Option<String>,
    /// Where this pipeline pushes the image before testing it (unique per pipeline).
    pub staging_image: Reference,
    /// What the build uses as `GIPGEE_BASE_IMAGE`: the parent's staging image when the parent
    /// is built in this pipeline, else the configured `baseImage`.
    pub build_base: Reference,
    /// The parent is built in this pipeline: this build waits for it.
    pub parent_built: bool,
    pub release: bool,
    /// First job of a chain in a manual run: `when: manual`.
    pub manual: bool,
}

impl<'c> BuildPlan<'c> {
    /// The plan of `decisions`, complete with the warnings and notes for its text (which is
    /// written once, the first time it is asked for).
    pub fn new(
        config: &'c Config,
        graph: &Graph,
        run: PipelineRun,
        decisions: &std::collections::BTreeMap<String, Decision>,
        (warnings, notes): (Vec<String>, Vec<String>),
    ) -> Result<BuildPlan<'c>, Error> {
        let mut images: Vec<PlannedImage<'c>> = Vec::new();
        // Where each planned image is in `images`: a parent is found without a scan, which
        // would cost quadratic time in large configs.
        let mut index_of: std::collections::HashMap<&str, usize> = Default::default();
        for id in graph.order() {
            let Some(image) = config.images.get(id) else {
                continue;
            };
            let decision = decisions
                .get(id)
                .cloned()
                .unwrap_or_else(|| Decision::Skip("not selected".to_string()));
            let parent = graph.parent(id).map(str::to_string);
            let parent_planned = parent
                .as_ref()
                .and_then(|p| index_of.get(p.as_str()))
                .map(|&index| &images[index]);
            let parent_built =
                parent_planned.is_some_and(|p| p.decision.is_build()) && decision.is_build();
            let staging_image = staging_reference(image, &run)?;
            let build_base = match parent_planned {
                Some(p) if parent_built => p.staging_image.clone(),
                _ => image.base_image.clone(),
            };
            let is_build = decision.is_build();
            index_of.insert(id, images.len());
            images.push(PlannedImage {
                image,
                decision,
                parent,
                staging_image,
                build_base,
                parent_built,
                release: is_build && run.releases(),
                manual: is_build && !parent_built && run.manual_first_jobs(),
            });
        }
        Ok(BuildPlan {
            run,
            warnings,
            notes,
            images,
            text: OnceLock::new(),
        })
    }

    pub fn built(&self) -> impl Iterator<Item = &PlannedImage<'c>> {
        self.images.iter().filter(|i| i.decision.is_build())
    }

    pub fn get(&self, id: &str) -> Option<&PlannedImage<'c>> {
        self.images.iter().find(|i| i.image.id == id)
    }

    /// The plan for humans: one line per image, what was decided and why.
    pub fn text(&self) -> &str {
        self.text.get_or_init(|| self.write_text())
    }

    fn write_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "gipgee plan: {}", self.run.describe());
        for warning in &self.warnings {
            let _ = writeln!(out, "WARNING: {warning}");
        }
        for note in &self.notes {
            let _ = writeln!(out, "{note}");
        }
        let all_images_reason = self.images.iter().find_map(|i| match &i.decision {
            Decision::Build(Reason::AllImages(why)) => Some(why),
            _ => None,
        });
        if let Some(why) = all_images_reason {
            let _ = writeln!(out, "All images are selected: {why}.");
        }
        let width = super::id_width(self.images.iter().map(|i| i.image.id.as_str()));
        // Written in place, one line per image: a large config's plan has thousands.
        for planned in &self.images {
            let start = out.len();
            let id = &planned.image.id;
            match &planned.decision {
                Decision::Build(reason) => {
                    let _ = write!(out, "  build  {id:width$}  ");
                    out.push_str(&describe_reason(reason));
                    planned.write_notes(&mut out);
                }
                Decision::Skip(why) => {
                    let _ = write!(out, "  skip   {id:width$}  {why}");
                }
            }
            let line_end = start + out[start..].trim_end().len();
            out.truncate(line_end);
            out.push('\n');
        }
        let built = self.built().count();
        let total = self.images.len();
        let _ = match built {
            0 => writeln!(
                out,
                "Nothing to build: no image is selected in this pipeline run."
            ),
            _ => writeln!(out, "{built} of {total} images are built."),
        };
        out
    }
}

impl PlannedImage<'_> {
    /// The notes after an image's reason, e.g. ` [FROM the parent's staging image, released]`.
    fn write_notes(&self, out: &mut String) {
        let mut notes = 0;
        let mut note = |out: &mut String, text: std::fmt::Arguments| {
            out.push_str(if notes == 0 { " [" } else { ", " });
            let _ = out.write_fmt(text);
            notes += 1;
        };
        if self.parent_built {
            note(out, format_args!("FROM the parent's staging image"));
        } else if let Some(parent) = &self.parent {
            note(out, format_args!("FROM `{parent}`'s released image"));
        }
        if self.release {
            note(out, format_args!("released"));
        }
        if self.manual {
            note(out, format_args!("starts manually"));
        }
        if notes > 0 {
            out.push(']');
        }
    }
}

/// Why an image is built, in words. Borrowed where the words are fixed: every image of an
/// "all images" run has the same reason, and a large config has thousands.
fn describe_reason(reason: &Reason) -> Cow<'static, str> {
    Cow::Owned(match reason {
        Reason::AllImages(_) => return Cow::Borrowed("all images are selected"),
        Reason::Changed {
            file,
            glob,
            more: 0,
        } => format!("`{file}` changed (matches `{glob}`)"),
        Reason::Changed { file, glob, more } => {
            format!("`{file}` changed (matches `{glob}`), and {more} more matching file(s)")
        }
        Reason::Parent(parent) => format!("its parent `{parent}` is built"),
        Reason::Selected(why) => format!("selected for rebuild: {why}"),
        Reason::ConfigChanged { file, fields } => {
            let fields: Vec<String> = fields.iter().map(|f| format!("`{f}`")).collect();
            format!("its {} changed in {file}", fields.join(", "))
        }
        Reason::NewInConfig { file } => format!("new in {file}"),
        Reason::NotReleased => return Cow::Borrowed("not released yet"),
        Reason::SinceRelease { revision, change } => format!(
            "{} since its released revision {}",
            describe_reason(change),
            short(revision)
        ),
        Reason::ReleasedRevisionUnknown { revision, why } => format!(
            "the changes since its released revision {} are unknown ({why})",
            short(revision)
        ),
    })
}

/// `<staging>:<id>-<short sha>-<pipeline id>`: unique per pipeline, so a runner's pull policy
/// can never serve a stale staging image. Long ids are shortened with a hash to fit the
/// tag length limit ([`TAG_LENGTH_MAX`]).
fn staging_reference(image: &Image, run: &PipelineRun) -> Result<Reference, Error> {
    let short_sha = short(&run.commit_sha);
    let suffix = format!("-{short_sha}-{}", run.pipeline_id);
    let room = TAG_LENGTH_MAX.saturating_sub(suffix.len());
    let id = if image.id.len() <= room {
        image.id.clone()
    } else {
        let hash = format!("{:08x}", fnv1a(image.id.as_bytes()) as u32);
        let keep = room.saturating_sub(hash.len() + 1);
        format!("{}-{hash}", &image.id[..keep])
    };
    image
        .staging
        .with_tag(&format!("{id}{suffix}"))
        .map_err(|err| {
            Error::User(format!(
                "image `{}`: cannot make a staging reference: {err}",
                image.id
            ))
        })
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod cleanup_policy;

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;
    use crate::config::MissingVariables;
    use crate::environment::run::Mode;
    use crate::plan::selection::{Wanted, select};
    use crate::vars::Vars;

    const CHAIN: &str = "
version: 1
defaults: {staging: registry.example.com/staging}
images:
  a: {baseImage: alpine, targetLocations: [registry.example.com/a:1]}
  b: {baseImage: registry.example.com/a:1, targetLocations: [registry.example.com/b:1]}
  c: {baseImage: registry.example.com/b:1, targetLocations: [registry.example.com/c:1]}
  d: {baseImage: alpine, targetLocations: [registry.example.com/d:1]}
";

    fn plan(config_text: &str, source: &str, mode: Mode, wanted: Wanted) -> BuildPlan<'static> {
        let vars = Vars::from_pairs([
            ("CI_PIPELINE_SOURCE", source),
            ("CI_COMMIT_BRANCH", "main"),
            ("CI_DEFAULT_BRANCH", "main"),
            ("CI_COMMIT_SHA", "0123456789abcdef0123456789abcdef01234567"),
            ("CI_PIPELINE_ID", "77"),
        ]);
        let config = crate::config::from_str(
            Path::new("gipgee.yaml"),
            config_text,
            &vars,
            MissingVariables::Error,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        // The plan borrows its images from the config: a test's config lives as long as it.
        let config: &'static Config = Box::leak(Box::new(config));
        let graph = Graph::new(config).unwrap();
        let decisions = select(config, &graph, &wanted);
        BuildPlan::new(
            config,
            &graph,
            PipelineRun::detect(&vars, mode).unwrap(),
            &decisions,
            Default::default(),
        )
        .unwrap()
    }

    fn built<'p>(plan: &'p BuildPlan<'_>) -> Vec<&'p str> {
        plan.built().map(|p| p.image.id.as_str()).collect()
    }

    #[test]
    fn a_grandchild_builds_from_its_parents_staging_image_and_only_roots_are_manual() {
        let plan = plan(CHAIN, "web", Mode::Auto, Wanted::All("manual run".into()));
        assert_eq!(built(&plan), ["a", "d", "b", "c"]);
        let (b, c) = (plan.get("b").unwrap(), plan.get("c").unwrap());
        assert_eq!(b.build_base, plan.get("a").unwrap().staging_image);
        assert_eq!(c.build_base, b.staging_image);
        let manual: Vec<&str> = plan
            .images
            .iter()
            .filter(|p| p.manual)
            .map(|p| p.image.id.as_str())
            .collect();
        assert_eq!(manual, ["a", "d"]);
    }

    #[test]
    fn a_rebuild_of_a_child_pulls_in_its_children_and_builds_from_the_released_parent() {
        let selection = BTreeMap::from([("b".to_string(), "packages".to_string())]);
        let plan = plan(
            CHAIN,
            "parent_pipeline",
            Mode::Rebuild,
            Wanted::Selection(selection),
        );
        assert_eq!(built(&plan), ["b", "c"]);
        let b = plan.get("b").unwrap();
        assert_eq!(b.build_base.to_string(), "registry.example.com/a:1");
        assert!(!b.parent_built && b.release && !b.manual);
        assert_eq!(plan.get("c").unwrap().build_base, b.staging_image);
    }

    #[test]
    fn staging_tags_are_unique_and_fit_the_tag_limit() {
        let long_a = "a".repeat(128);
        let long_b = format!("{}b", "a".repeat(127));
        let config = format!(
            "version: 1\ndefaults: {{staging: registry.example.com/staging}}\nimages:\n  {long_a}: {{baseImage: alpine, targetLocations: [registry.example.com/x:1]}}\n  {long_b}: {{baseImage: alpine, targetLocations: [registry.example.com/y:1]}}\n"
        );
        let plan = plan(&config, "web", Mode::Auto, Wanted::All("all".into()));
        let tags: Vec<&str> = plan
            .images
            .iter()
            .map(|p| p.staging_image.tag().unwrap())
            .collect();
        assert!(
            tags.iter()
                .all(|t| t.len() <= 128 && t.ends_with("-01234567-77")),
            "{tags:?}"
        );
        assert_ne!(tags[0], tags[1]);
    }
}
