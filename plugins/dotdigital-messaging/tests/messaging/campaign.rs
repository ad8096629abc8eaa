use dotsync_testkit::sdk::{ErrorKind, Method};
use dotsync_testkit::{BatchKind, Canned, DynPlanner, Failure, FailureKind, OutcomeStatus, PlannerError, RunMode};
use serde_json::{Value, json};

use crate::{SERVER_DATE, body, destination, harness, outcome, posts, rows};

fn config(campaign: Value, extra: Value) -> Value {
    let mut settings = json!({"campaign": campaign, "email_column": "email"});
    if let (Some(settings), Some(extra)) = (settings.as_object_mut(), extra.as_object()) {
        settings.extend(extra.clone());
    }
    json!({"action": "campaign_email", "send_key_column": "order_id", "campaign_email": settings})
}

#[test]
fn recipients_are_looked_up_and_grouped_into_one_send_per_date() {
    let mut harness = harness(
        config(json!({"id": 1001}), json!({"send_date_column": "send_at"})),
        RunMode::Run,
    );
    let batch = rows(&[
        (
            "order_id",
            (1..=8)
                .map(|n| Some(["o1", "o2", "o3", "o4", "o5", "o6", "o7", "o8"][n - 1]))
                .collect(),
        ),
        (
            "email",
            vec![
                Some("person1@example.com"),
                Some("person2@example.com"),
                Some("person3@example.com"),
                Some("nobody@example.com"),
                Some("person4@example.com"),
                Some("not-an-email"),
                Some("person5@example.com"),
                Some("person6@example.com"),
            ],
        ),
        (
            "send_at",
            vec![
                None,
                Some("2026-06-02T09:00:00Z"),
                Some(" "),
                None,
                Some("2026-05-01"),
                None,
                Some("2026-06-02T10:00:00+01:00"),
                Some("next week"),
            ],
        ),
    ]);
    let log = harness
        .run_with_input(vec![(BatchKind::Upsert, batch)], destination)
        .unwrap();
    log.check_one_outcome_per_row().unwrap();
    assert_eq!(log.requests[0].path, "/v2/campaigns/1001");

    let sends = posts(&log, "/v2/campaigns/send");
    assert_eq!(sends.len(), 2, "one send for now, one for 2026-06-02 09:00");
    assert_eq!(body(sends[0]), json!({"campaignId": 1001, "contactIds": [101, 103]}));
    assert_eq!(
        body(sends[1]),
        json!({"campaignId": 1001, "contactIds": [102, 105], "sendDate": "2026-06-02T09:00:00Z"})
    );
    for send in &sends {
        assert!(!send.idempotent, "a campaign send must never be resent blindly");
        assert!(send.writes);
        assert_eq!(send.rate_class, "medium");
    }
    for row in [0, 1, 2, 6] {
        assert_eq!(outcome(&log, row).0, OutcomeStatus::Delivered, "row {row}");
    }
    assert_eq!(
        outcome(&log, 3),
        (
            OutcomeStatus::Rejected,
            "ContactNotFound".into(),
            "no contact has email `nobody@example.com`: a campaign is sent only to existing contacts, so nothing was sent"
                .into()
        )
    );
    assert_eq!(
        outcome(&log, 4),
        (
            OutcomeStatus::Rejected,
            "SendDateInPast".into(),
            "the send date 2026-05-01T00:00:00Z is in the past (Dotdigital's clock says 2026-06-01T09:00:00Z); \
             leave it blank to send at once"
                .into()
        )
    );
    assert_eq!(
        outcome(&log, 5),
        (
            OutcomeStatus::Rejected,
            "InvalidEmail".into(),
            "email `not-an-email` has no `@`".into()
        )
    );
    let (status, code, message) = outcome(&log, 7);
    assert_eq!((status, code.as_str()), (OutcomeStatus::Rejected, "InvalidSendDate"));
    assert!(
        message.starts_with("the send date `next week` is not a date"),
        "{message}"
    );
    let looked_up = log
        .requests
        .iter()
        .filter(|r| r.path.starts_with("/contacts/v3/email/"))
        .count();
    assert_eq!(looked_up, 5, "rejected rows are not looked up");
}

