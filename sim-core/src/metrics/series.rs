//! Time-series accumulation: fixed-width buckets of outcomes, latency quantiles and
//! per-server activity. Memory grows with buckets × servers (both bounded), not requests.

use super::hist::LatencyHist;
use super::report::{Outcomes, SeriesPoint, balance};

/// The most bucket × server cells a report keeps; the bucket widens to stay below it.
pub const MAX_CELLS: u64 = 4_000_000;

/// Accumulates the current bucket and the finished ones.
pub struct SeriesAcc {
    /// Whether series are kept at all.
    pub enabled: bool,
    /// Bucket width.
    pub interval_ns: u64,
    /// Finished buckets.
    pub points: Vec<SeriesPoint>,
    current_outcomes: [u64; crate::metrics::report::Outcome::COUNT],
    current_latency: LatencyHist<u32>,
    current_latency_failed: LatencyHist<u32>,
    current_served: Vec<u32>,
    current_sent: u64,
    current_retries: u64,
    current_hedges: u64,
    /// Timeline events (time, text).
    pub events: Vec<(u64, String)>,
    /// The most buckets kept: those of the duration and a quarter more (and one) for the drain
    /// after it; a run whose last requests take days to drain must not tick, nor grow, for
    /// days.
    max_points: usize,
}

/// Buckets kept beyond the duration's, as a fraction of them.
pub const DRAIN_BUCKETS_FRACTION: f64 = 0.25;

impl SeriesAcc {
    /// A series over `servers` servers with buckets of at least `interval_ns`, widened so a
    /// run of `duration_ns` keeps at most `max_buckets` buckets and `MAX_CELLS` cells.
    pub fn new(enabled: bool, servers: usize, interval_ns: u64, duration_ns: u64, max_buckets: u64) -> SeriesAcc {
        let mut interval = interval_ns.max(1);
        let cells_cap = (MAX_CELLS / (servers.max(1) as u64)).max(1);
        let cap = max_buckets.min(cells_cap).max(1);
        if duration_ns / interval > cap {
            interval = duration_ns.div_ceil(cap);
        }
        SeriesAcc {
            enabled,
            interval_ns: interval,
            points: Vec::new(),
            current_outcomes: [0; crate::metrics::report::Outcome::COUNT],
            current_latency: LatencyHist::new(2),
            current_latency_failed: LatencyHist::new(2),
            current_served: if enabled { vec![0; servers] } else { Vec::new() },
            current_sent: 0,
            current_retries: 0,
            current_hedges: 0,
            events: Vec::new(),
            max_points: {
                let buckets = duration_ns.div_ceil(interval).clamp(1, cap);
                (buckets as f64 * (1.0 + DRAIN_BUCKETS_FRACTION)).ceil() as usize + 1
            },
        }
    }

    /// Whether the series has all the buckets it keeps (ticks stop).
    pub fn is_full(&self) -> bool {
        self.points.len() >= self.max_points
    }

    /// Counts an ended request: its outcome, and its latency among the `ok` or failed ones.
    #[inline]
    pub fn outcome(&mut self, index: usize, ok: bool, latency_ns: u64) {
        if !self.enabled {
            return;
        }
        self.current_outcomes[index] += 1;
        if ok {
            self.current_latency.record(latency_ns);
        } else {
            self.current_latency_failed.record(latency_ns);
        }
    }

    /// Whether the current bucket holds anything (an ended or served request).
    pub fn has_pending(&self) -> bool {
        self.enabled && (self.current_outcomes.iter().any(|&c| c > 0) || self.current_served.iter().any(|&c| c > 0))
    }

    /// Counts a request a client sent (its first attempt): the offered load, which the ended
    /// requests lag behind (and fall short of, when the system is overloaded).
    #[inline]
    pub fn sent(&mut self) {
        if self.enabled {
            self.current_sent += 1;
        }
    }

    /// Counts a try beyond its request's first that reached a server: a retry (the client's
    /// or the balancer's) or, with `hedge`, a hedge. With `sent` it gives the attempts made.
    #[inline]
    pub fn retried(&mut self, hedge: bool) {
        if self.enabled {
            if hedge {
                self.current_hedges += 1;
            } else {
                self.current_retries += 1;
            }
        }
    }

    /// Counts a request a server finished.
    #[inline]
    pub fn served(&mut self, server: u32) {
        if let Some(c) = self.current_served.get_mut(server as usize) {
            *c += 1;
        }
    }

    /// Closes the current bucket (starting at `start_ns`) with each server's in-flight count
    /// and whether it was up.
    pub fn close(&mut self, start_ns: u64, in_flight: Vec<u32>, up: &[bool]) {
        if !self.enabled || self.is_full() {
            return;
        }
        let counts: Vec<u64> =
            self.current_served.iter().zip(up).filter(|(_, u)| **u).map(|(&c, _)| u64::from(c)).collect();
        let ok = &self.current_latency;
        let all = ok.merged(&self.current_latency_failed);
        // null, not 0, where no request ended: an empty bucket has no latency.
        let some = |h: &LatencyHist<u32>, q: f64| (h.count() > 0).then(|| h.quantile_ms(q));
        let point = SeriesPoint {
            t_s: start_ns as f64 / 1e9,
            outcomes: self.current_outcomes,
            p50_ms: ok.quantile_ms(0.5),
            p99_ms: ok.quantile_ms(0.99),
            ended: Outcomes::from_counts(&self.current_outcomes),
            ok_p50_ms: some(ok, 0.5),
            ok_p99_ms: some(ok, 0.99),
            all_p99_ms: some(&all, 0.99),
            served: std::mem::replace(&mut self.current_served, vec![0; in_flight.len()]),
            in_flight,
            jain_index: balance(&counts).jain_index,
            sent: std::mem::take(&mut self.current_sent),
            retries: std::mem::take(&mut self.current_retries),
            hedges: std::mem::take(&mut self.current_hedges),
        };
        self.points.push(point);
        self.current_outcomes = [0; crate::metrics::report::Outcome::COUNT];
        self.current_latency.reset();
        self.current_latency_failed.reset();
    }
}
