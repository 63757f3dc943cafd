//! A pasted task definition through the whole intake: parse, type, validate, and the task
//! policy's check. Whatever the bytes, an answer, never a panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wharf_core::fuzzing::task_definition(data));
