//! Bounds on what one request phase may build. Each template expansion is bounded by
//! [`MAX_TEMPLATE_BYTES`]; on top of that, everything a request phase stores or sends on —
//! `<set>` values (server variables, request and response headers), Rewrite and Redirect targets,
//! CustomResponse texts, outbound header values — counts against [`MAX_PRODUCED_BYTES`]. Without
//! the second bound many rules that each stay under the first could still add up.
//!
//! A request that exceeds either is refused with [`LIMIT_STATUS`] (counted as the `expansion_limit`
//! action); in the response phase, where the upstream has already answered, the outbound rules
//! stop at that point and the headers keep the values they had. Condition inputs are transient
//! (built, matched and dropped) and only bounded per template.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::engine::decision::{Outcome, LIMIT_STATUS};
use crate::engine::template::{TooLarge, MAX_TEMPLATE_BYTES};

/// The most bytes one request phase may produce through server variables, headers, targets and
/// response texts: four times a whole template's worth.
pub const MAX_PRODUCED_BYTES: usize = 4 * MAX_TEMPLATE_BYTES;

/// Which bound a request phase hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    /// One template would expand past [`MAX_TEMPLATE_BYTES`].
    Template,
    /// The phase would produce more than [`MAX_PRODUCED_BYTES`] in all.
    Request,
}

impl From<TooLarge> for Exceeded {
    fn from(_: TooLarge) -> Self {
        Exceeded::Template
    }
}

/// How many request or response phases hit a bound since the process started (the response
/// phase has no decision to count, so this is how its hits are seen).
static HITS: AtomicU64 = AtomicU64::new(0);

/// Phases that hit a bound since start.
pub fn limit_hits() -> u64 {
    HITS.load(Ordering::Relaxed)
}

/// Bytes produced so far by one phase.
#[derive(Debug, Default)]
pub(crate) struct Produced {
    bytes: usize,
}

impl Produced {
    /// Counts `n` more bytes; fails once the phase is over [`MAX_PRODUCED_BYTES`].
    pub(crate) fn add(&mut self, n: usize) -> Result<(), Exceeded> {
        self.bytes = self.bytes.saturating_add(n);
        if self.bytes > MAX_PRODUCED_BYTES {
            return Err(Exceeded::Request);
        }
        Ok(())
    }
}

/// Records a hit (counter, debug log) and returns what the request gets.
pub(crate) fn refusal(e: Exceeded, rule: &str) -> Outcome {
    record(e, rule);
    let reason = match e {
        Exceeded::Template => format!(
            "the rules would build a value longer than {MAX_TEMPLATE_BYTES} bytes from this request"
        ),
        Exceeded::Request => format!(
            "the rules would build more than {MAX_PRODUCED_BYTES} bytes of variables and headers from this request"
        ),
    };
    Outcome::Refuse {
        status: LIMIT_STATUS,
        reason,
    }
}

/// Counts a hit and logs the rule at debug level (the client's reply does not name it).
pub(crate) fn record(e: Exceeded, rule: &str) {
    HITS.fetch_add(1, Ordering::Relaxed);
    log::debug!("iis-rewrite: rule \"{rule}\" exceeded the expansion limit ({e:?})");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn produced_bytes_add_up_to_the_bound() {
        let mut p = Produced::default();
        assert_eq!(p.add(MAX_PRODUCED_BYTES - 1), Ok(()));
        assert_eq!(p.add(1), Ok(()));
        assert_eq!(p.add(1), Err(Exceeded::Request));
        assert_eq!(p.add(usize::MAX), Err(Exceeded::Request));
    }
}
