//! Configuration: credentials, timeouts, retry schedule, quotas and slot limits.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

/// A secret string (an API user's password). `Debug` and `Display` print `***`; only
/// [`Secret::expose`] gives the value, so it cannot end up in a log or an error by accident.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret value. Call only where it is put on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// An API user: sent as HTTP Basic authentication on every call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: Secret,
}

impl Credentials {
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials {
            username: username.into(),
            password: Secret::new(password),
        }
    }
}

/// A self-imposed quota: at most `calls` calls per `per`, as a steady rate with a burst of
/// `calls` (GCRA: after a burst, one call every `per / calls`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateQuota {
    pub calls: u32,
    pub per: Duration,
}

impl RateQuota {
    pub fn per_minute(calls: u32) -> Self {
        RateQuota {
            calls,
            per: Duration::from_secs(60),
        }
    }

    pub fn per_hour(calls: u32) -> Self {
        RateQuota {
            calls,
            per: Duration::from_secs(3600),
        }
    }
}

/// How one [`crate::Executor`] (one account) talks to the API.
#[derive(Clone, Debug)]
pub struct ExecutorConfig {
    /// Scheme, host and optional path prefix, without a trailing slash, e.g.
    /// `https://r1-api.dotdigital.com` or `http://127.0.0.1:PORT/r2`. The request's path is
    /// appended as is.
    pub base_url: String,
    pub credentials: Credentials,
    /// Limit for one attempt: connecting, sending and reading the whole response body.
    /// Dotdigital asks clients to allow 121 s.
    pub attempt_timeout: Duration,
    /// Attempts per request, the first one included. 0 is taken as 1.
    pub max_attempts: u32,
    /// Upper bound of the first retry's delay (full jitter draws below it).
    pub backoff_initial: Duration,
    /// Cap of the exponential backoff.
    pub backoff_max: Duration,
    /// Self-imposed quota per rate class (e.g. `"enrolment"` = 20 per hour). Classes without an
    /// entry are limited only by what the server says.
    pub rate_limits: HashMap<String, RateQuota>,
    /// Concurrent server-side jobs per slot class (e.g. `"contact-import"` = 25). Classes without
    /// an entry are unlimited.
    pub slot_limits: HashMap<String, usize>,
    pub user_agent: String,
}

impl Default for ExecutorConfig {
    /// Dotdigital's guidance where it gives any; `base_url` and `credentials` are empty and must
    /// be set by the caller.
    fn default() -> Self {
        ExecutorConfig {
            base_url: String::new(),
            credentials: Credentials::new("", ""),
            attempt_timeout: Duration::from_secs(121),
            max_attempts: 8,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(5 * 60),
            rate_limits: HashMap::new(),
            slot_limits: HashMap::new(),
            user_agent: concat!("dotsync/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let creds = Credentials::new("apiuser-1@apiconnector.com", "hunter22");
        let shown = format!("{creds:?} {}", creds.password);
        assert!(!shown.contains("hunter22"), "{shown}");
        assert!(shown.contains("***"));
        assert_eq!(creds.password.expose(), "hunter22");
        let config = ExecutorConfig {
            credentials: creds,
            ..ExecutorConfig::default()
        };
        assert!(!format!("{config:?}").contains("hunter22"));
    }

    #[test]
    fn defaults_follow_the_guidance() {
        let config = ExecutorConfig::default();
        assert_eq!(config.attempt_timeout, Duration::from_secs(121));
        assert_eq!(config.max_attempts, 8);
        assert_eq!(config.backoff_initial, Duration::from_secs(1));
        assert_eq!(config.backoff_max, Duration::from_secs(300));
        assert!(config.rate_limits.is_empty() && config.slot_limits.is_empty());
        assert!(config.user_agent.starts_with("dotsync/"));
    }
}
