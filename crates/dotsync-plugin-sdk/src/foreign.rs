//! The host side of the C ABI: [`LoadedPlugin`] (a descriptor from a static registration or a
//! loaded library, checked for ABI compatibility) and [`ForeignPlanner`] (an instance, driven
//! through the vtable as a [`DynPlanner`]). Static and dynamic plugins run through this one path.

use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::Arc;

use arrow_array::ffi::{FFI_ArrowArray, FFI_ArrowSchema, from_ffi, to_ffi};
use arrow_array::{Array, RecordBatch, StructArray};
use arrow_schema::{Schema, SchemaRef};
use bytes::Bytes;
use dotsync_plugin_abi as abi;
use tracing::Dispatch;

use crate::outcomes::{RowOutcome, read_outcomes};
use crate::planner::{DynPlanner, PlannerError};
use crate::types::{
    BatchId, BatchKind, ErrorKind, Failure, Method, Millis, PluginContext, PluginError, Poll, RequestId, RequestSpec,
    ResponseView,
};

/// Where a plugin came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginOrigin {
    /// Compiled into the host.
    Static,
    /// Loaded from this library file.
    Dynamic(PathBuf),
}

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: cannot load plugin library: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: libloading_error::Error,
    },
    #[error(
        "{path}: not a dotsync plugin for ABI {major}: symbol `{symbol}` is missing (a plugin for another ABI major exports another symbol)",
        major = abi::ABI_MAJOR,
        symbol = abi::ENTRY_SYMBOL
    )]
    NoEntry { path: PathBuf },
    #[error("{origin}: the plugin's entry point returned no descriptor")]
    NullDescriptor { origin: String },
    #[error(
        "{origin}: plugin was built for plugin ABI {found_major}.{found_minor}, this host speaks {host_major}.{host_minor}; rebuild the plugin against a matching dotsync-plugin-sdk",
        host_major = abi::ABI_MAJOR,
        host_minor = abi::ABI_MINOR
    )]
    AbiMismatch {
        origin: String,
        found_major: u16,
        found_minor: u16,
    },
    #[error("{origin}: plugin descriptor is {found} bytes, smaller than the {expected} bytes ABI {major}.0 requires", major = abi::ABI_MAJOR)]
    TooSmall {
        origin: String,
        found: usize,
        expected: usize,
    },
}

/// Re-export of the error type of the dynamic loader, kept out of the public API's names.
pub mod libloading_error {
    pub use libloading::Error;
}

/// A plugin descriptor that passed the ABI checks.
#[derive(Clone)]
pub struct LoadedPlugin {
    descriptor: &'static abi::PluginDescriptor,
    origin: PluginOrigin,
    /// The descriptor is 1.1 or later: `request_rows` may be called.
    has_request_rows: bool,
    /// The descriptor is 1.3 or later: `key_hashes` may be called.
    has_key_hashes: bool,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("name", &self.name())
            .field("version", &self.version())
            .field("origin", &self.origin)
            .finish()
    }
}

impl LoadedPlugin {
    /// Registers a plugin compiled into the host.
    pub fn from_static(descriptor: &'static abi::PluginDescriptor) -> Result<Self, LoadError> {
        // SAFETY: a reference to a descriptor is always readable.
        unsafe { Self::checked(descriptor, PluginOrigin::Static) }
    }

