//! The validated scenario: what one simulation run models, with every default filled in and
//! every duration an integer count of nanoseconds. Scenario files are read into this type
//! (`config`), code builds it directly, and [`Scenario::to_toml`] writes it back.

use crate::metrics::report::Outcome;
use std::sync::Arc;

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
    /// A guided lesson (`[lesson]`): steps and claims for `lbsim lesson` and the page; the
    /// simulation never reads it.
    pub lesson: Option<crate::lesson::Lesson>,
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
    /// The fraction of its requests a server answers with an error (a 5xx) instead of serving
    /// them (0 = none). The timeline's `errors` action changes it.
    pub error_rate: f64,
    /// How long an error takes at the server (a worker is busy for it); `None` = the request's
    /// service time, as if the server did the work and then failed.
    pub error_latency_ns: Option<u64>,
    /// A Kubernetes-style horizontal autoscaler for the group (`None` = a fixed count).
    pub autoscale: Option<Autoscale>,
    /// The instances' addresses as the real balancer's config names them (`host:port`);
    /// hash rings hash these instead of the instance names (`None` = the names).
    pub address: Option<ServerAddress>,
}

/// Where a server group's instances listen, as a real balancer's config writes them: nginx's
/// `hash … consistent` hashes the `server` line's text, so with addresses lbsim's ring is the
/// real program's ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerAddress {
    /// `address = "10.0.0.1:8080"`: instance i (0-based) listens on the IPv4 address + i,
    /// on the same port (consecutive addresses).
    Consecutive {
        /// The first instance's address (big-endian).
        ip: u32,
        /// The port every instance listens on.
        port: u16,
    },
    /// `addresses = ["127.0.0.1:8001", …]`: one `host:port` per instance, in order.
    List(Vec<String>),
}

impl ServerAddress {
    /// Instance `i`'s (0-based) address text, or `None` past a list's end.
    pub fn instance(&self, i: u32) -> Option<String> {
        match self {
            ServerAddress::Consecutive { ip, port } => {
                Some(format!("{}:{port}", std::net::Ipv4Addr::from(ip.wrapping_add(i))))
            }
            ServerAddress::List(list) => list.get(i as usize).cloned(),
        }
    }

    /// How many instances have an address (`u32::MAX`: any number).
    pub fn capacity(&self) -> u32 {
        match self {
            ServerAddress::Consecutive { ip, .. } => (u32::MAX - ip).saturating_add(1),
            ServerAddress::List(list) => list.len() as u32,
        }
    }
}

/// What the autoscaler measures against its target.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ScaleMetric {
    /// Busy workers / workers, averaged over the group's ready servers and the last interval
    /// (HPA's CPU `averageUtilization`), 0 to 1.
    Utilization(f64),
    /// Requests at a server (in service and queued), averaged over the group's ready
    /// servers and the last interval (an `AverageValue` pods metric).
    InFlight(f64),
}

/// A horizontal autoscaler, following the Kubernetes HPA algorithm ("Algorithm details",
/// <https://kubernetes.io/docs/concepts/workloads/autoscale/horizontal-pod-autoscale/>, and
/// `pkg/controller/podautoscaler/replica_calculator.go`): every `interval` it computes
/// `desired = ceil(ready × metric / target)`, keeps the current count while
/// `|metric / target − 1| ≤ tolerance`, scales down only to the highest recommendation of the
/// last `scale_down_stabilization`, and stays within `min..=max`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Autoscale {
    /// `minReplicas`.
    pub min: u32,
    /// `maxReplicas`.
    pub max: u32,
    /// The metric and its target.
    pub metric: ScaleMetric,
    /// The controller's sync period (`--horizontal-pod-autoscaler-sync-period`, 15 s).
    pub interval_ns: u64,
    /// `--horizontal-pod-autoscaler-tolerance` (0.1).
    pub tolerance: f64,
    /// From a scale-up decision until the new server is ready (scheduling, image pull,
    /// start-up, readiness probe).
    pub provision_delay_ns: u64,
    /// `behavior.scaleDown.stabilizationWindowSeconds` (300 s).
    pub scale_down_stabilization_ns: u64,
}

impl Autoscale {
    /// Kubernetes' defaults around `min`, `max` and a metric: 15 s sync, tolerance 0.1,
    /// 300 s scale-down stabilization; servers ready 30 s after a scale-up.
    pub fn new(min: u32, max: u32, metric: ScaleMetric) -> Autoscale {
        Autoscale {
            min,
            max,
            metric,
            interval_ns: 15 * NS_PER_SEC,
            tolerance: 0.1,
            provision_delay_ns: 30 * NS_PER_SEC,
            scale_down_stabilization_ns: 300 * NS_PER_SEC,
        }
    }

    /// The HPA's recommendation for `ready` servers measuring `metric` on average (before
    /// stabilization and the `min`/`max` bounds): `ceil(ready × metric / target)`, or `current`
    /// within the tolerance. No ready server, no measurement: `current`.
    pub fn recommend(&self, current: u32, ready: u32, metric: f64) -> u32 {
        let target = match self.metric {
            ScaleMetric::Utilization(t) | ScaleMetric::InFlight(t) => t,
        };
        if ready == 0 || !(metric.is_finite() && target > 0.0) {
            return current;
        }
        let ratio = metric / target;
        if (ratio - 1.0).abs() <= self.tolerance {
            return current;
        }
        // A tiny epsilon keeps an exact product (3 × 0.6 / 0.6) from rounding up past itself.
        let want = libm::ceil(ratio * f64::from(ready) - 1e-9);
        want.clamp(0.0, f64::from(u32::MAX)) as u32
    }
}

