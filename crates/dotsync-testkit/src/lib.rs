//! The compliance harness for dotsync destination plugins.
//!
//! What it does: it drives a plugin through the real C vtable (a [`PluginDescriptor`] checked by
//! [`LoadedPlugin::from_static`] and driven as a [`ForeignPlanner`], exactly the code path the host
//! uses), answers the plugin's requests with canned responses or failures, and runs a virtual
//! clock that only moves when the test (or [`Harness::run_to_end`]) moves it. [`Harness`] is for
//! step-by-step plugin tests; [`assert_compliance`] runs the checks every plugin must pass: a valid
//! descriptor, a valid and documented config schema, examples that work, invalid configs refused
//! with a useful message, a readable input contract, and exactly one outcome per input row, also
//! against a hostile destination.
//!
//! What it does not do: no network, no real host (no HTTP client, base URL, authentication, rate
//! limiting, retries or slot accounting), no emulator of any destination, no real clock and no
//! threads. Responses come only from the responder the test supplies. In `plan` and `check` modes
//! it does emulate the host's one dry-run rule: requests that write are answered with
//! [`FailureKind::DryRun`] without reaching the responder.

use std::collections::{BTreeMap, BTreeSet};

use dotsync_plugin_sdk::abi::PluginDescriptor;
pub use dotsync_plugin_sdk::{
    BatchId, BatchKind, DynPlanner, Failure, FailureKind, ForeignPlanner, Header, LoadedPlugin, Millis, OutcomeStatus,
    PlannerError, PluginContext, PluginError, Poll, RecordBatch, RequestId, RequestSpec, ResponseView, RowOutcome,
    RunMode,
};
use serde_json::Value;

/// The SDK this harness drives plugins with.
pub use dotsync_plugin_sdk as sdk;

/// How many steps [`Harness::run_to_end`] takes before it gives up (see
/// [`Harness::set_step_limit`]). A step is one response, failure or timeout handed to the plugin.
pub const DEFAULT_STEP_LIMIT: usize = 100_000;

/// How many times in a row the harness asks for one more item (request, outcome batch, released
/// slot, due timeout) before it calls the plugin stuck.
const DRAIN_LIMIT: usize = 1_000_000;

/// A canned answer to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Canned {
    /// The destination answered.
    Response {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// The host gave up on the request (the last HTTP status seen is reported as 0).
    Failure { kind: FailureKind, message: String },
}

impl Canned {
    /// A JSON response with `Content-Type: application/json`.
    pub fn json(status: u16, body: Value) -> Canned {
        Canned::Response {
            status,
            headers: vec![("Content-Type".to_owned(), "application/json".to_owned())],
            body: body.to_string(),
        }
    }

