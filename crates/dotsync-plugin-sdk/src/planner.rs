//! The two faces of a planner: [`DestinationPlanner`], which plugin authors implement, and
//! [`DynPlanner`], the object-safe view the host drives (implemented by
//! [`crate::foreign::ForeignPlanner`] over the C ABI, for static and dynamic plugins alike).

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::types::{
    BatchId, BatchKind, Failure, Millis, PluginContext, PluginError, Poll, RequestId, RequestSpec, ResponseView,
};

/// A destination as a sans-IO state machine: rows in, request descriptions out, responses in,
/// per-row outcomes out. It never does IO, never reads the clock, never starts threads.
///
/// The host calls it from one task at a time, in this rhythm:
/// - when the instance asks for the key pre-pass and the source allows it, `key_hashes` for
///   every batch of the key columns, then `push_batch` of the repeating keys;
/// - `push_batch` while [`can_accept_batch`](Self::can_accept_batch) is true and input remains,
///   then `finish` once the input is exhausted;
/// - `poll_request` until it answers [`Poll::Pending`] or [`Poll::Done`], after every push,
///   response, failure or timeout;
/// - `handle_response` / `handle_failure` for each request sent;
/// - `poll_outcomes` and `poll_released_slot` until empty after the same events;
/// - `handle_timeout` once [`poll_timeout`](Self::poll_timeout)'s deadline has passed.
///
/// The run is over when `poll_request` answers `Done`; by then every pushed row must have had
/// exactly one outcome.
pub trait DestinationPlanner: Send + Sized + 'static {
    /// The plugin's configuration. Its JSON schema (from the doc comments) is embedded in the
    /// plugin; the host validates user config against it before [`new`](Self::new).
    type Config: DeserializeOwned + JsonSchema;

    /// Creates an instance. Errors here are configuration errors shown to the user.
    fn new(config: Self::Config, context: PluginContext) -> Result<Self, PluginError>;

    /// The source columns this instance reads, by their source names. A field of type
    /// `DataType::Null` accepts any type as it is; another type asks the host to cast the column
    /// to it (failing before the run when the cast is impossible). Schema metadata
    /// [`KEY_COLUMNS_METADATA`](crate::KEY_COLUMNS_METADATA) names the key columns, comma-separated.
    fn input_contract(&self) -> SchemaRef;

    /// Whether the planner wants another batch now. Returning false bounds memory: the host
    /// stops reading the source until it turns true again.
    fn can_accept_batch(&self) -> bool;

    /// Rows arrive, projected and cast to the input contract.
    fn push_batch(&mut self, id: BatchId, kind: BatchKind, batch: RecordBatch) -> Result<(), PluginError>;

    /// No more input will come.
    fn finish(&mut self) -> Result<(), PluginError>;

    /// The next request to send, if any.
    fn poll_request(&mut self, now: Millis) -> Result<Poll<RequestSpec>, PluginError>;

    /// A response to a request the planner emitted (any status the host did not retry).
    fn handle_response(&mut self, id: RequestId, response: &ResponseView<'_>, now: Millis) -> Result<(), PluginError>;

    /// The host gave up on a request.
    fn handle_failure(&mut self, id: RequestId, failure: &Failure<'_>, now: Millis) -> Result<(), PluginError>;

    /// Outcomes ready to report, built with [`crate::OutcomeBuilder`].
    fn poll_outcomes(&mut self) -> Option<RecordBatch>;

    /// A request whose server-side slot (see [`RequestSpec::slot_class`]) is free again.
    fn poll_released_slot(&mut self) -> Option<RequestId> {
        None
    }

    /// When the planner next wants [`handle_timeout`](Self::handle_timeout) called.
    fn poll_timeout(&self) -> Option<Millis> {
        None
    }

    /// The deadline from [`poll_timeout`](Self::poll_timeout) has passed.
    fn handle_timeout(&mut self, _now: Millis) -> Result<(), PluginError> {
        Ok(())
    }

    /// The input rows (batch id, row within the batch) that the request `id`, just returned
    /// by [`poll_request`](Self::poll_request), carries. The host asks only for writes that
    /// are not idempotent ([`RequestSpec::idempotent`] false): it journals every row durably
    /// before the request leaves, never sends a row again whose earlier send may have reached
    /// the destination, and reports such rows as uncertain in later runs. `None` (the default)
    /// means "not said": the host then journals the request as a whole (and warns) and cannot
    /// protect its rows from a second send after a crash. `Some` of no rows says the request
    /// carries none (creating a list, say): nothing is journaled for it. ABI 1.1.
    fn request_rows(&self, _id: RequestId) -> Option<Vec<(BatchId, u32)>> {
        None
    }

    /// The key pre-pass (see [`KEY_PRE_PASS_METADATA`](crate::KEY_PRE_PASS_METADATA)): the hash
    /// of the key of each row of `batch` (the key columns only, cast to the contract) that the
    /// planner would check for repeats, in any order. The host counts them over the whole
    /// source and pushes the hashes seen more than once as [`BatchKind::RepeatedKeys`] before
    /// the first row. Called before any `push_batch`. `None` (the default): no pre-pass. ABI 1.3.
    fn key_hashes(&mut self, _batch: &RecordBatch) -> Result<Option<Vec<u64>>, PluginError> {
        Ok(None)
    }
}

/// The object-safe planner the host drives. Errors carry the plugin's message; a plugin that
/// panicked answers [`PlannerError::Panicked`] from then on.
pub trait DynPlanner: Send {
    fn input_contract(&self) -> Result<SchemaRef, PlannerError>;
    fn can_accept_batch(&mut self) -> Result<bool, PlannerError>;
    fn push_batch(&mut self, id: BatchId, kind: BatchKind, batch: RecordBatch) -> Result<(), PlannerError>;
    fn finish(&mut self) -> Result<(), PlannerError>;
    fn poll_request(&mut self, now: Millis) -> Result<Poll<RequestSpec>, PlannerError>;
    fn handle_response(&mut self, id: RequestId, response: &ResponseView<'_>, now: Millis) -> Result<(), PlannerError>;
    fn handle_failure(&mut self, id: RequestId, failure: &Failure<'_>, now: Millis) -> Result<(), PlannerError>;
    /// Outcome batches are validated before they are returned.
    fn poll_outcomes(&mut self) -> Result<Option<Vec<crate::RowOutcome>>, PlannerError>;
    fn poll_released_slot(&mut self) -> Result<Option<RequestId>, PlannerError>;
    fn poll_timeout(&mut self) -> Result<Option<Millis>, PlannerError>;
    fn handle_timeout(&mut self, now: Millis) -> Result<(), PlannerError>;
    /// See [`DestinationPlanner::request_rows`]; `None` also for plugins built for ABI 1.0.
    fn request_rows(&mut self, id: RequestId) -> Result<Option<Vec<(BatchId, u32)>>, PlannerError>;
    /// See [`DestinationPlanner::key_hashes`]; `None` also for plugins built before ABI 1.3.
    fn key_hashes(&mut self, batch: RecordBatch) -> Result<Option<Vec<u64>>, PlannerError>;
}

/// Why a call into a plugin failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlannerError {
    /// The plugin reported an error.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// The plugin panicked; the instance is poisoned and answers this from now on.
    #[error("plugin `{plugin}` panicked: {message}")]
    Panicked { plugin: String, message: String },
    /// The plugin broke the ABI contract (bad outcome batch, bad request, wrong status code).
    #[error("plugin `{plugin}` broke the plugin contract: {message}")]
    Contract { plugin: String, message: String },
}
