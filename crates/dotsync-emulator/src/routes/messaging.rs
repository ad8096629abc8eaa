//! Programs and enrolments, campaigns and sends, transactional e-mail, SMS (v2 and CPaaS).

use super::Ctx;
use crate::error::{ApiError, empty_response, json_response, text_response};
use crate::state::{Account, CampaignSend, Enrolment, JobKind, Payload, SentMessage};
use crate::util::{self, as_id, as_id_list, get_ci, lock, v2_paging, valid_email};
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

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

// ------------------------------------------------------------------------------------------
// Programs & enrolments
// ------------------------------------------------------------------------------------------

pub(crate) fn programs_list(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let (select, skip) = paging(ctx)?;
    ctx.account(|a, _| {
        let page: Vec<_> = a.programs.values().skip(skip).take(select).collect();
        Ok(json_response(StatusCode::OK, &page))
    })
}

fn program_not_found() -> ApiError {
    ApiError::v2c(404, "Program not found.", "ERROR_PROGRAM_NOT_FOUND")
}

pub(crate) fn program_get(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let id: u64 = ctx
        .param(0)
        .parse()
        .map_err(|_| param_invalid(&format!("'{}' is not a valid program id.", ctx.param(0))))?;
    ctx.account(|a, _| {
        let p = a.programs.get(&id).ok_or_else(program_not_found)?;
        Ok(json_response(StatusCode::OK, p))
    })
}

fn enrolment_json(e: &Enrolment) -> Value {
    json!({"id": e.id, "programId": e.program_id, "status": e.status, "dateCreated": e.date_created,
           "contacts": e.contacts, "addressBooks": e.address_books})
}

pub(crate) fn enrol(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let body = body_object(ctx)?;
    let program_id = get_ci(&body, "programId")
        .and_then(as_id)
        .ok_or_else(|| param_invalid("programId must be a numeric program id."))?;
    let contacts = as_id_list(get_ci(&body, "contacts"))
        .map_err(|b| param_invalid(&format!("contacts: {b} is not a numeric contact id.")))?;
    let books = as_id_list(get_ci(&body, "addressBooks"))
        .map_err(|b| param_invalid(&format!("addressBooks: {b} is not a numeric address book id.")))?;
    if contacts.is_empty() && books.is_empty() {
        return Err(ApiError::v2c(
            400,
            "No contacts or address books specified.",
            "ERROR_CONTACTS_ARE_NOT_SPECIFIED",
        ));
    }
    let limits = lock(&ctx.app.limits).clone();
    let (at, fail) = ctx.job_timing();
    let app = ctx.app.clone();
    let now = ctx.now;
    ctx.account(|a, ids| {
        let p = a.programs.get(&program_id).ok_or_else(program_not_found)?;
        if p.status != "Active" {
            return Err(ApiError::v2c(
                400,
                &format!("Program is not active (status {}).", p.status),
                "ERROR_PROGRAM_NOT_ACTIVE",
            ));
        }
        if !lock(&app.limiter).enrolment(&limits, a.id, now) {
            return Err(ApiError::v2c(
                400,
                &format!(
                    "The enrolment allowance of {} calls per hour has been used.",
                    limits.enrolments_per_hour
                ),
                "ERROR_ENROLMENT_ALLOWANCE_EXCEEDED",
            ));
        }
        let e = Enrolment {
            id: new_id(),
            program_id,
            status: "Processing".into(),
            date_created: util::iso(util::now_ms()),
            contacts,
            address_books: books,
            enrolled: Vec::new(),
            faults: Vec::new(),
        };
        let out = enrolment_json(&e);
        a.add_job(
            ids,
            JobKind::Enrolment,
            Payload::Enrolment {
                enrolment_id: e.id.clone(),
            },
            at,
            fail,
        );
        a.enrolments.push(e);
        Ok(json_response(StatusCode::CREATED, &out))
    })
}

