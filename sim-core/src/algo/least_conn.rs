//! `least_connections`: nginx `least_conn`, following
//! `ngx_http_upstream_get_least_conn_peer` in `ngx_http_upstream_least_conn_module.c`
//! (and its stream twin for L4, where it counts connections).
//!
//! The first eligible peer with the lowest `active / weight` (compared by cross-multiplying)
//! wins; if later peers tie with it, one smooth-WRR round over the tied peers, starting at
//! the first minimum, breaks the tie.

use super::round_robin::SwrrState;
use super::{Balancer, Outcome, PickView};
use crate::rng::SimRng;

/// nginx least connections (weighted).
#[derive(Clone, Debug, Default)]
pub struct LeastConnections {
    swrr: SwrrState,
    /// Weights of the servers seen, remembered for the failure penalty.
    weights: Vec<u32>,
    /// The view version `weights` and `uniform` were taken for.
    built_for: Option<u64>,
    /// Whether every eligible server has the same weight (then counts compare directly).
    uniform: bool,
    /// When the eligible servers are consecutive ids (the usual case), the first one: their
    /// counts are then one contiguous slice, scanned without indirection.
    run_start: Option<u32>,
    /// Scratch: the servers tied at the minimum, in configuration order.
    ties: Vec<u32>,
}

impl LeastConnections {
    /// A fresh instance; `max_fails` as in nginx.
    pub fn new(max_fails: u32) -> LeastConnections {
        LeastConnections { swrr: SwrrState::new(max_fails), ..LeastConnections::default() }
    }

    /// Takes note of the eligible servers' weights once per view version.
    fn learn_weights(&mut self, view: &PickView<'_>) {
        if self.built_for == Some(view.version()) {
            return;
        }
        if self.weights.len() < view.server_count() {
            self.weights.resize(view.server_count(), 1);
        }
        let eligible = view.eligible();
        let first = eligible.first().map_or(1, |&s| view.weight(s));
        self.uniform = true;
        let mut consecutive = true;
        for (i, &s) in eligible.iter().enumerate() {
            let w = view.weight(s);
            self.weights[s as usize] = w;
            self.uniform &= w == first;
            consecutive &= s as usize == eligible[0] as usize + i;
        }
        self.run_start = eligible.first().copied().filter(|_| consecutive);
        self.built_for = Some(view.version());
    }
}

/// The position of the first eligible server with the lowest `active / weight` (compared by
/// cross-multiplying), and whether a later one ties with it.
fn first_minimum(view: &PickView<'_>) -> Option<(usize, bool)> {
    let (eligible, active, weights) = (view.eligible, view.active, view.weights);
    let mut best = (*eligible.first()?, 0usize);
    let mut tied = false;
    for (pos, &s) in eligible.iter().enumerate().skip(1) {
        let b = best.0 as usize;
        let lhs = u64::from(active[s as usize]) * u64::from(weights[b]);
        let rhs = u64::from(active[b]) * u64::from(weights[s as usize]);
        if lhs < rhs {
            (best, tied) = ((s, pos), false);
        } else if lhs == rhs {
            tied = true;
        }
    }
    Some((best.1, tied))
}

/// With equal weights the ratio is the count itself: collects the servers at the lowest
/// count, in configuration order (the first of them is nginx's first minimum).
fn lowest_counts(view: &PickView<'_>, run_start: Option<u32>, ties: &mut Vec<u32>) {
    let active = view.active;
    ties.clear();
    if let Some(first) = run_start {
        // Consecutive ids: a branch-free minimum over one slice, then one pass for the ties.
        let window = &active[first as usize..first as usize + view.eligible.len()];
        // Counts stay far below 2^31, and signed 32-bit compares vectorize on every x86-64.
        let min = window.iter().fold(i32::MAX, |m, &a| m.min(a as i32)) as u32;
        // The ties, found 32 counts at a time as a bit mask.
        let mut base = first;
        for chunk in window.chunks(32) {
            let mut mask = chunk.iter().enumerate().fold(0u32, |m, (i, &a)| m | (u32::from(a == min) << i));
            while mask != 0 {
                ties.push(base + mask.trailing_zeros());
                mask &= mask - 1;
            }
            base += chunk.len() as u32;
        }
        return;
    }
    let mut min = u32::MAX;
    for &s in view.eligible {
        let a = active[s as usize];
        if a < min {
            min = a;
            ties.clear();
        }
        if a == min {
            ties.push(s);
        }
    }
}

impl Balancer for LeastConnections {
    fn name(&self) -> &str {
        "least_connections"
    }

