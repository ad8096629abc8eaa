//! Insight data v3: collections, bulk import with per-record failures, single records, listings.

use super::{Ctx, v3_limit, v3_page};
use crate::error::{ApiError, empty_response, json_response};
use crate::state::{Account, Collection, IdentKind, JobKind, JobStatus, Payload};
use crate::util::lock;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

const TYPES: [&str; 10] = [
    "custom",
    "orders",
    "catalog",
    "cartInsight",
    "consentInsight",
    "productCategories",
    "webInsight",
    "wishList",
    "easyEditorExtensions",
    "nostoEmailCampaigns",
];
const MAX_COLLECTIONS: usize = 1000;

pub(super) fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    let Some(first) = chars.next() else { return false };
    (first.is_ascii_alphabetic() || first == '-' || first == '_')
        && (2..=256).contains(&n.len())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn bad(code: &str, description: impl Into<String>) -> ApiError {
    ApiError::v3(400, format!("insightData:{code}"), description)
}

fn name_error(n: &str) -> ApiError {
    bad("invalidCollectionName", "The collection name is not valid").detail(
        "collectionName",
        format!("'{n}' does not match ^[-A-Za-z_][-A-Za-z0-9_]{{1,255}}$"),
    )
}

fn scope_of(s: &str) -> Option<&'static str> {
    match s.to_ascii_lowercase().as_str() {
        "contact" => Some("contact"),
        "account" => Some("account"),
        _ => None,
    }
}

fn type_of(s: &str) -> Option<&'static str> {
    TYPES.iter().find(|t| t.eq_ignore_ascii_case(s)).copied()
}

fn collection_json(c: &Collection) -> Value {
    json!({"collectionName": c.name, "collectionScope": c.scope, "collectionType": c.collection_type})
}

fn not_found(name: &str) -> ApiError {
    ApiError::v3(404, "insightData:collectionNotFound", "Collection not found")
        .detail("collectionName", name.to_string())
}

pub(crate) fn collections_list(ctx: &mut Ctx) -> Result<Response, ApiError> {
    ctx.account(|a, _| {
        let list: Vec<Value> = a.collections.values().map(collection_json).collect();
        Ok(json_response(StatusCode::OK, &list))
    })
}

pub(crate) fn collection_create(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let name = ctx.param(0).to_string();
    if !valid_name(&name) {
        return Err(name_error(&name));
    }
    let scope_raw = ctx.query.get("collectionScope").unwrap_or("");
    let scope = scope_of(scope_raw).ok_or_else(|| {
        bad("invalidCollectionScope", "collectionScope must be contact or account")
            .detail("collectionScope", scope_raw.to_string())
    })?;
    let ctype = match ctx.query.get("collectionType") {
        None | Some("") => "custom",
        Some(t) => type_of(t).ok_or_else(|| {
            bad("invalidCollectionType", "The collection type is not valid").detail("collectionType", t.to_string())
        })?,
    };
    ctx.account(|a, _| {
        if let Some(c) = a.collections.get(&name.to_ascii_lowercase()) {
            return Ok(json_response(StatusCode::OK, &collection_json(c)));
        }
        if a.collections.len() >= MAX_COLLECTIONS {
            return Err(ApiError::v3(
                412,
                "insightData:collectionLimitReached",
                "The account already has the maximum of 1000 collections",
            ));
        }
        a.ensure_collection(&name, scope, ctype);
        let c = a
            .collections
            .get(&name.to_ascii_lowercase())
            .ok_or_else(|| not_found(&name))?;
        Ok(json_response(StatusCode::CREATED, &collection_json(c)))
    })
}

pub(crate) fn collection_delete(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let name = ctx.param(0).to_ascii_lowercase();
    ctx.account(|a, _| {
        a.collections.remove(&name).ok_or_else(|| not_found(&name))?;
        Ok(empty_response(StatusCode::ACCEPTED))
    })
}

pub(crate) fn collection_empty(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let name = ctx.param(0).to_ascii_lowercase();
    ctx.account(|a, _| {
        let c = a.collections.get_mut(&name).ok_or_else(|| not_found(&name))?;
        c.records.clear();
        Ok(empty_response(StatusCode::ACCEPTED))
    })
}

