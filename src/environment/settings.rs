//! The settings of one gipgee command, resolved once from its command-line flags and the
//! variables (a flag wins over its variable, as clap applies them), so that nothing further
//! down reads the environment or re-decides a default.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::error::Error;
use crate::gitlab::{self, PipelineLimits};
use crate::registry::ClientConfig;
use crate::vars::Vars;

/// What the command line asked for, before the variables are consulted.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub config: PathBuf,
    /// The rebuild selection file (`--selection`).
    pub selection: Option<PathBuf>,
    /// `--templates DIR`; an empty path means none (the component always passes the input).
    pub templates_dir: Option<PathBuf>,
    /// The git work tree: the directory gipgee runs in.
    pub workdir: PathBuf,
}

/// Everything downstream needs to know about how gipgee was called and where it runs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub config: PathBuf,
    pub selection: Option<PathBuf>,
    pub templates_dir: Option<PathBuf>,
    pub workdir: PathBuf,
    /// The images of the jobs gipgee generates.
    pub job_images: JobImages,
    /// `$CI_REGISTRY`, whose jobs log in with the job's own registry credentials.
    pub ci_registry: Option<String>,
    /// Whether a push to the default branch reads the revision of released images
    /// (`GIPGEE_RELEASED_REVISION_CHECK`, default true; `false` or `0` turns it off).
    pub released_revision_check: bool,
    /// The jobs per pipeline and bytes per file a generated pipeline stays inside
    /// (`GIPGEE_MAX_JOBS`, `GIPGEE_MAX_YAML_BYTES`).
    pub limits: PipelineLimits,
    /// Whether the shards of a sharded pipeline run one after another
    /// (`GIPGEE_SEQUENTIAL_SHARDS`), for GitLab's limit on a project's active jobs.
    pub sequential_shards: bool,
    /// The job that runs `generate` (`CI_JOB_NAME`): a sharded pipeline's dispatcher downloads
    /// the shard files from its artifacts.
    pub generate_job: String,
}

/// The default image of the scan jobs: trivy's own (Alpine, with a shell).
pub const DEFAULT_TRIVY_IMAGE: &str = "aquasec/trivy:0.58.1";
/// The default image of the sign jobs: cosign's own image has no shell, which a GitLab job's
/// script needs; Chainguard's `-dev` variant has one.
pub const DEFAULT_COSIGN_IMAGE: &str = "cgr.dev/chainguard/cosign:latest-dev";

/// The images the generated jobs run in (`GIPGEE_*_IMAGE`; the component sets them from its
/// inputs).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct JobImages {
    pub buildah_image: String,
    pub skopeo_image: String,
    pub plan_image: String,
    /// The gipgee image (layer check, evaluate); the component passes its own.
    pub gipgee_image: String,
    /// The image of the scan jobs (trivy).
    pub trivy_image: String,
    /// The image of the sign jobs (cosign, with a shell).
    pub cosign_image: String,
}

impl JobImages {
    fn from_vars(vars: &Vars) -> JobImages {
        let pick = |name: &str, default: &str| vars.get(name).unwrap_or(default).to_string();
        JobImages {
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
            trivy_image: pick("GIPGEE_TRIVY_IMAGE", DEFAULT_TRIVY_IMAGE),
            cosign_image: pick("GIPGEE_COSIGN_IMAGE", DEFAULT_COSIGN_IMAGE),
        }
    }
}

impl Settings {
    /// The settings; an error when a limit variable is not a number in its range.
    pub fn resolve(flags: Flags, vars: &Vars) -> Result<Settings, Error> {
        Ok(Settings {
            config: flags.config,
            selection: flags.selection,
            templates_dir: flags
                .templates_dir
                .filter(|dir| !dir.as_os_str().is_empty()),
            workdir: flags.workdir,
            job_images: JobImages::from_vars(vars),
            ci_registry: vars.get("CI_REGISTRY").map(str::to_string),
            released_revision_check: !matches!(
                vars.get("GIPGEE_RELEASED_REVISION_CHECK"),
                Some(v) if v.eq_ignore_ascii_case("false") || v == "0"
            ),
            limits: pipeline_limits(vars)?,
            sequential_shards: matches!(
                vars.get("GIPGEE_SEQUENTIAL_SHARDS"),
                Some(v) if v.eq_ignore_ascii_case("true") || v == "1"
            ),
            generate_job: vars
                .get("CI_JOB_NAME")
                .filter(|name| !name.is_empty())
                .unwrap_or("gipgee:generate")
                .to_string(),
        })
    }
}

/// The pipeline limits of the variables, the defaults where they are unset or empty (the
/// component always passes its inputs).
fn pipeline_limits(vars: &Vars) -> Result<PipelineLimits, Error> {
    let defaults = PipelineLimits::default();
    Ok(PipelineLimits {
        max_jobs: limit(
            vars,
            "GIPGEE_MAX_JOBS",
            gitlab::MIN_MAX_JOBS,
            defaults.max_jobs,
        )?,
        max_yaml_bytes: limit(
            vars,
            "GIPGEE_MAX_YAML_BYTES",
            gitlab::MIN_MAX_YAML_BYTES,
            defaults.max_yaml_bytes,
        )?,
    })
}

fn limit(vars: &Vars, name: &str, min: usize, default: usize) -> Result<usize, Error> {
    let Some(text) = vars.get(name).map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(default);
    };
    match text.parse::<usize>() {
        Ok(value) if value >= min => Ok(value),
        _ => Err(Error::User(format!(
            "{name} is `{text}`: expected a whole number of at least {min} (default {default})"
        ))),
    }
}

