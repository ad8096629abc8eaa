//! The one error type of this crate.

use std::fmt;

/// Everything that can go wrong while reading from or writing back to PostgreSQL.
///
/// No variant ever holds the connection URL, the user name from it or the password: only the
/// endpoint (`host:port`) and the name of the environment variable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresError {
    /// The source config is inconsistent (e.g. both `query` and `table`, or neither).
    #[error("invalid PostgreSQL source config: {0}")]
    Config(String),

    /// The environment variable meant to hold the connection URL is not set (or not UTF-8).
    #[error(
        "environment variable `{var}` is not set (or not valid UTF-8); it must hold the PostgreSQL \
         connection URL, e.g. postgres://user:password@host:5432/dbname"
    )]
    MissingEnv {
        /// Name of the variable.
        var: String,
    },

    /// The environment variable does not hold a URL that PostgreSQL clients accept.
    #[error("environment variable `{var}` does not hold a valid PostgreSQL connection URL: {reason}")]
    InvalidUrl {
        /// Name of the variable.
        var: String,
        /// What is wrong (never the URL itself).
        reason: String,
    },

    /// No connection could be made (refused, unreachable, timeout, TLS, unknown database...).
    #[error("cannot connect to PostgreSQL at {endpoint}: {reason}")]
    Connect {
        /// `host:port` (or socket path) tried.
        endpoint: String,
        /// Why, e.g. "Connection refused (os error 111)".
        reason: String,
    },

    /// The server rejected the login (wrong password, unknown user, pg_hba.conf).
    #[error("PostgreSQL at {endpoint} rejected the login: {message}")]
    Auth {
        /// `host:port` tried.
        endpoint: String,
        /// PostgreSQL's message.
        message: String,
    },

    /// PostgreSQL rejected a statement (syntax error, missing table, permission, runtime error).
    #[error("{0}")]
    Query(Box<QueryError>),

    /// A result column has a type this crate cannot turn into Arrow.
    #[error("column `{column}` has type `{type_name}`, which dotsync cannot read; cast it in the query, e.g. `{cast}`")]
    UnsupportedType {
        /// Column name.
        column: String,
        /// PostgreSQL type name.
        type_name: String,
        /// Suggested cast, e.g. `x::text`.
        cast: String,
    },

    /// Projected columns that the query result does not have.
    #[error("column(s) {} not in the query result; available columns: {}", list(.missing), list(.available))]
    MissingColumns {
        /// Requested but absent.
        missing: Vec<String>,
        /// What the query returns.
        available: Vec<String>,
    },

    /// A value could not be decoded (e.g. NaN in a Decimal128 column, a 2-D array).
    #[error("column `{column}`: {reason}")]
    Decode {
        /// Column name.
        column: String,
        /// What is wrong.
        reason: String,
    },

    /// The connection broke or the protocol stream was malformed.
    #[error("PostgreSQL connection failed during {during}: {reason}")]
    Connection {
        /// What was being done.
        during: String,
        /// Why.
        reason: String,
    },

    /// The outcomes handed to [`crate::try_write_back`] could not be read; nothing was written.
    #[error("cannot read the outcomes to write back to {table} (nothing was written): {source}")]
    Outcomes {
        /// The quoted write-back table.
        table: String,
        /// Why the outcomes could not be read.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The client's I/O runtime could not be created.
    #[error("cannot start the PostgreSQL client runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        return "(none)".to_owned();
    }
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

/// PostgreSQL's report of a failed statement (boxed in [`PostgresError::Query`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// What was being done, e.g. "the source query" or "the outcome write-back to ...".
    pub during: String,
    /// PostgreSQL's message.
    pub message: String,
    /// SQLSTATE code, e.g. `42601` for a syntax error.
    pub code: String,
    /// 1-based character position in the configured query, when PostgreSQL gave one.
    pub position: Option<u32>,
    /// PostgreSQL's DETAIL, if any.
    pub detail: Option<String>,
    /// PostgreSQL's HINT, if any.
    pub hint: Option<String>,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PostgreSQL rejected {}: {} (SQLSTATE {}",
            self.during, self.message, self.code
        )?;
        if let Some(p) = self.position {
            write!(f, ", at character {p}")?;
        }
        f.write_str(")")?;
        if let Some(d) = &self.detail {
            write!(f, "; DETAIL: {d}")?;
        }
        if let Some(h) = &self.hint {
            write!(f, "; HINT: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for QueryError {}