    /// Loads a plugin library. The library is never unloaded: plugins may have registered
    /// thread-local destructors, and unloading such a library is unsound.
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        // SAFETY: loading runs the library's initialisers; the host loads only from directories
        // the user configured, and logs the path.
        let library = unsafe { libloading::Library::new(path) }.map_err(|source| LoadError::Open {
            path: path.to_owned(),
            source,
        })?;
        // SAFETY: the symbol's type is fixed by the ABI major in its name.
        let entry: abi::PluginEntry = unsafe {
            *library
                .get::<abi::PluginEntry>(abi::ENTRY_SYMBOL.as_bytes())
                .map_err(|_| LoadError::NoEntry { path: path.to_owned() })?
        };
        std::mem::forget(library);
        // SAFETY: the entry point returns a static descriptor or null.
        let descriptor = unsafe { entry() };
        let origin = PluginOrigin::Dynamic(path.to_owned());
        // SAFETY: non-null descriptors from the entry point are static.
        let descriptor = unsafe { descriptor.as_ref() }.ok_or_else(|| LoadError::NullDescriptor {
            origin: path.display().to_string(),
        })?;
        // SAFETY: as above.
        unsafe { Self::checked(descriptor, origin) }
    }

    /// # Safety
    /// `descriptor` is readable up to its first two fields; later fields only once
    /// `struct_size` says they are there (checked here).
    unsafe fn checked(descriptor: &'static abi::PluginDescriptor, origin: PluginOrigin) -> Result<Self, LoadError> {
        let origin_text = match &origin {
            PluginOrigin::Static => "static plugin".to_owned(),
            PluginOrigin::Dynamic(path) => path.display().to_string(),
        };
        // The two leading fields are stable across every ABI version.
        // SAFETY: upheld by the caller.
        let (version, size) = unsafe {
            (
                ptr::read(ptr::addr_of!(descriptor.abi_version)),
                ptr::read(ptr::addr_of!(descriptor.struct_size)),
            )
        };
        if abi::abi_major(version) != abi::ABI_MAJOR {
            return Err(LoadError::AbiMismatch {
                origin: origin_text,
                found_major: abi::abi_major(version),
                found_minor: abi::abi_minor(version),
            });
        }
        // A 1.0 descriptor is enough; later fields are optional (see `has_request_rows`).
        let expected = abi::DESCRIPTOR_SIZE_1_0;
        if size < expected {
            return Err(LoadError::TooSmall {
                origin: origin_text,
                found: size,
                expected,
            });
        }
        Ok(LoadedPlugin {
            descriptor,
            origin,
            has_request_rows: abi::has_request_rows(size),
            has_key_hashes: abi::has_key_hashes(size),
        })
    }

    pub fn name(&self) -> &'static str {
        // SAFETY: descriptor strings are static.
        unsafe { self.descriptor.name.as_str() }
    }

    pub fn version(&self) -> &'static str {
        // SAFETY: as above.
        unsafe { self.descriptor.version.as_str() }
    }

    pub fn build_info(&self) -> &'static str {
        // SAFETY: as above.
        unsafe { self.descriptor.build_info.as_str() }
    }

    pub fn config_schema_json(&self) -> &'static str {
        // SAFETY: as above.
        unsafe { self.descriptor.config_schema_json.as_str() }
    }

    pub fn abi_version(&self) -> u32 {
        self.descriptor.abi_version
    }

    pub fn origin(&self) -> &PluginOrigin {
        &self.origin
    }

    /// Creates an instance from JSON config (validate it against the schema first).
    pub fn create(&self, config_json: &str, context: &PluginContext) -> Result<ForeignPlanner, PlannerError> {
        let sink = Box::new(LogSink {
            plugin: self.name().to_owned(),
            dispatch: tracing::dispatcher::get_default(Dispatch::clone),
        });
        let context_json = serde_json::to_string(context).map_err(|error| PlannerError::Contract {
            plugin: self.name().to_owned(),
            message: format!("context cannot be serialised: {error}"),
        })?;
        let host = Box::new(abi::HostApi {
            struct_size: std::mem::size_of::<abi::HostApi>(),
            abi_version: abi::ABI_VERSION,
            user_data: &*sink as *const LogSink as *mut c_void,
            log: host_log,
            max_level: recorded_level(&sink.dispatch),
        });
        let mut handle: *mut abi::PluginHandle = ptr::null_mut();
        let mut error = abi::OwnedBytes::EMPTY;
        // SAFETY: all pointers are valid for the call; `host` and `sink` live in the planner.
        let status = unsafe {
            (self.descriptor.create)(
                &*host,
                abi::StrRef::new(config_json),
                abi::StrRef::new(&context_json),
                &mut handle,
                &mut error,
            )
        };
        // SAFETY: the plugin wrote an owned buffer or left it empty.
        let message = unsafe { String::from_utf8_lossy(error.as_slice()).into_owned() };
        // SAFETY: released once, by the allocator that made it.
        unsafe { error.release() };
        match status {
            abi::Status::Ok if !handle.is_null() => Ok(ForeignPlanner {
                descriptor: self.descriptor,
                has_request_rows: self.has_request_rows,
                has_key_hashes: self.has_key_hashes,
                handle,
                plugin: self.name().to_owned(),
                poisoned: false,
                _host: host,
                _sink: sink,
            }),
            abi::Status::Ok => Err(PlannerError::Contract {
                plugin: self.name().to_owned(),
                message: "create returned Ok without an instance".into(),
            }),
            abi::Status::Error => Err(PlannerError::Plugin(PluginError::config(message))),
            abi::Status::Panicked => Err(PlannerError::Panicked {
                plugin: self.name().to_owned(),
                message,
            }),
        }
    }
}

