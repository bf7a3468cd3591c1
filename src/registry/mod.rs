//! A registry client that reads manifests (never blobs) over the distribution HTTP API.
//!
//! It knows the OCI model ([`crate::oci`]) and HTTP, nothing of the application using it:
//! settings come as plain data ([`ClientConfig`]), credentials from a [`CredentialProvider`]
//! asked by registry host, and errors ([`RegistryError`]) say what happened at the registry,
//! leaving hints about the application's configuration to the application.
//!
//! The [`Client`] owns the per-run state: which auth scheme each registry asked for, bearer
//! tokens per registry and scope, and once-per-run caches (a reference is resolved once, a
//! manifest digest fetched once per repository). It is `Sync`: share one client across the
//! threads of [`parallel_map`].
//!
//! Tokens: a caller that knows which references it will read says so up front
//! ([`Client::expect_repositories`]); a token is then asked for up to
//! [`MAX_SCOPES_PER_TOKEN`] of those repositories at once, as the distribution token protocol
//! allows (several `scope` parameters), with a fallback to one scope per token where a token
//! server grants fewer. The first request to a host goes alone, so parallel readers learn its
//! scheme from one `401`, not one each.
//!
//! Requests: when only a digest is needed, a `HEAD` (which does not count against Docker
//! Hub's pull limit); when the content is needed and the digest is not yet known, one `GET`
//! by tag, which gives both (a `HEAD` first would add a request and save no pull); by digest
//! once the digest is known, so a manifest shared by several tags is fetched once. Every
//! body is verified against its digest and `Docker-Content-Digest`. Every manifest request
//! carries one `Accept` header listing all supported kinds.
//!
//! # Credential policy
//! A registry's credentials go to exactly two places:
//! - the registry's own API origin (scheme, host, port), as Basic auth when it asks for Basic;
//! - the token realm named in a `Bearer` challenge that this registry origin itself sent
//!   (not one reached through a redirect), when the realm is https — or plain http and the
//!   registry is one of [`ClientConfig::insecure_hosts`]. Docker Hub (auth.docker.io) and
//!   GitLab (`/jwt/auth` on the GitLab host) keep their token servers on other hosts; the
//!   challenge asking for them is what makes sending credentials there right. A plain-http
//!   realm of an https registry gets an anonymous token request; if that is not enough, the
//!   error says the credentials were withheld ([`auth::realm_may_receive_credentials`]).
//!
//! Plain http is used only for the configured insecure hosts (loopback included: nothing is
//! insecure by default).
//!
//! A redirect to another origin (blob storage, a CDN) gets no `Authorization` header at all,
//! neither credentials nor token; a redirect from https to http is refused; a 401 from
//! another origin is an error, never a challenge. Token requests never follow redirects.
//! Errors quote URLs without query, fragment or user info (a presigned storage URL carries
//! its signature in the query), and `Debug` output of the client shows no credential or
//! token.
//!
//! Registry-controlled data is bounded: manifest size ([`ClientConfig::max_manifest_bytes`]),
//! images read from one index ([`MAX_INDEX_IMAGES`], for any index a caller reads: check
//! with [`Client::check_index_size`]), token lifetime ([`auth::MAX_TOKEN_LIFETIME`]),
//! retries and redirect hops. So is time: a deadline for the client's whole run
//! ([`ClientConfig::time_limit`]), and a host that timed out or refused connections is not
//! asked again in the run (see [`transport`]). Text a registry sends is masked for every
//! credential the provider knows and every token obtained ([`mask`]) before it goes into an
//! error.
//!
//! Layers: [`auth`] (challenges, credentials, tokens), [`transport`] (HTTP, TLS, retries,
//! deadline, breaker), [`mask`] (credentials out of registry text), [`error`] (errors
//! callers can match).

pub mod auth;
mod cache;
pub mod error;
pub mod mask;
pub mod transport;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::oci::{DEFAULT_TAG, Reference, canonical_host};

pub use crate::oci::{Descriptor, Digest, ImageManifest, Index, Manifest, Platform};
pub use auth::{Anonymous, Credential, CredentialProblem, CredentialProvider, Secret};
pub use error::{ConfigError, ErrorKind, RegistryError};
pub use transport::{RetryPolicy, TransportOptions};

use auth::{Scheme, Schemes, Token, TokenCache, TokenKey};
use cache::OnceMap;
use mask::Masker;
use transport::{Method, Response, Transport, TransportError};

/// The one `Accept` header of every manifest request: every kind the client understands
/// ([`crate::oci::manifest::MEDIA_TYPES`]), so a registry never converts (and re-digests)
/// what it stores.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// Largest manifest read by default (the limit containerd and regclient use): a registry, or
/// something in front of it, cannot make the client buffer an arbitrary body.
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

/// The most images [`Client::images`] reads from one index (attestations not counted). Real
/// multi-platform images list a handful; a 4 MiB index could list some 20 000, each one a
/// request.
pub const MAX_INDEX_IMAGES: usize = 64;

/// Settings of a [`Client`], plain data. `Default`: linux/amd64, https everywhere, the
/// system's trust roots only; tests shorten the delays.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// The platform picked from an index (default `linux/amd64`).
    pub platform: Platform,
    pub transport: TransportOptions,
    /// Largest manifest body read (default [`MAX_MANIFEST_BYTES`]).
    pub max_manifest_bytes: u64,
    /// Redirect hops followed per request.
    pub max_redirects: u32,
    /// Registry hosts spoken to over plain http (`host[:port]`, compared after
    /// [`canonical_host`]); every other host over https.
    pub insecure_hosts: BTreeSet<String>,
    /// PEM certificates trusted besides the system's, as (label, PEM bytes). The label is
    /// what an error about the PEM names, e.g. "`CA_FILE` (/path/ca.pem)".
    pub extra_ca_certificates: Vec<(String, Vec<u8>)>,
    /// How long the client may work in all, counted from [`Client::new`] (`None`: no
    /// limit). Past it no request is sent, a running one is cut off, and reads fail with
    /// [`ErrorKind::DeadlineReached`].
    pub time_limit: Option<Duration>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            platform: Platform::default(),
            transport: TransportOptions::default(),
            max_manifest_bytes: MAX_MANIFEST_BYTES,
            max_redirects: 5,
            insecure_hosts: BTreeSet::new(),
            extra_ca_certificates: Vec::new(),
            time_limit: None,
        }
    }
}

