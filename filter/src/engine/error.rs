//! Configuration errors and warnings. Every error names where it is (section, rule, element,
//! attribute) so that the filter's log line and `iis-rewrite check` (which maps a [`Location`] back
//! to an XML line and column) say the same thing. Every mistake that can be found at load time
//! is an error then, never a surprise per request (docs/configuration.md).

use std::fmt;

/// Which collection of the configuration an item belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Section {
    GlobalRules,
    Rules,
    OutboundRules,
    PreConditions,
    RewriteMaps,
    CustomHeaders,
    AllowedServerVariables,
    Routing,
    Proxy,
    WebFarms,
}

impl Section {
    /// The word used in messages for one item of the section.
    pub fn item_word(self) -> &'static str {
        match self {
            Section::GlobalRules => "global rule",
            Section::Rules => "rule",
            Section::OutboundRules => "outbound rule",
            Section::PreConditions => "preCondition",
            Section::RewriteMaps => "rewriteMap",
            Section::CustomHeaders => "customHeader",
            Section::AllowedServerVariables => "allowedServerVariable",
            Section::Routing => "upstream",
            Section::Proxy => "proxy",
            Section::WebFarms => "webFarm",
        }
    }
}

/// The element inside an item that is at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Element {
    /// The item's own element (`<rule>`, `<preCondition>`, `<rewriteMap>`, …).
    Item,
    Match,
    Conditions,
    /// `<conditions><add>` number n (0-based) of a rule, or `<add>` n of a preCondition.
    Condition(usize),
    /// `<serverVariables><set>` number n (0-based).
    Set(usize),
    Action,
    /// `<rewriteMap><add>` number n (0-based).
    MapEntry(usize),
    /// `<webFarm><server>` number n (0-based).
    FarmServer(usize),
    /// A farm's `<applicationRequestRouting><protocol>`.
    Protocol,
    /// A farm's `<healthCheck>`.
    HealthCheck,
    /// A farm's `<loadBalancing>`.
    LoadBalancing,
    /// A farm's `<affinity>`.
    Affinity,
}

impl fmt::Display for Element {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Element::Item => Ok(()),
            Element::Match => f.write_str("<match>"),
            Element::Conditions => f.write_str("<conditions>"),
            Element::Condition(n) => write!(f, "condition {}", n + 1),
            Element::Set(n) => write!(f, "<set> {}", n + 1),
            Element::Action => f.write_str("<action>"),
            Element::MapEntry(n) => write!(f, "<add> {}", n + 1),
            Element::FarmServer(n) => write!(f, "<server> {}", n + 1),
            Element::Protocol => f.write_str("<protocol>"),
            Element::HealthCheck => f.write_str("<healthCheck>"),
            Element::LoadBalancing => f.write_str("<loadBalancing>"),
            Element::Affinity => f.write_str("<affinity>"),
        }
    }
}

/// Where a configuration problem is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    pub section: Section,
    /// Index of the item in its section (0-based), after `<clear/>`/`<remove/>`.
    pub index: usize,
    /// The item's name (rule name, map name, …); empty when it has none.
    pub name: String,
    pub element: Element,
    /// The attribute at fault (`url`, `pattern`, `type`, …); empty for a whole element.
    pub attribute: &'static str,
}

impl Location {
    pub fn new(section: Section, index: usize, name: &str) -> Self {
        Location {
            section,
            index,
            name: name.to_string(),
            element: Element::Item,
            attribute: "",
        }
    }

    pub fn at(&self, element: Element, attribute: &'static str) -> Self {
        Location {
            element,
            attribute,
            ..self.clone()
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} \"{}\"", self.section.item_word(), self.name)?;
        if self.element != Element::Item {
            write!(f, " {}", self.element)?;
        }
        if !self.attribute.is_empty() {
            write!(f, " attribute {}", self.attribute)?;
        }
        Ok(())
    }
}