pub(crate) fn collection_schema(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let name = ctx.param(0).to_ascii_lowercase();
    ctx.account(|a, _| {
        let c = a.collections.get(&name).ok_or_else(|| not_found(&name))?;
        Ok(json_response(
            StatusCode::OK,
            &json!({"collectionName": c.name, "collectionScope": c.scope, "schema": c.schema}),
        ))
    })
}

pub(crate) fn import(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let body = ctx.json()?;
    let name = body
        .get("collectionName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if !valid_name(&name) {
        return Err(name_error(&name));
    }
    let scope_in = match body.get("collectionScope").filter(|v| !v.is_null()) {
        None => None,
        Some(v) => Some(v.as_str().and_then(scope_of).ok_or_else(|| {
            bad("invalidCollectionScope", "collectionScope must be contact or account")
                .detail("collectionScope", v.to_string())
        })?),
    };
    let type_in = match body.get("collectionType").filter(|v| !v.is_null()) {
        None => None,
        Some(v) => Some(v.as_str().and_then(type_of).ok_or_else(|| {
            bad("invalidCollectionType", "The collection type is not valid").detail("collectionType", v.to_string())
        })?),
    };
    // Take the records out of the parsed body (no copy of the tree).
    let records = match body {
        Value::Object(mut m) => m.remove("records"),
        _ => None,
    };
    let records = match records {
        Some(Value::Array(r)) if !r.is_empty() => r,
        _ => {
            return Err(bad("invalidImport", "records must be a non-empty array").detail("records", "missing or empty"));
        }
    };
    let row_failures = lock(&ctx.app.faults).row_failures();
    let limits = lock(&ctx.app.limits).clone();
    let (at, fail) = ctx.job_timing();
    let id = ctx.account(|a, ids| {
        let (scope, ctype) = match a.collections.get(&name.to_ascii_lowercase()) {
            Some(c) => {
                if scope_in.is_some_and(|s| s != c.scope) {
                    return Err(bad(
                        "scopeMismatch",
                        format!("Collection '{}' has scope {}", c.name, c.scope),
                    ));
                }
                (c.scope.clone(), c.collection_type.clone())
            }
            None => {
                let scope = scope_in.ok_or_else(|| {
                    bad(
                        "invalidCollectionScope",
                        "collectionScope is required when the collection does not exist",
                    )
                })?;
                if a.collections.len() >= MAX_COLLECTIONS {
                    return Err(ApiError::v3(
                        412,
                        "insightData:collectionLimitReached",
                        "The account already has the maximum of 1000 collections",
                    ));
                }
                (scope.to_string(), type_in.unwrap_or("custom").to_string())
            }
        };
        if limits.enabled && a.active_jobs(true) >= limits.max_active_insight_imports {
            return Err(
                ApiError::v3(429, "insightData:tooManyActiveImports", "Too many active imports").detail(
                    "imports",
                    format!(
                        "at most {} insight imports may be in progress",
                        limits.max_active_insight_imports
                    ),
                ),
            );
        }
        Ok(a.add_job(
            ids,
            JobKind::InsightImport,
            Payload::InsightImport {
                collection: name.clone(),
                scope,
                ctype,
                records,
                row_failures,
            },
            at,
            fail,
        ))
    })?;
    Ok(json_response(StatusCode::ACCEPTED, &json!({"importId": id})))
}

pub(crate) fn import_status(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let id = ctx.param(0).to_string();
    ctx.account(|a, _| {
        let job = a
            .jobs
            .get(&id)
            .filter(|j| matches!(j.kind, JobKind::InsightImport))
            .ok_or_else(|| {
                ApiError::v3(404, "insightData:importNotFound", "Import not found").detail("importId", id.clone())
            })?;
        let collection = match &job.payload {
            Some(Payload::InsightImport { collection, .. }) => json!(collection),
            _ => job
                .result
                .as_ref()
                .and_then(|r| r.as_value())
                .and_then(|r| r.get("collectionName"))
                .cloned()
                .unwrap_or(Value::Null),
        };
        let mut out = json!({"importId": job.id, "collectionName": collection});
        match job.status {
            JobStatus::Pending => out["status"] = json!("Processing"),
            JobStatus::Failed => out["status"] = json!("Failed"),
            JobStatus::Finished => {
                out["status"] = json!("Complete");
                if let Some(r) = job.result.as_ref().and_then(|r| r.as_value()) {
                    out["summary"] = r.get("summary").cloned().unwrap_or(Value::Null);
                    out["failures"] = r.get("failures").cloned().unwrap_or(json!([]));
                }
            }
        }
        Ok(json_response(StatusCode::OK, &out))
    })
}

