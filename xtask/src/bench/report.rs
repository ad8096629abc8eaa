//! Bench results: one [`Measurement`] per scenario (or per point of a scenario), written as
//! `report.md` (a table for people) and `report.json` (for tools and for comparing runs).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// What one scenario measured, and how it compares with its target.
#[derive(Debug, Clone)]
pub struct Measurement {
    pub name: String,
    pub rows: u64,
    pub wall_ms: f64,
    pub api_calls: Option<u64>,
    /// Of the measured process (dotsync, or the bench's own client where noted).
    pub peak_rss_mib: Option<f64>,
    /// The target in words, e.g. `>= 1,000,000 rows/s`.
    pub target: String,
    /// `None` when not judged (`--quick`, or a scenario without a target).
    pub met: Option<bool>,
    /// How it was measured and anything needed to read the figures.
    pub notes: String,
}

impl Measurement {
    pub fn rows_per_s(&self) -> f64 {
        if self.wall_ms > 0.0 {
            self.rows as f64 * 1_000.0 / self.wall_ms
        } else {
            0.0
        }
    }

    /// A scenario that could not run.
    pub fn failed(number: u32, message: &str) -> Measurement {
        Measurement {
            name: format!("scenario {number}"),
            rows: 0,
            wall_ms: 0.0,
            api_calls: None,
            peak_rss_mib: None,
            target: String::new(),
            met: Some(false),
            notes: format!("failed: {}", message.replace('\n', " ")),
        }
    }

    /// For the progress log.
    pub fn one_line(&self) -> String {
        format!(
            "{}: {} rows, {:.0} ms, {:.0} rows/s, {} calls, {} MiB; target {} → {}",
            self.name,
            self.rows,
            self.wall_ms,
            self.rows_per_s(),
            self.api_calls.map_or("-".to_owned(), |calls| calls.to_string()),
            self.peak_rss_mib.map_or("-".to_owned(), |mib| format!("{mib:.0}")),
            self.target,
            verdict(self.met)
        )
    }

    fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "rows": self.rows,
            "wall_ms": (self.wall_ms * 10.0).round() / 10.0,
            "rows_per_s": self.rows_per_s().round(),
            "api_calls": self.api_calls,
            "peak_rss_mib": self.peak_rss_mib.map(|mib| (mib * 10.0).round() / 10.0),
            "target": self.target,
            "met": self.met,
            "notes": self.notes,
        })
    }
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "NOT met",
        None => "not judged",
    }
}

/// Where the figures come from.
#[derive(Debug, Clone)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    /// 1-minute load average when the bench started (the machine may be shared).
    pub load_average: String,
    pub profile: &'static str,
    pub quick: bool,
}

impl Machine {
    pub fn describe(quick: bool) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map(|(_, model)| model.trim().to_owned())
            .unwrap_or_else(|| "unknown".to_owned());
        let load_average = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|text| text.split_whitespace().next().map(str::to_owned))
            .unwrap_or_else(|| "unknown".to_owned());
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model,
            load_average,
            profile: if quick { "dev" } else { "release" },
            quick,
        }
    }
}

/// Writes `report.md` and `report.json` into `dir`; returns their paths.
pub fn write(dir: &Path, machine: &Machine, measurements: &[Measurement]) -> Result<(PathBuf, PathBuf), String> {
    std::fs::create_dir_all(dir).map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    let json = json!({
        "machine": {
            "cpus": machine.cpus,
            "cpu_model": machine.cpu_model,
            "load_average_at_start": machine.load_average,
            "profile": machine.profile,
            "quick": machine.quick,
        },
        "scenarios": measurements.iter().map(Measurement::to_json).collect::<Vec<_>>(),
    });
    let json_path = dir.join("report.json");
    let text = serde_json::to_string_pretty(&json).map_err(|error| format!("cannot serialise the report: {error}"))?;
    std::fs::write(&json_path, text + "\n")
        .map_err(|error| format!("cannot write {}: {error}", json_path.display()))?;
    let markdown_path = dir.join("report.md");
    std::fs::write(&markdown_path, markdown(machine, measurements))
        .map_err(|error| format!("cannot write {}: {error}", markdown_path.display()))?;
    Ok((markdown_path, json_path))
}

fn markdown(machine: &Machine, measurements: &[Measurement]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# dotsync benchmark report\n");
    let _ = writeln!(
        out,
        "Machine: {} CPUs ({}), load average {} at start; {} binaries{}.\n",
        machine.cpus,
        machine.cpu_model,
        machine.load_average,
        machine.profile,
        if machine.quick {
            "; `--quick`: small sizes, targets not judged"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "| scenario | rows | wall | rows/s | API calls | peak RSS | target | met |\n|---|---:|---:|---:|---:|---:|---|---|"
    );
    for m in measurements {
        let _ = writeln!(
            out,
            "| {} | {} | {:.2} s | {} | {} | {} | {} | {} |",
            m.name,
            thousands(m.rows),
            m.wall_ms / 1_000.0,
            thousands(m.rows_per_s().round() as u64),
            m.api_calls.map_or("–".to_owned(), thousands),
            m.peak_rss_mib.map_or("–".to_owned(), |mib| format!("{mib:.0} MiB")),
            m.target,
            verdict(m.met)
        );
    }
    let _ = writeln!(out, "\n## Notes\n");
    for m in measurements.iter().filter(|m| !m.notes.is_empty()) {
        let _ = writeln!(out, "- **{}**: {}", m.name, m.notes);
    }
    out
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(10_000_000), "10,000,000");
    }
}