/// The certificates by label and size: PEM is public, but a wall of base64 helps nobody.
impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let certificates: Vec<String> = self
            .extra_ca_certificates
            .iter()
            .map(|(label, pem)| format!("{label} ({} bytes)", pem.len()))
            .collect();
        f.debug_struct("ClientConfig")
            .field("platform", &self.platform)
            .field("transport", &self.transport)
            .field("max_manifest_bytes", &self.max_manifest_bytes)
            .field("max_redirects", &self.max_redirects)
            .field("insecure_hosts", &self.insecure_hosts)
            .field("extra_ca_certificates", &certificates)
            .field("time_limit", &self.time_limit)
            .finish()
    }
}

/// A manifest as fetched: its digest (verified), media type and parsed content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedManifest {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    pub manifest: Manifest,
}

/// One platform's image manifest, resolved from a reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformImage {
    /// The reference as asked.
    pub reference: Reference,
    /// The digest of the image manifest itself.
    pub digest: Digest,
    /// The digest of the index it was picked from, when the reference names an index. An
    /// index digest and the image digest inside it name the same image.
    pub index_digest: Option<Digest>,
    /// The platform from the index entry (`None` for a single-platform reference: reading
    /// it would need the config blob).
    pub platform: Option<Platform>,
    pub manifest: ImageManifest,
}

/// Counters, for tests and the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// HTTP requests sent, retries and token requests included.
    pub requests: u64,
    /// Token requests among them.
    pub token_requests: u64,
}

/// The registry client. See the module docs for the request and credential policy.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    /// [`ClientConfig::insecure_hosts`], spelled by [`canonical_host`].
    insecure_hosts: BTreeSet<String>,
    transport: Transport,
    credentials: Arc<dyn CredentialProvider>,
    /// Every credential the provider knows and every token obtained, masked in registry
    /// text.
    masker: Masker,
    schemes: Schemes,
    tokens: TokenCache,
    token_requests: AtomicU64,
    /// Normalised reference → digest (from `HEAD`, or the reference's own digest).
    digests: OnceMap<String, Result<Option<Digest>, RegistryError>>,
    /// (registry/repository, digest) → manifest.
    by_digest: OnceMap<(String, Digest), Result<Arc<FetchedManifest>, RegistryError>>,
    /// Normalised reference → manifest, for registries that send no digest on `HEAD`.
    by_tag: OnceMap<String, Result<Arc<FetchedManifest>, RegistryError>>,
    /// Registry host → the repositories the caller will read there
    /// ([`Client::expect_repositories`]), whose tokens are asked for together.
    expected: std::sync::Mutex<HashMap<String, BTreeSet<String>>>,
    /// Hosts (spelled by [`canonical_host`]) whose first request has been answered.
    contacted: OnceMap<String, ()>,
}

impl Client {
    /// A client with these settings, asking `credentials` when a registry wants some. Fails
    /// only on extra CA certificates that hold no certificate.
    pub fn new(
        config: ClientConfig,
        credentials: Arc<dyn CredentialProvider>,
    ) -> Result<Client, ConfigError> {
        let roots = transport::root_certificates(&config.extra_ca_certificates)?;
        // A limit too far out for the clock is no limit.
        let deadline = config
            .time_limit
            .and_then(|limit| Instant::now().checked_add(limit));
        Ok(Client {
            transport: Transport::new(&config.transport, roots, deadline),
            masker: Masker::new(&credentials.known_credentials()),
            insecure_hosts: config
                .insecure_hosts
                .iter()
                .map(|host| canonical_host(host))
                .collect(),
            config,
            credentials,
            schemes: Schemes::default(),
            tokens: TokenCache::default(),
            token_requests: AtomicU64::new(0),
            digests: OnceMap::default(),
            by_digest: OnceMap::default(),
            by_tag: OnceMap::default(),
            expected: std::sync::Mutex::default(),
            contacted: OnceMap::default(),
        })
    }

