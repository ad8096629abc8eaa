//! The plugin side of the C ABI: generic `extern "C"` shims around a [`DestinationPlanner`],
//! instantiated by [`export_plugin!`](crate::export_plugin). Every shim runs inside
//! `catch_unwind`; a panic poisons the instance, which then answers `Panicked` to every call.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

use arrow_array::ffi::{FFI_ArrowArray, FFI_ArrowSchema, from_ffi, to_ffi};
use arrow_array::{Array, RecordBatch, StructArray};
use dotsync_plugin_abi as abi;
use tracing::Dispatch;

use crate::log_bridge::HostLog;
use crate::planner::DestinationPlanner;
use crate::types::{
    BatchKind, ErrorKind, Failure, FailureKind, Header, PluginContext, PluginError, Poll, RequestSpec, ResponseView,
};

/// One plugin instance behind an opaque `PluginHandle`.
pub struct Instance<P: DestinationPlanner> {
    planner: P,
    poisoned: bool,
    last_error: Option<(ErrorKind, String)>,
    /// Keeps the strings of the last request alive until the next call, as the ABI promises.
    last_request: Option<(RequestSpec, Vec<abi::FfiHeader>)>,
    log: Dispatch,
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

enum CallError {
    /// The planner returned an error, recorded as the instance's last error.
    Plugin,
    Panicked,
}

/// Runs `body` on the instance with panics caught, logging bridged, and errors recorded.
///
/// # Safety
/// `handle` must be a live handle made by [`create`] for the same `P`.
unsafe fn with_instance<P: DestinationPlanner, T>(
    handle: *mut abi::PluginHandle,
    body: impl FnOnce(&mut P) -> Result<T, PluginError>,
) -> Result<T, CallError> {
    // SAFETY: upheld by the caller: the handle is a `Box<Instance<P>>` we made.
    let instance = unsafe { &mut *(handle as *mut Instance<P>) };
    instance.last_request = None;
    if instance.poisoned {
        return Err(CallError::Panicked);
    }
    let planner = &mut instance.planner;
    let result = tracing::dispatcher::with_default(&instance.log, || catch_unwind(AssertUnwindSafe(|| body(planner))));
    crate::log_bridge::flush(&instance.log);
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => {
            instance.last_error = Some((error.kind, error.message.clone()));
            Err(CallError::Plugin)
        }
        Err(payload) => {
            instance.poisoned = true;
            instance.last_error = Some((
                ErrorKind::Fatal,
                format!("panicked: {}", panic_message(payload.as_ref())),
            ));
            Err(CallError::Panicked)
        }
    }
}

fn status<T>(result: Result<T, CallError>) -> abi::Status {
    match result {
        Ok(_) => abi::Status::Ok,
        Err(CallError::Plugin) => abi::Status::Error,
        Err(CallError::Panicked) => abi::Status::Panicked,
    }
}

fn poll_status<T>(result: &Result<T, CallError>) -> Option<abi::PollStatus> {
    match result {
        Ok(_) => None,
        Err(CallError::Plugin) => Some(abi::PollStatus::Error),
        Err(CallError::Panicked) => Some(abi::PollStatus::Panicked),
    }
}

/// # Safety
/// Pointers as documented on [`abi::PluginDescriptor::create`].
pub unsafe extern "C" fn create<P: DestinationPlanner>(
    host: *const abi::HostApi,
    config_json: abi::StrRef,
    context_json: abi::StrRef,
    handle_out: *mut *mut abi::PluginHandle,
    error_out: *mut abi::OwnedBytes,
) -> abi::Status {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the host passes a valid HostApi (of its ABI 1.x layout) for the instance's
        // lifetime, or null.
        let host = unsafe { abi::HostApi::read(host) };
        let log = match host {
            Some(host) => Dispatch::new(HostLog::new(host)),
            None => Dispatch::none(),
        };
        // SAFETY: borrowed strings valid for this call.
        let (config_text, context_text) = unsafe { (config_json.as_str(), context_json.as_str()) };
        let created = tracing::dispatcher::with_default(&log, || {
            let config: P::Config = serde_json::from_str(config_text)
                .map_err(|error| PluginError::config(format!("invalid plugin config: {error}")))?;
            let context: PluginContext = serde_json::from_str(context_text)
                .map_err(|error| PluginError::fatal(format!("invalid plugin context: {error}")))?;
            P::new(config, context)
        });
        crate::log_bridge::flush(&log);
        created.map(|planner| Instance {
            planner,
            poisoned: false,
            last_error: None,
            last_request: None,
            log,
        })
    }));
    let fail = |message: String| {
        if !error_out.is_null() {
            // SAFETY: the host passes a writable OwnedBytes slot.
            unsafe { ptr::write(error_out, abi::OwnedBytes::from_vec(message.into_bytes())) };
        }
    };
    match outcome {
        Ok(Ok(instance)) => {
            // SAFETY: the host passes a writable handle slot.
            unsafe { ptr::write(handle_out, Box::into_raw(Box::new(instance)) as *mut abi::PluginHandle) };
            abi::Status::Ok
        }
        Ok(Err(error)) => {
            fail(error.message);
            abi::Status::Error
        }
        Err(payload) => {
            fail(format!("panicked: {}", panic_message(payload.as_ref())));
            abi::Status::Panicked
        }
    }
}

