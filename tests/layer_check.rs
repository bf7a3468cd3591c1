//! The layer check against a real registry (distribution on loopback) with hand-made,
//! reproducible images: the layer-prefix rule, the base-digest annotation (which wins, and
//! never looks the base up by name), multi-platform bases and images, target locations with
//! one digest checked once, and errors — never a silent "up to date" — for a missing image
//! or a registry that is down.

use std::path::Path;
use std::sync::Arc;

use gipgee::checks::layer;
use gipgee::config::{self, Config, MissingVariables};
use gipgee::environment::credentials::{self, CredentialStore};
use gipgee::registry::{Client, Digest, RetryPolicy};
use gipgee::results::Verdict;
use gipgee::vars::Vars;

use crate::support::Test;
use crate::support::oci::{Blob, Layout};
use crate::support::registry::{self, Auth, BlackHole, Registry, TokenServer};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const LINUX_AMD64: &str = r#"{"os":"linux","architecture":"amd64"}"#;
const LINUX_ARM64_V8: &str = r#"{"os":"linux","architecture":"arm64","variant":"v8"}"#;

struct Lab {
    _dir: tempfile::TempDir,
    registry: Registry,
    layout: Layout,
}

impl Lab {
    fn start(test: &str) -> Option<Lab> {
        if !registry::tools_available(test) {
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let registry = Registry::builder(dir.path()).start();
        let layout = Layout::new(&dir.path().join("layout"));
        Some(Lab {
            _dir: dir,
            registry,
            layout,
        })
    }

    #[track_caller]
    fn push_image(&mut self, name: &str, blob: &Blob, repo_tag: &str) {
        self.push(name, blob, OCI_MANIFEST, repo_tag);
    }

    #[track_caller]
    fn push_index(&mut self, name: &str, blob: &Blob, repo_tag: &str) {
        self.push(name, blob, OCI_INDEX, repo_tag);
    }

    /// Names `blob` `name` in the layout and copies it to `<registry>/<repo_tag>`.
    #[track_caller]
    fn push(&mut self, name: &str, blob: &Blob, media_type: &str, repo_tag: &str) {
        self.layout.tag(name, blob, media_type);
        self.layout.push(
            name,
            &format!("{}/{repo_tag}", self.registry.host),
            None,
            None,
        );
    }

    /// Pushes `base:1` (named `name` in the layout): an amd64 image of one layer, whose
    /// `/etc/base-version` holds `version`.
    #[track_caller]
    fn push_base(&mut self, name: &str, version: &str) -> OneLayerBase {
        let layer = self.layout.layer("base-version", version);
        let image = self.layout.image(std::slice::from_ref(&layer), "amd64");
        self.push_image(name, &image, "base:1");
        OneLayerBase { layer, image }
    }

    /// An index of a linux/amd64 and a linux/arm64/v8 image.
    fn two_platform_index(&self, amd64: &Blob, arm64: &Blob) -> Blob {
        self.layout
            .index(&[(amd64, LINUX_AMD64, "{}"), (arm64, LINUX_ARM64_V8, "{}")])
    }

    /// Pushes `base:1` as a two-platform index of one-layer images (`/etc/base-amd64` and
    /// `/etc/base-arm64`).
    #[track_caller]
    fn push_two_platform_base(&mut self) -> TwoPlatformBase {
        let amd64_layer = self.layout.layer("base-amd64", "amd64\n");
        let arm64_layer = self.layout.layer("base-arm64", "arm64\n");
        let amd64_image = self
            .layout
            .image(std::slice::from_ref(&amd64_layer), "amd64");
        let arm64_image = self
            .layout
            .image(std::slice::from_ref(&arm64_layer), "arm64");
        let base = self.two_platform_index(&amd64_image, &arm64_image);
        self.push_index("base", &base, "base:1");
        TwoPlatformBase {
            amd64_layer,
            arm64_layer,
            amd64_image,
        }
    }

    #[track_caller]
    fn config(&self, images: &str) -> Config {
        let text = format!(
            "version: 1\nregistries:\n  {host}: {{insecure: true}}\ndefaults: {{staging: {host}/staging}}\nimages:\n{}",
            images.replace("REG", &self.registry.host),
            host = self.registry.host
        );
        config::from_str(
            Path::new("gipgee.yaml"),
            &text,
            &Vars::default(),
            MissingVariables::Error,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[track_caller]
    fn client(&self, config: &Config) -> Client {
        let vars = Vars::default();
        let mut options =
            credentials::client_config(&config.registries, &vars).expect("client config");
        options.transport.retry = RetryPolicy {
            attempts: 1,
            ..options.transport.retry
        };
        let provider = Arc::new(CredentialStore::new(&config.registries, &vars));
        Client::new(options, provider).expect("client")
    }

    #[track_caller]
    fn check(&self, images: &str) -> (Verdict, u64) {
        let config = self.config(images);
        let client = self.client(&config);
        let results = layer::check_all(&config, &client);
        let result = results
            .images
            .get("app")
            .cloned()
            .expect("a result for app");
        (result, client.stats().requests)
    }
}

/// What [`Lab::push_base`] pushed.
struct OneLayerBase {
    layer: (Blob, Digest),
    image: Blob,
}

/// What [`Lab::push_two_platform_base`] pushed: the layer of each platform's image, and the
/// amd64 image.
struct TwoPlatformBase {
    amd64_layer: (Blob, Digest),
    arm64_layer: (Blob, Digest),
    amd64_image: Blob,
}

fn evidence(result: &Verdict) -> &str {
    match result {
        Verdict::UpToDate { evidence } | Verdict::Stale { evidence, .. } => evidence,
        Verdict::Error { error } => error,
    }
}

const APP: &str = "  app: {baseImage: REG/base:1, targetLocations: [REG/app:1]}\n";
/// [`APP`] with a second target location that was never released.
const APP_AND_NEVER_RELEASED: &str =
    "  app: {baseImage: REG/base:1, targetLocations: [REG/app:1, REG/never-released:1]}\n";

#[test]
fn the_layer_prefix_rule_finds_a_moved_base() {
    let Some(mut lab) = Lab::start("layer prefix") else {
        return;
    };
    let base_v1 = lab.push_base("base", "v1\n").layer;
    let app_layer = lab.layout.layer("app", "app\n");
    let app = lab
        .layout
        .image(&[base_v1.clone(), app_layer.clone()], "amd64");
    lab.push_image("app", &app, "app:1");

    let (result, _) = lab.check(APP);
    assert!(matches!(result, Verdict::UpToDate { .. }), "{result:?}");
    assert!(
        evidence(&result).contains("has the 1 layers of the current"),
        "{result:?}"
    );

    // The base is pushed again with a change: the released app no longer starts with it.
    lab.push_base("base2", "v2\n");
    let (result, _) = lab.check(APP);
    assert!(matches!(result, Verdict::Stale { .. }), "{result:?}");
    assert!(
        evidence(&result).contains(&format!(
            "its first differing layer is {}",
            base_v1.0.digest
        )),
        "{result:?}"
    );
}

#[test]
fn the_base_digest_annotation_decides_when_present() {
    let Some(mut lab) = Lab::start("annotation") else {
        return;
    };
    let base = lab.push_base("base", "v1\n");
    let other_layer = lab.layout.layer("squashed", "x\n");
    // Layers that are no prefix of the base (e.g. squashed), but the annotation records the
    // current base digest — and a base.name that must not be looked up (a staging image).
    let host = lab.registry.host.clone();
    let annotations = |digest: &Digest| {
        format!(
            r#"{{"org.opencontainers.image.base.digest":"{digest}","org.opencontainers.image.base.name":"{host}/staging:base-tools-1234"}}"#
        )
    };
    let current = lab.layout.annotated_image(
        std::slice::from_ref(&other_layer),
        "amd64",
        &annotations(&base.image.digest),
    );
    lab.push_image("app", &current, "app:1");
    let (result, _) = lab.check(APP);
    assert!(matches!(result, Verdict::UpToDate { .. }), "{result:?}");
    assert!(
        evidence(&result).contains(&format!("was built on {}", base.image.digest)),
        "{result:?}"
    );

    // The layers are a prefix, but the annotation names an old base: stale.
    let old = Digest::sha256(b"an old base manifest");
    let outdated = lab.layout.annotated_image(
        &[base.layer.clone(), other_layer.clone()],
        "amd64",
        &annotations(&old),
    );
    lab.push_image("app2", &outdated, "app:1");
    let (result, _) = lab.check(APP);
    assert!(matches!(result, Verdict::Stale { .. }), "{result:?}");
    assert!(
        evidence(&result).contains(&format!("was built on {old}")),
        "{result:?}"
    );
}

#[test]
fn multi_platform_images_are_checked_per_platform() {
    let Some(mut lab) = Lab::start("multi-platform") else {
        return;
    };
    let base = lab.push_two_platform_base();
    let app_layer = lab.layout.layer("app", "app\n");
    let app_amd = lab
        .layout
        .image(&[base.amd64_layer.clone(), app_layer.clone()], "amd64");
    let app_arm = lab
        .layout
        .image(&[base.arm64_layer.clone(), app_layer.clone()], "arm64");
    let app = lab.two_platform_index(&app_amd, &app_arm);
    lab.push_index("app", &app, "app:1");
    // A single-platform image built FROM the multi-platform base is compared with linux/amd64.
    lab.push_image("single", &app_amd, "single:1");
    let (result, _) = lab.check(APP);
    assert!(matches!(result, Verdict::UpToDate { .. }), "{result:?}");
    let (result, _) =
        lab.check("  app: {baseImage: REG/base:1, targetLocations: [REG/single:1]}\n");
    assert!(matches!(result, Verdict::UpToDate { .. }), "{result:?}");

    // Only the arm64 base moves: the arm64 image is stale, and the evidence says so.
    let arm_v2 = lab.layout.layer("base-arm64", "arm64 v2\n");
    let base_arm2 = lab.layout.image(std::slice::from_ref(&arm_v2), "arm64");
    let base2 = lab.two_platform_index(&base.amd64_image, &base_arm2);
    lab.push_index("base2", &base2, "base:1");
    let (result, _) = lab.check(APP);
    assert!(matches!(result, Verdict::Stale { .. }), "{result:?}");
    assert!(evidence(&result).contains("linux/arm64"), "{result:?}");
    assert!(!evidence(&result).contains("linux/amd64"), "{result:?}");
}

#[test]
fn targets_with_one_digest_are_checked_once_and_a_missing_target_is_an_error() {
    let Some(mut lab) = Lab::start("targets") else {
        return;
    };
    let base_layer = lab.push_base("base", "v1\n").layer;
    let app = lab.layout.image(
        &[base_layer.clone(), lab.layout.layer("app", "app\n")],
        "amd64",
    );
    lab.push_image("app", &app, "app:1");
    lab.push_image("app-copy", &app, "mirror/app:1");
    let (result, one_target) = lab.check(APP);
    assert!(matches!(result, Verdict::UpToDate { .. }), "{result:?}");
    let (result, two_targets) = lab
        .check("  app: {baseImage: REG/base:1, targetLocations: [REG/app:1, REG/mirror/app:1]}\n");
    assert!(matches!(result, Verdict::UpToDate { .. }), "{result:?}");
    assert_eq!(
        evidence(&result).matches("has the 1 layers").count(),
        1,
        "checked once: {result:?}"
    );
    assert_eq!(
        two_targets,
        one_target + 1,
        "the second location costs one GET, and is not compared again"
    );

    let (result, _) = lab.check(APP_AND_NEVER_RELEASED);
    assert!(matches!(result, Verdict::Error { .. }), "{result:?}");
    assert!(evidence(&result).contains("never-released"), "{result:?}");
}

#[test]
fn a_registry_that_is_down_is_an_error_for_every_image_and_the_cli_writes_json() {
    let Some(mut lab) = Lab::start("registry down") else {
        return;
    };
    lab.push_base("base", "v1\n");
    let host = lab.registry.host.clone();
    lab.registry.stop();
    let out = Test::new()
        .file(
            "gipgee.yaml",
            &format!(
                "version: 1\nregistries:\n  {host}: {{insecure: true}}\nimages:\n  app: {{baseImage: {host}/base:1, targetLocations: [{host}/app:1], staging: {host}/s}}\n  off: {{baseImage: {host}/base:1, targetLocations: [{host}/off:1], staging: {host}/s, layerCheck: false}}\n"
            ),
        )
        .args(&["layer-check", "--output", "results/layer-check.json"])
        .any_stdout()
        .run();
    let json: serde_json::Value =
        serde_json::from_str(&out.read("results/layer-check.json")).unwrap();
    assert_eq!(json["images"]["app"]["status"], "error", "{json}");
    assert!(
        json["images"]["app"]["error"]
            .as_str()
            .unwrap()
            .contains(&host),
        "{json}"
    );
    assert!(
        json["images"].get("off").is_none(),
        "layerCheck: false is not checked"
    );
    assert!(
        out.stdout
            .starts_with("ERROR       app: base image: registry `"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_single_platform_image_of_another_architecture_matches_its_base_platform() {
    let Some(mut lab) = Lab::start("arm64 single") else {
        return;
    };
    let base = lab.push_two_platform_base();
    // An arm64 image pushed as a single manifest: it names no platform.
    let app = lab.layout.image(
        &[base.arm64_layer.clone(), lab.layout.layer("app", "app\n")],
        "arm64",
    );
    lab.push_image("app", &app, "app:1");
    let (result, _) = lab.check(APP);
    assert!(matches!(result, Verdict::UpToDate { .. }), "{result:?}");
}

#[test]
fn an_error_on_one_location_does_not_hide_a_stale_one() {
    let Some(mut lab) = Lab::start("stale and error") else {
        return;
    };
    let base_v1 = lab.layout.layer("base-version", "v1\n");
    let app = lab.layout.image(
        &[base_v1.clone(), lab.layout.layer("app", "app\n")],
        "amd64",
    );
    lab.push_image("app", &app, "app:1");
    lab.push_base("base", "v2\n");
    let (result, _) = lab.check(APP_AND_NEVER_RELEASED);
    let Verdict::Stale { errors, .. } = &result else {
        panic!("stale expected: {result:?}")
    };
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("never-released"), "{errors:?}");
}

#[test]
fn an_index_without_a_runnable_image_is_an_error() {
    let Some(mut lab) = Lab::start("attestations only") else {
        return;
    };
    lab.push_base("base", "v1\n");
    let attestation = lab
        .layout
        .image(&[lab.layout.layer("sbom", "{}\n")], "unknown");
    let index = lab.layout.index(&[(
        &attestation,
        r#"{"os":"unknown","architecture":"unknown"}"#,
        r#"{"vnd.docker.reference.type":"attestation-manifest"}"#,
    )]);
    lab.push_index("app", &index, "app:1");
    let (result, _) = lab.check(APP);
    assert!(matches!(result, Verdict::Error { .. }), "{result:?}");
    assert!(
        evidence(&result).contains("no runnable image"),
        "{result:?}"
    );
}

#[test]
fn the_deadline_ends_the_check_with_a_result_for_every_image() {
    let Some(mut lab) = Lab::start("deadline") else {
        return;
    };
    let base_layer = lab.push_base("base", "v1\n").layer;
    let app = lab.layout.image(
        &[base_layer.clone(), lab.layout.layer("app", "app\n")],
        "amd64",
    );
    lab.push_image("app", &app, "app:1");
    let good = lab.registry.host.clone();
    let hung = BlackHole::start();
    let mut images = format!(
        "  app: {{baseImage: {good}/base:1, targetLocations: [{good}/app:1], staging: {good}/s}}\n"
    );
    // More images on the hung host than there are workers: some never start.
    let hung_ids: Vec<String> = (0..12).map(|n| format!("hung{n:02}")).collect();
    for (n, id) in hung_ids.iter().enumerate() {
        images.push_str(&format!(
            "  {id}: {{baseImage: {h}/base{n}:1, targetLocations: [{h}/{id}:1], staging: {good}/s}}\n",
            h = hung.host
        ));
    }
    let started = std::time::Instant::now();
    let out = Test::new()
        .file(
            "gipgee.yaml",
            &format!(
                "version: 1\nregistries:\n  {good}: {{insecure: true}}\n  {h}: {{insecure: true}}\nimages:\n{images}",
                h = hung.host
            ),
        )
        .env("GIPGEE_LAYER_CHECK_DEADLINE", "2s")
        .args(&["layer-check", "--output", "results/layer-check.json"])
        .any_stdout()
        .run();
    let elapsed = started.elapsed();
    assert!(
        elapsed < std::time::Duration::from_secs(15),
        "took {elapsed:?}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&out.read("results/layer-check.json")).unwrap();
    let results = json["images"].as_object().expect("images");
    assert_eq!(results.len(), 13, "{json}");
    assert_eq!(results["app"]["status"], "up-to-date", "{json}");
    let unchecked = "deadline reached before this image was checked (the layer check stops after 2s: `--deadline` / `GIPGEE_LAYER_CHECK_DEADLINE`)";
    let mut never_started = 0;
    for id in &hung_ids {
        let result = &results[id.as_str()];
        assert_eq!(result["status"], "error", "{id}: {json}");
        let error = result["error"].as_str().unwrap_or_default();
        assert!(error.contains("deadline"), "{id}: {error}");
        never_started += usize::from(error == unchecked);
    }
    assert!(never_started >= 4, "{json}");
    assert!(
        out.stdout
            .contains(&format!("ERROR       hung11: {unchecked}\n")),
        "{}",
        out.stdout
    );
}

/// 30 released images, each in its own repository, on one base, behind token auth: the
/// check asks the token server for one token covering every repository instead of one per
/// repository, and costs at most 1.1 requests per image, tokens included — counted by the
/// registry's access log and the token server's log, not by gipgee.
#[test]
fn behind_bearer_auth_thirty_images_cost_at_most_1_1_requests_each() {
    const IMAGES: usize = 30;
    if !registry::tools_available("bearer layer check") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, cert) = registry::token_signing_key(dir.path());
    let tokens = TokenServer::start(dir.path(), &key, &cert, "tester", "token-secret");
    let auth = Auth::Token {
        realm: tokens.url.clone(),
        cert,
    };
    let registry = Registry::builder(dir.path())
        .auth(auth)
        .access_log()
        .start();
    let host = registry.host.clone();
    let mut layout = Layout::new(&dir.path().join("layout"));
    let base_layer = layout.layer("base-version", "v1\n");
    let app_layer = layout.layer("app", "app\n");
    let base = layout.image(std::slice::from_ref(&base_layer), "amd64");
    let app = layout.image(&[base_layer, app_layer], "amd64");
    layout.tag("base", &base, OCI_MANIFEST);
    layout.tag("app", &app, OCI_MANIFEST);
    let creds = Some(("tester", "token-secret"));
    layout.push("base", &format!("{host}/base:1"), creds, None);
    let mut images = String::new();
    let destinations: Vec<String> = (0..IMAGES)
        .map(|n| {
            images.push_str(&format!(
                "  img{n:02}: {{baseImage: REG/base:1, targetLocations: [REG/app/img{n:02}:1]}}\n"
            ));
            format!("{host}/app/img{n:02}:1")
        })
        .collect();
    std::thread::scope(|scope| {
        for chunk in destinations.chunks(IMAGES.div_ceil(4)) {
            let layout = &layout;
            scope.spawn(move || {
                for destination in chunk {
                    layout.push("app", destination, creds, None);
                }
            });
        }
    });

    let text = format!(
        "version: 1\nregistries:\n  {host}: {{insecure: true, usernameVariable: REG_USER, passwordVariable: REG_PASSWORD}}\ndefaults: {{staging: {host}/staging}}\nimages:\n{}",
        images.replace("REG", &host)
    );
    let config = config::from_str(
        Path::new("gipgee.yaml"),
        &text,
        &Vars::default(),
        MissingVariables::Error,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let vars = Vars::from_pairs([("REG_USER", "tester"), ("REG_PASSWORD", "token-secret")]);
    let options = credentials::client_config(&config.registries, &vars).expect("client config");
    let provider = Arc::new(CredentialStore::new(&config.registries, &vars));
    let client = Client::new(options, provider).expect("client");
    let (tokens_before, requests_before) = (tokens.requests().len(), registry.requests().len());

    let results = layer::check_all(&config, &client);

    assert_eq!(results.images.len(), IMAGES);
    for (id, verdict) in &results.images {
        assert!(
            matches!(verdict, Verdict::UpToDate { .. }),
            "{id}: {verdict:?}"
        );
    }
    // Give the registry a moment to write the last lines of its access log.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let issued = tokens.requests()[tokens_before..].to_vec();
    let served = registry.requests()[requests_before..].to_vec();
    // One token for the base's and every image's repository.
    assert_eq!(issued.len(), 1, "{issued:?}");
    assert_eq!(issued[0].split(' ').count(), 1 + 1 + IMAGES, "{issued:?}");
    // One GET per repository, and the first request, which learns that a token is needed.
    let unauthorized: Vec<&String> = served.iter().filter(|r| r.ends_with(" 401")).collect();
    assert_eq!(unauthorized.len(), 1, "{served:#?}");
    assert_eq!(served.len(), 1 + 1 + IMAGES, "{served:#?}");
    let total = issued.len() + served.len();
    assert!(
        total * 10 <= IMAGES * 11,
        "{total} requests for {IMAGES} images"
    );
    assert_eq!(client.stats().requests, total as u64);
}
