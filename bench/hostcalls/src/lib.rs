//! A proxy-wasm module for measuring the host boundary: every variant is the same binary, the
//! plugin configuration string names what it does per request (see `Variant`), so Envoy's CPU
//! time per request differs between arms only by the host calls made. Driven by
//! `bench/hostcalls.py`, which also checks each variant's effect on the wire.
//!
//! Built with the default `sdk` feature it uses the Rust SDK (like the filter); built with
//! `--no-default-features` it is `bare.rs`: the raw ABI, exporting only the header callbacks.

#[cfg(feature = "sdk")]
mod sdk;
#[cfg(feature = "sdk")]
mod variant;

#[cfg(not(feature = "sdk"))]
mod bare;
