//! Unit tests of defaults merging, expansion and normalisation.

use std::path::Path;

use super::*;

fn vars() -> Vars {
    Vars::from_pairs([
        ("CI_REGISTRY_IMAGE", "registry.example.com/group/project"),
        ("TAG", "3.20"),
    ])
}

fn resolve(source: &str) -> Config {
    from_str(
        Path::new("gipgee.yaml"),
        source,
        &vars(),
        MissingVariables::Error,
    )
    .unwrap_or_else(|err| panic!("{err}"))
}

const MERGED: &str = r#"
version: 1
defaults:
  staging: ${CI_REGISTRY_IMAGE}/staging
  watchedAssets: ["common/**"]
  tests:
    - name: smoke
      script: ["./smoke.sh"]
  updateCheck: none
images:
  plain:
    baseImage: alpine
    targetLocations: ["$CI_REGISTRY_IMAGE/plain:$TAG"]
  own:
    baseImage: docker.io/alpine:${TAG}
    context: images/own
    targetLocations: [registry.example.com/own:1]
    watchedAssets: ["images/own/**"]
    tests: []
    updateCheck: {command: [./check.sh, --quick]}
    layerCheck: false
    buildArgs: {A: 1, B: "two words"}
"#;

#[test]
fn defaults_fill_every_field_an_image_does_not_set() {
    let config = resolve(MERGED);
    let plain = &config.images["plain"];
    assert_eq!(
        plain.base_image.to_string(),
        "docker.io/library/alpine:latest"
    );
    assert_eq!(
        plain.target_locations[0].to_string(),
        "registry.example.com/group/project/plain:3.20"
    );
    assert_eq!(
        plain.staging.to_string(),
        "registry.example.com/group/project/staging"
    );
    assert_eq!(plain.watched_assets, ["common/**"]);
    assert_eq!(
        plain.tests,
        [ImageTest {
            name: "smoke".into(),
            run: TestRun::Script(vec!["./smoke.sh".into()])
        }]
    );
    assert_eq!(plain.update_check, UpdateCheck::None);
    assert_eq!(
        (plain.build_context.as_str(), plain.containerfile.as_str()),
        (".", "Containerfile")
    );
    assert!(plain.layer_check);
    assert_eq!(plain.builder, "buildah");
}

#[test]
fn an_images_own_value_wins_and_lists_are_replaced() {
    let config = resolve(MERGED);
    let own = &config.images["own"];
    assert_eq!(own.base_image.to_string(), "docker.io/library/alpine:3.20");
    assert_eq!(own.watched_assets, ["images/own/**"]);
    assert!(own.tests.is_empty());
    assert_eq!(
        own.update_check,
        UpdateCheck::Command(vec!["./check.sh".into(), "--quick".into()])
    );
    assert!(!own.layer_check);
    assert_eq!(
        own.containerfile, "images/own/Containerfile",
        "defaults to <context>/Containerfile"
    );
    assert_eq!(own.build_args.get("A").map(String::as_str), Some("1"));
    assert_eq!(
        own.build_args.get("B").map(String::as_str),
        Some("two words")
    );
}

#[test]
fn registries_keep_variable_names_only() {
    let config = resolve(
        "
version: 1
registries:
  docker.io: {usernameVariable: HUB_USER, passwordVariable: HUB_TOKEN}
  127.0.0.1:5000: {insecure: true}
images:
  a: {baseImage: alpine, targetLocations: [registry.example.com/a:1], staging: registry.example.com/s}
",
    );
    let hub = &config.registries["docker.io"];
    assert_eq!(hub.username_variable.as_deref(), Some("HUB_USER"));
    assert_eq!(hub.password_variable.as_deref(), Some("HUB_TOKEN"));
    assert!(config.registries["127.0.0.1:5000"].insecure);
}

