//! The released-revision rule of a push to the default branch: an image is also built when
//! its watched files (or its settings) changed since the commit its released image was built
//! from, so a change whose pipeline failed, was cancelled or skipped is built by the next push.
//!
//! The plan does not read registries itself: the caller passes a [`ReleasedRevisions`]
//! provider (the registry reader, or a fake in tests), and the git questions go through a
//! function the plan gives [`decide`].

use std::collections::{BTreeMap, BTreeSet};

use super::config_edits::ConfigEdits;
use super::selection::{Reason, changed_file_reason};
use crate::config::{Config, Image};
use crate::oci::{Reference, canonical_host};

/// Reads what the released images record.
pub trait ReleasedRevisions {
    /// One answer per reference, in the order asked.
    fn read(&self, references: &[Reference]) -> Vec<Released>;
}

impl<F: Fn(&[Reference]) -> Vec<Released>> ReleasedRevisions for F {
    fn read(&self, references: &[Reference]) -> Vec<Released> {
        self(references)
    }
}

/// What one released image records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Released {
    /// The commit it was built from (`org.opencontainers.image.revision`), as written.
    Revision(String),
    /// An image without a recorded revision (built before gipgee recorded it, or elsewhere).
    NoRevision,
    /// Nothing is released there (the registry knows no such manifest).
    NotReleased,
    /// The registry could not be read.
    Unreadable { registry: String, reason: String },
}

/// What changed between a released revision and the commit being built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinceRevision {
    /// The changed files, and what the config edits between the two select.
    Changes {
        files: BTreeSet<String>,
        edits: ConfigEdits,
    },
    /// The changes cannot be known (not an ancestor, not in the repository): why.
    Unknown(String),
}

/// What the rule found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Findings {
    pub selected: BTreeMap<String, Reason>,
    pub warnings: Vec<String>,
    pub notes: Vec<String>,
}

/// The target location whose revision is read: one on the project's own registry
/// (`ci_registry`) when the image has one (reading it costs no pull limit), else the first.
pub fn released_target<'a>(image: &'a Image, ci_registry: Option<&str>) -> Option<&'a Reference> {
    let own = ci_registry.map(canonical_host);
    image
        .target_locations
        .iter()
        .find(|target| own.as_deref() == Some(canonical_host(target.registry()).as_str()))
        .or_else(|| image.target_locations.first())
}

/// Whether `registries:` lets the rule read `target`'s registry (`releasedRevisionCheck`).
fn allowed(config: &Config, target: &Reference) -> bool {
    let host = canonical_host(target.registry());
    config
        .registries
        .iter()
        .find(|(configured, _)| canonical_host(configured) == host)
        .is_none_or(|(_, registry)| registry.released_revision_check)
}

/// Applies the rule to the images `ids` (those no other rule builds): reads their released
/// revisions through `provider` (all at once, so it can read them in parallel) and asks
/// `since` what changed since each distinct revision.
pub fn decide(
    config: &Config,
    ids: &[String],
    ci_registry: Option<&str>,
    provider: &dyn ReleasedRevisions,
    since: &mut dyn FnMut(&str) -> SinceRevision,
) -> Findings {
    let asked: Vec<(&Image, Reference)> = ids
        .iter()
        .filter_map(|id| config.images.get(id))
        .filter_map(|image| Some((image, released_target(image, ci_registry)?.clone())))
        .filter(|(_, target)| allowed(config, target))
        .collect();
    let mut findings = Findings::default();
    if asked.is_empty() {
        return findings;
    }
    let references: Vec<Reference> = asked.iter().map(|(_, target)| target.clone()).collect();
    let answers = provider.read(&references);
    let mut unreadable: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    let mut unrecorded = Vec::new();
    let mut changes: BTreeMap<String, SinceRevision> = BTreeMap::new();
    for ((image, _), answer) in asked.iter().zip(answers) {
        let id = image.id.clone();
        let reason = match answer {
            Released::NotReleased => Some(Reason::NotReleased),
            Released::NoRevision => {
                unrecorded.push(id);
                None
            }
            Released::Unreadable { registry, reason } => {
                unreadable
                    .entry(registry)
                    .or_insert_with(|| (reason, Vec::new()))
                    .1
                    .push(id);
                None
            }
            Released::Revision(revision) if !is_object_id(&revision) => {
                Some(Reason::ReleasedRevisionUnknown {
                    revision: printable(&revision),
                    why: "it is not a commit id".into(),
                })
            }
            Released::Revision(revision) => {
                let found = changes
                    .entry(revision.clone())
                    .or_insert_with(|| since(&revision));
                since_revision_reason(image, &revision, found)
            }
        };
        if let Some(reason) = reason {
            findings.selected.insert(image.id.clone(), reason);
        }
    }
    for (registry, (reason, ids)) in unreadable {
        findings.warnings.push(format!(
            "cannot read the released images on registry `{registry}` ({reason}); {} decided by this push's changes only",
            ids.join(", ")
        ));
    }
    if !unrecorded.is_empty() {
        findings.notes.push(format!(
            "Released images without a recorded revision (decided by this push's changes only): {}.",
            unrecorded.join(", ")
        ));
    }
    findings
}

