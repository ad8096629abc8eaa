//! A 1,000,000-row query streamed with bounded memory (own test binary, so that the resident
//! set size measured is this test's alone).

mod support;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use support::{query_config, rss_kib, server};

#[test]
fn million_rows_stream_with_bounded_memory() {
    server();
    const ROWS: i64 = 1_000_000;
    const BATCH: usize = 8192;
    // ~230 bytes per row: materialising the result would take well over 200 MiB.
    let config = query_config(&format!(
        "SELECT g::int8 AS id, repeat('x', 200) || g AS payload, \
         timestamptz '2024-01-01' + g * interval '1 second' AS at, g % 2 = 0 AS even \
         FROM generate_series(1, {ROWS}) g"
    ));
    // Warm up (connection, runtime, allocator) before taking the baseline.
    let warm = support::read_all(&query_config("SELECT 1::int8 AS id"), None, 10);
    assert_eq!(warm[0].num_rows(), 1);
    // Reset the peak RSS counter (Linux ≥ 4.0); if that is not permitted the peak since start is used.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let (_, baseline) = rss_kib();

    let source = dotsync_source_postgres::open(&config, None, BATCH).expect("open");
    let mut rows = 0i64;
    let mut sum = 0i64;
    let mut batches = 0usize;
    let mut peak_during = 0u64;
    for batch in source {
        let batch = batch.expect("batch");
        assert!(batch.num_rows() > 0 && batch.num_rows() <= BATCH);
        let ids = batch.column(0).as_primitive::<Int64Type>();
        sum += ids.values().iter().sum::<i64>();
        rows += batch.num_rows() as i64;
        batches += 1;
        peak_during = peak_during.max(rss_kib().1);
    }
    let (hwm, _) = rss_kib();
    assert_eq!(rows, ROWS);
    assert_eq!(sum, ROWS * (ROWS + 1) / 2);
    assert_eq!(batches, (ROWS as usize).div_ceil(BATCH));
    let growth_mib = (hwm.max(peak_during).saturating_sub(baseline)) as f64 / 1024.0;
    eprintln!(
        "1,000,000 rows in {batches} batches; baseline RSS {:.1} MiB, peak growth {growth_mib:.1} MiB",
        baseline as f64 / 1024.0
    );
    assert!(
        growth_mib < 64.0,
        "memory grew by {growth_mib:.1} MiB while streaming; the result must not be held in memory"
    );
}
