//! From the plan to jobs: the context every template receives (documented in the README,
//! checked by a test), the job names and their `needs`. No YAML is written here.

use std::collections::BTreeMap;

use serde::Serialize;

mod update_check;

use crate::config::{Config, TestRun};
use crate::context::Trigger;
use crate::error::Error;
use crate::oci::Reference;
use crate::pipeline;
use crate::plan::{Plan, PlannedImage};
use crate::render::Templates;
use crate::vars::Vars;

pub const PLAN_JOB: &str = "gipgee:plan";

/// Images for the jobs gipgee generates, from `GIPGEE_*_IMAGE` variables at generation time.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Settings {
    pub buildah_image: String,
    pub skopeo_image: String,
    pub plan_image: String,
    /// The gipgee image (layer check, evaluate); the component passes its own.
    pub gipgee_image: String,
    /// `--templates DIR`, passed on to the rebuild pipeline's generation; empty when none.
    pub templates_dir: String,
}

impl Settings {
    pub fn from_vars(vars: &Vars) -> Settings {
        let pick = |name: &str, default: &str| vars.get(name).unwrap_or(default).to_string();
        Settings {
            buildah_image: pick("GIPGEE_BUILDAH_IMAGE", "quay.io/buildah/stable:v1.38"),
            skopeo_image: pick("GIPGEE_SKOPEO_IMAGE", "quay.io/skopeo/stable:v1.17"),
            plan_image: pick("GIPGEE_PLAN_IMAGE", "busybox:1.37"),
            gipgee_image: pick(
                "GIPGEE_TOOL_IMAGE",
                concat!(
                    "registry.gitlab.com/gipgee/gipgee:",
                    env!("CARGO_PKG_VERSION")
                ),
            ),
            templates_dir: pick("GIPGEE_TEMPLATES_DIR", ""),
        }
    }
}

/// A pipeline stage, in run order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    Plan,
    Build,
    Test,
    Release,
    Check,
    Evaluate,
    Rebuild,
    Verdict,
}

impl Stage {
    /// The stages of a build pipeline.
    pub const BUILD: &[Stage] = &[Stage::Plan, Stage::Build, Stage::Test, Stage::Release];
    /// The stages of a scheduled update-check pipeline.
    pub const UPDATE_CHECK: &[Stage] = &[
        Stage::Plan,
        Stage::Check,
        Stage::Evaluate,
        Stage::Rebuild,
        Stage::Verdict,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Plan => "gipgee-plan",
            Stage::Build => "gipgee-build",
            Stage::Test => "gipgee-test",
            Stage::Release => "gipgee-release",
            Stage::Check => "gipgee-check",
            Stage::Evaluate => "gipgee-evaluate",
            Stage::Rebuild => "gipgee-rebuild",
            Stage::Verdict => "gipgee-verdict",
        }
    }
}

/// One rendered job, before it is placed in the pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub name: String,
    pub stage: Stage,
    /// `None`: no `needs`, the job waits for every earlier stage (fan-in through stages).
    pub needs: Option<Vec<String>>,
    pub manual: bool,
    pub body: serde_yaml::Mapping,
}

// ---- the template context -------------------------------------------------------------

#[derive(Serialize)]
struct TemplateContext<'a> {
    gipgee: GipgeeInfo,
    pipeline: PipelineInfo,
    settings: &'a Settings,
    job: JobInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<ImageInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    test: Option<TestInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logins: Option<Vec<Login>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    plan: Option<PlanInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    files: Option<update_check::Files>,
    #[serde(skip_serializing_if = "Option::is_none")]
    check: Option<update_check::CheckInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trigger: Option<update_check::TriggerInfo>,
}

#[derive(Serialize, Clone)]
struct GipgeeInfo {
    version: &'static str,
}

#[derive(Serialize, Clone)]
struct PipelineInfo {
    config: String,
    commit_sha: String,
    pipeline_id: String,
    context: String,
    releases: bool,
}

#[derive(Serialize)]
struct JobInfo {
    name: String,
    stage: &'static str,
}

#[derive(Serialize)]
struct ReferenceInfo {
    full: String,
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
    insecure: bool,
}

#[derive(Serialize)]
struct ImageInfo {
    id: String,
    base_image: ReferenceInfo,
    build_base: ReferenceInfo,
    staging_image: ReferenceInfo,
    target_locations: Vec<ReferenceInfo>,
    containerfile: String,
    context: String,
    build_args: BTreeMap<String, String>,
    builder: String,
    parent: Option<String>,
    parent_built: bool,
    release: bool,
    test_names: Vec<String>,
}

#[derive(Serialize)]
struct TestInfo {
    name: String,
    script: Option<Vec<String>>,
    command: Option<Vec<String>>,
}

