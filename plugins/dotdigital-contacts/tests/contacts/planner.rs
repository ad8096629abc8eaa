//! The contacts planner driven through its vtable: rows in, exact requests out; canned responses
//! in, per-row outcomes out.

use std::sync::Arc;

use crate::common::{DATA_FIELDS, Harness, batch, body_json};
use arrow_array::{ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, StringArray};
use dotsync_plugin_sdk::{
    BatchKind, DynPlanner, ErrorKind, FailureKind, KEY_COLUMNS_METADATA, Method, OutcomeStatus, PlannerError, Poll,
    RunMode,
};
use serde_json::json;

fn strings(values: &[Option<&str>]) -> ArrayRef {
    Arc::new(StringArray::from(values.to_vec()))
}

fn emails(values: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(values.to_vec()))
}

fn plugin_error(error: PlannerError) -> (ErrorKind, String) {
    match error {
        PlannerError::Plugin(error) => (error.kind, error.message),
        other => panic!("expected a plugin error, got {other:?}"),
    }
}

#[test]
fn input_contract_names_the_mapped_columns_and_the_key() {
    let harness = Harness::new(json!({
        "identifiers": {"email": "email", "mobile_number": "phone"},
        "data_fields": {"FIRSTNAME": "first_name", "AGE": "age"},
        "sms_status": {"column": "sms"}
    }));
    let contract = harness.planner.input_contract().unwrap();
    let fields: Vec<(String, String)> = contract
        .fields()
        .iter()
        .map(|field| (field.name().clone(), field.data_type().to_string()))
        .collect();
    assert_eq!(
        fields,
        vec![
            ("email".into(), "Utf8".into()),
            ("phone".into(), "Utf8".into()),
            ("age".into(), "Null".into()),
            ("first_name".into(), "Null".into()),
            ("sms".into(), "Null".into()),
        ]
    );
    assert_eq!(
        contract.metadata().get(KEY_COLUMNS_METADATA).map(String::as_str),
        Some("email")
    );
}

