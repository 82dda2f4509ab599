//! The simulation: entities, the future-event list and the one central loop that takes the
//! next event and `match`es it to its handler. Handlers live in the sibling modules by domain
//! (clients, balancer, servers, health, timeline); this file owns time and the loop.

mod arrivals;
mod autoscale;
mod balancer;
mod breakers;
mod build;
mod client;
pub(crate) mod conn;
mod dns;
pub mod explain;
mod health;
#[cfg(all(test, debug_assertions))]
mod invariants;
pub mod live;
mod outlier;
mod replay;
mod report;
mod server;
mod session;
mod slow_start;
pub mod snapshot;
pub(crate) mod state;
mod timeline;

use crate::algo::Balancer;
use crate::metrics::Stats;
use crate::metrics::hash::TraceHasher;
pub use crate::metrics::trace::{AttemptRecord, TraceEvent, TraceRecord};
use crate::queue::EventQueue;
use crate::rng::SimRng;
use crate::scenario::{Algorithm, Layer, Scenario, Sticky};
use crate::slab::Slab;
use state::*;

/// Requests in flight above which the handlers prefetch what the next event and the next
/// queued job will read: about where their entries stop fitting in a core's L2 cache (set
/// when a request was 208 bytes; its slot is 128 now, which moves that point to about 12,000:
/// not re-measured). Below it the hints find everything cached and only cost time (8% at
/// 100 servers, measured).
pub(crate) const PREFETCH_FROM: usize = 8192;

pub(crate) use client::serialize_ns;

/// A factory for custom balancer instances (one per replica and pool).
pub type BalancerFactory = Box<dyn Fn() -> Box<dyn Balancer> + Send>;

/// Per client group: what request attributes look like.
pub(crate) struct GroupRuntime {
    /// Cumulative path weights.
    pub path_cumulative: Vec<f64>,
    /// Pool of each path.
    pub path_pool: Vec<u16>,
    /// Hash of each path string (the `path` hash key).
    pub path_key: Vec<u64>,
    /// Route (index into `balancer.routes`) of each path, if one matches.
    pub path_route: Vec<Option<u16>>,
    /// Hot-key sampler.
    pub zipf: Option<crate::rng::Zipf>,
    /// First global client id of the group.
    pub first_client: u32,
    /// Round-robin cursor of the group's bursts over its started clients.
    pub burst_next: u64,
}

/// One pool's membership.
pub(crate) struct PoolInfo {
    /// Bumped when a server joins or leaves.
    pub version: u64,
    /// Live primaries (up, down or crashed, not draining or removed), by id.
    pub primaries: Vec<u32>,
    /// Live backups.
    pub backups: Vec<u32>,
}

