//! [`RunError`]: why a run cannot go on, with a [`RunErrorKind`] the CLI maps to its exit code.

use std::path::PathBuf;

use arrow_schema::DataType;
use dotsync_executor::ExecutorError;

use crate::config::ConfigErrors;
use crate::source::SourceError;

/// The broad class of a [`RunError`]. Every kind stops the run; the CLI exits with status 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunErrorKind {
    /// The config file, or a plugin's config, is wrong.
    Config,
    /// The destination refused the credentials, or the region is wrong.
    Auth,
    /// The source cannot be read, lacks a column, or has a column of an impossible type.
    Source,
    /// A plugin or the host failed in a way that stops the run.
    Plugin,
    /// A file could not be written, or the API could not be reached.
    Io,
    /// The state folder is locked by another run, or its database cannot be used.
    State,
}

/// Why a run cannot go on. Every message names the sync and, as applicable, the file, column or
/// config path. No message holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Problems in the config file (each located `file:line:column`).
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// `only_sync` names no sync of the config.
    #[error("no sync named {name:?}; the config has: {}", quoted(.available))]
    UnknownSync { name: String, available: Vec<String> },
    /// The plugin refused its config when created, or reported a config error while running
    /// (an unknown list, a missing data field).
    #[error("sync {sync:?}: plugin `{plugin}`: {message}")]
    PluginConfig {
        sync: String,
        plugin: String,
        message: String,
    },
    /// The destination refused us as a whole.
    #[error("{}{message}", sync_prefix(.sync))]
    Auth { sync: Option<String>, message: String },
    /// The source cannot be opened or read, lacks a column the plugin needs, or (PostgreSQL)
    /// the outcomes could not be written back. Never holds a connection URL or password.
    #[error("sync {sync:?}: {source}")]
    Source {
        sync: String,
        #[source]
        source: SourceError,
    },
    /// A source column cannot be cast to the type the plugin needs.
    #[error(transparent)]
    Cast(Box<CastError>),
    /// The plugin or the host failed in a way that stops the run.
    #[error("sync {sync:?}: plugin `{plugin}`: {message}")]
    Plugin {
        sync: String,
        plugin: String,
        message: String,
    },
    /// A file could not be written.
    #[error("{}: {message}: {source}", .path.display())]
    Io {
        path: PathBuf,
        message: String,
        #[source]
        source: std::io::Error,
    },
    /// The state store refused or failed (another run holds its lock, the database is unusable).
    #[error("{}{source}", sync_prefix(.sync))]
    State {
        sync: Option<String>,
        #[source]
        source: Box<dotsync_state::StateError>,
    },
    /// Setting up the connection failed (bad base URL, region detection refused or unreachable).
    #[error("connection: {0}")]
    Connection(#[from] ExecutorError),
}

impl RunError {
    pub fn kind(&self) -> RunErrorKind {
        match self {
            RunError::Config(_) | RunError::UnknownSync { .. } | RunError::PluginConfig { .. } => RunErrorKind::Config,
            RunError::Auth { .. } => RunErrorKind::Auth,
            RunError::Source { .. } | RunError::Cast(_) => RunErrorKind::Source,
            RunError::Plugin { .. } => RunErrorKind::Plugin,
            RunError::Io { .. } => RunErrorKind::Io,
            RunError::State { .. } => RunErrorKind::State,
            RunError::Connection(error) => match error {
                ExecutorError::Unauthorized { .. } | ExecutorError::Forbidden { .. } => RunErrorKind::Auth,
                ExecutorError::Config(_) => RunErrorKind::Config,
                _ => RunErrorKind::Io,
            },
        }
    }
}

fn sync_prefix(sync: &Option<String>) -> String {
    match sync {
        Some(sync) => format!("sync {sync:?}: "),
        None => String::new(),
    }
}

fn quoted(names: &[String]) -> String {
    if names.is_empty() {
        return "no syncs".to_owned();
    }
    names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
}

/// A source column whose type cannot be cast to the one the plugin's input contract asks for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "sync {sync:?}: {source_label}: column {column:?} has type {from} in the source, but plugin `{plugin}` needs {to}, and {from} cannot be cast to {to}"
)]
pub struct CastError {
    pub sync: String,
    pub plugin: String,
    /// The source: a file's path, or the PostgreSQL query or table.
    pub source_label: String,
    pub column: String,
    pub from: DataType,
    pub to: DataType,
}
