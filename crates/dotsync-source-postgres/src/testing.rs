//! A throw-away PostgreSQL server, for tests and benchmarks (cargo feature `testing`; never
//! enabled by the product).
//!
//! Finds the server binaries (on `PATH` or under `/usr/lib/postgresql/*/bin`), runs `initdb`
//! into a temporary folder (as the system user `dotsync-pg`, created if missing, when running
//! as root, because PostgreSQL refuses to run as root), starts `postgres` on a free port of
//! 127.0.0.1 with password (SCRAM) authentication for TCP, waits until it accepts connections,
//! and stops it and removes the folder afterwards: on drop, and for the shared server (which a
//! `static` never drops) through a small watchdog shell that stops the server as soon as the
//! process that started it has exited.
//!
//! When no server can be started, [`server`] panics and [`PgServer::start`] returns an error
//! saying what is missing and how `.ci/run` installs it: tests that use it fail, never skip.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Env var holding a working URL for the shared server.
pub const URL_ENV: &str = "DOTSYNC_PG_TEST_URL";
/// Env var holding a URL with a wrong password for the shared server.
pub const BAD_PASSWORD_ENV: &str = "DOTSYNC_PG_TEST_BAD_PASSWORD_URL";
/// Env var holding a URL to a port of 127.0.0.1 where nothing listens.
pub const REFUSED_ENV: &str = "DOTSYNC_PG_TEST_REFUSED_URL";

/// The password of user `postgres`.
pub const PASSWORD: &str = "s3cret-Test-pw";
/// A password that is not [`PASSWORD`].
pub const WRONG_PASSWORD: &str = "Wr0ng-pw-9911";
const OS_USER: &str = "dotsync-pg";
const INSTALL_HINT: &str = "install the PostgreSQL server (Debian: `apt-get install -y postgresql`, \
     which is what .ci/run does) or put `initdb`, `postgres` and `pg_isready` on PATH";

/// A running server: user `postgres`, password [`PASSWORD`], database `postgres`, on
/// 127.0.0.1:`port`. Stopped (and its folder removed) on drop.
pub struct PgServer {
    /// The TCP port on 127.0.0.1.
    pub port: u16,
    dir: PathBuf,
    watchdog: Option<Child>,
}

static SHARED: OnceLock<Result<PgServer, String>> = OnceLock::new();

/// The shared server of this process, started on first use; sets [`URL_ENV`],
/// [`BAD_PASSWORD_ENV`] and [`REFUSED_ENV`]. Panics when no server can be started.
pub fn server() -> &'static PgServer {
    match try_server() {
        Ok(server) => server,
        // Every test of the binary fails with the same message; the start is not retried.
        Err(e) => panic!("cannot start a PostgreSQL server for the tests: {e}"),
    }
}

/// [`server`], or why no server could be started (the same answer on every call).
pub fn try_server() -> Result<&'static PgServer, String> {
    let shared = SHARED.get_or_init(|| {
        let server = PgServer::start()?;
        let refused_port = free_port();
        // SAFETY: set once, inside the OnceLock initialiser, before any test reads these
        // variables (every test reaches them only through `server()`).
        unsafe {
            std::env::set_var(URL_ENV, server.url(PASSWORD));
            std::env::set_var(BAD_PASSWORD_ENV, server.url(WRONG_PASSWORD));
            std::env::set_var(
                REFUSED_ENV,
                format!("postgres://postgres:{PASSWORD}@127.0.0.1:{refused_port}/postgres?connect_timeout=5"),
            );
        }
        Ok(server)
    });
    shared.as_ref().map_err(Clone::clone)
}

/// Runs SQL statements (no results) on the shared server; panics when they fail.
pub fn exec(sql: &str) {
    server().exec(sql);
}

/// A port of 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

