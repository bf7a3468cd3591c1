//! The one registry fixture of every suite: distribution (`docker-registry`) on a free
//! 127.0.0.1 port with its storage, configuration and log in a folder the test owns —
//! anonymous, htpasswd (Basic) or token (Bearer, with [`TokenServer`]), plain http or TLS with
//! a private CA ([`private_ca`]).
//!
//! ```ignore
//! let registry = Registry::builder(dir.path()).start(); // anonymous, http
//! let release = Registry::builder(dir.path())
//!     .name("registry-release") // several registries in one folder
//!     .auth(Auth::Basic { user: "u".into(), password: "p".into() })
//!     .start();
//! let tls = Registry::builder(dir.path()).tls(&cert, &key).start();
//! ```
//!
//! A registry is stopped by PID when dropped (also on a panic), and runs under
//! `setpriv --pdeathsig KILL`, so it also dies with the test thread that started it if the
//! test process is killed. A registry that loses its port to another process (the port is
//! free when picked, not reserved) is started again on another one.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::tools;

/// The tools a registry needs: the server, `setpriv` (stopped with the test) and `htpasswd`
/// (Basic auth).
pub const SERVER_TOOLS: &[&str] = &["docker-registry", "setpriv", "htpasswd"];

/// What the registry client's suites use besides [`SERVER_TOOLS`]: the token server
/// (`python3`), certificates (`openssl`) and OCI layouts pushed with skopeo
/// ([`super::oci::TOOLS`]).
const SUITE_TOOLS: &[&str] = &["python3", "openssl"];

/// Whether the registry, the token server, certificates and OCI layouts can be made; prints
/// what is skipped otherwise (or fails with GIPGEE_REQUIRE_TOOLS).
#[track_caller]
pub fn tools_available(test: &str) -> bool {
    let all: Vec<&str> = [SERVER_TOOLS, SUITE_TOOLS, super::oci::TOOLS].concat();
    tools::tools_available(test, &all)
}

/// A free loopback port, to be bound at once: it is not reserved.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// How the registry authenticates.
#[derive(Debug, Clone)]
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

/// How to start a [`Registry`]: [`Registry::builder`].
#[must_use = "a builder does nothing until `start`"]
pub struct Builder<'a> {
    dir: &'a Path,
    name: String,
    auth: Auth,
    tls: Option<(&'a Path, &'a Path)>,
    access_log: bool,
}

impl<'a> Builder<'a> {
    /// Names its files in the folder: `<name>.yml`, `<name>.log`, `<name>-data/`, and
    /// `<name>.htpasswd`. `registry` by default; two registries in one folder need two names.
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    /// Anonymous by default.
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Logs every request (distribution's access log, into the registry's log file): for
    /// tests counting requests with [`Registry::requests`].
    pub fn access_log(mut self) -> Self {
        self.access_log = true;
        self
    }

    /// Serves https with this certificate and key (e.g. from [`private_ca`]).
    pub fn tls(mut self, cert: &'a Path, key: &'a Path) -> Self {
        self.tls = Some((cert, key));
        self
    }

    /// Starts the registry and waits until it answers on `/v2/`; panics (at the caller) with
    /// its log when it does not.
    #[track_caller]
    pub fn start(self) -> Registry {
        let Builder {
            dir,
            name,
            auth,
            tls,
            access_log,
        } = self;
        let storage = dir.join(format!("{name}-data"));
        let config_path = dir.join(format!("{name}.yml"));
        let log = dir.join(format!("{name}.log"));
        let auth_config = match auth {
            Auth::Anonymous => String::new(),
            Auth::Basic { user, password } => {
                let htpasswd = dir.join(format!("{name}.htpasswd"));
                let line = super::run(Command::new("htpasswd").args(["-Bbn", &user, &password]));
                std::fs::write(&htpasswd, line).expect("write htpasswd");
                format!(
                    "auth: {{htpasswd: {{realm: gipgee-test, path: {}}}}}\n",
                    htpasswd.display()
                )
            }
            Auth::Token { realm, cert } => format!(
                "auth: {{token: {{realm: \"{realm}\", service: test-registry, issuer: test-issuer, rootcertbundle: {}}}}}\n",
                cert.display()
            ),
        };
        for _ in 0..10 {
            let port = free_port();
            let host = format!("127.0.0.1:{port}");
            let mut config = format!(
                "version: 0.1\n\
                 log: {{level: warn, accesslog: {{disabled: {}}}}}\n\
                 storage: {{filesystem: {{rootdirectory: {}}}, delete: {{enabled: true}}}}\n\
                 http:\n  addr: {host}\n",
                !access_log,
                storage.display()
            );
            if let Some((cert, key)) = tls {
                config.push_str(&format!(
                    "  tls: {{certificate: {}, key: {}}}\n",
                    cert.display(),
                    key.display()
                ));
            }
            config.push_str(&auth_config);
            std::fs::write(&config_path, config).expect("write the registry config");
            let log_file = std::fs::File::create(&log).expect("registry log");
            let child = Command::new("setpriv")
                .args(["--pdeathsig", "KILL", "docker-registry", "serve"])
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().expect("registry log"))
                .stderr(log_file)
                .spawn()
                .expect("setpriv docker-registry starts");
            let mut registry = Registry {
                host,
                name: name.clone(),
                tls: tls.is_some(),
                child,
                log: log.clone(),
            };
            if registry.wait_ready(port) {
                return registry;
            }
            // Gone at once: most likely another process took the port. Stopped if it runs.
        }
        panic!(
            "registry `{name}` did not start on any of 10 ports; its log ({}):\n{}",
            log.display(),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
}

/// A running `docker-registry serve`; stopped by PID when dropped.
pub struct Registry {
    /// `127.0.0.1:<port>`.
    pub host: String,
    name: String,
    tls: bool,
    child: Child,
    log: PathBuf,
}

impl Registry {
    /// An anonymous http registry named `registry` with its files in `dir`, unless the
    /// builder says otherwise.
    pub fn builder(dir: &Path) -> Builder<'_> {
        Builder {
            dir,
            name: "registry".into(),
            auth: Auth::Anonymous,
            tls: None,
            access_log: false,
        }
    }