/// # Safety
/// `handle` was made by [`create`] for the same `P` and is not used afterwards.
pub unsafe extern "C" fn destroy<P: DestinationPlanner>(handle: *mut abi::PluginHandle) {
    if handle.is_null() {
        return;
    }
    // A panic in the planner's Drop must not unwind into the host.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: upheld by the caller.
        drop(unsafe { Box::from_raw(handle as *mut Instance<P>) });
    }));
}

/// # Safety
/// `handle` is live; `schema_out` is writable.
pub unsafe extern "C" fn input_contract<P: DestinationPlanner>(
    handle: *mut abi::PluginHandle,
    schema_out: *mut FFI_ArrowSchema,
) -> abi::Status {
    // SAFETY: upheld by the caller.
    let result = unsafe {
        with_instance::<P, _>(handle, |planner| {
            FFI_ArrowSchema::try_from(planner.input_contract().as_ref())
                .map_err(|error| PluginError::fatal(format!("input contract cannot cross the ABI: {error}")))
        })
    };
    match result {
        Ok(schema) => {
            // SAFETY: upheld by the caller.
            unsafe { ptr::write(schema_out, schema) };
            abi::Status::Ok
        }
        Err(error) => status::<()>(Err(error)),
    }
}

/// # Safety
/// `handle` is live.
pub unsafe extern "C" fn can_accept_batch<P: DestinationPlanner>(handle: *mut abi::PluginHandle) -> abi::PollStatus {
    // SAFETY: upheld by the caller.
    let result = unsafe { with_instance::<P, _>(handle, |planner| Ok(planner.can_accept_batch())) };
    match result {
        Ok(true) => abi::PollStatus::Ready,
        Ok(false) => abi::PollStatus::Pending,
        Err(_) => poll_status(&result).unwrap_or(abi::PollStatus::Error),
    }
}

/// # Safety
/// `handle` is live; `array` and `schema` are valid Arrow C structs; the plugin takes `array`.
pub unsafe extern "C" fn push_batch<P: DestinationPlanner>(
    handle: *mut abi::PluginHandle,
    batch_id: u64,
    kind: u32,
    array: *mut FFI_ArrowArray,
    schema: *const FFI_ArrowSchema,
) -> abi::Status {
    // SAFETY: upheld by the caller.
    let result = unsafe {
        with_instance::<P, _>(handle, |planner| {
            let kind =
                BatchKind::from_u32(kind).ok_or_else(|| PluginError::fatal(format!("unknown batch kind {kind}")))?;
            planner.push_batch(batch_id, kind, take_batch(array, schema)?)
        })
    };
    status(result)
}

/// Takes the batch the host hands over (a valid struct array and its schema).
///
/// # Safety
/// `array` and `schema` are valid; `array` is left released.
unsafe fn take_batch(array: *mut FFI_ArrowArray, schema: *const FFI_ArrowSchema) -> Result<RecordBatch, PluginError> {
    // SAFETY: upheld by the caller; `from_raw` takes the array.
    let data = unsafe { from_ffi(FFI_ArrowArray::from_raw(array), &*schema) }
        .map_err(|error| PluginError::fatal(format!("batch cannot cross the ABI: {error}")))?;
    Ok(RecordBatch::from(StructArray::from(data)))
}

/// # Safety
/// `handle` is live.
pub unsafe extern "C" fn finish<P: DestinationPlanner>(handle: *mut abi::PluginHandle) -> abi::Status {
    // SAFETY: upheld by the caller.
    status(unsafe { with_instance::<P, _>(handle, |planner| planner.finish()) })
}

