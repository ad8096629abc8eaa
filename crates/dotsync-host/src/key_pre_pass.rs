//! The key pre-pass: before a large file's first row reaches the plugin, read its key columns
//! once, have the plugin hash each key (in its own normal form), and hand it the hashes that
//! occur more than once (see `dotsync_plugin_sdk::KEY_PRE_PASS_METADATA`).
//!
//! Why: a plugin that refuses a key's second row must otherwise keep every key of the run, and
//! its memory grows with the source. The hashes are counted in bounded memory: they are split
//! into [`BUCKETS`] buckets by their top bits, each bucket's buffer going to one unnamed
//! temporary file (removed by the OS when closed, also on a kill) when it fills; at the end each
//! bucket is read back, sorted and scanned on its own (a 256th of the hashes, small enough to
//! sort in the processor's caches), and only the repeated hashes are kept.
//!
//! Only for file sources whose row count is known before reading (Parquet, Arrow IPC files):
//! they can be read twice, and their size decides whether the pass is worth it. The two reads
//! open the path separately, seconds apart: a file rewritten in between could hold a repeat the
//! pass did not see, and both of its rows would then be sent.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, UInt64Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use dotsync_plugin_sdk::{
    BatchKind, DynPlanner, ForeignPlanner, KEY_PRE_PASS_METADATA, PlannerError, REPEATED_KEYS_COLUMN, RunMode,
};

use crate::driver::{Names, Stop, SyncSpec, host_stop, open_source, plan_casts, planner_stop, prepare};
use crate::error::RunError;
use crate::incremental::key_columns;
use crate::source::Source;

/// Buckets the hashes are split into, by their top bits (hashes are uniform).
const BUCKET_BITS: u32 = 8;
const BUCKETS: usize = 1 << BUCKET_BITS;
/// Hashes a bucket holds before they go to the spill file: 256 × 32 KiB = 8 MiB in all.
const BUCKET_BUFFER_HASHES: usize = 4096;

/// The least source size at which the plugin asks for the pre-pass, from its input contract.
fn wanted_from(contract: &Schema) -> Result<Option<u64>, String> {
    let Some(value) = contract.metadata().get(KEY_PRE_PASS_METADATA) else {
        return Ok(None);
    };
    let min_rows = value
        .parse::<u64>()
        .map_err(|_| format!("input contract: {KEY_PRE_PASS_METADATA} = {value:?} is not a row count"))?;
    if key_columns(contract).is_empty() {
        return Err(format!(
            "input contract: {KEY_PRE_PASS_METADATA} needs key columns, and the contract declares none"
        ));
    }
    Ok(Some(min_rows))
}

