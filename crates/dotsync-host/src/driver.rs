//! The sync driver: runs one sync end to end. It opens the source with the plugin's input
//! contract as projection, casts columns, diffs each batch against the state store (see
//! [`crate::incremental`]: only new and changed rows go on), pushes batches while the planner
//! wants them, then the keys that left the source when the plugin asks for them, sends the
//! planner's requests through the executor (bounded concurrency, `not_before` respected;
//! non-idempotent writes journaled first), feeds responses and failures back, holds slot permits
//! until released, arms the planner's timer, collects one outcome per row and records settled
//! rows in the state store as they come. The source is opened and read in `spawn_blocking`. With
//! a PostgreSQL `write_back` (run mode), every outcome is spooled as it comes and the spool is
//! written back to that table when the sync ends; a failed write-back is an error of the sync.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch};
use arrow_cast::cast::{CastOptions, can_cast_types, cast_with_options};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use dotsync_executor::{Executor, SendFailure, Sent, SlotPermit};
use dotsync_plugin_sdk::{
    BatchKind, DynPlanner, ErrorKind, Failure, FailureKind, ForeignPlanner, Header, LoadedPlugin, Millis,
    OutcomeStatus, PlannerError, PluginContext, Poll, RequestId, RequestSpec, ResponseView, RunMode,
};
use dotsync_state::{KeyedRow, StateError, StateStore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::config::SourceConfig;
use crate::error::{CastError, RunError};
use crate::incremental::{BatchPlan, Incremental, SendDecision, key_columns};
use crate::key_pre_pass;
use crate::outcomes::{
    CAST_FAILED_CODE, NO_OUTCOME_CODE, OutcomeSpool, OutcomeTracker, PLUGIN_FAILED_CODE, PushedKeys,
};
use crate::progress::ProgressSink;
use crate::report::{SyncReport, sample_request};
use crate::source::{Source, SourceBatch, SourceError};

/// Writes shown as samples in plan and check modes.
pub const MAX_SAMPLES: usize = 3;
/// Requests in flight at once, per sync, unless [`RunOptions::max_in_flight`] says otherwise.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 8;

/// Everything the driver needs to run one sync.
#[derive(Debug, Clone)]
pub struct SyncSpec {
    /// The sync's name in the config.
    pub name: String,
    /// The plugin that runs it.
    pub plugin: LoadedPlugin,
    /// The plugin's config, validated against its schema.
    pub config: serde_json::Value,
    /// The source: a file, or a PostgreSQL query or table.
    pub source: SourceConfig,
    /// Folder a source file's path is relative to (the config file's folder).
    pub base_dir: PathBuf,
    /// Rows per batch handed to the plugin.
    pub batch_size: usize,
    /// The API user the sync writes as (named in authentication errors).
    pub api_user: String,
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// `Run` sends everything; `Plan` sends reads only and records writes; `Check` pushes no rows.
    pub mode: RunMode,
    /// Run only the sync with this name.
    pub only_sync: Option<String>,
    /// Where rejects files go. Default: `<state_dir or config dir>/rejects` (for [`run_sync`]
    /// called directly: `<base_dir>/rejects`).
    pub rejects_dir: Option<PathBuf>,
    /// Requests in flight at once, per sync (at least 1).
    pub max_in_flight: usize,
    /// Send every row, changed or not (`--full`): the state's stored hashes are invalidated.
    pub full: bool,
    /// Names the run in outcome write-back rows ([`run_config`](crate::run_config) sets the
    /// run history's id). Default: the time the sync started, as in the rejects file's name.
    pub run_id: Option<String>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            mode: RunMode::Run,
            only_sync: None,
            rejects_dir: None,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            full: false,
            run_id: None,
        }
    }
}

/// Why the loop stops early.
pub(crate) enum Stop {
    /// The run cannot go on (config, auth, source).
    Run(RunError),
    /// This sync cannot go on (plugin panicked, broke its contract, fatal error); its rows
    /// without an outcome fail with this message and other syncs go on.
    Contained(String),
}

/// Names for messages.
#[derive(Clone)]
pub(crate) struct Names {
    pub(crate) sync: String,
    pub(crate) plugin: String,
    user: String,
}

pub(crate) fn planner_stop(names: &Names, error: PlannerError) -> Stop {
    match error {
        PlannerError::Plugin(error) => match error.kind {
            ErrorKind::Config => Stop::Run(RunError::PluginConfig {
                sync: names.sync.clone(),
                plugin: names.plugin.clone(),
                message: error.message,
            }),
            ErrorKind::Auth => Stop::Run(RunError::Auth {
                sync: Some(names.sync.clone()),
                message: error.message,
            }),
            ErrorKind::Fatal => Stop::Contained(format!("plugin `{}` failed: {}", names.plugin, error.message)),
        },
        other @ (PlannerError::Panicked { .. } | PlannerError::Contract { .. }) => Stop::Contained(other.to_string()),
    }
}

/// The state store failed: the run cannot go on.
fn state_stop(names: &Names, source: StateError) -> Stop {
    Stop::Run(RunError::State {
        sync: Some(names.sync.clone()),
        source: Box::new(source),
    })
}

/// The host failed preparing rows for the plugin: the run cannot go on.
pub(crate) fn host_stop(names: &Names, message: String) -> Stop {
    Stop::Run(RunError::Plugin {
        sync: names.sync.clone(),
        plugin: names.plugin.clone(),
        message,
    })
}

fn rejects_stop(source: std::io::Error) -> Stop {
    Stop::Run(RunError::Io {
        path: PathBuf::from("rejects"),
        message: "cannot write the rejects file".into(),
        source,
    })
}

/// What a source read hands back: the source (to read on) and the next batch, if any.
type ReadResult = (Source, Option<Result<SourceBatch, SourceError>>);

