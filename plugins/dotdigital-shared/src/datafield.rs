//! Contact data fields (dotdigital-api.md §6): the account's field list, the four field types,
//! which Arrow column types fit each, and the per-row conversion of Arrow values to the JSON the
//! API wants, written straight into a request body.

use std::fmt;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Int64Type, UInt64Type};
use arrow_array::{Array, ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, StringArray, UInt64Array};
use arrow_schema::{DataType, TimeUnit};
use serde::Deserialize;

use crate::json;

/// Longest value a String data field takes (`ERROR_DATAFIELD_VALUE_OVERFLOW` beyond it).
pub const MAX_STRING_CHARS: usize = 255;

/// The type of a data field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataFieldType {
    String,
    Numeric,
    Date,
    Boolean,
}

impl DataFieldType {
    /// Reads the API's type name, without regard to case.
    pub fn parse(name: &str) -> Option<Self> {
        [
            DataFieldType::String,
            DataFieldType::Numeric,
            DataFieldType::Date,
            DataFieldType::Boolean,
        ]
        .into_iter()
        .find(|kind| kind.as_str().eq_ignore_ascii_case(name.trim()))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DataFieldType::String => "String",
            DataFieldType::Numeric => "Numeric",
            DataFieldType::Date => "Date",
            DataFieldType::Boolean => "Boolean",
        }
    }

    /// Whether a column of this Arrow type can feed a field of this type. String columns fit every
    /// field type (each value is checked per row); `Null` (an all-null column) fits everything.
    pub fn accepts(self, data_type: &DataType) -> bool {
        let data_type = match data_type {
            DataType::Dictionary(_, values) => values.as_ref(),
            other => other,
        };
        if matches!(
            data_type,
            DataType::Null | DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        ) {
            return true;
        }
        match self {
            DataFieldType::String => {
                !data_type.is_nested()
                    && !matches!(
                        data_type,
                        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_)
                    )
                    && arrow_cast::can_cast_types(data_type, &DataType::Utf8)
            }
            DataFieldType::Numeric => data_type.is_numeric(),
            DataFieldType::Date => matches!(
                data_type,
                DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _)
            ),
            DataFieldType::Boolean => data_type.is_integer() || matches!(data_type, DataType::Boolean),
        }
    }

    /// The column types this field type takes, for error messages.
    pub fn accepted_types(self) -> &'static str {
        match self {
            DataFieldType::String => "any scalar column (text, numbers, booleans, dates)",
            DataFieldType::Numeric => "integer, float or decimal columns, or text holding numbers",
            DataFieldType::Date => "Date32, Date64 or Timestamp columns, or text holding ISO-8601 dates",
            DataFieldType::Boolean => "boolean columns, 0/1 integers, or text holding true/false, yes/no, 1/0",
        }
    }
}

impl fmt::Display for DataFieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of `GET /v2/data-fields`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataField {
    pub name: String,
    /// The type as the API spells it; see [`DataField::field_type`].
    #[serde(rename = "type")]
    pub type_name: String,
    #[serde(default)]
    pub visibility: Option<String>,
    #[serde(default)]
    pub default_value: Option<serde_json::Value>,
}

impl DataField {
    /// The field's type, or `None` for a type this crate does not know.
    pub fn field_type(&self) -> Option<DataFieldType> {
        DataFieldType::parse(&self.type_name)
    }
}

/// Parses the body of `GET /v2/data-fields` (a bare JSON array).
pub fn parse_data_fields(body: &[u8]) -> Result<Vec<DataField>, serde_json::Error> {
    serde_json::from_slice(body)
}

/// A configured data field (config name → source column) matched to the account's field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedField {
    /// The account's spelling of the name.
    pub name: String,
    pub column: String,
    pub field_type: DataFieldType,
}

