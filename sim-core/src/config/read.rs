//! Reading a document tree into a [`Scenario`]: every key checked for type and range, every
//! default filled in, unknown keys refused with the list of allowed ones. Reading goes on past
//! a bad value (with a default in its place), so one run reports every problem of a file.

use super::keys;
use super::node::{Key, Node, Origin, Value};
use super::units::{BANDWIDTH_HELP, DURATION_HELP, TOO_LARGE, format_duration, parse_bandwidth_bps, parse_duration_ns};
use super::{ConfigError, Origins, quote};
use crate::scenario::*;

type Result<T> = std::result::Result<T, ConfigError>;

/// What reading gathers besides the scenario: where every value came from, and every problem.
#[derive(Default)]
struct Reader {
    origins: Origins,
    problems: Vec<ConfigError>,
    /// Problems only counted: a 4 MB file of bad keys must not keep a million messages.
    uncounted: usize,
}

/// The most problems kept with their messages (more than are printed, so the first ones in
/// file order are among them even though reading does not go strictly in file order).
const MAX_KEPT: usize = 1_000;

impl Reader {
    /// Notes a problem.
    fn note(&mut self, problem: ConfigError) {
        if self.problems.len() < MAX_KEPT {
            self.problems.push(problem);
        } else {
            self.uncounted += 1;
        }
    }

    fn has_problems(&self) -> bool {
        !self.problems.is_empty()
    }

    /// The value, or `None` with the problem noted (the caller goes on with a default).
    fn keep<T>(&mut self, result: Result<T>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.note(e);
                None
            }
        }
    }
}

/// A table being read: tracks which keys were used so the rest can be reported as unknown.
struct Table<'a> {
    path: String,
    origin: Origin,
    entries: &'a [(Key, Node)],
    used: Vec<bool>,
    allowed: &'static [&'static str],
    /// For tables whose keys depend on one of them (`dist`, `action`): that choice, e.g.
    /// `dist = "constant"`, and the keys it takes.
    variant: Option<Variant>,
}

/// The choice a table's other keys depend on, and the keys that choice takes.
struct Variant {
    /// E.g. `dist = "constant"`.
    choice: String,
    /// Keys every choice takes (`dist`; `at` and `action`).
    common: &'static [&'static str],
    /// Keys this choice adds.
    own: &'static [&'static str],
}

/// A value being read, with its key path.
struct Field<'a> {
    path: String,
    node: &'a Node,
}

impl<'a> Field<'a> {
    fn err(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::new(self.node.origin.clone(), self.path.clone(), message)
    }

    fn wrong_type(&self, want: &str) -> ConfigError {
        self.err(format!("expected {want}, found {}", self.node.kind()))
    }

    fn str(&self) -> Result<&'a str> {
        match &self.node.value {
            Value::Str(s) => Ok(s),
            _ => Err(self.wrong_type("a string")),
        }
    }

    fn bool(&self) -> Result<bool> {
        match self.node.value {
            Value::Bool(b) => Ok(b),
            _ => Err(self.wrong_type("true or false")),
        }
    }

    /// An integer written beyond the 64-bit range: too large (or too small) for any key.
    fn beyond_range(&self, digits: &str, min: &str, max: &str) -> ConfigError {
        let which = if digits.starts_with('-') { "small" } else { "large" };
        self.err(format!("{} is too {which}; allowed: {min} to {max}", super::clip(digits, super::MAX_ECHO)))
    }

    /// A finite number (integer or float) within `[min, max]`.
    fn number(&self, min: f64, max: f64) -> Result<f64> {
        let value = match &self.node.value {
            Value::Int(i) => *i as f64,
            Value::Float(f) => *f,
            Value::BigInt(digits) => return Err(self.beyond_range(digits, &fmt_num(min), &fmt_num(max))),
            _ => return Err(self.wrong_type("a number")),
        };
        if value.is_nan() {
            return Err(self.err("must be a number, got nan"));
        }
        if value.is_infinite() {
            let (bound, got) = if value < 0.0 { ("least", fmt_num(min)) } else { ("most", fmt_num(max)) };
            return Err(self.err(format!("must be at {bound} {got}, got {value}")));
        }
        if value < min {
            return Err(self.err(format!("must be at least {}, got {}", fmt_num(min), fmt_num(value))));
        }
        if value > max {
            return Err(self.err(format!("must be at most {}, got {}", fmt_num(max), fmt_num(value))));
        }
        Ok(value)
    }

    /// A whole number within `[min, max]`.
    fn uint(&self, min: u64, max: u64) -> Result<u64> {
        match &self.node.value {
            &Value::Int(i) => {
                if i < 0 || (i as u64) < min {
                    Err(self.err(format!("must be at least {min}, got {i}")))
                } else if i as u64 > max {
                    Err(self.err(format!("must be at most {max}, got {i}")))
                } else {
                    Ok(i as u64)
                }
            }
            Value::BigInt(digits) => Err(self.beyond_range(digits, &min.to_string(), &max.to_string())),
            &Value::Float(f) if f.is_finite() && f.fract() == 0.0 && f >= 0.0 && f <= max as f64 => {
                let v = f as u64;
                if v < min { Err(self.err(format!("must be at least {min}, got {}", fmt_num(f)))) } else { Ok(v) }
            }
            Value::Float(f) if f.is_nan() => Err(self.err("must be a whole number, got nan")),
            Value::Float(f) if f.is_finite() && f.fract() != 0.0 => {
                Err(self.err(format!("must be a whole number, got {}", fmt_num(*f))))
            }
            Value::Float(f) if *f < 0.0 => Err(self.err(format!("must be at least {min}, got {}", fmt_num(*f)))),
            Value::Float(f) => Err(self.err(format!("must be at most {max}, got {}", fmt_num(*f)))),
            _ => Err(self.wrong_type("a whole number")),
        }
    }

    fn u32(&self, min: u32, max: u32) -> Result<u32> {
        Ok(self.uint(u64::from(min), u64::from(max))? as u32)
    }

    /// A duration string within `[min_ns, max_ns]`.
    fn duration(&self, min_ns: u64, max_ns: u64) -> Result<u64> {
        let text = match &self.node.value {
            Value::Str(s) => s,
            Value::Int(_) | Value::Float(_) | Value::BigInt(_) => {
                // Suggest the number with a unit only where that would be a valid duration.
                let number = node_num(self.node);
                let valid = number.bytes().all(|b| b.is_ascii_digit() || b == b'.');
                let example = if valid { format!(", e.g. \"{number}ms\"") } else { String::new() };
                return Err(self.err(format!("a duration needs a unit{example}; {DURATION_HELP}")));
            }
            _ => return Err(self.wrong_type("a duration string")),
        };
        let ns = parse_duration_ns(text).map_err(|why| {
            if why.ends_with(TOO_LARGE) {
                // Beyond 64-bit nanoseconds: the allowed range says more than the unit help.
                self.err(format!("{why}; allowed: {} to {}", format_duration(min_ns), format_duration(max_ns)))
            } else {
                self.err(format!("{why}; {DURATION_HELP}"))
            }
        })?;
        if ns < min_ns {
            return Err(self.err(format!("must be at least {}, got {}", format_duration(min_ns), quote(text))));
        }
        if ns > max_ns {
            return Err(self.err(format!("must be at most {}, got {}", format_duration(max_ns), quote(text))));
        }
        Ok(ns)
    }

    /// One of a fixed set of names.
    fn choice<T: Copy>(&self, options: &[(&str, T)]) -> Result<T> {
        let text = self.str()?;
        options.iter().find(|(name, _)| *name == text).map(|(_, v)| *v).ok_or_else(|| {
            let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
            self.err(format!("unknown value {}{}; allowed: {}", quote(text), suggest(text, &names), names.join(", ")))
        })
    }

    fn table(&self, allowed: &'static [&'static str]) -> Result<Table<'a>> {
        // Every table's keys come from `keys.rs`, so `accepted_keys` (and the reference
        // documentation tested against it) cannot miss one.
        debug_assert!(keys::TABLES.iter().any(|(_, k)| *k == allowed), "a table's keys are not in keys::TABLES");
        match &self.node.value {
            Value::Table(entries) => Ok(Table {
                path: self.path.clone(),
                origin: self.node.origin.clone(),
                entries,
                used: vec![false; entries.len()],
                allowed,
                variant: None,
            }),
            _ => Err(self.wrong_type("a table")),
        }
    }

    fn array(&self) -> Result<Vec<Field<'a>>> {
        match &self.node.value {
            Value::Array(items) => Ok(items
                .iter()
                .enumerate()
                .map(|(i, node)| Field { path: format!("{}[{i}]", self.path), node })
                .collect()),
            _ => Err(self.wrong_type("an array")),
        }
    }
}

