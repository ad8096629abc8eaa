use crate::common::*;
use dotsync_emulator::{CollectionSeed, LimitsConfig, Seed};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn collections_list_create_and_limit() {
    let t = T::new().await;
    let v = t.get("/insightData/v3/collections").await.json();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert!(
        v.as_array()
            .unwrap()
            .contains(&json!({"collectionName": "orders", "collectionScope": "contact", "collectionType": "orders"}))
    );
    let r = t
        .post(
            "/insightData/v3/collections/wishes?collectionScope=contact&collectionType=wishList",
            json!({}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = t
        .post(
            "/insightData/v3/collections/wishes?collectionScope=contact&collectionType=wishList",
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200);
    for (path, code) in [
        (
            "/insightData/v3/collections/1bad?collectionScope=contact",
            "insightData:invalidCollectionName",
        ),
        (
            "/insightData/v3/collections/x?collectionScope=contact",
            "insightData:invalidCollectionName",
        ),
        (
            "/insightData/v3/collections/good?collectionScope=planet",
            "insightData:invalidCollectionScope",
        ),
        ("/insightData/v3/collections/good", "insightData:invalidCollectionScope"),
        (
            "/insightData/v3/collections/good?collectionScope=account&collectionType=blob",
            "insightData:invalidCollectionType",
        ),
    ] {
        let r = t.post(path, json!({})).await;
        assert_eq!(r.status, 400, "{path}");
        assert_eq!(r.v3_code(), code);
    }
    // 1000 collections per account: seed up to the limit, then 412.
    let cols = (0..997)
        .map(|i| CollectionSeed {
            name: format!("c{i}"),
            scope: "account".into(),
            collection_type: None,
            records: vec![],
        })
        .collect();
    let mut acct = dotsync_emulator::AccountSeed::demo();
    acct.collections = cols;
    t.h.seed(Seed { accounts: vec![acct] }).unwrap();
    assert_eq!(
        t.get("/insightData/v3/collections")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1000
    );
    let r = t
        .post("/insightData/v3/collections/onemore?collectionScope=account", json!({}))
        .await;
    assert_eq!(r.status, 412);
    assert_eq!(t.delete("/insightData/v3/collections/c1").await.status, 202);
    assert_eq!(
        t.post("/insightData/v3/collections/onemore?collectionScope=account", json!({}))
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn contact_scoped_import_with_per_record_failures() {
    let t = T::with(quick().with_import_delay(Duration::from_millis(100))).await;
    let contacts_before = t.h.state().contact_count(USER);
    let who = |e: &str| json!({"identifier": "email", "value": e});
    let body = json!({"collectionName": "orders", "collectionScope": "contact", "collectionType": "orders", "records": [
        {"key": "ORD-1", "contactIdentity": who("ann@example.com"), "json": {"orderTotal": 10.5, "products": [{"sku": "A", "qty": 1}]}},
        {"key": "ORD-2", "contactIdentity": {"email": "bob@example.com"}, "json": {"orderTotal": 3}},
        {"key": "ORD-3", "contactIdentity": who("nobody@example.com"), "json": {"orderTotal": 1}},
        {"key": "ORD-4", "json": {"orderTotal": 1}},
        {"key": "ORD-1000", "contactIdentity": who("bob@example.com"), "json": {"orderTotal": 1}},
        {"key": "ORD-5", "contactIdentity": who("ann@example.com"), "json": {"matrix": [[1, 2]]}},
        {"key": "ORD-6", "contactIdentity": who("ann@example.com"), "json": {"orderTotal": "ten"}},
        {"key": "ORD-1", "contactIdentity": who("ann@example.com"), "json": {"orderTotal": 2}},
        {"key": "", "contactIdentity": who("ann@example.com"), "json": {"orderTotal": 2}},
        {"key": "ORD-7", "contactIdentity": {"identifier": "shoe", "value": "x"}, "json": {}},
        {"key": "ORD-8", "contactIdentity": {"identifier": "mobileNumber", "value": "447700900999"}, "json": {}},
        {"key": "ORD-9", "contactIdentity": who("ann@example.com"), "json": {"bad key": 1}},
        {"key": "ORD-10", "contactIdentity": who("ann@example.com"), "json": {"a-b": 1, "a_b": 2}},
    ]});
    let r = t.put("/insightData/v3/import", body).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.json()["importId"].as_str().unwrap().to_string();
    let path = format!("/insightData/v3/import/{id}");
    assert_eq!(t.get(&path).await.json()["status"], "Processing");
    let v = t.wait(&path, "status", "Processing").await;
    assert_eq!(v["status"], "Complete");
    assert_eq!(v["collectionName"], "orders");
    assert_eq!(
        v["summary"],
        json!({"totalRecords": 13, "totalImported": 2, "totalRejected": 11})
    );
    let reasons: Vec<&str> = v["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["failureReason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "ContactEmailDoesNotExist",
            "InvalidContactIdentifier",
            "KeyExistingForDifferentContact",
            "JsonContainsNestedArray",
            "InconsistentTypes",
            "DuplicateKey",
            "InvalidClientKey",
            "InvalidContactIdentifierType",
            "ContactPhoneNumberDoesNotExist",
            "JsonKeyInvalidCharacters",
            "JsonContainsDashUnderscoreClash",
        ]
    );
    assert_eq!(v["failures"][0]["collectionOwner"]["ownerType"], "contact");
    assert_eq!(v["failures"][0]["key"], "ORD-3");
    assert_eq!(
        t.h.state().contact_count(USER),
        contacts_before,
        "insight imports never create contacts"
    );
    let recs = t.h.state().insight_records(USER, "orders");
    assert_eq!(recs.len(), 3);
    let ann =
        t.h.state()
            .contact_by_email(USER, "ann@example.com")
            .unwrap()
            .contact_id;
    assert_eq!(recs.iter().find(|r| r.key == "ORD-1").unwrap().contact_id, Some(ann));

    // Account scope: no contactIdentity; a new collection needs a scope.
    let r = t
        .put(
            "/insightData/v3/import",
            json!({"collectionName": "products", "records": [{"key": "P1", "json": {}}]}),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = t.put("/insightData/v3/import", json!({"collectionName": "products", "collectionScope": "account", "records": [{"key": "P1", "json": {"price": 1}}]})).await;
    let id = r.json()["importId"].as_str().unwrap().to_string();
    let v = t
        .wait(&format!("/insightData/v3/import/{id}"), "status", "Processing")
        .await;
    assert_eq!(v["summary"]["totalImported"], 1);
    assert_eq!(
        t.put(
            "/insightData/v3/import",
            json!({"collectionName": "orders", "collectionScope": "account", "records": [{"key": "x", "json": {}}]})
        )
        .await
        .status,
        400
    );
    assert_eq!(
        t.put(
            "/insightData/v3/import",
            json!({"collectionName": "orders", "records": []})
        )
        .await
        .status,
        400
    );
    assert_eq!(t.get("/insightData/v3/import/nope").await.status, 404);
}

#[tokio::test]
async fn insight_import_cap() {
    let mut cfg = quick().with_import_delay(Duration::from_secs(30));
    cfg.limits = LimitsConfig {
        max_active_insight_imports: 1,
        ..LimitsConfig::per_minute(1000)
    };
    let t = T::with(cfg).await;
    let body = json!({"collectionName": "stores", "records": [{"key": "A", "json": {}}]});
    assert_eq!(t.put("/insightData/v3/import", body.clone()).await.status, 202);
    let r = t.put("/insightData/v3/import", body).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.v3_code(), "insightData:tooManyActiveImports");
}

#[tokio::test]
async fn single_records_and_listing() {
    let t = T::new().await;
    let r = t
        .put(
            "/insightData/v3/account/stores/MAN-1",
            json!({"name": "Manchester", "open": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        t.put(
            "/insightData/v3/account/stores/MAN-1",
            json!({"name": "Manchester", "open": false})
        )
        .await
        .status,
        204
    );
    let r = t.get("/insightData/v3/account/stores/MAN-1").await;
    assert_eq!(r.json(), json!({"name": "Manchester", "open": false}));
    let r = t
        .put("/insightData/v3/account/stores/BAD", json!({"open": "yes"}))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.v3_code(), "insightData:inconsistentTypes");
    let page = t.get("/insightData/v3/account/stores?limit=1").await.json();
    assert_eq!(page["_items"].as_array().unwrap().len(), 1);
    let m = page["_links"]["next"]["marker"].as_str().unwrap().to_string();
    let page2 = t
        .get(&format!("/insightData/v3/account/stores?limit=1&marker={m}"))
        .await
        .json();
    assert_eq!(page2["_items"][0]["key"], "MAN-1");
    assert!(page2["_links"].get("next").is_none());
    assert_eq!(t.delete("/insightData/v3/account/stores/MAN-1").await.status, 204);
    assert_eq!(t.get("/insightData/v3/account/stores/MAN-1").await.status, 404);
    assert_eq!(t.delete("/insightData/v3/account/stores/MAN-1").await.status, 404);

    let p = "/insightData/v3/contacts/email/bob@example.com/orders/ORD-77";
    assert_eq!(t.put(p, json!({"orderTotal": 12})).await.status, 201);
    assert_eq!(t.get(p).await.json(), json!({"orderTotal": 12}));
    assert_eq!(
        t.get("/insightData/v3/contacts/email/ann@example.com/orders/ORD-77")
            .await
            .status,
        404
    );
    assert_eq!(
        t.put(
            "/insightData/v3/contacts/email/ann@example.com/orders/ORD-77",
            json!({"orderTotal": 1})
        )
        .await
        .status,
        400
    );
    assert_eq!(
        t.put("/insightData/v3/contacts/email/nobody@example.com/orders/X", json!({}))
            .await
            .status,
        404
    );
    assert_eq!(
        t.put("/insightData/v3/account/orders/X", json!({})).await.status,
        400,
        "scope mismatch"
    );
    let bob = t
        .get("/insightData/v3/contacts/email/bob@example.com/orders")
        .await
        .json();
    assert_eq!(bob["_items"].as_array().unwrap().len(), 1);
    let all = t.get("/insightData/v3/contacts/orders").await.json();
    assert_eq!(all["_items"].as_array().unwrap().len(), 2);
    assert_eq!(t.delete(p).await.status, 204);
    assert_eq!(
        t.get("/insightData/v3/collections/orders/schema").await.json()["schema"]["orderTotal"],
        "number"
    );
}
