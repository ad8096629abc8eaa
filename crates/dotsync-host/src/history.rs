//! The run history of a state folder, as `dotsync status` shows it: when each run started, how
//! long it took, and per sync the counts per outcome and the API calls. Read without the state's
//! lock, so it works while a run is going.

use std::path::Path;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::RunError;
use crate::report::{RunReport, SyncReport};

/// One run of the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RunSummary {
    /// The run's number in this state folder.
    pub run: i64,
    /// The process that ran it.
    pub pid: u32,
    /// When it started (UTC).
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub started_at: DateTime<Utc>,
    /// When it ended; absent while it runs, or when it was stopped by a crash or a kill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub finished_at: Option<DateTime<Utc>>,
    /// Wall time in milliseconds, when it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Per sync that ended, its counts.
    pub syncs: Vec<SyncCounts>,
    /// The error that stopped the run, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What one sync of a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SyncCounts {
    pub name: String,
    pub rows_read: u64,
    pub delivered: u64,
    pub rejected: u64,
    pub failed: u64,
    pub skipped: u64,
    pub uncertain: u64,
    pub api_calls: u64,
}

impl From<&SyncReport> for SyncCounts {
    fn from(report: &SyncReport) -> Self {
        SyncCounts {
            name: report.name.clone(),
            rows_read: report.rows_read,
            delivered: report.delivered,
            rejected: report.rejected,
            failed: report.failed,
            skipped: report.skipped,
            uncertain: report.uncertain,
            api_calls: report.api_calls,
        }
    }
}

/// What a run that stopped with an error recorded (see [`crate::run_config`]).
#[derive(Deserialize)]
struct StoppedRun {
    error: String,
    #[serde(default)]
    syncs: Vec<SyncReport>,
}

/// The last `limit` runs recorded in `state_dir`, newest first (empty when it holds none).
pub fn run_history(state_dir: &Path, limit: usize) -> Result<Vec<RunSummary>, RunError> {
    let records = dotsync_state::StateStore::read_recent_runs(state_dir, limit).map_err(|source| RunError::State {
        sync: None,
        source: Box::new(source),
    })?;
    Ok(records
        .into_iter()
        .map(|record| {
            let (syncs, error) = match record.report_json.as_deref() {
                None => (Vec::new(), None),
                Some(json) => match serde_json::from_str::<RunReport>(json) {
                    Ok(report) => (report.syncs.iter().map(SyncCounts::from).collect(), None),
                    Err(_) => match serde_json::from_str::<StoppedRun>(json) {
                        Ok(stopped) => (
                            stopped.syncs.iter().map(SyncCounts::from).collect(),
                            Some(stopped.error),
                        ),
                        Err(_) => (Vec::new(), Some("the recorded report cannot be read".to_owned())),
                    },
                },
            };
            RunSummary {
                run: record.id.0,
                pid: record.pid,
                started_at: record.started_at,
                finished_at: record.finished_at,
                duration_ms: record
                    .finished_at
                    .map(|end| (end - record.started_at).num_milliseconds().max(0) as u64),
                syncs,
                error,
            }
        })
        .collect())
}
