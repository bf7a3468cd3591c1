//! apk (Alpine).

use super::{PackageManager, first_word, lines};

pub struct Apk;

impl PackageManager for Apk {
    fn program(&self) -> &'static str {
        "apk"
    }

    fn refresh(&self) -> &'static [&'static [&'static str]] {
        &[&["apk", "update", "--quiet"]]
    }

    fn list(&self) -> &'static [&'static str] {
        &["apk", "list", "--upgradable"]
    }

    /// `apk list --upgradable`: "name-1.2-r3 x86_64 {origin} (MIT) [upgradable from: name-1.2-r2]"
    fn parse_upgrades(&self, output: &str) -> Vec<String> {
        lines(output)
            .filter(|l| l.contains("[upgradable from:"))
            .map(first_word)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_apk_list() {
        let out = "busybox-1.36.1-r29 x86_64 {busybox} (GPL-2.0-only) [upgradable from: busybox-1.36.1-r28]\n";
        assert_eq!(Apk.parse_upgrades(out), ["busybox-1.36.1-r29"]);
    }

    #[test]
    fn a_refresh_is_judged_by_its_exit_code_alone() {
        assert!(!Apk.refresh_failed("W: Failed to fetch"));
    }
}
