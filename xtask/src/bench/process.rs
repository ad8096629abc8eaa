//! Child processes measured the way the benchmarks report them: wall time, CPU time and peak
//! resident memory of that one process (from `wait4`, so the figure is exact and belongs to the
//! child alone, not to the emulator or to the bench itself).

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a finished child did.
#[derive(Debug)]
pub struct Finished {
    pub exit_code: Option<i32>,
    pub wall: Duration,
    /// User + system CPU time.
    pub cpu: Duration,
    /// Peak resident set size in MiB (`ru_maxrss`).
    pub peak_rss_mib: f64,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// The output for error messages.
    pub fn describe(&self) -> String {
        format!(
            "exit code {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.exit_code,
            tail(&self.stdout),
            tail(&self.stderr)
        )
    }
}

/// The last few KiB of a long output.
fn tail(text: &str) -> &str {
    const KEEP: usize = 4_000;
    if text.len() <= KEEP {
        return text;
    }
    let mut start = text.len() - KEEP;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// Runs `program args` in `cwd` to completion, optionally pinned to one CPU (with `taskset`),
/// and measures it.
pub fn run_measured(program: &Path, args: &[&str], cwd: &Path, pin_to_one_cpu: bool) -> Result<Finished, String> {
    let mut command = if pin_to_one_cpu {
        let mut command = Command::new("taskset");
        command.args(["--cpu-list", "0"]).arg(program);
        command
    } else {
        Command::new(program)
    };
    command
        .args(args)
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .env_remove("DOTSYNC_PLUGIN_PATH")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|error| format!("cannot start {}: {error}", program.display()))?;
    // Both pipes are drained on their own threads so that a chatty child never blocks on a full
    // pipe while we wait for it.
    let mut stdout_pipe = child.stdout.take().ok_or("child stdout is not piped")?;
    let mut stderr_pipe = child.stderr.take().ok_or("child stderr is not piped")?;
    let stdout_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout_pipe.read_to_string(&mut text);
        text
    });
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr_pipe.read_to_string(&mut text);
        text
    });
    let (status, usage) = wait_with_usage(child.id())?;
    let wall = started.elapsed();
    let stdout = stdout_reader.join().unwrap_or_default();
    let stderr = stderr_reader.join().unwrap_or_default();
    let exit_code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    Ok(Finished {
        exit_code,
        wall,
        cpu: timeval(usage.ru_utime) + timeval(usage.ru_stime),
        // Linux reports ru_maxrss in KiB.
        peak_rss_mib: usage.ru_maxrss as f64 / 1024.0,
        stdout,
        stderr,
    })
}

/// `wait4` on one child: its exit status and its own resource usage.
fn wait_with_usage(pid: u32) -> Result<(libc::c_int, libc::rusage), String> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| format!("process id {pid} out of range"))?;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers are to live, writable locals of the right types.
        let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if waited == pid {
            return Ok((status, usage));
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(format!("cannot wait for process {pid}: {error}"));
        }
    }
}

fn timeval(value: libc::timeval) -> Duration {
    Duration::from_secs(value.tv_sec as u64) + Duration::from_micros(value.tv_usec as u64)
}

/// CPU time (user + system) this process has used so far: the bench's own HTTP clients run in
/// it, and their cost is reported next to their figures.
pub fn own_cpu_time() -> Duration {
    // SAFETY: an all-zero rusage is valid, and getrusage writes into the live local.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let _ = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    timeval(usage.ru_utime) + timeval(usage.ru_stime)
}

/// Peak resident memory in MiB of a running process (`VmHWM` in `/proc/PID/status`).
pub fn peak_rss_mib_of_running(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
