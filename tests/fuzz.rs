//! Property test over generated inputs: random gipgee.yaml files (image graphs with parents
//! and children, hostile ids, test names, script lines and build args, target locations,
//! watched globs, defaults — valid ones and slightly broken ones) in small git histories
//! (a few commits touching watched files, containerfiles and the config), planned and generated
//! by the real binary under a random pipeline run (push, branch, merge request, manual,
//! schedule, tag, rebuild).
//!
//! Properties:
//! * never a panic, a hang, or an "internal error": the binary exits 0 or 1;
//! * an input the generator made valid is accepted by `validate` and `generate`; an input with
//!   a defect the configuration must reject is rejected, with `gipgee.yaml:line:col` where the
//!   defect is in the file; `generate` accepts nothing `validate` rejects;
//! * a rejected `generate` writes no pipeline; in an accepted one every job has at most 50
//!   `needs`, each naming a job of the pipeline, and a second `generate` writes the same bytes
//!   (checked on every fourth case: it costs a run);
//! * every accepted pipeline passes GitLab's CI schema (check-jsonschema `vendor.gitlab-ci`,
//!   one invocation for the whole batch because its start-up costs about a second) and reads
//!   back, in Ruby's Psych (the YAML 1.1 parser GitLab uses), as the document a YAML 1.2
//!   parser reads ([`check_psych_round_trip`]). Without check-jsonschema or ruby these checks
//!   are skipped with a message, or fail under GIPGEE_REQUIRE_TOOLS (`scripts/test.sh`).
//!
//! proptest supplies the strategies and the value trees that shrink a failing case; the test
//! drives them itself instead of through proptest's runner, because the external checks run
//! once over the batch of all accepted pipelines, after the cases, and a failure there is
//! shrunk from the case's seed.
//!
//! Reproducible: every case is generated from its own seed, derived from [`SEED`] and its
//! number, so a run is the same on every machine. A failure is shrunk to a minimal input with
//! proptest's value trees and printed with its files, history and variables, and its seed goes
//! into `proptest-regressions/fuzz.txt`, which is committed: its seeds run first on every run,
//! so a fixed bug stays fixed. `PROPTEST_CASES=2000` runs more cases, `GIPGEE_FUZZ_SEED=<n>`
//! explores other seeds (a failure found that way is persisted the same way).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as ProptestConfig, RngSeed, TestRunner};

use crate::support::{self, GIPGEE, tools};

/// The seed of the committed run; the case seeds are `SEED + n`.
const SEED: u64 = 0x6769_7067_6565;
/// Cases per `cargo test` run: about 20 s on an idle 2-core machine with the external checks,
/// about a minute on a busy one.
const CASES: u32 = 120;
/// Where found failures are kept (their seeds), relative to the crate.
const REGRESSIONS: &str = "proptest-regressions/fuzz.txt";
/// One gipgee run longer than this is a hang.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// At most this many shrink steps (each one or more gipgee runs; with the schema check, a
/// check-jsonschema start-up each).
const MAX_SHRINK_STEPS: usize = 200;
const MAX_SCHEMA_SHRINK_STEPS: usize = 40;

// ---------------------------------------------------------------------------------------------
// The generated input

/// A string and how it is written in gipgee.yaml.
#[derive(Debug, Clone)]
struct Text {
    value: String,
    style: Style,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Style {
    /// `"…"` with escapes: always the string itself.
    Double,
    /// `'…'` (written double-quoted when the text holds a line break or control character).
    Single,
    /// As it is: a YAML parser may read another type or another structure.
    Plain,
}

#[derive(Debug, Clone)]
struct Case {
    config: ConfigSpec,
    history: History,
    run: RunSpec,
    /// Whether a push to the default branch reads the revisions of the released images. Their
    /// registry here refuses connections, and the client's retries cost seconds per run, so
    /// most cases turn the rule off (`GIPGEE_RELEASED_REVISION_CHECK=false`).
    released_revision_check: bool,
}

#[derive(Debug, Clone)]
struct ConfigSpec {
    images: Vec<ImageSpec>,
    defaults: DefaultsSpec,
    registry: bool,
    /// The defaults' tests carry an anchor that images without tests of their own use.
    anchor: bool,
    /// Windows line ends (`\r\n`).
    crlf: bool,
    flaw: Option<Flaw>,
}

#[derive(Debug, Clone)]
struct DefaultsSpec {
    staging: bool,
    tests: Vec<TestSpec>,
    build_args: Vec<(usize, Text)>,
    watched: Vec<usize>,
    layer_check: Option<bool>,
}

#[derive(Debug, Clone)]
struct ImageSpec {
    id: Text,
    /// Built on an earlier image (the index is reduced modulo this image's position).
    parent: Option<usize>,
    /// Otherwise built on [`EXTERNAL_BASES`]`[base]`.
    base: usize,
    tags: Vec<Text>,
    layout: Layout,
    watched: Vec<usize>,
    build_args: Vec<(usize, Text)>,
    tests: Vec<TestSpec>,
    /// 49 tests, the most an image may have (its release then has 50 `needs` with a parent).
    most_tests: bool,
    update_check: UpdateCheckSpec,
    layer_check: Option<bool>,
    staging: bool,
    /// `scan:`, when written.
    scan: Option<bool>,
    /// `sign:`: not written (0), `keyless` (1), a key (2), `false` (3).
    sign: u8,
}

#[derive(Debug, Clone, Copy)]
enum Layout {
    /// No `context`/`containerfile`: the repository root and its Containerfile.
    Root,
    /// `context: images/imgN`, its Containerfile by default.
    Context,
    /// Both given.
    Explicit,
}

#[derive(Debug, Clone)]
struct TestSpec {
    name: Text,
    command: bool,
    lines: Vec<Text>,
}

#[derive(Debug, Clone)]
enum UpdateCheckSpec {
    Default,
    Auto,
    None,
    Command(Vec<Text>),
}

/// A defect put into an otherwise valid configuration.
#[derive(Debug, Clone, Copy)]
enum Flaw {
    // Must be rejected, with the position in gipgee.yaml.
    UnknownKey,
    InvalidId(usize),
    SharedTarget,
    TooManyTests,
    DuplicateTestName,
    InvalidTestName(usize),
    BadBuildArgName(usize),
    NoTargets,
    BadReference,
    UnclosedFlow,
    WrongType,
    CredentialVariable,
    DuplicateImage,
    // Must be rejected; the message names what is wrong.
    Cycle,
    // Rejected by `generate` only (`validate` stands in placeholders for unset variables).
    UnsetVariable,
    // Accepted or rejected (rules being tightened), but never a panic or an unclear error.
    MissingContainerfile,
    DuplicateTargetInImage,
    GlobDotDot,
    GlobNeverMatches,
    EmptyGlob,
    Bom,
    SecondDocument,
    NulByte,
    NonUtf8,
    Truncated(usize),
}

#[derive(Debug, Clone)]
struct History {
    /// Commits after the initial one; each touches a few files.
    commits: Vec<Vec<Touch>>,
    /// What the initial commit's gipgee.yaml is; the final one is written by commit
    /// `switch_at` (reduced modulo the number of commits, plus one).
    earlier: Earlier,
    switch_at: usize,
}

#[derive(Debug, Clone, Copy)]
enum Touch {
    Asset(usize),
    Containerfile(usize),
    /// Deletes `images/imgN/extra.txt`, or adds it again.
    Extra(usize),
    Shared,
    Readme,
}

#[derive(Debug, Clone, Copy)]
enum Earlier {
    Same,
    BaseTag(usize),
    DropImage(usize),
    BuildArg(usize),
    Comment,
    Absent,
    Broken,
}

#[derive(Debug, Clone)]
enum RunSpec {
    PushMain(Before),
    PushBranch(Before),
    MergeRequest(usize),
    Manual {
        autostart: bool,
    },
    Schedule,
    Tag,
    Rebuild {
        images: Vec<usize>,
        unknown: bool,
    },
    /// No GitLab variables at all (a laptop).
    Local,
}

#[derive(Debug, Clone, Copy)]
enum Before {
    /// The n-th commit (reduced modulo the number of commits before HEAD).
    Commit(usize),
    Zeros,
    /// A well-formed sha that no clone has.
    Unknown,
    Garbage,
}

// ---------------------------------------------------------------------------------------------
// Strategies

/// Strings that YAML 1.1 or 1.2 reads as another type, that break YAML or shell structure, or
/// that are unusual unicode.
#[rustfmt::skip]
const HOSTILE: &[&str] = &[
    "yes", "no", "on", "off", "y", "N", "true", "False", "null", "NULL", "~", "1_000", "0x1F",
    "0o17", "012", "1e3", "1.0", ".inf", "-.5", ".NaN", "2001-12-14", "12:30:00", "=", "<<",
    "-", "- item", "? x", ": x", "#x", "a #b", "a: b", "{a: b}", "[x]", "*alias", "&anchor",
    "!tag", "!!str x", "%TAG", "@x", "`id`", "|", "> x", "'single'", "\"double\"", "it's",
    "$HOME", "$$", "${CI_JOB_TOKEN}", "$(touch /tmp/gipgee-fuzz-pwned)", "ünïcödé ✓", "日本",
    "nel\u{85}x", "ls\u{2028}x", "bom\u{feff}x", "tab\tx", " lead", "trail ", "back\\slash",
    "new\nline", "del\u{7f}", "a,b", "x\"y'z",
];

/// Image ids that are valid but look like other YAML types.
#[rustfmt::skip]
const VALID_IDS: &[&str] = &[
    "on", "yes", "no", "y", "true", "False", "null", "NULL", "1_000", "0x1F", "0o17", "1e3",
    "012", "1.0", "2001-12-14", "_", "app", "base-tools", "x.y_z-1", "Off", "inf", "nan",
];

/// Image ids the configuration must refuse.
#[rustfmt::skip]
const INVALID_IDS: &[&str] = &[
    "=", "a\"b", "it's", "ünï", "-x", ".hidden", "a b", "a:b", "", "a/b", "${X}", "~",
];

/// Tags (the text after `:`) of target locations.
#[rustfmt::skip]
const TAGS: &[&str] = &[
    "1", "latest", "on", "yes", "1_000", "1.0", "0x1F", "null", "true", "2001-12-14", "1e3",
    "v1.2.3-rc_1", "_x", "N",
];

const EXTERNAL_BASES: &[&str] = &[
    "docker.io/library/alpine:3.20",
    "alpine",
    "${CI_REGISTRY_IMAGE}/base:1",
    "quay.io/org/debian@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "127.0.0.1:9/group/yes:on",
];

/// Watched globs; `{d}` is the image's directory. All of them match a file in every commit.
const GLOBS: &[&str] = &[
    "{d}/**",
    "{d}/*.txt",
    "{d}/asset.txt",
    "shared/*.conf",
    "shared/**",
    "README.md",
    "*.md",
];

const BUILD_ARG_NAMES: &[&str] = &["VERSION", "on", "yes", "_", "A1", "HTTP_PROXY", "x"];
const BAD_BUILD_ARG_NAMES: &[&str] = &["bad-name", "GIPGEE_BASE_IMAGE", "1X", "a b", ""];

fn style() -> impl Strategy<Value = Style> {
    prop_oneof![12 => Just(Style::Double), 6 => Just(Style::Single), 1 => Just(Style::Plain)]
}

fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(HOSTILE).prop_map(String::from),
        2 => vec(select(HOSTILE), 2..4).prop_map(|parts| parts.join(" ")),
        2 => vec(any::<char>(), 1..10).prop_map(String::from_iter),
    ]
}

