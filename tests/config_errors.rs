//! Configuration errors, end to end through the binary: every problem at once, each with
//! file:line:col, the source line, a caret, what was expected and "did you mean" — exit 1,
//! no backtrace. The full text is compared, so any change to a message shows here.

use crate::support::Test;

/// A test in a repository whose gipgee.yaml is `config`, with a Containerfile at the root
/// (every image's default).
fn with_config(config: &str) -> Test {
    Test::new()
        .file("gipgee.yaml", config)
        .file("Containerfile", "FROM scratch\n")
}

/// `gipgee validate` of `config`.
fn validate(config: &str) -> Test {
    with_config(config).args(&["validate"])
}

#[test]
fn every_problem_is_reported_at_once_with_positions() {
    validate(
        r#"
            version: 1
            registries:
              docker.io:
                usernameVariable: $DOCKER_USER
            defaults:
              containerfle: Containerfile
            images:
              alpine:
                baseImage: Alpine:3.20
                targetLocations: ["registry.example.com/a:1"]
                buildArgs: {GIPGEE_BASE_IMAGE: x, "bad-name": y}
                updateCheck: sometimes
                tests:
                  - name: smoke
                    script: ["true"]
                    command: ["true"]
              .hidden:
                baseImage: alpine
              python:
                baseImage: ${CI_REGISTRY_IMAGE}/alpine:3.20
                targetLocation: []
                layerCheck: yes
            "#,
    )
    .status(1)
    .stderr(
        "
            error: invalid variable name `$DOCKER_USER`: expected [A-Za-z_][A-Za-z0-9_]* (write the name without `$`: the job reads the value at run time)
             --> gipgee.yaml:4:23
              |
            4 |     usernameVariable: $DOCKER_USER
              |                       ^^^^^^^^^^^^
            error: unknown image key `containerfle`
             --> gipgee.yaml:6:3
              |
            6 |   containerfle: Containerfile
              |   ^^^^^^^^^^^^
              = help: did you mean `containerfile`?
            error: invalid image reference \"Alpine:3.20\": repository name must be lowercase
             --> gipgee.yaml:9:16
              |
            9 |     baseImage: Alpine:3.20
              |                ^^^^^^^^^^^
            error: build arg `GIPGEE_BASE_IMAGE` is set by gipgee: remove it (use `baseImage` for the base)
              --> gipgee.yaml:11:17
               |
            11 |     buildArgs: {GIPGEE_BASE_IMAGE: x, \"bad-name\": y}
               |                 ^^^^^^^^^^^^^^^^^
            error: invalid build arg name `bad-name`: expected [A-Za-z_][A-Za-z0-9_]*
              --> gipgee.yaml:11:39
               |
            11 |     buildArgs: {GIPGEE_BASE_IMAGE: x, \"bad-name\": y}
               |                                       ^^^^^^^^
            error: expected `auto`, `none` or `{command: [argv...]}`, found `sometimes`
              --> gipgee.yaml:12:18
               |
            12 |     updateCheck: sometimes
               |                  ^^^^^^^^^
            error: a test has either `script` or `command`, not both
              --> gipgee.yaml:16:9
               |
            16 |         command: [\"true\"]
               |         ^^^^^^^
            error: invalid image id `.hidden`: must not start with `.` or `-`
              --> gipgee.yaml:17:3
               |
            17 |   .hidden:
               |   ^^^^^^^
            error: image `python`: missing `targetLocations`: expected at least one reference to release to
              --> gipgee.yaml:19:3
               |
            19 |   python:
               |   ^^^^^^
            error: unknown image key `targetLocation`
              --> gipgee.yaml:21:5
               |
            21 |     targetLocation: []
               |     ^^^^^^^^^^^^^^
               = help: did you mean `targetLocations`?
            error: expected `true` or `false`, found `yes`
              --> gipgee.yaml:22:17
               |
            22 |     layerCheck: yes
               |                 ^^^
            11 errors in gipgee.yaml
            ",
    )
    .run();
}

#[test]
fn a_missing_variable_names_the_variable_and_the_field() {
    with_config(
        r#"
            version: 1
            images:
              a:
                baseImage: registry.example.com/x:1
                targetLocations: ["${CI_REGISTRY_IMAGE}/a:1"]
                staging: registry.example.com/staging
            "#,
    )
    .gitlab_manual_run_without_registry()
    .args(&["generate"])
    .status(1)
    .stderr(
        r#"
            error: `targetLocations`: cannot expand `${CI_REGISTRY_IMAGE}/a:1`: variable `CI_REGISTRY_IMAGE` is not set
             --> gipgee.yaml:5:23
              |
            5 |     targetLocations: ["${CI_REGISTRY_IMAGE}/a:1"]
              |                       ^^^^^^^^^^^^^^^^^^^^^^^^
            "#,
    )
    .run();
}

#[test]
fn validate_tolerates_variables_gitlab_sets_later() {
    validate(
        r#"
            version: 1
            images:
              a:
                baseImage: ${CI_REGISTRY_IMAGE}/base:1
                targetLocations: ["${CI_REGISTRY_IMAGE}/a:1"]
            "#,
    )
    .stdout("gipgee.yaml: ok (1 images)\n")
    .run();
}

#[test]
fn yaml_syntax_errors_point_at_the_problem() {
    validate("version: 1\nimages:\n  a: {baseImage: [1, 2\n")
        .status(1)
        .stderr(
            "
            error: invalid YAML: while parsing a flow sequence, expected ',' or ']'
             --> gipgee.yaml:4:1
            ",
        )
        .run();
}

#[test]
fn an_empty_file_says_what_is_expected() {
    validate("")
        .status(1)
        .stderr(
            "
            error: the file is empty: expected a mapping with `version: 1` and `images`
             --> gipgee.yaml
            ",
        )
        .run();
}

#[test]
fn duplicate_keys_and_wrong_version_are_errors() {
    validate(
        "
            version: 2
            images:
              a:
                baseImage: alpine
                baseImage: debian
                targetLocations: [registry.example.com/a:1]
            ",
    )
    .status(1)
    .stderr(
        "
            error: unsupported version: expected `1`
             --> gipgee.yaml:1:10
              |
            1 | version: 2
              |          ^
            error: duplicate key `baseImage`
             --> gipgee.yaml:5:5
              |
            5 |     baseImage: debian
              |     ^^^^^^^^^
            2 errors in gipgee.yaml
            ",
    )
    .run();
}

#[test]
fn every_cycle_is_named() {
    validate(
        "
            version: 1
            images:
              a: {baseImage: registry.example.com/c:1, targetLocations: [registry.example.com/a:1]}
              b: {baseImage: registry.example.com/a:1, targetLocations: [registry.example.com/b:1]}
              c: {baseImage: registry.example.com/b:1, targetLocations: [registry.example.com/c:1]}
              d: {baseImage: registry.example.com/d:1, targetLocations: [registry.example.com/d:1]}
            ",
    )
    .status(1)
    .stderr(
        "
            error: images are built on each other in a cycle: a → c → b → a
             --> gipgee.yaml:3:18
              |
            3 |   a: {baseImage: registry.example.com/c:1, targetLocations: [registry.example.com/a:1]}
              |                  ^
              = help: `a → b` means a's baseImage is a target location of b
            error: images are built on each other in a cycle: d → d
             --> gipgee.yaml:6:18
              |
            6 |   d: {baseImage: registry.example.com/d:1, targetLocations: [registry.example.com/d:1]}
              |                  ^
              = help: `a → b` means a's baseImage is a target location of b
            2 errors in gipgee.yaml
            ",
    )
    .run();
}

#[test]
fn a_target_location_belongs_to_one_image() {
    validate(
        "
            version: 1
            images:
              a: {baseImage: alpine, targetLocations: [registry.example.com/x:1]}
              b: {baseImage: alpine, targetLocations: ['registry.example.com/x:1']}
            ",
    )
    .status(1)
    .stderr(
        "
            error: target location `registry.example.com/x:1` is released by `a` too
             --> gipgee.yaml:4:44
              |
            4 |   b: {baseImage: alpine, targetLocations: ['registry.example.com/x:1']}
              |                                            ^
              = help: each target location belongs to one image
            ",
    )
    .run();
}

#[test]
fn an_unknown_image_in_the_rebuild_selection_gets_a_suggestion() {
    with_config(
        "
            version: 1
            images:
              base-tools: {baseImage: alpine, targetLocations: [registry.example.com/x:1]}
            ",
    )
    .gitlab_manual_run()
    .file(
        "selection.json",
        r#"{"images": {"base-tool": "base moved"}}"#,
    )
    .args(&["plan", "--mode", "rebuild", "--selection", "selection.json"])
    .status(1)
    .stderr(
        "
            error: unknown image id `base-tool` in the selection
             --> selection.json
              = help: did you mean `base-tools`?
            ",
    )
    .run();
}

#[test]
fn a_missing_config_file_is_a_clear_error() {
    Test::new()
        .args(&["validate", "--config", "nope.yaml"])
        .status(1)
        .stderr("error: cannot read nope.yaml: No such file or directory (os error 2)\n")
        .run();
}

#[test]
fn a_byte_order_mark_is_not_part_of_the_first_key() {
    validate("\u{feff}version: 1\nimages:\n  a: {baseImage: alpine, targetLocations: [registry.example.com/a:1]}\n")
        .stdout("gipgee.yaml: ok (1 images)\n")
        .run();
}

#[test]
fn a_nul_byte_is_an_error_at_its_position() {
    validate("version: 1\nimages:\n  a: {baseImage: alp\0ine, targetLocations: [registry.example.com/a:1]}\n")
        .status(1)
        .stderr(
            "
            error: a NUL byte: expected YAML text
             --> gipgee.yaml:3:21
              |
            3 |   a: {baseImage: alp\u{fffd}ine, targetLocations: [registry.example.com/a:1]}
              |                     ^
            ",
        )
        .run();
}

#[test]
fn a_byte_that_is_not_utf8_is_an_error_at_its_position() {
    let test = Test::new().args(&["validate"]);
    std::fs::write(
        test.dir().join("gipgee.yaml"),
        b"version: 1\nimages:\n  caf\xe9: {baseImage: alpine}\n",
    )
    .expect("write");
    test.status(1)
        .stderr(
            "
            error: invalid UTF-8 (byte 0xe9): expected UTF-8 text
             --> gipgee.yaml:3:6
              |
            3 |   caf\u{fffd}: {baseImage: alpine}
              |      ^
            ",
        )
        .run();
}

#[test]
fn a_second_yaml_document_is_an_error() {
    validate(
        "
            version: 1
            images:
              a: {baseImage: alpine, targetLocations: [registry.example.com/a:1]}
            ---
            images:
              b: {baseImage: alpine, targetLocations: [registry.example.com/b:1]}
            ",
    )
    .status(1)
    .stderr(
        "
            error: a second YAML document: expected one document (remove this `---` and what follows it)
             --> gipgee.yaml:4:1
              |
            4 | ---
              | ^
            ",
    )
    .run();
}

#[test]
fn aliases_of_long_text_are_refused_before_they_use_memory() {
    // 16 KiB of text, doubled by each alias level: unbounded, this would be 16 GiB.
    let mut config = format!("version: 1\nx0: &x0 \"{}\"\n", "long text ".repeat(1600));
    for level in 1..=20 {
        config.push_str(&format!(
            "x{level}: &x{level} [*x{p}, *x{p}]\n",
            p = level - 1
        ));
    }
    validate(&config)
        .status(1)
        .stderr(
            "
            error: `*x5`: aliases expand to more than 1024 KiB of text
             --> gipgee.yaml:8:10
              |
            8 | x6: &x6 [*x5, *x5]
              |          ^
            ",
        )
        .run();
}

#[test]
fn defaults_are_checked_as_written_even_when_every_image_overrides_them() {
    validate(
        "
            version: 1
            defaults:
              baseImage: Alpine
              watchedAssets: ['../shared/**', '']
            images:
              a:
                baseImage: alpine
                watchedAssets: []
                targetLocations: [registry.example.com/a:1, 'registry.example.com/a:1']
            ",
    )
    .status(1)
    .stderr(
        "
            error: invalid image reference \"Alpine\": repository name must be lowercase
             --> gipgee.yaml:3:14
              |
            3 |   baseImage: Alpine
              |              ^^^^^^
            error: invalid glob `../shared/**`: `..` leaves the repository (globs are relative to its root)
             --> gipgee.yaml:4:19
              |
            4 |   watchedAssets: ['../shared/**', '']
              |                   ^^^^^^^^^^^^
            error: empty glob: expected a glob of repository paths, e.g. `images/a/**`
             --> gipgee.yaml:4:35
              |
            4 |   watchedAssets: ['../shared/**', '']
              |                                   ^
            error: `targetLocations` lists `registry.example.com/a:1` twice
             --> gipgee.yaml:9:49
              |
            9 |     targetLocations: [registry.example.com/a:1, 'registry.example.com/a:1']
              |                                                 ^^^^^^^^^^^^^^^^^^^^^^^^
            4 errors in gipgee.yaml
            ",
    )
    .run();
}

/// An image whose containerfile, context and watched glob are not in the repository.
const MISSING_PATHS: &str = "
    version: 1
    images:
      a:
        baseImage: alpine
        targetLocations: [registry.example.com/a:1]
        staging: registry.example.com/staging
        context: images/a
        watchedAssets: [images/a/*.sh, shared]
    ";

/// What `validate` and `generate` say about [`MISSING_PATHS`].
const MISSING_PATHS_ERRORS: &str = "
    error: image `a`: build context `images/a` does not exist
     --> gipgee.yaml:7:14
      |
    7 |     context: images/a
      |              ^
    error: image `a`: containerfile `images/a/Containerfile` does not exist
     --> gipgee.yaml:7:14
      |
    7 |     context: images/a
      |              ^
    error: watched glob `images/a/*.sh` matches no file in the repository
     --> gipgee.yaml:8:21
      |
    8 |     watchedAssets: [images/a/*.sh, shared]
      |                     ^
    error: watched glob `shared` matches no file in the repository
     --> gipgee.yaml:8:36
      |
    8 |     watchedAssets: [images/a/*.sh, shared]
      |                                    ^
      = help: `shared` is a directory; `shared/**` matches the files in it
    4 errors in gipgee.yaml
    ";

#[test]
fn paths_and_globs_missing_from_the_repository_are_errors_in_validate_and_generate() {
    for args in [&["validate"][..], &["generate"]] {
        Test::new()
            .gitlab_manual_run()
            .file("gipgee.yaml", MISSING_PATHS)
            .file("shared/lib.sh", "true\n")
            .args(args)
            .status(1)
            .stderr(MISSING_PATHS_ERRORS)
            .run();
    }
}

#[test]
fn paths_and_globs_missing_from_the_repository_are_warnings_in_plan() {
    Test::new()
        .gitlab_manual_run()
        .file("gipgee.yaml", MISSING_PATHS)
        .file("shared/lib.sh", "true\n")
        .args(&["plan"])
        .stdout(
            "
            gipgee plan: default branch, started by `web`: all images, the first job of each chain is manual; images are released
            All images are selected: the default branch was started by `web`.
              build  a  all images are selected [released, starts manually]
            1 of 1 images are built.
            pipeline 1 of 1 (gipgee-pipeline.yml): 3 jobs, 3 KiB
            limits: 500 jobs per pipeline (GIPGEE_MAX_JOBS), 1048576 bytes per file (GIPGEE_MAX_YAML_BYTES)
            ",
        )
        .stderr(
            &MISSING_PATHS_ERRORS
                .replace("error:", "warning:")
                .replace("4 errors", "4 warnings"),
        )
        .run();
}

#[test]
fn a_config_that_is_not_a_regular_file_is_refused_without_waiting() {
    let test = Test::new().args(&["validate"]);
    // A FIFO nobody writes to: reading it would wait forever.
    let fifo = test.dir().join("gipgee.yaml");
    crate::support::run(std::process::Command::new("mkfifo").arg(&fifo));
    test.status(1)
        .stderr("error: cannot read gipgee.yaml: not a regular file\n")
        .run();
}

#[test]
fn a_config_larger_than_any_real_one_is_refused() {
    let big = format!("version: 1\n# {}\n", "x".repeat(8 * 1024 * 1024));
    validate(&big)
        .status(1)
        .stderr("error: cannot read gipgee.yaml: larger than 8 MiB, more than any configuration needs\n")
        .run();
}

#[test]
fn a_selection_file_is_read_like_a_config_byte_order_mark_included() {
    let out = with_config(
        "
            version: 1
            images:
              base: {baseImage: alpine, targetLocations: [registry.example.com/x:1]}
            ",
    )
    .gitlab_manual_run()
    .file("Containerfile", "FROM scratch\n")
    .file(
        "selection.json",
        "\u{feff}{\"images\": {\"base\": \"stale\"}}",
    )
    .args(&["plan", "--mode", "rebuild", "--selection", "selection.json"])
    .any_stdout()
    .run();
    assert!(out.stdout.contains("stale"), "{}", out.stdout);
}

#[test]
fn scan_and_sign_problems_are_reported_at_their_positions() {
    validate(
        r#"
            version: 1
            defaults:
              scan: sometimes
              sign: true
            images:
              a:
                baseImage: alpine
                targetLocations: ["registry.example.com/a:1"]
                sign: {keyVariable: $KEY, passwordVariable: PASS, keyFile: x}
              b:
                baseImage: alpine
                targetLocations: ["registry.example.com/b:1"]
                scan: false
                sign: {passwordVariable: PASS}
            "#,
    )
    .status(1)
    .stderr(
        "
            error: expected `true` or `false`, found `sometimes`
             --> gipgee.yaml:3:9
              |
            3 |   scan: sometimes
              |         ^^^^^^^^^
            error: expected `keyless`, `{keyVariable: NAME, passwordVariable: NAME}` or `false`, found `true` (`keyless` signs with the job's GitLab ID token)
             --> gipgee.yaml:4:9
              |
            4 |   sign: true
              |         ^^^^
            error: invalid variable name `$KEY`: expected [A-Za-z_][A-Za-z0-9_]* (write the name without `$`: the job reads the value at run time)
             --> gipgee.yaml:9:25
              |
            9 |     sign: {keyVariable: $KEY, passwordVariable: PASS, keyFile: x}
              |                         ^^^^
            error: unknown sign key `keyFile`
             --> gipgee.yaml:9:55
              |
            9 |     sign: {keyVariable: $KEY, passwordVariable: PASS, keyFile: x}
              |                                                       ^^^^^^^
              = help: expected one of `keyVariable`, `passwordVariable`
            error: missing `keyVariable`: expected `keyless`, `{keyVariable: NAME, passwordVariable: NAME}` or `false`
              --> gipgee.yaml:14:11
               |
            14 |     sign: {passwordVariable: PASS}
               |           ^
            5 errors in gipgee.yaml
            ",
    )
    .run();
}

#[test]
fn labels_and_annotations_are_checked_in_defaults_and_images() {
    validate(
        r#"
            version: 1
            defaults:
              labels: {com.example.team: images, "bad key": x}
            images:
              a:
                baseImage: alpine
                targetLocations: ["registry.example.com/a:1"]
                annotations:
                  org.opencontainers.image.revision: abc
                  -leading: x
                  ok.key: [not, a, value]
                labels: yes-a-string
            "#,
    )
    .status(1)
    .stderr(
        "
            error: invalid label key `bad key`: expected letters, digits, `.`, `_`, `-` or `/`, starting with a letter or digit (e.g. `com.example.team`)
             --> gipgee.yaml:3:38
              |
            3 |   labels: {com.example.team: images, \"bad key\": x}
              |                                      ^^^^^^^
            error: invalid annotation key `org.opencontainers.image.revision`: gipgee sets it on every build: remove it
             --> gipgee.yaml:9:7
              |
            9 |       org.opencontainers.image.revision: abc
              |       ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
            error: invalid annotation key `-leading`: expected letters, digits, `.`, `_`, `-` or `/`, starting with a letter or digit (e.g. `com.example.team`)
              --> gipgee.yaml:10:7
               |
            10 |       -leading: x
               |       ^^^^^^^^
            error: expected an annotation value, found a list
              --> gipgee.yaml:11:15
               |
            11 |       ok.key: [not, a, value]
               |               ^
            error: expected a mapping for `labels`, found a scalar
              --> gipgee.yaml:12:13
               |
            12 |     labels: yes-a-string
               |             ^^^^^^^^^^^^
            5 errors in gipgee.yaml
",
    )
    .run();
}

#[test]
fn target_locations_written_as_mappings_are_checked() {
    validate(
        r#"
            version: 1
            defaults:
              immutableTargets: sometimes
            images:
              a:
                baseImage: alpine
                targetLocations:
                  - {ref: "registry.example.com/a:1", imutable: true}
                  - {immutable: true}
                  - {ref: "registry.example.com/a:2", immutable: maybe}
                  - registry.example.com/a:3
                  - {ref: "registry.example.com/a:3"}
            "#,
    )
    .status(1)
    .stderr(
        "
            error: expected `true` or `false`, found `sometimes`
             --> gipgee.yaml:3:21
              |
            3 |   immutableTargets: sometimes
              |                     ^^^^^^^^^
            error: unknown target location key `imutable`
             --> gipgee.yaml:8:43
              |
            8 |       - {ref: \"registry.example.com/a:1\", imutable: true}
              |                                           ^^^^^^^^
              = help: did you mean `immutable`?
            error: a target location needs a `ref`: expected `{ref: <reference>, immutable: true}`
             --> gipgee.yaml:9:9
              |
            9 |       - {immutable: true}
              |         ^
            error: expected `true` or `false`, found `maybe`
              --> gipgee.yaml:10:54
               |
            10 |       - {ref: \"registry.example.com/a:2\", immutable: maybe}
               |                                                      ^^^^^
            error: `targetLocations` lists `registry.example.com/a:3` twice
              --> gipgee.yaml:12:9
               |
            12 |       - {ref: \"registry.example.com/a:3\"}
               |         ^
            5 errors in gipgee.yaml
",
    )
    .run();
}

#[test]
fn a_child_is_built_only_for_platforms_its_parent_has() {
    validate(
        "
version: 1
defaults: {staging: registry.example.com/staging}
images:
  base:
    baseImage: alpine
    targetLocations: [registry.example.com/base:1]
  multi:
    baseImage: registry.example.com/base:1
    targetLocations: [registry.example.com/multi:1]
    platforms: [linux/amd64, linux/arm64]
  child:
    baseImage: registry.example.com/multi:1
    targetLocations: [registry.example.com/child:1]
    platforms: [linux/arm64/v8, linux/s390x]
  fine:
    baseImage: registry.example.com/multi:1
    targetLocations: [registry.example.com/fine:1]
    platforms: [linux/arm64/v8]
",
    )
    .status(1)
    .stderr(
        "
error: `child` is built for linux/s390x FROM `multi`, which is not built for it
  --> gipgee.yaml:12:16
   |
12 |     baseImage: registry.example.com/multi:1
   |                ^
   = help: each platform of a child is built FROM the same platform of its parent: list it in `multi`'s `platforms`
error: `multi` is built for linux/amd64, linux/arm64 FROM `base`, which has no `platforms` (one image for its build runner's platform)
 --> gipgee.yaml:8:16
  |
8 |     baseImage: registry.example.com/base:1
  |                ^
  = help: each platform of a child is built FROM the same platform of its parent: list it in `base`'s `platforms`
2 errors in gipgee.yaml
",
    )
    .run();
}

#[test]
/// Platforms are `os/architecture[/variant]`, listed once (`linux/arm64` is `linux/arm64/v8`),
/// short enough for job names, and tests × platforms stay within the release job's `needs`.
fn platforms_and_runner_tags_are_checked_with_positions() {
    let tests: String = (0..25)
        .map(|i| format!("      - {{name: t{i}, script: [\"true\"]}}\n"))
        .collect();
    validate(&format!(
        r#"
version: 1
defaults:
  platforms: [linux/amd64, linux/arm64/v8, linux/arm64]
  runnerTags: {{linux/arm64: [arm64, ""], linux: [x]}}
  cache: sometimes
images:
  a:
    baseImage: alpine
    targetLocations: [registry.example.com/a:1]
    platforms: [linux/amd64, windows, linux/this-architecture-is-long]
  many:
    baseImage: alpine
    targetLocations: [registry.example.com/many:1]
    platforms: [linux/amd64, linux/arm64]
    runnerTags: {{}}
    cache: true
    tests:
{tests}"#
    ))
    .status(1)
    .stderr(PLATFORM_ERRORS)
    .run();
}

/// Every problem of the platform keys, `defaults` included, with the limit of test jobs.
const PLATFORM_ERRORS: &str = r#"
error: `platforms` lists `linux/arm64` twice
 --> gipgee.yaml:3:44
  |
3 |   platforms: [linux/amd64, linux/arm64/v8, linux/arm64]
  |                                            ^^^^^^^^^^^
error: empty runner tag: expected a tag name
 --> gipgee.yaml:4:37
  |
4 |   runnerTags: {linux/arm64: [arm64, ""], linux: [x]}
  |                                     ^
error: invalid platform "linux": expected `os/architecture[/variant]`, e.g. `linux/arm64/v8`
 --> gipgee.yaml:4:42
  |
4 |   runnerTags: {linux/arm64: [arm64, ""], linux: [x]}
  |                                          ^^^^^
error: expected `true` or `false`, found `sometimes`
 --> gipgee.yaml:5:10
  |
5 |   cache: sometimes
  |          ^^^^^^^^^
error: invalid platform "windows": expected `os/architecture[/variant]`, e.g. `linux/arm64/v8`
  --> gipgee.yaml:10:30
   |
10 |     platforms: [linux/amd64, windows, linux/this-architecture-is-long]
   |                              ^^^^^^^
error: platform `linux/this-architecture-is-long` is too long: expected at most 20 characters (it ends test job names)
  --> gipgee.yaml:10:39
   |
10 |     platforms: [linux/amd64, windows, linux/this-architecture-is-long]
   |                                       ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
error: image `many`: 25 tests on 2 platforms make 50 test jobs: expected at most 49 (the release job waits for every test job and for the parent's release, and GitLab allows 50 `needs`)
  --> gipgee.yaml:14:16
   |
14 |     platforms: [linux/amd64, linux/arm64]
   |                ^
7 errors in gipgee.yaml
"#;
