//! The layer check (`gipgee layer-check`): is every released image still built on
//! the *current* digest of its configured base image? Manifests only, through gipgee's
//! registry client; target locations of one image that share a digest are checked once.
//!
//! Per platform of the released image: where the image carries the
//! `org.opencontainers.image.base.digest` annotation (buildah writes it), that digest must be
//! the base's current digest — the index digest or the matching platform's digest, which
//! name the same base. Otherwise the base's layers must be a prefix of the image's layers.
//! The annotation's `base.name` is never used: it may name a staging image.
//!
//! A problem with one location or platform never hides what the others showed: an image that
//! is stale somewhere is stale (and rebuilt), with the errors reported next to it.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::config::{Config, Image};
use crate::error::explain_registry_error as explain;
use crate::oci::{Digest, Manifest, Platform, Reference};
use crate::registry::{Client, FetchedManifest, PlatformImage, parallel_map};
use crate::results::{LayerCheckResults, Verdict};

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

/// What the checks of one image found, location by location and platform by platform.
#[derive(Default)]
struct Findings {
    current: Vec<String>,
    stale: Vec<String>,
    errors: Vec<String>,
}

impl Findings {
    fn into_verdict(self) -> Verdict {
        if !self.stale.is_empty() {
            Verdict::Stale {
                evidence: self.stale.join("; "),
                errors: self.errors,
            }
        } else if !self.errors.is_empty() {
            Verdict::Error {
                error: self.errors.join("; "),
            }
        } else {
            Verdict::UpToDate {
                evidence: self.current.join("; "),
            }
        }
    }
}

/// One image: every distinct released digest against the base's current manifests.
pub fn check_image(client: &Client, image: &Image) -> Verdict {
    let base = match client.manifest(&image.base_image) {
        Ok(top) => Base {
            client,
            reference: &image.base_image,
            top,
        },
        Err(err) => {
            return Verdict::Error {
                error: format!("base image: {}", explain(&err)),
            };
        }
    };
    let mut findings = Findings::default();
    let mut checked: BTreeSet<Digest> = BTreeSet::new();
    for (index, target) in image.target_locations.iter().enumerate() {
        // The first location is read whole (one GET gives its digest too); the others only
        // need a HEAD to see whether they hold an image already checked.
        if index > 0 {
            match client.digest(target) {
                Ok(digest) if !checked.insert(digest.clone()) => continue,
                Ok(_) => {}
                Err(err) => {
                    findings
                        .errors
                        .push(format!("released image: {}", explain(&err)));
                    continue;
                }
            }
        }
        let platforms = match client.images(target) {
            Ok(platforms) => platforms,
            Err(err) => {
                findings
                    .errors
                    .push(format!("released image: {}", explain(&err)));
                continue;
            }
        };
        if index == 0 {
            match client.digest(target) {
                Ok(digest) => {
                    checked.insert(digest);
                }
                Err(err) => findings
                    .errors
                    .push(format!("released image: {}", explain(&err))),
            }
        }
        if platforms.is_empty() {
            findings
                .errors
                .push(format!("{target}: the index has no runnable image"));
        }
        for released in &platforms {
            let platform = released
                .platform
                .as_ref()
                .map_or_else(|| "the image".to_string(), ToString::to_string);
            match base.compare(released, &client.config().platform) {
                Ok(Compared::Current(evidence)) => findings
                    .current
                    .push(format!("{target}: {platform} {evidence}")),
                Ok(Compared::Stale(evidence)) => findings
                    .stale
                    .push(format!("{target}: {platform} {evidence}")),
                Err(error) => findings
                    .errors
                    .push(format!("{target}: {platform}: {error}")),
            }
        }
    }
    findings.into_verdict()
}

/// How one platform of a released image compares with the base; a comparison that could not
/// be made is an `Err` beside it.
enum Compared {
    Current(String),
    Stale(String),
}

/// A list of layers the released image may start with, and the base platform it belongs to.
type Candidate = (Option<Platform>, Vec<Digest>);

/// The configured base as it is now: its top manifest (an index or one image), fetched once;
/// a platform's manifest only when the layer rule needs its layers.
struct Base<'a> {
    client: &'a Client,
    reference: &'a Reference,
    top: Arc<FetchedManifest>,
}

