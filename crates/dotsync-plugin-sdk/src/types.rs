//! The safe values that cross between host and planner: requests, responses, failures, errors.

use bytes::Bytes;
use std::fmt;

/// Identifies one batch of input rows, chosen by the host. Outcomes name it back.
pub type BatchId = u64;

/// Identifies one request, chosen by the planner. Never 0: 0 means "none" on the C ABI.
pub type RequestId = u64;

/// Milliseconds on the host's monotonic clock. Planners never read a clock: time is handed in.
pub type Millis = u64;

/// Outcome of a poll, in the style of `std::task::Poll` with an end state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll<T> {
    /// Here is the next item.
    Ready(T),
    /// Nothing now; poll again after the next input, response, failure or timeout.
    Pending,
    /// Nothing ever again.
    Done,
}

/// HTTP method of a planned request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            _ => return None,
        })
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request the planner wants sent. The host adds the base URL, authentication, rate limiting,
/// retries and timeouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSpec {
    /// Chosen by the planner, unique within one planner instance, never 0.
    pub id: RequestId,
    pub method: Method,
    /// Path and query, starting with `/`, e.g. `/contacts/v3/import`.
    pub path: String,
    /// Extra headers. `Content-Type: application/json` and `Accept: application/json` are added
    /// by the host when absent.
    pub headers: Vec<(String, String)>,
    /// Shared and cheap to clone: a body crossing the plugin boundary is kept where the plugin
    /// wrote it (even when another library's allocator made it), and the executor sends it, and
    /// sends it again on a retry, without copying it.
    pub body: Bytes,
    /// The destination's call tier (e.g. `"low"`): the host keeps one rate limiter per account
    /// and class, shared by every sync on that account. Empty means unmetered.
    pub rate_class: String,
    /// A scarce server-side slot this request takes (e.g. `"contact-import"`, at most 25 active).
    /// The host holds the slot from sending until the planner releases it through
    /// [`crate::DestinationPlanner::poll_released_slot`]. Empty means none.
    pub slot_class: String,
    /// Safe to send again when the fate of an attempt is unknown.
    pub idempotent: bool,
    /// Changes state at the destination. Dry runs (`plan`, `check`) never send such requests.
    pub writes: bool,
    /// Do not send before this time.
    pub not_before: Option<Millis>,
}

impl RequestSpec {
    /// A read: idempotent, no side effects.
    pub fn get(id: RequestId, path: impl Into<String>, rate_class: impl Into<String>) -> Self {
        RequestSpec {
            id,
            method: Method::Get,
            path: path.into(),
            headers: Vec::new(),
            body: Bytes::new(),
            rate_class: rate_class.into(),
            slot_class: String::new(),
            idempotent: true,
            writes: false,
            not_before: None,
        }
    }

    /// A write with a JSON body. Idempotent unless [`RequestSpec::not_idempotent`] says otherwise.
    pub fn write(
        id: RequestId,
        method: Method,
        path: impl Into<String>,
        body: Vec<u8>,
        rate_class: impl Into<String>,
    ) -> Self {
        RequestSpec {
            id,
            method,
            path: path.into(),
            headers: Vec::new(),
            body: Bytes::from(body),
            rate_class: rate_class.into(),
            slot_class: String::new(),
            idempotent: true,
            writes: true,
            not_before: None,
        }
    }

    pub fn not_idempotent(mut self) -> Self {
        self.idempotent = false;
        self
    }

    pub fn with_slot(mut self, slot_class: impl Into<String>) -> Self {
        self.slot_class = slot_class.into();
        self
    }

    pub fn not_before(mut self, at: Millis) -> Self {
        self.not_before = Some(at);
        self
    }
}

/// One response header, borrowed for the duration of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

/// A response as the planner sees it: borrowed, valid only during `handle_response`.
#[derive(Debug, Clone, Copy)]
pub struct ResponseView<'a> {
    pub status: u16,
    pub headers: &'a [Header<'a>],
    pub body: &'a [u8],
}

