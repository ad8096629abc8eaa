use std::sync::Arc;

use arrow_array::builder::{Int64Builder, ListBuilder};
use arrow_array::{
    ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray, StructArray, TimestampMillisecondArray,
};
use arrow_schema::{DataType, Field};
use dotsync_testkit::sdk::Method;
use dotsync_testkit::{BatchKind, Canned, DynPlanner, OutcomeStatus, PlannerError, RequestSpec, RunMode};
use serde_json::{Value, json};

use crate::{destination, harness, stores, stores_config};

fn body(request: &RequestSpec) -> Value {
    serde_json::from_slice(&request.body).expect("JSON body")
}

fn imports(requests: &[RequestSpec]) -> Vec<&RequestSpec> {
    requests.iter().filter(|r| r.method == Method::Put).collect()
}

fn orders_config() -> Value {
    json!({
        "collection": "orders", "scope": "contact", "collection_type": "orders",
        "key_column": "order_id", "contact": {"identifier": "email", "column": "email"},
        "fields": {"orderTotal": "total", "quantity": "qty", "purchaseDate": "purchased_at",
                   "day": "day", "customer.tier": "tier", "shipping": "shipping", "skus": "skus"}
    })
}

fn orders() -> RecordBatch {
    let ids: ArrayRef = Arc::new(StringArray::from(vec!["ORD-1", "ORD-2"]));
    let emails: ArrayRef = Arc::new(StringArray::from(vec![" Ann@Example.com", "bob@example.com"]));
    let totals: ArrayRef = Arc::new(Float64Array::from(vec![Some(59.9), None]));
    let qty: ArrayRef = Arc::new(Int64Array::from(vec![2, 1]));
    let purchased: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![1_709_294_400_000, 0]));
    let day: ArrayRef = Arc::new(Date32Array::from(vec![19_783, 0]));
    let tier: ArrayRef = Arc::new(StringArray::from(vec![Some("gold"), None]));
    let city: ArrayRef = Arc::new(StringArray::from(vec!["Leeds", "York"]));
    let shipping: ArrayRef = Arc::new(StructArray::from(vec![(
        Arc::new(Field::new("city", DataType::Utf8, true)),
        city,
    )]));
    let mut skus = ListBuilder::new(Int64Builder::new());
    skus.values().append_value(7);
    skus.values().append_value(8);
    skus.append(true);
    skus.append(true);
    let skus: ArrayRef = Arc::new(skus.finish());
    RecordBatch::try_from_iter(vec![
        ("order_id", ids),
        ("email", emails),
        ("total", totals),
        ("qty", qty),
        ("purchased_at", purchased),
        ("day", day),
        ("tier", tier),
        ("shipping", shipping),
        ("skus", skus),
    ])
    .unwrap()
}

#[test]
fn documents_keep_their_types_and_shapes() {
    let mut harness = harness(orders_config(), RunMode::Run);
    let log = harness
        .run_with_input(vec![(BatchKind::Upsert, orders())], destination)
        .unwrap();
    assert_eq!(log.requests[0].path, "/insightData/v3/collections");
    let puts = imports(&log.requests);
    assert_eq!(puts.len(), 1);
    assert_eq!(puts[0].slot_class, "insight-import");
    assert_eq!(
        body(puts[0]),
        json!({"collectionName": "orders", "collectionScope": "contact", "collectionType": "orders", "records": [
            {"key": "ORD-1", "contactIdentity": {"identifier": "email", "value": "Ann@Example.com"},
             "json": {"customer": {"tier": "gold"}, "day": "2024-03-01T00:00:00Z", "orderTotal": 59.9,
                      "purchaseDate": "2024-03-01T12:00:00Z", "quantity": 2, "shipping": {"city": "Leeds"},
                      "skus": [7, 8]}},
            {"key": "ORD-2", "contactIdentity": {"identifier": "email", "value": "bob@example.com"},
             "json": {"customer": {}, "day": "1970-01-01T00:00:00Z", "purchaseDate": "1970-01-01T00:00:00Z",
                      "quantity": 1, "shipping": {"city": "York"}, "skus": []}}
        ]})
    );
    assert_eq!(log.count(OutcomeStatus::Delivered), 2);
    assert_eq!(log.released_slots, vec![puts[0].id]);
}

