//! [`StateStore`]: the state folder, its lock, the database connection and run history.

use std::collections::HashMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use nohash_hasher::IntSet;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::error::{SqlContext, StateError};
use crate::fingerprint::explain_drift;
use crate::schema;
use crate::snapshot::SnapshotState;
use crate::sync::SyncState;

/// File name of the lock inside the state folder.
pub const LOCK_FILE: &str = "lock";
/// File name of the SQLite database inside the state folder.
pub const DB_FILE: &str = "state.sqlite";

/// SQLite page cache for the main database, in KiB (64 MiB). Holds the hot part of the row
/// table of a 1,000,000-row sync entirely; larger syncs are served from the OS page cache.
/// Memory use stays bounded whatever the table size (no memory-mapped I/O either: mapped pages
/// would count towards the process's resident size).
const MAIN_CACHE_KIB: i64 = 64 * 1024;
/// Page cache for the temporary database (the per-run set of seen keys), in KiB (32 MiB).
/// The temporary database lives in a file, so a run over 10,000,000 keys spills to disk
/// instead of growing memory.
const TEMP_CACHE_KIB: i64 = 32 * 1024;

/// Helper threads SQLite may add to a large sort (`PRAGMA threads`).
const SORTER_HELPER_THREADS: i64 = 2;

/// Identifies one run in the run history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunId(pub i64);

/// One entry of the run history, see [`StateStore::recent_runs`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunRecord {
    /// The run.
    pub id: RunId,
    /// Process id of the run.
    pub pid: u32,
    /// The sync names given to [`StateStore::begin_run`].
    pub syncs: Vec<String>,
    /// When the run began.
    pub started_at: DateTime<Utc>,
    /// When it finished; `None` if it is still running or the process died (crash, kill).
    pub finished_at: Option<DateTime<Utc>>,
    /// The report given to [`StateStore::finish_run`], as JSON text.
    pub report_json: Option<String>,
}

/// Where the paging of [`SyncState::departed`] stands for one sync.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Cursor {
    /// Next page starts at this key hash (as stored, i.e. `i64`), inclusive.
    From(i64),
    Done,
}

/// The state of one dotsync config: an exclusively locked folder holding a SQLite database.
///
/// See the crate documentation for the schema and the durability rules.
pub struct StateStore {
    // Field order matters: the connection closes before the lock file is released.
    pub(crate) conn: Connection,
    pub(crate) db_path: PathBuf,
    pub(crate) current_run: Option<RunId>,
    pub(crate) departed_cursors: HashMap<i64, Cursor>,
    /// Per sync, the key hashes committed to `row_log` by this process and not merged yet.
    /// Key hashes are xxh3 already: the sets use them as their own hash.
    pub(crate) staged: HashMap<i64, IntSet<u64>>,
    /// Per sync, the in-memory copy of the row table used by `classify` (reset every run).
    pub(crate) snapshots: HashMap<i64, SnapshotState>,
    pub(crate) snapshot_limit: usize,
    dir: PathBuf,
    _lock: File,
}

impl std::fmt::Debug for StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateStore")
            .field("dir", &self.dir)
            .field("current_run", &self.current_run)
            .finish_non_exhaustive()
    }
}

pub(crate) fn now_text() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}

/// Hex xxh3-64 of the fingerprint text, as stored in `syncs.fingerprint`.
fn fingerprint_hash(text: &str) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
}

/// How long [`StateStore::open`] keeps trying a taken lock before it refuses.
const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_millis(300);

