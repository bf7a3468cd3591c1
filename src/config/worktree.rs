//! The configuration against the repository's work tree: every containerfile and build
//! context exists, and every watched glob matches at least one file. Paths in gipgee.yaml are
//! relative to the repository root (where the build jobs run, and what git's changed paths
//! are relative to). A missing containerfile fails only the build job, minutes later; a glob that matches
//! no file never selects its image, which is a typo or a moved directory, not an intent.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use globset::{Glob, GlobBuilder, GlobMatcher, GlobSetBuilder};

use super::Config;
use crate::diagnostic::{Diagnostic, Position};

/// The root of the git work tree `dir` is in: the nearest directory up from it that holds
/// `.git` (a directory, or a file in a linked work tree); `dir` itself outside a repository.
pub fn repository_root(dir: &Path) -> &Path {
    dir.ancestors()
        .find(|ancestor| ancestor.join(".git").exists())
        .unwrap_or(dir)
}

/// A watched glob as the selection matches it against changed files: `*` does not cross `/`,
/// `**` does (as in .gitignore). `None` for a glob the config would not have accepted.
pub fn watched_glob(glob: &str) -> Option<GlobMatcher> {
    Some(watched_pattern(glob)?.compile_matcher())
}

/// The directory `dir` of a watched glob `dir/**` (normalised) whose `dir` is plain text:
/// letters, digits, `.`, `_`, `-` and `/`, none of which a glob gives a meaning. It matches
/// exactly the files under `dir` (their path starts with `dir/`), so it needs no parse to be
/// checked and none to be matched.
pub(super) fn files_under(glob: &str) -> Option<&str> {
    let directory = glob.strip_suffix("/**")?;
    let plain = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/');
    (!directory.is_empty() && directory.bytes().all(plain)).then_some(directory)
}

/// The glob of [`watched_glob`], parsed but not compiled (a set of globs compiles them at
/// once, far faster than one matcher each).
pub(super) fn watched_pattern(glob: &str) -> Option<Glob> {
    GlobBuilder::new(glob).literal_separator(true).build().ok()
}

/// Every problem of `config` against the work tree at `root`, in file order; each names the
/// image and the path. The caller decides whether they are errors or warnings.
pub fn check(config: &Config, root: &Path) -> Vec<Diagnostic> {
    check_walked(config, Walk::start(root))
}

/// [`check`] over `walk`, started earlier (e.g. while the config loaded).
pub fn check_walked(config: &Config, walk: Walk) -> Vec<Diagnostic> {
    let root = &walk.root.clone();
    // The walk for the watched globs lists every file and directory anyway: a containerfile or
    // build context it sees needs no `stat` of its own (only what it does not see is looked up).
    let mut seen = SeenPaths::of(config);
    let unmatched_globs = globs_matching_nothing(config, root, walk, &mut seen);
    let mut diagnostics = Vec::new();
    for image in config.images.values() {
        let id = &image.id;
        if !seen.is(&image.build_context, Kind::Dir, root) {
            let context = root.join(&image.build_context);
            let problem = missing(&context, "a directory");
            diagnostics.push(Diagnostic::at(
                image.positions.context,
                format!(
                    "image `{id}`: build context `{}` {problem}",
                    image.build_context
                ),
            ));
        }
        if !seen.is(&image.containerfile, Kind::File, root) {
            let containerfile = root.join(&image.containerfile);
            let problem = missing(&containerfile, "a file");
            diagnostics.push(Diagnostic::at(
                image.positions.containerfile,
                format!(
                    "image `{id}`: containerfile `{}` {problem}",
                    image.containerfile
                ),
            ));
        }
    }
    diagnostics.extend(unmatched_globs);
    let mut shown = BTreeSet::new();
    // A glob from `defaults` is the same problem for every image: shown once.
    diagnostics.retain(|d| shown.insert((d.position, d.message.clone())));
    diagnostics.sort_by_key(|d| d.position);
    diagnostics
}

fn missing(path: &Path, expected: &str) -> String {
    match path.exists() {
        true => format!("is not {expected}"),
        false => "does not exist".to_string(),
    }
}

/// What the work-tree walk saw of an image's path.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Not seen by the walk (yet).
    Unseen,
    File,
    Dir,
    /// Neither a file nor a directory (a symlink): looked up like one not seen.
    Other,
}

/// The containerfiles and build contexts of the config (repository paths as written), and
/// what the walk saw at each.
struct SeenPaths<'c> {
    kinds: HashMap<&'c str, Kind>,
}

