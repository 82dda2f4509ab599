//! Standard output and standard error without panics: `println!` panics when stdout is closed
//! or full, which in a release build (panic = abort) is a core dump for `lbsim … | head`.
//! A closed stdout (the reader went away, as `head` does) ends the command quietly with exit
//! 0; any other write error (a full disk) is an error with exit 1. Messages to stderr are
//! best effort: when stderr is gone there is nobody to tell, and the work goes on.

use std::borrow::Cow;
use std::io::Write;

/// The error of a write to a closed stdout: `main` ends quietly with exit 0.
#[derive(Debug)]
pub struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("standard output was closed")
    }
}

impl std::error::Error for StdoutClosed {}

/// Writes `text` to stdout and flushes it.
pub fn stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(anyhow::Error::new(StdoutClosed)),
        Err(e) => Err(anyhow::Error::new(e).context("writing to standard output")),
    }
}

/// Writes one line to stderr, ignoring errors (stderr closed or full).
pub fn note(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(line.as_bytes()).and_then(|()| err.write_all(b"\n"));
}

/// Text from a scenario (its name) made safe for a terminal: control characters (escape
/// sequences, newlines) and bidirectional overrides are shown escaped, as `\n`, `\u{1b}`.
pub fn escape(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| {
        c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                _ => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape("plain name"), "plain name");
        assert_eq!(escape("a\u{1b}[31mred\nb"), "a\\u{1b}[31mred\\nb");
        assert_eq!(escape("x\u{202e}y"), "x\\u{202e}y");
    }
}
