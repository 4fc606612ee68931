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

/// A whole request's evaluation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RequestTrace {
    pub rules: Vec<RuleTrace>,
}
