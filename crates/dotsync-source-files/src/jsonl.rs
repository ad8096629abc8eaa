//! JSON lines: schema inferred from the first lines, then `arrow-json`'s push decoder fed one
//! batch of lines at a time, so an error can name its line.

use std::collections::HashSet;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_json::reader::{Decoder, ReaderBuilder, infer_json_schema_from_iterator};
use arrow_schema::{ArrowError, DataType, Field, FieldRef, Fields, Schema, SchemaRef};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::{FileFormat, OpenOptions, Opened, Plan, Reader, SourceError, arrow_error, strip_kind};

/// How many non-blank lines the schema is inferred from.
pub(crate) const INFER_LINES: usize = 1000;

/// Read buffer for JSON lines files.
const BUFFER_BYTES: usize = 256 * 1024;

fn at(path: &Path, line: Option<u64>, message: impl Into<String>) -> SourceError {
    SourceError::Json {
        path: path.to_path_buf(),
        line,
        message: message.into(),
    }
}

/// Reads the next line (with its terminator) into `buf`; `false` at the end of the file.
fn read_line<R: BufRead>(path: &Path, reader: &mut R, buf: &mut Vec<u8>) -> Result<bool, SourceError> {
    match reader.read_until(b'\n', buf) {
        Ok(0) => Ok(false),
        Ok(_) => Ok(true),
        Err(e) => Err(SourceError::io(path, e)),
    }
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// Strips a UTF-8 byte order mark from the first line.
fn strip_bom(line: &[u8]) -> &[u8] {
    line.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(line)
}

/// The keys of a JSON object in the order they appear, or what the value is instead.
enum KeyOrder {
    Object(Vec<String>),
    Other(&'static str),
}

impl<'de> serde::Deserialize<'de> for KeyOrder {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyOrder;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeyOrder, A::Error> {
                let mut keys = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    map.next_value::<IgnoredAny>()?;
                    keys.push(key);
                }
                Ok(KeyOrder::Object(keys))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<KeyOrder, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(KeyOrder::Other("an array"))
            }
            fn visit_bool<E>(self, _: bool) -> Result<KeyOrder, E> {
                Ok(KeyOrder::Other("a boolean"))
            }
            fn visit_i64<E>(self, _: i64) -> Result<KeyOrder, E> {
                Ok(KeyOrder::Other("a number"))
            }
            fn visit_u64<E>(self, _: u64) -> Result<KeyOrder, E> {
                Ok(KeyOrder::Other("a number"))
            }
            fn visit_f64<E>(self, _: f64) -> Result<KeyOrder, E> {
                Ok(KeyOrder::Other("a number"))
            }
            fn visit_str<E>(self, _: &str) -> Result<KeyOrder, E> {
                Ok(KeyOrder::Other("a string"))
            }
            fn visit_unit<E>(self) -> Result<KeyOrder, E> {
                Ok(KeyOrder::Other("null"))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// Infers the schema from the first [`INFER_LINES`] non-blank lines of `reader`.
fn infer<R: BufRead>(path: &Path, reader: &mut R) -> Result<Schema, SourceError> {
    let mut values = Vec::new();
    let mut value_lines: Vec<u64> = Vec::new();
    let mut order: Vec<String> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut buf = Vec::new();
    let mut line_no: u64 = 0;
    while values.len() < INFER_LINES {
        buf.clear();
        if !read_line(path, reader, &mut buf)? {
            break;
        }
        line_no += 1;
        let line = if line_no == 1 { strip_bom(&buf) } else { &buf[..] };
        if is_blank(line) {
            continue;
        }
        match serde_json::from_slice::<KeyOrder>(line) {
            Ok(KeyOrder::Object(keys)) => {
                for key in keys {
                    if !seen.contains(&key) {
                        seen.insert(key.clone());
                        order.push(key);
                    }
                }
            }
            Ok(KeyOrder::Other(what)) => {
                return Err(at(
                    path,
                    Some(line_no),
                    format!("expected one JSON object per line, found {what}"),
                ));
            }
            Err(e) => {
                return Err(at(path, Some(line_no), format!("not valid JSON: {e}")));
            }
        }
        let value: serde_json::Value =
            serde_json::from_slice(line).map_err(|e| at(path, Some(line_no), format!("not valid JSON: {e}")))?;
        values.push(value);
        value_lines.push(line_no);
    }
    if values.is_empty() {
        return Err(SourceError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    let infer_prefix = |n: usize| infer_json_schema_from_iterator(values.iter().take(n).map(Ok::<_, ArrowError>));
    let inferred = infer_prefix(values.len()).map_err(|e| {
        // Find the first line whose value conflicts with the lines before it.
        let (mut good, mut bad) = (0, values.len());
        while bad - good > 1 {
            let mid = good + (bad - good) / 2;
            if infer_prefix(mid).is_ok() {
                good = mid;
            } else {
                bad = mid;
            }
        }
        at(
            path,
            bad.checked_sub(1).and_then(|i| value_lines.get(i)).copied(),
            format!(
                "a value's type conflicts with earlier lines: {}",
                strip_kind(&e.to_string())
            ),
        )
    })?;
    // Arrow's inference keeps fields in a hash map: put them in first-seen order.
    let mut fields: Vec<FieldRef> = Vec::with_capacity(order.len());
    for key in &order {
        if let Ok(field) = inferred.field_with_name(key) {
            fields.push(Arc::new(normalize(field)));
        }
    }
    Ok(Schema::new(fields))
}

/// Makes an inferred field deterministic and tolerant: nested struct fields sorted by name,
/// all-null columns typed `Utf8`.
fn normalize(field: &Field) -> Field {
    field.clone().with_data_type(normalize_type(field.data_type()))
}

fn normalize_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Null => DataType::Utf8,
        DataType::Struct(fields) => {
            let mut fields: Vec<Field> = fields.iter().map(|f| normalize(f)).collect();
            fields.sort_by(|a, b| a.name().cmp(b.name()));
            DataType::Struct(Fields::from(fields))
        }
        DataType::List(item) => DataType::List(Arc::new(normalize(item))),
        DataType::LargeList(item) => DataType::LargeList(Arc::new(normalize(item))),
        other => other.clone(),
    }
}

pub(crate) fn schema(path: &Path, file: File) -> Result<SchemaRef, SourceError> {
    let mut reader = BufReader::with_capacity(BUFFER_BYTES, file);
    Ok(Arc::new(infer(path, &mut reader)?))
}

pub(crate) fn open(path: &Path, mut file: File, options: &OpenOptions) -> Result<Opened, SourceError> {
    let full = Arc::new(infer(path, &mut BufReader::with_capacity(BUFFER_BYTES, &mut file))?);
    let plan = Plan::new(path, &full, options.projection.as_deref())?;
    // Without a projection every column is wanted: a key outside the sample must not be
    // dropped silently. With one, keys outside it are none of our business.
    let strict = plan.read.is_none();
    let decoded = match &plan.read {
        Some(read) => Arc::new(
            full.project(read)
                .map_err(|e| arrow_error(FileFormat::Jsonl, path, e))?,
        ),
        None => full.clone(),
    };
    file.seek(SeekFrom::Start(0)).map_err(|e| SourceError::io(path, e))?;
    let reader = JsonlReader::new(
        path.to_path_buf(),
        BufReader::with_capacity(BUFFER_BYTES, file),
        decoded.clone(),
        strict,
        options.batch_size,
    )?;
    let schema = plan
        .output_schema(&decoded)
        .map_err(|e| arrow_error(FileFormat::Jsonl, path, e))?;
    Ok(Opened {
        reader: Reader::Jsonl(Box::new(reader)),
        schema,
        positions: plan.positions,
        total_rows: None,
    })
}

/// Streams a JSON lines file: reads up to `batch_size` non-blank lines into a buffer, decodes
/// them, and on an error decodes the buffered lines one by one to find the line at fault.
pub(crate) struct JsonlReader {
    path: PathBuf,
    input: BufReader<File>,
    schema: SchemaRef,
    strict: bool,
    batch_size: usize,
    decoder: Decoder,
    /// The current lines' bytes.
    buf: Vec<u8>,
    /// Line number and byte range in `buf` of each buffered non-blank line.
    lines: Vec<(u64, Range<usize>)>,
    /// How far `buf` has been fed to the decoder.
    pos: usize,
    /// Lines read so far.
    line_no: u64,
    eof: bool,
}

impl JsonlReader {
    fn new(
        path: PathBuf,
        input: BufReader<File>,
        schema: SchemaRef,
        strict: bool,
        batch_size: usize,
    ) -> Result<Self, SourceError> {
        let decoder =
            build_decoder(&schema, strict, batch_size).map_err(|e| arrow_error(FileFormat::Jsonl, &path, e))?;
        Ok(JsonlReader {
            path,
            input,
            schema,
            strict,
            batch_size,
            decoder,
            buf: Vec::new(),
            lines: Vec::new(),
            pos: 0,
            line_no: 0,
            eof: false,
        })
    }

    pub(crate) fn next_batch(&mut self) -> Result<Option<RecordBatch>, SourceError> {
        loop {
            if self.pos < self.buf.len() {
                let consumed = self
                    .decoder
                    .decode(&self.buf[self.pos..])
                    .map_err(|e| self.diagnose(e))?;
                self.pos += consumed;
                if self.pos < self.buf.len() {
                    // The decoder stopped early: it holds a full batch.
                    return match self.flush()? {
                        Some(batch) => Ok(Some(batch)),
                        None => Err(at(
                            &self.path,
                            self.lines.first().map(|(n, _)| *n),
                            "the JSON decoder made no progress",
                        )),
                    };
                }
                // The buffer is fed whole: flush what it made, so that every batch comes from
                // lines still in the buffer (which `diagnose` needs).
                if let Some(batch) = self.flush()? {
                    return Ok(Some(batch));
                }
                continue;
            }
            if self.eof {
                return self.flush();
            }
            self.fill()?;
        }
    }

    fn flush(&mut self) -> Result<Option<RecordBatch>, SourceError> {
        self.decoder.flush().map_err(|e| self.diagnose(e))
    }

    /// Reads up to `batch_size` non-blank lines into `buf`.
    fn fill(&mut self) -> Result<(), SourceError> {
        self.buf.clear();
        self.lines.clear();
        self.pos = 0;
        while self.lines.len() < self.batch_size {
            let start = self.buf.len();
            if !read_line(&self.path, &mut self.input, &mut self.buf)? {
                self.eof = true;
                break;
            }
            self.line_no += 1;
            if self.line_no == 1 && self.buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
                self.buf.drain(..3);
            }
            if is_blank(&self.buf[start..]) {
                self.buf.truncate(start);
                continue;
            }
            self.lines.push((self.line_no, start..self.buf.len()));
        }
        Ok(())
    }

    /// Finds the first buffered line that fails on its own and names it.
    fn diagnose(&self, error: ArrowError) -> SourceError {
        if let ArrowError::IoError(_, e) = error {
            return SourceError::io(&self.path, e);
        }
        for (line_no, range) in &self.lines {
            let Some(line) = self.buf.get(range.clone()) else {
                continue;
            };
            if let Err(e) = self.check_line(line) {
                return at(&self.path, Some(*line_no), self.explain(&e));
            }
        }
        let span = match (self.lines.first(), self.lines.last()) {
            (Some((a, _)), Some((b, _))) => format!(" (in lines {a} to {b})"),
            _ => String::new(),
        };
        at(&self.path, None, format!("{}{span}", strip_kind(&error.to_string())))
    }

    fn check_line(&self, line: &[u8]) -> Result<(), ArrowError> {
        let mut decoder = build_decoder(&self.schema, self.strict, self.batch_size.max(16))?;
        let mut rest = line;
        while !rest.is_empty() {
            let consumed = decoder.decode(rest)?;
            rest = rest.get(consumed..).unwrap_or_default();
            decoder.flush()?;
            if consumed == 0 {
                break;
            }
        }
        decoder.flush().map(|_| ())
    }

    fn explain(&self, e: &ArrowError) -> String {
        let message = strip_kind(&e.to_string()).to_string();
        if message.contains("missing from schema") {
            format!(
                "{message}; the schema is inferred from the first {INFER_LINES} lines, and this \
                 key does not appear there (project only the columns you need, or move a line \
                 with this key to the top)"
            )
        } else {
            message
        }
    }
}

fn build_decoder(schema: &SchemaRef, strict: bool, batch_size: usize) -> Result<Decoder, ArrowError> {
    ReaderBuilder::new(schema.clone())
        .with_batch_size(batch_size)
        .with_strict_mode(strict)
        .with_coerce_primitive(true)
        .build_decoder()
}
