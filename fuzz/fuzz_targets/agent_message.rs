//! An agent's message as the server reads and checks it.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wharf_core::fuzzing::agent_message(data));
