//! The validated scenario: what one simulation run models, with every default filled in and
//! every duration an integer count of nanoseconds. Scenario files are read into this type
//! (`config`), code builds it directly, and [`Scenario::to_toml`] writes it back.

/// One simulated nanosecond is the unit of time everywhere.
pub const NS_PER_SEC: u64 = 1_000_000_000;

/// A whole scenario. Build one with [`Scenario::new`] and the `with_*` helpers, or read one
/// with [`Scenario::from_toml`] / [`Scenario::from_json`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Scenario {
    /// Short name, shown in reports.
    pub name: String,
    /// What the scenario shows (free text).
    pub description: String,
    /// Seed of every random stream; `--seed` overrides it.
    pub seed: u64,
    /// Clients send new requests until this time; the run then drains.
    pub duration_ns: u64,
    /// Requests that start before this time are left out of the statistics.
    pub warmup_ns: u64,
    /// Server groups (instances are named `<group>-<i>`, 1-based).
    pub servers: Vec<ServerGroup>,
    /// Client groups (instances are named `<group>-<i>`, 1-based).
    pub clients: Vec<ClientGroup>,
    /// The load balancer (or API gateway) between clients and servers.
    pub balancer: BalancerSpec,
    /// Network costs: latency per hop, bandwidth per connection, TLS.
    pub network: Network,
    /// With a session store, servers are stateless and sessions live in the store.
    pub session_store: Option<SessionStore>,
    /// The timeline of actions (crash, recover, add, …).
    pub events: Vec<TimelineEvent>,
    /// Safety limits on the size of a run.
    pub limits: Limits,
    /// Report options (time-series bucket width).
    pub report: ReportOptions,
}

/// A group of identical servers.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ServerGroup {
    /// Group name; instances are `<name>-1` … `<name>-<count>`.
    pub name: String,
    /// Number of instances at the start.
    pub count: u32,
    /// The pool L7 routes send to.
    pub pool: String,
    /// Weight for weighted algorithms.
    pub weight: u32,
    /// Requests served at once; the rest wait in the queue.
    pub workers: u32,
    /// Waiting requests beyond this are rejected; `None` = unlimited.
    pub queue: Option<u32>,
    /// Service time distribution.
    pub service: ServiceDist,
    /// nginx `backup`: used only when no primary server is available.
    pub backup: bool,
    /// The server closes connections this old (gRPC `MAX_CONNECTION_AGE`, ±10% jitter).
    pub max_connection_age_ns: Option<u64>,
}

/// A service time distribution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ServiceDist {
    /// Always the same time.
    Constant {
        /// The time.
        value_ns: u64,
    },
    /// Exponential with the given mean.
    Exponential {
        /// The mean.
        mean_ns: u64,
    },
    /// Uniform between `min` and `max`.
    Uniform {
        /// Lower bound.
        min_ns: u64,
        /// Upper bound.
        max_ns: u64,
    },
    /// Lognormal given by its median and 99th percentile.
    Lognormal {
        /// Median.
        p50_ns: u64,
        /// 99th percentile.
        p99_ns: u64,
    },
}

impl ServiceDist {
    /// The mean service time in nanoseconds (for load estimates and theory checks).
    pub fn mean_ns(&self) -> f64 {
        match *self {
            ServiceDist::Constant { value_ns } => value_ns as f64,
            ServiceDist::Exponential { mean_ns } => mean_ns as f64,
            ServiceDist::Uniform { min_ns, max_ns } => (min_ns as f64 + max_ns as f64) / 2.0,
            ServiceDist::Lognormal { p50_ns, p99_ns } => {
                let sigma = lognormal_sigma(p50_ns, p99_ns);
                p50_ns as f64 * libm::exp(sigma * sigma / 2.0)
            }
        }
    }
}

/// The z-score of the 99th percentile of the standard normal distribution.
pub(crate) const Z_P99: f64 = 2.326_347_874_040_840_8;

/// The σ of a lognormal distribution with the given median and 99th percentile.
pub(crate) fn lognormal_sigma(p50_ns: u64, p99_ns: u64) -> f64 {
    libm::log(p99_ns as f64 / p50_ns as f64) / Z_P99
}

/// The application protocol a client group speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1: one outstanding request per connection, a keep-alive pool.
    Http1,
    /// HTTP/2 (gRPC): many concurrent streams per connection.
    Http2,
    /// WebSocket: long-lived connections opened once; each message is work on the server.
    WebSocket,
}

