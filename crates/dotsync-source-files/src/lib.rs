//! File sources for dotsync: open a tabular file and stream it as Arrow [`RecordBatch`]es.
//!
//! Supported formats are Parquet, CSV, JSON lines and Arrow IPC (both the file format, also
//! known as Feather v2, and the stream format). [`open`] resolves the configured path against
//! the folder of the config file, picks the format (configured, or inferred from the
//! extension), applies a column projection and returns a [`FileSource`]: an iterator of
//! batches of at most [`OpenOptions::batch_size`] rows, in the file's row order. Memory stays
//! bounded: a file is never read whole, only one batch (plus the reader's own buffers) at a
//! time. [`peek_schema`] returns a file's full schema cheaply, for config validation.
//!
//! # What this crate does not do
//!
//! * No network and no object stores: only local files.
//! * No knowledge of destinations: it does not know about plugins, Dotdigital or their input
//!   contracts; the host decides which columns to project.
//! * No type coercion for destinations: values arrive with the file's own Arrow types (CSV: all
//!   text, see below). Validating and converting values, and rejecting single rows, is the job
//!   of the mapping step and the destination plugin.
//! * No writing, no state, no row hashing.
//!
//! # Decisions
//!
//! * **CSV is read as text.** Every CSV column is `Utf8`; no type inference. A bad value in row
//!   900,000 therefore never stops the run with a parse error: the destination plugin validates
//!   each value and rejects only that row. Empty fields are null. The header gives the column
//!   names (`csv.has_header = false` names them `column_1`, `column_2`, ...). A UTF-8 byte order
//!   mark at the start is skipped. A row with the wrong number of fields, or invalid UTF-8, is
//!   an error naming the line (records counted from 1, header included; this is the physical line
//!   unless quoted fields contain line breaks).
//! * **JSON lines: schema from the first 1,000 lines.** One JSON object per line; blank lines
//!   are skipped. The schema is inferred from the first 1,000 non-blank lines only (the file is
//!   never read whole to infer it); a sampled line that is not a JSON object, or whose value
//!   conflicts in type with the lines before it, is an error naming that line. Top-level columns keep the order in which their keys first
//!   appear; fields of nested objects are sorted by name. A column that is null in every sampled
//!   line becomes `Utf8`, and numbers or booleans met in a `Utf8` column are kept as their text,
//!   so sparse columns do not stop a run. A later line that still does not fit (invalid JSON,
//!   not an object, a value of another type, or — when every column is read, i.e. without a
//!   projection — a key not seen in the sample) is an error naming the line. With a projection,
//!   keys outside it are ignored.
//! * **Projection.** [`OpenOptions::projection`] lists column names. Every requested column must
//!   exist, else [`SourceError::MissingColumns`] lists what is available (and suggests a close
//!   match that differs only by case or underscores). Output columns come in projection order.
//!   Parquet and Arrow IPC never decode unprojected columns (Parquet through a
//!   `ProjectionMask`); CSV never builds arrays for them.
//! * **Errors end the stream.** Every error names the file. After the iterator yields an error it
//!   yields nothing more. No input makes this crate panic; as a last line of defence a panic
//!   inside a third-party decoder on a crafted file is caught and reported as an error about that
//!   file.
//! * **Batches** carry at most `batch_size` rows and never zero rows; Arrow IPC batches larger
//!   than `batch_size` are sliced (zero-copy).
//! * [`FileSource::total_rows`] is known for Parquet (footer metadata) and the Arrow IPC file
//!   format (read from the footer and each batch's small header), `None` otherwise.

mod csv;
mod error;
mod ipc;
mod jsonl;
mod parquet_file;

use std::fmt;
use std::fs::File;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_schema::{ArrowError, Schema, SchemaRef};

pub use crate::error::SourceError;

/// The format of a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// Apache Parquet.
    Parquet,
    /// Comma-separated values (or another delimiter, see `csv.delimiter`); all columns are read as text.
    Csv,
    /// JSON lines (newline-delimited JSON): one JSON object per line.
    Jsonl,
    /// Arrow IPC, file format (Feather v2) or stream format.
    Arrow,
}

impl FileFormat {
    /// The format a file extension stands for (case-insensitive, without the dot):
    /// `parquet`/`pq`, `csv`, `jsonl`/`ndjson`/`json`, `arrow`/`feather`/`ipc`/`arrows`.
    pub fn from_extension(extension: &str) -> Option<FileFormat> {
        match extension.to_ascii_lowercase().as_str() {
            "parquet" | "pq" => Some(FileFormat::Parquet),
            "csv" => Some(FileFormat::Csv),
            "jsonl" | "ndjson" | "json" => Some(FileFormat::Jsonl),
            "arrow" | "feather" | "ipc" | "arrows" => Some(FileFormat::Arrow),
            _ => None,
        }
    }

