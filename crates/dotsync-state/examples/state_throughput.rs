//! Measures the per-row cost of the state work of a run: hash, classify, commit, mark seen,
//! departed. Run in release mode:
//!
//! ```text
//! cargo run --release -p dotsync-state --example state_throughput -- [ROWS] [STATE_DIR]
//! ```
//!
//! ROWS defaults to 1,000,000. STATE_DIR defaults to a fresh temporary folder. Prints µs/row
//! for each step of a first run (everything new) and a re-run (everything unchanged), and the
//! process's peak resident memory.

use std::sync::Arc;
use std::time::Instant;

use arrow_array::builder::{Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use dotsync_state::{Fingerprint, KeyedRow, RowChange, RowHasher, StateStore};

const BATCH: usize = 8192;

fn make_batch(schema: &Arc<Schema>, start: usize, len: usize) -> RecordBatch {
    let mut email = StringBuilder::with_capacity(len, len * 24);
    let mut name = StringBuilder::with_capacity(len, len * 12);
    let mut ltv = Float64Builder::with_capacity(len);
    let mut visits = Int64Builder::with_capacity(len);
    for i in start..start + len {
        email.append_value(format!("user{i:09}@example.com"));
        if i % 7 == 0 {
            name.append_null();
        } else {
            name.append_value(format!("Name {}", i % 1000));
        }
        ltv.append_value(i as f64 * 0.25);
        visits.append_value((i % 97) as i64);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(email.finish()),
        Arc::new(name.finish()),
        Arc::new(ltv.finish()),
        Arc::new(visits.finish()),
    ];
    RecordBatch::try_new(schema.clone(), columns).unwrap()
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// CPU time of this thread so far, in seconds (Linux; 0 elsewhere). On a shared, loaded
/// machine wall time overstates the cost; both are printed.
fn cpu_s() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map(|ns| ns / 1e9)
        .unwrap_or(0.0)
}

#[derive(Default)]
struct Times {
    hash: f64,
    classify: f64,
    mark_seen: f64,
    commit: f64,
    cpu: [f64; 4],
}

fn run(
    store: &mut StateStore,
    schema: &Arc<Schema>,
    hasher: &RowHasher,
    rows: usize,
    commit_changed: bool,
) -> (Times, [usize; 4]) {
    let fp = Fingerprint::new("bench").schema(schema).text();
    let run_id = store.begin_run(&["bench"]).unwrap();
    let mut sync = store.sync("bench", &fp).unwrap();
    let mut t = Times::default();
    let mut counts = [0usize; 4];
    let mut start = 0;
    while start < rows {
        let len = BATCH.min(rows - start);
        let batch = make_batch(schema, start, len);
        start += len;

        let c0 = cpu_s();
        let t0 = Instant::now();
        let keyed = hasher.hash_batch(&batch).unwrap();
        let t1 = Instant::now();
        let c1 = cpu_s();
        let changes = sync.classify(&keyed).unwrap();
        let t2 = Instant::now();
        let c2 = cpu_s();
        sync.mark_seen(&keyed).unwrap();
        let t3 = Instant::now();
        let c3 = cpu_s();
        let delivered: Vec<KeyedRow> = keyed
            .into_iter()
            .zip(&changes)
            .filter(|(_, c)| c.needs_send())
            .map(|(r, _)| r)
            .collect();
        if commit_changed {
            sync.commit(&delivered, &[], &[]).unwrap();
        }
        let t4 = Instant::now();
        let c4 = cpu_s();
        t.cpu[0] += c1 - c0;
        t.cpu[1] += c2 - c1;
        t.cpu[2] += c3 - c2;
        t.cpu[3] += c4 - c3;
        t.hash += (t1 - t0).as_secs_f64();
        t.classify += (t2 - t1).as_secs_f64();
        t.mark_seen += (t3 - t2).as_secs_f64();
        t.commit += (t4 - t3).as_secs_f64();
        for c in changes {
            counts[match c {
                RowChange::New => 0,
                RowChange::Changed => 1,
                RowChange::Unchanged => 2,
                RowChange::UnchangedRejected => 3,
            }] += 1;
        }
    }
    drop(sync);
    // The end of the run merges the commit log (timed as part of commit).
    let (w, c) = (Instant::now(), cpu_s());
    store.finish_run(run_id, "{}").unwrap();
    t.commit += w.elapsed().as_secs_f64();
    t.cpu[3] += cpu_s() - c;
    (t, counts)
}

fn report(label: &str, rows: usize, t: &Times, counts: [usize; 4]) {
    let us = |s: f64| s * 1e6 / rows as f64;
    println!(
        "{label}: new {} changed {} unchanged {} rejected-unchanged {}",
        counts[0], counts[1], counts[2], counts[3]
    );
    println!(
        "  hash {:.3} s ({:.3} µs/row) | classify {:.3} s ({:.3} µs/row) | mark_seen {:.3} s ({:.3} µs/row) | commit {:.3} s ({:.3} µs/row)",
        t.hash,
        us(t.hash),
        t.classify,
        us(t.classify),
        t.mark_seen,
        us(t.mark_seen),
        t.commit,
        us(t.commit)
    );
    let total = t.hash + t.classify + t.mark_seen + t.commit;
    println!("  total state work {:.3} s ({:.3} µs/row)", total, us(total));
    println!(
        "  CPU time: hash {:.3} µs/row | classify {:.3} µs/row | mark_seen {:.3} µs/row | commit+merge {:.3} µs/row | total {:.3} s",
        us(t.cpu[0]),
        us(t.cpu[1]),
        us(t.cpu[2]),
        us(t.cpu[3]),
        t.cpu.iter().sum::<f64>()
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rows: usize = args
        .next()
        .map(|a| a.replace('_', "").parse().expect("ROWS is a number"))
        .unwrap_or(1_000_000);
    let tmp = tempfile::tempdir().unwrap();
    let dir = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().join("state"));

    let schema = Arc::new(Schema::new(vec![
        Field::new("email", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("ltv", DataType::Float64, true),
        Field::new("visits", DataType::Int64, true),
    ]));
    let hasher = RowHasher::new(&["email".to_owned()], &schema).unwrap();
    let mut store = StateStore::open(&dir).unwrap();
    println!("rows: {rows}, batch: {BATCH}, state: {}", dir.display());

    let wall = Instant::now();
    let (t, counts) = run(&mut store, &schema, &hasher, rows, true);
    report("first run (all new, commit all)", rows, &t, counts);
    println!("  wall incl. batch generation {:.3} s", wall.elapsed().as_secs_f64());

    let wall = Instant::now();
    let (t, counts) = run(&mut store, &schema, &hasher, rows, true);
    report("re-run (all unchanged)", rows, &t, counts);
    let mut sync = store
        .sync("bench", &Fingerprint::new("bench").schema(&schema).text())
        .unwrap();
    let t0 = Instant::now();
    let c0 = cpu_s();
    let mut departed = 0;
    loop {
        let page = sync.departed(10_000).unwrap();
        if page.is_empty() {
            break;
        }
        departed += page.len();
    }
    let dep = t0.elapsed().as_secs_f64();
    println!(
        "  departed scan {:.3} s ({:.3} µs/row; CPU {:.3} µs/row), {departed} departed",
        dep,
        dep * 1e6 / rows as f64,
        (cpu_s() - c0) * 1e6 / rows as f64
    );
    println!("  wall incl. batch generation {:.3} s", wall.elapsed().as_secs_f64());
    drop(sync);
    if let Some(peak) = peak_rss_mib() {
        println!("peak RSS {peak:.1} MiB");
    }
    let size: u64 = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    println!("state folder {:.1} MiB", size as f64 / (1024.0 * 1024.0));
}
