//! Latency histograms (HdrHistogram) with an exact running mean: memory is fixed by the
//! value range and precision, never by the number of requests recorded.

use hdrhistogram::{Counter, Histogram};

/// A latency histogram in nanoseconds.
#[derive(Clone, Debug)]
pub struct LatencyHist<C: Counter = u64> {
    hist: Histogram<C>,
    sum_ns: u128,
    count: u64,
    min_ns: u64,
    max_ns: u64,
}

/// The highest latency recorded; larger values are clamped. The clock's horizon (146 years):
/// validation refuses runs that could go past it, so no quantile is ever clamped. (It was an
/// hour, which reported a 92-day transfer as 1 h.) The histogram grows only as far as the
/// values recorded need.
pub const MAX_TRACKED_NS: u64 = crate::config::check::HORIZON_NS;

impl<C: Counter> LatencyHist<C> {
    /// A histogram keeping `sigfig` significant digits.
    pub fn new(sigfig: u8) -> LatencyHist<C> {
        let mut hist = Histogram::new_with_bounds(1, 1_000_000, sigfig).expect("valid histogram bounds");
        hist.auto(true);
        LatencyHist { hist, sum_ns: 0, count: 0, min_ns: u64::MAX, max_ns: 0 }
    }

    /// Records one latency.
    #[inline]
    pub fn record(&mut self, ns: u64) {
        let clamped = ns.clamp(1, MAX_TRACKED_NS);
        // Auto-resizing histograms only fail on counter overflow, which a run cannot reach.
        let _ = self.hist.record(clamped);
        self.sum_ns += u128::from(ns);
        self.count += 1;
        self.min_ns = self.min_ns.min(ns);
        self.max_ns = self.max_ns.max(ns);
    }

    /// This histogram with every value of `other` added (e.g. the latency of every request
    /// from those of the `ok` and of the failed ones).
    pub fn merged(&self, other: &LatencyHist<C>) -> LatencyHist<C> {
        let mut out = self.clone();
        // Auto-resizing histograms of the same precision always add.
        let _ = out.hist.add(&other.hist);
        out.sum_ns += other.sum_ns;
        out.count += other.count;
        out.min_ns = out.min_ns.min(other.min_ns);
        out.max_ns = out.max_ns.max(other.max_ns);
        out
    }

    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Exact mean in milliseconds (0 when empty).
    pub fn mean_ms(&self) -> f64 {
        if self.count == 0 { 0.0 } else { (self.sum_ns as f64 / self.count as f64) / 1e6 }
    }

    /// Quantile in milliseconds (0 when empty), within the exact minimum and maximum: a
    /// bucket's highest equivalent value can pass the largest value recorded (a p99.9 of
    /// 60,062 ms was reported over a maximum of 60,031.8 ms).
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.count == 0 { 0.0 } else { self.hist.value_at_quantile(q).clamp(self.min_ns, self.max_ns) as f64 / 1e6 }
    }

    /// Exact minimum in milliseconds (0 when empty).
    pub fn min_ms(&self) -> f64 {
        if self.count == 0 { 0.0 } else { self.min_ns as f64 / 1e6 }
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
        self.min_ns = u64::MAX;
        self.max_ns = 0;
    }
}

/// Per-server latency distributions — a log-linear histogram per server with 16 buckets per
/// power of two (a quantile is the bucket's midpoint, within 3.2% of any value in it; values
/// below 16 ns are exact), and each server's exact count, sum and maximum.
///
/// A server's 16 buckets of one power of two are one 64-byte line, taken from a shared pool
/// at the first value in that range: a server's latencies span a few powers of two, so a row
/// is a few lines instead of 60 (3.8 KB, which at 100,000 servers was 384 MB the kernel had
/// to clear, a third of a run's time). Each server has a directory of its 60 lines (240
/// bytes), so a record touches the directory entry, one counter line and the server's totals.
/// A separate HdrHistogram per server cost pointer chases into scattered allocations: at
/// 10,000 servers that was 40% of the run time.
/// Values above 2^63 ns count in the last bucket (runs end before the 2^62 ns horizon, so
/// none do); a counter saturates at 2^32 − 1 (4.29 billion requests
/// to one server within 3% of the same latency), while counts, means and maxima stay exact.
///
/// Above [`DIRECT_UP_TO`] servers, increments wait in a short list and are applied
/// [`PENDING`] at a time: at 10,000 servers each increment is a cache miss, which in a tight
/// loop of independent increments overlap instead of stalling a request's handling one by one.
#[derive(Clone, Debug)]
pub struct ServerLatencies {
    /// Per server and power of two, the index of its line in `lines` plus one (0: no value in
    /// that range yet); empty until the first record.
    line_of: Vec<u32>,
    /// Counter lines, in the order they were first needed.
    lines: Vec<Line>,
    /// Increments recorded but not yet added (at most [`PENDING`]), as `server << 10 | bucket`
    /// (64 bits wide on 32-bit targets too).
    pending: Vec<u64>,
    totals: Vec<Totals>,
}

