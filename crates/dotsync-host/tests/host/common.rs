//! A tiny fake destination ("items"), its planner, and helpers shared by the integration tests.
//!
//! The destination takes `POST /items` with a JSON array of `{email, age}` and answers
//! `{"rejected": [indices]}` for items whose email has no `@`. The planner sends one such request
//! per batch (taking an `item-slot` slot, released on the response), after a `GET /ping` read.

// `export_plugin!` gates the C entry symbol on a `cdylib` feature this test crate does not have.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow_array::{Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use dotsync_plugin_sdk::{
    BatchId, BatchKind, DestinationPlanner, Failure, FailureKind, Method, Millis, OutcomeBuilder, OutcomeStatus,
    PluginContext, PluginError, Poll, RequestId, RequestSpec, ResponseView,
};
use schemars::JsonSchema;
use serde::Deserialize;

/// How rows are written.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Create or update.
    Upsert,
    /// Update only.
    Update,
}

/// The type of a mapped field.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Text.
    String,
    /// A whole number.
    Number,
}

/// A field mapping.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldMap {
    /// Column name.
    pub name: String,
    /// Field type.
    #[serde(rename = "type")]
    pub kind: Kind,
}

/// The fake destination's config.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FakeConfig {
    /// How rows are written.
    pub mode: Mode,
    /// An API key (secret).
    #[serde(default)]
    #[schemars(extend("writeOnly" = true), length(min = 30))]
    pub api_key: Option<String>,
    /// Field mappings.
    #[serde(default)]
    pub fields: Vec<FieldMap>,
    /// Type of the `age` column: "int64" (default), "utf8", "any" (no cast) or "struct".
    #[serde(default)]
    pub age_type: Option<String>,
    /// An extra column the contract asks for.
    #[serde(default)]
    pub extra_column: Option<String>,
    /// Panic while a batch is pushed.
    #[serde(default)]
    pub panic_on_push: bool,
    /// Report row 0 of the first batch twice.
    #[serde(default)]
    pub duplicate_outcome: bool,
    /// Never report the last row of each batch.
    #[serde(default)]
    pub forget_last_row: bool,
    /// Send each write no earlier than this (ms on the planner's clock).
    #[serde(default)]
    pub not_before_ms: Option<u64>,
    /// Instead of writing, wait for a timer this long after finish, then skip every row.
    #[serde(default)]
    pub timer_ms: Option<u64>,
    /// Report a config error on the first response.
    #[serde(default)]
    pub config_error_on_response: bool,
    /// Ask for departed keys and delete them with `POST /items/delete`.
    #[serde(default)]
    pub mirror: bool,
    /// Writes are not idempotent (like enrolments); the planner names each request's rows.
    #[serde(default)]
    pub not_idempotent: bool,
    /// Ask that each key be sent at most once (like messages).
    #[serde(default)]
    pub send_once: bool,
    /// With each write, ask for a timer due at once whose work (a `GET /ping`) needs a request
    /// slot; fail when woken more than [`MAX_WAKES`] times for one such timer.
    #[serde(default)]
    pub wake_on_send: bool,
    /// Ask for the key pre-pass on sources of any size, fail on rows that come without it, and
    /// reject the second row of each key it names as repeating (`DuplicateKey`, its message
    /// counting the named keys).
    #[serde(default)]
    pub key_pre_pass: bool,
}

/// How often the fake stands being woken for one `wake_on_send` timer: the host may wake it once
/// when the timer is due and once more after each later event (a batch read, a response that
/// frees the slot), not in a loop. Two wakes were the usual count, but a batch read that lands
/// while the write is out makes a legitimate third (seen on a loaded machine); a host that
/// spins wakes the fake thousands of times, far above this bound.
pub const MAX_WAKES: u32 = 8;

struct Batch {
    id: BatchId,
    rows: u32,
    emails: Vec<Option<String>>,
    delete: bool,
    /// Rows whose key the pre-pass named as repeating and an earlier row had.
    repeats: Vec<u32>,
}

/// The fake's key hash (`DefaultHasher::new` is SipHash with fixed keys: the same in every run).
fn fake_key_hash(email: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    email.hash(&mut hasher);
    hasher.finish()
}

