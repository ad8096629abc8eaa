//! Contacts v3: single-contact CRUD/upsert, listing, bulk import and bulk delete.

use super::{Ctx, v3_limit, v3_page};
use crate::bulk::{ContactIn, ContactShape, ImportBody, ImportBytes, JobResult};
use crate::error::{ApiError, empty_response, json_response};
use crate::state::{Failure, IdentKind, Include, JobKind, JobStatus, Merge, Payload, failure};
use crate::util::{self, lock};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::{Value, json};
use std::cmp::Ordering;
use tokio::time::Instant;

fn invalid_contact(fs: &[Failure]) -> ApiError {
    let mut e = ApiError::v3(400, "contacts:invalidContact", "The contact data supplied is not valid");
    for f in fs {
        e = e.detail(f.failure_code.clone(), f.description.clone());
    }
    e
}

fn ident(ctx: &Ctx) -> Result<IdentKind, ApiError> {
    IdentKind::parse(ctx.param(0)).ok_or_else(|| {
        ApiError::v3(400, "contacts:invalidIdentifier", "The identifier is not valid").detail(
            "identifier",
            format!("'{}' is not one of contactId, email, mobileNumber", ctx.param(0)),
        )
    })
}

fn not_found(kind: IdentKind, value: &str) -> ApiError {
    ApiError::v3(404, "contacts:contactNotFound", "Contact not found")
        .detail(kind.key(), format!("No contact with {} '{value}'", kind.key()))
}

/// Looks the path contact up: `Err` 400 for a malformed value.
fn lookup(ctx: &Ctx, a: &crate::state::Account) -> Result<(IdentKind, Option<u64>), ApiError> {
    let kind = ident(ctx)?;
    let found = a.find(kind, ctx.param(1)).map_err(|f| invalid_contact(&[f]))?;
    Ok((kind, found))
}

fn include_from_query(ctx: &Ctx) -> Include {
    let inc = ctx.query.get("include").unwrap_or("").to_ascii_lowercase();
    let parts: Vec<&str> = inc.split(',').map(str::trim).collect();
    let all = parts.contains(&"all");
    Include {
        lists: all || parts.contains(&"lists"),
        channels: all || parts.contains(&"channelproperties"),
        fields: ctx
            .query
            .get("data-fields")
            .filter(|s| !s.is_empty())
            .map(|s| s.split(',').map(|x| x.trim().to_string()).collect()),
    }
}

pub(crate) fn get(ctx: &mut Ctx) -> Result<Response, ApiError> {
    ctx.account(|a, _| {
        let (kind, found) = lookup(ctx, a)?;
        let id = found.ok_or_else(|| not_found(kind, ctx.param(1)))?;
        let c = a.contacts.get(&id).ok_or_else(|| not_found(kind, ctx.param(1)))?;
        Ok(json_response(StatusCode::OK, &a.contact_v3(c, &Include::all())))
    })
}

pub(crate) fn list(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let limit = v3_limit(ctx, 1000, 5000)?;
    let marker = ctx.query.get("marker").filter(|m| !m.is_empty()).map(str::to_string);
    let after = match &marker {
        None => 0,
        Some(m) => m.parse::<u64>().map_err(|_| {
            ApiError::v3(400, "contacts:invalidMarker", "The marker is not valid").detail("marker", m.clone())
        })?,
    };
    let list_filter = match ctx.query.get("~listId") {
        None | Some("") => None,
        Some(s) => {
            let v = s.strip_prefix("eq::").unwrap_or(s);
            Some(v.parse::<u64>().map_err(|_| invalid_filter("~listId", s))?)
        }
    };
    let modified = TimeFilter::from_query(ctx, "~modified")?;
    let created = TimeFilter::from_query(ctx, "~created")?;
    let inc = include_from_query(ctx);
    let base = format!("{}/contacts/v3", ctx.app.region_url(ctx.region));
    let carried = ctx.query.carried();
    ctx.account(|a, _| {
        if let Some(l) = list_filter
            && !a.lists.contains_key(&l)
        {
            return Err(ApiError::v3(404, "contacts:listNotFound", "List not found").detail("~listId", l.to_string()));
        }
        let mut items = Vec::with_capacity(limit.min(a.contacts.len()));
        let mut more = false;
        for c in a.contacts.range(after.saturating_add(1)..).map(|(_, c)| c) {
            if list_filter.is_some_and(|l| !c.lists.contains(&l))
                || modified.as_ref().is_some_and(|f| !f.admits(c.updated_ms))
                || created.as_ref().is_some_and(|f| !f.admits(c.created_ms))
            {
                continue;
            }
            if items.len() == limit {
                more = true;
                break;
            }
            items.push((c.contact_id.to_string(), a.contact_v3(c, &inc)));
        }
        Ok(json_response(
            StatusCode::OK,
            &v3_page(&base, &carried, items, limit, more, marker.as_deref()),
        ))
    })
}

