//! `power_of_two`: Envoy's `LEAST_REQUEST` balancer with `choice_count` samples
//! (`source/extensions/load_balancing_policies/least_request/least_request_lb.cc`).
//!
//! With equal weights, `choices` hosts are drawn uniformly *with replacement* and the one with
//! the fewest active requests wins; on a tie the first sampled is kept. With unequal weights,
//! Envoy switches to an earliest-deadline-first schedule over `weight / (active + 1)`; this
//! does the same, with the active count read when a host is (re)scheduled.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::{Balancer, PickView};
use crate::rng::SimRng;

/// Power of d choices (Envoy least_request).
#[derive(Clone, Debug)]
pub struct PowerOfTwo {
    choices: u32,
    edf: Edf,
    /// Whether the eligible set has unequal weights, for the view version it was computed
    /// for (the check is O(n), the pick O(choices)).
    weighted: Option<(u64, bool)>,
}

impl PowerOfTwo {
    /// `choices` samples per pick (Envoy's default is 2).
    pub fn new(choices: u32) -> PowerOfTwo {
        PowerOfTwo { choices: choices.max(1), edf: Edf::default(), weighted: None }
    }
}

impl Balancer for PowerOfTwo {
    fn name(&self) -> &str {
        "power_of_two"
    }

    fn pick(&mut self, view: &PickView<'_>, rng: &mut SimRng) -> Option<u32> {
        let eligible = view.eligible();
        if eligible.is_empty() {
            return None;
        }
        let weighted = match self.weighted {
            Some((version, weighted)) if version == view.version() => weighted,
            _ => {
                let first_weight = view.weight(eligible[0]);
                let weighted = eligible.iter().any(|&s| view.weight(s) != first_weight);
                self.weighted = Some((view.version(), weighted));
                weighted
            }
        };
        if weighted {
            return self.edf.pick(view);
        }
        let mut best = draw(eligible, rng);
        for _ in 1..self.choices {
            let s = draw(eligible, rng);
            if view.active(s) < view.active(best) {
                best = s;
            }
        }
        Some(best)
    }

    fn explain(&self, view: &PickView<'_>, rng: &SimRng) -> super::PickExplanation {
        use super::explain::{Randomness, explain_with};
        let eligible = view.eligible();
        let weighted = eligible.first().is_some_and(|&f| eligible.iter().any(|&s| view.weight(s) != view.weight(f)));
        if weighted {
            let rule = "Least request with unequal weights (Envoy): an earliest-deadline-first schedule over weight ÷ (active + 1); no sampling.";
            return explain_with(
                self,
                view,
                rng,
                rule,
                Randomness::Deterministic,
                |_| Vec::new(),
                |c| format!("{}: earliest deadline (weight {} ÷ ({} active + 1)).", c.name, c.weight, c.active),
            );
        }
        // The draws the pick will make: the same `draw` on a clone of the stream.
        let mut r = rng.clone();
        let sampled: Vec<u32> =
            if eligible.is_empty() { Vec::new() } else { (0..self.choices).map(|_| draw(eligible, &mut r)).collect() };
        let names: Vec<String> =
            sampled.iter().map(|&s| format!("{} ({} active)", view.name(s), view.active(s))).collect();
        let rule = format!(
            "Power of {} choices (Envoy least request): {} servers drawn at random (with replacement); the fewest active requests wins, the first drawn on a tie.",
            self.choices, self.choices
        );
        let mut e = explain_with(
            self,
            view,
            rng,
            &rule,
            Randomness::Random,
            |_| Vec::new(),
            |c| format!("{}: fewest active of the drawn {}.", c.name, names.join(", ")),
        );
        e.sampled = sampled;
        e
    }
}

/// One uniform draw among the eligible servers (shared by `pick` and `explain`).
fn draw(eligible: &[u32], rng: &mut SimRng) -> u32 {
    eligible[rng.below(eligible.len() as u64) as usize]
}

#[derive(Clone, Debug, PartialEq)]
struct EdfEntry {
    deadline: f64,
    order: u64,
    server: u32,
}

impl Eq for EdfEntry {}

impl PartialOrd for EdfEntry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for EdfEntry {
    fn cmp(&self, other: &Self) -> Ordering {
        // Min-heap on (deadline, order).
        other.deadline.total_cmp(&self.deadline).then(other.order.cmp(&self.order))
    }
}

/// Envoy's EDF scheduler with weight = configured weight / (active + 1).
#[derive(Clone, Debug, Default)]
struct Edf {
    heap: BinaryHeap<EdfEntry>,
    now: f64,
    order: u64,
    built_for: Option<u64>,
}

impl Edf {
    fn dynamic_weight(view: &PickView<'_>, s: u32) -> f64 {
        f64::from(view.weight(s)) / (f64::from(view.active(s)) + 1.0)
    }

    fn pick(&mut self, view: &PickView<'_>) -> Option<u32> {
        if self.built_for != Some(view.version()) {
            self.heap.clear();
            self.now = 0.0;
            for &s in view.eligible() {
                let deadline = 1.0 / Self::dynamic_weight(view, s);
                self.heap.push(EdfEntry { deadline, order: self.order, server: s });
                self.order += 1;
            }
            self.built_for = Some(view.version());
        }
        let entry = self.heap.pop()?;
        self.now = entry.deadline;
        // Like Envoy's `pickAndAdd`, the host goes back with its weight as of the pick.
        let weight = Self::dynamic_weight(view, entry.server);
        self.heap.push(EdfEntry { deadline: self.now + 1.0 / weight, order: self.order, server: entry.server });
        self.order += 1;
        Some(entry.server)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::StaticView;

    #[test]
    fn prefers_the_less_loaded_sample() {
        let mut f = StaticView::new(&[1, 1]);
        f.active = vec![5, 0];
        let mut p = PowerOfTwo::new(2);
        let mut rng = SimRng::from_seed(1);
        let ones = (0..1000).filter(|_| p.pick(&f.view(), &mut rng) == Some(1)).count();
        // Server 0 wins only when both samples are server 0: probability 1/4.
        assert!((700..800).contains(&ones), "{ones}");
    }

    #[test]
    fn weighted_edf_follows_weights_when_idle() {
        let f = StaticView::new(&[2, 1]);
        let mut p = PowerOfTwo::new(2);
        let mut rng = SimRng::from_seed(1);
        let zeros = (0..3000).filter(|_| p.pick(&f.view(), &mut rng) == Some(0)).count();
        assert!((1900..2100).contains(&zeros), "{zeros}");
    }
}
