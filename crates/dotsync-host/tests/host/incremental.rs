//! Incremental runs against the fake destination: only new and changed rows are sent, failed
//! rows come again, rejected rows wait for a change, departed keys reach plugins that ask, drift
//! is explained, and sends in doubt are never repeated.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use dotsync_host::{RunMode, RunOptions, SyncReport, SyncSpec, run_history, run_sync};
use dotsync_state::StateStore;

use crate::common;
use crate::driver::{executor, options, spec};

fn csv(rows: impl IntoIterator<Item = (String, i64)>) -> String {
    let mut text = String::from("email,age\n");
    for (email, age) in rows {
        text.push_str(&format!("{email},{age}\n"));
    }
    text
}

fn people(n: usize) -> Vec<(String, i64)> {
    (0..n).map(|i| (format!("p{i}@x.com"), i as i64)).collect()
}

fn state_dir(dir: &Path) -> std::path::PathBuf {
    dir.join(".dotsync")
}

/// One run of `spec` with the state in `dir/.dotsync`, recorded in its history.
async fn run(dir: &Path, spec: &SyncSpec, url: &str, options: RunOptions) -> SyncReport {
    let mut store = StateStore::open(&state_dir(dir)).unwrap();
    let run = store.begin_run(&[spec.name.as_str()]).unwrap();
    let report = tokio::time::timeout(
        Duration::from_secs(30),
        run_sync(
            spec,
            &executor(url),
            options,
            Some(&mut store),
            &dotsync_host::NoProgress,
        ),
    )
    .await
    .expect("the sync finishes")
    .unwrap();
    let run_report = dotsync_host::RunReport {
        syncs: vec![report.clone()],
        started_at: chrono::Utc::now(),
        duration_ms: report.duration_ms,
    };
    store
        .finish_run(run, &serde_json::to_string(&run_report).unwrap())
        .unwrap();
    assert_eq!(
        report.rows_done(),
        report.rows_read + report.departed,
        "one outcome per row and departed key: {report:?}"
    );
    report
}

