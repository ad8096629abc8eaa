//! `cargo xtask bench [--quick] [--only N,N]`: measures dotsync against the targets of the design
//! document ("Targets") through its real code paths: the `dotsync` binary as a subprocess with
//! generated configs and Parquet files, a standalone emulator process per scenario, and peak
//! memory read from each process while it runs (see `process.rs`); scenario 9 measures the
//! PostgreSQL source on a server the bench starts (see `postgres.rs`). Writes
//! `<target dir>/bench/report.md` and `report.json`.
//!
//! The full run uses release binaries (built first) and judges every target; with valgrind
//! installed, scenario 6 is judged on cachegrind's counts (see `scenarios::static_vs_dynamic`).
//! `--quick` runs every scenario at a few thousand rows with the dev binaries
//! `cargo test --workspace` builds, judges nothing, and is CI's smoke test that the bench still
//! works.

mod clients;
mod dataset;
mod emulator;
mod http;
mod postgres;
mod process;
mod report;
mod scenarios;

use std::path::PathBuf;
use std::process::Command;

use crate::{Profile, target_dir, workspace_root};
use http::Http;
use report::Measurement;

/// The plugin the scenarios sync with.
const CONTACTS_PLUGIN: &str = "dotdigital-contacts";

/// Row counts of every scenario, per mode.
#[derive(Debug, Clone)]
pub struct Sizes {
    /// Scenario 0: rows pushed to the emulator, and rows per import.
    pub ingest_rows: u64,
    pub ingest_rows_per_import: u64,
    /// Scenario 1.
    pub planning_rows: u64,
    /// Scenario 2.
    pub first_sync_rows: u64,
    /// Scenario 5, smallest to largest.
    pub memory_rows: [u64; 3],
    /// Scenario 6: rows per run and how many static/dynamic pairs are run, timed and (in a full
    /// run with valgrind) under cachegrind.
    pub plugin_kind_rows: u64,
    pub plugin_kind_pairs: usize,
    pub plugin_kind_cachegrind_pairs: usize,
    /// Scenarios 3 and 4: rows of the source synced, then re-synced.
    pub resync_rows: u64,
    /// Scenario 7: rows, contacts per import, and the low-tier (import) budget per minute.
    pub limited_rows: u64,
    pub limited_import_size: u64,
    pub limited_imports_per_minute: u64,
    /// Scenario 8.
    pub naive_rows: u64,
    /// Scenario 9: rows of the PostgreSQL query read into Arrow.
    pub postgres_rows: u64,
    /// Scenarios 1 and 2: runs of each; the median is reported.
    pub repeats: usize,
}

impl Sizes {
    fn full() -> Sizes {
        Sizes {
            ingest_rows: 500_000,
            ingest_rows_per_import: 10_000,
            planning_rows: 1_000_000,
            first_sync_rows: 1_000_000,
            memory_rows: [1_000_000, 5_000_000, 10_000_000],
            resync_rows: 1_000_000,
            plugin_kind_rows: 1_000_000,
            plugin_kind_pairs: 7,
            plugin_kind_cachegrind_pairs: 3,
            // 150 imports at 60 a minute with a full bucket of 60: 90 s of waiting.
            limited_rows: 150_000,
            limited_import_size: 1_000,
            limited_imports_per_minute: 60,
            naive_rows: 100_000,
            postgres_rows: 1_000_000,
            repeats: 3,
        }
    }

    fn quick() -> Sizes {
        Sizes {
            ingest_rows: 5_000,
            ingest_rows_per_import: 1_000,
            planning_rows: 5_000,
            first_sync_rows: 5_000,
            memory_rows: [5_000, 10_000, 20_000],
            resync_rows: 5_000,
            plugin_kind_rows: 5_000,
            plugin_kind_pairs: 1,
            plugin_kind_cachegrind_pairs: 0,
            // 20 imports under a budget of 60: the limits are on but never bind, so the scenario
            // runs its code path in seconds (once a bucket is empty, dotsync waits for the
            // emulator's reset, a minute).
            limited_rows: 1_000,
            limited_import_size: 50,
            limited_imports_per_minute: 60,
            naive_rows: 2_000,
            postgres_rows: 100_000,
            repeats: 1,
        }
    }
}

/// What a scenario needs: binaries, folders, an HTTP client, the sizes, and whether to judge.
pub struct Bench {
    pub quick: bool,
    pub sizes: Sizes,
    /// The `dotsync` binary.
    pub dotsync: PathBuf,
    /// The folder with the plugins built as loadable libraries.
    pub plugin_dir: PathBuf,
    /// `<target dir>/bench`: datasets, run folders, reports.
    pub dir: PathBuf,
    pub http: Http,
}

