//! OCI / Docker image references: parsing, validation and docker.io normalisation.
//!
//! Implements the grammar of `github.com/distribution/reference` (`reference.go` /
//! `normalize.go`) by hand: `[domain/]path[:tag][@digest]`, where a missing domain
//! means `docker.io`, single-component Docker Hub names get the `library/` prefix,
//! Docker Hub's other host names are folded into `docker.io` ([`canonical_host`]), and the
//! tag defaults to `latest` only when neither a tag nor a digest is given.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use super::digest::Digest;

/// The registry used when a reference names none.
pub const DEFAULT_REGISTRY: &str = "docker.io";
/// Legacy name of Docker Hub that is normalised to [`DEFAULT_REGISTRY`].
pub const LEGACY_DEFAULT_REGISTRY: &str = "index.docker.io";
/// Host that serves the registry HTTP API for Docker Hub.
pub const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";
/// Every other name of Docker Hub, folded into [`DEFAULT_REGISTRY`] by [`canonical_host`]:
/// one registry has one spelling, whether it is written in a reference, a configuration key
/// or a docker config's `auths`.
pub const DOCKER_HUB_ALIASES: [&str; 3] = [
    LEGACY_DEFAULT_REGISTRY,
    DOCKER_HUB_API_HOST,
    "registry.hub.docker.com",
];
/// Tag assumed when a reference has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";
/// Prefix for single-component Docker Hub repositories ("official images").
const OFFICIAL_REPO_PREFIX: &str = "library/";
/// Maximum length of the normalised name (`registry/repository`).
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;
/// Maximum tag length.
pub const TAG_LENGTH_MAX: usize = 128;

/// A validated error with the offending input and a human-readable reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceError {
    pub input: String,
    pub reason: String,
}

impl ReferenceError {
    fn new(input: &str, reason: impl Into<String>) -> Self {
        ReferenceError {
            input: input.to_string(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid image reference {:?}: {}",
            self.input, self.reason
        )
    }
}

impl std::error::Error for ReferenceError {}

/// A fully normalised image reference: `registry/repository[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses and normalises: "alpine" -> docker.io/library/alpine:latest,
    /// "index.docker.io/x/y" -> docker.io/x/y, tag defaults to "latest" only when
    /// there is neither tag nor digest.
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        let parts = parse_parts(input).map_err(|reason| ReferenceError::new(input, reason))?;
        let tag = match (parts.tag, &parts.digest) {
            (None, None) => Some(DEFAULT_TAG.to_string()),
            (tag, _) => tag,
        };
        Ok(Reference {
            registry: parts.registry,
            repository: parts.repository,
            tag,
            digest: parts.digest,
        })
    }

    /// The registry host (with port if any), e.g. "docker.io" or "127.0.0.1:5000".
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path inside the registry, e.g. "library/alpine".
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if any (always present unless the reference was given by digest only).
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, e.g. "sha256:<64 hex>", if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `registry/repository`, e.g. "docker.io/library/alpine".
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// Returns a copy with `tag` as the tag and no digest. Validates the tag.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        self.to_repository().with_tag(tag)
    }

    /// The HTTP API host: "registry-1.docker.io" for docker.io, else the registry itself.
    pub fn api_host(&self) -> &str {
        api_host_for(&self.registry)
    }

    /// The repository part (registry + path) without tag or digest.
    pub fn to_repository(&self) -> Repository {
        Repository {
            registry: self.registry.clone(),
            path: self.repository.clone(),
        }
    }
}

/// Written piece by piece rather than with `write!`: a large pipeline writes thousands.
impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.registry)?;
        f.write_str("/")?;
        f.write_str(&self.repository)?;
        if let Some(tag) = &self.tag {
            f.write_str(":")?;
            f.write_str(tag)?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

/// A repository without tag or digest (used for the `staging` field), normalised the same way.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Repository {
    registry: String,
    path: String,
}

impl Repository {
    /// Parses and normalises a repository; it is an error if a tag or digest is present.
    pub fn parse(input: &str) -> Result<Repository, ReferenceError> {
        let parts = parse_parts(input).map_err(|reason| ReferenceError::new(input, reason))?;
        if let Some(tag) = parts.tag {
            return Err(ReferenceError::new(
                input,
                format!(
                    "a repository must not include a tag (found \":{tag}\"); expected only registry and path"
                ),
            ));
        }
        if let Some(digest) = parts.digest {
            return Err(ReferenceError::new(
                input,
                format!(
                    "a repository must not include a digest (found \"@{digest}\"); expected only registry and path"
                ),
            ));
        }
        Ok(Repository {
            registry: parts.registry,
            path: parts.repository,
        })
    }

    /// The registry host (with port if any).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path inside the registry, e.g. "library/alpine".
    pub fn path(&self) -> &str {
        &self.path
    }

