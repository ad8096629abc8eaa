//! Runs the syncs of a config file against one account: resolves where the account lives,
//! validates every plugin config, and drives the syncs one after another through one shared
//! [`Executor`] (so rate limits and slots are shared), recording the run in the state store.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use dotsync_executor::{Credentials, Executor, ExecutorConfig, RateQuota, Region};
use dotsync_plugin_sdk::RunMode;
use dotsync_state::StateStore;

use crate::config::{ConnectionConfig, Endpoint, LoadedConfig, RegionName};
use crate::driver::{RunOptions, SyncSpec, run_sync};
use crate::error::RunError;
use crate::progress::ProgressSink;
use crate::registry::PluginRegistry;
use crate::report::RunReport;

/// Timeout of the account-info call that detects the region.
pub const DETECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the account's API lives and as whom to call it.
#[derive(Debug, Clone)]
pub struct ResolvedConnection {
    /// Base URL without a trailing slash, e.g. `https://r2-api.dotdigital.com`.
    pub base_url: String,
    pub credentials: Credentials,
}

/// Resolves the connection: `endpoint = "emulator"` → `emulator_base_url` (the CLI starts the
/// emulator and passes its URL); `endpoint = URL` → that URL; `region` → its base URL; none of
/// these → asks account-info on r1 for the account's `ApiEndpoint`.
///
/// With `endpoint = "emulator"` and no password in the config, the password is empty: the CLI
/// sets the emulator's in the returned credentials.
pub async fn resolve_connection(
    connection: &ConnectionConfig,
    emulator_base_url: Option<String>,
) -> Result<ResolvedConnection, RunError> {
    let password = connection.password().map(|p| p.expose().to_owned()).unwrap_or_default();
    let credentials = Credentials::new(connection.username.clone(), password);
    let base_url = match connection.endpoint_kind() {
        Endpoint::Emulator => emulator_base_url.ok_or_else(|| {
            RunError::Connection(dotsync_executor::ExecutorError::Config(
                "`connection.endpoint = \"emulator\"` needs the in-process emulator, which only the dotsync CLI starts; \
                 give the URL of a standalone emulator instead"
                    .into(),
            ))
        })?,
        Endpoint::Url(url) => url,
        Endpoint::Real => match connection.region {
            Some(region) => dotsync_executor::region_base_url(region_of(region)).to_owned(),
            None => {
                let timeout = connection
                    .attempt_timeout_secs
                    .map_or(DETECT_TIMEOUT, Duration::from_secs);
                let r1 = dotsync_executor::region_base_url(Region::R1);
                tracing::info!("detecting the account's region through account-info on {r1}");
                dotsync_executor::detect_api_endpoint(r1, &credentials, timeout).await?
            }
        },
    };
    Ok(ResolvedConnection {
        base_url: base_url.trim_end_matches('/').to_owned(),
        credentials,
    })
}

fn region_of(region: RegionName) -> Region {
    match region {
        RegionName::R1 => Region::R1,
        RegionName::R2 => Region::R2,
        RegionName::R3 => Region::R3,
    }
}

/// The executor settings for a connection: the config's knobs over the executor's defaults.
pub fn executor_config(connection: &ConnectionConfig, resolved: &ResolvedConnection) -> ExecutorConfig {
    let defaults = ExecutorConfig::default();
    ExecutorConfig {
        base_url: resolved.base_url.clone(),
        credentials: resolved.credentials.clone(),
        attempt_timeout: connection
            .attempt_timeout_secs
            .map_or(defaults.attempt_timeout, Duration::from_secs),
        max_attempts: connection.max_attempts.unwrap_or(defaults.max_attempts),
        rate_limits: connection
            .rate_limits
            .iter()
            .map(|(class, limit)| {
                (
                    class.clone(),
                    RateQuota {
                        calls: limit.calls,
                        per: Duration::from_secs(limit.per_secs),
                    },
                )
            })
            .collect::<HashMap<_, _>>(),
        ..defaults
    }
}

