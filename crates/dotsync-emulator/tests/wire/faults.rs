use crate::common::*;
use dotsync_emulator::{FaultAction, FaultRule};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test]
async fn status_faults_use_the_right_body_and_expire() {
    let t = T::new().await;
    t.h.faults()
        .add(FaultRule::status("GET", "/v2/data-fields", 503).times(2));
    for _ in 0..2 {
        let r = t.get("/v2/data-fields/").await;
        assert_eq!(r.status, 503);
        assert!(r.json()["message"].is_string());
    }
    assert_eq!(t.get("/v2/data-fields").await.status, 200);
    t.h.faults()
        .add(FaultRule::status("PUT", "/contacts/v3/import", 500).times(1));
    let r = t
        .put(
            "/contacts/v3/import",
            json!({"contacts": [{"matchIdentifier": "email", "identifiers": {"email": "a@example.com"}}]}),
        )
        .await;
    assert_eq!(r.status, 500);
    assert_eq!(r.v3_code(), "contacts:internalServerError");
    t.h.faults()
        .add(FaultRule::status("GET", "/contacts/v3/*", 429).times(1));
    let r = t.get("/r1/contacts/v3/email/ann@example.com").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));
    assert_eq!(r.v3_code(), "contacts:tooManyRequests");
    // 400 on v2 is the flat-rate throttle.
    t.h.faults()
        .add(FaultRule::status("POST", "/v2/address-books", 400).times(1));
    let r = t.post("/v2/address-books", json!({"name": "X"})).await;
    assert!(r.v2_message().ends_with("ERROR_APIUSAGE_EXCEEDED"));
    assert!(
        t.h.state().list_by_name(USER, "X").is_none(),
        "a faulted request is not processed"
    );
    assert!(t.h.faults().list().is_empty());
    assert_eq!(t.h.state().requests().count("GET", "/v2/data-fields"), 3);
}

#[tokio::test]
async fn latency_fault_delays_responses() {
    let t = T::new().await;
    t.h.faults()
        .add(FaultRule::latency("GET", "*", Duration::from_millis(150), Duration::from_millis(20)).times(1));
    let start = Instant::now();
    assert_eq!(t.get("/v2/account-info").await.status, 200);
    assert!(start.elapsed() >= Duration::from_millis(150));
    let start = Instant::now();
    t.get("/v2/account-info").await;
    assert!(start.elapsed() < Duration::from_millis(150));
}

#[tokio::test]
async fn connection_reset_before_and_after_processing() {
    let t = T::new().await;
    t.h.faults()
        .add(FaultRule::reset("PATCH", "/contacts/v3/email/*").times(1));
    let body = json!({"dataFields": {"FIRSTNAME": "R"}});
    let err =
        t.c.patch(format!("{}/contacts/v3/email/r1@example.com", t.base))
            .basic_auth(USER, Some("demo-password-1"))
            .json(&body)
            .send()
            .await;
    assert!(err.is_err(), "connection must drop without a response");
    assert!(t.h.state().contact_by_email(USER, "r1@example.com").is_none());

    let mut rule = FaultRule::reset("PATCH", "/contacts/v3/email/*").times(1);
    rule.action = FaultAction::Reset { after_processing: true };
    t.h.faults().add(rule);
    let err =
        t.c.patch(format!("{}/contacts/v3/email/r2@example.com", t.base))
            .basic_auth(USER, Some("demo-password-1"))
            .json(&body)
            .send()
            .await;
    assert!(err.is_err());
    assert!(
        t.h.state().contact_by_email(USER, "r2@example.com").is_some(),
        "applied although the client saw a reset"
    );
    // The server keeps serving.
    assert_eq!(t.get("/contacts/v3/email/r2@example.com").await.status, 200);
    let log = t.h.state().requests();
    assert_eq!(log.entries.iter().filter(|e| e.status == 0).count(), 2);
}

#[tokio::test]
async fn truncated_bodies() {
    let t = T::new().await;
    t.h.faults()
        .add(FaultRule::truncate("GET", "/v2/address-books").times(1));
    let r =
        t.c.get(format!("{}/v2/address-books", t.base))
            .basic_auth(USER, Some("demo-password-1"))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.is_err(), "body shorter than Content-Length");
    let mut rule = FaultRule::truncate("GET", "/v2/address-books").times(1);
    rule.action = FaultAction::Truncate { cut_json: true };
    t.h.faults().add(rule);
    let r = t.get("/v2/address-books").await;
    assert_eq!(r.status, 200);
    assert!(serde_json::from_str::<serde_json::Value>(&r.text).is_err());
    assert!(r.text.starts_with("[{"));
    assert!(t.get("/v2/address-books").await.json().is_array());
}

#[tokio::test]
async fn import_faults_fail_stall_and_reject_rows() {
    let t = T::new().await;
    let import = |emails: &[&str]| json!({"contacts": emails.iter().map(|e| json!({"matchIdentifier": "email", "identifiers": {"email": e}})).collect::<Vec<_>>()});
    t.h.faults()
        .add(FaultRule::import_fail("PUT", "/contacts/v3/import").times(1));
    let id = t.put("/contacts/v3/import", import(&["f1@example.com"])).await.json()["importId"]
        .as_str()
        .unwrap()
        .to_string();
    let v = t
        .wait(&format!("/contacts/v3/import/{id}"), "status", "NotFinished")
        .await;
    assert_eq!(v["status"], "Failed");
    assert!(t.h.state().contact_by_email(USER, "f1@example.com").is_none());

    t.h.faults()
        .add(FaultRule::import_stall("PUT", "/contacts/v3/import", Duration::from_millis(400)).times(1));
    let start = Instant::now();
    let id = t.put("/contacts/v3/import", import(&["s1@example.com"])).await.json()["importId"]
        .as_str()
        .unwrap()
        .to_string();
    let v = t
        .wait(&format!("/contacts/v3/import/{id}"), "status", "NotFinished")
        .await;
    assert_eq!(v["status"], "Finished");
    assert!(start.elapsed() >= Duration::from_millis(400));

    // Rules through the control API: row failures.
    let r =
        t.c.post(format!("{}/_emulator/faults", t.base))
            .json(&json!({"kind": "rowFailures", "values": ["bad1@example.com", "KEY-9"], "failureCode": "Blocker"}))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    let id = t
        .put("/contacts/v3/import", import(&["ok@example.com", "BAD1@example.com"]))
        .await
        .json()["importId"]
        .as_str()
        .unwrap()
        .to_string();
    let v = t
        .wait(&format!("/contacts/v3/import/{id}"), "status", "NotFinished")
        .await;
    assert_eq!(v["summary"]["newContacts"], 1);
    assert_eq!(v["failures"][0]["failures"][0]["failureCode"], "Blocker");
    let r = t
        .put(
            "/insightData/v3/import",
            json!({"collectionName": "stores", "records": [{"key": "KEY-9", "json": {}}]}),
        )
        .await;
    let id = r.json()["importId"].as_str().unwrap().to_string();
    let v = t
        .wait(&format!("/insightData/v3/import/{id}"), "status", "Processing")
        .await;
    assert_eq!(v["failures"][0]["failureReason"], "Blocker");
}