#[test]
fn validate_mode_uses_placeholders_for_unset_variables() {
    let source = "
version: 1
images:
  a: {baseImage: '${UNSET_REGISTRY}/base:1', targetLocations: ['${UNSET_REGISTRY}/a:1'], staging: '${UNSET_REGISTRY}/s'}
";
    let config = from_str(
        Path::new("gipgee.yaml"),
        source,
        &Vars::default(),
        MissingVariables::Tolerate,
    )
    .unwrap();
    assert_eq!(
        config.images["a"].base_image.to_string(),
        "unset-unset-registry.invalid/base:1"
    );
    assert!(
        from_str(
            Path::new("gipgee.yaml"),
            source,
            &Vars::default(),
            MissingVariables::Error
        )
        .is_err()
    );
}

#[test]
fn gitlabs_secret_variables_are_never_expanded() {
    for name in crate::gitlab::SECRET_VARIABLES {
        let source = format!(
            "version: 1\nimages:\n  a:\n    baseImage: alpine\n    staging: registry.example.com/s\n    targetLocations: [\"registry.example.com/${{{name}}}:1\"]\n"
        );
        let mut vars = vars();
        vars.set(name, "hunter2");
        let err = from_str(
            Path::new("gipgee.yaml"),
            &source,
            &vars,
            MissingVariables::Error,
        )
        .expect_err("a secret is refused")
        .to_string();
        assert!(
            err.contains(&format!("`{name}` holds a credential")),
            "{name}: {err}"
        );
        assert!(!err.contains("hunter2"), "{name}: {err}");
    }
}

/// The messages of the diagnostics `source` gets, in order.
fn problems(source: &str) -> Vec<String> {
    match from_str(
        Path::new("gipgee.yaml"),
        source,
        &vars(),
        MissingVariables::Error,
    ) {
        Ok(_) => Vec::new(),
        Err(Error::Invalid(diagnostics)) => diagnostics
            .diagnostics
            .into_iter()
            .map(|d| d.message)
            .collect(),
        Err(other) => panic!("not a diagnostic: {other}"),
    }
}

#[test]
fn defaults_are_checked_even_when_every_image_overrides_them() {
    let source = "
version: 1
defaults:
  baseImage: Not A Reference
  layerCheck: sometimes
  watchedAssets: ['../outside/**']
images:
  a:
    baseImage: alpine
    layerCheck: true
    watchedAssets: []
    targetLocations: [registry.example.com/a:1]
    staging: registry.example.com/s
";
    assert_eq!(
        problems(source),
        [
            "invalid image reference \"Not A Reference\": must not contain whitespace",
            "expected `true` or `false`, found `sometimes`",
            "invalid glob `../outside/**`: `..` leaves the repository (globs are relative to its root)",
        ]
    );
}

#[test]
fn a_target_location_listed_twice_in_one_image_is_an_error() {
    let source = "
version: 1
images:
  a:
    baseImage: alpine
    targetLocations: [alpine, registry.example.com/a:1, 'docker.io/library/alpine:latest']
    staging: registry.example.com/s
";
    assert_eq!(
        problems(source),
        ["`targetLocations` lists `docker.io/library/alpine:latest` twice"]
    );
}

#[test]
fn empty_globs_and_globs_leaving_the_repository_are_errors() {
    let source = "
version: 1
images:
  a:
    baseImage: alpine
    targetLocations: [registry.example.com/a:1]
    staging: registry.example.com/s
    watchedAssets: ['', '  ', 'a/../../b', 'ok/**', '..']
";
    assert_eq!(
        problems(source),
        [
            "empty glob: expected a glob of repository paths, e.g. `images/a/**`",
            "empty glob: expected a glob of repository paths, e.g. `images/a/**`",
            "invalid glob `a/../../b`: `..` leaves the repository (globs are relative to its root)",
            "invalid glob `..`: `..` leaves the repository (globs are relative to its root)",
        ]
    );
}

