//! The TOML config file: its types (which double as the JSON schema of the file), loading with
//! located errors (`file:line:column: path: message`), and validation of each sync's plugin config
//! against the plugin's JSON schema.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use dotsync_source_events::{ConfigError as EventsConfigError, EventSourceConfig};
use dotsync_source_files::FileSourceConfig;
use dotsync_source_postgres::PostgresSourceConfig;
use schemars::JsonSchema;
use serde::de::{DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::registry::PluginRegistry;

/// Rows per batch handed to a plugin when a sync does not say.
pub const DEFAULT_BATCH_SIZE: usize = 5000;
/// The state folder when the config names none: this folder next to the config file.
pub const DEFAULT_STATE_DIR: &str = ".dotsync";

/// The root of a dotsync config file (`dotsync.toml`).
///
/// Root keys (`plugin_dirs`, `state_dir`) must come before the first `[table]` header: in TOML, a
/// key after a header belongs to that table.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "dotsync config", example = example_config())]
pub struct Config {
    /// The Dotdigital account (API user) every sync in this file writes to.
    pub connection: ConnectionConfig,
    /// Folders to load plugin libraries (`*.so`, `*.dylib`, `*.dll`) from, relative to the config
    /// file. Plugins are also loaded from `--plugin-dir` and from `DOTSYNC_PLUGIN_PATH`
    /// (colon-separated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(example = vec!["plugins"])]
    pub plugin_dirs: Vec<PathBuf>,
    /// Folder for run state (what was delivered, run history, the send journal, the in-process
    /// emulator's data) and rejects files, relative to the config file. Default: `.dotsync`
    /// next to the config file. Rejects files go to `<state_dir>/rejects/`. Two runs cannot use
    /// one state folder at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = ".dotsync")]
    pub state_dir: Option<PathBuf>,
    /// The syncs, run in the order given. Each one reads a source and hands its rows to a plugin.
    #[serde(default, rename = "sync", skip_serializing_if = "Vec::is_empty")]
    pub syncs: Vec<SyncConfig>,
}

fn example_config() -> serde_json::Value {
    serde_json::json!({
        "connection": {
            "username": "demo@apiconnector.com",
            "password_env": "DOTSYNC_PASSWORD",
            "region": "r1"
        },
        "sync": [{
            "name": "contacts",
            "plugin": "dotdigital-contacts",
            "source": { "path": "customers.parquet" },
            "config": { "mode": "upsert" }
        }]
    })
}

/// How to reach the Dotdigital API and as whom.
#[derive(Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionConfig {
    /// The API user's name (an email address ending in `@apiconnector.com`).
    #[schemars(example = "demo@apiconnector.com")]
    pub username: String,
    /// Name of the environment variable that holds the API user's password (recommended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"DOTSYNC_PASSWORD")]
    pub password_env: Option<String>,
    /// The API user's password, written in the file (discouraged: prefer `password_env`). Never
    /// shown in any log, error or report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>", extend("writeOnly" = true))]
    pub password: Option<ConfigSecret>,
    /// The account's region. When absent, the region is detected by asking account-info on r1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<RegionName>,
    /// Where to send API calls instead of the real API: `"emulator"` (the in-process emulator,
    /// started by the CLI) or a base URL (e.g. `http://127.0.0.1:8080` for a standalone
    /// emulator). When absent, the real Dotdigital API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"emulator")]
    pub endpoint: Option<String>,
    /// Timeout of one HTTP attempt, in seconds. Default: the executor's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1), example = 30)]
    pub attempt_timeout_secs: Option<u64>,
    /// Attempts per request (first try included) before giving up on retryable errors.
    /// Default: the executor's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1), example = 8)]
    pub max_attempts: Option<u32>,
    /// Self-imposed quotas per rate class (the Dotdigital call tier, e.g. `enrolment`), on top of
    /// the limits the API announces.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rate_limits: BTreeMap<String, RateLimitConfig>,
    /// The password, resolved from `password` or `password_env` while loading.
    #[serde(skip)]
    #[schemars(skip)]
    resolved_password: Option<ConfigSecret>,
}

impl fmt::Debug for ConnectionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionConfig")
            .field("username", &self.username)
            .field("password_env", &self.password_env)
            .field("password", &self.password)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("attempt_timeout_secs", &self.attempt_timeout_secs)
            .field("max_attempts", &self.max_attempts)
            .field("rate_limits", &self.rate_limits)
            .finish_non_exhaustive()
    }
}

impl ConnectionConfig {
    /// The password, resolved while loading from `password` or the `password_env` variable.
    /// `None` only for `endpoint = "emulator"` without a password (the CLI supplies the
    /// emulator's).
    pub fn password(&self) -> Option<&ConfigSecret> {
        self.resolved_password.as_ref()
    }

    /// Sets the resolved password (for embedders that build a config in code).
    pub fn set_password(&mut self, password: ConfigSecret) {
        self.resolved_password = Some(password);
    }

    /// What `endpoint` asks for.
    pub fn endpoint_kind(&self) -> Endpoint {
        match self.endpoint.as_deref() {
            None => Endpoint::Real,
            Some(text) if text.eq_ignore_ascii_case("emulator") => Endpoint::Emulator,
            Some(url) => Endpoint::Url(url.trim_end_matches('/').to_owned()),
        }
    }
}

/// Where API calls go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// The real Dotdigital API.
    Real,
    /// The in-process emulator the CLI starts.
    Emulator,
    /// This base URL.
    Url(String),
}

