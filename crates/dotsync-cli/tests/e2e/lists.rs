//! End to end: the lists plugin loaded from its library keeps an emulator list equal to a
//! 100,000-contact audience, then reconciles it with a changed audience.

use crate::support::*;

fn audience(dir: &std::path::Path, range: impl Iterator<Item = usize>) {
    write_lines(&dir.join("audience.csv"), "email", range.map(email));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_member_list_is_created_then_reconciled() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_sync_config(
        dir.path(),
        "lists.toml",
        &emulator.base_url(),
        "dotdigital-lists",
        "audience.csv",
        r#"list = { name = "Audience 100k" }
create_if_missing = true
email_column = "email"
import_size = 50000"#,
    );

    audience(dir.path(), 0..100_000);
    let (code, sync, stderr) = run_json(dir.path(), &config).await;
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert_eq!(sync["delivered"], 100_000, "{sync}");
    let list = emulator
        .state()
        .list_by_name(USER, "Audience 100k")
        .expect("the list was created");
    assert_eq!(emulator.state().list_members(USER, list.id).len(), 100_000);
    assert_eq!(
        emulator
            .state()
            .request_count("POST", "/v2/address-books/{id}/contacts/import"),
        2,
        "bulk imports, not one call per contact"
    );

    // 10,000 leave, 500 arrive. The host hands over only the new rows and, as the plugin asks,
    // the departed keys; the plugin reads the members again and removes the leavers in bulk.
    audience(dir.path(), 10_000..100_500);
    emulator.state().clear_requests();
    let (code, sync, stderr) = run_json(dir.path(), &config).await;
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert_eq!(sync["failed"], 0, "{sync}");
    assert_eq!(sync["rejected"], 0, "{sync}");
    let members = emulator.state().list_members(USER, list.id);
    assert_eq!(members.len(), 90_500);
    let state = emulator.state();
    let id_of = |i: usize| state.contact_by_email(USER, &email(i)).expect("contact").contact_id;
    assert!(!members.contains(&id_of(0)), "person0 left the audience");
    assert!(members.contains(&id_of(50_000)), "person50000 stayed");
    assert!(members.contains(&id_of(100_499)), "person100499 joined it");
    assert_eq!(state.request_count("POST", "/v2/address-books/{id}/contacts/import"), 1);
    assert_eq!(state.request_count("POST", "/v2/address-books/{id}/contacts/delete"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_a_missing_list() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    audience(dir.path(), 0..1);
    let config = write_sync_config(
        dir.path(),
        "lists.toml",
        &emulator.base_url(),
        "dotdigital-lists",
        "audience.csv",
        r#"list = { name = "No such list" }"#,
    );
    let output = tokio::task::spawn_blocking({
        let cwd = dir.path().to_owned();
        let config = config.to_str().unwrap().to_owned();
        move || dotsync_with_plugin(&["check", &config], &cwd)
    })
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(2), "stdout: {}", stdout(&output));
    let text = format!("{}{}", stdout(&output), stderr(&output));
    assert!(text.contains("no list is named `No such list`"), "{text}");
}
