//! `random_two`: nginx's `random two [least_conn]`, following
//! `ngx_http_upstream_get_random2_peer` and `ngx_http_upstream_peek_random_peer` in
//! `src/http/modules/ngx_http_upstream_random_module.c` (`least_conn` is the only, and the
//! default, method for `two`).
//!
//! Draws are weighted over *every* peer of the upstream: `ranges` holds each peer's starting
//! offset in the running total of the configured weights (down peers included), and a draw
//! `x = random % total_weight` is binary-searched in it (O(log n)). A draw is rejected when it
//! lands on the peer already drawn (the two picks are *distinct*, unlike Envoy's
//! `power_of_two`), on a peer already tried by this request, a `down` peer, or a peer out
//! after `max_fails` within `fail_timeout`. Once two peers are accepted, the second one wins
//! unless `conns(second) × weight(first) > conns(first) × weight(second)`: on a tie the
//! second draw is kept. After more than 20 rejected draws, or with fewer than two peers, nginx
//! falls back to its round robin (`ngx_http_upstream_get_round_robin_peer`).
//!
//! lbsim difference: nginx counts the rejected draws per request, across its retries; lbsim
//! counts them per pick. `conns` are the requests this balancer replica has in flight (nginx
//! counts per worker, or per upstream with `zone`).

use super::round_robin::SwrrState;
use super::{Balancer, PickView};
use crate::rng::SimRng;

/// nginx gives up drawing after this many rejected draws.
const MAX_TRIES: u32 = 20;

/// Weighted draws over the members of a pool tier, in configuration order: nginx's
/// `ranges` (and the weight-proportional draw HAProxy's `random` makes on its ring).
#[derive(Clone, Debug, Default)]
pub(crate) struct MemberDraw {
    /// `(start of the peer's range, server)`, in configuration order.
    ranges: Vec<(u64, u32)>,
    total: u64,
    weights: Vec<u32>,
    built_for: Option<u64>,
    /// Every member's weight, when they are all the same (and not 0): a draw `x` then lands
    /// on member `x / weight`, what the binary search finds, without its cache misses.
    uniform: Option<u64>,
}

impl MemberDraw {
    /// Rebuilds the ranges when the member list changed (`ngx_http_upstream_update_random`).
    pub(crate) fn refresh(&mut self, view: &PickView<'_>) {
        if self.built_for == Some(view.members_version()) {
            return;
        }
        self.ranges.clear();
        self.weights.clear();
        self.weights.resize(view.server_count(), 0);
        let mut total = 0u64;
        for &s in view.members() {
            self.ranges.push((total, s));
            let w = view.weight(s);
            self.weights[s as usize] = w;
            total += u64::from(w);
        }
        self.total = total;
        let first = view.members().first().map(|&s| view.weight(s));
        self.uniform = first.filter(|&w| w > 0 && view.members().iter().all(|&s| view.weight(s) == w)).map(u64::from);
        self.built_for = Some(view.members_version());
    }

    /// One draw (`ngx_http_upstream_peek_random_peer`); `None` without weight. A weight that
    /// changed since the ranges were built is seen when its peer is drawn, and rebuilds them.
    pub(crate) fn draw(&mut self, view: &PickView<'_>, rng: &mut SimRng) -> Option<u32> {
        if self.total == 0 {
            return None;
        }
        let x = rng.below(self.total);
        let i = match self.uniform {
            Some(w) => (x / w) as usize,
            None => self.ranges.partition_point(|&(start, _)| start <= x) - 1,
        };
        let s = self.ranges[i].1;
        if self.weights[s as usize] != view.weight(s) {
            self.built_for = None;
            self.refresh(view);
            return self.draw(view, rng);
        }
        Some(s)
    }

    /// Number of members.
    pub(crate) fn members(&self) -> usize {
        self.ranges.len()
    }
}

/// nginx `random two least_conn`.
#[derive(Clone, Debug, Default)]
pub struct RandomTwo {
    draws: MemberDraw,
    fallback: SwrrState,
}