/// A service time distribution.
///
/// `Clone`, not `Copy`: mixture parts and empirical samples are shared behind an [`Arc`], so
/// cloning a scenario does not copy a million samples.
#[derive(Clone, Debug, PartialEq)]
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
    /// Pareto (type I): `min · (1 − u)^(−1/alpha)`, heavy-tailed; the variance is infinite for
    /// `alpha ≤ 2`. Draws are capped at [`MAX_SERVICE_NS`].
    Pareto {
        /// The smallest value (the scale `x_m`).
        min_ns: u64,
        /// The tail index, more than 1 (the mean is infinite otherwise).
        alpha: f64,
    },
    /// A mixture: each draw comes from one part, chosen with probability proportional to its
    /// weight (bimodal or hyperexponential service). Parts are not mixtures themselves.
    Mixture {
        /// The parts, in the order written.
        parts: Arc<[MixturePart]>,
    },
    /// Resampling of measured service times: quantile `u` is `samples[floor(u · n)]` of the
    /// sorted samples (no interpolation: every draw is a value that was observed).
    Empirical {
        /// The samples, sorted ascending; at least one.
        samples: Arc<[u64]>,
        /// The file they were read from, as written in the scenario (`None` for inline
        /// `samples = [...]`): a scenario written back refers to the file again.
        file: Option<String>,
    },
    /// Weibull: `scale · (−ln(1 − u))^(1/shape)`; shape 1 is exponential, below 1 heavy-tailed.
    Weibull {
        /// The shape `k`, more than 0.
        shape: f64,
        /// The scale `λ`.
        scale_ns: u64,
    },
    /// Gamma with the given shape and mean (scale = mean / shape); shape 1 is exponential.
    Gamma {
        /// The shape `k`, more than 0.
        shape: f64,
        /// The mean.
        mean_ns: u64,
    },
}

/// One part of a [`ServiceDist::Mixture`].
#[derive(Clone, Debug, PartialEq)]
pub struct MixturePart {
    /// The relative weight (more than 0; the weights need not sum to 1).
    pub weight: f64,
    /// The part's distribution (not a mixture).
    pub dist: ServiceDist,
}

/// The longest service time a distribution can draw (24 h): heavy tails are capped here so a
/// quantile near 1 cannot overflow the clock.
pub const MAX_SERVICE_NS: u64 = 24 * 3600 * NS_PER_SEC;

impl ServiceDist {
    /// The mean service time in nanoseconds (for load estimates and theory checks).
    pub fn mean_ns(&self) -> f64 {
        match self {
            ServiceDist::Constant { value_ns } => *value_ns as f64,
            ServiceDist::Exponential { mean_ns } => *mean_ns as f64,
            ServiceDist::Uniform { min_ns, max_ns } => (*min_ns as f64 + *max_ns as f64) / 2.0,
            ServiceDist::Lognormal { p50_ns, p99_ns } => {
                let sigma = lognormal_sigma(*p50_ns, *p99_ns);
                *p50_ns as f64 * libm::exp(sigma * sigma / 2.0)
            }
            ServiceDist::Pareto { min_ns, alpha } => alpha * *min_ns as f64 / (alpha - 1.0),
            ServiceDist::Mixture { parts } => mixture_moment(parts, ServiceDist::mean_ns),
            ServiceDist::Empirical { samples, .. } => {
                samples.iter().map(|&v| v as f64).sum::<f64>() / samples.len().max(1) as f64
            }
            ServiceDist::Weibull { shape, scale_ns } => *scale_ns as f64 * libm::tgamma(1.0 + 1.0 / shape),
            ServiceDist::Gamma { mean_ns, .. } => *mean_ns as f64,
        }
    }

    /// The second moment E\[S²\] in ns² (the Pollaczek–Khinchine formula needs it):
    /// `f64::INFINITY` for Pareto with `alpha ≤ 2` (and whenever it exceeds the f64 range).
    /// Like [`ServiceDist::mean_ns`] it ignores the 24 h cap on draws.
    pub fn second_moment_ns2(&self) -> f64 {
        match self {
            ServiceDist::Constant { value_ns } => sq(*value_ns as f64),
            ServiceDist::Exponential { mean_ns } => 2.0 * sq(*mean_ns as f64),
            ServiceDist::Uniform { min_ns, max_ns } => {
                let (a, b) = (*min_ns as f64, *max_ns as f64);
                (a * a + a * b + b * b) / 3.0
            }
            ServiceDist::Lognormal { p50_ns, p99_ns } => {
                let sigma = lognormal_sigma(*p50_ns, *p99_ns);
                sq(*p50_ns as f64) * libm::exp(2.0 * sigma * sigma)
            }
            ServiceDist::Pareto { min_ns, alpha } => {
                if *alpha <= 2.0 {
                    f64::INFINITY
                } else {
                    alpha * sq(*min_ns as f64) / (alpha - 2.0)
                }
            }
            ServiceDist::Mixture { parts } => mixture_moment(parts, ServiceDist::second_moment_ns2),
            ServiceDist::Empirical { samples, .. } => {
                samples.iter().map(|&v| sq(v as f64)).sum::<f64>() / samples.len().max(1) as f64
            }
            ServiceDist::Weibull { shape, scale_ns } => sq(*scale_ns as f64) * libm::tgamma(1.0 + 2.0 / shape),
            ServiceDist::Gamma { shape, mean_ns } => {
                let theta = *mean_ns as f64 / shape;
                shape * (shape + 1.0) * theta * theta
            }
        }
    }
}

fn sq(x: f64) -> f64 {
    x * x
}

