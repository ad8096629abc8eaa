//! Errors: [`ExecutorError`] for setup and region detection, [`SendFailure`] for a request the
//! executor gave up on. Neither ever holds the password or the `Authorization` header.

use std::error::Error as StdError;
use std::fmt;

use dotsync_plugin_sdk::FailureKind;

/// Setting up an executor or talking to the account as a whole went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// The configuration cannot work (bad base URL, zero quota, TLS setup failed).
    #[error("invalid executor configuration: {0}")]
    Config(String),
    /// HTTP 401.
    #[error("the API user `{username}` was refused: wrong username or password (HTTP 401)")]
    Unauthorized { username: String },
    /// HTTP 403: valid user, but not on this host (Dotdigital answers 403 for the wrong region) or
    /// not allowed to use this API.
    #[error(
        "the API user `{username}` is not allowed to use {url} (HTTP 403): wrong region? \
         (or the API user lacks access)"
    )]
    Forbidden { username: String, url: String },
    /// Could not get an answer at all (connection refused, DNS, timeout).
    #[error("cannot reach {url}: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// The server kept answering with retryable errors (429, 5xx) until retries ran out.
    #[error("{url} kept failing: {message}")]
    Unavailable { url: String, message: String },
    /// An answer we cannot use (unexpected status, unparsable body, missing property).
    #[error("unexpected response from {url}: {message}")]
    BadResponse { url: String, message: String },
}

/// The executor gave up on a request: no response the planner should interpret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendFailure {
    /// `NotSent` (provably never reached the server: safe to plan again), `Uncertain` (may have
    /// reached it: effect unknown), `Exhausted` (retryable errors until retries ran out) or
    /// `Cancelled` (given up before it was sent, see [`crate::Executor::send_or_cancel`]).
    pub kind: FailureKind,
    /// Last HTTP status seen, 0 when none.
    pub status: u16,
    pub message: String,
}

impl fmt::Display for SendFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for SendFailure {}

/// An error and its sources, joined with `: ` (reqwest's own message hides the cause).
pub(crate) fn error_chain(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_clear() {
        let e = ExecutorError::Unauthorized {
            username: "apiuser-1@apiconnector.com".into(),
        };
        assert_eq!(
            e.to_string(),
            "the API user `apiuser-1@apiconnector.com` was refused: wrong username or password (HTTP 401)"
        );
        let e = ExecutorError::Forbidden {
            username: "u".into(),
            url: "https://r1-api.dotdigital.com".into(),
        };
        assert!(e.to_string().contains("wrong region?"), "{e}");
        let e = ExecutorError::Unreachable {
            url: "http://127.0.0.1:1".into(),
            source: "connection refused".into(),
        };
        assert_eq!(e.to_string(), "cannot reach http://127.0.0.1:1: connection refused");
    }
}
