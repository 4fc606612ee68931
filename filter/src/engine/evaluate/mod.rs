//! Per-request evaluation of a compiled rule set: inbound rules (request phase), outbound rules
//! (response phase) and the conditions both share. Reads facts through [`RequestFacts`] and
//! [`ResponseFacts`], returns decisions; no host call.
//!
//! [`RequestFacts`]: crate::engine::request::RequestFacts
//! [`ResponseFacts`]: crate::engine::response::ResponseFacts

pub mod body;
pub(crate) mod conditions;
pub mod inbound;
pub mod limits;
pub mod outbound;

use crate::engine::decision::HeaderEdit;

/// How many entries a per-phase list (header edits, header names read) grows by at least: such
/// lists are short (the Jellyfin rules make 7 request edits), so one allocation usually holds
/// a whole list instead of the 4 a `Vec` starts with, then 8.
const LIST_GROWTH: usize = 8;

/// Pushes `item`, growing `list` by at least [`LIST_GROWTH`] when it is full.
fn push_growing<T>(list: &mut Vec<T>, item: T) {
    if list.len() == list.capacity() {
        list.reserve(LIST_GROWTH);
    }
    list.push(item);
}

/// Collapses header edits to one per header, in first-edit order, each with the value of the
/// header's last edit; in place, so a phase's edits cost no second list.
fn collapse_edits(edits: &mut Vec<HeaderEdit>) {
    let mut kept = 0;
    for i in 0..edits.len() {
        let (before, rest) = edits.split_at_mut(i);
        let (Some(before), Some(edit)) = (before.get_mut(..kept), rest.first_mut()) else {
            break;
        };
        match before.iter_mut().find(|b| b.name == edit.name) {
            Some(first) => first.value = edit.value.take(),
            None => {
                edits.swap(kept, i);
                kept += 1;
            }
        }
    }
    edits.truncate(kept);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::decision::HeaderValue;

    fn edit(name: &str, value: Option<&str>) -> HeaderEdit {
        HeaderEdit {
            name: name.into(),
            value: value.map(HeaderValue::from),
        }
    }

    #[test]
    fn collapsed_edits_keep_first_order_and_last_value() {
        let mut edits = vec![
            edit("a", Some("1")),
            edit("b", Some("2")),
            edit("a", None),
            edit("c", Some("3")),
            edit("b", Some("4")),
            edit("a", Some("5")),
        ];
        collapse_edits(&mut edits);
        assert_eq!(
            edits,
            [
                edit("a", Some("5")),
                edit("b", Some("4")),
                edit("c", Some("3"))
            ]
        );
        let mut none = Vec::new();
        collapse_edits(&mut none);
        assert!(none.is_empty());
    }
}
