//! The layer check (`gipgee layer-check`): is every released image still built on
//! the *current* digest of its configured base image? Manifests only, through gipgee's
//! registry client; target locations of one image that hold one manifest are compared once.
//!
//! Per platform of the released image: where the image carries the
//! `org.opencontainers.image.base.digest` annotation (buildah writes it), that digest must be
//! the base's current digest — the index digest or the matching platform's digest, which
//! name the same base. Otherwise the base's layers must be a prefix of the image's layers.
//! The annotation's `base.name` is never used: it may name a staging image.
//!
//! A problem with one location or platform never hides what the others showed: an image that
//! is stale somewhere is stale (and rebuilt), with the errors reported next to it.
//!
//! Work runs in two rounds on at most [`WORKERS`] threads: first every base and every target
//! location of every image is read (one `GET` each; the client fetches a reference once per
//! run), then each distinct released manifest is compared with its base. The client's
//! deadline ends both: what was not started by then gets an error saying so, and every image
//! gets a verdict. Every verdict is masked for credentials, since it quotes registry data.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::config::{Config, Image};
use crate::environment::settings::format_duration;
use crate::error::explain_registry_error as explain;
use crate::oci::{Digest, Manifest, Platform, Reference};
use crate::registry::{Client, FetchedManifest, PlatformImage, RegistryError, parallel_map};
use crate::results::{LayerCheckResults, Verdict};

/// How many reads or comparisons run at once, over all images and their locations.
pub const WORKERS: usize = 8;

/// Checks every image with `layerCheck: true`; a verdict for each, whatever happens.
pub fn check_all(config: &Config, client: &Client) -> LayerCheckResults {
    let images: Vec<&Image> = config
        .images
        .values()
        .filter(|image| image.layer_check)
        .collect();
    let verdicts = check_images(client, &images);
    LayerCheckResults {
        images: images
            .iter()
            .zip(verdicts)
            .map(|(image, verdict)| (image.id.clone(), mask(client, verdict)))
            .collect(),
    }
}

/// A read or a comparison that was not started because the deadline had passed.
type Started<T> = Option<T>;

/// A manifest read by tag (or digest), or why not.
type Read = Result<Arc<FetchedManifest>, RegistryError>;

/// What the first round read for one image: its base and each target location.
struct Reads {
    base: Started<Read>,
    locations: Vec<Started<Read>>,
}

fn check_images(client: &Client, images: &[&Image]) -> Vec<Verdict> {
    let reads = read_all(client, images);
    // The second round: each location whose manifest an earlier location of the same image
    // did not already hold, against a base that could be read.
    let mut comparisons: Vec<(usize, usize, Base)> = Vec::new();
    for (i, (image, read)) in images.iter().zip(&reads).enumerate() {
        let Some(Ok(top)) = &read.base else { continue };
        let base = Base {
            client,
            reference: &image.base_image,
            top: top.clone(),
        };
        if base.bounded().is_err() {
            continue;
        }
        for j in distinct_locations(read) {
            comparisons.push((i, j, base.clone()));
        }
    }
    let compared = parallel_map(&comparisons, WORKERS, |(i, j, base)| {
        (!client.deadline_reached())
            .then(|| compare_location(client, base, &images[*i].target_locations[*j]))
    });
    let mut findings: Vec<Vec<(usize, Started<Findings>)>> =
        images.iter().map(|_| Vec::new()).collect();
    for ((i, j, _), result) in comparisons.iter().zip(compared) {
        findings[*i].push((*j, result));
    }
    images
        .iter()
        .zip(reads)
        .zip(findings)
        .map(|((image, read), compared)| verdict(client, image, read, compared))
        .collect()
}

/// The first round: the base and the target locations of every image, one task each.
fn read_all(client: &Client, images: &[&Image]) -> Vec<Reads> {
    let tasks: Vec<(usize, Option<usize>)> = images
        .iter()
        .enumerate()
        .flat_map(|(i, image)| {
            std::iter::once((i, None))
                .chain((0..image.target_locations.len()).map(move |j| (i, Some(j))))
        })
        .collect();
    let results = parallel_map(&tasks, WORKERS, |(i, location)| {
        let image = images[*i];
        let reference = match location {
            None => &image.base_image,
            Some(j) => &image.target_locations[*j],
        };
        (!client.deadline_reached()).then(|| client.manifest(reference))
    });
    let mut reads: Vec<Reads> = images
        .iter()
        .map(|image| Reads {
            base: None,
            locations: image.target_locations.iter().map(|_| None).collect(),
        })
        .collect();
    for ((i, location), result) in tasks.into_iter().zip(results) {
        match location {
            None => reads[i].base = result,
            Some(j) => reads[i].locations[j] = result,
        }
    }
    reads
}

