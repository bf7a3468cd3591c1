//! What gipgee knows about GitLab CI itself, in one place: the job keywords a template may
//! write, the limits a pipeline must stay inside, the stages gipgee's pipelines use, a job as
//! GitLab sees it, and the predefined variables that hold secrets. Templates render job
//! bodies; the checks here decide whether GitLab would accept them.

use serde_yaml::{Mapping, Value};

use crate::diagnostic::suggest;

/// GitLab's predefined variables that hold secrets in every job. Together with the variables
/// named in `registries:`, they are never expanded into a pipeline or a message.
pub const SECRET_VARIABLES: &[&str] = &[
    "CI_JOB_TOKEN",
    "CI_REGISTRY_PASSWORD",
    "CI_DEPLOY_PASSWORD",
    "CI_DEPENDENCY_PROXY_PASSWORD",
    "CI_REPOSITORY_URL",
    "DOCKER_AUTH_CONFIG",
    // The job's JSON web tokens (removed in GitLab 17.0, still set on older instances).
    "CI_JOB_JWT",
    "CI_JOB_JWT_V1",
    "CI_JOB_JWT_V2",
];

// GitLab reads pipelines with Ruby's Psych, a YAML 1.1 parser: gipgee's writer quotes what
// it could read as another type, and a user's template must not rely on a plain word that YAML
// 1.1 and gipgee's YAML 1.2 reading disagree on.

/// Plain scalars that YAML 1.1 or 1.2 read as booleans, null, YAML 1.1's merge key or its
/// `value` type (compared without case: Psych reads `YeS` as `true`).
const TYPED_WORDS: &[&str] = &[
    "y", "n", "yes", "no", "true", "false", "on", "off", "null", "~", "<<", "=",
];

/// Whether a plain `text` could be read as a non-string by some YAML 1.1 or 1.2 resolver.
/// Deliberately broad: every number, date, time and sexagesimal form starts with a digit (after
/// a sign) or is a dotted infinity/NaN, and uses only these characters; quoting a string that
/// merely looks like one costs nothing. Only a timestamp has a space, after a `yyyy-` date, so
/// `30 minutes` stays plain.
pub fn may_read_as_another_type(text: &str) -> bool {
    // The common case, decided at once: longer than every typed word and dotted infinity/NaN
    // (5 characters), and not numeric at the start.
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    if text.len() > 5 && !unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return false;
    }
    if TYPED_WORDS
        .iter()
        .any(|word| word.eq_ignore_ascii_case(text))
    {
        return true;
    }
    if [".inf", ".nan"]
        .iter()
        .any(|word| word.eq_ignore_ascii_case(unsigned))
    {
        return true;
    }
    // Psych takes `.e+1` for a float too (and fails to convert it).
    let numeric_start = unsigned.starts_with(|c: char| c.is_ascii_digit())
        || unsigned.strip_prefix('.').is_some_and(|rest| {
            rest.starts_with(|c: char| c.is_ascii_digit())
                || rest.starts_with(['e', 'E']) && rest[1..].starts_with(['+', '-'])
        });
    let numeric_chars = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ',' | ':' | '+' | '-' | ' '));
    numeric_start && numeric_chars && (!text.contains(' ') || starts_with_a_year(text))
}

/// `yyyy-`: the start of every YAML 1.1 timestamp.
fn starts_with_a_year(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() > 4 && bytes[..4].iter().all(u8::is_ascii_digit) && bytes[4] == b'-'
}

/// GitLab's default maximum number of `needs` of one job.
pub const MAX_NEEDS: usize = 50;

/// The most jobs one pipeline may have by default: GitLab.com Free's `ci_pipeline_size` (trial
/// 1,000, Premium 1,500, Ultimate 2,000; self-managed instances set their own). Settings may
/// change it (`GIPGEE_MAX_JOBS`).
pub const DEFAULT_MAX_JOBS: usize = 500;

/// The largest pipeline file gipgee writes by default (`GIPGEE_MAX_YAML_BYTES`). GitLab limits
/// the *parsed* YAML in memory (`max_yaml_size_bytes`: 2 MB on current versions, 1 MB on older
/// ones), which is larger than the file, and gipgee cannot measure it; half the current default
/// leaves room for that. On an older instance, set it lower.
pub const DEFAULT_MAX_YAML_BYTES: usize = 1024 * 1024;

/// The fewest jobs a pipeline limit may allow: a sharded run needs a dispatcher with its plan
/// job and two trigger jobs, each shard its plan job and one image's build.
pub const MIN_MAX_JOBS: usize = 3;

/// The smallest YAML budget: the stages and workflow alone take a few hundred bytes.
pub const MIN_MAX_YAML_BYTES: usize = 1024;

