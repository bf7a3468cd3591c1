//! End-to-end: multi-platform images and the build cache, under gitlab-ci-local as in
//! tests/e2e.rs, in a world with a two-platform busybox base (linux/amd64 and linux/arm64;
//! arm64 programs run under qemu-user-static) and two two-platform images: `multi-base` FROM
//! that base, built with the registry cache, and its child `multi-app`, built without.
//!
//! Run it alone with `bash tests/e2e/run.sh e2e_platforms::`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use gipgee::checks::layer;
use gipgee::config::{self, MissingVariables};
use gipgee::environment::credentials::{self, CredentialStore};
use gipgee::registry::Client;
use gipgee::results::Verdict;
use gipgee::vars::Vars;

use crate::e2e::harness::{Outcome, Run, Setup, World};
use crate::e2e::{expect_ran_in_image, run_started_by};
use crate::support;

const ARCHES: &[(&str, &str)] = &[("amd64", "x86_64"), ("arm64", "aarch64")];

/// The jobs of the two-platform images, in pipeline order.
const MULTI_PLATFORM_JOBS: &[&str] = &[
    "build:multi-base",
    "test:multi-base:arch:linux-amd64",
    "test:multi-base:arch:linux-arm64",
    "release:multi-base",
    "build:multi-app",
    "test:multi-app:arch:linux-amd64",
    "test:multi-app:arch:linux-arm64",
    "release:multi-app",
];

/// Each test job ran in its platform's image: `image: docker: platform:` is the job's
/// GIPGEE_PLATFORM, which the job shell pulls.
#[track_caller]
fn expect_tested_per_platform(run: &Run, id: &str) {
    for (arch, machine) in ARCHES {
        let job = format!("test:{id}:arch:linux-{arch}");
        expect_ran_in_image(run, &job);
        let pipeline = serde_yaml::Value::Mapping(run.pipeline().clone());
        let definition = support::resolve_job(&pipeline, &job);
        let platform = format!("linux/{arch}");
        assert_eq!(
            definition["image"]["docker"]["platform"].as_str(),
            Some(platform.as_str()),
            "e2e `{}`: job `{job}`: `image: docker: platform:`",
            run.label
        );
        assert_eq!(
            definition["variables"]["GIPGEE_PLATFORM"].as_str(),
            Some(platform.as_str()),
            "e2e `{}`: job `{job}`: GIPGEE_PLATFORM",
            run.label
        );
        let log = run.log(&job);
        assert!(
            log.contains(&format!("on {platform}: {machine}")),
            "e2e `{}`: job `{job}` should have run on {machine}; its output:\n{log}",
            run.label
        );
    }
}

/// The release of `id` is its staging index, with both platforms, each with its own content.
#[track_caller]
fn expect_released_index(world: &World, run: &Run, id: &str) -> String {
    let staging = run.staging(id);
    let target = format!("{}/{id}:1", world.registry_image());
    let digest = world.digest(&staging);
    assert!(
        digest.is_some(),
        "e2e `{}`: no staging image {staging}",
        run.label
    );
    assert_eq!(
        world.digest(&target),
        digest,
        "e2e `{}`: {target} should have the digest of the staging index {staging}",
        run.label
    );
    // buildah adds each platform when its build finishes: the order varies.
    let mut platforms = world.index_platforms(&target);
    platforms.sort();
    assert_eq!(
        platforms,
        ["linux/amd64", "linux/arm64"],
        "e2e `{}`: the platforms of {target}",
        run.label
    );
    for (arch, machine) in ARCHES {
        assert_eq!(world.platform_file(&target, arch, "/arch"), *machine);
    }
    target
}

/// The layer check of the released multi-base (built by buildah, as an index of two
/// platforms) against its two-platform base: every platform compared, each up to date.
#[track_caller]
fn expect_layer_check_per_platform(world: &World, run: &Run) {
    let host = &world.anon.host;
    let text = format!(
        "version: 1\nregistries:\n  {host}: {{insecure: true}}\ndefaults: {{staging: {host}/staging}}\nimages:\n  multi-base: {{baseImage: {host}/base/multi:1, targetLocations: [{}/multi-base:1]}}\n",
        world.registry_image()
    );
    let config = config::from_str(
        Path::new("gipgee.yaml"),
        &text,
        &Vars::default(),
        MissingVariables::Error,
    )
    .unwrap_or_else(|err| panic!("{err}"));
    let vars = Vars::default();
    let options = credentials::client_config(&config.registries, &vars).expect("client config");
    let provider = Arc::new(CredentialStore::new(&config.registries, &vars));
    let client = Client::new(options, provider).expect("client");
    let verdict = layer::check_all(&config, &client).images["multi-base"].clone();
    let Verdict::UpToDate { evidence } = &verdict else {
        panic!(
            "e2e `{}`: the layer check of multi-base should find it up to date: {verdict:?}\nthe base: {}\nmulti-base: {}",
            run.label,
            world.manifest(&format!("{host}/base/multi:1")),
            world.manifest(&format!("{}/multi-base:1", world.registry_image())),
        );
    };
    for platform in ["linux/amd64", "linux/arm64"] {
        assert!(
            evidence.contains(platform),
            "e2e `{}`: the layer check should compare {platform}: {evidence}",
            run.label
        );
    }
}

