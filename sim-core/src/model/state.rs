//! The simulation's entities: clients, connections, requests, jobs at servers, sessions,
//! servers and balancer replicas. Plain data; the behaviour lives in the sibling modules.

use std::collections::VecDeque;
use std::num::NonZeroU64;

use crate::algo::AnyBalancer;
use crate::metrics::report::Outcome;
use crate::rng::SimRng;
use crate::slab::Handle;

/// "No server" / "no replica" in u32 id fields.
pub const NONE: u32 = u32::MAX;

/// The event enum: one variant per kind of thing that happens at an instant.
#[derive(Clone, Copy, Debug)]
pub enum Ev {
    /// A client's next request arrives (`generation` invalidates it after a rate change).
    Arrival { client: u32, generation: u32 },
    /// A connection's handshake completes (or fails, if its peer is gone).
    ConnReady { conn: Handle },
    /// A request reaches its balancer replica (L7).
    AtBalancer { req: Handle },
    /// The replica finished its per-request work (its worker frees whatever became of the
    /// request).
    BalancerDone { req: Handle, replica: u32 },
    /// A request reaches its server.
    AtServer { req: Handle },
    /// A server finishes a job. `server` is the job's (not part of the history: the job
    /// says it too), carried so the server's line can be fetched one event ahead.
    ServiceDone { job: Handle, server: u32 },
    /// A server's answer (or a failure) reaches the replica on the way back (L7).
    BackAtBalancer { req: Handle, outcome: Outcome },
    /// The answer (or a failure) reaches the client.
    BackAtClient { req: Handle, outcome: Outcome },
    /// The client's timeout for an attempt.
    Timeout { req: Handle },
    /// A replica sends a health check to a server.
    HealthCheck { replica: u32, server: u32 },
    /// The check's answer (or its failure) arrives.
    HealthResult { replica: u32, server: u32, ok: bool },
    /// A connection reaches its maximum age: the server sends GOAWAY.
    ConnAge { conn: Handle },
    /// A client re-resolves its balancer (DNS) or server list (client-side).
    Resolve { client: u32 },
    /// A timeline action.
    Timeline { index: u32 },
    /// A client starts (staggered starts: its group's `start` and `ramp`).
    Start { client: u32 },
    /// A trace group's next row is due (`trace` replay).
    Replay { group: u32 },
    /// A time-series bucket ends.
    Tick,
    /// Clients stop sending (the configured duration).
    End,
    /// A closed-loop user of the client has thought and sends its next request.
    Think { client: u32 },
    /// A users `schedule` point: the group's population per client changes.
    Population { group: u32, point: u32 },
    /// An autoscaled server group's controller runs (every `interval`).
    Autoscale { group: u32 },
    /// A server the autoscaler asked for is ready (`provision_delay` later).
    Provisioned { server: u32 },
    /// A replica's outlier detector sweeps (Envoy's `interval` timer).
    OutlierInterval { replica: u32 },
    /// A retry's backoff (`[clients.retry]`) is over: its attempt starts.
    Retry { req: Handle },
    /// A balancer retry's backoff (`[balancer.retry]`) is over: the replica routes it again.
    BalancerRetry { req: Handle },
    /// A balancer try's `per_try_timeout` ran out (ignored unless try `try_no` of the request
    /// is still out).
    PerTryTimeout { req: Handle, try_no: u32 },
    /// A hedged request's `hedging_delay` passed: attempt `attempt` goes out unless it has
    /// (a non-fatal failure sends it early) or the request ended.
    Hedge { hedge: Handle, attempt: u32 },
}