#[test]
fn scan_and_sign_are_off_by_default_and_set_per_image_or_in_defaults() {
    let config = resolve(
        "
version: 1
defaults:
  staging: registry.example.com/s
  scan: true
  sign: keyless
images:
  plain: {baseImage: alpine, targetLocations: [registry.example.com/plain:1]}
  keyed:
    baseImage: alpine
    targetLocations: [registry.example.com/keyed:1]
    scan: false
    sign: {keyVariable: COSIGN_PRIVATE_KEY, passwordVariable: COSIGN_PASSWORD}
  unsigned: {baseImage: alpine, targetLocations: [registry.example.com/u:1], sign: false}
",
    );
    let plain = &config.images["plain"];
    assert!(plain.scan);
    assert_eq!(plain.sign, Some(Signing::Keyless));
    let keyed = &config.images["keyed"];
    assert!(!keyed.scan);
    assert_eq!(
        keyed.sign,
        Some(Signing::Key {
            key_variable: "COSIGN_PRIVATE_KEY".into(),
            password_variable: Some("COSIGN_PASSWORD".into()),
        })
    );
    assert_eq!(config.images["unsigned"].sign, None);
    let off = resolve(
        "version: 1\nimages:\n  a: {baseImage: alpine, staging: registry.example.com/s, targetLocations: [registry.example.com/a:1]}\n",
    );
    assert!(!off.images["a"].scan);
    assert_eq!(off.images["a"].sign, None);
}

