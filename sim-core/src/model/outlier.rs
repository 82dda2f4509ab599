//! Envoy's outlier detection (`[balancer.outlier_detection]`), after
//! `source/common/upstream/outlier_detection_impl.cc` and the "Outlier detection" page of
//! Envoy's architecture overview. Each replica has its own detector (each Envoy process has
//! one per cluster; a pool here is a cluster).
//!
//! - Results (`DetectorHostMonitorImpl::putHttpResponseCode`): every answer the replica gets
//!   back from a server is one. With `split_external_local_origin_errors = false` (Envoy's
//!   default, the only mode here) a locally originated error is mapped to an HTTP code and
//!   counted like one: a failed upstream connection (`connection_error`) is a 503. So a 5xx is
//!   `server_error` (a 500), `rejected` (a full queue: 503), `store_unavailable` (500) and
//!   `connection_error`; gateway failures (502, 503, 504) are `rejected` and
//!   `connection_error`. A 5xx adds one to `consecutive_5xx` (a gateway failure also to
//!   `consecutive_gateway_failure`, anything else 5xx resets that one); anything else resets
//!   both. Reaching a threshold *exactly* detects the host; a detection of a host not already
//!   ejected resets that counter and ejects it if `enforcing_*` allows. A client's timeout is
//!   not a result: the replica never sees an upstream answer for it.
//! - Ejection (`DetectorImpl::ejectHost`): allowed while no host of the pool is ejected, or
//!   while `100 × (ejected + 1) / hosts ≤ max_ejection_percent` — Envoy always ejects at least
//!   one host. Each ejection raises the host's backoff by one (while `backoff × base` is below
//!   `max_ejection_time + base`); the host stays out for `min(base × backoff,
//!   max_ejection_time)`, checked only at the interval timer (`checkHostForUneject`), so it
//!   returns at the first sweep at or past that time. A host that stays in for a whole
//!   `base_ejection_time` after its return loses one step of backoff per sweep.
//! - Success rate (`successRateEjectionThreshold`): at each sweep, over the interval just
//!   ended, hosts (not ejected) with at least `success_rate_request_volume` results count; with
//!   at least `success_rate_minimum_hosts` of them, a host whose success rate (percent) is
//!   below `mean − stdev × success_rate_stdev_factor / 1000` (population stdev) is ejected.
//! - An ejected host is unhealthy: not eligible, and not healthy for the panic threshold.

use super::Simulation;
use super::state::*;
use crate::metrics::report::Outcome;
use crate::scenario::OutlierDetection;

/// Why a host was detected (which `enforcing_*` applies).
#[derive(Clone, Copy)]
enum Detection {
    Consecutive5xx,
    ConsecutiveGateway,
    SuccessRate,
}

impl Simulation {
    /// Counts one upstream result of server `s` at replica `r`.
    pub(super) fn outlier_result(&mut self, r: u32, s: u32, outcome: Outcome) {
        let Some(od) = self.sc.balancer.outlier_detection else { return };
        if !self.replicas[r as usize].outlier_armed {
            // The timer rests while sweeps have nothing to do; it wakes at the sweep it would
            // have had next (a multiple of `interval` from the start), so the sweeps happen at
            // the same times as with a timer that never stops.
            self.replicas[r as usize].outlier_armed = true;
            let next = (self.now / od.interval_ns + 1) * od.interval_ns;
            self.schedule(next - self.now, Ev::OutlierInterval { replica: r });
        }
        let (is_5xx, is_gateway) = match outcome {
            // A per-try timeout: Envoy's `LocalOriginTimeout`, counted as a 504 (a gateway
            // error) unless local and external errors are split (lbsim does not split them).
            Outcome::Rejected | Outcome::ConnectionError | Outcome::Timeout => (true, true),
            Outcome::ServerError | Outcome::StoreUnavailable => (true, false),
            _ => (false, false),
        };
        let host = &mut self.replicas[r as usize].outlier[s as usize];
        host.total = host.total.saturating_add(1);
        if !is_5xx {
            host.successes = host.successes.saturating_add(1);
            host.consecutive_5xx = 0;
            host.consecutive_gateway = 0;
            return;
        }
        let mut detected = [None, None];
        if is_gateway {
            host.consecutive_gateway += 1;
            if host.consecutive_gateway == od.consecutive_gateway_failure {
                detected[0] = Some(Detection::ConsecutiveGateway);
            }
        } else {
            host.consecutive_gateway = 0;
        }
        host.consecutive_5xx += 1;
        if host.consecutive_5xx == od.consecutive_5xx {
            detected[1] = Some(Detection::Consecutive5xx);
        }
        for d in detected.into_iter().flatten() {
            let host = &mut self.replicas[r as usize].outlier[s as usize];
            // Envoy: a detection of an ejected host changes nothing.
            if host.ejected {
                continue;
            }
            match d {
                Detection::Consecutive5xx => host.consecutive_5xx = 0,
                _ => host.consecutive_gateway = 0,
            }
            self.eject(r, s, d, &od);
        }
    }

