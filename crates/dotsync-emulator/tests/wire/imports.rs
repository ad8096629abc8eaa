use crate::common::*;
use dotsync_emulator::LimitsConfig;
use serde_json::json;
use std::time::Duration;

fn c(email: &str) -> serde_json::Value {
    json!({"matchIdentifier": "email", "identifiers": {"email": email}})
}

#[tokio::test]
async fn contact_import_lifecycle_with_report() {
    let t = T::with(quick().with_import_delay(Duration::from_millis(300))).await;
    let before = t.h.state().contact_count(USER);
    let mut dup = c("new1@example.com");
    dup["dataFields"] = json!({"FIRSTNAME": "Second"});
    let body = json!({"mergeOption": "overwrite", "contacts": [
        {"matchIdentifier": "email", "identifiers": {"email": "new1@example.com"}, "dataFields": {"FIRSTNAME": "One", "LTV": 5}, "lists": [345579]},
        {"matchIdentifier": "email", "identifiers": {"email": "ann@example.com"}, "dataFields": {"LASTNAME": "Smythe"},
         "channelProperties": {"email": {"status": "unsubscribed"}}},
        {"matchIdentifier": "email", "identifiers": {"email": "bad@@example"}},
        {"matchIdentifier": "mobileNumber", "identifiers": {"mobileNumber": "12"}},
        dup,
        {"matchIdentifier": "email", "identifiers": {"email": "x1@example.com"}, "dataFields": {"NOPE": 1}},
        {"matchIdentifier": "email", "identifiers": {"email": "x2@example.com"}, "dataFields": {"LTV": "ten"}},
        {"identifiers": {"email": "x3@example.com"}},
        {"matchIdentifier": "email", "identifiers": {"mobileNumber": "447700900777"}},
        {"matchIdentifier": "email", "identifiers": {"email": "x4@example.com"}, "lists": [4242]},
    ]});
    let r = t.put("/contacts/v3/import", body).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.json()["importId"].as_str().unwrap().to_string();
    let path = format!("/contacts/v3/import/{id}");
    let r = t.get(&path).await;
    assert_eq!(r.json(), json!({"importId": id, "status": "NotFinished"}));
    assert_eq!(
        t.h.state().contact_count(USER),
        before,
        "nothing applied before the import finishes"
    );

    let v = t.wait(&path, "status", "NotFinished").await;
    assert_eq!(v["status"], "Finished");
    assert_eq!(v["summary"]["newContacts"], 2, "{v}");
    assert_eq!(v["summary"]["updatedContacts"], 1);
    assert_eq!(v["summary"]["duplicateIdentifiers"], 1);
    assert_eq!(v["summary"]["invalidEntries"], 6);
    let codes: Vec<String> = v["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["failures"][0]["failureCode"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        codes,
        [
            "InvalidEmail",
            "InvalidPhoneNumber",
            "Duplicate",
            "ApiSchemaViolation",
            "ApiSchemaViolation",
            "InvalidMatchIdentifier",
            "InvalidMatchIdentifier",
            "InvalidAddressBookIds"
        ]
    );
    assert_eq!(v["failures"][0]["identifiers"]["email"], "bad@@example");
    assert_eq!(v["created"][0]["identifiers"]["email"], "new1@example.com");
    let s = t.h.state();
    let new1 = s.contact_by_email(USER, "new1@example.com").unwrap();
    assert_eq!(new1.data_fields["FIRSTNAME"], "One", "the first of two duplicates wins");
    assert!(s.list_members(USER, 345579).contains(&new1.contact_id));
    let ann = s.contact_by_email(USER, "ann@example.com").unwrap();
    assert_eq!(ann.data_fields["LASTNAME"], "Smythe");
    assert_eq!(ann.data_fields["FIRSTNAME"], "Ann");
    assert_eq!(ann.email_status, "unsubscribed");
    assert!(
        s.contact_by_email(USER, "x4@example.com").is_some(),
        "a bad list id is a partial failure"
    );
    assert_eq!(t.h.state().request_count("PUT", "/contacts/v3/import"), 1);
}

