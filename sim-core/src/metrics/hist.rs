//! Latency histograms (HdrHistogram) with an exact running mean: memory is fixed by the
//! value range and precision, never by the number of requests recorded.

use hdrhistogram::{Counter, Histogram};

/// A latency histogram in nanoseconds.
#[derive(Clone, Debug)]
pub struct LatencyHist<C: Counter = u64> {
    hist: Histogram<C>,
    sum_ns: u128,
    count: u64,
    max_ns: u64,
}

/// The highest latency recorded exactly; larger values are clamped (an hour).
pub const MAX_TRACKED_NS: u64 = 3_600_000_000_000;

impl<C: Counter> LatencyHist<C> {
    /// A histogram keeping `sigfig` significant digits.
    pub fn new(sigfig: u8) -> LatencyHist<C> {
        let mut hist = Histogram::new_with_bounds(1, 1_000_000, sigfig).expect("valid histogram bounds");
        hist.auto(true);
        LatencyHist { hist, sum_ns: 0, count: 0, max_ns: 0 }
    }

    /// Records one latency.
    #[inline]
    pub fn record(&mut self, ns: u64) {
        let clamped = ns.clamp(1, MAX_TRACKED_NS);
        // Auto-resizing histograms only fail on counter overflow, which a run cannot reach.
        let _ = self.hist.record(clamped);
        self.sum_ns += u128::from(ns);
        self.count += 1;
        self.max_ns = self.max_ns.max(ns);
    }

    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Exact mean in milliseconds (0 when empty).
    pub fn mean_ms(&self) -> f64 {
        if self.count == 0 { 0.0 } else { (self.sum_ns as f64 / self.count as f64) / 1e6 }
    }

    /// Quantile in milliseconds (0 when empty).
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.count == 0 { 0.0 } else { self.hist.value_at_quantile(q) as f64 / 1e6 }
    }

    /// Exact maximum in milliseconds.
    pub fn max_ms(&self) -> f64 {
        self.max_ns as f64 / 1e6
    }

    /// Forgets everything (for per-interval histograms).
    pub fn reset(&mut self) {
        self.hist.reset();
        self.sum_ns = 0;
        self.count = 0;
        self.max_ns = 0;
    }
}
