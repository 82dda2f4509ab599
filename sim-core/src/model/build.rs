//! Building a simulation from a scenario: instances, pools, replicas, address plans, random
//! streams, and the first events.

use super::state::*;
use super::{BalancerFactory, GroupRuntime, PoolInfo, Simulation};
use crate::algo::{AnyBalancer, BuiltInParams};
use crate::config::check::route_pool;
use crate::metrics::Stats;
use crate::metrics::hash::TraceHasher;
use crate::metrics::hist::ServerLatencies;
use crate::metrics::series::SeriesAcc;
use crate::queue::EventQueue;
use crate::rng::{Purpose, SimRng, Zipf};
use crate::scenario::*;
use crate::slab::Slab;

/// The mean gap between requests at `rate` per second (infinite at rate 0: no requests).
pub(crate) fn mean_gap_ns(rate: f64) -> f64 {
    if rate > 0.0 { 1e9 / rate } else { f64::INFINITY }
}

/// Client `i`'s share of its group's rate under Zipf skew `s` (mean 1 over the group).
pub(crate) fn skew_weight(i: u32, count: u32, s: f64) -> f64 {
    if s == 0.0 || count <= 1 {
        return 1.0;
    }
    let total: f64 = (1..=count).map(|k| libm::pow(f64::from(k), -s)).sum();
    f64::from(count) * libm::pow(f64::from(i + 1), -s) / total
}

/// A realistic public IPv4 address (no private, loopback, multicast or reserved ranges).
fn public_ipv4(rng: &mut SimRng) -> u32 {
    loop {
        let ip = rng.next_u64() as u32;
        let [a, b, _, _] = ip.to_be_bytes();
        let private = a == 0
            || a == 10
            || a == 127
            || a >= 224
            || (a == 100 && (64..128).contains(&b))
            || (a == 169 && b == 254)
            || (a == 172 && (16..32).contains(&b))
            || (a == 192 && b == 168);
        if !private {
            return ip;
        }
    }
}

/// The xxHash64 of a path, the `path` hash key.
fn path_key(path: &str) -> u64 {
    twox_hash::XxHash64::oneshot(0, path.as_bytes())
}