/// What a send task hands back.
type SendResult = (RequestSpec, Result<Sent, SendFailure>);

/// Runs one sync end to end. See the module docs.
///
/// With a `state` (in [`RunMode::Run`], or in [`RunMode::Plan`] on a copy of the state, see
/// [`dotsync_state::StateStore::open_copy`]), the sync is incremental when its plugin declares
/// key columns: unchanged rows are skipped and settled rows recorded. Without one, every row is
/// sent (or planned) and nothing is recorded.
///
/// Returns the sync's report, also when the plugin panicked or broke its contract (then
/// [`SyncReport::error`] says so and its unsettled rows are failed). Returns an error when the
/// run cannot go on: config or authentication refused, the source unreadable, a column missing
/// or impossible to cast, the rejects file unwritable, the state store failing.
pub async fn run_sync(
    spec: &SyncSpec,
    executor: &Executor,
    options: RunOptions,
    state: Option<&mut StateStore>,
    progress: &dyn ProgressSink,
) -> Result<SyncReport, RunError> {
    let started = Instant::now();
    let stats_before = executor.stats();
    let names = Names {
        sync: spec.name.clone(),
        plugin: spec.plugin.name().to_owned(),
        user: spec.api_user.clone(),
    };
    let config_json = serde_json::to_string(&spec.config).map_err(|error| RunError::PluginConfig {
        sync: names.sync.clone(),
        plugin: names.plugin.clone(),
        message: format!("config cannot be serialised: {error}"),
    })?;
    let context = PluginContext {
        sync_name: spec.name.clone(),
        mode: options.mode,
    };
    let mut report = SyncReport {
        name: spec.name.clone(),
        plugin: names.plugin.clone(),
        ..SyncReport::default()
    };
    // The sync stops before any row reached the plugin: its report says why.
    let stopped_early = |stop: Stop, mut report: SyncReport, announced: bool| match stop {
        Stop::Run(error) => Err(error),
        Stop::Contained(message) => {
            if !announced {
                progress.sync_started(&spec.name, Some(0));
            }
            report.error = Some(message);
            report.duration_ms = started.elapsed().as_millis() as u64;
            progress.sync_finished(&report);
            Ok(report)
        }
    };
    let planner = match spec.plugin.create(&config_json, &context) {
        Ok(planner) => planner,
        Err(error) => return stopped_early(planner_stop(&names, error), report, false),
    };
    let contract = match planner.input_contract() {
        Ok(contract) => contract,
        Err(error) => return stopped_early(planner_stop(&names, error), report, false),
    };

    // Open the source with the contract's columns, and plan the casts.
    let projection: Vec<String> = contract.fields().iter().map(|f| f.name().clone()).collect();
    let source = open_source(spec, projection).await?;
    let casts = plan_casts(&names, &source, &contract)?;
    let incremental = match state {
        Some(store) if options.mode != RunMode::Check => {
            open_incremental(store, spec, &contract, &mapped_schema(&source, &casts), options.full)?
        }
        _ => None,
    };
    report.drift = incremental.as_ref().and_then(|i| i.drift().map(str::to_owned));
    report.unresolved_sends = incremental.as_ref().map_or(0, Incremental::unresolved_sends);
    let total_rows = match options.mode {
        RunMode::Check => Some(0),
        _ => source.total_rows(),
    };

    let rejects_dir = options
        .rejects_dir
        .clone()
        .unwrap_or_else(|| spec.base_dir.join("rejects"));
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let rejects_path = rejects_dir.join(format!("{}-{stamp}.csv", spec.name));
    let mut tracker = OutcomeTracker::new(rejects_path);
    if options.mode == RunMode::Run && write_back_table(spec).is_some() {
        let spool = OutcomeSpool::new_in(&rejects_dir).map_err(|source| RunError::Io {
            path: rejects_dir.clone(),
            message: "cannot create the outcome spool of the write-back".into(),
            source,
        })?;
        tracker.spool_outcomes(spool);
    }

    progress.sync_started(&spec.name, total_rows);
    let rereadable_rows = key_pre_pass::rereadable_rows(&source);
    let planner = match key_pre_pass::run(
        &names,
        spec,
        options.mode,
        &contract,
        rereadable_rows,
        planner,
        &rejects_dir,
    )
    .await
    {
        Ok(planner) => planner,
        Err(stop) => return stopped_early(stop, report, true),
    };
    let check = options.mode == RunMode::Check;
    let mut driver = Driver {
        names,
        mode: options.mode,
        max_in_flight: options.max_in_flight.max(1),
        executor,
        progress,
        planner,
        tracker,
        casts,
        incremental,
        batch_size: spec.batch_size.max(1),
        run_tag: stamp.to_string(),
        start: started,
        source: if check { None } else { Some(source) },
        eof: check,
        reading: None,
        ready: None,
        rows_read: 0,
        departed: 0,
        held_back: 0,
        pushed_any: false,
        input_refused: false,
        finished: false,
        planner_done: false,
        source_error: None,
        in_flight: JoinSet::new(),
        in_flight_ids: HashMap::new(),
        delayed: BTreeMap::new(),
        delayed_seq: 0,
        permits: HashMap::new(),
        planned_requests: 0,
        samples: Vec::new(),
        handled_timeout: None,
    };
    let outcome = driver.run().await;
    driver.in_flight.abort_all();
    // Requests still in flight are abandoned: their journal entries stay in doubt.
    if !driver.permits.is_empty() {
        tracing::debug!(
            sync = %driver.names.sync,
            "{} slot(s) the plugin never released are freed at the end of the sync",
            driver.permits.len()
        );
        driver.permits.clear();
    }
    match outcome {
        Ok(()) => {}
        Err(Stop::Run(error)) => return Err(error),
        Err(Stop::Contained(message)) => {
            tracing::error!(sync = %driver.names.sync, "{message}; rows without an outcome are failed");
            let settled = driver
                .tracker
                .settle_rest(OutcomeStatus::Failed, PLUGIN_FAILED_CODE, &message);
            progress.rows_done(&spec.name, settled);
            report.error = Some(message);
        }
    }
    if driver.tracker.unsettled() > 0 {
        let message = format!(
            "plugin `{}` finished without an outcome for this row (a plugin bug)",
            driver.names.plugin
        );
        tracing::error!(
            sync = %driver.names.sync,
            "plugin `{}` finished without an outcome for {} row(s); they are reported failed",
            driver.names.plugin,
            driver.tracker.unsettled()
        );
        let settled = driver
            .tracker
            .settle_rest(OutcomeStatus::Failed, NO_OUTCOME_CODE, &message);
        progress.rows_done(&spec.name, settled);
    }
    driver.commit_settled().map_err(|stop| match stop {
        Stop::Run(error) => error,
        Stop::Contained(message) => RunError::Plugin {
            sync: spec.name.clone(),
            plugin: spec.plugin.name().to_owned(),
            message,
        },
    })?;
    driver.tracker.finish_into(&mut report).map_err(|source| RunError::Io {
        path: rejects_dir.clone(),
        message: "cannot write the rejects file".into(),
        source,
    })?;
    // The outcomes recorded before a source error are written back too: they happened.
    let written_back = match driver.tracker.take_spool() {
        Some(spool) => {
            let run_id = options.run_id.clone().unwrap_or_else(|| driver.run_tag.clone());
            write_back(spec, spool, run_id, &rejects_dir).await
        }
        None => Ok(0),
    };
    if let Some(error) = driver.source_error.take() {
        if let Err(write_back_error) = &written_back {
            tracing::error!(sync = %spec.name, "{write_back_error}");
        }
        return Err(RunError::Source {
            sync: spec.name.clone(),
            source: error,
        });
    }
    report.written_back = written_back?;
    let stats_after = executor.stats();
    report.rows_read = driver.rows_read;
    report.departed = driver.departed;
    report.held_back = driver.held_back;
    report.api_calls = stats_after.api_calls.saturating_sub(stats_before.api_calls);
    report.retries = stats_after.retries.saturating_sub(stats_before.retries);
    report.planned_requests = driver.planned_requests;
    report.sample_requests = std::mem::take(&mut driver.samples);
    report.duration_ms = started.elapsed().as_millis() as u64;
    progress.sync_finished(&report);
    Ok(report)
}