/// One power of two's 16 counters of one server.
#[derive(Clone, Copy, Debug, Default)]
#[repr(align(64))]
struct Line([u32; 1 << SUB_BITS]);

/// Increments held back before they are applied together.
const PENDING: usize = 1024;
/// Tables of up to this many servers stay in the cache and take their increments at once.
const DIRECT_UP_TO: usize = 256;
/// Bits of a held-back increment's bucket.
const BUCKET_BITS: u32 = 10;

#[derive(Clone, Copy, Debug, Default)]
struct Totals {
    sum_ns: u128,
    count: u64,
    min_ns: u64,
    max_ns: u64,
}

/// Buckets per power of two, as bits.
const SUB_BITS: u32 = 4;
/// The highest power of two with buckets of its own.
const TOP_EXPONENT: u32 = 62;
/// Buckets per server: exact values below 2^SUB_BITS, then 2^SUB_BITS per power of two.
const SERVER_BUCKETS: usize = ((TOP_EXPONENT - SUB_BITS + 2) << SUB_BITS) as usize;
/// Lines per server (a line per power of two, the first for the exact values).
const LINES: usize = SERVER_BUCKETS >> SUB_BITS;
const _: () = assert!(SERVER_BUCKETS <= 1 << BUCKET_BITS);

/// The bucket of a value.
#[inline]
fn bucket_of(ns: u64) -> usize {
    let ns = ns.min((1 << (TOP_EXPONENT + 1)) - 1);
    if ns < 1 << SUB_BITS {
        return ns as usize;
    }
    let exponent = 63 - ns.leading_zeros();
    let mantissa = (ns >> (exponent - SUB_BITS)) & ((1 << SUB_BITS) - 1);
    (((exponent - SUB_BITS + 1) << SUB_BITS) as u64 + mantissa) as usize
}

/// The middle of a bucket's value range (the value itself below 2^SUB_BITS).
fn bucket_mid(bucket: usize) -> f64 {
    let b = bucket as u64;
    if b < 1 << SUB_BITS {
        return b as f64;
    }
    let exponent = (b >> SUB_BITS) + u64::from(SUB_BITS) - 1;
    let mantissa = b & ((1 << SUB_BITS) - 1);
    let shift = exponent - u64::from(SUB_BITS);
    let low = ((1 << SUB_BITS) + mantissa) << shift;
    low as f64 + ((1u64 << shift) as f64 - 1.0) / 2.0
}

impl ServerLatencies {
    /// An empty table for `servers` servers.
    pub fn new(servers: usize) -> ServerLatencies {
        let mut t = ServerLatencies::lazy(servers);
        t.line_of = vec![0; servers * LINES];
        t
    }

    /// An empty table for `servers` servers that takes its directory at the first record (for
    /// failures, which most runs have none of).
    pub fn lazy(servers: usize) -> ServerLatencies {
        ServerLatencies {
            line_of: Vec::new(),
            lines: Vec::new(),
            pending: Vec::new(),
            totals: vec![Totals::default(); servers],
        }
    }

    /// Records one latency of server `s`.
    #[inline]
    pub fn record(&mut self, s: usize, ns: u64) {
        if self.line_of.is_empty() {
            self.line_of = vec![0; self.totals.len() * LINES];
        }
        let bucket = bucket_of(ns);
        if self.totals.len() <= DIRECT_UP_TO {
            self.add(s, bucket);
        } else {
            self.hold((s as u64) << BUCKET_BITS | bucket as u64);
        }
        let t = &mut self.totals[s];
        t.sum_ns += u128::from(ns);
        t.min_ns = if t.count == 0 { ns } else { t.min_ns.min(ns) };
        t.count += 1;
        t.max_ns = t.max_ns.max(ns);
    }

