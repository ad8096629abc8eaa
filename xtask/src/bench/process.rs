//! Child processes measured the way the benchmarks report them: wall time and CPU time of that
//! one process (from `wait4`), and its peak resident memory (its `VmHWM`, read while it runs).
//!
//! `ru_maxrss` cannot give the peak: Linux carries the high-water mark of the address space a
//! process replaces at `exec` over into it, and a child started by `posix_spawn` (as `Command`
//! does) replaces the bench's own, so every child reported at least the bench's peak (168 MiB
//! for every scenario of a full run). `VmHWM` belongs to the address space the program runs in.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often a running child's peak memory is read.
const RSS_POLL_INTERVAL: Duration = Duration::from_millis(5);

/// What a finished child did.
#[derive(Debug)]
pub struct Finished {
    pub exit_code: Option<i32>,
    pub wall: Duration,
    /// User + system CPU time.
    pub cpu: Duration,
    /// Peak resident set size in MiB.
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

/// How a measured program is started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Launch {
    #[default]
    Direct,
    /// Pinned to one CPU (with `taskset`).
    OneCpu,
    /// Under valgrind's cachegrind, which counts the instructions it runs and simulates its
    /// caches, writing the totals to [`CACHEGRIND_OUT`] in the working folder. The caches are
    /// set rather than taken from the machine, so that runs on different machines compare, and
    /// the last level is 16-way: with the direct-mapped last level valgrind infers on some
    /// machines, its misses moved by 70% between identical runs (they depend on where the
    /// program's memory lands); with this one by about 20%.
    Cachegrind,
}

/// The file a [`Launch::Cachegrind`] run writes its counts to, in its working folder.
pub const CACHEGRIND_OUT: &str = "cachegrind.out";