/// How long `gipgee layer-check` may take in all by default: well under GitLab's default job
/// timeout of one hour, so the job still writes its results.
pub const DEFAULT_LAYER_CHECK_DEADLINE: Duration = Duration::from_secs(30 * 60);

/// How long one registry request may take by default, from connecting to the last byte.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The time bounds of the registry client in `gipgee layer-check` (`--deadline`,
/// `--request-timeout` or their variables).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryLimits {
    /// The whole check: what is not checked by then gets an error, and the results are
    /// written.
    pub deadline: Duration,
    /// One request (a timed-out host is then not asked again in the run).
    pub request_timeout: Duration,
}

impl Default for RegistryLimits {
    fn default() -> Self {
        RegistryLimits {
            deadline: DEFAULT_LAYER_CHECK_DEADLINE,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

impl RegistryLimits {
    /// `config` with these bounds.
    pub fn apply(&self, config: ClientConfig) -> ClientConfig {
        let mut config = config;
        config.time_limit = Some(self.deadline);
        config.transport.request_timeout = self.request_timeout;
        // A connection takes no longer than a whole request may.
        config.transport.connect_timeout =
            config.transport.connect_timeout.min(self.request_timeout);
        config
    }
}

/// A duration as `90s`, `30m`, `1h`, `1h30m` or plain seconds (`1800`); more than zero.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid =
        || format!("`{text}` is no duration: write e.g. `30m`, `90s`, `1h30m` or seconds (`1800`)");
    let text_trimmed = text.trim();
    if text_trimmed.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text_trimmed.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(invalid()),
        };
        let value: u64 = number.parse().map_err(|_| invalid())?;
        total = value
            .checked_mul(unit)
            .and_then(|seconds| total.checked_add(seconds))
            .ok_or_else(invalid)?;
        number.clear();
    }
    if !number.is_empty() {
        let value: u64 = number.parse().map_err(|_| invalid())?;
        total = total.checked_add(value).ok_or_else(invalid)?;
    }
    if total == 0 {
        return Err(format!("`{text}`: the duration must be more than zero"));
    }
    Ok(Duration::from_secs(total))
}

/// A duration as [`parse_duration`] reads it, in whole seconds: `30m`, `1h30m`, `45s`; less
/// than a second (only tests set that) in milliseconds.
pub fn format_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if seconds == 0 {
        return format!("{}ms", duration.as_millis());
    }
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let mut out = String::new();
    for (value, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if value > 0 {
            out.push_str(&format!("{value}{unit}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_format() {
        let secs = Duration::from_secs;
        assert_eq!(parse_duration("30m"), Ok(secs(1800)));
        assert_eq!(parse_duration("90s"), Ok(secs(90)));
        assert_eq!(parse_duration("1h30m"), Ok(secs(5400)));
        assert_eq!(parse_duration(" 1800 "), Ok(secs(1800)));
        for bad in ["", "m", "30x", "1.5h", "-1s", "99999999999999999999h", "0s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(format_duration(secs(1800)), "30m");
        assert_eq!(format_duration(secs(5445)), "1h30m45s");
        assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(parse_duration(&format_duration(secs(5445))), Ok(secs(5445)));
    }

    #[test]
    fn registry_limits_bound_the_client() {
        let limits = RegistryLimits {
            deadline: Duration::from_secs(2),
            request_timeout: Duration::from_secs(1),
        };
        let config = limits.apply(ClientConfig::default());
        assert_eq!(config.time_limit, Some(Duration::from_secs(2)));
        assert_eq!(config.transport.request_timeout, Duration::from_secs(1));
        assert_eq!(config.transport.connect_timeout, Duration::from_secs(1));
        assert_eq!(
            RegistryLimits::default()
                .apply(ClientConfig::default())
                .time_limit,
            Some(DEFAULT_LAYER_CHECK_DEADLINE)
        );
    }

    #[test]
    fn the_templates_flag_is_kept_and_an_empty_one_means_none() {
        let vars = Vars::from_pairs([("GIPGEE_TEMPLATES_DIR", "from-the-variable")]);
        let flags = |dir: &str| Flags {
            templates_dir: Some(PathBuf::from(dir)),
            ..Flags::default()
        };
        let settings = Settings::resolve(flags("ci/templates"), &vars).unwrap();
        assert_eq!(settings.templates_dir, Some(PathBuf::from("ci/templates")));
        assert_eq!(
            Settings::resolve(flags(""), &vars).unwrap().templates_dir,
            None
        );
    }

    #[test]
    fn pipeline_limits_come_from_their_variables_or_default() {
        let resolve = |pairs: &[(&str, &str)]| {
            Settings::resolve(Flags::default(), &Vars::from_pairs(pairs.iter().copied()))
                .map(|s| s.limits)
                .map_err(|err| err.to_string())
        };
        assert_eq!(resolve(&[]), Ok(PipelineLimits::default()));
        assert_eq!(
            resolve(&[("GIPGEE_MAX_JOBS", " 8 "), ("GIPGEE_MAX_YAML_BYTES", "")]),
            Ok(PipelineLimits {
                max_jobs: 8,
                max_yaml_bytes: gitlab::DEFAULT_MAX_YAML_BYTES
            })
        );
        let err = resolve(&[("GIPGEE_MAX_JOBS", "2")]).unwrap_err();
        assert!(
            err.contains("GIPGEE_MAX_JOBS is `2`: expected a whole number of at least 3"),
            "{err}"
        );
        let err = resolve(&[("GIPGEE_MAX_YAML_BYTES", "1MB")]).unwrap_err();
        assert!(err.contains("GIPGEE_MAX_YAML_BYTES is `1MB`"), "{err}");
    }
}