#[test]
fn typed_fields_convert_text_and_reject_values_that_do_not_convert() {
    let config = json!({
        "collection": "stores", "scope": "account", "key_column": "id",
        "fields": {"name": "name", "rating": {"column": "rating", "type": "number"},
                   "open": {"column": "open", "type": "boolean"}, "since": {"column": "since", "type": "date"}}
    });
    let mut harness = harness(config, RunMode::Run);
    let text = |values: [Option<&str>; 3]| -> ArrayRef { Arc::new(StringArray::from(values.to_vec())) };
    let batch = RecordBatch::try_from_iter(vec![
        ("id", text([Some("s1"), Some("s2"), Some("s3")])),
        ("name", text([Some("Leeds"), Some("York"), Some("Hull")])),
        ("rating", text([Some("4.50"), Some("lots"), None])),
        ("open", text([Some("yes"), Some("true"), Some("0")])),
        (
            "since",
            text([
                Some("2024-03-01"),
                Some("2024-03-01"),
                Some("2020-01-02T10:00:00+01:00"),
            ]),
        ),
    ])
    .unwrap();
    let log = harness
        .run_with_input(vec![(BatchKind::Upsert, batch)], destination)
        .unwrap();
    let records = body(imports(&log.requests)[0])["records"].clone();
    assert_eq!(
        records,
        json!([
            {"key": "s1", "json": {"name": "Leeds", "open": true, "rating": 4.50, "since": "2024-03-01T00:00:00Z"}},
            {"key": "s3", "json": {"name": "Hull", "open": false, "since": "2020-01-02T09:00:00Z"}}
        ])
    );
    let rejected = log.outcome(1, 1).unwrap();
    assert_eq!(rejected.status, OutcomeStatus::Rejected);
    assert_eq!(&*rejected.code, "InvalidValue");
    assert!(
        rejected.message.contains("`lots` is not a number"),
        "{}",
        rejected.message
    );
}

#[test]
fn a_typed_field_on_a_column_that_cannot_convert_is_a_config_error() {
    let config = json!({
        "collection": "stores", "scope": "account", "key_column": "id",
        "fields": {"opened": {"column": "opened", "type": "date"}}
    });
    let mut harness = harness(config, RunMode::Run);
    let ids: ArrayRef = Arc::new(StringArray::from(vec!["s1"]));
    let flags: ArrayRef = Arc::new(arrow_array::BooleanArray::from(vec![true]));
    let batch = RecordBatch::try_from_iter(vec![("id", ids), ("opened", flags)]).unwrap();
    let error = harness
        .run_with_input(vec![(BatchKind::Upsert, batch)], destination)
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("column `opened`: a Date data field cannot take a Boolean column"),
        "{error}"
    );
}

#[test]
fn bad_keys_and_oversized_records_are_rejected_and_the_rest_goes_on() {
    let mut config = stores_config();
    config["max_record_bytes"] = json!(30);
    let mut harness = harness(config, RunMode::Run);
    let batch = stores(&[
        ("s1", "Leeds"),
        ("", "No key"),
        ("s1", "Duplicate"),
        ("s\u{7}", "Bell"),
        ("s2", "A name far too long for thirty bytes"),
        ("bad", "Refused by the API"),
    ]);
    let log = harness
        .run_with_input(vec![(BatchKind::Upsert, batch)], destination)
        .unwrap();
    let keys: Vec<String> = body(imports(&log.requests)[0])["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| record["key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys, vec!["s1", "bad"]);
    let codes: Vec<(OutcomeStatus, String)> = (0..6)
        .map(|row| {
            let outcome = log.outcome(1, row).unwrap();
            (outcome.status, outcome.code.to_string())
        })
        .collect();
    assert_eq!(
        codes,
        vec![
            (OutcomeStatus::Delivered, String::new()),
            (OutcomeStatus::Rejected, "NullKey".into()),
            (OutcomeStatus::Rejected, "DuplicateKey".into()),
            (OutcomeStatus::Rejected, "InvalidClientKey".into()),
            (OutcomeStatus::Rejected, "RecordTooLarge".into()),
            (OutcomeStatus::Rejected, "InvalidJson".into()),
        ]
    );
}

