//! What protects the host from a plugin: ABI version and size checks, panic containment with
//! poisoning, validation of outcome batches, and load errors for files that are not plugins.

use std::ffi::c_void;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch};
use dotsync_plugin_sdk::abi;
use dotsync_plugin_sdk::{
    BatchKind, DynPlanner, ErrorKind, ForeignPlanner, LoadError, LoadedPlugin, PlannerError, PluginContext, Poll,
    ResponseView,
};

fn batch(rows: usize) -> RecordBatch {
    let ids: Vec<i64> = (0..rows as i64).collect();
    RecordBatch::try_from_iter([("id", Arc::new(Int64Array::from(ids)) as ArrayRef)]).unwrap()
}

/// A planner that panics in the call its config names.
mod bomb {
    use arrow_array::RecordBatch;
    use arrow_schema::{Schema, SchemaRef};
    use dotsync_plugin_sdk::{
        BatchId, BatchKind, DestinationPlanner, Failure, Millis, PluginContext, PluginError, Poll, RequestId,
        RequestSpec, ResponseView,
    };
    use schemars::JsonSchema;
    use serde::Deserialize;

    /// Bomb configuration.
    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct BombConfig {
        /// The call that panics: `new`, `input_contract`, `push_batch`, `poll_request`,
        /// `key_hashes` or `drop`.
        pub panic_in: String,
    }

    pub struct Bomb {
        panic_in: String,
    }

    impl Drop for Bomb {
        fn drop(&mut self) {
            if self.panic_in == "drop" {
                panic!("boom in drop");
            }
        }
    }

    impl DestinationPlanner for Bomb {
        type Config = BombConfig;

        fn new(config: BombConfig, _context: PluginContext) -> Result<Self, PluginError> {
            if config.panic_in == "new" {
                panic!("boom in new");
            }
            Ok(Bomb {
                panic_in: config.panic_in,
            })
        }

        fn input_contract(&self) -> SchemaRef {
            if self.panic_in == "input_contract" {
                panic!("boom in input_contract");
            }
            Schema::empty().into()
        }

        fn can_accept_batch(&self) -> bool {
            true
        }

        fn push_batch(&mut self, id: BatchId, _kind: BatchKind, batch: RecordBatch) -> Result<(), PluginError> {
            if self.panic_in == "push_batch" {
                panic!("boom in push_batch: batch {id} has {} rows", batch.num_rows());
            }
            Ok(())
        }

        fn finish(&mut self) -> Result<(), PluginError> {
            Ok(())
        }

        fn poll_request(&mut self, _now: Millis) -> Result<Poll<RequestSpec>, PluginError> {
            if self.panic_in == "poll_request" {
                let empty: Vec<u8> = Vec::new();
                // An index out of bounds, the most common real panic.
                let _ = empty[usize::from(self.panic_in.len() > 1)];
            }
            Ok(Poll::Ready(RequestSpec::get(1, "/ping", "")))
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

        fn key_hashes(&mut self, batch: &RecordBatch) -> Result<Option<Vec<u64>>, PluginError> {
            if self.panic_in == "key_hashes" {
                panic!("boom in key_hashes: {} rows", batch.num_rows());
            }
            Ok(Some((0..batch.num_rows() as u64).map(|row| row * 10).collect()))
        }
    }

    dotsync_plugin_sdk::export_plugin!(Bomb);
}

/// A planner whose outcome batches are malformed in the way its config names.
mod bad_outcomes {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, RecordBatch, StringArray, UInt8Array, UInt32Array, UInt64Array};
    use arrow_schema::{DataType, Field, Schema, SchemaRef};
    use dotsync_plugin_sdk::{
        BatchId, BatchKind, DestinationPlanner, Failure, Millis, OutcomeBuilder, OutcomeStatus, PluginContext,
        PluginError, Poll, RequestId, RequestSpec, ResponseView, outcome_schema,
    };
    use schemars::JsonSchema;
    use serde::Deserialize;

    /// Bad outcomes configuration.
    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct BadConfig {
        /// `good`, `wrong_schema`, `wrong_types`, `unknown_status` or `bad_request`.
        pub mode: String,
    }

    pub struct BadOutcomes {
        mode: String,
        pending: Option<(BatchId, usize)>,
    }

    impl DestinationPlanner for BadOutcomes {
        type Config = BadConfig;

        fn new(config: BadConfig, _context: PluginContext) -> Result<Self, PluginError> {
            Ok(BadOutcomes {
                mode: config.mode,
                pending: None,
            })
        }

