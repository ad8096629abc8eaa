//! [`SyncState`]: row hashes, seen keys, membership and the send journal of one sync.

use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};

use crate::error::{SqlContext, StateError};
use crate::snapshot::{DIRTY_LIMIT, Lookup, Snapshot, SnapshotState};
use crate::store::{Cursor, RunId, StateStore, now_text, parse_time};

/// A row as the state store sees it: its key's hash and text, and the hash of the whole row.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyedRow {
    /// xxh3-64 of the key (see [`crate::RowHasher`]).
    pub key_hash: u64,
    /// The key as text (composite keys joined with U+001F). May be empty for
    /// [`SyncState::classify`] and [`SyncState::mark_seen`]; [`SyncState::commit`] stores it
    /// (an empty text keeps the one stored before).
    pub key_text: String,
    /// xxh3-64 of every mapped column's value, name and type.
    pub row_hash: u64,
}

/// A key as stored: its hash and its text.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StoredKey {
    /// xxh3-64 of the key.
    pub key_hash: u64,
    /// The key as text.
    pub key_text: String,
}

/// What [`SyncState::classify`] says about one row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RowChange {
    /// The key has no stored state: never delivered nor rejected (or its delivery failed).
    New,
    /// The key was delivered or rejected before with another row hash, or the sync's
    /// definition changed since (drift, `--full`).
    Changed,
    /// Delivered before with the same row hash: skip it.
    Unchanged,
    /// Rejected before with the same row hash: skip it (report it as still rejected); it is
    /// sent again once it changes.
    UnchangedRejected,
}

impl RowChange {
    /// Whether the row must be sent (new or changed).
    pub fn needs_send(self) -> bool {
        matches!(self, RowChange::New | RowChange::Changed)
    }
}

/// State of a journal entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JournalState {
    /// Written before the request; not (yet) marked. After a crash this means the fate of the
    /// send is unknown: report it, do not send it again.
    Intended,
    /// The send went through.
    Sent,
    /// The send provably did not happen (refused by the server, or never left the host). May be
    /// re-armed with [`SyncState::journal_rearm`] to try again.
    Failed,
    /// A send in doubt that a person confirmed went out ([`SyncState::journal_resolve`]): the
    /// next run records its row as delivered instead of reporting it in doubt.
    Confirmed,
}

impl JournalState {
    fn code(self) -> i64 {
        match self {
            JournalState::Intended => 0,
            JournalState::Sent => 1,
            JournalState::Failed => 2,
            JournalState::Confirmed => 3,
        }
    }

    fn from_code(code: i64) -> JournalState {
        match code {
            1 => JournalState::Sent,
            2 => JournalState::Failed,
            3 => JournalState::Confirmed,
            _ => JournalState::Intended,
        }
    }

    /// Lower-case name: `intended`, `sent`, `failed`, `confirmed`.
    pub fn as_str(self) -> &'static str {
        match self {
            JournalState::Intended => "intended",
            JournalState::Sent => "sent",
            JournalState::Failed => "failed",
            JournalState::Confirmed => "confirmed",
        }
    }
}

/// One journaled non-idempotent send (an enrolment call, a message).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalEntry {
    /// Database id, for [`SyncState::journal_mark`].
    pub id: i64,
    /// The caller's idempotency key (e.g. program id + contact + audience entry).
    pub send_key: String,
    /// The caller's digest of the request (to notice a different request under the same key).
    pub request_digest: String,
    /// Where the send stands.
    pub state: JournalState,
    /// Free text given to [`SyncState::journal_mark`] (e.g. the enrolment id, an error).
    pub detail: String,
    /// The run that wrote the intent, if one was begun.
    pub run: Option<RunId>,
    /// When the intent was written.
    pub intended_at: chrono::DateTime<chrono::Utc>,
    /// When it was marked sent or failed.
    pub resolved_at: Option<chrono::DateTime<chrono::Utc>>,
    /// True only in the value returned by the [`SyncState::journal_intend`] (or
    /// [`SyncState::journal_rearm`]) call that wrote this intent: the one case in which the
    /// caller may send. False for an entry that existed already and in every other read.
    pub newly_intended: bool,
}

const ST_DELIVERED: i64 = 0;
/// Commit log operations; delivered and rejected equal the row status they store.
pub(crate) const OP_DELIVERED: i64 = 0;
pub(crate) const OP_REJECTED: i64 = 1;
pub(crate) const OP_REMOVED: i64 = 3;
/// Keys committed but not yet merged into the row table, per sync, before a merge is forced.
/// Their hashes are also held in memory (about 36 MiB at this size) so that `classify` stays
/// exact for a key committed earlier in the same run.
const STAGE_LIMIT: usize = 3_500_000;
// Status 2, "rejected, an older version was delivered", is only written by SQL in `commit`.

