//! Writing a [`Scenario`] back as a TOML scenario file (only values that differ from the
//! defaults), so a scenario built in code, a shrunk counterexample or a browser session can be
//! replayed with `lbsim run`.

use toml::{Table, Value};

use super::units::{format_bandwidth, format_duration};
use crate::scenario::*;

fn dur(ns: u64) -> Value {
    Value::String(format_duration(ns))
}

fn int(v: u64) -> Value {
    Value::Integer(v as i64)
}

fn table(entries: Vec<(&str, Value)>) -> Value {
    let mut t = Table::new();
    for (k, v) in entries {
        t.insert(k.to_string(), v);
    }
    Value::Table(t)
}

/// Puts `value` under `key` unless it equals the default.
fn put<T: PartialEq>(t: &mut Table, key: &str, value: T, default: T, to: impl Fn(T) -> Value) {
    if value != default {
        t.insert(key.to_string(), to(value));
    }
}

fn service(d: &ServiceDist) -> Value {
    match *d {
        ServiceDist::Constant { value_ns } => table(vec![("dist", "constant".into()), ("value", dur(value_ns))]),
        ServiceDist::Exponential { mean_ns } => table(vec![("dist", "exponential".into()), ("mean", dur(mean_ns))]),
        ServiceDist::Uniform { min_ns, max_ns } => {
            table(vec![("dist", "uniform".into()), ("min", dur(min_ns)), ("max", dur(max_ns))])
        }
        ServiceDist::Lognormal { p50_ns, p99_ns } => {
            table(vec![("dist", "lognormal".into()), ("p50", dur(p50_ns)), ("p99", dur(p99_ns))])
        }
    }
}

fn rate_limit(r: &RateLimit) -> Value {
    let mut t = Table::new();
    let key = match r.window_ns {
        w if w == NS_PER_SEC => "per_second",
        w if w == 3600 * NS_PER_SEC => "per_hour",
        _ => "per_minute",
    };
    t.insert(key.into(), int(r.limit));
    t.insert(
        "key".into(),
        match r.key {
            RateKey::Client => "client",
            RateKey::Ip => "ip",
            RateKey::Global => "global",
        }
        .into(),
    );
    if let RateLimitKind::LeakyBucket { burst, nodelay } = r.kind {
        t.insert("kind".into(), "leaky_bucket".into());
        t.insert("burst".into(), int(u64::from(burst)));
        t.insert("nodelay".into(), Value::Boolean(nodelay));
    }
    Value::Table(t)
}

fn layer(l: Layer) -> Value {
    Value::String(if l == Layer::L4 { "l4" } else { "l7" }.into())
}

fn sticky(s: Sticky) -> Value {
    Value::String(
        match s {
            Sticky::None => "none",
            Sticky::Cookie => "cookie",
            Sticky::SourceIp => "source_ip",
        }
        .into(),
    )
}

fn hash_key(h: &HashKey) -> Value {
    Value::String(match h {
        HashKey::SourceIp => "source_ip".into(),
        HashKey::Session => "session".into(),
        HashKey::Path => "path".into(),
        HashKey::Header(name) => format!("header:{name}"),
    })
}

/// Writes the scenario as TOML.
pub(crate) fn to_toml(s: &Scenario) -> String {
    let mut root = Table::new();
    root.insert("name".into(), s.name.clone().into());
    if !s.description.is_empty() {
        root.insert("description".into(), s.description.clone().into());
    }
    root.insert("seed".into(), int(s.seed));
    root.insert("duration".into(), dur(s.duration_ns));
    put(&mut root, "warmup", s.warmup_ns, 0, dur);

    let servers: Vec<Value> = s.servers.iter().map(server_group).collect();
    root.insert("servers".into(), Value::Array(servers));
    let clients: Vec<Value> = s.clients.iter().map(client_group).collect();
    root.insert("clients".into(), Value::Array(clients));

    let b = balancer(&s.balancer);
    if !b.is_empty() {
        root.insert("balancer".into(), Value::Table(b));
    }
    let mut n = Table::new();
    put(&mut n, "latency", s.network.latency_ns, 0, dur);
    if let Some(ns) = s.network.upstream_latency_ns {
        n.insert("upstream_latency".into(), dur(ns));
    }
    if let Some(bps) = s.network.bandwidth_bps {
        n.insert("bandwidth".into(), Value::String(format_bandwidth(bps)));
    }
    put(&mut n, "tls_handshake", s.network.tls_handshake_ns, 0, dur);
    if !n.is_empty() {
        root.insert("network".into(), Value::Table(n));
    }
    if let Some(store) = s.session_store {
        root.insert("session_store".into(), table(vec![("latency", dur(store.latency_ns))]));
    }
    if !s.events.is_empty() {
        root.insert("events".into(), Value::Array(s.events.iter().map(event).collect()));
    }
    let mut l = Table::new();
    let d = Limits::default();
    put(&mut l, "max_requests", s.limits.max_requests, d.max_requests, int);
    put(&mut l, "max_events", s.limits.max_events, d.max_events, int);
    put(&mut l, "max_in_flight", s.limits.max_in_flight, d.max_in_flight, int);
    put(&mut l, "max_servers", s.limits.max_servers, d.max_servers, |v| int(u64::from(v)));
    put(&mut l, "max_clients", s.limits.max_clients, d.max_clients, |v| int(u64::from(v)));
    put(&mut l, "max_duration", s.limits.max_duration_ns, d.max_duration_ns, dur);
    put(&mut l, "max_memory_mb", s.limits.max_memory_mb, d.max_memory_mb, int);
    if !l.is_empty() {
        root.insert("limits".into(), Value::Table(l));
    }
    if s.report != ReportOptions::default() {
        root.insert("report".into(), table(vec![("interval", dur(s.report.interval_ns))]));
    }
    toml::to_string(&root).unwrap_or_else(|e| format!("# could not write the scenario: {e}\n"))
}