fn text(values: impl Strategy<Value = String>) -> impl Strategy<Value = Text> {
    (values, style()).prop_map(|(value, style)| Text { value, style })
}

/// A valid test name (1 to 100 characters, no control characters).
fn test_name() -> impl Strategy<Value = String> {
    prop_oneof![
        select(HOSTILE).prop_map(String::from),
        vec(any::<char>(), 1..12).prop_map(String::from_iter),
        Just("smoke".to_string()),
    ]
    .prop_map(|name| {
        let name: String = name.chars().filter(|c| !c.is_control()).take(100).collect();
        if name.is_empty() { "t".into() } else { name }
    })
}

fn test_spec() -> impl Strategy<Value = TestSpec> {
    (
        text(test_name()),
        any::<bool>(),
        vec(text(hostile_string()), 1..4),
    )
        .prop_map(|(name, command, lines)| TestSpec {
            name,
            command,
            lines,
        })
}

fn build_args() -> impl Strategy<Value = Vec<(usize, Text)>> {
    vec((0..BUILD_ARG_NAMES.len(), text(hostile_string())), 0..3)
}

fn update_check() -> impl Strategy<Value = UpdateCheckSpec> {
    prop_oneof![
        3 => Just(UpdateCheckSpec::Default),
        1 => Just(UpdateCheckSpec::Auto),
        1 => Just(UpdateCheckSpec::None),
        1 => vec(text(hostile_string()), 1..3).prop_map(UpdateCheckSpec::Command),
    ]
}

fn image_id() -> impl Strategy<Value = Text> {
    let generated =
        vec(select(&['a', 'z', '0', '9', '_', '.', '-', 'Q'][..]), 1..8).prop_map(|chars| {
            // Never starting with `.` or `-`: a valid id.
            format!("i{}", String::from_iter(chars))
        });
    text(prop_oneof![
        4 => select(VALID_IDS).prop_map(String::from),
        2 => generated,
        1 => Just("a".repeat(128)),
    ])
}

fn image() -> impl Strategy<Value = ImageSpec> {
    (
        (
            image_id(),
            proptest::option::weighted(0.6, 0..8usize),
            0..EXTERNAL_BASES.len(),
            vec(text(select(TAGS).prop_map(String::from)), 1..3),
            prop_oneof![
                Just(Layout::Root),
                Just(Layout::Context),
                Just(Layout::Explicit)
            ],
            vec(0..GLOBS.len(), 0..3),
        ),
        (
            build_args(),
            vec(test_spec(), 0..3),
            proptest::bool::weighted(0.05),
            update_check(),
            proptest::option::of(any::<bool>()),
            any::<bool>(),
            proptest::option::of(any::<bool>()),
            0..4u8,
        ),
    )
        .prop_map(
            |(
                (id, parent, base, tags, layout, watched),
                (build_args, tests, most_tests, update_check, layer_check, staging, scan, sign),
            )| ImageSpec {
                id,
                parent,
                base,
                tags,
                layout,
                watched,
                build_args,
                tests,
                most_tests,
                update_check,
                layer_check,
                staging,
                scan,
                sign,
            },
        )
}

