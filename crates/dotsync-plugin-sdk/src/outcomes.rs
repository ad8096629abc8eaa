//! Per-row outcomes: every input row ends in exactly one of them. They travel from planner to host
//! as an Arrow batch with a fixed schema ([`outcome_schema`]), validated on arrival.

use std::sync::{Arc, OnceLock};

use arrow_array::{
    Array, RecordBatch, StringArray, UInt8Array, UInt32Array, UInt64Array,
    builder::{StringBuilder, UInt8Builder, UInt32Builder, UInt64Builder},
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use crate::types::BatchId;

/// How one input row ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum OutcomeStatus {
    /// The destination accepted the row.
    Delivered = 0,
    /// Bad data: the destination (or the planner's validation) refused this row; resending the
    /// same row cannot succeed.
    Rejected = 1,
    /// The host gave up (retries exhausted, destination down): the next run tries again.
    Failed = 2,
    /// Nothing to do (unchanged, or not applicable in this mode).
    Skipped = 3,
    /// A non-idempotent send whose fate is unknown (timeout after sending): reported, never resent.
    Uncertain = 4,
}

impl OutcomeStatus {
    pub const ALL: [OutcomeStatus; 5] = [
        OutcomeStatus::Delivered,
        OutcomeStatus::Rejected,
        OutcomeStatus::Failed,
        OutcomeStatus::Skipped,
        OutcomeStatus::Uncertain,
    ];

    pub fn from_u8(value: u8) -> Option<Self> {
        OutcomeStatus::ALL.get(value as usize).copied()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeStatus::Delivered => "delivered",
            OutcomeStatus::Rejected => "rejected",
            OutcomeStatus::Failed => "failed",
            OutcomeStatus::Skipped => "skipped",
            OutcomeStatus::Uncertain => "uncertain",
        }
    }
}

/// One row's outcome, as planners produce it and the host reads it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowOutcome {
    pub batch_id: BatchId,
    /// Index of the row inside its batch.
    pub row: u32,
    pub status: OutcomeStatus,
    /// Machine-readable reason, e.g. `InvalidEmail` (empty for delivered rows). Shared: the
    /// rows of one request mostly have the same code and message, and a million rows must not
    /// cost two million allocations.
    pub code: Arc<str>,
    /// Human-readable reason.
    pub message: Arc<str>,
}

impl RowOutcome {
    pub fn delivered(batch_id: BatchId, row: u32) -> Self {
        RowOutcome {
            batch_id,
            row,
            status: OutcomeStatus::Delivered,
            code: Arc::from(""),
            message: Arc::from(""),
        }
    }

    pub fn new(
        batch_id: BatchId,
        row: u32,
        status: OutcomeStatus,
        code: impl Into<Arc<str>>,
        message: impl Into<Arc<str>>,
    ) -> Self {
        RowOutcome {
            batch_id,
            row,
            status,
            code: code.into(),
            message: message.into(),
        }
    }
}

/// The schema every outcome batch has: `batch_id u64, row u32, status u8, code utf8?, message utf8?`.
pub fn outcome_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(Schema::new(vec![
                Field::new("batch_id", DataType::UInt64, false),
                Field::new("row", DataType::UInt32, false),
                Field::new("status", DataType::UInt8, false),
                Field::new("code", DataType::Utf8, true),
                Field::new("message", DataType::Utf8, true),
            ]))
        })
        .clone()
}

/// Collects row outcomes and turns them into an outcome batch.
#[derive(Debug, Default)]
pub struct OutcomeBuilder {
    batch_ids: UInt64Builder,
    rows: UInt32Builder,
    statuses: UInt8Builder,
    codes: StringBuilder,
    messages: StringBuilder,
    len: usize,
}

