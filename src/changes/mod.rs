//! Finding the files changed in a GitLab pipeline, from the git checkout.
//!
//! The pipeline decides which images to rebuild from the paths that changed
//! between the commit being built and a base commit (see [`ChangeBase`]). This
//! module runs `git` (the command, through [`std::process::Command`]) in the
//! job's work tree to compute those paths, and is robust to the shallow clones
//! GitLab makes by default: missing commits are fetched from `origin`, and a
//! shallow history is deepened (then, as a last resort, unshallowed) when the
//! ancestry or merge-base question cannot be answered with what is present.
//!
//! Nothing here panics: whenever git fails, the answer becomes
//! [`Changes::All`] with a reason quoting git's error, so the caller builds
//! every image rather than silently missing one.

use std::collections::BTreeSet;
use std::path::Path;

mod git;

use crate::error::Error;

use git::Git;

/// What to diff HEAD against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeBase {
    /// Default-branch push: diff against CI_COMMIT_BEFORE_SHA.
    BeforeSha(String),
    /// Other-branch push: diff against the merge base of HEAD with `origin/<branch>` (the default branch).
    MergeBaseWith(String),
    /// Merge request pipeline: diff against CI_MERGE_REQUEST_DIFF_BASE_SHA.
    DiffBaseSha(String),
    /// The commit a released image was built from (its `org.opencontainers.image.revision`):
    /// what changed since the image was last released.
    ReleasedRevision(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changes {
    /// The changed repo-relative paths (sorted, deduplicated) and the commit they were diffed against.
    Files {
        base: String,
        files: BTreeSet<String>,
    },
    /// Changes cannot be known: every image must be selected. `reason` is a human sentence; `warning` true when this is a fallback the user must notice (git failed), false when it is the normal rule (first push / force push).
    All { reason: String, warning: bool },
}

/// How many commits each deepening fetch adds to a shallow history.
const DEEPEN_BY: u32 = 50;
/// How many deepening fetches are tried before fetching the whole history.
const DEEPEN_TRIES: u32 = 3;

/// `repo`: the work tree; `head`: the commit being built (CI_COMMIT_SHA, may be "HEAD").
/// `log`: receives short human lines about what was done (fetches, deepening), for the job log.
///
/// A git that runs but cannot answer falls back to all images, loudly; a git that cannot run at
/// all is an error: an image without git would otherwise rebuild and release everything on
/// every push.
pub fn changed_files(
    repo: &Path,
    head: &str,
    base: &ChangeBase,
    log: &mut dyn FnMut(&str),
) -> Result<Changes, Error> {
    let git = Git { repo };
    git.check_runs().map_err(|err| {
        Error::User(format!(
            "cannot run `git` ({err}): gipgee needs git to find what this pipeline changed; run it in an image that has git (the gipgee image has)"
        ))
    })?;
    match compute(&git, head, base, log) {
        Ok(changes) | Err(changes) => Ok(changes),
    }
}

/// The path of `file` (absolute, or relative to the work tree `repo`) from the repository's
/// root, as `git diff` names it. `Err` says why it cannot be found (a human sentence).
pub fn repo_path(repo: &Path, file: &Path) -> Result<String, String> {
    let git = Git { repo };
    let out = git.run(&["rev-parse", "--show-toplevel"])?;
    if !out.success() {
        return Err(format!(
            "{} is not a usable git repository ({})",
            repo.display(),
            out.error_summary()
        ));
    }
    let top = Path::new(&out.stdout_line())
        .canonicalize()
        .map_err(|err| format!("cannot resolve the repository root: {err}"))?;
    let full = repo
        .join(file)
        .canonicalize()
        .map_err(|err| format!("cannot resolve {}: {err}", file.display()))?;
    let relative = full.strip_prefix(&top).map_err(|_| {
        format!(
            "{} is outside the repository {}",
            full.display(),
            top.display()
        )
    })?;
    relative
        .to_str()
        .map(|path| path.replace(std::path::MAIN_SEPARATOR, "/"))
        .ok_or_else(|| format!("{} is not valid UTF-8", relative.display()))
}

/// The text of the repo-relative `path` at commit `commit`: `None` when the file does not
/// exist there. `Err` says why it cannot be read (a human sentence).
pub fn file_at(repo: &Path, commit: &str, path: &str) -> Result<Option<String>, String> {
    let git = Git { repo };
    if commit.starts_with('-') || path.starts_with('-') {
        return Err(format!("`{commit}:{path}` is not a valid git object name"));
    }
    let object = format!("{commit}:{path}");
    let out = git.run(&["rev-parse", "--verify", "--quiet", &object])?;
    if !out.success() {
        return Ok(None);
    }
    let blob = out.stdout_line();
    let out = git.run(&["cat-file", "blob", &blob])?;
    if !out.success() {
        return Err(format!(
            "cannot read {path} at {}: {}",
            short(commit),
            out.error_summary()
        ));
    }
    String::from_utf8(out.stdout)
        .map(Some)
        .map_err(|_| format!("{path} at {} is not valid UTF-8", short(commit)))
}

/// `Err` carries the final answer when the normal path cannot be followed.
type Step<T> = Result<T, Changes>;

fn all(reason: String, warning: bool) -> Changes {
    Changes::All { reason, warning }
}

fn compute(git: &Git, head: &str, base: &ChangeBase, log: &mut dyn FnMut(&str)) -> Step<Changes> {
    // Rules that need no repository at all come first.
    match base {
        ChangeBase::BeforeSha(sha) if sha.trim().is_empty() => {
            return Err(all(
                "CI_COMMIT_BEFORE_SHA is not set, so the push's changes are unknown".into(),
                true,
            ));
        }
        ChangeBase::BeforeSha(sha) if is_null_sha(sha) => {
            return Err(all(
                "first push of the branch (CI_COMMIT_BEFORE_SHA is all zeros)".into(),
                false,
            ));
        }
        ChangeBase::DiffBaseSha(sha) if is_null_sha(sha) => {
            return Err(all(
                "CI_MERGE_REQUEST_DIFF_BASE_SHA is empty or all zeros, so the merge request's \
                 changes cannot be computed"
                    .into(),
                true,
            ));
        }
        _ => {}
    }

    check_repository(git)?;
    let head_sha = resolve_head(git, head)?;

    let base_sha = match base {
        ChangeBase::BeforeSha(sha) => ancestor_base(
            git,
            sha.trim(),
            &head_sha,
            ("CI_COMMIT_BEFORE_SHA", "force push"),
            log,
        )?,
        ChangeBase::ReleasedRevision(sha) => ancestor_base(
            git,
            sha.trim(),
            &head_sha,
            ("the released revision", "history rewritten"),
            log,
        )?,
        ChangeBase::DiffBaseSha(sha) => {
            let sha = sha.trim();
            check_rev_arg(sha, "CI_MERGE_REQUEST_DIFF_BASE_SHA")?;
            let mut deepener = Deepener::new("HEAD".into());
            ensure_commit(
                git,
                sha,
                "CI_MERGE_REQUEST_DIFF_BASE_SHA",
                &mut deepener,
                log,
            )?
        }
        ChangeBase::MergeBaseWith(branch) => merge_base(git, branch, &head_sha, log)?,
    };

    diff(git, &base_sha, &head_sha, log)
}

/// Empty, or made of zeros only (40 for SHA-1, 64 for SHA-256).
fn is_null_sha(sha: &str) -> bool {
    let sha = sha.trim();
    sha.is_empty() || sha.bytes().all(|b| b == b'0')
}

/// Refuse values git would read as options, or that cannot be a revision.
fn check_rev_arg(rev: &str, what: &str) -> Step<()> {
    if rev.starts_with('-') || rev.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(all(
            format!("{what} `{rev}` is not a valid git revision"),
            true,
        ));
    }
    Ok(())
}