impl<'c> SeenPaths<'c> {
    fn of(config: &'c Config) -> Self {
        let kinds = config
            .images
            .values()
            .flat_map(|image| [image.build_context.as_str(), image.containerfile.as_str()])
            .map(|path| (path, Kind::Unseen))
            .collect();
        SeenPaths { kinds }
    }

    /// Notes a walked entry (a repository path) of kind `kind`.
    fn saw(&mut self, path: &str, kind: Kind) {
        if let Some(seen) = self.kinds.get_mut(path) {
            *seen = kind;
        }
    }

    /// Whether `path` is a `kind` (a file or a directory, symlinks followed): as the walk saw
    /// it, else as the file system says.
    fn is(&self, path: &str, kind: Kind, root: &Path) -> bool {
        if self.kinds.get(path) == Some(&kind) {
            return true;
        }
        let path = root.join(path);
        match kind {
            Kind::File => path.is_file(),
            Kind::Dir => path.is_dir(),
            Kind::Unseen | Kind::Other => false,
        }
    }
}

/// The watched globs that match no file of the work tree (`.git` left out); the walk notes in
/// `seen` the paths of the config it meets.
fn globs_matching_nothing(
    config: &Config,
    root: &Path,
    walk: Walk,
    seen: &mut SeenPaths<'_>,
) -> Vec<Diagnostic> {
    let globs: Vec<(&str, Position)> = config
        .images
        .values()
        .flat_map(|image| {
            image
                .watched_assets
                .iter()
                .map(String::as_str)
                .zip(image.positions.watched_assets.iter().copied())
        })
        .collect();
    if globs.is_empty() {
        return Vec::new();
    }
    // Most globs are a directory's files (`images/a/**`): a file under the directory matches
    // them, looked up by each directory the file is in. The others were parsed with the config
    // and go into a set (which takes them by value); one that did not parse normalised is in
    // neither and so matches nothing. `set_index` maps a match in the set back to its glob.
    let mut directories: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut set = GlobSetBuilder::new();
    let mut set_index = Vec::new();
    let patterns = config
        .images
        .values()
        .flat_map(|image| image.watched_globs.iter());
    for (index, ((glob, _), pattern)) in globs.iter().zip(patterns).enumerate() {
        match (pattern, files_under(glob)) {
            (Some(pattern), _) => {
                set.add(pattern.clone());
                set_index.push(index);
            }
            (None, Some(directory)) => directories.entry(directory).or_default().push(index),
            (None, None) => {}
        }
    }
    let Ok(set) = set.build() else {
        return Vec::new();
    };
    let mut matched = Matched::none_of(globs.len());
    let mut indexes = Vec::new();
    for (path, kind) in walk.entries {
        seen.saw(&path, kind);
        if kind == Kind::Dir {
            continue;
        }
        let slashes = path.bytes().enumerate().filter(|&(_, b)| b == b'/');
        for (slash, _) in slashes {
            for &index in directories.get(&path[..slash]).into_iter().flatten() {
                matched.mark(index);
            }
        }
        if !set.is_empty() {
            set.matches_into(path.as_str(), &mut indexes);
            for &index in &indexes {
                matched.mark(set_index[index]);
            }
        }
        // Not longer than the globs need: what the walk has not seen is looked up instead.
        if matched.unmatched == 0 {
            break;
        }
    }
    globs
        .iter()
        .zip(matched.globs)
        .filter(|(_, matched)| !matched)
        .map(|((glob, position), _)| {
            let diagnostic = Diagnostic::at(
                *position,
                format!("watched glob `{glob}` matches no file in the repository"),
            );
            match root.join(glob).is_dir() {
                true => diagnostic.with_help(format!(
                    "`{glob}` is a directory; `{glob}/**` matches the files in it"
                )),
                false => diagnostic,
            }
        })
        .collect()
}

/// Which globs matched a file so far.
struct Matched {
    globs: Vec<bool>,
    /// Counted, not scanned per file: the walk stays linear in files + globs.
    unmatched: usize,
}

impl Matched {
    fn none_of(globs: usize) -> Self {
        Matched {
            globs: vec![false; globs],
            unmatched: globs,
        }
    }

    fn mark(&mut self, glob: usize) {
        if !std::mem::replace(&mut self.globs[glob], true) {
            self.unmatched -= 1;
        }
    }
}

