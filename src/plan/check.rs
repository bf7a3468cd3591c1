//! The plan of the scheduled update check: every image of the config, with the checks that
//! run for it (the layer check against its base, the update check in its released image).
//! What is stale is decided later, from the checks' results, by `evaluate`.

use std::fmt::Write as _;
use std::sync::OnceLock;

use super::graph::Graph;
use crate::config::{Config, Image, UpdateCheck};
use crate::environment::run::PipelineRun;
use crate::oci::Reference;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckPlan<'c> {
    pub run: PipelineRun,
    /// Every image of the config, parents before children.
    pub images: Vec<CheckedImage<'c>>,
    /// The plan for humans, written the first time it is asked for (the plan job, the job
    /// log and the shards' dispatcher all print it); the plan is not changed after it is made.
    text: OnceLock<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedImage<'c> {
    /// Borrowed from the config, as in the build plan.
    pub image: &'c Image,
    /// The image this one is built on, when that is another gipgee image.
    pub parent: Option<String>,
    /// The update check that runs for it; none for `updateCheck: none`.
    pub update_check: Option<PlannedUpdateCheck>,
}

/// An update check in a released image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedUpdateCheck {
    /// The released image it runs in: the first target location.
    pub runs_in: Reference,
    /// The image's own check (`updateCheck: {command}`); `None` for the built-in one.
    pub command: Option<Vec<String>>,
}

impl PlannedUpdateCheck {
    fn of(image: &Image) -> Option<PlannedUpdateCheck> {
        let command = match &image.update_check {
            UpdateCheck::None => return None,
            UpdateCheck::Auto => None,
            UpdateCheck::Command(argv) => Some(argv.clone()),
        };
        Some(PlannedUpdateCheck {
            runs_in: image.target_locations.first()?.clone(),
            command,
        })
    }
}

impl<'c> CheckPlan<'c> {
    pub fn new(config: &'c Config, graph: &Graph, run: PipelineRun) -> CheckPlan<'c> {
        let images = graph
            .order()
            .iter()
            .filter_map(|id| config.images.get(id))
            .map(|image| CheckedImage {
                image,
                parent: graph.parent(&image.id).map(str::to_string),
                update_check: PlannedUpdateCheck::of(image),
            })
            .collect();
        CheckPlan {
            run,
            images,
            text: OnceLock::new(),
        }
    }

    /// The plan for humans: which checks run for which image.
    pub fn text(&self) -> &str {
        self.text.get_or_init(|| self.write_text())
    }

    fn write_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "gipgee plan: {}", self.run.describe());
        let width = super::id_width(self.images.iter().map(|i| i.image.id.as_str()));
        // Written in place, one line per image: a large config's plan has thousands.
        for checked in &self.images {
            let image = &checked.image;
            let _ = write!(out, "  check  {:width$}  ", image.id);
            let _ = match image.layer_check {
                true => write!(out, "layer check against {}; ", image.base_image),
                false => write!(out, "no layer check; "),
            };
            let _ = match &checked.update_check {
                Some(check) => match &check.command {
                    None => writeln!(out, "package check in {}", check.runs_in),
                    Some(argv) => writeln!(out, "`{}` in {}", argv.join(" "), check.runs_in),
                },
                None => writeln!(out, "no update check"),
            };
        }
        let _ = writeln!(
            out,
            "{} images are checked; stale images and the images built on them are rebuilt by a rebuild pipeline.",
            self.images.len()
        );
        out
    }
}