/// Takes the lock, trying again for [`LOCK_PATIENCE`] while it is taken. Why not refuse at once:
/// a process that forks (any `Command::spawn`) shares every open lock file with the child until
/// the child execs, so a lock its store just dropped can stay taken for a moment.
fn try_lock_briefly(lock: &File) -> Result<(), TryLockError> {
    let deadline = std::time::Instant::now() + LOCK_PATIENCE;
    loop {
        match lock.try_lock() {
            Err(TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            result => return result,
        }
    }
}

/// Creates the folder `dir` if needed and takes its lock (`dir/lock`), recording our pid in it.
fn lock_folder(dir: &Path) -> Result<File, StateError> {
    std::fs::create_dir_all(dir).map_err(|source| StateError::Io {
        path: dir.to_path_buf(),
        what: "creating the state folder",
        source,
    })?;
    let lock_path = dir.join(LOCK_FILE);
    let mut lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|source| StateError::Io {
            path: lock_path.clone(),
            what: "opening the lock file",
            source,
        })?;
    match try_lock_briefly(&lock) {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            let holder_pid = lock
                .read_to_string(&mut text)
                .ok()
                .and_then(|_| text.trim().parse().ok());
            return Err(StateError::Locked {
                dir: dir.to_path_buf(),
                holder_pid,
                holder_run: holder_pid.and_then(|pid| running_run(&dir.join(DB_FILE), pid)),
            });
        }
        Err(TryLockError::Error(source)) => {
            return Err(StateError::Io {
                path: lock_path,
                what: "locking the state folder",
                source,
            });
        }
    }
    // Record our pid for the message a second opener shows. Not essential: errors ignored.
    let _ = lock
        .set_len(0)
        .and_then(|_| lock.seek(SeekFrom::Start(0)))
        .and_then(|_| write!(lock, "{}", std::process::id()));
    Ok(lock)
}

impl StateStore {
    /// Opens (creating if needed) the state folder `dir` and takes its lock.
    ///
    /// The lock is `dir/lock`, held with an exclusive advisory lock (`File::try_lock`, i.e.
    /// `flock` on Unix) for the life of the returned store; the OS releases it when the process
    /// dies, so a killed run never leaves a stale lock. A second opener, in this or another
    /// process, gets [`StateError::Locked`] with the holder's pid (after trying for 0.3 s). The database is
    /// `dir/state.sqlite` in WAL mode; its schema is created or migrated here.
    pub fn open(dir: &Path) -> Result<StateStore, StateError> {
        let lock = lock_folder(dir)?;
        StateStore::open_locked(dir, lock)
    }

    /// [`StateStore::open`] of a folder whose lock `lock` is already held.
    fn open_locked(dir: &Path, lock: File) -> Result<StateStore, StateError> {
        let db_path = dir.join(DB_FILE);
        let mut conn = Connection::open(&db_path).ctx(&db_path, "opening")?;
        configure(&conn).ctx(&db_path, "configuring")?;
        match schema::migrate(&mut conn).ctx(&db_path, "migrating the schema")? {
            Ok(from) if from < schema::SCHEMA_VERSION => {
                tracing::debug!(
                    db = %db_path.display(),
                    from,
                    to = schema::SCHEMA_VERSION,
                    "migrated state schema"
                );
            }
            Ok(_) => {}
            Err(found) => {
                return Err(StateError::SchemaTooNew {
                    path: db_path,
                    found,
                    supported: schema::SCHEMA_VERSION,
                });
            }
        }
        let mut store = StateStore {
            conn,
            db_path,
            current_run: None,
            departed_cursors: HashMap::new(),
            staged: HashMap::new(),
            snapshots: HashMap::new(),
            snapshot_limit: crate::snapshot::SNAPSHOT_LIMIT,
            dir: dir.to_path_buf(),
            _lock: lock,
        };
        // Commits of a run that died before merging them (kill, crash) are merged now.
        store.flush_all_logs()?;
        Ok(store)
    }

    /// Whether no process holds the lock of the state folder `dir` (asked with the patience of
    /// [`StateStore::open`]): for removing copies of the state ([`StateStore::open_copy`]) that a
    /// killed dry run left behind. A folder without a lock file counts as held (its opener may
    /// not have locked it yet).
    pub fn lock_is_free(dir: &Path) -> bool {
        File::open(dir.join(LOCK_FILE)).is_ok_and(|lock| try_lock_briefly(&lock).is_ok())
    }

