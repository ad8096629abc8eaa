//! The C ABI between the dotsync host and its destination plugins.
//!
//! This crate holds only `#[repr(C)]` types, constants and the Arrow C Data Interface structs
//! they carry. It does no work: the safe wrappers on both sides (the plugin's export shims and the
//! host's `ForeignPlanner`) live in `dotsync-plugin-sdk`. It depends on nothing but
//! `arrow-array`/`arrow-schema` (their `ffi` modules) and never changes incompatibly within an ABI
//! major version: fields are only ever appended to [`PluginDescriptor`] and [`HostApi`], and a
//! reader checks `struct_size` before it touches an appended field.
//!
//! Ownership: whoever allocates frees. Strings in [`StrRef`] are borrowed: for the duration of
//! the call, or, for what a plugin returns, until the next call into the same handle. Owned
//! buffers travel as [`OwnedBytes`] with their own release callback.

use std::ffi::c_void;
use std::marker::PhantomData;

pub use arrow_array::ffi::{FFI_ArrowArray, FFI_ArrowSchema};

/// Major version of this ABI. A plugin with another major is refused.
pub const ABI_MAJOR: u16 = 1;
/// Minor version: grows when fields are appended. Any minor of the same major is accepted.
///
/// * 1.0: the first ABI.
/// * 1.1: [`PluginDescriptor::request_rows`] appended.
/// * 1.2: [`HostApi::max_level`] appended.
/// * 1.3: [`PluginDescriptor::key_hashes`] appended (the host's key pre-pass).
pub const ABI_MINOR: u16 = 3;
/// `major << 16 | minor`, as stored in [`PluginDescriptor::abi_version`].
pub const ABI_VERSION: u32 = ((ABI_MAJOR as u32) << 16) | ABI_MINOR as u32;
/// The one symbol a plugin library exports. Its type is [`PluginEntry`]. The major version is
/// part of the name, so a library built for another major fails at symbol lookup.
pub const ENTRY_SYMBOL: &str = "dotsync_plugin_entry_v1";

/// Signature of [`ENTRY_SYMBOL`]: returns a descriptor with `'static` lifetime.
pub type PluginEntry = unsafe extern "C" fn() -> *const PluginDescriptor;

/// The major part of an `abi_version`.
pub const fn abi_major(version: u32) -> u16 {
    (version >> 16) as u16
}

/// The minor part of an `abi_version`.
pub const fn abi_minor(version: u32) -> u16 {
    (version & 0xffff) as u16
}

/// A borrowed UTF-8 string (not NUL-terminated).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct StrRef {
    pub ptr: *const u8,
    pub len: usize,
}

impl StrRef {
    pub const EMPTY: StrRef = StrRef {
        ptr: std::ptr::null(),
        len: 0,
    };

    /// Borrows `text`; valid as long as `text` is.
    pub const fn new(text: &str) -> StrRef {
        StrRef {
            ptr: text.as_ptr(),
            len: text.len(),
        }
    }

    /// # Safety
    /// `self` must point at `len` bytes of UTF-8 that outlive `'a` (or be empty).
    pub unsafe fn as_str<'a>(self) -> &'a str {
        if self.ptr.is_null() || self.len == 0 {
            return "";
        }
        // SAFETY: upheld by the caller.
        unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(self.ptr, self.len)) }
    }
}

/// A borrowed byte slice.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct BytesRef {
    pub ptr: *const u8,
    pub len: usize,
}

impl BytesRef {
    pub fn new(bytes: &[u8]) -> BytesRef {
        BytesRef {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
        }
    }