struct LogSink {
    plugin: String,
    dispatch: Dispatch,
}

unsafe extern "C" fn host_log(user_data: *mut c_void, level: u32, target: abi::StrRef, message: abi::StrRef) {
    // A panic must not unwind into the plugin.
    let _ = std::panic::catch_unwind(|| {
        // SAFETY: user_data is the LogSink owned by the planner calling us.
        let sink = unsafe { &*(user_data as *const LogSink) };
        // SAFETY: borrowed for the call.
        let (target, message) = unsafe { (target.as_str(), message.as_str()) };
        let plugin = sink.plugin.as_str();
        // Re-emit into the host's own subscriber, not the plugin's bridge that is active now.
        tracing::dispatcher::with_default(&sink.dispatch, || match level {
            abi::log_level::ERROR => tracing::error!(plugin, target, "{message}"),
            abi::log_level::WARN => tracing::warn!(plugin, target, "{message}"),
            abi::log_level::INFO => tracing::info!(plugin, target, "{message}"),
            abi::log_level::DEBUG => tracing::debug!(plugin, target, "{message}"),
            _ => tracing::trace!(plugin, target, "{message}"),
        });
    });
}

/// A plugin instance driven through the C ABI.
pub struct ForeignPlanner {
    descriptor: &'static abi::PluginDescriptor,
    has_request_rows: bool,
    has_key_hashes: bool,
    handle: *mut abi::PluginHandle,
    plugin: String,
    poisoned: bool,
    _host: Box<abi::HostApi>,
    _sink: Box<LogSink>,
}

// SAFETY: the instance is used from one task at a time (`&mut self` on every call); plugins hold
// no thread-bound state (ABI rule: no threads, no thread-locals that outlive a call).
unsafe impl Send for ForeignPlanner {}

impl Drop for ForeignPlanner {
    fn drop(&mut self) {
        // SAFETY: the handle is live and not used after this.
        unsafe { (self.descriptor.destroy)(self.handle) };
    }
}

impl ForeignPlanner {
    pub fn plugin_name(&self) -> &str {
        &self.plugin
    }

    fn contract(&self, message: impl Into<String>) -> PlannerError {
        PlannerError::Contract {
            plugin: self.plugin.clone(),
            message: message.into(),
        }
    }

    /// Turns an error status into the plugin's error, poisoning on panic.
    fn error(&mut self, panicked: bool) -> PlannerError {
        // SAFETY: the handle is live; the message is borrowed until the next call.
        let error = unsafe { (self.descriptor.last_error)(self.handle) };
        // SAFETY: as above.
        let message = unsafe { error.message.as_str() }.to_owned();
        if panicked {
            self.poisoned = true;
            PlannerError::Panicked {
                plugin: self.plugin.clone(),
                message,
            }
        } else {
            PlannerError::Plugin(PluginError {
                kind: ErrorKind::from_u32(error.kind),
                message,
            })
        }
    }

    fn check_live(&self) -> Result<(), PlannerError> {
        if self.poisoned {
            Err(PlannerError::Panicked {
                plugin: self.plugin.clone(),
                message: "the instance panicked earlier and is poisoned".into(),
            })
        } else {
            Ok(())
        }
    }

    fn status(&mut self, status: abi::Status) -> Result<(), PlannerError> {
        match status {
            abi::Status::Ok => Ok(()),
            abi::Status::Error => Err(self.error(false)),
            abi::Status::Panicked => Err(self.error(true)),
        }
    }

    /// The buffer of `record_size`-byte records a polling call (named by `what`, asked only for
    /// an error) filled, when its status is `Ready`. The buffer is released here.
    fn take_records(
        &mut self,
        status: abi::PollStatus,
        mut bytes: abi::OwnedBytes,
        record_size: usize,
        what: impl FnOnce() -> String,
    ) -> Result<Option<Vec<u8>>, PlannerError> {
        // SAFETY: the plugin wrote an owned buffer or left it empty.
        let data = unsafe { bytes.as_slice() }.to_vec();
        // SAFETY: released once, by the allocator that made it.
        unsafe { bytes.release() };
        if self.poll_status(status)? != Poll::Ready(()) {
            return Ok(None);
        }
        if data.len() % record_size != 0 {
            return Err(self.contract(format!(
                "{} returned {} bytes, not a multiple of {record_size}",
                what(),
                data.len()
            )));
        }
        Ok(Some(data))
    }

