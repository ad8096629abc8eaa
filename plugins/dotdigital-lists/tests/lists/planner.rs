use base64::Engine;
use dotsync_testkit::sdk::Method;
use dotsync_testkit::{BatchKind, Canned, DynPlanner, OutcomeStatus, PlannerError, RequestSpec, RunMode};
use serde_json::{Value, json};

use crate::{LIST, audience, destination, flagged, harness};

fn body(request: &RequestSpec) -> Value {
    serde_json::from_slice(&request.body).expect("JSON body")
}

/// The CSV file inside a list import body.
fn csv_of(request: &RequestSpec) -> String {
    let data = body(request)["data"].as_str().expect("data").to_owned();
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(data).unwrap()).unwrap()
}

fn find<'a>(requests: &'a [RequestSpec], method: Method, suffix: &str) -> Vec<&'a RequestSpec> {
    requests
        .iter()
        .filter(|r| r.method == method && r.path.ends_with(suffix))
        .collect()
}

#[test]
fn an_existing_list_is_reconciled_with_the_audience() {
    let mut harness = harness(
        json!({"list": {"id": LIST}, "remove_unlisted_members": true}),
        RunMode::Run,
    );
    let contract = harness.planner().input_contract().unwrap();
    assert_eq!(
        contract
            .metadata()
            .get(dotsync_testkit::sdk::DEPARTED_KEYS_METADATA)
            .map(String::as_str),
        Some("delete"),
        "leavers come back as departed keys"
    );
    let log = harness
        .run_with_input(
            vec![(
                BatchKind::Upsert,
                audience(&["ANN@example.com", "dan@example.com", "dan@Example.com", "nope"]),
            )],
            destination,
        )
        .unwrap();
    log.check_one_outcome_per_row().unwrap();

    // Reads first: the list, then its members (v3, 5,000 a page).
    assert_eq!(log.requests[0].path, format!("/v2/address-books/{LIST}"));
    assert_eq!(log.requests[1].path, format!("/contacts/v3?limit=5000&~listId={LIST}"));
    assert!(!log.requests[1].writes);

    // Only the newcomer is imported; ann is a member already.
    let imports = find(&log.requests, Method::Post, "/contacts/import");
    assert_eq!(imports.len(), 1);
    assert_eq!(imports[0].path, format!("/v2/address-books/{LIST}/contacts/import"));
    assert_eq!(imports[0].slot_class, "contact-import");
    assert_eq!(csv_of(imports[0]), "Email\ndan@example.com\n");
    assert_eq!(log.released_slots, vec![imports[0].id]);

    // bob and cara are not in the audience any more: one bulk removal.
    let removals = find(&log.requests, Method::Post, "/contacts/delete");
    assert_eq!(removals.len(), 1);
    assert_eq!(body(removals[0]), json!([2, 3]));

    let codes: Vec<(OutcomeStatus, String)> = (0..4)
        .map(|row| {
            let outcome = log.outcome(1, row).unwrap();
            (outcome.status, outcome.code.to_string())
        })
        .collect();
    assert_eq!(
        codes,
        vec![
            (OutcomeStatus::Delivered, String::new()),
            (OutcomeStatus::Delivered, String::new()),
            (OutcomeStatus::Rejected, "DuplicateKey".into()),
            (OutcomeStatus::Rejected, "InvalidEmail".into()),
        ]
    );
}

#[test]
fn a_membership_column_adds_and_removes_only_the_rows_it_names() {
    let mut harness = harness(
        json!({"list": {"id": LIST}, "membership_column": "in_audience"}),
        RunMode::Run,
    );
    let log = harness
        .run_with_input(
            vec![(
                BatchKind::Upsert,
                flagged(&[
                    ("bob@example.com", Some(false)),
                    ("new@example.com", Some(true)),
                    ("gone@example.com", Some(false)),
                    ("who@example.com", None),
                ]),
            )],
            destination,
        )
        .unwrap();
    let removals = find(&log.requests, Method::Post, "/contacts/delete");
    assert_eq!(removals.len(), 1);
    assert_eq!(
        body(removals[0]),
        json!([2]),
        "cara and ann stay: absent rows decide nothing"
    );
    let imports = find(&log.requests, Method::Post, "/contacts/import");
    assert_eq!(csv_of(imports[0]), "Email\nnew@example.com\n");
    assert_eq!(log.count(OutcomeStatus::Delivered), 3);
    assert_eq!(&*log.outcome(1, 3).unwrap().code, "NullMembership");
}

#[test]
fn unlisted_members_stay_unless_asked_to_go() {
    let mut harness = harness(json!({"list": {"id": LIST}}), RunMode::Run);
    let log = harness
        .run_with_input(vec![(BatchKind::Upsert, audience(&["ann@example.com"]))], destination)
        .unwrap();
    assert!(
        find(&log.requests, Method::Post, "/contacts/delete").is_empty(),
        "an incremental run hands over changed rows only: absence proves nothing"
    );
    assert_eq!(log.count(OutcomeStatus::Delivered), 1);
}

#[test]
fn departed_keys_are_removed_from_the_list() {
    let mut harness = harness(
        json!({"list": {"id": LIST}, "membership_column": "in_audience"}),
        RunMode::Run,
    );
    let log = harness
        .run_with_input(
            vec![(BatchKind::Delete, audience(&["cara@example.com", "never@example.com"]))],
            destination,
        )
        .unwrap();
    let removals = find(&log.requests, Method::Post, "/contacts/delete");
    assert_eq!(body(removals[0]), json!([3]));
    assert_eq!(log.count(OutcomeStatus::Delivered), 2);
}

