//! The multi-platform part of a world (`Setup { multi_platform: true }`): a two-platform
//! busybox base (`base/multi:1`, linux/amd64 and linux/arm64, no network pull) and two
//! two-platform images in the project, `multi-base` FROM it (with the build cache) and
//! `multi-app` FROM multi-base (without), from `tests/e2e/platforms`. The arm64 programs run
//! under qemu-user-static through binfmt_misc (scripts/install-test-deps.sh sets both up).

use std::path::{Path, PathBuf};

use super::{REPO, World, copy_tree};

/// The images appended to the fixture's `images:`.
pub(super) const MULTI_PLATFORM_IMAGES: &str = r#"  multi-base:
    baseImage: ${CI_REGISTRY}/base/multi:1
    context: images/multi-base
    targetLocations: ["${CI_REGISTRY_IMAGE}/multi-base:1"]
    watchedAssets: ["images/multi-base/**"]
    platforms: [linux/amd64, linux/arm64]
    cache: true
    tests:
      - name: arch
        script: ["sh tests/arch.sh"]
  multi-app:
    baseImage: ${CI_REGISTRY_IMAGE}/multi-base:1
    context: images/multi-app
    targetLocations: ["${CI_REGISTRY_IMAGE}/multi-app:1"]
    watchedAssets: ["images/multi-app/**"]
    platforms: [linux/amd64, linux/arm64]
    tests:
      - name: arch
        script: ["sh tests/arch.sh"]
"#;

/// The arm64 busybox scripts/install-test-deps.sh keeps in the tools directory.
pub(super) fn arm64_busybox() -> PathBuf {
    let tools = std::env::var_os("GIPGEE_TOOLS_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache/gipgee-tools"))
        })
        .unwrap_or_default();
    tools.join("arm64/busybox")
}

/// What the multi-platform scenario needs besides the other scenarios' tools.
pub(super) fn missing() -> Vec<String> {
    match arm64_busybox().exists() {
        true => Vec::new(),
        false => vec![format!(
            "{} (busybox-static:arm64)",
            arm64_busybox().display()
        )],
    }
}

