//! The bench's own HTTP client (reqwest on a small tokio runtime): control calls to the
//! emulator and the raw clients of the ingest and naive-baseline scenarios, which must not share
//! any code with the plugins they are compared with.

use std::future::Future;

use serde_json::Value;

/// Demo account credentials of the emulator (`dotsync emulator` without options).
pub const DEMO_USERNAME: &str = "demo@apiconnector.com";
pub const DEMO_PASSWORD: &str = "demo-password-1";

/// A tokio runtime and one connection-pooling client.
pub struct Http {
    runtime: tokio::runtime::Runtime,
    pub client: reqwest::Client,
}

impl Http {
    pub fn new() -> Result<Http, String> {
        // Plain HTTP to 127.0.0.1 only, but reqwest is built without a default TLS provider and
        // wants one installed before a client is built.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| format!("cannot start a tokio runtime: {error}"))?;
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|error| format!("cannot build an HTTP client: {error}"))?;
        Ok(Http { runtime, client })
    }

    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    pub fn get_json(&self, url: &str) -> Result<Value, String> {
        self.block_on(async {
            let response = self
                .client
                .get(url)
                .send()
                .await
                .map_err(|error| format!("GET {url}: {error}"))?;
            if !response.status().is_success() {
                return Err(format!("GET {url}: HTTP {}", response.status()));
            }
            let text = response.text().await.map_err(|error| format!("GET {url}: {error}"))?;
            serde_json::from_str(&text).map_err(|error| format!("GET {url}: the answer is not JSON: {error}"))
        })
    }

    pub fn put_json(&self, url: &str, body: &Value) -> Result<(), String> {
        self.block_on(async {
            let response = self
                .client
                .put(url)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .map_err(|error| format!("PUT {url}: {error}"))?;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(format!("PUT {url}: HTTP {}", response.status()))
            }
        })
    }
}
