//! The Dotdigital emulator as its own process (`dotsync emulator`), one per scenario: the run
//! under test and the emulator then compete for the machine's cores as they would against a
//! local emulator in real use, each starts from the demo account's seed, and the emulator's own
//! memory is not counted in the measured child's.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::http::Http;
use crate::bench::process::peak_rss_mib_of_running;

/// The line `dotsync emulator` prints first, followed by its base URL.
const LISTENING_PREFIX: &str = "Dotdigital emulator listening on ";

/// A running standalone emulator (demo account, limits off); stopped when dropped.
pub struct EmulatorProcess {
    child: Child,
    base_url: String,
}

impl EmulatorProcess {
    /// Starts `dotsync emulator --port 0 --no-limits` and waits for its base URL.
    pub fn start(dotsync: &Path) -> Result<EmulatorProcess, String> {
        let mut child = Command::new(dotsync)
            .args(["emulator", "--port", "0", "--no-limits"])
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| format!("cannot start the emulator ({}): {error}", dotsync.display()))?;
        let stdout = child.stdout.take().ok_or("emulator stdout is not piped")?;
        let mut lines = BufReader::new(stdout).lines();
        let base_url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix(LISTENING_PREFIX) {
                        break url.trim().to_owned();
                    }
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err("the emulator exited before printing its base URL".to_owned());
                }
            }
        };
        // Keep draining its output so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(EmulatorProcess { child, base_url })
    }

    /// `http://127.0.0.1:PORT`, the demo account's (r1) API base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// API requests served so far (control calls are not counted).
    pub fn api_requests(&self, http: &Http) -> Result<u64, String> {
        let log = http.get_json(&format!("{}/_emulator/requests", self.base_url))?;
        log.get("total")
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("unexpected request log: {log}"))
    }

    /// Replaces the rate-limit configuration (camelCase `LimitsConfig` JSON; absent fields take
    /// the emulator's defaults, and `enabled` defaults to true).
    pub fn set_limits(&self, http: &Http, limits: &Value) -> Result<(), String> {
        http.put_json(&format!("{}/_emulator/limits", self.base_url), limits)
    }

    /// Its peak resident memory so far.
    pub fn peak_rss_mib(&self) -> Option<f64> {
        peak_rss_mib_of_running(self.child.id())
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