/// Validates every sync of `loaded` against `registry` and makes their [`SyncSpec`]s (all, or
/// only `only_sync`).
pub fn sync_specs(
    loaded: &LoadedConfig,
    registry: &PluginRegistry,
    only_sync: Option<&str>,
) -> Result<Vec<SyncSpec>, RunError> {
    if let Some(name) = only_sync
        && !loaded.config.syncs.iter().any(|sync| sync.name == name)
    {
        return Err(RunError::UnknownSync {
            name: name.to_owned(),
            available: loaded.config.syncs.iter().map(|sync| sync.name.clone()).collect(),
        });
    }
    let configs = loaded.validate(registry)?;
    let mut specs = Vec::new();
    for (sync, config) in loaded.config.syncs.iter().zip(configs) {
        if only_sync.is_some_and(|name| name != sync.name) {
            continue;
        }
        let Some(plugin) = registry.get(&sync.plugin) else {
            continue;
        };
        specs.push(SyncSpec {
            name: sync.name.clone(),
            plugin: plugin.clone(),
            config,
            source: sync.source.clone(),
            base_dir: loaded.base_dir.clone(),
            batch_size: sync.batch_size,
            api_user: loaded.config.connection.username.clone(),
        });
    }
    Ok(specs)
}

/// Opens the state folder of `loaded` ([`LoadedConfig::state_dir`]) and takes its lock. A
/// second run on the same state gets [`RunError::State`] naming the lock and the run holding it.
pub fn open_state(loaded: &LoadedConfig) -> Result<StateStore, RunError> {
    StateStore::open(&loaded.state_dir()).map_err(|source| RunError::State {
        sync: None,
        source: Box::new(source),
    })
}

/// A throw-away copy of the state of `loaded` in the folder `into`, for a plan to decide on
/// as a run would ([`StateStore::open_copy`]); `None` before the first run.
pub fn open_state_copy(loaded: &LoadedConfig, into: &Path) -> Result<Option<StateStore>, RunError> {
    StateStore::open_copy(&loaded.state_dir(), into).map_err(|source| RunError::State {
        sync: None,
        source: Box::new(source),
    })
}

/// Runs the syncs of `loaded` (all, or `options.only_sync`) in order, sharing one executor.
/// A sync whose plugin panics or breaks its contract is reported (its rows failed) and the next
/// one runs; config, authentication, source and IO errors stop the run.
///
/// With a `state` (from [`open_state`]) a run is incremental and is recorded in the state's run
/// history, with its report (or the error that stopped it). A plan given a state (a throw-away
/// copy: [`dotsync_state::StateStore::open_copy`]) decides what to send the same way, so it
/// plans what a run would send; a check never reads the state.
pub async fn run_config(
    loaded: &LoadedConfig,
    registry: &PluginRegistry,
    connection: ResolvedConnection,
    options: RunOptions,
    mut state: Option<&mut StateStore>,
    progress: &dyn ProgressSink,
) -> Result<RunReport, RunError> {
    let started_at = chrono::Utc::now();
    let started = tokio::time::Instant::now();
    let specs = sync_specs(loaded, registry, options.only_sync.as_deref())?;
    let executor = Executor::new(executor_config(&loaded.config.connection, &connection))?;
    let mut options = options;
    if options.rejects_dir.is_none() {
        options.rejects_dir = Some(loaded.rejects_dir());
    }
    let run = match state.as_deref_mut() {
        Some(store) if options.mode != RunMode::Check => {
            let names: Vec<&str> = specs.iter().map(|spec| spec.name.as_str()).collect();
            Some(store.begin_run(&names).map_err(|source| RunError::State {
                sync: None,
                source: Box::new(source),
            })?)
        }
        _ => None,
    };
    if options.run_id.is_none() {
        options.run_id = run.map(|run| run.0.to_string());
    }
    let mut syncs = Vec::with_capacity(specs.len());
    for spec in &specs {
        tracing::info!(sync = %spec.name, plugin = spec.plugin.name(), mode = ?options.mode, "sync {} starts", spec.name);
        match run_sync(spec, &executor, options.clone(), state.as_deref_mut(), progress).await {
            Ok(report) => syncs.push(report),
            Err(error) => {
                if let (Some(store), Some(run)) = (state.as_deref_mut(), run) {
                    let record = serde_json::json!({ "error": error.to_string(), "syncs": syncs });
                    if let Err(state_error) = store.finish_run(run, &record.to_string()) {
                        tracing::error!("cannot record the end of the run: {state_error}");
                    }
                }
                return Err(error);
            }
        }
    }
    let report = RunReport {
        syncs,
        started_at,
        duration_ms: started.elapsed().as_millis() as u64,
    };
    if let (Some(store), Some(run)) = (state, run) {
        // A report is plain data: serialising it cannot fail.
        let json = serde_json::to_string(&report).unwrap_or_else(|_| "{}".to_owned());
        store.finish_run(run, &json).map_err(|source| RunError::State {
            sync: None,
            source: Box::new(source),
        })?;
    }
    Ok(report)
}
