//! Config loading and validation: exact messages with `file:line:column`.

use crate::common;

use std::path::{Path, PathBuf};

use dotsync_host::{Config, ConfigError, LoadedConfig, PluginRegistry, validate_plugin_config};

const SECRET: &str = "hunter2-very-secret";

fn env(name: &str) -> Option<String> {
    match name {
        "DOTSYNC_PASSWORD" => Some(SECRET.to_owned()),
        _ => None,
    }
}

/// Writes `text` as `dotsync.toml` in a temp folder and loads it through a relative path, so
/// messages start with `dotsync.toml`.
fn load(text: &str) -> (tempfile::TempDir, Result<LoadedConfig, ConfigError>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dotsync.toml"), text).unwrap();
    let result = Config::parse(Path::new("dotsync.toml"), dir.path().to_owned(), text.to_owned(), &env);
    (dir, result)
}

fn error(text: &str) -> String {
    match load(text).1 {
        Ok(_) => panic!("expected an error"),
        Err(error) => error.to_string(),
    }
}

const GOOD: &str = r#"[connection]
username = "demo@apiconnector.com"
password_env = "DOTSYNC_PASSWORD"
region = "r1"

[[sync]]
name = "contacts"
plugin = "fake"
source = { path = "customers.csv" }

[sync.config]
mode = "upsert"
"#;

#[test]
fn a_good_config_loads() {
    let (dir, loaded) = load(GOOD);
    let loaded = loaded.unwrap();
    assert_eq!(loaded.config.syncs.len(), 1);
    assert_eq!(loaded.config.syncs[0].batch_size, 5000);
    assert_eq!(loaded.config.connection.password().unwrap().expose(), SECRET);
    assert_eq!(
        loaded.state_dir(),
        dir.path().join(".dotsync"),
        "the default state folder"
    );
    assert_eq!(loaded.rejects_dir(), dir.path().join(".dotsync").join("rejects"));
    let debug = format!("{loaded:?}");
    assert!(!debug.contains(SECRET), "{debug}");
}

#[test]
fn unknown_key() {
    let text = GOOD.replace("region = \"r1\"", "regoin = \"r1\"");
    assert_eq!(
        error(&text),
        "dotsync.toml:4:1: connection.regoin: unknown field `regoin`, expected one of `username`, `password_env`, `password`, `region`, `endpoint`, `attempt_timeout_secs`, `max_attempts`, `rate_limits`"
    );
}

#[test]
fn unknown_key_in_a_sync() {
    let text = GOOD.replace("plugin = \"fake\"", "plugin = \"fake\"\nbatch = 3");
    assert_eq!(
        error(&text),
        "dotsync.toml:9:1: sync \"contacts\": batch: unknown field `batch`, expected one of `name`, `plugin`, `batch_size`, `source`, `config`"
    );
}

#[test]
fn wrong_type() {
    let text = GOOD.replace("plugin = \"fake\"", "plugin = \"fake\"\nbatch_size = \"big\"");
    assert_eq!(
        error(&text),
        "dotsync.toml:9:14: sync \"contacts\": batch_size: invalid type: string \"big\", expected usize"
    );
}

#[test]
fn missing_field() {
    let text = GOOD.replace("plugin = \"fake\"\n", "");
    assert_eq!(
        error(&text),
        "dotsync.toml:6:1: sync \"contacts\": missing field `plugin`"
    );
}

#[test]
fn missing_password_env_var() {
    let text = GOOD.replace("DOTSYNC_PASSWORD", "NOT_SET_ANYWHERE");
    assert_eq!(
        error(&text),
        "dotsync.toml:3:16: connection.password_env: environment variable NOT_SET_ANYWHERE is not set"
    );
}

#[test]
fn duplicate_sync_names() {
    let text = format!("{GOOD}\n[[sync]]\nname = \"contacts\"\nplugin = \"fake\"\nsource = {{ path = \"x.csv\" }}\n");
    assert_eq!(
        error(&text),
        "dotsync.toml:15:8: sync \"contacts\": name: duplicate sync name \"contacts\" (first defined on line 7)"
    );
}

