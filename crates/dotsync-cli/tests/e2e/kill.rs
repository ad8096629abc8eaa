//! Kill tests: the `dotsync` binary, with the plugins loaded from their libraries, is killed with
//! SIGKILL at seeded random points of a run against the emulator, then run again to completion;
//! 26 trials across contacts, lists, programs and messages (from CSV and from events). After
//! each, the emulator holds exactly what the source says: every contact with its latest values,
//! the list's members equal to the audience, every entrant enrolled once and every order's email
//! sent once (or reported in doubt), none enrolled or sent twice.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use dotsync_emulator::EmulatorHandle;
use serde_json::Value;

use crate::support::*;

const ROWS: usize = 3000;

/// A tiny deterministic generator (xorshift64*): seeded trials without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn write_kill_config(dir: &Path, endpoint: &str) -> String {
    let text = format!(
        r#"[connection]
endpoint = "{endpoint}"
username = "{USER}"
password_env = "DOTSYNC_TEST_PASSWORD"

[[sync]]
name = "customers"
plugin = "dotdigital-contacts"
source = {{ path = "customers.csv" }}
batch_size = 250

[sync.config]
mode = "upsert"
key = "email"
identifiers = {{ email = "email" }}
import_size = 250

[sync.config.data_fields]
FIRSTNAME = "first_name"
LTV = "ltv"
VIP = "vip"
"#
    );
    let path = dir.join("dotsync.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn spawn_run(dir: &Path, config: &str) -> std::process::Child {
    dotsync_command(&["run", config, "--json"], dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Rows of trial `trial`: every row, with the first names of some rows changed per trial, so
/// later trials kill runs that send a mix of changed and unchanged rows.
fn rows(trial: u64) -> Vec<String> {
    (0..ROWS)
        .map(|i| {
            if (i as u64 + trial).is_multiple_of(7) {
                csv_row(i).replace(&format!("Name{i},"), &format!("Name{i}-t{trial},"))
            } else {
                csv_row(i)
            }
        })
        .collect()
}

fn expected_first_name(i: usize, trial: u64) -> String {
    if (i as u64 + trial).is_multiple_of(7) {
        format!("Name{i}-t{trial}")
    } else {
        format!("Name{i}")
    }
}

/// Runs `dotsync run CONFIG --json` to its end, off the async runtime.
async fn complete_run(dir: &Path, config: &str) -> std::process::Output {
    let (dir, config) = (dir.to_owned(), config.to_owned());
    tokio::task::spawn_blocking(move || spawn_run(&dir, &config).wait_with_output().unwrap())
        .await
        .unwrap()
}

/// One trial's run that is killed after `delay`; true when it had finished before the kill.
async fn killed_run(dir: &Path, config: &str, delay: Duration) -> bool {
    let (dir, config) = (dir.to_owned(), config.to_owned());
    tokio::task::spawn_blocking(move || {
        let mut child = spawn_run(&dir, &config);
        std::thread::sleep(delay);
        let finished = child.try_wait().unwrap().is_some();
        child.kill().ok(); // SIGKILL
        child.wait().unwrap();
        finished
    })
    .await
    .unwrap()
}

/// The trial loop shared by the three plugins. `prepare(trial)` writes the source of a trial
/// (trial 0 is the calibration run, never killed); after each killed run the next run must
/// complete, and `check(trial, exit code, sync report)` compares the emulator with the source.
async fn kill_trials(
    dir: &Path,
    config: &str,
    trials: u64,
    seed: u64,
    mut prepare: impl FnMut(u64),
    mut check: impl FnMut(u64, Option<i32>, &Value),
) {
    plugin_dir();
    // Calibration (not an assertion): kills are drawn within the duration of the last complete
    // run, first a full first run, then the runs that finish a killed one.
    prepare(0);
    let started = Instant::now();
    let calibration = complete_run(dir, config).await;
    assert_eq!(calibration.status.code(), Some(0), "{}", stderr(&calibration));
    let mut window = started.elapsed().max(Duration::from_millis(50));

    let mut rng = Rng(seed);
    let mut killed_mid_run = 0;
    for trial in 1..=trials {
        prepare(trial);
        let delay = Duration::from_micros(rng.next() % (window.as_micros() as u64 + 1));
        if !killed_run(dir, config, delay).await {
            killed_mid_run += 1;
        }
        let started = Instant::now();
        let output = complete_run(dir, config).await;
        window = started.elapsed().max(Duration::from_millis(50));
        let report: Value = serde_json::from_str(&stdout(&output))
            .unwrap_or_else(|_| panic!("trial {trial} (killed after {delay:?}): {}", stderr(&output)));
        check(trial, output.status.code(), &report["syncs"][0]);
    }
    assert!(
        killed_mid_run >= trials / 2,
        "most kills land during a run ({killed_mid_run} of {trials})"
    );
}

/// Empties the emulator's account and the sync state, for trials that start from scratch.
fn start_over(emulator: &EmulatorHandle, dir: &Path) {
    emulator.reset().unwrap();
    let state = dir.join(".dotsync");
    if state.exists() {
        std::fs::remove_dir_all(state).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_killed_mid_run_end_with_their_latest_values() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_kill_config(dir.path(), &emulator.base_url());
    let prepare = |trial: u64| {
        // Every other trial starts from scratch (empty account and state), the others from the
        // previous trial's end with changed rows.
        if trial > 0 && trial.is_multiple_of(2) {
            start_over(&emulator, dir.path());
        }
        write_csv(&dir.path().join("customers.csv"), rows(trial));
    };
    let check = |trial: u64, code: Option<i32>, sync: &Value| {
        assert_eq!(code, Some(0), "trial {trial}: the run after the kill completes: {sync}");
        assert_eq!(
            sync["delivered"].as_u64().unwrap() + sync["skipped"].as_u64().unwrap(),
            ROWS as u64,
            "trial {trial}: every row delivered now or before: {sync}"
        );
        let state = emulator.state();
        for i in 0..ROWS {
            let contact = state
                .contact_by_email(USER, &email(i))
                .unwrap_or_else(|| panic!("trial {trial}: contact {i} missing"));
            assert_eq!(
                contact.data_fields.get("FIRSTNAME"),
                Some(&Value::from(expected_first_name(i, trial))),
                "trial {trial}: contact {i} has its latest values"
            );
        }
        assert_eq!(state.contact_count(USER), ROWS + 5, "trial {trial}: no contact twice");
    };
    kill_trials(dir.path(), &config, 6, 0x5eed_d075_c0de_0001, prepare, check).await;
}

/// The audience of a lists trial: a window of 1,500 people that moves by 150 each trial.
fn audience(trial: u64) -> std::ops::Range<usize> {
    let start = trial as usize * 150;
    start..start + 1_500
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_killed_mid_run_ends_equal_to_its_audience() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_sync_config(
        dir.path(),
        "lists.toml",
        &emulator.base_url(),
        "dotdigital-lists",
        "audience.csv",
        r#"list = { name = "Kill audience" }
create_if_missing = true
email_column = "email"
import_size = 250
poll_interval_ms = 20"#,
    );
    let config = config.to_str().unwrap().to_owned();
    let prepare = |trial: u64| {
        if trial > 0 && trial.is_multiple_of(3) {
            start_over(&emulator, dir.path());
        }
        write_lines(&dir.path().join("audience.csv"), "email", audience(trial).map(email));
    };
    let check = |trial: u64, code: Option<i32>, sync: &Value| {
        assert_eq!(code, Some(0), "trial {trial}: the run after the kill completes: {sync}");
        let state = emulator.state();
        let list = state.list_by_name(USER, "Kill audience").expect("the list exists");
        let mut members = state.list_members(USER, list.id);
        members.sort_unstable();
        let mut expected: Vec<u64> = audience(trial)
            .map(|i| {
                state
                    .contact_by_email(USER, &email(i))
                    .unwrap_or_else(|| panic!("trial {trial}: contact {i} missing"))
                    .contact_id
            })
            .collect();
        expected.sort_unstable();
        assert_eq!(members, expected, "trial {trial}: the list's members are the audience");
    };
    kill_trials(dir.path(), &config, 6, 0x5eed_d075_c0de_0002, prepare, check).await;
}

/// The entrants of a programs trial: the audience only grows, by 300 people a trial.
fn entrants(trial: u64) -> std::ops::Range<usize> {
    0..600 + trial as usize * 300
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entrants_killed_mid_run_are_enrolled_once_or_reported_in_doubt() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_sync_config(
        dir.path(),
        "programs.toml",
        &emulator.base_url(),
        "dotdigital-programs",
        "entrants.csv",
        r#"program = { name = "Welcome" }
key = "email"
key_column = "email"
create_contacts = true
enrolment_size = 100
poll_interval_ms = 20"#,
    );
    let config = config.to_str().unwrap().to_owned();
    let prepare = |trial: u64| {
        write_lines(&dir.path().join("entrants.csv"), "email", entrants(trial).map(email));
    };
    let check = |trial: u64, code: Option<i32>, sync: &Value| {
        let in_doubt = sync["uncertain"].as_u64().unwrap();
        let expected_code = if in_doubt == 0 { 0 } else { 1 };
        assert_eq!(code, Some(expected_code), "trial {trial}: {sync}");
        assert_eq!(sync["failed"], 0, "trial {trial}: {sync}");
        assert_eq!(sync["rejected"], 0, "trial {trial}: {sync}");
        let state = emulator.state();
        let mut requested: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
        for enrolment in state.enrolments(USER).iter().filter(|e| e.program_id == 77) {
            for contact in &enrolment.contacts {
                *requested.entry(*contact).or_default() += 1;
            }
        }
        let twice = requested.values().filter(|&&count| count > 1).count();
        assert_eq!(twice, 0, "trial {trial}: no contact enrolled twice");
        let missing = entrants(trial)
            .filter(|&i| {
                state
                    .contact_by_email(USER, &email(i))
                    .is_none_or(|contact| !requested.contains_key(&contact.contact_id))
            })
            .count() as u64;
        assert!(
            missing <= in_doubt,
            "trial {trial}: {missing} entrants not enrolled, only {in_doubt} reported in doubt: {sync}"
        );
    };
    kill_trials(dir.path(), &config, 6, 0x5eed_d075_c0de_0003, prepare, check).await;
}

/// The orders of a messaging trial: 400 more each trial, each with its own recipient.
fn orders(trial: u64) -> std::ops::Range<usize> {
    0..400 + trial as usize * 400
}

/// The messaging sync's `[sync.config]`: one receipt per order, keyed by the order id.
const RECEIPTS: &str = r#"action = "transactional_email"
send_key_column = "order_id"

[sync.config.transactional_email]
to_column = "email"
subject = { column = "subject" }
html_content = { value = "<p>Thanks for your order</p>" }"#;

/// Kill trials of a receipts sync whose orders `write_orders(trial)` writes: after each re-run
/// no email was sent twice and every order without its email is reported in doubt.
async fn receipts_killed_mid_run(emulator: &EmulatorHandle, dir: &Path, config: &str, write_orders: impl Fn(u64)) {
    let check = |trial: u64, code: Option<i32>, sync: &Value| {
        let in_doubt = sync["uncertain"].as_u64().unwrap();
        assert_eq!(code, Some(if in_doubt == 0 { 0 } else { 1 }), "trial {trial}: {sync}");
        assert_eq!(sync["failed"], 0, "trial {trial}: {sync}");
        let mut sends: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for message in emulator.state().outbox() {
            for to in message.to {
                *sends.entry(to).or_default() += 1;
            }
        }
        assert!(
            sends.values().all(|&count| count == 1),
            "trial {trial}: no email sent twice"
        );
        let missing = orders(trial).filter(|&i| !sends.contains_key(&email(i))).count() as u64;
        assert!(
            missing <= in_doubt,
            "trial {trial}: {missing} orders without their email, only {in_doubt} reported in doubt: {sync}"
        );
    };
    kill_trials(dir, config, 4, 0x5eed_d075_c0de_0004, write_orders, check).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emails_killed_mid_run_are_sent_once_or_reported_in_doubt() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_sync_config(
        dir.path(),
        "receipts.toml",
        &emulator.base_url(),
        "dotdigital-messaging",
        "orders.csv",
        RECEIPTS,
    );
    let write_orders = |trial: u64| {
        // The subjects change every trial: a send key is still sent once.
        let lines = orders(trial).map(|i| format!("ORD-{i},{},Receipt {i} (trial {trial})", email(i)));
        write_lines(&dir.path().join("orders.csv"), "order_id,email,subject", lines);
    };
    receipts_killed_mid_run(&emulator, dir.path(), config.to_str().unwrap(), write_orders).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emails_from_events_killed_mid_run_are_sent_once_or_reported_in_doubt() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("receipts.toml");
    let text = format!(
        r#"{}
[[sync]]
name = "receipts"
plugin = "dotdigital-messaging"

[sync.source.events]
path = "orders.jsonl"
event = "Order Completed"
mappings = {{ order_id = "properties.order_id", email = "properties.email", subject = "properties.subject" }}

[sync.config]
{RECEIPTS}
"#,
        config_head(&emulator.base_url())
    );
    std::fs::write(&config, text).unwrap();
    let write_orders = |trial: u64| {
        // The stream replayed with more orders each trial, their subjects changed.
        let lines: Vec<String> = orders(trial)
            .map(|i| {
                serde_json::json!({
                    "type": "track", "event": "Order Completed", "userId": format!("u{i}"),
                    "properties": {"order_id": format!("ORD-{i}"), "email": email(i), "subject": format!("Receipt {i} (trial {trial})")},
                })
                .to_string()
            })
            .collect();
        std::fs::write(dir.path().join("orders.jsonl"), lines.join("\n")).unwrap();
    };
    receipts_killed_mid_run(&emulator, dir.path(), config.to_str().unwrap(), write_orders).await;
}