    /// `registry/path`; same as `Display`.
    pub fn name(&self) -> String {
        self.to_string()
    }

    /// The HTTP API host: "registry-1.docker.io" for docker.io, else the registry itself.
    pub fn api_host(&self) -> &str {
        api_host_for(&self.registry)
    }

    /// A reference to this repository with the given tag. Validates the tag.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        match check_tag(tag) {
            Ok(()) => Ok(Reference {
                registry: self.registry.clone(),
                repository: self.path.clone(),
                tag: Some(tag.to_string()),
                digest: None,
            }),
            Err(reason) => Err(ReferenceError::new(&format!("{self}:{tag}"), reason)),
        }
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.path)
    }
}

impl FromStr for Repository {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Repository::parse(s)
    }
}

/// Whether `tag` matches `[\w][\w.-]{0,127}`.
pub fn is_valid_tag(tag: &str) -> bool {
    check_tag(tag).is_ok()
}

fn api_host_for(registry: &str) -> &str {
    if registry == DEFAULT_REGISTRY {
        DOCKER_HUB_API_HOST
    } else {
        registry
    }
}

/// Parsed, validated and normalised pieces; the tag is *not* defaulted.
struct Parts {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

fn parse_parts(input: &str) -> Result<Parts, String> {
    check_characters(input)?;

    let (rest, digest) = match input.split_once('@') {
        Some((rest, digest)) => {
            if digest.is_empty() {
                return Err(
                    "\"@\" must be followed by a digest such as \"sha256:<64 hex characters>\""
                        .to_string(),
                );
            }
            if digest.contains('@') {
                return Err("must contain at most one \"@\" (before the digest)".to_string());
            }
            let digest = Digest::parse(digest).map_err(|e| e.reason)?;
            (rest, Some(digest))
        }
        None => (input, None),
    };

    let (name, tag) = split_tag(rest);
    if let Some(tag) = tag {
        if tag.is_empty() {
            return Err(
                "\":\" must be followed by a tag (letters, digits, '_', '.' or '-')".to_string(),
            );
        }
        check_tag(tag)?;
    }

    if name.is_empty() {
        return Err(match (tag, &digest) {
            (Some(_), _) => "repository name is missing before \":\"".to_string(),
            _ => "repository name is missing before \"@\"".to_string(),
        });
    }
    if name.starts_with('/') {
        return Err("repository name must not start with \"/\"".to_string());
    }
    if name.ends_with('/') {
        return Err("repository name must not end with \"/\"".to_string());
    }

    let (registry, path) = split_domain(name);
    if let Some(registry) = registry {
        check_domain(registry)?;
    }
    check_path(path)?;

    // Host names are case-insensitive: one spelling, so equal references compare equal.
    let registry = canonical_host_of(registry.unwrap_or(DEFAULT_REGISTRY));
    let registry = registry.as_ref();
    let repository = if registry == DEFAULT_REGISTRY && !path.contains('/') {
        [OFFICIAL_REPO_PREFIX, path].concat()
    } else {
        path.to_string()
    };

    let total = registry.len() + 1 + repository.len();
    if total > NAME_TOTAL_LENGTH_MAX {
        return Err(format!(
            "repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters (normalised name \"{registry}/{repository}\" has {total})"
        ));
    }

    Ok(Parts {
        registry: registry.to_string(),
        repository,
        tag: tag.map(str::to_string),
        digest,
    })
}

/// The checks of the reference as a whole. Most references are printable ASCII without `$`
/// and are not an image ID: one pass over their bytes accepts them; anything else is looked at
/// character by character, which also words the problem.
fn check_characters(input: &str) -> Result<(), String> {
    let printable = !input.is_empty() && input.bytes().all(|b| b.is_ascii_graphic() && b != b'$');
    if printable && !(input.len() == 64 && input.bytes().all(is_lower_hex)) {
        return Ok(());
    }
    explain_characters(input)
}

fn explain_characters(input: &str) -> Result<(), String> {
    if input.is_empty() {
        return Err(
            "reference is empty; expected something like \"alpine:3.20\" or \"registry.example.com/group/image:tag\""
                .to_string(),
        );
    }
    if input.contains('$') {
        return Err(
            "contains \"$\", which looks like an unexpanded variable; expected a literal image reference (is the variable defined?)"
                .to_string(),
        );
    }
    if input.chars().any(char::is_whitespace) {
        return Err("must not contain whitespace".to_string());
    }
    if let Some(c) = input.chars().find(|c| c.is_control()) {
        return Err(format!("must not contain control character {c:?}"));
    }
    if input.len() == 64 && input.bytes().all(is_lower_hex) {
        return Err(
            "a bare 64-character hex string looks like an image ID; expected a repository name"
                .to_string(),
        );
    }
    Ok(())
}

/// The one spelling of a registry host (`host[:port]`): lower case (host names are
/// case-insensitive), Docker Hub's aliases ([`DOCKER_HUB_ALIASES`]) folded into `docker.io`.
/// References, configuration keys and credential lookups all go through it, so a registry
/// is the same registry wherever it is named.
pub fn canonical_host(host: &str) -> String {
    canonical_host_of(host).into_owned()
}

/// [`canonical_host`], borrowing `host` when it is already spelled so (most hosts).
fn canonical_host_of(host: &str) -> Cow<'_, str> {
    let host = match host.bytes().any(|b| b.is_ascii_uppercase()) {
        true => Cow::Owned(host.to_ascii_lowercase()),
        false => Cow::Borrowed(host),
    };
    match DOCKER_HUB_ALIASES.contains(&host.as_ref()) {
        true => Cow::Borrowed(DEFAULT_REGISTRY),
        false => host,
    }
}

