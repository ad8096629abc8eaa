//! Wire tests: the executor against small scripted servers on 127.0.0.1:0 (axum, or raw TCP
//! where a connection must be dropped or cut short). Real time with tiny delays: paused time
//! does not mix with real sockets (tokio would jump the clock to the attempt timeout while a
//! socket is waiting); the paused-time quota and hold tests are unit tests in `src/limits.rs`.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method as HttpMethod, StatusCode, Uri};
use axum::response::IntoResponse;
use dotsync_executor::{
    Credentials, Executor, ExecutorConfig, ExecutorError, FailureKind, RateQuota, detect_api_endpoint,
};
use dotsync_plugin_sdk::{Method, RequestSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const USER: &str = "apiuser-7@apiconnector.com";
const PASSWORD: &str = "pa55word!";
/// base64("apiuser-7@apiconnector.com:pa55word!")
const BASIC: &str = "Basic YXBpdXNlci03QGFwaWNvbm5lY3Rvci5jb206cGE1NXdvcmQh";

// ---------------------------------------------------------------------------------------------
// Scripted axum server

#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    delay: Duration,
}

fn reply(status: u16, body: &str) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: body.to_string(),
        delay: Duration::ZERO,
    }
}

impl Reply {
    fn header(mut self, name: &'static str, value: impl ToString) -> Self {
        self.headers.push((name, value.to_string()));
        self
    }

    fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    headers: HeaderMap,
    body: Bytes,
    at: Instant,
}

#[derive(Default)]
struct Script {
    replies: Mutex<VecDeque<Reply>>,
    seen: Mutex<Vec<Seen>>,
}

struct Server {
    base_url: String,
    script: Arc<Script>,
}

impl Server {
    /// Serves `replies` in order, then 200 `{}` forever.
    async fn start(replies: Vec<Reply>) -> Server {
        let script = Arc::new(Script {
            replies: Mutex::new(replies.into()),
            seen: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new().fallback(handle).with_state(script.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server { base_url, script }
    }

    fn seen(&self) -> Vec<Seen> {
        self.script.seen.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.script.seen.lock().unwrap().len()
    }
}

async fn handle(
    State(script): State<Arc<Script>>,
    method: HttpMethod,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    script.seen.lock().unwrap().push(Seen {
        method: method.to_string(),
        path: uri.to_string(),
        headers,
        body,
        at: Instant::now(),
    });
    let next = script.replies.lock().unwrap().pop_front();
    let r = next.unwrap_or_else(|| reply(200, "{}"));
    if !r.delay.is_zero() {
        tokio::time::sleep(r.delay).await;
    }
    let mut response = (StatusCode::from_u16(r.status).unwrap(), r.body).into_response();
    for (name, value) in r.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

// ---------------------------------------------------------------------------------------------
// Raw TCP server: for dropped connections and truncated bodies.

#[derive(Clone, Copy, Debug)]
enum Raw {
    /// Read the whole request, then close without answering.
    Drop,
    /// Promise 100 bytes of body, send 10, close.
    Truncate,
    /// Answer 200 `{"ok":true}`.
    Ok,
}

struct RawServer {
    base_url: String,
    requests: Arc<AtomicUsize>,
}

impl RawServer {
    /// One action per request, in order; `Raw::Ok` once the script runs out.
    async fn start(script: Vec<Raw>) -> RawServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let counter = requests.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let script = script.clone();
                let counter = counter.clone();
                tokio::spawn(async move { raw_connection(stream, script, counter).await });
            }
        });
        RawServer { base_url, requests }
    }

