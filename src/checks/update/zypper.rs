//! zypper (openSUSE, SLES).

use super::{PackageManager, lines};

pub struct Zypper;

impl PackageManager for Zypper {
    fn program(&self) -> &'static str {
        "zypper"
    }

    fn refresh(&self) -> &'static [&'static [&'static str]] {
        &[&["zypper", "--non-interactive", "--quiet", "refresh"]]
    }

    fn list(&self) -> &'static [&'static str] {
        &["zypper", "--non-interactive", "--quiet", "list-updates"]
    }

    /// zypper list-updates: "v | repo | name | current | available | arch"
    fn parse_upgrades(&self, output: &str) -> Vec<String> {
        lines(output)
            .filter(|l| l.starts_with("v "))
            .filter_map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                Some(format!(
                    "{} {} -> {}",
                    cells.get(2)?,
                    cells.get(3)?,
                    cells.get(4)?
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_zypper() {
        let zypper = "S | Repository | Name | Current Version | Available Version | Arch\n--+---\nv | Main | curl | 8.0.1-1 | 8.0.1-2 | x86_64\n";
        assert_eq!(Zypper.parse_upgrades(zypper), ["curl 8.0.1-1 -> 8.0.1-2"]);
    }
}