pub(super) fn build(sc: &Scenario, seed: u64, custom: Option<BalancerFactory>) -> Simulation {
    let sc = sc.clone();
    // Servers: every instance that will ever exist (initial count plus timeline adds).
    let mut adds = vec![0u32; sc.servers.len()];
    for e in &sc.events {
        if let Action::Add { target, count } = &e.action
            && let Some(g) = sc.servers.iter().position(|g| &g.name == target)
        {
            adds[g] += count;
        }
    }
    let mut pool_names: Vec<String> = Vec::new();
    for g in &sc.servers {
        if !pool_names.contains(&g.pool) {
            pool_names.push(g.pool.clone());
        }
    }
    let mut servers = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for (gi, g) in sc.servers.iter().enumerate() {
        let pool = pool_names.iter().position(|p| p == &g.pool).expect("pool of a group") as u16;
        // An autoscaled group's instances up to `max` exist from the start, not yet added.
        let scaled = g.autoscale.map_or(0, |a| a.max.saturating_sub(g.count));
        for i in 0..g.count + adds[gi] + scaled {
            let id = servers.len() as u64;
            names.push(format!("{}-{}", g.name, i + 1));
            servers.push(Server {
                group: gi as u16,
                pool,
                backup: g.backup,
                workers: g.workers,
                queue_cap: g.queue.unwrap_or(u32::MAX),
                queue_head: NONE,
                queue_tail: NONE,
                queued: 0,
                state: if i < g.count { ServerState::Up } else { ServerState::NotAdded },
                slow: 1.0,
                busy: 0,
                conns_open: 0,
                sessions: 0,
                state_since_ns: 0,
                crash: None,
                busy_area: 0,
                busy_since_ns: 0,
                queue_area: 0,
                queue_since_ns: 0,
                busy_all: 0,
                queue_all: 0,
                up_whole_window: i < g.count,
                has_errors: false,
                errors: None,
            });
            if g.error_rate > 0.0 {
                servers.last_mut().expect("just pushed").set_errors(|| ServerErrors {
                    rate: g.error_rate,
                    latency_ns: g.error_latency_ns,
                    rng: SimRng::stream(seed, Purpose::Errors, id),
                });
            }
        }
    }
    let n_servers = servers.len();
    let mut pools: Vec<PoolInfo> =
        pool_names.iter().map(|_| PoolInfo { version: 1, primaries: Vec::new(), backups: Vec::new() }).collect();
    for (s, server) in servers.iter().enumerate() {
        if server.state == ServerState::Up {
            let pool = &mut pools[server.pool as usize];
            if server.backup { pool.backups.push(s as u32) } else { pool.primaries.push(s as u32) }
        }
    }
    let weights: Vec<u32> = servers.iter().map(|s| sc.servers[s.group as usize].weight).collect();
    let ramp = sc.balancer.slow_start.map(|spec| Box::new(super::slow_start::Ramp::new(spec, &weights)));
    // What hash rings hash: a server's address where the scenario gives addresses (the real
    // balancer's `server host:port` text), else its instance name.
    let mut ring_names = names.clone();
    let mut nth = vec![0u32; sc.servers.len()];
    for (s, server) in servers.iter().enumerate() {
        let g = server.group as usize;
        if let Some(a) = sc.servers[g].address.as_ref().and_then(|a| a.instance(nth[g])) {
            ring_names[s] = a;
        }
        nth[g] += 1;
    }

    // Clients, with their address plan: each group draws `source_ips` public addresses.
    let mut clients = Vec::new();
    let mut groups = Vec::new();
    let mut ip_base = 0u32;
    for (gi, g) in sc.clients.iter().enumerate() {
        let mut addr_rng = SimRng::stream(seed, Purpose::Addresses, gi as u64);
        // Explicit addresses (`source_addresses`) replace the drawn ones; a repeated address
        // is one source (one per-IP counter), as a real balancer sees it.
        let ips: Vec<u32> = if g.source_addresses.is_empty() {
            (0..g.source_ips).map(|_| public_ipv4(&mut addr_rng)).collect()
        } else {
            g.source_addresses.clone()
        };
        let ip_ids: Vec<u32> = if g.source_addresses.is_empty() {
            (0..ips.len() as u32).collect()
        } else {
            let mut first = std::collections::BTreeMap::new();
            ips.iter().enumerate().map(|(k, &a)| *first.entry(a).or_insert(k as u32)).collect()
        };
        let total: f64 = g.paths.iter().map(|(_, w)| *w).sum();
        let mut acc = 0.0;
        let path_cumulative = g
            .paths
            .iter()
            .map(|(_, w)| {
                acc += w / total;
                acc
            })
            .collect();
        let path_pool = g
            .paths
            .iter()
            .map(|(p, _)| {
                let name = route_pool(&sc.balancer.routes, p);
                pool_names.iter().position(|n| n == name).unwrap_or(0) as u16
            })
            .collect();
        let path_route = g
            .paths
            .iter()
            .map(|(p, _)| {
                sc.balancer
                    .routes
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| p.starts_with(&r.prefix))
                    .max_by_key(|(_, r)| r.prefix.len())
                    .map(|(i, _)| i as u16)
            })
            .collect();
        groups.push(GroupRuntime {
            path_cumulative,
            path_pool,
            path_route,
            path_key: g.paths.iter().map(|(p, _)| path_key(p)).collect(),
            zipf: g.keys.as_ref().map(|k| Zipf::new(u64::from(k.count), k.skew)),
            first_client: clients.len() as u32,
            burst_next: 0,
        });
        for i in 0..g.count {
            let id = clients.len() as u64;
            let ip_index = i % (ips.len() as u32).max(1);
            clients.push(Client {
                group: gi as u16,
                index: i,
                ip_id: ip_base + ip_ids[ip_index as usize],
                ip: ips[ip_index as usize],
                // A rate schedule draws gaps of the unit-rate process (scaled by the client's
                // share) and maps them through the schedule's cumulative rate.
                mean_gap_ns: match g.schedule {
                    Some(Schedule::Rate(_)) => mean_gap_ns(skew_weight(i, g.count, g.rate_skew)),
                    _ => mean_gap_ns(g.rate * skew_weight(i, g.count, g.rate_skew)),
                },
                arrival_generation: 0,
                arrivals_rng: SimRng::stream(
                    seed,
                    if g.users.is_some() { Purpose::Think } else { Purpose::Arrivals },
                    id,
                ),
                traffic_rng: SimRng::stream(seed, Purpose::Traffic, id),
                rng: None,
                replica: 0,
                conns: smallvec::SmallVec::new(),
                waiting: std::collections::VecDeque::new(),
                pumping: false,
                pump_again: false,
                rr_next: 0,
                resolved: Vec::new(),
                session: None,
                stream: None,
                cookie: NONE,
                backoff: Vec::new(),
                started: false,
                users: 0,
                users_target: 0,
                retry_rng: (g.retry.is_some() || !g.retry_same_work)
                    .then(|| Box::new(SimRng::stream(seed, Purpose::Retry, id))),
                retry_milli_tokens: g.retry.as_ref().and_then(|p| p.throttling).map_or(0, |t| t.max_milli_tokens),
            });
        }
        ip_base += (ips.len() as u32).max(1);
    }

    let series_on = false;
    let stats = Stats::new(
        sc.clients.len(),
        n_servers,
        SeriesAcc::new(series_on, n_servers, sc.report.interval_ns, sc.duration_ns, MAX_SERIES_BUCKETS),
    );
    let mut sim = Simulation {
        seed,
        now: 0,
        queue: EventQueue::default(),
        events_processed: 0,
        hasher: TraceHasher::default(),
        ended: false,
        finished: false,
        clients,
        groups,
        server_latency: ServerLatencies::new(n_servers),
        servers,
        weights,
        names,
        server_rngs: vec![None; n_servers],
        ring_names,
        pools,
        replicas: Vec::new(),
        layer: sc.balancer.layer,
        sticky: sc.balancer.sticky,
        algorithm: sc.balancer.algorithm,
        custom,
        store_up: true,
        store_factor: 1.0,
        reqs: Slab::default(),
        hedges: Slab::default(),
        jobs: Slab::default(),
        job_next: Vec::new(),
        job_work: Vec::new(),
        conns: Slab::default(),
        sessions: Slab::default(),
        streams: Slab::default(),
        next_req_id: 0,
        next_session_id: 1,
        next_conn_id: 1,
        dns_counter: 0,
        stats,
        trace: None,
        trace_events: None,
        trace_attempts: None,
        aborted: None,
        view_version: 0,
        ip_count: ip_base,
        has_rate_limits: sc.balancer.rate_limit.is_some() || sc.balancer.routes.iter().any(|r| r.rate_limit.is_some()),
        replays: sc.clients.iter().map(|_| super::replay::Replay::default()).collect(),
        ramp,
        scalers: Vec::new(),
        sc,
    };
    for r in 0..sim.sc.balancer.replicas {
        let replica = sim.fresh_replica(r);
        sim.replicas.push(replica);
    }
    sim.hasher.words(&[seed, sim.servers.len() as u64, sim.clients.len() as u64]);

    // First events: timeline, health checks, the end, then each client's start.
    for (i, e) in sim.sc.events.iter().enumerate() {
        // Actions at or after the end never happen (`check` warns about them).
        if e.at_ns < sim.sc.duration_ns {
            sim.queue.push_first(e.at_ns, i as u64, Ev::Timeline { index: i as u32 });
        }
    }
    if let Some(hc) = sim.sc.balancer.health_check {
        for r in 0..sim.replicas.len() as u32 {
            let mut rng = SimRng::stream(seed, Purpose::Health, u64::from(r));
            for s in 0..n_servers as u32 {
                let phase = rng.below(hc.interval_ns.max(1));
                sim.queue.push(phase, Ev::HealthCheck { replica: r, server: s });
            }
        }
    }
    if let Some(od) = sim.sc.balancer.outlier_detection {
        // Envoy arms the detector's interval timer when the cluster starts.
        for r in 0..sim.replicas.len() as u32 {
            sim.queue.push(od.interval_ns, Ev::OutlierInterval { replica: r });
        }
    }
    sim.queue.push(sim.sc.duration_ns, Ev::End);
    sim.start_autoscalers();
    for (g, group) in sim.sc.clients.iter().enumerate() {
        if let Some(Schedule::Users(points)) = &group.schedule {
            for (j, &(at, _)) in points.iter().enumerate() {
                if at > 0 && at < sim.sc.duration_ns {
                    sim.queue.push(at, Ev::Population { group: g as u32, point: j as u32 });
                }
            }
        }
    }
    for c in 0..sim.clients.len() as u32 {
        // Clients start now, or later by their group's `start` and `ramp` (those starting at
        // or after the end never do).
        let client = &sim.clients[c as usize];
        let at = sim.sc.clients[client.group as usize].client_start_ns(client.index);
        if at == 0 {
            sim.start_client(c);
        } else if at < sim.sc.duration_ns {
            sim.queue.push(at, Ev::Start { client: c });
        }
    }
    sim
}

