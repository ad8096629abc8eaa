//! The errors of this crate, one type per concern: reading events, parsing triggers, checking
//! the configuration, and reading audience membership from an event.

use std::fmt::Write as _;

/// Everything that can go wrong while reading events. Every message starts with the name of the
/// input (a file path, or `stdin`), and with the 1-based line when there is one, like
/// `events.jsonl:17: expected "type" to be ...`, so it can be shown to the user as it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The file could not be opened (missing, a folder, no permission).
    #[error("{input}: cannot open the file: {source}")]
    Open {
        /// The path as it was given.
        input: String,
        /// The underlying IO error.
        source: std::io::Error,
    },

    /// Reading failed after the file was opened.
    #[error("{input}:{line}: cannot read: {source}")]
    Io {
        /// The path, or `stdin`.
        input: String,
        /// The line being read when it failed.
        line: u64,
        /// The underlying IO error.
        source: std::io::Error,
    },

    /// A line is not a valid event: not UTF-8, not JSON, not an object, or a field of the
    /// Segment spec that is missing or of the wrong type.
    #[error("{input}:{line}: {message}")]
    InvalidEvent {
        /// The path, or `stdin`.
        input: String,
        /// The 1-based line number.
        line: u64,
        /// What is wrong with the line.
        message: String,
    },

    /// The batch size is 0.
    #[error("{input}: batch_size must be at least 1")]
    ZeroBatchSize {
        /// The path, or `stdin`.
        input: String,
    },
}

impl ReadError {
    /// The 1-based line the error is about, when there is one.
    pub fn line(&self) -> Option<u64> {
        match self {
            ReadError::Io { line, .. } | ReadError::InvalidEvent { line, .. } => Some(*line),
            ReadError::Open { .. } | ReadError::ZeroBatchSize { .. } => None,
        }
    }
}

/// A trigger (or a path) that does not parse. Displays as `trigger:LINE:COLUMN: message`, both
/// 1-based and counted in characters; [`TriggerError::render`] adds the expression with a caret
/// under the position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("trigger:{line}:{column}: {message}")]
pub struct TriggerError {
    /// 1-based line within the expression.
    pub line: usize,
    /// 1-based character column within that line; one past the last character for "end of
    /// input".
    pub column: usize,
    /// What is wrong, and where helpful how to write it instead.
    pub message: String,
}

impl TriggerError {
    /// Builds the error for the character at `offset` (0-based, in characters) of `source`.
    pub(crate) fn at(source: &str, offset: usize, message: String) -> TriggerError {
        let mut line = 1;
        let mut column = 1;
        for character in source.chars().take(offset) {
            if character == '\n' {
                line += 1;
                column = 1;
            } else {
                column += 1;
            }
        }
        TriggerError { line, column, message }
    }

    /// The error message followed by the offending line of `source` and a caret under the
    /// position, e.g.
    ///
    /// ```text
    /// trigger:1:27: expected a value after "=", found end of input
    ///   type = "track" and event =
    ///                             ^
    /// ```
    ///
    /// `source` must be the expression the error came from.
    pub fn render(&self, source: &str) -> String {
        let text = source.lines().nth(self.line.saturating_sub(1)).unwrap_or("");
        // Tabs become one space each so the caret, one column per character, lines up.
        let shown: String = text.chars().map(|c| if c == '\t' { ' ' } else { c }).collect();
        let mut out = self.to_string();
        let _ = write!(out, "\n  {shown}\n  {}^", " ".repeat(self.column.saturating_sub(1)));
        out
    }
}

/// A configuration that cannot be used: a bad trigger, a bad mapping path, no columns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The action's trigger does not parse.
    #[error("{}{error}", if action.is_empty() { String::new() } else { format!("action {action:?}: ") })]
    Trigger {
        /// The action's name; empty when the trigger stands alone (an events source's
        /// `trigger`), so the message does not name an action nobody named.
        action: String,
        /// The parse error, with its position in the trigger.
        error: TriggerError,
    },

    /// A mapping's path does not parse.
    #[error("column {column:?}: invalid path {path:?}: {message}")]
    Path {
        /// The output column.
        column: String,
        /// The path as configured.
        path: String,
        /// What is wrong with it.
        message: String,
    },

    /// The source's fields do not make one selection (no mappings, both `event` and
    /// `trigger`, an audience with mappings...).
    #[error("{0}")]
    Selection(String),

    /// A constant mapping's value does not fit its column's type.
    #[error("column {column:?}: the constant value does not fit the column: {message}")]
    Constant {
        /// The output column.
        column: String,
        /// Why the value does not fit.
        message: String,
    },

    /// Two mappings produce the same column.
    #[error("the column {column:?} is mapped twice")]
    DuplicateColumn {
        /// The column.
        column: String,
    },

    /// The mappings declare no column.
    #[error("the mappings declare no column; map at least one, e.g. email = \"properties.email\"")]
    NoColumns,
}

/// An event that looks like an Engage audience change but cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AudienceError {
    /// Neither an email address nor a user id identifies the contact.
    #[error(
        "line {line}: audience {audience:?}: the event has no email (traits.email, context.traits.email, properties.email) and no userId"
    )]
    NoContact {
        /// The event's line.
        line: u64,
        /// The audience the event is about.
        audience: String,
    },

    /// The membership value is neither a boolean nor "true"/"false".
    #[error("line {line}: audience {audience:?}: expected true or false, got {value}")]
    NotBoolean {
        /// The event's line.
        line: u64,
        /// The audience the event is about.
        audience: String,
        /// The value found, as JSON.
        value: String,
    },

    /// An `Audience Entered` event says false, or an `Audience Exited` event says true.
    #[error("line {line}: audience {audience:?}: the event {event:?} contradicts its value {member}")]
    Contradiction {
        /// The event's line.
        line: u64,
        /// The audience the event is about.
        audience: String,
        /// The event name.
        event: String,
        /// The membership value found in the properties.
        member: bool,
    },
}

impl AudienceError {
    /// The audience the event is about.
    pub fn audience(&self) -> &str {
        match self {
            AudienceError::NoContact { audience, .. }
            | AudienceError::NotBoolean { audience, .. }
            | AudienceError::Contradiction { audience, .. } => audience,
        }
    }
}