fn check_repository(git: &Git) -> Step<()> {
    let out = git
        .run(&["rev-parse", "--git-dir"])
        .map_err(spawn_failure)?;
    if out.success() {
        Ok(())
    } else {
        Err(all(
            format!(
                "{} is not a usable git repository ({})",
                git.repo.display(),
                out.error_summary()
            ),
            true,
        ))
    }
}

fn resolve_head(git: &Git, head: &str) -> Step<String> {
    let head = if head.trim().is_empty() {
        "HEAD"
    } else {
        head.trim()
    };
    check_rev_arg(head, "the commit being built")?;
    match resolve_commit(git, head)? {
        Some(sha) => Ok(sha),
        None => Err(all(
            format!("the commit being built (`{head}`) is not present in the clone"),
            true,
        )),
    }
}

/// The full sha of `rev` if it names a commit present in the repository.
fn resolve_commit(git: &Git, rev: &str) -> Step<Option<String>> {
    let spec = format!("{rev}^{{commit}}");
    let out = git
        .run(&["rev-parse", "--verify", "--quiet", &spec])
        .map_err(spawn_failure)?;
    let sha = out.stdout_line();
    Ok((out.success() && !sha.is_empty()).then_some(sha))
}

/// Default-branch push: `sha` (CI_COMMIT_BEFORE_SHA, a released revision), if it is an
/// ancestor of HEAD. `names`: what `sha` is, and what it means when it is not an ancestor.
fn ancestor_base(
    git: &Git,
    sha: &str,
    head_sha: &str,
    names: (&str, &str),
    log: &mut dyn FnMut(&str),
) -> Step<String> {
    let (what, not_an_ancestor) = names;
    check_rev_arg(sha, what)?;
    // The pushed branch is not named here: deepen through the remote's HEAD
    // (a deepening fetch deepens every shallow boundary the remote can reach).
    let mut deepener = Deepener::new("HEAD".into());
    let base = ensure_commit(git, sha, what, &mut deepener, log)?;

    let mut announced = false;
    loop {
        match is_ancestor(git, &base, head_sha)? {
            Ancestry::Yes => return Ok(base),
            Ancestry::Error(err) => {
                return Err(all(
                    format!(
                        "could not check whether {what} {base} is an ancestor of {head_sha} \
                         ({err})"
                    ),
                    true,
                ));
            }
            Ancestry::No => {
                if !is_shallow(git) {
                    return Err(all(
                        format!(
                            "{not_an_ancestor}: {what} {base} is not an ancestor of {head_sha}"
                        ),
                        false,
                    ));
                }
                // In a shallow clone the link may just be cut off: dig deeper
                // before calling it a force push.
                if !std::mem::replace(&mut announced, true) {
                    log(&format!(
                        "{what} {} is not reachable from {} in this shallow clone: \
                     fetching more history",
                        short(&base),
                        short(head_sha)
                    ));
                }
                if !deepener.step(git, log) {
                    return Err(all(
                        format!(
                            "could not tell whether {what} {base} is an ancestor of {head_sha}: \
                             the clone is shallow and fetching more history failed ({})",
                            deepener.last_error()
                        ),
                        true,
                    ));
                }
            }
        }
    }
}

