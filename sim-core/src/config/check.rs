//! Rules that span several keys of a scenario: names are unique, routes reach servers,
//! features match the layer, timeline targets exist, and the run fits the limits.

use super::ConfigError;
use super::node::Origin;
use crate::model::conn::profile::Profile;
use crate::scenario::*;

type Result<T> = std::result::Result<T, ConfigError>;

fn err(path: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::new(Origin::Unknown, path, message)
}

/// Checks a scenario (read from a file or built in code).
pub(crate) fn check(s: &Scenario) -> Result<()> {
    check_names(s)?;
    check_times(s)?;
    check_pools(s)?;
    check_layer(s)?;
    check_clients(s)?;
    check_events(s)?;
    check_autoscale(s)?;
    check_rate_limits(s)?;
    // The horizon first: past it, the other estimates (drains of millennia) mean nothing.
    check_horizon(s)?;
    check_limits(s)?;
    check_addresses(s)?;
    Ok(())
}

/// nginx `limit_req` keeps a rate in thousandths of a request per second (`1r/m` is 16): a
/// leaky bucket slower than that cannot be expressed, and rounding it up would drain the
/// bucket faster than asked (one per hour would drain 3.6 times too fast).
fn check_rate_limits(s: &Scenario) -> Result<()> {
    let limits = std::iter::once(("balancer.rate_limit".to_string(), s.balancer.rate_limit.as_ref())).chain(
        s.balancer
            .routes
            .iter()
            .enumerate()
            .map(|(i, r)| (format!("balancer.routes[{i}].rate_limit"), r.rate_limit.as_ref())),
    );
    for (path, limit) in limits {
        let Some(limit) = limit else { continue };
        if matches!(limit.kind, RateLimitKind::LeakyBucket { .. })
            && u128::from(limit.limit) * 1000 * u128::from(NS_PER_SEC) < u128::from(limit.window_ns)
        {
            return Err(err(
                path,
                format!(
                    "a leaky bucket of {} per {} is slower than nginx limit_req can express (its rate is kept in \
                     thousandths of a request per second, at least 0.001/s = 3.6 per hour); raise the rate or use \
                     kind = \"fixed_window\"",
                    limit.limit,
                    super::units::format_duration(limit.window_ns)
                ),
            ));
        }
    }
    Ok(())
}

/// `true` if `instance` could be the name of an instance of `group` (`group-<digits>`).
fn is_instance_of(instance: &str, group: &str) -> bool {
    instance
        .strip_prefix(group)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn check_names(s: &Scenario) -> Result<()> {
    let mut groups: Vec<(String, String)> = Vec::new();
    for (i, g) in s.servers.iter().enumerate() {
        groups.push((format!("servers[{i}].name"), g.name.clone()));
    }
    for (i, g) in s.clients.iter().enumerate() {
        groups.push((format!("clients[{i}].name"), g.name.clone()));
    }
    for (i, (path, name)) in groups.iter().enumerate() {
        if name == "balancer" || is_instance_of(name, "balancer") || name == "store" {
            return Err(err(path, format!("\"{name}\" is reserved (balancer replicas are balancer-<i>)")));
        }
        for (other_path, other) in &groups[..i] {
            if other == name {
                return Err(err(path, format!("the name \"{name}\" is already used by {other_path}")));
            }
            if is_instance_of(name, other) || is_instance_of(other, name) {
                return Err(err(
                    path,
                    format!("\"{name}\" and \"{other}\" ({other_path}) would give instances the same name"),
                ));
            }
        }
    }
    Ok(())
}

fn check_times(s: &Scenario) -> Result<()> {
    if s.warmup_ns >= s.duration_ns {
        return Err(err("warmup", "must be shorter than duration"));
    }
    if s.duration_ns > s.limits.max_duration_ns {
        return Err(err(
            "duration",
            format!(
                "{} is longer than the limit of {}; raise [limits] max_duration to run it",
                super::units::format_duration(s.duration_ns),
                super::units::format_duration(s.limits.max_duration_ns)
            ),
        ));
    }
    for (i, c) in s.clients.iter().enumerate() {
        if c.start_ns >= s.duration_ns {
            return Err(err(
                format!("clients[{i}].start"),
                format!(
                    "{} is not before duration ({}): the group's clients would never send; start them earlier",
                    super::units::format_duration(c.start_ns),
                    super::units::format_duration(s.duration_ns)
                ),
            ));
        }
    }
    Ok(())
}

/// The pool a path is routed to: the longest matching route prefix, else "default".
pub(crate) fn route_pool<'a>(routes: &'a [Route], path: &str) -> &'a str {
    routes
        .iter()
        .filter(|r| path.starts_with(&r.prefix))
        .max_by_key(|r| r.prefix.len())
        .map_or("default", |r| r.pool.as_str())
}

fn check_pools(s: &Scenario) -> Result<()> {
    let has_pool = |pool: &str| s.servers.iter().any(|g| g.pool == pool);
    for (i, r) in s.balancer.routes.iter().enumerate() {
        if !has_pool(&r.pool) {
            return Err(err(
                format!("balancer.routes[{i}].pool"),
                format!("no server group is in pool \"{}\"", r.pool),
            ));
        }
    }
    for (ci, c) in s.clients.iter().enumerate() {
        let mut pools = Vec::new();
        for (path, _) in &c.paths {
            let pool = route_pool(&s.balancer.routes, path);
            if !has_pool(pool) {
                return Err(err(
                    format!("clients[{ci}].paths.\"{path}\""),
                    format!(
                        "requests for {path} go to pool \"{pool}\" (no route matches it), but no server group is in that pool"
                    ),
                ));
            }
            if !pools.contains(&pool) {
                pools.push(pool);
            }
        }
        if c.balancing == Balancing::Client && pools.len() > 1 {
            return Err(err(
                format!("clients[{ci}].paths"),
                "client-side balancing resolves one service: all paths must route to one pool",
            ));
        }
    }
    for (i, g) in s.servers.iter().enumerate() {
        let used = g.pool == "default" || s.balancer.routes.iter().any(|r| r.pool == g.pool);
        if !used {
            return Err(err(
                format!("servers[{i}].pool"),
                format!("no route sends traffic to pool \"{}\"; add a [[balancer.routes]] entry for it", g.pool),
            ));
        }
    }
    let total: u64 = s.servers.iter().map(|g| u64::from(g.count)).sum::<u64>()
        + s.events
            .iter()
            .map(|e| if let Action::Add { count, .. } = e.action { u64::from(count) } else { 0 })
            .sum::<u64>();
    if total == 0 {
        return Err(err("servers", "there are no servers: give a group count ≥ 1 or add servers on the timeline"));
    }
    Ok(())
}

