//! libFuzzer target: checkpoint files through `checkpoint::load_bytes`. The properties are in
//! vae-core/tests/fuzz_checks, shared with the corpus replay.
#![no_main]
#[path = "../../vae-core/tests/fuzz_checks/mod.rs"]
mod fuzz_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::check_checkpoint(data));
