//! microdnf (the minimal RHEL/UBI images).

use super::{ListingExit, PackageManager, first_word, lines};

pub struct Microdnf;

impl PackageManager for Microdnf {
    fn program(&self) -> &'static str {
        "microdnf"
    }

    /// microdnf has no listing command: a refreshed upgrade, answered "no", shows the
    /// transaction it would run.
    fn list(&self) -> &'static [&'static str] {
        &["microdnf", "--refresh", "upgrade", "--assumeno"]
    }

    /// `--assumeno` answers "no" to a transaction: exit 1 is normal only when there was one
    /// to answer; otherwise microdnf failed (e.g. a repository refresh).
    fn listing_exit(&self, code: Option<i32>) -> ListingExit {
        match code {
            Some(0) => ListingExit::Listed,
            Some(1) => ListingExit::ListedIfUpgrades,
            _ => ListingExit::Failed,
        }
    }

    /// microdnf upgrade --assumeno: old versions list "Upgrading: name;version;arch;repo",
    /// microdnf 3 a table whose "Upgrading:" section lists one package per line.
    fn parse_upgrades(&self, output: &str) -> Vec<String> {
        let mut in_upgrading = false;
        let mut packages = Vec::new();
        for line in lines(output) {
            if line.contains(';') {
                packages.push(
                    line.trim_start_matches("Upgrading:")
                        .trim()
                        .replace(';', " "),
                );
            } else if line == "Upgrading:" {
                in_upgrading = true;
            } else if line.ends_with(':') || line.starts_with("Transaction") {
                in_upgrading = false;
            } else if in_upgrading && !line.starts_with("replacing") {
                packages.push(first_word(line));
            }
        }
        packages
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_microdnf_old_and_table_listings() {
        let old = "Upgrading: curl;7.76.1-26.el9_3.3;x86_64;ubi-9-baseos\n";
        assert_eq!(
            Microdnf.parse_upgrades(old),
            ["curl 7.76.1-26.el9_3.3 x86_64 ubi-9-baseos"]
        );
        let table = "Package                          Repository     Size\nUpgrading:\n curl-7.76.1-26.el9_3.3.x86_64  ubi-9-baseos   299.6 kB\n   replacing curl-7.76.1-26.el9_3.2.x86_64\nTransaction Summary:\n Upgrading:         1 packages\n";
        assert_eq!(
            Microdnf.parse_upgrades(table),
            ["curl-7.76.1-26.el9_3.3.x86_64"]
        );
        assert!(Microdnf.parse_upgrades("Nothing to do.\n").is_empty());
    }

    #[test]
    fn exit_code_1_needs_a_transaction() {
        assert_eq!(Microdnf.listing_exit(Some(0)), ListingExit::Listed);
        assert_eq!(
            Microdnf.listing_exit(Some(1)),
            ListingExit::ListedIfUpgrades
        );
        assert_eq!(Microdnf.listing_exit(Some(2)), ListingExit::Failed);
    }
}