#[test]
fn invalid_toml() {
    let message = error("[connection\nusername = 1\n");
    assert!(message.starts_with("dotsync.toml:1:"), "{message}");
    assert!(message.contains("invalid TOML"), "{message}");
}

#[test]
fn a_password_in_the_file_never_shows() {
    let text = GOOD.replace(
        "password_env = \"DOTSYNC_PASSWORD\"",
        &format!("password = \"{SECRET}\""),
    );
    let (_dir, loaded) = load(&text);
    let loaded = loaded.unwrap();
    assert_eq!(loaded.config.connection.password().unwrap().expose(), SECRET);
    let shown = format!(
        "{loaded:?} {:?} {}",
        loaded.config.connection,
        serde_json::to_string(&loaded.config).unwrap()
    );
    assert!(!shown.contains(SECRET), "{shown}");

    // Both given: the error names the key, not the value.
    let both = text.replace("region = \"r1\"", "password_env = \"DOTSYNC_PASSWORD\"");
    let message = error(&both);
    assert!(!message.contains(SECRET), "{message}");
    assert!(
        message.starts_with("dotsync.toml:3:1: connection.password:"),
        "{message}"
    );

    // A password of the wrong type is not echoed either.
    let wrong = GOOD.replace("password_env = \"DOTSYNC_PASSWORD\"", "password = 123456789");
    let message = error(&wrong);
    assert!(!message.contains("123456789"), "{message}");
}

fn registry() -> PluginRegistry {
    let mut registry = PluginRegistry::new();
    registry.register_static(common::descriptor_named("fake")).unwrap();
    registry
}

fn plugin_errors(config_table: &str) -> String {
    let text = GOOD.replace("mode = \"upsert\"\n", config_table);
    let (_dir, loaded) = load(&text);
    let loaded = loaded.unwrap();
    let schema = registry().get("fake").unwrap().config_schema_json();
    validate_plugin_config(&loaded, 0, schema).unwrap_err().to_string()
}

#[test]
fn bad_plugin_config_value_has_its_path() {
    assert_eq!(
        plugin_errors("mode = \"upsrt\"\n"),
        "dotsync.toml:12:8: sync \"contacts\": config.mode: \"upsrt\" is not one of \"upsert\", \"update\""
    );
}

#[test]
fn every_plugin_config_error_is_reported() {
    let table = "mode = 3\ncolour = \"red\"\nfields = [{ name = \"a\", type = \"bogus\" }]\n";
    assert_eq!(
        plugin_errors(table),
        [
            "dotsync.toml:12:8: sync \"contacts\": config.mode: 3 is not one of \"upsert\", \"update\"",
            "dotsync.toml:13:1: sync \"contacts\": config.colour: unknown key",
            "dotsync.toml:14:32: sync \"contacts\": config.fields[0].type: \"bogus\" is not one of \"string\", \"number\"",
        ]
        .join("\n")
    );
}

#[test]
fn missing_plugin_config_key_points_at_the_table() {
    assert_eq!(
        plugin_errors("fields = []\n"),
        "dotsync.toml:11:1: sync \"contacts\": config: missing required key \"mode\""
    );
}

#[test]
fn secret_plugin_config_values_are_never_echoed() {
    let message = plugin_errors(&format!("mode = \"upsert\"\napi_key = \"{SECRET}\"\n"));
    assert!(!message.contains(SECRET), "{message}");
    assert!(
        message.starts_with("dotsync.toml:13:11: sync \"contacts\": config.api_key:"),
        "{message}"
    );
}

#[test]
fn unknown_plugin_lists_the_known_ones() {
    let text = GOOD.replace("plugin = \"fake\"", "plugin = \"fak\"");
    let (_dir, loaded) = load(&text);
    let message = loaded.unwrap().validate(&registry()).unwrap_err().to_string();
    assert_eq!(
        message,
        "dotsync.toml:8:10: sync \"contacts\": plugin: unknown plugin \"fak\"; known plugins: \"fake\""
    );
}

