//! Output files written atomically: into a temporary file beside the target, renamed over it
//! only when complete. A failed or interrupted run leaves no partial file behind. A target
//! that is a symbolic link is written through (the file it points to is replaced, the link
//! stays); a FIFO, a device or another non-regular file is written directly (it cannot be
//! replaced, and `--trace /dev/stdout` must reach the terminal). New files get the usual
//! permissions (0666 less the umask), like every other program's.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::error::user;
use crate::interrupt;

/// An output file being written.
pub struct AtomicFile {
    target: PathBuf,
    kind: Kind,
}

enum Kind {
    /// A regular file (or a new one): a temporary file renamed over it when complete.
    Temp(tempfile::NamedTempFile),
    /// A FIFO, a device or a socket: written in place.
    Direct(std::fs::File),
}

/// Follows symbolic links at the end of `path` (the file may not exist yet): where the data
/// must go so that a link stays a link.
fn resolve_links(path: &Path) -> anyhow::Result<PathBuf> {
    let mut p = path.to_path_buf();
    // As many links as Linux follows before ELOOP.
    for _ in 0..40 {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let link = std::fs::read_link(&p).map_err(|e| user(format!("cannot write {}: {e}", path.display())))?;
                p = match p.parent() {
                    Some(dir) if link.is_relative() => dir.join(link),
                    _ => link,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(user(format!("cannot write {}: too many levels of symbolic links", path.display())))
}

/// Whether `path` reaches its file through an open descriptor (`/dev/stdout`,
/// `/dev/fd/N`, `/proc/self/fd/N`): such links name the descriptor, not a place to rename into.
fn names_a_descriptor(path: &Path) -> bool {
    let magic = |p: &Path| p.starts_with("/proc") || p.starts_with("/dev/fd");
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        if magic(&p) {
            return true;
        }
        match std::fs::read_link(&p) {
            Ok(link) => {
                p = match p.parent() {
                    Some(dir) if link.is_relative() => dir.join(link),
                    _ => link,
                }
            }
            Err(_) => return false,
        }
    }
    false
}

/// For `/dev/stdout` or `/dev/stderr` (or their `/dev/fd/N`, `/proc/self/fd/N` names), a
/// duplicate of lbsim's own descriptor: it shares the descriptor's position, so the trace and
/// the report follow each other in a redirected file instead of overwriting each other.
fn standard_stream(path: &Path) -> Option<std::io::Result<std::fs::File>> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        let mut p = path.to_path_buf();
        for _ in 0..40 {
            let fd = p.strip_prefix("/proc/self/fd").or_else(|_| p.strip_prefix("/dev/fd")).ok();
            match fd.and_then(|n| n.to_str()) {
                Some("1") => return Some(std::io::stdout().as_fd().try_clone_to_owned().map(std::fs::File::from)),
                Some("2") => return Some(std::io::stderr().as_fd().try_clone_to_owned().map(std::fs::File::from)),
                _ => {}
            }
            let link = std::fs::read_link(&p).ok()?;
            p = match p.parent() {
                Some(dir) if link.is_relative() => dir.join(link),
                _ => link,
            };
        }
    }
    let _ = path;
    None
}

