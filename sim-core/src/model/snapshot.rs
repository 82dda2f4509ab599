//! What a viewer needs each frame — compact per-server, per-replica and per-group numbers and
//! the connection and request flows between them — and the balancer's own state for the
//! inspector (why the next pick goes where it goes).

use serde::Serialize;

use super::Simulation;
use super::state::*;

/// Per-server state codes in [`Snapshot::server_state`].
pub mod server_state {
    /// Not yet added by the timeline.
    pub const NOT_ADDED: u8 = 0;
    /// Serving.
    pub const UP: u8 = 1;
    /// Crashed.
    pub const DOWN: u8 = 2;
    /// Draining before removal.
    pub const DRAINING: u8 = 3;
    /// Removed.
    pub const REMOVED: u8 = 4;
    /// Asked for by an autoscaler and not ready yet (`provision_delay`): a slot that is not
    /// added, or was removed, and is on its way in.
    pub const PROVISIONING: u8 = 5;
}

/// Session-store state codes in [`Snapshot::store`].
pub mod store_state {
    /// The scenario has no `[session_store]`.
    pub const NONE: u8 = 0;
    /// Answering at its latency.
    pub const UP: u8 = 1;
    /// Down (`store_down`): every request that touches a session fails `store_unavailable`.
    pub const DOWN: u8 = 2;
    /// Slowed (`store_slow`): its latency is multiplied.
    pub const SLOW: u8 = 3;
}

/// The state of a run at one instant, as flat arrays (cheap to hand to JavaScript as typed
/// arrays). Indexes: servers by id, replicas by index, client groups by index.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// Simulated time in milliseconds.
    pub now_ms: f64,
    /// See [`server_state`].
    pub server_state: Vec<u8>,
    /// Requests in service.
    pub server_busy: Vec<u32>,
    /// Requests waiting in the queue.
    pub server_queue: Vec<u32>,
    /// Open connections.
    pub server_conns: Vec<u32>,
    /// Requests served so far (after warmup).
    pub server_served: Vec<f64>,
    /// How many replicas currently may not pick the server (health checks, nginx failures).
    pub server_marked_down: Vec<u32>,
    /// Service-time multiplier (1 = normal).
    pub server_slow: Vec<f64>,
    /// How many replicas' outlier detectors have the server ejected (Envoy's
    /// `FAILED_OUTLIER_CHECK`; these replicas count it in `server_marked_down` too).
    pub server_ejected: Vec<u32>,
    /// When the longest of those ejections ends, in ms (0 when not ejected): the ejection time
    /// `min(base_ejection_time × ejections, max_ejection_time)` after it began; the host
    /// returns at the first detector sweep (`interval`) from then on.
    pub server_ejected_until_ms: Vec<f64>,
    /// Sessions whose state the server holds now.
    pub server_sessions: Vec<u32>,
    /// Sessions whose state was lost at the server so far (after warmup): it crashed, or
    /// the session was sent elsewhere.
    pub server_sessions_lost: Vec<f64>,
    /// Requests the server answered with an error (`server_error`), refused with a full queue
    /// (`rejected`) or that reached it crashed (`connection_error`), after warmup.
    pub server_errors: Vec<f64>,
    /// Tries that reached the server as retries (the client's or the balancer's), after warmup.
    pub server_retries: Vec<f64>,
    /// Tries that reached the server as hedges, after warmup.
    pub server_hedges: Vec<f64>,
    /// Mean latency of the requests the server answered `ok`, in ms (0 before the first).
    pub server_latency_ms: Vec<f64>,
    /// 1 if the replica is up.
    pub replica_up: Vec<u8>,
    /// Busy workers.
    pub replica_busy: Vec<u32>,
    /// Requests waiting for a worker.
    pub replica_queue: Vec<u32>,
    /// Circuit breakers: requests the replica has in flight to servers, over all pools (what
    /// `max_requests` caps per pool); 0 without breakers.
    pub replica_open_requests: Vec<u32>,
    /// Requests the replica's circuit breakers refused (`overflow`), after warmup.
    pub replica_overflows: Vec<f64>,
    /// `[balancer.circuit_breakers] max_requests` (per replica and pool); 0 without breakers.
    pub max_requests: u32,
    /// See [`store_state`].
    pub store: u8,
    /// The session store's latency now, in ms (its `latency` × the `store_slow` factor).
    pub store_latency_ms: f64,
    /// Retries made so far (the clients' and the balancer's), after warmup.
    pub retries: f64,
    /// Hedged attempts sent so far (beyond each request's first), after warmup.
    pub hedges: f64,
    /// Requests in flight per client group.
    pub group_in_flight: Vec<u32>,
    /// Requests waiting for a connection per client group.
    pub group_waiting: Vec<u32>,
    /// Open connections per client group.
    pub group_conns: Vec<u32>,
    /// Connections, aggregated: `[group, replica or u32::MAX, server or u32::MAX, connections,
    /// streams]` per entry (L7 connections end at the replica; L4, WebSocket and client-side
    /// connections reach a server).
    pub edges: Vec<u32>,
    /// Requests in flight from each client group to each server, `groups × servers`, row-major
    /// (requests not yet at a server count under their replica in `flows_to_replica`).
    pub flows: Vec<u32>,
    /// Requests in flight at or to each replica per group, `groups × replicas`, row-major.
    pub flows_to_replica: Vec<u32>,
    /// Totals after warmup: sent, ok, then each failure outcome (report order), sessions
    /// started, sessions lost.
    pub totals: Vec<f64>,
}

