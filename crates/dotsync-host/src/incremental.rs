//! Incremental sync: what the driver asks the state store for one sync.
//!
//! * **Diffing.** Each batch, after casting, is hashed ([`RowHasher`] over the mapped columns,
//!   keyed by the plugin's key columns) and classified against the stored hashes in one SQLite
//!   pass: new and changed rows go to the plugin; unchanged rows are settled by the host as
//!   `skipped`, rows rejected before with the same content as `rejected` (code
//!   [`UNCHANGED_REJECTED_CODE`]); nothing is held per table in memory (the state store's own
//!   bounded snapshot aside).
//! * **Commit.** As rows settle, delivered rows store their hash, rejected rows theirs (not
//!   resent until they change), failed and uncertain rows store nothing (sent again next run).
//!   One transaction per outcome batch, so a kill keeps what was recorded before it.
//! * **Departed keys**, for plugins that ask ([`DEPARTED_KEYS_METADATA`]): keys delivered in an
//!   earlier run and not seen in this one, paged out of SQLite after the source is exhausted.
//! * **Journal.** A write that is not idempotent is journaled per row (send key = the row's key
//!   text) durably before it leaves; marked sent or failed after. A row whose earlier send is
//!   still in doubt (intended, or sent without a recorded outcome) is never sent again: it is
//!   settled as `uncertain` with code [`UNRESOLVED_SEND_CODE`].
//!
//! * **Send once per key**, for plugins that ask ([`SEND_ONCE_METADATA`], e.g. messages): a key
//!   settled in any earlier run is never handed over again, whatever else in its row changed
//!   (code [`ALREADY_SENT_CODE`]; still `rejected` when it was rejected); neither `--full` nor a
//!   changed sync definition resends (only the key columns are hashed, and the fingerprint is
//!   their names).
//!
//! Syncs whose plugin declares no key columns are not incremental: every row is sent each run.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::{Field, Schema, SchemaRef};
use dotsync_plugin_sdk::{
    BatchKind, DEPARTED_KEYS_DELETE, DEPARTED_KEYS_METADATA, FailureKind, KEY_COLUMNS_METADATA, OutcomeStatus,
    RequestId, RequestSpec, SEND_ONCE_METADATA, SEND_ONCE_PER_KEY,
};
use dotsync_state::{
    Fingerprint, JournalEntry, JournalState, KEY_SEPARATOR, KeyedRow, RowChange, RowHasher, StateError, StateStore,
    SyncState,
};

use crate::outcomes::SettledRow;

/// Code of rows skipped because they are unchanged since they were last delivered.
pub const UNCHANGED_CODE: &str = "Unchanged";
/// Code of rows not resent because they were rejected before with the same content.
pub const UNCHANGED_REJECTED_CODE: &str = "UnchangedSinceRejected";
/// Code of rows not sent because an earlier send of the same key may have reached the
/// destination (a run died between sending and recording the outcome).
pub const UNRESOLVED_SEND_CODE: &str = "UnresolvedSend";
/// Code of rows of a send-once sync whose key was delivered in an earlier run.
pub const ALREADY_SENT_CODE: &str = "AlreadySent";
/// Code of a row whose send was in doubt until a person confirmed it went out
/// (`dotsync resolve --sent`); it is recorded as sent and skipped.
pub const CONFIRMED_SENT_CODE: &str = "ConfirmedSent";

/// The state of one sync during a run, and the decisions made with it.
pub struct Incremental<'s> {
    state: SyncState<'s>,
    hasher: RowHasher,
    /// Send once per key: the positions of the key columns, the only ones hashed.
    send_once_keys: Option<Vec<usize>>,
    /// Key columns with their types in the pushed batches (for departed-key batches).
    key_fields: Vec<Field>,
    wants_departed: bool,
    departed_done: bool,
    /// Whether the journal of this sync holds anything: per-row lookups only then.
    journal_in_use: bool,
    /// Journal entries written for requests in flight, by request.
    open_sends: HashMap<RequestId, Vec<i64>>,
    /// Send keys journaled in this run (resolved when their row's outcome is committed).
    journaled: HashSet<String>,
    drift: Option<String>,
    unresolved_sends: u64,
}