#[derive(Serialize, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Login {
    host: String,
    username_variable: String,
    password_variable: String,
    insecure: bool,
}

#[derive(Serialize)]
struct PlanInfo {
    lines: Vec<String>,
    built: usize,
}

/// A job before rendering: which template, with which context.
struct JobSpec<'a> {
    kind: &'static str,
    name: String,
    stage: Stage,
    needs: Option<Vec<String>>,
    manual: bool,
    context: TemplateContext<'a>,
}

/// Renders every job of a build pipeline, plus the hidden jobs they extend.
pub struct JobBuilder<'a> {
    config: &'a Config,
    config_path: String,
    plan: &'a Plan,
    templates: &'a Templates,
    settings: Settings,
    ci_registry: Option<String>,
}

impl<'a> JobBuilder<'a> {
    pub fn new(
        config: &'a Config,
        config_path: &std::path::Path,
        plan: &'a Plan,
        templates: &'a Templates,
        vars: &Vars,
    ) -> Self {
        JobBuilder {
            config,
            config_path: config_path.display().to_string(),
            plan,
            templates,
            settings: Settings::from_vars(vars),
            ci_registry: vars.get("CI_REGISTRY").map(str::to_string),
        }
    }

    /// The hidden jobs (`.gipgee-*`) the other jobs extend.
    pub fn hidden_jobs(&self) -> Result<serde_yaml::Mapping, Error> {
        self.templates.render(
            "common",
            "",
            &self.common_context(),
            pipeline::check_hidden_jobs,
        )
    }

    /// Every job of the pipeline, rendered, in pipeline order.
    pub fn jobs(&self) -> Result<Vec<Job>, Error> {
        self.specs()
            .into_iter()
            .map(|spec| {
                Ok(Job {
                    body: self.templates.render(
                        spec.kind,
                        &spec.name,
                        &spec.context,
                        pipeline::check_job,
                    )?,
                    name: spec.name,
                    stage: spec.stage,
                    needs: spec.needs,
                    manual: spec.manual,
                })
            })
            .collect()
    }

    /// What each template receives, as JSON, by template kind and job name: the documented
    /// template context (README), checked by a test.
    pub fn template_contexts(&self) -> Vec<(&'static str, String, serde_json::Value)> {
        let common = (
            "common",
            String::new(),
            serde_json::to_value(self.common_context()).unwrap_or_default(),
        );
        std::iter::once(common)
            .chain(self.specs().into_iter().map(|spec| {
                (
                    spec.kind,
                    spec.name,
                    serde_json::to_value(&spec.context).unwrap_or_default(),
                )
            }))
            .collect()
    }

