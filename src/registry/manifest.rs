//! Registry content types, apart from any HTTP: digests, media types, descriptors, image
//! manifests and indexes (OCI and Docker v2), platforms and platform selection.
//!
//! Only what the layer check needs is modelled: descriptors, layers, annotations and the
//! platforms of an index. Docker schema 1 manifests are not supported (registries convert them
//! only on request, and no current builder writes them).

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use sha2::{Digest as _, Sha256};

/// OCI image index (multi-platform).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest (one platform).
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker manifest list (multi-platform).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image manifest, schema 2 (one platform).
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// The one `Accept` header of every manifest request: every kind gipgee understands, so a
/// registry never converts (and re-digests) what it stores.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// Largest manifest gipgee reads (the limit containerd and regclient use): a registry, or
/// something in front of it, cannot make gipgee buffer an arbitrary body.
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

/// Annotation buildah writes into a child image: the digest of the image it was built FROM.
pub const ANNOTATION_BASE_DIGEST: &str = "org.opencontainers.image.base.digest";
/// Annotation buildah writes into a child image: the reference it was built FROM. Informative
/// only: it may name a staging image.
pub const ANNOTATION_BASE_NAME: &str = "org.opencontainers.image.base.name";
/// BuildKit marks its attestation (SBOM / provenance) manifests in an index with this
/// annotation, and gives them the platform `unknown/unknown`.
const ANNOTATION_REFERENCE_TYPE: &str = "vnd.docker.reference.type";

/// A content digest, `algorithm:hex`, validated. Only sha256 can be verified; other
/// algorithms parse (they are legal in the grammar) but fail verification.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct Digest(String);

impl Digest {
    /// Parses `sha256:<64 lowercase hex>` (or `sha512:<128 hex>`); anything else is an error
    /// that quotes the input.
    pub fn parse(input: &str) -> Result<Digest, String> {
        let (algorithm, hex) = input
            .split_once(':')
            .ok_or_else(|| format!("invalid digest {input:?}: expected `algorithm:hex`"))?;
        let expected_len = match algorithm {
            "sha256" => 64,
            "sha512" => 128,
            _ => return Err(format!("invalid digest {input:?}: unknown algorithm")),
        };
        if hex.len() != expected_len || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(format!(
                "invalid digest {input:?}: expected {expected_len} lowercase hex digits"
            ));
        }
        Ok(Digest(input.to_string()))
    }

    /// The sha256 digest of `bytes`.
    pub fn sha256(bytes: &[u8]) -> Digest {
        let hash = Sha256::digest(bytes);
        let mut out = String::with_capacity(7 + 64);
        out.push_str("sha256:");
        for byte in hash.iter() {
            out.push_str(&format!("{byte:02x}"));
        }
        Digest(out)
    }

    pub fn algorithm(&self) -> &str {
        self.0.split_once(':').map_or("", |(a, _)| a)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Checks that `bytes` hash to this digest; on a mismatch returns what they hash to.
    /// A digest of another algorithm than sha256 cannot be checked and is reported as
    /// `Err(None)`.
    pub fn verify(&self, bytes: &[u8]) -> Result<(), Option<Digest>> {
        if self.algorithm() != "sha256" {
            return Err(None);
        }
        let actual = Digest::sha256(bytes);
        if &actual == self {
            Ok(())
        } else {
            Err(Some(actual))
        }
    }
}

impl TryFrom<String> for Digest {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Digest::parse(&value)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An OS / architecture / variant triple, as in an index entry or `--platform linux/arm64/v8`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(default, rename = "os.version")]
    pub os_version: Option<String>,
}

impl Default for Platform {
    /// `linux/amd64`, what GitLab's shared runners and most registries' users run.
    fn default() -> Self {
        Platform::new("linux", "amd64", None)
    }
}

