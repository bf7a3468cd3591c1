//! Edits of gipgee.yaml as a selection rule: the images whose resolved settings differ between
//! the config at the comparison base and the config being built, the images that are new, and
//! the images that were removed (named in the plan; nothing is built for them).

use std::collections::BTreeMap;

use super::selection::Reason;
use crate::config::{Config, Image};

/// What an edit of the config means for the images.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigEdits {
    /// The images selected by the edit, with why (changed settings, new).
    pub selected: BTreeMap<String, Reason>,
    /// The ids only the base config has.
    pub removed: Vec<String>,
}

/// Compares the resolved images of the config at the comparison base (`base`, `None` when the
/// file did not exist there) with the config being built. `file` is the config's path as the
/// plan names it.
pub fn compare(base: Option<&Config>, head: &Config, file: &str) -> ConfigEdits {
    let empty = BTreeMap::new();
    let base_images = base.map_or(&empty, |config| &config.images);
    let selected = head
        .images
        .values()
        .filter_map(|image| {
            let reason = match base_images.get(&image.id) {
                None => Reason::NewInConfig {
                    file: file.to_string(),
                },
                Some(old) => {
                    let fields = changed_fields(old, image);
                    if fields.is_empty() {
                        return None;
                    }
                    Reason::ConfigChanged {
                        file: file.to_string(),
                        fields,
                    }
                }
            };
            Some((image.id.clone(), reason))
        })
        .collect();
    let removed = base_images
        .keys()
        .filter(|id| !head.images.contains_key(*id))
        .cloned()
        .collect();
    ConfigEdits { selected, removed }
}

