//! The update check that runs *inside* a released image (`gipgee update-check`): the built-in
//! package-manager check (`auto`) and the user's command (`run`), and the result file contract
//! both share.
//!
//! Result file: first line `UPGRADE_NEEDED` or `NO_UPGRADE_NEEDED`, then free detail lines
//! (e.g. the packages). Anything else is an error that quotes the content.

use std::path::Path;
use std::process::Command;

use crate::error::Error;

pub const UPGRADE_NEEDED: &str = "UPGRADE_NEEDED";
pub const NO_UPGRADE_NEEDED: &str = "NO_UPGRADE_NEEDED";
/// Set for a user command, as SPEC §4 promises.
pub const RESULT_FILE_VARIABLE: &str = "GIPGEE_UPDATE_CHECK_RESULT_FILE";

/// What an update check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub upgrade_needed: bool,
    /// Detail lines: the packages with upgrades, or what was checked.
    pub details: Vec<String>,
}

impl Verdict {
    pub fn to_file_text(&self) -> String {
        let first = if self.upgrade_needed {
            UPGRADE_NEEDED
        } else {
            NO_UPGRADE_NEEDED
        };
        let mut text = format!("{first}\n");
        for line in &self.details {
            text.push_str(line);
            text.push('\n');
        }
        text
    }
}

/// Reads a result file. Anything but the contract is an error quoting what was found.
pub fn parse_result(text: &str) -> Result<Verdict, String> {
    let mut lines = text.lines();
    let first = lines.next().map(str::trim_end);
    let upgrade_needed = match first {
        Some(UPGRADE_NEEDED) => true,
        Some(NO_UPGRADE_NEEDED) => false,
        _ => {
            let quoted: String = text.chars().take(500).collect();
            return Err(format!(
                "the result file must start with a line `{UPGRADE_NEEDED}` or `{NO_UPGRADE_NEEDED}`, found: {quoted:?}"
            ));
        }
    };
    Ok(Verdict {
        upgrade_needed,
        details: lines
            .map(str::to_string)
            .filter(|l| !l.trim().is_empty())
            .collect(),
    })
}

/// The package managers `auto` knows, in the order they are looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageManager {
    Apk,
    AptGet,
    Dnf,
    Microdnf,
    Yum,
    Zypper,
}

impl PackageManager {
    const ALL: [PackageManager; 6] = [
        PackageManager::Apk,
        PackageManager::AptGet,
        PackageManager::Dnf,
        PackageManager::Microdnf,
        PackageManager::Yum,
        PackageManager::Zypper,
    ];

