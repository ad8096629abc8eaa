//! Test support: the shared throw-away server of `dotsync_source_postgres::testing`, configs
//! reading from it, and memory figures.

#![allow(dead_code)]

use arrow_array::RecordBatch;
use dotsync_source_postgres::PostgresSourceConfig;
pub use dotsync_source_postgres::testing::*;

/// A config reading `sql` from the shared server.
pub fn query_config(sql: &str) -> PostgresSourceConfig {
    server();
    PostgresSourceConfig {
        url_env: URL_ENV.to_owned(),
        query: Some(sql.to_owned()),
        table: None,
        write_back: None,
    }
}

/// A config reading table `table` from the shared server.
pub fn table_config(table: &str) -> PostgresSourceConfig {
    server();
    PostgresSourceConfig {
        url_env: URL_ENV.to_owned(),
        query: None,
        table: Some(table.to_owned()),
        write_back: None,
    }
}

/// Reads every batch, panicking on an error.
pub fn read_all(config: &PostgresSourceConfig, projection: Option<&[String]>, batch_size: usize) -> Vec<RecordBatch> {
    dotsync_source_postgres::open(config, projection, batch_size)
        .expect("open")
        .collect::<Result<Vec<_>, _>>()
        .expect("read")
}

/// Peak and current resident set size of this process, in KiB (Linux).
pub fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}