/// The keys (as gipgee.yaml spells them) whose resolved values differ. Positions are not
/// settings; `updateCheck` and `layerCheck` only steer the scheduled checks and `cache` only
/// how fast a build is, leaving the built image as it is, so editing them does not rebuild.
fn changed_fields(old: &Image, new: &Image) -> Vec<String> {
    let comparisons = [
        ("baseImage", old.base_image == new.base_image),
        ("containerfile", old.containerfile == new.containerfile),
        ("context", old.build_context == new.build_context),
        (
            "targetLocations",
            old.target_locations == new.target_locations,
        ),
        ("staging", old.staging == new.staging),
        ("watchedAssets", old.watched_assets == new.watched_assets),
        ("buildArgs", old.build_args == new.build_args),
        ("labels", old.metadata.labels == new.metadata.labels),
        (
            "annotations",
            old.metadata.annotations == new.metadata.annotations,
        ),
        ("tests", old.tests == new.tests),
        ("builder", old.builder == new.builder),
        // A newly scanned or signed image is built, so its release is scanned or signed.
        ("scan", old.scan == new.scan),
        ("sign", old.sign == new.sign),
        ("platforms", old.platforms.list == new.platforms.list),
        (
            "runnerTags",
            old.platforms.runner_tags == new.platforms.runner_tags,
        ),
    ];
    comparisons
        .into_iter()
        .filter(|(_, same)| !same)
        .map(|(field, _)| field.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::MissingVariables;
    use crate::vars::Vars;

    fn config(text: &str) -> Config {
        crate::config::from_str(
            Path::new("gipgee.yaml"),
            text,
            &Vars::from_pairs([("TAG", "1")]),
            MissingVariables::Error,
        )
        .unwrap_or_else(|err| panic!("{err}"))
    }

    const BASE: &str = "
version: 1
defaults: {staging: registry.example.com/staging}
images:
  a: {baseImage: 'ubuntu:22.04', targetLocations: [registry.example.com/a:1]}
  b: {baseImage: registry.example.com/a:1, targetLocations: [registry.example.com/b:1]}
  gone: {baseImage: alpine, targetLocations: [registry.example.com/gone:1]}
";

    fn reasons(edits: &ConfigEdits) -> Vec<(String, Reason)> {
        edits.selected.clone().into_iter().collect()
    }

    #[test]
    fn a_changed_setting_is_named_new_images_are_selected_and_removed_ones_listed() {
        let head = config(
            "
version: 1
defaults: {staging: registry.example.com/staging}
images:
  a: {baseImage: 'ubuntu:24.04', targetLocations: [registry.example.com/a:1], buildArgs: {X: '1'}}
  b: {baseImage: registry.example.com/a:1, targetLocations: [registry.example.com/b:1]}
  new: {baseImage: alpine, targetLocations: [registry.example.com/new:1]}
",
        );
        let edits = compare(Some(&config(BASE)), &head, "gipgee.yaml");
        let file = "gipgee.yaml".to_string();
        assert_eq!(
            reasons(&edits),
            [
                (
                    "a".to_string(),
                    Reason::ConfigChanged {
                        file: file.clone(),
                        fields: vec!["baseImage".into(), "buildArgs".into()]
                    }
                ),
                ("new".to_string(), Reason::NewInConfig { file }),
            ]
        );
        assert_eq!(edits.removed, ["gone"]);
    }

    #[test]
    fn the_same_resolved_settings_written_differently_select_nothing() {
        // A value moved into `defaults`, a variable instead of its value, keys reordered,
        // a comment: the resolved images are the same.
        let head = config(
            "
version: 1
# reformatted
defaults: {staging: registry.example.com/staging, baseImage: alpine}
images:
  gone: {targetLocations: ['registry.example.com/gone:${TAG}']}
  b: {targetLocations: [registry.example.com/b:1], baseImage: registry.example.com/a:1}
  a: {baseImage: 'ubuntu:22.04', targetLocations: [registry.example.com/a:1]}
",
        );
        assert_eq!(
            compare(Some(&config(BASE)), &head, "gipgee.yaml"),
            ConfigEdits::default()
        );
    }

    #[test]
    fn scheduled_check_settings_do_not_rebuild() {
        let head = config(&BASE.replace(
            "a: {baseImage: 'ubuntu:22.04',",
            "a: {updateCheck: none, layerCheck: false, cache: true, baseImage: 'ubuntu:22.04',",
        ));
        assert_eq!(
            compare(Some(&config(BASE)), &head, "gipgee.yaml"),
            ConfigEdits::default()
        );
    }

    #[test]
    fn platforms_and_their_runner_tags_rebuild() {
        let head = config(&BASE.replace(
            "a: {baseImage: 'ubuntu:22.04',",
            "a: {platforms: [linux/amd64, linux/arm64], runnerTags: {linux/arm64: [arm]}, baseImage: 'ubuntu:22.04',",
        ));
        assert_eq!(
            reasons(&compare(Some(&config(BASE)), &head, "gipgee.yaml")),
            [(
                "a".to_string(),
                Reason::ConfigChanged {
                    file: "gipgee.yaml".into(),
                    fields: vec!["platforms".into(), "runnerTags".into()]
                }
            )]
        );
    }

    #[test]
    fn without_a_config_at_the_base_every_image_is_new() {
        let edits = compare(None, &config(BASE), "ci/gipgee.yaml");
        assert_eq!(
            edits.selected.keys().collect::<Vec<_>>(),
            ["a", "b", "gone"]
        );
        assert!(edits.selected.values().all(|r| *r
            == Reason::NewInConfig {
                file: "ci/gipgee.yaml".into()
            }));
        assert!(edits.removed.is_empty());
    }

    #[test]
    fn labels_and_annotations_select_the_image_and_immutability_does_not() {
        let head = config(
            "
version: 1
defaults: {staging: registry.example.com/staging, immutableTargets: true}
images:
  a: {baseImage: 'ubuntu:22.04', targetLocations: [registry.example.com/a:1], labels: {x.y: z}}
  b: {baseImage: registry.example.com/a:1, targetLocations: [{ref: registry.example.com/b:1, immutable: false}], annotations: {x.y: z}}
  gone: {baseImage: alpine, targetLocations: [registry.example.com/gone:1]}
",
        );
        let edits = compare(Some(&config(BASE)), &head, "gipgee.yaml");
        let changed = |fields: &[&str]| Reason::ConfigChanged {
            file: "gipgee.yaml".to_string(),
            fields: fields.iter().map(|f| f.to_string()).collect(),
        };
        assert_eq!(
            reasons(&edits),
            [
                ("a".to_string(), changed(&["labels"])),
                ("b".to_string(), changed(&["annotations"])),
            ]
        );
    }
}
