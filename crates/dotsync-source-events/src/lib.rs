//! Event input for dotsync: read [Segment-spec](https://segment.com/docs/connections/spec/)
//! events as JSON lines, pick the ones an action wants with a **trigger**, and map them to
//! typed Arrow [`RecordBatch`](arrow_array::RecordBatch)es, the way Segment's destination
//! actions (such as the Dotdigital destination) take events.
//!
//! The pieces, in the order a host uses them:
//!
//! 1. [`EventSourceConfig`] is a sync's `events` table: where the events come from and what the
//!    sync takes of them. [`EventSourceConfig::compile`] checks it into an [`EventSelection`]:
//!    an action (an `event` name or a `trigger`, and `mappings`, by default the spec's common
//!    fields, [`MappingsConfig::common_fields`]) or an Engage `audience`.
//! 2. [`EventSourceConfig::open`] (or [`open_path`], [`stdin`], [`EventReader::new`] over any
//!    [`std::io::BufRead`]) streams batches of at most `batch_size` [`Event`]s.
//! 3. [`EventRows`] turns both into a sync's rows: [`SelectedRows`] batches, each row with the
//!    line it came from, and the rows the source holds back ([`RefusedRow`]: a value that does
//!    not fit its column, an audience change that cannot be applied or that a later line
//!    supersedes).
//!
//! The parts stand alone too: [`EventActionConfig::compile`] makes an [`EventAction`] (a
//! [`Trigger`] and a [`Mapping`]) whose [`EventAction::apply`] maps a batch of events to a
//! [`MappedBatch`], and [`audience_changes`] reads the Engage audience entries and exits of one
//! event.
//!
//! # What this crate does not do
//!
//! * No network: events come from a file or standard input, not from an HTTP endpoint.
//! * No knowledge of destinations or plugins: the host feeds the mapped batches to a plugin.
//! * No state: it does not remember which events were sent; every run reads its input whole.
//! * No timestamp parsing and no ordering: events are taken in input order, `timestamp` is
//!   only checked to be a string.
//!
//! # Reading events
//!
//! One JSON object per line. Blank lines are skipped (and counted, so line numbers match an
//! editor's); a UTF-8 byte order mark on the first line is skipped. An empty input yields no
//! batch and no error: no events is a normal day for an event stream.
//!
//! Each line is checked against the common fields of the spec:
//!
//! * `type` is one of `track`, `identify`, `page`, `screen`, `group`, `alias` (exact,
//!   lowercase);
//! * `userId` or `anonymousId` is present (every Segment call needs one);
//! * `track` has `event`, `alias` has `previousId`, `group` has `groupId`;
//! * `userId`, `anonymousId`, `messageId`, `timestamp`, `event`, `name`, `previousId`,
//!   `groupId` are strings, and `properties`, `traits`, `context` are objects, when present and
//!   not null.
//!
//! Other fields are kept as they are and can be used in triggers and mappings.
//!
//! **The first bad line ends the stream**, as with the file sources: every event before it
//! is yielded, then a [`ReadError`] naming the input and the line, such as
//! `events.jsonl:17: expected "type" to be one of track, identify, page, screen, group, alias,
//! got "trak"`, then nothing more. A stream that went on past bad lines would silently lose
//! events; stopping lets the user fix the producer and run again.
//!
//! # Triggers
//!
//! A trigger is a boolean expression over one event. Grammar (EBNF; whitespace, including
//! line breaks, separates tokens and is otherwise ignored):
//!
//! ```text
//! trigger    = or ;
//! or         = and , { "or" , and } ;
//! and        = unary , { "and" , unary } ;
//! unary      = "not" , unary | primary ;
//! primary    = "(" , or , ")" | comparison ;
//! comparison = path , ( "exists" | ( "=" | "!=" | "contains" ) , value ) ;
//! value      = string | number | "true" | "false" | "null" ;
//! path       = first , { "." , segment } ;
//! first      = ( letter | "_" | "$" ) , { namechar } | quoted ;
//! segment    = namechar , { namechar } | quoted ;
//! namechar   = letter | digit | "_" | "$" | "-" ;
//! quoted     = "`" , { any character but "`" } , "`" ;
//! string     = '"' , { character | escape } , '"' ;   (* escapes: \" \\ \/ \n \t \r \uXXXX *)
//! number     = JSON number, e.g. 5, -2.5, 1e3 ;
//! ```
//!
//! Precedence: `not` binds tightest, then `and`, then `or`; use parentheses for anything else.
//! Keywords (`and or not contains exists true false null`) are lowercase; a path named like
//! one is written in backticks (`` properties.`not` ``), as is a name with spaces
//! (`` properties.`Order ID` ``). A segment of digits indexes an array
//! (`properties.products.0.sku`). Parentheses and `not` nest at most 64 deep.
//!
//! Examples:
//!
//! ```text
//! type = "track" and event = "Add Contact to List"
//! type = "identify" and (traits.vip = true or traits.plan contains "pro")
//! properties.email exists and not properties.tags contains "test"
//! context.traits.first_name != null and properties.total = 5
//! ```
//!
//! An action without a trigger gets Segment's default, [`default_trigger`]:
//! `type = "track" and event = "<action name>"`.
//!
//! ## Trigger semantics
//!
//! * A path addresses the event's JSON: `type`, `event`, `userId`, `properties.email`,
//!   `context.traits.first_name`, ... A path that leads nowhere is **missing**.
//! * `=` compares **without type coercion**: a string equals a string with the same text, a
//!   number equals a number of the same value (`5 = 5.0`), a boolean equals the same boolean.
//!   So `properties.total = "5"` is false when `total` is the number 5, and
//!   `properties.total = 5` is false when it is the string `"5"`.
//! * Missing and `null` are the same: `properties.x = null` is true when `x` is null or
//!   missing, and `=` with any other value is false for them.
//! * `!=` is exactly `not (... = ...)`: `properties.plan != "free"` is true when `plan` is
//!   missing.
//! * `contains`: on a string, substring of a string value (case-sensitive); on an array, some
//!   element `=` the value; anything else is false.
//! * `exists`: the path is present and not null.
//!
//! A trigger that does not parse is a [`TriggerError`] with the 1-based line and column (in
//! characters): `trigger:1:27: expected a value after "=", found end of input`;
//! [`TriggerError::render`] adds the expression with a caret under that column.
//!
//! # Mappings
//!
//! `mappings` maps output column names to event paths (same path syntax as triggers):
//! `email = "properties.email"` makes a text column; `total = { path = "properties.total", type
//! = "number" }` a typed one ([`ColumnType`]: `text` Utf8, `number` Float64, `integer` Int64,
//! `boolean` Boolean, `json` Utf8 holding JSON text). Types are declared, never inferred from
//! the data, so every batch of a run has the same schema (inferring "Int64 when all integral"
//! would flip a column to Float64 in the batch where a `2.5` first appears). Text columns take
//! numbers and booleans as their JSON text and objects and arrays as JSON text; typed columns
//! also take strings that hold their type (`"12.50"` for number). A missing or null value is a
//! null cell. A value that does not fit (an object in a number column, `"abc"` in an integer
//! one) is a null cell plus a [`ValueProblem`] naming the row, the line and the column, so the
//! host can reject that row alone.
//!
//! # Audiences
//!
//! [`audience_changes`] documents the exact rule for Segment Engage audiences: identify
//! traits and `Audience Entered`/`Audience Exited` track events whose snake_case audience key
//! holds `true` (add to the list) or `false` (remove). An `audience` source makes one row per
//! change of its audience (columns [`AUDIENCE_COLUMNS`]: `email`, `user_id`, `member`); a
//! contact's last change in the input wins, the earlier ones are held back as
//! [`Refusal::Superseded`]. It reads the whole input before its first batch (keeping one small
//! entry per change, not the events); an action streams.

mod action;
mod audience;
mod config;
mod error;
mod event;
mod expr;
mod mapping;
mod reader;
mod rows;

pub use crate::action::EventAction;
pub use crate::audience::{
    AUDIENCE_ENTERED, AUDIENCE_EXITED, AudienceChange, Contact, audience_changes, is_snake_case,
};
pub use crate::config::{BoxedEventReader, EventActionConfig, EventSelection, EventSourceConfig};
pub use crate::error::{AudienceError, ConfigError, ReadError, TriggerError};
pub use crate::event::{Event, EventPath, EventType};
pub use crate::expr::{Trigger, default_trigger};
pub use crate::mapping::{ColumnMapping, ColumnSource, ColumnType, MappedBatch, Mapping, MappingsConfig, ValueProblem};
pub use crate::reader::{EventReader, STDIN_NAME, open_path, stdin};
pub use crate::rows::{AUDIENCE_COLUMNS, EventRows, Refusal, RefusedRow, SelectedRows};
