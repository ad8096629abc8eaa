//! Bridges a plugin's `tracing` events to the host's log callback. A plugin has no global
//! subscriber: the SDK installs this one around every call into the instance, so a plugin logs
//! with plain `tracing::info!` and the line lands in the host's logs, attributed to the plugin.
//!
//! Events are buffered while the plugin's dispatcher is active and handed to the host by
//! [`HostLog::flush`] once the call returns. Calling the host from inside `Subscriber::event` would
//! re-enter `tracing`: with a statically linked plugin (one `tracing-core` for host and plugin),
//! the host's `with_default` then hits the dispatcher state that the plugin's event still borrows,
//! panics, and the line is lost.

use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use dotsync_plugin_abi as abi;
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

pub(crate) struct HostLog {
    host: abi::HostApi,
    /// The most verbose level the host records: events above it are not even formatted.
    max_level: LevelFilter,
    next_span: AtomicU64,
    /// Events not yet handed to the host: level, target, message.
    pending: Mutex<Vec<(u32, &'static str, String)>>,
}

// SAFETY: the host promises its callback may be called from the thread that calls the instance;
// instances are used from one task at a time.
unsafe impl Send for HostLog {}
// SAFETY: as above.
unsafe impl Sync for HostLog {}

impl HostLog {
    pub(crate) fn new(host: abi::HostApi) -> Self {
        let max_level = match host.max_level {
            0 => LevelFilter::OFF,
            abi::log_level::ERROR => LevelFilter::ERROR,
            abi::log_level::WARN => LevelFilter::WARN,
            abi::log_level::INFO => LevelFilter::INFO,
            abi::log_level::DEBUG => LevelFilter::DEBUG,
            _ => LevelFilter::TRACE,
        };
        HostLog {
            host,
            max_level,
            next_span: AtomicU64::new(1),
            pending: Mutex::new(Vec::new()),
        }
    }

    /// Hands the buffered events to the host. Call it outside the plugin's dispatcher scope.
    pub(crate) fn flush(&self) {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        for (level, target, message) in pending {
            // SAFETY: the host's callback takes borrowed strings for the duration of the call.
            unsafe {
                (self.host.log)(
                    self.host.user_data,
                    level,
                    abi::StrRef::new(target),
                    abi::StrRef::new(&message),
                )
            };
        }
    }
}

/// Hands the buffered events of `dispatch` to the host, when it is a [`HostLog`].
pub(crate) fn flush(dispatch: &tracing::Dispatch) {
    if let Some(log) = dispatch.downcast_ref::<HostLog>() {
        log.flush();
    }
}

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

fn level_code(level: &Level) -> u32 {
    match *level {
        Level::ERROR => abi::log_level::ERROR,
        Level::WARN => abi::log_level::WARN,
        Level::INFO => abi::log_level::INFO,
        Level::DEBUG => abi::log_level::DEBUG,
        Level::TRACE => abi::log_level::TRACE,
    }
}

impl Subscriber for HostLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= self.max_level
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.max_level)
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed))
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut message = Message(String::new());
        event.record(&mut message);
        let metadata = event.metadata();
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).push((
            level_code(metadata.level()),
            metadata.target(),
            message.0,
        ));
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}