/// The weighted average of a moment over a mixture's parts.
fn mixture_moment(parts: &[MixturePart], moment: fn(&ServiceDist) -> f64) -> f64 {
    let total: f64 = parts.iter().map(|p| p.weight).sum();
    parts.iter().map(|p| p.weight / total * moment(&p.dist)).sum()
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
// Serialized as scenario files spell it (for the browser's typed boundary).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
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
#[derive(Clone, Debug, PartialEq)]
pub struct KeySpace {
    /// Number of distinct keys.
    pub count: u32,
    /// Zipf exponent: 0 = uniform, 1 ≈ classic hot-key skew.
    pub skew: f64,
    /// The keys' text with `balancer.hash_key_text`: `{i}` replaced by the key's number,
    /// 1 to `count` (`"k{i}"`: `k1` … `kN`, key 1 the most popular). `None`: the number's
    /// decimal text.
    pub template: Option<String>,
}

impl KeySpace {
    /// The text of key number `i` (1 to `count`, as drawn and as `--trace` lines show it).
    pub fn text(&self, i: u64) -> String {
        match &self.template {
            Some(t) => t.replace("{i}", &i.to_string()),
            None => i.to_string(),
        }
    }
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
    /// Trace replay: the requests come from this CSV file, one per row, instead of `rate`
    /// (the path as written; the caller opens it and hands the engine its rows through
    /// [`crate::Simulation::attach_trace`] — the engine does no IO). Without a source
    /// attached the group sends nothing.
    pub trace: Option<String>,
    /// Closed loop: this many users per client, each sending one request, waiting for its
    /// outcome, thinking and sending again (`rate` and `arrival` are then unused). With a
    /// users `schedule`, the largest population it reaches. `None` = open loop.
    pub users: Option<u32>,
    /// Closed loop: a user's pause between an outcome and its next request (`None` = none).
    pub think_time: Option<ServiceDist>,
    /// Load that changes over time (replaces `rate`, or `users` for a closed loop).
    pub schedule: Option<Schedule>,
    /// gRPC's client retry policy (`[clients.retry]`, gRFC A6), instead of `retries`.
    pub retry: Option<RetryPolicy>,
    /// A retried request asks its server for the same work as the attempt before it (`true`,
    /// the default: a retry repeats the same call) or for fresh work drawn from the service
    /// distribution (`false`: the slowness was the server's, not the call's).
    pub retry_same_work: bool,
    /// gRPC's hedging policy (`[clients.hedging]`, gRFC A6), instead of retries.
    pub hedging: Option<Hedging>,
}

/// gRPC's hedging policy, after gRFC A6 (the service config's `hedgingPolicy`:
/// `maxAttempts`, `hedgingDelay`, `nonFatalStatusCodes`): the first attempt goes out, then
/// another every `hedging_delay` while none has answered, up to `max_attempts`. The first
/// answer that is not `non_fatal` wins (an `ok` or a fatal failure) and the others are
/// cancelled; a `non_fatal` failure sends the next hedge at once. A cancelled attempt frees
/// its client's stream (an HTTP/1 connection closes, as a reset does) and its replica's count;
/// the server is not told and finishes its work, as with a timeout (gRPC cancels the stream,
/// but a server's handler runs on unless it checks its context).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Hedging {
    /// Attempts in all, the first included: 2 to 5 (gRPC treats more than 5 as 5).
    pub max_attempts: u32,
    /// The wait before each further attempt (gRPC's default: 0, all at once).
    pub hedging_delay_ns: u64,
    /// Failures that do not end the call (gRPC's `nonFatalStatusCodes`, default none),
    /// indexed by `Outcome::index`.
    pub non_fatal: [bool; Outcome::COUNT],
}

impl Hedging {
    /// `max_attempts` attempts, all at once, every failure fatal (gRPC's defaults).
    pub fn new(max_attempts: u32) -> Hedging {
        Hedging { max_attempts, hedging_delay_ns: 0, non_fatal: [false; Outcome::COUNT] }
    }
}

/// gRPC's client retry policy, after gRFC A6 "gRPC Retry Design"
/// (<https://github.com/grpc/proposal/blob/master/A6-client-retries.md>): the service
/// config's `retryPolicy` (`maxAttempts`, `initialBackoff`, `maxBackoff`,
/// `backoffMultiplier`, `retryableStatusCodes`) and the channel's `retryThrottling`
/// (`maxTokens`, `tokenRatio`), under their snake-case names.
///
/// Attempt n + 1 (n ≥ 1 attempts done) waits `random(0, min(initial_backoff ·
/// backoff_multiplier^(n−1), max_backoff))`. One difference from gRPC: lbsim's `timeout` is
/// per attempt (as with `retries`), where a gRPC deadline covers every attempt of the call.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts in all, the first included: 2 to 5 (gRPC treats more than 5 as 5).
    pub max_attempts: u32,
    /// Backoff before the first retry, at most (A6's example value: 100 ms).
    pub initial_backoff_ns: u64,
    /// Backoff cap (A6's example value: 1 s).
    pub max_backoff_ns: u64,
    /// Growth of the backoff bound per attempt (A6's example value: 2).
    pub backoff_multiplier: f64,
    /// Outcomes that are retried, indexed by `Outcome::index` (gRPC's
    /// `retryableStatusCodes`; UNAVAILABLE ≈ `connection_error`, `no_server`, `server_error`).
    pub retryable: [bool; Outcome::COUNT],
    /// Retry throttling, per client (a client is one gRPC channel to one server name).
    pub throttling: Option<RetryThrottling>,
}

/// gRPC retry throttling (A6): a client's token count starts at `max_tokens`; each attempt
/// that fails with a retryable outcome takes 1, each success gives `token_ratio` (at most up
/// to `max_tokens`); a retry is allowed only while the count is above `max_tokens / 2`.
/// Counted in thousandths, as gRPC's `ServerRetryThrottleData` does (`token_ratio` keeps
/// three decimals).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryThrottling {
    /// Tokens at the start and at most, in thousandths (gRPC: `maxTokens` in (0, 1000]).
    pub max_milli_tokens: u32,
    /// Tokens a success gives back, in thousandths (gRPC: `tokenRatio` > 0, three decimals).
    pub milli_token_ratio: u32,
}

impl RetryPolicy {
    /// A policy of `max_attempts` with A6's example backoff (100 ms, 1 s, ×2), retrying what
    /// gRPC's UNAVAILABLE stands for (`connection_error`, `no_server`, `server_error`).
    pub fn new(max_attempts: u32) -> RetryPolicy {
        let mut retryable = [false; Outcome::COUNT];
        for o in [Outcome::ConnectionError, Outcome::NoServer, Outcome::ServerError] {
            retryable[o.index()] = true;
        }
        RetryPolicy {
            max_attempts,
            initial_backoff_ns: NS_PER_SEC / 10,
            max_backoff_ns: NS_PER_SEC,
            backoff_multiplier: 2.0,
            retryable,
            throttling: None,
        }
    }

    /// The upper bound of the backoff before attempt `n + 1`, after `n ≥ 1` attempts:
    /// `min(initial_backoff · backoff_multiplier^(n−1), max_backoff)`.
    pub fn backoff_bound_ns(&self, n: u32) -> u64 {
        let bound = self.initial_backoff_ns as f64 * libm::pow(self.backoff_multiplier, f64::from(n.max(1) - 1));
        if bound >= self.max_backoff_ns as f64 { self.max_backoff_ns } else { bound as u64 }
    }
}

