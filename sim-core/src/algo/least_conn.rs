//! `least_connections`: nginx `least_conn`, following
//! `ngx_http_upstream_get_least_conn_peer` in `ngx_http_upstream_least_conn_module.c`
//! (and its stream twin for L4, where it counts connections).
//!
//! The first eligible peer with the lowest `active / weight` (compared by cross-multiplying)
//! wins; if later peers tie with it, one smooth-WRR round over the tied peers, starting at
//! the first minimum, breaks the tie.

use super::round_robin::SwrrState;
use super::{Balancer, Outcome, OutcomeKind, PickView};
use crate::rng::SimRng;

/// nginx least connections (weighted).
#[derive(Clone, Debug, Default)]
pub struct LeastConnections {
    swrr: SwrrState,
    weights: Vec<u32>,
}

impl LeastConnections {
    /// A fresh instance; `max_fails` as in nginx.
    pub fn new(max_fails: u32) -> LeastConnections {
        LeastConnections { swrr: SwrrState::new(max_fails), weights: Vec::new() }
    }
}

impl Balancer for LeastConnections {
    fn name(&self) -> &str {
        "least_connections"
    }

    fn pick(&mut self, view: &PickView<'_>, _rng: &mut SimRng) -> Option<u32> {
        let eligible = view.eligible();
        let mut best: Option<u32> = None;
        let mut best_pos = 0;
        let mut many = false;
        for (pos, &s) in eligible.iter().enumerate() {
            match best {
                None => {
                    best = Some(s);
                    best_pos = pos;
                    many = false;
                }
                Some(b) => {
                    let lhs = u64::from(view.active(s)) * u64::from(view.weight(b));
                    let rhs = u64::from(view.active(b)) * u64::from(view.weight(s));
                    if lhs < rhs {
                        best = Some(s);
                        best_pos = pos;
                        many = false;
                    } else if lhs == rhs {
                        many = true;
                    }
                }
            }
        }
        let b = best?;
        if !many {
            return Some(b);
        }
        if self.weights.len() < view.server_count() {
            self.weights.resize(view.server_count(), 1);
        }
        let (ab, wb) = (u64::from(view.active(b)), u64::from(view.weight(b)));
        let tied = eligible[best_pos..]
            .iter()
            .copied()
            .filter(|&s| u64::from(view.active(s)) * wb == ab * u64::from(view.weight(s)));
        for &s in &eligible[best_pos..] {
            self.weights[s as usize] = view.weight(s);
        }
        self.swrr.round(view, tied)
    }

    fn observe(&mut self, outcome: &Outcome) {
        if outcome.kind == OutcomeKind::ConnectionError {
            let weight = self.weights.get(outcome.server as usize).copied().unwrap_or(1);
            self.swrr.penalize(outcome.server, weight);
        }
    }

    fn inspect(&self, server: u32, _now_ns: u64) -> Option<f64> {
        self.swrr.current_weight(server)
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
}
