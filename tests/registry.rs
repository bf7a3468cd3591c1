//! The registry client against real distribution registries on loopback: anonymous, Basic
//! (htpasswd) and Bearer (token auth with a token server) reads, a private CA over TLS, and the
//! errors a user sees for a wrong password, a missing image and a registry that is down.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gipgee::config::RegistryConfig;
use gipgee::environment::credentials::{self, CredentialStore};
use gipgee::oci::Reference;
use gipgee::registry::{Client, Digest, ErrorKind, Platform, RetryPolicy};
use gipgee::vars::Vars;

use crate::support::oci::{Blob, Layout};
use crate::support::registry::{self, Auth, Registry, TokenServer};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// What was pushed: a single-platform image and a multi-platform index.
struct Pushed {
    /// `base:1`, one layer.
    base: Blob,
    base_layer: Digest,
    /// `multi:1`: amd64, arm64/v8 and an attestation manifest listed first.
    index: Blob,
    amd64: Blob,
    arm64: Blob,
    attestation: Blob,
    amd64_layers: Vec<Digest>,
}

/// Writes the test images into an OCI layout under `dir` and pushes them to
/// `<host>/base/busybox:1` and `<host>/base/multi:1`.
fn push_images(dir: &Path, host: &str, creds: Option<(&str, &str)>, ca: Option<&Path>) -> Pushed {
    let mut layout = Layout::new(&dir.join("layout"));
    let base_layer = layout.layer("base-version", "v1\n");
    let app_layer = layout.layer("app-version", "app\n");
    let arm_layer = layout.layer("arch", "arm64\n");
    let base = layout.image(std::slice::from_ref(&base_layer), "amd64");
    let amd64 = layout.image(&[base_layer.clone(), app_layer.clone()], "amd64");
    let arm64 = layout.image(&[base_layer.clone(), arm_layer], "arm64");
    // An attestation manifest as BuildKit writes it: unknown/unknown, annotated.
    let attestation = layout.image(std::slice::from_ref(&app_layer), "unknown");
    let index = layout.index(&[
        (
            &attestation,
            r#"{"os":"unknown","architecture":"unknown"}"#,
            &format!(
                r#"{{"vnd.docker.reference.type":"attestation-manifest","vnd.docker.reference.digest":"{}"}}"#,
                amd64.digest
            ),
        ),
        (&amd64, r#"{"os":"linux","architecture":"amd64"}"#, "{}"),
        (
            &arm64,
            r#"{"os":"linux","architecture":"arm64","variant":"v8"}"#,
            "{}",
        ),
    ]);
    layout.tag("base", &base, OCI_MANIFEST);
    layout.tag("multi", &index, OCI_INDEX);
    layout.push("base", &format!("{host}/base/busybox:1"), creds, ca);
    layout.push("multi", &format!("{host}/base/multi:1"), creds, ca);
    Pushed {
        base,
        base_layer: base_layer.0.digest.clone(),
        index,
        amd64,
        arm64,
        attestation,
        amd64_layers: vec![base_layer.0.digest, app_layer.0.digest],
    }
}

/// A client for `registries:` and `vars` as `gipgee layer-check` builds one, with shorter
/// retries and timeouts.
fn new_client(registries: &BTreeMap<String, RegistryConfig>, vars: &Vars) -> Client {
    let mut config = credentials::client_config(registries, vars).unwrap();
    config.transport.retry = RetryPolicy {
        attempts: 2,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
    };
    config.transport.connect_timeout = Duration::from_secs(5);
    config.transport.request_timeout = Duration::from_secs(20);
    Client::new(config, Arc::new(CredentialStore::new(registries, vars))).unwrap()
}

/// `registries:` with the plain-http registry `host`, whose credentials are in the variables
/// `TEST_REGISTRY_USER` / `TEST_REGISTRY_PASSWORD` if `credentials`.
fn registries(host: &str, credentials: bool) -> BTreeMap<String, RegistryConfig> {
    BTreeMap::from([(
        host.to_string(),
        RegistryConfig {
            username_variable: credentials.then(|| "TEST_REGISTRY_USER".to_string()),
            password_variable: credentials.then(|| "TEST_REGISTRY_PASSWORD".to_string()),
            insecure: true,
            ..RegistryConfig::default()
        },
    )])
}

/// A client of the plain-http registry `host` with no credentials configured, and `vars`.
fn client_for(host: &str, vars: &Vars) -> Client {
    new_client(&registries(host, false), vars)
}

/// A client of the plain-http registry `host` with the credentials `tester` / `password` in
/// the configured variables.
fn client_with_password(host: &str, password: &str) -> Client {
    let vars = Vars::from_pairs([
        ("TEST_REGISTRY_USER", "tester"),
        ("TEST_REGISTRY_PASSWORD", password),
    ]);
    new_client(&registries(host, true), &vars)
}

/// htpasswd with the user `tester`, password `basic-secret`.
fn basic_auth() -> Auth {
    Auth::Basic {
        user: "tester".into(),
        password: "basic-secret".into(),
    }
}

fn reference(host: &str, rest: &str) -> Reference {
    Reference::parse(&format!("{host}/{rest}")).expect("valid reference")
}

/// The reads every auth kind must serve identically.
fn check_reads(client: &Client, host: &str, pushed: &Pushed) {
    let base = reference(host, "base/busybox:1");
    assert_eq!(client.digest(&base).unwrap(), pushed.base.digest);
    let image = client.image(&base).unwrap();
    assert_eq!(image.digest, pushed.base.digest);
    assert_eq!(image.index_digest, None);
    assert_eq!(image.manifest.layer_digests(), vec![&pushed.base_layer]);

    let multi = reference(host, "base/multi:1");
    assert_eq!(client.digest(&multi).unwrap(), pushed.index.digest);
    let amd64 = client.image(&multi).unwrap();
    assert_eq!(amd64.digest, pushed.amd64.digest);
    assert_eq!(amd64.index_digest.as_ref(), Some(&pushed.index.digest));
    assert_eq!(
        amd64.manifest.layer_digests(),
        pushed.amd64_layers.iter().collect::<Vec<_>>()
    );
    let all = client.images(&multi).unwrap();
    let platforms: Vec<String> = all
        .iter()
        .map(|i| i.platform.as_ref().unwrap().to_string())
        .collect();
    assert_eq!(platforms, vec!["linux/amd64", "linux/arm64/v8"]);
    assert_eq!(all[1].digest, pushed.arm64.digest);
    assert!(all.iter().all(|i| i.digest != pushed.attestation.digest));

    // The same image by digest, as the layer check pins a platform.
    let pinned = reference(host, &format!("base/multi@{}", pushed.amd64.digest));
    assert_eq!(client.image(&pinned).unwrap().digest, pushed.amd64.digest);
}

#[test]
fn anonymous_read_of_images_and_index() {
    if !registry::tools_available("anonymous_read_of_images_and_index") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::builder(dir.path()).start();
    let pushed = push_images(dir.path(), &registry.host, None, None);
    let client = client_for(&registry.host, &Vars::default());
    check_reads(&client, &registry.host, &pushed);
    let requests = client.stats().requests;
    // HEAD + GET per reference, GETs for the two platform manifests; the pinned reference's
    // manifest is cached by digest already. No token, no retries.
    assert_eq!(requests, 6, "{:?}", client.stats());
    // Everything again: nothing is fetched twice in one run.
    check_reads(&client, &registry.host, &pushed);
    assert_eq!(client.stats().requests, requests);

    let platform = Platform::parse("linux/arm64").unwrap();
    let arm = client
        .image_for(&reference(&registry.host, "base/multi:1"), &platform)
        .unwrap();
    assert_eq!(arm.digest, pushed.arm64.digest);
}

#[test]
fn basic_auth_read_with_configured_variables_and_docker_auth_config() {
    if !registry::tools_available(
        "basic_auth_read_with_configured_variables_and_docker_auth_config",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::builder(dir.path()).auth(basic_auth()).start();
    let host = registry.host.clone();
    let pushed = push_images(dir.path(), &host, Some(("tester", "basic-secret")), None);

    let client = client_with_password(&host, "basic-secret");
    check_reads(&client, &host, &pushed);

    // The same through DOCKER_AUTH_CONFIG (what a GitLab runner passes), keyed by URL.
    let auth_config = format!(
        r#"{{"auths": {{"http://{host}/v2/": {{"username": "tester", "password": "basic-secret"}}}}}}"#
    );
    let client = client_for(
        &host,
        &Vars::from_pairs([("DOCKER_AUTH_CONFIG", auth_config)]),
    );
    check_reads(&client, &host, &pushed);

    // Without credentials: the registry says 401 and gipgee says what to configure.
    let anonymous = client_for(&host, &Vars::default());
    let err = anonymous
        .image(&reference(&host, "base/busybox:1"))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unauthorized { source: None });
    assert!(
        err.to_string().contains("no credentials are configured"),
        "{err}"
    );
}

#[test]
fn basic_auth_wrong_password_names_registry_and_variable() {
    if !registry::tools_available("basic_auth_wrong_password_names_registry_and_variable") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::builder(dir.path()).auth(basic_auth()).start();
    let host = registry.host.clone();
    let client = client_with_password(&host, "not-the-password");
    let err = client
        .image(&reference(&host, "base/busybox:1"))
        .unwrap_err();
    let shown = gipgee::error::Error::from(err).to_string();
    assert_eq!(
        shown,
        format!(
            "error: registry `{host}`: cannot read `{host}/base/busybox:1`: authentication failed with the credentials from the variables `TEST_REGISTRY_USER` / `TEST_REGISTRY_PASSWORD` (named in `registries:` of gipgee.yaml); check the value of `TEST_REGISTRY_PASSWORD`\n"
        )
    );
    assert!(!shown.contains("not-the-password"));
}

/// A token-auth registry with its token server (user `tester`, password `token-secret`).
struct TokenSetup {
    _dir: tempfile::TempDir,
    tokens: TokenServer,
    registry: Registry,
    pushed: Pushed,
}

fn token_setup() -> TokenSetup {
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = registry::token_signing_key(dir.path());
    let tokens = TokenServer::start(dir.path(), &key, &cert, "tester", "token-secret");
    let auth = Auth::Token {
        realm: tokens.url.clone(),
        cert,
    };
    let registry = Registry::builder(dir.path()).auth(auth).start();
    let pushed = push_images(
        dir.path(),
        &registry.host,
        Some(("tester", "token-secret")),
        None,
    );
    TokenSetup {
        _dir: dir,
        tokens,
        registry,
        pushed,
    }
}

#[test]
fn bearer_read_reuses_tokens_per_repository() {
    if !registry::tools_available("bearer_read_reuses_tokens_per_repository") {
        return;
    }
    let setup = token_setup();
    let host = setup.registry.host.clone();
    let pushes = setup.tokens.requests().len();
    let client = client_with_password(&host, "token-secret");
    check_reads(&client, &host, &setup.pushed);
    // Two repositories read: two tokens, each used for every request in its repository.
    let issued = setup.tokens.requests()[pushes..].to_vec();
    assert_eq!(
        issued,
        vec![
            "tester repository:base/busybox:pull",
            "tester repository:base/multi:pull",
        ]
    );
    assert_eq!(client.stats().token_requests, 2);

    // `$CI_REGISTRY` with the job's credentials is a source too.
    let ci = Vars::from_pairs([
        ("CI_REGISTRY", host.as_str()),
        ("CI_REGISTRY_USER", "tester"),
        ("CI_REGISTRY_PASSWORD", "token-secret"),
    ]);
    let client = client_for(&host, &ci);
    check_reads(&client, &host, &setup.pushed);
}

#[test]
fn bearer_wrong_password_and_anonymous_are_clear_errors() {
    if !registry::tools_available("bearer_wrong_password_and_anonymous_are_clear_errors") {
        return;
    }
    let setup = token_setup();
    let host = setup.registry.host.clone();
    let client = client_with_password(&host, "wrong-token-secret");
    let err = client
        .image(&reference(&host, "base/busybox:1"))
        .unwrap_err();
    assert!(matches!(
        err.kind,
        ErrorKind::Unauthorized { source: Some(_) }
    ));
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!("registry `{host}`: ")),
        "{shown}"
    );
    assert!(shown.contains("`TEST_REGISTRY_PASSWORD`"), "{shown}");
    assert!(!shown.contains("wrong-token-secret"), "{shown}");

    // An anonymous token grants nothing on this registry.
    let anonymous = client_for(&host, &Vars::default());
    let err = anonymous
        .image(&reference(&host, "base/busybox:1"))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unauthorized { source: None });
}

