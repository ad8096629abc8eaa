//! Bridges a plugin's `tracing` events to the host's log callback. A plugin has no global
//! subscriber: the SDK installs this one around every call into the instance, so a plugin logs
//! with plain `tracing::info!` and the line lands in the host's logs, attributed to the plugin.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use dotsync_plugin_abi as abi;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

pub(crate) struct HostLog {
    host: abi::HostApi,
    next_span: AtomicU64,
}

// SAFETY: the host promises its callback may be called from the thread that calls the instance;
// instances are used from one task at a time.
unsafe impl Send for HostLog {}
// SAFETY: as above.
unsafe impl Sync for HostLog {}

impl HostLog {
    pub(crate) fn new(host: abi::HostApi) -> Self {
        HostLog {
            host,
            next_span: AtomicU64::new(1),
        }
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
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
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
        // SAFETY: the host's callback takes borrowed strings for the duration of the call.
        unsafe {
            (self.host.log)(
                self.host.user_data,
                level_code(metadata.level()),
                abi::StrRef::new(metadata.target()),
                abi::StrRef::new(&message.0),
            )
        };
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}
