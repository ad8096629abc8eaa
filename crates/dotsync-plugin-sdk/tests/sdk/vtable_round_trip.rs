//! Round trips through the real vtable: a toy planner exported with `export_plugin!`, driven by
//! `LoadedPlugin::from_static` + `create` as a `ForeignPlanner`. Everything the host hands over must
//! reach the planner intact, and everything the planner hands back must reach the host intact.
//!
//! The toy records what it receives in a thread-local spy: a static plugin runs on the calling
//! thread, so each test sees only its own instance's calls.

use std::sync::Arc;

use arrow_array::builder::{Int32Builder, ListBuilder};
use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use dotsync_plugin_sdk::abi;
use dotsync_plugin_sdk::{
    BatchKind, DynPlanner, ErrorKind, Failure, FailureKind, ForeignPlanner, Header, LoadedPlugin, Method,
    OutcomeStatus, PlannerError, PluginContext, PluginError, PluginOrigin, Poll, ResponseView, RowOutcome, RunMode,
};

/// The toy planner: records every call, emits one fully populated request per batch, reports
/// outcomes for a batch when its request is answered, releases the request's slot, and keeps one
/// optional timer.
mod echo {
    use std::cell::RefCell;
    use std::collections::{BTreeMap, VecDeque};

    use arrow_array::RecordBatch;
    use arrow_schema::{DataType, Field, Schema, SchemaRef};
    use dotsync_plugin_sdk::{
        BatchId, BatchKind, DestinationPlanner, Failure, FailureKind, KEY_COLUMNS_METADATA, Method, Millis,
        OutcomeBuilder, OutcomeStatus, PluginContext, PluginError, Poll, RequestId, RequestSpec, ResponseView, RunMode,
    };
    use schemars::JsonSchema;
    use serde::Deserialize;