#[test]
fn tls_registry_with_a_private_ca() {
    if !registry::tools_available("tls_registry_with_a_private_ca") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = registry::private_ca(dir.path());
    let registry = Registry::builder(dir.path()).tls(&cert, &key).start();
    let host = registry.host.clone();
    let certs_dir = dir.path().join("certs.d");
    std::fs::create_dir_all(&certs_dir).unwrap();
    std::fs::copy(&ca, certs_dir.join("ca.crt")).unwrap();
    let pushed = push_images(dir.path(), &host, None, Some(&certs_dir));

    // Not marked insecure: https, trusting the CA GitLab names in CI_SERVER_TLS_CA_FILE.
    let vars = Vars::from_pairs([("CI_SERVER_TLS_CA_FILE", ca.to_str().unwrap())]);
    let client = new_client(&BTreeMap::new(), &vars);
    check_reads(&client, &host, &pushed);

    // Without the CA the handshake fails, is not retried, and the error says where a CA goes.
    let untrusting = new_client(&BTreeMap::new(), &Vars::default());
    let err = untrusting
        .digest(&reference(&host, "base/busybox:1"))
        .unwrap_err();
    // The registry client reports the TLS failure; gipgee's text adds where a CA goes.
    let shown = gipgee::error::explain_registry_error(&err);
    assert!(matches!(err.kind, ErrorKind::Tls(_)), "{err:?}");
    assert!(shown.contains("TLS failed"), "{shown}");
    assert!(shown.contains("CI_SERVER_TLS_CA_FILE"), "{shown}");
    assert_eq!(untrusting.stats().requests, 1);

    // Marked insecure by mistake: plain http to a TLS port, and the registry's answer shown.
    let plain = client_for(&host, &Vars::default());
    let pinned = reference(&host, &format!("base/busybox@{}", pushed.base.digest));
    let err = plain.image(&pinned).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("HTTP 400 (Client sent an HTTP request to an HTTPS server.)"),
        "{err}"
    );
}

#[test]
fn missing_image_and_stopped_registry_are_errors() {
    if !registry::tools_available("missing_image_and_stopped_registry_are_errors") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut registry = Registry::builder(dir.path()).start();
    let host = registry.host.clone();
    let pushed = push_images(dir.path(), &host, None, None);
    let client = client_for(&host, &Vars::default());
    let missing = client
        .image(&reference(&host, "base/busybox:does-not-exist"))
        .unwrap_err();
    assert_eq!(missing.kind, ErrorKind::NotFound);
    let missing_repo = client
        .image(&reference(&host, "nope/nothing:1"))
        .unwrap_err();
    assert_eq!(missing_repo.kind, ErrorKind::NotFound);
    assert_eq!(
        client.digest(&reference(&host, "base/busybox:1")).unwrap(),
        pushed.base.digest
    );

    registry.stop();
    let fresh = client_for(&host, &Vars::default());
    let err = fresh
        .digest(&reference(&host, "base/busybox:1"))
        .unwrap_err();
    assert!(matches!(err.kind, ErrorKind::Transport(_)), "{err:?}");
    assert!(err.to_string().contains("cannot connect"), "{err}");
    // Bounded: the configured two attempts.
    assert_eq!(fresh.stats().requests, 2);
}
