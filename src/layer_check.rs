//! The layer check (`gipgee layer-check`, SPEC §4.1): is every released image still built on
//! the *current* digest of its configured base image? Manifests only, through gipgee's
//! registry client; target locations of one image that share a digest are checked once.
//!
//! Per platform of the released image: where the image carries the
//! `org.opencontainers.image.base.digest` annotation (buildah writes it), that digest must be
//! the base's current digest — the index digest or the matching platform's digest, which
//! name the same base. Otherwise the base's layers must be a prefix of the image's layers.
//! The annotation's `base.name` is never used: it may name a staging image.

use std::collections::BTreeSet;

use crate::config::{Config, Image};
use crate::evaluate::{LayerCheckResults, LayerResult};
use crate::reference::Reference;
use crate::registry::{Client, Digest, Platform, PlatformImage, parallel_map};

/// How many images are checked at once.
pub const WORKERS: usize = 8;

/// Checks every image with `layerCheck: true`.
pub fn check_all(config: &Config, client: &Client) -> LayerCheckResults {
    let images: Vec<&Image> = config
        .images
        .values()
        .filter(|image| image.layer_check)
        .collect();
    let results = parallel_map(&images, WORKERS, |image| {
        (image.id.clone(), check_image(client, image))
    });
    LayerCheckResults {
        images: results.into_iter().collect(),
    }
}

/// One image: every distinct released digest against the base's current manifests.
pub fn check_image(client: &Client, image: &Image) -> LayerResult {
    let base = match client.images(&image.base_image) {
        Ok(base) => base,
        Err(err) => {
            return LayerResult::Error {
                error: format!("base image: {err}"),
            };
        }
    };
    let mut stale = Vec::new();
    let mut current = Vec::new();
    let mut checked: BTreeSet<Digest> = BTreeSet::new();
    for (index, target) in image.target_locations.iter().enumerate() {
        // The first location is read whole (one GET gives its digest too); the others only
        // need a HEAD to see whether they hold an image already checked.
        if index > 0 {
            match client.digest(target) {
                Ok(digest) => {
                    if !checked.insert(digest) {
                        continue;
                    }
                }
                Err(err) => {
                    return LayerResult::Error {
                        error: format!("released image: {err}"),
                    };
                }
            }
        }
        let platforms = match client.images(target) {
            Ok(platforms) => platforms,
            Err(err) => {
                return LayerResult::Error {
                    error: format!("released image: {err}"),
                };
            }
        };
        if index == 0 {
            match client.digest(target) {
                Ok(digest) => {
                    checked.insert(digest);
                }
                Err(err) => {
                    return LayerResult::Error {
                        error: format!("released image: {err}"),
                    };
                }
            }
        }
        for released_image in &platforms {
            match compare(
                &image.base_image,
                &base,
                released_image,
                &client.options().platform,
            ) {
                Ok(Verdict::Current(evidence)) => current.push(format!("{target}: {evidence}")),
                Ok(Verdict::Stale(evidence)) => stale.push(format!("{target}: {evidence}")),
                Err(error) => {
                    return LayerResult::Error {
                        error: format!("{target}: {error}"),
                    };
                }
            }
        }
    }
    match stale.is_empty() {
        true => LayerResult::UpToDate {
            evidence: current.join("; "),
        },
        false => LayerResult::Stale {
            evidence: stale.join("; "),
        },
    }
}

enum Verdict {
    Current(String),
    Stale(String),
}

/// One platform of a released image against the base.
fn compare(
    base_ref: &Reference,
    base: &[PlatformImage],
    released: &PlatformImage,
    default_platform: &Platform,
) -> Result<Verdict, String> {
    let platform = released
        .platform
        .as_ref()
        .map_or_else(|| "the image".to_string(), ToString::to_string);
    let base_image = matching_base(base, released, default_platform)
        .ok_or_else(|| format!("the base {base_ref} has no manifest for {platform}"))?;
    if let Some(recorded) = released.manifest.base_digest() {
        let current_digests: Vec<&Digest> = std::iter::once(&base_image.digest)
            .chain(base_image.index_digest.as_ref())
            .collect();
        return Ok(if current_digests.contains(&&recorded) {
            Verdict::Current(format!(
                "{platform} was built on {recorded}, the current {base_ref}"
            ))
        } else {
            Verdict::Stale(format!(
                "{platform} was built on {recorded}; {base_ref} is now {}",
                base_image
                    .index_digest
                    .as_ref()
                    .unwrap_or(&base_image.digest)
            ))
        });
    }
    let base_layers = base_image.manifest.layer_digests();
    let layers = released.manifest.layer_digests();
    Ok(if layers.starts_with(&base_layers) {
        Verdict::Current(format!(
            "{platform} has the {} layers of the current {base_ref}",
            base_layers.len()
        ))
    } else {
        Verdict::Stale(format!(
            "{platform} does not start with the {} layers of the current {base_ref} (its first differing layer is {})",
            base_layers.len(),
            first_difference(&base_layers, &layers)
        ))
    })
}

/// The base manifest for the released image's platform: the same platform of an index, or
/// the single image when the base has one; a single-platform released image (no platform
/// list) is compared with the client's platform of a multi-platform base.
fn matching_base<'a>(
    base: &'a [PlatformImage],
    released: &PlatformImage,
    default_platform: &Platform,
) -> Option<&'a PlatformImage> {
    if let [single] = base {
        return Some(single);
    }
    let wanted = released.platform.as_ref().unwrap_or(default_platform);
    base.iter()
        .find(|b| b.platform.as_ref().is_some_and(|p| p.serves(wanted)))
}

fn first_difference(base: &[&Digest], layers: &[&Digest]) -> String {
    layers
        .iter()
        .zip(base)
        .find(|(a, b)| a != b)
        .map(|(a, _)| a.to_string())
        .or_else(|| layers.get(base.len()).map(ToString::to_string))
        .unwrap_or_else(|| "missing: the image has fewer layers than its base".to_string())
}

/// The report lines for the job log.
pub fn report(results: &LayerCheckResults) -> String {
    let mut out = String::new();
    for (id, result) in &results.images {
        let line = match result {
            LayerResult::UpToDate { evidence } => format!("up to date  {id}: {evidence}"),
            LayerResult::Stale { evidence } => format!("STALE       {id}: {evidence}"),
            LayerResult::Error { error } => format!("ERROR       {id}: {error}"),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}
