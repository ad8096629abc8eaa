//! Routing: one fallback handler matches the real Dotdigital paths (with or without a `/rN`
//! region prefix and trailing slash), applies faults, auth, region and rate limits, then calls
//! the endpoint handler.

mod contacts;
mod insight;
mod messaging;
mod transactional;
mod v2;

use crate::Region;
use crate::error::{ApiError, Gen, empty_response};
use crate::faults::ImportFault;
use crate::limits::Tier;
use crate::server::{App, ConnCtl};
use crate::state::{Account, Ids, RequestRecord, World};
use crate::util::{Query, lock, pct_decode};
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::time::Instant;

pub(crate) type Handler = fn(&mut Ctx) -> Result<Response, ApiError>;

/// One endpoint.
pub(crate) struct Route {
    pub method: &'static str,
    pub pattern: &'static str,
    pub tier: Tier,
    pub handler: Handler,
    /// Creates an import/job (import faults apply).
    pub job: bool,
}

const fn r(method: &'static str, pattern: &'static str, tier: Tier, handler: Handler) -> Route {
    Route {
        method,
        pattern,
        tier,
        handler,
        job: false,
    }
}

const fn j(method: &'static str, pattern: &'static str, tier: Tier, handler: Handler) -> Route {
    Route {
        method,
        pattern,
        tier,
        handler,
        job: true,
    }
}

use Tier::{High, Low, Medium, Unlimited};

