//! Ctrl-C: long work checks a flag between chunks and stops promptly, leaving no partial
//! output files (they are written to temporary files and renamed only when complete).

use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// The error returned when the user interrupted the work (exit code 130).
#[derive(Debug)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted; no output was written")
    }
}

impl std::error::Error for Interrupted {}

/// Installs the Ctrl-C handler.
pub fn install() {
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst));
}

/// Whether the user asked to stop.
pub fn requested() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// `Err(Interrupted)` if the user asked to stop.
pub fn check() -> anyhow::Result<()> {
    if requested() { Err(anyhow::Error::new(Interrupted)) } else { Ok(()) }
}
