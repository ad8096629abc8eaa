//! The lists plugin through the real vtable: the compliance checks, then rows in → requests out
//! and canned responses in → outcomes out.

mod compliance;
mod planner;

use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, RecordBatch, StringArray};
use dotsync_testkit::{Canned, Harness, PluginContext, RequestSpec, RunMode};
use serde_json::{Value, json};

/// The list every test uses, with members ann (1), bob (2) and cara (3).
pub const LIST: u64 = 345579;

pub fn harness(config: Value, mode: RunMode) -> Harness {
    let context = PluginContext {
        sync_name: "test".into(),
        mode,
    };
    Harness::new(dotdigital_lists::plugin_descriptor(), config, context).expect("planner created")
}

/// Audience rows: one email column.
pub fn audience(emails: &[&str]) -> RecordBatch {
    let column: ArrayRef = Arc::new(StringArray::from(emails.to_vec()));
    RecordBatch::try_from_iter(vec![("email", column)]).expect("valid batch")
}

/// Rows with a membership column.
pub fn flagged(rows: &[(&str, Option<bool>)]) -> RecordBatch {
    let emails: ArrayRef = Arc::new(StringArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>()));
    let flags: ArrayRef = Arc::new(BooleanArray::from(rows.iter().map(|r| r.1).collect::<Vec<_>>()));
    RecordBatch::try_from_iter(vec![("email", emails), ("in_audience", flags)]).expect("valid batch")
}

/// Plays Dotdigital: the list exists with three members; imports finish at once without faults;
/// removals are accepted.
pub fn destination(request: &RequestSpec) -> Canned {
    let path = request.path.as_str();
    if path == format!("/v2/address-books/{LIST}") {
        return Canned::json(200, json!({"id": LIST, "name": "Newsletter", "visibility": "Public"}));
    }
    if path.starts_with("/contacts/v3?") {
        return Canned::json(
            200,
            json!({"_items": [
                {"contactId": 1, "identifiers": {"email": "ann@example.com"}},
                {"contactId": 2, "identifiers": {"email": "bob@example.com"}},
                {"contactId": 3, "identifiers": {"email": "cara@example.com"}}
            ], "_links": {}}),
        );
    }
    if path.ends_with("/contacts/import") {
        return Canned::json(202, json!({"id": "imp-1", "status": "NotFinished"}));
    }
    if path == "/v2/contacts/import/imp-1" {
        return Canned::json(200, json!({"id": "imp-1", "status": "Finished"}));
    }
    if path.ends_with("/report-faults") {
        return Canned::text(200, "Reason,Email\n");
    }
    if path.ends_with("/contacts/delete") {
        return Canned::json(202, json!({"id": "del-1", "status": "Started"}));
    }
    Canned::json(404, json!({"message": format!("unexpected {path}")}))
}