    /// A batch as the C Data Interface's struct array and schema.
    fn batch_to_ffi(&self, batch: RecordBatch) -> Result<(FFI_ArrowArray, FFI_ArrowSchema), PlannerError> {
        to_ffi(&StructArray::from(batch).into_data())
            .map_err(|error| self.contract(format!("batch cannot cross the ABI: {error}")))
    }

    /// `Ok(true)` when Ready, `Ok(false)` when Pending; Done is only legal where `allow_done`.
    fn poll_status(&mut self, status: abi::PollStatus) -> Result<Poll<()>, PlannerError> {
        match status {
            abi::PollStatus::Ready => Ok(Poll::Ready(())),
            abi::PollStatus::Pending => Ok(Poll::Pending),
            abi::PollStatus::Done => Ok(Poll::Done),
            abi::PollStatus::Error => Err(self.error(false)),
            abi::PollStatus::Panicked => Err(self.error(true)),
        }
    }

    fn poll_u64(
        &mut self,
        call: unsafe extern "C" fn(*mut abi::PluginHandle, *mut u64) -> abi::PollStatus,
    ) -> Result<Option<u64>, PlannerError> {
        self.check_live()?;
        let mut value = 0u64;
        // SAFETY: the handle is live; `value` is writable.
        let status = unsafe { call(self.handle, &mut value) };
        Ok(match self.poll_status(status)? {
            Poll::Ready(()) => Some(value),
            _ => None,
        })
    }
}

/// A request body made by another library's allocator, freed through it when dropped.
struct ForeignBody(abi::OwnedBytes);

impl AsRef<[u8]> for ForeignBody {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: the buffer was handed over live and is released only on drop.
        unsafe { self.0.as_slice() }
    }
}

impl Drop for ForeignBody {
    fn drop(&mut self) {
        // SAFETY: released once, here; nothing reads it afterwards.
        unsafe { self.0.release() };
    }
}

// SAFETY: the buffer is only read while it lives, and the ABI lets any thread call `release`.
unsafe impl Send for ForeignBody {}

/// Copies the plugin's borrowed request into an owned one and takes over its body buffer.
///
/// # Safety
/// `request` was just filled by the plugin's `poll_request`.
unsafe fn take_request(request: &mut abi::FfiRequest) -> Result<RequestSpec, String> {
    // SAFETY: upheld by the caller: strings are borrowed until the next call into the handle.
    let (method, path, rate_class, slot_class) = unsafe {
        (
            request.method.as_str(),
            request.path.as_str(),
            request.rate_class.as_str(),
            request.slot_class.as_str(),
        )
    };
    // The body is ours now, and never copied (import bodies are megabytes). A plugin linked into
    // the host hands over a buffer of the host's own allocator, taken as a `Vec`; another
    // library's buffer is kept where it is and released through its allocator when dropped.
    let handed_over = std::mem::replace(&mut request.body, abi::OwnedBytes::EMPTY);
    // SAFETY: the plugin just handed the live buffer over, and it is used once, here.
    let body = match unsafe { handed_over.into_vec_if_same_allocator() } {
        Ok(body) => Bytes::from(body),
        Err(foreign) => Bytes::from_owner(ForeignBody(foreign)),
    };
    let headers = if request.headers.is_null() || request.headers_len == 0 {
        Vec::new()
    } else {
        // SAFETY: as above.
        unsafe { std::slice::from_raw_parts(request.headers, request.headers_len) }
            .iter()
            // SAFETY: as above.
            .map(|h| unsafe { (h.name.as_str().to_owned(), h.value.as_str().to_owned()) })
            .collect()
    };
    if request.id == 0 {
        return Err("request id 0 is reserved".into());
    }
    if !path.starts_with('/') {
        return Err(format!("request path `{path}` does not start with `/`"));
    }
    Ok(RequestSpec {
        id: request.id,
        method: Method::parse(method).ok_or_else(|| format!("unknown HTTP method `{method}`"))?,
        path: path.to_owned(),
        headers,
        body,
        rate_class: rate_class.to_owned(),
        slot_class: slot_class.to_owned(),
        idempotent: request.flags & abi::REQUEST_IDEMPOTENT != 0,
        writes: request.flags & abi::REQUEST_WRITES != 0,
        not_before: (request.not_before_ms != 0).then_some(request.not_before_ms),
    })
}