/// The locations that hold a manifest no earlier location of the image holds: the digest
/// of the `GET` decides (a `HEAD` may be answered from a stale cache).
fn distinct_locations(read: &Reads) -> Vec<usize> {
    let mut seen: BTreeSet<&Digest> = BTreeSet::new();
    read.locations
        .iter()
        .enumerate()
        .filter_map(|(j, location)| match location {
            Some(Ok(top)) => seen.insert(&top.digest).then_some(j),
            _ => None,
        })
        .collect()
}

/// One image's verdict from its reads and comparisons, in the order of its locations.
fn verdict(
    client: &Client,
    image: &Image,
    read: Reads,
    mut compared: Vec<(usize, Started<Findings>)>,
) -> Verdict {
    let unchecked = || Verdict::Error {
        error: format!(
            "deadline reached before this image was checked{}",
            deadline_hint(client)
        ),
    };
    let base = match read.base {
        None => return unchecked(),
        Some(Err(err)) => {
            return Verdict::Error {
                error: format!("base image: {}", explain(&err)),
            };
        }
        Some(Ok(top)) => Base {
            client,
            reference: &image.base_image,
            top,
        },
    };
    if let Err(err) = base.bounded() {
        return Verdict::Error {
            error: format!("base image: {}", explain(&err)),
        };
    }
    let nothing_started = read.locations.iter().all(Option::is_none)
        && compared.iter().all(|(_, findings)| findings.is_none());
    if nothing_started {
        return unchecked();
    }
    let mut findings = Findings::default();
    for (j, (target, location)) in image
        .target_locations
        .iter()
        .zip(&read.locations)
        .enumerate()
    {
        match location {
            None => findings.errors.push(format!(
                "{target}: deadline reached before it was checked{}",
                deadline_hint(client)
            )),
            Some(Err(err)) => findings
                .errors
                .push(format!("released image: {}", explain(err))),
            Some(Ok(_)) => {}
        }
        let Some(position) = compared.iter().position(|(k, _)| *k == j) else {
            continue; // holds what an earlier location held, or was not read
        };
        match compared.remove(position).1 {
            Some(found) => findings.extend(found),
            None => findings.errors.push(format!(
                "{target}: deadline reached before it was checked{}",
                deadline_hint(client)
            )),
        }
    }
    findings.into_verdict()
}

/// Where the deadline comes from, for the error of what it cut off.
fn deadline_hint(client: &Client) -> String {
    client
        .config()
        .time_limit
        .map(|limit| {
            format!(
                " (the layer check stops after {}: `--deadline` / `GIPGEE_LAYER_CHECK_DEADLINE`)",
                format_duration(limit)
            )
        })
        .unwrap_or_default()
}

/// Every text of a verdict masked for the credentials and tokens the client knows: platform
/// names, annotations and errors all come from registries.
fn mask(client: &Client, verdict: Verdict) -> Verdict {
    match verdict {
        Verdict::UpToDate { evidence } => Verdict::UpToDate {
            evidence: client.mask(&evidence),
        },
        Verdict::Stale { evidence, errors } => Verdict::Stale {
            evidence: client.mask(&evidence),
            errors: errors.iter().map(|e| client.mask(e)).collect(),
        },
        Verdict::Error { error } => Verdict::Error {
            error: client.mask(&error),
        },
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
    fn extend(&mut self, other: Findings) {
        self.current.extend(other.current);
        self.stale.extend(other.stale);
        self.errors.extend(other.errors);
    }

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

/// Every platform of the manifest at one target location against the base.
fn compare_location(client: &Client, base: &Base, target: &Reference) -> Findings {
    let mut findings = Findings::default();
    let platforms = match client.images(target) {
        Ok(platforms) => platforms,
        Err(err) => {
            findings
                .errors
                .push(format!("released image: {}", explain(&err)));
            return findings;
        }
    };
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
    findings
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
#[derive(Clone)]
struct Base<'a> {
    client: &'a Client,
    reference: &'a Reference,
    top: Arc<FetchedManifest>,
}

impl Base<'_> {
    /// An index base is read no further when it lists more images than the client reads
    /// from any index: each candidate could be a request.
    fn bounded(&self) -> Result<(), RegistryError> {
        match &self.top.manifest {
            Manifest::Image(_) => Ok(()),
            Manifest::Index(index) => self.client.check_index_size(self.reference, index),
        }
    }

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
