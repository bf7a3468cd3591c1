//! The jobs of a build pipeline: the plan job, then per built image `build:<id>`, one
//! `test:<id>:<name>` per test, `scan:<id>` for a scanned image and, when the run releases,
//! `release:<id>` (and `sign:<id>` for a signed image; both in `scan_sign`). A child's build
//! waits for its parent's build, a child's release for its parent's release.

//!
//! These jobs share their template-rendered bodies (see [`Body::Shared`]); what differs per
//! image reaches them as the variables of its values ([`ImageValues`], the hidden job
//! `.image:<id>` every job of the image extends):
//!
//! | variable | when |
//! |---|---|
//! | `GIPGEE_IMAGE_ID` | always |
//! | `GIPGEE_IMAGE` | always: the staging image (what the build pushes, the tests run in, the release copies) |
//! | `GIPGEE_BASE_IMAGE` | always: what the build is FROM |
//! | `GIPGEE_CONTEXT` | always |
//! | `GIPGEE_CONTAINERFILE` | when it is not `<context>/Containerfile` |
//! | `GIPGEE_IMAGE_VERSION` | when a target tag is a version |
//! | `GIPGEE_CACHE_REPOSITORY` | with `cache: true` |
//! | `GIPGEE_TARGET_IMAGE_1` … `_N` | when the image is released |
//! | `GIPGEE_SIGN_REPOSITORY_1` … `_N` | when the image is released and signed |
//!
//! A staging reference is anchored under its image's id (see [`Variable::anchor`]): a child's
//! `GIPGEE_BASE_IMAGE` refers to it.

use std::collections::BTreeSet;
use std::rc::Rc;

use super::metadata::image_version;
use super::scan_sign::{RELEASE_DIGEST_FILE, sign_repository_variable, signed_repositories};
use super::template_vars::{BuildVars, ReleaseVars, TargetVars, TestVars};
use super::{
    Body, ImageValues, JobFactory, JobSpec, Owner, PLAN_JOB, Variable, build_job_name,
    platform_test_job_name, release_job_name, scan_job_name, test_job_name,
};
use crate::config::{Image, ImageTest, TestRun};
use crate::gitlab::Stage;
use crate::oci::Platform;
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

/// The repository of an image's build cache: its own, below its staging repository, so that
/// no two images share cached layers.
pub fn cache_repository(planned: &PlannedImage) -> String {
    format!("{}/cache/{}", planned.image.staging, planned.image.id)
}

/// One test job of an image: the test, the platform it runs on (multi-platform images) and
/// the job's name.
struct TestJob<'i> {
    name: String,
    test: &'i ImageTest,
    platform: Option<&'i Platform>,
}

/// Every test job of an image, in test order and, per test, in platform order.
fn test_jobs(image: &Image) -> Vec<TestJob<'_>> {
    let platforms = &image.platforms.list;
    image
        .tests
        .iter()
        .flat_map(|test| match platforms.is_empty() {
            true => vec![TestJob {
                name: test_job_name(&image.id, &test.name),
                test,
                platform: None,
            }],
            false => platforms
                .iter()
                .map(|platform| TestJob {
                    name: platform_test_job_name(&image.id, &test.name, platform),
                    test,
                    platform: Some(platform),
                })
                .collect(),
        })
        .collect()
}

/// The values of an image that its jobs read (see the module documentation).
fn image_values(planned: &PlannedImage) -> ImageValues {
    let image = &planned.image;
    let mut base = Variable::new("GIPGEE_BASE_IMAGE", planned.build_base.to_string());
    if let Some(parent) = planned.parent.as_ref().filter(|_| planned.parent_built) {
        base = base.anchored(parent);
    }
    let mut variables = vec![
        Variable::new("GIPGEE_IMAGE_ID", image.id.as_str()),
        Variable::new("GIPGEE_IMAGE", planned.staging_image.to_string()).anchored(&image.id),
        base,
        Variable::new("GIPGEE_CONTEXT", image.build_context.as_str()),
    ];
    // The build template defaults it to `$GIPGEE_CONTEXT/Containerfile`.
    if !image.has_default_containerfile() {
        variables.push(Variable::new(
            "GIPGEE_CONTAINERFILE",
            image.containerfile.as_str(),
        ));
    }
    if let Some(version) = image_version(&image.target_locations) {
        variables.push(Variable::new(VERSION_VARIABLE, version));
    }
    if image.platforms.cache {
        variables.push(Variable::new(
            "GIPGEE_CACHE_REPOSITORY",
            cache_repository(planned),
        ));
    }
    if planned.release {
        let targets = image.target_locations.iter().enumerate();
        variables.extend(
            targets.map(|(index, target)| {
                Variable::new(target_variable(index + 1), target.to_string())
            }),
        );
        if image.sign.is_some() {
            let repositories = signed_repositories(planned).into_iter().enumerate();
            variables.extend(repositories.map(|(index, repository)| {
                Variable::new(sign_repository_variable(index + 1), repository.name())
            }));
        }
    }
    ImageValues {
        id: image.id.clone(),
        variables,
    }
}