impl RetryThrottling {
    /// An attempt failed with a retryable outcome: one token less (never below 0). Whether a
    /// retry is still allowed: the count above half of `max_tokens` (gRPC's `RecordFailure`).
    pub fn record_failure(&self, milli_tokens: &mut u32) -> bool {
        *milli_tokens = milli_tokens.saturating_sub(1000);
        self.allows(*milli_tokens)
    }

    /// An attempt succeeded: `token_ratio` more, up to `max_tokens` (gRPC's `RecordSuccess`).
    pub fn record_success(&self, milli_tokens: &mut u32) {
        *milli_tokens = milli_tokens.saturating_add(self.milli_token_ratio).min(self.max_milli_tokens);
    }

    /// Whether a count allows retries: strictly above `max_tokens / 2`.
    pub fn allows(&self, milli_tokens: u32) -> bool {
        milli_tokens > self.max_milli_tokens / 2
    }
}

/// Load that changes over time, per client of the group; point times are from the start of
/// the run, in increasing order.
#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    /// Requests per second at each point: linear between points, and the first (last)
    /// point's rate before (after) them — a non-homogeneous Poisson process.
    Rate(Vec<(u64, f64)>),
    /// Users from each point on (stepwise): users added start with a think, users removed
    /// finish their current request and leave.
    Users(Vec<(u64, u32)>),
}

impl Schedule {
    /// The rate (per second) at time `t_ns` of a rate schedule; `None` for users.
    pub fn rate_at(&self, t_ns: u64) -> Option<f64> {
        let Schedule::Rate(p) = self else { return None };
        let i = p.partition_point(|&(at, _)| at <= t_ns);
        Some(match i {
            0 => p[0].1,
            i if i == p.len() => p[i - 1].1,
            i => {
                let ((a, ra), (b, rb)) = (p[i - 1], p[i]);
                ra + (rb - ra) * ((t_ns - a) as f64 / (b - a) as f64)
            }
        })
    }

    /// Expected requests of one client (rate 1 × weight) between 0 and `to_ns`: the integral
    /// of a rate schedule (exact for the piecewise-linear rate); `None` for users.
    pub fn requests_until(&self, to_ns: u64) -> Option<f64> {
        let Schedule::Rate(p) = self else { return None };
        let secs = |ns: u64| ns as f64 / NS_PER_SEC as f64;
        let mut total = secs(p[0].0.min(to_ns)) * p[0].1;
        for w in p.windows(2) {
            let ((a, ra), (b, _)) = (w[0], w[1]);
            if to_ns <= a {
                break;
            }
            let end = b.min(to_ns);
            let r_end = self.rate_at(end).unwrap_or(ra);
            total += secs(end - a) * (ra + r_end) / 2.0;
        }
        let (last, r) = p[p.len() - 1];
        if to_ns > last {
            total += secs(to_ns - last) * r;
        }
        Some(total)
    }

    /// The highest rate or population of any point.
    pub fn peak(&self) -> f64 {
        match self {
            Schedule::Rate(p) => p.iter().map(|&(_, r)| r).fold(0.0, f64::max),
            Schedule::Users(p) => p.iter().map(|&(_, u)| f64::from(u)).fold(0.0, f64::max),
        }
    }

    /// The time after `from_ns` at which the unit-rate mass `mass` (requests at rate 1 × the
    /// schedule) has accumulated: the inverse of the cumulative intensity, exact for the
    /// piecewise-linear rate (a quadratic in each segment). `None` if it never does.
    pub fn advance(&self, from_ns: u64, mut mass: f64) -> Option<u64> {
        let Schedule::Rate(p) = self else { return None };
        let secs = |ns: u64| ns as f64 / NS_PER_SEC as f64;
        let mut t = from_ns;
        let mut i = p.partition_point(|&(at, _)| at <= t);
        loop {
            // The segment [t, end) with rate r0 at t and slope k (per second²).
            let (end, k) = match i {
                0 => (Some(p[0].0), 0.0),
                i if i == p.len() => (None, 0.0),
                i => {
                    let ((a, ra), (b, rb)) = (p[i - 1], p[i]);
                    (Some(b), (rb - ra) / secs(b - a))
                }
            };
            let r0 = self.rate_at(t).unwrap_or(0.0).max(0.0);
            let room = end.map(|e| secs(e - t));
            let seg_mass = room.map_or(f64::INFINITY, |d| r0 * d + k * d * d / 2.0);
            if mass <= seg_mass {
                // Solve k/2·x² + r0·x = mass for the first root x ≥ 0, in the stable form.
                let disc = (r0 * r0 + 2.0 * k * mass).max(0.0);
                let denom = r0 + libm::sqrt(disc);
                if denom <= 0.0 {
                    return None;
                }
                let mut x = 2.0 * mass / denom;
                if let Some(d) = room {
                    x = x.min(d);
                }
                let dt = (x * NS_PER_SEC as f64 + 0.5).clamp(1.0, 1e18) as u64;
                return Some(t.saturating_add(dt));
            }
            mass -= seg_mass;
            t = end?;
            i += 1;
        }
    }
}

impl ClientGroup {
    /// When client `i` (0-based) of the group starts: `start + ramp·i/count`, exactly.
    pub fn client_start_ns(&self, i: u32) -> u64 {
        let offset = u128::from(self.ramp_ns) * u128::from(i) / u128::from(self.count.max(1));
        self.start_ns.saturating_add(offset as u64)
    }
}

/// Balancing layer.
// Serialized as scenario files spell it (for the browser's typed boundary).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
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
    /// nginx `random two [least_conn]`: two distinct weighted draws, the less loaded wins.
    RandomTwo,
    /// HAProxy `random(N)`: N weighted draws, the least loaded wins.
    RandomDraws,
    /// HAProxy `first`: the first server below `max_conns`.
    First,
    /// HAProxy `static-rr`: a precomputed weighted map.
    StaticRr,
    /// HAProxy `roundrobin`: fast weighted round robin.
    HaproxyRoundRobin,
    /// HAProxy `hash-type consistent`: its tree of points, nearest point.
    HaproxyConsistentHash,
    /// HAProxy `hash-type map-based`: the key's hash modulo a weighted map.
    HaproxyMapHash,
}