    /// Tells the client which references it is about to read, so that a registry using
    /// bearer tokens is asked for one token covering many of their repositories (up to
    /// [`MAX_SCOPES_PER_TOKEN`] per token request) instead of one token per repository.
    /// Nothing is requested here: tokens are asked for when the first read needs one. Only
    /// an optimisation: references not announced are read as well.
    pub fn expect_repositories<'a>(&self, references: impl IntoIterator<Item = &'a Reference>) {
        let mut expected = self.expected.lock().unwrap_or_else(|e| e.into_inner());
        for reference in references {
            expected
                .entry(reference.registry().to_string())
                .or_default()
                .insert(reference.repository().to_string());
        }
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Whether the deadline ([`ClientConfig::time_limit`]) has passed: callers stop
    /// starting work, every read would fail with [`ErrorKind::DeadlineReached`].
    pub fn deadline_reached(&self) -> bool {
        self.transport.deadline_reached()
    }

    /// `text` with every known credential and token masked: for text a caller takes from a
    /// registry's answers itself (a platform name, an annotation) before it reaches a log or
    /// a file. The client's own errors are masked already.
    pub fn mask(&self, text: &str) -> String {
        self.masker.mask(text)
    }

    /// An index `reference` named, refused when it lists more than [`MAX_INDEX_IMAGES`]
    /// images (attestations not counted): each would be a request. Callers reading index
    /// entries themselves check this before the first.
    pub fn check_index_size(
        &self,
        reference: &Reference,
        index: &Index,
    ) -> Result<(), RegistryError> {
        let count = index.images().count();
        if count > MAX_INDEX_IMAGES {
            return Err(self.error(
                reference,
                ErrorKind::InvalidManifest(format!(
                    "the index lists {count} images (attestations not counted), more than the {MAX_INDEX_IMAGES} gipgee reads"
                )),
            ));
        }
        Ok(())
    }

    pub fn stats(&self) -> Stats {
        Stats {
            requests: self.transport.requests(),
            token_requests: self.token_requests.load(Ordering::Relaxed),
        }
    }

    /// The current digest of `reference`: its own digest if it has one (no request), else
    /// from a `HEAD` (cached per run). A registry that sends no `Docker-Content-Digest` on
    /// `HEAD` costs a `GET` instead.
    pub fn digest(&self, reference: &Reference) -> Result<Digest, RegistryError> {
        match self.head_digest(reference)? {
            Some(digest) => Ok(digest),
            None => Ok(self.manifest(reference)?.digest.clone()),
        }
    }

    /// The manifest `reference` names (an index or an image), verified against its digest.
    ///
    /// When the digest is known (the reference has one, or a `HEAD` found it) the manifest is
    /// fetched by digest, so a digest shared by several tags is fetched once. Otherwise one
    /// `GET` by tag gives content and digest together: a `HEAD` first would cost a request
    /// and save no pull (on Docker Hub the `GET` counts either way).
    pub fn manifest(&self, reference: &Reference) -> Result<Arc<FetchedManifest>, RegistryError> {
        let key = reference.to_string();
        let known = reference.digest().is_some() || self.digests.get(&key).is_some();
        if known && let Some(digest) = self.head_digest(reference)? {
            return self.manifest_by_digest(reference, &digest);
        }
        let fetched = self
            .by_tag
            .get_or_compute(key.clone(), || self.get_by_tag(reference))?;
        self.digests
            .set_if_absent(key, Ok(Some(fetched.digest.clone())));
        self.by_digest.set_if_absent(
            (reference.name(), fetched.digest.clone()),
            Ok(fetched.clone()),
        );
        Ok(fetched)
    }

    /// The manifest with `digest` in `reference`'s repository (its tag is ignored).
    pub fn manifest_by_digest(
        &self,
        reference: &Reference,
        digest: &Digest,
    ) -> Result<Arc<FetchedManifest>, RegistryError> {
        self.by_digest
            .get_or_compute((reference.name(), digest.clone()), || {
                self.get_manifest(reference, digest.as_str(), Some(digest))
                    .map(Arc::new)
            })
    }

    /// The image for the configured platform (see [`Client::image_for`]).
    pub fn image(&self, reference: &Reference) -> Result<PlatformImage, RegistryError> {
        self.image_for(reference, &self.config.platform)
    }

    /// The image manifest for `platform`: the reference's manifest itself when it is a
    /// single image (whatever its platform: that needs the config blob, and a single-platform
    /// image is what it is), else the index entry for the platform, attestations skipped.
    pub fn image_for(
        &self,
        reference: &Reference,
        platform: &Platform,
    ) -> Result<PlatformImage, RegistryError> {
        let top = self.manifest(reference)?;
        match &top.manifest {
            Manifest::Image(image) => Ok(PlatformImage {
                reference: reference.clone(),
                digest: top.digest.clone(),
                index_digest: None,
                platform: None,
                manifest: image.clone(),
            }),
            Manifest::Index(index) => {
                let entry = index.select(platform).ok_or_else(|| {
                    self.error(
                        reference,
                        ErrorKind::NoMatchingPlatform {
                            wanted: platform.to_string(),
                            available: distinct_platforms(index),
                        },
                    )
                })?;
                self.index_entry(reference, &top.digest, entry)
            }
        }
    }

    /// Every runnable image of `reference`: one for a single image, one per index entry
    /// (attestations skipped) for an index, in index order. An index listing more than
    /// [`MAX_INDEX_IMAGES`] images is an error, before any of them is fetched.
    pub fn images(&self, reference: &Reference) -> Result<Vec<PlatformImage>, RegistryError> {
        let top = self.manifest(reference)?;
        match &top.manifest {
            Manifest::Image(_) => Ok(vec![self.image(reference)?]),
            Manifest::Index(index) => {
                self.check_index_size(reference, index)?;
                index
                    .images()
                    .map(|entry| self.index_entry(reference, &top.digest, entry))
                    .collect()
            }
        }
    }

    fn index_entry(
        &self,
        reference: &Reference,
        index_digest: &Digest,
        entry: &Descriptor,
    ) -> Result<PlatformImage, RegistryError> {
        let fetched = self.manifest_by_digest(reference, &entry.digest)?;
        let Manifest::Image(image) = &fetched.manifest else {
            return Err(self.error(
                reference,
                ErrorKind::InvalidManifest(format!(
                    "index entry {} is itself an index",
                    entry.digest
                )),
            ));
        };
        Ok(PlatformImage {
            reference: reference.clone(),
            digest: fetched.digest.clone(),
            index_digest: Some(index_digest.clone()),
            platform: entry.platform.clone(),
            manifest: image.clone(),
        })
    }

    fn head_digest(&self, reference: &Reference) -> Result<Option<Digest>, RegistryError> {
        if let Some(digest) = reference.digest() {
            return Ok(Some(digest.clone()));
        }
        self.digests.get_or_compute(reference.to_string(), || {
            let tag = reference.tag().unwrap_or(DEFAULT_TAG);
            let response = self.request(reference, Method::Head, tag)?;
            match response.header("docker-content-digest") {
                Some(value) => Digest::parse(value.trim()).map(Some).map_err(|e| {
                    self.error(
                        reference,
                        ErrorKind::InvalidManifest(format!("Docker-Content-Digest: {e}")),
                    )
                }),
                None => Ok(None),
            }
        })
    }

    fn get_by_tag(&self, reference: &Reference) -> Result<Arc<FetchedManifest>, RegistryError> {
        let tag = reference.tag().unwrap_or(DEFAULT_TAG);
        let fetched = self.get_manifest(reference, tag, None)?;
        Ok(Arc::new(fetched))
    }

    /// `GET` a manifest by tag or digest and check it: the body must hash to the digest asked
    /// for, and to the `Docker-Content-Digest` the registry announces.
    fn get_manifest(
        &self,
        reference: &Reference,
        tag_or_digest: &str,
        expected: Option<&Digest>,
    ) -> Result<FetchedManifest, RegistryError> {
        let response = self.request(reference, Method::Get, tag_or_digest)?;
        let announced = match response.header("docker-content-digest") {
            Some(value) => Some(Digest::parse(value.trim()).map_err(|e| {
                self.error(
                    reference,
                    ErrorKind::InvalidManifest(format!("Docker-Content-Digest: {e}")),
                )
            })?),
            None => None,
        };
        let actual = Digest::sha256(&response.body);
        for wanted in [expected, announced.as_ref()].into_iter().flatten() {
            match wanted.verify(&response.body) {
                Ok(()) => {}
                Err(_) => {
                    return Err(self.error(
                        reference,
                        ErrorKind::DigestMismatch {
                            expected: wanted.to_string(),
                            actual: actual.to_string(),
                        },
                    ));
                }
            }
        }
        let manifest = Manifest::parse(&response.body, response.header("content-type"))
            .map_err(|e| self.error(reference, ErrorKind::InvalidManifest(e)))?;
        let media_type = match &manifest {
            Manifest::Image(m) => m.media_type.clone(),
            Manifest::Index(i) => i.media_type.clone(),
        }
        .or_else(|| response.header("content-type").map(str::to_string))
        .unwrap_or_default();
        Ok(FetchedManifest {
            digest: expected.cloned().or(announced).unwrap_or(actual),
            media_type,
            size: response.body.len() as u64,
            manifest,
        })
    }

    /// One authenticated manifest request ([`Client::authenticated_request`]). The first
    /// request to a host goes alone, the others to that host wait for it: it learns the
    /// scheme the host wants (so parallel readers do not each collect a 401 first) and
    /// whether the host answers at all.
    fn request(
        &self,
        reference: &Reference,
        method: Method,
        tag_or_digest: &str,
    ) -> Result<Response, RegistryError> {
        let mut first = None;
        self.contacted
            .get_or_compute(canonical_host(reference.registry()), || {
                first = Some(self.authenticated_request(reference, method, tag_or_digest));
            });
        match first {
            Some(response) => response,
            None => self.authenticated_request(reference, method, tag_or_digest),
        }
    }

    /// One authenticated manifest request: sends what the registry is known to want, learns
    /// the scheme from a 401 and tries again, and maps failure statuses to errors.
    fn authenticated_request(
        &self,
        reference: &Reference,
        method: Method,
        tag_or_digest: &str,
    ) -> Result<Response, RegistryError> {
        let host = reference.registry();
        let scheme = if self.insecure(host) { "http" } else { "https" };
        let url = format!(
            "{scheme}://{}/v2/{}/manifests/{tag_or_digest}",
            reference.api_host(),
            reference.repository()
        );
        let mut scope = format!("repository:{}:pull", reference.repository());
        let mut last = Authorization::default();
        // At most: anonymous → learn the scheme → authenticate → replace a stale token.
        for _ in 0..AUTH_ROUNDS {
            let auth = self.authorization(reference, &scope)?;
            let (response, from_registry) =
                self.send_following_redirects(reference, method, &url, auth.header.as_deref())?;
            if response.status != 401 || !from_registry {
                if auth.alone
                    && let Some(key) = self.token_key_of(host, &auth)
                {
                    // Refused in a batched token, accepted alone: this token server grants
                    // one scope per token.
                    self.tokens.stop_batching(&key);
                    self.tokens.forget_batched(&key);
                }
                return self.check_status(reference, response, &auth);
            }
            let challenges: Vec<auth::Challenge> = response
                .all_headers("www-authenticate")
                .flat_map(auth::parse_challenges)
                .collect();
            let Some(wanted) = Scheme::from_challenges(&challenges) else {
                return Err(self.unauthorized(reference, &auth));
            };
            if let Some(challenge_scope) = challenges
                .iter()
                .find(|c| c.scheme == "bearer")
                .and_then(|c| c.param("scope"))
                .filter(|s| !s.is_empty())
            {
                scope = challenge_scope.to_string();
            }
            let known = self.schemes.get(host);
            self.schemes.set(host, wanted.clone());
            if known.as_ref() == Some(&wanted) {
                if auth.batched
                    && let Some(key) = self.token_key_of(host, &auth)
                {
                    // A token asked for several scopes may not grant them all: ask for this
                    // one alone, once.
                    self.tokens.ask_alone(&key);
                    *self
                        .tokens
                        .slot(&key)
                        .lock()
                        .unwrap_or_else(|e| e.into_inner()) = None;
                    last = auth;
                    continue;
                }
                if auth.fresh {
                    // Just-obtained credentials or token, still refused.
                    let insufficient = challenges
                        .iter()
                        .any(|c| c.param("error") == Some("insufficient_scope"));
                    return Err(match (&auth.source, insufficient) {
                        (Some(source), true) => self.error(
                            reference,
                            ErrorKind::Denied {
                                source: Some(source.to_string()),
                            },
                        ),
                        _ => self.unauthorized(reference, &auth),
                    });
                }
                // A cached token the registry no longer accepts: drop it and fetch anew.
                if let (Scheme::Bearer { realm, service }, Some(key_scope)) =
                    (&wanted, &auth.token_scope)
                {
                    let key = token_key(host, realm, service, key_scope);
                    *self
                        .tokens
                        .slot(&key)
                        .lock()
                        .unwrap_or_else(|e| e.into_inner()) = None;
                }
            }
            last = auth;
        }
        // The credentials (if any) of the last round, not "none configured".
        let source = match (last.source, last.withheld) {
            (Some(source), _) => Some(source),
            (None, withheld) => withheld,
        };
        Err(self.error(
            reference,
            ErrorKind::AuthenticationRounds {
                rounds: AUTH_ROUNDS,
                source,
            },
        ))
    }

    /// The token cache key of the bearer token `auth` sent to `host`, if it sent one.
    fn token_key_of(&self, host: &str, auth: &Authorization) -> Option<TokenKey> {
        match (self.schemes.get(host), &auth.token_scope) {
            (Some(Scheme::Bearer { realm, service }), Some(scope)) => {
                Some(token_key(host, &realm, &service, scope))
            }
            _ => None,
        }
    }

    fn check_status(
        &self,
        reference: &Reference,
        response: Response,
        auth: &Authorization,
    ) -> Result<Response, RegistryError> {
        let kind = match response.status {
            200..=299 => return Ok(response),
            401 => return Err(self.unauthorized(reference, auth)),
            403 => ErrorKind::Denied {
                source: auth.source.clone(),
            },
            404 => ErrorKind::NotFound,
            status => ErrorKind::Status {
                status,
                attempts: response.attempts,
                detail: error_detail(&response, &self.masker),
            },
        };
        Err(self.error(reference, kind))
    }

    /// A 401 that ends the read. Without credentials sent, whether some exist decides the
    /// words: a 401 without a usable challenge leaves existing credentials unsent, which is
    /// not "none are configured".
    fn unauthorized(&self, reference: &Reference, auth: &Authorization) -> RegistryError {
        let kind = match (&auth.source, &auth.withheld) {
            (None, Some(withheld)) => ErrorKind::CredentialsWithheld {
                source: withheld.clone(),
            },
            (Some(source), _) => ErrorKind::Unauthorized {
                source: Some(source.clone()),
            },
            (None, None) => match self.credential(reference) {
                Ok(Some(credential)) => ErrorKind::NoUsableChallenge {
                    source: credential.source,
                },
                Ok(None) => ErrorKind::Unauthorized { source: None },
                Err(err) => return err,
            },
        };
        self.error(reference, kind)
    }

    /// What to send to the registry now, given the scheme it asked for before.
    fn authorization(
        &self,
        reference: &Reference,
        scope: &str,
    ) -> Result<Authorization, RegistryError> {
        let host = reference.registry();
        match self.schemes.get(host) {
            None => Ok(Authorization::default()),
            Some(Scheme::Basic) => match self.credential(reference)? {
                Some(credential) => Ok(Authorization {
                    header: Some(credential.basic_header()),
                    source: Some(credential.source),
                    withheld: None,
                    fresh: true,
                    ..Authorization::default()
                }),
                None => Err(self.error(reference, ErrorKind::Unauthorized { source: None })),
            },
            Some(Scheme::Bearer { realm, service }) => {
                self.bearer(reference, &realm, &service, scope)
            }
        }
    }

    fn credential(&self, reference: &Reference) -> Result<Option<Credential>, RegistryError> {
        self.credentials
            .credential(reference.registry())
            .map_err(|problem| self.error(reference, ErrorKind::Credentials(problem.0)))
    }

    /// Whether `host` is spoken to over plain http.
    fn insecure(&self, host: &str) -> bool {
        self.insecure_hosts.contains(&canonical_host(host))
    }

    /// A bearer token for `scope`, cached per (registry, realm, service, scope). The slot's
    /// lock is held while fetching, so parallel reads of one repository share one token.
    ///
    /// The token is asked for together with other repositories of this registry the client
    /// was told to expect ([`Client::expect_repositories`]) that have no token yet and that
    /// no other thread is fetching one for: up to [`MAX_SCOPES_PER_TOKEN`] scopes and
    /// [`MAX_TOKEN_URL_BYTES`] of URL per token request, the same token stored for each.
    /// A token server that refuses such a request is asked again for `scope` alone, and
    /// not asked for several scopes again.
    fn bearer(
        &self,
        reference: &Reference,
        realm: &str,
        service: &Option<String>,
        scope: &str,
    ) -> Result<Authorization, RegistryError> {
        let host = reference.registry();
        let mut credential = self.credential(reference)?;
        let mut withheld = None;
        if !auth::realm_may_receive_credentials(realm, self.insecure(host)) {
            withheld = credential.take().map(|c| c.source);
        }
        let source = credential.as_ref().map(|c| c.source.clone());
        let key = token_key(host, realm, service, scope);
        let alone = self.tokens.asked_alone(&key);
        let authorization = |header: String, fresh: bool, batched: bool| Authorization {
            header: Some(header),
            source: source.clone(),
            withheld: withheld.clone(),
            fresh,
            token_scope: Some(scope.to_string()),
            batched,
            // Only the request right after asking alone tells whether that helped.
            alone: alone && fresh,
        };
        let cached_header = |slot: &Option<Token>| {
            slot.as_ref()
                .filter(|t| t.expires > Instant::now())
                .map(|t| (format!("Bearer {}", t.value.expose()), t.batched))
        };
        let slot = self.tokens.slot(&key);
        if let Some((header, batched)) =
            cached_header(&slot.lock().unwrap_or_else(|e| e.into_inner()))
        {
            return Ok(authorization(header, false, batched));
        }
        // While a batch may be asked for, one token request per server at a time: parallel
        // readers would each ask for a batch of their own, mostly of the same scopes. The
        // server's lock is taken before any slot's, and no slot is held while waiting for it.
        let companion_slots = self.companion_slots(&key);
        let server_lock = (!companion_slots.is_empty()).then(|| self.tokens.server_lock(&key));
        let _one_at_a_time = server_lock
            .as_ref()
            .map(|lock| lock.lock().unwrap_or_else(|e| e.into_inner()));
        let mut cached = slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((header, batched)) = cached_header(&cached) {
            // Fetched in the batch of the request waited for.
            return Ok(authorization(header, false, batched));
        }
        let mut companions = Vec::new();
        let mut scopes = vec![scope];
        let mut url_bytes = token_url(realm, service, &scopes).len();
        for (companion, companion_slot) in &companion_slots {
            if scopes.len() >= MAX_SCOPES_PER_TOKEN {
                break;
            }
            let added = "&scope=".len() + percent_encode(companion).len();
            if url_bytes + added > MAX_TOKEN_URL_BYTES {
                break;
            }
            // Held only briefly by others: a reader copying its token, or a token fetch of a
            // scope asked for alone.
            let guard = companion_slot.lock().unwrap_or_else(|e| e.into_inner());
            if guard.as_ref().is_some_and(|t| t.expires > Instant::now()) {
                continue;
            }
            url_bytes += added;
            scopes.push(companion.as_str());
            companions.push(guard);
        }
        let batched = !companions.is_empty();
        let fetched = match self.fetch_token(reference, realm, service, &scopes, &credential) {
            Err(_) if batched => {
                // Refused as a batch (a server taking one scope per request may say 400):
                // this scope alone, and never a batch from this server again.
                self.tokens.stop_batching(&key);
                companions.clear();
                self.fetch_token(reference, realm, service, &[scope], &credential)
            }
            other => other,
        };
        let (value, expires_in) = match fetched {
            Ok(fetched) => fetched,
            Err(TokenRefused::Unauthorized) => {
                let refused = Authorization {
                    source,
                    withheld,
                    ..Authorization::default()
                };
                return Err(self.unauthorized(reference, &refused));
            }
            Err(TokenRefused::Error(err)) => return Err(err),
        };
        let batched = !companions.is_empty();
        let token = Token {
            value: auth::Secret::new(value),
            expires: auth::token_expiry(Instant::now(), expires_in),
            batched,
        };
        for mut companion in companions {
            *companion = Some(token.clone());
        }
        let header = format!("Bearer {}", token.value.expose());
        *cached = Some(token);
        Ok(authorization(header, true, batched))
    }

    /// The slots of the other expected repositories of `key`'s registry (see
    /// [`Client::expect_repositories`]) that may share a token with `key`'s scope, in
    /// repository order. None when `key`'s token server is asked for one scope at a time.
    fn companion_slots(
        &self,
        key: &TokenKey,
    ) -> Vec<(String, Arc<std::sync::Mutex<Option<Token>>>)> {
        if !self.tokens.may_batch(key) {
            return Vec::new();
        }
        let repositories: Vec<String> = {
            let expected = self.expected.lock().unwrap_or_else(|e| e.into_inner());
            expected
                .get(&key.registry)
                .map(|repositories| repositories.iter().cloned().collect())
                .unwrap_or_default()
        };
        repositories
            .iter()
            .map(|repository| pull_scope(repository))
            .filter(|scope| *scope != key.scope)
            .map(|scope| (key.with_scope(&scope), scope))
            .filter(|(companion, _)| !self.tokens.asked_alone(companion))
            .map(|(companion, scope)| (scope, self.tokens.slot(&companion)))
            .collect()
    }

    /// One token request for `scopes`: the token and its lifetime in seconds, if given.
    fn fetch_token(
        &self,
        reference: &Reference,
        realm: &str,
        service: &Option<String>,
        scopes: &[&str],
        credential: &Option<Credential>,
    ) -> Result<(String, Option<u64>), TokenRefused> {
        let url = token_url(realm, service, scopes);
        let headers: Vec<(&str, String)> = credential
            .as_ref()
            .map(|c| ("Authorization", c.basic_header()))
            .into_iter()
            .collect();
        self.token_requests.fetch_add(1, Ordering::Relaxed);
        let response = self
            .transport
            .send(Method::Get, &url, &headers, MAX_TOKEN_RESPONSE_BYTES)
            .map_err(|e| self.transport_error(reference, e, "token server ", &url))?;
        match response.status {
            200 => {}
            401 | 403 => return Err(TokenRefused::Unauthorized),
            status => {
                return Err(TokenRefused::Error(self.error(
                    reference,
                    ErrorKind::Status {
                        status,
                        attempts: response.attempts,
                        detail: Some(format!("from the token server {}", redact_url(realm))),
                    },
                )));
            }
        }
        let parsed = TokenResponse::parse(&response.body).map_err(|e| {
            self.error(
                reference,
                ErrorKind::Transport(format!(
                    "the token server {} sent no valid JSON (line {}, column {})",
                    redact_url(realm),
                    e.line(),
                    e.column()
                )),
            )
        })?;
        let value = parsed.token().ok_or_else(|| {
            self.error(
                reference,
                ErrorKind::Transport(format!(
                    "the token server {} sent no token",
                    redact_url(realm)
                )),
            )
        })?;
        self.masker.add(&value);
        Ok((value, parsed.expires_in()))
    }

    /// Sends to the registry and follows redirects hop by hop; `Authorization` goes only to
    /// the registry's own origin. Returns the final response and whether it came from the
    /// registry's origin.
    fn send_following_redirects(
        &self,
        reference: &Reference,
        method: Method,
        url: &str,
        authorization: Option<&str>,
    ) -> Result<(Response, bool), RegistryError> {
        let registry_origin = origin(url);
        let mut url = url.to_string();
        let mut hops = 0;
        loop {
            let from_registry = origin(&url) == registry_origin;
            let mut headers: Vec<(&str, String)> = vec![("Accept", ACCEPT.to_string())];
            if let (true, Some(value)) = (from_registry, authorization) {
                headers.push(("Authorization", value.to_string()));
            }
            let response = self
                .transport
                .send(method, &url, &headers, self.config.max_manifest_bytes)
                .map_err(|e| self.transport_error(reference, e, "", &url))?;
            if !matches!(response.status, 301 | 302 | 303 | 307 | 308) {
                return Ok((response, from_registry));
            }
            let location = response.header("location").ok_or_else(|| {
                self.error(
                    reference,
                    ErrorKind::Redirect(format!("HTTP {} without Location", response.status)),
                )
            })?;
            let next = redirect_target(&url, location)
                .map_err(|problem| self.error(reference, ErrorKind::Redirect(problem)))?;
            hops += 1;
            if hops > self.config.max_redirects {
                return Err(self.error(
                    reference,
                    ErrorKind::Redirect(format!("more than {} hops", self.config.max_redirects)),
                ));
            }
            url = next;
        }
    }

    /// A transport failure at `url`, quoted after `what` without its query, fragment or user
    /// info (see [`redact_url`]): `url` may be a redirect target the registry chose.
    fn transport_error(
        &self,
        reference: &Reference,
        err: TransportError,
        what: &str,
        url: &str,
    ) -> RegistryError {
        let kind = match err {
            TransportError::Deadline => ErrorKind::DeadlineReached,
            // Only manifests are read with the manifest limit; anything else says what it is.
            TransportError::TooLarge { limit } if what.is_empty() => ErrorKind::TooLarge { limit },
            other => {
                let redacted = redact_url(url);
                // The HTTP library may quote the URL itself ("bad uri: …").
                let message = other.to_string().replace(url, &redacted);
                let message = format!("{what}{redacted}: {message}");
                match other {
                    TransportError::Tls(_) => ErrorKind::Tls(message),
                    _ => ErrorKind::Transport(message),
                }
            }
        };
        self.error(reference, kind)
    }

    /// An error about `reference`, every text in it masked ([`Client::mask`]): any of it
    /// may quote a registry.
    fn error(&self, reference: &Reference, kind: ErrorKind) -> RegistryError {
        let kind = kind.map_text(|text| self.masker.mask(text));
        RegistryError::new(reference.registry(), Some(reference.to_string()), kind)
    }
}