    pub fn program(self) -> &'static str {
        match self {
            PackageManager::Apk => "apk",
            PackageManager::AptGet => "apt-get",
            PackageManager::Dnf => "dnf",
            PackageManager::Microdnf => "microdnf",
            PackageManager::Yum => "yum",
            PackageManager::Zypper => "zypper",
        }
    }

    /// The commands that refresh the package indexes (no package downloads) and then list
    /// what could be upgraded, as argv.
    fn commands(self) -> Vec<Vec<&'static str>> {
        match self {
            PackageManager::Apk => vec![
                vec!["apk", "update", "--quiet"],
                vec!["apk", "list", "--upgradable"],
            ],
            // apt-get update exits 0 when an index cannot be fetched ("W: Failed to fetch"),
            // which would leave no lists and so no upgrades: Error-Mode=any makes that exit
            // 100 (apt >= 2.1.16; older apt ignores the option, `refresh_failed` catches it).
            PackageManager::AptGet => vec![
                vec![
                    "apt-get",
                    "update",
                    "-qq",
                    "-o",
                    "APT::Update::Error-Mode=any",
                ],
                // dist-upgrade, not upgrade: a fix that needs a new dependency is "kept back"
                // by `upgrade` and would never be listed. Only simulated.
                vec![
                    "apt-get",
                    "--simulate",
                    "-qq",
                    "-o",
                    "Debug::NoLocking=1",
                    "dist-upgrade",
                ],
            ],
            // `check-update` exits 100 when updates exist (see `check_auto`).
            PackageManager::Dnf => vec![vec!["dnf", "--quiet", "--refresh", "check-update"]],
            PackageManager::Yum => vec![vec!["yum", "--quiet", "check-update"]],
            PackageManager::Microdnf => {
                vec![vec!["microdnf", "--refresh", "upgrade", "--assumeno"]]
            }
            PackageManager::Zypper => vec![
                vec!["zypper", "--non-interactive", "--quiet", "refresh"],
                vec!["zypper", "--non-interactive", "--quiet", "list-updates"],
            ],
        }
    }

    /// The upgradable packages in the listing command's output.
    pub fn parse_upgrades(self, output: &str) -> Vec<String> {
        let lines = output.lines().map(str::trim).filter(|l| !l.is_empty());
        match self {
            // `apk list --upgradable`: "name-1.2-r3 x86_64 {origin} (MIT) [upgradable from: name-1.2-r2]"
            PackageManager::Apk => lines
                .filter(|l| l.contains("[upgradable from:"))
                .map(first_word)
                .collect(),
            // `apt-get --simulate upgrade`: "Inst libc6 [2.36-9] (2.36-9+deb12u4 Debian-Security:12/stable-security [amd64])"
            PackageManager::AptGet => lines
                .filter_map(|l| l.strip_prefix("Inst "))
                .map(|rest| {
                    let mut words = rest.split_whitespace();
                    let name = words.next().unwrap_or_default();
                    let old = words.next().unwrap_or_default().trim_matches(['[', ']']);
                    let new = words.next().unwrap_or_default().trim_start_matches('(');
                    format!("{name} {old} -> {new}")
                })
                .collect(),
            // check-update: "name.arch  version  repo"; stop at "Obsoleting Packages".
            // A long name wraps: "name.arch" alone, then "version repo" on the next line.
            PackageManager::Dnf | PackageManager::Yum => {
                let mut packages = Vec::new();
                let mut wrapped: Option<&str> = None;
                for line in lines.take_while(|l| !l.starts_with("Obsoleting")) {
                    let words: Vec<&str> = line.split_whitespace().collect();
                    match (wrapped.take(), words.as_slice()) {
                        (Some(name), [version, _repo]) => {
                            packages.push(format!("{name} {version}"))
                        }
                        (_, [name, version, _repo]) if name.contains('.') => {
                            packages.push(format!("{name} {version}"))
                        }
                        (_, [name]) if name.contains('.') => wrapped = Some(name),
                        _ => {}
                    }
                }
                packages
            }
            // microdnf upgrade --assumeno: old versions list "Upgrading: name;version;arch;repo",
            // microdnf 3 a table whose "Upgrading:" section lists one package per line.
            PackageManager::Microdnf => {
                let mut in_upgrading = false;
                let mut packages = Vec::new();
                for line in lines {
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
            // zypper list-updates: "v | repo | name | current | available | arch"
            PackageManager::Zypper => lines
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
                .collect(),
        }
    }

    /// Whether a refresh that exited 0 still failed to download an index, by what it printed
    /// on stderr: a check against missing or old indexes would find no upgrades, a silent
    /// "up to date".
    fn refresh_failed(self, stderr: &str) -> bool {
        match self {
            PackageManager::AptGet => stderr.lines().any(|line| {
                line.starts_with("E:")
                    || line.starts_with("W: Failed to fetch")
                    || line.contains("Some index files failed to download")
            }),
            _ => false,
        }
    }

    /// Exit codes that mean "the listing worked" for the last command.
    fn ok_status(self, code: Option<i32>) -> bool {
        match self {
            PackageManager::Dnf | PackageManager::Yum => matches!(code, Some(0 | 100)),
            // `--assumeno` answers "no" to the transaction: exit 1 with a listing is normal.
            PackageManager::Microdnf => matches!(code, Some(0 | 1)),
            _ => code == Some(0),
        }
    }
}

fn first_word(line: &str) -> String {
    line.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Finds the first package manager on PATH.
pub fn detect(on_path: impl Fn(&str) -> bool) -> Option<PackageManager> {
    PackageManager::ALL
        .into_iter()
        .find(|pm| on_path(pm.program()))
}

/// Whether a program is on PATH (no `which` needed: minimal images have none).
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// The built-in check: refresh indexes, list upgrades, decide.
pub fn check_auto(log: &mut dyn FnMut(&str)) -> Result<Verdict, Error> {
    let pm = detect(on_path).ok_or_else(|| {
        Error::User(
            "no supported package manager found (apk, apt-get, dnf, microdnf, yum, zypper): set `updateCheck: none` or a `command` for this image".into(),
        )
    })?;
    log(&format!("package manager: {}", pm.program()));
    let commands = pm.commands();
    let mut listing = String::new();
    let mut last_code = None;
    for (index, argv) in commands.iter().enumerate() {
        log(&format!("running: {}", argv.join(" ")));
        let out = Command::new(argv[0])
            .args(&argv[1..])
            .output()
            .map_err(|err| Error::User(format!("cannot run {}: {err}", argv[0])))?;
        let last = index + 1 == commands.len();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let ok = if last {
            pm.ok_status(out.status.code())
        } else {
            out.status.success()
        };
        if !ok {
            return Err(Error::User(format!(
                "`{}` failed ({}): {}",
                argv.join(" "),
                out.status,
                stderr.trim()
            )));
        }
        if !last && pm.refresh_failed(&stderr) {
            return Err(Error::User(format!(
                "`{}` could not download every package index: {}",
                argv.join(" "),
                stderr.trim()
            )));
        }
        if last {
            listing = String::from_utf8_lossy(&out.stdout).to_string();
            last_code = out.status.code();
            // `--assumeno` answers "no" to a transaction: exit 1 is normal only when there
            // was one to answer; otherwise microdnf failed (e.g. a repository refresh).
            if pm == PackageManager::Microdnf
                && last_code == Some(1)
                && pm.parse_upgrades(&listing).is_empty()
            {
                return Err(Error::User(format!(
                    "`{}` failed ({}): {}",
                    argv.join(" "),
                    out.status,
                    stderr.trim()
                )));
            }
        }
    }
    let mut upgrades = pm.parse_upgrades(&listing);
    // dnf and yum say "updates exist" with exit code 100, whatever the listing looks like.
    let reported =
        matches!(pm, PackageManager::Dnf | PackageManager::Yum) && last_code == Some(100);
    if reported && upgrades.is_empty() {
        upgrades.push(format!(
            "{} check-update reported updates (exit code 100)",
            pm.program()
        ));
    }
    Ok(Verdict {
        upgrade_needed: !upgrades.is_empty(),
        details: upgrades,
    })
}

/// Runs the user's check: `argv <image-id> <result-file>`, with the result file also in
/// GIPGEE_UPDATE_CHECK_RESULT_FILE; then reads the verdict it wrote.
pub fn check_command(
    argv: &[String],
    image_id: &str,
    result_file: &Path,
) -> Result<Verdict, Error> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| Error::User("the update check command is empty".into()))?;
    let status = Command::new(program)
        .args(args)
        .arg(image_id)
        .arg(result_file)
        .env(RESULT_FILE_VARIABLE, result_file)
        .status()
        .map_err(|err| Error::User(format!("cannot run update check `{program}`: {err}")))?;
    if !status.success() {
        return Err(Error::User(format!(
            "update check `{program}` failed ({status})"
        )));
    }
    let text = std::fs::read_to_string(result_file)
        .map_err(|err| Error::io("read the result file", result_file, err))?;
    parse_result(&text)
        .map_err(|message| Error::User(format!("update check `{program}`: {message}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_files_follow_the_contract() {
        let verdict = parse_result("UPGRADE_NEEDED\nopenssl 3.0.1 -> 3.0.2\n\n").unwrap();
        assert!(verdict.upgrade_needed);
        assert_eq!(verdict.details, ["openssl 3.0.1 -> 3.0.2"]);
        assert!(!parse_result("NO_UPGRADE_NEEDED\n").unwrap().upgrade_needed);
        let err = parse_result("maybe\n").unwrap_err();
        assert!(err.contains("found: \"maybe\\n\""), "{err}");
        assert!(parse_result("").is_err());
        assert_eq!(parse_result(&verdict.to_file_text()).unwrap(), verdict);
    }

    #[test]
    fn detects_the_first_known_package_manager() {
        assert_eq!(
            detect(|p| p == "apt-get" || p == "dnf"),
            Some(PackageManager::AptGet)
        );
        assert_eq!(detect(|p| p == "microdnf"), Some(PackageManager::Microdnf));
        assert_eq!(detect(|_| false), None);
    }

    #[test]
    fn parses_apt_simulation() {
        let out = "Inst libc6 [2.36-9] (2.36-9+deb12u4 Debian-Security:12/stable-security [amd64])\nConf libc6 (2.36-9+deb12u4 Debian-Security:12/stable-security [amd64])\n";
        assert_eq!(
            PackageManager::AptGet.parse_upgrades(out),
            ["libc6 2.36-9 -> 2.36-9+deb12u4"]
        );
        assert!(PackageManager::AptGet.parse_upgrades("").is_empty());
    }

    #[test]
    fn an_apt_update_that_could_not_fetch_an_index_failed() {
        let pm = PackageManager::AptGet;
        assert!(pm.refresh_failed(
            "W: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease  Could not resolve 'deb.debian.org'\nW: Some index files failed to download. They have been ignored, or old ones used instead.\n"
        ));
        assert!(pm.refresh_failed("E: Some index files failed to download.\n"));
        assert!(!pm.refresh_failed(""));
        assert!(!pm.refresh_failed(
            "W: http://x/dists/y/InRelease: Key is stored in legacy trusted.gpg keyring\n"
        ));
        assert!(!PackageManager::Apk.refresh_failed("W: Failed to fetch"));
    }

    #[test]
    fn parses_apk_list() {
        let out = "busybox-1.36.1-r29 x86_64 {busybox} (GPL-2.0-only) [upgradable from: busybox-1.36.1-r28]\n";
        assert_eq!(
            PackageManager::Apk.parse_upgrades(out),
            ["busybox-1.36.1-r29"]
        );
    }

    #[test]
    fn parses_microdnf_old_and_table_listings() {
        let old = "Upgrading: curl;7.76.1-26.el9_3.3;x86_64;ubi-9-baseos\n";
        assert_eq!(
            PackageManager::Microdnf.parse_upgrades(old),
            ["curl 7.76.1-26.el9_3.3 x86_64 ubi-9-baseos"]
        );
        let table = "Package                          Repository     Size\nUpgrading:\n curl-7.76.1-26.el9_3.3.x86_64  ubi-9-baseos   299.6 kB\n   replacing curl-7.76.1-26.el9_3.2.x86_64\nTransaction Summary:\n Upgrading:         1 packages\n";
        assert_eq!(
            PackageManager::Microdnf.parse_upgrades(table),
            ["curl-7.76.1-26.el9_3.3.x86_64"]
        );
        assert!(
            PackageManager::Microdnf
                .parse_upgrades("Nothing to do.\n")
                .is_empty()
        );
    }

    #[test]
    fn parses_dnf_and_zypper() {
        let dnf = "\nopenssl-libs.x86_64    1:3.0.7-27.el9    baseos\na-very-long-package-name.x86_64\n        2.0-1.el9    appstream\nObsoleting Packages\ngrub2.noarch 1 x\n";
        assert_eq!(
            PackageManager::Dnf.parse_upgrades(dnf),
            [
                "openssl-libs.x86_64 1:3.0.7-27.el9",
                "a-very-long-package-name.x86_64 2.0-1.el9"
            ]
        );
        let zypper = "S | Repository | Name | Current Version | Available Version | Arch\n--+---\nv | Main | curl | 8.0.1-1 | 8.0.1-2 | x86_64\n";
        assert_eq!(
            PackageManager::Zypper.parse_upgrades(zypper),
            ["curl 8.0.1-1 -> 8.0.1-2"]
        );
    }
}