impl Platform {
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.to_string(),
            architecture: architecture.to_string(),
            variant: variant.map(str::to_string),
            os_version: None,
        }
    }

    /// Parses `os/architecture[/variant]`.
    pub fn parse(input: &str) -> Result<Platform, String> {
        let parts: Vec<&str> = input.split('/').collect();
        let valid_part = |p: &&str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        };
        match parts.as_slice() {
            [os, arch] if [os, arch].iter().all(|p| valid_part(p)) => {
                Ok(Platform::new(os, arch, None))
            }
            [os, arch, variant] if [os, arch, variant].iter().all(|p| valid_part(p)) => {
                Ok(Platform::new(os, arch, Some(variant)))
            }
            _ => Err(format!(
                "invalid platform {input:?}: expected `os/architecture[/variant]`, e.g. `linux/arm64/v8`"
            )),
        }
    }

    /// The `unknown/unknown` platform BuildKit gives attestation manifests.
    pub fn is_unknown(&self) -> bool {
        self.os == "unknown" && self.architecture == "unknown"
    }

    /// Whether an index entry with this platform serves `wanted`. The variant is compared
    /// after the usual defaults (arm64 → v8, arm → v7, as containerd does), so `linux/arm64`
    /// finds an entry written as `linux/arm64/v8` and vice versa; a wanted platform of any
    /// other architecture without a variant accepts every variant.
    pub fn serves(&self, wanted: &Platform) -> bool {
        if self.os != wanted.os || self.architecture != wanted.architecture {
            return false;
        }
        match normalized_variant(wanted) {
            None => true,
            Some(variant) => normalized_variant(self) == Some(variant),
        }
    }
}

fn normalized_variant(platform: &Platform) -> Option<&str> {
    match (platform.architecture.as_str(), platform.variant.as_deref()) {
        (_, Some(variant)) if !variant.is_empty() => Some(variant),
        ("arm64", _) => Some("v8"),
        ("arm", _) => Some("v7"),
        _ => None,
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// A pointer to content: what a manifest says about a layer, a config or a child manifest.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: Digest,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub platform: Option<Platform>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    /// An attestation (SBOM / provenance) entry of an index, not an image anyone runs.
    pub fn is_attestation(&self) -> bool {
        self.platform.as_ref().is_some_and(Platform::is_unknown)
            || self
                .annotations
                .get(ANNOTATION_REFERENCE_TYPE)
                .is_some_and(|t| t == "attestation-manifest")
    }
}

/// A single-platform image manifest (OCI or Docker schema 2).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ImageManifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default)]
    pub media_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl ImageManifest {
    /// The layer digests, bottom layer first.
    pub fn layer_digests(&self) -> Vec<&Digest> {
        self.layers.iter().map(|l| &l.digest).collect()
    }

    /// `org.opencontainers.image.base.digest`, if present and a valid digest.
    pub fn base_digest(&self) -> Option<Digest> {
        self.annotations
            .get(ANNOTATION_BASE_DIGEST)
            .and_then(|d| Digest::parse(d).ok())
    }

    /// `org.opencontainers.image.base.name`, informative only (it may name a staging image).
    pub fn base_name(&self) -> Option<&str> {
        self.annotations
            .get(ANNOTATION_BASE_NAME)
            .map(String::as_str)
    }
}

/// A multi-platform index (OCI image index or Docker manifest list).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Index {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default)]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl Index {
    /// The entries that are runnable images: attestation manifests are skipped.
    pub fn images(&self) -> impl Iterator<Item = &Descriptor> {
        self.manifests.iter().filter(|d| !d.is_attestation())
    }

    /// The entry for `wanted`: the first runnable entry whose platform serves it (the order
    /// of an index is its preference order).
    pub fn select(&self, wanted: &Platform) -> Option<&Descriptor> {
        self.images()
            .find(|d| d.platform.as_ref().is_some_and(|p| p.serves(wanted)))
    }

    /// The platforms of the runnable entries, for "no entry for linux/s390x; the index has ..."
    pub fn platforms(&self) -> Vec<String> {
        self.images()
            .map(|d| {
                d.platform
                    .as_ref()
                    .map_or_else(|| "(no platform)".to_string(), Platform::to_string)
            })
            .collect()
    }
}

