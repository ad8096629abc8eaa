//! Round trips, total rows, batch sizes and streaming for every format.

use crate::common::*;
use arrow_array::{Array, Int64Array};
use dotsync_source_files::{FileFormat, FileSourceConfig, peek_schema};

#[test]
fn parquet_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let original = sample(100);
    write_parquet(&dir.path().join("t.parquet"), std::slice::from_ref(&original), None);
    let source = open_in(dir.path(), "t.parquet", &options(8192, None)).unwrap();
    assert_eq!(source.format(), FileFormat::Parquet);
    assert_eq!(source.path(), dir.path().join("t.parquet"));
    assert_eq!(source.schema().fields(), original.schema().fields());
    let schema = source.schema();
    let batches = read_all(source);
    assert!(batches.iter().all(|b| b.schema() == schema));
    assert_eq!(concat(&batches), original);
}

#[test]
fn csv_round_trip_reads_every_column_as_text_and_empty_as_null() {
    let dir = tempfile::tempdir().unwrap();
    let text = as_text(&sample(50));
    write_csv(&dir.path().join("t.csv"), std::slice::from_ref(&text));
    let source = open_in(dir.path(), "t.csv", &options(8192, None)).unwrap();
    assert_eq!(source.format(), FileFormat::Csv);
    assert_eq!(source.schema(), text.schema());
    let batches = read_all(source);
    let got = concat(&batches);
    assert_eq!(got, text);
    // Row 4 has a null email, written as an empty field: it must come back null, not "".
    assert!(got.column(1).is_null(4));
    assert_eq!(got.column(1).null_count(), 10);
}

#[test]
fn csv_numbers_stay_text() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("n.csv"), "id,amount\n1,2.5\n2,oops\n3,\n").unwrap();
    let source = open_in(dir.path(), "n.csv", &options(8192, None)).unwrap();
    let schema = source.schema();
    assert!(
        schema
            .fields()
            .iter()
            .all(|f| f.data_type() == &arrow_schema::DataType::Utf8)
    );
    let batch = concat(&read_all(source));
    let amount = batch
        .column(1)
        .as_any()
        .downcast_ref::<arrow_array::StringArray>()
        .unwrap();
    assert_eq!(amount.value(0), "2.5");
    assert_eq!(amount.value(1), "oops");
    assert!(amount.is_null(2));
}

#[test]
fn jsonl_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let original = sample(60);
    write_jsonl(&dir.path().join("t.jsonl"), std::slice::from_ref(&original));
    let source = open_in(dir.path(), "t.jsonl", &options(8192, None)).unwrap();
    assert_eq!(source.format(), FileFormat::Jsonl);
    // Inferred types, columns in the order the keys appear.
    assert_eq!(source.schema().fields(), original.schema().fields());
    assert_eq!(concat(&read_all(source)), original);
}

#[test]
fn arrow_ipc_file_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let parts = [sample_from(0, 30), sample_from(30, 30), sample_from(60, 5)];
    write_ipc_file(&dir.path().join("t.arrow"), &parts);
    let source = open_in(dir.path(), "t.arrow", &options(8192, None)).unwrap();
    assert_eq!(source.format(), FileFormat::Arrow);
    assert_eq!(source.total_rows(), Some(65));
    assert_eq!(concat(&read_all(source)), sample(65));
}

#[test]
fn arrow_ipc_stream_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let parts = [sample_from(0, 40), sample_from(40, 2)];
    write_ipc_stream(&dir.path().join("t.arrows"), &parts);
    let source = open_in(dir.path(), "t.arrows", &options(8192, None)).unwrap();
    assert_eq!(source.total_rows(), None);
    assert_eq!(concat(&read_all(source)), sample(42));
}

#[test]
fn arrow_stream_format_under_a_file_extension_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    write_ipc_stream(&dir.path().join("s.feather"), &[sample(7)]);
    let source = open_in(dir.path(), "s.feather", &options(8192, None)).unwrap();
    assert_eq!(concat(&read_all(source)), sample(7));
}

