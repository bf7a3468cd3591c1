//! HTTP for the registry client: one ureq agent (rustls, so the binary stays static), TLS
//! roots, timeouts, bounded body reads, and retries with backoff on 429 / 5xx / connection
//! failures that honour `Retry-After`.
//!
//! Two bounds keep one bad host from eating a CI job's time: a deadline for the whole run
//! (no request outlives it, no retry waits past it), and a circuit breaker per origin: after
//! a request to an origin timed out, or could not connect even after its retries, every
//! further request there fails at once, saying why, instead of waiting the full timeout
//! again for every reference.
//!
//! This layer knows nothing about registries or credentials: it sends what it is given to
//! the URL it is given, once per attempt, and never follows redirects — the client above
//! decides per hop whether a redirect target may see the `Authorization` header.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ureq::tls::{Certificate, RootCerts, TlsConfig};

use super::error::ConfigError;

/// How often and how patiently to retry a request that failed for a reason that may pass
/// (429, 500, 502, 503, 504, a refused or timed-out connection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in total, the first included (1 = no retry).
    pub attempts: u32,
    /// Delay before the first retry; doubled for each further one.
    pub base_delay: Duration,
    /// Upper bound of any delay, `Retry-After` included: a registry asking for an hour's
    /// pause gets an error after the last attempt, not a job that hangs for an hour.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The pause before retry number `retry` (1-based): `Retry-After` when the server sent
    /// one, else exponential backoff; never more than `max_delay`.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let backoff = self
            .base_delay
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16));
        retry_after.unwrap_or(backoff).min(self.max_delay)
    }
}

/// Timeouts and retries of the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportOptions {
    /// Time to establish a connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// Time for one whole request, from connecting to the last body byte.
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    pub user_agent: String,
}

impl Default for TransportOptions {
    fn default() -> Self {
        TransportOptions {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            user_agent: concat!("gipgee/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
        }
    }
}

/// A response with its body read (up to the limit).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// How many attempts it took (more than 1 after retries).
    pub attempts: u32,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn all_headers<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why no response came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// Could not connect (refused, unresolvable); retried, then the origin's breaker opens.
    Connect(String),
    /// A timeout; not retried (it would cost the whole timeout again), the origin's breaker
    /// opens.
    Timeout(String),
    /// The peer closed or reset the connection before the whole response arrived; retried.
    Closed(String),
    /// Not sent: an earlier request to this origin timed out or could not connect.
    BreakerOpen { origin: String, cause: String },
    /// Not sent, or cut short: the run's deadline was reached.
    Deadline,
    /// The TLS handshake failed (unknown CA, wrong host name); not retried.
    Tls(String),
    /// The body is larger than allowed; not retried.
    TooLarge { limit: u64 },
    /// Anything else (malformed HTTP, bad URL); not retried.
    Other(String),
}

impl TransportError {
    fn retryable(&self) -> bool {
        matches!(self, TransportError::Connect(_) | TransportError::Closed(_))
    }

    /// Whether the origin is taken for unreachable for the rest of the run.
    fn opens_breaker(&self) -> bool {
        matches!(
            self,
            TransportError::Connect(_) | TransportError::Timeout(_)
        )
    }
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransportError::Connect(m) => write!(f, "cannot connect: {m}"),
            TransportError::Timeout(m) => write!(f, "timed out: {m}"),
            TransportError::Closed(m) => write!(
                f,
                "the connection was closed before the whole response arrived: {m}"
            ),
            TransportError::BreakerOpen { origin, cause } => write!(
                f,
                "not tried: an earlier request to {origin} in this run failed ({cause}), so gipgee does not wait for it again"
            ),
            TransportError::Deadline => f.write_str("the run's deadline was reached"),
            TransportError::Tls(m) => write!(f, "TLS failed: {m}"),
            TransportError::TooLarge { limit } => {
                write!(f, "the response is larger than the limit of {limit} bytes")
            }
            TransportError::Other(m) => f.write_str(m),
        }
    }
}

/// Error responses are read only this far, for the registry's error message.
const ERROR_BODY_LIMIT: u64 = 64 * 1024;

/// The HTTP agent, shared by all threads of a run (ureq pools connections per host).
#[derive(Debug)]
pub struct Transport {
    agent: ureq::Agent,
    retry: RetryPolicy,
    request_timeout: Duration,
    /// No request is sent, and none runs, past this instant.
    deadline: Option<Instant>,
    /// Origin (`scheme://host:port`) → why it is taken for unreachable.
    broken: Mutex<HashMap<String, String>>,
    requests: AtomicU64,
}

