//! Which images a pipeline builds, and why: changed files against watched assets, the
//! pipeline runs that build all images, a rebuild selection file, and the pull-in of every image built on a
//! selected one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use globset::GlobMatcher;

use super::graph::Graph;
use crate::changes::Changes;
use crate::config::Config;
use crate::config::worktree::watched_glob;
use crate::diagnostic::{Diagnostic, Position, SourceDiagnostics, suggest};
use crate::error::Error;

/// Why an image is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The pipeline run builds every image (manual run, first push, force push, fallback).
    AllImages(String),
    /// A changed file matched a watched glob (`more` other matching files).
    Changed {
        file: String,
        glob: String,
        more: usize,
    },
    /// Its parent is built in this pipeline.
    Parent(String),
    /// Named in the rebuild selection, with the reason the update check gave.
    Selected(String),
    /// Its resolved settings differ from the config at the comparison base (`fields`: the
    /// keys as gipgee.yaml spells them).
    ConfigChanged { file: String, fields: Vec<String> },
    /// The config at the comparison base did not have it.
    NewInConfig { file: String },
    /// Nothing is released at its target location yet.
    NotReleased,
    /// `change` happened since `revision`, the commit its released image was built from.
    SinceRelease {
        revision: String,
        change: Box<Reason>,
    },
    /// What changed since the revision its released image records cannot be known (`why`):
    /// built to be safe.
    ReleasedRevisionUnknown { revision: String, why: String },
}

/// Whether one image is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Build(Reason),
    Skip(String),
}

impl Decision {
    pub fn is_build(&self) -> bool {
        matches!(self, Decision::Build(_))
    }
}

/// What the pipeline run asks for, before parents pull in their children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    All(String),
    /// The changed files, and what the other change rules found.
    Changes(Changes, AlsoChanged),
    Selection(BTreeMap<String, String>),
    Nothing(String),
}

/// Images selected by change rules other than the changed files, by id. When several rules
/// select an image, one reason is named: an edit of its settings first (the most specific),
/// then a changed file, then the released revision.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlsoChanged {
    pub config_edits: BTreeMap<String, Reason>,
    /// The released-revision rule (a push to the default branch), named last.
    pub since_release: BTreeMap<String, Reason>,
}

/// Decides every image of the config.
pub fn select(config: &Config, graph: &Graph, wanted: &Wanted) -> BTreeMap<String, Decision> {
    let mut decisions: BTreeMap<String, Decision> = config
        .images
        .values()
        .map(|image| {
            let decision = match wanted {
                Wanted::All(why) => Decision::Build(Reason::AllImages(why.clone())),
                Wanted::Changes(Changes::All { reason, .. }, _) => {
                    Decision::Build(Reason::AllImages(reason.clone()))
                }
                Wanted::Changes(Changes::Files { files, .. }, also) => {
                    let reason = also
                        .config_edits
                        .get(&image.id)
                        .cloned()
                        .or_else(|| changed_file_reason(image, files))
                        .or_else(|| also.since_release.get(&image.id).cloned());
                    match reason {
                        Some(reason) => Decision::Build(reason),
                        None => Decision::Skip(
                            "no changed file matches its containerfile or watched assets"
                                .to_string(),
                        ),
                    }
                }
                Wanted::Selection(selected) => match selected.get(&image.id) {
                    Some(why) => Decision::Build(Reason::Selected(why.clone())),
                    None => Decision::Skip("not in the rebuild selection".to_string()),
                },
                Wanted::Nothing(why) => Decision::Skip(why.clone()),
            };
            (image.id.clone(), decision)
        })
        .collect();
    // Parents come first in graph order, so one pass pulls in whole chains.
    for id in graph.order() {
        if let Some(parent) = graph.parent(id) {
            let parent_built = decisions.get(parent).is_some_and(Decision::is_build);
            let skipped = decisions.get(id).is_some_and(|d| !d.is_build());
            if parent_built && skipped {
                decisions.insert(
                    id.clone(),
                    Decision::Build(Reason::Parent(parent.to_string())),
                );
            }
        }
    }
    decisions
}