/// A registry host as written in configuration (`host[:port]`), validated and in the
/// spelling references use ([`canonical_host`]).
pub fn normalize_registry_host(host: &str) -> Result<String, ReferenceError> {
    let error = |reason: String| ReferenceError {
        input: host.to_string(),
        reason,
    };
    if host.contains("://") {
        return Err(error(
            "expected host[:port] without a scheme, e.g. `registry.example.com:5000`".into(),
        ));
    }
    check_domain(host).map_err(error)?;
    Ok(canonical_host(host))
}

/// Splits `name[:tag]`: a ':' only starts a tag if it comes after the last '/'.
fn split_tag(rest: &str) -> (&str, Option<&str>) {
    // Both are ASCII: a byte search finds exactly the characters.
    match rest.bytes().rposition(|b| b == b':' || b == b'/') {
        Some(colon) if rest.as_bytes()[colon] == b':' => (&rest[..colon], Some(&rest[colon + 1..])),
        _ => (rest, None),
    }
}

/// Splits off the registry if the first path component looks like one
/// (contains '.' or ':' or is "localhost").
fn split_domain(name: &str) -> (Option<&str>, &str) {
    let Some(slash) = name.bytes().position(|b| b == b'/') else {
        return (None, name);
    };
    let first = &name[..slash];
    match first.bytes().any(|b| b == b'.' || b == b':') || first == "localhost" {
        true => (Some(first), &name[slash + 1..]),
        false => (None, name),
    }
}

fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Tag: `[\w][\w.-]{0,127}`.
fn check_tag(tag: &str) -> Result<(), String> {
    let Some(first) = tag.chars().next() else {
        return Err("tag is empty; expected letters, digits, '_', '.' or '-'".to_string());
    };
    if let Some(c) = tag
        .chars()
        .find(|&c| !(is_word_char(c) || c == '.' || c == '-'))
    {
        return Err(format!(
            "tag {tag:?} contains invalid character {c:?}; expected letters, digits, '_', '.' or '-'"
        ));
    }
    if !is_word_char(first) {
        return Err(format!(
            "tag {tag:?} must start with a letter, digit or '_', not {first:?}"
        ));
    }
    if tag.len() > TAG_LENGTH_MAX {
        return Err(format!(
            "tag is {} characters long; at most {TAG_LENGTH_MAX} are allowed",
            tag.len()
        ));
    }
    Ok(())
}

/// Domain: `host[:port]`, host being dot-joined domain components or a bracketed IPv6 literal.
fn check_domain(domain: &str) -> Result<(), String> {
    match is_plain_domain(domain.as_bytes()) {
        true => Ok(()),
        false => explain_domain(domain),
    }
}

/// Whether `domain` is a host name with an optional port, in one pass over its bytes: what
/// nearly every registry is. (An IPv6 address, and any problem, is left to [`explain_domain`].)
fn is_plain_domain(domain: &[u8]) -> bool {
    // The byte before, `.` at a component's start: a component is not empty and starts and
    // ends with a letter or digit.
    let mut before = b'.';
    for (i, &b) in domain.iter().enumerate() {
        match b {
            b'.' if !before.is_ascii_alphanumeric() => return false,
            b':' => {
                let port = &domain[i + 1..];
                return before.is_ascii_alphanumeric()
                    && !port.is_empty()
                    && port.iter().all(u8::is_ascii_digit);
            }
            b'-' if before == b'.' => return false,
            b'.' | b'-' => {}
            b if !b.is_ascii_alphanumeric() => return false,
            _ => {}
        }
        before = b;
    }
    before.is_ascii_alphanumeric()
}

