use dotsync_testkit::sdk::Method;
use dotsync_testkit::{BatchKind, Canned, DynPlanner, FailureKind, OutcomeStatus, PlannerError, RequestSpec, RunMode};
use serde_json::{Value, json};

use crate::{audience, destination, flagged, harness};

fn body(request: &RequestSpec) -> Value {
    serde_json::from_slice(&request.body).expect("JSON body")
}

fn enrolments(requests: &[RequestSpec]) -> Vec<&RequestSpec> {
    requests
        .iter()
        .filter(|r| r.method == Method::Post && r.path == "/v2/programs/enrolments")
        .collect()
}

#[test]
fn entering_contacts_are_enrolled_in_one_call_and_faults_reported_per_row() {
    let mut harness = harness(json!({"program": {"id": 77}}), RunMode::Run);
    let log = harness
        .run_with_input(
            vec![(
                BatchKind::Upsert,
                audience(&["person1@example.com", "person2@example.com", "nobody@example.com", "x"]),
            )],
            destination,
        )
        .unwrap();
    log.check_one_outcome_per_row().unwrap();
    assert_eq!(log.requests[0].path, "/v2/programs/77");
    let calls = enrolments(&log.requests);
    assert_eq!(calls.len(), 1);
    assert_eq!(body(calls[0]), json!({"programId": 77, "contacts": [101, 102]}));
    assert!(!calls[0].idempotent, "an enrolment must never be resent blindly");
    assert!(calls[0].writes);
    assert_eq!(calls[0].rate_class, "enrolment");
    let outcome = |row| {
        let o = log.outcome(1, row).unwrap();
        (o.status, o.code.to_string())
    };
    assert_eq!(outcome(0), (OutcomeStatus::Rejected, "ContactNotSubscribed".into()));
    assert_eq!(outcome(1), (OutcomeStatus::Delivered, String::new()));
    assert_eq!(outcome(2), (OutcomeStatus::Skipped, "ContactNotFound".into()));
    assert_eq!(outcome(3), (OutcomeStatus::Rejected, "InvalidEmail".into()));
}

#[test]
fn the_enrolment_status_is_polled_until_finished() {
    let mut harness = harness(json!({"program": {"id": 77}, "poll_interval_ms": 500}), RunMode::Run);
    let mut polls = 0;
    let log = harness
        .run_with_input(
            vec![(BatchKind::Upsert, audience(&["person5@example.com"]))],
            |request| {
                if request.path == "/v2/programs/enrolments/enr-1" {
                    polls += 1;
                    let status = if polls < 3 { "Processing" } else { "Finished" };
                    return Canned::json(200, json!({"id": "enr-1", "status": status}));
                }
                destination(request)
            },
        )
        .unwrap();
    assert_eq!(polls, 3);
    assert!(harness.now() >= 500 + 750 + 1125, "polls back off: {}", harness.now());
    assert_eq!(log.count(OutcomeStatus::Delivered), 1);
}

#[test]
fn a_program_that_is_not_active_stops_the_run_before_any_write() {
    let mut harness = harness(json!({"program": {"id": 78}}), RunMode::Run);
    let error = harness
        .run_with_input(
            vec![(BatchKind::Upsert, audience(&["person1@example.com"]))],
            destination,
        )
        .unwrap_err();
    let Some(PlannerError::Plugin(error)) = error.planner_error() else {
        panic!("a plugin error, got {error}")
    };
    assert!(
        error
            .message
            .contains("is Draft; only an Active program accepts enrolments"),
        "{}",
        error.message
    );
    assert!(harness.log().requests.iter().all(|r| !r.writes));
}

#[test]
fn a_program_is_found_by_name() {
    let mut harness = harness(json!({"program": {"name": "welcome"}}), RunMode::Check);
    let log = harness
        .run_to_end(|request| {
            assert_eq!(request.path, "/v2/programs?select=1000&skip=0");
            Canned::json(200, json!([{"id": 78, "name": "Win-back", "status": "Draft"}, {"id": 77, "name": "Welcome", "status": "Active"}]))
        })
        .unwrap();
    assert_eq!(log.requests.len(), 1);
}

