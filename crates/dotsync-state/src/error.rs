//! The one error type of this crate.

use std::path::{Path, PathBuf};

/// Everything that can go wrong in the state store or the row hasher.
///
/// Messages name the state folder, the column or the row involved, and never contain row values
/// (rows may hold personal data) or configuration values (they may hold secrets).
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Another process (or another [`crate::StateStore`] in this process) holds the state lock.
    #[error("{}", locked_message(dir, *holder_pid, holder_run.as_deref()))]
    Locked {
        /// The state folder.
        dir: PathBuf,
        /// The pid written in the lock file by the holder, when it could be read.
        holder_pid: Option<u32>,
        /// The holder's run as recorded in the run history ("run 17, started ..."), when it
        /// could be read (the database may still be being created by the holder).
        holder_run: Option<String>,
    },
    /// A file system operation on the state folder failed.
    #[error("state folder {}: {what}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// SQLite reported an error.
    #[error("state database {}: {what}: {source}", path.display())]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// The database was written by a newer dotsync.
    #[error(
        "state database {} has schema version {found}, newer than this dotsync supports ({supported}); upgrade dotsync or point it at another state folder",
        path.display()
    )]
    SchemaTooNew {
        /// The database file.
        path: PathBuf,
        /// Version found in `schema_version`.
        found: i64,
        /// Highest version this build knows.
        supported: i64,
    },
    /// A key column given to [`crate::RowHasher::new`] is not in the schema.
    #[error("key column `{column}` is not among the mapped columns ({})", available.join(", "))]
    UnknownKeyColumn {
        /// The missing column.
        column: String,
        /// The columns the schema has.
        available: Vec<String>,
    },
    /// [`crate::RowHasher::new`] was given no key column.
    #[error("no key column given: a sync needs at least one key column")]
    NoKeyColumns,
    /// A key value is null; [`crate::RowHasher::hash_batch`] refuses such rows (see
    /// [`crate::RowHasher::hash_rows`] for the lenient variant).
    #[error("row {row} of the batch has a null key in column `{column}`")]
    NullKey {
        /// The key column holding the null.
        column: String,
        /// Row index within the batch (0-based).
        row: usize,
    },
    /// A batch does not have the schema the hasher was built for.
    #[error("batch schema does not match the hasher's: expected {expected}, got {found}")]
    SchemaMismatch {
        /// The hasher's columns (`name: type`).
        expected: String,
        /// The batch's columns.
        found: String,
    },
    /// Formatting a value of an uncommon Arrow type failed.
    #[error("column `{column}`: cannot format values of type {data_type}: {message}")]
    Format {
        /// The column.
        column: String,
        /// Its Arrow type.
        data_type: String,
        /// Arrow's message.
        message: String,
    },
    /// [`crate::StateStore::finish_run`] or a journal call named an id that does not exist.
    #[error("{what} {id} does not exist in the state database")]
    NotFound {
        /// "run" or "journal entry".
        what: &'static str,
        /// The id.
        id: i64,
    },
    /// `dotsync resolve` named a send that is not in doubt: unknown (never journaled, or its
    /// outcome recorded since), already resolved, or answered by the destination (so it was
    /// sent and cannot be declared not sent).
    #[error("{}", not_in_doubt_message(send_key, *state))]
    NotInDoubt {
        /// The key as given.
        send_key: String,
        /// The journal state of the send, when it has an entry.
        state: Option<&'static str>,
    },
    /// A journal entry cannot move to the requested state.
    #[error("journal entry {id} is {from} and cannot be marked {to}")]
    JournalTransition {
        /// The entry id.
        id: i64,
        /// Its current state.
        from: &'static str,
        /// The requested state.
        to: &'static str,
    },
}

fn not_in_doubt_message(send_key: &str, state: Option<&str>) -> String {
    match state {
        None => format!("no send in doubt has the key `{send_key}` (its outcome may be recorded already)"),
        Some("sent") => format!(
            "the destination answered the send with key `{send_key}`: it was sent and cannot be declared not sent"
        ),
        Some(state) => format!("the send with key `{send_key}` is not in doubt: it is {state}"),
    }
}

fn locked_message(dir: &Path, pid: Option<u32>, run: Option<&str>) -> String {
    let holder = match (pid, run) {
        (Some(pid), Some(run)) => format!(" (pid {pid}, {run})"),
        (Some(pid), None) => format!(" (pid {pid})"),
        (None, Some(run)) => format!(" ({run})"),
        (None, None) => String::new(),
    };
    format!(
        "another dotsync run{holder} holds the state in {} (lock file {}); wait for it to finish",
        dir.display(),
        dir.join(crate::store::LOCK_FILE).display()
    )
}

/// Attaches the database path and a short description to rusqlite results.
pub(crate) trait SqlContext<T> {
    fn ctx(self, path: &Path, what: &'static str) -> Result<T, StateError>;
}

impl<T> SqlContext<T> for Result<T, rusqlite::Error> {
    fn ctx(self, path: &Path, what: &'static str) -> Result<T, StateError> {
        self.map_err(|source| StateError::Sqlite {
            path: path.to_path_buf(),
            what,
            source,
        })
    }
}