impl Ev {
    /// The event as words for the trace hash: a small number per kind, then its identifying
    /// numbers (handles as `idx << 32 | generation`).
    #[inline]
    pub fn words(&self) -> [u64; 3] {
        let h = |h: &Handle| (u64::from(h.idx) << 32) | u64::from(h.generation());
        match self {
            Ev::Arrival { client, generation } => [1, u64::from(*client), u64::from(*generation)],
            Ev::ConnReady { conn } => [2, h(conn), 0],
            Ev::AtBalancer { req } => [3, h(req), 0],
            Ev::BalancerDone { req, replica } => [4, h(req), u64::from(*replica)],
            Ev::AtServer { req } => [5, h(req), 0],
            Ev::ServiceDone { job, .. } => [6, h(job), 0],
            Ev::BackAtBalancer { req, outcome } => [7, h(req), *outcome as u64],
            Ev::BackAtClient { req, outcome } => [8, h(req), *outcome as u64],
            Ev::Timeout { req } => [9, h(req), 0],
            Ev::HealthCheck { replica, server } => [10, u64::from(*replica), u64::from(*server)],
            Ev::HealthResult { replica, server, ok } => {
                [11, u64::from(*replica) << 32 | u64::from(*server), u64::from(*ok)]
            }
            Ev::ConnAge { conn } => [12, h(conn), 0],
            Ev::Resolve { client } => [13, u64::from(*client), 0],
            Ev::Timeline { index } => [14, u64::from(*index), 0],
            Ev::Tick => [15, 0, 0],
            Ev::End => [16, 0, 0],
            Ev::Start { client } => [17, u64::from(*client), 0],
            Ev::Think { client } => [18, u64::from(*client), 0],
            Ev::Population { group, point } => [19, u64::from(*group), u64::from(*point)],
            Ev::Replay { group } => [20, u64::from(*group), 0],
            Ev::Autoscale { group } => [28, u64::from(*group), 0],
            Ev::Provisioned { server } => [29, u64::from(*server), 0],
            Ev::OutlierInterval { replica } => [21, u64::from(*replica), 0],
            Ev::Retry { req } => [24, h(req), 0],
            Ev::BalancerRetry { req } => [25, h(req), 0],
            Ev::PerTryTimeout { req, try_no } => [30, h(req), u64::from(*try_no)],
            Ev::Hedge { hedge, attempt } => [26, h(hedge), u64::from(*attempt)],
        }
    }
}

/// A connection's lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    /// Handshake under way.
    Connecting,
    /// Usable.
    Open,
    /// GOAWAY received: in-flight streams finish, no new ones.
    Draining,
}

/// A client connection: to a balancer replica (proxy) or straight to a server (client-side).
#[derive(Clone, Debug)]
pub struct Conn {
    /// Sequential id, for traces.
    pub id: u64,
    /// Owning client.
    pub client: u32,
    /// The replica it goes through (`NONE` for client-side connections).
    pub replica: u32,
    /// The server its bytes reach: the L4 pick, the WebSocket's upstream or the client-side
    /// target. `NONE` for an L7 connection, whose requests are balanced one by one.
    pub server: u32,
    /// Lifecycle state.
    pub state: ConnState,
    /// Requests (HTTP/1: 0 or 1), streams (HTTP/2) or messages (WebSocket) in flight.
    pub streams: u32,
    /// When the client→peer direction is free to send the next bytes.
    pub up_free_ns: u64,
    /// When the peer→client direction is free.
    pub down_free_ns: u64,
    /// Whether it counts in the server's open connections.
    pub counted_at_server: bool,
    /// Whether it holds a slot in the replica's active count for `server` (L4, WebSocket).
    pub holds_active: bool,
}

/// A gRPC stream carrying many messages (server or bidirectional streaming).
#[derive(Clone, Debug)]
pub struct Stream {
    /// Owning client.
    pub client: u32,
    /// The connection it lives on.
    pub conn: Handle,
    /// The server it is pinned to, once its first message was routed.
    pub server: u32,
    /// The replica that pinned it (and holds an active count for it).
    pub replica: u32,
    /// Messages still to send on it.
    pub remaining: u32,
    /// Messages in flight on it.
    pub in_flight: u32,
}