pub struct FakePlanner {
    config: FakeConfig,
    contract: SchemaRef,
    batches: HashMap<BatchId, Batch>,
    queue: VecDeque<BatchId>,
    in_flight: HashMap<RequestId, BatchId>,
    next_request: RequestId,
    ping_sent: bool,
    ping_done: bool,
    finished: bool,
    outcomes: OutcomeBuilder,
    released: VecDeque<RequestId>,
    timer: Option<Millis>,
    timer_fired: bool,
    /// `wake_on_send`: when the wake-up request is due, and how often the host woke the fake for it.
    wake_at: Option<Millis>,
    wakes: u32,
    first_batch_seen: bool,
    /// `key_pre_pass`: the repeating key hashes, and whether a row of each was seen.
    repeating: HashMap<u64, bool>,
    /// `key_pre_pass`: whether a repeated-keys batch came.
    pre_pass_seen: bool,
}

impl FakePlanner {
    fn finish_batch(&mut self, batch: &Batch, rejected: &[u32]) {
        let last = if self.config.forget_last_row {
            batch.rows.saturating_sub(1)
        } else {
            batch.rows
        };
        for row in 0..last {
            if batch.repeats.contains(&row) {
                self.outcomes.push(
                    batch.id,
                    row,
                    OutcomeStatus::Rejected,
                    "DuplicateKey",
                    &format!(
                        "one of the {} keys the pre-pass named, seen before",
                        self.repeating.len()
                    ),
                );
            } else if rejected.contains(&row) {
                let email = batch.emails[row as usize].clone().unwrap_or_default();
                self.outcomes.push(
                    batch.id,
                    row,
                    OutcomeStatus::Rejected,
                    "InvalidEmail",
                    &format!("{email:?} is not an email address"),
                );
            } else {
                self.outcomes.push(batch.id, row, OutcomeStatus::Delivered, "", "");
            }
        }
        if self.config.duplicate_outcome && batch.id == 1 {
            self.outcomes.push(batch.id, 0, OutcomeStatus::Delivered, "", "");
        }
    }
}

impl DestinationPlanner for FakePlanner {
    type Config = FakeConfig;

    fn new(config: FakeConfig, _context: PluginContext) -> Result<Self, PluginError> {
        let age = match config.age_type.as_deref().unwrap_or("int64") {
            "int64" => DataType::Int64,
            "utf8" => DataType::Utf8,
            "any" => DataType::Null,
            "struct" => DataType::Struct(Fields::from(vec![Field::new("x", DataType::Int64, true)])),
            other => return Err(PluginError::config(format!("age_type {other:?} is not supported"))),
        };
        let mut fields = vec![Field::new("email", DataType::Utf8, true), Field::new("age", age, true)];
        if let Some(extra) = &config.extra_column {
            fields.push(Field::new(extra, DataType::Null, true));
        }
        let mut metadata = HashMap::from([(dotsync_plugin_sdk::KEY_COLUMNS_METADATA.to_owned(), "email".to_owned())]);
        if config.mirror {
            metadata.insert(
                dotsync_plugin_sdk::DEPARTED_KEYS_METADATA.to_owned(),
                dotsync_plugin_sdk::DEPARTED_KEYS_DELETE.to_owned(),
            );
        }
        if config.key_pre_pass {
            metadata.insert(dotsync_plugin_sdk::KEY_PRE_PASS_METADATA.to_owned(), "0".to_owned());
        }
        if config.send_once {
            metadata.insert(
                dotsync_plugin_sdk::SEND_ONCE_METADATA.to_owned(),
                dotsync_plugin_sdk::SEND_ONCE_PER_KEY.to_owned(),
            );
        }
        let contract = Arc::new(Schema::new(fields).with_metadata(metadata));
        Ok(FakePlanner {
            config,
            contract,
            batches: HashMap::new(),
            queue: VecDeque::new(),
            in_flight: HashMap::new(),
            next_request: 1,
            ping_sent: false,
            ping_done: false,
            finished: false,
            outcomes: OutcomeBuilder::new(),
            released: VecDeque::new(),
            timer: None,
            timer_fired: false,
            wake_at: None,
            wakes: 0,
            first_batch_seen: false,
            repeating: HashMap::new(),
            pre_pass_seen: false,
        })
    }