/// What to do with the rows of one batch.
pub struct BatchPlan {
    /// Rows (of the pushed batch) to hand to the plugin, ascending.
    pub send: Vec<u32>,
    /// Per row in `send`, its key (`None` when its key is null: the plugin reports it).
    pub keys: Vec<Option<KeyedRow>>,
    /// Rows settled by the host: (row of the pushed batch, status, code, message).
    pub settled: Vec<(u32, OutcomeStatus, String, String)>,
    /// Per row in `settled`, its key text (settled rows always have a key).
    pub settled_keys: Vec<String>,
}

/// What to do with a request that is not idempotent.
pub enum SendDecision {
    Send,
    /// Do not send; tell the plugin it was not sent, with this message.
    Refuse(String),
}

/// The key columns an input contract declares (empty when it declares none).
pub fn key_columns(contract: &Schema) -> Vec<String> {
    contract
        .metadata()
        .get(KEY_COLUMNS_METADATA)
        .map(|keys| {
            keys.split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether an input contract asks for departed keys.
pub fn wants_departed(contract: &Schema) -> bool {
    contract
        .metadata()
        .get(DEPARTED_KEYS_METADATA)
        .is_some_and(|value| value.trim() == DEPARTED_KEYS_DELETE)
}

/// Whether an input contract asks that each key be sent at most once ([`SEND_ONCE_METADATA`]).
pub fn sends_once_per_key(contract: &Schema) -> bool {
    contract
        .metadata()
        .get(SEND_ONCE_METADATA)
        .is_some_and(|value| value.trim() == SEND_ONCE_PER_KEY)
}

/// The fingerprint of a sync: plugin, config (without secret fields), mapped columns and types.
/// A change of it between runs is drift: every row counts as changed, and the report says why.
pub fn fingerprint(plugin: &str, config_schema_json: &str, config: &serde_json::Value, mapped: &Schema) -> String {
    let secret_fields = secret_fields(config_schema_json);
    let config = match config {
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.iter()
                .filter(|(name, _)| !secret_fields.contains(name.as_str()))
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect(),
        ),
        other => other.clone(),
    };
    Fingerprint::new(plugin).config(&config).schema(mapped).text()
}

/// Top-level config fields the plugin's schema marks `writeOnly` (secrets): kept out of the
/// fingerprint, so a changed password neither resends everything nor lands in the state file.
fn secret_fields(config_schema_json: &str) -> HashSet<String> {
    let Ok(schema) = serde_json::from_str::<serde_json::Value>(config_schema_json) else {
        return HashSet::new();
    };
    schema
        .get("properties")
        .and_then(serde_json::Value::as_object)
        .map(|properties| {
            properties
                .iter()
                .filter(|(_, property)| property.get("writeOnly") == Some(&serde_json::Value::Bool(true)))
                .map(|(name, _)| name.clone())
                .collect()
        })
        .unwrap_or_default()
}

impl<'s> Incremental<'s> {
    /// Opens the state of sync `name` whose plugin's input contract is `contract` and whose
    /// batches have the schema `mapped`. `full` makes every stored row count as changed
    /// (`--full`), except in a send-once sync. A `delta_source` (events) names only what
    /// changed, so no key counts as departed for being absent from it.
    pub fn open(
        store: &'s mut StateStore,
        name: &str,
        fingerprint: &str,
        contract: &Schema,
        mapped: &SchemaRef,
        full: bool,
        delta_source: bool,
    ) -> Result<Incremental<'s>, StateError> {
        let key_columns = key_columns(contract);
        let wants_departed = wants_departed(contract) && !delta_source;
        let key_fields: Vec<Field> = key_columns
            .iter()
            .filter_map(|k| mapped.field_with_name(k).ok().cloned())
            .collect();
        let (hasher, send_once_keys, fingerprint) = if sends_once_per_key(contract) {
            let positions = key_columns
                .iter()
                .map(|k| {
                    mapped.index_of(k).map_err(|_| StateError::UnknownKeyColumn {
                        column: k.clone(),
                        available: mapped.fields().iter().map(|f| f.name().clone()).collect(),
                    })
                })
                .collect::<Result<Vec<usize>, StateError>>()?;
            let key_schema = Schema::new(key_fields.clone());
            // Only what identifies a send defines the sync: config or column changes are no drift.
            let fingerprint = format!("send once per key: {}", key_columns.join(","));
            (RowHasher::new(&key_columns, &key_schema)?, Some(positions), fingerprint)
        } else {
            (RowHasher::new(&key_columns, mapped)?, None, fingerprint.to_owned())
        };
        let mut state = store.sync(name, &fingerprint)?;
        let drift = state.drift().map(str::to_owned);
        if full && send_once_keys.is_some() {
            tracing::warn!(
                sync = name,
                "--full does not apply: this sync sends each key at most once, so keys sent before are not sent again"
            );
        } else if full {
            state.forget_all()?;
        }
        let unresolved = state.journal_unresolved()?;
        for entry in &unresolved {
            tracing::warn!(
                sync = name,
                send = %entry.send_key,
                intended_at = %entry.intended_at,
                "a send journaled before it left was never confirmed (the run stopped): its fate is unknown; it is not sent again"
            );
        }
        let journal_in_use = state.journal_len()? > 0;
        Ok(Incremental {
            state,
            hasher,
            send_once_keys,
            key_fields,
            wants_departed,
            departed_done: !wants_departed,
            journal_in_use,
            open_sends: HashMap::new(),
            journaled: HashSet::new(),
            drift,
            unresolved_sends: unresolved.len() as u64,
        })
    }

    /// Why every row counts as changed this run, when the sync's definition changed.
    pub fn drift(&self) -> Option<&str> {
        self.drift.as_deref()
    }

    /// Sends journaled by earlier runs whose fate is unknown.
    pub fn unresolved_sends(&self) -> u64 {
        self.unresolved_sends
    }

    /// Classifies the rows of a cast batch and decides which go to the plugin.
    pub fn plan_batch(&mut self, batch: &RecordBatch) -> Result<BatchPlan, StateError> {
        let hashed = match &self.send_once_keys {
            Some(positions) => {
                let keys = batch.project(positions).map_err(|error| StateError::SchemaMismatch {
                    expected: format!("key columns at {positions:?}"),
                    found: error.to_string(),
                })?;
                self.hasher.hash_rows(&keys)?
            }
            None => self.hasher.hash_rows(batch)?,
        };
        let keyed: Vec<KeyedRow> = hashed.iter().flatten().cloned().collect();
        let changes = self.state.classify(&keyed)?;
        if self.wants_departed {
            self.state.mark_seen(&keyed)?;
        }
        let mut plan = BatchPlan {
            send: Vec::new(),
            keys: Vec::new(),
            settled: Vec::new(),
            settled_keys: Vec::new(),
        };
        let mut confirmed: Vec<KeyedRow> = Vec::new();
        let mut changes = changes.into_iter();
        for (row, key) in hashed.into_iter().enumerate() {
            let row = row as u32;
            let Some(key) = key else {
                // A null key: the plugin rejects it with its own reason.
                plan.send.push(row);
                plan.keys.push(None);
                continue;
            };
            let change = changes.next().unwrap_or(RowChange::New);
            let settled = match change {
                // A known key was settled before: in a send-once sync that ends it, whatever
                // changed since (even the column types, which change the hash).
                RowChange::Unchanged | RowChange::Changed if self.send_once_keys.is_some() => (
                    OutcomeStatus::Skipped,
                    ALREADY_SENT_CODE,
                    "sent in an earlier run; this sync sends each key at most once".to_owned(),
                ),
                RowChange::Unchanged => (
                    OutcomeStatus::Skipped,
                    UNCHANGED_CODE,
                    "unchanged since it was last delivered".to_owned(),
                ),
                RowChange::UnchangedRejected => (
                    OutcomeStatus::Rejected,
                    UNCHANGED_REJECTED_CODE,
                    "rejected in an earlier run with the same content (see that run's rejects file); \
                     not sent again until the row changes"
                        .to_owned(),
                ),
                RowChange::New | RowChange::Changed => match self.send_in_doubt(&key)? {
                    Some(entry) if entry.state == JournalState::Confirmed => {
                        confirmed.push(key.clone());
                        (
                            OutcomeStatus::Skipped,
                            CONFIRMED_SENT_CODE,
                            "its send was in doubt and was confirmed sent by hand (`dotsync resolve`): \
                             recorded as sent, not sent again"
                                .to_owned(),
                        )
                    }
                    Some(entry) => (OutcomeStatus::Uncertain, UNRESOLVED_SEND_CODE, in_doubt_message(&entry)),
                    None => {
                        plan.send.push(row);
                        plan.keys.push(Some(key));
                        continue;
                    }
                },
            };
            let (status, code, message) = settled;
            plan.settled.push((row, status, code.to_owned(), message));
            plan.settled_keys.push(key.key_text);
        }
        if !confirmed.is_empty() {
            // A person settled these sends: from now on the row state guards them, as if
            // their outcome had been recorded when they went out.
            let sends: Vec<&str> = confirmed.iter().map(|key| key.key_text.as_str()).collect();
            self.state.commit_resolving(&confirmed, &[], &[], &sends)?;
        }
        Ok(plan)
    }

    /// The journal entry that forbids sending `key` again, if any.
    fn send_in_doubt(&mut self, key: &KeyedRow) -> Result<Option<JournalEntry>, StateError> {
        if !self.journal_in_use {
            return Ok(None);
        }
        Ok(self
            .state
            .journal_lookup(&key.key_text)?
            .filter(|entry| entry.state != JournalState::Failed))
    }

    /// Marks keys seen that the host settled before hashing (e.g. rows with a value that cannot
    /// be cast): they are still in the source, so they must not count as departed.
    pub fn mark_seen(&mut self, rows: &[KeyedRow]) -> Result<(), StateError> {
        if self.wants_departed {
            self.state.mark_seen(rows)?;
        }
        Ok(())
    }

    /// The hasher, to key rows of the source batch that the cast step held back.
    pub fn key_hasher_for(&self, schema: &Schema) -> Option<RowHasher> {
        if !self.wants_departed {
            return None;
        }
        let keys: Vec<String> = self.key_fields.iter().map(|f| f.name().clone()).collect();
        RowHasher::new(&keys, schema).ok()
    }

    /// The next page of departed keys as a batch of the key columns, or `None` when done (or
    /// when the plugin did not ask). Call only after every source row was planned.
    pub fn next_departed(&mut self, limit: usize) -> Result<Option<(RecordBatch, Vec<KeyedRow>)>, StateError> {
        if self.departed_done {
            return Ok(None);
        }
        let keys = self.state.departed(limit.max(1))?;
        if keys.is_empty() {
            self.departed_done = true;
            return Ok(None);
        }
        let parts: Vec<Vec<&str>> = keys.iter().map(|k| k.key_text.split(KEY_SEPARATOR).collect()).collect();
        let mut fields = Vec::with_capacity(self.key_fields.len());
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.key_fields.len());
        for (i, field) in self.key_fields.iter().enumerate() {
            let text: ArrayRef = Arc::new(StringArray::from(
                parts.iter().map(|p| p.get(i).copied()).collect::<Vec<Option<&str>>>(),
            ));
            // Back to the column's type where the text converts; as text otherwise.
            match arrow_cast::cast(&text, field.data_type()) {
                Ok(typed) => {
                    fields.push(field.clone().with_nullable(true));
                    columns.push(typed);
                }
                Err(_) => {
                    fields.push(Field::new(field.name(), arrow_schema::DataType::Utf8, true));
                    columns.push(text);
                }
            }
        }
        let batch =
            RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|error| StateError::Format {
                column: self.key_fields.first().map(|f| f.name().clone()).unwrap_or_default(),
                data_type: "key".to_owned(),
                message: error.to_string(),
            })?;
        let rows = keys
            .into_iter()
            .map(|k| KeyedRow {
                key_hash: k.key_hash,
                key_text: k.key_text,
                row_hash: 0,
            })
            .collect();
        Ok(Some((batch, rows)))
    }

    /// Journals the rows of a non-idempotent write before it is sent. `rows` are their keys as
    /// the plugin named them (`None`: the plugin does not say, the request is journaled whole).
    pub fn before_send(
        &mut self,
        spec: &RequestSpec,
        rows: Option<Vec<KeyedRow>>,
        run_tag: &str,
    ) -> Result<SendDecision, StateError> {
        let digest = format!("{:016x}", request_digest(spec));
        let send_keys: Vec<String> = match rows {
            Some(rows) => rows.into_iter().map(|r| r.key_text).collect(),
            None => {
                tracing::warn!(
                    "request {} is not idempotent and its plugin does not say which rows it carries: \
                     it is journaled as a whole, and its rows cannot be protected from a second send after a crash",
                    spec.id
                );
                vec![format!("request {run_tag}/{}", spec.id)]
            }
        };
        let sends: Vec<(&str, &str)> = send_keys.iter().map(|k| (k.as_str(), digest.as_str())).collect();
        let entries = self.state.journal_intend_many(&sends)?;
        let newly: Vec<i64> = entries.iter().filter(|e| e.newly_intended).map(|e| e.id).collect();
        if let Some(conflict) = entries
            .iter()
            .find(|e| !e.newly_intended && e.state != JournalState::Failed)
        {
            // Sent or in doubt already (a key twice in one run, or from an earlier run):
            // release what this call intended, and do not send.
            self.state.journal_mark_many(
                &newly,
                JournalState::Failed,
                "not sent: a row of the request was sent already",
            )?;
            return Ok(SendDecision::Refuse(format!(
                "not sent: the row with key `{}` was already sent (or may have been) and must not be sent twice",
                conflict.send_key.replace(KEY_SEPARATOR, ",")
            )));
        }
        let mut ids = newly;
        for entry in entries.iter().filter(|e| !e.newly_intended) {
            // Provably not sent before: armed again for this send.
            ids.push(self.state.journal_rearm(entry.id, &digest)?.id);
        }
        self.journaled.extend(send_keys);
        self.journal_in_use = true;
        self.open_sends.insert(spec.id, ids);
        Ok(SendDecision::Send)
    }

    /// Records the fate of a journaled request: answered → sent; provably not sent → failed;
    /// anything else stays in doubt (reported by the next run, never resent).
    pub fn after_send(
        &mut self,
        id: RequestId,
        answered: Option<u16>,
        failure: Option<(FailureKind, u16)>,
    ) -> Result<(), StateError> {
        let Some(ids) = self.open_sends.remove(&id) else {
            return Ok(());
        };
        match (answered, failure) {
            (Some(status), _) => self
                .state
                .journal_mark_many(&ids, JournalState::Sent, &format!("HTTP {status}")),
            (None, Some((FailureKind::NotSent | FailureKind::Cancelled | FailureKind::DryRun, _)))
            | (None, Some((FailureKind::Exhausted, 429))) => {
                self.state
                    .journal_mark_many(&ids, JournalState::Failed, "provably not sent")
            }
            _ => {
                tracing::warn!(
                    "request {id} is not idempotent and its fate is unknown: it stays journaled as in doubt"
                );
                Ok(())
            }
        }
    }

    /// Records settled rows: delivered and rejected rows store their hash; departed keys whose
    /// delete was delivered (or that the plugin had nothing to do for) are forgotten; journal
    /// entries of rows with a recorded outcome are resolved. One transaction.
    pub fn commit(&mut self, settled: &[SettledRow]) -> Result<(), StateError> {
        if settled.is_empty() {
            return Ok(());
        }
        let mut delivered = Vec::new();
        let mut rejected = Vec::new();
        let mut removed = Vec::new();
        let mut resolved: Vec<&str> = Vec::new();
        for row in settled {
            match (row.kind, row.status) {
                (BatchKind::Upsert, OutcomeStatus::Delivered) => delivered.push(row.key.clone()),
                (BatchKind::Upsert, OutcomeStatus::Rejected) => rejected.push(row.key.clone()),
                (BatchKind::Delete, OutcomeStatus::Delivered | OutcomeStatus::Skipped) => {
                    removed.push(row.key.key_hash)
                }
                _ => continue,
            }
            if row.kind == BatchKind::Upsert && self.journaled.contains(&row.key.key_text) {
                resolved.push(&row.key.key_text);
            }
        }
        self.state.commit_resolving(&delivered, &rejected, &removed, &resolved)
    }
}

/// A digest of a request, stored with its journal entries (to tell requests apart when reading
/// the journal; never used to decide anything).
fn request_digest(spec: &RequestSpec) -> u64 {
    let head = xxhash_rust::xxh3::xxh3_64(format!("{} {}", spec.method, spec.path).as_bytes());
    xxhash_rust::xxh3::xxh3_64_with_seed(&spec.body, head)
}

fn in_doubt_message(entry: &JournalEntry) -> String {
    let run = entry.run.map(|r| format!(" by run {}", r.0)).unwrap_or_default();
    match entry.state {
        JournalState::Sent => format!(
            "sent{run} at {} but its outcome was never recorded (the run stopped): not sent again",
            entry.intended_at.to_rfc3339()
        ),
        _ => format!(
            "a send{run} at {} may or may not have reached the destination (the run stopped before its answer): \
             not sent again; check the destination",
            entry.intended_at.to_rfc3339()
        ),
    }
}