fn defaults() -> impl Strategy<Value = DefaultsSpec> {
    (
        any::<bool>(),
        vec(test_spec(), 0..2),
        build_args(),
        vec(0..GLOBS.len(), 0..2),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(
            |(staging, tests, build_args, watched, layer_check)| DefaultsSpec {
                staging,
                tests,
                build_args,
                watched,
                layer_check,
            },
        )
}

fn flaw() -> impl Strategy<Value = Flaw> {
    prop_oneof![
        Just(Flaw::UnknownKey),
        (0..INVALID_IDS.len()).prop_map(Flaw::InvalidId),
        Just(Flaw::SharedTarget),
        Just(Flaw::TooManyTests),
        Just(Flaw::DuplicateTestName),
        (0..3usize).prop_map(Flaw::InvalidTestName),
        (0..BAD_BUILD_ARG_NAMES.len()).prop_map(Flaw::BadBuildArgName),
        Just(Flaw::NoTargets),
        Just(Flaw::BadReference),
        Just(Flaw::UnclosedFlow),
        Just(Flaw::WrongType),
        Just(Flaw::CredentialVariable),
        Just(Flaw::DuplicateImage),
        Just(Flaw::Cycle),
        Just(Flaw::UnsetVariable),
        Just(Flaw::MissingContainerfile),
        Just(Flaw::DuplicateTargetInImage),
        Just(Flaw::GlobDotDot),
        Just(Flaw::GlobNeverMatches),
        Just(Flaw::EmptyGlob),
        Just(Flaw::Bom),
        Just(Flaw::SecondDocument),
        Just(Flaw::NulByte),
        Just(Flaw::NonUtf8),
        (0..1000usize).prop_map(Flaw::Truncated),
    ]
}

fn config() -> impl Strategy<Value = ConfigSpec> {
    (
        vec(image(), 1..7),
        defaults(),
        (
            proptest::bool::weighted(0.3),
            proptest::bool::weighted(0.3),
            proptest::bool::weighted(0.1),
        ),
        proptest::option::weighted(0.35, flaw()),
    )
        .prop_map(
            |(images, defaults, (registry, anchor, crlf), flaw)| ConfigSpec {
                images,
                defaults,
                registry,
                anchor,
                crlf,
                flaw,
            },
        )
}

fn touch() -> impl Strategy<Value = Touch> {
    prop_oneof![
        3 => (0..8usize).prop_map(Touch::Asset),
        2 => (0..8usize).prop_map(Touch::Containerfile),
        1 => (0..8usize).prop_map(Touch::Extra),
        1 => Just(Touch::Shared),
        1 => Just(Touch::Readme),
    ]
}

fn history() -> impl Strategy<Value = History> {
    (
        vec(vec(touch(), 1..3), 0..4),
        prop_oneof![
            4 => Just(Earlier::Same),
            1 => (0..8usize).prop_map(Earlier::BaseTag),
            1 => (0..8usize).prop_map(Earlier::DropImage),
            1 => (0..8usize).prop_map(Earlier::BuildArg),
            1 => Just(Earlier::Comment),
            1 => Just(Earlier::Absent),
            1 => Just(Earlier::Broken),
        ],
        0..4usize,
    )
        .prop_map(|(commits, earlier, switch_at)| History {
            commits,
            earlier,
            switch_at,
        })
}

fn before() -> impl Strategy<Value = Before> {
    prop_oneof![
        6 => (0..4usize).prop_map(Before::Commit),
        1 => Just(Before::Zeros),
        1 => Just(Before::Unknown),
        1 => Just(Before::Garbage),
    ]
}

fn run_spec() -> impl Strategy<Value = RunSpec> {
    prop_oneof![
        4 => before().prop_map(RunSpec::PushMain),
        2 => before().prop_map(RunSpec::PushBranch),
        1 => (0..4usize).prop_map(RunSpec::MergeRequest),
        2 => any::<bool>().prop_map(|autostart| RunSpec::Manual { autostart }),
        1 => Just(RunSpec::Schedule),
        1 => Just(RunSpec::Tag),
        1 => (vec(0..8usize, 1..3), proptest::bool::weighted(0.2))
            .prop_map(|(images, unknown)| RunSpec::Rebuild { images, unknown }),
        1 => Just(RunSpec::Local),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    // Drawn last: a new element at the end leaves the earlier ones, and with them what the
    // persisted seeds generate, unchanged.
    (
        config(),
        history(),
        run_spec(),
        proptest::bool::weighted(0.1),
    )
        .prop_map(|(config, history, run, released_revision_check)| Case {
            config,
            history,
            run,
            released_revision_check,
        })
}

// ---------------------------------------------------------------------------------------------
// Writing the input

/// A scalar as YAML text in its style.
fn scalar(text: &Text) -> String {
    let needs_escapes = text
        .value
        .chars()
        .any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}'));
    match text.style {
        Style::Plain => text.value.clone(),
        Style::Single if !needs_escapes => format!("'{}'", text.value.replace('\'', "''")),
        _ => quoted(&text.value),
    }
}

/// A double-quoted YAML scalar: always this very string.
fn quoted(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether a plain scalar reads as this very string in every YAML version and keeps the
/// structure: a word that is no other type.
fn plain_is_safe(value: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "y", "yes", "n", "no", "true", "false", "on", "off", "null", "inf", "nan",
    ];
    let mut chars = value.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
        && !SPECIAL.contains(&value.to_ascii_lowercase().as_str())
}

/// The configuration with its repository-side facts, resolved from the spec: unique ids,
/// parents, test names.
struct Resolved<'a> {
    spec: &'a ConfigSpec,
    ids: Vec<Text>,
    parents: Vec<Option<usize>>,
}

impl<'a> Resolved<'a> {
    fn new(spec: &'a ConfigSpec) -> Self {
        let mut seen = BTreeSet::new();
        let ids = spec
            .images
            .iter()
            .enumerate()
            .map(|(i, image)| {
                let mut id = image.id.clone();
                if !seen.insert(id.value.clone()) {
                    id = Text {
                        value: format!("img{i}"),
                        style: Style::Double,
                    };
                    seen.insert(id.value.clone());
                }
                id
            })
            .collect();
        let mut parents: Vec<Option<usize>> = spec
            .images
            .iter()
            .enumerate()
            .map(|(i, image)| image.parent.filter(|_| i > 0).map(|p| p % i))
            .collect();
        if matches!(spec.flaw, Some(Flaw::Cycle)) && parents.len() >= 2 {
            parents[0] = Some(parents.len() - 1);
            // Image 1 may have had no parent: make the chain last → … → 1 → 0 → last.
            parents[1] = Some(0);
            for (i, parent) in parents.iter_mut().enumerate().skip(2) {
                *parent = Some(i - 1);
            }
        }
        Resolved { spec, ids, parents }
    }

    fn target(&self, image: usize, tag: &Text) -> String {
        format!("${{CI_REGISTRY_IMAGE}}/img{image}:{}", tag.value)
    }

    fn first_target(&self, image: usize) -> String {
        let tag = self.spec.images[image]
            .tags
            .first()
            .map_or("1", |t| &t.value);
        format!("${{CI_REGISTRY_IMAGE}}/img{image}:{tag}")
    }
}

fn flaw_is(spec: &ConfigSpec, wanted: fn(&Flaw) -> bool) -> bool {
    spec.flaw.as_ref().is_some_and(wanted)
}

/// gipgee.yaml as the final commit has it, or a variant (`earlier`) for the first commit.
fn config_text(spec: &ConfigSpec, earlier: Option<Earlier>) -> Vec<u8> {
    let resolved = Resolved::new(spec);
    let mut out = String::new();
    if flaw_is(spec, |f| matches!(f, Flaw::Bom)) {
        out.push('\u{feff}');
    }
    if matches!(earlier, Some(Earlier::Comment)) {
        out.push_str("# an earlier comment\n");
    }
    out.push_str("version: 1\n");
    if spec.registry {
        out.push_str(
            "registries:\n  \"127.0.0.1:9\": {usernameVariable: REG_USER, passwordVariable: REG_PASS, insecure: true}\n",
        );
    }
    write_defaults(&mut out, &spec.defaults, spec.anchor);
    out.push_str("images:\n");
    for (i, image) in spec.images.iter().enumerate() {
        if matches!(earlier, Some(Earlier::DropImage(k)) if k % spec.images.len() == i) {
            continue;
        }
        write_image(&mut out, &resolved, i, image, earlier);
    }
    if flaw_is(spec, |f| matches!(f, Flaw::DuplicateImage)) {
        write_image(&mut out, &resolved, 0, &spec.images[0], earlier);
    }
    if flaw_is(spec, |f| matches!(f, Flaw::UnclosedFlow)) {
        out.push_str("  broken: {baseImage: [alpine\n");
    }
    if flaw_is(spec, |f| matches!(f, Flaw::SecondDocument)) {
        out.push_str("---\nversion: 1\n");
    }
    if spec.crlf {
        out = out.replace('\n', "\r\n");
    }
    let mut bytes = out.into_bytes();
    match spec.flaw {
        Some(Flaw::NulByte) => bytes.insert(bytes.len() / 2, 0),
        Some(Flaw::NonUtf8) => bytes.extend_from_slice(b"# \xff\xfe\n"),
        Some(Flaw::Truncated(at)) => bytes.truncate(bytes.len() * at / 1000),
        _ => {}
    }
    bytes
}

/// The anchor of the defaults' tests when [`ConfigSpec::anchor`] is set.
const TESTS_ANCHOR: &str = "shared_tests";

