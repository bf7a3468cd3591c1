//! The shape of the code stays as docs/design.md draws it: data flows one way, so every module
//! imports only modules above it in the design's list. A source scan, so that an import
//! against the flow fails here, with the file and the import, before it becomes a cycle.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The modules of `src/`, in import order: each may use only those before it. Keep in step
/// with the table in docs/design.md (a test below checks that too).
const LAYERS: &[&str] = &[
    "diagnostic",
    "vars",
    "oci",
    "registry",
    "error",
    "output",
    "gitlab",
    "config",
    "migrate",
    "results",
    "environment",
    "changes",
    "plan",
    "revisions",
    "jobs",
    "render",
    "pipeline",
    "checks",
    "cli",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The Rust files of a top-level module: `src/<name>.rs` or everything under `src/<name>/`.
fn files_of(module: &str) -> Vec<PathBuf> {
    let file = src().join(format!("{module}.rs"));
    if file.is_file() {
        return vec![file];
    }
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(src().join(module))
        .into_iter()
        .filter_map(Result::ok)
        .map(|entry| entry.into_path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .collect();
    files.sort();
    files
}

/// The top-level modules a file names through `crate::` (in `use` trees too), comments left
/// out.
fn crate_modules(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::c, d::{e, f}}`: the names at the group's top level.
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.insert(first_segment(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 {
                    item.push(c);
                }
            }
            found.insert(first_segment(&item));
        } else {
            found.insert(first_segment(rest));
        }
    }
    found.remove("");
    found
}

fn first_segment(text: &str) -> String {
    text.trim()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

#[test]
fn every_module_imports_only_modules_above_it() {
    let mut problems = Vec::new();
    for (index, module) in LAYERS.iter().enumerate() {
        let files = files_of(module);
        assert!(!files.is_empty(), "src/{module} does not exist");
        for file in files {
            let text = std::fs::read_to_string(&file).expect("source file");
            // Only `crate::` paths may cross modules, so that the scan below sees every
            // crossing: as many `super::` as the file is deep would reach the crate root.
            // (Unit tests nest one level deeper; their `use super::*` is fine.)
            let path = file.strip_prefix(src()).expect("a file under src");
            let depth = path.components().count() - usize::from(path.ends_with("mod.rs"));
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            let to_root = "super::".repeat(depth);
            if code.contains(&to_root) {
                problems.push(format!(
                    "{} reaches out of its module with `{to_root}`",
                    file.display()
                ));
            }
            for used in crate_modules(&text) {
                match LAYERS.iter().position(|m| *m == used) {
                    Some(at) if at < index || used == *module => {}
                    Some(_) => problems.push(format!(
                        "{} uses `crate::{used}`, which is below `{module}` in the flow",
                        file.display()
                    )),
                    None => problems.push(format!(
                        "{} uses `crate::{used}`, a module the design does not list",
                        file.display()
                    )),
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_registry_and_oci_know_nothing_of_gipgee() {
    for module in ["oci", "registry"] {
        for file in files_of(module) {
            let text = std::fs::read_to_string(&file).expect("source file");
            let gipgee: Vec<String> = crate_modules(&text)
                .into_iter()
                .filter(|used| !["oci", "registry"].contains(&used.as_str()))
                .collect();
            assert!(
                gipgee.is_empty(),
                "{} uses {gipgee:?}: the registry client takes plain data",
                file.display()
            );
            if file.ends_with("tests.rs") {
                continue;
            }
            // Unit tests may hold any text as data; the code itself may not know gipgee.
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for word in ["std::env", "gipgee.yaml", "registries:", "CI_REGISTRY"] {
                let lines: Vec<&str> = code
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("//") && l.contains(word))
                    .collect();
                assert!(
                    lines.is_empty(),
                    "{} mentions `{word}`: {lines:?}",
                    file.display()
                );
            }
        }
    }
}

#[test]
fn only_the_cli_reads_the_process_environment() {
    for module in LAYERS.iter().filter(|m| **m != "cli") {
        for file in files_of(module) {
            let text = std::fs::read_to_string(&file).expect("source file");
            // `std::env::split_paths` only splits a value it is given; everything else in
            // `std::env` reads the process.
            let reads: Vec<&str> = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .filter(|l| {
                    ["var", "vars", "args", "current_dir", "home_dir", "temp_dir"]
                        .iter()
                        .any(|f| {
                            l.contains(&format!("env::{f}("))
                                || l.contains(&format!("env::{f}_os("))
                        })
                        || l.contains("use std::env;")
                })
                .collect();
            assert!(
                reads.is_empty(),
                "{} reads the environment: {reads:?}",
                file.display()
            );
        }
    }
}

#[test]
fn the_design_lists_every_module_in_this_order() {
    let design =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/design.md"))
            .expect("docs/design.md");
    let listed: Vec<String> = design
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .map(|name| name.trim_end_matches('/').to_string())
        .collect();
    assert_eq!(listed, LAYERS, "docs/design.md's module table");
    let mut on_disk: Vec<String> = std::fs::read_dir(src())
        .expect("src")
        .filter_map(Result::ok)
        .map(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string()
        })
        .filter(|name| name != "lib" && name != "main")
        .collect();
    on_disk.sort();
    let mut layers: Vec<String> = LAYERS.iter().map(|m| m.to_string()).collect();
    layers.sort();
    assert_eq!(on_disk, layers, "the modules in src/ and the design's list");
}

#[test]
fn no_source_cites_a_document_outside_the_repository() {
    for module in LAYERS {
        for file in files_of(module) {
            let text = std::fs::read_to_string(&file).expect("source file");
            for word in [
                "SPEC", "LAB.md", "STYLE.md", "issue #", "issue 1", "issue 2", "issue 3", "issue 4",
            ] {
                assert!(!text.contains(word), "{} cites `{word}`", file.display());
            }
        }
    }
}

#[test]
fn the_scan_finds_grouped_and_nested_imports() {
    let text = "use crate::{config::Config, error::{self, Error}};\n// crate::cli in a comment\nlet x = crate::plan::make();";
    let found: Vec<String> = crate_modules(text).into_iter().collect();
    assert_eq!(found, ["config", "error", "plan"]);
}
