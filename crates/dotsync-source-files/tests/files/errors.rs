//! Error messages: every one names the file, and the line where there is one.

use crate::common::*;
use dotsync_source_files::{FileSourceConfig, SourceError, open, peek_schema};
use proptest::prelude::*;

#[test]
fn file_not_found_names_the_resolved_path() {
    let dir = tempfile::tempdir().unwrap();
    let err = open_in(dir.path(), "nope.csv", &options(10, None)).unwrap_err();
    assert!(matches!(err, SourceError::NotFound { .. }), "{err:?}");
    let expected = format!("file not found: {}", dir.path().join("nope.csv").display());
    assert_eq!(err.to_string(), expected);
    let err = peek_schema(&FileSourceConfig::new("nope.parquet"), dir.path()).unwrap_err();
    assert!(matches!(err, SourceError::NotFound { .. }), "{err:?}");
}

#[test]
fn a_folder_is_unreadable_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub.csv")).unwrap();
    let err = open_in(dir.path(), "sub.csv", &options(10, None)).unwrap_err();
    assert!(matches!(err, SourceError::Unreadable { .. }), "{err:?}");
    assert!(err.to_string().contains("sub.csv"), "{err}");
}

#[test]
fn empty_files_are_reported_as_empty() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["e.parquet", "e.csv", "e.jsonl", "e.arrow"] {
        std::fs::write(dir.path().join(name), "").unwrap();
        let err = open_in(dir.path(), name, &options(10, None)).unwrap_err();
        assert!(matches!(err, SourceError::EmptyFile { .. }), "{name}: {err:?}");
        assert!(
            err.to_string().ends_with(&format!("{name}: the file is empty")),
            "{err}"
        );
    }
    std::fs::write(dir.path().join("blank.jsonl"), "\n  \n\n").unwrap();
    let err = open_in(dir.path(), "blank.jsonl", &options(10, None)).unwrap_err();
    assert!(matches!(err, SourceError::EmptyFile { .. }), "{err:?}");
}

#[test]
fn malformed_parquet_says_so_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    // Deterministic pseudo-random bytes.
    let mut x: u32 = 0x1234_5678;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    std::fs::write(dir.path().join("junk.parquet"), &bytes).unwrap();
    let err = open_in(dir.path(), "junk.parquet", &options(10, None)).unwrap_err();
    let path = dir.path().join("junk.parquet");
    assert!(matches!(err, SourceError::Parquet { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("{}: not a valid Parquet file: ", path.display())),
        "{text}"
    );
    let err = peek_schema(&FileSourceConfig::new("junk.parquet"), dir.path()).unwrap_err();
    assert!(err.to_string().contains("not a valid Parquet file"), "{err}");
}

#[test]
fn truncated_parquet_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.parquet");
    write_parquet(&path, &[sample(1000)], None);
    let bytes = std::fs::read(&path).unwrap();
    // Cut the footer off, and separately corrupt the data pages but keep the footer.
    std::fs::write(dir.path().join("cut.parquet"), &bytes[..bytes.len() / 2]).unwrap();
    let err = open_in(dir.path(), "cut.parquet", &options(100, None)).unwrap_err();
    assert!(err.to_string().contains("not a valid Parquet file"), "{err}");

    let mut bad = bytes.clone();
    for b in &mut bad[8..bytes.len() / 2] {
        *b = b.wrapping_mul(31).wrapping_add(7);
    }
    std::fs::write(dir.path().join("bad.parquet"), &bad).unwrap();
    let outcome =
        open_in(dir.path(), "bad.parquet", &options(100, None)).and_then(|s| s.collect::<Result<Vec<_>, _>>());
    let err = outcome.expect_err("corrupt pages must fail");
    assert!(err.to_string().contains("bad.parquet"), "{err}");
}

#[test]
fn csv_ragged_row_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.csv"), "a,b\n1,2\n3\n4,5\n").unwrap();
    let source = open_in(dir.path(), "r.csv", &options(8192, None)).unwrap();
    let (good, err) = read_until_error(source);
    assert!(good.is_empty());
    assert!(matches!(err, SourceError::Csv { .. }), "{err:?}");
    assert_eq!(err.line(), Some(3));
    let text = err.to_string();
    let path = dir.path().join("r.csv");
    assert!(
        text.starts_with(&format!("{}, line 3: invalid CSV:", path.display())),
        "{text}"
    );
    assert!(text.contains("expected 2 got 1"), "{text}");
}

