//! The host's HTTP executor: sends the [`RequestSpec`](dotsync_plugin_sdk::RequestSpec)s that
//! plugins plan to a Dotdigital-style API, the way a careful client does.
//!
//! What it does, outermost first, for each [`Executor::send`]:
//!
//! * **Slots**: a request naming a `slot_class` with a limit (e.g. 25 active contact imports)
//!   waits for a free slot before its first attempt; on success the slot comes back in
//!   [`Sent::slot`] and stays taken until the driver drops it (when the plugin releases it); on
//!   failure it is freed at once.
//! * **Rate limiting per account and call tier** (`rate_class`), before every attempt: holds the
//!   server asked for (`X-RateLimit-Remaining: 0`: calls of the tier paced one share of the
//!   window apart, reset / limit, since the budget refills as the window passes; `Retry-After`,
//!   `X-RateLimit-Reset` on 429), then optional self-imposed quotas ([`RateQuota`], a GCRA on
//!   tokio's clock). Shared by every clone of the executor, i.e. every sync on the account.
//! * **Retries** with capped exponential backoff and full jitter, replaced by the server's delay
//!   when it names one: 429, 400 `ERROR_APIUSAGE_EXCEEDED` (both mean "slow down", never "bad
//!   row") and connections that provably never reached the server are retried for any request;
//!   500/502/503/504, timeouts, resets and truncated bodies only for idempotent requests (a
//!   non-idempotent one, e.g. a message or an enrolment, fails `Uncertain` at once and is never
//!   resent: the server may have done the work).
//! * **Per-attempt timeout** (connect, send and the whole body), then reqwest over rustls with
//!   connection pooling, HTTP Basic auth, `Accept`/`Content-Type: application/json`.
//! * **Region resolution**: [`region_base_url`] for `r1`/`r2`/`r3`, [`detect_api_endpoint`]
//!   (account-info on r1) otherwise.
//! * **Call statistics**: [`ExecutorStats`] counts every HTTP attempt, retries, throttling, and
//!   attempts per rate class.
//!
//! What it does not do: no planning and no knowledge of rows, batches or what a plugin's calls
//! mean (a 4xx other than throttling is handed back as a [`Response`] for the plugin to read);
//! no `not_before` scheduling (the driver's job); no state store or journal; no dry-run
//! filtering. It never logs or returns the password or the `Authorization` header.

mod config;
mod error;
mod executor;
mod limits;
mod region;

pub use config::{Credentials, ExecutorConfig, RateQuota, Secret};
pub use error::{ExecutorError, SendFailure};
pub use executor::{Executor, ExecutorStats, Response, Sent, SlotPermit};
pub use limits::{TokioClock, TokioInstant};
pub use region::{Region, UnknownRegion, detect_api_endpoint, region_base_url};

/// Re-exported for callers matching on [`SendFailure::kind`].
pub use dotsync_plugin_sdk::FailureKind;