impl<'a> JobFactory<'a> {
    pub(super) fn build_pipeline(&self, plan: &BuildPlan) -> Vec<JobSpec<'a>> {
        let mut specs = vec![self.plan_job(plan.text(), plan.built().count())];
        // Looked up once: asking the plan per image costs quadratic time in large configs.
        let released: BTreeSet<&str> = plan
            .built()
            .filter(|p| p.release)
            .map(|p| p.image.id.as_str())
            .collect();
        for planned in plan.built() {
            let first = specs.len();
            specs.push(self.build_job(planned));
            let tests = test_jobs(planned.image);
            let after_tests = after_tests(planned, &tests);
            for test in tests {
                specs.push(self.test_job(planned, test));
            }
            if planned.image.scan {
                specs.push(self.scan_job(planned, after_tests.clone()));
            }
            if planned.release {
                specs.push(self.release_job(&released, planned, after_tests));
                if let Some(signing) = &planned.image.sign {
                    specs.push(self.sign_job(planned, signing));
                }
            }
            // Every job of the image reads its values and goes to its shard.
            let values = Rc::new(image_values(planned));
            let owner = Owner {
                image: planned.image.id.clone(),
                built_parent: planned.parent.clone().filter(|_| planned.parent_built),
            };
            for spec in &mut specs[first..] {
                spec.body = Body::Shared {
                    image: Rc::clone(&values),
                };
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
        let platforms = &planned.image.platforms;
        spec.vars.build = Some(Box::new(BuildVars {
            args: planned.image.build_args.clone(),
            labels: planned.image.metadata.labels.clone(),
            annotations: planned.image.metadata.annotations.clone(),
            versioned: image_version(&planned.image.target_locations).is_some(),
            base_insecure: self.insecure(planned.build_base.registry()),
            staging_insecure: self.insecure(planned.staging_image.registry()),
            platforms: platforms.list.iter().map(ToString::to_string).collect(),
            cache: platforms.cache,
        }));
        spec.vars.logins = Some(self.logins([&planned.build_base, &planned.staging_image]));
        spec
    }

    fn test_job(&self, planned: &PlannedImage, job: TestJob) -> JobSpec<'a> {
        let id = &planned.image.id;
        let needs = Some(vec![build_job_name(id)]);
        let test = job.test;
        let mut spec = self.spec("test", job.name, Stage::Test, needs);
        let (script, command) = match &test.run {
            TestRun::Script(lines) => (Some(lines.clone()), None),
            TestRun::Command(argv) => (None, Some(argv.clone())),
        };
        // `linux/arm64` finds tags written for `linux/arm64/v8` and the other way round.
        let runner_tags = job.platform.and_then(|platform| {
            let tags = &planned.image.platforms.runner_tags;
            tags.iter()
                .find(|(tagged, _)| tagged.serves(platform) && platform.serves(tagged))
                .map(|(_, tags)| tags)
        });
        spec.vars.test = Some(Box::new(TestVars {
            name: test.name.clone(),
            junit_file: JUNIT_FILE,
            script,
            command,
            platform: job.platform.map(ToString::to_string),
            runner_tags: runner_tags.cloned().unwrap_or_default(),
        }));
        spec
    }

    fn release_job(
        &self,
        released: &BTreeSet<&str>,
        planned: &PlannedImage,
        after_tests: Vec<String>,
    ) -> JobSpec<'a> {
        let id = &planned.image.id;
        // A scan waits for the tests, so a release after the scan needs only the scan: at most
        // 49 tests and the parent's release stay within GitLab's 50 `needs`.
        let mut needs: Vec<String> = match planned.image.scan {
            true => vec![scan_job_name(id)],
            false => after_tests,
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
        spec.vars.release = Some(Box::new(ReleaseVars {
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
            digest_file: planned
                .image
                .sign
                .as_ref()
                .map(|_| RELEASE_DIGEST_FILE.to_string()),
        }));
        let references =
            std::iter::once(&planned.staging_image).chain(&planned.image.target_locations);
        spec.vars.logins = Some(self.logins(references));
        spec
    }
}

/// The jobs that must pass before an image's scan or release: its test jobs, or its build when
/// it has none.
fn after_tests(planned: &PlannedImage, tests: &[TestJob]) -> Vec<String> {
    match tests.is_empty() {
        true => vec![build_job_name(&planned.image.id)],
        false => tests.iter().map(|job| job.name.clone()).collect(),
    }
}