    /// # Safety
    /// `self` must point at `len` readable bytes that outlive `'a` (or be empty).
    pub unsafe fn as_slice<'a>(self) -> &'a [u8] {
        if self.ptr.is_null() || self.len == 0 {
            return &[];
        }
        // SAFETY: upheld by the caller.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// An owned byte buffer that crosses the boundary with the function that frees it, so it is
/// always released by the allocator that made it.
#[repr(C)]
#[derive(Debug)]
pub struct OwnedBytes {
    pub ptr: *mut u8,
    pub len: usize,
    pub cap: usize,
    /// Frees `ptr/len/cap`. `None` for an empty buffer. Callable from any thread: the receiver
    /// may drop the buffer on another thread than the one it received it on.
    pub release: Option<unsafe extern "C" fn(ptr: *mut u8, len: usize, cap: usize)>,
}

unsafe extern "C" fn release_vec(ptr: *mut u8, len: usize, cap: usize) {
    // SAFETY: only ever called on buffers made by `OwnedBytes::from_vec` in this same library.
    drop(unsafe { Vec::from_raw_parts(ptr, len, cap) });
}

impl OwnedBytes {
    pub const EMPTY: OwnedBytes = OwnedBytes {
        ptr: std::ptr::null_mut(),
        len: 0,
        cap: 0,
        release: None,
    };

    /// Hands a `Vec` over; the receiver calls `release` (through `Drop` of its wrapper).
    pub fn from_vec(bytes: Vec<u8>) -> OwnedBytes {
        let mut bytes = std::mem::ManuallyDrop::new(bytes);
        OwnedBytes {
            ptr: bytes.as_mut_ptr(),
            len: bytes.len(),
            cap: bytes.capacity(),
            release: Some(release_vec),
        }
    }

    /// Takes the buffer back as the `Vec` it was made from, without copying, when it was made by
    /// [`from_vec`](Self::from_vec) of this same library (so by the caller's own allocator: a
    /// plugin linked into the host). Any other buffer is handed back unchanged.
    ///
    /// # Safety
    /// `self` must be a live buffer (not yet released).
    pub unsafe fn into_vec_if_same_allocator(mut self) -> Result<Vec<u8>, OwnedBytes> {
        let own_release: unsafe extern "C" fn(*mut u8, usize, usize) = release_vec;
        match self.release {
            Some(release) if std::ptr::fn_addr_eq(release, own_release) => {
                // SAFETY: made by `from_vec` in this library, live, and taken out of `self` once.
                let bytes = unsafe { Vec::from_raw_parts(self.ptr, self.len, self.cap) };
                self.release = None;
                Ok(bytes)
            }
            _ => Err(self),
        }
    }

    /// # Safety
    /// `self` must be a live buffer (not yet released).
    pub unsafe fn as_slice(&self) -> &[u8] {
        if self.ptr.is_null() || self.len == 0 {
            return &[];
        }
        // SAFETY: upheld by the caller.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// Frees the buffer through its own allocator. Idempotent.
    ///
    /// # Safety
    /// `self` must not have been released by a copy of itself.
    pub unsafe fn release(&mut self) {
        if let Some(release) = self.release.take() {
            // SAFETY: the buffer was made by whoever set `release`, and is released once.
            unsafe { release(self.ptr, self.len, self.cap) };
        }
        *self = OwnedBytes::EMPTY;
    }
}

/// Result of most calls.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok = 0,
    /// The plugin reported an error; `last_error` has it.
    Error = 1,
    /// The plugin panicked. The instance is poisoned: every later call answers `Panicked`.
    Panicked = 2,
}

/// Result of poll calls.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollStatus {
    /// The out parameter was filled.
    Ready = 0,
    /// Nothing now.
    Pending = 1,
    /// Nothing ever again.
    Done = 2,
    /// The plugin reported an error; `last_error` has it.
    Error = 3,
    /// The plugin panicked (see [`Status::Panicked`]).
    Panicked = 4,
}

/// A header as a name/value pair of borrowed strings.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct FfiHeader {
    pub name: StrRef,
    pub value: StrRef,
}

/// Request flag: safe to resend when an attempt's fate is unknown.
pub const REQUEST_IDEMPOTENT: u32 = 1;
/// Request flag: changes state at the destination.
pub const REQUEST_WRITES: u32 = 1 << 1;