/// A secret string from the config file: redacted in `Debug`, `Display` and when serialised.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct ConfigSecret(String);

impl ConfigSecret {
    pub fn new(value: impl Into<String>) -> Self {
        ConfigSecret(value.into())
    }

    /// The secret itself. Never log or print it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ConfigSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for ConfigSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for ConfigSecret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("<redacted>")
    }
}

/// A Dotdigital region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RegionName {
    /// Europe (r1-api.dotdigital.com).
    R1,
    /// North America (r2-api.dotdigital.com).
    R2,
    /// Asia Pacific (r3-api.dotdigital.com).
    R3,
}

/// A self-imposed quota: at most `calls` calls every `per_secs` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Calls allowed per window.
    #[schemars(range(min = 1), example = 20)]
    pub calls: u32,
    /// Window length in seconds.
    #[schemars(range(min = 1), example = 3600)]
    pub per_secs: u64,
}

/// One sync: a source, a plugin, and the plugin's own config.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    /// Unique name of the sync (letters, digits, `-`, `_`, `.`); used in reports and file names.
    #[schemars(example = &"contacts")]
    pub name: String,
    /// Name of the destination plugin, e.g. `dotdigital-contacts` (`dotsync plugins` lists them).
    #[schemars(example = "dotdigital-contacts")]
    pub plugin: String,
    /// Rows per batch handed to the plugin.
    #[serde(default = "default_batch_size")]
    #[schemars(range(min = 1), example = 5000)]
    pub batch_size: usize,
    /// Where the rows come from: a file (`{ path = "customers.csv" }`, relative to the config
    /// file) or PostgreSQL (`{ postgres = { url_env = "DATABASE_URL", query = "SELECT ..." } }`).
    pub source: SourceConfig,
    /// The plugin's own config, validated against the plugin's JSON schema
    /// (`dotsync plugins --schema NAME` prints it).
    #[serde(default)]
    #[schemars(with = "serde_json::Map<String, serde_json::Value>")]
    pub config: toml::Table,
}

fn default_batch_size() -> usize {
    DEFAULT_BATCH_SIZE
}

/// The key that makes a `source` table a PostgreSQL source.
const POSTGRES_KEY: &str = "postgres";
/// The key that makes a `source` table an events source.
const EVENTS_KEY: &str = "events";

/// Where a sync reads its rows: a file (`{ path = "..." }`), PostgreSQL
/// (`{ postgres = { ... } }`) or Segment-spec events (`{ events = { ... } }`).
// Deserialised by hand (a table with a `postgres` or `events` key is that kind, any other a
// file) so that each kind's own errors, e.g. "unknown field `qurey`, expected one of ...", reach
// the user with their place in the file; an untagged enum would only say that no kind matched.
// The derived schema lists every form.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged, deny_unknown_fields)]
pub enum SourceConfig {
    /// A file: Parquet, CSV, JSON lines or Arrow IPC.
    File(FileSourceConfig),
    /// A PostgreSQL query or table, streamed with binary COPY.
    Postgres {
        /// The connection (`url_env`), what to read (`query` or `table`) and where to write each
        /// row's outcome back (`write_back`, optional).
        postgres: PostgresSourceConfig,
    },
    /// Segment-spec events as JSON lines, from a file or standard input: the events an `event`
    /// name or a `trigger` selects, mapped to columns, or one Engage `audience`'s changes.
    Events {
        /// Where the events come from (`path`, "-" for standard input) and what the sync takes of
        /// them.
        events: EventSourceConfig,
    },
}

impl SourceConfig {
    /// Whether the source holds changes rather than every row: an event stream names only the
    /// contacts something happened to, so a key it does not name has not left anything.
    pub fn is_delta(&self) -> bool {
        matches!(self, SourceConfig::Events { .. })
    }
}

impl From<FileSourceConfig> for SourceConfig {
    fn from(config: FileSourceConfig) -> Self {
        SourceConfig::File(config)
    }
}

impl From<PostgresSourceConfig> for SourceConfig {
    fn from(postgres: PostgresSourceConfig) -> Self {
        SourceConfig::Postgres { postgres }
    }
}

impl From<EventSourceConfig> for SourceConfig {
    fn from(events: EventSourceConfig) -> Self {
        SourceConfig::Events { events }
    }
}

impl<'de> Deserialize<'de> for SourceConfig {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(SourceVisitor)
    }
}

struct SourceVisitor;

impl<'de> Visitor<'de> for SourceVisitor {
    type Value = SourceConfig;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a table: `{ path = \"...\" }` for a file, `{ postgres = { ... } }` for PostgreSQL, \
             `{ events = { ... } }` for events",
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SourceConfig, A::Error> {
        let first = map.next_key::<String>()?;
        let kind = first.as_deref().filter(|key| [POSTGRES_KEY, EVENTS_KEY].contains(key));
        if let Some(kind) = kind {
            let source = if kind == POSTGRES_KEY {
                SourceConfig::Postgres {
                    postgres: map.next_value()?,
                }
            } else {
                SourceConfig::Events {
                    events: map.next_value()?,
                }
            };
            if let Some(other) = map.next_key::<String>()? {
                return Err(serde::de::Error::custom(format!(
                    "unknown field `{other}`: this source is `{{ {kind} = {{ ... }} }}` alone; \
                     `{other}` belongs inside the `{kind}` table, if anywhere"
                )));
            }
            return Ok(source);
        }
        // A file: its own deserializer reads the table, the key already taken included, so its
        // errors (and their places in the file) are the ones users see. Keys may arrive sorted
        // rather than as written: a `postgres` or `events` key after file keys is then an unknown
        // field of the file source, which is still the right verdict.
        let rest = FirstKeyFirst { first, map };
        FileSourceConfig::deserialize(serde::de::value::MapAccessDeserializer::new(rest)).map(SourceConfig::File)
    }
}

