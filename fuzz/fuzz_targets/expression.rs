//! A placement constraint's expression (the cluster query language).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wharf_core::fuzzing::expression(data));