pub(crate) fn enrolment_get(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let key = ctx.param(0).to_string();
    if key.eq_ignore_ascii_case("processing") || key.eq_ignore_ascii_case("finished") {
        let (select, skip) = paging(ctx)?;
        return ctx.account(|a, _| {
            let page: Vec<Value> = a
                .enrolments
                .iter()
                .filter(|e| e.status.eq_ignore_ascii_case(&key))
                .skip(skip)
                .take(select)
                .map(enrolment_json)
                .collect();
            Ok(json_response(StatusCode::OK, &page))
        });
    }
    ctx.account(|a, _| {
        let e = a
            .enrolments
            .iter()
            .find(|e| e.id.eq_ignore_ascii_case(&key))
            .ok_or_else(|| ApiError::v2c(404, "Enrolment not found.", "ERROR_ENROLMENT_NOT_FOUND"))?;
        Ok(json_response(StatusCode::OK, &enrolment_json(e)))
    })
}

pub(crate) fn enrolment_faults(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let key = ctx.param(0).to_string();
    ctx.account(|a, _| {
        let e = a
            .enrolments
            .iter()
            .find(|e| e.id.eq_ignore_ascii_case(&key))
            .ok_or_else(|| ApiError::v2c(404, "Enrolment not found.", "ERROR_ENROLMENT_NOT_FOUND"))?;
        if e.status == "Processing" {
            return Err(ApiError::v2c(
                400,
                "The enrolment is still processing.",
                "ERROR_ENROLMENT_IS_PROCESSING",
            ));
        }
        let mut csv = String::from("ContactId,Reason\n");
        for (id, reason) in &e.faults {
            csv.push_str(&format!("{id},{}\n", util::csv_field(reason)));
        }
        Ok(text_response(StatusCode::OK, "text/csv", csv))
    })
}

// ------------------------------------------------------------------------------------------
// Campaigns
// ------------------------------------------------------------------------------------------

pub(crate) fn campaigns_list(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let (select, skip) = paging(ctx)?;
    ctx.account(|a, _| {
        let page: Vec<Value> = a
            .campaigns
            .values()
            .skip(skip)
            .take(select)
            .map(|c| json!({"id": c.id, "name": c.name, "subject": c.subject, "fromName": c.from_name, "status": "Unsent"}))
            .collect();
        Ok(json_response(StatusCode::OK, &page))
    })
}

fn campaign_not_found() -> ApiError {
    ApiError::v2c(404, "Campaign not found.", "ERROR_CAMPAIGN_NOT_FOUND")
}

pub(crate) fn campaign_get(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let id: u64 = ctx
        .param(0)
        .parse()
        .map_err(|_| param_invalid(&format!("'{}' is not a valid campaign id.", ctx.param(0))))?;
    ctx.account(|a, _| {
        let c = a.campaigns.get(&id).ok_or_else(campaign_not_found)?;
        Ok(json_response(StatusCode::OK, c))
    })
}

fn send_invalid(what: &str) -> ApiError {
    ApiError::v2c(400, what, "ERROR_CAMPAIGN_SEND_INVALID")
}

fn check_split(v: &Value) -> Result<(), ApiError> {
    let metric = get_ci(v, "testMetric").and_then(Value::as_str).unwrap_or("");
    if !["opens", "clicks", "roi"].contains(&metric.to_ascii_lowercase().as_str()) {
        return Err(send_invalid(
            "splitTestOptions.testMetric must be Opens, Clicks or ROI.",
        ));
    }
    let pct = get_ci(v, "testPercentage").and_then(as_id).unwrap_or(0);
    if !(1..=100).contains(&pct) {
        return Err(send_invalid("splitTestOptions.testPercentage must be 1-100."));
    }
    if get_ci(v, "testPeriodHours").and_then(as_id).unwrap_or(0) < 1 {
        return Err(send_invalid("splitTestOptions.testPeriodHours must be at least 1."));
    }
    Ok(())
}

