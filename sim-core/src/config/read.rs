//! Reading a document tree into a [`Scenario`]: every key checked for type and range, every
//! default filled in, unknown keys refused with the list of allowed ones. Reading goes on past
//! a bad value (with a default in its place), so one run reports every problem of a file.

use super::keys;
use super::node::{Key, Node, Origin, Value};
use super::units::{BANDWIDTH_HELP, DURATION_HELP, TOO_LARGE, format_duration, parse_bandwidth_bps, parse_duration_ns};
use super::{ConfigError, Files, Origins, quote};
use crate::metrics::report::Outcome;
use crate::scenario::*;

type Result<T> = std::result::Result<T, ConfigError>;

/// What reading gathers besides the scenario: where every value came from, and every problem.
#[derive(Default)]
struct Reader<'f> {
    origins: Origins,
    /// Reads a file a scenario names (`empirical { file = ... }`), given the path as written;
    /// `None` where files cannot be read (the library's plain `load`, the browser).
    files: Option<Files<'f>>,
    problems: Vec<ConfigError>,
    /// Problems only counted: a 4 MB file of bad keys must not keep a million messages.
    uncounted: usize,
}

/// The most problems kept with their messages (more than are printed, so the first ones in
/// file order are among them even though reading does not go strictly in file order).
const MAX_KEPT: usize = 1_000;

impl Reader<'_> {
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
/// `files` reads the files the scenario names (empirical samples), if files can be read.
pub(super) fn scenario(root: &Node, files: Option<Files<'_>>) -> Result<(Scenario, Origins)> {
    let mut o = Reader { files, ..Reader::default() };
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
    let lesson = t.get("lesson", o).and_then(|f| lesson(&f, o));
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
        lesson,
    })
}

/// A text of a lesson: at most [`crate::lesson::MAX_TEXT`] bytes.
fn lesson_text(f: &Field<'_>) -> Result<String> {
    let text = f.str()?;
    if text.len() > crate::lesson::MAX_TEXT {
        return Err(f.err(format!("is {} bytes; at most {} are allowed", text.len(), crate::lesson::MAX_TEXT)));
    }
    Ok(text.trim().to_string())
}

/// `[lesson]`: read and checked here (every claim's metric is a number of the report, every
/// change a `--set KEY=VALUE`), never used by the simulation.
fn lesson(field: &Field<'_>, o: &mut Reader) -> Option<crate::lesson::Lesson> {
    use crate::lesson::{Lesson, MAX_STEPS};
    let mut t = o.keep(field.table(keys::LESSON))?;
    let title = t.require("title", o).and_then(|f| o.keep(lesson_text(&f)));
    let intro = t.read("intro", o, lesson_text).unwrap_or_default();
    let steps = t.require("steps", o).and_then(|f| {
        let items = o.keep(f.array())?;
        if items.is_empty() || items.len() > MAX_STEPS {
            o.note(f.err(format!("has {} steps; a lesson has 1 to {MAX_STEPS}", items.len())));
            return None;
        }
        let steps: Vec<Option<crate::lesson::Step>> = items.iter().map(|item| lesson_step(item, o)).collect();
        steps.into_iter().collect::<Option<Vec<_>>>()
    });
    t.finish(o);
    Some(Lesson { title: title?, intro, steps: steps? })
}

fn lesson_step(field: &Field<'_>, o: &mut Reader) -> Option<crate::lesson::Step> {
    use crate::lesson::{MAX_CLAIMS, MAX_SETS};
    let mut t = o.keep(field.table(keys::LESSON_STEP))?;
    let say = t.require("say", o).and_then(|f| o.keep(lesson_text(&f)));
    let fresh = t.read("fresh", o, |f| f.bool()).unwrap_or(false);
    let mut set = Vec::new();
    if let Some(f) = t.get("set", o)
        && let Some(items) = o.keep(f.array())
    {
        if items.len() > MAX_SETS {
            o.note(f.err(format!("has {} changes; a step makes at most {MAX_SETS}", items.len())));
        }
        for item in items.iter().take(MAX_SETS) {
            if let Some(text) = o.keep(item.str().and_then(|text| lesson_set(item, text))) {
                set.push(text);
            }
        }
    }
    let mut expect = Vec::new();
    if let Some(f) = t.get("expect", o)
        && let Some(items) = o.keep(f.array())
    {
        if items.len() > MAX_CLAIMS {
            o.note(f.err(format!("has {} claims; a step checks at most {MAX_CLAIMS}", items.len())));
        }
        expect.extend(items.iter().take(MAX_CLAIMS).filter_map(|item| lesson_claim(item, o)));
    }
    t.finish(o);
    Some(crate::lesson::Step { say: say?, set, fresh, expect })
}

/// A step's change: `KEY=VALUE` with a key path `--set` takes (the whole change is checked when
/// the step runs, against the scenario as it is then).
fn lesson_set(f: &Field<'_>, text: &str) -> Result<String> {
    let Some((key, _)) = text.split_once('=') else {
        return Err(f.err(format!(
            "{} is not a change: write KEY=VALUE as --set takes it, e.g. \"balancer.algorithm=least_connections\"",
            quote(text)
        )));
    };
    super::set::parse_path(key.trim()).map_err(|why| f.err(format!("{}: {why}", quote(key.trim()))))?;
    Ok(text.to_string())
}

fn lesson_claim(field: &Field<'_>, o: &mut Reader) -> Option<crate::lesson::Claim> {
    use crate::lesson::{Claim, Op, check_metric};
    let mut t = o.keep(field.table(keys::LESSON_CLAIM))?;
    let metric_of = |f: &Field<'_>| -> Result<String> {
        let text = f.str()?;
        check_metric(text).map_err(|why| f.err(why))?;
        Ok(text.to_string())
    };
    let metric = t.require("metric", o).and_then(|f| o.keep(metric_of(&f)));
    let over = t.get("over", o).and_then(|f| o.keep(metric_of(&f)).map(Some)).unwrap_or(None);
    let op = t.require("op", o).and_then(|f| o.keep(f.choice(Op::NAMES)));
    let value = match op {
        Some(Op::Null) => t.read("value", o, |f| f.number(f64::MIN, f64::MAX)).map_or(Some(0.0), Some),
        _ => t.require("value", o).and_then(|f| o.keep(f.number(f64::MIN, f64::MAX))),
    };
    let tolerance = match op {
        Some(Op::Near) => t.require("tolerance", o).and_then(|f| o.keep(f.number(0.0, f64::MAX))),
        _ => {
            if let Some(f) = t.get("tolerance", o) {
                o.note(f.err("applies only to op = \"~\" (within a tolerance)"));
            }
            Some(0.0)
        }
    };
    t.finish(o);
    Some(Claim::new(&metric?, over.as_deref(), op?, value?, tolerance?))
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

/// The most parts a mixture has.
const MAX_PARTS: usize = 64;
/// The most samples an empirical distribution has.
pub(crate) const MAX_SAMPLES: usize = 1_000_000;

/// A service time distribution (`service`, and every other `dist` table).
fn service(field: &Field<'_>, o: &mut Reader) -> Option<ServiceDist> {
    let t = o.keep(field.table(keys::SERVICE))?;
    dist(t, o, true)
}