/// A running simulation. Create one with [`Simulation::new`], then [`Simulation::run`] it or
/// step it with [`Simulation::step`] / [`Simulation::step_until`], and read the
/// [`Simulation::report`].
pub struct Simulation {
    pub(crate) sc: Scenario,
    pub(crate) seed: u64,
    pub(crate) now: u64,
    pub(crate) queue: EventQueue<Ev>,
    pub(crate) events_processed: u64,
    pub(crate) hasher: TraceHasher,
    /// Clients have stopped sending (after `duration`).
    pub(crate) ended: bool,
    /// Everything sent has ended; nothing more will happen.
    pub(crate) finished: bool,
    pub(crate) clients: Vec<Client>,
    pub(crate) groups: Vec<GroupRuntime>,
    pub(crate) servers: Vec<Server>,
    pub(crate) server_latency: crate::metrics::hist::ServerLatencies,
    pub(crate) weights: Vec<u32>,
    pub(crate) names: Vec<String>,
    /// Per server: its connection-age jitter stream (`Purpose::Server`), made at its first
    /// draw (only groups with `max_connection_age` draw): kept out of `Server`, whose every
    /// byte is in the per-request working set.
    pub(crate) server_rngs: Vec<Option<Box<SimRng>>>,
    /// What hash rings hash per server: its address, or its name without one.
    pub(crate) ring_names: Vec<String>,
    pub(crate) pools: Vec<PoolInfo>,
    pub(crate) replicas: Vec<Replica>,
    pub(crate) layer: Layer,
    pub(crate) sticky: Sticky,
    pub(crate) algorithm: Algorithm,
    pub(crate) custom: Option<BalancerFactory>,
    pub(crate) store_up: bool,
    /// The session store's latency multiplier (`store_slow`; 1 = normal).
    pub(crate) store_factor: f64,
    pub(crate) reqs: Slab<Req>,
    /// Hedged requests (`[clients.hedging]`).
    pub(crate) hedges: Slab<Hedge>,
    pub(crate) jobs: Slab<Job, crate::slab::HalfLine>,
    /// Per job slot: the slot of the job queued behind it at its server (`NONE`: none; stale
    /// for a slot not queued). A dense array of its own, 16 links a cache line, rather than
    /// a field of `Job`: appending to a queue then writes a link that is likely cached
    /// instead of the last queued job's slot, which is not.
    pub(crate) job_next: Vec<u32>,
    /// Per job slot with `Job::has_work`: its work besides the service time.
    pub(crate) job_work: Vec<JobWork>,
    pub(crate) conns: Slab<Conn>,
    pub(crate) sessions: Slab<Session>,
    pub(crate) streams: Slab<Stream>,
    pub(crate) next_req_id: u64,
    pub(crate) next_session_id: u64,
    pub(crate) next_conn_id: u64,
    pub(crate) dns_counter: u64,
    pub(crate) stats: Stats,
    pub(crate) trace: Option<Vec<TraceRecord>>,
    pub(crate) trace_events: Option<Vec<TraceEvent>>,
    /// Tries of requests that took more than one, kept with the trace.
    pub(crate) trace_attempts: Option<Vec<AttemptRecord>>,
    /// Set when a limit stops the run (the report says so).
    pub(crate) aborted: Option<String>,
    /// Source of unique versions for eligible lists.
    pub(crate) view_version: u64,
    /// Number of distinct source addresses.
    pub(crate) ip_count: u32,
    /// Whether the gateway has any rate limit (global or per route).
    pub(crate) has_rate_limits: bool,
    /// Per client group: its trace replay (empty for groups without `trace`).
    pub(crate) replays: Vec<replay::Replay>,
    /// Slow start's ramped weights (`None` without `[balancer.slow_start]`).
    pub(crate) ramp: Option<Box<slow_start::Ramp>>,
    /// One controller per autoscaled server group (empty without `autoscale`).
    pub(crate) scalers: Vec<autoscale::Scaler>,
}

impl Simulation {
    /// Builds a simulation of a validated scenario with the given seed.
    pub fn new(scenario: &Scenario, seed: u64) -> Simulation {
        build::build(scenario, seed, None)
    }

    /// Builds a simulation whose balancer uses a custom policy (one instance per replica
    /// and pool) instead of the scenario's algorithm.
    pub fn with_balancer(scenario: &Scenario, seed: u64, factory: BalancerFactory) -> Simulation {
        build::build(scenario, seed, Some(factory))
    }

    /// The current simulated time in nanoseconds.
    pub fn now_ns(&self) -> u64 {
        self.now
    }

    /// Whether the run is over (every request ended after clients stopped).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Requests created so far (warmup included).
    pub fn requests_created(&self) -> u64 {
        self.next_req_id
    }

    /// Events processed so far.
    pub fn events_processed(&self) -> u64 {
        self.events_processed
    }

    /// Why the run stopped early, if a limit stopped it.
    pub fn aborted(&self) -> Option<&str> {
        self.aborted.as_deref()
    }

    /// A client instance's name, `<group>-<i>`.
    pub fn client_name(&self, c: u32) -> String {
        let client = &self.clients[c as usize];
        format!("{}-{}", self.sc.clients[client.group as usize].name, client.index + 1)
    }