/// A map whose first key was already read: hands it out again, then the rest.
struct FirstKeyFirst<A> {
    first: Option<String>,
    map: A,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for FirstKeyFirst<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        match self.first.take() {
            Some(key) => seed.deserialize(key.into_deserializer()).map(Some),
            None => self.map.next_key_seed(seed),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

/// The JSON schema of the config file (`schemas/dotsync-config.schema.json`), `sync.config` being a
/// free object (each plugin publishes its own schema for it).
pub fn config_schema_json() -> String {
    let schema = schemars::schema_for!(Config);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_else(|_| "{}".to_owned());
    text.push('\n');
    text
}

/// A position in the config file, 1-based, columns counted in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// One problem in the config file, with its place: displays as
/// `file:line:column: sync "name": key.path: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The config file, as the user named it.
    pub file: PathBuf,
    pub position: Option<Position>,
    /// The sync the problem is in (`sync "contacts"`), if any.
    pub context: Option<String>,
    /// Dotted key path of the problem (relative to the sync when `context` names one).
    pub key_path: Option<String>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(position) = self.position {
            write!(f, ":{}:{}", position.line, position.column)?;
        }
        f.write_str(": ")?;
        if let Some(context) = &self.context {
            write!(f, "{context}: ")?;
        }
        if let Some(path) = &self.key_path {
            write!(f, "{path}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Why a config file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("{}: cannot read the config file: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, or does not fit the config format.
    #[error("{0}")]
    Invalid(Diagnostic),
}

impl ConfigError {
    /// The diagnostic, for errors located in the file.
    pub fn diagnostic(&self) -> Option<&Diagnostic> {
        match self {
            ConfigError::Invalid(diagnostic) => Some(diagnostic),
            ConfigError::Read { .. } => None,
        }
    }
}

/// Several problems found at once (every plugin-config error of a file). Displays one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors {
    pub errors: Vec<Diagnostic>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.errors.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl From<Diagnostic> for ConfigErrors {
    fn from(error: Diagnostic) -> Self {
        ConfigErrors { errors: vec![error] }
    }
}

/// A config file, parsed and checked, with its text kept so that later errors (plugin config,
/// unknown plugin) can point into it.
pub struct LoadedConfig {
    /// The file as the user named it (used in messages).
    pub path: PathBuf,
    /// The folder relative paths in the file are resolved against.
    pub base_dir: PathBuf,
    pub config: Config,
    text: String,
    document: toml_edit::Document<String>,
}

impl fmt::Debug for LoadedConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedConfig")
            .field("path", &self.path)
            .field("base_dir", &self.base_dir)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Reads, parses and checks a config file; resolves `password_env` from the environment.
    pub fn load(path: impl AsRef<Path>) -> Result<LoadedConfig, ConfigError> {
        Self::load_with_env(path, &|name| std::env::var(name).ok())
    }

    /// [`Config::load`] with another environment (tests, embedders).
    pub fn load_with_env(
        path: impl AsRef<Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<LoadedConfig, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base_dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        };
        Self::parse(path, base_dir, text, env)
    }

    /// Parses config text as if read from `path`, resolving relative paths against `base_dir`.
    pub fn parse(
        path: &Path,
        base_dir: PathBuf,
        text: String,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<LoadedConfig, ConfigError> {
        let document = match toml_edit::Document::parse(text.clone()) {
            Ok(document) => document,
            Err(error) => {
                let position = error.span().map(|span| position_of(&text, span.start));
                let message = first_line(error.message());
                return Err(ConfigError::Invalid(Diagnostic {
                    file: path.to_owned(),
                    position,
                    context: None,
                    key_path: None,
                    message: format!("invalid TOML: {message}"),
                }));
            }
        };
        let locator = Locator {
            file: path,
            text: &text,
            document: &document,
        };
        let mut config: Config = match toml::from_str(&text) {
            Ok(config) => config,
            Err(error) => {
                let span = error.span();
                let mut message = error.message().trim().to_owned();
                if let Some(span) = &span
                    && locator.is_secret_span(span)
                {
                    message = "invalid value (not shown: this key holds a secret); expected a string".into();
                }
                let mut diagnostic = locator.at_span(span, message);
                let misplaced = diagnostic.key_path.as_deref().is_some_and(|path| {
                    ["plugin_dirs", "state_dir"]
                        .iter()
                        .any(|key| path.ends_with(&format!(".{key}")))
                });
                if misplaced {
                    diagnostic
                        .message
                        .push_str("; root keys (`plugin_dirs`, `state_dir`) must come before the first [table] header");
                }
                return Err(ConfigError::Invalid(diagnostic));
            }
        };
        check(&locator, &mut config, env).map_err(ConfigError::Invalid)?;
        Ok(LoadedConfig {
            path: path.to_owned(),
            base_dir,
            config,
            text,
            document,
        })
    }
}

fn first_line(text: &str) -> String {
    text.trim().lines().next().unwrap_or("").to_owned()
}

/// Checks what serde cannot: password source, names, batch sizes.
fn check(locator: &Locator<'_>, config: &mut Config, env: &dyn Fn(&str) -> Option<String>) -> Result<(), Diagnostic> {
    let connection = &mut config.connection;
    match (&connection.password_env, &connection.password) {
        (Some(_), Some(_)) => {
            return Err(locator.at_key(
                &["connection", "password"],
                "give either `password` or `password_env`, not both".into(),
            ));
        }
        (Some(variable), None) => match env(variable) {
            Some(value) if !value.is_empty() => connection.resolved_password = Some(ConfigSecret(value)),
            Some(_) => {
                return Err(locator.at_value(
                    &["connection", "password_env"],
                    format!("environment variable {variable} is empty"),
                ));
            }
            None => {
                return Err(locator.at_value(
                    &["connection", "password_env"],
                    format!("environment variable {variable} is not set"),
                ));
            }
        },
        (None, Some(password)) => connection.resolved_password = Some(password.clone()),
        (None, None) => {
            if connection.endpoint_kind() != Endpoint::Emulator {
                return Err(locator.at_key(
                    &["connection"],
                    "no password: set `password_env` to the name of an environment variable holding the API user's password"
                        .into(),
                ));
            }
        }
    }
    if connection.username.trim().is_empty() {
        return Err(locator.at_value(&["connection", "username"], "must not be empty".into()));
    }
    if let Endpoint::Url(url) = connection.endpoint_kind()
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(locator.at_value(
            &["connection", "endpoint"],
            format!("{url:?} is neither \"emulator\" nor an http:// or https:// URL"),
        ));
    }
    for (class, limit) in &connection.rate_limits {
        for (key, zero) in [("calls", limit.calls == 0), ("per_secs", limit.per_secs == 0)] {
            if zero {
                return Err(locator.at_value(
                    &["connection", "rate_limits", class.as_str(), key],
                    "must be at least 1".into(),
                ));
            }
        }
    }
    for (key, zero) in [
        ("attempt_timeout_secs", connection.attempt_timeout_secs == Some(0)),
        ("max_attempts", connection.max_attempts == Some(0)),
    ] {
        if zero {
            return Err(locator.at_value(&["connection", key], "must be at least 1".into()));
        }
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut stdin_reader: Option<&str> = None;
    for (index, sync) in config.syncs.iter().enumerate() {
        let valid_name = !sync.name.is_empty()
            && sync
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid_name {
            return Err(locator.at_value(
                &["sync", &index.to_string(), "name"],
                format!(
                    "{:?} is not a valid sync name: use letters, digits, `-`, `_` and `.` only",
                    sync.name
                ),
            ));
        }
        if let Some(first) = seen.insert(&sync.name, index) {
            let first_line = locator
                .value_span(&["sync", &first.to_string(), "name"])
                .map(|span| position_of(locator.text, span.start).line);
            let earlier = match first_line {
                Some(line) => format!(" (first defined on line {line})"),
                None => String::new(),
            };
            return Err(locator.at_value(
                &["sync", &index.to_string(), "name"],
                format!("duplicate sync name {:?}{earlier}", sync.name),
            ));
        }
        if sync.batch_size == 0 {
            return Err(locator.at_value(&["sync", &index.to_string(), "batch_size"], "must be at least 1".into()));
        }
        let sync_index = index.to_string();
        match &sync.source {
            SourceConfig::Postgres { postgres } => {
                if let Err(error) = postgres.validate() {
                    return Err(locator.at_value(&["sync", &sync_index, "source", POSTGRES_KEY], error.to_string()));
                }
            }
            SourceConfig::Events { events } => {
                if events.batch_size == 0 {
                    return Err(locator.at_value(
                        &["sync", &sync_index, "source", EVENTS_KEY, "batch_size"],
                        "must be at least 1".into(),
                    ));
                }
                if let Err(error) = events.compile() {
                    return Err(events_config_error(locator, &sync_index, events, &error));
                }
                if events.reads_stdin() {
                    if let Some(first) = stdin_reader {
                        return Err(locator.at_value(
                            &["sync", &sync_index, "source", EVENTS_KEY, "path"],
                            format!(
                                "standard input can be read once, and sync {first:?} reads it already: \
                                 save the events to a file and give its path to each sync"
                            ),
                        ));
                    }
                    stdin_reader = Some(sync.name.as_str());
                }
            }
            SourceConfig::File(_) => {}
        }
    }
    Ok(())
}

/// An events source's config error, placed on the key it is about; a trigger's also shows the
/// expression with a caret under the mistake.
fn events_config_error(
    locator: &Locator<'_>,
    sync_index: &str,
    events: &EventSourceConfig,
    error: &EventsConfigError,
) -> Diagnostic {
    let at = |key: &'static str| ["sync", sync_index, "source", EVENTS_KEY, key];
    match error {
        EventsConfigError::Trigger { error: position, .. } => {
            let trigger = events
                .trigger
                .clone()
                .unwrap_or_else(|| dotsync_source_events::default_trigger(events.event.as_deref().unwrap_or_default()));
            let key = if events.trigger.is_some() { "trigger" } else { "event" };
            locator.at_value(&at(key), position.render(&trigger))
        }
        EventsConfigError::Path { .. }
        | EventsConfigError::Constant { .. }
        | EventsConfigError::DuplicateColumn { .. } => locator.at_value(&at("mappings"), error.to_string()),
        _ => locator.at_key(&["sync", sync_index, "source", EVENTS_KEY], error.to_string()),
    }
}

impl LoadedConfig {
    /// The config file's text.
    pub fn text(&self) -> &str {
        &self.text
    }

    fn locator(&self) -> Locator<'_> {
        Locator {
            file: &self.path,
            text: &self.text,
            document: &self.document,
        }
    }

    /// `plugin_dirs`, resolved against the config file's folder.
    pub fn plugin_dirs(&self) -> Vec<PathBuf> {
        self.config.plugin_dirs.iter().map(|dir| self.resolve(dir)).collect()
    }

    /// The state folder: `state_dir` resolved against the config file's folder, or
    /// [`DEFAULT_STATE_DIR`] in that folder.
    pub fn state_dir(&self) -> PathBuf {
        match &self.config.state_dir {
            Some(dir) => self.resolve(dir),
            None => self.base_dir.join(DEFAULT_STATE_DIR),
        }
    }

    /// Where rejects files go: `<state dir>/rejects`.
    pub fn rejects_dir(&self) -> PathBuf {
        self.state_dir().join("rejects")
    }

    fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_owned()
        } else {
            self.base_dir.join(path)
        }
    }

    /// A diagnostic about the value at `path` (TOML keys and array indices), e.g.
    /// `["sync", "0", "plugin"]`.
    pub fn diagnostic_at(&self, path: &[&str], message: impl Into<String>) -> Diagnostic {
        self.locator().at_value(path, message.into())
    }

    /// Checks that every sync's plugin is known to `registry`.
    pub fn check_plugins(&self, registry: &PluginRegistry) -> Result<(), ConfigErrors> {
        let mut errors = Vec::new();
        for (index, sync) in self.config.syncs.iter().enumerate() {
            if registry.get(&sync.plugin).is_none() {
                let known = registry.names();
                let known = if known.is_empty() {
                    "no plugins are loaded (add a folder with `plugin_dirs`, --plugin-dir or DOTSYNC_PLUGIN_PATH)"
                        .to_owned()
                } else {
                    format!(
                        "known plugins: {}",
                        known
                            .iter()
                            .map(|name| format!("{name:?}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                errors.push(self.diagnostic_at(
                    &["sync", &index.to_string(), "plugin"],
                    format!("unknown plugin {:?}; {known}", sync.plugin),
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors { errors })
        }
    }

    /// Checks every sync against `registry`: the plugin exists and its config is valid. Each
    /// plugin's schema is compiled once. Returns each sync's config as JSON, in order.
    pub fn validate(&self, registry: &PluginRegistry) -> Result<Vec<serde_json::Value>, ConfigErrors> {
        self.check_plugins(registry)?;
        let mut validators: HashMap<&str, PluginConfigValidator> = HashMap::new();
        let mut errors = Vec::new();
        let mut configs = Vec::new();
        for (index, sync) in self.config.syncs.iter().enumerate() {
            let Some(plugin) = registry.get(&sync.plugin) else {
                continue;
            };
            let validator = match validators.entry(plugin.name()) {
                std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
                std::collections::hash_map::Entry::Vacant(entry) => {
                    match PluginConfigValidator::new(plugin.name(), plugin.config_schema_json()) {
                        Ok(validator) => entry.insert(validator),
                        Err(message) => {
                            errors.push(self.diagnostic_at(&["sync", &index.to_string(), "plugin"], message));
                            continue;
                        }
                    }
                }
            };
            match validator.validate(self, index) {
                Ok(value) => configs.push(value),
                Err(mut found) => errors.append(&mut found.errors),
            }
        }
        if errors.is_empty() {
            Ok(configs)
        } else {
            Err(ConfigErrors { errors })
        }
    }
}

/// Validates the `[sync.config]` table of sync `sync_index` against a plugin's JSON schema and
/// returns it as JSON. Every error is reported, located at its key in the file (or at the
/// `[sync.config]` table). Values of secret fields (`writeOnly: true`) are never shown.
pub fn validate_plugin_config(
    loaded: &LoadedConfig,
    sync_index: usize,
    schema_json: &str,
) -> Result<serde_json::Value, ConfigErrors> {
    let plugin = loaded
        .config
        .syncs
        .get(sync_index)
        .map(|sync| sync.plugin.clone())
        .unwrap_or_default();
    let validator = PluginConfigValidator::new(&plugin, schema_json)
        .map_err(|message| loaded.diagnostic_at(&["sync", &sync_index.to_string(), "plugin"], message))?;
    validator.validate(loaded, sync_index)
}

/// A plugin's config schema, compiled once.
pub struct PluginConfigValidator {
    schema: serde_json::Value,
    validator: jsonschema::Validator,
}

impl fmt::Debug for PluginConfigValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginConfigValidator").finish_non_exhaustive()
    }
}

impl PluginConfigValidator {
    /// Compiles `schema_json`. Remote `$ref`s are never fetched (the `jsonschema` crate is built
    /// without HTTP and file retrieval).
    pub fn new(plugin: &str, schema_json: &str) -> Result<Self, String> {
        let schema: serde_json::Value = serde_json::from_str(schema_json)
            .map_err(|error| format!("plugin {plugin:?} ships a config schema that is not JSON: {error}"))?;
        let validator = jsonschema::options()
            .build(&schema)
            .map_err(|error| format!("plugin {plugin:?} ships an invalid config schema: {error}"))?;
        Ok(PluginConfigValidator { schema, validator })
    }

    /// See [`validate_plugin_config`].
    pub fn validate(&self, loaded: &LoadedConfig, sync_index: usize) -> Result<serde_json::Value, ConfigErrors> {
        let locator = loaded.locator();
        let index_text = sync_index.to_string();
        let Some(sync) = loaded.config.syncs.get(sync_index) else {
            return Err(Diagnostic {
                file: loaded.path.clone(),
                position: None,
                context: None,
                key_path: None,
                message: format!("there is no sync number {}", sync_index + 1),
            }
            .into());
        };
        let instance = toml_table_to_json(&sync.config);
        let secrets = collect_secrets(&self.schema, &self.schema, &instance);
        let mut errors = Vec::new();
        for error in self.validator.iter_errors(&instance) {
            let mut segments: Vec<String> = error.instance_path().iter().map(|s| s.to_string()).collect();
            let secret = path_is_secret(&self.schema, &segments);
            let mut point_at_key = false;
            let message = match error.kind() {
                jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected }
                | jsonschema::error::ValidationErrorKind::UnevaluatedProperties { unexpected }
                    if unexpected.len() == 1 =>
                {
                    segments.push(unexpected[0].clone());
                    point_at_key = true;
                    "unknown key".to_owned()
                }
                jsonschema::error::ValidationErrorKind::Required { property } => {
                    let name = property
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| property.to_string());
                    format!("missing required key {name:?}")
                }
                _ if secret => error.masked_with("the value (not shown: secret)").to_string(),
                jsonschema::error::ValidationErrorKind::Enum { options } => {
                    let options = match options.as_array() {
                        Some(items) => items.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", "),
                        None => options.to_string(),
                    };
                    format!("{} is not one of {options}", error.instance())
                }
                jsonschema::error::ValidationErrorKind::OneOfNotValid { .. }
                | jsonschema::error::ValidationErrorKind::AnyOf { .. } => {
                    match allowed_values(&self.schema, &segments) {
                        Some(values) => format!(
                            "{} is not one of {}",
                            error.instance(),
                            values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")
                        ),
                        None => error.to_string(),
                    }
                }
                _ => error.to_string(),
            };
            let message = redact(message, &secrets);
            let mut path: Vec<&str> = vec!["sync", &index_text, "config"];
            path.extend(segments.iter().map(String::as_str));
            let diagnostic = if point_at_key {
                locator.at_key(&path, message)
            } else {
                locator.at_value(&path, message)
            };
            errors.push(diagnostic);
        }
        // In file order, so the user can fix them top to bottom.
        errors.sort_by_key(|error| error.position.map(|p| (p.line, p.column)));
        if errors.is_empty() {
            Ok(instance)
        } else {
            Err(ConfigErrors { errors })
        }
    }
}