/// The distribution a `dist` table describes; `mixture` only where `mixture_allowed` (parts of
/// a mixture are not mixtures themselves: one level says every bimodal or hyperexponential
/// case, and keeps the quantile function flat).
fn dist(mut t: Table<'_>, o: &mut Reader, mixture_allowed: bool) -> Option<ServiceDist> {
    const DISTS: [(&str, &[&str]); 9] = [
        ("constant", &["value"]),
        ("exponential", &["mean"]),
        ("uniform", &["min", "max"]),
        ("lognormal", &["p50", "p99"]),
        ("pareto", &["min", "alpha"]),
        ("mixture", &["parts"]),
        ("empirical", &["samples", "file"]),
        ("weibull", &["shape", "scale"]),
        ("gamma", &["shape", "mean"]),
    ];
    const MAX: u64 = MAX_SERVICE_NS;
    // A mixture part's `weight` is read by the caller: common to every dist there.
    let common: &'static [&'static str] = if mixture_allowed { &["dist"] } else { &["dist", "weight"] };
    let options: Vec<(&str, usize)> = DISTS.iter().enumerate().map(|(i, (name, _))| (*name, i)).collect();
    let Some(kind) = t.require("dist", o).and_then(|f| o.keep(f.choice(&options))) else {
        t.skip_declared();
        t.finish(o);
        return None;
    };
    let (dist_name, takes) = DISTS[kind];
    t.set_variant(format!("dist = \"{dist_name}\""), common, takes);
    let result = match dist_name {
        "constant" => t
            .require("value", o)
            .and_then(|f| o.keep(f.duration(0, MAX)))
            .map(|value_ns| ServiceDist::Constant { value_ns }),
        "exponential" => t
            .require("mean", o)
            .and_then(|f| o.keep(f.duration(1, MAX)))
            .map(|mean_ns| ServiceDist::Exponential { mean_ns }),
        "uniform" => {
            let min_ns = t.require("min", o).and_then(|f| o.keep(f.duration(0, MAX)));
            let max_field = t.require("max", o);
            let max_ns = max_field.as_ref().and_then(|f| o.keep(f.duration(0, MAX)));
            match (min_ns, max_ns, max_field) {
                (Some(min_ns), Some(max_ns), Some(f)) if max_ns < min_ns => o.keep(Err(f.err("must be at least min"))),
                (Some(min_ns), Some(max_ns), _) => Some(ServiceDist::Uniform { min_ns, max_ns }),
                _ => None,
            }
        }
        "lognormal" => {
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
        "pareto" => {
            let min_ns = t.require("min", o).and_then(|f| o.keep(f.duration(1, MAX)));
            let alpha = t.require("alpha", o).and_then(|f| {
                o.keep(f.number(f64::MIN, 1_000.0).and_then(|a| {
                    if a <= 1.0 {
                        Err(f.err(format!("must be more than 1 (the mean is infinite otherwise), got {}", fmt_num(a))))
                    } else {
                        Ok(a)
                    }
                }))
            });
            min_ns.zip(alpha).map(|(min_ns, alpha)| ServiceDist::Pareto { min_ns, alpha })
        }
        "mixture" if !mixture_allowed => {
            let f = t.require("dist", o);
            // The inner mixture's own keys are not worth reporting on top of this.
            t.used.iter_mut().for_each(|used| *used = true);
            f.and_then(|f| {
                o.keep::<ServiceDist>(Err(
                    f.err("a mixture's part cannot be a mixture itself; list all the parts in the outer mixture")
                ))
            })
        }
        "mixture" => mixture(&mut t, o),
        "empirical" => empirical(&mut t, o),
        "weibull" => {
            let shape = t.require("shape", o).and_then(|f| o.keep(positive(&f, 0.1, 100.0)));
            let scale_ns = t.require("scale", o).and_then(|f| o.keep(f.duration(1, MAX)));
            shape.zip(scale_ns).map(|(shape, scale_ns)| ServiceDist::Weibull { shape, scale_ns })
        }
        _ => {
            let shape = t.require("shape", o).and_then(|f| o.keep(positive(&f, 0.01, 100_000.0)));
            let mean_ns = t.require("mean", o).and_then(|f| o.keep(f.duration(1, MAX)));
            shape.zip(mean_ns).map(|(shape, mean_ns)| ServiceDist::Gamma { shape, mean_ns })
        }
    };
    t.finish(o);
    result
}

/// The longest an error may take at a server (as long as the longest service time).
const MAX_ERROR_LATENCY_NS: u64 = 24 * 3600 * NS_PER_SEC;
/// A shape parameter: a number within `[min, max]` (the message says why there are bounds).
fn positive(f: &Field<'_>, min: f64, max: f64) -> Result<f64> {
    f.number(min, max).map_err(|e| ConfigError {
        message: format!("{} (shapes outside {} to {} give moments beyond f64)", e.message, fmt_num(min), fmt_num(max)),
        ..e
    })
}

/// `mixture { parts = [{ weight, dist, ... }, ...] }`.
fn mixture(t: &mut Table<'_>, o: &mut Reader) -> Option<ServiceDist> {
    let field = t.require("parts", o)?;
    let items = o.keep(field.array())?;
    if items.is_empty() {
        return o.keep(Err(field.err("needs at least one part")));
    }
    if items.len() > MAX_PARTS {
        return o.keep(Err(field.err(format!("has {} parts; at most {MAX_PARTS} are allowed", items.len()))));
    }
    let parts: Vec<Option<MixturePart>> = items
        .iter()
        .map(|item| {
            let mut p = o.keep(item.table(keys::MIXTURE_PART))?;
            let weight = p.require("weight", o).and_then(|f| {
                o.keep(f.number(f64::MIN, 1e9).and_then(|w| {
                    if w > 0.0 {
                        Ok(w)
                    } else {
                        Err(f.err(format!(
                            "must be more than 0 (weights are relative: a part is chosen with probability weight / sum of weights), got {}",
                            fmt_num(w)
                        )))
                    }
                }))
            });
            let dist = dist(p, o, false);
            Some(MixturePart { weight: weight?, dist: dist? })
        })
        .collect();
    let parts: Vec<MixturePart> = parts.into_iter().collect::<Option<_>>()?;
    Some(ServiceDist::Mixture { parts: parts.into() })
}

/// `empirical { samples = [...] }` or `empirical { file = "..." }`.
fn empirical(t: &mut Table<'_>, o: &mut Reader) -> Option<ServiceDist> {
    let samples = t.get("samples", o);
    let file = t.get("file", o);
    let (mut values, file) = match (samples, file) {
        (Some(_), Some(f)) => {
            return o.keep(Err(f.err("give either samples or file, not both")));
        }
        (None, None) => {
            return o.keep(Err(ConfigError::new(
                t.origin.clone(),
                t.path.clone(),
                "empirical needs samples = [\"1ms\", ...] or file = \"times.csv\"",
            )));
        }
        (Some(f), None) => {
            let items = o.keep(f.array())?;
            if items.len() > MAX_SAMPLES {
                return o.keep(Err(f.err(format!("has {} samples; at most {MAX_SAMPLES} are allowed", items.len()))));
            }
            let values: Vec<Option<u64>> = items.iter().map(|i| o.keep(i.duration(0, MAX_SERVICE_NS))).collect();
            (values.into_iter().collect::<Option<Vec<u64>>>()?, None)
        }
        (None, Some(f)) => {
            let path = o.keep(f.str())?;
            if path.is_empty() {
                return o.keep(Err(f.err("must name a file")));
            }
            let Some(files) = o.files else {
                return o.keep(Err(f.err(format!(
                    "files cannot be read here (only the command line reads them): use samples = [...] instead of file = {}",
                    quote(path)
                ))));
            };
            let text = o.keep(files(path).map_err(|why| f.err(why)))?;
            let values = o.keep(parse_samples(&text, path).map_err(|why| f.err(why)))?;
            (values, Some(path.to_string()))
        }
    };
    if values.is_empty() {
        let what = file.as_deref().map_or("samples".to_string(), |p| format!("{} has no values", quote(p)));
        let key = if file.is_some() { "file" } else { "samples" };
        let f = t.get(key, o)?;
        return o.keep(Err(f.err(format!("needs at least one sample ({what})"))));
    }
    values.sort_unstable();
    Some(ServiceDist::Empirical { samples: values.into(), file })
}

/// The values of a sample file, one per line: a number is milliseconds, or a duration with a
/// unit (`12ms`); blank lines and `#` comments are skipped, and the first line may be a
/// non-numeric header. Errors name `file:line`.
pub(crate) fn parse_samples(text: &str, file: &str) -> std::result::Result<Vec<u64>, String> {
    let mut values = Vec::new();
    let mut seen_content = false;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let first = !seen_content;
        seen_content = true;
        let at = format!("{file}:{}", i + 1);
        let starts_numeric = line.starts_with(|c: char| c.is_ascii_digit() || c == '.' || c == '-' || c == '+');
        if first && !starts_numeric {
            continue; // a header such as `service_ms`
        }
        if line.contains(',') {
            return Err(format!("{at}: expected one value per line, got {}", quote(line)));
        }
        if values.len() >= MAX_SAMPLES {
            return Err(format!("{at}: more than {MAX_SAMPLES} samples (the limit on empirical distributions)"));
        }
        let ns = if let Ok(ms) = line.parse::<f64>() {
            if !ms.is_finite() || ms < 0.0 {
                return Err(format!("{at}: {} must be a number of milliseconds, at least 0", quote(line)));
            }
            let ns = ms * 1e6;
            if ns > MAX_SERVICE_NS as f64 {
                return Err(format!("{at}: {} ms is more than the longest service time, 24h", quote(line)));
            }
            (ns + 0.5) as u64
        } else {
            let ns = parse_duration_ns(line).map_err(|why| {
                format!("{at}: {why}; a sample is a number of milliseconds (e.g. 12.5) or a duration with a unit ({DURATION_HELP})")
            })?;
            if ns > MAX_SERVICE_NS {
                return Err(format!("{at}: {} is more than the longest service time, 24h", quote(line)));
            }
            ns
        };
        values.push(ns);
    }
    Ok(values)
}