    /// Echo planner configuration.
    #[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct EchoConfig {
        /// Sent back in the `X-Label` header of every batch request.
        pub label: String,
        /// When set, `new` refuses the config with this message.
        #[serde(default)]
        pub refuse: Option<String>,
        /// How many batches the planner accepts before it answers `can_accept_batch` with false.
        #[serde(default = "default_max_batches")]
        pub max_batches: usize,
        /// When set, the planner asks for `handle_timeout` at this time.
        #[serde(default)]
        pub timeout_at: Option<u64>,
    }

    fn default_max_batches() -> usize {
        100
    }

    /// Everything the planner saw, in order.
    #[derive(Debug, Clone, PartialEq)]
    pub enum Seen {
        New {
            config: EchoConfig,
            sync_name: String,
            mode: RunMode,
        },
        Batch {
            id: BatchId,
            kind: BatchKind,
            batch: RecordBatch,
        },
        Finish,
        Response {
            id: RequestId,
            status: u16,
            headers: Vec<(String, String)>,
            body: Vec<u8>,
            now: Millis,
        },
        Failure {
            id: RequestId,
            kind: FailureKind,
            status: u16,
            message: String,
            now: Millis,
        },
        Timeout {
            now: Millis,
        },
        Dropped,
    }

    thread_local! {
        static SEEN: RefCell<Vec<Seen>> = const { RefCell::new(Vec::new()) };
    }

    fn record(seen: Seen) {
        SEEN.with(|log| log.borrow_mut().push(seen));
    }

    /// Takes what the planners on this thread saw so far.
    pub fn take_seen() -> Vec<Seen> {
        SEEN.with(|log| std::mem::take(&mut *log.borrow_mut()))
    }

    /// The request the planner emits for batch `batch_id` when polled at `now`: every field set to
    /// something a lossy bridge would get wrong.
    pub fn batch_request(batch_id: BatchId, label: &str, now: Millis) -> RequestSpec {
        const METHODS: [Method; 5] = [Method::Get, Method::Post, Method::Put, Method::Patch, Method::Delete];
        let mut body = vec![0u8, 0xff, 0xfe, b'{', b'"', 0xc3, 0x28];
        body.extend_from_slice(format!("batch {batch_id}").as_bytes());
        RequestSpec {
            id: batch_id * 10 + 1,
            method: METHODS[batch_id as usize % METHODS.len()],
            path: format!("/v2/batches/{batch_id}/rows?mode=upsert&q=a%20b&name=Zo%C3%AB"),
            headers: vec![
                ("X-Batch".to_owned(), batch_id.to_string()),
                ("X-Label".to_owned(), label.to_owned()),
                ("X-Empty".to_owned(), String::new()),
                ("X-Unicode".to_owned(), "žluťoučký kůň 🐴".to_owned()),
                ("X-Batch".to_owned(), "repeated".to_owned()),
            ],
            body: body.into(),
            rate_class: "high".to_owned(),
            slot_class: "contact-import".to_owned(),
            idempotent: batch_id.is_multiple_of(2),
            writes: !batch_id.is_multiple_of(3),
            not_before: Some(now + 1_000 + batch_id),
        }
    }

    /// The request the planner emits once after `finish`: all defaults.
    pub fn summary_request() -> RequestSpec {
        RequestSpec::get(999, "/v2/summary", "")
    }

    /// The outcome message for `row` of `batch_id` after a response.
    pub fn rejected_message(batch_id: BatchId, row: u32) -> String {
        format!("row {row} of batch {batch_id}: “quoted” ünïcödé")
    }

    pub struct Echo {
        label: String,
        max_batches: usize,
        timeout_at: Option<Millis>,
        pushed: usize,
        batch_rows: BTreeMap<BatchId, usize>,
        ready: VecDeque<BatchId>,
        in_flight: BTreeMap<RequestId, BatchId>,
        finished: bool,
        summary_sent: bool,
        summary_answered: bool,
        outcomes: OutcomeBuilder,
        released: VecDeque<RequestId>,
    }

    impl Drop for Echo {
        fn drop(&mut self) {
            record(Seen::Dropped);
        }
    }

    impl Echo {
        /// Outcomes for every row of the batch behind request `id`; releases its slot.
        fn settle(&mut self, id: RequestId, status: OutcomeStatus, code: &str, message: impl Fn(u32) -> String) {
            let Some(batch_id) = self.in_flight.remove(&id) else {
                return;
            };
            self.released.push_back(id);
            let rows = self.batch_rows[&batch_id] as u32;
            for row in 0..rows {
                if status == OutcomeStatus::Rejected && row == 0 {
                    self.outcomes.push(batch_id, row, OutcomeStatus::Delivered, "", "");
                } else {
                    self.outcomes.push(batch_id, row, status, code, &message(row));
                }
            }
        }
    }

    impl DestinationPlanner for Echo {
        type Config = EchoConfig;

        fn new(config: EchoConfig, context: PluginContext) -> Result<Self, PluginError> {
            record(Seen::New {
                config: config.clone(),
                sync_name: context.sync_name.clone(),
                mode: context.mode,
            });
            if let Some(message) = &config.refuse {
                return Err(PluginError::config(message.clone()));
            }
            Ok(Echo {
                label: config.label,
                max_batches: config.max_batches,
                timeout_at: config.timeout_at,
                pushed: 0,
                batch_rows: BTreeMap::new(),
                ready: VecDeque::new(),
                in_flight: BTreeMap::new(),
                finished: false,
                summary_sent: false,
                summary_answered: false,
                outcomes: OutcomeBuilder::new(),
                released: VecDeque::new(),
            })
        }

        fn input_contract(&self) -> SchemaRef {
            let schema = Schema::new(vec![
                Field::new("email", DataType::Utf8, false),
                Field::new("score", DataType::Float64, true),
                Field::new("anything", DataType::Null, true),
            ])
            .with_metadata([(KEY_COLUMNS_METADATA, "email")]);
            schema.into()
        }

        fn can_accept_batch(&self) -> bool {
            self.pushed < self.max_batches
        }

        fn push_batch(&mut self, id: BatchId, kind: BatchKind, batch: RecordBatch) -> Result<(), PluginError> {
            self.pushed += 1;
            self.batch_rows.insert(id, batch.num_rows());
            self.ready.push_back(id);
            record(Seen::Batch { id, kind, batch });
            Ok(())
        }

        fn finish(&mut self) -> Result<(), PluginError> {
            self.finished = true;
            record(Seen::Finish);
            Ok(())
        }

        fn poll_request(&mut self, now: Millis) -> Result<Poll<RequestSpec>, PluginError> {
            if let Some(batch_id) = self.ready.pop_front() {
                let request = batch_request(batch_id, &self.label, now);
                self.in_flight.insert(request.id, batch_id);
                return Ok(Poll::Ready(request));
            }
            if self.finished && !self.summary_sent {
                self.summary_sent = true;
                return Ok(Poll::Ready(summary_request()));
            }
            if self.finished && self.summary_answered && self.in_flight.is_empty() && self.timeout_at.is_none() {
                return Ok(Poll::Done);
            }
            Ok(Poll::Pending)
        }

        fn handle_response(
            &mut self,
            id: RequestId,
            response: &ResponseView<'_>,
            now: Millis,
        ) -> Result<(), PluginError> {
            record(Seen::Response {
                id,
                status: response.status,
                headers: response
                    .headers
                    .iter()
                    .map(|h| (h.name.to_owned(), h.value.to_owned()))
                    .collect(),
                body: response.body.to_vec(),
                now,
            });
            if id == summary_request().id {
                self.summary_answered = true;
                return Ok(());
            }
            let batch_id = self.in_flight.get(&id).copied().unwrap_or_default();
            self.settle(id, OutcomeStatus::Rejected, "Code42", |row| {
                rejected_message(batch_id, row)
            });
            Ok(())
        }

        fn handle_failure(&mut self, id: RequestId, failure: &Failure<'_>, now: Millis) -> Result<(), PluginError> {
            record(Seen::Failure {
                id,
                kind: failure.kind,
                status: failure.status,
                message: failure.message.to_owned(),
                now,
            });
            if id == summary_request().id {
                self.summary_answered = true;
                return Ok(());
            }
            let message = failure.message.to_owned();
            self.settle(id, OutcomeStatus::Failed, "HostGaveUp", |_| message.clone());
            Ok(())
        }

        fn poll_outcomes(&mut self) -> Option<RecordBatch> {
            self.outcomes.finish()
        }

        fn poll_released_slot(&mut self) -> Option<RequestId> {
            self.released.pop_front()
        }

        fn poll_timeout(&self) -> Option<Millis> {
            self.timeout_at
        }

        fn handle_timeout(&mut self, now: Millis) -> Result<(), PluginError> {
            record(Seen::Timeout { now });
            self.timeout_at = None;
            Ok(())
        }
    }

    dotsync_plugin_sdk::export_plugin!(Echo);
}

