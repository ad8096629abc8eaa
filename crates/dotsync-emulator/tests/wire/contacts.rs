use crate::common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn get_contact_by_each_identifier() {
    let t = T::new().await;
    let r = t.get("/contacts/v3/email/ann@example.com").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("content-type").as_deref(), Some("application/json"));
    let ann = r.json();
    assert_eq!(ann["identifiers"]["email"], "ann@example.com");
    assert_eq!(ann["status"], "subscribed");
    assert_eq!(ann["dataFields"]["LTV"], 120.5);
    assert_eq!(ann["dataFields"]["VIP"], true);
    assert_eq!(ann["dataFields"]["BIRTHDAY"], "1990-04-01T00:00:00Z");
    assert_eq!(ann["dataFields"]["LASTPURCHASE"], serde_json::Value::Null);
    assert_eq!(ann["channelProperties"]["email"]["emailType"], "Html");
    assert_eq!(ann["lists"][0]["name"], "Newsletter");
    let id = ann["contactId"].as_u64().unwrap();
    assert_eq!(
        t.get(&format!("/contacts/v3/contactId/{id}")).await.json()["identifiers"]["email"],
        "ann@example.com"
    );
    // Identifier values match case-insensitively for e-mail; mobile with or without '+', both spellings.
    assert_eq!(t.get("/contacts/v3/email/ANN@example.com").await.status, 200);
    let bob = t.get("/contacts/v3/mobileNumber/447700900123").await;
    assert_eq!(bob.json()["identifiers"]["email"], "bob@example.com");
    assert_eq!(bob.json()["channelProperties"]["sms"]["countryCode"], "GB");
    assert_eq!(t.get("/contacts/v3/mobile-number/+447700900123").await.status, 200);

    let r = t.get("/contacts/v3/email/nobody@example.com").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.v3_code(), "contacts:contactNotFound");
    assert!(r.json()["description"].is_string());
    let r = t.get("/contacts/v3/email/not-an-email").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["details"][0]["item"], "InvalidEmail");
    let r = t.get("/contacts/v3/shoeSize/42").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.v3_code(), "contacts:invalidIdentifier");
}

#[tokio::test]
async fn patch_upserts_with_null_clearing_and_enum_casing() {
    let t = T::new().await;
    let body = json!({
        "identifiers": {"mobileNumber": "+447700900555"},
        "dataFields": {"FIRSTNAME": "Zoe", "LTV": "12.5", "VIP": "true", "BIRTHDAY": "1992-02-03"},
        "channelProperties": {"email": {"status": "subscribed", "emailType": "plainText", "optInType": "verifiedDouble"},
                              "sms": {"status": "subscribed"}},
        "lists": [345580]
    });
    let r = t
        .patch("/contacts/v3/email/zoe+news@example.com?merge-option=overwrite", body)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let v = r.json();
    assert_eq!(
        v["identifiers"]["email"], "zoe+news@example.com",
        "+ in a path is a literal plus"
    );
    assert_eq!(v["identifiers"]["mobileNumber"], "447700900555");
    assert_eq!(v["channelProperties"]["email"]["emailType"], "PlainText");
    assert_eq!(v["channelProperties"]["email"]["optInType"], "VerifiedDouble");
    assert_eq!(v["dataFields"]["LTV"], 12.5);
    assert_eq!(v["dataFields"]["VIP"], true);
    assert_eq!(v["dataFields"]["BIRTHDAY"], "1992-02-03T00:00:00Z");
    assert_eq!(v["lists"][0]["id"], 345580);

    // Update: null clears, omitted fields are untouched.
    let r = t
        .patch(
            "/contacts/v3/email/zoe+news@example.com",
            json!({"dataFields": {"LTV": null, "LASTNAME": "Ray"}}),
        )
        .await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["dataFields"]["LTV"], serde_json::Value::Null);
    assert_eq!(v["dataFields"]["FIRSTNAME"], "Zoe");
    assert_eq!(v["dataFields"]["LASTNAME"], "Ray");

    // overwrite-if-not-empty ignores empty values; overwrite-if-empty only fills empty fields.
    let r = t
        .patch(
            "/contacts/v3/email/zoe+news@example.com?merge-option=overwrite-if-not-empty",
            json!({"dataFields": {"FIRSTNAME": "", "GENDER": "F"}}),
        )
        .await;
    assert_eq!(r.json()["dataFields"]["FIRSTNAME"], "Zoe");
    assert_eq!(r.json()["dataFields"]["GENDER"], "F");
    let r = t
        .patch(
            "/contacts/v3/email/zoe+news@example.com?merge-option=overwrite-if-empty",
            json!({"dataFields": {"FIRSTNAME": "X", "POSTCODE": "N1"}}),
        )
        .await;
    assert_eq!(r.json()["dataFields"]["FIRSTNAME"], "Zoe");
    assert_eq!(r.json()["dataFields"]["POSTCODE"], "N1");

    let st = t.h.state().contact_by_email(USER, "zoe+news@example.com").unwrap();
    assert_eq!(st.sms_status, "subscribed");
    assert!(t.h.state().list_members(USER, 345580).contains(&st.contact_id));

    let r = t
        .patch(
            "/contacts/v3/email/zoe+news@example.com?merge-option=overwriteIfEmpty",
            json!({}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.v3_code(), "contacts:invalidMergeOption");
}

