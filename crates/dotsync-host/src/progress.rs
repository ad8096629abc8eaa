//! Progress reporting: the driver tells a [`ProgressSink`] when a sync starts, as rows get their
//! outcomes, and when it ends. The CLI plugs a progress bar into it; [`NoProgress`] ignores it.

use crate::report::SyncReport;

/// Receives progress events. Called from the driver's task; keep it cheap.
pub trait ProgressSink: Send + Sync {
    /// A sync starts; `total_rows` is known for some sources (Parquet, Arrow IPC files).
    fn sync_started(&self, name: &str, total_rows: Option<u64>);
    /// `count` more rows of the sync got their outcome.
    fn rows_done(&self, name: &str, count: u64);
    /// A sync ended (also when its plugin failed).
    fn sync_finished(&self, report: &SyncReport);
}

/// Ignores every event.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl ProgressSink for NoProgress {
    fn sync_started(&self, _name: &str, _total_rows: Option<u64>) {}
    fn rows_done(&self, _name: &str, _count: u64) {}
    fn sync_finished(&self, _report: &SyncReport) {}
}
