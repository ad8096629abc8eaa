//! The contacts plugin's integration tests, in one binary (each test binary costs a link on CI).

#[allow(dead_code)]
mod common;
mod compliance;
mod exactly_once;
mod planner;
