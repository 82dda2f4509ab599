//! `static_rr`: HAProxy's `balance static-rr`, the precomputed server map of `src/lb_map.c`
//! (`init_server_map`, `recalc_server_map`, `map_get_server_rr`).
//!
//! The weights are divided by their greatest common divisor; the map has one slot per unit of
//! the reduced total `tot`. Slot by slot, every server adds its weight to a score, and the
//! first server (in configuration order) with the highest `(score + tot) / tot` takes the
//! slot and loses `tot`. A pick takes the next slot (`rr_idx`), so it costs O(1); the map is
//! built once per member list, in O((tot + n) log n) rather than HAProxy's O(tot · n) loop
//! (the same map: a proptest compares the two). Weights 5, 1, 1 give `a a b a a c a`... (see the tests).
//!
//! lbsim difference: HAProxy rebuilds the map without a server that goes down; lbsim keeps
//! it and skips slots whose server is not eligible (down, failed, or already tried by this
//! request), as HAProxy skips a saturated server.

use super::{Balancer, PickView};
use crate::rng::SimRng;

/// HAProxy static round robin.
#[derive(Clone, Debug, Default)]
pub struct StaticRoundRobin {
    map: Vec<u32>,
    rr_idx: usize,
    /// The member list version and the weights the map was built for.
    built_for: Option<u64>,
    weights: Vec<u32>,
}

/// `recalc_server_map` over `(server, weight)` in configuration order, weights already
/// reduced by their gcd.
pub(crate) fn server_map(servers: &[(u32, u64)]) -> Vec<u32> {
    let tot: u64 = servers.iter().map(|&(_, w)| w).sum();
    if tot == 0 {
        return Vec::new();
    }
    if tot == 1 {
        return servers.iter().filter(|&&(_, w)| w > 0).map(|&(s, _)| s).take(1).collect();
    }
    // After k slots a server's score is k·w − tot·c (c: slots it took), so its `(score + tot)
    // / tot` is ⌊k·w / tot⌋ + 1 − c: the slot goes to the first server with the highest
    // d = ⌊k·w / tot⌋ − c. d only moves when a server takes a slot (−1) or when k·w crosses a
    // multiple of tot (+1, tot times in all), so an ordered set of (−d, position) and a queue
    // of each server's next crossing build the map in O((tot + n) log n), not O(tot · n).
    use std::cmp::Reverse;
    use std::collections::{BTreeSet, BinaryHeap};
    let n = servers.len();
    let mut d = vec![0i64; n];
    let mut order: BTreeSet<(i64, usize)> = BTreeSet::new();
    // (Reverse(next k at which ⌊k·w/tot⌋ grows), position).
    let mut crossings: BinaryHeap<(Reverse<u64>, usize)> = BinaryHeap::new();
    for (i, &(_, w)) in servers.iter().enumerate() {
        if w > 0 {
            order.insert((0, i));
            crossings.push((Reverse(tot.div_ceil(w)), i));
        }
    }
    let mut map = Vec::with_capacity(tot as usize);
    for k in 1..=tot {
        while let Some(&(Reverse(at), i)) = crossings.peek() {
            if at > k {
                break;
            }
            crossings.pop();
            order.remove(&(-d[i], i));
            d[i] += 1;
            order.insert((-d[i], i));
            let w = servers[i].1;
            let next = ((k * w / tot) + 1) * tot;
            crossings.push((Reverse(next.div_ceil(w)), i));
        }
        let Some(&(key, i)) = order.first() else { break };
        order.remove(&(key, i));
        d[i] -= 1;
        order.insert((-d[i], i));
        map.push(servers[i].0);
    }
    map
}

