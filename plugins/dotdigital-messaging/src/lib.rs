//! dotsync destination plugin **messaging**: sends one Dotdigital message per row — a campaign
//! email to an existing contact, a transactional email, a marketing SMS or a transactional SMS —
//! and sends each send key at most once, ever.
//!
//! It is a sans-IO [`DestinationPlanner`](dotsync_plugin_sdk::DestinationPlanner): no IO, no
//! clock, no threads, no global state. It does not create or change campaigns or contacts, read
//! events (rows only, for now), attach files, send triggered-campaign emails, or resend a message
//! whose fate is unknown: every send is marked not idempotent and names its rows, so the host
//! journals each row before the send leaves and never sends it twice.
//!
//! # Configuration (`[sync.config]`)
//!
//! One sync, one `action`; its settings go in the table of the same name. Texts are
//! `{ column = "name" }` (per row) or `{ value = "text" }` (the same for every row).
//!
//! ```toml
//! action = "campaign_email"          # or "transactional_email", "sms", "transactional_sms"
//! send_key_column = "order_id"       # each key is sent at most once, ever
//!
//! [sync.config.campaign_email]
//! campaign = { name = "Spring sale" } # or { id = 1001 }; unknown stops the run before any send
//! email_column = "email"             # the contact must exist
//! send_date_column = "send_at"       # optional; blank = now, past = rejected
//! send_time_optimised = false        # true: Dotdigital picks the time (no send_date_column)
//! send_size = 10000                  # contacts per send call
//!
//! [sync.config.transactional_email]
//! from = { value = "Demo Shop <shop@demo.example>" }  # optional; or { column = "from" }
//! to_column = "email"                # comma-separated text or a list; 1 to 100 addresses
//! cc_column = "cc"                   # optional, at most 100 (more rejects the row)
//! bcc_column = "bcc"                 # optional, at most 100
//! subject = { value = "Your receipt" }
//! html_content = { column = "html" }
//! plain_text_content = { column = "text" }  # optional
//!
//! [sync.config.sms]
//! to_column = "mobile"               # E.164, `+` optional, spaces and dashes removed
//! message = { column = "message" }
//!
//! [sync.config.transactional_sms]
//! to_column = "mobile"
//! from = { value = "DemoShop" }      # optional
//! message = { column = "message" }   # at most 160 GSM-7 characters
//! allow_unicode = false              # true: other characters allowed, then at most 70
//! shorten_links = false
//! ```
//!
//! # Requests
//!
//! | when | request | tier |
//! |---|---|---|
//! | `campaign_email`, first, also in `check` | `GET /v2/campaigns/{id}`, or `GET /v2/campaigns?select=1000&skip=N` pages by name | high |
//! | `campaign_email`, per row | `GET /contacts/v3/email/{email}` (its contact id) | high |
//! | `campaign_email`, per send date and up to `send_size` contacts | `POST /v2/campaigns/send` or `/v2/campaigns/send-time-optimised` (not idempotent) | medium |
//! | `transactional_email`, per row | `POST /v2/email` (not idempotent) | unlimited |
//! | `sms`, per row | `POST /v2/sms-messages/send-to/{number}` (not idempotent) | unlimited |
//! | `transactional_sms`, per row | `POST /cpaas/messages` (not idempotent) | unlimited |
//!
//! Transactional emails go one per request: `POST /v2/email/batch` exists, but the API
//! documentation says nothing of how it reports one bad email among many, and one lost answer
//! would leave a whole batch uncertain.
//!
//! # Send once
//!
//! The input contract names `send_key_column` as the key (`dotsync.key_columns`) and asks for
//! `dotsync.send_once = "per_key"`: the host hands over only keys it has never settled. A key
//! repeated within a run is rejected. A send whose answer is lost (timeout, reset after
//! sending) or is a server error (which may come after the message went out) is reported
//! `uncertain` and never resent by the plugin.
//!
//! # Outcome codes
//!
//! Rejected before sending (nothing sent): `NullKey`, `DuplicateKey`, `MissingValue`,
//! `InvalidEmail`, `InvalidPhoneNumber`, `TooManyRecipients`, `InvalidSendDate`,
//! `SendDateInPast`, `NonGsmCharacters`, `MessageTooLong`, `ContactNotFound`. Refused by
//! Dotdigital: the API's code, e.g. `ERROR_PARAMETER_INVALID`, `ERROR_CAMPAIGN_SENDNOTPERMITTED`,
//! `cpaas:invalidPhoneNumber` (rejected for a 400, failed otherwise). Failed: `NotSent`,
//! `RetriesExhausted`, `Cancelled`, `ContactLookupFailed`, `InvalidResponse`. Skipped: `DryRun`,
//! `DeleteNotSupported`. Uncertain (may have been sent, never resent): `Uncertain`.

pub mod actions;
pub mod columns;
pub mod config;
pub mod message;
pub mod planner;

pub use config::{Action, MessagingConfig, Text};
pub use planner::MessagingPlanner;

/// Outcome codes of this plugin besides the shared ones (`NullKey`, `DuplicateKey`,
/// `ContactNotFound`, `DryRun`, `InvalidResponse`, `DeleteNotSupported`) and the API's own.
pub mod outcome_codes {
    /// A value the message needs (address, subject, content, message, number) is empty.
    pub const MISSING_VALUE: &str = "MissingValue";
    /// An email address (to, CC, BCC, from, or a campaign recipient) is not valid.
    pub const INVALID_EMAIL: &str = "InvalidEmail";
    /// A mobile number is not E.164.
    pub const INVALID_PHONE_NUMBER: &str = "InvalidPhoneNumber";
    /// More than 100 to, CC or BCC addresses.
    pub const TOO_MANY_RECIPIENTS: &str = "TooManyRecipients";
    /// A send date that is not a date.
    pub const INVALID_SEND_DATE: &str = "InvalidSendDate";
    /// A send date before Dotdigital's current time.
    pub const SEND_DATE_IN_PAST: &str = "SendDateInPast";
    /// A transactional SMS with characters outside GSM-7 while `allow_unicode` is false.
    pub const NOT_GSM: &str = "NonGsmCharacters";
    /// A transactional SMS longer than one part allows.
    pub const MESSAGE_TOO_LONG: &str = "MessageTooLong";
    /// The campaign recipient's contact could not be looked up.
    pub const CONTACT_LOOKUP_FAILED: &str = "ContactLookupFailed";
    /// The send may have reached Dotdigital; it is never resent.
    pub const UNCERTAIN: &str = "Uncertain";
}

dotsync_plugin_sdk::export_plugin!(MessagingPlanner);