/// One server as one replica sees it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct InspectServer {
    /// Server name.
    pub name: String,
    /// Its pool.
    pub pool: String,
    /// Weight.
    pub weight: u32,
    /// Whether this replica may pick it now.
    pub eligible: bool,
    /// This replica's requests (L7) or connections (L4) in flight to it.
    pub active: u32,
    /// HAProxy health counter (when active checks are on).
    pub health: Option<u32>,
    /// Whether active checks say up.
    pub checks_up: bool,
    /// nginx failures counted.
    pub fails: u32,
    /// The algorithm's own number for this server (smooth-WRR current weight, peak-EWMA
    /// estimate in ms, …), if it keeps one.
    pub algorithm_state: Option<f64>,
    /// Share of the hash ring or Maglev table (hash algorithms).
    pub hash_share: Option<f64>,
    /// With outlier detection: whether this replica's detector has the server ejected.
    pub ejected: bool,
    /// When that ejection ends, in ms (the host returns at the first sweep from then on);
    /// `None` when not ejected.
    pub ejected_until_ms: Option<f64>,
}

/// A replica's circuit breakers (`[balancer.circuit_breakers]`).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct BreakerState {
    /// Requests in flight to servers, over all pools.
    pub open_requests: u32,
    /// `max_requests`, per pool.
    pub max_requests: u32,
    /// Retries outstanding, over all pools.
    pub open_retries: u32,
    /// `max_retries`, per pool.
    pub max_retries: u32,
    /// Requests refused (`overflow`), after warmup.
    pub overflows: u64,
    /// Retries `max_retries` did not allow, after warmup.
    pub retries_overflowed: u64,
}

/// A replica's balancer state.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Inspection {
    /// `balancer-<i>`.
    pub replica: String,
    /// Whether it is up.
    pub up: bool,
    /// The algorithm running.
    pub algorithm: String,
    /// What `algorithm_state` means for this algorithm.
    pub state_meaning: String,
    /// Per server, in id order.
    pub servers: Vec<InspectServer>,
    /// Its circuit breakers, when the scenario has them.
    pub circuit_breakers: Option<BreakerState>,
    /// Per pool: where the next pick goes and why, as the balancer explains it.
    pub next: Vec<super::explain::NextPick>,
}