    /// `http://<host>` or `https://<host>`.
    pub fn url(&self) -> String {
        match self.tls {
            true => format!("https://{}", self.host),
            false => format!("http://{}", self.host),
        }
    }

    /// What the registry logged (warnings and errors).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The requests of the access log so far (see [`Builder::access_log`]), as
    /// `<method> <path> <status>`, in the order the registry answered them.
    pub fn requests(&self) -> Vec<String> {
        // Combined log format: `<ip> - - [<date>] "<method> <path> HTTP/1.1" <status> …`.
        self.log()
            .lines()
            .filter_map(|line| {
                let (_, request) = line.split_once("] \"")?;
                let (request, rest) = request.split_once('"')?;
                let mut words = request.split(' ');
                let (method, path) = (words.next()?, words.next()?);
                let status = rest.split_whitespace().next()?;
                Some(format!("{method} {path} {status}"))
            })
            .collect()
    }

    /// Stops the registry now (by PID): a registry that is down.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether it answers on `/v2/` (an https registry answers plain http with 400) within
    /// 15 s; `false` when it exits first.
    #[track_caller]
    fn wait_ready(&mut self, port: u16) -> bool {
        let deadline = Instant::now() + Duration::from_secs(15);
        let ready: &[u16] = match self.tls {
            true => &[400],
            false => &[200, 401],
        };
        while Instant::now() < deadline {
            if http_status(port, "/v2/").is_some_and(|status| ready.contains(&status)) {
                return true;
            }
            if self.child.try_wait().ok().flatten().is_some() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop();
        panic!(
            "registry `{}` on {} did not answer within 15 s; its log:\n{}",
            self.name,
            self.host,
            self.log()
        );
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The HTTP status of a plain-http GET on loopback, without an HTTP client library.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// `token_server.py` (next to this file), which issues RS256 tokens for one user; stopped by
/// PID when dropped.
pub struct TokenServer {
    child: Child,
    /// The realm: `http://127.0.0.1:<port>/token`.
    pub url: String,
    log: PathBuf,
}

impl TokenServer {
    /// Starts the server with the signing `key` and `cert` (from [`token_signing_key`]); its
    /// request log lies in `dir`.
    #[track_caller]
    pub fn start(dir: &Path, key: &Path, cert: &Path, user: &str, password: &str) -> TokenServer {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/token_server.py");
        let log = dir.join("token-requests.log");
        std::fs::write(&log, "").expect("token log");
        let mut cmd = Command::new("setpriv");
        cmd.args(["--pdeathsig", "KILL", "python3"])
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
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(err) => panic!("`{}` could not start: {err}", super::describe(&cmd)),
        };
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped stdout");
        let _ = BufReader::new(stdout).read_line(&mut line);
        let Ok(port) = line.trim().parse::<u16>() else {
            let _ = child.kill();
            let status = child.wait();
            panic!(
                "`{}` printed {line:?}, not its port (status {status:?}; its stderr is above)",
                super::describe(&cmd)
            );
        };
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

/// The key and self-signed certificate that sign tokens (RS256 needs RSA), in `dir`.
#[track_caller]
pub fn token_signing_key(dir: &Path) -> (PathBuf, PathBuf) {
    let (key, cert) = (dir.join("token.key"), dir.join("token.pem"));
    super::run(
        Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=gipgee-test-token"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert),
    );
    (key, cert)
}

/// A private CA and a server certificate for 127.0.0.1 signed by it, in `dir`:
/// (ca.pem, server.pem, server.key).
#[track_caller]
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
    super::run(
        Command::new("openssl")
            .args(["req", "-x509", "-days", "2", "-subj", "/CN=gipgee test CA"])
            .args(ec)
            .arg("-keyout")
            .arg(&ca_key)
            .arg("-out")
            .arg(&ca),
    );
    super::run(
        Command::new("openssl")
            .args(["req", "-subj", "/CN=127.0.0.1"])
            .args(ec)
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&csr),
    );
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write ext");
    super::run(
        Command::new("openssl")
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
            .arg(&cert),
    );
    (ca, cert, key)
}

/// A host that accepts connections and never answers: a registry hung behind a load
/// balancer. Connections are held until it is dropped.
pub struct BlackHole {
    /// `127.0.0.1:<port>`.
    pub host: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BlackHole {
    pub fn start() -> BlackHole {
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let host = listener.local_addr().expect("local address").to_string();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut held = Vec::new();
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    held.extend(stream.ok());
                }
            })
        };
        BlackHole {
            host,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(&self.host);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