#[test]
fn validate_returns_the_plugin_config_as_json() {
    let (_dir, loaded) = load(GOOD);
    let configs = loaded.unwrap().validate(&registry()).unwrap();
    assert_eq!(configs, vec![serde_json::json!({ "mode": "upsert" })]);
}

#[test]
fn a_missing_file_names_it() {
    let error = Config::load(PathBuf::from("/nonexistent/dotsync.toml")).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("/nonexistent/dotsync.toml: cannot read the config file:"),
        "{error}"
    );
}

#[test]
fn the_config_schema_describes_fields() {
    let schema: serde_json::Value = serde_json::from_str(&dotsync_host::config_schema_json()).unwrap();
    let text = schema.to_string();
    assert!(text.contains("The API user's name"), "{text}");
    assert!(text.contains("password_env"));
    let report: serde_json::Value = serde_json::from_str(&dotsync_host::run_report_schema_json()).unwrap();
    assert!(report.to_string().contains("rows_read"));
}

#[test]
fn a_root_key_after_a_table_gets_a_hint() {
    let text = GOOD.replace("region = \"r1\"\n", "region = \"r1\"\nplugin_dirs = [\"plugins\"]\n");
    assert_eq!(
        error(&text),
        "dotsync.toml:5:1: connection.plugin_dirs: unknown field `plugin_dirs`, expected one of `username`, `password_env`, `password`, `region`, `endpoint`, `attempt_timeout_secs`, `max_attempts`, `rate_limits`; root keys (`plugin_dirs`, `state_dir`) must come before the first [table] header"
    );
}

/// GOOD with its source replaced by `source` (the text after `source = `).
fn with_source(source: &str) -> String {
    GOOD.replace("{ path = \"customers.csv\" }", source)
}

#[test]
fn a_postgres_source_loads() {
    let text = with_source(
        "{ postgres = { url_env = \"CRM_URL\", query = \"SELECT email FROM customers\", write_back = \"crm.outcomes\" } }",
    );
    let (_dir, loaded) = load(&text);
    let loaded = loaded.unwrap();
    match &loaded.config.syncs[0].source {
        dotsync_host::SourceConfig::Postgres { postgres } => {
            assert_eq!(postgres.url_env, "CRM_URL");
            assert_eq!(postgres.query.as_deref(), Some("SELECT email FROM customers"));
            assert_eq!(postgres.table, None);
            assert_eq!(postgres.write_back.as_deref(), Some("crm.outcomes"));
        }
        other => panic!("a PostgreSQL source expected, got {other:?}"),
    }
    // A table, and the default URL variable.
    let (_dir, loaded) = load(&with_source("{ postgres = { table = \"customers\" } }"));
    match &loaded.unwrap().config.syncs[0].source {
        dotsync_host::SourceConfig::Postgres { postgres } => {
            assert_eq!(postgres.url_env, "DATABASE_URL");
            assert_eq!(postgres.table.as_deref(), Some("customers"));
        }
        other => panic!("a PostgreSQL source expected, got {other:?}"),
    }
}

#[test]
fn a_file_source_still_loads_with_its_options() {
    let (_dir, loaded) = load(&with_source("{ path = \"c.csv\", format = \"csv\" }"));
    match &loaded.unwrap().config.syncs[0].source {
        dotsync_host::SourceConfig::File(file) => assert_eq!(file.path, std::path::Path::new("c.csv")),
        other => panic!("a file source expected, got {other:?}"),
    }
}

