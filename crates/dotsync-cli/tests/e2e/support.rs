//! Shared set-up of the end-to-end tests: the `dotsync` binary, the plugins built as loadable
//! libraries, an emulator on 127.0.0.1, and test data files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, OnceLock};

use arrow_array::{ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use dotsync_emulator::{Emulator, EmulatorConfig, EmulatorHandle, LimitsConfig};

pub const USER: &str = dotsync_emulator::DEMO_USERNAME;
pub const PASSWORD: &str = dotsync_emulator::DEMO_PASSWORD;

/// The plugin crates the end-to-end tests load as libraries.
pub const PLUGIN_CRATES: [&str; 5] = [
    "dotdigital-contacts",
    "dotdigital-lists",
    "dotdigital-programs",
    "dotdigital-insight",
    "dotdigital-messaging",
];

/// The folder holding the plugins as loadable libraries, built once per test binary the way
/// `cargo xtask build-plugins` builds them (each with its crate's `cdylib` feature), in one cargo
/// invocation.
pub fn plugin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("test binary path");
        // target/<profile>/deps/<test binary>
        let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
        let target_dir = profile_dir.parent().expect("target dir");
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut command = Command::new(cargo);
        command.current_dir(&workspace).args(["build", "--lib"]);
        for name in PLUGIN_CRATES {
            command.args(["-p", name, "--features", &format!("{name}/cdylib")]);
        }
        let output = command
            .arg("--target-dir")
            .arg(target_dir)
            .output()
            .expect("run cargo build for the plugins");
        assert!(
            output.status.success(),
            "building the plugin libraries failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let dir = target_dir.join("e2e-plugins");
        std::fs::create_dir_all(&dir).expect("create plugin dir");
        for name in PLUGIN_CRATES {
            let file = format!(
                "{}{}{}",
                std::env::consts::DLL_PREFIX,
                name.replace('-', "_"),
                std::env::consts::DLL_SUFFIX
            );
            // Copy, then rename: another test process may be loading the previous copy.
            let partial = dir.join(format!("{file}.{}.partial", std::process::id()));
            std::fs::copy(profile_dir.join(&file), &partial).expect("copy plugin library");
            std::fs::rename(&partial, dir.join(&file)).expect("move plugin library into place");
        }
        dir
    })
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The emulator with the demo account, no rate limits and quick imports.
pub async fn emulator() -> EmulatorHandle {
    Emulator::start(
        EmulatorConfig::demo()
            .with_limits(LimitsConfig::off())
            .with_import_delay(std::time::Duration::from_millis(20)),
    )
    .await
    .expect("emulator starts")
}

/// The head of a test config: the state folder, and the connection to `endpoint` as the demo
/// user with the password from `DOTSYNC_TEST_PASSWORD`.
pub fn config_head(endpoint: &str) -> String {
    format!(
        r#"state_dir = ".dotsync"

[connection]
endpoint = "{endpoint}"
username = "{USER}"
password_env = "DOTSYNC_TEST_PASSWORD"
"#
    )
}

/// A config file for one contacts sync against `endpoint`.
pub fn write_config(dir: &Path, endpoint: &str, source: &str, extra: &str) -> PathBuf {
    let path = dir.join("dotsync.toml");
    let head = config_head(endpoint);
    let text = format!(
        r#"{head}
[[sync]]
name = "customers"
plugin = "dotdigital-contacts"
source = {{ path = "{source}" }}

[sync.config]
mode = "upsert"
key = "email"
identifiers = {{ email = "email" }}
{extra}
[sync.config.data_fields]
FIRSTNAME = "first_name"
LTV = "ltv"
VIP = "vip"
"#
    );
    std::fs::write(&path, text).expect("write config");
    path
}

/// The `dotsync ARGS` command with the test password in the environment and the plugin folder
/// given, to run in `cwd`.
pub fn dotsync_command(args: &[&str], cwd: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dotsync"));
    command
        .args(args)
        .arg("--plugin-dir")
        .arg(plugin_dir())
        .current_dir(cwd)
        .env("DOTSYNC_TEST_PASSWORD", PASSWORD)
        .env_remove("RUST_LOG")
        .env_remove("DOTSYNC_PLUGIN_PATH");
    command
}

