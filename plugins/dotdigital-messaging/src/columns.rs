//! The input columns of one batch, made ready to be read row by row: texts (from a column or
//! fixed by the config), address lists (comma-separated text or a list of texts) and send dates.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field};
use dotdigital_shared::datafield::parse_date_text;
use dotdigital_shared::planning::text_column;
use dotdigital_shared::{DataFieldType, ValueColumn, ValueError};
use dotsync_plugin_sdk::PluginError;

use crate::config::Text;

/// A text setting for the rows of one batch.
pub enum TextInput {
    Fixed(String),
    Column { name: String, values: StringArray },
}

impl TextInput {
    pub fn read(text: &Text, batch: &RecordBatch) -> Result<Self, PluginError> {
        Ok(match text {
            Text::Value(value) => TextInput::Fixed(value.clone()),
            Text::Column(name) => TextInput::Column {
                name: name.clone(),
                values: text_column(batch, name)?,
            },
        })
    }

    /// The text of `row`; `None` when it is null or blank.
    pub fn get(&self, row: usize) -> Option<&str> {
        let text = match self {
            TextInput::Fixed(value) => value.as_str(),
            TextInput::Column { values, .. } if values.is_null(row) => return None,
            TextInput::Column { values, .. } => values.value(row),
        };
        (!text.trim().is_empty()).then_some(text)
    }

    /// Where the text comes from, for messages.
    pub fn source(&self) -> String {
        match self {
            TextInput::Fixed(_) => "the configured value".to_owned(),
            TextInput::Column { name, .. } => format!("column `{name}`"),
        }
    }
}

/// A column of email addresses: text with addresses separated by commas, or a list of texts.
pub enum AddressColumn {
    Text(StringArray),
    List(arrow_array::ListArray),
    /// A column holding only nulls.
    Empty,
}

impl AddressColumn {
    pub fn read(batch: &RecordBatch, name: &str) -> Result<Self, PluginError> {
        let column = batch
            .column_by_name(name)
            .ok_or_else(|| PluginError::fatal(format!("input batch has no column `{name}`")))?;
        let wrong_type = || {
            PluginError::config(format!(
                "column `{name}` is {}; email addresses must be text (separated by commas) or a list of texts",
                column.data_type()
            ))
        };
        let cast = |to: &DataType| arrow_cast::cast(column, to).map_err(|_| wrong_type());
        Ok(match column.data_type() {
            DataType::Null => AddressColumn::Empty,
            DataType::List(item) | DataType::LargeList(item) | DataType::ListView(item) => {
                if !is_text(item.data_type()) {
                    return Err(wrong_type());
                }
                let list = DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)));
                AddressColumn::List(cast(&list)?.as_list::<i32>().clone())
            }
            data_type if is_text(data_type) => AddressColumn::Text(cast(&DataType::Utf8)?.as_string::<i32>().clone()),
            _ => return Err(wrong_type()),
        })
    }

    /// The addresses of `row`, trimmed, without blanks.
    pub fn addresses(&self, row: usize) -> Vec<String> {
        match self {
            AddressColumn::Empty => Vec::new(),
            AddressColumn::Text(values) if values.is_null(row) => Vec::new(),
            AddressColumn::Text(values) => crate::message::split_addresses(values.value(row)).collect(),
            AddressColumn::List(lists) if lists.is_null(row) => Vec::new(),
            AddressColumn::List(lists) => {
                let items = lists.value(row);
                let items = items.as_string::<i32>();
                items
                    .iter()
                    .flatten()
                    .map(str::trim)
                    .filter(|address| !address.is_empty())
                    .map(str::to_owned)
                    .collect()
            }
        }
    }
}

fn is_text(data_type: &DataType) -> bool {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, values) => is_text(values),
        _ => false,
    }
}

/// A send date: seconds since the epoch (UTC) and the form sent to the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendDate {
    pub seconds: i64,
    /// `YYYY-MM-DDTHH:MM:SSZ`.
    pub iso: String,
}

/// A column of send dates: ISO-8601 text, dates or timestamps.
pub struct DateColumn {
    values: ValueColumn,
}

impl DateColumn {
    pub fn read(batch: &RecordBatch, name: &str) -> Result<Self, PluginError> {
        let column: &ArrayRef = batch
            .column_by_name(name)
            .ok_or_else(|| PluginError::fatal(format!("input batch has no column `{name}`")))?;
        let values = ValueColumn::new(DataFieldType::Date, column).map_err(|_| {
            PluginError::config(format!(
                "column `{name}` is {}; send dates must be dates, timestamps or ISO-8601 text",
                column.data_type()
            ))
        })?;
        Ok(DateColumn { values })
    }

    /// The send date of `row`; `None` when it is null or blank (send at once).
    pub fn get(&self, row: usize) -> Result<Option<SendDate>, ValueError> {
        let mut json = Vec::with_capacity(22);
        if !self.values.write_json(row, &mut json)? {
            return Ok(None);
        }
        // The value is written as a JSON string, `"YYYY-MM-DDTHH:MM:SSZ"`.
        let iso = String::from_utf8_lossy(&json).trim_matches('"').to_owned();
        Ok(parse_date_text(&iso).map(|seconds| SendDate { seconds, iso }))
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::builder::{ListBuilder, StringBuilder};
    use arrow_array::{Int64Array, TimestampSecondArray};

    use super::*;

    fn batch(name: &str, column: ArrayRef) -> RecordBatch {
        RecordBatch::try_from_iter(vec![(name, column)]).unwrap()
    }

    #[test]
    fn addresses_from_text_and_lists() {
        let text = batch("cc", Arc::new(StringArray::from(vec![Some("a@x.com, b@x.com"), None])));
        let column = AddressColumn::read(&text, "cc").unwrap();
        assert_eq!(column.addresses(0), ["a@x.com", "b@x.com"]);
        assert!(column.addresses(1).is_empty());

        let mut builder = ListBuilder::new(StringBuilder::new());
        builder.values().append_value(" a@x.com ");
        builder.values().append_null();
        builder.append(true);
        builder.append(false);
        let lists = batch("cc", Arc::new(builder.finish()));
        let column = AddressColumn::read(&lists, "cc").unwrap();
        assert_eq!(column.addresses(0), ["a@x.com"]);
        assert!(column.addresses(1).is_empty());

        let numbers = batch("cc", Arc::new(Int64Array::from(vec![1])));
        let error = AddressColumn::read(&numbers, "cc").err().unwrap();
        assert!(error.message.contains("column `cc` is Int64"), "{}", error.message);
    }

    #[test]
    fn send_dates_from_text_and_timestamps() {
        let text = batch(
            "at",
            Arc::new(StringArray::from(vec![
                Some("2030-01-02T03:04:05+01:00"),
                Some(" "),
                Some("soon"),
            ])),
        );
        let column = DateColumn::read(&text, "at").unwrap();
        let date = column.get(0).unwrap().unwrap();
        assert_eq!(date.iso, "2030-01-02T02:04:05Z");
        assert_eq!(column.get(1).unwrap(), None);
        assert!(column.get(2).unwrap_err().reason.contains("is not a date"));

        let stamps = batch("at", Arc::new(TimestampSecondArray::from(vec![1_900_000_000])));
        let date = DateColumn::read(&stamps, "at").unwrap().get(0).unwrap().unwrap();
        assert_eq!(date.seconds, 1_900_000_000);
    }
}