    fn pick(&mut self, view: &PickView<'_>, _rng: &mut SimRng) -> Option<u32> {
        self.learn_weights(view);
        if self.uniform {
            lowest_counts(view, self.run_start, &mut self.ties);
            return match self.ties[..] {
                [] => None,
                [only] => Some(only),
                _ => self.swrr.round(view, self.ties.iter().copied()),
            };
        }
        let (best_pos, tied) = first_minimum(view)?;
        let eligible = view.eligible();
        let b = eligible[best_pos];
        if !tied {
            return Some(b);
        }
        let (ab, wb) = (u64::from(view.active(b)), u64::from(view.weight(b)));
        let tied = eligible[best_pos..]
            .iter()
            .copied()
            .filter(|&s| u64::from(view.active(s)) * wb == ab * u64::from(view.weight(s)));
        self.swrr.round(view, tied)
    }

    fn observe(&mut self, outcome: &Outcome) {
        if outcome.kind.is_failure() {
            let weight = self.weights.get(outcome.server as usize).copied().unwrap_or(1);
            self.swrr.penalize(outcome.server, weight);
        }
    }

    fn inspect(&self, server: u32, _now_ns: u64) -> Option<f64> {
        self.swrr.current_weight(server)
    }

    fn explain(&self, view: &PickView<'_>, rng: &SimRng) -> super::PickExplanation {
        super::explain::least_connections(self, view, rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::StaticView;

    #[test]
    fn picks_lowest_active_per_weight() {
        let mut f = StaticView::new(&[1, 1, 1]);
        f.active = vec![3, 1, 2];
        let mut lc = LeastConnections::new(0);
        let mut rng = SimRng::from_seed(0);
        assert_eq!(lc.pick(&f.view(), &mut rng), Some(1));
        // Weighted: 4 active at weight 4 (ratio 1) beats 2 active at weight 1 (ratio 2).
        let mut f = StaticView::new(&[4, 1]);
        f.active = vec![4, 2];
        assert_eq!(lc.pick(&f.view(), &mut rng), Some(0));
    }

    #[test]
    fn ties_rotate_by_smooth_round_robin() {
        let f = StaticView::new(&[1, 1, 1]);
        let mut lc = LeastConnections::new(0);
        let mut rng = SimRng::from_seed(0);
        let picks: Vec<u32> = (0..6).map(|_| lc.pick(&f.view(), &mut rng).unwrap()).collect();
        assert_eq!(picks, vec![0, 1, 2, 0, 1, 2]);
    }

    /// nginx's loop written plainly (one pass with cross-multiplied ratios, then one smooth
    /// round over the peers tied with the first minimum), with its own state.
    struct Plain {
        current: Vec<i64>,
        effective: Vec<i64>,
    }

    impl Plain {
        fn pick(&mut self, v: &PickView<'_>) -> Option<u32> {
            let e = v.eligible();
            let ratio_lt = |a: u32, b: u32| {
                u64::from(v.active(a)) * u64::from(v.weight(b)) < u64::from(v.active(b)) * u64::from(v.weight(a))
            };
            let mut best = 0;
            let mut many = false;
            for i in 1..e.len() {
                if ratio_lt(e[i], e[best]) {
                    (best, many) = (i, false);
                } else if !ratio_lt(e[best], e[i]) {
                    many = true;
                }
            }
            let b = *e.get(best)?;
            if !many {
                return Some(b);
            }
            let (mut total, mut winner) = (0, None::<u32>);
            for &s in &e[best..] {
                if ratio_lt(s, b) || ratio_lt(b, s) {
                    continue;
                }
                let i = s as usize;
                self.current[i] += self.effective[i];
                total += self.effective[i];
                if winner.is_none_or(|w| self.current[i] > self.current[w as usize]) {
                    winner = Some(s);
                }
            }
            let w = winner?;
            self.current[w as usize] -= total;
            Some(w)
        }
    }

    proptest::proptest! {
        /// The fast paths (equal weights, consecutive ids) pick exactly what the plain loop
        /// picks, pick after pick, whatever the counts, weights and eligible set.
        #[test]
        fn fast_paths_match_the_plain_loop(
            weights in proptest::collection::vec(1u32..4, 1..80),
            uniform in proptest::bool::ANY,
            holes in proptest::collection::vec(0usize..80, 0..4),
            steps in proptest::collection::vec((0usize..80, 0u32..3), 1..200),
        ) {
            let n = weights.len();
            let weights: Vec<u32> = if uniform { vec![weights[0]; n] } else { weights };
            let mut f = StaticView::new(&weights);
            for h in holes {
                if h < n {
                    f.set_available(h as u32, false);
                }
            }
            let mut lc = LeastConnections::new(0);
            let mut plain = Plain { current: vec![0; n], effective: weights.iter().map(|&w| i64::from(w)).collect() };
            let mut rng = SimRng::from_seed(0);
            for (server, delta) in steps {
                let expected = plain.pick(&f.view());
                proptest::prop_assert_eq!(lc.pick(&f.view(), &mut rng), expected);
                if let Some(s) = expected {
                    f.active[s as usize] += 1;
                }
                // Some requests end.
                let i = server % n;
                f.active[i] = f.active[i].saturating_sub(delta);
            }
        }
    }
}