impl Protocol {
    /// Every protocol with its name in scenario files. What each one is to the connection
    /// layer is its `Profile` (`model/conn/profile.rs`).
    pub const ALL: [(&'static str, Protocol); 3] =
        [("http1", Protocol::Http1), ("http2", Protocol::Http2), ("websocket", Protocol::WebSocket)];

    /// The protocol's name in scenario files.
    pub fn name(self) -> &'static str {
        Protocol::ALL.iter().find(|(_, p)| *p == self).map_or("?", |(name, _)| name)
    }
}

/// How a client group's requests arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// Exponential gaps (a Poisson process).
    Poisson,
    /// Equal gaps, with a random phase per client.
    Constant,
}

/// Where balancing happens for a client group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Balancing {
    /// Through the `[balancer]`.
    Proxy,
    /// Client-side (gRPC): the client connects to servers itself.
    Client,
}

/// gRPC client-side load-balancing policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAlgorithm {
    /// gRPC `pick_first`: everything over the first reachable address (gRPC's default).
    PickFirst,
    /// gRPC `round_robin`: one subchannel per address, rotate over the ready ones.
    RoundRobin,
}

/// Request keys drawn from a finite key space (hot keys), for hash balancing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KeySpace {
    /// Number of distinct keys.
    pub count: u32,
    /// Zipf exponent: 0 = uniform, 1 ≈ classic hot-key skew.
    pub skew: f64,
}

/// A group of identical clients.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ClientGroup {
    /// Group name; instances are `<name>-1` … `<name>-<count>`.
    pub name: String,
    /// Number of clients.
    pub count: u32,
    /// Distinct source addresses seen by the balancer (1 = all behind one NAT).
    pub source_ips: u32,
    /// Explicit IPv4 source addresses (as big-endian `u32`s); client `i` uses
    /// `source_addresses[i % len]`. Empty: `source_ips` random public addresses per seed.
    /// Given, it overrides `source_ips` (set to the addresses in use), so an `ip_hash` or
    /// `source_ip` hash can be compared with a real balancer's mapping exactly.
    pub source_addresses: Vec<u32>,
    /// Application protocol.
    pub protocol: Protocol,
    /// HTTP/1 pool size; HTTP/2 and WebSocket connections per client.
    pub connections: u32,
    /// HTTP/2: concurrent streams per connection.
    pub max_streams: u32,
    /// Requests (or WebSocket messages) per second, per client (the group's mean).
    pub rate: f64,
    /// Zipf exponent spreading the rate over the group's clients (0 = all equal).
    pub rate_skew: f64,
    /// Arrival process.
    pub arrival: Arrival,
    /// The client gives up on an attempt after this long.
    pub timeout_ns: Option<u64>,
    /// Further attempts after a timeout, rejection or connection error.
    pub retries: u32,
    /// Request payload size.
    pub request_bytes: u64,
    /// Response payload size.
    pub response_bytes: u64,
    /// Encode or decode cost per 1000 bytes of payload, paid at each end.
    pub serialize_per_kb_ns: u64,
    /// Requests per user session; `None` = no sessions.
    pub session_requests: Option<u32>,
    /// Request mix: path and relative weight.
    pub paths: Vec<(String, f64)>,
    /// Proxy (through the balancer) or client-side balancing.
    pub balancing: Balancing,
    /// Client-side policy when `balancing` is `Client`.
    pub client_algorithm: ClientAlgorithm,
    /// Client-side: how often the client re-resolves the server list (DNS).
    pub resolve_interval_ns: u64,
    /// Long-lived gRPC streams: messages per stream (`None` = unary calls).
    pub stream_messages: Option<u32>,
    /// Request keys for hash balancing (`None` = each client is its own key).
    pub keys: Option<KeySpace>,
    /// When the group's first client starts; before its start a client sends nothing and
    /// opens no connection.
    pub start_ns: u64,
    /// Client starts spread over this long: client i of n starts at `start + ramp·i/n`.
    pub ramp_ns: u64,
}

impl ClientGroup {
    /// When client `i` (0-based) of the group starts: `start + ramp·i/count`, exactly.
    pub fn client_start_ns(&self, i: u32) -> u64 {
        let offset = u128::from(self.ramp_ns) * u128::from(i) / u128::from(self.count.max(1));
        self.start_ns.saturating_add(offset as u64)
    }
}

/// Balancing layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    /// One pick per connection; the balancer forwards bytes.
    L4,
    /// One pick per request or HTTP/2 stream; the balancer terminates connections.
    L7,
}