    /// Ejects server `s` at replica `r` if the pool's ejection limit and the enforcement
    /// percentage allow.
    fn eject(&mut self, r: u32, s: u32, why: Detection, od: &OutlierDetection) {
        let pool = &self.pools[self.servers[s as usize].pool as usize];
        let replica = &self.replicas[r as usize];
        let hosts = pool.primaries.len() + pool.backups.len();
        let ejected =
            pool.primaries.iter().chain(&pool.backups).filter(|&&m| replica.outlier[m as usize].ejected).count();
        let allowed = ejected == 0 || 100 * (ejected + 1) <= od.max_ejection_percent as usize * hosts;
        if !allowed {
            return;
        }
        let enforcing = match why {
            Detection::Consecutive5xx => od.enforcing_consecutive_5xx,
            Detection::ConsecutiveGateway => od.enforcing_consecutive_gateway_failure,
            Detection::SuccessRate => od.enforcing_success_rate,
        };
        // Envoy's `featureEnabled(key, percent)`: a draw only when the answer is not certain.
        let enforce = match enforcing {
            0 => false,
            100.. => true,
            p => self.replicas[r as usize].outlier_rng.below(100) < u64::from(p),
        };
        if !enforce {
            return;
        }
        let now = self.now;
        let measuring = self.measuring();
        let replica = &mut self.replicas[r as usize];
        let host = &mut replica.outlier[s as usize];
        host.ejected = true;
        host.ejected_ns = now;
        if u128::from(host.backoff) * u128::from(od.base_ejection_time_ns)
            < u128::from(od.max_ejection_time_ns) + u128::from(od.base_ejection_time_ns)
        {
            host.backoff += 1;
        }
        replica.dirty = true;
        if measuring {
            self.stats.ejections[s as usize] += 1;
        }
        self.note_detection(s);
    }

    /// Returns server `s` to replica `r`'s eligible set, accounting its time out.
    fn uneject(&mut self, r: u32, s: u32) {
        let now = self.now;
        let (warmup, end) = self.window_ns();
        let replica = &mut self.replicas[r as usize];
        let host = &mut replica.outlier[s as usize];
        host.ejected = false;
        host.unejected_ns = now;
        self.stats.ejected_ns[s as usize] += u128::from(super::balancer::overlap(host.ejected_ns, now, warmup, end));
        replica.dirty = true;
    }

