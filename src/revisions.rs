//! Reading the commit a released image was built from, for the plan's released-revision rule
//! ([`crate::plan::released`]): one manifest GET per image through the registry client, many
//! images at once. The revision is the manifest annotation `org.opencontainers.image.revision`
//! that the build job writes (buildah keeps it through push, skopeo through copy); the config
//! label of the same name is not read, as it would cost a second request per image.

use crate::error::explain_registry_error as explain;
use crate::oci::{Manifest, Reference};
use crate::plan::{Released, ReleasedRevisions};
use crate::registry::{Client, ErrorKind, parallel_map};

/// The annotation (and label) that records the commit an image was built from.
pub const ANNOTATION_REVISION: &str = "org.opencontainers.image.revision";

/// How many manifests are read at once.
pub const WORKERS: usize = 8;

/// Reads released images through a registry client; `Err` holds why no client could be made
/// (then every registry counts as unreadable).
pub struct RegistryRevisions {
    pub client: Result<Client, String>,
}

impl ReleasedRevisions for RegistryRevisions {
    fn read(&self, references: &[Reference]) -> Vec<Released> {
        match &self.client {
            Ok(client) => parallel_map(references, WORKERS, |reference| {
                revision_of(client, reference)
            }),
            Err(reason) => references
                .iter()
                .map(|reference| Released::Unreadable {
                    registry: reference.registry().to_string(),
                    reason: reason.clone(),
                })
                .collect(),
        }
    }
}

/// What the image at `reference` records. An index is read for its own annotation first, then
/// for its entry of the client's platform (one more request): builders annotate the image
/// manifests, and some the index too.
pub fn revision_of(client: &Client, reference: &Reference) -> Released {
    let unreadable = |err: &crate::registry::RegistryError| match err.kind {
        ErrorKind::NotFound => Released::NotReleased,
        _ => Released::Unreadable {
            registry: err.registry.clone(),
            reason: explain(err),
        },
    };
    let top = match client.manifest(reference) {
        Ok(top) => top,
        Err(err) => return unreadable(&err),
    };
    let annotations = match &top.manifest {
        Manifest::Image(image) => &image.annotations,
        Manifest::Index(index) if index.annotations.contains_key(ANNOTATION_REVISION) => {
            &index.annotations
        }
        Manifest::Index(_) => {
            return match client.image(reference) {
                Ok(image) => recorded(&image.manifest.annotations),
                Err(err) => unreadable(&err),
            };
        }
    };
    recorded(annotations)
}

fn recorded(annotations: &std::collections::BTreeMap<String, String>) -> Released {
    match annotations.get(ANNOTATION_REVISION) {
        Some(revision) => Released::Revision(revision.trim().to_string()),
        None => Released::NoRevision,
    }
}