/// TOML to JSON; datetimes become strings in their TOML form.
pub fn toml_table_to_json(table: &toml::Table) -> serde_json::Value {
    serde_json::Value::Object(
        table
            .iter()
            .map(|(key, value)| (key.clone(), toml_to_json(value)))
            .collect(),
    )
}

fn toml_to_json(value: &toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        toml::Value::String(text) => J::String(text.clone()),
        toml::Value::Integer(number) => J::from(*number),
        toml::Value::Float(number) => serde_json::Number::from_f64(*number).map_or(J::Null, J::Number),
        toml::Value::Boolean(flag) => J::Bool(*flag),
        toml::Value::Datetime(datetime) => J::String(datetime.to_string()),
        toml::Value::Array(items) => J::Array(items.iter().map(toml_to_json).collect()),
        toml::Value::Table(table) => toml_table_to_json(table),
    }
}

/// Key names treated as secret even when a schema does not say `writeOnly`.
fn looks_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", "token", "api_key", "apikey"]
        .iter()
        .any(|word| key.contains(word))
        && !key.ends_with("_env")
}

/// Follows a local `$ref` (`#/$defs/X`, `#/definitions/X`).
fn resolve_ref<'a>(root: &'a serde_json::Value, schema: &'a serde_json::Value) -> &'a serde_json::Value {
    let mut current = schema;
    for _ in 0..16 {
        let Some(reference) = current.get("$ref").and_then(|r| r.as_str()) else {
            return current;
        };
        let Some(pointer) = reference.strip_prefix('#') else {
            return current;
        };
        match root.pointer(pointer) {
            Some(target) => current = target,
            None => return current,
        }
    }
    current
}