#[tokio::test]
async fn patch_rejects_bad_input_with_v3_errors() {
    let t = T::new().await;
    let cases = [
        (json!({"dataFields": {"SHOESIZE": 42}}), "Unknown data field"),
        (json!({"dataFields": {"LTV": "lots"}}), "Numeric"),
        (json!({"dataFields": {"BIRTHDAY": "someday"}}), "Date"),
        (json!({"dataFields": {"VIP": "maybe"}}), "Boolean"),
        (json!({"dataFields": {"FIRSTNAME": {"a": 1}}}), "String"),
        (json!({"identifiers": {"mobileNumber": "12ab"}}), "mobileNumber"),
        (json!({"channelProperties": {"email": {"status": "happy"}}}), "status"),
        (json!({"lists": [999]}), "list ids"),
    ];
    for (body, needle) in cases {
        let r = t.patch("/contacts/v3/email/new@example.com", body.clone()).await;
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.v3_code(), "contacts:invalidContact", "{body}");
        assert!(
            r.json()["details"][0]["description"].as_str().unwrap().contains(needle),
            "{body}: {}",
            r.text
        );
    }
    assert!(t.h.state().contact_by_email(USER, "new@example.com").is_none());
    let r = t
        .send_text(
            "PATCH",
            "/contacts/v3/email/new@example.com",
            "{not json",
            "application/json",
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.v3_code(), "contacts:invalidJson");
    let r = t.patch("/contacts/v3/email/new@example.com", json!([1, 2])).await;
    assert_eq!(r.status, 400);
    // contactId cannot create; a value taken by another contact conflicts.
    assert_eq!(t.patch("/contacts/v3/contactId/1", json!({})).await.status, 404);
    let r = t
        .patch(
            "/contacts/v3/email/ann@example.com",
            json!({"identifiers": {"mobileNumber": "447700900123"}}),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.v3_code(), "contacts:conflict");
}

