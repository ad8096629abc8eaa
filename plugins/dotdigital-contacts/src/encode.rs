//! Rows to import elements: per-row validation and JSON writing straight into a body buffer, with
//! no per-row allocation on the happy path.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::DataType;
use dotdigital_shared::datafield::ValueErrorKind;
use dotdigital_shared::error::shorten;
use dotdigital_shared::{ChannelEnum, DataFieldType, IdentifierKind, InvalidIdentifier, ValueColumn, json};
use dotsync_plugin_sdk::PluginError;
use xxhash_rust::xxh3::xxh3_64;

use crate::config::ChannelSetting;

/// Outcome codes of rows refused before sending.
pub mod codes {
    pub const NULL_KEY: &str = "NullKey";
    pub const DUPLICATE_KEY: &str = "DuplicateKey";
    pub const INVALID_DATA_FIELD_VALUE: &str = "InvalidDataFieldValue";
    pub const DATA_FIELD_VALUE_OVERFLOW: &str = "DataFieldValueOverflow";
    pub const INVALID_ENUM_VALUE: &str = "InvalidEnumValue";
}

/// A mapped data field, resolved against the account's list.
#[derive(Debug, Clone)]
pub struct FieldSpec {
    /// The account's spelling of the field name (the configured one until the pre-flight).
    pub name: String,
    pub column: String,
    pub field_type: DataFieldType,
    /// `,"dataFields":{"NAME":`, to copy before the first field written.
    pub first_json_key: Vec<u8>,
    /// `,"NAME":`, to copy before any later one.
    pub json_key: Vec<u8>,
}

impl FieldSpec {
    pub fn new(name: String, column: String, field_type: DataFieldType) -> Self {
        let mut json_key = vec![b','];
        write_json_key(&mut json_key, &name);
        let mut first_json_key = b",\"dataFields\":{".to_vec();
        first_json_key.extend_from_slice(&json_key[1..]);
        FieldSpec {
            name,
            column,
            field_type,
            first_json_key,
            json_key,
        }
    }
}

/// Everything needed to write contacts, fixed for the run.
#[derive(Debug, Clone)]
pub struct Layout {
    pub key: IdentifierKind,
    /// Identifier columns, the key's first.
    pub identifiers: Vec<(IdentifierKind, String)>,
    pub fields: Vec<FieldSpec>,
    pub channels: Vec<(ChannelEnum, ChannelSetting)>,
    pub clear_nulls: bool,
    /// `{"matchIdentifier":"email","identifiers":{"email":`: everything before the key's value.
    pub prefix: Vec<u8>,
    /// `,"lists":[1,2]}` or `}`: everything after the last channel property.
    pub suffix: Vec<u8>,
}

impl Layout {
    pub fn key_column(&self) -> &str {
        &self.identifiers[0].1
    }
}

/// Writes `"name":` for a JSON object key.
pub fn write_json_key(out: &mut Vec<u8>, name: &str) {
    json::write_str(out, name);
    out.push(b':');
}

/// A row the planner refuses, with its outcome code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: &'static str,
    pub message: String,
}

fn reject(code: &'static str, message: String) -> Rejection {
    Rejection { code, message }
}

enum ChannelColumn {
    Fixed(&'static str),
    Column { name: String, values: StringArray },
}

/// The JSON before a channel property's value, by what the row holds before it.
struct ChannelKeys {
    channel: &'static str,
    /// `,"channelProperties":{"email":{"status":`: the row's first channel property.
    first: Vec<u8>,
    /// `},"sms":{"status":`: the first property of another channel.
    next_channel: Vec<u8>,
    /// `,"status":`: another property of the same channel.
    same_channel: Vec<u8>,
}

impl ChannelKeys {
    fn new(kind: ChannelEnum) -> Self {
        let (channel, property) = kind.json_path();
        let mut same_channel = vec![b','];
        write_json_key(&mut same_channel, property);
        let mut opening = Vec::new();
        write_json_key(&mut opening, channel);
        opening.push(b'{');
        opening.extend_from_slice(&same_channel[1..]);
        let mut first = b",\"channelProperties\":{".to_vec();
        first.extend_from_slice(&opening);
        let mut next_channel = b"},".to_vec();
        next_channel.extend_from_slice(&opening);
        ChannelKeys {
            channel,
            first,
            next_channel,
            same_channel,
        }
    }
}

/// One batch, downcast once, ready to encode row after row.
pub struct BatchEncoder {
    layout: Arc<Layout>,
    identifiers: Vec<StringArray>,
    fields: Vec<ValueColumn>,
    channels: Vec<(ChannelEnum, ChannelKeys, ChannelColumn)>,
    /// Room for a key's match form when it differs from the key as sent.
    match_scratch: String,
    other_text: String,
}

/// The keys of a block of consecutive rows, read ahead of their encoding so that the planner can
/// look all their hashes up at once.
#[derive(Debug, Default)]
pub struct BlockKeys {
    first_row: usize,
    /// Each row's key as sent (normalised), one after the other; empty for a refused key.
    texts: String,
    ends: Vec<u32>,
    /// Each row's [`key_hash`] (0 for a refused key).
    pub hashes: Vec<u64>,
    /// The rows whose key was refused, by offset in the block.
    refused: Vec<(usize, Rejection)>,
}

impl BlockKeys {
    /// The rows the block covers.
    pub fn rows(&self) -> std::ops::Range<usize> {
        self.first_row..self.first_row + self.ends.len()
    }