/// A parsed manifest of either kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    Image(ImageManifest),
    Index(Index),
}

/// The fields every manifest kind has, read first to decide the kind.
#[derive(Deserialize)]
struct Probe {
    #[serde(rename = "schemaVersion", default)]
    schema_version: Option<u32>,
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
    #[serde(default)]
    layers: Option<serde_json::Value>,
}

impl Manifest {
    /// Parses a manifest body. The kind comes from the body's own `mediaType` (it is part of
    /// the digested content, unlike the `Content-Type` header), else from the header, else
    /// from its shape (`manifests` → index, `layers` → image), as OCI allows `mediaType` to
    /// be absent.
    pub fn parse(body: &[u8], content_type: Option<&str>) -> Result<Manifest, String> {
        let probe: Probe = serde_json::from_slice(body).map_err(json_problem)?;
        if probe.schema_version == Some(1) {
            return Err("Docker schema 1 manifests are not supported".to_string());
        }
        let header = content_type
            .map(|c| c.split(';').next().unwrap_or(c).trim())
            .filter(|c| !c.is_empty() && *c != "application/json");
        let media_type = probe.media_type.as_deref().or(header);
        let is_index = match media_type {
            Some(OCI_INDEX | DOCKER_MANIFEST_LIST) => true,
            Some(OCI_MANIFEST | DOCKER_MANIFEST) => false,
            Some(other) => return Err(format!("unsupported manifest media type `{other}`")),
            None if probe.manifests.is_some() => true,
            None if probe.layers.is_some() => false,
            None => return Err("neither an image manifest nor an index".to_string()),
        };
        if is_index {
            serde_json::from_slice(body)
                .map(Manifest::Index)
                .map_err(json_problem)
        } else {
            serde_json::from_slice(body)
                .map(Manifest::Image)
                .map_err(json_problem)
        }
    }

    pub fn as_image(&self) -> Option<&ImageManifest> {
        match self {
            Manifest::Image(image) => Some(image),
            Manifest::Index(_) => None,
        }
    }

    pub fn as_index(&self) -> Option<&Index> {
        match self {
            Manifest::Index(index) => Some(index),
            Manifest::Image(_) => None,
        }
    }
}

