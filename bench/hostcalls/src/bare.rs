//! The module without the SDK: the proxy-wasm 0.2.1 ABI by hand, exporting only what it needs
//! (no `proxy_on_request_body`, `_trailers`, `proxy_on_log`, `proxy_on_done`, …). The host
//! skips a callback the module does not export, so this shows what those exports cost when
//! Envoy does call them. Per request it does nothing, like the `nothing` variant.

use std::alloc::{alloc, Layout};

#[no_mangle]
pub extern "C" fn proxy_abi_version_0_2_1() {}

/// The host copies strings (configuration, header values) into memory it asks for here.
#[no_mangle]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    match Layout::from_size_align(size.max(1), 1) {
        // SAFETY: the layout has a non-zero size.
        Ok(layout) => unsafe { alloc(layout) },
        Err(_) => std::ptr::null_mut(),
    }
}

#[no_mangle]
pub extern "C" fn proxy_on_context_create(_context_id: u32, _root_context_id: u32) {}

#[no_mangle]
pub extern "C" fn proxy_on_vm_start(_context_id: u32, _configuration_size: usize) -> u32 {
    1
}

#[no_mangle]
pub extern "C" fn proxy_on_configure(_context_id: u32, _configuration_size: usize) -> u32 {
    1
}

/// 0 is `Continue`.
#[no_mangle]
pub extern "C" fn proxy_on_request_headers(_context_id: u32, _headers: usize, _eos: u32) -> u32 {
    0
}

#[no_mangle]
pub extern "C" fn proxy_on_response_headers(_context_id: u32, _headers: usize, _eos: u32) -> u32 {
    0
}
