//! Envoy's slow start (`slow_start_config`, `EdfLoadBalancerBase::applySlowStartFactor` in
//! `source/common/upstream/load_balancer_impl.cc`): a host that becomes healthy — added to its
//! pool, or back from unhealthy — has its weight ramped from `min_weight_percent` up to its
//! full weight over `window`.
//!
//! When a window starts: `add` (a new host; Envoy starts the window at the host's creation), a
//! health check marking the host up again (Envoy's `lastHcPassTime`), and, without active
//! checks, `recover` (nothing else tells the balancer the host is back). Hosts present at the
//! start of the run do not ramp (Envoy does not ramp a cluster's initial hosts against each
//! other either: all are equally new). lbsim keeps one window per server for every replica;
//! each Envoy keeps its own, which differ only by when each one's health check passed.
//!
//! Which algorithms: Envoy applies it to `ROUND_ROBIN` and `LEAST_REQUEST` (`round_robin`,
//! `power_of_two`); lbsim also ramps `least_connections`, as nginx Plus's `slow_start=` server
//! parameter does for `least_conn` (nginx OSS has no slow start). Hash algorithms and
//! `random` ignore it (Envoy: "not supported" for ring hash and Maglev).
//!
//! The algorithms see integer weights: with slow start every weight is in hundredths
//! (`SCALE`), and a ramping host's weight is its configured weight × the factor rounded to a
//! whole percent, so weights change at most a hundred times per window and each change
//! rebuilds the replicas' views once. With slow start off nothing here runs and the weights
//! are the configured ones: pick sequences are unchanged.

use super::Simulation;
use crate::scenario::{Algorithm, SlowStart};

/// The weight of one configured unit while slow start is on.
pub(crate) const SCALE: u32 = 100;

/// Slow start's state during a run.
#[derive(Clone, Debug)]
pub(crate) struct Ramp {
    pub spec: SlowStart,
    /// The weights the algorithms see: configured × the factor in whole percent.
    pub weights: Vec<u32>,
    /// When each server's window started (`u64::MAX`: not ramping).
    pub since: Vec<u64>,
    /// The servers whose window is open, in the order their windows started.
    pub ramping: Vec<u32>,
}

impl Ramp {
    pub(crate) fn new(spec: SlowStart, configured: &[u32]) -> Ramp {
        Ramp {
            spec,
            weights: configured.iter().map(|&w| w * SCALE).collect(),
            since: vec![u64::MAX; configured.len()],
            ramping: Vec::new(),
        }
    }

    /// A server's ramped weight at `now` (its full weight outside a window).
    pub(super) fn weight_at(&self, configured: u32, s: u32, now: u64) -> u32 {
        let since = self.since[s as usize];
        if since == u64::MAX {
            return configured * SCALE;
        }
        let factor = self.spec.factor(now.saturating_sub(since));
        let percent = libm::round(factor * f64::from(SCALE)).clamp(1.0, f64::from(SCALE)) as u32;
        configured * percent
    }
}

/// Whether slow start changes the picks of this algorithm (see the module comment).
pub(crate) fn ramps(algorithm: Algorithm) -> bool {
    matches!(algorithm, Algorithm::RoundRobin | Algorithm::PowerOfTwo | Algorithm::LeastConnections)
}

impl Simulation {
    /// A server became healthy: its slow-start window starts now (again, if it was open).
    pub(super) fn start_slow_start(&mut self, s: u32) {
        let now = self.now;
        let configured = self.weights[s as usize];
        let Some(ramp) = self.ramp.as_deref_mut() else { return };
        ramp.since[s as usize] = now;
        if !ramp.ramping.contains(&s) {
            ramp.ramping.push(s);
        }
        let w = ramp.weight_at(configured, s, now);
        if ramp.weights[s as usize] != w {
            ramp.weights[s as usize] = w;
            self.invalidate_views();
        }
    }

    /// Brings the ramped weights up to `now` before a pick; closes windows that ended.
    pub(super) fn update_slow_start(&mut self) {
        let now = self.now;
        let Some(ramp) = self.ramp.as_deref_mut() else { return };
        if ramp.ramping.is_empty() {
            return;
        }
        let mut changed = false;
        let mut i = 0;
        while i < ramp.ramping.len() {
            let s = ramp.ramping[i];
            let configured = self.weights[s as usize];
            if now.saturating_sub(ramp.since[s as usize]) >= ramp.spec.window_ns {
                ramp.since[s as usize] = u64::MAX;
                ramp.ramping.remove(i);
            } else {
                i += 1;
            }
            let w = ramp.weight_at(configured, s, now);
            if ramp.weights[s as usize] != w {
                ramp.weights[s as usize] = w;
                changed = true;
            }
        }
        if changed {
            self.invalidate_views();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::NS_PER_SEC;

    /// Envoy's `applySlowStartFactor`: `max(min_weight_percent / 100, time_factor^(1 /
    /// aggression))` with `time_factor = max(1 ms, time in window) / window`.
    #[test]
    fn the_factor_follows_envoys_formula() {
        let s = NS_PER_SEC;
        let linear = SlowStart::new(10 * s);
        assert_eq!((linear.aggression, linear.min_weight_percent), (1.0, 10.0), "Envoy's defaults");
        assert_eq!(linear.factor(0), 0.1, "the 10 % floor");
        assert_eq!(linear.factor(s / 2), 0.1);
        assert_eq!(linear.factor(5 * s), 0.5);
        assert_eq!(linear.factor(7_500_000_000), 0.75);
        assert_eq!(linear.factor(10 * s), 1.0, "the window is over");
        assert_eq!(linear.factor(u64::MAX), 1.0);
        let fast = SlowStart { aggression: 2.0, ..linear };
        assert_eq!(fast.factor(2_500_000_000), 0.5, "(1/4)^(1/2)");
        let slow = SlowStart { aggression: 0.5, ..linear };
        assert_eq!(slow.factor(5 * s), 0.25, "(1/2)^2");
        assert_eq!(slow.factor(2 * s), 0.1, "(1/5)^2 = 0.04 is below the floor");
        let no_floor = SlowStart { min_weight_percent: 0.0, ..linear };
        assert_eq!(no_floor.factor(0), 1e-4, "Envoy's 1 ms floor on the time: 1 ms / 10 s");
        assert_eq!(no_floor.factor(s), 0.1);
        let half = SlowStart { min_weight_percent: 50.0, ..linear };
        assert_eq!(half.factor(s), 0.5);
        assert_eq!(half.factor(6 * s), 0.6);
    }

    #[test]
    fn weights_move_in_whole_percent_of_the_configured_weight() {
        let mut ramp = Ramp::new(SlowStart::new(10 * NS_PER_SEC), &[3, 1]);
        assert_eq!(ramp.weights, vec![300, 100]);
        ramp.since[0] = 0;
        // Linear: 10 % (the floor) until 1 s, then 25 % at 2.5 s, full at the window's end.
        assert_eq!(ramp.weight_at(3, 0, 0), 30);
        assert_eq!(ramp.weight_at(3, 0, 2_500_000_000), 75);
        assert_eq!(ramp.weight_at(3, 0, 10 * NS_PER_SEC), 300);
        assert_eq!(ramp.weight_at(1, 1, 0), 100, "not ramping: full weight");
    }
}
