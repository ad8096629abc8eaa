//! Helpers shared by the integration tests: small files written with the Arrow writers.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use dotsync_source_files::{FileSource, FileSourceConfig, OpenOptions, SourceError, open};

/// A batch of `rows` rows: id (Int64, 0..rows), email (Utf8, every 5th null), score (Float64),
/// active (Boolean).
pub fn sample(rows: usize) -> RecordBatch {
    sample_from(0, rows)
}

pub fn sample_from(start: usize, rows: usize) -> RecordBatch {
    let ids: Vec<i64> = (start..start + rows).map(|i| i as i64).collect();
    let emails: Vec<Option<String>> = (start..start + rows)
        .map(|i| (i % 5 != 4).then(|| format!("user{i}@example.com")))
        .collect();
    let scores: Vec<f64> = (start..start + rows).map(|i| i as f64 * 1.5).collect();
    let active: Vec<bool> = (start..start + rows).map(|i| i % 2 == 0).collect();
    RecordBatch::try_new(
        Arc::new(sample_schema()),
        vec![
            Arc::new(Int64Array::from(ids)) as ArrayRef,
            Arc::new(StringArray::from(emails)),
            Arc::new(Float64Array::from(scores)),
            Arc::new(BooleanArray::from(active)),
        ],
    )
    .expect("sample batch")
}

pub fn sample_schema() -> Schema {
    Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("email", DataType::Utf8, true),
        Field::new("score", DataType::Float64, true),
        Field::new("active", DataType::Boolean, true),
    ])
}

/// The same batch with every column as text (what CSV gives back).
pub fn as_text(batch: &RecordBatch) -> RecordBatch {
    let fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| Field::new(f.name(), DataType::Utf8, true))
        .collect();
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .map(|c| {
            let strings: Vec<Option<String>> = (0..c.len())
                .map(|i| {
                    if c.is_null(i) {
                        None
                    } else if let Some(a) = c.as_any().downcast_ref::<Int64Array>() {
                        Some(a.value(i).to_string())
                    } else if let Some(a) = c.as_any().downcast_ref::<Float64Array>() {
                        Some(a.value(i).to_string())
                    } else if let Some(a) = c.as_any().downcast_ref::<BooleanArray>() {
                        Some(a.value(i).to_string())
                    } else if let Some(a) = c.as_any().downcast_ref::<StringArray>() {
                        Some(a.value(i).to_string())
                    } else {
                        panic!("unexpected type")
                    }
                })
                .collect();
            Arc::new(StringArray::from(strings)) as ArrayRef
        })
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("text batch")
}

pub fn write_parquet(path: &Path, batches: &[RecordBatch], row_group_rows: Option<usize>) {
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(row_group_rows)
        .build();
    let file = File::create(path).expect("create parquet");
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batches[0].schema(), Some(props)).expect("writer");
    for b in batches {
        writer.write(b).expect("write parquet");
    }
    writer.close().expect("close parquet");
}

pub fn write_csv(path: &Path, batches: &[RecordBatch]) {
    let file = File::create(path).expect("create csv");
    let mut writer = arrow_csv::WriterBuilder::new().with_header(true).build(file);
    for b in batches {
        writer.write(b).expect("write csv");
    }
}

pub fn write_jsonl(path: &Path, batches: &[RecordBatch]) {
    let file = File::create(path).expect("create jsonl");
    let mut writer = arrow_json::LineDelimitedWriter::new(file);
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    writer.write_batches(&refs).expect("write jsonl");
    writer.finish().expect("finish jsonl");
}

pub fn write_ipc_file(path: &Path, batches: &[RecordBatch]) {
    let file = File::create(path).expect("create arrow");
    let mut writer = arrow_ipc::writer::FileWriter::try_new(file, &batches[0].schema()).expect("writer");
    for b in batches {
        writer.write(b).expect("write arrow");
    }
    writer.finish().expect("finish arrow");
}

pub fn write_ipc_stream(path: &Path, batches: &[RecordBatch]) {
    let file = File::create(path).expect("create arrows");
    let mut writer = arrow_ipc::writer::StreamWriter::try_new(file, &batches[0].schema()).expect("writer");
    for b in batches {
        writer.write(b).expect("write arrows");
    }
    writer.finish().expect("finish arrows");
}

pub fn options(batch_size: usize, projection: Option<&[&str]>) -> OpenOptions {
    OpenOptions {
        batch_size,
        projection: projection.map(|p| p.iter().map(|s| s.to_string()).collect()),
    }
}

/// Opens `name` in `dir` (format from the extension).
pub fn open_in(dir: &Path, name: &str, opts: &OpenOptions) -> Result<FileSource, SourceError> {
    open(&FileSourceConfig::new(name), dir, opts)
}

/// Reads every batch, panicking on an error.
pub fn read_all(source: FileSource) -> Vec<RecordBatch> {
    source.collect::<Result<Vec<_>, _>>().expect("read batches")
}

/// Reads until the first error and returns it with the batches before it.
pub fn read_until_error(source: FileSource) -> (Vec<RecordBatch>, SourceError) {
    let mut ok = Vec::new();
    for item in source {
        match item {
            Ok(b) => ok.push(b),
            Err(e) => return (ok, e),
        }
    }
    panic!("expected an error, read {} batches without one", ok.len());
}

pub fn concat(batches: &[RecordBatch]) -> RecordBatch {
    let schema = batches[0].schema();
    arrow_select::concat::concat_batches(&schema, batches).expect("concat")
}

pub fn path_in(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}
