//! The files gipgee writes. Each is complete or absent: it is written to a temporary file in
//! the same directory and renamed into place, so a full disk or a killed job never leaves half
//! a pipeline for GitLab to run. And none replaces a file the command reads (`--output
//! gipgee.yaml`, or a symlink to it, would destroy the configuration).

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Component, Path, PathBuf};

use crate::error::Error;

/// Something a command reads, which none of its outputs may replace.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// One file; `what` names it for the error ("the configuration").
    File { what: &'static str, path: &'a Path },
    /// Every file in a directory ("the templates directory").
    Dir { what: &'static str, path: &'a Path },
}

/// Refuses an output that is, after following symlinks, one of the inputs or inside an input
/// directory. An output that does not exist yet is compared through its nearest existing
/// directory, so `new/../gipgee.yaml` is the configuration too.
pub fn refuse_inputs(output: &Path, inputs: &[Input]) -> Result<(), Error> {
    let Some(resolved) = resolve(output) else {
        return Ok(());
    };
    for input in inputs {
        let (what, path, inside) = match *input {
            Input::File { what, path } => (what, path, false),
            Input::Dir { what, path } => (what, path, true),
        };
        let Some(input_resolved) = resolve(path) else {
            continue;
        };
        let clash = match inside {
            true => resolved.starts_with(&input_resolved),
            false => resolved == input_resolved || same_file(output, path),
        };
        if clash {
            let relation = if inside { "is inside" } else { "is" };
            return Err(Error::User(format!(
                "{} {relation} {what} ({}), which this command reads: write to another file",
                output.display(),
                path.display()
            )));
        }
    }
    Ok(())
}

/// Writes `text` to `path` (creating its directory): to a temporary file beside it first,
/// then renamed into place. A symlink at `path` is followed, so its target is replaced.
pub fn write_file(path: &Path, text: &str) -> Result<(), Error> {
    let target = resolve(path).unwrap_or_else(|| path.to_path_buf());
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|err| Error::io("create", &dir, err))?;
    let (temp_path, file) = create_temp_beside(&target, &dir)?;
    let written = write_whole(file, text).and_then(|()| std::fs::rename(&temp_path, &target));
    written.map_err(|err| {
        // Best effort: the error that matters is the one about the write.
        let _ = std::fs::remove_file(&temp_path);
        Error::io("write", path, err)
    })
}

/// Written whole before the rename, so a reader of the name sees the old file or the new one,
/// never a part. No `fsync`: that would only guard against the machine crashing, which fails
/// the CI job anyway (and the next run regenerates the file), and it cost as much as rendering
/// a thousand jobs.
fn write_whole(mut file: File, text: &str) -> std::io::Result<()> {
    file.write_all(text.as_bytes())
}

/// A new file `.<name>.<pid>.<n>.tmp` in `dir`, created exclusively (never an existing file or
/// a symlink someone placed there).
fn create_temp_beside(target: &Path, dir: &Path) -> Result<(PathBuf, File), Error> {
    let name = target
        .file_name()
        .map_or_else(|| "output".into(), |n| n.to_string_lossy());
    let mut last_error = None;
    for attempt in 0..100 {
        let temp = dir.join(format!(".{name}.{}.{attempt}.tmp", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&temp) {
            Ok(file) => return Ok((temp, file)),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => last_error = Some(err),
            Err(err) => return Err(Error::io("write", target, err)),
        }
    }
    let err = last_error.unwrap_or_else(|| std::io::Error::other("no temporary file name free"));
    Err(Error::io("write", target, err))
}

/// The absolute path `path` names with every symlink followed; for a path that does not exist
/// (yet), its nearest existing ancestor resolved and the rest applied as written. `None` when
/// not even the working directory resolves.
fn resolve(path: &Path) -> Option<PathBuf> {
    let components: Vec<Component> = path.components().collect();
    for split in (0..=components.len()).rev() {
        let prefix: PathBuf = components[..split].iter().collect();
        let prefix = match prefix.as_os_str().is_empty() {
            true => PathBuf::from("."),
            false => prefix,
        };
        let Ok(mut resolved) = prefix.canonicalize() else {
            continue;
        };
        for part in &components[split..] {
            match part {
                Component::ParentDir => {
                    resolved.pop();
                }
                Component::CurDir => {}
                other => resolved.push(other),
            }
        }
        return Some(resolved);
    }
    None
}

/// Both exist and are the same file (a hard link has its own name but is the same file).
#[cfg(unix)]
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_: &Path, _: &Path) -> bool {
    false
}

// Symlinks and hard links in the tests are unix ones.
#[cfg(test)]
#[cfg(unix)]
mod tests {
    use super::*;

    fn config_input(path: &Path) -> [Input<'_>; 1] {
        [Input::File {
            what: "the configuration",
            path,
        }]
    }

    #[test]
    fn an_output_that_resolves_to_an_input_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("gipgee.yaml");
        std::fs::write(&config, "version: 1\n").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::os::unix::fs::symlink(&config, dir.path().join("link.yaml")).unwrap();
        std::fs::hard_link(&config, dir.path().join("hard.yaml")).unwrap();
        for same in [
            "gipgee.yaml",
            "./gipgee.yaml",
            "sub/../gipgee.yaml",
            "new/../gipgee.yaml",
            "link.yaml",
            "hard.yaml",
        ] {
            let output = dir.path().join(same);
            let err = refuse_inputs(&output, &config_input(&config))
                .expect_err(same)
                .to_string();
            assert!(
                err.contains("is the configuration") && err.contains("write to another file"),
                "{same}: {err}"
            );
        }
        for other in ["pipeline.yml", "sub/gipgee.yaml", "new/gipgee.yaml"] {
            assert!(refuse_inputs(&dir.path().join(other), &config_input(&config)).is_ok());
        }
    }

    #[test]
    fn an_output_inside_an_input_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let templates = dir.path().join("tpl");
        std::fs::create_dir(&templates).unwrap();
        let inputs = [Input::Dir {
            what: "the templates directory",
            path: &templates,
        }];
        let err = refuse_inputs(&templates.join("build.yml.j2"), &inputs).unwrap_err();
        assert!(
            err.to_string()
                .contains("is inside the templates directory"),
            "{err}"
        );
        assert!(refuse_inputs(&dir.path().join("tpl-out.yml"), &inputs).is_ok());
    }

    #[test]
    fn a_write_replaces_the_file_whole_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out/pipeline.yml");
        write_file(&path, "first\n").unwrap();
        write_file(&path, "second\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "second\n");
        let names: Vec<String> = std::fs::read_dir(dir.path().join("out"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["pipeline.yml"]);
    }

    #[test]
    fn a_failed_write_leaves_what_was_there_and_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        // A directory cannot be replaced by a file: the rename fails after the write.
        let path = dir.path().join("pipeline.yml");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("kept"), "old\n").unwrap();
        let err = write_file(&path, "new\n")
            .expect_err("the write fails")
            .to_string();
        assert!(err.starts_with("error: cannot write "), "{err}");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["pipeline.yml"]);
        assert_eq!(std::fs::read_to_string(path.join("kept")).unwrap(), "old\n");
    }

    #[test]
    fn a_symlinked_output_replaces_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target.yml");
        std::fs::write(&target, "old\n").unwrap();
        let link = dir.path().join("link.yml");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_file(&link, "new\n").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new\n");
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }
}
