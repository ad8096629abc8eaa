//! Triggers: the expression language that picks the events an action acts on. The grammar and
//! the semantics are documented on the crate.

pub(crate) mod eval;
pub(crate) mod lexer;
pub(crate) mod parser;

use std::fmt;

use crate::error::TriggerError;
use crate::event::Event;

/// A parsed trigger, ready to test events.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    source: String,
    expr: parser::Expr,
}

impl Trigger {
    /// Parses `source`; the error carries the 1-based line and column of the problem
    /// (see [`TriggerError::render`]).
    pub fn parse(source: &str) -> Result<Trigger, TriggerError> {
        Ok(Trigger {
            source: source.to_string(),
            expr: parser::parse(source)?,
        })
    }

    /// Whether `event` is one this trigger selects.
    pub fn matches(&self, event: &Event) -> bool {
        eval::matches(&self.expr, event)
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// The trigger an action has when none is configured, as in Segment's destination actions:
/// `type = "track" and event = "<action name>"`, the name quoted and escaped as a trigger
/// string.
pub fn default_trigger(action_name: &str) -> String {
    let mut quoted = String::with_capacity(action_name.len() + 2);
    for c in action_name.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => quoted.push(c),
        }
    }
    format!("type = \"track\" and event = \"{quoted}\"")
}