fn check_layer(s: &Scenario) -> Result<()> {
    let b = &s.balancer;
    let proxied = s.clients.iter().any(|c| c.balancing == Balancing::Proxy);
    if b.layer == Layer::L4 {
        let l7_only = [
            (!b.routes.is_empty(), "balancer.routes", "routing by path"),
            (b.rate_limit.is_some(), "balancer.rate_limit", "rate limiting"),
            (b.auth_ns > 0, "balancer.auth", "request authentication"),
            (b.sticky == Sticky::Cookie, "balancer.sticky", "cookie stickiness"),
            (b.outlier_detection.is_some(), "balancer.outlier_detection", "outlier detection (of upstream answers)"),
            (b.circuit_breakers.is_some(), "balancer.circuit_breakers", "circuit breakers (on requests)"),
            (
                matches!(b.hash_key, HashKey::Path | HashKey::Header(_) | HashKey::Session),
                "balancer.hash_key",
                "hashing a request attribute",
            ),
        ];
        for (bad, path, what) in l7_only {
            if bad && proxied {
                return Err(err(
                    path,
                    format!("{what} needs layer = \"l7\": an L4 balancer sees only addresses and ports"),
                ));
            }
        }
    }
    if b.algorithm == Algorithm::IpHash && s.servers.iter().any(|g| g.backup) {
        return Err(err(
            "balancer.algorithm",
            "ip_hash cannot be used with backup servers (nginx refuses this configuration too)",
        ));
    }
    if b.hash_key == HashKey::Session
        && b.algorithm.is_hash()
        && let Some(i) = s.clients.iter().position(|c| c.balancing == Balancing::Proxy && c.session_requests.is_none())
    {
        return Err(err(
            format!("clients[{i}].session_requests"),
            "hash_key = \"session\" needs every proxied client group to have session_requests",
        ));
    }
    Ok(())
}

fn check_clients(s: &Scenario) -> Result<()> {
    for (i, c) in s.clients.iter().enumerate() {
        let multiplexed = Profile::of(c.protocol).slots.is_none();
        if c.balancing == Balancing::Client && !multiplexed {
            return Err(err(
                format!("clients[{i}].balancing"),
                "client-side balancing models gRPC channels: it needs protocol = \"http2\"",
            ));
        }
        if c.stream_messages.is_some() && !multiplexed {
            return Err(err(
                format!("clients[{i}].stream_messages"),
                "long-lived streams are HTTP/2 (gRPC) streams: they need protocol = \"http2\"",
            ));
        }
        check_load(i, c)?;
        if c.trace.is_some() {
            check_replay(s, i, c)?;
        }
    }
    Ok(())
}

/// A group's load as code may build it (files are refused earlier, with the key's line): one
/// of `rate`, `users` or a `schedule`, and a schedule the engine can follow.
fn check_load(i: usize, c: &ClientGroup) -> Result<()> {
    let path = format!("clients[{i}].schedule");
    match &c.schedule {
        Some(Schedule::Rate(_)) if c.users.is_some() => {
            return Err(err(format!("clients[{i}].users"), "a closed loop takes a schedule of users, not of rates"));
        }
        Some(Schedule::Users(_)) if c.users.is_none() => {
            return Err(err(format!("clients[{i}].users"), "a schedule of users needs users (its largest population)"));
        }
        _ => {}
    }
    if c.think_time.is_some() && c.users.is_none() {
        return Err(err(format!("clients[{i}].think_time"), "applies only to a closed loop: set users too"));
    }
    let times: Vec<u64> = match &c.schedule {
        None => return Ok(()),
        Some(Schedule::Rate(p)) => {
            if let Some(j) = p.iter().position(|&(_, r)| !(r.is_finite() && (0.0..=1e9).contains(&r))) {
                return Err(err(format!("{path}[{j}].rate"), "must be a number from 0 to 1000000000"));
            }
            p.iter().map(|&(at, _)| at).collect()
        }
        Some(Schedule::Users(p)) => p.iter().map(|&(at, _)| at).collect(),
    };
    if times.is_empty() || times.len() > 1_000 {
        return Err(err(path, "needs 1 to 1000 points"));
    }
    if let Some(j) = times.windows(2).position(|w| w[1] <= w[0]) {
        return Err(err(format!("{path}[{}].at", j + 1), "must be after the previous point's at"));
    }
    Ok(())
}

/// A trace group sends one request per row: nothing may generate arrivals for it too (the
/// reader refuses these keys next to `trace`; this catches scenarios built in code and
/// timeline actions).
fn check_replay(s: &Scenario, i: usize, c: &ClientGroup) -> Result<()> {
    let generated = [
        ("rate", c.rate != 0.0),
        ("rate_skew", c.rate_skew != 0.0),
        ("arrival", c.arrival != Arrival::Poisson),
        ("ramp", c.ramp_ns != 0),
        ("users", c.users.is_some()),
        ("schedule", c.schedule.is_some()),
        ("think_time", c.think_time.is_some()),
    ];
    if let Some((key, _)) = generated.iter().find(|(_, set)| *set) {
        return Err(err(
            format!("clients[{i}].{key}"),
            "not allowed with `trace`: a replay sends one request per row of the trace, at its time",
        ));
    }
    for (j, e) in s.events.iter().enumerate() {
        if let Action::SetRate { target, .. } = &e.action
            && target == &c.name
        {
            return Err(err(
                format!("events[{j}].target"),
                format!("clients[{i}] (\"{}\") replays a trace: its rate cannot be set", c.name),
            ));
        }
    }
    Ok(())
}

/// Which server instance names exist at some point of the run, per group: `count` plus adds.
fn max_instances(s: &Scenario) -> Vec<u64> {
    let mut n: Vec<u64> = s.servers.iter().map(|g| u64::from(g.count)).collect();
    for e in &s.events {
        if let Action::Add { target, count } = &e.action
            && let Some(gi) = s.servers.iter().position(|g| &g.name == target)
        {
            n[gi] += u64::from(*count);
        }
    }
    // An autoscaled group's instances up to `max` are built in advance.
    for (gi, g) in s.servers.iter().enumerate() {
        if let Some(a) = g.autoscale {
            n[gi] += u64::from(a.max.saturating_sub(g.count));
        }
    }
    n
}