        fn input_contract(&self) -> SchemaRef {
            Schema::empty().into()
        }

        fn can_accept_batch(&self) -> bool {
            true
        }

        fn push_batch(&mut self, id: BatchId, _kind: BatchKind, batch: RecordBatch) -> Result<(), PluginError> {
            self.pending = Some((id, batch.num_rows()));
            Ok(())
        }

        fn finish(&mut self) -> Result<(), PluginError> {
            Ok(())
        }

        fn poll_request(&mut self, _now: Millis) -> Result<Poll<RequestSpec>, PluginError> {
            Ok(match self.mode.as_str() {
                "bad_request" => Poll::Ready(RequestSpec::get(7, "no-leading-slash", "")),
                "zero_id" => Poll::Ready(RequestSpec::get(0, "/x", "")),
                _ => Poll::Done,
            })
        }

        fn handle_response(&mut self, _: RequestId, _: &ResponseView<'_>, _: Millis) -> Result<(), PluginError> {
            Ok(())
        }

        fn handle_failure(&mut self, _: RequestId, _: &Failure<'_>, _: Millis) -> Result<(), PluginError> {
            Ok(())
        }

        fn poll_outcomes(&mut self) -> Option<RecordBatch> {
            let (batch_id, rows) = self.pending.take()?;
            let rows = rows as u32;
            match self.mode.as_str() {
                "wrong_schema" => {
                    let schema = Arc::new(Schema::new(vec![
                        Field::new("row", DataType::UInt32, false),
                        Field::new("ok", DataType::Boolean, false),
                    ]));
                    let columns: Vec<ArrayRef> = vec![
                        Arc::new(UInt32Array::from_iter_values(0..rows)),
                        Arc::new(arrow_array::BooleanArray::from(vec![true; rows as usize])),
                    ];
                    Some(RecordBatch::try_new(schema, columns).unwrap())
                }
                "wrong_types" => {
                    // The right names, but `row` as UInt64.
                    let fields: Vec<Field> = outcome_schema()
                        .fields()
                        .iter()
                        .map(|f| {
                            if f.name() == "row" {
                                Field::new("row", DataType::UInt64, false)
                            } else {
                                f.as_ref().clone()
                            }
                        })
                        .collect();
                    let columns: Vec<ArrayRef> = vec![
                        Arc::new(UInt64Array::from(vec![batch_id; rows as usize])),
                        Arc::new(UInt64Array::from_iter_values(0..rows as u64)),
                        Arc::new(UInt8Array::from(vec![0; rows as usize])),
                        Arc::new(StringArray::from(vec![None::<&str>; rows as usize])),
                        Arc::new(StringArray::from(vec![None::<&str>; rows as usize])),
                    ];
                    Some(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap())
                }
                "unknown_status" => {
                    let columns: Vec<ArrayRef> = vec![
                        Arc::new(UInt64Array::from(vec![batch_id; rows as usize])),
                        Arc::new(UInt32Array::from_iter_values(0..rows)),
                        Arc::new(UInt8Array::from(vec![9; rows as usize])),
                        Arc::new(StringArray::from(vec![None::<&str>; rows as usize])),
                        Arc::new(StringArray::from(vec![None::<&str>; rows as usize])),
                    ];
                    Some(RecordBatch::try_new(outcome_schema(), columns).unwrap())
                }
                _ => {
                    let mut builder = OutcomeBuilder::new();
                    builder.push_all(batch_id, rows, OutcomeStatus::Delivered, "", "");
                    builder.finish()
                }
            }
        }
    }

    dotsync_plugin_sdk::export_plugin!(BadOutcomes);
}

fn bomb(panic_in: &str) -> ForeignPlanner {
    LoadedPlugin::from_static(bomb::plugin_descriptor())
        .unwrap()
        .create(
            &serde_json::json!({ "panic_in": panic_in }).to_string(),
            &PluginContext::default(),
        )
        .expect("created")
}

fn bad_outcomes(mode: &str) -> ForeignPlanner {
    LoadedPlugin::from_static(bad_outcomes::plugin_descriptor())
        .unwrap()
        .create(
            &serde_json::json!({ "mode": mode }).to_string(),
            &PluginContext::default(),
        )
        .expect("created")
}

fn assert_panicked(result: Result<impl std::fmt::Debug, PlannerError>, fragment: &str) {
    match result {
        Err(PlannerError::Panicked { plugin, message }) => {
            assert_eq!(plugin, "dotsync-plugin-sdk");
            assert!(message.contains(fragment), "`{message}` lacks `{fragment}`");
        }
        other => panic!("expected Panicked containing `{fragment}`, got {other:?}"),
    }
}

