//! The HTTP server: binding, connection handling (so faults can reset connections), the
//! [`EmulatorHandle`] and standalone mode.

use crate::error::EmulatorError;
use crate::faults::{FaultBook, FaultsHandle};
use crate::limits::Limiter;
use crate::state::{AccountSeed, RequestLog, Seed, StateView, World};
use crate::util::lock;
use crate::{EmulatorConfig, LimitsConfig, Region};
use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Shared server state.
pub(crate) struct App {
    pub world: Mutex<World>,
    pub limiter: Mutex<Limiter>,
    pub faults: Mutex<FaultBook>,
    pub log: Mutex<RequestLog>,
    pub limits: Mutex<LimitsConfig>,
    pub config: EmulatorConfig,
    pub base_url: String,
}

impl App {
    /// Applies due imports; consumes row-failure rules they used.
    pub fn process_due(&self) {
        let used = lock(&self.world).process_due(Instant::now());
        if !used.is_empty() {
            let mut f = lock(&self.faults);
            for id in used {
                f.row_failure_used(id);
            }
        }
    }

    /// Base URL of a region's "host".
    pub fn region_url(&self, r: Region) -> String {
        match r {
            Region::R1 => self.base_url.clone(),
            other => format!("{}/{}", self.base_url, other.as_str()),
        }
    }

    /// Schedules a wake-up that applies due jobs at `at`.
    pub fn wake_at(self: &Arc<Self>, at: Instant) {
        let app = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            app.process_due();
        });
    }

    /// Resets to the configured accounts (or to nothing).
    pub fn reset(&self, empty: bool) -> Result<(), EmulatorError> {
        let mut w = World::default();
        if !empty {
            w.apply_seed(&self.config.accounts).map_err(EmulatorError::Seed)?;
        }
        *lock(&self.world) = w;
        lock(&self.limiter).reset();
        lock(&self.faults).clear();
        lock(&self.log).clear();
        Ok(())
    }

    pub fn seed(&self, seed: &[AccountSeed]) -> Result<(), EmulatorError> {
        lock(&self.world).apply_seed(seed).map_err(EmulatorError::Seed)
    }
}

/// A TCP stream whose connection can be killed by a handler (fault injection).
pub(crate) struct KillableStream {
    inner: TcpStream,
    kill: Arc<AtomicBool>,
}

impl KillableStream {
    fn killed(&self) -> bool {
        if self.kill.load(Ordering::Relaxed) {
            // RST instead of FIN when the socket is dropped.
            let _ = self.inner.set_zero_linger();
            true
        } else {
            false
        }
    }
}

fn reset_err() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::ConnectionReset,
        "connection reset by emulator fault",
    )
}