/// Make sure commit `sha` is present, fetching it (or more history) from origin.
fn ensure_commit(
    git: &Git,
    sha: &str,
    what: &str,
    deepener: &mut Deepener,
    log: &mut dyn FnMut(&str),
) -> Step<String> {
    if let Some(full) = resolve_commit(git, sha)? {
        return Ok(full);
    }
    // In a shallow clone a plain fetch of a commit would bring its whole
    // history; the diff only needs its tree, and deepening handles ancestry.
    let mut args = vec!["fetch", "--quiet", "--no-tags", "--no-recurse-submodules"];
    if is_shallow(git) {
        args.push("--depth=1");
    }
    args.extend(["origin", sha]);
    log(&format!(
        "{what} {} is not in the clone: fetching it from origin (git {})",
        short(sha),
        args.join(" ")
    ));
    match git.run(&args) {
        Err(err) => return Err(spawn_failure(err)),
        Ok(out) if out.success() => {}
        Ok(out) => {
            let err = out.error_summary();
            log(&format!("fetching {} failed: {err}", short(sha)));
            deepener.errors.push(err);
        }
    }
    loop {
        if let Some(full) = resolve_commit(git, sha)? {
            return Ok(full);
        }
        if !deepener.step(git, log) {
            return Err(all(
                format!(
                    "{what} {sha} is not in the clone and could not be fetched from origin ({})",
                    deepener.last_error()
                ),
                true,
            ));
        }
    }
}

