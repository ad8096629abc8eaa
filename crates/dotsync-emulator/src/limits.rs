//! Per-account rate limits: tiered token buckets (default), the legacy flat hourly scheme, the
//! enrolment allowance and the active-import caps. All time is `tokio::time::Instant`, so tests
//! can run under `#[tokio::test(start_paused = true)]`.

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::time::Duration;
use tokio::time::Instant;

/// Call-rate tier of an endpoint. The real per-tier numbers are unpublished; see [`LimitsConfig`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Bulk imports, bulk deletes and large listings.
    Low,
    /// Single-record writes, list/field creation, enrolments, campaign sends.
    Medium,
    /// Lightweight reads and status polls.
    High,
    /// Message sends (transactional email, SMS): not rate limited.
    Unlimited,
}

impl Tier {
    /// Lower-case name, as sent in `X-RateLimit-Scope`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Low => "low",
            Tier::Medium => "medium",
            Tier::High => "high",
            Tier::Unlimited => "unlimited",
        }
    }
}

/// The rate limiting scheme of an API user.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum RateScheme {
    /// Per-minute budget per tier (the default).
    #[default]
    Tiered,
    /// Legacy: a fixed number of calls per rolling hour; excess answers 400 `ERROR_APIUSAGE_EXCEEDED`.
    Flat {
        /// Calls allowed per rolling hour (historically 2,000).
        calls_per_hour: u32,
    },
}

/// Rate-limit configuration (shared by all accounts; the scheme is per account).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LimitsConfig {
    /// Master switch; `false` disables every limit below.
    pub enabled: bool,
    /// Low tier budget per minute (default 60).
    pub low_per_minute: u32,
    /// Medium tier budget per minute (default 300).
    pub medium_per_minute: u32,
    /// High tier budget per minute (default 600).
    pub high_per_minute: u32,
    /// Enrolment calls per rolling hour per account (documented: 20).
    pub enrolments_per_hour: u32,
    /// Active contact imports per account (documented: 25).
    pub max_active_contact_imports: usize,
    /// Active insight imports per account (documented: 5).
    pub max_active_insight_imports: usize,
    /// Override the tier of endpoints: key `"METHOD /route/{pattern}"` as shown in the request log.
    pub tier_overrides: HashMap<String, Tier>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            low_per_minute: 60,
            medium_per_minute: 300,
            high_per_minute: 600,
            enrolments_per_hour: 20,
            max_active_contact_imports: 25,
            max_active_insight_imports: 5,
            tier_overrides: HashMap::new(),
        }
    }
}

impl LimitsConfig {
    /// No limits at all (benchmarks).
    pub fn off() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }

    /// Same budget per minute for the low, medium and high tiers (handy in tests).
    pub fn per_minute(n: u32) -> Self {
        Self {
            low_per_minute: n,
            medium_per_minute: n,
            high_per_minute: n,
            ..Self::default()
        }
    }

    fn budget(&self, tier: Tier) -> Option<u32> {
        match tier {
            Tier::Low => Some(self.low_per_minute),
            Tier::Medium => Some(self.medium_per_minute),
            Tier::High => Some(self.high_per_minute),
            Tier::Unlimited => None,
        }
    }
}

/// Header values for one response.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RateInfo {
    pub limit: u32,
    pub remaining: u32,
    pub reset_secs: u64,
    pub scope: &'static str,
    /// Set when the call was refused.
    pub retry_after: Option<u64>,
    /// Refused by the flat scheme (400 `ERROR_APIUSAGE_EXCEEDED`) rather than a tier (429).
    pub flat: bool,
}

impl RateInfo {
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut h = vec![
            ("x-ratelimit-limit", self.limit.to_string()),
            ("x-ratelimit-remaining", self.remaining.to_string()),
            ("x-ratelimit-reset", self.reset_secs.to_string()),
            ("x-ratelimit-scope", self.scope.to_string()),
        ];
        if let Some(r) = self.retry_after {
            h.push(("retry-after", r.to_string()));
        }
        h
    }
}

