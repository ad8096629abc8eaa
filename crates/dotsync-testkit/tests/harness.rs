//! The testkit tested with toy plugins: the harness drives them faithfully, and `assert_compliance`
//! passes a correct plugin and catches broken ones.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use dotsync_testkit::{
    BatchKind, Canned, ComplianceCase, FailureKind, Harness, HarnessError, OutcomeStatus, PlannerError, PluginContext,
    RequestSpec, RowOutcome, RunMode, assert_compliance,
};
use serde_json::json;

/// A toy destination: one import request per batch (taking an `import` slot, released when
/// answered), then, after `finish`, a status check fired by a timer 5 s later. Its `mode` breaks
/// it in the ways the compliance checks must catch.
mod toy {
    use std::collections::{BTreeMap, VecDeque};

    use arrow_array::{Array, RecordBatch, StringArray};
    use arrow_schema::{DataType, Field, Schema, SchemaRef};
    use dotsync_plugin_sdk::{
        BatchId, BatchKind, DestinationPlanner, Failure, KEY_COLUMNS_METADATA, Method, Millis, OutcomeBuilder,
        OutcomeStatus, PluginContext, PluginError, Poll, RequestId, RequestSpec, ResponseView,
    };
    use schemars::JsonSchema;
    use serde::Deserialize;

    fn example_config() -> serde_json::Value {
        serde_json::json!({ "list_id": 7 })
    }

    /// Toy destination configuration.
    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[schemars(example = example_config())]
    pub struct ToyConfig {
        /// The list rows are imported into.
        #[schemars(range(min = 1))]
        pub list_id: u64,
        /// How the toy misbehaves: `correct`, `drop_one`, `duplicate`, `out_of_range`,
        /// `panic_on_html`, `fatal_on_error`, `stall` or `forever`.
        #[serde(default = "default_mode")]
        pub mode: String,
        /// Batches accepted at once before `can_accept_batch` turns false.
        #[serde(default = "default_window")]
        pub window: usize,
    }

    fn default_mode() -> String {
        "correct".to_owned()
    }

    fn default_window() -> usize {
        2
    }

    pub struct Toy {
        mode: String,
        list_id: u64,
        window: usize,
        batches: BTreeMap<BatchId, RecordBatch>,
        queued: VecDeque<BatchId>,
        in_flight: BTreeMap<RequestId, BatchId>,
        outcomes: OutcomeBuilder,
        released: VecDeque<RequestId>,
        finished: bool,
        status_timer: Option<Millis>,
        status_queued: bool,
        status_in_flight: bool,
        status_checked: bool,
    }

    pub const STATUS_REQUEST: RequestId = 1_000_000;

    impl Toy {
        fn settle(&mut self, id: RequestId, status: OutcomeStatus, code: &str, message: &str) {
            let Some(batch_id) = self.in_flight.remove(&id) else {
                return;
            };
            self.released.push_back(id);
            let batch = self.batches.remove(&batch_id).expect("known batch");
            let emails = batch
                .column_by_name("email")
                .and_then(|c| c.as_any().downcast_ref::<StringArray>().cloned());
            let all = batch.num_rows() as u32;
            let rows = if self.mode == "drop_one" {
                all.saturating_sub(1)
            } else {
                all
            };
            for row in 0..rows {
                let invalid = emails.as_ref().is_some_and(|e| e.is_null(row as usize));
                if status == OutcomeStatus::Delivered && invalid {
                    self.outcomes
                        .push(batch_id, row, OutcomeStatus::Rejected, "NoEmail", "email is null");
                } else {
                    self.outcomes.push(batch_id, row, status, code, message);
                }
            }
            if self.mode == "duplicate" && all > 0 {
                self.outcomes.push(batch_id, 0, OutcomeStatus::Delivered, "", "");
            }
            if self.mode == "out_of_range" && all > 0 {
                self.outcomes.push(batch_id, all, OutcomeStatus::Delivered, "", "");
            }
        }
    }