/// Bits of [`Req::holds`]: what a request currently holds and must release exactly once.
pub mod hold {
    /// A stream (slot) on its client connection.
    pub const STREAM: u8 = 1;
    /// An active count at its replica for its server (unary L7 requests).
    pub const ACTIVE: u8 = 2;
    /// One of its pool's outstanding retries at its replica: `max_retries` (circuit breakers)
    /// and the `[balancer.retry]` budget count these.
    pub const RETRY: u8 = 4;
    /// One of its pool's pending requests at its replica (waiting for an upstream connection:
    /// circuit breakers' `max_connections` / `max_pending_requests`).
    pub const PENDING: u8 = 8;
    /// An HTTP/1.1 upstream connection of its replica (closed if the try is abandoned;
    /// counted by circuit breakers' `max_connections`).
    pub const UPSTREAM: u8 = 16;
}

/// A request (a client's logical request; attempts re-arm its handle).
#[derive(Clone, Debug)]
pub struct Req {
    /// Sequential id, for the trace.
    pub id: u64,
    /// The client.
    pub client: u32,
    /// When the client issued it.
    pub created_ns: u64,
    /// Attempt number (1-based).
    pub attempt: u32,
    /// Whether it started after warmup.
    pub measured: bool,
    /// Index of its path in the group's `paths`.
    pub path: u16,
    /// Its pool (by route).
    pub pool: u16,
    /// Hash key.
    pub key: u64,
    /// Service-time quantile in (0, 1).
    pub size_u: f64,
    /// Its session, if any.
    pub session: Option<Handle>,
    /// The current attempt's server.
    pub server: u32,
    /// The current attempt's replica.
    pub replica: u32,
    /// The connection carrying the current attempt.
    pub conn: Option<Handle>,
    /// That connection's id (kept for the trace after the connection closes; ids count
    /// from 1).
    pub conn_id: Option<NonZeroU64>,
    /// When the replica (or client) sent the current attempt to the server.
    pub sent_to_server_ns: u64,
    /// What it holds (see [`hold`]).
    pub holds: u8,
    /// Which way it travels (see `client::via`).
    pub via: u8,
    /// A closed-loop user's request: its end starts the user's next think.
    pub user: bool,
    /// When the current try started (for the trace's attempt lines and a client timeout
    /// moved to a new handle).
    pub try_start_ns: u64,
    /// When the current client attempt started.
    pub attempt_start_ns: u64,
    /// Its key's number in the group's `keys`, 1 to `count` (for `--trace`; `u32::MAX`: none).
    pub key_index: u32,
    /// What few requests carry, boxed when first set ([`Req::extra`], [`Req::extra_mut`]).
    pub extra: Option<Box<ReqExtra>>,
}

/// What few requests carry: balancer retries and per-try timeouts, hedging, a gRPC stream, a
/// replayed row. Kept out of [`Req`] so that a request is 120 bytes and its slab slot two
/// cache lines (it was 208 bytes, four or five lines: with a million requests queued, every
/// line is a miss; 64 bytes more cost iphash-10000 20%, measured).
#[derive(Clone, Debug)]
pub struct ReqExtra {
    /// Servers the balancer already tried for this attempt (`retry_on_error`, `[balancer.retry]`
    /// with `previous_hosts`).
    pub tried: Vec<u32>,
    /// Retries the balancer made for this attempt (`[balancer.retry]`).
    pub lb_retries: u32,
    /// The current try's number within this attempt (1-based; each balancer retry is a try).
    pub try_no: u32,
    /// When the current try's per-try timeout (`[balancer.retry] per_try_timeout`) runs out;
    /// 0 when none is running (none set, or the try's answer is back at the balancer).
    pub per_try_deadline_ns: u64,
    /// Its hedged request's attempts (`[clients.hedging]`), if it is one of them.
    pub hedge: Option<Handle>,
    /// Its gRPC stream, if it is a streaming message.
    pub stream: Option<Handle>,
    /// What a replayed trace row gave it (`None` for generated requests and rows with no
    /// more than a time).
    pub replay: Option<Box<Replayed>>,
}

