//! The programs plugin through the real vtable: the compliance checks, then rows in → requests
//! out and canned responses in → outcomes out.

mod compliance;
mod planner;

use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, RecordBatch, StringArray};
use dotsync_testkit::sdk::Method;
use dotsync_testkit::{Canned, Harness, PluginContext, RequestSpec, RunMode};
use serde_json::{Value, json};

pub fn harness(config: Value, mode: RunMode) -> Harness {
    let context = PluginContext {
        sync_name: "test".into(),
        mode,
    };
    Harness::new(dotdigital_programs::plugin_descriptor(), config, context).expect("planner created")
}

pub fn audience(emails: &[&str]) -> RecordBatch {
    let column: ArrayRef = Arc::new(StringArray::from(emails.to_vec()));
    RecordBatch::try_from_iter(vec![("email", column)]).expect("valid batch")
}

pub fn flagged(rows: &[(&str, Option<bool>)]) -> RecordBatch {
    let emails: ArrayRef = Arc::new(StringArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>()));
    let flags: ArrayRef = Arc::new(BooleanArray::from(rows.iter().map(|r| r.1).collect::<Vec<_>>()));
    RecordBatch::try_from_iter(vec![("email", emails), ("in_audience", flags)]).expect("valid batch")
}

/// The contact id the fake destination gives an email: `personN@…` is N + 100; others do not
/// exist (unless created by a PATCH, which gives 900).
pub fn contact_id(email: &str) -> Option<u64> {
    email
        .strip_prefix("person")?
        .split('@')
        .next()?
        .parse::<u64>()
        .ok()
        .map(|n| n + 100)
}

/// Plays Dotdigital: program 77 is Active, 78 a Draft; enrolments finish at once; contact 101
/// is refused by the enrolment's fault report.
pub fn destination(request: &RequestSpec) -> Canned {
    let path = request.path.as_str();
    match (request.method, path) {
        (Method::Get, "/v2/programs/77") => Canned::json(200, json!({"id": 77, "name": "Welcome", "status": "Active"})),
        (Method::Get, "/v2/programs/78") => Canned::json(200, json!({"id": 78, "name": "Win-back", "status": "Draft"})),
        (Method::Get, p) if p.starts_with("/contacts/v3/email/") => {
            match contact_id(&p["/contacts/v3/email/".len()..]) {
                Some(id) => Canned::json(200, json!({"contactId": id})),
                None => Canned::json(
                    404,
                    json!({"errorCode": "contacts:contactNotFound", "description": "Not found"}),
                ),
            }
        }
        (Method::Patch, p) if p.starts_with("/contacts/v3/email/") => {
            match contact_id(&p["/contacts/v3/email/".len()..]) {
                Some(id) => Canned::json(200, json!({"contactId": id})),
                None => Canned::json(201, json!({"contactId": 900})),
            }
        }
        (Method::Post, "/v2/programs/enrolments") => {
            Canned::json(201, json!({"id": "enr-1", "programId": 77, "status": "Processing"}))
        }
        (Method::Get, "/v2/programs/enrolments/enr-1") => {
            Canned::json(200, json!({"id": "enr-1", "status": "Finished"}))
        }
        (Method::Get, "/v2/programs/enrolments/enr-1/report-faults") => {
            Canned::text(200, "ContactId,Reason\n101,ContactNotSubscribed\n")
        }
        _ => Canned::json(404, json!({"message": format!("unexpected {path} ERROR_NOT_FOUND")})),
    }
}
