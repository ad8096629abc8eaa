//! The event source's integration tests, in one binary (each test binary costs a link on CI).

mod audience;
mod common;
mod config;
mod mapping;
mod reading;
mod rows;
mod trigger_errors;
mod triggers;
