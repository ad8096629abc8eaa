//! Run-stopping errors through the CLI: each one names what is wrong and exits with status 2.

use std::path::Path;

use crate::support::*;

async fn run_cli(dir: &Path, args: Vec<String>) -> std::process::Output {
    let cwd = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        dotsync_with_plugin(&args, &cwd)
    })
    .await
    .unwrap()
}

fn assert_fails_with(output: &std::process::Output, fragments: &[&str]) {
    assert_exits_with(output, 2, fragments);
}

fn assert_exits_with(output: &std::process::Output, code: i32, fragments: &[&str]) {
    let text = stderr(output);
    assert_eq!(
        output.status.code(),
        Some(code),
        "exit status {code} expected; stderr: {text}"
    );
    for fragment in fragments {
        assert!(text.contains(fragment), "stderr should contain {fragment:?}:\n{text}");
    }
    assert!(!text.contains(PASSWORD), "the password must never be printed:\n{text}");
    assert!(!text.contains("panicked"), "no panic:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_source_file_is_named() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &emulator.base_url(), "nowhere.parquet", "");
    let output = run_cli(dir.path(), vec!["run".into(), config.display().to_string()]).await;
    assert_fails_with(&output, &["nowhere.parquet", "not found"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_parquet_file_is_named() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("broken.parquet"),
        b"this is not parquet at all, not even close",
    )
    .unwrap();
    let config = write_config(dir.path(), &emulator.base_url(), "broken.parquet", "");
    let output = run_cli(dir.path(), vec!["run".into(), config.display().to_string()]).await;
    assert_fails_with(&output, &["broken.parquet", "Parquet"]);
    assert_eq!(emulator.state().contact_count(USER), 5, "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_mistakes_are_located_in_the_file() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    write_csv(&dir.path().join("customers.csv"), (0..3).map(csv_row));

    // An unknown key in the plugin config, with its line and column.
    let config = write_config(dir.path(), &emulator.base_url(), "customers.csv", "colour = \"blue\"\n");
    let output = run_cli(dir.path(), vec!["run".into(), config.display().to_string()]).await;
    assert_fails_with(&output, &["dotsync.toml:17:", "colour"]);

    // A value of the wrong type.
    let config = write_config(
        dir.path(),
        &emulator.base_url(),
        "customers.csv",
        "import_size = \"many\"\n",
    );
    let output = run_cli(dir.path(), vec!["run".into(), config.display().to_string()]).await;
    assert_fails_with(&output, &["dotsync.toml:17:", "import_size"]);

    // A missing required field (the connection's username).
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace(&format!("username = \"{USER}\"\n"), "");
    std::fs::write(&config, text).unwrap();
    let output = run_cli(dir.path(), vec!["run".into(), config.display().to_string()]).await;
    assert_fails_with(&output, &["dotsync.toml", "username"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_data_field_stops_before_any_write() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    write_csv(&dir.path().join("customers.csv"), (0..3).map(csv_row));
    let config = write_config(dir.path(), &emulator.base_url(), "customers.csv", "");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("VIP = \"vip\"", "SHOE_SIZE = \"vip\"");
    std::fs::write(&config, text).unwrap();
    let output = run_cli(dir.path(), vec!["run".into(), config.display().to_string()]).await;
    assert_fails_with(&output, &["SHOE_SIZE"]);
    assert_eq!(emulator.state().contact_count(USER), 5, "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_an_auth_error_that_names_the_user() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    write_csv(&dir.path().join("customers.csv"), (0..3).map(csv_row));
    let config = write_config(dir.path(), &emulator.base_url(), "customers.csv", "");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "password_env = \"DOTSYNC_TEST_PASSWORD\"",
        "password = \"not-the-password-9\"",
    );
    std::fs::write(&config, text).unwrap();
    let output = run_cli(dir.path(), vec!["run".into(), config.display().to_string()]).await;
    assert_fails_with(&output, &[USER]);
    assert!(
        !stderr(&output).contains("not-the-password-9"),
        "the wrong password is not printed either"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_is_named() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    write_csv(&dir.path().join("customers.csv"), (0..3).map(csv_row));
    let endpoint = format!("http://127.0.0.1:{port}");
    let config = write_config(dir.path(), &endpoint, "customers.csv", "");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("[connection]\n", "[connection]\nmax_attempts = 2\n");
    std::fs::write(&config, text).unwrap();
    let output = run_cli(dir.path(), vec!["run".into(), config.display().to_string()]).await;
    // The host reports the sync's rows failed (exit 1) with the reason, rather than stopping the
    // run (exit 2): a plugin's fatal error ends its sync only.
    assert_exits_with(&output, 1, &[&format!("127.0.0.1:{port}"), "Connection refused"]);
}
