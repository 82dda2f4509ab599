//! Reading scenario files: the file's text (read no further than the size limit, from any kind
//! of file), `--set` overrides, and errors that name the file, line and column (exit code 2).

use std::io::Read;

use sim_core::config::MAX_TEXT_BYTES;
use sim_core::{Format, Scenario};

use crate::error::user;
use crate::{interrupt, out};

/// Reads a scenario file's text: at most the size limit plus one byte, so `/dev/zero`, a huge
/// sparse file or an endless FIFO is refused at once instead of filling memory. A signal while
/// reading (a FIFO whose writer is slow) ends the process at once: nothing is written yet.
pub fn text(path: &str) -> anyhow::Result<String> {
    let shown = format!("scenario file {path}");
    bounded_text(path, &shown, MAX_TEXT_BYTES, "the limit on scenario files (a fixed limit; reading stopped there)")
}

/// Reads a text file as `text` does, no further than `limit` bytes (plus one, to tell that it
/// is longer), whatever kind of file it is; `shown` names it in messages, `why` says what the
/// limit is. The one way lbsim reads an input file it was given (scenarios, imported configs).
pub fn bounded_text(path: &str, shown: &str, limit: usize, why: &str) -> anyhow::Result<String> {
    let _exit_at_once = interrupt::ExitAtOnce::start();
    let cannot = |e: std::io::Error| user(format!("cannot read {shown}: {e}"));
    let file = std::fs::File::open(path).map_err(cannot)?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(user(format!("cannot read {shown}: it is a directory")));
    }
    let mut bytes = Vec::new();
    file.take(limit as u64 + 1).read_to_end(&mut bytes).map_err(cannot)?;
    if bytes.len() > limit {
        return Err(user(format!("{shown}: the file is larger than {limit} bytes, {why}")));
    }
    String::from_utf8(bytes).map_err(|e| {
        user(format!("{shown}: the file is not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to()))
    })
}

/// The largest file a scenario may name (empirical service-time samples), in bytes.
pub const MAX_SAMPLE_FILE_BYTES: usize = 64 << 20;

/// Reads the files a scenario names (`empirical { file = ... }`): a relative path is taken
/// from the scenario file's directory, as the scenario's author sees it. Each file is read
/// once, however many times a sweep or comparison loads the scenario.
pub struct ScenarioFiles {
    dir: std::path::PathBuf,
    read: std::cell::RefCell<std::collections::BTreeMap<String, Result<String, String>>>,
}

impl ScenarioFiles {
    /// The files of the scenario at `scenario_path`.
    pub fn beside(scenario_path: &str) -> ScenarioFiles {
        let dir = std::path::Path::new(scenario_path).parent().map(|p| p.to_path_buf()).unwrap_or_default();
        ScenarioFiles { dir, read: Default::default() }
    }

    /// The text of the file at `path` as the scenario wrote it, or why it cannot be read.
    pub fn read(&self, path: &str) -> Result<String, String> {
        if let Some(done) = self.read.borrow().get(path) {
            return done.clone();
        }
        let full = self.dir.join(path);
        let shown = full.display().to_string();
        let result = bounded_text(
            &shown,
            &shown,
            MAX_SAMPLE_FILE_BYTES,
            "the limit on files a scenario names (a fixed limit; reading stopped there)",
        )
        .map_err(|e| e.to_string());
        self.read.borrow_mut().insert(path.to_string(), result.clone());
        result
    }

    /// Reads and validates scenario `text` (from the scenario file) with overrides.
    pub fn load(&self, text: &str, format: Format, sets: &[String]) -> Result<Scenario, sim_core::ConfigError> {
        sim_core::config::load_with_files(text, format, sets, &|path| self.read(path))
    }
}

/// Reads and validates a scenario file with overrides.
pub fn scenario(path: &str, sets: &[String]) -> anyhow::Result<Scenario> {
    let text = text(path)?;
    let mut scenario =
        ScenarioFiles::beside(path).load(&text, Format::from_path(path), sets).map_err(|e| user(e.with_file(path)))?;
    crate::replay::resolve(&mut scenario, path)?;
    for warning in sim_core::config::warnings(&scenario) {
        out::note(&format!("warning: {path}: {warning}"));
    }
    Ok(scenario)
}
