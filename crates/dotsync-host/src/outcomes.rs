//! Per-row outcome bookkeeping: which pushed rows still lack an outcome, counts per status, and
//! the rejects file (every rejected, failed or uncertain row, with the source row as JSON).
//!
//! Each pushed batch is kept (an `Arc`, cheap) until all its rows have an outcome, then dropped.
//! For incremental syncs each pushed row also carries its key and row hash ([`KeyedRow`]); the
//! rows that get an outcome are handed back through [`OutcomeTracker::take_settled`], so the
//! driver can record them in the state store as soon as they settle.
//!
//! For a PostgreSQL source with `write_back`, every outcome also goes to an [`OutcomeSpool`]: an
//! unnamed temporary file that the driver streams into the write-back table at the end of the
//! sync, so memory stays flat however many rows the sync has.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use arrow_array::{RecordBatch, UInt32Array};
use dotsync_plugin_sdk::{BatchId, BatchKind, OutcomeStatus, RowOutcome};
use dotsync_source_postgres::OutcomeRecord;
use dotsync_state::KeyedRow;

use crate::report::SyncReport;

/// Code of rows a plugin never reported on (a plugin bug).
pub const NO_OUTCOME_CODE: &str = "NoOutcome";
/// Code of rows failed because the plugin panicked or broke its contract.
pub const PLUGIN_FAILED_CODE: &str = "PluginFailed";
/// Code of rows the host rejected because a value could not be cast to the plugin's type.
pub const CAST_FAILED_CODE: &str = "CastFailed";

/// A row that got its outcome, with its key, for the state store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettledRow {
    pub key: KeyedRow,
    pub kind: BatchKind,
    pub status: OutcomeStatus,
}

/// What the host knows about the rows of a pushed batch besides the rows themselves.
#[derive(Debug, Clone)]
pub struct PushedKeys {
    pub kind: BatchKind,
    /// Per pushed row, its key (`None` for a row without one, e.g. a null key).
    pub keys: Vec<Option<KeyedRow>>,
}

/// A batch whose rows are not all settled.
struct Pending {
    /// 0-based position in the source of the batch's first source row; `None` for rows that
    /// are not source rows (departed keys).
    first_row: Option<u64>,
    /// The source rows (before casting), for the rejects file.
    source: RecordBatch,
    /// For each pushed row, its row in `source`; `None` when they are the same.
    row_map: Option<Vec<u32>>,
    /// Pushed rows that have an outcome.
    done: Vec<bool>,
    remaining: usize,
    keys: Option<PushedKeys>,
}

/// Why an outcome cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutcomeProblem {
    #[error("outcome for row {row} of batch {batch_id}, which was never pushed")]
    Unknown { batch_id: BatchId, row: u32 },
    #[error("a second outcome for row {row} of batch {batch_id} (every row gets exactly one)")]
    Duplicate { batch_id: BatchId, row: u32 },
}

/// Bookkeeping for one sync's outcomes.
pub struct OutcomeTracker {
    pending: BTreeMap<BatchId, Pending>,
    /// Batch ids below this were pushed.
    next_batch: BatchId,
    counts: [u64; 5],
    rejects: RejectsFile,
    /// Keyed rows settled since the last [`OutcomeTracker::take_settled`].
    settled: Vec<SettledRow>,
    /// Every outcome, for the write-back, when the source has one.
    spool: Option<OutcomeSpool>,
}

impl OutcomeTracker {
    /// `rejects_path` is created when the first bad row arrives.
    pub fn new(rejects_path: PathBuf) -> Self {
        OutcomeTracker {
            pending: BTreeMap::new(),
            next_batch: 1,
            counts: [0; 5],
            rejects: RejectsFile::new(rejects_path),
            settled: Vec::new(),
            spool: None,
        }
    }

    /// From now on, every outcome also goes to `spool`.
    pub fn spool_outcomes(&mut self, spool: OutcomeSpool) {
        self.spool = Some(spool);
    }