/// A token bucket of `capacity` tokens refilled continuously at `capacity` per minute.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub fn new(capacity: u32, now: Instant) -> Self {
        Self {
            capacity: capacity as f64,
            tokens: capacity as f64,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * self.capacity / 60.0).min(self.capacity);
        self.last = now;
    }

    /// Takes one token. `Ok((remaining, reset))` or `Err((retry_after, reset))`, in seconds.
    pub fn take(&mut self, now: Instant) -> Result<(u32, u64), (u64, u64)> {
        self.refill(now);
        let per_token = 60.0 / self.capacity.max(1.0);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            let reset = ((self.capacity - self.tokens) * per_token).ceil() as u64;
            Ok((self.tokens.floor() as u32, reset))
        } else {
            let retry = ((1.0 - self.tokens) * per_token).ceil().max(1.0) as u64;
            let reset = ((self.capacity - self.tokens) * per_token).ceil() as u64;
            Err((retry, reset))
        }
    }
}

/// Runtime limiter state (not persisted).
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    buckets: HashMap<(u64, Tier), Bucket>,
    flat: HashMap<u64, VecDeque<Instant>>,
    enrolments: HashMap<u64, VecDeque<Instant>>,
}

const HOUR: Duration = Duration::from_secs(3600);

impl Limiter {
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// Accounts one call. `Ok(None)` when unlimited.
    pub fn check(
        &mut self,
        cfg: &LimitsConfig,
        account: u64,
        scheme: &RateScheme,
        tier: Tier,
        now: Instant,
    ) -> Result<Option<RateInfo>, RateInfo> {
        if !cfg.enabled {
            return Ok(None);
        }
        match scheme {
            RateScheme::Flat { calls_per_hour } => {
                if tier == Tier::Unlimited {
                    return Ok(None);
                }
                let q = self.flat.entry(account).or_default();
                while q.front().is_some_and(|t| now.saturating_duration_since(*t) >= HOUR) {
                    q.pop_front();
                }
                let reset = |q: &VecDeque<Instant>| {
                    q.front().map_or(0, |t| {
                        (HOUR.saturating_sub(now.saturating_duration_since(*t)))
                            .as_secs_f64()
                            .ceil() as u64
                    })
                };
                if q.len() as u64 >= *calls_per_hour as u64 {
                    let r = reset(q).max(1);
                    return Err(RateInfo {
                        limit: *calls_per_hour,
                        remaining: 0,
                        reset_secs: r,
                        scope: "flat",
                        retry_after: Some(r),
                        flat: true,
                    });
                }
                q.push_back(now);
                Ok(Some(RateInfo {
                    limit: *calls_per_hour,
                    remaining: calls_per_hour.saturating_sub(q.len() as u32),
                    reset_secs: reset(q),
                    scope: "flat",
                    retry_after: None,
                    flat: false,
                }))
            }
            RateScheme::Tiered => {
                let Some(cap) = cfg.budget(tier) else { return Ok(None) };
                let b = self
                    .buckets
                    .entry((account, tier))
                    .or_insert_with(|| Bucket::new(cap, now));
                match b.take(now) {
                    Ok((remaining, reset)) => Ok(Some(RateInfo {
                        limit: cap,
                        remaining,
                        reset_secs: reset,
                        scope: tier.as_str(),
                        retry_after: None,
                        flat: false,
                    })),
                    Err((retry, reset)) => Err(RateInfo {
                        limit: cap,
                        remaining: 0,
                        reset_secs: reset,
                        scope: tier.as_str(),
                        retry_after: Some(retry),
                        flat: false,
                    }),
                }
            }
        }
    }

    /// Remaining calls for `account-info`'s `ApiCallsRemaining` (flat: hour budget; tiered: high tier).
    pub fn remaining(&mut self, cfg: &LimitsConfig, account: u64, scheme: &RateScheme, now: Instant) -> u32 {
        match scheme {
            RateScheme::Flat { calls_per_hour } => {
                let q = self.flat.entry(account).or_default();
                while q.front().is_some_and(|t| now.saturating_duration_since(*t) >= HOUR) {
                    q.pop_front();
                }
                calls_per_hour.saturating_sub(q.len() as u32)
            }
            RateScheme::Tiered => match self.buckets.get_mut(&(account, Tier::High)) {
                Some(b) => {
                    b.refill(now);
                    b.tokens.floor() as u32
                }
                None => cfg.high_per_minute,
            },
        }
    }

