//! `gipgee migrate`: configurations in the original gipgee's format (fixtures in
//! tests/migrate/) become gipgee.yaml version 1 that validates and plans the same images with
//! the same parent/child structure; what version 1 cannot express is an error.

use crate::support::Test;

const PARENT_CHILD: &str = include_str!("migrate/original-parent-child.yml");
const TWO_ACCOUNTS: &str = include_str!("migrate/original-two-accounts.yml");

#[test]
fn an_original_config_becomes_one_that_validates_and_plans_the_same_images() {
    let out = Test::new()
        .file("original.yml", PARENT_CHILD)
        .args(&[
            "migrate",
            "--input",
            "original.yml",
            "--output",
            "gipgee.yaml",
        ])
        .stdout("Wrote gipgee.yaml.\n")
        .run();
    let converted = out.read("gipgee.yaml");
    insta::assert_snapshot!("migrated-parent-child", converted);

    // The repository the original configuration describes.
    let repository = |test: Test| {
        test.file("gipgee.yaml", &converted)
            .file("images/Containerfile", "FROM scratch\n")
            .file("images/Containerfile.non-root", "FROM scratch\n")
    };
    repository(Test::new())
        .args(&["validate"])
        .stdout("gipgee.yaml: ok (4 images)\n")
        .run();
    // The children are still built on their parents: in a manual run they build FROM the
    // parents' staging images.
    let plan = repository(Test::new().gitlab_manual_run())
        .args(&["plan"])
        .any_stdout()
        .run();
    for child in ["alpine-non-root", "ubi-non-root"] {
        assert!(
            plan.stdout
                .lines()
                .any(|line| line.contains(&format!("build  {child} "))
                    && line.contains("FROM the parent's staging image")),
            "{child} is built on its parent:\n{}",
            plan.stdout
        );
    }
}

#[test]
fn one_registry_with_two_accounts_is_an_error_naming_both() {
    let out = Test::new()
        .file("original.yml", TWO_ACCOUNTS)
        .args(&["migrate", "--input", "original.yml"])
        .status(1)
        .any_stderr()
        .run();
    assert!(out.stdout.is_empty(), "nothing converted: {}", out.stdout);
    assert!(
        out.stderr
            .contains("registry `registry.example.com` logs in as `reader`")
            && out.stderr.contains("and as `pusher`"),
        "{}",
        out.stderr
    );
}

#[test]
fn validate_on_an_original_config_says_to_migrate() {
    Test::new()
        .file("gipgee.yaml", PARENT_CHILD)
        .args(&["validate"])
        .status(1)
        .stderr(
            "
            error: `quirks` belongs to the original gipgee format, not to version 1
             --> gipgee.yaml:4:1
              |
            4 | quirks:
              | ^^^^^^
              = help: `gipgee migrate --input FILE --output gipgee.yaml` converts it
            ",
        )
        .run();
}

#[test]
fn migrate_never_writes_over_the_original() {
    let out = Test::new()
        .file("gipgee.yaml", PARENT_CHILD)
        .args(&["migrate", "--output", "./gipgee.yaml"])
        .status(1)
        .any_stderr()
        .run();
    assert!(
        out.stderr.contains("is the original configuration"),
        "{}",
        out.stderr
    );
    assert_eq!(out.read("gipgee.yaml"), PARENT_CHILD.to_string());
}