/// What one request carries, and what that means for a 401. `Debug` shows the header's
/// scheme only.
#[derive(Default)]
struct Authorization {
    header: Option<String>,
    /// Where the credentials behind it came from (for errors).
    source: Option<String>,
    /// Credentials that exist but were not sent to a plain-http token realm.
    withheld: Option<String>,
    /// Credentials or a token obtained for this very request: a 401 will not pass by
    /// asking again.
    fresh: bool,
    /// The scope of the bearer token sent, to drop it when refused.
    token_scope: Option<String>,
    /// The bearer token sent was asked for several scopes: a 401 may mean that this scope
    /// was not granted, and asking for it alone may pass.
    batched: bool,
    /// The bearer token sent was asked for this scope alone after a batched token was
    /// refused for it: if it passes, the token server grants one scope per token.
    alone: bool,
}

impl std::fmt::Debug for Authorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let header = self.header.as_deref().map(|value| {
            let scheme = value.split_once(' ').map_or("", |(scheme, _)| scheme);
            format!("{scheme} …")
        });
        f.debug_struct("Authorization")
            .field("header", &header)
            .field("source", &self.source)
            .field("withheld", &self.withheld)
            .field("fresh", &self.fresh)
            .field("token_scope", &self.token_scope)
            .field("batched", &self.batched)
            .field("alone", &self.alone)
            .finish()
    }
}

