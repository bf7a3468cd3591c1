//! The released-revision rule of a push to the default branch, through the real binary, a real
//! git history and a real registry (distribution on loopback) holding hand-made images that
//! carry the `org.opencontainers.image.revision` annotation the build job writes: a change
//! whose pipeline failed is built by the next push, an image never released is built, a
//! revision that is not an ancestor is built, an unreadable registry falls back to the push's
//! own changes with a warning, and both opt-outs turn the rule off.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use gipgee::config::RegistryConfig;
use gipgee::environment::credentials::{self, CredentialStore};
use gipgee::oci::Reference;
use gipgee::plan::{Released, ReleasedRevisions};
use gipgee::registry::Client;
use gipgee::revisions::RegistryRevisions;
use gipgee::vars::Vars;

use crate::support::oci::{Blob, Layout};
use crate::support::registry::{self, Registry};
use crate::support::{self, GIPGEE, git};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

struct Lab {
    _dir: tempfile::TempDir,
    repo: PathBuf,
    registry: Registry,
    layout: Layout,
    image: Blob,
    /// Layout names given so far (each push needs its own).
    pushed: usize,
}

impl Lab {
    /// A registry, and a repository whose first commit holds `gipgee.yaml` (from `config`,
    /// with `{host}` standing for the registry) and one watched file per image.
    fn start(test: &str, config: &str) -> Option<Lab> {
        if !registry::tools_available(test) {
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let registry = Registry::builder(dir.path()).start();
        let layout = Layout::new(&dir.path().join("layout"));
        let layer = layout.layer("release", "released\n");
        let image = layout.image(&[layer], "amd64");
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(&repo).expect("repo dir");
        git(&repo, &["init", "-q", "-b", "main"]);
        let lab = Lab {
            _dir: dir,
            repo,
            registry,
            layout,
            image,
            pushed: 0,
        };
        lab.write("gipgee.yaml", &config.replace("{host}", &lab.registry.host));
        for image in ["parent", "child", "fresh", "never", "rewritten", "pushed"] {
            lab.write(&format!("{image}/Containerfile"), "FROM scratch\n");
        }
        lab.commit("initial");
        Some(lab)
    }

    fn write(&self, path: &str, content: &str) {
        let full = self.repo.join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, content).expect("write");
    }

    /// Commits everything; the new commit's sha.
    fn commit(&self, message: &str) -> String {
        git(&self.repo, &["add", "-A"]);
        git(
            &self.repo,
            &["commit", "-q", "--allow-empty", "-m", message],
        );
        git(&self.repo, &["rev-parse", "HEAD"])
    }

