//! Writing a [`Scenario`] back as a TOML scenario file (only values that differ from the
//! defaults), so a scenario built in code, a shrunk counterexample or a browser session can be
//! replayed with `lbsim run`.

use toml::{Table, Value};

use super::units::{format_bandwidth, format_duration};
use crate::metrics::report::Outcome;
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
    service_entries(d).map_or_else(|| table(Vec::new()), table)
}

/// A distribution's keys, `dist` first (a mixture part adds its `weight` to them).
fn service_entries(d: &ServiceDist) -> Option<Vec<(&'static str, Value)>> {
    Some(match d {
        ServiceDist::Constant { value_ns } => vec![("dist", "constant".into()), ("value", dur(*value_ns))],
        ServiceDist::Exponential { mean_ns } => vec![("dist", "exponential".into()), ("mean", dur(*mean_ns))],
        ServiceDist::Uniform { min_ns, max_ns } => {
            vec![("dist", "uniform".into()), ("min", dur(*min_ns)), ("max", dur(*max_ns))]
        }
        ServiceDist::Lognormal { p50_ns, p99_ns } => {
            vec![("dist", "lognormal".into()), ("p50", dur(*p50_ns)), ("p99", dur(*p99_ns))]
        }
        ServiceDist::Pareto { min_ns, alpha } => {
            vec![("dist", "pareto".into()), ("min", dur(*min_ns)), ("alpha", Value::Float(*alpha))]
        }
        ServiceDist::Mixture { parts } => {
            let parts = parts
                .iter()
                .filter_map(|p| {
                    let mut entries = service_entries(&p.dist)?;
                    entries.insert(0, ("weight", Value::Float(p.weight)));
                    Some(table(entries))
                })
                .collect();
            vec![("dist", "mixture".into()), ("parts", Value::Array(parts))]
        }
        // Samples read from a file are written as the file's path, as the scenario gave it.
        ServiceDist::Empirical { file: Some(file), .. } => {
            vec![("dist", "empirical".into()), ("file", file.as_str().into())]
        }
        ServiceDist::Empirical { samples, file: None } => {
            let samples = samples.iter().map(|&v| dur(v)).collect();
            vec![("dist", "empirical".into()), ("samples", Value::Array(samples))]
        }
        ServiceDist::Weibull { shape, scale_ns } => {
            vec![("dist", "weibull".into()), ("shape", Value::Float(*shape)), ("scale", dur(*scale_ns))]
        }
        ServiceDist::Gamma { shape, mean_ns } => {
            vec![("dist", "gamma".into()), ("shape", Value::Float(*shape)), ("mean", dur(*mean_ns))]
        }
    })
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
    if let Some(lesson) = &s.lesson {
        root.insert("lesson".into(), lesson_table(lesson));
    }
    toml::to_string(&root).unwrap_or_else(|e| format!("# could not write the scenario: {e}\n"))
}