fn since_revision_reason(image: &Image, revision: &str, found: &SinceRevision) -> Option<Reason> {
    match found {
        SinceRevision::Unknown(why) => Some(Reason::ReleasedRevisionUnknown {
            revision: revision.to_string(),
            why: why.clone(),
        }),
        SinceRevision::Changes { files, edits } => {
            let change = edits
                .selected
                .get(&image.id)
                .cloned()
                .or_else(|| changed_file_reason(image, files))?;
            Some(Reason::SinceRelease {
                revision: revision.to_string(),
                change: Box::new(change),
            })
        }
    }
}

/// A full git object id: 40 (SHA-1) or 64 (SHA-256) hex digits.
fn is_object_id(revision: &str) -> bool {
    matches!(revision.len(), 40 | 64) && revision.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Registry-provided text, shortened and with control characters escaped, fit for one line.
fn printable(text: &str) -> String {
    let short: String = text.chars().take(64).collect();
    let escaped = short.escape_debug().to_string();
    match text.chars().count() > 64 {
        true => format!("{escaped}…"),
        false => escaped,
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::path::Path;

    use super::*;
    use crate::config::MissingVariables;
    use crate::vars::Vars;

    const OLD: &str = "1111111111111111111111111111111111111111";
    const OTHER: &str = "2222222222222222222222222222222222222222";

    const CONFIG: &str = "
version: 1
defaults: {staging: registry.example.com/staging}
registries:
  docker.io: {releasedRevisionCheck: false}
images:
  own: {baseImage: alpine, targetLocations: ['docker.io/me/own:1', 'registry.gitlab.example.com/g/own:1'], watchedAssets: ['own/**']}
  hub: {baseImage: alpine, targetLocations: ['docker.io/me/hub:1']}
  new: {baseImage: alpine, targetLocations: ['registry.example.com/new:1']}
  odd: {baseImage: alpine, targetLocations: ['registry.example.com/odd:1']}
  gone: {baseImage: alpine, targetLocations: ['registry.example.com/gone:1']}
  down: {baseImage: alpine, targetLocations: ['down.example.com/down:1']}
  plain: {baseImage: alpine, targetLocations: ['registry.example.com/plain:1'], watchedAssets: ['plain/**']}
";

    fn config() -> Config {
        crate::config::from_str(
            Path::new("gipgee.yaml"),
            CONFIG,
            &Vars::default(),
            MissingVariables::Error,
        )
        .unwrap_or_else(|err| panic!("{err}"))
    }

    fn answer(reference: &Reference) -> Released {
        match reference.repository() {
            "g/own" => Released::Revision(OLD.into()),
            "new" => Released::NotReleased,
            "odd" => Released::Revision("main\nINJECTED".into()),
            "gone" => Released::Revision(OTHER.into()),
            "down" => Released::Unreadable {
                registry: "down.example.com".into(),
                reason: "connection refused".into(),
            },
            "plain" => Released::NoRevision,
            other => panic!("asked for {other}"),
        }
    }

    #[test]
    fn each_answer_decides_as_documented() {
        let config = config();
        let ids: Vec<String> = config.images.keys().cloned().collect();
        let asked = RefCell::new(Vec::new());
        let provider = |references: &[Reference]| {
            asked
                .borrow_mut()
                .extend(references.iter().map(ToString::to_string));
            references.iter().map(answer).collect()
        };
        let mut revisions = Vec::new();
        let mut since = |revision: &str| {
            revisions.push(revision.to_string());
            match revision {
                OLD => SinceRevision::Changes {
                    files: BTreeSet::from(["own/x".to_string(), "plain/y".to_string()]),
                    edits: ConfigEdits::default(),
                },
                _ => SinceRevision::Unknown("history rewritten".into()),
            }
        };
        let findings = decide(
            &config,
            &ids,
            Some("registry.gitlab.example.com"),
            &provider,
            &mut since,
        );
        // The project's registry is preferred; `hub` is on a registry that opted out.
        assert_eq!(
            asked.into_inner(),
            [
                "down.example.com/down:1",
                "registry.example.com/gone:1",
                "registry.example.com/new:1",
                "registry.example.com/odd:1",
                "registry.gitlab.example.com/g/own:1",
                "registry.example.com/plain:1",
            ]
        );
        assert_eq!(revisions, [OTHER, OLD]);
        let expected = BTreeMap::from([
            (
                "gone".to_string(),
                Reason::ReleasedRevisionUnknown {
                    revision: OTHER.into(),
                    why: "history rewritten".into(),
                },
            ),
            ("new".to_string(), Reason::NotReleased),
            (
                "odd".to_string(),
                Reason::ReleasedRevisionUnknown {
                    revision: "main\\nINJECTED".into(),
                    why: "it is not a commit id".into(),
                },
            ),
            (
                "own".to_string(),
                Reason::SinceRelease {
                    revision: OLD.into(),
                    change: Box::new(Reason::Changed {
                        file: "own/x".into(),
                        glob: "own/**".into(),
                        more: 0,
                    }),
                },
            ),
        ]);
        assert_eq!(findings.selected, expected);
        assert_eq!(
            findings.warnings,
            [
                "cannot read the released images on registry `down.example.com` (connection refused); down decided by this push's changes only"
            ]
        );
        assert_eq!(
            findings.notes,
            [
                "Released images without a recorded revision (decided by this push's changes only): plain."
            ]
        );
    }

    #[test]
    fn a_config_edit_since_the_release_selects_the_image() {
        let config = config();
        let edit = Reason::ConfigChanged {
            file: "gipgee.yaml".into(),
            fields: vec!["baseImage".into()],
        };
        let provider = |references: &[Reference]| {
            references
                .iter()
                .map(|_| Released::Revision(OLD.into()))
                .collect()
        };
        let mut since = |_: &str| SinceRevision::Changes {
            files: BTreeSet::from(["gipgee.yaml".to_string()]),
            edits: ConfigEdits {
                selected: BTreeMap::from([("new".to_string(), edit.clone())]),
                removed: Vec::new(),
            },
        };
        let findings = decide(&config, &["new".into()], None, &provider, &mut since);
        assert_eq!(
            findings.selected["new"],
            Reason::SinceRelease {
                revision: OLD.into(),
                change: Box::new(edit)
            }
        );
    }

    #[test]
    fn no_request_when_every_image_opted_out_or_is_built_anyway() {
        let config = config();
        let provider = |_: &[Reference]| -> Vec<Released> { panic!("no registry read expected") };
        let mut since = |_: &str| -> SinceRevision { panic!("no git expected") };
        let findings = decide(&config, &["hub".into()], None, &provider, &mut since);
        assert_eq!(findings, Findings::default());
        let findings = decide(&config, &[], None, &provider, &mut since);
        assert_eq!(findings, Findings::default());
    }
}
