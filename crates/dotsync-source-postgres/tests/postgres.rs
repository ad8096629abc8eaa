//! Against a real PostgreSQL server (started by `support`): types with NULLs, projection,
//! schema peeking, errors, and outcome write-back.

mod support;

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, TimestampMicrosecondType,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Field, TimeUnit};
use chrono::{NaiveDate, TimeZone, Utc};
use dotsync_source_postgres::{
    OutcomeRecord, PostgresError, PostgresSourceConfig, open, peek_schema, try_write_back, write_back,
};
use support::{PASSWORD, WRONG_PASSWORD, exec, query_config, read_all, server, table_config};

/// The single batch of a result (tests ask for a batch size larger than the result).
fn concat(batches: &[RecordBatch]) -> RecordBatch {
    assert_eq!(batches.len(), 1, "expected one batch");
    batches[0].clone()
}

fn micros(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, us: u32) -> i64 {
    NaiveDate::from_ymd_opt(y, mo, d)
        .unwrap()
        .and_hms_micro_opt(h, mi, s, us)
        .unwrap()
        .and_utc()
        .timestamp_micros()
}

fn days(y: i32, mo: u32, d: u32) -> i32 {
    (NaiveDate::from_ymd_opt(y, mo, d).unwrap() - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days() as i32
}

const TYPES_DDL: &str = "
DROP TABLE IF EXISTS all_types;
CREATE TABLE all_types (
    id int4 PRIMARY KEY,
    b bool, i2 int2, i4 int4, i8 int8, f4 float4, f8 float8,
    n numeric(12,2), nf numeric, t text, vc varchar(20), ch char(3),
    d date, ts timestamp, tstz timestamptz, u uuid, j json, jb jsonb,
    a_i4 int4[], a_t text[], a_n numeric(10,3)[], a_tstz timestamptz[], a_b bool[], a_u uuid[]
);
INSERT INTO all_types VALUES
 (1, true, -32768, 2147483647, -9223372036854775808, 1.5, -2.25,
  1234567890.12, 6.02214, 'héllo ✓', 'varchar', 'ab',
  '2024-02-29', '2024-03-01 12:34:56.789012', '2024-03-01 12:34:56.789+02',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"a\": [1, 2]}', '{\"b\": null}',
  '{1,NULL,3}', '{\"x\",NULL,\"\"}', '{1.5,-2.125}', '{\"1999-12-31 23:59:59+00\"}', '{}', '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'),
 (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (3, false, 7, 0, 42, 'NaN', 'Infinity', -0.05, 'NaN', '', '', NULL,
  '1970-01-01', '1999-12-31 23:59:59', '2000-01-01 00:00:00+00',
  '00000000-0000-0000-0000-000000000000', 'null', '[]',
  '{NULL}', '{}', '{}', '{}', '{true,NULL,false}', '{}');
";

#[test]
fn every_type_with_nulls() {
    server();
    exec(TYPES_DDL);
    let config = query_config("SELECT * FROM all_types ORDER BY id;");
    let batches = read_all(&config, None, 1000);
    let batch = concat(&batches);
    assert_eq!(batch.num_rows(), 3);
    let schema = batch.schema();
    let dt = |name: &str| schema.field_with_name(name).unwrap().data_type().clone();
    assert_eq!(dt("b"), DataType::Boolean);
    assert_eq!(dt("i2"), DataType::Int16);
    assert_eq!(dt("i4"), DataType::Int32);
    assert_eq!(dt("i8"), DataType::Int64);
    assert_eq!(dt("f4"), DataType::Float32);
    assert_eq!(dt("f8"), DataType::Float64);
    assert_eq!(dt("n"), DataType::Decimal128(38, 2));
    assert_eq!(dt("nf"), DataType::Float64);
    for s in ["t", "vc", "ch", "u", "j", "jb"] {
        assert_eq!(dt(s), DataType::Utf8, "{s}");
    }
    assert_eq!(dt("d"), DataType::Date32);
    assert_eq!(dt("ts"), DataType::Timestamp(TimeUnit::Microsecond, None));
    assert_eq!(
        dt("tstz"),
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    );
    let list = |t: DataType| DataType::List(Arc::new(Field::new("item", t, true)));
    assert_eq!(dt("a_i4"), list(DataType::Int32));
    assert_eq!(dt("a_t"), list(DataType::Utf8));
    assert_eq!(dt("a_n"), list(DataType::Decimal128(38, 3)));
    assert_eq!(
        dt("a_tstz"),
        list(DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())))
    );
    assert_eq!(dt("a_b"), list(DataType::Boolean));
    assert_eq!(dt("a_u"), list(DataType::Utf8));
    assert!(schema.fields().iter().all(|f| f.is_nullable()));

    let col = |name: &str| batch.column_by_name(name).unwrap().clone();
    // Row 2 (index 1) is NULL in every column but id.
    for f in schema.fields().iter().skip(1) {
        assert!(col(f.name()).is_null(1), "{} should be NULL", f.name());
    }

    let b = col("b");
    assert!(b.as_boolean().value(0));
    assert!(!b.as_boolean().value(2));
    assert_eq!(col("i2").as_primitive::<Int16Type>().value(0), -32768);
    assert_eq!(col("i4").as_primitive::<Int32Type>().value(0), i32::MAX);
    assert_eq!(col("i8").as_primitive::<Int64Type>().value(0), i64::MIN);
    assert_eq!(col("f4").as_primitive::<Float32Type>().value(0), 1.5);
    assert!(col("f4").as_primitive::<Float32Type>().value(2).is_nan());
    assert_eq!(col("f8").as_primitive::<Float64Type>().value(0), -2.25);
    assert_eq!(col("f8").as_primitive::<Float64Type>().value(2), f64::INFINITY);
    let n = col("n");
    assert_eq!(n.as_primitive::<Decimal128Type>().value(0), 123_456_789_012);
    assert_eq!(n.as_primitive::<Decimal128Type>().value(2), -5);
    assert_eq!(col("nf").as_primitive::<Float64Type>().value(0), 6.02214);
    assert!(col("nf").as_primitive::<Float64Type>().value(2).is_nan());
    assert_eq!(col("t").as_string::<i32>().value(0), "héllo ✓");
    assert_eq!(col("t").as_string::<i32>().value(2), "");
    assert_eq!(col("vc").as_string::<i32>().value(0), "varchar");
    assert_eq!(col("ch").as_string::<i32>().value(0), "ab ");
    assert_eq!(col("d").as_primitive::<Date32Type>().value(0), days(2024, 2, 29));
    assert_eq!(col("d").as_primitive::<Date32Type>().value(2), 0);
    assert_eq!(
        col("ts").as_primitive::<TimestampMicrosecondType>().value(0),
        micros(2024, 3, 1, 12, 34, 56, 789_012)
    );
    assert_eq!(
        col("ts").as_primitive::<TimestampMicrosecondType>().value(2),
        micros(1999, 12, 31, 23, 59, 59, 0)
    );
    assert_eq!(
        col("tstz").as_primitive::<TimestampMicrosecondType>().value(0),
        micros(2024, 3, 1, 10, 34, 56, 789_000)
    );
    assert_eq!(
        col("tstz").as_primitive::<TimestampMicrosecondType>().value(2),
        micros(2000, 1, 1, 0, 0, 0, 0)
    );
    assert_eq!(
        col("u").as_string::<i32>().value(0),
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    );
    assert_eq!(col("j").as_string::<i32>().value(0), "{\"a\": [1, 2]}");
    assert_eq!(col("j").as_string::<i32>().value(2), "null");
    assert_eq!(col("jb").as_string::<i32>().value(0), "{\"b\": null}");
    assert_eq!(col("jb").as_string::<i32>().value(2), "[]");

    // Arrays.
    let a = col("a_i4");
    let a = a.as_list::<i32>();
    let first = a.value(0);
    let first = first.as_primitive::<Int32Type>();
    assert_eq!(first.len(), 3);
    assert_eq!(first.value(0), 1);
    assert!(first.is_null(1));
    assert_eq!(first.value(2), 3);
    assert_eq!(a.value(2).len(), 1);
    assert!(a.value(2).is_null(0));
    let at = col("a_t");
    let at = at.as_list::<i32>();
    let v = at.value(0);
    let v = v.as_string::<i32>();
    assert_eq!((v.value(0), v.is_null(1), v.value(2)), ("x", true, ""));
    assert_eq!(at.value(2).len(), 0);
    assert!(!at.is_null(2));
    let an = col("a_n");
    let v = an.as_list::<i32>().value(0);
    let v = v.as_primitive::<Decimal128Type>();
    assert_eq!((v.value(0), v.value(1)), (1500, -2125));
    let ats = col("a_tstz");
    let v = ats.as_list::<i32>().value(0);
    assert_eq!(
        v.as_primitive::<TimestampMicrosecondType>().value(0),
        micros(1999, 12, 31, 23, 59, 59, 0)
    );
    let ab = col("a_b");
    assert_eq!(ab.as_list::<i32>().value(0).len(), 0);
    let v = ab.as_list::<i32>().value(2);
    let v = v.as_boolean();
    assert_eq!((v.value(0), v.is_null(1), v.value(2)), (true, true, false));
    let au = col("a_u");
    assert_eq!(
        au.as_list::<i32>().value(0).as_string::<i32>().value(0),
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    );

    // The same through `table`, and peek_schema agrees without fetching rows.
    let by_table = read_all(&table_config("public.all_types"), None, 2);
    assert_eq!(by_table.iter().map(|b| b.num_rows()).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(by_table[0].schema(), schema);
    assert_eq!(peek_schema(&config).unwrap(), schema);
}

#[test]
fn numeric_with_wide_scale_and_sums() {
    let config = query_config(
        "SELECT 12345678901234567890.123456789012345678::numeric(38,18) AS wide, \
         sum(x)::numeric AS total, 1e300::numeric AS huge, 'NaN'::numeric(10,2) AS nan \
         FROM (VALUES (1.25), (2.5)) v(x)",
    );
    let schema = peek_schema(&config).unwrap();
    assert_eq!(schema.field(0).data_type(), &DataType::Decimal128(38, 18));
    assert_eq!(schema.field(1).data_type(), &DataType::Float64);
    assert_eq!(schema.field(2).data_type(), &DataType::Float64);
    // NaN in a Decimal128 column is a clear error naming the column.
    let err = open(&config, None, 10).unwrap().next().unwrap().unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("column `nan`") && msg.contains("NaN"), "{msg}");

    let projection = ["wide".to_owned(), "total".to_owned(), "huge".to_owned()];
    let batch = concat(&read_all(&config, Some(&projection), 10));
    assert_eq!(
        batch.column(0).as_primitive::<Decimal128Type>().value(0),
        12_345_678_901_234_567_890_123_456_789_012_345_678
    );
    assert_eq!(batch.column(1).as_primitive::<Float64Type>().value(0), 3.75);
    assert_eq!(batch.column(2).as_primitive::<Float64Type>().value(0), 1e300);
}

