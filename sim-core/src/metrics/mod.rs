//! Measurements gathered while a run goes: outcome counts, latency histograms, per-group
//! counters, time series, the trace hash; and the report built from them.

pub(crate) mod hash;
pub(crate) mod hist;
pub mod report;
pub mod trace;

use hist::LatencyHist;

/// Per client group counters.
#[derive(Clone, Debug, Default)]
pub struct GroupStats {
    /// Requests sent after warmup.
    pub sent: u64,
    /// Ended per outcome.
    pub outcomes: [u64; crate::metrics::report::Outcome::COUNT],
    /// Wire bytes sent.
    pub bytes_sent: u64,
    /// Wire bytes received.
    pub bytes_received: u64,
    /// Connections opened.
    pub connections: u64,
}

/// Counters for the whole run.
pub struct Stats {
    /// Requests sent after warmup.
    pub sent: u64,
    /// Retries after warmup.
    pub retries: u64,
    /// Retries gRPC retry throttling refused, after warmup.
    pub retries_throttled: u64,
    /// Retries made by the balancer (`retry_on_error`, `[balancer.retry]`), after warmup.
    pub balancer_retries: u64,
    /// Balancer retries the retry budget refused, after warmup.
    pub retries_over_budget: u64,
    /// Hedged attempts sent (beyond each request's first), after warmup.
    pub hedges: u64,
    /// Attempts cancelled because another attempt of their request won, after warmup.
    pub hedges_cancelled: u64,
    /// Per outcome.
    pub outcomes: [u64; crate::metrics::report::Outcome::COUNT],
    /// Latency of `ok` requests.
    pub latency: LatencyHist<u64>,
    /// Latency of the requests that ended with any other outcome, taken when they ended (a
    /// timeout at its deadline): with `latency`, the latency of every request. Kept apart so
    /// an `ok` request costs one histogram update, and the report merges the two.
    pub latency_failed: LatencyHist<u64>,
    /// Per server, the latency of failed requests that reached it (allocated at the first).
    pub server_latency_failed: hist::ServerLatencies,
    /// Per client group.
    pub groups: Vec<GroupStats>,
    /// Per client group latency; empty with a single group, whose latency is `latency`
    /// (one histogram update per request fewer).
    pub group_latency: Vec<LatencyHist<u32>>,
    /// Per server: requests served, connections accepted, most connections at once,
    /// rejections, requests that reached it while down.
    pub served: Vec<u64>,
    /// Connections accepted per server.
    pub accepted: Vec<u64>,
    /// Most connections open at once per server.
    pub conns_max: Vec<u64>,
    /// Rejections per server.
    pub rejected: Vec<u64>,
    /// Error answers per server (`server_error`), after warmup.
    pub server_errors: Vec<u64>,
    /// Tries per server that were retries (the client's or the balancer's), after warmup.
    pub server_retries: Vec<u64>,
    /// Tries per server that were hedges, after warmup.
    pub server_hedges: Vec<u64>,
    /// Sessions whose state was lost at each server (it crashed, or the session moved away
    /// from it), after warmup: the page flashes the server when this grows.
    pub server_sessions_lost: Vec<u64>,
    /// Requests reaching a crashed server.
    pub while_down: Vec<u64>,
    /// Time crashed within the window, per server.
    pub down_ns: Vec<u64>,
    /// Time marked down within the window, summed over replicas, per server (u128: 1,000
    /// replicas × a year of window pass u64 nanoseconds).
    pub marked_down_ns: Vec<u128>,
    /// Outlier ejections per server (every replica's), within the window.
    pub ejections: Vec<u64>,
    /// Time ejected within the window, summed over replicas, per server.
    pub ejected_ns: Vec<u128>,
    /// Sessions started, completed, lost after warmup; requests in completed sessions.
    pub sessions_started: u64,
    /// Completed sessions.
    pub sessions_completed: u64,
    /// Lost sessions.
    pub sessions_lost: u64,
    /// Requests of completed sessions.
    pub session_requests: u64,
    /// Crashes: server, time, first detection, sessions lost.
    pub crashes: Vec<(u32, u64, Option<u64>, u64)>,
    /// The autoscalers' decisions, in order.
    pub scale_decisions: Vec<crate::metrics::report::ScaleDecision>,
    /// Time series.
    pub series: series::SeriesAcc,
    /// When the last request ended.
    pub last_end_ns: u64,
    /// Picks of a server the replica could not use (down, failed, draining): only a broken
    /// custom policy makes them.
    pub picks_ineligible: u64,
    /// The measured window [from, to) when it is not [warmup, duration) (`lbsim run
    /// --window`): requests that start in it count, and time figures are taken over it.
    pub window: Option<(u64, u64)>,
    /// Time each server did not exist (not yet added, or removed) within the window: its
    /// rates and utilization are over its own lifetime.
    pub absent_ns: Vec<u64>,
}

pub(crate) mod series;

impl Stats {
    /// Empty counters for the given numbers of client groups and servers.
    pub fn new(groups: usize, servers: usize, series: series::SeriesAcc) -> Stats {
        Stats {
            sent: 0,
            retries: 0,
            retries_throttled: 0,
            balancer_retries: 0,
            retries_over_budget: 0,
            hedges: 0,
            hedges_cancelled: 0,
            outcomes: [0; crate::metrics::report::Outcome::COUNT],
            latency: LatencyHist::new(3),
            latency_failed: LatencyHist::new(3),
            server_latency_failed: hist::ServerLatencies::lazy(servers),
            groups: vec![GroupStats::default(); groups],
            group_latency: if groups > 1 { (0..groups).map(|_| LatencyHist::new(2)).collect() } else { Vec::new() },
            served: vec![0; servers],
            server_errors: vec![0; servers],
            server_retries: vec![0; servers],
            server_hedges: vec![0; servers],
            server_sessions_lost: vec![0; servers],
            accepted: vec![0; servers],
            conns_max: vec![0; servers],
            rejected: vec![0; servers],
            while_down: vec![0; servers],
            down_ns: vec![0; servers],
            marked_down_ns: vec![0; servers],
            ejections: vec![0; servers],
            ejected_ns: vec![0; servers],
            sessions_started: 0,
            sessions_completed: 0,
            sessions_lost: 0,
            session_requests: 0,
            crashes: Vec::new(),
            scale_decisions: Vec::new(),
            series,
            last_end_ns: 0,
            picks_ineligible: 0,
            window: None,
            absent_ns: vec![0; servers],
        }
    }
}
