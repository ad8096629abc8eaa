//! Regions (dotdigital-api.md §1): a region id gives the host; otherwise account-info on r1 says.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use dotsync_plugin_sdk::{FailureKind, RequestSpec};

use crate::config::{Credentials, ExecutorConfig};
use crate::error::ExecutorError;
use crate::executor::Executor;

/// A Dotdigital region. An account lives in exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    /// Europe.
    R1,
    /// North America.
    R2,
    /// Asia Pacific.
    R3,
}

impl Region {
    pub fn as_str(self) -> &'static str {
        match self {
            Region::R1 => "r1",
            Region::R2 => "r2",
            Region::R3 => "r3",
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a region id.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown region `{0}`: expected r1 (Europe), r2 (North America) or r3 (Asia Pacific)")]
pub struct UnknownRegion(pub String);

impl FromStr for Region {
    type Err = UnknownRegion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "r1" => Ok(Region::R1),
            "r2" => Ok(Region::R2),
            "r3" => Ok(Region::R3),
            _ => Err(UnknownRegion(s.to_string())),
        }
    }
}

/// `https://rN-api.dotdigital.com`.
pub fn region_base_url(region: Region) -> &'static str {
    match region {
        Region::R1 => "https://r1-api.dotdigital.com",
        Region::R2 => "https://r2-api.dotdigital.com",
        Region::R3 => "https://r3-api.dotdigital.com",
    }
}

/// Asks `GET {r1_base_url}/v2/account-info` which host serves this account and returns its
/// `ApiEndpoint` property without a trailing slash. Retries throttling and 5xx a few times;
/// `timeout` bounds each attempt.
pub async fn detect_api_endpoint(
    r1_base_url: &str,
    credentials: &Credentials,
    timeout: Duration,
) -> Result<String, ExecutorError> {
    let executor = Executor::new(ExecutorConfig {
        base_url: r1_base_url.to_string(),
        credentials: credentials.clone(),
        attempt_timeout: timeout,
        max_attempts: 3,
        backoff_initial: Duration::from_millis(500),
        backoff_max: Duration::from_secs(5),
        ..ExecutorConfig::default()
    })?;
    let url = format!("{}/v2/account-info", executor.base_url());
    let request = RequestSpec::get(1, "/v2/account-info", "");
    let response = match executor.send(&request).await {
        Ok(sent) => sent.response,
        Err(failure) => {
            return Err(match failure.kind {
                FailureKind::Exhausted => ExecutorError::Unavailable {
                    url,
                    message: failure.message,
                },
                _ => ExecutorError::Unreachable {
                    url,
                    source: failure.message.into(),
                },
            });
        }
    };
    match response.status {
        200..=299 => {}
        401 => {
            return Err(ExecutorError::Unauthorized {
                username: credentials.username.clone(),
            });
        }
        403 => {
            return Err(ExecutorError::Forbidden {
                username: credentials.username.clone(),
                url,
            });
        }
        status => {
            return Err(ExecutorError::BadResponse {
                url,
                message: format!("HTTP {status}: {}", snippet(&response.body)),
            });
        }
    }
    parse_api_endpoint(&response.body).map_err(|message| ExecutorError::BadResponse { url, message })
}

/// Reads the `ApiEndpoint` property of an account-info body.
pub(crate) fn parse_api_endpoint(body: &[u8]) -> Result<String, String> {
    #[derive(serde::Deserialize)]
    struct AccountInfo {
        #[serde(default)]
        properties: Vec<Property>,
    }
    #[derive(serde::Deserialize)]
    struct Property {
        name: String,
        #[serde(default)]
        value: serde_json::Value,
    }
    let info: AccountInfo =
        serde_json::from_slice(body).map_err(|e| format!("account-info is not the expected JSON ({e})"))?;
    let property = info
        .properties
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case("ApiEndpoint"))
        .ok_or_else(|| "account-info has no `ApiEndpoint` property".to_string())?;
    let value = property
        .value
        .as_str()
        .map(|v| v.trim().trim_end_matches('/'))
        .filter(|v| v.starts_with("https://") || v.starts_with("http://"))
        .ok_or_else(|| format!("`ApiEndpoint` is not a URL: {}", property.value))?;
    Ok(value.to_string())
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text.chars().take(200).collect();
    if text.chars().count() > 200 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_ids() {
        assert_eq!("r2".parse::<Region>(), Ok(Region::R2));
        assert_eq!(" R3 ".parse::<Region>(), Ok(Region::R3));
        assert!("eu".parse::<Region>().unwrap_err().to_string().contains("r1"));
        assert_eq!(region_base_url(Region::R1), "https://r1-api.dotdigital.com");
        assert_eq!(region_base_url(Region::R2), "https://r2-api.dotdigital.com");
        assert_eq!(region_base_url(Region::R3), "https://r3-api.dotdigital.com");
        assert_eq!(serde_json::to_string(&Region::R2).unwrap(), "\"r2\"");
        assert_eq!(serde_json::from_str::<Region>("\"r3\"").unwrap(), Region::R3);
    }

    #[test]
    fn api_endpoint_is_read_from_properties() {
        let body = br#"{"id": 1, "properties": [
            {"name": "Name", "type": "String", "value": "Acme"},
            {"name": "ApiEndpoint", "type": "String", "value": "https://r2-api.dotdigital.com/"}
        ]}"#;
        assert_eq!(parse_api_endpoint(body).unwrap(), "https://r2-api.dotdigital.com");
        let missing = br#"{"properties": [{"name": "Name", "value": "Acme"}]}"#;
        assert!(parse_api_endpoint(missing).unwrap_err().contains("ApiEndpoint"));
        let not_url = br#"{"properties": [{"name": "ApiEndpoint", "value": 3}]}"#;
        assert!(parse_api_endpoint(not_url).is_err());
        assert!(parse_api_endpoint(b"<html>").is_err());
    }
}
