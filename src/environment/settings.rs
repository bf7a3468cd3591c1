//! The settings of one gipgee command, resolved once from its command-line flags and the
//! variables (a flag wins over its variable, as clap applies them), so that nothing further
//! down reads the environment or re-decides a default.

use std::path::PathBuf;

use serde::Serialize;

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
}

/// The images the generated jobs run in (`GIPGEE_*_IMAGE`; the component sets them from its
/// inputs).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct JobImages {
    pub buildah_image: String,
    pub skopeo_image: String,
    pub plan_image: String,
    /// The gipgee image (layer check, evaluate); the component passes its own.
    pub gipgee_image: String,
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
        }
    }
}

impl Settings {
    pub fn resolve(flags: Flags, vars: &Vars) -> Settings {
        Settings {
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_templates_flag_is_kept_and_an_empty_one_means_none() {
        let vars = Vars::from_pairs([("GIPGEE_TEMPLATES_DIR", "from-the-variable")]);
        let flags = |dir: &str| Flags {
            templates_dir: Some(PathBuf::from(dir)),
            ..Flags::default()
        };
        let settings = Settings::resolve(flags("ci/templates"), &vars);
        assert_eq!(settings.templates_dir, Some(PathBuf::from("ci/templates")));
        assert_eq!(Settings::resolve(flags(""), &vars).templates_dir, None);
    }
}
