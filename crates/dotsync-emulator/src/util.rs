//! Small helpers: URL decoding, query strings, identifier validation, JSON access, dates.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use serde_json::{Map, Value};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks a mutex, ignoring poisoning (a panicking test thread must not wedge the emulator).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes; `plus_is_space` for query strings (a `+` in a path is a literal plus).
pub(crate) fn pct_decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b'+' if plus_is_space => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parsed query string; names compared case-insensitively.
#[derive(Debug, Default)]
pub(crate) struct Query(pub Vec<(String, String)>);

impl Query {
    pub fn parse(q: Option<&str>) -> Self {
        let mut v = Vec::new();
        if let Some(q) = q {
            for pair in q.split('&').filter(|p| !p.is_empty()) {
                let (k, val) = pair.split_once('=').unwrap_or((pair, ""));
                v.push((pct_decode(k, true), pct_decode(val, true)));
            }
        }
        Query(v)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The parameters a page's links carry to the next page (filters, `include`, ...): all
    /// but `limit` and `marker`, each as `&name=value`, encoded again.
    pub fn carried(&self) -> String {
        self.0
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("limit") && !k.eq_ignore_ascii_case("marker"))
            .map(|(k, v)| format!("&{}={}", pct_encode(k), pct_encode(v)))
            .collect()
    }
}

/// Percent-encodes a query parameter's name or value (RFC 3986 unreserved characters, `~` and
/// `:` stay as they are: filters read `~modified=gte::2024-01-01T00:00:00Z`).
fn pct_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~:,".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Conservative e-mail syntax check.
pub(crate) fn valid_email(s: &str) -> bool {
    if s.is_empty() || s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && !local.contains('@')
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && domain.len() >= 3
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.starts_with('-')
        && !domain.contains("..")
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

/// E.164 check: optional leading `+`, 8-15 digits, no leading zero. Returns digits only.
pub(crate) fn normalize_mobile(s: &str) -> Option<String> {
    let d = s.strip_prefix('+').unwrap_or(s);
    if d.len() < 8 || d.len() > 15 || !d.bytes().all(|c| c.is_ascii_digit()) || d.starts_with('0') {
        return None;
    }
    Some(d.to_string())
}

/// Current wall-clock time in milliseconds (display timestamps only; never used for limits).
pub(crate) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// ISO-8601 UTC with `Z`, seconds precision.
pub(crate) fn iso(ms: i64) -> String {
    match Utc.timestamp_millis_opt(ms) {
        chrono::LocalResult::Single(t) => t.to_rfc3339_opts(SecondsFormat::Secs, true),
        _ => "1970-01-01T00:00:00Z".to_string(),
    }
}

/// Parses an ISO-8601 date or date-time; returns it normalised to `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn parse_date(s: &str) -> Option<String> {
    parse_instant(s).map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// The instant (UTC) of an ISO-8601 date (midnight), or of a date-time with or without a zone
/// (none means UTC).
pub(crate) fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc());
        }
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(d.and_hms_opt(0, 0, 0)?.and_utc())
}

/// Case-insensitive property lookup (v2 accepts property names in any case).
pub(crate) fn get_ci<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let o = v.as_object()?;
    if let Some(x) = o.get(key) {
        return Some(x);
    }
    o.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v)
}

/// Case-insensitive lookup in a map.
pub(crate) fn map_get_ci<'a>(o: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    o.get(key)
        .or_else(|| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

/// A numeric id given as a JSON number or a numeric string.
pub(crate) fn as_id(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A list of numeric ids (array of numbers or numeric strings). `Err(bad item)` on a bad element.
pub(crate) fn as_id_list(v: Option<&Value>) -> Result<Vec<u64>, String> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a.iter().map(|x| as_id(x).ok_or_else(|| x.to_string())).collect(),
        Some(other) => Err(other.to_string()),
    }
}

/// Parses select/skip paging (v2). `Err` names the bad parameter.
pub(crate) fn v2_paging(q: &Query) -> Result<(usize, usize), &'static str> {
    let select = match q.get("select") {
        None | Some("") => 1000,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => return Err("select"),
        },
    };
    let skip = match q.get("skip") {
        None | Some("") => 0,
        Some(s) => s.parse::<usize>().map_err(|_| "skip")?,
    };
    Ok((select, skip))
}