impl Bench {
    /// The Parquet file of the first `rows` customers.
    pub fn dataset(&self, rows: u64, variant: dataset::Variant) -> Result<PathBuf, String> {
        dataset::ensure_parquet(&self.dir.join("data"), rows, variant)
    }

    /// A fresh, empty folder for one run (its config, state folder and rejects file).
    pub fn run_dir(&self, name: &str) -> Result<PathBuf, String> {
        let dir = self.dir.join("runs").join(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|error| format!("cannot clear {}: {error}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir).map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
        Ok(dir)
    }
}

/// One scenario: its number (for `--only`) and the function that runs it.
type Scenario = (u32, fn(&Bench) -> Result<Vec<Measurement>, String>);

/// Scenario 4 runs with 3, on the state 3 leaves.
const SCENARIOS: [Scenario; 9] = [
    (0, scenarios::emulator_ingest),
    (1, scenarios::planning),
    (2, scenarios::first_sync),
    (3, scenarios::resync),
    (5, scenarios::memory),
    (6, scenarios::static_vs_dynamic),
    (7, scenarios::under_rate_limits),
    (8, scenarios::naive_baseline),
    (9, postgres::query_into_arrow),
];

pub fn run(args: &[&str]) -> Result<(), String> {
    let mut quick = false;
    let mut only: Option<Vec<u32>> = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match *arg {
            "--quick" => quick = true,
            "--only" => {
                let list = rest.next().ok_or("--only needs a list of scenario numbers, e.g. 1,2")?;
                let numbers = list
                    .split(',')
                    .map(|n| {
                        n.trim()
                            .parse::<u32>()
                            .map_err(|_| format!("--only: `{n}` is not a scenario number"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                only = Some(numbers);
            }
            other => return Err(format!("bench: unknown argument `{other}`\n\n{}", crate::USAGE)),
        }
    }
    let profile = if quick { Profile::Debug } else { Profile::Release };
    build_dotsync(profile)?;
    let target = target_dir();
    let plugin_dir = target.join("bench").join("plugins");
    crate::build_plugins::build_libraries(profile, &[CONTACTS_PLUGIN.to_owned()], &plugin_dir)?;
    let bench = Bench {
        quick,
        sizes: if quick { Sizes::quick() } else { Sizes::full() },
        dotsync: target
            .join(profile.folder())
            .join(format!("dotsync{}", std::env::consts::EXE_SUFFIX)),
        plugin_dir,
        dir: target.join("bench"),
        http: Http::new()?,
    };
    let machine = report::Machine::describe(quick);
    let mut measurements = Vec::new();
    let mut failures = Vec::new();
    for (number, scenario) in SCENARIOS {
        if only.as_ref().is_some_and(|only| !only.contains(&number)) {
            continue;
        }
        eprintln!("bench: scenario {number}");
        match scenario(&bench) {
            Ok(results) => {
                for result in &results {
                    eprintln!("bench:   {}", result.one_line());
                }
                measurements.extend(results);
            }
            Err(message) => {
                eprintln!("bench: scenario {number} failed: {message}");
                measurements.push(Measurement::failed(number, &message));
                failures.push(number);
            }
        }
    }
    let (markdown, json) = report::write(&bench.dir, &machine, &measurements)?;
    println!("{}", std::fs::read_to_string(&markdown).unwrap_or_default());
    println!("wrote {} and {}", markdown.display(), json.display());
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("bench: scenario(s) {failures:?} failed"))
    }
}

/// Builds the `dotsync` binary. With `--quick` through `cargo test --workspace --no-run`, which
/// resolves features exactly as the test run does, so that after `cargo test --workspace` (as in
/// CI) nothing is rebuilt; a plain `cargo build -p dotsync-cli` would resolve features for that
/// package alone and rebuild much of the dependency tree in the dev profile.
fn build_dotsync(profile: Profile) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command.current_dir(workspace_root());
    match profile {
        Profile::Debug => command.args(["test", "--workspace", "--no-run", "--quiet"]),
        Profile::Release => command.args(["build", "--release", "-p", "dotsync-cli", "--bin", "dotsync"]),
    };
    let status = command.status().map_err(|error| format!("cannot run cargo: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("building dotsync failed ({status})"))
    }
}
