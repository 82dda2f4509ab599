//! Scenario files: TOML or JSON text (plus `--set` overrides) in, a validated [`Scenario`] out,
//! with errors that name the line, column and key path, what is wrong and what is allowed.

pub(crate) mod check;
pub use check::{estimated_events, estimated_memory_bytes, estimated_requests, estimated_trace_events, warnings};
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
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigError {
    /// Line and column, or the `--set` argument, the problem comes from.
    pub origin: Origin,
    /// The key path, e.g. `clients[0].rate` (empty for syntax errors).
    pub path: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(origin: Origin, path: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError { origin, path: path.into(), message: message.into() }
    }

    /// Formats the error with the scenario file's name in front, as the command line prints it:
    /// `scenarios/x.toml:12:8: clients[0].rate: must be at least 0, got -5`.
    pub fn with_file(&self, file: &str) -> String {
        let place = match &self.origin {
            Origin::At { line, column } => format!("{file}:{line}:{column}"),
            Origin::Set(arg) => format!("{file}: --set {arg}"),
            Origin::Unknown => file.to_string(),
        };
        if self.path.is_empty() {
            format!("{place}: {}", self.message)
        } else {
            format!("{place}: {}: {}", self.path, self.message)
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origin = self.origin.to_string();
        let mut parts: Vec<&str> = Vec::new();
        if !origin.is_empty() {
            parts.push(&origin);
        }
        if !self.path.is_empty() {
            parts.push(&self.path);
        }
        parts.push(&self.message);
        f.write_str(&parts.join(": "))
    }
}

impl std::error::Error for ConfigError {}

/// Reads scenario text, applies `--set` overrides (`KEY=VALUE` strings) and validates it.
pub fn load(text: &str, format: Format, overrides: &[String]) -> Result<Scenario, ConfigError> {
    let mut root = parse(text, format)?;
    for arg in overrides {
        set::apply(&mut root, arg)?;
    }
    let (scenario, origins) = read::scenario(&root)?;
    check::check(&scenario).map_err(|mut err| {
        if err.origin == Origin::Unknown {
            err.origin = origins.find(&err.path);
        }
        err
    })?;
    Ok(scenario)
}

/// Parses text into a document tree (syntax only).
pub(crate) fn parse(text: &str, format: Format) -> Result<node::Node, ConfigError> {
    const MAX_TEXT_BYTES: usize = 4 << 20;
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