#[test]
fn csv_error_after_good_batches_ends_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("id,email\n");
    for i in 0..20 {
        text.push_str(&format!("{i},u{i}@x.io\n"));
    }
    text.push_str("20,a,extra\n21,b\n");
    std::fs::write(dir.path().join("late.csv"), text).unwrap();
    let mut source = open_in(dir.path(), "late.csv", &options(5, None)).unwrap();
    let mut rows = 0;
    let err = loop {
        match source.next() {
            Some(Ok(b)) => rows += b.num_rows(),
            Some(Err(e)) => break e,
            None => panic!("no error"),
        }
    };
    assert_eq!(rows, 20);
    assert_eq!(err.line(), Some(22), "{err}");
    assert!(err.to_string().contains("line 22"), "{err}");
    assert!(source.next().is_none(), "the stream must end after an error");
}

#[test]
fn csv_invalid_utf8_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("u.csv"), b"a,b\n1,2\n3,\xff\xfe\n").unwrap();
    let (_, err) = read_until_error(open_in(dir.path(), "u.csv", &options(10, None)).unwrap());
    assert!(err.to_string().contains("line 3"), "{err}");
    assert!(err.to_string().contains("u.csv"), "{err}");
}

#[test]
fn csv_bad_options_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("o.csv"), "a,b\n").unwrap();
    let mut config = FileSourceConfig::new("o.csv");
    config.csv.delimiter = '§';
    let err = open(&config, dir.path(), &options(10, None)).unwrap_err();
    assert!(matches!(err, SourceError::InvalidOptions { .. }), "{err:?}");
    assert!(err.to_string().contains("csv.delimiter"), "{err}");
}

#[test]
fn jsonl_bad_line_in_the_sample_is_named_at_open() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("b.jsonl"),
        "{\"a\": 1}\n\n{\"a\": 2}\n{\"a\": 3,\n{\"a\": 4}\n",
    )
    .unwrap();
    let err = open_in(dir.path(), "b.jsonl", &options(10, None)).unwrap_err();
    assert!(matches!(err, SourceError::Json { .. }), "{err:?}");
    assert_eq!(err.line(), Some(4), "{err}");
    let path = dir.path().join("b.jsonl");
    assert!(
        err.to_string().starts_with(&format!(
            "{}, line 4: invalid JSON lines: not valid JSON",
            path.display()
        )),
        "{err}"
    );

    std::fs::write(dir.path().join("arr.json"), "[{\"a\": 1}]\n").unwrap();
    let err = open_in(dir.path(), "arr.json", &options(10, None)).unwrap_err();
    assert_eq!(err.line(), Some(1));
    assert!(
        err.to_string()
            .contains("expected one JSON object per line, found an array"),
        "{err}"
    );
}

#[test]
fn jsonl_type_conflict_in_the_sample_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..40 {
        text.push_str(&format!("{{\"a\": {i}}}\n"));
    }
    text.push_str("{\"a\": {\"b\": 1}}\n{\"a\": 2}\n");
    std::fs::write(dir.path().join("c.jsonl"), text).unwrap();
    let err = open_in(dir.path(), "c.jsonl", &options(10, None)).unwrap_err();
    assert_eq!(err.line(), Some(41), "{err}");
    assert!(err.to_string().contains("conflicts with earlier lines"), "{err}");
}

fn jsonl_with_tail(tail: &str) -> String {
    let mut text = String::new();
    for i in 0..1200 {
        text.push_str(&format!("{{\"id\": {i}, \"email\": \"u{i}@x.io\"}}\n"));
    }
    text.push_str(tail);
    text.push_str("{\"id\": 9999, \"email\": \"last@x.io\"}\n");
    text
}

#[test]
fn jsonl_bad_line_after_the_sample_is_named_while_streaming() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("late.jsonl"), jsonl_with_tail("{\"id\": 5,\n")).unwrap();
    let source = open_in(dir.path(), "late.jsonl", &options(100, None)).unwrap();
    let (good, err) = read_until_error(source);
    assert_eq!(good.iter().map(|b| b.num_rows()).sum::<usize>(), 1200);
    assert!(matches!(err, SourceError::Json { .. }), "{err:?}");
    assert_eq!(err.line(), Some(1201), "{err}");
    assert!(err.to_string().contains("late.jsonl, line 1201: "), "{err}");
}

#[test]
fn jsonl_value_of_another_type_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.jsonl"), jsonl_with_tail("{\"id\": \"seven\"}\n")).unwrap();
    let (_, err) = read_until_error(open_in(dir.path(), "t.jsonl", &options(8192, None)).unwrap());
    assert_eq!(err.line(), Some(1201), "{err}");
}

