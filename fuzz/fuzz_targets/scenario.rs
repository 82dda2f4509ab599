//! Fuzz target: arbitrary bytes as a scenario file (TOML and JSON), through parsing,
//! validation and a bounded run. Run with `cargo +nightly fuzz run scenario`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // In a thread with a bounded stack, not the main thread's 8 MiB: test threads get 2 MiB and a
    // browser's WebAssembly stack is about 1 MiB, so recursion that grows with the input (a
    // nested pump per waiting request was one) must show here. 4 MiB because the fuzzer's
    // AddressSanitizer build makes every frame larger.
    let data = data.to_vec();
    let run = std::thread::Builder::new()
        .stack_size(4 << 20)
        .spawn(move || sim_core::testing::exercise_bytes(&data))
        .expect("spawn the fuzz thread")
        .join();
    if let Err(panic) = run {
        std::panic::resume_unwind(panic);
    }
});
