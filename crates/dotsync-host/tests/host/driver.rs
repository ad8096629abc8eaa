//! The driver against a fake destination (an axum server on 127.0.0.1:0) and the fake planner.

use crate::common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Duration;

use dotsync_executor::{Credentials, Executor, ExecutorConfig};
use dotsync_host::{
    Config, NoProgress, PluginRegistry, ProgressSink, ResolvedConnection, RunError, RunErrorKind, RunMode, RunOptions,
    SyncReport, SyncSpec, run_config, run_sync,
};
use dotsync_source_files::FileSourceConfig;

pub(crate) const USER: &str = "demo@apiconnector.com";
const SECRET: &str = "hunter2-very-secret";

const CSV: &str = "email,age\n\
a@x.com,1\n\
b@x.com,2\n\
nope,3\n\
d@x.com,abc\n\
e@x.com,5\n\
f@x.com,\n\
g@x.com,7\n";

const GOOD_CSV: &str = "email,age\n\
a@x.com,1\n\
b@x.com,2\n\
c@x.com,3\n\
d@x.com,4\n\
e@x.com,5\n\
f@x.com,\n\
g@x.com,7\n";

pub(crate) fn registry() -> PluginRegistry {
    let mut registry = PluginRegistry::new();
    registry.register_static(common::descriptor_named("fake")).unwrap();
    registry
}

pub(crate) fn spec(dir: &Path, csv: &str, config: serde_json::Value) -> SyncSpec {
    std::fs::write(dir.join("input.csv"), csv).unwrap();
    SyncSpec {
        name: "items".into(),
        plugin: registry().get("fake").unwrap().clone(),
        config,
        source: FileSourceConfig::new("input.csv").into(),
        base_dir: dir.to_owned(),
        batch_size: 2,
        api_user: USER.into(),
    }
}

pub(crate) fn executor(base_url: &str) -> Executor {
    Executor::new(ExecutorConfig {
        base_url: base_url.to_owned(),
        credentials: Credentials::new(USER, SECRET),
        attempt_timeout: Duration::from_secs(10),
        max_attempts: 2,
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(20),
        // One slot: the run only completes when the driver frees slots the planner releases.
        slot_limits: HashMap::from([("item-slot".to_owned(), 1)]),
        ..ExecutorConfig::default()
    })
    .unwrap()
}

pub(crate) fn options(mode: RunMode, dir: &Path) -> RunOptions {
    RunOptions {
        mode,
        rejects_dir: Some(dir.join("rejects")),
        ..RunOptions::default()
    }
}

async fn run(spec: &SyncSpec, base_url: &str, options: RunOptions) -> Result<SyncReport, RunError> {
    tokio::time::timeout(
        Duration::from_secs(30),
        run_sync(spec, &executor(base_url), options, None, &NoProgress),
    )
    .await
    .expect("the sync finishes (a hang means a slot was never freed)")
}

fn rejects(report: &SyncReport) -> Vec<String> {
    let path = report.rejects_file.as_ref().expect("a rejects file");
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[1..].sort();
    lines
}

/// Counts progress events.
#[derive(Default)]
struct Counting {
    done: Mutex<u64>,
    finished: Mutex<Vec<String>>,
}

