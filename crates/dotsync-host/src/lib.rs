//! The dotsync host, as a library: everything between a config file and a finished run report.
//!
//! * [`config`]: the TOML config file (its types double as its JSON schema), loaded with errors
//!   located `file:line:column: key.path: message`, and validation of each sync's plugin config
//!   against the plugin's JSON schema (every error reported, secrets never echoed).
//! * [`registry`]: the plugin registry, static plugins compiled in and plugin libraries loaded
//!   from folders, checked for ABI compatibility.
//! * [`source`]: a sync's [`Source`], a file (`dotsync-source-files`) or a PostgreSQL query or
//!   table (`dotsync-source-postgres`), opened with the plugin's columns as projection.
//! * [`driver`]: runs one sync end to end: source → projection and casts → diff against the
//!   state → planner → executor → responses → per-row outcomes → state, with bounded memory and
//!   bounded concurrency, and `plan` / `check` dry runs. For a plugin that asks for it, a
//!   large file's key columns are read once before the rows (the key pre-pass,
//!   `key_pre_pass.rs`), so that the plugin need not remember every key to refuse repeats. Opening and reading a source, and the
//!   PostgreSQL write-back, run in `spawn_blocking`, never on the async runtime.
//! * [`incremental`]: the driver's use of the state store (`dotsync-state`): row hashes, what
//!   is new, changed, unchanged or departed, commit rules, and the journal of sends that must
//!   not repeat.
//! * [`outcomes`] and [`report`]: exactly one outcome per row, counted into [`SyncReport`] and
//!   [`RunReport`]; rejected, failed and uncertain rows go to a rejects file (CSV with the source
//!   row as JSON). For a PostgreSQL source with `write_back`, every outcome is spooled to an
//!   unnamed temporary file as it comes and written back to that table after the sync
//!   ([`SyncReport::written_back`]).
//! * [`progress`]: a [`ProgressSink`] trait the CLI plugs a progress bar into.
//! * [`run`]: [`run_config`] runs a config's syncs against one account through one shared
//!   executor, recording the run in the state's history; [`resolve_connection`] finds the
//!   account's API host; [`open_state`] takes the state folder's lock.
//! * [`history`]: the run history of a state folder, for `dotsync status` (read without the
//!   lock, so it works while a run is going).
//! * [`doubt`]: the sends in doubt of a state folder, listed and settled by hand for
//!   `dotsync resolve`.
//!
//! What it does **not** do: no HTTP details (retries, rate limits, timeouts, TLS: that is
//! `dotsync-executor`); no file formats or SQL (`dotsync-source-files`,
//! `dotsync-source-postgres`); no Dotdigital semantics (the
//! plugins); no terminal UI, argument parsing or exit codes (the CLI, which maps
//! [`RunErrorKind`] to its exit status). It never prints a secret.

pub mod config;
pub mod doubt;
pub mod driver;
mod error;
pub mod history;
pub mod incremental;
mod key_pre_pass;
pub mod outcomes;
pub mod progress;
pub mod registry;
pub mod report;
pub mod run;
pub mod source;

pub use config::{
    Config, ConfigError, ConfigErrors, ConfigSecret, ConnectionConfig, Diagnostic, LoadedConfig, SourceConfig,
    SyncConfig, config_schema_json, validate_plugin_config,
};
/// The state store, as [`open_state`] and [`open_state_copy`] hand it out.
pub use dotsync_state::StateStore;
pub use doubt::{SendInDoubt, resolve_send, sends_in_doubt};
pub use driver::{RunOptions, SyncSpec, run_sync};
pub use error::{CastError, RunError, RunErrorKind};
pub use history::{RunSummary, SyncCounts, run_history};
pub use progress::{NoProgress, ProgressSink};
pub use registry::{PluginInfo, PluginRegistry, RegistryError};
pub use report::{RunReport, SampleRequest, SyncReport, run_report_schema_json};
pub use run::{
    ResolvedConnection, executor_config, open_state, open_state_copy, resolve_connection, run_config, sync_specs,
};
pub use source::{Source, SourceError};

/// Re-exported so embedders need not depend on the SDK for the run mode.
pub use dotsync_plugin_sdk::RunMode;
