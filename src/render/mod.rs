//! Job templates: the built-in minijinja templates (compiled in from `components/`), user
//! overrides from a templates directory, and turning a job spec into a GitLab job — or into an
//! error naming the template and line. The escaping filters every template uses are in
//! `escape`.

pub mod escape;
mod yaml11;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use serde::Serialize;

use crate::error::Error;
use crate::gitlab::{self, Job, JobProblem};
use crate::jobs::JobSpec;
use crate::jobs::template_vars::{JobVars, TemplateVars};

/// A built-in template: its kind (the file stem) and source.
pub struct BuiltIn {
    pub kind: &'static str,
    pub source: &'static str,
}

/// A built-in template from `components/<kind>.yml.j2`: the kind names the file, once.
macro_rules! built_in {
    ($kind:literal) => {
        BuiltIn {
            kind: $kind,
            source: include_str!(concat!("../../components/", $kind, ".yml.j2")),
        }
    };
}

/// The job kinds and their built-in templates, in the order `templates export` writes them.
pub const BUILT_INS: &[BuiltIn] = &[
    built_in!("common"),
    built_in!("plan"),
    built_in!("build"),
    built_in!("test"),
    built_in!("scan"),
    built_in!("release"),
    built_in!("sign"),
    built_in!("layer-check"),
    built_in!("update-check"),
    built_in!("update-check-batch"),
    built_in!("evaluate"),
    built_in!("verdict"),
    built_in!("trigger"),
];

/// The work one render of a template may do, in minijinja's fuel (about one unit per
/// instruction and per 64 bytes of data made, so also about 6 MiB of memory): a built-in job
/// needs a few hundred, and a template that loops without end stops with an error instead
/// of hanging.
pub const TEMPLATE_FUEL: u64 = 100_000;
/// The most text one render of a template may produce: a GitLab job is a few KiB.
pub const MAX_RENDERED_BYTES: usize = 256 * 1024;

/// The file name a template of `kind` has, built in or in a templates directory.
pub fn file_name(kind: &str) -> String {
    format!("{kind}.yml.j2")
}

/// The rendering environment: built-ins, overridden by the files of a templates directory.
pub struct Templates {
    env: Environment<'static>,
    /// Where each template came from, for error messages.
    origins: BTreeMap<String, String>,
    /// The templates read from the user's templates directory.
    users: BTreeSet<String>,
}

impl Templates {
    pub fn new(override_dir: Option<&Path>) -> Result<Templates, Error> {
        let mut env = Environment::new();
        env.set_fuel(Some(TEMPLATE_FUEL));
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Escaping is explicit (`yaml`, `sh`), so a value is never escaped twice.
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.add_filter("yaml", escape::yaml_filter);
        env.add_filter("sh", escape::sh_filter);
        let mut origins = BTreeMap::new();
        let mut users = BTreeSet::new();
        for built_in in BUILT_INS {
            let name = file_name(built_in.kind);
            let (source, origin) = match override_dir
                .map(|dir| dir.join(&name))
                .filter(|p| p.is_file())
            {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .map_err(|err| Error::io("read template", &path, err))?;
                    users.insert(name.clone());
                    (text, path.display().to_string())
                }
                None => (built_in.source.to_string(), format!("built-in {name}")),
            };
            env.add_template_owned(name.clone(), source)
                .map_err(|err| template_error(&origin, &err))?;
            origins.insert(name, origin);
        }
        if let Some(dir) = override_dir {
            reject_unknown_files(dir)?;
        }
        Ok(Templates {
            env,
            origins,
            users,
        })
    }

    /// Renders a job: its template's body, with the name, stage, `needs` and manual start the
    /// spec decided.
    pub fn render_job(&self, spec: &JobSpec) -> Result<Job, Error> {
        let body = self.render(
            spec.kind,
            &spec.name,
            to_context(&spec.vars),
            gitlab::check_job,
        )?;
        Ok(Job {
            name: spec.name.clone(),
            stage: spec.stage,
            needs: spec.needs.clone(),
            manual: spec.manual,
            body,
        })
    }

    /// Renders the hidden jobs (`.gipgee-*`) other jobs extend: the `common` template.
    pub fn render_hidden_jobs(&self, vars: &TemplateVars) -> Result<serde_yaml::Mapping, Error> {
        self.render("common", "", to_context(vars), gitlab::check_hidden_jobs)
    }

    /// Renders the body that jobs alike share (their template with `spec`'s variables), as the
    /// hidden job `hidden`: `job.name` and `job.stage` are the hidden job's. Checked as a job.
    pub fn render_shared(&self, spec: &JobSpec, hidden: &str) -> Result<Job, Error> {
        let job = JobVars::new(hidden, spec.stage);
        let context = minijinja::value::merge_maps([
            minijinja::context! { job => to_context(&job) },
            to_context(&spec.vars),
        ]);
        let body = self.render(spec.kind, hidden, context, gitlab::check_job)?;
        Ok(Job {
            name: hidden.to_string(),
            stage: spec.stage,
            needs: None,
            manual: false,
            body,
        })
    }

    /// Renders the template of `kind`, parses it as a YAML mapping and applies `check`
    /// (GitLab's rules for what a job may contain); any problem names the template and line.
    fn render(
        &self,
        kind: &str,
        job: &str,
        context: Value,
        check: fn(&serde_yaml::Mapping) -> Result<(), JobProblem>,
    ) -> Result<serde_yaml::Mapping, Error> {
        let name = file_name(kind);
        let origin = self
            .origins
            .get(&name)
            .cloned()
            .unwrap_or_else(|| name.clone());
        let template = self
            .env
            .get_template(&name)
            .map_err(|err| template_error(&origin, &err))?;
        let text = render_bounded(&origin, &template, context)?;
        let mapping = parse_job(&text)
            .map_err(|(line, message)| rendered_error(&origin, job, line, message, &text))?;
        // The built-in templates quote every value; a user's may write a plain `yes`.
        if self.users.contains(&name)
            && let Some((line, message)) = yaml11::first_disagreement(&text)
        {
            return Err(rendered_error(&origin, job, Some(line), message, &text));
        }
        check(&mapping).map_err(|problem| {
            let line = problem
                .key
                .as_deref()
                .and_then(|key| line_of_key(&text, key));
            rendered_error(&origin, job, line, problem.message, &text)
        })?;
        Ok(mapping)
    }
}

