//! The warning for templates that can multiply a request's input: a `<set>` value, condition
//! input or action text that repeats a capture or a client-controlled variable many times,
//! directly or through variables earlier `<set>`s filled (five chained values of nine copies
//! each turn a 10 KB URL into 590 MB). The filter bounds every expansion at run time and refuses
//! such requests (`engine::evaluate::limits`); this tells the author before a client finds out.
//!
//! Each template gets a *factor*: how many copies of request input its expansion can hold at
//! most. A literal and a rewrite map's value count 0 (they come from the configuration), a
//! server variable whose value the server bounds (`HTTPS`, `SERVER_PORT`, `REMOTE_ADDR`, …)
//! counts 0, a capture or any other variable 1, a variable an earlier `<set>` wrote the factor of
//! that value, and a function its argument's factor times its worst growth per byte. Rules are
//! followed in order, global rules first, as a request runs them.

use super::*;
use crate::engine::template::{Function, MAX_TEMPLATE_BYTES};

/// Factors from which a template is reported: at 8 copies a URL of 8 KiB already passes the
/// bound, and no template that merely assembles a URL from its parts gets there.
pub(super) const WARN_FACTOR: u64 = 8;

/// What an earlier `<set>` wrote: a request header (`:authority` for HTTP_HOST) or a custom
/// variable's slot.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Written {
    Header(String),
    Custom(usize),
}

/// The factors of the variables written so far.
#[derive(Debug, Default)]
pub(super) struct Growth {
    written: Vec<(Written, String, u64)>,
}

/// Bytes a function may produce per byte of its argument.
fn growth_per_byte(f: Function) -> u64 {
    match f {
        // `%XX` for every byte.
        Function::UrlEncode => 3,
        // `&quot;` for `"`.
        Function::HtmlEncode => 6,
        // Lower case can be longer than upper case in UTF-8 (U+023A → U+2C65).
        Function::ToLower => 2,
        Function::UrlDecode => 1,
    }
}

impl Growth {
    fn written(&self, key: &Written) -> Option<(&str, u64)> {
        self.written
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, name, f)| (name.as_str(), *f))
    }

    /// The factor of a variable, with the names of written variables it reads.
    fn var(&self, v: &ServerVar, via: &mut Vec<String>) -> u64 {
        let key = match v {
            ServerVar::Header(h) => Written::Header(h.clone()),
            ServerVar::HttpHost => Written::Header(":authority".into()),
            ServerVar::Custom(slot, _) => Written::Custom(*slot),
            _ => return builtin_factor(v),
        };
        let fallback = match v {
            ServerVar::Custom(_, fallback) => builtin_factor(fallback),
            _ => 1,
        };
        match self.written(&key) {
            Some((name, f)) if f > 1 => {
                if !via.iter().any(|n| n == name) {
                    via.push(name.to_string());
                }
                f.max(fallback)
            }
            _ => fallback.max(1),
        }
    }

    /// The factor of a template; `cond` is what `{C:n}` can hold.
    fn template(&self, t: &Template, cond: u64, via: &mut Vec<String>) -> u64 {
        t.segments().iter().fold(0u64, |sum, s| {
            let f = match s {
                Segment::Literal(_) | Segment::Map(..) => 0,
                Segment::Var(v) => self.var(v, via),
                Segment::RuleRef(_) => 1,
                Segment::CondRef(_) => cond,
                Segment::Call(f, arg) => self
                    .template(arg, cond, via)
                    .saturating_mul(growth_per_byte(*f)),
            };
            sum.saturating_add(f)
        })
    }

    /// Follows one compiled rule: warns about its templates and records what its sets write.
    pub(super) fn rule(&mut self, rule: &CompiledRule, at: &Location, warnings: &mut Vec<Warning>) {
        let mut cond = 1;
        for (k, c) in rule.conditions.items.iter().enumerate() {
            let mut via = Vec::new();
            let f = self.template(&c.input, cond, &mut via);
            warn(f, &via, at.at(Element::Condition(k), "input"), warnings);
            cond = cond.max(f);
        }
        for (k, s) in rule.sets.iter().enumerate() {
            let mut via = Vec::new();
            let f = self.template(&s.value, cond, &mut via);
            warn(f, &via, at.at(Element::Set(k), "value"), warnings);
            let key = match &s.target {
                SetTarget::RequestHeader(h) => Written::Header(h.to_string()),
                SetTarget::Custom(slot) => Written::Custom(*slot),
                SetTarget::ResponseHeader(_) => continue,
            };
            match self.written.iter_mut().find(|(k, _, _)| *k == key) {
                Some(entry) => entry.2 = entry.2.max(f),
                None => self.written.push((key, s.name.clone(), f)),
            }
        }
        let texts: Vec<(&Template, &'static str)> = match &rule.action {
            CompiledAction::Rewrite { url, .. } | CompiledAction::Redirect { url, .. } => {
                vec![(url, "url")]
            }
            CompiledAction::CustomResponse {
                reason,
                description,
                ..
            } => vec![(reason, "statusReason"), (description, "statusDescription")],
            CompiledAction::None | CompiledAction::Abort => Vec::new(),
        };
        for (t, attr) in texts {
            let mut via = Vec::new();
            let f = self.template(t, cond, &mut via);
            warn(f, &via, at.at(Element::Action, attr), warnings);
        }
    }
}