    /// A server instance's name, `<group>-<i>`.
    pub fn server_name(&self, s: u32) -> &str {
        &self.names[s as usize]
    }

    /// The seed of this run.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Number of server instances (including ones the timeline adds later).
    pub fn server_count(&self) -> usize {
        self.servers.len()
    }

    /// A server's group name, pool name and whether it is a backup.
    pub fn server_group(&self, s: u32) -> (&str, &str, bool) {
        let server = &self.servers[s as usize];
        let group = &self.sc.servers[server.group as usize];
        (&group.name, &group.pool, group.backup)
    }

    /// The scenario being simulated.
    pub fn scenario(&self) -> &Scenario {
        &self.sc
    }

    /// Keeps per-request trace records (drain them with [`Simulation::drain_trace`]).
    pub fn enable_trace(&mut self) {
        self.trace = Some(Vec::new());
    }

    /// Keeps health and timeline events too (drain with [`Simulation::drain_trace_events`]).
    pub fn enable_trace_events(&mut self) {
        self.trace_events = Some(Vec::new());
    }

    /// Moves the trace records gathered so far into `out`.
    pub fn drain_trace(&mut self, out: &mut Vec<TraceRecord>) {
        if let Some(t) = self.trace.as_mut() {
            out.append(t);
        }
    }

    /// Keeps a record per try of every request that takes more than one (drain with
    /// [`Simulation::drain_trace_attempts`]).
    pub fn enable_trace_attempts(&mut self) {
        self.trace_attempts = Some(Vec::new());
    }

    /// Moves the try records gathered so far into `out` (in the order the tries ended).
    pub fn drain_trace_attempts(&mut self, out: &mut Vec<AttemptRecord>) {
        if let Some(t) = self.trace_attempts.as_mut() {
            out.append(t);
        }
    }

    /// Moves the health/timeline events gathered so far into `out`.
    pub fn drain_trace_events(&mut self, out: &mut Vec<TraceEvent>) {
        if let Some(t) = self.trace_events.as_mut() {
            out.append(t);
        }
    }

    /// Processes the next event. Returns `false` when the run is over.
    pub fn step(&mut self) -> bool {
        if self.finished {
            return false;
        }
        let Some((time, ev)) = self.queue.pop() else {
            self.finish();
            return false;
        };
        debug_assert!(time >= self.now, "time went backwards: {} -> {time}", self.now);
        self.now = time;
        if let Ev::Tick = ev {
            // Observation only: not part of the history (so series do not change the hash).
            self.on_tick();
            return true;
        }
        self.events_processed += 1;
        if self.events_processed > self.sc.limits.max_events {
            self.aborted = Some(format!(
                "stopped after {} events (limit max_events); raise [limits] max_events",
                self.sc.limits.max_events
            ));
            self.finish();
            return false;
        }
        // The history is the events taken from the queue (with their times) and every
        // request's end; events a handler runs inline at the same instant follow from those.
        let [tag, a, b] = ev.words();
        self.hasher.words(&[time, tag, a, b]);
        if self.reqs.len() > PREFETCH_FROM {
            self.prefetch_next_event();
        }
        self.handle(ev);
        if self.ended && self.reqs.is_empty() {
            self.finish();
        }
        !self.finished
    }