fn explain_domain(domain: &str) -> Result<(), String> {
    let port = if let Some(rest) = domain.strip_prefix('[') {
        let Some((address, after)) = rest.split_once(']') else {
            return Err(format!(
                "IPv6 registry address in {domain:?} is missing the closing \"]\""
            ));
        };
        if address.is_empty() || !address.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return Err(format!(
                "IPv6 registry address \"[{address}]\" must contain only hex digits and ':'"
            ));
        }
        if after.is_empty() {
            None
        } else if let Some(port) = after.strip_prefix(':') {
            Some(port)
        } else {
            return Err(format!(
                "unexpected {after:?} after IPv6 registry address; expected \":<port>\" or \"/\""
            ));
        }
    } else {
        let (host, port) = match domain.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (domain, None),
        };
        check_host(host)?;
        port
    };
    if let Some(port) = port {
        if port.is_empty() {
            return Err(format!(
                "registry {domain:?} has an empty port after \":\"; expected digits"
            ));
        }
        if !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("registry port {port:?} must contain only digits"));
        }
    }
    Ok(())
}

/// Host: domain components `[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?` joined by '.'.
fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err(
            "registry host is empty; expected a host name like \"registry.example.com\""
                .to_string(),
        );
    }
    for component in host.split('.') {
        if component.is_empty() {
            return Err(format!(
                "registry host {host:?} has an empty component (leading, trailing or doubled '.')"
            ));
        }
        if let Some(c) = component
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || c == '-'))
        {
            return Err(format!(
                "registry host {host:?} contains invalid character {c:?}; expected letters, digits, '-' and '.'"
            ));
        }
        if component.starts_with('-') || component.ends_with('-') {
            return Err(format!(
                "registry host component {component:?} must start and end with a letter or digit"
            ));
        }
    }
    Ok(())
}

/// Path: components `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` joined by '/'.
fn check_path(path: &str) -> Result<(), String> {
    match is_plain_path(path.as_bytes()) {
        true => Ok(()),
        false => explain_path(path),
    }
}

/// Whether `path` is a valid repository path, in one pass over its bytes (any problem is left
/// to [`explain_path`], which words it).
fn is_plain_path(path: &[u8]) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    // The separator run since the last letter or digit; `None` at a component's start.
    let mut separator: Option<&[u8]> = None;
    let mut run_start = 0;
    for (i, &b) in path.iter().enumerate() {
        if alnum(b) {
            if let Some(run) = separator.filter(|run| !run.is_empty())
                && !matches!(run, b"." | b"_" | b"__")
                && !run.iter().all(|&c| c == b'-')
            {
                return false;
            }
            separator = Some(&[]);
            run_start = i + 1;
        } else if b == b'/' {
            // A component ends on a letter or digit, and is not empty.
            if separator != Some(&[]) {
                return false;
            }
            separator = None;
        } else if matches!(b, b'.' | b'_' | b'-') {
            // Not at a component's start.
            if separator.is_none() {
                return false;
            }
            separator = Some(&path[run_start..=i]);
        } else {
            return false;
        }
    }
    separator == Some(&[])
}

fn explain_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("repository path is missing after the registry".to_string());
    }
    if path.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err("repository name must be lowercase".to_string());
    }
    for component in path.split('/') {
        check_path_component(component)?;
    }
    Ok(())
}

