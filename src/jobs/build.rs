//! The jobs of a build pipeline: the plan job, then per built image `build:<id>`, one
//! `test:<id>:<name>` per test and, when the run releases, `release:<id>`. A child's build
//! waits for its parent's build, a child's release for its parent's release.

use super::template_vars::TestVars;
use super::{JobFactory, JobSpec, PLAN_JOB, build_job_name, release_job_name, test_job_name};
use crate::config::{ImageTest, TestRun};
use crate::gitlab::Stage;
use crate::plan::{BuildPlan, PlannedImage};

impl<'a> JobFactory<'a> {
    pub(super) fn build_pipeline(&self, plan: &BuildPlan) -> Vec<JobSpec<'a>> {
        let mut specs = vec![self.plan_job(&plan.to_text(), plan.built().count())];
        for planned in plan.built() {
            specs.push(self.build_job(planned));
            for test in &planned.image.tests {
                specs.push(self.test_job(planned, test));
            }
            if planned.release {
                specs.push(self.release_job(plan, planned));
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
        spec.vars.image = Some(self.planned_image_vars(planned));
        spec.vars.logins = Some(self.logins([&planned.build_base, &planned.staging_image]));
        spec
    }

    fn test_job(&self, planned: &PlannedImage, test: &ImageTest) -> JobSpec<'a> {
        let id = &planned.image.id;
        let needs = Some(vec![build_job_name(id)]);
        let mut spec = self.spec("test", test_job_name(id, &test.name), Stage::Test, needs);
        spec.vars.image = Some(self.planned_image_vars(planned));
        let (script, command) = match &test.run {
            TestRun::Script(lines) => (Some(lines.clone()), None),
            TestRun::Command(argv) => (None, Some(argv.clone())),
        };
        spec.vars.test = Some(TestVars {
            name: test.name.clone(),
            script,
            command,
        });
        spec
    }

    fn release_job(&self, plan: &BuildPlan, planned: &PlannedImage) -> JobSpec<'a> {
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
            .filter(|p| plan.get(p).is_some_and(|p| p.release))
        {
            needs.push(release_job_name(parent));
        }
        let name = release_job_name(id);
        let mut spec = self.spec("release", name, Stage::Release, Some(needs));
        spec.vars.image = Some(self.planned_image_vars(planned));
        let references =
            std::iter::once(&planned.staging_image).chain(&planned.image.target_locations);
        spec.vars.logins = Some(self.logins(references));
        spec
    }
}
