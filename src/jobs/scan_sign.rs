//! The optional jobs around a release (images with `scan` or `sign` in gipgee.yaml):
//! `scan:<id>` scans the staging image after its tests and gates its release, `sign:<id>` signs
//! the released image after its release. Both share their template-rendered bodies like build,
//! test and release jobs (see [`super::Body::Shared`]) and read their image's values like them:
//! `GIPGEE_IMAGE` (the staging image) and, for a sign job, `GIPGEE_SIGN_REPOSITORY_1` … `_N`
//! (the distinct repositories of the target locations); `GIPGEE_RELEASED_DIGEST` comes from
//! the release job's dotenv report.

use super::template_vars::{RepositoryVars, ScanVars, SignVars};
use super::{JobFactory, JobSpec, release_job_name, scan_job_name, sign_job_name};
use crate::config::Signing;
use crate::gitlab::Stage;
use crate::oci::Repository;
use crate::plan::PlannedImage;

/// The container-scanning report a scan job writes (GitLab's Security tab reads it).
pub const SCAN_REPORT: &str = "gl-container-scanning-report.json";
/// The CycloneDX SBOM a scan job writes, which the sign job attests.
pub const SBOM_FILE: &str = "gipgee-sbom.cdx.json";
/// The dotenv report of a release job of a signed image: `GIPGEE_RELEASED_DIGEST=<digest>`.
pub const RELEASE_DIGEST_FILE: &str = "gipgee-release.env";

/// The variable of the `n`th repository (from 1) a sign job signs in.
pub fn sign_repository_variable(n: usize) -> String {
    format!("GIPGEE_SIGN_REPOSITORY_{n}")
}

impl<'a> JobFactory<'a> {
    /// `scan:<id>`, after `after` (the image's tests, or its build when it has none).
    pub(super) fn scan_job(&self, planned: &PlannedImage, after: Vec<String>) -> JobSpec<'a> {
        let name = scan_job_name(&planned.image.id);
        let mut spec = self.spec("scan", name, Stage::Scan, Some(after));
        spec.vars.scan = Some(Box::new(ScanVars {
            staging_insecure: self.insecure(planned.staging_image.registry()),
            report: SCAN_REPORT.into(),
            sbom: SBOM_FILE.into(),
        }));
        spec.vars.logins = Some(self.logins([&planned.staging_image]));
        spec
    }

    /// `sign:<id>`, after the image's release (whose dotenv report holds the released digest)
    /// and its scan, when it has one (whose SBOM it attests).
    pub(super) fn sign_job(&self, planned: &PlannedImage, signing: &Signing) -> JobSpec<'a> {
        let id = &planned.image.id;
        let mut needs = vec![release_job_name(id)];
        if planned.image.scan {
            needs.push(scan_job_name(id));
        }
        let mut spec = self.spec("sign", sign_job_name(id), Stage::Sign, Some(needs));
        let repositories = signed_repositories(planned);
        let (key_variable, password_variable) = match signing {
            Signing::Keyless => (None, None),
            Signing::Key {
                key_variable,
                password_variable,
            } => (Some(key_variable.clone()), password_variable.clone()),
        };
        spec.vars.sign = Some(Box::new(SignVars {
            keyless: *signing == Signing::Keyless,
            key_variable,
            password_variable,
            repositories: repositories
                .iter()
                .enumerate()
                .map(|(index, repository)| RepositoryVars {
                    variable: sign_repository_variable(index + 1),
                    insecure: self.insecure(repository.registry()),
                })
                .collect(),
            sbom: planned.image.scan.then(|| SBOM_FILE.to_string()),
        }));
        spec.vars.logins = Some(self.logins(&planned.image.target_locations));
        spec
    }
}

/// The repositories of an image's target locations, each once, in order: a signature is
/// stored per repository and digest, so two tags in one repository are signed once.
pub(super) fn signed_repositories(planned: &PlannedImage) -> Vec<Repository> {
    let mut repositories: Vec<Repository> = Vec::new();
    for target in &planned.image.target_locations {
        let repository = target.to_repository();
        if !repositories.contains(&repository) {
            repositories.push(repository);
        }
    }
    repositories
}
