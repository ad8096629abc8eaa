//! The log bridge: a plugin logs with plain `tracing` macros; the events cross the ABI through the
//! host's log callback and land in the host's subscriber, attributed to the plugin.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use arrow_array::{ArrayRef, Int64Array, RecordBatch};
use dotsync_plugin_sdk::{BatchKind, DynPlanner, LoadedPlugin, PluginContext};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// A planner that logs at every level, inside and outside spans.
mod chatty {
    use arrow_array::RecordBatch;
    use arrow_schema::{Schema, SchemaRef};
    use dotsync_plugin_sdk::{
        BatchId, BatchKind, DestinationPlanner, Failure, Millis, PluginContext, PluginError, Poll, RequestId,
        RequestSpec, ResponseView,
    };
    use schemars::JsonSchema;
    use serde::Deserialize;

    /// Chatty configuration.
    #[derive(Deserialize, JsonSchema)]
    pub struct ChattyConfig {
        /// Logged when the planner is created.
        pub label: String,
    }

    pub struct Chatty;

    impl DestinationPlanner for Chatty {
        type Config = ChattyConfig;

        fn new(config: ChattyConfig, context: PluginContext) -> Result<Self, PluginError> {
            tracing::info!(label = %config.label, sync = context.sync_name, "chatty planner created");
            Ok(Chatty)
        }

        fn input_contract(&self) -> SchemaRef {
            Schema::empty().into()
        }

        fn can_accept_batch(&self) -> bool {
            true
        }

        fn push_batch(&mut self, id: BatchId, _kind: BatchKind, batch: RecordBatch) -> Result<(), PluginError> {
            let span = tracing::info_span!("push", batch = id);
            let _entered = span.enter();
            tracing::warn!(rows = batch.num_rows(), "batch {id} received");
            tracing::error!("an error line");
            tracing::debug!("a debug line");
            tracing::trace!("a trace line");
            Ok(())
        }

        fn finish(&mut self) -> Result<(), PluginError> {
            Ok(())
        }

        fn poll_request(&mut self, _now: Millis) -> Result<Poll<RequestSpec>, PluginError> {
            Ok(Poll::Done)
        }

        fn handle_response(&mut self, _: RequestId, _: &ResponseView<'_>, _: Millis) -> Result<(), PluginError> {
            Ok(())
        }

        fn handle_failure(&mut self, _: RequestId, _: &Failure<'_>, _: Millis) -> Result<(), PluginError> {
            Ok(())
        }

        fn poll_outcomes(&mut self) -> Option<RecordBatch> {
            None
        }
    }

    dotsync_plugin_sdk::export_plugin!(Chatty);
}

/// One captured event: its level and its fields as text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Captured {
    level: Level,
    fields: BTreeMap<String, String>,
}

/// A subscriber that keeps every event.
#[derive(Clone, Default)]
struct Capture {
    events: Arc<Mutex<Vec<Captured>>>,
}

