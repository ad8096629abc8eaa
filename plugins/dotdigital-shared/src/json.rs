//! Small helpers for writing JSON straight into a byte buffer, without building value trees.

/// Appends `text` as a JSON string literal (quoted, escaped).
#[inline]
pub fn write_str(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    write_str_content(out, text);
    out.push(b'"');
}

/// Appends the escaped content of a JSON string, without quotes.
#[inline]
pub fn write_str_content(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    let mut start = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..index]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(byte >> 4) as usize]);
            out.push(HEX[(byte & 0xf) as usize]);
        } else {
            out.extend_from_slice(escape);
        }
        start = index + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Appends an integer.
#[inline]
pub fn write_i64(out: &mut Vec<u8>, value: i64) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &value);
}

/// Appends an unsigned integer.
#[inline]
pub fn write_u64(out: &mut Vec<u8>, value: u64) {
    let _ = serde_json::to_writer(&mut *out, &value);
}

/// Appends a finite float; the caller checks finiteness.
#[inline]
pub fn write_f64(out: &mut Vec<u8>, value: f64) {
    let _ = serde_json::to_writer(&mut *out, &value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_serde_json() {
        for text in [
            "plain",
            "quote \" back \\ slash",
            "line\nfeed\ttab\r",
            "ctl \u{1} \u{1f}",
            "ünïcödé ✓",
            "",
        ] {
            let mut out = Vec::new();
            write_str(&mut out, text);
            let back: String = serde_json::from_slice(&out).unwrap();
            assert_eq!(back, text);
            assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(text).unwrap());
        }
    }
}
