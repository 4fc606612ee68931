//! The plugin configuration's JSON: a strict reader ([`parse`]) and a typed decoder
//! ([`Decode`], [`object`]). The filter and `iis-rewrite check` read configurations through the
//! same two steps, so they accept and refuse exactly the same documents: a duplicate key, a
//! value of the wrong type anywhere, an unknown key or a second document after the first is an
//! error with its path, line and column. A size and a depth limit keep a hostile document from
//! exhausting the VM's memory or stack.

mod decode;
mod error;
mod reader;

pub use decode::{object, Decode, Fields};
pub use error::{ErrorKind, JsonError, Segment};
pub use reader::{parse, Kind, Member, Value};

/// Largest configuration document read (the command reads files up to the same size).
pub const MAX_BYTES: usize = 64 * 1024 * 1024;

/// Deepest nesting of arrays and objects. The configuration model nests 7 levels; the limit
/// keeps the recursive reader far from the end of the wasm stack.
pub const MAX_DEPTH: usize = 64;

/// The UTF-8 byte order mark, skipped at the start of a document.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Reads and decodes a whole document.
pub fn from_slice<T: Decode>(bytes: &[u8]) -> Result<T, JsonError> {
    let document = parse(bytes)?;
    T::decode(&document).map_err(|e| e.located(bytes))
}

#[cfg(test)]
mod tests;
