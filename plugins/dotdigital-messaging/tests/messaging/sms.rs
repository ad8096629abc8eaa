use dotsync_testkit::{BatchKind, OutcomeStatus, RunMode};
use serde_json::{Value, json};

use crate::{body, destination, harness, outcome, posts, rows};

#[test]
fn marketing_sms_go_to_normalised_numbers() {
    let mut harness = harness(
        json!({"action": "sms", "send_key_column": "order_id",
               "sms": {"to_column": "mobile", "message": {"column": "message"}}}),
        RunMode::Run,
    );
    let batch = rows(&[
        ("order_id", vec![Some("o1"), Some("o2"), Some("o3"), Some("o4")]),
        (
            "mobile",
            vec![
                Some("+44 7700-900123"),
                Some("07700 900123"),
                Some("+44770090012x"),
                Some("447700900124"),
            ],
        ),
        (
            "message",
            vec![Some("Your parcel is on its way"), Some("Hi"), Some("Hi"), None],
        ),
    ]);
    let log = harness
        .run_with_input(vec![(BatchKind::Upsert, batch)], destination)
        .unwrap();
    log.check_one_outcome_per_row().unwrap();
    let sends = posts(&log, "/v2/sms-messages/send-to/");
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0].path, "/v2/sms-messages/send-to/447700900123");
    assert_eq!(body(sends[0]), json!({"message": "Your parcel is on its way"}));
    assert!(!sends[0].idempotent);
    assert_eq!(sends[0].rate_class, "unlimited");
    assert_eq!(outcome(&log, 0).0, OutcomeStatus::Delivered);
    assert_eq!(
        outcome(&log, 1),
        (
            OutcomeStatus::Rejected,
            "InvalidPhoneNumber".into(),
            "mobile number `07700 900123` starts with 0, a national format; E.164 starts with the country code (e.g. +447700900123)"
                .into()
        )
    );
    let (status, code, message) = outcome(&log, 2);
    assert_eq!((status, code.as_str()), (OutcomeStatus::Rejected, "InvalidPhoneNumber"));
    assert!(
        message.starts_with("mobile number `+44770090012x` contains `x`"),
        "{message}"
    );
    assert_eq!(
        outcome(&log, 3),
        (
            OutcomeStatus::Rejected,
            "MissingValue".into(),
            "the message is empty (column `message`)".into()
        )
    );
}

fn transactional(extra: Value) -> Value {
    let mut settings = json!({"to_column": "mobile", "message": {"column": "message"}});
    if let (Some(settings), Some(extra)) = (settings.as_object_mut(), extra.as_object()) {
        settings.extend(extra.clone());
    }
    json!({"action": "transactional_sms", "send_key_column": "order_id", "transactional_sms": settings})
}

#[test]
fn transactional_sms_keep_to_gsm_and_one_part() {
    let mut harness = harness(transactional(json!({"from": {"value": "DemoShop"}})), RunMode::Run);
    let too_long = "a".repeat(161);
    let batch = rows(&[
        ("order_id", vec![Some("o1"), Some("o2"), Some("o3")]),
        (
            "mobile",
            vec![Some("+447700900123"), Some("447700900124"), Some("447700900125")],
        ),
        (
            "message",
            vec![
                Some("Your code is 1234"),
                Some("Your code is 1234 😀"),
                Some(too_long.as_str()),
            ],
        ),
    ]);
    let log = harness
        .run_with_input(vec![(BatchKind::Upsert, batch)], destination)
        .unwrap();
    log.check_one_outcome_per_row().unwrap();
    let sends = posts(&log, "/cpaas/messages");
    assert_eq!(sends.len(), 1);
    assert_eq!(
        body(sends[0]),
        json!({
            "to": {"phoneNumber": "447700900123"},
            "body": "Your code is 1234",
            "rules": ["sms"],
            "channelOptions": {"sms": {"from": "DemoShop", "allowUnicode": false}},
            "shortenLinks": "off"
        })
    );
    assert!(!sends[0].idempotent);
    assert_eq!(sends[0].rate_class, "unlimited");
    assert_eq!(outcome(&log, 0).0, OutcomeStatus::Delivered);
    assert_eq!(
        outcome(&log, 1),
        (
            OutcomeStatus::Rejected,
            "NonGsmCharacters".into(),
            "the message contains `😀`, which is not in the GSM-7 alphabet: Dotdigital drops such messages unless \
             `allow_unicode = true`"
                .into()
        )
    );
    assert_eq!(
        outcome(&log, 2),
        (
            OutcomeStatus::Rejected,
            "MessageTooLong".into(),
            "the message is 161 GSM-7 characters long (`€ ^ { } [ ] ~ | \\` count as two); a transactional SMS \
             takes at most 160"
                .into()
        )
    );
}

#[test]
fn unicode_is_sent_when_allowed_up_to_one_unicode_part() {
    let mut harness = harness(
        transactional(json!({"allow_unicode": true, "shorten_links": true})),
        RunMode::Run,
    );
    let too_long = format!("{} 😀", "a".repeat(68));
    let batch = rows(&[
        ("order_id", vec![Some("o1"), Some("o2")]),
        ("mobile", vec![Some("447700900123"), Some("447700900124")]),
        (
            "message",
            vec![Some("Danke schön 😀 https://demo.example/o/1"), Some(too_long.as_str())],
        ),
    ]);
    let log = harness
        .run_with_input(vec![(BatchKind::Upsert, batch)], destination)
        .unwrap();
    let sends = posts(&log, "/cpaas/messages");
    assert_eq!(sends.len(), 1);
    let sent = body(sends[0]);
    assert_eq!(sent["channelOptions"], json!({"sms": {"allowUnicode": true}}));
    assert_eq!(sent["shortenLinks"], "on");
    assert_eq!(
        outcome(&log, 1),
        (
            OutcomeStatus::Rejected,
            "MessageTooLong".into(),
            "the message is 71 characters long in UTF-16; a transactional SMS with characters outside GSM-7 takes \
             at most 70"
                .into()
        )
    );
}
