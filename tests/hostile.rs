//! Hostile input: ids, test names, build args and commands full of quotes, `$`, newlines,
//! `#`, `: ` and unicode must keep the pipeline's YAML structure and every shell word intact.
//! The script lines are *run* by a real shell with the tools replaced by a stub that prints its
//! arguments, so an injection would show up as a changed argument list or an extra command.
//! Also: no secret value ever reaches a generated file or gipgee's output.

use std::process::Command;

use crate::support::{self, Test};

const HOSTILE_VALUE: &str = "it's \"quoted\" $HOME $(touch /tmp/gipgee-pwned) `id` # not a comment\nevil: true\n- item: ünïcödé ✓ del\u{7f} nel\u{85} ls\u{2028} ps\u{2029} bom\u{feff}";

fn hostile_config() -> String {
    let value = serde_json::to_string(HOSTILE_VALUE).unwrap();
    format!(
        r#"
version: 1
images:
  weird.id_1-x:
    baseImage: registry.example.com/base:1
    targetLocations: ["registry.example.com/weird:1"]
    staging: registry.example.com/staging
    buildArgs:
      HOSTILE: {value}
    tests:
      - name: "it's a \"test\" $HOME #1: ünïcode"
        command: ["sh", "-c", {value}]
      - name: script
        script: [{value}, "echo 'second line'"]
"#
    )
}

