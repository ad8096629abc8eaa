//! Write dotsync destination plugins, and drive them from a host.
//!
//! A plugin implements [`DestinationPlanner`]: a sans-IO state machine that turns Arrow record
//! batches into HTTP request descriptions, reads the responses, and reports one outcome per input
//! row. [`export_plugin!`] exposes it through the C ABI of `dotsync-plugin-abi`, with every call
//! wrapped in `catch_unwind` and the plugin's `tracing` events bridged to the host's log.
//!
//! The host side lives here too ([`foreign`]): [`LoadedPlugin`] checks a descriptor (static or
//! from a library) and [`ForeignPlanner`] drives an instance through the vtable as a
//! [`DynPlanner`], so both sides of the ABI are tested together.
//!
//! This crate does no IO of its own (besides loading a library on request), knows nothing about
//! tokio or HTTP clients, and holds no global state.

pub use dotsync_plugin_abi as abi;

pub mod export;
pub mod foreign;
mod log_bridge;
mod outcomes;
mod planner;
mod types;

pub use arrow_array::RecordBatch;
pub use arrow_schema::{DataType, Field, Schema, SchemaRef};
pub use foreign::{ForeignPlanner, LoadError, LoadedPlugin, PluginOrigin};
pub use outcomes::{OutcomeBuilder, OutcomeError, OutcomeStatus, RowOutcome, outcome_schema, read_outcomes};
pub use planner::{DestinationPlanner, DynPlanner, PlannerError};
pub use types::{
    BatchId, BatchKind, ErrorKind, Failure, FailureKind, Header, Method, Millis, PluginContext, PluginError, Poll,
    RequestId, RequestSpec, ResponseView, RunMode,
};

/// Input-contract schema metadata naming the key columns (comma-separated source names).
pub const KEY_COLUMNS_METADATA: &str = "dotsync.key_columns";

/// Input-contract schema metadata by which an instance asks for the keys that left the source:
/// value [`DEPARTED_KEYS_DELETE`]. The host then marks every source key seen and, after the
/// source is exhausted and before [`DestinationPlanner::finish`], pushes the keys it delivered
/// in earlier runs and did not see in this one as [`BatchKind::Delete`] batches holding the key
/// columns only (named and typed as in the contract). A delete reported delivered or skipped
/// is forgotten by the host; rejected or failed ones come again next run. Needs
/// [`KEY_COLUMNS_METADATA`]. Set it only in modes that delete or remove (a list's audience, an
/// Insight mirror). Hosts before ABI 1.1 ignore it.
pub const DEPARTED_KEYS_METADATA: &str = "dotsync.departed_keys";

/// The value of [`DEPARTED_KEYS_METADATA`] that asks for departed keys.
pub const DEPARTED_KEYS_DELETE: &str = "delete";

/// Input-contract schema metadata by which an instance asks that each key be sent at most once,
/// ever: value [`SEND_ONCE_PER_KEY`]. For writes that must not repeat (messages): the host then
/// hands over only rows whose key it has never settled, whatever else in the row changed; rows
/// of a key delivered (or rejected) before are skipped, also under `--full` and after the
/// sync's definition changed. Needs [`KEY_COLUMNS_METADATA`] (the send key, e.g. an order id).
/// A host that does not know this key ignores it (and would send a changed row again).
pub const SEND_ONCE_METADATA: &str = "dotsync.send_once";

/// The value of [`SEND_ONCE_METADATA`] that asks for one send per key.
pub const SEND_ONCE_PER_KEY: &str = "per_key";

/// Input-contract schema metadata by which an instance asks for the host's key pre-pass on large
/// sources: the value is the least number of source rows (decimal) for which it wants it. A
/// planner that keeps every key of the run to refuse a key's second row needs memory that grows
/// with the source; with the pre-pass it needs only the keys that repeat. Before the first row,
/// a host that can read the source twice (a file whose row count it knows without reading it)
/// reads the key columns once, hands them to [`DestinationPlanner::key_hashes`] batch by batch,
/// counts the hashes on disk, and pushes those seen more than once as
/// [`BatchKind::RepeatedKeys`] batches (one empty batch when none repeats). Needs
/// [`KEY_COLUMNS_METADATA`]. Hosts before ABI 1.3, and sources that cannot be read twice, skip
/// it: the planner must work without it.
pub const KEY_PRE_PASS_METADATA: &str = "dotsync.key_pre_pass_min_rows";

/// The one column of a [`BatchKind::RepeatedKeys`] batch (`UInt64`, not null).
pub const REPEATED_KEYS_COLUMN: &str = "key_hash";
