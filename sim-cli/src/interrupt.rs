//! Ctrl-C and SIGTERM (what Slurm and Kubernetes send; SIGHUP too): long work checks a flag
//! between chunks and stops promptly, leaving no partial output files (they are written to
//! temporary files and renamed only when complete). While lbsim only reads its input and
//! holds no output yet, a signal ends the process at once: a read from a FIFO or a slow device
//! may block for ever and cannot check a flag.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static EXIT_AT_ONCE: AtomicBool = AtomicBool::new(false);

/// The exit code of an interrupted command (for SIGINT, SIGTERM and SIGHUP alike).
pub const EXIT_CODE: u8 = 130;

/// The error returned when the user interrupted the work (exit code 130). `note` says what
/// was kept, for commands that keep their completed work (a sweep's rows).
#[derive(Debug, Default)]
pub struct Interrupted {
    pub note: Option<String>,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.note {
            Some(note) => write!(f, "interrupted; {note}"),
            None => f.write_str("interrupted; no output was written"),
        }
    }
}

impl std::error::Error for Interrupted {}

/// Installs the handler of SIGINT, SIGTERM and SIGHUP.
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        INTERRUPTED.store(true, Ordering::SeqCst);
        if EXIT_AT_ONCE.load(Ordering::SeqCst) {
            let _ = writeln!(std::io::stderr(), "error: interrupted while reading input; no output was written");
            std::process::exit(i32::from(EXIT_CODE));
        }
    });
}

/// While this guard lives, a signal ends the process at once (exit 130). Only for stretches
/// that hold no output file: reading the input, opening a FIFO that waits for its reader.
pub struct ExitAtOnce(());

impl ExitAtOnce {
    /// Starts such a stretch; if a signal already came, ends the process now.
    pub fn start() -> ExitAtOnce {
        EXIT_AT_ONCE.store(true, Ordering::SeqCst);
        if requested() {
            let _ = writeln!(std::io::stderr(), "error: interrupted while reading input; no output was written");
            std::process::exit(i32::from(EXIT_CODE));
        }
        ExitAtOnce(())
    }
}

impl Drop for ExitAtOnce {
    fn drop(&mut self) {
        EXIT_AT_ONCE.store(false, Ordering::SeqCst);
    }
}

/// Whether the user asked to stop.
pub fn requested() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// `Err(Interrupted)` if the user asked to stop.
pub fn check() -> anyhow::Result<()> {
    if requested() { Err(anyhow::Error::new(Interrupted::default())) } else { Ok(()) }
}
