//! What `iis-rewrite explain` shows: rule by rule, what the engine looked at and decided. The
//! filter evaluates with tracing off; the same code path runs either way.

/// One condition's evaluation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ConditionTrace {
    /// The expanded input.
    pub input: String,
    pub pattern: String,
    pub negate: bool,
    /// Whether the condition counted as true (after negate).
    pub matched: bool,
    pub captures: Vec<String>,
}

/// One rule's evaluation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RuleTrace {
    pub name: String,
    /// The directory the rule belongs to (`/app/`), for a rule below the site root.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub directory: Option<String>,
    /// The URL was not under the rule's directory: the rule did not apply.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "std::ops::Not::not"))]
    pub outside_directory: bool,
    /// The URL the pattern was tested against (no leading slash).
    pub input: String,
    pub pattern: String,
    /// Pattern matched (after negate).
    pub pattern_matched: bool,
    pub captures: Vec<String>,
    pub conditions: Vec<ConditionTrace>,
    /// Pattern and conditions matched: the rule fired.
    pub fired: bool,
    /// Server variables set: (name, value).
    pub set: Vec<(String, String)>,
    /// The action taken, described (`Rewrite to /x`, `Redirect 301 to …`).
    pub action: Option<String>,
    /// Processing stopped after this rule.
    pub stopped: bool,
}

impl RuleTrace {
    /// A rule of `directory` that did not apply: the URL is not under its directory.
    pub(crate) fn outside(name: &str, directory: &str, pattern: &str) -> RuleTrace {
        RuleTrace {
            name: name.to_string(),
            directory: Some(directory.to_string()),
            outside_directory: true,
            pattern: pattern.to_string(),
            ..RuleTrace::default()
        }
    }
}

/// A whole request's evaluation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RequestTrace {
    pub rules: Vec<RuleTrace>,
}