impl Default for ReqExtra {
    fn default() -> ReqExtra {
        NO_EXTRA.clone()
    }
}

/// A request's [`ReqExtra`] before anything is set.
static NO_EXTRA: ReqExtra = ReqExtra {
    tried: Vec::new(),
    lb_retries: 0,
    try_no: 1,
    per_try_deadline_ns: 0,
    hedge: None,
    stream: None,
    replay: None,
};

/// A hedged request (`[clients.hedging]`): its attempts in flight, each a `Req` of its own
/// with the request's id; the one that ends it ends the request, the others are cancelled.
#[derive(Clone, Debug, Default)]
pub struct Hedge {
    /// Its attempts in flight.
    pub live: Vec<Handle>,
    /// Attempts sent so far.
    pub sent: u32,
}

/// What a trace row says about its request beyond its time.
#[derive(Clone, Debug, Default)]
pub struct Replayed {
    /// Its key string, kept only while `--trace` records are kept.
    pub key: Option<Box<str>>,
    /// Its work at the server.
    pub service_ns: Option<u64>,
    /// Request payload size.
    pub request_bytes: Option<u64>,
    /// Response payload size.
    pub response_bytes: Option<u64>,
}

impl Req {
    /// What few requests carry (the defaults when nothing was set).
    #[inline]
    pub fn extra(&self) -> &ReqExtra {
        self.extra.as_deref().unwrap_or(&NO_EXTRA)
    }

    /// What few requests carry, to set (boxed on first use).
    #[inline]
    pub fn extra_mut(&mut self) -> &mut ReqExtra {
        self.extra.get_or_insert_with(|| Box::new(NO_EXTRA.clone()))
    }

    /// A new try or attempt: no servers tried, no balancer retries (nothing to clear if
    /// nothing was set).
    #[inline]
    pub fn clear_tries(&mut self) {
        if let Some(x) = self.extra.as_deref_mut() {
            x.tried.clear();
            x.lb_retries = 0;
        }
    }

    /// The current try's number within this attempt (1-based).
    #[inline]
    pub fn try_no(&self) -> u32 {
        self.extra().try_no
    }

    /// The request's payload sizes (request, response): the row's, else the group's.
    #[inline]
    pub fn bytes(&self, group: &crate::scenario::ClientGroup) -> (u64, u64) {
        match &self.extra().replay {
            None => (group.request_bytes, group.response_bytes),
            Some(r) => {
                (r.request_bytes.unwrap_or(group.request_bytes), r.response_bytes.unwrap_or(group.response_bytes))
            }
        }
    }
}

/// Work at a server: one attempt, served even if the client has given up on it.
#[derive(Clone, Copy, Debug)]
pub struct Job {
    /// The attempt it serves (stale once the client gave up).
    pub req: Handle,
    /// The server.
    pub server: u32,
    /// Service-time quantile.
    pub size_u: f64,
    /// Whether it has work besides its service time (`Simulation::job_work[slot]`).
    pub has_work: bool,
    /// Whether it counts in statistics.
    pub measured: bool,
    /// The server found no session state for it.
    pub session_missing: bool,
    /// The server answers it with an error (decided when its service starts).
    pub error: bool,
    // The slot of the job queued behind it is `Simulation::job_next[slot]`, and its work
    // besides the service time `Simulation::job_work[slot]`: apart, so that a job is half a
    // cache line and queueing one does not touch the job ahead of it.
}

/// A job's work besides its service-time draw, which few jobs have (kept by job slot in
/// `Simulation::job_work`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobWork {
    /// Serialization and session-store work (ns) on top of the service time.
    pub extra_ns: u64,
    /// Work given by a trace row, used instead of the draw (`u64::MAX`: none).
    pub given_ns: u64,
}

impl JobWork {
    /// No work besides the service-time draw (most jobs).
    pub const NONE: JobWork = JobWork { extra_ns: 0, given_ns: u64::MAX };
}

