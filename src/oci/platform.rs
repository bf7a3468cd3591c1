//! Platforms (`os/architecture[/variant]`) and the rule deciding whether an index entry
//! serves a wanted platform.

use std::fmt;

use serde::Deserialize;

/// An OS / architecture / variant triple, as in an index entry or `--platform linux/arm64/v8`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(default, rename = "os.version")]
    pub os_version: Option<String>,
}

impl Default for Platform {
    /// `linux/amd64`, what GitLab's shared runners and most registries' users run.
    fn default() -> Self {
        Platform::new("linux", "amd64", None)
    }
}

impl Platform {
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.to_string(),
            architecture: architecture.to_string(),
            variant: variant.map(str::to_string),
            os_version: None,
        }
    }

    /// Parses `os/architecture[/variant]`.
    pub fn parse(input: &str) -> Result<Platform, String> {
        let parts: Vec<&str> = input.split('/').collect();
        let valid_part = |p: &&str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        };
        match parts.as_slice() {
            [os, arch] if [os, arch].iter().all(|p| valid_part(p)) => {
                Ok(Platform::new(os, arch, None))
            }
            [os, arch, variant] if [os, arch, variant].iter().all(|p| valid_part(p)) => {
                Ok(Platform::new(os, arch, Some(variant)))
            }
            _ => Err(format!(
                "invalid platform {input:?}: expected `os/architecture[/variant]`, e.g. `linux/arm64/v8`"
            )),
        }
    }

    /// The `unknown/unknown` platform BuildKit gives attestation manifests.
    pub fn is_unknown(&self) -> bool {
        self.os == "unknown" && self.architecture == "unknown"
    }

    /// Whether an index entry with this platform serves `wanted`. The variant is compared
    /// after the usual defaults (arm64 → v8, arm → v7, as containerd does), so `linux/arm64`
    /// finds an entry written as `linux/arm64/v8` and vice versa; a wanted platform of any
    /// other architecture without a variant accepts every variant.
    pub fn serves(&self, wanted: &Platform) -> bool {
        if self.os != wanted.os || self.architecture != wanted.architecture {
            return false;
        }
        match normalized_variant(wanted) {
            None => true,
            Some(variant) => normalized_variant(self) == Some(variant),
        }
    }
}

fn normalized_variant(platform: &Platform) -> Option<&str> {
    match (platform.architecture.as_str(), platform.variant.as_deref()) {
        (_, Some(variant)) if !variant.is_empty() => Some(variant),
        ("arm64", _) => Some("v8"),
        ("arm", _) => Some("v7"),
        _ => None,
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_and_match_with_default_variants() {
        let arm64 = Platform::parse("linux/arm64").unwrap();
        let arm64_v8 = Platform::parse("linux/arm64/v8").unwrap();
        assert!(arm64_v8.serves(&arm64));
        assert!(arm64.serves(&arm64_v8));
        let arm_v6 = Platform::parse("linux/arm/v6").unwrap();
        assert!(!arm_v6.serves(&Platform::parse("linux/arm").unwrap()));
        assert!(!Platform::default().serves(&arm64));
        assert_eq!(arm64_v8.to_string(), "linux/arm64/v8");
        for bad in ["linux", "linux/", "a/b/c/d", "linux/amd 64"] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
    }
}