impl Algorithm {
    /// Every built-in algorithm, in catalogue order.
    pub const ALL: [Algorithm; 17] = [
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
        Algorithm::RandomTwo,
        Algorithm::RandomDraws,
        Algorithm::First,
        Algorithm::StaticRr,
        Algorithm::HaproxyRoundRobin,
        Algorithm::HaproxyConsistentHash,
        Algorithm::HaproxyMapHash,
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
            Algorithm::RandomTwo => "random_two",
            Algorithm::RandomDraws => "random_draws",
            Algorithm::First => "first",
            Algorithm::StaticRr => "static_rr",
            Algorithm::HaproxyRoundRobin => "haproxy_round_robin",
            Algorithm::HaproxyConsistentHash => "haproxy_consistent_hash",
            Algorithm::HaproxyMapHash => "haproxy_map_hash",
        }
    }

    /// Other names for the same algorithms, as nginx, HAProxy and Envoy spell them: each
    /// names the same semantics as its target. Left out on purpose: HAProxy `source` (a
    /// map-based hash, not nginx's ip_hash) and HAProxy `random` (two draws by default, not
    /// weighted random; see `random_draws`).
    pub const ALIASES: [(&'static str, Algorithm, &'static str); 7] = [
        ("roundrobin", Algorithm::HaproxyRoundRobin, "HAProxy balance roundrobin"),
        ("random_two_least_conn", Algorithm::RandomTwo, "nginx random two least_conn"),
        ("static-rr", Algorithm::StaticRr, "HAProxy balance static-rr"),
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
                | Algorithm::HaproxyConsistentHash
                | Algorithm::HaproxyMapHash
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
// Serialized as scenario files spell it (for the browser's typed boundary).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
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
    /// The balancer's clock tick for these checks, in ns (1 = exact). nginx keeps `checked`
    /// and `now` in whole seconds (`ngx_time()`): with 1 s, times are rounded down to the
    /// second, so a failed server is re-admitted once `now − checked > fail_timeout` in whole
    /// seconds, every `fail_timeout` + 1 s, as nginx does.
    pub clock_ns: u64,
}

impl Passive {
    /// nginx's checks with an exact clock.
    pub fn new(max_fails: u32, fail_timeout_ns: u64) -> Passive {
        Passive { max_fails, fail_timeout_ns, clock_ns: 1 }
    }

    /// `now` on the checks' clock: rounded down to its tick.
    pub fn tick(&self, now_ns: u64) -> u64 {
        now_ns - now_ns % self.clock_ns.max(1)
    }
}

/// Envoy outlier detection (`config.cluster.v3.OutlierDetection`, implemented in
/// `source/common/upstream/outlier_detection_impl.cc`): a passive check that ejects a host
/// after consecutive 5xx or gateway failures, or when its success rate over an `interval` is
/// an outlier among the pool's hosts. Names and defaults are Envoy's. Each replica has its
/// own detector (each Envoy does); a pool is Envoy's cluster.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OutlierDetection {
    /// Consecutive 5xx answers (local-origin errors included) that eject a host (Envoy: 5;
    /// 0 = off).
    pub consecutive_5xx: u32,
    /// Consecutive gateway failures (502, 503, 504; here `rejected` and `connection_error`)
    /// that eject a host (Envoy: 5; 0 = off).
    pub consecutive_gateway_failure: u32,
    /// Percent chance a consecutive-5xx detection ejects (Envoy: 100).
    pub enforcing_consecutive_5xx: u32,
    /// Percent chance a consecutive-gateway-failure detection ejects (Envoy: 0).
    pub enforcing_consecutive_gateway_failure: u32,
    /// Time between ejection sweeps: unejection and success-rate ejection (Envoy: 10 s).
    pub interval_ns: u64,
    /// Ejection time per ejection of the host (Envoy: 30 s).
    pub base_ejection_time_ns: u64,
    /// The longest ejection (Envoy: 300 s, or `base_ejection_time` if larger).
    pub max_ejection_time_ns: u64,
    /// Most hosts of a pool ejected at once, in percent (Envoy: 10; one host may always be).
    pub max_ejection_percent: u32,
    /// Hosts with enough requests needed for success-rate ejection (Envoy: 5).
    pub success_rate_minimum_hosts: u32,
    /// Requests in an interval a host needs to count for success-rate ejection (Envoy: 100).
    pub success_rate_request_volume: u32,
    /// Ejection threshold: mean − stdev × factor / 1000 (Envoy: 1900).
    pub success_rate_stdev_factor: u32,
    /// Percent chance a success-rate detection ejects (Envoy: 100).
    pub enforcing_success_rate: u32,
}

impl Default for OutlierDetection {
    fn default() -> OutlierDetection {
        OutlierDetection {
            consecutive_5xx: 5,
            consecutive_gateway_failure: 5,
            enforcing_consecutive_5xx: 100,
            enforcing_consecutive_gateway_failure: 0,
            interval_ns: 10 * NS_PER_SEC,
            base_ejection_time_ns: 30 * NS_PER_SEC,
            max_ejection_time_ns: 300 * NS_PER_SEC,
            max_ejection_percent: 10,
            success_rate_minimum_hosts: 5,
            success_rate_request_volume: 100,
            success_rate_stdev_factor: 1900,
            enforcing_success_rate: 100,
        }
    }
}

