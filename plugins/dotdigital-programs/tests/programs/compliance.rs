use dotsync_testkit::{ComplianceCase, assert_compliance};
use serde_json::json;

use crate::{audience, destination};

#[test]
fn passes_the_compliance_checks() {
    assert_compliance(ComplianceCase {
        descriptor: dotdigital_programs::plugin_descriptor(),
        valid_configs: vec![json!({"program": {"id": 77}})],
        invalid_configs: vec![
            (json!({}), "program"),
            (
                json!({"program": {"id": 77}, "key": "contact_id", "create_contacts": true}),
                "create_contacts",
            ),
            (json!({"program": {"name": ""}}), "must not be empty"),
            (json!({"program": {"id": 77}, "enrolment_size": 0}), "enrolment_size"),
        ],
        batches: vec![
            audience(&["person1@example.com", "person2@example.com", "unknown@example.com"]),
            audience(&["not-an-email", "person1@example.com"]),
        ],
        responder: Box::new(destination),
    });
}
