//! The SDK's integration tests, in one binary (each test binary costs a link on CI): the vtable
//! round trip, the guards that protect the host from a plugin, and the log bridge.

// `export_plugin!` gates the C entry symbol on the plugin crate's `cdylib` feature, which this
// crate (the SDK itself) does not declare.
#![allow(unexpected_cfgs)]

mod host_guards;
mod log_bridge;
mod vtable_round_trip;