    /// The spool given to [`OutcomeTracker::spool_outcomes`], with every outcome since.
    pub fn take_spool(&mut self) -> Option<OutcomeSpool> {
        self.spool.take()
    }

    /// The id the next batch gets.
    pub fn next_batch_id(&self) -> BatchId {
        self.next_batch
    }

    /// Records a pushed batch of `pushed_rows` rows. `row_map` maps pushed rows to rows of
    /// `source` when some source rows were not pushed. `first_row` is `None` for rows that are
    /// not source rows (departed keys). `keys`, aligned with the pushed rows, come back through
    /// [`OutcomeTracker::take_settled`] as the rows settle.
    pub fn pushed(
        &mut self,
        first_row: Option<u64>,
        source: RecordBatch,
        pushed_rows: usize,
        row_map: Option<Vec<u32>>,
        keys: Option<PushedKeys>,
    ) -> BatchId {
        let id = self.next_batch;
        self.next_batch += 1;
        if pushed_rows > 0 {
            self.pending.insert(
                id,
                Pending {
                    first_row,
                    source,
                    row_map,
                    done: vec![false; pushed_rows],
                    remaining: pushed_rows,
                    keys,
                },
            );
        }
        id
    }

    /// Rows the host itself settled before pushing (e.g. values that cannot be cast): `rows` are
    /// rows of `source`, whose first row is source row `first_row` (0-based). `keys`, aligned
    /// with `rows` when given, name them in the outcome spool (else their row numbers do).
    pub fn host_outcomes(
        &mut self,
        first_row: u64,
        source: &RecordBatch,
        rows: &[(u32, OutcomeStatus, String, String)],
        keys: Option<&[String]>,
    ) -> std::io::Result<()> {
        let mut bad = Vec::new();
        let at = spool_time(&self.spool);
        for (index, (row, status, code, message)) in rows.iter().enumerate() {
            self.counts[*status as usize] += 1;
            if let Some(spool) = &mut self.spool {
                let key = match keys.and_then(|keys| keys.get(index)) {
                    Some(key) => key.clone(),
                    None => (first_row + u64::from(*row) + 1).to_string(),
                };
                spool.add(&key, *status, code, message, at);
            }
            if is_bad(*status) {
                bad.push((*row, *status, code.as_str(), message.as_str()));
            }
        }
        self.rejects.write(Some(first_row), source, &bad)
    }

