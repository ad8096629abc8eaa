use crate::common::*;
use dotsync_emulator::LimitsConfig;
use serde_json::json;

#[tokio::test]
async fn programs_and_enrolments() {
    let mut cfg = quick();
    cfg.limits = LimitsConfig {
        enrolments_per_hour: 2,
        ..LimitsConfig::per_minute(1000)
    };
    let t = T::with(cfg).await;
    let v = t.get("/v2/programs").await.json();
    assert_eq!(v[0]["name"], "Welcome");
    assert_eq!(v[0]["status"], "Active");
    assert_eq!(v[1]["status"], "Draft");
    assert_eq!(t.get("/v2/programs?select=1&skip=1").await.json()[0]["id"], 78);
    assert_eq!(t.get("/v2/programs?skip=2").await.json(), json!([]));
    assert_eq!(t.get("/v2/programs/77").await.json()["name"], "Welcome");
    assert!(
        t.get("/v2/programs/5")
            .await
            .v2_message()
            .contains("ERROR_PROGRAM_NOT_FOUND")
    );

    let ann =
        t.h.state()
            .contact_by_email(USER, "ann@example.com")
            .unwrap()
            .contact_id;
    let dan =
        t.h.state()
            .contact_by_email(USER, "dan@example.com")
            .unwrap()
            .contact_id;
    // Numeric ids as strings, property names in any case.
    let r = t
        .post(
            "/v2/programs/enrolments",
            json!({"ProgramId": "77", "Contacts": [ann.to_string(), dan, 1], "addressBooks": []}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let v = r.json();
    assert_eq!(v["status"], "Processing");
    assert_eq!(v["programId"], 77);
    let id = v["id"].as_str().unwrap().to_string();
    let v = t
        .wait(&format!("/v2/programs/enrolments/{id}"), "status", "Processing")
        .await;
    assert_eq!(v["status"], "Finished");
    let faults = t.get(&format!("/v2/programs/enrolments/{id}/report-faults")).await;
    assert!(faults.text.starts_with("ContactId,Reason\n"));
    assert!(faults.text.contains("1,ContactNotFound"));
    assert!(faults.text.contains(&format!("{dan},ContactNotSubscribed")));
    let e = &t.h.state().enrolments(USER)[0];
    assert_eq!(e.enrolled, vec![ann]);
    assert_eq!(
        t.get("/v2/programs/enrolments/Finished")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(t.get("/v2/programs/enrolments/nope").await.status, 404);

    let r = t
        .post("/v2/programs/enrolments", json!({"programId": 78, "contacts": [ann]}))
        .await;
    assert!(r.v2_message().ends_with("ERROR_PROGRAM_NOT_ACTIVE"));
    let r = t.post("/v2/programs/enrolments", json!({"programId": 77})).await;
    assert!(r.v2_message().ends_with("ERROR_CONTACTS_ARE_NOT_SPECIFIED"));
    assert_eq!(
        t.post(
            "/v2/programs/enrolments",
            json!({"programId": 77, "addressBooks": [345580]})
        )
        .await
        .status,
        201
    );
    let r = t
        .post("/v2/programs/enrolments", json!({"programId": 77, "contacts": [ann]}))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.v2_message().ends_with("ERROR_ENROLMENT_ALLOWANCE_EXCEEDED"));
    assert_eq!(t.h.state().enrolments(USER).len(), 2);
}

#[tokio::test]
async fn campaign_sends_are_recorded() {
    let t = T::new().await;
    assert_eq!(t.get("/v2/campaigns").await.json().as_array().unwrap().len(), 2);
    let ann =
        t.h.state()
            .contact_by_email(USER, "ann@example.com")
            .unwrap()
            .contact_id;
    let r = t
        .post(
            "/v2/campaigns/send",
            json!({"campaignID": "1001", "contactIDs": [ann], "addressBookIds": [345581]}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let v = r.json();
    assert_eq!(v["status"], "Sent");
    let send_id = v["id"].as_str().unwrap().to_string();
    assert_eq!(
        t.get(&format!("/v2/campaigns/send/{send_id}")).await.json()["campaignId"],
        1001
    );
    let out = t.h.state().outbox();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].to, vec!["ann@example.com", "eve@example.com"]);
    assert_eq!(out[0].subject.as_deref(), Some("Spring sale: 20% off"));
    assert_eq!(out[0].kind, "campaign");

    let r = t
        .post("/v2/campaigns/send", json!({"campaignId": 4, "contactIds": [ann]}))
        .await;
    assert_eq!(r.status, 404);
    assert!(r.v2_message().ends_with("ERROR_CAMPAIGN_NOT_FOUND"));
    let r = t
        .post("/v2/campaigns/send", json!({"campaignId": 1001, "contactIds": [42]}))
        .await;
    assert!(r.v2_message().ends_with("ERROR_CONTACT_NOT_FOUND"));
    let r = t
        .post(
            "/v2/campaigns/send",
            json!({"campaignId": 1001, "contactIds": [ann], "sendDate": "2999-01-01T09:00:00Z",
        "splitTestOptions": {"testMetric": "Opens", "testPercentage": 20, "testPeriodHours": 4}}),
        )
        .await;
    assert_eq!(r.json()["status"], "Scheduled");
    let r = t
        .post(
            "/v2/campaigns/send",
            json!({"campaignId": 1001, "contactIds": [ann], "splitTestOptions": {"testMetric": "Views"}}),
        )
        .await;
    assert!(r.v2_message().ends_with("ERROR_CAMPAIGN_SEND_INVALID"));
    let r = t
        .post(
            "/v2/campaigns/send-time-optimised",
            json!({"campaignId": 1001, "contactIds": [ann], "sendDate": "2030-01-01"}),
        )
        .await;
    assert!(r.v2_message().ends_with("ERROR_CAMPAIGN_SEND_INVALID"));
    assert_eq!(
        t.post(
            "/v2/campaigns/send-time-optimised",
            json!({"campaignId": 1001, "contactIds": [ann]})
        )
        .await
        .status,
        202
    );
    assert_eq!(t.h.state().outbox().len(), 3);
}

#[tokio::test]
async fn transactional_email() {
    let t = T::new().await;
    let ok = json!({"toAddresses": ["a@example.com"], "ccAddresses": ["c@example.com"], "subject": "Receipt",
                    "fromAddress": "Shop <noreply@shop.example>", "htmlContent": "<p>Thanks</p>", "metadata": "{\"o\":1}",
                    "attachments": [{"fileName": "r.txt", "mimeType": "text/plain", "content": "aGVsbG8="}]});
    let r = t.post("/v2/email", ok.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.is_empty());
    let out = t.h.state().outbox();
    assert_eq!(
        (out[0].to.clone(), out[0].cc.clone()),
        (vec!["a@example.com".to_string()], vec!["c@example.com".to_string()])
    );
    assert_eq!(out[0].html.as_deref(), Some("<p>Thanks</p>"));

    let many: Vec<String> = (0..101).map(|i| format!("u{i}@example.com")).collect();
    let mut bad = Vec::new();
    for (k, v) in [
        ("toAddresses", json!(many)),
        ("bccAddresses", json!(many)),
        ("toAddresses", json!([])),
        ("toAddresses", json!(["nope"])),
        ("htmlContent", json!(null)),
        ("metadata", json!("x".repeat(1501))),
    ] {
        let mut b = ok.clone();
        b[k] = v;
        bad.push(b);
    }
    let mut no_subject = ok.clone();
    no_subject.as_object_mut().unwrap().remove("subject");
    bad.push(no_subject);
    for b in bad {
        let r = t.post("/v2/email", b.clone()).await;
        assert_eq!(r.status, 400, "{b}");
        assert!(r.v2_message().ends_with("ERROR_PARAMETER_INVALID"), "{}", r.text);
    }
    assert_eq!(t.h.state().outbox().len(), 1);
    let r = t.post("/v2/email/batch", json!([ok.clone(), ok.clone()])).await;
    assert_eq!(r.status, 200);
    let r = t.post("/v2/email/batch", json!([ok, {"toAddresses": []}])).await;
    assert_eq!(r.status, 400);
    assert!(r.v2_message().starts_with("Item 1:"));
    let r = t
        .post(
            "/v2/email/triggered-campaign",
            json!({"toAddresses": ["t@example.com"], "campaignId": 1002}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(t.h.state().outbox().len(), 4);

    // Triggered-campaign batches: all or nothing, the bad item named.
    let send = |to: &str, campaign: u64| json!({"toAddresses": [to], "campaignId": campaign});
    let r = t
        .post(
            "/v2/email/triggered-campaign/batch",
            json!([send("t1@example.com", 1002), send("t2@example.com", 1001)]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let out = t.h.state().outbox();
    assert_eq!(out.len(), 6);
    assert_eq!(
        (out[5].kind.as_str(), out[5].campaign_id),
        ("triggeredCampaign", Some(1001))
    );
    let r = t
        .post(
            "/v2/email/triggered-campaign/batch",
            json!([send("t3@example.com", 1002), send("t4@example.com", 999_999)]),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.v2_message(), "Item 1: Campaign not found. ERROR_CAMPAIGN_NOT_FOUND");
    let r = t
        .post(
            "/v2/email/triggered-campaign/batch",
            json!([send("t3@example.com", 1002), {"toAddresses": ["nope"], "campaignId": 1002}]),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.v2_message().starts_with("Item 1:"), "{}", r.text);
    assert_eq!(
        t.post("/v2/email/triggered-campaign/batch", json!([])).await.status,
        400
    );
    assert_eq!(t.h.state().outbox().len(), 6, "refused batches send nothing");
}

#[tokio::test]
async fn sms_and_cpaas() {
    let t = T::new().await;
    let r = t
        .post("/v2/sms-messages/send-to/447700900123", json!({"message": "Hi"}))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(
        t.post("/v2/sms-messages/send-to/+447700900123", json!({"message": "Hi"}))
            .await
            .status,
        204
    );
    assert_eq!(
        t.post("/v2/sms-messages/send-to/123", json!({"message": "Hi"}))
            .await
            .status,
        400
    );
    assert_eq!(
        t.post("/v2/sms-messages/send-to/447700900123", json!({"message": ""}))
            .await
            .status,
        400
    );

    let msg = |to: &str, body: &str, unicode: bool| json!({"to": {"phoneNumber": to}, "body": body, "rules": ["sms"], "channelOptions": {"sms": {"from": "Brand", "allowUnicode": unicode}}});
    let r = t
        .post("/cpaas/messages", msg("447700900123", &"a".repeat(161), false))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert!(r.json()["messageId"].is_string());
    let r = t.post("/cpaas/messages", msg("0770", "hi", false)).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.v3_code(), "cpaas:invalidPhoneNumber");
    let mut no_sms = msg("447700900123", "hi", false);
    no_sms["rules"] = json!(["whatsapp"]);
    assert_eq!(t.post("/cpaas/messages", no_sms).await.v3_code(), "cpaas:invalidRules");
    assert_eq!(
        t.post("/cpaas/messages", msg("447700900123", "Hello ✓", false))
            .await
            .status,
        202
    );
    assert_eq!(
        t.post("/cpaas/messages", msg("+447700900123", "Hello ✓", true))
            .await
            .status,
        202
    );
    let out = t.h.state().outbox();
    assert_eq!(out.len(), 5);
    assert_eq!(out[0].kind, "sms");
    assert_eq!(out[2].parts, Some(2));
    assert_eq!(out[2].from.as_deref(), Some("Brand"));
    assert_eq!(out[3].status, "Dropped");
    assert_eq!(out[4].status, "Sent");
    assert_eq!(out[4].to, vec!["447700900123"]);
}