impl Transport {
    pub fn new(
        options: &TransportOptions,
        roots: Vec<Certificate<'static>>,
        deadline: Option<Instant>,
    ) -> Transport {
        let tls = TlsConfig::builder()
            .root_certs(RootCerts::from(roots))
            .build();
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // Redirects are followed by the client, hop by hop, so it can drop credentials
            // on the way to another host.
            .max_redirects(0)
            // Keep a connection per thread sharing the client alive: with ureq's default (3 per
            // host) 8 parallel workers reopened connections (and TLS sessions) all the time.
            .max_idle_connections(64)
            .max_idle_connections_per_host(16)
            .timeout_connect(Some(options.connect_timeout))
            .timeout_global(Some(options.request_timeout))
            .user_agent(options.user_agent.as_str())
            .tls_config(tls)
            .build();
        Transport {
            agent: ureq::Agent::new_with_config(config),
            retry: options.retry.clone(),
            request_timeout: options.request_timeout,
            deadline,
            broken: Mutex::new(HashMap::new()),
            requests: AtomicU64::new(0),
        }
    }

    /// Whether the run's deadline has passed.
    pub fn deadline_reached(&self) -> bool {
        self.remaining().is_none()
    }

    /// Time left until the deadline (`Duration::MAX` without one), `None` once it passed.
    fn remaining(&self) -> Option<Duration> {
        match self.deadline {
            None => Some(Duration::MAX),
            Some(deadline) => deadline
                .checked_duration_since(Instant::now())
                .filter(|left| !left.is_zero()),
        }
    }

    fn breaker(&self, origin: &str) -> Option<String> {
        let broken = self.broken.lock().unwrap_or_else(|e| e.into_inner());
        broken.get(origin).cloned()
    }

    fn open_breaker(&self, origin: &str, cause: &TransportError) {
        let mut broken = self.broken.lock().unwrap_or_else(|e| e.into_inner());
        broken
            .entry(origin.to_string())
            .or_insert_with(|| cause.to_string());
    }

    /// HTTP requests sent so far, retries included.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Sends the request, retrying per the policy, within the deadline and unless the
    /// origin's breaker is open. A 429 / 5xx that persists comes back as the last response
    /// (with `attempts`), so the caller can word the error.
    pub fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body_limit: u64,
    ) -> Result<Response, TransportError> {
        let origin = super::origin(url);
        let attempts = self.retry.attempts.max(1);
        let mut attempt = 1;
        loop {
            let remaining = self.remaining().ok_or(TransportError::Deadline)?;
            if let Some(cause) = self.breaker(&origin) {
                return Err(TransportError::BreakerOpen { origin, cause });
            }
            let cut_by_deadline = remaining < self.request_timeout;
            let timeout = self.request_timeout.min(remaining);
            let result = match self.send_once(method, url, headers, body_limit, timeout) {
                // Cut short by the deadline, not by the registry's slowness: no reason to
                // give up on the host.
                Err(TransportError::Timeout(_)) if cut_by_deadline => {
                    return Err(TransportError::Deadline);
                }
                result => result,
            };
            let retry_after = match &result {
                Ok(response) if is_retryable_status(response.status) => {
                    Some(response.header("retry-after").and_then(parse_retry_after))
                }
                Err(err) if err.retryable() => Some(None),
                _ => None,
            };
            match retry_after {
                Some(retry_after) if attempt < attempts => {
                    let delay = self.retry.delay(attempt, retry_after);
                    if self.remaining().is_none_or(|left| left <= delay) {
                        return Err(TransportError::Deadline);
                    }
                    std::thread::sleep(delay);
                    attempt += 1;
                }
                _ => {
                    if let Err(err) = &result
                        && err.opens_breaker()
                    {
                        self.open_breaker(&origin, err);
                    }
                    return result.map(|mut response| {
                        response.attempts = attempt;
                        response
                    });
                }
            }
        }
    }

    fn send_once(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body_limit: u64,
        timeout: Duration,
    ) -> Result<Response, TransportError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut request = match method {
            Method::Get => self.agent.get(url),
            Method::Head => self.agent.head(url),
        };
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        let request = request.config().timeout_global(Some(timeout)).build();
        let https = url.starts_with("https://");
        let response = request.call().map_err(|e| map_error(e, https))?;
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let (_, mut body) = response.into_parts();
        let body = if method == Method::Head {
            Vec::new()
        } else if (200..300).contains(&status) {
            // Refuse early on an announced size, so nothing is buffered at all.
            let announced = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .and_then(|(_, v)| v.trim().parse::<u64>().ok());
            if announced.is_some_and(|len| len > body_limit) {
                return Err(TransportError::TooLarge { limit: body_limit });
            }
            body.with_config()
                .limit(body_limit)
                .read_to_vec()
                .map_err(|e| map_body_error(e, https))?
        } else {
            // An error body is only for the message; a broken or huge one is not an error of
            // its own.
            body.with_config()
                .limit(ERROR_BODY_LIMIT)
                .read_to_vec()
                .unwrap_or_default()
        };
        Ok(Response {
            status,
            headers,
            body,
            attempts: 1,
        })
    }
}

fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}