    /// Row `row`'s key as sent, or why it was refused.
    pub fn key(&self, row: usize) -> Result<&str, &Rejection> {
        let offset = row - self.first_row;
        if let Some((_, rejection)) = self.refused.iter().find(|(at, _)| *at == offset) {
            return Err(rejection);
        }
        let start = if offset == 0 { 0 } else { self.ends[offset - 1] };
        Ok(&self.texts[start as usize..self.ends[offset] as usize])
    }
}

/// The hash two rows' keys are compared by: of the key's match form (emails lower-cased).
pub fn key_hash(match_form: &str) -> u64 {
    xxh3_64(match_form.as_bytes())
}

/// Appends `raw`'s normal form (as sent) to `texts` and returns the hash of its match form.
fn read_key(
    kind: IdentifierKind,
    raw: &str,
    texts: &mut String,
    match_scratch: &mut String,
) -> Result<u64, InvalidIdentifier> {
    let start = texts.len();
    kind.normalize_append(raw, texts)?;
    Ok(key_hash(kind.match_form(&texts[start..], match_scratch)))
}

/// The key hashes of `batch`'s column `key_column` (keys of kind `kind`), for the host's key
/// pre-pass: the hash [`BatchEncoder::read_keys`] gives each key it accepts. Keys are not
/// checked (the check is most of the cost): an invalid key adds a hash that at worst names a
/// key as repeating that is not, which costs a little memory, never a wrong outcome.
pub fn key_hashes(kind: IdentifierKind, key_column: &str, batch: &RecordBatch) -> Result<Vec<u64>, PluginError> {
    let keys = as_utf8(column(batch, key_column)?, key_column)?;
    let (mut text, mut match_scratch) = (String::new(), String::new());
    let mut hashes = Vec::with_capacity(keys.len() - keys.null_count());
    for raw in keys.iter().flatten() {
        text.clear();
        if kind.normalize_unchecked_append(raw, &mut text).is_ok() {
            hashes.push(key_hash(kind.match_form(&text, &mut match_scratch)));
        }
    }
    Ok(hashes)
}

fn column<'b>(batch: &'b RecordBatch, name: &str) -> Result<&'b ArrayRef, PluginError> {
    batch.column_by_name(name).ok_or_else(|| {
        PluginError::fatal(format!(
            "input batch has no column `{name}` (the input contract asks for it)"
        ))
    })
}

fn as_utf8(array: &ArrayRef, name: &str) -> Result<StringArray, PluginError> {
    if array.data_type() == &DataType::Utf8 {
        return Ok(array.as_string::<i32>().clone());
    }
    arrow_cast::cast(array, &DataType::Utf8)
        .map(|cast| cast.as_string::<i32>().clone())
        .map_err(|error| PluginError::fatal(format!("column `{name}` cannot be read as text: {error}")))
}

