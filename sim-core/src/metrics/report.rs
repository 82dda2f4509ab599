//! The run report: the JSON object `lbsim run --format json` prints (CONTRACT.md §3), plus
//! added fields. Field order is the contract's; everything after `trace_hash` is an addition.

use serde::Serialize;

/// Request outcomes. Every request ends with exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Served successfully.
    Ok,
    /// The client gave up waiting.
    Timeout,
    /// The server's queue was full.
    Rejected,
    /// Nothing healthy to send it to.
    NoServer,
    /// A connection failed under the request (crash, refused).
    ConnectionError,
    /// The gateway's rate limit refused it.
    RateLimited,
    /// It needed session state that was gone.
    SessionLost,
    /// The server could not reach the session store (`store_down`).
    StoreUnavailable,
    /// The server answered with an error (a 5xx: `error_rate`, the `errors` action).
    ServerError,
    /// A circuit breaker of its replica refused it (Envoy's 503 with `x-envoy-overloaded`).
    Overflow,
}

impl Outcome {
    /// Every outcome, in report order.
    pub const ALL: [Outcome; Outcome::COUNT] = [
        Outcome::Ok,
        Outcome::Timeout,
        Outcome::Rejected,
        Outcome::NoServer,
        Outcome::ConnectionError,
        Outcome::RateLimited,
        Outcome::SessionLost,
        Outcome::StoreUnavailable,
        Outcome::ServerError,
        Outcome::Overflow,
    ];

    /// How many outcomes there are (the length of per-outcome arrays).
    pub const COUNT: usize = 10;

    /// The outcome's name in reports and traces.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Timeout => "timeout",
            Outcome::Rejected => "rejected",
            Outcome::NoServer => "no_server",
            Outcome::ConnectionError => "connection_error",
            Outcome::RateLimited => "rate_limited",
            Outcome::SessionLost => "session_lost",
            Outcome::StoreUnavailable => "store_unavailable",
            Outcome::ServerError => "server_error",
            Outcome::Overflow => "overflow",
        }
    }

    /// Index into per-outcome arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Counts per outcome.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Outcomes {
    /// Served.
    pub ok: u64,
    /// Client gave up.
    pub timeout: u64,
    /// Server queue full.
    pub rejected: u64,
    /// Nothing healthy.
    pub no_server: u64,
    /// Connection failed.
    pub connection_error: u64,
    /// Refused by the rate limit.
    pub rate_limited: u64,
    /// Session state gone.
    pub session_lost: u64,
    /// Session store unreachable.
    pub store_unavailable: u64,
    /// The server answered with an error.
    pub server_error: u64,
    /// Refused by a circuit breaker.
    pub overflow: u64,
}

impl Outcomes {
    /// Builds the counts from an array indexed by [`Outcome::index`].
    pub fn from_counts(c: &[u64; Outcome::COUNT]) -> Outcomes {
        Outcomes {
            ok: c[0],
            timeout: c[1],
            rejected: c[2],
            no_server: c[3],
            connection_error: c[4],
            rate_limited: c[5],
            session_lost: c[6],
            store_unavailable: c[7],
            server_error: c[8],
            overflow: c[9],
        }
    }

    /// The count of one outcome.
    pub fn get(&self, o: Outcome) -> u64 {
        match o {
            Outcome::Ok => self.ok,
            Outcome::Timeout => self.timeout,
            Outcome::Rejected => self.rejected,
            Outcome::NoServer => self.no_server,
            Outcome::ConnectionError => self.connection_error,
            Outcome::RateLimited => self.rate_limited,
            Outcome::SessionLost => self.session_lost,
            Outcome::StoreUnavailable => self.store_unavailable,
            Outcome::ServerError => self.server_error,
            Outcome::Overflow => self.overflow,
        }
    }
}