    /// Settles rows. Returns how many rows got their outcome, or the first problem (the caller
    /// treats it as a contract breach; valid outcomes before it are kept).
    pub fn record(&mut self, outcomes: &[RowOutcome]) -> Result<u64, (u64, OutcomeProblem)> {
        let mut settled = 0u64;
        let mut problem = None;
        // Bad rows grouped by batch, to write them with one JSON encoding per batch.
        let mut bad: BTreeMap<BatchId, Vec<(u32, OutcomeStatus, &str, &str)>> = BTreeMap::new();
        let at = spool_time(&self.spool);
        for outcome in outcomes {
            let Some(pending) = self.pending.get_mut(&outcome.batch_id) else {
                let error = if outcome.batch_id > 0 && outcome.batch_id < self.next_batch {
                    OutcomeProblem::Duplicate {
                        batch_id: outcome.batch_id,
                        row: outcome.row,
                    }
                } else {
                    OutcomeProblem::Unknown {
                        batch_id: outcome.batch_id,
                        row: outcome.row,
                    }
                };
                problem = Some(error);
                break;
            };
            let index = outcome.row as usize;
            match pending.done.get_mut(index) {
                None => {
                    problem = Some(OutcomeProblem::Unknown {
                        batch_id: outcome.batch_id,
                        row: outcome.row,
                    });
                    break;
                }
                Some(true) => {
                    problem = Some(OutcomeProblem::Duplicate {
                        batch_id: outcome.batch_id,
                        row: outcome.row,
                    });
                    break;
                }
                Some(done) => {
                    *done = true;
                    pending.remaining -= 1;
                }
            }
            settled += 1;
            self.counts[outcome.status as usize] += 1;
            let key = pending
                .keys
                .as_ref()
                .and_then(|keys| keys.keys.get(index))
                .and_then(Option::as_ref);
            if let (Some(keys), Some(key)) = (&pending.keys, key) {
                self.settled.push(SettledRow {
                    key: key.clone(),
                    kind: keys.kind,
                    status: outcome.status,
                });
            }
            let source_row = match &pending.row_map {
                Some(map) => map.get(index).copied().unwrap_or(outcome.row),
                None => outcome.row,
            };
            if let Some(spool) = &mut self.spool {
                // The key names the row when the sync has one; else its 1-based row number.
                let name = match (key, pending.first_row) {
                    (Some(key), _) => key.key_text.clone(),
                    (None, Some(first)) => (first + u64::from(source_row) + 1).to_string(),
                    (None, None) => String::new(),
                };
                spool.add(&name, outcome.status, &outcome.code, &outcome.message, at);
            }
            if is_bad(outcome.status) {
                bad.entry(outcome.batch_id).or_default().push((
                    source_row,
                    outcome.status,
                    &outcome.code,
                    &outcome.message,
                ));
            }
        }
        for (batch_id, rows) in bad {
            if let Some(pending) = self.pending.get(&batch_id)
                && let Err(error) = self.rejects.write(pending.first_row, &pending.source, &rows)
            {
                tracing::error!("cannot write the rejects file {}: {error}", self.rejects.path.display());
            }
        }
        self.pending.retain(|_, pending| pending.remaining > 0);
        match problem {
            Some(problem) => Err((settled, problem)),
            None => Ok(settled),
        }
    }

    /// The keyed rows that got their outcome since the last call, in the order they settled.
    pub fn take_settled(&mut self) -> Vec<SettledRow> {
        std::mem::take(&mut self.settled)
    }

    /// The key of pushed row `row` of batch `batch_id`, while the row has no outcome.
    pub fn key_of(&self, batch_id: BatchId, row: u32) -> Option<&KeyedRow> {
        let pending = self.pending.get(&batch_id)?;
        pending.keys.as_ref()?.keys.get(row as usize)?.as_ref()
    }

    /// Pushed rows still without an outcome.
    pub fn unsettled(&self) -> u64 {
        self.pending.values().map(|p| p.remaining as u64).sum()
    }

    /// Gives every row still without an outcome `status` with `code` and `message`. Returns how
    /// many.
    pub fn settle_rest(&mut self, status: OutcomeStatus, code: &str, message: &str) -> u64 {
        let mut outcomes = Vec::new();
        for (batch_id, pending) in &self.pending {
            for (row, done) in pending.done.iter().enumerate() {
                if !done {
                    outcomes.push(RowOutcome::new(*batch_id, row as u32, status, code, message));
                }
            }
        }
        match self.record(&outcomes) {
            Ok(count) => count,
            Err((count, _)) => count,
        }
    }

    /// Fills the counts and the rejects file into `report`; flushes the file.
    pub fn finish_into(&mut self, report: &mut SyncReport) -> std::io::Result<()> {
        report.delivered = self.counts[OutcomeStatus::Delivered as usize];
        report.rejected = self.counts[OutcomeStatus::Rejected as usize];
        report.failed = self.counts[OutcomeStatus::Failed as usize];
        report.skipped = self.counts[OutcomeStatus::Skipped as usize];
        report.uncertain = self.counts[OutcomeStatus::Uncertain as usize];
        report.rejects_file = self.rejects.finish()?;
        Ok(())
    }
}

/// The time outcomes recorded now are stamped with (microseconds since the epoch, UTC); read
/// only when there is a spool.
fn spool_time(spool: &Option<OutcomeSpool>) -> i64 {
    spool.as_ref().map_or(0, |_| chrono::Utc::now().timestamp_micros())
}