/// A user session (with `session_requests`).
#[derive(Clone, Debug)]
pub struct Session {
    /// Sequential id (the cookie / hash key).
    pub id: u64,
    /// Requests still to send.
    pub remaining: u32,
    /// Requests in flight.
    pub outstanding: u32,
    /// Requests sent in it.
    pub requests: u32,
    /// The server holding its state (`NONE` before the first request is served).
    pub home: u32,
    /// The server its stickiness cookie names (`NONE` before the first answer).
    pub cookie: u32,
    /// Whether its state was lost at or after warmup (it is then counted in
    /// `sessions.lost`, once; a loss during the warmup is not counted, like a request).
    pub lost: bool,
    /// Its state died with its server: the next request finds it missing.
    pub state_gone: bool,
    /// Whether it started after warmup.
    pub measured: bool,
    /// Whether its first request has been answered (the client has its cookie).
    pub established: bool,
    /// The request establishing it (its slot), while it is in flight.
    pub opener: Option<u32>,
    /// Requests waiting for the session to be established (a client cannot send the
    /// session's requests before it has the login answer and its cookie).
    pub parked: Vec<Handle>,
}

/// One client instance.
pub struct Client {
    /// Its group.
    pub group: u16,
    /// Its number within the group (0-based).
    pub index: u32,
    /// Global source-address id.
    pub ip_id: u32,
    /// Its IPv4 address.
    pub ip: u32,
    /// The mean gap between its requests, in nanoseconds (`1e9 / rate`; infinite when it
    /// sends nothing).
    pub mean_gap_ns: f64,
    /// Invalidates a scheduled arrival after a rate change.
    pub arrival_generation: u32,
    /// Arrival gaps; a closed-loop client's think times instead (its own stream,
    /// `Purpose::Think`: a closed loop has no arrival gaps).
    pub arrivals_rng: SimRng,
    /// Request attributes.
    pub traffic_rng: SimRng,
    /// Client-side choices (resolver phases, reconnect jitter): made on first use
    /// ([`crate::model::Simulation::client_rng`]; the stream is the same whenever it starts),
    /// so a client whose requests never need it is 304 bytes smaller (800 bytes, was 1,104).
    pub rng: Option<Box<SimRng>>,
    /// The balancer replica DNS gave it.
    pub replica: u32,
    /// Its open or opening connections. Most clients hold one, kept inside the client (each
    /// request looks at them: a separate allocation was a cache miss per request).
    pub conns: smallvec::SmallVec<[Handle; 1]>,
    /// Requests waiting for a connection or stream.
    pub waiting: VecDeque<Handle>,
    /// `pump` is serving `waiting` (a slot freed inside it does not start a second, nested
    /// pump: that recursed once per waiting request when answers take no time).
    pub pumping: bool,
    /// A slot was freed while `pumping`: look at the head of `waiting` again.
    pub pump_again: bool,
    /// Round-robin position (WebSocket messages, client-side picks).
    pub rr_next: u32,
    /// Client-side: the server list from the last resolution.
    pub resolved: Vec<u32>,
    /// The current session.
    pub session: Option<Handle>,
    /// The current gRPC stream.
    pub stream: Option<Handle>,
    /// The stickiness cookie when the client has no sessions.
    pub cookie: u32,
    /// Client-side: servers whose connection failed, and until when to avoid them.
    pub backoff: Vec<(u32, u64, u64)>,
    /// Whether the client has started (its group's `start` and `ramp`): before, it sends
    /// nothing and holds no connection.
    pub started: bool,
    /// Closed loop: users that exist now (thinking or waiting for an answer).
    pub users: u32,
    /// Closed loop: the population the group's `users` or `schedule` asks for now; users
    /// beyond it leave at their next end of request or think.
    pub users_target: u32,
    /// Retry backoff jitter and fresh work for retries (`Purpose::Retry`); `None` for groups
    /// without `[clients.retry]` or `retry_same_work = false`, which draw nothing for retries.
    pub retry_rng: Option<Box<SimRng>>,
    /// gRPC retry throttling's token count, in thousandths (`RetryThrottling`).
    pub retry_milli_tokens: u32,
}

