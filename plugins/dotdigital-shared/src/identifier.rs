//! Contact identifiers (dotdigital-api.md §4, §14): their API names, how they go into a path, and
//! how values are validated and normalised before they are sent.

use crate::word;
use std::fmt;

/// Which identifier names a contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentifierKind {
    Email,
    MobileNumber,
    ContactId,
}

/// Why an identifier value was refused, with the outcome code to report it under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidIdentifier {
    /// `InvalidEmail`, `InvalidPhoneNumber` or `InvalidContactId`.
    pub code: &'static str,
    /// What is wrong, e.g. "has no `@`".
    pub reason: String,
}

impl fmt::Display for InvalidIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl IdentifierKind {
    pub const ALL: [IdentifierKind; 3] = [
        IdentifierKind::Email,
        IdentifierKind::MobileNumber,
        IdentifierKind::ContactId,
    ];

    /// The v3 name, used in paths, `identifiers` objects and `matchIdentifier`.
    pub fn api_name(self) -> &'static str {
        match self {
            IdentifierKind::Email => "email",
            IdentifierKind::MobileNumber => "mobileNumber",
            IdentifierKind::ContactId => "contactId",
        }
    }

    /// Reads a v3 name (exact spelling, as the API writes it).
    pub fn from_api_name(name: &str) -> Option<Self> {
        IdentifierKind::ALL
            .into_iter()
            .find(|kind| kind.api_name().eq_ignore_ascii_case(name))
    }

    /// The outcome code for an invalid value of this kind.
    pub fn invalid_code(self) -> &'static str {
        match self {
            IdentifierKind::Email => "InvalidEmail",
            IdentifierKind::MobileNumber => "InvalidPhoneNumber",
            IdentifierKind::ContactId => "InvalidContactId",
        }
    }

    /// Validates a value and writes the form sent to the API into `out` (cleared first): a
    /// trimmed email, a mobile number as digits without `+`, a contact id without leading zeros.
    pub fn normalize_into(self, value: &str, out: &mut String) -> Result<(), InvalidIdentifier> {
        out.clear();
        self.normalize_append(value, out)
    }

    /// As [`normalize_into`](Self::normalize_into), appending to `out` (left as it was when the
    /// value is invalid).
    pub fn normalize_append(self, value: &str, out: &mut String) -> Result<(), InvalidIdentifier> {
        let invalid = |reason: String| InvalidIdentifier {
            code: self.invalid_code(),
            reason,
        };
        match self {
            IdentifierKind::Email => {
                let email = validate_email(value).map_err(invalid)?;
                out.push_str(email);
            }
            IdentifierKind::MobileNumber => normalize_mobile(value, out).map_err(invalid)?,
            IdentifierKind::ContactId => {
                let id = parse_contact_id(value).map_err(invalid)?;
                out.push_str(&id.to_string());
            }
        }
        Ok(())
    }

    /// What [`normalize_append`](Self::normalize_append) appends for `value` when it is valid,
    /// without checking that it is (an email is only trimmed), for counting keys: there an
    /// invalid value's form is harmless, and the email check is most of the cost. `Err` when the
    /// value has no such form (an unparsable mobile number or contact id).
    pub fn normalize_unchecked_append(self, value: &str, out: &mut String) -> Result<(), InvalidIdentifier> {
        match self {
            IdentifierKind::Email => {
                out.push_str(value.trim());
                Ok(())
            }
            IdentifierKind::MobileNumber | IdentifierKind::ContactId => self.normalize_append(value, out),
        }
    }

    /// The form two values are compared by (see [`match_form_into`](Self::match_form_into)):
    /// `normalized` itself when it is in that form already (an email without capitals, a mobile
    /// number, a contact id), else written into `scratch`.
    pub fn match_form<'a>(self, normalized: &'a str, scratch: &'a mut String) -> &'a str {
        let unchanged = match self {
            // Folded without stopping early, so that the loop compiles to vector instructions.
            IdentifierKind::Email => !normalized.bytes().fold(false, |found, byte| {
                found | byte.is_ascii_uppercase() | !byte.is_ascii()
            }),
            IdentifierKind::MobileNumber => normalized.bytes().all(|byte| byte.is_ascii_digit()),
            IdentifierKind::ContactId => !normalized.starts_with('0') && normalized.trim().len() == normalized.len(),
        };
        if unchanged {
            return normalized;
        }
        self.match_form_into(normalized, scratch);
        scratch
    }

    /// Writes the form two values are compared by into `out`: normalised as by
    /// [`normalize_into`](Self::normalize_into), emails also lower-cased (Dotdigital matches
    /// emails without regard to case). `value` must already be normalised.
    pub fn match_form_into(self, normalized: &str, out: &mut String) {
        out.clear();
        match self {
            IdentifierKind::Email if normalized.is_ascii() => {
                out.push_str(normalized);
                out.make_ascii_lowercase();
            }
            IdentifierKind::Email => out.extend(normalized.chars().flat_map(char::to_lowercase)),
            IdentifierKind::MobileNumber => out.extend(normalized.chars().filter(char::is_ascii_digit)),
            IdentifierKind::ContactId => out.push_str(normalized.trim().trim_start_matches('0')),
        }
    }

    /// `/contacts/v3/{identifier}/{value}` with the value encoded for a path segment.
    pub fn contact_path(self, value: &str) -> String {
        let mut path = String::with_capacity(20 + value.len());
        path.push_str("/contacts/v3/");
        path.push_str(self.api_name());
        path.push('/');
        encode_path_segment_into(value, &mut path);
        path
    }
}

