//! Which (tag, attribute) pairs an outbound rule with `filterByTags` rewrites: the built-in
//! table of URL Rewrite 2.x (Microsoft's `<match>` reference for outbound rules) plus the
//! `<customTags>` pairs a rule names.

use std::fmt;

/// One built-in `filterByTags` flag and the attributes it covers.
struct BuiltIn {
    flag: &'static str,
    tag: &'static str,
    attributes: &'static [&'static str],
}

/// The built-in flags in the order IIS lists them. Frame/IFrame/Img also carry `longdesc`, and
/// Img/Input `usemap`, as in Microsoft's table.
const BUILT_IN: &[BuiltIn] = &[
    BuiltIn {
        flag: "a",
        tag: "a",
        attributes: &["href"],
    },
    BuiltIn {
        flag: "area",
        tag: "area",
        attributes: &["href"],
    },
    BuiltIn {
        flag: "base",
        tag: "base",
        attributes: &["href"],
    },
    BuiltIn {
        flag: "form",
        tag: "form",
        attributes: &["action"],
    },
    BuiltIn {
        flag: "frame",
        tag: "frame",
        attributes: &["src", "longdesc"],
    },
    BuiltIn {
        flag: "head",
        tag: "head",
        attributes: &["profile"],
    },
    BuiltIn {
        flag: "iframe",
        tag: "iframe",
        attributes: &["src", "longdesc"],
    },
    BuiltIn {
        flag: "img",
        tag: "img",
        attributes: &["src", "longdesc", "usemap"],
    },
    BuiltIn {
        flag: "input",
        tag: "input",
        attributes: &["src", "usemap"],
    },
    BuiltIn {
        flag: "link",
        tag: "link",
        attributes: &["href"],
    },
    BuiltIn {
        flag: "script",
        tag: "script",
        attributes: &["src"],
    },
];

/// A `filterByTags` value IIS would refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagFilterError {
    /// A flag that is not one of IIS's names.
    UnknownFlag(String),
    /// `CustomTags` without a `customTags` collection, or a collection without the flag.
    CustomTagsMismatch,
}

impl fmt::Display for TagFilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TagFilterError::UnknownFlag(flag) => write!(
                f,
                "unknown filterByTags flag {flag:?} (expected None, A, Area, Base, Form, Frame, \
                 Head, IFrame, Img, Input, Link, Script or CustomTags)"
            ),
            TagFilterError::CustomTagsMismatch => f.write_str(
                "filterByTags names CustomTags exactly when match@customTags names a collection",
            ),
        }
    }
}

/// The (tag, attribute) pairs one rule rewrites. Names are kept lowercase; markup is compared
/// ASCII case-insensitively, as HTML does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagSet {
    /// (tag, attributes) with distinct tags.
    entries: Vec<(String, Vec<String>)>,
}

impl TagSet {
    /// Builds the set from a `filterByTags` value (comma-separated flags, case-insensitive) and
    /// the pairs of the `<customTags><tags>` collection the rule names, if any.
    pub fn from_filter(
        filter_by_tags: &str,
        custom: Option<&[(String, String)]>,
    ) -> Result<TagSet, TagFilterError> {
        let mut set = TagSet::default();
        let mut wants_custom = false;
        for flag in filter_by_tags
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
        {
            let lower = flag.to_ascii_lowercase();
            if lower == "none" {
                continue;
            }
            if lower == "customtags" {
                wants_custom = true;
                continue;
            }
            let built_in = BUILT_IN
                .iter()
                .find(|b| b.flag == lower)
                .ok_or_else(|| TagFilterError::UnknownFlag(flag.to_string()))?;
            for attribute in built_in.attributes {
                set.add(built_in.tag, attribute);
            }
        }
        match (wants_custom, custom) {
            (true, Some(pairs)) => {
                for (tag, attribute) in pairs {
                    set.add(tag, attribute);
                }
            }
            (false, None) => {}
            _ => return Err(TagFilterError::CustomTagsMismatch),
        }
        Ok(set)
    }

