//! v2 transactional data: the older face of Insight data. It reads and writes the same
//! collections and records as the v3 Insight endpoints (a record written here is read there),
//! with v2's shapes: items `{key, contactIdentifier, json}` where `json` is a string of JSON and
//! `contactIdentifier` is a contact's e-mail address or id, or `account`; v2 error bodies.

use super::v2::{find_contact_v2, import_started, report_not_ready, too_many_active_imports, v2_job};
use super::{Ctx, insight};
use crate::error::{ApiError, empty_response, json_response};
use crate::state::{Account, Collection, IdentKind, InsightRecord, JobKind, Payload};
use crate::util::{get_ci, lock};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

const DOES_NOT_EXIST: &str = "ERROR_TRANSACTIONAL_DATA_DOES_NOT_EXIST";

fn does_not_exist() -> ApiError {
    ApiError::v2c(404, "", DOES_NOT_EXIST)
}

fn invalid(sentence: &str) -> ApiError {
    ApiError::v2c(400, sentence, "ERROR_PARAMETER_INVALID")
}

fn contact_not_found() -> ApiError {
    ApiError::v2c(404, "Contact not found.", "ERROR_CONTACT_NOT_FOUND")
}

/// Who an item belongs to, from its `contactIdentifier`.
enum Owner {
    Account,
    Contact(IdentKind, String),
}

impl Owner {
    fn parse(identifier: &str) -> Owner {
        if identifier.eq_ignore_ascii_case("account") {
            Owner::Account
        } else if !identifier.is_empty() && identifier.bytes().all(|b| b.is_ascii_digit()) {
            Owner::Contact(IdentKind::ContactId, identifier.to_string())
        } else {
            Owner::Contact(IdentKind::Email, identifier.to_string())
        }
    }

    fn scope(&self) -> &'static str {
        match self {
            Owner::Account => "account",
            Owner::Contact(..) => "contact",
        }
    }

    /// The v3 `contactIdentity` of an import record; `None` for the account.
    fn identity(&self) -> Option<Value> {
        match self {
            Owner::Account => None,
            Owner::Contact(kind, value) => Some(json!({"identifier": kind.key(), "value": value})),
        }
    }
}

/// A text field of a v2 item (names are case-insensitive: clients send `Key` or `key`).
fn text_field(item: &Value, name: &str) -> Option<String> {
    match get_ci(item, name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An item's `json`: documented as a string of serialized JSON; an object is taken as it is.
fn item_json(item: &Value) -> Result<Value, ApiError> {
    let parsed = match get_ci(item, "json") {
        Some(Value::String(text)) => serde_json::from_str(text).ok(),
        Some(object @ Value::Object(_)) => Some(object.clone()),
        _ => None,
    };
    parsed
        .filter(Value::is_object)
        .ok_or_else(|| invalid("The 'json' property must be a JSON object serialized as a string."))
}

fn collection_name(ctx: &Ctx) -> Result<String, ApiError> {
    let name = ctx.param(0).to_string();
    if insight::valid_name(&name) {
        Ok(name)
    } else {
        Err(invalid(&format!(
            "The collection name '{name}' is not valid: 2-256 letters, digits, '-' or '_', not starting with a digit."
        )))
    }
}

fn collection<'a>(a: &'a Account, name: &str) -> Option<&'a Collection> {
    a.collections.get(&name.to_ascii_lowercase())
}

/// The v2 item of a stored record.
fn item_of(a: &Account, record: &InsightRecord) -> Value {
    let owner = match record.contact_id {
        None => "account".to_string(),
        Some(id) => a
            .contacts
            .get(&id)
            .and_then(|c| c.email.clone())
            .unwrap_or_else(|| id.to_string()),
    };
    json!({
        "key": record.key,
        "contactIdentifier": owner,
        "json": record.json.to_string(),
    })
}

