//! Fault injection: rules that make matching requests fail, slow down, lose their connection or
//! get a truncated body, and imports that fail, stall or reject given rows.

use crate::server::App;
use crate::util::lock;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// One fault rule. `method` (any if `None`) and `path` (glob, `*` matches any characters) are
/// matched against the request with its `/rN` region prefix and trailing slash removed, e.g.
/// `/contacts/v3/import` or `/contacts/v3/email/*`. `times` is how many matching requests it
/// affects (`None` = until cleared).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultRule {
    /// Id assigned when the rule is added.
    #[serde(default)]
    pub id: u64,
    /// HTTP method to match (any case); `None` matches all.
    #[serde(default)]
    pub method: Option<String>,
    /// Path glob; default `*`.
    #[serde(default = "any_path")]
    pub path: String,
    /// Number of matching requests to affect; `None` = unlimited.
    #[serde(default)]
    pub times: Option<u32>,
    /// What happens.
    #[serde(flatten)]
    pub action: FaultAction,
}

fn any_path() -> String {
    "*".to_string()
}

/// What a fault rule does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum FaultAction {
    /// Answer this status with the right body for the endpoint's generation (429 also gets
    /// rate-limit headers; 400 on v2 is the flat-rate `ERROR_APIUSAGE_EXCEEDED`). Nothing is processed.
    Status {
        /// HTTP status.
        status: u16,
        /// Optional body to send instead of the default one.
        #[serde(default)]
        body: Option<serde_json::Value>,
    },
    /// Delay the response by `fixed_ms` plus up to `jitter_ms`.
    Latency {
        /// Fixed delay.
        #[serde(default)]
        fixed_ms: u64,
        /// Random extra delay, 0..=jitter_ms.
        #[serde(default)]
        jitter_ms: u64,
    },
    /// Drop the connection without a response. With `after_processing`, the request is applied
    /// first (the client cannot know it succeeded).
    Reset {
        /// Apply the request before dropping the connection.
        #[serde(default)]
        after_processing: bool,
    },
    /// Process the request, then send a truncated body: by default `Content-Length` announces the
    /// full body but only half is sent before the connection closes; with `cut_json` a valid HTTP
    /// response carries only the first half of the JSON.
    Truncate {
        /// Send half the JSON as a complete (but unparsable) body.
        #[serde(default)]
        cut_json: bool,
    },
    /// The next import created by a matching request ends with status `Failed` (nothing applied).
    ImportFail,
    /// The next import created by a matching request stays in progress for `seconds`.
    ImportStall {
        /// How long it stays `NotFinished`/`Processing`.
        seconds: f64,
    },
    /// Rows whose identifier (email, mobile number, contact id, or insight record key) is in
    /// `values` fail in every import with `failure_code` (default `Blocker`, or `Unknown` for
    /// insight). Method/path are ignored; `times` counts failed rows.
    RowFailures {
        /// Identifier values (case-insensitive).
        values: Vec<String>,
        /// Failure code reported.
        #[serde(default)]
        failure_code: Option<String>,
    },
}

impl FaultRule {
    /// A rule with `action` for every request matching `method` and `path`.
    pub fn new(method: Option<&str>, path: &str, action: FaultAction) -> Self {
        Self {
            id: 0,
            method: method.map(str::to_string),
            path: path.to_string(),
            times: None,
            action,
        }
    }

    /// Answer `status` to matching requests.
    pub fn status(method: &str, path: &str, status: u16) -> Self {
        Self::new(Some(method), path, FaultAction::Status { status, body: None })
    }

    /// Delay matching requests.
    pub fn latency(method: &str, path: &str, fixed: Duration, jitter: Duration) -> Self {
        Self::new(
            Some(method),
            path,
            FaultAction::Latency {
                fixed_ms: fixed.as_millis() as u64,
                jitter_ms: jitter.as_millis() as u64,
            },
        )
    }

    /// Drop the connection of matching requests (before processing them).
    pub fn reset(method: &str, path: &str) -> Self {
        Self::new(
            Some(method),
            path,
            FaultAction::Reset {
                after_processing: false,
            },
        )
    }