impl ProgressSink for Counting {
    fn sync_started(&self, _name: &str, _total_rows: Option<u64>) {}
    fn rows_done(&self, _name: &str, count: u64) {
        *self.done.lock().unwrap() += count;
    }
    fn sync_finished(&self, report: &SyncReport) {
        self.finished.lock().unwrap().push(report.name.clone());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_gets_exactly_one_outcome_and_bad_rows_go_to_the_rejects_file() {
    let dir = tempfile::tempdir().unwrap();
    let (url, log) = common::start_server(None).await;
    let spec = spec(dir.path(), CSV, serde_json::json!({ "mode": "upsert" }));
    let progress = Counting::default();
    let report = tokio::time::timeout(
        Duration::from_secs(30),
        run_sync(
            &spec,
            &executor(&url),
            options(RunMode::Run, dir.path()),
            None,
            &progress,
        ),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(report.rows_read, 7);
    assert_eq!((report.delivered, report.rejected, report.failed), (5, 2, 0));
    assert_eq!(report.rows_done(), report.rows_read);
    assert_eq!(*progress.done.lock().unwrap(), 7);
    assert_eq!(*progress.finished.lock().unwrap(), vec!["items".to_owned()]);
    assert_eq!(log.pings.load(Ordering::SeqCst), 1);
    assert_eq!(log.writes.load(Ordering::SeqCst), 4);
    assert_eq!(report.api_calls, 5);
    assert!(report.error.is_none());
    assert_eq!(
        rejects(&report),
        vec![
            "row,status,code,message,record",
            r#"3,rejected,InvalidEmail,"""nope"" is not an email address","{""email"":""nope"",""age"":""3""}""#,
            r#"4,rejected,CastFailed,"column ""age"": value ""abc"" cannot be converted from Utf8 to Int64","{""email"":""d@x.com"",""age"":""abc""}""#,
        ]
    );
    let file_name = report.rejects_file.unwrap();
    assert!(file_name.starts_with(dir.path().join("rejects")));
    assert!(file_name.file_name().unwrap().to_string_lossy().starts_with("items-"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_mode_sends_reads_but_no_writes_and_reports_samples() {
    let dir = tempfile::tempdir().unwrap();
    let (url, log) = common::start_server(None).await;
    let spec = spec(dir.path(), GOOD_CSV, serde_json::json!({ "mode": "upsert" }));
    let report = run(&spec, &url, options(RunMode::Plan, dir.path())).await.unwrap();
    assert_eq!(log.pings.load(Ordering::SeqCst), 1, "reads are sent");
    assert_eq!(log.writes.load(Ordering::SeqCst), 0, "writes are not");
    assert_eq!(report.planned_requests, 4);
    assert_eq!(report.sample_requests.len(), 3);
    assert_eq!(report.sample_requests[0].method, "POST");
    assert_eq!(report.sample_requests[0].path, "/items");
    assert_eq!(
        report.sample_requests[0].body,
        "[\n  {\n    \"email\": \"a@x.com\"\n  },\n  {\n    \"email\": \"b@x.com\"\n  }\n]"
    );
    assert_eq!((report.skipped, report.delivered), (7, 0));
    assert!(report.rejects_file.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_mode_pushes_no_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (url, log) = common::start_server(None).await;
    let spec = spec(dir.path(), GOOD_CSV, serde_json::json!({ "mode": "upsert" }));
    let report = run(&spec, &url, options(RunMode::Check, dir.path())).await.unwrap();
    assert_eq!(log.pings.load(Ordering::SeqCst), 1);
    assert_eq!(log.writes.load(Ordering::SeqCst), 0);
    assert_eq!(report.rows_read, 0);
    assert_eq!(report.rows_done(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_401_stops_the_run_with_an_auth_error_naming_the_user() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _log) = common::start_server(Some(401)).await;
    let spec = spec(dir.path(), GOOD_CSV, serde_json::json!({ "mode": "upsert" }));
    let error = run(&spec, &url, options(RunMode::Run, dir.path())).await.unwrap_err();
    assert_eq!(error.kind(), RunErrorKind::Auth);
    assert_eq!(
        error.to_string(),
        "sync \"items\": Dotdigital refused the API user `demo@apiconnector.com` (HTTP 401 on GET /ping): wrong username or password"
    );
    let debug = format!("{error:?}");
    assert!(!debug.contains(SECRET), "{debug}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_403_stops_the_run_with_a_region_hint() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _log) = common::start_server(Some(403)).await;
    let spec = spec(dir.path(), GOOD_CSV, serde_json::json!({ "mode": "upsert" }));
    let error = run(&spec, &url, options(RunMode::Run, dir.path())).await.unwrap_err();
    assert_eq!(error.kind(), RunErrorKind::Auth);
    let message = error.to_string();
    assert!(message.contains("HTTP 403"), "{message}");
    assert!(message.contains("connection.region"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_config_error_while_running_keeps_its_kind() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _log) = common::start_server(None).await;
    let spec = spec(
        dir.path(),
        GOOD_CSV,
        serde_json::json!({ "mode": "upsert", "config_error_on_response": true }),
    );
    let error = run(&spec, &url, options(RunMode::Run, dir.path())).await.unwrap_err();
    assert_eq!(error.kind(), RunErrorKind::Config);
    assert_eq!(
        error.to_string(),
        "sync \"items\": plugin `fake`: list \"Newsletter\" does not exist"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_plugin_is_contained_and_other_syncs_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _log) = common::start_server(None).await;
    std::fs::write(dir.path().join("input.csv"), GOOD_CSV).unwrap();
    let config = r#"plugin_dirs = []

[connection]
username = "demo@apiconnector.com"
password_env = "DOTSYNC_PASSWORD"

[[sync]]
name = "boom"
plugin = "fake"
batch_size = 2
source = { path = "input.csv" }
config = { mode = "upsert", panic_on_push = true }

[[sync]]
name = "fine"
plugin = "fake"
batch_size = 3
source = { path = "input.csv" }
config = { mode = "update" }
"#;
    let path = dir.path().join("dotsync.toml");
    std::fs::write(&path, config).unwrap();
    let loaded = Config::load_with_env(&path, &|_| Some(SECRET.to_owned())).unwrap();
    let connection = ResolvedConnection {
        base_url: url.clone(),
        credentials: Credentials::new(USER, SECRET),
    };
    let report = tokio::time::timeout(
        Duration::from_secs(30),
        run_config(
            &loaded,
            &registry(),
            connection,
            RunOptions::default(),
            None,
            &NoProgress,
        ),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(report.syncs.len(), 2);
    let boom = &report.syncs[0];
    let error = boom.error.as_deref().unwrap();
    assert!(error.contains("panicked"), "{error}");
    assert!(error.contains("the fake planner was told to panic"), "{error}");
    assert_eq!(boom.failed, boom.rows_read);
    assert!(boom.failed > 0);
    let lines = rejects(boom);
    assert!(lines[1].contains("PluginFailed"), "{lines:?}");
    assert!(
        boom.rejects_file
            .as_ref()
            .unwrap()
            .starts_with(dir.path().join(".dotsync").join("rejects")),
        "rejects go to <config dir>/.dotsync/rejects"
    );
    let fine = &report.syncs[1];
    assert_eq!((fine.delivered, fine.failed, fine.rows_read), (7, 0, 7));
    assert!(fine.error.is_none());
    assert!(!report.is_clean());
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains(SECRET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_sync_runs_one_and_an_unknown_name_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _log) = common::start_server(None).await;
    std::fs::write(dir.path().join("input.csv"), GOOD_CSV).unwrap();
    let config = "[connection]\nusername = \"u@apiconnector.com\"\npassword = \"pw-pw-pw\"\n\n[[sync]]\nname = \"a\"\nplugin = \"fake\"\nsource = { path = \"input.csv\" }\nconfig = { mode = \"upsert\" }\n\n[[sync]]\nname = \"b\"\nplugin = \"fake\"\nsource = { path = \"input.csv\" }\nconfig = { mode = \"upsert\" }\n";
    let path = dir.path().join("dotsync.toml");
    std::fs::write(&path, config).unwrap();
    let loaded = Config::load(&path).unwrap();
    let connection = ResolvedConnection {
        base_url: url,
        credentials: Credentials::new(USER, SECRET),
    };
    let only = |name: &str| RunOptions {
        only_sync: Some(name.to_owned()),
        ..RunOptions::default()
    };
    let report = run_config(&loaded, &registry(), connection.clone(), only("b"), None, &NoProgress)
        .await
        .unwrap();
    assert_eq!(report.syncs.len(), 1);
    assert_eq!(report.syncs[0].name, "b");
    let error = run_config(&loaded, &registry(), connection, only("c"), None, &NoProgress)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), RunErrorKind::Config);
    assert_eq!(error.to_string(), "no sync named \"c\"; the config has: \"a\", \"b\"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_outcome_is_a_contract_error() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _log) = common::start_server(None).await;
    let spec = spec(
        dir.path(),
        GOOD_CSV,
        serde_json::json!({ "mode": "upsert", "duplicate_outcome": true }),
    );
    let report = run(&spec, &url, options(RunMode::Run, dir.path())).await.unwrap();
    let error = report.error.as_deref().unwrap();
    assert_eq!(
        error,
        "plugin `fake` broke the plugin contract: a second outcome for row 0 of batch 1 (every row gets exactly one)"
    );
    assert_eq!(report.rows_done(), report.rows_read);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_without_an_outcome_are_failed_as_no_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _log) = common::start_server(None).await;
    let spec = spec(
        dir.path(),
        GOOD_CSV,
        serde_json::json!({ "mode": "upsert", "forget_last_row": true }),
    );
    let report = run(&spec, &url, options(RunMode::Run, dir.path())).await.unwrap();
    assert_eq!((report.delivered, report.failed), (3, 4));
    let lines = rejects(&report);
    assert_eq!(lines.len(), 5);
    assert_eq!(
        lines[1],
        r#"2,failed,NoOutcome,plugin `fake` finished without an outcome for this row (a plugin bug),"{""email"":""b@x.com"",""age"":""2""}""#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_impossible_cast_stops_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let (url, log) = common::start_server(None).await;
    let spec = spec(
        dir.path(),
        GOOD_CSV,
        serde_json::json!({ "mode": "upsert", "age_type": "struct" }),
    );
    let error = run(&spec, &url, options(RunMode::Run, dir.path())).await.unwrap_err();
    assert_eq!(error.kind(), RunErrorKind::Source);
    let message = error.to_string();
    let expected = format!(
        "sync \"items\": {}: column \"age\" has type Utf8 in the source, but plugin `fake` needs Struct(\"x\": Int64), and Utf8 cannot be cast to Struct(\"x\": Int64)",
        dir.path().join("input.csv").display()
    );
    assert_eq!(message, expected);
    assert_eq!(log.pings.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_column_names_the_file_the_column_and_the_available_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _log) = common::start_server(None).await;
    let spec = spec(
        dir.path(),
        GOOD_CSV,
        serde_json::json!({ "mode": "upsert", "extra_column": "phone" }),
    );
    let error = run(&spec, &url, options(RunMode::Run, dir.path())).await.unwrap_err();
    assert_eq!(error.kind(), RunErrorKind::Source);
    assert_eq!(
        error.to_string(),
        format!(
            "sync \"items\": {}: column not found in the file: \"phone\"; available columns: \"email\", \"age\"",
            dir.path().join("input.csv").display()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn columns_of_any_type_pass_as_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _log) = common::start_server(None).await;
    let spec = spec(
        dir.path(),
        CSV,
        serde_json::json!({ "mode": "upsert", "age_type": "any" }),
    );
    let report = run(&spec, &url, options(RunMode::Run, dir.path())).await.unwrap();
    // No cast: "abc" reaches the plugin; only the server's rejection remains.
    assert_eq!((report.delivered, report.rejected), (6, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_before_is_respected() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _log) = common::start_server(None).await;
    let spec = spec(
        dir.path(),
        GOOD_CSV,
        serde_json::json!({ "mode": "upsert", "not_before_ms": 300 }),
    );
    let started = std::time::Instant::now();
    let report = run(&spec, &url, options(RunMode::Run, dir.path())).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(report.delivered, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_timer_waits_for_a_free_request_slot_instead_of_spinning() {
    let dir = tempfile::tempdir().unwrap();
    let (url, log) = common::start_server(None).await;
    let spec = spec(
        dir.path(),
        GOOD_CSV,
        serde_json::json!({ "mode": "upsert", "wake_on_send": true }),
    );
    // One request at a time: each write's wake-up is due while the write holds the only slot.
    let options = RunOptions {
        max_in_flight: 1,
        ..options(RunMode::Run, dir.path())
    };
    let report = run(&spec, &url, options).await.unwrap();
    assert_eq!(report.delivered, 7, "{report:?}");
    // The pre-flight ping, then one wake-up ping after each of the 4 writes.
    assert_eq!(log.pings.load(Ordering::SeqCst), 5);
}

#[tokio::test(start_paused = true)]
async fn planner_timers_run_on_tokio_time() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(
        dir.path(),
        GOOD_CSV,
        serde_json::json!({ "mode": "upsert", "timer_ms": 3_600_000 }),
    );
    // No request is ever sent: the executor's address is never used.
    let report = run_sync(
        &spec,
        &executor("http://127.0.0.1:9"),
        options(RunMode::Run, dir.path()),
        None,
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(report.skipped, 7);
    assert!(report.duration_ms >= 3_600_000, "{}", report.duration_ms);
}

#[test]
fn the_sync_future_is_send() {
    fn is_send<T: Send>(_: &T) {}
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), GOOD_CSV, serde_json::json!({ "mode": "upsert" }));
    let executor = executor("http://127.0.0.1:9");
    let future = run_sync(&spec, &executor, RunOptions::default(), None, &NoProgress);
    is_send(&future);
}

/// `emails` (and ages 1, 2, ...) as an Arrow IPC file, whose row count is known before reading.
fn write_arrow_file(path: &Path, emails: &[&str]) {
    use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
    use std::sync::Arc;
    let ages: Vec<i64> = (1..=emails.len() as i64).collect();
    let batch = RecordBatch::try_from_iter([
        ("email", Arc::new(StringArray::from(emails.to_vec())) as ArrayRef),
        ("age", Arc::new(Int64Array::from(ages)) as ArrayRef),
    ])
    .unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = arrow_ipc::writer::FileWriter::try_new(file, &batch.schema()).unwrap();
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
}

const REPEATING: [&str; 7] = [
    "a@x.com", "b@x.com", "a@x.com", "c@x.com", "b@x.com", "a@x.com", "d@x.com",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_pre_pass_names_the_repeating_keys_of_a_file_before_its_first_row() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _log) = common::start_server(None).await;
    let mut spec = spec(
        dir.path(),
        GOOD_CSV,
        serde_json::json!({ "mode": "upsert", "key_pre_pass": true }),
    );
    write_arrow_file(&dir.path().join("input.arrow"), &REPEATING);
    spec.source = FileSourceConfig::new("input.arrow").into();
    let report = run(&spec, &url, options(RunMode::Run, dir.path())).await.unwrap();
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!((report.rows_read, report.delivered, report.rejected), (7, 4, 3));
    let duplicate = |row: u32, email: &str| {
        format!(
            r#"{row},rejected,DuplicateKey,"one of the 2 keys the pre-pass named, seen before","{{""email"":""{email}"",""age"":{row}}}""#
        )
    };
    assert_eq!(
        rejects(&report),
        vec![
            "row,status,code,message,record".to_owned(),
            duplicate(3, "a@x.com"),
            duplicate(5, "b@x.com"),
            duplicate(6, "a@x.com"),
        ]
    );
    // A check reads no rows, and no keys either.
    let check = run(&spec, &url, options(RunMode::Check, dir.path())).await.unwrap();
    assert_eq!((check.rows_read, check.rejected), (0, 0));
    // Without a repeat the pass still tells the plugin that it ran (the fake fails otherwise).
    write_arrow_file(&dir.path().join("input.arrow"), &["a@x.com", "b@x.com", "c@x.com"]);
    let report = run(&spec, &url, options(RunMode::Run, dir.path())).await.unwrap();
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!((report.rows_read, report.delivered), (3, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_without_a_known_row_count_gets_no_key_pre_pass() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _log) = common::start_server(None).await;
    let csv: String = std::iter::once("email,age".to_owned())
        .chain(
            REPEATING
                .iter()
                .enumerate()
                .map(|(row, email)| format!("{email},{}", row + 1)),
        )
        .collect::<Vec<_>>()
        .join("\n");
    let spec = spec(
        dir.path(),
        &csv,
        serde_json::json!({ "mode": "upsert", "key_pre_pass": true }),
    );
    let report = run(&spec, &url, options(RunMode::Run, dir.path())).await.unwrap();
    // The fake fails on rows that come without the pre-pass: a CSV's row count is not known.
    let error = report.error.expect("no pre-pass ran");
    assert!(error.contains("rows came before the key pre-pass"), "{error}");
    // The sync stops at its first batch (two rows), which is failed.
    assert_eq!((report.rows_read, report.failed), (2, 2));
}
