//! A compact in-memory copy of one sync's row table, for fast [`crate::SyncState::classify`].
//!
//! SQLite answers a point lookup in about 2.5 µs of CPU (statement step plus B-tree descent),
//! too slow for the re-sync target (1,000,000 unchanged rows in well under 3 s). So, for syncs
//! of at most [`SNAPSHOT_LIMIT`] stored rows, the first `classify` of a run reads the row table
//! once, sequentially (already sorted by key hash), into three parallel vectors: 17 bytes per
//! row, at most about 51 MiB. Lookups are binary searches. Larger syncs are classified by
//! SQLite lookups, so memory stays flat however large the source grows.
//!
//! Keys committed after the snapshot was taken are "dirty" and looked up in SQLite instead. If
//! a run commits so many keys that the dirty set itself would grow large, the snapshot is
//! dropped for the rest of the run.

use nohash_hasher::IntSet;

use rusqlite::Connection;

/// Largest row table that is copied into memory (17 bytes per row).
pub(crate) const SNAPSHOT_LIMIT: usize = 3_000_000;
/// Most keys committed since the snapshot before it is dropped.
pub(crate) const DIRTY_LIMIT: usize = 1_000_000;

const FLAG_DELIVERED: u8 = 1;
const FLAG_EPOCH: u8 = 2;

/// Per sync; no entry means "not loaded yet this run".
pub(crate) enum SnapshotState {
    /// Too large (or too many commits): SQLite lookups for the rest of the run.
    Disabled,
    Ready(Snapshot),
}

pub(crate) struct Snapshot {
    /// The sync's epoch when loaded.
    epoch: i64,
    /// Key hashes as stored (`i64`), ascending.
    keys: Vec<i64>,
    row_hashes: Vec<u64>,
    flags: Vec<u8>,
    /// Keys committed since loading: their snapshot entry is stale.
    pub(crate) dirty: IntSet<u64>,
}

/// What the snapshot knows about a key.
pub(crate) enum Lookup {
    /// Ask SQLite (committed since the snapshot).
    Dirty,
    Missing,
    /// Stored: row hash, delivered (vs rejected), stored under the current epoch.
    Found {
        row_hash: u64,
        delivered: bool,
        current: bool,
    },
}

impl Snapshot {
    /// Loads `rows_<sync_id>`, or `None` if it has more than [`SNAPSHOT_LIMIT`] rows.
    pub(crate) fn load(
        conn: &Connection,
        sync_id: i64,
        epoch: i64,
        limit: usize,
    ) -> rusqlite::Result<Option<Snapshot>> {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT key_hash, row_hash, status, epoch FROM rows_{sync_id} ORDER BY key_hash"
        ))?;
        let mut rows = stmt.query([])?;
        let mut snap = Snapshot {
            epoch,
            keys: Vec::new(),
            row_hashes: Vec::new(),
            flags: Vec::new(),
            dirty: IntSet::default(),
        };
        while let Some(r) = rows.next()? {
            if snap.keys.len() >= limit {
                return Ok(None);
            }
            let status: i64 = r.get(2)?;
            let row_epoch: i64 = r.get(3)?;
            snap.keys.push(r.get(0)?);
            snap.row_hashes.push(r.get::<_, i64>(1)? as u64);
            snap.flags
                .push(if status == 0 { FLAG_DELIVERED } else { 0 } | if row_epoch == epoch { FLAG_EPOCH } else { 0 });
        }
        snap.keys.shrink_to_fit();
        snap.row_hashes.shrink_to_fit();
        snap.flags.shrink_to_fit();
        Ok(Some(snap))
    }

    /// Looks `key_hash` up for a sync whose epoch is now `epoch`, searching from `*from`
    /// onwards (galloping): callers look keys up in ascending order, so each search touches
    /// only the few cache lines near the previous hit instead of ~20 levels of a binary search
    /// over megabytes. `*from` is advanced to the key's position.
    #[inline]
    pub(crate) fn get_from(&self, from: &mut usize, key_hash: u64, epoch: i64) -> Lookup {
        let key = key_hash as i64;
        let keys = &self.keys;
        let mut lo = (*from).min(keys.len());
        if lo > 0 && keys[lo - 1] >= key {
            lo = 0; // not ascending after all: search everything
        }
        let mut step = 1;
        let mut hi = lo;
        while hi < keys.len() && keys[hi] < key {
            lo = hi + 1;
            hi = (hi + step).min(keys.len());
            step *= 2;
        }
        let hi = (hi + 1).min(keys.len());
        let found = keys[lo..hi].binary_search(&key).map(|i| i + lo);
        *from = match found {
            Ok(i) => i,
            Err(i) => i + lo,
        };
        if !self.dirty.is_empty() && self.dirty.contains(&key_hash) {
            return Lookup::Dirty;
        }
        match found {
            Err(_) => Lookup::Missing,
            Ok(i) => Lookup::Found {
                row_hash: self.row_hashes[i],
                delivered: self.flags[i] & FLAG_DELIVERED != 0,
                current: self.epoch == epoch && self.flags[i] & FLAG_EPOCH != 0,
            },
        }
    }
}