    /// A throw-away copy of the state in `from` (the state folder of a config), opened as the
    /// state of folder `into` (empty or new): what a dry run works on, so that it decides what
    /// to send exactly as a run would, without changing the real state. The copy is a
    /// consistent snapshot taken through a read-only connection (SQLite's `VACUUM INTO`), so it
    /// can be taken while a run holds the state. `None` when `from` has no database yet.
    pub fn open_copy(from: &Path, into: &Path) -> Result<Option<StateStore>, StateError> {
        let source = from.join(DB_FILE);
        if !source.exists() {
            return Ok(None);
        }
        // Locked before the copy is made, so that a copy being made is never taken for one
        // left behind.
        let lock = lock_folder(into)?;
        let copy = into.join(DB_FILE);
        let copy_text = copy.to_str().ok_or_else(|| StateError::Io {
            path: copy.clone(),
            what: "naming the state copy",
            source: std::io::Error::other("the path is not valid UTF-8"),
        })?;
        let conn = open_read_only(&source)?;
        conn.execute("VACUUM INTO ?1", [copy_text])
            .ctx(&source, "copying the state")?;
        drop(conn);
        StateStore::open_locked(into, lock).map(Some)
    }

    /// The state folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The database file (`dir/state.sqlite`).
    pub fn db_path(&self) -> &Path {
        &self.db_path
    }

    /// Records the start of a run over `syncs` and returns its id. Also forgets the keys seen
    /// by a previous run on this connection (see [`SyncState::mark_seen`]).
    pub fn begin_run(&mut self, syncs: &[&str]) -> Result<RunId, StateError> {
        let names = serde_json::to_string(syncs).expect("strings serialize");
        self.conn
            .execute(
                "INSERT INTO runs (pid, started_at, syncs) VALUES (?1, ?2, ?3)",
                rusqlite::params![std::process::id(), now_text(), names],
            )
            .ctx(&self.db_path, "recording the start of a run")?;
        let id = RunId(self.conn.last_insert_rowid());
        let seen_tables: Vec<String> = self
            .conn
            .prepare("SELECT name FROM temp.sqlite_master WHERE type = 'table' AND name LIKE 'seen\\_%' ESCAPE '\\'")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .ctx(&self.db_path, "listing the seen keys")?;
        for table in seen_tables {
            self.conn
                .execute_batch(&format!(
                    "DROP INDEX IF EXISTS temp.{table}_key; DELETE FROM temp.{table};"
                ))
                .ctx(&self.db_path, "clearing the seen keys")?;
        }
        self.departed_cursors.clear();
        self.snapshots.clear();
        self.current_run = Some(id);
        Ok(id)
    }

    /// Records the end of `run` with its report (JSON text).
    pub fn finish_run(&mut self, run: RunId, report_json: &str) -> Result<(), StateError> {
        let n = self
            .conn
            .execute(
                "UPDATE runs SET finished_at = ?2, report_json = ?3 WHERE run_id = ?1",
                rusqlite::params![run.0, now_text(), report_json],
            )
            .ctx(&self.db_path, "recording the end of a run")?;
        if n == 0 {
            return Err(StateError::NotFound { what: "run", id: run.0 });
        }
        if self.current_run == Some(run) {
            self.current_run = None;
        }
        self.flush_all_logs()?;
        // Fold the WAL back into the database while nothing else is going on. Best effort:
        // SQLite also checkpoints on its own (every 1000 pages) and on close.
        let _ = self.conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        Ok(())
    }

    /// The last `limit` runs, newest first. A run whose `finished_at` is `None` and that is not
    /// the current one died (crash, kill) or is still running.
    pub fn recent_runs(&self, limit: usize) -> Result<Vec<RunRecord>, StateError> {
        query_recent_runs(&self.conn, &self.db_path, limit)
    }

    /// [`StateStore::recent_runs`] of the state folder `dir` without taking its lock (a
    /// read-only connection: it works while a run holds the state). Empty when the folder has
    /// no database yet.
    pub fn read_recent_runs(dir: &Path, limit: usize) -> Result<Vec<RunRecord>, StateError> {
        let db_path = dir.join(DB_FILE);
        if !db_path.exists() {
            return Ok(Vec::new());
        }
        let conn = open_read_only(&db_path)?;
        let has_runs: bool = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'runs'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .ctx(&db_path, "reading the schema")?;
        if !has_runs {
            return Ok(Vec::new());
        }
        query_recent_runs(&conn, &db_path, limit)
    }
}