/// Rounds of authentication per request: anonymous → learn the scheme → authenticate →
/// replace a stale token.
const AUTH_ROUNDS: u32 = 3;

/// Largest token-server answer read: a token is a few KiB.
const MAX_TOKEN_RESPONSE_BYTES: u64 = 1024 * 1024;

/// The most scopes asked for in one token request: a token lists every repository it
/// grants, so it grows with them (and is sent with every request).
pub const MAX_SCOPES_PER_TOKEN: usize = 50;

/// The longest token-request URL: web servers and proxies commonly refuse request lines
/// past 8 KiB.
pub const MAX_TOKEN_URL_BYTES: usize = 8 * 1024;

/// Why no token came from a token server.
enum TokenRefused {
    /// A 401 or 403: the credentials (or their absence) were refused.
    Unauthorized,
    Error(RegistryError),
}

impl From<RegistryError> for TokenRefused {
    fn from(err: RegistryError) -> TokenRefused {
        TokenRefused::Error(err)
    }
}

/// The scope that reads manifests of `repository`.
fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

/// The token request URL for `scopes` at `realm`: one `scope` parameter each, as the token
/// protocol of the distribution project specifies for several scopes.
fn token_url(realm: &str, service: &Option<String>, scopes: &[&str]) -> String {
    let mut url = realm.to_string();
    url.push(if realm.contains('?') { '&' } else { '?' });
    if let Some(service) = service {
        url.push_str("service=");
        url.push_str(&percent_encode(service));
        url.push('&');
    }
    let scopes: Vec<String> = scopes
        .iter()
        .map(|scope| format!("scope={}", percent_encode(scope)))
        .collect();
    url.push_str(&scopes.join("&"));
    url
}