/// Every endpoint, first match wins.
pub(crate) static ROUTES: &[Route] = &[
    // v2 account & data fields
    r("GET", "/v2/account-info", High, v2::account_info),
    r("GET", "/v2/data-fields", High, v2::fields_list),
    r("POST", "/v2/data-fields", Medium, v2::field_create),
    r("DELETE", "/v2/data-fields/{name}", Medium, v2::field_delete),
    // v2 address books
    r("GET", "/v2/address-books", High, v2::books_list),
    r("GET", "/v2/address-books/private", High, v2::books_private),
    r("GET", "/v2/address-books/public", High, v2::books_public),
    r("POST", "/v2/address-books", Medium, v2::book_create),
    r("GET", "/v2/address-books/{id}", High, v2::book_get),
    r("PUT", "/v2/address-books/{id}", Medium, v2::book_update),
    r("DELETE", "/v2/address-books/{id}", Medium, v2::book_delete),
    r("GET", "/v2/address-books/{id}/contacts", Low, v2::book_contacts),
    r("POST", "/v2/address-books/{id}/contacts", Medium, v2::book_add_contact),
    r("DELETE", "/v2/address-books/{id}/contacts", Medium, v2::book_remove_all),
    r(
        "POST",
        "/v2/address-books/{id}/contacts/delete",
        Low,
        v2::book_bulk_remove,
    ),
    r(
        "POST",
        "/v2/address-books/{id}/contacts/delete-all",
        Low,
        v2::book_delete_all,
    ),
    j(
        "POST",
        "/v2/address-books/{id}/contacts/import",
        Low,
        v2::import_to_book,
    ),
    j(
        "POST",
        "/v2/address-books/{id}/contacts/import/with-merge-option/{merge}",
        Low,
        v2::import_to_book,
    ),
    r(
        "DELETE",
        "/v2/address-books/{id}/contacts/{contactId}",
        Medium,
        v2::book_remove_contact,
    ),
    // v2 contact imports
    j("POST", "/v2/contacts/import", Low, v2::import_to_account),
    j(
        "POST",
        "/v2/contacts/import/with-merge-option/{merge}",
        Low,
        v2::import_to_account,
    ),
    r("GET", "/v2/contacts/import/{id}", High, v2::import_status),
    r("GET", "/v2/contacts/import/{id}/report", High, v2::import_report),
    r(
        "GET",
        "/v2/contacts/import/{id}/report-faults",
        High,
        v2::import_report_faults,
    ),
    // v2 transactional data (before `/v2/contacts/{idOrEmail}` and `{collection}/{key}`, which
    // would take these literal segments as parameters)
    r(
        "GET",
        "/v2/contacts/transactional-data-collections",
        High,
        transactional::collections,
    ),
    j(
        "POST",
        "/v2/contacts/transactional-data/import/{collection}",
        Low,
        transactional::import,
    ),
    r(
        "GET",
        "/v2/contacts/transactional-data/import/{id}",
        High,
        transactional::import_status,
    ),
    r(
        "GET",
        "/v2/contacts/transactional-data/import/{id}/report",
        High,
        transactional::import_report,
    ),
    r(
        "PUT",
        "/v2/contacts/transactional-data/{collection}/empty",
        Medium,
        transactional::empty,
    ),
    r(
        "POST",
        "/v2/contacts/transactional-data/{collection}",
        Medium,
        transactional::add,
    ),
    r(
        "POST",
        "/v2/contacts/transactional-data/{collection}/{key}",
        Medium,
        transactional::replace,
    ),
    r(
        "GET",
        "/v2/contacts/transactional-data/{collection}/{key}",
        High,
        transactional::get,
    ),
    r(
        "DELETE",
        "/v2/contacts/transactional-data/{collection}/{key}",
        Medium,
        transactional::delete,
    ),
    r(
        "GET",
        "/v2/contacts/{idOrEmail}/transactional-data/{collection}",
        High,
        transactional::contact_list,
    ),
    r(
        "DELETE",
        "/v2/contacts/{idOrEmail}/transactional-data/{collection}",
        Medium,
        transactional::contact_delete,
    ),
    r("GET", "/v2/contacts/{idOrEmail}", High, v2::contact_get),
    // programs
    r("GET", "/v2/programs", High, messaging::programs_list),
    j("POST", "/v2/programs/enrolments", Medium, messaging::enrol),
    r(
        "GET",
        "/v2/programs/enrolments/{idOrStatus}",
        High,
        messaging::enrolment_get,
    ),
    r(
        "GET",
        "/v2/programs/enrolments/{id}/report-faults",
        High,
        messaging::enrolment_faults,
    ),
    r("GET", "/v2/programs/{id}", High, messaging::program_get),
    // campaigns & sends
    r("GET", "/v2/campaigns", High, messaging::campaigns_list),
    r("POST", "/v2/campaigns/send", Medium, messaging::campaign_send),
    r(
        "POST",
        "/v2/campaigns/send-time-optimised",
        Medium,
        messaging::campaign_send_sto,
    ),
    r("GET", "/v2/campaigns/send/{id}", High, messaging::campaign_send_get),
    r("GET", "/v2/campaigns/{id}", High, messaging::campaign_get),
    r("POST", "/v2/email", Unlimited, messaging::email),
    r("POST", "/v2/email/batch", Unlimited, messaging::email_batch),
    r(
        "POST",
        "/v2/email/triggered-campaign",
        Unlimited,
        messaging::email_triggered,
    ),
    r(
        "POST",
        "/v2/email/triggered-campaign/batch",
        Unlimited,
        messaging::email_triggered_batch,
    ),
    r(
        "POST",
        "/v2/sms-messages/send-to/{telephoneNumber}",
        Unlimited,
        messaging::sms,
    ),
    r("POST", "/cpaas/messages", Unlimited, messaging::cpaas),
    // contacts v3
    r("GET", "/contacts/v3", Low, contacts::list),
    r("POST", "/contacts/v3", Medium, contacts::create),
    j("PUT", "/contacts/v3/import", Low, contacts::import),
    j("POST", "/contacts/v3/import", Low, contacts::import),
    r("GET", "/contacts/v3/import/{importId}", High, contacts::import_status),
    j("POST", "/contacts/v3/delete", Low, contacts::bulk_delete),
    r("GET", "/contacts/v3/delete/{deleteId}", High, contacts::delete_status),
    r("GET", "/contacts/v3/{identifier}/{value}", High, contacts::get),
    r("PATCH", "/contacts/v3/{identifier}/{value}", Medium, contacts::patch),
    r("PUT", "/contacts/v3/{identifier}/{value}", Medium, contacts::put),
    r("DELETE", "/contacts/v3/{identifier}/{value}", Medium, contacts::delete),
    // insight data v3
    r("GET", "/insightData/v3/collections", High, insight::collections_list),
    r(
        "POST",
        "/insightData/v3/collections/{name}",
        Medium,
        insight::collection_create,
    ),
    r(
        "DELETE",
        "/insightData/v3/collections/{name}",
        Medium,
        insight::collection_delete,
    ),
    r(
        "DELETE",
        "/insightData/v3/collections/{name}/empty",
        Medium,
        insight::collection_empty,
    ),
    r(
        "GET",
        "/insightData/v3/collections/{name}/schema",
        High,
        insight::collection_schema,
    ),
    j("PUT", "/insightData/v3/import", Low, insight::import),
    j("POST", "/insightData/v3/import", Low, insight::import),
    r("GET", "/insightData/v3/import/{importId}", High, insight::import_status),
    r(
        "GET",
        "/insightData/v3/account/{collection}",
        Low,
        insight::account_list,
    ),
    r(
        "PUT",
        "/insightData/v3/account/{collection}/{recordId}",
        Medium,
        insight::account_put,
    ),
    r(
        "GET",
        "/insightData/v3/account/{collection}/{recordId}",
        High,
        insight::account_get,
    ),
    r(
        "DELETE",
        "/insightData/v3/account/{collection}/{recordId}",
        Medium,
        insight::account_delete,
    ),
    r(
        "GET",
        "/insightData/v3/contacts/{collection}",
        Low,
        insight::contacts_list_all,
    ),
    r(
        "GET",
        "/insightData/v3/contacts/{identifier}/{value}/{collection}",
        Low,
        insight::contact_list,
    ),
    r(
        "PUT",
        "/insightData/v3/contacts/{identifier}/{value}/{collection}/{recordId}",
        Medium,
        insight::contact_put,
    ),
    r(
        "GET",
        "/insightData/v3/contacts/{identifier}/{value}/{collection}/{recordId}",
        High,
        insight::contact_get,
    ),
    r(
        "DELETE",
        "/insightData/v3/contacts/{identifier}/{value}/{collection}/{recordId}",
        Medium,
        insight::contact_delete,
    ),
];

