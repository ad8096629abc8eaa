//! The crate's error type and the API error bodies (v2 and v3).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::path::PathBuf;

/// Errors of the emulator's Rust API (never sent over the wire).
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// The listening socket could not be bound.
    #[error("could not bind 127.0.0.1:{port}: {source}")]
    Bind {
        /// Requested port (0 = any).
        port: u16,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Reading or writing a state or seed file failed.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A state or seed file is not valid JSON of the expected shape.
    #[error("{path} is not a valid emulator file: {source}")]
    Format {
        /// The file.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// `save()` was called but no `state_file` is configured.
    #[error("no state_file configured")]
    NoStateFile,
    /// A seed is invalid (unknown data field, duplicate list, ...).
    #[error("invalid seed: {0}")]
    Seed(String),
    /// Bad configuration.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The server task failed.
    #[error("server error: {0}")]
    Server(String),
}

/// Which API generation (and v3 service) an endpoint belongs to; decides the error body shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Gen {
    V2,
    V3(&'static str),
}

/// An error answered to an HTTP client.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub body: Value,
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    /// A v2 error: `{"message": "..."}`.
    pub fn v2(status: u16, message: impl Into<String>) -> Self {
        Self::raw(status, json!({ "message": message.into() }))
    }

    /// A v2 error whose message ends in an `ERROR_*` code.
    pub fn v2c(status: u16, sentence: &str, code: &str) -> Self {
        if sentence.is_empty() {
            Self::v2(status, format!("Error: {code}"))
        } else {
            Self::v2(status, format!("{sentence} {code}"))
        }
    }

    /// A v3 error: `{"errorCode": "<service>:<code>", "description": "...", "details": []}`.
    pub fn v3(status: u16, code: impl Into<String>, description: impl Into<String>) -> Self {
        Self::raw(
            status,
            json!({ "errorCode": code.into(), "description": description.into(), "details": [] }),
        )
    }

    /// Adds a `{item, description}` entry to a v3 error's `details`.
    pub fn detail(mut self, item: impl Into<String>, description: impl Into<String>) -> Self {
        if let Some(Value::Array(d)) = self.body.get_mut("details") {
            d.push(json!({ "item": item.into(), "description": description.into() }));
        }
        self
    }

    pub fn raw(status: u16, body: Value) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            body,
            headers: Vec::new(),
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Error in the shape of the given generation.
    pub fn for_gen(g: Gen, status: u16, v3code: &str, message: &str) -> Self {
        match g {
            Gen::V2 => Self::v2(status, message),
            Gen::V3(svc) => Self::v3(status, format!("{svc}:{v3code}"), message),
        }
    }

    /// Bad or missing credentials: the documented v2 body on every endpoint (see README).
    pub fn unauthorized() -> Self {
        Self::v2(401, "Authorization has been denied for this request.")
            .header("www-authenticate", "Basic realm=\"dotdigital\"")
    }

    /// Valid credentials, wrong regional host.
    pub fn wrong_region(g: Gen) -> Self {
        Self::for_gen(g, 403, "forbidden", "Access is denied.")
    }

    /// Malformed JSON body.
    pub fn bad_json(g: Gen, err: &str) -> Self {
        match g {
            Gen::V2 => Self::v2c(
                400,
                &format!("The request body is not valid JSON ({err})."),
                "ERROR_PARAMETER_INVALID",
            ),
            Gen::V3(svc) => {
                Self::v3(400, format!("{svc}:invalidJson"), "The request body is not valid JSON").detail("body", err)
            }
        }
    }

    /// Generic error for a status answered by a fault rule or the router.
    pub fn generic(g: Gen, status: u16) -> Self {
        match status {
            401 => Self::unauthorized(),
            403 => Self::wrong_region(g),
            404 => match g {
                Gen::V2 => Self::v2(404, "No HTTP resource was found that matches the request URI."),
                Gen::V3(svc) => Self::v3(404, format!("{svc}:notFound"), "The requested resource was not found"),
            },
            405 => Self::for_gen(
                g,
                405,
                "methodNotAllowed",
                "The requested resource does not support this HTTP method.",
            ),
            400 => match g {
                Gen::V2 => Self::v2c(
                    400,
                    "Your account has generated excess API activity and is being temporarily capped. Please contact support.",
                    "ERROR_APIUSAGE_EXCEEDED",
                ),
                Gen::V3(svc) => Self::v3(400, format!("{svc}:badRequest"), "The request is invalid"),
            },
            429 => Self::for_gen(
                g,
                429,
                "tooManyRequests",
                "Too many requests: the call rate limit has been exceeded.",
            ),
            s if s >= 500 => Self::for_gen(g, s, "internalServerError", "An error has occurred."),
            s => Self::for_gen(g, s, "error", "An error has occurred."),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = json_response(self.status, &self.body);
        for (k, v) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&v) {
                r.headers_mut().insert(k, v);
            }
        }
        r
    }
}

/// A JSON response with `Content-Type: application/json`.
pub(crate) fn json_response<T: serde::Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut r = (status, bytes).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// A text/CSV response.
pub(crate) fn text_response(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// An empty response (no Content-Type).
pub(crate) fn empty_response(status: StatusCode) -> Response {
    let mut r = status.into_response();
    r.headers_mut().remove(header::CONTENT_TYPE);
    r
}