    /// The name used in config files: `parquet`, `csv`, `jsonl` or `arrow`.
    pub fn as_str(self) -> &'static str {
        match self {
            FileFormat::Parquet => "parquet",
            FileFormat::Csv => "csv",
            FileFormat::Jsonl => "jsonl",
            FileFormat::Arrow => "arrow",
        }
    }
}

impl fmt::Display for FileFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Options for CSV files. Ignored for other formats.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CsvOptions {
    /// Field delimiter: one ASCII character, e.g. "," or ";" or "\t".
    #[schemars(example = ';')]
    pub delimiter: char,
    /// Whether the first line holds the column names. Without a header the columns are named
    /// column_1, column_2, ...
    pub has_header: bool,
    /// Quote character: one ASCII character.
    pub quote: char,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: ',',
            has_header: true,
            quote: '"',
        }
    }
}

/// Where a file source reads from. This is the `source` table of a sync's config.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// Path of the file, relative to the config file's folder.
    #[schemars(example = "data/contacts.parquet")]
    pub path: PathBuf,
    /// Format; inferred from the extension (.parquet/.pq, .csv, .jsonl/.ndjson/.json, .arrow/.feather/.ipc/.arrows) when absent.
    #[serde(default)]
    pub format: Option<FileFormat>,
    /// CSV options.
    #[serde(default)]
    pub csv: CsvOptions,
}

impl FileSourceConfig {
    /// A config for `path` with the format inferred from its extension and default CSV options.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileSourceConfig {
            path: path.into(),
            format: None,
            csv: CsvOptions::default(),
        }
    }

    /// The path resolved against `base_dir` (the config file's folder); absolute paths stay.
    pub fn resolve_path(&self, base_dir: &Path) -> PathBuf {
        if self.path.is_absolute() {
            self.path.clone()
        } else {
            base_dir.join(&self.path)
        }
    }

    /// The configured format, or the one the extension names.
    pub fn resolve_format(&self, base_dir: &Path) -> Result<FileFormat, SourceError> {
        if let Some(format) = self.format {
            return Ok(format);
        }
        let extension = self.path.extension().map(|e| e.to_string_lossy().into_owned());
        extension
            .as_deref()
            .and_then(FileFormat::from_extension)
            .ok_or_else(|| SourceError::UnknownFormat {
                path: self.resolve_path(base_dir),
                extension,
            })
    }
}

/// How to read a file: batch size and column projection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenOptions {
    /// Maximum number of rows per batch; at least 1. Default 8192.
    pub batch_size: usize,
    /// Column names to read, in output order; `None` reads every column in file order.
    pub projection: Option<Vec<String>>,
}

impl OpenOptions {
    /// The default batch size.
    pub const DEFAULT_BATCH_SIZE: usize = 8192;
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            batch_size: Self::DEFAULT_BATCH_SIZE,
            projection: None,
        }
    }
}

/// Opens the file `config` describes (its path relative to `base_dir`) for streaming.
///
/// Reads only what is needed to know the schema (Parquet and Arrow footers, the CSV header,
/// the first 1,000 JSON lines) and checks the projection; rows are read as the returned
/// iterator is advanced.
pub fn open(config: &FileSourceConfig, base_dir: &Path, options: &OpenOptions) -> Result<FileSource, SourceError> {
    let path = config.resolve_path(base_dir);
    let format = config.resolve_format(base_dir)?;
    if options.batch_size == 0 {
        return Err(SourceError::InvalidOptions {
            path,
            message: "batch_size must be at least 1".to_string(),
        });
    }
    let file = open_file(&path)?;
    let opened = guard(format, &path, || match format {
        FileFormat::Parquet => parquet_file::open(&path, file, options),
        FileFormat::Csv => csv::open(&path, file, &config.csv, options),
        FileFormat::Jsonl => jsonl::open(&path, file, options),
        FileFormat::Arrow => ipc::open(&path, file, options),
    })?;
    Ok(FileSource {
        path,
        format,
        schema: opened.schema,
        total_rows: opened.total_rows,
        batch_size: options.batch_size,
        positions: opened.positions,
        reader: opened.reader,
        pending: None,
        finished: false,
    })
}