    /// Adds one pair (names are lowercased; a repeated pair is kept once).
    pub fn add(&mut self, tag: &str, attribute: &str) {
        let tag = tag.trim().to_ascii_lowercase();
        let attribute = attribute.trim().to_ascii_lowercase();
        if tag.is_empty() || attribute.is_empty() {
            return;
        }
        match self.entries.iter_mut().find(|(t, _)| *t == tag) {
            Some((_, attributes)) => {
                if !attributes.contains(&attribute) {
                    attributes.push(attribute);
                }
            }
            None => self.entries.push((tag, vec![attribute])),
        }
    }

    /// Adds every pair of `other`: one scanner for several rules whose callback then checks
    /// each rule's own set with [`TagSet::contains`].
    pub fn extend(&mut self, other: &TagSet) {
        for (tag, attributes) in &other.entries {
            for attribute in attributes {
                self.add(tag, attribute);
            }
        }
    }

    /// Whether the pair (lowercase names, as handed to the rewriter) is in the set.
    pub fn contains(&self, tag: &str, attribute: &str) -> bool {
        self.tag_index(tag.as_bytes())
            .and_then(|t| self.attribute_index(t, attribute.as_bytes()))
            .is_some()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The index of a tag (markup bytes, any case) in the set.
    pub(crate) fn tag_index(&self, name: &[u8]) -> Option<usize> {
        self.entries
            .iter()
            .position(|(t, _)| t.as_bytes().eq_ignore_ascii_case(name))
    }

    /// The index, within its tag's entry, of attribute `name` (markup bytes, any case).
    pub(crate) fn attribute_index(&self, tag: usize, name: &[u8]) -> Option<usize> {
        let (_, attributes) = self.entries.get(tag)?;
        attributes
            .iter()
            .position(|a| a.as_bytes().eq_ignore_ascii_case(name))
    }

    /// The lowercase (tag, attribute) names of an entry.
    pub(crate) fn names(&self, tag: usize, attribute: usize) -> Option<(&str, &str)> {
        let (tag, attributes) = self.entries.get(tag)?;
        Some((tag.as_str(), attributes.get(attribute)?.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl TagSet {
        fn attribute(&self, tag: usize, name: &[u8]) -> Option<(&str, &str)> {
            self.names(tag, self.attribute_index(tag, name)?)
        }
    }

    #[test]
    fn built_in_flags_map_to_their_attributes() {
        let set = TagSet::from_filter("A, Img ,form", None).unwrap();
        let a = set.tag_index(b"A").unwrap();
        assert_eq!(set.attribute(a, b"HREF"), Some(("a", "href")));
        assert_eq!(set.attribute(a, b"src"), None);
        let img = set.tag_index(b"img").unwrap();
        assert_eq!(set.attribute(img, b"usemap"), Some(("img", "usemap")));
        assert_eq!(set.attribute(img, b"longdesc"), Some(("img", "longdesc")));
        let form = set.tag_index(b"FORM").unwrap();
        assert_eq!(set.attribute(form, b"action"), Some(("form", "action")));
        assert_eq!(set.tag_index(b"script"), None);
    }

    #[test]
    fn custom_tags_need_the_flag_and_the_collection() {
        let pairs = vec![("video".to_string(), "Poster".to_string())];
        let set = TagSet::from_filter("CustomTags", Some(&pairs)).unwrap();
        let video = set.tag_index(b"VIDEO").unwrap();
        assert_eq!(set.attribute(video, b"poster"), Some(("video", "poster")));
        assert_eq!(
            TagSet::from_filter("CustomTags", None),
            Err(TagFilterError::CustomTagsMismatch)
        );
        assert_eq!(
            TagSet::from_filter("A", Some(&pairs)),
            Err(TagFilterError::CustomTagsMismatch)
        );
    }

    #[test]
    fn sets_of_several_rules_combine() {
        let mut set = TagSet::from_filter("A", None).unwrap();
        set.extend(&TagSet::from_filter("Img, A", None).unwrap());
        assert!(set.contains("a", "href") && set.contains("img", "usemap"));
        assert!(!set.contains("img", "href") && !set.contains("form", "action"));
        assert_eq!(set.entries.len(), 2);
    }

    #[test]
    fn unknown_flags_are_refused_and_none_is_empty() {
        assert_eq!(
            TagSet::from_filter("A, Div", None),
            Err(TagFilterError::UnknownFlag("Div".into()))
        );
        assert!(TagSet::from_filter("None", None).unwrap().is_empty());
    }
}
