//! One Segment-spec event, checked on arrival, and the dotted paths that address its fields.

use std::fmt;

use serde_json::{Map, Value};

use crate::error::TriggerError;
use crate::expr::lexer::{self, TokenKind};

/// The six call types of the Segment spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// A user action, named by `event`, with `properties`.
    Track,
    /// Who the user is: `userId` and `traits`.
    Identify,
    /// A web page view, optionally named by `name`.
    Page,
    /// A mobile screen view, optionally named by `name`.
    Screen,
    /// The user belongs to the account `groupId`, with the group's `traits`.
    Group,
    /// `previousId` and `userId` are the same user.
    Alias,
}

impl EventType {
    /// Every type, in the order error messages list them.
    pub const ALL: [EventType; 6] = [
        EventType::Track,
        EventType::Identify,
        EventType::Page,
        EventType::Screen,
        EventType::Group,
        EventType::Alias,
    ];

    /// The value of the `type` field.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Track => "track",
            EventType::Identify => "identify",
            EventType::Page => "page",
            EventType::Screen => "screen",
            EventType::Group => "group",
            EventType::Alias => "alias",
        }
    }

    /// The type a `type` value names; exact, lowercase, as the spec writes them.
    pub fn from_name(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event: its JSON object as read, its type and the line it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    line: u64,
    event_type: EventType,
    fields: Value,
}

impl Event {
    /// Checks `value` against the rules in the crate documentation ("Reading events") and
    /// keeps it; the error is the message for the user, without the line.
    pub(crate) fn from_json(value: Value, line: u64) -> Result<Event, String> {
        let Value::Object(fields) = value else {
            return Err(format!("expected a JSON object, got {}", describe(&value)));
        };
        let event_type = checked_type(&fields)?;
        for key in ["properties", "traits", "context"] {
            expect_optional(&fields, key, "an object", Value::is_object)?;
        }
        for key in [
            "userId",
            "anonymousId",
            "messageId",
            "timestamp",
            "event",
            "name",
            "previousId",
            "groupId",
        ] {
            expect_optional(&fields, key, "a string", Value::is_string)?;
        }
        if !present(&fields, "userId") && !present(&fields, "anonymousId") {
            return Err(r#"missing "userId" and "anonymousId"; every event needs at least one of them"#.to_string());
        }
        let required = match event_type {
            EventType::Track => Some(("event", r#"the name of the action, e.g. "Order Completed""#)),
            EventType::Alias => Some(("previousId", "the id the user had before")),
            EventType::Group => Some(("groupId", "the id of the account")),
            EventType::Identify | EventType::Page | EventType::Screen => None,
        };
        if let Some((key, meaning)) = required
            && !present(&fields, key)
        {
            let article = if event_type == EventType::Alias { "an" } else { "a" };
            return Err(format!(r#"{article} {event_type} event needs "{key}", {meaning}"#));
        }
        Ok(Event {
            line,
            event_type,
            fields: Value::Object(fields),
        })
    }

    /// The 1-based line of the input the event was read from.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// The event's `type`.
    pub fn event_type(&self) -> EventType {
        self.event_type
    }

    /// The whole event, a JSON object, as read.
    pub fn as_json(&self) -> &Value {
        &self.fields
    }

    /// The value at `path`, if there is one (a JSON `null` is returned as such).
    pub fn get(&self, path: &EventPath) -> Option<&Value> {
        path.resolve(&self.fields)
    }

    /// The string at the top-level field `key`, if it is a string.
    pub(crate) fn text(&self, key: &str) -> Option<&str> {
        self.fields.get(key).and_then(Value::as_str)
    }
}

fn checked_type(fields: &Map<String, Value>) -> Result<EventType, String> {
    // Built only on the error path: this runs for every event.
    let names = || EventType::ALL.map(EventType::as_str).join(", ");
    match fields.get("type") {
        None | Some(Value::Null) => Err(format!(r#"missing "type"; expected one of {}"#, names())),
        Some(value) => value
            .as_str()
            .and_then(EventType::from_name)
            .ok_or_else(|| format!(r#"expected "type" to be one of {}, got {}"#, names(), describe(value))),
    }
}

/// Whether `key` holds something other than null.
fn present(fields: &Map<String, Value>, key: &str) -> bool {
    fields.get(key).is_some_and(|v| !v.is_null())
}

/// `key` is absent, null, or passes `check`.
fn expect_optional(
    fields: &Map<String, Value>,
    key: &str,
    expected: &str,
    check: fn(&Value) -> bool,
) -> Result<(), String> {
    match fields.get(key) {
        Some(value) if !value.is_null() && !check(value) => {
            Err(format!(r#"expected "{key}" to be {expected}, got {}"#, describe(value)))
        }
        _ => Ok(()),
    }
}

/// How an error message shows a JSON value: scalars as JSON (long strings cut), containers by
/// kind.
pub(crate) fn describe(value: &Value) -> String {
    const MAX_CHARS: usize = 60;
    match value {
        Value::Object(_) => "an object".to_string(),
        Value::Array(_) => "an array".to_string(),
        Value::String(text) if text.chars().count() > MAX_CHARS => {
            let cut: String = text.chars().take(MAX_CHARS).collect();
            format!("{:?}...", cut)
        }
        scalar => scalar.to_string(),
    }
}

/// A dotted path into an event, such as `properties.email`, `context.traits.first_name` or
/// ``properties.`Order ID` ``; a segment of digits indexes an array (`properties.products.0.sku`).
/// The grammar is the one triggers use (see the crate documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPath {
    text: String,
    segments: Vec<String>,
}

impl EventPath {
    pub(crate) fn new(text: String, segments: Vec<String>) -> EventPath {
        EventPath { text, segments }
    }

    /// Parses a path, as written in a mapping.
    pub fn parse(text: &str) -> Result<EventPath, TriggerError> {
        let tokens = lexer::tokenize(text)?;
        match tokens.as_slice() {
            [only] => match &only.kind {
                TokenKind::Path(path) => Ok(path.clone()),
                other => Err(TriggerError::at(
                    text,
                    only.start,
                    format!("expected a path such as properties.email, found {}", other.describe()),
                )),
            },
            [] => Err(TriggerError::at(
                text,
                0,
                "expected a path such as properties.email, found nothing".to_string(),
            )),
            [_, second, ..] => Err(TriggerError::at(
                text,
                second.start,
                format!(
                    "expected the path to end, found {}; quote a name that holds spaces with backticks, e.g. properties.`Order ID`",
                    second.kind.describe()
                ),
            )),
        }
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The value at this path inside `root`.
    pub fn resolve<'a>(&self, root: &'a Value) -> Option<&'a Value> {
        self.segments.iter().try_fold(root, |value, segment| match value {
            Value::Object(fields) => fields.get(segment),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|index| items.get(index)),
            _ => None,
        })
    }
}

impl fmt::Display for EventPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
