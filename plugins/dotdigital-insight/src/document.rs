//! Record documents: the shape the config's `fields` describe (dotted names nest objects), and the
//! JSON of one row written straight into a request body, keeping Arrow types: numbers stay
//! numbers, booleans booleans, dates and timestamps become ISO 8601 UTC strings, structs objects
//! and lists arrays. A property given a type converts each value (text included) with the
//! data-field conversions of `dotdigital-shared`. Nulls are left out, so a collection's inferred
//! schema never sees a property change type to null.

use std::collections::BTreeMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Date64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::{DataType, TimeUnit};
use dotdigital_shared::datafield::{ValueColumn, write_instant};
use dotdigital_shared::json;
use dotsync_plugin_sdk::PluginError;

use crate::config::FieldSource;

/// Outcome codes of records refused before sending, named like the API's failure reasons.
pub mod codes {
    pub const INVALID_JSON: &str = "InvalidJson";
    pub const RECORD_TOO_LARGE: &str = "RecordTooLarge";
    /// A value that does not convert to its property's configured type.
    pub const INVALID_VALUE: &str = "InvalidValue";
}

/// The document's shape: property name → a source column, or a nested object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    Column(FieldSource),
    Object(BTreeMap<String, Shape>),
}

/// Builds the shape from `fields` (target name → column). Refuses empty name parts, a name that
/// is both a value and an object, and sibling names that differ only by `-` versus `_` (the API
/// rejects such documents: `JsonContainsDashUnderscoreClash`).
pub fn shape(fields: &BTreeMap<String, FieldSource>) -> Result<BTreeMap<String, Shape>, String> {
    let mut root = BTreeMap::new();
    for (target, column) in fields {
        let parts: Vec<&str> = target.split('.').collect();
        if parts.iter().any(|part| part.trim().is_empty()) {
            return Err(format!("`fields` target `{target}` has an empty part"));
        }
        insert(&mut root, &parts, column)
            .map_err(|()| format!("`fields` target `{target}` is both a value and an object"))?;
    }
    check_clashes(&root, "")?;
    Ok(root)
}

/// Puts `column` at `path` in `level`; fails when a value and an object would share a name.
fn insert(level: &mut BTreeMap<String, Shape>, path: &[&str], column: &FieldSource) -> Result<(), ()> {
    let Some((name, rest)) = path.split_first() else {
        return Err(());
    };
    if rest.is_empty() {
        if level.contains_key(*name) {
            return Err(());
        }
        level.insert((*name).to_owned(), Shape::Column(column.clone()));
        return Ok(());
    }
    match level
        .entry((*name).to_owned())
        .or_insert_with(|| Shape::Object(BTreeMap::new()))
    {
        Shape::Object(children) => insert(children, rest, column),
        Shape::Column(_) => Err(()),
    }
}

fn check_clashes(level: &BTreeMap<String, Shape>, path: &str) -> Result<(), String> {
    let names: Vec<&String> = level.keys().collect();
    if let Some(clash) = dash_underscore_clash(names.iter().map(|name| name.as_str())) {
        return Err(format!(
            "`fields` has the properties `{}` and `{}`{}: names differing only by `-` and `_` clash in Dotdigital",
            clash.0,
            clash.1,
            if path.is_empty() {
                String::new()
            } else {
                format!(" in `{path}`")
            }
        ));
    }
    for (name, node) in level {
        if let Shape::Object(children) = node {
            let inner = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            check_clashes(children, &inner)?;
        }
    }
    Ok(())
}

/// Two names that are equal once `-` is read as `_`.
fn dash_underscore_clash<'a>(names: impl Iterator<Item = &'a str>) -> Option<(String, String)> {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for name in names {
        if let Some(other) = seen.insert(name.replace('-', "_"), name) {
            return Some((other.to_owned(), name.to_owned()));
        }
    }
    None
}

/// The source columns a shape reads.
pub fn columns(shape: &BTreeMap<String, Shape>, out: &mut Vec<String>) {
    for node in shape.values() {
        match node {
            Shape::Column(source) => {
                if !out.iter().any(|column| column == source.column()) {
                    out.push(source.column().to_owned());
                }
            }
            Shape::Object(children) => columns(children, out),
        }
    }
}

/// A row that cannot become a record, with its outcome code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    pub code: &'static str,
    pub message: String,
}

