//! End to end: the `dotsync` binary, the contacts plugin loaded from its dynamic library, the
//! emulator on 127.0.0.1; emulator state checked field by field.

use crate::support::*;
use serde_json::json;

fn assert_contacts_arrived(emulator: &dotsync_emulator::EmulatorHandle, rows: usize) {
    let state = emulator.state();
    for i in [0, 1, 7, rows / 2, rows - 1] {
        let contact = state
            .contact_by_email(USER, &email(i))
            .unwrap_or_else(|| panic!("contact {} missing", email(i)));
        assert_eq!(
            contact.data_fields.get("FIRSTNAME"),
            Some(&json!(format!("Name{i}"))),
            "row {i}"
        );
        let ltv = contact.data_fields.get("LTV").and_then(|v| v.as_f64());
        assert_eq!(ltv, Some(i as f64 * 1.5), "row {i} LTV");
        assert_eq!(
            contact.data_fields.get("VIP"),
            Some(&json!(i.is_multiple_of(7))),
            "row {i} VIP"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_contacts_from_parquet_arrive_field_by_field() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    write_parquet(&dir.path().join("customers.parquet"), 10_000);
    let config = write_config(dir.path(), &emulator.base_url(), "customers.parquet", "");
    let before = emulator.state().contact_count(USER);

    let output = tokio::task::spawn_blocking({
        let cwd = dir.path().to_owned();
        let config = config.to_str().unwrap().to_owned();
        move || dotsync_with_plugin(&["run", &config, "--json"], &cwd)
    })
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("--json prints the report");
    let sync = &report["syncs"][0];
    assert_eq!(sync["name"], "customers");
    assert_eq!(sync["rows_read"], 10_000);
    assert_eq!(sync["delivered"], 10_000);
    assert_eq!(sync["rejected"], 0);
    assert_eq!(sync["failed"], 0);
    assert!(
        sync["api_calls"].as_u64().unwrap() >= 2,
        "at least the data-field check and one import"
    );
    assert!(sync["duration_ms"].is_u64());

    assert_eq!(emulator.state().contact_count(USER), before + 10_000);
    assert_contacts_arrived(&emulator, 10_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_contacts_from_csv_arrive_field_by_field() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    write_csv(&dir.path().join("customers.csv"), (0..10_000).map(csv_row));
    let config = write_config(dir.path(), &emulator.base_url(), "customers.csv", "");

    let output = tokio::task::spawn_blocking({
        let cwd = dir.path().to_owned();
        let config = config.to_str().unwrap().to_owned();
        move || dotsync_with_plugin(&["run", &config], &cwd)
    })
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let summary = stdout(&output);
    assert!(summary.contains("delivered      10000"), "summary: {summary}");
    assert_contacts_arrived(&emulator, 10_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rows_are_reported_with_their_row_number_and_reason_and_good_rows_delivered() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let mut rows: Vec<String> = (0..100).map(csv_row).collect();
    rows[10] = "not-an-email,Bad,1.0,false".to_owned(); // row 11
    rows[20] = csv_row(5); // row 21: duplicate of row 6
    rows[30] = ",NoKey,1.0,false".to_owned(); // row 31: null key
    rows[40] = format!("{},WrongType,lots,false", email(40)); // row 41: LTV not a number
    write_csv(&dir.path().join("customers.csv"), rows);
    let config = write_config(dir.path(), &emulator.base_url(), "customers.csv", "");

    let output = tokio::task::spawn_blocking({
        let cwd = dir.path().to_owned();
        let config = config.to_str().unwrap().to_owned();
        move || dotsync_with_plugin(&["run", &config, "--json"], &cwd)
    })
    .await
    .unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "some rows rejected → exit 1; stderr: {}",
        stderr(&output)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let sync = &report["syncs"][0];
    assert_eq!(sync["delivered"], 96);
    assert_eq!(sync["rejected"], 4);
    let rejects_path = sync["rejects_file"].as_str().expect("rejects file named in the report");
    let rejects = std::fs::read_to_string(rejects_path).unwrap();
    let line_for = |row: &str| {
        rejects
            .lines()
            .find(|line| line.starts_with(&format!("{row},")))
            .unwrap_or_else(|| panic!("row {row} missing from rejects file:\n{rejects}"))
            .to_owned()
    };
    assert!(line_for("11").contains("InvalidEmail"), "{rejects}");
    assert!(line_for("21").contains("DuplicateKey"), "{rejects}");
    assert!(line_for("31").contains("NullKey"), "{rejects}");
    let wrong_type = line_for("41");
    assert!(
        wrong_type.contains("InvalidDataFieldValue") && wrong_type.contains("lots"),
        "{wrong_type}"
    );

    let state = emulator.state();
    assert!(state.contact_by_email(USER, &email(0)).is_some());
    assert!(state.contact_by_email(USER, &email(99)).is_some());
    assert!(
        state.contact_by_email(USER, &email(40)).is_none(),
        "the row with a bad value is not sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plugin_comes_from_its_library_file() {
    let dir = tempfile::tempdir().unwrap();
    let output = tokio::task::spawn_blocking({
        let cwd = dir.path().to_owned();
        move || dotsync_with_plugin(&["plugins", "list"], &cwd)
    })
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let listing = stdout(&output);
    let line = listing
        .lines()
        .find(|line| line.starts_with("dotdigital-contacts"))
        .unwrap_or_else(|| panic!("no contacts plugin in:\n{listing}"));
    assert!(
        line.contains("dotdigital_contacts"),
        "loaded from the library file: {line}"
    );
    let abi = format!(
        "{}.{}",
        dotsync_plugin_sdk::abi::ABI_MAJOR,
        dotsync_plugin_sdk::abi::ABI_MINOR
    );
    assert!(line.contains(&abi), "ABI version shown: {line}");
}
