//! CSV: `arrow-csv`, every column `Utf8`, empty fields null.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use arrow_csv::reader::Format;
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};

use crate::{CsvOptions, FileFormat, OpenOptions, Opened, Plan, Reader, SourceError, arrow_error};

/// Read buffer for CSV files.
const BUFFER_BYTES: usize = 256 * 1024;

pub(crate) type CsvReader = arrow_csv::reader::BufReader<BufReader<File>>;

fn ascii(path: &Path, what: &str, c: char) -> Result<u8, SourceError> {
    if c.is_ascii() && c != '\n' && c != '\r' {
        Ok(c as u8)
    } else {
        Err(SourceError::InvalidOptions {
            path: path.to_path_buf(),
            message: format!("csv.{what} must be a single ASCII character other than a line break, got {c:?}"),
        })
    }
}

fn format(path: &Path, options: &CsvOptions) -> Result<Format, SourceError> {
    let delimiter = ascii(path, "delimiter", options.delimiter)?;
    let quote = ascii(path, "quote", options.quote)?;
    if delimiter == quote {
        return Err(SourceError::InvalidOptions {
            path: path.to_path_buf(),
            message: format!("csv.delimiter and csv.quote are both {:?}", options.delimiter),
        });
    }
    Ok(Format::default()
        .with_header(options.has_header)
        .with_delimiter(delimiter)
        .with_quote(quote))
}

/// Skips a UTF-8 byte order mark at the start of the file.
fn skip_bom<R: BufRead>(path: &Path, reader: &mut R) -> Result<(), SourceError> {
    let buf = reader.fill_buf().map_err(|e| SourceError::io(path, e))?;
    if buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
        reader.consume(3);
    }
    Ok(())
}

/// Maps an error of the CSV reader, keeping the line number it names.
pub(crate) fn error(path: &Path, e: ArrowError) -> SourceError {
    match e {
        ArrowError::CsvError(message) => {
            let line = line_of(&message);
            // "incorrect number of fields for line 3, expected 2 got 1": the line is shown once.
            let message = match line {
                Some(n) => message.replace(&format!(" for line {n},"), ","),
                None => message,
            };
            SourceError::Csv {
                path: path.to_path_buf(),
                line,
                message,
            }
        }
        other => arrow_error(FileFormat::Csv, path, other),
    }
}

/// The number after the first "line " in an arrow-csv message.
fn line_of(message: &str) -> Option<u64> {
    let rest = &message[message.find("line ")? + "line ".len()..];
    let digits: &str = &rest[..rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len())];
    digits.parse().ok()
}

/// The header, as a schema of nullable `Utf8` columns. Leaves `file` anywhere.
fn read_schema(path: &Path, file: &mut File, format: &Format) -> Result<Schema, SourceError> {
    let mut reader = BufReader::new(file);
    skip_bom(path, &mut reader)?;
    let (inferred, _) = format.infer_schema(&mut reader, Some(0)).map_err(|e| error(path, e))?;
    if inferred.fields().is_empty() {
        return Err(SourceError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    let fields: Vec<Field> = inferred
        .fields()
        .iter()
        .map(|f| Field::new(f.name(), DataType::Utf8, true))
        .collect();
    Ok(Schema::new(fields))
}

pub(crate) fn schema(path: &Path, mut file: File, options: &CsvOptions) -> Result<SchemaRef, SourceError> {
    let format = format(path, options)?;
    Ok(Arc::new(read_schema(path, &mut file, &format)?))
}

pub(crate) fn open(
    path: &Path,
    mut file: File,
    csv: &CsvOptions,
    options: &OpenOptions,
) -> Result<Opened, SourceError> {
    let format = format(path, csv)?;
    let full = Arc::new(read_schema(path, &mut file, &format)?);
    let plan = Plan::new(path, &full, options.projection.as_deref())?;

    file.seek(SeekFrom::Start(0)).map_err(|e| SourceError::io(path, e))?;
    let mut input = BufReader::with_capacity(BUFFER_BYTES, file);
    skip_bom(path, &mut input)?;
    let mut builder = arrow_csv::ReaderBuilder::new(full)
        .with_format(format)
        .with_batch_size(options.batch_size);
    if let Some(read) = &plan.read {
        builder = builder.with_projection(read.clone());
    }
    let reader = builder.build_buffered(input).map_err(|e| error(path, e))?;
    let schema = plan.output_schema(&reader.schema()).map_err(|e| error(path, e))?;
    Ok(Opened {
        reader: Reader::Csv(Box::new(reader)),
        schema,
        positions: plan.positions,
        total_rows: None,
    })
}

#[cfg(test)]
mod tests {
    use super::line_of;

    #[test]
    fn finds_the_line_in_arrow_messages() {
        assert_eq!(
            line_of("incorrect number of fields for line 3, expected 2 got 1"),
            Some(3)
        );
        assert_eq!(
            line_of("Encountered invalid UTF-8 data for line 12 and field 2"),
            Some(12)
        );
        assert_eq!(line_of("no number here"), None);
        assert_eq!(line_of("line "), None);
    }
}