impl Base<'_> {
    /// One platform of a released image against the base: up to date or stale, or why it
    /// could not be compared.
    fn compare(
        &self,
        released: &PlatformImage,
        default_platform: &Platform,
    ) -> Result<Compared, String> {
        let base_ref = self.reference;
        if let Some(recorded) = released.manifest.base_digest() {
            let current = std::iter::once(&self.top.digest)
                .chain(
                    self.entries(released.platform.as_ref())
                        .into_iter()
                        .map(|(_, digest)| digest),
                )
                .any(|digest| *digest == recorded);
            return Ok(match current {
                true => {
                    Compared::Current(format!("was built on {recorded}, the current {base_ref}"))
                }
                false => Compared::Stale(format!(
                    "was built on {recorded}; {base_ref} is now {}",
                    self.top.digest
                )),
            });
        }
        let candidates = self.candidate_layers(released.platform.as_ref())?;
        let layers = released.manifest.layer_digests();
        if let Some((_, base_layers)) = candidates
            .iter()
            .find(|(_, base)| layers.starts_with(&base.iter().collect::<Vec<_>>()))
        {
            return Ok(Compared::Current(format!(
                "has the {} layers of the current {base_ref}",
                base_layers.len()
            )));
        }
        // Show the difference against the platform a single-platform image most likely has.
        let (label, base_layers) = candidates
            .iter()
            .find(|(platform, _)| {
                platform
                    .as_ref()
                    .is_some_and(|p| p.serves(default_platform))
            })
            .or_else(|| candidates.first())
            .ok_or_else(|| format!("the base {base_ref} has no layers to compare with"))?;
        let against = label
            .as_ref()
            .map(|p| format!(" ({p})"))
            .unwrap_or_default();
        Ok(Compared::Stale(format!(
            "does not start with the {} layers of the current {base_ref}{against} (its first differing layer is {})",
            base_layers.len(),
            first_difference(&base_layers.iter().collect::<Vec<_>>(), &layers)
        )))
    }

    /// The base's index entries for a platform (every runnable entry when the released image
    /// does not say its platform), with their digests; none for a single-image base.
    fn entries(&self, platform: Option<&Platform>) -> Vec<(Option<Platform>, &Digest)> {
        match &self.top.manifest {
            Manifest::Image(_) => Vec::new(),
            Manifest::Index(index) => index
                .images()
                .filter(|entry| match (platform, &entry.platform) {
                    (Some(wanted), Some(have)) => have.serves(wanted),
                    (Some(_), None) => false,
                    (None, _) => true,
                })
                .map(|entry| (entry.platform.clone(), &entry.digest))
                .collect(),
        }
    }

    /// The layer lists the released image may start with: the single base image's, or those
    /// of the index entries for its platform (all entries when its platform is unknown: a
    /// single-platform image names no platform without its config blob). Never empty.
    fn candidate_layers(&self, platform: Option<&Platform>) -> Result<Vec<Candidate>, String> {
        let candidates = match &self.top.manifest {
            Manifest::Image(image) => {
                vec![(None, image.layer_digests().into_iter().cloned().collect())]
            }
            Manifest::Index(_) => {
                let mut candidates = Vec::new();
                for (entry_platform, digest) in self.entries(platform) {
                    let fetched = self
                        .client
                        .manifest_by_digest(self.reference, digest)
                        .map_err(|e| explain(&e))?;
                    match &fetched.manifest {
                        Manifest::Image(image) => candidates.push((
                            entry_platform,
                            image.layer_digests().into_iter().cloned().collect(),
                        )),
                        Manifest::Index(_) => {
                            return Err(format!("the base's entry {digest} is itself an index"));
                        }
                    }
                }
                candidates
            }
        };
        if candidates.is_empty() {
            let platform = platform.map_or_else(|| "any platform".to_string(), ToString::to_string);
            return Err(format!(
                "the base {} has no manifest for {platform}",
                self.reference
            ));
        }
        if candidates
            .iter()
            .any(|(_, layers): &Candidate| layers.is_empty())
        {
            return Err(format!(
                "the base {} has no layers to compare with",
                self.reference
            ));
        }
        Ok(candidates)
    }
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
            Verdict::UpToDate { evidence } => format!("up to date  {id}: {evidence}"),
            Verdict::Stale { evidence, errors } if errors.is_empty() => {
                format!("STALE       {id}: {evidence}")
            }
            Verdict::Stale { evidence, errors } => {
                format!(
                    "STALE       {id}: {evidence} (and errors: {})",
                    errors.join("; ")
                )
            }
            Verdict::Error { error } => format!("ERROR       {id}: {error}"),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}
