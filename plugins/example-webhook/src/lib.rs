//! Example dotsync plugin: posts the rows it receives, as JSON arrays of objects, to one path of
//! an HTTP endpoint, and reports every row of a request delivered when the endpoint answers 2xx.
//!
//! It exists to show the shape of a plugin in as few lines as possible, and is what
//! `cargo xtask new-plugin NAME` copies. It does not retry, batch across pushes, or read responses
//! beyond their status: the host retries transport failures and throttling for it.

use std::collections::{HashMap, VecDeque};

use arrow_array::RecordBatch;
use dotsync_plugin_sdk::{
    BatchId, BatchKind, DestinationPlanner, Failure, FailureKind, Method, Millis, OutcomeBuilder, OutcomeStatus,
    PluginContext, PluginError, Poll, RequestId, RequestSpec, ResponseView, SchemaRef,
};
use schemars::JsonSchema;
use serde::Deserialize;

/// Configuration of the example webhook plugin.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = example_config())]
pub struct ExampleWebhookConfig {
    /// Path the rows are posted to, relative to the connection's base URL.
    pub path: String,
    /// Source columns to send, by name; each becomes a JSON property.
    pub columns: Vec<String>,
}

fn example_config() -> serde_json::Value {
    serde_json::json!({ "path": "/v1/rows", "columns": ["email", "first_name"] })
}

/// The planner: one POST per pushed batch.
pub struct ExampleWebhookPlanner {
    config: ExampleWebhookConfig,
    waiting: VecDeque<(BatchId, RecordBatch)>,
    /// Request id → the batch it carries and its row count.
    in_flight: HashMap<RequestId, (BatchId, u32)>,
    outcomes: OutcomeBuilder,
    next_request: RequestId,
    finished: bool,
}

impl ExampleWebhookPlanner {
    fn encode(batch: &RecordBatch) -> Result<Vec<u8>, PluginError> {
        let mut writer = arrow_json::ArrayWriter::new(Vec::new());
        writer
            .write(batch)
            .and_then(|()| writer.finish())
            .map_err(|error| PluginError::fatal(format!("cannot encode rows as JSON: {error}")))?;
        Ok(writer.into_inner())
    }

    fn settle(&mut self, id: RequestId, status: OutcomeStatus, code: &str, message: &str) {
        if let Some((batch_id, rows)) = self.in_flight.remove(&id) {
            self.outcomes.push_all(batch_id, rows, status, code, message);
        }
    }
}

impl DestinationPlanner for ExampleWebhookPlanner {
    type Config = ExampleWebhookConfig;

    fn new(config: Self::Config, _context: PluginContext) -> Result<Self, PluginError> {
        if !config.path.starts_with('/') {
            return Err(PluginError::config(format!(
                "path `{}` must start with `/`",
                config.path
            )));
        }
        if config.columns.is_empty() {
            return Err(PluginError::config("columns must name at least one source column"));
        }
        Ok(ExampleWebhookPlanner {
            config,
            waiting: VecDeque::new(),
            in_flight: HashMap::new(),
            outcomes: OutcomeBuilder::new(),
            next_request: 1,
            finished: false,
        })
    }

    fn input_contract(&self) -> SchemaRef {
        let fields: Vec<_> = self
            .config
            .columns
            .iter()
            .map(|name| dotsync_plugin_sdk::Field::new(name, dotsync_plugin_sdk::DataType::Null, true))
            .collect();
        std::sync::Arc::new(dotsync_plugin_sdk::Schema::new(fields))
    }

    fn can_accept_batch(&self) -> bool {
        self.waiting.len() + self.in_flight.len() < 4
    }

    fn push_batch(&mut self, id: BatchId, kind: BatchKind, batch: RecordBatch) -> Result<(), PluginError> {
        match kind {
            BatchKind::Upsert => self.waiting.push_back((id, batch)),
            // This destination has nothing to delete: those rows are done as they are.
            BatchKind::Delete => {
                let rows = batch.num_rows() as u32;
                self.outcomes
                    .push_all(id, rows, OutcomeStatus::Skipped, "NotSupported", "deletes are not sent");
            }
            // Kinds pushed only to plugins that ask for them (the key pre-pass's hint): none asked.
            _ => {}
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), PluginError> {
        self.finished = true;
        Ok(())
    }

    fn poll_request(&mut self, _now: Millis) -> Result<Poll<RequestSpec>, PluginError> {
        if let Some((batch_id, batch)) = self.waiting.pop_front() {
            let id = self.next_request;
            self.next_request += 1;
            self.in_flight.insert(id, (batch_id, batch.num_rows() as u32));
            let body = Self::encode(&batch)?;
            return Ok(Poll::Ready(RequestSpec::write(
                id,
                Method::Post,
                &self.config.path,
                body,
                "",
            )));
        }
        if self.finished && self.in_flight.is_empty() {
            Ok(Poll::Done)
        } else {
            Ok(Poll::Pending)
        }
    }

    fn handle_response(&mut self, id: RequestId, response: &ResponseView<'_>, _now: Millis) -> Result<(), PluginError> {
        if response.is_success() {
            self.settle(id, OutcomeStatus::Delivered, "", "");
        } else {
            let message = format!("endpoint answered HTTP {}", response.status);
            let status = if (400..500).contains(&response.status) {
                OutcomeStatus::Rejected
            } else {
                OutcomeStatus::Failed
            };
            self.settle(id, status, &format!("Http{}", response.status), &message);
        }
        Ok(())
    }

    fn handle_failure(&mut self, id: RequestId, failure: &Failure<'_>, _now: Millis) -> Result<(), PluginError> {
        let status = match failure.kind {
            FailureKind::DryRun => OutcomeStatus::Skipped,
            FailureKind::Uncertain => OutcomeStatus::Uncertain,
            _ => OutcomeStatus::Failed,
        };
        self.settle(id, status, &format!("{:?}", failure.kind), failure.message);
        Ok(())
    }

    fn poll_outcomes(&mut self) -> Option<RecordBatch> {
        self.outcomes.finish()
    }
}

dotsync_plugin_sdk::export_plugin!(ExampleWebhookPlanner);
