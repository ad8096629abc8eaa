//! What a message may hold before it is sent (dotdigital-api.md §10, §11): email addresses in
//! to, CC, BCC and from, E.164 mobile numbers, and the GSM-7 alphabet and length of a
//! transactional SMS. Everything here is checked per row, so a bad row is rejected with its
//! reason instead of being refused by Dotdigital (or, for SMS, silently dropped).

use dotdigital_shared::identifier::{normalize_mobile, validate_email};

use crate::outcome_codes;

/// Most addresses in each of to, CC and BCC of one email (§10).
pub const MAX_RECIPIENTS: usize = 100;

/// Longest transactional SMS in GSM-7 characters (one part, §11).
pub const MAX_GSM_SEPTETS: usize = 160;

/// Longest transactional SMS holding characters outside GSM-7, in UTF-16 code units: one UCS-2
/// part. The API documentation gives no figure for such messages; this is the SMS standard's.
pub const MAX_UNICODE_UNITS: usize = 70;

/// A row that cannot be sent, with the outcome code it is rejected under.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RowError {
    pub code: &'static str,
    pub message: String,
}

impl RowError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        RowError {
            code,
            message: message.into(),
        }
    }
}

/// Why a from address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailAddressError {
    #[error("`{address}` {reason}")]
    Invalid { address: String, reason: String },
    #[error("`{0}` is neither an address nor `Name <address>`")]
    Malformed(String),
}

/// Reads a from address, `addr@example.com` or `Name <addr@example.com>`, into the form the API
/// takes (`Name <addr@example.com>`, or the bare address).
pub fn parse_from_address(text: &str) -> Result<String, EmailAddressError> {
    let text = text.trim();
    let invalid = |address: &str, reason: String| EmailAddressError::Invalid {
        address: address.to_owned(),
        reason,
    };
    let Some(open) = text.find('<') else {
        return validate_email(text)
            .map(str::to_owned)
            .map_err(|reason| invalid(text, reason));
    };
    let name = text[..open].trim();
    let Some(address) = text[open + 1..].strip_suffix('>') else {
        return Err(EmailAddressError::Malformed(text.to_owned()));
    };
    if name.contains(['<', '>']) {
        return Err(EmailAddressError::Malformed(text.to_owned()));
    }
    let address = validate_email(address).map_err(|reason| invalid(address.trim(), reason))?;
    Ok(if name.is_empty() {
        address.to_owned()
    } else {
        format!("{name} <{address}>")
    })
}

/// Checks the addresses of one recipient field (`role`: "to", "CC" or "BCC") and returns them
/// trimmed. More than [`MAX_RECIPIENTS`] rejects the row: a message is never sent to fewer
/// people than the row names.
pub fn check_recipients(role: &str, addresses: Vec<String>) -> Result<Vec<String>, RowError> {
    if addresses.len() > MAX_RECIPIENTS {
        return Err(RowError::new(
            outcome_codes::TOO_MANY_RECIPIENTS,
            format!(
                "has {} {role} addresses; an email takes at most {MAX_RECIPIENTS}, and the row is not sent rather than sent to fewer",
                addresses.len()
            ),
        ));
    }
    addresses
        .into_iter()
        .map(|address| match validate_email(&address) {
            Ok(valid) => Ok(valid.to_owned()),
            Err(reason) => Err(RowError::new(
                outcome_codes::INVALID_EMAIL,
                format!(
                    "{role} address `{}` {reason}",
                    dotdigital_shared::error::shorten(&address, 80)
                ),
            )),
        })
        .collect()
}

/// Splits comma-separated addresses, dropping blanks between commas.
pub fn split_addresses(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(',')
        .map(str::trim)
        .filter(|address| !address.is_empty())
        .map(str::to_owned)
}

/// Writes a mobile number as the API takes it (E.164 digits without `+`) into `out`, after
/// removing the spaces and dashes people write numbers with.
pub fn normalize_phone(raw: &str, out: &mut String) -> Result<(), RowError> {
    out.clear();
    let compact: String = raw.chars().filter(|ch| !matches!(ch, ' ' | '-')).collect();
    normalize_mobile(&compact, out).map_err(|reason| {
        RowError::new(
            outcome_codes::INVALID_PHONE_NUMBER,
            format!(
                "mobile number `{}` {reason}",
                dotdigital_shared::error::shorten(raw.trim(), 40)
            ),
        )
    })
}

/// Why a transactional SMS text cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmsTextError {
    #[error(
        "contains `{0}`, which is not in the GSM-7 alphabet: Dotdigital drops such messages unless `allow_unicode = true`"
    )]
    NotGsm(char),
    #[error(
        "is {0} GSM-7 characters long (`€ ^ {{ }} [ ] ~ | \\` count as two); a transactional SMS takes at most {MAX_GSM_SEPTETS}"
    )]
    TooLongGsm(usize),
    #[error(
        "is {0} characters long in UTF-16; a transactional SMS with characters outside GSM-7 takes at most {MAX_UNICODE_UNITS}"
    )]
    TooLongUnicode(usize),
}

impl SmsTextError {
    pub fn code(&self) -> &'static str {
        match self {
            SmsTextError::NotGsm(_) => outcome_codes::NOT_GSM,
            SmsTextError::TooLongGsm(_) | SmsTextError::TooLongUnicode(_) => outcome_codes::MESSAGE_TOO_LONG,
        }
    }
}

