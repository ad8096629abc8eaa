use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch, StringArray};
use dotsync_testkit::sdk::{ErrorKind, Method};
use dotsync_testkit::{BatchKind, Canned, FailureKind, OutcomeStatus, PlannerError, RunMode};
use serde_json::{Value, json};

use crate::{body, destination, harness, outcome, posts, rows};

fn config(extra: Value) -> Value {
    let mut settings = json!({
        "to_column": "to",
        "subject": {"column": "subject"},
        "html_content": {"value": "<p>Thanks for your order</p>"}
    });
    if let (Some(settings), Some(extra)) = (settings.as_object_mut(), extra.as_object()) {
        settings.extend(extra.clone());
    }
    json!({"action": "transactional_email", "send_key_column": "order_id", "transactional_email": settings})
}

#[test]
fn each_row_is_one_email_with_its_addresses_and_content() {
    let mut harness = harness(
        config(json!({
            "from": {"value": "Demo Shop <shop@demo.example>"},
            "cc_column": "cc",
            "plain_text_content": {"column": "text"}
        })),
        RunMode::Run,
    );
    let mut cc = ListBuilder::new(StringBuilder::new());
    cc.values().append_value("boss@example.com");
    cc.values().append_value(" audit@example.com ");
    cc.append(true);
    cc.append(false);
    let batch = RecordBatch::try_from_iter(vec![
        ("order_id", Arc::new(StringArray::from(vec!["o1", "o2"])) as ArrayRef),
        (
            "to",
            Arc::new(StringArray::from(vec![
                "ann@example.com, bob@example.com",
                "cara@example.com",
            ])) as ArrayRef,
        ),
        ("cc", Arc::new(cc.finish()) as ArrayRef),
        (
            "subject",
            Arc::new(StringArray::from(vec!["Receipt 1", "Receipt 2"])) as ArrayRef,
        ),
        (
            "text",
            Arc::new(StringArray::from(vec![Some("Thanks"), None])) as ArrayRef,
        ),
    ])
    .unwrap();
    let log = harness
        .run_with_input(vec![(BatchKind::Upsert, batch)], destination)
        .unwrap();
    log.check_one_outcome_per_row().unwrap();
    let emails = posts(&log, "/v2/email");
    assert_eq!(emails.len(), 2);
    assert_eq!(
        body(emails[0]),
        json!({
            "toAddresses": ["ann@example.com", "bob@example.com"],
            "ccAddresses": ["boss@example.com", "audit@example.com"],
            "bccAddresses": [],
            "subject": "Receipt 1",
            "htmlContent": "<p>Thanks for your order</p>",
            "fromAddress": "Demo Shop <shop@demo.example>",
            "plainTextContent": "Thanks"
        })
    );
    assert_eq!(body(emails[1])["ccAddresses"], json!([]));
    assert!(body(emails[1]).get("plainTextContent").is_none());
    for email in &emails {
        assert!(!email.idempotent, "an email must never be resent blindly");
        assert_eq!(email.rate_class, "unlimited");
    }
    assert_eq!(log.count(OutcomeStatus::Delivered), 2);
}

