//! End-to-end tests of the `dotsync` binary, in one test binary (each costs a link on CI).

mod contacts;
mod errors;
mod incremental;
mod kill;
mod lists;
mod programs;
mod support;
