//! (being written) proxy-wasm glue.
