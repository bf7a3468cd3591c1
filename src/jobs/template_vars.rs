//! What a job template receives: the template context. Every variable here is documented in
//! README (the "Template context" table) for the template kinds that receive it, and a test
//! keeps the two in step, so a custom template can rely on it. Only variable *names* of
//! credentials are ever passed, never a value.

mod key;

use std::collections::BTreeMap;
use std::rc::Rc;

use serde::Serialize;

use crate::config::Image;
use crate::environment::{JobImages, PipelineRun, Settings, credentials};
use crate::gitlab::Stage;
use crate::oci::Reference;
use crate::results::{
    BINARY_DIR, ERRORS_FILE, LAYER_CHECK_FILE, REBUILD_PIPELINE, REBUILD_SHARD_PIPELINES, REPORT,
    RESULTS_DIR, SUMMARY_FILE,
};

/// The variables of one template. The parts only some kinds of job have are boxed: a large
/// pipeline holds thousands of these at once, each with one or two of them.
#[derive(Debug, Serialize)]
pub struct TemplateVars<'a> {
    pub gipgee: GipgeeVars,
    /// `pipeline` and `settings` are alike for every job of a pipeline: made once and shared
    /// (see [`RunVars`]).
    pub pipeline: Rc<PipelineVars>,
    pub settings: Rc<SettingsVars<'a>>,
    pub job: JobVars,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<Box<ImageVars>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<Box<BuildVars>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<Box<TestVars>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<Box<ReleaseVars>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan: Option<Box<ScanVars>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sign: Option<Box<SignVars>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logins: Option<Vec<Login>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<Box<PlanVars>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Box<Files>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<Box<CheckVars>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Box<TriggerVars>>,
    /// The checks of an `update-check:batch:<k>` job, in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<Vec<BatchCheck>>,
}

impl<'a> TemplateVars<'a> {
    pub(super) fn new(run: &RunVars<'a>, job: JobVars) -> Self {
        TemplateVars {
            gipgee: GipgeeVars {
                version: env!("CARGO_PKG_VERSION"),
            },
            pipeline: Rc::clone(&run.pipeline),
            settings: Rc::clone(&run.settings),
            job,
            image: None,
            build: None,
            test: None,
            release: None,
            scan: None,
            sign: None,
            logins: None,
            plan: None,
            files: None,
            check: None,
            trigger: None,
            batch: None,
        }
    }
}

/// The template variables of the pipeline run and of the settings, made once per pipeline:
/// every job receives them alike, and a large pipeline has thousands of jobs.
#[derive(Debug)]
pub struct RunVars<'a> {
    pipeline: Rc<PipelineVars>,
    settings: Rc<SettingsVars<'a>>,
}

impl<'a> RunVars<'a> {
    pub(super) fn new(settings: &'a Settings, run: &PipelineRun) -> Self {
        RunVars {
            pipeline: Rc::new(PipelineVars {
                config: settings.config.display().to_string(),
                commit_sha: run.commit_sha.clone(),
                pipeline_id: run.pipeline_id.clone(),
                run: run.describe(),
                releases: run.releases(),
            }),
            settings: Rc::new(SettingsVars {
                images: &settings.job_images,
                templates_dir: settings
                    .templates_dir
                    .as_ref()
                    .map(|dir| dir.display().to_string())
                    .unwrap_or_default(),
                max_jobs: settings.limits.max_jobs,
                max_yaml_bytes: settings.limits.max_yaml_bytes,
            }),
        }
    }
}

impl TemplateVars<'_> {
    /// What tells the shared bodies of two jobs of one kind apart: every variable that can
    /// differ between jobs of one pipeline, except the job's own name and stage (a shared body
    /// is rendered as its hidden job). Text, so it can key a map.
    pub fn shared_key(&self) -> String {
        // Its own list of the parts, not `TemplateVars` itself: there an absent part is skipped,
        // and as the key names no field, `(Some(x), None)` and `(None, Some(x))` would be one.
        #[derive(Serialize)]
        struct Key<'k> {
            image: &'k Option<Box<ImageVars>>,
            build: &'k Option<Box<BuildVars>>,
            test: &'k Option<Box<TestVars>>,
            release: &'k Option<Box<ReleaseVars>>,
            scan: &'k Option<Box<ScanVars>>,
            sign: &'k Option<Box<SignVars>>,
            logins: &'k Option<Vec<Login>>,
            plan: &'k Option<Box<PlanVars>>,
            files: &'k Option<Box<Files>>,
            check: &'k Option<Box<CheckVars>>,
            trigger: &'k Option<Box<TriggerVars>>,
            batch: &'k Option<Vec<BatchCheck>>,
        }
        let key = Key {
            image: &self.image,
            build: &self.build,
            test: &self.test,
            release: &self.release,
            scan: &self.scan,
            sign: &self.sign,
            logins: &self.logins,
            plan: &self.plan,
            files: &self.files,
            check: &self.check,
            trigger: &self.trigger,
            batch: &self.batch,
        };
        key::to_key(&key)
    }
}

#[derive(Debug, Serialize)]
pub struct GipgeeVars {
    version: &'static str,
}

