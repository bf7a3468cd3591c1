//! The client against canned HTTP responses: auth flows, caching, retries, limits, digest
//! checks, index selection and the credential policy on redirects. Credentials come from a
//! [`TestCredentials`] provider, as an application's would.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::testserver::{
    CONFIG, Content, LAYER_A, LAYER_B, Recorded, Reply, ScopedTokens, Server, image_manifest,
    index_manifest,
};
use super::*;
use crate::oci::manifest;

fn fast_options() -> ClientConfig {
    let mut options = ClientConfig::default();
    options.transport.retry = RetryPolicy {
        attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(20),
    };
    options.transport.request_timeout = Duration::from_secs(10);
    options
}

/// [`fast_options`] with plain http for `hosts`.
fn insecure(hosts: &[&str]) -> ClientConfig {
    ClientConfig {
        insecure_hosts: hosts.iter().map(|h| h.to_string()).collect(),
        ..fast_options()
    }
}

/// The source [`TestCredentials`] names.
const TEST_SOURCE: &str = "the variables `REG_USER` / `REG_PASSWORD`";

/// A credential provider: the user `alice` with a password for some hosts, or a lookup
/// problem for every host.
#[derive(Debug, Default)]
struct TestCredentials {
    hosts: BTreeSet<String>,
    password: Option<Secret>,
    problem: Option<String>,
}

impl TestCredentials {
    fn password(host: &str, password: &str) -> TestCredentials {
        TestCredentials {
            hosts: BTreeSet::from([host.to_string()]),
            password: Some(Secret::new(password.to_string())),
            problem: None,
        }
    }

    fn problem(problem: &str) -> TestCredentials {
        TestCredentials {
            problem: Some(problem.to_string()),
            ..TestCredentials::default()
        }
    }
}

impl CredentialProvider for TestCredentials {
    fn credential(&self, registry_host: &str) -> Result<Option<Credential>, CredentialProblem> {
        if let Some(problem) = &self.problem {
            return Err(CredentialProblem(problem.clone()));
        }
        Ok(self
            .password
            .as_ref()
            .filter(|_| self.hosts.contains(registry_host))
            .map(|password| Credential {
                username: "alice".to_string(),
                password: password.clone(),
                source: TEST_SOURCE.to_string(),
            }))
    }

    fn known_credentials(&self) -> Vec<Credential> {
        self.password
            .iter()
            .map(|password| Credential {
                username: "alice".to_string(),
                password: password.clone(),
                source: TEST_SOURCE.to_string(),
            })
            .collect()
    }
}

fn client(config: ClientConfig, credentials: TestCredentials) -> Client {
    Client::new(config, Arc::new(credentials)).unwrap()
}

/// A client of the plain-http registry `host` with no credentials.
fn anonymous_client(host: &str) -> Client {
    client(insecure(&[host]), TestCredentials::default())
}

/// What an anonymous client's read of the manifest `rest` (`app:1`, `app@<digest>`) from the
/// registry `host` fails with.
fn manifest_error(host: &str, rest: &str) -> RegistryError {
    anonymous_client(host)
        .manifest(&reference(host, rest))
        .unwrap_err()
}

/// A client of the plain-http registry `host` with the user `alice` and `password` in the
/// configured variables.
fn client_with_password(host: &str, password: &str) -> Client {
    client(insecure(&[host]), TestCredentials::password(host, password))
}

/// A 401 answer asking for authentication as `www_authenticate` says.
fn challenge(www_authenticate: &str) -> Reply {
    Reply::new(401).header("WWW-Authenticate", www_authenticate)
}

/// A storage server (where a registry redirects to) serving `content` under `/storage`.
fn storage_server(content: Content) -> Server {
    Server::start(move |r| {
        let target = r.target.replacen("/storage", "", 1);
        content.reply(&Recorded {
            target,
            ..r.clone()
        })
    })
}

/// A loopback address nothing listens on.
fn closed_address() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