/// Runs the pre-pass when the plugin asks for it and the source can be read again with a row
/// count known before reading (`rereadable_rows`, see [`rereadable_rows`]), and pushes the
/// repeated hashes into `planner`. The planner moves to a blocking thread for the pass (reading
/// and hashing are file and CPU work) and comes back.
pub(crate) async fn run(
    names: &Names,
    spec: &SyncSpec,
    mode: RunMode,
    contract: &SchemaRef,
    rereadable_rows: Option<u64>,
    planner: ForeignPlanner,
    spill_dir: &Path,
) -> Result<ForeignPlanner, Stop> {
    let min_rows = match wanted_from(contract) {
        Ok(Some(min_rows)) => min_rows,
        Ok(None) => return Ok(planner),
        Err(message) => {
            let error = PlannerError::Contract {
                plugin: names.plugin.clone(),
                message,
            };
            return Err(planner_stop(names, error));
        }
    };
    if mode == RunMode::Check || rereadable_rows.is_none_or(|rows| rows < min_rows) {
        return Ok(planner);
    }
    let keys = key_columns(contract);
    let key_fields: Vec<Field> = keys
        .iter()
        .filter_map(|name| contract.field_with_name(name).ok().cloned())
        .collect();
    let key_contract = Arc::new(Schema::new(key_fields));
    let key_source = open_source(spec, keys).await.map_err(Stop::Run)?;
    let casts = plan_casts(names, &key_source, &key_contract).map_err(Stop::Run)?;
    let pass_names = names.clone();
    let dir = spill_dir.to_owned();
    let batch_size = spec.batch_size.max(1);
    let started = std::time::Instant::now();
    let joined = tokio::task::spawn_blocking(move || {
        let mut planner = planner;
        let found = count_repeated(&pass_names, key_source, &casts, &mut planner, &dir)?;
        push_repeated(&pass_names, &mut planner, &found.repeated, batch_size)?;
        Ok::<_, Stop>((planner, found))
    })
    .await;
    let (planner, found) = joined.map_err(|error| host_stop(names, format!("the key pre-pass crashed: {error}")))??;
    tracing::info!(
        sync = %names.sync,
        "key pre-pass: {} keys hashed, {} repeat ({:.1} s)",
        found.hashes,
        found.repeated.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(planner)
}

/// The rows of `source` when it can be read a second time and counts its rows without reading
/// them: a file (not a query, whose result may change, nor events read once from stdin).
pub(crate) fn rereadable_rows(source: &Source) -> Option<u64> {
    match source {
        Source::File(_) => source.total_rows(),
        Source::Postgres { .. } | Source::Events { .. } => None,
    }
}

/// The hashes the pass counted, before they are pushed.
struct Found {
    hashes: u64,
    repeated: Vec<u64>,
}

/// Reads every batch of `source`, casts it to the key contract and counts the plugin's hashes.
fn count_repeated(
    names: &Names,
    mut source: Source,
    casts: &[Option<DataType>],
    planner: &mut ForeignPlanner,
    spill_dir: &Path,
) -> Result<Found, Stop> {
    let spill_error = |source: std::io::Error| {
        Stop::Run(RunError::Io {
            path: spill_dir.to_owned(),
            message: "cannot spill the key pre-pass's hashes".into(),
            source,
        })
    };
    let mut counter = HashCounter::new(spill_dir, BUCKET_BUFFER_HASHES);
    let mut hashes = 0u64;
    for batch in source.by_ref() {
        let batch = batch.map_err(|source| {
            Stop::Run(RunError::Source {
                sync: names.sync.clone(),
                source,
            })
        })?;
        // Rows whose key cannot be cast are held back from the plugin in the main pass too.
        let keys = prepare(batch, casts)
            .map_err(|message| host_stop(names, message))?
            .pushed;
        let Some(batch_hashes) = planner.key_hashes(keys).map_err(|e| planner_stop(names, e))? else {
            tracing::debug!(sync = %names.sync, "the plugin hashes no keys: no key pre-pass");
            return Ok(Found {
                hashes: 0,
                repeated: Vec::new(),
            });
        };
        hashes += batch_hashes.len() as u64;
        counter.add(&batch_hashes).map_err(spill_error)?;
    }
    let repeated = counter.repeated().map_err(spill_error)?;
    Ok(Found { hashes, repeated })
}

/// Pushes the repeated hashes as [`BatchKind::RepeatedKeys`] batches of up to `batch_size`, and
/// one empty batch when no key repeats: the plugin learns that the pass ran either way.
fn push_repeated(names: &Names, planner: &mut ForeignPlanner, repeated: &[u64], batch_size: usize) -> Result<(), Stop> {
    let schema = Arc::new(Schema::new(vec![Field::new(
        REPEATED_KEYS_COLUMN,
        DataType::UInt64,
        false,
    )]));
    let chunks: Vec<&[u64]> = if repeated.is_empty() {
        vec![&[]]
    } else {
        repeated.chunks(batch_size).collect()
    };
    for chunk in chunks {
        let column: ArrayRef = Arc::new(UInt64Array::from(chunk.to_vec()));
        let batch = RecordBatch::try_new(schema.clone(), vec![column])
            .map_err(|error| host_stop(names, format!("repeated keys batch: {error}")))?;
        // The id names no rows: no outcome answers these batches.
        planner
            .push_batch(0, BatchKind::RepeatedKeys, batch)
            .map_err(|e| planner_stop(names, e))?;
    }
    Ok(())
}

/// Counts 64-bit hashes in bounded memory and answers which occur more than once.
pub(crate) struct HashCounter {
    dir: PathBuf,
    /// Hashes a bucket buffers before they are spilled.
    buffer_capacity: usize,
    /// Each bucket's hashes not spilled yet.
    buffers: Vec<Vec<u64>>,
    /// Where spilled hashes go, once there are any.
    spill: Option<File>,
    spilled_bytes: u64,
    /// Each bucket's spilled chunks: (byte offset, hashes).
    chunks: Vec<Vec<(u64, usize)>>,
    /// The bytes of a chunk being written or read.
    scratch: Vec<u8>,
}

impl HashCounter {
    pub(crate) fn new(dir: &Path, buffer_capacity: usize) -> Self {
        HashCounter {
            dir: dir.to_owned(),
            buffer_capacity: buffer_capacity.max(1),
            buffers: vec![Vec::new(); BUCKETS],
            spill: None,
            spilled_bytes: 0,
            chunks: vec![Vec::new(); BUCKETS],
            scratch: Vec::new(),
        }
    }

    fn bucket_of(hash: u64) -> usize {
        (hash >> (64 - BUCKET_BITS)) as usize
    }

    pub(crate) fn add(&mut self, hashes: &[u64]) -> std::io::Result<()> {
        for &hash in hashes {
            let bucket = Self::bucket_of(hash);
            let buffer = &mut self.buffers[bucket];
            if buffer.capacity() == 0 {
                buffer.reserve_exact(self.buffer_capacity);
            }
            buffer.push(hash);
            if buffer.len() == self.buffer_capacity {
                self.spill_bucket(bucket)?;
            }
        }
        Ok(())
    }

    fn spill_bucket(&mut self, bucket: usize) -> std::io::Result<()> {
        let file = match &mut self.spill {
            Some(file) => file,
            None => {
                std::fs::create_dir_all(&self.dir)?;
                self.spill.insert(tempfile::tempfile_in(&self.dir)?)
            }
        };
        let buffer = &mut self.buffers[bucket];
        self.scratch.clear();
        self.scratch.extend(buffer.iter().flat_map(|hash| hash.to_le_bytes()));
        // Nothing reads the file before `repeated`: each chunk goes at its end.
        file.write_all(&self.scratch)?;
        self.chunks[bucket].push((self.spilled_bytes, buffer.len()));
        self.spilled_bytes += self.scratch.len() as u64;
        buffer.clear();
        Ok(())
    }

    /// The hashes added more than once, ascending, each once.
    pub(crate) fn repeated(mut self) -> std::io::Result<Vec<u64>> {
        let mut repeated = Vec::new();
        let mut hashes = Vec::new();
        for bucket in 0..BUCKETS {
            hashes.clear();
            for &(offset, len) in &self.chunks[bucket] {
                let file = self.spill.as_mut().expect("a bucket with chunks has spilled them");
                file.seek(SeekFrom::Start(offset))?;
                self.scratch.resize(len * 8, 0);
                file.read_exact(&mut self.scratch)?;
                hashes.extend(
                    self.scratch
                        .chunks_exact(8)
                        .map(|bytes| u64::from_le_bytes(bytes.try_into().expect("chunks of eight bytes"))),
                );
            }
            hashes.append(&mut self.buffers[bucket]);
            hashes.sort_unstable();
            for pair in hashes.windows(2) {
                if pair[0] == pair[1] && repeated.last() != Some(&pair[0]) {
                    repeated.push(pair[0]);
                }
            }
        }
        Ok(repeated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn repeated_in_memory(hashes: &[u64]) -> Vec<u64> {
        let mut sorted = hashes.to_vec();
        sorted.sort_unstable();
        let mut repeated: Vec<u64> = sorted
            .windows(2)
            .filter(|pair| pair[0] == pair[1])
            .map(|pair| pair[0])
            .collect();
        repeated.dedup();
        repeated
    }

    /// `low` in bucket `bucket`.
    fn in_bucket(bucket: u64, low: u64) -> u64 {
        (bucket << (64 - BUCKET_BITS)) | low
    }

    #[test]
    fn repeats_across_spilled_chunks_and_buckets_are_found_once_each() {
        let dir = tempfile::tempdir().unwrap();
        // Buffers of two: most hashes go through the spill file.
        let mut counter = HashCounter::new(dir.path(), 2);
        let (a, b, c) = (in_bucket(0, 7), in_bucket(3, 9), in_bucket(255, 1));
        counter.add(&[a, in_bucket(0, 1), a, b]).unwrap();
        counter.add(&[c, b, in_bucket(3, 5)]).unwrap();
        counter.add(&[in_bucket(255, 2), b, a, c]).unwrap();
        assert!(counter.spill.is_some(), "full buffers were spilled");
        assert_eq!(counter.repeated().unwrap(), vec![a, b, c]);
    }

    #[test]
    fn the_contract_asks_for_the_pass_with_a_row_count_and_key_columns() {
        use dotsync_plugin_sdk::KEY_COLUMNS_METADATA;
        let contract = |metadata: &[(&str, &str)]| {
            Schema::new(vec![Field::new("email", DataType::Utf8, true)]).with_metadata(
                metadata
                    .iter()
                    .map(|(key, value)| (key.to_string(), value.to_string()))
                    .collect::<std::collections::HashMap<_, _>>(),
            )
        };
        assert_eq!(wanted_from(&contract(&[(KEY_COLUMNS_METADATA, "email")])), Ok(None));
        let asked = contract(&[(KEY_COLUMNS_METADATA, "email"), (KEY_PRE_PASS_METADATA, "1000")]);
        assert_eq!(wanted_from(&asked), Ok(Some(1000)));
        assert_eq!(
            wanted_from(&contract(&[
                (KEY_COLUMNS_METADATA, "email"),
                (KEY_PRE_PASS_METADATA, "many")
            ])),
            Err("input contract: dotsync.key_pre_pass_min_rows = \"many\" is not a row count".to_owned())
        );
        assert_eq!(
            wanted_from(&contract(&[(KEY_PRE_PASS_METADATA, "1000")])),
            Err(
                "input contract: dotsync.key_pre_pass_min_rows needs key columns, and the contract declares none"
                    .to_owned()
            )
        );
    }

    #[test]
    fn no_hashes_no_repeats_and_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let counter = HashCounter::new(dir.path(), 4);
        assert!(counter.spill.is_none());
        assert!(counter.repeated().unwrap().is_empty());
    }

    proptest! {
        #[test]
        fn spilled_counting_matches_counting_in_memory(
            values in proptest::collection::vec((0u64..4, 0u64..64), 0..200),
            buffer in 1usize..40,
            chunk in 1usize..30,
        ) {
            let hashes: Vec<u64> = values.into_iter().map(|(bucket, low)| in_bucket(bucket, low)).collect();
            let dir = tempfile::tempdir().unwrap();
            let mut counter = HashCounter::new(dir.path(), buffer);
            for part in hashes.chunks(chunk) {
                counter.add(part).unwrap();
            }
            prop_assert_eq!(counter.repeated().unwrap(), repeated_in_memory(&hashes));
        }
    }
}
