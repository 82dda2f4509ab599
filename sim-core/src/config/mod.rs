//! Scenario files: TOML or JSON text (plus `--set` overrides) in, a validated [`Scenario`] out,
//! with errors that name the line, column and key path, what is wrong and what is allowed.

pub(crate) mod check;
pub use check::{estimated_events, estimated_memory_bytes, estimated_requests, estimated_trace_events, warnings};
pub mod keys;
pub use keys::accepted_keys;
pub(crate) mod node;
mod read;
pub mod set;
pub mod units;
pub(crate) mod write;

use std::fmt;

use crate::scenario::Scenario;
pub use node::Origin;

/// The syntax of a scenario text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// TOML (comments allowed).
    Toml,
    /// JSON (same schema).
    Json,
}

impl Format {
    /// The format a file name implies: `.json` is JSON, everything else TOML.
    pub fn from_path(path: &str) -> Format {
        if path.to_ascii_lowercase().ends_with(".json") { Format::Json } else { Format::Toml }
    }
}

/// A problem with a scenario: where it is, which key, what is wrong and what is allowed.
///
/// Reading a file reports every problem it finds (up to [`MAX_REPORTED`]), not only the first:
/// the first is in `origin`, `path` and `message`, the others in `more`, each with its own place.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigError {
    /// Line and column, or the `--set` argument, the problem comes from.
    pub origin: Origin,
    /// The key path, e.g. `clients[0].rate` (empty for syntax errors).
    pub path: String,
    /// What is wrong and what is allowed.
    pub message: String,
    /// Further problems found in the same text, in file order (empty when there is one).
    pub more: Vec<ConfigError>,
    /// How many further problems were found but are not listed (beyond [`MAX_REPORTED`]).
    pub unlisted: usize,
}

/// The most problems one error lists; the rest are counted ("and N more").
pub const MAX_REPORTED: usize = 20;

impl ConfigError {
    pub(crate) fn new(origin: Origin, path: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError { origin, path: path.into(), message: message.into(), more: Vec::new(), unlisted: 0 }
    }

    /// One error listing several problems: the first [`MAX_REPORTED`] in file order (problems
    /// without a line keep their reading order, after those with one), the rest counted.
    /// `uncounted` more problems were found but not kept.
    pub(crate) fn many(mut problems: Vec<ConfigError>, uncounted: usize) -> ConfigError {
        debug_assert!(!problems.is_empty(), "an error without problems");
        // Stable: problems at the same place (or without one) keep the order they were found in.
        problems.sort_by_key(|p| match p.origin {
            Origin::At { line, column } => (0, line, column),
            _ => (1, 0, 0),
        });
        let unlisted = problems.len().saturating_sub(MAX_REPORTED) + uncounted;
        problems.truncate(MAX_REPORTED);
        let mut problems = problems.into_iter();
        let mut first = problems
            .next()
            .unwrap_or_else(|| ConfigError::new(Origin::Unknown, "", "the scenario is not valid (no details)"));
        first.more.extend(problems);
        first.unlisted = unlisted;
        first
    }

    /// Every problem this error lists (the first one, then `more`).
    pub fn problems(&self) -> impl Iterator<Item = &ConfigError> {
        std::iter::once(self).chain(self.more.iter())
    }

    /// Formats the error with the scenario file's name in front, as the command line prints it:
    /// `scenarios/x.toml:12:8: clients[0].rate: must be at least 0, got -5` (one line per
    /// problem when there are several).
    pub fn with_file(&self, file: &str) -> String {
        let mut lines: Vec<String> = self.problems().map(|p| p.one_with_file(file)).collect();
        if self.unlisted > 0 {
            lines.push(format!(
                "{file}: … and {} more problems (only the first {MAX_REPORTED} are listed)",
                self.unlisted
            ));
        }
        lines.join("\n")
    }

    fn one_with_file(&self, file: &str) -> String {
        let place = match &self.origin {
            Origin::At { line, column } => format!("{file}:{line}:{column}"),
            Origin::Set(arg) => format!("{file}: --set {}", clip(arg, MAX_ECHO)),
            Origin::Unknown => file.to_string(),
        };
        if self.path.is_empty() {
            format!("{place}: {}", self.message)
        } else {
            format!("{place}: {}: {}", clip(&self.path, MAX_ECHO_PATH), self.message)
        }
    }