fn reference(host: &str, rest: &str) -> Reference {
    Reference::parse(&format!("{host}/{rest}")).unwrap()
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

fn methods_and_targets(requests: &[Recorded]) -> Vec<String> {
    requests
        .iter()
        .map(|r| format!("{} {}", r.method, r.target))
        .collect()
}

#[test]
fn anonymous_content_is_one_get_by_tag_per_run() {
    let body = image_manifest(&[LAYER_A, LAYER_B]);
    let content = Content::default().tag("app:1", &body);
    let server = Server::start(move |r| content.reply(r));
    let client = anonymous_client(&server.host());
    let app = reference(&server.host(), "app:1");

    let image = client.image(&app).unwrap();
    assert_eq!(
        image.manifest.layer_digests(),
        vec![
            &Digest::parse(LAYER_A).unwrap(),
            &Digest::parse(LAYER_B).unwrap()
        ]
    );
    assert_eq!(image.digest, Digest::sha256(body.as_bytes()));
    assert_eq!(image.index_digest, None);
    // Everything again, the digest included: served from the run's caches.
    assert_eq!(client.digest(&app).unwrap(), image.digest);
    client.image(&app).unwrap();
    client.images(&app).unwrap();

    // Content was needed and the digest unknown: one GET by tag gives both (a HEAD first
    // would cost a request and save no pull).
    let requests = server.requests();
    assert_eq!(
        methods_and_targets(&requests),
        vec!["GET /v2/app/manifests/1".to_string()]
    );
    for request in &requests {
        assert_eq!(request.header("accept"), Some(ACCEPT));
        assert_eq!(request.header("authorization"), None);
    }
    assert_eq!(client.stats().requests, 1);
}

#[test]
fn a_known_digest_fetches_by_digest_after_the_head() {
    let body = image_manifest(&[LAYER_A]);
    let content = Content::default()
        .tag("app:1", &body)
        .tag("app:latest", &body);
    let server = Server::start(move |r| content.reply(r));
    let client = anonymous_client(&server.host());
    let app = reference(&server.host(), "app:1");
    let digest = client.digest(&app).unwrap();
    client.image(&app).unwrap();
    // Another tag of the same digest: its HEAD, and the manifest from the cache.
    let latest = reference(&server.host(), "app:latest");
    assert_eq!(client.digest(&latest).unwrap(), digest);
    client.image(&latest).unwrap();
    assert_eq!(
        methods_and_targets(&server.requests()),
        vec![
            "HEAD /v2/app/manifests/1".to_string(),
            format!("GET /v2/app/manifests/{digest}"),
            "HEAD /v2/app/manifests/latest".to_string(),
        ]
    );
}

#[test]
fn digest_only_needs_a_head() {
    let body = image_manifest(&[LAYER_A]);
    let content = Content::default().tag("app:1", &body);
    let server = Server::start(move |r| content.reply(r));
    let client = anonymous_client(&server.host());
    let digest = client.digest(&reference(&server.host(), "app:1")).unwrap();
    assert_eq!(digest, Digest::sha256(body.as_bytes()));
    assert_eq!(
        methods_and_targets(&server.requests()),
        vec!["HEAD /v2/app/manifests/1"]
    );
    // A reference by digest needs no request at all for its digest.
    let pinned = reference(&server.host(), &format!("app@{digest}"));
    assert_eq!(client.digest(&pinned).unwrap(), digest);
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn basic_auth_after_challenge_then_up_front() {
    let content = Content::default()
        .tag("app:1", &image_manifest(&[LAYER_A]))
        .tag("other:1", &image_manifest(&[LAYER_B]));
    let expected = basic("alice", "s3cret");
    let server = Server::start(move |r| {
        if r.header("authorization") == Some(expected.as_str()) {
            content.reply(r)
        } else {
            challenge(r#"Basic realm="test""#)
        }
    });
    let host = server.host();
    let client = client_with_password(&host, "s3cret");
    client.image(&reference(&host, "app:1")).unwrap();
    client.image(&reference(&host, "other:1")).unwrap();
    let requests = server.requests();
    // One anonymous try to learn the scheme; afterwards credentials go with every request.
    assert_eq!(requests[0].header("authorization"), None);
    // anonymous GET (401), GET app, GET other.
    assert_eq!(requests.len(), 3, "{:?}", methods_and_targets(&requests));
    assert!(
        requests[1..]
            .iter()
            .all(|r| r.header("authorization").is_some())
    );
}

#[test]
fn wrong_password_names_registry_and_variable_never_the_value() {
    let server = Server::start(|_| challenge(r#"Basic realm="test""#));
    let host = server.host();
    let client = client_with_password(&host, "wrong-pw");
    let err = client.image(&reference(&host, "app:1")).unwrap_err();
    assert!(matches!(
        err.kind,
        ErrorKind::Unauthorized { source: Some(_) }
    ));
    let message = err.to_string();
    assert_eq!(
        message,
        format!(
            "registry `{host}`: cannot read `{host}/app:1`: authentication failed with the credentials from the variables `REG_USER` / `REG_PASSWORD`"
        )
    );
    assert!(!message.contains("wrong-pw"));
    assert!(!format!("{err:?}").contains("wrong-pw"));
    // Anonymous, then once with the credentials; no retry loop against a refusal.
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn auth_required_without_credentials_and_unset_variable() {
    let server = Server::start(|_| challenge(r#"Basic realm="test""#));
    let host = server.host();
    let anonymous = anonymous_client(&host);
    let err = anonymous.image(&reference(&host, "app:1")).unwrap_err();
    assert!(
        err.to_string()
            .contains("authentication required, and no credentials are configured"),
        "{err}"
    );
    let unset = client(
        insecure(&[&host]),
        TestCredentials::problem("the variable `REG_PASSWORD` is not set"),
    );
    let err = unset.image(&reference(&host, "app:1")).unwrap_err();
    assert!(matches!(err.kind, ErrorKind::Credentials(_)));
    assert!(err.to_string().contains("`REG_PASSWORD`"), "{err}");
}

/// A token server on its own origin, issuing `tok-<n>` for each request, recording the scope.
fn token_server(expected_auth: Option<String>) -> (Server, Arc<AtomicUsize>) {
    let issued = Arc::new(AtomicUsize::new(0));
    let counter = issued.clone();
    let server = Server::start(move |r| {
        if let Some(expected) = &expected_auth
            && r.header("authorization") != Some(expected.as_str())
        {
            return Reply::new(401).body(r#"{"details": "bad credentials"}"#);
        }
        let n = counter.fetch_add(1, Ordering::SeqCst);
        Reply::new(200)
            .header("Content-Type", "application/json")
            .body(format!(r#"{{"token": "tok-{n}", "expires_in": 300}}"#))
    });
    (server, issued)
}

/// A registry accepting any `Bearer tok-*` and challenging everything else.
fn bearer_registry(content: Content, realm: String) -> Server {
    Server::start(move |r| {
        if r.header("authorization")
            .is_some_and(|a| a.starts_with("Bearer tok-"))
        {
            content.reply(r)
        } else {
            let repo = r
                .target
                .strip_prefix("/v2/")
                .and_then(|t| t.split_once("/manifests/"))
                .map_or("", |(repo, _)| repo);
            challenge(&format!(
                r#"Bearer realm="{realm}",service="test-registry",scope="repository:{repo}:pull""#
            ))
        }
    })
}

#[test]
fn bearer_tokens_are_reused_per_registry_and_scope() {
    let (tokens, issued) = token_server(Some(basic("alice", "s3cret")));
    let content = Content::default()
        .tag("app:1", &image_manifest(&[LAYER_A]))
        .tag("app:2", &image_manifest(&[LAYER_B]))
        .tag("other:1", &image_manifest(&[LAYER_A, LAYER_B]));
    let registry = bearer_registry(content, format!("{}/token", tokens.url()));
    let host = registry.host();
    let client = client_with_password(&host, "s3cret");
    for tag in ["app:1", "app:2", "app:1", "other:1"] {
        client.image(&reference(&host, tag)).unwrap();
    }
    // One token for `app`, one for `other`.
    assert_eq!(issued.load(Ordering::SeqCst), 2);
    assert_eq!(client.stats().token_requests, 2);
    let token_requests = tokens.requests();
    assert_eq!(
        methods_and_targets(&token_requests),
        vec![
            "GET /token?service=test-registry&scope=repository%3Aapp%3Apull",
            "GET /token?service=test-registry&scope=repository%3Aother%3Apull",
        ]
    );
    // The realm is on another origin, but the registry's challenge named it: it gets the
    // credentials (plain http is allowed only because the registry is marked insecure).
    assert!(
        token_requests
            .iter()
            .all(|r| r.header("authorization").is_some())
    );
    // Only the first request is anonymous; `other` gets its token before asking.
    let registry_requests = registry.requests();
    let anonymous: Vec<_> = registry_requests
        .iter()
        .filter(|r| r.header("authorization").is_none())
        .collect();
    assert_eq!(
        anonymous.len(),
        1,
        "{:?}",
        methods_and_targets(&registry_requests)
    );
}

#[test]
fn parallel_reads_share_one_token_and_identical_references_are_fetched_once() {
    let (tokens, issued) = token_server(None);
    let mut content = Content::default();
    for n in 0..4 {
        content = content.tag(&format!("app:{n}"), &image_manifest(&[LAYER_A, LAYER_B]));
    }
    let registry = bearer_registry(content, format!("{}/token", tokens.url()));
    let host = registry.host();
    let client = anonymous_client(&host);
    // Learn the scheme first, so the parallel part is about the token cache.
    client.image(&reference(&host, "app:0")).unwrap();
    let refs: Vec<Reference> = (0..24)
        .map(|i| reference(&host, &format!("app:{}", i % 4)))
        .collect();
    let results = parallel_map(&refs, 4, |r| client.image(r));
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(issued.load(Ordering::SeqCst), 1);
    // 24 reads of 4 references: each reference fetched once (one GET by tag), no HEADs.
    let requests = registry.requests();
    let heads = requests.iter().filter(|r| r.method == "HEAD").count();
    let gets = requests
        .iter()
        .filter(|r| r.method == "GET" && r.header("authorization").is_some())
        .count();
    assert_eq!(
        (heads, gets),
        (0, 4),
        "{:?}",
        methods_and_targets(&requests)
    );
}

/// `count` repositories `<prefix>NNN`, each with the tag `1`, and their names with the tag.
fn numbered_repositories(prefix: &str, count: usize) -> (Content, Vec<String>) {
    let names: Vec<String> = (0..count).map(|n| format!("{prefix}{n:03}:1")).collect();
    let content = names.iter().fold(Content::default(), |content, name| {
        content.tag(name, &image_manifest(&[LAYER_A]))
    });
    (content, names)
}

/// References to `names` in the registry `host`.
fn on_host(names: &[String], host: &str) -> Vec<Reference> {
    names.iter().map(|name| reference(host, name)).collect()
}

/// A registry behind `tokens` serving `content`, and a client that announced every repository
/// of `planned` to it before reading any.
fn announced(
    tokens: &ScopedTokens,
    content: Content,
    planned: &[String],
) -> (Server, Client, Vec<Reference>) {
    let registry = tokens.registry(content, &[]);
    let references = on_host(planned, &registry.host());
    let client = anonymous_client(&registry.host());
    client.expect_repositories(&references);
    (registry, client, references)
}

/// Reads every reference, one after another.
fn read_each(client: &Client, references: &[Reference]) {
    for reference in references {
        client.image(reference).unwrap();
    }
}

#[test]
fn announced_repositories_share_one_token_per_fifty() {
    let tokens = ScopedTokens::start(usize::MAX, None);
    let (content, planned) = numbered_repositories("app", 120);
    let (registry, client, references) = announced(&tokens, content, &planned);
    read_each(&client, &references);
    // 120 repositories in three token requests of at most 50 scopes, the repository read
    // first in each.
    let asked = tokens.asked();
    let sizes: Vec<usize> = asked.iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![50, 50, 20]);
    assert_eq!(
        [&asked[0][0], &asked[1][0], &asked[2][0]],
        [
            "repository:app000:pull",
            "repository:app050:pull",
            "repository:app100:pull"
        ]
    );
    let all: BTreeSet<&String> = asked.iter().flatten().collect();
    assert_eq!(all.len(), 120);
    assert_eq!(client.stats().token_requests, 3);
    // One GET per repository and the first, anonymous one that learned the scheme.
    assert_eq!(client.stats().requests, 3 + 121);
    assert_eq!(registry.requests().len(), 121);
}

#[test]
fn without_announced_repositories_each_gets_its_own_token() {
    let tokens = ScopedTokens::start(usize::MAX, None);
    let (content, planned) = numbered_repositories("app", 3);
    let registry = tokens.registry(content, &[]);
    let host = registry.host();
    let client = anonymous_client(&host);
    for reference in on_host(&planned, &host) {
        client.image(&reference).unwrap();
    }
    assert_eq!(
        tokens.asked().iter().map(Vec::len).collect::<Vec<_>>(),
        [1, 1, 1]
    );
}

#[test]
fn token_requests_stay_under_the_url_limit() {
    let tokens = ScopedTokens::start(usize::MAX, None);
    // Repository names of 200 characters: some 37 scopes fill 8 KiB of URL.
    let long = format!("group/{}/app", "x".repeat(190));
    let (content, planned) = numbered_repositories(&long, 60);
    let (_registry, client, references) = announced(&tokens, content, &planned);
    read_each(&client, &references);
    let sizes: Vec<usize> = tokens.asked().iter().map(Vec::len).collect();
    assert_eq!(sizes.iter().sum::<usize>(), 60);
    assert_eq!(sizes.len(), 2, "{sizes:?}");
    let targets: Vec<usize> = tokens
        .server
        .requests()
        .iter()
        .map(|r| r.target.len() + tokens.server.url().len())
        .collect();
    assert!(
        targets.iter().all(|&len| len <= MAX_TOKEN_URL_BYTES),
        "{targets:?}"
    );
    assert!(targets[0] > MAX_TOKEN_URL_BYTES - 300, "{targets:?}");
}

#[test]
fn a_token_server_granting_one_scope_per_token_gets_a_request_per_repository() {
    let tokens = ScopedTokens::start(1, None);
    let (content, planned) = numbered_repositories("app", 10);
    let (registry, client, references) = announced(&tokens, content, &planned);
    read_each(&client, &references);
    // The first token asked for all ten but granted app000; app001 was refused with it,
    // asked for alone and accepted: from then on one scope per token, and the other
    // batched tokens are not tried.
    let asked = tokens.asked();
    let sizes: Vec<usize> = asked.iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![10, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    let refused = registry
        .requests()
        .iter()
        .filter(|r| r.header("authorization").is_some())
        .count()
        - 10;
    assert_eq!(
        refused,
        1,
        "{:?}",
        methods_and_targets(&registry.requests())
    );
}

#[test]
fn a_token_server_refusing_several_scopes_is_asked_for_one() {
    let tokens = ScopedTokens::start(usize::MAX, Some((1, 400)));
    let (content, planned) = numbered_repositories("app", 4);
    let (_registry, client, references) = announced(&tokens, content, &planned);
    read_each(&client, &references);
    // One refused batch, then a token per repository.
    assert_eq!(client.stats().token_requests, 5);
    let sizes: Vec<usize> = tokens.asked().iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![1, 1, 1, 1]);
}

#[test]
fn a_repository_a_batched_token_does_not_grant_is_asked_for_alone_once() {
    let tokens = ScopedTokens::start(usize::MAX, None);
    let (content, planned) = numbered_repositories("app", 6);
    let registry = tokens.registry(content, &["app001"]);
    let host = registry.host();
    let references = on_host(&planned, &host);
    let client = anonymous_client(&host);
    client.expect_repositories(&references[..4]);
    let results: Vec<_> = references[..4].iter().map(|r| client.image(r)).collect();
    let err = results[1].as_ref().unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unauthorized { source: None });
    assert!(results.iter().enumerate().all(|(n, r)| n == 1 || r.is_ok()));
    // Not a reason to stop batching: the next announced repositories share a token again.
    client.expect_repositories(&references[4..]);
    client.image(&references[4]).unwrap();
    client.image(&references[5]).unwrap();
    let asked = tokens.asked();
    let sizes: Vec<usize> = asked.iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![4, 1, 2]);
    assert_eq!(asked[1], ["repository:app001:pull"]);
}

#[test]
fn parallel_reads_of_announced_repositories_share_few_tokens() {
    let tokens = ScopedTokens::start(usize::MAX, None);
    let (content, planned) = numbered_repositories("app", 200);
    let (registry, client, references) = announced(&tokens, content, &planned);
    let results = parallel_map(&references, 8, |r| client.image(r));
    assert!(results.iter().all(Result::is_ok));
    // The first request learns the scheme alone; then one token request at a time, each
    // for the 50 repositories after the one asking that have no token yet: no worker asks
    // for a batch of its own, no scope is asked for twice.
    let asked = tokens.asked();
    assert_eq!(
        asked.iter().map(Vec::len).collect::<Vec<_>>(),
        [50, 50, 50, 50]
    );
    let distinct: BTreeSet<&String> = asked.iter().flatten().collect();
    assert_eq!(distinct.len(), 200);
    let requests = registry.requests();
    let anonymous = requests
        .iter()
        .filter(|r| r.header("authorization").is_none())
        .count();
    assert_eq!((requests.len(), anonymous), (201, 1));
}

#[test]
fn wrong_password_at_the_token_server_names_the_variable() {
    let (tokens, issued) = token_server(Some(basic("alice", "right")));
    let registry = bearer_registry(Content::default(), format!("{}/token", tokens.url()));
    let host = registry.host();
    let client = client_with_password(&host, "wrong");
    let err = client.image(&reference(&host, "app:1")).unwrap_err();
    assert!(err.to_string().contains("`REG_PASSWORD`"), "{err}");
    assert!(err.to_string().contains(&host), "{err}");
    assert_eq!(issued.load(Ordering::SeqCst), 0);
}

#[test]
fn insufficient_scope_with_valid_credentials_is_denied() {
    let (tokens, issued) = token_server(Some(basic("alice", "s3cret")));
    let realm = format!("{}/token", tokens.url());
    let registry = Server::start(move |_| {
        challenge(&format!(
            r#"Bearer realm="{realm}",service="s",scope="repository:app:pull",error="insufficient_scope""#
        ))
    });
    let host = registry.host();
    let client = client_with_password(&host, "s3cret");
    let err = client.image(&reference(&host, "app:1")).unwrap_err();
    assert!(
        matches!(err.kind, ErrorKind::Denied { source: Some(_) }),
        "{err:?}"
    );
    assert!(err.to_string().contains("access denied"), "{err}");
    // Anonymous, then once with a fresh token; no loop.
    assert_eq!(registry.requests().len(), 2);
    assert_eq!(issued.load(Ordering::SeqCst), 1);
}

#[test]
fn retry_after_is_honoured() {
    let body = image_manifest(&[LAYER_A]);
    let content = Content::default().tag("app:1", &body);
    let calls = Arc::new(AtomicUsize::new(0));
    let server = {
        let calls = calls.clone();
        Server::start(move |r| {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                Reply::new(429).header("Retry-After", "1")
            } else {
                content.reply(r)
            }
        })
    };
    let mut options = insecure(&[&server.host()]);
    options.transport.retry.max_delay = Duration::from_secs(5);
    let client = client(options, TestCredentials::default());
    let start = Instant::now();
    client.image(&reference(&server.host(), "app:1")).unwrap();
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_secs(1), "waited only {elapsed:?}");
    assert!(elapsed < Duration::from_secs(4), "waited {elapsed:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 2); // GET (429), GET
}

#[test]
fn retries_are_bounded_and_long_retry_after_is_capped() {
    let server = Server::start(|_| {
        Reply::new(503)
            .header("Retry-After", "3600")
            .body(r#"{"errors": [{"code": "UNAVAILABLE", "message": "maintenance"}]}"#)
    });
    let client = anonymous_client(&server.host());
    let start = Instant::now();
    // By digest, so the request is a GET and the registry's error body is read.
    let pinned = reference(&server.host(), &format!("app@{LAYER_A}"));
    let err = client.image(&pinned).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(
        err.kind,
        ErrorKind::Status {
            status: 503,
            attempts: 3,
            detail: Some("UNAVAILABLE: maintenance".into())
        }
    );
    assert!(
        err.to_string()
            .ends_with("HTTP 503 (UNAVAILABLE: maintenance) after 3 attempts")
    );
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn connection_refused_is_retried_then_an_error() {
    let host = closed_address().to_string();
    let client = anonymous_client(&host);
    let err = client.image(&reference(&host, "app:1")).unwrap_err();
    assert!(matches!(err.kind, ErrorKind::Transport(_)), "{err:?}");
    assert!(err.to_string().contains("cannot connect"), "{err}");
    assert_eq!(client.stats().requests, 3);
}

/// A server that reads each request and never answers (until it is dropped).
fn hung_server() -> Server {
    Server::start(|_| {
        std::thread::sleep(Duration::from_secs(5));
        Reply::new(200)
    })
}

#[test]
fn a_host_that_timed_out_is_not_asked_again_in_the_run() {
    let server = hung_server();
    let mut options = insecure(&[&server.host()]);
    options.transport.request_timeout = Duration::from_millis(300);
    options.transport.retry.attempts = 3;
    let client = client(options, TestCredentials::default());
    let start = Instant::now();
    let err = client
        .digest(&reference(&server.host(), "app:1"))
        .unwrap_err();
    assert!(err.to_string().contains("timed out"), "{err}");
    // A timeout is not retried: it would cost the whole timeout again.
    assert_eq!(client.stats().requests, 1);
    // Other references on the host fail at once, saying why, without a request.
    for tag in ["app:2", "other:1", "app:3"] {
        let err = client.image(&reference(&server.host(), tag)).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains(&format!(
                "not tried: an earlier request to http://{} in this run failed (timed out: ",
                server.host()
            )),
            "{message}"
        );
    }
    assert!(
        start.elapsed() < Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(client.stats().requests, 1);
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_host_refusing_connections_is_not_asked_again_after_its_retries() {
    let host = closed_address().to_string();
    let client = anonymous_client(&host);
    client.digest(&reference(&host, "app:1")).unwrap_err();
    assert_eq!(client.stats().requests, 3);
    let err = client.digest(&reference(&host, "app:2")).unwrap_err();
    assert!(err.to_string().contains("not tried"), "{err}");
    assert!(err.to_string().contains("cannot connect"), "{err}");
    assert_eq!(client.stats().requests, 3);
}

#[test]
fn the_deadline_cuts_a_hanging_request_and_refuses_later_ones() {
    let server = hung_server();
    let mut options = insecure(&[&server.host()]);
    options.transport.request_timeout = Duration::from_secs(30);
    options.time_limit = Some(Duration::from_millis(400));
    let client = client(options, TestCredentials::default());
    let start = Instant::now();
    let err = client
        .digest(&reference(&server.host(), "app:1"))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::DeadlineReached, "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(client.deadline_reached());
    assert_eq!(
        err.to_string(),
        format!(
            "registry `{0}`: cannot read `{0}/app:1`: not read: the deadline of this run was reached",
            server.host()
        )
    );
    // After the deadline nothing is sent.
    client
        .digest(&reference(&server.host(), "app:2"))
        .unwrap_err();
    assert_eq!(client.stats().requests, 1);
}

#[test]
fn no_retry_waits_past_the_deadline() {
    let server = Server::start(|_| Reply::new(503).header("Retry-After", "5"));
    let mut options = insecure(&[&server.host()]);
    options.transport.retry.max_delay = Duration::from_secs(10);
    options.time_limit = Some(Duration::from_secs(1));
    let client = client(options, TestCredentials::default());
    let start = Instant::now();
    let err = client
        .digest(&reference(&server.host(), "app:1"))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::DeadlineReached, "{err}");
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_peer_closing_mid_body_is_not_a_connection_failure() {
    let server = Server::start(|_| {
        Reply::new(200)
            .header("Content-Type", manifest::OCI_MANIFEST)
            .body(image_manifest(&[LAYER_A]).as_bytes())
            .cut_short()
    });
    let err = manifest_error(&server.host(), "app:1");
    let message = err.to_string();
    assert!(
        message.contains("the connection was closed before the whole response arrived"),
        "{message}"
    );
    assert!(!message.contains("cannot connect"), "{message}");
    // Retried like other passing failures, and the host stays usable.
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn a_retry_after_in_the_year_9999_or_beyond_waits_the_longest_delay() {
    let body = image_manifest(&[LAYER_A]);
    let content = Content::default().tag("app:1", &body);
    for retry_after in [
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "Fri, 31 Dec 99999999999999 23:59:59 GMT",
        "99999999999999999999999999",
    ] {
        let calls = Arc::new(AtomicUsize::new(0));
        let server = {
            let (calls, content) = (calls.clone(), content.clone());
            Server::start(move |r| {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    Reply::new(429).header("Retry-After", retry_after)
                } else {
                    content.reply(r)
                }
            })
        };
        let client = anonymous_client(&server.host());
        let start = Instant::now();
        client.image(&reference(&server.host(), "app:1")).unwrap();
        assert!(start.elapsed() < Duration::from_secs(1), "{retry_after}");
        assert_eq!(calls.load(Ordering::SeqCst), 2, "{retry_after}");
    }
}

/// A token server answering every request with `body`.
fn token_server_answering(body: String) -> (Server, Arc<AtomicUsize>) {
    let issued = Arc::new(AtomicUsize::new(0));
    let counter = issued.clone();
    let server = Server::start(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
        Reply::new(200)
            .header("Content-Type", "application/json")
            .body(body.clone())
    });
    (server, issued)
}

#[test]
fn an_odd_token_lifetime_means_the_default_lifetime() {
    for expires_in in [
        "-1",
        "1.5",
        "1e400",
        "100000000000000000000000",
        "\"300\"",
        "null",
    ] {
        let (tokens, issued) = token_server_answering(format!(
            r#"{{"token": "tok-0", "expires_in": {expires_in}}}"#
        ));
        let content = Content::default()
            .tag("app:1", &image_manifest(&[LAYER_A]))
            .tag("app:2", &image_manifest(&[LAYER_B]));
        let registry = bearer_registry(content, format!("{}/token", tokens.url()));
        let host = registry.host();
        let client = anonymous_client(&host);
        client
            .image(&reference(&host, "app:1"))
            .unwrap_or_else(|e| panic!("expires_in {expires_in}: {e}"));
        // Used for its default minute, not refetched for the next read.
        client.image(&reference(&host, "app:2")).unwrap();
        assert_eq!(issued.load(Ordering::SeqCst), 1, "expires_in {expires_in}");
    }
}

#[test]
fn an_oversized_token_response_is_not_called_the_manifest() {
    let (tokens, _) = token_server_answering(format!(
        r#"{{"token": "{}"}}"#,
        "t".repeat(MAX_TOKEN_RESPONSE_BYTES as usize)
    ));
    let registry = bearer_registry(Content::default(), format!("{}/token", tokens.url()));
    let host = registry.host();
    let err = manifest_error(&host, "app:1");
    let message = err.to_string();
    assert!(!message.contains("manifest"), "{message}");
    assert!(
        message.contains(&format!(
            "token server {}/token?…: the response is larger than the limit of 1048576 bytes",
            tokens.url()
        )),
        "{message}"
    );
}

#[test]
fn a_401_without_a_challenge_does_not_deny_configured_credentials() {
    let server = Server::start(|_| Reply::new(401));
    let host = server.host();
    let err = client_with_password(&host, "s3cret")
        .image(&reference(&host, "app:1"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "registry `{host}`: cannot read `{host}/app:1`: authentication required, but the HTTP 401 carries no challenge gipgee answers (`WWW-Authenticate: Basic`, or `Bearer` with a realm, from the registry itself), so the credentials from {TEST_SOURCE} were not sent"
        )
    );
    // Without credentials, that none are configured is the truth.
    let err = manifest_error(&host, "app:1");
    assert_eq!(err.kind, ErrorKind::Unauthorized { source: None });
}

#[test]
fn exhausted_authentication_rounds_name_the_credentials_sent() {
    let (tokens, _) = token_server(None);
    let realm = format!("{}/token", tokens.url());
    // Basic, then Bearer, then Basic again: the registry keeps changing its mind.
    let calls = Arc::new(AtomicUsize::new(0));
    let server = Server::start(move |_| {
        if calls.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
            challenge(r#"Basic realm="x""#)
        } else {
            challenge(&format!(r#"Bearer realm="{realm}",service="s""#))
        }
    });
    let host = server.host();
    let err = client_with_password(&host, "s3cret")
        .image(&reference(&host, "app:1"))
        .unwrap_err();
    let message = err.to_string();
    assert!(
        !message.contains("no credentials are configured"),
        "{message}"
    );
    assert!(
        message.ends_with(&format!(
            "the registry still asks for authentication after 3 rounds with the credentials from {TEST_SOURCE}"
        )),
        "{message}"
    );
}

#[test]
fn credentials_a_registry_echoes_are_masked_in_every_form() {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE};
    // `?>?` makes the URL-safe alphabet differ from the standard one.
    let password = "hunter2?>?pw";
    let pair = format!("alice:{password}");
    let echoed = [
        basic("alice", password),
        password.to_string(),
        URL_SAFE.encode(&pair),
        STANDARD_NO_PAD.encode(password),
    ];
    let body_text = format!("rejected: you sent {}", echoed.join(" and "));
    let expected = basic("alice", password);
    let body = body_text.clone();
    let server = Server::start(move |r| {
        if r.header("authorization") == Some(expected.as_str()) {
            Reply::new(500).body(body.clone())
        } else {
            challenge(r#"Basic realm="test""#)
        }
    });
    let host = server.host();
    let client = client_with_password(&host, password);
    let err = client
        .image(&reference(&host, &format!("app@{LAYER_A}")))
        .unwrap_err();
    let message = format!("{err} {err:?}");
    for form in &echoed {
        let secret = form.trim_start_matches("Basic ");
        assert!(!message.contains(secret), "`{secret}` in {message}");
    }
    assert!(!message.contains("hunter2"), "{message}");
    assert!(
        err.to_string().ends_with(
            "HTTP 500 (rejected: you sent Basic [MASKED] and [MASKED] and [MASKED] and [MASKED]) after 3 attempts"
        ),
        "{err}"
    );
    // Text a caller takes from a registry itself is masked the same way.
    assert_eq!(
        client.mask(&body_text),
        "rejected: you sent Basic [MASKED] and [MASKED] and [MASKED] and [MASKED]"
    );
}

#[test]
fn a_token_a_registry_echoes_is_masked() {
    let (tokens, _) = token_server(None);
    let realm = format!("{}/token", tokens.url());
    let registry = Server::start(move |r| match r.header("authorization") {
        Some(auth) => Reply::new(400).body(format!(
            r#"{{"errors": [{{"code": "DENIED", "message": "bad header {auth}"}}]}}"#
        )),
        None => challenge(&format!(r#"Bearer realm="{realm}",service="s""#)),
    });
    let host = registry.host();
    let err = manifest_error(&host, "app:1");
    let message = err.to_string();
    assert!(!message.contains("tok-0"), "{message}");
    assert!(
        message.ends_with("HTTP 400 (DENIED: bad header Bearer [MASKED])"),
        "{message}"
    );
}

#[test]
fn oversized_manifests_are_refused() {
    let huge = format!(
        r#"{{"schemaVersion": 2, "padding": "{}"}}"#,
        "x".repeat(MAX_MANIFEST_BYTES as usize)
    );
    let digest = Digest::sha256(huge.as_bytes()).to_string();
    for close_delimited in [false, true] {
        let (huge, digest) = (huge.clone(), digest.clone());
        let server = Server::start(move |r| {
            let reply = Reply::new(200)
                .header("Content-Type", manifest::OCI_MANIFEST)
                .header("Docker-Content-Digest", &digest);
            let reply = if r.method == "HEAD" {
                reply
            } else {
                reply.body(huge.as_bytes())
            };
            if close_delimited {
                reply.close_delimited()
            } else {
                reply
            }
        });
        let err = manifest_error(&server.host(), "app:1");
        assert_eq!(
            err.kind,
            ErrorKind::TooLarge {
                limit: MAX_MANIFEST_BYTES
            },
            "close_delimited: {close_delimited}"
        );
    }
}

#[test]
fn digest_mismatch_is_an_error() {
    let body = image_manifest(&[LAYER_A]);
    let claimed = Digest::sha256(b"something else").to_string();
    let served = body.clone();
    let server = Server::start(move |_| {
        Reply::new(200)
            .header("Content-Type", manifest::OCI_MANIFEST)
            .header("Docker-Content-Digest", &claimed)
            .body(served.as_bytes())
    });
    let err = manifest_error(&server.host(), "app:1");
    assert_eq!(
        err.kind,
        ErrorKind::DigestMismatch {
            expected: Digest::sha256(b"something else").to_string(),
            actual: Digest::sha256(body.as_bytes()).to_string(),
        }
    );
}

#[test]
fn registry_without_head_digest_is_verified_against_the_get_header() {
    let body = image_manifest(&[LAYER_A]);
    let served = body.clone();
    let server = Server::start(move |r| {
        let reply = Reply::new(200).header("Content-Type", manifest::OCI_MANIFEST);
        if r.method == "HEAD" {
            reply
        } else {
            reply
                .header(
                    "Docker-Content-Digest",
                    Digest::sha256(served.as_bytes()).as_str(),
                )
                .body(served.as_bytes())
        }
    });
    let client = anonymous_client(&server.host());
    let app = reference(&server.host(), "app:1");
    assert_eq!(
        client.digest(&app).unwrap(),
        Digest::sha256(body.as_bytes())
    );
    client.image(&app).unwrap();
    assert_eq!(
        methods_and_targets(&server.requests()),
        vec!["HEAD /v2/app/manifests/1", "GET /v2/app/manifests/1"]
    );
}

#[test]
fn index_selection_skips_attestations_and_honours_the_platform() {
    let (content, amd64) = Content::default().blob(&image_manifest(&[LAYER_A]));
    let (content, arm64) = content.blob(&image_manifest(&[LAYER_B]));
    let (content, attestation) = content.blob(&image_manifest(&[CONFIG]));
    let index = index_manifest(&[
        (&attestation, "unknown/unknown", false),
        (&attestation, "linux/amd64", true),
        (&arm64, "linux/arm64", false),
        (&amd64, "linux/amd64", false),
    ]);
    let content = content.tag("multi:1", &index);
    let server = Server::start(move |r| content.reply(r));
    let host = server.host();
    let multi = reference(&host, "multi:1");

    let client = anonymous_client(&host);
    let image = client.image(&multi).unwrap();
    assert_eq!(image.digest.as_str(), amd64);
    assert_eq!(image.index_digest, Some(Digest::sha256(index.as_bytes())));
    assert_eq!(image.platform, Some(Platform::default()));
    assert_eq!(image.manifest.layer_digests()[0].as_str(), LAYER_A);

    let all = client.images(&multi).unwrap();
    let digests: Vec<&str> = all.iter().map(|i| i.digest.as_str()).collect();
    assert_eq!(digests, vec![arm64.as_str(), amd64.as_str()]);
    assert!(
        !server
            .requests()
            .iter()
            .any(|r| r.target.ends_with(&attestation))
    );

    let arm = client
        .image_for(&multi, &Platform::parse("linux/arm64/v8").unwrap())
        .unwrap();
    assert_eq!(arm.digest.as_str(), arm64);

    let err = client
        .image_for(&multi, &Platform::parse("linux/s390x").unwrap())
        .unwrap_err();
    assert!(
        err.to_string().ends_with(
            "the index has no image for platform linux/s390x (it has: linux/arm64, linux/amd64)"
        ),
        "{err}"
    );

    let mut options = insecure(&[&host]);
    options.platform = Platform::parse("linux/arm64").unwrap();
    let arm_client = Client::new(options, Arc::new(TestCredentials::default())).unwrap();
    assert_eq!(arm_client.image(&multi).unwrap().digest.as_str(), arm64);
}

#[test]
fn redirect_to_another_host_gets_no_credentials() {
    let body = image_manifest(&[LAYER_A]);
    let content = Content::default().tag("app:1", &body);
    // The storage answers the registry's path under its own prefix.
    let storage = storage_server(content);
    let storage_url = storage.url();
    let digest = Digest::sha256(body.as_bytes()).to_string();
    let expected = basic("alice", "s3cret");
    let registry = Server::start(move |r| {
        if r.header("authorization") != Some(expected.as_str()) {
            return challenge(r#"Basic realm="test""#);
        }
        if r.method == "HEAD" {
            return Reply::new(200)
                .header("Docker-Content-Digest", &digest)
                .header("Content-Type", manifest::OCI_MANIFEST);
        }
        // First a same-origin hop (keeps credentials), then off to the storage.
        if r.target.starts_with("/v2/") {
            Reply::new(307).header("Location", &format!("/moved{}", r.target))
        } else {
            Reply::new(307).header(
                "Location",
                &format!(
                    "{storage_url}/storage{}",
                    r.target.replacen("/moved", "", 1)
                ),
            )
        }
    });
    let host = registry.host();
    let client = client_with_password(&host, "s3cret");
    let image = client.image(&reference(&host, "app:1")).unwrap();
    assert_eq!(image.manifest.layer_digests()[0].as_str(), LAYER_A);

    let moved = registry
        .requests()
        .into_iter()
        .find(|r| r.target.starts_with("/moved/"))
        .expect("the same-origin hop");
    assert!(moved.header("authorization").is_some());
    let stored = storage.requests();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].header("authorization"), None);
    assert_eq!(stored[0].header("accept"), Some(ACCEPT));
}

#[test]
fn a_401_from_a_redirect_target_is_not_a_challenge() {
    let (tokens, issued) = token_server(None);
    let realm = format!("{}/token", tokens.url());
    let other =
        Server::start(move |_| challenge(&format!(r#"Bearer realm="{realm}",service="evil""#)));
    let other_url = other.url();
    let registry = Server::start(move |r| {
        Reply::new(302).header("Location", &format!("{other_url}{}", r.target))
    });
    let host = registry.host();
    let client = client_with_password(&host, "s3cret");
    let err = client.image(&reference(&host, "app:1")).unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::NoUsableChallenge {
            source: TEST_SOURCE.to_string()
        },
        "{err:?}"
    );
    assert_eq!(issued.load(Ordering::SeqCst), 0);
    assert_eq!(tokens.requests().len(), 0);
}

#[test]
fn not_found_is_its_own_error() {
    let server = Server::start(|r| Content::default().reply(r));
    let client = anonymous_client(&server.host());
    let err = client
        .image(&reference(&server.host(), "nope:1"))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert_eq!(
        err.to_string(),
        format!(
            "registry `{0}`: cannot read `{0}/nope:1`: not found (no such repository, tag or digest)",
            server.host()
        )
    );
}

#[test]
fn parallel_map_keeps_order_and_bounds_threads() {
    let running = Mutex::new((0usize, 0usize));
    let items: Vec<usize> = (0..40).collect();
    let out = parallel_map(&items, 3, |i| {
        {
            let mut r = running.lock().unwrap();
            r.0 += 1;
            r.1 = r.1.max(r.0);
        }
        std::thread::sleep(Duration::from_millis(2));
        running.lock().unwrap().0 -= 1;
        i * 2
    });
    assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
    assert!(running.lock().unwrap().1 <= 3);
    assert!(parallel_map(&Vec::<u8>::new(), 4, |_| 0).is_empty());
}

#[test]
fn url_helpers() {
    assert_eq!(origin("https://h/v2/x"), "https://h:443");
    assert_eq!(origin("https://H:443/v2/x"), "https://h:443");
    assert_eq!(origin("http://127.0.0.1:5000/v2"), "http://127.0.0.1:5000");
    assert_eq!(origin("http://[::1]/v2"), "http://[::1]:80");
    assert_eq!(
        resolve_location("https://r/v2/a/manifests/1", "/other/x"),
        "https://r/other/x"
    );
    assert_eq!(
        resolve_location("https://r/v2/a/manifests/1", "2?x=1"),
        "https://r/v2/a/manifests/2?x=1"
    );
    assert_eq!(
        resolve_location("https://r/v2/a", "//cdn.example.com/b"),
        "https://cdn.example.com/b"
    );
    assert_eq!(
        percent_encode("repository:a/b:pull"),
        "repository%3Aa%2Fb%3Apull"
    );
}

#[test]
fn a_token_expiring_in_u64_max_seconds_is_used_not_a_panic() {
    let issued = Arc::new(AtomicUsize::new(0));
    let tokens = {
        let issued = issued.clone();
        Server::start(move |_| {
            let n = issued.fetch_add(1, Ordering::SeqCst);
            Reply::new(200)
                .header("Content-Type", "application/json")
                .body(format!(
                    r#"{{"token": "tok-{n}", "expires_in": 18446744073709551615}}"#
                ))
        })
    };
    let content = Content::default()
        .tag("app:1", &image_manifest(&[LAYER_A]))
        .tag("app:2", &image_manifest(&[LAYER_B]));
    let registry = bearer_registry(content, format!("{}/token", tokens.url()));
    let host = registry.host();
    let client = anonymous_client(&host);
    client.image(&reference(&host, "app:1")).unwrap();
    // The token is cached (for at most a day), not thrown away.
    client.image(&reference(&host, "app:2")).unwrap();
    assert_eq!(issued.load(Ordering::SeqCst), 1);
}

/// An index of `count` entries, all naming one image (so a long index costs one fetch here).
fn repeated_index(count: usize) -> (Content, String) {
    let (content, image) = Content::default().blob(&image_manifest(&[LAYER_A]));
    let entries: Vec<(&str, &str, bool)> = (0..count)
        .map(|_| (image.as_str(), "linux/amd64", false))
        .collect();
    let index = index_manifest(&entries);
    (content.tag("multi:1", &index), image)
}

#[test]
fn an_index_with_too_many_images_is_refused_before_any_is_fetched() {
    let (content, image) = repeated_index(MAX_INDEX_IMAGES + 1);
    let server = Server::start(move |r| content.reply(r));
    let host = server.host();
    let too_many = anonymous_client(&host);
    let multi = reference(&host, "multi:1");
    let err = too_many.images(&multi).unwrap_err();
    assert!(matches!(err.kind, ErrorKind::InvalidManifest(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "registry `{host}`: cannot read `{host}/multi:1`: invalid manifest: the index lists 65 images (attestations not counted), more than the 64 gipgee reads"
        )
    );
    assert_eq!(
        methods_and_targets(&server.requests()),
        vec!["GET /v2/multi/manifests/1"]
    );
    // One platform's image is still one entry.
    assert_eq!(too_many.image(&multi).unwrap().digest.as_str(), image);

    let (content, _) = repeated_index(MAX_INDEX_IMAGES);
    let server = Server::start(move |r| content.reply(r));
    let host = server.host();
    let client = anonymous_client(&host);
    let all = client.images(&reference(&host, "multi:1")).unwrap();
    assert_eq!(all.len(), MAX_INDEX_IMAGES);
}

#[test]
fn attestations_do_not_count_against_the_index_limit() {
    let (content, image) = Content::default().blob(&image_manifest(&[LAYER_A]));
    let mut entries: Vec<(&str, &str, bool)> = vec![(image.as_str(), "linux/amd64", false)];
    entries.extend((0..MAX_INDEX_IMAGES * 2).map(|_| (image.as_str(), "unknown/unknown", true)));
    let content = content.tag("multi:1", &index_manifest(&entries));
    let server = Server::start(move |r| content.reply(r));
    let host = server.host();
    let client = anonymous_client(&host);
    assert_eq!(
        client.images(&reference(&host, "multi:1")).unwrap().len(),
        1
    );
}

#[test]
fn no_matching_platform_lists_each_platform_once_and_not_endlessly() {
    let many: Vec<String> = (0..MAX_INDEX_IMAGES + 3)
        .map(|n| format!("linux/arch{n}"))
        .collect();
    let mut entries: Vec<(&str, &str, bool)> = vec![(LAYER_A, "linux/arm64", false); 3];
    entries.extend(many.iter().map(|p| (LAYER_A, p.as_str(), false)));
    let content = Content::default().tag("multi:1", &index_manifest(&entries));
    let server = Server::start(move |r| content.reply(r));
    let host = server.host();
    let client = anonymous_client(&host);
    let err = client.image(&reference(&host, "multi:1")).unwrap_err();
    let ErrorKind::NoMatchingPlatform { available, .. } = &err.kind else {
        panic!("{err:?}");
    };
    assert_eq!(available.len(), MAX_INDEX_IMAGES + 1);
    assert_eq!(available[0], "linux/arm64");
    assert_eq!(available[1], "linux/arch0");
    assert_eq!(available[MAX_INDEX_IMAGES], "4 more");
}

#[test]
fn debug_output_of_a_client_and_an_authorization_shows_no_secret() {
    let (tokens, _) = token_server(Some(basic("alice", "hunter2-config")));
    let registry = bearer_registry(
        Content::default().tag("app:1", &image_manifest(&[LAYER_A])),
        format!("{}/token", tokens.url()),
    );
    let host = registry.host();
    let client = client_with_password(&host, "hunter2-config");
    // A token in the cache, a scheme learnt: everything the client can hold.
    client.image(&reference(&host, "app:1")).unwrap();
    let debug = format!("{client:?}\n{client:#?}");
    for secret in ["hunter2", "tok-0"] {
        assert!(!debug.contains(secret), "`{secret}` in {debug}");
    }

    let header = basic("alice", "hunter2-config");
    for value in [header.clone(), "Bearer tok-0".to_string()] {
        let authorization = Authorization {
            header: Some(value.clone()),
            ..Authorization::default()
        };
        let debug = format!("{authorization:?}");
        let (scheme, secret) = value.split_once(' ').unwrap();
        assert!(!debug.contains(secret), "{debug}");
        assert!(debug.contains(&format!("{scheme} …")), "{debug}");
    }
}

#[test]
fn redirect_urls_in_errors_lose_their_query() {
    let closed = closed_address();
    let locations = [
        // Storage that is down: a transport error quoting the target.
        format!(
            "http://{closed}/bucket/blob?X-Amz-Signature=secret-sig&X-Amz-Credential=AKIA#frag-secret"
        ),
        // A target the HTTP library cannot parse.
        "http:///bucket/blob?X-Amz-Signature=secret-sig".to_string(),
        // User info is no better.
        format!("http://user:secret-pw@{closed}/bucket/blob"),
    ];
    for location in locations {
        let target = location.clone();
        let registry = Server::start(move |_| Reply::new(307).header("Location", &target));
        let host = registry.host();
        let err = manifest_error(&host, &format!("app@{LAYER_A}"));
        let message = format!("{err} {err:?}");
        assert!(
            matches!(err.kind, ErrorKind::Transport(_)),
            "{location}: {err:?}"
        );
        assert!(!message.contains("secret"), "{location}: {message}");
        assert!(!message.contains("AKIA"), "{location}: {message}");
        assert!(message.contains("/bucket/blob"), "{location}: {message}");
    }
    // The HTTP library may quote a URL it refuses in its own message.
    let url = "https://s3.example.com/bucket/blob?X-Amz-Signature=secret-sig";
    let client = client(fast_options(), TestCredentials::default());
    let err = client.transport_error(
        &reference("r.example.com", "app:1"),
        TransportError::Other(format!("bad uri: {url} is missing host")),
        "",
        url,
    );
    assert_eq!(
        err.kind,
        ErrorKind::Transport(
            "https://s3.example.com/bucket/blob?…: bad uri: https://s3.example.com/bucket/blob?… is missing host"
                .into()
        )
    );
}

#[test]
fn redirects_from_https_go_to_https_only() {
    let from = "https://r.example.com/v2/app/manifests/1";
    let err = redirect_target(
        from,
        "http://cdn.example.com/blob?X-Amz-Signature=secret-sig#x",
    )
    .unwrap_err();
    assert_eq!(err, "from https to http://cdn.example.com/blob?…");
    assert!(redirect_target(from, "HTTP://cdn.example.com/blob").is_err());
    assert!(redirect_target(from, "ftp://cdn.example.com/blob").is_err());
    assert_eq!(
        redirect_target(from, "HTTPS://cdn.example.com/blob").unwrap(),
        "HTTPS://cdn.example.com/blob"
    );
    assert_eq!(
        redirect_target(from, "//cdn.example.com/blob").unwrap(),
        "https://cdn.example.com/blob"
    );
    assert_eq!(
        redirect_target(from, "/v2/app/manifests/2").unwrap(),
        "https://r.example.com/v2/app/manifests/2"
    );
    // Plain http may go anywhere (it is already marked insecure).
    assert_eq!(
        redirect_target("http://r/v2/x", "https://cdn/x").unwrap(),
        "https://cdn/x"
    );
    assert_eq!(
        redirect_target("http://r/v2/x", "http://cdn/x").unwrap(),
        "http://cdn/x"
    );
    // As an error: a `Redirect`, naming the reference.
    let reference = reference("r.example.com", "app:1");
    let client = client(fast_options(), TestCredentials::default());
    let err = client.error(&reference, ErrorKind::Redirect(err));
    assert_eq!(
        err.to_string(),
        "registry `r.example.com`: cannot read `r.example.com/app:1`: redirect not followed: from https to http://cdn.example.com/blob?…"
    );
}

#[test]
fn urls_are_redacted_for_messages() {
    assert_eq!(
        redact_url("https://s3.example.com/b/k?X-Amz-Signature=s#f"),
        "https://s3.example.com/b/k?…"
    );
    assert_eq!(
        redact_url("https://cdn.example.com/b#token=s"),
        "https://cdn.example.com/b"
    );
    assert_eq!(
        redact_url("https://u:p@h.example.com:8443/x"),
        "https://h.example.com:8443/x"
    );
    assert_eq!(redact_url("https://h?x=1"), "https://h?…");
    assert_eq!(redact_url("http://[::1]:5000/v2/"), "http://[::1]:5000/v2/");
    assert_eq!(redact_url("not a url?x"), "not a url?…");
}

#[test]
fn a_bearer_token_is_not_forwarded_to_another_origin() {
    let (tokens, issued) = token_server(None);
    let body = image_manifest(&[LAYER_A]);
    let content = Content::default().tag("app:1", &body);
    let storage = storage_server(content.clone());
    let storage_url = storage.url();
    let realm = format!("{}/token", tokens.url());
    let registry = Server::start(move |r| {
        if !r
            .header("authorization")
            .is_some_and(|a| a.starts_with("Bearer tok-"))
        {
            return challenge(&format!(
                r#"Bearer realm="{realm}",service="s",scope="repository:app:pull""#
            ));
        }
        if r.method == "HEAD" {
            return content.reply(r);
        }
        Reply::new(307).header("Location", &format!("{storage_url}/storage{}", r.target))
    });
    let host = registry.host();
    let client = anonymous_client(&host);
    let app = reference(&host, "app:1");
    client.digest(&app).unwrap();
    let image = client.image(&app).unwrap();
    assert_eq!(image.digest, Digest::sha256(body.as_bytes()));
    assert_eq!(issued.load(Ordering::SeqCst), 1);

    let registry_get = registry
        .requests()
        .into_iter()
        .find(|r| r.method == "GET" && r.header("authorization").is_some())
        .expect("the registry's GET with the token");
    assert_eq!(registry_get.header("authorization"), Some("Bearer tok-0"));
    let stored = storage.requests();
    assert_eq!(methods_and_targets(&stored).len(), 1, "{stored:?}");
    assert_eq!(stored[0].header("authorization"), None);
}

#[test]
fn a_cached_token_the_registry_refuses_is_dropped_and_fetched_anew() {
    let (tokens, issued) = token_server(None);
    let realm = format!("{}/token", tokens.url());
    let content = Content::default()
        .tag("app:1", &image_manifest(&[LAYER_A]))
        .tag("app:2", &image_manifest(&[LAYER_B]))
        .tag("app:3", &image_manifest(&[LAYER_A, LAYER_B]));
    // `tok-0` is good for one request, then revoked; later tokens stay good.
    let revoked = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let registry = Server::start(move |r| {
        let accepted = match r.header("authorization") {
            Some("Bearer tok-0") => !revoked.swap(true, Ordering::SeqCst),
            Some(other) => other.starts_with("Bearer tok-"),
            None => false,
        };
        if accepted {
            return content.reply(r);
        }
        let error = if r.header("authorization").is_some() {
            r#",error="invalid_token""#
        } else {
            ""
        };
        challenge(&format!(
            r#"Bearer realm="{realm}",service="s",scope="repository:app:pull"{error}"#
        ))
    });
    let host = registry.host();
    let client = anonymous_client(&host);
    for tag in ["app:1", "app:2", "app:3"] {
        client.image(&reference(&host, tag)).unwrap();
    }
    assert_eq!(issued.load(Ordering::SeqCst), 2);
    let sent: Vec<String> = registry
        .requests()
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r.target,
                r.header("authorization").unwrap_or("anonymous")
            )
        })
        .collect();
    assert_eq!(
        sent,
        vec![
            "/v2/app/manifests/1 anonymous",
            "/v2/app/manifests/1 Bearer tok-0",
            // The cached token, refused: dropped, and a new one fetched.
            "/v2/app/manifests/2 Bearer tok-0",
            "/v2/app/manifests/2 Bearer tok-1",
            "/v2/app/manifests/3 Bearer tok-1",
        ]
    );
}

#[test]
fn the_accept_header_lists_every_media_type_the_model_parses() {
    assert_eq!(ACCEPT, manifest::MEDIA_TYPES.join(", "));
}

#[test]
fn errors_describe_the_registry_not_the_application() {
    let error = |kind| RegistryError::new("r.example.com", None, kind);
    assert_eq!(
        error(ErrorKind::Unauthorized { source: None }).to_string(),
        "registry `r.example.com`: authentication required, and no credentials are configured for `r.example.com`"
    );
    assert_eq!(
        error(ErrorKind::CredentialsWithheld {
            source: TEST_SOURCE.to_string()
        })
        .to_string(),
        "registry `r.example.com`: authentication required, but the registry's token server is plain http: the credentials from the variables `REG_USER` / `REG_PASSWORD` are not sent in clear text"
    );
}

#[test]
fn credentials_are_withheld_from_a_plain_http_realm_of_an_https_registry() {
    // The client decides per registry host: this one is not insecure, so the plain-http realm
    // its challenge names gets an anonymous token request.
    let client = client(
        fast_options(),
        TestCredentials::password("r.example.com", "s3cret"),
    );
    let reference = reference("r.example.com", "app:1");
    let (tokens, _) = token_server(Some(basic("alice", "s3cret")));
    let realm = format!("{}/token", tokens.url());
    let err = client
        .bearer(&reference, &realm, &None, "repository:app:pull")
        .unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::CredentialsWithheld {
            source: TEST_SOURCE.to_string()
        }
    );
    let sent = tokens.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].header("authorization"), None);
}