fn write_defaults(out: &mut String, defaults: &DefaultsSpec, anchor: bool) {
    let mut body = String::new();
    if defaults.staging {
        body.push_str("  staging: \"${CI_REGISTRY_IMAGE}/staging\"\n");
    }
    if !defaults.build_args.is_empty() {
        write_build_args(&mut body, "  ", &defaults.build_args, None);
    }
    if !defaults.tests.is_empty() {
        let header = match anchor {
            true => format!("tests: &{TESTS_ANCHOR}"),
            false => "tests:".into(),
        };
        write_tests(&mut body, "  ", &header, &defaults.tests, None);
    }
    if !defaults.watched.is_empty() {
        // Only the globs without an image's directory (`{d}`) mean the same for every image.
        let globs: Vec<String> = defaults
            .watched
            .iter()
            .map(|&g| GLOBS[g])
            .filter(|g| !g.contains("{d}"))
            .map(quoted)
            .collect();
        if !globs.is_empty() {
            let _ = writeln!(body, "  watchedAssets: [{}]", globs.join(", "));
        }
    }
    if let Some(layer_check) = defaults.layer_check {
        let _ = writeln!(body, "  layerCheck: {layer_check}");
    }
    if !body.is_empty() {
        out.push_str("defaults:\n");
        out.push_str(&body);
    }
}

fn write_image(
    out: &mut String,
    resolved: &Resolved,
    i: usize,
    image: &ImageSpec,
    earlier: Option<Earlier>,
) {
    let spec = resolved.spec;
    let flaw = if i == 0 { spec.flaw } else { None };
    let dir = format!("images/img{i}");
    let id = match flaw {
        Some(Flaw::InvalidId(k)) => quoted(INVALID_IDS[k]),
        _ => scalar(&resolved.ids[i]),
    };
    let _ = writeln!(out, "  {id}:");
    let mut base = match resolved.parents[i] {
        Some(parent) => resolved.first_target(parent),
        None => EXTERNAL_BASES[image.base].to_string(),
    };
    if matches!(earlier, Some(Earlier::BaseTag(k)) if k % spec.images.len() == i) {
        base = "docker.io/library/alpine:3.19".into();
    }
    let _ = writeln!(out, "    baseImage: {}", quoted(&base));
    let mut targets: Vec<String> = image
        .tags
        .iter()
        .map(|tag| resolved.target(i, tag))
        .collect();
    targets.dedup();
    {
        let mut seen = BTreeSet::new();
        targets.retain(|t| seen.insert(t.clone()));
    }
    match flaw {
        Some(Flaw::SharedTarget) if spec.images.len() >= 2 => {
            targets.push(resolved.first_target(1));
        }
        Some(Flaw::SharedTarget) | Some(Flaw::DuplicateTargetInImage) => {
            targets.push(targets[0].clone())
        }
        Some(Flaw::NoTargets) => targets.clear(),
        Some(Flaw::BadReference) => targets.push("${CI_REGISTRY_IMAGE}/UPPER:1".into()),
        Some(Flaw::CredentialVariable) => {
            targets.push("${CI_REGISTRY_IMAGE}/${CI_JOB_TOKEN}:1".into())
        }
        Some(Flaw::UnsetVariable) => targets.push("${GIPGEE_FUZZ_UNSET}/x:1".into()),
        _ => {}
    }
    let targets: Vec<String> = targets.iter().map(|t| quoted(t)).collect();
    let _ = writeln!(out, "    targetLocations: [{}]", targets.join(", "));
    let missing = if matches!(flaw, Some(Flaw::MissingContainerfile)) {
        "missing/"
    } else {
        ""
    };
    match image.layout {
        Layout::Root if missing.is_empty() => {}
        Layout::Root | Layout::Context => {
            let _ = writeln!(out, "    context: {}", quoted(&format!("{missing}{dir}")));
        }
        Layout::Explicit => {
            let _ = writeln!(out, "    context: {}", quoted(&dir));
            let _ = writeln!(
                out,
                "    containerfile: {}",
                quoted(&format!("{missing}{dir}/Containerfile"))
            );
        }
    }
    if image.staging {
        out.push_str("    staging: \"127.0.0.1:9/other/staging\"\n");
    }
    let mut globs: Vec<String> = image
        .watched
        .iter()
        .map(|&g| GLOBS[g].replace("{d}", &dir))
        .collect();
    match flaw {
        Some(Flaw::GlobDotDot) => globs.push(format!("../{dir}/**")),
        Some(Flaw::GlobNeverMatches) => globs.push("nothing/here/**".into()),
        Some(Flaw::EmptyGlob) => globs.push(String::new()),
        _ => {}
    }
    if !globs.is_empty() {
        let globs: Vec<String> = globs.iter().map(|g| quoted(g)).collect();
        let _ = writeln!(out, "    watchedAssets: [{}]", globs.join(", "));
    }
    let changed_arg = matches!(earlier, Some(Earlier::BuildArg(k)) if k % spec.images.len() == i);
    let bad_arg = match flaw {
        Some(Flaw::BadBuildArgName(k)) => Some(BAD_BUILD_ARG_NAMES[k]),
        _ => None,
    };
    if !image.build_args.is_empty() || changed_arg || bad_arg.is_some() {
        let mut args = image.build_args.clone();
        if changed_arg {
            args.push((
                0,
                Text {
                    value: "earlier".into(),
                    style: Style::Double,
                },
            ));
        }
        write_build_args(out, "    ", &args, bad_arg);
    }
    if image.most_tests || matches!(flaw, Some(Flaw::TooManyTests)) {
        let count = if image.most_tests && !matches!(flaw, Some(Flaw::TooManyTests)) {
            49
        } else {
            50
        };
        let _ = writeln!(out, "    tests:");
        for n in 0..count {
            let _ = writeln!(out, "      - {{name: \"{n}\", script: [\"true\"]}}");
        }
    } else if spec.anchor
        && !spec.defaults.tests.is_empty()
        && image.tests.is_empty()
        && flaw.is_none()
    {
        let _ = writeln!(out, "    tests: *{TESTS_ANCHOR}");
    } else if !image.tests.is_empty() || flaw.is_some() {
        let mut tests = image.tests.clone();
        if tests.is_empty() {
            tests.push(TestSpec {
                name: Text {
                    value: "t".into(),
                    style: Style::Plain,
                },
                command: false,
                lines: vec![Text {
                    value: "true".into(),
                    style: Style::Double,
                }],
            });
        }
        write_tests(out, "    ", "tests:", &tests, flaw);
    }
    match &image.update_check {
        UpdateCheckSpec::Default => {}
        UpdateCheckSpec::Auto => out.push_str("    updateCheck: auto\n"),
        UpdateCheckSpec::None => out.push_str("    updateCheck: none\n"),
        UpdateCheckSpec::Command(argv) => {
            let argv: Vec<String> = argv.iter().map(one_line_scalar).collect();
            let _ = writeln!(out, "    updateCheck: {{command: [{}]}}", argv.join(", "));
        }
    }
    if let Some(layer_check) = image.layer_check {
        let _ = writeln!(out, "    layerCheck: {layer_check}");
    }
    if let Some(scan) = image.scan {
        let _ = writeln!(out, "    scan: {scan}");
    }
    match image.sign {
        1 => out.push_str("    sign: keyless\n"),
        2 => out
            .push_str("    sign: {keyVariable: SIGNING_KEY, passwordVariable: SIGNING_PASSWORD}\n"),
        3 => out.push_str("    sign: false\n"),
        _ => {}
    }
    match flaw {
        Some(Flaw::UnknownKey) => out.push_str("    containerfle: Containerfile\n"),
        Some(Flaw::WrongType) => out.push_str("    layerCheck: [true]\n"),
        _ => {}
    }
}

/// A scalar on one line (in `[…]` or as a mapping value): a plain one may contain `,`, `]` or
/// `: ` and change the structure, which is the point of the plain style, but a line break in
/// it would only test this generator's indentation, so such a scalar is quoted.
fn one_line_scalar(text: &Text) -> String {
    if text.style == Style::Plain && text.value.contains('\n') {
        return quoted(&text.value);
    }
    scalar(text)
}

fn write_build_args(out: &mut String, indent: &str, args: &[(usize, Text)], bad: Option<&str>) {
    let _ = writeln!(out, "{indent}buildArgs:");
    let mut seen = BTreeSet::new();
    for (name, value) in args {
        if seen.insert(*name) {
            let _ = writeln!(
                out,
                "{indent}  {}: {}",
                BUILD_ARG_NAMES[*name],
                one_line_scalar(value)
            );
        }
    }
    if let Some(bad) = bad {
        let _ = writeln!(out, "{indent}  {}: x", quoted(bad));
    }
}

