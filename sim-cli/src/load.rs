//! Reading scenario files: the file's text, `--set` overrides, and errors that name the file,
//! line and column (exit code 2).

use sim_core::{Format, Scenario};

use crate::error::user;

/// Reads and validates a scenario file with overrides.
pub fn scenario(path: &str, sets: &[String]) -> anyhow::Result<Scenario> {
    let text = std::fs::read(path).map_err(|e| user(format!("cannot read scenario file {path}: {e}")))?;
    let text = String::from_utf8(text).map_err(|e| {
        user(format!("{path}: the file is not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to()))
    })?;
    let scenario = sim_core::config::load(&text, Format::from_path(path), sets).map_err(|e| user(e.with_file(path)))?;
    for warning in sim_core::config::warnings(&scenario) {
        eprintln!("warning: {path}: {warning}");
    }
    Ok(scenario)
}