fn is_write_only(root: &serde_json::Value, schema: &serde_json::Value) -> bool {
    if schema.get("writeOnly").and_then(|v| v.as_bool()) == Some(true) {
        return true;
    }
    let resolved = resolve_ref(root, schema);
    if resolved.get("writeOnly").and_then(|v| v.as_bool()) == Some(true) {
        return true;
    }
    ["anyOf", "oneOf", "allOf"].iter().any(|keyword| {
        resolved
            .get(keyword)
            .and_then(|v| v.as_array())
            .is_some_and(|items| items.iter().any(|item| is_write_only(root, item)))
    })
}

/// The subschema for property `key` of objects described by `schema`.
fn property_schema<'a>(
    root: &'a serde_json::Value,
    schema: &'a serde_json::Value,
    key: &str,
) -> Option<&'a serde_json::Value> {
    let schema = resolve_ref(root, schema);
    if let Some(found) = schema.get("properties").and_then(|p| p.get(key)) {
        return Some(found);
    }
    if let Some(found) = schema.get("additionalProperties").filter(|v| v.is_object()) {
        return Some(found);
    }
    for keyword in ["anyOf", "oneOf", "allOf"] {
        if let Some(items) = schema.get(keyword).and_then(|v| v.as_array()) {
            for item in items {
                if let Some(found) = property_schema(root, item, key) {
                    return Some(found);
                }
            }
        }
    }
    None
}

