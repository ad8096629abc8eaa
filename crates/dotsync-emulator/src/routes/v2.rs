//! v2: account info, data fields, address books (lists), v2 contact imports, v2 contact lookup.

use super::Ctx;
use crate::error::{ApiError, empty_response, json_response, text_response};
use crate::state::{
    Account, AddressBook, Changes, DataField, FieldType, JobKind, JobStatus, Merge, Payload, ValueError, coerce,
    email_type, opt_in_type,
};
use crate::util::{self, as_id, get_ci, lock, v2_paging, valid_email};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use serde_json::{Value, json};
use std::collections::BTreeSet;

fn param_invalid(what: &str) -> ApiError {
    ApiError::v2c(400, what, "ERROR_PARAMETER_INVALID")
}

fn paging(ctx: &Ctx) -> Result<(usize, usize), ApiError> {
    v2_paging(&ctx.query).map_err(|p| {
        param_invalid(&format!(
            "The '{p}' parameter is not valid: 'select' must be 1-1000 and 'skip' a non-negative integer."
        ))
    })
}

fn body_object(ctx: &Ctx) -> Result<Value, ApiError> {
    let v = ctx.json()?;
    if !v.is_object() {
        return Err(param_invalid("The request body must be a JSON object."));
    }
    Ok(v)
}

pub(crate) fn account_info(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let (id, name, email, region, locale, scheme) = ctx.account(|a, _| {
        Ok((
            a.id,
            a.name.clone(),
            a.main_email.clone(),
            a.region,
            a.locale.clone(),
            a.rate_scheme.clone(),
        ))
    })?;
    let limits = lock(&ctx.app.limits).clone();
    let remaining = lock(&ctx.app.limiter).remaining(&limits, id, &scheme, ctx.now);
    let p = |n: &str, t: &str, v: String| json!({"name": n, "type": t, "value": v});
    Ok(json_response(
        StatusCode::OK,
        &json!({"id": id, "properties": [
            p("Name", "String", name),
            p("MainEmail", "String", email),
            p("ApiEndpoint", "String", ctx.app.region_url(region)),
            p("APILocale", "String", locale),
            p("ApiCallsRemaining", "Int32", remaining.to_string()),
        ]}),
    ))
}

// ------------------------------------------------------------------------------------------
// Data fields
// ------------------------------------------------------------------------------------------

pub(crate) fn fields_list(ctx: &mut Ctx) -> Result<Response, ApiError> {
    ctx.account(|a, _| Ok(json_response(StatusCode::OK, &a.data_fields)))
}

const MAX_FIELDS: usize = 1000;

pub(crate) fn field_create(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let body = body_object(ctx)?;
    let name = get_ci(&body, "name")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or("")
        .to_string();
    if name.is_empty() || name.len() > 50 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(ApiError::v2c(
            400,
            &format!("Data field name '{name}' is not valid."),
            "ERROR_DATAFIELD_INVALID",
        ));
    }
    let t = get_ci(&body, "type").and_then(Value::as_str).unwrap_or("");
    let field_type = FieldType::parse(t).ok_or_else(|| {
        ApiError::v2c(
            400,
            &format!("Data field type '{t}' is not valid (String, Numeric, Date, Boolean)."),
            "ERROR_DATAFIELD_INVALID",
        )
    })?;
    let visibility = match get_ci(&body, "visibility").and_then(Value::as_str) {
        None => "Private".to_string(),
        Some(v) if v.eq_ignore_ascii_case("private") => "Private".into(),
        Some(v) if v.eq_ignore_ascii_case("public") => "Public".into(),
        Some(v) => {
            return Err(param_invalid(&format!(
                "Visibility '{v}' is not valid (Private, Public)."
            )));
        }
    };
    let mut field = DataField {
        name: name.to_ascii_uppercase().into(),
        field_type,
        visibility,
        default_value: Value::Null,
    };
    if let Some(d) = get_ci(&body, "defaultValue") {
        field.default_value = coerce(&field, d)
            .map_err(|e| ApiError::v2c(400, e.text(), "ERROR_DATAFIELD_INVALID"))?
            .unwrap_or(Value::Null);
    }
    ctx.account(|a, _| {
        if a.field(&name).is_some() {
            return Err(ApiError::v2c(
                400,
                "Field already exists.",
                "ERROR_NON_UNIQUE_DATAFIELD",
            ));
        }
        if a.data_fields.len() >= MAX_FIELDS {
            return Err(ApiError::v2c(
                400,
                "Too many data fields.",
                "ERROR_DATAFIELD_LIMITEXCEEDED",
            ));
        }
        a.data_fields.push(field.clone());
        Ok(json_response(StatusCode::CREATED, &field))
    })
}