#[test]
fn import_faults_reject_their_rows_and_data_fields_become_columns() {
    let mut harness = harness(
        json!({"list": {"id": LIST}, "data_fields": {"firstname": "first_name"}}),
        RunMode::Run,
    );
    let names: arrow_array::ArrayRef = std::sync::Arc::new(arrow_array::StringArray::from(vec![Some("Dan"), None]));
    let emails: arrow_array::ArrayRef = std::sync::Arc::new(arrow_array::StringArray::from(vec![
        "dan@example.com",
        "zed@example.com",
    ]));
    let batch = arrow_array::RecordBatch::try_from_iter(vec![("email", emails), ("first_name", names)]).unwrap();
    let log = harness
        .run_with_input(vec![(BatchKind::Upsert, batch)], |request| {
            if request.path == "/v2/data-fields" {
                return Canned::json(200, json!([{"name": "FIRSTNAME", "type": "String"}]));
            }
            if request.path.ends_with("/report-faults") {
                return Canned::text(200, "Reason,Email,FIRSTNAME\nSuppressed,ZED@example.com,\n");
            }
            destination(request)
        })
        .unwrap();
    let imports = find(&log.requests, Method::Post, "/contacts/import");
    assert_eq!(
        csv_of(imports[0]),
        "Email,FIRSTNAME\ndan@example.com,Dan\nzed@example.com,\n"
    );
    assert_eq!(log.outcome(1, 0).unwrap().status, OutcomeStatus::Delivered);
    let zed = log.outcome(1, 1).unwrap();
    assert_eq!((zed.status, zed.code.as_ref()), (OutcomeStatus::Rejected, "Suppressed"));
}

#[test]
fn a_missing_list_by_id_stops_before_any_write() {
    let mut harness = harness(json!({"list": {"id": 99}}), RunMode::Run);
    let error = harness
        .run_with_input(vec![(BatchKind::Upsert, audience(&["a@example.com"]))], |_| {
            Canned::json(404, json!({"message": "ERROR_ADDRESSBOOK_NOT_FOUND"}))
        })
        .unwrap_err();
    let Some(PlannerError::Plugin(error)) = error.planner_error() else {
        panic!("a plugin error, got {error}")
    };
    assert_eq!(
        error.message,
        "the list with id 99 does not exist in the Dotdigital account"
    );
    assert!(harness.log().requests.iter().all(|r| !r.writes));
}

#[test]
fn a_list_named_but_missing_is_created_and_a_dry_run_skips_its_rows() {
    let config = json!({"list": {"name": "VIP"}, "create_if_missing": true, "visibility": "public"});
    let lists_page = |request: &RequestSpec| {
        assert_eq!(request.path, "/v2/address-books?select=1000&skip=0");
        Canned::json(200, json!([{"id": 1, "name": "Newsletter"}]))
    };
    // Run: the list is created, then the audience imported into it.
    let mut run = harness(config.clone(), RunMode::Run);
    let log = run
        .run_with_input(
            vec![(BatchKind::Upsert, audience(&["a@example.com"]))],
            |request| match (request.method, request.path.as_str()) {
                (Method::Get, path) if path.starts_with("/v2/address-books?") => lists_page(request),
                (Method::Post, "/v2/address-books") => {
                    assert_eq!(body(request), json!({"name": "VIP", "visibility": "Public"}));
                    assert!(!request.idempotent);
                    Canned::json(201, json!({"id": 500, "name": "VIP"}))
                }
                (Method::Get, path) if path.starts_with("/contacts/v3?") => {
                    assert!(path.contains("~listId=500"));
                    Canned::json(200, json!({"_items": []}))
                }
                _ => destination(request),
            },
        )
        .unwrap();
    assert_eq!(
        find(&log.requests, Method::Post, "/contacts/import")[0].path,
        "/v2/address-books/500/contacts/import"
    );
    assert_eq!(log.count(OutcomeStatus::Delivered), 1);

    // Plan: the creation is a write, so it is not sent, and the rows are skipped.
    let mut plan = harness(config, RunMode::Plan);
    let log = plan
        .run_with_input(vec![(BatchKind::Upsert, audience(&["a@example.com"]))], lists_page)
        .unwrap();
    let outcome = log.outcome(1, 0).unwrap();
    assert_eq!(
        (outcome.status, outcome.code.as_ref()),
        (OutcomeStatus::Skipped, "DryRun")
    );
}

#[test]
fn without_create_contacts_unknown_contacts_are_skipped() {
    let mut harness = harness(json!({"list": {"id": LIST}, "create_contacts": false}), RunMode::Run);
    let log = harness
        .run_with_input(
            vec![(
                BatchKind::Upsert,
                audience(&["ann@example.com", "eve@example.com", "zed@example.com"]),
            )],
            |request| {
                if request.path == "/contacts/v3?limit=5000" {
                    return Canned::json(
                        200,
                        json!({"_items": [{"contactId": 9, "identifiers": {"email": "eve@example.com"}}]}),
                    );
                }
                destination(request)
            },
        )
        .unwrap();
    let imports = find(&log.requests, Method::Post, "/contacts/import");
    assert_eq!(csv_of(imports[0]), "Email\neve@example.com\n");
    let zed = log.outcome(1, 2).unwrap();
    assert_eq!(
        (zed.status, zed.code.as_ref()),
        (OutcomeStatus::Skipped, "ContactNotFound")
    );
}

#[test]
fn check_reads_the_list_and_nothing_else() {
    let mut harness = harness(json!({"list": {"id": LIST}}), RunMode::Check);
    let log = harness.run_to_end(destination).unwrap();
    let paths: Vec<&str> = log.requests.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, vec!["/v2/address-books/345579"]);
}