fn written(log: &common::ServerLog) -> Vec<String> {
    std::mem::take(&mut *log.written.lock().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_sends_only_what_changed_and_full_sends_everything() {
    let dir = tempfile::tempdir().unwrap();
    let (url, log) = common::start_server(None).await;
    let config = serde_json::json!({ "mode": "upsert" });
    let first = run(
        dir.path(),
        &spec(dir.path(), &csv(people(100)), config.clone()),
        &url,
        options(RunMode::Run, dir.path()),
    )
    .await;
    assert_eq!((first.delivered, first.skipped), (100, 0));
    assert_eq!(written(&log).len(), 100);
    let writes = log.writes.load(Ordering::SeqCst);

    let same = run(
        dir.path(),
        &spec(dir.path(), &csv(people(100)), config.clone()),
        &url,
        options(RunMode::Run, dir.path()),
    )
    .await;
    assert_eq!((same.delivered, same.skipped), (0, 100));
    assert_eq!(log.writes.load(Ordering::SeqCst), writes, "no write for unchanged rows");
    assert_eq!(same.api_calls, 0, "not even the plugin's pre-flight read");
    assert_eq!(log.pings.load(Ordering::SeqCst), 1, "only the first run pinged");
    assert_eq!(same.drift, None);

    // 1% changed: exactly that row goes out.
    let mut changed = people(100);
    changed[42].1 = 4200;
    let one = run(
        dir.path(),
        &spec(dir.path(), &csv(changed.clone()), config.clone()),
        &url,
        options(RunMode::Run, dir.path()),
    )
    .await;
    assert_eq!((one.delivered, one.skipped), (1, 99));
    assert_eq!(written(&log), vec!["p42@x.com".to_owned()]);

    let full = RunOptions {
        full: true,
        ..options(RunMode::Run, dir.path())
    };
    let all = run(dir.path(), &spec(dir.path(), &csv(changed), config), &url, full).await;
    assert_eq!((all.delivered, all.skipped), (100, 0));
    assert_eq!(written(&log).len(), 100);

    let history = run_history(&state_dir(dir.path()), 10).unwrap();
    assert_eq!(history.len(), 4);
    assert_eq!(history[0].syncs[0].delivered, 100, "newest first");
    assert_eq!(history[1].syncs[0].skipped, 99);
    assert!(
        history
            .iter()
            .all(|run| run.duration_ms.is_some() && run.error.is_none())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_rows_are_sent_again_and_rejected_rows_wait_for_a_change() {
    let dir = tempfile::tempdir().unwrap();
    let (url, log) = common::start_server(None).await;
    let config = serde_json::json!({ "mode": "upsert" });
    let mut rows = people(6);
    rows[5].0 = "nope".to_owned();
    // The first write request (rows 0 and 1) fails on both attempts. One request in flight at a
    // time: with more, the request of rows 2 and 3 may reach the server first and fail instead.
    log.fail_writes.store(2, Ordering::SeqCst);
    let first = run(
        dir.path(),
        &spec(dir.path(), &csv(rows.clone()), config.clone()),
        &url,
        RunOptions {
            max_in_flight: 1,
            ..options(RunMode::Run, dir.path())
        },
    )
    .await;
    assert_eq!((first.delivered, first.failed, first.rejected), (3, 2, 1));
    written(&log);

    let second = run(
        dir.path(),
        &spec(dir.path(), &csv(rows.clone()), config.clone()),
        &url,
        options(RunMode::Run, dir.path()),
    )
    .await;
    assert_eq!(
        (second.delivered, second.skipped, second.rejected, second.failed),
        (2, 3, 1, 0)
    );
    assert_eq!(written(&log), vec!["p0@x.com".to_owned(), "p1@x.com".to_owned()]);
    let rejects = std::fs::read_to_string(second.rejects_file.as_ref().unwrap()).unwrap();
    assert!(rejects.contains("UnchangedSinceRejected"), "{rejects}");
    assert!(!log.written.lock().unwrap().contains(&"nope".to_owned()), "not resent");

    rows[5].1 = 99;
    let third = run(
        dir.path(),
        &spec(dir.path(), &csv(rows), config),
        &url,
        options(RunMode::Run, dir.path()),
    )
    .await;
    assert_eq!((third.skipped, third.rejected), (5, 1));
    assert!(
        std::fs::read_to_string(third.rejects_file.as_ref().unwrap())
            .unwrap()
            .contains("InvalidEmail"),
        "the changed row was sent and rejected again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_that_left_the_source_reach_plugins_that_ask_for_them() {
    let dir = tempfile::tempdir().unwrap();
    let (url, log) = common::start_server(None).await;
    let config = serde_json::json!({ "mode": "upsert", "mirror": true });
    run(
        dir.path(),
        &spec(dir.path(), &csv(people(10)), config.clone()),
        &url,
        options(RunMode::Run, dir.path()),
    )
    .await;
    assert!(log.deleted.lock().unwrap().is_empty());

    let mut fewer = people(10);
    fewer.remove(7);
    fewer.remove(3);
    let second = run(
        dir.path(),
        &spec(dir.path(), &csv(fewer.clone()), config.clone()),
        &url,
        options(RunMode::Run, dir.path()),
    )
    .await;
    let mut deleted = std::mem::take(&mut *log.deleted.lock().unwrap());
    deleted.sort();
    assert_eq!(deleted, vec!["p3@x.com".to_owned(), "p7@x.com".to_owned()]);
    assert_eq!(
        (second.skipped, second.delivered, second.departed),
        (8, 2, 2),
        "8 unchanged rows, 2 deletes"
    );

    let third = run(
        dir.path(),
        &spec(dir.path(), &csv(fewer), config.clone()),
        &url,
        options(RunMode::Run, dir.path()),
    )
    .await;
    assert!(
        log.deleted.lock().unwrap().is_empty(),
        "a delivered delete is not repeated"
    );
    assert_eq!(third.delivered, 0);

    // Without `mirror` the plugin is never handed departed keys.
    run(
        dir.path(),
        &spec(dir.path(), &csv(people(2)), serde_json::json!({ "mode": "upsert" })),
        &url,
        options(RunMode::Run, dir.path()),
    )
    .await;
    assert!(log.deleted.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retyped_column_is_drift_explained_in_the_report_and_every_row_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (url, log) = common::start_server(None).await;
    let rows = csv(people(4));
    run(
        dir.path(),
        &spec(dir.path(), &rows, serde_json::json!({ "mode": "upsert" })),
        &url,
        options(RunMode::Run, dir.path()),
    )
    .await;
    written(&log);
    let retyped = serde_json::json!({ "mode": "upsert", "age_type": "utf8" });
    let report = run(
        dir.path(),
        &spec(dir.path(), &rows, retyped.clone()),
        &url,
        options(RunMode::Run, dir.path()),
    )
    .await;
    let drift = report.drift.clone().expect("drift explained");
    assert!(
        drift.contains("column `age` changed type from Int64 to Utf8"),
        "{drift}"
    );
    assert!(drift.contains("config field `age_type` added"), "{drift}");
    assert_eq!(report.delivered, 4, "every row counts as changed");
    assert_eq!(written(&log).len(), 4);
    let again = run(
        dir.path(),
        &spec(dir.path(), &rows, retyped),
        &url,
        options(RunMode::Run, dir.path()),
    )
    .await;
    assert_eq!((again.drift, again.skipped), (None, 4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_in_doubt_is_reported_and_never_repeated() {
    let dir = tempfile::tempdir().unwrap();
    let (url, log) = common::start_server(None).await;
    {
        // As left by a run killed between journaling `p2`'s send and its answer.
        let mut store = StateStore::open(&state_dir(dir.path())).unwrap();
        let mut sync = store.sync("items", "an older definition").unwrap();
        sync.journal_intend("p2@x.com", "digest").unwrap();
    }
    let config = serde_json::json!({ "mode": "upsert", "not_idempotent": true });
    let report = run(
        dir.path(),
        &spec(dir.path(), &csv(people(5)), config.clone()),
        &url,
        options(RunMode::Run, dir.path()),
    )
    .await;
    assert_eq!(report.unresolved_sends, 1);
    assert_eq!((report.delivered, report.uncertain), (4, 1));
    assert!(!written(&log).contains(&"p2@x.com".to_owned()), "never sent twice");
    let rejects = std::fs::read_to_string(report.rejects_file.as_ref().unwrap()).unwrap();
    assert!(rejects.contains("UnresolvedSend"), "{rejects}");

    // The rows sent in this run were journaled, then resolved with their outcome: only the
    // send in doubt remains.
    let sync_spec = spec(dir.path(), &csv(people(5)), config.clone());
    let mapped = arrow_schema::Schema::new(vec![
        arrow_schema::Field::new("email", arrow_schema::DataType::Utf8, true),
        arrow_schema::Field::new("age", arrow_schema::DataType::Int64, true),
    ]);
    let fingerprint = dotsync_host::incremental::fingerprint(
        sync_spec.plugin.name(),
        sync_spec.plugin.config_schema_json(),
        &sync_spec.config,
        &mapped,
    );
    let mut store = StateStore::open(&state_dir(dir.path())).unwrap();
    let mut sync = store.sync("items", &fingerprint).unwrap();
    assert_eq!(sync.drift(), None, "the fingerprint the run stored");
    assert_eq!(sync.journal_len().unwrap(), 1);
    drop(sync);
    drop(store);

    let again = run(
        dir.path(),
        &spec(dir.path(), &csv(people(5)), config),
        &url,
        options(RunMode::Run, dir.path()),
    )
    .await;
    assert_eq!((again.skipped, again.uncertain, again.delivered), (4, 1, 0));
    assert!(written(&log).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_once_sync_never_sends_a_key_twice_whatever_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (url, log) = common::start_server(None).await;
    let config = serde_json::json!({ "mode": "upsert", "not_idempotent": true, "send_once": true });
    let first = run(
        dir.path(),
        &spec(dir.path(), &csv(people(5)), config.clone()),
        &url,
        options(RunMode::Run, dir.path()),
    )
    .await;
    assert_eq!(first.delivered, 5);
    assert_eq!(written(&log).len(), 5);

    // Every known row changed, two keys are new, the sync's definition changed (the age column
    // is now text: drift for any other sync) and the run asks for --full: only the new keys go.
    let mut changed: Vec<(String, i64)> = people(5).into_iter().map(|(email, age)| (email, age + 100)).collect();
    changed.push(("new1@x.com".to_owned(), 1));
    changed.push(("new2@x.com".to_owned(), 2));
    let mut retyped = config.clone();
    retyped["age_type"] = serde_json::json!("utf8");
    let mut full = options(RunMode::Run, dir.path());
    full.full = true;
    let second = run(dir.path(), &spec(dir.path(), &csv(changed), retyped), &url, full).await;
    let mut sent = written(&log);
    sent.sort();
    assert_eq!(sent, vec!["new1@x.com".to_owned(), "new2@x.com".to_owned()]);
    assert_eq!((second.delivered, second.skipped), (2, 5), "{second:?}");
    assert_eq!(
        second.drift, None,
        "the key columns define a send-once sync: {second:?}"
    );
}
