//! A 20,000-row run over several imports with every kind of ending: each row gets exactly one
//! outcome, and the run ends.

use std::collections::HashMap;
use std::sync::Arc;

use crate::common::{Harness, batch};
use arrow_array::{ArrayRef, Int64Array, StringArray};
use dotsync_plugin_sdk::{DynPlanner, FailureKind, Method, OutcomeStatus, Poll, RequestSpec};
use serde_json::json;

const ROWS: usize = 20_000;
const BATCH: usize = 1_000;

fn email(i: usize) -> String {
    if i % 97 == 13 {
        format!("broken{i}.example.com")
    } else if i % 501 == 7 {
        // Same as an earlier row, in another case.
        format!("USER{}@EXAMPLE.COM", i - 1)
    } else if i % 389 == 5 {
        format!("fail{i}@example.com")
    } else {
        format!("user{i}@example.com")
    }
}

#[test]
fn every_row_gets_exactly_one_outcome_across_many_imports() {
    let mut harness = Harness::new(json!({
        "import_size": 3000,
        "data_fields": {"AGE": "age"},
        "poll_interval_ms": 500
    }));
    let batches: Vec<_> = (0..ROWS / BATCH)
        .map(|b| {
            let emails: Vec<String> = (b * BATCH..(b + 1) * BATCH).map(email).collect();
            let refs: Vec<&str> = emails.iter().map(String::as_str).collect();
            let ages: Vec<i64> = (0..BATCH as i64).collect();
            batch(vec![
                ("email", Arc::new(StringArray::from(refs)) as ArrayRef),
                ("age", Arc::new(Int64Array::from(ages)) as ArrayRef),
            ])
        })
        .collect();
    let mut next_batch = 0;
    let mut finished = false;
    let mut puts = 0;
    let mut import_rows: HashMap<String, Vec<String>> = HashMap::new();
    let mut polls: HashMap<String, usize> = HashMap::new();
    let mut pending_data_fields = true;
    let mut steps = 0;
    let mut max_waiting_batches = 0;
    loop {
        steps += 1;
        assert!(steps < 10_000, "the run does not end");
        let mut pushed_now = 0;
        while next_batch < batches.len() && harness.planner.can_accept_batch().unwrap() {
            harness.push(next_batch as u64, batches[next_batch].clone());
            next_batch += 1;
            pushed_now += 1;
        }
        max_waiting_batches = max_waiting_batches.max(pushed_now);
        if next_batch == batches.len() && !finished {
            harness.finish();
            finished = true;
        }
        let mut sent: Vec<RequestSpec> = Vec::new();
        let done = loop {
            match harness.poll().unwrap() {
                Poll::Ready(spec) => sent.push(spec),
                Poll::Pending => break false,
                Poll::Done => break true,
            }
        };
        harness.drain();
        if done {
            break;
        }
        for spec in &sent {
            match (spec.method, spec.path.as_str()) {
                (Method::Get, "/v2/data-fields") => {
                    pending_data_fields = false;
                    harness.respond(spec.id, 200, crate::common::DATA_FIELDS);
                }
                (Method::Put, "/contacts/v3/import") => {
                    puts += 1;
                    let body: serde_json::Value = serde_json::from_slice(&spec.body).unwrap();
                    let emails: Vec<String> = body["contacts"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|contact| contact["identifiers"]["email"].as_str().unwrap().to_owned())
                        .collect();
                    match puts {
                        2 => harness.respond(
                            spec.id,
                            400,
                            r#"{"errorCode":"contacts:invalidContacts","description":"bad"}"#,
                        ),
                        4 => harness.fail(spec.id, FailureKind::Uncertain, "timed out"),
                        n => {
                            let id = format!("imp-{n}");
                            import_rows.insert(id.clone(), emails);
                            harness.respond(spec.id, 202, &json!({"importId": id}).to_string());
                        }
                    }
                }
                (Method::Get, path) if path.starts_with("/contacts/v3/import/") => {
                    let id = path.rsplit('/').next().unwrap().to_owned();
                    let count = polls.entry(id.clone()).or_insert(0);
                    *count += 1;
                    if *count < 3 {
                        harness.respond(
                            spec.id,
                            200,
                            &json!({"importId": id, "status": "NotFinished"}).to_string(),
                        );
                    } else if id == "imp-5" {
                        harness.respond(spec.id, 200, &json!({"importId": id, "status": "Failed"}).to_string());
                    } else {
                        let failures: Vec<_> = import_rows[&id]
                            .iter()
                            .filter(|email| email.starts_with("fail"))
                            .map(|email| {
                                json!({"matchIdentifier": "email", "identifiers": {"email": email.to_uppercase()},
                                       "failures": [{"failureCode": "GloballySuppressed", "description": "suppressed"}]})
                            })
                            .collect();
                        let report = json!({"importId": id, "status": "Finished", "failures": failures});
                        harness.respond(spec.id, 200, &report.to_string());
                    }
                }
                other => panic!("unexpected request {other:?}"),
            }
        }
        if sent.is_empty() {
            assert!(!pending_data_fields);
            harness.advance_to_timer();
        }
    }
    assert!(max_waiting_batches <= 7, "backpressure keeps the queue short");
    let counts = harness.outcome_counts();
    assert_eq!(counts.len(), ROWS, "every row has an outcome");
    assert!(counts.values().all(|&count| count == 1), "no row has two outcomes");
    assert_eq!(puts, 7, "about 19,750 valid rows in imports of 3,000");
    assert_eq!(harness.released.len(), puts, "every import slot is released once");

    let mut by_code: HashMap<(OutcomeStatus, String), usize> = HashMap::new();
    for outcome in &harness.outcomes {
        *by_code.entry((outcome.status, outcome.code.to_string())).or_insert(0) += 1;
    }
    let count = |status: OutcomeStatus, code: &str| by_code.get(&(status, code.to_owned())).copied().unwrap_or(0);
    let broken = (0..ROWS).filter(|i| i % 97 == 13).count();
    let mut seen = std::collections::HashSet::new();
    let duplicates = (0..ROWS)
        .map(email)
        .filter(|email| email.contains('@'))
        .filter(|email| !seen.insert(email.to_lowercase()))
        .count();
    assert!(duplicates > 10);
    assert_eq!(count(OutcomeStatus::Rejected, "InvalidEmail"), broken);
    assert_eq!(count(OutcomeStatus::Rejected, "DuplicateKey"), duplicates);
    assert_eq!(count(OutcomeStatus::Rejected, "contacts:invalidContacts"), 3000);
    assert_eq!(count(OutcomeStatus::Failed, "Uncertain"), 3000);
    assert_eq!(count(OutcomeStatus::Failed, "Failed"), 3000);
    assert!(count(OutcomeStatus::Rejected, "GloballySuppressed") > 0);
    let total: usize = by_code.values().sum();
    assert_eq!(total, ROWS);
}
