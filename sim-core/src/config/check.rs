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
    check_limits(s)?;
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
    n
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
            Action::Slow { target, .. } | Action::Remove { target, .. } => {
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
                if !s.clients.iter().any(|c| &c.name == target) {
                    let groups: Vec<&str> = s.clients.iter().map(|g| g.name.as_str()).collect();
                    return Err(err(
                        format!("{path}.target"),
                        format!("\"{target}\" is not a client group; allowed: {}", groups.join(", ")),
                    ));
                }
            }
            Action::StoreDown | Action::StoreUp => {
                if s.session_store.is_none() {
                    return Err(err(format!("{path}.action"), "there is no [session_store] to take down or up"));
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
            }
        }
    }
    Ok(())
}

/// The most requests the scenario can send: every client group at its highest rate
/// (initial or set on the timeline) for the whole duration.
pub fn estimated_requests(s: &Scenario) -> f64 {
    s.clients
        .iter()
        .map(|c| {
            let peak = s
                .events
                .iter()
                .filter_map(|e| match &e.action {
                    Action::SetRate { target, rate } if target == &c.name => Some(*rate),
                    _ => None,
                })
                .fold(c.rate, f64::max);
            f64::from(c.count) * peak * (s.duration_ns as f64 / NS_PER_SEC as f64)
        })
        .sum()
}

/// The most events a run can process: per request at most a dozen (arrival, hops, service,
/// timeout, answer) per attempt, plus health checks and DNS re-resolutions.
pub fn estimated_events(s: &Scenario) -> f64 {
    let secs = s.duration_ns as f64 / NS_PER_SEC as f64;
    let servers: u64 = max_instances(s).iter().sum();
    let per_request = 12.0 * (1.0 + s.clients.iter().map(|c| f64::from(c.retries)).fold(0.0, f64::max));
    let checks = s.balancer.health_check.map_or(0.0, |h| {
        2.0 * f64::from(s.balancer.replicas) * servers as f64 * s.duration_ns as f64 / h.interval_ns as f64
    });
    let resolves: f64 = s
        .clients
        .iter()
        .map(|c| {
            let every = if c.balancing == Balancing::Client { c.resolve_interval_ns } else { s.balancer.dns_ttl_ns };
            f64::from(c.count) * (secs * NS_PER_SEC as f64 / every as f64 + 1.0)
        })
        .sum();
    estimated_requests(s) * per_request + checks + resolves
}

/// A generous estimate of a run's memory: per-server state and histograms, per-replica views
/// of every server and address, clients, time series, and the worst-case work in flight.
pub fn estimated_memory_bytes(s: &Scenario) -> f64 {
    let servers = max_instances(s).iter().sum::<u64>() as f64;
    let clients = s.total_clients() as f64;
    let replicas = f64::from(s.balancer.replicas);
    // Per-server latency row (640 four-byte counters) and totals, state and counters.
    let per_server = 2_600.0 + 512.0;
    let per_replica_server = 80.0;
    let addresses: f64 = s.clients.iter().map(|c| f64::from(c.source_ips.max(1))).sum();
    let limits = 1.0 + s.balancer.routes.len() as f64;
    let per_replica_client = 4.0 + 16.0 * limits;
    let series_cells = (servers * (s.duration_ns as f64 / s.report.interval_ns.max(1) as f64).min(2_000.0))
        .min(crate::metrics::series::MAX_CELLS as f64)
        * (1.0 + crate::metrics::series::DRAIN_BUCKETS_FRACTION);
    let in_flight = (s.limits.max_in_flight as f64).min(estimated_requests(s));
    servers * per_server
        + replicas * servers * per_replica_server
        + replicas * (addresses + clients) * per_replica_client
        + clients * 512.0
        + series_cells * 8.0
        + in_flight * 320.0
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
                "the scenario would send about {:.0} requests, more than the limit of {}; lower rate, count or duration, \
                 or raise the limit with [limits] max_requests (or --max-requests)",
                requests, l.max_requests
            ),
        ));
    }
    let events = estimated_events(s);
    if events > l.max_events as f64 {
        return Err(err(
            "clients",
            format!(
                "the run would process about {events:.0} events, more than the limit of {}; shorten it or raise \
                 [limits] max_events",
                l.max_events
            ),
        ));
    }
    let memory_mb = estimated_memory_bytes(s) / (1024.0 * 1024.0);
    if memory_mb > l.max_memory_mb as f64 {
        return Err(err(
            "servers",
            format!(
                "the run would need about {memory_mb:.0} MiB, more than the limit of {} MiB (servers × replicas, clients, \
                 work in flight); make it smaller or raise [limits] max_memory_mb",
                l.max_memory_mb
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
        let offered_rps: f64 = s.clients.iter().map(|c| f64::from(c.count) * c.rate).sum();
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
        if c.rate <= 0.0 || profile.rotates {
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
        let in_flight = c.rate * fastest_ns / NS_PER_SEC as f64;
        if in_flight > 0.5 * slots {
            let proto = profile.slot_noun;
            out.push(format!(
                "clients[{i}] (\"{}\"): each client sends {} requests/s over {} {proto} and requests take at least \
                 {:.3} ms, so about {:.2} requests per slot are in flight and requests will queue at the client. \
                 If you meant independent users, raise clients[{i}].connections, use protocol = \"http2\", or spread \
                 the rate over more clients (count).",
                c.name,
                c.rate,
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

/// The algorithms a run uses: the balancer's, then each one the timeline switches to.
fn algorithms_used(s: &Scenario) -> Vec<Algorithm> {
    let mut used = vec![s.balancer.algorithm];
    for e in &s.events {
        if let Action::SetAlgorithm { algorithm } = e.action
            && !used.contains(&algorithm)
        {
            used.push(algorithm);
        }
    }
    used
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
    let used = algorithms_used(s);
    let params: [(bool, &str, &[Algorithm]); 6] = [
        (b.choices != d.choices, "balancer.choices", &[PowerOfTwo]),
        (b.hash_key != d.hash_key, "balancer.hash_key", &[ConsistentHash, RingHash, Maglev, BoundedLoadHash]),
        (b.balance_factor != d.balance_factor, "balancer.balance_factor", &[BoundedLoadHash]),
        (b.table_size != d.table_size, "balancer.table_size", &[Maglev]),
        (b.ring_size != d.ring_size, "balancer.ring_size", &[RingHash]),
        (b.peak_ewma != d.peak_ewma, "balancer.peak_ewma", &[PeakEwma]),
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
        if c.keys.is_some() && !header_hashing {
            out.push(format!(
                "clients[{i}].keys has no effect on balancing: request keys are hashed only with \
                 balancer.hash_key = \"header:<name>\""
            ));
        }
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
