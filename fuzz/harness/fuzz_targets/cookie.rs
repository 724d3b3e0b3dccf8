//! libFuzzer target: `wrnexus_fuzz::cookie` (its property, not just no panic).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wrnexus_fuzz::cookie::check(data));