/// The built-in balancing algorithms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Algorithm {
    /// nginx smooth weighted round robin.
    RoundRobin,
    /// Weighted random.
    Random,
    /// nginx least_conn (weighted).
    LeastConnections,
    /// Power of d choices (Envoy least_request).
    PowerOfTwo,
    /// nginx ip_hash.
    IpHash,
    /// Consistent hashing on a ring (nginx ketama).
    ConsistentHash,
    /// Envoy's ring hash.
    RingHash,
    /// Envoy Maglev.
    Maglev,
    /// Consistent hashing with bounded loads.
    BoundedLoadHash,
    /// Linkerd/Finagle peak EWMA.
    PeakEwma,
}

impl Algorithm {
    /// Every built-in algorithm, in catalogue order.
    pub const ALL: [Algorithm; 10] = [
        Algorithm::RoundRobin,
        Algorithm::Random,
        Algorithm::LeastConnections,
        Algorithm::PowerOfTwo,
        Algorithm::IpHash,
        Algorithm::ConsistentHash,
        Algorithm::RingHash,
        Algorithm::Maglev,
        Algorithm::BoundedLoadHash,
        Algorithm::PeakEwma,
    ];

    /// The name used in scenario files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::RoundRobin => "round_robin",
            Algorithm::Random => "random",
            Algorithm::LeastConnections => "least_connections",
            Algorithm::PowerOfTwo => "power_of_two",
            Algorithm::IpHash => "ip_hash",
            Algorithm::ConsistentHash => "consistent_hash",
            Algorithm::RingHash => "ring_hash",
            Algorithm::Maglev => "maglev",
            Algorithm::BoundedLoadHash => "bounded_load_hash",
            Algorithm::PeakEwma => "peak_ewma",
        }
    }

    /// Other names for the same algorithms, as nginx, HAProxy and Envoy spell them: each
    /// names the same semantics as its target. Left out on purpose: nginx `random two`
    /// (two *distinct* picks), HAProxy `source` (a map-based hash, not nginx's ip_hash) and
    /// HAProxy `random` (two draws by default, not weighted random).
    pub const ALIASES: [(&'static str, Algorithm, &'static str); 5] = [
        ("roundrobin", Algorithm::RoundRobin, "HAProxy balance roundrobin"),
        ("least_conn", Algorithm::LeastConnections, "nginx least_conn"),
        ("leastconn", Algorithm::LeastConnections, "HAProxy balance leastconn"),
        ("least_request", Algorithm::PowerOfTwo, "Envoy LEAST_REQUEST"),
        ("p2c", Algorithm::PowerOfTwo, "power of two choices"),
    ];

    /// Looks an algorithm up by name or alias, ignoring case (Envoy spells its policies
    /// `ROUND_ROBIN`, `LEAST_REQUEST`, `RING_HASH`, `MAGLEV`, `RANDOM`).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        let lower = name.to_ascii_lowercase();
        Algorithm::ALL
            .into_iter()
            .find(|a| a.name() == lower)
            .or_else(|| Algorithm::ALIASES.iter().find(|(alias, _, _)| *alias == lower).map(|(_, a, _)| *a))
    }

    /// The aliases of this algorithm.
    pub fn aliases(self) -> Vec<&'static str> {
        Algorithm::ALIASES.iter().filter(|(_, a, _)| *a == self).map(|(alias, _, _)| *alias).collect()
    }

    /// The names of every algorithm, for error messages.
    pub fn names() -> String {
        Algorithm::ALL.iter().map(|a| a.name()).collect::<Vec<_>>().join(", ")
    }

    /// Whether the algorithm picks by hashing a request key.
    pub fn is_hash(self) -> bool {
        matches!(
            self,
            Algorithm::IpHash
                | Algorithm::ConsistentHash
                | Algorithm::RingHash
                | Algorithm::Maglev
                | Algorithm::BoundedLoadHash
        )
    }
}

/// What hash algorithms hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HashKey {
    /// The client's source address.
    SourceIp,
    /// The user session (cookie).
    Session,
    /// The request path.
    Path,
    /// A request header; its values come from the client group's `keys`.
    Header(String),
}

/// Session stickiness at the balancer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sticky {
    /// No stickiness.
    None,
    /// Cookie insert: the first response pins the session to its server.
    Cookie,
    /// Stick table keyed by source address.
    SourceIp,
}

