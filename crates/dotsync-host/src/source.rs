//! The sources a sync reads, behind one [`Source`]: files (`dotsync-source-files`), PostgreSQL
//! (`dotsync-source-postgres`) and Segment-spec events (`dotsync-source-events`).
//!
//! Opening and reading block (file IO; the PostgreSQL source blocks on its own runtime): the
//! driver calls [`Source::open`] and [`Source::next`] inside `spawn_blocking`, never on the
//! async runtime.

use std::path::Path;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use dotsync_plugin_sdk::OutcomeStatus;
use dotsync_source_events::{EventRows, Refusal};
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
    /// The events input failed (missing file, a line that is no valid event: the message names
    /// the file and the line).
    #[error(transparent)]
    Events(#[from] dotsync_source_events::ReadError),
    /// The events source's config does not compile (checked when the config is loaded; this is
    /// for configs built in code).
    #[error("events source: {0}")]
    EventsConfig(#[from] dotsync_source_events::ConfigError),
    /// The source lacks a column the plugin needs.
    #[error("{source_label}: column(s) {} not in the source; available: {}", .missing.join(", "), .available.join(", "))]
    MissingColumns {
        source_label: String,
        missing: Vec<String>,
        available: Vec<String>,
    },
}

/// One batch from a source: the rows, and the rows the source itself holds back with their
/// outcome (events whose values do not fit, superseded audience changes).
pub struct SourceBatch {
    /// The rows, in projection order.
    pub rows: RecordBatch,
    /// (row, status, code, message) for rows that must not reach the plugin, in row order.
    pub held: Vec<(u32, OutcomeStatus, String, String)>,
}

impl From<RecordBatch> for SourceBatch {
    fn from(rows: RecordBatch) -> Self {
        SourceBatch { rows, held: Vec::new() }
    }
}

/// An open source: batches of the projected columns, in projection order. Every kind is boxed:
/// a source moves to a blocking thread and back for every batch.
pub enum Source {
    File(Box<FileSource>),
    Postgres {
        rows: Box<PostgresSource>,
        /// For messages, e.g. `PostgreSQL table "crm"."customers"`.
        label: String,
    },
    Events {
        rows: Box<EventRows>,
        /// The projected columns' indices in the selection's schema.
        projection: Vec<usize>,
        schema: SchemaRef,
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
            SourceConfig::Events { events } => {
                let selection = events.compile()?;
                let rows = EventRows::new(events.open(base_dir)?, selection, batch_size);
                let full = rows.schema();
                let (mut indices, mut missing) = (Vec::new(), Vec::new());
                for name in &projection {
                    match full.index_of(name) {
                        Ok(index) => indices.push(index),
                        Err(_) => missing.push(name.clone()),
                    }
                }
                if !missing.is_empty() {
                    return Err(SourceError::MissingColumns {
                        source_label: format!("events from {}", rows.input_name()),
                        missing,
                        available: full.fields().iter().map(|f| f.name().clone()).collect(),
                    });
                }
                let schema = std::sync::Arc::new(
                    full.project(&indices)
                        .expect("every index was just found in this schema"),
                );
                Ok(Source::Events {
                    rows: Box::new(rows),
                    projection: indices,
                    schema,
                })
            }
        }
    }

    /// The schema of every batch.
    pub fn schema(&self) -> SchemaRef {
        match self {
            Source::File(file) => file.schema(),
            Source::Postgres { rows, .. } => rows.schema(),
            Source::Events { schema, .. } => schema.clone(),
        }
    }

    /// Rows in the source, when known before reading (file metadata; never for a query or
    /// events, where a trigger decides).
    pub fn total_rows(&self) -> Option<u64> {
        match self {
            Source::File(file) => file.total_rows(),
            Source::Postgres { .. } | Source::Events { .. } => None,
        }
    }

    /// What the source is, for messages: the file's path, or the PostgreSQL query or table.
    pub fn label(&self) -> String {
        match self {
            Source::File(file) => file.path().display().to_string(),
            Source::Postgres { label, .. } => label.clone(),
            Source::Events { rows, .. } => format!("events from {}", rows.input_name()),
        }
    }
}

impl Iterator for Source {
    type Item = Result<SourceBatch, SourceError>;

    /// The next batch. Blocks.
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Source::File(file) => file
                .next()
                .map(|batch| batch.map(SourceBatch::from).map_err(SourceError::from)),
            Source::Postgres { rows, .. } => rows
                .next()
                .map(|batch| batch.map(SourceBatch::from).map_err(SourceError::from)),
            Source::Events { rows, projection, .. } => rows.next().map(|selected| {
                let selected = selected?;
                let projected = selected
                    .batch
                    .project(projection)
                    .expect("the projection was checked against this schema when the source opened");
                let held = selected
                    .refused
                    .into_iter()
                    .map(|refused| {
                        let status = match refused.refusal {
                            Refusal::Superseded => OutcomeStatus::Skipped,
                            Refusal::InvalidValue | Refusal::InvalidAudienceEvent => OutcomeStatus::Rejected,
                        };
                        (
                            refused.row as u32,
                            status,
                            refused.refusal.code().to_owned(),
                            refused.message,
                        )
                    })
                    .collect();
                Ok(SourceBatch { rows: projected, held })
            }),
        }
    }
}