/// A `~modified` or `~created` filter: `op::date` with `op` one of `eq`, `gt`, `gte`, `lt`,
/// `lte` (`eq` when left out) and an ISO-8601 date or date-time; compared at the seconds the
/// contact's `created` and `updated` show.
struct TimeFilter {
    op: Ordering,
    or_equal: bool,
    seconds: i64,
}

impl TimeFilter {
    fn from_query(ctx: &Ctx, name: &str) -> Result<Option<TimeFilter>, ApiError> {
        let Some(raw) = ctx.query.get(name).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let (op, date) = raw.split_once("::").unwrap_or(("eq", raw));
        let (op, or_equal) = match op.to_ascii_lowercase().as_str() {
            "eq" => (Ordering::Equal, true),
            "gt" => (Ordering::Greater, false),
            "gte" => (Ordering::Greater, true),
            "lt" => (Ordering::Less, false),
            "lte" => (Ordering::Less, true),
            _ => return Err(invalid_filter(name, raw)),
        };
        let seconds = util::parse_instant(date)
            .ok_or_else(|| invalid_filter(name, raw))?
            .timestamp();
        Ok(Some(TimeFilter { op, or_equal, seconds }))
    }

    fn admits(&self, ms: i64) -> bool {
        let order = ms.div_euclid(1000).cmp(&self.seconds);
        order == self.op || (self.or_equal && order == Ordering::Equal)
    }
}

fn invalid_filter(name: &str, raw: &str) -> ApiError {
    ApiError::v3(400, "contacts:invalidFilter", "The filter is not valid").detail(name, raw.to_string())
}

fn body_object(ctx: &Ctx) -> Result<Value, ApiError> {
    let v = ctx.json()?;
    if !v.is_object() {
        return Err(ApiError::v3(
            400,
            "contacts:invalidContact",
            "The request body must be a JSON object",
        ));
    }
    Ok(v)
}

fn apply_error(f: Failure) -> ApiError {
    match f.failure_code.as_str() {
        "Duplicate" => ApiError::v3(409, "contacts:conflict", "An identifier belongs to another contact")
            .detail("identifiers", f.description),
        _ => invalid_contact(&[f]),
    }
}

pub(crate) fn create(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let body = body_object(ctx)?;
    ctx.account(|a, ids| {
        let ch = a
            .prepare_value(
                body.get("identifiers"),
                body.get("dataFields"),
                body.get("channelProperties"),
                body.get("lists"),
            )
            .map_err(|fs| invalid_contact(&fs))?;
        if ch.email.is_none() && ch.mobile.is_none() {
            return Err(invalid_contact(&[failure(
                "NoValidIdentifiers",
                "identifiers must contain email or mobileNumber",
            )]));
        }
        if !ch.bad_lists.is_empty() {
            return Err(invalid_contact(&[failure(
                "InvalidAddressBookIds",
                format!("Unknown list ids {:?}", ch.bad_lists),
            )]));
        }
        let (id, _) = a
            .apply(ids, None, ch, Merge::Overwrite, false, crate::util::now_ms())
            .map_err(apply_error)?;
        let c = a.contacts.get(&id).ok_or_else(|| ApiError::generic(ctx.api_gen, 500))?;
        Ok(json_response(StatusCode::CREATED, &a.contact_v3(c, &Include::all())))
    })
}

