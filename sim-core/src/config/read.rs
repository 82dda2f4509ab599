//! Reading a document tree into a [`Scenario`]: every key checked for type and range, every
//! default filled in, unknown keys refused with the list of allowed ones.

use super::keys;
use super::node::{Key, Node, Origin, Value};
use super::units::{BANDWIDTH_HELP, DURATION_HELP, parse_bandwidth_bps, parse_duration_ns};
use super::{ConfigError, Origins};
use crate::scenario::*;

type Result<T> = std::result::Result<T, ConfigError>;

/// A table being read: tracks which keys were used so the rest can be reported as unknown.
struct Table<'a> {
    path: String,
    origin: Origin,
    entries: &'a [(Key, Node)],
    used: Vec<bool>,
    allowed: &'static [&'static str],
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

    /// A finite number (integer or float) within `[min, max]`.
    fn number(&self, min: f64, max: f64) -> Result<f64> {
        let value = match self.node.value {
            Value::Int(i) => i as f64,
            Value::Float(f) => f,
            _ => return Err(self.wrong_type("a number")),
        };
        if value.is_nan() {
            return Err(self.err("must be a number, got nan"));
        }
        if value.is_infinite() {
            return Err(self.err(format!("must be at most {}, got {value}", fmt_num(max))));
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
        match self.node.value {
            Value::Int(i) => {
                if i < 0 || (i as u64) < min {
                    Err(self.err(format!("must be at least {min}, got {i}")))
                } else if i as u64 > max {
                    Err(self.err(format!("must be at most {max}, got {i}")))
                } else {
                    Ok(i as u64)
                }
            }
            Value::Float(f) if f.is_finite() && f.fract() == 0.0 && f >= 0.0 && f <= max as f64 => {
                let v = f as u64;
                if v < min { Err(self.err(format!("must be at least {min}, got {f}"))) } else { Ok(v) }
            }
            Value::Float(f) if f.is_nan() => Err(self.err("must be a whole number, got nan")),
            Value::Float(f) if f.is_finite() && f.fract() != 0.0 => {
                Err(self.err(format!("must be a whole number, got {f}")))
            }
            Value::Float(f) if f < 0.0 => Err(self.err(format!("must be at least {min}, got {f}"))),
            Value::Float(f) => Err(self.err(format!("must be at most {max}, got {f}"))),
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
            Value::Int(_) | Value::Float(_) => {
                return Err(
                    self.err(format!("a duration needs a unit, e.g. \"{}ms\"; {DURATION_HELP}", node_num(self.node)))
                );
            }
            _ => return Err(self.wrong_type("a duration string")),
        };
        let ns = parse_duration_ns(text).map_err(|why| self.err(format!("{why}; {DURATION_HELP}")))?;
        if ns < min_ns {
            return Err(self.err(format!("must be at least {}, got \"{text}\"", super::units::format_duration(min_ns))));
        }
        if ns > max_ns {
            return Err(self.err(format!("must be at most {}, got \"{text}\"", super::units::format_duration(max_ns))));
        }
        Ok(ns)
    }

    /// One of a fixed set of names.
    fn choice<T: Copy>(&self, options: &[(&str, T)]) -> Result<T> {
        let text = self.str()?;
        options.iter().find(|(name, _)| *name == text).map(|(_, v)| *v).ok_or_else(|| {
            let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
            self.err(format!("unknown value \"{text}\"; allowed: {}", names.join(", ")))
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

fn node_num(node: &Node) -> String {
    match node.value {
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        _ => String::new(),
    }
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v}") }
}

impl<'a> Table<'a> {
    fn get(&mut self, key: &str, origins: &mut Origins) -> Option<Field<'a>> {
        debug_assert!(self.allowed.contains(&key), "reader asks for undeclared key {key}");
        let i = self.entries.iter().position(|(k, _)| k.name == key)?;
        self.used[i] = true;
        let path = if self.path.is_empty() { key.to_string() } else { format!("{}.{key}", self.path) };
        origins.record(&path, &self.entries[i].1.origin);
        Some(Field { path, node: &self.entries[i].1 })
    }

    fn require(&mut self, key: &str, origins: &mut Origins) -> Result<Field<'a>> {
        if let Some(field) = self.get(key, origins) {
            return Ok(field);
        }
        // A typo of the required key is the likelier mistake: say so first.
        if let Some((k, _)) = self
            .entries
            .iter()
            .find(|(k, _)| !self.allowed.contains(&k.name.as_str()) && closest(&k.name, &[key]).is_some())
        {
            let path = if self.path.is_empty() { k.name.clone() } else { format!("{}.{}", self.path, k.name) };
            return Err(ConfigError::new(
                k.origin.clone(),
                path,
                format!(
                    "unknown key \"{}\" (did you mean \"{key}\"?); allowed keys here: {}",
                    k.name,
                    self.allowed.join(", ")
                ),
            ));
        }
        let path = if self.path.is_empty() { key.to_string() } else { format!("{}.{key}", self.path) };
        Err(ConfigError::new(self.origin.clone(), path, "is required but missing"))
    }

    /// Refuses keys nobody asked for.
    fn finish(self) -> Result<()> {
        for ((key, _), used) in self.entries.iter().zip(&self.used) {
            if !used {
                let path = if self.path.is_empty() { key.name.clone() } else { format!("{}.{}", self.path, key.name) };
                let mut message = format!("unknown key \"{}\"", key.name);
                if let Some(close) = closest(&key.name, self.allowed) {
                    message.push_str(&format!(" (did you mean \"{close}\"?)"));
                }
                message.push_str(&format!("; allowed keys here: {}", self.allowed.join(", ")));
                return Err(ConfigError::new(key.origin.clone(), path, message));
            }
        }
        Ok(())
    }
}

/// The allowed key closest to a typo, if any is close enough to suggest.
fn closest<'k>(word: &str, allowed: &[&'k str]) -> Option<&'k str> {
    allowed
        .iter()
        .map(|a| (edit_distance(word, a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 4))
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
const MAX_BYTES: u64 = 1 << 40;

fn name(field: &Field<'_>) -> Result<String> {
    let text = field.str()?;
    let valid = !text.is_empty()
        && text.len() <= MAX_NAME_LEN
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && text.starts_with(|c: char| c.is_ascii_alphabetic());
    if !valid {
        return Err(field.err(format!(
            "\"{text}\" is not a valid name: use 1 to {MAX_NAME_LEN} letters, digits, '-' or '_', starting with a letter"
        )));
    }
    Ok(text.to_string())
}

/// Reads the whole scenario.
pub(super) fn scenario(root: &Node) -> Result<(Scenario, Origins)> {
    let mut o = Origins::default();
    let top = Field { path: String::new(), node: root };
    let mut t = top.table(keys::SCENARIO)?;
    let name_field = t.require("name", &mut o)?;
    let scenario_name = name_field.str()?.to_string();
    if scenario_name.is_empty() || scenario_name.len() > 200 {
        return Err(name_field.err("must be 1 to 200 characters"));
    }
    let description = match t.get("description", &mut o) {
        Some(f) => f.str()?.to_string(),
        None => String::new(),
    };
    let seed = match t.get("seed", &mut o) {
        Some(f) => f.uint(0, i64::MAX as u64)?,
        None => 1,
    };
    let duration_ns = t.require("duration", &mut o)?.duration(1, MAX_DURATION_NS)?;
    let warmup_ns = match t.get("warmup", &mut o) {
        Some(f) => f.duration(0, MAX_DURATION_NS)?,
        None => 0,
    };
    let limits = match t.get("limits", &mut o) {
        Some(f) => limits(&f, &mut o)?,
        None => Limits::default(),
    };
    let servers = group_list(t.require("servers", &mut o)?, &mut o, server_group, "server")?;
    let clients = group_list(t.require("clients", &mut o)?, &mut o, client_group, "client")?;
    let balancer = match t.get("balancer", &mut o) {
        Some(f) => balancer(&f, &mut o)?,
        None => BalancerSpec::default(),
    };
    let network = match t.get("network", &mut o) {
        Some(f) => network(&f, &mut o)?,
        None => Network::default(),
    };
    let session_store = match t.get("session_store", &mut o) {
        Some(f) => {
            let mut s = f.table(keys::SESSION_STORE)?;
            let latency_ns = match s.get("latency", &mut o) {
                Some(f) => f.duration(0, 3600 * NS_PER_SEC)?,
                None => 0,
            };
            s.finish()?;
            Some(SessionStore { latency_ns })
        }
        None => None,
    };
    let events = match t.get("events", &mut o) {
        Some(f) => {
            let items = f.array()?;
            if items.len() > 10_000 {
                return Err(f.err(format!("has {} events; at most 10000 are allowed", items.len())));
            }
            items.iter().map(|item| event(item, &mut o)).collect::<Result<Vec<_>>>()?
        }
        None => Vec::new(),
    };
    let report = match t.get("report", &mut o) {
        Some(f) => {
            let mut r = f.table(keys::REPORT)?;
            let mut options = ReportOptions::default();
            if let Some(f) = r.get("interval", &mut o) {
                options.interval_ns = f.duration(1_000_000, MAX_DURATION_NS)?;
            }
            r.finish()?;
            options
        }
        None => ReportOptions::default(),
    };
    t.finish()?;
    let scenario = Scenario {
        name: scenario_name,
        description,
        seed,
        duration_ns,
        warmup_ns,
        servers,
        clients,
        balancer,
        network,
        session_store,
        events,
        limits,
        report,
    };
    Ok((scenario, o))
}

fn group_list<T>(
    field: Field<'_>,
    o: &mut Origins,
    read: fn(&Field<'_>, &mut Origins) -> Result<T>,
    what: &str,
) -> Result<Vec<T>> {
    let items = field.array()?;
    if items.is_empty() {
        return Err(field.err(format!("needs at least one {what} group")));
    }
    if items.len() > 1_000 {
        return Err(field.err(format!("has {} groups; at most 1000 are allowed", items.len())));
    }
    items.iter().map(|item| read(item, o)).collect()
}

fn service(field: &Field<'_>, o: &mut Origins) -> Result<ServiceDist> {
    let mut t = field.table(keys::SERVICE)?;
    let dist = t.require("dist", o)?;
    const MAX: u64 = 24 * 3600 * NS_PER_SEC;
    let kind = dist.choice(&[("constant", 0), ("exponential", 1), ("uniform", 2), ("lognormal", 3)])?;
    let result = match kind {
        0 => ServiceDist::Constant { value_ns: t.require("value", o)?.duration(0, MAX)? },
        1 => ServiceDist::Exponential { mean_ns: t.require("mean", o)?.duration(1, MAX)? },
        2 => {
            let min_ns = t.require("min", o)?.duration(0, MAX)?;
            let max_field = t.require("max", o)?;
            let max_ns = max_field.duration(0, MAX)?;
            if max_ns < min_ns {
                return Err(max_field.err("must be at least min"));
            }
            ServiceDist::Uniform { min_ns, max_ns }
        }
        _ => {
            let p50_ns = t.require("p50", o)?.duration(1, MAX)?;
            let p99_field = t.require("p99", o)?;
            let p99_ns = p99_field.duration(1, MAX)?;
            if p99_ns <= p50_ns {
                return Err(p99_field.err("must be more than p50"));
            }
            if p99_ns / p50_ns > 1_000 {
                return Err(p99_field.err("must be at most 1000 × p50 (the tail would be unbounded in practice)"));
            }
            ServiceDist::Lognormal { p50_ns, p99_ns }
        }
    };
    t.finish().map_err(|mut e| {
        e.message.push_str(&format!(" (dist \"{}\" takes only its own parameters)", dist.str().unwrap_or("")));
        e
    })?;
    Ok(result)
}

fn server_group(field: &Field<'_>, o: &mut Origins) -> Result<ServerGroup> {
    let mut t = field.table(keys::SERVER_GROUP)?;
    let name = name(&t.require("name", o)?)?;
    let service = service(&t.require("service", o)?, o)?;
    let mut g = ServerGroup::new(&name, 1, service);
    if let Some(f) = t.get("count", o) {
        g.count = f.u32(0, MAX_COUNT)?;
    }
    if let Some(f) = t.get("pool", o) {
        g.pool = self::name(&f)?;
    }
    if let Some(f) = t.get("weight", o) {
        g.weight = f.u32(1, 1_000)?;
    }
    if let Some(f) = t.get("workers", o) {
        g.workers = f.u32(1, 100_000)?;
    }
    if let Some(f) = t.get("queue", o) {
        g.queue = Some(f.u32(0, 100_000_000)?);
    }
    if let Some(f) = t.get("backup", o) {
        g.backup = f.bool()?;
    }
    if let Some(f) = t.get("max_connection_age", o) {
        g.max_connection_age_ns = Some(f.duration(NS_PER_SEC / 1000, MAX_DURATION_NS)?);
    }
    t.finish()?;
    Ok(g)
}

fn client_group(field: &Field<'_>, o: &mut Origins) -> Result<ClientGroup> {
    let mut t = field.table(keys::CLIENT_GROUP)?;
    let name = name(&t.require("name", o)?)?;
    let rate = t.require("rate", o)?.number(0.0, MAX_RATE)?;
    let mut g = ClientGroup::new(&name, 1, rate);
    if let Some(f) = t.get("count", o) {
        g.count = f.u32(0, MAX_COUNT)?;
    }
    g.source_ips = g.count.max(1);
    if let Some(f) = t.get("source_ips", o) {
        g.source_ips = f.u32(1, MAX_COUNT)?;
        if g.source_ips > g.count.max(1) {
            return Err(f.err(format!("must be at most count ({}): each client has one address", g.count)));
        }
    }
    if let Some(f) = t.get("protocol", o) {
        g.protocol =
            f.choice(&[("http1", Protocol::Http1), ("http2", Protocol::Http2), ("websocket", Protocol::WebSocket)])?;
    }
    if let Some(f) = t.get("connections", o) {
        g.connections = f.u32(1, 10_000)?;
    }
    if let Some(f) = t.get("max_streams", o) {
        g.max_streams = f.u32(1, 1_000_000)?;
    }
    if let Some(f) = t.get("rate_skew", o) {
        g.rate_skew = f.number(0.0, 10.0)?;
    }
    if let Some(f) = t.get("arrival", o) {
        g.arrival = f.choice(&[("poisson", Arrival::Poisson), ("constant", Arrival::Constant)])?;
    }
    if let Some(f) = t.get("timeout", o) {
        g.timeout_ns = Some(f.duration(1_000, 24 * 3600 * NS_PER_SEC)?);
    }
    if let Some(f) = t.get("retries", o) {
        g.retries = f.u32(0, 100)?;
    }
    if let Some(f) = t.get("request_bytes", o) {
        g.request_bytes = f.uint(0, MAX_BYTES)?;
    }
    if let Some(f) = t.get("response_bytes", o) {
        g.response_bytes = f.uint(0, MAX_BYTES)?;
    }
    if let Some(f) = t.get("serialize_per_kb", o) {
        g.serialize_per_kb_ns = f.duration(0, NS_PER_SEC)?;
    }
    if let Some(f) = t.get("session_requests", o) {
        g.session_requests = Some(f.u32(1, 1_000_000_000)?);
    }
    if let Some(f) = t.get("paths", o) {
        let mut p = f.table(keys::PATHS)?;
        let mut paths = Vec::new();
        for (key, node) in p.entries {
            let field = Field { path: format!("{}.\"{}\"", f.path, key.name), node };
            o.record(&field.path, &node.origin);
            if !key.name.starts_with('/') || key.name.len() > 200 {
                return Err(ConfigError::new(
                    key.origin.clone(),
                    field.path,
                    "a path must start with '/' (at most 200 characters)",
                ));
            }
            paths.push((key.name.clone(), field.number(0.0, 1e9)?));
        }
        p.used.iter_mut().for_each(|u| *u = true);
        if paths.is_empty() {
            return Err(f.err("needs at least one path"));
        }
        if paths.len() > 1_000 {
            return Err(f.err("has more than 1000 paths"));
        }
        if paths.iter().all(|(_, w)| *w == 0.0) {
            return Err(f.err("needs at least one path with a weight above 0"));
        }
        g.paths = paths;
    }
    if let Some(f) = t.get("balancing", o) {
        g.balancing = f.choice(&[("proxy", Balancing::Proxy), ("client", Balancing::Client)])?;
    }
    if let Some(f) = t.get("client_algorithm", o) {
        g.client_algorithm =
            f.choice(&[("pick_first", ClientAlgorithm::PickFirst), ("round_robin", ClientAlgorithm::RoundRobin)])?;
    }
    if let Some(f) = t.get("resolve_interval", o) {
        g.resolve_interval_ns = f.duration(NS_PER_SEC / 1000, MAX_DURATION_NS)?;
    }
    if let Some(f) = t.get("stream_messages", o) {
        g.stream_messages = Some(f.u32(1, 1_000_000_000)?);
    }
    if let Some(f) = t.get("keys", o) {
        let mut k = f.table(keys::KEY_SPACE)?;
        let count = k.require("count", o)?.u32(1, 100_000_000)?;
        let skew = match k.get("skew", o) {
            Some(f) => f.number(0.0, 10.0)?,
            None => 0.0,
        };
        k.finish()?;
        g.keys = Some(KeySpace { count, skew });
    }
    t.finish()?;
    Ok(g)
}

fn rate_limit(field: &Field<'_>, o: &mut Origins) -> Result<RateLimit> {
    let mut t = field.table(keys::RATE_LIMIT)?;
    let mut found = Vec::new();
    for (key, window_ns) in
        [("per_second", NS_PER_SEC), ("per_minute", 60 * NS_PER_SEC), ("per_hour", 3600 * NS_PER_SEC)]
    {
        if let Some(f) = t.get(key, o) {
            found.push((f.uint(1, 1_000_000_000_000)?, window_ns));
        }
    }
    if found.len() != 1 {
        return Err(field.err("needs exactly one of per_second, per_minute, per_hour"));
    }
    let (limit, window_ns) = found[0];
    let key = match t.get("key", o) {
        Some(f) => f.choice(&[("client", RateKey::Client), ("ip", RateKey::Ip), ("global", RateKey::Global)])?,
        None => RateKey::Client,
    };
    let kind_name = match t.get("kind", o) {
        Some(f) => f.choice(&[("fixed_window", false), ("leaky_bucket", true)])?,
        None => false,
    };
    let burst = t.get("burst", o).map(|f| f.u32(0, 1_000_000_000)).transpose()?;
    let nodelay = t.get("nodelay", o).map(|f| f.bool()).transpose()?;
    let kind = if kind_name {
        RateLimitKind::LeakyBucket { burst: burst.unwrap_or(0), nodelay: nodelay.unwrap_or(false) }
    } else {
        if burst.is_some() || nodelay.is_some() {
            return Err(field.err("burst and nodelay belong to kind = \"leaky_bucket\""));
        }
        RateLimitKind::FixedWindow
    };
    t.finish()?;
    Ok(RateLimit { limit, window_ns, key, kind })
}

fn balancer(field: &Field<'_>, o: &mut Origins) -> Result<BalancerSpec> {
    let mut t = field.table(keys::BALANCER)?;
    let mut b = BalancerSpec::default();
    if let Some(f) = t.get("layer", o) {
        b.layer = f.choice(&[("l4", Layer::L4), ("l7", Layer::L7)])?;
    }
    if let Some(f) = t.get("algorithm", o) {
        b.algorithm = algorithm(&f)?;
    }
    if let Some(f) = t.get("choices", o) {
        b.choices = f.u32(1, 100)?;
    }
    if let Some(f) = t.get("hash_key", o) {
        b.hash_key = hash_key(&f)?;
    }
    if let Some(f) = t.get("replicas", o) {
        b.replicas = f.u32(1, 1_000)?;
    }
    if let Some(f) = t.get("overhead", o) {
        b.overhead_ns = f.duration(0, NS_PER_SEC * 60)?;
    }
    if let Some(f) = t.get("auth", o) {
        b.auth_ns = f.duration(0, NS_PER_SEC * 60)?;
    }
    if let Some(f) = t.get("workers", o) {
        b.workers = Some(f.u32(1, 1_000_000)?);
    }
    if let Some(f) = t.get("health_check", o) {
        let mut h = f.table(keys::HEALTH_CHECK)?;
        let mut hc = HealthCheck { interval_ns: 2 * NS_PER_SEC, timeout_ns: NS_PER_SEC, rise: 2, fall: 3 };
        if let Some(f) = h.get("interval", o) {
            hc.interval_ns = f.duration(NS_PER_SEC / 1000, 3600 * NS_PER_SEC)?;
        }
        if let Some(f) = h.get("timeout", o) {
            hc.timeout_ns = f.duration(NS_PER_SEC / 1_000_000, 3600 * NS_PER_SEC)?;
        }
        if let Some(f) = h.get("rise", o) {
            hc.rise = f.u32(1, 1_000)?;
        }
        if let Some(f) = h.get("fall", o) {
            hc.fall = f.u32(1, 1_000)?;
        }
        h.finish()?;
        b.health_check = Some(hc);
    }
    if let Some(f) = t.get("passive", o) {
        let mut p = f.table(keys::PASSIVE)?;
        let mut passive = Passive { max_fails: 1, fail_timeout_ns: 10 * NS_PER_SEC };
        if let Some(f) = p.get("max_fails", o) {
            passive.max_fails = f.u32(0, 1_000_000)?;
        }
        if let Some(f) = p.get("fail_timeout", o) {
            passive.fail_timeout_ns = f.duration(NS_PER_SEC / 1000, 24 * 3600 * NS_PER_SEC)?;
        }
        p.finish()?;
        b.passive = Some(passive);
    }
    if let Some(f) = t.get("sticky", o) {
        b.sticky = sticky(&f)?;
    }
    if let Some(f) = t.get("rate_limit", o) {
        b.rate_limit = Some(rate_limit(&f, o)?);
    }
    if let Some(f) = t.get("routes", o) {
        let items = f.array()?;
        if items.len() > 1_000 {
            return Err(f.err("has more than 1000 routes"));
        }
        for item in items {
            let mut r = item.table(keys::ROUTE)?;
            let prefix_field = r.require("prefix", o)?;
            let prefix = prefix_field.str()?.to_string();
            if !prefix.starts_with('/') {
                return Err(prefix_field.err("a prefix must start with '/'"));
            }
            let pool = name(&r.require("pool", o)?)?;
            let rate_limit = r.get("rate_limit", o).map(|f| rate_limit(&f, o)).transpose()?;
            r.finish()?;
            b.routes.push(Route { prefix, pool, rate_limit });
        }
    }
    if let Some(f) = t.get("balance_factor", o) {
        b.balance_factor = f.number(1.0, 100.0)?;
    }
    if let Some(f) = t.get("panic_threshold", o) {
        b.panic_threshold = Some(f.number(0.0, 100.0)?);
    }
    if let Some(f) = t.get("table_size", o) {
        let size = f.u32(2, 5_000_011)?;
        if !is_prime(size) {
            return Err(f.err(format!("must be a prime number (Envoy requires it), got {size}; e.g. 65537 or 5000011")));
        }
        b.table_size = size;
    }
    if let Some(f) = t.get("ring_size", o) {
        b.ring_size = f.u32(1, 8_388_608)?;
    }
    if let Some(f) = t.get("peak_ewma", o) {
        let mut p = f.table(keys::PEAK_EWMA)?;
        if let Some(f) = p.get("decay", o) {
            b.peak_ewma.decay_ns = f.duration(NS_PER_SEC / 1000, 3600 * NS_PER_SEC)?;
        }
        if let Some(f) = p.get("default_rtt", o) {
            b.peak_ewma.default_rtt_ns = f.duration(0, 3600 * NS_PER_SEC)?;
        }
        p.finish()?;
    }
    if let Some(f) = t.get("dns_ttl", o) {
        b.dns_ttl_ns = f.duration(NS_PER_SEC / 1000, MAX_DURATION_NS)?;
    }
    if let Some(f) = t.get("retry_on_error", o) {
        b.retry_on_error = f.u32(0, 100)?;
    }
    t.finish()?;
    Ok(b)
}

fn network(field: &Field<'_>, o: &mut Origins) -> Result<Network> {
    let mut t = field.table(keys::NETWORK)?;
    let mut n = Network::default();
    if let Some(f) = t.get("latency", o) {
        n.latency_ns = f.duration(0, 60 * NS_PER_SEC)?;
    }
    if let Some(f) = t.get("upstream_latency", o) {
        n.upstream_latency_ns = Some(f.duration(0, 60 * NS_PER_SEC)?);
    }
    if let Some(f) = t.get("bandwidth", o) {
        let text = f.str().map_err(|_| f.err(format!("expected a bandwidth string; {BANDWIDTH_HELP}")))?;
        n.bandwidth_bps = Some(parse_bandwidth_bps(text).map_err(|why| f.err(format!("{why}; {BANDWIDTH_HELP}")))?);
    }
    if let Some(f) = t.get("tls_handshake", o) {
        n.tls_handshake_ns = f.duration(0, 60 * NS_PER_SEC)?;
    }
    t.finish()?;
    Ok(n)
}

fn limits(field: &Field<'_>, o: &mut Origins) -> Result<Limits> {
    let mut t = field.table(keys::LIMITS)?;
    let mut l = Limits::default();
    if let Some(f) = t.get("max_requests", o) {
        l.max_requests = f.uint(1, 1 << 40)?;
    }
    if let Some(f) = t.get("max_events", o) {
        l.max_events = f.uint(1, 1 << 48)?;
    }
    if let Some(f) = t.get("max_in_flight", o) {
        l.max_in_flight = f.uint(1, 1 << 32)?;
    }
    if let Some(f) = t.get("max_servers", o) {
        l.max_servers = f.u32(1, 10_000_000)?;
    }
    if let Some(f) = t.get("max_clients", o) {
        l.max_clients = f.u32(1, 10_000_000)?;
    }
    if let Some(f) = t.get("max_duration", o) {
        l.max_duration_ns = f.duration(1, MAX_DURATION_NS)?;
    }
    if let Some(f) = t.get("max_memory_mb", o) {
        l.max_memory_mb = f.uint(1, 1 << 24)?;
    }
    t.finish()?;
    Ok(l)
}

fn algorithm(field: &Field<'_>) -> Result<Algorithm> {
    let text = field.str()?;
    Algorithm::from_name(text)
        .ok_or_else(|| field.err(format!("unknown algorithm \"{text}\"; allowed: {}", Algorithm::names())))
}

fn hash_key(field: &Field<'_>) -> Result<HashKey> {
    let text = field.str()?;
    match text {
        "source_ip" => Ok(HashKey::SourceIp),
        "session" => Ok(HashKey::Session),
        "path" => Ok(HashKey::Path),
        other => match other.strip_prefix("header:") {
            Some(h) if !h.is_empty() && h.len() <= 100 => Ok(HashKey::Header(h.to_string())),
            _ => {
                Err(field.err(format!("unknown hash key \"{text}\"; allowed: source_ip, session, path, header:<name>")))
            }
        },
    }
}

fn sticky(field: &Field<'_>) -> Result<Sticky> {
    field.choice(&[("none", Sticky::None), ("cookie", Sticky::Cookie), ("source_ip", Sticky::SourceIp)])
}

fn event(field: &Field<'_>, o: &mut Origins) -> Result<TimelineEvent> {
    let mut t = field.table(keys::EVENT)?;
    let at_ns = t.require("at", o)?.duration(0, MAX_DURATION_NS)?;
    let action_field = t.require("action", o)?;
    let action_name = action_field.str()?;
    let mut target = |t: &mut Table<'_>| -> Result<String> { name(&t.require("target", o)?) };
    let action = match action_name {
        "crash" => Action::Crash { target: target(&mut t)? },
        "recover" => Action::Recover { target: target(&mut t)? },
        "slow" => {
            let target = target(&mut t)?;
            let factor = t.require("factor", o)?.number(0.001, 10_000.0)?;
            Action::Slow { target, factor }
        }
        "add" | "remove" => {
            let target = target(&mut t)?;
            let count = match t.get("count", o) {
                Some(f) => f.u32(1, MAX_COUNT)?,
                None => 1,
            };
            if action_name == "add" { Action::Add { target, count } } else { Action::Remove { target, count } }
        }
        "set_algorithm" => Action::SetAlgorithm { algorithm: algorithm(&t.require("algorithm", o)?)? },
        "set_rate" => {
            let target = target(&mut t)?;
            let rate = t.require("rate", o)?.number(0.0, MAX_RATE)?;
            Action::SetRate { target, rate }
        }
        "store_down" => Action::StoreDown,
        "store_up" => Action::StoreUp,
        "set_layer" => {
            Action::SetLayer { layer: t.require("layer", o)?.choice(&[("l4", Layer::L4), ("l7", Layer::L7)])? }
        }
        "set_sticky" => Action::SetSticky { sticky: sticky(&t.require("sticky", o)?)? },
        other => {
            return Err(action_field.err(format!("unknown action \"{other}\"; allowed: {}", Action::NAMES)));
        }
    };
    t.finish().map_err(|mut e| {
        e.message.push_str(&format!(" (not used by action \"{action_name}\")"));
        e
    })?;
    Ok(TimelineEvent { at_ns, action })
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