/// Every call of a poisoned planner answers `Panicked`.
fn assert_poisoned(planner: &mut ForeignPlanner) {
    let ok = ResponseView {
        status: 200,
        headers: &[],
        body: &[],
    };
    assert_panicked(planner.can_accept_batch(), "");
    assert_panicked(planner.push_batch(2, BatchKind::Upsert, batch(1)), "");
    assert_panicked(planner.finish(), "");
    assert_panicked(planner.poll_request(0), "");
    assert_panicked(planner.handle_response(1, &ok, 0), "");
    assert_panicked(planner.poll_outcomes(), "");
    assert_panicked(planner.poll_released_slot(), "");
    assert_panicked(planner.poll_timeout(), "");
    assert_panicked(planner.handle_timeout(0), "");
    assert_panicked(planner.input_contract(), "");
}

#[test]
fn a_panic_in_push_batch_is_contained_and_poisons_the_instance() {
    let mut planner = bomb("push_batch");
    assert!(planner.can_accept_batch().unwrap(), "alive before the panic");
    assert_panicked(
        planner.push_batch(5, BatchKind::Upsert, batch(3)),
        "boom in push_batch: batch 5 has 3 rows",
    );
    assert_poisoned(&mut planner);
    // Other instances of the same plugin are unaffected.
    let mut healthy = bomb("nothing");
    healthy.push_batch(1, BatchKind::Upsert, batch(1)).unwrap();
    assert!(matches!(healthy.poll_request(0).unwrap(), Poll::Ready(_)));
}

#[test]
fn a_panic_in_poll_request_is_contained_and_poisons_the_instance() {
    let mut planner = bomb("poll_request");
    planner.push_batch(1, BatchKind::Upsert, batch(2)).unwrap();
    assert_panicked(planner.poll_request(10), "index out of bounds");
    assert_poisoned(&mut planner);
}

