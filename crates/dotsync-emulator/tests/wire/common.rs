//! Shared helpers for the wire tests.

use dotsync_emulator::{DEMO_PASSWORD, DEMO_USERNAME, Emulator, EmulatorConfig, EmulatorHandle, LimitsConfig};
use reqwest::Method;
use serde_json::Value;
use std::time::Duration;

pub const USER: &str = DEMO_USERNAME;

pub struct T {
    pub h: EmulatorHandle,
    pub c: reqwest::Client,
    pub base: String,
}

pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
    }
    /// v2 error code: the trailing ERROR_* token of `message`.
    pub fn v2_message(&self) -> String {
        self.json()["message"].as_str().unwrap_or_default().to_string()
    }
    pub fn v3_code(&self) -> String {
        self.json()["errorCode"].as_str().unwrap_or_default().to_string()
    }
}

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

pub fn quick() -> EmulatorConfig {
    EmulatorConfig::demo()
        .with_import_delay(Duration::ZERO)
        .with_limits(LimitsConfig::off())
}

impl T {
    pub async fn new() -> T {
        Self::with(quick()).await
    }

    pub async fn with(cfg: EmulatorConfig) -> T {
        let h = Emulator::start(cfg).await.expect("start");
        let base = h.base_url();
        T { h, c: client(), base }
    }

    pub async fn raw(&self, method: &str, path: &str, body: Option<&Value>, auth: Option<(&str, &str)>) -> Resp {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{}", self.base, path)
        };
        let mut rb = self
            .c
            .request(Method::from_bytes(method.as_bytes()).expect("method"), url);
        if let Some((u, p)) = auth {
            rb = rb.basic_auth(u, Some(p));
        }
        if let Some(b) = body {
            rb = rb.json(b);
        }
        let r = rb.send().await.expect("request");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.expect("body");
        Resp { status, headers, text }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        self.raw(method, path, body.as_ref(), Some((DEMO_USERNAME, DEMO_PASSWORD)))
            .await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.call("POST", path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.call("PUT", path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.call("PATCH", path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.call("DELETE", path, None).await
    }

    /// Sends a body that is not JSON-encoded by reqwest.
    pub async fn send_text(&self, method: &str, path: &str, body: &str, content_type: &str) -> Resp {
        let r = self
            .c
            .request(
                Method::from_bytes(method.as_bytes()).expect("method"),
                format!("{}{}", self.base, path),
            )
            .basic_auth(DEMO_USERNAME, Some(DEMO_PASSWORD))
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.expect("body");
        Resp { status, headers, text }
    }

    /// Polls an import status URL until `field` leaves `pending`.
    pub async fn wait(&self, path: &str, field: &str, pending: &str) -> Value {
        for _ in 0..200 {
            let r = self.get(path).await;
            assert_eq!(r.status, 200, "{}", r.text);
            let v = r.json();
            if v[field] != pending {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{path} never finished");
    }
}
