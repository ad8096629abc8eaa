//! Bytes eight at a time: a `u64` read from eight bytes (little-endian), and masks that hold
//! one bit, the byte's high bit, for each byte that passes a test. The JSON escape scan and the
//! email check use them to skip the common case of a text with nothing to look at.

pub const ONES: u64 = 0x0101_0101_0101_0101;
pub const HIGH_BITS: u64 = ONES * 0x80;

/// The high bit of each byte of `word` that is at least `low`; `word`'s bytes must be ASCII
/// (below 0x80), so that no sum carries into the next byte.
#[inline]
pub fn bytes_at_least(word: u64, low: u8) -> u64 {
    word.wrapping_add(ONES * u64::from(0x80 - low)) & HIGH_BITS
}

/// The high bit of each byte of `word` that equals `byte`; `word`'s bytes must be ASCII.
#[inline]
pub fn bytes_equal(word: u64, byte: u8) -> u64 {
    let difference = word ^ (ONES * u64::from(byte));
    !(difference.wrapping_add(ONES * 0x7f) | difference) & HIGH_BITS
}
