//! The one error type of this crate. Every message names the file it is about.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::FileFormat;

/// How many available column names a [`SourceError::MissingColumns`] message lists before it
/// says "and N more".
const MAX_LISTED_COLUMNS: usize = 50;

/// Everything that can go wrong while opening or reading a source file.
///
/// Every variant carries the resolved path of the file and its message starts with (or, for
/// [`SourceError::NotFound`], ends with) that path, so a message can be shown to the user as it
/// is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The file does not exist.
    #[error("file not found: {}", .path.display())]
    NotFound {
        /// The resolved path.
        path: PathBuf,
    },

    /// The file exists but could not be opened or read (permissions, a folder, an IO error).
    #[error("{}: cannot read the file: {source}", .path.display())]
    Unreadable {
        /// The resolved path.
        path: PathBuf,
        /// The underlying IO error.
        source: std::io::Error,
    },

    /// No `format` was configured and the extension does not name a known one.
    #[error("{}: {}", .path.display(), unknown_format_message(.extension.as_deref()))]
    UnknownFormat {
        /// The resolved path.
        path: PathBuf,
        /// The file's extension, if it has one.
        extension: Option<String>,
    },

    /// The file has no content at all (0 bytes, or a JSON lines file with only blank lines, or
    /// a CSV file without even a header).
    #[error("{}: the file is empty", .path.display())]
    EmptyFile {
        /// The resolved path.
        path: PathBuf,
    },

    /// The file is not a readable Parquet file (bad magic, corrupt footer or pages,
    /// unsupported encoding or compression).
    #[error("{}: not a valid Parquet file: {message}", .path.display())]
    Parquet {
        /// The resolved path.
        path: PathBuf,
        /// What the Parquet reader reported.
        message: String,
    },

    /// The file is not a readable Arrow IPC file or stream.
    #[error("{}: not a valid Arrow IPC file: {message}", .path.display())]
    Arrow {
        /// The resolved path.
        path: PathBuf,
        /// What the IPC reader reported.
        message: String,
    },

    /// The CSV file could not be parsed (a row with the wrong number of fields, invalid UTF-8).
    #[error("{}{}: invalid CSV: {message}", .path.display(), at_line(.line))]
    Csv {
        /// The resolved path.
        path: PathBuf,
        /// The 1-based line, counting the header as line 1, when known.
        line: Option<u64>,
        /// What went wrong.
        message: String,
    },

    /// The JSON lines file could not be parsed, or a line does not fit the schema inferred
    /// from the first lines.
    #[error("{}{}: invalid JSON lines: {message}", .path.display(), at_line(.line))]
    Json {
        /// The resolved path.
        path: PathBuf,
        /// The 1-based line number, when known.
        line: Option<u64>,
        /// What went wrong.
        message: String,
    },

    /// Some requested columns are not in the file.
    #[error("{}", missing_columns_message(.path, .missing, .available))]
    MissingColumns {
        /// The resolved path.
        path: PathBuf,
        /// Requested columns the file does not have, in request order.
        missing: Vec<String>,
        /// Every column the file has, in file order.
        available: Vec<String>,
    },

    /// The options or the configuration cannot be used (a zero batch size, a multi-byte CSV
    /// delimiter).
    #[error("{}: {message}", .path.display())]
    InvalidOptions {
        /// The resolved path.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
}

impl SourceError {
    /// The resolved path of the file this error is about.
    pub fn path(&self) -> &Path {
        match self {
            SourceError::NotFound { path }
            | SourceError::Unreadable { path, .. }
            | SourceError::UnknownFormat { path, .. }
            | SourceError::EmptyFile { path }
            | SourceError::Parquet { path, .. }
            | SourceError::Arrow { path, .. }
            | SourceError::Csv { path, .. }
            | SourceError::Json { path, .. }
            | SourceError::MissingColumns { path, .. }
            | SourceError::InvalidOptions { path, .. } => path,
        }
    }

    /// The 1-based line of a CSV or JSON lines error, when known.
    pub fn line(&self) -> Option<u64> {
        match self {
            SourceError::Csv { line, .. } | SourceError::Json { line, .. } => *line,
            _ => None,
        }
    }

    /// The error of the given format's reader for anything that is not an IO error.
    pub(crate) fn decode(format: FileFormat, path: &Path, message: String) -> SourceError {
        let path = path.to_path_buf();
        match format {
            FileFormat::Parquet => SourceError::Parquet { path, message },
            FileFormat::Arrow => SourceError::Arrow { path, message },
            FileFormat::Csv => SourceError::Csv {
                path,
                line: None,
                message,
            },
            FileFormat::Jsonl => SourceError::Json {
                path,
                line: None,
                message,
            },
        }
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> SourceError {
        if source.kind() == std::io::ErrorKind::NotFound {
            SourceError::NotFound {
                path: path.to_path_buf(),
            }
        } else {
            SourceError::Unreadable {
                path: path.to_path_buf(),
                source,
            }
        }
    }
}

fn at_line(line: &Option<u64>) -> String {
    match line {
        Some(line) => format!(", line {line}"),
        None => String::new(),
    }
}

fn unknown_format_message(extension: Option<&str>) -> String {
    let what = match extension {
        Some(ext) => format!("unknown file extension \".{ext}\""),
        None => "the file name has no extension".to_string(),
    };
    format!(
        "{what}, so the format cannot be inferred; supported formats are parquet (.parquet, .pq), \
         csv (.csv), jsonl (.jsonl, .ndjson, .json) and arrow (.arrow, .feather, .ipc, .arrows); \
         set the source's `format` key to one of \"parquet\", \"csv\", \"jsonl\", \"arrow\""
    )
}

/// A name reduced to what "differs only by case or underscores" ignores.
fn loose(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The available column that matches `wanted` up to case and underscores, if exactly one does.
pub(crate) fn close_match<'a>(wanted: &str, available: &'a [String]) -> Option<&'a str> {
    let key = loose(wanted);
    let mut hits = available.iter().filter(|a| loose(a) == key);
    match (hits.next(), hits.next()) {
        (Some(hit), None) => Some(hit.as_str()),
        _ => None,
    }
}

fn quoted_list<'a>(names: impl IntoIterator<Item = &'a String>) -> String {
    names
        .into_iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn missing_columns_message(path: &Path, missing: &[String], available: &[String]) -> String {
    let noun = if missing.len() == 1 { "column" } else { "columns" };
    let mut msg = format!(
        "{}: {noun} not found in the file: {}",
        path.display(),
        quoted_list(missing)
    );
    if available.is_empty() {
        msg.push_str("; the file has no columns");
    } else {
        let _ = write!(
            msg,
            "; available columns: {}",
            quoted_list(available.iter().take(MAX_LISTED_COLUMNS))
        );
        if available.len() > MAX_LISTED_COLUMNS {
            let _ = write!(msg, " and {} more", available.len() - MAX_LISTED_COLUMNS);
        }
    }
    for wanted in missing {
        if let Some(hit) = close_match(wanted, available) {
            let _ = write!(msg, "; did you mean {hit:?} instead of {wanted:?}?");
        }
    }
    msg
}
