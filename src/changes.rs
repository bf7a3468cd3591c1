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
use std::process::{Command, Stdio};

/// What to diff HEAD against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeBase {
    /// Default-branch push: diff against CI_COMMIT_BEFORE_SHA.
    BeforeSha(String),
    /// Other-branch push: diff against the merge base of HEAD with `origin/<branch>` (the default branch).
    MergeBaseWith(String),
    /// Merge request pipeline: diff against CI_MERGE_REQUEST_DIFF_BASE_SHA.
    DiffBaseSha(String),
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
pub fn changed_files(
    repo: &Path,
    head: &str,
    base: &ChangeBase,
    log: &mut dyn FnMut(&str),
) -> Changes {
    let git = Git { repo };
    match compute(&git, head, base, log) {
        Ok(changes) | Err(changes) => changes,
    }
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
        ChangeBase::BeforeSha(sha) => before_sha_base(git, sha.trim(), &head_sha, log)?,
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

/// Default-branch push: CI_COMMIT_BEFORE_SHA, if it is an ancestor of HEAD.
fn before_sha_base(
    git: &Git,
    sha: &str,
    head_sha: &str,
    log: &mut dyn FnMut(&str),
) -> Step<String> {
    let what = "CI_COMMIT_BEFORE_SHA";
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
                        format!("force push: {what} {base} is not an ancestor of {head_sha}"),
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

/// Runs git in one repository, isolated from the settings that would change
/// its output or make it wait for input.
struct Git<'a> {
    repo: &'a Path,
}

struct Output {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Output {
    fn success(&self) -> bool {
        self.code == Some(0)
    }

    fn stdout_line(&self) -> String {
        String::from_utf8_lossy(&self.stdout).trim().to_owned()
    }

    /// The first two non-empty lines of stderr, for a human reason.
    fn error_summary(&self) -> String {
        let stderr = String::from_utf8_lossy(&self.stderr);
        let lines: Vec<&str> = stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .take(2)
            .collect();
        if lines.is_empty() {
            match self.code {
                Some(code) => format!("git exited with status {code}"),
                None => "git was killed by a signal".to_owned(),
            }
        } else {
            lines.join(" / ")
        }
    }
}

impl Git<'_> {
    fn run(&self, args: &[&str]) -> Result<Output, String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(self.repo)
            .args([
                "-c",
                "diff.renames=false",
                "-c",
                "diff.relative=false",
                "-c",
                "color.ui=false",
                "-c",
                "core.quotePath=false",
                "-c",
                "gc.auto=0",
                "-c",
                "maintenance.auto=false",
                "-c",
                "fetch.recurseSubmodules=false",
            ])
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_PAGER", "cat")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_COMMON_DIR")
            .env_remove("GIT_INDEX_FILE")
            .env_remove("GIT_PREFIX")
            .env_remove("GIT_EXTERNAL_DIFF")
            .stdin(Stdio::null())
            .output()
            .map_err(|err| format!("could not run git {}: {err}", args.join(" ")))?;
        Ok(Output {
            code: out.status.code(),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    const ZEROS: &str = "0000000000000000000000000000000000000000";

    /// Runs git for test setup with a fixed identity, dates and no user config.
    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_AUTHOR_NAME", "Test Author")
            .env("GIT_AUTHOR_EMAIL", "author@example.com")
            .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
            .env("GIT_COMMITTER_NAME", "Test Committer")
            .env("GIT_COMMITTER_EMAIL", "committer@example.com")
            .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .stdin(Stdio::null())
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .expect("utf-8")
            .trim()
            .to_owned()
    }

    fn init(dir: &Path) {
        std::fs::create_dir_all(dir).expect("mkdir");
        git(dir, &["init", "-q", "-b", "main"]);
    }

    fn write(dir: &Path, path: &str, content: &str) {
        let full = dir.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(full, content).expect("write");
    }

    /// Stage everything and commit; returns the new commit's sha.
    fn commit(dir: &Path, message: &str) -> String {
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-q", "--allow-empty", "-m", message]);
        git(dir, &["rev-parse", "HEAD"])
    }

    /// Appends `count` commits to `branch` in one go (each rewrites `n.txt`).
    fn fast_import_history(dir: &Path, branch: &str, count: usize) {
        let mut stream = String::new();
        for i in 0..count {
            let message = format!("commit {i}");
            let content = format!("{i}\n");
            stream.push_str(&format!(
                "commit refs/heads/{branch}\ncommitter Test <t@example.com> {} +0000\n\
                 data {}\n{message}\nM 644 inline n.txt\ndata {}\n{content}\n",
                1_700_000_000 + i,
                message.len(),
                content.len()
            ));
        }
        let mut child = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["fast-import", "--quiet"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("git fast-import runs");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            stdin.write_all(stream.as_bytes()).expect("write stream");
        }
        assert!(child.wait().expect("wait").success());
        git(dir, &["reset", "-q", "--hard", branch]);
    }

    fn write_commit(dir: &Path, path: &str, content: &str) -> String {
        write(dir, path, content);
        commit(dir, &format!("write {path}"))
    }

    fn run(repo: &Path, head: &str, base: ChangeBase) -> (Changes, Vec<String>) {
        let mut lines = Vec::new();
        let mut log = |line: &str| lines.push(line.to_owned());
        let changes = changed_files(repo, head, &base, &mut log);
        (changes, lines)
    }

    fn files(base: &str, paths: &[&str]) -> Changes {
        Changes::Files {
            base: base.to_owned(),
            files: paths.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    fn assert_all(changes: &Changes, expect_warning: bool, reason_contains: &str) {
        match changes {
            Changes::All { reason, warning } => {
                assert_eq!(*warning, expect_warning, "warning flag, reason: {reason}");
                assert!(
                    reason.contains(reason_contains),
                    "reason `{reason}` should contain `{reason_contains}`"
                );
            }
            other => panic!("expected Changes::All, got {other:?}"),
        }
    }

    fn log_mentions(log: &[String], word: &str) -> bool {
        log.iter().any(|l| l.contains(word))
    }

    fn file_url(path: &Path) -> String {
        format!("file://{}", path.display())
    }

    fn is_shallow_clone(dir: &Path) -> bool {
        git(dir, &["rev-parse", "--is-shallow-repository"]) == "true"
    }

    /// Repository with two files committed.
    fn base_repo() -> (tempfile::TempDir, PathBuf, String) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let repo = tmp.path().join("repo");
        init(&repo);
        write(&repo, "a.txt", "a\n");
        write(&repo, "images/b/Dockerfile", "FROM b\n");
        let c1 = commit(&repo, "c1");
        (tmp, repo, c1)
    }

    #[test]
    fn normal_push_lists_modified_file() {
        let (_tmp, repo, c1) = base_repo();
        let c2 = write_commit(&repo, "images/b/Dockerfile", "FROM b2\n");
        let (changes, log) = run(&repo, "HEAD", ChangeBase::BeforeSha(c1.clone()));
        assert_eq!(changes, files(&c1, &["images/b/Dockerfile"]));
        assert!(log.is_empty(), "nothing to fetch: {log:?}");
        // The head may be given as a sha, and an abbreviated base is resolved.
        let (changes, _) = run(
            &repo,
            &c2,
            ChangeBase::BeforeSha(format!("{}\n", &c1[..10])),
        );
        assert_eq!(changes, files(&c1, &["images/b/Dockerfile"]));
    }

    #[test]
    fn rename_counts_old_and_new_path_despite_config() {
        let (_tmp, repo, c1) = base_repo();
        // Configuration that would change the output of a naive `git diff`.
        git(&repo, &["config", "diff.renames", "copies"]);
        git(&repo, &["config", "diff.relative", "true"]);
        git(&repo, &["config", "diff.external", "false"]);
        git(&repo, &["config", "color.ui", "always"]);
        git(&repo, &["config", "core.quotePath", "true"]);
        git(&repo, &["mv", "a.txt", "renamed a.txt"]);
        commit(&repo, "rename");
        let (changes, _) = run(&repo, "HEAD", ChangeBase::BeforeSha(c1.clone()));
        assert_eq!(changes, files(&c1, &["a.txt", "renamed a.txt"]));
    }

    #[test]
    fn deletion_counts() {
        let (_tmp, repo, c1) = base_repo();
        git(&repo, &["rm", "-q", "images/b/Dockerfile"]);
        commit(&repo, "delete");
        let (changes, _) = run(&repo, "HEAD", ChangeBase::BeforeSha(c1.clone()));
        assert_eq!(changes, files(&c1, &["images/b/Dockerfile"]));
    }

    #[test]
    fn unusual_paths_come_out_exactly() {
        let (_tmp, repo, c1) = base_repo();
        let paths = [
            "dir with space/file name.txt",
            "ünïcødé/ファイル.txt",
            "quo\"te.txt",
            "it's here.txt",
            "-leading-dash.txt",
            "back\\slash.txt",
        ];
        for path in paths {
            write(&repo, path, "x\n");
        }
        commit(&repo, "odd paths");
        let (changes, _) = run(&repo, "HEAD", ChangeBase::BeforeSha(c1.clone()));
        assert_eq!(changes, files(&c1, &paths));
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_path_keeps_its_valid_parts() {
        use std::os::unix::ffi::OsStrExt;
        let (_tmp, repo, c1) = base_repo();
        let dir = repo.join(std::ffi::OsStr::from_bytes(b"images/bad\xffname"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("Dockerfile"), "FROM bad\n").expect("write");
        commit(&repo, "non-UTF-8 path");
        let (changes, log) = run(&repo, "HEAD", ChangeBase::BeforeSha(c1.clone()));
        assert_eq!(changes, files(&c1, &["images/bad\u{FFFD}name/Dockerfile"]));
        assert!(log_mentions(&log, "not valid UTF-8"), "log: {log:?}");
    }

    #[test]
    fn first_push_with_zero_sha_selects_all_without_warning() {
        let (_tmp, repo, _c1) = base_repo();
        for before in [ZEROS, &"0".repeat(64)] {
            let (changes, _) = run(&repo, "HEAD", ChangeBase::BeforeSha(before.to_owned()));
            assert_all(&changes, false, "first push");
        }
        // Unset is not a first push: the changes are unknown, and that is worth a warning.
        let (changes, _) = run(&repo, "HEAD", ChangeBase::BeforeSha(String::new()));
        assert_all(&changes, true, "CI_COMMIT_BEFORE_SHA is not set");
        // No repository needed for that rule.
        let (changes, _) = run(
            Path::new("/nonexistent/gipgee"),
            "HEAD",
            ChangeBase::BeforeSha(ZEROS.into()),
        );
        assert_all(&changes, false, "first push");
    }

    #[test]
    fn force_push_selects_all_without_warning() {
        let (_tmp, repo, c1) = base_repo();
        let c2 = write_commit(&repo, "a.txt", "pushed then discarded\n");
        git(&repo, &["reset", "-q", "--hard", &c1]);
        write_commit(&repo, "a.txt", "rewritten\n");
        let (changes, _) = run(&repo, "HEAD", ChangeBase::BeforeSha(c2.clone()));
        assert_all(&changes, false, "force push");
    }

    #[test]
    fn unknown_before_sha_falls_back_with_warning() {
        let (_tmp, repo, _c1) = base_repo();
        write_commit(&repo, "a.txt", "a2\n");
        let unknown = "1234567890abcdef1234567890abcdef12345678";
        let (changes, log) = run(&repo, "HEAD", ChangeBase::BeforeSha(unknown.into()));
        assert_all(&changes, true, unknown);
        assert!(log_mentions(&log, "fetch"), "log: {log:?}");
    }

    #[test]
    fn invalid_inputs_fall_back_with_warning() {
        let (_tmp, repo, c1) = base_repo();
        let (changes, log) = run(
            &repo,
            "HEAD",
            ChangeBase::BeforeSha("--upload-pack=touch /tmp/pwned".into()),
        );
        assert_all(&changes, true, "not a valid git revision");
        assert!(log.is_empty());
        let (changes, _) = run(&repo, "HEAD", ChangeBase::MergeBaseWith("-main".into()));
        assert_all(&changes, true, "not a valid branch name");
        let (changes, _) = run(&repo, "HEAD", ChangeBase::MergeBaseWith("a..b".into()));
        assert_all(&changes, true, "not a valid branch name");
        let (changes, _) = run(&repo, "no-such-rev", ChangeBase::BeforeSha(c1.clone()));
        assert_all(&changes, true, "no-such-rev");
        let not_repo = tempfile::tempdir().expect("tempdir");
        let (changes, _) = run(not_repo.path(), "HEAD", ChangeBase::BeforeSha(c1));
        assert_all(&changes, true, "not a usable git repository");
    }

    /// Origin: main c1 → c2 → c4 (m.txt); feature from c2 adds f.txt twice.
    /// Returns (tmp, origin, c2 = the merge base).
    fn origin_with_feature() -> (tempfile::TempDir, PathBuf, String) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let origin = tmp.path().join("origin");
        init(&origin);
        write_commit(&origin, "common.txt", "1\n");
        let c2 = write_commit(&origin, "common.txt", "2\n");
        git(&origin, &["checkout", "-q", "-b", "feature"]);
        write_commit(&origin, "images/f/Dockerfile", "FROM f\n");
        write_commit(&origin, "images/f/extra file.txt", "x\n");
        git(&origin, &["checkout", "-q", "main"]);
        // Changed on main after the feature branched: must not be listed.
        write_commit(&origin, "images/m/Dockerfile", "FROM m\n");
        write_commit(&origin, "common.txt", "main moved on\n");
        (tmp, origin, c2)
    }

    #[test]
    fn branch_push_diffs_against_merge_base() {
        let (tmp, origin, c2) = origin_with_feature();
        let clone = tmp.path().join("clone");
        git(
            tmp.path(),
            &[
                "clone",
                "-q",
                "--branch",
                "feature",
                &file_url(&origin),
                "clone",
            ],
        );
        let (changes, log) = run(&clone, "HEAD", ChangeBase::MergeBaseWith("main".into()));
        assert_eq!(
            changes,
            files(&c2, &["images/f/Dockerfile", "images/f/extra file.txt"])
        );
        assert!(log.is_empty(), "origin/main was there: {log:?}");
    }

    #[test]
    fn branch_push_fetches_missing_default_branch() {
        let (tmp, origin, c2) = origin_with_feature();
        let clone = tmp.path().join("clone");
        git(
            tmp.path(),
            &[
                "clone",
                "-q",
                "--single-branch",
                "--branch",
                "feature",
                &file_url(&origin),
                "clone",
            ],
        );
        assert!(!is_shallow_clone(&clone));
        let (changes, log) = run(&clone, "HEAD", ChangeBase::MergeBaseWith("main".into()));
        assert_eq!(
            changes,
            files(&c2, &["images/f/Dockerfile", "images/f/extra file.txt"])
        );
        assert!(log_mentions(&log, "fetch"), "log: {log:?}");
        // Unknown default branch: cannot be fetched.
        let (changes, _) = run(&clone, "HEAD", ChangeBase::MergeBaseWith("nope".into()));
        assert_all(&changes, true, "origin/nope");
    }

    #[test]
    fn merge_request_diffs_against_diff_base() {
        let (_tmp, origin, c2) = origin_with_feature();
        let feature = git(&origin, &["rev-parse", "feature"]);
        let (changes, log) = run(&origin, &feature, ChangeBase::DiffBaseSha(c2.clone()));
        assert_eq!(
            changes,
            files(&c2, &["images/f/Dockerfile", "images/f/extra file.txt"])
        );
        assert!(log.is_empty());
        for base in [ZEROS, ""] {
            let (changes, _) = run(&origin, &feature, ChangeBase::DiffBaseSha(base.into()));
            assert_all(&changes, true, "CI_MERGE_REQUEST_DIFF_BASE_SHA");
        }
    }

    #[test]
    fn shallow_clone_before_sha_is_fetched_and_deepened() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let origin = tmp.path().join("origin");
        init(&origin);
        write_commit(&origin, "old.txt", "old\n");
        let before = write_commit(&origin, "images/a/Dockerfile", "FROM a\n");
        // More than one deepening step between the shallow tip and `before`.
        for i in 0..60 {
            write_commit(
                &origin,
                &format!("images/n{}/Dockerfile", i % 3),
                &format!("{i}\n"),
            );
        }
        git(&origin, &["rm", "-q", "old.txt"]);
        commit(&origin, "delete old");
        write_commit(&origin, "images/z z/Dockerfile", "FROM z\n");
        let clone = tmp.path().join("clone");
        git(
            tmp.path(),
            &["clone", "-q", "--depth", "1", &file_url(&origin), "clone"],
        );
        assert!(is_shallow_clone(&clone));
        let (changes, log) = run(&clone, "HEAD", ChangeBase::BeforeSha(before.clone()));
        assert_eq!(
            changes,
            files(
                &before,
                &[
                    "images/n0/Dockerfile",
                    "images/n1/Dockerfile",
                    "images/n2/Dockerfile",
                    "images/z z/Dockerfile",
                    "old.txt",
                ]
            )
        );
        assert!(
            log_mentions(&log, "fetching it from origin"),
            "log: {log:?}"
        );
        assert!(log_mentions(&log, "--deepen=50"), "log: {log:?}");
        // Same again from a fresh shallow clone for the MR diff base (no ancestry
        // check: fetching the commit alone is enough).
        let clone2 = tmp.path().join("clone2");
        git(
            tmp.path(),
            &["clone", "-q", "--depth", "1", &file_url(&origin), "clone2"],
        );
        let (changes2, log2) = run(&clone2, "HEAD", ChangeBase::DiffBaseSha(before.clone()));
        assert_eq!(changes2, changes);
        assert!(log_mentions(&log2, "fetch"), "log: {log2:?}");
        assert!(!log_mentions(&log2, "deepen"), "log: {log2:?}");
    }

    #[test]
    fn shallow_clone_force_push_is_recognised_after_unshallowing() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let origin = tmp.path().join("origin");
        init(&origin);
        // A history longer than all the deepening steps together.
        fast_import_history(&origin, "main", 200);
        let c1 = write_commit(&origin, "a.txt", "1\n");
        let discarded = write_commit(&origin, "a.txt", "discarded\n");
        git(&origin, &["branch", "keep", &discarded]);
        git(&origin, &["reset", "-q", "--hard", &c1]);
        write_commit(&origin, "a.txt", "rewritten\n");
        let clone = tmp.path().join("clone");
        git(
            tmp.path(),
            &["clone", "-q", "--depth", "1", &file_url(&origin), "clone"],
        );
        let (changes, log) = run(&clone, "HEAD", ChangeBase::BeforeSha(discarded));
        assert_all(&changes, false, "force push");
        assert!(log_mentions(&log, "unshallow"), "log: {log:?}");
        assert!(!is_shallow_clone(&clone));
    }

    #[test]
    fn shallow_clone_branch_push_finds_merge_base() {
        let (tmp, origin, c2) = origin_with_feature();
        let clone = tmp.path().join("clone");
        git(
            tmp.path(),
            &[
                "clone",
                "-q",
                "--depth",
                "1",
                "--branch",
                "feature",
                &file_url(&origin),
                "clone",
            ],
        );
        assert!(is_shallow_clone(&clone));
        let (changes, log) = run(&clone, "HEAD", ChangeBase::MergeBaseWith("main".into()));
        assert_eq!(
            changes,
            files(&c2, &["images/f/Dockerfile", "images/f/extra file.txt"])
        );
        assert!(log_mentions(&log, "origin/main"), "log: {log:?}");
        assert!(log_mentions(&log, "fetch"), "log: {log:?}");
    }

    #[test]
    fn shallow_clone_without_origin_falls_back_with_warning() {
        let (tmp, origin, c2) = origin_with_feature();
        let missing = file_url(&tmp.path().join("gone"));

        let clone = tmp.path().join("clone");
        git(
            tmp.path(),
            &["clone", "-q", "--depth", "1", &file_url(&origin), "clone"],
        );
        git(&clone, &["remote", "set-url", "origin", &missing]);
        let (changes, log) = run(&clone, "HEAD", ChangeBase::BeforeSha(c2.clone()));
        assert_all(&changes, true, &c2);
        assert!(log_mentions(&log, "fetch"), "log: {log:?}");
        let (changes, _) = run(&clone, "HEAD", ChangeBase::DiffBaseSha(c2.clone()));
        assert_all(&changes, true, &c2);

        let feature = tmp.path().join("feature");
        git(
            tmp.path(),
            &[
                "clone",
                "-q",
                "--depth",
                "1",
                "--branch",
                "feature",
                &file_url(&origin),
                "feature",
            ],
        );
        git(&feature, &["remote", "set-url", "origin", &missing]);
        let (changes, log) = run(&feature, "HEAD", ChangeBase::MergeBaseWith("main".into()));
        assert_all(
            &changes,
            true,
            "could not find the merge base with origin/main",
        );
        assert!(log_mentions(&log, "fetch"), "log: {log:?}");

        // origin/main present but history cut: deepening fails, still a warning.
        git(
            &feature,
            &["remote", "set-url", "origin", &file_url(&origin)],
        );
        git(
            &feature,
            &[
                "fetch",
                "-q",
                "--depth",
                "1",
                "origin",
                "+refs/heads/main:refs/remotes/origin/main",
            ],
        );
        git(&feature, &["remote", "set-url", "origin", &missing]);
        let (changes, log) = run(&feature, "HEAD", ChangeBase::MergeBaseWith("main".into()));
        assert_all(
            &changes,
            true,
            "could not find the merge base with origin/main",
        );
        assert!(log_mentions(&log, "deepen"), "log: {log:?}");
    }
}