    impl DestinationPlanner for Toy {
        type Config = ToyConfig;

        fn new(config: ToyConfig, _context: PluginContext) -> Result<Self, PluginError> {
            if config.list_id == 404 {
                return Err(PluginError::config("list 404 does not exist"));
            }
            Ok(Toy {
                mode: config.mode,
                list_id: config.list_id,
                window: config.window,
                batches: BTreeMap::new(),
                queued: VecDeque::new(),
                in_flight: BTreeMap::new(),
                outcomes: OutcomeBuilder::new(),
                released: VecDeque::new(),
                finished: false,
                status_timer: None,
                status_queued: false,
                status_in_flight: false,
                status_checked: false,
            })
        }

        fn input_contract(&self) -> SchemaRef {
            Schema::new(vec![
                Field::new("id", DataType::Int64, false),
                Field::new("email", DataType::Utf8, true),
                Field::new("extra", DataType::Null, true),
            ])
            .with_metadata([(KEY_COLUMNS_METADATA, "id")])
            .into()
        }

        fn can_accept_batch(&self) -> bool {
            self.batches.len() < self.window
        }

        fn push_batch(&mut self, id: BatchId, _kind: BatchKind, batch: RecordBatch) -> Result<(), PluginError> {
            self.batches.insert(id, batch);
            self.queued.push_back(id);
            Ok(())
        }

        fn finish(&mut self) -> Result<(), PluginError> {
            self.finished = true;
            Ok(())
        }

        fn poll_request(&mut self, now: Millis) -> Result<Poll<RequestSpec>, PluginError> {
            if let Some(batch_id) = self.queued.pop_front() {
                let id = batch_id * 10;
                self.in_flight.insert(id, batch_id);
                let body = format!("{{\"list\":{},\"batch\":{batch_id}}}", self.list_id).into_bytes();
                let request = RequestSpec::write(id, Method::Post, "/imports", body, "low").with_slot("import");
                return Ok(Poll::Ready(request));
            }
            if self.status_queued {
                self.status_queued = false;
                self.status_in_flight = true;
                return Ok(Poll::Ready(RequestSpec::get(STATUS_REQUEST, "/imports/status", "low")));
            }
            if self.finished && self.in_flight.is_empty() && self.batches.is_empty() {
                if self.mode == "stall" {
                    return Ok(Poll::Pending);
                }
                if !self.status_checked && !self.status_in_flight && !self.status_queued && self.status_timer.is_none()
                {
                    self.status_timer = Some(now + 5_000);
                }
                if self.status_checked && self.mode != "forever" {
                    return Ok(Poll::Done);
                }
            }
            Ok(Poll::Pending)
        }

        fn handle_response(
            &mut self,
            id: RequestId,
            response: &ResponseView<'_>,
            _now: Millis,
        ) -> Result<(), PluginError> {
            if self.mode == "panic_on_html" {
                // The classic bug: trusting the body to be JSON.
                let _: serde_json::Value = serde_json::from_slice(response.body).unwrap();
            }
            if id == STATUS_REQUEST {
                self.status_in_flight = false;
                self.status_checked = true;
                if self.mode == "forever" {
                    self.status_checked = false;
                }
                return Ok(());
            }
            if self.mode == "fatal_on_error" && !response.is_success() {
                return Err(PluginError::fatal(format!(
                    "destination is down: HTTP {}",
                    response.status
                )));
            }
            if response.is_success() {
                self.settle(id, OutcomeStatus::Delivered, "", "");
            } else {
                let message = format!("HTTP {}", response.status);
                self.settle(id, OutcomeStatus::Failed, "HttpError", &message);
            }
            Ok(())
        }

        fn handle_failure(&mut self, id: RequestId, failure: &Failure<'_>, _now: Millis) -> Result<(), PluginError> {
            if id == STATUS_REQUEST {
                self.status_in_flight = false;
                self.status_checked = true;
                return Ok(());
            }
            if self.mode == "fatal_on_error" {
                return Err(PluginError::fatal(format!("destination is down: {}", failure.message)));
            }
            let code = format!("{:?}", failure.kind);
            self.settle(id, OutcomeStatus::Failed, &code, failure.message);
            Ok(())
        }

