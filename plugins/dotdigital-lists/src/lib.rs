//! dotsync destination plugin **lists**: keeps a Dotdigital list (address book) equal to an
//! audience. Contacts that enter are added through the v2 list import (created first when the
//! config allows, with mapped data fields); contacts that leave are removed from the list with
//! the bulk removal (they stay in the account). Before planning any row it reads the list's
//! current members, so an existing list is reconciled rather than filled twice.
//!
//! It is a sans-IO [`DestinationPlanner`](dotsync_plugin_sdk::DestinationPlanner): no IO, no
//! clock, no threads, no global state. It does not delete contacts, change data of contacts
//! already in the list, manage more than one list per sync, or retry requests (the host does).
//! The key is the email address: the v2 list import needs an `Email` column.
//!
//! # Configuration (`[sync.config]`)
//!
//! ```toml
//! list = { name = "VIP customers" }   # or { id = 345579 }
//! create_if_missing = true            # only with a name; default false
//! visibility = "private"              # of a created list; or "public"
//! email_column = "email"              # the key
//! membership_column = "in_audience"   # optional boolean; without it the rows are the audience
//! remove_unlisted_members = false     # true: also remove members no row names (full runs only)
//! create_contacts = true              # false: unknown contacts are skipped (ContactNotFound)
//! data_fields = { FIRSTNAME = "first_name" }
//! import_size = 10000
//! poll_interval_ms = 1000
//! ```
//!
//! # Requests
//!
//! | when | request | tier / slot |
//! |---|---|---|
//! | first, also in `check` | `GET /v2/address-books/{id}`, or `GET /v2/address-books?select=1000&skip=N` pages by name | high |
//! | list missing, `create_if_missing` | `POST /v2/address-books` (not idempotent) | medium |
//! | `data_fields` set, also in `check` | `GET /v2/data-fields` | medium |
//! | before rows | `GET /contacts/v3?limit=5000&~listId={id}[&marker=…]`, ⌈members / 5000⌉ pages | low |
//! | before rows, `create_contacts = false` | `GET /contacts/v3?limit=5000[&marker=…]`, ⌈contacts / 5000⌉ pages | low |
//! | per `import_size` entering contacts | `POST /v2/address-books/{id}/contacts/import` | low, slot `contact-import` |
//! | after it, until final | `GET /v2/contacts/import/{id}`, then `…/report-faults` | medium |
//! | per 5,000 leaving contacts | `POST /v2/address-books/{id}/contacts/delete` | low |
//!
//! # Membership and runs
//!
//! Without `membership_column` every source row is a member; with it, rows decide (true: add,
//! false: remove, null: skipped `NullMembership`). The plugin asks the host for departed keys
//! (`dotsync.departed_keys = delete` in its input contract): keys delivered in an earlier run
//! and gone from the source arrive as Delete batches and are removed from the list. Members the
//! sync never delivered (added by hand) stay, unless `remove_unlisted_members` is set for a run
//! in which every source row reaches the plugin (the first run, `--full`).
//!
//! # Outcome codes
//!
//! Rejected before sending: `NullKey`, `InvalidEmail`, `DuplicateKey`, `InvalidDataFieldValue`.
//! From the API: the import fault report's reason (one word, else `ImportFault`); the API error
//! code of a refused import or removal (400 → rejected, else failed). Failed: the import status
//! (`Failed`, …), `FaultReportUnavailable`, `InvalidResponse`, `NotSent`, `Uncertain`,
//! `RetriesExhausted`, `Cancelled`. Skipped: `ContactNotFound`, `NullMembership`, `DryRun`.
//! Rows already as they should be (a member that stays, a non-member that leaves) are delivered.

pub mod config;
pub mod directory;
pub mod import;
pub mod planner;

pub use config::{ListsConfig, Visibility};
pub use planner::ListsPlanner;

dotsync_plugin_sdk::export_plugin!(ListsPlanner);
