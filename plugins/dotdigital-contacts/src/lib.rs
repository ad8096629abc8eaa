//! dotsync destination plugin **contacts**: keeps Dotdigital contacts (identifiers, data fields,
//! channel status and opt-in, list membership) in step with a table, through the contacts v3 bulk
//! import.
//!
//! It is a sans-IO [`DestinationPlanner`](dotsync_plugin_sdk::DestinationPlanner): it turns Arrow
//! rows into request descriptions and reads the responses; it does no IO, reads no clock (time
//! comes in as `now`), starts no threads and holds no global state. It does not delete contacts,
//! remove them from lists, create data fields or lists, or retry requests (the host retries).
//!
//! # Configuration (`[sync.config]`)
//!
//! ```toml
//! mode = "upsert"                # or "update": existing contacts only
//! key = "email"                  # or "mobile_number", "contact_id"
//! merge_option = "overwrite"     # or "overwrite_if_not_empty", "overwrite_if_empty"
//! clear_nulls = false            # true: a null data field clears the contact's value
//! lists = [345579]               # add every contact to these lists
//! import_size = 10000            # contacts per bulk import (max 50000; bodies stay < 45 MB)
//! poll_interval_ms = 1000        # first status poll; x1.5 per unfinished poll, up to 10 s
//! email_status = { value = "subscribed" }
//! sms_status = { column = "sms_status" }
//!
//! [sync.config.identifiers]
//! email = "email"
//! mobile_number = "phone"
//!
//! [sync.config.data_fields]
//! FIRSTNAME = "first_name"
//! LASTNAME = "last_name"
//! ```
//!
//! # Requests
//!
//! | when | request | tier / slot |
//! |---|---|---|
//! | first, also in `check` | `GET /v2/data-fields` | medium |
//! | per chunk of `import_size` rows | `PUT /contacts/v3/import` | low, slot `contact-import` |
//! | after 202, until final | `GET /contacts/v3/import/{importId}` | medium |
//! | update mode, chunk ≤ 20 rows | `GET /contacts/v3/{identifier}/{value}` per row | high |
//! | update mode, larger chunks, once per run | `GET /contacts/v3?limit=5000[&marker=…]` paged | low |
//!
//! **Update mode cost.** A chunk of at most 20 rows costs one single-contact GET per row (high
//! tier, cheap). A larger chunk instead triggers, once per run, a walk over all the account's
//! contacts (⌈contacts / 5000⌉ low-tier calls) into a compact set of key hashes (about 8 MB per
//! million contacts), which then answers every later chunk with no further calls. For a run of a
//! few hundred rows against an account of millions this walk is more calls than per-row lookups;
//! keep `import_size` ≤ 20 for such trickle runs. A contact created or deleted by someone else
//! between the walk and the import is not seen.
//!
//! **Repeated keys.** A key's second row in a run is refused (`DuplicateKey`), so the planner
//! remembers the key hashes it accepted (a 16 MiB table for the first 2^20, then about 6 bytes
//! a key). For a larger source that the host can read twice (a Parquet or Arrow IPC file), it
//! asks for the host's key pre-pass and remembers only the keys the pre-pass names as
//! repeating: its memory then stays flat as the source grows.
//!
//! # Outcome codes
//!
//! Rejected before sending: `NullKey`, `DuplicateKey`, `InvalidEmail`, `InvalidPhoneNumber`,
//! `InvalidContactId`, `InvalidDataFieldValue`, `DataFieldValueOverflow`, `InvalidEnumValue`.
//! From the API: the import report's `failureCode` (e.g. `InvalidEmail`, `GloballySuppressed`)
//! for rejected rows; the API error code (e.g. `contacts:invalidContacts`) for a refused import
//! (400 → rejected, other statuses → failed). Failed: the import status (`Failed`,
//! `RejectedByWatchdog`, `ExceedsAllowedContactLimit`), `NotSent`, `Uncertain`,
//! `RetriesExhausted`, `Cancelled`, `InvalidResponse`, `ContactLookupFailed`. Skipped:
//! `ContactNotFound` (update mode), `DryRun`, `DeleteNotSupported`.

pub mod config;
pub mod encode;
mod key_set;
pub mod planner;

pub use config::{ContactsConfig, Identifiers, KeyKind, MergeOption, Mode, ValueSource};
pub use planner::ContactsPlanner;

dotsync_plugin_sdk::export_plugin!(ContactsPlanner);