#[test]
fn missing_contacts_are_created_when_allowed() {
    let mut harness = harness(json!({"program": {"id": 77}, "create_contacts": true}), RunMode::Run);
    let log = harness
        .run_with_input(vec![(BatchKind::Upsert, audience(&["new@example.com"]))], destination)
        .unwrap();
    let patch = log.requests.iter().find(|r| r.method == Method::Patch).unwrap();
    assert_eq!(patch.path, "/contacts/v3/email/new@example.com");
    assert_eq!(body(patch), json!({"identifiers": {"email": "new@example.com"}}));
    assert_eq!(
        body(enrolments(&log.requests)[0]),
        json!({"programId": 77, "contacts": [900]})
    );
}

#[test]
fn leaving_is_delivered_only_when_re_enrolment_is_allowed() {
    for (reenrol, expected) in [
        (true, (OutcomeStatus::Delivered, "")),
        (false, (OutcomeStatus::Skipped, "LeftAudience")),
    ] {
        let config = json!({"program": {"id": 77}, "membership_column": "in_audience", "reenrol_after_leave": reenrol});
        let mut harness = harness(config, RunMode::Run);
        let log = harness
            .run_with_input(
                vec![
                    (BatchKind::Upsert, flagged(&[("person1@example.com", Some(false))])),
                    (BatchKind::Delete, audience(&["person2@example.com"])),
                ],
                destination,
            )
            .unwrap();
        assert!(enrolments(&log.requests).is_empty(), "nobody enters");
        for batch in [1, 2] {
            let outcome = log.outcome(batch, 0).unwrap();
            assert_eq!((outcome.status, outcome.code.as_ref()), expected, "reenrol {reenrol}");
        }
    }
}

#[test]
fn an_enrolment_of_unknown_fate_is_uncertain_and_never_resent() {
    let mut harness = harness(json!({"program": {"id": 77}, "key": "contact_id"}), RunMode::Run);
    let batch = audience(&["11", "12"]);
    let log = harness
        .run_with_input(vec![(BatchKind::Upsert, batch)], |request| {
            if request.path == "/v2/programs/enrolments" {
                return Canned::failure(FailureKind::Uncertain, "timed out after sending");
            }
            destination(request)
        })
        .unwrap();
    assert_eq!(enrolments(&log.requests).len(), 1, "sent once");
    assert_eq!(log.count(OutcomeStatus::Uncertain), 2);
}

#[test]
fn a_dry_run_looks_contacts_up_but_enrols_nobody() {
    let mut harness = harness(json!({"program": {"id": 77}}), RunMode::Plan);
    let log = harness
        .run_with_input(
            vec![(BatchKind::Upsert, audience(&["person1@example.com"]))],
            destination,
        )
        .unwrap();
    let outcome = log.outcome(1, 0).unwrap();
    assert_eq!(
        (outcome.status, outcome.code.as_ref()),
        (OutcomeStatus::Skipped, "DryRun")
    );
}

#[test]
fn an_enrolment_names_its_rows_for_the_host_journal() {
    let mut harness = harness(json!({"program": {"id": 77}, "key": "contact_id"}), RunMode::Run);
    let program = harness.poll_requests();
    harness.respond(
        program[0].id,
        200,
        r#"{"id": 77, "name": "Welcome", "status": "Active"}"#,
    );
    harness.push(audience(&["11", "", "12"]));
    harness.finish();
    let requests = harness.poll_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(body(&requests[0]), json!({"programId": 77, "contacts": [11, 12]}));
    assert_eq!(
        harness.planner().request_rows(requests[0].id).unwrap(),
        Some(vec![(1, 0), (1, 2)]),
        "the row with no key is not in it"
    );
    assert_eq!(harness.planner().request_rows(program[0].id).unwrap(), None);
}

#[test]
fn departed_keys_are_asked_for_only_when_a_return_enrols_again() {
    for (reenrol, asked) in [(true, Some("delete")), (false, None)] {
        let mut harness = harness(
            json!({"program": {"id": 77}, "reenrol_after_leave": reenrol}),
            RunMode::Run,
        );
        let contract = harness.planner().input_contract().unwrap();
        assert_eq!(
            contract
                .metadata()
                .get(dotsync_testkit::sdk::DEPARTED_KEYS_METADATA)
                .map(String::as_str),
            asked
        );
    }
}