impl OutcomeBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn push(&mut self, batch_id: BatchId, row: u32, status: OutcomeStatus, code: &str, message: &str) {
        self.batch_ids.append_value(batch_id);
        self.rows.append_value(row);
        self.statuses.append_value(status as u8);
        if code.is_empty() {
            self.codes.append_null();
        } else {
            self.codes.append_value(code);
        }
        if message.is_empty() {
            self.messages.append_null();
        } else {
            self.messages.append_value(message);
        }
        self.len += 1;
    }

    pub fn push_outcome(&mut self, outcome: &RowOutcome) {
        self.push(
            outcome.batch_id,
            outcome.row,
            outcome.status,
            &outcome.code,
            &outcome.message,
        );
    }

    /// Every row of `0..rows` of a batch with the same status and reason.
    pub fn push_all(&mut self, batch_id: BatchId, rows: u32, status: OutcomeStatus, code: &str, message: &str) {
        self.push_rows((0..rows).map(|row| (batch_id, row)), status, code, message);
    }

    /// Rows (batch id, row) that share one status and reason, such as every row of one request:
    /// the same as a [`push`](Self::push) each, with the texts' room reserved once (a dry run
    /// reports each of a million rows; pushing them one by one grew the text buffers again and
    /// again).
    pub fn push_rows(
        &mut self,
        rows: impl ExactSizeIterator<Item = (BatchId, u32)>,
        status: OutcomeStatus,
        code: &str,
        message: &str,
    ) {
        let count = rows.len();
        for (batch_id, row) in rows {
            self.batch_ids.append_value(batch_id);
            self.rows.append_value(row);
        }
        self.statuses.append_value_n(status as u8, count);
        append_text_n(&mut self.codes, code, count);
        append_text_n(&mut self.messages, message, count);
        self.len += count;
    }

    /// The collected outcomes as a batch, or `None` when there are none. Resets the builder.
    pub fn finish(&mut self) -> Option<RecordBatch> {
        if self.len == 0 {
            return None;
        }
        self.len = 0;
        let columns: Vec<Arc<dyn Array>> = vec![
            Arc::new(self.batch_ids.finish()),
            Arc::new(self.rows.finish()),
            Arc::new(self.statuses.finish()),
            Arc::new(self.codes.finish()),
            Arc::new(self.messages.finish()),
        ];
        // The columns are built here to match the schema, so this cannot fail.
        RecordBatch::try_new(outcome_schema(), columns).ok()
    }
}

/// Why an outcome batch from a plugin was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OutcomeError {
    #[error("outcome batch has schema {found}, expected {expected}")]
    Schema { found: String, expected: String },
    #[error("outcome batch row {index}: {problem}")]
    Value { index: usize, problem: String },
}

/// Reads an outcome batch, checking its schema and every value. Used by the host on every batch a
/// plugin returns, so a buggy plugin cannot smuggle in nonsense.
pub fn read_outcomes(batch: &RecordBatch) -> Result<Vec<RowOutcome>, OutcomeError> {
    let expected = outcome_schema();
    let schema_fits = batch.schema().fields().len() == expected.fields().len()
        && batch
            .schema()
            .fields()
            .iter()
            .zip(expected.fields())
            .all(|(found, want)| found.name() == want.name() && found.data_type() == want.data_type());
    if !schema_fits {
        return Err(OutcomeError::Schema {
            found: format!("{:?}", batch.schema().fields()),
            expected: format!("{:?}", expected.fields()),
        });
    }
    let column = |i: usize| batch.column(i).as_any();
    let downcast_failed = || OutcomeError::Schema {
        found: format!("{:?}", batch.schema().fields()),
        expected: format!("{:?}", expected.fields()),
    };
    let batch_ids = column(0).downcast_ref::<UInt64Array>().ok_or_else(downcast_failed)?;
    let rows = column(1).downcast_ref::<UInt32Array>().ok_or_else(downcast_failed)?;
    let statuses = column(2).downcast_ref::<UInt8Array>().ok_or_else(downcast_failed)?;
    let codes = column(3).downcast_ref::<StringArray>().ok_or_else(downcast_failed)?;
    let messages = column(4).downcast_ref::<StringArray>().ok_or_else(downcast_failed)?;
    let mut outcomes = Vec::with_capacity(batch.num_rows());
    let mut last_code: Arc<str> = Arc::from("");
    let mut last_message = last_code.clone();
    for index in 0..batch.num_rows() {
        if batch_ids.is_null(index) || rows.is_null(index) || statuses.is_null(index) {
            return Err(OutcomeError::Value {
                index,
                problem: "batch_id, row and status must not be null".into(),
            });
        }
        let status = OutcomeStatus::from_u8(statuses.value(index)).ok_or_else(|| OutcomeError::Value {
            index,
            problem: format!("unknown status {}", statuses.value(index)),
        })?;
        outcomes.push(RowOutcome {
            batch_id: batch_ids.value(index),
            row: rows.value(index),
            status,
            code: shared_text(codes, index, &mut last_code),
            message: shared_text(messages, index, &mut last_message),
        });
    }
    Ok(outcomes)
}