fn gen_of(path_first: &str) -> Gen {
    match path_first.to_ascii_lowercase().as_str() {
        "contacts" => Gen::V3("contacts"),
        "insightdata" => Gen::V3("insightData"),
        "cpaas" => Gen::V3("cpaas"),
        _ => Gen::V2,
    }
}

fn matches(pattern: &str, segs: &[String]) -> Option<Vec<String>> {
    let pat: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    if pat.len() != segs.len() {
        return None;
    }
    let mut params = Vec::new();
    for (p, s) in pat.iter().zip(segs) {
        if p.starts_with('{') {
            params.push(s.clone());
        } else if !p.eq_ignore_ascii_case(s) {
            return None;
        }
    }
    Some(params)
}

/// Finds the route; `Err(true)` if the path exists with another method.
pub(crate) fn find_route(method: &str, segs: &[String]) -> Result<(&'static Route, Vec<String>), bool> {
    let mut other_method = false;
    for route in ROUTES {
        if let Some(params) = matches(route.pattern, segs) {
            if route.method == method {
                return Ok((route, params));
            }
            other_method = true;
        }
    }
    Err(other_method)
}

/// Request context handed to endpoint handlers.
pub(crate) struct Ctx {
    pub app: Arc<App>,
    pub user: String,
    pub region: Region,
    pub params: Vec<String>,
    pub query: Query,
    pub body: Bytes,
    pub content_type: String,
    pub now: Instant,
    pub api_gen: Gen,
    pub import_fault: Option<ImportFault>,
    /// Jobs to wake up once the world lock is released.
    pub wake: Vec<Instant>,
}

impl Ctx {
    pub fn param(&self, i: usize) -> &str {
        self.params.get(i).map(String::as_str).unwrap_or("")
    }

    /// Parses the body as JSON (error body in the endpoint's generation).
    pub fn json(&self) -> Result<Value, ApiError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_json(self.api_gen, "the body is empty"));
        }
        serde_json::from_slice(&self.body).map_err(|e| ApiError::bad_json(self.api_gen, &e.to_string()))
    }

    /// Runs `f` on this request's account under the world lock.
    pub fn account<R>(&self, f: impl FnOnce(&mut Account, &mut Ids) -> Result<R, ApiError>) -> Result<R, ApiError> {
        let mut w = lock(&self.app.world);
        let World { accounts, ids } = &mut *w;
        let a = accounts
            .iter_mut()
            .find(|a| a.username == self.user)
            .ok_or_else(ApiError::unauthorized)?;
        f(a, ids)
    }

    /// When a new job becomes due, and whether it fails (import faults); asks to be woken then.
    pub fn job_timing(&mut self) -> (Instant, bool) {
        let (at, fail) = self.job_due();
        self.wake.push(at);
        (at, fail)
    }

    /// When a new job would become due, and whether it would fail, without asking to be woken.
    pub fn job_due(&self) -> (Instant, bool) {
        let (delay, fail) = match self.import_fault {
            Some(ImportFault::Stall(d)) => (d, false),
            Some(ImportFault::Fail) => (self.app.config.import_delay, true),
            None => (self.app.config.import_delay, false),
        };
        (self.now + delay, fail)
    }
}