#[test]
fn bad_addresses_and_missing_content_reject_the_row_and_send_nothing() {
    let mut harness = harness(
        config(json!({"from": {"column": "from"}, "cc_column": "cc", "bcc_column": "bcc"})),
        RunMode::Run,
    );
    let hundred_and_one = (0..101)
        .map(|i| format!("copy{i}@example.com"))
        .collect::<Vec<_>>()
        .join(",");
    let hundred = (0..100)
        .map(|i| format!("copy{i}@example.com"))
        .collect::<Vec<_>>()
        .join(",");
    let batch = rows(&[
        (
            "order_id",
            vec![Some("o1"), Some("o2"), Some("o3"), Some("o4"), Some("o5"), Some("o6")],
        ),
        (
            "to",
            vec![
                Some("ann@example.com"),
                Some("ann@example.com"),
                Some("ann@example.com, bob@"),
                Some("ann@example.com"),
                Some(" , "),
                Some("ann@example.com"),
            ],
        ),
        ("cc", vec![Some(hundred_and_one.as_str()), None, None, None, None, None]),
        ("bcc", vec![None, Some(hundred.as_str()), None, None, None, None]),
        (
            "subject",
            vec![Some("Hi"), Some("Hi"), Some("Hi"), None, Some("Hi"), Some("Hi")],
        ),
        ("from", vec![None, None, None, None, None, Some("Shop <shop>")]),
    ]);
    let log = harness
        .run_with_input(vec![(BatchKind::Upsert, batch)], destination)
        .unwrap();
    log.check_one_outcome_per_row().unwrap();
    assert_eq!(
        outcome(&log, 0),
        (
            OutcomeStatus::Rejected,
            "TooManyRecipients".into(),
            "has 101 CC addresses; an email takes at most 100, and the row is not sent rather than sent to fewer"
                .into()
        )
    );
    assert_eq!(
        outcome(&log, 1).0,
        OutcomeStatus::Delivered,
        "100 BCC addresses are fine"
    );
    assert_eq!(
        outcome(&log, 2),
        (
            OutcomeStatus::Rejected,
            "InvalidEmail".into(),
            "to address `bob@` has nothing after the `@`".into()
        )
    );
    assert_eq!(
        outcome(&log, 3),
        (
            OutcomeStatus::Rejected,
            "MissingValue".into(),
            "the subject is empty (column `subject`)".into()
        )
    );
    assert_eq!(
        outcome(&log, 4),
        (
            OutcomeStatus::Rejected,
            "MissingValue".into(),
            "has no to address: an email needs at least one recipient".into()
        )
    );
    assert_eq!(
        outcome(&log, 5),
        (
            OutcomeStatus::Rejected,
            "InvalidEmail".into(),
            "from address `shop` has no `@`".into()
        )
    );
    assert_eq!(posts(&log, "/v2/email").len(), 1, "only the valid row is sent");
}

#[test]
fn the_apis_answers_decide_each_rows_outcome() {
    let batch = || {
        rows(&[
            ("order_id", vec![Some("o1")]),
            ("to", vec![Some("ann@example.com")]),
            ("subject", vec![Some("Hi")]),
        ])
    };
    let cases = [
        (
            Canned::json(
                400,
                json!({"message": "Email is not a valid email address. ERROR_PARAMETER_INVALID"}),
            ),
            OutcomeStatus::Rejected,
            "ERROR_PARAMETER_INVALID",
        ),
        (
            Canned::text(500, "<html>Internal Server Error</html>"),
            OutcomeStatus::Uncertain,
            "Uncertain",
        ),
        (
            Canned::failure(FailureKind::Uncertain, "connection reset after sending"),
            OutcomeStatus::Uncertain,
            "Uncertain",
        ),
        (
            Canned::failure(FailureKind::NotSent, "connection refused"),
            OutcomeStatus::Failed,
            "NotSent",
        ),
    ];
    for (canned, status, code) in cases {
        let mut harness = harness(config(json!({})), RunMode::Run);
        let log = harness
            .run_with_input(vec![(BatchKind::Upsert, batch())], |_| canned.clone())
            .unwrap();
        let outcome = log.outcome(1, 0).unwrap();
        assert_eq!((outcome.status, outcome.code.as_ref()), (status, code), "{canned:?}");
        assert_eq!(log.requests.len(), 1, "never resent");
    }
}

#[test]
fn an_account_without_transactional_email_stops_the_run() {
    let mut harness = harness(config(json!({})), RunMode::Run);
    let batch = rows(&[
        ("order_id", vec![Some("o1"), Some("o2")]),
        ("to", vec![Some("ann@example.com"), Some("bob@example.com")]),
        ("subject", vec![Some("Hi"), Some("Hi")]),
    ]);
    let error = harness
        .run_with_input(vec![(BatchKind::Upsert, batch)], |request| {
            assert_eq!(request.method, Method::Post);
            Canned::json(403, json!({"message": "Feature not active. ERROR_FEATURENOTACTIVE"}))
        })
        .unwrap_err();
    let Some(PlannerError::Plugin(error)) = error.planner_error() else {
        panic!("a plugin error, got {error}")
    };
    assert_eq!(error.kind, ErrorKind::Config);
    assert!(
        error
            .message
            .starts_with("the Dotdigital account cannot send `transactional_email` messages"),
        "{}",
        error.message
    );
}
