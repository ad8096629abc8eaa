//! Dotdigital API facts shared by every dotsync Dotdigital plugin (contacts, lists, programs,
//! insight; messaging later).
//!
//! What it is: plain functions and types that encode what the API expects and answers —
//! [`error`] parses v2 (`{"message": "... ERROR_X ..."}`) and v3 (`errorCode`, `description`,
//! `details`) error bodies into one [`ApiError`]; [`rate`] names the call-rate tiers and the
//! scarce slots (25 active contact imports, 5 insight imports); [`identifier`] knows the contact
//! identifiers (`email`, `mobileNumber`, `contactId`), how their values go into a path, and how
//! they are validated and normalised (pragmatic email check, E.164 mobiles as digits); [`channel`]
//! holds the channel-property enums; [`datafield`] knows the four data-field types, which Arrow
//! column types fit them, and converts Arrow values into the JSON the API wants, written straight
//! into a request body ([`json`]). [`contact_page`] pages through contacts (of the account or of
//! one list); [`named`] finds a list or program named by id or by name; [`csv`] reads and writes
//! the v2 API's CSV (list imports, fault reports); [`polling`] says where an asynchronous job
//! stands and when to poll it next; [`prehashed`] keys maps and sets by xxh3 hashes without
//! hashing them again; [`planning`] holds the bookkeeping every planner needs
//! (request ids, counted outcomes, failure codes, credential refusals). A private `word` module
//! tests eight bytes at a time for the JSON escape scan and the email check.
//!
//! What it is not: it does no IO, reads no clock, holds no state between runs, decides no
//! request order and implements no `DestinationPlanner`; each plugin crate does that on top of
//! these facts.

pub mod channel;
pub mod contact_page;
pub mod csv;
pub mod datafield;
pub mod error;
pub mod identifier;
pub mod json;
pub mod named;
pub mod planning;
pub mod polling;
pub mod prehashed;
pub mod rate;
mod word;

pub use channel::ChannelEnum;
pub use datafield::{DataField, DataFieldType, MappedField, TypeMismatch, ValueColumn, ValueError, ValueErrorKind};
pub use error::ApiError;
pub use identifier::{IdentifierKind, InvalidIdentifier};
pub use named::{LookupStep, NamedLookup, NamedResource, ResourceRef};
pub use planning::{Outcomes, Requests};
pub use polling::{Job, JobPhase, Jobs, PollSchedule};
pub use prehashed::{PrehashedMap, PrehashedSet};