/// Opens the sync's source off the async runtime (opening reads files or connects to
/// PostgreSQL, both blocking), fetching only the `projection` columns.
pub(crate) async fn open_source(spec: &SyncSpec, projection: Vec<String>) -> Result<Source, RunError> {
    let config = spec.source.clone();
    let base_dir = spec.base_dir.clone();
    let batch_size = spec.batch_size.max(1);
    let opened = tokio::task::spawn_blocking(move || Source::open(&config, &base_dir, projection, batch_size)).await;
    match opened {
        Ok(opened) => opened.map_err(|source| RunError::Source {
            sync: spec.name.clone(),
            source,
        }),
        Err(error) => Err(RunError::Plugin {
            sync: spec.name.clone(),
            plugin: spec.plugin.name().to_owned(),
            message: format!("opening the source crashed: {error}"),
        }),
    }
}

/// The table outcomes are written back to: PostgreSQL sources with `write_back` only.
fn write_back_table(spec: &SyncSpec) -> Option<&str> {
    match &spec.source {
        SourceConfig::Postgres { postgres } => postgres.write_back.as_deref(),
        SourceConfig::File(_) | SourceConfig::Events { .. } => None,
    }
}

/// Streams the spooled outcomes into the source's write-back table (off the async runtime: the
/// PostgreSQL client blocks). Returns how many rows were written.
async fn write_back(
    spec: &SyncSpec,
    spool: OutcomeSpool,
    run_id: String,
    spool_dir: &std::path::Path,
) -> Result<u64, RunError> {
    let (SourceConfig::Postgres { postgres }, Some(table)) = (&spec.source, write_back_table(spec)) else {
        return Ok(0);
    };
    let (config, table, sync) = (postgres.clone(), table.to_owned(), spec.name.clone());
    let spool_dir = spool_dir.to_owned();
    let written = tokio::task::spawn_blocking(move || {
        let records = spool.into_records(run_id).map_err(|source| RunError::Io {
            path: spool_dir,
            message: "cannot read back the outcome spool of the write-back".into(),
            source,
        })?;
        dotsync_source_postgres::try_write_back(&config, &table, &sync, records).map_err(|error| RunError::Source {
            sync,
            source: SourceError::Postgres(error),
        })
    })
    .await;
    written.unwrap_or_else(|error| {
        Err(RunError::Plugin {
            sync: spec.name.clone(),
            plugin: spec.plugin.name().to_owned(),
            message: format!("the outcome write-back crashed: {error}"),
        })
    })
}

