//! Rate limiting per rate class: self-imposed quotas (governor GCRA over tokio's clock) and
//! holds learned from the server (`X-RateLimit-*`, `Retry-After`, 429).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::ops::Add;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use governor::clock::{Clock, ReasonablyRealtime, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

use crate::config::RateQuota;

/// The longest the executor waits on the server's word (`Retry-After`, `X-RateLimit-Reset`): a
/// flat-scheme window is an hour; anything longer is taken as garbage and capped.
pub(crate) const MAX_SERVER_DELAY: Duration = Duration::from_secs(3600);

/// `X-RateLimit-Reset` values at or above this are epoch seconds (2001-09-09); below, seconds to
/// wait (dotdigital-api.md §2: "small number ⇒ seconds to wait, huge number ⇒ epoch").
const EPOCH_THRESHOLD: f64 = 1_000_000_000.0;

/// A point on tokio's clock, so governor follows `tokio::time::pause`/`advance` in tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TokioInstant(Instant);

impl Add<Nanos> for TokioInstant {
    type Output = TokioInstant;

    fn add(self, other: Nanos) -> TokioInstant {
        TokioInstant(self.0 + Duration::from(other))
    }
}

impl Reference for TokioInstant {
    fn duration_since(&self, earlier: Self) -> Nanos {
        self.0.saturating_duration_since(earlier.0).into()
    }

    fn saturating_sub(&self, duration: Nanos) -> Self {
        TokioInstant(self.0.checked_sub(Duration::from(duration)).unwrap_or(self.0))
    }
}

/// governor's clock over `tokio::time::Instant`.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    type Instant = TokioInstant;

    fn now(&self) -> TokioInstant {
        TokioInstant(Instant::now())
    }
}

impl ReasonablyRealtime for TokioClock {}

type Limiter = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<TokioInstant>>;

/// Builds governor's quota: a burst of `calls`, then one call every `per / calls`.
pub(crate) fn governor_quota(quota: RateQuota) -> Option<Quota> {
    let calls = NonZeroU32::new(quota.calls)?;
    let period = quota.per / quota.calls;
    Some(Quota::with_period(period)?.allow_burst(calls))
}

/// Per-class gate shared by every clone of one executor (= one account).
pub(crate) struct RateGate {
    quotas: HashMap<String, Limiter>,
    /// Class -> no request of that class before this instant (learned from the server).
    holds: Mutex<HashMap<String, Instant>>,
    /// Class -> the pace the server's budget allows, while it is spent.
    paces: Mutex<HashMap<String, Pace>>,
}

/// Calls of a class spaced by one call's share of the server's window: learned when a response
/// says the budget is spent, dropped when one says it has room again.
#[derive(Debug, Clone, Copy)]
struct Pace {
    interval: Duration,
    /// The earliest instant the next call may go.
    next: Instant,
}

impl RateGate {
    /// Fails with the class name of a quota that cannot work (0 calls or 0 period).
    pub(crate) fn new(quotas: &HashMap<String, RateQuota>) -> Result<Self, String> {
        let mut limiters = HashMap::new();
        for (class, quota) in quotas {
            let q = governor_quota(*quota).ok_or_else(|| class.clone())?;
            limiters.insert(class.clone(), RateLimiter::direct_with_clock(q, TokioClock));
        }
        Ok(RateGate {
            quotas: limiters,
            holds: Mutex::new(HashMap::new()),
            paces: Mutex::new(HashMap::new()),
        })
    }

    /// Waits until a call of `class` may go: first any hold the server asked for, then the
    /// self-imposed quota (which this call then uses up). Returns the time spent waiting.
    pub(crate) async fn acquire(&self, class: &str) -> Duration {
        let start = Instant::now();
        loop {
            if let Some(until) = self.hold_until(class)
                && until > Instant::now()
            {
                tracing::debug!(
                    rate_class = class,
                    wait_ms = until.saturating_duration_since(Instant::now()).as_millis() as u64,
                    "holding requests until the server's rate limit resets"
                );
                tokio::time::sleep_until(until).await;
                continue;
            }
            if let Some(slot) = self.take_paced_slot(class)
                && slot > Instant::now()
            {
                tracing::debug!(
                    rate_class = class,
                    wait_ms = slot.saturating_duration_since(Instant::now()).as_millis() as u64,
                    "pacing requests to the server's rate limit"
                );
                tokio::time::sleep_until(slot).await;
            }
            match self.quotas.get(class).map(|limiter| limiter.check()) {
                None | Some(Ok(())) => break,
                Some(Err(not_until)) => {
                    let wait = not_until.wait_time_from(TokioClock.now());
                    tracing::debug!(
                        rate_class = class,
                        wait_ms = wait.as_millis() as u64,
                        "self-imposed quota reached; waiting"
                    );
                    tokio::time::sleep(wait).await;
                }
            }
        }
        start.elapsed()
    }