    /// A response with this status, no headers and an empty body.
    pub fn status(status: u16) -> Canned {
        Canned::Response {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    /// A response with this status and body, no headers.
    pub fn text(status: u16, body: impl Into<String>) -> Canned {
        Canned::Response {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// The host gave up on the request.
    pub fn failure(kind: FailureKind, message: impl Into<String>) -> Canned {
        Canned::Failure {
            kind,
            message: message.into(),
        }
    }
}

/// Everything a harness saw, from its creation on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunLog {
    /// Every request the plugin emitted, in order.
    pub requests: Vec<RequestSpec>,
    /// Every outcome the plugin reported, in order.
    pub outcomes: Vec<RowOutcome>,
    /// Every request whose slot the plugin released, in order.
    pub released_slots: Vec<RequestId>,
    /// Every batch pushed: its id, kind and number of rows.
    pub batches: Vec<(BatchId, BatchKind, usize)>,
}

impl RunLog {
    /// How many outcomes have this status.
    pub fn count(&self, status: OutcomeStatus) -> usize {
        self.outcomes.iter().filter(|o| o.status == status).count()
    }

    /// The (first) outcome of this row.
    pub fn outcome(&self, batch: BatchId, row: u32) -> Option<&RowOutcome> {
        self.outcomes.iter().find(|o| o.batch_id == batch && o.row == row)
    }

    /// Checks that every row of every pushed batch has exactly one outcome, and that no outcome
    /// names a batch never pushed or a row outside its batch. The error names the first problems.
    pub fn check_one_outcome_per_row(&self) -> Result<(), String> {
        self.check_outcomes(true)
    }

    /// Like [`check_one_outcome_per_row`](Self::check_one_outcome_per_row), but rows without an
    /// outcome are allowed: what a run that stopped on a plugin error must satisfy (the host
    /// reports the remaining rows as failed itself).
    pub fn check_no_stray_outcomes(&self) -> Result<(), String> {
        self.check_outcomes(false)
    }

    fn check_outcomes(&self, require_all: bool) -> Result<(), String> {
        let sizes: BTreeMap<BatchId, usize> = self.batches.iter().map(|&(id, _, rows)| (id, rows)).collect();
        let mut seen: BTreeMap<(BatchId, u32), &RowOutcome> = BTreeMap::new();
        let mut problems = Vec::new();
        for outcome in &self.outcomes {
            let (batch, row) = (outcome.batch_id, outcome.row);
            match sizes.get(&batch) {
                None => problems.push(format!(
                    "outcome for batch {batch} row {row}, a batch that was never pushed ({outcome:?})"
                )),
                Some(&rows) if row as usize >= rows => problems.push(format!(
                    "outcome for batch {batch} row {row}, a row outside the batch (it has {rows} rows)"
                )),
                Some(_) => {
                    if let Some(first) = seen.insert((batch, row), outcome) {
                        problems.push(format!(
                            "duplicate outcome for batch {batch} row {row}: first {:?} `{}`, then {:?} `{}`",
                            first.status, first.code, outcome.status, outcome.code
                        ));
                    }
                }
            }
        }
        if require_all {
            let missing: Vec<(BatchId, usize)> = self
                .batches
                .iter()
                .flat_map(|&(id, _, rows)| (0..rows).map(move |row| (id, row)))
                .filter(|&(id, row)| !seen.contains_key(&(id, row as u32)))
                .collect();
            if let Some(&(batch, row)) = missing.first() {
                problems.push(format!(
                    "missing outcome for batch {batch} row {row} ({} of {} rows have no outcome)",
                    missing.len(),
                    self.batches.iter().map(|b| b.2).sum::<usize>()
                ));
            }
        }
        match problems.len() {
            0 => Ok(()),
            1 => Err(problems.remove(0)),
            n => {
                let more: Vec<_> = problems.iter().skip(1).take(4).cloned().collect();
                Err(format!("{} (and {} more: {})", problems[0], n - 1, more.join("; ")))
            }
        }
    }
}

/// Why [`Harness::run_to_end`] stopped early.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// A call into the plugin failed.
    #[error("`{call}` failed at virtual time {now} ms: {source}")]
    Planner {
        call: &'static str,
        now: Millis,
        #[source]
        source: PlannerError,
    },
    /// The plugin did not reach `Done` within the step limit.
    #[error("the run did not reach Done within {limit} steps: {state}")]
    StepLimit { limit: usize, state: String },
    /// Nothing can happen any more, but the plugin is not done.
    #[error("the run stalled before Done: {reason}; {state}")]
    Stalled { reason: String, state: String },
    /// The plugin broke a rule of the host's rhythm (not one the SDK checks).
    #[error("plugin `{plugin}` broke the plugin contract: {message}")]
    Contract { plugin: String, message: String },
}

impl HarnessError {
    /// The plugin's error, when a call into the plugin failed.
    pub fn planner_error(&self) -> Option<&PlannerError> {
        match self {
            HarnessError::Planner { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Drives one plugin instance through the real vtable, with a virtual clock.
///
/// The step-by-step methods (`push`, `respond`, `fail`, ...) panic with the plugin's error when a
/// call fails, as a test wants; the `try_` variants return it instead.
pub struct Harness {
    plugin: LoadedPlugin,
    planner: ForeignPlanner,
    context: PluginContext,
    now: Millis,
    next_batch: BatchId,
    /// Emitted and not yet answered, in emission order.
    in_flight: Vec<RequestSpec>,
    log: RunLog,
    new_outcomes: usize,
    new_released: usize,
    finished: bool,
    done: bool,
    step_limit: usize,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("plugin", &self.plugin)
            .field("state", &self.state())
            .finish()
    }
}

/// Compiles a plugin's config schema (remote references are not resolved).
pub fn config_validator(plugin: &LoadedPlugin) -> Result<jsonschema::Validator, String> {
    let schema: Value = serde_json::from_str(plugin.config_schema_json())
        .map_err(|error| format!("the config schema of plugin `{}` is not JSON: {error}", plugin.name()))?;
    jsonschema::validator_for(&schema).map_err(|error| {
        format!(
            "the config schema of plugin `{}` is not a valid JSON Schema: {error}",
            plugin.name()
        )
    })
}

/// Every error of `config` against the schema, as `path: message`, joined with `; `.
pub fn schema_errors(validator: &jsonschema::Validator, config: &Value) -> Option<String> {
    let errors: Vec<String> = validator
        .iter_errors(config)
        .map(|error| {
            let path = error.instance_path().to_string();
            let path = if path.is_empty() { "(root)".to_owned() } else { path };
            format!("{path}: {error}")
        })
        .collect();
    (!errors.is_empty()).then(|| errors.join("; "))
}

impl Harness {
    /// Checks the descriptor, validates `config` against the plugin's schema (as the host does)
    /// and creates an instance. The virtual clock starts at 0.
    pub fn new(
        descriptor: &'static PluginDescriptor,
        config: Value,
        context: PluginContext,
    ) -> Result<Harness, PlannerError> {
        let plugin = LoadedPlugin::from_static(descriptor).map_err(|error| PlannerError::Contract {
            plugin: "(unchecked descriptor)".to_owned(),
            message: error.to_string(),
        })?;
        let validator = config_validator(&plugin).map_err(|message| PlannerError::Contract {
            plugin: plugin.name().to_owned(),
            message,
        })?;
        if let Some(errors) = schema_errors(&validator, &config) {
            return Err(PlannerError::Plugin(PluginError::config(format!(
                "config does not match the schema of plugin `{}`: {errors}",
                plugin.name()
            ))));
        }
        let planner = plugin.create(&config.to_string(), &context)?;
        Ok(Harness {
            plugin,
            planner,
            context,
            now: 0,
            next_batch: 1,
            in_flight: Vec::new(),
            log: RunLog::default(),
            new_outcomes: 0,
            new_released: 0,
            finished: false,
            done: false,
            step_limit: DEFAULT_STEP_LIMIT,
        })
    }

    /// The checked descriptor.
    pub fn plugin(&self) -> &LoadedPlugin {
        &self.plugin
    }

    /// The instance itself, for calls the harness does not wrap.
    pub fn planner(&mut self) -> &mut ForeignPlanner {
        &mut self.planner
    }

    pub fn context(&self) -> &PluginContext {
        &self.context
    }

    /// Steps [`run_to_end`](Self::run_to_end) takes before it gives up.
    pub fn set_step_limit(&mut self, limit: usize) {
        self.step_limit = limit;
    }

    fn expect<T>(&self, call: &str, result: Result<T, PlannerError>) -> T {
        match result {
            Ok(value) => value,
            Err(error) => panic!(
                "plugin `{}`: {call} failed at virtual time {} ms: {error}",
                self.plugin.name(),
                self.now
            ),
        }
    }

    /// Whether the plugin wants another batch now.
    pub fn can_accept_batch(&mut self) -> bool {
        let result = self.planner.can_accept_batch();
        self.expect("can_accept_batch", result)
    }

    /// Pushes an Upsert batch; ids are 1, 2, 3... in push order. Does not consult
    /// `can_accept_batch`: the test decides.
    pub fn push(&mut self, batch: RecordBatch) -> BatchId {
        self.push_kind(BatchKind::Upsert, batch)
    }

    pub fn push_kind(&mut self, kind: BatchKind, batch: RecordBatch) -> BatchId {
        let id = self.next_batch;
        let result = self.try_push_kind(kind, batch);
        self.expect(&format!("push_batch(batch {id})"), result)
    }

    pub fn try_push_kind(&mut self, kind: BatchKind, batch: RecordBatch) -> Result<BatchId, PlannerError> {
        let id = self.next_batch;
        self.next_batch += 1;
        self.log.batches.push((id, kind, batch.num_rows()));
        self.planner.push_batch(id, kind, batch)?;
        Ok(id)
    }

    /// No more input will come.
    pub fn finish(&mut self) {
        let result = self.try_finish();
        self.expect("finish", result)
    }

    pub fn try_finish(&mut self) -> Result<(), PlannerError> {
        self.finished = true;
        self.planner.finish()
    }

    /// The virtual clock, in milliseconds.
    pub fn now(&self) -> Millis {
        self.now
    }

    /// Moves the virtual clock forward and fires the plugin's timeout if it is due by then.
    pub fn advance(&mut self, by: Millis) {
        self.now = self.now.saturating_add(by);
        let result = self.fire_due_timeouts();
        self.expect("handle_timeout", result)
    }

    fn fire_due_timeouts(&mut self) -> Result<(), PlannerError> {
        for _ in 0..DRAIN_LIMIT {
            match self.planner.poll_timeout()? {
                Some(at) if at <= self.now => self.planner.handle_timeout(self.now)?,
                _ => return Ok(()),
            }
        }
        panic!(
            "plugin `{}` keeps asking for a timeout at or before {} ms after handling it",
            self.plugin.name(),
            self.now
        )
    }

    /// When the plugin next wants `handle_timeout`.
    pub fn next_timeout(&mut self) -> Option<Millis> {
        let result = self.planner.poll_timeout();
        self.expect("poll_timeout", result)
    }

    /// Polls requests until the plugin answers Pending or Done; returns the new ones.
    pub fn poll_requests(&mut self) -> Vec<RequestSpec> {
        let result = self.try_poll_requests();
        self.expect("poll_request", result)
    }

    pub fn try_poll_requests(&mut self) -> Result<Vec<RequestSpec>, PlannerError> {
        let mut new = Vec::new();
        for _ in 0..DRAIN_LIMIT {
            match self.planner.poll_request(self.now)? {
                Poll::Ready(request) => {
                    if self.in_flight.iter().any(|r| r.id == request.id) {
                        return Err(PlannerError::Contract {
                            plugin: self.plugin.name().to_owned(),
                            message: format!("request id {} emitted again while still in flight", request.id),
                        });
                    }
                    self.log.requests.push(request.clone());
                    self.in_flight.push(request.clone());
                    new.push(request);
                }
                Poll::Pending => return Ok(new),
                Poll::Done => {
                    self.done = true;
                    return Ok(new);
                }
            }
        }
        Err(PlannerError::Contract {
            plugin: self.plugin.name().to_owned(),
            message: format!("poll_request emitted {DRAIN_LIMIT} requests in a row without Pending"),
        })
    }

    /// Whether `poll_request` has answered Done.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Requests emitted and not yet answered, in emission order.
    pub fn in_flight(&self) -> &[RequestSpec] {
        &self.in_flight
    }

    fn take_in_flight(&mut self, id: RequestId) -> RequestSpec {
        match self.in_flight.iter().position(|r| r.id == id) {
            Some(index) => self.in_flight.remove(index),
            None => panic!(
                "request {id} is not in flight: plugin `{}` never emitted it, or it was answered already (in flight: {:?})",
                self.plugin.name(),
                self.in_flight.iter().map(|r| r.id).collect::<Vec<_>>()
            ),
        }
    }

    /// Answers a request with a status and body, no headers.
    pub fn respond(&mut self, id: RequestId, status: u16, body: &str) {
        self.respond_with_headers(id, status, &[], body)
    }

    pub fn respond_with_headers(&mut self, id: RequestId, status: u16, headers: &[(&str, &str)], body: &str) {
        let result = self.try_respond_with_headers(id, status, headers, body);
        self.expect(&format!("handle_response(request {id}, status {status})"), result)
    }

    pub fn try_respond_with_headers(
        &mut self,
        id: RequestId,
        status: u16,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<(), PlannerError> {
        self.take_in_flight(id);
        let headers: Vec<Header<'_>> = headers.iter().map(|&(name, value)| Header { name, value }).collect();
        let response = ResponseView {
            status,
            headers: &headers,
            body: body.as_bytes(),
        };
        self.planner.handle_response(id, &response, self.now)
    }

    /// Tells the plugin the host gave up on a request (no HTTP status seen).
    pub fn fail(&mut self, id: RequestId, kind: FailureKind, message: &str) {
        let result = self.try_fail(id, kind, message);
        self.expect(&format!("handle_failure(request {id}, {kind:?})"), result)
    }

    pub fn try_fail(&mut self, id: RequestId, kind: FailureKind, message: &str) -> Result<(), PlannerError> {
        self.take_in_flight(id);
        let failure = Failure {
            kind,
            status: 0,
            message,
        };
        self.planner.handle_failure(id, &failure, self.now)
    }

    /// Drains the plugin's outcomes; returns the new ones (all of them stay in [`log`](Self::log)).
    pub fn outcomes(&mut self) -> Vec<RowOutcome> {
        let result = self.drain_outcomes();
        self.expect("poll_outcomes", result);
        let new = self.log.outcomes[self.new_outcomes..].to_vec();
        self.new_outcomes = self.log.outcomes.len();
        new
    }

    fn drain_outcomes(&mut self) -> Result<(), PlannerError> {
        for _ in 0..DRAIN_LIMIT {
            match self.planner.poll_outcomes()? {
                Some(outcomes) => self.log.outcomes.extend(outcomes),
                None => return Ok(()),
            }
        }
        Err(PlannerError::Contract {
            plugin: self.plugin.name().to_owned(),
            message: format!("poll_outcomes returned {DRAIN_LIMIT} batches in a row"),
        })
    }

    /// Drains the requests whose slot the plugin released; returns the new ones.
    pub fn released_slots(&mut self) -> Vec<RequestId> {
        let result = self.drain_released();
        self.expect("poll_released_slot", result);
        let new = self.log.released_slots[self.new_released..].to_vec();
        self.new_released = self.log.released_slots.len();
        new
    }

    fn drain_released(&mut self) -> Result<(), PlannerError> {
        for _ in 0..DRAIN_LIMIT {
            match self.planner.poll_released_slot()? {
                Some(id) => self.log.released_slots.push(id),
                None => return Ok(()),
            }
        }
        Err(PlannerError::Contract {
            plugin: self.plugin.name().to_owned(),
            message: format!("poll_released_slot returned {DRAIN_LIMIT} ids in a row"),
        })
    }

    /// Everything seen so far (outcomes and released slots as far as drained).
    pub fn log(&self) -> &RunLog {
        &self.log
    }

    /// A one-line account of the run's state, for error messages.
    pub fn state(&self) -> String {
        let rows: usize = self.log.batches.iter().map(|b| b.2).sum();
        let in_flight: Vec<String> = self
            .in_flight
            .iter()
            .take(5)
            .map(|r| format!("{} {} {}", r.id, r.method, r.path))
            .collect();
        format!(
            "virtual time {} ms; {} batch(es) pushed ({rows} rows), finish {}; poll_request last answered {}; {} request(s) in flight{}; {} request(s) emitted; {} outcome(s) for {rows} rows",
            self.now,
            self.log.batches.len(),
            if self.finished { "called" } else { "not called" },
            if self.done { "Done" } else { "Pending" },
            self.in_flight.len(),
            if in_flight.is_empty() {
                String::new()
            } else {
                format!(" ({})", in_flight.join(", "))
            },
            self.log.requests.len(),
            self.log.outcomes.len(),
        )
    }

    /// Drives the plugin to completion: calls `finish` if not yet called, answers every request
    /// with `responder` (in `plan`/`check` mode, writes get [`FailureKind::DryRun`] instead), jumps
    /// the virtual clock to a request's `not_before` and to `poll_timeout` deadlines, and stops
    /// when `poll_request` answers Done and nothing is in flight. The log covers the harness's
    /// whole life, including what happened before this call.
    pub fn run_to_end(&mut self, responder: impl FnMut(&RequestSpec) -> Canned) -> Result<RunLog, HarnessError> {
        self.run_with_input(Vec::new(), responder)
    }

    /// Like [`run_to_end`](Self::run_to_end), first feeding `input` as the host does: each batch
    /// as soon as `can_accept_batch` allows, then `finish` once all are in. Batch ids continue
    /// the harness's sequence.
    pub fn run_with_input(
        &mut self,
        input: Vec<(BatchKind, RecordBatch)>,
        mut responder: impl FnMut(&RequestSpec) -> Canned,
    ) -> Result<RunLog, HarnessError> {
        let mut input = std::collections::VecDeque::from(input);
        for _ in 0..self.step_limit {
            let now = self.now;
            let call = |call: &'static str| move |source| HarnessError::Planner { call, now, source };
            while !input.is_empty() && self.planner.can_accept_batch().map_err(call("can_accept_batch"))? {
                let (kind, batch) = input.pop_front().expect("not empty");
                self.try_push_kind(kind, batch).map_err(call("push_batch"))?;
            }
            if input.is_empty() && !self.finished {
                self.try_finish().map_err(call("finish"))?;
            }
            self.try_poll_requests().map_err(call("poll_request"))?;
            self.drain_outcomes().map_err(call("poll_outcomes"))?;
            self.drain_released().map_err(call("poll_released_slot"))?;
            if self.done && self.in_flight.is_empty() {
                if !input.is_empty() {
                    return Err(HarnessError::Contract {
                        plugin: self.plugin.name().to_owned(),
                        message: format!(
                            "poll_request answered Done with {} batch(es) still waiting for can_accept_batch",
                            input.len()
                        ),
                    });
                }
                return Ok(self.log.clone());
            }
            // The next event: the earliest sendable request, or the timeout if it comes first.
            let next_request = self
                .in_flight
                .iter()
                .enumerate()
                .map(|(index, r)| (r.not_before.unwrap_or(0).max(self.now), index))
                .min();
            let timeout = self.planner.poll_timeout().map_err(call("poll_timeout"))?;
            let request_first = next_request.filter(|&(at, _)| timeout.is_none_or(|t| at <= t));
            match (request_first, timeout) {
                (Some((at, index)), _) => {
                    self.now = at;
                    let request = self.in_flight.remove(index);
                    self.answer(&request, &mut responder)?;
                }
                (None, Some(at)) => {
                    self.now = self.now.max(at);
                    let now = self.now;
                    self.planner
                        .handle_timeout(now)
                        .map_err(|source| HarnessError::Planner {
                            call: "handle_timeout",
                            now,
                            source,
                        })?;
                }
                (None, None) => {
                    let reason = if input.is_empty() {
                        "poll_request answers Pending, but no request is in flight and no timeout is set".to_owned()
                    } else {
                        format!(
                            "can_accept_batch is false with {} batch(es) waiting, and no request is in flight and no timeout is set",
                            input.len()
                        )
                    };
                    return Err(HarnessError::Stalled {
                        reason,
                        state: self.state(),
                    });
                }
            }
        }
        Err(HarnessError::StepLimit {
            limit: self.step_limit,
            state: self.state(),
        })
    }

    fn answer(
        &mut self,
        request: &RequestSpec,
        responder: &mut impl FnMut(&RequestSpec) -> Canned,
    ) -> Result<(), HarnessError> {
        let now = self.now;
        let canned = if request.writes && self.context.mode != RunMode::Run {
            Canned::failure(FailureKind::DryRun, "dry run: request not sent")
        } else {
            responder(request)
        };
        match canned {
            Canned::Response { status, headers, body } => {
                let headers: Vec<Header<'_>> = headers.iter().map(|(name, value)| Header { name, value }).collect();
                let response = ResponseView {
                    status,
                    headers: &headers,
                    body: body.as_bytes(),
                };
                self.planner
                    .handle_response(request.id, &response, now)
                    .map_err(|source| HarnessError::Planner {
                        call: "handle_response",
                        now,
                        source,
                    })
            }
            Canned::Failure { kind, message } => {
                let failure = Failure {
                    kind,
                    status: 0,
                    message: &message,
                };
                self.planner
                    .handle_failure(request.id, &failure, now)
                    .map_err(|source| HarnessError::Planner {
                        call: "handle_failure",
                        now,
                        source,
                    })
            }
        }
    }
}

/// A plugin's compliance test: its descriptor, configs, sample input and a responder that plays
/// the destination for the sample run.
pub struct ComplianceCase {
    pub descriptor: &'static PluginDescriptor,
    /// Configs that must be accepted, besides the schema's own top-level `examples`. The sample
    /// run uses the first of these (or, when there are none, the first example).
    pub valid_configs: Vec<Value>,
    /// Configs that must be refused (by the schema or by `create`), each with a fragment the
    /// error text must contain.
    pub invalid_configs: Vec<(Value, &'static str)>,
    /// Sample input, pushed as Upsert batches.
    pub batches: Vec<RecordBatch>,
    /// Answers the sample run's requests.
    pub responder: Responder,
}

/// Plays the destination: answers each request.
pub type Responder = Box<dyn FnMut(&RequestSpec) -> Canned>;

fn compliance_context() -> PluginContext {
    PluginContext {
        sync_name: "compliance".to_owned(),
        mode: RunMode::Run,
    }
}

/// Runs the compliance checks every plugin must pass, panicking with a precise message on the
/// first failure:
///
/// 1. the descriptor passes [`LoadedPlugin::from_static`];
/// 2. the embedded config schema is a valid JSON Schema, and every top-level property has a
///    non-empty `description`;
/// 3. every top-level `examples` entry of the schema and every `valid_configs` entry validates
///    against the schema and is accepted by `create`;
/// 4. every `invalid_configs` entry is refused by the schema or by `create`, with its fragment in
///    the error text;
/// 5. the input contract is readable, its key columns are among its fields, and the sample
///    batches carry every non-nullable field of the contract, with its type;
/// 6. the sample batches, run to the end against `responder`, get exactly one outcome per row;
/// 7. so do they against a hostile destination: every request answered 500 with an HTML body,
///    then every request failed with [`FailureKind::Exhausted`]. Neither may make the plugin panic
///    or break the contract; a plugin error that stops the run is allowed (the host then reports
///    the remaining rows), but the outcomes reported until then must still be sound.
pub fn assert_compliance(case: ComplianceCase) {
    let ComplianceCase {
        descriptor,
        valid_configs,
        invalid_configs,
        batches,
        mut responder,
    } = case;

    // 1. The descriptor.
    let plugin = LoadedPlugin::from_static(descriptor)
        .unwrap_or_else(|error| panic!("compliance: the descriptor is refused: {error}"));
    let name = plugin.name();

    // 2. The schema.
    let validator = config_validator(&plugin).unwrap_or_else(|error| panic!("compliance: {error}"));
    let schema: Value = serde_json::from_str(plugin.config_schema_json()).expect("parsed by config_validator");
    if let Some(properties) = schema.get("properties") {
        let properties = properties.as_object().unwrap_or_else(|| {
            panic!("compliance: plugin `{name}`: the config schema's `properties` is not an object")
        });
        for (field, property) in properties {
            let described = property
                .get("description")
                .and_then(Value::as_str)
                .is_some_and(|text| !text.trim().is_empty());
            if !described {
                panic!(
                    "compliance: plugin `{name}`: config field `{field}` has no description (document it with a doc comment)"
                );
            }
        }
    }

    // 3. Valid configs.
    let examples: Vec<Value> = match schema.get("examples") {
        None => Vec::new(),
        Some(Value::Array(examples)) => examples.clone(),
        Some(other) => panic!("compliance: plugin `{name}`: the config schema's `examples` is not an array: {other}"),
    };
    let labelled = examples
        .iter()
        .enumerate()
        .map(|(i, config)| (format!("schema example #{i}"), config))
        .chain(
            valid_configs
                .iter()
                .enumerate()
                .map(|(i, config)| (format!("valid config #{i}"), config)),
        );
    for (label, config) in labelled {
        if let Some(errors) = schema_errors(&validator, config) {
            panic!(
                "compliance: plugin `{name}`: {label} {config} does not validate against the config schema: {errors}"
            );
        }
        if let Err(error) = plugin.create(&config.to_string(), &compliance_context()) {
            panic!("compliance: plugin `{name}`: {label} {config} is refused by create: {error}");
        }
    }

    // 4. Invalid configs.
    for (i, (config, fragment)) in invalid_configs.iter().enumerate() {
        let text = match schema_errors(&validator, config) {
            Some(errors) => errors,
            None => match plugin.create(&config.to_string(), &compliance_context()) {
                Ok(_) => panic!(
                    "compliance: plugin `{name}`: invalid config #{i} {config} was accepted by the schema and by create"
                ),
                Err(error) => error.to_string(),
            },
        };
        if !text.contains(fragment) {
            panic!(
                "compliance: plugin `{name}`: invalid config #{i} {config} was refused, but the error `{text}` does not contain `{fragment}`"
            );
        }
    }

    let run_config = valid_configs.first().or(examples.first()).cloned().unwrap_or_else(|| {
        panic!("compliance: plugin `{name}`: no valid config to run with: add `examples` to the config schema or a valid_configs entry")
    });
    let harness = || {
        Harness::new(descriptor, run_config.clone(), compliance_context())
            .unwrap_or_else(|error| panic!("compliance: plugin `{name}`: create failed for {run_config}: {error}"))
    };

    // 5. The input contract.
    let contract = harness()
        .planner()
        .input_contract()
        .unwrap_or_else(|error| panic!("compliance: plugin `{name}`: the input contract cannot be read: {error}"));
    if let Some(keys) = contract.metadata().get(dotsync_plugin_sdk::KEY_COLUMNS_METADATA) {
        for key in keys.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            if contract.field_with_name(key).is_err() {
                panic!("compliance: plugin `{name}`: key column `{key}` is not a field of the input contract");
            }
        }
    }
    for (i, batch) in batches.iter().enumerate() {
        for field in contract.fields() {
            match batch.schema().field_with_name(field.name()) {
                Ok(found) => {
                    if field.data_type() != &arrow_schema::DataType::Null && found.data_type() != field.data_type() {
                        panic!(
                            "compliance: plugin `{name}`: sample batch #{i} column `{}` is {}, the input contract wants {}",
                            field.name(),
                            found.data_type(),
                            field.data_type()
                        );
                    }
                }
                Err(_) if field.is_nullable() => {}
                Err(_) => panic!(
                    "compliance: plugin `{name}`: sample batch #{i} lacks column `{}` of the input contract",
                    field.name()
                ),
            }
        }
    }

    let input =
        || -> Vec<(BatchKind, RecordBatch)> { batches.iter().map(|b| (BatchKind::Upsert, b.clone())).collect() };

    // 6. The sample run.
    let log = harness()
        .run_with_input(input(), |request| responder(request))
        .unwrap_or_else(|error| panic!("compliance: plugin `{name}`: the sample run failed: {error}"));
    if let Err(problem) = log.check_one_outcome_per_row() {
        panic!("compliance: plugin `{name}`: sample run: {problem}");
    }
    check_released_slots(name, "sample run", &log);

    // 7. Hostile destinations.
    let html = "<html><head><title>500 Internal Server Error</title></head><body><h1>Oops</h1></body></html>";
    let hostile: [(&str, Responder); 2] = [
        (
            "hostile run (every request answered 500 with HTML)",
            Box::new(move |_| Canned::Response {
                status: 500,
                headers: vec![("Content-Type".to_owned(), "text/html".to_owned())],
                body: html.to_owned(),
            }),
        ),
        (
            "hostile run (every request failed: retries exhausted)",
            Box::new(|_| Canned::failure(FailureKind::Exhausted, "retries exhausted: 503 Service Unavailable")),
        ),
    ];
    for (label, responder) in hostile {
        let mut harness = harness();
        match harness.run_with_input(input(), responder) {
            Ok(log) => {
                if let Err(problem) = log.check_one_outcome_per_row() {
                    panic!("compliance: plugin `{name}`: {label}: {problem}");
                }
                check_released_slots(name, label, &log);
            }
            Err(HarnessError::Planner {
                source: PlannerError::Plugin(_),
                ..
            }) => {
                if let Err(problem) = harness.log().check_no_stray_outcomes() {
                    panic!("compliance: plugin `{name}`: {label}, stopped by a plugin error: {problem}");
                }
            }
            Err(error) => panic!("compliance: plugin `{name}`: {label}: {error}"),
        }
    }
}

/// Only requests that took a slot are released, each at most once.
fn check_released_slots(name: &str, label: &str, log: &RunLog) {
    let slotted: BTreeSet<RequestId> = log
        .requests
        .iter()
        .filter(|r| !r.slot_class.is_empty())
        .map(|r| r.id)
        .collect();
    let mut released = BTreeSet::new();
    for &id in &log.released_slots {
        if !slotted.contains(&id) {
            panic!("compliance: plugin `{name}`: {label}: released the slot of request {id}, which took no slot");
        }
        if !released.insert(id) {
            panic!("compliance: plugin `{name}`: {label}: released the slot of request {id} twice");
        }
    }
}