use echo::{EchoConfig, Seen, take_seen};

fn plugin() -> LoadedPlugin {
    LoadedPlugin::from_static(echo::plugin_descriptor()).expect("the echo descriptor is accepted")
}

fn context() -> PluginContext {
    PluginContext {
        sync_name: "nightly-contacts".to_owned(),
        mode: RunMode::Run,
    }
}

/// A fresh instance with the given config, with the spy emptied.
fn create(config: serde_json::Value) -> ForeignPlanner {
    let planner = plugin()
        .create(&config.to_string(), &context())
        .expect("the echo planner accepts the config");
    take_seen();
    planner
}

fn one_row_batch(value: i64) -> RecordBatch {
    RecordBatch::try_from_iter([("id", Arc::new(Int64Array::from(vec![value])) as ArrayRef)]).unwrap()
}

/// A batch with many column types, nulls, unicode, empty values and a list column.
fn rich_batch() -> RecordBatch {
    let mut tags = ListBuilder::new(Int32Builder::new());
    tags.append_value([Some(1), None, Some(3)]);
    tags.append_null();
    tags.append_value([]);
    tags.append_value([Some(i32::MIN), Some(i32::MAX)]);
    let tags = tags.finish();
    let tags_type = arrow_array::Array::data_type(&tags).clone();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("email", DataType::Utf8, true),
        Field::new("subscribed", DataType::Boolean, true),
        Field::new("score", DataType::Float64, true),
        Field::new(
            "updated_at",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        ),
        Field::new("born", DataType::Date32, true),
        Field::new("blob", DataType::Binary, true),
        Field::new("tags", tags_type, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![1, -2, i64::MAX, 0])),
        Arc::new(StringArray::from(vec![
            Some("a@example.com"),
            None,
            Some(""),
            Some("žofie@příklad.cz"),
        ])),
        Arc::new(BooleanArray::from(vec![Some(true), Some(false), None, Some(true)])),
        Arc::new(Float64Array::from(vec![Some(1.5), None, Some(-0.25), Some(1e300)])),
        Arc::new(
            TimestampMillisecondArray::from(vec![Some(1_700_000_000_123), None, Some(0), Some(-1)])
                .with_timezone("UTC"),
        ),
        Arc::new(Date32Array::from(vec![Some(19_000), Some(-1), None, Some(0)])),
        Arc::new(BinaryArray::from(vec![
            Some(&[0u8, 255, 1][..]),
            None,
            Some(&[][..]),
            Some(&b"bytes"[..]),
        ])),
        Arc::new(tags),
    ];
    RecordBatch::try_new(schema, columns).unwrap()
}