#[tokio::test]
async fn post_put_delete() {
    let t = T::new().await;
    let body = json!({"identifiers": {"email": "new@example.com"}, "dataFields": {"FIRSTNAME": "New", "LASTNAME": "Person"}, "lists": [345579]});
    let r = t.post("/contacts/v3", body.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json()["contactId"].as_u64().unwrap();
    let r = t.post("/contacts/v3", body).await;
    assert_eq!(r.status, 409);
    let r = t.post("/contacts/v3", json!({"dataFields": {"FIRSTNAME": "x"}})).await;
    assert_eq!(r.status, 400);

    // PUT replaces: LASTNAME (not supplied) is cleared, lists replaced.
    let r = t
        .put(
            "/contacts/v3/email/new@example.com",
            json!({"dataFields": {"FIRSTNAME": "Renamed"}, "lists": [345581]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["dataFields"]["FIRSTNAME"], "Renamed");
    assert_eq!(v["dataFields"]["LASTNAME"], serde_json::Value::Null);
    assert_eq!(v["lists"].as_array().unwrap().len(), 1);
    assert!(!t.h.state().list_members(USER, 345579).contains(&id));
    assert_eq!(
        t.put("/contacts/v3/email/ghost@example.com", json!({})).await.status,
        404
    );

    let r = t.delete(&format!("/contacts/v3/contactId/{id}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(t.get("/contacts/v3/email/new@example.com").await.status, 404);
    assert_eq!(t.delete("/contacts/v3/email/new@example.com").await.status, 404);
    assert!(!t.h.state().list_members(USER, 345581).contains(&id));
}

#[tokio::test]
async fn list_pages_with_limit_and_marker() {
    let t = T::new().await;
    let mut seen = Vec::new();
    let mut url = "/contacts/v3?limit=2".to_string();
    loop {
        let r = t.get(&url).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let v = r.json();
        let items = v["_items"].as_array().unwrap();
        assert!(items.len() <= 2);
        for i in items {
            seen.push(i["identifiers"]["email"].as_str().unwrap().to_string());
            assert!(i.get("lists").is_none(), "lists only with include=");
        }
        match v["_links"]["next"]["marker"].as_str() {
            Some(m) => url = format!("/contacts/v3?limit=2&marker={m}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    let r = t
        .get("/contacts/v3?~listId=345579&include=lists,channelProperties")
        .await;
    let items = r.json()["_items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 3);
    assert!(items[0]["lists"].is_array() && items[0]["channelProperties"].is_object());
    for bad in [
        "/contacts/v3?limit=0",
        "/contacts/v3?limit=5001",
        "/contacts/v3?limit=x",
        "/contacts/v3?marker=zzz",
        "/contacts/v3?~modified=since::2024-01-01",
        "/contacts/v3?~created=gte::yesterday",
    ] {
        let r = t.get(bad).await;
        assert_eq!(r.status, 400, "{bad}");
        assert!(r.v3_code().starts_with("contacts:"));
    }
}

/// Following `_links.next.link` keeps the request's filters and `include`.
#[tokio::test]
async fn next_links_keep_the_filters() {
    let t = T::new().await;
    let mut url = "/contacts/v3?limit=1&~listId=eq::345579&include=lists".to_string();
    let mut seen = 0;
    loop {
        let v = t.get(&url).await.json();
        for item in v["_items"].as_array().unwrap() {
            let lists = item["lists"].as_array().unwrap();
            assert!(lists.iter().any(|list| list["id"] == 345579), "{item}");
            seen += 1;
        }
        match v["_links"]["next"]["link"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, 3, "the list's three members, one a page");
}

#[tokio::test]
async fn modified_and_created_filters() {
    let t = T::new().await;
    let count = |v: Value| v["_items"].as_array().unwrap().len();
    assert_eq!(count(t.get("/contacts/v3?~modified=gte::2000-01-01").await.json()), 5);
    assert_eq!(
        count(t.get("/contacts/v3?~created=lt::2000-01-01T00:00:00Z").await.json()),
        0
    );
    assert_eq!(count(t.get("/contacts/v3?~modified=gt::2999-12-31").await.json()), 0);
    let r = t
        .patch(
            "/contacts/v3/email/ann@example.com",
            json!({"dataFields": {"FIRSTNAME": "Annie"}}),
        )
        .await;
    assert!(r.status == 200 || r.status == 201, "{}", r.text);
    let updated = t.get("/contacts/v3/email/ann@example.com").await.json()["updated"]
        .as_str()
        .unwrap()
        .to_string();
    let same_second = t.get(&format!("/contacts/v3?~modified=eq::{updated}")).await.json();
    assert!(
        same_second["_items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["identifiers"]["email"] == "ann@example.com"),
        "{same_second}"
    );
    let later = t.get(&format!("/contacts/v3?~modified=gt::{updated}")).await.json();
    assert_eq!(count(later), 0, "nothing changed after the last update");
}