    /// Releases an image to `<registry>/<repository>:1` recording `revision`.
    fn release(&mut self, repository: &str, revision: &str) {
        let annotated = self.layout.annotated_image(
            &[self.layout.layer("release", "released\n")],
            "amd64",
            &format!(r#"{{"org.opencontainers.image.revision":"{revision}"}}"#),
        );
        self.pushed += 1;
        let name = format!("image-{}", self.pushed);
        self.layout.tag(&name, &annotated, OCI_MANIFEST);
        self.layout.push(
            &name,
            &format!("{}/{repository}:1", self.registry.host),
            None,
            None,
        );
    }

    /// Releases an image without any revision.
    fn release_unannotated(&mut self, repository: &str) {
        self.pushed += 1;
        let name = format!("image-{}", self.pushed);
        let image = Blob {
            digest: self.image.digest.clone(),
            size: self.image.size,
        };
        self.layout.tag(&name, &image, OCI_MANIFEST);
        self.layout.push(
            &name,
            &format!("{}/{repository}:1", self.registry.host),
            None,
            None,
        );
    }

    /// `gipgee plan` as the job of a push to the default branch from `before` to HEAD;
    /// stdout, with the registry's host and the commits' shas made readable.
    fn plan(&self, before: &str, extra: &[(&str, &str)], names: &[(&str, &str)]) -> String {
        let mut cmd = Command::new(GIPGEE);
        cmd.arg("plan").current_dir(&self.repo).env_clear();
        cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
        support::git_env(&mut cmd, 0);
        cmd.envs([
            ("CI", "true"),
            ("CI_PIPELINE_SOURCE", "push"),
            ("CI_DEFAULT_BRANCH", "main"),
            ("CI_COMMIT_BRANCH", "main"),
            ("CI_PIPELINE_ID", "7"),
            ("CI_COMMIT_BEFORE_SHA", before),
            ("CI_REGISTRY", self.registry.host.as_str()),
        ]);
        cmd.env("CI_COMMIT_SHA", git(&self.repo, &["rev-parse", "HEAD"]));
        cmd.envs(extra.iter().copied());
        let stdout = support::run(&mut cmd);
        // The plan alone: without the report of the pipelines' jobs and sizes after it.
        let plan: String = stdout
            .lines()
            .take_while(|line| !line.starts_with("pipeline 1 of "))
            .map(|line| format!("{line}\n"))
            .collect();
        let mut text = plan.replace(&self.registry.host, "[REGISTRY]");
        for (sha, name) in names {
            text = text.replace(sha, name).replace(&sha[..8], name);
        }
        text
    }
}

const CONFIG: &str = "
version: 1
registries:
  '{host}': {insecure: true}
defaults: {staging: '{host}/staging', baseImage: 'docker.io/library/alpine:3.20'}
images:
  parent: {containerfile: parent/Containerfile, context: parent, targetLocations: ['{host}/parent:1'], watchedAssets: ['parent/**']}
  child: {baseImage: '{host}/parent:1', containerfile: child/Containerfile, context: child, targetLocations: ['{host}/child:1'], watchedAssets: ['child/**']}
  fresh: {containerfile: fresh/Containerfile, context: fresh, targetLocations: ['{host}/fresh:1'], watchedAssets: ['fresh/**']}
  never: {containerfile: never/Containerfile, context: never, targetLocations: ['{host}/never:1'], watchedAssets: ['never/**']}
  rewritten: {containerfile: rewritten/Containerfile, context: rewritten, targetLocations: ['{host}/rewritten:1'], watchedAssets: ['rewritten/**']}
  pushed: {containerfile: pushed/Containerfile, context: pushed, targetLocations: ['docker.io/example/pushed:1', '{host}/pushed:1'], watchedAssets: ['pushed/**']}
";

/// The history of every test: `initial` (released everywhere), `failed` (changes `parent`,
/// its pipeline failed: only `fresh` and `pushed` were released since), `next` (changes
/// `child`; the push under test). `never` was never released; `rewritten`'s release records a
/// commit that the default branch no longer holds.
struct History {
    initial: String,
    failed: String,
    next: String,
    dropped: String,
}

fn history(lab: &mut Lab) -> History {
    let initial = git(&lab.repo, &["rev-parse", "HEAD"]);
    git(&lab.repo, &["checkout", "-q", "-b", "dropped"]);
    lab.write("rewritten/asset", "dropped\n");
    let dropped = lab.commit("dropped by a force push");
    git(&lab.repo, &["checkout", "-q", "main"]);
    lab.write("parent/asset", "changed\n");
    let failed = lab.commit("failed");
    lab.write("child/asset", "changed\n");
    let next = lab.commit("next");
    for image in ["parent", "child"] {
        lab.release(image, &initial);
    }
    // `pushed` is read on the project's registry, not on Docker Hub (which is out of reach
    // here: reading it would be a warning).
    for image in ["fresh", "pushed"] {
        lab.release(image, &failed);
    }
    lab.release("rewritten", &dropped);
    History {
        initial,
        failed,
        next,
        dropped,
    }
}

fn names(history: &History) -> [(&str, &str); 4] {
    [
        (history.initial.as_str(), "[INITIAL]"),
        (history.failed.as_str(), "[FAILED]"),
        (history.next.as_str(), "[NEXT]"),
        (history.dropped.as_str(), "[DROPPED]"),
    ]
}

#[test]
fn a_change_whose_pipeline_failed_is_built_by_the_next_push() {
    let Some(mut lab) = Lab::start(
        "a_change_whose_pipeline_failed_is_built_by_the_next_push",
        CONFIG,
    ) else {
        return;
    };
    let history = history(&mut lab);
    let plan = lab.plan(&history.failed, &[], &names(&history));
    assert_eq!(
        plan,
        support::unindent(
            "
            gipgee plan: push to the default branch, changes since [FAILED]; images are released
              skip   fresh      no changed file matches its containerfile or watched assets
              build  never      not released yet [released]
              build  parent     `parent/asset` changed (matches `parent/**`) since its released revision [INITIAL] [released]
              skip   pushed     no changed file matches its containerfile or watched assets
              build  rewritten  the changes since its released revision [DROPPED] are unknown (history rewritten: the released revision [DROPPED] is not an ancestor of [NEXT]) [released]
              build  child      `child/asset` changed (matches `child/**`) [FROM the parent's staging image, released]
            4 of 6 images are built.
            "
        )
    );
}

/// What the push's own changes select (the before-sha rule alone): `child`.
const BEFORE_SHA_ONLY: &str = "
    gipgee plan: push to the default branch, changes since [FAILED]; images are released
      skip   fresh      no changed file matches its containerfile or watched assets
      skip   never      no changed file matches its containerfile or watched assets
      skip   parent     no changed file matches its containerfile or watched assets
      skip   pushed     no changed file matches its containerfile or watched assets
      skip   rewritten  no changed file matches its containerfile or watched assets
      build  child      `child/asset` changed (matches `child/**`) [FROM `parent`'s released image, released]
    1 of 6 images are built.
    ";

#[test]
fn an_unreadable_registry_falls_back_to_the_push_s_changes_with_a_warning() {
    let Some(mut lab) = Lab::start(
        "an_unreadable_registry_falls_back_to_the_push_s_changes_with_a_warning",
        CONFIG,
    ) else {
        return;
    };
    let history = history(&mut lab);
    lab.registry.stop();
    let plan = lab.plan(&history.failed, &[], &names(&history));
    // The reason is the client's (connection refused, after its retries).
    let mut lines: Vec<&str> = plan.lines().collect();
    let warning = lines.remove(1);
    assert!(
        warning.starts_with("WARNING: cannot read the released images on registry `[REGISTRY]` (")
            && warning.ends_with(
                "); fresh, never, parent, pushed, rewritten decided by this push's changes only"
            ),
        "{plan}"
    );
    assert_eq!(
        format!("{}\n", lines.join("\n")),
        support::unindent(BEFORE_SHA_ONLY),
        "{plan}"
    );
}

#[test]
fn the_rule_is_turned_off_globally_or_per_registry() {
    let Some(mut lab) = Lab::start("the_rule_is_turned_off_globally_or_per_registry", CONFIG)
    else {
        return;
    };
    let history = history(&mut lab);
    let names = names(&history);
    let off = [("GIPGEE_RELEASED_REVISION_CHECK", "false")];
    assert_eq!(
        lab.plan(&history.failed, &off, &names),
        support::unindent(BEFORE_SHA_ONLY)
    );
    // Per registry: the config at HEAD turns it off for the registry of every image (the
    // edit itself selects nothing: no image's settings changed).
    lab.write(
        "gipgee.yaml",
        &CONFIG
            .replace(
                "'{host}': {insecure: true}",
                "'{host}': {insecure: true, releasedRevisionCheck: false}",
            )
            .replace("{host}", &lab.registry.host),
    );
    lab.commit("no revision reads");
    assert_eq!(
        lab.plan(&history.failed, &[], &names),
        support::unindent(BEFORE_SHA_ONLY)
    );
}

#[test]
fn an_image_without_a_recorded_revision_is_named_and_left_to_the_push_s_changes() {
    let Some(mut lab) = Lab::start(
        "an_image_without_a_recorded_revision_is_named_and_left_to_the_push_s_changes",
        CONFIG,
    ) else {
        return;
    };
    let history = history(&mut lab);
    for image in ["never", "parent", "rewritten"] {
        lab.release_unannotated(image);
    }
    let plan = lab.plan(&history.failed, &[], &names(&history));
    let mut expected = support::unindent(BEFORE_SHA_ONLY);
    expected = expected.replacen(
        "\n",
        "\nReleased images without a recorded revision (decided by this push's changes only): never, parent, rewritten.\n",
        1,
    );
    assert_eq!(plan, expected);
}

/// A client of the plain-http registry `host`, as `gipgee generate` makes it.
fn revisions_for(host: &str) -> RegistryRevisions {
    let registries = BTreeMap::from([(
        host.to_string(),
        RegistryConfig {
            insecure: true,
            ..RegistryConfig::default()
        },
    )]);
    let vars = Vars::default();
    let config = credentials::client_config(&registries, &vars).expect("client config");
    let store = Arc::new(CredentialStore::new(&registries, &vars));
    RegistryRevisions {
        client: Ok(Client::new(config, store).expect("client")),
    }
}

fn requests(revisions: &RegistryRevisions) -> u64 {
    revisions.client.as_ref().expect("client").stats().requests
}

fn reference(host: &str, rest: &str) -> Reference {
    Reference::parse(&format!("{host}/{rest}")).expect("reference")
}

#[test]
fn an_index_is_read_for_its_platform_image_s_revision() {
    let Some(mut lab) = Lab::start("an_index_is_read_for_its_platform_image_s_revision", CONFIG)
    else {
        return;
    };
    let revision = "0123456789abcdef0123456789abcdef01234567";
    let layer = lab.layout.layer("release", "released\n");
    let amd64 = lab.layout.annotated_image(
        &[layer],
        "amd64",
        &format!(r#"{{"org.opencontainers.image.revision":"{revision}"}}"#),
    );
    let index = lab
        .layout
        .index(&[(&amd64, r#"{"os":"linux","architecture":"amd64"}"#, "{}")]);
    lab.layout
        .tag("index", &index, "application/vnd.oci.image.index.v1+json");
    let host = lab.registry.host.clone();
    lab.layout
        .push("index", &format!("{host}/multi:1"), None, None);
    let revisions = revisions_for(&host);
    assert_eq!(
        revisions.read(&[reference(&host, "multi:1"), reference(&host, "missing:1")]),
        [Released::Revision(revision.into()), Released::NotReleased]
    );
}

#[test]
fn a_registry_that_is_down_costs_one_image_s_requests_not_one_per_image() {
    // Nothing listens on the port: every connection is refused.
    let host = format!("127.0.0.1:{}", registry::free_port());
    let one = revisions_for(&host);
    let answers = one.read(&[reference(&host, "a:1")]);
    assert!(
        matches!(answers[..], [Released::Unreadable { .. }]),
        "{answers:?}"
    );
    let many = revisions_for(&host);
    let references: Vec<Reference> = ["a:1", "b:1", "c:1", "d:1", "e:1"]
        .iter()
        .map(|rest| reference(&host, rest))
        .collect();
    let answers = many.read(&references);
    assert_eq!(answers.len(), 5);
    assert!(
        answers
            .iter()
            .all(|a| matches!(a, Released::Unreadable { .. })),
        "{answers:?}"
    );
    assert!(requests(&one) > 0, "the refused connections are counted");
    assert_eq!(requests(&many), requests(&one));
}