/// A server's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerState {
    /// Not yet added by the timeline.
    NotAdded,
    /// Serving.
    Up,
    /// Crashed: refuses connections.
    Down,
    /// Being removed: finishes its work, takes no new picks.
    Draining,
    /// Removed.
    Removed,
}

impl ServerState {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            ServerState::NotAdded => "not_added",
            ServerState::Up => "up",
            ServerState::Down => "down",
            ServerState::Draining => "draining",
            ServerState::Removed => "removed",
        }
    }
}

/// One server instance. Laid out by hand: the fields every request it serves reads or writes
/// come first, in the first cache line (at 10,000 servers each visit is a cache miss, so the
/// fewer lines a visit touches the faster the run); the rest follow.
#[repr(C, align(64))]
pub struct Server {
    /// Busy-worker time integrated so far (ns·workers), within the measured window.
    pub busy_area: u128,
    /// When `busy` last changed.
    pub busy_since_ns: u64,
    /// Service-time multiplier.
    pub slow: f64,
    /// Workers busy.
    pub busy: u32,
    /// Workers.
    pub workers: u32,
    /// Queue limit (`u32::MAX`: none).
    pub queue_cap: u32,
    /// Waiting jobs, first in first out: a list linked through `Simulation::job_next` by
    /// job slot (`NONE`: empty), so queueing touches no memory beyond the server, the links
    /// and the jobs.
    pub queue_head: u32,
    /// The last waiting job's slot.
    pub queue_tail: u32,
    /// Waiting jobs.
    pub queued: u32,
    /// Its group.
    pub group: u16,
    /// Its pool.
    pub pool: u16,
    /// State.
    pub state: ServerState,
    /// Whether it is a backup.
    pub backup: bool,
    /// Whether `errors` is set: a copy in the first cache line, so that serving a request
    /// reads `errors` (in the last line) only on a server that has been given errors. Set
    /// with `errors` by [`Server::set_errors`]; never cleared, as `errors` never is.
    pub has_errors: bool,
    /// Whether it was up for the whole measured window so far.
    pub up_whole_window: bool,
    /// Waiting-job time integrated so far (ns·jobs), within the measured window: with
    /// `busy_area` it gives the time-averaged queue and requests in flight. Past the first
    /// cache line: only a visit that queues or dequeues touches it.
    pub queue_area: u128,
    /// Busy-worker time integrated over the whole run (ns·workers) up to `busy_since_ns`:
    /// an autoscaler's metric, kept only in runs with one (past the first cache line).
    pub busy_all: u128,
    /// Waiting-job time integrated over the whole run up to `queue_since_ns` (likewise).
    pub queue_all: u128,
    /// When `queued` last changed.
    pub queue_since_ns: u64,
    /// Open connections.
    pub conns_open: u64,
    /// Sessions whose state it holds.
    pub sessions: u64,
    /// When it last changed state (for time-down accounting).
    pub state_since_ns: u64,
    /// When it crashed (for detection times), and the crash's index in the report.
    pub crash: Option<(u64, usize)>,
    /// Error answers (`error_rate`, the `errors` action); `None` while it has never failed
    /// requests, so a healthy server costs nothing for it. Set only through
    /// [`Server::set_errors`], which keeps `has_errors` in step.
    pub errors: Option<Box<ServerErrors>>,
    // Its name is `Simulation::names[s]` and its connection-age jitter stream
    // `Simulation::server_rngs[s]`: both cold, kept out so that a server is three cache lines
    // instead of nine (100,000 servers: 19 MB instead of 58 MB, against a 32 MB L3).
}

