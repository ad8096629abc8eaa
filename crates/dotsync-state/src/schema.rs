//! The SQLite schema and its migrations.
//!
//! Every table that holds a 64-bit hash stores it as `INTEGER`, the `u64` bit-cast to `i64`
//! (SQLite integers are signed 64-bit). The row state of each sync is its own rowid table whose
//! rowid *is* the key hash (`rows_<sync_id>`): one B-tree descent with integer comparisons per
//! lookup, where a `WITHOUT ROWID` table keyed by `(sync_id, key_hash)` spent most of its time in
//! generic record comparisons. Membership, with its text set name in the
//! key, is one `WITHOUT ROWID` table keyed by `(sync_id, set_name, key_hash)`.

use rusqlite::{Connection, OptionalExtension};

/// The highest schema version this build writes and reads.
pub const SCHEMA_VERSION: i64 = 1;

/// Version 1. Kept verbatim: a later version adds a new entry to [`MIGRATIONS`], never edits this.
const V1: &str = r#"
CREATE TABLE syncs (
    sync_id            INTEGER PRIMARY KEY,
    name               TEXT    NOT NULL UNIQUE,
    -- xxh3-64 (hex) of the fingerprint text given to StateStore::sync.
    fingerprint        TEXT    NOT NULL,
    -- The fingerprint text itself (normally crate::Fingerprint JSON: plugin, hashed config
    -- fields, mapped columns and types), kept so drift can be explained.
    fingerprint_inputs TEXT    NOT NULL,
    -- Rows stored with another epoch count as changed. Bumped on drift and by forget_all.
    epoch              INTEGER NOT NULL DEFAULT 0,
    last_drift         TEXT,
    created_at         TEXT    NOT NULL,
    updated_at         TEXT    NOT NULL
);

-- Per sync, a table `rows_<sync_id>` (see ROWS_TABLE) holds the row state. It is a rowid
-- table keyed by the key hash itself: the fastest lookup SQLite has (integer key compare).

-- Append-only log of commits not yet merged into `rows_<sync_id>`. Appending is cheap (rows go
-- to the end of the B-tree); merging in key order writes each page of the row table once,
-- where applying every commit's random keys directly would rewrite most pages per commit.
CREATE TABLE row_log (
    seq      INTEGER PRIMARY KEY,
    sync_id  INTEGER NOT NULL,
    -- 0 = delivered, 1 = rejected, 3 = removed.
    op       INTEGER NOT NULL,
    key_hash INTEGER NOT NULL,
    row_hash INTEGER NOT NULL,
    epoch    INTEGER NOT NULL,
    key_text TEXT    NOT NULL
);

CREATE TABLE members (
    sync_id  INTEGER NOT NULL,
    set_name TEXT    NOT NULL,
    key_hash INTEGER NOT NULL,
    key_text TEXT    NOT NULL,
    PRIMARY KEY (sync_id, set_name, key_hash)
) WITHOUT ROWID;

CREATE TABLE runs (
    run_id      INTEGER PRIMARY KEY,
    pid         INTEGER NOT NULL,
    started_at  TEXT    NOT NULL,
    finished_at TEXT,
    syncs       TEXT    NOT NULL,   -- JSON array of sync names
    report_json TEXT
);

CREATE TABLE journal (
    id             INTEGER PRIMARY KEY,
    sync_id        INTEGER NOT NULL,
    send_key       TEXT    NOT NULL,
    request_digest TEXT    NOT NULL,
    -- 0 = intended (fate unknown until marked), 1 = sent, 2 = failed (provably not sent),
    -- 3 = confirmed (in doubt, then confirmed sent by hand).
    state          INTEGER NOT NULL,
    detail         TEXT    NOT NULL DEFAULT '',
    run_id         INTEGER,
    intended_at    TEXT    NOT NULL,
    resolved_at    TEXT,
    UNIQUE (sync_id, send_key)
);
CREATE INDEX journal_open ON journal (sync_id, id) WHERE state = 0;
"#;

const MIGRATIONS: &[&str] = &[V1];

/// The row-state table of one sync, created with the sync (`{id}` = `sync_id`).
pub(crate) fn rows_table_sql(sync_id: i64) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS rows_{sync_id} (
            key_hash INTEGER PRIMARY KEY,
            row_hash INTEGER NOT NULL,
            -- 0 = delivered; 1 = rejected, never delivered;
            -- 2 = rejected, an older version was delivered.
            status   INTEGER NOT NULL,
            epoch    INTEGER NOT NULL,
            key_text TEXT    NOT NULL
        )"
    )
}

/// Brings the database to [`SCHEMA_VERSION`]. Returns the version found before migrating, or
/// `Err(Ok(found))` when the database is newer than this build.
pub(crate) fn migrate(conn: &mut Connection) -> Result<Result<i64, i64>, rusqlite::Error> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    let found: Option<i64> = tx
        .query_row("SELECT max(version) FROM schema_version", [], |r| r.get(0))
        .optional()?
        .flatten();
    let found = found.unwrap_or(0);
    if found > SCHEMA_VERSION {
        return Ok(Err(found));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i as i64 + 1;
        if version > found {
            tx.execute_batch(sql)?;
        }
    }
    if found < SCHEMA_VERSION {
        tx.execute("DELETE FROM schema_version", [])?;
        tx.execute("INSERT INTO schema_version (version) VALUES (?1)", [SCHEMA_VERSION])?;
    }
    tx.commit()?;
    Ok(Ok(found))
}
