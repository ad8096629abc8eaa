//! Connecting: URL from the environment, a private current-thread runtime, optional TLS, and
//! mapping of driver errors to [`PostgresError`] without leaking credentials.

use std::time::Duration;

use tokio::runtime::Runtime;
use tokio_postgres::config::Host;
use tokio_postgres::error::{ErrorPosition, SqlState};
use tokio_postgres::{Client, Config};

use crate::{PostgresError, QueryError};

/// A connected client and the runtime that drives its connection task.
pub(crate) struct Conn {
    pub(crate) rt: Runtime,
    pub(crate) client: Client,
}

/// Connects with the URL held by the environment variable `url_env`.
pub(crate) fn connect(url_env: &str) -> Result<Conn, PostgresError> {
    let url = std::env::var(url_env).map_err(|_| PostgresError::MissingEnv {
        var: url_env.to_owned(),
    })?;
    let mut config: Config = url.parse().map_err(|e: tokio_postgres::Error| {
        PostgresError::InvalidUrl {
            var: url_env.to_owned(),
            // The driver's parse errors name options, never their values.
            reason: e.to_string(),
        }
    })?;
    drop(url);
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(30));
    }
    config.application_name("dotsync");
    let endpoint = endpoint(&config);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(PostgresError::Runtime)?;

    let client = rt.block_on(async {
        #[cfg(feature = "tls")]
        let result = {
            let tls = tls::connector()?;
            config.connect(tls).await.map(|(client, connection)| {
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                client
            })
        };
        #[cfg(not(feature = "tls"))]
        let result = config.connect(tokio_postgres::NoTls).await.map(|(client, connection)| {
            tokio::spawn(async move {
                let _ = connection.await;
            });
            client
        });
        result.map_err(|e| connect_error(&e, &endpoint))
    })?;
    Ok(Conn { rt, client })
}

/// `host:port` of the first configured host, for messages. Never includes user or password.
fn endpoint(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(Host::Unix(p)) => p.display().to_string(),
        None => config
            .get_hostaddrs()
            .first()
            .map(|a| a.to_string())
            .unwrap_or_else(|| "localhost".to_owned()),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn connect_error(e: &tokio_postgres::Error, endpoint: &str) -> PostgresError {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        if code == &SqlState::INVALID_PASSWORD || code == &SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
            return PostgresError::Auth {
                endpoint: endpoint.to_owned(),
                message: db.message().to_owned(),
            };
        }
        return PostgresError::Connect {
            endpoint: endpoint.to_owned(),
            reason: db.message().to_owned(),
        };
    }
    let mut reason = innermost(e);
    if reason.contains("no TLS implementation configured") {
        reason.push_str(
            " (the URL asks for TLS, e.g. sslmode=require; build dotsync-source-postgres with the `tls` feature)",
        );
    }
    PostgresError::Connect {
        endpoint: endpoint.to_owned(),
        reason,
    }
}

/// The driver's message, with the underlying cause (e.g. the OS error) appended.
fn innermost(e: &tokio_postgres::Error) -> String {
    use std::error::Error as _;
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg = format!("{msg}: {s}");
        source = s.source();
    }
    msg
}

/// Maps an error from a statement. `offset` is subtracted from PostgreSQL's 1-based position so
/// that it points into the user's query (`None`: the position means nothing to the user).
pub(crate) fn query_error(e: &tokio_postgres::Error, during: &str, offset: Option<usize>) -> PostgresError {
    let Some(db) = e.as_db_error() else {
        return PostgresError::Connection {
            during: during.to_owned(),
            reason: innermost(e),
        };
    };
    let position = match (db.position(), offset) {
        (Some(ErrorPosition::Original(p)), Some(off)) => {
            (*p as usize).checked_sub(off).filter(|p| *p > 0).map(|p| p as u32)
        }
        _ => None,
    };
    PostgresError::Query(Box::new(QueryError {
        during: during.to_owned(),
        message: db.message().to_owned(),
        code: db.code().code().to_owned(),
        position,
        detail: db.detail().map(str::to_owned),
        hint: db.hint().map(str::to_owned),
    }))
}

#[cfg(feature = "tls")]
mod tls {
    use std::sync::Arc;

    use crate::PostgresError;

    /// rustls with the system's root certificates (ring provider).
    pub(super) fn connector() -> Result<tokio_postgres_rustls::MakeRustlsConnect, PostgresError> {
        let mut roots = rustls::RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        for cert in found.certs {
            let _ = roots.add(cert);
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| PostgresError::Config(format!("TLS setup failed: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
    }
}
