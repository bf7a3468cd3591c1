//! The OCI / Docker image model as plain data: digests, image references, platforms and
//! manifests. Nothing here does I/O or knows about gipgee's configuration, so the parsers can
//! be trusted with (and tested on) any input, and every other module — the configuration,
//! the planner, the registry client — shares one notion of what a reference or a digest is.
//!
//! Each type validates on construction: a [`Digest`] is always well-formed, a [`Reference`]
//! always normalised (its registry spelled by [`canonical_host`]), so code holding one does
//! not check again.

pub mod digest;
pub mod manifest;
pub mod platform;
pub mod reference;

pub use digest::{Digest, DigestError, is_valid_digest};
pub use manifest::{Descriptor, ImageManifest, Index, Manifest};
pub use platform::Platform;
pub use reference::{
    DEFAULT_REGISTRY, DEFAULT_TAG, DOCKER_HUB_ALIASES, DOCKER_HUB_API_HOST,
    LEGACY_DEFAULT_REGISTRY, NAME_TOTAL_LENGTH_MAX, Reference, ReferenceError, Repository,
    TAG_LENGTH_MAX, canonical_host, is_valid_tag, normalize_registry_host,
};
