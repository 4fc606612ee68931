//! A header map as proxy-wasm hands it over (`proxy_get_header_map_pairs`), read in place: the
//! host writes every header into one buffer, and lookups walk that buffer, so reading a whole
//! map costs one allocation (the buffer the host fills) however many headers it holds.
//!
//! The ABI's layout: the number of pairs N (u32, little endian), N (name length, value length)
//! u32 pairs, then each name and value in order, each followed by a NUL byte.

/// Every header of a request or response, in the host's order (pseudo-headers first, a
/// repeated name repeated).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderMap {
    bytes: Vec<u8>,
    /// Where each pair's name and value start and how long they are (found once, when the map
    /// is made; a lookup compares lengths before it reads a name).
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    name: u32,
    name_len: u32,
    value: u32,
    value_len: u32,
}

impl Entry {
    fn name<'b>(&self, bytes: &'b [u8]) -> Option<&'b [u8]> {
        bytes.get(self.name as usize..(self.name + self.name_len) as usize)
    }
    fn value<'b>(&self, bytes: &'b [u8]) -> Option<&'b [u8]> {
        bytes.get(self.value as usize..(self.value + self.value_len) as usize)
    }
}

/// The size of the count and of each (name, value) length pair.
const COUNT: usize = 4;
const LENGTHS: usize = 8;

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

impl HeaderMap {
    /// Takes a buffer in the ABI's layout; `None` when it is not one (truncated, lengths past
    /// its end, a missing NUL): the caller then treats the map as empty.
    pub fn from_bytes(bytes: Vec<u8>) -> Option<Self> {
        if bytes.is_empty() {
            return Some(HeaderMap::default());
        }
        // Offsets are kept as u32: a buffer the host hands over is far below 4 GiB.
        u32::try_from(bytes.len()).ok()?;
        let count = usize::try_from(u32_at(&bytes, 0)?).ok()?;
        let data = count.checked_mul(LENGTHS)?.checked_add(COUNT)?;
        if data > bytes.len() {
            return None;
        }
        let mut entries = Vec::with_capacity(count);
        let mut at = u32::try_from(data).ok()?;
        for i in 0..count {
            let name_len = u32_at(&bytes, COUNT + i * LENGTHS)?;
            let value_len = u32_at(&bytes, COUNT + i * LENGTHS + 4)?;
            let name_end = at.checked_add(name_len)?;
            let value = name_end.checked_add(1)?;
            let value_end = value.checked_add(value_len)?;
            if bytes.get(name_end as usize) != Some(&0) || bytes.get(value_end as usize) != Some(&0)
            {
                return None;
            }
            entries.push(Entry {
                name: at,
                name_len,
                value,
                value_len,
            });
            at = value_end + 1;
        }
        Some(HeaderMap { bytes, entries })
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
        HeaderMap::from_bytes(bytes).unwrap_or_default()
    }

    /// Every (name, value), in order. Envoy hands names over lower-cased.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.entries
            .iter()
            .filter_map(|e| Some((e.name(&self.bytes)?, e.value(&self.bytes)?)))
    }

    /// The first value of `name`, as a single-header read returns.
    pub fn first(&self, name: &str) -> Option<&[u8]> {
        self.values(name).next()
    }

    /// Every value of `name`, compared without regard to ASCII case, in order.
    pub fn values<'m, 'n>(&'m self, name: &'n str) -> impl Iterator<Item = &'m [u8]> + use<'m, 'n> {
        let bytes = &self.bytes;
        self.entries.iter().filter_map(move |e| {
            if e.name_len as usize != name.len() {
                return None;
            }
            if !e.name(bytes)?.eq_ignore_ascii_case(name.as_bytes()) {
                return None;
            }
            e.value(bytes)
        })
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
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
