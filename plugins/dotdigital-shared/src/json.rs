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
    while let Some(offset) = first_to_escape(&bytes[start..]) {
        let index = start + offset;
        out.extend_from_slice(&bytes[start..index]);
        write_escape(out, bytes[index]);
        start = index + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Whether JSON strings must escape `byte`: the quote, the backslash and control characters.
#[inline]
fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// The index of the first byte to escape. Most texts have none: they are scanned eight bytes at
/// a time.
#[inline]
fn first_to_escape(bytes: &[u8]) -> Option<usize> {
    use crate::word::{HIGH_BITS, ONES};
    // Sets a byte's high bit for every zero byte of `word` (and no bit when there is none).
    let zero_bytes = |word: u64| word.wrapping_sub(ONES) & !word & HIGH_BITS;
    let mut words = bytes.chunks_exact(8);
    let mut clean = 0;
    for word in &mut words {
        let word = u64::from_le_bytes(word.try_into().expect("chunks of eight"));
        let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGH_BITS;
        if below_space | zero_bytes(word ^ (ONES * u64::from(b'"'))) | zero_bytes(word ^ (ONES * u64::from(b'\\'))) != 0
        {
            break;
        }
        clean += 8;
    }
    bytes[clean..]
        .iter()
        .position(|&byte| needs_escape(byte))
        .map(|offset| clean + offset)
}

#[inline]
fn write_escape(out: &mut Vec<u8>, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match byte {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        _ => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[(byte >> 4) as usize],
            HEX[(byte & 0xf) as usize],
        ]),
    }
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
    use proptest::prelude::*;

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

    proptest! {
        #[test]
        fn any_text_round_trips(
            // Mostly plain text with the characters to escape sprinkled in, at every offset of
            // the eight-byte scan.
            text in "([a-zA-Z0-9 .@ü✓]{0,12}[\"\\\\\n\r\t\u{0}-\u{1f}\u{7f}]?){0,6}",
        ) {
            let mut out = Vec::new();
            write_str(&mut out, &text);
            let back: String = serde_json::from_slice(&out).unwrap();
            prop_assert_eq!(back, text);
        }
    }
}