/// Minimal RFC 4180 CSV reader (quotes, doubled quotes, CRLF). Returns rows of fields.
pub(crate) fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut chars = text.trim_start_matches('\u{feff}').chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        any = true;
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    field.push('"');
                    chars.next();
                } else {
                    in_quotes = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' => in_quotes = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                if !(row.len() == 1 && row[0].is_empty()) {
                    rows.push(std::mem::take(&mut row));
                } else {
                    row.clear();
                }
                any = false;
            }
            c => field.push(c),
        }
    }
    if any {
        row.push(field);
        if !(row.len() == 1 && row[0].is_empty()) {
            rows.push(row);
        }
    }
    rows
}

/// Quotes a CSV field when needed.
pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Whether every character is in the GSM 03.38 basic set (or its extension table).
pub(crate) fn is_gsm(s: &str) -> bool {
    const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
    const EXT: &str = "^{}\\[~]|€\u{c}";
    s.chars().all(|c| BASIC.contains(c) || EXT.contains(c))
}

/// Number of SMS parts: GSM 160/153 per part, UCS-2 70/67.
pub(crate) fn sms_parts(s: &str) -> u32 {
    let (single, multi, len) = if is_gsm(s) {
        const EXT: &str = "^{}\\[~]|€\u{c}";
        let len: usize = s.chars().map(|c| if EXT.contains(c) { 2 } else { 1 }).sum();
        (160, 153, len)
    } else {
        (70, 67, s.encode_utf16().count())
    };
    if len <= single { 1 } else { len.div_ceil(multi) as u32 }
}

/// A tiny deterministic PRNG for latency jitter (no external dependency needed).
pub(crate) fn jitter(max: u64, counter: u64) -> u64 {
    if max == 0 {
        return 0;
    }
    let mut x = counter
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(0x2545_F491_4F6C_DD1D);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x % (max + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_keeps_plus_in_paths() {
        assert_eq!(pct_decode("a+b%40c.com", false), "a+b@c.com");
        assert_eq!(pct_decode("a+b", true), "a b");
        assert_eq!(pct_decode("100%", false), "100%");
        assert_eq!(pct_decode("%2", false), "%2");
    }

    #[test]
    fn emails_and_phones() {
        assert!(valid_email("ann+tag@example.com"));
        assert!(!valid_email("bad@@example"));
        assert!(!valid_email("no-at.example.com"));
        assert_eq!(normalize_mobile("+447700900123").as_deref(), Some("447700900123"));
        assert_eq!(normalize_mobile("07700900123"), None);
        assert_eq!(normalize_mobile("12ab"), None);
    }

    #[test]
    fn csv_quotes() {
        let rows = parse_csv("Email,NAME\r\n\"a@b.com\",\"Smith, \"\"J\"\"\"\n\nc@d.com,x");
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1][1], "Smith, \"J\"");
        assert_eq!(rows[2], vec!["c@d.com", "x"]);
    }

    #[test]
    fn sms_part_counts() {
        assert_eq!(sms_parts(&"a".repeat(160)), 1);
        assert_eq!(sms_parts(&"a".repeat(161)), 2);
        assert_eq!(sms_parts("héllo ✓"), 1);
        assert_eq!(sms_parts(&"✓".repeat(71)), 2);
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("2024-03-01").as_deref(), Some("2024-03-01T00:00:00Z"));
        assert_eq!(
            parse_date("2024-03-01T12:00:00+01:00").as_deref(),
            Some("2024-03-01T11:00:00Z")
        );
        assert_eq!(parse_date("yesterday"), None);
    }
}

/// A fast, non-cryptographic hasher for the emulator's identifier indexes (keys come from local
/// test traffic, so hash flooding is not a concern): multiply-rotate per 8-byte word, then a
/// final avalanche so the high bits hashbrown uses for its control bytes are well mixed.
#[derive(Clone, Copy, Default)]
pub(crate) struct FastHasher(u64);

impl FastHasher {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;

    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(Self::K);
    }
}

impl std::hash::Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h
    }
}

/// `HashMap` with [`FastHasher`].
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<FastHasher>>;
/// `HashSet` with [`FastHasher`].
pub(crate) type FastSet<K> = std::collections::HashSet<K, std::hash::BuildHasherDefault<FastHasher>>;
