//! Adding contacts to a list in bulk: the v2 list import (dotdigital-api.md §5), a CSV file with
//! an `Email` column and one column per data field, sent base64-encoded as `{fileName, data}` to
//! `POST /v2/address-books/{id}/contacts/import`; and reading its fault report (CSV with a
//! `Reason` column and the original columns) back into rejected rows.

use base64::Engine;
use dotdigital_shared::csv;
use dotdigital_shared::{MappedField, ValueColumn, ValueError};
use dotsync_plugin_sdk::BatchId;

use crate::directory::{EmailMap, email_hash};

/// Largest CSV file in one import: base64 grows it by a third, and the JSON body must stay under
/// the API's 50 MB with room to spare.
pub const MAX_CSV_BYTES: usize = 30_000_000;

/// A row being added: where it came from and the email it added.
#[derive(Debug, Clone, Copy)]
pub struct AddedRow {
    pub batch_id: BatchId,
    pub row: u32,
    pub email: u64,
}

/// The CSV of one import being written.
#[derive(Debug)]
pub struct ImportFile {
    header_len: usize,
    text: String,
    pub rows: Vec<AddedRow>,
}

impl ImportFile {
    /// An empty file with the header `Email,<FIELD>...`.
    pub fn new(fields: &[MappedField]) -> Self {
        let mut text = String::from("Email");
        for field in fields {
            text.push(',');
            csv::write_field(&mut text, &field.name);
        }
        text.push('\n');
        ImportFile {
            header_len: text.len(),
            text,
            rows: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Whether the file is as large as one import may be.
    pub fn is_full(&self, max_rows: usize) -> bool {
        self.rows.len() >= max_rows || self.text.len() >= MAX_CSV_BYTES
    }

    /// Appends one contact: its email and the data-field values of `row` (empty when null).
    pub fn push(&mut self, added: AddedRow, email: &str, values: &[ValueColumn], row: usize) -> Result<(), ValueError> {
        let mark = self.text.len();
        csv::write_field(&mut self.text, email);
        for column in values {
            self.text.push(',');
            if let Err(error) = write_cell(column, row, &mut self.text) {
                self.text.truncate(mark);
                return Err(error);
            }
        }
        self.text.push('\n');
        self.rows.push(added);
        Ok(())
    }

    /// The request body: `{"fileName": "...", "data": "<base64 of the CSV>"}`.
    pub fn into_body(self, file_name: &str) -> Vec<u8> {
        debug_assert!(self.text.len() > self.header_len);
        let data = base64::engine::general_purpose::STANDARD.encode(self.text.as_bytes());
        serde_json::to_vec(&serde_json::json!({"fileName": file_name, "data": data})).unwrap_or_default()
    }
}

/// Writes one value as CSV text: the JSON scalar the API would take, unquoted.
fn write_cell(column: &ValueColumn, row: usize, out: &mut String) -> Result<(), ValueError> {
    let mut json = Vec::new();
    if !column.write_json(row, &mut json)? {
        return Ok(());
    }
    match serde_json::from_slice::<serde_json::Value>(&json) {
        Ok(serde_json::Value::String(text)) => csv::write_field(out, &text),
        _ => csv::write_field(out, &String::from_utf8_lossy(&json)),
    }
    Ok(())
}

/// Reads a fault report into `email → reason`. Rows without an `Email` cell are counted in the
/// second value: they cannot be matched to a source row.
pub fn parse_faults(text: &str) -> (EmailMap<String>, usize) {
    let mut records = csv::parse(text).into_iter();
    let mut faults = EmailMap::default();
    let Some(header) = records.next() else {
        return (faults, 0);
    };
    let (Some(email_at), reason_at) = (
        csv::column_index(&header, "email"),
        csv::column_index(&header, "reason"),
    ) else {
        return (faults, records.count());
    };
    let mut unmatched = 0;
    for record in records {
        match record
            .get(email_at)
            .map(|email| email.trim())
            .filter(|email| !email.is_empty())
        {
            Some(email) => {
                let reason = reason_at
                    .and_then(|at| record.get(at))
                    .map(|reason| reason.trim().to_owned())
                    .filter(|reason| !reason.is_empty())
                    .unwrap_or_else(|| "the import refused this contact".to_owned());
                faults.insert(email_hash(email), reason);
            }
            None => unmatched += 1,
        }
    }
    (faults, unmatched)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, BooleanArray, Float64Array};
    use dotdigital_shared::DataFieldType;

    use super::*;

    fn field(name: &str, field_type: DataFieldType) -> MappedField {
        MappedField {
            name: name.into(),
            column: name.to_lowercase(),
            field_type,
        }
    }

    #[test]
    fn writes_the_csv_the_api_reads() {
        let fields = [
            field("LTV", DataFieldType::Numeric),
            field("VIP", DataFieldType::Boolean),
        ];
        let ltv: ArrayRef = Arc::new(Float64Array::from(vec![Some(1.5), None]));
        let vip: ArrayRef = Arc::new(BooleanArray::from(vec![Some(true), Some(false)]));
        let values = vec![
            ValueColumn::new(DataFieldType::Numeric, &ltv).unwrap(),
            ValueColumn::new(DataFieldType::Boolean, &vip).unwrap(),
        ];
        let mut file = ImportFile::new(&fields);
        let added = |row| AddedRow {
            batch_id: 1,
            row,
            email: 0,
        };
        file.push(added(0), "a@x.com", &values, 0).unwrap();
        file.push(added(1), "b,c@x.com", &values, 1).unwrap();
        assert_eq!(file.text, "Email,LTV,VIP\na@x.com,1.5,true\n\"b,c@x.com\",,false\n");
        let body: serde_json::Value = serde_json::from_slice(&file.into_body("f.csv")).unwrap();
        let data = base64::engine::general_purpose::STANDARD
            .decode(body["data"].as_str().unwrap())
            .unwrap();
        assert!(String::from_utf8(data).unwrap().starts_with("Email,LTV,VIP\n"));
    }

    #[test]
    fn reads_fault_reports() {
        let (faults, unmatched) = parse_faults("Reason,Email,FIRSTNAME\nInvalidEmail,Bad@X,\"A, B\"\nSuppressed,,x\n");
        assert_eq!(
            faults.get(&email_hash("bad@x")).map(String::as_str),
            Some("InvalidEmail")
        );
        assert_eq!(unmatched, 1);
    }
}
