//! [`Executor`]: sends one [`RequestSpec`] with auth, rate limits, slots, timeouts and retries.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use dotsync_plugin_sdk::{FailureKind, Method, RequestSpec};
use http::{HeaderName, HeaderValue};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::{Credentials, ExecutorConfig};
use crate::error::{ExecutorError, SendFailure, error_chain};
use crate::limits::{RateGate, server_delay};

/// One account's HTTP executor. Cheap to clone: clones share the connection pool, rate limits,
/// slots and statistics, so every sync on the account goes through one.
#[derive(Clone)]
pub struct Executor {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    base_url: String,
    credentials: Credentials,
    attempt_timeout: Duration,
    max_attempts: u32,
    backoff_initial: Duration,
    backoff_max: Duration,
    gate: RateGate,
    slots: HashMap<String, Arc<Semaphore>>,
    stats: Stats,
}

#[derive(Default)]
struct Stats {
    api_calls: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
    by_rate_class: Mutex<BTreeMap<String, u64>>,
}

/// Counters since the executor was made, over all its clones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecutorStats {
    /// HTTP attempts made (first tries and retries, whatever their outcome).
    pub api_calls: u64,
    /// Attempts that were retries.
    pub retries: u64,
    /// Responses that said "slow down" (429, 400 `ERROR_APIUSAGE_EXCEEDED`).
    pub throttled: u64,
    /// HTTP attempts per rate class (the empty class is unmetered requests).
    pub by_rate_class: BTreeMap<String, u64>,
}

/// A response the executor hands back as is: 2xx, or a 4xx other than throttling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Response {
    /// First header with this name, compared without regard to case.
    pub fn header(&self, name: &str) -> Option<&str> {
        crate::limits::header(&self.headers, name)
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A held server-side slot (e.g. one of 25 active contact imports). Dropping it frees the slot.
#[derive(Debug)]
pub struct SlotPermit {
    class: String,
    _permit: OwnedSemaphorePermit,
}

impl SlotPermit {
    pub fn class(&self) -> &str {
        &self.class
    }
}

/// The outcome of [`Executor::send`] when there is a response to interpret.
#[derive(Debug)]
pub struct Sent {
    pub response: Response,
    /// The request's slot, when it names a slot class and the response is a 2xx: the server-side
    /// job runs until the planner releases the slot, and the driver drops this then. `None` when
    /// the request takes no slot or was refused (its slot is free again).
    pub slot: Option<SlotPermit>,
}

/// Why one attempt did not produce a response to hand back.
#[derive(Debug)]
enum AttemptError {
    /// 429 or 400 `ERROR_APIUSAGE_EXCEEDED`: slow down.
    Throttled { status: u16, delay: Option<Duration> },
    /// 500, 502, 503, 504: retried only when the request is idempotent (the server may have
    /// done the work before failing).
    Server {
        status: u16,
        delay: Option<Duration>,
        retry: bool,
    },
    /// Provably never reached the server (connect refused, DNS, connect timeout).
    NotSent { message: String },
    /// Sent, then no complete answer (timeout, reset, truncated body): retried only when the
    /// request is idempotent.
    Uncertain { message: String, retry: bool },
    /// Cannot be sent at all (bad header in the spec): never retried.
    Invalid { message: String },
}

impl AttemptError {
    fn retryable(&self) -> bool {
        match self {
            AttemptError::Throttled { .. } | AttemptError::NotSent { .. } => true,
            AttemptError::Server { retry, .. } | AttemptError::Uncertain { retry, .. } => *retry,
            AttemptError::Invalid { .. } => false,
        }
    }

    /// The delay the server asked for, which replaces our own backoff.
    fn server_delay(&self) -> Option<Duration> {
        match self {
            AttemptError::Throttled { delay, .. } | AttemptError::Server { delay, .. } => *delay,
            _ => None,
        }
    }

    fn describe(&self) -> String {
        match self {
            AttemptError::Throttled { status, .. } => format!("HTTP {status} (throttled)"),
            AttemptError::Server { status, .. } => format!("HTTP {status}"),
            AttemptError::NotSent { message }
            | AttemptError::Uncertain { message, .. }
            | AttemptError::Invalid { message } => message.clone(),
        }
    }
}

/// What the attempts of one `send` have seen so far. One task at a time uses it; atomics only
/// keep the `send` future `Send`.
#[derive(Default)]
struct Tracker {
    attempts: AtomicU32,
    last_status: AtomicU16,
    /// An attempt may have reached the server and its effect is unknown.
    maybe_reached: AtomicBool,
    /// An HTTP exchange is under way right now.
    in_flight: AtomicBool,
}

impl Tracker {
    fn attempts(&self) -> u32 {
        self.attempts.load(Ordering::Relaxed)
    }

    fn last_status(&self) -> u16 {
        self.last_status.load(Ordering::Relaxed)
    }

    fn maybe_reached(&self) -> bool {
        self.maybe_reached.load(Ordering::Relaxed)
    }

    fn in_flight(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed)
    }
}