fn recipients(a: &Account, contacts: &[u64], books: &[u64]) -> Result<Vec<String>, ApiError> {
    let mut ids = BTreeSet::new();
    for c in contacts {
        if !a.contacts.contains_key(c) {
            return Err(ApiError::v2c(
                404,
                &format!("Contact {c} not found."),
                "ERROR_CONTACT_NOT_FOUND",
            ));
        }
        ids.insert(*c);
    }
    for b in books {
        let book = a.lists.get(b).ok_or_else(|| {
            ApiError::v2c(
                404,
                &format!("Address book {b} not found."),
                "ERROR_ADDRESSBOOK_NOT_FOUND",
            )
        })?;
        ids.extend(book.members.iter().copied());
    }
    Ok(ids
        .iter()
        .filter_map(|id| a.contacts.get(id))
        .filter(|c| c.email_status == "subscribed")
        .filter_map(|c| c.email.clone())
        .collect())
}

fn send_campaign(ctx: &mut Ctx, optimised: bool) -> Result<Response, ApiError> {
    let body = body_object(ctx)?;
    let campaign_id = get_ci(&body, "campaignId")
        .and_then(as_id)
        .ok_or_else(|| send_invalid("campaignId must be a numeric campaign id."))?;
    let contacts = as_id_list(get_ci(&body, "contactIds"))
        .map_err(|b| param_invalid(&format!("contactIds: {b} is not a numeric contact id.")))?;
    let books = as_id_list(get_ci(&body, "addressBookIds"))
        .map_err(|b| param_invalid(&format!("addressBookIds: {b} is not a numeric id.")))?;
    let send_date = get_ci(&body, "sendDate").filter(|v| !v.is_null());
    let split = get_ci(&body, "splitTestOptions").filter(|v| !v.is_null()).cloned();
    if optimised && (send_date.is_some() || split.is_some()) {
        return Err(send_invalid(
            "Send-time optimised sends take no sendDate or splitTestOptions.",
        ));
    }
    if let Some(s) = &split {
        check_split(s)?;
    }
    let now = util::now_ms();
    let (send_date, scheduled) = match send_date {
        None => (util::iso(now), false),
        Some(v) => {
            let d = v
                .as_str()
                .and_then(util::parse_date)
                .ok_or_else(|| param_invalid(&format!("sendDate {v} is not a valid date.")))?;
            let future = chrono::DateTime::parse_from_rfc3339(&d)
                .map(|t| t.timestamp_millis() > now)
                .unwrap_or(false);
            (d, future)
        }
    };
    if contacts.is_empty() && books.is_empty() {
        return Err(ApiError::v2c(
            400,
            "No contacts or address books specified.",
            "ERROR_CONTACTS_ARE_NOT_SPECIFIED",
        ));
    }
    let user = ctx.user.clone();
    ctx.account(|a, _| {
        let campaign = a.campaigns.get(&campaign_id).cloned().ok_or_else(campaign_not_found)?;
        let to = recipients(a, &contacts, &books)?;
        let status = if optimised || scheduled { "Scheduled" } else { "Sent" };
        let send = CampaignSend {
            id: new_id(),
            campaign_id,
            contact_ids: contacts,
            address_book_ids: books,
            send_date: send_date.clone(),
            status: status.into(),
            split_test_options: split,
            send_time_optimised: optimised,
        };
        a.outbox.push(SentMessage {
            id: new_id(),
            account: user,
            kind: if optimised {
                "campaignSendTimeOptimised"
            } else {
                "campaign"
            }
            .into(),
            to,
            from: Some(campaign.from_name.clone()),
            subject: Some(campaign.subject.clone()),
            html: Some(campaign.html_content.clone()),
            text: Some(campaign.plain_text_content.clone()),
            campaign_id: Some(campaign_id),
            send_id: Some(send.id.clone()),
            send_date,
            status: status.into(),
            ..SentMessage::default()
        });
        let out = send_json(&send);
        a.campaign_sends.push(send);
        Ok(json_response(StatusCode::ACCEPTED, &out))
    })
}