#[derive(Debug)]
enum Node {
    Value(ArrayRef),
    Converted(ValueColumn),
    Object(Vec<(Vec<u8>, Node)>),
}

/// One batch's columns arranged as the document, ready to write row after row.
#[derive(Debug)]
pub struct DocumentWriter {
    root: Vec<(Vec<u8>, Node)>,
}

fn key_json(name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 3);
    json::write_str(&mut out, name);
    out.push(b':');
    out
}

impl DocumentWriter {
    /// Arranges `batch`'s columns. A column type the API cannot store (a list directly inside a
    /// list, struct fields whose names clash) is a configuration error.
    pub fn new(shape: &BTreeMap<String, Shape>, batch: &RecordBatch) -> Result<Self, PluginError> {
        Ok(DocumentWriter {
            root: arrange(shape, batch)?,
        })
    }

    /// Writes row `row`'s document (an object) into `out`.
    pub fn write(&self, row: usize, out: &mut Vec<u8>) -> Result<(), RecordError> {
        write_object(&self.root, row, out)
    }
}

fn arrange(shape: &BTreeMap<String, Shape>, batch: &RecordBatch) -> Result<Vec<(Vec<u8>, Node)>, PluginError> {
    shape
        .iter()
        .map(|(name, node)| {
            let node = match node {
                Shape::Column(source) => {
                    let column = source.column();
                    let array = batch
                        .column_by_name(column)
                        .ok_or_else(|| PluginError::fatal(format!("input batch has no column `{column}`")))?;
                    match source.value_type() {
                        Some(value_type) => Node::Converted(
                            ValueColumn::new(value_type.conversion(), array)
                                .map_err(|mismatch| PluginError::config(format!("column `{column}`: {mismatch}")))?,
                        ),
                        None => {
                            check_type(array.data_type(), false)
                                .map_err(|reason| PluginError::config(format!("column `{column}`: {reason}")))?;
                            Node::Value(array.clone())
                        }
                    }
                }
                Shape::Object(children) => Node::Object(arrange(children, batch)?),
            };
            Ok((key_json(name), node))
        })
        .collect()
}

/// Whether the API can store values of this type (inside a list when `in_list`).
fn check_type(data_type: &DataType, in_list: bool) -> Result<(), String> {
    match data_type {
        DataType::List(item) | DataType::LargeList(item) => {
            if in_list {
                return Err("a list directly inside a list cannot be stored (JsonContainsNestedArray)".into());
            }
            check_type(item.data_type(), true)
        }
        DataType::Struct(fields) => {
            if let Some((a, b)) = dash_underscore_clash(fields.iter().map(|field| field.name().as_str())) {
                return Err(format!(
                    "struct fields `{a}` and `{b}` differ only by `-` and `_`, which clash in Dotdigital"
                ));
            }
            fields.iter().try_for_each(|field| check_type(field.data_type(), false))
        }
        _ => Ok(()),
    }
}

fn write_object(members: &[(Vec<u8>, Node)], row: usize, out: &mut Vec<u8>) -> Result<(), RecordError> {
    out.push(b'{');
    let mut first = true;
    for (key, node) in members {
        let mark = out.len();
        if !first {
            out.push(b',');
        }
        out.extend_from_slice(key);
        let written = match node {
            Node::Value(array) => write_value(array.as_ref(), row, out)?,
            Node::Converted(column) => column.write_json(row, out).map_err(|error| RecordError {
                code: codes::INVALID_VALUE,
                message: error.reason,
            })?,
            Node::Object(children) => {
                write_object(children, row, out)?;
                true
            }
        };
        if written {
            first = false;
        } else {
            out.truncate(mark);
        }
    }
    out.push(b'}');
    Ok(())
}

fn invalid(message: String) -> RecordError {
    RecordError {
        code: codes::INVALID_JSON,
        message,
    }
}

