//! Decoding a configuration file's bytes into text.

/// Decodes a configuration file's bytes: UTF-8 (a BOM is dropped) or UTF-16 with a BOM, as
/// Windows editors save them. Errors say where the first undecodable byte is.
pub fn decode(bytes: &[u8]) -> Result<String, (usize, String)> {
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return decode_utf8(rest).map_err(|(at, m)| (at + 3, m));
    }
    let utf16 = |rest: &[u8], le: bool| -> Result<String, (usize, String)> {
        if rest.len() % 2 != 0 {
            return Err((
                bytes.len(),
                "UTF-16 text with an odd number of bytes".into(),
            ));
        }
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| match c {
                [a, b] if le => u16::from_le_bytes([*a, *b]),
                [a, b] => u16::from_be_bytes([*a, *b]),
                _ => 0,
            })
            .collect();
        String::from_utf16(&units).map_err(|_| (0, "invalid UTF-16 text".into()))
    };
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return utf16(rest, true);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return utf16(rest, false);
    }
    decode_utf8(bytes)
}

fn decode_utf8(bytes: &[u8]) -> Result<String, (usize, String)> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_string()),
        Err(e) => {
            let at = e.valid_up_to();
            let byte = bytes.get(at).copied().unwrap_or(0);
            Err((
                at,
                format!("the file is not UTF-8 text (byte 0x{byte:02x}); save it as UTF-8"),
            ))
        }
    }
}