/// Request counts.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Requests {
    /// Requests sent (not counting retries), after warmup.
    pub sent: u64,
    /// Requests with outcome `ok`.
    pub completed: u64,
    /// Requests with any other outcome.
    pub failed: u64,
    /// Per outcome.
    pub outcomes: Outcomes,
    /// Attempts beyond the first (retries), after warmup.
    pub retries: u64,
    /// Every try (`sent` + `retries` + `balancer_retries` + `hedges`), after warmup.
    pub attempts: u64,
    /// Retries that gRPC retry throttling refused (`[clients.retry]` with `max_tokens`).
    #[serde(skip_serializing_if = "is_zero")]
    pub retries_throttled: u64,
    /// Tries the balancer made again within one attempt (`retry_on_error`, `[balancer.retry]`).
    #[serde(skip_serializing_if = "is_zero")]
    pub balancer_retries: u64,
    /// Balancer retries the retry budget refused (`[balancer.retry]` with a budget).
    #[serde(skip_serializing_if = "is_zero")]
    pub retries_over_budget: u64,
    /// Hedged attempts sent beyond each request's first (`[clients.hedging]`).
    #[serde(skip_serializing_if = "is_zero")]
    pub hedges: u64,
    /// Attempts cancelled because another attempt of the same request won.
    #[serde(skip_serializing_if = "is_zero")]
    pub hedges_cancelled: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Latency summary in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Latency {
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Maximum.
    pub max: f64,
}

impl Latency {
    /// The summary of a histogram (every quantile within its exact minimum and maximum).
    pub fn of<C: hdrhistogram::Counter>(h: &super::hist::LatencyHist<C>) -> Latency {
        Latency {
            mean: h.mean_ms(),
            p50: h.quantile_ms(0.5),
            p90: h.quantile_ms(0.9),
            p99: h.quantile_ms(0.99),
            p999: h.quantile_ms(0.999),
            max: h.max_ms(),
        }
    }
}

/// The measured window: requests that started in [from, to) are counted, and time figures
/// (utilization, time down) are over it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Window {
    /// Start in seconds (the warmup unless `--window` says otherwise).
    pub from_s: f64,
    /// End in seconds (the duration unless `--window` says otherwise).
    pub to_s: f64,
}

/// Per-server latency summary.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ServerLatency {
    /// Mean of the `ok` requests it served.
    pub mean: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// One server's figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ServerReport {
    /// Instance name, e.g. `api-2`.
    pub name: String,
    /// Requests it finished serving (of requests that started after warmup), error answers
    /// included (see `errors`).
    pub requests: u64,
    /// Connections it accepted during the run.
    pub connections: u64,
    /// Busy worker time over worker capacity, within the measured window.
    pub utilization: f64,
    /// Latency of the `ok` requests it served (client-observed).
    pub latency_ms: ServerLatency,
    /// Its group.
    pub group: String,
    /// Most connections open at once.
    pub connections_max: u64,
    /// Requests rejected because its queue was full.
    pub rejected: u64,
    /// Seconds it was crashed within the measured window.
    pub down_s: f64,
    /// Requests that reached it while it was crashed.
    pub requests_while_down: u64,
    /// Seconds the balancer (any replica) had it marked down by health checks, within the
    /// measured window.
    pub marked_down_s: f64,
    /// Whether it was up for the whole measured window (only these count in `balance`).
    pub up_whole_window: bool,
    /// Its state at the end: up, down, draining, removed or not_added.
    pub state: String,
    /// Latency of every request that reached it (its last attempt did), failures at the
    /// moment they ended.
    pub latency_all_ms: ServerLatency,
    /// Seconds it existed (added and not removed) within the measured window: its
    /// `utilization` is over this time.
    pub lifetime_s: f64,
    /// Of its `requests`, those it answered with an error (`server_error`).
    pub errors: u64,
    /// Time-averaged requests at it (waiting plus in service) over its lifetime within the
    /// measured window: by Little's law its throughput times its mean time in the server.
    pub mean_in_flight: f64,
    /// Time-averaged requests waiting in its queue (not yet in service), over the same time.
    pub mean_queue: f64,
    /// Times outlier detection ejected it (every replica's detector), within the measured
    /// window.
    pub ejections: u64,
    /// Seconds it was ejected within the measured window, averaged over replicas (like
    /// `marked_down_s`).
    pub ejected_s: f64,
    /// Tries that reached it as retries (a client's `retries`/`retry`, the balancer's
    /// `retry_on_error`/`retry`).
    #[serde(skip_serializing_if = "is_zero")]
    pub retries: u64,
    /// Tries that reached it as hedges (`[clients.hedging]`).
    #[serde(skip_serializing_if = "is_zero")]
    pub hedges: u64,
}