    /// The stages of this pipeline.
    pub fn stages(&self) -> &'static [Stage] {
        match self.plan.context.trigger {
            Trigger::Schedule => Stage::UPDATE_CHECK,
            _ => Stage::BUILD,
        }
    }

    fn specs(&self) -> Vec<JobSpec<'_>> {
        if self.plan.context.trigger == Trigger::Schedule {
            return self.update_check_specs();
        }
        let mut specs = vec![self.plan_spec()];
        for planned in self.plan.built() {
            specs.push(self.build_spec(planned));
            for test in &planned.image.tests {
                specs.push(self.test_spec(planned, test));
            }
            if planned.release {
                specs.push(self.release_spec(planned));
            }
        }
        specs
    }

    fn common_context(&self) -> TemplateContext<'_> {
        self.context(JobInfo {
            name: String::new(),
            stage: "",
        })
    }

    fn context(&self, job: JobInfo) -> TemplateContext<'_> {
        TemplateContext {
            gipgee: GipgeeInfo {
                version: env!("CARGO_PKG_VERSION"),
            },
            pipeline: PipelineInfo {
                config: self.config_path.clone(),
                commit_sha: self.plan.context.commit_sha.clone(),
                pipeline_id: self.plan.context.pipeline_id.clone(),
                context: self.plan.context.describe(),
                releases: self.plan.context.releases(),
            },
            settings: &self.settings,
            job,
            image: None,
            test: None,
            logins: None,
            plan: None,
            files: None,
            check: None,
            trigger: None,
        }
    }

    fn spec(
        &self,
        kind: &'static str,
        name: String,
        stage: Stage,
        needs: Option<Vec<String>>,
        manual: bool,
    ) -> JobSpec<'_> {
        let context = self.context(JobInfo {
            name: name.clone(),
            stage: stage.name(),
        });
        JobSpec {
            kind,
            name,
            stage,
            needs,
            manual,
            context,
        }
    }

    fn plan_spec(&self) -> JobSpec<'_> {
        let mut spec = self.spec("plan", PLAN_JOB.to_string(), Stage::Plan, None, false);
        let lines = self.plan.to_text().lines().map(str::to_string).collect();
        spec.context.plan = Some(PlanInfo {
            lines,
            built: self.plan.built().count(),
        });
        spec
    }

    fn build_spec(&self, planned: &PlannedImage) -> JobSpec<'_> {
        let needs = match (&planned.parent, planned.parent_built) {
            (Some(parent), true) => vec![build_job_name(parent)],
            _ => vec![PLAN_JOB.to_string()],
        };
        let name = build_job_name(&planned.image.id);
        let mut spec = self.spec("build", name, Stage::Build, Some(needs), planned.manual);
        spec.context.image = Some(self.image_info(planned));
        spec.context.logins = Some(self.logins([&planned.build_base, &planned.staging_image]));
        spec
    }

    fn test_spec(&self, planned: &PlannedImage, test: &crate::config::ImageTest) -> JobSpec<'_> {
        let id = &planned.image.id;
        let mut spec = self.spec(
            "test",
            test_job_name(id, &test.name),
            Stage::Test,
            Some(vec![build_job_name(id)]),
            false,
        );
        spec.context.image = Some(self.image_info(planned));
        let (script, command) = match &test.run {
            TestRun::Script(lines) => (Some(lines.clone()), None),
            TestRun::Command(argv) => (None, Some(argv.clone())),
        };
        spec.context.test = Some(TestInfo {
            name: test.name.clone(),
            script,
            command,
        });
        spec
    }

    fn release_spec(&self, planned: &PlannedImage) -> JobSpec<'_> {
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
            .filter(|p| self.plan.get(p).is_some_and(|p| p.release))
        {
            needs.push(release_job_name(parent));
        }
        let mut spec = self.spec(
            "release",
            release_job_name(id),
            Stage::Release,
            Some(needs),
            false,
        );
        spec.context.image = Some(self.image_info(planned));
        let references =
            std::iter::once(&planned.staging_image).chain(&planned.image.target_locations);
        spec.context.logins = Some(self.logins(references));
        spec
    }

    fn image_info(&self, planned: &PlannedImage) -> ImageInfo {
        let image = &planned.image;
        ImageInfo {
            id: image.id.clone(),
            base_image: self.reference_info(&image.base_image),
            build_base: self.reference_info(&planned.build_base),
            staging_image: self.reference_info(&planned.staging_image),
            target_locations: image
                .target_locations
                .iter()
                .map(|r| self.reference_info(r))
                .collect(),
            containerfile: image.containerfile.clone(),
            context: image.context.clone(),
            build_args: image.build_args.clone(),
            builder: image.builder.clone(),
            parent: planned.parent.clone(),
            parent_built: planned.parent_built,
            release: planned.release,
            test_names: image.tests.iter().map(|t| t.name.clone()).collect(),
        }
    }

    fn reference_info(&self, reference: &Reference) -> ReferenceInfo {
        ReferenceInfo {
            full: reference.to_string(),
            registry: reference.registry().to_string(),
            repository: reference.repository().to_string(),
            tag: reference.tag().map(str::to_string),
            digest: reference.digest().map(ToString::to_string),
            insecure: self.insecure(reference.registry()),
        }
    }

    fn insecure(&self, host: &str) -> bool {
        self.config.registries.get(host).is_some_and(|r| r.insecure)
    }

    /// The registry logins a job needs for these references: configured credential variables,
    /// or the job token for `$CI_REGISTRY`. Only variable names, never values.
    fn logins<'r>(&self, references: impl IntoIterator<Item = &'r Reference>) -> Vec<Login> {
        let mut logins: Vec<Login> = references
            .into_iter()
            .filter_map(|reference| self.login(reference.registry()))
            .collect();
        logins.sort();
        logins.dedup();
        logins
    }

    fn login(&self, host: &str) -> Option<Login> {
        let configured = self.config.registries.get(host);
        let variables = configured
            .and_then(|r| Some((r.username_variable.clone()?, r.password_variable.clone()?)))
            .or_else(|| {
                (self.ci_registry.as_deref() == Some(host)).then(|| {
                    (
                        "CI_REGISTRY_USER".to_string(),
                        "CI_REGISTRY_PASSWORD".to_string(),
                    )
                })
            })?;
        Some(Login {
            host: host.to_string(),
            username_variable: variables.0,
            password_variable: variables.1,
            insecure: self.insecure(host),
        })
    }
}

pub fn build_job_name(id: &str) -> String {
    format!("build:{id}")
}

pub fn test_job_name(id: &str, test: &str) -> String {
    format!("test:{id}:{test}")
}

pub fn release_job_name(id: &str) -> String {
    format!("release:{id}")
}