impl Executor {
    /// Builds the HTTP client (rustls with the `ring` provider, connection pooling, no proxy) and
    /// the per-account limiters.
    pub fn new(config: ExecutorConfig) -> Result<Executor, ExecutorError> {
        let base_url = config.base_url.trim_end_matches('/').to_string();
        let parsed =
            reqwest::Url::parse(&base_url).map_err(|e| ExecutorError::Config(format!("base URL `{base_url}`: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(ExecutorError::Config(format!(
                "base URL `{base_url}` must be http(s)://host[:port][/prefix]"
            )));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(ExecutorError::Config(
                "the base URL must not hold credentials; set `credentials` instead".to_string(),
            ));
        }
        let gate = RateGate::new(&config.rate_limits).map_err(|class| {
            ExecutorError::Config(format!(
                "rate limit for class `{class}` needs at least 1 call in a non-zero period"
            ))
        })?;
        let slots = config
            .slot_limits
            .iter()
            .map(|(class, &n)| (class.clone(), Arc::new(Semaphore::new(n))))
            .collect();

        // reqwest is built with `rustls-no-provider`: the process-wide provider must exist first.
        // Another crate may have installed one already, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .no_proxy()
            .connect_timeout(config.attempt_timeout.min(Duration::from_secs(30)))
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| ExecutorError::Config(format!("HTTP client: {}", error_chain(&e))))?;

        Ok(Executor {
            inner: Arc::new(Inner {
                client,
                base_url,
                credentials: config.credentials,
                attempt_timeout: config.attempt_timeout,
                max_attempts: config.max_attempts.max(1),
                backoff_initial: config.backoff_initial,
                backoff_max: config.backoff_max.max(config.backoff_initial),
                gate,
                slots,
                stats: Stats::default(),
            }),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    pub fn stats(&self) -> ExecutorStats {
        let s = &self.inner.stats;
        ExecutorStats {
            api_calls: s.api_calls.load(Ordering::Relaxed),
            retries: s.retries.load(Ordering::Relaxed),
            throttled: s.throttled.load(Ordering::Relaxed),
            by_rate_class: s.by_rate_class.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        }
    }

    /// Sends one request with retries. Returns the final response for any status the executor
    /// does not retry (2xx, and 4xx other than throttling), or a failure when it gives up.
    ///
    /// `spec.not_before` is the driver's business and is ignored here.
    pub async fn send(&self, request: &RequestSpec) -> Result<Sent, SendFailure> {
        self.send_or_cancel(request, std::future::pending()).await
    }

    /// [`Executor::send`], giving up when `cancel` completes. Cancelling while the request waits
    /// (for a slot, a rate limit or a backoff) gives `Cancelled`, or `Uncertain` when an earlier
    /// attempt may have reached the server; cancelling during an HTTP exchange abandons it and
    /// gives `Uncertain`.
    pub async fn send_or_cancel(
        &self,
        request: &RequestSpec,
        cancel: impl Future<Output = ()>,
    ) -> Result<Sent, SendFailure> {
        let tracker = Tracker::default();
        let work = self.send_tracked(request, &tracker);
        tokio::select! {
            biased;
            result = work => result,
            () = cancel => {
                let (kind, what) = if tracker.in_flight() || tracker.maybe_reached() {
                    (FailureKind::Uncertain, "after it may have reached the server")
                } else {
                    (FailureKind::Cancelled, "before it was sent")
                };
                Err(SendFailure {
                    kind,
                    status: tracker.last_status(),
                    message: format!("{} {} cancelled {what}", request.method, request.path),
                })
            }
        }
    }

    async fn send_tracked(&self, request: &RequestSpec, tracker: &Tracker) -> Result<Sent, SendFailure> {
        let inner = &*self.inner;
        let slot = match inner.slots.get(&request.slot_class) {
            Some(semaphore) if !request.slot_class.is_empty() => {
                let permit = semaphore
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("slot semaphores are never closed");
                Some(SlotPermit {
                    class: request.slot_class.clone(),
                    _permit: permit,
                })
            }
            _ => None,
        };

        let url = format!("{}{}", inner.base_url, request.path);
        let body = request.body.clone();

        // backon gives the schedule (exponential, capped, `max_attempts - 1` retries); we add
        // full jitter ourselves in `adjust` (backon's own jitter only adds on top of the delay)
        // and replace the delay with the server's when it names one.
        let backoff = ExponentialBuilder::default()
            .with_min_delay(inner.backoff_initial)
            .with_max_delay(inner.backoff_max)
            .with_factor(2.0)
            .with_max_times(inner.max_attempts as usize - 1);
        let result = (|| self.attempt(request, &url, &body, tracker))
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(AttemptError::retryable)
            .adjust(|error, delay| {
                let delay = delay?;
                Some(error.server_delay().unwrap_or_else(|| full_jitter(delay)))
            })
            .notify(|error, delay| {
                inner.stats.retries.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    method = %request.method,
                    path = %request.path,
                    rate_class = %request.rate_class,
                    attempt = tracker.attempts(),
                    max_attempts = inner.max_attempts,
                    delay_ms = delay.as_millis() as u64,
                    "retrying after {}",
                    error.describe()
                );
            })
            .await;

        match result {
            Ok(response) => {
                let slot = if response.is_success() { slot } else { None };
                Ok(Sent { response, slot })
            }
            Err(error) => Err(self.failure(request, &url, tracker, error)),
        }
    }

    /// The caller's account of a request given up on.
    fn failure(&self, request: &RequestSpec, url: &str, tracker: &Tracker, error: AttemptError) -> SendFailure {
        let attempts = tracker.attempts();
        let status = tracker.last_status();
        let plural = if attempts == 1 { "" } else { "s" };
        let (kind, message) = match &error {
            AttemptError::Invalid { message } => (
                FailureKind::NotSent,
                format!("{} {}: {message}", request.method, request.path),
            ),
            AttemptError::Uncertain { message, retry } => (
                FailureKind::Uncertain,
                if *retry {
                    format!("{message} after {attempts} attempt{plural}")
                } else {
                    format!(
                        "{message}; not resent because {} {} is not idempotent",
                        request.method, request.path
                    )
                },
            ),
            AttemptError::NotSent { message } => {
                let kind = if tracker.maybe_reached() {
                    FailureKind::Uncertain
                } else if status != 0 {
                    FailureKind::Exhausted
                } else {
                    FailureKind::NotSent
                };
                (kind, format!("{message} after {attempts} attempt{plural}"))
            }
            AttemptError::Server {
                status, retry: false, ..
            } => (
                FailureKind::Uncertain,
                format!(
                    "HTTP {status} from {url}: the server may have done the work before failing; not resent \
                     because {} {} is not idempotent",
                    request.method, request.path
                ),
            ),
            AttemptError::Throttled { status, .. } | AttemptError::Server { status, .. } => (
                if tracker.maybe_reached() {
                    FailureKind::Uncertain
                } else {
                    FailureKind::Exhausted
                },
                format!(
                    "HTTP {status}{} after {attempts} attempt{plural} ({} {url})",
                    if matches!(error, AttemptError::Throttled { .. }) {
                        " (throttled)"
                    } else {
                        ""
                    },
                    request.method,
                ),
            ),
        };
        tracing::warn!(
            method = %request.method,
            path = %request.path,
            kind = ?kind,
            status,
            "giving up: {message}"
        );
        SendFailure { kind, status, message }
    }

    /// One HTTP attempt, after the rate gate.
    async fn attempt(
        &self,
        request: &RequestSpec,
        url: &str,
        body: &Bytes,
        tracker: &Tracker,
    ) -> Result<Response, AttemptError> {
        let inner = &*self.inner;
        inner.gate.acquire(&request.rate_class).await;

        let builder = self.build(request, url, body)?;
        let n = tracker.attempts() + 1;
        tracker.attempts.store(n, Ordering::Relaxed);
        inner.stats.api_calls.fetch_add(1, Ordering::Relaxed);
        *inner
            .stats
            .by_rate_class
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(request.rate_class.clone())
            .or_default() += 1;
        tracing::debug!(method = %request.method, path = %request.path, attempt = n, "sending");

        tracker.in_flight.store(true, Ordering::Relaxed);
        let exchange = async {
            let response = builder.send().await?;
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_string(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    )
                })
                .collect::<Vec<_>>();
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>(Response { status, headers, body })
        };
        let outcome = tokio::time::timeout(inner.attempt_timeout, exchange).await;
        tracker.in_flight.store(false, Ordering::Relaxed);

        let response = match outcome {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => return Err(self.transport_error(request, url, &error, tracker)),
            Err(_elapsed) => {
                tracker.maybe_reached.store(true, Ordering::Relaxed);
                return Err(AttemptError::Uncertain {
                    message: format!(
                        "no complete answer from {url} within {:?} (attempt timeout)",
                        inner.attempt_timeout
                    ),
                    retry: request.idempotent,
                });
            }
        };
        tracker.last_status.store(response.status, Ordering::Relaxed);

        if let Some(hold) = inner.gate.observe(&request.rate_class, &response.headers) {
            tracing::debug!(
                rate_class = %request.rate_class,
                hold_ms = hold.as_millis() as u64,
                "rate limit budget spent; holding the class until it resets"
            );
        }

        let status = response.status;
        let throttled = status == 429 || (status == 400 && contains(&response.body, b"APIUSAGE_EXCEEDED"));
        if throttled {
            inner.stats.throttled.fetch_add(1, Ordering::Relaxed);
            let delay = server_delay(&response.headers, true);
            if let Some(delay) = delay {
                // The whole class is over budget, not only this request.
                inner.gate.hold(&request.rate_class, delay);
            }
            return Err(AttemptError::Throttled { status, delay });
        }
        if matches!(status, 500 | 502 | 503 | 504) {
            let delay = server_delay(&response.headers, false);
            if !request.idempotent {
                // A message or an enrolment may have gone out before the error: never twice.
                tracker.maybe_reached.store(true, Ordering::Relaxed);
            }
            return Err(AttemptError::Server {
                status,
                delay,
                retry: request.idempotent,
            });
        }
        Ok(response)
    }

    fn build(&self, request: &RequestSpec, url: &str, body: &Bytes) -> Result<reqwest::RequestBuilder, AttemptError> {
        let inner = &*self.inner;
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut headers = http::HeaderMap::new();
        for (name, value) in &request.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| AttemptError::Invalid {
                message: format!("invalid header name `{name}`"),
            })?;
            if name == http::header::AUTHORIZATION {
                return Err(AttemptError::Invalid {
                    message: "requests must not set Authorization; the host adds it".to_string(),
                });
            }
            let value = HeaderValue::from_str(value).map_err(|_| AttemptError::Invalid {
                message: format!("invalid value for header `{name}`"),
            })?;
            headers.append(name, value);
        }
        if !headers.contains_key(http::header::ACCEPT) {
            headers.insert(http::header::ACCEPT, HeaderValue::from_static("application/json"));
        }
        if !body.is_empty() && !headers.contains_key(http::header::CONTENT_TYPE) {
            headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let mut builder = inner
            .client
            .request(method, url)
            .headers(headers)
            .basic_auth(&inner.credentials.username, Some(inner.credentials.password.expose()));
        if !body.is_empty() {
            builder = builder.body(body.clone());
        }
        Ok(builder)
    }

    fn transport_error(
        &self,
        request: &RequestSpec,
        url: &str,
        error: &reqwest::Error,
        tracker: &Tracker,
    ) -> AttemptError {
        // reqwest's own message only repeats the URL; the cause is in its sources.
        let chain = match std::error::Error::source(error) {
            Some(cause) => error_chain(cause),
            None => error.to_string(),
        };
        if error.is_connect() {
            AttemptError::NotSent {
                message: format!("cannot connect to {url}: {chain}"),
            }
        } else if error.is_builder() {
            AttemptError::Invalid { message: chain }
        } else {
            tracker.maybe_reached.store(true, Ordering::Relaxed);
            let what = if error.is_timeout() {
                "timed out"
            } else if error.is_body() || error.is_decode() {
                "response body cut short"
            } else {
                "connection lost"
            };
            AttemptError::Uncertain {
                message: format!("{what} after sending to {url}: {chain}"),
                retry: request.idempotent,
            }
        }
    }
}