fn record_error(reason: &str) -> ApiError {
    let code = {
        let mut c = reason.chars();
        c.next()
            .map(|f| f.to_ascii_lowercase().to_string() + c.as_str())
            .unwrap_or_default()
    };
    ApiError::v3(
        400,
        format!("insightData:{code}"),
        format!("The record was rejected: {reason}"),
    )
    .detail("failureReason", reason)
}

fn record_body(ctx: &Ctx) -> Result<Value, ApiError> {
    let v = ctx.json()?;
    if !v.is_object() {
        return Err(record_error("InvalidJson"));
    }
    Ok(v)
}

fn ensure_scope(a: &mut Account, name: &str, scope: &str) -> Result<(), ApiError> {
    if !valid_name(name) {
        return Err(name_error(name));
    }
    a.ensure_collection(name, scope, "custom");
    match a.collections.get(&name.to_ascii_lowercase()) {
        Some(c) if c.scope == scope => Ok(()),
        Some(c) => Err(bad(
            "scopeMismatch",
            format!("Collection '{}' has scope {}", c.name, c.scope),
        )),
        None => Err(not_found(name)),
    }
}

fn put_record(
    ctx: &mut Ctx,
    collection: String,
    key: String,
    contact: Option<(IdentKind, String)>,
) -> Result<Response, ApiError> {
    let json = record_body(ctx)?;
    ctx.account(|a, _| {
        let owner = match &contact {
            Some((kind, value)) => Some(find_contact(a, *kind, value)?),
            None => None,
        };
        ensure_scope(a, &collection, if owner.is_some() { "contact" } else { "account" })?;
        let created = a
            .put_insight_record(&collection, &key, owner, json, None)
            .map_err(record_error)?;
        Ok(empty_response(if created {
            StatusCode::CREATED
        } else {
            StatusCode::NO_CONTENT
        }))
    })
}

fn find_contact(a: &Account, kind: IdentKind, value: &str) -> Result<u64, ApiError> {
    match a.find(kind, value) {
        Ok(Some(id)) => Ok(id),
        Ok(None) => {
            Err(ApiError::v3(404, "insightData:contactNotFound", "Contact not found")
                .detail(kind.key(), value.to_string()))
        }
        Err(f) => Err(bad("invalidContactIdentifier", f.description)),
    }
}

fn ident(ctx: &Ctx) -> Result<(IdentKind, String), ApiError> {
    let kind = IdentKind::parse(ctx.param(0)).ok_or_else(|| {
        bad("invalidContactIdentifierType", "The identifier is not valid")
            .detail("identifier", ctx.param(0).to_string())
    })?;
    Ok((kind, ctx.param(1).to_string()))
}

fn record_not_found(key: &str) -> ApiError {
    ApiError::v3(404, "insightData:recordNotFound", "Record not found").detail("recordId", key.to_string())
}

fn get_record(
    ctx: &Ctx,
    collection: &str,
    key: &str,
    contact: Option<(IdentKind, String)>,
) -> Result<Response, ApiError> {
    ctx.account(|a, _| {
        let owner = match &contact {
            Some((kind, value)) => Some(find_contact(a, *kind, value)?),
            None => None,
        };
        let c = a
            .collections
            .get(&collection.to_ascii_lowercase())
            .ok_or_else(|| not_found(collection))?;
        let r = c
            .records
            .get(key)
            .filter(|r| owner.is_none() || r.contact_id == owner)
            .ok_or_else(|| record_not_found(key))?;
        Ok(json_response(StatusCode::OK, &r.json))
    })
}