/// Per platform, the layers (`rootfs.diff_ids`) of an image's staging index.
fn diff_ids(world: &World, staging: &str) -> BTreeMap<&'static str, Vec<String>> {
    ARCHES
        .iter()
        .map(|(arch, _)| (*arch, world.platform_diff_ids(staging, arch)))
        .collect()
}

#[test]
fn a_two_platform_image_and_its_child_are_built_tested_and_released_per_platform() {
    let Some(world) = World::with(
        "platforms: two-platform images and the build cache",
        Setup {
            autostart: true,
            multi_platform: true,
            ..Setup::default()
        },
    ) else {
        return;
    };
    let run = run_started_by(&world, "web", "web run of main");
    world.check_pipeline(&run);
    let passed: Vec<(&str, Outcome)> = ["gipgee:generate", "gipgee:pipeline"]
        .iter()
        .chain(MULTI_PLATFORM_JOBS)
        .map(|job| (*job, Outcome::Passed))
        .collect();
    run.expect(&passed);
    expect_tested_per_platform(&run, "multi-base");
    expect_tested_per_platform(&run, "multi-app");
    let base = expect_released_index(&world, &run, "multi-base");
    let app = expect_released_index(&world, &run, "multi-app");
    // Each platform was built FROM the same platform of the base, and the child FROM the same
    // platform of its parent.
    for (arch, machine) in ARCHES {
        assert_eq!(world.platform_file(&base, arch, "/base-arch"), *arch);
        assert_eq!(world.platform_file(&app, arch, "/parent-arch"), *machine);
    }
    expect_layer_check_per_platform(&world, &run);

    // The cache: a second build of multi-base (a watched file changed, not its build) on a
    // runner without local images reuses every layer from its cache repository, `RUN date`
    // included; multi-app, without the cache, gets a new `date` layer.
    let base_first = diff_ids(&world, &run.staging("multi-base"));
    let app_first = diff_ids(&world, &run.staging("multi-app"));
    world.forget_local_images();
    world.git(&["checkout", "-q", "-b", "notes"]);
    world.edit("images/multi-base/notes.txt", |text| text + "changed\n");
    world.commit("multi-base: notes");
    let second = run_started_by(&world, "push", "push of notes");
    second.expect(&[
        ("build:multi-base", Outcome::Passed),
        ("build:multi-app", Outcome::Passed),
        ("test:multi-app:arch:linux-arm64", Outcome::Passed),
    ]);
    let base_second = diff_ids(&world, &second.staging("multi-base"));
    let app_second = diff_ids(&world, &second.staging("multi-app"));
    assert_eq!(
        base_second, base_first,
        "e2e `{}`: multi-base, built with its cache, should have the same layers as before",
        second.label
    );
    for (arch, _) in ARCHES {
        assert_ne!(
            app_second[arch].last(),
            app_first[arch].last(),
            "e2e `{}`: multi-app ({arch}), built without a cache, should have a new `date` layer",
            second.label
        );
    }
    let cache = format!("{}/staging/cache/multi-base", world.registry_image());
    let cache_tags = world.tags(&cache);
    assert!(
        !cache_tags.is_empty(),
        "e2e `{}`: the cache repository {cache} should hold the cached layers",
        second.label
    );
    // README's cleanup policy for the cache repositories removes tags of this form.
    let cache_tag = |tag: &str| tag.len() == 64 && tag.bytes().all(|b| b.is_ascii_hexdigit());
    assert!(
        cache_tags.iter().all(|tag| cache_tag(tag)),
        "e2e `{}`: every tag of {cache} should be 64 hexadecimal digits (README's cleanup regex), found {cache_tags:?}",
        second.label
    );
}
