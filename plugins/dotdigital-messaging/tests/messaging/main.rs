//! The messaging plugin through the real vtable: the compliance checks, then rows in → requests
//! out and canned responses in → outcomes out, per action.

mod campaign;
mod compliance;
mod email;
mod sms;

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use dotsync_testkit::sdk::Method;
use dotsync_testkit::{Canned, DynPlanner, Harness, OutcomeStatus, PluginContext, RequestSpec, RunLog, RunMode};
use serde_json::{Value, json};

/// Dotdigital's clock in the canned answers: 2026-06-01 09:00:00 UTC.
pub const SERVER_DATE: &str = "Mon, 01 Jun 2026 09:00:00 GMT";

pub fn harness(config: Value, mode: RunMode) -> Harness {
    let context = PluginContext {
        sync_name: "test".into(),
        mode,
    };
    Harness::new(dotdigital_messaging::plugin_descriptor(), config, context).expect("planner created")
}

/// A batch of text columns.
pub fn rows(columns: &[(&str, Vec<Option<&str>>)]) -> RecordBatch {
    let arrays = columns
        .iter()
        .map(|(name, values)| (*name, Arc::new(StringArray::from(values.clone())) as ArrayRef));
    RecordBatch::try_from_iter(arrays).expect("valid batch")
}

pub fn body(request: &RequestSpec) -> Value {
    serde_json::from_slice(&request.body).expect("JSON body")
}

/// The status, code and message of row `row` of the first batch.
pub fn outcome(log: &RunLog, row: u32) -> (OutcomeStatus, String, String) {
    let outcome = log
        .outcome(1, row)
        .unwrap_or_else(|| panic!("row {row} has an outcome"));
    (outcome.status, outcome.code.to_string(), outcome.message.to_string())
}

pub fn posts<'a>(log: &'a RunLog, path: &str) -> Vec<&'a RequestSpec> {
    log.requests
        .iter()
        .filter(|r| r.method == Method::Post && r.path.starts_with(path))
        .collect()
}

fn dated(status: u16, body: Value) -> Canned {
    Canned::Response {
        status,
        headers: vec![
            ("Content-Type".to_owned(), "application/json".to_owned()),
            ("Date".to_owned(), SERVER_DATE.to_owned()),
        ],
        body: body.to_string(),
    }
}

/// The contact id the fake destination gives an email: `personN@…` is N + 100; others do not
/// exist.
pub fn contact_id(email: &str) -> Option<u64> {
    email
        .strip_prefix("person")?
        .split('@')
        .next()?
        .parse::<u64>()
        .ok()
        .map(|n| n + 100)
}

/// Plays Dotdigital: campaign 1001 "Spring sale" exists; `personN@…` contacts exist; every send
/// is accepted.
pub fn destination(request: &RequestSpec) -> Canned {
    let path = request.path.as_str();
    match (request.method, path) {
        (Method::Get, "/v2/campaigns/1001") => dated(200, json!({"id": 1001, "name": "Spring sale"})),
        (Method::Get, "/v2/campaigns?select=1000&skip=0") => dated(
            200,
            json!([{"id": 1001, "name": "Spring sale"}, {"id": 1002, "name": "Order confirmation"}]),
        ),
        (Method::Get, p) if p.starts_with("/v2/campaigns/") => {
            dated(404, json!({"message": "Campaign not found. ERROR_CAMPAIGN_NOT_FOUND"}))
        }
        (Method::Get, p) if p.starts_with("/contacts/v3/email/") => {
            match contact_id(&p["/contacts/v3/email/".len()..]) {
                Some(id) => dated(200, json!({"contactId": id})),
                None => dated(
                    404,
                    json!({"errorCode": "contacts:contactNotFound", "description": "Not found"}),
                ),
            }
        }
        (Method::Post, "/v2/campaigns/send" | "/v2/campaigns/send-time-optimised") => {
            dated(202, json!({"id": "send-1", "status": "Scheduled"}))
        }
        (Method::Post, "/v2/email") => Canned::status(200),
        (Method::Post, p) if p.starts_with("/v2/sms-messages/send-to/") => Canned::status(204),
        (Method::Post, "/cpaas/messages") => Canned::json(202, json!({"messageId": "m-1"})),
        _ => Canned::json(404, json!({"message": format!("unexpected {path} ERROR_NOT_FOUND")})),
    }
}

#[test]
fn the_contract_declares_the_send_key_and_send_once() {
    let mut harness = harness(
        json!({"action": "sms", "send_key_column": "order_id",
               "sms": {"to_column": "mobile", "message": {"column": "text"}}}),
        RunMode::Run,
    );
    let contract = harness.planner().input_contract().unwrap();
    let metadata = contract.metadata();
    assert_eq!(
        metadata
            .get(dotsync_testkit::sdk::KEY_COLUMNS_METADATA)
            .map(String::as_str),
        Some("order_id")
    );
    assert_eq!(
        metadata
            .get(dotsync_testkit::sdk::SEND_ONCE_METADATA)
            .map(String::as_str),
        Some(dotsync_testkit::sdk::SEND_ONCE_PER_KEY)
    );
    let names: Vec<&str> = contract.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["order_id", "mobile", "text"]);
}

#[test]
fn null_and_repeated_send_keys_are_rejected() {
    let mut harness = harness(
        json!({"action": "sms", "send_key_column": "order_id",
               "sms": {"to_column": "mobile", "message": {"value": "Your order shipped"}}}),
        RunMode::Run,
    );
    let batch = rows(&[
        ("order_id", vec![Some("A1"), None, Some("A1")]),
        (
            "mobile",
            vec![Some("+447700900123"), Some("+447700900124"), Some("+447700900125")],
        ),
    ]);
    let log = harness
        .run_with_input(vec![(dotsync_testkit::BatchKind::Upsert, batch)], destination)
        .unwrap();
    log.check_one_outcome_per_row().unwrap();
    assert_eq!(outcome(&log, 0).0, OutcomeStatus::Delivered);
    assert_eq!(
        outcome(&log, 1),
        (
            OutcomeStatus::Rejected,
            "NullKey".into(),
            "column `order_id` is empty: it is the send key".into()
        )
    );
    assert_eq!(
        outcome(&log, 2),
        (
            OutcomeStatus::Rejected,
            "DuplicateKey".into(),
            "send key `A1` was already seen earlier in this run; only its first row is sent".into()
        )
    );
    assert_eq!(posts(&log, "/v2/sms-messages").len(), 1);
}