/// A request a plugin wants sent. Everything but `body` is borrowed until the next call into the
/// same handle; `body` is owned by the receiver, which releases it.
#[repr(C)]
#[derive(Debug)]
pub struct FfiRequest {
    pub id: u64,
    pub method: StrRef,
    pub path: StrRef,
    pub headers: *const FfiHeader,
    pub headers_len: usize,
    pub body: OwnedBytes,
    pub rate_class: StrRef,
    pub slot_class: StrRef,
    /// [`REQUEST_IDEMPOTENT`] | [`REQUEST_WRITES`].
    pub flags: u32,
    /// Milliseconds on the host clock before which not to send; 0 for none.
    pub not_before_ms: u64,
}

impl FfiRequest {
    pub const EMPTY: FfiRequest = FfiRequest {
        id: 0,
        method: StrRef::EMPTY,
        path: StrRef::EMPTY,
        headers: std::ptr::null(),
        headers_len: 0,
        body: OwnedBytes::EMPTY,
        rate_class: StrRef::EMPTY,
        slot_class: StrRef::EMPTY,
        flags: 0,
        not_before_ms: 0,
    };
}

/// A response, borrowed for the duration of `handle_response`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct FfiResponse {
    pub status: u16,
    pub headers: *const FfiHeader,
    pub headers_len: usize,
    pub body: BytesRef,
}

/// The host gave up on a request. `kind` is the SDK's `FailureKind` discriminant.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct FfiFailure {
    pub kind: u32,
    /// Last HTTP status seen; 0 for none.
    pub status: u16,
    pub message: StrRef,
}

/// The last error of a handle: `kind` is the SDK's `ErrorKind` discriminant.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct FfiError {
    pub kind: u32,
    pub message: StrRef,
}

/// Log levels of [`HostApi::log`].
pub mod log_level {
    pub const ERROR: u32 = 1;
    pub const WARN: u32 = 2;
    pub const INFO: u32 = 3;
    pub const DEBUG: u32 = 4;
    pub const TRACE: u32 = 5;
}

/// What the host offers a plugin instance. Passed to `create`; valid for the instance's life.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct HostApi {
    pub struct_size: usize,
    pub abi_version: u32,
    /// Opaque host data handed back to every callback.
    pub user_data: *mut c_void,
    /// A log line from the plugin: level from [`log_level`], target, message.
    pub log: unsafe extern "C" fn(user_data: *mut c_void, level: u32, target: StrRef, message: StrRef),
    // ----- ABI 1.2 -----
    /// Since ABI 1.2 (read it only when `struct_size` covers it): the most verbose level the
    /// host records ([`log_level`], 0 for none). A plugin need not even format a line above it;
    /// without it a plugin hands over every line and the host filters.
    pub max_level: u32,
}

impl HostApi {
    /// Size of the ABI 1.0 and 1.1 layout, without [`HostApi::max_level`].
    pub const SIZE_1_1: usize = std::mem::offset_of!(HostApi, max_level);

    /// Reads the host's table at `host`, whatever ABI 1.x layout the host built it with: fields
    /// the host's layout lacks get their defaults (`max_level`: [`log_level::TRACE`]). `None`
    /// for a null pointer or a table shorter than ABI 1.0's.
    ///
    /// # Safety
    /// `host` is null or points to a `HostApi` prefix of at least its `struct_size` bytes.
    pub unsafe fn read(host: *const HostApi) -> Option<HostApi> {
        if host.is_null() {
            return None;
        }
        // SAFETY: `struct_size` is the first field of every layout.
        let size = unsafe { std::ptr::addr_of!((*host).struct_size).read() };
        if size >= std::mem::size_of::<HostApi>() {
            // SAFETY: the host's table covers this layout.
            return Some(unsafe { host.read() });
        }
        if size < Self::SIZE_1_1 {
            return None;
        }
        // SAFETY: the ABI 1.1 prefix is there; each field is read where both layouts put it.
        unsafe {
            Some(HostApi {
                struct_size: size,
                abi_version: std::ptr::addr_of!((*host).abi_version).read(),
                user_data: std::ptr::addr_of!((*host).user_data).read(),
                log: std::ptr::addr_of!((*host).log).read(),
                max_level: log_level::TRACE,
            })
        }
    }
}

