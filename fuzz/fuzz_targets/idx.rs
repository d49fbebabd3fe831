//! libFuzzer target: IDX files, raw or gzip, through `parse_idx_bytes` and the streaming
//! `parse_idx`. The properties are in vae-core/tests/fuzz_checks, shared with the corpus replay.
#![no_main]
#[path = "../../vae-core/tests/fuzz_checks/mod.rs"]
mod fuzz_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::check_idx(data));
