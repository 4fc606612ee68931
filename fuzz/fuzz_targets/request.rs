#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| iis_rewrite_fuzz::request(data));