impl DynPlanner for ForeignPlanner {
    fn input_contract(&self) -> Result<SchemaRef, PlannerError> {
        self.check_live()?;
        let mut schema = FFI_ArrowSchema::empty();
        // SAFETY: the handle is live; `schema` is writable.
        let status = unsafe { (self.descriptor.input_contract)(self.handle, &mut schema) };
        match status {
            abi::Status::Ok => Schema::try_from(&schema)
                .map(Arc::new)
                .map_err(|error| self.contract(format!("input contract is not a valid Arrow schema: {error}"))),
            // `&self` cannot poison; the next `&mut` call will see the panic again.
            _ => {
                // SAFETY: the handle is live.
                let error = unsafe { (self.descriptor.last_error)(self.handle) };
                // SAFETY: borrowed until the next call.
                let message = unsafe { error.message.as_str() }.to_owned();
                if status == abi::Status::Panicked {
                    return Err(PlannerError::Panicked {
                        plugin: self.plugin.clone(),
                        message,
                    });
                }
                Err(PlannerError::Plugin(PluginError {
                    kind: ErrorKind::from_u32(error.kind),
                    message,
                }))
            }
        }
    }

    fn can_accept_batch(&mut self) -> Result<bool, PlannerError> {
        self.check_live()?;
        // SAFETY: the handle is live.
        let status = unsafe { (self.descriptor.can_accept_batch)(self.handle) };
        Ok(matches!(self.poll_status(status)?, Poll::Ready(())))
    }

    fn push_batch(&mut self, id: BatchId, kind: BatchKind, batch: RecordBatch) -> Result<(), PlannerError> {
        self.check_live()?;
        let (mut array, schema) = self.batch_to_ffi(batch)?;
        // SAFETY: the plugin takes `array` (leaving it released) and borrows `schema`.
        let status = unsafe { (self.descriptor.push_batch)(self.handle, id, kind as u32, &mut array, &schema) };
        self.status(status)
    }

    fn finish(&mut self) -> Result<(), PlannerError> {
        self.check_live()?;
        // SAFETY: the handle is live.
        let status = unsafe { (self.descriptor.finish)(self.handle) };
        self.status(status)
    }

    fn poll_request(&mut self, now: Millis) -> Result<Poll<RequestSpec>, PlannerError> {
        self.check_live()?;
        let mut request = abi::FfiRequest::EMPTY;
        // SAFETY: the handle is live; `request` is writable.
        let status = unsafe { (self.descriptor.poll_request)(self.handle, now, &mut request) };
        match self.poll_status(status)? {
            Poll::Ready(()) => {
                // SAFETY: just filled by the plugin.
                let spec = unsafe { take_request(&mut request) }.map_err(|message| self.contract(message))?;
                Ok(Poll::Ready(spec))
            }
            Poll::Pending => Ok(Poll::Pending),
            Poll::Done => Ok(Poll::Done),
        }
    }

    fn handle_response(&mut self, id: RequestId, response: &ResponseView<'_>, now: Millis) -> Result<(), PlannerError> {
        self.check_live()?;
        let headers: Vec<abi::FfiHeader> = response
            .headers
            .iter()
            .map(|h| abi::FfiHeader {
                name: abi::StrRef::new(h.name),
                value: abi::StrRef::new(h.value),
            })
            .collect();
        let view = abi::FfiResponse {
            status: response.status,
            headers: headers.as_ptr(),
            headers_len: headers.len(),
            body: abi::BytesRef::new(response.body),
        };
        // SAFETY: everything `view` borrows lives until the call returns.
        let status = unsafe { (self.descriptor.handle_response)(self.handle, id, &view, now) };
        self.status(status)
    }

    fn handle_failure(&mut self, id: RequestId, failure: &Failure<'_>, now: Millis) -> Result<(), PlannerError> {
        self.check_live()?;
        let view = abi::FfiFailure {
            kind: failure.kind as u32,
            status: failure.status,
            message: abi::StrRef::new(failure.message),
        };
        // SAFETY: `view` borrows `failure`, which lives until the call returns.
        let status = unsafe { (self.descriptor.handle_failure)(self.handle, id, &view, now) };
        self.status(status)
    }

