//! apt-get (Debian, Ubuntu).

use super::{PackageManager, lines};

pub struct AptGet;

impl PackageManager for AptGet {
    fn program(&self) -> &'static str {
        "apt-get"
    }

    // apt-get update exits 0 when an index cannot be fetched ("W: Failed to fetch"), which
    // would leave no lists and so no upgrades: Error-Mode=any makes that exit 100
    // (apt >= 2.1.16; older apt ignores the option, `refresh_failed` catches it).
    fn refresh(&self) -> &'static [&'static [&'static str]] {
        &[&[
            "apt-get",
            "update",
            "-qq",
            "-o",
            "APT::Update::Error-Mode=any",
        ]]
    }

    fn refresh_failed(&self, stderr: &str) -> bool {
        stderr.lines().any(|line| {
            line.starts_with("E:")
                || line.starts_with("W: Failed to fetch")
                || line.contains("Some index files failed to download")
        })
    }

    // dist-upgrade, not upgrade: a fix that needs a new dependency is "kept back" by
    // `upgrade` and would never be listed. Only simulated.
    fn list(&self) -> &'static [&'static str] {
        &[
            "apt-get",
            "--simulate",
            "-qq",
            "-o",
            "Debug::NoLocking=1",
            "dist-upgrade",
        ]
    }

    /// `apt-get --simulate dist-upgrade`: "Inst libc6 [2.36-9] (2.36-9+deb12u4 Debian-Security:12/stable-security [amd64])"
    fn parse_upgrades(&self, output: &str) -> Vec<String> {
        lines(output)
            .filter_map(|l| l.strip_prefix("Inst "))
            .map(|rest| {
                let mut words = rest.split_whitespace();
                let name = words.next().unwrap_or_default();
                let old = words.next().unwrap_or_default().trim_matches(['[', ']']);
                let new = words.next().unwrap_or_default().trim_start_matches('(');
                format!("{name} {old} -> {new}")
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_apt_simulation() {
        let out = "Inst libc6 [2.36-9] (2.36-9+deb12u4 Debian-Security:12/stable-security [amd64])\nConf libc6 (2.36-9+deb12u4 Debian-Security:12/stable-security [amd64])\n";
        assert_eq!(
            AptGet.parse_upgrades(out),
            ["libc6 2.36-9 -> 2.36-9+deb12u4"]
        );
        assert!(AptGet.parse_upgrades("").is_empty());
    }

    #[test]
    fn an_apt_update_that_could_not_fetch_an_index_failed() {
        let pm = AptGet;
        assert!(pm.refresh_failed(
            "W: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease  Could not resolve 'deb.debian.org'\nW: Some index files failed to download. They have been ignored, or old ones used instead.\n"
        ));
        assert!(pm.refresh_failed("E: Some index files failed to download.\n"));
        assert!(!pm.refresh_failed(""));
        assert!(!pm.refresh_failed(
            "W: http://x/dists/y/InRelease: Key is stored in legacy trusted.gpg keyring\n"
        ));
    }
}