/// Runs `program args` in `cwd` to completion, started as `launch` says, and measures it.
pub fn run_measured(program: &Path, args: &[&str], cwd: &Path, launch: Launch) -> Result<Finished, String> {
    let mut command = match launch {
        Launch::Direct => Command::new(program),
        Launch::OneCpu => {
            let mut command = Command::new("taskset");
            command.args(["--cpu-list", "0"]).arg(program);
            command
        }
        Launch::Cachegrind => {
            let mut command = Command::new("valgrind");
            command
                .args(["--tool=cachegrind", "--cache-sim=yes"])
                .args(["--I1=32768,8,64", "--D1=32768,8,64", "--LL=33554432,16,64"])
                .arg(format!("--cachegrind-out-file={CACHEGRIND_OUT}"))
                .arg(program);
            command
        }
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
    let pid = child.id();
    let stop_watching = Arc::new(AtomicBool::new(false));
    let watcher = {
        let stop = stop_watching.clone();
        std::thread::spawn(move || {
            let mut peak: Option<f64> = None;
            while !stop.load(Ordering::Relaxed) {
                if let Some(now) = peak_rss_mib_of_running(pid) {
                    peak = Some(peak.map_or(now, |peak| peak.max(now)));
                }
                std::thread::sleep(RSS_POLL_INTERVAL);
            }
            peak
        })
    };
    // Wait for the exit without reaping, so that the watcher never reads a recycled process id.
    let exited = wait_for_exit(pid);
    let wall = started.elapsed();
    stop_watching.store(true, Ordering::Relaxed);
    let watched_peak = watcher.join().unwrap_or(None);
    exited?;
    let (status, usage) = wait_with_usage(pid)?;
    let stdout = stdout_reader.join().unwrap_or_default();
    let stderr = stderr_reader.join().unwrap_or_default();
    let exit_code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    Ok(Finished {
        exit_code,
        wall,
        cpu: timeval(usage.ru_utime) + timeval(usage.ru_stime),
        // A child too short-lived for one reading falls back to `ru_maxrss` (KiB; an upper bound).
        peak_rss_mib: watched_peak.unwrap_or(usage.ru_maxrss as f64 / 1024.0),
        stdout,
        stderr,
    })
}

/// Blocks until the child `pid` has exited, leaving it to be reaped (`waitid` with `WNOWAIT`).
fn wait_for_exit(pid: u32) -> Result<(), String> {
    let id = libc::id_t::from(pid);
    loop {
        // SAFETY: an all-zero siginfo_t is a valid value of this plain C struct.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a live, writable local of the right type.
        let waited = unsafe { libc::waitid(libc::P_PID, id, &mut info, libc::WEXITED | libc::WNOWAIT) };
        if waited == 0 {
            return Ok(());
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(format!("cannot wait for process {pid}: {error}"));
        }
    }
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

/// Whether valgrind can be started (it is not needed for anything but [`Launch::Cachegrind`]).
pub fn valgrind_available() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// What cachegrind counted over a whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheCounts {
    pub instructions: u64,
    /// First-level cache misses (instruction and data).
    pub l1_misses: u64,
    /// Last-level cache misses (instruction and data).
    pub ll_misses: u64,
}

impl CacheCounts {
    /// The median of each count over `runs` (not empty).
    pub fn median(runs: &[CacheCounts]) -> CacheCounts {
        let median_of = |count: fn(&CacheCounts) -> u64| {
            let mut values: Vec<u64> = runs.iter().map(count).collect();
            values.sort_unstable();
            values[values.len() / 2]
        };
        CacheCounts {
            instructions: median_of(|counts| counts.instructions),
            l1_misses: median_of(|counts| counts.l1_misses),
            ll_misses: median_of(|counts| counts.ll_misses),
        }
    }

    /// The usual rough estimate of the cycles these cost (KCachegrind's "cycle estimation"
    /// without branches): an instruction 1, a first-level miss 10, a last-level miss 100.
    pub fn estimated_cycles(&self) -> u64 {
        self.instructions + 10 * self.l1_misses + 100 * self.ll_misses
    }

    /// Reads the `events:` and `summary:` lines of a cachegrind output file.
    pub fn read(path: &Path) -> Result<CacheCounts, String> {
        let text = std::fs::read_to_string(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// [`read`](Self::read) on the file's text; `name` names it in errors.
    fn parse(text: &str, name: &str) -> Result<CacheCounts, String> {
        let line = |prefix: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(prefix))
                .ok_or_else(|| format!("{name} has no `{prefix}` line"))
        };
        let events: Vec<&str> = line("events:")?.split_whitespace().collect();
        let totals: Vec<u64> = line("summary:")?
            .split_whitespace()
            .map(|value| value.parse::<u64>().map_err(|error| format!("{name}: {error}")))
            .collect::<Result<_, _>>()?;
        let total = |names: &[&str]| -> Result<u64, String> {
            names
                .iter()
                .map(|event| {
                    events
                        .iter()
                        .position(|found| found == event)
                        .and_then(|index| totals.get(index).copied())
                        .ok_or_else(|| format!("{name} counts no `{event}` (run with --cache-sim=yes)"))
                })
                .sum()
        };
        Ok(CacheCounts {
            instructions: total(&["Ir"])?,
            l1_misses: total(&["I1mr", "D1mr", "D1mw"])?,
            ll_misses: total(&["ILmr", "DLmr", "DLmw"])?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cachegrind_totals_are_read_by_event_name() {
        let text = "desc: I1 cache: 32768 B, 64 B, 8-way associative\ncmd: dotsync plan\n\
                    events: Ir I1mr ILmr Dr D1mr DLmr Dw D1mw DLmw\nfl=x.rs\nfn=main\n1 5 0 0 0 0 0 0 0 0\n\
                    summary: 1000 2 1 400 30 5 200 8 3\n";
        let counts = CacheCounts::parse(text, "out").unwrap();
        assert_eq!(
            counts,
            CacheCounts {
                instructions: 1000,
                l1_misses: 40,
                ll_misses: 9
            }
        );
        assert_eq!(counts.estimated_cycles(), 1000 + 400 + 900);
        let error = CacheCounts::parse("events: Ir\nsummary: 1000\n", "out").unwrap_err();
        assert_eq!(error, "out counts no `I1mr` (run with --cache-sim=yes)");
    }

    #[test]
    fn the_median_is_taken_count_by_count() {
        let counts = |instructions, l1_misses, ll_misses| CacheCounts {
            instructions,
            l1_misses,
            ll_misses,
        };
        let runs = [counts(10, 5, 900), counts(30, 1, 100), counts(20, 3, 500)];
        assert_eq!(CacheCounts::median(&runs), counts(20, 3, 500));
    }
}
