//! Incremental runs through the CLI: a re-run sends nothing, a change sends exactly the changed
//! rows (and a plan plans exactly those), `--full` sends all, failed rows are delivered by the next run, a second run on the same
//! state is refused, and `dotsync status` lists the runs.

use std::path::Path;

use dotsync_emulator::{Emulator, EmulatorConfig, EmulatorHandle, FaultRule};
use serde_json::Value;

use crate::support::*;

async fn run_json(dir: &Path, args: &[&str]) -> (Option<i32>, Value, String) {
    let cwd = dir.to_owned();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let output = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        dotsync_with_plugin(&args, &cwd)
    })
    .await
    .unwrap();
    let report = serde_json::from_str(&stdout(&output)).unwrap_or(Value::Null);
    (output.status.code(), report, stderr(&output))
}

/// `dotsync status ARGS` (it takes no plugin folder).
async fn status(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_dotsync"));
    command.arg("status").args(args).current_dir(dir).env_remove("RUST_LOG");
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn sync(report: &Value) -> &Value {
    &report["syncs"][0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerunning_the_quickstart_makes_no_api_call_and_the_emulator_keeps_its_contacts() {
    let dir = tempfile::tempdir().unwrap();
    let quickstart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart");
    for file in ["dotsync.toml", "customers.csv"] {
        std::fs::copy(quickstart.join(file), dir.path().join(file)).unwrap();
    }
    let (code, first, err) = run_json(dir.path(), &["run", "dotsync.toml", "--json"]).await;
    assert!(matches!(code, Some(0 | 1)), "stderr: {err}");
    let delivered = sync(&first)["delivered"].as_u64().unwrap();
    assert!(delivered > 900, "{first}");
    assert!(sync(&first)["api_calls"].as_u64().unwrap() > 0);

    let (code, second, err) = run_json(dir.path(), &["run", "dotsync.toml", "--json"]).await;
    assert!(matches!(code, Some(0 | 1)), "stderr: {err}");
    assert_eq!(sync(&second)["api_calls"], 0, "nothing changed, nothing sent: {second}");
    assert_eq!(sync(&second)["delivered"], 0);
    assert_eq!(sync(&second)["skipped"].as_u64().unwrap(), delivered);
    assert_eq!(
        sync(&second)["rejected"],
        sync(&first)["rejected"],
        "still rejected, not resent"
    );

    // The in-process emulator's data lives in the default state folder.
    let state_file = dir.path().join(".dotsync").join("emulator-state.json");
    let emulator = Emulator::start(EmulatorConfig::empty().with_state_file(&state_file))
        .await
        .unwrap();
    assert!(emulator.state().contact_count(USER) as u64 >= delivered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_rows_alone_are_sent_and_full_sends_all() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    write_csv(&dir.path().join("customers.csv"), (0..1000).map(csv_row));
    let config = write_config(dir.path(), &emulator.base_url(), "customers.csv", "");
    let config = config.to_str().unwrap();
    let (code, first, err) = run_json(dir.path(), &["run", config, "--json"]).await;
    assert_eq!(code, Some(0), "stderr: {err}");
    assert_eq!(sync(&first)["delivered"], 1000);

    // 1% changed.
    let changed = |i: usize| i.is_multiple_of(100);
    write_csv(
        &dir.path().join("customers.csv"),
        (0..1000).map(|i| {
            if changed(i) {
                csv_row(i).replace(&format!("Name{i},"), &format!("Renamed{i},"))
            } else {
                csv_row(i)
            }
        }),
    );
    // A plan holds back what a run would (the unchanged rows), plans the rest, and leaves the
    // state as it was: the run below still sends the 10 changed rows. It also removes the copy
    // of the state a killed plan left (its lock is free).
    let left_behind = dir.path().join(".dotsync").join("plan-killed");
    std::fs::create_dir(&left_behind).unwrap();
    std::fs::write(left_behind.join("lock"), "1").unwrap();
    std::fs::write(left_behind.join("state.sqlite"), "").unwrap();
    let (code, plan, err) = run_json(dir.path(), &["plan", config, "--json"]).await;
    assert_eq!(code, Some(0), "stderr: {err}");
    assert_eq!(
        (
            sync(&plan)["held_back"].as_u64(),
            sync(&plan)["planned_requests"].as_u64()
        ),
        (Some(990), Some(1))
    );
    let (code, full_plan, err) = run_json(dir.path(), &["plan", config, "--json", "--full"]).await;
    assert_eq!(code, Some(0), "stderr: {err}");
    assert_eq!(
        full_plan["syncs"][0].get("held_back"),
        None,
        "--full holds nothing back"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join(".dotsync"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .filter(|name| name.to_string_lossy().starts_with("plan-"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "the plans' copies of the state, and the one left behind, are removed: {leftovers:?}"
    );
    assert_eq!(
        emulator.state().request_count("PUT", "/contacts/v3/import"),
        1,
        "plans send no write"
    );
    emulator.state().clear_requests();
    let (code, second, err) = run_json(dir.path(), &["run", config, "--json"]).await;
    assert_eq!(code, Some(0), "stderr: {err}");
    assert_eq!(
        (sync(&second)["delivered"].as_u64(), sync(&second)["skipped"].as_u64()),
        (Some(10), Some(990))
    );
    for i in (0..1000).filter(|i| changed(*i)) {
        let contact = emulator.state().contact_by_email(USER, &email(i)).unwrap();
        assert_eq!(
            contact.data_fields.get("FIRSTNAME"),
            Some(&Value::from(format!("Renamed{i}")))
        );
    }
    let imported: u64 = emulator.state().request_count("PUT", "/contacts/v3/import");
    assert_eq!(imported, 1, "the 10 rows fit one import");

    let (code, full, err) = run_json(dir.path(), &["run", config, "--json", "--full"]).await;
    assert_eq!(code, Some(0), "stderr: {err}");
    assert_eq!(sync(&full)["delivered"], 1000);
}

/// Runs `config` again: it delivers exactly the `failed` rows of the run before and skips the
/// rest, and the emulator then holds all `rows` contacts.
async fn next_run_delivers_exactly_the_failed_rows(
    emulator: &EmulatorHandle,
    dir: &Path,
    config: &str,
    rows: usize,
    failed: u64,
) {
    let (code, second, err) = run_json(dir, &["run", config, "--json"]).await;
    assert_eq!(code, Some(0), "stderr: {err}");
    assert_eq!(
        sync(&second)["delivered"].as_u64(),
        Some(failed),
        "exactly the failed rows: {second}"
    );
    assert_eq!(sync(&second)["skipped"].as_u64(), Some(rows as u64 - failed));
    for i in 0..rows {
        assert!(emulator.state().contact_by_email(USER, &email(i)).is_some(), "row {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_failed_by_an_import_fault_are_delivered_by_the_next_run() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    write_csv(&dir.path().join("customers.csv"), (0..300).map(csv_row));
    let config = write_config(dir.path(), &emulator.base_url(), "customers.csv", "");
    let config = config.to_str().unwrap();
    emulator
        .faults()
        .add(FaultRule::import_fail("PUT", "/contacts/v3/import").times(1));
    let (code, first, err) = run_json(dir.path(), &["run", config, "--json"]).await;
    assert_eq!(code, Some(1), "failed rows → exit 1; stderr: {err}");
    let failed = sync(&first)["failed"].as_u64().unwrap();
    assert!(failed > 0, "{first}");
    assert!(sync(&first)["rejects_file"].is_string());

    next_run_delivers_exactly_the_failed_rows(&emulator, dir.path(), config, 300, failed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_429_storms_5xx_bursts_resets_and_a_failed_import_every_row_is_accounted_for() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    write_csv(&dir.path().join("customers.csv"), (0..600).map(csv_row));
    let config = write_config(dir.path(), &emulator.base_url(), "customers.csv", "import_size = 100");
    let config = config.to_str().unwrap();
    let faults = emulator.faults();
    faults.add(FaultRule::status("PUT", "/contacts/v3/import", 429).times(4));
    faults.add(FaultRule::status("GET", "/contacts/v3/import/*", 503).times(3));
    faults.add(FaultRule::reset("PUT", "/contacts/v3/import").times(2));
    faults.add(FaultRule::import_fail("PUT", "/contacts/v3/import").times(1));
    let (code, first, err) = run_json(dir.path(), &["run", config, "--json"]).await;
    let first = sync(&first).clone();
    let (delivered, failed) = (first["delivered"].as_u64().unwrap(), first["failed"].as_u64().unwrap());
    assert_eq!(delivered + failed, 600, "every row delivered or failed: {first}");
    assert_eq!(first["rejected"], 0, "{first}");
    assert!(failed >= 100, "the failed import's rows: {first}");
    assert_eq!(code, Some(1), "failed rows → exit 1; stderr: {err}");
    let rejects = std::fs::read_to_string(first["rejects_file"].as_str().unwrap()).unwrap();
    assert_eq!(
        rejects.lines().count() as u64,
        failed + 1,
        "one line per failed row, with its reason"
    );

    next_run_delivers_exactly_the_failed_rows(&emulator, dir.path(), config, 600, failed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_on_the_same_state_is_refused_naming_the_lock_and_status_lists_runs() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    write_csv(&dir.path().join("customers.csv"), (0..20).map(csv_row));
    let config = write_config(dir.path(), &emulator.base_url(), "customers.csv", "");
    let config = config.to_str().unwrap();
    run_json(dir.path(), &["run", config, "--json"]).await;
    run_json(dir.path(), &["run", config, "--json"]).await;

    {
        let _held = dotsync_state::StateStore::open(&dir.path().join(".dotsync")).unwrap();
        let (code, _, err) = run_json(dir.path(), &["run", config]).await;
        assert_eq!(code, Some(2), "stderr: {err}");
        assert!(err.contains("another dotsync run"), "{err}");
        assert!(err.contains(&format!("pid {}", std::process::id())), "{err}");
        assert!(err.contains("lock file"), "{err}");

        // Status reads the history without the lock.
        let output = status(dir.path(), &[config, "--json"]).await;
        assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
        let runs: Value = serde_json::from_str(&stdout(&output)).unwrap();
        let runs = runs.as_array().expect("a list of runs").clone();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0]["run"], 2, "newest first");
        assert_eq!(runs[0]["syncs"][0]["skipped"], 20);
        assert_eq!(runs[1]["syncs"][0]["delivered"], 20);
        assert!(runs[1]["syncs"][0]["api_calls"].as_u64().unwrap() > 0);
        assert!(runs[0]["duration_ms"].is_u64());
    }
    let output = status(dir.path(), &[config]).await;
    let text = stdout(&output);
    assert!(text.contains("run 2 started"), "{text}");
    assert!(text.contains("skipped        20"), "{text}");
}