/// An opaque plugin instance.
#[repr(C)]
pub struct PluginHandle {
    _private: [u8; 0],
    _not_send_sync: PhantomData<*mut u8>,
}

/// The plugin's table of functions and facts. `'static`; fields are only ever appended.
#[repr(C)]
pub struct PluginDescriptor {
    /// `major << 16 | minor` of the ABI the plugin was built against.
    pub abi_version: u32,
    /// `size_of::<PluginDescriptor>()` in the plugin's build.
    pub struct_size: usize,
    pub name: StrRef,
    pub version: StrRef,
    /// Toolchain and library versions, for diagnostics only.
    pub build_info: StrRef,
    /// JSON schema of the plugin's configuration.
    pub config_schema_json: StrRef,
    /// Creates an instance from JSON config (already validated against the schema) and a JSON
    /// context. On `Error`, `error_out` receives the message (owned; release it).
    pub create: unsafe extern "C" fn(
        host: *const HostApi,
        config_json: StrRef,
        context_json: StrRef,
        handle_out: *mut *mut PluginHandle,
        error_out: *mut OwnedBytes,
    ) -> Status,
    pub destroy: unsafe extern "C" fn(handle: *mut PluginHandle),
    /// Writes the input contract schema into `schema_out` (ownership passes to the host).
    pub input_contract: unsafe extern "C" fn(handle: *mut PluginHandle, schema_out: *mut FFI_ArrowSchema) -> Status,
    /// `Ready` when another batch is welcome, `Pending` when not.
    pub can_accept_batch: unsafe extern "C" fn(handle: *mut PluginHandle) -> PollStatus,
    /// Moves a batch (a struct array) into the plugin: the plugin owns `array` afterwards.
    pub push_batch: unsafe extern "C" fn(
        handle: *mut PluginHandle,
        batch_id: u64,
        kind: u32,
        array: *mut FFI_ArrowArray,
        schema: *const FFI_ArrowSchema,
    ) -> Status,
    pub finish: unsafe extern "C" fn(handle: *mut PluginHandle) -> Status,
    pub poll_request: unsafe extern "C" fn(handle: *mut PluginHandle, now_ms: u64, out: *mut FfiRequest) -> PollStatus,
    pub handle_response: unsafe extern "C" fn(
        handle: *mut PluginHandle,
        request_id: u64,
        response: *const FfiResponse,
        now_ms: u64,
    ) -> Status,
    pub handle_failure: unsafe extern "C" fn(
        handle: *mut PluginHandle,
        request_id: u64,
        failure: *const FfiFailure,
        now_ms: u64,
    ) -> Status,
    /// On `Ready`, moves an outcome batch (struct array) and its schema to the host.
    pub poll_outcomes: unsafe extern "C" fn(
        handle: *mut PluginHandle,
        array_out: *mut FFI_ArrowArray,
        schema_out: *mut FFI_ArrowSchema,
    ) -> PollStatus,
    /// On `Ready`, the id of a request whose slot is free again.
    pub poll_released_slot: unsafe extern "C" fn(handle: *mut PluginHandle, request_id_out: *mut u64) -> PollStatus,
    /// On `Ready`, the time at which the plugin wants `handle_timeout`.
    pub poll_timeout: unsafe extern "C" fn(handle: *mut PluginHandle, at_ms_out: *mut u64) -> PollStatus,
    pub handle_timeout: unsafe extern "C" fn(handle: *mut PluginHandle, now_ms: u64) -> Status,
    /// The error behind the last `Error`/`Panicked`, borrowed until the next call.
    pub last_error: unsafe extern "C" fn(handle: *mut PluginHandle) -> FfiError,
    // ----- ABI 1.1 -----
    /// Since ABI 1.1 (read it only when `struct_size` covers it): the input rows that request
    /// `request_id` (just returned by `poll_request`) carries. The host asks for writes that are
    /// not idempotent, to journal each row before the request leaves, so that a row whose send
    /// may have happened is never sent again. On `Ready`, `rows_out` receives an owned buffer of
    /// [`REQUEST_ROW_SIZE`]-byte records, each a batch id (`u64`) then a row (`u32`), both
    /// little-endian; `Pending` means the plugin does not say.
    pub request_rows:
        unsafe extern "C" fn(handle: *mut PluginHandle, request_id: u64, rows_out: *mut OwnedBytes) -> PollStatus,
    // ----- ABI 1.3 -----
    /// Since ABI 1.3 (read it only when `struct_size` covers it): the key hashes of a batch of
    /// the host's key pre-pass. `array` is a struct array of the contract's key columns (the
    /// plugin takes it, as in `push_batch`). On `Ready`, `hashes_out` receives an owned buffer of
    /// [`KEY_HASH_SIZE`]-byte little-endian `u64` records, one per row whose key the plugin
    /// checks for repeats, in any order; `Pending` means the plugin does not hash keys.
    pub key_hashes: unsafe extern "C" fn(
        handle: *mut PluginHandle,
        array: *mut FFI_ArrowArray,
        schema: *const FFI_ArrowSchema,
        hashes_out: *mut OwnedBytes,
    ) -> PollStatus,
}

