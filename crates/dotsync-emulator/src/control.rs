//! The `/_emulator/` control API (no authentication; the emulator binds to 127.0.0.1 only).
//!
//! | method & path | effect |
//! |---|---|
//! | `GET /_emulator/health` | `{"ok": true, "baseUrl": ...}` |
//! | `POST /_emulator/reset[?empty=true]` | back to the configured accounts (or none); clears faults, limits, log |
//! | `POST /_emulator/seed` | body `{"accounts": [AccountSeed...]}`: add accounts or add data to existing ones |
//! | `GET /_emulator/state` | whole state as JSON |
//! | `GET/DELETE /_emulator/requests` | request log with counts per `"METHOD route"` / clear it |
//! | `GET/POST/DELETE /_emulator/faults`, `DELETE /_emulator/faults/{id}` | list / add (rule or array) / clear / remove |
//! | `GET /_emulator/outbox` | every message sent |
//! | `GET/PUT /_emulator/limits` | read / replace the rate-limit configuration |
//! | `POST /_emulator/save` | save to the configured state file |

use crate::error::json_response;
use crate::faults::FaultRule;
use crate::limits::LimitsConfig;
use crate::server::App;
use crate::state::{Seed, StateView};
use crate::util::{Query, lock};
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use std::sync::Arc;

fn err(status: StatusCode, msg: impl Into<String>) -> Response {
    json_response(status, &json!({"error": msg.into()}))
}

fn ok(v: Value) -> Response {
    json_response(StatusCode::OK, &v)
}

pub(crate) async fn handle(app: Arc<App>, method: &str, segs: &[String], query: Query, body: Body) -> Response {
    let bytes = match axum::body::to_bytes(body, app.config.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => return err(StatusCode::PAYLOAD_TOO_LARGE, "body too large"),
    };
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let view = StateView { app: Arc::clone(&app) };
    match (method, segs.as_slice()) {
        ("GET", ["health"]) => ok(json!({"ok": true, "baseUrl": app.base_url})),
        ("POST", ["reset"]) => {
            let empty = query.get("empty").is_some_and(|v| v.eq_ignore_ascii_case("true"));
            match app.reset(empty) {
                Ok(()) => ok(json!({"ok": true})),
                Err(e) => err(StatusCode::BAD_REQUEST, e.to_string()),
            }
        }
        ("POST", ["seed"]) => match serde_json::from_slice::<Seed>(&bytes) {
            Ok(seed) => match app.seed(&seed.accounts) {
                Ok(()) => ok(json!({"ok": true})),
                Err(e) => err(StatusCode::BAD_REQUEST, e.to_string()),
            },
            Err(e) => err(StatusCode::BAD_REQUEST, format!("invalid seed: {e}")),
        },
        ("GET", ["state"]) => ok(view.snapshot_json()),
        ("GET", ["requests"]) => ok(serde_json::to_value(view.requests()).unwrap_or(Value::Null)),
        ("DELETE", ["requests"]) => {
            view.clear_requests();
            ok(json!({"ok": true}))
        }
        ("GET", ["outbox"]) => ok(serde_json::to_value(view.outbox()).unwrap_or(Value::Null)),
        ("GET", ["faults"]) => ok(serde_json::to_value(lock(&app.faults).list()).unwrap_or(Value::Null)),
        ("POST", ["faults"]) => {
            let rules: Result<Vec<FaultRule>, _> = match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Array(items)) => items.into_iter().map(serde_json::from_value).collect(),
                Ok(v) => serde_json::from_value(v).map(|r| vec![r]),
                Err(e) => Err(e),
            };
            match rules {
                Ok(rules) => {
                    let mut f = lock(&app.faults);
                    let ids: Vec<u64> = rules.into_iter().map(|r| f.add(r)).collect();
                    ok(json!({"ids": ids}))
                }
                Err(e) => err(StatusCode::BAD_REQUEST, format!("invalid fault rule: {e}")),
            }
        }
        ("DELETE", ["faults"]) => {
            lock(&app.faults).clear();
            ok(json!({"ok": true}))
        }
        ("DELETE", ["faults", id]) => match id.parse::<u64>() {
            Ok(id) if lock(&app.faults).remove(id) => ok(json!({"ok": true})),
            _ => err(StatusCode::NOT_FOUND, format!("no fault rule {id}")),
        },
        ("GET", ["limits"]) => ok(serde_json::to_value(lock(&app.limits).clone()).unwrap_or(Value::Null)),
        ("PUT", ["limits"]) => match serde_json::from_slice::<LimitsConfig>(&bytes) {
            Ok(l) => {
                *lock(&app.limits) = l;
                lock(&app.limiter).reset();
                ok(json!({"ok": true}))
            }
            Err(e) => err(StatusCode::BAD_REQUEST, format!("invalid limits: {e}")),
        },
        ("POST", ["save"]) => {
            let Some(path) = app.config.state_file.clone() else {
                return err(StatusCode::BAD_REQUEST, "no state file configured");
            };
            let bytes = {
                let w = lock(&app.world);
                crate::persist::to_bytes(&w)
            };
            match bytes {
                Ok(b) => match crate::persist::write(&path, b).await {
                    Ok(()) => ok(json!({"ok": true, "path": path})),
                    Err(e) => err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
                },
                Err(e) => err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            }
        }
        _ => err(
            StatusCode::NOT_FOUND,
            format!("unknown control endpoint {method} /_emulator/{}", segs.join("/")),
        ),
    }
}