impl Server {
    /// Gives it error answers (`errors` with `has_errors`), creating them with `make` the
    /// first time, and returns them for the caller to set.
    pub fn set_errors(&mut self, make: impl FnOnce() -> ServerErrors) -> &mut ServerErrors {
        self.has_errors = true;
        self.errors.get_or_insert_with(|| Box::new(make()))
    }
}

/// A server that answers some requests with an error instead of serving them.
#[derive(Clone, Debug)]
pub struct ServerErrors {
    /// The fraction of requests answered with an error.
    pub rate: f64,
    /// How long an error takes; `None` = the request's service time.
    pub latency_ns: Option<u64>,
    /// Which requests fail: one stream per server (`Purpose::Errors`).
    pub rng: SimRng,
}

/// nginx's passive failure state of one server, as one replica sees it.
#[derive(Clone, Copy, Debug, Default)]
pub struct PassiveState {
    /// Failures counted.
    pub fails: u32,
    /// Time of the last failure.
    pub accessed_ns: u64,
    /// Time of the last check (failure or probe).
    pub checked_ns: u64,
}

/// Envoy's outlier-detection state of one host, as one replica's detector sees it
/// (`DetectorHostMonitorImpl`).
#[derive(Clone, Copy, Debug, Default)]
pub struct OutlierHost {
    /// Consecutive 5xx results.
    pub consecutive_5xx: u32,
    /// Consecutive gateway failures.
    pub consecutive_gateway: u32,
    /// Whether it is ejected (Envoy's `FAILED_OUTLIER_CHECK` health flag).
    pub ejected: bool,
    /// The ejection-time multiplier (Envoy's `ejectTimeBackoff`).
    pub backoff: u32,
    /// When it was last ejected.
    pub ejected_ns: u64,
    /// When it was last returned (`u64::MAX`: never ejected).
    pub unejected_ns: u64,
    /// Results in the current interval (for success-rate ejection).
    pub total: u32,
    /// Of which successes.
    pub successes: u32,
}

/// HAProxy's health counter of one server, as one replica sees it.
#[derive(Clone, Copy, Debug, Default)]
pub struct HealthState {
    /// 0 ..= rise + fall − 1; up iff ≥ rise.
    pub health: u32,
    /// Whether checks say up.
    pub up: bool,
    /// Since when it is marked down (for the report).
    pub down_since_ns: u64,
}

/// L7 upstream connections from one replica to one server.
#[derive(Clone, Copy, Debug, Default)]
pub struct Upstream {
    /// Connections open.
    pub open: u32,
    /// Of which idle (HTTP/1 keep-alive).
    pub idle: u32,
    /// When the (HTTP/2) connection becomes usable.
    pub ready_ns: u64,
}

/// What one replica may pick from one pool right now.
#[derive(Clone, Debug, Default)]
pub struct PoolView {
    /// Eligible primaries, in configuration order.
    pub primaries: Vec<u32>,
    /// Eligible backups.
    pub backups: Vec<u32>,
    /// Bumped on every change.
    pub version: u64,
}

/// A rate-limit counter (fixed window or leaky bucket).
#[derive(Clone, Copy, Debug, Default)]
pub struct RateCounter {
    /// Fixed window: its start; leaky bucket: the last update time.
    pub stamp_ns: u64,
    /// Fixed window: requests counted; leaky bucket: excess in milli-requests.
    pub value: u64,
}