/// # Safety
/// `handle` is live; `out` is writable.
pub unsafe extern "C" fn poll_request<P: DestinationPlanner>(
    handle: *mut abi::PluginHandle,
    now_ms: u64,
    out: *mut abi::FfiRequest,
) -> abi::PollStatus {
    // SAFETY: upheld by the caller.
    let result = unsafe { with_instance::<P, _>(handle, |planner| planner.poll_request(now_ms)) };
    if let Some(status) = poll_status(&result) {
        return status;
    }
    match result {
        Ok(Poll::Ready(mut spec)) => {
            // SAFETY: upheld by the caller.
            let instance = unsafe { &mut *(handle as *mut Instance<P>) };
            // A body the planner wrote is uniquely owned: it turns back into its `Vec` in place.
            let body = abi::OwnedBytes::from_vec(Vec::from(std::mem::take(&mut spec.body)));
            let headers: Vec<abi::FfiHeader> = spec
                .headers
                .iter()
                .map(|(name, value)| abi::FfiHeader {
                    name: abi::StrRef::new(name),
                    value: abi::StrRef::new(value),
                })
                .collect();
            let mut flags = 0;
            if spec.idempotent {
                flags |= abi::REQUEST_IDEMPOTENT;
            }
            if spec.writes {
                flags |= abi::REQUEST_WRITES;
            }
            let request = abi::FfiRequest {
                id: spec.id,
                method: abi::StrRef::new(spec.method.as_str()),
                path: abi::StrRef::new(&spec.path),
                headers: headers.as_ptr(),
                headers_len: headers.len(),
                body,
                rate_class: abi::StrRef::new(&spec.rate_class),
                slot_class: abi::StrRef::new(&spec.slot_class),
                flags,
                not_before_ms: spec.not_before.unwrap_or(0),
            };
            // The strings point into `spec` and `headers`, whose heap buffers do not move when
            // the values themselves move into `last_request`.
            instance.last_request = Some((spec, headers));
            // SAFETY: upheld by the caller.
            unsafe { ptr::write(out, request) };
            abi::PollStatus::Ready
        }
        Ok(Poll::Pending) => abi::PollStatus::Pending,
        Ok(Poll::Done) => abi::PollStatus::Done,
        Err(_) => abi::PollStatus::Error,
    }
}

/// # Safety
/// `headers` points at `len` valid headers (or is null with len 0).
unsafe fn read_headers<'a>(headers: *const abi::FfiHeader, len: usize) -> Vec<Header<'a>> {
    if headers.is_null() || len == 0 {
        return Vec::new();
    }
    // SAFETY: upheld by the caller.
    unsafe { std::slice::from_raw_parts(headers, len) }
        .iter()
        // SAFETY: header strings are borrowed for the call.
        .map(|h| unsafe {
            Header {
                name: h.name.as_str(),
                value: h.value.as_str(),
            }
        })
        .collect()
}

/// # Safety
/// `handle` is live; `response` is valid for the call.
pub unsafe extern "C" fn handle_response<P: DestinationPlanner>(
    handle: *mut abi::PluginHandle,
    request_id: u64,
    response: *const abi::FfiResponse,
    now_ms: u64,
) -> abi::Status {
    // SAFETY: upheld by the caller.
    let result = unsafe {
        with_instance::<P, _>(handle, |planner| {
            // The response and everything it points at live for the call.
            let response = &*response;
            let headers = read_headers(response.headers, response.headers_len);
            let view = ResponseView {
                status: response.status,
                headers: &headers,
                body: response.body.as_slice(),
            };
            planner.handle_response(request_id, &view, now_ms)
        })
    };
    status(result)
}

/// # Safety
/// `handle` is live; `failure` is valid for the call.
pub unsafe extern "C" fn handle_failure<P: DestinationPlanner>(
    handle: *mut abi::PluginHandle,
    request_id: u64,
    failure: *const abi::FfiFailure,
    now_ms: u64,
) -> abi::Status {
    // SAFETY: upheld by the caller.
    let result = unsafe {
        with_instance::<P, _>(handle, |planner| {
            // The failure lives for the call.
            let failure = &*failure;
            let kind = FailureKind::from_u32(failure.kind)
                .ok_or_else(|| PluginError::fatal(format!("unknown failure kind {}", failure.kind)))?;
            let view = Failure {
                kind,
                status: failure.status,
                message: failure.message.as_str(),
            };
            planner.handle_failure(request_id, &view, now_ms)
        })
    };
    status(result)
}