/// `[lesson]`, so an exported scenario keeps its lesson.
fn lesson_table(lesson: &crate::lesson::Lesson) -> Value {
    let steps = lesson
        .steps
        .iter()
        .map(|step| {
            let mut t = Table::new();
            t.insert("say".into(), step.say.clone().into());
            if step.fresh {
                t.insert("fresh".into(), true.into());
            }
            if !step.set.is_empty() {
                t.insert("set".into(), Value::Array(step.set.iter().map(|s| s.clone().into()).collect()));
            }
            if !step.expect.is_empty() {
                let claims = step.expect.iter().map(|c| {
                    let mut e = Table::new();
                    e.insert("metric".into(), c.metric.clone().into());
                    if let Some(over) = &c.over {
                        e.insert("over".into(), over.clone().into());
                    }
                    let op = crate::lesson::Op::NAMES.iter().find(|(_, op)| *op == c.op).map_or("==", |(n, _)| n);
                    e.insert("op".into(), op.into());
                    e.insert("value".into(), c.value.into());
                    if c.op == crate::lesson::Op::Near {
                        e.insert("tolerance".into(), c.tolerance.into());
                    }
                    Value::Table(e)
                });
                t.insert("expect".into(), Value::Array(claims.collect()));
            }
            Value::Table(t)
        })
        .collect();
    let mut t = Table::new();
    t.insert("title".into(), lesson.title.clone().into());
    if !lesson.intro.is_empty() {
        t.insert("intro".into(), lesson.intro.clone().into());
    }
    t.insert("steps".into(), Value::Array(steps));
    Value::Table(t)
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
    put(&mut t, "error_rate", g.error_rate, 0.0, Value::Float);
    if let Some(a) = g.autoscale {
        let target = match a.metric {
            ScaleMetric::Utilization(v) => ("target_utilization", Value::Float(v)),
            ScaleMetric::InFlight(v) => ("target_in_flight", Value::Float(v)),
        };
        t.insert(
            "autoscale".into(),
            table(vec![
                ("min", int(u64::from(a.min))),
                ("max", int(u64::from(a.max))),
                target,
                ("interval", dur(a.interval_ns)),
                ("tolerance", Value::Float(a.tolerance)),
                ("provision_delay", dur(a.provision_delay_ns)),
                ("scale_down_stabilization", dur(a.scale_down_stabilization_ns)),
            ]),
        );
    }
    if let Some(l) = g.error_latency_ns {
        t.insert("error_latency".into(), dur(l));
    }
    if let Some(age) = g.max_connection_age_ns {
        t.insert("max_connection_age".into(), dur(age));
    }
    match &g.address {
        Some(ServerAddress::Consecutive { ip, port }) => {
            t.insert("address".into(), format!("{}:{port}", std::net::Ipv4Addr::from(*ip)).into());
        }
        Some(ServerAddress::List(list)) => {
            t.insert("addresses".into(), Value::Array(list.iter().map(|a| a.clone().into()).collect()));
        }
        None => {}
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
    // A replay, a closed loop or a schedule gives the load instead of `rate` (the reader
    // refuses more than one).
    match (&c.trace, &c.schedule) {
        (Some(path), _) => {
            t.insert("trace".into(), path.clone().into());
        }
        (None, Some(schedule)) => {
            let points = match schedule {
                Schedule::Rate(p) => {
                    p.iter().map(|&(at, r)| table(vec![("at", dur(at)), ("rate", Value::Float(r))])).collect()
                }
                Schedule::Users(p) => {
                    p.iter().map(|&(at, u)| table(vec![("at", dur(at)), ("users", int(u64::from(u)))])).collect()
                }
            };
            t.insert("schedule".into(), Value::Array(points));
        }
        (None, None) => match c.users {
            Some(users) => {
                t.insert("users".into(), int(u64::from(users)));
            }
            None => {
                t.insert("rate".into(), Value::Float(c.rate));
            }
        },
    }
    if let Some(think) = &c.think_time {
        t.insert("think_time".into(), service(think));
    }
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
    if let Some(k) = &c.keys {
        let mut items = vec![("count", int(u64::from(k.count))), ("skew", Value::Float(k.skew))];
        if let Some(tpl) = &k.template {
            items.push(("template", tpl.clone().into()));
        }
        t.insert("keys".into(), table(items));
    }
    put(&mut t, "start", c.start_ns, 0, dur);
    put(&mut t, "ramp", c.ramp_ns, 0, dur);
    if let Some(p) = &c.retry {
        let retryable = Outcome::ALL.iter().filter(|o| p.retryable[o.index()]).map(|o| o.name().into()).collect();
        let mut r = vec![
            ("max_attempts", int(u64::from(p.max_attempts))),
            ("initial_backoff", dur(p.initial_backoff_ns)),
            ("max_backoff", dur(p.max_backoff_ns)),
            ("backoff_multiplier", Value::Float(p.backoff_multiplier)),
            ("retryable", Value::Array(retryable)),
        ];
        if let Some(th) = p.throttling {
            r.push(("max_tokens", Value::Float(f64::from(th.max_milli_tokens) / 1000.0)));
            r.push(("token_ratio", Value::Float(f64::from(th.milli_token_ratio) / 1000.0)));
        }
        t.insert("retry".into(), table(r));
    }
    put(&mut t, "retry_same_work", c.retry_same_work, true, Value::Boolean);
    if let Some(h) = &c.hedging {
        let non_fatal = Outcome::ALL.iter().filter(|o| h.non_fatal[o.index()]).map(|o| o.name().into()).collect();
        let mut r = vec![("max_attempts", int(u64::from(h.max_attempts))), ("hedging_delay", dur(h.hedging_delay_ns))];
        if h.non_fatal.iter().any(|&x| x) {
            r.push(("non_fatal", Value::Array(non_fatal)));
        }
        t.insert("hedging".into(), table(r));
    }
    Value::Table(t)
}

fn balancer(b: &BalancerSpec) -> Table {
    let d = BalancerSpec::default();
    let mut t = Table::new();
    put(&mut t, "layer", b.layer, d.layer, layer);
    put(&mut t, "algorithm", b.algorithm, d.algorithm, |a| a.name().into());
    put(&mut t, "choices", b.choices, d.choices, |v| int(u64::from(v)));
    put(&mut t, "max_conns", b.max_conns, d.max_conns, |v| int(u64::from(v)));
    put(&mut t, "hash_key", &b.hash_key, &d.hash_key, hash_key);
    put(&mut t, "hash_key_text", b.hash_key_text, d.hash_key_text, Value::Boolean);
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
        let mut items = vec![("max_fails", int(u64::from(p.max_fails))), ("fail_timeout", dur(p.fail_timeout_ns))];
        if p.clock_ns != 1 {
            items.push(("clock_granularity", dur(p.clock_ns)));
        }
        t.insert("passive".into(), table(items));
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
    if let Some(p) = &b.retry {
        let retry_on = Outcome::ALL.iter().filter(|o| p.retry_on[o.index()]).map(|o| o.name().into()).collect();
        let mut r = vec![
            ("num_retries", int(u64::from(p.num_retries))),
            ("retry_on", Value::Array(retry_on)),
            ("base_interval", dur(p.base_interval_ns)),
            ("max_interval", dur(p.max_interval_ns)),
        ];
        if p.previous_hosts {
            r.push(("retry_host_predicate", "previous_hosts".into()));
        }
        if p.host_selection_retry_max_attempts != 1 {
            r.push(("host_selection_retry_max_attempts", int(u64::from(p.host_selection_retry_max_attempts))));
        }
        if let Some(v) = p.per_try_timeout_ns {
            r.push(("per_try_timeout", dur(v)));
        }
        if let Some(budget) = p.budget {
            r.push(("budget_percent", Value::Float(budget.budget_percent)));
            r.push(("min_retry_concurrency", int(u64::from(budget.min_retry_concurrency))));
        }
        t.insert("retry".into(), table(r));
    }
    put(&mut t, "fail_on_server_error", b.fail_on_server_error, false, Value::Boolean);
    if let Some(cb) = b.circuit_breakers {
        t.insert(
            "circuit_breakers".into(),
            table(vec![
                ("max_requests", int(u64::from(cb.max_requests))),
                ("max_retries", int(u64::from(cb.max_retries))),
                ("max_connections", int(u64::from(cb.max_connections))),
                ("max_pending_requests", int(u64::from(cb.max_pending_requests))),
            ]),
        );
    }
    if let Some(od) = b.outlier_detection {
        let n = |v: u32| int(u64::from(v));
        t.insert(
            "outlier_detection".into(),
            table(vec![
                ("consecutive_5xx", n(od.consecutive_5xx)),
                ("consecutive_gateway_failure", n(od.consecutive_gateway_failure)),
                ("enforcing_consecutive_5xx", n(od.enforcing_consecutive_5xx)),
                ("enforcing_consecutive_gateway_failure", n(od.enforcing_consecutive_gateway_failure)),
                ("interval", dur(od.interval_ns)),
                ("base_ejection_time", dur(od.base_ejection_time_ns)),
                ("max_ejection_time", dur(od.max_ejection_time_ns)),
                ("max_ejection_percent", n(od.max_ejection_percent)),
                ("success_rate_minimum_hosts", n(od.success_rate_minimum_hosts)),
                ("success_rate_request_volume", n(od.success_rate_request_volume)),
                ("success_rate_stdev_factor", n(od.success_rate_stdev_factor)),
                ("enforcing_success_rate", n(od.enforcing_success_rate)),
            ]),
        );
    }
    if let Some(ss) = b.slow_start {
        t.insert(
            "slow_start".into(),
            table(vec![
                ("window", dur(ss.window_ns)),
                ("aggression", Value::Float(ss.aggression)),
                ("min_weight_percent", Value::Float(ss.min_weight_percent)),
            ]),
        );
    }
    t
}

pub(crate) fn event(e: &TimelineEvent) -> Value {
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
        Action::Errors { target, rate, latency_ns } => {
            t.insert("target".into(), target.clone().into());
            t.insert("rate".into(), Value::Float(*rate));
            if let Some(l) = latency_ns {
                t.insert("latency".into(), dur(*l));
            }
        }
    }
    Value::Table(t)
}
