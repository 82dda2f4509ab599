//! `haproxy_round_robin`: HAProxy's `balance roundrobin`, the "fast weighted round robin" of
//! `src/lb_fwrr.c` (`fwrr_get_next_server`, `fwrr_get_server_from_group`,
//! `fwrr_update_position`, `fwrr_queue_srv`, `fwrr_switch_trees`; HAProxy 2.6 to 3.x).
//!
//! Its order differs from nginx's smooth WRR: weights 5, 1, 1 give `a a a b a a c` (nginx:
//! `a a b a c a a`), as the conformance run against a real HAProxy measured. Each server has
//! an effective weight `eweight = weight × 16` (`BE_WEIGHT_SCALE`) and a next position `npos`
//! on a time line of `W` = the sum of the eweights per round. Servers waiting for their first
//! turn sit in the "init" tree, heaviest first; served ones in the "current" tree, sorted by
//! `npos` then by `(4096 + rweight − eweight) / 16`; those whose position falls beyond the
//! window go to the "next" tree, which becomes "init" when the current tree runs dry. A pick
//! takes the first current server if its `npos ≤ curr_pos`, else the first init server; the
//! winner advances by `W / eweight` (the remainder accumulates in `rweight`). Trees are
//! ordered sets, so a pick costs O(log n).
//!
//! lbsim differences, all outside the steady state: HAProxy takes a down server out of the
//! trees and requeues it when it comes back; lbsim keeps every member in the trees and treats
//! an ineligible one (down, failed or already tried by this request) as HAProxy treats a
//! saturated server: consumed, requeued, skipped. A weight change or a member list change
//! rebuilds the trees as at start-up (`fwrr_init_server_groups`).

use std::collections::BTreeSet;

use super::{Balancer, PickView};
use crate::rng::SimRng;

/// HAProxy's `BE_WEIGHT_SCALE`: eweight = weight × 16.
const SCALE: u64 = 16;
/// HAProxy's `SRV_EWGHT_MAX` (256 × 16): the init tree sorts by `MAX − eweight`.
const EWGHT_MAX: i64 = 4096;

/// An eb32 tree of servers: `((key, sub-key, insertion order), server)`.
type EbTree = BTreeSet<((i64, i64, u64), u32)>;

/// Which tree a server is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tree {
    None,
    Curr,
    /// One of the two init/next trees (index into `Fwrr::trees`).
    T(usize),
}

#[derive(Clone, Copy, Debug)]
struct Srv {
    eweight: u64,
    npos: u64,
    rweight: u64,
    tree: Tree,
    /// The key it was inserted with (to remove it).
    key: (i64, i64, u64),
}

/// HAProxy fast weighted round robin.
#[derive(Clone, Debug, Default)]
pub struct HaproxyRoundRobin {
    srv: Vec<Srv>,
    /// The current tree: `(npos, (4096 + rweight − eweight) / 16, insertion order)`.
    curr: EbTree,
    /// The two weight trees: `(4096 − eweight, 0, insertion order)`.
    trees: [EbTree; 2],
    /// Which of `trees` is "init" (the other is "next").
    init: usize,
    curr_pos: u64,
    curr_weight: u64,
    /// The sum of the eweights (HAProxy's `next_weight_act`).
    next_weight: u64,
    /// eb trees keep equal keys in insertion order.
    seq: u64,
    built_for: Option<u64>,
    /// Scratch: servers consumed but skipped in a pick.
    full: Vec<u32>,
}

impl HaproxyRoundRobin {
    /// (Re)builds the trees over the tier's members, as `fwrr_init_server_groups` does.
    fn build(&mut self, view: &PickView<'_>) {
        self.srv.clear();
        self.srv.resize(view.server_count(), Srv { eweight: 0, npos: 0, rweight: 0, tree: Tree::None, key: (0, 0, 0) });
        self.curr.clear();
        self.trees = Default::default();
        self.init = 0;
        self.seq = 0;
        let mut total = 0;
        for &s in view.members() {
            let eweight = u64::from(view.weight(s)) * SCALE;
            self.srv[s as usize].eweight = eweight;
            total += eweight;
        }
        self.next_weight = total;
        self.curr_pos = total;
        self.curr_weight = total;
        for &s in view.members() {
            if self.srv[s as usize].eweight > 0 {
                self.queue_by_weight(self.init, s);
            }
        }
        self.built_for = Some(view.members_version());
    }

    fn insert(&mut self, tree: Tree, key: (i64, i64), s: u32) {
        let key = (key.0, key.1, self.seq);
        self.seq += 1;
        match tree {
            Tree::Curr => self.curr.insert((key, s)),
            Tree::T(t) => self.trees[t].insert((key, s)),
            Tree::None => false,
        };
        let srv = &mut self.srv[s as usize];
        srv.tree = tree;
        srv.key = key;
    }

    fn dequeue(&mut self, s: u32) {
        let Srv { tree, key, .. } = self.srv[s as usize];
        match tree {
            Tree::Curr => self.curr.remove(&(key, s)),
            Tree::T(t) => self.trees[t].remove(&(key, s)),
            Tree::None => false,
        };
        self.srv[s as usize].tree = Tree::None;
    }

