//! Changed files from real git repositories: pushes, renames, odd paths, first and force
//! pushes, branches, merge requests and shallow clones.

use std::process::{Command, Stdio};

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
    let changes = changed_files(repo, head, &base, &mut log).expect("git runs");
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

#[test]
fn a_file_is_read_as_it_was_at_a_commit_and_a_missing_one_is_none() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = tmp.path().join("repo");
    init(&repo);
    write(&repo, "ci/gipgee.yaml", "old\n");
    let first = commit(&repo, "first");
    write(&repo, "ci/gipgee.yaml", "new\n");
    write(&repo, "other.txt", "x\n");
    let second = commit(&repo, "second");
    assert_eq!(
        file_at(&repo, &first, "ci/gipgee.yaml"),
        Ok(Some("old\n".to_string()))
    );
    assert_eq!(file_at(&repo, &first, "other.txt"), Ok(None));
    assert_eq!(
        file_at(&repo, &second, "other.txt"),
        Ok(Some("x\n".to_string()))
    );
    assert!(file_at(&repo, "--output=x", "other.txt").is_err());
}

#[test]
fn the_config_path_is_named_from_the_repository_root() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = tmp.path().join("repo");
    init(&repo);
    write(&repo, "ci/gipgee.yaml", "x\n");
    commit(&repo, "first");
    assert_eq!(
        repo_path(&repo.join("ci"), Path::new("gipgee.yaml")),
        Ok("ci/gipgee.yaml".to_string())
    );
    assert_eq!(
        repo_path(&repo, &repo.join("ci/./gipgee.yaml")),
        Ok("ci/gipgee.yaml".to_string())
    );
    assert!(repo_path(&repo, Path::new("missing.yaml")).is_err());
}
