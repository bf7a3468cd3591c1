//! Manifest content types, apart from any HTTP: media types, descriptors, image manifests and
//! indexes (OCI and Docker schema 2), the annotations builders write, and which index entries
//! are runnable images.
//!
//! Only what a layer comparison needs is modelled: descriptors, layers, annotations and the
//! platforms of an index. Docker schema 1 manifests are not supported (registries convert them
//! only on request, and no current builder writes them).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::digest::Digest;
use super::platform::Platform;

/// OCI image index (multi-platform).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest (one platform).
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker manifest list (multi-platform).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image manifest, schema 2 (one platform).
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// Every manifest media type [`Manifest::parse`] understands.
pub const MEDIA_TYPES: [&str; 4] = [
    OCI_INDEX,
    OCI_MANIFEST,
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST,
];

/// Annotation buildah writes into a child image: the digest of the image it was built FROM.
pub const ANNOTATION_BASE_DIGEST: &str = "org.opencontainers.image.base.digest";
/// Annotation buildah writes into a child image: the reference it was built FROM. Informative
/// only: it may name a staging image.
pub const ANNOTATION_BASE_NAME: &str = "org.opencontainers.image.base.name";
/// BuildKit marks its attestation (SBOM / provenance) manifests in an index with this
/// annotation, and gives them the platform `unknown/unknown`.
const ANNOTATION_REFERENCE_TYPE: &str = "vnd.docker.reference.type";

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