/// The file's full schema (every column, in file order), read cheaply: Parquet and Arrow
/// footers or first message, the CSV header (every column `Utf8`), or the first 1,000 JSON
/// lines.
pub fn peek_schema(config: &FileSourceConfig, base_dir: &Path) -> Result<SchemaRef, SourceError> {
    let path = config.resolve_path(base_dir);
    let format = config.resolve_format(base_dir)?;
    let file = open_file(&path)?;
    guard(format, &path, || match format {
        FileFormat::Parquet => parquet_file::schema(&path, file),
        FileFormat::Csv => csv::schema(&path, file, &config.csv),
        FileFormat::Jsonl => jsonl::schema(&path, file),
        FileFormat::Arrow => ipc::schema(&path, file),
    })
}

/// A stream of record batches read from one file. Created by [`open`].
///
/// Yields `Ok` batches of 1 to `batch_size` rows in file order, then `None`; or an `Err`, after
/// which it yields nothing more.
pub struct FileSource {
    path: PathBuf,
    format: FileFormat,
    schema: SchemaRef,
    total_rows: Option<u64>,
    batch_size: usize,
    /// Maps the reader's columns to the output columns, when they differ.
    positions: Option<Vec<usize>>,
    reader: Reader,
    /// A batch (already projected) larger than `batch_size`, handed out in slices.
    pending: Option<RecordBatch>,
    finished: bool,
}

impl FileSource {
    /// The schema of every batch: after projection, in projection order.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// The resolved path of the file, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's format (configured or inferred).
    pub fn format(&self) -> FileFormat {
        self.format
    }

    /// The number of rows in the file when known without reading it: Parquet and the Arrow IPC
    /// file format. `None` for CSV, JSON lines and the Arrow IPC stream format.
    pub fn total_rows(&self) -> Option<u64> {
        self.total_rows
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>, SourceError> {
        loop {
            if let Some(batch) = self.pending.take() {
                let rows = batch.num_rows();
                if rows > self.batch_size {
                    self.pending = Some(batch.slice(self.batch_size, rows - self.batch_size));
                    return Ok(Some(batch.slice(0, self.batch_size)));
                }
                return Ok(Some(batch));
            }
            let (format, path) = (self.format, &self.path);
            let reader = &mut self.reader;
            let Some(batch) = guard(format, path, || reader.next_batch(format, path))? else {
                return Ok(None);
            };
            if batch.num_rows() == 0 {
                continue;
            }
            let batch = match &self.positions {
                Some(positions) => batch
                    .project(positions)
                    .map_err(|e| SourceError::decode(format, path, e.to_string()))?,
                None => batch,
            };
            self.pending = Some(batch);
        }
    }
}

impl Iterator for FileSource {
    type Item = Result<RecordBatch, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        match self.next_batch() {
            Ok(Some(batch)) => Some(Ok(batch)),
            Ok(None) => {
                self.finished = true;
                None
            }
            Err(e) => {
                self.finished = true;
                self.pending = None;
                Some(Err(e))
            }
        }
    }
}

impl fmt::Debug for FileSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileSource")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("schema", &self.schema)
            .field("total_rows", &self.total_rows)
            .field("batch_size", &self.batch_size)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

// `FileSource` must stay `Send`: the host reads on one thread and plans on another.
const _: fn() = || {
    fn assert_send<T: Send>() {}
    assert_send::<FileSource>();
};

/// What a format module hands back from `open`.
pub(crate) struct Opened {
    pub(crate) reader: Reader,
    /// The output schema (after projection and reordering).
    pub(crate) schema: SchemaRef,
    pub(crate) positions: Option<Vec<usize>>,
    pub(crate) total_rows: Option<u64>,
}

/// The format-specific reader behind a [`FileSource`].
pub(crate) enum Reader {
    Parquet(parquet::arrow::arrow_reader::ParquetRecordBatchReader),
    Csv(Box<csv::CsvReader>),
    Jsonl(Box<jsonl::JsonlReader>),
    Ipc(ipc::IpcReader),
}

impl Reader {
    fn next_batch(&mut self, format: FileFormat, path: &Path) -> Result<Option<RecordBatch>, SourceError> {
        match self {
            Reader::Parquet(r) => r.next().transpose().map_err(|e| parquet_file::read_error(path, e)),
            Reader::Csv(r) => r.next().transpose().map_err(|e| csv::error(path, e)),
            Reader::Jsonl(r) => r.next_batch(),
            Reader::Ipc(r) => r.next_batch().map_err(|e| arrow_error(format, path, e)),
        }
    }
}

