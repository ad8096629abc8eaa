//! dotsync destination plugin **insight**: inserts and updates the records of a Dotdigital
//! Insight data collection, contact-scoped (each record tied to a contact) or account-scoped, and
//! in mode `mirror` deletes the records whose key left the source.
//!
//! It is a sans-IO [`DestinationPlanner`](dotsync_plugin_sdk::DestinationPlanner): no IO, no
//! clock, no threads, no global state. It does not create contacts (the API does not either:
//! records of unknown contacts are rejected), change a collection's scope or type, delete
//! collections, or retry requests (the host does).
//!
//! # Configuration (`[sync.config]`)
//!
//! ```toml
//! collection = "orders"
//! scope = "contact"                           # or "account"
//! collection_type = "orders"                  # used when creating; default "custom"
//! create_collection_if_missing = false
//! key_column = "order_id"
//! contact = { identifier = "email", column = "email" }   # contact scope only
//! mode = "upsert"                             # or "mirror"
//! import_size = 5000
//! max_record_bytes = 45000000
//!
//! [sync.config.fields]                        # property = column; dotted names nest
//! orderTotal = { column = "total", type = "number" }    # convert text (CSV) to a number
//! purchaseDate = "purchased_at"
//! "customer.name" = "customer_name"
//! products = "items"                          # a list column becomes an array
//! ```
//!
//! # Requests
//!
//! | when | request | tier / slot |
//! |---|---|---|
//! | first, also in `check` | `GET /insightData/v3/collections` | medium |
//! | missing, `create_collection_if_missing` | `POST /insightData/v3/collections/{name}?collectionScope=&collectionType=` | medium |
//! | per `import_size` records | `PUT /insightData/v3/import` | low, slot `insight-import` |
//! | after it, until final | `GET /insightData/v3/import/{id}` | medium |
//! | mirror, per departed key | `DELETE /insightData/v3/account/{collection}/{key}` or `…/contacts/{identifier}/{value}/{collection}/{key}` | medium |
//!
//! In contact scope the key columns are the record key and the contact column: a record is
//! addressed through its contact, so a departed key must carry both.
//!
//! # Outcome codes
//!
//! Rejected before sending: `NullKey`, `InvalidClientKey` (control characters), `DuplicateKey`,
//! `NullContactIdentifier`, `InvalidEmail`, `InvalidPhoneNumber`, `InvalidContactId`,
//! `InvalidJson` (a value JSON cannot hold, e.g. NaN), `InvalidValue` (a value that does not
//! convert to its property's `type`), `RecordTooLarge`. From the API: the
//! import's `failureReason` (e.g. `ContactEmailDoesNotExist`, `InconsistentTypes`), the API error
//! code of a refused import or deletion. Failed: the import status (`Failed`),
//! `InvalidResponse`, `NotSent`, `Uncertain`, `RetriesExhausted`, `Cancelled`. Skipped: `DryRun`,
//! `DeleteNotSupported` (Delete batches in mode `upsert`).

pub mod config;
pub mod document;
pub mod planner;

pub use config::{ContactColumn, ContactIdentifier, InsightConfig, Mode, Scope};
pub use planner::InsightPlanner;

dotsync_plugin_sdk::export_plugin!(InsightPlanner);