impl Simulation {
    /// Fills `snap` with the current state (reusing its buffers).
    pub fn snapshot_into(&self, snap: &mut Snapshot) {
        let n = self.servers.len();
        let g = self.sc.clients.len();
        let r = self.replicas.len();
        snap.now_ms = self.now as f64 / 1e6;
        snap.server_state.clear();
        snap.server_state.extend(self.servers.iter().map(|s| match s.state {
            ServerState::NotAdded => server_state::NOT_ADDED,
            ServerState::Up => server_state::UP,
            ServerState::Down => server_state::DOWN,
            ServerState::Draining => server_state::DRAINING,
            ServerState::Removed => server_state::REMOVED,
        }));
        snap.server_busy.clear();
        snap.server_busy.extend(self.servers.iter().map(|s| s.busy));
        snap.server_queue.clear();
        snap.server_queue.extend(self.servers.iter().map(|s| s.queued));
        snap.server_conns.clear();
        snap.server_conns.extend(self.servers.iter().map(|s| s.conns_open as u32));
        snap.server_served.clear();
        snap.server_served.extend(self.stats.served.iter().map(|&c| c as f64));
        snap.server_slow.clear();
        snap.server_slow.extend(self.servers.iter().map(|s| s.slow));
        let st = &self.stats;
        let per_server = |v: &mut Vec<f64>, counts: &[u64]| {
            v.clear();
            v.extend(counts.iter().map(|&c| c as f64));
        };
        snap.server_sessions.clear();
        snap.server_sessions.extend(self.servers.iter().map(|s| s.sessions.min(u64::from(u32::MAX)) as u32));
        per_server(&mut snap.server_sessions_lost, &st.server_sessions_lost);
        per_server(&mut snap.server_retries, &st.server_retries);
        per_server(&mut snap.server_hedges, &st.server_hedges);
        snap.server_errors.clear();
        snap.server_errors.extend((0..n).map(|s| (st.server_errors[s] + st.rejected[s] + st.while_down[s]) as f64));
        snap.server_latency_ms.clear();
        snap.server_latency_ms.extend((0..n).map(|s| self.server_latency.mean_ms(s)));
        // Autoscaled servers on their way in are drawn as such, not as absent.
        for scaler in &self.scalers {
            for &s in &scaler.provisioning {
                if matches!(self.servers[s as usize].state, ServerState::NotAdded | ServerState::Removed) {
                    snap.server_state[s as usize] = server_state::PROVISIONING;
                }
            }
        }
        snap.server_ejected.clear();
        snap.server_ejected.resize(n, 0);
        snap.server_ejected_until_ms.clear();
        snap.server_ejected_until_ms.resize(n, 0.0);
        for replica in self.replicas.iter().filter(|x| x.up) {
            for s in 0..replica.outlier.len() {
                if let Some(until) = self.ejected_until_ms(replica, s) {
                    snap.server_ejected[s] += 1;
                    snap.server_ejected_until_ms[s] = snap.server_ejected_until_ms[s].max(until);
                }
            }
        }
        snap.server_marked_down.clear();
        snap.server_marked_down.resize(n, 0);
        for replica in &self.replicas {
            if !replica.up {
                continue;
            }
            for (s, server) in self.servers.iter().enumerate() {
                let live = matches!(server.state, ServerState::Up | ServerState::Down);
                if live && !self.server_usable_by(replica, s) {
                    snap.server_marked_down[s] += 1;
                }
            }
        }
        snap.replica_up.clear();
        snap.replica_up.extend(self.replicas.iter().map(|x| u8::from(x.up)));
        snap.replica_busy.clear();
        snap.replica_busy.extend(self.replicas.iter().map(|x| x.busy));
        snap.replica_queue.clear();
        snap.replica_queue.extend(self.replicas.iter().map(|x| x.queue.len() as u32));
        snap.replica_open_requests.clear();
        snap.replica_open_requests.extend(self.replicas.iter().map(|x| x.pool_requests.iter().sum::<u32>()));
        snap.replica_overflows.clear();
        snap.replica_overflows.extend(self.replicas.iter().map(|x| x.overflows as f64));
        snap.max_requests = self.sc.balancer.circuit_breakers.map_or(0, |cb| cb.max_requests);
        (snap.store, snap.store_latency_ms) = match &self.sc.session_store {
            None => (store_state::NONE, 0.0),
            Some(store) => {
                let state = if !self.store_up {
                    store_state::DOWN
                } else if self.store_factor != 1.0 {
                    store_state::SLOW
                } else {
                    store_state::UP
                };
                (state, store.latency_ns as f64 * self.store_factor / 1e6)
            }
        };
        snap.retries = (st.retries + st.balancer_retries) as f64;
        snap.hedges = st.hedges as f64;
        snap.group_in_flight.clear();
        snap.group_in_flight.resize(g, 0);
        snap.group_waiting.clear();
        snap.group_waiting.resize(g, 0);
        snap.group_conns.clear();
        snap.group_conns.resize(g, 0);
        snap.flows.clear();
        snap.flows.resize(g * n, 0);
        snap.flows_to_replica.clear();
        snap.flows_to_replica.resize(g * r, 0);
        for client in &self.clients {
            snap.group_waiting[client.group as usize] += client.waiting.len() as u32;
        }
        for (_, req) in self.reqs.iter() {
            let gi = self.clients[req.client as usize].group as usize;
            snap.group_in_flight[gi] += 1;
            if req.server != NONE {
                snap.flows[gi * n + req.server as usize] += 1;
            } else if req.replica != NONE {
                snap.flows_to_replica[gi * r + req.replica as usize] += 1;
            }
        }
        // Connections aggregated by (group, replica, server), in a deterministic order.
        let mut edges: std::collections::BTreeMap<(u32, u32, u32), (u32, u32)> = std::collections::BTreeMap::new();
        for (_, conn) in self.conns.iter() {
            let gi = u32::from(self.clients[conn.client as usize].group);
            snap.group_conns[gi as usize] += 1;
            let e = edges.entry((gi, conn.replica, conn.server)).or_insert((0, 0));
            e.0 += 1;
            e.1 += conn.streams;
        }
        snap.edges.clear();
        for ((gi, rep, srv), (conns, streams)) in edges {
            snap.edges.extend([gi, rep, srv, conns, streams]);
        }
        snap.totals.clear();
        snap.totals.push(st.sent as f64);
        snap.totals.extend(st.outcomes.iter().map(|&c| c as f64));
        snap.totals.push(st.sessions_started as f64);
        snap.totals.push(st.sessions_lost as f64);
    }