fn to_context<V: Serialize>(vars: &V) -> Value {
    Value::from(minijinja::value::Serde(vars))
}

/// The first rendered line that starts the given key (the template line, unless loops or
/// includes moved it).
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|line| {
            let line = line.trim_start();
            line.strip_prefix(key)
                .or_else(|| line.strip_prefix(&format!("\"{key}\"")))
                .is_some_and(|rest| rest.starts_with(':'))
        })
        .map(|index| index + 1)
}

fn excerpt(text: &str, line: usize) -> Option<String> {
    text.lines()
        .nth(line.saturating_sub(1))
        .map(|l| format!("{line}: {l}"))
}

fn reject_unknown_files(dir: &Path) -> Result<(), Error> {
    let entries =
        std::fs::read_dir(dir).map_err(|err| Error::io("read templates directory", dir, err))?;
    let known: Vec<String> = BUILT_INS.iter().map(|b| file_name(b.kind)).collect();
    // Sorted, so the same directory always gives the same error.
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    for name in names {
        if name.ends_with(".j2") && !known.contains(&name) {
            let hint = crate::diagnostic::suggest(&name, known.iter().map(String::as_str))
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            return Err(Error::User(format!(
                "unknown template `{}`{hint}: templates are named {}",
                PathBuf::from(dir).join(&name).display(),
                known.join(", ")
            )));
        }
    }
    Ok(())
}

/// Renders within [`TEMPLATE_FUEL`] and [`MAX_RENDERED_BYTES`], so that no template can hang
/// gipgee or fill its memory; a problem names the template (`origin`).
fn render_bounded(
    origin: &str,
    template: &minijinja::Template<'_, '_>,
    context: Value,
) -> Result<String, Error> {
    let mut out = BoundedText::default();
    let rendered = template.render_captured_to(context, &mut out);
    let bounded = |line, message: String| Error::Template {
        template: origin.to_string(),
        line,
        message,
        excerpt: None,
    };
    if out.exceeded {
        return Err(bounded(
            None,
            format!(
                "renders more than {} KiB of text, the most a job template may (a GitLab job is a few KiB)",
                MAX_RENDERED_BYTES / 1024
            ),
        ));
    }
    match rendered {
        Ok(_) => Ok(String::from_utf8_lossy(&out.text).into_owned()),
        Err(err) if err.kind() == minijinja::ErrorKind::OutOfFuel => Err(bounded(
            err.line(),
            format!(
                "does more work than a job template may (minijinja fuel {TEMPLATE_FUEL}): does a loop run too long?"
            ),
        )),
        Err(err) => Err(template_error(origin, &err)),
    }
}

/// Rendered text, refused past [`MAX_RENDERED_BYTES`].
#[derive(Default)]
struct BoundedText {
    text: Vec<u8>,
    exceeded: bool,
}

impl std::io::Write for BoundedText {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.text.len() + buf.len() > MAX_RENDERED_BYTES {
            self.exceeded = true;
            return Err(std::io::Error::other("the rendered text is too long"));
        }
        self.text.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn template_error(origin: &str, err: &minijinja::Error) -> Error {
    let mut message = err.kind().to_string();
    if let Some(detail) = err.detail() {
        message = format!("{message}: {detail}");
    }
    Error::Template {
        template: origin.to_string(),
        line: err.line(),
        message,
        excerpt: None,
    }
}

/// A problem in what a template rendered: the line is a line of the *output* (loops and
/// conditions move lines), shown with its text.
fn rendered_error(
    origin: &str,
    job: &str,
    line: Option<usize>,
    message: String,
    text: &str,
) -> Error {
    let job = match job {
        "" => String::new(),
        job => format!("job `{job}`, "),
    };
    let at = line
        .map(|l| format!("rendered line {l}: "))
        .unwrap_or_default();
    Error::Template {
        template: origin.to_string(),
        line: None,
        message: format!("{job}{at}{message}"),
        excerpt: line.and_then(|l| excerpt(text, l)),
    }
}

/// A rendered template must be one YAML mapping (a GitLab job, or hidden jobs).
fn parse_job(text: &str) -> Result<serde_yaml::Mapping, (Option<usize>, String)> {
    match serde_yaml::from_str::<serde_yaml::Value>(text) {
        Ok(serde_yaml::Value::Mapping(mapping)) => Ok(mapping),
        Ok(other) => Err((
            None,
            format!(
                "rendered {}, expected a mapping of job keywords",
                yaml_kind(&other)
            ),
        )),
        Err(err) => Err((
            err.location().map(|l| l.line()),
            format!("invalid YAML: {err}"),
        )),
    }
}

fn yaml_kind(value: &serde_yaml::Value) -> &'static str {
    match value {
        serde_yaml::Value::Null => "nothing",
        serde_yaml::Value::Sequence(_) => "a list",
        serde_yaml::Value::Mapping(_) => "a mapping",
        _ => "a scalar",
    }
}
