use dotsync_testkit::{ComplianceCase, assert_compliance};
use serde_json::json;

use crate::{LIST, audience, destination};

#[test]
fn passes_the_compliance_checks() {
    assert_compliance(ComplianceCase {
        descriptor: dotdigital_lists::plugin_descriptor(),
        valid_configs: vec![json!({"list": {"id": LIST}})],
        invalid_configs: vec![
            (json!({}), "list"),
            (json!({"list": {"id": LIST}, "create_if_missing": true}), "list.name"),
            (json!({"list": {"name": " "}}), "must not be empty"),
            (json!({"list": {"id": LIST}, "import_size": 0}), "import_size"),
            (json!({"list": {"id": LIST}, "colour": "blue"}), "colour"),
        ],
        batches: vec![
            audience(&["ann@example.com", "new@example.com"]),
            audience(&["bad-email", "ann@example.com"]),
        ],
        responder: Box::new(destination),
    });
}