pub(crate) fn field_delete(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let name = ctx.param(0).to_string();
    ctx.account(|a, _| {
        let Some(pos) = a.data_fields.iter().position(|f| f.name.eq_ignore_ascii_case(&name)) else {
            return Err(ApiError::v2c(
                404,
                &format!("Data field '{name}' not found."),
                "ERROR_DATAFIELD_NOTFOUND",
            ));
        };
        let f = a.data_fields.remove(pos);
        for c in a.contacts.values_mut() {
            c.data_fields.remove(&f.name);
        }
        Ok(json_response(
            StatusCode::OK,
            &json!({"result": true, "dependencies": []}),
        ))
    })
}

// ------------------------------------------------------------------------------------------
// Address books
// ------------------------------------------------------------------------------------------

fn book_json(b: &AddressBook) -> Value {
    json!({"id": b.id, "name": b.name, "visibility": b.visibility, "contacts": b.members.len()})
}

fn book_id(ctx: &Ctx) -> Result<u64, ApiError> {
    ctx.param(0)
        .parse()
        .map_err(|_| param_invalid(&format!("'{}' is not a valid address book id.", ctx.param(0))))
}

fn book_not_found() -> ApiError {
    ApiError::v2c(404, "", "ERROR_ADDRESSBOOK_NOT_FOUND")
}

fn list_books(ctx: &mut Ctx, visibility: Option<&str>) -> Result<Response, ApiError> {
    let (select, skip) = paging(ctx)?;
    ctx.account(|a, _| {
        let page: Vec<Value> = a
            .lists
            .values()
            .filter(|b| visibility.is_none_or(|v| b.visibility == v))
            .skip(skip)
            .take(select)
            .map(book_json)
            .collect();
        Ok(json_response(StatusCode::OK, &page))
    })
}

pub(crate) fn books_list(ctx: &mut Ctx) -> Result<Response, ApiError> {
    list_books(ctx, None)
}

pub(crate) fn books_private(ctx: &mut Ctx) -> Result<Response, ApiError> {
    list_books(ctx, Some("Private"))
}

pub(crate) fn books_public(ctx: &mut Ctx) -> Result<Response, ApiError> {
    list_books(ctx, Some("Public"))
}

pub(crate) fn book_get(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let id = book_id(ctx)?;
    ctx.account(|a, _| {
        let b = a.lists.get(&id).ok_or_else(book_not_found)?;
        Ok(json_response(StatusCode::OK, &book_json(b)))
    })
}

const RESERVED: [&str; 2] = ["test", "all contacts"];
const MAX_LISTS: usize = 10_000;

fn book_fields(body: &Value) -> Result<(String, Option<String>), ApiError> {
    let name = get_ci(body, "name")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or("")
        .to_string();
    if name.is_empty() || name.chars().count() > 255 {
        return Err(param_invalid("The address book name must be 1-255 characters."));
    }
    let vis = match get_ci(body, "visibility").and_then(Value::as_str) {
        None => None,
        Some(v) if v.eq_ignore_ascii_case("private") => Some("Private".to_string()),
        Some(v) if v.eq_ignore_ascii_case("public") => Some("Public".to_string()),
        Some(v) => {
            return Err(param_invalid(&format!(
                "Visibility '{v}' is not valid (Private, Public)."
            )));
        }
    };
    Ok((name, vis))
}