/// A token server's answer. Only the token is required; a lifetime that is no whole number
/// of seconds (negative, fractional, too large, a string) means the default one, as Docker
/// reads it, instead of making the answer unusable.
#[derive(serde::Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<serde_json::Value>,
    #[serde(default)]
    access_token: Option<serde_json::Value>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

/// [`TokenResponse`] with the lifetime skipped unread: a number JSON allows but no Rust
/// number holds (`1e400`) fails even a `Value`.
#[derive(serde::Deserialize)]
struct TokenResponseWithoutLifetime {
    #[serde(default)]
    token: Option<serde_json::Value>,
    #[serde(default)]
    access_token: Option<serde_json::Value>,
    #[serde(default, rename = "expires_in")]
    _expires_in: Option<serde::de::IgnoredAny>,
}

impl TokenResponse {
    fn parse(body: &[u8]) -> Result<TokenResponse, serde_json::Error> {
        serde_json::from_slice(body).or_else(|err| {
            serde_json::from_slice::<TokenResponseWithoutLifetime>(body)
                .map(|parsed| TokenResponse {
                    token: parsed.token,
                    access_token: parsed.access_token,
                    expires_in: None,
                })
                .map_err(|_| err)
        })
    }

    fn token(&self) -> Option<String> {
        [&self.token, &self.access_token]
            .into_iter()
            .flatten()
            .filter_map(serde_json::Value::as_str)
            .find(|t| !t.is_empty())
            .map(str::to_string)
    }

