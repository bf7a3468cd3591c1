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
//! Every target location of every image is one task, at most [`WORKERS`] at a time: it reads
//! the base (the client reads a reference once per run, whoever asks first) and the location
//! (one `GET`: its digest decides whether an earlier location of the image already holds the
//! same manifest, in which case it is not compared again), then compares each platform. The
//! client's deadline ends the work: what was not started by then gets an error saying so,
//! and every image gets a verdict. Every verdict is masked for credentials, since it quotes
//! registry data.

use std::sync::Arc;

use crate::config::{Config, Image};
use crate::environment::settings::format_duration;
use crate::error::explain_registry_error as explain;
use crate::oci::{Digest, Manifest, Platform, Reference};
use crate::registry::{Client, FetchedManifest, PlatformImage, RegistryError, parallel_map};
use crate::results::{LayerCheckResults, Verdict};

/// How many target locations are checked at once, over all images.
pub const WORKERS: usize = 8;

/// Checks every image with `layerCheck: true`; a verdict for each, whatever happens.
pub fn check_all(config: &Config, client: &Client) -> LayerCheckResults {
    let images: Vec<&Image> = config
        .images
        .values()
        .filter(|image| image.layer_check)
        .collect();
    // Every repository read is known now: a registry with bearer tokens gets one token
    // request per many repositories, not one per repository.
    client.expect_repositories(
        images
            .iter()
            .flat_map(|image| std::iter::once(&image.base_image).chain(&image.target_locations)),
    );
    let verdicts = check_images(client, &images);
    LayerCheckResults {
        images: images
            .iter()
            .zip(verdicts)
            .map(|(image, verdict)| (image.id.clone(), mask(client, verdict)))
            .collect(),
    }
}

/// What the check of one target location came to.
enum Outcome {
    /// The base could not be read (or is an index too long to read): nothing to compare with.
    Base(RegistryError),
    /// An earlier location of the image holds the same manifest, compared there.
    Duplicate,
    Checked(Findings),
}

fn check_images(client: &Client, images: &[&Image]) -> Vec<Verdict> {
    let tasks: Vec<(usize, usize)> = images
        .iter()
        .enumerate()
        .flat_map(|(i, image)| (0..image.target_locations.len()).map(move |j| (i, j)))
        .collect();
    // `None`: not started, the deadline had passed.
    let outcomes = parallel_map(&tasks, WORKERS, |(i, j)| {
        (!client.deadline_reached()).then(|| check_location(client, images[*i], *j))
    });
    let mut by_image: Vec<Vec<Option<Outcome>>> = images.iter().map(|_| Vec::new()).collect();
    for ((i, _), outcome) in tasks.iter().zip(outcomes) {
        by_image[*i].push(outcome);
    }
    images
        .iter()
        .zip(by_image)
        .map(|(image, outcomes)| verdict(client, image, outcomes))
        .collect()
}

/// Target location `j` of `image` against the base.
fn check_location(client: &Client, image: &Image, j: usize) -> Outcome {
    let base = match client.manifest(&image.base_image) {
        Ok(top) => Base {
            client,
            reference: &image.base_image,
            top,
        },
        Err(err) => return Outcome::Base(err),
    };
    if let Err(err) = base.bounded() {
        return Outcome::Base(err);
    }
    let target = &image.target_locations[j];
    let top = match client.manifest(target) {
        Ok(top) => top,
        Err(err) => {
            return Outcome::Checked(Findings {
                errors: vec![format!("released image: {}", explain(&err))],
                ..Findings::default()
            });
        }
    };
    // The digests of the GETs, never of a HEAD, which a cache may answer with an older one.
    let held_before = image.target_locations[..j].iter().any(|earlier| {
        client
            .manifest(earlier)
            .is_ok_and(|e| e.digest == top.digest)
    });
    if held_before {
        return Outcome::Duplicate;
    }
    Outcome::Checked(compare_location(client, &base, target))
}