#[test]
fn rows_become_one_exact_import_body() {
    let mut harness = Harness::new(json!({
        "identifiers": {"email": "email", "mobile_number": "phone"},
        "data_fields": {"firstname": "first_name", "AGE": "age", "BIRTHDAY": "birthday", "VIP": "vip"},
        "email_status": {"value": "Subscribed"},
        "email_opt_in_type": {"value": "double"},
        "sms_status": {"column": "sms"},
        "lists": [7, 8],
        "merge_option": "overwrite_if_not_empty"
    }));
    let requests = harness.poll_all();
    assert_eq!(requests.len(), 1);
    let preflight = &requests[0];
    assert_eq!(
        (preflight.method, preflight.path.as_str()),
        (Method::Get, "/v2/data-fields")
    );
    assert_eq!(preflight.rate_class, "medium");
    assert!(!preflight.writes);
    harness.push(
        1,
        batch(vec![
            ("email", emails(&["ann@example.com", "Bob@Example.com"])),
            ("phone", strings(&[Some("+447700900123"), None])),
            ("first_name", strings(&[Some("Ann \"A\""), None])),
            ("age", Arc::new(Int64Array::from(vec![Some(41), Some(7)]))),
            ("birthday", Arc::new(Date32Array::from(vec![Some(7395), None]))),
            ("vip", Arc::new(BooleanArray::from(vec![Some(true), Some(false)]))),
            ("sms", strings(&[Some("SUBSCRIBED"), None])),
        ]),
    );
    harness.respond(preflight.id, 200, DATA_FIELDS);
    assert!(harness.poll_all().is_empty(), "a partial chunk waits for more rows");
    harness.finish();
    let requests = harness.poll_all();
    assert_eq!(requests.len(), 1);
    let put = &requests[0];
    assert_eq!((put.method, put.path.as_str()), (Method::Put, "/contacts/v3/import"));
    assert_eq!(
        (
            put.rate_class.as_str(),
            put.slot_class.as_str(),
            put.writes,
            put.idempotent
        ),
        ("low", "contact-import", true, true)
    );
    assert_eq!(
        body_json(put),
        json!({
            "mergeOption": "overwriteIfNotEmpty",
            "contacts": [
                {
                    "matchIdentifier": "email",
                    "identifiers": {"email": "ann@example.com", "mobileNumber": "447700900123"},
                    "dataFields": {"AGE": 41, "BIRTHDAY": "1990-04-01T00:00:00Z", "FIRSTNAME": "Ann \"A\"", "VIP": true},
                    "channelProperties": {
                        "email": {"status": "subscribed", "optInType": "double"},
                        "sms": {"status": "subscribed"}
                    },
                    "lists": [7, 8]
                },
                {
                    "matchIdentifier": "email",
                    "identifiers": {"email": "Bob@Example.com"},
                    "dataFields": {"AGE": 7, "VIP": false},
                    "channelProperties": {"email": {"status": "subscribed", "optInType": "double"}},
                    "lists": [7, 8]
                }
            ]
        })
    );
    // The body is compact JSON written in field order: check its bytes too.
    let text = String::from_utf8(put.body.to_vec()).unwrap();
    assert!(text.starts_with(r#"{"mergeOption":"overwriteIfNotEmpty","contacts":[{"matchIdentifier":"email","identifiers":{"email":"ann@example.com","mobileNumber":"447700900123"},"dataFields":{"AGE":41,"#));
}

#[test]
fn clear_nulls_sends_null_data_fields() {
    let mut harness = Harness::new(json!({
        "data_fields": {"FIRSTNAME": "first_name", "AGE": "age"},
        "clear_nulls": true
    }));
    harness.push(
        1,
        batch(vec![
            ("email", emails(&["ann@example.com"])),
            ("first_name", strings(&[None])),
            ("age", Arc::new(Float64Array::from(vec![Some(1.5)]))),
        ]),
    );
    harness.finish();
    harness.preflight();
    let requests = harness.poll_all();
    assert_eq!(
        body_json(&requests[0])["contacts"][0]["dataFields"],
        json!({"AGE": 1.5, "FIRSTNAME": null})
    );
}

#[test]
fn import_is_polled_until_finished_and_failures_reject_their_rows() {
    let mut harness = Harness::new(json!({"poll_interval_ms": 1000}));
    harness.push(
        1,
        batch(vec![(
            "email",
            emails(&["ann@example.com", "BAD@Example.com", "cat@example.com"]),
        )]),
    );
    harness.finish();
    harness.preflight();
    let put = harness.poll_all().remove(0);
    harness.respond(put.id, 202, r#"{"importId":"1b6c7d2e-0a4f"}"#);
    // Nothing is due yet: no busy loop.
    assert_eq!(harness.poll().unwrap(), Poll::Pending);
    assert_eq!(harness.planner.poll_timeout().unwrap(), Some(2_000));
    assert_eq!(harness.advance_to_timer(), 2_000);
    let poll = harness.poll_all();
    assert_eq!(poll.len(), 1);
    assert_eq!(
        (poll[0].method, poll[0].path.as_str()),
        (Method::Get, "/contacts/v3/import/1b6c7d2e-0a4f")
    );
    assert_eq!(poll[0].rate_class, "medium");
    assert_eq!(
        harness.planner.poll_timeout().unwrap(),
        None,
        "no timer while a poll is out"
    );
    harness.respond(
        poll[0].id,
        200,
        r#"{"importId":"1b6c7d2e-0a4f","status":"NotFinished"}"#,
    );
    // Backs off x1.5.
    assert_eq!(harness.planner.poll_timeout().unwrap(), Some(3_500));
    assert!(harness.poll_all().is_empty());
    harness.advance_to_timer();
    let poll = harness.poll_all();
    harness.respond(
        poll[0].id,
        200,
        r#"{"importId":"1b6c7d2e-0a4f","status":"NotFinished"}"#,
    );
    assert_eq!(harness.planner.poll_timeout().unwrap(), Some(3_500 + 2_250));
    harness.advance_to_timer();
    let poll = harness.poll_all();
    harness.respond(
        poll[0].id,
        200,
        r#"{"importId":"1b6c7d2e-0a4f","status":"Finished",
            "summary":{"newContacts":1,"updatedContacts":1,"invalidEntries":1},
            "failures":[{"matchIdentifier":"email","identifiers":{"email":"bad@example.com"},
                         "failures":[{"failureCode":"InvalidEmail","description":"Invalid value for 'email'"}]}]}"#,
    );
    assert_eq!(harness.released, vec![put.id], "the import slot is released");
    assert_eq!(harness.outcome(1, 0).status, OutcomeStatus::Delivered);
    let rejected = harness.outcome(1, 1);
    assert_eq!(
        (rejected.status, rejected.code.as_ref(), rejected.message.as_ref()),
        (
            OutcomeStatus::Rejected,
            "InvalidEmail",
            "InvalidEmail: Invalid value for 'email'"
        )
    );
    assert_eq!(harness.outcome(1, 2).status, OutcomeStatus::Delivered);
    assert!(harness.is_done());
}

#[test]
fn a_failed_import_fails_every_row() {
    for status in ["Failed", "RejectedByWatchdog", "ExceedsAllowedContactLimit"] {
        let mut harness = Harness::new(json!({}));
        harness.push(1, batch(vec![("email", emails(&["a@example.com", "b@example.com"]))]));
        harness.finish();
        harness.preflight();
        let put = harness.poll_all().remove(0);
        harness.respond(put.id, 202, r#"{"importId":"x1"}"#);
        harness.advance_to_timer();
        let poll = harness.poll_all().remove(0);
        harness.respond(poll.id, 200, &format!(r#"{{"importId":"x1","status":"{status}"}}"#));
        for row in 0..2 {
            let outcome = harness.outcome(1, row);
            assert_eq!((outcome.status, outcome.code.as_ref()), (OutcomeStatus::Failed, status));
            assert_eq!(&*outcome.message, format!("import x1 ended with status {status}"));
        }
        assert_eq!(harness.released, vec![put.id]);
        assert!(harness.is_done());
    }
}

#[test]
fn a_refused_import_rejects_or_fails_its_rows_with_the_api_error() {
    let mut harness = Harness::new(json!({"import_size": 2}));
    harness.push(
        1,
        batch(vec![(
            "email",
            emails(&["a@example.com", "b@example.com", "c@example.com"]),
        )]),
    );
    harness.finish();
    harness.preflight();
    let puts = harness.poll_all();
    assert_eq!(puts.len(), 2);
    harness.respond(
        puts[0].id,
        400,
        r#"{"errorCode":"contacts:invalidContacts","description":"Invalid contacts",
            "details":[{"item":"contacts[0].lists","error":"List 9 does not exist"}]}"#,
    );
    harness.respond(puts[1].id, 413, r#"{"message":"Request too large"}"#);
    let first = harness.outcome(1, 0);
    assert_eq!(
        (first.status, first.code.as_ref(), first.message.as_ref()),
        (
            OutcomeStatus::Rejected,
            "contacts:invalidContacts",
            "HTTP 400 contacts:invalidContacts: Invalid contacts; contacts[0].lists: List 9 does not exist"
        )
    );
    assert_eq!(harness.outcome(1, 1).status, OutcomeStatus::Rejected);
    let third = harness.outcome(1, 2);
    assert_eq!(
        (third.status, third.code.as_ref()),
        (OutcomeStatus::Failed, "Request too large")
    );
    assert_eq!(harness.released, vec![puts[0].id, puts[1].id]);
    assert!(harness.is_done());
}

#[test]
fn host_failures_fail_rows_and_dry_runs_skip_them() {
    let mut harness = Harness::with_mode(json!({"import_size": 1}), RunMode::Plan);
    harness.push(1, batch(vec![("email", emails(&["a@example.com", "b@example.com"]))]));
    harness.finish();
    harness.preflight();
    let puts = harness.poll_all();
    assert_eq!(puts.len(), 2);
    harness.fail(puts[0].id, FailureKind::DryRun, "dry run");
    harness.fail(puts[1].id, FailureKind::Exhausted, "HTTP 503 after 5 attempts");
    let skipped = harness.outcome(1, 0);
    assert_eq!(
        (skipped.status, skipped.code.as_ref()),
        (OutcomeStatus::Skipped, "DryRun")
    );
    let failed = harness.outcome(1, 1);
    assert_eq!(
        (failed.status, failed.code.as_ref(), failed.message.as_ref()),
        (
            OutcomeStatus::Failed,
            "RetriesExhausted",
            "the contact import was not completed: HTTP 503 after 5 attempts"
        )
    );
    assert!(harness.is_done());
}

#[test]
fn wrong_credentials_are_an_auth_error() {
    let mut harness = Harness::new(json!({}));
    let requests = harness.poll_all();
    let error = harness
        .try_respond(
            requests[0].id,
            401,
            r#"{"message":"Authorization has been denied for this request."}"#,
        )
        .unwrap_err();
    let (kind, message) = plugin_error(error);
    assert_eq!(kind, ErrorKind::Auth);
    assert!(
        message.contains("Authorization has been denied for this request."),
        "{message}"
    );
    // The error sticks: nothing else is planned.
    assert!(harness.poll().is_err());
}

#[test]
fn unknown_data_fields_are_a_config_error_listing_what_exists() {
    let mut harness = Harness::new(json!({"data_fields": {"FIRSTNAME": "a", "LOYALTY": "b", "TIER": "c"}}));
    let requests = harness.poll_all();
    let (kind, message) = plugin_error(harness.try_respond(requests[0].id, 200, DATA_FIELDS).unwrap_err());
    assert_eq!(kind, ErrorKind::Config);
    assert_eq!(
        message,
        "`data_fields` names fields that the Dotdigital account does not have: `LOYALTY`, `TIER`. \
         Available data fields: AGE, BIRTHDAY, FIRSTNAME, LASTNAME, VIP"
    );
}

#[test]
fn a_column_that_cannot_fit_its_field_is_a_config_error_before_any_write() {
    let mut harness = Harness::new(json!({"data_fields": {"BIRTHDAY": "is_vip", "AGE": "age"}}));
    harness.push(
        1,
        batch(vec![
            ("email", emails(&["a@example.com"])),
            ("is_vip", Arc::new(BooleanArray::from(vec![true]))),
            ("age", Arc::new(Date32Array::from(vec![1]))),
        ]),
    );
    let requests = harness.poll_all();
    harness.respond(requests[0].id, 200, DATA_FIELDS);
    let (kind, message) = plugin_error(harness.poll().unwrap_err());
    assert_eq!(kind, ErrorKind::Config);
    assert_eq!(
        message,
        "data field `AGE` is a Numeric field but column `age` is Date32; a Numeric field takes integer, float \
         or decimal columns, or text holding numbers; data field `BIRTHDAY` is a Date field but column `is_vip` \
         is Boolean; a Date field takes Date32, Date64 or Timestamp columns, or text holding ISO-8601 dates"
    );
}

#[test]
fn check_mode_only_runs_the_preflight() {
    let mut harness = Harness::with_mode(json!({"data_fields": {"FIRSTNAME": "first_name"}}), RunMode::Check);
    harness.finish();
    harness.preflight();
    assert!(harness.is_done());
    assert!(harness.outcomes.is_empty());
}

#[test]
fn bad_rows_are_rejected_with_a_code_and_a_message_naming_column_and_value() {
    let mut harness = Harness::new(json!({
        "identifiers": {"email": "email", "mobile_number": "phone"},
        "data_fields": {"AGE": "age", "FIRSTNAME": "name", "BIRTHDAY": "born"},
        "email_status": {"column": "status"}
    }));
    let long = "x".repeat(300);
    harness.push(
        1,
        batch(vec![
            (
                "email",
                strings(&[
                    Some("ok@example.com"),
                    None,
                    Some("not-an-email"),
                    Some("phone@example.com"),
                    Some("OK@example.com"),
                    Some("age@example.com"),
                    Some("long@example.com"),
                    Some("status@example.com"),
                    Some("born@example.com"),
                ]),
            ),
            (
                "phone",
                strings(&[None, None, None, Some("07700 900123"), None, None, None, None, None]),
            ),
            (
                "age",
                strings(&[Some("41"), None, None, None, None, Some("forty"), None, None, None]),
            ),
            (
                "name",
                strings(&[None, None, None, None, None, None, Some(long.as_str()), None, None]),
            ),
            (
                "status",
                strings(&[None, None, None, None, None, None, None, Some("gone"), None]),
            ),
            (
                "born",
                strings(&[None, None, None, None, None, None, None, None, Some("31/12/1990")]),
            ),
        ]),
    );
    harness.finish();
    harness.preflight();
    let requests = harness.poll_all();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        body_json(&requests[0])["contacts"],
        json!([{"matchIdentifier": "email", "identifiers": {"email": "ok@example.com"}, "dataFields": {"AGE": 41}}])
    );
    let expect = |row: u32, code: &str, message: &str| {
        let outcome = harness.outcome(1, row);
        assert_eq!(
            (outcome.status, outcome.code.as_ref(), outcome.message.as_ref()),
            (OutcomeStatus::Rejected, code, message),
            "row {row}"
        );
    };
    expect(1, "NullKey", "column `email` (the key) is null");
    expect(
        2,
        "InvalidEmail",
        "column `email`: `not-an-email` is not a valid email address: it has no `@`",
    );
    expect(
        3,
        "InvalidPhoneNumber",
        "column `phone`: `07700 900123` is not a valid E.164 mobile number: it contains ` `; E.164 is an \
         optional `+` followed by digits only (e.g. +447700900123)",
    );
    expect(
        4,
        "DuplicateKey",
        "column `email`: `OK@example.com` was already seen earlier in this run; only its first row is sent",
    );
    expect(
        5,
        "InvalidDataFieldValue",
        "data field `AGE` (Numeric) from column `age`: `forty` is not a number",
    );
    expect(
        6,
        "DataFieldValueOverflow",
        "data field `FIRSTNAME` (String) from column `name`: the value is 300 characters long; String data \
         fields take at most 255 (ERROR_DATAFIELD_VALUE_OVERFLOW)",
    );
    expect(
        7,
        "InvalidEnumValue",
        "column `status`: `gone` is not a valid email status; expected one of: subscribed, unsubscribed, suppressed",
    );
    expect(
        8,
        "InvalidDataFieldValue",
        "data field `BIRTHDAY` (Date) from column `born`: `31/12/1990` is not a date (expected YYYY-MM-DD or an \
         ISO-8601 date-time)",
    );
    harness.respond(requests[0].id, 202, r#"{"importId":"i"}"#);
    harness.advance_to_timer();
    let poll = harness.poll_all().remove(0);
    harness.respond(poll.id, 200, r#"{"status":"Finished","failures":[]}"#);
    assert_eq!(harness.outcome(1, 0).status, OutcomeStatus::Delivered);
    assert_eq!(harness.outcomes.len(), 9);
    assert!(harness.is_done());
}

#[test]
fn mobile_number_key_matches_failures_by_digits() {
    let mut harness = Harness::new(json!({"key": "mobile_number", "identifiers": {"mobile_number": "phone"}}));
    harness.push(
        1,
        batch(vec![("phone", strings(&[Some("+447700900123"), Some("447700900124")]))]),
    );
    harness.finish();
    harness.preflight();
    let put = harness.poll_all().remove(0);
    assert_eq!(
        body_json(&put)["contacts"],
        json!([
            {"matchIdentifier": "mobileNumber", "identifiers": {"mobileNumber": "447700900123"}},
            {"matchIdentifier": "mobileNumber", "identifiers": {"mobileNumber": "447700900124"}}
        ])
    );
    harness.respond(put.id, 202, r#"{"importId":"m"}"#);
    harness.advance_to_timer();
    let poll = harness.poll_all().remove(0);
    harness.respond(
        poll.id,
        200,
        r#"{"status":"Finished","failures":[{"matchIdentifier":"mobileNumber","identifiers":{"mobileNumber":"+447700900124"},
            "failures":[{"failureCode":"InvalidPhoneNumber","description":"bad number"}]}]}"#,
    );
    assert_eq!(harness.outcome(1, 0).status, OutcomeStatus::Delivered);
    assert_eq!(&*harness.outcome(1, 1).code, "InvalidPhoneNumber");
}

#[test]
fn update_mode_looks_small_chunks_up_per_row_and_skips_unknown_contacts() {
    let mut harness = Harness::new(json!({"mode": "update"}));
    harness.push(
        1,
        batch(vec![(
            "email",
            emails(&["ann@example.com", "new+tag@example.com", "cat@example.com"]),
        )]),
    );
    harness.finish();
    harness.preflight();
    let lookups = harness.poll_all();
    let paths: Vec<&str> = lookups.iter().map(|spec| spec.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "/contacts/v3/email/ann@example.com",
            "/contacts/v3/email/new+tag@example.com",
            "/contacts/v3/email/cat@example.com"
        ]
    );
    assert!(lookups.iter().all(|spec| spec.rate_class == "high" && !spec.writes));
    harness.respond(lookups[0].id, 200, r#"{"contactId":1}"#);
    harness.respond(
        lookups[1].id,
        404,
        r#"{"errorCode":"contacts:contactNotFound","description":"Contact not found"}"#,
    );
    assert!(harness.poll_all().is_empty(), "waits for every lookup");
    harness.respond(lookups[2].id, 200, r#"{"contactId":3}"#);
    let skipped = harness.outcome(1, 1);
    assert_eq!(
        (skipped.status, skipped.code.as_ref(), skipped.message.as_ref()),
        (
            OutcomeStatus::Skipped,
            "ContactNotFound",
            "no contact with email `new+tag@example.com` exists; mode `update` does not create contacts"
        )
    );
    let put = harness.poll_all().remove(0);
    let emails: Vec<String> = body_json(&put)["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|contact| contact["identifiers"]["email"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(emails, vec!["ann@example.com", "cat@example.com"]);
    harness.respond(put.id, 202, r#"{"importId":"u"}"#);
    harness.advance_to_timer();
    let poll = harness.poll_all().remove(0);
    harness.respond(poll.id, 200, r#"{"status":"Finished"}"#);
    assert_eq!(harness.outcome(1, 0).status, OutcomeStatus::Delivered);
    assert_eq!(harness.outcome(1, 2).status, OutcomeStatus::Delivered);
    assert!(harness.is_done());
}

#[test]
fn update_mode_indexes_the_account_once_for_large_chunks() {
    let mut harness = Harness::new(json!({"mode": "update", "import_size": 25}));
    let all: Vec<String> = (0..50).map(|i| format!("user{i}@example.com")).collect();
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    harness.push(1, batch(vec![("email", emails(&refs))]));
    harness.finish();
    harness.preflight();
    let page = harness.poll_all();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].path, "/contacts/v3?limit=5000");
    // Even users exist; the first page has 0..20, the second the rest (with upper-case emails).
    let items = |range: std::ops::Range<usize>| {
        range
            .filter(|i| i % 2 == 0)
            .map(|i| json!({"contactId": i, "identifiers": {"email": format!("USER{i}@example.com")}}))
            .collect::<Vec<_>>()
    };
    let first = json!({"_links": {"next": {"link": "x", "marker": "m/2+"}}, "_items": items(0..20)});
    harness.respond(page[0].id, 200, &first.to_string());
    let page = harness.poll_all();
    assert_eq!(page[0].path, "/contacts/v3?limit=5000&marker=m%2F2%2B");
    let second = json!({"_links": {"self": {"link": "y"}}, "_items": items(20..50)});
    harness.respond(page[0].id, 200, &second.to_string());
    let puts = harness.poll_all();
    assert_eq!(puts.len(), 2, "both chunks imported without more lookups");
    let sizes: Vec<usize> = puts
        .iter()
        .map(|put| body_json(put)["contacts"].as_array().unwrap().len())
        .collect();
    assert_eq!(
        sizes,
        vec![13, 12],
        "rows 0..25 hold 13 even users, rows 25..50 hold 12"
    );
    for row in (1..50).step_by(2) {
        assert_eq!(&*harness.outcome(1, row).code, "ContactNotFound");
    }
}

#[test]
fn backpressure_bounds_waiting_rows_and_active_imports() {
    let mut harness = Harness::new(json!({"import_size": 10}));
    let make = |start: usize| {
        let values: Vec<String> = (start..start + 10).map(|i| format!("u{i}@example.com")).collect();
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        batch(vec![("email", emails(&refs))])
    };
    // Before the pre-flight answers, rows only queue up: at most 2 x import_size.
    let mut next = 0;
    while harness.planner.can_accept_batch().unwrap() {
        harness.push(next as u64, make(next * 10));
        next += 1;
    }
    assert_eq!(next, 3, "stops once more than 20 rows wait");
    harness.preflight();
    let puts = harness.poll_all();
    assert_eq!(puts.len(), 3);
    assert!(harness.planner.can_accept_batch().unwrap());
    // Fill up to the 25 active imports the account allows; then rows wait again.
    while harness.planner.can_accept_batch().unwrap() {
        harness.push(next as u64, make(next * 10));
        next += 1;
        harness.poll_all();
    }
    assert!(next > 25);
    let active: usize = 25;
    let waiting = next - active;
    assert_eq!(waiting, 3, "3 chunks wait once all 25 slots are taken");
    let before = harness.outcomes.len();
    assert_eq!(before, 0);
    // Accepting one import and finishing it frees a slot, and one more import goes out.
    let first_put = puts[0].id;
    harness.respond(first_put, 202, r#"{"importId":"a"}"#);
    harness.advance_to_timer();
    let poll = harness.poll_all();
    assert_eq!(poll.len(), 1);
    harness.respond(poll[0].id, 200, r#"{"status":"Finished"}"#);
    assert_eq!(harness.released, vec![first_put]);
    let more = harness.poll_all();
    assert_eq!(more.len(), 1);
    assert_eq!(more[0].path, "/contacts/v3/import");
}

#[test]
fn delete_batches_are_skipped() {
    let mut harness = Harness::new(json!({}));
    harness
        .planner
        .push_batch(
            9,
            dotsync_plugin_sdk::BatchKind::Delete,
            batch(vec![("email", emails(&["a@example.com"]))]),
        )
        .unwrap();
    harness.finish();
    harness.preflight();
    assert!(harness.is_done());
    let outcome = harness.outcome(9, 0);
    assert_eq!(
        (outcome.status, outcome.code.as_ref()),
        (OutcomeStatus::Skipped, "DeleteNotSupported")
    );
}

/// The hashes of the host's key pre-pass: what the plugin hashes, and which hashes repeat.
fn pre_pass(harness: &mut Harness, keys: &[Option<&str>]) -> (usize, Vec<u64>) {
    let key_batch = batch(vec![("email", strings(keys))]);
    let mut hashes = harness
        .planner
        .key_hashes(key_batch)
        .unwrap()
        .expect("the contacts plugin hashes its keys");
    let hashed = hashes.len();
    hashes.sort_unstable();
    let mut repeated: Vec<u64> = hashes
        .windows(2)
        .filter(|pair| pair[0] == pair[1])
        .map(|pair| pair[0])
        .collect();
    repeated.dedup();
    (hashed, repeated)
}

fn repeated_keys_batch(hashes: &[u64]) -> arrow_array::RecordBatch {
    batch(vec![(
        dotsync_plugin_sdk::REPEATED_KEYS_COLUMN,
        Arc::new(arrow_array::UInt64Array::from(hashes.to_vec())) as ArrayRef,
    )])
}

#[test]
fn the_contract_asks_for_the_key_pre_pass_above_a_million_rows() {
    let harness = Harness::new(json!({"identifiers": {"email": "email"}}));
    let contract = harness.planner.input_contract().unwrap();
    let min_rows: u64 = contract.metadata()[dotsync_plugin_sdk::KEY_PRE_PASS_METADATA]
        .parse()
        .unwrap();
    assert_eq!(min_rows, (1 << 20) + 1);
}

#[test]
fn after_the_key_pre_pass_a_keys_second_row_is_still_refused_and_outcomes_are_unchanged() {
    let config = json!({"identifiers": {"email": "email"}});
    let keys = [
        Some("a@example.com"),
        Some("B@example.com"),
        Some("b@example.com"),
        None,
        Some("c@example.com"),
        Some("not-an-email"),
        Some("A@EXAMPLE.com"),
        Some("b@Example.com"),
    ];
    let run = |pre_pass_first: bool| {
        let mut harness = Harness::new(config.clone());
        if pre_pass_first {
            let (hashed, repeated) = pre_pass(&mut harness, &keys);
            assert_eq!(
                hashed, 7,
                "every key but the null one is hashed, the invalid one unchecked"
            );
            assert_eq!(repeated.len(), 2, "a@ and b@ repeat");
            harness
                .planner
                .push_batch(0, BatchKind::RepeatedKeys, repeated_keys_batch(&repeated))
                .unwrap();
        }
        harness.push(1, batch(vec![("email", strings(&keys))]));
        harness.finish();
        harness.preflight();
        let requests = harness.poll_all();
        assert_eq!(requests.len(), 1);
        let sent = body_json(&requests[0])["contacts"].clone();
        let outcomes: Vec<(OutcomeStatus, String)> = (0..keys.len() as u32)
            .filter(|&row| row != 0 && row != 1 && row != 4)
            .map(|row| {
                let outcome = harness.outcome(1, row);
                (outcome.status, outcome.code.to_string())
            })
            .collect();
        (sent, outcomes)
    };
    let (sent, outcomes) = run(true);
    assert_eq!(
        sent,
        json!([
            {"matchIdentifier": "email", "identifiers": {"email": "a@example.com"}},
            {"matchIdentifier": "email", "identifiers": {"email": "B@example.com"}},
            {"matchIdentifier": "email", "identifiers": {"email": "c@example.com"}}
        ])
    );
    let refused = |code: &str| (OutcomeStatus::Rejected, code.to_owned());
    assert_eq!(
        outcomes,
        vec![
            refused("DuplicateKey"),
            refused("NullKey"),
            refused("InvalidEmail"),
            refused("DuplicateKey"),
            refused("DuplicateKey"),
        ]
    );
    assert_eq!(run(false), (sent, outcomes), "the same as without the pre-pass");
}

#[test]
fn repeated_keys_after_rows_are_a_contract_breach() {
    let mut harness = Harness::new(json!({"identifiers": {"email": "email"}}));
    harness.push(1, batch(vec![("email", emails(&["a@example.com"]))]));
    harness.finish();
    harness.preflight();
    harness.poll_all();
    let error = harness
        .planner
        .push_batch(0, BatchKind::RepeatedKeys, repeated_keys_batch(&[1, 2]))
        .expect_err("too late");
    assert_eq!(
        plugin_error(error),
        (ErrorKind::Fatal, "the repeated keys came after rows".to_owned())
    );
}