/// Envoy's cluster circuit breakers (`config.cluster.v3.CircuitBreakers.Thresholds`, default
/// priority), per replica and per pool (each Envoy process keeps its own counts per cluster).
/// What they refuse ends at once with the outcome `overflow` (Envoy answers 503 with
/// `x-envoy-overloaded`). `max_connections` and `max_pending_requests` bound the replica's
/// HTTP/1.1 upstream connections of a pool and the requests waiting for one (Envoy's
/// `ConnPoolImplBase`, source/common/conn_pool/conn_pool_base.cc): a request for a host with
/// no idle connection opens one while the pool has fewer than `max_connections` (or when the
/// host has none at all, as Envoy always lets it), else it waits as a pending request for a
/// connection of that host to free, and over `max_pending_requests` it overflows. HTTP/2 and
/// relayed protocols use one multiplexed connection per host, which Envoy always opens: these
/// two limits never hold them back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CircuitBreakers {
    /// Requests of the pool in flight from the replica to servers (sent, not yet answered), at
    /// most (Envoy: 1024).
    pub max_requests: u32,
    /// Retries of the pool outstanding at once (`retry_on_error`'s tries of another server),
    /// at most (Envoy: 3); a retry over it is not made and the failure goes to the client.
    pub max_retries: u32,
    /// Upstream connections of the pool from the replica (Envoy: 1024), counted over its
    /// hosts; HTTP/1.1 only (see above).
    pub max_connections: u32,
    /// Requests of the pool waiting for an upstream connection (Envoy: 1024); one more ends
    /// as `overflow`.
    pub max_pending_requests: u32,
}

impl Default for CircuitBreakers {
    fn default() -> CircuitBreakers {
        CircuitBreakers { max_requests: 1024, max_retries: 3, max_connections: 1024, max_pending_requests: 1024 }
    }
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
    /// Sample size for power_of_two; draws for random_draws (HAProxy `random(N)`).
    pub choices: u32,
    /// HAProxy `first`: requests (L7) or connections (L4) a server takes from one replica
    /// before the next server is used; 0 = unlimited (HAProxy's server `maxconn`).
    pub max_conns: u32,
    /// What hash algorithms hash.
    pub hash_key: HashKey,
    /// Hash the key's text the way the real program does (nginx: crc32 of the text; Envoy:
    /// xxHash64 of it): the path, the header value (`keys.template`, a trace's `key`), the
    /// source address as dotted text (nginx `$remote_addr`), the session id in decimal.
    /// `false`: lbsim's numeric keys (results of scenarios written before it stay the same).
    pub hash_key_text: bool,
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
    /// Whether a server's error answer (`server_error`, a 5xx) is a failed attempt: counted by
    /// the passive checks and retried under `retry_on_error`, as nginx does when
    /// `proxy_next_upstream` lists `http_500 http_502 http_503 http_504`. nginx's default
    /// (`error timeout`) passes a 5xx to the client and counts it as a success: `false`.
    pub fail_on_server_error: bool,
    /// Envoy outlier detection; `None` = off.
    pub outlier_detection: Option<OutlierDetection>,
    /// Envoy circuit breakers; `None` = off.
    pub circuit_breakers: Option<CircuitBreakers>,
    /// Envoy's slow start: a host that joins or comes back has its weight ramped up over a
    /// window (`round_robin`, `power_of_two`, `least_connections`); `None` = off.
    pub slow_start: Option<SlowStart>,
    /// Envoy's route retry policy (`[balancer.retry]`), instead of `retry_on_error`.
    pub retry: Option<BalancerRetry>,
}

/// Slow start, following Envoy's `slow_start_config` (`RoundRobinLbConfig` and
/// `LeastRequestLbConfig`, `envoy/config/cluster/v3/cluster.proto`, and
/// `EdfLoadBalancerBase::applySlowStartFactor` in
/// `source/common/upstream/load_balancer_impl.cc`): for `window` after a host becomes healthy
/// (added to the pool, or back from unhealthy), its weight is multiplied by
/// `max(min_weight_percent / 100, time_factor^(1 / aggression))`, where
/// `time_factor = max(1 ms, time in window) / window`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SlowStart {
    /// Envoy `slow_start_window`: how long a host's weight ramps (required).
    pub window_ns: u64,
    /// Envoy `aggression` (default 1.0, linear): above 1 the weight rises faster at first,
    /// below 1 slower.
    pub aggression: f64,
    /// Envoy `min_weight_percent` (default 10): the weight never starts below this share of
    /// the configured weight.
    pub min_weight_percent: f64,
}

impl SlowStart {
    /// Envoy's defaults for `aggression` (1.0) and `min_weight_percent` (10) over `window`.
    pub fn new(window_ns: u64) -> SlowStart {
        SlowStart { window_ns, aggression: 1.0, min_weight_percent: 10.0 }
    }

    /// The factor a host's weight is multiplied by `elapsed_ns` after it became healthy:
    /// Envoy's `applySlowStartFactor` (1 once the window is over). Envoy measures the time
    /// in whole milliseconds with a floor of 1 ms; the floor is kept, the time is exact.
    pub fn factor(&self, elapsed_ns: u64) -> f64 {
        if elapsed_ns >= self.window_ns {
            return 1.0;
        }
        let time_factor = elapsed_ns.max(NS_PER_SEC / 1000) as f64 / self.window_ns as f64;
        // Envoy's `applyAggressionFactor`: no `pow` for the linear case.
        let ramped = if self.aggression == 1.0 || time_factor == 1.0 {
            time_factor
        } else {
            libm::pow(time_factor, 1.0 / self.aggression)
        };
        ramped.max(self.min_weight_percent / 100.0).min(1.0)
    }
}

/// Envoy's route retry policy and the cluster's retry budget, at each balancer replica:
/// `RetryPolicy` (`num_retries`, `retry_on`, `retry_back_off` with `base_interval` and
/// `max_interval`, `retry_host_predicate`) from
/// <https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#config-route-v3-retrypolicy>
/// and `CircuitBreakers.Thresholds.RetryBudget` (`budget_percent`, `min_retry_concurrency`)
/// from <https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/cluster/v3/circuit_breaker.proto>.
///
/// Retry n waits a uniform draw from [0, min(base_interval · 2^(n−1), max_interval)), as
/// Envoy's `JitteredExponentialBackOffStrategy::nextBackOffMs` returns `random() %
/// next_interval_` with `next_interval_` starting at the base and doubling up to the maximum.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct BalancerRetry {
    /// Retries per request at the balancer (Envoy's default: 1).
    pub num_retries: u32,
    /// Outcomes of a try that are retried, indexed by `Outcome::index` (Envoy's `retry_on`;
    /// its `5xx` ≈ `server_error`, `rejected`, `connection_error`).
    pub retry_on: [bool; Outcome::COUNT],
    /// Backoff base (Envoy's default: 25 ms).
    pub base_interval_ns: u64,
    /// Backoff cap (Envoy's default: 10 × `base_interval`).
    pub max_interval_ns: u64,
    /// Envoy's `previous_hosts` retry host predicate: a retry avoids the hosts already tried.
    pub previous_hosts: bool,
    /// Envoy's `host_selection_retry_max_attempts`: with a host predicate, how many times the
    /// pick is made again when the predicate rejects the host picked; after that the last
    /// host picked is used (Envoy's default when unset: 1, "retrying once").
    pub host_selection_retry_max_attempts: u32,
    /// Envoy's `per_try_timeout`: each try (the first and every retry) gets this long from the
    /// moment it has an upstream connection; a try that runs out ends as `timeout` at the
    /// balancer and is retried if `retry_on` lists `timeout` (`None`: tries have no timeout of
    /// their own, only the client's `timeout` runs).
    pub per_try_timeout_ns: Option<u64>,
    /// The retry budget (`None`: no limit on concurrent retries here; Envoy's `max_retries`
    /// circuit breaker, default 3, is the circuit breakers' business).
    pub budget: Option<RetryBudget>,
}