/// The schema of the batches the plugin gets: the projected source columns, cast as planned.
fn mapped_schema(source: &Source, casts: &[Option<DataType>]) -> SchemaRef {
    let schema = source.schema();
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .zip(casts)
        .map(|(field, cast)| match cast {
            Some(to) => field.as_ref().clone().with_data_type(to.clone()).with_nullable(true),
            None => field.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// The sync's incremental state, when its plugin declares key columns.
fn open_incremental<'s>(
    store: &'s mut StateStore,
    spec: &SyncSpec,
    contract: &SchemaRef,
    mapped: &SchemaRef,
    full: bool,
) -> Result<Option<Incremental<'s>>, RunError> {
    let keys = key_columns(contract);
    if keys.is_empty() {
        tracing::info!(
            sync = %spec.name,
            "plugin `{}` declares no key columns: every row is sent on every run",
            spec.plugin.name()
        );
        return Ok(None);
    }
    let fingerprint = crate::incremental::fingerprint(
        spec.plugin.name(),
        spec.plugin.config_schema_json(),
        &spec.config,
        mapped,
    );
    Incremental::open(
        store,
        &spec.name,
        &fingerprint,
        contract,
        mapped,
        full,
        spec.source.is_delta(),
    )
    .map(Some)
    .map_err(|source| RunError::State {
        sync: Some(spec.name.clone()),
        source: Box::new(source),
    })
}

/// For each contract column: the type to cast to, or `None` to pass it as it is.
pub(crate) fn plan_casts(
    names: &Names,
    source: &Source,
    contract: &SchemaRef,
) -> Result<Vec<Option<DataType>>, RunError> {
    let schema = source.schema();
    let mut casts = Vec::with_capacity(contract.fields().len());
    for (index, wanted) in contract.fields().iter().enumerate() {
        let Some(found) = schema.fields().get(index) else {
            return Err(RunError::Source {
                sync: names.sync.clone(),
                source: SourceError::MissingColumns {
                    source_label: source.label(),
                    missing: vec![wanted.name().clone()],
                    available: schema.fields().iter().map(|f| f.name().clone()).collect(),
                },
            });
        };
        let to = wanted.data_type();
        if *to == DataType::Null || found.data_type() == to {
            casts.push(None);
        } else if can_cast_types(found.data_type(), to) {
            casts.push(Some(to.clone()));
        } else {
            return Err(RunError::Cast(Box::new(CastError {
                sync: names.sync.clone(),
                plugin: names.plugin.clone(),
                source_label: source.label(),
                column: wanted.name().clone(),
                from: found.data_type().clone(),
                to: to.clone(),
            })));
        }
    }
    Ok(casts)
}

/// A source batch made ready for the plugin.
pub(crate) struct Prepared {
    pub(crate) pushed: RecordBatch,
    /// Pushed row -> source row, when some rows were held back.
    row_map: Option<Vec<u32>>,
    /// Rows held back (by the source, or because a value cannot be cast): (source row, status,
    /// code, message), in row order.
    held: Vec<(u32, OutcomeStatus, String, String)>,
}

/// Casts columns and holds back the rows that must not reach the plugin: those the source held
/// back already, and those whose non-null value cannot be cast (rejected by the host rather than
/// silently nulled).
pub(crate) fn prepare(batch: SourceBatch, casts: &[Option<DataType>]) -> Result<Prepared, String> {
    let SourceBatch { rows: batch, held } = batch;
    if held.is_empty() && casts.iter().all(Option::is_none) {
        return Ok(Prepared {
            pushed: batch,
            row_map: None,
            held,
        });
    }
    let row_count = batch.num_rows();
    let mut failures: Vec<Option<(OutcomeStatus, String, String)>> = vec![None; row_count];
    for (row, status, code, message) in held {
        if let Some(failure) = failures.get_mut(row as usize) {
            *failure = Some((status, code, message));
        }
    }
    let cast_batch = if casts.iter().all(Option::is_none) {
        batch
    } else {
        cast_columns(&batch, casts, &mut failures)?
    };
    if failures.iter().all(Option::is_none) {
        return Ok(Prepared {
            pushed: cast_batch,
            row_map: None,
            held: Vec::new(),
        });
    }
    let keep: BooleanArray = failures.iter().map(|f| Some(f.is_none())).collect();
    let pushed = arrow_select::filter::filter_record_batch(&cast_batch, &keep)
        .map_err(|error| format!("cannot filter rows: {error}"))?;
    let row_map = (0..row_count as u32)
        .filter(|row| failures[*row as usize].is_none())
        .collect();
    let held = failures
        .into_iter()
        .enumerate()
        .filter_map(|(row, failure)| failure.map(|(status, code, message)| (row as u32, status, code, message)))
        .collect();
    Ok(Prepared {
        pushed,
        row_map: Some(row_map),
        held,
    })
}

/// `batch` with `casts` applied; a row whose non-null value becomes null gets a failure (unless
/// it has one already).
fn cast_columns(
    batch: &RecordBatch,
    casts: &[Option<DataType>],
    failures: &mut [Option<(OutcomeStatus, String, String)>],
) -> Result<RecordBatch, String> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    let mut fields: Vec<Field> = Vec::with_capacity(batch.num_columns());
    let options = CastOptions {
        safe: true,
        format_options: FormatOptions::default(),
    };
    let schema = batch.schema();
    for (index, cast) in casts.iter().enumerate() {
        let column = batch.column(index);
        let field = schema.field(index);
        match cast {
            None => {
                columns.push(column.clone());
                fields.push(field.clone());
            }
            Some(to) => {
                let converted = cast_with_options(column, to, &options)
                    .map_err(|error| format!("column {:?}: cannot cast to {to}: {error}", field.name()))?;
                if converted.null_count() > column.null_count() {
                    let formatter = ArrayFormatter::try_new(column.as_ref(), &FormatOptions::default()).ok();
                    for (row, failure) in failures.iter_mut().enumerate() {
                        if failure.is_none() && column.is_valid(row) && converted.is_null(row) {
                            let value = formatter
                                .as_ref()
                                .and_then(|f| f.value(row).try_to_string().ok())
                                .unwrap_or_default();
                            *failure = Some((
                                OutcomeStatus::Rejected,
                                CAST_FAILED_CODE.to_owned(),
                                format!(
                                    "column {:?}: value {value:?} cannot be converted from {} to {to}",
                                    field.name(),
                                    column.data_type()
                                ),
                            ));
                        }
                    }
                }
                fields.push(field.clone().with_data_type(to.clone()).with_nullable(true));
                columns.push(converted);
            }
        }
    }
    RecordBatch::try_new(
        Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())),
        columns,
    )
    .map_err(|error| format!("cast batch is invalid: {error}"))
}