fn item_schema<'a>(root: &'a serde_json::Value, schema: &'a serde_json::Value) -> Option<&'a serde_json::Value> {
    let schema = resolve_ref(root, schema);
    schema.get("items").filter(|v| v.is_object())
}

/// The subschema describing the value at `path` (instance path segments), if it can be found.
fn schema_at<'a>(root: &'a serde_json::Value, path: &[String]) -> Option<&'a serde_json::Value> {
    let mut schema = root;
    for segment in path {
        schema = match segment.parse::<usize>().ok().and_then(|_| item_schema(root, schema)) {
            Some(items) => items,
            None => property_schema(root, schema, segment)?,
        };
    }
    Some(resolve_ref(root, schema))
}

/// For a value that must be one of a fixed set (an `enum`, or a `oneOf`/`anyOf` of `const`s, as
/// schemars writes documented enums), that set.
fn allowed_values(root: &serde_json::Value, path: &[String]) -> Option<Vec<serde_json::Value>> {
    let schema = schema_at(root, path)?;
    if let Some(values) = schema.get("enum").and_then(|v| v.as_array()) {
        return Some(values.clone());
    }
    let branches = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(|v| v.as_array())?;
    let mut values = Vec::new();
    for branch in branches {
        let branch = resolve_ref(root, branch);
        if let Some(value) = branch.get("const") {
            values.push(value.clone());
        } else if let Some(more) = branch.get("enum").and_then(|v| v.as_array()) {
            values.extend(more.iter().cloned());
        } else {
            return None;
        }
    }
    (!values.is_empty()).then_some(values)
}