fn send_json(s: &CampaignSend) -> Value {
    let mut v = json!({"id": s.id, "campaignId": s.campaign_id, "contactIds": s.contact_ids, "addressBookIds": s.address_book_ids,
                       "status": s.status});
    if !s.send_time_optimised {
        v["sendDate"] = json!(s.send_date);
    }
    if let Some(o) = &s.split_test_options {
        v["splitTestOptions"] = o.clone();
    }
    v
}

pub(crate) fn campaign_send(ctx: &mut Ctx) -> Result<Response, ApiError> {
    send_campaign(ctx, false)
}

pub(crate) fn campaign_send_sto(ctx: &mut Ctx) -> Result<Response, ApiError> {
    send_campaign(ctx, true)
}

pub(crate) fn campaign_send_get(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let id = ctx.param(0).to_string();
    ctx.account(|a, _| {
        let s = a
            .campaign_sends
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(&id))
            .ok_or_else(|| ApiError::v2c(404, "Campaign send not found.", "ERROR_CAMPAIGN_SEND_NOT_FOUND"))?;
        Ok(json_response(StatusCode::OK, &send_json(s)))
    })
}

// ------------------------------------------------------------------------------------------
// Transactional e-mail
// ------------------------------------------------------------------------------------------

fn addresses(v: &Value, key: &str, required: bool) -> Result<Vec<String>, ApiError> {
    let list = match get_ci(v, key) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|x| {
                x.as_str()
                    .map(|s| s.trim().to_string())
                    .ok_or_else(|| param_invalid(&format!("{key}: {x} is not a string.")))
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(Value::String(s)) => vec![s.trim().to_string()],
        Some(other) => {
            return Err(param_invalid(&format!(
                "{key} must be an array of e-mail addresses, got {other}."
            )));
        }
    };
    if required && list.is_empty() {
        return Err(param_invalid(&format!("{key} must contain at least one address.")));
    }
    if list.len() > 100 {
        return Err(param_invalid(&format!(
            "{key} has {} addresses; at most 100 are allowed.",
            list.len()
        )));
    }
    if let Some(bad) = list.iter().find(|e| !valid_email(e)) {
        return Err(param_invalid(&format!("{key}: '{bad}' is not a valid email address.")));
    }
    Ok(list)
}

const MAX_ATTACHMENTS: usize = 15 * 1024 * 1024;

