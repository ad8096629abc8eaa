//! dotsync destination plugin **programs**: enrols contacts into an existing, active Dotdigital
//! program when they enter an audience, many contacts per enrolment call (the API allows about
//! 20 such calls an hour), and reports each row's enrolment from the enrolment's fault report.
//!
//! It is a sans-IO [`DestinationPlanner`](dotsync_plugin_sdk::DestinationPlanner): no IO, no
//! clock, no threads, no global state. It does not create, activate or change programs, remove
//! contacts from programs, or resend an enrolment whose fate is unknown (enrolment requests are
//! marked not idempotent, so the host journals them and never sends them twice).
//!
//! # Configuration (`[sync.config]`)
//!
//! ```toml
//! program = { name = "Welcome" }      # or { id = 77 }; must be Active
//! key = "email"                       # or "mobile_number", "contact_id"
//! key_column = "email"
//! membership_column = "in_audience"  # optional boolean; without it every row is in the audience
//! create_contacts = false            # true: unknown contacts are created, then enrolled
//! reenrol_after_leave = true         # false: a contact is enrolled once, whatever it does later
//! enrolment_size = 10000             # contacts per enrolment call
//! poll_interval_ms = 1000
//! ```
//!
//! # Requests
//!
//! | when | request | tier |
//! |---|---|---|
//! | first, also in `check` | `GET /v2/programs/{id}`, or `GET /v2/programs?select=1000&skip=N` pages by name | high |
//! | per entering row, email or mobile key | `GET /contacts/v3/{identifier}/{value}` (or `PATCH` with `create_contacts`) | high (medium) |
//! | per `enrolment_size` entering contacts | `POST /v2/programs/enrolments` (not idempotent) | `enrolment` |
//! | after it, until `Finished` | `GET /v2/programs/enrolments/{id}`, then `…/report-faults` | medium |
//!
//! Give the host a quota for the `enrolment` class (`rate_limits.enrolment = { calls = 20,
//! per_secs = 3600 }`) so a large audience waits for the allowance instead of being refused.
//!
//! # Entering, staying, leaving
//!
//! A row in the audience is enrolled. Staying in the audience does not enrol again: the host's
//! sync state only hands over new and changed rows. A row out of the audience (membership false,
//! or a key in a Delete batch) enrols nobody; it is delivered when `reenrol_after_leave` is true,
//! so the state forgets the enrolled row and a return enrols again, and skipped (`LeftAudience`)
//! when false, so the state keeps it and a return is not new.
//!
//! # Outcome codes
//!
//! Rejected before sending: `NullKey`, `DuplicateKey`, `InvalidEmail`, `InvalidPhoneNumber`,
//! `InvalidContactId`; from the enrolment's fault report: its reason (one word, else
//! `EnrolmentFault`). Skipped: `ContactNotFound`, `LeftAudience`, `NullMembership`, `DryRun`.
//! Failed: the API error code of a refused enrolment (e.g. `ERROR_ENROLMENT_ALLOWANCE_EXCEEDED`),
//! `ContactLookupFailed`, `NotSent`, `RetriesExhausted`, `Cancelled`. Uncertain (sent, fate
//! unknown, never resent): `Uncertain`, `EnrolmentStatusUnknown`.

pub mod config;
pub mod planner;

pub use config::{ContactKey, ProgramsConfig};
pub use planner::ProgramsPlanner;

dotsync_plugin_sdk::export_plugin!(ProgramsPlanner);