/// Why a configuration is refused.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigError {
    /// The plugin configuration is not valid JSON of our schema.
    Json { message: String },
    /// An attribute names a value outside its enumeration.
    UnknownValue {
        at: Location,
        value: String,
        expected: &'static str,
    },
    /// A number outside its allowed range.
    OutOfRange {
        at: Location,
        value: String,
        allowed: &'static str,
    },
    /// A required attribute is missing or empty.
    Missing { at: Location },
    /// A pattern that does not compile.
    InvalidPattern {
        at: Location,
        pattern: String,
        reason: String,
    },
    /// A pattern construct that IIS accepts but this engine cannot run exactly.
    UnsupportedConstruct {
        at: Location,
        pattern: String,
        construct: &'static str,
    },
    /// A template with an unbalanced `{` or a malformed `{…}` token.
    BadTemplate {
        at: Location,
        template: String,
        reason: String,
    },
    /// `{R:n}` / `{C:n}` beyond the groups its pattern has, or an index above 9.
    BadBackReference {
        at: Location,
        reference: String,
        reason: String,
    },
    /// `{Name:key}` where Name is neither a function nor a defined rewrite map.
    UnknownMap { at: Location, name: String },
    /// A `<set>` of a name outside a present `allowedServerVariables` list.
    NotAllowedServerVariable { at: Location, name: String },
    /// Two items with the same name in one collection.
    DuplicateName { at: Location, name: String },
    /// An outbound rule names a preCondition that is not defined.
    UnknownPreCondition { at: Location, name: String },
    /// A feature IIS has that this filter does not implement (listed in docs/differences.md).
    Unsupported { at: Location, what: String },
    /// An error inside one named rule set of a multi-site configuration.
    InRuleSet {
        name: String,
        error: Box<ConfigError>,
    },
}

impl ConfigError {
    /// Where the error is, when it has a location.
    pub fn location(&self) -> Option<&Location> {
        match self {
            ConfigError::Json { .. } => None,
            ConfigError::InRuleSet { error, .. } => error.location(),
            ConfigError::UnknownValue { at, .. }
            | ConfigError::OutOfRange { at, .. }
            | ConfigError::Missing { at }
            | ConfigError::InvalidPattern { at, .. }
            | ConfigError::UnsupportedConstruct { at, .. }
            | ConfigError::BadTemplate { at, .. }
            | ConfigError::BadBackReference { at, .. }
            | ConfigError::UnknownMap { at, .. }
            | ConfigError::NotAllowedServerVariable { at, .. }
            | ConfigError::DuplicateName { at, .. }
            | ConfigError::UnknownPreCondition { at, .. }
            | ConfigError::Unsupported { at, .. } => Some(at),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Json { message } => write!(f, "invalid configuration JSON: {message}"),
            ConfigError::UnknownValue {
                at,
                value,
                expected,
            } => write!(f, "{at}: unknown value \"{value}\" (expected {expected})"),
            ConfigError::OutOfRange { at, value, allowed } => {
                write!(f, "{at}: value \"{value}\" is out of range ({allowed})")
            }
            ConfigError::Missing { at } => write!(f, "{at}: required but missing or empty"),
            ConfigError::InvalidPattern {
                at,
                pattern,
                reason,
            } => write!(f, "{at}: invalid pattern \"{pattern}\": {reason}"),
            ConfigError::UnsupportedConstruct {
                at,
                pattern,
                construct,
            } => write!(
                f,
                "{at}: pattern \"{pattern}\" uses {construct}, which this filter cannot run"
            ),
            ConfigError::BadTemplate {
                at,
                template,
                reason,
            } => write!(f, "{at}: \"{template}\": {reason}"),
            ConfigError::BadBackReference {
                at,
                reference,
                reason,
            } => write!(f, "{at}: back-reference \"{reference}\": {reason}"),
            ConfigError::UnknownMap { at, name } => {
                write!(f, "{at}: unknown rewrite map or function \"{name}\"")
            }
            ConfigError::NotAllowedServerVariable { at, name } => write!(
                f,
                "{at}: server variable \"{name}\" is not in allowedServerVariables"
            ),
            ConfigError::DuplicateName { at, name } => {
                write!(f, "{at}: duplicate name \"{name}\"")
            }
            ConfigError::UnknownPreCondition { at, name } => {
                write!(f, "{at}: unknown preCondition \"{name}\"")
            }
            ConfigError::Unsupported { at, what } => write!(f, "{at}: {what} is not supported"),
            ConfigError::InRuleSet { name, error } => write!(f, "rule set \"{name}\": {error}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Something legal but probably not what the author meant; never changes behaviour.
#[derive(Debug, Clone, PartialEq)]
pub struct Warning {
    pub at: Location,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}