#[test]
fn the_descriptor_is_accepted_and_describes_the_plugin() {
    let plugin = plugin();
    assert_eq!(plugin.name(), "dotsync-plugin-sdk");
    assert_eq!(plugin.version(), env!("CARGO_PKG_VERSION"));
    assert_eq!(plugin.abi_version(), abi::ABI_VERSION);
    assert_eq!(plugin.origin(), &PluginOrigin::Static);
    assert!(
        plugin.build_info().contains("dotsync-plugin-sdk"),
        "{}",
        plugin.build_info()
    );
    let schema: serde_json::Value =
        serde_json::from_str(plugin.config_schema_json()).expect("the embedded config schema is JSON");
    assert_eq!(
        schema["properties"]["label"]["description"],
        "Sent back in the `X-Label` header of every batch request."
    );
    assert_eq!(schema["required"], serde_json::json!(["label"]));
    assert_eq!(schema["additionalProperties"], false);
}

#[test]
fn config_json_and_context_reach_new() {
    let context = PluginContext {
        sync_name: "weekly – ünïcode".to_owned(),
        mode: RunMode::Plan,
    };
    let config = serde_json::json!({ "label": "l\"abel ✓", "max_batches": 7, "timeout_at": 123 });
    let _planner = plugin().create(&config.to_string(), &context).expect("created");
    assert_eq!(
        take_seen(),
        vec![Seen::New {
            config: EchoConfig {
                label: "l\"abel ✓".to_owned(),
                refuse: None,
                max_batches: 7,
                timeout_at: Some(123),
            },
            sync_name: "weekly – ünïcode".to_owned(),
            mode: RunMode::Plan,
        }]
    );
}

#[test]
fn a_config_error_from_new_comes_back_as_a_config_error() {
    let config = serde_json::json!({ "label": "x", "refuse": "address book 42 does not exist" });
    let error = plugin()
        .create(&config.to_string(), &context())
        .err()
        .expect("new refuses the config");
    assert_eq!(
        error,
        PlannerError::Plugin(PluginError {
            kind: ErrorKind::Config,
            message: "address book 42 does not exist".to_owned(),
        })
    );
    assert_eq!(error.to_string(), "address book 42 does not exist");
}

#[test]
fn config_that_does_not_deserialise_is_a_config_error() {
    let config = serde_json::json!({ "label": "x", "colour": "blue" });
    let error = plugin().create(&config.to_string(), &context()).err().expect("refused");
    let PlannerError::Plugin(PluginError { kind, message }) = error else {
        panic!("expected a plugin error, got {error:?}");
    };
    assert_eq!(kind, ErrorKind::Config);
    assert!(message.contains("invalid plugin config"), "{message}");
    assert!(message.contains("unknown field `colour`"), "{message}");
    // `new` was never reached.
    assert_eq!(take_seen(), vec![]);
}