#[test]
fn total_rows_is_known_for_parquet_and_arrow_files_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let batch = sample(123);
    write_parquet(&d.join("t.parquet"), std::slice::from_ref(&batch), Some(50));
    write_ipc_file(&d.join("t.arrow"), &[sample_from(0, 100), sample_from(100, 23)]);
    write_ipc_stream(&d.join("t.arrows"), std::slice::from_ref(&batch));
    write_csv(&d.join("t.csv"), &[as_text(&batch)]);
    write_jsonl(&d.join("t.jsonl"), std::slice::from_ref(&batch));
    let total = |name: &str| open_in(d, name, &options(8192, None)).unwrap().total_rows();
    assert_eq!(total("t.parquet"), Some(123));
    assert_eq!(total("t.arrow"), Some(123));
    assert_eq!(total("t.arrows"), None);
    assert_eq!(total("t.csv"), None);
    assert_eq!(total("t.jsonl"), None);
}

#[test]
fn batch_size_is_respected_by_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let batch = sample(25);
    write_parquet(&d.join("t.parquet"), std::slice::from_ref(&batch), None);
    // One 25-row IPC batch: the source must slice it.
    write_ipc_file(&d.join("t.arrow"), std::slice::from_ref(&batch));
    write_ipc_stream(&d.join("t.arrows"), std::slice::from_ref(&batch));
    write_csv(&d.join("t.csv"), &[as_text(&batch)]);
    write_jsonl(&d.join("t.jsonl"), std::slice::from_ref(&batch));
    for name in ["t.parquet", "t.arrow", "t.arrows", "t.csv", "t.jsonl"] {
        let batches = read_all(open_in(d, name, &options(7, None)).unwrap());
        let sizes: Vec<usize> = batches.iter().map(|b| b.num_rows()).collect();
        assert_eq!(sizes, vec![7, 7, 7, 4], "{name}");
        let ids = concat(&batches);
        let col = ids.column(0);
        let first = if let Some(a) = col.as_any().downcast_ref::<Int64Array>() {
            a.value(24).to_string()
        } else {
            col.as_any()
                .downcast_ref::<arrow_array::StringArray>()
                .unwrap()
                .value(24)
                .to_string()
        };
        assert_eq!(first, "24", "{name}: rows out of order");
    }
}

#[test]
fn batch_size_zero_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    write_csv(&dir.path().join("t.csv"), &[as_text(&sample(3))]);
    let err = open_in(dir.path(), "t.csv", &options(0, None)).unwrap_err();
    assert!(err.to_string().contains("batch_size must be at least 1"), "{err}");
}

#[test]
fn a_200k_row_parquet_streams_in_8192_row_batches() {
    let dir = tempfile::tempdir().unwrap();
    let rows: usize = 200_000;
    let parts: Vec<_> = (0..4).map(|i| sample_from(i * 50_000, 50_000)).collect();
    write_parquet(&dir.path().join("big.parquet"), &parts, Some(65_536));
    let source = open_in(dir.path(), "big.parquet", &options(8192, Some(&["id"]))).unwrap();
    assert_eq!(source.total_rows(), Some(rows as u64));
    let mut batches = 0;
    let mut next_id = 0i64;
    for batch in source {
        let batch = batch.unwrap();
        batches += 1;
        assert!(batch.num_rows() <= 8192);
        let ids = batch.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        for id in ids.values() {
            assert_eq!(*id, next_id);
            next_id += 1;
        }
    }
    assert_eq!(next_id, rows as i64);
    assert_eq!(batches, rows.div_ceil(8192));
}

