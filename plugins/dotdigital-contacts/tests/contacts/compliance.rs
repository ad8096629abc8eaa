//! The testkit's compliance checks, which every plugin passes: schema round trip with the
//! schema's examples and with bad configs, exactly one outcome per row over a sample run played by
//! a responder that answers like Dotdigital, and panic containment.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use dotsync_plugin_sdk::{Method, RequestSpec};
use dotsync_testkit::{Canned, ComplianceCase, assert_compliance};
use serde_json::json;

use crate::common::DATA_FIELDS;

fn contacts(emails: &[&str], first_names: &[Option<&str>]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("email", DataType::Utf8, true),
        Field::new("first_name", DataType::Utf8, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(emails.to_vec())),
        Arc::new(StringArray::from(first_names.to_vec())),
    ];
    RecordBatch::try_new(schema, columns).expect("valid batch")
}

/// Answers as Dotdigital does: the data fields, a 202 with an import id for each import, and a
/// finished import with no failures when it is polled.
fn dotdigital(request: &RequestSpec) -> Canned {
    match (request.method, request.path.as_str()) {
        (Method::Get, "/v2/data-fields") => Canned::text(200, DATA_FIELDS),
        (Method::Put, "/contacts/v3/import") => {
            Canned::json(202, json!({ "importId": format!("import-{}", request.id) }))
        }
        (Method::Get, path) if path.starts_with("/contacts/v3/import/") => {
            Canned::json(200, json!({ "status": "Finished", "failures": [] }))
        }
        (method, path) => panic!("the contacts plugin sent an unexpected request: {method:?} {path}"),
    }
}

#[test]
fn passes_the_compliance_checks() {
    assert_compliance(ComplianceCase {
        descriptor: dotdigital_contacts::plugin_descriptor(),
        valid_configs: vec![json!({
            "data_fields": { "FIRSTNAME": "first_name" },
            "import_size": 2
        })],
        invalid_configs: vec![
            (json!({ "mode": "replace" }), "replace"),
            (json!({ "import_size": 0 }), "import_size"),
            (json!({ "colour": "blue" }), "colour"),
        ],
        batches: vec![
            contacts(
                &["ann@example.com", "bob@example.com", "cy@example.com"],
                &[Some("Ann"), None, Some("Cy")],
            ),
            contacts(&["dee@example.com"], &[Some("Dee")]),
        ],
        responder: Box::new(dotdigital),
    });
}
