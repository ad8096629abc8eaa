//! A stateful, in-process fake of the Dotdigital API (v2 and v3), written from the public API
//! documentation only (see `shared/dotdigital-api.md` in the project), never from plugin code.
//!
//! What it does:
//! * serves the endpoints that dotsync's Dotdigital plugins and common third-party clients use
//!   (account info, contacts v3 incl. bulk import/delete, data fields, address books incl. CSV
//!   import, insight data and its older v2 "transactional data" form, programs and enrolments,
//!   campaign sends, transactional email, SMS) with their real paths, status codes and v2/v3
//!   error bodies, on one port that plays the three regional hosts (`/r1`, `/r2`, `/r3`);
//! * keeps per-account state (contacts, lists, collections, imports, an outbox of every message
//!   "sent", a request log) that tests can read through [`EmulatorHandle::state`];
//! * enforces tiered per-account rate limits with `X-RateLimit-*` headers, the legacy flat hourly
//!   scheme, the 20/hour enrolment allowance and the active-import caps ([`LimitsConfig`]);
//! * injects faults on demand: status storms, latency, connection resets, truncated bodies,
//!   failing or stalled imports, per-row import failures ([`FaultRule`]), from Rust or through the
//!   unauthenticated `/_emulator/` control API;
//! * saves and loads its state as JSON.
//!
//! What it does **not** do: TLS, real e-mail/SMS delivery, campaign content rendering, segments,
//! custom contact identifiers, preferences/consent storage, or anything not listed in the crate
//! README. Rate-limit numbers are our own choice (the real ones
//! are unpublished). It is a test double, not a security boundary: bind it to localhost only.

mod bulk;
mod control;
mod error;
mod faults;
mod limits;
mod persist;
mod routes;
mod server;
mod state;
mod util;

pub use error::EmulatorError;
pub use faults::{FaultAction, FaultRule, FaultsHandle};
pub use limits::{LimitsConfig, RateScheme, Tier};
pub use server::{Emulator, EmulatorHandle, StandaloneOptions, run_standalone};
pub use state::{
    AccountSeed, AddressBook, CampaignSeed, CollectionSeed, Contact, ContactSeed, DataField, DataFieldSeed, Enrolment,
    FieldType, InsightRecord, InsightRecordSeed, ListSeed, ProgramSeed, RequestLogSnapshot, RequestRecord, Seed,
    SentMessage, StateView,
};

use std::path::PathBuf;
use std::time::Duration;

/// Username of the demo account created by [`EmulatorConfig::demo`].
pub const DEMO_USERNAME: &str = "demo@apiconnector.com";
/// Password of the demo account created by [`EmulatorConfig::demo`].
pub const DEMO_PASSWORD: &str = "demo-password-1";

/// A Dotdigital region. One emulator port serves all three under `/r1`, `/r2`, `/r3`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    /// Europe (`r1`). The bare base URL plays r1.
    #[default]
    R1,
    /// North America (`r2`).
    R2,
    /// Asia Pacific (`r3`).
    R3,
}

impl Region {
    /// All regions.
    pub const ALL: [Region; 3] = [Region::R1, Region::R2, Region::R3];

    /// `"r1"`, `"r2"` or `"r3"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Region::R1 => "r1",
            Region::R2 => "r2",
            Region::R3 => "r3",
        }
    }

    /// Parses `r1`/`r2`/`r3` (any case).
    pub fn parse(s: &str) -> Option<Region> {
        match s.to_ascii_lowercase().as_str() {
            "r1" => Some(Region::R1),
            "r2" => Some(Region::R2),
            "r3" => Some(Region::R3),
            _ => None,
        }
    }
}

impl std::fmt::Display for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Region {
    type Err = EmulatorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Region::parse(s).ok_or_else(|| EmulatorError::Config(format!("unknown region '{s}' (expected r1, r2 or r3)")))
    }
}

/// How to start an [`Emulator`].
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// API users (one account each) created at start, with their seed data.
    pub accounts: Vec<AccountSeed>,
    /// Rate limits; tiers are on by default, [`LimitsConfig::off`] disables every limit.
    pub limits: LimitsConfig,
    /// How long an import (or enrolment, bulk delete) stays `NotFinished` before it is applied.
    pub import_delay: Duration,
    /// If set: state is loaded from this JSON file at start (when it exists) and saved on
    /// [`EmulatorHandle::save`] and [`EmulatorHandle::shutdown`].
    pub state_file: Option<PathBuf>,
    /// Port to bind on 127.0.0.1; `None` picks a free port.
    pub port: Option<u16>,
    /// Largest accepted request body (the real API documents 50 MB for imports).
    pub max_body_bytes: usize,
    /// How many request-log entries are kept (counts per endpoint are always complete).
    pub request_log_capacity: usize,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self::empty()
    }
}

impl EmulatorConfig {
    /// No accounts at all (seed them through [`EmulatorHandle::seed`] or the control API).
    pub fn empty() -> Self {
        Self {
            accounts: Vec::new(),
            limits: LimitsConfig::default(),
            import_delay: Duration::from_millis(200),
            state_file: None,
            port: None,
            max_body_bytes: 50 * 1024 * 1024,
            request_log_capacity: 10_000,
        }
    }

    /// One demo account ([`DEMO_USERNAME`] / [`DEMO_PASSWORD`], region r1) with realistic seed data.
    pub fn demo() -> Self {
        Self {
            accounts: vec![AccountSeed::demo()],
            ..Self::empty()
        }
    }

    /// Builder: add an account.
    pub fn with_account(mut self, account: AccountSeed) -> Self {
        self.accounts.push(account);
        self
    }

    /// Builder: set the limits.
    pub fn with_limits(mut self, limits: LimitsConfig) -> Self {
        self.limits = limits;
        self
    }

    /// Builder: set the import delay.
    pub fn with_import_delay(mut self, delay: Duration) -> Self {
        self.import_delay = delay;
        self
    }

    /// Builder: set the state file.
    pub fn with_state_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.state_file = Some(path.into());
        self
    }
}
