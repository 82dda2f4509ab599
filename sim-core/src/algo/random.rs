//! `random`: nginx's `random` balancer without `two` (`ngx_http_upstream_random_module.c`):
//! a peer drawn with probability proportional to its weight, among the eligible peers.

use super::{Balancer, PickView};
use crate::rng::SimRng;

/// Weighted random choice.
#[derive(Clone, Debug, Default)]
pub struct WeightedRandom {
    /// Cumulative weights of the eligible list, for the view version they were built for.
    cumulative: Vec<u64>,
    built_for: Option<u64>,
    uniform: bool,
}

impl Balancer for WeightedRandom {
    fn name(&self) -> &str {
        "random"
    }

    fn pick(&mut self, view: &PickView<'_>, rng: &mut SimRng) -> Option<u32> {
        let eligible = view.eligible();
        if eligible.is_empty() {
            return None;
        }
        if self.built_for != Some(view.version()) || self.cumulative.len() != eligible.len() {
            self.cumulative.clear();
            let mut total = 0u64;
            let first = view.weight(eligible[0]);
            self.uniform = true;
            for &s in eligible {
                total += u64::from(view.weight(s));
                self.uniform &= view.weight(s) == first;
                self.cumulative.push(total);
            }
            self.built_for = Some(view.version());
        }
        if self.uniform {
            return Some(eligible[rng.below(eligible.len() as u64) as usize]);
        }
        let total = *self.cumulative.last()?;
        let x = rng.below(total);
        let i = self.cumulative.partition_point(|&c| c <= x);
        Some(eligible[i])
    }

    fn explain(&self, view: &PickView<'_>, rng: &SimRng) -> super::PickExplanation {
        super::explain::random(self, view, rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::StaticView;

    #[test]
    fn follows_weights() {
        let f = StaticView::new(&[3, 1]);
        let mut r = WeightedRandom::default();
        let mut rng = SimRng::from_seed(9);
        let mut counts = [0u32; 2];
        for _ in 0..40_000 {
            counts[r.pick(&f.view(), &mut rng).unwrap() as usize] += 1;
        }
        let share = f64::from(counts[0]) / 40_000.0;
        assert!((share - 0.75).abs() < 0.01, "{share}");
    }
}
