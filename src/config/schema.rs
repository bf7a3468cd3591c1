//! The JSON Schema of gipgee.yaml (`gipgee schema`), made from the same key tables the
//! validator uses, so editors and gipgee never disagree about which keys exist.

use serde_json::{Map, Value, json};

use super::{
    BUILDERS, Field, FieldKind, GIPGEE_METADATA_KEYS, IMAGE_FIELDS, REGISTRY_FIELDS, SIGN_FIELDS,
    TEST_FIELDS,
};

/// `os/architecture[/variant]`, as `oci::Platform::parse` accepts it.
const PLATFORM_PATTERN: &str = "^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)?$";

pub fn json_schema() -> String {
    let image = object(IMAGE_FIELDS, &[]);
    let schema = json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "https://gitlab.com/gipgee/gipgee/-/raw/main/gipgee.schema.json",
        "title": "gipgee.yaml",
        "description": "Configuration of gipgee, the GitLab Image Pipeline Generator (version 1).",
        "type": "object",
        "additionalProperties": false,
        "required": ["version", "images"],
        "properties": {
            "version": {"const": 1, "description": "Configuration format version."},
            "registries": {
                "type": "object",
                "description": "Credentials (by variable name) and transport per registry host.",
                "additionalProperties": object(REGISTRY_FIELDS, &[]),
            },
            "defaults": {"$ref": "#/definitions/image", "description": "Fields every image gets unless it sets its own."},
            "images": {
                "type": "object",
                "description": "Images by id.",
                "minProperties": 1,
                "propertyNames": {"pattern": "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"},
                "additionalProperties": {"$ref": "#/definitions/image"},
            },
        },
        "definitions": {
            "image": image,
            "test": test_schema(),
        },
    });
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}

/// A test has a name and exactly one of `script` and `command`.
fn test_schema() -> Value {
    let mut schema = object(TEST_FIELDS, &["name"]);
    if let Value::Object(map) = &mut schema {
        map.insert(
            "oneOf".into(),
            json!([{"required": ["script"]}, {"required": ["command"]}]),
        );
    }
    schema
}

fn object(fields: &[Field], required: &[&str]) -> Value {
    let properties: Map<String, Value> = fields
        .iter()
        .map(|field| {
            let mut schema = kind_schema(field.kind);
            if let Value::Object(map) = &mut schema {
                map.insert("description".into(), field.description.into());
            }
            (field.name.to_string(), schema)
        })
        .collect();
    json!({"type": "object", "additionalProperties": false, "required": required, "properties": properties})
}

fn kind_schema(kind: FieldKind) -> Value {
    let strings = json!({"type": "array", "items": {"type": "string"}});
    match kind {
        FieldKind::Reference | FieldKind::Repository | FieldKind::Path | FieldKind::Text => {
            json!({"type": "string", "minLength": 1})
        }
        FieldKind::Targets => json!({
            "type": "array",
            "minItems": 1,
            "uniqueItems": true,
            "items": {"oneOf": [
                {"type": "string"},
                {"type": "object", "additionalProperties": false, "required": ["ref"], "properties": {
                    "ref": {"type": "string", "minLength": 1},
                    "immutable": {"type": "boolean"},
                }},
            ]},
        }),
        // Not empty, relative, and never leaving the repository through `..`.
        FieldKind::Globs => json!({
            "type": "array",
            "items": {
                "type": "string",
                "pattern": "\\S",
                "not": {"anyOf": [{"pattern": "^/"}, {"pattern": "(^|/)\\.\\.(/|$)"}]},
            },
        }),
        FieldKind::Strings => strings,
        FieldKind::BuildArgs => json!({
            "type": "object",
            "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
            "additionalProperties": {"type": ["string", "number", "boolean"]},
        }),
        FieldKind::Metadata => json!({
            "type": "object",
            "propertyNames": {
                "pattern": "^[A-Za-z0-9][A-Za-z0-9._/-]{0,255}$",
                "not": {"enum": GIPGEE_METADATA_KEYS},
            },
            "additionalProperties": {"type": ["string", "number", "boolean"]},
        }),
        FieldKind::Tests => json!({"type": "array", "items": {"$ref": "#/definitions/test"}}),
        FieldKind::UpdateCheck => json!({
            "oneOf": [
                {"enum": ["auto", "none"]},
                {"type": "object", "additionalProperties": false, "required": ["command"],
                 "properties": {"command": {"type": "array", "minItems": 1, "items": {"type": "string"}}}},
            ],
        }),
        FieldKind::Bool => json!({"type": "boolean"}),
        FieldKind::Builder => json!({"enum": BUILDERS}),
        FieldKind::Sign => json!({
            "oneOf": [
                {"const": false},
                {"const": "keyless"},
                object(SIGN_FIELDS, &["keyVariable"]),
            ],
        }),
        FieldKind::VariableName => json!({"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}),
        FieldKind::Platforms => json!({
            "type": "array",
            "minItems": 1,
            "uniqueItems": true,
            "items": {"type": "string", "pattern": PLATFORM_PATTERN},
        }),
        FieldKind::RunnerTags => json!({
            "type": "object",
            "propertyNames": {"pattern": PLATFORM_PATTERN},
            "additionalProperties": {"type": "array", "items": {"type": "string", "minLength": 1}},
        }),
    }
}