/// [`dotsync_command`], run to its end.
pub fn dotsync_with_plugin(args: &[&str], cwd: &Path) -> Output {
    dotsync_command(args, cwd).output().expect("run dotsync")
}

/// The contact for row `i` of the generated data.
pub fn email(i: usize) -> String {
    format!("person{i}@example.com")
}

pub fn contacts_batch(range: std::ops::Range<usize>) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("email", DataType::Utf8, true),
        Field::new("first_name", DataType::Utf8, true),
        Field::new("ltv", DataType::Float64, true),
        Field::new("vip", DataType::Boolean, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(range.clone().map(email).collect::<Vec<_>>())),
        Arc::new(StringArray::from(
            range.clone().map(|i| format!("Name{i}")).collect::<Vec<_>>(),
        )),
        Arc::new(Float64Array::from(
            range.clone().map(|i| i as f64 * 1.5).collect::<Vec<_>>(),
        )),
        Arc::new(BooleanArray::from(
            range.map(|i| i.is_multiple_of(7)).collect::<Vec<_>>(),
        )),
    ];
    RecordBatch::try_new(schema, columns).expect("valid batch")
}

pub fn write_parquet(path: &Path, rows: usize) {
    let file = std::fs::File::create(path).expect("create parquet");
    let batch = contacts_batch(0..rows);
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).expect("parquet writer");
    for start in (0..rows).step_by(4096) {
        writer
            .write(&contacts_batch(start..(start + 4096).min(rows)))
            .expect("write batch");
    }
    writer.close().expect("close parquet");
}

pub fn write_csv(path: &Path, rows: impl IntoIterator<Item = String>) {
    let mut text = String::from("email,first_name,ltv,vip\n");
    for row in rows {
        text.push_str(&row);
        text.push('\n');
    }
    std::fs::write(path, text).expect("write csv");
}

pub fn csv_row(i: usize) -> String {
    format!("{},Name{i},{},{}", email(i), i as f64 * 1.5, i.is_multiple_of(7))
}

/// A config file `name` with one sync of `plugin` over `source`, its `[sync.config]` body given.
pub fn write_sync_config(dir: &Path, name: &str, endpoint: &str, plugin: &str, source: &str, config: &str) -> PathBuf {
    let path = dir.join(name);
    let head = config_head(endpoint);
    let text = format!(
        r#"{head}
[[sync]]
name = "{plugin}"
plugin = "{plugin}"
source = {{ path = "{source}" }}

[sync.config]
{config}
"#
    );
    std::fs::write(&path, text).expect("write config");
    path
}

/// `dotsync run CONFIG --json` with the plugin folder, off the async runtime; returns the exit
/// code, the run's report and stderr.
pub async fn run_report(dir: &Path, config: &Path) -> (Option<i32>, serde_json::Value, String) {
    let output = tokio::task::spawn_blocking({
        let cwd = dir.to_owned();
        let config = config.to_str().expect("utf-8 path").to_owned();
        move || dotsync_with_plugin(&["run", &config, "--json"], &cwd)
    })
    .await
    .expect("dotsync ran");
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap_or_else(|error| {
        panic!(
            "--json prints the report ({error}); stdout: {}; stderr: {}",
            stdout(&output),
            stderr(&output)
        )
    });
    (output.status.code(), report, stderr(&output))
}

/// [`run_report`] with the first sync's report only.
pub async fn run_json(dir: &Path, config: &Path) -> (Option<i32>, serde_json::Value, String) {
    let (code, report, stderr) = run_report(dir, config).await;
    (code, report["syncs"][0].clone(), stderr)
}

/// A CSV file with a header and one line per row.
pub fn write_lines(path: &Path, header: &str, rows: impl IntoIterator<Item = String>) {
    let mut text = format!("{header}\n");
    for row in rows {
        text.push_str(&row);
        text.push('\n');
    }
    std::fs::write(path, text).expect("write csv");
}
