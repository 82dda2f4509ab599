//! `lbsim export`: writes the balancer part of a scenario as a configuration for the real
//! program (nginx, HAProxy, Envoy), so a design tried in lbsim can be deployed. What the target
//! cannot express is a comment starting `lbsim:` in the output and a warning on stderr; nothing
//! is dropped silently. `lbsim import` of the output gives the same balancer back wherever the
//! target can express it (a test checks every bundled scenario).

use std::fmt::Write as _;

use anyhow::Result;
use sim_core::Outcome;
use sim_core::scenario::{Algorithm, BalancerRetry, BalancerSpec, HashKey, Layer, Scenario, Sticky};

use crate::cli::{ExportArgs, ExportProgram};
use crate::error::user;

/// One server instance of the scenario (`<group>-<i>`), where the exported config sends it.
struct Instance {
    name: String,
    host: String,
    port: u16,
    weight: u32,
    backup: bool,
}

/// A pool: the servers one upstream/backend/cluster balances over.
struct Pool {
    name: String,
    servers: Vec<Instance>,
}

/// The most server instances an export writes (a config with more is not one a person reads).
const MAX_INSTANCES: usize = 10_000;

/// `lbsim export PROGRAM SCENARIO`: the configuration on stdout (or `-o FILE`), warnings on
/// stderr.
pub fn export(args: ExportArgs) -> Result<()> {
    let sc = crate::load::scenario(&args.scenario, &args.set)?;
    let (listen_host, listen_port) = address(&args.listen, "--listen")?;
    let pools = pools(&sc, args.addresses.as_deref())?;
    let mut e = Exporter { warnings: Vec::new(), notes: Vec::new() };
    let text = match args.program {
        ExportProgram::Nginx => e.nginx(&sc, &pools, &listen_host, listen_port),
        ExportProgram::Haproxy => e.haproxy(&sc, &pools, &listen_host, listen_port),
        ExportProgram::Envoy => e.envoy(&sc, &pools, &listen_host, listen_port),
    };
    for w in &e.warnings {
        crate::out::note(&format!("warning: {w}"));
    }
    match &args.output {
        Some(path) => {
            crate::files::refuse_input_as_output("--output", std::path::Path::new(path), &[&args.scenario])?;
            crate::files::write_atomic(path, text.as_bytes())
        }
        None => crate::out::stdout(&text),
    }
}

