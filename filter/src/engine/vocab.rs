//! The IIS vocabulary: every enumerated attribute value URL Rewrite 2.1 and ARR 3.0 accept, and
//! the IIS `timeSpan` syntax. The compiler, the farm checks and the `iis-rewrite` importer all read
//! these tables, so a name is spelled once. IIS compares enum values case-insensitively; the
//! spellings here are the schema's (the ones `appcmd` and IIS Manager write).

/// The values of one enumerated attribute, in schema order, with what each one means here.
#[derive(Debug)]
pub struct Vocabulary<T: 'static> {
    /// The attribute, as written in web.config (`patternSyntax`).
    pub attribute: &'static str,
    pub values: &'static [(&'static str, T)],
    /// The names as an error message lists them: `A, B or C`.
    pub expected: &'static str,
}

impl<T: Copy> Vocabulary<T> {
    /// The value named `name` (ASCII case-insensitive; the caller decides about spaces).
    pub fn parse(&self, name: &str) -> Option<T> {
        self.values
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// The schema spelling of `name`, if it is one of the values.
    pub fn canonical(&self, name: &str) -> Option<&'static str> {
        self.values
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(n, _)| *n)
    }

    /// Every name, in schema order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> {
        self.values.iter().map(|(n, _)| *n)
    }
}

/// `patternSyntax` of a rule, a `<rules>`/`<outboundRules>` section, or a precondition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternSyntax {
    EcmaScript,
    Wildcard,
    ExactMatch,
}

pub const PATTERN_SYNTAX: Vocabulary<PatternSyntax> = Vocabulary {
    attribute: "patternSyntax",
    values: &[
        ("ECMAScript", PatternSyntax::EcmaScript),
        ("Wildcard", PatternSyntax::Wildcard),
        ("ExactMatch", PatternSyntax::ExactMatch),
    ],
    expected: "ECMAScript, Wildcard or ExactMatch",
};

/// `logicalGrouping` of `<conditions>` and `<preCondition>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogicalGrouping {
    MatchAll,
    MatchAny,
}

pub const LOGICAL_GROUPING: Vocabulary<LogicalGrouping> = Vocabulary {
    attribute: "logicalGrouping",
    values: &[
        ("MatchAll", LogicalGrouping::MatchAll),
        ("MatchAny", LogicalGrouping::MatchAny),
    ],
    expected: "MatchAll or MatchAny",
};

/// `matchType` of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchType {
    Pattern,
    IsFile,
    IsDirectory,
}

pub const MATCH_TYPE: Vocabulary<MatchType> = Vocabulary {
    attribute: "matchType",
    values: &[
        ("Pattern", MatchType::Pattern),
        ("IsFile", MatchType::IsFile),
        ("IsDirectory", MatchType::IsDirectory),
    ],
    expected: "Pattern, IsFile or IsDirectory",
};

/// `type` of an inbound rule's `<action>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionType {
    None,
    Rewrite,
    Redirect,
    CustomResponse,
    AbortRequest,
}

pub const ACTION_TYPE: Vocabulary<ActionType> = Vocabulary {
    attribute: "type",
    values: &[
        ("None", ActionType::None),
        ("Rewrite", ActionType::Rewrite),
        ("Redirect", ActionType::Redirect),
        ("CustomResponse", ActionType::CustomResponse),
        ("AbortRequest", ActionType::AbortRequest),
    ],
    expected: "None, Rewrite, Redirect, CustomResponse or AbortRequest",
};

/// `type` of an outbound rule's `<action>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundActionType {
    None,
    Rewrite,
}

pub const OUTBOUND_ACTION_TYPE: Vocabulary<OutboundActionType> = Vocabulary {
    attribute: "type",
    values: &[
        ("None", OutboundActionType::None),
        ("Rewrite", OutboundActionType::Rewrite),
    ],
    expected: "None or Rewrite",
};

/// `redirectType` of a Redirect action, as the status code it sends.
pub const REDIRECT_TYPE: Vocabulary<u16> = Vocabulary {
    attribute: "redirectType",
    values: &[
        ("Permanent", 301),
        ("Found", 302),
        ("SeeOther", 303),
        ("Temporary", 307),
    ],
    expected: "Permanent, Found, SeeOther or Temporary",
};

/// `responseCacheDirective` of a rule (kernel and user-mode output caching; nothing to do
/// behind Envoy, but an unknown value is still a mistake).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseCacheDirective {
    Auto,
    Always,
    Never,
    NotIfRuleMatched,
}