/// Every instance a group can have (adds and autoscaling included) has an address, and no
/// two instances share one (a ring would hash them to the same points).
fn check_addresses(s: &Scenario) -> Result<()> {
    let instances = max_instances(s);
    let mut seen = std::collections::BTreeMap::new();
    for (i, (g, &n)) in s.servers.iter().zip(&instances).enumerate() {
        let Some(a) = &g.address else { continue };
        let key = match a {
            ServerAddress::Consecutive { .. } => "address",
            ServerAddress::List(_) => "addresses",
        };
        if n > u64::from(a.capacity()) {
            return Err(err(
                format!("servers[{i}].{key}"),
                format!(
                    "gives {} addresses, but the group has up to {n} instances (with adds and autoscaling): \
                     list one per instance",
                    a.capacity()
                ),
            ));
        }
        // Bounded by max_servers (checked in check_limits, after this): at most the listed ones.
        for k in 0..n.min(u64::from(MAX_ADDRESSES_CHECKED)) as u32 {
            let text = a.instance(k).unwrap_or_default();
            if let Some(other) = seen.insert(text.clone(), (i, k)) {
                return Err(err(
                    format!("servers[{i}].{key}"),
                    format!(
                        "instance {} of group {} would have {} too, as instance {} of group {}: \
                         every server needs its own address",
                        k + 1,
                        g.name,
                        super::quote(&text),
                        other.1 + 1,
                        s.servers[other.0].name
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The most instance addresses compared for duplicates (more instances than this are refused
/// by `max_servers` limits anyway).
const MAX_ADDRESSES_CHECKED: u32 = 1_000_000;

/// An autoscaled group starts within its bounds (the HPA would move it there at once).
fn check_autoscale(s: &Scenario) -> Result<()> {
    for (i, g) in s.servers.iter().enumerate() {
        let Some(a) = g.autoscale else { continue };
        if g.count < a.min || g.count > a.max {
            return Err(err(
                format!("servers[{i}].count"),
                format!(
                    "{} is outside the autoscaler's bounds, min {} to max {}: start the group within them",
                    g.count, a.min, a.max
                ),
            ));
        }
    }
    Ok(())
}

fn check_events(s: &Scenario) -> Result<()> {
    let instances = max_instances(s);
    let is_group = |name: &str| s.servers.iter().any(|g| g.name == name);
    let is_server = |name: &str| {
        s.servers.iter().zip(&instances).any(|(g, &n)| {
            is_instance_of(name, &g.name) && name[g.name.len() + 1..].parse::<u64>().is_ok_and(|i| i >= 1 && i <= n)
        })
    };
    let is_replica = |name: &str| {
        is_instance_of(name, "balancer")
            && name["balancer-".len()..].parse::<u64>().is_ok_and(|i| i >= 1 && i <= u64::from(s.balancer.replicas))
    };
    let servers_help = || {
        let names: Vec<String> = s
            .servers
            .iter()
            .zip(&instances)
            .map(|(g, n)| if *n > 0 { format!("{0}, {0}-1 … {0}-{1}", g.name, n) } else { g.name.clone() })
            .collect();
        names.join("; ")
    };
    for (i, e) in s.events.iter().enumerate() {
        let path = format!("events[{i}]");
        match &e.action {
            Action::Crash { target } | Action::Recover { target } => {
                if !(is_group(target) || is_server(target) || is_replica(target)) {
                    return Err(err(
                        format!("{path}.target"),
                        format!(
                            "\"{target}\" is not a server, server group or balancer replica; allowed: {}; balancer-1 … balancer-{}",
                            servers_help(),
                            s.balancer.replicas
                        ),
                    ));
                }
            }
            Action::Slow { target, .. } | Action::Remove { target, .. } | Action::Errors { target, .. } => {
                if !(is_group(target) || is_server(target)) {
                    return Err(err(
                        format!("{path}.target"),
                        format!("\"{target}\" is not a server or server group; allowed: {}", servers_help()),
                    ));
                }
            }
            Action::Add { target, .. } => {
                if !is_group(target) {
                    let groups: Vec<&str> = s.servers.iter().map(|g| g.name.as_str()).collect();
                    return Err(err(
                        format!("{path}.target"),
                        format!("\"{target}\" is not a server group; allowed: {}", groups.join(", ")),
                    ));
                }
            }
            Action::SetRate { target, .. } => {
                let Some(c) = s.clients.iter().find(|c| &c.name == target) else {
                    let groups: Vec<&str> = s.clients.iter().map(|g| g.name.as_str()).collect();
                    return Err(err(
                        format!("{path}.target"),
                        format!("\"{target}\" is not a client group; allowed: {}", groups.join(", ")),
                    ));
                };
                if c.users.is_some() {
                    return Err(err(
                        format!("{path}.target"),
                        format!(
                            "\"{target}\" is a closed loop (users): its rate is an output of the run; change its \
                             population with a schedule of users instead"
                        ),
                    ));
                }
            }
            Action::StoreDown | Action::StoreUp | Action::StoreSlow { .. } => {
                if s.session_store.is_none() {
                    return Err(err(
                        format!("{path}.action"),
                        "there is no [session_store] to take down, bring up or slow down",
                    ));
                }
            }
            Action::Burst { target, .. } => {
                let Some(c) = s.clients.iter().find(|c| &c.name == target) else {
                    let groups: Vec<&str> = s.clients.iter().map(|g| g.name.as_str()).collect();
                    return Err(err(
                        format!("{path}.target"),
                        format!("\"{target}\" is not a client group; allowed: {}", groups.join(", ")),
                    ));
                };
                if e.at_ns < c.start_ns {
                    return Err(err(
                        format!("{path}.at"),
                        format!(
                            "the burst comes before any client of \"{target}\" starts (start = {}): a client sends \
                             nothing before its start; move the burst to at ≥ {0} or start the group earlier",
                            super::units::format_duration(c.start_ns)
                        ),
                    ));
                }
            }
            Action::SetAlgorithm { algorithm } => {
                if *algorithm == Algorithm::IpHash && s.servers.iter().any(|g| g.backup) {
                    return Err(err(format!("{path}.algorithm"), "ip_hash cannot be used with backup servers"));
                }
            }
            Action::SetSticky { sticky } => {
                if *sticky == Sticky::Cookie && s.balancer.layer == Layer::L4 {
                    return Err(err(format!("{path}.sticky"), "cookie stickiness needs layer = \"l7\""));
                }
            }
            Action::SetLayer { layer } => {
                if *layer == Layer::L4 && (!s.balancer.routes.is_empty() || s.balancer.rate_limit.is_some()) {
                    return Err(err(
                        format!("{path}.layer"),
                        "this balancer routes or rate-limits, which needs layer l7",
                    ));
                }
                if *layer == Layer::L4
                    && (s.balancer.outlier_detection.is_some() || s.balancer.circuit_breakers.is_some())
                {
                    return Err(err(
                        format!("{path}.layer"),
                        "this balancer has outlier_detection or circuit_breakers, which work on requests and need layer l7",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The most requests the scenario can send: every client group at its highest rate
/// (initial or set on the timeline, or its schedule's) for the whole duration; a closed loop
/// at its throughput bound. Trace groups count none: their rows are in a file the scenario
/// does not hold (the file bounds them, and the run's `max_in_flight` still holds;
/// `lbsim check` counts the rows).
pub fn estimated_requests(s: &Scenario) -> f64 {
    s.clients.iter().map(|c| f64::from(c.count) * load_per_client(s, c) + burst_requests(s, c)).sum()
}

/// The most requests one client of a group sends over the duration, bursts and retries
/// aside: its rate (or the highest the timeline sets) for the whole duration, or its
/// schedule's integral when that is more; for a closed loop, the bound `N / (Z + S)` of N
/// users who think Z on average and wait at least S (the fastest mean service time they
/// reach plus the round trip) for each answer.
fn load_per_client(s: &Scenario, c: &ClientGroup) -> f64 {
    let secs = s.duration_ns as f64 / NS_PER_SEC as f64;
    if let Some(users) = c.users {
        return f64::from(users) * s.duration_ns as f64 / closed_cycle_ns(s, c);
    }
    let own = match &c.schedule {
        Some(schedule) => schedule.requests_until(s.duration_ns).unwrap_or(0.0),
        None => 0.0,
    };
    (peak_rate(s, c) * secs).max(own)
}

/// The shortest mean time of a closed-loop user's cycle: its mean think time plus the
/// fastest mean service time of the pools it reaches and the round trip (at least 1 ns: the
/// engine never lets a think take less).
fn closed_cycle_ns(s: &Scenario, c: &ClientGroup) -> f64 {
    let pools: Vec<&str> = c.paths.iter().map(|(p, _)| route_pool(&s.balancer.routes, p)).collect();
    let fastest = s
        .servers
        .iter()
        .filter(|g| pools.contains(&g.pool.as_str()))
        .map(|g| g.service.mean_ns())
        .fold(f64::INFINITY, f64::min);
    let fastest = if fastest.is_finite() { fastest } else { 0.0 };
    let think = c.think_time.as_ref().map_or(0.0, |d| d.mean_ns());
    (think + fastest + 2.0 * s.network.latency_ns as f64).max(1.0)
}

/// The requests a client group's bursts send (those before the end).
fn burst_requests(s: &Scenario, c: &ClientGroup) -> f64 {
    s.events
        .iter()
        .filter_map(|e| match &e.action {
            Action::Burst { target, count } if target == &c.name && e.at_ns < s.duration_ns => Some(f64::from(*count)),
            _ => None,
        })
        .sum()
}

/// The pools server groups belong to, each with its instances' weights (adds included).
fn pool_weights(s: &Scenario) -> Vec<Vec<u32>> {
    let instances = max_instances(s);
    let mut pools: Vec<(&str, Vec<u32>)> = Vec::new();
    for (g, n) in s.servers.iter().zip(instances) {
        let i = match pools.iter().position(|(p, _)| *p == g.pool) {
            Some(i) => i,
            None => {
                pools.push((&g.pool, Vec::new()));
                pools.len() - 1
            }
        };
        pools[i].1.extend(std::iter::repeat_n(g.weight, n as usize));
    }
    pools.into_iter().map(|(_, w)| w).collect()
}

/// The algorithms a run uses: the balancer's and any the timeline switches to.
fn algorithms(s: &Scenario) -> Vec<Algorithm> {
    let mut out = vec![s.balancer.algorithm];
    for e in &s.events {
        if let Action::SetAlgorithm { algorithm } = e.action
            && !out.contains(&algorithm)
        {
            out.push(algorithm);
        }
    }
    out
}

/// One replica's lookup table for one pool: (entries, bytes, work to build it in units of
/// one event). Measured on the release build: a ring entry (a formatted name hashed, then
/// sorted) costs about one event; a Maglev slot about a tenth (counted as a quarter); a
/// ketama point (crc32, sorted) under one.
fn table_cost(s: &Scenario, algorithm: Algorithm, weights: &[u32]) -> (f64, f64, f64) {
    let total: f64 = weights.iter().map(|&w| f64::from(w)).sum();
    let min = weights.iter().copied().min().unwrap_or(1).max(1);
    match algorithm {
        Algorithm::RingHash => {
            // Envoy scales the ring so the lightest host gets ⌈its share × ring_size⌉
            // entries, at most 8M (algo/ring_hash.rs); entries are 16 bytes, and a margin for
            // the build (measured: 36 MB peak for a 2M-entry ring) and the slice index
            // (algo/ring_index.rs: at most 4 bytes per 4 entries).
            let entries = (f64::from(s.balancer.ring_size) + total / f64::from(min)).min(8.0 * 1024.0 * 1024.0)
                + weights.len() as f64;
            (entries, entries * 21.0, entries)
        }
        Algorithm::Maglev => {
            let slots = f64::from(s.balancer.table_size);
            (slots, slots * 4.0 + weights.len() as f64 * 48.0, slots / 4.0 + weights.len() as f64)
        }
        Algorithm::ConsistentHash | Algorithm::BoundedLoadHash => {
            let points = total * 160.0;
            // Large rings also keep a point table (algo/ring_index.rs: a 64-byte line per 4
            // to 8 points).
            let index = points * 16.0;
            // bounded_load_hash also indexes up to four hot start points: per server, its
            // place (8 bytes), walk position, cumulative weight and tree nodes (≤ 32 bytes),
            // rank (4) and a bit per load below 64 (8).
            let starts = if algorithm == Algorithm::BoundedLoadHash { 4.0 * 52.0 * weights.len() as f64 } else { 0.0 };
            (points, points * 12.0 + index + starts, points)
        }
        // HAProxy's tree: 16 points per unit of weight, (point, server) pairs, and the
        // slice index.
        Algorithm::HaproxyConsistentHash => {
            let points = total * 16.0;
            (points, points * 9.0 + weights.len() as f64 * 4.0, points)
        }
        _ => (0.0, 0.0, 0.0),
    }
}

/// The largest lookup tables a run holds, all replicas and pools together: (bytes, the
/// algorithm, entries per table, tables), or `None` when its algorithms keep no table.
fn table_memory(s: &Scenario) -> Option<(f64, Algorithm, f64, f64)> {
    let pools = pool_weights(s);
    let replicas = f64::from(s.balancer.replicas);
    algorithms(s)
        .into_iter()
        .map(|a| {
            let (entries, bytes) = pools
                .iter()
                .map(|w| table_cost(s, a, w))
                .fold((0.0, 0.0), |(e, b), (pe, pb, _)| (f64::max(e, pe), b + pb));
            (replicas * bytes, a, entries, replicas * pools.len() as f64)
        })
        .filter(|t| t.0 > 0.0)
        .max_by(|a, b| a.0.total_cmp(&b.0))
}

/// The work of rebuilding every pool's table at one replica (and its eligible lists), in
/// events, for the costliest algorithm the run uses.
fn rebuild_work(s: &Scenario) -> f64 {
    let pools = pool_weights(s);
    let servers: f64 = pools.iter().map(|w| w.len() as f64).sum();
    let tables =
        algorithms(s).into_iter().map(|a| pools.iter().map(|w| table_cost(s, a, w).2).sum::<f64>()).fold(0.0, f64::max);
    // Rebuilding the eligible lists walks every server of every pool.
    tables + servers / 8.0
}

/// How many server instances a timeline target names (a group: all its instances, from
/// [`max_instances`], computed once by the caller: timelines have tens of thousands of actions).
fn targets(s: &Scenario, instances: &[u64], target: &str) -> f64 {
    match s.servers.iter().position(|g| g.name == target) {
        Some(gi) => instances[gi] as f64,
        None => 1.0,
    }
}

/// How long a run can go on after `duration` while its last requests end: a client timeout
/// (with retries) ends them at the latest; otherwise what piled up on the links and at the
/// servers must drain (an overloaded link or server grows its backlog for the whole run).
fn estimated_drain_ns(s: &Scenario) -> f64 {
    let secs = s.duration_ns as f64 / NS_PER_SEC as f64;
    let capacity_rps: f64 = s
        .servers
        .iter()
        .filter(|g| !g.backup)
        .map(|g| f64::from(g.count) * f64::from(g.workers) * NS_PER_SEC as f64 / g.service.mean_ns().max(1.0))
        .sum();
    let offered_rps: f64 = s.clients.iter().map(|c| f64::from(c.count) * peak_rate(s, c)).sum();
    let slowest = s.servers.iter().map(|g| g.service.mean_ns()).fold(0.0, f64::max);
    let server_drain = if capacity_rps > 0.0 {
        (offered_rps - capacity_rps).max(0.0) * secs / capacity_rps * NS_PER_SEC as f64 + 10.0 * slowest
    } else {
        10.0 * slowest
    };
    s.clients
        .iter()
        .map(|c| {
            let (up, down) = link_ns_per_request(s, c);
            let per_request = up + down;
            let load = peak_rate(s, c) * per_request / NS_PER_SEC as f64;
            let link_drain = (load - 1.0).max(0.0) * s.duration_ns as f64 + 10.0 * per_request;
            let backlog = link_drain + server_drain;
            match c.timeout_ns {
                Some(t) => {
                    // Each retry may wait its backoff first (at most `max_backoff`).
                    let wait = c.retry.as_ref().map_or(0, |p| p.max_backoff_ns) as f64;
                    let retries = f64::from(c.max_retries());
                    backlog.min(t as f64 * (1.0 + retries) + retries * (NS_PER_SEC as f64 + wait))
                }
                None => backlog,
            }
        })
        .fold(0.0, f64::max)
}

/// The work of the tables and the timeline, in events: the first build of each replica's
/// tables, each action, what it touches (a crash or removal
/// walks the work in flight, sessions and connections of each server it takes down), and
/// the table rebuilds at every replica that follow a change of who is eligible — once per
/// server when checks take it out and once when it is back, again every `fail_timeout` while
/// passive checks probe it, and once for a new algorithm.
fn estimated_timeline_work(s: &Scenario) -> (f64, f64) {
    let replicas = f64::from(s.balancer.replicas);
    let rebuild = rebuild_work(s);
    let in_flight = (s.limits.max_in_flight as f64).min(estimated_requests(s));
    let held = in_flight + connections(s) + s.total_clients() as f64;
    let probes = s
        .balancer
        .passive
        .map_or(0.0, |p| (s.duration_ns as f64 + estimated_drain_ns(s)) / p.fail_timeout_ns.max(1) as f64);
    let instances = max_instances(s);
    // Every replica builds its tables once at the start.
    let mut rebuilds = replicas;
    let mut direct = 0.0;
    for e in &s.events {
        direct += 1.0;
        match &e.action {
            Action::Crash { target } | Action::Remove { target, .. } => {
                let n = targets(s, &instances, target);
                direct += n * held / 8.0;
                rebuilds += n * replicas * (2.0 + probes);
            }
            Action::Recover { target } | Action::Add { target, .. } => {
                rebuilds += targets(s, &instances, target) * replicas * 2.0;
            }
            Action::SetAlgorithm { .. } | Action::SetLayer { .. } => rebuilds += replicas,
            Action::Slow { target, .. } | Action::Errors { target, .. } => direct += targets(s, &instances, target),
            _ => {}
        }
    }
    (direct + rebuilds * rebuild, rebuilds)
}

/// The most connections open at once: WebSocket clients open all theirs at the start,
/// pools may fill up, and gRPC `round_robin` clients connect to every address.
fn connections(s: &Scenario) -> f64 {
    let servers = max_instances(s).iter().sum::<u64>() as f64;
    s.clients
        .iter()
        .map(|c| {
            let per_client = match (c.balancing, c.client_algorithm) {
                (Balancing::Client, ClientAlgorithm::RoundRobin) => servers,
                (Balancing::Client, ClientAlgorithm::PickFirst) => 2.0,
                _ => f64::from(c.connections),
            };
            f64::from(c.count) * per_client
        })
        .sum()
}

/// The most events a run can process: per request at most a dozen (arrival, hops, service,
/// timeout, answer) per attempt; health checks and DNS re-resolutions over the duration and
/// the drain after it; and the timeline's work with the table rebuilds it causes.
pub fn estimated_events(s: &Scenario) -> f64 {
    estimated_work(s).iter().map(|(_, n)| n).sum()
}

/// [`estimated_events`] by part, for messages.
fn estimated_work(s: &Scenario) -> [(&'static str, f64); 4] {
    let span = s.duration_ns as f64 + estimated_drain_ns(s);
    let servers: u64 = max_instances(s).iter().sum();
    // Each try may be retried at the balancer too (`[balancer.retry]`).
    let balancer_tries = 1.0 + s.balancer.retry.as_ref().map_or(0.0, |r| f64::from(r.num_retries));
    let per_request =
        12.0 * balancer_tries * (1.0 + s.clients.iter().map(|c| f64::from(c.max_retries())).fold(0.0, f64::max));
    let checks = s
        .balancer
        .health_check
        .map_or(0.0, |h| 2.0 * f64::from(s.balancer.replicas) * servers as f64 * span / h.interval_ns as f64);
    let resolves: f64 = s
        .clients
        .iter()
        .map(|c| {
            // A proxied client re-resolves the balancer's name only when it has replicas.
            let every = match c.balancing {
                Balancing::Client => c.resolve_interval_ns,
                Balancing::Proxy if s.balancer.replicas > 1 => s.balancer.dns_ttl_ns,
                Balancing::Proxy => return f64::from(c.count),
            };
            f64::from(c.count) * (span / every as f64 + 1.0)
        })
        .sum();
    [
        ("requests", estimated_requests(s) * per_request),
        ("health checks", checks),
        ("DNS re-resolutions", resolves),
        ("lookup table builds and the timeline", estimated_timeline_work(s).0),
    ]
}

/// The most health and timeline lines `--trace-events` writes: one per timeline action and
/// one per change of a server's health at each replica (down at a crash, up at a recovery;
/// down at the start too when checks cannot get an answer in time).
pub fn estimated_trace_events(s: &Scenario) -> f64 {
    let Some(hc) = s.balancer.health_check else { return s.events.len() as f64 };
    let replicas = f64::from(s.balancer.replicas);
    let instances = max_instances(s);
    let servers = instances.iter().sum::<u64>() as f64;
    let unreachable = 2 * s.network.upstream_latency_ns.unwrap_or(s.network.latency_ns) > hc.timeout_ns;
    let changes: f64 = s
        .events
        .iter()
        .map(|e| match &e.action {
            Action::Crash { target } | Action::Recover { target } => targets(s, &instances, target) * replicas,
            _ => 0.0,
        })
        .sum();
    s.events.len() as f64 + changes + if unreachable { replicas * servers } else { 0.0 }
}

/// A generous estimate of a run's memory: per-server state and histograms, per-replica views
/// of every server and address, lookup tables (ring, Maglev, ketama) per replica and pool,
/// clients and their connections, time series, and the worst-case work in flight.
pub fn estimated_memory_bytes(s: &Scenario) -> f64 {
    memory_parts(s).iter().map(|(_, b)| b).sum()
}

/// Bytes per request in flight: its slot (128), its job's (32) and its pending events (128);
/// with balancer retries, hedging, gRPC streams or a replayed trace the box of what few
/// requests carry (`ReqExtra`, about 80 with the allocator's header); and with serialization
/// work, a session store or a replayed trace the job's work besides its service time (16).
fn per_request_in_flight(s: &Scenario) -> f64 {
    let traced = s.clients.iter().any(|c| c.trace.is_some());
    let extra = s.balancer.retry.is_some()
        || traced
        || s.clients.iter().any(|c| c.hedging.is_some() || c.stream_messages.is_some());
    let work = traced || s.session_store.is_some() || s.clients.iter().any(|c| c.serialize_per_kb_ns > 0);
    288.0 + if extra { 80.0 } else { 0.0 } + if work { 16.0 } else { 0.0 }
}

/// [`estimated_memory_bytes`] by part, for messages.
fn memory_parts(s: &Scenario) -> Vec<(String, f64)> {
    let servers = max_instances(s).iter().sum::<u64>() as f64;
    let clients = s.total_clients() as f64;
    let replicas = f64::from(s.balancer.replicas);
    // Per-server latency tables (one for `ok` requests, one for failed ones, whose directory
    // is taken for every server at the run's first failure): a 240-byte directory, the totals,
    // and a 64-byte counter line per power of two the server's latencies reach — at most the
    // line of values below 16 ns and one per power of two up to the run's span (a few in
    // practice). Then the server's state and counters.
    let span_ns = (s.duration_ns as f64 + estimated_drain_ns(s)).clamp(16.0, HORIZON_NS as f64) as u64;
    let latency_lines = f64::from(span_ns.ilog2() - 2);
    let per_server = 2.0 * (240.0 + 48.0 + 64.0 * latency_lines) + 512.0;
    let per_replica_server = 80.0;
    let addresses: f64 = s.clients.iter().map(|c| f64::from(c.source_ips.max(1))).sum();
    let limits = 1.0 + s.balancer.routes.len() as f64;
    let per_replica_client = 4.0 + 16.0 * limits;
    let series_cells = (servers * (s.duration_ns as f64 / s.report.interval_ns.max(1) as f64).min(2_000.0))
        .min(crate::metrics::series::MAX_CELLS as f64)
        * (1.0 + crate::metrics::series::DRAIN_BUCKETS_FRACTION);
    let in_flight = (s.limits.max_in_flight as f64).min(estimated_requests(s));
    // A connection: its slab entry, the client's handle to it and its pending events
    // (measured: 62 bytes per WebSocket connection).
    let conns = connections(s);
    let mut parts = vec![
        (
            format!("{servers:.0} servers × {replicas:.0} replicas"),
            servers * per_server + replicas * servers * per_replica_server + series_cells * 8.0,
        ),
        // A client is 800 bytes, and its client-side stream 320 more once used (boxed).
        (format!("{clients:.0} clients"), replicas * (addresses + clients) * per_replica_client + clients * 1_120.0),
        (format!("{conns:.0} connections"), conns * 96.0),
        (format!("{in_flight:.0} requests in flight"), in_flight * per_request_in_flight(s)),
    ];
    if let Some((bytes, algorithm, entries, tables)) = table_memory(s) {
        parts.push((
            format!("{tables:.0} {} tables of {entries:.0} entries (one per replica and pool)", algorithm.name()),
            bytes,
        ));
    }
    parts
}

fn check_limits(s: &Scenario) -> Result<()> {
    let l = &s.limits;
    let servers: u64 = max_instances(s).iter().sum();
    if servers > u64::from(l.max_servers) {
        return Err(err(
            "servers",
            format!(
                "{servers} server instances (with adds) exceed the limit of {}; raise [limits] max_servers",
                l.max_servers
            ),
        ));
    }
    let clients = s.total_clients();
    if clients > u64::from(l.max_clients) {
        return Err(err(
            "clients",
            format!("{clients} client instances exceed the limit of {}; raise [limits] max_clients", l.max_clients),
        ));
    }
    let requests = estimated_requests(s);
    if requests > l.max_requests as f64 {
        return Err(err(
            "clients",
            format!(
                "the scenario would send about {:.0} requests, more than the limit of {}; lower rate (or users), count or duration, \
                 or raise the limit with [limits] max_requests (or --max-requests)",
                requests, l.max_requests
            ),
        ));
    }
    // Memory first: a run that cannot fit is refused for that, whatever its work.
    let parts = memory_parts(s);
    let memory_mb = parts.iter().map(|(_, b)| b).sum::<f64>() / (1024.0 * 1024.0);
    if memory_mb > l.max_memory_mb as f64 {
        let (part, bytes) = parts.iter().max_by(|a, b| a.1.total_cmp(&b.1)).cloned().unwrap_or_default();
        return Err(err(
            "servers",
            format!(
                "the run would need about {memory_mb:.0} MiB, more than the limit of {} MiB (most of it, about {:.0} MiB, \
                 for {part}); make it smaller or raise [limits] max_memory_mb",
                l.max_memory_mb,
                bytes / (1024.0 * 1024.0)
            ),
        ));
    }
    let work = estimated_work(s);
    let events: f64 = work.iter().map(|(_, n)| n).sum();
    if events > l.max_events as f64 {
        let (part, n) = work.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap_or(("requests", 0.0));
        let path = match part {
            "health checks" => "balancer.health_check.interval",
            "lookup table builds and the timeline" if !s.events.is_empty() => "events",
            "lookup table builds and the timeline" => "balancer.replicas",
            _ => "clients",
        };
        return Err(err(
            path,
            format!(
                "the run would process about {events:.0} events, more than the limit of {} (most of them, about \
                 {n:.0}, for {part}{}); shorten it or raise [limits] max_events",
                l.max_events,
                match part {
                    "health checks" => format!(" over the duration and about {} of drain", span(estimated_drain_ns(s))),
                    "lookup table builds and the timeline" => format!(
                        ": about {:.0} table builds, one at each of the {} replica(s) at the start and again at \
                         each as servers go down and up, about {:.0} events of work each",
                        estimated_timeline_work(s).1,
                        s.balancer.replicas,
                        rebuild_work(s)
                    ),
                    _ => String::new(),
                }
            ),
        ));
    }
    // Unbounded queues under overload grow for the whole run; refuse what would not fit.
    let unbounded = s.servers.iter().all(|g| g.queue.is_none()) && s.clients.iter().all(|c| c.timeout_ns.is_none());
    if unbounded {
        let capacity_rps: f64 = s
            .servers
            .iter()
            .filter(|g| !g.backup)
            .map(|g| f64::from(g.count) * f64::from(g.workers) * NS_PER_SEC as f64 / g.service.mean_ns().max(1.0))
            .sum();
        // A closed loop has at most its users in flight: it never piles up. A schedule offers
        // its mean rate over the duration.
        let secs = s.duration_ns as f64 / NS_PER_SEC as f64;
        let offered_rps: f64 = s
            .clients
            .iter()
            .filter(|c| c.users.is_none())
            .map(|c| {
                let rate = match &c.schedule {
                    Some(schedule) => schedule.requests_until(s.duration_ns).unwrap_or(0.0) / secs.max(1e-9),
                    None => c.rate,
                };
                f64::from(c.count) * rate
            })
            .sum();
        let backlog = (offered_rps - capacity_rps) * (s.duration_ns as f64 / NS_PER_SEC as f64);
        if capacity_rps > 0.0 && backlog > l.max_in_flight as f64 {
            return Err(err(
                "servers",
                format!(
                    "offered load ({offered_rps:.0} req/s) exceeds capacity ({capacity_rps:.0} req/s) with unlimited queues \
                     and no client timeout: about {backlog:.0} requests would pile up, more than the limit of {}. \
                     Set servers[].queue or clients[].timeout, lower the load, or raise [limits] max_in_flight",
                    l.max_in_flight
                ),
            ));
        }
    }
    Ok(())
}

/// The latest simulated time a run may reach, in nanoseconds (2^62, about 146 years): a
/// quarter of what the u64 clock holds, so that a few times below it always add up without
/// overflow. Scenarios whose times could pass it are refused (by `check`); the engine's
/// time arithmetic also saturates, as a backstop.
pub const HORIZON_NS: u64 = 1 << 62;

/// A length of time for messages, in the largest unit that keeps it readable.
fn span(ns: f64) -> String {
    const YEAR: f64 = 365.0 * 86_400.0 * NS_PER_SEC as f64;
    if ns >= 1e6 * YEAR {
        format!("{:.2e} years", ns / YEAR)
    } else if ns >= YEAR {
        format!("{:.0} years", ns / YEAR)
    } else if ns >= 86_400.0 * NS_PER_SEC as f64 {
        format!("{:.1} days", ns / (86_400.0 * NS_PER_SEC as f64))
    } else {
        super::units::format_duration(ns.round() as u64)
    }
}

/// Time on one connection per request of a client group: the request and the answer on the
/// link at `network.bandwidth` (headers included), and their encoding and decoding.
fn link_ns_per_request(s: &Scenario, c: &ClientGroup) -> (f64, f64) {
    let (hdr_up, hdr_down) = Profile::of(c.protocol).header_bytes;
    let tx =
        |bytes: u64| s.network.bandwidth_bps.map_or(0.0, |bps| bytes as f64 * 8.0 * NS_PER_SEC as f64 / bps as f64);
    let codec = |bytes: u64| crate::model::serialize_ns(c.serialize_per_kb_ns, bytes) as f64;
    let up = tx(c.request_bytes + hdr_up) + codec(c.request_bytes);
    let down = tx(c.response_bytes + hdr_down) + codec(c.response_bytes);
    (up, down)
}

/// A client group's highest rate per client: its own or one the timeline sets.
fn peak_rate(s: &Scenario, c: &ClientGroup) -> f64 {
    s.events
        .iter()
        .filter_map(|e| match &e.action {
            Action::SetRate { target, rate } if target == &c.name => Some(*rate),
            _ => None,
        })
        .fold(c.rate, f64::max)
}

/// The most requests one client of a group sends: its highest rate over the duration, each
/// attempt retried as often as allowed, and at least one.
fn requests_per_client(s: &Scenario, c: &ClientGroup) -> f64 {
    let bursts = (burst_requests(s, c) / f64::from(c.count.max(1))).ceil();
    (load_per_client(s, c).max(1.0) + bursts) * (1.0 + f64::from(c.max_retries()))
}

/// Refuses scenarios whose simulated times could pass [`HORIZON_NS`]: transfers queued on a
/// connection (huge messages on a slow link, costly encoding), work piled on the servers, or
/// a leaky bucket's wait. Each would otherwise overflow the clock or be reported wrong.
fn check_horizon(s: &Scenario) -> Result<()> {
    let horizon = HORIZON_NS as f64 - s.duration_ns as f64;
    let bandwidth = s.network.bandwidth_bps.map_or("unlimited".to_string(), super::units::format_bandwidth);
    for (i, c) in s.clients.iter().enumerate() {
        let (up, down) = link_ns_per_request(s, c);
        let per_client = requests_per_client(s, c);
        let (hdr_up, hdr_down) = Profile::of(c.protocol).header_bytes;
        let bytes = f64::from(c.count) * per_client * (c.request_bytes + c.response_bytes + hdr_up + hdr_down) as f64;
        if bytes > (1u64 << 63) as f64 {
            return Err(err(
                format!("clients[{i}]"),
                format!(
                    "about {:.0} requests of {} + {} bytes would move {bytes:.3e} bytes, more than the report's byte \
                     counters hold (2^63); lower request_bytes, response_bytes, the rate, count or duration",
                    f64::from(c.count) * per_client,
                    c.request_bytes,
                    c.response_bytes
                ),
            ));
        }
        // A client's requests share its connections: in the worst case they queue on one.
        let busy = per_client * (up + down);
        if busy > horizon {
            let (key, bytes, one) = if up >= down {
                ("request_bytes", c.request_bytes, up)
            } else {
                ("response_bytes", c.response_bytes, down)
            };
            return Err(err(
                format!("clients[{i}].{key}"),
                format!(
                    "one message of {bytes} bytes takes {} to encode and send (network.bandwidth = {bandwidth}, serialize_per_kb = \
                     {}), and each client sends up to {per_client:.0} of them over its connections: {} in all, beyond \
                     the {} a run can last. Lower clients[{i}].{key}, serialize_per_kb, the rate or the duration, or \
                     raise network.bandwidth",
                    span(one),
                    super::units::format_duration(c.serialize_per_kb_ns),
                    span(busy),
                    span(horizon),
                ),
            ));
        }
    }
    // Work piled on the servers is served no faster than by every primary worker at once.
    // (With a timeout on every group the run ends once the last request times out, however
    // much work is left.)
    let workers: f64 = s.servers.iter().filter(|g| !g.backup).map(|g| f64::from(g.count) * f64::from(g.workers)).sum();
    let timeouts = s.clients.iter().all(|c| c.timeout_ns.is_some());
    if workers > 0.0 && !timeouts {
        let store_ns = s.session_store.map_or(0.0, |st| st.latency_ns as f64);
        let per_request = s.servers.iter().map(|g| g.service.mean_ns()).fold(0.0, f64::max)
            + s.clients
                .iter()
                .map(|c| crate::model::serialize_ns(c.serialize_per_kb_ns, c.request_bytes + c.response_bytes) as f64)
                .fold(0.0, f64::max)
            + store_ns;
        let requests: f64 = s.clients.iter().map(|c| f64::from(c.count) * requests_per_client(s, c)).sum();
        let in_flight = requests.min(s.limits.max_in_flight as f64);
        let drain = in_flight * per_request / workers;
        if drain > horizon {
            return Err(err(
                "servers",
                format!(
                    "up to {in_flight:.0} requests can wait for the servers, each needing about {} of work \
                     (service, serialize_per_kb, session store), and {workers:.0} workers would need {} to serve \
                     them, beyond the {} a run can last. Lower the service times, the rate or the duration, add \
                     servers or workers, or lower [limits] max_in_flight",
                    span(per_request),
                    span(drain),
                    span(horizon),
                ),
            ));
        }
    }
    // A leaky bucket without nodelay holds a request until its excess drains at the rate.
    let limits = s.balancer.rate_limit.iter().map(|l| ("balancer.rate_limit".to_string(), l)).chain(
        s.balancer
            .routes
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.rate_limit.as_ref().map(|l| (format!("balancer.routes[{i}].rate_limit"), l))),
    );
    for (path, l) in limits {
        if let RateLimitKind::LeakyBucket { burst, nodelay: false } = l.kind {
            let wait = f64::from(burst) * l.window_ns as f64 / l.limit as f64;
            if wait > horizon {
                return Err(err(
                    format!("{path}.burst"),
                    format!(
                        "a request can wait up to {} in this leaky bucket ({burst} requests of burst at {} per {}), \
                         beyond the {} a run can last; lower burst, raise the rate or set nodelay = true",
                        span(wait),
                        l.limit,
                        super::units::format_duration(l.window_ns),
                        span(horizon),
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Advice about a valid scenario that probably does not do what its author expects
/// (printed as warnings; the scenario still runs).
pub fn warnings(s: &Scenario) -> Vec<String> {
    let mut out = Vec::new();
    for (i, e) in s.events.iter().enumerate() {
        if e.at_ns >= s.duration_ns {
            out.push(format!(
                "events[{i}] at {} is not before duration ({}): it will not happen",
                super::units::format_duration(e.at_ns),
                super::units::format_duration(s.duration_ns)
            ));
        }
    }
    for (i, c) in s.clients.iter().enumerate() {
        let profile = Profile::of(c.protocol);
        closed_loop_warnings(s, i, c, &mut out);
        // A rate schedule at its highest point (a closed loop is warned about above).
        let rate = match &c.schedule {
            Some(schedule @ Schedule::Rate(_)) => schedule.peak(),
            _ => c.rate,
        };
        if rate <= 0.0 || profile.rotates {
            // Messages rotate over long-lived connections that carry any number at once.
            continue;
        }
        // The fastest any request can be served in the pools this group reaches.
        let pools: Vec<&str> = c.paths.iter().map(|(p, _)| route_pool(&s.balancer.routes, p)).collect();
        let fastest_ns = s
            .servers
            .iter()
            .filter(|g| pools.contains(&g.pool.as_str()))
            .map(|g| g.service.mean_ns())
            .fold(f64::INFINITY, f64::min);
        if !fastest_ns.is_finite() {
            continue;
        }
        let slots = f64::from(c.connections) * f64::from(profile.slots_per_conn(c.max_streams));
        let in_flight = rate * fastest_ns / NS_PER_SEC as f64;
        if in_flight > 0.5 * slots {
            let proto = profile.slot_noun;
            out.push(format!(
                "clients[{i}] (\"{}\"): each client sends {}{} requests/s over {} {proto} and requests take at least \
                 {:.3} ms, so about {:.2} requests per slot are in flight and requests will queue at the client. \
                 If you meant independent users, raise clients[{i}].connections, use protocol = \"http2\", or spread \
                 the rate over more clients (count).",
                c.name,
                if c.schedule.is_some() { "up to " } else { "" },
                rate,
                slots,
                fastest_ns / 1e6,
                in_flight / slots
            ));
        }
    }
    unused_balancer_settings(s, &mut out);
    unused_client_settings(s, &mut out);
    cookies_at_l4(s, &mut out);
    out
}

fn names_of(algorithms: &[Algorithm]) -> String {
    algorithms.iter().map(|a| a.name()).collect::<Vec<_>>().join(", ")
}

/// Algorithm parameters set for an algorithm the run never uses. A `Scenario` keeps no record
/// of which keys a file wrote, so a parameter counts as set when it differs from its default.
fn unused_balancer_settings(s: &Scenario, out: &mut Vec<String>) {
    use Algorithm::*;
    if s.clients.iter().all(|c| c.balancing == Balancing::Client) {
        // No request passes the balancer: its algorithm and parameters are all moot.
        return;
    }
    let b = &s.balancer;
    let d = BalancerSpec::default();
    let used = algorithms(s);
    let params: [(bool, &str, &[Algorithm]); 9] = [
        (b.choices != d.choices, "balancer.choices", &[PowerOfTwo, RandomDraws]),
        (b.max_conns != d.max_conns, "balancer.max_conns", &[First]),
        (
            b.hash_key != d.hash_key,
            "balancer.hash_key",
            &[ConsistentHash, RingHash, Maglev, BoundedLoadHash, HaproxyConsistentHash, HaproxyMapHash],
        ),
        (
            b.hash_key_text,
            "balancer.hash_key_text",
            &[ConsistentHash, RingHash, Maglev, BoundedLoadHash, HaproxyConsistentHash, HaproxyMapHash],
        ),
        (b.balance_factor != d.balance_factor, "balancer.balance_factor", &[BoundedLoadHash]),
        (b.table_size != d.table_size, "balancer.table_size", &[Maglev]),
        (b.ring_size != d.ring_size, "balancer.ring_size", &[RingHash]),
        (b.peak_ewma != d.peak_ewma, "balancer.peak_ewma", &[PeakEwma]),
        // Envoy ramps ROUND_ROBIN and LEAST_REQUEST; nginx Plus also least_conn.
        (b.slow_start.is_some(), "balancer.slow_start", &[RoundRobin, PowerOfTwo, LeastConnections]),
    ];
    for (set, key, readers) in params {
        if set && !used.iter().any(|a| readers.contains(a)) {
            out.push(format!(
                "{key} has no effect: it is read only by {}, and this scenario uses {}",
                names_of(readers),
                names_of(&used)
            ));
        }
    }
}

/// Client settings the group's protocol or balancing never reads.
fn unused_client_settings(s: &Scenario, out: &mut Vec<String>) {
    let d = ClientGroup::new("", 1, 0.0);
    let header_hashing = matches!(s.balancer.hash_key, HashKey::Header(_));
    for (i, c) in s.clients.iter().enumerate() {
        let protocol = match c.protocol {
            Protocol::Http1 => "http1",
            Protocol::Http2 => "http2",
            Protocol::WebSocket => "websocket",
        };
        if c.max_streams != d.max_streams && c.protocol != Protocol::Http2 {
            out.push(format!(
                "clients[{i}].max_streams has no effect with protocol = \"{protocol}\": it limits concurrent HTTP/2 \
                 streams per connection"
            ));
        }
        if c.balancing == Balancing::Proxy {
            if c.client_algorithm != d.client_algorithm {
                out.push(format!(
                    "clients[{i}].client_algorithm has no effect with balancing = \"proxy\": the balancer picks the \
                     servers (client_algorithm is for balancing = \"client\")"
                ));
            }
            if c.resolve_interval_ns != d.resolve_interval_ns {
                out.push(format!(
                    "clients[{i}].resolve_interval has no effect with balancing = \"proxy\": proxied clients \
                     re-resolve the balancer every balancer.dns_ttl"
                ));
            }
        }
        if c.keys.as_ref().is_some_and(|k| k.template.is_some()) && !s.balancer.hash_key_text {
            out.push(format!(
                "clients[{i}].keys.template has no effect: keys are hashed as text only with \
                 balancer.hash_key_text = true"
            ));
        }
        if c.keys.is_some() && !header_hashing {
            out.push(format!(
                "clients[{i}].keys has no effect on balancing: request keys are hashed only with \
                 balancer.hash_key = \"header:<name>\""
            ));
        }
    }
}

/// Schedule points that cannot take effect before the end; a closed loop's users beyond its
/// connections' slots wait at the client (that wait is part of their response time).
fn closed_loop_warnings(s: &Scenario, i: usize, c: &ClientGroup, out: &mut Vec<String>) {
    // The first point always counts (its value holds before it). A users point counts only
    // before the end; a rate point past the end still sets the slope toward it, but the
    // points after it do not count.
    let (times, what): (Vec<u64>, _) = match &c.schedule {
        Some(Schedule::Rate(p)) => (p.iter().map(|&(at, _)| at).collect(), "the rate runs toward it"),
        Some(Schedule::Users(p)) => (p.iter().map(|&(at, _)| at).collect(), "nothing after it happens"),
        None => (Vec::new(), ""),
    };
    let rate = matches!(c.schedule, Some(Schedule::Rate(_)));
    let late = (1..times.len()).find(|&j| if rate { times[j - 1] >= s.duration_ns } else { times[j] >= s.duration_ns });
    if let Some(j) = late {
        let end = super::units::format_duration(s.duration_ns);
        out.push(if rate {
            format!(
                "clients[{i}].schedule[{j}] and the points after it never take effect: the point before is at or after \
                 duration ({end}) ({what})"
            )
        } else {
            format!(
                "clients[{i}].schedule[{j}] at {} is not before duration ({end}): it and the points after it never \
                 take effect",
                super::units::format_duration(times[j])
            )
        });
    }
    let Some(users) = c.users else { return };
    let profile = Profile::of(c.protocol);
    let slots = u64::from(c.connections) * u64::from(profile.slots_per_conn(c.max_streams));
    if !profile.rotates && u64::from(users) > slots {
        out.push(format!(
            "clients[{i}] (\"{}\"): {users} users per client share {slots} {} and will wait for one at the client. \
             If the users are independent, raise clients[{i}].connections, use protocol = \"http2\" with enough \
             max_streams, or spread them over more clients (count).",
            c.name, profile.slot_noun
        ));
    }
}

/// Cookie stickiness while the timeline has the balancer at L4, where no cookie is seen.
fn cookies_at_l4(s: &Scenario, out: &mut Vec<String>) {
    let mut order: Vec<usize> = (0..s.events.len()).collect();
    // The timeline applies events in time order (file order within an instant).
    order.sort_by_key(|&i| s.events[i].at_ns);
    let (mut layer, mut sticky) = (s.balancer.layer, s.balancer.sticky);
    for i in order {
        let e = &s.events[i];
        let at = super::units::format_duration(e.at_ns);
        match e.action {
            Action::SetLayer { layer: Layer::L4 } if layer == Layer::L7 && sticky == Sticky::Cookie => {
                out.push(format!(
                    "events[{i}] sets layer l4 at {at}: cookie stickiness has no effect from then on (an L4 balancer \
                 sees no cookies; sticky = \"source_ip\" works at L4)"
                ))
            }
            Action::SetSticky { sticky: Sticky::Cookie } if layer == Layer::L4 && sticky != Sticky::Cookie => {
                out.push(format!(
                    "events[{i}] sets cookie stickiness at {at} while the balancer is at layer l4: it has no effect \
                     until the layer is l7 again (an L4 balancer sees no cookies)"
                ))
            }
            _ => {}
        }
        match e.action {
            Action::SetLayer { layer: l } => layer = l,
            Action::SetSticky { sticky: st } => sticky = st,
            _ => {}
        }
    }
}