/// Writes one item: `replace` (a key in the path) needs the record to exist.
fn write_item(ctx: &mut Ctx, replace: bool) -> Result<Response, ApiError> {
    let name = collection_name(ctx)?;
    let body = ctx.json()?;
    if !body.is_object() {
        return Err(invalid("The request body must be a JSON object."));
    }
    let key = if replace {
        ctx.param(1).to_string()
    } else {
        text_field(&body, "key").unwrap_or_default()
    };
    if key.is_empty() {
        return Err(invalid("The 'key' property is required."));
    }
    let identifier = text_field(&body, "contactIdentifier").ok_or_else(|| {
        invalid("The 'contactIdentifier' property is required: an e-mail address, a contact id or 'account'.")
    })?;
    let owner = Owner::parse(&identifier);
    let record_json = item_json(&body)?;
    ctx.account(|a, _| {
        let owner_id = match &owner {
            Owner::Account => None,
            Owner::Contact(kind, value) => Some(a.find(*kind, value).ok().flatten().ok_or_else(contact_not_found)?),
        };
        match collection(a, &name) {
            Some(c) if c.scope != owner.scope() => {
                return Err(invalid(&format!(
                    "The collection '{}' holds {} data; this item belongs to {}.",
                    c.name,
                    c.scope,
                    if owner_id.is_some() { "a contact" } else { "the account" }
                )));
            }
            Some(c) if replace && !c.records.contains_key(&key) => return Err(does_not_exist()),
            None if replace => return Err(does_not_exist()),
            _ => {}
        }
        a.ensure_collection(&name, owner.scope(), "custom");
        let created = a
            .put_insight_record(&name, &key, owner_id, record_json, None)
            .map_err(|reason| {
                ApiError::v2c(
                    400,
                    &format!("The transactional data was rejected: {reason}."),
                    "ERROR_TRANSACTIONAL_DATA_INVALID",
                )
            })?;
        let stored = collection(a, &name)
            .and_then(|c| c.records.get(&key))
            .ok_or_else(does_not_exist)?;
        let status = if created { StatusCode::CREATED } else { StatusCode::OK };
        Ok(json_response(status, &item_of(a, stored)))
    })
}

/// `POST /v2/contacts/transactional-data/{collection}`: adds (or replaces) the item with its key.
pub(crate) fn add(ctx: &mut Ctx) -> Result<Response, ApiError> {
    write_item(ctx, false)
}

/// `POST /v2/contacts/transactional-data/{collection}/{key}`: replaces an existing item.
pub(crate) fn replace(ctx: &mut Ctx) -> Result<Response, ApiError> {
    write_item(ctx, true)
}

pub(crate) fn get(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let (name, key) = (ctx.param(0).to_string(), ctx.param(1).to_string());
    ctx.account(|a, _| {
        let record = collection(a, &name)
            .and_then(|c| c.records.get(&key))
            .ok_or_else(does_not_exist)?;
        Ok(json_response(StatusCode::OK, &item_of(a, record)))
    })
}

pub(crate) fn delete(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let (name, key) = (ctx.param(0).to_ascii_lowercase(), ctx.param(1).to_string());
    ctx.account(|a, _| {
        a.collections
            .get_mut(&name)
            .and_then(|c| c.records.remove(&key))
            .ok_or_else(does_not_exist)?;
        Ok(empty_response(StatusCode::NO_CONTENT))
    })
}

/// `PUT /v2/contacts/transactional-data/{collection}/empty`: removes every item, keeps the collection.
pub(crate) fn empty(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let name = ctx.param(0).to_ascii_lowercase();
    ctx.account(|a, _| {
        a.collections.get_mut(&name).ok_or_else(does_not_exist)?.records.clear();
        Ok(empty_response(StatusCode::ACCEPTED))
    })
}

pub(crate) fn collections(ctx: &mut Ctx) -> Result<Response, ApiError> {
    ctx.account(|a, _| {
        let names: Vec<Value> = a
            .collections
            .values()
            .map(|c| json!({"name": c.name, "scope": c.scope}))
            .collect();
        Ok(json_response(StatusCode::OK, &names))
    })
}