pub const RESPONSE_CACHE_DIRECTIVE: Vocabulary<ResponseCacheDirective> = Vocabulary {
    attribute: "responseCacheDirective",
    values: &[
        ("Auto", ResponseCacheDirective::Auto),
        ("Always", ResponseCacheDirective::Always),
        ("Never", ResponseCacheDirective::Never),
        ("NotIfRuleMatched", ResponseCacheDirective::NotIfRuleMatched),
    ],
    expected: "Auto, Always, Never or NotIfRuleMatched",
};

/// `loadBalancing algorithm` of an ARR farm. ARR 3 implements `WeightedRoundRobin` and
/// `RequestHash`; the schema keeps the other three for upgrades. They are mapped to what their
/// name asks for where Envoy has it (docs/arr.md states each mapping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    WeightedRoundRobin,
    RequestHash,
    LeastRequests,
    LeastResponseTime,
    WeightedTotalTraffic,
}

pub const LB_ALGORITHM: Vocabulary<Algorithm> = Vocabulary {
    attribute: "algorithm",
    values: &[
        ("WeightedRoundRobin", Algorithm::WeightedRoundRobin),
        ("RequestHash", Algorithm::RequestHash),
        ("LeastRequests", Algorithm::LeastRequests),
        ("LeastResponseTime", Algorithm::LeastResponseTime),
        ("WeightedTotalTraffic", Algorithm::WeightedTotalTraffic),
    ],
    expected: "WeightedRoundRobin, RequestHash, LeastRequests, LeastResponseTime or \
               WeightedTotalTraffic",
};

impl Algorithm {
    pub const NAMES: &'static str = LB_ALGORITHM.expected;

    pub fn parse(v: &str) -> Option<Algorithm> {
        LB_ALGORITHM.parse(v.trim())
    }
}

/// An IIS `timeSpan` value (the .NET `TimeSpan` constant format), in 100 ns ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeSpan {
    pub negative: bool,
    pub ticks: u64,
}

const TICKS_PER_MS: u64 = 10_000;
const TICKS_PER_SECOND: u64 = 1_000 * TICKS_PER_MS;
/// Fractions of a second carry at most seven digits (one tick).
const FRACTION_DIGITS: usize = 7;

impl TimeSpan {
    /// Whole milliseconds; `None` for a negative span.
    pub fn as_millis(self) -> Option<u64> {
        (!self.negative).then_some(self.ticks / TICKS_PER_MS)
    }

    /// Whole seconds; `None` for a negative span.
    pub fn as_secs(self) -> Option<u64> {
        (!self.negative).then_some(self.ticks / TICKS_PER_SECOND)
    }
}