/// Balance of per-server request counts.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Balance {
    /// Busiest server's count over the mean count.
    pub max_over_mean: f64,
    /// Jain's fairness index (1 = perfectly even).
    pub jain_index: f64,
    /// Coefficient of variation of the counts.
    pub cov: f64,
    /// Servers counted (up for the whole measured window, whenever they were added).
    pub servers: u64,
    /// Servers counted that served nothing.
    pub idle: u64,
    /// The least busy server's share of the requests (1/servers when even, 0 when one idles).
    pub min_share: f64,
}

/// Session figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Sessions {
    /// Sessions started after warmup.
    pub started: u64,
    /// Sessions that lost their state at least once.
    pub lost: u64,
    /// Sessions whose requests all ended.
    pub completed: u64,
    /// Mean requests per completed session.
    pub requests_per_session: f64,
}

/// One client group's figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ClientReport {
    /// Group name.
    pub name: String,
    /// Requests sent.
    pub sent: u64,
    /// Requests `ok`.
    pub completed: u64,
    /// Requests failed.
    pub failed: u64,
    /// Bytes the group sent on the wire (payloads, protocol headers and handshakes).
    pub bytes_sent: u64,
    /// Bytes the group received on the wire.
    pub bytes_received: u64,
    /// Mean latency of its `ok` requests.
    pub latency_ms_mean: f64,
    /// 99th percentile latency of its `ok` requests.
    pub latency_ms_p99: f64,
    /// Connections its clients opened.
    pub connections_opened: u64,
}

/// One balancer replica's figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ReplicaReport {
    /// `balancer-<i>`.
    pub name: String,
    /// Requests (L7) or connections (L4) it routed after warmup.
    pub routed: u64,
    /// Requests refused by its rate limit.
    pub rate_limited: u64,
    /// Utilization of its workers (0 when unlimited).
    pub utilization: f64,
    /// Seconds it was crashed within the measured window.
    pub down_s: f64,
    /// Requests its circuit breakers refused (`overflow`), after warmup.
    pub overflows: u64,
    /// Retries its `max_retries` circuit breaker did not allow, after warmup.
    pub retries_overflowed: u64,
}

/// How long the balancer took to notice a crash.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct CrashReport {
    /// The server.
    pub server: String,
    /// When it crashed, in seconds.
    pub at_s: f64,
    /// Seconds until the first replica marked it down (null if never).
    pub detected_after_s: Option<f64>,
    /// Sessions whose state was lost with it.
    pub sessions_lost: u64,
}

/// One time-series bucket.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SeriesPoint {
    /// Bucket start in seconds.
    pub t_s: f64,
    /// Requests that ended in the bucket, per outcome (report order; `ended` names them).
    pub outcomes: [u64; Outcome::COUNT],
    /// Median latency of the `ok` requests that ended in the bucket (0 when none did; kept
    /// for readers of earlier reports, `ok_p50_ms` is null then).
    pub p50_ms: f64,
    /// 99th percentile of the same (0 when none).
    pub p99_ms: f64,
    /// Requests that ended in the bucket, by outcome name.
    pub ended: Outcomes,
    /// Median latency of the `ok` requests that ended in the bucket; null when none did.
    pub ok_p50_ms: Option<f64>,
    /// 99th percentile of the same; null when none.
    pub ok_p99_ms: Option<f64>,
    /// 99th percentile latency of every request that ended in the bucket, failures at the
    /// moment they ended; null when none did.
    pub all_p99_ms: Option<f64>,
    /// Requests each server finished in the bucket.
    pub served: Vec<u32>,
    /// Requests at each server (queued + in service) at the end of the bucket.
    pub in_flight: Vec<u32>,
    /// Jain's index over the servers' bucket counts (servers up in the bucket).
    pub jain_index: f64,
    /// Requests sent (first attempts) in the bucket, whatever their outcome: the offered
    /// load over time (a rate schedule, closed-loop users slowed by a slow server).
    pub sent: u64,
    /// Retries (the client's or the balancer's) that reached a server in the bucket.
    pub retries: u64,
    /// Hedged tries that reached a server in the bucket. `sent + retries + hedges` are the
    /// attempts: the load the servers see beyond the offered load.
    pub hedges: u64,
}