/// Matches a config's `data_fields` (field name → column) to the account's fields, names without
/// regard to case. The error names every unknown field with the ones available, or the fields of
/// types this crate cannot write: a config error shown before any write.
pub fn resolve_mapping(
    mapping: &std::collections::BTreeMap<String, String>,
    fields: &[DataField],
) -> Result<Vec<MappedField>, String> {
    let mut mapped = Vec::new();
    let mut unknown = Vec::new();
    let mut untyped = Vec::new();
    for (name, column) in mapping {
        match fields.iter().find(|field| field.name.eq_ignore_ascii_case(name.trim())) {
            None => unknown.push(format!("`{name}`")),
            Some(field) => match field.field_type() {
                None => untyped.push(format!("`{}` has type `{}`", field.name, field.type_name)),
                Some(field_type) => mapped.push(MappedField {
                    name: field.name.clone(),
                    column: column.clone(),
                    field_type,
                }),
            },
        }
    }
    if !unknown.is_empty() {
        let mut available: Vec<&str> = fields.iter().map(|field| field.name.as_str()).collect();
        available.sort_unstable();
        return Err(format!(
            "`data_fields` names {} that the Dotdigital account does not have: {}. Available data fields: {}",
            if unknown.len() == 1 { "a field" } else { "fields" },
            unknown.join(", "),
            if available.is_empty() {
                "(none)".to_owned()
            } else {
                available.join(", ")
            }
        ));
    }
    if !untyped.is_empty() {
        return Err(format!(
            "data fields of unknown types cannot be written: {}",
            untyped.join(", ")
        ));
    }
    Ok(mapped)
}

