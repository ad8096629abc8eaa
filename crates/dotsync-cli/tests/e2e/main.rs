//! End-to-end tests of the `dotsync` binary, in one test binary (each costs a link on CI).

mod contacts;
mod errors;
mod events;
mod incremental;
mod insight;
mod kill;
mod lists;
mod messaging;
mod postgres;
mod programs;
mod support;