/// Time series for charts.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Series {
    /// Bucket width in seconds.
    pub interval_s: f64,
    /// Server names, in the order of `served` and `in_flight`.
    pub servers: Vec<String>,
    /// The buckets.
    pub points: Vec<SeriesPoint>,
    /// Timeline events: (time in seconds, description).
    pub events: Vec<(f64, String)>,
}

/// The whole report.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Seed used.
    pub seed: u64,
    /// The balancing algorithm at the start.
    pub algorithm: String,
    /// The balancing layer at the start.
    pub layer: String,
    /// The configured duration.
    pub duration_s: f64,
    /// Request counts.
    pub requests: Requests,
    /// Latency of `ok` requests after warmup.
    pub latency_ms: Latency,
    /// Per server.
    pub servers: Vec<ServerReport>,
    /// Balance over servers up for the whole measured window.
    pub balance: Balance,
    /// Sessions.
    pub sessions: Sessions,
    /// Events the engine processed.
    pub events_processed: u64,
    /// Fingerprint of the whole event history.
    pub trace_hash: String,
    /// When the last request ended (the run drains after `duration`), in seconds.
    pub end_s: f64,
    /// Per client group.
    pub clients: Vec<ClientReport>,
    /// Per balancer replica.
    pub replicas: Vec<ReplicaReport>,
    /// Crashes and their detection.
    pub crashes: Vec<CrashReport>,
    /// Picks of a server the balancer could not use (health-checked down, failed within
    /// `fail_timeout`, draining, or not in the pool); 0 for every built-in algorithm.
    pub picks_ineligible: u64,
    /// Latency of every request that ended (after warmup), a failure at the moment it ended
    /// (a timeout at its deadline); `latency_ms` counts the `ok` ones only.
    pub latency_all_ms: Latency,
    /// The measured window.
    pub window: Window,
    /// Time series (only with `--series`; `null` otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<Series>,
    /// Every scaling decision of the server groups' autoscalers (absent without one).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub autoscaler: Vec<ScaleDecision>,
}

/// One decision of a server group's autoscaler (`[servers.autoscale]`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ScaleDecision {
    /// When, in seconds from the start.
    pub at_s: f64,
    /// The server group.
    pub group: String,
    /// Servers before (ready, crashed or provisioning).
    pub current: u32,
    /// Of those, the ready ones (the metric is their average).
    pub ready: u32,
    /// Servers asked for.
    pub desired: u32,
    /// The metric's average over the ready servers and the last interval (utilization or
    /// requests in flight).
    pub metric: f64,
}

impl Report {
    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The report as indented JSON.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

/// Balance statistics over per-server counts.
pub fn balance(counts: &[u64]) -> Balance {
    if counts.is_empty() {
        return Balance::default();
    }
    let n = counts.len() as f64;
    let servers = counts.len() as u64;
    let idle = counts.iter().filter(|&&c| c == 0).count() as u64;
    let sum: f64 = counts.iter().map(|&c| c as f64).sum();
    if sum == 0.0 {
        return Balance { servers, idle, ..Balance::default() };
    }
    let mean = sum / n;
    let max = counts.iter().copied().max().unwrap_or(0) as f64;
    let min = counts.iter().copied().min().unwrap_or(0) as f64;
    let sum_sq: f64 = counts.iter().map(|&c| (c as f64) * (c as f64)).sum();
    let variance = (sum_sq / n - mean * mean).max(0.0);
    Balance {
        max_over_mean: max / mean,
        jain_index: sum * sum / (n * sum_sq),
        cov: variance.sqrt() / mean,
        servers,
        idle,
        min_share: min / sum,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balance_of_even_and_skewed_counts() {
        let even = balance(&[10, 10, 10, 10]);
        assert_eq!(even.max_over_mean, 1.0);
        assert_eq!(even.jain_index, 1.0);
        assert_eq!(even.cov, 0.0);
        let one_hot = balance(&[30, 0, 0]);
        assert_eq!(one_hot.max_over_mean, 3.0);
        assert!((one_hot.jain_index - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!((one_hot.servers, one_hot.idle, one_hot.min_share), (3, 2, 0.0));
        assert_eq!((even.idle, even.min_share), (0, 0.25));
    }
}