fn server_group(field: &Field<'_>, o: &mut Reader) -> Option<ServerGroup> {
    let mut t = o.keep(field.table(keys::SERVER_GROUP))?;
    let group_name = t.require("name", o).and_then(|f| o.keep(name(&f)));
    let service = t.require("service", o).and_then(|f| service(&f, o));
    // A stand-in service while the real one has problems: they are reported, nothing runs.
    let mut g = ServerGroup::new("", 1, ServiceDist::Constant { value_ns: 0 });
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
    if let Some(v) = t.read("error_rate", o, |f| f.number(0.0, 1.0)) {
        g.error_rate = v;
    }
    if let Some(v) = t.read("error_latency", o, |f| f.duration(0, MAX_ERROR_LATENCY_NS)) {
        g.error_latency_ns = Some(v);
    }
    if let Some(v) = t.read("max_connection_age", o, |f| f.duration(NS_PER_SEC / 1000, MAX_DURATION_NS)) {
        g.max_connection_age_ns = Some(v);
    }
    if let Some(f) = t.get("autoscale", o) {
        g.autoscale = autoscale(&f, o);
    }
    let base = t.read("address", o, |f| {
        let (host, port) = host_port(f, f.str()?)?;
        let ip = host.parse::<std::net::Ipv4Addr>().map_err(|_| {
            f.err(format!(
                "{} is not an IPv4 address: a group's base address is counted up for its instances \
                 (list names in `addresses` instead)",
                quote(host)
            ))
        })?;
        Ok(ServerAddress::Consecutive { ip: u32::from(ip), port })
    });
    let count = g.count;
    let list = t.read("addresses", o, |f| server_addresses(f, count, base.is_some()));
    g.address = list.or(base);
    t.finish(o);
    g.name = group_name?;
    g.service = service?;
    Some(g)
}

/// The most addresses `servers[].addresses` lists.
const MAX_SERVER_ADDRESSES: usize = 100_000;

/// A server address `host:port` as a real balancer's config writes it: a non-empty host
/// without spaces, a colon, and a port 1 to 65535.
fn host_port<'t>(f: &Field<'_>, text: &'t str) -> Result<(&'t str, u16)> {
    let bad = |why: &str| {
        f.err(format!("{} is not a server address: {why}; expected host:port, e.g. \"10.0.0.1:8080\"", quote(text)))
    };
    let (host, port) = text.rsplit_once(':').ok_or_else(|| bad("no `:port`"))?;
    if host.is_empty() || host.len() > 253 || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("the host must be 1 to 253 characters without spaces"));
    }
    let port = port.parse::<u16>().ok().filter(|&p| p > 0).ok_or_else(|| bad("the port must be 1 to 65535"))?;
    Ok((host, port))
}

/// `servers[].addresses`: one `host:port` per instance, at least `count` of them.
fn server_addresses(f: &Field<'_>, count: u32, base_given: bool) -> Result<ServerAddress> {
    if base_given {
        return Err(f.err("cannot be given with address (a base address counted up); remove one of them"));
    }
    let items = f.array()?;
    if items.len() > MAX_SERVER_ADDRESSES {
        return Err(f.err(format!("has {} addresses; at most {MAX_SERVER_ADDRESSES} are allowed", items.len())));
    }
    if items.len() < count as usize {
        return Err(f.err(format!(
            "has {} addresses for {count} instances: give one host:port per instance (or a base `address`)",
            items.len()
        )));
    }
    let mut list = Vec::with_capacity(items.len());
    for item in &items {
        let text = item.str()?;
        // As the real config writes it (nginx hashes the text: a name without a port, or a
        // `unix:` socket, is hashed as written).
        if text.is_empty() || text.len() > 300 || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(item.err(format!(
                "{} is not a server address: expected 1 to 300 characters without spaces, as the balancer's \
                 config writes it, e.g. \"10.0.0.1:8080\"",
                quote(text)
            )));
        }
        if list.iter().any(|a: &String| a == text) {
            return Err(item.err(format!("{} is listed twice: each instance has its own address", quote(text))));
        }
        list.push(text.to_string());
    }
    Ok(ServerAddress::List(list))
}

/// A server group's `[servers.autoscale]` (Kubernetes HPA): `min`, `max`, one target
/// (`target_utilization` or `target_in_flight`), and the controller's timings.
fn autoscale(field: &Field<'_>, o: &mut Reader) -> Option<Autoscale> {
    let mut t = o.keep(field.table(keys::AUTOSCALE))?;
    let min = t.read("min", o, |f| f.u32(1, 100_000));
    let max = t.require("max", o).and_then(|f| o.keep(f.u32(1, 100_000)));
    let utilization = t.read("target_utilization", o, |f| {
        let v = f.number(0.0, 1.0)?;
        if v <= 0.0 {
            return Err(f.err(format!("must be more than 0 (a fraction of the workers busy, e.g. 0.6), got {v}")));
        }
        Ok(v)
    });
    let in_flight = t.read("target_in_flight", o, |f| {
        let v = f.number(0.0, 1e9)?;
        if v <= 0.0 {
            return Err(f.err(format!("must be more than 0 (requests at a server on average), got {v}")));
        }
        Ok(v)
    });
    let metric = match (utilization, in_flight) {
        (Some(u), None) => Some(ScaleMetric::Utilization(u)),
        (None, Some(n)) => Some(ScaleMetric::InFlight(n)),
        (Some(_), Some(_)) => {
            o.note(field.err("give one target: target_utilization or target_in_flight, not both"));
            None
        }
        (None, None) => {
            o.note(field.err(
                "needs a target: target_utilization (busy workers / workers, e.g. 0.6) or target_in_flight \
                 (requests at a server, e.g. 8)",
            ));
            None
        }
    };
    let mut a = Autoscale::new(min.unwrap_or(1), max.unwrap_or(1), ScaleMetric::Utilization(1.0));
    if let Some(v) = t.read("interval", o, |f| f.duration(NS_PER_SEC / 1000, 24 * 3600 * NS_PER_SEC)) {
        a.interval_ns = v;
    }
    if let Some(v) = t.read("tolerance", o, |f| f.number(0.0, 10.0)) {
        a.tolerance = v;
    }
    if let Some(v) = t.read("provision_delay", o, |f| f.duration(0, 24 * 3600 * NS_PER_SEC)) {
        a.provision_delay_ns = v;
    }
    if let Some(v) = t.read("scale_down_stabilization", o, |f| f.duration(0, 24 * 3600 * NS_PER_SEC)) {
        a.scale_down_stabilization_ns = v;
    }
    t.finish(o);
    if let (Some(lo), Some(hi)) = (min, max)
        && lo > hi
    {
        o.note(field.err(format!("min ({lo}) is more than max ({hi})")));
        return None;
    }
    a.metric = metric?;
    max?;
    Some(a)
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
    // Where the load comes from: `rate`, a closed loop (`users`), a `schedule`, or a replayed
    // `trace` — one of them.
    let trace = t.read("trace", o, trace_path);
    let users = t.read("users", o, |f| f.u32(1, MAX_USERS));
    let schedule = t.get("schedule", o).map(|f| (schedule(&f, o), f));
    if trace.is_some() {
        for key in ["users", "schedule", "think_time"] {
            if let Some(f) = t.get(key, o) {
                o.note(f.err(format!(
                    "not allowed with `trace`: a replay sends one request per row of the trace, at its time \
                     (remove `{key}`, or remove `trace` for generated traffic)"
                )));
            }
        }
    }
    let rate = if trace.is_some() {
        for key in ["rate", "rate_skew", "arrival", "ramp"] {
            if let Some(f) = t.get(key, o) {
                o.note(f.err(format!(
                    "not allowed with `trace`: a replay sends one request per row of the trace, at its time \
                     (remove `{key}`, or remove `trace` for generated traffic)"
                )));
            }
        }
        Some(0.0)
    } else if users.is_some() || schedule.is_some() {
        if let Some(f) = t.get("rate", o) {
            let why = if users.is_some() {
                "does not apply with users (a closed loop's rate is an output of the run); remove it"
            } else {
                "does not apply with schedule (its points give the rate over time); remove it"
            };
            o.note(f.err(why));
        }
        Some(0.0)
    } else {
        t.require("rate", o).and_then(|f| o.keep(f.number(0.0, MAX_RATE)))
    };
    let mut g = ClientGroup::new("", 1, rate.unwrap_or(0.0));
    g.trace = trace.clone();
    let mut closed = false;
    if trace.is_none() {
        match schedule {
            Some((_, f)) if users.is_some() => {
                o.note(f.err("does not apply with users: give the population at each point instead, e.g. [{ at = \"0s\", users = 10 }]"));
            }
            Some((Some(Schedule::Users(points)), _)) => {
                g.users = Some(points.iter().map(|&(_, u)| u).max().unwrap_or(0));
                g.schedule = Some(Schedule::Users(points));
            }
            Some((parsed, _)) => g.schedule = parsed,
            None => g.users = users,
        }
        closed = g.users.is_some();
        if let Some(f) = t.get("think_time", o) {
            if closed {
                g.think_time = service(&f, o);
            } else {
                o.note(f.err("applies only to a closed loop: set users (or a schedule of users) too"));
            }
        }
    }
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
    if let Some(v) = t.read("rate_skew", o, |f| {
        if closed {
            return Err(f.err("does not apply with users (every user of a closed loop behaves the same); remove it"));
        }
        f.number(0.0, 10.0)
    }) {
        g.rate_skew = v;
    }
    if let Some(v) = t.read("arrival", o, |f| {
        if closed {
            return Err(f.err("does not apply with users (a user sends when it has thought); remove it"));
        }
        f.choice(&[("poisson", Arrival::Poisson), ("constant", Arrival::Constant)])
    }) {
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
        let template = k.read("template", o, |f| {
            let text = f.str()?;
            if text.len() > 200 || text.chars().any(|c| c.is_control()) || text.matches("{i}").count() != 1 {
                return Err(f.err(format!(
                    "{} is not a key template: expected text with `{{i}}` once (the key's number, 1 to count), \
                     at most 200 characters, e.g. \"k{{i}}\"",
                    quote(text)
                )));
            }
            Ok(text.to_string())
        });
        k.finish(o);
        if let Some(count) = count {
            g.keys = Some(KeySpace { count, skew, template });
        }
    }
    if let Some(v) = t.read("start", o, |f| f.duration(0, MAX_DURATION_NS)) {
        g.start_ns = v;
    }
    if let Some(v) = t.read("ramp", o, |f| f.duration(0, MAX_DURATION_NS)) {
        g.ramp_ns = v;
    }
    if let Some(f) = t.get("retry", o) {
        if g.retries > 0 {
            o.note(f.err(
                "cannot be combined with retries (two retry policies for one client); keep one: \
                 retries = N retries at once, [clients.retry] is gRPC's policy with backoff and throttling",
            ));
        } else {
            g.retry = retry_policy(&f, o);
        }
    }
    if let Some(v) = t.read("retry_same_work", o, |f| f.bool()) {
        g.retry_same_work = v;
    }
    if let Some(f) = t.get("hedging", o) {
        let refuse = if g.retries > 0 || g.retry.is_some() {
            Some(
                "cannot be combined with retries or retry (gRPC: a method has a retry policy or a hedging policy, not both)",
            )
        } else if g.session_requests.is_some() {
            Some("cannot be combined with session_requests (a session's requests go one after another)")
        } else if g.stream_messages.is_some() {
            Some("cannot be combined with stream_messages (gRPC hedges unary calls, not a stream's messages)")
        } else if g.protocol == Protocol::WebSocket {
            Some("applies to http1 and http2 requests, not WebSocket messages")
        } else {
            None
        };
        match refuse {
            Some(why) => o.note(f.err(why)),
            None => g.hedging = hedging(&f, o),
        }
    }
    t.finish(o);
    g.name = group_name?;
    g.rate = rate?;
    Some(g)
}