/// serde_json's message without any quoted input: a registry's body is untrusted text that
/// does not belong in a job log verbatim.
fn json_problem(err: serde_json::Error) -> String {
    let what = match err.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => "not valid JSON",
        serde_json::error::Category::Data => "not a valid manifest",
    };
    format!("{what} (line {}, column {})", err.line(), err.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";
    const D4: &str = "sha256:4444444444444444444444444444444444444444444444444444444444444444";

    #[test]
    fn digests_parse_and_verify() {
        assert!(Digest::parse(D1).is_ok());
        for bad in [
            "sha256:abc",
            "md5:1111",
            "sha256",
            "sha256:1111111111111111111111111111111111111111111111111111111111111ABC",
        ] {
            assert!(Digest::parse(bad).is_err(), "{bad}");
        }
        let digest = Digest::sha256(b"hello");
        assert_eq!(
            digest.as_str(),
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(digest.verify(b"hello"), Ok(()));
        assert_eq!(digest.verify(b"hellO"), Err(Some(Digest::sha256(b"hellO"))));
    }

    #[test]
    fn platforms_parse_and_match_with_default_variants() {
        let arm64 = Platform::parse("linux/arm64").unwrap();
        let arm64_v8 = Platform::parse("linux/arm64/v8").unwrap();
        assert!(arm64_v8.serves(&arm64));
        assert!(arm64.serves(&arm64_v8));
        let arm_v6 = Platform::parse("linux/arm/v6").unwrap();
        assert!(!arm_v6.serves(&Platform::parse("linux/arm").unwrap()));
        assert!(!Platform::default().serves(&arm64));
        assert_eq!(arm64_v8.to_string(), "linux/arm64/v8");
        for bad in ["linux", "linux/", "a/b/c/d", "linux/amd 64"] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
    }

    fn index_json() -> String {
        format!(
            r#"{{"schemaVersion": 2, "mediaType": "{OCI_INDEX}", "manifests": [
              {{"mediaType": "{OCI_MANIFEST}", "digest": "{D1}", "size": 1,
                "platform": {{"os": "unknown", "architecture": "unknown"}},
                "annotations": {{"vnd.docker.reference.type": "attestation-manifest"}}}},
              {{"mediaType": "{OCI_MANIFEST}", "digest": "{D2}", "size": 1,
                "platform": {{"os": "linux", "architecture": "arm64", "variant": "v8"}}}},
              {{"mediaType": "{OCI_MANIFEST}", "digest": "{D3}", "size": 1,
                "platform": {{"os": "linux", "architecture": "amd64"}}}},
              {{"mediaType": "{OCI_MANIFEST}", "digest": "{D4}", "size": 1,
                "platform": {{"os": "linux", "architecture": "amd64"}},
                "annotations": {{"vnd.docker.reference.type": "attestation-manifest"}}}}
            ]}}"#
        )
    }

    #[test]
    fn index_selection_skips_attestations() {
        let Manifest::Index(index) = Manifest::parse(index_json().as_bytes(), None).unwrap() else {
            panic!("an index");
        };
        assert_eq!(
            index.select(&Platform::default()).unwrap().digest.as_str(),
            D3
        );
        assert_eq!(
            index
                .select(&Platform::parse("linux/arm64").unwrap())
                .unwrap()
                .digest
                .as_str(),
            D2
        );
        assert!(
            index
                .select(&Platform::parse("unknown/unknown").unwrap())
                .is_none()
        );
        assert!(
            index
                .select(&Platform::parse("linux/s390x").unwrap())
                .is_none()
        );
        assert_eq!(index.platforms(), vec!["linux/arm64/v8", "linux/amd64"]);
    }

    #[test]
    fn manifest_kind_from_body_header_or_shape() {
        let image = format!(
            r#"{{"schemaVersion": 2, "config": {{"mediaType": "x", "digest": "{D1}", "size": 2}},
               "layers": [{{"mediaType": "y", "digest": "{D2}", "size": 3}}],
               "annotations": {{"{ANNOTATION_BASE_DIGEST}": "{D3}", "{ANNOTATION_BASE_NAME}": "r/b:staging"}}}}"#
        );
        let parsed = Manifest::parse(image.as_bytes(), Some(DOCKER_MANIFEST)).unwrap();
        let image = parsed.as_image().unwrap();
        assert_eq!(image.layer_digests()[0].as_str(), D2);
        assert_eq!(image.base_digest().unwrap().as_str(), D3);
        assert_eq!(image.base_name(), Some("r/b:staging"));
        // No mediaType anywhere: the shape decides.
        let bare_index = r#"{"schemaVersion": 2, "manifests": []}"#;
        assert!(
            Manifest::parse(bare_index.as_bytes(), None)
                .unwrap()
                .as_index()
                .is_some()
        );
    }

    #[test]
    fn unsupported_and_malformed_manifests_are_errors_without_echo() {
        let schema1 = r#"{"schemaVersion": 1, "name": "x", "fsLayers": []}"#;
        assert_eq!(
            Manifest::parse(schema1.as_bytes(), None).unwrap_err(),
            "Docker schema 1 manifests are not supported"
        );
        let artifact = r#"{"schemaVersion": 2, "mediaType": "application/vnd.cncf.helm.chart"}"#;
        assert!(
            Manifest::parse(artifact.as_bytes(), None)
                .unwrap_err()
                .contains("unsupported manifest media type")
        );
        let wrong_type = r#"{"schemaVersion": 2, "manifests": "secret-ish-text"}"#;
        let err = Manifest::parse(wrong_type.as_bytes(), None).unwrap_err();
        assert!(!err.contains("secret-ish-text"), "{err}");
        assert!(
            Manifest::parse(b"<html>", None)
                .unwrap_err()
                .contains("not valid JSON")
        );
    }
}
