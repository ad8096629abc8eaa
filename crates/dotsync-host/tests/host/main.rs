//! The host's integration tests, in one binary (each test binary costs a link on CI).

// `export_plugin!` in `common` gates the C entry symbol on a `cdylib` feature this crate lacks.
#![allow(unexpected_cfgs)]

mod common;
mod config;
mod driver;
mod incremental;
mod registry;