        fn poll_outcomes(&mut self) -> Option<RecordBatch> {
            self.outcomes.finish()
        }

        fn poll_released_slot(&mut self) -> Option<RequestId> {
            self.released.pop_front()
        }

        fn poll_timeout(&self) -> Option<Millis> {
            self.status_timer
        }

        fn handle_timeout(&mut self, _now: Millis) -> Result<(), PluginError> {
            self.status_timer = None;
            // The status check goes out with the next poll.
            self.status_queued = true;
            Ok(())
        }
    }

    dotsync_plugin_sdk::export_plugin!(Toy);
}

/// A plugin whose config has an undocumented field.
mod undocumented {
    use arrow_array::RecordBatch;
    use arrow_schema::{Schema, SchemaRef};
    use dotsync_plugin_sdk::{
        BatchId, BatchKind, DestinationPlanner, Failure, Millis, PluginContext, PluginError, Poll, RequestId,
        RequestSpec, ResponseView,
    };
    use schemars::JsonSchema;
    use serde::Deserialize;

    /// Undocumented configuration.
    #[derive(Deserialize, JsonSchema)]
    pub struct Config {
        /// Documented.
        pub documented: Option<u32>,
        pub secret_knob: Option<u32>,
    }

    pub struct Undocumented;

    impl DestinationPlanner for Undocumented {
        type Config = Config;

        fn new(config: Config, _: PluginContext) -> Result<Self, PluginError> {
            let _knobs = (config.documented, config.secret_knob);
            Ok(Undocumented)
        }

        fn input_contract(&self) -> SchemaRef {
            Schema::empty().into()
        }

        fn can_accept_batch(&self) -> bool {
            true
        }

        fn push_batch(&mut self, _: BatchId, _: BatchKind, _: RecordBatch) -> Result<(), PluginError> {
            Ok(())
        }

        fn finish(&mut self) -> Result<(), PluginError> {
            Ok(())
        }

        fn poll_request(&mut self, _: Millis) -> Result<Poll<RequestSpec>, PluginError> {
            Ok(Poll::Done)
        }

        fn handle_response(&mut self, _: RequestId, _: &ResponseView<'_>, _: Millis) -> Result<(), PluginError> {
            Ok(())
        }

        fn handle_failure(&mut self, _: RequestId, _: &Failure<'_>, _: Millis) -> Result<(), PluginError> {
            Ok(())
        }

        fn poll_outcomes(&mut self) -> Option<RecordBatch> {
            None
        }
    }

    dotsync_plugin_sdk::export_plugin!(Undocumented);
}

fn batch(ids: &[i64], emails: &[Option<&str>]) -> RecordBatch {
    RecordBatch::try_from_iter([
        ("id", Arc::new(Int64Array::from(ids.to_vec())) as ArrayRef),
        ("email", Arc::new(StringArray::from(emails.to_vec())) as ArrayRef),
    ])
    .unwrap()
}

fn sample() -> Vec<RecordBatch> {
    vec![
        batch(&[1, 2, 3], &[Some("a@example.com"), None, Some("c@example.com")]),
        batch(&[4], &[Some("d@example.com")]),
        batch(&[], &[]),
        batch(&[5, 6], &[Some("e@example.com"), Some("f@example.com")]),
    ]
}

fn ok_responder(request: &RequestSpec) -> Canned {
    if request.path == "/imports" {
        Canned::json(201, json!({ "id": request.id }))
    } else {
        Canned::json(200, json!({ "status": "Finished" }))
    }
}