    /// Adds one to server `s`'s counter of `bucket`, taking its line if it has none.
    #[inline]
    fn add(&mut self, s: usize, bucket: usize) {
        let entry = &mut self.line_of[s * LINES + (bucket >> SUB_BITS)];
        if *entry == 0 {
            self.lines.push(Line::default());
            *entry = u32::try_from(self.lines.len()).expect("fewer than 2^32 counter lines");
        }
        let c = &mut self.lines[*entry as usize - 1].0[bucket & ((1 << SUB_BITS) - 1)];
        *c = c.saturating_add(1);
    }

    /// Server `s`'s counter of `bucket` as applied so far.
    #[cfg(test)]
    fn counter(&self, s: usize, bucket: usize) -> u32 {
        match self.line_of.get(s * LINES + (bucket >> SUB_BITS)) {
            Some(&line) if line > 0 => self.lines[line as usize - 1].0[bucket & ((1 << SUB_BITS) - 1)],
            _ => 0,
        }
    }

    /// Asks for server `s`'s totals ahead of a record (a hint; see `slab::prefetch`).
    #[inline]
    pub(crate) fn prefetch(&self, s: usize) {
        if let Some(t) = self.totals.get(s) {
            crate::slab::prefetch(t);
        }
    }

    /// Holds back an increment (applied with the next [`PENDING`]).
    fn hold(&mut self, at: u64) {
        if self.pending.len() == PENDING {
            self.flush();
        }
        self.pending.push(at);
    }

    /// Adds the held-back increments to the counters.
    pub fn flush(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        for &at in &pending {
            self.add((at >> BUCKET_BITS) as usize, (at & ((1 << BUCKET_BITS) - 1)) as usize);
        }
        self.pending = pending;
        self.pending.clear();
    }

    /// Latencies recorded for server `s`.
    pub fn count(&self, s: usize) -> u64 {
        self.totals[s].count
    }

    /// Exact mean latency of server `s`, in milliseconds (0 when empty).
    pub fn mean_ms(&self, s: usize) -> f64 {
        let t = self.totals[s];
        if t.count == 0 { 0.0 } else { (t.sum_ns as f64 / t.count as f64) / 1e6 }
    }

    /// Quantile `q` of server `s`'s latency, in milliseconds (0 when empty): the midpoint of
    /// the bucket holding the ⌈q·n⌉-th smallest value, within the exact minimum and maximum.
    pub fn quantile_ms(&self, s: usize, q: f64) -> f64 {
        Self::quantile_of(&[self], s, q)
    }

    /// Exact mean latency of server `s` over the values of both tables, in milliseconds.
    pub fn mean_ms_with(&self, other: &ServerLatencies, s: usize) -> f64 {
        let (a, b) = (self.totals[s], other.totals[s]);
        let count = a.count + b.count;
        if count == 0 { 0.0 } else { ((a.sum_ns + b.sum_ns) as f64 / count as f64) / 1e6 }
    }

    /// Quantile `q` of server `s`'s latency over the values of both tables (e.g. `ok` and
    /// failed requests), in milliseconds.
    pub fn quantile_ms_with(&self, other: &ServerLatencies, s: usize, q: f64) -> f64 {
        Self::quantile_of(&[self, other], s, q)
    }