/// Parses `[-][d.]hh:mm:ss[.fffffff]`, surrounding spaces ignored, the way .NET's
/// `TimeSpan.Parse` reads that format: each number may have leading zeros (`0001:00:00` is one
/// hour), hours are 0–23 and minutes and seconds 0–59, and the fraction has one to seven digits
/// (`00:00:30.12345678` overflows, `00:00:30.` has no fraction: both refused). The shorter forms
/// .NET also reads (`d`, `hh:mm`) are not IIS timeSpan values and are refused.
pub fn parse_timespan(s: &str) -> Option<TimeSpan> {
    let s = s.trim();
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (days, clock) = match s.split_once(':') {
        // A '.' before the first ':' separates the days.
        Some((head, _)) => match head.split_once('.') {
            Some((d, _)) => (number(d)?, s.get(d.len() + 1..)?),
            None => (0, s),
        },
        None => return None,
    };
    let (hms, fraction) = match clock.split_once('.') {
        Some((hms, f)) => (hms, fraction_ticks(f)?),
        None => (clock, 0),
    };
    let mut parts = hms.split(':');
    let (Some(h), Some(m), Some(sec), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let (h, m, sec) = (number(h)?, number(m)?, number(sec)?);
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    let seconds = days
        .checked_mul(86_400)?
        .checked_add(h * 3_600 + m * 60 + sec)?;
    let ticks = seconds
        .checked_mul(TICKS_PER_SECOND)?
        .checked_add(fraction)?;
    Some(TimeSpan { negative, ticks })
}

/// Decimal digits only (leading zeros allowed), at least one.
fn number(x: &str) -> Option<u64> {
    if x.is_empty() || !x.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    x.parse().ok()
}

/// One to seven fraction digits, as ticks.
fn fraction_ticks(f: &str) -> Option<u64> {
    if f.len() > FRACTION_DIGITS {
        return None;
    }
    let digits = number(f)?;
    let scale = 10u64.checked_pow(u32::try_from(FRACTION_DIGITS - f.len()).ok()?)?;
    digits.checked_mul(scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> Option<u64> {
        parse_timespan(s).and_then(TimeSpan::as_millis)
    }

    #[test]
    fn usual_timespans() {
        assert_eq!(ms("00:00:30"), Some(30_000));
        assert_eq!(ms("00:02:00"), Some(120_000));
        assert_eq!(ms("  00:15:00 "), Some(900_000));
        assert_eq!(ms("1.00:00:00"), Some(86_400_000));
        assert_eq!(ms("2.03:04:05.5"), Some(183_845_500));
        assert_eq!(ms("00:00:01.5"), Some(1_500));
        assert_eq!(ms("2:5:7"), Some(7_507_000));
        assert_eq!(ms("23:59:59"), Some(86_399_000));
        assert_eq!(
            parse_timespan("00:00:00.0000001"),
            Some(TimeSpan {
                negative: false,
                ticks: 1
            })
        );
        assert_eq!(
            parse_timespan("00:00:01.1234567"),
            Some(TimeSpan {
                negative: false,
                ticks: 11_234_567
            })
        );
        assert_eq!(
            parse_timespan("00:00:30.5").and_then(TimeSpan::as_secs),
            Some(30)
        );
    }

    #[test]
    fn leading_zeros_are_allowed() {
        assert_eq!(ms("0001:00:00"), Some(3_600_000));
        assert_eq!(ms("00:0002:00"), Some(120_000));
        assert_eq!(ms("001.00:00:00"), Some(86_400_000));
    }

    #[test]
    fn fractions_have_one_to_seven_digits() {
        assert_eq!(parse_timespan("00:00:30.12345678"), None);
        assert_eq!(parse_timespan("00:00:30."), None);
        assert_eq!(parse_timespan("00:00:30.1x"), None);
    }

    #[test]
    fn negative_spans_parse_but_have_no_duration() {
        let t = parse_timespan("-00:00:30");
        assert_eq!(
            t,
            Some(TimeSpan {
                negative: true,
                ticks: 300_000_000
            })
        );
        assert_eq!(t.and_then(TimeSpan::as_millis), None);
    }

    #[test]
    fn malformed_timespans_are_refused() {
        for bad in [
            "",
            "30",
            "120",
            "1:2",
            "00:60:00",
            "24:00:00",
            "00:00:60",
            "x.00:00:01",
            "1.",
            ".00:00:01",
            "00:00:01:00",
            "a:b:c",
            "+00:00:01",
            "--00:00:01",
            "1 00:00:00",
            "99999999999999999999.00:00:00",
        ] {
            assert_eq!(parse_timespan(bad), None, "{bad}");
        }
    }

    fn expected_of(names: Vec<&str>) -> String {
        match names.split_last() {
            Some((last, [])) => (*last).to_string(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    }

    #[test]
    fn each_vocabulary_lists_its_names_in_expected() {
        let all: [(&str, Vec<&str>); 8] = [
            (PATTERN_SYNTAX.expected, PATTERN_SYNTAX.names().collect()),
            (
                LOGICAL_GROUPING.expected,
                LOGICAL_GROUPING.names().collect(),
            ),
            (MATCH_TYPE.expected, MATCH_TYPE.names().collect()),
            (ACTION_TYPE.expected, ACTION_TYPE.names().collect()),
            (
                OUTBOUND_ACTION_TYPE.expected,
                OUTBOUND_ACTION_TYPE.names().collect(),
            ),
            (REDIRECT_TYPE.expected, REDIRECT_TYPE.names().collect()),
            (
                RESPONSE_CACHE_DIRECTIVE.expected,
                RESPONSE_CACHE_DIRECTIVE.names().collect(),
            ),
            (LB_ALGORITHM.expected, LB_ALGORITHM.names().collect()),
        ];
        for (expected, names) in all {
            assert_eq!(expected, expected_of(names));
        }
    }

    #[test]
    fn names_match_case_insensitively() {
        assert_eq!(
            PATTERN_SYNTAX.parse("ecmascript"),
            Some(PatternSyntax::EcmaScript)
        );
        assert_eq!(PATTERN_SYNTAX.canonical("WILDCARD"), Some("Wildcard"));
        assert_eq!(REDIRECT_TYPE.parse("seeother"), Some(303));
        assert_eq!(
            ACTION_TYPE.parse("abortrequest"),
            Some(ActionType::AbortRequest)
        );
        assert_eq!(ACTION_TYPE.parse("Abort"), None);
        assert_eq!(ACTION_TYPE.parse(" Rewrite"), None);
        assert_eq!(
            Algorithm::parse(" requestHash"),
            Some(Algorithm::RequestHash)
        );
    }
}