#[test]
fn source_mistakes_are_located() {
    // A misspelt key inside `postgres`: PostgreSQL's config names what it expects.
    let message = error(&with_source("{ postgres = { qurey = \"SELECT 1\" } }"));
    assert!(message.starts_with("dotsync.toml:9:"), "{message}");
    assert!(
        message.contains("unknown field `qurey`, expected one of `url_env`, `query`, `table`, `write_back`"),
        "{message}"
    );
    // A misspelt key of a file source.
    let message = error(&with_source("{ path = \"c.csv\", fromat = \"csv\" }"));
    assert!(message.starts_with("dotsync.toml:9:"), "{message}");
    assert!(
        message.contains("unknown field `fromat`, expected one of `path`, `format`, `csv`"),
        "{message}"
    );
    // A key of the `postgres` table written next to it.
    let message = error(&with_source(
        "{ postgres = { query = \"SELECT 1\" }, write_back = \"o\" }",
    ));
    assert!(message.starts_with("dotsync.toml:9:"), "{message}");
    assert!(
        message.contains("`write_back` belongs inside the `postgres` table"),
        "{message}"
    );
    // A file and PostgreSQL at once.
    let message = error(&with_source(
        "{ postgres = { query = \"SELECT 1\" }, path = \"c.csv\" }",
    ));
    assert!(message.starts_with("dotsync.toml:9:"), "{message}");
    assert!(
        message.contains("unknown field `postgres`") || message.contains("`path` belongs inside"),
        "{message}"
    );
    // Both `query` and `table`: checked on load, located at the `postgres` table.
    let message = error(&with_source("{ postgres = { query = \"SELECT 1\", table = \"t\" } }"));
    assert!(message.starts_with("dotsync.toml:9:"), "{message}");
    assert!(
        message.contains("source.postgres: invalid PostgreSQL source config: set exactly one of `query` and `table`"),
        "{message}"
    );
    // An empty source table.
    let message = error(&with_source("{}"));
    assert!(message.contains("missing field `path`"), "{message}");
}

#[test]
fn the_config_schema_shows_both_source_forms() {
    let schema = dotsync_host::config_schema_json();
    for fragment in ["\"postgres\"", "\"url_env\"", "\"write_back\"", "\"path\"", "\"anyOf\""] {
        assert!(schema.contains(fragment), "schema lacks {fragment}");
    }
}

#[test]
fn an_events_source_loads_and_its_mistakes_are_located() {
    let (_dir, loaded) = load(&with_source(
        "{ events = { path = \"-\", event = \"Send SMS\", mappings = { to = \"properties.phone\" } } }",
    ));
    match &loaded.unwrap().config.syncs[0].source {
        source @ dotsync_host::SourceConfig::Events { events } => {
            assert!(events.reads_stdin());
            assert_eq!(events.event.as_deref(), Some("Send SMS"));
            assert!(source.is_delta(), "an event stream holds changes, not every row");
        }
        other => panic!("an events source expected, got {other:?}"),
    }
    // A misspelt key inside `events`.
    let message = error(&with_source("{ events = { path = \"e.jsonl\", evnt = \"X\" } }"));
    assert!(message.starts_with("dotsync.toml:9:"), "{message}");
    assert!(
        message.contains("unknown field `evnt`, expected one of `path`, `batch_size`, `event`"),
        "{message}"
    );
    // Fields that make no selection: located at the `events` table.
    let message = error(&with_source(
        "{ events = { path = \"e.jsonl\", mappings = { a = \"userId\" } } }",
    ));
    assert!(message.starts_with("dotsync.toml:9:"), "{message}");
    assert!(
        message.contains("source.events: say which events the sync takes"),
        "{message}"
    );
    // A constant that does not fit its column: located at `mappings`.
    let message = error(&with_source(
        "{ events = { path = \"e.jsonl\", event = \"X\", mappings = { m = { value = \"no\", type = \"boolean\" } } } }",
    ));
    assert!(
        message.contains(r#"source.events.mappings: column "m": the constant value does not fit the column: expected true or false, got "no""#),
        "{message}"
    );
}

#[test]
fn standard_input_feeds_one_sync_only() {
    let source = "{ events = { path = \"-\", event = \"X\", mappings = { a = \"userId\" } } }";
    let text = with_source(source);
    let sync_start = text.find("[[sync]]").unwrap();
    let second = text[sync_start..].replace("name = \"contacts\"", "name = \"second\"");
    let message = error(&format!("{text}\n{second}"));
    assert!(
        message
            .contains(r#"source.events.path: standard input can be read once, and sync "contacts" reads it already"#),
        "{message}"
    );
}