/// One balancer replica (an API gateway instance).
pub struct Replica {
    /// Whether it is running.
    pub up: bool,
    /// Workers busy.
    pub busy: u32,
    /// Requests waiting for a worker.
    pub queue: VecDeque<Handle>,
    /// Algorithm instances, one per pool.
    pub balancers: Vec<AnyBalancer>,
    /// Random choices.
    pub rng: SimRng,
    /// Active requests (L7) or connections (L4) per server.
    pub active: Vec<u32>,
    /// Whether each server may be picked (cached, see `views`).
    pub available: Vec<bool>,
    /// Eligible lists per pool.
    pub views: Vec<PoolView>,
    /// The eligible lists need rebuilding.
    pub dirty: bool,
    /// The earliest time a passive block expires (rebuild then).
    pub passive_expiry_ns: u64,
    /// Health counters per server.
    pub health: Vec<HealthState>,
    /// Passive failure state per server.
    pub passive: Vec<PassiveState>,
    /// Outlier-detection state per server (empty without `outlier_detection`).
    pub outlier: Vec<OutlierHost>,
    /// Outlier detection's enforcement draws (`Purpose::Outlier`).
    pub outlier_rng: SimRng,
    /// Whether its detector's next sweep is scheduled (see `on_outlier_interval`).
    pub outlier_armed: bool,
    /// Circuit breakers: requests in flight to servers per pool (empty without breakers).
    pub pool_requests: Vec<u32>,
    /// Circuit breakers: retries outstanding per pool.
    pub pool_retries: Vec<u32>,
    /// Requests its circuit breakers refused, after warmup.
    pub overflows: u64,
    /// Retries `max_retries` did not allow, after warmup.
    pub retries_overflowed: u64,
    /// Upstream connections per server (L7).
    pub upstream: Vec<Upstream>,
    /// Per server: requests waiting for an upstream connection to it (empty without circuit
    /// breakers; entries whose request moved on are skipped).
    pub pending: Vec<std::collections::VecDeque<Handle>>,
    /// Per pool: requests waiting for an upstream connection (`max_pending_requests`).
    pub pool_pending: Vec<u32>,
    /// Stick table: server per source address (`sticky = "source_ip"`).
    pub stick: Vec<u32>,
    /// Rate-limit counters: [limit index][key id].
    pub rate_counters: Vec<Vec<RateCounter>>,
    /// Requests (L7) or connections (L4) routed, after warmup.
    pub routed: u64,
    /// Requests refused by its rate limits, after warmup.
    pub rate_limited: u64,
    /// Busy-worker time within the measured window.
    pub busy_area: u128,
    /// When `busy` last changed.
    pub busy_since_ns: u64,
    /// When it went down (for time-down accounting).
    pub down_since_ns: u64,
    /// Time down within the measured window.
    pub down_ns: u64,
    /// Retries outstanding (`[balancer.retry]`: in backoff or being tried), for the budget.
    pub active_retries: u32,
    /// Backoff jitter of `[balancer.retry]` (`Purpose::BalancerRetry`); `None` without it.
    pub retry_rng: Option<Box<SimRng>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a request's visit to its server touches fits one cache line.
    #[test]
    fn a_servers_hot_fields_share_one_cache_line() {
        assert_eq!(std::mem::align_of::<Server>(), 64);
        assert!(std::mem::offset_of!(Server, backup) < 64);
        assert!(std::mem::offset_of!(Server, queued) < 64);
        assert!(std::mem::offset_of!(Server, has_errors) < 64);
    }

    /// A server is three cache lines: at 100,000 servers the array is 19 MB, which stays
    /// within a 32 MB L3 (with its random stream and name inside it was nine lines, 58 MB).
    #[test]
    fn a_server_is_three_cache_lines() {
        assert_eq!(std::mem::size_of::<Server>(), 192);
    }

    /// A request is 120 bytes, so its slab slot (with the generation) is two cache lines.
    #[test]
    fn a_request_slot_is_two_cache_lines() {
        assert_eq!(std::mem::size_of::<Req>(), 120);
        assert_eq!(std::mem::size_of::<Option<Req>>(), 120);
    }

    /// A job carries no queue link (`Simulation::job_next` does) and no rare work
    /// (`Simulation::job_work`): 24 bytes, so with its slab slot's generation it is half a
    /// cache line (job slots are half-line-aligned).
    #[test]
    fn a_job_is_half_a_cache_line() {
        assert_eq!(std::mem::size_of::<Job>(), 24);
        assert_eq!(std::mem::size_of::<Option<Job>>(), 24);
    }
}