    fn fmt_one(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origin = self.origin.to_string();
        let path = clip(&self.path, MAX_ECHO_PATH);
        let mut parts: Vec<&str> = Vec::new();
        if !origin.is_empty() {
            parts.push(&origin);
        }
        if !path.is_empty() {
            parts.push(&path);
        }
        parts.push(&self.message);
        f.write_str(&parts.join(": "))
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_one(f)?;
        for more in &self.more {
            f.write_str("\n")?;
            more.fmt_one(f)?;
        }
        if self.unlisted > 0 {
            write!(f, "\n… and {} more problems (only the first {MAX_REPORTED} are listed)", self.unlisted)?;
        }
        Ok(())
    }
}

/// How many characters of a value a message repeats; the rest is cut (with the total length),
/// so a 100 KB value does not flood the terminal.
pub(crate) const MAX_ECHO: usize = 60;
/// Key paths are structure, not data: they may be longer before they are cut.
const MAX_ECHO_PATH: usize = 240;

/// `text`, or its first `max` characters, an ellipsis and the total length when it is longer.
pub(crate) fn clip(text: &str, max: usize) -> String {
    let total = text.chars().count();
    if total <= max {
        return text.to_string();
    }
    let head: String = text.chars().take(max).collect();
    format!("{head}… ({total} characters)")
}

/// A value as a message quotes it: `"text"`, cut like [`clip`] when it is long
/// (`"aaaa…" (100000 characters)`).
pub(crate) fn quote(text: &str) -> String {
    let total = text.chars().count();
    if total <= MAX_ECHO {
        return format!("\"{text}\"");
    }
    let head: String = text.chars().take(MAX_ECHO).collect();
    format!("\"{head}…\" ({total} characters)")
}

impl std::error::Error for ConfigError {}

/// Reads a file a scenario names, given its path as written in the scenario (relative paths
/// are the caller's to resolve, e.g. against the scenario file's directory): its text, or why
/// it cannot be read (the message is shown after the key path).
pub type Files<'a> = &'a dyn Fn(&str) -> Result<String, String>;

/// Reads scenario text, applies `--set` overrides (`KEY=VALUE` strings) and validates it.
/// A scenario that names a file (`empirical { file = ... }`) is refused with a clear error:
/// the library does no IO; use [`load_with_files`].
pub fn load(text: &str, format: Format, overrides: &[String]) -> Result<Scenario, ConfigError> {
    load_inner(text, format, overrides, None)
}

/// [`load`], reading the files the scenario names through `files` (sample files of
/// `empirical` distributions, read and parsed while the scenario is read; a `--set` of a
/// `file` key names a file the same way).
pub fn load_with_files(
    text: &str,
    format: Format,
    overrides: &[String],
    files: Files<'_>,
) -> Result<Scenario, ConfigError> {
    load_inner(text, format, overrides, Some(files))
}

fn load_inner(
    text: &str,
    format: Format,
    overrides: &[String],
    files: Option<Files<'_>>,
) -> Result<Scenario, ConfigError> {
    let mut root = parse(text, format)?;
    for arg in overrides {
        set::apply(&mut root, arg)?;
    }
    let (scenario, origins) = read::scenario(&root, files)?;
    check::check(&scenario).map_err(|mut err| {
        if err.origin == Origin::Unknown {
            err.origin = origins.find(&err.path);
        }
        err
    })?;
    Ok(scenario)
}

/// The largest scenario text accepted, in bytes (readers stop reading one byte past it).
pub const MAX_TEXT_BYTES: usize = 4 << 20;

/// Parses text into a document tree (syntax only).
pub(crate) fn parse(text: &str, format: Format) -> Result<node::Node, ConfigError> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(ConfigError::new(
            Origin::Unknown,
            "",
            format!("the scenario is {} bytes; the limit is {MAX_TEXT_BYTES} bytes", text.len()),
        ));
    }
    let parsed = match format {
        Format::Toml => node::parse_toml(text),
        Format::Json => node::parse_json(text),
    };
    let root = parsed.map_err(|e| {
        let kind = if format == Format::Toml { "TOML" } else { "JSON" };
        ConfigError::new(Origin::At { line: e.line, column: e.column }, "", format!("{kind} syntax: {}", e.message))
    })?;
    if !matches!(root.value, node::Value::Table(_)) {
        return Err(ConfigError::new(root.origin, "", "a scenario must be a table (TOML) or an object (JSON)"));
    }
    check_depth(&root, 0)?;
    Ok(root)
}

/// Deeply nested values are never valid scenarios; refuse them before recursing further.
fn check_depth(node: &node::Node, depth: usize) -> Result<(), ConfigError> {
    const MAX_DEPTH: usize = 16;
    if depth > MAX_DEPTH {
        return Err(ConfigError::new(node.origin.clone(), "", format!("values nest deeper than {MAX_DEPTH} levels")));
    }
    match &node.value {
        node::Value::Array(items) => items.iter().try_for_each(|n| check_depth(n, depth + 1)),
        node::Value::Table(entries) => entries.iter().try_for_each(|(_, n)| check_depth(n, depth + 1)),
        _ => Ok(()),
    }
}