    fn input_contract(&self) -> SchemaRef {
        self.contract.clone()
    }

    fn can_accept_batch(&self) -> bool {
        self.config.timer_ms.is_some() || self.queue.len() < 2
    }

    fn push_batch(&mut self, id: BatchId, kind: BatchKind, batch: RecordBatch) -> Result<(), PluginError> {
        if self.config.panic_on_push {
            panic!("the fake planner was told to panic");
        }
        if kind == BatchKind::RepeatedKeys {
            if self.first_batch_seen {
                return Err(PluginError::fatal("repeated keys after rows"));
            }
            let hashes = batch
                .column(0)
                .as_any()
                .downcast_ref::<arrow_array::UInt64Array>()
                .ok_or_else(|| PluginError::fatal("repeated keys are not UInt64"))?;
            self.repeating.extend(hashes.values().iter().map(|&hash| (hash, false)));
            self.pre_pass_seen = true;
            return Ok(());
        }
        if self.config.key_pre_pass && !self.pre_pass_seen {
            return Err(PluginError::fatal("rows came before the key pre-pass"));
        }
        self.first_batch_seen = true;
        let emails = batch
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| PluginError::fatal("email is not text"))?;
        if kind == BatchKind::Delete && batch.num_columns() != 1 {
            return Err(PluginError::fatal("a delete batch holds the key column only"));
        }
        if kind == BatchKind::Upsert && self.config.age_type.as_deref().unwrap_or("int64") == "int64" {
            let ages = batch.column(1).as_any().downcast_ref::<Int64Array>();
            if ages.is_none() {
                return Err(PluginError::fatal(format!(
                    "age arrived as {}",
                    batch.column(1).data_type()
                )));
            }
        }
        let emails: Vec<Option<String>> = (0..emails.len())
            .map(|i| emails.is_valid(i).then(|| emails.value(i).to_owned()))
            .collect();
        let mut repeats = Vec::new();
        for (row, email) in emails.iter().enumerate() {
            let seen = email
                .as_deref()
                .and_then(|email| self.repeating.get_mut(&fake_key_hash(email)));
            if let Some(seen) = seen
                && std::mem::replace(seen, true)
            {
                repeats.push(row as u32);
            }
        }
        self.batches.insert(
            id,
            Batch {
                id,
                rows: batch.num_rows() as u32,
                emails,
                delete: kind == BatchKind::Delete,
                repeats,
            },
        );
        self.queue.push_back(id);
        Ok(())
    }

    fn finish(&mut self) -> Result<(), PluginError> {
        self.finished = true;
        Ok(())
    }

    fn key_hashes(&mut self, batch: &RecordBatch) -> Result<Option<Vec<u64>>, PluginError> {
        if !self.config.key_pre_pass {
            return Ok(None);
        }
        let emails = batch
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| PluginError::fatal("email is not text"))?;
        Ok(Some(emails.iter().flatten().map(fake_key_hash).collect()))
    }

    fn poll_request(&mut self, now: Millis) -> Result<Poll<RequestSpec>, PluginError> {
        if let Some(ms) = self.config.timer_ms {
            if self.finished && self.timer.is_none() && !self.timer_fired {
                self.timer = Some(now + ms);
            }
            if self.timer_fired && self.outcomes.is_empty() {
                return Ok(Poll::Done);
            }
            return Ok(Poll::Pending);
        }
        if !self.ping_sent {
            self.ping_sent = true;
            let id = self.next_request;
            self.next_request += 1;
            return Ok(Poll::Ready(RequestSpec::get(id, "/ping", "low")));
        }
        if !self.ping_done {
            return Ok(Poll::Pending);
        }
        if self.wake_at.is_some_and(|at| now >= at) {
            self.wake_at = None;
            self.wakes = 0;
            let id = self.next_request;
            self.next_request += 1;
            return Ok(Poll::Ready(RequestSpec::get(id, "/ping", "low")));
        }
        if let Some(batch_id) = self.queue.pop_front() {
            if self.config.wake_on_send {
                self.wake_at = Some(now);
            }
            let batch = &self.batches[&batch_id];
            let body: Vec<serde_json::Value> = batch
                .emails
                .iter()
                .map(|email| serde_json::json!({ "email": email }))
                .collect();
            let id = self.next_request;
            self.next_request += 1;
            self.in_flight.insert(id, batch_id);
            let path = if batch.delete { "/items/delete" } else { "/items" };
            let mut spec = RequestSpec::write(
                id,
                Method::Post,
                path,
                serde_json::to_vec(&body).unwrap_or_default(),
                "normal",
            )
            .with_slot("item-slot");
            if self.config.not_idempotent {
                spec = spec.not_idempotent();
            }
            if let Some(at) = self.config.not_before_ms {
                spec = spec.not_before(at);
            }
            return Ok(Poll::Ready(spec));
        }
        if self.finished && self.in_flight.is_empty() && self.batches.is_empty() && self.wake_at.is_none() {
            return Ok(Poll::Done);
        }
        Ok(Poll::Pending)
    }

    fn handle_response(&mut self, id: RequestId, response: &ResponseView<'_>, _now: Millis) -> Result<(), PluginError> {
        if self.config.config_error_on_response {
            return Err(PluginError::config("list \"Newsletter\" does not exist"));
        }
        let Some(batch_id) = self.in_flight.remove(&id) else {
            self.ping_done = true;
            return Ok(());
        };
        self.released.push_back(id);
        let batch = self
            .batches
            .remove(&batch_id)
            .ok_or_else(|| PluginError::fatal("unknown batch"))?;
        if !response.is_success() {
            self.outcomes.push_all(
                batch.id,
                batch.rows,
                OutcomeStatus::Failed,
                "HttpError",
                &format!("HTTP {}", response.status),
            );
            return Ok(());
        }
        let body: serde_json::Value =
            serde_json::from_slice(response.body).map_err(|e| PluginError::fatal(format!("bad body: {e}")))?;
        let rejected: Vec<u32> = body["rejected"]
            .as_array()
            .map(|items| items.iter().filter_map(|v| v.as_u64()).map(|v| v as u32).collect())
            .unwrap_or_default();
        self.finish_batch(&batch, &rejected);
        Ok(())
    }

    fn handle_failure(&mut self, id: RequestId, failure: &Failure<'_>, _now: Millis) -> Result<(), PluginError> {
        let Some(batch_id) = self.in_flight.remove(&id) else {
            self.ping_done = true;
            return Ok(());
        };
        let batch = self
            .batches
            .remove(&batch_id)
            .ok_or_else(|| PluginError::fatal("unknown batch"))?;
        let (status, code) = match failure.kind {
            FailureKind::DryRun => (OutcomeStatus::Skipped, "DryRun"),
            FailureKind::Uncertain => (OutcomeStatus::Uncertain, "Uncertain"),
            _ => (OutcomeStatus::Failed, "SendFailed"),
        };
        self.outcomes
            .push_all(batch.id, batch.rows, status, code, failure.message);
        Ok(())
    }

    fn poll_outcomes(&mut self) -> Option<RecordBatch> {
        self.outcomes.finish()
    }

    fn poll_released_slot(&mut self) -> Option<RequestId> {
        self.released.pop_front()
    }

    fn request_rows(&self, id: RequestId) -> Option<Vec<(BatchId, u32)>> {
        if !self.config.not_idempotent {
            return None;
        }
        let batch = self.batches.get(self.in_flight.get(&id)?)?;
        Some((0..batch.rows).map(|row| (batch.id, row)).collect())
    }

    fn poll_timeout(&self) -> Option<Millis> {
        let timer = if self.timer_fired { None } else { self.timer };
        timer.into_iter().chain(self.wake_at).min()
    }

    fn handle_timeout(&mut self, now: Millis) -> Result<(), PluginError> {
        if self.wake_at.is_some_and(|at| now >= at) {
            self.wakes += 1;
            if self.wakes > MAX_WAKES {
                return Err(PluginError::fatal(format!(
                    "woken {} times for one timer while its request waited for a slot",
                    self.wakes
                )));
            }
        }
        if self.timer_fired || self.timer.is_none_or(|at| now < at) {
            return Ok(());
        }
        self.timer_fired = true;
        let ids: Vec<BatchId> = self.batches.keys().copied().collect();
        for id in ids {
            if let Some(batch) = self.batches.remove(&id) {
                self.outcomes.push_all(
                    id,
                    batch.rows,
                    OutcomeStatus::Skipped,
                    "Timer",
                    &format!("timer fired at {now}"),
                );
            }
        }
        self.queue.clear();
        Ok(())
    }
}