#[test]
fn signing_key_variables_are_never_expanded() {
    // Named in one image, used in another's reference: still refused, and never shown.
    let source = "
version: 1
images:
  a:
    baseImage: alpine
    staging: registry.example.com/s
    targetLocations: [\"registry.example.com/${SIGNING_KEY}:1\"]
  b:
    baseImage: alpine
    staging: registry.example.com/s
    targetLocations: [\"registry.example.com/${SIGNING_PASSWORD}:1\"]
    sign: {keyVariable: SIGNING_KEY, passwordVariable: SIGNING_PASSWORD}
";
    let mut vars = vars();
    vars.set("SIGNING_KEY", "hunter2");
    vars.set("SIGNING_PASSWORD", "hunter3");
    let err = from_str(
        Path::new("gipgee.yaml"),
        source,
        &vars,
        MissingVariables::Error,
    )
    .expect_err("a signing key is refused")
    .to_string();
    assert!(err.contains("`SIGNING_KEY` holds a credential"), "{err}");
    assert!(
        err.contains("`SIGNING_PASSWORD` holds a credential"),
        "{err}"
    );
    assert!(!err.contains("hunter"), "{err}");
}

#[test]
fn labels_and_annotations_merge_with_defaults_key_by_key() {
    let config = resolve(
        r#"
version: 1
defaults:
  labels: {com.example.team: images, com.example.tier: "1"}
  annotations: {com.example.docs: "https://example.com/${NOT_EXPANDED}"}
images:
  plain:
    baseImage: alpine
    targetLocations: [registry.example.com/plain:1]
  own:
    baseImage: alpine
    targetLocations: [registry.example.com/own:1]
    labels: {com.example.tier: 2, com.example.own: yes}
"#,
    );
    let labels = |id: &str| config.images[id].metadata.labels.clone();
    let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert_eq!(
        labels("plain"),
        map(&[("com.example.team", "images"), ("com.example.tier", "1")])
    );
    assert_eq!(
        labels("own"),
        map(&[
            ("com.example.own", "yes"),
            ("com.example.team", "images"),
            ("com.example.tier", "2"),
        ])
    );
    for id in ["plain", "own"] {
        assert_eq!(
            config.images[id].metadata.annotations,
            map(&[("com.example.docs", "https://example.com/${NOT_EXPANDED}")])
        );
    }
}

#[test]
fn immutable_targets_come_from_the_target_or_the_image_s_default() {
    let config = resolve(
        r#"
version: 1
defaults:
  immutableTargets: true
images:
  inherits:
    baseImage: alpine
    targetLocations:
      - registry.example.com/inherits:1
      - {ref: "registry.example.com/inherits:latest", immutable: false}
  own:
    baseImage: alpine
    immutableTargets: false
    targetLocations:
      - registry.example.com/own:1
      - {ref: "registry.example.com/own:1.2.3", immutable: true}
"#,
    );
    let immutable = |id: &str| -> Vec<String> {
        config.images[id]
            .immutable_targets
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert_eq!(immutable("inherits"), ["registry.example.com/inherits:1"]);
    assert_eq!(immutable("own"), ["registry.example.com/own:1.2.3"]);
    assert_eq!(
        config.images["own"].target_locations,
        [
            Reference::parse("registry.example.com/own:1").unwrap(),
            Reference::parse("registry.example.com/own:1.2.3").unwrap(),
        ]
    );
}

#[test]
fn platforms_runner_tags_and_cache_come_from_defaults_unless_an_image_sets_them() {
    let config = resolve(
        r#"
version: 1
defaults:
  staging: registry.example.com/staging
  platforms: [linux/amd64, linux/arm64]
  runnerTags: {linux/arm64: [arm64]}
  cache: true
images:
  inherits:
    baseImage: alpine
    targetLocations: [registry.example.com/a:1]
  own:
    baseImage: alpine
    targetLocations: [registry.example.com/b:1]
    platforms: [linux/arm/v7]
    cache: false
"#,
    );
    let platforms = |id: &str| {
        let image = &config.images[id];
        let list: Vec<String> = image.platforms.list.iter().map(|p| p.to_string()).collect();
        let tags: Vec<(String, Vec<String>)> = image
            .platforms
            .runner_tags
            .iter()
            .map(|(p, tags)| (p.to_string(), tags.clone()))
            .collect();
        (list, tags, image.platforms.cache)
    };
    let arm64_tags = vec![("linux/arm64".to_string(), vec!["arm64".to_string()])];
    assert_eq!(
        platforms("inherits"),
        (
            vec!["linux/amd64".into(), "linux/arm64".into()],
            arm64_tags.clone(),
            true
        )
    );
    assert_eq!(
        platforms("own"),
        (vec!["linux/arm/v7".into()], arm64_tags, false)
    );
}

#[test]
fn an_image_without_platforms_is_single_platform_and_uncached() {
    let plain = &resolve(MERGED).images["plain"];
    assert_eq!(plain.platforms, Platforms::default());
}

#[test]
fn values_resolved_once_in_defaults_reach_only_the_images_that_inherit_them() {
    let source = "
version: 1
defaults:
  baseImage: alpine:3.20
  staging: registry.example.com/s
  tests: [{name: smoke, script: ['true']}]
images:
  a: {targetLocations: [registry.example.com/a:1]}
  b:
    baseImage: registry.example.com/base:1
    staging: registry.example.com/own
    tests: [{name: own, command: [x]}]
    targetLocations: [registry.example.com/b:1]
";
    let config = resolve(source);
    let (a, b) = (&config.images["a"], &config.images["b"]);
    assert_eq!(a.base_image.to_string(), "docker.io/library/alpine:3.20");
    assert_eq!(a.staging.to_string(), "registry.example.com/s");
    assert_eq!(a.tests[0].name, "smoke");
    assert_eq!(b.base_image.to_string(), "registry.example.com/base:1");
    assert_eq!(b.staging.to_string(), "registry.example.com/own");
    assert_eq!(b.tests[0].name, "own");
}

#[test]
fn a_wrong_value_in_defaults_fails_every_image_that_inherits_it_and_is_shown_once() {
    let source = "
version: 1
defaults:
  staging: registry.example.com/S
  tests: [{name: smoke}]
images:
  a: {baseImage: alpine, targetLocations: [registry.example.com/a:1]}
  b: {baseImage: alpine, targetLocations: [registry.example.com/b:1]}
";
    assert_eq!(
        problems(source),
        [
            "invalid image reference \"registry.example.com/S\": repository name must be lowercase",
            "a test needs a `script` (shell lines) or a `command` (argv)",
        ]
    );
}