#[test]
fn send_dates_are_checked_against_the_clock_of_the_last_answer_plus_elapsed_time() {
    let mut harness = harness(
        config(json!({"id": 1001}), json!({"send_date_column": "send_at"})),
        RunMode::Run,
    );
    let lookup = harness.poll_requests();
    harness.respond_with_headers(
        lookup[0].id,
        200,
        &[("Date", SERVER_DATE)],
        r#"{"id": 1001, "name": "Spring sale"}"#,
    );
    // Two hours pass on the host's clock before the rows come.
    harness.advance(2 * 3600 * 1000);
    harness.push(rows(&[
        ("order_id", vec![Some("o1"), Some("o2")]),
        ("email", vec![Some("person1@example.com"), Some("person2@example.com")]),
        (
            "send_at",
            vec![Some("2026-06-01T10:00:00Z"), Some("2026-06-01T12:00:00Z")],
        ),
    ]));
    harness.finish();
    let log = harness.run_to_end(destination).unwrap();
    let (status, code, _) = outcome(&log, 0);
    assert_eq!((status, code.as_str()), (OutcomeStatus::Rejected, "SendDateInPast"));
    assert_eq!(outcome(&log, 1).0, OutcomeStatus::Delivered);
}

#[test]
fn an_unknown_campaign_is_a_config_error_before_any_send() {
    for campaign in [json!({"name": "Autumn"}), json!({"id": 999})] {
        let mut harness = harness(config(campaign.clone(), json!({})), RunMode::Run);
        let batch = rows(&[
            ("order_id", vec![Some("o1")]),
            ("email", vec![Some("person1@example.com")]),
        ]);
        let error = harness
            .run_with_input(vec![(BatchKind::Upsert, batch)], destination)
            .unwrap_err();
        let Some(PlannerError::Plugin(error)) = error.planner_error() else {
            panic!("a plugin error, got {error}")
        };
        assert_eq!(error.kind, ErrorKind::Config);
        let target = if campaign.get("id").is_some() {
            "id 999"
        } else {
            "name `Autumn`"
        };
        assert_eq!(
            error.message,
            format!("no campaign with {target} exists in the Dotdigital account; nothing was sent")
        );
        assert!(harness.log().requests.iter().all(|r| !r.writes));
    }
}

#[test]
fn a_campaign_found_by_name_sends_time_optimised_without_a_date() {
    let mut harness = harness(
        config(json!({"name": "spring SALE"}), json!({"send_time_optimised": true})),
        RunMode::Run,
    );
    let batch = rows(&[
        ("order_id", vec![Some("o1"), Some("o2")]),
        ("email", vec![Some("person1@example.com"), Some("person1@example.com")]),
    ]);
    let log = harness
        .run_with_input(vec![(BatchKind::Upsert, batch)], destination)
        .unwrap();
    assert_eq!(log.requests[0].path, "/v2/campaigns?select=1000&skip=0");
    let sends = posts(&log, "/v2/campaigns/send-time-optimised");
    assert_eq!(
        sends.len(),
        2,
        "one contact twice: two sends, so each row's message goes"
    );
    assert_eq!(body(sends[0]), json!({"campaignId": 1001, "contactIds": [101]}));
    assert_eq!(log.count(OutcomeStatus::Delivered), 2);
}

