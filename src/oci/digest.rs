//! Content digests (`algorithm:hex`): the one validated type every reference, descriptor and
//! registry response uses, with sha256 hashing and verification.

use std::fmt;

use serde::Deserialize;
use sha2::{Digest as _, Sha256};

/// A content digest, `sha256:` + 64 or `sha512:` + 128 lowercase hex characters. Only sha256
/// can be verified; sha512 parses (it is legal in the grammar) but fails verification.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct Digest(String);

/// Why a string is not a digest. `reason` says what is wrong without repeating the input, so
/// a caller that quotes the input already (a reference parser) can use it alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestError {
    pub input: String,
    pub reason: String,
}

impl fmt::Display for DigestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid digest {:?}: {}", self.input, self.reason)
    }
}

impl std::error::Error for DigestError {}

impl Digest {
    /// Parses `sha256:<64 lowercase hex>` or `sha512:<128 lowercase hex>`.
    pub fn parse(input: &str) -> Result<Digest, DigestError> {
        check(input).map_err(|reason| DigestError {
            input: input.to_string(),
            reason,
        })?;
        Ok(Digest(input.to_string()))
    }

    /// The sha256 digest of `bytes`.
    pub fn sha256(bytes: &[u8]) -> Digest {
        let hash = Sha256::digest(bytes);
        let mut out = String::with_capacity(7 + 64);
        out.push_str("sha256:");
        for byte in hash.iter() {
            out.push_str(&format!("{byte:02x}"));
        }
        Digest(out)
    }

    pub fn algorithm(&self) -> &str {
        self.0.split_once(':').map_or("", |(a, _)| a)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Checks that `bytes` hash to this digest; on a mismatch returns what they hash to.
    /// A digest of another algorithm than sha256 cannot be checked and is reported as
    /// `Err(None)`.
    pub fn verify(&self, bytes: &[u8]) -> Result<(), Option<Digest>> {
        if self.algorithm() != "sha256" {
            return Err(None);
        }
        let actual = Digest::sha256(bytes);
        if &actual == self {
            Ok(())
        } else {
            Err(Some(actual))
        }
    }
}

impl TryFrom<String> for Digest {
    type Error = DigestError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Digest::parse(&value)
    }
}

impl std::str::FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `digest` is `sha256:` + 64 or `sha512:` + 128 lowercase hex characters.
pub fn is_valid_digest(digest: &str) -> bool {
    check(digest).is_ok()
}

/// What is wrong with `digest`, in words a user can act on: which part, and what was
/// expected instead.
fn check(digest: &str) -> Result<(), String> {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err(format!(
            "digest {digest:?} must have the form \"algorithm:hex\", e.g. \"sha256:<64 hex characters>\""
        ));
    };
    let expected = match algorithm {
        "sha256" => 64,
        "sha512" => 128,
        "" => {
            return Err(format!(
                "digest {digest:?} has no algorithm before \":\"; expected \"sha256\" or \"sha512\""
            ));
        }
        other => {
            return Err(format!(
                "unsupported digest algorithm {other:?}; expected \"sha256\" or \"sha512\""
            ));
        }
    };
    if hex.is_empty() {
        return Err(format!(
            "{algorithm} digest has no hex part; expected exactly {expected} lowercase hex characters"
        ));
    }
    if let Some(c) = hex.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!(
            "{algorithm} digest contains non-hex character {c:?}; expected exactly {expected} lowercase hex characters"
        ));
    }
    if hex.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(format!(
            "{algorithm} digest must be lowercase hex; expected exactly {expected} lowercase hex characters"
        ));
    }
    if hex.len() != expected {
        return Err(format!(
            "{algorithm} digest must have exactly {expected} hex characters, got {}",
            hex.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    #[test]
    fn digests_parse_and_verify() {
        assert!(Digest::parse(D1).is_ok());
        for bad in [
            "sha256:abc",
            "md5:1111",
            "sha256",
            "sha256:1111111111111111111111111111111111111111111111111111111111111ABC",
        ] {
            assert!(Digest::parse(bad).is_err(), "{bad}");
        }
        let digest = Digest::sha256(b"hello");
        assert_eq!(
            digest.as_str(),
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(digest.verify(b"hello"), Ok(()));
        assert_eq!(digest.verify(b"hellO"), Err(Some(Digest::sha256(b"hellO"))));
    }

    #[test]
    fn errors_quote_the_input_and_say_what_is_expected() {
        let err = Digest::parse("sha256:abc").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid digest \"sha256:abc\": sha256 digest must have exactly 64 hex characters, got 3"
        );
        assert_eq!(err.input, "sha256:abc");
    }

    #[test]
    fn sha512_parses_but_cannot_be_verified() {
        let sha512 = Digest::parse(&format!("sha512:{}", "0123456789abcdef".repeat(8))).unwrap();
        assert_eq!(sha512.algorithm(), "sha512");
        assert_eq!(sha512.verify(b"x"), Err(None));
    }
}
