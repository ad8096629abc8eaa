use dotsync_testkit::{ComplianceCase, assert_compliance};
use serde_json::json;

use crate::{destination, stores, stores_config};

#[test]
fn passes_the_compliance_checks() {
    assert_compliance(ComplianceCase {
        descriptor: dotdigital_insight::plugin_descriptor(),
        valid_configs: vec![stores_config()],
        invalid_configs: vec![
            (
                json!({"collection": "stores", "scope": "account", "key_column": "id"}),
                "fields",
            ),
            (
                json!({"collection": "orders", "scope": "contact", "key_column": "id", "fields": {"a": "a"}}),
                "`contact` must name",
            ),
            (
                json!({"collection": "9lives", "scope": "account", "key_column": "id", "fields": {"a": "a"}}),
                "not a valid collection name",
            ),
            (
                json!({"collection": "stores", "scope": "account", "key_column": "id", "fields": {"a-b": "x", "a_b": "y"}}),
                "clash",
            ),
            (
                json!({"collection": "stores", "scope": "account", "key_column": "id", "fields": {"a": "a"}, "collection_type": "misc"}),
                "collection_type",
            ),
        ],
        batches: vec![
            stores(&[("s1", "Leeds"), ("bad", "Oops")]),
            stores(&[("", "No key"), ("s1", "Again")]),
        ],
        responder: Box::new(destination),
    });
}
