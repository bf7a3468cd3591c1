//! A canned-response HTTP/1.1 server on 127.0.0.1 for the client's unit tests (and those of
//! its callers): every request is recorded and answered by a closure, one request per
//! connection (`Connection: close`); and manifests a [`Content`] serves like a registry.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use std::collections::BTreeMap;

use crate::oci::{Digest, manifest};

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub headers: Vec<(String, String)>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Send no Content-Length: the body ends when the connection closes.
    pub close_delimited: bool,
    /// Announce more body than is sent, then close: a peer that hangs up mid-body.
    pub cut_short: bool,
}

impl Reply {
    pub fn new(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            close_delimited: false,
            cut_short: false,
        }
    }

    pub fn cut_short(mut self) -> Reply {
        self.cut_short = true;
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Reply {
        self.body = body.into();
        self
    }

    pub fn close_delimited(mut self) -> Reply {
        self.close_delimited = true;
        self
    }
}

pub const LAYER_A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
pub const LAYER_B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
pub const CONFIG: &str = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

pub fn image_manifest(layers: &[&str]) -> String {
    let layers: Vec<String> = layers
        .iter()
        .map(|d| {
            format!(
                r#"{{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "{d}", "size": 10}}"#
            )
        })
        .collect();
    format!(
        r#"{{"schemaVersion": 2, "mediaType": "{}", "config": {{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "{CONFIG}", "size": 5}}, "layers": [{}]}}"#,
        manifest::OCI_MANIFEST,
        layers.join(", ")
    )
}

pub fn index_manifest(entries: &[(&str, &str, bool)]) -> String {
    let entries: Vec<String> = entries
        .iter()
        .map(|(digest, platform, attestation)| {
            let (os, arch) = platform.split_once('/').unwrap();
            let annotations = if *attestation {
                r#", "annotations": {"vnd.docker.reference.type": "attestation-manifest"}"#
            } else {
                ""
            };
            format!(
                r#"{{"mediaType": "{}", "digest": "{digest}", "size": 100, "platform": {{"os": "{os}", "architecture": "{arch}"}}{annotations}}}"#,
                manifest::OCI_MANIFEST
            )
        })
        .collect();
    format!(
        r#"{{"schemaVersion": 2, "mediaType": "{}", "manifests": [{}]}}"#,
        manifest::OCI_INDEX,
        entries.join(", ")
    )
}

/// A repository's content: tag → manifest body, and every body by its digest.
#[derive(Default, Clone)]
pub struct Content {
    tags: BTreeMap<String, String>,
    blobs: BTreeMap<String, String>,
}

impl Content {
    pub fn tag(mut self, path: &str, body: &str) -> Content {
        let digest = Digest::sha256(body.as_bytes()).to_string();
        self.tags.insert(path.to_string(), body.to_string());
        self.blobs.insert(digest, body.to_string());
        self
    }

    pub fn blob(mut self, body: &str) -> (Content, String) {
        let digest = Digest::sha256(body.as_bytes()).to_string();
        self.blobs.insert(digest.clone(), body.to_string());
        (self, digest)
    }

    /// Answers `/v2/<repo>/manifests/<tag|digest>` like a registry: HEAD and GET, with
    /// Docker-Content-Digest and the body's media type.
    pub fn reply(&self, request: &Recorded) -> Reply {
        let Some((repo, reference)) = request
            .target
            .strip_prefix("/v2/")
            .and_then(|rest| rest.split_once("/manifests/"))
        else {
            return Reply::new(404);
        };
        let key = format!("{repo}:{reference}");
        let body = self.tags.get(&key).or_else(|| self.blobs.get(reference));
        match body {
            Some(body) => {
                let media_type =
                    serde_json::from_str::<serde_json::Value>(body).unwrap()["mediaType"]
                        .as_str()
                        .unwrap()
                        .to_string();
                Reply::new(200)
                    .header("Content-Type", &media_type)
                    .header(
                        "Docker-Content-Digest",
                        Digest::sha256(body.as_bytes()).as_str(),
                    )
                    .body(body.as_bytes())
            }
            None => Reply::new(404).body(
                r#"{"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}"#,
            ),
        }
    }
}

type Handler = dyn Fn(&Recorded) -> Reply + Send + Sync;

