//! A server's message as an agent reads and checks it before it runs anything.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wharf_core::fuzzing::server_message(data));