/// Variables whose value the server bounds, whatever the client sends.
fn builtin_factor(v: &ServerVar) -> u64 {
    match v {
        ServerVar::Https
        | ServerVar::ServerPortSecure
        | ServerVar::ServerPort
        | ServerVar::ServerAddr
        | ServerVar::RemoteAddr
        | ServerVar::RemotePort
        | ServerVar::ServerProtocol
        | ServerVar::ResponseStatus
        | ServerVar::Unknown(_) => 0,
        _ => 1,
    }
}

fn warn(factor: u64, via: &[String], at: Location, warnings: &mut Vec<Warning>) {
    if factor < WARN_FACTOR {
        return;
    }
    let through = if via.is_empty() {
        String::new()
    } else {
        format!(" (through {})", via.join(", "))
    };
    warnings.push(Warning {
        at,
        message: format!(
            "can repeat the request's input up to {factor} times{through}: {} bytes of input (in \
             the URL or a header) already expand past the {MAX_TEMPLATE_BYTES}-byte limit, and \
             such requests are refused with 431",
            MAX_TEMPLATE_BYTES as u64 / factor + 1,
        ),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warnings(json: &str) -> Vec<String> {
        let config = FilterConfig::from_json(json).unwrap();
        let (_, warnings) = Engine::compile_all(&config).unwrap();
        warnings
            .iter()
            .filter(|w| w.message.contains("repeat the request's input"))
            .map(ToString::to_string)
            .collect()
    }

    fn chained(copies: usize) -> String {
        let mut sets = Vec::new();
        let mut prev = "{R:1}".to_string();
        for level in 0..3 {
            let name = if level == 1 {
                format!("AMP_{level}")
            } else {
                format!("HTTP_X_AMP_{level}")
            };
            sets.push(format!(
                r#"{{"name":"{name}","value":"{}"}}"#,
                prev.repeat(copies)
            ));
            prev = format!("{{{name}}}");
        }
        format!(
            r#"{{"rules":[{{"name":"a","match":{{"url":"^amp/(.*)"}},"serverVariables":[{}]}},
              {{"name":"b","match":{{"url":".*"}},"action":{{"type":"Rewrite","url":"/{{ToLower:{prev}}}"}}}}]}}"#,
            sets.join(",")
        )
    }

    #[test]
    fn chained_copies_are_reported_with_their_path() {
        let w = warnings(&chained(3));
        // 3 copies alone are no warning; 9 through a header, 27 through a custom variable, and
        // 27 times ToLower's 2 in the next rule's target.
        assert_eq!(w.len(), 3, "{w:#?}");
        assert!(
            w[0].contains("up to 9 times (through HTTP_X_AMP_0)"),
            "{}",
            w[0]
        );
        assert!(w[1].contains("up to 27 times (through AMP_1)"), "{}", w[1]);
        assert!(
            w[2].contains("rule \"b\"") && w[2].contains("54 times"),
            "{}",
            w[2]
        );
        assert!(w[0].contains("refused with 431"));
        assert_eq!(warnings(&chained(2)).len(), 2, "4, 8 and 16 copies");
        assert!(warnings(&chained(1)).is_empty());
    }

    #[test]
    fn urls_assembled_from_their_parts_are_not_reported() {
        assert!(warnings(
            r#"{"rules":[{"name":"r","match":{"url":"(.*)"},
              "conditions":{"items":[{"input":"{HTTP_HOST}","pattern":"^(www\\.)?(.*)$"}]},
              "serverVariables":[{"name":"HTTP_X_ORIGINAL","value":"{HTTPS}://{HTTP_HOST}{URL}?{QUERY_STRING}"}],
              "action":{"type":"Redirect","url":"https://{C:2}/{R:1}?{QUERY_STRING}&h={HTTP_HOST}&u={UrlEncode:{R:1}}"}}]}"#
        )
        .is_empty());
        assert!(warnings(include_str!(
            "../../../../testdata/jellyfin-basic-inbound.json"
        ))
        .is_empty());
    }
}
