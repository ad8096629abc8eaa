//! A small driver for the contacts planner through the real vtable (static descriptor).

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{Field, Schema};
use dotsync_plugin_sdk::{
    BatchKind, DynPlanner, Failure, FailureKind, ForeignPlanner, Header, LoadedPlugin, Millis, PlannerError,
    PluginContext, Poll, RequestId, RequestSpec, ResponseView, RowOutcome, RunMode,
};

pub const DATA_FIELDS: &str = r#"[
  {"name":"FIRSTNAME","type":"String","visibility":"Public","defaultValue":null},
  {"name":"LASTNAME","type":"String","visibility":"Public","defaultValue":null},
  {"name":"AGE","type":"Numeric","visibility":"Private","defaultValue":null},
  {"name":"BIRTHDAY","type":"Date","visibility":"Private","defaultValue":null},
  {"name":"VIP","type":"Boolean","visibility":"Private","defaultValue":false}
]"#;

pub struct Harness {
    pub planner: ForeignPlanner,
    pub now: Millis,
    pub outcomes: Vec<RowOutcome>,
    pub released: Vec<RequestId>,
}

pub fn plugin() -> LoadedPlugin {
    LoadedPlugin::from_static(dotdigital_contacts::plugin_descriptor()).expect("valid descriptor")
}

impl Harness {
    pub fn new(config: serde_json::Value) -> Self {
        Self::with_mode(config, RunMode::Run)
    }

    pub fn with_mode(config: serde_json::Value, mode: RunMode) -> Self {
        Self::try_with_mode(config, mode).expect("planner created")
    }

    pub fn try_with_mode(config: serde_json::Value, mode: RunMode) -> Result<Self, PlannerError> {
        let context = PluginContext {
            sync_name: "test".into(),
            mode,
        };
        let planner = plugin().create(&config.to_string(), &context)?;
        Ok(Harness {
            planner,
            now: 1_000,
            outcomes: Vec::new(),
            released: Vec::new(),
        })
    }

    pub fn push(&mut self, batch_id: u64, batch: RecordBatch) {
        self.planner
            .push_batch(batch_id, BatchKind::Upsert, batch)
            .expect("push accepted");
    }

    pub fn finish(&mut self) {
        self.planner.finish().expect("finish");
    }

    /// Polls until the planner has nothing more to send now.
    pub fn poll_all(&mut self) -> Vec<RequestSpec> {
        let mut requests = Vec::new();
        while let Poll::Ready(spec) = self.planner.poll_request(self.now).expect("poll_request") {
            requests.push(spec);
        }
        self.drain();
        requests
    }

    pub fn poll(&mut self) -> Result<Poll<RequestSpec>, PlannerError> {
        self.planner.poll_request(self.now)
    }

    pub fn respond(&mut self, id: RequestId, status: u16, body: &str) {
        self.try_respond(id, status, body).expect("response handled");
    }

    pub fn try_respond(&mut self, id: RequestId, status: u16, body: &str) -> Result<(), PlannerError> {
        let headers = [Header {
            name: "Content-Type",
            value: "application/json",
        }];
        let view = ResponseView {
            status,
            headers: &headers,
            body: body.as_bytes(),
        };
        let result = self.planner.handle_response(id, &view, self.now);
        self.drain();
        result
    }

    pub fn fail(&mut self, id: RequestId, kind: FailureKind, message: &str) {
        let failure = Failure {
            kind,
            status: 0,
            message,
        };
        self.planner
            .handle_failure(id, &failure, self.now)
            .expect("failure handled");
        self.drain();
    }

    pub fn drain(&mut self) {
        while let Some(outcomes) = self.planner.poll_outcomes().expect("outcomes") {
            self.outcomes.extend(outcomes);
        }
        while let Some(id) = self.planner.poll_released_slot().expect("released") {
            self.released.push(id);
        }
    }

    /// Answers the data-field pre-flight with [`DATA_FIELDS`].
    pub fn preflight(&mut self) {
        let requests = self.poll_all();
        assert_eq!(requests.len(), 1, "only the pre-flight goes first: {requests:?}");
        assert_eq!(requests[0].path, "/v2/data-fields");
        self.respond(requests[0].id, 200, DATA_FIELDS);
    }

    /// Moves the clock to the planner's next timer and fires it.
    pub fn advance_to_timer(&mut self) -> Millis {
        let at = self.planner.poll_timeout().expect("timeout").expect("a timer is set");
        assert!(at >= self.now, "timers are in the future");
        self.now = at;
        self.planner.handle_timeout(at).expect("timeout handled");
        at
    }

    pub fn is_done(&mut self) -> bool {
        matches!(self.planner.poll_request(self.now).expect("poll"), Poll::Done)
    }

    pub fn outcome(&self, batch_id: u64, row: u32) -> &RowOutcome {
        let found: Vec<&RowOutcome> = self
            .outcomes
            .iter()
            .filter(|outcome| outcome.batch_id == batch_id && outcome.row == row)
            .collect();
        assert_eq!(found.len(), 1, "exactly one outcome for ({batch_id}, {row}): {found:?}");
        found[0]
    }

    /// Outcome count per (batch, row), for the exactly-once check.
    pub fn outcome_counts(&self) -> HashMap<(u64, u32), usize> {
        let mut counts = HashMap::new();
        for outcome in &self.outcomes {
            *counts.entry((outcome.batch_id, outcome.row)).or_insert(0) += 1;
        }
        counts
    }
}

pub fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, array)| Field::new(*name, array.data_type().clone(), true))
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, array)| array).collect(),
    )
    .expect("valid batch")
}

pub fn body_json(spec: &RequestSpec) -> serde_json::Value {
    serde_json::from_slice(&spec.body).expect("the body is JSON")
}
