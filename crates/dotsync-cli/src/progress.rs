//! Progress bars for long runs (indicatif), drawn on standard error and only when it is a
//! terminal, so logs, pipes and `--json` output stay clean.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use dotsync_host::{ProgressSink, SyncReport};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Bars {
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    /// Bars are drawn when `wanted` and standard error is a terminal.
    pub fn new(wanted: bool) -> Self {
        let multi = (wanted && std::io::stderr().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Bars {
            multi,
            bars: Mutex::new(HashMap::new()),
        }
    }

    pub fn clear(&self) {
        if let Some(multi) = &self.multi {
            let _ = multi.clear();
        }
    }

    fn with_bar(&self, name: &str, action: impl FnOnce(&ProgressBar)) {
        if let Ok(bars) = self.bars.lock()
            && let Some(bar) = bars.get(name)
        {
            action(bar);
        }
    }
}

impl ProgressSink for Bars {
    fn sync_started(&self, name: &str, total_rows: Option<u64>) {
        let Some(multi) = &self.multi else {
            return;
        };
        let bar = match total_rows {
            Some(total) => ProgressBar::new(total).with_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} rows  {per_sec}  eta {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            ),
            None => ProgressBar::no_length().with_style(
                ProgressStyle::with_template("{prefix} {spinner} {pos} rows  {per_sec}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        let bar = multi.add(bar.with_prefix(name.to_owned()));
        if let Ok(mut bars) = self.bars.lock() {
            bars.insert(name.to_owned(), bar);
        }
    }

    fn rows_done(&self, name: &str, count: u64) {
        self.with_bar(name, |bar| bar.inc(count));
    }

    fn sync_finished(&self, report: &SyncReport) {
        self.with_bar(&report.name, ProgressBar::finish_and_clear);
    }
}