    /// Starts bringing in the entry the next event will read first, so its cache miss
    /// overlaps this event's work (with many requests in flight these are misses to memory;
    /// below [`PREFETCH_FROM`] requests they are cache hits and the hint only costs time).
    #[inline]
    fn prefetch_next_event(&self) {
        match self.queue.peek_cheap() {
            Some(Ev::ServiceDone { job, server }) => {
                self.jobs.prefetch(job.idx);
                if let Some(server) = self.servers.get(*server as usize) {
                    // Its first line: what a job's end reads (`Server` is laid out for it).
                    crate::slab::prefetch(&server.busy_area);
                    // And the job it takes next, which waited a service time or more (in an
                    // overloaded server, seconds): reading the head waits for the server's
                    // line, but overlaps this event's work.
                    if server.queue_head != NONE {
                        self.jobs.prefetch(server.queue_head);
                    }
                }
                // Its latency totals, which the request's end (often in the same event) adds to.
                self.server_latency.prefetch(*server as usize);
            }
            Some(
                Ev::AtServer { req }
                | Ev::AtBalancer { req }
                | Ev::BalancerDone { req, .. }
                | Ev::BackAtBalancer { req, .. }
                | Ev::BackAtClient { req, .. }
                | Ev::Timeout { req },
            ) => self.reqs.prefetch(req.idx),
            Some(Ev::ConnReady { conn } | Ev::ConnAge { conn }) => self.conns.prefetch(conn.idx),
            Some(Ev::Arrival { client, .. }) => {
                if let Some(c) = self.clients.get(*client as usize) {
                    crate::slab::prefetch(c);
                }
            }
            _ => {}
        }
    }

    /// The time of the next scheduled event, if any (drivers that step in chunks of simulated
    /// time jump to it over long quiet stretches).
    pub fn next_event_ns(&self) -> Option<u64> {
        self.queue.peek_time()
    }

    /// Processes every event up to and including simulated time `t_ns`.
    pub fn step_until(&mut self, t_ns: u64) {
        while !self.finished {
            match self.queue.peek_time() {
                Some(t) if t <= t_ns => {
                    self.step();
                }
                Some(_) => {
                    self.now = self.now.max(t_ns);
                    return;
                }
                None => {
                    self.finish();
                    return;
                }
            }
        }
    }

    /// Runs to the end.
    pub fn run(&mut self) {
        while self.step_events(4096) {}
    }

    /// Processes up to `n` events; returns `false` once the run is over. Kept out of line on
    /// purpose: a WebAssembly engine compiles a function with its optimising tier only when
    /// it is entered again, so the hot loop must live in a function called many times, not
    /// in one long call.
    #[inline(never)]
    pub fn step_events(&mut self, n: u32) -> bool {
        for _ in 0..n {
            if !self.step() {
                return false;
            }
        }
        true
    }

    /// Handles one event (from the queue, or inline when it happens now). Always inlined: at
    /// an `after(0, Ev::X { .. })` call the variant is known, so the match folds away into a
    /// direct call of the handler.
    #[inline(always)]
    pub(crate) fn handle(&mut self, ev: Ev) {
        debug_assert!(!matches!(ev, Ev::Tick), "ticks are handled by step");
        match ev {
            Ev::Arrival { client, generation } => self.on_arrival(client, generation),
            Ev::ConnReady { conn } => self.on_conn_ready(conn),
            Ev::AtBalancer { req } => self.on_at_balancer(req),
            Ev::BalancerDone { req, replica } => self.on_balancer_done(req, replica),
            Ev::AtServer { req } => self.on_at_server(req),
            Ev::ServiceDone { job, .. } => self.on_service_done(job),
            Ev::BackAtBalancer { req, outcome } => self.on_back_at_balancer(req, outcome),
            Ev::BackAtClient { req, outcome } => self.on_back_at_client(req, outcome),
            Ev::Timeout { req } => self.on_timeout(req),
            Ev::HealthCheck { replica, server } => self.on_health_check(replica, server),
            Ev::HealthResult { replica, server, ok } => self.on_health_result(replica, server, ok),
            Ev::ConnAge { conn } => self.on_conn_age(conn),
            Ev::Resolve { client } => self.on_resolve(client),
            Ev::Timeline { index } => self.on_timeline(index),
            Ev::Tick => self.on_tick(),
            Ev::End => self.on_end(),
            Ev::Start { client } => self.start_client(client),
            Ev::Think { client } => self.on_think(client),
            Ev::Population { group, point } => self.on_population(group, point),
            Ev::Autoscale { group } => self.on_autoscale(group),
            Ev::Provisioned { server } => self.on_provisioned(server),
            Ev::Replay { group } => self.on_replay(group),
            Ev::OutlierInterval { replica } => self.on_outlier_interval(replica),
            Ev::Retry { req } => self.on_retry(req),
            Ev::BalancerRetry { req } => self.on_balancer_retry(req),
            Ev::PerTryTimeout { req, try_no } => self.on_per_try_timeout(req, try_no),
            Ev::Hedge { hedge, attempt } => self.on_hedge(hedge, attempt),
        }
    }

