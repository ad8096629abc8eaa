//! The file sources' integration tests, in one binary (each test binary costs a link on CI).

#[allow(dead_code)]
mod common;
mod config;
mod errors;
mod formats;
mod projection;