    /// Reserves the next paced slot of `class`, if the class is paced: callers queue one share
    /// apart instead of all going when a hold ends (and all but one being refused).
    fn take_paced_slot(&self, class: &str) -> Option<Instant> {
        let mut paces = self.paces.lock().unwrap_or_else(|e| e.into_inner());
        let pace = paces.get_mut(class)?;
        let slot = pace.next.max(Instant::now());
        pace.next = slot + pace.interval;
        Some(slot)
    }

    fn hold_until(&self, class: &str) -> Option<Instant> {
        self.holds.lock().unwrap_or_else(|e| e.into_inner()).get(class).copied()
    }

    /// Holds `class` for `delay` from now (never shortens an existing hold).
    pub(crate) fn hold(&self, class: &str, delay: Duration) {
        let until = Instant::now() + delay.min(MAX_SERVER_DELAY);
        let mut holds = self.holds.lock().unwrap_or_else(|e| e.into_inner());
        let entry = holds.entry(class.to_string()).or_insert(until);
        if *entry < until {
            *entry = until;
        }
    }

    /// Reads `X-RateLimit-Remaining`/`X-RateLimit-Reset`/`X-RateLimit-Limit` from any response.
    /// When the budget is spent, the class is paced at one call per share of the window (reset /
    /// limit) from now on, or held until the reset when the limit is not given; once a response
    /// shows room again (2 or more calls left), pacing stops. Returns the wait the next call of
    /// the class faces, if any.
    ///
    /// Why pace rather than wait for the reset: the budget refills as the window passes (a
    /// per-tier token bucket), so waiting for a whole window leaves it idle most of the time, and
    /// releasing every waiting request at once when a hold ends has all but one refused. Should a
    /// server refill the whole window at once instead, the next call is answered 429 with its own
    /// delay, which holds the class for the rest: one refused call per window.
    pub(crate) fn observe(&self, class: &str, headers: &[(String, String)]) -> Option<Duration> {
        let remaining = header(headers, "x-ratelimit-remaining")?.trim().parse::<f64>().ok()?;
        if remaining >= 2.0 {
            self.paces.lock().unwrap_or_else(|e| e.into_inner()).remove(class);
            return None;
        }
        if remaining > 0.0 {
            return None;
        }
        let reset = reset_delay(header(headers, "x-ratelimit-reset")?, SystemTime::now())?;
        let limit = header(headers, "x-ratelimit-limit")
            .and_then(|value| value.trim().parse::<f64>().ok())
            .filter(|limit| limit.is_finite() && *limit >= 1.0);
        let Some(limit) = limit else {
            self.hold(class, reset);
            return Some(reset);
        };
        let interval = reset.div_f64(limit);
        let mut paces = self.paces.lock().unwrap_or_else(|e| e.into_inner());
        let pace = paces.entry(class.to_string()).or_insert(Pace {
            interval,
            next: Instant::now() + interval,
        });
        pace.interval = interval;
        Some(pace.next.saturating_duration_since(Instant::now()))
    }
}

/// First header with this name, compared without regard to case.
pub(crate) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Non-negative seconds, fractions allowed (lenient: the standards say integers).
fn seconds(value: &str) -> Option<Duration> {
    let n = value.trim().parse::<f64>().ok()?;
    (n.is_finite() && n >= 0.0).then(|| Duration::from_secs_f64(n.min(1e12)))
}

/// `X-RateLimit-Reset`: seconds to wait when small, epoch seconds when huge.
pub(crate) fn reset_delay(value: &str, now: SystemTime) -> Option<Duration> {
    let n = value.trim().parse::<f64>().ok()?;
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    let delay = if n >= EPOCH_THRESHOLD {
        let at = UNIX_EPOCH + Duration::from_secs_f64(n.min(1e12));
        at.duration_since(now).unwrap_or(Duration::ZERO)
    } else {
        Duration::from_secs_f64(n)
    };
    Some(delay.min(MAX_SERVER_DELAY))
}

/// `Retry-After`: delay-seconds or an HTTP date.
pub(crate) fn retry_after_delay(value: &str, now: SystemTime) -> Option<Duration> {
    let delay = match seconds(value) {
        Some(d) => d,
        None => {
            let at = httpdate::parse_http_date(value.trim()).ok()?;
            at.duration_since(now).unwrap_or(Duration::ZERO)
        }
    };
    Some(delay.min(MAX_SERVER_DELAY))
}