fn case(mode: &str) -> ComplianceCase {
    ComplianceCase {
        descriptor: toy::plugin_descriptor(),
        valid_configs: vec![
            json!({ "list_id": 9, "mode": mode }),
            json!({ "list_id": 1, "window": 1 }),
        ],
        invalid_configs: vec![
            (json!({ "list_id": 9, "colour": "blue" }), "colour"),
            (json!({ "list_id": 0 }), "minimum of 1"),
            (json!({}), "list_id"),
            (json!({ "list_id": 404 }), "list 404 does not exist"),
        ],
        batches: sample(),
        responder: Box::new(ok_responder),
    }
}

fn harness(config: serde_json::Value) -> Harness {
    Harness::new(toy::plugin_descriptor(), config, PluginContext::default()).expect("created")
}

#[test]
fn a_correct_plugin_passes_compliance() {
    assert_compliance(case("correct"));
}

/// A plugin may stop the run with an error when the destination is down: the host reports the
/// remaining rows itself.
#[test]
fn a_plugin_that_stops_on_a_hostile_destination_with_an_error_passes() {
    assert_compliance(case("fatal_on_error"));
}

#[test]
#[should_panic(expected = "sample run: missing outcome for batch 1 row 2")]
fn a_plugin_that_drops_an_outcome_is_caught() {
    assert_compliance(case("drop_one"));
}

#[test]
#[should_panic(expected = "sample run: duplicate outcome for batch 1 row 0")]
fn a_plugin_that_duplicates_an_outcome_is_caught() {
    assert_compliance(case("duplicate"));
}

#[test]
#[should_panic(expected = "sample run: outcome for batch 1 row 3, a row outside the batch (it has 3 rows)")]
fn a_plugin_that_reports_a_row_outside_its_batch_is_caught() {
    assert_compliance(case("out_of_range"));
}

#[test]
#[should_panic(
    expected = "hostile run (every request answered 500 with HTML): `handle_response` failed at virtual time 0 ms: plugin `dotsync-testkit` panicked"
)]
fn a_plugin_that_panics_on_an_html_body_is_caught() {
    assert_compliance(case("panic_on_html"));
}

#[test]
#[should_panic(expected = "the sample run failed: the run stalled before Done")]
fn a_plugin_that_never_finishes_is_caught() {
    assert_compliance(case("stall"));
}

#[test]
#[should_panic(expected = "config field `secret_knob` has no description")]
fn an_undocumented_config_field_is_caught() {
    assert_compliance(ComplianceCase {
        descriptor: undocumented::plugin_descriptor(),
        valid_configs: vec![json!({})],
        invalid_configs: vec![],
        batches: vec![],
        responder: Box::new(|_| Canned::status(200)),
    });
}

#[test]
#[should_panic(expected = "invalid config #0 {\"list_id\":3} was accepted by the schema and by create")]
fn an_invalid_config_that_is_accepted_is_caught() {
    let mut case = case("correct");
    case.invalid_configs = vec![(json!({ "list_id": 3 }), "anything")];
    assert_compliance(case);
}

#[test]
#[should_panic(expected = "does not contain `no such fragment`")]
fn a_refusal_without_the_expected_fragment_is_caught() {
    let mut case = case("correct");
    case.invalid_configs = vec![(json!({ "list_id": 404 }), "no such fragment")];
    assert_compliance(case);
}

#[test]
#[should_panic(
    expected = "valid config #2 {\"list_id\":\"seven\"} does not validate against the config schema: /list_id"
)]
fn a_valid_config_that_does_not_validate_is_caught() {
    let mut case = case("correct");
    case.valid_configs.push(json!({ "list_id": "seven" }));
    assert_compliance(case);
}

#[test]
#[should_panic(expected = "sample batch #0 lacks column `id` of the input contract")]
fn sample_batches_that_miss_a_contract_column_are_caught() {
    let mut case = case("correct");
    case.batches =
        vec![RecordBatch::try_from_iter([("email", Arc::new(StringArray::from(vec!["a@b.c"])) as ArrayRef)]).unwrap()];
    assert_compliance(case);
}