/// Key path → origin of every value read, so errors found after reading can name a line.
#[derive(Default)]
pub(crate) struct Origins {
    entries: Vec<(String, Origin)>,
}

impl Origins {
    pub(crate) fn record(&mut self, path: &str, origin: &Origin) {
        self.entries.push((path.to_string(), origin.clone()));
    }

    /// The origin of `path`, or of its closest recorded parent.
    pub(crate) fn find(&self, path: &str) -> Origin {
        let mut probe = path;
        loop {
            if let Some((_, origin)) = self.entries.iter().find(|(p, _)| p == probe) {
                return origin.clone();
            }
            match probe.rfind(['.', '[']) {
                Some(cut) => probe = &probe[..cut],
                None => return Origin::Unknown,
            }
        }
    }
}

/// Reading, writing and checking a [`Scenario`] are methods of it, defined here so that the
/// dependency goes one way: `config` builds and checks a `Scenario`; `scenario` knows nothing
/// of text.
impl Scenario {
    /// Reads a scenario from TOML text.
    pub fn from_toml(text: &str) -> Result<Scenario, ConfigError> {
        load(text, Format::Toml, &[])
    }

    /// Reads a scenario from JSON text.
    pub fn from_json(text: &str) -> Result<Scenario, ConfigError> {
        load(text, Format::Json, &[])
    }

    /// Writes the scenario as a TOML scenario file that reads back to an equal scenario.
    pub fn to_toml(&self) -> String {
        write::to_toml(self)
    }

    /// Checks the rules that span several fields (pools exist, names are unique, limits hold).
    /// Reading a file runs this too; call it after building a scenario in code.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check::check(self)
    }
}

#[cfg(test)]
mod tests {
    use super::{Format, load, warnings};

    const BASE: &str = "name = \"t\"\nduration = \"10s\"\n[[servers]]\nname = \"api\"\ncount = 2\n\
                        service = { dist = \"constant\", value = \"1ms\" }\n[[clients]]\nname = \"web\"\nrate = 5\n";

    fn warned(text: &str) -> Vec<String> {
        warnings(&load(text, Format::Toml, &[]).unwrap())
    }

    #[test]
    fn settings_no_run_reads_are_warned_about() {
        assert!(warned(BASE).is_empty(), "{:?}", warned(BASE));
        let text = BASE.replace(
            "rate = 5",
            "rate = 5\nprotocol = \"websocket\"\nmax_streams = 8\nresolve_interval = \"5s\"\nkeys = { count = 10 }",
        );
        let w = warned(&text);
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w[0].starts_with("clients[0].max_streams has no effect with protocol = \"websocket\""));
        assert!(w[1].starts_with("clients[0].resolve_interval has no effect with balancing = \"proxy\""));
        assert!(w[2].starts_with("clients[0].keys has no effect on balancing"));
        // With header hashing the keys are read; with maglev on the timeline, table_size is too.
        let text = format!(
            "{BASE}[balancer]\nhash_key = \"header:x-user\"\ntable_size = 7\nring_size = 10\n\
             [[events]]\nat = \"1s\"\naction = \"set_algorithm\"\nalgorithm = \"maglev\"\n"
        )
        .replace("rate = 5", "rate = 5\nkeys = { count = 10 }");
        let w = warned(&text);
        assert_eq!(
            w,
            [
                "balancer.ring_size has no effect: it is read only by ring_hash, and this scenario uses round_robin, maglev"
            ]
        );
    }

    #[test]
    fn cookie_stickiness_at_l4_on_the_timeline_is_warned_about() {
        let events = |list: &[(&str, &str, &str)]| -> String {
            list.iter()
                .map(|(at, action, value)| {
                    let key = if *action == "set_layer" { "layer" } else { "sticky" };
                    format!("[[events]]\nat = \"{at}\"\naction = \"{action}\"\n{key} = \"{value}\"\n")
                })
                .collect()
        };
        // Listed out of time order: the layer goes to l4 at 2s, cookies are switched on at 5s.
        let text = format!("{BASE}{}", events(&[("5s", "set_sticky", "cookie"), ("2s", "set_layer", "l4")]));
        let w = warned(&text);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("events[0] sets cookie stickiness at 5s while the balancer is at layer l4"), "{w:?}");
        // Back to l7 first: nothing to warn about.
        let text = format!(
            "{BASE}{}",
            events(&[("2s", "set_layer", "l4"), ("3s", "set_layer", "l7"), ("5s", "set_sticky", "cookie")])
        );
        assert!(warned(&text).is_empty());
    }
}