/// What a rate limit counts per.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateKey {
    /// Per client instance (Kong consumer).
    Client,
    /// Per source address.
    Ip,
    /// One counter for everything.
    Global,
}

/// The rate-limiting algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateLimitKind {
    /// Kong: a fixed window aligned to the window boundary.
    FixedWindow,
    /// nginx `limit_req`: a leaky bucket with a burst allowance.
    LeakyBucket {
        /// Requests allowed above the rate, queued (or served at once with `nodelay`).
        burst: u32,
        /// Serve burst requests at once instead of spacing them out.
        nodelay: bool,
    },
}

/// A gateway rate limit (counters are local to each balancer replica).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Requests allowed per window.
    pub limit: u64,
    /// The window (a second, a minute or an hour).
    pub window_ns: u64,
    /// What is counted separately.
    pub key: RateKey,
    /// Fixed window or leaky bucket.
    pub kind: RateLimitKind,
}

/// Active health checks (HAProxy semantics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthCheck {
    /// Time between checks of one server.
    pub interval_ns: u64,
    /// A check with no answer within this fails.
    pub timeout_ns: u64,
    /// Consecutive successes that bring a server up.
    pub rise: u32,
    /// Consecutive failures that take a server down.
    pub fall: u32,
}

/// Passive health checks (nginx `max_fails` / `fail_timeout`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Passive {
    /// Failures within `fail_timeout` that make a server unavailable.
    pub max_fails: u32,
    /// The failure window, and how long the server then stays unavailable.
    pub fail_timeout_ns: u64,
}

/// An L7 route: requests whose path starts with `prefix` go to `pool`.
#[derive(Clone, Debug, PartialEq)]
pub struct Route {
    /// Path prefix (longest match wins).
    pub prefix: String,
    /// Target server pool.
    pub pool: String,
    /// A rate limit for this route only (Kong per-route plugin).
    pub rate_limit: Option<RateLimit>,
}

/// Peak EWMA parameters (Linkerd / Finagle).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeakEwmaParams {
    /// Decay time constant of the moving average.
    pub decay_ns: u64,
    /// The latency assumed for a server with no observations yet.
    pub default_rtt_ns: u64,
}

/// The balancer (or API gateway).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct BalancerSpec {
    /// L4 (per connection) or L7 (per request / stream).
    pub layer: Layer,
    /// Balancing algorithm.
    pub algorithm: Algorithm,
    /// Sample size for power_of_two.
    pub choices: u32,
    /// What hash algorithms hash.
    pub hash_key: HashKey,
    /// Balancer instances; clients spread over them by DNS round robin.
    pub replicas: u32,
    /// Processing per request (L7) or per connection (L4).
    pub overhead_ns: u64,
    /// JWT verification (or other auth) cost per request (L7).
    pub auth_ns: u64,
    /// Requests a replica processes at once; `None` = unlimited (no queueing).
    pub workers: Option<u32>,
    /// Active health checks.
    pub health_check: Option<HealthCheck>,
    /// Passive health checks.
    pub passive: Option<Passive>,
    /// Session stickiness.
    pub sticky: Sticky,
    /// Gateway rate limit for every request.
    pub rate_limit: Option<RateLimit>,
    /// L7 routes by path prefix.
    pub routes: Vec<Route>,
    /// Bounded-load hashing: capacity factor c (each server takes at most ⌈c·load/n⌉).
    pub balance_factor: f64,
    /// Envoy panic threshold (percent): below this share of healthy servers, ignore health.
    pub panic_threshold: Option<f64>,
    /// Maglev lookup table size (a prime).
    pub table_size: u32,
    /// Minimum number of points on the consistent-hash ring.
    pub ring_size: u32,
    /// Peak EWMA parameters.
    pub peak_ewma: PeakEwmaParams,
    /// How long clients keep a resolved balancer address (DNS TTL).
    pub dns_ttl_ns: u64,
    /// On a connection error, the balancer tries this many other servers (nginx
    /// `proxy_next_upstream`); 0 passes the error to the client.
    pub retry_on_error: u32,
}

/// Network costs. Nothing costs time unless set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Network {
    /// One-way latency per hop (client–balancer, balancer–server).
    pub latency_ns: u64,
    /// One-way latency of the balancer–server hop when it differs (a datacentre link behind
    /// a client's WAN link); `None` = `latency`.
    pub upstream_latency_ns: Option<u64>,
    /// Per connection, bits per second; `None` = unlimited.
    pub bandwidth_bps: Option<u64>,
    /// TLS handshake CPU cost at the side that terminates TLS (0 = no TLS).
    pub tls_handshake_ns: u64,
}

