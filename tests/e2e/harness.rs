//! The end-to-end harness: a private little GitLab world per scenario.
//!
//! A [`World`] owns one temp folder holding everything it makes: two real registries
//! (`docker-registry` on 127.0.0.1 with free ports: an anonymous one for the base and staging
//! images, and an htpasswd-protected release target), buildah's storage and configuration, a
//! busybox base image pushed to the anonymous registry, and the fixture project
//! (`tests/e2e/project`) as a git repository with an `origin`. It runs the project's pipeline
//! with gitlab-ci-local (`--force-shell-executor`: buildah and skopeo run on the host), starting
//! from the project's `.gitlab-ci.yml` that includes gipgee's catalog component, and it reads
//! the results: each job's outcome from gitlab-ci-local's output (jobs of the rebuild
//! pipeline a scheduled run starts, the third level, as `rebuild/<job>`), each image from the
//! registries with skopeo.
//!
//! [`Setup`] adds what the scheduled pipeline's scenarios (`tests/e2e_schedule.rs`) need:
//! jobs running a static gipgee ([`static_gipgee`]), and a Debian base image made from a
//! debootstrap rootfs that `tests/e2e/debian-rootfs.sh` caches in
//! `~/.cache/gipgee-tools/debian` (the one thing kept outside the temp folder, on purpose).
//!
//! Nothing else is left outside the temp folder: the registries are stopped by PID when the
//! world is dropped (also on a panic; `setpriv --pdeathsig` stops them if the test process
//! dies), and
//! every tool runs in a private mount namespace whose `/var/lib` is an overlay writing into the
//! temp folder (buildah and skopeo running as root write their blob-info cache to
//! `/var/lib/containers/cache`, which no option moves), with storage, registries.conf,
//! containers.conf (CNI lock) and TMPDIR pointed into the temp folder.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::registry::{self, Auth, Registry};
use crate::support::{self, tools};

mod platforms;

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const GIPGEE: &str = env!("CARGO_BIN_EXE_gipgee");
/// gitlab-ci-local derives the project path and `CI_SERVER_FQDN` from the origin's URL; the
/// component include names the same project, so it resolves to `templates/gipgee.yml`.
const ORIGIN: &str = "https://gitlab.example.com/platform/images.git";
pub const RELEASE_USER: &str = "release-bot";
/// Reaches the release jobs only as `$RELEASE_REGISTRY_PASSWORD` (a CI/CD variable).
pub const RELEASE_PASSWORD: &str = "e2e-s3cret-never-in-a-pipeline-file";
/// A whole pipeline takes seconds; this only stops a hung run.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);
/// Tools the harness and the generated jobs use, besides the registries'
/// ([`registry::SERVER_TOOLS`]).
const TOOLS: &[&str] = &[
    "buildah",
    "skopeo",
    "gitlab-ci-local",
    "rsync",
    "git",
    "unshare",
];
/// Where buildah, skopeo, podman and CNI keep state by default when run as root; the
/// harness's tools write none of these (see `expect_tool_state_in_temp_folder`).
const HOST_STATE: &[&str] = &[
    "/var/lib/containers",
    "/run/containers",
    "/run/buildah",
    "/run/libpod",
    "/etc/cni",
    "/root/.local/share/containers",
    "/root/.config/containers",
];

/// What the pipelines leave in the project directory (gitlab-ci-local copies every job's
/// artifacts there): never committed, removed before each run, as a fresh checkout has none.
const OUTPUTS: &[&str] = &[
    "gipgee-pipeline.yml",
    "gipgee-rebuild.yml",
    "gipgee-rebuild-layout.json",
    "gipgee-results",
    "gipgee-bin",
    "gipgee-report.xml",
];

/// The shard files of a sharded pipeline, `gipgee-pipeline-shard-<k>.yml` (removed before
/// each run, as the files of [`OUTPUTS`]).
const SHARD_FILES: &str = "gipgee-pipeline-shard-*.yml";

/// The shard file `number` (from 1) of a sharded pipeline.
fn shard_file(number: usize) -> String {
    format!("gipgee-pipeline-shard-{number}.yml")
}

/// The rebuild pipelines of a sharded rebuild, `gipgee-rebuild-<k>.yml` (removed before each
/// run, as the files of [`OUTPUTS`]).
const REBUILD_SHARD_FILES: &str = "gipgee-rebuild-*.yml";

/// The rebuild pipeline `evaluate` wrote for shard `number` (from 1) of a sharded rebuild.
fn rebuild_shard_file(number: usize) -> String {
    format!("gipgee-rebuild-{number}.yml")
}

/// The trigger job of rebuild shard `number` in the update-check pipeline.
pub fn rebuild_trigger(number: usize) -> String {
    format!("rebuild:{number}")
}

/// The trigger job of shard `number` in the dispatcher.
pub fn shard_trigger(number: usize) -> String {
    format!("gipgee:shard:{number}")
}

/// Top-level keys of a pipeline that are not jobs.
const GLOBAL_KEYWORDS: &[&str] = &[
    "stages",
    "workflow",
    "variables",
    "default",
    "include",
    "image",
    "services",
    "before_script",
    "after_script",
    "cache",
];

/// Runs `mount` inside the private namespace, then the command. The blob-info cache gets an
/// empty directory of its own instead of a copy of the host's: other tests (and anything else
/// on the machine) run skopeo on the host, and an overlay copy-up of the host's bolt database
/// while it is being written gives buildah a corrupt one ("panic: invalid page type").
const SANDBOX: &str = r#"mount -t overlay overlay -o "lowerdir=/var/lib,upperdir=$0/upper,workdir=$0/work" /var/lib && mkdir -p /var/lib/containers/cache "$0/cache" && mount --bind "$0/cache" /var/lib/containers/cache && exec "$@""#;