/// Envoy's retry budget: at most `max(min_retry_concurrency, budget_percent % × (active +
/// pending requests))` retries outstanding at once, per replica (Envoy: per cluster and
/// priority, per Envoy instance).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryBudget {
    /// Percent of active and pending requests (Envoy's default: 20).
    pub budget_percent: f64,
    /// The limit never goes below this (Envoy's default: 3).
    pub min_retry_concurrency: u32,
}

impl BalancerRetry {
    /// Envoy's defaults: 1 retry on `5xx` (`server_error`, `rejected`, `connection_error`),
    /// 25 ms base interval, 250 ms cap, no host predicate, no budget.
    pub fn new() -> BalancerRetry {
        let mut retry_on = [false; Outcome::COUNT];
        for o in [Outcome::ServerError, Outcome::Rejected, Outcome::ConnectionError] {
            retry_on[o.index()] = true;
        }
        BalancerRetry {
            num_retries: 1,
            retry_on,
            base_interval_ns: 25_000_000,
            max_interval_ns: 250_000_000,
            previous_hosts: false,
            host_selection_retry_max_attempts: 1,
            per_try_timeout_ns: None,
            budget: None,
        }
    }

    /// The upper bound (exclusive) of retry n's backoff (n ≥ 1).
    pub fn backoff_bound_ns(&self, n: u32) -> u64 {
        let shift = n.max(1) - 1;
        if shift >= 63 {
            return self.max_interval_ns;
        }
        self.base_interval_ns.saturating_mul(1 << shift).min(self.max_interval_ns)
    }
}

impl Default for BalancerRetry {
    fn default() -> Self {
        BalancerRetry::new()
    }
}