/// A read-only connection to the database `db_path`, which works while a run holds the state
/// (waiting up to 5 s for a write in progress).
fn open_read_only(db_path: &Path) -> Result<Connection, StateError> {
    let conn = Connection::open_with_flags(db_path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .ctx(db_path, "opening read-only")?;
    conn.pragma_update(None, "busy_timeout", 5000)
        .ctx(db_path, "configuring")?;
    Ok(conn)
}

fn query_recent_runs(conn: &Connection, db_path: &Path, limit: usize) -> Result<Vec<RunRecord>, StateError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT run_id, pid, syncs, started_at, finished_at, report_json
             FROM runs ORDER BY run_id DESC LIMIT ?1",
        )
        .ctx(db_path, "reading the run history")?;
    let rows = stmt
        .query_map([limit as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })
        .ctx(db_path, "reading the run history")?;
    let mut out = Vec::new();
    for row in rows {
        let (id, pid, syncs, started, finished, report_json) = row.ctx(db_path, "reading the run history")?;
        out.push(RunRecord {
            id: RunId(id),
            pid: pid as u32,
            syncs: serde_json::from_str(&syncs).unwrap_or_default(),
            started_at: parse_time(&started).unwrap_or_default(),
            finished_at: finished.as_deref().and_then(parse_time),
            report_json,
        });
    }
    Ok(out)
}

impl StateStore {
    /// Opens the state of one sync. `fingerprint` is the text that defines what a row hash
    /// means for this sync: normally [`crate::Fingerprint`]'s JSON (plugin name, config
    /// fields, mapped column names and types). If it differs from the one stored by the last
    /// run, every stored row hash of the sync is invalidated (all rows classify as
    /// [`crate::RowChange::Changed`]; key texts are kept, so departed keys are still found) and
    /// [`SyncState::drift`] explains what changed. The new fingerprint is stored at once, in
    /// the same transaction as the invalidation.
    ///
    /// Do not put secrets in `fingerprint`: it is stored as given.
    pub fn sync(&mut self, name: &str, fingerprint: &str) -> Result<SyncState<'_>, StateError> {
        let hash = fingerprint_hash(fingerprint);
        let path = self.db_path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(&path, "opening a sync")?;
        let existing: Option<(i64, String, String, i64)> = tx
            .query_row(
                "SELECT sync_id, fingerprint, fingerprint_inputs, epoch FROM syncs WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .ctx(&path, "reading a sync")?;
        let now = now_text();
        let (sync_id, epoch, drift) = match existing {
            None => {
                tx.execute(
                    "INSERT INTO syncs (name, fingerprint, fingerprint_inputs, epoch, created_at, updated_at)
                     VALUES (?1, ?2, ?3, 0, ?4, ?4)",
                    rusqlite::params![name, hash, fingerprint, now],
                )
                .ctx(&path, "creating a sync")?;
                (tx.last_insert_rowid(), 0, None)
            }
            Some((id, old_hash, _, epoch)) if old_hash == hash => (id, epoch, None),
            Some((id, _, old_inputs, epoch)) => {
                let explanation = explain_drift(&old_inputs, fingerprint);
                tracing::info!(sync = name, drift = %explanation, "sync definition changed");
                tx.execute(
                    "UPDATE syncs SET fingerprint = ?2, fingerprint_inputs = ?3, epoch = ?4,
                         last_drift = ?5, updated_at = ?6
                     WHERE sync_id = ?1",
                    rusqlite::params![id, hash, fingerprint, epoch + 1, explanation, now],
                )
                .ctx(&path, "recording a changed sync definition")?;
                (id, epoch + 1, Some(explanation))
            }
        };
        tx.execute_batch(&schema::rows_table_sql(sync_id))
            .ctx(&path, "creating the row table of a sync")?;
        tx.commit().ctx(&path, "opening a sync")?;
        self.conn
            .execute_batch(&format!(
                "CREATE TEMP TABLE IF NOT EXISTS seen_{sync_id} (key_hash INTEGER NOT NULL)"
            ))
            .ctx(&path, "creating the seen-keys table")?;
        Ok(SyncState::new(self, name.to_owned(), sync_id, epoch, drift))
    }