/// Other-branch push: the merge base of HEAD with `origin/<branch>`.
fn merge_base(git: &Git, branch: &str, head_sha: &str, log: &mut dyn FnMut(&str)) -> Step<String> {
    let branch = branch.trim();
    let remote_ref = format!("refs/remotes/origin/{branch}");
    let valid = !branch.is_empty()
        && !branch.starts_with('-')
        && git
            .run(&["check-ref-format", &format!("refs/heads/{branch}")])
            .map_err(spawn_failure)?
            .success();
    if !valid {
        return Err(all(
            format!("the default branch name `{branch}` is not a valid branch name"),
            true,
        ));
    }
    let refspec = format!("+refs/heads/{branch}:{remote_ref}");

    if resolve_commit(git, &remote_ref)?.is_none() {
        // A shallow clone stays shallow: fetching the default branch in full
        // would download the whole history; deepening follows if needed.
        let mut args = vec!["fetch", "--quiet", "--no-tags", "--no-recurse-submodules"];
        let depth = format!("--depth={DEEPEN_BY}");
        if is_shallow(git) {
            args.push(&depth);
        }
        args.extend(["origin", &refspec]);
        log(&format!(
            "origin/{branch} is not in the clone: fetching it (git {})",
            args.join(" ")
        ));
        let out = git.run(&args).map_err(spawn_failure)?;
        if !out.success() {
            let err = out.error_summary();
            log(&format!("fetching origin/{branch} failed: {err}"));
            return Err(all(
                format!(
                    "could not find the merge base with origin/{branch}: fetching the default \
                     branch from origin failed ({err})"
                ),
                true,
            ));
        }
    }

    // Deepening through the default branch's refspec also refreshes origin/<branch>.
    let mut deepener = Deepener::new(refspec);
    let mut announced = false;
    loop {
        let out = git
            .run(&["merge-base", &remote_ref, head_sha])
            .map_err(spawn_failure)?;
        let sha = out.stdout_line();
        match out.code {
            Some(0) if !sha.is_empty() => return Ok(sha),
            // Exit code 1 with no output: no common ancestor (in what is present).
            Some(0 | 1) => {
                if !is_shallow(git) {
                    return Err(all(
                        format!(
                            "could not find the merge base with origin/{branch}: {} has no \
                             common ancestor with it",
                            short(head_sha)
                        ),
                        true,
                    ));
                }
                if !std::mem::replace(&mut announced, true) {
                    log(&format!(
                        "no merge base of {} with origin/{branch} in this shallow clone: \
                         fetching more history",
                        short(head_sha)
                    ));
                }
                if !deepener.step(git, log) {
                    return Err(all(
                        format!(
                            "could not find the merge base with origin/{branch}: the clone is \
                             shallow and fetching more history failed ({})",
                            deepener.last_error()
                        ),
                        true,
                    ));
                }
            }
            _ => {
                return Err(all(
                    format!(
                        "could not find the merge base with origin/{branch}: {}",
                        out.error_summary()
                    ),
                    true,
                ));
            }
        }
    }
}

/// The changed paths between two present commits.
fn diff(git: &Git, base: &str, head: &str, log: &mut dyn FnMut(&str)) -> Step<Changes> {
    let out = git
        .run(&[
            "diff",
            "--name-only",
            "-z",
            "--no-renames",
            "--no-ext-diff",
            "--no-color",
            "--ignore-submodules=none",
            base,
            head,
            "--",
        ])
        .map_err(spawn_failure)?;
    if !out.success() {
        return Err(all(
            format!(
                "could not list the files changed between {base} and {head} ({})",
                out.error_summary()
            ),
            true,
        ));
    }
    let mut files = BTreeSet::new();
    for raw in out.stdout.split(|&b| b == 0).filter(|p| !p.is_empty()) {
        match std::str::from_utf8(raw) {
            Ok(path) => {
                files.insert(path.to_owned());
            }
            Err(_) => {
                let path = String::from_utf8_lossy(raw).into_owned();
                log(&format!(
                    "changed path is not valid UTF-8, using it as `{path}` (directory parts are exact)"
                ));
                files.insert(path);
            }
        }
    }
    Ok(Changes::Files {
        base: base.to_owned(),
        files,
    })
}