impl RetryBudget {
    /// Retries allowed outstanding at once with `active` + `pending` requests.
    pub fn limit(&self, active_and_pending: u64) -> u64 {
        let share = libm::floor(self.budget_percent / 100.0 * active_and_pending as f64) as u64;
        share.max(u64::from(self.min_retry_concurrency))
    }
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
    /// From now on a server (or every server of a group) answers a fraction `rate` of its
    /// requests with an error (`server_error`) after `latency` instead of serving them;
    /// `rate = 0` ends it.
    Errors {
        /// A server or a server group.
        target: String,
        /// The fraction of requests answered with an error, 0 to 1.
        rate: f64,
        /// How long an error takes at the server; `None` = the request's service time.
        latency_ns: Option<u64>,
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
            Action::Errors { .. } => "errors",
        }
    }

    /// Every action name, for error messages.
    pub const NAMES: &'static str = "crash, recover, slow, add, remove, set_algorithm, set_rate, store_down, store_up, store_slow, burst, \
         set_layer, set_sticky, errors";
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
            max_conns: 0,
            hash_key: HashKey::SourceIp,
            hash_key_text: false,
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
            fail_on_server_error: false,
            slow_start: None,
            outlier_detection: None,
            circuit_breakers: None,
            retry: None,
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
            error_rate: 0.0,
            error_latency_ns: None,
            autoscale: None,
            address: None,
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
            users: None,
            think_time: None,
            schedule: None,
            trace: None,
            retry: None,
            retry_same_work: true,
            hedging: None,
        }
    }

    /// The most attempts beyond the first one request may make (`retries`, or the retry or
    /// hedging policy's attempts − 1).
    pub fn max_retries(&self) -> u32 {
        match (&self.retry, &self.hedging) {
            (Some(p), _) => p.max_attempts - 1,
            (None, Some(h)) => h.max_attempts - 1,
            (None, None) => self.retries,
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
            lesson: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = NS_PER_SEC;

    /// gRPC's own test of retry throttling (`retry_throttle_test.cc`, "Basic"): max 4 tokens
    /// (threshold 2), ratio 1.6, starting full.
    #[test]
    fn retry_throttling_counts_tokens_as_grpc_does() {
        let t = RetryThrottling { max_milli_tokens: 4000, milli_token_ratio: 1600 };
        let mut tokens = t.max_milli_tokens;
        assert!(t.record_failure(&mut tokens)); // 3: above the threshold
        t.record_success(&mut tokens); // 4: not beyond the maximum
        assert_eq!(tokens, 4000);
        assert!(t.record_failure(&mut tokens)); // 3
        assert!(!t.record_failure(&mut tokens)); // 2: at the threshold, no retries
        assert!(!t.record_failure(&mut tokens)); // 1
        t.record_success(&mut tokens); // 2.6: above the threshold again
        assert_eq!(tokens, 2600);
        assert!(t.allows(tokens));
        assert!(!t.record_failure(&mut tokens)); // 1.6
        for _ in 0..10 {
            t.record_failure(&mut tokens);
        }
        assert_eq!(tokens, 0, "never below zero");
    }

    /// A6: the bound before attempt n + 1 is min(initial · multiplier^(n−1), max).
    #[test]
    fn retry_backoff_bound_grows_to_its_cap() {
        let mut p = RetryPolicy::new(5);
        assert_eq!((p.initial_backoff_ns, p.max_backoff_ns, p.backoff_multiplier), (S / 10, S, 2.0));
        let bounds: Vec<u64> = (1..=5).map(|n| p.backoff_bound_ns(n)).collect();
        assert_eq!(bounds, [S / 10, S / 5, 2 * S / 5, 4 * S / 5, S]);
        p.backoff_multiplier = 1.0;
        assert_eq!(p.backoff_bound_ns(4), S / 10);
        let names: Vec<&str> = Outcome::ALL.iter().filter(|o| p.retryable[o.index()]).map(|o| o.name()).collect();
        assert_eq!(names, ["no_server", "connection_error", "server_error"], "gRPC's UNAVAILABLE");
    }

    /// Envoy's defaults and backoff bounds: 25 ms doubling up to 250 ms; the retry budget's
    /// limit is max(min_retry_concurrency, budget_percent % of active + pending).
    #[test]
    fn envoy_retry_defaults_backoff_and_budget() {
        let p = BalancerRetry::new();
        assert_eq!((p.num_retries, p.base_interval_ns, p.max_interval_ns), (1, 25_000_000, 250_000_000));
        let bounds: Vec<u64> = (1..=6).map(|n| p.backoff_bound_ns(n) / 1_000_000).collect();
        assert_eq!(bounds, [25, 50, 100, 200, 250, 250]);
        assert_eq!(p.backoff_bound_ns(200), 250_000_000);
        let b = RetryBudget { budget_percent: 20.0, min_retry_concurrency: 3 };
        assert_eq!(b.limit(0), 3);
        assert_eq!(b.limit(10), 3);
        assert_eq!(b.limit(100), 20);
        assert_eq!(b.limit(104), 20);
        assert_eq!(b.limit(105), 21);
        let b = RetryBudget { budget_percent: 25.0, min_retry_concurrency: 0 };
        assert_eq!(b.limit(100), 25, "Envoy's example: 100 active requests, 25%: 25 retries");
    }

    /// A retry policy, throttling and `retry_same_work` survive writing and reading back.
    #[test]
    fn retry_policy_round_trips() {
        let mut p = RetryPolicy::new(4);
        p.initial_backoff_ns = 25 * S / 1000;
        p.max_backoff_ns = 3 * S;
        p.backoff_multiplier = 1.5;
        p.retryable[Outcome::Timeout.index()] = true;
        p.throttling = Some(RetryThrottling { max_milli_tokens: 10_000, milli_token_ratio: 100 });
        let mut c = ClientGroup::new("web", 2, 10.0);
        c.retry = Some(p);
        c.retry_same_work = false;
        let sc = Scenario::new("r", S, ServerGroup::new("api", 2, ServiceDist::Constant { value_ns: S / 1000 }), c);
        let mut sc = sc;
        let mut b = BalancerRetry::new();
        b.num_retries = 3;
        b.previous_hosts = true;
        b.max_interval_ns = S;
        b.budget = Some(RetryBudget { budget_percent: 12.5, min_retry_concurrency: 7 });
        b.host_selection_retry_max_attempts = 3;
        sc.balancer.retry = Some(b.clone());
        let back = Scenario::from_toml(&sc.to_toml()).unwrap();
        assert_eq!(back.clients, sc.clients, "{}", sc.to_toml());
        assert_eq!(back.balancer, sc.balancer, "{}", sc.to_toml());
        // A per-try timeout, with and without `timeout` retried.
        for retried in [true, false] {
            b.per_try_timeout_ns = Some(75 * S / 1000);
            b.retry_on[Outcome::Timeout.index()] = retried;
            sc.balancer.retry = Some(b.clone());
            let back = Scenario::from_toml(&sc.to_toml()).unwrap();
            assert_eq!(back.balancer, sc.balancer, "{}", sc.to_toml());
        }
    }

    fn ramp() -> Schedule {
        // 10/s until 10 s, rising to 30/s at 20 s, down to 0 at 30 s, then nothing.
        Schedule::Rate(vec![(10 * S, 10.0), (20 * S, 30.0), (30 * S, 0.0)])
    }

    #[test]
    fn rate_is_linear_between_points_and_constant_outside() {
        let r = ramp();
        assert_eq!(r.rate_at(0), Some(10.0));
        assert_eq!(r.rate_at(15 * S), Some(20.0));
        assert_eq!(r.rate_at(25 * S), Some(15.0));
        assert_eq!(r.rate_at(99 * S), Some(0.0));
        assert_eq!(Schedule::Users(vec![(0, 3)]).rate_at(0), None);
    }

    #[test]
    fn integral_is_exact_for_the_piecewise_linear_rate() {
        let r = ramp();
        assert_eq!(r.requests_until(10 * S), Some(100.0));
        assert_eq!(r.requests_until(20 * S), Some(300.0));
        assert_eq!(r.requests_until(15 * S), Some(175.0));
        assert_eq!(r.requests_until(30 * S), Some(450.0));
        assert_eq!(r.requests_until(90 * S), Some(450.0));
    }

    /// `advance` inverts the integral: from any time, the mass it is given accumulates
    /// exactly (to the nanosecond), across points and into the constant tail; past the last
    /// request a zero tail never reaches it.
    #[test]
    fn advance_inverts_the_integral() {
        let r = ramp();
        for from in [0, 5 * S, 10 * S, 12 * S + 345, 20 * S, 29 * S] {
            for mass in [0.001, 0.5, 3.0, 40.0, 170.0] {
                let before = r.requests_until(from).unwrap();
                if before + mass >= 450.0 {
                    assert_eq!(r.advance(from, mass), None, "from {from} mass {mass}");
                    continue;
                }
                let t = r.advance(from, mass).unwrap_or_else(|| panic!("from {from} mass {mass}"));
                let got = r.requests_until(t).unwrap() - before;
                // One nanosecond at the highest rate (30/s) is 3e-8 requests.
                assert!((got - mass).abs() < 1e-6, "from {from} mass {mass}: reached {got} at {t}");
            }
        }
        // A schedule that stays at its last rate keeps going.
        let steady = Schedule::Rate(vec![(0, 0.0), (S, 2.0)]);
        assert_eq!(steady.advance(0, 1.0 + 2.0 * 5.0), Some(6 * S));
    }
}
