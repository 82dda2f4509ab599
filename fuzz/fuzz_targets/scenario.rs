//! Fuzz target: arbitrary bytes as a scenario file (TOML and JSON), through parsing,
//! validation and a bounded run. Run with `cargo +nightly fuzz run scenario`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sim_core::testing::exercise_bytes(data);
});