#[test]
fn batches_arrive_intact() {
    let mut planner = create(serde_json::json!({ "label": "x" }));
    let rich = rich_batch();
    let sliced = rich.slice(1, 2);
    let deletes = RecordBatch::try_from_iter([(
        "email",
        Arc::new(StringArray::from(vec!["gone@example.com", "left@example.com"])) as ArrayRef,
    )])
    .unwrap();
    let empty = rich.slice(0, 0);
    planner.push_batch(1, BatchKind::Upsert, rich.clone()).unwrap();
    planner.push_batch(2, BatchKind::Upsert, sliced.clone()).unwrap();
    planner.push_batch(3, BatchKind::Delete, deletes.clone()).unwrap();
    planner.push_batch(u64::MAX, BatchKind::Upsert, empty.clone()).unwrap();
    let seen = take_seen();
    let expected = vec![
        Seen::Batch {
            id: 1,
            kind: BatchKind::Upsert,
            batch: rich,
        },
        Seen::Batch {
            id: 2,
            kind: BatchKind::Upsert,
            batch: sliced,
        },
        Seen::Batch {
            id: 3,
            kind: BatchKind::Delete,
            batch: deletes,
        },
        Seen::Batch {
            id: u64::MAX,
            kind: BatchKind::Upsert,
            batch: empty,
        },
    ];
    assert_eq!(seen.len(), expected.len());
    for (seen, expected) in seen.iter().zip(&expected) {
        assert_eq!(seen, expected);
    }
    // Nullability and the null counts survive the trip too.
    let Seen::Batch { batch, .. } = &seen[0] else {
        unreachable!()
    };
    assert!(!batch.schema().field(0).is_nullable());
    assert_eq!(batch.column(1).null_count(), 1);
    assert_eq!(batch.column(7).null_count(), 1);
}

#[test]
fn requests_come_back_with_every_field_intact() {
    let mut planner = create(serde_json::json!({ "label": "Zoë's label" }));
    for id in 1..=6 {
        planner
            .push_batch(id, BatchKind::Upsert, one_row_batch(id as i64))
            .unwrap();
    }
    let mut requests = Vec::new();
    for id in 1..=6u64 {
        let now = 7_000 + id * 3;
        match planner.poll_request(now).unwrap() {
            Poll::Ready(request) => requests.push((request, echo::batch_request(id, "Zoë's label", now))),
            other => panic!("expected request for batch {id}, got {other:?}"),
        }
    }
    for (got, expected) in &requests {
        assert_eq!(got, expected);
    }
    // Every method, both flags in every combination, and non-UTF-8 bodies were exercised.
    let methods: std::collections::BTreeSet<_> = requests.iter().map(|(r, _)| r.method.as_str()).collect();
    assert_eq!(methods.len(), 5, "{methods:?}");
    assert!(requests.iter().any(|(r, _)| r.idempotent && r.writes));
    assert!(requests.iter().any(|(r, _)| !r.idempotent && !r.writes));
    assert_eq!(requests[0].0.not_before, Some(7_003 + 1_000 + 1));
    assert_eq!(planner.poll_request(8_000).unwrap(), Poll::Pending);

    // A request with every field at its default comes back with the defaults.
    planner.finish().unwrap();
    let Poll::Ready(summary) = planner.poll_request(9_000).unwrap() else {
        panic!("expected the summary request");
    };
    assert_eq!(summary, echo::summary_request());
    assert!(summary.headers.is_empty() && summary.body.is_empty() && summary.slot_class.is_empty());
    assert_eq!(summary.not_before, None);
    assert!(summary.idempotent && !summary.writes);
    assert_eq!(summary.method, Method::Get);
}

