//! Projection: only the requested columns, in the requested order, for every format.

use crate::common::*;
use arrow_array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};

fn names(batch: &RecordBatch) -> Vec<String> {
    batch.schema().fields().iter().map(|f| f.name().clone()).collect()
}

#[test]
fn parquet_projection_decodes_only_requested_columns_in_request_order() {
    let dir = tempfile::tempdir().unwrap();
    let original = sample(30);
    write_parquet(&dir.path().join("p.parquet"), std::slice::from_ref(&original), None);
    let source = open_in(dir.path(), "p.parquet", &options(8, Some(&["score", "id"]))).unwrap();
    let schema = source.schema();
    let got: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(got, ["score", "id"]);
    let batches = read_all(source);
    assert!(batches.iter().all(|b| b.schema() == schema && b.num_columns() == 2));
    let all = concat(&batches);
    assert_eq!(all.column(0).as_ref(), original.column(2).as_ref());
    assert_eq!(all.column(1).as_ref(), original.column(0).as_ref());
    let score = all.column(0).as_any().downcast_ref::<Float64Array>().unwrap();
    assert_eq!(score.value(3), 4.5);
}

#[test]
fn projection_works_the_same_for_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let batch = sample(12);
    write_parquet(&d.join("t.parquet"), std::slice::from_ref(&batch), None);
    write_ipc_file(&d.join("t.arrow"), std::slice::from_ref(&batch));
    write_ipc_stream(&d.join("t.arrows"), std::slice::from_ref(&batch));
    write_jsonl(&d.join("t.jsonl"), std::slice::from_ref(&batch));
    write_csv(&d.join("t.csv"), &[as_text(&batch)]);
    for name in ["t.parquet", "t.arrow", "t.arrows", "t.jsonl", "t.csv"] {
        let source = open_in(d, name, &options(5, Some(&["active", "email"]))).unwrap();
        let schema = source.schema();
        let batches = read_all(source);
        assert!(batches.iter().all(|b| b.schema() == schema), "{name}");
        let all = concat(&batches);
        assert_eq!(names(&all), ["active", "email"], "{name}");
        let email = all.column(1).as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(email.value(2), "user2@example.com", "{name}");
        assert!(email.is_null(4), "{name}");
        assert_eq!(all.num_rows(), 12, "{name}");
    }
}

#[test]
fn file_order_projection_and_repeated_columns() {
    let dir = tempfile::tempdir().unwrap();
    write_ipc_file(&dir.path().join("t.arrow"), &[sample(4)]);
    let source = open_in(dir.path(), "t.arrow", &options(10, Some(&["id", "email"]))).unwrap();
    assert_eq!(names(&concat(&read_all(source))), ["id", "email"]);

    write_parquet(&dir.path().join("t.parquet"), &[sample(4)], None);
    let source = open_in(dir.path(), "t.parquet", &options(10, Some(&["id", "score", "id"]))).unwrap();
    let all = concat(&read_all(source));
    assert_eq!(names(&all), ["id", "score", "id"]);
    let last = all.column(2).as_any().downcast_ref::<Int64Array>().unwrap();
    assert_eq!(last.value(3), 3);
}

#[test]
fn empty_projection_yields_no_columns_but_keeps_row_count_where_possible() {
    let dir = tempfile::tempdir().unwrap();
    write_csv(&dir.path().join("t.csv"), &[as_text(&sample(6))]);
    let source = open_in(dir.path(), "t.csv", &options(10, Some(&[]))).unwrap();
    assert_eq!(source.schema().fields().len(), 0);
    let rows: usize = read_all(source).iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 6);
}