/// A client group's `retry` table: gRPC's retry policy and retry throttling (gRFC A6).
/// `None` after noting any problem.
fn retry_policy(field: &Field<'_>, o: &mut Reader) -> Option<RetryPolicy> {
    let mut t = o.keep(field.table(keys::CLIENT_RETRY))?;
    let max_attempts = t.require("max_attempts", o).and_then(|f| {
        o.keep(
            f.u32(2, 5)
                .map_err(|e| f.err(format!("{}; gRPC allows 2 to 5 attempts in all, the first included", e.message))),
        )
    });
    let mut p = RetryPolicy::new(2);
    let mut ok = true;
    let initial_backoff = t.get("initial_backoff", o);
    if let Some(f) = &initial_backoff
        && let Some(v) = o.keep(f.duration(1, 3600 * NS_PER_SEC))
    {
        p.initial_backoff_ns = v;
    }
    let max_backoff = t.get("max_backoff", o);
    if let Some(f) = &max_backoff
        && let Some(v) = o.keep(f.duration(1, 3600 * NS_PER_SEC))
    {
        p.max_backoff_ns = v;
    }
    if let Some(v) = t.read("backoff_multiplier", o, |f| f.number(1.0, 100.0)) {
        p.backoff_multiplier = v;
    }
    if let Some(f) = t.get("retryable", o) {
        match outcome_set(&f, o) {
            Some(set) => p.retryable = set,
            None => ok = false,
        }
    }
    if let Some(f) = t.get("max_tokens", o) {
        let max = o.keep(f.number(0.001, 1000.0));
        let ratio = t.read("token_ratio", o, |f| f.number(0.001, 1000.0)).unwrap_or(0.1);
        match max {
            // gRPC keeps both in thousandths (`ServerRetryThrottleData`).
            Some(max) => {
                p.throttling = Some(RetryThrottling {
                    max_milli_tokens: libm::round(max * 1000.0) as u32,
                    milli_token_ratio: libm::round(ratio * 1000.0) as u32,
                })
            }
            None => ok = false,
        }
    } else if let Some(f) = t.get("token_ratio", o) {
        o.note(f.err("applies only to retry throttling: set max_tokens too (gRPC's retryThrottling needs both)"));
        ok = false;
    }
    if p.max_backoff_ns < p.initial_backoff_ns {
        let (initial, max) = (format_duration(p.initial_backoff_ns), format_duration(p.max_backoff_ns));
        match (max_backoff, initial_backoff) {
            (Some(f), _) => o.note(f.err(format!("must be at least initial_backoff ({initial}), got {max}"))),
            (None, Some(f)) => o.note(
                f.err(format!("is above max_backoff (default {max}); set max_backoff to {initial} or more as well")),
            ),
            (None, None) => {}
        }
        ok = false;
    }
    t.finish(o);
    p.max_attempts = max_attempts?;
    ok.then_some(p)
}

/// A client group's `hedging` table: gRPC's hedging policy (gRFC A6). `None` after noting any
/// problem.
fn hedging(field: &Field<'_>, o: &mut Reader) -> Option<Hedging> {
    let mut t = o.keep(field.table(keys::HEDGING))?;
    let max_attempts = t.require("max_attempts", o).and_then(|f| {
        o.keep(
            f.u32(2, 5)
                .map_err(|e| f.err(format!("{}; gRPC allows 2 to 5 attempts in all, the first included", e.message))),
        )
    });
    let mut h = Hedging::new(2);
    let mut ok = true;
    if let Some(v) = t.read("hedging_delay", o, |f| f.duration(0, 3600 * NS_PER_SEC)) {
        h.hedging_delay_ns = v;
    }
    if let Some(f) = t.get("non_fatal", o) {
        match outcome_set(&f, o) {
            Some(set) => h.non_fatal = set,
            None => ok = false,
        }
    }
    t.finish(o);
    h.max_attempts = max_attempts?;
    ok.then_some(h)
}

/// A list of outcome names (`retryable`), as flags indexed by `Outcome::index`; `ok` is not
/// a failure and cannot be listed. `None` after noting any problem.
fn outcome_set(field: &Field<'_>, o: &mut Reader) -> Option<[bool; Outcome::COUNT]> {
    let items = o.keep(field.array())?;
    let names: Vec<(&str, Outcome)> =
        Outcome::ALL.iter().filter(|&&x| x != Outcome::Ok).map(|&x| (x.name(), x)).collect();
    let mut set = [false; Outcome::COUNT];
    let mut bad = false;
    for item in &items {
        match o.keep(item.choice(&names)) {
            Some(x) => set[x.index()] = true,
            None => bad = true,
        }
    }
    if !bad && items.is_empty() {
        o.note(field.err(format!(
            "needs at least one outcome name; allowed: {}",
            names.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
        )));
        bad = true;
    }
    (!bad).then_some(set)
}

/// Closed-loop users per client, at most (each is a counter and at most one request in
/// flight, so the bound is `max_in_flight` more than memory).
const MAX_USERS: u32 = 1_000_000;

/// Points of a `schedule`, at most.
const MAX_SCHEDULE_POINTS: usize = 1_000;