    /// The autoscalers' decisions so far, in order (each also a timeline event).
    pub fn scale_decisions(&self) -> &[crate::metrics::report::ScaleDecision] {
        &self.stats.scale_decisions
    }

    /// The current state as a fresh [`Snapshot`].
    pub fn snapshot(&self) -> Snapshot {
        let mut s = Snapshot::default();
        self.snapshot_into(&mut s);
        s
    }

    /// Whether a replica may pick server `s` now (health checks and nginx failures).
    fn server_usable_by(&self, replica: &Replica, s: usize) -> bool {
        let checks_ok = self.sc.balancer.health_check.is_none() || replica.health[s].up;
        let passive_ok = match self.sc.balancer.passive {
            Some(pv) if pv.max_fails > 0 => {
                let st = replica.passive[s];
                !(st.fails >= pv.max_fails && pv.tick(self.now) <= st.checked_ns + pv.fail_timeout_ns)
            }
            _ => true,
        };
        checks_ok && passive_ok && !Simulation::ejected(replica, s)
    }

    /// The balancer state of replica `r` for the inspector.
    pub fn inspect(&self, r: u32) -> Option<Inspection> {
        let replica = self.replicas.get(r as usize)?;
        let algo = |pool: u16| replica.balancers.get(pool as usize).map(|a| a.as_balancer());
        let meaning = match self.algorithm {
            crate::scenario::Algorithm::RoundRobin | crate::scenario::Algorithm::LeastConnections => {
                "smooth-WRR current weight (the highest goes next)"
            }
            crate::scenario::Algorithm::PeakEwma => "peak-EWMA latency estimate (ms); cost = estimate × (active + 1)",
            _ => "",
        };
        let servers = self
            .servers
            .iter()
            .enumerate()
            .filter(|(_, s)| !matches!(s.state, ServerState::NotAdded | ServerState::Removed))
            .map(|(s, server)| {
                let balancer = algo(server.pool);
                InspectServer {
                    name: self.names[s].clone(),
                    pool: self.sc.servers[server.group as usize].pool.clone(),
                    weight: self.weights[s],
                    eligible: replica.up
                        && matches!(server.state, ServerState::Up | ServerState::Down)
                        && self.server_usable_by(replica, s),
                    active: replica.active[s],
                    health: self.sc.balancer.health_check.map(|_| replica.health[s].health),
                    checks_up: replica.health[s].up,
                    fails: replica.passive[s].fails,
                    algorithm_state: balancer.and_then(|b| b.inspect(s as u32, self.now)),
                    hash_share: balancer.and_then(|b| b.hash_share(s as u32)),
                    ejected: Simulation::ejected(replica, s),
                    ejected_until_ms: self.ejected_until_ms(replica, s),
                }
            })
            .collect();
        Some(Inspection {
            replica: format!("balancer-{}", r + 1),
            up: replica.up,
            algorithm: self.algorithm.name().to_string(),
            state_meaning: meaning.to_string(),
            servers,
            circuit_breakers: self.sc.balancer.circuit_breakers.map(|cb| BreakerState {
                open_requests: replica.pool_requests.iter().sum(),
                max_requests: cb.max_requests,
                open_retries: replica.pool_retries.iter().sum(),
                max_retries: cb.max_retries,
                overflows: replica.overflows,
                retries_overflowed: replica.retries_overflowed,
            }),
            next: self.next_picks(r as usize),
        })
    }

    /// When replica's ejection of server `s` ends (ms), if it has it ejected: Envoy's
    /// `min(base_ejection_time × ejections, max_ejection_time)` from the ejection.
    fn ejected_until_ms(&self, replica: &Replica, s: usize) -> Option<f64> {
        let od = self.sc.balancer.outlier_detection?;
        let host = replica.outlier.get(s).filter(|h| h.ejected)?;
        let out_ns = od.base_ejection_time_ns.saturating_mul(u64::from(host.backoff)).min(od.max_ejection_time_ns);
        Some(host.ejected_ns.saturating_add(out_ns) as f64 / 1e6)
    }
}
