//! Kill test: the `dotsync` binary, with the contacts plugin loaded from its library, is killed
//! with SIGKILL at seeded random points of a run against the emulator, then run again to
//! completion; the emulator then holds every contact with its latest values, nothing missing.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

const ROWS: usize = 3000;
const TRIALS: u64 = 20;

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
    Command::new(env!("CARGO_BIN_EXE_dotsync"))
        .args(["run", config, "--json", "--plugin-dir"])
        .arg(plugin_dir())
        .current_dir(dir)
        .env("DOTSYNC_TEST_PASSWORD", PASSWORD)
        .env_remove("RUST_LOG")
        .env_remove("DOTSYNC_PLUGIN_PATH")
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_runs_leave_a_state_from_which_the_next_run_completes_the_work() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_kill_config(dir.path(), &emulator.base_url());
    plugin_dir();

    // Calibration (not an assertion): how long a full first run takes here.
    write_csv(&dir.path().join("customers.csv"), rows(0));
    let started = Instant::now();
    let calibration = {
        let (dir, config) = (dir.path().to_owned(), config.clone());
        tokio::task::spawn_blocking(move || spawn_run(&dir, &config).wait_with_output().unwrap())
            .await
            .unwrap()
    };
    assert_eq!(calibration.status.code(), Some(0), "{}", stderr(&calibration));
    let full_run = started.elapsed().max(Duration::from_millis(50));

    let mut rng = Rng(0x5eed_d075_c0de_0001);
    let mut killed_mid_run = 0;
    for trial in 1..=TRIALS {
        // Every other trial starts from scratch (empty account and state), the others from
        // the previous trial's end with changed rows.
        if trial % 2 == 0 {
            emulator.reset().unwrap();
            std::fs::remove_dir_all(dir.path().join(".dotsync")).unwrap();
        }
        write_csv(&dir.path().join("customers.csv"), rows(trial));
        let delay = Duration::from_micros(rng.next() % (full_run.as_micros() as u64 + 1));
        let outcome = {
            let (dir, config) = (dir.path().to_owned(), config.clone());
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
        };
        if !outcome {
            killed_mid_run += 1;
        }

        let output = {
            let (dir, config) = (dir.path().to_owned(), config.clone());
            tokio::task::spawn_blocking(move || spawn_run(&dir, &config).wait_with_output().unwrap())
                .await
                .unwrap()
        };
        assert_eq!(
            output.status.code(),
            Some(0),
            "trial {trial} (killed after {delay:?}): the run after the kill completes: {}",
            stderr(&output)
        );
        let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
        let sync = &report["syncs"][0];
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
    }
    assert!(
        killed_mid_run >= TRIALS / 2,
        "most kills land during a run ({killed_mid_run} of {TRIALS})"
    );
}