impl fmt::Display for IdentifierKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.api_name())
    }
}

/// Percent-encodes one path segment. Unreserved characters stay, and so do `@` and `+`, which the
/// API expects literally (§14: `/contacts/v3/email/ann@example.com`, a `+` is a literal plus);
/// everything else (`/`, `?`, `#`, `%`, spaces, non-ASCII, ...) is encoded as UTF-8 `%XX`.
pub fn encode_path_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    encode_path_segment_into(value, &mut out);
    out
}

fn encode_path_segment_into(value: &str, out: &mut String) {
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'@' | b'+') {
            out.push(byte as char);
        } else {
            encode_byte(byte, out);
        }
    }
}

/// Percent-encodes a query component (e.g. an opaque paging marker): unreserved characters stay.
pub fn encode_query_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            encode_byte(byte, &mut out);
        }
    }
    out
}

fn encode_byte(byte: u8, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(HEX[(byte >> 4) as usize] as char);
    out.push(HEX[(byte & 0xf) as usize] as char);
}

/// Longest email address accepted (RFC 5321 path limit).
pub const MAX_EMAIL_LEN: usize = 254;

/// A pragmatic email check (not full RFC 5322): surrounding whitespace is trimmed; then exactly one
/// `@`, a non-empty local part of at most 64 bytes, a domain with a dot and no empty labels, no
/// whitespace or control characters, at most 254 bytes. Returns the trimmed address.
pub fn validate_email(value: &str) -> Result<&str, String> {
    let bytes = value.as_bytes();
    if is_simple_valid_email(bytes) || is_plain_valid_email(bytes) {
        return Ok(value);
    }
    check_email(value)
}