    fn expires_in(&self) -> Option<u64> {
        self.expires_in.as_ref().and_then(serde_json::Value::as_u64)
    }
}

/// The platforms of an index's images for an error message: each once, in index order, and
/// no more than [`MAX_INDEX_IMAGES`] of them (then how many more), whatever the index holds.
fn distinct_platforms(index: &Index) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut distinct: Vec<String> = index
        .platforms()
        .into_iter()
        .filter(|p| seen.insert(p.clone()))
        .collect();
    if distinct.len() > MAX_INDEX_IMAGES {
        let more = distinct.len() - MAX_INDEX_IMAGES;
        distinct.truncate(MAX_INDEX_IMAGES);
        distinct.push(format!("{more} more"));
    }
    distinct
}

fn token_key(host: &str, realm: &str, service: &Option<String>, scope: &str) -> TokenKey {
    TokenKey {
        registry: host.to_string(),
        realm: realm.to_string(),
        service: service.clone(),
        scope: scope.to_string(),
    }
}

/// The registry's error message: from a distribution error body
/// (`{"errors": [{"code": ..., "message": ...}]}`), else the first line of a plain-text body
/// (a TLS server answering plain http says so there); printable characters only, masked,
/// short — masked before it is shortened, so no cut leaves part of a credential behind.
fn error_detail(response: &Response, masker: &Masker) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Body {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let text = match serde_json::from_slice::<Body>(&response.body) {
        Ok(body) => body
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.code, e.message))
            .collect::<Vec<_>>()
            .join("; "),
        Err(_)
            if response
                .header("content-type")
                .is_none_or(|c| c.starts_with("text/plain")) =>
        {
            String::from_utf8_lossy(&response.body)
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        }
        Err(_) => return None,
    };
    let printable: String = text.chars().filter(|c| !c.is_control()).collect();
    let clean: String = masker.mask(&printable).chars().take(200).collect();
    let clean = clean.trim().to_string();
    (!clean.is_empty()).then_some(clean)
}