#[inline]
fn to_sql(h: u64) -> i64 {
    h as i64
}

#[inline]
fn from_sql(h: i64) -> u64 {
    h as u64
}

/// Indices of `rows` sorted by stored key order, so B-tree work walks pages in order.
fn sorted_order<T>(rows: &[T], key: impl Fn(&T) -> u64) -> Vec<u32> {
    let mut order: Vec<(i64, u32)> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (to_sql(key(r)), i as u32))
        .collect();
    order.sort_unstable();
    order.into_iter().map(|(_, i)| i).collect()
}

/// The state of one sync, borrowed from the [`StateStore`]. Obtain it with
/// [`StateStore::sync`].
pub struct SyncState<'a> {
    store: &'a mut StateStore,
    name: String,
    sync_id: i64,
    epoch: i64,
    drift: Option<String>,
}

impl std::fmt::Debug for SyncState<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncState")
            .field("name", &self.name)
            .field("sync_id", &self.sync_id)
            .field("epoch", &self.epoch)
            .field("drift", &self.drift)
            .finish()
    }
}

impl<'a> SyncState<'a> {
    pub(crate) fn new(
        store: &'a mut StateStore,
        name: String,
        sync_id: i64,
        epoch: i64,
        drift: Option<String>,
    ) -> Self {
        SyncState {
            store,
            name,
            sync_id,
            epoch,
            drift,
        }
    }

    /// The sync's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// When the fingerprint given to [`StateStore::sync`] differs from the stored one: what
    /// changed, in words (e.g. "column `ltv` changed type from Utf8 to Float64"). Every stored
    /// row then counts as changed. `None` when unchanged or when the sync is new.
    pub fn drift(&self) -> Option<&str> {
        self.drift.as_deref()
    }