pub struct Server {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    pub fn start(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let thread = {
            let requests = requests.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let requests = requests.clone();
                    let handler = handler.clone();
                    std::thread::spawn(move || serve(stream, &requests, &*handler));
                }
            })
        };
        Server {
            addr,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:port`, the registry host of references to this server.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(stream: TcpStream, requests: &Mutex<Vec<Recorded>>, handler: &Handler) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 {
            break;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let request = Recorded {
        method,
        target,
        headers,
    };
    requests.lock().unwrap().push(request.clone());
    let reply = handler(&request);
    let mut out = stream;
    let mut head = format!("HTTP/1.1 {} Canned\r\nConnection: close\r\n", reply.status);
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !reply.close_delimited {
        let announced = reply.body.len() + if reply.cut_short { 1000 } else { 0 };
        head.push_str(&format!("Content-Length: {announced}\r\n"));
    }
    head.push_str("\r\n");
    let _ = out.write_all(head.as_bytes());
    if request.method != "HEAD" {
        let _ = out.write_all(&reply.body);
    }
    let _ = out.flush();
}

/// A token server and the registry that checks its tokens, like distribution's token auth:
/// a token `tok-<n>` grants the scopes its request asked for (at most `grant_limit` of them,
/// as a server granting one scope per token would), and the registry serves a repository
/// only to a token granting its `pull` scope.
pub struct ScopedTokens {
    pub server: Server,
    /// The scopes each token request asked for, in order; token `tok-<n>` is entry `n`.
    asked: Arc<Mutex<Vec<Vec<String>>>>,
    grant_limit: usize,
}

impl ScopedTokens {
    /// A token server answering a request for more than `batch_status.0` scopes with the
    /// status `batch_status.1` (a server that takes one scope per request), if given.
    pub fn start(grant_limit: usize, batch_status: Option<(usize, u16)>) -> ScopedTokens {
        let asked: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
        let server = {
            let asked = asked.clone();
            Server::start(move |r| {
                let scopes = query_values(&r.target, "scope");
                if let Some((most, status)) = batch_status
                    && scopes.len() > most
                {
                    return Reply::new(status).body(r#"{"details": "one scope only"}"#);
                }
                let mut asked = asked.lock().unwrap();
                asked.push(scopes);
                Reply::new(200)
                    .header("Content-Type", "application/json")
                    .body(format!(
                        r#"{{"token": "tok-{}", "expires_in": 300}}"#,
                        asked.len() - 1
                    ))
            })
        };
        ScopedTokens {
            server,
            asked,
            grant_limit,
        }
    }

    pub fn realm(&self) -> String {
        format!("{}/token", self.server.url())
    }

    /// The scopes of every token issued, in order.
    pub fn asked(&self) -> Vec<Vec<String>> {
        self.asked.lock().unwrap().clone()
    }

    /// A registry serving `content` to tokens of this server that grant the repository,
    /// except the repositories in `private` (no token grants them).
    pub fn registry(&self, content: Content, private: &[&str]) -> Server {
        let asked = self.asked.clone();
        let grant_limit = self.grant_limit;
        let realm = self.realm();
        let private: Vec<String> = private.iter().map(|p| p.to_string()).collect();
        Server::start(move |r| {
            let repo = r
                .target
                .strip_prefix("/v2/")
                .and_then(|t| t.split_once("/manifests/"))
                .map_or("", |(repo, _)| repo);
            let scope = format!("repository:{repo}:pull");
            let token = r
                .header("authorization")
                .and_then(|a| a.strip_prefix("Bearer tok-"))
                .and_then(|n| n.parse::<usize>().ok());
            let granted = token.is_some_and(|n| {
                asked
                    .lock()
                    .unwrap()
                    .get(n)
                    .is_some_and(|scopes| scopes.iter().take(grant_limit).any(|s| *s == scope))
            }) && !private.iter().any(|p| p == repo);
            if granted {
                return content.reply(r);
            }
            let error = if token.is_some() {
                r#","error="insufficient_scope""#
            } else {
                ""
            };
            Reply::new(401).header(
                "WWW-Authenticate",
                &format!(
                    r#"Bearer realm="{realm}",service="test-registry",scope="{scope}"{error}"#
                ),
            )
        })
    }
}

/// Every value of the query parameter `name` in a request target, percent-decoded.
fn query_values(target: &str, name: &str) -> Vec<String> {
    let query = target.split_once('?').map_or("", |(_, q)| q);
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(key, _)| *key == name)
        .map(|(_, value)| percent_decode(value))
        .collect()
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1..i + 3)) {
            (b'%', Some(hex)) => {
                let hex = std::str::from_utf8(hex).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}