#[test]
fn responses_and_failures_reach_the_plugin_intact() {
    let mut planner = create(serde_json::json!({ "label": "x" }));
    for id in 1..=6 {
        planner.push_batch(id, BatchKind::Upsert, one_row_batch(1)).unwrap();
    }
    while let Poll::Ready(_) = planner.poll_request(0).unwrap() {}
    take_seen();

    let body = [0u8, 0xff, b'<', b'h', b'i', b'>', 0xc3];
    let headers = [
        Header {
            name: "Content-Type",
            value: "application/json; charset=utf-8",
        },
        Header {
            name: "X-Empty",
            value: "",
        },
        Header {
            name: "x-ünïcode",
            value: "✓ ok",
        },
        Header {
            name: "Set-Cookie",
            value: "a=1",
        },
        Header {
            name: "Set-Cookie",
            value: "b=2",
        },
    ];
    let response = ResponseView {
        status: 207,
        headers: &headers,
        body: &body,
    };
    planner.handle_response(11, &response, 12_345).unwrap();
    planner
        .handle_response(
            21,
            &ResponseView {
                status: 599,
                headers: &[],
                body: &[],
            },
            u64::MAX,
        )
        .unwrap();
    let kinds = [
        FailureKind::NotSent,
        FailureKind::Uncertain,
        FailureKind::Exhausted,
        FailureKind::DryRun,
    ];
    for (i, kind) in kinds.into_iter().enumerate() {
        let id = 31 + 10 * i as u64;
        let failure = Failure {
            kind,
            status: 500 + i as u16,
            message: "gave up after 5 tries: “503 Service Unavailable”",
        };
        planner.handle_failure(id, &failure, 20_000 + i as u64).unwrap();
    }

    let mut expected = vec![
        Seen::Response {
            id: 11,
            status: 207,
            headers: headers
                .iter()
                .map(|h| (h.name.to_owned(), h.value.to_owned()))
                .collect(),
            body: body.to_vec(),
            now: 12_345,
        },
        Seen::Response {
            id: 21,
            status: 599,
            headers: vec![],
            body: vec![],
            now: u64::MAX,
        },
    ];
    for (i, kind) in kinds.into_iter().enumerate() {
        expected.push(Seen::Failure {
            id: 31 + 10 * i as u64,
            kind,
            status: 500 + i as u16,
            message: "gave up after 5 tries: “503 Service Unavailable”".to_owned(),
            now: 20_000 + i as u64,
        });
    }
    assert_eq!(take_seen(), expected);

    // The last kind, with status 0 ("no status seen").
    planner.finish().unwrap();
    let Poll::Ready(summary) = planner.poll_request(0).unwrap() else {
        panic!("expected the summary request");
    };
    let failure = Failure {
        kind: FailureKind::Cancelled,
        status: 0,
        message: "",
    };
    planner.handle_failure(summary.id, &failure, 1).unwrap();
    assert_eq!(
        take_seen(),
        vec![
            Seen::Finish,
            Seen::Failure {
                id: 999,
                kind: FailureKind::Cancelled,
                status: 0,
                message: String::new(),
                now: 1,
            }
        ]
    );
}

#[test]
fn outcomes_and_released_slots_come_back() {
    let mut planner = create(serde_json::json!({ "label": "x" }));
    planner.push_batch(4, BatchKind::Upsert, rich_batch()).unwrap();
    planner.push_batch(9, BatchKind::Delete, one_row_batch(1)).unwrap();
    assert!(matches!(planner.poll_request(0).unwrap(), Poll::Ready(r) if r.id == 41));
    assert!(matches!(planner.poll_request(0).unwrap(), Poll::Ready(r) if r.id == 91));
    assert_eq!(planner.poll_outcomes().unwrap(), None, "nothing answered yet");
    assert_eq!(planner.poll_released_slot().unwrap(), None);

    let ok = ResponseView {
        status: 200,
        headers: &[],
        body: b"{}",
    };
    planner.handle_response(41, &ok, 5).unwrap();
    let failure = Failure {
        kind: FailureKind::Exhausted,
        status: 503,
        message: "retries exhausted",
    };
    planner.handle_failure(91, &failure, 6).unwrap();

    let outcomes = planner.poll_outcomes().unwrap().expect("one outcome batch");
    let mut expected = vec![RowOutcome::delivered(4, 0)];
    for row in 1..4 {
        expected.push(RowOutcome::new(
            4,
            row,
            OutcomeStatus::Rejected,
            "Code42",
            echo::rejected_message(4, row),
        ));
    }
    expected.push(RowOutcome::new(
        9,
        0,
        OutcomeStatus::Failed,
        "HostGaveUp",
        "retries exhausted",
    ));
    assert_eq!(outcomes, expected);
    assert_eq!(planner.poll_outcomes().unwrap(), None, "drained");

    assert_eq!(planner.poll_released_slot().unwrap(), Some(41));
    assert_eq!(planner.poll_released_slot().unwrap(), Some(91));
    assert_eq!(planner.poll_released_slot().unwrap(), None);
}

