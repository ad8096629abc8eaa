//! Engage audience membership read from identify and track events.

use dotsync_source_events::{AudienceChange, AudienceError, Contact, audience_changes, is_snake_case};

use crate::common::event;

fn changes(json: &str) -> Result<Vec<AudienceChange>, AudienceError> {
    audience_changes(&event(json))
}

fn change(audience: &str, contact: Contact, member: bool) -> AudienceChange {
    AudienceChange {
        audience: audience.to_string(),
        contact,
        member,
        line: 1,
    }
}

fn email(address: &str) -> Contact {
    Contact::Email(address.to_string())
}

#[test]
fn identify_traits_with_booleans_enter_and_leave() {
    let entered = r#"{"type":"identify","userId":"u1","traits":{"email":"ada@example.com","first_time_shopper":true}}"#;
    assert_eq!(
        changes(entered).unwrap(),
        [change("first_time_shopper", email("ada@example.com"), true)]
    );
    let exited = r#"{"type":"identify","userId":"u1","traits":{"email":"ada@example.com","first_time_shopper":false}}"#;
    assert_eq!(
        changes(exited).unwrap(),
        [change("first_time_shopper", email("ada@example.com"), false)]
    );
    let as_text = r#"{"type":"identify","userId":"u1","traits":{"j_o_step_1":"true"}}"#;
    assert_eq!(
        changes(as_text).unwrap(),
        [change("j_o_step_1", Contact::UserId("u1".to_string()), true)]
    );
}