    /// Schedules `ev` after `delay_ns`; with no delay it happens right away.
    #[inline]
    pub(crate) fn after(&mut self, delay_ns: u64, ev: Ev) {
        if delay_ns == 0 {
            self.handle(ev);
        } else {
            // Saturating: no event can be due past the end of the clock's range (validation
            // keeps runs far below it; this is a backstop against a wrapped time).
            self.queue.push(self.now.saturating_add(delay_ns), ev);
        }
    }

    /// Schedules `ev` after `delay_ns`, always through the queue (for periodic events, which
    /// must not recurse).
    #[inline]
    pub(crate) fn schedule(&mut self, delay_ns: u64, ev: Ev) {
        self.queue.push(self.now.saturating_add(delay_ns), ev);
    }

    /// Whether requests started now are counted.
    #[inline]
    pub(crate) fn measuring(&self) -> bool {
        let (from, _) = self.window_ns();
        self.now >= from && self.before_window_end(self.now)
    }

    /// Whether something at time `t` (a request's start) comes before the end of a window
    /// set with `set_window`: after it, a run cut at the window's end would not have had it.
    /// Always true without one.
    #[inline]
    pub(crate) fn before_window_end(&self, t: u64) -> bool {
        self.stats.window.is_none_or(|(_, to)| t < to)
    }

    /// The measured window [from, to): [warmup, duration) unless `set_window` chose another.
    #[inline]
    pub(crate) fn window_ns(&self) -> (u64, u64) {
        self.stats.window.unwrap_or((self.sc.warmup_ns, self.sc.duration_ns))
    }

    /// One-way latency of a client's hop (client–balancer, or client–server when the client
    /// balances itself).
    #[inline]
    pub(crate) fn client_hop_ns(&self) -> u64 {
        self.sc.network.latency_ns
    }

    /// One-way latency of the balancer–server hop.
    #[inline]
    pub(crate) fn upstream_hop_ns(&self) -> u64 {
        self.sc.network.upstream_latency_ns.unwrap_or(self.sc.network.latency_ns)
    }

    /// Time to put `bytes` on a connection.
    #[inline]
    pub(crate) fn tx_ns(&self, bytes: u64) -> u64 {
        match self.sc.network.bandwidth_bps {
            // Saturating, not truncating: 1 TiB at 1 bps is 8.8e21 ns, past u64 (validation
            // refuses such scenarios; this keeps a slower link from ever looking faster).
            Some(bps) if bytes > 0 => {
                u64::try_from((u128::from(bytes) * 8 * 1_000_000_000).div_ceil(u128::from(bps))).unwrap_or(u64::MAX)
            }
            _ => 0,
        }
    }

    fn on_end(&mut self) {
        self.ended = true;
    }

    pub(super) fn finish(&mut self) {
        if self.finished {
            return;
        }
        // Every request ends before the run does (the queue only runs dry once clients have
        // stopped and nothing is in flight).
        debug_assert!(self.aborted.is_some() || self.reqs.is_empty(), "{} requests never ended", self.reqs.len());
        // Only requests hold retries (`max_retries`): with every request ended, none is held.
        debug_assert!(
            self.aborted.is_some() || self.replicas.iter().all(|r| r.pool_retries.iter().all(|&n| n == 0)),
            "retries still counted against max_retries after every request ended"
        );
        self.finished = true;
        self.server_latency.flush();
        self.stats.server_latency_failed.flush();
        self.settle_time_accounts();
        self.close_last_bucket();
    }
}
