//! Dotdigital API facts shared by every dotsync Dotdigital plugin (contacts now; insight, lists,
//! programs and messaging later).
//!
//! What it is: plain functions and types that encode what the API expects and answers —
//! [`error`] parses v2 (`{"message": "... ERROR_X ..."}`) and v3 (`errorCode`, `description`,
//! `details`) error bodies into one [`ApiError`]; [`rate`] names the call-rate tiers and the
//! scarce slots (25 active contact imports, 5 insight imports); [`identifier`] knows the contact
//! identifiers (`email`, `mobileNumber`, `contactId`), how their values go into a path, and how
//! they are validated and normalised (pragmatic email check, E.164 mobiles as digits); [`channel`]
//! holds the channel-property enums; [`datafield`] knows the four data-field types, which Arrow
//! column types fit them, and converts Arrow values into the JSON the API wants, written straight
//! into a request body ([`json`]).
//!
//! What it is not: it does no IO, reads no clock, holds no state, plans no requests and implements
//! no `DestinationPlanner`; each plugin crate does that on top of these facts.

pub mod channel;
pub mod datafield;
pub mod error;
pub mod identifier;
pub mod json;
pub mod rate;

pub use channel::ChannelEnum;
pub use datafield::{DataField, DataFieldType, TypeMismatch, ValueColumn, ValueError, ValueErrorKind};
pub use error::ApiError;
pub use identifier::{IdentifierKind, InvalidIdentifier};
