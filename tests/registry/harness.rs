//! Real registries for the registry client's tests: distribution (`docker-registry`) on a
//! free loopback port with its storage in a temp dir — anonymous, htpasswd (Basic) or token
//! (Bearer, with `token_server.py`), optionally TLS with a private CA — stopped by PID on
//! drop; images written as OCI layouts by hand and pushed with `skopeo copy`.
//!
//! Tools missing: the test prints what it skipped, unless GIPGEE_REQUIRE_TOOLS is set
//! (`scripts/test.sh` sets it), which makes it fail.

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gipgee::registry::Digest;

const TOOLS: &[&str] = &[
    "docker-registry",
    "skopeo",
    "openssl",
    "htpasswd",
    "python3",
    "tar",
    "gzip",
];

/// Whether every tool the registry tests use is on PATH; prints what is skipped otherwise.
pub fn tools_available(test: &str) -> bool {
    crate::support::tools::tools_available(test, TOOLS)
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// How the registry authenticates.
pub enum Auth {
    Anonymous,
    /// htpasswd with one user.
    Basic {
        user: String,
        password: String,
    },
    /// `auth: token` with a realm (the token server) and the certificate its tokens carry.
    Token {
        realm: String,
        cert: PathBuf,
    },
}

/// A running `docker-registry serve`; killed by PID when dropped.
pub struct Registry {
    child: Child,
    /// `127.0.0.1:port`.
    pub host: String,
    log: PathBuf,
}

impl Registry {
    /// Starts a registry with storage and config under `dir`. With `tls` (certificate and key
    /// files), it serves https.
    pub fn start(dir: &Path, auth: Auth, tls: Option<(&Path, &Path)>) -> Registry {
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let storage = dir.join("registry-data");
        let mut config = format!(
            "version: 0.1\n\
             log: {{level: error, accesslog: {{disabled: true}}}}\n\
             storage: {{filesystem: {{rootdirectory: {}}}, delete: {{enabled: true}}}}\n\
             http:\n  addr: {host}\n",
            storage.display()
        );
        if let Some((cert, key)) = tls {
            config.push_str(&format!(
                "  tls: {{certificate: {}, key: {}}}\n",
                cert.display(),
                key.display()
            ));
        }
        match auth {
            Auth::Anonymous => {}
            Auth::Basic { user, password } => {
                let htpasswd = dir.join("htpasswd");
                let line = run(Command::new("htpasswd").args(["-Bbn", &user, &password]));
                std::fs::write(&htpasswd, line).expect("write htpasswd");
                config.push_str(&format!(
                    "auth: {{htpasswd: {{realm: gipgee-test, path: {}}}}}\n",
                    htpasswd.display()
                ));
            }
            Auth::Token { realm, cert } => config.push_str(&format!(
                "auth: {{token: {{realm: \"{realm}\", service: test-registry, issuer: test-issuer, rootcertbundle: {}}}}}\n",
                cert.display()
            )),
        }
        let config_path = dir.join("registry.yml");
        std::fs::write(&config_path, config).expect("write registry.yml");
        let log = dir.join("registry.log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("registry log"))
            .spawn()
            .expect("docker-registry starts");
        let mut registry = Registry { child, host, log };
        registry.wait_ready();
        registry
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "docker-registry exited ({status}):\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            if TcpStream::connect(&self.host).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("docker-registry on {} did not start", self.host);
    }

    /// Stops the registry now (to test an unreachable registry).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `token_server.py`; killed by PID when dropped.
pub struct TokenServer {
    child: Child,
    pub url: String,
    log: PathBuf,
}

impl TokenServer {
    pub fn start(dir: &Path, key: &Path, cert: &Path, user: &str, password: &str) -> TokenServer {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/registry/token_server.py");
        let log = dir.join("token-requests.log");
        std::fs::write(&log, "").expect("token log");
        let mut child = Command::new("python3")
            .arg(script)
            .arg("--key")
            .arg(key)
            .arg("--cert")
            .arg(cert)
            .args([
                "--issuer",
                "test-issuer",
                "--user",
                user,
                "--password",
                password,
            ])
            .arg("--log")
            .arg(&log)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 starts");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("token server prints its port");
        let port: u16 = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("token server printed {line:?}, not a port"));
        TokenServer {
            child,
            url: format!("http://127.0.0.1:{port}/token"),
            log,
        }
    }

    /// One line per token request: `<user or -> <scopes>`.
    pub fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The key and self-signed certificate that sign tokens (RS256 needs RSA).
pub fn token_signing_key(dir: &Path) -> (PathBuf, PathBuf) {
    let (key, cert) = (dir.join("token.key"), dir.join("token.pem"));
    run(Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=gipgee-test-token"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert));
    (key, cert)
}

/// A private CA and a server certificate for 127.0.0.1 signed by it:
/// (ca.pem, server.pem, server.key).
pub fn private_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = dir.join("ca.key");
    let ca = dir.join("ca.pem");
    let key = dir.join("server.key");
    let csr = dir.join("server.csr");
    let cert = dir.join("server.pem");
    let ext = dir.join("server.ext");
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    run(Command::new("openssl")
        .args(["req", "-x509", "-days", "2", "-subj", "/CN=gipgee test CA"])
        .args(ec)
        .arg("-keyout")
        .arg(&ca_key)
        .arg("-out")
        .arg(&ca));
    run(Command::new("openssl")
        .args(["req", "-subj", "/CN=127.0.0.1"])
        .args(ec)
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&csr));
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write ext");
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
        .arg("-in")
        .arg(&csr)
        .arg("-CA")
        .arg(&ca)
        .arg("-CAkey")
        .arg(&ca_key)
        .arg("-extfile")
        .arg(&ext)
        .arg("-out")
        .arg(&cert));
    (ca, cert, key)
}

/// A descriptor written into an OCI layout.
#[derive(Debug, Clone)]
pub struct Blob {
    pub digest: Digest,
    pub size: usize,
}

/// An OCI image layout written by hand: reproducible, and quick to push with skopeo.
pub struct Layout {
    pub dir: PathBuf,
    refs: Vec<String>,
}

impl Layout {
    pub fn new(dir: &Path) -> Layout {
        std::fs::create_dir_all(dir.join("blobs/sha256")).expect("layout dir");
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)
            .expect("oci-layout");
        Layout {
            dir: dir.to_path_buf(),
            refs: Vec::new(),
        }
    }

    pub fn blob(&self, bytes: &[u8]) -> Blob {
        let digest = Digest::sha256(bytes);
        let hex = digest.as_str().trim_start_matches("sha256:").to_string();
        std::fs::write(self.dir.join("blobs/sha256").join(hex), bytes).expect("write blob");
        Blob {
            digest,
            size: bytes.len(),
        }
    }

    /// A gzipped tar layer holding `/etc/<name>` with `content`, made reproducibly; returns
    /// the layer blob and its diff id.
    pub fn layer(&self, name: &str, content: &str) -> (Blob, Digest) {
        let work = tempfile::tempdir().expect("tempdir");
        let root = work.path().join("root");
        std::fs::create_dir_all(root.join("etc")).expect("rootfs");
        std::fs::write(root.join("etc").join(name), content).expect("rootfs file");
        let tar = work.path().join("layer.tar");
        run(Command::new("tar")
            .args([
                "--sort=name",
                "--mtime=@0",
                "--owner=0",
                "--group=0",
                "--numeric-owner",
            ])
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg("."));
        let uncompressed = std::fs::read(&tar).expect("read tar");
        let mut gzip = Command::new("gzip")
            .args(["-n", "-c"])
            .arg(&tar)
            .stdout(Stdio::piped())
            .spawn()
            .expect("gzip starts");
        let mut compressed = Vec::new();
        gzip.stdout
            .take()
            .expect("gzip stdout")
            .read_to_end(&mut compressed)
            .expect("read gzip");
        assert!(gzip.wait().expect("gzip").success());
        (self.blob(&compressed), Digest::sha256(&uncompressed))
    }

    /// An image manifest with the given layers, for `os/arch`.
    pub fn image(&self, layers: &[(Blob, Digest)], architecture: &str) -> Blob {
        self.annotated_image(layers, architecture, "{}")
    }

    /// [`Layout::image`] with manifest annotations (raw JSON), e.g. the base-image ones
    /// buildah writes.
    pub fn annotated_image(
        &self,
        layers: &[(Blob, Digest)],
        architecture: &str,
        annotations: &str,
    ) -> Blob {
        let diff_ids: Vec<String> = layers.iter().map(|(_, d)| format!("\"{d}\"")).collect();
        let config = self.blob(
            format!(
                r#"{{"architecture":"{architecture}","os":"linux","rootfs":{{"type":"layers","diff_ids":[{}]}},"config":{{}}}}"#,
                diff_ids.join(",")
            )
            .as_bytes(),
        );
        let layer_json: Vec<String> = layers
            .iter()
            .map(|(b, _)| {
                format!(
                    r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":{}}}"#,
                    b.digest, b.size
                )
            })
            .collect();
        self.blob(
            format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{}],"annotations":{annotations}}}"#,
                config.digest,
                config.size,
                layer_json.join(",")
            )
            .as_bytes(),
        )
    }

    /// An OCI index over `(manifest, platform json)` entries; `annotations` as raw JSON.
    pub fn index(&self, entries: &[(&Blob, &str, &str)]) -> Blob {
        let manifests: Vec<String> = entries
            .iter()
            .map(|(blob, platform, annotations)| {
                format!(
                    r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":{},"platform":{platform},"annotations":{annotations}}}"#,
                    blob.digest, blob.size
                )
            })
            .collect();
        self.blob(
            format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
                manifests.join(",")
            )
            .as_bytes(),
        )
    }

    /// Names `blob` (a manifest or an index) `name` in the layout's index.json.
    pub fn tag(&mut self, name: &str, blob: &Blob, media_type: &str) {
        self.refs.push(format!(
            r#"{{"mediaType":"{media_type}","digest":"{}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"{name}"}}}}"#,
            blob.digest, blob.size
        ));
        std::fs::write(
            self.dir.join("index.json"),
            format!(
                r#"{{"schemaVersion":2,"manifests":[{}]}}"#,
                self.refs.join(",")
            ),
        )
        .expect("index.json");
    }

    /// `skopeo copy [--all] oci:<layout>:<name> docker://<dest>`, with credentials if given;
    /// `ca` is a directory holding the registry's CA (https registries), else TLS is off.
    pub fn push(&self, name: &str, dest: &str, creds: Option<(&str, &str)>, ca: Option<&Path>) {
        let mut cmd = Command::new("skopeo");
        cmd.args(["copy", "--all", "--quiet"]);
        match ca {
            Some(dir) => cmd.arg("--dest-cert-dir").arg(dir),
            None => cmd.arg("--dest-tls-verify=false"),
        };
        if let Some((user, password)) = creds {
            cmd.arg("--dest-creds").arg(format!("{user}:{password}"));
        }
        // Keep skopeo away from the machine's registries.conf / auth files.
        cmd.env("REGISTRY_AUTH_FILE", self.dir.join("auth.json"));
        cmd.arg(format!("oci:{}:{name}", self.dir.display()))
            .arg(format!("docker://{dest}"));
        run(&mut cmd);
    }
}