/// An external session store (e.g. Redis).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionStore {
    /// Added to every request that touches a session.
    pub latency_ns: u64,
}

/// One action on the timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct TimelineEvent {
    /// When it happens.
    pub at_ns: u64,
    /// What happens.
    pub action: Action,
}

/// What a timeline event (or a live action in the browser) does.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Crash a server, a server group or a balancer replica.
    Crash {
        /// `api-2`, `api` or `balancer-1`.
        target: String,
    },
    /// Bring a crashed target back.
    Recover {
        /// `api-2`, `api` or `balancer-1`.
        target: String,
    },
    /// Multiply a server's service time (1 = back to normal).
    Slow {
        /// A server or a server group.
        target: String,
        /// Service time multiplier.
        factor: f64,
    },
    /// Add servers to a group (scale out).
    Add {
        /// The server group.
        target: String,
        /// How many.
        count: u32,
    },
    /// Remove servers from a group (scale in; the newest first; they drain).
    Remove {
        /// A server group or one server.
        target: String,
        /// How many (for a group).
        count: u32,
    },
    /// Switch the balancing algorithm.
    SetAlgorithm {
        /// The new algorithm.
        algorithm: Algorithm,
    },
    /// Change a client group's rate.
    SetRate {
        /// The client group.
        target: String,
        /// Requests per second per client.
        rate: f64,
    },
    /// The session store stops answering.
    StoreDown,
    /// The session store answers again.
    StoreUp,
    /// The session store answers, slower: its latency is multiplied by `factor` (1 = back
    /// to normal).
    StoreSlow {
        /// Store latency multiplier.
        factor: f64,
    },
    /// A client group sends exactly `count` requests at this instant, spread round-robin
    /// over its clients that have started.
    Burst {
        /// The client group.
        target: String,
        /// How many requests.
        count: u32,
    },
    /// Switch the balancing layer (new connections use it).
    SetLayer {
        /// The new layer.
        layer: Layer,
    },
    /// Switch stickiness.
    SetSticky {
        /// The new mode.
        sticky: Sticky,
    },
}

impl Action {
    /// The action's name in scenario files.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Crash { .. } => "crash",
            Action::Recover { .. } => "recover",
            Action::Slow { .. } => "slow",
            Action::Add { .. } => "add",
            Action::Remove { .. } => "remove",
            Action::SetAlgorithm { .. } => "set_algorithm",
            Action::SetRate { .. } => "set_rate",
            Action::StoreDown => "store_down",
            Action::StoreUp => "store_up",
            Action::StoreSlow { .. } => "store_slow",
            Action::Burst { .. } => "burst",
            Action::SetLayer { .. } => "set_layer",
            Action::SetSticky { .. } => "set_sticky",
        }
    }

    /// Every action name, for error messages.
    pub const NAMES: &'static str = "crash, recover, slow, add, remove, set_algorithm, set_rate, store_down, store_up, store_slow, burst, \
         set_layer, set_sticky";
}

/// Safety limits. A scenario that would exceed one is refused before it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Estimated requests over the whole run.
    pub max_requests: u64,
    /// Events the engine may process.
    pub max_events: u64,
    /// Requests in flight at once (a guard against unbounded queues under overload).
    pub max_in_flight: u64,
    /// Server instances, including added ones.
    pub max_servers: u32,
    /// Client instances.
    pub max_clients: u32,
    /// Longest `duration`.
    pub max_duration_ns: u64,
    /// Estimated memory of a run, in MiB (servers, clients, balancer state, series, and the
    /// worst-case work in flight).
    pub max_memory_mb: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_requests: 50_000_000,
            max_events: 2_000_000_000,
            max_in_flight: 2_000_000,
            max_servers: 100_000,
            max_clients: 100_000,
            max_duration_ns: 7 * 24 * 3600 * NS_PER_SEC,
            max_memory_mb: 4096,
        }
    }
}

/// Report options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportOptions {
    /// Width of a time-series bucket (widened automatically to keep at most
    /// [`MAX_SERIES_BUCKETS`] buckets).
    pub interval_ns: u64,
}

/// The most time-series buckets a report keeps.
pub const MAX_SERIES_BUCKETS: u64 = 2_000;

impl Default for ReportOptions {
    fn default() -> ReportOptions {
        ReportOptions { interval_ns: NS_PER_SEC }
    }
}

