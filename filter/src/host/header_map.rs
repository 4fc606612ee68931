//! A header map as proxy-wasm hands it over (`proxy_get_header_map_pairs`), read in place: the
//! host writes every header into one buffer, and lookups walk that buffer, so reading a whole
//! map costs one allocation (the buffer the host fills) however many headers it holds.
//!
//! The ABI's layout: the number of pairs N (u32, little endian), N (name length, value length)
//! u32 pairs, then each name and value in order, each followed by a NUL byte.

use std::ops::Range;

/// Every header of a request or response, in the host's order (pseudo-headers first, a
/// repeated name repeated).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderMap {
    bytes: Vec<u8>,
}

/// The size of the count and of each (name, value) length pair.
const COUNT: usize = 4;
const LENGTHS: usize = 8;

fn u32_at(bytes: &[u8], at: usize) -> Option<usize> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    let word: [u8; 4] = b.try_into().ok()?;
    usize::try_from(u32::from_le_bytes(word)).ok()
}

impl HeaderMap {
    /// Takes a buffer in the ABI's layout; `None` when it is not one (truncated, lengths past
    /// its end, a missing NUL): the caller then treats the map as empty.
    pub fn from_bytes(bytes: Vec<u8>) -> Option<Self> {
        if bytes.is_empty() {
            return Some(HeaderMap::default());
        }
        let map = HeaderMap { bytes };
        let count = u32_at(&map.bytes, 0)?;
        let data = count.checked_mul(LENGTHS)?.checked_add(COUNT)?;
        let mut at = data;
        for i in 0..count {
            let name = u32_at(&map.bytes, COUNT + i * LENGTHS)?;
            let value = u32_at(&map.bytes, COUNT + i * LENGTHS + 4)?;
            let name_end = at.checked_add(name)?;
            let value_start = name_end.checked_add(1)?;
            let value_end = value_start.checked_add(value)?;
            if map.bytes.get(name_end) != Some(&0) || map.bytes.get(value_end) != Some(&0) {
                return None;
            }
            at = value_end + 1;
        }
        Some(map)
    }

    /// A map of the given headers (tests and the recording host).
    #[cfg(test)]
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Self {
        let pairs: Vec<(&str, &[u8])> = pairs.into_iter().collect();
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&u32::try_from(pairs.len()).unwrap_or(0).to_le_bytes());
        for (name, value) in &pairs {
            bytes.extend_from_slice(&u32::try_from(name.len()).unwrap_or(0).to_le_bytes());
            bytes.extend_from_slice(&u32::try_from(value.len()).unwrap_or(0).to_le_bytes());
        }
        for (name, value) in &pairs {
            bytes.extend_from_slice(name.as_bytes());
            bytes.push(0);
            bytes.extend_from_slice(value);
            bytes.push(0);
        }
        HeaderMap { bytes }
    }

    /// Every (name, value), in order. Envoy hands names over lower-cased.
    pub fn iter(&self) -> Pairs<'_> {
        let count = u32_at(&self.bytes, 0).unwrap_or(0);
        Pairs {
            bytes: &self.bytes,
            index: 0,
            count,
            at: COUNT + count * LENGTHS,
        }
    }

    /// The first value of `name` (exact, lower-case match), as a single-header read returns.
    pub fn first(&self, name: &str) -> Option<&[u8]> {
        self.values(name).next()
    }

    /// Every value of `name`, compared without regard to ASCII case, in order. Names of another
    /// length are skipped without reading them.
    pub fn values<'m, 'n>(
        &'m self,
        name: &'n str,
    ) -> impl Iterator<Item = &'m [u8]> + use<'m, 'n> {
        let bytes = &self.bytes;
        self.iter_spans().filter_map(move |(n, v)| {
            if n.len() != name.len() {
                return None;
            }
            let candidate = bytes.get(n)?;
            candidate
                .eq_ignore_ascii_case(name.as_bytes())
                .then(|| bytes.get(v))
                .flatten()
        })
    }

    /// The (name, value) byte ranges of every pair.
    fn iter_spans(&self) -> impl Iterator<Item = (Range<usize>, Range<usize>)> + '_ {
        let count = u32_at(&self.bytes, 0).unwrap_or(0);
        let mut at = COUNT + count * LENGTHS;
        (0..count).map_while(move |i| {
            let name_len = u32_at(&self.bytes, COUNT + i * LENGTHS)?;
            let value_len = u32_at(&self.bytes, COUNT + i * LENGTHS + 4)?;
            let name = at..at + name_len;
            let value = name.end + 1..name.end + 1 + value_len;
            at = value.end + 1;
            Some((name, value))
        })
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

/// The pairs of a [`HeaderMap`], read from its buffer (checked when the map was made).
pub struct Pairs<'m> {
    bytes: &'m [u8],
    index: usize,
    count: usize,
    at: usize,
}

impl<'m> Iterator for Pairs<'m> {
    type Item = (&'m [u8], &'m [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.index >= self.count {
            return None;
        }
        let lengths = COUNT + self.index * LENGTHS;
        let name_len = u32_at(self.bytes, lengths)?;
        let value_len = u32_at(self.bytes, lengths + 4)?;
        let name = self.bytes.get(self.at..self.at + name_len)?;
        let value_start = self.at + name_len + 1;
        let value = self.bytes.get(value_start..value_start + value_len)?;
        self.at = value_start + value_len + 1;
        self.index += 1;
        Some((name, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_round_trip_in_order_with_repeats_and_empty_values() {
        let list: [(&str, &[u8]); 4] = [
            (":path", b"/a?b"),
            ("set-cookie", b"a=1"),
            ("x-empty", b""),
            ("set-cookie", b"b=\xff2"),
        ];
        let map = HeaderMap::from_pairs(list);
        let back: Vec<(&[u8], &[u8])> = map.iter().collect();
        let expected: Vec<(&[u8], &[u8])> = list.iter().map(|(n, v)| (n.as_bytes(), *v)).collect();
        assert_eq!(back, expected);
        assert_eq!(map.first("set-cookie"), Some(&b"a=1"[..]));
        assert_eq!(map.first("x-empty"), Some(&b""[..]));
        assert_eq!(map.first("absent"), None);
        // What the host writes is accepted as it is.
        assert_eq!(HeaderMap::from_bytes(map.bytes.clone()), Some(map));
    }

    #[test]
    fn malformed_buffers_are_refused_not_read_past_their_end() {
        let good = HeaderMap::from_pairs([("a", &b"1"[..]), ("bb", &b"22"[..])]).bytes;
        assert!(HeaderMap::from_bytes(Vec::new()).is_some_and(|m| m.is_empty()));
        for cut in 1..good.len() {
            assert_eq!(
                HeaderMap::from_bytes(good[..cut].to_vec()),
                None,
                "cut at {cut}"
            );
        }
        let mut no_nul = good.clone();
        let last = no_nul.len() - 1;
        no_nul[last] = b'x';
        assert_eq!(HeaderMap::from_bytes(no_nul), None);
        let mut huge = good;
        huge[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(HeaderMap::from_bytes(huge), None);
    }
}