#[tokio::test]
async fn import_accepts_post_and_merge_options() {
    let t = T::new().await;
    let body = json!({"mergeOption": "overwriteIfNotEmpty", "contacts": [
        {"matchIdentifier": "email", "identifiers": {"email": "ann@example.com"}, "dataFields": {"FIRSTNAME": "", "GENDER": null, "POSTCODE": "ZZ1"}}]});
    let r = t.post("/contacts/v3/import", body).await;
    assert_eq!(r.status, 202);
    let id = r.json()["importId"].as_str().unwrap().to_string();
    let v = t
        .wait(&format!("/contacts/v3/import/{id}"), "status", "NotFinished")
        .await;
    assert_eq!(v["summary"]["updatedContacts"], 1);
    let ann = t.h.state().contact_by_email(USER, "ann@example.com").unwrap();
    assert_eq!(ann.data_fields["FIRSTNAME"], "Ann");
    assert_eq!(ann.data_fields["GENDER"], "Female");
    assert_eq!(ann.data_fields["POSTCODE"], "ZZ1");

    for (body, code) in [
        (
            json!({"mergeOption": "overwrite-if-empty", "contacts": [c("a@b.com")]}),
            "contacts:invalidMergeOption",
        ),
        (json!({"contacts": []}), "contacts:invalidImport"),
        (json!({"contacts": "nope"}), "contacts:invalidImport"),
        (json!([c("a@b.com")]), "contacts:invalidImport"),
    ] {
        let r = t.put("/contacts/v3/import", body).await;
        assert_eq!(r.status, 400);
        assert_eq!(r.v3_code(), code);
    }
    let r = t
        .send_text("PUT", "/contacts/v3/import", "{\"contacts\": [", "application/json")
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.v3_code(), "contacts:invalidJson");
    let r = t.get("/contacts/v3/import/00000000-0000-0000-0000-000000000000").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.v3_code(), "contacts:importNotFound");
}

#[tokio::test]
async fn active_import_cap_and_body_limit() {
    let mut cfg = quick().with_import_delay(Duration::from_secs(30));
    cfg.limits = LimitsConfig {
        max_active_contact_imports: 2,
        ..LimitsConfig::per_minute(1000)
    };
    cfg.max_body_bytes = 2000;
    let t = T::with(cfg).await;
    for _ in 0..2 {
        assert_eq!(
            t.put("/contacts/v3/import", json!({"contacts": [c("a@b.com")]}))
                .await
                .status,
            202
        );
    }
    let r = t.put("/contacts/v3/import", json!({"contacts": [c("a@b.com")]})).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.v3_code(), "contacts:tooManyActiveImports");
    let big: Vec<_> = (0..100).map(|i| c(&format!("user{i}@example.com"))).collect();
    let r = t.put("/contacts/v3/import", json!({"contacts": big})).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.v3_code(), "contacts:requestTooLarge");
}

#[tokio::test]
async fn bulk_delete_lifecycle() {
    let t = T::new().await;
    let r = t.post("/contacts/v3/delete", json!([{"email": "ann@example.com"}, {"email": "ghost@example.com"}, {"email": "bad"}, {"mobileNumber": "447700900123"}])).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.json()["deleteId"].as_str().unwrap().to_string();
    let v = t
        .wait(&format!("/contacts/v3/delete/{id}"), "status", "NotFinished")
        .await;
    assert_eq!(v["status"], "Finished");
    assert_eq!(
        v["summary"],
        json!({"requestedContacts": 4, "deletedContacts": 2, "unknownContacts": 1, "invalidEntries": 1})
    );
    assert!(t.h.state().contact_by_email(USER, "ann@example.com").is_none());
    assert!(t.h.state().contact_by_email(USER, "bob@example.com").is_none());
    assert_eq!(t.post("/contacts/v3/delete", json!([])).await.status, 400);
    assert_eq!(
        t.post("/contacts/v3/delete", json!({"email": "x@y.com"})).await.status,
        400
    );
}