impl Default for BalancerSpec {
    fn default() -> BalancerSpec {
        BalancerSpec {
            layer: Layer::L7,
            algorithm: Algorithm::RoundRobin,
            choices: 2,
            hash_key: HashKey::SourceIp,
            replicas: 1,
            overhead_ns: 0,
            auth_ns: 0,
            workers: None,
            health_check: None,
            passive: None,
            sticky: Sticky::None,
            rate_limit: None,
            routes: Vec::new(),
            balance_factor: 1.25,
            panic_threshold: None,
            table_size: 65_537,
            ring_size: 1_024,
            peak_ewma: PeakEwmaParams { decay_ns: 10 * NS_PER_SEC, default_rtt_ns: 30_000_000 },
            dns_ttl_ns: 30 * NS_PER_SEC,
            retry_on_error: 0,
        }
    }
}

impl ServerGroup {
    /// A group of `count` servers with the given service distribution and defaults for the rest.
    pub fn new(name: &str, count: u32, service: ServiceDist) -> ServerGroup {
        ServerGroup {
            name: name.to_string(),
            count,
            pool: "default".to_string(),
            weight: 1,
            workers: 1,
            queue: None,
            service,
            backup: false,
            max_connection_age_ns: None,
        }
    }
}

impl ClientGroup {
    /// A group of `count` clients sending `rate` requests per second each, defaults for the rest.
    pub fn new(name: &str, count: u32, rate: f64) -> ClientGroup {
        ClientGroup {
            name: name.to_string(),
            count,
            source_ips: count,
            source_addresses: Vec::new(),
            protocol: Protocol::Http1,
            connections: 1,
            max_streams: 100,
            rate,
            rate_skew: 0.0,
            arrival: Arrival::Poisson,
            timeout_ns: None,
            retries: 0,
            request_bytes: 0,
            response_bytes: 0,
            serialize_per_kb_ns: 0,
            session_requests: None,
            paths: vec![("/".to_string(), 1.0)],
            balancing: Balancing::Proxy,
            client_algorithm: ClientAlgorithm::PickFirst,
            resolve_interval_ns: 30 * NS_PER_SEC,
            stream_messages: None,
            keys: None,
            start_ns: 0,
            ramp_ns: 0,
        }
    }
}

impl Scenario {
    /// A scenario with one server group and one client group and defaults for everything else.
    pub fn new(name: &str, duration_ns: u64, servers: ServerGroup, clients: ClientGroup) -> Scenario {
        Scenario {
            name: name.to_string(),
            description: String::new(),
            seed: 1,
            duration_ns,
            warmup_ns: 0,
            servers: vec![servers],
            clients: vec![clients],
            balancer: BalancerSpec::default(),
            network: Network::default(),
            session_store: None,
            events: Vec::new(),
            limits: Limits::default(),
            report: ReportOptions::default(),
        }
    }

    /// The number of server instances that exist at the start.
    pub fn initial_servers(&self) -> u64 {
        self.servers.iter().map(|g| u64::from(g.count)).sum()
    }

    /// The number of client instances.
    pub fn total_clients(&self) -> u64 {
        self.clients.iter().map(|g| u64::from(g.count)).sum()
    }
}

impl Scenario {
    /// The pure queueing model of the benchmark's SimPy reference: `n` single-worker
    /// servers with exponential service (mean 10 ms), Poisson arrivals at total rate
    /// `load · n / 10 ms` from one open-loop load generator (HTTP/2 with unlimited streams, so
    /// no request waits at the client), through an L7 balancer running `algorithm`, for about
    /// `requests` requests, the first 10% of the time left out as warmup.
    pub fn reference_queueing(n: u32, load: f64, algorithm: Algorithm, requests: u64) -> Scenario {
        let service_ms = 10.0;
        let total_rate = load * f64::from(n) * 1000.0 / service_ms;
        let duration_ns = ((requests as f64 / total_rate) * 1e9).max(1.0) as u64;
        let mut client = ClientGroup::new("load", 1, total_rate);
        client.protocol = Protocol::Http2;
        client.max_streams = 1_000_000;
        let servers = ServerGroup::new("api", n, ServiceDist::Exponential { mean_ns: (service_ms * 1e6) as u64 });
        let mut s = Scenario::new("queueing", duration_ns, servers, client);
        s.warmup_ns = duration_ns / 10;
        s.balancer.algorithm = algorithm;
        s.limits.max_requests = s.limits.max_requests.max(requests * 2);
        s
    }
}