/// A source batch prepared and diffed, waiting for the plugin.
struct PlannedInput {
    /// The source batch's first row (0-based) in the source.
    first_row: u64,
    /// The batch as read.
    source: RecordBatch,
    /// The rows to send (cast), possibly none.
    pushed: RecordBatch,
    /// Pushed row -> source row, when some rows were held back or settled.
    row_map: Option<Vec<u32>>,
    keys: Option<PushedKeys>,
}

/// Input read but not yet pushed (the planner did not want it yet).
enum Input {
    /// A source batch prepared and diffed: only its rows to send wait for the plugin.
    Rows(PlannedInput),
    /// Keys that left the source, with their stored keys.
    Departed(RecordBatch, Vec<KeyedRow>),
}

/// Rows `rows` of `batch`, in that order.
fn take_rows(batch: &RecordBatch, rows: &[u32]) -> Result<RecordBatch, String> {
    let indices = arrow_array::UInt32Array::from(rows.to_vec());
    arrow_select::take::take_record_batch(batch, &indices).map_err(|error| format!("cannot select rows: {error}"))
}

/// What woke the loop.
enum Event {
    Sent(Result<(tokio::task::Id, SendResult), tokio::task::JoinError>),
    Read(Result<ReadResult, tokio::task::JoinError>),
    Delayed,
    Timeout,
}

struct Driver<'a> {
    names: Names,
    mode: RunMode,
    max_in_flight: usize,
    executor: &'a Executor,
    progress: &'a dyn ProgressSink,
    planner: ForeignPlanner,
    tracker: OutcomeTracker,
    casts: Vec<Option<DataType>>,
    /// The sync's state, when it is incremental.
    incremental: Option<Incremental<'a>>,
    /// Rows per batch (also per page of departed keys).
    batch_size: usize,
    /// Names this run in journal entries of requests whose rows are unknown.
    run_tag: String,
    start: Instant,
    /// The source while no read is under way; `None` while reading or after the end.
    source: Option<Source>,
    eof: bool,
    reading: Option<tokio::task::JoinHandle<ReadResult>>,
    /// Input read but not yet pushed (the planner did not want it yet).
    ready: Option<Input>,
    rows_read: u64,
    /// Departed keys pushed as deletes.
    departed: u64,
    /// Rows the incremental state kept from the plugin ([`SyncReport::held_back`]).
    held_back: u64,
    /// Whether any row or key reached the plugin.
    pushed_any: bool,
    /// Whether the plugin turned down input at some point.
    input_refused: bool,
    finished: bool,
    planner_done: bool,
    source_error: Option<SourceError>,
    in_flight: JoinSet<SendResult>,
    in_flight_ids: HashMap<tokio::task::Id, RequestId>,
    delayed: BTreeMap<(Millis, u64), RequestSpec>,
    delayed_seq: u64,
    permits: HashMap<RequestId, SlotPermit>,
    planned_requests: u64,
    samples: Vec<crate::report::SampleRequest>,
    /// The plugin timer the loop last woke the plugin for, until another event: a plugin that
    /// still asks for it is waiting for a free request slot, not for time.
    handled_timeout: Option<Millis>,
}

