//! Throughput of a 1,000,000-row, 12-column query into Arrow, and peak RSS.
//!
//! ```sh
//! cargo run --release -p dotsync-source-postgres --example pg_throughput
//! ```
//!
//! Starts its own PostgreSQL server (like the tests), loads a 1,000,000-row table with 12
//! columns of the common types (not timed), then times reading it whole with this crate
//! (binary COPY → Arrow) at batch size 8192. For comparison it also times the transport alone
//! through tokio-postgres' `query_raw` (extended protocol, binary results, one `Row` per row,
//! no Arrow building), the cursor-style alternative.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use futures::StreamExt;
use postgres_types::{FromSql, Type};

const ROWS: usize = 1_000_000;

/// This process's user + system CPU time in seconds (Linux, clock ticks of 1/100 s).
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of stat; `after` starts at field 3.
    (ticks(11) + ticks(12)) / 100.0
}

/// Any value as its raw length, to measure `query_raw` transport without decoding.
struct RawLen(usize);

impl<'a> FromSql<'a> for RawLen {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(RawLen(raw.len()))
    }
    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(RawLen(0))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

fn main() {
    support::server();
    let t = Instant::now();
    support::exec(&format!(
        "DROP TABLE IF EXISTS bench;
         CREATE TABLE bench AS SELECT
            g::int4 AS id, g::int8 * 1000 AS big, (g % 30000)::int2 AS small,
            g * 1.5::float8 AS score, (g / 3.0)::float4 AS ratio, g % 2 = 0 AS subscribed,
            'user' || g || '@example.com' AS email, ('Name ' || g)::varchar(50) AS name,
            ((g % 100000) / 100.0)::numeric(12,2) AS amount, date '2020-01-01' + (g % 2000) AS signup,
            timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' AS updated_at,
            gen_random_uuid() AS uid
         FROM generate_series(1, {ROWS}) g;"
    ));
    support::exec("VACUUM ANALYZE bench");
    eprintln!("loaded {ROWS} rows in {:.1} s", t.elapsed().as_secs_f64());
    let config = support::query_config("SELECT * FROM bench");

    let (_, rss_before) = support::rss_kib();
    let mut best = f64::MAX;
    for run in 0..3 {
        let t = Instant::now();
        let cpu = cpu_secs();
        let source = dotsync_source_postgres::open(&config, None, 8192).expect("open");
        assert_eq!(source.schema().fields().len(), 12);
        let mut rows = 0;
        for batch in source {
            rows += batch.expect("batch").num_rows();
        }
        assert_eq!(rows, ROWS);
        let secs = t.elapsed().as_secs_f64();
        let cpu = cpu_secs() - cpu;
        best = best.min(secs);
        println!(
            "binary COPY → Arrow, run {run}: {ROWS} rows x 12 columns in {secs:.3} s = {:.0} rows/s \
             (client CPU {cpu:.2} s = {:.0} rows per client CPU second)",
            ROWS as f64 / secs,
            ROWS as f64 / cpu.max(0.01)
        );
    }
    let (hwm, _) = support::rss_kib();
    println!(
        "best: {:.0} rows/s; peak RSS {:.1} MiB (before reading: {:.1} MiB)",
        ROWS as f64 / best,
        hwm as f64 / 1024.0,
        rss_before as f64 / 1024.0
    );

    // Transport alone via query_raw (what a cursor/portal approach would build on).
    let url = support::server().url(support::PASSWORD);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        let t = Instant::now();
        let cpu = cpu_secs();
        let stream = client
            .query_raw("SELECT * FROM bench", std::iter::empty::<i32>())
            .await
            .unwrap();
        let mut stream = std::pin::pin!(stream);
        let (mut rows, mut bytes) = (0usize, 0usize);
        while let Some(row) = stream.next().await {
            let row = row.unwrap();
            for i in 0..row.len() {
                bytes += row.get::<_, RawLen>(i).0;
            }
            rows += 1;
        }
        let secs = t.elapsed().as_secs_f64();
        let cpu = cpu_secs() - cpu;
        println!(
            "query_raw rows, no Arrow building: {rows} rows ({bytes} value bytes) in {secs:.3} s = {:.0} rows/s \
             (client CPU {cpu:.2} s = {:.0} rows per client CPU second)",
            rows as f64 / secs,
            rows as f64 / cpu.max(0.01)
        );
    });
}
