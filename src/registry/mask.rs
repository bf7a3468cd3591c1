//! Masking of credentials in registry-provided text. A registry (or a proxy in front of it)
//! may echo what it was sent — an `Authorization` header, a token, a password in a query —
//! in an error body or a header; that text goes into errors, logs and result files. Every
//! credential the provider may hand out, and every token the client obtains, is replaced
//! there by [`MASK`], in the forms it travels in: plain, percent-encoded, and base64 of the
//! value and of `user:password` (standard and URL-safe alphabets, with and without padding).

use std::fmt;
use std::sync::RwLock;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

use super::auth::Credential;

/// What a masked value is replaced with (GitLab's own word for masked variables).
pub const MASK: &str = "[MASKED]";

/// The values to mask, longest first, so a value inside a longer one (the unpadded base64
/// form inside the padded one) never leaves a tail behind.
#[derive(Default)]
pub struct Masker {
    patterns: RwLock<Vec<String>>,
}

/// How many values, never which.
impl fmt::Debug for Masker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.patterns.read().map_or(0, |p| p.len());
        write!(f, "Masker({count} values)")
    }
}

impl Masker {
    /// A masker for these credentials: each password, and each `user:password` pair.
    pub fn new(credentials: &[Credential]) -> Masker {
        let masker = Masker::default();
        for credential in credentials {
            let password = credential.password.expose();
            masker.add(password);
            if !password.is_empty() {
                masker.add_encoded(&format!("{}:{password}", credential.username));
            }
        }
        masker
    }

    /// Masks `value` (and its encodings) from now on, e.g. a token just obtained.
    pub fn add(&self, value: &str) {
        if value.is_empty() {
            return;
        }
        self.insert(vec![value.to_string(), percent_encoded(value)]);
        self.add_encoded(value);
    }

    /// Masks only the base64 forms of `value`: the plain `user:password` pair is not a
    /// credential in itself (its password part is masked anyway).
    fn add_encoded(&self, value: &str) {
        let bytes = value.as_bytes();
        self.insert(
            [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
                .iter()
                .map(|engine| engine.encode(bytes))
                .collect(),
        );
    }

    fn insert(&self, values: Vec<String>) {
        let mut patterns = self.patterns.write().unwrap_or_else(|e| e.into_inner());
        for value in values {
            if !value.is_empty() && !patterns.contains(&value) {
                patterns.push(value);
            }
        }
        patterns.sort_by_key(|p| std::cmp::Reverse(p.len()));
    }

    /// `text` with every known value replaced by [`MASK`].
    pub fn mask(&self, text: &str) -> String {
        let patterns = self.patterns.read().unwrap_or_else(|e| e.into_inner());
        let mut masked = text.to_string();
        for pattern in patterns.iter() {
            if masked.contains(pattern.as_str()) {
                masked = masked.replace(pattern.as_str(), MASK);
            }
        }
        masked
    }
}

/// `value` percent-encoded as a query value would carry it.
fn percent_encoded(value: &str) -> String {
    super::percent_encode(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Secret;

    fn alice(password: &str) -> Credential {
        Credential {
            username: "alice".into(),
            password: Secret::new(password.into()),
            source: "test".into(),
        }
    }

    #[test]
    fn every_form_of_a_credential_is_masked() {
        // `?>?` makes the standard and URL-safe alphabets differ (`+/` against `-_`), and
        // the lengths give padding.
        let password = "pa?>?ss";
        let masker = Masker::new(&[alice(password)]);
        let pair = format!("alice:{password}");
        let mut forms = vec![password.to_string(), "pa%3F%3E%3Fss".to_string()];
        for value in [password, pair.as_str()] {
            for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
                forms.push(engine.encode(value));
            }
        }
        for form in forms {
            let text = format!("you sent <{form}>, refused");
            assert_eq!(masker.mask(&text), "you sent <[MASKED]>, refused", "{form}");
        }
        assert_eq!(masker.mask("alice was here"), "alice was here");
    }

    #[test]
    fn tokens_added_later_are_masked_and_debug_shows_no_value() {
        let masker = Masker::new(&[]);
        masker.add("tok-123");
        masker.add("");
        assert_eq!(
            masker.mask("Bearer tok-123 expired"),
            "Bearer [MASKED] expired"
        );
        assert_eq!(masker.mask("nothing here"), "nothing here");
        assert!(!format!("{masker:?}").contains("tok"));
    }
}