impl RandomTwo {
    /// A fresh instance; `max_fails` as in nginx (for the round-robin fallback).
    pub fn new(max_fails: u32) -> RandomTwo {
        RandomTwo { draws: MemberDraw::default(), fallback: SwrrState::new(max_fails) }
    }
}

impl Balancer for RandomTwo {
    fn name(&self) -> &str {
        "random_two"
    }

    fn pick(&mut self, view: &PickView<'_>, rng: &mut SimRng) -> Option<u32> {
        self.choose(view, rng, None)
    }

    fn explain(&self, view: &PickView<'_>, rng: &SimRng) -> super::PickExplanation {
        // The two peers the pick will compare: the same draws on clones.
        let mut drawn = Vec::new();
        self.clone().choose(view, &mut rng.clone(), Some(&mut drawn));
        super::explain::least_loaded_of_draws(
            self,
            view,
            rng,
            "Random two (nginx): two distinct servers drawn by weight; the lower active ÷ weight wins, ties go to the second drawn.",
            drawn,
        )
    }
}

impl RandomTwo {
    /// nginx's pick; `drawn` (for explanations) gets the two peers compared.
    fn choose(&mut self, view: &PickView<'_>, rng: &mut SimRng, mut drawn: Option<&mut Vec<u32>>) -> Option<u32> {
        if view.eligible().is_empty() {
            return None;
        }
        self.draws.refresh(view);
        if self.draws.members() < 2 {
            return self.fallback.round(view, view.eligible().iter().copied());
        }
        let mut prev: Option<u32> = None;
        let mut tries = 0;
        loop {
            let peer = self.draws.draw(view, rng)?;
            if prev != Some(peer) && view.is_available(peer) {
                if let Some(d) = drawn.as_deref_mut() {
                    d.push(peer);
                }
                if let Some(p) = prev {
                    let (pc, pw) = (u64::from(view.active(p)), u64::from(view.weight(p)));
                    let (c, w) = (u64::from(view.active(peer)), u64::from(view.weight(peer)));
                    return Some(if c * pw > pc * w { p } else { peer });
                }
                prev = Some(peer);
            }
            tries += 1;
            if tries > MAX_TRIES {
                // Round robin decides, not the draws.
                if let Some(d) = drawn {
                    d.clear();
                }
                return self.fallback.round(view, view.eligible().iter().copied());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::StaticView;
    use proptest::prelude::*;

    /// Equal weights draw by index: the member the binary search over the ranges finds, for
    /// the same draw, at 5,000 members of weight 3.
    #[test]
    fn equal_weights_draw_as_the_search() {
        let f = StaticView::new(&[3; 5000]);
        let mut d = MemberDraw::default();
        d.refresh(&f.view());
        assert_eq!(d.uniform, Some(3));
        let mut rng = SimRng::from_seed(9);
        for _ in 0..20_000 {
            let mut same = rng.clone();
            let got = d.draw(&f.view(), &mut rng).unwrap();
            let x = same.below(d.total);
            let i = d.ranges.partition_point(|&(start, _)| start <= x) - 1;
            assert_eq!(got, d.ranges[i].1, "draw {x}");
        }
    }

    /// The draws the SimRng stream gives, as nginx's `x % total_weight` picks.
    fn draws(seed: u64, total: u64, n: usize) -> Vec<u64> {
        let mut rng = SimRng::from_seed(seed);
        (0..n).map(|_| rng.below(total)).collect()
    }

    /// The exact sequence for one seed: with weights 1, 1, 1, 1 the draws map to peers
    /// directly; the first two distinct peers are compared and the second wins ties.
    #[test]
    fn two_distinct_draws_least_conn_second_wins_ties() {
        let mut f = StaticView::new(&[1, 1, 1, 1]);
        f.active = vec![3, 1, 1, 0];
        for seed in 0..50 {
            let d = draws(seed, 4, 30);
            let first = d[0] as usize;
            let second = *d.iter().skip(1).find(|&&x| x as usize != first).unwrap() as usize;
            let expect = if f.active[second] > f.active[first] { first } else { second };
            let mut b = RandomTwo::new(0);
            let mut rng = SimRng::from_seed(seed);
            assert_eq!(b.pick(&f.view(), &mut rng), Some(expect as u32), "seed {seed}: {d:?}");
        }
    }

    /// Weights 3, 1: x in 0..3 is peer 1, x = 3 is peer 2 (ranges 0 and 3); conns are
    /// compared against the weights: 2 conns on weight 3 beat 1 conn on weight 1 (2·1 < 1·3).
    #[test]
    fn weighted_ranges_and_weighted_comparison() {
        let mut f = StaticView::new(&[3, 1]);
        f.active = vec![2, 1];
        let mut b = RandomTwo::new(0);
        let mut rng = SimRng::from_seed(7);
        for _ in 0..100 {
            assert_eq!(b.pick(&f.view(), &mut rng), Some(0));
        }
        // 3 conns on weight 3 against 1 on weight 1: a tie, the second draw wins.
        f.active = vec![3, 1];
        let mut seen = [0; 2];
        for _ in 0..1000 {
            seen[b.pick(&f.view(), &mut rng).unwrap() as usize] += 1;
        }
        // The second draw is peer 2 when the first was peer 1: P = 3/4.
        assert!((700..800).contains(&seen[1]), "{seen:?}");
    }

    /// A down peer keeps its range (draws landing on it are rejected); the pick is then
    /// between the two others.
    #[test]
    fn down_peers_are_drawn_and_rejected() {
        let mut f = StaticView::new(&[1, 1, 1]);
        f.set_available(1, false);
        f.active = vec![5, 0, 4];
        let mut b = RandomTwo::new(0);
        let mut rng = SimRng::from_seed(3);
        for _ in 0..100 {
            assert_eq!(b.pick(&f.view(), &mut rng), Some(2));
        }
    }

    /// With one peer left after 20 rejected draws nginx falls back to round robin.
    #[test]
    fn falls_back_to_round_robin_with_one_usable_peer() {
        let mut f = StaticView::new(&[1, 1]);
        f.set_available(0, false);
        let mut b = RandomTwo::new(0);
        let mut rng = SimRng::from_seed(3);
        for _ in 0..20 {
            assert_eq!(b.pick(&f.view(), &mut rng), Some(1));
        }
    }

    proptest! {
        /// Against a naive loop drawing over a linear scan of the cumulative weights.
        #[test]
        fn matches_a_naive_loop(
            weights in proptest::collection::vec(1u32..6, 2..10),
            active in proptest::collection::vec(0u32..6, 10),
            down in 0usize..10,
            seed in any::<u64>(),
        ) {
            let n = weights.len();
            let mut f = StaticView::new(&weights);
            f.active = active[..n].to_vec();
            if down < n {
                f.set_available(down as u32, false);
            }
            let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
            let mut rng = SimRng::from_seed(seed);
            let mut prev: Option<usize> = None;
            let mut expect = None;
            for _ in 0..=MAX_TRIES {
                let mut x = rng.below(total);
                let mut peer = 0;
                while x >= u64::from(weights[peer]) {
                    x -= u64::from(weights[peer]);
                    peer += 1;
                }
                if prev == Some(peer) || !f.available[peer] {
                    continue;
                }
                if let Some(p) = prev {
                    let lhs = u64::from(f.active[peer]) * u64::from(weights[p]);
                    let rhs = u64::from(f.active[p]) * u64::from(weights[peer]);
                    expect = Some(if lhs > rhs { p } else { peer } as u32);
                    break;
                }
                prev = Some(peer);
            }
            let mut b = RandomTwo::new(0);
            let got = b.pick(&f.view(), &mut SimRng::from_seed(seed));
            if let Some(e) = expect {
                prop_assert_eq!(got, Some(e));
            } else {
                // The round-robin fallback: some eligible peer.
                prop_assert!(got.is_some_and(|s| f.available[s as usize]));
            }
        }
    }
}
