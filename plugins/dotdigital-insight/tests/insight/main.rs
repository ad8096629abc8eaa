//! The insight plugin through the real vtable: the compliance checks, then rows in → requests
//! out and canned responses in → outcomes out.

mod compliance;
mod planner;

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use dotsync_testkit::sdk::Method;
use dotsync_testkit::{Canned, Harness, PluginContext, RequestSpec, RunMode};
use serde_json::{Value, json};

pub fn harness(config: Value, mode: RunMode) -> Harness {
    let context = PluginContext {
        sync_name: "test".into(),
        mode,
    };
    Harness::new(dotdigital_insight::plugin_descriptor(), config, context).expect("planner created")
}

/// An account-scoped config over `stores(id, name)`.
pub fn stores_config() -> Value {
    json!({"collection": "stores", "scope": "account", "key_column": "id", "fields": {"name": "name"}})
}

pub fn stores(rows: &[(&str, &str)]) -> RecordBatch {
    let ids: ArrayRef = Arc::new(StringArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>()));
    let names: ArrayRef = Arc::new(StringArray::from(rows.iter().map(|r| r.1).collect::<Vec<_>>()));
    RecordBatch::try_from_iter(vec![("id", ids), ("name", names)]).expect("valid batch")
}

/// Plays Dotdigital: collections `orders` (contact) and `stores` (account) exist; imports
/// complete at once; record `bad` fails with `InvalidJson`; deletions succeed.
pub fn destination(request: &RequestSpec) -> Canned {
    match (request.method, request.path.as_str()) {
        (Method::Get, "/insightData/v3/collections") => Canned::json(
            200,
            json!([
                {"collectionName": "orders", "collectionScope": "contact", "collectionType": "orders"},
                {"collectionName": "stores", "collectionScope": "account", "collectionType": "custom"}
            ]),
        ),
        (Method::Put, "/insightData/v3/import") => Canned::json(202, json!({"importId": "ins-1"})),
        (Method::Get, "/insightData/v3/import/ins-1") => Canned::json(
            200,
            json!({"importId": "ins-1", "status": "Complete",
                   "failures": [{"key": "bad", "failureReason": "InvalidJson"}]}),
        ),
        (Method::Delete, _) => Canned::status(204),
        (_, path) => Canned::json(404, json!({"errorCode": "insightData:notFound", "description": path})),
    }
}