impl<'a> ResponseView<'a> {
    /// First header with this name, compared without regard to case.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Why the host gave up on a request without a response the planner should interpret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum FailureKind {
    /// Provably never reached the server (connection refused, DNS failure): safe to plan again.
    NotSent = 0,
    /// May have reached the server (timeout or connection lost after sending): its effect is unknown.
    Uncertain = 1,
    /// The server kept answering with a retryable error (429, 5xx, throttling) until retries ran out.
    Exhausted = 2,
    /// Not sent because this is a dry run (`plan` or `check`).
    DryRun = 3,
    /// The run was cancelled before the request was sent.
    Cancelled = 4,
}

impl FailureKind {
    pub fn from_u32(value: u32) -> Option<Self> {
        Some(match value {
            0 => FailureKind::NotSent,
            1 => FailureKind::Uncertain,
            2 => FailureKind::Exhausted,
            3 => FailureKind::DryRun,
            4 => FailureKind::Cancelled,
            _ => return None,
        })
    }
}

/// The host's account of a request it gave up on.
#[derive(Debug, Clone, Copy)]
pub struct Failure<'a> {
    pub kind: FailureKind,
    /// Last HTTP status seen, 0 when none.
    pub status: u16,
    pub message: &'a str,
}

/// What a planner tells the host when it cannot go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum ErrorKind {
    /// The configuration does not fit the destination (unknown field, missing list, wrong type).
    /// The CLI exits with the usage/config status.
    Config = 1,
    /// The destination refused us as a whole (credentials, permissions, region).
    Auth = 2,
    /// Anything else: the run stops, rows not yet delivered are reported failed.
    Fatal = 3,
}

impl ErrorKind {
    pub fn from_u32(value: u32) -> Self {
        match value {
            1 => ErrorKind::Config,
            2 => ErrorKind::Auth,
            _ => ErrorKind::Fatal,
        }
    }
}

/// A planner error that stops the run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PluginError {
    pub kind: ErrorKind,
    pub message: String,
}

impl PluginError {
    pub fn config(message: impl Into<String>) -> Self {
        PluginError {
            kind: ErrorKind::Config,
            message: message.into(),
        }
    }

    pub fn auth(message: impl Into<String>) -> Self {
        PluginError {
            kind: ErrorKind::Auth,
            message: message.into(),
        }
    }

    pub fn fatal(message: impl Into<String>) -> Self {
        PluginError {
            kind: ErrorKind::Fatal,
            message: message.into(),
        }
    }
}

/// What the rows of a batch mean.
///
/// Non-exhaustive: match it with a wildcard arm. A kind added later is pushed only to instances
/// that ask for it (as [`BatchKind::RepeatedKeys`] is), so such an arm never sees rows it should
/// have handled, and plugin source keeps compiling against a newer SDK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
#[non_exhaustive]
pub enum BatchKind {
    /// Rows to create or update (new or changed since the last delivered state).
    Upsert = 0,
    /// Keys that left the source: delete or remove them, in modes that do so. Holds the key
    /// columns only.
    Delete = 1,
    /// The key pre-pass's result, before any other batch: one non-null `UInt64` column
    /// ([`REPEATED_KEYS_COLUMN`](crate::REPEATED_KEYS_COLUMN)) of key hashes that the source
    /// holds more than once, ascending, each once; one empty batch when no key repeats. A key
    /// whose hash is in none of these batches occurs at most once in the rows to come. Only
    /// pushed to instances that ask for the pre-pass. ABI 1.3.
    RepeatedKeys = 2,
}

impl BatchKind {
    pub fn from_u32(value: u32) -> Option<Self> {
        match value {
            0 => Some(BatchKind::Upsert),
            1 => Some(BatchKind::Delete),
            2 => Some(BatchKind::RepeatedKeys),
            _ => None,
        }
    }
}

/// How the host runs the planner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunMode {
    /// Send everything.
    #[default]
    Run,
    /// Dry run: reads are sent, writes are recorded and answered with [`FailureKind::DryRun`].
    Plan,
    /// Pre-flight only: no input rows; reads check that everything the config names exists.
    Check,
}

/// What the host tells a planner at creation, besides its config. Crosses the ABI as JSON, so
/// fields may be added without breaking older plugins.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct PluginContext {
    /// Name of the sync in the user's config.
    pub sync_name: String,
    pub mode: RunMode,
}
