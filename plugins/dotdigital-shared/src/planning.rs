//! Bookkeeping every Dotdigital planner needs, whatever it plans: which request id stands for
//! what, one outcome per row (counted, so a planner can check it reported every row), the outcome
//! code of a request the host gave up on, and the error that stops a run when Dotdigital refuses
//! the credentials.

use std::collections::HashMap;

use arrow_array::cast::AsArray;
use arrow_array::{Array, BooleanArray, StringArray};

use dotsync_plugin_sdk::{
    BatchId, Failure, FailureKind, OutcomeBuilder, OutcomeStatus, PluginError, RecordBatch, RequestId, ResponseView,
};

use crate::ApiError;

/// Outcome codes every Dotdigital plugin reports in the same words.
pub mod codes {
    pub const NULL_KEY: &str = "NullKey";
    pub const DUPLICATE_KEY: &str = "DuplicateKey";
    pub const DRY_RUN: &str = "DryRun";
    pub const INVALID_RESPONSE: &str = "InvalidResponse";
    pub const CONTACT_NOT_FOUND: &str = "ContactNotFound";
    pub const DELETE_NOT_SUPPORTED: &str = "DeleteNotSupported";
}

/// Request ids handed out by one planner, each with what the planner sent it for.
#[derive(Debug)]
pub struct Requests<P> {
    last: RequestId,
    pending: HashMap<RequestId, P>,
}

impl<P> Default for Requests<P> {
    fn default() -> Self {
        Requests {
            last: 0,
            pending: HashMap::new(),
        }
    }
}

impl<P> Requests<P> {
    /// A fresh id (never 0) standing for `purpose` until [`take`](Self::take)n back.
    pub fn issue(&mut self, purpose: P) -> RequestId {
        self.last += 1;
        self.pending.insert(self.last, purpose);
        self.last
    }

    /// What `id` was sent for; `None` for an id already answered or never issued.
    pub fn take(&mut self, id: RequestId) -> Option<P> {
        self.pending.remove(&id)
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// Collects row outcomes and counts rows in and outcomes out.
#[derive(Debug, Default)]
pub struct Outcomes {
    builder: OutcomeBuilder,
    pushed: u64,
    reported: u64,
}

impl Outcomes {
    /// `rows` more input rows arrived.
    pub fn expect(&mut self, rows: usize) {
        self.pushed += rows as u64;
    }

    pub fn report(&mut self, batch_id: BatchId, row: u32, status: OutcomeStatus, code: &str, message: &str) {
        self.builder.push(batch_id, row, status, code, message);
        self.reported += 1;
    }

    pub fn delivered(&mut self, batch_id: BatchId, row: u32) {
        self.report(batch_id, row, OutcomeStatus::Delivered, "", "");
    }

    /// The outcomes collected since the last call, as an outcome batch.
    pub fn take_batch(&mut self) -> Option<RecordBatch> {
        self.builder.finish()
    }

    /// Whether every row pushed so far has its outcome.
    pub fn all_reported(&self) -> bool {
        self.pushed == self.reported
    }
}

/// The text column `name` of an input batch (the input contract asked the host for `Utf8`).
pub fn text_column(batch: &RecordBatch, name: &str) -> Result<StringArray, PluginError> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| PluginError::fatal(format!("input batch has no column `{name}`")))?;
    column
        .as_string_opt::<i32>()
        .cloned()
        .ok_or_else(|| PluginError::fatal(format!("column `{name}` is {}, not text", column.data_type())))
}

/// The boolean column `name` of an input batch (the input contract asked the host for
/// `Boolean`).
pub fn flag_column(batch: &RecordBatch, name: &str) -> Result<BooleanArray, PluginError> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| PluginError::fatal(format!("input batch has no column `{name}`")))?;
    column
        .as_boolean_opt()
        .cloned()
        .ok_or_else(|| PluginError::config(format!("column `{name}` is {}, not boolean", column.data_type())))
}

/// The outcome status and code of rows whose request the host gave up on: a dry run skips them,
/// anything else fails them (the next run tries again).
pub fn failure_outcome(kind: FailureKind) -> (OutcomeStatus, &'static str) {
    match kind {
        FailureKind::DryRun => (OutcomeStatus::Skipped, codes::DRY_RUN),
        FailureKind::NotSent => (OutcomeStatus::Failed, "NotSent"),
        FailureKind::Uncertain => (OutcomeStatus::Failed, "Uncertain"),
        FailureKind::Exhausted => (OutcomeStatus::Failed, "RetriesExhausted"),
        FailureKind::Cancelled => (OutcomeStatus::Failed, "Cancelled"),
    }
}

/// The host's account of a failure, with the last HTTP status when there was one.
pub fn failure_detail(failure: &Failure<'_>) -> String {
    if failure.status == 0 {
        failure.message.to_owned()
    } else {
        format!("{} (last HTTP status {})", failure.message, failure.status)
    }
}

/// The error that stops the run when Dotdigital answers 401 or 403 to `what` (wrong password,
/// disabled API user, wrong region); `None` for any other status.
pub fn refused(response: &ResponseView<'_>, what: &str) -> Option<PluginError> {
    matches!(response.status, 401 | 403).then(|| {
        PluginError::auth(format!(
            "Dotdigital refused {what} ({}); check the API user, its password and the region",
            ApiError::from_response(response.status, response.body)
        ))
    })
}

/// The outcome status of rows whose write Dotdigital answered with an error: a 400 that is not
/// throttling says the data is bad (rejected); anything else may pass next time (failed).
pub fn error_status(error: &ApiError) -> OutcomeStatus {
    if error.status == 400 && !error.is_throttling() {
        OutcomeStatus::Rejected
    } else {
        OutcomeStatus::Failed
    }
}

#[cfg(test)]
mod tests {
    use dotsync_plugin_sdk::read_outcomes;

    use super::*;

    #[test]
    fn ids_are_never_zero_and_taken_once() {
        let mut requests = Requests::default();
        let id = requests.issue("read");
        assert_eq!(id, 1);
        assert_eq!(requests.take(id), Some("read"));
        assert_eq!(requests.take(id), None);
        assert!(requests.is_empty());
    }

    #[test]
    fn outcomes_are_counted() {
        let mut outcomes = Outcomes::default();
        outcomes.expect(2);
        outcomes.delivered(1, 0);
        assert!(!outcomes.all_reported());
        outcomes.report(1, 1, OutcomeStatus::Rejected, codes::NULL_KEY, "empty");
        assert!(outcomes.all_reported());
        let rows = read_outcomes(&outcomes.take_batch().unwrap()).unwrap();
        assert_eq!(&*rows[1].code, "NullKey");
        assert!(outcomes.take_batch().is_none());
    }

    #[test]
    fn refusals_and_error_statuses() {
        let view = ResponseView {
            status: 401,
            headers: &[],
            body: br#"{"message":"Authorization has been denied for this request."}"#,
        };
        let error = refused(&view, "the program lookup").unwrap();
        assert!(
            error
                .message
                .starts_with("Dotdigital refused the program lookup (HTTP 401")
        );
        let throttled = ApiError::from_response(400, br#"{"message":"ERROR_APIUSAGE_EXCEEDED"}"#);
        assert_eq!(error_status(&throttled), OutcomeStatus::Failed);
        let bad = ApiError::from_response(400, br#"{"message":"ERROR_CONTACT_INVALID"}"#);
        assert_eq!(error_status(&bad), OutcomeStatus::Rejected);
        assert_eq!(failure_outcome(FailureKind::DryRun), (OutcomeStatus::Skipped, "DryRun"));
    }
}