/// A spooled outcome: key, status, code, message, time (microseconds since the epoch, UTC).
type SpooledOutcome = (String, String, String, String, i64);

/// Every outcome of a sync, one JSON array a line, in an unnamed temporary file (the OS removes
/// it when it is closed, also when the process is killed), for the write-back at the end.
pub struct OutcomeSpool {
    writer: BufWriter<File>,
    rows: u64,
    /// The first write that failed: the write-back then fails with it instead of writing an
    /// incomplete set.
    error: Option<std::io::Error>,
}

impl OutcomeSpool {
    /// A spool in `dir` (created if missing).
    pub fn new_in(dir: &Path) -> std::io::Result<OutcomeSpool> {
        std::fs::create_dir_all(dir)?;
        Ok(OutcomeSpool {
            writer: BufWriter::new(tempfile::tempfile_in(dir)?),
            rows: 0,
            error: None,
        })
    }

    fn add(&mut self, key: &str, status: OutcomeStatus, code: &str, message: &str, at_micros: i64) {
        if self.error.is_some() {
            return;
        }
        let line = (key, status.as_str(), code, message, at_micros);
        let written = serde_json::to_writer(&mut self.writer, &line)
            .map_err(std::io::Error::from)
            .and_then(|()| self.writer.write_all(b"\n"));
        match written {
            Ok(()) => self.rows += 1,
            Err(error) => self.error = Some(error),
        }
    }

    /// Outcomes spooled so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The spooled outcomes from the start, as write-back records of run `run_id`, read as they
    /// are consumed. Fails with the first error met while spooling.
    pub fn into_records(
        self,
        run_id: String,
    ) -> std::io::Result<impl Iterator<Item = Result<OutcomeRecord, serde_json::Error>>> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let mut file = self.writer.into_inner().map_err(|error| error.into_error())?;
        file.seek(SeekFrom::Start(0))?;
        let lines = serde_json::Deserializer::from_reader(BufReader::new(file)).into_iter::<SpooledOutcome>();
        Ok(lines.map(move |line| {
            line.map(|(key, status, code, message, at_micros)| OutcomeRecord {
                key,
                status,
                code,
                message,
                run_id: run_id.clone(),
                at: chrono::DateTime::from_timestamp_micros(at_micros).unwrap_or_default(),
            })
        }))
    }
}

fn is_bad(status: OutcomeStatus) -> bool {
    matches!(
        status,
        OutcomeStatus::Rejected | OutcomeStatus::Failed | OutcomeStatus::Uncertain
    )
}

/// The rejects CSV: `row,status,code,message,record`, created on the first row.
struct RejectsFile {
    path: PathBuf,
    writer: Option<BufWriter<File>>,
    rows: u64,
}

impl RejectsFile {
    fn new(path: PathBuf) -> Self {
        RejectsFile {
            path,
            writer: None,
            rows: 0,
        }
    }

    fn writer(&mut self) -> std::io::Result<&mut BufWriter<File>> {
        if self.writer.is_none() {
            if let Some(parent) = self.path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            self.path = unused_path(&self.path);
            let file = File::options().write(true).create_new(true).open(&self.path)?;
            let mut writer = BufWriter::new(file);
            writer.write_all(b"row,status,code,message,record\n")?;
            self.writer = Some(writer);
        }
        match self.writer.as_mut() {
            Some(writer) => Ok(writer),
            None => Err(std::io::Error::other("rejects file not open")),
        }
    }