fn name_taken(a: &Account, name: &str, except: Option<u64>) -> bool {
    RESERVED.contains(&name.to_ascii_lowercase().as_str())
        || a.lists
            .values()
            .any(|b| b.name.eq_ignore_ascii_case(name) && Some(b.id) != except)
}

pub(crate) fn book_create(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let body = body_object(ctx)?;
    let (name, vis) = book_fields(&body)?;
    ctx.account(|a, ids| {
        if name_taken(a, &name, None) {
            return Err(ApiError::v2c(
                400,
                "An address book with this name already exists or the name is reserved.",
                "ERROR_ADDRESSBOOK_DUPLICATE",
            ));
        }
        if a.lists.len() >= MAX_LISTS {
            return Err(ApiError::v2c(400, "", "ERROR_ADDRESSBOOK_LIMITEXCEEDED"));
        }
        ids.list += 1;
        let b = AddressBook {
            id: ids.list,
            name,
            visibility: vis.unwrap_or_else(|| "Private".into()),
            members: BTreeSet::new(),
        };
        let out = book_json(&b);
        a.lists.insert(b.id, b);
        Ok(json_response(StatusCode::CREATED, &out))
    })
}

pub(crate) fn book_update(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let id = book_id(ctx)?;
    let body = body_object(ctx)?;
    let (name, vis) = book_fields(&body)?;
    ctx.account(|a, _| {
        if !a.lists.contains_key(&id) {
            return Err(book_not_found());
        }
        if name_taken(a, &name, Some(id)) {
            return Err(ApiError::v2c(
                400,
                "An address book with this name already exists or the name is reserved.",
                "ERROR_ADDRESSBOOK_DUPLICATE",
            ));
        }
        let b = a.lists.get_mut(&id).ok_or_else(book_not_found)?;
        b.name = name;
        if let Some(v) = vis {
            b.visibility = v;
        }
        Ok(json_response(StatusCode::OK, &book_json(b)))
    })
}

pub(crate) fn book_delete(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let id = book_id(ctx)?;
    ctx.account(|a, _| {
        let b = a.lists.remove(&id).ok_or_else(book_not_found)?;
        for m in b.members {
            if let Some(c) = a.contacts.get_mut(&m) {
                c.lists.remove(&id);
            }
        }
        Ok(empty_response(StatusCode::OK))
    })
}

pub(crate) fn book_contacts(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let id = book_id(ctx)?;
    let (select, skip) = paging(ctx)?;
    let full = ctx
        .query
        .get("withFullData")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    ctx.account(|a, _| {
        let b = a.lists.get(&id).ok_or_else(book_not_found)?;
        let page: Vec<Value> = b
            .members
            .iter()
            .skip(skip)
            .take(select)
            .filter_map(|m| a.contacts.get(m))
            .map(|c| a.contact_v2(c, full))
            .collect();
        Ok(json_response(StatusCode::OK, &page))
    })
}

