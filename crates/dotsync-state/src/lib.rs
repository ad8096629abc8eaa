//! The state of a dotsync config: what was delivered, so a run sends only what changed.
//!
//! Each config has a **state folder** (by default `.dotsync/` next to the config file; the host
//! decides the path). It holds:
//!
//! * `lock` — held with an exclusive OS file lock by the one process using the state. A second
//!   run on the same state is refused with [`StateError::Locked`] ("another dotsync run holds
//!   the state in DIR (pid N); wait for it to finish"). The OS drops the lock when the process
//!   dies, so kill -9 never leaves a stale lock.
//! * `state.sqlite` (plus SQLite's `-wal`/`-shm` files) — an embedded SQLite database holding,
//!   per sync: the hash of the last delivered (or rejected) version of every key, membership of
//!   lists/programs, the journal of sends that must not repeat, and the run history.
//!
//! It also computes **row fingerprints** of Arrow record batches ([`RowHasher`]): a key hash and
//! text per row, and a row hash over every column's name, type and value.
//!
//! # What this crate does not do
//!
//! * No network, no plugin or Dotdigital knowledge, no reading of sources.
//! * No decisions about what a destination does with a new, changed or departed row, or whether
//!   a mode deletes: the host asks ([`SyncState::classify`], [`SyncState::departed`]) and tells
//!   ([`SyncState::commit`]); this crate only records.
//! * No retries, no reports: the host writes the report and hands its JSON to
//!   [`StateStore::finish_run`].
//!
//! # Usage (what the host does per run)
//!
//! ```no_run
//! # fn main() -> Result<(), dotsync_state::StateError> {
//! use dotsync_state::{Fingerprint, RowChange, RowHasher, StateStore};
//! # let batch: arrow_array::RecordBatch = todo!();
//! let mut store = StateStore::open(std::path::Path::new(".dotsync"))?;
//! let run = store.begin_run(&["contacts"])?;
//! let fp = Fingerprint::new("dotdigital-contacts").schema(&batch.schema()).text();
//! let hasher = RowHasher::new(&["email".to_owned()], &batch.schema())?;
//! let mut sync = store.sync("contacts", &fp)?;
//! if let Some(why) = sync.drift() { println!("{why}"); }
//! // for each batch:
//! let rows = hasher.hash_batch(&batch)?;
//! let changes = sync.classify(&rows)?;
//! sync.mark_seen(&rows)?;                      // only for modes that remove departed keys
//! // ... send the rows whose change needs_send(), collect outcomes ...
//! let delivered: Vec<_> = rows.iter().zip(&changes)
//!     .filter(|(_, c)| c.needs_send()).map(|(r, _)| r.clone()).collect();
//! sync.commit(&delivered, &[], &[])?;          // rejected rows go in the second slice
//! drop(sync);
//! store.finish_run(run, r#"{"delivered":1}"#)?;
//! # Ok(()) }
//! ```
//!
//! # Rules
//!
//! * **Diffing.** [`SyncState::classify`] compares each row's hash with the stored one:
//!   [`RowChange::New`], [`RowChange::Changed`], [`RowChange::Unchanged`] (report as skipped),
//!   [`RowChange::UnchangedRejected`] (rejected before with the same content: not resent until
//!   it changes). For a sync of at most 3,000,000 stored rows the first `classify` of a run
//!   copies the row table into memory (17 bytes a row, sequential read) and looks keys up there;
//!   larger syncs are looked up in SQLite (one B-tree probe a row), so memory stays flat however
//!   large the source ([`StateStore::set_snapshot_limit`]).
//! * **Commit.** Only what the host passes to [`SyncState::commit`] is recorded: delivered rows
//!   (status delivered), rejected rows (status rejected, with their hash), removed keys
//!   (deleted). Failed rows are not passed, so they classify as before (new or changed) and
//!   are sent again next run. One transaction per call: a kill leaves each call's rows fully
//!   recorded or not at all. A commit appends to a log (`row_log`); the log is merged into the
//!   row table in key order — by [`StateStore::finish_run`], before [`SyncState::departed`],
//!   when it holds 3,500,000 keys, or on the next open after a crash — because writing a
//!   batch's random keys straight into the B-tree rewrote most of its pages on every commit
//!   (62 µs a row for a 1,000,000-row first sync, against about 6 µs now). `classify` stays
//!   exact meanwhile: it merges first if asked about a key still in the log.
//! * **Departed keys.** For modes that delete or remove, the host marks every source key seen
//!   ([`SyncState::mark_seen`]: appended to a temporary on-disk table, indexed in one sort when
//!   first queried) and then pages through [`SyncState::departed`]: keys stored as delivered but
//!   not seen. Rejected keys that were never delivered are not departed (the destination never
//!   had them). Only call it after *every* source row was marked seen.
//! * **Drift.** [`StateStore::sync`] takes the sync's fingerprint text ([`Fingerprint`]: plugin,
//!   hashed config fields, mapped columns and types). When it differs from the stored one,
//!   every stored row counts as changed (an `epoch` counter is bumped: O(1), no rewrite) and
//!   [`SyncState::drift`] explains the difference ("column `ltv` changed type from Utf8 to
//!   Float64", "config field `mode` changed"). `--full` does the same via
//!   [`SyncState::forget_all`].
//! * **Journal.** A non-idempotent send (an enrolment, a message) is written as intended with
//!   [`SyncState::journal_intend`] — committed with `synchronous = FULL`, i.e. fsync'd — before
//!   the request, and marked [`JournalState::Sent`] or [`JournalState::Failed`] after. An entry
//!   still `Intended` when the next run starts had its process die mid-send: its fate is
//!   unknown, [`SyncState::journal_unresolved`] lists it for the report, and `journal_intend`
//!   on its key returns it with `newly_intended == false`, so it is never sent twice.
//!
//! # Why SQLite
//!
//! Crash safety (atomic commits, WAL), one file, no server, a mature B-tree with cheap point
//! lookups (about 1 µs with a warm cache), secondary tables and ad-hoc queries for `dotsync
//! status`, and a bundled build (no system library needed). An LSM or a custom file format
//! would be faster at bulk writes but need their own crash and compaction story; the lookup
//! rate SQLite gives already meets the re-sync target.
//!
//! Durability: WAL with `synchronous = NORMAL` for row state — every commit survives the death
//! of the process, and only an OS crash or power loss may lose the last commits (never
//! corrupting the file); losing a row-state commit means resending those rows, which upserts
//! absorb. Journal writes use `synchronous = FULL`, because losing an intent could mean
//! sending twice.
//!
//! Memory, at most: a 64 MiB page cache for the database, 32 MiB for the temporary database of
//! seen keys (which lives in a file), no memory-mapped I/O; the classify snapshot (≤ 51 MiB,
//! only for syncs of ≤ 3,000,000 rows) and the hashes of keys committed but not yet merged
//! (≤ 3,500,000 keys, about 36 MiB; plus at most 1,000,000 for the snapshot's dirty set).
//!
//! # Schema (version 1)
//!
//! Hashes are `u64` stored bit-cast as SQLite `INTEGER` (i64). Times are RFC 3339 text (UTC).
//!
//! ```sql
//! schema_version (version INTEGER)                          -- one row: 1
//! syncs     (sync_id INTEGER PRIMARY KEY, name TEXT UNIQUE, fingerprint TEXT /* xxh3 hex */,
//!            fingerprint_inputs TEXT /* the fingerprint text, to explain drift */,
//!            epoch INTEGER, last_drift TEXT, created_at TEXT, updated_at TEXT)
//! rows_<sync_id>                                           -- one per sync, created with it
//!           (key_hash INTEGER PRIMARY KEY /* the rowid itself */, row_hash, status
//!            /* 0 delivered, 1 rejected, 2 rejected after an older version was delivered */,
//!            epoch, key_text)
//! row_log   (seq INTEGER PRIMARY KEY, sync_id, op /* 0 delivered, 1 rejected, 3 removed */,
//!            key_hash, row_hash, epoch, key_text)         -- commits not merged yet
//! members   (sync_id, set_name, key_hash, key_text,
//!            PRIMARY KEY (sync_id, set_name, key_hash)) WITHOUT ROWID
//! runs      (run_id INTEGER PRIMARY KEY, pid, started_at, finished_at /* NULL: crashed or
//!            running */, syncs /* JSON array */, report_json)
//! journal   (id INTEGER PRIMARY KEY, sync_id, send_key, request_digest,
//!            state /* 0 intended, 1 sent, 2 failed, 3 confirmed */, detail, run_id, intended_at,
//!            resolved_at, UNIQUE (sync_id, send_key))
//! TEMP seen_<sync_id> (key_hash)   -- per connection; index seen_<sync_id>_key built on demand
//! ```
//!
//! Why one rowid table per sync rather than one `WITHOUT ROWID` table keyed by `(sync_id,
//! key_hash)`: with the key hash as the rowid, SQLite compares plain integers while descending
//! the B-tree; the generic record comparison of a composite key dominated the profile.
//!
//! A stored row is "unchanged" when its `row_hash` equals the new one and its `epoch` equals
//! the sync's. A newer database (higher `schema_version`) is refused with
//! [`StateError::SchemaTooNew`] rather than misread.

mod error;
mod fingerprint;
mod hasher;
mod schema;
mod snapshot;
mod store;
mod sync;

pub use error::StateError;
pub use fingerprint::{Fingerprint, explain_drift};
pub use hasher::{KEY_SEPARATOR, RowHasher, stable_type_name};
pub use schema::SCHEMA_VERSION;
pub use store::{DB_FILE, LOCK_FILE, RunId, RunRecord, StateStore};
pub use sync::{JournalEntry, JournalState, KeyedRow, RowChange, StoredKey, SyncState};
