//! v2 transactional data: single items, contact listings, bulk import with its report, and the
//! records shared with the v3 Insight endpoints.

use crate::common::*;
use dotsync_emulator::LimitsConfig;
use serde_json::{Value, json};
use std::time::Duration;

const NOT_EXIST: &str = "Error: ERROR_TRANSACTIONAL_DATA_DOES_NOT_EXIST";

/// A v2 item's `json` (a string of JSON) read back as JSON.
fn item_json(item: &Value) -> Value {
    serde_json::from_str(item["json"].as_str().expect("json is a string")).expect("json holds JSON")
}

#[tokio::test]
async fn single_items_are_insight_records() {
    let t = T::new().await;
    // Field names as a PHP client sends them; `Json` a string of JSON.
    let order = json!({"Key": "ORD-1", "ContactIdentifier": "ann@example.com", "Json": "{\"total\":10.5,\"currency\":\"GBP\"}"});
    let r = t.post("/v2/contacts/transactional-data/Purchases", order.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["key"], "ORD-1");
    assert_eq!(r.json()["contactIdentifier"], "ann@example.com");
    assert_eq!(item_json(&r.json()), json!({"total": 10.5, "currency": "GBP"}));
    // The same key again replaces it.
    let again =
        json!({"key": "ORD-1", "contactIdentifier": "ann@example.com", "json": "{\"total\":11,\"currency\":\"GBP\"}"});
    assert_eq!(
        t.post("/v2/contacts/transactional-data/Purchases", again).await.status,
        200
    );
    let r = t.get("/v2/contacts/transactional-data/Purchases/ORD-1").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(item_json(&r.json())["total"], 11);
    // The v3 Insight endpoints read the same record.
    let v3 = t
        .get("/insightData/v3/contacts/email/ann@example.com/Purchases/ORD-1")
        .await;
    assert_eq!(v3.json(), json!({"total": 11, "currency": "GBP"}));

    // Replacing by key needs the item to exist.
    let body = json!({"contactIdentifier": "ann@example.com", "json": "{\"total\":12,\"currency\":\"GBP\"}"});
    let r = t
        .post("/v2/contacts/transactional-data/Purchases/ORD-404", body.clone())
        .await;
    assert_eq!((r.status, r.v2_message()), (404, NOT_EXIST.to_string()));
    assert_eq!(
        t.post("/v2/contacts/transactional-data/Purchases/ORD-1", body)
            .await
            .status,
        200
    );

    // Account-scoped items, by contact id, refusals.
    let product = json!({"key": "SKU-1", "contactIdentifier": "account", "json": {"price": 3}});
    assert_eq!(
        t.post("/v2/contacts/transactional-data/Catalog_Default", product)
            .await
            .status,
        201
    );
    assert_eq!(
        t.get("/insightData/v3/account/Catalog_Default/SKU-1").await.json(),
        json!({"price": 3})
    );
    let bob =
        t.h.state()
            .contact_by_email(USER, "bob@example.com")
            .unwrap()
            .contact_id;
    let by_id =
        json!({"key": "ORD-2", "contactIdentifier": bob.to_string(), "json": "{\"total\":1,\"currency\":\"EUR\"}"});
    let r = t.post("/v2/contacts/transactional-data/Purchases", by_id).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["contactIdentifier"], "bob@example.com");
    let cases = [
        (
            json!({"key": "X", "contactIdentifier": "account", "json": "{}"}),
            400,
            "ERROR_PARAMETER_INVALID",
        ),
        (
            json!({"key": "X", "contactIdentifier": "nobody@example.com", "json": "{}"}),
            404,
            "ERROR_CONTACT_NOT_FOUND",
        ),
        (
            json!({"key": "X", "contactIdentifier": "ann@example.com", "json": "not json"}),
            400,
            "ERROR_PARAMETER_INVALID",
        ),
        (
            json!({"contactIdentifier": "ann@example.com", "json": "{}"}),
            400,
            "ERROR_PARAMETER_INVALID",
        ),
        (
            json!({"key": "X", "contactIdentifier": "ann@example.com", "json": "{\"total\":\"ten\"}"}),
            400,
            "ERROR_TRANSACTIONAL_DATA_INVALID",
        ),
    ];
    for (body, status, code) in cases {
        let r = t.post("/v2/contacts/transactional-data/Purchases", body.clone()).await;
        assert_eq!(r.status, status, "{body}: {}", r.text);
        assert!(r.v2_message().ends_with(code), "{body}: {}", r.text);
    }
    let bad_name = t
        .post(
            "/v2/contacts/transactional-data/9lives",
            json!({"key": "X", "contactIdentifier": "account", "json": "{}"}),
        )
        .await;
    assert_eq!(bad_name.status, 400);

    // A contact's items, listed and removed.
    let ann = t.get("/v2/contacts/ann@example.com/transactional-data/Purchases").await;
    let keys: Vec<Value> = ann
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].clone())
        .collect();
    assert_eq!(keys, [json!("ORD-1")]);
    assert_eq!(
        t.get("/v2/contacts/nobody@example.com/transactional-data/Purchases")
            .await
            .status,
        404
    );
    assert_eq!(
        t.delete("/v2/contacts/ann@example.com/transactional-data/Purchases")
            .await
            .status,
        204
    );
    assert_eq!(
        t.get("/v2/contacts/transactional-data/Purchases/ORD-1").await.status,
        404
    );
    assert_eq!(
        t.get("/v2/contacts/transactional-data/Purchases/ORD-2").await.status,
        200,
        "bob's item stays"
    );

    let names = t.get("/v2/contacts/transactional-data-collections").await.json();
    assert!(
        names
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "Purchases" && c["scope"] == "contact")
    );
    assert_eq!(
        t.delete("/v2/contacts/transactional-data/Purchases/ORD-2").await.status,
        204
    );
    let r = t.delete("/v2/contacts/transactional-data/Purchases/ORD-2").await;
    assert_eq!((r.status, r.v2_message()), (404, NOT_EXIST.to_string()));
    assert_eq!(
        t.call("PUT", "/v2/contacts/transactional-data/Catalog_Default/empty", None)
            .await
            .status,
        202
    );
    assert_eq!(
        t.get("/v2/contacts/transactional-data/Catalog_Default/SKU-1")
            .await
            .status,
        404
    );
    assert_eq!(
        t.call("PUT", "/v2/contacts/transactional-data/Nothing/empty", None)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn bulk_import_reports_rejected_items() {
    let t = T::with(quick().with_import_delay(Duration::from_millis(100))).await;
    let items = json!([
        {"Key": "ORD-10", "ContactIdentifier": "ann@example.com", "Json": "{\"total\":5}"},
        {"key": "ORD-11", "contactIdentifier": "bob@example.com", "json": {"total": 6}},
        {"key": "ORD-12", "contactIdentifier": "nobody@example.com", "json": "{\"total\":7}"},
    ]);
    let r = t.post("/v2/contacts/transactional-data/import/Sales", items).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json()["status"], "NotFinished");
    let id = r.json()["id"].as_str().unwrap().to_string();
    let report = format!("/v2/contacts/transactional-data/import/{id}/report");
    let early = t.get(&report).await;
    assert_eq!(early.status, 404);
    assert!(
        early.v2_message().ends_with("ERROR_IMPORT_REPORT_NOT_FOUND"),
        "{}",
        early.text
    );
    let done = t
        .wait(
            &format!("/v2/contacts/transactional-data/import/{id}"),
            "status",
            "NotFinished",
        )
        .await;
    assert_eq!(done, json!({"id": id, "status": "Finished"}));
    assert_eq!(
        t.get(&report).await.json(),
        json!({"totalItems": 3, "totalImported": 2, "totalRejected": 1,
               "faults": [{"key": "ORD-12", "reason": "ContactEmailDoesNotExist", "detail": ""}]})
    );
    let bob = t.get("/v2/contacts/transactional-data/Sales/ORD-11").await;
    assert_eq!(item_json(&bob.json()), json!({"total": 6}));

    assert_eq!(
        t.post("/v2/contacts/transactional-data/import/Sales", json!([]))
            .await
            .status,
        400
    );
    assert_eq!(
        t.post("/v2/contacts/transactional-data/import/Sales", json!({"key": "x"}))
            .await
            .status,
        400
    );
    let r = t.get("/v2/contacts/transactional-data/import/no-such-import").await;
    assert_eq!(r.status, 404);
    assert!(r.v2_message().ends_with("ERROR_IMPORT_NOT_FOUND"), "{}", r.text);
}

#[tokio::test]
async fn bulk_imports_share_the_insight_import_cap() {
    let mut cfg = quick().with_import_delay(Duration::from_secs(30));
    cfg.limits = LimitsConfig {
        max_active_insight_imports: 1,
        ..LimitsConfig::per_minute(1000)
    };
    let t = T::with(cfg).await;
    let v3 = json!({"collectionName": "stores", "records": [{"key": "A", "json": {}}]});
    assert_eq!(t.put("/insightData/v3/import", v3).await.status, 202);
    let items = json!([{"key": "B", "contactIdentifier": "account", "json": "{}"}]);
    let r = t.post("/v2/contacts/transactional-data/import/stores", items).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(
        r.v2_message(),
        "Too many active imports. ERROR_IMPORT_TOOMANYACTIVEIMPORTS"
    );
}