dotsync_plugin_sdk::export_plugin!(FakePlanner);

/// The fake plugin's descriptor under another name.
pub fn descriptor_named(name: &'static str) -> &'static dotsync_plugin_sdk::abi::PluginDescriptor {
    let base = plugin_descriptor();
    Box::leak(Box::new(dotsync_plugin_sdk::abi::PluginDescriptor {
        name: dotsync_plugin_sdk::abi::StrRef::new(name),
        ..*base
    }))
}

/// What the fake server saw.
#[derive(Default)]
pub struct ServerLog {
    pub pings: AtomicUsize,
    pub writes: AtomicUsize,
    pub auth_headers: std::sync::Mutex<Vec<String>>,
    /// Emails written, in order (one entry per item of every accepted write).
    pub written: std::sync::Mutex<Vec<String>>,
    /// Emails deleted, in order.
    pub deleted: std::sync::Mutex<Vec<String>>,
    /// The next this many write attempts answer 503.
    pub fail_writes: AtomicUsize,
}

/// Starts the fake destination on 127.0.0.1:0. With `status` set, every request gets it.
pub async fn start_server(status: Option<u16>) -> (String, Arc<ServerLog>) {
    use axum::Router;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{get, post};

    let log = Arc::new(ServerLog::default());
    type S = (Arc<ServerLog>, Option<u16>);

    fn forced(state: &S) -> Option<(StatusCode, String)> {
        state.1.map(|code| {
            (
                StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                "{}".to_owned(),
            )
        })
    }

    async fn ping(State(state): State<S>, headers: HeaderMap) -> (StatusCode, String) {
        state.0.pings.fetch_add(1, Ordering::SeqCst);
        if let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
            state.0.auth_headers.lock().unwrap().push(auth.to_owned());
        }
        forced(&state).unwrap_or((StatusCode::OK, "{}".to_owned()))
    }

    async fn items(State(state): State<S>, body: String) -> (StatusCode, String) {
        state.0.writes.fetch_add(1, Ordering::SeqCst);
        if let Some(forced) = forced(&state) {
            return forced;
        }
        let failing = state
            .0
            .fail_writes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if failing.is_ok() {
            return (StatusCode::SERVICE_UNAVAILABLE, "{}".to_owned());
        }
        let items: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap_or_default();
        state.0.written.lock().unwrap().extend(
            items
                .iter()
                .filter_map(|item| item["email"].as_str().map(str::to_owned)),
        );
        let rejected: Vec<usize> = items
            .iter()
            .enumerate()
            .filter(|(_, item)| !item["email"].as_str().is_some_and(|e| e.contains('@')))
            .map(|(i, _)| i)
            .collect();
        (StatusCode::OK, serde_json::json!({ "rejected": rejected }).to_string())
    }

    async fn delete(State(state): State<S>, body: String) -> (StatusCode, String) {
        let items: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap_or_default();
        state.0.deleted.lock().unwrap().extend(
            items
                .iter()
                .filter_map(|item| item["email"].as_str().map(str::to_owned)),
        );
        (StatusCode::OK, r#"{"rejected":[]}"#.to_owned())
    }

    let app = Router::new()
        .route("/ping", get(ping))
        .route("/items", post(items))
        .route("/items/delete", post(delete))
        .with_state((log.clone(), status));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{address}"), log)
}