fn write(ctx: &mut Ctx, replace: bool) -> Result<Response, ApiError> {
    let merge = match ctx.query.get("merge-option") {
        None | Some("") => Merge::Overwrite,
        Some(m) => Merge::from_query(m).ok_or_else(|| {
            ApiError::v3(400, "contacts:invalidMergeOption", "The merge option is not valid").detail(
                "merge-option",
                format!("'{m}' is not one of overwrite, overwrite-if-not-empty, overwrite-if-empty"),
            )
        })?,
    };
    let mut body = body_object(ctx)?;
    ctx.account(|a, ids| {
        let (kind, target) = lookup(ctx, a)?;
        if target.is_none() && (replace || kind == IdentKind::ContactId) {
            return Err(not_found(kind, ctx.param(1)));
        }
        // A new contact takes the path identifier when the body does not carry it.
        if target.is_none() {
            let ids_obj = body
                .as_object_mut()
                .map(|o| o.entry("identifiers").or_insert_with(|| json!({})));
            if let Some(Value::Object(m)) = ids_obj
                && !m.keys().any(|k| IdentKind::parse(k) == Some(kind))
            {
                m.insert(kind.key().to_string(), json!(ctx.param(1)));
            }
        }
        let ch = a
            .prepare_value(
                body.get("identifiers"),
                body.get("dataFields"),
                body.get("channelProperties"),
                body.get("lists"),
            )
            .map_err(|fs| invalid_contact(&fs))?;
        if !ch.bad_lists.is_empty() {
            return Err(invalid_contact(&[failure(
                "InvalidAddressBookIds",
                format!("Unknown list ids {:?}", ch.bad_lists),
            )]));
        }
        let new_lists = ch.lists.clone();
        let (id, created) = a
            .apply(
                ids,
                target,
                ch,
                if replace { Merge::Overwrite } else { merge },
                replace,
                crate::util::now_ms(),
            )
            .map_err(apply_error)?;
        if replace && body.get("lists").is_some_and(|l| !l.is_null()) {
            let current: Vec<u64> = a
                .contacts
                .get(&id)
                .map(|c| c.lists.iter().copied().collect())
                .unwrap_or_default();
            for l in current {
                if !new_lists.contains(&l) {
                    a.remove_from_list(l, id);
                }
            }
        }
        let c = a.contacts.get(&id).ok_or_else(|| ApiError::generic(ctx.api_gen, 500))?;
        let status = if created { StatusCode::CREATED } else { StatusCode::OK };
        Ok(json_response(status, &a.contact_v3(c, &Include::all())))
    })
}

pub(crate) fn patch(ctx: &mut Ctx) -> Result<Response, ApiError> {
    write(ctx, false)
}

pub(crate) fn put(ctx: &mut Ctx) -> Result<Response, ApiError> {
    write(ctx, true)
}

pub(crate) fn delete(ctx: &mut Ctx) -> Result<Response, ApiError> {
    ctx.account(|a, _| {
        let (kind, found) = lookup(ctx, a)?;
        let id = found.ok_or_else(|| not_found(kind, ctx.param(1)))?;
        a.delete_contact(id);
        Ok(empty_response(StatusCode::OK))
    })
}

fn schema_error(ctx: &Ctx, e: serde_json::Error) -> ApiError {
    if e.is_syntax() || e.is_eof() {
        ApiError::bad_json(ctx.api_gen, &e.to_string())
    } else {
        ApiError::v3(
            400,
            "contacts:invalidImport",
            "The request body does not match the import schema",
        )
        .detail("body", e.to_string())
    }
}