impl Capture {
    fn take(&self) -> Vec<Captured> {
        std::mem::take(&mut *self.events.lock().unwrap())
    }
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.events.lock().unwrap().push(Captured {
            level: *event.metadata().level(),
            fields,
        });
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

fn line(level: Level, message: &str) -> Captured {
    Captured {
        level,
        fields: [
            ("plugin", "dotsync-plugin-sdk"),
            ("target", "sdk::log_bridge::chatty"),
            ("message", message),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
    }
}

fn batch() -> RecordBatch {
    RecordBatch::try_from_iter([("id", Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef)]).unwrap()
}

#[test]
fn plugin_events_reach_the_host_subscriber_with_the_plugin_name() {
    let capture = Capture::default();
    let plugin = LoadedPlugin::from_static(chatty::plugin_descriptor()).unwrap();
    let context = PluginContext {
        sync_name: "nightly".to_owned(),
        ..PluginContext::default()
    };
    tracing::subscriber::with_default(capture.clone(), || {
        let mut planner = plugin.create(r#"{"label":"hello"}"#, &context).unwrap();
        assert_eq!(
            capture.take(),
            vec![line(Level::INFO, "chatty planner created label=hello sync=nightly")]
        );
        planner.push_batch(7, BatchKind::Upsert, batch()).unwrap();
    });
    assert_eq!(
        capture.take(),
        vec![
            line(Level::WARN, "batch 7 received rows=3"),
            line(Level::ERROR, "an error line"),
            line(Level::DEBUG, "a debug line"),
            line(Level::TRACE, "a trace line"),
        ]
    );
}

#[test]
fn events_go_to_the_subscriber_current_when_the_instance_was_created() {
    let at_create = Capture::default();
    let elsewhere = Capture::default();
    let plugin = LoadedPlugin::from_static(chatty::plugin_descriptor()).unwrap();
    let mut planner = tracing::subscriber::with_default(at_create.clone(), || {
        plugin.create(r#"{"label":"x"}"#, &PluginContext::default()).unwrap()
    });
    at_create.take();
    tracing::subscriber::with_default(elsewhere.clone(), || {
        planner.push_batch(1, BatchKind::Upsert, batch()).unwrap();
    });
    assert_eq!(at_create.take().len(), 4);
    assert_eq!(elsewhere.take(), vec![]);
}

/// Levels of the lines a plugin handed to [`count_log`]'s host.
static HANDED_OVER: Mutex<Vec<u32>> = Mutex::new(Vec::new());

unsafe extern "C" fn count_log(
    _: *mut std::ffi::c_void,
    level: u32,
    _: dotsync_plugin_sdk::abi::StrRef,
    _: dotsync_plugin_sdk::abi::StrRef,
) {
    HANDED_OVER.lock().unwrap().push(level);
}

/// Creates a chatty instance (it logs one INFO line) through the C ABI with a host table of
/// `struct_size` bytes and `max_level`; returns the levels handed to the host.
fn lines_handed_over(struct_size: usize, max_level: u32) -> Vec<u32> {
    use dotsync_plugin_sdk::abi;
    let descriptor = chatty::plugin_descriptor();
    let host = abi::HostApi {
        struct_size,
        abi_version: abi::ABI_VERSION,
        user_data: std::ptr::null_mut(),
        log: count_log,
        max_level,
    };
    HANDED_OVER.lock().unwrap().clear();
    let mut handle = std::ptr::null_mut();
    let mut error = abi::OwnedBytes::EMPTY;
    // SAFETY: every pointer is valid for the call.
    let status = unsafe {
        (descriptor.create)(
            &host,
            abi::StrRef::new(r#"{"label":"x"}"#),
            abi::StrRef::new("{}"),
            &mut handle,
            &mut error,
        )
    };
    assert_eq!(status, abi::Status::Ok);
    // SAFETY: the handle is live and not used after this.
    unsafe { (descriptor.destroy)(handle) };
    std::mem::take(&mut *HANDED_OVER.lock().unwrap())
}

#[test]
fn lines_above_the_host_level_are_not_even_handed_over() {
    use dotsync_plugin_sdk::abi::{HostApi, log_level};
    let full = std::mem::size_of::<HostApi>();
    assert_eq!(lines_handed_over(full, log_level::WARN), Vec::<u32>::new());
    assert_eq!(lines_handed_over(full, log_level::INFO), vec![log_level::INFO]);
    // A host of ABI 1.1 has no `max_level`: the plugin hands over everything.
    assert_eq!(
        lines_handed_over(HostApi::SIZE_1_1, log_level::WARN),
        vec![log_level::INFO]
    );
}

#[test]
fn a_plugin_logs_safely_without_any_host_subscriber() {
    let plugin = LoadedPlugin::from_static(chatty::plugin_descriptor()).unwrap();
    let mut planner = plugin.create(r#"{"label":"x"}"#, &PluginContext::default()).unwrap();
    planner.push_batch(1, BatchKind::Upsert, batch()).unwrap();
    assert_eq!(planner.poll_request(0).unwrap(), dotsync_plugin_sdk::Poll::Done);
}