    /// Accounts one enrolment call; `false` when the hourly allowance is used up.
    pub fn enrolment(&mut self, cfg: &LimitsConfig, account: u64, now: Instant) -> bool {
        if !cfg.enabled {
            return true;
        }
        let q = self.enrolments.entry(account).or_default();
        while q.front().is_some_and(|t| now.saturating_duration_since(*t) >= HOUR) {
            q.pop_front();
        }
        if q.len() as u64 >= cfg.enrolments_per_hour as u64 {
            return false;
        }
        q.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bucket_refills_per_minute() {
        let cfg = LimitsConfig::per_minute(3);
        let mut l = Limiter::default();
        let now = Instant::now();
        for left in [2, 1, 0] {
            let r = l.check(&cfg, 1, &RateScheme::Tiered, Tier::Low, now).unwrap().unwrap();
            assert_eq!(r.remaining, left);
            assert_eq!(r.limit, 3);
        }
        let e = l.check(&cfg, 1, &RateScheme::Tiered, Tier::Low, now).unwrap_err();
        assert_eq!(e.retry_after, Some(20));
        assert_eq!(e.reset_secs, 60);
        // Other tiers and accounts have their own buckets.
        assert!(l.check(&cfg, 1, &RateScheme::Tiered, Tier::High, now).is_ok());
        assert!(l.check(&cfg, 2, &RateScheme::Tiered, Tier::Low, now).is_ok());
        tokio::time::advance(Duration::from_secs(20)).await;
        let r = l
            .check(&cfg, 1, &RateScheme::Tiered, Tier::Low, Instant::now())
            .unwrap()
            .unwrap();
        assert_eq!(r.remaining, 0);
        tokio::time::advance(Duration::from_secs(60)).await;
        let r = l
            .check(&cfg, 1, &RateScheme::Tiered, Tier::Low, Instant::now())
            .unwrap()
            .unwrap();
        assert_eq!(r.remaining, 2);
        // Sends are unlimited.
        assert_eq!(
            l.check(&cfg, 1, &RateScheme::Tiered, Tier::Unlimited, Instant::now()),
            Ok(None)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn flat_scheme_is_a_rolling_hour() {
        let cfg = LimitsConfig::default();
        let scheme = RateScheme::Flat { calls_per_hour: 2 };
        let mut l = Limiter::default();
        assert!(l.check(&cfg, 1, &scheme, Tier::High, Instant::now()).is_ok());
        tokio::time::advance(Duration::from_secs(1800)).await;
        assert!(l.check(&cfg, 1, &scheme, Tier::Low, Instant::now()).is_ok());
        let e = l.check(&cfg, 1, &scheme, Tier::Low, Instant::now()).unwrap_err();
        assert!(e.flat);
        assert_eq!(e.reset_secs, 1800);
        tokio::time::advance(Duration::from_secs(1800)).await;
        assert!(l.check(&cfg, 1, &scheme, Tier::Low, Instant::now()).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn enrolment_allowance_per_hour() {
        let cfg = LimitsConfig {
            enrolments_per_hour: 2,
            ..LimitsConfig::default()
        };
        let mut l = Limiter::default();
        assert!(l.enrolment(&cfg, 1, Instant::now()));
        assert!(l.enrolment(&cfg, 1, Instant::now()));
        assert!(!l.enrolment(&cfg, 1, Instant::now()));
        tokio::time::advance(HOUR).await;
        assert!(l.enrolment(&cfg, 1, Instant::now()));
        assert!(Limiter::default().enrolment(&LimitsConfig::off(), 1, Instant::now()));
    }

    #[test]
    fn off_disables_everything() {
        let mut l = Limiter::default();
        let now = Instant::now();
        for _ in 0..10_000 {
            assert_eq!(
                l.check(&LimitsConfig::off(), 1, &RateScheme::Tiered, Tier::Low, now),
                Ok(None)
            );
        }
    }
}
