//! The environment gipgee generates for: a snapshot of variables, and `${VAR}` expansion.
//!
//! Expansion happens once, when the configuration is resolved; nothing downstream sees an
//! unexpanded reference. Credentials are never expanded: only their variable *names* are
//! part of the configuration.

use std::collections::BTreeMap;

/// A snapshot of environment variables. Tests build one by hand; the CLI takes the process
/// environment. Its `Debug` output names the variables but never shows a value: the
/// environment of a CI job holds its credentials.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Vars {
    values: BTreeMap<String, String>,
}

impl std::fmt::Debug for Vars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vars ")?;
        f.debug_map()
            .entries(self.values.keys().map(|name| (name, format_args!("…"))))
            .finish()
    }
}

impl Vars {
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Vars {
            values: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    pub fn set(&mut self, name: &str, value: &str) {
        self.values.insert(name.to_string(), value.to_string());
    }

    /// The value of a variable; an empty value counts as unset, as in GitLab rules.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn is_true(&self, name: &str) -> bool {
        matches!(self.get(name), Some(v) if v.eq_ignore_ascii_case("true") || v == "1")
    }
}

/// Why a string could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpandError {
    /// `${NAME}` or `$NAME` where NAME is not set.
    Missing(String),
    /// `${` without a closing brace, or `${}` / `${not a name}`.
    Malformed(String),
    /// A credential variable: its value must never reach a pipeline.
    Refused(String),
}

/// Expands `${NAME}` and `$NAME`; `$$` is a literal `$` (as in GitLab). A `$` not followed by
/// a name, `{` or `$` stays as it is.
pub fn expand(input: &str, vars: &Vars) -> Result<String, ExpandError> {
    expand_with(input, |name| {
        vars.get(name)
            .map(str::to_string)
            .ok_or_else(|| ExpandError::Missing(name.to_string()))
    })
}

/// [`expand`] with a custom lookup, which may refuse a variable.
pub fn expand_with(
    input: &str,
    lookup: impl Fn(&str) -> Result<String, ExpandError>,
) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(braced) = after.strip_prefix('{') {
            let Some(close) = braced.find('}') else {
                return Err(ExpandError::Malformed(format!(
                    "`${{` without a closing `}}` in \"{input}\""
                )));
            };
            let name = &braced[..close];
            if !is_variable_name(name) {
                return Err(ExpandError::Malformed(format!(
                    "`${{{name}}}` is not a variable name"
                )));
            }
            out.push_str(&lookup(name)?);
            rest = &braced[close + 1..];
        } else {
            let len = after
                .char_indices()
                .find(|&(i, c)| {
                    !(c == '_' || c.is_ascii_alphanumeric()) || (i == 0 && c.is_ascii_digit())
                })
                .map_or(after.len(), |(i, _)| i);
            if len == 0 {
                out.push('$');
                rest = after;
            } else {
                let name = &after[..len];
                out.push_str(&lookup(name)?);
                rest = &after[len..];
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// A shell / GitLab variable name: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        Vars::from_pairs([
            ("CI_REGISTRY_IMAGE", "registry.example.com/g/p"),
            ("TAG", "3.20"),
            ("EMPTY", ""),
        ])
    }

    #[test]
    fn expands_both_forms() {
        assert_eq!(
            expand("${CI_REGISTRY_IMAGE}/alpine:$TAG", &vars()).unwrap(),
            "registry.example.com/g/p/alpine:3.20"
        );
        assert_eq!(expand("a$$b", &vars()).unwrap(), "a$b");
        assert_eq!(expand("cost: 5$", &vars()).unwrap(), "cost: 5$");
    }

    #[test]
    fn missing_and_empty_variables_are_errors() {
        assert_eq!(
            expand("${NOPE}/x", &vars()),
            Err(ExpandError::Missing("NOPE".into()))
        );
        assert_eq!(
            expand("$EMPTY", &vars()),
            Err(ExpandError::Missing("EMPTY".into()))
        );
    }

    #[test]
    fn malformed_braces_are_errors() {
        assert!(matches!(
            expand("${UNCLOSED", &vars()),
            Err(ExpandError::Malformed(_))
        ));
        assert!(matches!(
            expand("${a-b}", &vars()),
            Err(ExpandError::Malformed(_))
        ));
    }
}