/// A delay drawn uniformly from `[0, cap]` ("full jitter").
fn full_jitter(cap: Duration) -> Duration {
    let cap_ns = cap.as_nanos().min(u64::MAX as u128) as u64;
    if cap_ns == 0 {
        return Duration::ZERO;
    }
    // Retries are rare: seeding from the OS each time is cheaper than sharing a locked RNG.
    Duration::from_nanos(SmallRng::from_os_rng().random_range(0..=cap_ns))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_jitter_stays_below_the_cap() {
        let cap = Duration::from_millis(100);
        let draws: Vec<_> = (0..200).map(|_| full_jitter(cap)).collect();
        assert!(draws.iter().all(|d| *d <= cap));
        // Spread over the range, not pinned to the cap.
        assert!(draws.iter().any(|d| *d < cap / 2));
        assert_eq!(full_jitter(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn usage_exceeded_is_found_in_v2_bodies() {
        let body = br#"{"message": "Your account has generated excess API activity. ERROR_APIUSAGE_EXCEEDED"}"#;
        assert!(contains(body, b"APIUSAGE_EXCEEDED"));
        assert!(!contains(
            br#"{"message":"ERROR_CONTACT_INVALID"}"#,
            b"APIUSAGE_EXCEEDED"
        ));
    }

    #[test]
    fn bad_config_is_refused() {
        let err = Executor::new(ExecutorConfig {
            base_url: "ftp://example.com".into(),
            ..ExecutorConfig::default()
        })
        .err()
        .unwrap();
        assert!(matches!(err, ExecutorError::Config(_)), "{err}");
        let err = Executor::new(ExecutorConfig {
            base_url: "https://u:hunter22@example.com".into(),
            ..ExecutorConfig::default()
        })
        .err()
        .unwrap();
        assert!(!err.to_string().contains("hunter22"));
        let ok = Executor::new(ExecutorConfig {
            base_url: "http://127.0.0.1:9/r2/".into(),
            ..ExecutorConfig::default()
        })
        .unwrap();
        assert_eq!(ok.base_url(), "http://127.0.0.1:9/r2");
    }
}
