//! `dotsync`: run, check and plan syncs from a config file; list plugins; run the emulator.
//!
//! Exit codes: 0 when every row was delivered or skipped, 1 when some rows were rejected or
//! failed, 2 for usage, config, authentication and other run-stopping errors.

mod output;
mod progress;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use dotsync_cli::builtin_plugin_descriptors;
use dotsync_emulator::{AccountSeed, Emulator, EmulatorConfig, EmulatorHandle, StandaloneOptions};
use dotsync_host::config::Endpoint;
use dotsync_host::{
    Config, LoadedConfig, PluginRegistry, RunError, RunMode, RunOptions, StateStore, open_state, open_state_copy,
    resolve_connection, resolve_send, run_config, run_history, sends_in_doubt,
};

/// Exit status for usage, config, authentication and run-stopping errors.
const EXIT_ERROR: u8 = 2;
/// Exit status when some rows were rejected or failed.
const EXIT_BAD_ROWS: u8 = 1;

#[derive(Debug, Parser)]
#[command(name = "dotsync", version, about = "Keep Dotdigital in step with your tables.")]
struct Cli {
    /// More logs (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the syncs of a config file.
    Run(RunArgs),
    /// Check a config: the file, the plugins' configs, the credentials, and that the fields,
    /// lists and programs it names exist. Writes nothing.
    Check(RunArgs),
    /// Dry run: read the source, plan the requests, send only reads; prints counts and sample
    /// request bodies. Plans what `run` would send now: rows the state holds back (unchanged
    /// since the last run) are not planned; `--full` plans every row. Writes nothing.
    Plan(RunArgs),
    /// Recent runs of a config, from its state folder: start, duration, counts per outcome, API
    /// calls. Works while a run is going.
    Status(StatusArgs),
    /// Sends in doubt (a run stopped, or an answer was lost, after a message or enrolment went
    /// out): list them, or settle them once you have checked the destination. No run sends
    /// them again until then.
    Resolve(ResolveArgs),
    /// List plugins or show a plugin's config schema.
    #[command(subcommand)]
    Plugins(PluginsCommand),
    /// Run the Dotdigital emulator standalone, for any HTTP client.
    Emulator(EmulatorArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The config file (TOML).
    config: PathBuf,
    /// Run only the sync with this name.
    #[arg(long)]
    sync: Option<String>,
    /// Print the run report as JSON on standard output.
    #[arg(long)]
    json: bool,
    /// Send every row, changed or not (a run invalidates and rebuilds the state's record of
    /// what was delivered; a plan plans every row and leaves the state as it is).
    #[arg(long)]
    full: bool,
    #[command(flatten)]
    plugins: PluginDirs,
}

#[derive(Debug, Args)]
struct StatusArgs {
    /// The config file (TOML).
    config: PathBuf,
    /// How many runs to show, newest first.
    #[arg(long, default_value_t = 10)]
    limit: usize,
    /// Print as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ResolveArgs {
    /// The config file (TOML).
    config: PathBuf,
    /// The sync whose sends to list or settle (default when listing: every sync).
    #[arg(long)]
    sync: Option<String>,
    /// Settle this send as sent: it is recorded as sent and never sent again (repeatable).
    #[arg(long, value_name = "KEY")]
    sent: Vec<String>,
    /// Settle this send as not sent: the next run sends it (repeatable).
    #[arg(long = "not-sent", value_name = "KEY")]
    not_sent: Vec<String>,
    /// Print the sends in doubt as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct PluginDirs {
    /// Also load plugin libraries from this folder (repeatable).
    #[arg(long = "plugin-dir", value_name = "DIR")]
    plugin_dirs: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum PluginsCommand {
    /// Name, version, ABI version and origin (static or the library file) of every plugin.
    List {
        #[command(flatten)]
        plugins: PluginDirs,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a plugin's config JSON schema.
    Schema {
        /// The plugin's name.
        name: String,
        #[command(flatten)]
        plugins: PluginDirs,
    },
}

#[derive(Debug, Args)]
struct EmulatorArgs {
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// API user name of the demo account.
    #[arg(long)]
    username: Option<String>,
    /// Password of the demo account.
    #[arg(long)]
    password: Option<String>,
    /// Region of the demo account (r1, r2, r3).
    #[arg(long)]
    region: Option<dotsync_emulator::Region>,
    /// JSON seed file (accounts, data fields, lists, programs, collections, contacts) used
    /// instead of the demo account.
    #[arg(long)]
    seed: Option<PathBuf>,
    /// State file: loaded at start when it exists, saved on Ctrl-C.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Serve without rate limits.
    #[arg(long)]
    no_limits: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Run(args) => run(args, RunMode::Run).await,
            Command::Check(args) => run(args, RunMode::Check).await,
            Command::Plan(args) => run(args, RunMode::Plan).await,
            Command::Status(args) => status(args),
            Command::Resolve(args) => resolve(args),
            Command::Plugins(command) => plugins(command),
            Command::Emulator(args) => emulator(args).await,
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

fn registry(loaded: Option<&LoadedConfig>, extra_dirs: &[PathBuf]) -> Result<PluginRegistry, String> {
    let mut dirs = loaded.map(LoadedConfig::plugin_dirs).unwrap_or_default();
    dirs.extend(extra_dirs.iter().cloned());
    PluginRegistry::from_env_and_dirs(&builtin_plugin_descriptors(), &dirs).map_err(|error| error.to_string())
}

/// Starts the in-process emulator for `endpoint = "emulator"`: the demo account, under the
/// config's credentials when it gives them, with its state kept in the state folder so that a
/// second run meets the contacts of the first.
async fn start_emulator(loaded: &LoadedConfig) -> Result<EmulatorHandle, String> {
    let connection = &loaded.config.connection;
    let mut account = AccountSeed::demo();
    account.username = connection.username.clone();
    if let Some(password) = connection.password() {
        account.password = password.expose().to_owned();
    }
    let state_file = loaded.state_dir().join("emulator-state.json");
    let config = EmulatorConfig {
        accounts: vec![account],
        ..EmulatorConfig::empty()
    }
    .with_state_file(state_file);
    Emulator::start(config)
        .await
        .map_err(|error| format!("cannot start the in-process emulator: {error}"))
}

/// Whether the last recorded run never finished (killed, crashed). The in-process emulator saves
/// its data only when a run ends cleanly, so after such a run the state may record deliveries the
/// emulator lost: the next run against it resends every row.
fn last_run_was_cut_short(loaded: &LoadedConfig) -> bool {
    let cut_short = run_history(&loaded.state_dir(), 1)
        .ok()
        .and_then(|runs| runs.into_iter().next())
        .is_some_and(|run| run.finished_at.is_none());
    if cut_short {
        tracing::warn!(
            "the last run stopped before its end and the in-process emulator saves its data only at the end: every row is sent again"
        );
    }
    cut_short
}

async fn run(args: RunArgs, mode: RunMode) -> Result<u8, String> {
    let loaded = Config::load(&args.config).map_err(|error| error.to_string())?;
    let registry = registry(Some(&loaded), &args.plugins.plugin_dirs)?;
    if args.full && mode == RunMode::Check {
        return Err("--full only applies to `dotsync run` and `dotsync plan`".to_owned());
    }
    // The state's lock is taken before the in-process emulator starts: its data lives in the
    // state folder too, and two processes must not both load and save it.
    let in_process_emulator = matches!(loaded.config.connection.endpoint_kind(), Endpoint::Emulator);
    let mut state = if mode == RunMode::Run || in_process_emulator {
        Some(open_state(&loaded).map_err(|error| error.to_string())?)
    } else {
        None
    };
    // A plan decides on a copy of the state, so that it holds back what a run would.
    let mut plan_state = match mode {
        RunMode::Plan => plan_state(&loaded)?,
        _ => None,
    };
    let full = args.full || (in_process_emulator && mode == RunMode::Run && last_run_was_cut_short(&loaded));
    let emulator = match loaded.config.connection.endpoint_kind() {
        Endpoint::Emulator => Some(start_emulator(&loaded).await?),
        _ => None,
    };
    let mut connection = resolve_connection(
        &loaded.config.connection,
        emulator.as_ref().map(EmulatorHandle::base_url),
    )
    .await
    .map_err(|error| error.to_string())?;
    if emulator.is_some() && connection.credentials.password.expose().is_empty() {
        connection.credentials.password = dotsync_executor::Secret::new(dotsync_emulator::DEMO_PASSWORD);
    }
    let progress = progress::Bars::new(!args.json);
    let options = RunOptions {
        mode,
        only_sync: args.sync.clone(),
        full,
        ..RunOptions::default()
    };
    let decide_on = match mode {
        RunMode::Plan => plan_state.as_mut().map(|(copy, _)| copy),
        _ => state.as_mut(),
    };
    let outcome = run_config(&loaded, &registry, connection, options, decide_on, &progress).await;
    progress.clear();
    if let Some(emulator) = emulator {
        emulator
            .shutdown()
            .await
            .map_err(|error| format!("cannot save the in-process emulator's state: {error}"))?;
    }
    let report = outcome.map_err(|error| located(&loaded, error))?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|error| error.to_string())?
        );
    } else {
        print!("{}", output::summary(&report, mode));
    }
    Ok(if report.is_clean() { 0 } else { EXIT_BAD_ROWS })
}

/// The copy of the state a plan decides on, in a temporary folder inside the state folder (the
/// same disk), removed when the plan ends (the store first: it is closed before its folder
/// goes); `None` before the first run.
fn plan_state(loaded: &LoadedConfig) -> Result<Option<(StateStore, tempfile::TempDir)>, String> {
    let state_dir = loaded.state_dir();
    if !state_dir.is_dir() {
        return Ok(None);
    }
    remove_abandoned_plan_copies(&state_dir);
    let folder = tempfile::Builder::new()
        .prefix(PLAN_COPY_PREFIX)
        .tempdir_in(&state_dir)
        .map_err(|error| {
            format!(
                "cannot create a folder for the plan's copy of the state in {}: {error}",
                state_dir.display()
            )
        })?;
    let copy = open_state_copy(loaded, folder.path()).map_err(|error| error.to_string())?;
    Ok(copy.map(|store| (store, folder)))
}

/// The name of every plan's copy of the state starts with this.
const PLAN_COPY_PREFIX: &str = "plan-";

/// Removes the copies of the state that plans killed before their end left in `state_dir`: a
/// plan holds its copy's lock from before the copy is made until it is removed.
fn remove_abandoned_plan_copies(state_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(state_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !entry.file_name().to_string_lossy().starts_with(PLAN_COPY_PREFIX)
            || !path.is_dir()
            || !StateStore::lock_is_free(&path)
        {
            continue;
        }
        match std::fs::remove_dir_all(&path) {
            Ok(()) => tracing::info!(
                "removed {}, a copy of the state an interrupted plan left",
                path.display()
            ),
            Err(error) => tracing::warn!("cannot remove {}, left by an interrupted plan: {error}", path.display()),
        }
    }
}

fn status(args: StatusArgs) -> Result<u8, String> {
    // Only the state folder is needed: credentials are not read (their variables may be unset,
    // so every variable reads as a placeholder that nothing uses).
    let no_secrets = |_: &str| Some("unused-by-status".to_owned());
    let loaded = Config::load_with_env(&args.config, &no_secrets).map_err(|error| error.to_string())?;
    let runs = run_history(&loaded.state_dir(), args.limit).map_err(|error| error.to_string())?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&runs).map_err(|error| error.to_string())?
        );
    } else {
        print!("{}", output::run_history(&runs, &loaded.state_dir()));
    }
    Ok(0)
}