/// The limits a generated pipeline stays inside: jobs per pipeline and bytes per file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipelineLimits {
    pub max_jobs: usize,
    pub max_yaml_bytes: usize,
}

impl Default for PipelineLimits {
    fn default() -> Self {
        PipelineLimits {
            max_jobs: DEFAULT_MAX_JOBS,
            max_yaml_bytes: DEFAULT_MAX_YAML_BYTES,
        }
    }
}

impl PipelineLimits {
    /// Whether a pipeline of `jobs` jobs written as `bytes` bytes fits.
    pub fn fit(&self, jobs: usize, bytes: usize) -> bool {
        jobs <= self.max_jobs && bytes <= self.max_yaml_bytes
    }
}

/// Keys a job template may write (GitLab's job keywords), minus those gipgee manages.
const JOB_KEYWORDS: &[&str] = &[
    "after_script",
    "allow_failure",
    "artifacts",
    "before_script",
    "cache",
    "coverage",
    "dast_configuration",
    "dependencies",
    "environment",
    "extends",
    "hooks",
    "id_tokens",
    "identity",
    "image",
    "inherit",
    "interruptible",
    "manual_confirmation",
    "pages",
    "parallel",
    "release",
    "resource_group",
    "retry",
    "rules",
    "run",
    "script",
    "secrets",
    "services",
    "tags",
    "timeout",
    "trigger",
    "variables",
    "when",
];
/// Keys gipgee sets itself: a template that sets them would fight the job graph.
const MANAGED_KEYWORDS: &[&str] = &["stage", "needs"];

/// A problem with a rendered job, found before it is placed in the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobProblem {
    /// The offending key, so the caller can point at its line.
    pub key: Option<String>,
    pub message: String,
}

/// Checks a rendered job body: only GitLab job keywords, none of those gipgee manages.
pub fn check_job(body: &Mapping) -> Result<(), JobProblem> {
    for key in body.keys() {
        let key = key_text(key);
        if MANAGED_KEYWORDS.contains(&key.as_str()) {
            return Err(JobProblem {
                message: format!("sets `{key}`, which gipgee manages (the job graph)"),
                key: Some(key),
            });
        }
        if !JOB_KEYWORDS.contains(&key.as_str()) {
            let hint = suggest(&key, JOB_KEYWORDS.iter().copied())
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            return Err(JobProblem {
                message: format!("`{key}` is not a GitLab job keyword{hint}"),
                key: Some(key),
            });
        }
    }
    Ok(())
}

/// Checks the rendered hidden jobs: a mapping of `.name` → job body.
pub fn check_hidden_jobs(hidden: &Mapping) -> Result<(), JobProblem> {
    for (name, body) in hidden {
        let name_text = key_text(name);
        if !name_text.starts_with('.') {
            return Err(JobProblem {
                message: format!("`{name_text}` is not a hidden job name (start it with `.`)"),
                key: Some(name_text),
            });
        }
        match body {
            Value::Mapping(body) => check_job(body)?,
            _ => {
                return Err(JobProblem {
                    message: format!("hidden job `{name_text}` is not a mapping of job keywords"),
                    key: Some(name_text),
                });
            }
        }
    }
    Ok(())
}

/// A pipeline stage, in run order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    Plan,
    Build,
    Test,
    /// The scans of staging images, between their tests and their release.
    Scan,
    Release,
    /// The signatures of released images.
    Sign,
    Check,
    Evaluate,
    Rebuild,
    Verdict,
    /// The trigger jobs of a sharded pipeline's dispatcher.
    Shards,
}

impl Stage {
    /// The stages of a build pipeline.
    pub const BUILD: &[Stage] = &[Stage::Plan, Stage::Build, Stage::Test, Stage::Release];
    /// The stages of a build pipeline, with the scan and sign stages only when a job uses them
    /// (a pipeline without them keeps the stages it always had).
    pub fn build_stages(scan: bool, sign: bool) -> &'static [Stage] {
        use Stage::{Build, Plan, Release, Scan, Sign, Test};
        match (scan, sign) {
            (false, false) => Stage::BUILD,
            (true, false) => &[Plan, Build, Test, Scan, Release],
            (false, true) => &[Plan, Build, Test, Release, Sign],
            (true, true) => &[Plan, Build, Test, Scan, Release, Sign],
        }
    }
    /// The stages of the dispatcher of a sharded pipeline.
    pub const DISPATCHER: &[Stage] = &[Stage::Plan, Stage::Shards];
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
            Stage::Scan => "gipgee-scan",
            Stage::Release => "gipgee-release",
            Stage::Sign => "gipgee-sign",
            Stage::Check => "gipgee-check",
            Stage::Evaluate => "gipgee-evaluate",
            Stage::Rebuild => "gipgee-rebuild",
            Stage::Verdict => "gipgee-verdict",
            Stage::Shards => "gipgee-shards",
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

fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}
