//! The registry cleanup-policy regex README documents for staging tags: it matches every
//! staging tag gipgee makes and no tag that looks like a release.

use std::path::Path;

use regex_automata::meta::Regex;

use super::staging_reference;
use crate::config::{MissingVariables, from_str};
use crate::environment::run::{Mode, PipelineRun};
use crate::vars::Vars;

/// The regex of README's "Remove tags matching:" line, anchored at both ends as GitLab's
/// cleanup policies anchor it.
fn documented_regex() -> Regex {
    let readme = include_str!("../../../README.md");
    let line = readme
        .lines()
        .find_map(|line| line.trim().strip_prefix("Remove tags matching:"))
        .expect("README documents the cleanup regex on a `Remove tags matching:` line");
    Regex::new(&format!(r"\A(?:{})\z", line.trim())).expect("the documented regex is valid")
}

/// The staging tag of image `id` in a pipeline at `sha` with id `pipeline_id`.
fn staging_tag(id: &str, sha: &str, pipeline_id: &str) -> String {
    let vars = Vars::from_pairs([
        ("CI_PIPELINE_SOURCE", "web"),
        ("CI_COMMIT_BRANCH", "main"),
        ("CI_DEFAULT_BRANCH", "main"),
        ("CI_COMMIT_SHA", sha),
        ("CI_PIPELINE_ID", pipeline_id),
    ]);
    let text = format!(
        "version: 1\ndefaults: {{staging: registry.example.com/staging}}\nimages:\n  {id}: {{baseImage: alpine, targetLocations: [registry.example.com/x:1]}}\n"
    );
    let config = from_str(
        Path::new("gipgee.yaml"),
        &text,
        &vars,
        MissingVariables::Error,
    )
    .unwrap_or_else(|err| panic!("{err}"));
    let run = PipelineRun::detect(&vars, Mode::Auto).unwrap();
    let reference = staging_reference(&config.images[id], &run).unwrap();
    reference.tag().unwrap().to_string()
}

#[test]
fn the_documented_regex_matches_every_staging_tag() {
    let regex = documented_regex();
    let long = format!("a.b-c_{}", "x".repeat(122));
    let ids = [
        "a",
        "app",
        "base-tools",
        "Web_2.0",
        "9lives",
        "x.y-z_1",
        &long,
    ];
    let shas = [
        "0123456789abcdef0123456789abcdef01234567",
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    ];
    for id in ids {
        for sha in shas {
            for pipeline_id in ["1", "77", "12345678901234567890"] {
                let tag = staging_tag(id, sha, pipeline_id);
                assert!(regex.is_match(&tag), "{tag} (image `{id}`) should match");
            }
        }
    }
}

#[test]
fn the_documented_regex_matches_no_release_like_tag() {
    let regex = documented_regex();
    let releases = [
        "1",
        "1.2",
        "v1.2.3",
        "latest",
        "stable",
        "3.20-alpine",
        "1.2.3-rc.1",
        "2024-01-01",
        "app-1",
        "main-0123abcd",
        "sha-0123abcd",
        "0123abcd-77",
        "app-0123abc-77",
        "app-0123abcde-77",
        "app-0123ABCD-77",
        "app-0123abcd-",
        "app-0123abcd-77x",
        "-0123abcd-77",
        ".app-0123abcd-77",
        // Digest-like, but not buildah's 64-digit cache keys.
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",
        "sha256-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ];
    for tag in releases {
        assert!(!regex.is_match(tag), "{tag} must not match");
    }
}

#[test]
fn the_documented_regex_matches_the_build_cache_tags() {
    // buildah tags a cached step by its cache key, 64 hexadecimal digits (the multi-platform
    // end-to-end test checks real cache tags have this form).
    let key = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    assert!(documented_regex().is_match(key));
}