#[test]
fn the_harness_refuses_a_config_the_schema_refuses() {
    let error = Harness::new(
        toy::plugin_descriptor(),
        json!({ "list_id": "x" }),
        PluginContext::default(),
    )
    .expect_err("refused");
    let PlannerError::Plugin(error) = error else {
        panic!("expected a config error, got {error:?}")
    };
    assert_eq!(error.kind, dotsync_testkit::sdk::ErrorKind::Config);
    assert!(error.message.contains("/list_id"), "{}", error.message);
    // A config only `new` refuses comes back from `new`.
    let error = Harness::new(
        toy::plugin_descriptor(),
        json!({ "list_id": 404 }),
        PluginContext::default(),
    )
    .expect_err("refused");
    assert_eq!(error.to_string(), "list 404 does not exist");
}

#[test]
fn the_harness_drives_a_plugin_step_by_step() {
    let mut h = harness(json!({ "list_id": 3, "window": 2 }));
    assert_eq!(h.now(), 0);
    assert!(h.can_accept_batch());
    let first = h.push(batch(&[1, 2], &[Some("a@x.io"), None]));
    let second = h.push_kind(BatchKind::Delete, batch(&[3], &[Some("c@x.io")]));
    assert_eq!((first, second), (1, 2));
    assert!(!h.can_accept_batch(), "the window of 2 is full");

    let requests = h.poll_requests();
    assert_eq!(requests.iter().map(|r| r.id).collect::<Vec<_>>(), vec![10, 20]);
    assert_eq!(&requests[0].body[..], br#"{"list":3,"batch":1}"#);
    assert_eq!(requests[0].slot_class, "import");
    assert_eq!(h.in_flight().len(), 2);
    assert_eq!(h.outcomes(), vec![]);

    h.respond_with_headers(10, 201, &[("Content-Type", "application/json")], "{}");
    assert_eq!(
        h.outcomes(),
        vec![
            RowOutcome::delivered(1, 0),
            RowOutcome::new(1, 1, OutcomeStatus::Rejected, "NoEmail", "email is null"),
        ]
    );
    assert_eq!(h.outcomes(), vec![], "drained");
    assert_eq!(h.released_slots(), vec![10]);
    h.fail(20, FailureKind::Uncertain, "connection reset");
    assert_eq!(
        h.outcomes(),
        vec![RowOutcome::new(
            2,
            0,
            OutcomeStatus::Failed,
            "Uncertain",
            "connection reset"
        )]
    );
    assert_eq!(h.released_slots(), vec![20]);
    assert!(h.can_accept_batch());

    // After finish, the plugin arms its status timer; advancing the clock fires it.
    h.finish();
    assert_eq!(h.poll_requests(), vec![]);
    assert_eq!(h.next_timeout(), Some(5_000));
    h.advance(4_999);
    assert_eq!(h.next_timeout(), Some(5_000), "not due yet");
    h.advance(1);
    assert_eq!(h.now(), 5_000);
    assert_eq!(h.next_timeout(), None, "fired");
    let status = h.poll_requests();
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].path, "/imports/status");
    h.respond(status[0].id, 200, r#"{"status":"Finished"}"#);
    let log = h.run_to_end(|_| panic!("nothing left to answer")).expect("done");
    assert!(h.is_done());
    assert_eq!(log.requests.len(), 3);
    assert_eq!(log.outcomes.len(), 3, "the log keeps outcomes drained earlier");
    assert_eq!(log.count(OutcomeStatus::Delivered), 1);
    assert_eq!(log.count(OutcomeStatus::Rejected), 1);
    assert_eq!(log.count(OutcomeStatus::Failed), 1);
    assert_eq!(log.outcome(2, 0).map(|o| o.status), Some(OutcomeStatus::Failed));
    assert_eq!(log.outcome(2, 1), None);
    assert_eq!(log.released_slots, vec![10, 20]);
    log.check_one_outcome_per_row().expect("one outcome per row");
}

#[test]
#[should_panic(expected = "request 77 is not in flight")]
fn responding_to_an_unknown_request_is_a_test_error() {
    let mut h = harness(json!({ "list_id": 3 }));
    h.respond(77, 200, "");
}