#[test]
fn jsonl_unknown_key_after_the_sample_is_an_error_unless_projected_away() {
    let dir = tempfile::tempdir().unwrap();
    let text = jsonl_with_tail("{\"id\": 1, \"phone\": \"+4420\"}\n");
    std::fs::write(dir.path().join("k.jsonl"), text).unwrap();
    let (_, err) = read_until_error(open_in(dir.path(), "k.jsonl", &options(8192, None)).unwrap());
    assert_eq!(err.line(), Some(1201), "{err}");
    assert!(err.to_string().contains("phone"), "{err}");
    assert!(err.to_string().contains("first 1000 lines"), "{err}");

    let source = open_in(dir.path(), "k.jsonl", &options(8192, Some(&["email", "id"]))).unwrap();
    let all = concat(&read_all(source));
    assert_eq!(all.num_rows(), 1202);
    assert_eq!(all.schema().field(0).name(), "email");
}

#[test]
fn missing_columns_list_what_is_available_and_suggest() {
    let dir = tempfile::tempdir().unwrap();
    write_parquet(&dir.path().join("c.parquet"), &[sample(3)], None);
    let err = open_in(dir.path(), "c.parquet", &options(10, Some(&["id", "Email", "phone"]))).unwrap_err();
    match &err {
        SourceError::MissingColumns { missing, available, .. } => {
            assert_eq!(missing, &["Email", "phone"]);
            assert_eq!(available, &["id", "email", "score", "active"]);
        }
        other => panic!("{other:?}"),
    }
    let text = err.to_string();
    let path = dir.path().join("c.parquet");
    assert_eq!(
        text,
        format!(
            "{}: columns not found in the file: \"Email\", \"phone\"; available columns: \"id\", \
             \"email\", \"score\", \"active\"; did you mean \"email\" instead of \"Email\"?",
            path.display()
        )
    );
}

#[test]
fn missing_columns_suggest_underscore_variants_for_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("c.csv"), "first_name,last_name\nA,B\n").unwrap();
    std::fs::write(d.join("c.jsonl"), "{\"first_name\": \"A\"}\n").unwrap();
    for name in ["c.csv", "c.jsonl"] {
        let err = open_in(d, name, &options(10, Some(&["FirstName"]))).unwrap_err();
        assert!(matches!(err, SourceError::MissingColumns { .. }), "{err:?}");
        assert!(err.to_string().contains("did you mean \"first_name\""), "{err}");
        assert!(err.to_string().contains(name), "{err}");
    }
    write_ipc_file(&d.join("c.arrow"), &[sample(2)]);
    let err = open_in(d, "c.arrow", &options(10, Some(&["nope"]))).unwrap_err();
    assert!(
        err.to_string().contains("column not found in the file: \"nope\""),
        "{err}"
    );
    assert!(!err.to_string().contains("did you mean"), "{err}");
}

#[test]
fn corrupt_arrow_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_ipc_file(&d.join("ok.arrow"), &[sample(50), sample_from(50, 50)]);
    let bytes = std::fs::read(d.join("ok.arrow")).unwrap();
    std::fs::write(d.join("cut.arrow"), &bytes[..bytes.len() - 20]).unwrap();
    let err = open_in(d, "cut.arrow", &options(10, None)).unwrap_err();
    assert!(matches!(err, SourceError::Arrow { .. }), "{err:?}");
    assert!(
        err.to_string().contains("cut.arrow: not a valid Arrow IPC file"),
        "{err}"
    );

    std::fs::write(d.join("junk.arrows"), b"definitely not arrow data").unwrap();
    let err = open_in(d, "junk.arrows", &options(10, None)).unwrap_err();
    assert!(err.to_string().contains("junk.arrows"), "{err}");
}

fn exercise(dir: &std::path::Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).unwrap();
    // Whatever the bytes, the outcome is batches or an error naming the file: never a panic.
    let _ = peek_schema(&FileSourceConfig::new(name), dir).map_err(|e| {
        assert!(e.to_string().contains(name), "{e}");
    });
    if let Ok(source) = open_in(dir, name, &options(3, None)) {
        for item in source.take(10_000) {
            if let Err(e) = item {
                assert!(e.to_string().contains(name), "{e}");
            }
        }
    } else if let Err(e) = open_in(dir, name, &options(3, None)) {
        assert!(e.to_string().contains(name), "{e}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let dir = tempfile::tempdir().unwrap();
        for name in ["f.parquet", "f.csv", "f.jsonl", "f.arrow"] {
            exercise(dir.path(), name, &bytes);
        }
    }

    #[test]
    fn damaged_real_files_never_panic(flip in 0usize..10_000, value in any::<u8>()) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write_parquet(&d.join("p.parquet"), &[sample(40)], None);
        write_ipc_file(&d.join("p.arrow"), &[sample(40)]);
        write_ipc_stream(&d.join("p.arrows"), &[sample(40)]);
        for name in ["p.parquet", "p.arrow", "p.arrows"] {
            let mut bytes = std::fs::read(d.join(name)).unwrap();
            let i = flip % bytes.len();
            bytes[i] = value;
            exercise(d, &format!("x{name}"), &bytes);
        }
    }
}