    /// `fwrr_queue_by_weight`: heavier servers first.
    fn queue_by_weight(&mut self, tree: usize, s: u32) {
        let key = EWGHT_MAX - self.srv[s as usize].eweight as i64;
        self.insert(Tree::T(tree), (key, 0), s);
    }

    /// `fwrr_queue_srv`: back into the current tree at `npos`, or into "next" when `npos`
    /// falls beyond this window and the next one.
    fn queue_srv(&mut self, s: u32) {
        let srv = self.srv[s as usize];
        if srv.eweight == 0 || srv.npos >= 2 * self.curr_weight || srv.npos >= self.curr_weight + self.next_weight {
            self.srv[s as usize].npos = srv.npos.saturating_sub(self.curr_weight);
            self.queue_by_weight(1 - self.init, s);
        } else {
            let sub = (EWGHT_MAX + srv.rweight as i64 - srv.eweight as i64).div_euclid(SCALE as i64);
            self.insert(Tree::Curr, (srv.npos as i64, sub), s);
        }
    }

    /// `fwrr_get_server_from_group`.
    fn server_from_group(&mut self) -> Option<u32> {
        let s1 = self.curr.first().map(|&(_, s)| s);
        if s1.is_some_and(|s| self.srv[s as usize].npos <= self.curr_pos) {
            return s1;
        }
        if let Some(&(_, s)) = self.trees[self.init].first() {
            // `fwrr_get_srv_init`.
            let srv = &mut self.srv[s as usize];
            srv.npos = 0;
            srv.rweight = 0;
            return Some(s);
        }
        s1
    }

    /// `fwrr_update_position`.
    fn update_position(&mut self, s: u32) {
        let (curr_pos, next_weight) = (self.curr_pos, self.next_weight);
        let srv = &mut self.srv[s as usize];
        if srv.eweight == 0 {
            return;
        }
        if srv.npos == 0 {
            srv.npos = curr_pos;
        }
        srv.npos += next_weight / srv.eweight;
        srv.rweight += next_weight % srv.eweight;
        if srv.rweight >= srv.eweight {
            srv.rweight -= srv.eweight;
            srv.npos += 1;
        }
    }
}

impl Balancer for HaproxyRoundRobin {
    fn name(&self) -> &str {
        "haproxy_round_robin"
    }

    fn pick(&mut self, view: &PickView<'_>, _rng: &mut SimRng) -> Option<u32> {
        if view.eligible().is_empty() {
            return None;
        }
        if self.built_for != Some(view.members_version()) {
            self.build(view);
        }
        let mut switched = false;
        let mut chosen = None;
        self.full.clear();
        loop {
            if self.curr_weight == 0 {
                self.curr_pos = self.next_weight;
                self.curr_weight = self.next_weight;
            }
            let s = loop {
                if let Some(s) = self.server_from_group() {
                    break Some(s);
                }
                if switched {
                    break None;
                }
                switched = true;
                // `fwrr_switch_trees`.
                self.init = 1 - self.init;
                self.curr_weight = self.next_weight;
                self.curr_pos = self.curr_weight;
            };
            let Some(s) = s else { break };
            if u64::from(view.weight(s)) * SCALE != self.srv[s as usize].eweight {
                // A weight changed: start over as HAProxy does at configuration time.
                self.build(view);
                return self.pick(view, _rng);
            }
            self.update_position(s);
            self.dequeue(s);
            self.curr_pos += 1;
            if view.is_available(s) {
                chosen = Some(s);
                break;
            }
            // Not eligible: like a saturated server, set aside and requeued below.
            self.full.push(s);
        }
        if let Some(s) = chosen {
            self.queue_srv(s);
        }
        let full = std::mem::take(&mut self.full);
        for &s in &full {
            if switched {
                // The window moved: their place is lost, only their weight matters.
                self.queue_by_weight(self.init, s);
            } else {
                self.queue_srv(s);
            }
        }
        self.full = full;
        chosen
    }

    fn inspect(&self, server: u32, _now_ns: u64) -> Option<f64> {
        self.srv.get(server as usize).map(|s| s.npos as f64)
    }