fn write_tests(
    out: &mut String,
    indent: &str,
    header: &str,
    tests: &[TestSpec],
    flaw: Option<Flaw>,
) {
    let _ = writeln!(out, "{indent}{header}");
    let mut names = BTreeSet::new();
    for (n, test) in tests.iter().enumerate() {
        let mut name = test.name.clone();
        if !names.insert(name.value.clone()) {
            name.value = format!("{} {n}", name.value);
            names.insert(name.value.clone());
        }
        let mut name = one_line_scalar(&name);
        if n == 0 {
            match flaw {
                Some(Flaw::InvalidTestName(0)) => name = "\"\"".into(),
                Some(Flaw::InvalidTestName(1)) => name = "\"a\\nb\"".into(),
                Some(Flaw::InvalidTestName(_)) => name = quoted(&"n".repeat(101)),
                _ => {}
            }
        }
        let key = if test.command { "command" } else { "script" };
        let lines: Vec<String> = test.lines.iter().map(one_line_scalar).collect();
        let _ = writeln!(out, "{indent}  - name: {name}");
        let _ = writeln!(out, "{indent}    {key}: [{}]", lines.join(", "));
        if n == 0 && matches!(flaw, Some(Flaw::DuplicateTestName)) {
            let _ = writeln!(out, "{indent}  - name: {name}");
            let _ = writeln!(out, "{indent}    script: [\"true\"]");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// What the binary must do with it

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Accept,
    /// Rejected; `positioned`: the message has `gipgee.yaml:line:col`.
    Reject {
        positioned: bool,
    },
    Either,
}

/// Every scalar the config writes plain, with its value.
fn plain_scalars(spec: &ConfigSpec) -> impl Iterator<Item = &Text> {
    fn tests(tests: &[TestSpec]) -> Vec<&Text> {
        tests
            .iter()
            .flat_map(|t| std::iter::once(&t.name).chain(&t.lines))
            .collect()
    }
    let mut all: Vec<&Text> = tests(&spec.defaults.tests);
    all.extend(spec.defaults.build_args.iter().map(|(_, v)| v));
    for image in &spec.images {
        all.push(&image.id);
        all.extend(tests(&image.tests));
        all.extend(image.build_args.iter().map(|(_, v)| v));
        if let UpdateCheckSpec::Command(argv) = &image.update_check {
            all.extend(argv);
        }
    }
    all.into_iter().filter(|t| t.style == Style::Plain)
}

/// What `validate` and `generate` must do with the final configuration.
fn expectations(case: &Case) -> (Expect, Expect) {
    let spec = &case.config;
    if plain_scalars(spec).any(|t| !plain_is_safe(&t.value)) {
        return (Expect::Either, Expect::Either);
    }
    let positioned = Expect::Reject { positioned: true };
    let config = match spec.flaw {
        None => Expect::Accept,
        Some(Flaw::Cycle) if spec.images.len() >= 2 => Expect::Reject { positioned: false },
        Some(Flaw::Cycle) => Expect::Accept,
        // With one image, the shared target is a duplicate in that image.
        Some(Flaw::SharedTarget) if spec.images.len() < 2 => Expect::Either,
        Some(Flaw::UnsetVariable) => return (Expect::Accept, positioned),
        Some(
            Flaw::UnknownKey
            | Flaw::InvalidId(_)
            | Flaw::SharedTarget
            | Flaw::TooManyTests
            | Flaw::DuplicateTestName
            | Flaw::InvalidTestName(_)
            | Flaw::BadBuildArgName(_)
            | Flaw::NoTargets
            | Flaw::BadReference
            | Flaw::UnclosedFlow
            | Flaw::WrongType
            | Flaw::CredentialVariable
            | Flaw::DuplicateImage,
        ) => positioned,
        Some(
            Flaw::MissingContainerfile
            | Flaw::DuplicateTargetInImage
            | Flaw::GlobDotDot
            | Flaw::GlobNeverMatches
            | Flaw::EmptyGlob
            | Flaw::Bom
            | Flaw::SecondDocument
            | Flaw::NulByte
            | Flaw::NonUtf8
            | Flaw::Truncated(_),
        ) => Expect::Either,
    };
    let generate = match (&case.run, config) {
        (_, Expect::Reject { .. } | Expect::Either) => config,
        (
            RunSpec::PushMain(Before::Garbage) | RunSpec::PushBranch(Before::Garbage),
            Expect::Accept,
        ) => Expect::Either,
        (RunSpec::Rebuild { unknown: true, .. }, Expect::Accept) => Expect::Either,
        _ => config,
    };
    (config, generate)
}

// ---------------------------------------------------------------------------------------------
// Running a case

/// A case laid out on disk: the repository, the variables of the pipeline run, the arguments.
struct Prepared {
    _tempdir: tempfile::TempDir,
    repo: PathBuf,
    env: Vec<(String, String)>,
    generate_args: Vec<String>,
    /// The files and history, for the failure message.
    description: String,
}

const CONTAINERFILE: &str = "ARG GIPGEE_BASE_IMAGE\nFROM ${GIPGEE_BASE_IMAGE}\n";

fn prepare(case: &Case) -> Prepared {
    let tempdir = tempfile::tempdir().expect("tempdir");
    let repo = tempdir.path().join("repo");
    std::fs::create_dir(&repo).expect("mkdir repo");
    let mut description = String::new();
    write_project_files(&repo, case.config.images.len());
    let shas = make_history(&repo, case, &mut description);
    let (env, generate_args) = pipeline_run(&repo, case, &shas, &mut description);
    Prepared {
        _tempdir: tempdir,
        repo,
        env,
        generate_args,
        description,
    }
}

fn write_file(repo: &Path, path: &str, content: &[u8]) {
    let full = repo.join(path);
    std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
    std::fs::write(full, content).expect("write");
}

/// What every watched glob and containerfile of the generated configurations names.
fn write_project_files(repo: &Path, images: usize) {
    write_file(repo, "Containerfile", CONTAINERFILE.as_bytes());
    write_file(repo, "README.md", b"readme\n");
    write_file(repo, "shared/app.conf", b"a=1\n");
    for i in 0..images {
        let dir = format!("images/img{i}");
        write_file(
            repo,
            &format!("{dir}/Containerfile"),
            CONTAINERFILE.as_bytes(),
        );
        write_file(repo, &format!("{dir}/asset.txt"), b"asset\n");
        write_file(repo, &format!("{dir}/extra.txt"), b"extra\n");
    }
}

/// The commits of the case (the initial one with the earlier gipgee.yaml); their shas, oldest
/// first.
fn make_history(repo: &Path, case: &Case, description: &mut String) -> Vec<String> {
    let images = case.config.images.len();
    let head_config = config_text(&case.config, None);
    let commits = &case.history.commits;
    let switch_at = match case.history.earlier {
        Earlier::Same => 0,
        _ if commits.is_empty() => 0,
        _ => case.history.switch_at % commits.len() + 1,
    };
    let first_config = match (switch_at, case.history.earlier) {
        (0, _) | (_, Earlier::Same) => Some(head_config.clone()),
        (_, Earlier::Absent) => None,
        (_, Earlier::Broken) => Some(b"version: 1\nimages: [\n".to_vec()),
        (_, earlier) => Some(config_text(&case.config, Some(earlier))),
    };
    let _ = writeln!(
        description,
        "--- gipgee.yaml (final)\n{}",
        String::from_utf8_lossy(&head_config)
    );
    if first_config.as_ref() != Some(&head_config) {
        let _ = writeln!(
            description,
            "--- gipgee.yaml (initial commit; the final one from commit {switch_at})\n{}",
            first_config
                .as_deref()
                .map_or("(absent)".into(), String::from_utf8_lossy)
        );
    }
    let _ = writeln!(description, "--- history: {commits:?}");

    if let Some(text) = &first_config {
        write_file(repo, "gipgee.yaml", text);
    }
    git(repo, 0, &["init", "-q", "-b", "main"]);
    git(repo, 0, &["add", "-A"]);
    git(repo, 0, &["commit", "-q", "-m", "initial"]);
    let mut extra_present = vec![true; images];
    for (n, touches) in commits.iter().enumerate() {
        for touch in touches {
            match *touch {
                Touch::Asset(i) => append(repo, &format!("images/img{}/asset.txt", i % images)),
                Touch::Containerfile(i) => {
                    append(repo, &format!("images/img{}/Containerfile", i % images))
                }
                Touch::Extra(i) => {
                    let i = i % images;
                    let path = repo.join(format!("images/img{i}/extra.txt"));
                    if extra_present[i] {
                        std::fs::remove_file(path).expect("remove extra.txt");
                    } else {
                        std::fs::write(path, "extra again\n").expect("write extra.txt");
                        git(repo, 0, &["add", "-A"]);
                    }
                    extra_present[i] = !extra_present[i];
                }
                Touch::Shared => append(repo, "shared/app.conf"),
                Touch::Readme => append(repo, "README.md"),
            }
        }
        if n + 1 == switch_at {
            write_file(repo, "gipgee.yaml", &head_config);
            git(repo, 0, &["add", "gipgee.yaml"]);
        }
        // `-a` takes changes and deletions of tracked files; new files were added above.
        let message = format!("commit {}", n + 1);
        let tick = n as u64 + 1;
        git(
            repo,
            tick,
            &["commit", "-q", "-a", "--allow-empty", "-m", &message],
        );
    }
    let log = git(repo, 0, &["rev-list", "--reverse", "HEAD"]);
    log.lines().map(String::from).collect()
}

/// The variables and `generate` arguments of the case's pipeline run (and the branches,
/// tags and selection file it needs).
fn pipeline_run(
    repo: &Path,
    case: &Case,
    shas: &[String],
    description: &mut String,
) -> (Vec<(String, String)>, Vec<String>) {
    let head = shas.last().expect("a commit").clone();
    // A commit before HEAD (HEAD itself when there is none).
    let pick = |n: usize| shas[n % (shas.len() - 1).max(1)].clone();
    let mut env: Vec<(String, String)> = vec![
        ("CI_DEFAULT_BRANCH".into(), "main".into()),
        ("CI_PIPELINE_ID".into(), "4242".into()),
        ("CI_COMMIT_SHA".into(), head.clone()),
        ("CI_REGISTRY".into(), "127.0.0.1:9".into()),
        (
            "CI_REGISTRY_IMAGE".into(),
            "127.0.0.1:9/group/project".into(),
        ),
    ];
    if !case.released_revision_check {
        env.push(("GIPGEE_RELEASED_REVISION_CHECK".into(), "false".into()));
    }
    let mut var = |name: &str, value: &str| env.push((name.into(), value.into()));
    let before_sha = |before: Before| match before {
        Before::Commit(n) => pick(n),
        Before::Zeros => "0".repeat(40),
        Before::Unknown => "deadbeef".repeat(5),
        Before::Garbage => "not-a-sha; rm -rf /".into(),
    };
    let mut generate_args = vec!["generate".to_string()];
    // The repository has no remote: a fetch fails fast (gipgee then builds everything, with
    // a warning); `origin/main` is set where a run compares with it.
    match &case.run {
        RunSpec::PushMain(before) => {
            var("CI_PIPELINE_SOURCE", "push");
            var("CI_COMMIT_BRANCH", "main");
            var("CI_COMMIT_BEFORE_SHA", &before_sha(*before));
            git(repo, 0, &["update-ref", "refs/remotes/origin/main", &head]);
        }
        RunSpec::PushBranch(before) => {
            // Every commit after the initial one is on the branch.
            let base = &shas[0];
            git(repo, 0, &["checkout", "-q", "-b", "feature"]);
            git(repo, 0, &["branch", "-f", "main", base]);
            git(repo, 0, &["update-ref", "refs/remotes/origin/main", base]);
            var("CI_PIPELINE_SOURCE", "push");
            var("CI_COMMIT_BRANCH", "feature");
            var("CI_COMMIT_BEFORE_SHA", &before_sha(*before));
        }
        RunSpec::MergeRequest(n) => {
            var("CI_PIPELINE_SOURCE", "merge_request_event");
            var("CI_MERGE_REQUEST_IID", "7");
            var("CI_MERGE_REQUEST_DIFF_BASE_SHA", &pick(*n));
        }
        RunSpec::Manual { autostart } => {
            var("CI_PIPELINE_SOURCE", "web");
            var("CI_COMMIT_BRANCH", "main");
            var("GIPGEE_FORCE_AUTOSTART", &autostart.to_string());
        }
        RunSpec::Schedule => {
            var("CI_PIPELINE_SOURCE", "schedule");
            var("CI_COMMIT_BRANCH", "main");
        }
        RunSpec::Tag => {
            git(repo, 0, &["tag", "v1.0.0"]);
            var("CI_PIPELINE_SOURCE", "push");
            var("CI_COMMIT_TAG", "v1.0.0");
        }
        RunSpec::Rebuild { images, unknown } => {
            let json = selection_json(&case.config, images, *unknown);
            let path = repo
                .parent()
                .expect("the case's directory")
                .join("selection.json");
            std::fs::write(path, &json).expect("write selection.json");
            let _ = writeln!(description, "--- ../selection.json\n{json}");
            var("CI_PIPELINE_SOURCE", "parent_pipeline");
            var("CI_COMMIT_BRANCH", "main");
            generate_args.extend(
                ["--mode", "rebuild", "--selection", "../selection.json"].map(String::from),
            );
        }
        RunSpec::Local => {
            // No pipeline variables; the registry's stand in for a project's own settings.
            env.retain(|(name, _)| name.starts_with("CI_REGISTRY"));
        }
    }
    let _ = writeln!(
        description,
        "--- variables: {env:?}\n--- gipgee {generate_args:?}"
    );
    (env, generate_args)
}

/// A rebuild selection of the images `selected` (indexes), and of an unknown image.
fn selection_json(config: &ConfigSpec, selected: &[usize], unknown: bool) -> String {
    let resolved = Resolved::new(config);
    let mut selection = serde_json::Map::new();
    for &i in selected {
        let id = &resolved.ids[i % config.images.len()].value;
        selection.insert(id.clone(), "base image moved: \"on\" & yes".into());
    }
    if unknown {
        selection.insert("no-such-image".into(), "why".into());
    }
    serde_json::json!({ "images": selection }).to_string()
}

fn append(repo: &Path, path: &str) {
    let full = repo.join(path);
    let mut text = std::fs::read_to_string(&full).unwrap_or_default();
    text.push_str("changed\n");
    std::fs::write(full, text).expect("append");
}

fn git(repo: &Path, tick: u64, args: &[&str]) -> String {
    let mut cmd = Command::new("git");
    cmd.current_dir(repo).args(args);
    support::git_env(&mut cmd, tick);
    support::run(&mut cmd).trim().to_string()
}

/// One finished run of the binary.
struct Ran {
    /// The exit code; `None`: killed by a signal, or by us after [`RUN_TIMEOUT`].
    code: Option<i32>,
    stdout: String,
    stderr: String,
    timed_out: bool,
}

fn run_gipgee(prepared: &Prepared, args: &[String]) -> Ran {
    let mut cmd = Command::new(GIPGEE);
    cmd.current_dir(&prepared.repo)
        .args(args)
        .env_clear()
        .envs(prepared.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for name in ["PATH", "HOME"] {
        if let Some(value) = std::env::var_os(name) {
            cmd.env(name, value);
        }
    }
    support::git_env(&mut cmd, 0);
    let mut child = cmd.spawn().expect("gipgee starts");
    // Drain both pipes on threads: a full pipe would block the child.
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr.read_to_end(&mut text);
        String::from_utf8_lossy(&text).into_owned()
    });
    let started = Instant::now();
    let (status, timed_out) = loop {
        if let Some(status) = child.try_wait().expect("wait for gipgee") {
            break (status, false);
        }
        if started.elapsed() > RUN_TIMEOUT {
            let _ = child.kill();
            break (child.wait().expect("wait for gipgee"), true);
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    Ran {
        code: status.code(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        timed_out,
    }
}

const PIPELINE: &str = "gipgee-pipeline.yml";

/// Runs `validate` and `generate` (twice when accepted) and checks every property but the
/// external ones. `Ok(Some(pipeline))`: accepted, with its text.
fn check_case(case: &Case, twice: bool) -> Result<(Prepared, Option<String>), String> {
    let prepared = prepare(case);
    let (expect_validate, expect_generate) = expectations(case);
    let validate = run_gipgee(&prepared, &["validate".to_string()]);
    check_outcome("validate", &validate, expect_validate)?;
    let generate = run_gipgee(&prepared, &prepared.generate_args);
    check_outcome("generate", &generate, expect_generate)?;
    let pipeline_path = prepared.repo.join(PIPELINE);
    if generate.code != Some(0) {
        if pipeline_path.exists() {
            return Err("`generate` failed but left a pipeline file".into());
        }
        return Ok((prepared, None));
    }
    if validate.code != Some(0) {
        return Err(format!(
            "`generate` accepted what `validate` rejects:\n{}",
            validate.stderr
        ));
    }
    let pipeline = std::fs::read_to_string(&pipeline_path)
        .map_err(|err| format!("`generate` succeeded but {PIPELINE} is unreadable: {err}"))?;
    check_needs(&pipeline)?;
    if !twice {
        return Ok((prepared, Some(pipeline)));
    }
    let again = run_gipgee(&prepared, &prepared.generate_args);
    let second = std::fs::read_to_string(&pipeline_path).unwrap_or_default();
    if again.code != Some(0) || second != pipeline || again.stdout != generate.stdout {
        return Err(format!(
            "a second `generate` differs (exit {:?}):\n{}",
            again.code, again.stderr
        ));
    }
    Ok((prepared, Some(pipeline)))
}

fn check_outcome(command: &str, ran: &Ran, expect: Expect) -> Result<(), String> {
    let shown = || format!("stdout:\n{}\nstderr:\n{}", ran.stdout, ran.stderr);
    if ran.timed_out {
        return Err(format!(
            "`{command}` hung (killed after {RUN_TIMEOUT:?}); {}",
            shown()
        ));
    }
    if ran.stderr.contains("panicked") || ran.stderr.contains("RUST_BACKTRACE") {
        return Err(format!("`{command}` panicked; {}", shown()));
    }
    match ran.code {
        Some(0) => match expect {
            Expect::Reject { .. } => Err(format!("`{command}` accepted a defect; {}", shown())),
            _ => Ok(()),
        },
        Some(1) => {
            if expect == Expect::Accept {
                return Err(format!("`{command}` rejected a valid input; {}", shown()));
            }
            if !ran.stderr.starts_with("error: ") || ran.stderr.trim_end().len() < 12 {
                return Err(format!(
                    "`{command}` failed without a clear error; {}",
                    shown()
                ));
            }
            if ran.stderr.contains("internal error") {
                return Err(format!("`{command}` reported a bug; {}", shown()));
            }
            if expect == (Expect::Reject { positioned: true }) && !has_position(&ran.stderr) {
                return Err(format!(
                    "`{command}` rejected a defect without `gipgee.yaml:line:col`; {}",
                    shown()
                ));
            }
            Ok(())
        }
        code => Err(format!("`{command}` exited with {code:?}; {}", shown())),
    }
}

/// Whether `stderr` points into gipgee.yaml: ` --> gipgee.yaml:<line>:<col>`.
fn has_position(stderr: &str) -> bool {
    stderr.lines().any(|line| {
        line.trim_start()
            .strip_prefix("--> gipgee.yaml:")
            .is_some_and(|rest| {
                let mut parts = rest.split(':');
                let number = |p: Option<&str>| {
                    p.is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
                };
                number(parts.next()) && number(parts.next())
            })
    })
}

/// Every job has at most 50 `needs`, each naming a job of the pipeline.
fn check_needs(pipeline: &str) -> Result<(), String> {
    let doc: serde_yaml::Value =
        serde_yaml::from_str(pipeline).map_err(|err| format!("the pipeline is not YAML: {err}"))?;
    let jobs = doc.as_mapping().ok_or("the pipeline is not a mapping")?;
    let names: BTreeSet<&str> = jobs.keys().filter_map(|k| k.as_str()).collect();
    if names.len() != jobs.len() {
        return Err("a top-level key of the pipeline is not a string".into());
    }
    for (name, job) in jobs {
        let Some(needs) = job.get("needs").and_then(|n| n.as_sequence()) else {
            continue;
        };
        let name = name.as_str().unwrap_or_default();
        if needs.len() > 50 {
            return Err(format!("job `{name}` has {} needs", needs.len()));
        }
        for need in needs {
            let needed = need
                .as_str()
                .or_else(|| need.get("job").and_then(|j| j.as_str()));
            match needed {
                Some(needed) if names.contains(needed) => {}
                _ => return Err(format!("job `{name}` needs {need:?}, which is no job")),
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The external checks, over a batch of pipelines

/// The pipelines of `files` that fail GitLab's CI schema, with check-jsonschema's words.
/// `None` when check-jsonschema is missing (and not required).
fn check_schema_batch(files: &[PathBuf]) -> Option<Vec<(PathBuf, String)>> {
    if files.is_empty() || !tools::tools_available("fuzz: schema", &["check-jsonschema"]) {
        return None;
    }
    let out = tools::gitlab_schema_check()
        .args(files)
        .output()
        .expect("check-jsonschema runs");
    if out.status.success() {
        return Some(Vec::new());
    }
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let failed: Vec<(PathBuf, String)> = files
        .iter()
        .filter(|f| report.contains(&*f.to_string_lossy()))
        .map(|f| {
            let lines: Vec<&str> = report
                .lines()
                .filter(|l| l.contains(&*f.to_string_lossy()))
                .collect();
            (f.clone(), lines.join("\n"))
        })
        .collect();
    assert!(
        !failed.is_empty(),
        "check-jsonschema failed ({}) naming none of the pipelines:\n{report}",
        out.status
    );
    Some(failed)
}

/// Hook for the YAML 1.1 check: the pipelines of `files` that Ruby's Psych (the parser GitLab
/// uses) reads as another document than the YAML 1.2 reading gipgee intends (serde_yaml),
/// types included. `None` when `ruby` is missing (and not required).
///
fn check_psych_round_trip(files: &[PathBuf]) -> Option<Vec<(PathBuf, String)>> {
    if files.is_empty() || !tools::tools_available("fuzz: Psych round trip", &["ruby"]) {
        return None;
    }
    let read = tools::psych_load_all(files)?;
    let mut failed = Vec::new();
    for (file, psych) in files.iter().zip(read) {
        let intended = std::fs::read_to_string(file)
            .ok()
            .and_then(|text| serde_yaml::from_str::<serde_json::Value>(&text).ok());
        match (psych, intended) {
            (Ok(psych), Some(intended)) if psych == intended => {}
            (Ok(psych), Some(intended)) => failed.push((
                file.clone(),
                format!(
                    "Psych reads another document:\n{}",
                    first_difference(&intended, &psych)
                ),
            )),
            (psych, _) => failed.push((
                file.clone(),
                format!("Psych or serde_yaml cannot read it: {psych:?}"),
            )),
        }
    }
    Some(failed)
}

/// Where two JSON documents first differ, as a path and both values.
fn first_difference(intended: &serde_json::Value, read: &serde_json::Value) -> String {
    use serde_json::Value;
    match (intended, read) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                match b.get(key) {
                    Some(other) if other == value => {}
                    Some(other) => return format!("{key:?}: {}", first_difference(value, other)),
                    None => {
                        return format!(
                            "key {key:?} is missing; Psych's keys: {:?}",
                            b.keys().collect::<Vec<_>>()
                        );
                    }
                }
            }
            format!(
                "Psych has extra keys: {:?}",
                b.keys().filter(|k| !a.contains_key(*k)).collect::<Vec<_>>()
            )
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find(|(_, (x, y))| x != y)
            .map(|(i, (x, y))| format!("[{i}]: {}", first_difference(x, y)))
            .unwrap_or_default(),
        _ => format!("intended {intended}, Psych {read}"),
    }
}

/// The external checks of one pipeline (for shrinking a batch failure).
fn external_failure(pipeline: &Path) -> Option<String> {
    let files = [pipeline.to_path_buf()];
    let failures = [check_schema_batch(&files), check_psych_round_trip(&files)];
    failures
        .into_iter()
        .flatten()
        .flatten()
        .map(|(_, message)| message)
        .next()
}

// ---------------------------------------------------------------------------------------------
// The run

/// The case of `seed`: its own runner, so a case is found again from its seed alone.
fn tree_for(seed: u64) -> impl ValueTree<Value = Case> {
    let config = ProptestConfig {
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = TestRunner::new(config);
    case().new_tree(&mut runner).expect("a case")
}

/// Simplifies `tree` while `fails` holds, as proptest's runner does; the last failing case
/// and its message.
fn shrink<T: ValueTree<Value = Case>>(
    mut tree: T,
    mut message: String,
    max_steps: usize,
    fails: impl Fn(&Case) -> Option<String>,
) -> (Case, String) {
    let mut smallest = tree.current();
    if !tree.simplify() {
        return (smallest, message);
    }
    for _ in 0..max_steps {
        let current = tree.current();
        match fails(&current) {
            Some(failure) => {
                smallest = current;
                message = failure;
                if !tree.simplify() {
                    break;
                }
            }
            None => {
                if !tree.complicate() {
                    break;
                }
            }
        }
    }
    (smallest, message)
}

fn regressions_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(REGRESSIONS)
}

/// The seeds kept in the regressions file (`cc <seed> # …` lines).
fn persisted_seeds() -> Vec<u64> {
    std::fs::read_to_string(regressions_file())
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.strip_prefix("cc "))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect()
}

fn persist(seed: u64, message: &str) {
    if persisted_seeds().contains(&seed) {
        return;
    }
    // The first two lines: what failed and, for an external check, where.
    let summary: String = message
        .lines()
        .filter(|line| !line.trim().is_empty())
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(160)
        .collect();
    let line = format!("cc {seed} # {summary}\n");
    let path = regressions_file();
    let mut text = std::fs::read_to_string(&path).unwrap_or_default();
    text.push_str(&line);
    if let Err(err) = std::fs::write(&path, text) {
        eprintln!("could not persist seed {seed} in {}: {err}", path.display());
    }
}

#[track_caller]
fn fail(seed: u64, case: &Case, message: &str) -> ! {
    persist(seed, message);
    let prepared = prepare(case);
    panic!(
        "fuzz case (seed {seed}, kept in {REGRESSIONS}) fails, shrunk to:\n{}\n{message}\n--- case\n{case:#?}",
        prepared.description
    );
}

fn case_count() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(CASES)
}

fn first_seed() -> u64 {
    std::env::var("GIPGEE_FUZZ_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(SEED)
}

#[test]
fn generated_configs_and_histories_give_valid_pipelines_or_positioned_errors() {
    let started = Instant::now();
    let batch = tempfile::tempdir().expect("tempdir");
    let first = first_seed();
    let seeds: Vec<u64> = persisted_seeds()
        .into_iter()
        .chain((0..case_count() as u64).map(|n| first.wrapping_add(n)))
        .collect();
    let mut accepted: Vec<(u64, PathBuf)> = Vec::new();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for &seed in &seeds {
        let tree = tree_for(seed);
        // Determinism costs a second `generate`: checked on every fourth case.
        let twice = seed % 4 == 0;
        match check_case(&tree.current(), twice) {
            Ok((prepared, Some(pipeline))) => {
                let file = batch.path().join(format!("{seed}.yml"));
                std::fs::write(&file, pipeline).expect("write batch file");
                accepted.push((seed, file));
                drop(prepared);
                *counts.entry("accepted").or_default() += 1;
            }
            Ok((_, None)) => *counts.entry("rejected").or_default() += 1,
            Err(message) => {
                let (case, message) = shrink(tree, message, MAX_SHRINK_STEPS, |case| {
                    check_case(case, twice).err()
                });
                fail(seed, &case, &message);
            }
        }
    }
    eprintln!(
        "fuzz: {} cases in {:?}: {counts:?}",
        seeds.len(),
        started.elapsed()
    );
    // Both classes must be exercised, or the generator has gone wrong.
    assert!(
        counts.get("accepted").copied().unwrap_or(0) >= seeds.len() / 4,
        "{counts:?}"
    );
    assert!(
        counts.get("rejected").copied().unwrap_or(0) >= seeds.len() / 10,
        "{counts:?}"
    );

    let files: Vec<PathBuf> = accepted.iter().map(|(_, f)| f.clone()).collect();
    let failures: Vec<(PathBuf, String)> =
        [check_schema_batch(&files), check_psych_round_trip(&files)]
            .into_iter()
            .flatten()
            .flatten()
            .collect();
    eprintln!("fuzz: external checks done after {:?}", started.elapsed());
    if !failures.is_empty() {
        let kept = batch.keep();
        for (file, message) in &failures {
            eprintln!("FAILED {}: {message}", file.display());
        }
        eprintln!("the accepted pipelines are kept in {}", kept.display());
    }
    if let Some((file, message)) = failures.first() {
        let seed = accepted
            .iter()
            .find(|(_, f)| f == file)
            .map(|(seed, _)| *seed)
            .expect("a batch file");
        let (case, message) = shrink(
            tree_for(seed),
            message.clone(),
            MAX_SCHEMA_SHRINK_STEPS,
            |case| match check_case(case, false) {
                Ok((prepared, Some(_))) => external_failure(&prepared.repo.join(PIPELINE)),
                _ => None,
            },
        );
        fail(
            seed,
            &case,
            &format!(
                "{message}\n({} accepted pipelines of this run fail an external check)",
                failures.len()
            ),
        );
    }
}

/// The harness itself: a panic, a crash, a hang, an unclear or unpositioned error and a
/// wrongly accepted defect are failures; a positioned rejection is not.
#[test]
fn the_fuzz_harness_tells_failures_from_rejections() {
    let ran = |code: Option<i32>, stderr: &str, timed_out: bool| Ran {
        code,
        stdout: String::new(),
        stderr: stderr.into(),
        timed_out,
    };
    let positioned = "error: unknown image key `x`\n --> gipgee.yaml:3:5\n";
    let reject = Expect::Reject { positioned: true };
    assert!(check_outcome("validate", &ran(Some(1), positioned, false), reject).is_ok());
    assert!(check_outcome("validate", &ran(Some(1), positioned, false), Expect::Either).is_ok());
    let failures = [
        (ran(Some(1), positioned, false), Expect::Accept),
        (ran(Some(0), "", false), reject),
        (ran(Some(1), "error: no position here\n", false), reject),
        (
            ran(Some(1), "something went wrong\n", false),
            Expect::Either,
        ),
        (
            ran(Some(101), "thread 'main' panicked at src/x.rs:1:1\n", false),
            Expect::Either,
        ),
        (
            ran(Some(70), "error: internal error (a bug in gipgee)\n", false),
            Expect::Either,
        ),
        (ran(None, "", false), Expect::Either),
        (ran(None, "", true), Expect::Either),
    ];
    for (outcome, expect) in failures {
        assert!(
            check_outcome("generate", &outcome, expect).is_err(),
            "not a failure: exit {:?}, {:?}, expected {expect:?}",
            outcome.code,
            outcome.stderr
        );
    }
    assert!(!has_position(" --> gipgee.yaml\n"));
    assert!(!has_position(" --> gipgee.yaml:3:\n"));
    assert!(has_position("x\n   --> gipgee.yaml:12:7\n"));

    let needs = |count: usize| {
        let needs: Vec<String> = (0..count).map(|n| format!("j{n}")).collect();
        let jobs: String = needs
            .iter()
            .map(|n| format!("{n}: {{script: [x]}}\n"))
            .collect();
        format!(
            "{jobs}last: {{script: [x], needs: [{}]}}\n",
            needs.join(", ")
        )
    };
    assert!(check_needs(&needs(50)).is_ok());
    assert!(check_needs(&needs(51)).is_err());
    assert!(check_needs("a: {script: [x], needs: [b]}\n").is_err());

    let dir = tempfile::tempdir().expect("tempdir");
    let files = ["job: {script: ['on']}\n", "job: {script: [on]}\n"].map(|text| {
        let path = dir.path().join(format!("{}.yml", text.len()));
        std::fs::write(&path, text).expect("write");
        path
    });
    if let Some(failures) = check_psych_round_trip(&files) {
        let failed: Vec<&PathBuf> = failures.iter().map(|(file, _)| file).collect();
        assert_eq!(failed, [&files[1]], "{failures:?}");
    }
}