#[derive(Debug, Serialize)]
pub struct PipelineVars {
    config: String,
    commit_sha: String,
    pipeline_id: String,
    /// The pipeline run, in words (as in the plan's first line).
    run: String,
    releases: bool,
}

#[derive(Debug, Serialize)]
pub struct SettingsVars<'a> {
    #[serde(flatten)]
    images: &'a JobImages,
    /// `--templates DIR`, passed on to the rebuild pipeline's generation; empty when none.
    templates_dir: String,
    /// The pipeline limits (`GIPGEE_MAX_JOBS`, `GIPGEE_MAX_YAML_BYTES`), passed on to the
    /// rebuild's generation.
    max_jobs: usize,
    max_yaml_bytes: usize,
}

#[derive(Debug, Default, Serialize)]
pub struct JobVars {
    name: String,
    stage: &'static str,
}

impl JobVars {
    pub fn new(name: &str, stage: Stage) -> JobVars {
        JobVars {
            name: name.to_string(),
            stage: stage.name(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ReferenceVars {
    full: String,
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
    insecure: bool,
}

/// The configured image (update-check jobs).
#[derive(Debug, Serialize)]
pub struct ImageVars {
    id: String,
    base_image: ReferenceVars,
    target_locations: Vec<ReferenceVars>,
    containerfile: String,
    context: String,
    build_args: BTreeMap<String, String>,
    builder: String,
    parent: Option<String>,
    test_names: Vec<String>,
}

/// What the shared body of build jobs varies by (besides `logins`): images alike in these
/// share one hidden job; everything else of an image reaches its job as variables.
#[derive(Debug, Serialize)]
pub struct BuildVars {
    pub(super) args: BTreeMap<String, String>,
    /// The user's `labels` and `annotations`, written after gipgee's own.
    pub(super) labels: BTreeMap<String, String>,
    pub(super) annotations: BTreeMap<String, String>,
    /// Whether a target tag is a version: the job's `GIPGEE_IMAGE_VERSION` holds it.
    pub(super) versioned: bool,
    pub(super) base_insecure: bool,
    pub(super) staging_insecure: bool,
    /// The platforms of a multi-platform image (`linux/arm64`, …); empty: one image for the
    /// runner's platform.
    pub(super) platforms: Vec<String>,
    /// Whether the build uses the image's registry cache (`GIPGEE_CACHE_REPOSITORY`).
    pub(super) cache: bool,
}

/// What the shared body of release jobs varies by (besides `logins`).
#[derive(Debug, Serialize)]
pub struct ReleaseVars {
    pub(super) staging_insecure: bool,
    /// One per target location, in order: the job variable holding it and its registry's
    /// `insecure`.
    pub(super) targets: Vec<TargetVars>,
    /// When the image is signed: the dotenv file (a `reports: dotenv` artifact) the release
    /// writes `GIPGEE_RELEASED_DIGEST` into, which the sign job receives.
    pub(super) digest_file: Option<String>,
}

/// What the shared body of scan jobs varies by (besides `logins`).
#[derive(Debug, Serialize)]
pub struct ScanVars {
    pub(super) staging_insecure: bool,
    /// The GitLab container-scanning report the scan writes.
    pub(super) report: String,
    /// The CycloneDX SBOM the scan writes, which the sign job attests.
    pub(super) sbom: String,
}

/// What the shared body of sign jobs varies by (besides `logins`).
#[derive(Debug, Serialize)]
pub struct SignVars {
    /// Keyless signing with the job's GitLab ID token (audience `sigstore`).
    pub(super) keyless: bool,
    /// The variable holding the private key (its name), for signing with a key.
    pub(super) key_variable: Option<String>,
    /// The variable holding the key's password (its name), if any.
    pub(super) password_variable: Option<String>,
    /// One per distinct repository of the target locations, in order: the job variable
    /// holding it and its registry's `insecure`.
    pub(super) repositories: Vec<RepositoryVars>,
    /// The SBOM of the scan to attest (an artifact of `scan:<id>`), when the image is scanned.
    pub(super) sbom: Option<String>,
}

impl ImageVars {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The configured parent image, if any.
    pub fn parent(&self) -> Option<&str> {
        self.parent.as_deref()
    }
}

/// A repository the sign job signs in: the job variable holding it and its registry's
/// `insecure`.
#[derive(Debug, Serialize)]
pub struct RepositoryVars {
    pub(super) variable: String,
    pub(super) insecure: bool,
}

#[derive(Debug, Serialize)]
pub struct TargetVars {
    pub(super) variable: String,
    pub(super) insecure: bool,
    /// The release may create this target but never move it to another image.
    pub(super) immutable: bool,
}

#[derive(Debug, Serialize)]
pub struct TestVars {
    pub(super) name: String,
    /// Where a test may write its JUnit report, relative to the project directory.
    pub(super) junit_file: &'static str,
    pub(super) script: Option<Vec<String>>,
    pub(super) command: Option<Vec<String>>,
    /// The platform this job tests, for a multi-platform image.
    pub(super) platform: Option<String>,
    /// The runner tags of that platform (`runnerTags`); empty: the default runner.
    pub(super) runner_tags: Vec<String>,
}

#[derive(Debug, Serialize, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Login {
    host: String,
    username_variable: String,
    password_variable: String,
    insecure: bool,
}

#[derive(Debug, Serialize)]
pub struct PlanVars {
    pub(super) lines: Vec<String>,
    pub(super) built: usize,
}

/// Where the update-check jobs leave their results (all relative to the project directory).
#[derive(Debug, Serialize)]
pub struct Files {
    results_dir: String,
    binary_dir: String,
    layer_check: String,
    errors: String,
    summary: String,
    rebuild_pipeline: String,
    report: String,
    /// When the rebuild is sharded: the layout `evaluate` reads (`--rebuild-layout`) and the
    /// files it writes, one per shard (a glob); none otherwise.
    rebuild_layout: Option<String>,
    rebuild_pipelines: Option<String>,
}

impl Files {
    pub(super) fn new() -> Files {
        Files {
            results_dir: RESULTS_DIR.into(),
            binary_dir: BINARY_DIR.into(),
            layer_check: format!("{RESULTS_DIR}/{LAYER_CHECK_FILE}"),
            errors: format!("{RESULTS_DIR}/{ERRORS_FILE}"),
            summary: format!("{RESULTS_DIR}/{SUMMARY_FILE}"),
            rebuild_pipeline: REBUILD_PIPELINE.into(),
            report: REPORT.into(),
            rebuild_layout: None,
            rebuild_pipelines: None,
        }
    }

    /// The files of a rebuild sharded by the layout in `layout_file`.
    pub(super) fn shard_rebuild(&mut self, layout_file: &str) {
        self.rebuild_layout = Some(layout_file.to_string());
        self.rebuild_pipelines = Some(REBUILD_SHARD_PIPELINES.into());
    }
}

/// One check of an `update-check:batch:<k>` job: the image and what its own job would check.
#[derive(Debug, Serialize)]
pub struct BatchCheck {
    pub(super) image_id: String,
    #[serde(flatten)]
    pub(super) check: CheckVars,
}

/// What one `update-check:<id>` job checks and where it writes.
#[derive(Debug, Serialize)]
pub struct CheckVars {
    /// The released image the job runs in (the first target location).
    pub(super) image: ReferenceVars,
    /// The user's check command, or none for the built-in `auto` check.
    pub(super) command: Option<Vec<String>>,
    pub(super) result_file: String,
    pub(super) error_file: String,
}

#[derive(Debug, Serialize)]
pub struct TriggerVars {
    pub(super) artifact: String,
    pub(super) job: String,
}

/// Template variables that depend on the configuration (registry settings).
impl super::JobFactory<'_> {
    pub(super) fn image_vars(&self, image: &Image, parent: Option<&str>) -> ImageVars {
        ImageVars {
            id: image.id.clone(),
            base_image: self.reference_vars(&image.base_image),
            target_locations: image
                .target_locations
                .iter()
                .map(|r| self.reference_vars(r))
                .collect(),
            containerfile: image.containerfile.clone(),
            context: image.build_context.clone(),
            build_args: image.build_args.clone(),
            builder: image.builder.clone(),
            parent: parent.map(str::to_string),
            test_names: image.tests.iter().map(|t| t.name.clone()).collect(),
        }
    }

    pub(super) fn reference_vars(&self, reference: &Reference) -> ReferenceVars {
        ReferenceVars {
            full: reference.to_string(),
            registry: reference.registry().to_string(),
            repository: reference.repository().to_string(),
            tag: reference.tag().map(str::to_string),
            digest: reference.digest().map(ToString::to_string),
            insecure: self.insecure(reference.registry()),
        }
    }

    pub(super) fn insecure(&self, host: &str) -> bool {
        self.config.registries.get(host).is_some_and(|r| r.insecure)
    }

    /// The registry logins a job needs for these references: configured credential variables,
    /// or the job's own registry credentials for `$CI_REGISTRY`. Only variable names.
    pub(super) fn logins<'r>(
        &self,
        references: impl IntoIterator<Item = &'r Reference>,
    ) -> Vec<Login> {
        let mut logins: Vec<Login> = references
            .into_iter()
            .filter_map(|reference| self.login(reference.registry()))
            .collect();
        logins.sort();
        logins.dedup();
        logins
    }

    /// The login of `host`, decided once per host: every build and release job asks.
    fn login(&self, host: &str) -> Option<Login> {
        if let Some(known) = self.logins_by_host.borrow().get(host) {
            return known.clone();
        }
        let login = self.decide_login(host);
        self.logins_by_host
            .borrow_mut()
            .insert(host.to_string(), login.clone());
        login
    }

    fn decide_login(&self, host: &str) -> Option<Login> {
        let ci_registry = self.settings.ci_registry.as_deref();
        let (username_variable, password_variable) =
            credentials::login_variables(&self.config.registries, ci_registry, host)?;
        Some(Login {
            host: host.to_string(),
            username_variable,
            password_variable,
            insecure: self.insecure(host),
        })
    }
}
