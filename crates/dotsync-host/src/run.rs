//! Runs the syncs of a config file against one account: resolves where the account lives,
//! validates every plugin config, and drives the syncs one after another through one shared
//! [`Executor`] (so rate limits and slots are shared).

use std::collections::HashMap;
use std::time::Duration;

use dotsync_executor::{Credentials, Executor, ExecutorConfig, RateQuota, Region};

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

/// Runs the syncs of `loaded` (all, or `options.only_sync`) in order, sharing one executor.
/// A sync whose plugin panics or breaks its contract is reported (its rows failed) and the next
/// one runs; config, authentication, source and IO errors stop the run.
pub async fn run_config(
    loaded: &LoadedConfig,
    registry: &PluginRegistry,
    connection: ResolvedConnection,
    options: RunOptions,
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
    let mut syncs = Vec::with_capacity(specs.len());
    for spec in &specs {
        tracing::info!(sync = %spec.name, plugin = spec.plugin.name(), mode = ?options.mode, "sync {} starts", spec.name);
        let report = run_sync(spec, &executor, options.clone(), progress).await?;
        syncs.push(report);
    }
    Ok(RunReport {
        syncs,
        started_at,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}