    fn tx(&mut self, behavior: TransactionBehavior) -> Result<Transaction<'_>, StateError> {
        let path = &self.store.db_path;
        self.store
            .conn
            .transaction_with_behavior(behavior)
            .map_err(|source| StateError::Sqlite {
                path: path.clone(),
                what: "starting a transaction",
                source,
            })
    }

    /// Classifies each row against the stored state; the result is aligned with `keys`.
    ///
    /// One read transaction and one cached prepared statement per call; lookups are done in
    /// key order. A stored row counts as unchanged only if its hash is equal *and* it was
    /// stored under the sync's current definition (see [`StateStore::sync`],
    /// [`SyncState::forget_all`]).
    pub fn classify(&mut self, keys: &[KeyedRow]) -> Result<Vec<RowChange>, StateError> {
        let mut out = vec![RowChange::New; keys.len()];
        if keys.is_empty() {
            return Ok(out);
        }
        let epoch = self.epoch;
        let decide = |row: &KeyedRow, stored: u64, delivered: bool, current: bool| {
            if !current || stored != row.row_hash {
                RowChange::Changed
            } else if delivered {
                RowChange::Unchanged
            } else {
                RowChange::UnchangedRejected
            }
        };
        self.ensure_snapshot()?;
        // Indices of the rows SQLite must answer.
        let mut pending: Vec<u32> = Vec::new();
        if let Some(SnapshotState::Ready(snap)) = self.store.snapshots.get(&self.sync_id) {
            let mut from = 0;
            for i in sorted_order(keys, |k| k.key_hash) {
                let i = i as usize;
                let row = &keys[i];
                match snap.get_from(&mut from, row.key_hash, epoch) {
                    Lookup::Missing => {}
                    Lookup::Dirty => pending.push(i as u32),
                    Lookup::Found {
                        row_hash,
                        delivered,
                        current,
                    } => out[i] = decide(row, row_hash, delivered, current),
                }
            }
        } else {
            pending = (0..keys.len() as u32).collect();
        }
        if pending.is_empty() {
            return Ok(out);
        }
        // A key committed earlier on this connection may still sit in the commit log: merge
        // first (rare: the host sends each key once per run).
        if let Some(staged) = self.store.staged.get(&self.sync_id)
            && pending.iter().any(|&i| staged.contains(&keys[i as usize].key_hash))
        {
            self.flush()?;
        }
        pending.sort_unstable_by_key(|&i| to_sql(keys[i as usize].key_hash));
        let order = pending;
        let path = self.store.db_path.clone();
        let sql = format!(
            "SELECT row_hash, status, epoch FROM rows_{} WHERE key_hash = ?1",
            self.sync_id
        );
        let tx = self.tx(TransactionBehavior::Deferred)?;
        {
            let mut stmt = tx.prepare_cached(&sql).ctx(&path, "classifying rows")?;
            for i in order {
                let i = i as usize;
                let row = &keys[i];
                stmt.raw_bind_parameter(1, to_sql(row.key_hash))
                    .ctx(&path, "classifying rows")?;
                let mut rows = stmt.raw_query();
                if let Some(r) = rows.next().ctx(&path, "classifying rows")? {
                    let stored_hash: i64 = r.get(0).ctx(&path, "classifying rows")?;
                    let status: i64 = r.get(1).ctx(&path, "classifying rows")?;
                    let stored_epoch: i64 = r.get(2).ctx(&path, "classifying rows")?;
                    out[i] = decide(
                        row,
                        from_sql(stored_hash),
                        status == ST_DELIVERED,
                        stored_epoch == epoch,
                    );
                }
            }
        }
        tx.commit().ctx(&path, "classifying rows")?;
        Ok(out)
    }

    /// Loads the in-memory snapshot of the row table on the first classify of a run.
    fn ensure_snapshot(&mut self) -> Result<(), StateError> {
        if self.store.snapshots.contains_key(&self.sync_id) {
            return Ok(());
        }
        self.flush()?;
        let snap = Snapshot::load(&self.store.conn, self.sync_id, self.epoch, self.store.snapshot_limit)
            .ctx(&self.store.db_path, "loading the row state")?;
        let state = match snap {
            Some(s) => SnapshotState::Ready(s),
            None => SnapshotState::Disabled,
        };
        self.store.snapshots.insert(self.sync_id, state);
        Ok(())
    }

    /// Remembers that these keys are in the source this run (for modes that remove what left
    /// the source). Kept in a temporary table of the connection (on disk, bounded memory),
    /// cleared by [`StateStore::begin_run`] and [`SyncState::reset_seen`]. Only `key_hash` is
    /// used.
    ///
    /// Cheap: the keys are appended (no search), and indexed once, in one sort, by the first
    /// [`SyncState::departed`] (or [`SyncState::members_not_seen`], [`SyncState::seen_count`]).
    pub fn mark_seen(&mut self, keys: &[KeyedRow]) -> Result<(), StateError> {
        if keys.is_empty() {
            return Ok(());
        }
        let path = self.store.db_path.clone();
        let sql = format!("INSERT INTO temp.seen_{} (key_hash) VALUES (?1)", self.sync_id);
        let tx = self.tx(TransactionBehavior::Deferred)?;
        {
            let mut stmt = tx.prepare_cached(&sql).ctx(&path, "marking keys seen")?;
            for row in keys {
                stmt.execute([to_sql(row.key_hash)]).ctx(&path, "marking keys seen")?;
            }
        }
        tx.commit().ctx(&path, "marking keys seen")?;
        Ok(())
    }

    /// Indexes the seen keys (once, after they were all appended).
    fn index_seen(&mut self) -> Result<(), StateError> {
        self.store
            .conn
            .execute_batch(&format!(
                "CREATE INDEX IF NOT EXISTS temp.seen_{id}_key ON seen_{id} (key_hash)",
                id = self.sync_id
            ))
            .ctx(&self.store.db_path, "indexing seen keys")
    }

    /// Forgets the keys marked seen for this sync and restarts [`SyncState::departed`] paging.
    pub fn reset_seen(&mut self) -> Result<(), StateError> {
        self.store
            .conn
            .execute_batch(&format!(
                "DROP INDEX IF EXISTS temp.seen_{id}_key; DELETE FROM temp.seen_{id};",
                id = self.sync_id
            ))
            .ctx(&self.store.db_path, "clearing seen keys")?;
        self.store.departed_cursors.remove(&self.sync_id);
        Ok(())
    }

    /// Number of distinct keys marked seen for this sync on this connection.
    pub fn seen_count(&mut self) -> Result<u64, StateError> {
        self.index_seen()?;
        let n: i64 = self
            .store
            .conn
            .prepare_cached(&format!(
                "SELECT count(DISTINCT key_hash) FROM temp.seen_{}",
                self.sync_id
            ))
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .ctx(&self.store.db_path, "counting seen keys")?;
        Ok(n as u64)
    }

    /// Keys whose current version at the destination came from this sync (delivered, or
    /// delivered and later rejected in a new version) and that were not marked seen: they left
    /// the source. Paged: each call returns up to `limit` keys after the previous page, in key
    /// hash order; an empty result means done (restart with [`SyncState::reset_seen`] or a new
    /// run). Paging does not depend on what the caller commits in between.
    ///
    /// Only meaningful after every source row of the run was passed to
    /// [`SyncState::mark_seen`]: if the run read the source only partly, do not call this.
    pub fn departed(&mut self, limit: usize) -> Result<Vec<StoredKey>, StateError> {
        let from = match self
            .store
            .departed_cursors
            .get(&self.sync_id)
            .copied()
            .unwrap_or(Cursor::From(i64::MIN))
        {
            Cursor::From(from) => from,
            Cursor::Done => return Ok(Vec::new()),
        };
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.flush()?;
        self.index_seen()?;
        let path = self.store.db_path.clone();
        let out: Vec<StoredKey> = {
            let mut stmt = self
                .store
                .conn
                .prepare_cached(&format!(
                    "SELECT key_hash, key_text FROM rows_{id}
                     WHERE key_hash >= ?1 AND status IN (0, 2)
                       AND key_hash NOT IN (SELECT key_hash FROM temp.seen_{id})
                     ORDER BY key_hash LIMIT ?2",
                    id = self.sync_id
                ))
                .ctx(&path, "listing departed keys")?;
            let rows = stmt
                .query_map(params![from, limit as i64], |r| {
                    Ok(StoredKey {
                        key_hash: from_sql(r.get(0)?),
                        key_text: r.get(1)?,
                    })
                })
                .ctx(&path, "listing departed keys")?;
            rows.collect::<Result<_, _>>().ctx(&path, "listing departed keys")?
        };
        let next = if out.len() < limit {
            Cursor::Done
        } else {
            match to_sql(out.last().expect("non-empty").key_hash).checked_add(1) {
                Some(n) => Cursor::From(n),
                None => Cursor::Done,
            }
        };
        self.store.departed_cursors.insert(self.sync_id, next);
        Ok(out)
    }

    /// Applies the outcome of sending rows, in one transaction (all or nothing).
    ///
    /// * `delivered`: stored as delivered with their row hash (and key text).
    /// * `rejected`: stored as rejected with their row hash: not sent again until they change.
    ///   A key delivered before keeps counting as present at the destination (for
    ///   [`SyncState::departed`]).
    /// * failed rows: pass them nowhere: nothing is stored, so the next run sends them again.
    /// * `removed`: keys whose removal at the destination was delivered; their state is deleted.
    pub fn commit(&mut self, delivered: &[KeyedRow], rejected: &[KeyedRow], removed: &[u64]) -> Result<(), StateError> {
        self.commit_resolving(delivered, rejected, removed, &[])
    }

    /// [`SyncState::commit`], and in the same transaction deletes the journal entries of
    /// `resolved_sends` (send keys): sends whose rows now have their outcome recorded, so the
    /// row state guards them from here on. The journal thus only holds sends in doubt.
    pub fn commit_resolving(
        &mut self,
        delivered: &[KeyedRow],
        rejected: &[KeyedRow],
        removed: &[u64],
        resolved_sends: &[&str],
    ) -> Result<(), StateError> {
        if delivered.is_empty() && rejected.is_empty() && removed.is_empty() && resolved_sends.is_empty() {
            return Ok(());
        }
        let (sync_id, epoch) = (self.sync_id, self.epoch);
        let path = self.store.db_path.clone();
        let what = "committing rows";
        let tx = self.tx(TransactionBehavior::Immediate)?;
        {
            // Appended to the commit log (cheap, sequential); merged into the row table in key
            // order later (see `flush`). Atomic and durable either way.
            let mut put = tx
                .prepare_cached(
                    "INSERT INTO row_log (sync_id, op, key_hash, row_hash, epoch, key_text)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .ctx(&path, what)?;
            for (rows, op) in [(delivered, OP_DELIVERED), (rejected, OP_REJECTED)] {
                for row in rows {
                    put.execute(params![
                        sync_id,
                        op,
                        to_sql(row.key_hash),
                        to_sql(row.row_hash),
                        epoch,
                        row.key_text
                    ])
                    .ctx(&path, what)?;
                }
            }
            for &h in removed {
                put.execute(params![sync_id, OP_REMOVED, to_sql(h), 0i64, epoch, ""])
                    .ctx(&path, what)?;
            }
            if !resolved_sends.is_empty() {
                let mut forget = tx
                    .prepare_cached("DELETE FROM journal WHERE sync_id = ?1 AND send_key = ?2")
                    .ctx(&path, what)?;
                for key in resolved_sends {
                    forget.execute(params![sync_id, key]).ctx(&path, what)?;
                }
            }
        }
        tx.commit().ctx(&path, what)?;
        if let Some(SnapshotState::Ready(snap)) = self.store.snapshots.get_mut(&sync_id) {
            snap.dirty.extend(delivered.iter().chain(rejected).map(|r| r.key_hash));
            snap.dirty.extend(removed.iter().copied());
            if snap.dirty.len() > DIRTY_LIMIT {
                self.store.snapshots.insert(sync_id, SnapshotState::Disabled);
            }
        }
        let staged = self.store.staged.entry(sync_id).or_default();
        staged.extend(delivered.iter().chain(rejected).map(|r| r.key_hash));
        staged.extend(removed.iter().copied());
        if staged.len() >= STAGE_LIMIT {
            self.flush()?;
        }
        Ok(())
    }

    /// Merges this sync's committed rows from the commit log into its row table (in key
    /// order, one transaction). Done automatically when needed: before [`SyncState::departed`],
    /// when a classified key is still in the log, when the log holds 3,500,000 keys, by
    /// [`StateStore::finish_run`], and on the next open after a crash. Returns the number of
    /// log entries merged.
    pub fn flush(&mut self) -> Result<u64, StateError> {
        self.store.flush_log(self.sync_id)
    }

    /// For `--full`: every stored row counts as changed from now on (one update, however many
    /// rows). Key texts stay, so [`SyncState::departed`] still finds keys that left the
    /// source. Membership and the journal are not touched.
    pub fn forget_all(&mut self) -> Result<(), StateError> {
        self.store
            .conn
            .execute(
                "UPDATE syncs SET epoch = epoch + 1, updated_at = ?2 WHERE sync_id = ?1",
                params![self.sync_id, now_text()],
            )
            .ctx(&self.store.db_path, "forgetting row state")?;
        self.epoch += 1;
        Ok(())
    }

    /// Number of keys stored for this sync (delivered or rejected).
    pub fn stored_count(&mut self) -> Result<u64, StateError> {
        self.flush()?;
        let n: i64 = self
            .store
            .conn
            .prepare_cached(&format!("SELECT count(*) FROM rows_{}", self.sync_id))
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .ctx(&self.store.db_path, "counting stored rows")?;
        Ok(n as u64)
    }

    // ----- membership -----

    /// Adds keys to the set `set` (e.g. a list id), one transaction. Adding a member twice is
    /// harmless; a non-empty key text replaces the stored one.
    pub fn members_add(&mut self, set: &str, keys: &[StoredKey]) -> Result<(), StateError> {
        if keys.is_empty() {
            return Ok(());
        }
        let sync_id = self.sync_id;
        let path = self.store.db_path.clone();
        let tx = self.tx(TransactionBehavior::Immediate)?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO members (sync_id, set_name, key_hash, key_text)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (sync_id, set_name, key_hash) DO UPDATE SET
                         key_text = CASE WHEN excluded.key_text = '' THEN members.key_text
                                         ELSE excluded.key_text END",
                )
                .ctx(&path, "adding members")?;
            for i in sorted_order(keys, |k| k.key_hash) {
                let k = &keys[i as usize];
                stmt.execute(params![sync_id, set, to_sql(k.key_hash), k.key_text])
                    .ctx(&path, "adding members")?;
            }
        }
        tx.commit().ctx(&path, "adding members")
    }

    /// Removes keys from the set `set`, one transaction. Removing a non-member is harmless.
    pub fn members_remove(&mut self, set: &str, key_hashes: &[u64]) -> Result<(), StateError> {
        if key_hashes.is_empty() {
            return Ok(());
        }
        let sync_id = self.sync_id;
        let path = self.store.db_path.clone();
        let mut sorted: Vec<i64> = key_hashes.iter().map(|&h| to_sql(h)).collect();
        sorted.sort_unstable();
        let tx = self.tx(TransactionBehavior::Immediate)?;
        {
            let mut stmt = tx
                .prepare_cached("DELETE FROM members WHERE sync_id = ?1 AND set_name = ?2 AND key_hash = ?3")
                .ctx(&path, "removing members")?;
            for h in sorted {
                stmt.execute(params![sync_id, set, h]).ctx(&path, "removing members")?;
            }
        }
        tx.commit().ctx(&path, "removing members")
    }

    /// Whether `key_hash` is in the set `set`.
    pub fn is_member(&mut self, set: &str, key_hash: u64) -> Result<bool, StateError> {
        self.store
            .conn
            .prepare_cached("SELECT 1 FROM members WHERE sync_id = ?1 AND set_name = ?2 AND key_hash = ?3")
            .and_then(|mut s| {
                s.query_row(params![self.sync_id, set, to_sql(key_hash)], |_| Ok(()))
                    .optional()
            })
            .map(|found| found.is_some())
            .ctx(&self.store.db_path, "looking up a member")
    }

    /// Number of members of the set `set`.
    pub fn member_count(&mut self, set: &str) -> Result<u64, StateError> {
        let n: i64 = self
            .store
            .conn
            .prepare_cached("SELECT count(*) FROM members WHERE sync_id = ?1 AND set_name = ?2")
            .and_then(|mut s| s.query_row(params![self.sync_id, set], |r| r.get(0)))
            .ctx(&self.store.db_path, "counting members")?;
        Ok(n as u64)
    }

    /// Members of `set` not marked seen this run (they left the audience), in key hash order,
    /// at most `limit`, starting after the key hash `after` (pass the last key of the previous
    /// page, or `None` for the first page).
    pub fn members_not_seen(
        &mut self,
        set: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<StoredKey>, StateError> {
        let from = match after {
            None => i64::MIN,
            Some(h) => match to_sql(h).checked_add(1) {
                Some(n) => n,
                None => return Ok(Vec::new()),
            },
        };
        self.index_seen()?;
        let path = self.store.db_path.clone();
        let mut stmt = self
            .store
            .conn
            .prepare_cached(&format!(
                "SELECT key_hash, key_text FROM members
                 WHERE sync_id = ?1 AND set_name = ?2 AND key_hash >= ?3
                   AND key_hash NOT IN (SELECT key_hash FROM temp.seen_{})
                 ORDER BY key_hash LIMIT ?4",
                self.sync_id
            ))
            .ctx(&path, "listing departed members")?;
        let rows = stmt
            .query_map(params![self.sync_id, set, from, limit as i64], |r| {
                Ok(StoredKey {
                    key_hash: from_sql(r.get(0)?),
                    key_text: r.get(1)?,
                })
            })
            .ctx(&path, "listing departed members")?;
        rows.collect::<Result<_, _>>().ctx(&path, "listing departed members")
    }

    // ----- journal -----

    /// Runs `f` in an immediate transaction committed with `synchronous = FULL` (the WAL is
    /// fsync'd before this returns), then restores `NORMAL`.
    fn durable<T>(
        &mut self,
        what: &'static str,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        let path = self.store.db_path.clone();
        self.store
            .conn
            .pragma_update(None, "synchronous", "FULL")
            .ctx(&path, what)?;
        let result = (|| {
            let tx = self.tx(TransactionBehavior::Immediate)?;
            let value = f(&tx)?;
            tx.commit().ctx(&path, what)?;
            Ok(value)
        })();
        let restore = self
            .store
            .conn
            .pragma_update(None, "synchronous", "NORMAL")
            .ctx(&path, what);
        let value = result?;
        restore?;
        Ok(value)
    }

    fn entry_by_key(tx: &rusqlite::Connection, sync_id: i64, send_key: &str) -> rusqlite::Result<Option<JournalEntry>> {
        tx.prepare_cached(&format!(
            "SELECT {JOURNAL_COLUMNS} FROM journal WHERE sync_id = ?1 AND send_key = ?2"
        ))?
        .query_row(params![sync_id, send_key], journal_entry)
        .optional()
    }

    fn entry_by_id(tx: &rusqlite::Connection, sync_id: i64, id: i64) -> rusqlite::Result<Option<JournalEntry>> {
        tx.prepare_cached(&format!(
            "SELECT {JOURNAL_COLUMNS} FROM journal WHERE sync_id = ?1 AND id = ?2"
        ))?
        .query_row(params![sync_id, id], journal_entry)
        .optional()
    }

    /// Writes the intent to send `send_key`, durably (fsync'd) before returning, and returns it
    /// with [`JournalEntry::newly_intended`] set: send, then [`SyncState::journal_mark`] it.
    /// If an entry for `send_key` exists already, it is returned unchanged (whatever its state
    /// and digest) with `newly_intended == false`: do not send. An existing `Intended` entry
    /// means the fate of that send is unknown (report it); a `Failed` one may be retried with
    /// [`SyncState::journal_rearm`].
    pub fn journal_intend(&mut self, send_key: &str, request_digest: &str) -> Result<JournalEntry, StateError> {
        let mut entries = self.journal_intend_many(&[(send_key, request_digest)])?;
        entries.pop().ok_or(StateError::NotFound {
            what: "journal entry",
            id: 0,
        })
    }

    /// [`SyncState::journal_intend`] for many sends `(send_key, request_digest)` in one durable
    /// transaction (one fsync): e.g. every row of one enrolment request. Returns one entry per
    /// send, in order.
    pub fn journal_intend_many(&mut self, sends: &[(&str, &str)]) -> Result<Vec<JournalEntry>, StateError> {
        if sends.is_empty() {
            return Ok(Vec::new());
        }
        let sync_id = self.sync_id;
        let run = self.store.current_run.map(|r| r.0);
        let path = self.store.db_path.clone();
        self.durable("journaling an intended send", |tx| {
            let mut out = Vec::with_capacity(sends.len());
            for (send_key, request_digest) in sends {
                if let Some(existing) = Self::entry_by_key(tx, sync_id, send_key).ctx(&path, "reading the journal")? {
                    out.push(existing);
                    continue;
                }
                tx.prepare_cached(
                    "INSERT INTO journal (sync_id, send_key, request_digest, state, run_id, intended_at)
                     VALUES (?1, ?2, ?3, 0, ?4, ?5)",
                )
                .and_then(|mut s| s.execute(params![sync_id, send_key, request_digest, run, now_text()]))
                .ctx(&path, "journaling an intended send")?;
                let id = tx.last_insert_rowid();
                let mut entry = Self::entry_by_id(tx, sync_id, id)
                    .ctx(&path, "reading the journal")?
                    .ok_or(StateError::NotFound {
                        what: "journal entry",
                        id,
                    })?;
                entry.newly_intended = true;
                out.push(entry);
            }
            Ok(out)
        })
    }

    /// Marks a journal entry [`JournalState::Sent`] or [`JournalState::Failed`] (durably).
    /// Marking an entry again with the state it has is a no-op; `Sent` is final; a `Failed`
    /// entry goes back to `Intended` only through [`SyncState::journal_rearm`].
    pub fn journal_mark(&mut self, id: i64, state: JournalState, detail: &str) -> Result<(), StateError> {
        self.journal_mark_many(&[id], state, detail)
    }

    /// [`SyncState::journal_mark`] for many entries in one durable transaction: all are
    /// marked, or none (an entry that cannot move to `state` fails the whole call).
    pub fn journal_mark_many(&mut self, ids: &[i64], state: JournalState, detail: &str) -> Result<(), StateError> {
        if state == JournalState::Intended {
            return Err(StateError::JournalTransition {
                id: ids.first().copied().unwrap_or(0),
                from: "any state",
                to: "intended (use journal_rearm)",
            });
        }
        if ids.is_empty() {
            return Ok(());
        }
        let sync_id = self.sync_id;
        let path = self.store.db_path.clone();
        self.durable("marking a journaled send", |tx| {
            for &id in ids {
                let entry = Self::entry_by_id(tx, sync_id, id)
                    .ctx(&path, "reading the journal")?
                    .ok_or(StateError::NotFound {
                        what: "journal entry",
                        id,
                    })?;
                match entry.state {
                    JournalState::Intended => {
                        tx.prepare_cached("UPDATE journal SET state = ?2, detail = ?3, resolved_at = ?4 WHERE id = ?1")
                            .and_then(|mut s| s.execute(params![id, state.code(), detail, now_text()]))
                            .ctx(&path, "marking a journaled send")?;
                    }
                    current if current == state => {}
                    current => {
                        return Err(StateError::JournalTransition {
                            id,
                            from: current.as_str(),
                            to: state.as_str(),
                        });
                    }
                }
            }
            Ok(())
        })
    }

    /// Puts a [`JournalState::Failed`] entry back to `Intended` (durably) so it can be sent
    /// again; returns the updated entry. Any other state is an error: a sent or possibly sent
    /// request must never be repeated.
    pub fn journal_rearm(&mut self, id: i64, request_digest: &str) -> Result<JournalEntry, StateError> {
        let sync_id = self.sync_id;
        let run = self.store.current_run.map(|r| r.0);
        let path = self.store.db_path.clone();
        self.durable("re-arming a journaled send", |tx| {
            let entry = Self::entry_by_id(tx, sync_id, id)
                .ctx(&path, "reading the journal")?
                .ok_or(StateError::NotFound {
                    what: "journal entry",
                    id,
                })?;
            if entry.state != JournalState::Failed {
                return Err(StateError::JournalTransition {
                    id,
                    from: entry.state.as_str(),
                    to: "intended",
                });
            }
            tx.prepare_cached(
                "UPDATE journal SET state = 0, request_digest = ?2, detail = '', run_id = ?3,
                     intended_at = ?4, resolved_at = NULL
                 WHERE id = ?1",
            )
            .and_then(|mut s| s.execute(params![id, request_digest, run, now_text()]))
            .ctx(&path, "re-arming a journaled send")?;
            let mut entry = Self::entry_by_id(tx, sync_id, id)
                .ctx(&path, "reading the journal")?
                .ok_or(StateError::NotFound {
                    what: "journal entry",
                    id,
                })?;
            entry.newly_intended = true;
            Ok(entry)
        })
    }

    /// Entries still [`JournalState::Intended`], oldest first. Called at the start of a sync,
    /// these are sends whose fate is unknown (the process died between intent and mark): the
    /// host reports them as uncertain and does not resend them.
    pub fn journal_unresolved(&mut self) -> Result<Vec<JournalEntry>, StateError> {
        self.journal_in_states("0")
    }

    /// The entries whose state code is in `states` (a comma-separated list of codes), oldest
    /// first.
    fn journal_in_states(&mut self, states: &'static str) -> Result<Vec<JournalEntry>, StateError> {
        let path = self.store.db_path.clone();
        let mut stmt = self
            .store
            .conn
            .prepare_cached(&format!(
                "SELECT {JOURNAL_COLUMNS} FROM journal WHERE sync_id = ?1 AND state IN ({states}) ORDER BY id"
            ))
            .ctx(&path, "reading the journal")?;
        let rows = stmt
            .query_map([self.sync_id], journal_entry)
            .ctx(&path, "reading the journal")?;
        rows.collect::<Result<_, _>>().ctx(&path, "reading the journal")
    }

    /// Number of journal entries of this sync, in any state. Zero (the usual case: the journal
    /// only holds sends whose rows have no recorded outcome yet) lets the host skip per-row
    /// journal lookups.
    pub fn journal_len(&mut self) -> Result<u64, StateError> {
        let n: i64 = self
            .store
            .conn
            .prepare_cached("SELECT count(*) FROM journal WHERE sync_id = ?1")
            .and_then(|mut s| s.query_row([self.sync_id], |r| r.get(0)))
            .ctx(&self.store.db_path, "counting journal entries")?;
        Ok(n as u64)
    }

    /// The sends in doubt, oldest first: journaled and never resolved, either intended (the run
    /// stopped before the answer) or sent without a recorded outcome.
    pub fn journal_in_doubt(&mut self) -> Result<Vec<JournalEntry>, StateError> {
        self.journal_in_states("0, 1")
    }

    /// Settles the send in doubt `send_key` by hand, after a person checked the destination
    /// (durably): `sent` confirms it went out ([`JournalState::Confirmed`]: never sent again),
    /// otherwise it is marked [`JournalState::Failed`] (the next run sends it). Refused for a
    /// key that is not in doubt, and for "not sent" when the destination answered the send.
    pub fn journal_resolve(&mut self, send_key: &str, sent: bool) -> Result<JournalEntry, StateError> {
        let sync_id = self.sync_id;
        let path = self.store.db_path.clone();
        self.durable("resolving a send in doubt", |tx| {
            let entry = Self::entry_by_key(tx, sync_id, send_key).ctx(&path, "reading the journal")?;
            let to = match (entry.as_ref().map(|e| e.state), sent) {
                (Some(JournalState::Intended | JournalState::Sent), true) => JournalState::Confirmed,
                (Some(JournalState::Intended), false) => JournalState::Failed,
                (state, _) => {
                    return Err(StateError::NotInDoubt {
                        send_key: send_key.to_owned(),
                        state: state.map(JournalState::as_str),
                    });
                }
            };
            let detail = if sent {
                "confirmed sent by hand"
            } else {
                "confirmed not sent by hand"
            };
            tx.prepare_cached(
                "UPDATE journal SET state = ?3, detail = ?4, resolved_at = ?5 WHERE sync_id = ?1 AND send_key = ?2",
            )
            .and_then(|mut s| s.execute(params![sync_id, send_key, to.code(), detail, now_text()]))
            .ctx(&path, "resolving a send in doubt")?;
            Self::entry_by_key(tx, sync_id, send_key)
                .ctx(&path, "reading the journal")?
                .ok_or(StateError::NotInDoubt {
                    send_key: send_key.to_owned(),
                    state: None,
                })
        })
    }

    /// The journal entry for `send_key`, if any.
    pub fn journal_lookup(&mut self, send_key: &str) -> Result<Option<JournalEntry>, StateError> {
        Self::entry_by_key(&self.store.conn, self.sync_id, send_key).ctx(&self.store.db_path, "reading the journal")
    }
}

const JOURNAL_COLUMNS: &str = "id, send_key, request_digest, state, detail, run_id, intended_at, resolved_at";

fn journal_entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<JournalEntry> {
    let intended: String = r.get(6)?;
    let resolved: Option<String> = r.get(7)?;
    Ok(JournalEntry {
        id: r.get(0)?,
        send_key: r.get(1)?,
        request_digest: r.get(2)?,
        state: JournalState::from_code(r.get(3)?),
        detail: r.get(4)?,
        run: r.get::<_, Option<i64>>(5)?.map(RunId),
        intended_at: parse_time(&intended).unwrap_or_default(),
        resolved_at: resolved.as_deref().and_then(parse_time),
        newly_intended: false,
    })
}