/// Whether everything the end-to-end tests need is here. Missing tools skip the scenario with
/// a message, or fail it when GIPGEE_REQUIRE_TOOLS is set (scripts/test.sh).
#[track_caller]
fn tools_ready(scenario: &str, setup: Setup) -> bool {
    let debian: &[&str] = match setup.debian {
        true => &["debootstrap", "curl", "flock"],
        false => &[],
    };
    let mut missing = tools::missing(&[registry::SERVER_TOOLS, TOOLS, debian].concat());
    if !Path::new("/bin/busybox").exists() {
        missing.push("/bin/busybox (busybox-static)".into());
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root {
        missing.push("root (buildah's chroot isolation and mount namespaces)".into());
    }
    if setup.multi_platform {
        missing.extend(platforms::missing());
    }
    tools::present_or_skip(&format!("e2e scenario `{scenario}`"), &missing)
        && (!setup.multi_platform || platforms::runs_arm64(scenario))
}

/// gipgee built statically (`+crt-static` glibc: LAB.md), which runs inside any image, as the
/// gipgee of the real gipgee image (a static musl build) does: the update-check jobs run the
/// binary the `layer-check` job copies out of the gipgee image. Built once per test process
/// into its own target directory (`target/e2e-static`), from this source tree; a rebuild
/// without changes takes a second, the first build about a minute.
pub fn static_gipgee(scenario: &str) -> &'static Path {
    static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let built = BINARY.get_or_init(|| {
        let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
        let target_dir = Path::new(REPO).join("target/e2e-static");
        let started = Instant::now();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .current_dir(REPO)
            .args([
                "build", "--quiet", "--locked", "--bin", "gipgee", "--target", &triple,
            ])
            .arg("--target-dir")
            .arg(&target_dir)
            // Small and quick to build: no debug info.
            .args(["--config", "profile.dev.debug=false"])
            .args(["--config", "profile.dev.strip=true"])
            .env("RUSTFLAGS", "-C target-feature=+crt-static")
            .stdin(Stdio::null())
            .output()
            .map_err(|err| format!("cargo runs: {err}"))?;
        if !out.status.success() {
            return Err(format!(
                "cargo build of the static gipgee failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let binary = target_dir.join(&triple).join("debug/gipgee");
        eprintln!(
            "e2e: static gipgee {} ready in {:.1?}",
            binary.display(),
            started.elapsed()
        );
        Ok(binary)
    });
    match built {
        Ok(binary) => binary,
        Err(err) => panic!("e2e `{scenario}`: {err}"),
    }
}

/// What a job did in a pipeline run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed,
    /// Never started: manual and not played, or something it needs did not pass.
    NotRun,
}

#[derive(Debug, Default)]
pub struct JobRecord {
    /// Line numbers (in the run's output) of `starting` and `finished in`.
    pub started: Option<usize>,
    pub finished: Option<usize>,
    pub exit_code: Option<i32>,
    /// gitlab-ci-local's closing summary: `PASS`, `FAIL` or `WARN`. The only trace of a
    /// trigger job.
    pub summary: Option<String>,
    /// The job's own lines (commands and output).
    pub lines: Vec<String>,
}

impl JobRecord {
    pub fn outcome(&self) -> Outcome {
        match (self.started, self.finished, self.exit_code) {
            (None, _, _) => match self.summary.as_deref() {
                None => Outcome::NotRun,
                Some("PASS") => Outcome::Passed,
                Some(_) => Outcome::Failed,
            },
            (Some(_), Some(_), None) => Outcome::Passed,
            _ => Outcome::Failed,
        }
    }

    fn describe(&self) -> String {
        match (self.started, self.finished, self.exit_code) {
            (None, _, _) => match self.summary.as_deref() {
                None => "did not run".into(),
                Some(summary) => format!("is listed as {summary}"),
            },
            (Some(_), None, _) => "started but never finished".into(),
            (Some(_), Some(_), None) => "passed".into(),
            (Some(_), Some(_), Some(code)) => format!("failed (exit code {code})"),
        }
    }
}

/// One gitlab-ci-local run and what it left.
pub struct Run {
    /// `<scenario>: <step>`, for messages.
    pub label: String,
    pub output: String,
    pub status: Option<i32>,
    pub jobs: BTreeMap<String, JobRecord>,
    /// The generated child pipeline, if the run generated one.
    pub pipeline: Option<serde_yaml::Mapping>,
    /// Where that pipeline file lies.
    pub pipeline_file: PathBuf,
    /// The rebuild pipeline `evaluate` wrote in a scheduled run (the third level, started by
    /// the `rebuild` trigger job); its jobs are keyed `rebuild/<job>`.
    pub rebuild: Option<serde_yaml::Mapping>,
    /// The shards of a sharded build pipeline, in order (the third level, started by the
    /// dispatcher's `gipgee:shard:<k>` trigger jobs); their jobs are keyed
    /// `gipgee:shard:<k>/<job>`.
    pub shards: Vec<serde_yaml::Mapping>,
    /// The rebuild pipelines of a sharded rebuild, in order (the third level, started by the
    /// update-check pipeline's `rebuild:<k>` trigger jobs); their jobs are keyed
    /// `rebuild:<k>/<job>`.
    pub rebuild_shards: Vec<serde_yaml::Mapping>,
}

/// The job a line of gitlab-ci-local's output belongs to, and the rest of the line. Jobs of
/// the pipeline gitlab-ci-local runs read `<job> ...`, a child pipeline's
/// `\t[<trigger>] -> <job> ...` (keyed by the job's name: the child pipelines of one run have
/// distinct job names), a grandchild's `\t\t[<trigger> -> <trigger2>] -> <job> ...`, keyed
/// `<trigger2>/<job>` (the rebuild pipeline's `gipgee:plan` is not the update-check
/// pipeline's).
fn job_key(line: &str) -> Option<(String, &str)> {
    match line.trim_start_matches('\t').strip_prefix('[') {
        Some(bracketed) => {
            let (path, rest) = bracketed.split_once("] -> ")?;
            let (job, rest) = rest.split_once(' ').unwrap_or((rest, ""));
            let key = match path.rsplit_once(" -> ") {
                Some((_, trigger)) => format!("{trigger}/{job}"),
                None => job.to_string(),
            };
            Some((key, rest))
        }
        None => line
            .split_once(' ')
            .map(|(job, rest)| (job.to_string(), rest)),
    }
}

/// The pipeline files a run left.
struct Pipelines {
    pipeline: Option<serde_yaml::Mapping>,
    pipeline_file: PathBuf,
    rebuild: Option<serde_yaml::Mapping>,
    shards: Vec<serde_yaml::Mapping>,
    rebuild_shards: Vec<serde_yaml::Mapping>,
}

impl Run {
    fn parse(
        label: String,
        output: String,
        status: Option<i32>,
        known: BTreeSet<String>,
        pipelines: Pipelines,
    ) -> Run {
        let Pipelines {
            pipeline,
            pipeline_file,
            rebuild,
            shards,
            rebuild_shards,
        } = pipelines;
        let mut jobs: BTreeMap<String, JobRecord> = BTreeMap::new();
        for (number, line) in output.lines().enumerate() {
            // The closing summary: ` PASS  [<trigger job>] -> <job>` or ` FAIL  <job>`.
            for summary in ["PASS", "FAIL", "WARN"] {
                let Some(rest) = line.strip_prefix(&format!(" {summary}  ")) else {
                    continue;
                };
                let Some((name, _)) = job_key(&format!("{} ", rest.trim_end())) else {
                    continue;
                };
                if known.contains(&name) {
                    jobs.entry(name).or_default().summary = Some(summary.into());
                }
            }
            let Some((name, rest)) = job_key(line) else {
                continue;
            };
            if !known.contains(&name) {
                continue;
            }
            let rest = rest.trim_start();
            let record = jobs.entry(name).or_default();
            if rest.starts_with("starting ") && record.started.is_none() {
                record.started = Some(number);
            } else if let Some(finished) = rest.strip_prefix("finished in ") {
                record.finished = Some(number);
                // ` FAIL <code>`, or ` WARN <code>` for a job with `allow_failure`.
                record.exit_code = finished
                    .split_once(" FAIL ")
                    .or_else(|| finished.split_once(" WARN "))
                    .map(|(_, code)| code.trim().parse().unwrap_or(-1));
            } else {
                record.lines.push(rest.to_string());
            }
        }
        Run {
            label,
            output,
            status,
            jobs,
            pipeline,
            pipeline_file,
            rebuild,
            shards,
            rebuild_shards,
        }
    }

    /// The job's lines, for assertions on what it printed.
    pub fn log(&self, job: &str) -> String {
        self.jobs
            .get(job)
            .map(|r| r.lines.join("\n"))
            .unwrap_or_default()
    }

    /// Fails with every mismatch at once: which job, what it did instead, its output.
    #[track_caller]
    pub fn expect(&self, expected: &[(&str, Outcome)]) {
        let mut problems = String::new();
        for (job, want) in expected {
            let record = self.jobs.get(*job);
            let got = record.map_or(Outcome::NotRun, JobRecord::outcome);
            if got == *want {
                continue;
            }
            let what = record.map_or("did not run".into(), JobRecord::describe);
            let want = match want {
                Outcome::Passed => "to pass",
                Outcome::Failed => "to fail",
                Outcome::NotRun => "not to run",
            };
            writeln!(
                problems,
                "\njob `{job}`: expected it {want}, but it {what}."
            )
            .unwrap();
            if let Some(record) = record.filter(|r| !r.lines.is_empty()) {
                writeln!(problems, "its gitlab-ci-local output:").unwrap();
                for line in &record.lines {
                    writeln!(problems, "  | {line}").unwrap();
                }
            }
        }
        if !problems.is_empty() {
            self.fail(&problems);
        }
    }

    /// Exactly these jobs are in the generated child pipeline.
    #[track_caller]
    pub fn expect_pipeline_jobs(&self, expected: &[&str]) {
        self.expect_jobs("the generated pipeline", self.pipeline_jobs(), expected);
    }

    /// `pipeline` (named so in the failure) has the jobs `got`, which are `expected`.
    #[track_caller]
    fn expect_jobs(&self, pipeline: &str, got: Vec<&str>, expected: &[&str]) {
        let mut want: Vec<&str> = expected.to_vec();
        want.sort();
        if got != want {
            self.fail(&format!(
                "\n{pipeline} has the jobs {got:?}, expected {want:?}"
            ));
        }
    }

    #[track_caller]
    pub fn pipeline_jobs(&self) -> Vec<&str> {
        job_names(self.pipeline())
    }

    #[track_caller]
    pub fn pipeline(&self) -> &serde_yaml::Mapping {
        match &self.pipeline {
            Some(pipeline) => pipeline,
            None => self.fail("\nno generated pipeline (gipgee-pipeline.yml)"),
        }
    }

    /// A job of the generated pipeline, or of one of its shards when it is sharded.
    #[track_caller]
    pub fn pipeline_job(&self, job: &str) -> &serde_yaml::Value {
        let found = std::iter::once(self.pipeline())
            .chain(&self.shards)
            .find_map(|pipeline| pipeline.get(job));
        match found {
            Some(value) => value,
            None => self.fail(&format!(
                "\nthe generated pipeline (and its shards) has no job `{job}`"
            )),
        }
    }

    /// Exactly these jobs are in the rebuild pipeline `evaluate` wrote for shard `number`
    /// (from 1) of a sharded rebuild.
    #[track_caller]
    pub fn expect_rebuild_shard_jobs(&self, number: usize, expected: &[&str]) {
        let Some(shard) = self.rebuild_shards.get(number - 1) else {
            self.fail(&format!(
                "\nthe rebuild has {} shards, not {number}",
                self.rebuild_shards.len()
            ))
        };
        self.expect_jobs(
            &format!("rebuild shard {number} (written by `evaluate`)"),
            job_names(shard),
            expected,
        );
    }

    /// Exactly these jobs are in shard `number` (from 1) of a sharded pipeline.
    #[track_caller]
    pub fn expect_shard_jobs(&self, number: usize, expected: &[&str]) {
        let Some(shard) = self.shards.get(number - 1) else {
            self.fail(&format!(
                "\nthe pipeline has {} shards, not {number}",
                self.shards.len()
            ))
        };
        self.expect_jobs(&shard_file(number), job_names(shard), expected);
    }

    /// A variable of a job of the generated pipeline.
    #[track_caller]
    pub fn job_variable(&self, job: &str, name: &str) -> String {
        self.pipeline_job(job); // fails the test with a message when there is no such job
        let found = std::iter::once(self.pipeline())
            .chain(&self.shards)
            .find(|pipeline| pipeline.get(job).is_some())
            .map(|pipeline| support::resolve_job(&mapping_value(pipeline), job));
        match found.as_ref().and_then(|j| j["variables"][name].as_str()) {
            Some(value) => value.to_string(),
            None => self.fail(&format!("\njob `{job}` has no variable {name}")),
        }
    }

    /// The staging reference of an image, from its build job.
    #[track_caller]
    pub fn staging(&self, id: &str) -> String {
        self.job_variable(&format!("build:{id}"), "GIPGEE_IMAGE")
    }

    #[track_caller]
    pub fn rebuild(&self) -> &serde_yaml::Mapping {
        match &self.rebuild {
            Some(rebuild) => rebuild,
            None => self.fail("\nno rebuild pipeline (gipgee-rebuild.yml, written by `evaluate`)"),
        }
    }

    /// The jobs of the rebuild pipeline, without the `rebuild/` prefix.
    #[track_caller]
    pub fn rebuild_jobs(&self) -> Vec<&str> {
        job_names(self.rebuild())
    }

    /// Exactly these jobs are in the rebuild pipeline.
    #[track_caller]
    pub fn expect_rebuild_jobs(&self, expected: &[&str]) {
        self.expect_jobs(
            "the rebuild pipeline (written by `evaluate`)",
            self.rebuild_jobs(),
            expected,
        );
    }

    /// The staging reference of an image rebuilt by the rebuild pipeline (or one of its
    /// shards).
    #[track_caller]
    pub fn rebuild_staging(&self, id: &str) -> String {
        self.rebuild_job_variable(&format!("build:{id}"), "GIPGEE_IMAGE")
    }

    /// A variable of a job of the rebuild pipeline (or of one of its shards).
    #[track_caller]
    pub fn rebuild_job_variable(&self, job: &str, name: &str) -> String {
        let value = self
            .rebuild
            .iter()
            .chain(&self.rebuild_shards)
            .find(|pipeline| pipeline.get(job).is_some())
            .map(|pipeline| support::resolve_job(&mapping_value(pipeline), job));
        let value = value.as_ref().and_then(|j| j["variables"][name].as_str());
        match value {
            Some(value) => value.to_string(),
            None => self.fail(&format!(
                "\nno rebuild pipeline (gipgee-rebuild.yml or gipgee-rebuild-<k>.yml, written by `evaluate`) has a job `{job}` with the variable {name}"
            )),
        }
    }

    /// `later` started only after `earlier` had finished.
    #[track_caller]
    pub fn expect_order(&self, earlier: &str, later: &str) {
        let finished = self.jobs.get(earlier).and_then(|r| r.finished);
        let started = self.jobs.get(later).and_then(|r| r.started);
        match (finished, started) {
            (Some(f), Some(s)) if f < s => {}
            _ => self.fail(&format!(
                "\njob `{later}` must start after `{earlier}` finished (output lines: {earlier} finished {finished:?}, {later} started {started:?})"
            )),
        }
    }

    /// Panics with the scenario, the problem, and the end of gitlab-ci-local's output (the
    /// whole output is on the test's stderr, which `cargo test` shows for a failed test).
    #[track_caller]
    pub fn fail(&self, problem: &str) -> ! {
        let lines: Vec<&str> = self.output.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        panic!(
            "e2e `{}`: {problem}\n\ngitlab-ci-local exit status {:?}; the last lines of its output:\n{tail}",
            self.label, self.status
        );
    }
}

/// The jobs of a pipeline, sorted: its keys but hidden jobs and global keywords.
fn job_names(pipeline: &serde_yaml::Mapping) -> Vec<&str> {
    let mut jobs: Vec<&str> = pipeline
        .keys()
        .filter_map(|k| k.as_str())
        .filter(|k| !k.starts_with('.') && !GLOBAL_KEYWORDS.contains(k))
        .collect();
    jobs.sort();
    jobs
}

/// The options of one gitlab-ci-local run.
#[derive(Default)]
pub struct RunSpec<'a> {
    /// CI/CD variables besides the registry ones (`CI_PIPELINE_SOURCE`, ...).
    pub vars: Vec<(&'a str, String)>,
    /// Manual jobs to play (`--manual`).
    pub manual: Vec<&'a str>,
    /// Run this pipeline file (relative to the project) instead of `.gitlab-ci.yml` ...
    pub file: Option<&'a str>,
    /// ... and only these jobs, with what they need (`--needs`).
    pub jobs: Vec<&'a str>,
}

/// How a world is set up.
#[derive(Debug, Default, Clone, Copy)]
pub struct Setup {
    /// The component include's `force_autostart`.
    pub autostart: bool,
    /// The jobs run a static gipgee (see [`static_gipgee`]): the scheduled pipeline's
    /// update checks run the binary `layer-check` hands them inside the released images.
    pub static_gipgee: bool,
    /// A Debian base image (`base/debian:12`, from [`DEBIAN_ROOTFS`]) and two Debian images in
    /// the project: `debian-current` and `debian-outdated`, whose dpkg status claims an
    /// older `hostname` than the mirror's.
    pub debian: bool,
    /// A two-platform base (`base/multi:1`) and two two-platform images in the project (see
    /// [`platforms`]).
    pub multi_platform: bool,
}

/// The Debian images scenario `d` of the scheduled pipeline appends to the fixture's
/// `images:`.
const DEBIAN_IMAGES: &str = r#"  debian-current:
    baseImage: ${CI_REGISTRY}/base/debian:12
    containerfile: images/debian/Containerfile
    context: images/debian
    targetLocations: ["${CI_REGISTRY_IMAGE}/debian-current:1"]
    watchedAssets: ["images/debian/**"]
    updateCheck: auto
    tests:
      - name: apt
        command: ["apt-get", "--version"]
  debian-outdated:
    baseImage: ${CI_REGISTRY}/base/debian:12
    containerfile: images/debian/Containerfile
    context: images/debian
    targetLocations: ["${CI_REGISTRY_IMAGE}/debian-outdated:1"]
    watchedAssets: ["images/debian/**"]
    buildArgs: {CLAIM_OLDER: hostname}
    updateCheck: auto
    tests:
      - name: claim
        script: ["dpkg-query -W hostname | grep -q 0.0-e2e"]
"#;

/// Prints the path of the cached Debian minbase rootfs tarball, making it when needed.
const DEBIAN_ROOTFS: &str = "tests/e2e/debian-rootfs.sh";

pub struct World {
    pub scenario: String,
    pub setup: Setup,
    pub anon: Registry,
    pub auth: Registry,
    pub project: PathBuf,
    dir: PathBuf,
    sandboxes: AtomicUsize,
    host_state_before: Vec<&'static str>,
    started: Instant,
    // Dropped last: the registries stop before their storage goes.
    tempdir: Option<tempfile::TempDir>,
}

impl World {
    /// Starts the registries, pushes the base image and lays out the fixture project, whose
    /// component include gets `force_autostart: <autostart>`. `None` (after a message) when a
    /// tool is missing and GIPGEE_REQUIRE_TOOLS is not set.
    pub fn new(scenario: &str, autostart: bool) -> Option<World> {
        World::with(
            scenario,
            Setup {
                autostart,
                ..Setup::default()
            },
        )
    }

    /// A world set up as `setup` says; `None` as for [`World::new`].
    pub fn with(scenario: &str, setup: Setup) -> Option<World> {
        if !tools_ready(scenario, setup) {
            return None;
        }
        if setup.static_gipgee {
            static_gipgee(scenario);
        }
        let started = Instant::now();
        let host_state_before = HOST_STATE
            .iter()
            .copied()
            .filter(|p| Path::new(p).exists())
            .collect();
        let tempdir = tempfile::Builder::new()
            .prefix("gipgee-e2e-")
            .tempdir()
            .expect("temp dir");
        let dir = tempdir.path().to_path_buf();
        let anon = Registry::builder(&dir).name("registry-anonymous").start();
        let auth = Registry::builder(&dir)
            .name("registry-release")
            .auth(Auth::Basic {
                user: RELEASE_USER.into(),
                password: RELEASE_PASSWORD.into(),
            })
            .start();
        let world = World {
            scenario: scenario.to_string(),
            setup,
            project: dir.join("project"),
            anon,
            auth,
            dir,
            sandboxes: AtomicUsize::new(0),
            host_state_before,
            started,
            tempdir: Some(tempdir),
        };
        world.write_tool_config();
        world.push_busybox_base(None, &["1", "1.36"]);
        if setup.debian {
            world.push_debian_base();
        }
        if setup.multi_platform {
            world.push_two_platform_base();
        }
        world.lay_out_project();
        eprintln!(
            "e2e `{scenario}`: world ready in {:.1?} ({})",
            started.elapsed(),
            world.dir.display()
        );
        Some(world)
    }

    /// `$CI_REGISTRY_IMAGE` of the fixture project.
    pub fn registry_image(&self) -> String {
        format!("{}/platform/images", self.anon.host)
    }

    /// Every target location of the fixture, by image id.
    pub fn targets(&self) -> Vec<(&'static str, String)> {
        let image = self.registry_image();
        vec![
            ("base-tools", format!("{image}/base-tools:1")),
            (
                "base-tools",
                format!("{}/platform/base-tools:1", self.auth.host),
            ),
            ("app", format!("{image}/app:1")),
            ("other", format!("{image}/other:1")),
        ]
    }

    /// The target locations of image `id`.
    pub fn targets_of(&self, id: &str) -> Vec<String> {
        self.targets()
            .into_iter()
            .filter(|(i, _)| *i == id)
            .map(|(_, target)| target)
            .collect()
    }

    pub fn target_digests(&self) -> BTreeMap<String, Option<String>> {
        self.targets()
            .into_iter()
            .map(|(_, target)| {
                let digest = self.digest(&target);
                (target, digest)
            })
            .collect()
    }

    fn write_tool_config(&self) {
        let d = &self.dir;
        for sub in ["storage", "runroot", "tmp", "home", "bin", "cni", "sandbox"] {
            std::fs::create_dir_all(d.join(sub)).expect("mkdir");
        }
        let storage = format!(
            "[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
            d.join("storage").display(),
            d.join("runroot").display()
        );
        std::fs::write(d.join("storage.conf"), storage).expect("storage.conf");
        // The runner's container engine trusts the loopback registries (plain http): the
        // test jobs pull their staging image through this.
        let registries = format!(
            "unqualified-search-registries = []\n[[registry]]\nlocation = \"{}\"\ninsecure = true\n[[registry]]\nlocation = \"{}\"\ninsecure = true\n",
            self.anon.host, self.auth.host
        );
        std::fs::write(d.join("registries.conf"), registries).expect("registries.conf");
        let containers = format!(
            "[network]\nnetwork_config_dir = \"{}\"\n",
            d.join("cni").display()
        );
        std::fs::write(d.join("containers.conf"), containers).expect("containers.conf");
        std::fs::write(d.join("auth.json"), "{\"auths\": {}}\n").expect("auth.json");
        let shell = d.join("bin/bash");
        std::fs::copy(Path::new(REPO).join("tests/e2e/job-shell.sh"), &shell).expect("shim");
        std::fs::set_permissions(&shell, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    /// The environment of every tool the harness starts (nothing else from the test process).
    fn env(&self) -> Vec<(&'static str, String)> {
        let d = |p: &str| self.dir.join(p).display().to_string();
        let gipgee = match self.setup.static_gipgee {
            true => static_gipgee(&self.scenario),
            false => Path::new(GIPGEE),
        };
        let gipgee_dir = gipgee.parent().expect("gipgee's directory");
        let path = std::env::var("PATH").unwrap_or_default();
        let mut env = vec![
            (
                "PATH",
                format!("{}:{}:{path}", d("bin"), gipgee_dir.display()),
            ),
            ("HOME", d("home")),
            ("CONTAINERS_STORAGE_CONF", d("storage.conf")),
            ("CONTAINERS_REGISTRIES_CONF", d("registries.conf")),
            ("CONTAINERS_CONF", d("containers.conf")),
            ("REGISTRY_AUTH_FILE", d("auth.json")),
            ("TMPDIR", d("tmp")),
            ("GIT_CONFIG_NOSYSTEM", "1".into()),
            ("GIT_CONFIG_GLOBAL", "/dev/null".into()),
            ("FORCE_COLOR", "0".into()),
            ("GIPGEE_E2E_DIR", self.dir.display().to_string()),
        ];
        // The job shell passes a test job only its job variables, not these.
        let names: Vec<&str> = env.iter().map(|(k, _)| *k).collect();
        env.push((
            "GIPGEE_E2E_HOST_ENV",
            format!("{} GIPGEE_E2E_HOST_ENV", names.join(" ")),
        ));
        env
    }

    /// A command in a private mount namespace whose `/var/lib` writes land in the temp folder.
    fn sandboxed(&self, program: &str) -> Command {
        let overlay = self.dir.join(format!(
            "sandbox/{}",
            self.sandboxes.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(overlay.join("upper")).expect("mkdir");
        std::fs::create_dir_all(overlay.join("work")).expect("mkdir");
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "sh", "-c", SANDBOX])
            .arg(&overlay)
            .arg(program)
            .env_clear()
            .envs(self.env())
            .current_dir(&self.dir)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs a tool (sandboxed) to completion; its trimmed stdout. Panics at the caller with
    /// the command, its status and output when it fails.
    #[track_caller]
    fn tool(&self, program: &str, args: &[&str]) -> String {
        support::run(self.sandboxed(program).args(args))
            .trim()
            .to_string()
    }

    /// The busybox base: busybox-static and a marker file, no network pull, pushed to
    /// `base/busybox:<tag>` for each tag. `patch` adds `/etc/base-patch`: a changed base.
    #[track_caller]
    fn push_busybox_base(&self, patch: Option<&str>, tags: &[&str]) {
        let rootfs = self.dir.join("base-rootfs");
        let _ = std::fs::remove_dir_all(&rootfs);
        std::fs::create_dir_all(rootfs.join("bin")).expect("mkdir");
        std::fs::create_dir_all(rootfs.join("etc")).expect("mkdir");
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("copy busybox");
        std::fs::write(rootfs.join("etc/base-version"), "v1\n").expect("write");
        if let Some(patch) = patch {
            std::fs::write(rootfs.join("etc/base-patch"), format!("{patch}\n")).expect("write");
        }
        let applets = Command::new("/bin/busybox")
            .arg("--list")
            .output()
            .expect("busybox --list");
        for applet in String::from_utf8_lossy(&applets.stdout).lines() {
            if applet != "busybox" {
                std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet))
                    .expect("symlink");
            }
        }
        let ctr = self.tool("buildah", &["from", "scratch"]);
        let rootfs = rootfs.display().to_string();
        self.tool("buildah", &["copy", "--quiet", &ctr, &rootfs, "/"]);
        self.commit_and_push(
            &ctr,
            "/bin/sh",
            "PATH=/usr/local/bin:/bin",
            "base/busybox",
            tags,
        );
    }

    /// The busybox base pushed again to `base/busybox:1` with a change (`/etc/base-patch`):
    /// what a base image's maintainers do. The pinned `base/busybox:1.36` stays.
    #[track_caller]
    pub fn push_changed_busybox_base(&self, patch: &str) {
        self.push_busybox_base(Some(patch), &["1"]);
    }

    /// The Debian base `base/debian:12`: the cached minbase rootfs of [`DEBIAN_ROOTFS`],
    /// whose packages are the mirror's current ones.
    fn push_debian_base(&self) {
        let started = Instant::now();
        let out = Command::new("bash")
            .arg(Path::new(REPO).join(DEBIAN_ROOTFS))
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "e2e `{}`: {DEBIAN_ROOTFS} could not make the Debian rootfs (see its output above)",
            self.scenario
        );
        let tarball = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let ctr = self.tool("buildah", &["from", "scratch"]);
        // A local tar archive is unpacked.
        self.tool("buildah", &["add", "--quiet", &ctr, &tarball, "/"]);
        self.commit_and_push(
            &ctr,
            "/bin/bash",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "base/debian",
            &["12"],
        );
        eprintln!(
            "e2e `{}`: Debian base pushed in {:.1?}",
            self.scenario,
            started.elapsed()
        );
    }

    #[track_caller]
    fn commit_and_push(&self, ctr: &str, cmd: &str, path: &str, repository: &str, tags: &[&str]) {
        self.tool("buildah", &["config", "--cmd", cmd, "--env", path, ctr]);
        let local = format!("localhost/e2e-{}:latest", repository.replace('/', "-"));
        self.tool(
            "buildah",
            &["commit", "--quiet", "--rm", "--format", "oci", ctr, &local],
        );
        for tag in tags {
            let target = format!("docker://{}/{repository}:{tag}", self.anon.host);
            self.tool(
                "buildah",
                &["push", "--quiet", "--tls-verify=false", &local, &target],
            );
        }
    }

    fn lay_out_project(&self) {
        copy_tree(&Path::new(REPO).join("tests/e2e/project"), &self.project);
        std::fs::create_dir_all(self.project.join("templates")).expect("mkdir");
        std::fs::copy(
            Path::new(REPO).join("templates/gipgee.yml"),
            self.project.join("templates/gipgee.yml"),
        )
        .expect("copy the component");
        let ci = self.project.join(".gitlab-ci.yml");
        let text = std::fs::read_to_string(&ci).expect("read .gitlab-ci.yml");
        let text = text.replace(
            "@FORCE_AUTOSTART@",
            if self.setup.autostart {
                "true"
            } else {
                "false"
            },
        );
        std::fs::write(&ci, text).expect("write .gitlab-ci.yml");
        if self.setup.debian {
            self.edit("gipgee.yaml", |t| t + DEBIAN_IMAGES);
        }
        if self.setup.multi_platform {
            self.add_multi_platform_images();
        }
        self.git(&["init", "-q", "-b", "main"]);
        self.git(&["config", "user.name", "gipgee e2e"]);
        self.git(&["config", "user.email", "e2e@gipgee.invalid"]);
        std::fs::write(
            self.project.join(".git/info/exclude"),
            format!(
                ".gitlab-ci-local/\n.gitlab-ci-local-variables.yml\n{}\n{SHARD_FILES}\n{REBUILD_SHARD_FILES}\n",
                OUTPUTS.join("\n")
            ),
        )
        .expect("write exclude");
        self.commit("the images");
        self.git(&["remote", "add", "origin", ORIGIN]);
        self.git(&["update-ref", "refs/remotes/origin/main", "HEAD"]);
        self.git(&[
            "symbolic-ref",
            "refs/remotes/origin/HEAD",
            "refs/remotes/origin/main",
        ]);
        // gitlab-ci-local stores a job's artifacts under an escaped name
        // (`gipgee:generate` → `gipgeeOggenerate`) but looks up `trigger: include: artifact:`
        // under the plain job name; GitLab has no such problem. Point one at the other.
        let artifacts = self.project.join(".gitlab-ci-local/artifacts");
        std::fs::create_dir_all(&artifacts).expect("mkdir");
        // The dispatcher of a sharded pipeline: its trigger jobs include the shard files from
        // its `gipgee:shards` job, which on GitLab downloads them from the generate job with
        // `needs: pipeline:` — a key gitlab-ci-local ignores. Its artifacts are the generate
        // job's, as that `needs` makes them on GitLab.
        for job in ["gipgee:generate", "gipgee:shards"] {
            std::os::unix::fs::symlink("gipgeeOggenerate", artifacts.join(job)).expect("symlink");
        }
    }

    /// The gipgee image as shipped: the repository's `Containerfile`, built with buildah FROM the
    /// Debian base of this world (the public base cannot be pulled here; the same family can)
    /// with the static gipgee. Its local name.
    #[track_caller]
    pub fn build_gipgee_image(&self) -> String {
        assert!(
            self.setup.debian && self.setup.static_gipgee,
            "e2e `{}`: the gipgee image needs `Setup {{ debian: true, static_gipgee: true }}`",
            self.scenario
        );
        let context = self.dir.join("gipgee-image");
        std::fs::create_dir_all(&context).expect("mkdir");
        std::fs::copy(
            Path::new(REPO).join("Containerfile"),
            context.join("Containerfile"),
        )
        .expect("copy the Containerfile");
        std::fs::copy(static_gipgee(&self.scenario), context.join("gipgee"))
            .expect("copy the static gipgee");
        let image = "localhost/gipgee-shipped:e2e";
        let base = format!("BASE={}/base/debian:12", self.anon.host);
        let context = context.display().to_string();
        self.tool(
            "buildah",
            &[
                "build",
                "--quiet",
                "--isolation",
                "chroot",
                "--tls-verify=false",
                "--build-arg",
                &base,
                "--file",
                &format!("{context}/Containerfile"),
                "--tag",
                image,
                &context,
            ],
        );
        image.to_string()
    }

    /// Runs `gipgee <args>` inside `image` in a shallow clone (depth 1, as GitLab clones) of
    /// the project's current commit, with GitLab's variables `vars`; its exit code, stdout
    /// and stderr. The clone's `origin` is a bare copy of the project, mounted at the same
    /// path, so gipgee can fetch the history it needs as in a job.
    #[track_caller]
    pub fn gipgee_in_image(
        &self,
        image: &str,
        args: &[&str],
        vars: &[(&str, String)],
    ) -> (Option<i32>, String, String) {
        let origin = self.dir.join("origin.git");
        let clone = self.dir.join("shallow-clone");
        let _ = std::fs::remove_dir_all(&origin);
        let _ = std::fs::remove_dir_all(&clone);
        let project = self.project.display().to_string();
        let origin_path = origin.display().to_string();
        support::run(Command::new("git").args(["clone", "-q", "--bare", &project, &origin_path]));
        let url = format!("file://{origin_path}");
        let clone_path = clone.display().to_string();
        support::run(Command::new("git").args([
            "clone",
            "-q",
            "--depth",
            "1",
            "--branch",
            "main",
            &url,
            &clone_path,
        ]));
        let ctr = self.tool("buildah", &["from", "--quiet", image]);
        let mut command = self.sandboxed("buildah");
        command.args(["run", "--isolation", "chroot"]);
        for dir in [&origin_path, &clone_path] {
            command.args(["--volume", &format!("{dir}:{dir}")]);
        }
        command.args(["--workingdir", &clone_path, &ctr, "--", "env"]);
        command.args(vars.iter().map(|(name, value)| format!("{name}={value}")));
        command.arg("gipgee").args(args);
        let out = command.output().expect("buildah runs");
        self.tool("buildah", &["rm", &ctr]);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    }

    /// git in the project; its trimmed stdout. Panics at the caller when git fails.
    #[track_caller]
    pub fn git(&self, args: &[&str]) -> String {
        support::git(&self.project, args)
    }

    #[track_caller]
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// Changes a file of the project (not committed).
    pub fn edit(&self, path: &str, change: impl FnOnce(String) -> String) {
        let full = self.project.join(path);
        let text = std::fs::read_to_string(&full).unwrap_or_default();
        std::fs::write(&full, change(text)).expect("write");
    }

    /// The project's CI/CD variables, as its settings on GitLab would hold them.
    fn project_variables(&self) -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("CI_REGISTRY", self.anon.host.clone()),
            ("CI_REGISTRY_IMAGE", self.registry_image()),
            ("CI_REGISTRY_USER", "gitlab-ci-token".into()),
            ("CI_REGISTRY_PASSWORD", "job-token".into()),
            ("RELEASE_REGISTRY", self.auth.host.clone()),
            ("RELEASE_REGISTRY_USER", RELEASE_USER.into()),
            ("RELEASE_REGISTRY_PASSWORD", RELEASE_PASSWORD.into()),
        ])
    }

    /// `gipgee generate` in the project, as the generate job of a manual run of the default
    /// branch at HEAD (pipeline `pipeline_id`, starting automatically); the pipeline it wrote.
    /// For tests that run single jobs ([`World::run_job_script`]) rather than a whole run.
    #[track_caller]
    pub fn generate(&self, pipeline_id: &str) -> serde_yaml::Value {
        let sha = self.git(&["rev-parse", "HEAD"]);
        let mut cmd = Command::new(GIPGEE);
        cmd.current_dir(&self.project)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.project_variables())
            .envs([
                ("CI", "true"),
                ("CI_PIPELINE_SOURCE", "web"),
                ("CI_DEFAULT_BRANCH", "main"),
                ("CI_COMMIT_BRANCH", "main"),
                ("CI_COMMIT_SHA", &sha),
                ("CI_PIPELINE_ID", pipeline_id),
                ("GIPGEE_FORCE_AUTOSTART", "true"),
            ])
            .args(["generate", "--output", "gipgee-pipeline.yml"]);
        support::run(&mut cmd);
        let text = std::fs::read_to_string(self.project.join("gipgee-pipeline.yml"))
            .expect("the generated pipeline");
        serde_yaml::from_str(&text).expect("the pipeline is YAML")
    }

    /// Runs one job of `pipeline` as a runner would, on the host and without gitlab-ci-local:
    /// its script (through `extends`) in bash, stopping at the first failing line, in the
    /// project directory, with the project's variables, the job's variables (`$$` read as
    /// `$`, as GitLab does) and `extra` over them. Its output, whatever the outcome.
    pub fn run_job_script(
        &self,
        pipeline: &serde_yaml::Value,
        job: &str,
        extra: &[(&str, &str)],
    ) -> std::process::Output {
        let definition = support::resolve_job(pipeline, job);
        let lines: Vec<&str> = definition["script"]
            .as_sequence()
            .unwrap_or_else(|| panic!("job `{job}` has no script"))
            .iter()
            .map(|line| line.as_str().expect("a script line"))
            .collect();
        let mut job_vars: BTreeMap<String, String> = BTreeMap::new();
        if let Some(vars) = definition.get("variables").and_then(|v| v.as_mapping()) {
            for (name, value) in vars {
                let value = match value {
                    serde_yaml::Value::String(text) => text.replace("$$", "$"),
                    other => serde_yaml::to_string(other)
                        .expect("yaml")
                        .trim()
                        .to_string(),
                };
                job_vars.insert(name.as_str().expect("a name").to_string(), value);
            }
        }
        let mut cmd = self.sandboxed("/bin/bash");
        cmd.current_dir(&self.project)
            .envs(self.project_variables())
            .env("CI_PROJECT_DIR", &self.project)
            .env("CI_JOB_NAME", job)
            .envs(job_vars)
            .envs(extra.iter().copied())
            .args(["-eo", "pipefail", "-c", &lines.join("\n")]);
        cmd.output().expect("bash runs")
    }

    /// The image config (labels and all) of `reference`, which must exist.
    #[track_caller]
    pub fn image_config(&self, reference: &str) -> serde_json::Value {
        match self.skopeo(&["inspect", "--config"], reference) {
            Ok(raw) => serde_json::from_str(&raw).expect("config JSON"),
            Err(err) => panic!(
                "e2e `{}`: skopeo inspect --config {reference} failed: {err}",
                self.scenario
            ),
        }
    }

    /// Runs the project's pipeline (or `spec.file`) with gitlab-ci-local.
    pub fn run(&self, step: &str, spec: RunSpec) -> Run {
        let label = format!("{}: {step}", self.scenario);
        let started = Instant::now();
        // The project's CI/CD variables. A file, not `--variable`: gitlab-ci-local passes only
        // this file's variables (not command-line ones) on to child pipelines, like GitLab's
        // project variables.
        let mut vars = self.project_variables();
        vars.extend(spec.vars.iter().map(|(k, v)| (*k, v.clone())));
        std::fs::write(
            self.project.join(".gitlab-ci-local-variables.yml"),
            serde_yaml::to_string(&vars).expect("yaml"),
        )
        .expect("write variables");
        let generated = self.project.join("gipgee-pipeline.yml");
        for output in OUTPUTS {
            let path = self.project.join(output);
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::remove_dir_all(&path);
        }
        for file in [shard_file, rebuild_shard_file] {
            for number in 1.. {
                if std::fs::remove_file(self.project.join(file(number))).is_err() {
                    break;
                }
            }
        }

        let mut cmd = self.sandboxed("gitlab-ci-local");
        cmd.current_dir(&self.project).args([
            "--no-color",
            "--force-shell-executor",
            "--shell-isolation",
            "--ignore-predefined-vars",
            "CI_PIPELINE_SOURCE,CI_REGISTRY,CI_REGISTRY_IMAGE,CI_COMMIT_BEFORE_SHA",
        ]);
        for job in &spec.manual {
            cmd.args(["--manual", job]);
        }
        if let Some(file) = spec.file {
            cmd.args(["--file", file]);
        }
        if !spec.jobs.is_empty() {
            cmd.arg("--needs").args(&spec.jobs);
        }
        let (output, status) = run_with_timeout(cmd, &label);
        eprintln!(
            "===== e2e `{label}`: gitlab-ci-local ({:.1?}, exit status {status:?}) =====\n{output}",
            started.elapsed()
        );

        let pipeline_file = match spec.file {
            Some(file) => self.project.join(file),
            None => generated,
        };
        let pipeline = std::fs::read_to_string(&pipeline_file)
            .ok()
            .map(|text| serde_yaml::from_str(&text).expect("the pipeline is YAML"));
        let mut known: BTreeSet<String> = ["gipgee:generate", "gipgee:pipeline"]
            .map(String::from)
            .into();
        if let Some(pipeline) = &pipeline {
            let pipeline: &serde_yaml::Mapping = pipeline;
            known.extend(pipeline.keys().filter_map(|k| k.as_str()).map(String::from));
        }
        let rebuild: Option<serde_yaml::Mapping> =
            std::fs::read_to_string(self.project.join("gipgee-rebuild.yml"))
                .ok()
                .map(|text| serde_yaml::from_str(&text).expect("the rebuild pipeline is YAML"));
        if let Some(rebuild) = &rebuild {
            known.extend(
                rebuild
                    .keys()
                    .filter_map(|k| k.as_str())
                    .map(|job| format!("rebuild/{job}")),
            );
        }
        let shards: Vec<serde_yaml::Mapping> = (1..)
            .map_while(|number| std::fs::read_to_string(self.project.join(shard_file(number))).ok())
            .map(|text| serde_yaml::from_str(&text).expect("a shard is YAML"))
            .collect();
        for (number, shard) in (1..).zip(&shards) {
            let trigger = shard_trigger(number);
            known.extend(
                shard
                    .keys()
                    .filter_map(|k| k.as_str())
                    .map(|job| format!("{trigger}/{job}")),
            );
        }
        let rebuild_shards: Vec<serde_yaml::Mapping> = (1..)
            .map_while(|number| {
                std::fs::read_to_string(self.project.join(rebuild_shard_file(number))).ok()
            })
            .map(|text| serde_yaml::from_str(&text).expect("a rebuild shard is YAML"))
            .collect();
        for (number, shard) in (1..).zip(&rebuild_shards) {
            let trigger = rebuild_trigger(number);
            known.extend(
                shard
                    .keys()
                    .filter_map(|k| k.as_str())
                    .map(|job| format!("{trigger}/{job}")),
            );
        }
        let pipelines = Pipelines {
            pipeline,
            pipeline_file,
            rebuild,
            shards,
            rebuild_shards,
        };
        Run::parse(label, output, status, known, pipelines)
    }

    /// The generated pipeline passes GitLab's CI schema and gitlab-ci-local's `--list`.
    #[track_caller]
    pub fn check_pipeline(&self, run: &Run) {
        // Without the run's variables file, whose overrides of predefined variables make
        // gitlab-ci-local print warnings into the job list.
        let _ = std::fs::remove_file(self.project.join(".gitlab-ci-local-variables.yml"));
        crate::support::tools::check_pipeline(&self.project, &run.pipeline_file);
    }

    /// Every shard of a sharded pipeline passes GitLab's CI schema, Psych and gitlab-ci-local's
    /// `--list`.
    #[track_caller]
    pub fn check_shard_pipelines(&self, run: &Run) {
        let _ = std::fs::remove_file(self.project.join(".gitlab-ci-local-variables.yml"));
        for number in 1..=run.shards.len() {
            crate::support::tools::check_pipeline(
                &self.project,
                &self.project.join(shard_file(number)),
            );
        }
    }

    /// Every rebuild pipeline of a sharded rebuild passes GitLab's CI schema, Psych and
    /// gitlab-ci-local's `--list`.
    #[track_caller]
    pub fn check_rebuild_shard_pipelines(&self, run: &Run) {
        let _ = std::fs::remove_file(self.project.join(".gitlab-ci-local-variables.yml"));
        for number in 1..=run.rebuild_shards.len() {
            crate::support::tools::check_pipeline(
                &self.project,
                &self.project.join(rebuild_shard_file(number)),
            );
        }
    }

    /// The rebuild pipeline `evaluate` wrote passes GitLab's CI schema and gitlab-ci-local's
    /// `--list`.
    #[track_caller]
    pub fn check_rebuild_pipeline(&self, run: &Run) {
        run.rebuild();
        let _ = std::fs::remove_file(self.project.join(".gitlab-ci-local-variables.yml"));
        crate::support::tools::check_pipeline(
            &self.project,
            &self.project.join("gipgee-rebuild.yml"),
        );
    }

    /// skopeo against the world's registries, with the release registry's credentials where
    /// needed (the harness's own, not the jobs').
    fn skopeo(&self, args: &[&str], reference: &str) -> Result<String, String> {
        let mut cmd = self.sandboxed("skopeo");
        cmd.args(args).arg("--tls-verify=false");
        if reference.starts_with(&format!("{}/", self.auth.host)) {
            cmd.arg("--creds")
                .arg(format!("{RELEASE_USER}:{RELEASE_PASSWORD}"));
        }
        let out = cmd
            .arg(format!("docker://{reference}"))
            .output()
            .expect("skopeo runs");
        match out.status.success() {
            true => Ok(String::from_utf8_lossy(&out.stdout).to_string()),
            false => Err(String::from_utf8_lossy(&out.stderr).to_string()),
        }
    }

    #[track_caller]
    fn inspect(&self, reference: &str) -> Option<serde_json::Value> {
        match self.skopeo(&["inspect"], reference) {
            Ok(json) => Some(serde_json::from_str(&json).expect("skopeo's JSON")),
            Err(err) if is_absent(&err) => None,
            Err(err) => panic!(
                "e2e `{}`: skopeo inspect {reference} failed: {err}",
                self.scenario
            ),
        }
    }

    /// The manifest digest the registry serves for `reference`, `None` if there is none.
    #[track_caller]
    pub fn digest(&self, reference: &str) -> Option<String> {
        self.inspect(reference)
            .map(|v| v["Digest"].as_str().expect("a digest").to_string())
    }

    /// The layer digests (compressed, as stored) of `reference`, which must exist.
    #[track_caller]
    pub fn layers(&self, reference: &str) -> Vec<String> {
        let Some(info) = self.inspect(reference) else {
            panic!(
                "e2e `{}`: {reference} is not in the registry",
                self.scenario
            )
        };
        info["Layers"]
            .as_array()
            .expect("layers")
            .iter()
            .map(|l| l.as_str().expect("a layer digest").to_string())
            .collect()
    }

    /// The raw manifest of `reference`, which must exist.
    #[track_caller]
    pub fn manifest(&self, reference: &str) -> serde_json::Value {
        let raw = match self.skopeo(&["inspect", "--raw"], reference) {
            Ok(raw) => raw,
            Err(err) => panic!(
                "e2e `{}`: skopeo inspect --raw {reference} failed: {err}",
                self.scenario
            ),
        };
        serde_json::from_str(&raw).expect("manifest JSON")
    }

    /// Deletes a tag's manifest from the registry: a target location that does not exist.
    #[track_caller]
    pub fn delete(&self, reference: &str) {
        if let Err(err) = self.skopeo(&["delete"], reference) {
            panic!(
                "e2e `{}`: skopeo delete {reference} failed: {err}",
                self.scenario
            );
        }
    }

    /// A file the last run left in the project directory (an artifact), if it is there.
    pub fn output_file(&self, path: &str) -> Option<String> {
        std::fs::read_to_string(self.project.join(path)).ok()
    }

    /// The tags of a repository (`host/path`), empty when it does not exist.
    #[track_caller]
    pub fn tags(&self, repository: &str) -> Vec<String> {
        match self.skopeo(&["list-tags"], repository) {
            Ok(json) => {
                let v: serde_json::Value = serde_json::from_str(&json).expect("tags JSON");
                v["Tags"]
                    .as_array()
                    .map(|tags| {
                        tags.iter()
                            .filter_map(|t| t.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default()
            }
            Err(err) if is_absent(&err) => Vec::new(),
            Err(err) => panic!(
                "e2e `{}`: skopeo list-tags {repository} failed: {err}",
                self.scenario
            ),
        }
    }

    /// An anonymous request for a tag on the release registry is refused: its images are
    /// reachable only with the credentials.
    #[track_caller]
    pub fn expect_release_registry_protected(&self, reference: &str) {
        let out = self
            .sandboxed("skopeo")
            .args(["inspect", "--tls-verify=false", "--no-creds"])
            .arg(format!("docker://{reference}"))
            .output()
            .expect("skopeo runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains("authentication required"),
            "e2e `{}`: anonymous access to {reference} should be refused; skopeo said: {stderr}",
            self.scenario
        );
    }

    /// What buildah and skopeo keep outside their storage landed in the temp folder: the
    /// blob-info cache in a sandbox's own cache directory, the CNI lock in the configured
    /// directory. New entries in the host's default places are reported, not failed: other
    /// processes on a shared machine (or other tests) may make them.
    #[track_caller]
    pub fn expect_tool_state_in_temp_folder(&self) {
        assert!(
            self.dir.join("cni/cni.lock").exists(),
            "e2e `{}`: buildah's CNI lock is not in the temp folder",
            self.scenario
        );
        let overlays = std::fs::read_dir(self.dir.join("sandbox")).expect("sandboxes");
        let cached = overlays.filter_map(Result::ok).any(|sandbox| {
            sandbox
                .path()
                .join("cache/blob-info-cache-v1.boltdb")
                .exists()
        });
        assert!(
            cached,
            "e2e `{}`: no blob-info cache in a sandbox: did the tools write to the host's /var/lib?",
            self.scenario
        );
        let appeared: Vec<&str> = HOST_STATE
            .iter()
            .copied()
            .filter(|p| Path::new(p).exists() && !self.host_state_before.contains(p))
            .collect();
        if !appeared.is_empty() {
            eprintln!(
                "e2e `{}`: note: {appeared:?} appeared on the host during the scenario (not from the harness's tools, which write into {})",
                self.scenario,
                self.dir.display()
            );
        }
        eprintln!(
            "e2e `{}`: done in {:.1?}",
            self.scenario,
            self.started.elapsed()
        );
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if std::env::var_os("GIPGEE_E2E_KEEP").is_some()
            && let Some(tempdir) = self.tempdir.take()
        {
            eprintln!(
                "e2e `{}`: kept {} (GIPGEE_E2E_KEEP)",
                self.scenario,
                tempdir.keep().display()
            );
        }
        // Fields drop next: the registries stop (by PID), then the temp folder goes.
    }
}

fn is_absent(skopeo_error: &str) -> bool {
    let error = skopeo_error.to_lowercase();
    ["manifest unknown", "name unknown", "not found"]
        .iter()
        .any(|s| error.contains(s))
}

/// Runs `cmd` (its own process group), stdout and stderr interleaved as gitlab-ci-local
/// wrote them; kills the whole group after RUN_TIMEOUT.
fn run_with_timeout(mut cmd: Command, label: &str) -> (String, Option<i32>) {
    let (mut reader, writer) = std::io::pipe().expect("pipe");
    cmd.stdout(writer.try_clone().expect("pipe"))
        .stderr(writer)
        .process_group(0);
    let mut child = cmd.spawn().expect("gitlab-ci-local starts");
    drop(cmd); // closes our copies of the pipe's write end
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = reader.read_to_end(&mut bytes);
        let _ = sender.send(String::from_utf8_lossy(&bytes).to_string());
    });
    let kill_group = |child: &mut Child| {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", child.id())])
            .status();
        let _ = child.wait();
    };
    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() > deadline {
            kill_group(&mut child);
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // A process left behind that still holds the pipe must not hang the test.
    let output = receiver
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| {
            kill_group(&mut child);
            receiver.recv().unwrap_or_default()
        });
    match status {
        Some(status) => (output, status.code()),
        None => panic!(
            "e2e `{label}`: gitlab-ci-local did not finish in {RUN_TIMEOUT:?}; its output:\n{output}"
        ),
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A pipeline file as a YAML value, as `support::resolve_job` reads it.
fn mapping_value(pipeline: &serde_yaml::Mapping) -> serde_yaml::Value {
    serde_yaml::Value::Mapping(pipeline.clone())
}
