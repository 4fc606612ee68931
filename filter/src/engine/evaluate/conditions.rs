//! Evaluation of `<conditions>` (URL Rewrite Module Configuration Reference, "Conditions"), shared
//! by inbound rules, outbound rules and preConditions: MatchAll stops at the first false condition,
//! MatchAny at the first true one; `{C:n}` reads the last matched condition's groups, or with
//! `trackAllCaptures` the first matched condition's whole match followed by every matched
//! condition's groups. A negated or file-system condition contributes no captures.

use crate::engine::model::{CompiledConditions, CondTest};
use crate::engine::template::{Expand, TooLarge};
use crate::engine::trace::ConditionTrace;
use crate::engine::vocab::LogicalGrouping;
use crate::pattern::Spans;

/// An evaluation context whose `{C:n}` values the conditions update as they go (a condition's
/// input may read the captures of the conditions before it).
pub(crate) trait ConditionContext<'e>: Expand<'e> {
    fn cond_caps_mut(&mut self) -> &mut Vec<String>;
}

/// Evaluates `c`; returns whether the conditions hold, or that an input would expand past
/// the template limit.
pub(crate) fn evaluate_conditions<'e, C: ConditionContext<'e>>(
    ctx: &mut C,
    c: &'e CompiledConditions,
    mut trace: Option<&mut Vec<ConditionTrace>>,
) -> Result<bool, TooLarge> {
    ctx.cond_caps_mut().clear();
    let mut spans = Spans::new();
    let mut any = false;
    // Captures only when something reads `{C:n}` (or the trace shows them).
    let traced = trace.is_some();
    let want = c.captures_read || traced;
    for item in &c.items {
        let (found, caps, traced_input) = item.input.with_expansion(&*ctx, |input| {
            let found = match &item.test {
                CondTest::Pattern(p) => p.test(input, &mut spans, want),
                CondTest::NoFileSystem => false,
            };
            let caps: Vec<String> = if found && !item.negate && want {
                spans
                    .iter()
                    .map(|s| {
                        s.and_then(|(a, b)| input.get(a..b))
                            .unwrap_or_default()
                            .to_string()
                    })
                    .collect()
            } else {
                Vec::new()
            };
            (found, caps, traced.then(|| input.to_string()))
        })?;
        let result = found != item.negate;
        if let Some(t) = trace.as_deref_mut() {
            t.push(ConditionTrace {
                input: traced_input.unwrap_or_default(),
                pattern: match &item.test {
                    CondTest::Pattern(p) => p.source().to_string(),
                    CondTest::NoFileSystem => "(IsFile/IsDirectory)".into(),
                },
                negate: item.negate,
                matched: result,
                captures: caps.clone(),
            });
        }
        if !caps.is_empty() {
            let current = ctx.cond_caps_mut();
            if c.track_all {
                let mut it = caps.into_iter();
                let whole = it.next();
                if current.is_empty() {
                    current.extend(whole);
                }
                current.extend(it);
            } else {
                *current = caps;
            }
        }
        match c.grouping {
            LogicalGrouping::MatchAll if !result => return Ok(false),
            LogicalGrouping::MatchAny if result => return Ok(true),
            _ => any |= result,
        }
    }
    Ok(match c.grouping {
        LogicalGrouping::MatchAll => true,
        LogicalGrouping::MatchAny => c.items.is_empty() || any,
    })
}