    fn count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

async fn raw_connection(mut stream: TcpStream, script: Arc<Mutex<VecDeque<Raw>>>, counter: Arc<AtomicUsize>) {
    loop {
        // Read one request: headers, then Content-Length bytes of body.
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos + 4;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        counter.fetch_add(1, Ordering::SeqCst);
        let action = script.lock().unwrap().pop_front().unwrap_or(Raw::Ok);
        match action {
            Raw::Drop => return,
            Raw::Truncate => {
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"partial\":")
                    .await;
                return;
            }
            Raw::Ok => {
                let body = b"{\"ok\":true}";
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                if stream.write_all(head.as_bytes()).await.is_err() || stream.write_all(body).await.is_err() {
                    return;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn config(base_url: &str) -> ExecutorConfig {
    ExecutorConfig {
        base_url: base_url.to_string(),
        credentials: Credentials::new(USER, PASSWORD),
        attempt_timeout: Duration::from_secs(5),
        max_attempts: 8,
        backoff_initial: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
        ..ExecutorConfig::default()
    }
}

fn executor(base_url: &str) -> Executor {
    Executor::new(config(base_url)).unwrap()
}

fn post(path: &str, class: &str) -> RequestSpec {
    RequestSpec::write(1, Method::Post, path, br#"{"a":1}"#.to_vec(), class)
}

// ---------------------------------------------------------------------------------------------
// Tests

/// Drivers spawn sends on a multi-threaded runtime.
#[allow(dead_code)]
fn send_futures_are_send(exec: &Executor, request: &RequestSpec) {
    fn is_send<T: Send>(_: T) {}
    is_send(exec.send(request));
    is_send(exec.send_or_cancel(request, std::future::pending()));
}

#[tokio::test]
async fn sends_auth_and_json_headers_to_base_url_plus_path() {
    let server = Server::start(vec![reply(201, r#"{"id":7}"#).header("X-Test", "yes")]).await;
    let exec = executor(&format!("{}/r2", server.base_url));
    let sent = exec.send(&post("/contacts/v3/import?x=1", "low")).await.unwrap();
    assert_eq!(sent.response.status, 201);
    assert_eq!(&sent.response.body[..], br#"{"id":7}"#);
    assert_eq!(sent.response.header("x-test"), Some("yes"));
    assert!(sent.slot.is_none());

    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    assert_eq!(s.method, "POST");
    assert_eq!(s.path, "/r2/contacts/v3/import?x=1");
    assert_eq!(s.headers["authorization"], BASIC);
    assert_eq!(s.headers["accept"], "application/json");
    assert_eq!(s.headers["content-type"], "application/json");
    assert!(s.headers["user-agent"].to_str().unwrap().starts_with("dotsync/"));
    assert_eq!(&s.body[..], br#"{"a":1}"#);

    // A GET has no body and so no Content-Type; a planner's own Content-Type is kept.
    exec.send(&RequestSpec::get(2, "/v2/data-fields", "high"))
        .await
        .unwrap();
    let mut csv = post("/v2/upload", "low");
    csv.headers.push(("Content-Type".into(), "text/csv".into()));
    exec.send(&csv).await.unwrap();
    let seen = server.seen();
    assert!(seen[1].headers.get("content-type").is_none());
    assert_eq!(seen[1].headers["accept"], "application/json");
    assert_eq!(seen[2].headers["content-type"], "text/csv");
    assert_eq!(seen[2].headers.get_all("content-type").iter().count(), 1);
}

#[tokio::test]
async fn retry_after_on_429_is_honoured() {
    let server = Server::start(vec![reply(429, "").header("Retry-After", "1"), reply(200, "{}")]).await;
    let exec = executor(&server.base_url); // own backoff would be ≤ 5 ms
    let start = Instant::now();
    let sent = exec.send(&post("/v2/x", "low")).await.unwrap();
    assert_eq!(sent.response.status, 200);
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    let gap = seen[1].at - seen[0].at;
    assert!(gap >= Duration::from_millis(990), "retried after {gap:?}");
    assert!(start.elapsed() < Duration::from_secs(3));
    let stats = exec.stats();
    assert_eq!((stats.api_calls, stats.retries, stats.throttled), (2, 1, 1));
}

#[tokio::test]
async fn ratelimit_reset_on_429_is_honoured_and_holds_the_class() {
    let server = Server::start(vec![
        reply(429, "")
            .header("X-RateLimit-Limit", "100")
            .header("X-RateLimit-Remaining", "0")
            .header("X-RateLimit-Reset", "0.3"),
    ])
    .await;
    let exec = executor(&server.base_url);
    let start = Instant::now();
    let request = post("/v2/x", "low");
    let first = exec.send(&request);
    // A second request of the same class, sent while the first is throttled, also waits.
    let second = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        exec.send(&post("/v2/y", "low")).await
    };
    let (a, b) = tokio::join!(first, second);
    assert_eq!(a.unwrap().response.status, 200);
    assert_eq!(b.unwrap().response.status, 200);
    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    for s in &seen[1..] {
        let after = s.at - start;
        assert!(after >= Duration::from_millis(290), "{} at {after:?}", s.path);
    }
}

#[tokio::test]
async fn apiusage_exceeded_400_is_throttling_and_retried() {
    let server = Server::start(vec![
        reply(
            400,
            r#"{"message":"Your account has generated excess API activity and is being temporarily capped. Please contact support. ERROR_APIUSAGE_EXCEEDED"}"#,
        ),
        reply(200, r#"{"done":true}"#),
    ])
    .await;
    let exec = executor(&server.base_url);
    let sent = exec.send(&post("/v2/contacts", "low")).await.unwrap();
    assert_eq!(sent.response.status, 200);
    assert_eq!(server.count(), 2);
    assert_eq!(exec.stats().throttled, 1);
}

#[tokio::test]
async fn other_400_is_returned_not_retried() {
    let body = r#"{"message":"Email is not a valid email address. ERROR_PARAMETER_INVALID"}"#;
    let server = Server::start(vec![reply(400, body)]).await;
    let exec = executor(&server.base_url);
    let sent = exec.send(&post("/v2/contacts", "low")).await.unwrap();
    assert_eq!(sent.response.status, 400);
    assert_eq!(&sent.response.body[..], body.as_bytes());
    assert_eq!(server.count(), 1);
    let stats = exec.stats();
    assert_eq!((stats.api_calls, stats.retries, stats.throttled), (1, 0, 0));
}

#[tokio::test]
async fn server_error_burst_is_retried_then_succeeds() {
    let server = Server::start(vec![
        reply(503, "busy"),
        reply(502, "bad gateway"),
        reply(500, "oops"),
        reply(504, "slow"),
        reply(200, r#"{"ok":1}"#),
    ])
    .await;
    let exec = executor(&server.base_url);
    let sent = exec.send(&post("/v2/x", "low")).await.unwrap();
    assert_eq!(sent.response.status, 200);
    assert_eq!(&sent.response.body[..], br#"{"ok":1}"#);
    assert_eq!(server.count(), 5);
    let stats = exec.stats();
    assert_eq!((stats.api_calls, stats.retries, stats.throttled), (5, 4, 0));
}

#[tokio::test]
async fn exhaustion_reports_the_last_status_and_attempts() {
    let server = Server::start(vec![reply(503, "down"); 10]).await;
    let exec = Executor::new(ExecutorConfig {
        max_attempts: 4,
        ..config(&server.base_url)
    })
    .unwrap();
    let failure = exec.send(&post("/v2/x", "low")).await.unwrap_err();
    assert_eq!(failure.kind, FailureKind::Exhausted);
    assert_eq!(failure.status, 503);
    assert!(
        failure.message.contains("HTTP 503 after 4 attempts"),
        "{}",
        failure.message
    );
    assert_eq!(server.count(), 4);
    assert_eq!(exec.stats().api_calls, 4);
    assert_eq!(exec.stats().retries, 3);
}

#[tokio::test]
async fn dropped_connection_is_uncertain_for_a_non_idempotent_request() {
    let server = RawServer::start(vec![Raw::Drop, Raw::Ok]).await;
    let exec = executor(&server.base_url);
    let request = post("/v2/programs/enrolments", "enrolment").not_idempotent();
    let failure = exec.send(&request).await.unwrap_err();
    assert_eq!(failure.kind, FailureKind::Uncertain, "{}", failure.message);
    assert_eq!(failure.status, 0);
    assert!(failure.message.contains("not idempotent"), "{}", failure.message);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(server.count(), 1, "a non-idempotent request was resent");
    assert_eq!(exec.stats().api_calls, 1);
}

#[tokio::test]
async fn a_server_error_is_uncertain_and_never_retried_for_a_non_idempotent_request() {
    let server = Server::start(vec![reply(500, "{}"), reply(500, "{}"), reply(201, r#"{"id":"e1"}"#)]).await;
    let exec = executor(&server.base_url);
    let failure = exec
        .send(&post("/v2/email", "unlimited").not_idempotent())
        .await
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Uncertain, "{}", failure.message);
    assert_eq!(failure.status, 500);
    assert!(failure.message.contains("not idempotent"), "{}", failure.message);
    assert_eq!(server.count(), 1, "a message may have gone out: it is not sent again");
    // An idempotent request is retried past the same error.
    let sent = exec.send(&post("/v2/x", "low")).await.unwrap();
    assert_eq!(sent.response.status, 201);
    assert_eq!(server.count(), 3);
}

#[tokio::test]
async fn dropped_connection_is_retried_for_an_idempotent_request() {
    let server = RawServer::start(vec![Raw::Drop, Raw::Ok]).await;
    let exec = executor(&server.base_url);
    let sent = exec.send(&post("/contacts/v3/x", "low")).await.unwrap();
    assert_eq!(sent.response.status, 200);
    assert_eq!(&sent.response.body[..], br#"{"ok":true}"#);
    assert_eq!(server.count(), 2);
    assert_eq!(exec.stats().retries, 1);
}

#[tokio::test]
async fn truncated_body_is_uncertain_or_retried() {
    let server = RawServer::start(vec![Raw::Truncate, Raw::Truncate, Raw::Ok]).await;
    let exec = executor(&server.base_url);
    let failure = exec.send(&post("/v2/email", "").not_idempotent()).await.unwrap_err();
    assert_eq!(failure.kind, FailureKind::Uncertain, "{}", failure.message);
    assert_eq!(server.count(), 1);
    // Idempotent: the second truncated answer is retried and the third succeeds.
    let sent = exec.send(&post("/v2/x", "")).await.unwrap();
    assert_eq!(sent.response.status, 200);
    assert_eq!(server.count(), 3);
}

#[tokio::test]
async fn attempt_timeout_is_uncertain_or_retried() {
    let slow = Duration::from_secs(3);
    let server = Server::start(vec![
        reply(200, "{}").delayed(slow),
        reply(200, "{}").delayed(slow),
        reply(200, r#"{"fast":1}"#),
    ])
    .await;
    let exec = Executor::new(ExecutorConfig {
        attempt_timeout: Duration::from_millis(200),
        ..config(&server.base_url)
    })
    .unwrap();
    let start = Instant::now();
    let failure = exec.send(&post("/v2/x", "low").not_idempotent()).await.unwrap_err();
    assert_eq!(failure.kind, FailureKind::Uncertain);
    assert!(failure.message.contains("timeout"), "{}", failure.message);
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(server.count(), 1);

    let sent = exec.send(&post("/v2/x", "low")).await.unwrap();
    assert_eq!(&sent.response.body[..], br#"{"fast":1}"#);
    assert_eq!(server.count(), 3);
}

#[tokio::test]
async fn connection_refused_is_retried_then_not_sent() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let exec = Executor::new(ExecutorConfig {
        max_attempts: 3,
        ..config(&base_url)
    })
    .unwrap();
    // Not idempotent, and still retried: it provably never reached the server.
    let failure = exec
        .send(&post("/v2/programs/enrolments", "enrolment").not_idempotent())
        .await
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::NotSent, "{}", failure.message);
    assert_eq!(failure.status, 0);
    assert!(
        failure.message.contains("cannot connect to")
            && failure.message.contains(&base_url)
            && failure.message.contains("after 3 attempts"),
        "{}",
        failure.message
    );
    assert!(!failure.message.contains(PASSWORD));
    assert_eq!(failure.message.matches(&base_url).count(), 1, "{}", failure.message);
    let stats = exec.stats();
    assert_eq!((stats.api_calls, stats.retries), (3, 2));
}

#[tokio::test]
async fn remaining_zero_pauses_only_that_class_for_one_calls_share_of_the_window() {
    // A window of 4 s for 10 calls: one call's share is 0.4 s.
    let server = Server::start(vec![
        reply(200, "{}")
            .header("X-RateLimit-Limit", "10")
            .header("X-RateLimit-Remaining", "0")
            .header("X-RateLimit-Reset", "4"),
    ])
    .await;
    let exec = executor(&server.base_url);
    let start = Instant::now();
    exec.send(&post("/a", "low")).await.unwrap();
    // Another class is not held.
    exec.send(&post("/b", "high")).await.unwrap();
    assert!(start.elapsed() < Duration::from_millis(300));
    // The spent class waits for one call's share, not the whole window.
    exec.send(&post("/c", "low")).await.unwrap();
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(390) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert_eq!(server.count(), 3);
    assert_eq!(exec.stats().throttled, 0);
}

#[tokio::test]
async fn slot_limit_holds_a_third_send_until_a_permit_drops() {
    let server = Server::start(vec![]).await;
    let mut cfg = config(&server.base_url);
    cfg.slot_limits.insert("contact-import".into(), 2);
    let exec = Executor::new(cfg).unwrap();
    let import = post("/contacts/v3/import", "low").with_slot("contact-import");

    let first = exec.send(&import).await.unwrap();
    let second = exec.send(&import).await.unwrap();
    let p1 = first.slot.expect("first import holds a slot");
    assert_eq!(p1.class(), "contact-import");
    assert!(second.slot.is_some());

    let third = tokio::spawn({
        let exec = exec.clone();
        let import = import.clone();
        async move { exec.send(&import).await }
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(!third.is_finished(), "third import did not wait for a slot");
    assert_eq!(server.count(), 2);

    // Unlimited classes and requests without a slot are not held.
    exec.send(&post("/v2/x", "low").with_slot("other")).await.unwrap();
    assert_eq!(server.count(), 3);

    drop(p1);
    let sent = tokio::time::timeout(Duration::from_secs(2), third)
        .await
        .expect("third import still waiting after a slot was freed")
        .unwrap()
        .unwrap();
    assert!(sent.slot.is_some());
    assert_eq!(server.count(), 4);
}

#[tokio::test]
async fn a_failed_request_frees_its_slot() {
    let server = Server::start(vec![
        reply(503, ""),
        reply(503, ""),
        reply(400, r#"{"message":"ERROR_X"}"#),
    ])
    .await;
    let mut cfg = config(&server.base_url);
    cfg.slot_limits.insert("insight-import".into(), 1);
    cfg.max_attempts = 2;
    let exec = Executor::new(cfg).unwrap();
    let import = post("/insightData/v3/import", "low").with_slot("insight-import");
    assert_eq!(exec.send(&import).await.unwrap_err().kind, FailureKind::Exhausted);
    // Refused with a 400: handed back, and the slot is not kept.
    let sent = tokio::time::timeout(Duration::from_secs(2), exec.send(&import))
        .await
        .expect("slot not freed after a failure")
        .unwrap();
    assert_eq!(sent.response.status, 400);
    assert!(sent.slot.is_none());
    let sent = tokio::time::timeout(Duration::from_secs(2), exec.send(&import))
        .await
        .expect("slot not freed after a refusal")
        .unwrap();
    assert!(sent.slot.is_some());
}

#[tokio::test]
async fn stats_count_every_attempt_per_class_across_clones() {
    let server = Server::start(vec![reply(429, "").header("Retry-After", "0"), reply(503, "")]).await;
    let exec = executor(&server.base_url);
    let clone = exec.clone();
    exec.send(&post("/a", "low")).await.unwrap(); // 429, 503, 200
    clone.send(&post("/b", "high")).await.unwrap();
    clone.send(&RequestSpec::get(3, "/c", "")).await.unwrap();
    let stats = exec.stats();
    assert_eq!(stats, clone.stats());
    assert_eq!(stats.api_calls, 5);
    assert_eq!(stats.retries, 2);
    assert_eq!(stats.throttled, 1);
    let by: HashMap<_, _> = stats.by_rate_class.into_iter().collect();
    assert_eq!(by["low"], 3);
    assert_eq!(by["high"], 1);
    assert_eq!(by[""], 1);
}

#[tokio::test]
async fn self_imposed_quota_spaces_calls_in_real_time() {
    let server = Server::start(vec![]).await;
    let mut cfg = config(&server.base_url);
    cfg.rate_limits.insert(
        "enrolment".into(),
        RateQuota {
            calls: 2,
            per: Duration::from_millis(600),
        },
    );
    let exec = Executor::new(cfg).unwrap();
    let start = Instant::now();
    for _ in 0..3 {
        exec.send(&post("/v2/programs/enrolments", "enrolment")).await.unwrap();
    }
    // Burst of 2, then one every 300 ms.
    let seen = server.seen();
    assert!(seen[1].at - start < Duration::from_millis(200));
    assert!(seen[2].at - start >= Duration::from_millis(290));
}

#[tokio::test]
async fn cancel_while_waiting_for_a_slot_is_cancelled_and_sends_nothing() {
    let server = Server::start(vec![]).await;
    let mut cfg = config(&server.base_url);
    cfg.slot_limits.insert("contact-import".into(), 1);
    let exec = Executor::new(cfg).unwrap();
    let import = post("/contacts/v3/import", "low").with_slot("contact-import");
    let _held = exec.send(&import).await.unwrap();
    let failure = exec
        .send_or_cancel(&import, tokio::time::sleep(Duration::from_millis(50)))
        .await
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Cancelled);
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn detect_api_endpoint_reads_account_info() {
    let server = Server::start(vec![reply(
        200,
        r#"{"id":1,"properties":[{"name":"Name","type":"String","value":"Acme"},{"name":"ApiEndpoint","type":"String","value":"https://r2-api.dotdigital.com"}]}"#,
    )])
    .await;
    let endpoint = detect_api_endpoint(
        &server.base_url,
        &Credentials::new(USER, PASSWORD),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(endpoint, "https://r2-api.dotdigital.com");
    let seen = server.seen();
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].path, "/v2/account-info");
    assert_eq!(seen[0].headers["authorization"], BASIC);
}

#[tokio::test]
async fn detect_api_endpoint_401_names_the_user_never_the_password() {
    let server = Server::start(vec![reply(
        401,
        r#"{"message":"Authorization has been denied for this request."}"#,
    )])
    .await;
    let err = detect_api_endpoint(
        &server.base_url,
        &Credentials::new(USER, PASSWORD),
        Duration::from_secs(5),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ExecutorError::Unauthorized { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(USER) && text.contains("wrong username or password"),
        "{text}"
    );
    assert!(!text.contains(PASSWORD) && !format!("{err:?}").contains(PASSWORD));
    assert_eq!(server.count(), 1, "401 must not be retried");
}

#[tokio::test]
async fn detect_api_endpoint_other_failures() {
    let server = Server::start(vec![reply(403, r#"{"message":"Access is denied"}"#)]).await;
    let creds = Credentials::new(USER, PASSWORD);
    let err = detect_api_endpoint(&server.base_url, &creds, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, ExecutorError::Forbidden { .. }), "{err:?}");
    assert!(err.to_string().contains("wrong region?"));

    let server = Server::start(vec![reply(200, r#"{"properties":[]}"#)]).await;
    let err = detect_api_endpoint(&server.base_url, &creds, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, ExecutorError::BadResponse { .. }), "{err:?}");
    assert!(err.to_string().contains("ApiEndpoint"));

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = tokio::time::timeout(
        Duration::from_secs(10),
        detect_api_endpoint(&url, &creds, Duration::from_secs(5)),
    )
    .await
    .unwrap()
    .unwrap_err();
    assert!(matches!(err, ExecutorError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().starts_with(&format!("cannot reach {url}")), "{err}");
}