impl Driver<'_> {
    fn now(&self) -> Millis {
        self.start.elapsed().as_millis() as Millis
    }

    fn deadline(&self, at: Millis) -> Instant {
        self.start + Duration::from_millis(at)
    }

    async fn run(&mut self) -> Result<(), Stop> {
        loop {
            self.pump()?;
            if self.planner_done && self.in_flight.is_empty() && self.delayed.is_empty() {
                return Ok(());
            }
            let timer = self.planner.poll_timeout().map_err(|e| planner_stop(&self.names, e))?;
            // Waking the plugin again for a timer it was woken for, and still asks for, would
            // spin: with every request slot taken, its due request waits for a response.
            let rearmed = timer.is_some() && timer == self.handled_timeout;
            let timeout = timer.filter(|_| !rearmed).map(|at| self.deadline(at));
            let delayed = self.delayed.keys().next().map(|(at, _)| self.deadline(*at));
            if self.in_flight.is_empty() && self.reading.is_none() && delayed.is_none() && timeout.is_none() {
                if self.planner_done {
                    return Ok(());
                }
                if rearmed {
                    return Err(Stop::Contained(format!(
                        "plugin `{}` broke the plugin contract: it answers Pending with no request in flight and \
                         asks again for a timer at {} ms that has passed",
                        self.names.plugin,
                        timer.unwrap_or_default()
                    )));
                }
                return Err(Stop::Contained(format!(
                    "plugin `{}` broke the plugin contract: it answers Pending with no request in flight, no timer set{}",
                    self.names.plugin,
                    if self.ready.is_some() {
                        " and no room for more input"
                    } else {
                        ""
                    }
                )));
            }
            let far = self.start + Duration::from_secs(86_400 * 365);
            let sending = !self.in_flight.is_empty();
            let reading = self.reading.is_some();
            let in_flight = &mut self.in_flight;
            let reader = &mut self.reading;
            let event = tokio::select! {
                biased;
                Some(joined) = in_flight.join_next_with_id(), if sending => Event::Sent(joined),
                read = async {
                    match reader.as_mut() {
                        Some(handle) => handle.await,
                        None => std::future::pending().await,
                    }
                }, if reading => Event::Read(read),
                () = tokio::time::sleep_until(delayed.unwrap_or(far)), if delayed.is_some() => Event::Delayed,
                () = tokio::time::sleep_until(timeout.unwrap_or(far)), if timeout.is_some() => Event::Timeout,
            };
            self.handled_timeout = match event {
                Event::Timeout => timer,
                _ => None,
            };
            match event {
                Event::Sent(joined) => self.on_sent(joined)?,
                Event::Read(read) => {
                    self.reading = None;
                    self.on_read(read)?;
                }
                Event::Delayed => {
                    let now = self.now();
                    while let Some(entry) = self.delayed.first_entry() {
                        if entry.key().0 > now {
                            break;
                        }
                        let spec = entry.remove();
                        self.spawn_send(spec);
                    }
                }
                Event::Timeout => {
                    let now = self.now();
                    self.planner
                        .handle_timeout(now)
                        .map_err(|e| planner_stop(&self.names, e))?;
                }
            }
            self.drain()?;
        }
    }

    /// Does everything that needs no waiting: push input, finish, plan requests, drain outcomes.
    fn pump(&mut self) -> Result<(), Stop> {
        loop {
            let mut progressed = false;
            if !self.finished && !self.planner_done {
                if self.ready.is_some() {
                    let wants = self
                        .planner
                        .can_accept_batch()
                        .map_err(|e| planner_stop(&self.names, e))?;
                    self.input_refused |= !wants;
                    if wants && let Some(input) = self.ready.take() {
                        match input {
                            Input::Rows(planned) => self.push(planned)?,
                            Input::Departed(batch, keys) => self.push_departed(batch, keys)?,
                        }
                        progressed = true;
                    }
                }
                if self.ready.is_none() && self.reading.is_none() {
                    match self.source.take() {
                        Some(mut source) if !self.eof => {
                            self.reading = Some(tokio::task::spawn_blocking(move || {
                                let next = source.next();
                                (source, next)
                            }));
                        }
                        _ => {
                            if let Some((batch, keys)) = self.next_departed()? {
                                self.ready = Some(Input::Departed(batch, keys));
                            } else if self.incremental.is_some() && !self.pushed_any {
                                // The diff settled every row: the plugin has nothing to do, not
                                // even its pre-flight reads. A re-run with no change makes no call.
                                self.finished = true;
                                self.planner_done = true;
                            } else {
                                self.planner.finish().map_err(|e| planner_stop(&self.names, e))?;
                                self.finished = true;
                            }
                            progressed = true;
                        }
                    }
                }
            }
            // An incremental sync asks the plugin for requests only once it has input (or wants
            // some before taking any): until then, every row may turn out unchanged.
            let may_poll = self.incremental.is_none() || self.pushed_any || self.finished || self.input_refused;
            while may_poll && !self.planner_done && self.in_flight.len() < self.max_in_flight {
                let now = self.now();
                match self
                    .planner
                    .poll_request(now)
                    .map_err(|e| planner_stop(&self.names, e))?
                {
                    Poll::Ready(spec) => {
                        self.dispatch(spec)?;
                        progressed = true;
                    }
                    Poll::Pending => break,
                    Poll::Done => {
                        self.planner_done = true;
                        progressed = true;
                    }
                }
            }
            self.drain()?;
            if !progressed {
                return Ok(());
            }
        }
    }

    /// Prepares a source batch for the plugin without involving it: casts, settles the rows
    /// held back, and (incremental) diffs against the state, settling what need not be sent.
    fn plan_input(&mut self, batch: SourceBatch) -> Result<PlannedInput, Stop> {
        let first_row = self.rows_read;
        self.rows_read += batch.rows.num_rows() as u64;
        // The source batch as read, for the rejects file and the outcome of every row.
        let source_rows = batch.rows.clone();
        let prepared = prepare(batch, &self.casts).map_err(|message| {
            Stop::Run(RunError::Plugin {
                sync: self.names.sync.clone(),
                plugin: self.names.plugin.clone(),
                message,
            })
        })?;
        if !prepared.held.is_empty() {
            self.tracker
                .host_outcomes(first_row, &source_rows, &prepared.held, None)
                .map_err(|source| {
                    Stop::Run(RunError::Io {
                        path: PathBuf::from("rejects"),
                        message: "cannot write the rejects file".into(),
                        source,
                    })
                })?;
            self.progress.rows_done(&self.names.sync, prepared.held.len() as u64);
        }
        let Prepared { pushed, row_map, held } = prepared;
        let (pushed, row_map, keys) = match self.incremental.as_mut() {
            None => (pushed, row_map, None),
            Some(incremental) => {
                if !held.is_empty()
                    && let Some(hasher) = incremental.key_hasher_for(&source_rows.schema())
                {
                    // Rows held back are still in the source: not departed.
                    let held: Vec<u32> = held.iter().map(|(row, ..)| *row).collect();
                    let keys = take_rows(&source_rows, &held)
                        .and_then(|rows| hasher.hash_rows(&rows).map_err(|e| e.to_string()))
                        .map_err(|message| host_stop(&self.names, message))?;
                    incremental
                        .mark_seen(&keys.into_iter().flatten().collect::<Vec<_>>())
                        .map_err(|e| state_stop(&self.names, e))?;
                }
                let plan = incremental
                    .plan_batch(&pushed)
                    .map_err(|e| state_stop(&self.names, e))?;
                self.settle_unsent(first_row, &source_rows, row_map.as_deref(), &plan)?;
                let to_source = |row: u32| row_map.as_ref().map_or(row, |map| map[row as usize]);
                let sent_map: Vec<u32> = plan.send.iter().map(|&row| to_source(row)).collect();
                let sent = if plan.send.len() == pushed.num_rows() {
                    pushed
                } else {
                    take_rows(&pushed, &plan.send).map_err(|message| host_stop(&self.names, message))?
                };
                let keys = PushedKeys {
                    kind: BatchKind::Upsert,
                    keys: plan.keys,
                };
                (sent, Some(sent_map), Some(keys))
            }
        };
        Ok(PlannedInput {
            first_row,
            source: source_rows,
            pushed,
            row_map,
            keys,
        })
    }

    /// Hands a planned batch to the tracker and, when it has rows to send, to the plugin.
    fn push(&mut self, planned: PlannedInput) -> Result<(), Stop> {
        let PlannedInput {
            first_row,
            source,
            pushed,
            row_map,
            keys,
        } = planned;
        let pushed_rows = pushed.num_rows();
        let id = self.tracker.pushed(Some(first_row), source, pushed_rows, row_map, keys);
        if pushed_rows > 0 {
            self.pushed_any = true;
            self.planner
                .push_batch(id, BatchKind::Upsert, pushed)
                .map_err(|e| planner_stop(&self.names, e))?;
        }
        Ok(())
    }

    /// Settles the rows of a batch that the diff keeps from the plugin (unchanged, rejected
    /// before, in doubt).
    fn settle_unsent(
        &mut self,
        first_row: u64,
        source: &RecordBatch,
        row_map: Option<&[u32]>,
        plan: &BatchPlan,
    ) -> Result<(), Stop> {
        if plan.settled.is_empty() {
            return Ok(());
        }
        let rows: Vec<_> = plan
            .settled
            .iter()
            .map(|(row, status, code, message)| {
                let source_row = row_map.map_or(*row, |map| map[*row as usize]);
                (source_row, *status, code.clone(), message.clone())
            })
            .collect();
        self.tracker
            .host_outcomes(first_row, source, &rows, Some(&plan.settled_keys))
            .map_err(rejects_stop)?;
        self.held_back += rows.len() as u64;
        self.progress.rows_done(&self.names.sync, rows.len() as u64);
        Ok(())
    }

    /// The next page of keys that left the source, for plugins that ask. Only once the whole
    /// source was read without error: after a partial read every unread key would look
    /// departed.
    fn next_departed(&mut self) -> Result<Option<(RecordBatch, Vec<KeyedRow>)>, Stop> {
        if self.source_error.is_some() {
            return Ok(None);
        }
        let batch_size = self.batch_size;
        match self.incremental.as_mut() {
            Some(incremental) => incremental
                .next_departed(batch_size)
                .map_err(|e| state_stop(&self.names, e)),
            None => Ok(None),
        }
    }

    fn push_departed(&mut self, batch: RecordBatch, keys: Vec<KeyedRow>) -> Result<(), Stop> {
        let rows = batch.num_rows();
        self.departed += rows as u64;
        let keys = PushedKeys {
            kind: BatchKind::Delete,
            keys: keys.into_iter().map(Some).collect(),
        };
        let id = self.tracker.pushed(None, batch.clone(), rows, None, Some(keys));
        self.pushed_any = true;
        self.planner
            .push_batch(id, BatchKind::Delete, batch)
            .map_err(|e| planner_stop(&self.names, e))
    }

    /// Journals the rows of a write that must not be repeated; `false` when it must not be sent.
    fn journal_before_send(&mut self, spec: &RequestSpec) -> Result<bool, Stop> {
        if self.incremental.is_none() || self.mode != RunMode::Run || !spec.writes || spec.idempotent {
            return Ok(true);
        }
        let rows = self
            .planner
            .request_rows(spec.id)
            .map_err(|e| planner_stop(&self.names, e))?;
        let keys = rows.map(|rows| {
            rows.iter()
                .filter_map(|&(batch_id, row)| self.tracker.key_of(batch_id, row).cloned())
                .collect::<Vec<_>>()
        });
        let run_tag = self.run_tag.clone();
        let Some(incremental) = self.incremental.as_mut() else {
            return Ok(true);
        };
        match incremental.before_send(spec, keys, &run_tag) {
            Ok(SendDecision::Send) => Ok(true),
            Ok(SendDecision::Refuse(message)) => {
                let now = self.now();
                let failure = Failure {
                    kind: FailureKind::NotSent,
                    status: 0,
                    message: &message,
                };
                self.planner
                    .handle_failure(spec.id, &failure, now)
                    .map_err(|e| planner_stop(&self.names, e))?;
                Ok(false)
            }
            Err(error) => Err(state_stop(&self.names, error)),
        }
    }

    /// Records the fate of a journaled request (no-op for others).
    fn journal_after_send(
        &mut self,
        id: RequestId,
        answered: Option<u16>,
        failure: Option<(FailureKind, u16)>,
    ) -> Result<(), Stop> {
        match self.incremental.as_mut() {
            Some(incremental) => incremental
                .after_send(id, answered, failure)
                .map_err(|e| state_stop(&self.names, e)),
            None => Ok(()),
        }
    }

    /// Records the rows settled since the last call in the state store.
    fn commit_settled(&mut self) -> Result<(), Stop> {
        let settled = self.tracker.take_settled();
        match self.incremental.as_mut() {
            Some(incremental) if !settled.is_empty() => {
                incremental.commit(&settled).map_err(|e| state_stop(&self.names, e))
            }
            _ => Ok(()),
        }
    }

    fn on_read(&mut self, read: Result<ReadResult, tokio::task::JoinError>) -> Result<(), Stop> {
        match read {
            Ok((source, Some(Ok(batch)))) => {
                self.source = Some(source);
                // Prepared and diffed before the plugin is asked: a batch the state settles
                // whole never reaches it, so an unchanged re-run makes not even its pre-flight
                // calls.
                let planned = self.plan_input(batch)?;
                if planned.pushed.num_rows() == 0 {
                    self.push(planned)?;
                } else {
                    self.ready = Some(Input::Rows(planned));
                }
            }
            Ok((_, None)) => self.eof = true,
            Ok((source, Some(Err(error)))) => {
                // Finish what was pushed, then report the error.
                tracing::error!(sync = %self.names.sync, "{error}");
                drop(source);
                self.source_error = Some(error);
                self.eof = true;
            }
            Err(error) => {
                return Err(Stop::Run(RunError::Plugin {
                    sync: self.names.sync.clone(),
                    plugin: self.names.plugin.clone(),
                    message: format!("the source reader crashed: {error}"),
                }));
            }
        }
        Ok(())
    }

    fn dispatch(&mut self, spec: RequestSpec) -> Result<(), Stop> {
        if self.mode != RunMode::Run && spec.writes {
            self.planned_requests += 1;
            if self.samples.len() < MAX_SAMPLES {
                self.samples
                    .push(sample_request(spec.method.as_str(), &spec.path, &spec.body));
            }
            tracing::debug!(sync = %self.names.sync, "dry run: not sending {} {}", spec.method, spec.path);
            let now = self.now();
            let failure = Failure {
                kind: FailureKind::DryRun,
                status: 0,
                message: "dry run: writes are not sent",
            };
            return self
                .planner
                .handle_failure(spec.id, &failure, now)
                .map_err(|e| planner_stop(&self.names, e));
        }
        if !self.journal_before_send(&spec)? {
            return Ok(());
        }
        match spec.not_before {
            Some(at) if at > self.now() => {
                self.delayed_seq += 1;
                self.delayed.insert((at, self.delayed_seq), spec);
            }
            _ => self.spawn_send(spec),
        }
        Ok(())
    }

    fn spawn_send(&mut self, spec: RequestSpec) {
        let executor = self.executor.clone();
        let id = spec.id;
        let handle = self.in_flight.spawn(async move {
            let result = executor.send(&spec).await;
            (spec, result)
        });
        self.in_flight_ids.insert(handle.id(), id);
    }

    fn on_sent(&mut self, joined: Result<(tokio::task::Id, SendResult), tokio::task::JoinError>) -> Result<(), Stop> {
        let now = self.now();
        let (spec, result) = match joined {
            Ok((task, sent)) => {
                self.in_flight_ids.remove(&task);
                sent
            }
            Err(error) => {
                let Some(id) = self.in_flight_ids.remove(&error.id()) else {
                    return Ok(());
                };
                self.journal_after_send(id, None, Some((FailureKind::Uncertain, 0)))?;
                let message = format!("the send task failed: {error}");
                let failure = Failure {
                    kind: FailureKind::Uncertain,
                    status: 0,
                    message: &message,
                };
                return self
                    .planner
                    .handle_failure(id, &failure, now)
                    .map_err(|e| planner_stop(&self.names, e));
            }
        };
        match &result {
            Ok(sent) => self.journal_after_send(spec.id, Some(sent.response.status), None)?,
            Err(failure) => self.journal_after_send(spec.id, None, Some((failure.kind, failure.status)))?,
        }
        match result {
            Ok(sent) => {
                let status = sent.response.status;
                if status == 401 {
                    return Err(Stop::Run(RunError::Auth {
                        sync: Some(self.names.sync.clone()),
                        message: format!(
                            "Dotdigital refused the API user `{}` (HTTP 401 on {} {}): wrong username or password",
                            self.executor_user(),
                            spec.method,
                            spec.path
                        ),
                    }));
                }
                if status == 403 {
                    return Err(Stop::Run(RunError::Auth {
                        sync: Some(self.names.sync.clone()),
                        message: format!(
                            "the API user `{}` is not allowed to call {} {} (HTTP 403): the account may live in another \
                             region (set `connection.region` to r1, r2 or r3, or leave it out to detect it), or the API \
                             user lacks access to this API",
                            self.executor_user(),
                            spec.method,
                            spec.path
                        ),
                    }));
                }
                if let Some(permit) = sent.slot {
                    self.permits.insert(spec.id, permit);
                }
                let headers: Vec<Header<'_>> = sent
                    .response
                    .headers
                    .iter()
                    .map(|(name, value)| Header { name, value })
                    .collect();
                let view = ResponseView {
                    status,
                    headers: &headers,
                    body: &sent.response.body,
                };
                self.planner
                    .handle_response(spec.id, &view, now)
                    .map_err(|e| planner_stop(&self.names, e))
            }
            Err(failure) => {
                let view = Failure {
                    kind: failure.kind,
                    status: failure.status,
                    message: &failure.message,
                };
                self.planner
                    .handle_failure(spec.id, &view, now)
                    .map_err(|e| planner_stop(&self.names, e))
            }
        }
    }

    fn executor_user(&self) -> &str {
        &self.names.user
    }

    /// Outcomes and released slots.
    fn drain(&mut self) -> Result<(), Stop> {
        while let Some(outcomes) = self.planner.poll_outcomes().map_err(|e| planner_stop(&self.names, e))? {
            let recorded = self.tracker.record(&outcomes);
            self.commit_settled()?;
            match recorded {
                Ok(settled) => self.progress.rows_done(&self.names.sync, settled),
                Err((settled, problem)) => {
                    self.progress.rows_done(&self.names.sync, settled);
                    return Err(Stop::Contained(format!(
                        "plugin `{}` broke the plugin contract: {problem}",
                        self.names.plugin
                    )));
                }
            }
        }
        while let Some(id) = self
            .planner
            .poll_released_slot()
            .map_err(|e| planner_stop(&self.names, e))?
        {
            if self.permits.remove(&id).is_none() {
                tracing::debug!(sync = %self.names.sync, "plugin released the slot of request {id}, which holds none");
            }
        }
        Ok(())
    }
}