#[test]
fn timeouts_pass_through() {
    let mut planner = create(serde_json::json!({ "label": "x", "timeout_at": 5_000 }));
    assert_eq!(planner.poll_timeout().unwrap(), Some(5_000));
    assert_eq!(
        planner.poll_timeout().unwrap(),
        Some(5_000),
        "polling does not consume it"
    );
    planner.handle_timeout(5_003).unwrap();
    assert_eq!(take_seen(), vec![Seen::Timeout { now: 5_003 }]);
    assert_eq!(planner.poll_timeout().unwrap(), None);

    let mut planner = create(serde_json::json!({ "label": "x", "timeout_at": u64::MAX }));
    assert_eq!(planner.poll_timeout().unwrap(), Some(u64::MAX));
    let mut planner = create(serde_json::json!({ "label": "x" }));
    assert_eq!(planner.poll_timeout().unwrap(), None);
}

#[test]
fn can_accept_batch_passes_through() {
    let mut planner = create(serde_json::json!({ "label": "x", "max_batches": 2 }));
    assert!(planner.can_accept_batch().unwrap());
    planner.push_batch(1, BatchKind::Upsert, one_row_batch(1)).unwrap();
    assert!(planner.can_accept_batch().unwrap());
    planner.push_batch(2, BatchKind::Upsert, one_row_batch(2)).unwrap();
    assert!(!planner.can_accept_batch().unwrap());
}

#[test]
fn the_input_contract_comes_back_with_its_metadata() {
    let planner = create(serde_json::json!({ "label": "x" }));
    let contract = planner.input_contract().unwrap();
    assert_eq!(
        contract.fields().iter().map(|f| f.as_ref().clone()).collect::<Vec<_>>(),
        vec![
            Field::new("email", DataType::Utf8, false),
            Field::new("score", DataType::Float64, true),
            Field::new("anything", DataType::Null, true),
        ]
    );
    assert_eq!(
        contract
            .metadata()
            .get(dotsync_plugin_sdk::KEY_COLUMNS_METADATA)
            .map(String::as_str),
        Some("email")
    );
}

#[test]
fn a_run_ends_with_done_and_dropping_the_planner_destroys_the_instance() {
    let mut planner = create(serde_json::json!({ "label": "x", "timeout_at": 10 }));
    planner.push_batch(1, BatchKind::Upsert, one_row_batch(1)).unwrap();
    planner.finish().unwrap();
    let Poll::Ready(first) = planner.poll_request(0).unwrap() else {
        panic!("expected a request")
    };
    let Poll::Ready(summary) = planner.poll_request(0).unwrap() else {
        panic!("expected the summary")
    };
    let ok = ResponseView {
        status: 200,
        headers: &[],
        body: &[],
    };
    planner.handle_response(first.id, &ok, 1).unwrap();
    planner.handle_response(summary.id, &ok, 2).unwrap();
    assert_eq!(
        planner.poll_request(3).unwrap(),
        Poll::Pending,
        "the timer is still armed"
    );
    planner.handle_timeout(10).unwrap();
    assert_eq!(planner.poll_request(11).unwrap(), Poll::Done);
    assert_eq!(planner.poll_request(12).unwrap(), Poll::Done);
    take_seen();
    drop(planner);
    assert_eq!(take_seen(), vec![Seen::Dropped]);
}

#[test]
fn instances_are_independent() {
    let mut a = create(serde_json::json!({ "label": "a", "max_batches": 1 }));
    let mut b = create(serde_json::json!({ "label": "b", "max_batches": 1 }));
    a.push_batch(1, BatchKind::Upsert, one_row_batch(1)).unwrap();
    assert!(!a.can_accept_batch().unwrap());
    assert!(b.can_accept_batch().unwrap());
    b.push_batch(1, BatchKind::Upsert, one_row_batch(1)).unwrap();
    let Poll::Ready(from_a) = a.poll_request(0).unwrap() else {
        panic!()
    };
    let Poll::Ready(from_b) = b.poll_request(0).unwrap() else {
        panic!()
    };
    assert_eq!(from_a.headers[1], ("X-Label".to_owned(), "a".to_owned()));
    assert_eq!(from_b.headers[1], ("X-Label".to_owned(), "b".to_owned()));
}
