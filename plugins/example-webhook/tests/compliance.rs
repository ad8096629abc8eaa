//! The compliance checks every plugin runs, plus the planner's own behaviour: rows in, requests
//! out; canned responses in, outcomes out.

use std::sync::Arc;

use arrow_array::{RecordBatch, StringArray};
use dotsync_plugin_sdk::{DataType, FailureKind, Field, Method, OutcomeStatus, PluginContext, Schema};
use dotsync_testkit::{Canned, ComplianceCase, Harness, assert_compliance};
use serde_json::json;

fn rows(emails: &[&str]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![Field::new("email", DataType::Utf8, true)]));
    RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(emails.to_vec()))]).expect("valid batch")
}

fn config() -> serde_json::Value {
    json!({ "path": "/v1/rows", "columns": ["email"] })
}

#[test]
fn passes_the_compliance_checks() {
    assert_compliance(ComplianceCase {
        descriptor: example_webhook::plugin_descriptor(),
        valid_configs: vec![config()],
        invalid_configs: vec![
            (json!({ "path": "/v1/rows" }), "columns"),
            (
                json!({ "path": "v1/rows", "columns": ["email"] }),
                "must start with `/`",
            ),
            (
                json!({ "path": "/v1/rows", "columns": ["email"], "colour": "blue" }),
                "colour",
            ),
        ],
        batches: vec![rows(&["a@example.com", "b@example.com"]), rows(&["c@example.com"])],
        responder: Box::new(|_| Canned::status(200)),
    });
}

#[test]
fn posts_each_batch_as_a_json_array() {
    let mut harness = Harness::new(example_webhook::plugin_descriptor(), config(), PluginContext::default()).unwrap();
    harness.push(rows(&["a@example.com", "b@example.com"]));
    harness.finish();
    let requests = harness.poll_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, Method::Post);
    assert_eq!(requests[0].path, "/v1/rows");
    assert!(requests[0].writes);
    let body: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(
        body,
        json!([{ "email": "a@example.com" }, { "email": "b@example.com" }])
    );
}

#[test]
fn outcomes_follow_the_response() {
    let mut harness = Harness::new(example_webhook::plugin_descriptor(), config(), PluginContext::default()).unwrap();
    let accepted = harness.push(rows(&["a@example.com"]));
    let refused = harness.push(rows(&["b@example.com", "c@example.com"]));
    let lost = harness.push(rows(&["d@example.com"]));
    harness.finish();
    let requests = harness.poll_requests();
    assert_eq!(requests.len(), 3);
    harness.respond(requests[0].id, 201, "");
    harness.respond(requests[1].id, 422, r#"{"error":"bad"}"#);
    harness.fail(requests[2].id, FailureKind::Exhausted, "HTTP 503 after 8 attempts");
    let outcomes = harness.outcomes();
    let status_of = |batch, row| {
        outcomes
            .iter()
            .find(|o| o.batch_id == batch && o.row == row)
            .map(|o| (o.status, o.code.to_string()))
    };
    assert_eq!(status_of(accepted, 0), Some((OutcomeStatus::Delivered, String::new())));
    assert_eq!(
        status_of(refused, 1),
        Some((OutcomeStatus::Rejected, "Http422".to_owned()))
    );
    assert_eq!(
        status_of(lost, 0),
        Some((OutcomeStatus::Failed, "Exhausted".to_owned()))
    );
    assert_eq!(outcomes.len(), 4);
}
