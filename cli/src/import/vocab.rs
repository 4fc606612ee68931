//! The IIS vocabularies the importer needs: the spellings of enumerated attribute values and
//! the timeSpan format. Nothing else belongs here.

pub(super) const PATTERN_SYNTAX: &[&str] = &["ECMAScript", "Wildcard", "ExactMatch"];
pub(super) const LOGICAL_GROUPING: &[&str] = &["MatchAll", "MatchAny"];
pub(super) const MATCH_TYPE: &[&str] = &["Pattern", "IsFile", "IsDirectory"];
pub(super) const ACTION_TYPE: &[&str] = &[
    "None",
    "Rewrite",
    "Redirect",
    "CustomResponse",
    "AbortRequest",
];
pub(super) const OUTBOUND_ACTION_TYPE: &[&str] = &["None", "Rewrite"];
pub(super) const REDIRECT_TYPE: &[&str] = &["Permanent", "Found", "SeeOther", "Temporary"];
pub(super) const RESPONSE_CACHE_DIRECTIVE: &[&str] =
    &["Auto", "Always", "Never", "NotIfRuleMatched"];
pub(super) const LB_ALGORITHM: &[&str] = &[
    "WeightedRoundRobin",
    "RequestHash",
    "LeastRequests",
    "LeastResponseTime",
    "WeightedTotalTraffic",
];

/// The canonical spelling of an enumerated value matched case-insensitively (IIS reads
/// enumerations without regard to case); other values are passed through for the engine to
/// refuse.
pub(super) fn canon(value: Option<&str>, variants: &[&str]) -> Option<String> {
    let v = value?;
    Some(
        variants
            .iter()
            .find(|x| x.eq_ignore_ascii_case(v.trim()))
            .map(|x| x.to_string())
            .unwrap_or_else(|| v.to_string()),
    )
}

/// Seconds in an IIS timeSpan `[d.]hh:mm:ss[.fffffff]`.
pub fn parse_timespan(s: &str) -> Option<u64> {
    let s = s.trim();
    let (days, rest) = match s.split_once('.') {
        Some((d, r)) if !d.contains(':') => (d.parse::<u64>().ok()?, r),
        _ => (0, s),
    };
    let rest = match rest.rsplit_once('.') {
        Some((hms, frac)) if frac.chars().all(|c| c.is_ascii_digit()) && hms.contains(':') => hms,
        _ => rest,
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let [h, m, sec] = parts.as_slice() else {
        return None;
    };
    let num = |x: &str| -> Option<u64> {
        if x.is_empty() || !x.chars().all(|c| c.is_ascii_digit()) || x.len() > 4 {
            None
        } else {
            x.parse().ok()
        }
    };
    let (h, m, sec) = (num(h)?, num(m)?, num(sec)?);
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    Some(days.checked_mul(86_400)? + h * 3600 + m * 60 + sec)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn timespans() {
        assert_eq!(parse_timespan("00:02:00"), Some(120));
        assert_eq!(parse_timespan("1.00:00:00"), Some(86_400));
        assert_eq!(parse_timespan("00:00:30.5"), Some(30));
        assert_eq!(parse_timespan("2:5:7"), Some(7507));
        assert_eq!(parse_timespan("120"), None);
        assert_eq!(parse_timespan("00:60:00"), None);
        assert_eq!(parse_timespan("a:b:c"), None);
        assert_eq!(parse_timespan(""), None);
    }

    #[test]
    fn canonical_enum_spelling() {
        assert_eq!(
            canon(Some("matchany"), LOGICAL_GROUPING).unwrap(),
            "MatchAny"
        );
        assert_eq!(canon(Some("Bogus"), LOGICAL_GROUPING).unwrap(), "Bogus");
        assert_eq!(canon(None, LOGICAL_GROUPING), None);
    }
}