#[test]
fn a_panic_in_new_is_reported_as_panicked() {
    let error = LoadedPlugin::from_static(bomb::plugin_descriptor())
        .unwrap()
        .create(r#"{"panic_in":"new"}"#, &PluginContext::default())
        .err()
        .expect("create fails");
    assert_panicked(Err::<(), _>(error), "boom in new");
}

#[test]
fn a_panic_in_input_contract_is_reported_as_panicked() {
    let mut planner = bomb("input_contract");
    assert_panicked(planner.input_contract(), "boom in input_contract");
    assert_panicked(planner.finish(), "boom in input_contract");
    assert_poisoned(&mut planner);
}

#[test]
fn a_panic_in_drop_does_not_reach_the_host() {
    let planner = bomb("drop");
    drop(planner);
}

unsafe extern "C" fn ignore_log(_: *mut c_void, _: u32, _: abi::StrRef, _: abi::StrRef) {}

/// The plugin side poisons the instance itself, whatever the host does: a host that ignores a
/// `Panicked` status still gets `Panicked` from every later shim.
#[test]
fn the_export_shims_poison_the_instance_on_their_side() {
    let descriptor = bomb::plugin_descriptor();
    let host = abi::HostApi {
        struct_size: std::mem::size_of::<abi::HostApi>(),
        abi_version: abi::ABI_VERSION,
        user_data: std::ptr::null_mut(),
        log: ignore_log,
        max_level: abi::log_level::TRACE,
    };
    let config = r#"{"panic_in":"poll_request"}"#;
    let mut handle = std::ptr::null_mut();
    let mut error = abi::OwnedBytes::EMPTY;
    // SAFETY: every pointer is valid for the call.
    let status = unsafe {
        (descriptor.create)(
            &host,
            abi::StrRef::new(config),
            abi::StrRef::new("{}"),
            &mut handle,
            &mut error,
        )
    };
    assert_eq!(status, abi::Status::Ok);
    assert!(!handle.is_null());

    let mut request = abi::FfiRequest::EMPTY;
    // SAFETY: the handle is live; `request` is writable.
    let poll = unsafe { (descriptor.poll_request)(handle, 0, &mut request) };
    assert_eq!(poll, abi::PollStatus::Panicked);
    // SAFETY: the handle is live; the message is borrowed until the next call.
    let last = unsafe { (descriptor.last_error)(handle) };
    assert_eq!(last.kind, ErrorKind::Fatal as u32);
    // SAFETY: as above.
    assert!(unsafe { last.message.as_str() }.contains("index out of bounds"));

    // SAFETY: the handle is live.
    assert_eq!(unsafe { (descriptor.finish)(handle) }, abi::Status::Panicked);
    // SAFETY: as above.
    assert_eq!(
        unsafe { (descriptor.can_accept_batch)(handle) },
        abi::PollStatus::Panicked
    );
    let mut at = 0;
    // SAFETY: as above.
    assert_eq!(
        unsafe { (descriptor.poll_timeout)(handle, &mut at) },
        abi::PollStatus::Panicked
    );
    // SAFETY: as above; not used afterwards.
    unsafe { (descriptor.destroy)(handle) };
}

fn assert_contract(result: Result<impl std::fmt::Debug, PlannerError>, fragment: &str) {
    match result {
        Err(PlannerError::Contract { plugin, message }) => {
            assert_eq!(plugin, "dotsync-plugin-sdk");
            assert!(message.contains(fragment), "`{message}` lacks `{fragment}`");
        }
        other => panic!("expected a contract error containing `{fragment}`, got {other:?}"),
    }
}

#[test]
fn well_formed_outcomes_are_accepted() {
    let mut planner = bad_outcomes("good");
    planner.push_batch(3, BatchKind::Upsert, batch(2)).unwrap();
    let outcomes = planner.poll_outcomes().unwrap().expect("outcomes");
    assert_eq!(outcomes.len(), 2);
    assert_eq!(outcomes[1], dotsync_plugin_sdk::RowOutcome::delivered(3, 1));
}

#[test]
fn an_outcome_batch_with_the_wrong_schema_is_a_contract_error() {
    let mut planner = bad_outcomes("wrong_schema");
    planner.push_batch(1, BatchKind::Upsert, batch(2)).unwrap();
    assert_contract(planner.poll_outcomes(), "outcome batch has schema");
}

#[test]
fn an_outcome_batch_with_the_wrong_column_types_is_a_contract_error() {
    let mut planner = bad_outcomes("wrong_types");
    planner.push_batch(1, BatchKind::Upsert, batch(2)).unwrap();
    assert_contract(planner.poll_outcomes(), "outcome batch has schema");
}

#[test]
fn an_outcome_batch_with_an_unknown_status_is_a_contract_error() {
    let mut planner = bad_outcomes("unknown_status");
    planner.push_batch(1, BatchKind::Upsert, batch(2)).unwrap();
    assert_contract(planner.poll_outcomes(), "unknown status 9");
}

#[test]
fn a_malformed_request_is_a_contract_error() {
    let mut planner = bad_outcomes("bad_request");
    assert_contract(planner.poll_request(0), "does not start with `/`");
    let mut planner = bad_outcomes("zero_id");
    assert_contract(planner.poll_request(0), "request id 0 is reserved");
}

/// A descriptor with every field of `real` but the two leading ones, leaked to be `'static`.
fn forged(
    real: &'static abi::PluginDescriptor,
    abi_version: u32,
    struct_size: usize,
) -> &'static abi::PluginDescriptor {
    Box::leak(Box::new(abi::PluginDescriptor {
        abi_version,
        struct_size,
        name: real.name,
        version: real.version,
        build_info: real.build_info,
        config_schema_json: real.config_schema_json,
        create: real.create,
        destroy: real.destroy,
        input_contract: real.input_contract,
        can_accept_batch: real.can_accept_batch,
        push_batch: real.push_batch,
        finish: real.finish,
        poll_request: real.poll_request,
        handle_response: real.handle_response,
        handle_failure: real.handle_failure,
        poll_outcomes: real.poll_outcomes,
        poll_released_slot: real.poll_released_slot,
        poll_timeout: real.poll_timeout,
        handle_timeout: real.handle_timeout,
        last_error: real.last_error,
        request_rows: real.request_rows,
        key_hashes: real.key_hashes,
    }))
}