/// Checks that every mapped column present in `schema` fits its field's type; the error lists
/// every misfit.
pub fn check_column_types(mapped: &[MappedField], schema: &arrow_schema::Schema) -> Result<(), String> {
    let problems: Vec<String> = mapped
        .iter()
        .filter_map(|field| {
            let column = schema.field_with_name(&field.column).ok()?;
            (!field.field_type.accepts(column.data_type())).then(|| {
                format!(
                    "data field `{}` is a {} field but column `{}` is {}; a {} field takes {}",
                    field.name,
                    field.field_type,
                    field.column,
                    column.data_type(),
                    field.field_type,
                    field.field_type.accepted_types()
                )
            })
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// Why one value could not be converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueErrorKind {
    /// The value does not convert to the field's type.
    Invalid,
    /// The value is too long for the field (`ERROR_DATAFIELD_VALUE_OVERFLOW`).
    Overflow,
}

/// A value that cannot be sent, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError {
    pub kind: ValueErrorKind,
    /// E.g. "`abc` is not a number".
    pub reason: String,
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

fn invalid(reason: String) -> ValueError {
    ValueError {
        kind: ValueErrorKind::Invalid,
        reason,
    }
}

/// A column of one batch made ready to feed one data field: downcast once, then converted per row.
#[derive(Debug, Clone)]
pub struct ValueColumn {
    field_type: DataFieldType,
    column: Column,
    /// Whether any value is null: most columns have none, and then no row's bit is read.
    has_nulls: bool,
}

#[derive(Debug, Clone)]
enum Column {
    Null,
    Bool(BooleanArray),
    Int(Int64Array),
    UInt(UInt64Array),
    Float(Float64Array),
    /// Text, also decimals (as their exact decimal text) and anything shown as text.
    Str(StringArray),
    Date32(Date32Array),
    /// Instants as integers of `1/per_second` seconds since the epoch, UTC.
    Instant {
        values: Int64Array,
        per_second: i64,
    },
}

impl Column {
    /// The values, or `None` for a column of nulls only.
    fn as_array(&self) -> Option<&dyn Array> {
        Some(match self {
            Column::Null => return None,
            Column::Bool(a) => a,
            Column::Int(a) => a,
            Column::UInt(a) => a,
            Column::Float(a) => a,
            Column::Str(a) => a,
            Column::Date32(a) => a,
            Column::Instant { values, .. } => values,
        })
    }
}

/// A column that cannot feed a field of some type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {field_type} data field cannot take a {data_type} column; it takes {}", field_type.accepted_types())]
pub struct TypeMismatch {
    pub field_type: DataFieldType,
    pub data_type: String,
}

fn cast(array: &ArrayRef, to: &DataType) -> Result<ArrayRef, TypeMismatch> {
    arrow_cast::cast(array, to).map_err(|_| TypeMismatch {
        field_type: DataFieldType::String,
        data_type: array.data_type().to_string(),
    })
}

impl ValueColumn {
    /// Prepares `array` to feed a field of `field_type`, or says why it cannot.
    pub fn new(field_type: DataFieldType, array: &ArrayRef) -> Result<Self, TypeMismatch> {
        let mismatch = || TypeMismatch {
            field_type,
            data_type: array.data_type().to_string(),
        };
        if !field_type.accepts(array.data_type()) {
            return Err(mismatch());
        }
        let mut array = array.clone();
        if let DataType::Dictionary(_, values) = array.data_type() {
            let values = values.as_ref().clone();
            array = cast(&array, &values).map_err(|_| mismatch())?;
        }
        let data_type = array.data_type().clone();
        let column = match (&data_type, field_type) {
            (DataType::Null, _) => Column::Null,
            (DataType::Utf8, _) => Column::Str(array.as_string::<i32>().clone()),
            (DataType::LargeUtf8 | DataType::Utf8View, _) | (_, DataFieldType::String) => Column::Str(
                cast(&array, &DataType::Utf8)
                    .map_err(|_| mismatch())?
                    .as_string::<i32>()
                    .clone(),
            ),
            (DataType::Boolean, _) => Column::Bool(array.as_boolean().clone()),
            (DataType::Date32, _) => Column::Date32(array.as_primitive::<Date32Type>().clone()),
            (DataType::Date64, _) => Column::Instant {
                values: cast(&array, &DataType::Int64)
                    .map_err(|_| mismatch())?
                    .as_primitive::<Int64Type>()
                    .clone(),
                per_second: 1000,
            },
            (DataType::Timestamp(unit, _), _) => Column::Instant {
                values: cast(&array, &DataType::Int64)
                    .map_err(|_| mismatch())?
                    .as_primitive::<Int64Type>()
                    .clone(),
                per_second: match unit {
                    TimeUnit::Second => 1,
                    TimeUnit::Millisecond => 1_000,
                    TimeUnit::Microsecond => 1_000_000,
                    TimeUnit::Nanosecond => 1_000_000_000,
                },
            },
            (DataType::UInt64, _) => Column::UInt(array.as_primitive::<UInt64Type>().clone()),
            (dt, _) if dt.is_integer() => Column::Int(
                cast(&array, &DataType::Int64)
                    .map_err(|_| mismatch())?
                    .as_primitive::<Int64Type>()
                    .clone(),
            ),
            (dt, _) if dt.is_floating() => Column::Float(
                cast(&array, &DataType::Float64)
                    .map_err(|_| mismatch())?
                    .as_primitive::<arrow_array::types::Float64Type>()
                    .clone(),
            ),
            // Decimals: their exact text, checked and written as a JSON number.
            (dt, _) if dt.is_numeric() => Column::Str(
                cast(&array, &DataType::Utf8)
                    .map_err(|_| mismatch())?
                    .as_string::<i32>()
                    .clone(),
            ),
            _ => return Err(mismatch()),
        };
        // Of the converted column: a safe cast turns a value it cannot convert into a null.
        let has_nulls = column.as_array().is_none_or(|values| values.logical_null_count() > 0);
        Ok(ValueColumn {
            field_type,
            column,
            has_nulls,
        })
    }

    pub fn field_type(&self) -> DataFieldType {
        self.field_type
    }

    /// Whether the value at `row` is null (and would be omitted or cleared).
    pub fn is_null(&self, row: usize) -> bool {
        if !self.has_nulls {
            return matches!(self.column, Column::Null);
        }
        match &self.column {
            Column::Null => true,
            Column::Bool(a) => a.is_null(row),
            Column::Int(a) => a.is_null(row),
            Column::UInt(a) => a.is_null(row),
            Column::Float(a) => a.is_null(row),
            Column::Str(a) => a.is_null(row),
            Column::Date32(a) => a.is_null(row),
            Column::Instant { values, .. } => values.is_null(row),
        }
    }

    /// Appends the JSON value of `row` to `out`. Returns `Ok(false)` and writes nothing when the
    /// value is null (or, for non-String fields, blank text). On error `out` may hold a partial
    /// value: the caller truncates it.
    #[inline]
    pub fn write_json(&self, row: usize, out: &mut Vec<u8>) -> Result<bool, ValueError> {
        if self.is_null(row) {
            return Ok(false);
        }
        match (&self.column, self.field_type) {
            (Column::Null, _) => Ok(false),
            (Column::Str(a), kind) => write_text(kind, a.value(row), out),
            (Column::Bool(a), DataFieldType::Boolean) => {
                out.extend_from_slice(if a.value(row) { b"true" } else { b"false" });
                Ok(true)
            }
            (Column::Int(a), DataFieldType::Numeric) => {
                json::write_i64(out, a.value(row));
                Ok(true)
            }
            (Column::UInt(a), DataFieldType::Numeric) => {
                json::write_u64(out, a.value(row));
                Ok(true)
            }
            (Column::Float(a), DataFieldType::Numeric) => {
                let value = a.value(row);
                if !value.is_finite() {
                    return Err(invalid(format!("`{value}` is not a finite number")));
                }
                json::write_f64(out, value);
                Ok(true)
            }
            (Column::Int(a), DataFieldType::Boolean) => write_flag(a.value(row) as i128, out),
            (Column::UInt(a), DataFieldType::Boolean) => write_flag(a.value(row) as i128, out),
            (Column::Date32(a), DataFieldType::Date) => {
                write_instant(i64::from(a.value(row)) * 86_400, out)?;
                Ok(true)
            }
            (Column::Instant { values, per_second }, DataFieldType::Date) => {
                write_instant(values.value(row).div_euclid(*per_second), out)?;
                Ok(true)
            }
            // `new` only builds the pairs above.
            (_, kind) => Err(invalid(format!("this column cannot feed a {kind} field"))),
        }
    }
}

fn write_flag(value: i128, out: &mut Vec<u8>) -> Result<bool, ValueError> {
    match value {
        0 => out.extend_from_slice(b"false"),
        1 => out.extend_from_slice(b"true"),
        other => return Err(invalid(format!("`{other}` is not a boolean (expected 0 or 1)"))),
    }
    Ok(true)
}

fn quoted(text: &str) -> String {
    format!("`{}`", crate::error::shorten(text, 60))
}

/// Converts one text value to the JSON a field of `kind` takes and appends it.
pub fn write_text(kind: DataFieldType, text: &str, out: &mut Vec<u8>) -> Result<bool, ValueError> {
    if kind == DataFieldType::String {
        if text.len() > MAX_STRING_CHARS {
            let chars = text.chars().count();
            if chars > MAX_STRING_CHARS {
                return Err(ValueError {
                    kind: ValueErrorKind::Overflow,
                    reason: format!(
                        "the value is {chars} characters long; String data fields take at most {MAX_STRING_CHARS} \
                         (ERROR_DATAFIELD_VALUE_OVERFLOW)"
                    ),
                });
            }
        }
        json::write_str(out, text);
        return Ok(true);
    }
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(false);
    }
    match kind {
        DataFieldType::Numeric => {
            write_number_text(trimmed, out).map_err(|()| invalid(format!("{} is not a number", quoted(text))))?;
        }
        DataFieldType::Boolean => {
            let value = match trimmed.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => true,
                "false" | "no" | "0" => false,
                _ => {
                    return Err(invalid(format!(
                        "{} is not a boolean (expected true/false, yes/no or 1/0)",
                        quoted(text)
                    )));
                }
            };
            out.extend_from_slice(if value { b"true" } else { b"false" });
        }
        DataFieldType::Date => {
            let seconds = parse_date_text(trimmed).ok_or_else(|| {
                invalid(format!(
                    "{} is not a date (expected YYYY-MM-DD or an ISO-8601 date-time)",
                    quoted(text)
                ))
            })?;
            write_instant(seconds, out)?;
        }
        DataFieldType::String => unreachable!("handled above"),
    }
    Ok(true)
}