/// Whether the value at `path` (instance path segments) is a secret.
fn path_is_secret(root: &serde_json::Value, path: &[String]) -> bool {
    let mut schema = Some(root);
    for segment in path {
        if looks_secret(segment) {
            return true;
        }
        schema = schema.and_then(|current| {
            if segment.parse::<usize>().is_ok()
                && let Some(items) = item_schema(root, current)
            {
                return Some(items);
            }
            property_schema(root, current, segment)
        });
        if let Some(current) = schema
            && is_write_only(root, current)
        {
            return true;
        }
    }
    false
}

/// Every string value in `instance` that sits under a secret key, to scrub from messages.
fn collect_secrets(root: &serde_json::Value, schema: &serde_json::Value, instance: &serde_json::Value) -> Vec<String> {
    let mut found = Vec::new();
    collect_secrets_into(root, Some(schema), instance, false, &mut found);
    found.retain(|secret| secret.len() >= 3);
    found
}

fn collect_secrets_into(
    root: &serde_json::Value,
    schema: Option<&serde_json::Value>,
    instance: &serde_json::Value,
    secret: bool,
    found: &mut Vec<String>,
) {
    match instance {
        serde_json::Value::String(text) if secret => found.push(text.clone()),
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                let child = schema.and_then(|s| property_schema(root, s, key));
                let child_secret = secret || looks_secret(key) || child.is_some_and(|c| is_write_only(root, c));
                collect_secrets_into(root, child, value, child_secret, found);
            }
        }
        serde_json::Value::Array(items) => {
            let child = schema.and_then(|s| item_schema(root, s));
            for item in items {
                collect_secrets_into(root, child, item, secret, found);
            }
        }
        _ => {}
    }
}

fn redact(mut message: String, secrets: &[String]) -> String {
    for secret in secrets {
        if message.contains(secret.as_str()) {
            message = message.replace(secret.as_str(), "<redacted>");
        }
    }
    message
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub fn position_of(text: &str, offset: usize) -> Position {
    let offset = offset.min(text.len());
    let mut boundary = offset;
    while !text.is_char_boundary(boundary) {
        boundary -= 1;
    }
    let before = &text[..boundary];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    Position { line, column }
}

/// Finds places in the parsed document.
struct Locator<'a> {
    file: &'a Path,
    text: &'a str,
    document: &'a toml_edit::Document<String>,
}