#[test]
fn projection_fetches_only_mapped_columns_in_order() {
    exec(
        "DROP TABLE IF EXISTS contacts_p; CREATE TABLE contacts_p (\"Email\" text, first_name text, \"we\"\"ird\" int4, secret text);
         INSERT INTO contacts_p VALUES ('a@x.io', 'Ann', 1, 's1'), ('b@x.io', 'Bob', 2, 's2');",
    );
    let projection = ["we\"ird".to_owned(), "Email".to_owned()];
    let config = query_config("SELECT * FROM contacts_p ORDER BY 2 -- trailing comment");
    let batch = concat(&read_all(&config, Some(&projection), 10));
    assert_eq!(batch.num_columns(), 2);
    assert_eq!(batch.schema().field(0).name(), "we\"ird");
    assert_eq!(batch.schema().field(1).name(), "Email");
    assert_eq!(batch.column(0).as_primitive::<Int32Type>().value(1), 2);
    assert_eq!(batch.column(1).as_string::<i32>().value(0), "a@x.io");

    let by_table = concat(&read_all(&table_config("contacts_p"), Some(&projection), 10));
    assert_eq!(by_table.num_columns(), 2);

    // An unsupported column outside the projection does not matter.
    let config = query_config("SELECT 'a b'::tsvector AS doc, 1 AS id");
    let batch = concat(&read_all(&config, Some(&["id".to_owned()]), 10));
    assert_eq!(batch.num_columns(), 1);

    let missing = ["email".to_owned(), "nope".to_owned()];
    let err = open(&query_config("SELECT * FROM contacts_p"), Some(&missing), 10).unwrap_err();
    match &err {
        PostgresError::MissingColumns { missing, available } => {
            assert_eq!(missing, &["email", "nope"]);
            assert_eq!(available, &["Email", "first_name", "we\"ird", "secret"]);
        }
        other => panic!("unexpected {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("`nope`") && msg.contains("available columns: `Email`"),
        "{msg}"
    );
}

#[test]
fn batches_respect_batch_size() {
    let config = query_config("SELECT g AS n, g::text AS s FROM generate_series(1, 2500) g");
    let batches = read_all(&config, None, 1000);
    assert_eq!(
        batches.iter().map(|b| b.num_rows()).collect::<Vec<_>>(),
        [1000, 1000, 500]
    );
    let last = batches[2].column(0).as_primitive::<Int32Type>();
    assert_eq!(last.value(499), 2500);
    // Empty result: no batch at all, schema still known.
    let source = open(&query_config("SELECT 1 AS x WHERE false"), None, 10).unwrap();
    assert_eq!(source.schema().field(0).name(), "x");
    assert_eq!(source.count(), 0);
}

#[test]
fn unsupported_type_names_column_and_type() {
    let err = peek_schema(&query_config("SELECT 1 AS id, to_tsvector('a b') AS doc")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "column `doc` has type `tsvector`, which dotsync cannot read; cast it in the query, e.g. `doc::text`"
    );
    let err = open(&query_config("SELECT '1.2.3.4'::inet AS \"Ip\""), None, 10).unwrap_err();
    assert!(
        err.to_string().contains(
            "column `Ip` has type `inet`, which dotsync cannot read; cast it in the query, e.g. `\"Ip\"::text`"
        ),
        "{err}"
    );
    let err = open(&query_config("SELECT ARRAY[[1,2],[3,4]] AS m"), None, 10)
        .unwrap()
        .next()
        .unwrap()
        .unwrap_err();
    assert!(err.to_string().contains("2-dimensional"), "{err}");
}

#[test]
fn syntax_error_reports_postgres_message_and_position() {
    let err = open(&query_config("SELECT id FORM contacts"), None, 10).unwrap_err();
    match &err {
        PostgresError::Query(q) => {
            assert_eq!(q.message, "syntax error at or near \"contacts\"");
            assert_eq!(q.code, "42601");
            assert_eq!(q.position, Some(16));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "PostgreSQL rejected the source query: syntax error at or near \"contacts\" (SQLSTATE 42601, at character 16)"
    );
    // Same through peek_schema.
    let err = peek_schema(&query_config("SELEC 1")).unwrap_err();
    assert!(err.to_string().contains("syntax error at or near \"SELEC\""), "{err}");
}

#[test]
fn missing_table_reports_postgres_message() {
    let err = open(&query_config("SELECT * FROM no_such_table"), None, 10).unwrap_err();
    assert!(
        err.to_string()
            .contains("relation \"no_such_table\" does not exist (SQLSTATE 42P01, at character 15)"),
        "{err}"
    );
    let err = open(&table_config("missing_schema.t"), None, 10).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("relation \"missing_schema.t\" does not exist") && !msg.contains("character"),
        "{msg}"
    );
    // A runtime error while streaming ends the stream with PostgreSQL's message.
    let mut source = open(
        &query_config("SELECT 10 / (5000 - g) AS x FROM generate_series(1, 10000) g"),
        None,
        100,
    )
    .unwrap();
    let err = source.find_map(Result::err).expect("an error");
    assert!(err.to_string().contains("division by zero"), "{err}");
    assert!(source.next().is_none());
}

#[test]
fn connection_refused_names_endpoint_not_credentials() {
    server();
    let config = PostgresSourceConfig {
        url_env: support::REFUSED_ENV.to_owned(),
        query: Some("SELECT 1".to_owned()),
        ..Default::default()
    };
    let err = open(&config, None, 10).unwrap_err();
    assert!(matches!(err, PostgresError::Connect { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with("cannot connect to PostgreSQL at 127.0.0.1:"), "{msg}");
    assert!(msg.to_lowercase().contains("refused"), "{msg}");
    assert!(!msg.contains(PASSWORD) && !msg.contains("postgres:"), "{msg}");
    assert!(!format!("{err:?}").contains(PASSWORD));
}

#[test]
fn wrong_password_reports_postgres_message_without_password() {
    server();
    let config = PostgresSourceConfig {
        url_env: support::BAD_PASSWORD_ENV.to_owned(),
        query: Some("SELECT 1".to_owned()),
        ..Default::default()
    };
    let err = peek_schema(&config).unwrap_err();
    assert!(matches!(err, PostgresError::Auth { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("password authentication failed for user \"postgres\""),
        "{msg}"
    );
    assert!(!msg.contains(WRONG_PASSWORD) && !format!("{err:?}").contains(WRONG_PASSWORD));
}

#[test]
fn missing_env_var_and_bad_config() {
    let config = PostgresSourceConfig {
        url_env: "DOTSYNC_PG_TEST_SURELY_UNSET".to_owned(),
        query: Some("SELECT 1".to_owned()),
        ..Default::default()
    };
    let err = open(&config, None, 10).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("environment variable `DOTSYNC_PG_TEST_SURELY_UNSET` is not set"),
        "{err}"
    );
    let both = PostgresSourceConfig {
        table: Some("t".to_owned()),
        ..query_config("SELECT 1")
    };
    assert!(open(&both, None, 10).unwrap_err().to_string().contains("exactly one"));
    let neither = PostgresSourceConfig::default();
    assert!(matches!(peek_schema(&neither), Err(PostgresError::Config(_))));
    let injected = table_config("t; DROP TABLE all_types");
    assert!(matches!(open(&injected, None, 1), Err(PostgresError::Config(_))));
    // The same checks without a connection.
    assert!(both.validate().unwrap_err().to_string().contains("exactly one"));
    assert!(matches!(neither.validate(), Err(PostgresError::Config(_))));
    assert!(matches!(injected.validate(), Err(PostgresError::Config(_))));
    let bad_write_back = PostgresSourceConfig {
        write_back: Some("a b".to_owned()),
        ..query_config("SELECT 1")
    };
    assert!(matches!(bad_write_back.validate(), Err(PostgresError::Config(_))));
    assert!(query_config("SELECT 1").validate().is_ok());

    // Serde: defaults, unknown fields rejected; the JSON schema is generated.
    let parsed: PostgresSourceConfig = serde_json::from_str(r#"{"query": "SELECT 1"}"#).unwrap();
    assert_eq!(parsed.url_env, "DATABASE_URL");
    assert!(serde_json::from_str::<PostgresSourceConfig>(r#"{"query": "x", "qurey": "y"}"#).is_err());
    let schema = schemars::schema_for!(PostgresSourceConfig);
    let text = serde_json::to_string(&schema).unwrap();
    assert!(text.contains("url_env") && text.contains("write_back"));
}

fn outcome(key: &str, status: &str, code: &str, message: &str, second: u32) -> OutcomeRecord {
    OutcomeRecord {
        key: key.to_owned(),
        status: status.to_owned(),
        code: code.to_owned(),
        message: message.to_owned(),
        run_id: "run-42".to_owned(),
        at: Utc.with_ymd_and_hms(2025, 5, 6, 7, 8, second).unwrap(),
    }
}

#[test]
fn write_back_creates_table_and_records_rejected_rows() {
    exec(
        "DROP TABLE IF EXISTS wb_contacts; DROP TABLE IF EXISTS \"Sync \"\"Outcomes\"\"\";
         DROP SCHEMA IF EXISTS crm CASCADE; CREATE SCHEMA crm;
         CREATE TABLE wb_contacts (email text PRIMARY KEY, name text);
         INSERT INTO wb_contacts VALUES ('a@x.io', 'Ann'), ('bad-email', 'Bob'), ('c@x.io', NULL);",
    );
    let config = query_config("SELECT email, name FROM wb_contacts");
    // The host reads the rows, the destination accepts some and rejects others...
    let batch = concat(&read_all(&config, None, 100));
    assert_eq!(batch.num_rows(), 3);
    let outcomes = vec![
        outcome("a@x.io", "accepted", "", "", 1),
        outcome(
            "bad-email",
            "rejected",
            "invalid_email",
            "email is not a valid address",
            2,
        ),
        outcome(
            "c@x.io",
            "rejected",
            "missing_required",
            "name: required 'FIRSTNAME' is empty",
            3,
        ),
    ];
    // A name needing quotes, created because it is missing.
    let table = "\"Sync \"\"Outcomes\"\"\"";
    assert_eq!(
        write_back(&config, table, "contacts-sync", outcomes.clone()).unwrap(),
        3
    );
    // Schema-qualified, unquoted (folds to lower case).
    assert_eq!(
        write_back(&config, "CRM.Outcomes", "contacts-sync", outcomes.clone()).unwrap(),
        3
    );
    // Appends to the existing table.
    assert_eq!(
        write_back(&config, "crm.outcomes", "other-sync", outcomes[1..2].to_vec()).unwrap(),
        1
    );
    assert_eq!(write_back(&config, "crm.outcomes", "empty", Vec::new()).unwrap(), 0);

    // Read the outcomes back with this crate, as users would join them in SQL.
    let joined = query_config(
        "SELECT c.email, o.status, o.code, o.message, o.run_id, o.at, o.sync
         FROM wb_contacts c JOIN \"Sync \"\"Outcomes\"\"\" o ON o.key = c.email
         WHERE o.status = 'rejected' ORDER BY c.email",
    );
    let batch = concat(&read_all(&joined, None, 100));
    assert_eq!(batch.num_rows(), 2);
    let s = |i: usize, r: usize| batch.column(i).as_string::<i32>().value(r).to_owned();
    assert_eq!(s(0, 0), "bad-email");
    assert_eq!(s(1, 0), "rejected");
    assert_eq!(s(2, 0), "invalid_email");
    assert_eq!(s(3, 0), "email is not a valid address");
    assert_eq!(s(4, 0), "run-42");
    assert_eq!(s(6, 0), "contacts-sync");
    assert_eq!(s(2, 1), "missing_required");
    assert_eq!(s(3, 1), "name: required 'FIRSTNAME' is empty");
    assert_eq!(
        batch.column(5).as_primitive::<TimestampMicrosecondType>().value(0),
        micros(2025, 5, 6, 7, 8, 2, 0)
    );

    let all = concat(&read_all(
        &query_config("SELECT sync, key, status, code, message, run_id, at FROM crm.outcomes ORDER BY sync, key"),
        None,
        100,
    ));
    assert_eq!(all.num_rows(), 4);
    let schema = all.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["sync", "key", "status", "code", "message", "run_id", "at"]);
    assert_eq!(all.column(0).as_string::<i32>().value(3), "other-sync");
    assert_eq!(all.column(2).as_string::<i32>().value(0), "accepted");

    // An existing table with other columns: PostgreSQL's message.
    exec("DROP TABLE IF EXISTS wb_wrong; CREATE TABLE wb_wrong (x int);");
    let err = write_back(&config, "wb_wrong", "s", outcomes).unwrap_err();
    assert!(
        err.to_string()
            .contains("column \"sync\" of relation \"wb_wrong\" does not exist"),
        "{err}"
    );
    assert!(matches!(
        write_back(&config, "a b", "s", Vec::new()),
        Err(PostgresError::Config(_))
    ));
}

#[test]
fn a_failing_outcome_source_aborts_the_write_back() {
    exec("DROP TABLE IF EXISTS wb_aborted;");
    let config = query_config("SELECT 1 AS one");
    let outcomes = vec![
        Ok(outcome("a@x.io", "delivered", "", "", 1)),
        Err(std::io::Error::other("the spool file ends in the middle of a record")),
        Ok(outcome("b@x.io", "delivered", "", "", 2)),
    ];
    let err = try_write_back(&config, "wb_aborted", "s", outcomes).unwrap_err();
    assert!(matches!(err, PostgresError::Outcomes { .. }), "{err:?}");
    assert!(err.to_string().contains("in the middle of a record"), "{err}");
    assert!(err.to_string().contains("nothing was written"), "{err}");
    let count = concat(&read_all(
        &query_config("SELECT count(*) AS n FROM wb_aborted"),
        None,
        10,
    ));
    assert_eq!(
        count.column(0).as_primitive::<Int64Type>().value(0),
        0,
        "the COPY was aborted"
    );
}

/// A run that stops early drops its source inside an async task: the source's own runtime must
/// not panic there ("Cannot drop a runtime in a context where blocking is not allowed").
#[tokio::test]
async fn a_source_dropped_inside_an_async_task_does_not_panic() {
    let config = query_config("SELECT g AS n FROM generate_series(1, 100000) g");
    let source = tokio::task::spawn_blocking(move || {
        let mut source = open(&config, None, 10).expect("open");
        let first = source.next().expect("a first batch").expect("no error");
        assert_eq!(first.num_rows(), 10);
        source
    })
    .await
    .expect("the blocking task ran");
    // Mid-stream, on the async runtime's thread.
    drop(source);
}