    fn quantile_of(tables: &[&ServerLatencies], s: usize, q: f64) -> f64 {
        let (mut count, mut min, mut max) = (0u64, u64::MAX, 0u64);
        for t in tables.iter().map(|t| t.totals[s]).filter(|t| t.count > 0) {
            count += t.count;
            min = min.min(t.min_ns);
            max = max.max(t.max_ns);
        }
        if count == 0 {
            return 0.0;
        }
        let rank = ((q.clamp(0.0, 1.0) * count as f64).ceil() as u64).max(1);
        assert!(tables.len() <= 2, "quantiles over one table or two");
        // Per table, the server's directory row (none before its first record) and its
        // increments not yet applied (mid-run only: a run's end applies them), by bucket.
        let rows: [Option<&[u32]>; 2] =
            std::array::from_fn(|i| tables.get(i).and_then(|t| t.line_of.get(s * LINES..(s + 1) * LINES)));
        let held: [Vec<usize>; 2] = std::array::from_fn(|i| {
            let mut held: Vec<usize> = tables
                .get(i)
                .map_or(&[][..], |t| &t.pending[..])
                .iter()
                .filter(|&&at| at >> BUCKET_BITS == s as u64)
                .map(|&at| (at & ((1 << BUCKET_BITS) - 1)) as usize)
                .collect();
            held.sort_unstable();
            held
        });
        let mut next = [0usize; 2];
        let mut seen = 0u64;
        for line in 0..LINES {
            let counters: [Option<&Line>; 2] = std::array::from_fn(|i| match rows[i].map(|row| row[line]) {
                Some(l) if l > 0 => Some(&tables[i].lines[l as usize - 1]),
                _ => None,
            });
            // A power of two no table has a value in.
            if (0..2).all(|i| counters[i].is_none() && held[i].get(next[i]).is_none_or(|&b| b >> SUB_BITS != line)) {
                continue;
            }
            for bucket in line << SUB_BITS..(line + 1) << SUB_BITS {
                for i in 0..2 {
                    let first = next[i];
                    while held[i].get(next[i]) == Some(&bucket) {
                        next[i] += 1;
                    }
                    let applied = counters[i].map_or(0, |c| c.0[bucket & ((1 << SUB_BITS) - 1)]);
                    // A counter saturates (as `flush` leaves it).
                    seen += (u64::from(applied) + (next[i] - first) as u64).min(u64::from(u32::MAX));
                }
                if seen >= rank {
                    return bucket_mid(bucket).clamp(min as f64, max as f64) / 1e6;
                }
            }
        }
        max as f64 / 1e6
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_cover_their_values() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(15), 15);
        assert_eq!(bucket_of(16), 16);
        assert_eq!(bucket_of(u64::MAX), SERVER_BUCKETS - 1);
        let mut last = 0;
        for v in 1..100_000u64 {
            let b = bucket_of(v);
            assert!(b == last || b == last + 1, "gap at {v}");
            last = b;
        }
        for v in (0..100_000u64).chain((0..2000).map(|i| 1u64 << (i % 44)).map(|p| p + p / 3)) {
            let b = bucket_of(v);
            assert!(b < SERVER_BUCKETS);
            if v < 1 << (TOP_EXPONENT + 1) {
                let mid = bucket_mid(b);
                assert!((mid - v as f64).abs() <= v as f64 * (1.0 / 31.0) + 0.5, "{v} → bucket {b} mid {mid}");
            }
        }
    }

    proptest::proptest! {
        /// Quantiles are within 3.2% of the exact order statistic; means, counts and maxima
        /// are exact.
        #[test]
        fn quantiles_are_close_and_means_exact(values in proptest::collection::vec(1u64..5_000_000_000, 1..400), q in 0.0f64..=1.0) {
            let mut t = ServerLatencies::new(3);
            for &v in &values {
                t.record(1, v);
            }
            let mut sorted = values.clone();
            sorted.sort_unstable();
            let rank = ((q * values.len() as f64).ceil() as usize).max(1);
            let exact = sorted[rank - 1] as f64 / 1e6;
            let got = t.quantile_ms(1, q);
            proptest::prop_assert!((got - exact).abs() <= exact * 0.032 + 1e-6, "q {q}: {got} vs {exact}");
            let mean = values.iter().map(|&v| u128::from(v)).sum::<u128>() as f64 / values.len() as f64 / 1e6;
            proptest::prop_assert_eq!(t.mean_ms(1), mean);
            proptest::prop_assert_eq!(t.count(1), values.len() as u64);
            proptest::prop_assert_eq!(t.count(0) + t.count(2), 0);
        }

        /// Held-back increments count in a quantile before they are applied exactly as after,
        /// over one table and over two, whatever number of them waits.
        #[test]
        fn held_back_increments_count_as_applied(
            values in proptest::collection::vec((0usize..4, 1u64..50_000_000, proptest::bool::ANY), 0..2600),
            q in 0.0f64..=1.0,
        ) {
            // 300 servers: a table large enough to hold increments back.
            let (mut ok, mut failed) = (ServerLatencies::new(300), ServerLatencies::lazy(300));
            for &(s, v, fails) in &values {
                if fails { failed.record(s, v) } else { ok.record(s, v) }
            }
            // Held back until PENDING wait, then applied together.
            let n = values.iter().filter(|v| !v.2).count();
            proptest::prop_assert_eq!(ok.pending.len(), if n == 0 { 0 } else { (n - 1) % PENDING + 1 });
            let before: Vec<(f64, f64)> =
                (0..4).map(|s| (ok.quantile_ms(s, q), ok.quantile_ms_with(&failed, s, q))).collect();
            ok.flush();
            failed.flush();
            proptest::prop_assert!(ok.pending.is_empty() && failed.pending.is_empty());
            let after: Vec<(f64, f64)> =
                (0..4).map(|s| (ok.quantile_ms(s, q), ok.quantile_ms_with(&failed, s, q))).collect();
            proptest::prop_assert_eq!(before, after);
        }
    }

    /// The quantile of the values as a dense row of every bucket would give it (the table's
    /// layout before its lines were taken as needed): the reference the lines must match.
    fn dense_quantile_ms(values: &[u64], q: f64) -> f64 {
        if values.is_empty() {
            return 0.0;
        }
        let mut row = vec![0u64; SERVER_BUCKETS];
        for &v in values {
            row[bucket_of(v)] += 1;
        }
        let (min, max) = (*values.iter().min().unwrap(), *values.iter().max().unwrap());
        let rank = ((q.clamp(0.0, 1.0) * values.len() as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (bucket, &n) in row.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return bucket_mid(bucket).clamp(min as f64, max as f64) / 1e6;
            }
        }
        max as f64 / 1e6
    }

    proptest::proptest! {
        /// Lines taken as values need them give every quantile a dense row of all 960 buckets
        /// gives, for tables that apply increments at once (200 servers) and that hold them
        /// back (3,000; with over 1,024 values some are applied on the way), alone and over
        /// two tables, before and after the held ones are applied; values from 0 to past 2⁶³.
        #[test]
        fn lines_as_needed_match_a_dense_row(
            values in proptest::collection::vec((0usize..3, 0u32..65, 0u64..1 << 20, proptest::bool::ANY), 0..2_600),
            servers in proptest::sample::select(vec![200usize, 3_000]),
            q in 0.0f64..=1.0,
        ) {
            let (mut ok, mut failed) = (ServerLatencies::new(servers), ServerLatencies::lazy(servers));
            // Per server: every value, the failed ones, the ok ones.
            let mut by_server = vec![(Vec::new(), Vec::new(), Vec::new()); 3];
            for &(s, exponent, low, fails) in &values {
                // Values across every power of two (64: zero).
                let v = if exponent == 64 { 0 } else { (1u64 << exponent) | (low & ((1u64 << exponent) - 1)) };
                let (all, failures, oks) = &mut by_server[s];
                all.push(v);
                if fails {
                    failures.push(v);
                    failed.record(s, v);
                } else {
                    oks.push(v);
                    ok.record(s, v);
                }
            }
            for round in 0..2 {
                for (s, (all, failures, oks)) in by_server.iter().enumerate() {
                    proptest::prop_assert_eq!(ok.quantile_ms_with(&failed, s, q), dense_quantile_ms(all, q), "round {}", round);
                    proptest::prop_assert_eq!(failed.quantile_ms(s, q), dense_quantile_ms(failures, q), "round {}", round);
                    proptest::prop_assert_eq!(ok.quantile_ms(s, q), dense_quantile_ms(oks, q), "round {}", round);
                }
                ok.flush();
                failed.flush();
            }
        }
    }

    /// A counter stops at 2^32 − 1 whether its increments wait or are applied.
    #[test]
    fn held_back_increments_saturate_as_counters_do() {
        let mut t = ServerLatencies::new(300);
        t.record(0, 1_000);
        assert_eq!(t.pending.len(), 1, "held back");
        t.flush();
        let at = bucket_of(1_000);
        let line = t.line_of[at >> SUB_BITS] as usize - 1;
        t.lines[line].0[at & 15] = u32::MAX - 1;
        t.totals[0].count = u64::from(u32::MAX) + 3;
        for _ in 0..3 {
            t.record(0, 1_000);
        }
        t.record(0, 2_000_000);
        // 2^32 − 1 in the first bucket, 1 in the second: the top rank is in the second.
        let waiting = t.quantile_ms(0, 1.0);
        t.flush();
        assert_eq!(t.counter(0, at), u32::MAX);
        assert_eq!(waiting, t.quantile_ms(0, 1.0));
    }
}