#[test]
fn only_snake_case_boolean_traits_are_audiences() {
    let mixed = r#"{"type":"identify","userId":"u1","traits":{"email":"a@b.c","VIP":true,"firstName":true,"plan":"pro","big_spenders":true,"churn_risk":false,"score":1}}"#;
    assert_eq!(
        changes(mixed).unwrap(),
        [
            change("big_spenders", email("a@b.c"), true),
            change("churn_risk", email("a@b.c"), false)
        ]
    );
    assert!(
        changes(r#"{"type":"identify","userId":"u1","traits":{"name":"Ada"}}"#)
            .unwrap()
            .is_empty()
    );
    assert!(changes(r#"{"type":"identify","userId":"u1"}"#).unwrap().is_empty());
}

#[test]
fn engage_context_narrows_identify_to_its_audience() {
    let keyed = r#"{"type":"identify","userId":"u1","traits":{"email":"a@b.c","vip":true,"high_value":false},
        "context":{"personas":{"computation_class":"audience","computation_key":"high_value"}}}"#;
    assert_eq!(
        changes(&keyed.replace('\n', " ")).unwrap(),
        [change("high_value", email("a@b.c"), false)]
    );
    let computed_trait = r#"{"type":"identify","userId":"u1","traits":{"is_active":true},"context":{"personas":{"computation_class":"trait","computation_key":"is_active"}}}"#;
    assert!(changes(computed_trait).unwrap().is_empty());
    let key_without_trait = r#"{"type":"identify","userId":"u1","traits":{"vip":true},"context":{"personas":{"computation_key":"high_value"}}}"#;
    assert!(changes(key_without_trait).unwrap().is_empty());
    let not_boolean = r#"{"type":"identify","userId":"u1","traits":{"high_value":"yes"},"context":{"personas":{"computation_key":"high_value"}}}"#;
    assert_eq!(
        changes(not_boolean).unwrap_err().to_string(),
        r#"line 1: audience "high_value": expected true or false, got "yes""#
    );
}

#[test]
fn audience_entered_and_exited_track_events() {
    let entered = r#"{"type":"track","event":"Audience Entered","userId":"user-123","anonymousId":"anon-test-1","context":{"traits":{"email":"user@example.com"}},"properties":{"audience_key":"browse_abandoners","browse_abandoners":true,"first_name":"Jane"}}"#;
    assert_eq!(
        changes(entered).unwrap(),
        [change("browse_abandoners", email("user@example.com"), true)]
    );
    let exited = r#"{"type":"track","event":"Audience Exited","userId":"u1","properties":{"audience_key":"browse_abandoners","browse_abandoners":false}}"#;
    assert_eq!(
        changes(exited).unwrap(),
        [change("browse_abandoners", Contact::UserId("u1".to_string()), false)]
    );
    let without_value =
        r#"{"type":"track","event":"Audience Exited","userId":"u1","properties":{"audience_key":"Big Spenders"}}"#;
    assert_eq!(
        changes(without_value).unwrap(),
        [change("Big Spenders", Contact::UserId("u1".to_string()), false)]
    );
    let journey_step = r#"{"type":"track","event":"Audience Entered","userId":"u1","properties":{"j_o_first_purchase__x":"true","j_o_step_two":"true","email":"a@b.c"}}"#;
    assert_eq!(
        changes(journey_step).unwrap(),
        [
            change("j_o_first_purchase__x", email("a@b.c"), true),
            change("j_o_step_two", email("a@b.c"), true)
        ]
    );
}

#[test]
fn contradictions_and_non_booleans_are_errors() {
    let contradiction =
        r#"{"type":"track","event":"Audience Entered","userId":"u1","properties":{"audience_key":"vip","vip":false}}"#;
    assert_eq!(
        changes(contradiction).unwrap_err(),
        AudienceError::Contradiction {
            line: 1,
            audience: "vip".to_string(),
            event: "Audience Entered".to_string(),
            member: false,
        }
    );
    assert_eq!(
        changes(contradiction).unwrap_err().to_string(),
        r#"line 1: audience "vip": the event "Audience Entered" contradicts its value false"#
    );
    let not_boolean =
        r#"{"type":"track","event":"Audience Entered","userId":"u1","properties":{"audience_key":"vip","vip":1}}"#;
    assert_eq!(
        changes(not_boolean).unwrap_err().to_string(),
        r#"line 1: audience "vip": expected true or false, got 1"#
    );
}

#[test]
fn the_contact_is_an_email_first_then_the_user_id() {
    let both = r#"{"type":"identify","userId":"u1","traits":{"email":"t@x.y","vip":true},"context":{"traits":{"email":"c@x.y"}}}"#;
    assert_eq!(changes(both).unwrap()[0].contact, email("t@x.y"));
    let context_only =
        r#"{"type":"identify","userId":"u1","traits":{"email":"","vip":true},"context":{"traits":{"email":"c@x.y"}}}"#;
    assert_eq!(changes(context_only).unwrap()[0].contact, email("c@x.y"));
    let anonymous = r#"{"type":"identify","anonymousId":"a1","traits":{"vip":true}}"#;
    assert_eq!(
        changes(anonymous).unwrap_err().to_string(),
        r#"line 1: audience "vip": the event has no email (traits.email, context.traits.email, properties.email) and no userId"#
    );
    let anonymous_but_not_audience = r#"{"type":"identify","anonymousId":"a1","traits":{"plan":"pro"}}"#;
    assert!(changes(anonymous_but_not_audience).unwrap().is_empty());
}

#[test]
fn other_events_carry_no_audience() {
    for line in [
        r#"{"type":"track","event":"Order Completed","userId":"u1","properties":{"audience_key":"vip","vip":true}}"#,
        r#"{"type":"page","userId":"u1","properties":{"vip":true}}"#,
        r#"{"type":"group","groupId":"g","userId":"u1","traits":{"vip":true}}"#,
        r#"{"type":"screen","userId":"u1","properties":{"vip":true}}"#,
        r#"{"type":"alias","previousId":"p","userId":"u1"}"#,
    ] {
        assert!(changes(line).unwrap().is_empty(), "{line}");
    }
}

#[test]
fn snake_case_is_lowercase_letters_digits_and_underscores() {
    for name in [
        "vip",
        "first_time_shopper",
        "j_o_step_2",
        "a1",
        "j_o_first_purchase__opened_email_dje83h",
        "vip_",
    ] {
        assert!(is_snake_case(name), "{name}");
    }
    for name in [
        "",
        "VIP",
        "firstName",
        "_vip",
        "1st",
        "big-spenders",
        "big spenders",
        "café",
    ] {
        assert!(!is_snake_case(name), "{name}");
    }
}
