//! `peak_ewma`: Linkerd's balancer, tower's `PeakEwma` load with power of two choices
//! (`tower/src/load/peak_ewma.rs`, `tower/src/balance/p2c/service.rs`; Linkerd2-proxy's
//! defaults: decay 10 s, default RTT 30 ms).
//!
//! Each server keeps an RTT estimate that jumps to any larger observation (the peak) and
//! otherwise decays toward new observations with weight `exp(−elapsed / decay)`; reading the
//! load counts as an observation of 0, as in tower. The load is
//! `estimate × (pending + 1)`. Each pick compares two distinct servers drawn uniformly
//! (Floyd's two-sample) and takes the cheaper, the first on a tie. Every ended request feeds
//! its round-trip time, including failures and timeouts (time to the error or the give-up).

use super::{Balancer, Outcome, PickView};
use crate::rng::SimRng;

#[derive(Clone, Copy, Debug)]
struct Estimate {
    rtt_ns: f64,
    updated_ns: u64,
}

/// Linkerd/tower peak EWMA with P2C.
#[derive(Clone, Debug)]
pub struct PeakEwma {
    decay_ns: f64,
    default_rtt_ns: f64,
    estimates: Vec<Option<Estimate>>,
}

impl PeakEwma {
    /// Decay time constant and the estimate a server starts with.
    pub fn new(decay_ns: u64, default_rtt_ns: u64) -> PeakEwma {
        PeakEwma { decay_ns: decay_ns as f64, default_rtt_ns: default_rtt_ns as f64, estimates: Vec::new() }
    }

    fn update(&mut self, server: u32, rtt_ns: f64, now_ns: u64) -> f64 {
        let i = server as usize;
        if self.estimates.len() <= i {
            self.estimates.resize(i + 1, None);
        }
        let default = self.default_rtt_ns;
        let e = self.estimates[i].get_or_insert(Estimate { rtt_ns: default, updated_ns: now_ns });
        if e.rtt_ns < rtt_ns {
            e.rtt_ns = rtt_ns;
        } else {
            let elapsed = now_ns.saturating_sub(e.updated_ns) as f64;
            let decay = libm::exp(-elapsed / self.decay_ns);
            e.rtt_ns = e.rtt_ns * decay + rtt_ns * (1.0 - decay);
        }
        e.updated_ns = now_ns;
        e.rtt_ns
    }

    fn cost(&mut self, view: &PickView<'_>, server: u32) -> f64 {
        let estimate = self.update(server, 0.0, view.now_ns());
        estimate * (f64::from(view.active(server)) + 1.0)
    }
}

impl Balancer for PeakEwma {
    fn name(&self) -> &str {
        "peak_ewma"
    }

    fn pick(&mut self, view: &PickView<'_>, rng: &mut SimRng) -> Option<u32> {
        let eligible = view.eligible();
        match eligible.len() {
            0 => None,
            1 => Some(eligible[0]),
            _ => {
                let (sa, sb) = pair(eligible, rng);
                if self.cost(view, sa) <= self.cost(view, sb) { Some(sa) } else { Some(sb) }
            }
        }
    }

    fn observe(&mut self, outcome: &Outcome) {
        let rtt = outcome.now_ns.saturating_sub(outcome.sent_ns) as f64;
        self.update(outcome.server, rtt, outcome.now_ns);
    }

    fn inspect(&self, server: u32, _now_ns: u64) -> Option<f64> {
        self.estimates.get(server as usize).copied().flatten().map(|e| e.rtt_ns / 1e6)
    }

    fn explain(&self, view: &PickView<'_>, rng: &SimRng) -> super::PickExplanation {
        use super::explain::{Randomness, Value, explain_with, num, value};
        // Costs as the pick reads them (reading decays the estimate, so on a clone).
        let mut probe = self.clone();
        let costs: Vec<(u32, f64, f64)> = view
            .eligible()
            .iter()
            .map(|&s| {
                let cost = probe.cost(view, s);
                (s, cost / (f64::from(view.active(s)) + 1.0) / 1e6, cost / 1e6)
            })
            .collect();
        let sampled = match view.eligible().len() {
            0 => Vec::new(),
            1 => vec![view.eligible()[0]],
            _ => {
                let (a, b) = pair(view.eligible(), &mut rng.clone());
                vec![a, b]
            }
        };
        let other = |s: u32| sampled.iter().copied().find(|&o| o != s);
        let rule = "Peak EWMA (Linkerd): two distinct servers drawn at random; the lower cost = EWMA latency × (active + 1) wins, the first drawn on a tie.";
        let values = |s: u32| {
            let (_, ewma, cost) = costs.iter().copied().find(|c| c.0 == s).unwrap_or((s, 0.0, 0.0));
            vec![Value { name: "EWMA ms", value: ewma }, Value { name: "cost", value: cost }]
        };
        let mut e = explain_with(self, view, rng, rule, Randomness::Random, values, |c| match other(c.server) {
            Some(o) => format!(
                "{}: cost {} beats {}'s among the two drawn.",
                c.name,
                num((value(c, "cost") * 1000.0).round() / 1000.0),
                view.name(o)
            ),
            None => format!("{}: the only eligible server.", c.name),
        });
        e.sampled = sampled;
        e
    }
}

/// Two distinct eligible servers, Floyd's two-sample (shared by `pick` and `explain`; at least
/// two eligible).
fn pair(eligible: &[u32], rng: &mut SimRng) -> (u32, u32) {
    let len = eligible.len() as u64;
    let a = rng.below(len - 1);
    let b = rng.below(len);
    let a = if a == b { len - 1 } else { a };
    (eligible[a as usize], eligible[b as usize])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::OutcomeKind;
    use crate::algo::StaticView;

    #[test]
    fn peaks_jump_and_decay() {
        let mut p = PeakEwma::new(10_000_000_000, 30_000_000);
        assert_eq!(p.update(0, 100e6, 0), 100e6);
        // 10 s later, a 10 ms observation pulls the estimate by 1 − e⁻¹.
        let e = p.update(0, 10e6, 10_000_000_000);
        let expected = 100e6 * libm::exp(-1.0) + 10e6 * (1.0 - libm::exp(-1.0));
        assert!((e - expected).abs() < 1.0);
    }

    #[test]
    fn avoids_a_slow_server() {
        let f = StaticView::new(&[1, 1, 1]);
        let mut p = PeakEwma::new(10_000_000_000, 30_000_000);
        p.observe(&Outcome { server: 1, sent_ns: 0, now_ns: 2_000_000_000, kind: OutcomeKind::Answered });
        let mut rng = SimRng::from_seed(4);
        let slow = (0..300).filter(|_| p.pick(&f.view(), &mut rng) == Some(1)).count();
        assert_eq!(slow, 0);
    }
}