#[test]
fn a_send_names_its_rows_for_the_host_journal() {
    let mut harness = harness(config(json!({"id": 1001}), json!({})), RunMode::Run);
    let lookup = harness.poll_requests();
    harness.respond(lookup[0].id, 200, r#"{"id": 1001, "name": "Spring sale"}"#);
    harness.push(rows(&[
        ("order_id", vec![Some("o1"), None, Some("o3")]),
        (
            "email",
            vec![
                Some("person1@example.com"),
                Some("person2@example.com"),
                Some("person3@example.com"),
            ],
        ),
    ]));
    harness.finish();
    let contacts = harness.poll_requests();
    assert_eq!(contacts.len(), 2, "the row without a key is not looked up");
    for request in &contacts {
        let email = &request.path["/contacts/v3/email/".len()..];
        let id = crate::contact_id(email).unwrap();
        harness.respond(request.id, 200, &json!({"contactId": id}).to_string());
    }
    let sends = harness.poll_requests();
    assert_eq!(sends.len(), 1);
    assert_eq!(body(&sends[0]), json!({"campaignId": 1001, "contactIds": [101, 103]}));
    assert_eq!(
        harness.planner().request_rows(sends[0].id).unwrap(),
        Some(vec![(1, 0), (1, 2)])
    );
    assert_eq!(harness.planner().request_rows(contacts[0].id).unwrap(), None);
}

#[test]
fn a_send_of_unknown_fate_is_uncertain_and_never_resent() {
    for canned in [
        Canned::failure(FailureKind::Uncertain, "timed out after sending"),
        Canned::json(502, json!({"message": "Bad gateway"})),
    ] {
        let mut harness = harness(config(json!({"id": 1001}), json!({})), RunMode::Run);
        let batch = rows(&[
            ("order_id", vec![Some("o1"), Some("o2")]),
            ("email", vec![Some("person1@example.com"), Some("person2@example.com")]),
        ]);
        let log = harness
            .run_with_input(vec![(BatchKind::Upsert, batch)], |request| {
                if request.method == Method::Post {
                    return canned.clone();
                }
                destination(request)
            })
            .unwrap();
        assert_eq!(posts(&log, "/v2/campaigns/send").len(), 1, "sent once");
        let (status, code, message) = outcome(&log, 0);
        assert_eq!((status, code.as_str()), (OutcomeStatus::Uncertain, "Uncertain"));
        assert!(message.contains("not resent"), "{message}");
        assert_eq!(log.count(OutcomeStatus::Uncertain), 2);
    }
}

#[test]
fn server_errors_that_exhausted_retries_are_uncertain_throttling_is_failed() {
    for (status, expected, code) in [
        (503, OutcomeStatus::Uncertain, "Uncertain"),
        (429, OutcomeStatus::Failed, "RetriesExhausted"),
    ] {
        let mut harness = harness(config(json!({"id": 1001}), json!({})), RunMode::Run);
        let lookup = harness.poll_requests();
        harness.respond(lookup[0].id, 200, r#"{"id": 1001, "name": "Spring sale"}"#);
        harness.push(rows(&[
            ("order_id", vec![Some("o1")]),
            ("email", vec![Some("person1@example.com")]),
        ]));
        harness.finish();
        let contact = harness.poll_requests();
        harness.respond(contact[0].id, 200, r#"{"contactId": 101}"#);
        let send = harness.poll_requests();
        let failure = Failure {
            kind: FailureKind::Exhausted,
            status,
            message: "retries exhausted",
        };
        let now = harness.now();
        harness.planner().handle_failure(send[0].id, &failure, now).unwrap();
        let outcomes = harness.outcomes();
        assert_eq!(
            (outcomes[0].status, outcomes[0].code.as_ref()),
            (expected, code),
            "HTTP {status}"
        );
    }
}

#[test]
fn a_refusal_to_send_now_fails_the_rows_so_a_later_run_sends_them() {
    let mut harness = harness(config(json!({"id": 1001}), json!({})), RunMode::Run);
    let batch = rows(&[
        ("order_id", vec![Some("o1")]),
        ("email", vec![Some("person1@example.com")]),
    ]);
    let log = harness
        .run_with_input(vec![(BatchKind::Upsert, batch)], |request| {
            if request.method == Method::Post {
                return Canned::json(
                    400,
                    json!({"message": "Send not permitted at this time. ERROR_CAMPAIGN_SENDNOTPERMITTED"}),
                );
            }
            destination(request)
        })
        .unwrap();
    let (status, code, message) = outcome(&log, 0);
    assert_eq!(
        (status, code.as_str()),
        (OutcomeStatus::Failed, "ERROR_CAMPAIGN_SENDNOTPERMITTED")
    );
    assert!(message.starts_with("Dotdigital refused the send"), "{message}");
}

#[test]
fn a_dry_run_looks_contacts_up_but_sends_nothing() {
    let mut harness = harness(config(json!({"id": 1001}), json!({})), RunMode::Plan);
    let batch = rows(&[
        ("order_id", vec![Some("o1")]),
        ("email", vec![Some("person1@example.com")]),
    ]);
    let log = harness
        .run_with_input(vec![(BatchKind::Upsert, batch)], destination)
        .unwrap();
    let (status, code, _) = outcome(&log, 0);
    assert_eq!((status, code.as_str()), (OutcomeStatus::Skipped, "DryRun"));
}

#[test]
fn check_only_looks_the_campaign_up() {
    let mut harness = harness(config(json!({"id": 1001}), json!({})), RunMode::Check);
    let log = harness.run_to_end(destination).unwrap();
    assert_eq!(log.requests.len(), 1);
    assert_eq!(log.requests[0].path, "/v2/campaigns/1001");
}