/// A client group's `schedule`: points in increasing time, each with a `rate` or each with
/// `users`. `None` after noting any problem.
fn schedule(field: &Field<'_>, o: &mut Reader) -> Option<Schedule> {
    let items = o.keep(field.array())?;
    if items.is_empty() {
        o.note(field.err("needs at least one point, e.g. [{ at = \"0s\", rate = 100 }]"));
        return None;
    }
    if items.len() > MAX_SCHEDULE_POINTS {
        o.note(field.err(format!("has {} points; at most {MAX_SCHEDULE_POINTS} are allowed", items.len())));
        return None;
    }
    let mut rates = Vec::new();
    let mut users = Vec::new();
    let mut bad = false;
    let mut last: Option<u64> = None;
    for item in &items {
        let Some(mut p) = o.keep(item.table(keys::SCHEDULE_POINT)) else {
            bad = true;
            continue;
        };
        let at_field = p.require("at", o);
        let at = at_field.as_ref().and_then(|f| o.keep(f.duration(0, MAX_DURATION_NS)));
        if let (Some(at), Some(prev), Some(f)) = (at, last, &at_field)
            && at <= prev
        {
            o.note(f.err(format!(
                "must be after the previous point's at ({}): points are in increasing time",
                format_duration(prev)
            )));
            bad = true;
        }
        last = at.or(last);
        let rate = p.get("rate", o);
        let count = p.get("users", o);
        match (rate, count) {
            (Some(_), Some(f)) => {
                o.note(f.err("a point gives rate or users, not both"));
                bad = true;
            }
            (None, None) => {
                o.note(item.err("needs rate (requests per second per client) or users (per client)"));
                bad = true;
            }
            (Some(f), None) => match (o.keep(f.number(0.0, MAX_RATE)), at) {
                (Some(r), Some(at)) => rates.push((at, r)),
                _ => bad = true,
            },
            (None, Some(f)) => match (o.keep(f.u32(0, MAX_USERS)), at) {
                (Some(u), Some(at)) => users.push((at, u)),
                _ => bad = true,
            },
        }
        if at.is_none() {
            bad = true;
        }
        p.finish(o);
    }
    if !rates.is_empty() && !users.is_empty() {
        o.note(field.err("mixes points with rate and points with users: use one kind"));
        return None;
    }
    if bad {
        return None;
    }
    Some(if users.is_empty() { Schedule::Rate(rates) } else { Schedule::Users(users) })
}

