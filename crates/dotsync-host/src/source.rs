//! The sources a sync reads, behind one [`Source`]: files (`dotsync-source-files`) and
//! PostgreSQL (`dotsync-source-postgres`).
//!
//! Opening and reading block (file IO; the PostgreSQL source blocks on its own runtime): the
//! driver calls [`Source::open`] and [`Source::next`] inside `spawn_blocking`, never on the
//! async runtime.

use std::path::Path;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use dotsync_source_files::{FileSource, OpenOptions};
use dotsync_source_postgres::{PostgresError, PostgresSource};

use crate::config::SourceConfig;

/// Why a source cannot be opened or read. Never holds a connection URL or password (the
/// PostgreSQL source names the environment variable and `host:port` only).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A file source failed (missing file, malformed data, missing column...).
    #[error(transparent)]
    File(#[from] dotsync_source_files::SourceError),
    /// PostgreSQL failed (connection, login, PostgreSQL's message on the query, write-back).
    #[error(transparent)]
    Postgres(#[from] PostgresError),
    /// The source lacks a column the plugin needs.
    #[error("{source_label}: column(s) {} not in the source; available: {}", .missing.join(", "), .available.join(", "))]
    MissingColumns {
        source_label: String,
        missing: Vec<String>,
        available: Vec<String>,
    },
}

/// An open source: batches of the projected columns, in projection order. Both kinds are boxed:
/// a source moves to a blocking thread and back for every batch.
pub enum Source {
    File(Box<FileSource>),
    Postgres {
        rows: Box<PostgresSource>,
        /// For messages, e.g. `PostgreSQL table "crm"."customers"`.
        label: String,
    },
}

impl Source {
    /// Opens `config` (file paths relative to `base_dir`), fetching only `projection`, in
    /// batches of at most `batch_size` rows. Blocks.
    pub fn open(
        config: &SourceConfig,
        base_dir: &Path,
        projection: Vec<String>,
        batch_size: usize,
    ) -> Result<Source, SourceError> {
        match config {
            SourceConfig::File(file) => {
                let options = OpenOptions {
                    batch_size,
                    projection: Some(projection),
                };
                let file = dotsync_source_files::open(file, base_dir, &options)?;
                Ok(Source::File(Box::new(file)))
            }
            SourceConfig::Postgres { postgres } => {
                let rows = Box::new(dotsync_source_postgres::open(postgres, Some(&projection), batch_size)?);
                let label = match (&postgres.table, &postgres.query) {
                    (Some(table), _) => format!("PostgreSQL table {table}"),
                    _ => "PostgreSQL query".to_owned(),
                };
                Ok(Source::Postgres { rows, label })
            }
        }
    }

    /// The schema of every batch.
    pub fn schema(&self) -> SchemaRef {
        match self {
            Source::File(file) => file.schema(),
            Source::Postgres { rows, .. } => rows.schema(),
        }
    }

    /// Rows in the source, when known before reading (file metadata; never for a query).
    pub fn total_rows(&self) -> Option<u64> {
        match self {
            Source::File(file) => file.total_rows(),
            Source::Postgres { .. } => None,
        }
    }

    /// What the source is, for messages: the file's path, or the PostgreSQL query or table.
    pub fn label(&self) -> String {
        match self {
            Source::File(file) => file.path().display().to_string(),
            Source::Postgres { label, .. } => label.clone(),
        }
    }
}

impl Iterator for Source {
    type Item = Result<RecordBatch, SourceError>;

    /// The next batch. Blocks.
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Source::File(file) => file.next().map(|batch| batch.map_err(SourceError::from)),
            Source::Postgres { rows, .. } => rows.next().map(|batch| batch.map_err(SourceError::from)),
        }
    }
}