/// A walk of the work tree on a thread of its own, so that it runs while the config loads: its
/// entries (repository paths `a/b`, without `.git`, each with its kind; a symlink is listed,
/// not followed) arrive in the walk's order. The walk keeps at most 32,768 entries ahead of the
/// check, and stops when the check no longer reads them.
pub struct Walk {
    /// The top of the work tree: what the config's paths are relative to.
    root: PathBuf,
    entries: Box<dyn Iterator<Item = (String, Kind)>>,
}

/// The walk sends its entries in batches, so that the two threads do not wake each other for
/// every entry; it may be this many batches ahead of the check (a few MB at most: enough to
/// walk a tree of 10,000 images while their config loads).
const BATCH: usize = 256;
const BATCHES_AHEAD: usize = 128;

impl Walk {
    /// The walk of the work tree `workdir` is in (its repository's, else `workdir` itself).
    pub fn of_work_tree(workdir: &Path) -> Walk {
        Walk::start(repository_root(workdir))
    }

    pub fn start(root: &Path) -> Walk {
        let (sender, receiver) =
            std::sync::mpsc::sync_channel::<Vec<(String, Kind)>>(BATCHES_AHEAD);
        let walked = root.to_path_buf();
        let walker = move || {
            let mut batch = Vec::with_capacity(BATCH);
            for entry in work_tree_entries(walked) {
                batch.push(entry);
                if batch.len() == BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    if sender.send(full).is_err() {
                        return;
                    }
                }
            }
            let _ = sender.send(batch);
        };
        let spawned = std::thread::Builder::new()
            .name("work-tree walk".into())
            .spawn(walker);
        let entries: Box<dyn Iterator<Item = _>> = match spawned {
            Ok(_) => Box::new(receiver.into_iter().flatten()),
            // No thread to be had: the check walks the tree itself.
            Err(_) => Box::new(work_tree_entries(root.to_path_buf())),
        };
        Walk {
            root: root.to_path_buf(),
            entries,
        }
    }
}

/// The entries under `root` as repository paths (`a/b`), without `.git`, each with its kind
/// (a symlink is listed, not followed: neither a file nor a directory here).
fn work_tree_entries(root: PathBuf) -> impl Iterator<Item = (String, Kind)> {
    walkdir::WalkDir::new(&root)
        .min_depth(1)
        .into_iter()
        .filter_entry(|entry| entry.file_name() != ".git")
        .filter_map(Result::ok)
        .filter_map(move |entry| {
            let relative = entry.path().strip_prefix(&root).ok()?;
            let kind = match entry.file_type() {
                t if t.is_dir() => Kind::Dir,
                t if t.is_file() => Kind::File,
                _ => Kind::Other,
            };
            Some((repository_path(relative), kind))
        })
}

