//! Reading the commit a released image was built from, for the plan's released-revision rule
//! ([`crate::plan::released`]): one manifest GET per image through the registry client, many
//! images at once. The revision is the manifest annotation `org.opencontainers.image.revision`
//! that the build job writes (buildah keeps it through push, skopeo through copy); the config
//! label of the same name is not read, as it would cost a second request per image.

use std::collections::BTreeMap;

use crate::error::explain_registry_error as explain;
use crate::oci::{Manifest, Reference, canonical_host};
use crate::plan::{Released, ReleasedRevisions};
use crate::registry::{Client, ErrorKind, RegistryError, parallel_map};

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
            Ok(client) => read_all(client, references),
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

/// Reads every reference, in parallel. One reference per registry is read first: a registry
/// that is down or unreachable then costs one reference's retries, not one per image, and
/// its other images share its answer.
fn read_all(client: &Client, references: &[Reference]) -> Vec<Released> {
    client.expect_repositories(references);
    let mut first_of: BTreeMap<String, usize> = BTreeMap::new();
    for (index, reference) in references.iter().enumerate() {
        first_of
            .entry(canonical_host(reference.registry()))
            .or_insert(index);
    }
    let firsts: Vec<usize> = first_of.values().copied().collect();
    let first_answers = parallel_map(&firsts, WORKERS, |&index| {
        read_one(client, &references[index])
    });
    let mut answers: Vec<Option<Released>> = vec![None; references.len()];
    let mut host_down: BTreeMap<String, Released> = BTreeMap::new();
    for (&index, (answer, down)) in firsts.iter().zip(first_answers) {
        if down {
            host_down.insert(canonical_host(references[index].registry()), answer.clone());
        }
        answers[index] = Some(answer);
    }
    let rest: Vec<usize> = (0..references.len())
        .filter(|&index| answers[index].is_none())
        .collect();
    let rest_answers = parallel_map(&rest, WORKERS, |&index| {
        let reference = &references[index];
        match host_down.get(&canonical_host(reference.registry())) {
            Some(answer) => answer.clone(),
            None => read_one(client, reference).0,
        }
    });
    for (index, answer) in rest.into_iter().zip(rest_answers) {
        answers[index] = Some(answer);
    }
    answers.into_iter().flatten().collect()
}

/// [`revision_of`], and whether the failure concerns the whole registry (no connection, TLS,
/// a server error after retries) rather than this image.
fn read_one(client: &Client, reference: &Reference) -> (Released, bool) {
    match revision_of(client, reference) {
        Err(err) => {
            let whole_registry = matches!(err.kind, ErrorKind::Transport(_) | ErrorKind::Tls(_))
                || matches!(err.kind, ErrorKind::Status { status, .. } if status >= 500);
            let answer = Released::Unreadable {
                registry: err.registry.clone(),
                reason: explain(&err),
            };
            (answer, whole_registry)
        }
        Ok(answer) => (answer, false),
    }
}

/// What the image at `reference` records. An index is read for its own annotation first, then
/// for its entry of the client's platform (one more request): builders annotate the image
/// manifests, and some the index too.
/// `Err`: the registry could not be read; a missing manifest is [`Released::NotReleased`].
pub fn revision_of(client: &Client, reference: &Reference) -> Result<Released, RegistryError> {
    let not_found = |err: RegistryError| match err.kind {
        ErrorKind::NotFound => Ok(Released::NotReleased),
        _ => Err(err),
    };
    let top = match client.manifest(reference) {
        Ok(top) => top,
        Err(err) => return not_found(err),
    };
    Ok(match &top.manifest {
        Manifest::Image(image) => recorded(&image.annotations),
        Manifest::Index(index) if index.annotations.contains_key(ANNOTATION_REVISION) => {
            recorded(&index.annotations)
        }
        Manifest::Index(_) => match client.image(reference) {
            Ok(image) => recorded(&image.manifest.annotations),
            Err(err) => return not_found(err),
        },
    })
}

fn recorded(annotations: &BTreeMap<String, String>) -> Released {
    match annotations.get(ANNOTATION_REVISION) {
        Some(revision) => Released::Revision(revision.trim().to_string()),
        None => Released::NoRevision,
    }
}