/// Size of one record of [`PluginDescriptor::request_rows`]: batch id `u64` + row `u32`, LE.
pub const REQUEST_ROW_SIZE: usize = 12;

/// Size of a 1.0 descriptor: the smallest a host of this major accepts. Fields after it are
/// read only when the descriptor's `struct_size` covers them.
pub const DESCRIPTOR_SIZE_1_0: usize = std::mem::offset_of!(PluginDescriptor, request_rows);

/// Whether a descriptor of `struct_size` bytes has [`PluginDescriptor::request_rows`].
pub const fn has_request_rows(struct_size: usize) -> bool {
    struct_size >= std::mem::offset_of!(PluginDescriptor, request_rows) + std::mem::size_of::<usize>()
}

/// Size of one record of [`PluginDescriptor::key_hashes`]: a `u64`, little-endian.
pub const KEY_HASH_SIZE: usize = 8;

/// Whether a descriptor of `struct_size` bytes has [`PluginDescriptor::key_hashes`].
pub const fn has_key_hashes(struct_size: usize) -> bool {
    struct_size >= std::mem::offset_of!(PluginDescriptor, key_hashes) + std::mem::size_of::<usize>()
}

// SAFETY: a descriptor is immutable static data plus function pointers.
unsafe impl Sync for PluginDescriptor {}
// SAFETY: as above.
unsafe impl Send for PluginDescriptor {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_packs_major_and_minor() {
        assert_eq!(abi_major(ABI_VERSION), ABI_MAJOR);
        assert_eq!(abi_minor(ABI_VERSION), ABI_MINOR);
        assert_eq!(abi_major(0x0002_0007), 2);
        assert_eq!(abi_minor(0x0002_0007), 7);
    }

    #[test]
    fn owned_bytes_release_once() {
        let mut bytes = OwnedBytes::from_vec(b"hello".to_vec());
        // SAFETY: freshly made, not released.
        assert_eq!(unsafe { bytes.as_slice() }, b"hello");
        // SAFETY: released once; the second call is a no-op.
        unsafe {
            bytes.release();
            bytes.release();
        }
        assert!(bytes.ptr.is_null());
    }
}
