//! A sync's rows: events read, selected and made into batches, with the rows the source itself
//! refuses (a value that does not fit its column, an audience change that cannot be applied, a
//! change superseded later in the input).

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use crate::audience::{Contact, audience_changes};
use crate::config::{BoxedEventReader, EventSelection};
use crate::error::ReadError;
use crate::expr::Trigger;

/// Why the source holds a row back instead of handing it on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A mapped value does not fit its column (e.g. `"abc"` in an integer column).
    InvalidValue,
    /// An audience change that cannot be applied (no contact, a membership that is not a
    /// boolean, an event contradicting its value).
    InvalidAudienceEvent,
    /// A later event in the input changes the same contact's membership: only the last change
    /// counts.
    Superseded,
}

impl Refusal {
    /// The outcome code a host reports for the row.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::InvalidValue => "InvalidEventValue",
            Refusal::InvalidAudienceEvent => "InvalidAudienceEvent",
            Refusal::Superseded => "Superseded",
        }
    }
}

/// A row of a [`SelectedRows`] batch that the source holds back, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedRow {
    /// The row in the batch (0-based).
    pub row: usize,
    /// Why.
    pub refusal: Refusal,
    /// For the user, starting with the event's line, e.g. `line 7: column "total": expected a
    /// number, got "abc"`.
    pub message: String,
}

/// One batch of rows, never empty: a row per selected event (or audience change), the line each
/// came from, and the rows held back.
#[derive(Debug, Clone)]
pub struct SelectedRows {
    /// The rows, with the selection's schema.
    pub batch: RecordBatch,
    /// The input line of each row.
    pub lines: Vec<u64>,
    /// Rows held back, in row order.
    pub refused: Vec<RefusedRow>,
}

/// The columns of an audience source, in order.
pub const AUDIENCE_COLUMNS: [&str; 3] = ["email", "user_id", "member"];

/// The rows of an events source: an iterator of [`SelectedRows`], ending with the reader's
/// error if the input has a bad line (rows before it come first).
///
/// An action streams: one batch of events in memory at a time. An audience reads the whole
/// input before its first batch, because a contact's last change anywhere in the input is the
/// one that counts; it keeps one small entry per change of that audience, not the events.
pub struct EventRows {
    reader: BoxedEventReader,
    batch_size: usize,
    mode: Mode,
}

enum Mode {
    Action(crate::action::EventAction),
    Audience {
        audience: String,
        trigger: Option<Trigger>,
        /// Filled on the first call: the rows still to hand out.
        pending: Option<std::vec::IntoIter<AudienceRow>>,
        /// The reader's error, handed out after the rows read before it.
        error: Option<ReadError>,
    },
}

impl EventRows {
    /// Rows of `selection` from `reader`, at most `batch_size` per batch.
    pub fn new(reader: BoxedEventReader, selection: EventSelection, batch_size: usize) -> EventRows {
        let mode = match selection {
            EventSelection::Action(action) => Mode::Action(action),
            EventSelection::Audience { audience, trigger } => Mode::Audience {
                audience,
                trigger,
                pending: None,
                error: None,
            },
        };
        EventRows {
            reader,
            batch_size: batch_size.max(1),
            mode,
        }
    }

    /// The schema of every batch.
    pub fn schema(&self) -> SchemaRef {
        match &self.mode {
            Mode::Action(action) => action.schema().clone(),
            Mode::Audience { .. } => audience_schema(),
        }
    }

    /// The input's name, as errors show it (a path, or `stdin`).
    pub fn input_name(&self) -> &str {
        self.reader.name()
    }
}

