//! The keys of gipgee.yaml, described once: the validator uses them for "unknown key" and
//! "did you mean", `gipgee schema` turns them into the JSON Schema.

/// What kind of value a key takes (drives both validation messages and the JSON Schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// An OCI image reference (variables allowed).
    Reference,
    /// A list of target locations: image references (variables allowed), each as text or as
    /// `{ref, immutable}`.
    Targets,
    /// A repository without tag (variables allowed).
    Repository,
    /// A repo-relative path (variables allowed).
    Path,
    /// A list of globset globs.
    Globs,
    /// A map of build-arg name to value.
    BuildArgs,
    /// A map of label or annotation key to value.
    Metadata,
    /// A list of tests.
    Tests,
    /// `auto`, `none` or `{command: [...]}`.
    UpdateCheck,
    Bool,
    /// One of the built-in builders.
    Builder,
    /// A variable name (never its value).
    VariableName,
    /// A list of strings (shell lines or argv).
    Strings,
    /// Free text.
    Text,
    /// `false`, `keyless` or `{keyVariable, passwordVariable}`.
    Sign,
    /// A list of platforms, `os/architecture[/variant]`.
    Platforms,
    /// A map of platform to a list of runner tags.
    RunnerTags,
}

#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub kind: FieldKind,
    pub description: &'static str,
}

const fn field(name: &'static str, kind: FieldKind, description: &'static str) -> Field {
    Field {
        name,
        kind,
        description,
    }
}

pub const TOP_LEVEL_FIELDS: &[&str] = &["version", "registries", "defaults", "images"];

pub const IMAGE_FIELDS: &[Field] = &[
    field(
        "baseImage",
        FieldKind::Reference,
        "Full reference of the image this one is built FROM; passed as build arg GIPGEE_BASE_IMAGE.",
    ),
    field(
        "containerfile",
        FieldKind::Path,
        "Containerfile path, relative to the repository root.",
    ),
    field(
        "context",
        FieldKind::Path,
        "Build context directory, relative to the repository root.",
    ),
    field(
        "targetLocations",
        FieldKind::Targets,
        "References the tested image is released to (required): each a reference, or {ref, immutable: true} for a tag the release never moves to another image.",
    ),
    field(
        "immutableTargets",
        FieldKind::Bool,
        "Whether the image's target locations are immutable unless one says otherwise (default false): the release refuses to move an existing tag to another image.",
    ),
    field(
        "staging",
        FieldKind::Repository,
        "Repository the staging image is pushed to; the tag is unique per pipeline.",
    ),
    field(
        "watchedAssets",
        FieldKind::Globs,
        "Globs (repo-relative); a changed file that matches selects the image. The containerfile always counts.",
    ),
    field(
        "buildArgs",
        FieldKind::BuildArgs,
        "Build args passed to the build.",
    ),
    field(
        "labels",
        FieldKind::Metadata,
        "Labels the build adds to the image config, besides gipgee's own; merged key by key with `defaults`.",
    ),
    field(
        "annotations",
        FieldKind::Metadata,
        "Annotations the build adds to the image manifest, besides gipgee's own; merged key by key with `defaults`.",
    ),
    field(
        "tests",
        FieldKind::Tests,
        "Tests run inside the staging image: {name, script: [lines]} or {name, command: [argv]}.",
    ),
    field(
        "updateCheck",
        FieldKind::UpdateCheck,
        "`auto` (package manager check), `none`, or {command: [argv]}.",
    ),
    field(
        "layerCheck",
        FieldKind::Bool,
        "Whether the scheduled base-image layer check runs (default true).",
    ),
    field(
        "builder",
        FieldKind::Builder,
        "Built-in builder template set (default buildah).",
    ),
    field(
        "scan",
        FieldKind::Bool,
        "Whether a scan:<id> job scans the staging image after its tests; a failed scan stops the release (default false).",
    ),
    field(
        "sign",
        FieldKind::Sign,
        "How a sign:<id> job signs the released image: `keyless` (GitLab ID token), {keyVariable, passwordVariable} (variable names) or false (default).",
    ),
    // Multi-platform images and the build cache (README, "Multi-platform images" and "Build
    // cache"); checked in `parse::platforms`.
    field(
        "platforms",
        FieldKind::Platforms,
        "Platforms built into one multi-platform image (`os/architecture[/variant]`, e.g. linux/arm64); each is tested. Without it: one image for the build runner's platform.",
    ),
    field(
        "runnerTags",
        FieldKind::RunnerTags,
        "Runner tags per platform (`linux/arm64: [arm64]`) for that platform's test jobs; a platform without tags is tested on the default runner under emulation.",
    ),
    field(
        "cache",
        FieldKind::Bool,
        "Whether the build reuses layers from a registry cache, `<staging>/cache/<image id>` (default false).",
    ),
];

pub const REGISTRY_FIELDS: &[Field] = &[
    field(
        "usernameVariable",
        FieldKind::VariableName,
        "Name of the CI/CD variable holding the user name.",
    ),
    field(
        "passwordVariable",
        FieldKind::VariableName,
        "Name of the CI/CD variable holding the password or token.",
    ),
    field(
        "insecure",
        FieldKind::Bool,
        "Use plain http (test registries only).",
    ),
    field(
        "releasedRevisionCheck",
        FieldKind::Bool,
        "Whether pushes to the default branch read the revision of released images here (default true; each is a manifest GET).",
    ),
];

pub const TEST_FIELDS: &[Field] = &[
    field(
        "name",
        FieldKind::Text,
        "Test name; the job is test:<image-id>:<name>.",
    ),
    field(
        "script",
        FieldKind::Strings,
        "Shell lines run inside the staging image.",
    ),
    field(
        "command",
        FieldKind::Strings,
        "An argv run inside the staging image.",
    ),
];

pub const SIGN_FIELDS: &[Field] = &[
    field(
        "keyVariable",
        FieldKind::VariableName,
        "Name of the CI/CD variable holding the cosign private key (its text, not a file).",
    ),
    field(
        "passwordVariable",
        FieldKind::VariableName,
        "Name of the CI/CD variable holding the key's password.",
    ),
];