/// `scheme://host:port` of a URL, with the default port made explicit, so
/// `https://h` and `https://h:443` are one origin.
fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest
        .split(['/', '?', '#'])
        .next()
        .unwrap_or(rest)
        .to_ascii_lowercase();
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
        && !authority.ends_with(']');
    if has_port {
        format!("{scheme}://{authority}")
    } else {
        let port = if scheme == "http" { 80 } else { 443 };
        format!("{scheme}://{authority}:{port}")
    }
}

/// Where a redirect from `url` with `location` goes, or why it is not followed: from https
/// only to https (a downgrade would expose the request, and the answer could not be
/// trusted). The target is quoted redacted ([`redact_url`]).
fn redirect_target(url: &str, location: &str) -> Result<String, String> {
    let next = resolve_location(url, location);
    if has_scheme(url, "https") && !has_scheme(&next, "https") {
        return Err(format!("from https to {}", redact_url(&next)));
    }
    Ok(next)
}

fn has_scheme(url: &str, scheme: &str) -> bool {
    url.split_once("://")
        .is_some_and(|(s, _)| s.eq_ignore_ascii_case(scheme))
}

/// A URL fit for an error message: without query and fragment (a presigned storage URL
/// carries its signature there, a CDN its token) and without user info. `?…` marks a dropped
/// query.
fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    let (before, after) = rest.split_at(end);
    let authority_end = before.find('/').unwrap_or(before.len());
    let (authority, path) = before.split_at(authority_end);
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let mut out = String::with_capacity(url.len());
    if let Some(scheme) = scheme {
        out.push_str(scheme);
        out.push_str("://");
    }
    out.push_str(authority);
    out.push_str(path);
    if after.starts_with('?') {
        out.push_str("?…");
    }
    out
}

/// The absolute URL a `Location` header points to, relative to `base`.
fn resolve_location(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("https", base));
    if let Some(authority_path) = location.strip_prefix("//") {
        return format!("{scheme}://{authority_path}");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    if location.starts_with('/') {
        return format!("{scheme}://{authority}{location}");
    }
    let path = rest[authority.len()..]
        .split(['?', '#'])
        .next()
        .unwrap_or("");
    let dir = path.rsplit_once('/').map_or("", |(dir, _)| dir);
    format!("{scheme}://{authority}{dir}/{location}")
}

/// Percent-encodes a query value (everything but RFC 3986 unreserved characters).
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Runs `f` over `items` on at most `workers` threads and returns the results in the order of
/// `items`. With one [`Client`] shared by all workers, identical references are still
/// fetched once (its caches make concurrent callers of one key wait for the first).
pub fn parallel_map<T, R, F>(items: &[T], workers: usize, f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    let workers = workers.clamp(1, items.len().max(1));
    let next = AtomicUsize::new(0);
    let mut results: Vec<(usize, R)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        done.push((i, f(item)));
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| match h.join() {
                Ok(done) => done,
                // Re-raise a worker's panic in the caller, as a sequential loop would.
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod testserver;