impl Iterator for EventRows {
    type Item = Result<SelectedRows, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.mode {
            Mode::Action(action) => loop {
                let events = match self.reader.next()? {
                    Ok(events) => events,
                    Err(error) => return Some(Err(error)),
                };
                let mapped = action.apply(&events);
                if mapped.batch.num_rows() == 0 {
                    continue;
                }
                let mut refused: Vec<RefusedRow> = Vec::new();
                for problem in mapped.problems {
                    match refused.last_mut() {
                        Some(last) if last.row == problem.row => {
                            last.message
                                .push_str(&format!("; column {:?}: {}", problem.column, problem.message));
                        }
                        _ => refused.push(RefusedRow {
                            row: problem.row,
                            refusal: Refusal::InvalidValue,
                            message: problem.to_string(),
                        }),
                    }
                }
                return Some(Ok(SelectedRows {
                    batch: mapped.batch,
                    lines: mapped.lines,
                    refused,
                }));
            },
            Mode::Audience {
                audience,
                trigger,
                pending,
                error,
            } => {
                let rows = pending.get_or_insert_with(|| {
                    let (rows, read_error) = collect_audience(&mut self.reader, audience, trigger.as_ref());
                    *error = read_error;
                    rows.into_iter()
                });
                let chunk: Vec<AudienceRow> = rows.take(self.batch_size).collect();
                if chunk.is_empty() {
                    return error.take().map(Err);
                }
                Some(Ok(audience_batch(chunk)))
            }
        }
    }
}

/// One audience change as a row; `member` is `None` for a change that cannot be applied.
struct AudienceRow {
    email: Option<String>,
    user_id: Option<String>,
    member: Option<bool>,
    line: u64,
    refused: Option<(Refusal, String)>,
}

fn audience_schema() -> SchemaRef {
    let [email, user_id, member] = AUDIENCE_COLUMNS;
    Arc::new(Schema::new(vec![
        Field::new(email, DataType::Utf8, true),
        Field::new(user_id, DataType::Utf8, true),
        Field::new(member, DataType::Boolean, true),
    ]))
}

/// Every change of `audience` in the input, in order, the superseded ones marked; and the read
/// error that ended the input early, if any.
fn collect_audience(
    reader: &mut BoxedEventReader,
    audience: &str,
    trigger: Option<&Trigger>,
) -> (Vec<AudienceRow>, Option<ReadError>) {
    let mut rows: Vec<AudienceRow> = Vec::new();
    // Contact -> its latest row. Emails compare without case, as Dotdigital's do.
    let mut latest: HashMap<String, usize> = HashMap::new();
    let mut read_error = None;
    for events in reader.by_ref() {
        let events = match events {
            Ok(events) => events,
            Err(error) => {
                read_error = Some(error);
                break;
            }
        };
        for event in events.iter().filter(|event| trigger.is_none_or(|t| t.matches(event))) {
            let user_id = event.text("userId").map(str::to_owned);
            match audience_changes(event) {
                Ok(changes) => {
                    for change in changes.into_iter().filter(|change| change.audience == audience) {
                        let (who, email) = match change.contact {
                            Contact::Email(email) => (format!("email:{}", email.to_lowercase()), Some(email)),
                            Contact::UserId(id) => (format!("user:{id}"), None),
                        };
                        if let Some(earlier) = latest.insert(who, rows.len()) {
                            rows[earlier].refused = Some((
                                Refusal::Superseded,
                                format!(
                                    "line {}: the same contact's membership of {audience:?} changes again on line {}; \
                                     only the last change is applied",
                                    rows[earlier].line,
                                    event.line()
                                ),
                            ));
                        }
                        rows.push(AudienceRow {
                            email,
                            user_id: user_id.clone(),
                            member: Some(change.member),
                            line: event.line(),
                            refused: None,
                        });
                    }
                }
                Err(error) if error.audience() == audience => rows.push(AudienceRow {
                    email: None,
                    user_id,
                    member: None,
                    line: event.line(),
                    refused: Some((Refusal::InvalidAudienceEvent, error.to_string())),
                }),
                Err(_) => {}
            }
        }
    }
    (rows, read_error)
}

fn audience_batch(chunk: Vec<AudienceRow>) -> SelectedRows {
    let mut emails = StringBuilder::new();
    let mut user_ids = StringBuilder::new();
    let mut members = BooleanBuilder::new();
    let mut lines = Vec::with_capacity(chunk.len());
    let mut refused = Vec::new();
    for (row, change) in chunk.into_iter().enumerate() {
        emails.append_option(change.email);
        user_ids.append_option(change.user_id);
        members.append_option(change.member);
        lines.push(change.line);
        if let Some((refusal, message)) = change.refused {
            refused.push(RefusedRow { row, refusal, message });
        }
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(emails.finish()),
        Arc::new(user_ids.finish()),
        Arc::new(members.finish()),
    ];
    let batch = RecordBatch::try_new(audience_schema(), columns)
        .expect("three columns built for the audience schema, one value per change each");
    SelectedRows { batch, lines, refused }
}