/// Appends `text` `count` times, or `count` nulls when it is empty (as [`OutcomeBuilder::push`]
/// does for one).
fn append_text_n(builder: &mut StringBuilder, text: &str, count: usize) {
    if text.is_empty() {
        builder.append_nulls(count);
    } else {
        builder.append_value_n(text, count);
    }
}

/// The text at `index` (empty when null), sharing `last` when it is the same as the row before's.
fn shared_text(array: &StringArray, index: usize, last: &mut Arc<str>) -> Arc<str> {
    let text = if array.is_null(index) { "" } else { array.value(index) };
    if text != &**last {
        *last = Arc::from(text);
    }
    last.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_round_trip_through_a_batch() {
        let mut builder = OutcomeBuilder::new();
        builder.push(7, 0, OutcomeStatus::Delivered, "", "");
        builder.push(7, 1, OutcomeStatus::Rejected, "InvalidEmail", "not an email");
        let batch = builder.finish().expect("two outcomes");
        assert!(builder.finish().is_none(), "finish resets the builder");
        let outcomes = read_outcomes(&batch).expect("valid");
        assert_eq!(outcomes[0], RowOutcome::delivered(7, 0));
        assert_eq!(
            outcomes[1],
            RowOutcome::new(7, 1, OutcomeStatus::Rejected, "InvalidEmail", "not an email")
        );
    }

    #[test]
    fn rows_pushed_together_read_back_as_rows_pushed_one_by_one() {
        let rows = [(3, 0), (3, 5), (4, 1)];
        for (status, code, message) in [
            (OutcomeStatus::Skipped, "DryRun", "dry run: not sent"),
            (OutcomeStatus::Delivered, "", ""),
        ] {
            let mut one_by_one = OutcomeBuilder::new();
            for (batch_id, row) in rows {
                one_by_one.push(batch_id, row, status, code, message);
            }
            let mut together = OutcomeBuilder::new();
            together.push(1, 9, OutcomeStatus::Rejected, "InvalidEmail", "not an email");
            together.push_rows(rows.into_iter(), status, code, message);
            assert_eq!(together.len(), 4);
            let together = read_outcomes(&together.finish().expect("outcomes")).expect("valid");
            let one_by_one = read_outcomes(&one_by_one.finish().expect("outcomes")).expect("valid");
            assert_eq!(
                together[0],
                RowOutcome::new(1, 9, OutcomeStatus::Rejected, "InvalidEmail", "not an email")
            );
            assert_eq!(together[1..], one_by_one[..]);
        }
    }

    #[test]
    fn a_batch_with_another_schema_is_refused() {
        let schema = Arc::new(Schema::new(vec![Field::new("row", DataType::UInt32, false)]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(UInt32Array::from(vec![1]))]).unwrap();
        assert!(matches!(read_outcomes(&batch), Err(OutcomeError::Schema { .. })));
    }

    #[test]
    fn an_unknown_status_is_refused() {
        let columns: Vec<Arc<dyn Array>> = vec![
            Arc::new(UInt64Array::from(vec![1])),
            Arc::new(UInt32Array::from(vec![0])),
            Arc::new(UInt8Array::from(vec![9])),
            Arc::new(StringArray::from(vec![None::<&str>])),
            Arc::new(StringArray::from(vec![None::<&str>])),
        ];
        let batch = RecordBatch::try_new(outcome_schema(), columns).unwrap();
        assert_eq!(
            read_outcomes(&batch),
            Err(OutcomeError::Value {
                index: 0,
                problem: "unknown status 9".into()
            })
        );
    }
}