impl Simulation {
    /// A replica as it starts: fresh algorithm state, every server healthy, no counters.
    fn fresh_replica(&self, r: u32) -> Replica {
        let n = self.servers.len();
        let params = BuiltInParams::from_spec(&self.sc.balancer);
        let balancers = (0..self.pools.len())
            .map(|_| match &self.custom {
                Some(factory) => AnyBalancer::Custom(factory()),
                None => AnyBalancer::new(self.algorithm, &params),
            })
            .collect();
        let rise = self.sc.balancer.health_check.map_or(1, |h| h.rise);
        let mut limits: Vec<Option<RateLimit>> = vec![self.sc.balancer.rate_limit];
        limits.extend(self.sc.balancer.routes.iter().map(|r| r.rate_limit));
        let rate_counters = limits
            .iter()
            .map(|l| match l {
                None => Vec::new(),
                Some(l) => {
                    let keys = match l.key {
                        RateKey::Client => self.clients.len(),
                        RateKey::Ip => self.ip_count as usize,
                        RateKey::Global => 1,
                    };
                    vec![RateCounter { stamp_ns: u64::MAX, value: 0 }; keys]
                }
            })
            .collect();
        Replica {
            up: true,
            busy: 0,
            queue: std::collections::VecDeque::new(),
            balancers,
            rng: SimRng::stream(self.seed, Purpose::Balancer, u64::from(r)),
            active: vec![0; n],
            available: vec![false; n],
            views: vec![PoolView::default(); self.pools.len()],
            dirty: true,
            passive_expiry_ns: 0,
            health: vec![HealthState { health: rise, up: true, down_since_ns: 0 }; n],
            passive: vec![PassiveState::default(); n],
            outlier: match self.sc.balancer.outlier_detection {
                Some(_) => vec![OutlierHost { unejected_ns: u64::MAX, ..OutlierHost::default() }; n],
                None => Vec::new(),
            },
            outlier_rng: SimRng::stream(self.seed, Purpose::Outlier, u64::from(r)),
            outlier_armed: self.sc.balancer.outlier_detection.is_some(),
            pool_requests: match self.sc.balancer.circuit_breakers {
                Some(_) => vec![0; self.pools.len()],
                None => Vec::new(),
            },
            // Retries outstanding are counted whatever limits them (`max_retries`, the budget).
            pool_retries: vec![0; self.pools.len()],
            overflows: 0,
            retries_overflowed: 0,
            upstream: vec![Upstream::default(); n],
            pending: match self.sc.balancer.circuit_breakers {
                Some(_) => vec![std::collections::VecDeque::new(); n],
                None => Vec::new(),
            },
            pool_pending: match self.sc.balancer.circuit_breakers {
                Some(_) => vec![0; self.pools.len()],
                None => Vec::new(),
            },
            stick: vec![NONE; self.ip_count as usize],
            rate_counters,
            routed: 0,
            rate_limited: 0,
            busy_area: 0,
            busy_since_ns: self.now,
            down_since_ns: 0,
            down_ns: 0,
            active_retries: 0,
            retry_rng: self
                .sc
                .balancer
                .retry
                .is_some()
                .then(|| Box::new(SimRng::stream(self.seed, Purpose::BalancerRetry, u64::from(r)))),
        }
    }

    /// A recovered replica starts over (its algorithm, health view, connections and counters
    /// are new); what the report accumulates, its workers and its random stream carry on.
    pub(super) fn reset_replica_state(&mut self, r: u32) {
        let fresh = self.fresh_replica(r);
        let old = std::mem::replace(&mut self.replicas[r as usize], fresh);
        let new = &mut self.replicas[r as usize];
        new.rng = old.rng;
        new.busy = old.busy;
        new.busy_area = old.busy_area;
        new.busy_since_ns = old.busy_since_ns;
        new.routed = old.routed;
        new.rate_limited = old.rate_limited;
        new.overflows = old.overflows;
        // Its detector's sweep (if one is scheduled) is still in the queue.
        new.outlier_armed = old.outlier_armed;
        new.retries_overflowed = old.retries_overflowed;
        new.down_ns = old.down_ns;
        new.down_since_ns = old.down_since_ns;
    }
}
