//! The configuration against the repository's work tree: every containerfile and build
//! context exists, and every watched glob matches at least one file. Paths in gipgee.yaml are
//! relative to the repository root (where the build jobs run, and what git's changed paths
//! are relative to). A missing containerfile fails only the build job, minutes later; a glob that matches
//! no file never selects its image, which is a typo or a moved directory, not an intent.

use std::collections::BTreeSet;
use std::path::Path;

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

/// The glob of [`watched_glob`], parsed but not compiled (a set of globs compiles them at
/// once, far faster than one matcher each).
fn watched_pattern(glob: &str) -> Option<Glob> {
    GlobBuilder::new(glob).literal_separator(true).build().ok()
}

/// Every problem of `config` against the work tree at `root`, in file order; each names the
/// image and the path. The caller decides whether they are errors or warnings.
pub fn check(config: &Config, root: &Path) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    for image in config.images.values() {
        let id = &image.id;
        let context = root.join(&image.build_context);
        if !context.is_dir() {
            let problem = missing(&context, "a directory");
            diagnostics.push(Diagnostic::at(
                image.positions.context,
                format!(
                    "image `{id}`: build context `{}` {problem}",
                    image.build_context
                ),
            ));
        }
        let containerfile = root.join(&image.containerfile);
        if !containerfile.is_file() {
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
    diagnostics.extend(globs_matching_nothing(config, root));
    let mut seen = BTreeSet::new();
    // A glob from `defaults` is the same problem for every image: shown once.
    diagnostics.retain(|d| seen.insert((d.position, d.message.clone())));
    diagnostics.sort_by_key(|d| d.position);
    diagnostics
}

fn missing(path: &Path, expected: &str) -> String {
    match path.exists() {
        true => format!("is not {expected}"),
        false => "does not exist".to_string(),
    }
}

/// The watched globs that match no file of the work tree (`.git` left out).
fn globs_matching_nothing(config: &Config, root: &Path) -> Vec<Diagnostic> {
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
    let mut set = GlobSetBuilder::new();
    for (glob, _) in &globs {
        if let Some(pattern) = watched_pattern(glob) {
            set.add(pattern);
        }
    }
    let Ok(set) = set.build() else {
        return Vec::new();
    };
    let mut matched = vec![false; globs.len()];
    // Counted, not scanned per file: the walk stays linear in files + globs.
    let mut unmatched = globs.len();
    let mut indexes = Vec::new();
    for file in work_tree_files(root) {
        set.matches_into(file.as_str(), &mut indexes);
        for &index in &indexes {
            if !std::mem::replace(&mut matched[index], true) {
                unmatched -= 1;
            }
        }
        if unmatched == 0 {
            break;
        }
    }
    globs
        .iter()
        .zip(matched)
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

/// The files (and symlinks) under `root` as repository paths (`a/b`), without `.git`.
fn work_tree_files(root: &Path) -> impl Iterator<Item = String> + '_ {
    walkdir::WalkDir::new(root)
        .min_depth(1)
        .into_iter()
        .filter_entry(|entry| entry.file_name() != ".git")
        .filter_map(Result::ok)
        .filter(|entry| !entry.file_type().is_dir())
        .filter_map(move |entry| {
            let relative = entry.path().strip_prefix(root).ok()?;
            let parts: Vec<String> = relative
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect();
            Some(parts.join("/"))
        })
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