/// A path relative to the root as git writes it: parts joined by `/`.
fn repository_path(relative: &Path) -> String {
    if std::path::MAIN_SEPARATOR == '/' {
        // Already `a/b`: the walk joins the names it reads with the separator.
        return relative.to_string_lossy().into_owned();
    }
    let parts: Vec<String> = relative
        .components()
        .map(|part| part.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{MissingVariables, from_str};
    use crate::vars::Vars;

    fn config(source: &str) -> Config {
        from_str(
            Path::new("gipgee.yaml"),
            source,
            &Vars::default(),
            MissingVariables::Tolerate,
        )
        .unwrap_or_else(|err| panic!("{err}"))
    }

    fn problems(source: &str, files: &[&str]) -> Vec<(usize, String, Option<String>)> {
        let dir = tempfile::tempdir().unwrap();
        for file in files {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        check(&config(source), dir.path())
            .into_iter()
            .map(|d| (d.position.map_or(0, |p| p.line), d.message, d.help))
            .collect()
    }

    const CONFIG: &str = "
version: 1
defaults:
  staging: registry.example.com/s
  watchedAssets: ['common/**']
images:
  a:
    baseImage: alpine
    targetLocations: [registry.example.com/a:1]
    context: images/a
  b:
    baseImage: alpine
    targetLocations: [registry.example.com/b:1]
    containerfile: images/b.Containerfile
    watchedAssets: ['images/b/*.sh', 'docs', 'common/**']
";

    #[test]
    fn a_plain_directory_glob_matches_what_its_parsed_glob_matches() {
        let paths = [
            "images/a",
            "images/a/x",
            "images/a/b/c",
            "images/ab/x",
            "images/a.b/x",
            "Images/a/x",
            "images/a-b_c/x",
            "x/images/a/y",
        ];
        for glob in [
            "images/a/**",
            "images/a.b/**",
            "images/a-b_c/**",
            "images/**",
        ] {
            let directory = files_under(glob).unwrap();
            let parsed = watched_glob(glob).unwrap();
            for path in paths {
                assert_eq!(
                    path.starts_with(&format!("{directory}/")),
                    parsed.is_match(path),
                    "{glob} {path}"
                );
            }
        }
        for glob in [
            "**",
            "/**",
            "images/*/**",
            "images/[a]/**",
            "images/{a,b}/**",
            "a\\b/**",
        ] {
            assert_eq!(files_under(glob), None, "{glob}");
        }
    }

    #[test]
    fn plain_directory_globs_and_others_are_matched_together() {
        let source = "
version: 1
images:
  a:
    baseImage: alpine
    targetLocations: [registry.example.com/a:1]
    context: images/a
    watchedAssets: ['images/a/**', 'images/ab/**', 'images/a/*.sh', 'images/c/**']
";
        let files = [
            "images/a/Containerfile",
            "images/a/run.sh",
            "images/abc/x",
            "images/c",
        ];
        let found: Vec<String> = problems(source, &files)
            .into_iter()
            .map(|(_, message, _)| message)
            .collect();
        assert_eq!(
            found,
            [
                "watched glob `images/ab/**` matches no file in the repository",
                "watched glob `images/c/**` matches no file in the repository",
            ]
        );
    }

    #[test]
    fn the_repository_root_is_where_git_is() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/b");
        std::fs::create_dir_all(&sub).unwrap();
        assert_eq!(repository_root(&sub), sub, "outside a repository");
        std::fs::write(dir.path().join(".git"), "gitdir: elsewhere\n").unwrap();
        assert_eq!(repository_root(&sub), dir.path());
    }

    #[test]
    fn a_complete_work_tree_has_no_problems() {
        let files = [
            "images/a/Containerfile",
            "images/b.Containerfile",
            "images/b/run.sh",
            "docs",
            "common/x/y.txt",
        ];
        assert_eq!(problems(CONFIG, &files), []);
    }

    #[cfg(unix)]
    #[test]
    fn paths_the_walk_meets_as_symlinks_or_directories_are_checked_as_the_file_system_sees_them() {
        // The walk lists symlinks without following them, and `images/b.Containerfile` is a
        // directory here: neither may pass for what the image needs on the walk's word alone.
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for sub in ["real/a", "images/b.Containerfile", "common"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        std::fs::write(root.join("real/a/Containerfile"), "").unwrap();
        std::fs::write(root.join("common/x"), "").unwrap();
        std::fs::create_dir_all(root.join("images")).unwrap();
        std::os::unix::fs::symlink(root.join("real/a"), root.join("images/a")).unwrap();
        let found: Vec<String> = check(&config(CONFIG), root)
            .into_iter()
            .map(|d| d.message)
            .collect();
        assert_eq!(
            found,
            [
                "image `b`: containerfile `images/b.Containerfile` is not a file",
                "watched glob `images/b/*.sh` matches no file in the repository",
                "watched glob `docs` matches no file in the repository",
            ]
        );
    }

    #[test]
    fn missing_paths_and_globs_matching_nothing_are_named_with_their_image() {
        // `images/b/sub/run.sh` is not matched: `*` does not cross `/`. `.git` is no work tree.
        let files = ["images/b/sub/run.sh", "docs/README", ".git/common/x"];
        assert_eq!(
            problems(CONFIG, &files),
            [
                (
                    5,
                    "watched glob `common/**` matches no file in the repository"
                ),
                (10, "image `a`: build context `images/a` does not exist"),
                (
                    10,
                    "image `a`: containerfile `images/a/Containerfile` does not exist"
                ),
                (
                    14,
                    "image `b`: containerfile `images/b.Containerfile` does not exist"
                ),
                (
                    15,
                    "watched glob `images/b/*.sh` matches no file in the repository"
                ),
                (15, "watched glob `docs` matches no file in the repository"),
                (
                    15,
                    "watched glob `common/**` matches no file in the repository"
                ),
            ]
            .map(|(line, message)| {
                let help = (message.contains("`docs`")).then(|| {
                    "`docs` is a directory; `docs/**` matches the files in it".to_string()
                });
                (line, message.to_string(), help)
            })
        );
    }
}
