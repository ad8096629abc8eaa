//! End to end: the programs plugin loaded from its library enrols a 1,000-row audience into the
//! emulator's active program in one enrolment call, and refuses a draft program before any write.

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_contacts_enter_the_program_in_one_enrolment() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    // The contacts exist and are subscribed (a program only runs for subscribed contacts).
    write_csv(&dir.path().join("customers.csv"), (0..1_000).map(csv_row));
    let contacts = write_config(
        dir.path(),
        &emulator.base_url(),
        "customers.csv",
        "email_status = { value = \"subscribed\" }",
    );
    let (code, _, stderr) = run_json(dir.path(), &contacts).await;
    assert_eq!(code, Some(0), "stderr: {stderr}");

    write_lines(&dir.path().join("entered.csv"), "email", (0..1_000).map(email));
    let config = write_sync_config(
        dir.path(),
        "programs.toml",
        &emulator.base_url(),
        "dotdigital-programs",
        "entered.csv",
        r#"program = { name = "Welcome" }
key = "email"
key_column = "email""#,
    );
    let (code, sync, stderr) = run_json(dir.path(), &config).await;
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert_eq!(sync["delivered"], 1_000, "{sync}");

    let enrolments = emulator.state().enrolments(USER);
    assert_eq!(enrolments.len(), 1, "one enrolment call for the whole audience");
    assert_eq!(enrolments[0].program_id, 77);
    assert_eq!(enrolments[0].status, "Finished");
    assert_eq!(enrolments[0].enrolled.len(), 1_000);
    let state = emulator.state();
    let first = state.contact_by_email(USER, &email(0)).unwrap().contact_id;
    assert!(enrolments[0].enrolled.contains(&first));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_program_is_refused_before_any_enrolment() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    write_lines(&dir.path().join("entered.csv"), "email", ["ann@example.com".to_owned()]);
    let config = write_sync_config(
        dir.path(),
        "programs.toml",
        &emulator.base_url(),
        "dotdigital-programs",
        "entered.csv",
        "program = { id = 78 }",
    );
    let output = tokio::task::spawn_blocking({
        let cwd = dir.path().to_owned();
        let config = config.to_str().unwrap().to_owned();
        move || dotsync_with_plugin(&["run", &config], &cwd)
    })
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(2), "stdout: {}", stdout(&output));
    let text = format!("{}{}", stdout(&output), stderr(&output));
    assert!(text.contains("only an Active program accepts enrolments"), "{text}");
    assert!(emulator.state().enrolments(USER).is_empty());
}