fn parse_email(v: &Value, user: &str) -> Result<SentMessage, ApiError> {
    if !v.is_object() {
        return Err(param_invalid("Each e-mail must be a JSON object."));
    }
    let to = addresses(v, "toAddresses", true)?;
    let cc = addresses(v, "ccAddresses", false)?;
    let bcc = addresses(v, "bccAddresses", false)?;
    let s = |k: &str| {
        get_ci(v, k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .filter(|s| !s.trim().is_empty())
    };
    let subject = s("subject").ok_or_else(|| param_invalid("subject is required."))?;
    let html = s("htmlContent");
    let text = s("plainTextContent");
    if html.is_none() && text.is_none() {
        return Err(param_invalid("htmlContent or plainTextContent is required."));
    }
    let metadata = s("metadata");
    if metadata.as_ref().is_some_and(|m| m.chars().count() > 1500) {
        return Err(param_invalid("metadata must be at most 1500 characters."));
    }
    let mut total = 0usize;
    if let Some(Value::Array(atts)) = get_ci(v, "attachments") {
        for att in atts {
            let content = get_ci(att, "content").and_then(Value::as_str).unwrap_or("");
            let name = get_ci(att, "fileName").and_then(Value::as_str).unwrap_or("");
            if name.is_empty() {
                return Err(param_invalid("attachments[].fileName is required."));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(content)
                .map_err(|_| param_invalid(&format!("attachment '{name}' content is not valid base64.")))?;
            total += bytes.len();
        }
    }
    if total > MAX_ATTACHMENTS {
        return Err(param_invalid("attachments exceed 15 MB."));
    }
    Ok(SentMessage {
        id: new_id(),
        account: user.to_string(),
        kind: "email".into(),
        to,
        cc,
        bcc,
        from: s("fromAddress"),
        subject: Some(subject),
        html,
        text,
        send_date: util::iso(util::now_ms()),
        status: "Sent".into(),
        metadata,
        ..SentMessage::default()
    })
}

pub(crate) fn email(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let body = ctx.json()?;
    let msg = parse_email(&body, &ctx.user)?;
    ctx.account(|a, _| {
        a.outbox.push(msg);
        Ok(empty_response(StatusCode::OK))
    })
}

/// The items of a batch body, each read by `read`: all or nothing, the first bad item's error
/// names its index.
fn batch<T>(body: Value, what: &str, read: impl Fn(&Value) -> Result<T, ApiError>) -> Result<Vec<T>, ApiError> {
    let Value::Array(items) = body else {
        return Err(param_invalid(&format!(
            "The batch body must be a JSON array of {what}."
        )));
    };
    if items.is_empty() {
        return Err(param_invalid("The batch is empty."));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            read(v).map_err(|e| {
                let m = e.body.get("message").and_then(Value::as_str).unwrap_or("").to_string();
                ApiError::v2(e.status.as_u16(), format!("Item {i}: {m}"))
            })
        })
        .collect()
}

pub(crate) fn email_batch(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let msgs = batch(ctx.json()?, "e-mails", |v| parse_email(v, &ctx.user))?;
    ctx.account(|a, _| {
        a.outbox.extend(msgs);
        Ok(empty_response(StatusCode::OK))
    })
}

/// A triggered-campaign send as requested: recipients, campaign id, personalisation values.
struct TriggeredSend {
    to: Vec<String>,
    campaign_id: u64,
    personalization: Option<String>,
}

fn parse_triggered(body: &Value) -> Result<TriggeredSend, ApiError> {
    if !body.is_object() {
        return Err(param_invalid("The request body must be a JSON object."));
    }
    Ok(TriggeredSend {
        to: addresses(body, "toAddresses", true)?,
        campaign_id: get_ci(body, "campaignId")
            .and_then(as_id)
            .ok_or_else(|| param_invalid("campaignId must be a numeric campaign id."))?,
        personalization: get_ci(body, "personalizationValues").map(Value::to_string),
    })
}

/// Records `send` in the outbox; its campaign must exist.
fn send_triggered(a: &mut Account, user: &str, send: TriggeredSend) -> Result<(), ApiError> {
    let c = a
        .campaigns
        .get(&send.campaign_id)
        .cloned()
        .ok_or_else(campaign_not_found)?;
    a.outbox.push(SentMessage {
        id: new_id(),
        account: user.to_string(),
        kind: "triggeredCampaign".into(),
        to: send.to,
        from: Some(c.from_name),
        subject: Some(c.subject),
        html: Some(c.html_content),
        text: Some(c.plain_text_content),
        campaign_id: Some(send.campaign_id),
        send_date: util::iso(util::now_ms()),
        status: "Sent".into(),
        metadata: send.personalization,
        ..SentMessage::default()
    });
    Ok(())
}

pub(crate) fn email_triggered(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let send = parse_triggered(&ctx.json()?)?;
    let user = ctx.user.clone();
    ctx.account(|a, _| {
        send_triggered(a, &user, send)?;
        Ok(empty_response(StatusCode::OK))
    })
}

/// `POST /v2/email/triggered-campaign/batch`: all or nothing, like `/v2/email/batch`.
pub(crate) fn email_triggered_batch(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let sends = batch(ctx.json()?, "triggered-campaign sends", parse_triggered)?;
    let user = ctx.user.clone();
    ctx.account(|a, _| {
        if let Some(i) = sends
            .iter()
            .position(|send| !a.campaigns.contains_key(&send.campaign_id))
        {
            return Err(ApiError::v2c(
                404,
                &format!("Item {i}: Campaign not found."),
                "ERROR_CAMPAIGN_NOT_FOUND",
            ));
        }
        for send in sends {
            send_triggered(a, &user, send)?;
        }
        Ok(empty_response(StatusCode::OK))
    })
}

// ------------------------------------------------------------------------------------------
// SMS
// ------------------------------------------------------------------------------------------

pub(crate) fn sms(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let number = util::normalize_mobile(ctx.param(0).trim()).ok_or_else(|| {
        param_invalid(&format!(
            "'{}' is not a valid international telephone number.",
            ctx.param(0)
        ))
    })?;
    let body = body_object(ctx)?;
    let message = get_ci(&body, "message")
        .and_then(Value::as_str)
        .filter(|m| !m.trim().is_empty())
        .ok_or_else(|| param_invalid("message is required."))?
        .to_string();
    let user = ctx.user.clone();
    ctx.account(|a, _| {
        a.outbox.push(SentMessage {
            id: new_id(),
            account: user,
            kind: "sms".into(),
            to: vec![number],
            parts: Some(util::sms_parts(&message)),
            text: Some(message),
            send_date: util::iso(util::now_ms()),
            status: "Sent".into(),
            ..SentMessage::default()
        });
        Ok(empty_response(StatusCode::NO_CONTENT))
    })
}

fn cpaas_bad(code: &str, item: &str, description: &str) -> ApiError {
    ApiError::v3(400, format!("cpaas:{code}"), "The message is not valid").detail(item, description)
}

pub(crate) fn cpaas(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let body = ctx.json()?;
    if !body.is_object() {
        return Err(cpaas_bad("invalidMessage", "body", "must be a JSON object"));
    }
    let phone = body
        .get("to")
        .and_then(|t| t.get("phoneNumber"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let number = util::normalize_mobile(phone.trim()).ok_or_else(|| {
        cpaas_bad(
            "invalidPhoneNumber",
            "to.phoneNumber",
            &format!("'{phone}' is not an E.164 number"),
        )
    })?;
    let text = body
        .get("body")
        .and_then(Value::as_str)
        .filter(|b| !b.is_empty())
        .ok_or_else(|| cpaas_bad("invalidBody", "body", "is required"))?;
    if let Some(rules) = body.get("rules").filter(|r| !r.is_null()) {
        let ok = rules
            .as_array()
            .is_some_and(|r| !r.is_empty() && r.iter().all(Value::is_string))
            && rules.as_array().is_some_and(|r| {
                r.iter()
                    .any(|x| x.as_str().is_some_and(|s| s.eq_ignore_ascii_case("sms")))
            });
        if !ok {
            return Err(cpaas_bad(
                "invalidRules",
                "rules",
                "must be a non-empty array of channel names including \"sms\"",
            ));
        }
    }
    let sms = body.get("channelOptions").and_then(|c| c.get("sms"));
    let from = sms
        .and_then(|s| s.get("from"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let allow_unicode = sms
        .and_then(|s| s.get("allowUnicode"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let gsm = util::is_gsm(text);
    let (status, reason) = if !gsm && !allow_unicode {
        (
            "Dropped",
            Some("message contains non-GSM characters and allowUnicode is false".to_string()),
        )
    } else {
        ("Sent", None)
    };
    let message_id = new_id();
    let msg = SentMessage {
        id: new_id(),
        account: ctx.user.clone(),
        kind: "cpaas".into(),
        to: vec![number],
        from,
        text: Some(text.to_string()),
        send_id: Some(message_id.clone()),
        send_date: util::iso(util::now_ms()),
        parts: Some(util::sms_parts(text)),
        status: status.into(),
        reason,
        ..SentMessage::default()
    };
    ctx.account(|a, _| {
        a.outbox.push(msg);
        Ok(json_response(StatusCode::ACCEPTED, &json!({"messageId": message_id})))
    })
}