/// Whether `bytes` is an address of the most common shape that [`check_email`] accepts
/// unchanged: lower-case letters, digits and dots around one `@`. `false` means "not sure".
/// Eight bytes are classified at a time, as bit masks of a 64-bit word (one bit per byte): the
/// bulk import's addresses are checked in about half the instructions of the byte loops of
/// [`is_plain_valid_email`].
fn is_simple_valid_email(bytes: &[u8]) -> bool {
    if bytes.is_empty() || bytes.len() > MAX_EMAIL_LEN {
        return false;
    }
    let mut ats = 0;
    let mut at_index = 0;
    let mut last_dot = 0;
    let mut separator_before = false;
    let mut words = bytes.chunks_exact(8);
    let mut base = 0;
    let mut check = |word: u64, len: usize, offset: usize| -> bool {
        let lanes = word::HIGH_BITS >> (8 * (8 - len));
        if word & word::HIGH_BITS != 0 {
            return false;
        }
        let at = word::bytes_equal(word, b'@');
        let dots = word::bytes_equal(word, b'.');
        let separators = at | dots;
        let letters = word::bytes_at_least(word, b'a') & !word::bytes_at_least(word, b'z' + 1);
        let digits = word::bytes_at_least(word, b'0') & !word::bytes_at_least(word, b'9' + 1);
        // `..`, `.@`, `@.` and `@@` (inside the word or across its start): an empty label, a
        // local part ending or a domain starting with a dot, a second `@`.
        if (letters | digits | separators) & lanes != lanes
            || separators & (separators << 8) != 0
            || (separator_before && separators & 0x80 != 0)
        {
            return false;
        }
        separator_before = separators & (0x80 << (8 * (len - 1))) != 0;
        if at != 0 {
            ats += at.count_ones();
            at_index = offset + at.trailing_zeros() as usize / 8;
        }
        if dots != 0 {
            last_dot = offset + (63 - dots.leading_zeros() as usize) / 8;
        }
        true
    };
    for word in &mut words {
        if !check(u64::from_le_bytes(word.try_into().expect("chunks of eight")), 8, base) {
            return false;
        }
        base += 8;
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let word = rest
            .iter()
            .enumerate()
            .fold(0u64, |word, (index, &byte)| word | u64::from(byte) << (8 * index));
        if !check(word, rest.len(), base) {
            return false;
        }
    }
    let is_separator = |byte: u8| byte == b'.' || byte == b'@';
    ats == 1
        && !is_separator(bytes[0])
        && !is_separator(bytes[bytes.len() - 1])
        && at_index <= 64
        && last_dot > at_index
}

/// Which bytes a local part may hold on the fast path: printable ASCII, no space, none of
/// `()<>[]\,;:"@`.
const PLAIN_LOCAL_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0x21;
    while byte < 0x7f {
        table[byte] = !matches!(
            byte as u8,
            b'(' | b')' | b',' | b':' | b';' | b'<' | b'>' | b'[' | b']' | b'\\' | b'"' | b'@'
        );
        byte += 1;
    }
    table
};

/// One pass over the common case: whether `bytes` is an ASCII address with no surrounding
/// whitespace that [`check_email`] accepts unchanged. `false` means "not sure": the full check
/// decides, and words the reason.
fn is_plain_valid_email(bytes: &[u8]) -> bool {
    if bytes.len() > MAX_EMAIL_LEN {
        return false;
    }
    let Some(at) = bytes.iter().position(|&byte| byte == b'@') else {
        return false;
    };
    let (local, domain) = (&bytes[..at], &bytes[at + 1..]);
    if local.is_empty() || local.len() > 64 || local[0] == b'.' || local[local.len() - 1] == b'.' {
        return false;
    }
    let mut previous = 0;
    for &byte in local {
        if !PLAIN_LOCAL_BYTES[usize::from(byte)] || (byte == b'.' && previous == b'.') {
            return false;
        }
        previous = byte;
    }
    // Labels of letters, digits and `-`, not starting or ending with `-`, between single dots.
    let mut dots = 0;
    previous = b'.';
    for &byte in domain {
        match byte {
            b'.' if previous == b'.' || previous == b'-' => return false,
            b'.' => dots += 1,
            b'-' if previous == b'.' => return false,
            b'-' => {}
            _ if byte.is_ascii_alphanumeric() => {}
            _ => return false,
        }
        previous = byte;
    }
    dots > 0 && previous != b'.' && previous != b'-'
}