fn authenticate(app: &App, headers: &HeaderMap) -> Option<(String, Region, u64, crate::limits::RateScheme)> {
    let h = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = h.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (user, pass) = raw.split_once(':')?;
    let w = lock(&app.world);
    let a = w
        .accounts
        .iter()
        .find(|a| a.username.eq_ignore_ascii_case(user) && a.password == pass)?;
    Some((a.username.clone(), a.region, a.id, a.rate_scheme.clone()))
}

fn add_headers(resp: &mut Response, headers: &[(&'static str, String)]) {
    for (k, v) in headers {
        if let Ok(v) = HeaderValue::from_str(v) {
            resp.headers_mut().insert(*k, v);
        }
    }
}

async fn truncate(resp: Response, cut_json: bool) -> Response {
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let half = bytes.slice(0..bytes.len() / 2);
    if cut_json {
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::from(half));
    }
    let declared = if bytes.is_empty() { 16 } else { bytes.len() };
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(declared));
    // Send the first half, give it time to reach the client, then abort the connection.
    let first = futures::stream::iter([Ok::<Bytes, std::io::Error>(half)]);
    let abort = futures::stream::once(async {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        Err::<Bytes, std::io::Error>(std::io::Error::other("body truncated by emulator fault"))
    });
    Response::from_parts(parts, Body::from_stream(futures::StreamExt::chain(first, abort)))
}

/// The single entry point for every request.
pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    ConnectInfo(conn): ConnectInfo<ConnCtl>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_ascii_uppercase();
    let raw_path = parts.uri.path().to_string();
    let mut segs: Vec<String> = raw_path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| pct_decode(s, false))
        .collect();
    let mut region = Region::R1;
    if let Some(r) = segs.first().and_then(|s| Region::parse(s)) {
        region = r;
        segs.remove(0);
    }
    let query = Query::parse(parts.uri.query());
    if segs.first().is_some_and(|s| s == "_emulator") {
        return crate::control::handle(app, &method, &segs[1..], query, body).await;
    }
    let canon = format!("/{}", segs.join("/"));
    let api_gen = gen_of(segs.first().map(String::as_str).unwrap_or(""));
    let found = find_route(&method, &segs);
    let route_name = match &found {
        Ok((route, _)) => route.pattern.to_string(),
        Err(_) => canon.clone(),
    };
    let mut record = RequestRecord {
        seq: 0,
        method: method.clone(),
        route: route_name,
        path: raw_path,
        region: region.as_str().to_string(),
        account: None,
        status: 0,
    };
    let resp = serve(
        &app,
        &conn,
        &method,
        &canon,
        api_gen,
        found,
        region,
        query,
        parts.headers,
        body,
        &mut record,
    )
    .await;
    record.status = if conn.kill.load(Ordering::Relaxed) {
        0
    } else {
        resp.status().as_u16()
    };
    lock(&app.log).push(record);
    resp
}

