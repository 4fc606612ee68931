//! From the document tree to typed values: [`Decode`] for the field types the configuration
//! model uses, and [`object`] for structs. A struct's decoder reads each of its keys once through
//! [`Fields`]; the keys it did not read are refused as unknown.

use std::collections::BTreeMap;

use super::error::{ErrorKind, JsonError};
use super::reader::{Kind, Member, Value};

/// A type read from a JSON value.
pub trait Decode: Sized {
    fn decode(value: &Value<'_>) -> Result<Self, JsonError>;
}

#[cold]
fn wrong_type(value: &Value<'_>, expected: &'static str) -> JsonError {
    JsonError::new(
        ErrorKind::WrongType {
            expected,
            found: value.kind.name(),
        },
        value.at,
    )
}

impl Decode for String {
    fn decode(value: &Value<'_>) -> Result<Self, JsonError> {
        match &value.kind {
            Kind::String(s) => Ok(s.clone()),
            _ => Err(wrong_type(value, "a string")),
        }
    }
}

impl Decode for bool {
    fn decode(value: &Value<'_>) -> Result<Self, JsonError> {
        match value.kind {
            Kind::Bool(b) => Ok(b),
            _ => Err(wrong_type(value, "a boolean")),
        }
    }
}

/// A non-negative integer no larger than `max`: digits only, no fraction, no exponent.
fn unsigned(value: &Value<'_>, max: u64, expected: &'static str) -> Result<u64, JsonError> {
    let Kind::Number(text) = value.kind else {
        return Err(wrong_type(value, expected));
    };
    if text.contains(['.', 'e', 'E']) {
        return Err(JsonError::new(
            ErrorKind::WrongType {
                expected,
                found: "a number with a fraction or an exponent",
            },
            value.at,
        ));
    }
    // A minus sign or more digits than u64 holds both land here.
    match text.parse::<u64>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(JsonError::new(
            ErrorKind::OutOfRange {
                value: text.to_string(),
                expected,
            },
            value.at,
        )),
    }
}

impl Decode for u16 {
    fn decode(value: &Value<'_>) -> Result<Self, JsonError> {
        let n = unsigned(value, u64::from(u16::MAX), "an integer from 0 to 65535")?;
        Ok(u16::try_from(n).unwrap_or(u16::MAX))
    }
}

impl Decode for u32 {
    fn decode(value: &Value<'_>) -> Result<Self, JsonError> {
        let n = unsigned(
            value,
            u64::from(u32::MAX),
            "an integer from 0 to 4294967295",
        )?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }
}

impl Decode for u64 {
    fn decode(value: &Value<'_>) -> Result<Self, JsonError> {
        unsigned(value, u64::MAX, "an integer from 0 to 18446744073709551615")
    }
}

impl<T: Decode> Decode for Vec<T> {
    fn decode(value: &Value<'_>) -> Result<Self, JsonError> {
        let Kind::Array(items) = &value.kind else {
            return Err(wrong_type(value, "an array"));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| T::decode(item).map_err(|e| e.in_index(i)))
            .collect()
    }
}

/// An object used as a map (the reader has already refused duplicate keys).
impl<T: Decode> Decode for BTreeMap<String, T> {
    fn decode(value: &Value<'_>) -> Result<Self, JsonError> {
        let Kind::Object(members) = &value.kind else {
            return Err(wrong_type(value, "an object"));
        };
        members
            .iter()
            .map(|m| {
                let item = T::decode(&m.value).map_err(|e| e.in_key(&m.key))?;
                Ok((m.key.clone(), item))
            })
            .collect()
    }
}

/// Decodes a JSON object into a struct: `fields` reads every key the struct has, then any other
/// key is refused. The first key whose value is refused is reported; then an unknown key; then
/// a missing required key (a misspelt key is the likelier cause of both).
pub fn object<T>(
    value: &Value<'_>,
    fields: impl FnOnce(&mut Fields<'_, '_>) -> T,
) -> Result<T, JsonError> {
    let Kind::Object(members) = &value.kind else {
        return Err(wrong_type(value, "an object"));
    };
    let mut reader = Fields {
        at: value.at,
        members,
        known: Vec::new(),
        read: 0,
        refused: None,
        missing: None,
    };
    let decoded = fields(&mut reader);
    reader.finish()?;
    Ok(decoded)
}

/// The keys of one object, as a struct's decoder reads them. A refused value is kept (the
/// first one) and the field gets its default, so the struct is built in one expression and
/// [`object`] reports the problem.
pub struct Fields<'v, 'a> {
    at: usize,
    members: &'v [Member<'a>],
    /// Every key the decoder asked for (for the unknown-key message).
    known: Vec<&'static str>,
    /// How many members the decoder found.
    read: usize,
    refused: Option<JsonError>,
    missing: Option<&'static str>,
}

impl<'v, 'a> Fields<'v, 'a> {
    /// An optional key.
    pub fn opt<T: Decode>(&mut self, key: &'static str) -> Option<T> {
        let value = self.member(key)?;
        self.decoded(key, value)
    }

    /// An optional key whose absence means the type's default (an empty list or string).
    pub fn or_default<T: Decode + Default>(&mut self, key: &'static str) -> T {
        self.opt(key).unwrap_or_default()
    }

    /// A required key.
    pub fn req<T: Decode + Default>(&mut self, key: &'static str) -> T {
        match self.member(key) {
            Some(value) => self.decoded(key, value).unwrap_or_default(),
            None => {
                self.missing.get_or_insert(key);
                T::default()
            }
        }
    }

    fn decoded<T: Decode>(&mut self, key: &'static str, value: &Value<'_>) -> Option<T> {
        match T::decode(value) {
            Ok(decoded) => Some(decoded),
            Err(e) => {
                self.refuse(e.in_key(key));
                None
            }
        }
    }

    // Out of line: the part every field shares (it keeps the wasm small).
    #[inline(never)]
    fn member(&mut self, key: &'static str) -> Option<&'v Value<'a>> {
        self.known.push(key);
        let member = self.members.iter().find(|m| m.key == key)?;
        self.read += 1;
        Some(&member.value)
    }

    #[cold]
    #[inline(never)]
    fn refuse(&mut self, error: JsonError) {
        self.refused.get_or_insert(error);
    }

    #[inline(never)]
    fn finish(self) -> Result<(), JsonError> {
        if let Some(error) = self.refused {
            return Err(error);
        }
        if self.read < self.members.len() {
            if let Some(m) = self
                .members
                .iter()
                .find(|m| !self.known.contains(&m.key.as_str()))
            {
                let kind = ErrorKind::UnknownKey {
                    key: m.key.clone(),
                    expected: self.known,
                };
                return Err(JsonError::new(kind, m.key_at).in_key(&m.key));
            }
        }
        match self.missing {
            Some(key) => Err(JsonError::new(ErrorKind::MissingKey(key), self.at)),
            None => Ok(()),
        }
    }
}