/// `host:port` → its parts (IPv4, a name, or `[v6]`).
fn address(text: &str, what: &str) -> Result<(String, u16)> {
    let bad = || user(format!("{what} {text:?}: expected HOST:PORT, e.g. 127.0.0.1:8001"));
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().ok().filter(|&p| p > 0).ok_or_else(bad)?;
    let ok_host = !host.is_empty()
        && host.len() <= 253
        && (host.starts_with('[') && host.ends_with(']')
            || host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'));
    if !ok_host {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

/// The scenario's pools, in the order their first server group appears, each with its
/// instances and their addresses: `--addresses` in instance order, else the scenario's
/// `servers[].address(es)`, else 127.0.0.1:8001 on (counting every instance).
fn pools(sc: &Scenario, addresses: Option<&str>) -> Result<Vec<Pool>> {
    let total: u64 = sc.servers.iter().map(|g| u64::from(g.count)).sum();
    if total == 0 {
        return Err(user("the scenario starts with no servers (every group has count = 0): nothing to export"));
    }
    if total > MAX_INSTANCES as u64 {
        return Err(user(format!("{total} server instances: an export writes at most {MAX_INSTANCES}")));
    }
    let given: Option<Vec<(String, u16)>> = match addresses {
        None => None,
        Some(list) => Some(list.split(',').map(|a| address(a.trim(), "--addresses")).collect::<Result<_>>()?),
    };
    if let Some(g) = &given
        && g.len() as u64 != total
    {
        return Err(user(format!(
            "--addresses has {} address(es); the scenario has {total} server instance(s) (one address each, in the order of [[servers]] and their count)",
            g.len()
        )));
    }
    let mut pools: Vec<Pool> = Vec::new();
    let mut index = 0usize;
    for g in &sc.servers {
        for i in 1..=g.count {
            let own = g.address.as_ref().and_then(|a| a.instance(i - 1));
            let (host, port) = match (&given, own) {
                (Some(list), _) => list[index].clone(),
                (None, Some(text)) => {
                    address(&text, &format!("servers.{}.address(es) entry", g.name)).map_err(|e| {
                        user(format!("{e} (this program's config needs host:port; give --addresses to override)"))
                    })?
                }
                (None, None) => ("127.0.0.1".to_string(), 8001u16.saturating_add(index as u16)),
            };
            index += 1;
            let inst = Instance { name: format!("{}-{i}", g.name), host, port, weight: g.weight, backup: g.backup };
            match pools.iter_mut().find(|p| p.name == g.pool) {
                Some(p) => p.servers.push(inst),
                None => pools.push(Pool { name: g.pool.clone(), servers: vec![inst] }),
            }
        }
    }
    Ok(pools)
}

struct Exporter {
    warnings: Vec<String>,
    /// `lbsim:` comments of the section being written.
    notes: Vec<String>,
}

impl Exporter {
    /// A setting the target cannot express exactly: a comment in the output and a warning.
    fn approx(&mut self, program: &str, what: &str) {
        self.warnings.push(format!("{program}: {what}"));
        self.notes.push(what.to_string());
    }

    /// Writes the pending `lbsim:` comments with the given indent.
    fn flush_notes(&mut self, out: &mut String, indent: &str) {
        for n in self.notes.drain(..) {
            let _ = writeln!(out, "{indent}# lbsim: {}", crate::import::comment(&n));
        }
    }

    /// Settings no target here has: said once, for every program.
    fn common_notes(&mut self, program: &str, sc: &Scenario) {
        let b = &sc.balancer;
        for g in sc.servers.iter().filter(|g| g.autoscale.is_some()) {
            self.approx(
                program,
                &format!("servers[].autoscale of group {}: an autoscaler (Kubernetes HPA) adds and removes servers outside the balancer's configuration; the {} it starts with are listed", g.name, g.count),
            );
        }
        if b.replicas > 1 {
            self.approx(
                program,
                &format!("balancer.replicas = {}: run that many copies of this config behind DNS", b.replicas),
            );
        }
        if b.rate_limit.is_some() || b.routes.iter().any(|r| r.rate_limit.is_some()) {
            self.approx(program, "rate limits are not exported (nginx limit_req, HAProxy stick tables and Envoy's local rate limit each count differently)");
        }
        if b.auth_ns > 0 || b.overhead_ns > 0 || b.workers.is_some() {
            self.approx(
                program,
                "the balancer's own costs (overhead, auth, workers) describe the proxy's speed, not its configuration",
            );
        }
        // Envoy's own mechanisms: exported for Envoy, only noted for the others.
        if program != "envoy" {
            if b.outlier_detection.is_some() {
                self.approx(program, "Envoy's outlier_detection is not exported (nginx max_fails and HAProxy observe are passive checks of their own kind)");
            }
            if b.circuit_breakers.is_some() {
                self.approx(program, "Envoy's circuit_breakers are not exported (nginx and HAProxy queue at maxconn instead of refusing)");
            }
        }
    }

    // ---- nginx -----------------------------------------------------------------------------

    fn nginx(&mut self, sc: &Scenario, pools: &[Pool], host: &str, port: u16) -> String {
        let b = &sc.balancer;
        let l4 = b.layer == Layer::L4;
        self.common_notes("nginx", sc);
        let mut out = header("nginx", sc);
        // One worker: nginx keeps round-robin and least_conn state per worker unless the
        // upstream has a `zone`; the zone below shares it, one worker keeps it exact.
        out.push_str("worker_processes 1;\nevents { worker_connections 4096; }\n\n");
        if l4 {
            out.push_str("# `stream` needs nginx's stream module: built in from nginx.org; on Debian and Ubuntu add\n# `load_module modules/ngx_stream_module.so;` here (package libnginx-mod-stream).\n");
        }
        if let Some(p) = b.passive.filter(|p| p.max_fails > 0 && p.clock_ns != 1_000_000_000) {
            let clock =
                if p.clock_ns == 1 { "an exact clock".to_string() } else { format!("a {} clock", seconds(p.clock_ns)) };
            self.approx(
                "nginx",
                &format!("the passive checks use {clock}; nginx's is whole seconds (balancer.passive.clock_granularity = \"1s\"), so it re-tries a failed server fail_timeout + 1 s after its last check"),
            );
        }
        let _ = writeln!(out, "{} {{", if l4 { "stream" } else { "http" });
        for pool in pools {
            let method = self.nginx_method(b, l4);
            let hashed = matches!(method.as_str(), s if s.starts_with("hash") || s.starts_with("ip_hash") || s.starts_with("random"));
            let _ = writeln!(out, "    upstream {} {{", pool.name);
            self.flush_notes(&mut out, "        ");
            let _ = writeln!(out, "        zone {} 64k;", pool.name);
            if !method.is_empty() {
                let _ = writeln!(out, "        {method};");
            }
            // nginx's passive checks are on by default (max_fails=1 fail_timeout=10s);
            // max_fails=0 turns them off.
            let passive = match b.passive {
                Some(p) => format!(" max_fails={} fail_timeout={}", p.max_fails, seconds(p.fail_timeout_ns)),
                None => " max_fails=0".to_string(),
            };
            for s in &pool.servers {
                let weight = if s.weight != 1 { format!(" weight={}", s.weight) } else { String::new() };
                let backup = if s.backup && !hashed {
                    " backup"
                } else {
                    if s.backup {
                        self.approx("nginx", &format!("{}: `backup` cannot be used with `{method}` (nginx refuses it): exported as a primary server", s.name));
                        self.flush_notes(&mut out, "        ");
                    }
                    ""
                };
                let _ = writeln!(out, "        server {}:{}{weight}{passive}{backup};  # {}", s.host, s.port, s.name);
            }
            out.push_str("    }\n");
        }
        if let Some(h) = &b.health_check {
            self.approx("nginx", &format!("active health checks (every {}, rise {}, fall {}) are not in nginx open source (nginx Plus `health_check`)", seconds(h.interval_ns), h.rise, h.fall));
        }
        match b.sticky {
            Sticky::None => {}
            Sticky::Cookie => self.approx("nginx", "cookie stickiness is nginx Plus `sticky cookie`; open source nginx has no equivalent"),
            Sticky::SourceIp => self.approx("nginx", "a stick table by source address is nginx Plus `sticky learn`; `ip_hash` is the open-source way to pin clients"),
        }
        if b.panic_threshold.is_some() {
            self.approx("nginx", "balancer.panic_threshold (Envoy's panic mode) has no nginx equivalent");
        }
        if b.slow_start.is_some() {
            self.approx("nginx", "balancer.slow_start: open source nginx has no slow start (nginx Plus: the `slow_start=` server parameter, a linear ramp)");
        }
        let retry = if l4 {
            if b.retry_on_error == 0 {
                "proxy_next_upstream off;".to_string()
            } else {
                format!("proxy_next_upstream on;\n        proxy_next_upstream_tries {};", b.retry_on_error + 1)
            }
        } else if b.retry_on_error == 0 && !b.fail_on_server_error {
            "proxy_next_upstream off;".to_string()
        } else {
            // `fail_on_server_error`: a 5xx is an unsuccessful attempt (retried, and counted by
            // max_fails): nginx's `http_5xx` conditions.
            let http = if b.fail_on_server_error { " http_500 http_502 http_503 http_504" } else { "" };
            format!(
                "proxy_next_upstream error timeout{http};\n            proxy_next_upstream_tries {};",
                b.retry_on_error + 1
            )
        };
        out.push_str("\n    server {\n");
        self.flush_notes(&mut out, "        ");
        let _ = writeln!(out, "        listen {host}:{port};");
        let default = pools.iter().find(|p| p.name == "default").unwrap_or(&pools[0]);
        if l4 {
            let _ = writeln!(out, "        proxy_pass {};\n        {retry}", default.name);
        } else {
            let mut locations: Vec<(&str, &str)> =
                b.routes.iter().map(|r| (r.prefix.as_str(), r.pool.as_str())).collect();
            if !locations.iter().any(|(p, _)| *p == "/") {
                locations.push(("/", default.name.as_str()));
            }
            for (prefix, pool) in locations {
                let _ = writeln!(
                    out,
                    "        location {prefix} {{\n            proxy_pass http://{pool};\n            proxy_http_version 1.1;\n            proxy_set_header Connection \"\";\n            {retry}\n        }}"
                );
            }
        }
        out.push_str("    }\n}\n");
        out
    }

    /// The upstream's balancing directive (empty for nginx's default round robin).
    fn nginx_method(&mut self, b: &BalancerSpec, l4: bool) -> String {
        let key = |e: &mut Exporter| -> String {
            match &b.hash_key {
                HashKey::SourceIp => "$remote_addr".into(),
                _ if l4 => {
                    e.approx("nginx", "an L4 (stream) balancer sees no request: hashing $remote_addr");
                    "$remote_addr".into()
                }
                HashKey::Path => "$request_uri".into(),
                HashKey::Header(h) => format!("$http_{}", h.to_ascii_lowercase().replace('-', "_")),
                HashKey::Session => {
                    e.approx("nginx", "hash_key = \"session\": hashing the `session` cookie ($cookie_session)");
                    "$cookie_session".into()
                }
            }
        };
        match b.algorithm {
            Algorithm::RoundRobin => String::new(),
            Algorithm::Random => "random".into(),
            Algorithm::LeastConnections => "least_conn".into(),
            Algorithm::RandomTwo => "random two least_conn".into(),
            Algorithm::PowerOfTwo | Algorithm::RandomDraws => {
                self.approx(
                    "nginx",
                    &format!(
                        "algorithm {} with choices = {}: nginx's `random two least_conn` (two distinct draws, the algorithm random_two) stands in",
                        b.algorithm.name(),
                        b.choices
                    ),
                );
                "random two least_conn".into()
            }
            Algorithm::IpHash if !l4 => "ip_hash".into(),
            Algorithm::IpHash => {
                self.approx("nginx", "algorithm ip_hash: it is for http upstreams; the stream module hashes $remote_addr (a different spread)");
                "hash $remote_addr".into()
            }
            Algorithm::ConsistentHash => format!("hash {} consistent", key(self)),
            other => {
                let (instead, why) = match other {
                    Algorithm::RingHash | Algorithm::Maglev | Algorithm::HaproxyConsistentHash => {
                        ("consistent hashing (ketama)", "another consistent hash")
                    }
                    Algorithm::HaproxyMapHash => {
                        ("consistent hashing (ketama)", "nginx's `hash` without `consistent` is another map")
                    }
                    Algorithm::BoundedLoadHash => ("consistent hashing (ketama)", "nginx has no bounded loads"),
                    Algorithm::StaticRr | Algorithm::HaproxyRoundRobin => {
                        ("round robin", "nginx's smooth WRR interleaves weights in another order")
                    }
                    Algorithm::First => ("round robin", "nginx has no fill-in-order method"),
                    _ => ("least_conn", "nginx open source has no latency-aware method (nginx Plus: least_time)"),
                };
                self.approx(
                    "nginx",
                    &format!("algorithm {} is not in nginx ({why}): {instead} stands in", other.name()),
                );
                match instead {
                    "least_conn" => "least_conn".into(),
                    "round robin" => String::new(),
                    _ => format!("hash {} consistent", key(self)),
                }
            }
        }
    }

    // ---- HAProxy ---------------------------------------------------------------------------

    fn haproxy(&mut self, sc: &Scenario, pools: &[Pool], host: &str, port: u16) -> String {
        let b = &sc.balancer;
        let l4 = b.layer == Layer::L4;
        self.common_notes("haproxy", sc);
        let mut out = header("haproxy", sc);
        out.push_str("global\n    maxconn 4096\n\ndefaults\n");
        let _ = writeln!(out, "    mode {}", if l4 { "tcp" } else { "http" });
        out.push_str("    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\n");
        // Every retry to another server: `option redispatch 1` (HAProxy's default redispatches
        // only on the last retry).
        let _ = writeln!(out, "    retries {}", b.retry_on_error);
        if b.retry_on_error > 0 {
            out.push_str("    option redispatch 1\n");
        }
        if let Some(p) = b.passive {
            self.approx("haproxy", &format!("nginx-style passive checks (max_fails {}, fail_timeout {}) are not HAProxy's; its closest is `observe layer4 error-limit {} on-error mark-down` with health checks to bring a server back", p.max_fails, seconds(p.fail_timeout_ns), p.max_fails));
        }
        if b.panic_threshold.is_some() {
            self.approx("haproxy", "balancer.panic_threshold (Envoy's panic mode) has no HAProxy equivalent");
        }
        if let Some(ss) = b.slow_start {
            self.approx("haproxy", &format!("balancer.slow_start: HAProxy's closest is `default-server slowstart {}` (a linear ramp from almost 0, roundrobin and leastconn only; no aggression or minimum weight); not exported", seconds(ss.window_ns)));
        }
        self.flush_notes(&mut out, "    ");
        let default = pools.iter().find(|p| p.name == "default").unwrap_or(&pools[0]);
        let _ = writeln!(out, "\nfrontend lbsim\n    bind {host}:{port}");
        if !l4 {
            // Longest prefix first: HAProxy takes the first matching rule.
            let mut routes: Vec<_> = b.routes.iter().filter(|r| r.prefix != "/").collect();
            routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
            for r in routes {
                let _ = writeln!(out, "    use_backend {} if {{ path_beg {} }}", r.pool, r.prefix);
            }
        }
        let root = b.routes.iter().find(|r| r.prefix == "/").map_or(default.name.as_str(), |r| r.pool.as_str());
        let _ = writeln!(out, "    default_backend {root}");
        for pool in pools {
            let _ = writeln!(out, "\nbackend {}", pool.name);
            let (balance, extra) = self.haproxy_balance(b, l4);
            self.flush_notes(&mut out, "    ");
            let _ = writeln!(out, "    balance {balance}");
            for e in extra {
                let _ = writeln!(out, "    {e}");
            }
            let cookie = b.sticky == Sticky::Cookie && !l4;
            match b.sticky {
                Sticky::Cookie if l4 => self.approx("haproxy", "cookie stickiness needs `mode http`; not exported"),
                Sticky::Cookie => out.push_str("    cookie SERVERID insert indirect nocache\n"),
                Sticky::SourceIp => out.push_str("    stick-table type ip size 1m expire 30m\n    stick on src\n"),
                Sticky::None => {}
            }
            let mut check = String::new();
            if let Some(h) = &b.health_check {
                if !l4 {
                    out.push_str("    option httpchk GET /\n");
                }
                let _ = writeln!(out, "    timeout check {}", millis(h.timeout_ns));
                check = format!(" check inter {} rise {} fall {}", millis(h.interval_ns), h.rise, h.fall);
            }
            self.flush_notes(&mut out, "    ");
            for s in &pool.servers {
                let weight = if s.weight != 1 { format!(" weight {}", s.weight) } else { String::new() };
                let backup = if s.backup { " backup" } else { "" };
                let ck = if cookie { format!(" cookie {}", s.name) } else { String::new() };
                // `balance first` fills a server up to its maxconn before the next.
                let maxconn = if b.algorithm == Algorithm::First && b.max_conns > 0 {
                    format!(" maxconn {}", b.max_conns)
                } else {
                    String::new()
                };
                let _ =
                    writeln!(out, "    server {} {}:{}{weight}{check}{backup}{ck}{maxconn}", s.name, s.host, s.port);
            }
        }
        out
    }

    /// The backend's `balance` argument and the lines that go with it.
    fn haproxy_balance(&mut self, b: &BalancerSpec, l4: bool) -> (String, Vec<String>) {
        let key = |e: &mut Exporter| -> String {
            match &b.hash_key {
                HashKey::SourceIp => "source".into(),
                _ if l4 => {
                    e.approx("haproxy", "`mode tcp` sees no request: hashing the source address");
                    "source".into()
                }
                HashKey::Path => "uri".into(),
                HashKey::Header(h) => format!("hdr({h})"),
                HashKey::Session => {
                    e.approx("haproxy", "hash_key = \"session\": hashing the Cookie header");
                    "hdr(Cookie)".into()
                }
            }
        };
        let consistent = |k: String| (k, vec!["hash-type consistent".to_string()]);
        match b.algorithm {
            Algorithm::RoundRobin => {
                self.approx("haproxy", "algorithm round_robin: HAProxy's `roundrobin` (haproxy_round_robin) stands in; it interleaves unequal weights in another order (5,1,1: a a a b a a c, nginx: a a b a c a a)");
                ("roundrobin".into(), vec![])
            }
            Algorithm::HaproxyRoundRobin => ("roundrobin".into(), vec![]),
            Algorithm::StaticRr => ("static-rr".into(), vec![]),
            Algorithm::First => ("first".into(), vec![]),
            Algorithm::Random => ("random(1)".into(), vec![]),
            Algorithm::LeastConnections => ("leastconn".into(), vec![]),
            Algorithm::RandomDraws => (format!("random({})", b.choices), vec![]),
            Algorithm::PowerOfTwo => {
                self.approx("haproxy", &format!("algorithm power_of_two: HAProxy's `random({})` (random_draws) stands in: weighted draws where Envoy schedules unequal weights, ties to the later draw", b.choices));
                (format!("random({})", b.choices), vec![])
            }
            Algorithm::RandomTwo => {
                self.approx("haproxy", "algorithm random_two: HAProxy's `random(2)` (random_draws) stands in; its two draws may be the same server");
                ("random(2)".into(), vec![])
            }
            Algorithm::IpHash => {
                self.approx("haproxy", "algorithm ip_hash: nginx's ip_hash (first three octets) is not HAProxy's `balance source` (the whole address, map-based)");
                ("source".into(), vec![])
            }
            Algorithm::HaproxyConsistentHash => consistent(key(self)),
            Algorithm::HaproxyMapHash => (key(self), vec!["hash-type map-based".to_string()]),
            Algorithm::ConsistentHash => {
                self.approx(
                    "haproxy",
                    "algorithm consistent_hash: HAProxy's consistent hash tree (haproxy_consistent_hash) stands in for nginx's ketama ring: another key → server mapping",
                );
                consistent(key(self))
            }
            Algorithm::BoundedLoadHash => {
                let k = key(self);
                let factor = (b.balance_factor * 100.0).round() as u64;
                (k, vec!["hash-type consistent".into(), format!("hash-balance-factor {factor}")])
            }
            Algorithm::RingHash | Algorithm::Maglev => {
                self.approx(
                    "haproxy",
                    &format!("algorithm {}: HAProxy's consistent hash tree stands in", b.algorithm.name()),
                );
                consistent(key(self))
            }
            Algorithm::PeakEwma => {
                self.approx("haproxy", "algorithm peak_ewma: not in HAProxy; leastconn stands in");
                ("leastconn".into(), vec![])
            }
        }
    }

    // ---- Envoy -----------------------------------------------------------------------------

    fn envoy(&mut self, sc: &Scenario, pools: &[Pool], host: &str, port: u16) -> String {
        let b = &sc.balancer;
        let l4 = b.layer == Layer::L4;
        self.common_notes("envoy", sc);
        if let Some(p) = b.passive {
            self.approx("envoy", &format!("nginx-style passive checks (max_fails {}, fail_timeout {}) are not Envoy's; its closest is outlier_detection (consecutive_5xx, base_ejection_time)", p.max_fails, seconds(p.fail_timeout_ns)));
        }
        match b.sticky {
            Sticky::None => {}
            Sticky::Cookie => self.approx("envoy", "cookie stickiness: Envoy's way is a RING_HASH/MAGLEV cluster with a cookie hash policy (or the stateful session filter); not exported"),
            Sticky::SourceIp => self.approx("envoy", "a stick table by source address: Envoy's way is a consistent hash on source_ip; not exported"),
        }
        if b.algorithm == Algorithm::Random && sc.servers.iter().any(|g| g.weight != 1) {
            self.approx("envoy", "weights: Envoy's RANDOM ignores load_balancing_weight (lbsim's random is weighted)");
        }
        let (policy, config) = self.envoy_policy(b);
        let hash_policy = self.envoy_hash_policy(b, l4);
        let retry_policy = b.retry.as_ref().map(|p| self.envoy_retry_policy(p));
        if let (Some(p), Some(cb)) = (&b.retry, &b.circuit_breakers)
            && p.budget.is_some()
        {
            self.approx("envoy", &format!("circuit_breakers.max_retries {}: Envoy ignores max_retries once a retry_budget is set; lbsim applies both", cb.max_retries));
        }
        let mut out = header("envoy", sc);
        self.flush_notes(&mut out, "");
        let default = pools.iter().find(|p| p.name == "default").unwrap_or(&pools[0]);
        out.push_str("static_resources:\n  listeners:\n  - name: lbsim\n");
        let _ = writeln!(out, "    address: {{ socket_address: {{ address: {host}, port_value: {port} }} }}");
        out.push_str("    filter_chains:\n    - filters:\n");
        if l4 {
            out.push_str("      - name: envoy.filters.network.tcp_proxy\n        typed_config:\n          \"@type\": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy\n          stat_prefix: lbsim\n");
            let _ = writeln!(out, "          cluster: {}", default.name);
            if let Some(h) = &hash_policy {
                let _ = writeln!(out, "          hash_policy: [{h}]");
            }
            if b.retry_on_error > 0 {
                let _ = writeln!(out, "          max_connect_attempts: {}", b.retry_on_error + 1);
            }
        } else {
            out.push_str("      - name: envoy.filters.network.http_connection_manager\n        typed_config:\n          \"@type\": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager\n          stat_prefix: lbsim\n          route_config:\n            virtual_hosts:\n            - name: all\n              domains: [\"*\"]\n              routes:\n");
            let mut routes: Vec<(&str, &str)> = b.routes.iter().map(|r| (r.prefix.as_str(), r.pool.as_str())).collect();
            routes.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
            if !routes.iter().any(|(p, _)| *p == "/") {
                routes.push(("/", default.name.as_str()));
            }
            for (prefix, pool) in routes {
                let _ = writeln!(
                    out,
                    "              - match: {{ prefix: \"{prefix}\" }}\n                route:\n                  cluster: {pool}"
                );
                if b.retry_on_error > 0 {
                    let _ = writeln!(
                        out,
                        "                  retry_policy:\n                    retry_on: connect-failure,refused-stream,reset\n                    num_retries: {}\n                    retry_host_predicate: [{{ name: envoy.retry_host_predicates.previous_hosts, typed_config: {{ \"@type\": type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate }} }}]",
                        b.retry_on_error
                    );
                }
                if let Some(r) = &retry_policy {
                    out.push_str(r);
                }
                if let Some(h) = &hash_policy {
                    let _ = writeln!(out, "                  hash_policy: [{h}]");
                }
            }
            out.push_str("          http_filters:\n          - name: envoy.filters.http.router\n            typed_config: { \"@type\": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }\n");
        }
        out.push_str("  clusters:\n");
        for pool in pools {
            let _ = writeln!(
                out,
                "  - name: {}\n    type: STATIC\n    connect_timeout: 5s\n    lb_policy: {policy}",
                pool.name
            );
            for c in &config {
                let _ = writeln!(out, "    {c}");
            }
            // Envoy's panic mode is on by default (50%); 0 turns it off, as lbsim has it unless
            // `panic_threshold` is set.
            let mut common = format!("healthy_panic_threshold: {{ value: {:?} }}", b.panic_threshold.unwrap_or(0.0));
            if b.algorithm == Algorithm::BoundedLoadHash {
                let factor = (b.balance_factor * 100.0).round() as u64;
                let _ = write!(common, ", consistent_hashing_lb_config: {{ hash_balance_factor: {factor} }}");
            }
            let _ = writeln!(out, "    common_lb_config: {{ {common} }}");
            if let Some(h) = &b.health_check {
                let check = if l4 { "tcp_health_check: {}" } else { "http_health_check: { path: / }" };
                let _ = writeln!(
                    out,
                    "    health_checks:\n    - timeout: {}\n      interval: {}\n      unhealthy_threshold: {}\n      healthy_threshold: {}\n      {check}",
                    proto_seconds(h.timeout_ns),
                    proto_seconds(h.interval_ns),
                    h.fall,
                    h.rise
                );
            }
            if let Some(od) = &b.outlier_detection {
                let _ = writeln!(
                    out,
                    "    outlier_detection:\n      consecutive_5xx: {}\n      consecutive_gateway_failure: {}\n      enforcing_consecutive_5xx: {}\n      enforcing_consecutive_gateway_failure: {}\n      interval: {}\n      base_ejection_time: {}\n      max_ejection_time: {}\n      max_ejection_percent: {}\n      success_rate_minimum_hosts: {}\n      success_rate_request_volume: {}\n      success_rate_stdev_factor: {}\n      enforcing_success_rate: {}",
                    od.consecutive_5xx,
                    od.consecutive_gateway_failure,
                    od.enforcing_consecutive_5xx,
                    od.enforcing_consecutive_gateway_failure,
                    proto_seconds(od.interval_ns),
                    proto_seconds(od.base_ejection_time_ns),
                    proto_seconds(od.max_ejection_time_ns),
                    od.max_ejection_percent,
                    od.success_rate_minimum_hosts,
                    od.success_rate_request_volume,
                    od.success_rate_stdev_factor,
                    od.enforcing_success_rate
                );
            }
            // The retry budget is a circuit-breaker threshold of the cluster in Envoy.
            let budget = b.retry.as_ref().and_then(|p| p.budget).filter(|_| !l4);
            if b.circuit_breakers.is_some() || budget.is_some() {
                out.push_str("    circuit_breakers:\n      thresholds:\n      - priority: DEFAULT\n");
            }
            if let Some(cb) = &b.circuit_breakers {
                let _ = writeln!(
                    out,
                    "        max_requests: {}\n        max_retries: {}\n        max_connections: {}\n        max_pending_requests: {}",
                    cb.max_requests, cb.max_retries, cb.max_connections, cb.max_pending_requests
                );
            }
            if let Some(budget) = budget {
                let _ = writeln!(
                    out,
                    "        retry_budget: {{ budget_percent: {{ value: {:?} }}, min_retry_concurrency: {} }}",
                    budget.budget_percent, budget.min_retry_concurrency
                );
            }
            let _ = writeln!(out, "    load_assignment:\n      cluster_name: {}\n      endpoints:", pool.name);
            for (priority, backup) in [(0, false), (1, true)] {
                let members: Vec<&Instance> = pool.servers.iter().filter(|s| s.backup == backup).collect();
                if members.is_empty() {
                    continue;
                }
                let _ = writeln!(out, "      - priority: {priority}\n        lb_endpoints:");
                for s in members {
                    let _ = writeln!(
                        out,
                        "        - endpoint: {{ address: {{ socket_address: {{ address: {}, port_value: {} }} }} }}  # {}",
                        s.host, s.port, s.name
                    );
                    if s.weight != 1 {
                        let _ = writeln!(out, "          load_balancing_weight: {}", s.weight);
                    }
                }
            }
        }
        out
    }

    /// `[balancer.retry]` as the route's `retry_policy` (Envoy's `RetryPolicy`): the lines
    /// under `route:`. lbsim's `retry_on` lists outcomes; Envoy's conditions group them: `5xx`
    /// retries error answers (server_error, rejected), connection failures and per-try
    /// timeouts together; `reset,connect-failure` only failures and per-try timeouts.
    fn envoy_retry_policy(&mut self, p: &BalancerRetry) -> String {
        let has = |o: Outcome| p.retry_on[o.index()];
        let per_try = p.per_try_timeout_ns.is_some();
        let listed: Vec<&str> = Outcome::ALL.iter().filter(|o| has(**o)).map(|o| o.name()).collect();
        let answers = has(Outcome::ServerError) || has(Outcome::Rejected) || has(Outcome::StoreUnavailable);
        let (retry_on, exact) = if answers {
            let all = has(Outcome::ServerError) && has(Outcome::Rejected) && has(Outcome::ConnectionError);
            (
                "5xx",
                all && !has(Outcome::StoreUnavailable)
                    && !has(Outcome::SessionLost)
                    && has(Outcome::Timeout) == per_try,
            )
        } else {
            let exact = has(Outcome::ConnectionError) && !has(Outcome::SessionLost) && has(Outcome::Timeout) == per_try;
            ("reset,connect-failure", exact)
        };
        if !exact {
            self.approx(
                "envoy",
                &format!("balancer.retry.retry_on [{}]: Envoy's conditions retry error answers, connection failures and per-try timeouts in groups; exported as {retry_on}", listed.join(", ")),
            );
        }
        let mut out = format!(
            "                  retry_policy:\n                    retry_on: {retry_on}\n                    num_retries: {}\n",
            p.num_retries
        );
        if let Some(t) = p.per_try_timeout_ns {
            let _ = writeln!(out, "                    per_try_timeout: {}", proto_seconds(t));
        }
        let _ = writeln!(
            out,
            "                    retry_back_off: {{ base_interval: {}, max_interval: {} }}",
            proto_seconds(p.base_interval_ns),
            proto_seconds(p.max_interval_ns)
        );
        if p.previous_hosts {
            out.push_str("                    retry_host_predicate: [{ name: envoy.retry_host_predicates.previous_hosts, typed_config: { \"@type\": type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate } }]\n");
            let _ = writeln!(
                out,
                "                    host_selection_retry_max_attempts: {}",
                p.host_selection_retry_max_attempts
            );
        }
        out
    }

    /// The cluster's `lb_policy` and its config lines.
    fn envoy_policy(&mut self, b: &BalancerSpec) -> (&'static str, Vec<String>) {
        // Envoy's `slow_start_config` lives in the ROUND_ROBIN and LEAST_REQUEST configs.
        let slow = b.slow_start.map_or(String::new(), |ss| {
            format!(
                "slow_start_config: {{ slow_start_window: {}, aggression: {{ default_value: {:?}, runtime_key: lbsim.slow_start.aggression }}, min_weight_percent: {{ value: {:?} }} }}",
                proto_seconds(ss.window_ns),
                ss.aggression,
                ss.min_weight_percent
            )
        });
        if b.slow_start.is_some() && !matches!(b.algorithm, Algorithm::RoundRobin | Algorithm::PowerOfTwo) {
            self.approx(
                "envoy",
                "balancer.slow_start: Envoy ramps only ROUND_ROBIN and LEAST_REQUEST hosts; not exported",
            );
        }
        match b.algorithm {
            Algorithm::RoundRobin if !slow.is_empty() => {
                ("ROUND_ROBIN", vec![format!("round_robin_lb_config: {{ {slow} }}")])
            }
            Algorithm::RoundRobin => ("ROUND_ROBIN", vec![]),
            Algorithm::Random => ("RANDOM", vec![]),
            Algorithm::PowerOfTwo => {
                let extra = if slow.is_empty() { String::new() } else { format!(", {slow}") };
                ("LEAST_REQUEST", vec![format!("least_request_lb_config: {{ choice_count: {}{extra} }}", b.choices)])
            }
            Algorithm::RandomTwo | Algorithm::RandomDraws => {
                self.approx(
                    "envoy",
                    &format!(
                        "algorithm {}: Envoy's LEAST_REQUEST (draws with replacement, fewest active requests) stands in",
                        b.algorithm.name()
                    ),
                );
                let n = if b.algorithm == Algorithm::RandomTwo { 2 } else { b.choices };
                ("LEAST_REQUEST", vec![format!("least_request_lb_config: {{ choice_count: {n} }}")])
            }
            Algorithm::StaticRr | Algorithm::HaproxyRoundRobin | Algorithm::First => {
                self.approx("envoy", &format!("algorithm {}: Envoy's ROUND_ROBIN stands in", b.algorithm.name()));
                ("ROUND_ROBIN", vec![])
            }
            Algorithm::LeastConnections | Algorithm::PeakEwma => {
                self.approx(
                    "envoy",
                    &format!(
                        "algorithm {}: Envoy's LEAST_REQUEST (power of two choices) stands in",
                        b.algorithm.name()
                    ),
                );
                ("LEAST_REQUEST", vec![])
            }
            Algorithm::RingHash => {
                ("RING_HASH", vec![format!("ring_hash_lb_config: {{ minimum_ring_size: {} }}", b.ring_size)])
            }
            Algorithm::Maglev => ("MAGLEV", vec![format!("maglev_lb_config: {{ table_size: {} }}", b.table_size)]),
            Algorithm::ConsistentHash
            | Algorithm::IpHash
            | Algorithm::HaproxyConsistentHash
            | Algorithm::HaproxyMapHash => {
                self.approx("envoy", &format!("algorithm {}: Envoy's RING_HASH stands in", b.algorithm.name()));
                ("RING_HASH", vec![format!("ring_hash_lb_config: {{ minimum_ring_size: {} }}", b.ring_size)])
            }
            // The balance factor goes in common_lb_config, written with the panic threshold.
            Algorithm::BoundedLoadHash => {
                ("RING_HASH", vec![format!("ring_hash_lb_config: {{ minimum_ring_size: {} }}", b.ring_size)])
            }
        }
    }

    /// The route's (or TCP proxy's) hash policy, for the hashing policies.
    fn envoy_hash_policy(&mut self, b: &BalancerSpec, l4: bool) -> Option<String> {
        let hashing = matches!(
            b.algorithm,
            Algorithm::RingHash
                | Algorithm::Maglev
                | Algorithm::ConsistentHash
                | Algorithm::IpHash
                | Algorithm::BoundedLoadHash
                | Algorithm::HaproxyConsistentHash
                | Algorithm::HaproxyMapHash
        );
        if !hashing {
            return None;
        }
        let key = if b.algorithm == Algorithm::IpHash { &HashKey::SourceIp } else { &b.hash_key };
        Some(match key {
            HashKey::SourceIp if l4 => "{ source_ip: {} }".into(),
            HashKey::SourceIp => "{ connection_properties: { source_ip: true } }".into(),
            _ if l4 => {
                self.approx("envoy", "a TCP proxy sees no request: hashing the source address");
                "{ source_ip: {} }".into()
            }
            HashKey::Path => "{ header: { header_name: \":path\" } }".into(),
            HashKey::Header(h) => format!("{{ header: {{ header_name: {h} }} }}"),
            HashKey::Session => "{ cookie: { name: session } }".into(),
        })
    }
}

/// The first lines of every export: what it is, from what.
fn header(program: &str, sc: &Scenario) -> String {
    format!(
        "# Exported by `lbsim export {program}` from scenario {}.\n# The balancer part only: servers, balancing, health and retries. Settings {program} cannot\n# express exactly are comments starting `lbsim:`.\n\n",
        crate::import::comment(&sc.name)
    )
}

/// A duration in whole seconds when exact, else milliseconds (nginx and Envoy syntax).
fn seconds(ns: u64) -> String {
    if ns.is_multiple_of(1_000_000_000) { format!("{}s", ns / 1_000_000_000) } else { millis(ns) }
}

/// A duration in milliseconds (at least 1).
fn millis(ns: u64) -> String {
    format!("{}ms", ns.div_ceil(1_000_000).max(1))
}

/// A duration as protobuf's JSON form wants it (Envoy): decimal seconds, `0.5s`.
fn proto_seconds(ns: u64) -> String {
    let (whole, frac) = (ns / 1_000_000_000, ns % 1_000_000_000);
    if frac == 0 { format!("{whole}s") } else { format!("{whole}.{}s", format!("{frac:09}").trim_end_matches('0')) }
}
