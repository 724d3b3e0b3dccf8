//! libFuzzer target: `wrnexus_fuzz::headers` (its property, not just no panic).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wrnexus_fuzz::headers::check(data));
