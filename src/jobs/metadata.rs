//! What a build writes into an image about itself, beyond the user's `labels` and
//! `annotations`: the version its target tags name (`org.opencontainers.image.version`).

use crate::oci::Reference;

/// The version an image's target tags name: of the tags that are versions — an optional `v`,
/// numbers separated by dots, optionally `-` and a suffix (`1`, `1.2`, `v1.2.3`,
/// `1.2.3-rc.1`, `3.20-alpine`) — the one with the most numbers (`1.2.3` over `1.2` and `1`),
/// the first in `targetLocations` order on a tie; `None` when no tag is a version (`latest`).
pub fn image_version(targets: &[Reference]) -> Option<&str> {
    let mut best: Option<(&str, usize)> = None;
    for tag in targets.iter().filter_map(Reference::tag) {
        let Some(numbers) = version_numbers(tag) else {
            continue;
        };
        if best.is_none_or(|(_, most)| numbers > most) {
            best = Some((tag, numbers));
        }
    }
    best.map(|(tag, _)| tag)
}

/// How many dot-separated numbers the tag has, when it is a version.
fn version_numbers(tag: &str) -> Option<usize> {
    let unprefixed = tag.strip_prefix('v').unwrap_or(tag);
    let (numbers, suffix) = match unprefixed.split_once('-') {
        Some((numbers, suffix)) => (numbers, Some(suffix)),
        None => (unprefixed, None),
    };
    let is_number = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let suffix_ok = suffix.is_none_or(|s| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
    });
    (numbers.split('.').all(is_number) && suffix_ok).then(|| numbers.split('.').count())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version_of(tags: &[&str]) -> Option<String> {
        let targets: Vec<Reference> = tags
            .iter()
            .map(|tag| Reference::parse(&format!("registry.example.com/app:{tag}")).unwrap())
            .collect();
        image_version(&targets).map(str::to_string)
    }

    #[test]
    fn the_most_specific_version_tag_is_the_version() {
        assert_eq!(
            version_of(&["1", "1.2.3", "1.2", "latest"]).as_deref(),
            Some("1.2.3")
        );
        assert_eq!(version_of(&["latest", "v2"]).as_deref(), Some("v2"));
        assert_eq!(version_of(&["3.20-alpine"]).as_deref(), Some("3.20-alpine"));
        assert_eq!(
            version_of(&["1.2.3-rc.1", "1.2.4"]).as_deref(),
            Some("1.2.3-rc.1")
        );
        assert_eq!(version_of(&["2024.01"]).as_deref(), Some("2024.01"));
    }

    #[test]
    fn tags_that_are_no_version_give_none() {
        for tag in [
            "latest", "stable", "v", "1.", "1..2", "1-", "x1", "1_2", "v1.x", "1-a_b",
        ] {
            assert_eq!(version_of(&[tag]), None, "{tag}");
        }
    }

    #[test]
    fn a_tie_goes_to_the_first_target() {
        assert_eq!(version_of(&["1.2", "v1.3"]).as_deref(), Some("1.2"));
    }
}
