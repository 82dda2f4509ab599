//! Output files written atomically: into a temporary file beside the target, renamed over it
//! only when complete. A failed or interrupted run leaves no partial file behind.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::error::user;

/// An output file being written.
pub struct AtomicFile {
    target: PathBuf,
    temp: tempfile::NamedTempFile,
}

impl AtomicFile {
    /// Opens a temporary file next to `target`; fails at once (exit 2) if the directory is
    /// not writable, before any simulation work.
    pub fn create(target: &str) -> anyhow::Result<AtomicFile> {
        let target = PathBuf::from(target);
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if target.is_dir() {
            return Err(user(format!("cannot write {}: it is a directory", target.display())));
        }
        let temp = tempfile::Builder::new()
            .prefix(".lbsim-")
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(|e| user(format!("cannot write {}: {e}", target.display())))?;
        Ok(AtomicFile { target, temp })
    }

    /// The writer.
    pub fn writer(&mut self) -> &mut std::fs::File {
        self.temp.as_file_mut()
    }

    /// Flushes and renames the file into place.
    pub fn commit(mut self) -> anyhow::Result<()> {
        self.temp.as_file_mut().flush()?;
        self.temp.as_file().sync_all().ok();
        self.temp
            .persist(&self.target)
            .map_err(|e| e.error)
            .with_context(|| format!("cannot write {}", self.target.display()))?;
        Ok(())
    }
}

/// Writes a whole file atomically.
pub fn write_atomic(target: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let mut f = AtomicFile::create(target)?;
    f.writer().write_all(bytes)?;
    f.commit()
}

/// Makes sure a directory exists and is writable (for `--plot DIR`), before any work.
pub fn ensure_dir(dir: &str) -> anyhow::Result<PathBuf> {
    let path = Path::new(dir);
    std::fs::create_dir_all(path).map_err(|e| user(format!("cannot create directory {dir}: {e}")))?;
    tempfile::tempfile_in(path).map_err(|e| user(format!("cannot write in directory {dir}: {e}")))?;
    Ok(path.to_path_buf())
}