/// The full check behind [`validate_email`], for every value, with the reason of a refusal.
fn check_email(value: &str) -> Result<&str, String> {
    let email = value.trim();
    if email.is_empty() {
        return Err("is empty".into());
    }
    if email.len() > MAX_EMAIL_LEN {
        return Err(format!(
            "is {} characters long; at most {MAX_EMAIL_LEN} are allowed",
            email.len()
        ));
    }
    let mut at = None;
    // Byte scan for the ASCII common case; characters outside ASCII are checked one by one.
    for (index, &byte) in email.as_bytes().iter().enumerate() {
        match byte {
            b'@' if at.is_some() => return Err("has more than one `@`".into()),
            b'@' => at = Some(index),
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => return Err("contains a space".into()),
            0x00..=0x1f | 0x7f => return Err("contains a control character".into()),
            b'(' | b')' | b',' | b':' | b';' | b'<' | b'>' | b'[' | b']' | b'\\' | b'"' => {
                return Err(format!("contains the character `{}`", byte as char));
            }
            _ => {}
        }
    }
    if !email.is_ascii() {
        if email.chars().any(char::is_whitespace) {
            return Err("contains a space".into());
        }
        if email.chars().any(char::is_control) {
            return Err("contains a control character".into());
        }
    }
    let Some(at) = at else {
        return Err("has no `@`".into());
    };
    let (local, domain) = (&email[..at], &email[at + 1..]);
    if local.is_empty() {
        return Err("has nothing before the `@`".into());
    }
    if local.len() > 64 {
        return Err("has a local part (before the `@`) longer than 64 characters".into());
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("has a misplaced `.` before the `@`".into());
    }
    if domain.is_empty() {
        return Err("has nothing after the `@`".into());
    }
    if !domain.contains('.') {
        return Err(format!("has a domain without a dot (`{domain}`)"));
    }
    for label in domain.split('.') {
        if label.is_empty() {
            return Err(format!("has an empty part in the domain `{domain}`"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("has a domain part starting or ending with `-` (`{domain}`)"));
        }
        let valid = if label.is_ascii() {
            label.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
        } else {
            label.chars().all(|ch| ch.is_alphanumeric() || ch == '-')
        };
        if !valid {
            return Err(format!("has an invalid character in the domain `{domain}`"));
        }
    }
    Ok(email)
}

/// Fewest digits of an E.164 number accepted.
pub const MIN_MOBILE_DIGITS: usize = 7;
/// Most digits of an E.164 number.
pub const MAX_MOBILE_DIGITS: usize = 15;

/// Checks an E.164 mobile number (an optional `+`, then 7–15 digits, not starting with 0) and
/// writes it as digits without `+`, the form the API's examples use (`447700900123`). Surrounding
/// whitespace is trimmed; no other separators are accepted.
pub fn normalize_mobile(value: &str, out: &mut String) -> Result<(), String> {
    let number = value.trim();
    let digits = number.strip_prefix('+').unwrap_or(number);
    if digits.is_empty() {
        return Err("is empty; E.164 needs an optional `+` and 7 to 15 digits".into());
    }
    if let Some(bad) = digits.chars().find(|ch| !ch.is_ascii_digit()) {
        return Err(format!(
            "contains `{bad}`; E.164 is an optional `+` followed by digits only (e.g. +447700900123)"
        ));
    }
    if digits.starts_with('0') {
        return Err("starts with 0, a national format; E.164 starts with the country code (e.g. +447700900123)".into());
    }
    if !(MIN_MOBILE_DIGITS..=MAX_MOBILE_DIGITS).contains(&digits.len()) {
        return Err(format!(
            "has {} digits; E.164 numbers have {MIN_MOBILE_DIGITS} to {MAX_MOBILE_DIGITS}",
            digits.len()
        ));
    }
    out.push_str(digits);
    Ok(())
}

/// Reads a Dotdigital contact id: a positive integer.
pub fn parse_contact_id(value: &str) -> Result<u64, String> {
    let text = value.trim();
    match text.parse::<u64>() {
        Ok(0) => Err("is 0; contact ids are positive integers".into()),
        Ok(id) if id <= i64::MAX as u64 => Ok(id),
        Ok(_) => Err("is too large for a contact id".into()),
        Err(_) => Err("is not a positive integer".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_keep_at_and_plus() {
        assert_eq!(
            IdentifierKind::Email.contact_path("ann+tag@example.com"),
            "/contacts/v3/email/ann+tag@example.com"
        );
        assert_eq!(
            IdentifierKind::MobileNumber.contact_path("447700900123"),
            "/contacts/v3/mobileNumber/447700900123"
        );
        assert_eq!(encode_path_segment("a/b?c#d%e f"), "a%2Fb%3Fc%23d%25e%20f");
        assert_eq!(encode_path_segment("ü"), "%C3%BC");
        assert_eq!(encode_query_component("a+b/c="), "a%2Bb%2Fc%3D");
    }

    #[test]
    fn the_simple_email_path_takes_the_common_shape_only() {
        // Across a word boundary (byte 8) and in the last, partial word.
        for accepted in ["priya.silva12@mail.example.com", "a@b.co", "abcdefg@x.com"] {
            assert!(is_simple_valid_email(accepted.as_bytes()), "{accepted}");
        }
        for unsure in [
            "abcdefg.@x.com",
            "abcdefgh@.x.com",
            "ann@examplecom",
            "ann@example.com.",
            ".ann@example.com",
            "Ann@example.com",
            "ann-lee@example.com",
            "ann@@example.com",
            "ann@b@example.com",
            "ünal@example.com",
        ] {
            assert!(!is_simple_valid_email(unsure.as_bytes()), "{unsure}");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert!(!is_simple_valid_email(long_local.as_bytes()));
    }

    #[test]
    fn emails() {
        assert_eq!(validate_email(" Ann@Example.com "), Ok("Ann@Example.com"));
        assert_eq!(
            validate_email("o'brien+x@mail.example.co.uk"),
            Ok("o'brien+x@mail.example.co.uk")
        );
        assert_eq!(validate_email("ann.example.com"), Err("has no `@`".into()));
        assert_eq!(validate_email("a@b@c.com"), Err("has more than one `@`".into()));
        assert_eq!(validate_email("@example.com"), Err("has nothing before the `@`".into()));
        assert_eq!(validate_email("ann@"), Err("has nothing after the `@`".into()));
        assert_eq!(
            validate_email("ann@localhost"),
            Err("has a domain without a dot (`localhost`)".into())
        );
        assert_eq!(validate_email("a nn@example.com"), Err("contains a space".into()));
        assert_eq!(
            validate_email("ann@example..com"),
            Err("has an empty part in the domain `example..com`".into())
        );
        assert_eq!(validate_email(""), Err("is empty".into()));
        let long = format!("{}@{}.com", "a".repeat(64), "b".repeat(200));
        assert!(validate_email(&long).unwrap_err().contains("at most 254"));
    }

    proptest::proptest! {
        #[test]
        fn the_fast_email_path_agrees_with_the_full_check(
            value in proptest::prop_oneof![
                "[a-zA-Z0-9.+'_@()\\- ]{0,20}",
                "[a-z.]{0,6}@[a-z0-9.-]{0,8}",
                "[a-z0-9.@]{0,40}",
                "[a-z0-9.]{60,70}@[a-z0-9]{1,3}\\.[a-z]{1,3}",
                " ?[A-Za-z0-9._%+-]{1,10}@[A-Za-z0-9-]{1,8}(\\.[A-Za-z0-9-]{1,6}){0,3} ?",
                proptest::prelude::any::<String>(),
            ]
        ) {
            let full = check_email(&value);
            let simple_bytes = value
                .bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'.' || byte == b'@');
            if is_simple_valid_email(value.as_bytes()) {
                proptest::prop_assert_eq!(&full, &Ok(value.as_str()));
            } else if simple_bytes && full == Ok(value.as_str()) {
                proptest::prop_assert!(false, "the simple path should accept {:?}", value);
            }
            if is_plain_valid_email(value.as_bytes()) {
                proptest::prop_assert_eq!(full, Ok(value.as_str()));
            } else if value.is_ascii() && full == Ok(value.as_str()) {
                proptest::prop_assert!(false, "the fast path should accept {:?}", value);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn the_unchecked_form_of_a_valid_identifier_is_its_normal_form(
            value in proptest::prop_oneof![
                " ?[A-Za-z0-9._%+-]{1,10}@[A-Za-z0-9-]{1,8}(\\.[A-Za-z0-9-]{1,6}){0,3}[ \t]?",
                "[a-zA-Z0-9.+'_@()\\- ]{0,20}",
                " ?\\+?[0-9 ]{0,16}",
                proptest::prelude::any::<String>(),
            ]
        ) {
            for kind in IdentifierKind::ALL {
                let mut checked = String::new();
                if kind.normalize_append(&value, &mut checked).is_ok() {
                    let mut unchecked = String::new();
                    proptest::prop_assert!(kind.normalize_unchecked_append(&value, &mut unchecked).is_ok());
                    proptest::prop_assert_eq!(unchecked, checked, "{:?} of {:?}", kind, value);
                }
            }
        }
    }

    #[test]
    fn mobiles() {
        let mut out = String::new();
        assert_eq!(normalize_mobile("+447700900123", &mut out), Ok(()));
        assert_eq!(out, "447700900123");
        out.clear();
        assert_eq!(normalize_mobile("447700900123", &mut out), Ok(()));
        assert_eq!(out, "447700900123");
        assert!(
            normalize_mobile("07700 900123", &mut String::new())
                .unwrap_err()
                .contains("contains ` `")
        );
        assert!(
            normalize_mobile("07700900123", &mut String::new())
                .unwrap_err()
                .contains("starts with 0")
        );
        assert!(
            normalize_mobile("+12345", &mut String::new())
                .unwrap_err()
                .contains("has 5 digits")
        );
        assert!(
            normalize_mobile("+1234567890123456", &mut String::new())
                .unwrap_err()
                .contains("has 16 digits")
        );
        assert!(
            normalize_mobile("+", &mut String::new())
                .unwrap_err()
                .contains("is empty")
        );
    }

    #[test]
    fn match_forms_borrow_what_is_already_in_match_form() {
        let mut scratch = String::new();
        for (kind, value) in [
            (IdentifierKind::Email, "ann@example.com"),
            (IdentifierKind::Email, "Ann@Example.com"),
            (IdentifierKind::Email, "Ünal@example.com"),
            (IdentifierKind::MobileNumber, "447700900123"),
            (IdentifierKind::ContactId, "42"),
            (IdentifierKind::ContactId, "042"),
            (IdentifierKind::ContactId, " 42"),
        ] {
            let mut expected = String::new();
            kind.match_form_into(value, &mut expected);
            assert_eq!(kind.match_form(value, &mut scratch), expected, "{kind:?} {value:?}");
        }
    }

    #[test]
    fn normalize_and_match_forms() {
        let mut out = String::new();
        IdentifierKind::Email
            .normalize_into(" Ann@Example.COM", &mut out)
            .unwrap();
        assert_eq!(out, "Ann@Example.COM");
        let mut key = String::new();
        IdentifierKind::Email.match_form_into(&out, &mut key);
        assert_eq!(key, "ann@example.com");
        IdentifierKind::ContactId.normalize_into("0042", &mut out).unwrap();
        assert_eq!(out, "42");
        let error = IdentifierKind::ContactId.normalize_into("x", &mut out).unwrap_err();
        assert_eq!(error.code, "InvalidContactId");
        IdentifierKind::MobileNumber.match_form_into("+447700900123", &mut key);
        assert_eq!(key, "447700900123");
        assert_eq!(
            IdentifierKind::from_api_name("mobileNumber"),
            Some(IdentifierKind::MobileNumber)
        );
    }
}