/// The rebuild selection: `{"images": {"<id>": "<why>"}}`. Unknown ids are errors (with a
/// suggestion), so a stale selection never silently rebuilds nothing.
pub fn read_selection(path: &Path, config: &Config) -> Result<BTreeMap<String, String>, Error> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SelectionFile {
        images: BTreeMap<String, String>,
    }
    let source = crate::config::read_input_file(path)?;
    let invalid = |diagnostics: Vec<Diagnostic>| {
        Error::Invalid(SourceDiagnostics {
            file: path.to_path_buf(),
            source: source.clone(),
            diagnostics,
        })
    };
    let file: SelectionFile = serde_json::from_str(&source).map_err(|err| {
        let position = Position { line: err.line(), col: err.column() };
        invalid(vec![Diagnostic::at(position, format!("invalid selection file: {err}; expected {{\"images\": {{\"<image id>\": \"<reason>\"}}}}"))])
    })?;
    let unknown: Vec<Diagnostic> = file
        .images
        .keys()
        .filter(|id| !config.images.contains_key(*id))
        .map(|id| {
            let diag = Diagnostic::unplaced(format!("unknown image id `{id}` in the selection"));
            match suggest(id, config.images.keys().map(String::as_str)) {
                Some(s) => diag.with_help(format!("did you mean `{s}`?")),
                None => diag,
            }
        })
        .collect();
    match unknown.is_empty() {
        true => Ok(file.images),
        false => Err(invalid(unknown)),
    }
}

/// The first changed file that matches the image's containerfile or watched assets.
pub(super) fn changed_file_reason(
    image: &crate::config::Image,
    files: &BTreeSet<String>,
) -> Option<Reason> {
    let containerfile = globset::escape(&image.containerfile);
    let globs: Vec<(&str, GlobMatcher)> = std::iter::once(containerfile.as_str())
        .chain(image.watched_assets.iter().map(String::as_str))
        .filter_map(|glob| Some((glob, watched_glob(glob)?)))
        .collect();
    let mut matches = files.iter().filter_map(|file| {
        globs
            .iter()
            .find(|(_, m)| m.is_match(file))
            .map(|(glob, _)| (file, *glob))
    });
    let (file, glob) = matches.next()?;
    Some(Reason::Changed {
        file: file.clone(),
        glob: glob.to_string(),
        more: matches.count(),
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::MissingVariables;
    use crate::vars::Vars;

    const CHAIN: &str = "
version: 1
defaults: {staging: registry.example.com/staging}
images:
  a: {baseImage: alpine, targetLocations: [registry.example.com/a:1], watchedAssets: ['a/**']}
  b: {baseImage: registry.example.com/a:1, targetLocations: [registry.example.com/b:1]}
  c: {baseImage: alpine, targetLocations: [registry.example.com/c:1], watchedAssets: ['c/**']}
";

    fn decide(files: &[&str], also: AlsoChanged) -> BTreeMap<String, Decision> {
        let config = crate::config::from_str(
            Path::new("gipgee.yaml"),
            CHAIN,
            &Vars::default(),
            MissingVariables::Error,
        )
        .unwrap_or_else(|err| panic!("{err}"));
        let graph = Graph::new(&config).unwrap_or_else(|err| panic!("{err}"));
        let changes = Changes::Files {
            base: "base".into(),
            files: files.iter().map(|f| f.to_string()).collect(),
        };
        select(&config, &graph, &Wanted::Changes(changes, also))
    }

    #[test]
    fn a_config_edit_is_named_before_a_changed_file_and_pulls_in_the_children() {
        let edited = Reason::ConfigChanged {
            file: "gipgee.yaml".into(),
            fields: vec!["buildArgs".into()],
        };
        let also = AlsoChanged {
            config_edits: BTreeMap::from([("a".to_string(), edited.clone())]),
            ..AlsoChanged::default()
        };
        let decisions = decide(&["a/x", "c/y"], also);
        assert_eq!(decisions["a"], Decision::Build(edited));
        assert_eq!(decisions["b"], Decision::Build(Reason::Parent("a".into())));
        assert!(matches!(
            decisions["c"],
            Decision::Build(Reason::Changed { .. })
        ));
    }

    #[test]
    fn the_released_revision_is_named_only_when_no_change_of_this_push_selects_the_image() {
        let since = |image: &str| Reason::SinceRelease {
            revision: "1111111111111111111111111111111111111111".into(),
            change: Box::new(Reason::Changed {
                file: format!("{image}/old"),
                glob: format!("{image}/**"),
                more: 0,
            }),
        };
        let also = AlsoChanged {
            since_release: BTreeMap::from([
                ("a".to_string(), since("a")),
                ("c".to_string(), since("c")),
            ]),
            ..AlsoChanged::default()
        };
        let decisions = decide(&["c/new"], also);
        assert_eq!(decisions["a"], Decision::Build(since("a")));
        assert_eq!(decisions["b"], Decision::Build(Reason::Parent("a".into())));
        assert_eq!(
            decisions["c"],
            Decision::Build(Reason::Changed {
                file: "c/new".into(),
                glob: "c/**".into(),
                more: 0
            })
        );
    }

    #[test]
    fn without_edits_or_matching_files_nothing_is_built() {
        let decisions = decide(&["gipgee.yaml"], AlsoChanged::default());
        assert!(decisions.values().all(|d| !d.is_build()), "{decisions:?}");
    }
}