/// A trace file's path (`trace = "requests.csv"`), kept as written: relative paths are from
/// the scenario file's directory, which only the caller knows.
fn trace_path(f: &Field<'_>) -> Result<String> {
    let path = f.str()?;
    if path.trim().is_empty() {
        return Err(f.err("must name a CSV file, e.g. trace = \"requests.csv\""));
    }
    if path.len() > 4096 || path.contains('\0') {
        return Err(f.err("must be a file path of at most 4096 bytes without NUL characters"));
    }
    Ok(path.to_string())
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
    if let Some(v) = t.read("max_conns", o, |f| f.u32(0, 1_000_000)) {
        b.max_conns = v;
    }
    if let Some(v) = t.read("hash_key", o, hash_key) {
        b.hash_key = v;
    }
    if let Some(v) = t.read("hash_key_text", o, |f| f.bool()) {
        b.hash_key_text = v;
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
        let mut passive = Passive::new(1, 10 * NS_PER_SEC);
        if let Some(v) = p.read("max_fails", o, |f| f.u32(0, 1_000_000)) {
            passive.max_fails = v;
        }
        if let Some(v) = p.read("fail_timeout", o, |f| f.duration(NS_PER_SEC / 1000, 24 * 3600 * NS_PER_SEC)) {
            passive.fail_timeout_ns = v;
        }
        if let Some(v) = p.read("clock_granularity", o, |f| f.duration(NS_PER_SEC / 1000, 3600 * NS_PER_SEC)) {
            passive.clock_ns = v;
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
    if let Some(f) = t.get("slow_start", o)
        && let Some(mut ss) = o.keep(f.table(keys::SLOW_START))
    {
        // Envoy requires `slow_start_window`; `aggression` defaults to 1.0 and
        // `min_weight_percent` to 10.
        let window = ss.require("window", o).and_then(|f| o.keep(f.duration(NS_PER_SEC / 1000, MAX_DURATION_NS)));
        let mut slow = SlowStart::new(window.unwrap_or(NS_PER_SEC));
        if let Some(v) = ss.read("aggression", o, |f| {
            let v = f.number(0.0, 1_000.0)?;
            if v <= 0.0 {
                return Err(
                    f.err(format!("must be more than 0 (Envoy refuses 0 and below; 1.0 ramps linearly), got {v}"))
                );
            }
            Ok(v)
        }) {
            slow.aggression = v;
        }
        if let Some(v) = ss.read("min_weight_percent", o, |f| f.number(0.0, 100.0)) {
            slow.min_weight_percent = v;
        }
        ss.finish(o);
        if window.is_some() {
            b.slow_start = Some(slow);
        }
    }
    if let Some(v) = t.read("dns_ttl", o, |f| f.duration(NS_PER_SEC / 1000, MAX_DURATION_NS)) {
        b.dns_ttl_ns = v;
    }
    if let Some(v) = t.read("fail_on_server_error", o, |f| f.bool()) {
        b.fail_on_server_error = v;
    }
    if let Some(v) = t.read("retry_on_error", o, |f| f.u32(0, 100)) {
        b.retry_on_error = v;
    }
    if let Some(f) = t.get("outlier_detection", o)
        && let Some(mut od) = o.keep(f.table(keys::OUTLIER_DETECTION))
    {
        b.outlier_detection = Some(outlier_detection(&mut od, o));
        od.finish(o);
    }
    if let Some(f) = t.get("circuit_breakers", o)
        && let Some(mut cb) = o.keep(f.table(keys::CIRCUIT_BREAKERS))
    {
        let mut breakers = CircuitBreakers::default();
        if let Some(v) = cb.read("max_requests", o, |f| f.u32(0, 100_000_000)) {
            breakers.max_requests = v;
        }
        if let Some(v) = cb.read("max_retries", o, |f| f.u32(0, 100_000_000)) {
            breakers.max_retries = v;
        }
        // At least one connection: Envoy opens one for a host that has none whatever the
        // limit, so 0 would mean 1 anyway.
        if let Some(v) = cb.read("max_connections", o, |f| f.u32(1, 100_000_000)) {
            breakers.max_connections = v;
        }
        if let Some(v) = cb.read("max_pending_requests", o, |f| f.u32(0, 100_000_000)) {
            breakers.max_pending_requests = v;
        }
        cb.finish(o);
        b.circuit_breakers = Some(breakers);
    }
    if let Some(f) = t.get("retry", o) {
        if b.retry_on_error > 0 {
            o.note(f.err(
                "cannot be combined with retry_on_error (two retry policies at the balancer); keep one: \
                 retry_on_error is nginx's proxy_next_upstream, [balancer.retry] Envoy's retry policy",
            ));
        } else if b.layer == Layer::L4 {
            o.note(f.err("applies to layer = \"l7\" only (an L4 balancer relays bytes and sees no answers)"));
        } else {
            b.retry = balancer_retry(&f, o);
        }
    }
    t.finish(o);
    Some(b)
}

/// `[balancer.outlier_detection]`: Envoy's names, defaults and ranges (percentages 0–100).
fn outlier_detection(t: &mut Table<'_>, o: &mut Reader) -> OutlierDetection {
    let mut od = OutlierDetection::default();
    let counts: [(&str, &mut u32); 5] = [
        ("consecutive_5xx", &mut od.consecutive_5xx),
        ("consecutive_gateway_failure", &mut od.consecutive_gateway_failure),
        ("success_rate_minimum_hosts", &mut od.success_rate_minimum_hosts),
        ("success_rate_request_volume", &mut od.success_rate_request_volume),
        ("success_rate_stdev_factor", &mut od.success_rate_stdev_factor),
    ];
    for (key, slot) in counts {
        if let Some(v) = t.read(key, o, |f| f.u32(0, 1_000_000)) {
            *slot = v;
        }
    }
    let percents: [(&str, &mut u32); 4] = [
        ("enforcing_consecutive_5xx", &mut od.enforcing_consecutive_5xx),
        ("enforcing_consecutive_gateway_failure", &mut od.enforcing_consecutive_gateway_failure),
        ("enforcing_success_rate", &mut od.enforcing_success_rate),
        ("max_ejection_percent", &mut od.max_ejection_percent),
    ];
    for (key, slot) in percents {
        if let Some(v) = t.read(key, o, |f| f.u32(0, 100)) {
            *slot = v;
        }
    }
    if let Some(v) = t.read("interval", o, |f| f.duration(NS_PER_SEC / 1000, 24 * 3600 * NS_PER_SEC)) {
        od.interval_ns = v;
    }
    if let Some(v) = t.read("base_ejection_time", o, |f| f.duration(NS_PER_SEC / 1000, 24 * 3600 * NS_PER_SEC)) {
        od.base_ejection_time_ns = v;
    }
    // Envoy: unset, the longest ejection is 300 s or `base_ejection_time`, whichever is larger.
    od.max_ejection_time_ns = od.max_ejection_time_ns.max(od.base_ejection_time_ns);
    if let Some(f) = t.get("max_ejection_time", o)
        && let Some(v) = o.keep(f.duration(NS_PER_SEC / 1000, 24 * 3600 * NS_PER_SEC))
    {
        if v < od.base_ejection_time_ns {
            o.note(f.err(format!(
                "must be at least base_ejection_time ({}), got {}",
                format_duration(od.base_ejection_time_ns),
                format_duration(v)
            )));
        } else {
            od.max_ejection_time_ns = v;
        }
    }
    od
}

/// `[balancer.retry]`: Envoy's retry policy and retry budget. `None` after noting any problem.
fn balancer_retry(field: &Field<'_>, o: &mut Reader) -> Option<BalancerRetry> {
    let mut t = o.keep(field.table(keys::BALANCER_RETRY))?;
    let mut p = BalancerRetry::new();
    let mut ok = true;
    if let Some(v) = t.read("num_retries", o, |f| f.u32(1, 100)) {
        p.num_retries = v;
    }
    // Read first: a per-try timeout makes `timeout` something a try can end with at the
    // balancer, and (Envoy's `5xx`, `gateway-error` and `reset` all retry a per-try timeout)
    // part of the default `retry_on`.
    if let Some(v) = t.read("per_try_timeout", o, |f| f.duration(1_000_000, 3600 * NS_PER_SEC)) {
        p.per_try_timeout_ns = Some(v);
        p.retry_on[Outcome::Timeout.index()] = true;
    }
    let per_try = p.per_try_timeout_ns.is_some();
    if let Some(f) = t.get("retry_on", o) {
        // What a balancer can see come back from a server (and a try's own timeout).
        const AT_BALANCER: [Outcome; 6] = [
            Outcome::Timeout,
            Outcome::ServerError,
            Outcome::Rejected,
            Outcome::ConnectionError,
            Outcome::SessionLost,
            Outcome::StoreUnavailable,
        ];
        match outcome_set(&f, o) {
            Some(set) => {
                let allowed = |x: &Outcome| AT_BALANCER.contains(x) && (per_try || *x != Outcome::Timeout);
                let local: Vec<&str> =
                    Outcome::ALL.iter().filter(|x| set[x.index()] && !allowed(x)).map(|x| x.name()).collect();
                if local.is_empty() {
                    p.retry_on = set;
                } else {
                    let hint = if set[Outcome::Timeout.index()] && !per_try {
                        " (timeout only with per_try_timeout: the client's timeout ends the whole attempt)"
                    } else {
                        " (it never comes back from a server)"
                    };
                    o.note(f.err(format!(
                        "{} cannot be retried at the balancer{hint}; allowed: {}",
                        local.join(", "),
                        AT_BALANCER.iter().filter(|x| allowed(x)).map(|x| x.name()).collect::<Vec<_>>().join(", ")
                    )));
                    ok = false;
                }
            }
            None => ok = false,
        }
    }
    let base = t.get("base_interval", o);
    if let Some(f) = &base
        && let Some(v) = o.keep(f.duration(1_000_000, 3600 * NS_PER_SEC))
    {
        p.base_interval_ns = v;
        p.max_interval_ns = v.saturating_mul(10);
    }
    if let Some(f) = t.get("max_interval", o) {
        match o.keep(f.duration(1_000_000, 10 * 3600 * NS_PER_SEC)) {
            Some(v) if v < p.base_interval_ns => {
                o.note(f.err(format!(
                    "must be at least base_interval ({}), got {}",
                    format_duration(p.base_interval_ns),
                    format_duration(v)
                )));
                ok = false;
            }
            Some(v) => p.max_interval_ns = v,
            None => ok = false,
        }
    }
    if let Some(v) = t.read("retry_host_predicate", o, |f| f.choice(&[("previous_hosts", true)])) {
        p.previous_hosts = v;
    }
    if let Some(v) = t.read("host_selection_retry_max_attempts", o, |f| f.u32(0, 100)) {
        p.host_selection_retry_max_attempts = v;
    }
    let percent = t.read("budget_percent", o, |f| f.number(0.0, 100.0));
    let min = t.read("min_retry_concurrency", o, |f| f.u32(0, 1_000_000));
    if percent.is_some() || min.is_some() {
        p.budget =
            Some(RetryBudget { budget_percent: percent.unwrap_or(20.0), min_retry_concurrency: min.unwrap_or(3) });
    }
    t.finish(o);
    ok.then_some(p)
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
static ACTION_KEYS: [(&str, &[&str]); 14] = [
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
    ("errors", &["target", "rate", "latency"]),
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
        "errors" => {
            let target = target(&mut t, o);
            let rate = t.require("rate", o).and_then(|f| o.keep(f.number(0.0, 1.0)));
            let latency_ns = match t.get("latency", o) {
                Some(f) => o.keep(f.duration(0, MAX_ERROR_LATENCY_NS)).map(Some),
                None => Some(None),
            };
            match (target, rate, latency_ns) {
                (Some(target), Some(rate), Some(latency_ns)) => Some(Action::Errors { target, rate, latency_ns }),
                _ => None,
            }
        }
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

    /// nginx `hash $arg_k consistent` over `server 10.0.0.1:80` … : with `hash_key_text`,
    /// key `k7` goes where nginx sends it: the first ring point ≥ crc32("k7"), the ring being
    /// crc32(host \0 port prev) chained 160 times per server (computed here from scratch).
    #[test]
    fn text_keys_are_hashed_as_nginx_hashes_them() {
        let text = GOOD
            .replace("name = \"api\"\n", "name = \"api\"\ncount = 3\naddress = \"10.0.0.1:80\"\n")
            .replace("rate = 5", "count = 4\nrate = 50\nkeys = { count = 40, template = \"k{i}\" }")
            + "\n[balancer]\nalgorithm = \"consistent_hash\"\nhash_key = \"header:x-k\"\nhash_key_text = true\n";
        let mut ring: Vec<(u32, u32)> = Vec::new();
        for s in 0..3u32 {
            let mut prev = 0u32;
            for _ in 0..160 {
                let mut h = crc32fast::Hasher::new();
                h.update(format!("10.0.0.{}\0{}", s + 1, 80).as_bytes());
                h.update(&prev.to_le_bytes());
                prev = h.finalize();
                ring.push((prev, s));
            }
        }
        ring.sort_unstable();
        let nginx = |key: &str| {
            let h = crc32fast::hash(key.as_bytes());
            ring.iter().find(|&&(p, _)| p >= h).unwrap_or(&ring[0]).1
        };
        let sc = load(&text, Format::Toml, &[]).unwrap();
        assert_eq!(sc.clients[0].keys.as_ref().unwrap().template.as_deref(), Some("k{i}"));
        assert_eq!(load(&sc.to_toml(), Format::Toml, &[]).unwrap(), sc, "round trip");
        let mut sim = crate::Simulation::new(&sc, 1);
        sim.enable_trace();
        sim.run();
        let mut trace = Vec::new();
        sim.drain_trace(&mut trace);
        let mut keys = std::collections::BTreeSet::new();
        for r in &trace {
            let Some(crate::metrics::trace::TraceKey::Index(k)) = r.key else { panic!("{r:?}") };
            assert_eq!(r.server, Some(nginx(&format!("k{k}"))), "k{k}");
            keys.insert(k);
        }
        assert!(keys.len() > 30, "{}", keys.len());
        // A replayed trace's `key` column: the row's text.
        let replayed = text.replace("rate = 50\nkeys = { count = 40, template = \"k{i}\" }", "trace = \"rows.csv\"");
        let sc = load(&replayed, Format::Toml, &[]).unwrap();
        let mut sim = crate::Simulation::new(&sc, 1);
        sim.enable_trace();
        let rows: Vec<crate::replay::TraceRow> = (0..60u64)
            .map(|i| crate::replay::TraceRow {
                time_ns: i * 10_000_000,
                key: Some(format!("user-{}", i * 7 % 23).into()),
                ..Default::default()
            })
            .collect();
        sim.attach_trace(0, Box::new(rows.into_iter())).unwrap();
        sim.run();
        let mut trace = Vec::new();
        sim.drain_trace(&mut trace);
        assert_eq!(trace.len(), 60);
        for r in &trace {
            let Some(crate::metrics::trace::TraceKey::Text(k)) = &r.key else { panic!("{r:?}") };
            assert_eq!(r.server, Some(nginx(k)), "{k}");
        }
        // `hash $remote_addr consistent`: the dotted text.
        let by_addr = text.replace("hash_key = \"header:x-k\"", "hash_key = \"source_ip\"").replace(
            "keys = { count = 40, template = \"k{i}\" }",
            "source_addresses = [\"192.168.0.1\", \"192.168.0.2\", \"192.168.0.3\", \"192.168.0.4\"]",
        );
        let sc = load(&by_addr, Format::Toml, &[]).unwrap();
        let mut sim = crate::Simulation::new(&sc, 1);
        sim.enable_trace();
        sim.run();
        let mut trace = Vec::new();
        sim.drain_trace(&mut trace);
        for r in &trace {
            assert_eq!(r.server, Some(nginx(&format!("192.168.0.{}", r.client % 4 + 1))), "client {}", r.client);
        }
        // Without hash_key_text, a template is said to have no effect; a bad one is refused.
        let e = error(&text.replace("k{i}", "key"), &[]);
        assert_eq!(e.path, "clients[0].keys.template", "{e}");
        assert!(e.to_string().contains("`{i}` once"), "{e}");
    }

    /// nginx's one-second clock (`ngx_time()` in ngx_http_upstream_round_robin.c): with
    /// `clock_granularity = "1s"` a dead server is tried again when the whole seconds since its
    /// last check exceed fail_timeout: every fail_timeout + 1 s, the first time sooner (the
    /// failure's second is rounded down). An exact clock tries it every fail_timeout.
    #[test]
    fn passive_clock_granularity_rounds_checks_to_whole_seconds_as_nginx() {
        let text =
            GOOD.replace("name = \"api\"\n", "name = \"api\"\ncount = 3\n").replace("rate = 5", "count = 10\nrate = 5")
                + "\n[balancer]\npassive = { max_fails = 1, fail_timeout = \"3s\" }\n\
               [[events]]\nat = \"4500ms\"\naction = \"crash\"\ntarget = \"api-2\"\n";
        let text = text.replace("duration = \"2s\"", "duration = \"20s\"");
        let failures = |text: &str| -> Vec<u64> {
            let sc = load(text, Format::Toml, &[]).unwrap();
            let mut sim = crate::Simulation::new(&sc, 1);
            sim.enable_trace();
            sim.run();
            let mut trace = Vec::new();
            sim.drain_trace(&mut trace);
            let mut t: Vec<u64> = trace
                .iter()
                .filter(|r| r.server == Some(1) && r.outcome != crate::metrics::report::Outcome::Ok)
                .map(|r| r.start_ns / 1_000_000)
                .collect();
            t.sort_unstable();
            t
        };
        let exact = failures(&text);
        let nginx =
            failures(&text.replace("fail_timeout = \"3s\"", "fail_timeout = \"3s\", clock_granularity = \"1s\""));
        // Failures after the crash at 4.5 s, each the first request to reach the server once
        // it is back in the rotation (10 clients × 5/s: one request every 20 ms on average).
        let near =
            |t: &[u64], want: &[u64]| t.len() == want.len() && t.iter().zip(want).all(|(&a, &b)| a >= b && a < b + 200);
        // Exact: back 3 s after each failure (and the next request it is picked for).
        assert!(
            exact.len() == 6 && exact.windows(2).all(|w| (3000..3200).contains(&(w[1] - w[0]))),
            "exact: {exact:?}"
        );
        // Checked at second 4 (4.5 rounded down): back when now − 4 > 3, at 8 s; then 12, 16.
        assert!(near(&nginx[1..], &[8000, 12000, 16000]) && nginx[0] >= 4400, "nginx's clock: {nginx:?}");
        let sc = load(&text.replace("\"3s\" }", "\"3s\", clock_granularity = \"1s\" }"), Format::Toml, &[]).unwrap();
        assert_eq!(sc.balancer.passive.unwrap().clock_ns, 1_000_000_000);
        assert!(sc.to_toml().contains("clock_granularity = \"1s\""));
        assert_eq!(load(&sc.to_toml(), Format::Toml, &[]).unwrap(), sc);
        let e = error(&text.replace("\"3s\" }", "\"3s\", clock_granularity = \"0s\" }"), &[]);
        assert_eq!(e.path, "balancer.passive.clock_granularity", "{e}");
    }

    #[test]
    fn server_addresses_name_the_instances_and_the_ring_hashes_them() {
        let base = GOOD.replace("name = \"api\"\n", "name = \"api\"\ncount = 3\naddress = \"10.0.0.1:80\"\n")
            + "\n[balancer]\nalgorithm = \"consistent_hash\"\n";
        let sc = load(&base, Format::Toml, &[]).unwrap();
        let a = sc.servers[0].address.clone().unwrap();
        let got: Vec<String> = (0..3).filter_map(|i| a.instance(i)).collect();
        assert_eq!(got, ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"]);
        let written = sc.to_toml();
        assert!(written.contains("address = \"10.0.0.1:80\""), "{written}");
        assert_eq!(load(&written, Format::Toml, &[]).unwrap(), sc);
        // The ring is nginx's over those server lines: each server's share of the ring is the
        // share a ring built from the address texts gives it, not one from api-1, api-2, api-3.
        let share = |sc: &crate::Scenario| -> Vec<f64> {
            let mut sim = crate::Simulation::new(sc, 1);
            sim.run();
            sim.inspect(0).unwrap().servers.iter().map(|s| s.hash_share.unwrap()).collect()
        };
        let listed = base
            .replace("address = \"10.0.0.1:80\"", "addresses = [\"10.0.0.1:80\", \"10.0.0.2:80\", \"10.0.0.3:80\"]");
        let by_list = load(&listed, Format::Toml, &[]).unwrap();
        assert!(by_list.to_toml().contains("addresses = [\"10.0.0.1:80\", \"10.0.0.2:80\", \"10.0.0.3:80\"]"));
        let plain = load(&base.replace("address = \"10.0.0.1:80\"\n", ""), Format::Toml, &[]).unwrap();
        let mut v = crate::algo::StaticView::new(&[1, 1, 1]);
        v.names = got.clone();
        let ring = crate::algo::ketama::KetamaRing::build(&v.view(), &[0, 1, 2]);
        let want: Vec<f64> = (0..3u32)
            .map(|s| {
                crate::algo::ring_share(ring.points.iter().map(|&(p, x)| (u64::from(p), x)), s, 4_294_967_296.0)
                    .unwrap()
            })
            .collect();
        assert_eq!(share(&sc), want);
        assert_eq!(share(&by_list), want);
        assert_ne!(share(&plain), want);
        // Bad input names the key and what an address looks like.
        for (bad, path, what) in [
            ("address = \"10.0.0.1\"", "servers[0].address", "no `:port`"),
            ("address = \"web:80\"", "servers[0].address", "is not an IPv4 address"),
            ("address = \"10.0.0.1:0\"", "servers[0].address", "the port must be 1 to 65535"),
            ("addresses = [\"a:1\", \"b:2\"]", "servers[0].addresses", "has 2 addresses for 3 instances"),
            ("addresses = [\"a:1\", \"b:2\", \"a:1\"]", "servers[0].addresses[2]", "listed twice"),
            ("addresses = [\"a:1\", \"b:2\", \"c d:3\"]", "servers[0].addresses[2]", "without spaces"),
            ("addresses = [\"a:1\", \"b:2\", \"\"]", "servers[0].addresses[2]", "1 to 300 characters"),
        ] {
            let e = error(&base.replace("address = \"10.0.0.1:80\"", bad), &[]);
            assert_eq!(e.path, path, "{bad}: {e}");
            assert!(e.to_string().contains(what), "{bad}: {e}");
        }
        let both = base
            .replace("address = \"10.0.0.1:80\"", "address = \"10.0.0.1:80\"\naddresses = [\"a:1\", \"b:2\", \"c:3\"]");
        assert!(error(&both, &[]).to_string().contains("cannot be given with address"));
        // Instances added later need addresses too; two groups cannot share one.
        let added = format!("{base}\n[[events]]\nat = \"1s\"\naction = \"add\"\ntarget = \"api\"\ncount = 1\n");
        let listed_added = added.replace("address = \"10.0.0.1:80\"", "addresses = [\"a:1\", \"b:2\", \"c:3\"]");
        let e = error(&listed_added, &[]);
        assert!(e.path == "servers[0].addresses" && e.to_string().contains("up to 4 instances"), "{e}");
        assert!(load(&added, Format::Toml, &[]).is_ok(), "a base address counts on");
        let clash = base.clone()
            + "\n[[servers]]\nname = \"more\"\naddress = \"10.0.0.3:80\"\nservice = { dist = \"constant\", value = \"1ms\" }\n";
        let e = error(&clash, &[]);
        assert!(e.to_string().contains("\"10.0.0.3:80\" too, as instance 3 of group api"), "{e}");
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
                 client_algorithm, resolve_interval, stream_messages, keys, start, ramp, users, think_time, schedule, \
                 trace, retry, retry_same_work, hedging",
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

    fn with_service(service: &str) -> String {
        GOOD.replace("{ dist = \"constant\", value = \"10ms\" }", service)
    }

    /// The one problem a service table has: (key path, message).
    fn service_error(service: &str) -> (String, String) {
        let e = error(&with_service(service), &[]);
        assert!(e.more.is_empty(), "{e}");
        (e.path, e.message)
    }

    #[test]
    fn new_distributions_read_and_write_back() {
        use crate::scenario::{MixturePart, Scenario, ServiceDist};
        const MS: u64 = 1_000_000;
        let cases = [
            ("{ dist = \"pareto\", min = \"1ms\", alpha = 2.5 }", ServiceDist::Pareto { min_ns: MS, alpha: 2.5 }),
            (
                "{ dist = \"weibull\", shape = 0.5, scale = \"2ms\" }",
                ServiceDist::Weibull { shape: 0.5, scale_ns: 2 * MS },
            ),
            ("{ dist = \"gamma\", shape = 2, mean = \"3ms\" }", ServiceDist::Gamma { shape: 2.0, mean_ns: 3 * MS }),
            (
                "{ dist = \"empirical\", samples = [\"3ms\", \"1ms\", \"2ms\"] }",
                ServiceDist::Empirical { samples: vec![MS, 2 * MS, 3 * MS].into(), file: None },
            ),
            (
                "{ dist = \"mixture\", parts = [{ weight = 0.9, dist = \"exponential\", mean = \"1ms\" }, \
                 { weight = 0.1, dist = \"pareto\", min = \"5ms\", alpha = 1.5 }] }",
                ServiceDist::Mixture {
                    parts: vec![
                        MixturePart { weight: 0.9, dist: ServiceDist::Exponential { mean_ns: MS } },
                        MixturePart { weight: 0.1, dist: ServiceDist::Pareto { min_ns: 5 * MS, alpha: 1.5 } },
                    ]
                    .into(),
                },
            ),
        ];
        for (text, want) in cases {
            let s = Scenario::from_toml(&with_service(text)).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(s.servers[0].service, want, "{text}");
            let back = Scenario::from_toml(&s.to_toml()).unwrap_or_else(|e| panic!("{}: {e}", s.to_toml()));
            assert_eq!(back, s, "{text} written back");
        }
    }

    #[test]
    fn bad_distribution_values_name_the_key_and_what_is_allowed() {
        let (path, message) = service_error("{ dist = \"pareto\", min = \"1ms\", alpha = 1 }");
        assert_eq!(path, "servers[0].service.alpha");
        assert_eq!(message, "must be more than 1 (the mean is infinite otherwise), got 1");
        let (path, message) =
            service_error("{ dist = \"mixture\", parts = [{ weight = 0, dist = \"constant\", value = \"1ms\" }] }");
        assert_eq!(path, "servers[0].service.parts[0].weight");
        assert!(message.starts_with("must be more than 0 (weights are relative"), "{message}");
        let (path, message) =
            service_error("{ dist = \"mixture\", parts = [{ weight = 1, dist = \"mixture\", parts = [] }] }");
        assert_eq!(path, "servers[0].service.parts[0].dist");
        assert!(message.contains("cannot be a mixture itself"), "{message}");
        let (path, message) = service_error("{ dist = \"mixture\", parts = [] }");
        assert_eq!((path.as_str(), message.as_str()), ("servers[0].service.parts", "needs at least one part"));
        let (path, message) = service_error("{ dist = \"empirical\", samples = [] }");
        assert_eq!(path, "servers[0].service.samples");
        assert!(message.starts_with("needs at least one sample"), "{message}");
        let (path, message) = service_error("{ dist = \"empirical\", samples = [\"1ms\"], file = \"t.csv\" }");
        assert_eq!(
            (path.as_str(), message.as_str()),
            ("servers[0].service.file", "give either samples or file, not both")
        );
        let (path, message) = service_error("{ dist = \"empirical\" }");
        assert_eq!(path, "servers[0].service");
        assert!(message.starts_with("empirical needs samples = ["), "{message}");
        let (path, message) = service_error("{ dist = \"empirical\", samples = [\"1ms\", \"25h\"] }");
        assert_eq!(
            (path.as_str(), message.as_str()),
            ("servers[0].service.samples[1]", "must be at most 24h, got \"25h\"")
        );
        let (path, message) = service_error("{ dist = \"weibull\", shape = 0, scale = \"1ms\" }");
        assert_eq!(path, "servers[0].service.shape");
        assert!(message.starts_with("must be at least 0.1, got 0"), "{message}");
        // Without a way to read files (the library's `load`, the browser) a file is refused.
        let (path, message) = service_error("{ dist = \"empirical\", file = \"times.csv\" }");
        assert_eq!(path, "servers[0].service.file");
        assert!(message.starts_with("files cannot be read here"), "{message}");
        assert!(message.contains("use samples = [...]"), "{message}");
        // A key of another distribution is named as such.
        let (path, message) = service_error("{ dist = \"pareto\", min = \"1ms\", alpha = 2, mean = \"1ms\" }");
        assert_eq!(path, "servers[0].service.mean");
        assert_eq!(message, "key \"mean\" does not apply to dist = \"pareto\" (it takes: min, alpha)");
    }

    #[test]
    fn sample_files_are_read_through_the_callers_reader() {
        use crate::config::load_with_files;
        let text = with_service("{ dist = \"empirical\", file = \"times.csv\" }");
        let files = |path: &str| -> Result<String, String> {
            match path {
                "times.csv" => Ok("service_ms\n# measured\n\n2.5\n1\n30us\n".to_string()),
                other => Err(format!("cannot read {other}: no such file")),
            }
        };
        let s = load_with_files(&text, Format::Toml, &[], &files).unwrap();
        let crate::scenario::ServiceDist::Empirical { samples, file } = &s.servers[0].service else { panic!() };
        assert_eq!(&samples[..], &[30_000, 1_000_000, 2_500_000]);
        assert_eq!(file.as_deref(), Some("times.csv"));
        // Written back as the file, which reads back to the same samples.
        let toml = s.to_toml();
        assert!(toml.contains("file = \"times.csv\""), "{toml}");
        assert_eq!(load_with_files(&toml, Format::Toml, &[], &files).unwrap(), s);
        // A --set names another file the same way; a reader's error comes after the key path.
        let sets = ["servers[0].service.file=\"other.csv\"".to_string()];
        let e = load_with_files(&text, Format::Toml, &sets, &files).unwrap_err();
        assert_eq!(e.path, "servers[0].service.file");
        assert_eq!(e.message, "cannot read other.csv: no such file");
    }

    #[test]
    fn sample_file_errors_name_the_line() {
        use super::parse_samples;
        assert_eq!(parse_samples("1\n2ms\n", "t.csv"), Ok(vec![1_000_000, 2_000_000]));
        assert_eq!(parse_samples("", "t.csv"), Ok(vec![]));
        let e = parse_samples("ms\n1\n2xs\n", "t.csv").unwrap_err();
        assert!(e.starts_with("t.csv:3: "), "{e}");
        assert!(e.contains("a sample is a number of milliseconds"), "{e}");
        let e = parse_samples("1\n-3\n", "t.csv").unwrap_err();
        assert_eq!(e, "t.csv:2: \"-3\" must be a number of milliseconds, at least 0");
        // Only the first line may be a header.
        let e = parse_samples("# c\n1\nfast\n", "t.csv").unwrap_err();
        assert!(e.starts_with("t.csv:3: "), "{e}");
        let e = parse_samples("1,2\n", "t.csv").unwrap_err();
        assert_eq!(e, "t.csv:1: expected one value per line, got \"1,2\"");
        let e = parse_samples("86400001\n", "t.csv").unwrap_err();
        assert!(e.starts_with("t.csv:1: \"86400001\" ms is more than"), "{e}");
    }
}