fn check_path_component(component: &str) -> Result<(), String> {
    if component.is_empty() {
        return Err("repository path contains an empty component (\"//\")".to_string());
    }
    let is_alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if let Some(c) = component
        .chars()
        .find(|&c| !(is_alnum(c) || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "path component {component:?} contains invalid character {c:?}; expected lowercase letters, digits, '.', '_' or '-'"
        ));
    }
    // Only ASCII from here on, so byte indexing is char indexing.
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !bytes.first().copied().is_some_and(alnum) {
        return Err(format!(
            "path component {component:?} must start with a lowercase letter or digit"
        ));
    }
    if !bytes.last().copied().is_some_and(alnum) {
        return Err(format!(
            "path component {component:?} must end with a lowercase letter or digit"
        ));
    }
    let mut i = 0;
    while i < bytes.len() {
        if bytes.get(i).copied().is_some_and(alnum) {
            i += 1;
            continue;
        }
        let start = i;
        while bytes.get(i).is_some_and(|&b| !alnum(b)) {
            i += 1;
        }
        let separator = &component[start..i];
        let ok = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !ok {
            return Err(format!(
                "path component {component:?} has invalid separator {separator:?}; expected \".\", \"_\", \"__\" or one or more \"-\" between letters/digits"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::digest::is_valid_digest;
    use super::*;

    const SHA256: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn sha512() -> String {
        format!("sha512:{}", "0123456789abcdef".repeat(8))
    }

    struct Valid {
        input: String,
        display: String,
        registry: &'static str,
        repository: &'static str,
        tag: Option<String>,
        digest: Option<String>,
    }

    fn v(
        input: &str,
        display: &str,
        registry: &'static str,
        repository: &'static str,
        tag: Option<&str>,
        digest: Option<&str>,
    ) -> Valid {
        Valid {
            input: input.to_string(),
            display: display.to_string(),
            registry,
            repository,
            tag: tag.map(str::to_string),
            digest: digest.map(str::to_string),
        }
    }

    #[rustfmt::skip]
    fn valid_cases() -> Vec<Valid> {
        let long_tag = format!("t{}", "x".repeat(127));
        let sha512 = sha512();
        vec![
            v("alpine", "docker.io/library/alpine:latest", "docker.io", "library/alpine", Some("latest"), None),
            v("alpine:3.20", "docker.io/library/alpine:3.20", "docker.io", "library/alpine", Some("3.20"), None),
            v("library/alpine", "docker.io/library/alpine:latest", "docker.io", "library/alpine", Some("latest"), None),
            v("docker.io/alpine", "docker.io/library/alpine:latest", "docker.io", "library/alpine", Some("latest"), None),
            v("docker.io/library/alpine", "docker.io/library/alpine:latest", "docker.io", "library/alpine", Some("latest"), None),
            v("index.docker.io/x/y:1", "docker.io/x/y:1", "docker.io", "x/y", Some("1"), None),
            v("index.docker.io/alpine", "docker.io/library/alpine:latest", "docker.io", "library/alpine", Some("latest"), None),
            v("registry-1.docker.io/alpine", "docker.io/library/alpine:latest", "docker.io", "library/alpine", Some("latest"), None),
            v("Registry.Hub.Docker.com/x/y:1", "docker.io/x/y:1", "docker.io", "x/y", Some("1"), None),
            v("localhost/x", "localhost/x:latest", "localhost", "x", Some("latest"), None),
            v("localhost:5000/a/b", "localhost:5000/a/b:latest", "localhost:5000", "a/b", Some("latest"), None),
            v("127.0.0.1:5000/base/busybox:1", "127.0.0.1:5000/base/busybox:1", "127.0.0.1:5000", "base/busybox", Some("1"), None),
            v("[::1]:5000/x", "[::1]:5000/x:latest", "[::1]:5000", "x", Some("latest"), None),
            v("[::1]/x", "[::1]/x:latest", "[::1]", "x", Some("latest"), None),
            v("[2001:db8::1]:443/ns/img:v1", "[2001:db8::1]:443/ns/img:v1", "[2001:db8::1]:443", "ns/img", Some("v1"), None),
            v(&format!("a:b@{SHA256}"), &format!("docker.io/library/a:b@{SHA256}"), "docker.io", "library/a", Some("b"), Some(SHA256)),
            v(&format!("x@{SHA256}"), &format!("docker.io/library/x@{SHA256}"), "docker.io", "library/x", None, Some(SHA256)),
            v(&format!("docker.io/library/alpine:3@{SHA256}"), &format!("docker.io/library/alpine:3@{SHA256}"), "docker.io", "library/alpine", Some("3"), Some(SHA256)),
            v(&format!("ghcr.io/owner/repo@{sha512}"), &format!("ghcr.io/owner/repo@{sha512}"), "ghcr.io", "owner/repo", None, Some(&sha512)),
            v("registry.example.com/group/sub/deep/path/image:1.0.0-rc.1", "registry.example.com/group/sub/deep/path/image:1.0.0-rc.1", "registry.example.com", "group/sub/deep/path/image", Some("1.0.0-rc.1"), None),
            v("registry.example.com/a__b/c--d/e---f.g_h:tag", "registry.example.com/a__b/c--d/e---f.g_h:tag", "registry.example.com", "a__b/c--d/e---f.g_h", Some("tag"), None),
            v("foo/bar_baz.qux", "docker.io/foo/bar_baz.qux:latest", "docker.io", "foo/bar_baz.qux", Some("latest"), None),
            v("quay.io/prometheus/node-exporter:v1.8.2", "quay.io/prometheus/node-exporter:v1.8.2", "quay.io", "prometheus/node-exporter", Some("v1.8.2"), None),
            v("alpine:_tag", "docker.io/library/alpine:_tag", "docker.io", "library/alpine", Some("_tag"), None),
            v("alpine:LATEST", "docker.io/library/alpine:LATEST", "docker.io", "library/alpine", Some("LATEST"), None),
            v("registry.gitlab.com/group/project/image:main-abc123", "registry.gitlab.com/group/project/image:main-abc123", "registry.gitlab.com", "group/project/image", Some("main-abc123"), None),
            // No '/', so "localhost" is a Docker Hub image name, as in distribution/reference.
            v("localhost", "docker.io/library/localhost:latest", "docker.io", "library/localhost", Some("latest"), None),
            v("localhost:5000", "docker.io/library/localhost:5000", "docker.io", "library/localhost", Some("5000"), None),
            v("my-registry.local:8443/team/app:2024.01.01", "my-registry.local:8443/team/app:2024.01.01", "my-registry.local:8443", "team/app", Some("2024.01.01"), None),
            v("Registry.Example.COM/app", "registry.example.com/app:latest", "registry.example.com", "app", Some("latest"), None),
            v("0/1", "docker.io/0/1:latest", "docker.io", "0/1", Some("latest"), None),
            v("a.b/c", "a.b/c:latest", "a.b", "c", Some("latest"), None),
            v(&format!("a:{long_tag}"), &format!("docker.io/library/a:{long_tag}"), "docker.io", "library/a", Some(&long_tag), None),
        ]
    }

    /// Every string of up to `len` characters of `alphabet`.
    fn strings(alphabet: &str, len: usize) -> Vec<String> {
        let mut all = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..len {
            last = last
                .iter()
                .flat_map(|s| alphabet.chars().map(move |c| format!("{s}{c}")))
                .collect();
            all.extend(last.iter().cloned());
        }
        all
    }

    #[test]
    fn the_one_pass_path_check_agrees_with_the_explained_one() {
        for path in strings("a0._-/A", 6) {
            assert_eq!(
                is_plain_path(path.as_bytes()),
                explain_path(&path).is_ok(),
                "{path:?}"
            );
        }
    }

    #[test]
    fn the_one_pass_domain_check_agrees_with_the_explained_one() {
        // Bracketed IPv6 addresses are always explained: only what has no `[` must agree.
        for domain in strings("aZ0-.:[]", 6) {
            let plain = is_plain_domain(domain.as_bytes());
            let ok = explain_domain(&domain).is_ok();
            match domain.starts_with('[') {
                true => assert!(!plain, "{domain:?}"),
                false => assert_eq!(plain, ok, "{domain:?}"),
            }
        }
    }

    #[test]
    fn the_one_pass_character_check_accepts_only_what_the_explained_one_does() {
        let hex = "0123456789abcdef".repeat(4);
        let mut inputs = strings("a$ \t\u{7f}\u{e9}\u{a0}", 4);
        inputs.extend([
            hex.clone(),
            hex.to_uppercase(),
            format!("{hex}0"),
            "\u{85}x".into(),
        ]);
        for input in inputs {
            let checked = check_characters(&input);
            assert_eq!(checked, explain_characters(&input), "{input:?}");
        }
    }

    #[test]
    fn valid_references() {
        let cases = valid_cases();
        assert!(cases.len() >= 25);
        for case in cases {
            let r = match Reference::parse(&case.input) {
                Ok(r) => r,
                Err(e) => panic!("{:?} should parse: {e}", case.input),
            };
            assert_eq!(r.to_string(), case.display, "display of {:?}", case.input);
            assert_eq!(r.registry(), case.registry, "registry of {:?}", case.input);
            assert_eq!(
                r.repository(),
                case.repository,
                "repository of {:?}",
                case.input
            );
            assert_eq!(r.tag(), case.tag.as_deref(), "tag of {:?}", case.input);
            assert_eq!(
                r.digest().map(Digest::as_str),
                case.digest.as_deref(),
                "digest of {:?}",
                case.input
            );
            assert_eq!(r.name(), format!("{}/{}", case.registry, case.repository));
            // Normalised form is a fixed point.
            assert_eq!(
                Reference::parse(&case.display),
                Ok(r.clone()),
                "reparse of {:?}",
                case.display
            );
            assert_eq!(case.input.parse::<Reference>(), Ok(r));
        }
    }

    #[test]
    fn invalid_references() {
        let long_name = format!("registry.example.com/{}", "a".repeat(240));
        let cases: Vec<(String, &str)> = vec![
            ("".into(), "empty"),
            ("Alpine".into(), "repository name must be lowercase"),
            (
                "registry.example.com/Group/app".into(),
                "repository name must be lowercase",
            ),
            ("alpine:bad!tag".into(), "invalid character '!'"),
            (
                "alpine:-tag".into(),
                "must start with a letter, digit or '_'",
            ),
            (
                "alpine:.tag".into(),
                "must start with a letter, digit or '_'",
            ),
            (format!("alpine:{}", "x".repeat(129)), "at most 128"),
            (
                "alpine@sha256:abc".into(),
                "exactly 64 hex characters, got 3",
            ),
            (
                format!("alpine@md5:{}", "a".repeat(32)),
                "unsupported digest algorithm \"md5\"",
            ),
            (
                format!("alpine@sha256:{}", "A".repeat(64)),
                "must be lowercase hex",
            ),
            (
                format!("alpine@sha256:{}", "z".repeat(64)),
                "non-hex character 'z'",
            ),
            ("alpine@sha512:abcd".into(), "exactly 128 hex characters"),
            ("alpine@sha256".into(), "\"algorithm:hex\""),
            ("alpine@sha256:".into(), "no hex part"),
            (format!("alpine@:{}", "a".repeat(64)), "no algorithm"),
            ("alpine@".into(), "must be followed by a digest"),
            (format!("a@b@{SHA256}"), "at most one \"@\""),
            ("alpine:".into(), "must be followed by a tag"),
            ("a//b".into(), "empty component"),
            ("a/b/".into(), "must not end with \"/\""),
            ("docker.io/".into(), "must not end with \"/\""),
            ("/a".into(), "must not start with \"/\""),
            ("-a".into(), "must start with a lowercase letter or digit"),
            ("a/-b".into(), "must start with a lowercase letter or digit"),
            ("a-/b".into(), "must end with a lowercase letter or digit"),
            ("a..b".into(), "invalid separator \"..\""),
            ("a___b".into(), "invalid separator \"___\""),
            ("a_-b".into(), "invalid separator \"_-\""),
            ("a/b!c".into(), "invalid character '!'"),
            ("ünicode".into(), "invalid character 'ü'"),
            (":tag".into(), "repository name is missing"),
            (format!("@{SHA256}"), "repository name is missing"),
            ("alp ine".into(), "whitespace"),
            (" alpine".into(), "whitespace"),
            ("alpine\n".into(), "whitespace"),
            (long_name, "more than 255 characters"),
            ("$CI_REGISTRY_IMAGE/app:1".into(), "unexpanded variable"),
            ("${IMAGE}:1".into(), "unexpanded variable"),
            (
                "registry.example.com/app:$TAG".into(),
                "unexpanded variable",
            ),
            ("foo_.com/x".into(), "invalid character '_'"),
            (
                "-bad.com/x".into(),
                "must start and end with a letter or digit",
            ),
            ("a..com/x".into(), "empty component"),
            (
                "localhost:port/x".into(),
                "port \"port\" must contain only digits",
            ),
            ("localhost:/x".into(), "empty port"),
            (":5000/x".into(), "registry host is empty"),
            ("[::1/x".into(), "missing the closing \"]\""),
            ("[::g]:5000/x".into(), "only hex digits"),
            ("[::1]x/y".into(), "after IPv6 registry address"),
            (
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".into(),
                "image ID",
            ),
        ];
        assert!(cases.len() >= 20);
        for (input, expected) in cases {
            match Reference::parse(&input) {
                Ok(r) => panic!("{input:?} should be rejected, got {r}"),
                Err(e) => {
                    assert_eq!(e.input, input);
                    assert!(
                        e.reason.contains(expected),
                        "{input:?}: reason {:?} should contain {expected:?}",
                        e.reason
                    );
                }
            }
        }
    }

    #[test]
    fn name_length_limit_is_on_normalised_name() {
        // "docker.io/" + 245 = 255 characters: allowed.
        let ok = format!("x/{}", "a".repeat(243));
        assert!(Reference::parse(&ok).is_ok());
        let too_long = format!("x/{}", "a".repeat(244));
        assert!(Reference::parse(&too_long).is_err());
    }

    #[test]
    fn error_display() {
        let e = Reference::parse("Alpine").err();
        assert_eq!(
            e.map(|e| e.to_string()),
            Some(
                "invalid image reference \"Alpine\": repository name must be lowercase".to_string()
            )
        );
        let e: Box<dyn std::error::Error> = Box::new(ReferenceError::new("x", "y"));
        assert_eq!(e.to_string(), "invalid image reference \"x\": y");
    }

    fn reference(input: &str) -> Reference {
        match Reference::parse(input) {
            Ok(r) => r,
            Err(e) => panic!("{input:?} should parse: {e}"),
        }
    }

    fn repository(input: &str) -> Repository {
        match Repository::parse(input) {
            Ok(r) => r,
            Err(e) => panic!("{input:?} should parse as repository: {e}"),
        }
    }

    #[test]
    fn repository_parse() {
        let r = repository("registry.example.com/group/app");
        assert_eq!(r.registry(), "registry.example.com");
        assert_eq!(r.path(), "group/app");
        assert_eq!(r.to_string(), "registry.example.com/group/app");
        assert_eq!(r.name(), "registry.example.com/group/app");
        assert_eq!(r.api_host(), "registry.example.com");

        let r = repository("alpine");
        assert_eq!(r.to_string(), "docker.io/library/alpine");
        assert_eq!(r.api_host(), "registry-1.docker.io");
        assert_eq!(
            repository("index.docker.io/team/app").to_string(),
            "docker.io/team/app"
        );
        assert_eq!(repository("docker.io/app").path(), "library/app");
        assert_eq!(
            repository("localhost:5000/a/b").registry(),
            "localhost:5000"
        );
        assert_eq!(
            "[::1]:5000/x".parse::<Repository>().map(|r| r.to_string()),
            Ok("[::1]:5000/x".to_string())
        );
    }

    #[test]
    fn repository_rejects_tag_and_digest() {
        let reason = |s: &str| match Repository::parse(s) {
            Ok(r) => panic!("{s:?} should be rejected, got {r}"),
            Err(e) => e.reason,
        };
        assert!(reason("alpine:1").contains("must not include a tag"));
        assert!(reason("registry.example.com/a/b:latest").contains("must not include a tag"));
        assert!(reason(&format!("alpine@{SHA256}")).contains("must not include a digest"));
        assert!(reason(&format!("alpine:1@{SHA256}")).contains("must not include a tag"));
        assert!(reason("alpine:").contains("must be followed by a tag"));
        assert!(reason("Alpine").contains("lowercase"));
        assert!(reason("").contains("empty"));
    }

    #[test]
    fn with_tag() {
        let r = reference(&format!("registry.example.com/a/b:1@{SHA256}"));
        let t = match r.with_tag("2.0") {
            Ok(t) => t,
            Err(e) => panic!("with_tag failed: {e}"),
        };
        assert_eq!(t.to_string(), "registry.example.com/a/b:2.0");
        assert_eq!(t.tag(), Some("2.0"));
        assert_eq!(t.digest(), None);
        assert_eq!(t, reference("registry.example.com/a/b:2.0"));

        let Err(bad) = r.with_tag("bad tag") else {
            panic!("tag with space should be rejected");
        };
        assert_eq!(bad.input, "registry.example.com/a/b:bad tag");
        assert!(
            bad.reason.contains("invalid character ' '"),
            "{}",
            bad.reason
        );
        assert!(
            r.with_tag("")
                .is_err_and(|e| e.reason.contains("tag is empty"))
        );
        assert!(r.with_tag("-x").is_err());
        assert!(
            r.with_tag(&"x".repeat(129))
                .is_err_and(|e| e.reason.contains("at most 128"))
        );

        let repo = repository("staging.example.com/ci/app");
        assert_eq!(
            repo.with_tag("pipeline-42").map(|t| t.to_string()),
            Ok("staging.example.com/ci/app:pipeline-42".to_string())
        );
        assert!(repo.with_tag("a:b").is_err());

        assert_eq!(reference("alpine:3").to_repository(), repository("alpine"));
    }

    #[test]
    fn api_host() {
        let host = |s: &str| reference(s).api_host().to_string();
        assert_eq!(host("alpine"), "registry-1.docker.io");
        assert_eq!(host("index.docker.io/x/y"), "registry-1.docker.io");
        assert_eq!(host("registry-1.docker.io/x/y"), "registry-1.docker.io");
        assert_eq!(host("quay.io/x/y"), "quay.io");
        assert_eq!(host("127.0.0.1:5000/x"), "127.0.0.1:5000");
        assert_eq!(host("[::1]:5000/x"), "[::1]:5000");
        assert_eq!(host("localhost/x"), "localhost");
    }

    #[test]
    fn tag_validation() {
        for ok in [
            "latest",
            "1",
            "_",
            "v1.2.3",
            "A-b_c.D",
            "3.20",
            &"x".repeat(128),
        ] {
            assert!(is_valid_tag(ok), "{ok:?} should be a valid tag");
        }
        for bad in [
            "",
            "-x",
            ".x",
            "a:b",
            "a/b",
            "a b",
            "ä",
            "a@b",
            &"x".repeat(129),
        ] {
            assert!(!is_valid_tag(bad), "{bad:?} should be an invalid tag");
        }
    }

    #[test]
    fn digest_validation() {
        assert!(is_valid_digest(SHA256));
        assert!(is_valid_digest(&sha512()));
        assert!(!is_valid_digest("sha256:abc"));
        assert!(!is_valid_digest(&format!("sha384:{}", "a".repeat(96))));
        assert!(!is_valid_digest(&SHA256.to_uppercase()));
    }

    #[test]
    fn ordering_and_hash_are_on_normalised_form() {
        use std::collections::HashSet;
        let set: HashSet<Reference> = [
            "alpine",
            "docker.io/library/alpine:latest",
            "index.docker.io/alpine",
        ]
        .iter()
        .filter_map(|s| Reference::parse(s).ok())
        .collect();
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn registry_hosts_normalise_like_references() {
        assert_eq!(
            normalize_registry_host("Registry.Example.com:5000").unwrap(),
            "registry.example.com:5000"
        );
        assert_eq!(
            normalize_registry_host("index.docker.io").unwrap(),
            "docker.io"
        );
        for alias in DOCKER_HUB_ALIASES {
            assert_eq!(normalize_registry_host(alias).unwrap(), "docker.io");
            assert_eq!(canonical_host(&alias.to_uppercase()), "docker.io");
        }
        assert!(normalize_registry_host("https://registry.example.com").is_err());
        assert!(normalize_registry_host("bad host").is_err());
    }
}
