//! End to end from PostgreSQL: the `dotsync` binary reads a query on a throw-away server
//! (`dotsync_source_postgres::testing`), the contacts plugin loaded from its library sends the
//! rows to the emulator, and every row's outcome lands in the write-back table. The tests fail,
//! never skip, when no PostgreSQL server can be started.

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use dotsync_source_postgres::{PostgresSourceConfig, testing};
use serde_json::json;

use crate::support::*;

const CONTACTS: usize = 2_000;
/// Rows whose e-mail address is not one.
const BAD_ROWS: [usize; 3] = [17, 1_001, 1_999];

fn bad_email(i: usize) -> String {
    format!("not-an-email-{i}")
}

/// The shared test server, started (blocking) off the async runtime.
async fn start_server() {
    tokio::task::spawn_blocking(|| {
        testing::server();
    })
    .await
    .expect("the PostgreSQL test server starts");
}

/// Runs SQL statements on the test server, off the async runtime (the client blocks).
async fn exec(sql: String) {
    tokio::task::spawn_blocking(move || testing::exec(&sql))
        .await
        .expect("the SQL ran");
}

/// Creates `table` with [`CONTACTS`] contacts (the generated data of `support`, plus a column
/// no plugin maps), [`BAD_ROWS`] with an invalid e-mail address.
async fn seed(table: &str) {
    let bad = BAD_ROWS.map(|i| i.to_string()).join(",");
    exec(format!(
        "DROP TABLE IF EXISTS {table};
         CREATE TABLE {table} AS SELECT
             CASE WHEN g IN ({bad}) THEN 'not-an-email-' || g ELSE 'person' || g || '@example.com' END AS email,
             'Name' || g AS first_name, g * 1.5::float8 AS ltv, g % 7 = 0 AS vip, 'not mapped' AS notes
         FROM generate_series(0, {last}) g;",
        last = CONTACTS - 1
    ))
    .await;
}

/// A config with one contacts sync reading `query` from the test server, writing outcomes back
/// to `write_back`.
fn write_pg_config(dir: &std::path::Path, endpoint: &str, query: &str, write_back: &str) -> std::path::PathBuf {
    let path = dir.join("dotsync.toml");
    let head = config_head(endpoint);
    let text = format!(
        r#"{head}
[[sync]]
name = "crm-contacts"
plugin = "dotdigital-contacts"
source = {{ postgres = {{ url_env = "{url_env}", query = "{query}", write_back = "{write_back}" }} }}

[sync.config]
mode = "upsert"
key = "email"
identifiers = {{ email = "email" }}

[sync.config.data_fields]
FIRSTNAME = "first_name"
LTV = "ltv"
VIP = "vip"
"#,
        url_env = testing::URL_ENV,
    );
    std::fs::write(&path, text).expect("write config");
    path
}

/// Every row of `sql` on the test server, read off the async runtime.
async fn select(sql: &str) -> RecordBatch {
    let config = PostgresSourceConfig {
        url_env: testing::URL_ENV.to_owned(),
        query: Some(sql.to_owned()),
        ..PostgresSourceConfig::default()
    };
    tokio::task::spawn_blocking(move || {
        let source = dotsync_source_postgres::open(&config, None, 100_000).expect("open the check query");
        let schema = source.schema();
        let batches: Vec<RecordBatch> = source.collect::<Result<_, _>>().expect("read the check query");
        one_batch(&schema, &batches)
    })
    .await
    .expect("the check query ran")
}

/// The batches of one small result as one batch (an empty one when there are none).
fn one_batch(schema: &arrow_schema::SchemaRef, batches: &[RecordBatch]) -> RecordBatch {
    match batches {
        [] => RecordBatch::new_empty(schema.clone()),
        [one] => one.clone(),
        _ => panic!("a check query larger than one batch"),
    }
}

fn texts(batch: &RecordBatch, column: usize) -> Vec<String> {
    batch
        .column(column)
        .as_string::<i32>()
        .iter()
        .map(|v| v.unwrap_or_default().to_owned())
        .collect()
}

/// `(status, code, rows)` of the write-back table, for one run.
async fn outcome_counts(table: &str, run_id: &str) -> Vec<(String, String, i64)> {
    let batch = select(&format!(
        "SELECT status, code, count(*)::int8 AS n FROM {table} WHERE run_id = '{run_id}' \
         GROUP BY status, code ORDER BY status, code"
    ))
    .await;
    let counts = batch.column(2).as_primitive::<Int64Type>();
    texts(&batch, 0)
        .into_iter()
        .zip(texts(&batch, 1))
        .enumerate()
        .map(|(i, (status, code))| (status, code, counts.value(i)))
        .collect()
}

