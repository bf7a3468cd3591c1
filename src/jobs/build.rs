//! The jobs of a build pipeline: the plan job, then per built image `build:<id>`, one
//! `test:<id>:<name>` per test and, when the run releases, `release:<id>`. A child's build
//! waits for its parent's build, a child's release for its parent's release.

//!
//! These jobs share their template-rendered bodies (see [`Body::Shared`]); what differs per
//! image reaches them as variables:
//!
//! | job | variables |
//! |---|---|
//! | build | `GIPGEE_IMAGE_ID`, `GIPGEE_BASE_IMAGE`, `GIPGEE_STAGING_IMAGE`, `GIPGEE_CONTEXT`, `GIPGEE_CONTAINERFILE`, `GIPGEE_IMAGE_VERSION` (when a target tag is a version) |
//! | test | `GIPGEE_IMAGE_ID`, `GIPGEE_IMAGE` (the staging image) |
//! | release | `GIPGEE_IMAGE_ID`, `GIPGEE_STAGING_IMAGE`, `GIPGEE_TARGET_IMAGE_1` … `_N` |

use std::collections::BTreeSet;

use super::metadata::image_version;
use super::template_vars::{BuildVars, ReleaseVars, TargetVars, TestVars};
use super::{
    Body, JobFactory, JobSpec, Owner, PLAN_JOB, build_job_name, release_job_name, test_job_name,
};
use crate::config::{ImageTest, TestRun};
use crate::gitlab::Stage;
use crate::plan::{BuildPlan, PlannedImage};

/// Where a test job's test may write a JUnit report (`GIPGEE_JUNIT_FILE`), relative to the
/// project directory; the job uploads it as its `junit` report.
const JUNIT_FILE: &str = "gipgee-junit.xml";

/// The build job's variable holding the image's version, when its target tags name one.
const VERSION_VARIABLE: &str = "GIPGEE_IMAGE_VERSION";

/// The variable of the `n`th target location (from 1) of a release job.
pub fn target_variable(n: usize) -> String {
    format!("GIPGEE_TARGET_IMAGE_{n}")
}

impl<'a> JobFactory<'a> {
    pub(super) fn build_pipeline(&self, plan: &BuildPlan) -> Vec<JobSpec<'a>> {
        let mut specs = vec![self.plan_job(&plan.to_text(), plan.built().count())];
        // Looked up once: asking the plan per image costs quadratic time in large configs.
        let released: BTreeSet<&str> = plan
            .built()
            .filter(|p| p.release)
            .map(|p| p.image.id.as_str())
            .collect();
        for planned in plan.built() {
            let first = specs.len();
            specs.push(self.build_job(planned));
            for test in &planned.image.tests {
                specs.push(self.test_job(planned, test));
            }
            if planned.release {
                specs.push(self.release_job(&released, planned));
            }
            let owner = Owner {
                image: planned.image.id.clone(),
                built_parent: planned.parent.clone().filter(|_| planned.parent_built),
            };
            for spec in &mut specs[first..] {
                spec.owner = Some(owner.clone());
            }
        }
        specs
    }

    fn build_job(&self, planned: &PlannedImage) -> JobSpec<'a> {
        let needs = match (&planned.parent, planned.parent_built) {
            (Some(parent), true) => vec![build_job_name(parent)],
            _ => vec![PLAN_JOB.to_string()],
        };
        let name = build_job_name(&planned.image.id);
        let mut spec = self.spec("build", name, Stage::Build, Some(needs));
        spec.manual = planned.manual;
        let version = image_version(&planned.image.target_locations);
        spec.vars.build = Some(BuildVars {
            args: planned.image.build_args.clone(),
            labels: planned.image.metadata.labels.clone(),
            annotations: planned.image.metadata.annotations.clone(),
            versioned: version.is_some(),
            base_insecure: self.insecure(planned.build_base.registry()),
            staging_insecure: self.insecure(planned.staging_image.registry()),
        });
        spec.vars.logins = Some(self.logins([&planned.build_base, &planned.staging_image]));
        spec.body = Body::shared(
            vec![
                ("GIPGEE_IMAGE_ID", planned.image.id.clone()),
                ("GIPGEE_BASE_IMAGE", planned.build_base.to_string()),
                ("GIPGEE_STAGING_IMAGE", planned.staging_image.to_string()),
                ("GIPGEE_CONTEXT", planned.image.build_context.clone()),
                ("GIPGEE_CONTAINERFILE", planned.image.containerfile.clone()),
            ]
            .into_iter()
            .chain(version.map(|v| (VERSION_VARIABLE, v.to_string()))),
        );
        spec
    }

    fn test_job(&self, planned: &PlannedImage, test: &ImageTest) -> JobSpec<'a> {
        let id = &planned.image.id;
        let needs = Some(vec![build_job_name(id)]);
        let mut spec = self.spec("test", test_job_name(id, &test.name), Stage::Test, needs);
        spec.body = Body::shared(vec![
            ("GIPGEE_IMAGE_ID", id.clone()),
            ("GIPGEE_IMAGE", planned.staging_image.to_string()),
        ]);
        let (script, command) = match &test.run {
            TestRun::Script(lines) => (Some(lines.clone()), None),
            TestRun::Command(argv) => (None, Some(argv.clone())),
        };
        spec.vars.test = Some(TestVars {
            name: test.name.clone(),
            junit_file: JUNIT_FILE,
            script,
            command,
        });
        spec
    }

    fn release_job(&self, released: &BTreeSet<&str>, planned: &PlannedImage) -> JobSpec<'a> {
        let id = &planned.image.id;
        let mut needs: Vec<String> = match planned.image.tests.is_empty() {
            true => vec![build_job_name(id)],
            false => planned
                .image
                .tests
                .iter()
                .map(|t| test_job_name(id, &t.name))
                .collect(),
        };
        if let Some(parent) = planned
            .parent
            .as_ref()
            .filter(|p| released.contains(p.as_str()))
        {
            needs.push(release_job_name(parent));
        }
        let name = release_job_name(id);
        let mut spec = self.spec("release", name, Stage::Release, Some(needs));
        let targets = &planned.image.target_locations;
        spec.vars.release = Some(ReleaseVars {
            staging_insecure: self.insecure(planned.staging_image.registry()),
            targets: targets
                .iter()
                .enumerate()
                .map(|(index, target)| TargetVars {
                    variable: target_variable(index + 1),
                    insecure: self.insecure(target.registry()),
                    immutable: planned.image.immutable_targets.contains(target),
                })
                .collect(),
        });
        let names: Vec<String> = (1..=targets.len()).map(target_variable).collect();
        let fixed = [
            ("GIPGEE_IMAGE_ID", id.clone()),
            ("GIPGEE_STAGING_IMAGE", planned.staging_image.to_string()),
        ];
        let per_target = names
            .iter()
            .map(String::as_str)
            .zip(targets.iter().map(ToString::to_string));
        spec.body = Body::shared(fixed.into_iter().chain(per_target));
        let references =
            std::iter::once(&planned.staging_image).chain(&planned.image.target_locations);
        spec.vars.logins = Some(self.logins(references));
        spec
    }
}
