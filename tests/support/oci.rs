//! OCI image layouts written by hand — reproducible blobs, images and indexes — and pushed
//! to a registry with `skopeo copy`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use gipgee::registry::Digest;

use super::run;

/// The tools a layout needs: `tar` and `gzip` for layers, `skopeo` to push.
pub const TOOLS: &[&str] = &["skopeo", "tar", "gzip"];

/// A descriptor written into an OCI layout.
#[derive(Debug, Clone)]
pub struct Blob {
    pub digest: Digest,
    pub size: usize,
}

/// An OCI image layout written by hand: reproducible, and quick to push with skopeo.
pub struct Layout {
    pub dir: PathBuf,
    refs: Vec<String>,
}

impl Layout {
    pub fn new(dir: &Path) -> Layout {
        std::fs::create_dir_all(dir.join("blobs/sha256")).expect("layout dir");
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)
            .expect("oci-layout");
        Layout {
            dir: dir.to_path_buf(),
            refs: Vec::new(),
        }
    }

    pub fn blob(&self, bytes: &[u8]) -> Blob {
        let digest = Digest::sha256(bytes);
        let hex = digest.as_str().trim_start_matches("sha256:").to_string();
        std::fs::write(self.dir.join("blobs/sha256").join(hex), bytes).expect("write blob");
        Blob {
            digest,
            size: bytes.len(),
        }
    }

    /// A gzipped tar layer holding `/etc/<name>` with `content`, made reproducibly; returns
    /// the layer blob and its diff id.
    #[track_caller]
    pub fn layer(&self, name: &str, content: &str) -> (Blob, Digest) {
        let work = tempfile::tempdir().expect("tempdir");
        let root = work.path().join("root");
        std::fs::create_dir_all(root.join("etc")).expect("rootfs");
        std::fs::write(root.join("etc").join(name), content).expect("rootfs file");
        let tar = work.path().join("layer.tar");
        run(Command::new("tar")
            .args([
                "--sort=name",
                "--mtime=@0",
                "--owner=0",
                "--group=0",
                "--numeric-owner",
            ])
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg("."));
        let uncompressed = std::fs::read(&tar).expect("read tar");
        let mut gzip = Command::new("gzip");
        gzip.args(["-n", "-c"]).arg(&tar).stdout(Stdio::piped());
        let mut child = gzip.spawn().expect("gzip starts");
        let mut compressed = Vec::new();
        child
            .stdout
            .take()
            .expect("gzip stdout")
            .read_to_end(&mut compressed)
            .expect("read gzip");
        let status = child.wait().expect("gzip");
        assert!(
            status.success(),
            "`{}` failed ({status})",
            super::describe(&gzip)
        );
        (self.blob(&compressed), Digest::sha256(&uncompressed))
    }

    /// An image manifest with the given layers, for `os/arch`.
    pub fn image(&self, layers: &[(Blob, Digest)], architecture: &str) -> Blob {
        self.annotated_image(layers, architecture, "{}")
    }

    /// [`Layout::image`] with manifest annotations (raw JSON), e.g. the base-image ones
    /// buildah writes.
    pub fn annotated_image(
        &self,
        layers: &[(Blob, Digest)],
        architecture: &str,
        annotations: &str,
    ) -> Blob {
        let diff_ids: Vec<String> = layers.iter().map(|(_, d)| format!("\"{d}\"")).collect();
        let config = self.blob(
            format!(
                r#"{{"architecture":"{architecture}","os":"linux","rootfs":{{"type":"layers","diff_ids":[{}]}},"config":{{}}}}"#,
                diff_ids.join(",")
            )
            .as_bytes(),
        );
        let layer_json: Vec<String> = layers
            .iter()
            .map(|(b, _)| {
                format!(
                    r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":{}}}"#,
                    b.digest, b.size
                )
            })
            .collect();
        self.blob(
            format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{}],"annotations":{annotations}}}"#,
                config.digest,
                config.size,
                layer_json.join(",")
            )
            .as_bytes(),
        )
    }

    /// An OCI index over `(manifest, platform json)` entries; `annotations` as raw JSON.
    pub fn index(&self, entries: &[(&Blob, &str, &str)]) -> Blob {
        let manifests: Vec<String> = entries
            .iter()
            .map(|(blob, platform, annotations)| {
                format!(
                    r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":{},"platform":{platform},"annotations":{annotations}}}"#,
                    blob.digest, blob.size
                )
            })
            .collect();
        self.blob(
            format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
                manifests.join(",")
            )
            .as_bytes(),
        )
    }

    /// Names `blob` (a manifest or an index) `name` in the layout's index.json.
    pub fn tag(&mut self, name: &str, blob: &Blob, media_type: &str) {
        self.refs.push(format!(
            r#"{{"mediaType":"{media_type}","digest":"{}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"{name}"}}}}"#,
            blob.digest, blob.size
        ));
        std::fs::write(
            self.dir.join("index.json"),
            format!(
                r#"{{"schemaVersion":2,"manifests":[{}]}}"#,
                self.refs.join(",")
            ),
        )
        .expect("index.json");
    }

    /// `skopeo copy [--all] oci:<layout>:<name> docker://<dest>`, with credentials if given;
    /// `ca` is a directory holding the registry's CA (https registries), else TLS is off.
    #[track_caller]
    pub fn push(&self, name: &str, dest: &str, creds: Option<(&str, &str)>, ca: Option<&Path>) {
        let mut cmd = Command::new("skopeo");
        cmd.args(["copy", "--all", "--quiet"]);
        match ca {
            Some(dir) => cmd.arg("--dest-cert-dir").arg(dir),
            None => cmd.arg("--dest-tls-verify=false"),
        };
        if let Some((user, password)) = creds {
            cmd.arg("--dest-creds").arg(format!("{user}:{password}"));
        }
        // Keep skopeo away from the machine's registries.conf / auth files.
        cmd.env("REGISTRY_AUTH_FILE", self.dir.join("auth.json"));
        cmd.arg(format!("oci:{}:{name}", self.dir.display()))
            .arg(format!("docker://{dest}"));
        run(&mut cmd);
    }
}