    /// Opens the state of an existing sync as it is, for maintenance such as resolving sends in
    /// doubt: its fingerprint is neither checked nor changed. `None` when no run recorded it.
    pub fn existing_sync(&mut self, name: &str) -> Result<Option<SyncState<'_>>, StateError> {
        let found: Option<(i64, i64)> = self
            .conn
            .query_row("SELECT sync_id, epoch FROM syncs WHERE name = ?1", [name], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .ctx(&self.db_path, "reading a sync")?;
        Ok(found.map(|(sync_id, epoch)| SyncState::new(self, name.to_owned(), sync_id, epoch, None)))
    }

    /// Merges the commit log of every sync into its row table.
    pub(crate) fn flush_all_logs(&mut self) -> Result<(), StateError> {
        let ids: Vec<i64> = self
            .conn
            .prepare("SELECT DISTINCT sync_id FROM row_log")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .ctx(&self.db_path, "reading the commit log")?;
        for id in ids {
            self.flush_log(id)?;
        }
        self.staged.clear();
        Ok(())
    }

    /// Merges the commit log of one sync into `rows_<sync_id>`, in key order (each page of the
    /// row table written at most once), and empties it: one transaction. Returns the number of
    /// log entries applied. A log without removals (every first sync) is merged by one
    /// `INSERT … SELECT` inside SQLite; a log with removals entry by entry, as a removal and a
    /// write of the same key must apply in log order.
    pub(crate) fn flush_log(&mut self, sync_id: i64) -> Result<u64, StateError> {
        let path = self.db_path.clone();
        let what = "merging the commit log";
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(&path, what)?;
        let (logged, entries, removals): (i64, i64, i64) = tx
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(sync_id = ?1), 0), COALESCE(SUM(sync_id = ?1 AND op = ?2), 0)
                 FROM row_log",
                [sync_id, crate::sync::OP_REMOVED],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .ctx(&path, what)?;
        let upsert = format!(
            "INSERT INTO rows_{sync_id} (key_hash, row_hash, status, epoch, key_text) {{rows}}
             ON CONFLICT (key_hash) DO UPDATE SET
                 row_hash = excluded.row_hash,
                 status = CASE
                     WHEN excluded.status = 0 THEN 0
                     WHEN status IN (0, 2) THEN 2
                     ELSE 1 END,
                 epoch = excluded.epoch,
                 key_text = CASE WHEN excluded.key_text = '' THEN key_text
                                 ELSE excluded.key_text END"
        );
        if removals == 0 {
            // SQLite inserts the rows of `INSERT … SELECT … ORDER BY` in that order, so a key
            // written twice ends as the loop below would leave it.
            let merge = upsert.replace(
                "{rows}",
                "SELECT key_hash, row_hash, op, epoch, key_text FROM row_log
                 WHERE sync_id = ?1 ORDER BY key_hash, seq",
            );
            tx.execute(&merge, [sync_id]).ctx(&path, what)?;
        } else {
            let mut log = tx
                .prepare_cached(
                    "SELECT op, key_hash, row_hash, epoch, key_text FROM row_log
                     WHERE sync_id = ?1 ORDER BY key_hash, seq",
                )
                .ctx(&path, what)?;
            let mut put = tx
                .prepare_cached(&upsert.replace("{rows}", "VALUES (?1, ?2, ?3, ?4, ?5)"))
                .ctx(&path, what)?;
            let mut del = tx
                .prepare_cached(&format!("DELETE FROM rows_{sync_id} WHERE key_hash = ?1"))
                .ctx(&path, what)?;
            let mut rows = log.query([sync_id]).ctx(&path, what)?;
            while let Some(r) = rows.next().ctx(&path, what)? {
                let op: i64 = r.get(0).ctx(&path, what)?;
                let key_hash: i64 = r.get(1).ctx(&path, what)?;
                if op == crate::sync::OP_REMOVED {
                    del.execute([key_hash]).ctx(&path, what)?;
                } else {
                    let row_hash: i64 = r.get(2).ctx(&path, what)?;
                    let epoch: i64 = r.get(3).ctx(&path, what)?;
                    let key_text: String = r.get(4).ctx(&path, what)?;
                    put.execute(rusqlite::params![key_hash, row_hash, op, epoch, key_text])
                        .ctx(&path, what)?;
                }
            }
        }
        if logged == entries {
            // Without a WHERE clause SQLite drops the table's pages wholesale instead of
            // visiting every entry.
            tx.execute("DELETE FROM row_log", []).ctx(&path, what)?;
        } else {
            tx.execute("DELETE FROM row_log WHERE sync_id = ?1", [sync_id])
                .ctx(&path, what)?;
        }
        tx.commit().ctx(&path, what)?;
        self.staged.remove(&sync_id);
        let applied = entries as u64;
        if applied > 0 {
            tracing::debug!(sync_id, applied, removals, "merged commit log");
        }
        Ok(applied)
    }

    /// Largest sync (in stored rows) whose row table `classify` copies into memory, 17 bytes
    /// per row (default 3,000,000, about 51 MiB). Larger syncs are classified with SQLite
    /// lookups (slower, about 2.5 µs a row, but flat memory). `0` always uses SQLite. Takes
    /// effect from the next run ([`StateStore::begin_run`]).
    pub fn set_snapshot_limit(&mut self, rows: usize) {
        self.snapshot_limit = rows;
    }

    /// Runs SQLite's `PRAGMA integrity_check`; returns the problems found (empty when sound).
    pub fn integrity_check(&self) -> Result<Vec<String>, StateError> {
        let mut stmt = self
            .conn
            .prepare("PRAGMA integrity_check")
            .ctx(&self.db_path, "checking integrity")?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .ctx(&self.db_path, "checking integrity")?;
        let mut problems = Vec::new();
        for row in rows {
            let line = row.ctx(&self.db_path, "checking integrity")?;
            if line != "ok" {
                problems.push(line);
            }
        }
        Ok(problems)
    }

    /// Names of every sync known to the state, sorted.
    pub fn sync_names(&self) -> Result<Vec<String>, StateError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT name FROM syncs ORDER BY name")
            .ctx(&self.db_path, "listing syncs")?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .ctx(&self.db_path, "listing syncs")?;
        rows.collect::<Result<_, _>>().ctx(&self.db_path, "listing syncs")
    }
}