/// The text rules of a transactional SMS.
pub struct SmsText;

impl SmsText {
    /// Checks a message against the alphabet and length a transactional SMS allows.
    pub fn check(message: &str, allow_unicode: bool) -> Result<(), SmsTextError> {
        let mut septets = 0;
        let mut first_other = None;
        for ch in message.chars() {
            match gsm_septets(ch) {
                Some(width) => septets += width,
                None => {
                    first_other = Some(ch);
                    break;
                }
            }
        }
        match first_other {
            None if septets > MAX_GSM_SEPTETS => Err(SmsTextError::TooLongGsm(septets)),
            None => Ok(()),
            Some(ch) if !allow_unicode => Err(SmsTextError::NotGsm(ch)),
            Some(_) => {
                let units = message.encode_utf16().count();
                if units > MAX_UNICODE_UNITS {
                    Err(SmsTextError::TooLongUnicode(units))
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// How many septets `ch` takes in the GSM 03.38 default alphabet (2 for the extension table),
/// or `None` when it is not in it.
fn gsm_septets(ch: char) -> Option<usize> {
    if ch.is_ascii_alphanumeric() {
        return Some(1);
    }
    match ch {
        ' ' | '!' | '"' | '#' | '%' | '&' | '\'' | '(' | ')' | '*' | '+' | ',' | '-' | '.' | '/' | ':' | ';' | '<'
        | '=' | '>' | '?' | '@' | '$' | '_' | '\n' | '\r' => Some(1),
        '£' | '¥' | 'è' | 'é' | 'ù' | 'ì' | 'ò' | 'Ç' | 'Ø' | 'ø' | 'Å' | 'å' | 'Δ' | 'Φ' | 'Γ' | 'Λ' | 'Ω' | 'Π'
        | 'Ψ' | 'Σ' | 'Θ' | 'Ξ' | 'Æ' | 'æ' | 'ß' | 'É' | '¤' | '¡' | 'Ä' | 'Ö' | 'Ñ' | 'Ü' | '§' | '¿' | 'ä' | 'ö'
        | 'ñ' | 'ü' | 'à' => Some(1),
        '^' | '{' | '}' | '\\' | '[' | ']' | '~' | '|' | '€' | '\u{c}' => Some(2),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_addresses() {
        assert_eq!(
            parse_from_address(" shop@demo.example "),
            Ok("shop@demo.example".into())
        );
        assert_eq!(
            parse_from_address("Demo Shop <shop@demo.example>"),
            Ok("Demo Shop <shop@demo.example>".into())
        );
        assert_eq!(
            parse_from_address("<shop@demo.example>"),
            Ok("shop@demo.example".into())
        );
        assert_eq!(
            parse_from_address("Shop <shop@demo.example"),
            Err(EmailAddressError::Malformed("Shop <shop@demo.example".into()))
        );
        assert_eq!(
            parse_from_address("Shop <nobody>").unwrap_err().to_string(),
            "`nobody` has no `@`"
        );
    }

    #[test]
    fn recipients() {
        let list: Vec<String> = split_addresses("a@x.com, ,b@x.com,").collect();
        assert_eq!(list, ["a@x.com", "b@x.com"]);
        let error = check_recipients("CC", vec!["a@x.com".into(), "nope".into()]).unwrap_err();
        assert_eq!(error.code, "InvalidEmail");
        assert_eq!(error.message, "CC address `nope` has no `@`");
        let many = (0..101).map(|i| format!("p{i}@x.com")).collect();
        let error = check_recipients("BCC", many).unwrap_err();
        assert_eq!(error.code, "TooManyRecipients");
        assert!(error.message.starts_with("has 101 BCC addresses"), "{}", error.message);
    }

    #[test]
    fn phones_lose_spaces_and_dashes() {
        let mut out = String::new();
        normalize_phone("+44 7700-900 123", &mut out).unwrap();
        assert_eq!(out, "447700900123");
        let error = normalize_phone("07700 900123", &mut out).unwrap_err();
        assert_eq!(error.code, "InvalidPhoneNumber");
        assert!(error.message.contains("starts with 0"), "{}", error.message);
        assert!(normalize_phone("+44 (7700) 900123", &mut out).is_err());
    }

    #[test]
    fn sms_alphabet_and_length() {
        assert_eq!(SmsText::check("Your code is 1234. Grüße, £5 @ 10:00!", false), Ok(()));
        assert_eq!(SmsText::check("Hi 😀", false), Err(SmsTextError::NotGsm('😀')));
        assert_eq!(SmsText::check("Hi `x`", false), Err(SmsTextError::NotGsm('`')));
        assert_eq!(SmsText::check(&"a".repeat(160), false), Ok(()));
        assert_eq!(
            SmsText::check(&"a".repeat(161), false),
            Err(SmsTextError::TooLongGsm(161))
        );
        assert_eq!(
            SmsText::check(&format!("{}€", "a".repeat(159)), false),
            Err(SmsTextError::TooLongGsm(161))
        );
        assert_eq!(SmsText::check(&format!("{}😀", "a".repeat(68)), true), Ok(()));
        assert_eq!(
            SmsText::check(&format!("{}😀", "a".repeat(69)), true),
            Err(SmsTextError::TooLongUnicode(71))
        );
        assert_eq!(
            SmsText::check(&"a".repeat(161), true),
            Err(SmsTextError::TooLongGsm(161))
        );
    }
}