/// Which file columns a reader must decode, and how to turn its output into the projection.
#[derive(Debug)]
pub(crate) struct Plan {
    /// File column indices to decode, ascending and unique; `None` = all.
    pub(crate) read: Option<Vec<usize>>,
    /// For each output column, its index among the decoded ones; `None` = as decoded.
    pub(crate) positions: Option<Vec<usize>>,
    /// The output schema.
    pub(crate) schema: SchemaRef,
}

impl Plan {
    /// Checks `projection` against `full` and plans the read.
    pub(crate) fn new(path: &Path, full: &SchemaRef, projection: Option<&[String]>) -> Result<Plan, SourceError> {
        let Some(names) = projection else {
            return Ok(Plan {
                read: None,
                positions: None,
                schema: full.clone(),
            });
        };
        let mut wanted = Vec::with_capacity(names.len());
        let mut missing = Vec::new();
        for name in names {
            match full.index_of(name) {
                Ok(i) => wanted.push(i),
                Err(_) => missing.push(name.clone()),
            }
        }
        if !missing.is_empty() {
            return Err(SourceError::MissingColumns {
                path: path.to_path_buf(),
                missing,
                available: full.fields().iter().map(|f| f.name().clone()).collect(),
            });
        }
        let mut read = wanted.clone();
        read.sort_unstable();
        read.dedup();
        let positions: Vec<usize> = wanted.iter().map(|i| read.partition_point(|r| r < i)).collect();
        let identity = positions.iter().enumerate().all(|(n, p)| n == *p);
        let schema = full.project(&wanted).map_err(|e| SourceError::InvalidOptions {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Ok(Plan {
            read: Some(read),
            positions: (!identity).then_some(positions),
            schema: std::sync::Arc::new(schema),
        })
    }

    /// The same plan for a reader that decodes every column: positions index the file schema.
    pub(crate) fn decode_all(self) -> Plan {
        let positions = match (self.read, self.positions) {
            (Some(read), Some(positions)) => Some(positions.iter().map(|p| read[*p]).collect()),
            (Some(read), None) => Some(read),
            (None, positions) => positions,
        };
        Plan {
            read: None,
            positions,
            schema: self.schema,
        }
    }

    /// Output schema for a reader whose batches have `decoded` as schema.
    pub(crate) fn output_schema(&self, decoded: &Schema) -> Result<SchemaRef, ArrowError> {
        match &self.positions {
            Some(positions) => Ok(std::sync::Arc::new(decoded.project(positions)?)),
            None => Ok(std::sync::Arc::new(decoded.clone())),
        }
    }
}

fn open_file(path: &Path) -> Result<File, SourceError> {
    let file = File::open(path).map_err(|e| SourceError::io(path, e))?;
    let meta = file.metadata().map_err(|e| SourceError::io(path, e))?;
    if meta.is_dir() {
        return Err(SourceError::Unreadable {
            path: path.to_path_buf(),
            source: std::io::Error::other("it is a folder, not a file"),
        });
    }
    if meta.len() == 0 {
        return Err(SourceError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    Ok(file)
}

/// Maps an Arrow error of `format`'s reader to a [`SourceError`] about `path`.
pub(crate) fn arrow_error(format: FileFormat, path: &Path, e: ArrowError) -> SourceError {
    match e {
        ArrowError::IoError(_, source) => SourceError::io(path, source),
        ArrowError::ExternalError(inner) => match inner.downcast::<std::io::Error>() {
            Ok(io) => SourceError::io(path, *io),
            Err(inner) => SourceError::decode(format, path, inner.to_string()),
        },
        other => SourceError::decode(format, path, strip_kind(&other.to_string()).to_string()),
    }
}

/// Drops the "Parser error: " style prefix Arrow errors carry; the variant says it already.
pub(crate) fn strip_kind(message: &str) -> &str {
    const PREFIXES: &[&str] = &[
        "Parser error: ",
        "Ipc error: ",
        "Json error: ",
        "Csv error: ",
        "Invalid argument error: ",
        "Schema error: ",
        "Parquet argument error: ",
        "Parquet error: ",
        "Arrow: ",
        "External error: ",
        "Compute error: ",
    ];
    let mut message = message;
    while let Some(rest) = PREFIXES.iter().find_map(|p| message.strip_prefix(p)) {
        message = rest;
    }
    message
}

/// Runs a third-party decoder, turning a panic on a crafted file into an error about the file.
fn guard<T>(format: FileFormat, path: &Path, f: impl FnOnce() -> Result<T, SourceError>) -> Result<T, SourceError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let detail = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown cause".to_string());
            Err(SourceError::decode(
                format,
                path,
                format!("the {format} reader failed on this file ({detail})"),
            ))
        }
    }
}
