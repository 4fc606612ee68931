//! The importer's side of the shared IIS vocabulary (`iis_rewrite_filter::vocab`): enumerated
//! values written in their schema spelling, and timeSpan values in whole seconds. The spellings
//! and the timeSpan grammar live in the filter crate only, so `check` and the filter agree.

use iis_rewrite_filter::vocab::{self, Vocabulary};
pub(super) use iis_rewrite_filter::vocab::{
    ACTION_TYPE, LB_ALGORITHM, LOGICAL_GROUPING, MATCH_TYPE, OUTBOUND_ACTION_TYPE, PATTERN_SYNTAX,
    REDIRECT_TYPE, RESPONSE_CACHE_DIRECTIVE,
};

/// The schema spelling of an enumerated value matched case-insensitively (IIS reads
/// enumerations without regard to case); other values pass through for the engine to refuse
/// with its own message.
pub(super) fn canon<T: Copy>(value: Option<&str>, vocabulary: &Vocabulary<T>) -> Option<String> {
    let v = value?;
    Some(vocabulary.canonical(v.trim()).unwrap_or(v).to_string())
}

/// Whole seconds of an IIS timeSpan `[d.]hh:mm:ss[.fffffff]`; `None` when it is not one (or is
/// negative).
pub fn parse_timespan(s: &str) -> Option<u64> {
    vocab::parse_timespan(s).and_then(vocab::TimeSpan::as_secs)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn timespans_in_seconds() {
        assert_eq!(parse_timespan("00:02:00"), Some(120));
        assert_eq!(parse_timespan("1.00:00:00"), Some(86_400));
        assert_eq!(parse_timespan("00:00:30.5"), Some(30));
        assert_eq!(parse_timespan("-00:00:30"), None);
        assert_eq!(parse_timespan("120"), None);
    }

    #[test]
    fn canonical_enum_spelling() {
        assert_eq!(
            canon(Some("matchany"), &LOGICAL_GROUPING).unwrap(),
            "MatchAny"
        );
        assert_eq!(canon(Some("Bogus"), &LOGICAL_GROUPING).unwrap(), "Bogus");
        assert_eq!(canon(None, &LOGICAL_GROUPING), None);
    }
}