/// The unfinished run of process `pid` in the run history of `db_path`, as words ("run 17,
/// started 2025-01-01T10:00:00.000Z"), read through a separate read-only connection (WAL lets
/// it read while the holder writes). Best effort: `None` on any error.
fn running_run(db_path: &Path, pid: u32) -> Option<String> {
    let conn = Connection::open_with_flags(db_path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
    conn.query_row(
        "SELECT run_id, started_at FROM runs WHERE pid = ?1 AND finished_at IS NULL
         ORDER BY run_id DESC LIMIT 1",
        [pid],
        |r| {
            Ok(format!(
                "run {}, started {}",
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?
            ))
        },
    )
    .ok()
}

/// Connection settings. `synchronous = NORMAL` in WAL mode: every commit is atomic and survives
/// the death of the process (kill -9: the WAL frames are already in the OS's hands); only an
/// OS crash or power loss can lose the last few commits, never corrupt the database. Losing a
/// row-state commit only means those rows are sent again next run, which the destinations'
/// upserts and membership adds absorb. Journal writes, which guard sends that must not repeat,
/// switch to `synchronous = FULL` for their transaction (see `SyncState::journal_intend`).
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(mode, "state database could not switch to WAL mode");
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "busy_timeout", 5000)?;
    conn.pragma_update(None, "temp_store", "FILE")?;
    conn.pragma_update(None, "cache_size", -MAIN_CACHE_KIB)?;
    conn.pragma_update(Some("temp"), "cache_size", -TEMP_CACHE_KIB)?;
    // The seen-keys tables are disposable: no rollback journal for the temporary database.
    conn.query_row("PRAGMA temp.journal_mode = OFF", [], |_| Ok(()))?;
    // After a checkpoint, cut the WAL back to 64 MiB (a big merge can grow it).
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    conn.pragma_update(None, "mmap_size", 0)?;
    // Sorting the commit log for its merge (the end of a run, when the other cores are idle)
    // may use helper threads.
    conn.pragma_update(None, "threads", SORTER_HELPER_THREADS)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}
