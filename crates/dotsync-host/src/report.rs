//! Run reports: what each sync did, as counts per outcome, API calls, and (in plan mode) the
//! writes it would have sent. Serialisable; its JSON schema is `schemas/run-report.schema.json`.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SyncReport {
    /// The sync's name in the config file.
    pub name: String,
    /// The plugin that ran it.
    pub plugin: String,
    /// Rows read from the source (and handed to the plugin, or rejected by the host before).
    pub rows_read: u64,
    /// Keys that left the source since the last run, handed to the plugin to delete or remove
    /// (only for plugins that ask, e.g. a list's audience); their outcomes are counted with the
    /// rows'.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub departed: u64,
    /// Rows (and departed keys) the destination accepted.
    pub delivered: u64,
    /// Rows refused for bad data (resending cannot succeed); listed in the rejects file.
    pub rejected: u64,
    /// Rows given up on (retries exhausted, plugin failure); the next run tries again. Listed in
    /// the rejects file.
    pub failed: u64,
    /// Rows with nothing to do: unchanged since they were last delivered (incremental syncs),
    /// or nothing the destination needs (e.g. a delete in a mode that never deletes).
    pub skipped: u64,
    /// Rows whose fate is unknown (a non-idempotent send timed out); listed in the rejects file.
    pub uncertain: u64,
    /// Rows the incremental state kept from the plugin: unchanged since they were delivered or
    /// rejected, already sent by a send-once sync, or with an earlier send in doubt. Each is
    /// also counted under its outcome (mostly `skipped`). In a plan, the rows a run would not
    /// send.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub held_back: u64,
    /// HTTP attempts made for this sync (retries included).
    pub api_calls: u64,
    /// Of which retries.
    pub retries: u64,
    /// Wall time of the sync in milliseconds.
    pub duration_ms: u64,
    /// The rejects file, when any row was rejected, failed or uncertain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejects_file: Option<PathBuf>,
    /// Plan and check modes: writes that were planned but not sent.
    pub planned_requests: u64,
    /// Plan and check modes: the first planned writes, for a look at what would be sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sample_requests: Vec<SampleRequest>,
    /// Why every row of the sync counted as changed this run: what changed in its definition
    /// since the last run (a mapped column added, removed or retyped in the source or the
    /// mapping, a plugin config field changed), in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<String>,
    /// Sends journaled by an earlier run that stopped before their answer: their fate is unknown
    /// and they are never repeated; their rows, when in the source, are reported `uncertain`
    /// with code `UnresolvedSend`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unresolved_sends: u64,
    /// Outcome rows written back to the PostgreSQL source's `write_back` table this run: one
    /// per row with an outcome (and per departed key), when the source has a write-back.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub written_back: u64,
    /// Why the sync ended early (a plugin that panicked or broke its contract), if it did. Rows
    /// without an outcome are then counted as failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

impl SyncReport {
    /// Rows that ended in the rejects file.
    pub fn bad_rows(&self) -> u64 {
        self.rejected + self.failed + self.uncertain
    }

    /// Rows with an outcome.
    pub fn rows_done(&self) -> u64 {
        self.delivered + self.rejected + self.failed + self.skipped + self.uncertain
    }
}

/// A write a dry run did not send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SampleRequest {
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// The body, pretty-printed when it is JSON, cut at 4 KiB.
    pub body: String,
}

/// What a whole run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RunReport {
    /// One report per sync that ran, in config order.
    pub syncs: Vec<SyncReport>,
    /// When the run started (UTC, RFC 3339).
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// Wall time of the run in milliseconds.
    pub duration_ms: u64,
}

impl RunReport {
    /// Whether every row of every sync was delivered or skipped and no sync ended early.
    pub fn is_clean(&self) -> bool {
        self.syncs
            .iter()
            .all(|sync| sync.bad_rows() == 0 && sync.error.is_none())
    }
}

/// The JSON schema of [`RunReport`] (`schemas/run-report.schema.json`).
pub fn run_report_schema_json() -> String {
    let schema = schemars::schema_for!(RunReport);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_else(|_| "{}".to_owned());
    text.push('\n');
    text
}

/// Most body bytes a sample shows.
pub const SAMPLE_BODY_LIMIT: usize = 4096;
/// Bodies up to this size are shown pretty-printed; larger ones as sent (compact).
const PRETTY_BODY_LIMIT: usize = 64 * 1024;

/// A sample of a planned write: JSON bodies pretty-printed, cut at [`SAMPLE_BODY_LIMIT`] bytes.
pub fn sample_request(method: &str, path: &str, body: &[u8]) -> SampleRequest {
    // Pretty-printing needs the whole document parsed: for an import body of megabytes that
    // costs more than the plan it samples, and only the first bytes are shown anyway.
    let pretty = (body.len() <= PRETTY_BODY_LIMIT)
        .then(|| serde_json::from_slice::<serde_json::Value>(body).ok())
        .flatten()
        .and_then(|value| serde_json::to_string_pretty(&value).ok());
    let (text, total) = match pretty {
        Some(text) => {
            let total = text.len();
            (text, total)
        }
        // A few bytes past the limit, so that a character cut at the limit is still whole.
        None => (
            String::from_utf8_lossy(&body[..body.len().min(SAMPLE_BODY_LIMIT + 4)]).into_owned(),
            body.len(),
        ),
    };
    SampleRequest {
        method: method.to_owned(),
        path: path.to_owned(),
        body: truncate(text, SAMPLE_BODY_LIMIT, total),
    }
}

/// `text` cut at `limit` bytes, with a note giving `total`, the size of what it shows the start of.
fn truncate(mut text: String, limit: usize, total: usize) -> String {
    if text.len() <= limit && total <= limit {
        return text;
    }
    let mut cut = limit.min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    text.push_str(&format!("\n… ({total} bytes in all, cut at {limit})"));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sync_report_serialises_without_empty_optionals() {
        let report = SyncReport {
            name: "contacts".into(),
            plugin: "dotdigital-contacts".into(),
            rows_read: 3,
            delivered: 2,
            rejected: 1,
            ..SyncReport::default()
        };
        insta::assert_snapshot!(serde_json::to_string(&report).unwrap(), @r#"{"name":"contacts","plugin":"dotdigital-contacts","rows_read":3,"delivered":2,"rejected":1,"failed":0,"skipped":0,"uncertain":0,"api_calls":0,"retries":0,"duration_ms":0,"planned_requests":0}"#);
    }

    #[test]
    fn samples_pretty_print_and_truncate() {
        let sample = sample_request("POST", "/x", br#"{"a":1}"#);
        assert_eq!(sample.body, "{\n  \"a\": 1\n}");
        let big = format!("\"{}\"", "é".repeat(5000));
        let sample = sample_request("POST", "/x", big.as_bytes());
        assert!(sample.body.len() < SAMPLE_BODY_LIMIT + 100);
        assert!(sample.body.contains("cut at 4096"));
        let large = format!("[{}]", vec![r#"{"email":"a@example.com"}"#; 10_000].join(","));
        let sample = sample_request("PUT", "/import", large.as_bytes());
        assert!(
            sample.body.starts_with(r#"[{"email":"a@example.com"},"#),
            "{}",
            &sample.body[..80]
        );
        assert!(
            sample
                .body
                .ends_with(&format!("({} bytes in all, cut at 4096)", large.len())),
            "{}",
            &sample.body[sample.body.len() - 80..]
        );
    }
}