impl AsyncRead for KillableStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if self.killed() {
            return Poll::Ready(Err(reset_err()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        if self.killed() {
            return Poll::Ready(Err(reset_err()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.killed() {
            return Poll::Ready(Err(reset_err()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Connection info handed to handlers: lets a handler kill its own connection.
#[derive(Clone, Debug)]
pub(crate) struct ConnCtl {
    pub kill: Arc<AtomicBool>,
}

pub(crate) struct KillableListener(TcpListener);

impl Listener for KillableListener {
    type Io = KillableStream;
    type Addr = ConnCtl;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((s, _)) => {
                    let _ = s.set_nodelay(true);
                    let kill = Arc::new(AtomicBool::new(false));
                    return (
                        KillableStream {
                            inner: s,
                            kill: Arc::clone(&kill),
                        },
                        ConnCtl { kill },
                    );
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(ConnCtl {
            kill: Arc::new(AtomicBool::new(false)),
        })
    }
}

impl Connected<IncomingStream<'_, KillableListener>> for ConnCtl {
    fn connect_info(stream: IncomingStream<'_, KillableListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// Starts emulators.
pub struct Emulator;

impl Emulator {
    /// Binds 127.0.0.1 (`config.port` or a free port), loads `config.state_file` if it exists
    /// (otherwise applies `config.accounts`) and serves in the background.
    pub async fn start(config: EmulatorConfig) -> Result<EmulatorHandle, EmulatorError> {
        let port = config.port.unwrap_or(0);
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|source| EmulatorError::Bind { port, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| EmulatorError::Bind { port, source })?;
        let base_url = format!("http://127.0.0.1:{}", addr.port());
        let world = match &config.state_file {
            Some(p) if p.exists() => crate::persist::load(p)?,
            _ => {
                let mut w = World::default();
                w.apply_seed(&config.accounts).map_err(EmulatorError::Seed)?;
                w
            }
        };
        let app = Arc::new(App {
            world: Mutex::new(world),
            limiter: Mutex::new(Limiter::default()),
            faults: Mutex::new(FaultBook::default()),
            log: Mutex::new(RequestLog {
                capacity: config.request_log_capacity,
                ..RequestLog::default()
            }),
            limits: Mutex::new(config.limits.clone()),
            config,
            base_url,
        });
        let router = axum::Router::new()
            .fallback(crate::routes::handle)
            .with_state(Arc::clone(&app));
        let (tx, rx) = oneshot::channel::<()>();
        let join = tokio::spawn(async move {
            axum::serve(
                KillableListener(listener),
                router.into_make_service_with_connect_info::<ConnCtl>(),
            )
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await
        });
        Ok(EmulatorHandle {
            app,
            addr,
            shutdown: Some(tx),
            join: Some(join),
        })
    }
}

/// A running emulator. Dropping it stops the server without saving.
pub struct EmulatorHandle {
    app: Arc<App>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    join: Option<JoinHandle<std::io::Result<()>>>,
}

impl EmulatorHandle {
    /// `http://127.0.0.1:PORT` (plays r1).
    pub fn base_url(&self) -> String {
        self.app.base_url.clone()
    }

    /// The "regional host" URL: the bare base URL for r1, `.../r2`, `.../r3` otherwise.
    pub fn region_url(&self, region: Region) -> String {
        self.app.region_url(region)
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Read access to the state.
    pub fn state(&self) -> StateView {
        StateView {
            app: Arc::clone(&self.app),
        }
    }

    /// Fault injection.
    pub fn faults(&self) -> FaultsHandle {
        FaultsHandle {
            app: Arc::clone(&self.app),
        }
    }

    /// Replaces the rate-limit configuration (buckets restart).
    pub fn set_limits(&self, limits: LimitsConfig) {
        *lock(&self.app.limits) = limits;
        lock(&self.app.limiter).reset();
    }

    /// Resets state to the configured accounts; clears faults, limits and the request log.
    pub fn reset(&self) -> Result<(), EmulatorError> {
        self.app.reset(false)
    }

    /// Adds seed data.
    pub fn seed(&self, seed: Seed) -> Result<(), EmulatorError> {
        self.app.seed(&seed.accounts)
    }

    /// Saves state to `config.state_file`.
    pub async fn save(&self) -> Result<(), EmulatorError> {
        let path = self.app.config.state_file.clone().ok_or(EmulatorError::NoStateFile)?;
        self.save_to(path).await
    }

    /// Saves state to a given file.
    pub async fn save_to(&self, path: PathBuf) -> Result<(), EmulatorError> {
        let bytes = {
            let w = lock(&self.app.world);
            crate::persist::to_bytes(&w)?
        };
        crate::persist::write(&path, bytes).await
    }

    /// Stops the server gracefully; saves state if `state_file` is set.
    pub async fn shutdown(mut self) -> Result<(), EmulatorError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(j) = self.join.take() {
            // In-flight requests finish; idle keep-alive connections are closed by the server.
            match tokio::time::timeout(std::time::Duration::from_secs(5), j).await {
                Ok(Ok(Ok(()))) | Err(_) => {}
                Ok(Ok(Err(e))) => return Err(EmulatorError::Server(e.to_string())),
                Ok(Err(e)) => return Err(EmulatorError::Server(e.to_string())),
            }
        }
        if self.app.config.state_file.is_some() {
            self.save().await?;
        }
        Ok(())
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(j) = self.join.take() {
            j.abort();
        }
    }
}

/// Options of `dotsync emulator` / the `dotsync-emulator` binary.
#[derive(Clone, Debug, Default)]
pub struct StandaloneOptions {
    /// Port on 127.0.0.1 (0 = any free port).
    pub port: u16,
    /// Replace the demo/seed first account's username.
    pub username: Option<String>,
    /// Replace its password.
    pub password: Option<String>,
    /// Replace its region.
    pub region: Option<Region>,
    /// Seed file (JSON `{"accounts": [...]}`) used instead of the demo account.
    pub seed: Option<PathBuf>,
    /// State file: loaded at start if it exists, saved on Ctrl-C.
    pub state: Option<PathBuf>,
    /// Enforce rate limits.
    pub limits: bool,
}

/// Builds the config for standalone mode.
pub(crate) fn standalone_config(opts: &StandaloneOptions) -> Result<EmulatorConfig, EmulatorError> {
    let mut config = match &opts.seed {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|source| EmulatorError::Io {
                path: p.clone(),
                source,
            })?;
            let seed: Seed = serde_json::from_str(&text).map_err(|source| EmulatorError::Format {
                path: p.clone(),
                source,
            })?;
            EmulatorConfig {
                accounts: seed.accounts,
                ..EmulatorConfig::empty()
            }
        }
        None => EmulatorConfig::demo(),
    };
    if opts.username.is_some() || opts.password.is_some() || opts.region.is_some() {
        if config.accounts.is_empty() {
            config
                .accounts
                .push(AccountSeed::new(crate::DEMO_USERNAME, crate::DEMO_PASSWORD, Region::R1));
        }
        let a = &mut config.accounts[0];
        if let Some(u) = &opts.username {
            a.username = u.clone();
        }
        if let Some(p) = &opts.password {
            a.password = p.clone();
        }
        if let Some(r) = opts.region {
            a.region = r;
        }
    }
    config.port = Some(opts.port);
    config.state_file = opts.state.clone();
    config.limits = if opts.limits {
        LimitsConfig::default()
    } else {
        LimitsConfig::off()
    };
    Ok(config)
}

/// Runs the emulator until Ctrl-C: prints the base URL and credentials, saves state on exit.
pub async fn run_standalone(opts: StandaloneOptions) -> Result<(), EmulatorError> {
    let config = standalone_config(&opts)?;
    let accounts: Vec<(String, String, Region)> = config
        .accounts
        .iter()
        .map(|a| (a.username.clone(), a.password.clone(), a.region))
        .collect();
    let limits = config.limits.enabled;
    let handle = Emulator::start(config).await?;
    println!("Dotdigital emulator listening on {}", handle.base_url());
    println!(
        "  regional hosts: r1 = {}  r2 = {}  r3 = {}",
        handle.region_url(Region::R1),
        handle.region_url(Region::R2),
        handle.region_url(Region::R3)
    );
    println!("  control API:    {}/_emulator/state", handle.base_url());
    println!("  rate limits:    {}", if limits { "on" } else { "off" });
    for (u, p, r) in &accounts {
        println!(
            "  API user:       {u}  password: {p}  region: {r}  (endpoint {})",
            handle.region_url(*r)
        );
    }
    println!("Press Ctrl-C (or send SIGTERM) to stop.");
    wait_for_stop_signal().await;
    println!("Stopping…");
    handle.shutdown().await
}

/// Ctrl-C, or SIGTERM on Unix.
async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