fn server_group(g: &ServerGroup) -> Value {
    let mut t = Table::new();
    t.insert("name".into(), g.name.clone().into());
    t.insert("count".into(), int(u64::from(g.count)));
    put(&mut t, "pool", g.pool.as_str(), "default", |p| p.into());
    put(&mut t, "weight", g.weight, 1, |v| int(u64::from(v)));
    put(&mut t, "workers", g.workers, 1, |v| int(u64::from(v)));
    if let Some(q) = g.queue {
        t.insert("queue".into(), int(u64::from(q)));
    }
    t.insert("service".into(), service(&g.service));
    put(&mut t, "backup", g.backup, false, Value::Boolean);
    if let Some(age) = g.max_connection_age_ns {
        t.insert("max_connection_age".into(), dur(age));
    }
    Value::Table(t)
}

fn client_group(c: &ClientGroup) -> Value {
    let d = ClientGroup::new(&c.name, c.count, c.rate);
    let mut t = Table::new();
    t.insert("name".into(), c.name.clone().into());
    t.insert("count".into(), int(u64::from(c.count)));
    if c.source_addresses.is_empty() {
        put(&mut t, "source_ips", c.source_ips, c.count.max(1), |v| int(u64::from(v)));
    } else {
        let list = c.source_addresses.iter().map(|&a| std::net::Ipv4Addr::from(a).to_string().into()).collect();
        t.insert("source_addresses".into(), Value::Array(list));
    }
    put(&mut t, "protocol", c.protocol, d.protocol, |p| p.name().into());
    put(&mut t, "connections", c.connections, d.connections, |v| int(u64::from(v)));
    put(&mut t, "max_streams", c.max_streams, d.max_streams, |v| int(u64::from(v)));
    t.insert("rate".into(), Value::Float(c.rate));
    put(&mut t, "rate_skew", c.rate_skew, 0.0, Value::Float);
    put(&mut t, "arrival", c.arrival, d.arrival, |a| {
        if a == Arrival::Constant { "constant" } else { "poisson" }.into()
    });
    if let Some(timeout) = c.timeout_ns {
        t.insert("timeout".into(), dur(timeout));
    }
    put(&mut t, "retries", c.retries, 0, |v| int(u64::from(v)));
    put(&mut t, "request_bytes", c.request_bytes, 0, int);
    put(&mut t, "response_bytes", c.response_bytes, 0, int);
    put(&mut t, "serialize_per_kb", c.serialize_per_kb_ns, 0, dur);
    if let Some(n) = c.session_requests {
        t.insert("session_requests".into(), int(u64::from(n)));
    }
    if c.paths != d.paths {
        let mut p = Table::new();
        for (path, weight) in &c.paths {
            p.insert(path.clone(), Value::Float(*weight));
        }
        t.insert("paths".into(), Value::Table(p));
    }
    put(&mut t, "balancing", c.balancing, d.balancing, |b| {
        if b == Balancing::Client { "client" } else { "proxy" }.into()
    });
    put(&mut t, "client_algorithm", c.client_algorithm, d.client_algorithm, |a| a.policy().name().into());
    put(&mut t, "resolve_interval", c.resolve_interval_ns, d.resolve_interval_ns, dur);
    if let Some(n) = c.stream_messages {
        t.insert("stream_messages".into(), int(u64::from(n)));
    }
    if let Some(k) = c.keys {
        t.insert("keys".into(), table(vec![("count", int(u64::from(k.count))), ("skew", Value::Float(k.skew))]));
    }
    put(&mut t, "start", c.start_ns, 0, dur);
    put(&mut t, "ramp", c.ramp_ns, 0, dur);
    Value::Table(t)
}