/// `POST /v2/contacts/transactional-data/import/{collection}`: an array of items, imported as
/// an Insight import (same checks, same per-record failures).
pub(crate) fn import(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let name = collection_name(ctx)?;
    let items = match ctx.json()? {
        Value::Array(items) if !items.is_empty() => items,
        _ => {
            return Err(invalid(
                "The request body must be a non-empty JSON array of transactional data.",
            ));
        }
    };
    let first_scope = items
        .first()
        .and_then(|item| text_field(item, "contactIdentifier"))
        .map_or("contact", |identifier| Owner::parse(&identifier).scope());
    let records: Vec<Value> = items.iter().map(import_record).collect();
    let row_failures = lock(&ctx.app.faults).row_failures();
    let limits = lock(&ctx.app.limits).clone();
    let (at, fail) = ctx.job_timing();
    let id = ctx.account(|a, ids| {
        let scope = collection(a, &name).map_or(first_scope.to_string(), |c| c.scope.clone());
        if limits.enabled && a.active_jobs(true) >= limits.max_active_insight_imports {
            return Err(too_many_active_imports());
        }
        Ok(a.add_job(
            ids,
            JobKind::InsightImport,
            Payload::InsightImport {
                collection: name.clone(),
                scope,
                ctype: "custom".to_string(),
                records,
                row_failures,
            },
            at,
            fail,
        ))
    })?;
    Ok(import_started(&id))
}

/// A v2 item as the Insight import record it becomes (its checks then apply unchanged).
fn import_record(item: &Value) -> Value {
    let mut record = json!({});
    if let Some(key) = get_ci(item, "key") {
        record["key"] = key.clone();
    }
    if let Some(json) = get_ci(item, "json") {
        record["json"] = json.clone();
    }
    if let Some(identity) = text_field(item, "contactIdentifier").and_then(|text| Owner::parse(&text).identity()) {
        record["contactIdentity"] = identity;
    }
    record
}

pub(crate) fn import_status(ctx: &mut Ctx) -> Result<Response, ApiError> {
    v2_job(ctx, JobKind::InsightImport, |job, status| {
        Ok(json_response(StatusCode::OK, &json!({"id": job.id, "status": status})))
    })
}

/// `{totalItems, totalImported, totalRejected, faults: [{key, reason, detail}]}`.
pub(crate) fn import_report(ctx: &mut Ctx) -> Result<Response, ApiError> {
    v2_job(ctx, JobKind::InsightImport, |job, status| {
        if status != "Finished" {
            return Err(report_not_ready());
        }
        let result = job.result.as_ref().and_then(|r| r.as_value()).unwrap_or(&Value::Null);
        let summary = &result["summary"];
        let faults: Vec<Value> = result["failures"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|failure| json!({"key": failure["key"], "reason": failure["failureReason"], "detail": ""}))
            .collect();
        Ok(json_response(
            StatusCode::OK,
            &json!({
                "totalItems": summary["totalRecords"],
                "totalImported": summary["totalImported"],
                "totalRejected": summary["totalRejected"],
                "faults": faults,
            }),
        ))
    })
}

/// The items of collection `{collection}` owned by contact `{email-or-id}`.
fn contact_records<'a>(a: &'a Account, who: &str, name: &str) -> Result<Vec<&'a InsightRecord>, ApiError> {
    let id = find_contact_v2(a, who).ok_or_else(contact_not_found)?;
    let c = collection(a, name).ok_or_else(does_not_exist)?;
    Ok(c.records.values().filter(|r| r.contact_id == Some(id)).collect())
}

/// `GET /v2/contacts/{email-or-id}/transactional-data/{collection}`.
pub(crate) fn contact_list(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let (who, name) = (ctx.param(0).to_string(), ctx.param(1).to_string());
    ctx.account(|a, _| {
        let items: Vec<Value> = contact_records(a, &who, &name)?
            .into_iter()
            .map(|r| item_of(a, r))
            .collect();
        Ok(json_response(StatusCode::OK, &items))
    })
}

/// `DELETE /v2/contacts/{email-or-id}/transactional-data/{collection}`: all of the contact's items.
pub(crate) fn contact_delete(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let (who, name) = (ctx.param(0).to_string(), ctx.param(1).to_string());
    ctx.account(|a, _| {
        let keys: Vec<String> = contact_records(a, &who, &name)?
            .into_iter()
            .map(|r| r.key.clone())
            .collect();
        if let Some(c) = a.collections.get_mut(&name.to_ascii_lowercase()) {
            for key in keys {
                c.records.remove(&key);
            }
        }
        Ok(empty_response(StatusCode::NO_CONTENT))
    })
}