/// The map slot by slot, exactly as `recalc_server_map` loops (O(tot · n): the reference).
#[cfg(test)]
fn naive_map(servers: &[(u32, u64)], tot: u64) -> Vec<u32> {
    let mut score = vec![0i64; servers.len()];
    let tot_i = tot as i64;
    let mut map = Vec::with_capacity(tot as usize);
    for _ in 0..tot {
        let mut best: Option<(usize, i64)> = None;
        for (i, &(_, w)) in servers.iter().enumerate() {
            if w == 0 {
                continue;
            }
            if tot == 1 {
                best = Some((i, 0));
                break;
            }
            score[i] += w as i64;
            let v = (score[i] + tot_i) / tot_i;
            if best.is_none_or(|(_, max)| v > max) {
                best = Some((i, v));
            }
        }
        if let Some((i, _)) = best {
            map.push(servers[i].0);
            score[i] -= tot_i;
        }
    }
    map
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl StaticRoundRobin {
    fn build(&mut self, view: &PickView<'_>) {
        let members = view.members();
        let g = members.iter().map(|&s| u64::from(view.weight(s))).fold(0, gcd).max(1);
        let servers: Vec<(u32, u64)> = members.iter().map(|&s| (s, u64::from(view.weight(s)) / g)).collect();
        self.map = server_map(&servers);
        self.weights.clear();
        self.weights.resize(view.server_count(), 0);
        for &s in members {
            self.weights[s as usize] = view.weight(s);
        }
        self.rr_idx = 0;
        self.built_for = Some(view.members_version());
    }
}

impl Balancer for StaticRoundRobin {
    fn name(&self) -> &str {
        "static_rr"
    }

    fn pick(&mut self, view: &PickView<'_>, _rng: &mut SimRng) -> Option<u32> {
        if view.eligible().is_empty() {
            return None;
        }
        if self.built_for != Some(view.members_version()) {
            self.build(view);
        }
        let len = self.map.len();
        if len == 0 {
            return None;
        }
        if self.rr_idx >= len {
            self.rr_idx = 0;
        }
        let start = self.rr_idx;
        let mut idx = start;
        loop {
            let s = self.map[idx];
            idx = (idx + 1) % len;
            if self.weights.get(s as usize) != Some(&view.weight(s)) {
                // A weight changed: HAProxy recomputes the map.
                self.build(view);
                return self.pick(view, _rng);
            }
            if view.is_available(s) {
                self.rr_idx = idx;
                return Some(s);
            }
            if idx == start {
                return None;
            }
        }
    }

    fn explain(&self, view: &PickView<'_>, rng: &SimRng) -> super::PickExplanation {
        super::explain::static_rr(self, view, rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::StaticView;
    use proptest::prelude::*;

    fn sequence(weights: &[u32], n: usize) -> Vec<u32> {
        let f = StaticView::new(weights);
        let mut b = StaticRoundRobin::default();
        let mut rng = SimRng::from_seed(1);
        (0..n).map(|_| b.pick(&f.view(), &mut rng).unwrap() + 1).collect()
    }

    /// By hand from `recalc_server_map`, tot = 7, scores (a, b, c) after adding the weights:
    /// slot 0: (5,1,1) → v (1,1,1) → a, a = −2; slot 1: (3,2,2) → (1,1,1) → a, a = −4;
    /// slot 2: (1,3,3) → (1,1,1) → a, a = −6; slot 3: (−1,4,4) → (0,1,1) → b, b = −3;
    /// slot 4: (4,−2,5) → (1,0,1) → a, a = −3; slot 5: (2,−1,6) → (1,0,1) → a, a = −5;
    /// slot 6: (0,0,7) → (1,1,2) → c.
    #[test]
    fn weights_5_1_1_follow_the_map() {
        assert_eq!(sequence(&[5, 1, 1], 14), [1, 1, 1, 2, 1, 1, 3, 1, 1, 1, 2, 1, 1, 3]);
    }

    /// The weights are reduced by their gcd: 4, 2 is the map of 2, 1 (a b a … by hand:
    /// tot 3, (2,1) → (1,1) → a = −1; (1,2) → (1,1) → a = −2; (0,3) → (1,2) → b).
    #[test]
    fn weights_reduce_by_their_gcd() {
        assert_eq!(sequence(&[4, 2], 6), [1, 1, 2, 1, 1, 2]);
    }

    #[test]
    fn skips_an_ineligible_server_in_place() {
        let mut f = StaticView::new(&[1, 1, 1]);
        let mut b = StaticRoundRobin::default();
        let mut rng = SimRng::from_seed(1);
        assert_eq!(b.pick(&f.view(), &mut rng), Some(0));
        f.set_available(1, false);
        let picks: Vec<u32> = (0..4).map(|_| b.pick(&f.view(), &mut rng).unwrap()).collect();
        assert_eq!(picks, [2, 0, 2, 0]);
    }

    proptest! {
        /// The O((tot + n) log n) construction is HAProxy's slot-by-slot loop's result.
        #[test]
        fn map_matches_haproxys_loop(weights in proptest::collection::vec(0u64..40, 1..20)) {
            let servers: Vec<(u32, u64)> = weights.iter().enumerate().map(|(i, &w)| (i as u32, w)).collect();
            let tot = weights.iter().sum();
            prop_assert_eq!(server_map(&servers), naive_map(&servers, tot));
        }

        /// The uniform shortcut and the map agree, and the map gives each server exactly
        /// its reduced weight's slots.
        #[test]
        fn map_matches_a_naive_loop(weights in proptest::collection::vec(1u64..12, 1..10)) {
            let servers: Vec<(u32, u64)> = weights.iter().enumerate().map(|(i, &w)| (i as u32, w)).collect();
            let map = server_map(&servers);
            let tot: u64 = weights.iter().sum();
            prop_assert_eq!(map.len() as u64, tot);
            for (i, &w) in weights.iter().enumerate() {
                prop_assert_eq!(map.iter().filter(|&&s| s == i as u32).count() as u64, w);
            }
            // The picks walk the map.
            let g = weights.iter().copied().fold(0, gcd);
            let reduced: Vec<(u32, u64)> = servers.iter().map(|&(s, w)| (s, w / g)).collect();
            let rmap = server_map(&reduced);
            let ws: Vec<u32> = weights.iter().map(|&w| w as u32).collect();
            let picks = sequence(&ws, rmap.len() * 2);
            let expect: Vec<u32> = rmap.iter().chain(rmap.iter()).map(|&s| s + 1).collect();
            prop_assert_eq!(picks, expect);
        }
    }
}