/// A number as a message repeats it: short even when it is huge (`1e300`, not 301 digits).
fn node_num(node: &Node) -> String {
    match &node.value {
        Value::Int(i) => i.to_string(),
        Value::Float(f) => fmt_num(*f),
        Value::BigInt(digits) => super::clip(digits, super::MAX_ECHO),
        _ => String::new(),
    }
}

/// Whole numbers below 10^15 as integers, very large or very small ones in exponent form,
/// the rest as Rust prints them (the shortest text that reads back to the same number).
fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else if v.is_finite() && (v.abs() >= 1e15 || v.abs() < 1e-6) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

fn join_path(parent: &str, key: &str) -> String {
    if parent.is_empty() { key.to_string() } else { format!("{parent}.{key}") }
}

impl<'a> Table<'a> {
    fn get(&mut self, key: &str, o: &mut Reader) -> Option<Field<'a>> {
        debug_assert!(self.allowed.contains(&key), "reader asks for undeclared key {key}");
        let i = self.entries.iter().position(|(k, _)| k.name == key)?;
        self.used[i] = true;
        let path = join_path(&self.path, key);
        o.origins.record(&path, &self.entries[i].1.origin);
        Some(Field { path, node: &self.entries[i].1 })
    }

    /// Reads an optional key with `read`; a problem is noted and gives `None`.
    fn read<T>(&mut self, key: &str, o: &mut Reader, read: impl FnOnce(&Field<'a>) -> Result<T>) -> Option<T> {
        let field = self.get(key, o)?;
        o.keep(read(&field))
    }

    /// A key that must be there; when it is not, the problem is noted and the result is `None`.
    fn require(&mut self, key: &str, o: &mut Reader) -> Option<Field<'a>> {
        if let Some(field) = self.get(key, o) {
            return Some(field);
        }
        // A typo of the required key is the likelier mistake: say so (once: the unknown key is
        // then taken as reported).
        let typo = self.entries.iter().enumerate().position(|(i, (k, _))| {
            !self.used[i] && !self.allowed.contains(&k.name.as_str()) && closest(&k.name, &[key]).is_some()
        });
        if let Some(i) = typo {
            self.used[i] = true;
            let k = &self.entries[i].0;
            o.note(ConfigError::new(
                k.origin.clone(),
                join_path(&self.path, &super::clip(&k.name, super::MAX_ECHO)),
                format!(
                    "unknown key {} (did you mean \"{key}\"?); allowed keys here: {}",
                    quote(&k.name),
                    self.takes()
                ),
            ));
            return None;
        }
        o.note(ConfigError::new(self.origin.clone(), join_path(&self.path, key), "is required but missing"));
        None
    }

    /// Declares which keys the table takes for the choice made in one of them (e.g. `dist`).
    fn set_variant(&mut self, choice: String, common: &'static [&'static str], own: &'static [&'static str]) {
        self.variant = Some(Variant { choice, common, own });
    }

    /// Takes every declared key as used: when the choice the other keys depend on is unknown,
    /// only keys that no choice takes are worth reporting.
    fn skip_declared(&mut self) {
        for (i, (k, _)) in self.entries.iter().enumerate() {
            if self.allowed.contains(&k.name.as_str()) {
                self.used[i] = true;
            }
        }
    }

    /// The keys this table takes, for messages.
    fn takes(&self) -> String {
        self.takes_list().join(", ")
    }

    fn takes_list(&self) -> Vec<&'static str> {
        match &self.variant {
            Some(v) => v.common.iter().chain(v.own).copied().collect(),
            None => self.allowed.to_vec(),
        }
    }

    /// Notes every key nobody asked for: unknown keys with the closest allowed one, and keys
    /// that exist but not for the choice made (`mean` with `dist = "constant"`).
    fn finish(self, o: &mut Reader) {
        let takes = self.takes_list();
        for ((key, _), used) in self.entries.iter().zip(&self.used) {
            if *used {
                continue;
            }
            let path = join_path(&self.path, &super::clip(&key.name, super::MAX_ECHO));
            let message = match &self.variant {
                Some(v) if self.allowed.contains(&key.name.as_str()) => {
                    let own = if v.own.is_empty() { "nothing else".to_string() } else { v.own.join(", ") };
                    format!("key \"{}\" does not apply to {} (it takes: {own})", key.name, v.choice)
                }
                _ => {
                    let mut message = format!("unknown key {}", quote(&key.name));
                    if let Some(close) = closest(&key.name, &takes) {
                        message.push_str(&format!(" (did you mean \"{close}\"?)"));
                    }
                    message.push_str(&format!("; allowed keys here: {}", takes.join(", ")));
                    message
                }
            };
            o.note(ConfigError::new(key.origin.clone(), path, message));
        }
    }
}

/// ` (did you mean "x"?)` when one allowed value is close to `word`, else nothing.
fn suggest(word: &str, allowed: &[&str]) -> String {
    closest(word, allowed).map_or(String::new(), |close| format!(" (did you mean \"{close}\"?)"))
}