    /// Truncate the response body of matching requests.
    pub fn truncate(method: &str, path: &str) -> Self {
        Self::new(Some(method), path, FaultAction::Truncate { cut_json: false })
    }

    /// Fail imports created by matching requests.
    pub fn import_fail(method: &str, path: &str) -> Self {
        Self::new(Some(method), path, FaultAction::ImportFail)
    }

    /// Stall imports created by matching requests.
    pub fn import_stall(method: &str, path: &str, d: Duration) -> Self {
        Self::new(
            Some(method),
            path,
            FaultAction::ImportStall {
                seconds: d.as_secs_f64(),
            },
        )
    }

    /// Fail these rows in every import.
    pub fn row_failures<S: Into<String>>(values: impl IntoIterator<Item = S>, code: Option<&str>) -> Self {
        Self::new(
            None,
            "*",
            FaultAction::RowFailures {
                values: values.into_iter().map(Into::into).collect(),
                failure_code: code.map(str::to_string),
            },
        )
    }

    /// Limit the rule to `n` matching requests.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method)) && glob(&self.path, path)
    }
}

/// `*` matches any run of characters; comparison is case-insensitive.
fn glob(pattern: &str, text: &str) -> bool {
    let p = pattern.trim_end_matches('/').to_ascii_lowercase();
    let t = text.to_ascii_lowercase();
    let p = if p.is_empty() { "/".to_string() } else { p };
    let parts: Vec<&str> = p.split('*').collect();
    if parts.len() == 1 {
        return p == t;
    }
    let mut pos = 0;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            if !t.starts_with(part) {
                return false;
            }
            pos = part.len();
        } else if i == parts.len() - 1 {
            return t.len() >= pos + part.len() && t[pos..].ends_with(part);
        } else if let Some(found) = t[pos..].find(part) {
            pos += found + part.len();
        } else {
            return false;
        }
    }
    true
}

/// Faults chosen for one request.
#[derive(Debug, Default)]
pub(crate) struct RequestFaults {
    pub latency: Duration,
    pub status: Option<(u16, Option<serde_json::Value>)>,
    pub reset: Option<bool>,
    pub truncate: Option<bool>,
}

/// Import fault for a job-creating request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ImportFault {
    Fail,
    Stall(Duration),
}

#[derive(Debug, Default)]
pub(crate) struct FaultBook {
    rules: Vec<FaultRule>,
    next_id: u64,
    counter: u64,
}

fn consume(rule: &mut FaultRule) -> bool {
    match &mut rule.times {
        Some(0) => false,
        Some(n) => {
            *n -= 1;
            true
        }
        None => true,
    }
}

impl FaultBook {
    pub fn add(&mut self, mut rule: FaultRule) -> u64 {
        self.next_id += 1;
        rule.id = self.next_id;
        self.rules.push(rule);
        self.next_id
    }

