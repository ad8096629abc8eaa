use dotsync_testkit::{ComplianceCase, assert_compliance};
use serde_json::json;

use crate::{destination, rows};

#[test]
fn campaign_email_passes_the_compliance_checks() {
    assert_compliance(ComplianceCase {
        descriptor: dotdigital_messaging::plugin_descriptor(),
        valid_configs: vec![json!({
            "action": "campaign_email", "send_key_column": "order_id",
            "campaign_email": {"campaign": {"id": 1001}, "email_column": "email", "send_date_column": "send_at"}
        })],
        invalid_configs: vec![
            (json!({}), "action"),
            (
                json!({"action": "campaign_email", "send_key_column": "id"}),
                "needs its settings in the table `campaign_email`",
            ),
            (
                json!({"action": "campaign_email", "send_key_column": "id",
                       "campaign_email": {"campaign": {"name": " "}, "email_column": "email"}}),
                "`campaign_email.campaign.name` must not be empty",
            ),
            (
                json!({"action": "campaign_email", "send_key_column": "id",
                       "campaign_email": {"campaign": {"id": 1001}, "email_column": "email", "send_size": 0}}),
                "send_size",
            ),
            (
                json!({"action": "campaign_email", "send_key_column": "",
                       "campaign_email": {"campaign": {"id": 1001}, "email_column": "email"}}),
                "`send_key_column` must name a source column",
            ),
        ],
        batches: vec![
            rows(&[
                ("order_id", vec![Some("1"), Some("2"), Some("3")]),
                (
                    "email",
                    vec![Some("person1@example.com"), Some("nobody@example.com"), Some("x")],
                ),
                ("send_at", vec![None, Some("2026-07-01T09:00:00Z"), None]),
            ]),
            rows(&[
                ("order_id", vec![Some("4"), Some("1")]),
                ("email", vec![Some("person2@example.com"), Some("person3@example.com")]),
                ("send_at", vec![Some("2020-01-01"), None]),
            ]),
        ],
        responder: Box::new(destination),
    });
}

#[test]
fn transactional_email_passes_the_compliance_checks() {
    assert_compliance(ComplianceCase {
        descriptor: dotdigital_messaging::plugin_descriptor(),
        valid_configs: vec![json!({
            "action": "transactional_email", "send_key_column": "order_id",
            "transactional_email": {"to_column": "email", "cc_column": "cc", "subject": {"value": "Your receipt"},
                                    "html_content": {"column": "html"}}
        })],
        invalid_configs: vec![
            (
                json!({"action": "transactional_email", "send_key_column": "id",
                       "transactional_email": {"to_column": "email", "subject": {"value": ""}, "html_content": {"value": "x"}}}),
                "`transactional_email.subject.value` must not be empty",
            ),
            (
                json!({"action": "transactional_email", "send_key_column": "id",
                       "transactional_email": {"to_column": "email", "subject": {"value": "Hi"}}}),
                "html_content",
            ),
        ],
        batches: vec![rows(&[
            ("order_id", vec![Some("1"), Some("2")]),
            ("email", vec![Some("ann@example.com"), Some("not-an-email")]),
            ("cc", vec![None, Some("b@example.com")]),
            ("html", vec![Some("<p>Thanks</p>"), Some("<p>Thanks</p>")]),
        ])],
        responder: Box::new(destination),
    });
}

#[test]
fn sms_passes_the_compliance_checks() {
    assert_compliance(ComplianceCase {
        descriptor: dotdigital_messaging::plugin_descriptor(),
        valid_configs: vec![json!({
            "action": "sms", "send_key_column": "order_id",
            "sms": {"to_column": "mobile", "message": {"column": "message"}}
        })],
        invalid_configs: vec![(
            json!({"action": "sms", "send_key_column": "id",
                   "sms": {"to_column": "mobile", "message": {"value": "Hi"}},
                   "campaign_email": {"campaign": {"id": 1}, "email_column": "email"}}),
            "the table `campaign_email` is set but `action` is \"sms\"",
        )],
        batches: vec![rows(&[
            ("order_id", vec![Some("1"), Some("2")]),
            ("mobile", vec![Some("+44 7700 900123"), Some("07700900123")]),
            ("message", vec![Some("Your parcel is on its way"), Some("Hi")]),
        ])],
        responder: Box::new(destination),
    });
}

#[test]
fn transactional_sms_passes_the_compliance_checks() {
    assert_compliance(ComplianceCase {
        descriptor: dotdigital_messaging::plugin_descriptor(),
        valid_configs: vec![json!({
            "action": "transactional_sms", "send_key_column": "order_id",
            "transactional_sms": {"to_column": "mobile", "message": {"column": "message"}}
        })],
        invalid_configs: vec![(
            json!({"action": "transactional_sms", "send_key_column": "id",
                   "transactional_sms": {"to_column": "mobile", "message": {"value": "x".repeat(161)}}}),
            "a transactional SMS takes at most 160",
        )],
        batches: vec![rows(&[
            ("order_id", vec![Some("1"), Some("2")]),
            ("mobile", vec![Some("447700900123"), Some("447700900124")]),
            ("message", vec![Some("Your code is 1234"), Some("Your code is 😀")]),
        ])],
        responder: Box::new(destination),
    });
}