/// One step while walking a TOML document.
enum Node<'a> {
    Item(&'a toml_edit::Item),
    Value(&'a toml_edit::Value),
    Table(&'a toml_edit::Table),
}

impl<'a> Node<'a> {
    fn span(&self) -> Option<Range<usize>> {
        match self {
            Node::Item(item) => item.span(),
            Node::Value(value) => value.span(),
            Node::Table(table) => table.span(),
        }
    }

    /// The child at `segment`, and the span of its key when it has one.
    fn child(&self, segment: &str) -> Option<(Node<'a>, Option<Range<usize>>)> {
        match self {
            Node::Item(item) => match item {
                toml_edit::Item::Table(table) => Node::Table(table).child(segment),
                toml_edit::Item::Value(value) => Node::Value(value).child(segment),
                toml_edit::Item::ArrayOfTables(array) => {
                    let index: usize = segment.parse().ok()?;
                    array.get(index).map(|table| (Node::Table(table), table.span()))
                }
                toml_edit::Item::None => None,
            },
            Node::Table(table) => table
                .get_key_value(segment)
                .map(|(key, item)| (Node::Item(item), key.span())),
            Node::Value(toml_edit::Value::InlineTable(table)) => table
                .get_key_value(segment)
                .map(|(key, item)| (Node::Item(item), key.span())),
            Node::Value(toml_edit::Value::Array(array)) => {
                let index: usize = segment.parse().ok()?;
                array.get(index).map(|value| (Node::Value(value), None))
            }
            Node::Value(_) => None,
        }
    }
}

impl Locator<'_> {
    /// Walks `path`; returns the spans of the deepest node reached (key span, node span) and how
    /// many segments were found.
    fn walk(&self, path: &[&str]) -> (Option<Range<usize>>, Option<Range<usize>>, usize) {
        let mut node = Node::Table(self.document.as_table());
        let mut key_span = None;
        let mut node_span = None;
        let mut found = 0;
        for segment in path {
            match node.child(segment) {
                Some((child, key)) => {
                    node_span = child.span().or(key.clone()).or(node_span);
                    key_span = key.or(child.span()).or(key_span);
                    node = child;
                    found += 1;
                }
                None => break,
            }
        }
        (key_span, node_span, found)
    }

    fn value_span(&self, path: &[&str]) -> Option<Range<usize>> {
        let (_, span, found) = self.walk(path);
        (found == path.len()).then_some(span).flatten()
    }

    fn diagnostic(&self, span: Option<Range<usize>>, path: &[&str], message: String) -> Diagnostic {
        let (context, key_path) = self.describe(path);
        Diagnostic {
            file: self.file.to_owned(),
            position: span.map(|span| position_of(self.text, span.start)),
            context,
            key_path,
            message,
        }
    }

    /// Located at the value at `path`, or the deepest table on the way.
    fn at_value(&self, path: &[&str], message: String) -> Diagnostic {
        let (_, span, _) = self.walk(path);
        self.diagnostic(span, path, message)
    }

    /// Located at the key of `path` (its value when it has no key).
    fn at_key(&self, path: &[&str], message: String) -> Diagnostic {
        let (key, span, found) = self.walk(path);
        let span = if found == path.len() { key.or(span) } else { span };
        self.diagnostic(span, path, message)
    }

    /// Context (`sync "name"`) and dotted key path for a document path.
    fn describe(&self, path: &[&str]) -> (Option<String>, Option<String>) {
        let (context, rest) = match path {
            ["sync", index, rest @ ..] if index.parse::<usize>().is_ok() => {
                let name = self
                    .document
                    .get("sync")
                    .and_then(|item| item.as_array_of_tables())
                    .and_then(|array| array.get(index.parse().unwrap_or(usize::MAX)))
                    .and_then(|table| table.get("name"))
                    .and_then(|item| item.as_str());
                let context = match name {
                    Some(name) => format!("sync {name:?}"),
                    None => format!("sync #{}", index.parse::<usize>().unwrap_or(0) + 1),
                };
                (Some(context), rest)
            }
            _ => (None, path),
        };
        let mut text = String::new();
        for segment in rest {
            if segment.parse::<usize>().is_ok() && !text.is_empty() {
                text.push_str(&format!("[{segment}]"));
            } else {
                if !text.is_empty() {
                    text.push('.');
                }
                text.push_str(&key_text(segment));
            }
        }
        (context, (!text.is_empty()).then_some(text))
    }

    /// The document path of the deepest key or value containing `offset`.
    fn path_at(&self, offset: usize) -> Vec<String> {
        let mut path = Vec::new();
        find_path(&Node::Table(self.document.as_table()), offset, &mut path);
        path
    }

    /// A diagnostic for a serde error span.
    fn at_span(&self, span: Option<Range<usize>>, message: String) -> Diagnostic {
        let Some(span) = span else {
            return Diagnostic {
                file: self.file.to_owned(),
                position: None,
                context: None,
                key_path: None,
                message,
            };
        };
        let path = self.path_at(span.start);
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        self.diagnostic(Some(span), &path, message)
    }

    fn is_secret_span(&self, span: &Range<usize>) -> bool {
        let path = self.path_at(span.start);
        path.iter().any(|segment| looks_secret(segment))
    }
}

fn contains(span: &Option<Range<usize>>, offset: usize) -> bool {
    span.as_ref()
        .is_some_and(|span| span.start <= offset && offset < span.end.max(span.start + 1))
}

fn find_path(node: &Node<'_>, offset: usize, path: &mut Vec<String>) -> bool {
    let entries: Vec<(String, Node<'_>, Option<Range<usize>>)> = match node {
        Node::Table(table) => table
            .iter()
            .filter_map(|(key, _)| {
                table
                    .get_key_value(key)
                    .map(|(k, item)| (key.to_owned(), Node::Item(item), k.span()))
            })
            .collect(),
        Node::Item(toml_edit::Item::Table(table)) => return find_path(&Node::Table(table), offset, path),
        Node::Item(toml_edit::Item::Value(value)) => return find_path(&Node::Value(value), offset, path),
        Node::Item(toml_edit::Item::ArrayOfTables(array)) => array
            .iter()
            .enumerate()
            .map(|(index, table)| (index.to_string(), Node::Table(table), table.span()))
            .collect(),
        Node::Item(toml_edit::Item::None) => Vec::new(),
        Node::Value(toml_edit::Value::InlineTable(table)) => table
            .iter()
            .filter_map(|(key, _)| {
                table
                    .get_key_value(key)
                    .map(|(k, item)| (key.to_owned(), Node::Item(item), k.span()))
            })
            .collect(),
        Node::Value(toml_edit::Value::Array(array)) => array
            .iter()
            .enumerate()
            .map(|(index, value)| (index.to_string(), Node::Value(value), None))
            .collect(),
        Node::Value(_) => Vec::new(),
    };
    for (key, child, key_span) in entries {
        path.push(key);
        // Descend first: a table's children live outside its header's span.
        if find_path(&child, offset, path) {
            return true;
        }
        if contains(&key_span, offset) || contains(&child.span(), offset) {
            return true;
        }
        path.pop();
    }
    false
}

/// A key as written in TOML: bare when it can be, quoted otherwise.
fn key_text(key: &str) -> String {
    if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
}