/// One image's verdict from the outcomes of its locations, in their order.
fn verdict(client: &Client, image: &Image, outcomes: Vec<Option<Outcome>>) -> Verdict {
    if !outcomes.is_empty() && outcomes.iter().all(Option::is_none) {
        return Verdict::Error {
            error: format!(
                "deadline reached before this image was checked{}",
                deadline_hint(client)
            ),
        };
    }
    let base_error = outcomes.iter().find_map(|outcome| match outcome {
        Some(Outcome::Base(err)) => Some(err),
        _ => None,
    });
    if let Some(err) = base_error {
        return Verdict::Error {
            error: format!("base image: {}", explain(err)),
        };
    }
    let mut findings = Findings::default();
    for (target, outcome) in image.target_locations.iter().zip(outcomes) {
        match outcome {
            None => findings.errors.push(format!(
                "{target}: deadline reached before it was checked{}",
                deadline_hint(client)
            )),
            Some(Outcome::Checked(found)) => findings.extend(found),
            Some(Outcome::Duplicate | Outcome::Base(_)) => {}
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

#[cfg(test)]
mod tests {
    //! The rounds, duplicates, bounds and masking against canned registries; the checks
    //! themselves against a real registry are in `tests/layer_check.rs`.

    use std::path::Path;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;
    use crate::config::{self, MissingVariables};
    use crate::registry::testserver::{
        Content, LAYER_A, LAYER_B, Recorded, Reply, ScopedTokens, Server, image_manifest,
        index_manifest,
    };
    use crate::registry::{
        Anonymous, ClientConfig, Credential, CredentialProblem, CredentialProvider,
        MAX_INDEX_IMAGES, RetryPolicy, Secret,
    };
    use crate::vars::Vars;

    fn config(host: &str, images: &str) -> Config {
        let text = format!(
            "version: 1\nregistries:\n  {host}: {{insecure: true}}\ndefaults: {{staging: {host}/staging}}\nimages:\n{}",
            images.replace("REG", host)
        );
        config::from_str(
            Path::new("gipgee.yaml"),
            &text,
            &Vars::default(),
            MissingVariables::Error,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn client_for(config: &Config, credentials: Arc<dyn CredentialProvider>) -> Client {
        let mut options = ClientConfig {
            insecure_hosts: config.registries.keys().cloned().collect(),
            ..ClientConfig::default()
        };
        options.transport.retry = RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        };
        Client::new(options, credentials).unwrap()
    }

    /// The verdict of `app` with the anonymous client.
    fn check_app(host: &str, images: &str) -> (Verdict, Client) {
        let config = config(host, images);
        let client = client_for(&config, Arc::new(Anonymous));
        let verdict = check_all(&config, &client).images["app"].clone();
        (verdict, client)
    }

    fn methods_and_targets(requests: &[Recorded]) -> Vec<String> {
        requests
            .iter()
            .map(|r| format!("{} {}", r.method, r.target))
            .collect()
    }

    /// `base:1` of one layer, and `app:1` built on it.
    fn current_app() -> Content {
        Content::default()
            .tag("base:1", &image_manifest(&[LAYER_A]))
            .tag("app:1", &image_manifest(&[LAYER_A, LAYER_B]))
    }

    const TWO_LOCATIONS: &str =
        "  app: {baseImage: REG/base:1, targetLocations: [REG/app:1, REG/mirror:1]}\n";

    #[test]
    fn the_get_decides_when_head_and_get_disagree() {
        // The mirror's tag holds an image on an old base, but its HEAD (say, from a stale
        // cache) names the current image of the first location.
        let current = image_manifest(&[LAYER_A, LAYER_B]);
        let content = current_app().tag("mirror:1", &image_manifest(&[LAYER_B, LAYER_A]));
        let head_digest = Digest::sha256(current.as_bytes()).to_string();
        let server = Server::start(move |r| {
            let reply = content.reply(r);
            if r.method == "HEAD" && r.target.starts_with("/v2/mirror/") {
                return Reply {
                    headers: vec![("Docker-Content-Digest".into(), head_digest.clone())],
                    ..reply
                };
            }
            reply
        });
        let (verdict, _) = check_app(&server.host(), TWO_LOCATIONS);
        let Verdict::Stale { evidence, errors } = &verdict else {
            panic!("stale expected: {verdict:?}");
        };
        assert!(
            evidence.contains("/mirror:1: the image does not start"),
            "{evidence}"
        );
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn locations_holding_one_manifest_are_compared_once() {
        let content = current_app().tag("mirror:1", &image_manifest(&[LAYER_A, LAYER_B]));
        let server = Server::start(move |r| content.reply(r));
        let (verdict, client) = check_app(&server.host(), TWO_LOCATIONS);
        let Verdict::UpToDate { evidence } = &verdict else {
            panic!("up to date expected: {verdict:?}");
        };
        assert_eq!(
            evidence.matches("has the 1 layers").count(),
            1,
            "{evidence}"
        );
        assert!(evidence.contains("/app:1: the image"), "{evidence}");
        // One GET per reference, nothing else.
        let mut requests = methods_and_targets(&server.requests());
        requests.sort();
        assert_eq!(
            requests,
            vec![
                "GET /v2/app/manifests/1",
                "GET /v2/base/manifests/1",
                "GET /v2/mirror/manifests/1"
            ]
        );
        assert_eq!(client.stats().requests, 3);
    }

    #[test]
    fn the_locations_of_an_image_are_read_in_parallel() {
        let content = current_app()
            .tag("mirror:1", &image_manifest(&[LAYER_A, LAYER_B]))
            .tag("mirror:2", &image_manifest(&[LAYER_A, LAYER_B]))
            .tag("mirror:3", &image_manifest(&[LAYER_A, LAYER_B]));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(Mutex::new(0));
        let server = {
            let (in_flight, most) = (in_flight.clone(), most.clone());
            Server::start(move |r| {
                if r.target.starts_with("/v2/base/") {
                    return content.reply(r);
                }
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                {
                    let mut most = most.lock().unwrap();
                    *most = (*most).max(now);
                }
                std::thread::sleep(Duration::from_millis(300));
                in_flight.fetch_sub(1, Ordering::SeqCst);
                content.reply(r)
            })
        };
        let (verdict, _) = check_app(
            &server.host(),
            "  app: {baseImage: REG/base:1, targetLocations: [REG/app:1, REG/mirror:1, REG/mirror:2, REG/mirror:3]}\n",
        );
        assert!(matches!(verdict, Verdict::UpToDate { .. }), "{verdict:?}");
        assert_eq!(*most.lock().unwrap(), 4, "all four locations at once");
    }

    #[test]
    fn a_base_index_is_bounded_like_a_released_one() {
        // An index of 65 platforms, none of which would be found: each read would be one
        // request.
        let digests: Vec<String> = (0..=MAX_INDEX_IMAGES)
            .map(|n| format!("sha256:{n:064x}"))
            .collect();
        let entries: Vec<(&str, &str, bool)> = digests
            .iter()
            .map(|d| (d.as_str(), "linux/amd64", false))
            .collect();
        let content = Content::default()
            .tag("base:1", &index_manifest(&entries))
            .tag("app:1", &image_manifest(&[LAYER_A, LAYER_B]));
        let server = Server::start(move |r| content.reply(r));
        let host = server.host();
        let (verdict, client) = check_app(
            &host,
            "  app: {baseImage: REG/base:1, targetLocations: [REG/app:1]}\n",
        );
        assert_eq!(
            verdict,
            Verdict::Error {
                error: format!(
                    "base image: registry `{host}`: cannot read `{host}/base:1`: invalid manifest: the index lists 65 images (attestations not counted), more than the 64 gipgee reads"
                )
            }
        );
        // The base only: with nothing to compare with, the released image is not read.
        assert_eq!(client.stats().requests, 1, "{:?}", server.requests());
    }

    #[test]
    fn a_bearer_registry_gets_one_token_request_per_fifty_repositories() {
        // 60 images in their own repositories on one base: 61 repositories.
        let tokens = ScopedTokens::start(usize::MAX, None);
        let mut content = Content::default().tag("base:1", &image_manifest(&[LAYER_A]));
        let mut images = String::new();
        for n in 0..60 {
            content = content.tag(
                &format!("app{n:02}:1"),
                &image_manifest(&[LAYER_A, LAYER_B]),
            );
            images.push_str(&format!(
                "  app{n:02}: {{baseImage: REG/base:1, targetLocations: [REG/app{n:02}:1]}}\n"
            ));
        }
        let registry = tokens.registry(content, &[]);
        let config = config(&registry.host(), &images);
        let client = client_for(&config, Arc::new(Anonymous));
        let results = check_all(&config, &client);
        assert!(
            results
                .images
                .values()
                .all(|v| matches!(v, Verdict::UpToDate { .. })),
            "{results:?}"
        );
        // Without announcing the repositories: 61 token requests. With: two (50 + 11
        // repositories), one GET per repository and the first, anonymous request.
        let stats = client.stats();
        assert_eq!(stats.token_requests, 2, "{stats:?}");
        assert_eq!(stats.requests, 2 + 61 + 1, "{stats:?}");
    }

    /// `alice` with one password for every host.
    #[derive(Debug)]
    struct Alice(&'static str);

    impl CredentialProvider for Alice {
        fn credential(&self, _: &str) -> Result<Option<Credential>, CredentialProblem> {
            Ok(self.known_credentials().pop())
        }

        fn known_credentials(&self) -> Vec<Credential> {
            vec![Credential {
                username: "alice".into(),
                password: Secret::new(self.0.into()),
                source: "the test".into(),
            }]
        }
    }

    #[test]
    fn registry_text_in_a_verdict_is_masked() {
        // A released index whose platform name carries the password.
        let (content, image) = current_app().blob(&image_manifest(&[LAYER_A, LAYER_B]));
        let index = index_manifest(&[(image.as_str(), "linux/amd64-hunter2pw", false)]);
        let content = content.tag("multi:1", &index);
        let server = Server::start(move |r| content.reply(r));
        let config = config(
            &server.host(),
            "  app: {baseImage: REG/base:1, targetLocations: [REG/multi:1]}\n",
        );
        let client = client_for(&config, Arc::new(Alice("hunter2pw")));
        let results = check_all(&config, &client);
        let json = serde_json::to_string(&results).unwrap();
        assert!(!json.contains("hunter2pw"), "{json}");
        assert!(
            json.contains("linux/amd64-[MASKED] has the 1 layers"),
            "{json}"
        );
    }

    #[test]
    fn every_image_gets_a_verdict_when_the_deadline_hits() {
        let hung = Server::start(|_| {
            std::thread::sleep(Duration::from_secs(5));
            Reply::new(200)
        });
        let content = current_app();
        let good = Server::start(move |r| content.reply(r));
        let mut images =
            String::from("  app: {baseImage: GOOD/base:1, targetLocations: [GOOD/app:1]}\n");
        for n in 0..12 {
            images.push_str(&format!(
                "  hung{n:02}: {{baseImage: REG/base:1, targetLocations: [REG/hung:{n}]}}\n"
            ));
        }
        let images = images.replace("GOOD", &good.host());
        let mut config = config(&hung.host(), &images);
        config.registries.insert(good.host(), Default::default());
        let mut options = ClientConfig {
            insecure_hosts: [hung.host(), good.host()].into(),
            time_limit: Some(Duration::from_millis(700)),
            ..ClientConfig::default()
        };
        options.transport.request_timeout = Duration::from_secs(30);
        let client = Client::new(options, Arc::new(Anonymous)).unwrap();
        let start = std::time::Instant::now();
        let results = check_all(&config, &client);
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(results.images.len(), 13);
        assert!(
            matches!(results.images["app"], Verdict::UpToDate { .. }),
            "{:?}",
            results.images["app"]
        );
        let unchecked = Verdict::Error {
            error: "deadline reached before this image was checked (the layer check stops after 700ms: `--deadline` / `GIPGEE_LAYER_CHECK_DEADLINE`)".into(),
        };
        let mut never_started = 0;
        for (id, verdict) in results.images.iter().filter(|(id, _)| *id != "app") {
            let Verdict::Error { error } = verdict else {
                panic!("{id}: {verdict:?}");
            };
            assert!(error.contains("deadline"), "{id}: {error}");
            never_started += usize::from(*verdict == unchecked);
        }
        // 8 workers: the first reads hang until the deadline, the rest never start.
        assert!(never_started >= 4, "{results:?}");
    }
}