fn map_error(err: ureq::Error, https: bool) -> TransportError {
    match err {
        ureq::Error::BodyExceedsLimit(limit) => TransportError::TooLarge { limit },
        ureq::Error::Timeout(what) => TransportError::Timeout(what.to_string()),
        ureq::Error::HostNotFound => TransportError::Connect("host not found".into()),
        ureq::Error::ConnectionFailed => TransportError::Connect("connection failed".into()),
        ureq::Error::Tls(m) => TransportError::Tls(m.to_string()),
        ureq::Error::Rustls(e) => TransportError::Tls(e.to_string()),
        ureq::Error::Pem(e) => TransportError::Tls(e.to_string()),
        // rustls reports handshake failures (an unknown CA, a wrong name) as `InvalidData`
        // I/O errors; like other malformed data they will not pass by retrying.
        ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            if https {
                TransportError::Tls(e.to_string())
            } else {
                TransportError::Other(e.to_string())
            }
        }
        ureq::Error::Io(e) if closed_by_peer(e.kind()) => TransportError::Closed(e.to_string()),
        ureq::Error::Io(e) => TransportError::Connect(e.to_string()),
        other => TransportError::Other(other.to_string()),
    }
}

/// A failure while reading a body: the connection was up, so whatever went wrong that is not
/// a timeout, a limit or TLS is a connection cut short, never "cannot connect".
fn map_body_error(err: ureq::Error, https: bool) -> TransportError {
    match map_error(err, https) {
        TransportError::Connect(m) | TransportError::Other(m) => TransportError::Closed(m),
        other => other,
    }
}

fn closed_by_peer(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        kind,
        UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe
    )
}

/// `Retry-After`: delay-seconds or an HTTP-date (RFC 9110 §10.2.3). A date in the past means
/// no delay; more seconds than fit a `u64` mean "as long as possible" (the policy caps it);
/// anything unparsable is ignored (the backoff applies).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        let seconds = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(seconds));
    }
    let at = parse_http_date(value)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)))
}

/// Seconds since the epoch of an IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`. The year has
/// four digits (RFC 9110's `year = 4DIGIT`): a registry's year 99999999999 is no date, not
/// an overflow.
fn parse_http_date(value: &str) -> Option<u64> {
    let parts: Vec<&str> = value.split_ascii_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let day: u64 = day.parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)? as u64
        + 1;
    let year: u64 = year.parse().ok()?;
    let mut hms = time.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if !(1..=31).contains(&day) || !(1970..=9999).contains(&year) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm), shifted so March is month 0.
    let (y, mo) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + m * 60 + s)
}

/// The TLS trust roots: the system store (which honours `SSL_CERT_FILE` / `SSL_CERT_DIR` of
/// the process), plus the `extra` PEM certificates (label, PEM bytes) the caller trusts, e.g.
/// a self-managed instance's private CA. When the system has no store at all — a busybox or
/// distroless job image — Mozilla's roots, compiled in, take its place, so public registries
/// still work. Extra PEM data without a certificate is an error naming its label: trusting
/// nothing of what was meant to be trusted would only fail later, less clearly.
pub fn root_certificates(
    extra: &[(String, Vec<u8>)],
) -> Result<Vec<Certificate<'static>>, ConfigError> {
    let mut roots: Vec<Certificate<'static>> = rustls_native_certs::load_native_certs()
        .certs
        .iter()
        .map(|der| Certificate::from_der(der.as_ref()).to_owned())
        .collect();
    if roots.is_empty() {
        roots.extend(
            webpki_root_certs::TLS_SERVER_ROOT_CERTS
                .iter()
                .map(|der| Certificate::from_der(der.as_ref()).to_owned()),
        );
    }
    for (label, pem) in extra {
        let before = roots.len();
        for item in ureq::tls::parse_pem(pem) {
            if let Ok(ureq::tls::PemItem::Certificate(cert)) = item {
                roots.push(cert);
            }
        }
        if roots.len() == before {
            return Err(ConfigError(format!("{label} holds no PEM certificate")));
        }
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2000 12:00:00 GMT"),
            Some(951_825_600)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("Sun, 06 Foo 1994 08:49:37 GMT"), None);
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let policy = RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
        };
        assert_eq!(policy.delay(1, None), Duration::from_millis(100));
        assert_eq!(policy.delay(2, None), Duration::from_millis(200));
        assert_eq!(policy.delay(3, None), Duration::from_millis(350));
        assert_eq!(
            policy.delay(1, Some(Duration::from_millis(300))),
            Duration::from_millis(300)
        );
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(3600))),
            Duration::from_millis(350)
        );
        assert_eq!(policy.delay(40, None), Duration::from_millis(350));
    }

    #[test]
    fn extra_pem_without_a_certificate_is_an_error_naming_its_label() {
        let extra = vec![(
            "the test CA (/tmp/empty.pem)".to_string(),
            b"not a certificate\n".to_vec(),
        )];
        let err = root_certificates(&extra).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the test CA (/tmp/empty.pem) holds no PEM certificate"
        );
    }
}