#[test]
fn another_abi_major_is_refused_naming_both_versions() {
    let real = bomb::plugin_descriptor();
    let size = std::mem::size_of::<abi::PluginDescriptor>();
    let descriptor = forged(real, (2 << 16) | 3, size);
    let error = LoadedPlugin::from_static(descriptor).expect_err("major 2 is refused");
    assert!(
        matches!(
            error,
            LoadError::AbiMismatch {
                found_major: 2,
                found_minor: 3,
                ..
            }
        ),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(text.contains("plugin ABI 2.3"), "{text}");
    assert!(
        text.contains(&format!("this host speaks {}.{}", abi::ABI_MAJOR, abi::ABI_MINOR)),
        "{text}"
    );
    assert!(text.contains("static plugin"), "{text}");

    // Major 0 is refused as well.
    let error = LoadedPlugin::from_static(forged(real, 7, size)).expect_err("major 0 is refused");
    assert!(error.to_string().contains("plugin ABI 0.7"), "{error}");
}

#[test]
fn a_newer_minor_and_a_larger_descriptor_are_accepted() {
    let real = bomb::plugin_descriptor();
    let size = std::mem::size_of::<abi::PluginDescriptor>();
    let newer = forged(real, abi::ABI_VERSION + 5, size + 64);
    let plugin = LoadedPlugin::from_static(newer).expect("same major, newer minor, appended fields");
    assert_eq!(abi::abi_minor(plugin.abi_version()), abi::ABI_MINOR + 5);
    // And it still works through the copied table.
    let mut planner = plugin
        .create(r#"{"panic_in":"nothing"}"#, &PluginContext::default())
        .unwrap();
    assert!(planner.can_accept_batch().unwrap());
}

#[test]
fn a_too_small_descriptor_is_refused() {
    let real = bomb::plugin_descriptor();
    let size = abi::DESCRIPTOR_SIZE_1_0;
    let error = LoadedPlugin::from_static(forged(real, abi::ABI_VERSION, 16)).expect_err("refused");
    assert!(
        matches!(error, LoadError::TooSmall { found: 16, expected, .. } if expected == size),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(text.contains("16 bytes"), "{text}");
    assert!(text.contains(&format!("{size} bytes")), "{text}");
    // One byte short is as bad as sixteen.
    assert!(LoadedPlugin::from_static(forged(real, abi::ABI_VERSION, size - 1)).is_err());
}

#[test]
fn a_1_0_descriptor_is_accepted_and_never_asked_for_request_rows() {
    let real = bomb::plugin_descriptor();
    let descriptor = forged(real, abi::ABI_MAJOR as u32 * 65536, abi::DESCRIPTOR_SIZE_1_0);
    let plugin = LoadedPlugin::from_static(descriptor).expect("a 1.0 plugin still loads");
    let mut planner = plugin
        .create(r#"{"panic_in":"nothing"}"#, &PluginContext::default())
        .unwrap();
    // The 1.0 descriptor has no `request_rows`: the host answers "not said" without calling.
    assert_eq!(planner.request_rows(1).unwrap(), None);
}

#[test]
fn key_hashes_cross_the_vtable_and_a_panic_in_them_poisons_the_instance() {
    let mut planner = bomb("nothing");
    assert_eq!(planner.key_hashes(batch(3)).unwrap(), Some(vec![0, 10, 20]));
    let mut planner = bomb("key_hashes");
    assert_panicked(planner.key_hashes(batch(2)), "boom in key_hashes: 2 rows");
    assert_poisoned(&mut planner);
}

#[test]
fn a_1_2_descriptor_is_never_asked_for_key_hashes() {
    let real = bomb::plugin_descriptor();
    let size_1_2 = std::mem::offset_of!(abi::PluginDescriptor, key_hashes);
    let descriptor = forged(real, abi::ABI_MAJOR as u32 * 65536 + 2, size_1_2);
    let plugin = LoadedPlugin::from_static(descriptor).expect("a 1.2 plugin still loads");
    let mut planner = plugin
        .create(r#"{"panic_in":"key_hashes"}"#, &PluginContext::default())
        .unwrap();
    // Calling it would panic: the host answers "no pre-pass" without calling.
    assert_eq!(planner.key_hashes(batch(2)).unwrap(), None);
}

#[test]
fn loading_a_file_that_is_not_a_library_names_the_path() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let error = LoadedPlugin::load(&path).expect_err("a manifest is not a library");
    assert!(
        matches!(&error, LoadError::Open { path: p, .. } if p == &path),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains("cannot load plugin library"), "{text}");
}

#[test]
fn loading_a_missing_file_names_the_path() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("no-such-plugin.so");
    let error = LoadedPlugin::load(&path).expect_err("nothing there");
    assert!(
        matches!(&error, LoadError::Open { path: p, .. } if p == &path),
        "{error:?}"
    );
    assert!(error.to_string().contains("no-such-plugin.so"), "{error}");
}

/// A real shared library without the entry symbol (the C maths library) is no plugin.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn loading_a_library_without_the_entry_symbol_is_refused() {
    let path = Path::new("libm.so.6");
    let error = LoadedPlugin::load(path).expect_err("libm is no plugin");
    assert!(matches!(&error, LoadError::NoEntry { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("libm.so.6"), "{text}");
    assert!(text.contains(abi::ENTRY_SYMBOL), "{text}");
}
