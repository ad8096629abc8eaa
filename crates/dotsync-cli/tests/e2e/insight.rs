//! End to end: the insight plugin loaded from its library imports contact-scoped order records
//! from a CSV file (all text) into an emulator collection that already holds numbers, with typed
//! and nested properties, and rejects the records the API refuses.

use serde_json::json;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_records_arrive_typed_and_nested() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let mut rows: Vec<String> = (0..500)
        .map(|i| format!("ORD-{i},ann@example.com,{}.5,{},Leeds", i, i % 5 + 1))
        .collect();
    rows.push("ORD-X,nobody@example.com,1.0,1,York".to_owned());
    write_lines(&dir.path().join("orders.csv"), "order_id,email,total,qty,city", rows);
    let config = write_sync_config(
        dir.path(),
        "insight.toml",
        &emulator.base_url(),
        "dotdigital-insight",
        "orders.csv",
        r#"collection = "orders"
scope = "contact"
key_column = "order_id"
contact = { identifier = "email", column = "email" }
fields = { orderTotal = { column = "total", type = "number" }, quantity = { column = "qty", type = "number" }, "shipping.city" = "city" }"#,
    );
    let (code, sync, stderr) = run_json(dir.path(), &config).await;
    assert_eq!(code, Some(1), "one record rejected → exit 1; stderr: {stderr}");
    assert_eq!(sync["delivered"], 500, "{sync}");
    assert_eq!(sync["rejected"], 1, "{sync}");
    let rejects = std::fs::read_to_string(sync["rejects_file"].as_str().expect("rejects file")).unwrap();
    assert!(rejects.contains("ContactEmailDoesNotExist"), "{rejects}");

    let records = emulator.state().insight_records(USER, "orders");
    let record = records.iter().find(|r| r.key == "ORD-7").expect("record ORD-7");
    assert_eq!(
        record.json,
        json!({"orderTotal": 7.5, "quantity": 3, "shipping": {"city": "Leeds"}})
    );
    let ann = emulator.state().contact_by_email(USER, "ann@example.com").unwrap();
    assert_eq!(record.contact_id, Some(ann.contact_id));
}
