//! dnf and yum (Fedora, RHEL and its rebuilds): the same `check-update` command and output.

use super::{ListingExit, PackageManager, lines};

/// dnf or yum: they differ only in the program and its options.
pub struct Dnf {
    program: &'static str,
    list: &'static [&'static str],
}

pub const DNF: Dnf = Dnf {
    program: "dnf",
    list: &["dnf", "--quiet", "--refresh", "check-update"],
};

/// yum refreshes expired metadata by itself and has no `--refresh`.
pub const YUM: Dnf = Dnf {
    program: "yum",
    list: &["yum", "--quiet", "check-update"],
};

impl PackageManager for Dnf {
    fn program(&self) -> &'static str {
        self.program
    }

    fn list(&self) -> &'static [&'static str] {
        self.list
    }

    /// `check-update` exits 100 when updates exist, whatever the listing looks like.
    fn listing_exit(&self, code: Option<i32>) -> ListingExit {
        match code {
            Some(0) => ListingExit::Listed,
            Some(100) => ListingExit::UpgradesReported {
                detail: format!(
                    "{} check-update reported updates (exit code 100)",
                    self.program
                ),
            },
            _ => ListingExit::Failed,
        }
    }

    /// check-update: "name.arch  version  repo"; stop at "Obsoleting Packages".
    /// A long name wraps: "name.arch" alone, then "version repo" on the next line.
    fn parse_upgrades(&self, output: &str) -> Vec<String> {
        let mut packages = Vec::new();
        let mut wrapped: Option<&str> = None;
        for line in lines(output).take_while(|l| !l.starts_with("Obsoleting")) {
            let words: Vec<&str> = line.split_whitespace().collect();
            match (wrapped.take(), words.as_slice()) {
                (Some(name), [version, _repo]) => packages.push(format!("{name} {version}")),
                (_, [name, version, _repo]) if name.contains('.') => {
                    packages.push(format!("{name} {version}"))
                }
                (_, [name]) if name.contains('.') => wrapped = Some(name),
                _ => {}
            }
        }
        packages
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dnf() {
        let dnf = "\nopenssl-libs.x86_64    1:3.0.7-27.el9    baseos\na-very-long-package-name.x86_64\n        2.0-1.el9    appstream\nObsoleting Packages\ngrub2.noarch 1 x\n";
        assert_eq!(
            DNF.parse_upgrades(dnf),
            [
                "openssl-libs.x86_64 1:3.0.7-27.el9",
                "a-very-long-package-name.x86_64 2.0-1.el9"
            ]
        );
    }

    #[test]
    fn exit_code_100_reports_updates() {
        assert_eq!(DNF.listing_exit(Some(0)), ListingExit::Listed);
        assert_eq!(
            YUM.listing_exit(Some(100)),
            ListingExit::UpgradesReported {
                detail: "yum check-update reported updates (exit code 100)".into()
            }
        );
        assert_eq!(DNF.listing_exit(Some(1)), ListingExit::Failed);
        assert_eq!(DNF.listing_exit(None), ListingExit::Failed);
    }
}