#[test]
fn peek_schema_gives_the_full_file_schema() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let batch = sample(10);
    write_parquet(&d.join("t.parquet"), std::slice::from_ref(&batch), None);
    write_ipc_file(&d.join("t.arrow"), std::slice::from_ref(&batch));
    write_ipc_stream(&d.join("t.arrows"), std::slice::from_ref(&batch));
    write_jsonl(&d.join("t.jsonl"), std::slice::from_ref(&batch));
    write_csv(&d.join("t.csv"), &[as_text(&batch)]);
    for name in ["t.parquet", "t.arrow", "t.arrows", "t.jsonl"] {
        let schema = peek_schema(&FileSourceConfig::new(name), d).unwrap();
        assert_eq!(schema.fields(), batch.schema().fields(), "{name}");
    }
    let csv = peek_schema(&FileSourceConfig::new("t.csv"), d).unwrap();
    assert_eq!(csv.fields(), as_text(&batch).schema().fields());
}

#[test]
fn jsonl_columns_follow_first_appearance_and_sparse_columns_survive() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("\u{feff}{\"zeta\": 1, \"alpha\": null}\n\n");
    text.push_str("{\"alpha\": null, \"mid\": {\"y\": 1, \"x\": true}}\n");
    // Past the sample: "alpha" was null so far and now holds a number; it is kept as text.
    for i in 0..1500 {
        text.push_str(&format!("{{\"zeta\": {i}}}\n"));
    }
    text.push_str("{\"zeta\": 7, \"alpha\": 42}\n");
    std::fs::write(dir.path().join("s.ndjson"), text).unwrap();
    let source = open_in(dir.path(), "s.ndjson", &options(500, None)).unwrap();
    let names: Vec<String> = source.schema().fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(names, ["zeta", "alpha", "mid"]);
    let mid = source.schema().field(2).clone();
    match mid.data_type() {
        arrow_schema::DataType::Struct(fields) => {
            let inner: Vec<&str> = fields.iter().map(|f| f.name().as_str()).collect();
            assert_eq!(inner, ["x", "y"]);
        }
        other => panic!("mid is {other:?}"),
    }
    let all = concat(&read_all(source));
    assert_eq!(all.num_rows(), 1503);
    let alpha = all
        .column(1)
        .as_any()
        .downcast_ref::<arrow_array::StringArray>()
        .unwrap();
    assert_eq!(alpha.value(1502), "42");
    assert_eq!(alpha.null_count(), 1502);
}

#[test]
fn csv_options_delimiter_and_no_header() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("x.csv"), "a;'b;c'\nd;\n").unwrap();
    let mut config = FileSourceConfig::new("x.csv");
    config.csv.delimiter = ';';
    config.csv.quote = '\'';
    config.csv.has_header = false;
    let source = dotsync_source_files::open(&config, dir.path(), &options(10, None)).unwrap();
    let names: Vec<String> = source.schema().fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(names, ["column_1", "column_2"]);
    let batch = concat(&read_all(source));
    let second = batch
        .column(1)
        .as_any()
        .downcast_ref::<arrow_array::StringArray>()
        .unwrap();
    assert_eq!(batch.num_rows(), 2);
    assert_eq!(second.value(0), "b;c");
    assert!(second.is_null(1));
}

#[test]
fn csv_byte_order_mark_is_not_part_of_the_first_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bom.csv"), "\u{feff}email,name\na@b.c,A\n").unwrap();
    let source = open_in(dir.path(), "bom.csv", &options(10, Some(&["email"]))).unwrap();
    assert_eq!(source.schema().field(0).name(), "email");
    assert_eq!(concat(&read_all(source)).num_rows(), 1);
}

#[test]
fn header_only_csv_and_empty_parquet_yield_no_batches() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("h.csv"), "a,b\n").unwrap();
    let source = open_in(dir.path(), "h.csv", &options(10, None)).unwrap();
    assert_eq!(source.schema().fields().len(), 2);
    assert_eq!(read_all(source).len(), 0);

    write_parquet(&dir.path().join("e.parquet"), &[sample(0)], None);
    let source = open_in(dir.path(), "e.parquet", &options(10, None)).unwrap();
    assert_eq!(source.total_rows(), Some(0));
    assert_eq!(read_all(source).len(), 0);
}