pub(crate) fn import(ctx: &mut Ctx) -> Result<Response, ApiError> {
    // `Bytes` is reference-counted: rows read now borrow from it, and a deferred import keeps it.
    let bytes = ctx.body.clone();
    let (at, fail) = ctx.job_due();
    // Due at once (no import delay, no fault): read the rows in full, once, and apply them now,
    // under one lock acquisition. Otherwise only check the body's shape now (a bad body is a 400
    // either way) and read the rows when the import is due.
    let run_now = !fail && at <= ctx.now;
    let (merge_option, contacts, count) = if run_now {
        let body: ImportBody<'_, ContactIn<'_>> = serde_json::from_slice(&bytes).map_err(|e| schema_error(ctx, e))?;
        let contacts = body.contacts.unwrap_or_default();
        let count = contacts.len();
        (body.merge_option, contacts, count)
    } else {
        let body: ImportBody<'_, ContactShape> = serde_json::from_slice(&bytes).map_err(|e| schema_error(ctx, e))?;
        (
            body.merge_option,
            Vec::new(),
            body.contacts.map_or(0, |shapes| shapes.len()),
        )
    };
    let merge = match merge_option.as_ref().map(|m| m.0.as_ref()) {
        None | Some("") => Merge::Overwrite,
        Some(m) => Merge::from_body(m).ok_or_else(|| {
            ApiError::v3(400, "contacts:invalidMergeOption", "The merge option is not valid").detail(
                "mergeOption",
                format!("'{m}' is not one of overwrite, overwriteIfNotEmpty, overwriteIfEmpty"),
            )
        })?,
    };
    if count == 0 {
        return Err(
            ApiError::v3(400, "contacts:invalidImport", "The import contains no contacts")
                .detail("contacts", "must contain at least one contact"),
        );
    }
    let row_failures = lock(&ctx.app.faults).row_failures();
    let limits = lock(&ctx.app.limits).clone();
    let mut used = Vec::new();
    let id = ctx.account(|a, ids| {
        if limits.enabled && a.active_jobs(false) >= limits.max_active_contact_imports {
            return Err(
                ApiError::v3(429, "contacts:tooManyActiveImports", "Too many active imports").detail(
                    "imports",
                    format!(
                        "at most {} contact imports may be in progress",
                        limits.max_active_contact_imports
                    ),
                ),
            );
        }
        if run_now {
            // Imports that became due meanwhile run first, in submission order.
            a.process_due(ids, Instant::now(), &mut used);
            let report = a.run_contact_import(ids, merge, &contacts, &row_failures, &mut used, crate::util::now_ms());
            return Ok(a.add_finished_job(ids, JobKind::ContactImport, JobResult::ContactImport(Box::new(report))));
        }
        Ok(a.add_job(
            ids,
            JobKind::ContactImport,
            Payload::ContactImport {
                merge,
                contacts: ImportBytes(bytes.clone()),
                row_failures,
            },
            at,
            fail,
        ))
    })?;
    if !run_now {
        ctx.wake.push(at);
    }
    if !used.is_empty() {
        let mut f = lock(&ctx.app.faults);
        for rule in used {
            f.row_failure_used(rule);
        }
    }
    Ok(json_response(StatusCode::ACCEPTED, &json!({ "importId": id })))
}

/// A v3 job status: `{idKey: id, status, ...report}`.
struct JobStatusOut<'a> {
    id_key: &'a str,
    id: &'a str,
    status: &'a str,
    result: Option<&'a JobResult>,
}

impl Serialize for JobStatusOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry(self.id_key, self.id)?;
        m.serialize_entry("status", self.status)?;
        if let Some(r) = self.result {
            r.write_entries(&mut m)?;
        }
        m.end()
    }
}

fn job_status(ctx: &mut Ctx, kind_ok: fn(&JobKind) -> bool, id_key: &str, what: &str) -> Result<Response, ApiError> {
    let id = ctx.param(0).to_string();
    ctx.account(|a, _| {
        let job = a.jobs.get(&id).filter(|j| kind_ok(&j.kind)).ok_or_else(|| {
            ApiError::v3(
                404,
                format!("contacts:{what}NotFound"),
                format!("No {what} with id '{id}'"),
            )
        })?;
        let (status, result) = match job.status {
            JobStatus::Pending => ("NotFinished", None),
            JobStatus::Failed => ("Failed", None),
            JobStatus::Finished => ("Finished", job.result.as_ref()),
        };
        Ok(json_response(
            StatusCode::OK,
            &JobStatusOut {
                id_key,
                id: &job.id,
                status,
                result,
            },
        ))
    })
}

pub(crate) fn import_status(ctx: &mut Ctx) -> Result<Response, ApiError> {
    job_status(ctx, |k| matches!(k, JobKind::ContactImport), "importId", "import")
}

pub(crate) fn bulk_delete(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let v = ctx.json()?;
    let Value::Array(items) = v else {
        return Err(ApiError::v3(
            400,
            "contacts:invalidDelete",
            "The body must be an array of identifier objects",
        ));
    };
    if items.is_empty() || items.len() > 5000 {
        return Err(ApiError::v3(
            400,
            "contacts:invalidDelete",
            "Between 1 and 5000 contacts can be deleted per request",
        )
        .detail("body", format!("{} items", items.len())));
    }
    let (at, fail) = ctx.job_timing();
    let id =
        ctx.account(|a, ids| Ok(a.add_job(ids, JobKind::ContactDelete, Payload::ContactDelete { items }, at, fail)))?;
    Ok(json_response(StatusCode::ACCEPTED, &json!({ "deleteId": id })))
}

pub(crate) fn delete_status(ctx: &mut Ctx) -> Result<Response, ApiError> {
    job_status(ctx, |k| matches!(k, JobKind::ContactDelete), "deleteId", "delete")
}