    /// Envoy's interval timer: unejections, backoff decay, success-rate ejections, and the
    /// next interval's counts start from zero.
    #[inline(never)]
    pub(super) fn on_outlier_interval(&mut self, r: u32) {
        let Some(od) = self.sc.balancer.outlier_detection else { return };
        if self.finished {
            self.replicas[r as usize].outlier_armed = false;
            return;
        }
        let now = self.now;
        for s in 0..self.servers.len() as u32 {
            let host = self.replicas[r as usize].outlier[s as usize];
            if host.ejected {
                let out_ns =
                    (od.base_ejection_time_ns.saturating_mul(u64::from(host.backoff))).min(od.max_ejection_time_ns);
                if now - host.ejected_ns >= out_ns {
                    self.uneject(r, s);
                }
            } else if host.backoff > 0
                && host.unejected_ns != u64::MAX
                && now - host.unejected_ns >= od.base_ejection_time_ns
            {
                self.replicas[r as usize].outlier[s as usize].backoff -= 1;
            }
        }
        for p in 0..self.pools.len() {
            self.success_rate_sweep(r, p, &od);
        }
        // The next sweep, unless it would find nothing to do: no host out, no backoff to
        // decay, no result in this interval (so none in the next until one arrives, and
        // `outlier_result` re-arms the timer then). A run whose last requests take hours
        // would otherwise sweep every `interval` until they end.
        let replica = &mut self.replicas[r as usize];
        let idle = replica.outlier.iter().all(|h| !h.ejected && h.backoff == 0 && h.total == 0);
        for host in &mut replica.outlier {
            host.total = 0;
            host.successes = 0;
        }
        replica.outlier_armed = !idle;
        if !idle {
            self.schedule(od.interval_ns, Ev::OutlierInterval { replica: r });
        }
    }

    /// Success-rate ejection over pool `p`'s hosts at replica `r`.
    fn success_rate_sweep(&mut self, r: u32, p: usize, od: &OutlierDetection) {
        let replica = &self.replicas[r as usize];
        let pool = &self.pools[p];
        let rates: Vec<(u32, f64)> = pool
            .primaries
            .iter()
            .chain(&pool.backups)
            .filter_map(|&s| {
                let h = replica.outlier[s as usize];
                (!h.ejected && h.total > 0 && h.total >= od.success_rate_request_volume)
                    .then(|| (s, 100.0 * f64::from(h.successes) / f64::from(h.total)))
            })
            .collect();
        if rates.is_empty() || rates.len() < od.success_rate_minimum_hosts as usize {
            return;
        }
        let threshold = success_rate_threshold(rates.iter().map(|&(_, x)| x), od.success_rate_stdev_factor);
        for (s, rate) in rates {
            if rate < threshold && !self.replicas[r as usize].outlier[s as usize].ejected {
                self.eject(r, s, Detection::SuccessRate, od);
            }
        }
    }

    /// Whether replica `r` has server `s` ejected.
    #[inline]
    pub(super) fn ejected(replica: &Replica, s: usize) -> bool {
        replica.outlier.get(s).is_some_and(|h| h.ejected)
    }

    /// At the end of the run: time of hosts still ejected.
    pub(super) fn outlier_close_accounts(&mut self, end_now: u64) {
        let (warmup, end) = self.window_ns();
        for replica in &mut self.replicas {
            for (s, host) in replica.outlier.iter_mut().enumerate() {
                if host.ejected {
                    self.stats.ejected_ns[s] +=
                        u128::from(super::balancer::overlap(host.ejected_ns, end_now, warmup, end));
                    host.ejected_ns = end_now;
                }
            }
        }
    }
}