/// The allowed key closest to a typo, if any is close enough to suggest (never the word itself).
fn closest<'k>(word: &str, allowed: &[&'k str]) -> Option<&'k str> {
    let len = word.chars().count();
    allowed
        .iter()
        .filter(|a| **a != word)
        .filter_map(|a| {
            let most = 2.max(a.len() / 4);
            // The distance is at least the difference in length: skip the work for long words.
            if len.abs_diff(a.chars().count()) > most {
                return None;
            }
            let d = edit_distance(word, a);
            (d <= most).then_some((d, *a))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

const MAX_NAME_LEN: usize = 64;
const MAX_COUNT: u32 = 1_000_000;
const MAX_DURATION_NS: u64 = 365 * 24 * 3600 * NS_PER_SEC;
const MAX_RATE: f64 = 1e9;
/// The most requests one burst sends (all at one instant; the run's request estimate and
/// `[limits] max_in_flight` count them too).
const MAX_BURST: u32 = 1_000_000;
const MAX_BYTES: u64 = 1 << 40;

fn name(field: &Field<'_>) -> Result<String> {
    let text = field.str()?;
    let valid = !text.is_empty()
        && text.len() <= MAX_NAME_LEN
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && text.starts_with(|c: char| c.is_ascii_alphabetic());
    if !valid {
        return Err(field.err(format!(
            "{} is not a valid name: use 1 to {MAX_NAME_LEN} letters, digits, '-' or '_', starting with a letter",
            quote(text)
        )));
    }
    Ok(text.to_string())
}

/// Reads the whole scenario, or reports every problem found (each with its own place).
pub(super) fn scenario(root: &Node) -> Result<(Scenario, Origins)> {
    let mut o = Reader::default();
    let read = read_scenario(root, &mut o);
    match read {
        Some(scenario) if !o.has_problems() => Ok((scenario, o.origins)),
        _ => Err(ConfigError::many(o.problems, o.uncounted)),
    }
}

fn read_scenario(root: &Node, o: &mut Reader) -> Option<Scenario> {
    let top = Field { path: String::new(), node: root };
    let mut t = o.keep(top.table(keys::SCENARIO))?;
    let scenario_name = t.require("name", o).and_then(|f| {
        o.keep(f.str().and_then(|text| {
            if text.is_empty() || text.len() > 200 { Err(f.err("must be 1 to 200 characters")) } else { Ok(text) }
        }))
    });
    let description = t.read("description", o, |f| f.str()).unwrap_or("").to_string();
    let seed = t.read("seed", o, |f| f.uint(0, i64::MAX as u64)).unwrap_or(1);
    let duration_ns = t.require("duration", o).and_then(|f| o.keep(f.duration(1, MAX_DURATION_NS)));
    let warmup_ns = t.read("warmup", o, |f| f.duration(0, MAX_DURATION_NS)).unwrap_or(0);
    let limits = match t.get("limits", o) {
        Some(f) => limits(&f, o).unwrap_or_default(),
        None => Limits::default(),
    };
    let servers = t.require("servers", o).and_then(|f| group_list(f, o, server_group, "server"));
    let clients = t.require("clients", o).and_then(|f| group_list(f, o, client_group, "client"));
    let balancer = match t.get("balancer", o) {
        Some(f) => balancer(&f, o).unwrap_or_default(),
        None => BalancerSpec::default(),
    };
    let network = match t.get("network", o) {
        Some(f) => network(&f, o).unwrap_or_default(),
        None => Network::default(),
    };
    let session_store = t.get("session_store", o).and_then(|f| {
        let mut s = o.keep(f.table(keys::SESSION_STORE))?;
        let latency_ns = s.read("latency", o, |f| f.duration(0, 3600 * NS_PER_SEC)).unwrap_or(0);
        s.finish(o);
        Some(SessionStore { latency_ns })
    });
    let events = match t.get("events", o) {
        Some(f) => events(&f, o),
        None => Vec::new(),
    };
    let report = match t.get("report", o) {
        Some(f) => match o.keep(f.table(keys::REPORT)) {
            Some(mut r) => {
                let mut options = ReportOptions::default();
                if let Some(v) = r.read("interval", o, |f| f.duration(1_000_000, MAX_DURATION_NS)) {
                    options.interval_ns = v;
                }
                r.finish(o);
                options
            }
            None => ReportOptions::default(),
        },
        None => ReportOptions::default(),
    };
    t.finish(o);
    Some(Scenario {
        name: scenario_name?.to_string(),
        description,
        seed,
        duration_ns: duration_ns?,
        warmup_ns,
        servers: servers?,
        clients: clients?,
        balancer,
        network,
        session_store,
        events,
        limits,
        report,
    })
}

fn events(field: &Field<'_>, o: &mut Reader) -> Vec<TimelineEvent> {
    let Some(items) = o.keep(field.array()) else { return Vec::new() };
    if items.len() > 10_000 {
        o.note(field.err(format!("has {} events; at most 10000 are allowed", items.len())));
        return Vec::new();
    }
    items.iter().filter_map(|item| event(item, o)).collect()
}

/// Every group of a list, read even when an earlier one has problems; `None` if any has.
fn group_list<T>(
    field: Field<'_>,
    o: &mut Reader,
    read: fn(&Field<'_>, &mut Reader) -> Option<T>,
    what: &str,
) -> Option<Vec<T>> {
    let items = o.keep(field.array())?;
    if items.is_empty() {
        o.note(field.err(format!("needs at least one {what} group")));
        return None;
    }
    if items.len() > 1_000 {
        o.note(field.err(format!("has {} groups; at most 1000 are allowed", items.len())));
        return None;
    }
    let groups: Vec<Option<T>> = items.iter().map(|item| read(item, o)).collect();
    groups.into_iter().collect()
}

fn service(field: &Field<'_>, o: &mut Reader) -> Option<ServiceDist> {
    const DISTS: [(&str, &[&str]); 4] = [
        ("constant", &["value"]),
        ("exponential", &["mean"]),
        ("uniform", &["min", "max"]),
        ("lognormal", &["p50", "p99"]),
    ];
    let mut t = o.keep(field.table(keys::SERVICE))?;
    let options: Vec<(&str, usize)> = DISTS.iter().enumerate().map(|(i, (name, _))| (*name, i)).collect();
    let Some(kind) = t.require("dist", o).and_then(|f| o.keep(f.choice(&options))) else {
        t.skip_declared();
        t.finish(o);
        return None;
    };
    let (dist_name, takes) = DISTS[kind];
    t.set_variant(format!("dist = \"{dist_name}\""), &["dist"], takes);
    const MAX: u64 = 24 * 3600 * NS_PER_SEC;
    let result = match kind {
        0 => t
            .require("value", o)
            .and_then(|f| o.keep(f.duration(0, MAX)))
            .map(|value_ns| ServiceDist::Constant { value_ns }),
        1 => t
            .require("mean", o)
            .and_then(|f| o.keep(f.duration(1, MAX)))
            .map(|mean_ns| ServiceDist::Exponential { mean_ns }),
        2 => {
            let min_ns = t.require("min", o).and_then(|f| o.keep(f.duration(0, MAX)));
            let max_field = t.require("max", o);
            let max_ns = max_field.as_ref().and_then(|f| o.keep(f.duration(0, MAX)));
            match (min_ns, max_ns, max_field) {
                (Some(min_ns), Some(max_ns), Some(f)) if max_ns < min_ns => o.keep(Err(f.err("must be at least min"))),
                (Some(min_ns), Some(max_ns), _) => Some(ServiceDist::Uniform { min_ns, max_ns }),
                _ => None,
            }
        }
        _ => {
            let p50_ns = t.require("p50", o).and_then(|f| o.keep(f.duration(1, MAX)));
            let p99_field = t.require("p99", o);
            let p99_ns = p99_field.as_ref().and_then(|f| o.keep(f.duration(1, MAX)));
            match (p50_ns, p99_ns, p99_field) {
                (Some(p50_ns), Some(p99_ns), Some(f)) if p99_ns <= p50_ns => {
                    o.keep(Err(f.err("must be more than p50")))
                }
                (Some(p50_ns), Some(p99_ns), Some(f)) if p99_ns / p50_ns > 1_000 => {
                    o.keep(Err(f.err("must be at most 1000 × p50 (the tail would be unbounded in practice)")))
                }
                (Some(p50_ns), Some(p99_ns), _) => Some(ServiceDist::Lognormal { p50_ns, p99_ns }),
                _ => None,
            }
        }
    };
    t.finish(o);
    result
}

fn server_group(field: &Field<'_>, o: &mut Reader) -> Option<ServerGroup> {
    let mut t = o.keep(field.table(keys::SERVER_GROUP))?;
    let group_name = t.require("name", o).and_then(|f| o.keep(name(&f)));
    let service = t.require("service", o).and_then(|f| service(&f, o));
    // A stand-in service while the real one has problems: they are reported, nothing runs.
    let mut g = ServerGroup::new("", 1, service.unwrap_or(ServiceDist::Constant { value_ns: 0 }));
    if let Some(v) = t.read("count", o, |f| f.u32(0, MAX_COUNT)) {
        g.count = v;
    }
    if let Some(v) = t.read("pool", o, name) {
        g.pool = v;
    }
    if let Some(v) = t.read("weight", o, |f| f.u32(1, 1_000)) {
        g.weight = v;
    }
    if let Some(v) = t.read("workers", o, |f| f.u32(1, 100_000)) {
        g.workers = v;
    }
    if let Some(v) = t.read("queue", o, |f| f.u32(0, 100_000_000)) {
        g.queue = Some(v);
    }
    if let Some(v) = t.read("backup", o, |f| f.bool()) {
        g.backup = v;
    }
    if let Some(v) = t.read("max_connection_age", o, |f| f.duration(NS_PER_SEC / 1000, MAX_DURATION_NS)) {
        g.max_connection_age_ns = Some(v);
    }
    t.finish(o);
    g.name = group_name?;
    service?;
    Some(g)
}

/// The most addresses `clients[].source_addresses` lists.
const MAX_SOURCE_ADDRESSES: usize = 100_000;

/// `clients[].source_addresses`: dotted IPv4 addresses, client `i` taking entry `i % len`.
fn source_addresses(f: &Field<'_>, ips_given: bool) -> Result<Vec<u32>> {
    if ips_given {
        return Err(f.err("cannot be given with source_ips (the list decides the addresses); remove one of them"));
    }
    let items = f.array()?;
    if items.is_empty() {
        return Err(f.err("needs at least one address, e.g. [\"127.0.1.1\", \"127.0.2.1\"]"));
    }
    if items.len() > MAX_SOURCE_ADDRESSES {
        return Err(f.err(format!("has {} addresses; at most {MAX_SOURCE_ADDRESSES} are allowed", items.len())));
    }
    items
        .iter()
        .map(|item| {
            let text = item.str()?;
            text.parse::<std::net::Ipv4Addr>().map(u32::from).map_err(|_| {
                item.err(format!(
                    "{} is not an IPv4 address; expected four decimal numbers 0 to 255 joined by dots, e.g. \"127.0.1.1\"",
                    quote(text)
                ))
            })
        })
        .collect()
}

fn client_group(field: &Field<'_>, o: &mut Reader) -> Option<ClientGroup> {
    let mut t = o.keep(field.table(keys::CLIENT_GROUP))?;
    let group_name = t.require("name", o).and_then(|f| o.keep(name(&f)));
    let rate = t.require("rate", o).and_then(|f| o.keep(f.number(0.0, MAX_RATE)));
    let mut g = ClientGroup::new("", 1, rate.unwrap_or(0.0));
    if let Some(v) = t.read("count", o, |f| f.u32(0, MAX_COUNT)) {
        g.count = v;
    }
    g.source_ips = g.count.max(1);
    let count = g.count;
    let ips_given = t.read("source_ips", o, |f| {
        let ips = f.u32(1, MAX_COUNT)?;
        if ips > count.max(1) {
            return Err(f.err(format!("must be at most count ({count}): each client has one address")));
        }
        Ok(ips)
    });
    if let Some(v) = ips_given {
        g.source_ips = v;
    }
    if let Some(v) = t.read("source_addresses", o, |f| source_addresses(f, ips_given.is_some())) {
        // The distinct addresses the group's clients use (client i has list[i % len]).
        let used = &v[..v.len().min(count.max(1) as usize)];
        g.source_ips = used.iter().collect::<std::collections::BTreeSet<_>>().len() as u32;
        g.source_addresses = v;
    }
    if let Some(v) = t.read("protocol", o, |f| f.choice(&Protocol::ALL)) {
        g.protocol = v;
    }
    if let Some(v) = t.read("connections", o, |f| f.u32(1, 10_000)) {
        g.connections = v;
    }
    if let Some(v) = t.read("max_streams", o, |f| f.u32(1, 1_000_000)) {
        g.max_streams = v;
    }
    if let Some(v) = t.read("rate_skew", o, |f| f.number(0.0, 10.0)) {
        g.rate_skew = v;
    }
    if let Some(v) =
        t.read("arrival", o, |f| f.choice(&[("poisson", Arrival::Poisson), ("constant", Arrival::Constant)]))
    {
        g.arrival = v;
    }
    if let Some(v) = t.read("timeout", o, |f| f.duration(1_000, 24 * 3600 * NS_PER_SEC)) {
        g.timeout_ns = Some(v);
    }
    if let Some(v) = t.read("retries", o, |f| f.u32(0, 100)) {
        g.retries = v;
    }
    if let Some(v) = t.read("request_bytes", o, |f| f.uint(0, MAX_BYTES)) {
        g.request_bytes = v;
    }
    if let Some(v) = t.read("response_bytes", o, |f| f.uint(0, MAX_BYTES)) {
        g.response_bytes = v;
    }
    if let Some(v) = t.read("serialize_per_kb", o, |f| f.duration(0, NS_PER_SEC)) {
        g.serialize_per_kb_ns = v;
    }
    if let Some(v) = t.read("session_requests", o, |f| f.u32(1, 1_000_000_000)) {
        g.session_requests = Some(v);
    }
    if let Some(f) = t.get("paths", o)
        && let Some(paths) = paths(&f, o)
    {
        g.paths = paths;
    }
    if let Some(v) = t.read("balancing", o, |f| f.choice(&[("proxy", Balancing::Proxy), ("client", Balancing::Client)]))
    {
        g.balancing = v;
    }
    if let Some(v) = t.read("client_algorithm", o, |f| {
        f.choice(&[("pick_first", ClientAlgorithm::PickFirst), ("round_robin", ClientAlgorithm::RoundRobin)])
    }) {
        g.client_algorithm = v;
    }
    if let Some(v) = t.read("resolve_interval", o, |f| f.duration(NS_PER_SEC / 1000, MAX_DURATION_NS)) {
        g.resolve_interval_ns = v;
    }
    if let Some(v) = t.read("stream_messages", o, |f| f.u32(1, 1_000_000_000)) {
        g.stream_messages = Some(v);
    }
    if let Some(f) = t.get("keys", o)
        && let Some(mut k) = o.keep(f.table(keys::KEY_SPACE))
    {
        let count = k.require("count", o).and_then(|f| o.keep(f.u32(1, 100_000_000)));
        let skew = k.read("skew", o, |f| f.number(0.0, 10.0)).unwrap_or(0.0);
        k.finish(o);
        if let Some(count) = count {
            g.keys = Some(KeySpace { count, skew });
        }
    }
    if let Some(v) = t.read("start", o, |f| f.duration(0, MAX_DURATION_NS)) {
        g.start_ns = v;
    }
    if let Some(v) = t.read("ramp", o, |f| f.duration(0, MAX_DURATION_NS)) {
        g.ramp_ns = v;
    }
    t.finish(o);
    g.name = group_name?;
    g.rate = rate?;
    Some(g)
}

/// A client group's request mix: path → weight.
fn paths(f: &Field<'_>, o: &mut Reader) -> Option<Vec<(String, f64)>> {
    let mut p = o.keep(f.table(keys::PATHS))?;
    let mut paths = Vec::new();
    let mut bad = false;
    for (key, node) in p.entries {
        // The exact key (checks after reading look it up); messages cut it if it is long.
        let field = Field { path: format!("{}.\"{}\"", f.path, key.name), node };
        o.origins.record(&field.path, &node.origin);
        if !key.name.starts_with('/') || key.name.len() > 200 {
            o.note(ConfigError::new(
                key.origin.clone(),
                field.path,
                "a path must start with '/' (at most 200 characters)",
            ));
            bad = true;
            continue;
        }
        match o.keep(field.number(0.0, 1e9)) {
            Some(w) => paths.push((key.name.clone(), w)),
            None => bad = true,
        }
    }
    p.used.iter_mut().for_each(|u| *u = true);
    if bad {
        return None;
    }
    let problem = if paths.is_empty() {
        Some("needs at least one path")
    } else if paths.len() > 1_000 {
        Some("has more than 1000 paths")
    } else if paths.iter().all(|(_, w)| *w == 0.0) {
        Some("needs at least one path with a weight above 0")
    } else {
        None
    };
    match problem {
        Some(why) => o.keep(Err(f.err(why))),
        None => Some(paths),
    }
}

fn rate_limit(field: &Field<'_>, o: &mut Reader) -> Option<RateLimit> {
    let mut t = o.keep(field.table(keys::RATE_LIMIT))?;
    let mut found = Vec::new();
    let mut bad = false;
    for (key, window_ns) in
        [("per_second", NS_PER_SEC), ("per_minute", 60 * NS_PER_SEC), ("per_hour", 3600 * NS_PER_SEC)]
    {
        if let Some(f) = t.get(key, o) {
            match o.keep(f.uint(1, 1_000_000_000_000)) {
                Some(limit) => found.push((limit, window_ns)),
                None => bad = true,
            }
        }
    }
    if found.len() + usize::from(bad) != 1 {
        o.note(field.err("needs exactly one of per_second, per_minute, per_hour"));
        bad = true;
    }
    let key = t
        .read("key", o, |f| f.choice(&[("client", RateKey::Client), ("ip", RateKey::Ip), ("global", RateKey::Global)]))
        .unwrap_or(RateKey::Client);
    let kind_name =
        t.read("kind", o, |f| f.choice(&[("fixed_window", false), ("leaky_bucket", true)])).unwrap_or(false);
    let burst = t.read("burst", o, |f| f.u32(0, 1_000_000_000));
    let nodelay = t.read("nodelay", o, |f| f.bool());
    let kind = if kind_name {
        RateLimitKind::LeakyBucket { burst: burst.unwrap_or(0), nodelay: nodelay.unwrap_or(false) }
    } else {
        if burst.is_some() || nodelay.is_some() {
            o.note(field.err("burst and nodelay belong to kind = \"leaky_bucket\""));
            bad = true;
        }
        RateLimitKind::FixedWindow
    };
    t.finish(o);
    if bad {
        return None;
    }
    let (limit, window_ns) = found[0];
    Some(RateLimit { limit, window_ns, key, kind })
}

fn balancer(field: &Field<'_>, o: &mut Reader) -> Option<BalancerSpec> {
    let mut t = o.keep(field.table(keys::BALANCER))?;
    let mut b = BalancerSpec::default();
    if let Some(v) = t.read("layer", o, |f| f.choice(&[("l4", Layer::L4), ("l7", Layer::L7)])) {
        b.layer = v;
    }
    if let Some(v) = t.read("algorithm", o, algorithm) {
        b.algorithm = v;
    }
    if let Some(v) = t.read("choices", o, |f| f.u32(1, 100)) {
        b.choices = v;
    }
    if let Some(v) = t.read("hash_key", o, hash_key) {
        b.hash_key = v;
    }
    if let Some(v) = t.read("replicas", o, |f| f.u32(1, 1_000)) {
        b.replicas = v;
    }
    if let Some(v) = t.read("overhead", o, |f| f.duration(0, NS_PER_SEC * 60)) {
        b.overhead_ns = v;
    }
    if let Some(v) = t.read("auth", o, |f| f.duration(0, NS_PER_SEC * 60)) {
        b.auth_ns = v;
    }
    if let Some(v) = t.read("workers", o, |f| f.u32(1, 1_000_000)) {
        b.workers = Some(v);
    }
    if let Some(f) = t.get("health_check", o)
        && let Some(mut h) = o.keep(f.table(keys::HEALTH_CHECK))
    {
        let mut hc = HealthCheck { interval_ns: 2 * NS_PER_SEC, timeout_ns: NS_PER_SEC, rise: 2, fall: 3 };
        if let Some(v) = h.read("interval", o, |f| f.duration(NS_PER_SEC / 1000, 3600 * NS_PER_SEC)) {
            hc.interval_ns = v;
        }
        if let Some(v) = h.read("timeout", o, |f| f.duration(NS_PER_SEC / 1_000_000, 3600 * NS_PER_SEC)) {
            hc.timeout_ns = v;
        }
        if let Some(v) = h.read("rise", o, |f| f.u32(1, 1_000)) {
            hc.rise = v;
        }
        if let Some(v) = h.read("fall", o, |f| f.u32(1, 1_000)) {
            hc.fall = v;
        }
        h.finish(o);
        b.health_check = Some(hc);
    }
    if let Some(f) = t.get("passive", o)
        && let Some(mut p) = o.keep(f.table(keys::PASSIVE))
    {
        let mut passive = Passive { max_fails: 1, fail_timeout_ns: 10 * NS_PER_SEC };
        if let Some(v) = p.read("max_fails", o, |f| f.u32(0, 1_000_000)) {
            passive.max_fails = v;
        }
        if let Some(v) = p.read("fail_timeout", o, |f| f.duration(NS_PER_SEC / 1000, 24 * 3600 * NS_PER_SEC)) {
            passive.fail_timeout_ns = v;
        }
        p.finish(o);
        b.passive = Some(passive);
    }
    if let Some(v) = t.read("sticky", o, sticky) {
        b.sticky = v;
    }
    if let Some(f) = t.get("rate_limit", o) {
        b.rate_limit = rate_limit(&f, o);
    }
    if let Some(f) = t.get("routes", o)
        && let Some(items) = o.keep(f.array())
    {
        if items.len() > 1_000 {
            o.note(f.err("has more than 1000 routes"));
        } else {
            b.routes = items.iter().filter_map(|item| route(item, o)).collect();
        }
    }
    if let Some(v) = t.read("balance_factor", o, |f| f.number(1.0, 100.0)) {
        b.balance_factor = v;
    }
    if let Some(v) = t.read("panic_threshold", o, |f| f.number(0.0, 100.0)) {
        b.panic_threshold = Some(v);
    }
    if let Some(v) = t.read("table_size", o, |f| {
        let size = f.u32(2, 5_000_011)?;
        if !is_prime(size) {
            return Err(f.err(format!("must be a prime number (Envoy requires it), got {size}; e.g. 65537 or 5000011")));
        }
        Ok(size)
    }) {
        b.table_size = v;
    }
    if let Some(v) = t.read("ring_size", o, |f| f.u32(1, 8_388_608)) {
        b.ring_size = v;
    }
    if let Some(f) = t.get("peak_ewma", o)
        && let Some(mut p) = o.keep(f.table(keys::PEAK_EWMA))
    {
        if let Some(v) = p.read("decay", o, |f| f.duration(NS_PER_SEC / 1000, 3600 * NS_PER_SEC)) {
            b.peak_ewma.decay_ns = v;
        }
        if let Some(v) = p.read("default_rtt", o, |f| f.duration(0, 3600 * NS_PER_SEC)) {
            b.peak_ewma.default_rtt_ns = v;
        }
        p.finish(o);
    }
    if let Some(v) = t.read("dns_ttl", o, |f| f.duration(NS_PER_SEC / 1000, MAX_DURATION_NS)) {
        b.dns_ttl_ns = v;
    }
    if let Some(v) = t.read("retry_on_error", o, |f| f.u32(0, 100)) {
        b.retry_on_error = v;
    }
    t.finish(o);
    Some(b)
}

fn route(item: &Field<'_>, o: &mut Reader) -> Option<Route> {
    let mut r = o.keep(item.table(keys::ROUTE))?;
    let prefix = r.require("prefix", o).and_then(|f| {
        o.keep(f.str().and_then(|p| {
            if p.starts_with('/') && p.len() <= 200 {
                Ok(p.to_string())
            } else {
                Err(f.err("a prefix must start with '/' (at most 200 characters)"))
            }
        }))
    });
    let pool = r.require("pool", o).and_then(|f| o.keep(name(&f)));
    let rate_limit = match r.get("rate_limit", o) {
        Some(f) => Some(rate_limit(&f, o)?),
        None => None,
    };
    r.finish(o);
    Some(Route { prefix: prefix?, pool: pool?, rate_limit })
}

fn network(field: &Field<'_>, o: &mut Reader) -> Option<Network> {
    let mut t = o.keep(field.table(keys::NETWORK))?;
    let mut n = Network::default();
    if let Some(v) = t.read("latency", o, |f| f.duration(0, 60 * NS_PER_SEC)) {
        n.latency_ns = v;
    }
    if let Some(v) = t.read("upstream_latency", o, |f| f.duration(0, 60 * NS_PER_SEC)) {
        n.upstream_latency_ns = Some(v);
    }
    if let Some(v) = t.read("bandwidth", o, |f| {
        let text = f.str().map_err(|_| f.err(format!("expected a bandwidth string; {BANDWIDTH_HELP}")))?;
        parse_bandwidth_bps(text).map_err(|why| f.err(format!("{why}; {BANDWIDTH_HELP}")))
    }) {
        n.bandwidth_bps = Some(v);
    }
    if let Some(v) = t.read("tls_handshake", o, |f| f.duration(0, 60 * NS_PER_SEC)) {
        n.tls_handshake_ns = v;
    }
    t.finish(o);
    Some(n)
}

fn limits(field: &Field<'_>, o: &mut Reader) -> Option<Limits> {
    let mut t = o.keep(field.table(keys::LIMITS))?;
    let mut l = Limits::default();
    if let Some(v) = t.read("max_requests", o, |f| f.uint(1, 1 << 40)) {
        l.max_requests = v;
    }
    if let Some(v) = t.read("max_events", o, |f| f.uint(1, 1 << 48)) {
        l.max_events = v;
    }
    if let Some(v) = t.read("max_in_flight", o, |f| f.uint(1, 1 << 32)) {
        l.max_in_flight = v;
    }
    if let Some(v) = t.read("max_servers", o, |f| f.u32(1, 10_000_000)) {
        l.max_servers = v;
    }
    if let Some(v) = t.read("max_clients", o, |f| f.u32(1, 10_000_000)) {
        l.max_clients = v;
    }
    if let Some(v) = t.read("max_duration", o, |f| f.duration(1, MAX_DURATION_NS)) {
        l.max_duration_ns = v;
    }
    if let Some(v) = t.read("max_memory_mb", o, |f| f.uint(1, 1 << 24)) {
        l.max_memory_mb = v;
    }
    t.finish(o);
    Some(l)
}

fn algorithm(field: &Field<'_>) -> Result<Algorithm> {
    let text = field.str()?;
    Algorithm::from_name(text).ok_or_else(|| {
        let names: Vec<&str> = Algorithm::ALL.iter().map(|a| a.name()).collect();
        field.err(format!(
            "unknown algorithm {}{}; allowed: {}",
            quote(text),
            suggest(text, &names),
            Algorithm::names()
        ))
    })
}

fn hash_key(field: &Field<'_>) -> Result<HashKey> {
    let text = field.str()?;
    match text {
        "source_ip" => Ok(HashKey::SourceIp),
        "session" => Ok(HashKey::Session),
        "path" => Ok(HashKey::Path),
        other => match other.strip_prefix("header:") {
            Some(h) if !h.is_empty() && h.len() <= 100 => Ok(HashKey::Header(h.to_string())),
            _ => Err(field.err(format!(
                "unknown hash key {}{}; allowed: source_ip, session, path, header:<name> (a name of 1 to 100 \
                 characters)",
                quote(text),
                suggest(text, &["source_ip", "session", "path"])
            ))),
        },
    }
}

fn sticky(field: &Field<'_>) -> Result<Sticky> {
    field.choice(&[("none", Sticky::None), ("cookie", Sticky::Cookie), ("source_ip", Sticky::SourceIp)])
}

/// The keys each timeline action takes (besides `at` and `action`).
static ACTION_KEYS: [(&str, &[&str]); 13] = [
    ("crash", &["target"]),
    ("recover", &["target"]),
    ("slow", &["target", "factor"]),
    ("add", &["target", "count"]),
    ("remove", &["target", "count"]),
    ("set_algorithm", &["algorithm"]),
    ("set_rate", &["target", "rate"]),
    ("store_down", &[]),
    ("store_up", &[]),
    ("store_slow", &["factor"]),
    ("burst", &["target", "count"]),
    ("set_layer", &["layer"]),
    ("set_sticky", &["sticky"]),
];

fn event(field: &Field<'_>, o: &mut Reader) -> Option<TimelineEvent> {
    let mut t = o.keep(field.table(keys::EVENT))?;
    let at_ns = t.require("at", o).and_then(|f| o.keep(f.duration(0, MAX_DURATION_NS)));
    let action_field = t.require("action", o);
    let action_name = action_field.as_ref().and_then(|f| o.keep(f.str()));
    let known = action_name.and_then(|name| ACTION_KEYS.iter().find(|(n, _)| *n == name));
    let Some((action_name, takes)) = known else {
        if let (Some(f), Some(other)) = (&action_field, action_name) {
            let names: Vec<&str> = ACTION_KEYS.iter().map(|(name, _)| *name).collect();
            o.note(f.err(format!(
                "unknown action {}{}; allowed: {}",
                quote(other),
                suggest(other, &names),
                Action::NAMES
            )));
        }
        t.skip_declared();
        t.finish(o);
        return None;
    };
    t.set_variant(format!("action = \"{action_name}\""), &["at", "action"], takes);
    let target = |t: &mut Table<'_>, o: &mut Reader| t.require("target", o).and_then(|f| o.keep(name(&f)));
    let action = match *action_name {
        "crash" => target(&mut t, o).map(|target| Action::Crash { target }),
        "recover" => target(&mut t, o).map(|target| Action::Recover { target }),
        "slow" => {
            let target = target(&mut t, o);
            let factor = t.require("factor", o).and_then(|f| o.keep(f.number(0.001, 10_000.0)));
            target.zip(factor).map(|(target, factor)| Action::Slow { target, factor })
        }
        "add" | "remove" => {
            let target = target(&mut t, o);
            let count = match t.get("count", o) {
                Some(f) => o.keep(f.u32(1, MAX_COUNT)),
                None => Some(1),
            };
            target.zip(count).map(|(target, count)| {
                if *action_name == "add" { Action::Add { target, count } } else { Action::Remove { target, count } }
            })
        }
        "set_algorithm" => t
            .require("algorithm", o)
            .and_then(|f| o.keep(algorithm(&f)))
            .map(|algorithm| Action::SetAlgorithm { algorithm }),
        "set_rate" => {
            let target = target(&mut t, o);
            let rate = t.require("rate", o).and_then(|f| o.keep(f.number(0.0, MAX_RATE)));
            target.zip(rate).map(|(target, rate)| Action::SetRate { target, rate })
        }
        "store_down" => Some(Action::StoreDown),
        "store_up" => Some(Action::StoreUp),
        "store_slow" => t
            .require("factor", o)
            .and_then(|f| o.keep(f.number(0.001, 10_000.0)))
            .map(|factor| Action::StoreSlow { factor }),
        "burst" => {
            let target = target(&mut t, o);
            let count = t.require("count", o).and_then(|f| o.keep(f.u32(1, MAX_BURST)));
            target.zip(count).map(|(target, count)| Action::Burst { target, count })
        }
        "set_layer" => t
            .require("layer", o)
            .and_then(|f| o.keep(f.choice(&[("l4", Layer::L4), ("l7", Layer::L7)])))
            .map(|layer| Action::SetLayer { layer }),
        _ => t.require("sticky", o).and_then(|f| o.keep(sticky(&f))).map(|sticky| Action::SetSticky { sticky }),
    };
    t.finish(o);
    Some(TimelineEvent { at_ns: at_ns?, action: action? })
}

fn is_prime(n: u32) -> bool {
    if n < 2 {
        return false;
    }
    let mut d = 2u32;
    while d.saturating_mul(d) <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use crate::config::{ConfigError, Format, MAX_REPORTED, load};

    const GOOD: &str = "name = \"t\"\nduration = \"2s\"\n\n[[servers]]\nname = \"api\"\n\
                        service = { dist = \"constant\", value = \"10ms\" }\n\n[[clients]]\nname = \"web\"\nrate = 5\n";

    fn error(text: &str, sets: &[&str]) -> ConfigError {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        load(text, Format::Toml, &sets).unwrap_err()
    }

    #[test]
    fn source_addresses_give_each_client_its_address_and_ip_hash_follows_them() {
        // Four clients over three addresses in distinct /24s: client i has list[i % 3], so
        // web-1 and web-4 share 127.0.1.1 (one source).
        let text = GOOD.replace(
            "rate = 5",
            "rate = 5\ncount = 4\nsource_addresses = [\"127.0.1.1\", \"127.0.2.1\", \"127.0.3.1\"]",
        ) + "\n[balancer]\nalgorithm = \"ip_hash\"\n";
        let text = text.replace("name = \"api\"\n", "name = \"api\"\ncount = 5\n");
        let sc = load(&text, Format::Toml, &[]).unwrap();
        let want = [0x7f00_0101u32, 0x7f00_0201, 0x7f00_0301];
        assert_eq!(sc.clients[0].source_addresses, want);
        assert_eq!(sc.clients[0].source_ips, 3, "the distinct addresses in use");
        // Written back as the same list (and no source_ips), read back to the same scenario.
        let written = sc.to_toml();
        assert!(written.contains("source_addresses = [\"127.0.1.1\", \"127.0.2.1\", \"127.0.3.1\"]"), "{written}");
        assert!(!written.contains("source_ips"), "{written}");
        assert_eq!(load(&written, Format::Toml, &[]).unwrap(), sc);
        // Each client's requests all go where nginx's ip_hash puts its address (89, then
        // h = (h * 113 + octet) % 6271 over the first three octets; h % 5 over five peers).
        let mut sim = crate::Simulation::new(&sc, 1);
        sim.enable_trace();
        sim.run();
        let mut trace = Vec::new();
        sim.drain_trace(&mut trace);
        assert!(trace.len() > 20);
        for r in &trace {
            let octets = want[r.client as usize % 3].to_be_bytes();
            let h = octets[..3].iter().fold(89u32, |h, &o| (h * 113 + u32::from(o)) % 6271);
            assert_eq!(r.server, Some(h % 5), "client {} request {}", r.client, r.id);
        }
        // Bad input: the entry and what an address looks like; the two keys exclude each other.
        let e = error(&text.replace("\"127.0.2.1\"", "\"127.0.2\""), &[]);
        assert_eq!(e.path, "clients[0].source_addresses[1]");
        assert!(
            e.message.contains("\"127.0.2\" is not an IPv4 address; expected four decimal numbers"),
            "{}",
            e.message
        );
        let e = error(&text.replace("count = 4\n", "count = 4\nsource_ips = 2\n"), &[]);
        assert_eq!(e.path, "clients[0].source_addresses");
        assert!(e.message.starts_with("cannot be given with source_ips"), "{}", e.message);
        let e = error(&text.replace("[\"127.0.1.1\", \"127.0.2.1\", \"127.0.3.1\"]", "[]"), &[]);
        assert!(e.message.starts_with("needs at least one address"), "{}", e.message);
    }

    #[test]
    fn a_key_of_another_dist_is_named_as_such() {
        let text = GOOD.replace("value = \"10ms\"", "value = \"10ms\", mean = \"3ms\"");
        let e = error(&text, &[]);
        assert_eq!(e.path, "servers[0].service.mean");
        assert_eq!(e.message, "key \"mean\" does not apply to dist = \"constant\" (it takes: value)");
        // A typo is still a typo, suggested among the keys this dist takes, never itself.
        let e = error(&GOOD.replace("value = \"10ms\"", "value = \"10ms\", valeu = \"1ms\""), &[]);
        assert!(e.message.contains("unknown key \"valeu\" (did you mean \"value\"?); allowed keys here: dist, value"));
        let e =
            error(&format!("{GOOD}\n[[events]]\nat = \"1s\"\naction = \"crash\"\ntarget = \"api\"\nfactor = 2\n"), &[]);
        assert_eq!(e.message, "key \"factor\" does not apply to action = \"crash\" (it takes: target)");
    }

    #[test]
    fn integers_beyond_64_bits_are_too_large_with_the_range() {
        let e = error(&GOOD.replace("rate = 5", "rate = 5\ncount = 18446744073709551616"), &[]);
        assert_eq!(e.message, "18446744073709551616 is too large; allowed: 0 to 1000000");
        let e = error(&GOOD.replace("rate = 5", "rate = -18446744073709551616"), &[]);
        assert_eq!(e.message, "-18446744073709551616 is too small; allowed: 0 to 1000000000");
        let json = r#"{"name": "j", "duration": "2s", "seed": 99999999999999999999999,
            "servers": [{"name": "a", "service": {"dist": "constant", "value": "1ms"}}],
            "clients": [{"name": "w", "rate": 1}]}"#;
        let e = load(json, Format::Json, &[]).unwrap_err();
        assert_eq!(e.path, "seed");
        assert!(e.message.starts_with("99999999999999999999999 is too large; allowed: 0 to "), "{e}");
        // A duration beyond 64-bit nanoseconds gives the allowed range too.
        let e = error(&GOOD.replace("\"2s\"", "\"99999999999999999999h\""), &[]);
        assert_eq!(e.message, "\"99999999999999999999h\" is too large; allowed: 1ns to 8760h");
    }

    #[test]
    fn huge_and_long_values_are_cut_in_messages() {
        let e = error(&GOOD.replace("rate = 5", "rate = 1e300"), &[]);
        assert_eq!(e.message, "must be at most 1000000000, got 1e300");
        let e = error(&GOOD.replace("rate = 5", "rate = 5\nretries = 1e300"), &[]);
        assert_eq!(e.message, "must be at most 100, got 1e300");
        let e = error(&GOOD.replace("\"2s\"", "2e300"), &[]);
        assert!(e.message.starts_with("a duration needs a unit; "), "{e}");
        let long = "x".repeat(100_000);
        let e = error(GOOD, &[&format!("balancer.algorithm={long}")]);
        let text = e.with_file("s.toml");
        assert!(text.len() < 600, "{} characters: {}", text.len(), &text[..600.min(text.len())]);
        assert!(text.contains("(100019 characters)") && text.contains("(100000 characters)"), "{text}");
        let e = error(GOOD, &[&format!("{long}=1")]);
        assert!(e.with_file("s.toml").len() < 800, "{}", e.with_file("s.toml").len());
        let e = error(&GOOD.replace("\"2s\"", &format!("\"2{long}\"")), &[]);
        assert!(e.to_string().len() < 600, "{}", e.to_string().len());
    }

    #[test]
    fn every_problem_is_reported_each_at_its_place() {
        let text = GOOD.replace("rate = 5", "rat = 5\ncount = -1\nprotocol = \"spdy\"").replace("name = \"t\"\n", "");
        let e = error(&text, &[]);
        let lines: Vec<String> = e.with_file("s.toml").lines().map(String::from).collect();
        assert_eq!(
            lines,
            [
                "s.toml:1:1: name: is required but missing",
                "s.toml:9:1: clients[0].rat: unknown key \"rat\" (did you mean \"rate\"?); allowed keys here: name, \
                 count, source_ips, source_addresses, protocol, connections, max_streams, rate, rate_skew, arrival, timeout, retries, \
                 request_bytes, response_bytes, serialize_per_kb, session_requests, paths, balancing, \
                 client_algorithm, resolve_interval, stream_messages, keys, start, ramp",
                "s.toml:10:9: clients[0].count: must be at least 0, got -1",
                "s.toml:11:12: clients[0].protocol: unknown value \"spdy\"; allowed: http1, http2, websocket",
            ]
        );
        // Past the limit, the rest are counted.
        let many: String = (0..MAX_REPORTED + 5).map(|i| format!("extra{i} = 1\n")).collect();
        let e = error(&format!("{many}{GOOD}"), &[]);
        assert_eq!(e.more.len(), MAX_REPORTED - 1);
        assert_eq!(e.unlisted, 5);
        let text = e.with_file("s.toml");
        assert_eq!(text.lines().count(), MAX_REPORTED + 1);
        assert!(text.ends_with("s.toml: … and 5 more problems (only the first 20 are listed)"), "{text}");
        assert!(text.starts_with("s.toml:1:1: extra0: unknown key \"extra0\""), "{text}");
    }

    #[test]
    fn values_get_suggestions_and_floods_are_counted() {
        let e = error(&GOOD.replace("rate = 5", "rate = 5\nprotocol = \"http_2\""), &[]);
        assert_eq!(e.message, "unknown value \"http_2\" (did you mean \"http2\"?); allowed: http1, http2, websocket");
        let e = error(&format!("{GOOD}\n[[events]]\nat = \"1s\"\naction = \"recovr\"\ntarget = \"api\"\n"), &[]);
        assert!(e.message.starts_with("unknown action \"recovr\" (did you mean \"recover\"?); allowed: crash,"), "{e}");
        let e = error(&format!("{GOOD}\n[balancer]\nhash_key = \"sourceip\"\n"), &[]);
        assert!(e.message.starts_with("unknown hash key \"sourceip\" (did you mean \"source_ip\"?)"), "{e}");
        let e = error(&format!("{GOOD}\n[balancer]\nalgorithm = \"round-robin\"\n"), &[]);
        assert!(e.message.starts_with("unknown algorithm \"round-robin\" (did you mean \"round_robin\"?)"), "{e}");
        // Thousands of bad keys: the first 20 in file order listed, every other one counted.
        let many: String = (0..5_000).map(|i| format!("bad{i} = 1\n")).collect();
        let e = error(&format!("{many}{GOOD}"), &[]);
        assert_eq!((e.more.len(), e.unlisted), (MAX_REPORTED - 1, 5_000 - MAX_REPORTED));
        assert_eq!(e.path, "bad0");
        assert_eq!(e.more.last().map(|p| p.path.as_str()), Some("bad19"));
    }

    #[test]
    fn every_action_has_its_keys() {
        let names: Vec<&str> = super::ACTION_KEYS.iter().map(|(name, _)| *name).collect();
        assert_eq!(names.join(", "), crate::scenario::Action::NAMES);
    }

    #[test]
    fn one_problem_prints_as_one_line() {
        let e = error(&GOOD.replace("rate = 5", "rate = -5"), &[]);
        assert!(e.more.is_empty() && e.unlisted == 0);
        assert_eq!(e.with_file("s.toml"), "s.toml:10:8: clients[0].rate: must be at least 0, got -5");
        assert_eq!(e.to_string(), "10:8: clients[0].rate: must be at least 0, got -5");
    }
}