/// Runs one script line in `sh` with `buildah`/`skopeo` as functions that print each argument
/// on its own line (NUL-free), and returns what they printed.
#[track_caller]
fn run_with_stub(line: &str) -> Vec<String> {
    let script = format!(
        "buildah() {{ for a in \"$@\"; do printf '%s\\0' \"$a\"; done; }}\nskopeo() {{ buildah \"$@\"; }}\n{line}\n"
    );
    // Panics at the caller with the script (the line in it), its status and stderr.
    support::run(Command::new("sh").arg("-c").arg(script))
        .split('\0')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn hostile_values_keep_yaml_structure_and_shell_words() {
    let out = Test::new()
        .gitlab_manual_run()
        .env("GIPGEE_FORCE_AUTOSTART", "true")
        .file("gipgee.yaml", &hostile_config())
        .file("Containerfile", "FROM scratch\n")
        .args(&["generate"])
        .any_stdout()
        .run();
    let text = out.read("gipgee-pipeline.yml");
    let pipeline: serde_yaml::Value = serde_yaml::from_str(&text).expect("valid YAML");
    let jobs: Vec<&str> = pipeline
        .as_mapping()
        .unwrap()
        .keys()
        .filter_map(|k| k.as_str())
        .collect();
    let test_job = "test:weird.id_1-x:it's a \"test\" $HOME #1: ünïcode";
    assert_eq!(
        jobs,
        [
            "stages",
            "workflow",
            ".gipgee-buildah",
            ".gipgee-skopeo",
            "gipgee:plan",
            "build:weird.id_1-x",
            test_job,
            "test:weird.id_1-x:script",
            "release:weird.id_1-x",
        ]
    );

    // The build arg reaches buildah as exactly one argument, unchanged.
    let build_script = pipeline["build:weird.id_1-x"]["script"]
        .as_sequence()
        .unwrap();
    assert_eq!(build_script.len(), 2, "no login lines, one build, one push");
    let argv = run_with_stub(build_script[0].as_str().unwrap());
    let hostile_arg = format!("HOSTILE={HOSTILE_VALUE}");
    assert_eq!(
        argv.iter().filter(|a| **a == hostile_arg).count(),
        1,
        "build arg split or changed: {argv:?}"
    );
    assert_eq!(
        argv.last().map(String::as_str),
        Some("."),
        "the context stays the last word: {argv:?}"
    );
    assert!(
        !std::path::Path::new("/tmp/gipgee-pwned").exists(),
        "a command was injected"
    );

    // The test command is one argv, unchanged; script lines are kept as written.
    let command_line = pipeline[test_job]["script"][0].as_str().unwrap();
    let words = run_with_stub(&format!("buildah {command_line}"));
    assert_eq!(words, ["sh", "-c", HOSTILE_VALUE]);
    let script = pipeline["test:weird.id_1-x:script"]["script"]
        .as_sequence()
        .unwrap();
    assert_eq!(script[0].as_str(), Some(HOSTILE_VALUE));
    assert_eq!(script[1].as_str(), Some("echo 'second line'"));
    assert_eq!(
        pipeline[test_job]["variables"]["GIPGEE_TEST_NAME"].as_str(),
        Some("it's a \"test\" $$HOME #1: ünïcode")
    );

    support::tools::check_pipeline(&out.dir, &out.dir.join("gipgee-pipeline.yml"));
}

#[test]
fn secrets_never_reach_the_pipeline_or_the_output() {
    let secrets = [
        "hunter2-registry-password",
        "s3cr3t-token",
        "job-token-value",
    ];
    let out = Test::new()
        .gitlab_manual_run()
        .env("RELEASE_USER", "releaser")
        .env("RELEASE_PASSWORD", secrets[0])
        .env("DOCKERHUB_TOKEN", secrets[1])
        .env("CI_REGISTRY_PASSWORD", secrets[2])
        .env("CI_REGISTRY_USER", "gitlab-ci-token")
        .file("Containerfile", "FROM scratch\n")
        .file(
            "gipgee.yaml",
            r#"
            version: 1
            registries:
              release.example.com: {usernameVariable: RELEASE_USER, passwordVariable: RELEASE_PASSWORD}
              docker.io: {usernameVariable: DOCKERHUB_USER, passwordVariable: DOCKERHUB_TOKEN}
            images:
              a:
                baseImage: docker.io/library/alpine:3.20
                targetLocations: [release.example.com/a:1, "${CI_REGISTRY_IMAGE}/a:1"]
                staging: ${CI_REGISTRY_IMAGE}/staging
                buildArgs: {TOKEN: "${DOCKERHUB_TOKEN}"}
            "#,
        )
        .args(&["generate"])
        .any_stdout()
        .run();
    let pipeline = out.read("gipgee-pipeline.yml");
    for secret in secrets {
        for (what, text) in [
            ("pipeline", &pipeline),
            ("stdout", &out.stdout),
            ("stderr", &out.stderr),
        ] {
            assert!(
                !text.contains(secret),
                "secret {secret:?} leaked into the {what}"
            );
        }
    }
    // The jobs log in by variable name at run time.
    assert!(
        pipeline.contains(r#"printf '%s' "$RELEASE_PASSWORD" | skopeo login"#),
        "{pipeline}"
    );
    assert!(
        pipeline.contains(r#"printf '%s' "$DOCKERHUB_TOKEN" | buildah login"#),
        "{pipeline}"
    );
    assert!(
        pipeline.contains(r#"printf '%s' "$CI_REGISTRY_PASSWORD" | buildah login"#),
        "{pipeline}"
    );
    // Build args are not expanded by gipgee: the literal text goes to the build.
    assert!(
        pipeline.contains("--build-arg 'TOKEN=${DOCKERHUB_TOKEN}'"),
        "{pipeline}"
    );
}

#[test]
fn a_commit_sha_that_is_not_a_commit_id_never_becomes_a_staging_tag() {
    Test::new()
        .gitlab_manual_run()
        .env("CI_COMMIT_SHA", "x:evil tag")
        .file(
            "gipgee.yaml",
            "version: 1\nimages:\n  a: {baseImage: alpine, targetLocations: [registry.example.com/a:1]}\n",
        )
        .args(&["generate"])
        .status(1)
        .stderr("error: `CI_COMMIT_SHA` is `x:evil tag`: expected the commit id GitLab sets (40 or 64 hexadecimal digits)\n")
        .run();
}