#[test]
fn mirror_deletes_departed_keys_and_upsert_does_not() {
    let mut mirror = stores_config();
    mirror["mode"] = json!("mirror");
    let mut harness_mirror = harness(mirror, RunMode::Run);
    let contract = harness_mirror.planner().input_contract().unwrap();
    assert_eq!(
        contract
            .metadata()
            .get(dotsync_testkit::sdk::DEPARTED_KEYS_METADATA)
            .map(String::as_str),
        Some("delete")
    );
    let departed = stores(&[("s9", ""), ("a/b", "")]);
    let log = harness_mirror
        .run_with_input(vec![(BatchKind::Delete, departed.clone())], destination)
        .unwrap();
    let deletes: Vec<&str> = log
        .requests
        .iter()
        .filter(|r| r.method == Method::Delete)
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(
        deletes,
        vec![
            "/insightData/v3/account/stores/s9",
            "/insightData/v3/account/stores/a%2Fb"
        ]
    );
    assert_eq!(log.count(OutcomeStatus::Delivered), 2);

    let mut upsert = harness(stores_config(), RunMode::Run);
    let contract = upsert.planner().input_contract().unwrap();
    assert!(
        contract
            .metadata()
            .get(dotsync_testkit::sdk::DEPARTED_KEYS_METADATA)
            .is_none()
    );
    let log = upsert
        .run_with_input(vec![(BatchKind::Delete, departed)], destination)
        .unwrap();
    assert!(log.requests.iter().all(|r| r.method != Method::Delete));
    assert_eq!(&*log.outcome(1, 0).unwrap().code, "DeleteNotSupported");
}

#[test]
fn contact_scoped_deletes_go_through_the_contact() {
    let mut config = orders_config();
    config["mode"] = json!("mirror");
    let mut harness = harness(config, RunMode::Run);
    let ids: ArrayRef = Arc::new(StringArray::from(vec!["ORD-9"]));
    let emails: ArrayRef = Arc::new(StringArray::from(vec!["ann@example.com"]));
    let departed = RecordBatch::try_from_iter(vec![("order_id", ids), ("email", emails)]).unwrap();
    let contract = harness.planner().input_contract().unwrap();
    assert_eq!(
        contract
            .metadata()
            .get(dotsync_testkit::sdk::KEY_COLUMNS_METADATA)
            .map(String::as_str),
        Some("order_id,email")
    );
    let log = harness
        .run_with_input(vec![(BatchKind::Delete, departed)], |request| {
            if request.method == Method::Delete {
                return Canned::json(
                    404,
                    json!({"errorCode": "insightData:recordNotFound", "description": "gone"}),
                );
            }
            destination(request)
        })
        .unwrap();
    let delete = log.requests.iter().find(|r| r.method == Method::Delete).unwrap();
    assert_eq!(
        delete.path,
        "/insightData/v3/contacts/email/ann@example.com/orders/ORD-9"
    );
    assert_eq!(log.count(OutcomeStatus::Delivered), 1, "already gone counts as deleted");
}

#[test]
fn a_missing_collection_is_an_error_unless_it_may_be_created() {
    let mut config = stores_config();
    config["collection"] = json!("branches");
    let mut strict = harness(config.clone(), RunMode::Run);
    let error = strict
        .run_with_input(vec![(BatchKind::Upsert, stores(&[("b1", "x")]))], destination)
        .unwrap_err();
    let Some(PlannerError::Plugin(error)) = error.planner_error() else {
        panic!("a plugin error, got {error}")
    };
    assert!(error.message.contains("`branches` does not exist"), "{}", error.message);
    assert!(strict.log().requests.iter().all(|r| !r.writes));

    config["create_collection_if_missing"] = json!(true);
    let mut creating = harness(config, RunMode::Run);
    let log = creating
        .run_with_input(vec![(BatchKind::Upsert, stores(&[("b1", "x")]))], |request| {
            if request.method == Method::Post {
                return Canned::json(201, json!({}));
            }
            destination(request)
        })
        .unwrap();
    assert_eq!(
        log.requests[1].path,
        "/insightData/v3/collections/branches?collectionScope=account&collectionType=custom"
    );
    assert_eq!(log.count(OutcomeStatus::Delivered), 1);
}

#[test]
fn a_collection_of_the_other_scope_is_a_config_error() {
    let mut config = stores_config();
    config["collection"] = json!("orders");
    let mut harness = harness(config, RunMode::Check);
    let error = harness.run_to_end(destination).unwrap_err();
    assert!(
        error.to_string().contains("collection `orders` is contact-scoped"),
        "{error}"
    );
}