    pub fn list(&self) -> Vec<FaultRule> {
        self.rules.clone()
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    pub fn remove(&mut self, id: u64) -> bool {
        let n = self.rules.len();
        self.rules.retain(|r| r.id != id);
        n != self.rules.len()
    }

    fn gc(&mut self) {
        self.rules.retain(|r| r.times != Some(0));
    }

    /// Picks the request-level faults for a request (latency adds up; first status/reset/truncate wins).
    pub fn for_request(&mut self, method: &str, path: &str) -> RequestFaults {
        let mut out = RequestFaults::default();
        let mut terminal = false;
        let mut truncate = false;
        for i in 0..self.rules.len() {
            if !self.rules[i].matches(method, path) {
                continue;
            }
            match self.rules[i].action.clone() {
                FaultAction::Latency { fixed_ms, jitter_ms } if consume(&mut self.rules[i]) => {
                    self.counter += 1;
                    out.latency += Duration::from_millis(fixed_ms + crate::util::jitter(jitter_ms, self.counter));
                }
                FaultAction::Status { status, body } if !terminal && consume(&mut self.rules[i]) => {
                    out.status = Some((status, body));
                    terminal = true;
                }
                FaultAction::Reset { after_processing } if !terminal && consume(&mut self.rules[i]) => {
                    out.reset = Some(after_processing);
                    terminal = true;
                }
                FaultAction::Truncate { cut_json } if !terminal && !truncate && consume(&mut self.rules[i]) => {
                    out.truncate = Some(cut_json);
                    truncate = true;
                }
                _ => {}
            }
        }
        self.gc();
        out
    }

    /// Picks an import fault for a request that creates an import.
    pub fn for_import(&mut self, method: &str, path: &str) -> Option<ImportFault> {
        let mut found = None;
        for r in self.rules.iter_mut() {
            if !r.matches(method, path) {
                continue;
            }
            let f = match r.action {
                FaultAction::ImportFail => ImportFault::Fail,
                FaultAction::ImportStall { seconds } => {
                    ImportFault::Stall(Duration::from_secs_f64(seconds.clamp(0.0, 86_400.0)))
                }
                _ => continue,
            };
            if consume(r) {
                found = Some(f);
                break;
            }
        }
        self.gc();
        found
    }

    /// Row failures currently configured: lower-cased value -> (failure code, rule id).
    pub fn row_failures(&self) -> HashMap<String, (Option<String>, u64)> {
        let mut m = HashMap::new();
        for r in &self.rules {
            if let FaultAction::RowFailures { values, failure_code } = &r.action {
                for v in values {
                    m.entry(v.to_ascii_lowercase()).or_insert((failure_code.clone(), r.id));
                }
            }
        }
        m
    }

    /// Counts one row failure against its rule's `times`.
    pub fn row_failure_used(&mut self, id: u64) {
        if let Some(r) = self.rules.iter_mut().find(|r| r.id == id) {
            consume(r);
        }
        self.gc();
    }
}

/// Injects faults from Rust; the same rules as `POST /_emulator/faults`.
#[derive(Clone)]
pub struct FaultsHandle {
    pub(crate) app: Arc<App>,
}

impl FaultsHandle {
    /// Adds a rule; returns its id.
    pub fn add(&self, rule: FaultRule) -> u64 {
        lock(&self.app.faults).add(rule)
    }

    /// All active rules.
    pub fn list(&self) -> Vec<FaultRule> {
        lock(&self.app.faults).list()
    }

    /// Removes one rule.
    pub fn remove(&self, id: u64) -> bool {
        lock(&self.app.faults).remove(id)
    }

    /// Removes every rule.
    pub fn clear(&self) {
        lock(&self.app.faults).clear()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("*", "/v2/email"));
        assert!(glob("/contacts/v3/import", "/contacts/v3/import"));
        assert!(glob("/contacts/v3/import/", "/contacts/v3/import"));
        assert!(glob("/contacts/v3/*", "/contacts/v3/email/a@b.com"));
        assert!(!glob("/contacts/v3/*", "/v2/data-fields"));
        assert!(glob("*/import", "/insightData/v3/import"));
        assert!(glob("/v2/*/contacts/*", "/v2/address-books/1/contacts/2"));
    }

    #[test]
    fn times_are_consumed() {
        let mut b = FaultBook::default();
        b.add(FaultRule::status("GET", "*", 503).times(2));
        assert_eq!(b.for_request("GET", "/x").status.map(|s| s.0), Some(503));
        assert!(b.for_request("POST", "/x").status.is_none());
        assert_eq!(b.for_request("get", "/y").status.map(|s| s.0), Some(503));
        assert!(b.for_request("GET", "/x").status.is_none());
        assert!(b.list().is_empty());
    }

    #[test]
    fn rule_json_shape() {
        let r: FaultRule = serde_json::from_str(
            r#"{"method":"PUT","path":"/contacts/v3/import","times":1,"kind":"importStall","seconds":2}"#,
        )
        .unwrap();
        assert_eq!(r.action, FaultAction::ImportStall { seconds: 2.0 });
        let r: FaultRule = serde_json::from_str(r#"{"kind":"latency","fixedMs":5}"#).unwrap();
        assert_eq!(
            r.action,
            FaultAction::Latency {
                fixed_ms: 5,
                jitter_ms: 0
            }
        );
        assert_eq!(r.path, "*");
    }
}
