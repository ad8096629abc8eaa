//! Dotdigital error bodies, both generations (dotdigital-api.md §3).
//!
//! * v2: `{"message": "Contact is suppressed. ERROR_CONTACT_SUPPRESSED"}`; the machine code is the
//!   first `ERROR_[A-Z_]+` token of the message, or the whole text when there is none.
//! * v3: `{"errorCode": "contacts:invalidContact", "description": "...", "details": [{"item":
//!   "...", "description" | "error": "..."}]}`.

use std::fmt;

use serde::Deserialize;

/// An error answer from the Dotdigital API, either generation, reduced to one shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status of the response.
    pub status: u16,
    /// Machine code: `ERROR_CONTACT_SUPPRESSED` (v2), `contacts:invalidContact` (v3), or
    /// `HTTP_<status>` when the body carries none.
    pub code: String,
    /// Human text, with v3 details appended (`item: description`).
    pub message: String,
}

impl ApiError {
    /// Reads an error response, whichever generation wrote it. Never fails: a body that is not
    /// a known error shape becomes the message (shortened), with the code `HTTP_<status>`.
    pub fn from_response(status: u16, body: &[u8]) -> ApiError {
        if let Some((code, message)) = parse_v3_error(body) {
            return ApiError { status, code, message };
        }
        if let Some((code, message)) = parse_v2_error(body) {
            return ApiError { status, code, message };
        }
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        let message = if text.is_empty() {
            reason_phrase(status).to_owned()
        } else {
            shorten(text, 300)
        };
        ApiError {
            status,
            code: format!("HTTP_{status}"),
            message,
        }
    }

    /// Whether this error means "slow down" rather than "bad request": 429, or the flat-rate
    /// scheme's 400 `ERROR_APIUSAGE_EXCEEDED` (§2).
    pub fn is_throttling(&self) -> bool {
        self.status == 429 || self.code.contains("APIUSAGE_EXCEEDED")
    }

    /// Whether the credentials or the region are wrong (401, 403).
    pub fn is_auth(&self) -> bool {
        self.status == 401 || self.status == 403
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() || self.message == self.code {
            write!(f, "HTTP {} {}", self.status, self.code)
        } else {
            write!(f, "HTTP {} {}: {}", self.status, self.code, self.message)
        }
    }
}

impl std::error::Error for ApiError {}

#[derive(Deserialize)]
struct V2Body {
    message: Option<String>,
    #[serde(rename = "Message")]
    message_pascal: Option<String>,
}

/// Parses a v2 error body into `(code, message)`. The code is the first `ERROR_[A-Z_]+` token,
/// or the whole message when it has none (e.g. "Authorization has been denied for this request.").
pub fn parse_v2_error(body: &[u8]) -> Option<(String, String)> {
    let parsed: V2Body = serde_json::from_slice(body).ok()?;
    let message = parsed.message.or(parsed.message_pascal)?;
    let code = v2_error_code(&message)
        .map(str::to_owned)
        .unwrap_or_else(|| message.clone());
    Some((code, message))
}

/// The first `ERROR_[A-Z_]+` token in a v2 message.
pub fn v2_error_code(message: &str) -> Option<&str> {
    let bytes = message.as_bytes();
    let mut from = 0;
    while let Some(found) = message[from..].find("ERROR_") {
        let start = from + found;
        // A token starts at a word boundary: `XERROR_A` is not a code.
        let boundary = start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let mut end = start + "ERROR_".len();
        while end < bytes.len() && (bytes[end].is_ascii_uppercase() || bytes[end] == b'_') {
            end += 1;
        }
        if boundary && end > start + "ERROR_".len() {
            return Some(message[start..end].trim_end_matches('_'));
        }
        from = start + 1;
    }
    None
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V3Body {
    error_code: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    details: Vec<V3Detail>,
}

#[derive(Deserialize)]
struct V3Detail {
    #[serde(default)]
    item: Option<serde_json::Value>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// Parses a v3 error body into `(errorCode, description + details)`. Details use either
/// `description` or `error` for their text (the docs show both).
pub fn parse_v3_error(body: &[u8]) -> Option<(String, String)> {
    let parsed: V3Body = serde_json::from_slice(body).ok()?;
    let mut message = parsed.description.unwrap_or_default();
    for detail in &parsed.details {
        let text = detail.description.as_deref().or(detail.error.as_deref()).unwrap_or("");
        let item = match &detail.item {
            Some(serde_json::Value::String(item)) => item.clone(),
            Some(serde_json::Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        if text.is_empty() && item.is_empty() {
            continue;
        }
        message.push_str(if message.is_empty() { "" } else { "; " });
        match (item.is_empty(), text.is_empty()) {
            (false, false) => {
                message.push_str(&item);
                message.push_str(": ");
                message.push_str(text);
            }
            (false, true) => message.push_str(&item),
            _ => message.push_str(text),
        }
    }
    Some((parsed.error_code, message))
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "no response body",
    }
}

/// `text` cut to at most `max` characters, with an ellipsis when cut.
pub fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_code_is_the_error_token() {
        let error = ApiError::from_response(
            400,
            br#"{"message": "Contact is suppressed. ERROR_CONTACT_SUPPRESSED"}"#,
        );
        assert_eq!(error.code, "ERROR_CONTACT_SUPPRESSED");
        assert_eq!(error.message, "Contact is suppressed. ERROR_CONTACT_SUPPRESSED");
        assert_eq!(
            error.to_string(),
            "HTTP 400 ERROR_CONTACT_SUPPRESSED: Contact is suppressed. ERROR_CONTACT_SUPPRESSED"
        );
        assert_eq!(
            v2_error_code("Error: ERROR_ADDRESSBOOK_NOT_FOUND"),
            Some("ERROR_ADDRESSBOOK_NOT_FOUND")
        );
        assert_eq!(v2_error_code("XERROR_A and ERROR_B."), Some("ERROR_B"));
        assert_eq!(v2_error_code("no code here"), None);
    }

    #[test]
    fn v2_message_without_code_is_the_code() {
        let error = ApiError::from_response(
            401,
            br#"{"message": "Authorization has been denied for this request."}"#,
        );
        assert_eq!(error.code, "Authorization has been denied for this request.");
        assert!(error.is_auth());
        assert_eq!(
            error.to_string(),
            "HTTP 401 Authorization has been denied for this request."
        );
    }

    #[test]
    fn v3_errors_with_both_detail_spellings() {
        let body = br#"{"errorCode":"contacts:invalidContact","description":"The contact data supplied is not valid",
            "details":[{"item":"identifiers.email","description":"Value is not a valid email address"},
                       {"item":"lists","error":"Unknown list 7"}]}"#;
        let error = ApiError::from_response(400, body);
        assert_eq!(error.code, "contacts:invalidContact");
        assert_eq!(
            error.message,
            "The contact data supplied is not valid; identifiers.email: Value is not a valid email address; lists: Unknown list 7"
        );
    }

    #[test]
    fn throttling_and_unknown_bodies() {
        let flat = ApiError::from_response(
            400,
            br#"{"message":"Your account has generated excess API activity. ERROR_APIUSAGE_EXCEEDED"}"#,
        );
        assert!(flat.is_throttling());
        let empty = ApiError::from_response(503, b"");
        assert_eq!(empty.code, "HTTP_503");
        assert_eq!(empty.to_string(), "HTTP 503 HTTP_503: Service Unavailable");
        let html = ApiError::from_response(502, b"<html>bad gateway</html>");
        assert_eq!(html.message, "<html>bad gateway</html>");
    }
}