fn delete_record(
    ctx: &Ctx,
    collection: &str,
    key: &str,
    contact: Option<(IdentKind, String)>,
) -> Result<Response, ApiError> {
    ctx.account(|a, _| {
        let owner = match &contact {
            Some((kind, value)) => Some(find_contact(a, *kind, value)?),
            None => None,
        };
        let c = a
            .collections
            .get_mut(&collection.to_ascii_lowercase())
            .ok_or_else(|| not_found(collection))?;
        if !c
            .records
            .get(key)
            .is_some_and(|r| owner.is_none() || r.contact_id == owner)
        {
            return Err(record_not_found(key));
        }
        c.records.remove(key);
        Ok(empty_response(StatusCode::NO_CONTENT))
    })
}

pub(crate) fn account_put(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let (c, k) = (ctx.param(0).to_string(), ctx.param(1).to_string());
    put_record(ctx, c, k, None)
}

pub(crate) fn account_get(ctx: &mut Ctx) -> Result<Response, ApiError> {
    get_record(ctx, ctx.param(0), ctx.param(1), None)
}

pub(crate) fn account_delete(ctx: &mut Ctx) -> Result<Response, ApiError> {
    delete_record(ctx, ctx.param(0), ctx.param(1), None)
}

pub(crate) fn contact_put(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let who = ident(ctx)?;
    let (c, k) = (ctx.param(2).to_string(), ctx.param(3).to_string());
    put_record(ctx, c, k, Some(who))
}

pub(crate) fn contact_get(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let who = ident(ctx)?;
    get_record(ctx, ctx.param(2), ctx.param(3), Some(who))
}

pub(crate) fn contact_delete(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let who = ident(ctx)?;
    delete_record(ctx, ctx.param(2), ctx.param(3), Some(who))
}

fn list_records(
    ctx: &Ctx,
    collection: &str,
    scope: &str,
    owner: Option<(IdentKind, String)>,
    base: String,
) -> Result<Response, ApiError> {
    let limit = v3_limit(ctx, 1000, 1000)?;
    let marker = ctx.query.get("marker").filter(|m| !m.is_empty()).map(str::to_string);
    ctx.account(|a, _| {
        let owner = match &owner {
            Some((kind, value)) => Some(find_contact(a, *kind, value)?),
            None => None,
        };
        let c = a
            .collections
            .get(&collection.to_ascii_lowercase())
            .ok_or_else(|| not_found(collection))?;
        if c.scope != scope {
            return Err(bad(
                "scopeMismatch",
                format!("Collection '{}' has scope {}", c.name, c.scope),
            ));
        }
        let start = match &marker {
            Some(m) => std::ops::Bound::Excluded(m.clone()),
            None => std::ops::Bound::Unbounded,
        };
        let mut items = Vec::new();
        let mut more = false;
        for (k, r) in c.records.range((start, std::ops::Bound::Unbounded)) {
            if owner.is_some() && r.contact_id != owner {
                continue;
            }
            if items.len() == limit {
                more = true;
                break;
            }
            let mut item = json!({"key": k, "json": r.json});
            if let Some(cid) = r.contact_id {
                item["contactId"] = json!(cid);
            }
            items.push((k.clone(), item));
        }
        Ok(json_response(
            StatusCode::OK,
            &v3_page(&base, &ctx.query.carried(), items, limit, more, marker.as_deref()),
        ))
    })
}

pub(crate) fn account_list(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let base = format!(
        "{}/insightData/v3/account/{}",
        ctx.app.region_url(ctx.region),
        ctx.param(0)
    );
    list_records(ctx, ctx.param(0), "account", None, base)
}

pub(crate) fn contacts_list_all(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let base = format!(
        "{}/insightData/v3/contacts/{}",
        ctx.app.region_url(ctx.region),
        ctx.param(0)
    );
    list_records(ctx, ctx.param(0), "contact", None, base)
}

pub(crate) fn contact_list(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let who = ident(ctx)?;
    let base = format!(
        "{}/insightData/v3/contacts/{}/{}/{}",
        ctx.app.region_url(ctx.region),
        ctx.param(0),
        ctx.param(1),
        ctx.param(2)
    );
    list_records(ctx, ctx.param(2), "contact", Some(who), base)
}
