//! Wire-level tests of the emulator with a real HTTP client.

mod common;

mod auth;
mod contacts;
mod control;
mod faults;
mod imports;
mod insight;
mod limits;
mod messaging;
mod transactional;
mod v2;