impl BatchEncoder {
    /// Prepares a batch. A column that does not fit its field is a config error (the pre-flight
    /// check normally catches it first).
    pub fn new(layout: Arc<Layout>, batch: &RecordBatch) -> Result<Self, PluginError> {
        let identifiers = layout
            .identifiers
            .iter()
            .map(|(_, name)| as_utf8(column(batch, name)?, name))
            .collect::<Result<Vec<_>, _>>()?;
        let fields = layout
            .fields
            .iter()
            .map(|spec| {
                ValueColumn::new(spec.field_type, column(batch, &spec.column)?).map_err(|error| {
                    PluginError::config(format!(
                        "data field `{}` from column `{}`: {error}",
                        spec.name, spec.column
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let channels = layout
            .channels
            .iter()
            .map(|(kind, setting)| {
                Ok((
                    *kind,
                    ChannelKeys::new(*kind),
                    match setting {
                        ChannelSetting::Fixed(value) => ChannelColumn::Fixed(value),
                        ChannelSetting::Column(name) => ChannelColumn::Column {
                            name: name.clone(),
                            values: as_utf8(column(batch, name)?, name)?,
                        },
                    },
                ))
            })
            .collect::<Result<Vec<_>, PluginError>>()?;
        Ok(BatchEncoder {
            layout,
            identifiers,
            fields,
            channels,
            match_scratch: String::new(),
            other_text: String::new(),
        })
    }

    /// Reads and validates the keys of rows `rows` into `block` (cleared first).
    pub fn read_keys(&mut self, rows: std::ops::Range<usize>, block: &mut BlockKeys) {
        block.first_row = rows.start;
        block.texts.clear();
        block.ends.clear();
        block.hashes.clear();
        block.refused.clear();
        let layout: &Layout = &self.layout;
        let keys = &self.identifiers[0];
        let key_column = layout.key_column();
        for row in rows {
            let read = if keys.is_null(row) {
                Err(reject(
                    codes::NULL_KEY,
                    format!("column `{key_column}` (the key) is null"),
                ))
            } else {
                let raw = keys.value(row);
                read_key(layout.key, raw, &mut block.texts, &mut self.match_scratch)
                    .map_err(|error| identifier_rejection(layout.key, key_column, raw, error.code, &error.reason))
            };
            match read {
                Ok(hash) => block.hashes.push(hash),
                Err(rejection) => {
                    block.hashes.push(0);
                    block.refused.push((block.ends.len(), rejection));
                }
            }
            block.ends.push(block.texts.len() as u32);
        }
    }

    /// Validates row `row`, whose key (normalised) is `key`, and appends its import element to
    /// `out`. On rejection `out` is left as it was.
    pub fn encode_row(&mut self, row: usize, key: &str, out: &mut Vec<u8>) -> Result<(), Rejection> {
        let start = out.len();
        let result = self.write_row(row, key, out);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn write_row(&mut self, row: usize, key: &str, out: &mut Vec<u8>) -> Result<(), Rejection> {
        let BatchEncoder {
            layout,
            identifiers,
            fields,
            channels,
            other_text,
            ..
        } = self;
        let layout: &Layout = layout;
        out.extend_from_slice(&layout.prefix);
        write_identifier_value(layout.key, key, out);
        for ((kind, name), values) in layout.identifiers.iter().zip(identifiers.iter()).skip(1) {
            if values.is_null(row) {
                continue;
            }
            let raw = values.value(row);
            kind.normalize_into(raw, other_text)
                .map_err(|error| identifier_rejection(*kind, name, raw, error.code, &error.reason))?;
            out.push(b',');
            write_json_key(out, kind.api_name());
            write_identifier_value(*kind, other_text, out);
        }
        out.push(b'}');

        // Data fields.
        let mut open = false;
        for (spec, values) in layout.fields.iter().zip(fields.iter()) {
            let mark = out.len();
            out.extend_from_slice(if open { &spec.json_key } else { &spec.first_json_key });
            let written = values.write_json(row, out).map_err(|error| {
                let code = match error.kind {
                    ValueErrorKind::Invalid => codes::INVALID_DATA_FIELD_VALUE,
                    ValueErrorKind::Overflow => codes::DATA_FIELD_VALUE_OVERFLOW,
                };
                reject(
                    code,
                    format!(
                        "data field `{}` ({}) from column `{}`: {}",
                        spec.name, spec.field_type, spec.column, error.reason
                    ),
                )
            })?;
            if written {
                open = true;
            } else if layout.clear_nulls {
                out.extend_from_slice(b"null");
                open = true;
            } else {
                out.truncate(mark);
            }
        }
        if open {
            out.push(b'}');
        }

        // Channel properties, grouped by channel (the config lists email ones before sms).
        let mut channel_open: Option<&'static str> = None;
        for (kind, keys, source) in channels.iter() {
            let value = match source {
                ChannelColumn::Fixed(value) => *value,
                ChannelColumn::Column { values, .. } if values.is_null(row) => continue,
                ChannelColumn::Column { name, values } => kind
                    .parse_or_reason(values.value(row))
                    .map_err(|reason| reject(codes::INVALID_ENUM_VALUE, format!("column `{name}`: {reason}")))?,
            };
            out.extend_from_slice(match channel_open {
                None => &keys.first,
                Some(open) if open != keys.channel => &keys.next_channel,
                Some(_) => &keys.same_channel,
            });
            channel_open = Some(keys.channel);
            json::write_str(out, value);
        }
        if channel_open.is_some() {
            out.extend_from_slice(b"}}");
        }

        out.extend_from_slice(&layout.suffix);
        Ok(())
    }
}

fn identifier_rejection(kind: IdentifierKind, column: &str, raw: &str, code: &'static str, reason: &str) -> Rejection {
    let what = match kind {
        IdentifierKind::Email => "a valid email address",
        IdentifierKind::MobileNumber => "a valid E.164 mobile number",
        IdentifierKind::ContactId => "a valid contact id",
    };
    reject(
        code,
        format!("column `{column}`: `{}` is not {what}: it {reason}", shorten(raw, 80)),
    )
}

fn write_identifier_value(kind: IdentifierKind, value: &str, out: &mut Vec<u8>) {
    if kind == IdentifierKind::ContactId {
        // Normalised to digits: a JSON number.
        out.extend_from_slice(value.as_bytes());
    } else {
        json::write_str(out, value);
    }
}