#[test]
fn run_to_end_answers_everything_and_jumps_the_clock() {
    let mut h = harness(json!({ "list_id": 3, "window": 1 }));
    let mut seen = Vec::new();
    let log = h
        .run_with_input(
            sample().into_iter().map(|b| (BatchKind::Upsert, b)).collect(),
            |request| {
                seen.push(request.path.clone());
                ok_responder(request)
            },
        )
        .expect("the run ends");
    assert_eq!(
        seen,
        vec!["/imports", "/imports", "/imports", "/imports", "/imports/status"]
    );
    assert_eq!(h.now(), 5_000, "jumped to the status timer");
    assert_eq!(log.batches.len(), 4);
    assert_eq!(log.outcomes.len(), 6);
    assert_eq!(log.count(OutcomeStatus::Delivered), 5);
    assert_eq!(&*log.outcome(1, 1).unwrap().code, "NoEmail");
    log.check_one_outcome_per_row().unwrap();

    // run_to_end on pushed batches calls finish itself.
    let mut h = harness(json!({ "list_id": 3 }));
    h.push(batch(&[1], &[Some("a@x.io")]));
    let log = h.run_to_end(ok_responder).expect("the run ends");
    assert_eq!(log.count(OutcomeStatus::Delivered), 1);
}

#[test]
fn a_dry_run_answers_writes_without_the_responder() {
    let context = PluginContext {
        sync_name: "plan".to_owned(),
        mode: RunMode::Plan,
    };
    let mut h = Harness::new(toy::plugin_descriptor(), json!({ "list_id": 3 }), context).unwrap();
    h.push(batch(&[1, 2], &[Some("a@x.io"), Some("b@x.io")]));
    let mut answered = Vec::new();
    let log = h
        .run_to_end(|request| {
            answered.push(request.path.clone());
            ok_responder(request)
        })
        .unwrap();
    assert_eq!(answered, vec!["/imports/status"], "only the read reached the responder");
    assert_eq!(log.count(OutcomeStatus::Failed), 2);
    assert_eq!(&*log.outcome(1, 0).unwrap().code, "DryRun");
}

#[test]
fn a_run_that_never_ends_hits_the_step_limit_naming_the_state() {
    let mut h = harness(json!({ "list_id": 3, "mode": "forever" }));
    h.set_step_limit(50);
    h.push(batch(&[1], &[Some("a@x.io")]));
    let error = h.run_to_end(ok_responder).expect_err("never done");
    assert!(matches!(error, HarnessError::StepLimit { limit: 50, .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("did not reach Done within 50 steps"), "{text}");
    assert!(text.contains("poll_request last answered Pending"), "{text}");
    assert!(text.contains("1 outcome(s) for 1 rows"), "{text}");
}

#[test]
fn a_stalled_run_is_reported_with_its_state() {
    let mut h = harness(json!({ "list_id": 3, "mode": "stall" }));
    h.push(batch(&[1], &[Some("a@x.io")]));
    let error = h.run_to_end(ok_responder).expect_err("stalls");
    let text = error.to_string();
    assert!(matches!(error, HarnessError::Stalled { .. }), "{error:?}");
    assert!(text.contains("no request is in flight and no timeout is set"), "{text}");
    assert!(text.contains("finish called"), "{text}");
}

#[test]
fn a_panic_during_a_run_comes_back_as_the_planner_error() {
    let mut h = harness(json!({ "list_id": 3, "mode": "panic_on_html" }));
    h.push(batch(&[1], &[Some("a@x.io")]));
    let error = h
        .run_to_end(|_| Canned::text(502, "<html>bad gateway</html>"))
        .expect_err("panics");
    assert!(
        matches!(error.planner_error(), Some(PlannerError::Panicked { .. })),
        "{error:?}"
    );
    assert!(error.to_string().contains("`handle_response` failed"), "{error}");
}