#[allow(clippy::too_many_arguments)]
async fn serve(
    app: &Arc<App>,
    conn: &ConnCtl,
    method: &str,
    canon: &str,
    api_gen: Gen,
    found: Result<(&'static Route, Vec<String>), bool>,
    region: Region,
    query: Query,
    headers: HeaderMap,
    body: Body,
    record: &mut RequestRecord,
) -> Response {
    let faults = lock(&app.faults).for_request(method, canon);
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    if faults.reset == Some(false) {
        conn.kill.store(true, Ordering::Relaxed);
        return empty_response(StatusCode::INTERNAL_SERVER_ERROR);
    }
    if let Some((status, body)) = faults.status {
        let mut e = match body {
            Some(b) => ApiError::raw(status, b),
            None => ApiError::generic(api_gen, status),
        };
        if status == 429 {
            e = e
                .header("retry-after", "1")
                .header("x-ratelimit-reset", "1")
                .header("x-ratelimit-remaining", "0");
        }
        return e.into_response();
    }
    let (route, params) = match found {
        Ok(x) => x,
        Err(true) => return ApiError::generic(api_gen, 405).into_response(),
        Err(false) => return ApiError::generic(api_gen, 404).into_response(),
    };
    let Some((user, home, account_id, scheme)) = authenticate(app, &headers) else {
        return ApiError::unauthorized().into_response();
    };
    record.account = Some(user.clone());
    let region_ok = home == region || (route.pattern == "/v2/account-info" && region == Region::R1);
    if !region_ok {
        return ApiError::wrong_region(api_gen).into_response();
    }
    let now = Instant::now();
    let rate = {
        let limits = lock(&app.limits).clone();
        let tier = limits
            .tier_overrides
            .get(&format!("{} {}", route.method, route.pattern))
            .copied()
            .unwrap_or(route.tier);
        lock(&app.limiter).check(&limits, account_id, &scheme, tier, now)
    };
    let rate_headers = match rate {
        Ok(Some(info)) => info.headers(),
        Ok(None) => Vec::new(),
        Err(info) => {
            let e = if info.flat {
                ApiError::generic(Gen::V2, 400)
            } else {
                ApiError::generic(api_gen, 429)
            };
            let mut resp = e.into_response();
            add_headers(&mut resp, &info.headers());
            return resp;
        }
    };
    let max = app.config.max_body_bytes;
    let bytes = match axum::body::to_bytes(body, max).await {
        Ok(b) => b,
        Err(_) => {
            let e = ApiError::for_gen(
                api_gen,
                413,
                "requestTooLarge",
                &format!("The request body is larger than the {max} bytes allowed."),
            );
            let mut resp = e.into_response();
            add_headers(&mut resp, &rate_headers);
            return resp;
        }
    };
    app.process_due();
    let import_fault = if route.job {
        lock(&app.faults).for_import(method, canon)
    } else {
        None
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut ctx = Ctx {
        app: Arc::clone(app),
        user,
        region,
        params,
        query,
        body: bytes,
        content_type,
        now,
        api_gen,
        import_fault,
        wake: Vec::new(),
    };
    let mut resp = match (route.handler)(&mut ctx) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    for at in ctx.wake.drain(..) {
        app.wake_at(at);
    }
    add_headers(&mut resp, &rate_headers);
    if faults.reset == Some(true) {
        conn.kill.store(true, Ordering::Relaxed);
    }
    if let Some(cut) = faults.truncate {
        resp = truncate(resp, cut).await;
    }
    resp
}

/// v3 paging `_links` + `_items`: `items` are `(cursor, value)` in order, `limit` the page size.
/// A v3 page: `_items` and `_links` (`self`, `first`, `next` while more follow); the links carry
/// the request's other parameters (`carried`, from [`Query::carried`]), so a client that
/// follows `next.link` keeps its filters.
pub(crate) fn v3_page(
    base: &str,
    carried: &str,
    items: Vec<(String, Value)>,
    limit: usize,
    has_more: bool,
    marker: Option<&str>,
) -> Value {
    let next = if has_more {
        items.last().map(|(c, _)| c.clone())
    } else {
        None
    };
    let mut links = serde_json::Map::new();
    let link = |m: Option<&str>| {
        let url = match m {
            Some(m) => format!("{base}?limit={limit}{carried}&marker={m}"),
            None => format!("{base}?limit={limit}{carried}"),
        };
        serde_json::json!({"link": url, "marker": m})
    };
    links.insert("self".into(), link(marker));
    links.insert("first".into(), link(None));
    if let Some(n) = &next {
        links.insert("next".into(), link(Some(n)));
    }
    serde_json::json!({"_links": links, "_items": items.into_iter().map(|(_, v)| v).collect::<Vec<_>>()})
}

/// Parses v3 `limit` (1..=max, default `default`).
pub(crate) fn v3_limit(ctx: &Ctx, default: usize, max: usize) -> Result<usize, ApiError> {
    match ctx.query.get("limit") {
        None | Some("") => Ok(default),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::for_gen(
                ctx.api_gen,
                400,
                "invalidLimit",
                &format!("limit must be between 1 and {max}"),
            )
            .detail("limit", format!("'{s}' is not a valid limit"))),
        },
    }
}