/// Whether this machine runs arm64 programs (qemu-aarch64 registered in binfmt_misc). When the
/// kernel refuses binfmt_misc (some containers), no install helps: the scenario is skipped with
/// a message, also where every tool is required.
pub(super) fn runs_arm64(scenario: &str) -> bool {
    let registered = Path::new("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists();
    if !registered {
        eprintln!(
            "SKIPPED e2e scenario `{scenario}`: this machine cannot run arm64 programs (no qemu-aarch64 in /proc/sys/fs/binfmt_misc; scripts/install-test-deps.sh installs qemu-user-static and binfmt-support and mounts binfmt_misc, which this kernel or container refused)"
        );
    }
    registered
}

impl World {
    /// Pushes `base/multi:1`: an index of a linux/amd64 and a linux/arm64 busybox image, each
    /// with `/etc/base-arch` naming its platform.
    #[track_caller]
    pub(super) fn push_two_platform_base(&self) {
        let list = "localhost/e2e-base-multi:latest";
        self.tool("buildah", &["manifest", "create", list]);
        for (arch, busybox) in [
            ("amd64", PathBuf::from("/bin/busybox")),
            ("arm64", arm64_busybox()),
        ] {
            let rootfs = self.dir.join(format!("multi-rootfs-{arch}"));
            std::fs::create_dir_all(rootfs.join("bin")).expect("mkdir");
            std::fs::create_dir_all(rootfs.join("etc")).expect("mkdir");
            std::fs::copy(&busybox, rootfs.join("bin/busybox")).expect("copy busybox");
            std::fs::write(rootfs.join("etc/base-arch"), format!("{arch}\n")).expect("write");
            for applet in ["sh", "cat", "uname", "date", "test", "echo"] {
                std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet))
                    .expect("symlink");
            }
            let ctr = self.tool("buildah", &["from", "--arch", arch, "scratch"]);
            let rootfs = rootfs.display().to_string();
            self.tool("buildah", &["copy", "--quiet", &ctr, &rootfs, "/"]);
            self.tool(
                "buildah",
                &[
                    "config",
                    "--arch",
                    arch,
                    "--os",
                    "linux",
                    "--cmd",
                    "/bin/sh",
                    "--env",
                    "PATH=/bin",
                    &ctr,
                ],
            );
            let image = format!("localhost/e2e-base-multi-{arch}:latest");
            self.tool(
                "buildah",
                &["commit", "--quiet", "--rm", "--format", "oci", &ctr, &image],
            );
            self.tool("buildah", &["manifest", "add", list, &image]);
        }
        let target = format!("docker://{}/base/multi:1", self.anon.host);
        self.tool(
            "buildah",
            &[
                "manifest",
                "push",
                "--all",
                "--quiet",
                "--tls-verify=false",
                list,
                &target,
            ],
        );
        // The jobs share this storage, unlike runners: a build FROM the base would find these
        // local images (same image ids) and record their digests as built here, before the
        // push compressed the layers, instead of the registry's.
        self.forget_local_images();
    }

    /// Adds the two-platform images to the project (before its first commit).
    pub(super) fn add_multi_platform_images(&self) {
        copy_tree(&Path::new(REPO).join("tests/e2e/platforms"), &self.project);
        self.edit("gipgee.yaml", |text| text + MULTI_PLATFORM_IMAGES);
    }

    /// The platforms (`os/architecture[/variant]`) of the index at `reference`, in order.
    #[track_caller]
    pub fn index_platforms(&self, reference: &str) -> Vec<String> {
        let index = self.manifest(reference);
        let Some(manifests) = index["manifests"].as_array() else {
            panic!("e2e `{}`: {reference} is no index: {index}", self.scenario);
        };
        manifests
            .iter()
            .map(|entry| {
                let platform = &entry["platform"];
                let mut text = format!(
                    "{}/{}",
                    platform["os"].as_str().unwrap_or("?"),
                    platform["architecture"].as_str().unwrap_or("?")
                );
                if let Some(variant) = platform["variant"].as_str() {
                    text = format!("{text}/{variant}");
                }
                text
            })
            .collect()
    }

    /// The uncompressed digests of the layers (`rootfs.diff_ids`) of the `arch` (linux)
    /// image of the index at `reference`.
    #[track_caller]
    pub fn platform_diff_ids(&self, reference: &str, arch: &str) -> Vec<String> {
        let config = match self.skopeo(
            &[
                "inspect",
                "--config",
                "--override-os",
                "linux",
                "--override-arch",
                arch,
            ],
            reference,
        ) {
            Ok(json) => serde_json::from_str::<serde_json::Value>(&json).expect("config JSON"),
            Err(err) => panic!(
                "e2e `{}`: the {arch} config of {reference}: {err}",
                self.scenario
            ),
        };
        config["rootfs"]["diff_ids"]
            .as_array()
            .expect("diff_ids")
            .iter()
            .map(|d| d.as_str().expect("a digest").to_string())
            .collect()
    }

    /// The file `path` of the `arch` (linux) image of the index at `reference`, read from its
    /// layers (pulled with buildah; nothing runs in the image).
    #[track_caller]
    pub fn platform_file(&self, reference: &str, arch: &str, path: &str) -> String {
        let ctr = self.tool(
            "buildah",
            &[
                "from",
                "--quiet",
                "--pull=always",
                "--tls-verify=false",
                "--platform",
                &format!("linux/{arch}"),
                reference,
            ],
        );
        // vfs: the mount point is a plain directory in the world's storage.
        let root = self.tool("buildah", &["mount", &ctr]);
        let text = std::fs::read_to_string(Path::new(&root).join(path.trim_start_matches('/')))
            .unwrap_or_else(|err| {
                panic!(
                    "e2e `{}`: {path} of the {arch} image of {reference}: {err}",
                    self.scenario
                )
            });
        self.tool("buildah", &["rm", &ctr]);
        text.trim().to_string()
    }

    /// Removes every image from the world's local buildah storage: the next build starts
    /// with nothing cached locally, as a fresh runner does.
    #[track_caller]
    pub fn forget_local_images(&self) {
        self.tool("buildah", &["rm", "--all"]);
        self.tool("buildah", &["rmi", "--all", "--force"]);
    }
}