    fn poll_outcomes(&mut self) -> Result<Option<Vec<RowOutcome>>, PlannerError> {
        self.check_live()?;
        let mut array = FFI_ArrowArray::empty();
        let mut schema = FFI_ArrowSchema::empty();
        // SAFETY: the handle is live; both out structs are writable.
        let status = unsafe { (self.descriptor.poll_outcomes)(self.handle, &mut array, &mut schema) };
        match self.poll_status(status)? {
            Poll::Ready(()) => {
                // SAFETY: the plugin moved a valid array and schema to us.
                let data = unsafe { from_ffi(array, &schema) }
                    .map_err(|error| self.contract(format!("outcome batch is not valid Arrow: {error}")))?;
                // Arrow imported over FFI is not validated: a buggy plugin must not cause UB.
                data.validate_full()
                    .map_err(|error| self.contract(format!("outcome batch is not valid Arrow: {error}")))?;
                let struct_array = StructArray::from(data);
                if struct_array.null_count() > 0 {
                    return Err(self.contract("outcome batch has null rows"));
                }
                let outcomes = read_outcomes(&RecordBatch::from(struct_array))
                    .map_err(|error| self.contract(error.to_string()))?;
                Ok(Some(outcomes))
            }
            _ => Ok(None),
        }
    }

    fn poll_released_slot(&mut self) -> Result<Option<RequestId>, PlannerError> {
        self.poll_u64(self.descriptor.poll_released_slot)
    }

    fn poll_timeout(&mut self) -> Result<Option<Millis>, PlannerError> {
        self.poll_u64(self.descriptor.poll_timeout)
    }

    fn handle_timeout(&mut self, now: Millis) -> Result<(), PlannerError> {
        self.check_live()?;
        // SAFETY: the handle is live.
        let status = unsafe { (self.descriptor.handle_timeout)(self.handle, now) };
        self.status(status)
    }

    fn request_rows(&mut self, id: RequestId) -> Result<Option<Vec<(BatchId, u32)>>, PlannerError> {
        if !self.has_request_rows {
            return Ok(None);
        }
        self.check_live()?;
        let mut bytes = abi::OwnedBytes::EMPTY;
        // SAFETY: the handle is live, `bytes` is writable, and the descriptor is 1.1 or later.
        let status = unsafe { (self.descriptor.request_rows)(self.handle, id, &mut bytes) };
        let what = || format!("request_rows for request {id}");
        let Some(data) = self.take_records(status, bytes, abi::REQUEST_ROW_SIZE, what)? else {
            return Ok(None);
        };
        Ok(Some(
            data.chunks_exact(abi::REQUEST_ROW_SIZE)
                .map(|record| {
                    let (batch, row) = record.split_at(8);
                    let batch_id = u64::from_le_bytes(batch.try_into().unwrap_or_default());
                    let row = u32::from_le_bytes(row.try_into().unwrap_or_default());
                    (batch_id, row)
                })
                .collect(),
        ))
    }

    fn key_hashes(&mut self, batch: RecordBatch) -> Result<Option<Vec<u64>>, PlannerError> {
        if !self.has_key_hashes {
            return Ok(None);
        }
        self.check_live()?;
        let (mut array, schema) = self.batch_to_ffi(batch)?;
        let mut bytes = abi::OwnedBytes::EMPTY;
        // SAFETY: the handle is live, the descriptor is 1.3 or later; the plugin takes `array`,
        // borrows `schema` and writes `bytes`.
        let status = unsafe { (self.descriptor.key_hashes)(self.handle, &mut array, &schema, &mut bytes) };
        let Some(data) = self.take_records(status, bytes, abi::KEY_HASH_SIZE, || "key_hashes".to_owned())? else {
            return Ok(None);
        };
        Ok(Some(
            data.chunks_exact(abi::KEY_HASH_SIZE)
                .map(|record| u64::from_le_bytes(record.try_into().unwrap_or_default()))
                .collect(),
        ))
    }
}

/// The most verbose level `dispatch` records for the lines [`host_log`] re-emits, as an ABI log
/// level: a plugin then does not even format the lines the host would drop.
fn recorded_level(dispatch: &Dispatch) -> u32 {
    use tracing::Level;
    // Asked from this module, whose target the re-emitted lines carry.
    tracing::dispatcher::with_default(dispatch, || {
        if tracing::enabled!(Level::TRACE) {
            abi::log_level::TRACE
        } else if tracing::enabled!(Level::DEBUG) {
            abi::log_level::DEBUG
        } else if tracing::enabled!(Level::INFO) {
            abi::log_level::INFO
        } else if tracing::enabled!(Level::WARN) {
            abi::log_level::WARN
        } else if tracing::enabled!(Level::ERROR) {
            abi::log_level::ERROR
        } else {
            0
        }
    })
}
