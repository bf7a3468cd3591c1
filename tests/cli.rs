//! The command line, through the real binary: whole stdout, stderr and exit code.

use crate::support::{self, Test};

const CONFIG: &str = "
version: 1
images:
  base:
    baseImage: alpine:3.20
    targetLocations: [registry.example.com/base:1]
    staging: registry.example.com/staging
    tests: [{name: smoke, script: [\"true\"]}]
  child:
    baseImage: registry.example.com/base:1
    targetLocations: [registry.example.com/child:1]
    staging: registry.example.com/staging
";

#[test]
fn plan_prints_the_decision_per_image() {
    Test::new()
        .gitlab_manual_run()
        .file("gipgee.yaml", CONFIG)
        .file("Containerfile", "FROM scratch\n")
        .args(&["plan"])
        .stdout(
            "
            gipgee plan: default branch, started by `web`: all images, the first job of each chain is manual; images are released
            All images are selected: the default branch was started by `web`.
              build  base   all images are selected [released, starts manually]
              build  child  all images are selected [FROM the parent's staging image, released]
            2 of 2 images are built.
            pipeline 1 of 1 (gipgee-pipeline.yml): 6 jobs, 4 KiB
            limits: 500 jobs per pipeline (GIPGEE_MAX_JOBS), 1048576 bytes per file (GIPGEE_MAX_YAML_BYTES)
            ",
        )
        .run();
}

#[test]
fn generate_splits_a_pipeline_over_the_job_limit_into_shards() {
    let out = Test::new()
        .gitlab_manual_run()
        .env("GIPGEE_FORCE_AUTOSTART", "true")
        .env("GIPGEE_MAX_JOBS", "4")
        .file("gipgee.yaml", CONFIG)
        .file("Containerfile", "FROM scratch\n")
        .args(&["generate", "--output", "child.yml"])
        .stdout(
            "
            gipgee plan: default branch, started by `web` with GIPGEE_FORCE_AUTOSTART=true: all images, jobs start automatically; images are released
            All images are selected: the default branch was started by `web`.
              build  base   all images are selected [released]
              build  child  all images are selected [FROM the parent's staging image, released]
            2 of 2 images are built.
            pipeline 1 of 3 (child.yml, starts the 2 shards): 3 jobs, 2 KiB
            pipeline 2 of 3 (child-shard-1.yml, shard 1): 4 jobs, 3 KiB
            pipeline 3 of 3 (child-shard-2.yml, shard 2): 3 jobs, 3 KiB
            limits: 4 jobs per pipeline (GIPGEE_MAX_JOBS), 1048576 bytes per file (GIPGEE_MAX_YAML_BYTES)
            Wrote child.yml, child-shard-1.yml, child-shard-2.yml.
            ",
        )
        .run();
    let read = |file: &str| -> serde_yaml::Value { serde_yaml::from_str(&out.read(file)).unwrap() };
    let (dispatcher, first, second) = (
        read("child.yml"),
        read("child-shard-1.yml"),
        read("child-shard-2.yml"),
    );
    // The dispatcher's plan job downloads the shard files from the generate job of the parent
    // pipeline (CI_PIPELINE_ID, CI_JOB_NAME) and keeps them for its trigger jobs.
    let carrier = &dispatcher["gipgee:shards"];
    assert_eq!(carrier["needs"][0]["job"].as_str(), Some("gipgee:generate"));
    assert!(carrier["needs"][0]["pipeline"].is_string());
    assert_eq!(
        carrier["artifacts"]["paths"],
        serde_yaml::from_str::<serde_yaml::Value>("[child-shard-1.yml, child-shard-2.yml]")
            .unwrap()
    );
    // The second shard (child) starts after the first (base) passed.
    let trigger = &dispatcher["gipgee:shard:2"];
    assert_eq!(
        trigger["needs"],
        serde_yaml::from_str::<serde_yaml::Value>("[gipgee:shards, gipgee:shard:1]").unwrap()
    );
    assert_eq!(
        trigger["trigger"]["include"][0]["artifact"].as_str(),
        Some("child-shard-2.yml")
    );
    assert!(first.get("build:base").is_some() && first.get("build:child").is_none());
    // Across shards the child builds FROM the parent's staging image, and its build waits for
    // its own shard's plan job (the parent's build is in another pipeline).
    let build_child = &second["build:child"];
    assert_eq!(
        support::resolve_job(&second, "build:child")["variables"]["GIPGEE_BASE_IMAGE"],
        support::resolve_job(&first, "build:base")["variables"]["GIPGEE_IMAGE"]
    );
    assert_eq!(build_child["needs"][0].as_str(), Some("gipgee:plan"));
    assert_eq!(
        second["release:child"]["needs"].as_sequence().map(Vec::len),
        Some(1)
    );
}

#[test]
fn a_pipeline_that_fits_no_layout_is_an_error_naming_the_image_and_the_limit() {
    Test::new()
        .gitlab_manual_run()
        .env("GIPGEE_MAX_JOBS", "3")
        .file("gipgee.yaml", CONFIG)
        .file("Containerfile", "FROM scratch\n")
        .args(&["generate", "--output", "child.yml"])
        .status(1)
        .stderr(
            "error: the build pipeline fits GitLab's limits in no layout: as one pipeline it would have 6 jobs, over the limit of 3 jobs per pipeline, and image `base` alone has 3 jobs (its build, tests and release, and its scan and sign where configured), 4 with its shard's plan job: more than 3. Raise GIPGEE_MAX_JOBS or GIPGEE_MAX_YAML_BYTES (component inputs `max_jobs`, `max_yaml_bytes`) if your GitLab allows more\n",
        )
        .run();
}

#[test]
fn generate_writes_the_pipeline_and_prints_the_plan() {
    let out = Test::new()
        .gitlab_manual_run()
        .env("GIPGEE_FORCE_AUTOSTART", "true")
        .file("gipgee.yaml", CONFIG)
        .file("Containerfile", "FROM scratch\n")
        .args(&["generate", "--output", "child.yml"])
        .stdout(
            "
            gipgee plan: default branch, started by `web` with GIPGEE_FORCE_AUTOSTART=true: all images, jobs start automatically; images are released
            All images are selected: the default branch was started by `web`.
              build  base   all images are selected [released]
              build  child  all images are selected [FROM the parent's staging image, released]
            2 of 2 images are built.
            pipeline 1 of 1 (child.yml): 6 jobs, 4 KiB
            limits: 500 jobs per pipeline (GIPGEE_MAX_JOBS), 1048576 bytes per file (GIPGEE_MAX_YAML_BYTES)
            Wrote child.yml.
            ",
        )
        .run();
    let pipeline: serde_yaml::Value = serde_yaml::from_str(&out.read("child.yml")).unwrap();
    assert_eq!(
        pipeline["build:child"]["needs"][0].as_str(),
        Some("build:base")
    );
    assert_eq!(
        pipeline["release:child"]["needs"][1].as_str(),
        Some("release:base")
    );
    assert!(
        pipeline["build:base"]["when"].is_null(),
        "autostart: nothing manual"
    );
    support::tools::check_pipeline(&out.dir, &out.dir.join("child.yml"));
}

#[test]
fn usage_errors_exit_2() {
    Test::new()
        .args(&["generate", "--bogus"])
        .status(2)
        .stderr(
            "
            error: unexpected argument '--bogus' found

            Usage: gipgee generate [OPTIONS]

            For more information, try '--help'.
            ",
        )
        .run();
}

#[test]
fn rebuild_needs_a_selection() {
    Test::new()
        .gitlab_manual_run()
        .file("gipgee.yaml", CONFIG)
        .file("Containerfile", "FROM scratch\n")
        .args(&["generate", "--mode", "rebuild"])
        .status(1)
        .stderr("error: `--mode rebuild` needs `--selection FILE` (written by the update check)\n")
        .run();
}

#[test]
fn a_broken_custom_template_names_the_file_and_line() {
    Test::new()
        .gitlab_manual_run()
        .file("gipgee.yaml", CONFIG)
        .file("Containerfile", "FROM scratch\n")
        .file("tpl/build.yml.j2", "image: x\nscript:\n  - {{ build.argz }}\n")
        .args(&["generate", "--templates", "tpl"])
        .status(1)
        .stderr("error: template `tpl/build.yml.j2`, line 3: undefined value: `build.argz` is undefined\n")
        .run();
}

#[test]
fn a_custom_template_rendering_invalid_yaml_names_the_line() {
    Test::new()
        .gitlab_manual_run()
        .file("gipgee.yaml", CONFIG)
        .file("Containerfile", "FROM scratch\n")
        .file("tpl/test.yml.j2", "image: x\nscript: [{{ test.name }}\n")
        .args(&["generate", "--templates", "tpl"])
        .status(1)
        .stderr(
            "
            error: template `tpl/test.yml.j2`: job `.gipgee-test`, rendered line 3: invalid YAML: did not find expected ',' or ']' at line 3 column 1, while parsing a flow sequence at line 2 column 9
            ",
        )
        .run();
}

#[test]
fn a_custom_template_may_not_take_over_the_job_graph() {
    Test::new()
        .gitlab_manual_run()
        .file("gipgee.yaml", CONFIG)
        .file("Containerfile", "FROM scratch\n")
        .file("tpl/release.yml.j2", "# my release\nneeds: []\nscript: [\"true\"]\n")
        .args(&["generate", "--templates", "tpl"])
        .status(1)
        .stderr(
            "
            error: template `tpl/release.yml.j2`: job `.gipgee-release`, rendered line 2: sets `needs`, which gipgee manages (the job graph)
              | 2: needs: []
            ",
        )
        .run();
}

#[test]
fn a_custom_template_with_a_misspelled_keyword_gets_a_suggestion() {
    Test::new()
        .gitlab_manual_run()
        .file("gipgee.yaml", CONFIG)
        .file("Containerfile", "FROM scratch\n")
        .file("tpl/build.yml.j2", "imag: x\nscript: [\"true\"]\n")
        .args(&["generate", "--templates", "tpl"])
        .status(1)
        .stderr(
            "
            error: template `tpl/build.yml.j2`: job `.gipgee-build`, rendered line 1: `imag` is not a GitLab job keyword (did you mean `image`?)
              | 1: imag: x
            ",
        )
        .run();
}

#[test]
fn custom_templates_replace_built_ins_by_file_name() {
    let out = Test::new()
        .gitlab_manual_run()
        .file("gipgee.yaml", CONFIG)
        .file("Containerfile", "FROM scratch\n")
        .file(
            "tpl/test.yml.j2",
            "image: my-test-runner\nscript:\n  - {{ (\"run-test \" ~ test.name | sh) | yaml }}\n",
        )
        .args(&["generate", "--templates", "tpl"])
        .any_stdout()
        .run();
    let pipeline: serde_yaml::Value =
        serde_yaml::from_str(&out.read("gipgee-pipeline.yml")).unwrap();
    let test = support::resolve_job(&pipeline, "test:base:smoke");
    assert_eq!(test["script"][0].as_str(), Some("run-test smoke"));
    assert_eq!(test["image"].as_str(), Some("my-test-runner"));
    // The other templates stay built in.
    assert_eq!(
        pipeline[".gipgee-build"]["extends"].as_str(),
        Some(".gipgee-buildah")
    );
}

/// Jobs alike share one rendered body: a template is rendered once per distinct context, so a
/// custom template sees every image's values only as the job variables it documents.
#[test]
fn jobs_alike_share_one_hidden_job_and_carry_their_own_variables() {
    let out = Test::new()
        .gitlab_manual_run()
        .env("GIPGEE_FORCE_AUTOSTART", "true")
        .file(
            "gipgee.yaml",
            "version: 1\ndefaults:\n  staging: registry.example.com/staging\n  tests: [{name: smoke, script: [\"true\"]}]\nimages:\n  a: {baseImage: alpine:3.20, targetLocations: [registry.example.com/a:1]}\n  b: {baseImage: alpine:3.20, targetLocations: [registry.example.com/b:1]}\n  c: {baseImage: alpine:3.20, buildArgs: {X: \"1\"}, targetLocations: [registry.example.com/c:1]}\n",
        )
        .file("Containerfile", "FROM scratch\n")
        .args(&["generate"])
        .any_stdout()
        .run();
    let pipeline: serde_yaml::Value =
        serde_yaml::from_str(&out.read("gipgee-pipeline.yml")).unwrap();
    // A job extends its shared body, then its image's values.
    let extends = |job: &str| -> Vec<String> {
        let list = pipeline[job]["extends"].as_sequence().cloned();
        let names = list.unwrap_or_default().into_iter();
        names
            .filter_map(|n| n.as_str().map(str::to_string))
            .collect()
    };
    assert_eq!(extends("build:a"), [".gipgee-build", ".image:a"]);
    assert_eq!(extends("build:b"), [".gipgee-build", ".image:b"]);
    assert_eq!(
        extends("build:c"),
        [".gipgee-build-2", ".image:c"],
        "other build args"
    );
    for id in ["a", "b", "c"] {
        let values = format!(".image:{id}");
        assert_eq!(
            extends(&format!("test:{id}:smoke")),
            [".gipgee-test", &values]
        );
        assert_eq!(
            extends(&format!("release:{id}")),
            [".gipgee-release", &values]
        );
        let build = support::resolve_job(&pipeline, &format!("build:{id}"));
        assert_eq!(build["stage"].as_str(), Some("gipgee-build"));
        assert_eq!(build["variables"]["GIPGEE_IMAGE_ID"].as_str(), Some(id));
        let release = support::resolve_job(&pipeline, &format!("release:{id}"));
        assert_eq!(
            release["variables"]["GIPGEE_TARGET_IMAGE_1"].as_str(),
            Some(format!("registry.example.com/{id}:1").as_str())
        );
    }
    let build_c = pipeline[".gipgee-build-2"]["script"][0].as_str().unwrap();
    assert!(build_c.contains("--build-arg 'X=1' "), "{build_c}");
    support::tools::check_pipeline(&out.dir, &out.dir.join("gipgee-pipeline.yml"));
}

#[test]
fn a_misnamed_template_file_is_an_error() {
    Test::new()
        .gitlab_manual_run()
        .file("gipgee.yaml", CONFIG)
        .file("Containerfile", "FROM scratch\n")
        .file("tpl/biuld.yml.j2", "")
        .args(&["generate", "--templates", "tpl"])
        .status(1)
        .stderr("error: unknown template `tpl/biuld.yml.j2` (did you mean `build.yml.j2`?): templates are named common.yml.j2, plan.yml.j2, build.yml.j2, test.yml.j2, scan.yml.j2, release.yml.j2, sign.yml.j2, layer-check.yml.j2, update-check.yml.j2, update-check-batch.yml.j2, evaluate.yml.j2, verdict.yml.j2, trigger.yml.j2\n")
        .run();
}

#[test]
fn templates_export_writes_every_built_in_and_keeps_existing_files() {
    let out = Test::new()
        .args(&["templates", "export", "out"])
        .stdout(
            "
            wrote out/common.yml.j2
            wrote out/plan.yml.j2
            wrote out/build.yml.j2
            wrote out/test.yml.j2
            wrote out/scan.yml.j2
            wrote out/release.yml.j2
            wrote out/sign.yml.j2
            wrote out/layer-check.yml.j2
            wrote out/update-check.yml.j2
            wrote out/update-check-batch.yml.j2
            wrote out/evaluate.yml.j2
            wrote out/verdict.yml.j2
            wrote out/trigger.yml.j2
            ",
        )
        .run();
    let built_in = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/components/build.yml.j2"
    ))
    .unwrap();
    assert_eq!(out.read("out/build.yml.j2"), built_in);
    let again = std::process::Command::new(support::GIPGEE)
        .current_dir(&out.dir)
        .args(["templates", "export", "out"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&again.stderr),
        "error: out/common.yml.j2 exists; pass --force to overwrite it\n"
    );
}

#[test]
fn the_schema_accepts_the_bundled_example_and_rejects_unknown_keys() {
    let out = Test::new().args(&["schema"]).any_stdout().run();
    let schema: serde_json::Value = serde_json::from_str(&out.stdout).expect("the schema is JSON");
    assert_eq!(schema["required"], serde_json::json!(["version", "images"]));
    let image_keys: Vec<&str> = schema["definitions"]["image"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert!(
        image_keys.contains(&"targetLocations") && image_keys.contains(&"watchedAssets"),
        "{image_keys:?}"
    );
    std::fs::write(out.dir.join("schema.json"), &out.stdout).unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/basic/gipgee.yaml");
    assert!(
        support::tools::check_against_schema(
            &out.dir.join("schema.json"),
            std::path::Path::new(example)
        )
        .unwrap_or(true)
    );
    let rejected = [
        "version: 1\nimages:\n  a: {baseImage: x, targetLocations: [y], containerfle: z}\n",
        "version: 1\nimages:\n  a: {baseImage: x, targetLocations: [y], tests: [{name: t, script: [a], command: [b]}]}\n",
        "version: 1\nimages:\n  a: {baseImage: x, targetLocations: [y], tests: [{name: t}]}\n",
        "version: 1\nimages:\n  a: {baseImage: x, targetLocations: [y, y]}\n",
        "version: 1\nimages:\n  a: {baseImage: x, targetLocations: [y], watchedAssets: ['']}\n",
        "version: 1\nimages:\n  a: {baseImage: x, targetLocations: [y], watchedAssets: ['a/../../b/**']}\n",
        "version: 1\nimages:\n  a: {baseImage: x, targetLocations: [y], watchedAssets: ['/etc/**']}\n",
        "version: 1\ndefaults: {layerCheck: sometimes}\nimages:\n  a: {baseImage: x, targetLocations: [y], layerCheck: true}\n",
        "version: 1\nimages:\n  a: {baseImage: x, targetLocations: [y], labels: {org.opencontainers.image.title: t}}\n",
        "version: 1\nimages:\n  a: {baseImage: x, targetLocations: [y], annotations: {'bad key': v}}\n",
        "version: 1\nimages:\n  a: {baseImage: x, targetLocations: [y], labels: [a]}\n",
        "version: 1\nimages:\n  a: {baseImage: x, targetLocations: [{immutable: true}]}\n",
        "version: 1\nimages:\n  a: {baseImage: x, targetLocations: [{ref: y, imutable: true}]}\n",
        "version: 1\nimages:\n  a: {baseImage: x, targetLocations: [y], immutableTargets: yes please}\n",
    ];
    let accepted = [
        "version: 1\ndefaults: {labels: {com.example.team: a}}\nimages:\n  a: {baseImage: x, targetLocations: [y], annotations: {com.example/docs: 'https://x', n: 1}}\n",
        "version: 1\ndefaults: {immutableTargets: true}\nimages:\n  a: {baseImage: x, targetLocations: [y, {ref: z, immutable: false}]}\n",
    ];
    for good in accepted {
        std::fs::write(out.dir.join("good.yaml"), good).unwrap();
        let checked = support::tools::check_against_schema(
            &out.dir.join("schema.json"),
            &out.dir.join("good.yaml"),
        );
        assert!(checked.unwrap_or(true), "the schema rejects {good:?}");
    }
    for bad in rejected {
        std::fs::write(out.dir.join("bad.yaml"), bad).unwrap();
        let accepted = support::tools::check_against_schema(
            &out.dir.join("schema.json"),
            &out.dir.join("bad.yaml"),
        );
        assert!(!accepted.unwrap_or(false), "the schema accepts {bad:?}");
    }
}

#[test]
fn the_schema_checks_platforms_runner_tags_and_cache() {
    let out = Test::new().args(&["schema"]).any_stdout().run();
    let schema = out.dir.join("schema.json");
    std::fs::write(&schema, &out.stdout).unwrap();
    let accepts = |text: &str| {
        let file = out.dir.join("config.yaml");
        std::fs::write(&file, text).unwrap();
        support::tools::check_against_schema(&schema, &file)
    };
    let good = "version: 1\ndefaults: {platforms: [linux/amd64, linux/arm64/v8], runnerTags: {linux/arm64: [arm64]}, cache: true}\nimages:\n  a: {baseImage: x, targetLocations: [y]}\n";
    assert_ne!(accepts(good), Some(false), "the schema rejects {good:?}");
    for bad in [
        "version: 1\nimages:\n  a: {baseImage: x, targetLocations: [y], platforms: [linux]}\n",
        "version: 1\nimages:\n  a: {baseImage: x, targetLocations: [y], platforms: []}\n",
        "version: 1\nimages:\n  a: {baseImage: x, targetLocations: [y], platforms: [linux/amd64, linux/amd64]}\n",
        "version: 1\nimages:\n  a: {baseImage: x, targetLocations: [y], runnerTags: {arm64: [a]}}\n",
        "version: 1\nimages:\n  a: {baseImage: x, targetLocations: [y], cache: yes please}\n",
    ] {
        assert_ne!(accepts(bad), Some(true), "the schema accepts {bad:?}");
    }
}

#[test]
fn no_job_has_more_than_50_needs() {
    // 49 tests and a parent release: exactly GitLab's 50 for the child's release.
    let tests: Vec<String> = (0..49)
        .map(|i| format!("{{name: t{i:02}, script: [\"true\"]}}"))
        .collect();
    let config = format!("{CONFIG}    tests: [{}]\n", tests.join(", "));
    let out = Test::new()
        .gitlab_manual_run()
        .env("GIPGEE_FORCE_AUTOSTART", "true")
        .file("gipgee.yaml", &config)
        .file("Containerfile", "FROM scratch\n")
        .args(&["generate"])
        .any_stdout()
        .run();
    let pipeline: serde_yaml::Value =
        serde_yaml::from_str(&out.read("gipgee-pipeline.yml")).unwrap();
    for (name, job) in pipeline.as_mapping().unwrap() {
        let needs = job
            .get("needs")
            .and_then(|n| n.as_sequence())
            .map_or(0, Vec::len);
        assert!(needs <= 50, "{name:?} has {needs} needs");
    }
    let release_needs = pipeline["release:child"]["needs"].as_sequence().unwrap();
    assert_eq!(release_needs.len(), 50);
    assert_eq!(
        release_needs.last().and_then(|n| n.as_str()),
        Some("release:base"),
        "released after its parent"
    );
    support::tools::check_pipeline(&out.dir, &out.dir.join("gipgee-pipeline.yml"));
}

#[test]
fn more_tests_than_gitlab_needs_allow_is_a_config_error() {
    let tests: Vec<String> = (0..50)
        .map(|i| format!("{{name: t{i:02}, script: [\"true\"]}}"))
        .collect();
    let config = format!(
        "version: 1\nimages:\n  many:\n    baseImage: alpine\n    targetLocations: [registry.example.com/many:1]\n    tests: [{}]\n",
        tests.join(", ")
    );
    let out = Test::new()
        .file("gipgee.yaml", &config)
        .file("Containerfile", "FROM scratch\n")
        .args(&["validate"])
        .status(1)
        .any_stderr()
        .run();
    assert!(
        out.stderr.starts_with("error: 50 tests: expected at most 49 (the release job waits for every test and for the parent's release, and GitLab allows 50 `needs`)\n --> gipgee.yaml:6:12\n"),
        "{}",
        out.stderr
    );
}

/// Regression: the evaluate job of an update-check pipeline generated with `--templates DIR`
/// must regenerate the rebuild pipeline with DIR too; it used to pass on only the
/// GIPGEE_TEMPLATES_DIR variable and lost the flag.
#[test]
fn the_templates_flag_reaches_the_evaluate_job() {
    let out = Test::new()
        .env("CI_PIPELINE_SOURCE", "schedule")
        .env("CI_DEFAULT_BRANCH", "main")
        .env("CI_COMMIT_BRANCH", "main")
        .env("CI_PIPELINE_ID", "4242")
        .file("gipgee.yaml", CONFIG)
        .file("Containerfile", "FROM scratch\n")
        .file(
            "ci/templates/plan.yml.j2",
            "image: busybox\nscript: [\"true\"]\n",
        )
        .args(&[
            "generate",
            "--templates",
            "ci/templates",
            "--output",
            "check.yml",
        ])
        .any_stdout()
        .run();
    let pipeline: serde_yaml::Value = serde_yaml::from_str(&out.read("check.yml")).unwrap();
    let script = pipeline["evaluate"]["script"][0]
        .as_str()
        .unwrap_or_default();
    assert!(
        script.ends_with(" --templates ci/templates"),
        "the evaluate job runs: {script}"
    );
    assert_eq!(pipeline["gipgee:plan"]["image"].as_str(), Some("busybox"));
}

/// Without git the changes of a push are unknown; building (and releasing) every image on
/// every push would be the silent result, so it is an error naming git instead.
#[test]
fn a_missing_git_is_an_error_not_all_images() {
    let empty = tempfile::tempdir().expect("tempdir");
    Test::new()
        .env("CI_PIPELINE_SOURCE", "push")
        .env("CI_DEFAULT_BRANCH", "main")
        .env("CI_COMMIT_BRANCH", "main")
        .env("CI_COMMIT_BEFORE_SHA", "1111111111111111111111111111111111111111")
        .env("PATH", empty.path().to_str().expect("a UTF-8 path"))
        .file("gipgee.yaml", CONFIG)
        .file("Containerfile", "FROM scratch\n")
        .args(&["generate"])
        .status(1)
        .stdout("")
        .stderr(
            "
            error: cannot run `git` (No such file or directory (os error 2)): gipgee needs git to find what this pipeline changed; run it in an image that has git (the gipgee image has)
            ",
        )
        .run();
}

#[test]
fn a_template_that_loops_without_end_runs_out_of_fuel() {
    Test::new()
        .gitlab_manual_run()
        .file("gipgee.yaml", CONFIG)
        .file("Containerfile", "FROM scratch\n")
        .file(
            "tpl/build.yml.j2",
            "image: x\nscript:\n{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}  - \"true\"\n",
        )
        .args(&["generate", "--templates", "tpl"])
        .status(1)
        .stderr("error: template `tpl/build.yml.j2`, line 3: does more work than a job template may (minijinja fuel 100000): does a loop run too long?\n")
        .run();
}

#[test]
fn a_template_that_renders_too_much_text_is_stopped() {
    Test::new()
        .gitlab_manual_run()
        .file("gipgee.yaml", CONFIG)
        .file("Containerfile", "FROM scratch\n")
        .file(
            "tpl/build.yml.j2",
            "image: x\nscript:\n  - {{ (\"x\" * 300000) | yaml }}\n",
        )
        .args(&["generate", "--templates", "tpl"])
        .status(1)
        .stderr("error: template `tpl/build.yml.j2`: renders more than 256 KiB of text, the most a job template may (a GitLab job is a few KiB)\n")
        .run();
}

#[test]
fn an_output_that_is_an_input_is_refused_and_the_input_kept() {
    // (arguments, the error)
    let cases: &[(&[&str], &str)] = &[
        (
            &["generate", "--output", "gipgee.yaml"],
            "error: gipgee.yaml is the configuration (gipgee.yaml), which this command reads: write to another file\n",
        ),
        (
            &["generate", "-o", "./ci/../gipgee.yaml"],
            "error: ./ci/../gipgee.yaml is the configuration (gipgee.yaml), which this command reads: write to another file\n",
        ),
        (
            &["generate", "-o", "link.yaml"],
            "error: link.yaml is the configuration (gipgee.yaml), which this command reads: write to another file\n",
        ),
        (
            &["generate", "--templates", "tpl", "-o", "tpl/build.yml.j2"],
            "error: tpl/build.yml.j2 is inside the templates directory (tpl), which this command reads: write to another file\n",
        ),
        (
            &[
                "generate",
                "--mode",
                "rebuild",
                "--selection",
                "selection.json",
                "-o",
                "selection.json",
            ],
            "error: selection.json is the selection file (selection.json), which this command reads: write to another file\n",
        ),
        (
            &["layer-check", "--output", "link.yaml"],
            "error: link.yaml is the configuration (gipgee.yaml), which this command reads: write to another file\n",
        ),
        (
            &[
                "evaluate",
                "--results",
                "results",
                "--output",
                "rebuild.yml",
                "--junit",
                "gipgee.yaml",
            ],
            "error: gipgee.yaml is the configuration (gipgee.yaml), which this command reads: write to another file\n",
        ),
        (
            &[
                "evaluate",
                "--results",
                "results",
                "--output",
                "results/layer-check.json",
            ],
            "error: results/layer-check.json is inside the results directory (results), which this command reads: write to another file\n",
        ),
        (
            &["migrate", "--input", "gipgee.yaml", "--output", "link.yaml"],
            "error: link.yaml is the original configuration (gipgee.yaml), which this command reads: write to another file\n",
        ),
    ];
    for (args, error) in cases {
        let test = Test::new()
            .gitlab_manual_run()
            .file("gipgee.yaml", CONFIG)
            .file("Containerfile", "FROM scratch\n")
            .file("tpl/build.yml.j2", "image: x\nscript: [\"true\"]\n")
            .file("selection.json", r#"{"images": {"base": "stale"}}"#)
            .file("results/layer-check.json", "{}")
            .args(args)
            .status(1)
            .stderr(error);
        std::os::unix::fs::symlink("gipgee.yaml", test.dir().join("link.yaml")).unwrap();
        let out = test.run();
        assert_eq!(
            out.read("gipgee.yaml"),
            support::unindent(CONFIG),
            "{args:?}"
        );
        assert_eq!(
            out.read("selection.json"),
            r#"{"images": {"base": "stale"}}"#
        );
        assert_eq!(out.read("results/layer-check.json"), "{}");
    }
}

#[test]
fn generate_leaves_no_temporary_file_beside_the_pipeline() {
    let out = Test::new()
        .gitlab_manual_run()
        .file("gipgee.yaml", CONFIG)
        .file("Containerfile", "FROM scratch\n")
        .args(&["generate", "--output", "ci/child.yml"])
        .any_stdout()
        .run();
    let names: Vec<String> = std::fs::read_dir(out.dir.join("ci"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["child.yml"]);
}

#[test]
fn a_custom_template_may_not_write_a_word_yaml_1_1_reads_as_another_type() {
    Test::new()
        .gitlab_manual_run()
        .file("gipgee.yaml", CONFIG)
        .file("Containerfile", "FROM scratch\n")
        .file(
            "tpl/release.yml.j2",
            "script: [\"true\", \"yes\"]\nallow_failure: yes\n",
        )
        .args(&["generate", "--templates", "tpl"])
        .status(1)
        .stderr(
            "
            error: template `tpl/release.yml.j2`: job `.gipgee-release`, rendered line 2: `yes` is written plain: GitLab (YAML 1.1) reads it as a boolean, gipgee (YAML 1.2) as a string; write `true`/`false` or a number if you mean one, or quote it
              | 2: allow_failure: yes
            ",
        )
        .run();
}

#[test]
fn shards_are_made_smaller_until_every_file_fits_the_yaml_budget() {
    let out = Test::new()
        .gitlab_manual_run()
        .env("GIPGEE_FORCE_AUTOSTART", "true")
        .env("GIPGEE_MAX_YAML_BYTES", "3000")
        .file("gipgee.yaml", CONFIG)
        .file("Containerfile", "FROM scratch\n")
        .args(&["generate", "--output", "child.yml"])
        .any_stdout()
        .run();
    // 500 jobs fit, 3000 bytes per file do not: base and child go to shards of their own.
    let files = ["child.yml", "child-shard-1.yml", "child-shard-2.yml"];
    for file in files {
        let size = out.read(file).len();
        assert!(size <= 3000, "{file} is {size} bytes");
    }
    let second: serde_yaml::Value = serde_yaml::from_str(&out.read("child-shard-2.yml")).unwrap();
    assert!(second.get("build:child").is_some(), "{second:?}");
    assert!(!out.dir.join("child-shard-3.yml").exists());
}

#[test]
fn an_update_check_that_fits_no_layout_is_an_error_naming_the_limit() {
    // 4 jobs: the rebuild of both images needs 2 shards (base's 3 jobs and the plan job fill
    // one), and the update check's plan, layer check, evaluate, 2 rebuild triggers and verdict
    // are already more.
    Test::new()
        .gitlab_manual_run()
        .env("CI_PIPELINE_SOURCE", "schedule")
        .env("GIPGEE_MAX_JOBS", "4")
        .file("gipgee.yaml", CONFIG)
        .file("Containerfile", "FROM scratch\n")
        .args(&["generate", "--output", "child.yml"])
        .status(1)
        .stderr(
            "error: the scheduled update check fits GitLab's limits in no layout: the update-check pipeline: its 6 jobs besides the update checks (plan, layer check, evaluate, the rebuild trigger jobs, verdict) leave no room for a job checking the images. Raise GIPGEE_MAX_JOBS or GIPGEE_MAX_YAML_BYTES (component inputs `max_jobs`, `max_yaml_bytes`) if your GitLab allows more\n",
        )
        .run();
}

#[test]
fn a_limit_that_is_not_a_number_is_an_error() {
    Test::new()
        .gitlab_manual_run()
        .env("GIPGEE_MAX_JOBS", "lots")
        .file("gipgee.yaml", CONFIG)
        .file("Containerfile", "FROM scratch\n")
        .args(&["generate", "--output", "child.yml"])
        .status(1)
        .stderr("error: GIPGEE_MAX_JOBS is `lots`: expected a whole number of at least 3 (default 500)\n")
        .run();
}

/// Two images, neither built on the other.
const INDEPENDENT: &str = "
version: 1
defaults:
  staging: registry.example.com/staging
  tests: [{name: smoke, script: [\"true\"]}]
images:
  one:
    baseImage: alpine:3.20
    targetLocations: [registry.example.com/one:1]
  two:
    baseImage: alpine:3.20
    targetLocations: [registry.example.com/two:1]
";

#[test]
fn independent_shards_run_at_once_unless_they_are_to_run_in_sequence() {
    let shard_2_needs = |sequential: &str| -> serde_yaml::Value {
        let out = Test::new()
            .gitlab_manual_run()
            .env("GIPGEE_MAX_JOBS", "4")
            .env("GIPGEE_SEQUENTIAL_SHARDS", sequential)
            .file("gipgee.yaml", INDEPENDENT)
            .file("Containerfile", "FROM scratch\n")
            .args(&["generate", "--output", "child.yml"])
            .any_stdout()
            .run();
        let dispatcher: serde_yaml::Value = serde_yaml::from_str(&out.read("child.yml")).unwrap();
        dispatcher["gipgee:shard:2"]["needs"].clone()
    };
    let yaml = |text: &str| serde_yaml::from_str::<serde_yaml::Value>(text).unwrap();
    assert_eq!(shard_2_needs("false"), yaml("[gipgee:shards]"));
    assert_eq!(
        shard_2_needs("true"),
        yaml("[gipgee:shards, gipgee:shard:1]")
    );
}

/// A chain a → b → c too large for one rebuild shard, and d beside it; a smoke test each.
const CHAIN_AND_ONE: &str = "
version: 1
defaults:
  staging: registry.example.com/staging
  tests: [{name: smoke, script: [\"true\"]}]
  updateCheck: {command: [\"true\"]}
images:
  a:
    baseImage: alpine:3.20
    targetLocations: [registry.example.com/a:1]
  b:
    baseImage: registry.example.com/a:1
    targetLocations: [registry.example.com/b:1]
  c:
    baseImage: registry.example.com/b:1
    targetLocations: [registry.example.com/c:1]
  d:
    baseImage: alpine:3.20
    targetLocations: [registry.example.com/d:1]
";

/// The jobs of a pipeline file, in order.
fn job_names(pipeline: &serde_yaml::Value) -> Vec<String> {
    pipeline
        .as_mapping()
        .expect("a pipeline is a mapping")
        .keys()
        .filter_map(|k| k.as_str())
        .filter(|k| !k.starts_with('.') && !["stages", "workflow"].contains(k))
        .map(String::from)
        .collect()
}

#[test]
fn an_update_check_over_the_job_limit_batches_its_checks_and_shards_its_rebuild() {
    // 8 jobs per pipeline: the rebuild of every image (13 jobs) is laid out in 2 shards (a, b |
    // d, and c after a and b); the update check then has 6 jobs besides the checks, so its 4 checks
    // run in 2 batches.
    let out = Test::new()
        .env("CI_PIPELINE_SOURCE", "schedule")
        .env("CI_DEFAULT_BRANCH", "main")
        .env("CI_COMMIT_BRANCH", "main")
        .env("CI_PIPELINE_ID", "4242")
        .env("GIPGEE_MAX_JOBS", "8")
        .file("gipgee.yaml", CHAIN_AND_ONE)
        .file("Containerfile", "FROM scratch\n")
        .args(&["generate", "--output", "check.yml"])
        .stdout(
            "
            gipgee plan: scheduled update check; nothing is released
              check  a  layer check against docker.io/library/alpine:3.20; `true` in registry.example.com/a:1
              check  d  layer check against docker.io/library/alpine:3.20; `true` in registry.example.com/d:1
              check  b  layer check against registry.example.com/a:1; `true` in registry.example.com/b:1
              check  c  layer check against registry.example.com/b:1; `true` in registry.example.com/c:1
            4 images are checked; stale images and the images built on them are rebuilt by a rebuild pipeline.
            pipeline 1 of 1 (check.yml): 8 jobs, 6 KiB
            limits: 8 jobs per pipeline (GIPGEE_MAX_JOBS), 1048576 bytes per file (GIPGEE_MAX_YAML_BYTES)
            the rebuild of every image does not fit one pipeline: it is laid out in 2 shards (gipgee-rebuild-layout.json), each a rebuild pipeline `evaluate` writes (gipgee-rebuild-<k>.yml) and `rebuild:<k>` starts
            Wrote check.yml, gipgee-rebuild-layout.json.
            ",
        )
        .run();
    support::tools::check_pipeline(&out.dir, &out.dir.join("check.yml"));
    let pipeline: serde_yaml::Value = serde_yaml::from_str(&out.read("check.yml")).unwrap();
    assert_eq!(
        job_names(&pipeline),
        [
            "gipgee:plan",
            "layer-check",
            "update-check:batch:1",
            "update-check:batch:2",
            "evaluate",
            "rebuild:1",
            "rebuild:2",
            "gipgee:verdict"
        ]
    );
    let layout: serde_json::Value =
        serde_json::from_str(&out.read("gipgee-rebuild-layout.json")).unwrap();
    assert_eq!(
        layout,
        serde_json::json!([
            {"images": ["a", "b"], "jobs": 7, "after": []},
            {"images": ["d", "c"], "jobs": 7, "after": [0]}
        ])
    );
    // The plan job brings the layout from the generate job; evaluate reads it.
    let plan = &pipeline["gipgee:plan"];
    assert_eq!(plan["needs"][0]["pipeline"].as_str(), Some("4242"));
    assert_eq!(
        plan["artifacts"]["paths"][0].as_str(),
        Some("gipgee-rebuild-layout.json")
    );
    let evaluate = pipeline["evaluate"]["script"][0].as_str().unwrap();
    assert!(
        evaluate.ends_with(" --rebuild-layout gipgee-rebuild-layout.json"),
        "{evaluate}"
    );
    let needs = |job: &str| -> Vec<&str> {
        pipeline[job]["needs"]
            .as_sequence()
            .map(|n| n.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default()
    };
    assert_eq!(needs("rebuild:1"), ["evaluate"]);
    assert_eq!(needs("rebuild:2"), ["evaluate", "rebuild:1"]);
    // The verdict waits for every trigger job through stage order.
    assert_eq!(needs("gipgee:verdict"), Vec::<&str>::new());
    assert_eq!(
        pipeline["rebuild:2"]["trigger"]["include"][0]["artifact"].as_str(),
        Some("gipgee-rebuild-2.yml")
    );
    // Each batch checks its images in their released images, with the same result files.
    // Plan order: a, d | b, c.
    let batch = support::resolve_job(&pipeline, "update-check:batch:2");
    let script: Vec<&str> = batch["script"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|l| l.as_str())
        .collect();
    assert!(
        script.contains(&"gipgee_check c registry.example.com/c:1 true run true"),
        "{script:#?}"
    );
    assert_eq!(
        batch["artifacts"]["paths"],
        serde_yaml::from_str::<serde_yaml::Value>("[gipgee-results/update-check/]").unwrap()
    );

    // c is stale: evaluate keeps it in shard 2 (after a and b's shard), shard 1 rebuilds nothing.
    let results = out.dir.join("gipgee-results/update-check");
    std::fs::create_dir_all(&results).unwrap();
    for id in ["a", "b", "d"] {
        std::fs::write(results.join(format!("{id}.result")), "NO_UPGRADE_NEEDED\n").unwrap();
    }
    std::fs::write(results.join("c.result"), "UPGRADE_NEEDED\nx 1 -> 2\n").unwrap();
    let mut cmd = evaluate_rebuild_layout(&out.dir, 8);
    let stdout = support::run(&mut cmd);
    assert!(
        stdout.ends_with(
            "Wrote the rebuild pipeline to gipgee-rebuild-1.yml, gipgee-rebuild-2.yml.\n"
        ),
        "{stdout}"
    );
    assert!(!out.dir.join("gipgee-rebuild.yml").exists());
    let first: serde_yaml::Value = serde_yaml::from_str(&out.read("gipgee-rebuild-1.yml")).unwrap();
    assert_eq!(job_names(&first), ["gipgee:plan"]);
    let second: serde_yaml::Value =
        serde_yaml::from_str(&out.read("gipgee-rebuild-2.yml")).unwrap();
    assert_eq!(
        job_names(&second),
        ["gipgee:plan", "build:c", "test:c:smoke", "release:c"]
    );
    for file in ["gipgee-rebuild-1.yml", "gipgee-rebuild-2.yml"] {
        support::tools::check_pipeline(&out.dir, &out.dir.join(file));
    }

    // A layout without a shard for a rebuilt image (the config changed after `generate`) is an
    // error for the rebuild, recorded for the verdict; the report is still printed.
    std::fs::write(
        out.dir.join("gipgee-rebuild-layout.json"),
        r#"[{"images": ["a", "b", "d"], "jobs": 7, "after": []}]"#,
    )
    .unwrap();
    let failed = cmd.output().unwrap();
    assert_eq!(failed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    let problem = "the rebuild layout (`gipgee-rebuild-layout.json`, made by the `generate` job of this schedule) has no shard for image `c`: the configuration changed between `generate` and `evaluate`";
    assert_eq!(stderr, format!("error: {problem}\n"));
    assert!(
        out.read("gipgee-results/errors.txt").contains(problem),
        "the verdict fails naming it"
    );
}

/// 25 chains of two images (`p<i>` and `c<i>` built on it), 49 tests each: the rebuild of every
/// image is 50 images of 51 jobs.
fn fifty_large_images() -> String {
    let tests: Vec<String> = (0..49)
        .map(|i| format!("{{name: t{i}, script: [\"true\"]}}"))
        .collect();
    let mut config = format!(
        "version: 1\ndefaults:\n  staging: registry.example.com/staging\n  updateCheck: {{command: [\"true\"]}}\n  tests: [{}]\nimages:\n",
        tests.join(", ")
    );
    for i in 0..25 {
        config.push_str(&format!(
            "  p{i:02}: {{baseImage: \"alpine:3.20\", targetLocations: [\"registry.example.com/p{i:02}:1\"]}}\n  c{i:02}: {{baseImage: \"registry.example.com/p{i:02}:1\", targetLocations: [\"registry.example.com/c{i:02}:1\"]}}\n"
        ));
    }
    config
}

/// The most `needs` of one job of `pipeline`, and that job.
fn most_needs(pipeline: &serde_yaml::Value) -> (usize, String) {
    job_names(pipeline)
        .into_iter()
        .map(|job| {
            let needs = support::resolve_job(pipeline, &job)
                .get("needs")
                .and_then(|n| n.as_sequence())
                .map_or(0, Vec::len);
            (needs, job)
        })
        .max()
        .unwrap_or_default()
}

#[test]
fn an_update_check_whose_rebuild_needs_more_shards_than_a_job_may_need_stays_within_the_limits() {
    // 56 jobs per pipeline: each image (51 jobs) takes a rebuild shard of its own, 50 shards,
    // each child's after its parent's. The update check: plan, layer check, evaluate, 50 rebuild
    // triggers, the verdict and 2 batches of checks — the verdict cannot `need` 50 triggers
    // and evaluate, so it waits for them through stage order.
    let out = Test::new()
        .env("CI_PIPELINE_SOURCE", "schedule")
        .env("CI_DEFAULT_BRANCH", "main")
        .env("CI_COMMIT_BRANCH", "main")
        .env("CI_PIPELINE_ID", "4242")
        .env("GIPGEE_MAX_JOBS", "56")
        .file("gipgee.yaml", &fifty_large_images())
        .file("Containerfile", "FROM scratch\n")
        .args(&["generate", "--output", "check.yml"])
        .any_stdout()
        .run();
    support::tools::check_pipeline(&out.dir, &out.dir.join("check.yml"));
    let pipeline: serde_yaml::Value = serde_yaml::from_str(&out.read("check.yml")).unwrap();
    let jobs = job_names(&pipeline);
    assert_eq!(jobs.len(), 56, "{jobs:?}");
    let triggers: Vec<&String> = jobs.iter().filter(|j| j.starts_with("rebuild:")).collect();
    assert_eq!(triggers.len(), 50, "{jobs:?}");
    let (most, job) = most_needs(&pipeline);
    assert!(most <= 50, "`{job}` has {most} needs");
    assert_eq!(
        pipeline["rebuild:2"]["needs"],
        serde_yaml::from_str::<serde_yaml::Value>("[evaluate, rebuild:1]").unwrap()
    );
    // The verdict: no `needs`, in the last stage, after every trigger job's stage; always
    // run; evaluate's artifacts only.
    let verdict = support::resolve_job(&pipeline, "gipgee:verdict");
    assert_eq!(verdict.get("needs"), None, "{verdict:?}");
    assert_eq!(verdict["when"].as_str(), Some("always"));
    assert_eq!(
        verdict["dependencies"],
        serde_yaml::from_str::<serde_yaml::Value>("[evaluate]").unwrap()
    );
    let stages: Vec<&str> = pipeline["stages"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    let position = |job: &str| {
        let stage = pipeline[job]["stage"].as_str().unwrap();
        stages.iter().position(|s| *s == stage).unwrap()
    };
    assert_eq!(position("gipgee:verdict"), stages.len() - 1, "{stages:?}");
    for job in jobs.iter().filter(|j| *j != "gipgee:verdict") {
        assert!(position(job) < position("gipgee:verdict"), "{job}");
    }

    // p03 is stale: evaluate writes all 50 rebuild pipelines, p03's and c03's with their
    // jobs, every one valid and within the limits.
    let results = out.dir.join("gipgee-results/update-check");
    std::fs::create_dir_all(&results).unwrap();
    for i in 0..25 {
        for id in [format!("p{i:02}"), format!("c{i:02}")] {
            let result = match id.as_str() {
                "p03" => "UPGRADE_NEEDED\nx 1 -> 2\n",
                _ => "NO_UPGRADE_NEEDED\n",
            };
            std::fs::write(results.join(format!("{id}.result")), result).unwrap();
        }
    }
    support::run(&mut evaluate_rebuild_layout(&out.dir, 56));
    let files: Vec<std::path::PathBuf> = (1..=50)
        .map(|k| out.dir.join(format!("gipgee-rebuild-{k}.yml")))
        .collect();
    let mut rebuilt = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let rebuild: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        let jobs = job_names(&rebuild);
        assert!(jobs.len() <= 56, "{}: {jobs:?}", file.display());
        let (most, job) = most_needs(&rebuild);
        assert!(most <= 50, "{}: `{job}` has {most} needs", file.display());
        rebuilt.extend(jobs.into_iter().filter(|j| j.starts_with("build:")));
    }
    assert_eq!(rebuilt, ["build:p03", "build:c03"]);
    assert!(!out.dir.join("gipgee-rebuild-51.yml").exists());
    support::tools::check_schema_of_all(&files);
}

#[test]
fn an_update_check_over_the_yaml_budget_checks_its_images_in_fewer_batches() {
    // 40 images, 30 jobs per pipeline: the checks fit 20 batches; with a budget a tenth below
    // the bytes of those, fewer, larger batches (each batch job has its own lines: its name,
    // its needs, the end of its script).
    let mut config = String::from(
        "version: 1\ndefaults:\n  staging: registry.example.com/staging\n  updateCheck: {command: [\"true\"]}\nimages:\n",
    );
    for i in 0..40 {
        config.push_str(&format!(
            "  i{i:02}: {{baseImage: \"alpine:3.20\", targetLocations: [\"registry.example.com/i{i:02}:1\"]}}\n"
        ));
    }
    let generate = |budget: &str| {
        Test::new()
            .env("CI_PIPELINE_SOURCE", "schedule")
            .env("CI_DEFAULT_BRANCH", "main")
            .env("CI_COMMIT_BRANCH", "main")
            .env("GIPGEE_MAX_JOBS", "30")
            .env("GIPGEE_MAX_YAML_BYTES", budget)
            .file("gipgee.yaml", &config)
            .file("Containerfile", "FROM scratch\n")
            .args(&["generate", "--output", "check.yml"])
            .any_stdout()
            .run()
    };
    let batches = |pipeline: &serde_yaml::Value| -> Vec<String> {
        job_names(pipeline)
            .into_iter()
            .filter(|job| job.starts_with("update-check:batch:"))
            .collect()
    };
    let roomy = generate("1048576").read("check.yml");
    let budget = roomy.len() * 9 / 10;
    let roomy: serde_yaml::Value = serde_yaml::from_str(&roomy).unwrap();
    let as_many_as_fit = batches(&roomy).len();
    assert!(as_many_as_fit > 10, "{as_many_as_fit} batches");

    let out = generate(&budget.to_string());
    let text = out.read("check.yml");
    assert!(text.len() <= budget, "{} bytes", text.len());
    support::tools::check_pipeline(&out.dir, &out.dir.join("check.yml"));
    let pipeline: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let fewer = batches(&pipeline);
    assert!(
        fewer.len() > 1 && fewer.len() < as_many_as_fit,
        "{} batches of {as_many_as_fit}",
        fewer.len()
    );
    // Every image is still checked, once.
    let mut checked: Vec<String> = fewer
        .iter()
        .flat_map(|job| {
            pipeline[job.as_str()]["script"]
                .as_sequence()
                .unwrap()
                .iter()
                .filter_map(|line| line.as_str()?.strip_prefix("gipgee_check "))
                .map(|args| args.split(' ').next().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    checked.sort();
    let expected: Vec<String> = (0..40).map(|i| format!("i{i:02}")).collect();
    assert_eq!(checked, expected);
}

/// `gipgee evaluate --rebuild-layout` in `dir` (the results and the layout of a scheduled run
/// there) as the evaluate job of a scheduled pipeline with a job limit of `max_jobs` runs it.
fn evaluate_rebuild_layout(dir: &std::path::Path, max_jobs: usize) -> std::process::Command {
    let mut cmd = std::process::Command::new(support::GIPGEE);
    cmd.current_dir(dir)
        .args(["evaluate", "--results", "gipgee-results", "--output"])
        .args(["gipgee-rebuild.yml", "--rebuild-layout"])
        .arg("gipgee-rebuild-layout.json")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs([
            ("CI_PIPELINE_SOURCE", "schedule"),
            ("CI_DEFAULT_BRANCH", "main"),
            ("CI_COMMIT_BRANCH", "main"),
            ("CI_PIPELINE_ID", "4343"),
        ])
        .env("GIPGEE_MAX_JOBS", max_jobs.to_string())
        .env("CI_COMMIT_SHA", support::git(dir, &["rev-parse", "HEAD"]));
    cmd
}
