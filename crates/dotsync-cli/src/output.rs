//! What the CLI prints for people: the run summary, the run history and the plugin table.

use std::fmt::Write;

use std::path::Path;

use dotsync_host::{PluginInfo, RunMode, RunReport, RunSummary, SendInDoubt};

fn seconds(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

/// The end-of-run summary: one block per sync, then the verdict.
pub fn summary(report: &RunReport, mode: RunMode) -> String {
    let mut out = String::new();
    for sync in &report.syncs {
        let _ = writeln!(
            out,
            "sync {} ({}), {}",
            sync.name,
            sync.plugin,
            seconds(sync.duration_ms)
        );
        match mode {
            RunMode::Check => {}
            RunMode::Plan => {
                let _ = writeln!(
                    out,
                    "  rows read {:>10}   planned write requests {:>6}   read calls {:>6}",
                    sync.rows_read, sync.planned_requests, sync.api_calls
                );
                if sync.held_back > 0 {
                    let _ = writeln!(
                        out,
                        "  held back {:>10}   (unchanged since the last run, or not to be sent again: not planned)",
                        sync.held_back
                    );
                }
                for sample in &sync.sample_requests {
                    let _ = writeln!(
                        out,
                        "  sample: {} {}\n{}",
                        sample.method,
                        sample.path,
                        indent(&sample.body, 4)
                    );
                }
            }
            RunMode::Run => {
                let _ = writeln!(
                    out,
                    "  rows read {:>10}   delivered {:>10}   skipped {:>10}",
                    sync.rows_read, sync.delivered, sync.skipped
                );
                let _ = writeln!(
                    out,
                    "  rejected  {:>10}   failed    {:>10}   uncertain {:>8}",
                    sync.rejected, sync.failed, sync.uncertain
                );
                let _ = writeln!(
                    out,
                    "  API calls {:>10}   retries   {:>10}",
                    sync.api_calls, sync.retries
                );
            }
        }
        if let Some(drift) = &sync.drift {
            let _ = writeln!(out, "  {drift}");
        }
        if sync.unresolved_sends > 0 {
            let _ = writeln!(
                out,
                "  {} send(s) of an earlier run that stopped have an unknown fate; they are not repeated",
                sync.unresolved_sends
            );
        }
        if sync.written_back > 0 {
            let _ = writeln!(out, "  outcomes written back to PostgreSQL: {}", sync.written_back);
        }
        if let Some(path) = &sync.rejects_file {
            let _ = writeln!(out, "  rejects file: {}", path.display());
        }
        if let Some(error) = &sync.error {
            let _ = writeln!(out, "  stopped early: {error}");
        }
    }
    let verdict = match mode {
        RunMode::Check => "check passed: the config, credentials and everything it names are in order".to_owned(),
        RunMode::Plan => "plan only: nothing was written".to_owned(),
        RunMode::Run if report.is_clean() => format!(
            "done in {}: every row delivered or skipped",
            seconds(report.duration_ms)
        ),
        RunMode::Run => format!(
            "done in {}: some rows were not delivered; see the rejects file",
            seconds(report.duration_ms)
        ),
    };
    let _ = writeln!(out, "{verdict}");
    out
}

fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    text.lines()
        .map(|line| format!("{pad}{line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `dotsync plugins list` as an aligned table.
pub fn plugin_table(plugins: &[PluginInfo]) -> String {
    let width = plugins.iter().map(|p| p.name.len()).max().unwrap_or(4).max(4);
    let mut out = format!("{:width$}  {:10}  {:4}  origin\n", "name", "version", "abi");
    for plugin in plugins {
        let _ = writeln!(
            out,
            "{:width$}  {:10}  {:4}  {}",
            plugin.name, plugin.version, plugin.abi_version, plugin.origin
        );
    }
    out
}

/// `dotsync status`: one block per run, newest first.
pub fn run_history(runs: &[RunSummary], state_dir: &Path) -> String {
    let mut out = String::new();
    if runs.is_empty() {
        let _ = writeln!(out, "no runs recorded in {}", state_dir.display());
        return out;
    }
    for run in runs {
        let started = run.started_at.format("%Y-%m-%d %H:%M:%S UTC");
        let how = match (run.duration_ms, &run.error) {
            (Some(ms), None) => seconds(ms),
            (Some(ms), Some(error)) => format!("{}, stopped: {error}", seconds(ms)),
            (None, _) => "unfinished (still running, or stopped by a crash or kill)".to_owned(),
        };
        let _ = writeln!(out, "run {} started {started}, {how}", run.run);
        for sync in &run.syncs {
            let _ = writeln!(
                out,
                "  {:<20} read {:>9}  delivered {:>9}  skipped {:>9}  rejected {:>7}  failed {:>7}  uncertain {:>5}  API calls {:>6}",
                sync.name,
                sync.rows_read,
                sync.delivered,
                sync.skipped,
                sync.rejected,
                sync.failed,
                sync.uncertain,
                sync.api_calls
            );
        }
    }
    out
}

/// The sends in doubt, one line each, with how to settle them.
pub fn sends_in_doubt(sends: &[SendInDoubt]) -> String {
    let mut out = String::new();
    if sends.is_empty() {
        out.push_str("no send in doubt\n");
        return out;
    }
    for send in sends {
        let run = send.run.map(|run| format!(" by run {run}")).unwrap_or_default();
        let what = match send.state {
            "sent" => "answered, its outcome never recorded",
            _ => "no answer seen",
        };
        let _ = writeln!(
            out,
            "{:<20} {:<30} journaled{run} at {} ({what})",
            send.sync, send.key, send.intended_at
        );
    }
    out.push_str(
        "check the destination, then settle each: dotsync resolve CONFIG --sync NAME --sent KEY (it went out) \
         or --not-sent KEY (the next run sends it)\n",
    );
    out
}