/// A run error as the user reads it: a source error also names the place of the sync's
/// `source` in the config file (its own message names the file, row or query at fault).
fn located(loaded: &LoadedConfig, error: RunError) -> String {
    if let RunError::Source { sync, source } = &error
        && let Some(index) = loaded.config.syncs.iter().position(|each| &each.name == sync)
    {
        return loaded
            .diagnostic_at(&["sync", &index.to_string(), "source"], source.to_string())
            .to_string();
    }
    error.to_string()
}

fn resolve(args: ResolveArgs) -> Result<u8, String> {
    let no_secrets = |_: &str| Some("unused-by-resolve".to_owned());
    let loaded = Config::load_with_env(&args.config, &no_secrets).map_err(|error| error.to_string())?;
    let names: Vec<&str> = loaded.config.syncs.iter().map(|sync| sync.name.as_str()).collect();
    if let Some(sync) = &args.sync
        && !names.contains(&sync.as_str())
    {
        return Err(format!(
            "no sync is named {sync:?}; the config has: {}",
            names.join(", ")
        ));
    }
    let mut store = open_state(&loaded).map_err(|error| error.to_string())?;
    let settle: Vec<(&str, bool)> = args
        .sent
        .iter()
        .map(|key| (key.as_str(), true))
        .chain(args.not_sent.iter().map(|key| (key.as_str(), false)))
        .collect();
    if settle.is_empty() {
        let syncs = match &args.sync {
            Some(sync) => vec![sync.as_str()],
            None => names,
        };
        let sends = sends_in_doubt(&mut store, &syncs).map_err(|error| error.to_string())?;
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&sends).map_err(|error| error.to_string())?
            );
        } else {
            print!("{}", output::sends_in_doubt(&sends));
        }
        return Ok(0);
    }
    let Some(sync) = &args.sync else {
        return Err("say which sync the sends belong to with --sync NAME".into());
    };
    for (key, sent) in settle {
        resolve_send(&mut store, sync, key, sent).map_err(|error| error.to_string())?;
        let verdict = if sent {
            "recorded as sent; it is never sent again"
        } else {
            "recorded as not sent; the next run sends it"
        };
        println!("{sync}: `{key}` {verdict}");
    }
    Ok(0)
}

fn plugins(command: PluginsCommand) -> Result<u8, String> {
    match command {
        PluginsCommand::List { plugins, json } => {
            let registry = registry(None, &plugins.plugin_dirs)?;
            let list = registry.list();
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list).map_err(|error| error.to_string())?
                );
            } else {
                print!("{}", output::plugin_table(&list));
            }
        }
        PluginsCommand::Schema { name, plugins } => {
            let registry = registry(None, &plugins.plugin_dirs)?;
            let plugin = registry.get(&name).ok_or_else(|| {
                format!(
                    "no plugin named `{name}`; known plugins: {}",
                    registry.names().join(", ")
                )
            })?;
            println!("{}", plugin.config_schema_json());
        }
    }
    Ok(0)
}

async fn emulator(args: EmulatorArgs) -> Result<u8, String> {
    let options = StandaloneOptions {
        port: args.port,
        username: args.username,
        password: args.password,
        region: args.region,
        seed: args.seed,
        state: args.state,
        limits: !args.no_limits,
    };
    dotsync_emulator::run_standalone(options)
        .await
        .map_err(|error| error.to_string())?;
    Ok(0)
}