fn bin_dir() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("postgres").is_file() {
                // PATH may hold symlinks (e.g. /usr/local/bin/postgres): use the real folder,
                // which also has pg_isready.
                if let Some(real) = std::fs::canonicalize(dir.join("postgres"))
                    .ok()
                    .and_then(|p| p.parent().map(Path::to_path_buf))
                {
                    return Ok(real);
                }
                return Ok(dir);
            }
        }
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("postgres").is_file()).then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, p)| p).ok_or_else(|| {
        format!(
            "`initdb` and `postgres` were found neither on PATH nor under /usr/lib/postgresql/*/bin; {INSTALL_HINT}"
        )
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// As root, PostgreSQL must run as another user: make sure `dotsync-pg` exists.
fn ensure_os_user() -> Result<(), String> {
    let exists = Command::new("id")
        .arg("-u")
        .arg(OS_USER)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if exists {
        return Ok(());
    }
    let out = Command::new("useradd")
        .args(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", OS_USER])
        .output()
        .map_err(|e| format!("running as root, need the system user `{OS_USER}` but cannot run useradd: {e}"))?;
    // A concurrent test binary may have created it meanwhile (exit code 9: already exists).
    if out.status.success() || out.status.code() == Some(9) {
        Ok(())
    } else {
        Err(format!(
            "running as root, need the system user `{OS_USER}` but useradd failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The command prefix that runs a program as the server's OS user.
fn as_user(root: bool) -> Vec<String> {
    if root {
        vec!["runuser".into(), "-u".into(), OS_USER.into(), "--".into()]
    } else {
        Vec::new()
    }
}

fn run(prefix: &[String], program: &Path, args: &[&str]) -> Result<(), String> {
    let mut cmd = if prefix.is_empty() {
        Command::new(program)
    } else {
        let mut c = Command::new(&prefix[0]);
        c.args(&prefix[1..]).arg(program);
        c
    };
    let out = cmd
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed ({}): {}{}",
            program.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A path as text: the shell script and `initdb` get paths as UTF-8 strings.
fn utf8(path: &Path) -> Result<&str, String> {
    path.to_str().ok_or_else(|| {
        format!(
            "the path {} is not valid UTF-8; set TMPDIR to another folder",
            path.display()
        )
    })
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

impl PgServer {
    /// initdb + start on a free port; retried on another port if the first start fails.
    pub fn start() -> Result<PgServer, String> {
        let bin = bin_dir()?;
        let root = is_root();
        if root {
            ensure_os_user()?;
        }
        let prefix = as_user(root);
        let dir = std::env::temp_dir().join(format!(
            "dotsync-pg-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let pwfile = dir.join("pwfile");
        std::fs::write(&pwfile, format!("{PASSWORD}\n")).map_err(|e| e.to_string())?;
        if root {
            let status = Command::new("chown")
                .arg("-R")
                .arg(format!("{OS_USER}:"))
                .arg(&dir)
                .status()
                .map_err(|e| format!("chown: {e}"))?;
            if !status.success() {
                return Err(format!("chown {} failed", dir.display()));
            }
        }
        let data = dir.join("data");
        run(
            &prefix,
            &bin.join("initdb"),
            &[
                "-D",
                utf8(&data)?,
                "-U",
                "postgres",
                &format!("--pwfile={}", pwfile.display()),
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--no-locale",
                "-N",
            ],
        )
        .map_err(|e| format!("initdb failed: {e}"))?;

        let mut last_err = String::new();
        for _ in 0..3 {
            let port = free_port();
            match Self::launch(&bin, &prefix, &dir, &data, port) {
                Ok(watchdog) => {
                    return Ok(PgServer {
                        port,
                        dir,
                        watchdog: Some(watchdog),
                    });
                }
                Err(e) => last_err = e,
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        Err(last_err)
    }

    fn launch(bin: &Path, prefix: &[String], dir: &Path, data: &Path, port: u16) -> Result<Child, String> {
        let log = dir.join("postgres.log");
        let postgres = [
            prefix.iter().map(|s| sh_quote(s)).collect::<Vec<_>>().join(" "),
            sh_quote(utf8(&bin.join("postgres"))?),
            "-D".into(),
            sh_quote(utf8(data)?),
            "-p".into(),
            port.to_string(),
            "-k".into(),
            sh_quote(utf8(dir)?),
            "-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=50"
                .into(),
        ]
        .join(" ");
        // The watchdog: runs the server, and stops it (then removes the folder) once the test
        // process is gone or the server exits on its own.
        let script = format!(
            "{postgres} >{log} 2>&1 &\n\
             pg=$!\n\
             while kill -0 {test_pid} 2>/dev/null && kill -0 $pg 2>/dev/null; do sleep 0.5; done\n\
             if [ -f {pidfile} ]; then kill -INT $(head -1 {pidfile}) 2>/dev/null; fi\n\
             wait $pg\n\
             if ! kill -0 {test_pid} 2>/dev/null; then rm -rf {dir}; fi\n",
            log = sh_quote(utf8(&log)?),
            test_pid = std::process::id(),
            pidfile = sh_quote(utf8(&data.join("postmaster.pid"))?),
            dir = sh_quote(utf8(dir)?),
        );
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run sh: {e}"))?;
        let isready = bin.join("pg_isready");
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let ready = if isready.is_file() {
                Command::new(&isready)
                    .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres"])
                    .stdin(Stdio::null())
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false)
            } else {
                accepts_login(port)
            };
            if ready {
                return Ok(child);
            }
            let exited = child.try_wait().ok().flatten().is_some();
            if exited || Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(format!(
                    "postgres did not accept connections on 127.0.0.1:{port}{}; server log:\n{log}",
                    if exited { " (it exited)" } else { " within 90 s" }
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A URL for user `postgres` with `password`.
    pub fn url(&self, password: &str) -> String {
        format!("postgres://postgres:{password}@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs SQL statements (no results) as `postgres`; panics when they fail.
    pub fn exec(&self, sql: &str) {
        if let Err(error) = self.try_exec(sql) {
            panic!("{error}");
        }
    }

    /// Runs SQL statements (no results) as `postgres`, or says why they failed.
    pub fn try_exec(&self, sql: &str) -> Result<(), String> {
        let url = self.url(PASSWORD);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a runtime to run SQL: {e}"))?;
        rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .map_err(|e| format!("cannot connect to the test server: {e}"))?;
            let task = tokio::spawn(conn);
            let result = client
                .batch_execute(sql)
                .await
                .map_err(|e| format!("exec {sql:?}: {e:?}"));
            drop(client);
            let _ = task.await;
            result
        })
    }
}

/// Readiness without pg_isready: a login succeeds.
fn accepts_login(port: u16) -> bool {
    let url = format!("postgres://postgres:{PASSWORD}@127.0.0.1:{port}/postgres?connect_timeout=2");
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        return false;
    };
    rt.block_on(async { tokio_postgres::connect(&url, tokio_postgres::NoTls).await.is_ok() })
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let pidfile = self.dir.join("data").join("postmaster.pid");
        if let Some(pid) = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|s| s.lines().next().map(str::to_owned))
        {
            let _ = Command::new("kill").args(["-INT", &pid]).status();
        }
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