    /// Writes rows of `source` (indices into it) whose first row is source row `first_row`
    /// (`None`: not source rows, e.g. departed keys; their row number is left empty).
    fn write(
        &mut self,
        first_row: Option<u64>,
        source: &RecordBatch,
        rows: &[(u32, OutcomeStatus, &str, &str)],
    ) -> std::io::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let records = rows_as_json(source, rows.iter().map(|r| r.0));
        let writer = self.writer()?;
        for ((row, status, code, message), record) in rows.iter().zip(records) {
            let line = [
                first_row.map_or_else(String::new, |first| (first + u64::from(*row) + 1).to_string()),
                status.as_str().to_owned(),
                csv_field(code),
                csv_field(message),
                csv_field(&record),
            ]
            .join(",");
            writer.write_all(line.as_bytes())?;
            writer.write_all(b"\n")?;
        }
        self.rows += rows.len() as u64;
        Ok(())
    }

    fn finish(&mut self) -> std::io::Result<Option<PathBuf>> {
        match self.writer.as_mut() {
            Some(writer) => {
                writer.flush()?;
                Ok(Some(self.path.clone()))
            }
            None => Ok(None),
        }
    }
}

/// `path`, or `path` with `-2`, `-3`, ... before the extension when it exists.
fn unused_path(path: &Path) -> PathBuf {
    if !path.exists() {
        return path.to_owned();
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let extension = path.extension().map(|e| e.to_string_lossy().into_owned());
    for n in 2.. {
        let name = match &extension {
            Some(extension) => format!("{stem}-{n}.{extension}"),
            None => format!("{stem}-{n}"),
        };
        let candidate = path.with_file_name(name);
        if !candidate.exists() {
            return candidate;
        }
    }
    path.to_owned()
}

/// One JSON object per row (nulls written as `null`).
fn rows_as_json(source: &RecordBatch, rows: impl Iterator<Item = u32>) -> Vec<String> {
    let indices: Vec<u32> = rows.collect();
    let fallback = |count: usize, why: &str| vec![format!("{{\"error\":{}}}", serde_json::Value::from(why)); count];
    let take = UInt32Array::from(indices.clone());
    let selected = match arrow_select::take::take_record_batch(source, &take) {
        Ok(selected) => selected,
        Err(error) => return fallback(indices.len(), &format!("row not available: {error}")),
    };
    let mut buffer = Vec::new();
    {
        let mut writer = arrow_json::WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, arrow_json::writer::LineDelimited>(&mut buffer);
        if let Err(error) = writer.write(&selected).and_then(|()| writer.finish()) {
            return fallback(indices.len(), &format!("row cannot be shown as JSON: {error}"));
        }
    }
    let text = String::from_utf8_lossy(&buffer);
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    if lines.len() == indices.len() {
        lines
    } else {
        fallback(indices.len(), "row cannot be shown as JSON")
    }
}

/// A CSV field, quoted when needed (RFC 4180).
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) || text.starts_with(' ') || text.ends_with(' ') {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};

    use super::*;

    fn batch() -> RecordBatch {
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("email", DataType::Utf8, true),
                Field::new("n", DataType::Int64, true),
            ])),
            vec![
                Arc::new(StringArray::from(vec![Some("a@x.com"), None, Some("c,\"q\"")])),
                Arc::new(Int64Array::from(vec![1, 2, 3])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn duplicates_and_unknown_rows_are_problems() {
        let dir = tempfile::tempdir().unwrap();
        let mut tracker = OutcomeTracker::new(dir.path().join("r.csv"));
        let id = tracker.pushed(Some(0), batch(), 3, None, None);
        assert_eq!(tracker.record(&[RowOutcome::delivered(id, 0)]), Ok(1));
        assert_eq!(
            tracker.record(&[RowOutcome::delivered(id, 0)]),
            Err((0, OutcomeProblem::Duplicate { batch_id: id, row: 0 }))
        );
        assert_eq!(
            tracker.record(&[RowOutcome::delivered(id, 7)]),
            Err((0, OutcomeProblem::Unknown { batch_id: id, row: 7 }))
        );
        assert_eq!(tracker.unsettled(), 2);
        assert_eq!(tracker.settle_rest(OutcomeStatus::Failed, NO_OUTCOME_CODE, "none"), 2);
        assert_eq!(
            tracker.record(&[RowOutcome::delivered(id, 1)]),
            Err((0, OutcomeProblem::Duplicate { batch_id: id, row: 1 }))
        );
    }

    #[test]
    fn the_spool_names_rows_by_key_or_row_number() {
        let dir = tempfile::tempdir().unwrap();
        let mut tracker = OutcomeTracker::new(dir.path().join("r.csv"));
        tracker.spool_outcomes(OutcomeSpool::new_in(&dir.path().join("spool")).unwrap());
        let key = |text: &str| KeyedRow {
            key_hash: 1,
            key_text: text.to_owned(),
            row_hash: 2,
        };
        // Rows 11..13 of the source; the first has a key, the second a null one.
        let keys = PushedKeys {
            kind: BatchKind::Upsert,
            keys: vec![Some(key("a@x.com")), None],
        };
        let id = tracker.pushed(Some(10), batch(), 2, Some(vec![0, 2]), Some(keys));
        tracker
            .host_outcomes(
                10,
                &batch(),
                &[(1, OutcomeStatus::Skipped, "Unchanged".into(), "same".into())],
                Some(&["b@x.com".to_owned()]),
            )
            .unwrap();
        tracker
            .record(&[
                RowOutcome::delivered(id, 0),
                RowOutcome::new(id, 1, OutcomeStatus::Rejected, "InvalidEmail", "not an email"),
            ])
            .unwrap();
        // Without keys: the 1-based row number.
        tracker
            .host_outcomes(
                20,
                &batch(),
                &[(2, OutcomeStatus::Rejected, "CastFailed".into(), "no".into())],
                None,
            )
            .unwrap();
        let spool = tracker.take_spool().unwrap();
        assert_eq!(spool.rows(), 4);
        let records: Vec<OutcomeRecord> = spool
            .into_records("run-7".to_owned())
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let seen: Vec<(&str, &str, &str, &str)> = records
            .iter()
            .map(|r| (r.key.as_str(), r.status.as_str(), r.code.as_str(), r.run_id.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                ("b@x.com", "skipped", "Unchanged", "run-7"),
                ("a@x.com", "delivered", "", "run-7"),
                ("13", "rejected", "InvalidEmail", "run-7"),
                ("23", "rejected", "CastFailed", "run-7"),
            ]
        );
        assert_eq!(records[2].message, "not an email");
        assert!(
            records.iter().all(|r| r.at.timestamp() > 1_600_000_000),
            "stamped with the time"
        );
        // Nothing is left in the spool folder: the file has no name.
        assert_eq!(std::fs::read_dir(dir.path().join("spool")).unwrap().count(), 0);
    }

    #[test]
    fn rejects_file_lists_bad_rows_with_their_record() {
        let dir = tempfile::tempdir().unwrap();
        let mut tracker = OutcomeTracker::new(dir.path().join("rejects").join("s.csv"));
        tracker.pushed(Some(0), batch(), 3, None, None);
        let id = tracker.pushed(Some(3), batch(), 2, Some(vec![0, 2]), None);
        tracker
            .record(&[
                RowOutcome::new(id, 1, OutcomeStatus::Rejected, "Bad", "bad, \"really\""),
                RowOutcome::new(1, 1, OutcomeStatus::Failed, "X", "gave up"),
                RowOutcome::delivered(1, 0),
            ])
            .unwrap();
        let mut report = SyncReport::default();
        tracker.finish_into(&mut report).unwrap();
        let text = std::fs::read_to_string(report.rejects_file.unwrap()).unwrap();
        assert_eq!(
            text,
            "row,status,code,message,record\n\
             2,failed,X,gave up,\"{\"\"email\"\":null,\"\"n\"\":2}\"\n\
             6,rejected,Bad,\"bad, \"\"really\"\"\",\"{\"\"email\"\":\"\"c,\\\"\"q\\\"\"\"\",\"\"n\"\":3}\"\n"
        );
        assert_eq!((report.delivered, report.rejected, report.failed), (1, 1, 1));
    }
}