pub(crate) fn book_add_contact(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let id = book_id(ctx)?;
    let body = body_object(ctx)?;
    let email = get_ci(&body, "email")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or("")
        .to_string();
    if !valid_email(&email) {
        return Err(param_invalid("Email is not a valid email address."));
    }
    let mut ch = Changes {
        email: Some(email.clone()),
        ..Changes::default()
    };
    if let Some(t) = get_ci(&body, "emailType").filter(|v| !v.is_null()) {
        ch.email_type = Some(
            t.as_str()
                .and_then(email_type)
                .ok_or_else(|| param_invalid(&format!("EmailType {t} is not valid.")))?,
        );
    }
    if let Some(t) = get_ci(&body, "optInType").filter(|v| !v.is_null()) {
        ch.opt_in = Some(
            t.as_str()
                .and_then(opt_in_type)
                .ok_or_else(|| param_invalid(&format!("OptInType {t} is not valid.")))?,
        );
    }
    ctx.account(|a, ids| {
        if !a.lists.contains_key(&id) {
            return Err(book_not_found());
        }
        match get_ci(&body, "dataFields") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for item in items {
                    let key = get_ci(item, "key").and_then(Value::as_str).unwrap_or("");
                    let f = a.field(key).ok_or_else(|| {
                        ApiError::v2c(
                            400,
                            &format!("Data field '{key}' does not exist."),
                            "ERROR_DATAFIELD_NOTFOUND",
                        )
                    })?;
                    let v = coerce(f, get_ci(item, "value").unwrap_or(&Value::Null)).map_err(|e| match e {
                        ValueError::Overflow(t) => ApiError::v2c(400, &t, "ERROR_DATAFIELD_VALUE_OVERFLOW"),
                        ValueError::Invalid(t) => ApiError::v2c(400, &t, "ERROR_DATAFIELD_INVALID"),
                    })?;
                    ch.fields.push((f.name.clone(), v));
                }
            }
            Some(_) => return Err(param_invalid("DataFields must be an array of {key, value}.")),
        }
        let target = a.by_email.get(&email.to_ascii_lowercase()).copied();
        if let Some(t) = target
            && a.contacts.get(&t).is_some_and(|c| c.email_status == "suppressed")
        {
            return Err(ApiError::v2c(400, "Contact is suppressed.", "ERROR_CONTACT_SUPPRESSED"));
        }
        ch.lists.push(id);
        let (cid, _) = a
            .apply(ids, target, ch, Merge::Overwrite, false, util::now_ms())
            .map_err(|f| ApiError::v2c(400, &f.description, "ERROR_CONTACT_INVALID"))?;
        let c = a
            .contacts
            .get(&cid)
            .ok_or_else(|| ApiError::generic(ctx.api_gen, 500))?;
        Ok(json_response(StatusCode::OK, &a.contact_v2(c, true)))
    })
}

pub(crate) fn book_remove_contact(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let id = book_id(ctx)?;
    let cid: u64 = ctx
        .param(1)
        .parse()
        .map_err(|_| param_invalid(&format!("'{}' is not a valid contact id.", ctx.param(1))))?;
    ctx.account(|a, _| {
        if !a.lists.contains_key(&id) {
            return Err(book_not_found());
        }
        if !a.remove_from_list(id, cid) {
            return Err(ApiError::v2c(
                404,
                "Contact is not a member of this address book.",
                "ERROR_CONTACT_NOT_FOUND",
            ));
        }
        Ok(empty_response(StatusCode::NO_CONTENT))
    })
}

pub(crate) fn book_bulk_remove(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let id = book_id(ctx)?;
    let v = ctx.json()?;
    let ids_list = match &v {
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|x| as_id(x).ok_or_else(|| param_invalid(&format!("{x} is not a valid contact id."))))
            .collect::<Result<Vec<u64>, _>>()?,
        _ => {
            return Err(ApiError::v2c(
                400,
                "A JSON array of contact ids is required.",
                "ERROR_CONTACTS_ARE_NOT_SPECIFIED",
            ));
        }
    };
    ctx.account(|a, _| {
        if !a.lists.contains_key(&id) {
            return Err(book_not_found());
        }
        for cid in ids_list {
            a.remove_from_list(id, cid);
        }
        Ok(json_response(
            StatusCode::ACCEPTED,
            &json!({"id": uuid::Uuid::new_v4().to_string(), "status": "Started"}),
        ))
    })
}

fn remove_all(a: &mut Account, id: u64) -> Result<(), ApiError> {
    let members = std::mem::take(&mut a.lists.get_mut(&id).ok_or_else(book_not_found)?.members);
    for m in members {
        if let Some(c) = a.contacts.get_mut(&m) {
            c.lists.remove(&id);
        }
    }
    Ok(())
}