impl AtomicFile {
    /// Opens a temporary file next to `target` (or, for a FIFO or device, `target` itself);
    /// fails at once (exit 2) if the directory is not writable, before any simulation work.
    pub fn create(target: impl AsRef<Path>) -> anyhow::Result<AtomicFile> {
        let shown = target.as_ref();
        // What the path leads to, through any links (the kernel's own view: `/dev/stdout`
        // leads through `/proc/self/fd/1` to a pipe that has no path of its own).
        match std::fs::metadata(shown) {
            Ok(m) if m.is_dir() => {
                return Err(user(format!("cannot write {}: it is a directory", shown.display())));
            }
            // A FIFO, a device, or an open descriptor (`/dev/stdout` redirected to a file,
            // which must not be renamed over): written in place, appending (so a regular file
            // behind a descriptor is not overwritten from its start).
            Ok(m) if !m.is_file() || names_a_descriptor(shown) => {
                // Opening a FIFO waits for its reader: let a signal end that wait.
                let _exit_at_once = interrupt::ExitAtOnce::start();
                let file = match standard_stream(shown) {
                    Some(file) => file,
                    None => std::fs::OpenOptions::new().append(true).open(shown),
                }
                .map_err(|e| user(format!("cannot write {}: {e}", shown.display())))?;
                return Ok(AtomicFile { target: shown.to_path_buf(), kind: Kind::Direct(file) });
            }
            _ => {}
        }
        let target = resolve_links(shown)?;
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut builder = tempfile::Builder::new();
        builder.prefix(".lbsim-").suffix(".tmp");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // The kernel applies the umask to the mode a file is created with.
            builder.permissions(std::fs::Permissions::from_mode(0o666));
        }
        let temp = builder.tempfile_in(&dir).map_err(|e| user(format!("cannot write {}: {e}", shown.display())))?;
        Ok(AtomicFile { target, kind: Kind::Temp(temp) })
    }

    /// The writer.
    pub fn writer(&mut self) -> &mut std::fs::File {
        match &mut self.kind {
            Kind::Temp(temp) => temp.as_file_mut(),
            Kind::Direct(file) => file,
        }
    }

    /// Flushes and renames the file into place.
    pub fn commit(self) -> anyhow::Result<()> {
        match self.kind {
            Kind::Temp(mut temp) => {
                temp.as_file_mut().flush()?;
                temp.as_file().sync_all().ok();
                temp.persist(&self.target)
                    .map_err(|e| e.error)
                    .with_context(|| format!("cannot write {}", self.target.display()))?;
            }
            Kind::Direct(mut file) => {
                file.flush().with_context(|| format!("cannot write {}", self.target.display()))?;
            }
        }
        Ok(())
    }
}

/// Writes a whole file atomically.
pub fn write_atomic(target: impl AsRef<Path>, bytes: &[u8]) -> anyhow::Result<()> {
    let target = target.as_ref();
    let mut f = AtomicFile::create(target)?;
    f.writer().write_all(bytes).with_context(|| format!("cannot write {}", target.display()))?;
    f.commit()
}

/// Whether two paths name one existing file (after links).
pub fn same_file(a: &Path, b: &Path) -> bool {
    let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) else { return false };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        ma.dev() == mb.dev() && ma.ino() == mb.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = (ma, mb);
        matches!((std::fs::canonicalize(a), std::fs::canonicalize(b)), (Ok(x), Ok(y)) if x == y)
    }
}

/// Refuses (exit 2, before any work) an output that is one of the inputs: writing it would
/// destroy the input. `what` names the output (`--trace t.jsonl`).
pub fn refuse_input_as_output(what: &str, output: &Path, inputs: &[&str]) -> anyhow::Result<()> {
    match inputs.iter().find(|input| same_file(output, Path::new(input))) {
        Some(input) => Err(user(format!(
            "{what}: {} is the input file {input}; writing it would destroy the input — choose another path",
            output.display()
        ))),
        None => Ok(()),
    }
}

/// A directory for `--plot`: made if missing, and removed again (with any parents lbsim made)
/// if the command stops before writing into it (Ctrl-C, an error).
pub struct PlotDir {
    path: PathBuf,
    /// The directories this command created, outermost first.
    created: Vec<PathBuf>,
}

impl PlotDir {
    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The charts are written: keep the directory.
    pub fn keep(mut self) {
        self.created.clear();
    }
}

impl Drop for PlotDir {
    fn drop(&mut self) {
        // Innermost first; `remove_dir` fails (harmlessly) on a directory that is not empty.
        for dir in self.created.iter().rev() {
            if std::fs::remove_dir(dir).is_err() {
                break;
            }
        }
    }
}

/// Makes sure a directory exists and is writable (for `--plot DIR`), before any work.
pub fn ensure_dir(dir: &str) -> anyhow::Result<PlotDir> {
    let path = Path::new(dir);
    let mut created = Vec::new();
    let mut p = path;
    while !p.as_os_str().is_empty() && std::fs::symlink_metadata(p).is_err() {
        created.push(p.to_path_buf());
        match p.parent() {
            Some(parent) => p = parent,
            None => break,
        }
    }
    created.reverse();
    let plot = PlotDir { path: path.to_path_buf(), created };
    std::fs::create_dir_all(path).map_err(|e| user(format!("cannot create directory {dir}: {e}")))?;
    tempfile::tempfile_in(path).map_err(|e| user(format!("cannot write in directory {dir}: {e}")))?;
    Ok(plot)
}