/// The run ids in the write-back table, in order.
async fn run_ids(table: &str) -> Vec<String> {
    texts(
        &select(&format!("SELECT DISTINCT run_id FROM {table} ORDER BY run_id")).await,
        0,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_from_a_postgres_query_arrive_and_their_outcomes_are_written_back() {
    start_server().await;
    seed("e2e_contacts").await;
    exec("DROP TABLE IF EXISTS e2e_outcomes;".to_owned()).await;
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_pg_config(
        dir.path(),
        &emulator.base_url(),
        "SELECT * FROM e2e_contacts ORDER BY ltv",
        "e2e_outcomes",
    );
    let before = emulator.state().contact_count(USER);

    let (code, sync, stderr) = run_json(dir.path(), &config).await;
    assert_eq!(code, Some(1), "rejected rows → exit 1; stderr: {stderr}");
    assert_eq!(sync["name"], "crm-contacts");
    assert_eq!(sync["rows_read"], CONTACTS);
    assert_eq!(sync["delivered"], CONTACTS - BAD_ROWS.len());
    assert_eq!(sync["rejected"], BAD_ROWS.len());
    assert_eq!(sync["failed"], 0);
    assert_eq!(sync["written_back"], CONTACTS, "one outcome row per source row");
    assert!(
        !stderr.contains(testing::PASSWORD),
        "the database password is never printed: {stderr}"
    );

    let state = emulator.state();
    assert_eq!(state.contact_count(USER), before + CONTACTS - BAD_ROWS.len());
    for i in [0, 7, 1_000, CONTACTS - 2] {
        let contact = state
            .contact_by_email(USER, &email(i))
            .unwrap_or_else(|| panic!("contact {} missing", email(i)));
        assert_eq!(
            contact.data_fields.get("FIRSTNAME"),
            Some(&json!(format!("Name{i}"))),
            "row {i}"
        );
        assert_eq!(
            contact.data_fields.get("LTV").and_then(|v| v.as_f64()),
            Some(i as f64 * 1.5),
            "row {i}"
        );
        assert_eq!(
            contact.data_fields.get("VIP"),
            Some(&json!(i.is_multiple_of(7))),
            "row {i}"
        );
    }
    for i in BAD_ROWS {
        assert!(
            state.contact_by_email(USER, &bad_email(i)).is_none(),
            "row {i} was not sent"
        );
    }

    // The write-back: every row, keyed by its e-mail address, the rejected ones with their code.
    let runs = run_ids("e2e_outcomes").await;
    assert_eq!(runs.len(), 1, "one run so far: {runs:?}");
    let first_run = runs[0].clone();
    assert_eq!(
        outcome_counts("e2e_outcomes", &first_run).await,
        [
            (
                "delivered".to_owned(),
                String::new(),
                (CONTACTS - BAD_ROWS.len()) as i64
            ),
            ("rejected".to_owned(), "InvalidEmail".to_owned(), BAD_ROWS.len() as i64),
        ]
    );
    let rejected = select("SELECT key, message, sync FROM e2e_outcomes WHERE status = 'rejected' ORDER BY key").await;
    let mut bad_keys: Vec<String> = BAD_ROWS.iter().map(|&i| bad_email(i)).collect();
    bad_keys.sort();
    assert_eq!(texts(&rejected, 0), bad_keys);
    assert!(
        texts(&rejected, 1).iter().all(|m| !m.is_empty()),
        "rejections explain themselves"
    );
    assert!(texts(&rejected, 2).iter().all(|s| s == "crm-contacts"));
    let delivered = select("SELECT count(*)::int8 FROM e2e_outcomes WHERE key = 'person1000@example.com'").await;
    assert_eq!(delivered.column(0).as_primitive::<Int64Type>().value(0), 1);

    // Again, nothing changed: no API call, every row settled from the state and written back.
    let (code, sync, stderr) = run_json(dir.path(), &config).await;
    assert_eq!(code, Some(1), "the rejected rows are still rejected; stderr: {stderr}");
    assert_eq!(sync["api_calls"], 0, "unchanged rows make no call");
    assert_eq!(sync["skipped"], CONTACTS - BAD_ROWS.len());
    assert_eq!(sync["rejected"], BAD_ROWS.len());
    assert_eq!(sync["written_back"], CONTACTS);
    let runs = run_ids("e2e_outcomes").await;
    assert_eq!(runs.len(), 2, "each run has its own id: {runs:?}");
    let second_run = runs.iter().find(|r| **r != first_run).expect("a second run id").clone();
    assert_eq!(
        outcome_counts("e2e_outcomes", &second_run).await,
        [
            (
                "rejected".to_owned(),
                "UnchangedSinceRejected".to_owned(),
                BAD_ROWS.len() as i64
            ),
            (
                "skipped".to_owned(),
                "Unchanged".to_owned(),
                (CONTACTS - BAD_ROWS.len()) as i64
            ),
        ]
    );
    let keys = select(&format!(
        "SELECT count(DISTINCT key)::int8 FROM e2e_outcomes WHERE run_id = '{second_run}'"
    ))
    .await;
    assert_eq!(
        keys.column(0).as_primitive::<Int64Type>().value(0),
        CONTACTS as i64,
        "rows settled from the state are written back under their key too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_with_a_syntax_error_stops_with_postgresql_s_message() {
    start_server().await;
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_pg_config(
        dir.path(),
        &emulator.base_url(),
        "SELEC email FROM e2e_nowhere",
        "e2e_outcomes_unused",
    );
    let output = tokio::task::spawn_blocking({
        let cwd = dir.path().to_owned();
        let config = config.to_str().unwrap().to_owned();
        move || dotsync_with_plugin(&["run", &config], &cwd)
    })
    .await
    .unwrap();
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "stderr: {text}");
    for fragment in [
        "dotsync.toml:",
        "sync \"crm-contacts\": source: PostgreSQL rejected the source query",
        "syntax error at or near \"SELEC\"",
        "SQLSTATE 42601",
    ] {
        assert!(text.contains(fragment), "stderr should contain {fragment:?}:\n{text}");
    }
    let url = std::env::var(testing::URL_ENV).expect("the test server's URL");
    assert!(
        !text.contains(testing::PASSWORD) && !text.contains(&url),
        "no credentials:\n{text}"
    );
    assert!(!text.contains("panicked"), "no panic:\n{text}");
}