enum Ancestry {
    Yes,
    No,
    Error(String),
}

fn is_ancestor(git: &Git, ancestor: &str, descendant: &str) -> Step<Ancestry> {
    let out = git
        .run(&["merge-base", "--is-ancestor", ancestor, descendant])
        .map_err(spawn_failure)?;
    Ok(match out.code {
        Some(0) => Ancestry::Yes,
        Some(1) => Ancestry::No,
        _ => Ancestry::Error(out.error_summary()),
    })
}

fn is_shallow(git: &Git) -> bool {
    git.run(&["rev-parse", "--is-shallow-repository"])
        .map(|out| out.success() && out.stdout_line() == "true")
        .unwrap_or(false)
}

/// Fetches more history into a shallow clone, one step per call:
/// `--deepen` a few times, then `--unshallow`.
struct Deepener {
    /// What to fetch along (never the configured refspecs, which could pull
    /// the full history of every branch); a deepening fetch deepens every
    /// shallow boundary reachable from the remote's refs.
    refspec: String,
    deepened: u32,
    deepen_failed: bool,
    unshallowed: bool,
    errors: Vec<String>,
}

impl Deepener {
    fn new(refspec: String) -> Self {
        Deepener {
            refspec,
            deepened: 0,
            deepen_failed: false,
            unshallowed: false,
            errors: Vec::new(),
        }
    }

    fn last_error(&self) -> String {
        self.errors
            .last()
            .cloned()
            .unwrap_or_else(|| "the needed commits are not in the history".into())
    }

    /// Fetch more history; false when there is nothing left to try (the
    /// clone is complete, or every fetch failed).
    fn step(&mut self, git: &Git, log: &mut dyn FnMut(&str)) -> bool {
        while is_shallow(git) {
            let (args, what) = if self.deepened < DEEPEN_TRIES && !self.deepen_failed {
                self.deepened += 1;
                (
                    vec![format!("--deepen={DEEPEN_BY}")],
                    format!(
                        "deepening the shallow clone by {DEEPEN_BY} commits (attempt {} of {DEEPEN_TRIES})",
                        self.deepened
                    ),
                )
            } else if !self.unshallowed {
                self.unshallowed = true;
                (
                    vec!["--unshallow".to_owned()],
                    "fetching the complete history (unshallowing the clone)".to_owned(),
                )
            } else {
                return false;
            };
            let mut full = vec![
                "fetch".to_owned(),
                "--quiet".to_owned(),
                "--no-tags".to_owned(),
                "--no-recurse-submodules".to_owned(),
            ];
            full.extend(args);
            full.extend(["origin".to_owned(), self.refspec.clone()]);
            log(&format!("{what}: git {}", full.join(" ")));
            let refs: Vec<&str> = full.iter().map(String::as_str).collect();
            let mut result = git.run(&refs);
            if self.refspec == "HEAD" && result.as_ref().is_ok_and(|out| !out.success()) {
                // The remote has no usable HEAD: fall back to the clone's configured refspecs
                // (in a GitLab job, just the pipeline's branch).
                log("fetching along origin's HEAD failed: trying the configured refspecs instead");
                result = git.run(&refs[..refs.len() - 1]);
            }
            match result {
                Ok(out) if out.success() => return true,
                Ok(out) => {
                    let err = out.error_summary();
                    log(&format!("fetch failed: {err}"));
                    self.errors.push(err);
                    // If deepening is refused, go straight to unshallowing.
                    self.deepen_failed = true;
                }
                Err(err) => {
                    log(&format!("fetch failed: {err}"));
                    self.errors.push(err);
                    return false;
                }
            }
        }
        false
    }
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

fn spawn_failure(err: String) -> Changes {
    all(err, true)
}

#[cfg(test)]
mod tests;