    fn explain(&self, view: &PickView<'_>, rng: &SimRng) -> super::PickExplanation {
        super::explain::haproxy_round_robin(self, view, rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::StaticView;
    use proptest::prelude::*;

    fn sequence(weights: &[u32], n: usize) -> Vec<u32> {
        let f = StaticView::new(weights);
        let mut b = HaproxyRoundRobin::default();
        let mut rng = SimRng::from_seed(1);
        (0..n).map(|_| b.pick(&f.view(), &mut rng).unwrap() + 1).collect()
    }

    /// Computed by hand from lb_fwrr.c (W = 112, eweights 80, 16, 16) and measured on a real
    /// HAProxy by the conformance suite: 1 1 1 2 1 1 3.
    #[test]
    fn weights_5_1_1_follow_haproxy() {
        assert_eq!(sequence(&[5, 1, 1], 14), [1, 1, 1, 2, 1, 1, 3, 1, 1, 1, 2, 1, 1, 3]);
    }

    /// By hand: W = 48, eweights 32 and 16, curr_pos from 48. s1 from init: npos 48 + 1 = 49,
    /// r 16, pos 49; s1 49 ≤ 49: npos 50, r 32 ≥ 32 → r 0, npos 51, pos 50; s1 51 > 50, so s2
    /// from init: npos 50 + 3 = 53, pos 51; s1 51: → 52 r 16, pos 52; s1 52: → 54 r 0, pos 53;
    /// s2 53 ≤ 53 (s1 is at 54): s2.
    #[test]
    fn weights_2_1_interleave() {
        assert_eq!(sequence(&[2, 1], 9), [1, 1, 2, 1, 1, 2, 1, 1, 2]);
    }

    #[test]
    fn equal_weights_cycle_in_order() {
        assert_eq!(sequence(&[1, 1, 1], 7), [1, 2, 3, 1, 2, 3, 1]);
    }

    #[test]
    fn skips_an_ineligible_server() {
        let mut f = StaticView::new(&[1, 1, 1]);
        f.set_available(1, false);
        let mut b = HaproxyRoundRobin::default();
        let mut rng = SimRng::from_seed(1);
        let picks: Vec<u32> = (0..6).map(|_| b.pick(&f.view(), &mut rng).unwrap()).collect();
        assert_eq!(picks, [0, 2, 0, 2, 0, 2]);
    }

    /// A naive reference of the same algorithm: the trees as vectors scanned for their
    /// minimum (O(n) per pick).
    fn naive(weights: &[u32], n: usize) -> Vec<u32> {
        #[derive(Clone, Copy)]
        struct S {
            e: u64,
            npos: u64,
            r: u64,
        }
        let mut srv: Vec<S> = weights.iter().map(|&w| S { e: u64::from(w) * 16, npos: 0, r: 0 }).collect();
        let total: u64 = srv.iter().map(|s| s.e).sum();
        // Each tree: (key, seq, server).
        let mut curr: Vec<((i64, i64), u64, usize)> = Vec::new();
        let mut init: Vec<((i64, i64), u64, usize)> = Vec::new();
        let mut next: Vec<((i64, i64), u64, usize)> = Vec::new();
        let mut seq = 0;
        for (i, s) in srv.iter().enumerate() {
            if s.e > 0 {
                init.push(((4096 - s.e as i64, 0), seq, i));
                seq += 1;
            }
        }
        let (mut pos, mut cw) = (total, total);
        let first = |t: &Vec<((i64, i64), u64, usize)>| t.iter().min().copied();
        let mut out = Vec::new();
        for _ in 0..n {
            let mut switched = false;
            let pick = loop {
                if let Some((_, _, s)) = first(&curr).filter(|&(_, _, s)| srv[s].npos <= pos) {
                    curr.retain(|x| x.2 != s);
                    break s;
                }
                if let Some((_, _, s)) = first(&init) {
                    srv[s].npos = 0;
                    srv[s].r = 0;
                    init.retain(|x| x.2 != s);
                    break s;
                }
                if let Some((_, _, s)) = first(&curr) {
                    curr.retain(|x| x.2 != s);
                    break s;
                }
                assert!(!switched);
                switched = true;
                std::mem::swap(&mut init, &mut next);
                cw = total;
                pos = cw;
            };
            let s = &mut srv[pick];
            if s.npos == 0 {
                s.npos = pos;
            }
            s.npos += total / s.e;
            s.r += total % s.e;
            if s.r >= s.e {
                s.r -= s.e;
                s.npos += 1;
            }
            pos += 1;
            if s.npos >= 2 * cw || s.npos >= cw + total {
                s.npos -= cw;
                next.push(((4096 - s.e as i64, 0), seq, pick));
            } else {
                curr.push(((s.npos as i64, (4096 + s.r as i64 - s.e as i64).div_euclid(16)), seq, pick));
            }
            seq += 1;
            out.push(pick as u32 + 1);
        }
        out
    }

    proptest! {
        #[test]
        fn trees_match_a_naive_loop(weights in proptest::collection::vec(1u32..20, 1..12), n in 1usize..300) {
            prop_assert_eq!(sequence(&weights, n), naive(&weights, n));
        }

        /// Over whole rounds each server gets its weight's share.
        #[test]
        fn shares_follow_weights(weights in proptest::collection::vec(1u32..10, 1..8), rounds in 1usize..4) {
            let total: u32 = weights.iter().sum();
            let seq = sequence(&weights, total as usize * rounds);
            for (i, &w) in weights.iter().enumerate() {
                let got = seq.iter().filter(|&&s| s == i as u32 + 1).count();
                prop_assert!((got as i64 - (w as usize * rounds) as i64).abs() <= 1, "{:?}", seq);
            }
        }
    }
}