/// # Safety
/// `handle` is live; the out pointers are writable.
pub unsafe extern "C" fn poll_outcomes<P: DestinationPlanner>(
    handle: *mut abi::PluginHandle,
    array_out: *mut FFI_ArrowArray,
    schema_out: *mut FFI_ArrowSchema,
) -> abi::PollStatus {
    // SAFETY: upheld by the caller.
    let result = unsafe {
        with_instance::<P, _>(handle, |planner| {
            planner
                .poll_outcomes()
                .map(|batch| {
                    let data = StructArray::from(batch).into_data();
                    to_ffi(&data).map_err(|error| PluginError::fatal(format!("outcomes cannot cross the ABI: {error}")))
                })
                .transpose()
        })
    };
    if let Some(status) = poll_status(&result) {
        return status;
    }
    match result {
        Ok(Some((array, schema))) => {
            // SAFETY: upheld by the caller.
            unsafe {
                ptr::write(array_out, array);
                ptr::write(schema_out, schema);
            }
            abi::PollStatus::Ready
        }
        _ => abi::PollStatus::Pending,
    }
}

/// # Safety
/// `handle` is live; `request_id_out` is writable.
pub unsafe extern "C" fn poll_released_slot<P: DestinationPlanner>(
    handle: *mut abi::PluginHandle,
    request_id_out: *mut u64,
) -> abi::PollStatus {
    // SAFETY: upheld by the caller.
    let result = unsafe { with_instance::<P, _>(handle, |planner| Ok(planner.poll_released_slot())) };
    write_optional(result, request_id_out)
}

/// # Safety
/// `handle` is live; `at_ms_out` is writable.
pub unsafe extern "C" fn poll_timeout<P: DestinationPlanner>(
    handle: *mut abi::PluginHandle,
    at_ms_out: *mut u64,
) -> abi::PollStatus {
    // SAFETY: upheld by the caller.
    let result = unsafe { with_instance::<P, _>(handle, |planner| Ok(planner.poll_timeout())) };
    write_optional(result, at_ms_out)
}

fn write_optional(result: Result<Option<u64>, CallError>, out: *mut u64) -> abi::PollStatus {
    if let Some(status) = poll_status(&result) {
        return status;
    }
    match result {
        Ok(Some(value)) => {
            // SAFETY: the caller of the shim passes a writable slot.
            unsafe { ptr::write(out, value) };
            abi::PollStatus::Ready
        }
        _ => abi::PollStatus::Pending,
    }
}

/// # Safety
/// `handle` is live.
pub unsafe extern "C" fn handle_timeout<P: DestinationPlanner>(
    handle: *mut abi::PluginHandle,
    now_ms: u64,
) -> abi::Status {
    // SAFETY: upheld by the caller.
    status(unsafe { with_instance::<P, _>(handle, |planner| planner.handle_timeout(now_ms)) })
}

/// # Safety
/// `handle` is live.
pub unsafe extern "C" fn last_error<P: DestinationPlanner>(handle: *mut abi::PluginHandle) -> abi::FfiError {
    // SAFETY: upheld by the caller.
    let instance = unsafe { &*(handle as *const Instance<P>) };
    match &instance.last_error {
        Some((kind, message)) => abi::FfiError {
            kind: *kind as u32,
            message: abi::StrRef::new(message),
        },
        None => abi::FfiError {
            kind: 0,
            message: abi::StrRef::EMPTY,
        },
    }
}

/// # Safety
/// `handle` is live; `rows_out` is writable.
pub unsafe extern "C" fn request_rows<P: DestinationPlanner>(
    handle: *mut abi::PluginHandle,
    request_id: u64,
    rows_out: *mut abi::OwnedBytes,
) -> abi::PollStatus {
    // SAFETY: upheld by the caller.
    let result = unsafe { with_instance::<P, _>(handle, |planner| Ok(planner.request_rows(request_id))) };
    match result {
        Ok(Some(rows)) => {
            let mut bytes = Vec::with_capacity(rows.len() * abi::REQUEST_ROW_SIZE);
            for (batch_id, row) in rows {
                bytes.extend_from_slice(&batch_id.to_le_bytes());
                bytes.extend_from_slice(&row.to_le_bytes());
            }
            // SAFETY: upheld by the caller.
            unsafe { ptr::write(rows_out, abi::OwnedBytes::from_vec(bytes)) };
            abi::PollStatus::Ready
        }
        Ok(None) => abi::PollStatus::Pending,
        Err(_) => poll_status(&result).unwrap_or(abi::PollStatus::Error),
    }
}