/// Envoy's success-rate ejection threshold: `mean − stdev × factor / 1000` over the hosts'
/// success rates (percent), with the population standard deviation.
pub(crate) fn success_rate_threshold(rates: impl Iterator<Item = f64> + Clone, stdev_factor: u32) -> f64 {
    let n = rates.clone().count().max(1) as f64;
    let mean = rates.clone().sum::<f64>() / n;
    let variance = rates.map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    mean - libm::sqrt(variance) * f64::from(stdev_factor) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::success_rate_threshold;
    use crate::model::Simulation;
    use crate::scenario::Scenario;

    const S: u64 = 1_000_000_000;

    /// `good` healthy servers and `bad` ones answering every request with a 5xx in 1 ms,
    /// one replica, round robin, with `od` as the `[balancer.outlier_detection]` table.
    fn scenario(good: u32, bad: u32, bad_rate: f64, od: &str, duration: &str) -> Scenario {
        let text = format!(
            r#"
            name = "t"
            seed = 3
            duration = "{duration}"
            {ok}
            [[servers]]
            name = "bad"
            count = {bad}
            workers = 8
            error_rate = {bad_rate}
            error_latency = "1ms"
            service = {{ dist = "exponential", mean = "10ms" }}
            [[clients]]
            name = "c"
            count = 10
            rate = 10
            [balancer]
            algorithm = "round_robin"
            [balancer.outlier_detection]
            {od}
            "#,
            ok = if good == 0 {
                String::new()
            } else {
                format!(
                    "[[servers]]\nname = \"ok\"\ncount = {good}\nworkers = 8\nservice = {{ dist = \"exponential\", mean = \"10ms\" }}"
                )
            }
        );
        Scenario::from_toml(&text).expect("valid test scenario")
    }

    /// (time, server, ejected) at replica 0.
    type Change = (u64, u32, bool);

    /// Steps the run to its end, recording each (time, server, ejected) change at replica 0
    /// and, at each ejection, the host's results and successes in the interval so far.
    fn transitions(sc: &Scenario) -> (Vec<Change>, Vec<(u32, u32)>, Simulation) {
        let mut sim = Simulation::new(sc, sc.seed);
        let n = sim.servers.len();
        let mut was = vec![false; n];
        let mut changes = Vec::new();
        let mut at_ejection = Vec::new();
        while sim.step() {
            for (s, w) in was.iter_mut().enumerate() {
                let h = sim.replicas[0].outlier[s];
                if h.ejected != *w {
                    *w = h.ejected;
                    changes.push((sim.now, s as u32, h.ejected));
                    if h.ejected {
                        at_ejection.push((h.total, h.successes));
                    }
                }
            }
        }
        (changes, at_ejection, sim)
    }

    /// consecutive_5xx = 5: ejected at the fifth error; back at the first sweep 30 s
    /// (base_ejection_time × 1) after; ejected again at once (it still fails) and then out
    /// 2 × 30 s, again until the first sweep past it.
    #[test]
    fn consecutive_5xx_ejects_at_the_fifth_error_and_backs_off() {
        let sc = scenario(3, 1, 1.0, "", "125s");
        let (changes, at_ejection, sim) = transitions(&sc);
        let times: Vec<(u64, bool)> = changes
            .iter()
            .map(|&(t, s, e)| {
                assert_eq!(s, 3, "only the failing server is ejected");
                (t, e)
            })
            .collect();
        assert!(times.len() >= 4, "{times:?}");
        // The fifth result, all five errors, ejects (before the first sweep resets counts).
        assert!(times[0].0 < 10 * S && times[0].1);
        assert_eq!(at_ejection[0], (5, 0));
        // Out 30 s, returned by the sweep at 40 s (the first one at least 30 s after).
        assert_eq!(times[1], (40 * S, false));
        // Five more errors right away: the second ejection lasts 60 s: back at the sweep
        // at 110 s (≥ 40.x + 60 s).
        assert!(times[2].1 && times[2].0 < 41 * S, "{times:?}");
        assert_eq!(at_ejection[1], (5, 0));
        assert_eq!(times[3], (110 * S, false));
        let report = sim.report();
        let bad = &report.servers[3];
        assert_eq!(bad.ejections, times.iter().filter(|t| t.1).count() as u64);
        let out: u64 = times.chunks(2).map(|w| w.get(1).map_or(125 * S, |x| x.0) - w[0].0).sum();
        assert!((bad.ejected_s - out as f64 / 1e9).abs() < 1e-9, "{} vs {out}", bad.ejected_s);
    }

    /// max_ejection_percent: of 4 failing hosts, 10 % lets one out at a time (Envoy always
    /// ejects one); 50 % two (100 × 2 / 4 ≤ 50), never three.
    #[test]
    fn max_ejection_percent_limits_hosts_out_at_once() {
        for (percent, most) in [(10, 1), (50, 2), (100, 4)] {
            let sc = scenario(0, 4, 1.0, &format!("max_ejection_percent = {percent}"), "60s");
            let (changes, _, _) = transitions(&sc);
            let (mut out, mut peak) = (0i32, 0i32);
            for &(_, _, e) in &changes {
                out += if e { 1 } else { -1 };
                peak = peak.max(out);
            }
            assert_eq!(peak, most, "max_ejection_percent = {percent}: {changes:?}");
        }
    }

    /// Gateway failures: a full queue's 503 (`rejected`) is one. A one-worker server with no
    /// queue at 5× its capacity rejects most requests: with consecutive 5xx off, Envoy's
    /// default `enforcing_consecutive_gateway_failure = 0` detects without ejecting, 100 ejects.
    #[test]
    fn rejections_are_gateway_failures() {
        let ejections = |enforcing: u32| {
            let od = format!("consecutive_5xx = 0\nenforcing_consecutive_gateway_failure = {enforcing}");
            let mut sc = scenario(3, 1, 0.0, &od, "20s");
            let bad = &mut sc.servers[1];
            bad.workers = 1;
            bad.queue = Some(0);
            bad.service = crate::scenario::ServiceDist::Exponential { mean_ns: 200_000_000 };
            let (changes, _, sim) = transitions(&sc);
            assert!(changes.iter().all(|c| c.1 == 3), "{changes:?}");
            assert!(sim.stats.rejected[3] > 0);
            sim.report().servers[3].ejections
        };
        assert_eq!(ejections(0), 0);
        assert!(ejections(100) >= 1);
    }

    /// `enforcing_consecutive_5xx = 0`: detected, never ejected (Envoy's "detected" vs
    /// "enforced" ejections).
    #[test]
    fn enforcing_zero_detects_without_ejecting() {
        let (changes, _, _) = transitions(&scenario(3, 1, 1.0, "enforcing_consecutive_5xx = 0", "20s"));
        assert_eq!(changes, vec![]);
    }

    /// Panic mode: Envoy counts an ejected host as unhealthy. With one of two hosts ejected
    /// (50% healthy) and `panic_threshold = 60`, the replica balances over both again, so the
    /// ejected host keeps getting requests; without panic mode it gets none while ejected.
    #[test]
    fn an_ejected_host_counts_as_unhealthy_for_panic_mode() {
        let errors_while_ejected = |panic: &str| {
            let mut sc = scenario(1, 1, 1.0, "", "30s");
            if !panic.is_empty() {
                sc.balancer.panic_threshold = Some(panic.parse().unwrap());
            }
            let mut sim = Simulation::new(&sc, sc.seed);
            let (mut at_ejection, mut last) = (None, 0);
            while sim.step() {
                let h = sim.replicas[0].outlier[1];
                if h.ejected && at_ejection.is_none() {
                    at_ejection = Some(sim.stats.server_errors[1]);
                }
                if h.ejected {
                    last = sim.stats.server_errors[1];
                }
            }
            last - at_ejection.expect("ejected")
        };
        assert!(errors_while_ejected("") <= 1, "no picks of an ejected host");
        assert!(errors_while_ejected("60") > 100, "panic mode picks it again");
    }

    /// Success rate: five hosts with the request volume, one failing 60 % of its requests
    /// (consecutive ejection off): it falls below mean − 1.9 σ and is ejected at the first
    /// sweep (10 s), the others never are. With four hosts (below the minimum of 5) nobody is.
    #[test]
    fn success_rate_ejects_the_outlier_at_a_sweep() {
        let od = "consecutive_5xx = 0\nconsecutive_gateway_failure = 0";
        let sc = scenario(4, 1, 0.6, od, "15s");
        let (changes, _, _) = transitions(&sc);
        assert_eq!(changes, vec![(10 * S, 4, true)]);
        let sc = scenario(3, 1, 0.6, od, "15s");
        let (changes, _, _) = transitions(&sc);
        assert_eq!(changes, vec![]);
    }

    /// Envoy's own unit-test numbers: rates 50, 100 ×4 … the threshold is mean − 1.9 σ.
    #[test]
    fn the_success_rate_threshold_is_mean_minus_stdev_times_factor() {
        let rates = [100.0, 100.0, 100.0, 100.0, 50.0];
        let mean = 90.0;
        let stdev = 20.0; // population: sqrt((4×100 + 1600)/5)
        let t = success_rate_threshold(rates.iter().copied(), 1900);
        assert!((t - (mean - 1.9 * stdev)).abs() < 1e-9, "{t}");
        assert!((success_rate_threshold(rates.iter().copied(), 1000) - 70.0).abs() < 1e-9);
    }
}