/// Writes a numeric text as a JSON number: verbatim when it already is one (no precision lost),
/// else through `f64` (`+5`, `.5`, `1.`), refusing non-finite values.
fn write_number_text(text: &str, out: &mut Vec<u8>) -> Result<(), ()> {
    if is_json_number(text.as_bytes()) {
        out.extend_from_slice(text.as_bytes());
        return Ok(());
    }
    let lower = text.to_ascii_lowercase();
    if lower.contains("inf") || lower.contains("nan") {
        return Err(());
    }
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() => {
            json::write_f64(out, value);
            Ok(())
        }
        _ => Err(()),
    }
}

/// The JSON number grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
fn is_json_number(bytes: &[u8]) -> bool {
    let mut i = 0;
    let n = bytes.len();
    if i < n && bytes[i] == b'-' {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < n && bytes[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    let start = i;
    let count = digits(&mut i);
    if count == 0 || (count > 1 && bytes[start] == b'0') {
        return false;
    }
    if i < n && bytes[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if i < n && (bytes[i] == b'e' || bytes[i] == b'E') {
        i += 1;
        if i < n && (bytes[i] == b'+' || bytes[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == n
}

/// Seconds since the epoch (UTC) of an ISO-8601 date or date-time text. A date-time without an
/// offset is taken as UTC; one with an offset is converted to UTC.
pub fn parse_date_text(text: &str) -> Option<i64> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    if text.len() == 10 {
        let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
        return Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp());
    }
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Some(instant.timestamp());
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ] {
        if let Ok(instant) = DateTime::parse_from_str(text, format) {
            return Some(instant.timestamp());
        }
    }
    let naive = text.strip_suffix('Z').unwrap_or(text);
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(instant) = NaiveDateTime::parse_from_str(naive, format) {
            return Some(instant.and_utc().timestamp());
        }
    }
    None
}

/// Appends `"YYYY-MM-DDTHH:MM:SSZ"` for seconds since the epoch (UTC), years 0000–9999.
pub fn write_instant(seconds: i64, out: &mut Vec<u8>) -> Result<(), ValueError> {
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    if !(0..=9999).contains(&year) {
        return Err(invalid(format!("the date is in year {year}, outside 0000–9999")));
    }
    let (h, m, s) = (second_of_day / 3600, second_of_day / 60 % 60, second_of_day % 60);
    let mut buffer = [0u8; 22];
    buffer[0] = b'"';
    buffer[1..3].copy_from_slice(&digit_pair(year as u32 / 100));
    buffer[3..5].copy_from_slice(&digit_pair(year as u32 % 100));
    buffer[5] = b'-';
    buffer[6..8].copy_from_slice(&digit_pair(month));
    buffer[8] = b'-';
    buffer[9..11].copy_from_slice(&digit_pair(day));
    buffer[11] = b'T';
    buffer[12..14].copy_from_slice(&digit_pair(h as u32));
    buffer[14] = b':';
    buffer[15..17].copy_from_slice(&digit_pair(m as u32));
    buffer[17] = b':';
    buffer[18..20].copy_from_slice(&digit_pair(s as u32));
    buffer[20] = b'Z';
    buffer[21] = b'"';
    out.extend_from_slice(&buffer);
    Ok(())
}

/// `00` to `99`, two bytes each: one lookup writes two digits.
const DIGIT_PAIRS: [u8; 200] = {
    let mut pairs = [0u8; 200];
    let mut value = 0;
    while value < 100 {
        pairs[value * 2] = b'0' + (value / 10) as u8;
        pairs[value * 2 + 1] = b'0' + (value % 10) as u8;
        value += 1;
    }
    pairs
};

/// The two digits of `value` (below 100).
fn digit_pair(value: u32) -> [u8; 2] {
    let at = value as usize % 100 * 2;
    [DIGIT_PAIRS[at], DIGIT_PAIRS[at + 1]]
}

/// Proleptic Gregorian (year, month, day) of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A convenience for tests and small callers: the JSON of one value, or `None` when null.
pub fn value_json(field_type: DataFieldType, array: &ArrayRef, row: usize) -> Result<Option<String>, ValueError> {
    let column = ValueColumn::new(field_type, array).map_err(|error| invalid(error.to_string()))?;
    let mut out = Vec::new();
    Ok(column
        .write_json(row, &mut out)?
        .then(|| String::from_utf8(out).unwrap_or_default()))
}

/// An all-null array of `len` rows, for fields whose column is absent.
pub fn null_array(len: usize) -> ArrayRef {
    Arc::new(arrow_array::NullArray::new(len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Date64Array, Decimal128Array, Int8Array, TimestampMicrosecondArray};

    fn one(kind: DataFieldType, array: ArrayRef) -> Result<Option<String>, ValueError> {
        value_json(kind, &array, 0)
    }

    fn text(kind: DataFieldType, value: &str) -> Result<Option<String>, ValueError> {
        one(kind, Arc::new(StringArray::from(vec![value])))
    }

    #[test]
    fn numeric_values() {
        use DataFieldType::Numeric;
        assert_eq!(one(Numeric, Arc::new(Int8Array::from(vec![-5]))), Ok(Some("-5".into())));
        assert_eq!(
            one(Numeric, Arc::new(Float64Array::from(vec![120.5]))),
            Ok(Some("120.5".into()))
        );
        let decimal = Decimal128Array::from(vec![12345])
            .with_precision_and_scale(10, 2)
            .unwrap();
        assert_eq!(one(Numeric, Arc::new(decimal)), Ok(Some("123.45".into())));
        assert_eq!(text(Numeric, " 42.10 "), Ok(Some("42.10".into())));
        assert_eq!(text(Numeric, "+5"), Ok(Some("5.0".into())));
        assert_eq!(text(Numeric, ""), Ok(None));
        assert_eq!(text(Numeric, "12abc").unwrap_err().reason, "`12abc` is not a number");
        assert!(text(Numeric, "NaN").is_err());
        assert!(one(Numeric, Arc::new(Float64Array::from(vec![f64::INFINITY]))).is_err());
    }

    #[test]
    fn date_values() {
        use DataFieldType::Date;
        let day = 19_753; // 2024-01-31
        assert_eq!(
            one(Date, Arc::new(Date32Array::from(vec![day]))),
            Ok(Some("\"2024-01-31T00:00:00Z\"".into()))
        );
        assert_eq!(
            one(
                Date,
                Arc::new(Date64Array::from(vec![day as i64 * 86_400_000 + 3_723_000]))
            ),
            Ok(Some("\"2024-01-31T01:02:03Z\"".into()))
        );
        let micros = TimestampMicrosecondArray::from(vec![-1]).with_timezone("+02:00");
        assert_eq!(one(Date, Arc::new(micros)), Ok(Some("\"1969-12-31T23:59:59Z\"".into())));
        assert_eq!(text(Date, "1990-04-01"), Ok(Some("\"1990-04-01T00:00:00Z\"".into())));
        assert_eq!(
            text(Date, "2024-01-26T21:29:00Z"),
            Ok(Some("\"2024-01-26T21:29:00Z\"".into()))
        );
        assert_eq!(
            text(Date, "2024-01-26T23:29:00+02:00"),
            Ok(Some("\"2024-01-26T21:29:00Z\"".into()))
        );
        assert_eq!(
            text(Date, "2024-01-26 21:29:00.123"),
            Ok(Some("\"2024-01-26T21:29:00Z\"".into()))
        );
        assert_eq!(
            text(Date, "2024-13-01").unwrap_err().reason,
            "`2024-13-01` is not a date (expected YYYY-MM-DD or an ISO-8601 date-time)"
        );
        for days in [-719_528i64, -718_000, 0, 11_016, 2_932_896] {
            for second in [0, 3_723, 45_296, 86_399] {
                let instant = days * 86_400 + second;
                let mut out = Vec::new();
                write_instant(instant, &mut out).unwrap();
                let expected = chrono::DateTime::from_timestamp(instant, 0)
                    .unwrap()
                    .format("\"%Y-%m-%dT%H:%M:%SZ\"");
                assert_eq!(String::from_utf8(out).unwrap(), expected.to_string());
            }
        }
    }

    #[test]
    fn boolean_values() {
        use DataFieldType::Boolean;
        assert_eq!(
            one(Boolean, Arc::new(BooleanArray::from(vec![true]))),
            Ok(Some("true".into()))
        );
        assert_eq!(text(Boolean, "YES"), Ok(Some("true".into())));
        assert_eq!(text(Boolean, "0"), Ok(Some("false".into())));
        assert_eq!(
            one(Boolean, Arc::new(Int64Array::from(vec![1]))),
            Ok(Some("true".into()))
        );
        assert!(one(Boolean, Arc::new(Int64Array::from(vec![2]))).is_err());
        assert_eq!(
            text(Boolean, "maybe").unwrap_err().reason,
            "`maybe` is not a boolean (expected true/false, yes/no or 1/0)"
        );
    }

    #[test]
    fn string_values() {
        use DataFieldType::String;
        assert_eq!(text(String, "Ann \"A\""), Ok(Some("\"Ann \\\"A\\\"\"".into())));
        assert_eq!(
            one(String, Arc::new(Int64Array::from(vec![7]))),
            Ok(Some("\"7\"".into()))
        );
        assert_eq!(
            one(String, Arc::new(BooleanArray::from(vec![false]))),
            Ok(Some("\"false\"".into()))
        );
        assert_eq!(text(String, &"é".repeat(255)).map(|v| v.is_some()), Ok(true));
        let error = text(String, &"x".repeat(256)).unwrap_err();
        assert_eq!(error.kind, ValueErrorKind::Overflow);
        assert!(error.reason.contains("256 characters"));
        assert_eq!(one(String, Arc::new(StringArray::from(vec![None::<&str>]))), Ok(None));
    }

    #[test]
    fn column_fit() {
        assert!(!DataFieldType::Date.accepts(&DataType::Boolean));
        assert!(DataFieldType::Date.accepts(&DataType::Utf8));
        assert!(DataFieldType::Numeric.accepts(&DataType::Decimal128(10, 2)));
        assert!(!DataFieldType::Numeric.accepts(&DataType::Date32));
        assert!(DataFieldType::String.accepts(&DataType::Date32));
        assert!(!DataFieldType::String.accepts(&DataType::Binary));
        assert!(DataFieldType::Boolean.accepts(&DataType::Int8));
        let mismatch = ValueColumn::new(
            DataFieldType::Date,
            &(Arc::new(BooleanArray::from(vec![true])) as ArrayRef),
        )
        .unwrap_err();
        assert_eq!(
            mismatch.to_string(),
            "a Date data field cannot take a Boolean column; it takes Date32, Date64 or Timestamp columns, or text holding ISO-8601 dates"
        );
    }

    #[test]
    fn data_field_listing() {
        let fields = parse_data_fields(
            br#"[{"name":"FIRSTNAME","type":"String","visibility":"Public","defaultValue":null},
                 {"name":"LTV","type":"numeric","visibility":"Private","defaultValue":0}]"#,
        )
        .unwrap();
        assert_eq!(fields[0].field_type(), Some(DataFieldType::String));
        assert_eq!(fields[1].field_type(), Some(DataFieldType::Numeric));
    }
}
