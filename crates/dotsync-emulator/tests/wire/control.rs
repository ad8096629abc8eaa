use crate::common::*;
use dotsync_emulator::{EmulatorConfig, EmulatorError};
use serde_json::json;

#[tokio::test]
async fn control_api_inspect_seed_reset() {
    let t = T::new().await;
    let ctl = |p: &str| format!("{}/_emulator/{p}", t.base);
    assert_eq!(t.c.get(ctl("health")).send().await.unwrap().status(), 200);
    t.patch("/contacts/v3/email/temp@example.com", json!({})).await;
    t.get("/v2/data-fields").await;
    t.get("/v2/data-fields/").await;
    let log: serde_json::Value = t.c.get(ctl("requests")).send().await.unwrap().json().await.unwrap();
    assert_eq!(log["counts"]["GET /v2/data-fields"], 2);
    assert_eq!(log["counts"]["PATCH /contacts/v3/{identifier}/{value}"], 1);
    assert_eq!(log["entries"][0]["account"], USER);
    let state: serde_json::Value = t.c.get(ctl("state")).send().await.unwrap().json().await.unwrap();
    assert_eq!(state["accounts"][0]["username"], USER);
    assert_eq!(state["accounts"][0]["contacts"].as_object().unwrap().len(), 6);

    let seed = json!({"accounts": [{"username": "other@apiconnector.com", "password": "other-pass-1", "region": "r3",
        "dataFields": [{"name": "SCORE", "type": "Numeric"}], "lists": [{"name": "L1"}],
        "contacts": [{"email": "o@example.com", "dataFields": {"SCORE": 3}}]}]});
    let r = t.c.post(ctl("seed")).json(&seed).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = t
        .raw(
            "GET",
            "/r3/contacts/v3/email/o@example.com",
            None,
            Some(("other@apiconnector.com", "other-pass-1")),
        )
        .await;
    assert_eq!(r.json()["dataFields"]["SCORE"], 3);
    let bad = json!({"accounts": [{"username": "x@y.z", "password": "p", "contacts": [{"email": "a@b.com", "dataFields": {"NOPE": 1}}]}]});
    assert_eq!(t.c.post(ctl("seed")).json(&bad).send().await.unwrap().status(), 400);

    let r =
        t.c.post(ctl("faults"))
            .json(&json!([{"method": "GET", "path": "/v2/*", "kind": "status", "status": 502, "times": 1}]))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    let faults: serde_json::Value = t.c.get(ctl("faults")).send().await.unwrap().json().await.unwrap();
    assert_eq!(faults[0]["status"], 502);
    assert_eq!(
        t.c.post(ctl("faults"))
            .json(&json!({"kind": "explode"}))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(t.get("/v2/account-info").await.status, 502);

    let r =
        t.c.put(ctl("limits"))
            .json(&json!({"enabled": true, "highPerMinute": 1}))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(t.get("/v2/account-info").await.status, 200);
    assert_eq!(t.get("/v2/account-info").await.status, 429);

    assert_eq!(t.c.post(ctl("reset")).send().await.unwrap().status(), 200);
    assert!(t.h.state().contact_by_email(USER, "temp@example.com").is_none());
    assert_eq!(t.h.state().accounts(), vec![USER.to_string()]);
    assert_eq!(t.h.state().requests().total, 0);
    assert_eq!(
        t.get("/v2/account-info").await.status,
        200,
        "reset does not reset limits config, but restarts buckets"
    );
    assert_eq!(
        t.c.post(ctl("save")).send().await.unwrap().status(),
        400,
        "no state file"
    );
    assert_eq!(t.c.get(ctl("nope")).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn state_persists_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state.json");
    let t = T::with(quick().with_state_file(&file)).await;
    t.patch(
        "/contacts/v3/email/keep@example.com",
        json!({"dataFields": {"LTV": 7}, "lists": [345579]}),
    )
    .await;
    t.post("/v2/data-fields", json!({"name": "EXTRA", "type": "Boolean"}))
        .await;
    t.post(
        "/v2/email",
        json!({"toAddresses": ["a@example.com"], "subject": "s", "plainTextContent": "x"}),
    )
    .await;
    let T { h, .. } = t;
    h.shutdown().await.unwrap();
    assert!(file.exists());

    // Accounts come from the file, not from the (empty) config.
    let t = T::with(EmulatorConfig::empty().with_state_file(&file)).await;
    let c = t.get("/contacts/v3/email/keep@example.com").await;
    assert_eq!(c.status, 200, "{}", c.text);
    assert_eq!(c.json()["dataFields"]["LTV"], 7);
    assert_eq!(c.json()["lists"][0]["id"], 345579);
    assert!(t.h.state().data_fields(USER).iter().any(|f| &*f.name == "EXTRA"));
    assert_eq!(t.h.state().outbox().len(), 1);
    // New ids do not collide with loaded ones.
    let r = t.patch("/contacts/v3/email/next@example.com", json!({})).await;
    assert_eq!(r.status, 201);
    assert!(r.json()["contactId"].as_u64().unwrap() > c.json()["contactId"].as_u64().unwrap());
    t.h.save().await.unwrap();

    let t2 = T::new().await;
    assert!(matches!(t2.h.save().await, Err(EmulatorError::NoStateFile)));
    std::fs::write(&file, "{ nope").unwrap();
    assert!(matches!(
        dotsync_emulator::Emulator::start(EmulatorConfig::empty().with_state_file(&file)).await,
        Err(EmulatorError::Format { .. })
    ));
}
