//! The state store's integration tests, in one binary (each test binary costs a link on CI).

mod hasher;
mod kill;
mod store;
