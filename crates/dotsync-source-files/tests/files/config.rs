//! Format inference and override, config (de)serialization, path resolution.

use crate::common::*;
use dotsync_source_files::{CsvOptions, FileFormat, FileSourceConfig, SourceError, open};

#[test]
fn format_is_inferred_from_every_documented_extension() {
    let cases = [
        ("parquet", FileFormat::Parquet),
        ("pq", FileFormat::Parquet),
        ("PQ", FileFormat::Parquet),
        ("csv", FileFormat::Csv),
        ("CSV", FileFormat::Csv),
        ("jsonl", FileFormat::Jsonl),
        ("ndjson", FileFormat::Jsonl),
        ("json", FileFormat::Jsonl),
        ("arrow", FileFormat::Arrow),
        ("feather", FileFormat::Arrow),
        ("ipc", FileFormat::Arrow),
        ("arrows", FileFormat::Arrow),
    ];
    for (ext, format) in cases {
        let config = FileSourceConfig::new(format!("data/file.{ext}"));
        assert_eq!(
            config.resolve_format(std::path::Path::new("/cfg")).unwrap(),
            format,
            "{ext}"
        );
    }
}

#[test]
fn files_are_read_as_the_inferred_format() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let batch = sample(9);
    write_parquet(&d.join("a.pq"), std::slice::from_ref(&batch), None);
    write_ipc_file(&d.join("a.feather"), std::slice::from_ref(&batch));
    write_jsonl(&d.join("a.ndjson"), std::slice::from_ref(&batch));
    for (name, format) in [
        ("a.pq", FileFormat::Parquet),
        ("a.feather", FileFormat::Arrow),
        ("a.ndjson", FileFormat::Jsonl),
    ] {
        let source = open_in(d, name, &options(100, None)).unwrap();
        assert_eq!(source.format(), format);
        assert_eq!(concat(&read_all(source)), batch, "{name}");
    }
}

#[test]
fn unknown_extension_explains_formats_and_the_format_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("data.txt"), "a,b\n1,2\n").unwrap();
    let err = open_in(dir.path(), "data.txt", &options(10, None)).unwrap_err();
    assert!(matches!(err, SourceError::UnknownFormat { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("data.txt"), "{text}");
    assert!(text.contains("\".txt\""), "{text}");
    assert!(text.contains("`format` key"), "{text}");
    for name in ["parquet", "csv", "jsonl", "arrow"] {
        assert!(text.contains(name), "{text}");
    }
    let err = open_in(dir.path(), "no_extension", &options(10, None)).unwrap_err();
    assert!(err.to_string().contains("has no extension"), "{err}");
}

#[test]
fn configured_format_overrides_the_extension() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("data.txt"), "a,b\n1,2\n").unwrap();
    let mut config = FileSourceConfig::new("data.txt");
    config.format = Some(FileFormat::Csv);
    let source = open(&config, d, &options(10, None)).unwrap();
    assert_eq!(source.format(), FileFormat::Csv);
    assert_eq!(concat(&read_all(source)).num_rows(), 1);

    // A Parquet file misnamed .csv is read as Parquet when told so.
    write_parquet(&d.join("really_parquet.csv"), &[sample(4)], None);
    let mut config = FileSourceConfig::new("really_parquet.csv");
    config.format = Some(FileFormat::Parquet);
    let source = open(&config, d, &options(10, None)).unwrap();
    assert_eq!(concat(&read_all(source)), sample(4));
}

#[test]
fn relative_paths_resolve_against_the_config_folder_and_absolute_ones_stay() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    write_csv(&dir.path().join("data/c.csv"), &[as_text(&sample(2))]);
    let source = open(&FileSourceConfig::new("data/c.csv"), dir.path(), &options(10, None)).unwrap();
    assert_eq!(source.path(), dir.path().join("data/c.csv"));

    let absolute = FileSourceConfig::new(dir.path().join("data/c.csv"));
    let source = open(&absolute, std::path::Path::new("/elsewhere"), &options(10, None)).unwrap();
    assert_eq!(source.path(), dir.path().join("data/c.csv"));
}

#[test]
fn config_deserializes_with_defaults_and_rejects_unknown_fields() {
    let config: FileSourceConfig = serde_json::from_str(r#"{"path": "x.data", "format": "jsonl"}"#).unwrap();
    assert_eq!(config.format, Some(FileFormat::Jsonl));
    assert_eq!(config.csv, CsvOptions::default());
    assert_eq!(config.csv.delimiter, ',');
    assert!(config.csv.has_header);
    assert_eq!(config.csv.quote, '"');

    let config: FileSourceConfig = serde_json::from_str(r#"{"path": "x.csv", "csv": {"delimiter": "\t"}}"#).unwrap();
    assert_eq!(config.csv.delimiter, '\t');
    assert!(config.csv.has_header);

    assert!(serde_json::from_str::<FileSourceConfig>(r#"{"path": "x", "fromat": "csv"}"#).is_err());
    assert!(serde_json::from_str::<FileSourceConfig>(r#"{"path": "x", "csv": {"sep": ";"}}"#).is_err());
    assert!(serde_json::from_str::<FileSourceConfig>(r#"{"path": "x", "format": "xlsx"}"#).is_err());
    assert!(serde_json::from_str::<FileSourceConfig>(r#"{"path": "x", "csv": {"delimiter": ";;"}}"#).is_err());

    let back = serde_json::to_value(FileSourceConfig {
        path: "a.parquet".into(),
        format: Some(FileFormat::Parquet),
        csv: CsvOptions::default(),
    })
    .unwrap();
    assert_eq!(back["format"], "parquet");
}

#[test]
fn json_schema_documents_the_fields() {
    let schema = serde_json::to_value(schemars::schema_for!(FileSourceConfig)).unwrap();
    let text = schema.to_string();
    assert!(text.contains("relative to the config file's folder"), "{text}");
    assert!(text.contains("\"additionalProperties\":false"), "{text}");
    for word in ["delimiter", "has_header", "quote", "parquet", "jsonl", "arrow"] {
        assert!(text.contains(word), "{word} missing from {text}");
    }
}