/// The delay a throttling response asks for: `Retry-After`, else `X-RateLimit-Reset`.
pub(crate) fn server_delay(headers: &[(String, String)], throttled: bool) -> Option<Duration> {
    let now = SystemTime::now();
    if let Some(d) = header(headers, "retry-after").and_then(|v| retry_after_delay(v, now)) {
        return Some(d);
    }
    if throttled {
        return header(headers, "x-ratelimit-reset").and_then(|v| reset_delay(v, now));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn reset_small_is_seconds_huge_is_epoch() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(reset_delay("30", now), Some(Duration::from_secs(30)));
        assert_eq!(reset_delay("0.25", now), Some(Duration::from_millis(250)));
        assert_eq!(reset_delay("1700000042", now), Some(Duration::from_secs(42)));
        assert_eq!(reset_delay("1600000000", now), Some(Duration::ZERO));
        assert_eq!(reset_delay("abc", now), None);
        assert_eq!(reset_delay("-3", now), None);
        assert_eq!(reset_delay("999999", now), Some(MAX_SERVER_DELAY));
    }

    #[test]
    fn retry_after_seconds_or_http_date() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(retry_after_delay("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after_delay("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            retry_after_delay("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after_delay("soon", now), None);
    }

    #[test]
    fn server_delay_prefers_retry_after_and_reads_reset_only_when_throttled() {
        let headers = h(&[("Retry-After", "2"), ("X-RateLimit-Reset", "9")]);
        assert_eq!(server_delay(&headers, true), Some(Duration::from_secs(2)));
        let headers = h(&[("x-ratelimit-reset", "9")]);
        assert_eq!(server_delay(&headers, true), Some(Duration::from_secs(9)));
        assert_eq!(server_delay(&headers, false), None);
    }

    #[tokio::test(start_paused = true)]
    async fn quota_three_per_minute_makes_the_fourth_wait_twenty_seconds() {
        let mut quotas = HashMap::new();
        quotas.insert("enrolment".to_string(), RateQuota::per_minute(3));
        let gate = RateGate::new(&quotas).unwrap();
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(gate.acquire("enrolment").await, Duration::ZERO);
        }
        // Other classes are not metered.
        assert_eq!(gate.acquire("low").await, Duration::ZERO);
        gate.acquire("enrolment").await;
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(20) && waited < Duration::from_secs(21),
            "{waited:?}"
        );
        gate.acquire("enrolment").await;
        assert!(start.elapsed() >= Duration::from_secs(40));
    }

    #[tokio::test(start_paused = true)]
    async fn remaining_zero_holds_the_class_for_one_calls_share_of_the_window() {
        let gate = RateGate::new(&HashMap::new()).unwrap();
        let held = gate.observe(
            "medium",
            &h(&[
                ("X-RateLimit-Limit", "100"),
                ("X-RateLimit-Remaining", "0"),
                ("X-RateLimit-Reset", "30"),
            ]),
        );
        assert_eq!(held, Some(Duration::from_millis(300)));
        let waited = gate.acquire("medium").await;
        assert!(
            waited >= Duration::from_millis(300) && waited < Duration::from_millis(310),
            "{waited:?}"
        );
        // Callers waiting together go one share apart, not all at once.
        let (second, third) = tokio::join!(gate.acquire("medium"), gate.acquire("medium"));
        let mut waits = [second, third];
        waits.sort();
        assert!(
            waits[0] >= Duration::from_millis(300) && waits[0] < Duration::from_millis(310),
            "{waits:?}"
        );
        assert!(
            waits[1] >= Duration::from_millis(600) && waits[1] < Duration::from_millis(610),
            "{waits:?}"
        );
        // Room again: no more pacing.
        gate.observe(
            "medium",
            &h(&[
                ("X-RateLimit-Limit", "100"),
                ("X-RateLimit-Remaining", "40"),
                ("X-RateLimit-Reset", "30"),
            ]),
        );
        assert_eq!(gate.acquire("medium").await, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn remaining_zero_without_a_limit_holds_the_class_until_reset() {
        let gate = RateGate::new(&HashMap::new()).unwrap();
        let held = gate.observe(
            "low",
            &h(&[("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "30")]),
        );
        assert_eq!(held, Some(Duration::from_secs(30)));
        // Remaining > 0 holds nothing.
        assert_eq!(
            gate.observe(
                "high",
                &h(&[("X-RateLimit-Remaining", "5"), ("X-RateLimit-Reset", "30")])
            ),
            None
        );
        assert_eq!(gate.acquire("high").await, Duration::ZERO);
        let waited = gate.acquire("low").await;
        assert!(
            waited >= Duration::from_secs(30) && waited < Duration::from_secs(31),
            "{waited:?}"
        );
        // The hold is over.
        assert_eq!(gate.acquire("low").await, Duration::ZERO);
    }

    #[test]
    fn zero_quota_is_refused() {
        let mut quotas = HashMap::new();
        quotas.insert("x".to_string(), RateQuota::per_minute(0));
        assert_eq!(RateGate::new(&quotas).err(), Some("x".to_string()));
    }
}