fn balancer(b: &BalancerSpec) -> Table {
    let d = BalancerSpec::default();
    let mut t = Table::new();
    put(&mut t, "layer", b.layer, d.layer, layer);
    put(&mut t, "algorithm", b.algorithm, d.algorithm, |a| a.name().into());
    put(&mut t, "choices", b.choices, d.choices, |v| int(u64::from(v)));
    put(&mut t, "hash_key", &b.hash_key, &d.hash_key, hash_key);
    put(&mut t, "replicas", b.replicas, d.replicas, |v| int(u64::from(v)));
    put(&mut t, "overhead", b.overhead_ns, 0, dur);
    put(&mut t, "auth", b.auth_ns, 0, dur);
    if let Some(w) = b.workers {
        t.insert("workers".into(), int(u64::from(w)));
    }
    if let Some(h) = b.health_check {
        t.insert(
            "health_check".into(),
            table(vec![
                ("interval", dur(h.interval_ns)),
                ("timeout", dur(h.timeout_ns)),
                ("rise", int(u64::from(h.rise))),
                ("fall", int(u64::from(h.fall))),
            ]),
        );
    }
    if let Some(p) = b.passive {
        t.insert(
            "passive".into(),
            table(vec![("max_fails", int(u64::from(p.max_fails))), ("fail_timeout", dur(p.fail_timeout_ns))]),
        );
    }
    put(&mut t, "sticky", b.sticky, d.sticky, sticky);
    if let Some(r) = &b.rate_limit {
        t.insert("rate_limit".into(), rate_limit(r));
    }
    if !b.routes.is_empty() {
        let routes = b
            .routes
            .iter()
            .map(|r| {
                let mut rt = Table::new();
                rt.insert("prefix".into(), r.prefix.clone().into());
                rt.insert("pool".into(), r.pool.clone().into());
                if let Some(l) = &r.rate_limit {
                    rt.insert("rate_limit".into(), rate_limit(l));
                }
                Value::Table(rt)
            })
            .collect();
        t.insert("routes".into(), Value::Array(routes));
    }
    put(&mut t, "balance_factor", b.balance_factor, d.balance_factor, Value::Float);
    if let Some(p) = b.panic_threshold {
        t.insert("panic_threshold".into(), Value::Float(p));
    }
    put(&mut t, "table_size", b.table_size, d.table_size, |v| int(u64::from(v)));
    put(&mut t, "ring_size", b.ring_size, d.ring_size, |v| int(u64::from(v)));
    if b.peak_ewma != d.peak_ewma {
        t.insert(
            "peak_ewma".into(),
            table(vec![("decay", dur(b.peak_ewma.decay_ns)), ("default_rtt", dur(b.peak_ewma.default_rtt_ns))]),
        );
    }
    put(&mut t, "dns_ttl", b.dns_ttl_ns, d.dns_ttl_ns, dur);
    put(&mut t, "retry_on_error", b.retry_on_error, 0, |v| int(u64::from(v)));
    t
}

fn event(e: &TimelineEvent) -> Value {
    let mut t = Table::new();
    t.insert("at".into(), dur(e.at_ns));
    t.insert("action".into(), e.action.name().into());
    match &e.action {
        Action::Crash { target } | Action::Recover { target } => {
            t.insert("target".into(), target.clone().into());
        }
        Action::Slow { target, factor } => {
            t.insert("target".into(), target.clone().into());
            t.insert("factor".into(), Value::Float(*factor));
        }
        Action::Add { target, count } | Action::Remove { target, count } => {
            t.insert("target".into(), target.clone().into());
            t.insert("count".into(), int(u64::from(*count)));
        }
        Action::SetAlgorithm { algorithm } => {
            t.insert("algorithm".into(), algorithm.name().into());
        }
        Action::SetRate { target, rate } => {
            t.insert("target".into(), target.clone().into());
            t.insert("rate".into(), Value::Float(*rate));
        }
        Action::StoreDown | Action::StoreUp => {}
        Action::StoreSlow { factor } => {
            t.insert("factor".into(), Value::Float(*factor));
        }
        Action::Burst { target, count } => {
            t.insert("target".into(), target.clone().into());
            t.insert("count".into(), int(u64::from(*count)));
        }
        Action::SetLayer { layer: l } => {
            t.insert("layer".into(), layer(*l));
        }
        Action::SetSticky { sticky: s } => {
            t.insert("sticky".into(), sticky(*s));
        }
    }
    Value::Table(t)
}