pub(crate) fn book_delete_all(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let id = book_id(ctx)?;
    ctx.account(|a, _| {
        remove_all(a, id)?;
        Ok(json_response(
            StatusCode::ACCEPTED,
            &json!({"id": uuid::Uuid::new_v4().to_string(), "status": "Started"}),
        ))
    })
}

pub(crate) fn book_remove_all(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let id = book_id(ctx)?;
    ctx.account(|a, _| {
        remove_all(a, id)?;
        Ok(empty_response(StatusCode::NO_CONTENT))
    })
}

// ------------------------------------------------------------------------------------------
// v2 contact imports (CSV)
// ------------------------------------------------------------------------------------------

fn file_invalid() -> ApiError {
    ApiError::v2(400, "file must be valid")
}

/// Extracts the CSV text from a JSON `{fileName, data}` body, a multipart upload or a raw CSV body.
fn csv_from_body(ctx: &Ctx) -> Result<String, ApiError> {
    let ct = ctx.content_type.as_str();
    if ct.starts_with("multipart/form-data") {
        let boundary = ct
            .split(';')
            .filter_map(|p| p.trim().strip_prefix("boundary="))
            .next()
            .map(|b| b.trim_matches('"').to_string())
            .ok_or_else(file_invalid)?;
        let text = String::from_utf8_lossy(&ctx.body);
        for part in text.split(&format!("--{boundary}")) {
            let Some((head, content)) = part.split_once("\r\n\r\n").or_else(|| part.split_once("\n\n")) else {
                continue;
            };
            let disposition = head
                .lines()
                .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"));
            if disposition.is_some_and(|d| d.contains("filename=")) {
                return Ok(content
                    .strip_suffix("\r\n")
                    .or_else(|| content.strip_suffix('\n'))
                    .unwrap_or(content)
                    .to_string());
            }
        }
        return Err(file_invalid());
    }
    if ct.starts_with("text/csv") || ct.starts_with("text/plain") {
        return Ok(String::from_utf8_lossy(&ctx.body).into_owned());
    }
    let v = ctx.json()?;
    let name = get_ci(&v, "fileName").and_then(Value::as_str).unwrap_or("");
    let data = get_ci(&v, "data").and_then(Value::as_str).ok_or_else(file_invalid)?;
    if name.is_empty() {
        return Err(file_invalid());
    }
    if !name.to_ascii_lowercase().ends_with(".csv") {
        return Err(ApiError::v2c(
            400,
            "Only CSV files are supported by the emulator.",
            "ERROR_CONTENT_TYPE_IS_NOT_SUPPORTED",
        ));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|_| file_invalid())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn start_v2_import(ctx: &mut Ctx, book: Option<u64>, merge: Option<&str>) -> Result<Response, ApiError> {
    let merge = match merge {
        None => Merge::Overwrite,
        Some(m) => Merge::from_v2(m).ok_or_else(|| {
            param_invalid(&format!("Merge option '{m}' is not valid (Overwrite, OnlyOverwriteIfNotEmpty, OnlyOverwriteIfContactDataNotPopulated)."))
        })?,
    };
    let csv = csv_from_body(ctx)?;
    let row_failures = lock(&ctx.app.faults).row_failures();
    let limits = lock(&ctx.app.limits).clone();
    let (at, fail) = ctx.job_timing();
    let id = ctx.account(|a, ids| {
        if let Some(b) = book
            && !a.lists.contains_key(&b)
        {
            return Err(book_not_found());
        }
        if limits.enabled && a.active_jobs(false) >= limits.max_active_contact_imports {
            return Err(too_many_active_imports());
        }
        Ok(a.add_job(
            ids,
            JobKind::V2Import,
            Payload::V2Import {
                book,
                merge,
                csv,
                row_failures,
            },
            at,
            fail,
        ))
    })?;
    Ok(import_started(&id))
}

/// The v2 answer to an accepted import: 202 with its id, not finished yet.
pub(super) fn import_started(id: &str) -> Response {
    json_response(StatusCode::ACCEPTED, &json!({"id": id, "status": "NotFinished"}))
}

pub(crate) fn import_to_book(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let book = book_id(ctx)?;
    let merge = ctx.params.get(1).cloned();
    start_v2_import(ctx, Some(book), merge.as_deref())
}

pub(crate) fn import_to_account(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let merge = ctx.params.first().cloned();
    start_v2_import(ctx, None, merge.as_deref())
}

/// The v2 answer to an import beyond the account's cap of active imports.
pub(super) fn too_many_active_imports() -> ApiError {
    ApiError::v2c(400, "Too many active imports.", "ERROR_IMPORT_TOOMANYACTIVEIMPORTS")
}

/// The import job `{id}` of `kind`, with its v2 status, for `f`.
pub(super) fn v2_job<R>(
    ctx: &Ctx,
    kind: JobKind,
    f: impl FnOnce(&crate::state::Job, &str) -> Result<R, ApiError>,
) -> Result<R, ApiError> {
    let id = ctx.param(0).to_string();
    ctx.account(|a, _| {
        let job = a
            .jobs
            .get(&id)
            .filter(|j| j.kind == kind)
            .ok_or_else(|| ApiError::v2c(404, "Import not found.", "ERROR_IMPORT_NOT_FOUND"))?;
        f(job, &v2_status(job))
    })
}

fn v2_status(job: &crate::state::Job) -> String {
    match job.status {
        JobStatus::Pending => "NotFinished".into(),
        JobStatus::Failed => "Failed".into(),
        JobStatus::Finished => job
            .result
            .as_ref()
            .and_then(|r| r.as_value())
            .and_then(|r| r.get("status"))
            .and_then(Value::as_str)
            .unwrap_or("Finished")
            .to_string(),
    }
}

pub(crate) fn import_status(ctx: &mut Ctx) -> Result<Response, ApiError> {
    v2_job(ctx, JobKind::V2Import, |job, status| {
        Ok(json_response(StatusCode::OK, &json!({"id": job.id, "status": status})))
    })
}

pub(super) fn report_not_ready() -> ApiError {
    ApiError::v2c(
        404,
        "Import is not processed yet or completed with error.",
        "ERROR_IMPORT_REPORT_NOT_FOUND",
    )
}

pub(crate) fn import_report(ctx: &mut Ctx) -> Result<Response, ApiError> {
    v2_job(ctx, JobKind::V2Import, |job, status| {
        if status != "Finished" {
            return Err(report_not_ready());
        }
        Ok(json_response(
            StatusCode::OK,
            job.result.as_ref().and_then(|r| r.as_value()).unwrap_or(&Value::Null),
        ))
    })
}

pub(crate) fn import_report_faults(ctx: &mut Ctx) -> Result<Response, ApiError> {
    v2_job(ctx, JobKind::V2Import, |job, status| {
        if status != "Finished" {
            return Err(report_not_ready());
        }
        Ok(text_response(
            StatusCode::OK,
            "text/csv",
            job.faults_csv.clone().unwrap_or_default(),
        ))
    })
}

/// A contact by the `{email-or-id}` of a v2 path.
pub(super) fn find_contact_v2(a: &Account, key: &str) -> Option<u64> {
    match key.parse::<u64>() {
        Ok(id) => a.contacts.contains_key(&id).then_some(id),
        Err(_) => a.by_email.get(&key.to_ascii_lowercase()).copied(),
    }
}

pub(crate) fn contact_get(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let key = ctx.param(0).to_string();
    ctx.account(|a, _| {
        let c = find_contact_v2(a, &key)
            .and_then(|id| a.contacts.get(&id))
            .ok_or_else(|| ApiError::v2c(404, "Contact not found.", "ERROR_CONTACT_NOT_FOUND"))?;
        Ok(json_response(StatusCode::OK, &a.contact_v2(c, true)))
    })
}
