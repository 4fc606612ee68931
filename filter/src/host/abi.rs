//! The proxy-wasm ABI calls a request makes, called directly (wasm32 only). The SDK's wrappers
//! panic on a status they do not expect (a panic traps the worker's VM), copy every header of a
//! map into a `String` and a `Vec` of its own, and allocate a property's path twice; these
//! return the host's status, hand a map over as the host's one buffer ([`HeaderMap`]), and
//! build a path on the stack. The calls and their layouts are the proxy-wasm ABI 0.2.1 that the
//! SDK also declares.

use crate::host::HeaderMap;

/// The host's status for a call that did not succeed (the ABI's `WasmResult`: 1 NotFound,
/// 2 BadArgument, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status(pub u32);

const OK: u32 = 0;
const NOT_FOUND: u32 = 1;

/// The header maps a request touches (the ABI's map types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Map {
    RequestHeaders = 0,
    ResponseHeaders = 2,
}

extern "C" {
    fn proxy_get_header_map_pairs(
        map_type: u32,
        return_map_data: *mut *mut u8,
        return_map_size: *mut usize,
    ) -> u32;
    fn proxy_get_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    ) -> u32;
    fn proxy_replace_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_add_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_remove_header_map_value(map_type: u32, key_data: *const u8, key_size: usize) -> u32;
    fn proxy_get_property(
        path_data: *const u8,
        path_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    ) -> u32;
}

/// Takes ownership of a buffer the host returned.
///
/// # Safety
/// `data` is null or a buffer of `size` bytes the host obtained from `proxy_on_memory_allocate`,
/// which the SDK implements by leaking a `Vec<u8>` of capacity `size`.
unsafe fn host_buffer(data: *mut u8, size: usize) -> Option<Vec<u8>> {
    // SAFETY: see the function's contract: this is that `Vec` (the SDK takes host buffers back
    // the same way).
    (!data.is_null()).then(|| unsafe { Vec::from_raw_parts(data, size, size) })
}

/// Runs a call that returns a host buffer through two out-pointers.
fn read_buffer(
    call: impl FnOnce(*mut *mut u8, *mut usize) -> u32,
) -> Result<Option<Vec<u8>>, Status> {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    match call(&mut data, &mut size) {
        // SAFETY: on success the host wrote a buffer from `proxy_on_memory_allocate` (or null)
        // and its size into the two locals.
        OK => Ok(unsafe { host_buffer(data, size) }),
        NOT_FOUND => Ok(None),
        status => Err(Status(status)),
    }
}

fn status(code: u32) -> Result<(), Status> {
    match code {
        OK => Ok(()),
        other => Err(Status(other)),
    }
}

/// Every header of `map` in one call; empty when the host refuses or hands over a buffer that
/// is not in the ABI's layout.
pub fn header_map(map: Map) -> HeaderMap {
    // SAFETY: the host writes a pointer and a length into the out-pointers `read_buffer` owns.
    let bytes =
        read_buffer(|data, size| unsafe { proxy_get_header_map_pairs(map as u32, data, size) });
    bytes
        .ok()
        .flatten()
        .and_then(HeaderMap::from_bytes)
        .unwrap_or_default()
}

/// One header (its first value).
pub fn header(map: Map, name: &str) -> Result<Option<Vec<u8>>, Status> {
    // SAFETY: `name` is valid for its length; see `header_map` for the out-pointers.
    read_buffer(|data, size| unsafe {
        proxy_get_header_map_value(map as u32, name.as_ptr(), name.len(), data, size)
    })
}

/// Replaces a header (every value of it) by `value`, or removes it (`None`).
pub fn set_header(map: Map, name: &str, value: Option<&[u8]>) -> Result<(), Status> {
    // SAFETY: the pointers are valid for the lengths passed with them, for the call.
    status(unsafe {
        match value {
            Some(v) => proxy_replace_header_map_value(
                map as u32,
                name.as_ptr(),
                name.len(),
                v.as_ptr(),
                v.len(),
            ),
            None => proxy_remove_header_map_value(map as u32, name.as_ptr(), name.len()),
        }
    })
}

/// Adds one more value of a header.
pub fn add_header(map: Map, name: &str, value: &[u8]) -> Result<(), Status> {
    // SAFETY: the pointers are valid for the lengths passed with them, for the call.
    status(unsafe {
        proxy_add_header_map_value(
            map as u32,
            name.as_ptr(),
            name.len(),
            value.as_ptr(),
            value.len(),
        )
    })
}

/// A property by its path (the parts joined with NUL bytes, as the ABI wants it: on the stack
/// for the paths the filter reads).
pub fn property(path: &[&str]) -> Result<Option<Vec<u8>>, Status> {
    let size = path
        .iter()
        .map(|p| p.len() + 1)
        .sum::<usize>()
        .saturating_sub(1);
    let mut stack = [0u8; 128];
    let mut heap = Vec::new();
    let buf: &mut [u8] = match stack.get_mut(..size) {
        Some(s) => s,
        None => {
            heap.resize(size, 0);
            &mut heap
        }
    };
    let mut at = 0;
    for part in path {
        if let Some(slot) = buf.get_mut(at..at + part.len()) {
            slot.copy_from_slice(part.as_bytes());
        }
        // The separator after each part but the last (the buffer is zeroed).
        at += part.len() + 1;
    }
    // SAFETY: `buf` is valid for `size` bytes; see `header_map` for the out-pointers.
    read_buffer(|data, len| unsafe { proxy_get_property(buf.as_ptr(), size, data, len) })
}