/// Writes one value; returns false (writing nothing) for a null.
fn write_value(array: &dyn Array, row: usize, out: &mut Vec<u8>) -> Result<bool, RecordError> {
    if array.is_null(row) {
        return Ok(false);
    }
    match array.data_type() {
        DataType::Null => return Ok(false),
        DataType::Boolean => {
            out.extend_from_slice(if array.as_boolean().value(row) {
                b"true"
            } else {
                b"false"
            });
        }
        DataType::Utf8 => json::write_str(out, array.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => json::write_str(out, array.as_string::<i64>().value(row)),
        DataType::Utf8View => json::write_str(out, array.as_string_view().value(row)),
        DataType::Date32 => {
            let days = array.as_primitive::<Date32Type>().value(row);
            write_instant(i64::from(days) * 86_400, out).map_err(|error| invalid(error.reason))?;
        }
        DataType::Date64 => {
            let millis = array.as_primitive::<Date64Type>().value(row);
            write_instant(millis.div_euclid(1000), out).map_err(|error| invalid(error.reason))?;
        }
        DataType::Timestamp(unit, _) => {
            let per_second = match unit {
                TimeUnit::Second => 1,
                TimeUnit::Millisecond => 1_000,
                TimeUnit::Microsecond => 1_000_000,
                TimeUnit::Nanosecond => 1_000_000_000,
            };
            let value = timestamp_value(array, row);
            write_instant(value.div_euclid(per_second), out).map_err(|error| invalid(error.reason))?;
        }
        DataType::Struct(fields) => {
            let structs = array.as_struct();
            let members: Vec<(Vec<u8>, Node)> = fields
                .iter()
                .zip(structs.columns())
                .map(|(field, column)| (key_json(field.name()), Node::Value(column.clone())))
                .collect();
            write_object(&members, row, out)?;
        }
        DataType::List(_) => {
            let list = array.as_list::<i32>().value(row);
            write_list(list.as_ref(), out)?;
        }
        DataType::LargeList(_) => {
            let list = array.as_list::<i64>().value(row);
            write_list(list.as_ref(), out)?;
        }
        data_type if data_type.is_numeric() => write_number(array, row, out)?,
        _ => {
            let text = formatted(array, row)?;
            json::write_str(out, &text);
        }
    }
    Ok(true)
}

fn timestamp_value(array: &dyn Array, row: usize) -> i64 {
    use arrow_array::types::{
        TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
    };
    match array.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => array.as_primitive::<TimestampSecondType>().value(row),
        DataType::Timestamp(TimeUnit::Millisecond, _) => array.as_primitive::<TimestampMillisecondType>().value(row),
        DataType::Timestamp(TimeUnit::Microsecond, _) => array.as_primitive::<TimestampMicrosecondType>().value(row),
        _ => array.as_primitive::<TimestampNanosecondType>().value(row),
    }
}

fn write_list(items: &dyn Array, out: &mut Vec<u8>) -> Result<(), RecordError> {
    out.push(b'[');
    for index in 0..items.len() {
        if index > 0 {
            out.push(b',');
        }
        if !write_value(items, index, out)? {
            out.extend_from_slice(b"null");
        }
    }
    out.push(b']');
    Ok(())
}

/// Integers, floats and decimals as JSON numbers (their exact decimal text).
fn write_number(array: &dyn Array, row: usize, out: &mut Vec<u8>) -> Result<(), RecordError> {
    let text = formatted(array, row)?;
    let finite = text.parse::<f64>().is_ok_and(f64::is_finite);
    if !finite {
        return Err(invalid(format!("`{text}` is not a finite number")));
    }
    out.extend_from_slice(text.as_bytes());
    Ok(())
}

fn formatted(array: &dyn Array, row: usize) -> Result<String, RecordError> {
    let formatter = ArrayFormatter::try_new(array, &FormatOptions::default())
        .map_err(|error| invalid(format!("a {} value cannot be written: {error}", array.data_type())))?;
    Ok(formatter.value(row).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_names_nest_and_clashes_are_refused() {
        let column = |name: &str| FieldSource::Column(name.to_owned());
        let fields = BTreeMap::from([
            ("customer.name".to_owned(), column("name")),
            ("customer.tier".to_owned(), column("tier")),
            ("total".to_owned(), column("total")),
        ]);
        let tree = shape(&fields).unwrap();
        let Shape::Object(customer) = &tree["customer"] else {
            panic!("customer is an object")
        };
        assert_eq!(customer.len(), 2);
        let clash = BTreeMap::from([("a-b".to_owned(), column("x")), ("a_b".to_owned(), column("y"))]);
        assert!(shape(&clash).unwrap_err().contains("`a-b` and `a_b`"));
        let both = BTreeMap::from([("a".to_owned(), column("x")), ("a.b".to_owned(), column("y"))]);
        assert!(shape(&both).unwrap_err().contains("both a value and an object"));
        assert!(shape(&BTreeMap::from([("a..b".to_owned(), column("x"))])).is_err());
    }
}