/// # Safety
/// `handle` is live; `array` and `schema` are valid; `hashes_out` is writable.
pub unsafe extern "C" fn key_hashes<P: DestinationPlanner>(
    handle: *mut abi::PluginHandle,
    array: *mut FFI_ArrowArray,
    schema: *const FFI_ArrowSchema,
    hashes_out: *mut abi::OwnedBytes,
) -> abi::PollStatus {
    // SAFETY: upheld by the caller.
    let result = unsafe {
        with_instance::<P, _>(handle, |planner| {
            let batch = take_batch(array, schema)?;
            planner.key_hashes(&batch)
        })
    };
    match result {
        Ok(Some(hashes)) => {
            let bytes: Vec<u8> = hashes.iter().flat_map(|hash| hash.to_le_bytes()).collect();
            // SAFETY: upheld by the caller.
            unsafe { ptr::write(hashes_out, abi::OwnedBytes::from_vec(bytes)) };
            abi::PollStatus::Ready
        }
        Ok(None) => abi::PollStatus::Pending,
        Err(_) => poll_status(&result).unwrap_or(abi::PollStatus::Error),
    }
}

/// The descriptor's function table for `P`. Used by [`export_plugin!`](crate::export_plugin).
pub fn descriptor<P: DestinationPlanner>(
    name: &'static str,
    version: &'static str,
    config_schema_json: &'static str,
) -> abi::PluginDescriptor {
    abi::PluginDescriptor {
        abi_version: abi::ABI_VERSION,
        struct_size: std::mem::size_of::<abi::PluginDescriptor>(),
        name: abi::StrRef::new(name),
        version: abi::StrRef::new(version),
        build_info: abi::StrRef::new(BUILD_INFO),
        config_schema_json: abi::StrRef::new(config_schema_json),
        create: create::<P>,
        destroy: destroy::<P>,
        input_contract: input_contract::<P>,
        can_accept_batch: can_accept_batch::<P>,
        push_batch: push_batch::<P>,
        finish: finish::<P>,
        poll_request: poll_request::<P>,
        handle_response: handle_response::<P>,
        handle_failure: handle_failure::<P>,
        poll_outcomes: poll_outcomes::<P>,
        poll_released_slot: poll_released_slot::<P>,
        poll_timeout: poll_timeout::<P>,
        handle_timeout: handle_timeout::<P>,
        last_error: last_error::<P>,
        request_rows: request_rows::<P>,
        key_hashes: key_hashes::<P>,
    }
}

const BUILD_INFO: &str = concat!("dotsync-plugin-sdk ", env!("CARGO_PKG_VERSION"), ", arrow 60");

/// The JSON schema of a planner's config, as embedded in its descriptor.
pub fn config_schema_json<P: DestinationPlanner>() -> String {
    let schema = schemars::schema_for!(P::Config);
    serde_json::to_string_pretty(&schema).unwrap_or_else(|_| "{}".to_owned())
}

/// Exports a [`DestinationPlanner`] as a plugin.
///
/// Generates `pub fn plugin_descriptor() -> &'static PluginDescriptor`, which the host registers
/// statically, and, when the plugin crate's `cdylib` feature is on, the C entry symbol
/// `dotsync_plugin_entry_v1` for dynamic loading. The symbol is feature-gated so that many plugins
/// can be linked into one host binary without clashing; `cargo xtask build-plugins` turns it on.
#[macro_export]
macro_rules! export_plugin {
    ($planner:ty) => {
        /// This plugin's descriptor, for static registration in a host.
        pub fn plugin_descriptor() -> &'static $crate::abi::PluginDescriptor {
            static SCHEMA: ::std::sync::OnceLock<::std::string::String> = ::std::sync::OnceLock::new();
            static DESCRIPTOR: ::std::sync::OnceLock<$crate::abi::PluginDescriptor> = ::std::sync::OnceLock::new();
            DESCRIPTOR.get_or_init(|| {
                let schema = SCHEMA.get_or_init($crate::export::config_schema_json::<$planner>);
                $crate::export::descriptor::<$planner>(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"), schema)
            })
        }

        /// The plugin's C entry point.
        #[cfg(feature = "cdylib")]
        #[unsafe(no_mangle)]
        pub extern "C" fn dotsync_plugin_entry_v1() -> *const $crate::abi::PluginDescriptor {
            // A panic here would unwind into the host; the body only builds static data.
            match ::std::panic::catch_unwind(plugin_descriptor) {
                Ok(descriptor) => descriptor as *const _,
                Err(_) => ::std::ptr::null(),
            }
        }
    };
}
