//! `round_robin`: nginx's smooth weighted round robin, following
//! `ngx_http_upstream_get_peer` and `ngx_http_upstream_free_round_robin_peer` in
//! `src/http/ngx_http_upstream_round_robin.c`.
//!
//! Each pick, every eligible peer gains its effective weight; the peer with the highest
//! current weight wins (the first in configuration order on ties) and loses the total of the
//! eligible peers' effective weights. A failure lowers the peer's effective weight by
//! `weight / max_fails`; it climbs back by one per round it takes part in. Weights 5, 1, 1
//! give the sequence `a a b a c a a`.

use super::{Balancer, Outcome, PickView};
use crate::rng::SimRng;

/// One peer's smooth-WRR weights (nginx `current_weight`, `effective_weight`); also
/// `least_connections`' tie-breaker state.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Peer {
    pub(crate) current: i64,
    /// [`UNSEEN`] = not yet seen (starts at the configured weight).
    pub(crate) effective: i64,
}

/// A peer's effective weight before its first round.
pub(crate) const UNSEEN: i64 = i64::MIN;

/// One smooth-WRR round (nginx `ngx_http_upstream_get_peer`) over `candidates`, in
/// configuration order: every candidate gains its effective weight, the first highest current
/// weight wins and loses the total. `step` is the view's weight unit. Returns the winner.
pub(crate) fn swrr_round(
    peers: &mut [Peer],
    view: &PickView<'_>,
    candidates: impl Iterator<Item = u32>,
    step: i64,
) -> Option<u32> {
    let mut best: Option<(u32, i64)> = None;
    let mut total: i64 = 0;
    for s in candidates {
        let weight = i64::from(view.weight(s));
        let peer = &mut peers[s as usize];
        if peer.effective == UNSEEN {
            peer.effective = weight;
        }
        // Under slow start (weights in hundredths) a weight lowered since — a host that came
        // back ramps again — caps the effective weight at once, as Envoy rebuilds its schedule
        // with the new weights. Otherwise nginx's rule: the effective weight only climbs back
        // towards the weight.
        if step > 1 {
            peer.effective = peer.effective.min(weight);
        }
        peer.current += peer.effective;
        total += peer.effective;
        if peer.effective < weight {
            // One unit per round; at scale 1 this never passes `weight` (nginx exactly).
            peer.effective = (peer.effective + step).min(weight);
        }
        if best.is_none_or(|(_, current)| peer.current > current) {
            best = Some((s, peer.current));
        }
    }
    let (b, _) = best?;
    peers[b as usize].current -= total;
    Some(b)
}

/// Per-server smooth-WRR state, shared with `least_connections` (its tie-breaker).
#[derive(Clone, Debug, Default)]
pub(crate) struct SwrrState {
    peers: Vec<Peer>,
    max_fails: u32,
    /// The view's weight unit (1, or 100 with slow start): nginx's steps of one weight unit
    /// are steps of `scale` here.
    scale: u32,
}

impl SwrrState {
    pub(crate) fn new(max_fails: u32) -> SwrrState {
        SwrrState { peers: Vec::new(), max_fails, scale: 1 }
    }

    fn ensure(&mut self, n: usize) {
        if self.peers.len() < n {
            self.peers.resize(n, Peer { current: 0, effective: UNSEEN });
        }
    }

    /// One smooth-WRR round over `candidates` (in configuration order); returns the winner.
    pub(crate) fn round(&mut self, view: &PickView<'_>, candidates: impl Iterator<Item = u32>) -> Option<u32> {
        self.ensure(view.server_count());
        self.scale = view.weight_scale().max(1);
        swrr_round(&mut self.peers, view, candidates, i64::from(self.scale))
    }

    /// nginx's failure penalty: `effective_weight -= weight / max_fails`, floored at 0.
    pub(crate) fn penalize(&mut self, server: u32, weight: u32) {
        if self.max_fails == 0 {
            return;
        }
        self.ensure(server as usize + 1);
        let peer = &mut self.peers[server as usize];
        if peer.effective == UNSEEN {
            peer.effective = i64::from(weight);
        }
        // In whole configured units, as nginx divides integers (weight 1, max_fails 2: none).
        let penalty = weight / self.scale / self.max_fails * self.scale;
        peer.effective = (peer.effective - i64::from(penalty)).max(0);
    }
}

/// Smooth WRR over peers whose effective weights equal their configured weights, in
/// O(k + log n) per pick for k distinct weights.
///
/// Every round adds a peer's effective weight `w` to its current weight; while no peer is
/// penalised or ramping, `w` is the same round after round. Peers of one weight class
/// therefore keep their order except for the winner, who loses the round's total. Each class
/// keeps its current weights as `key + offset` (`offset` carries the class's shared `+w` per
/// round) in a max-heap on `(key, earlier position)`, whose top is the class's candidate;
/// nginx's winner (the highest current weight, the first in configuration order on ties) is
/// the best of the k class tops. The keys live in `SwrrState::peers[s].current` while this
/// is active; `materialize` adds each class's offset back.
#[derive(Clone, Debug, Default)]
struct Classes {
    classes: Vec<Class>,
    /// The eligible servers the classes cover, in configuration order (position → server).
    ids: Vec<u32>,
    /// The class of each server, by server id ([`NO_CLASS`] = not covered).
    class_of: Vec<u32>,
    /// The sum of the effective weights: what the winner loses each round.
    total: i64,
}

/// One weight class of [`Classes`].
#[derive(Clone, Debug, Default)]
struct Class {
    /// `(key, Reverse(position in eligible))`: the top is the class's best peer.
    heap: std::collections::BinaryHeap<(i64, std::cmp::Reverse<u32>)>,
    /// The class's effective (= configured) weight.
    effective: i64,
    /// Added to every key of the class to give the current weight.
    offset: i64,
}

/// `Classes::class_of` for a server the fast form does not cover.
const NO_CLASS: u32 = u32::MAX;

/// The most weight classes the fast form takes: each pick compares the class tops, so past a
/// few dozen classes nginx's scan is as cheap (for up to a few hundred peers) and the fast
/// form would only pay off at sizes where the scan is hopeless either way. 64 covers every
/// realistic weight table (weights 1–64, or a handful of distinct weights at any scale).
const MAX_CLASSES: usize = 64;

/// Past this offset a class's keys are shifted back towards zero (order-preserving), so that
/// no run, however long, overflows an `i64`.
const OFFSET_FOLD: i64 = 1 << 52;

/// nginx smooth weighted round robin.
#[derive(Clone, Debug, Default)]
pub struct SmoothWeightedRoundRobin {
    state: SwrrState,
    /// Weights of servers, remembered for the failure penalty.
    weights: Vec<u32>,
    /// The view version `weights` was taken for.
    built_for: Option<u64>,
    /// The distinct configured weights of the eligible servers of `built_for`, in order of
    /// first appearance; empty when there are more than [`MAX_CLASSES`] (nginx's scan then).
    weight_classes: Vec<u32>,
    /// The O(k + log n) form, while every eligible peer's effective weight is its weight.
    fast: Option<Classes>,
    /// The last fast form's buffers, reused when it is entered again (a health change at
    /// 100,000 servers then costs no allocation).
    spare: Classes,
}

impl SmoothWeightedRoundRobin {
    /// A fresh instance; `max_fails` as in nginx (0 = no failure penalty).
    pub fn new(max_fails: u32) -> SmoothWeightedRoundRobin {
        SmoothWeightedRoundRobin { state: SwrrState::new(max_fails), ..SmoothWeightedRoundRobin::default() }
    }

    /// Writes the fast form's current weights back into the per-peer state and leaves it.
    fn materialize(&mut self) {
        if let Some(mut fast) = self.fast.take() {
            for class in &mut fast.classes {
                for &(key, std::cmp::Reverse(pos)) in class.heap.iter() {
                    let s = fast.ids[pos as usize] as usize;
                    debug_assert_eq!(self.state.peers[s].current, key);
                    self.state.peers[s].current = key + class.offset;
                }
                class.heap.clear();
            }
            for &s in &fast.ids {
                fast.class_of[s as usize] = NO_CLASS;
            }
            fast.ids.clear();
            self.spare = fast;
        }
    }

    /// Enters the fast form if every eligible peer's effective weight equals its configured
    /// weight, so that it stays constant round after round. O(n), once per view version or
    /// after a penalised peer has recovered.
    fn try_fast(&mut self, view: &PickView<'_>) {
        let eligible = view.eligible();
        if self.weight_classes.is_empty() || eligible.len() < 2 {
            return;
        }
        self.state.ensure(view.server_count());
        let full = eligible.iter().all(|&s| {
            let e = self.state.peers[s as usize].effective;
            e == UNSEEN || e == i64::from(view.weight(s))
        });
        if !full {
            return;
        }
        let mut fast = std::mem::take(&mut self.spare);
        fast.class_of.resize(view.server_count(), NO_CLASS);
        fast.classes.resize_with(self.weight_classes.len(), Class::default);
        for (class, &w) in fast.classes.iter_mut().zip(&self.weight_classes) {
            class.effective = i64::from(w);
            class.offset = 0;
        }
        fast.total = 0;
        let mut entries: Vec<Vec<(i64, std::cmp::Reverse<u32>)>> =
            fast.classes.iter_mut().map(|c| std::mem::take(&mut c.heap).into_vec()).collect();
        for (pos, &s) in eligible.iter().enumerate() {
            let weight = view.weight(s);
            let c = self.weight_classes.iter().position(|&w| w == weight).expect("every eligible weight has a class");
            let peer = &mut self.state.peers[s as usize];
            peer.effective = i64::from(weight);
            fast.total += peer.effective;
            fast.class_of[s as usize] = c as u32;
            fast.ids.push(s);
            entries[c].push((peer.current, std::cmp::Reverse(pos as u32)));
        }
        for (class, e) in fast.classes.iter_mut().zip(entries) {
            class.heap = std::collections::BinaryHeap::from(e);
        }
        self.fast = Some(fast);
    }
}

impl Classes {
    /// One nginx round: every peer gains its weight, the first highest wins and loses the total.
    fn round(&mut self, peers: &mut [Peer]) -> Option<u32> {
        let mut best: Option<(usize, i64, u32)> = None;
        for (c, class) in self.classes.iter_mut().enumerate() {
            class.offset += class.effective;
            if let Some(&(key, std::cmp::Reverse(pos))) = class.heap.peek() {
                let current = key + class.offset;
                if best.is_none_or(|(_, b, bpos)| current > b || (current == b && pos < bpos)) {
                    best = Some((c, current, pos));
                }
            }
        }
        let (c, _, pos) = best?;
        let s = self.ids[pos as usize];
        let class = &mut self.classes[c];
        let mut top = class.heap.peek_mut().expect("the winning class has a top");
        top.0 -= self.total;
        peers[s as usize].current = top.0;
        drop(top);
        for class in &mut self.classes {
            if class.offset > OFFSET_FOLD {
                class.fold(&self.ids, peers);
            }
        }
        Some(s)
    }
}

impl Class {
    /// Moves the offset into the keys (a uniform shift keeps the heap's order).
    fn fold(&mut self, ids: &[u32], peers: &mut [Peer]) {
        let shift = self.offset;
        let mut entries = std::mem::take(&mut self.heap).into_vec();
        for entry in &mut entries {
            entry.0 += shift;
            peers[ids[entry.1.0 as usize] as usize].current = entry.0;
        }
        self.heap = std::collections::BinaryHeap::from(entries);
        self.offset = 0;
    }
}

impl Balancer for SmoothWeightedRoundRobin {
    fn name(&self) -> &str {
        "round_robin"
    }

    fn pick(&mut self, view: &PickView<'_>, _rng: &mut SimRng) -> Option<u32> {
        if self.built_for != Some(view.version()) {
            self.materialize();
            if self.weights.len() < view.server_count() {
                self.weights.resize(view.server_count(), 1);
            }
            self.weight_classes.clear();
            let mut many = false;
            for &s in view.eligible() {
                let w = view.weight(s);
                self.weights[s as usize] = w;
                if !many && !self.weight_classes.contains(&w) {
                    if self.weight_classes.len() == MAX_CLASSES {
                        many = true;
                    } else {
                        self.weight_classes.push(w);
                    }
                }
            }
            if many {
                self.weight_classes.clear();
            }
            self.built_for = Some(view.version());
            // The failure penalty is in the view's units even if no scan runs (the fast form
            // skips nginx's loop, which is where the scan takes them).
            self.state.scale = view.weight_scale().max(1);
            self.try_fast(view);
        }
        if let Some(fast) = &mut self.fast {
            return fast.round(&mut self.state.peers);
        }
        let pick = self.state.round(view, view.eligible().iter().copied());
        // A penalised peer climbs back by one per round; once all are back, return to the
        // fast form (one O(n) check per slow pick, which costs as much as the pick itself).
        self.try_fast(view);
        pick
    }

    fn observe(&mut self, outcome: &Outcome) {
        if outcome.kind.is_failure() && self.state.max_fails != 0 {
            let weight = self.weights.get(outcome.server as usize).copied().unwrap_or(1);
            if weight / self.state.max_fails > 0 {
                // The penalty changes one effective weight: back to nginx's scan until it recovers.
                self.materialize();
            }
            self.state.penalize(outcome.server, weight);
        }
    }

    fn inspect(&self, server: u32, _now_ns: u64) -> Option<f64> {
        let offset = match &self.fast {
            Some(fast) => match fast.class_of.get(server as usize) {
                Some(&c) if c != NO_CLASS => fast.classes[c as usize].offset,
                _ => 0,
            },
            None => 0,
        };
        self.state.peers.get(server as usize).map(|p| (p.current + offset) as f64)
    }

    fn explain(&self, view: &PickView<'_>, rng: &SimRng) -> super::PickExplanation {
        super::explain::round_robin(self, view, rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::StaticView;

    fn sequence(weights: &[u32], n: usize) -> String {
        let f = StaticView::new(weights);
        let mut rr = SmoothWeightedRoundRobin::new(0);
        let mut rng = SimRng::from_seed(0);
        (0..n).map(|_| (b'a' + rr.pick(&f.view(), &mut rng).unwrap() as u8) as char).collect()
    }

    /// The sequence documented for nginx's smooth weighted round robin (nginx commit
    /// 52327e0627f4, "Upstream: smooth weighted round-robin balancing"): weights 5, 1, 1.
    #[test]
    fn nginx_smooth_sequence_5_1_1() {
        assert_eq!(sequence(&[5, 1, 1], 14), "aabacaaaabacaa");
    }

    #[test]
    fn equal_weights_rotate_in_order() {
        assert_eq!(sequence(&[1, 1, 1], 6), "abcabc");
        assert_eq!(sequence(&[3, 2], 5), "ababa");
    }

    #[test]
    fn a_down_peer_is_skipped_and_does_not_accumulate() {
        let mut f = StaticView::new(&[1, 1, 1]);
        let mut rr = SmoothWeightedRoundRobin::new(0);
        let mut rng = SimRng::from_seed(0);
        f.set_available(1, false);
        let picks: Vec<u32> = (0..4).map(|_| rr.pick(&f.view(), &mut rng).unwrap()).collect();
        assert_eq!(picks, vec![0, 2, 0, 2]);
    }

    #[test]
    fn failure_lowers_effective_weight_then_it_recovers() {
        let f = StaticView::new(&[2, 2]);
        let mut rr = SmoothWeightedRoundRobin::new(1);
        let mut rng = SimRng::from_seed(0);
        rr.pick(&f.view(), &mut rng);
        rr.observe(&Outcome { server: 0, sent_ns: 0, now_ns: 0, kind: super::super::OutcomeKind::ConnectionError });
        // Effective weight of server 0 drops to 0 and climbs by one per round.
        let picks: Vec<u32> = (0..6).map(|_| rr.pick(&f.view(), &mut rng).unwrap()).collect();
        assert_eq!(picks.iter().filter(|&&s| s == 1).count(), 4, "{picks:?}");
    }

    /// nginx's loop as written (`ngx_http_upstream_get_peer`), with lbsim's slow-start
    /// units: the reference the fast form must match pick for pick.
    struct Naive {
        current: Vec<i64>,
        /// `None` = not yet seen.
        effective: Vec<Option<i64>>,
        /// The weight each server had when last eligible (what the failure penalty uses).
        weight: Vec<u32>,
        max_fails: u32,
        scale: i64,
    }

    impl Naive {
        fn grow(&mut self, n: usize) {
            self.current.resize(self.current.len().max(n), 0);
            self.effective.resize(self.effective.len().max(n), None);
            self.weight.resize(self.weight.len().max(n), 1);
        }

        fn pick(&mut self, eligible: &[u32], weights: &[u32], scale: u32) -> Option<u32> {
            self.grow(weights.len());
            self.scale = i64::from(scale);
            let mut best: Option<u32> = None;
            let mut total = 0;
            for &s in eligible {
                let s = s as usize;
                let w = i64::from(weights[s]);
                self.weight[s] = weights[s];
                let mut e = self.effective[s].unwrap_or(w);
                if self.scale > 1 {
                    e = e.min(w);
                }
                self.current[s] += e;
                total += e;
                if e < w {
                    e = (e + self.scale).min(w);
                }
                self.effective[s] = Some(e);
                if best.is_none_or(|b| self.current[s] > self.current[b as usize]) {
                    best = Some(s as u32);
                }
            }
            let b = best?;
            self.current[b as usize] -= total;
            Some(b)
        }

        fn fail(&mut self, s: u32) {
            if self.max_fails == 0 {
                return;
            }
            self.grow(s as usize + 1);
            let w = self.weight[s as usize];
            let e = self.effective[s as usize].unwrap_or(i64::from(w));
            let penalty = i64::from(w / self.scale as u32 / self.max_fails) * self.scale;
            self.effective[s as usize] = Some((e - penalty).max(0));
        }
    }

    /// One step of the property test.
    #[derive(Clone, Debug)]
    enum Step {
        /// A pick over the eligible servers.
        Pick,
        /// A retry's pick: the eligible servers less those already tried (`mask` bits).
        Retry(u64),
        /// A health change.
        Toggle(usize),
        /// A weight change (slow start ramps, or a configuration change).
        Weight(usize, u32),
        /// A failed request at a server (nginx's penalty).
        Fail(usize),
        /// A server added to the pool.
        Add(u32),
        /// A server removed from the pool.
        Remove(usize),
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        prop_oneof![
            12 => Just(Step::Pick),
            1 => any::<u64>().prop_map(Step::Retry),
            1 => (0usize..64).prop_map(Step::Toggle),
            1 => (0usize..64, 0u32..6).prop_map(|(s, w)| Step::Weight(s, w)),
            2 => (0usize..64).prop_map(Step::Fail),
            1 => (1u32..6).prop_map(Step::Add),
            1 => (0usize..64).prop_map(Step::Remove),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]
        /// The O(k + log n) form picks exactly what nginx's loop picks, pick after pick, and
        /// holds the same current weights, under unequal weights, health changes, weight
        /// changes, failures (penalised peers recovering), retries over subsets, servers
        /// added and removed, with and without slow start's weight units.
        #[test]
        fn fast_form_matches_nginx_loop(
            weights in proptest::collection::vec(1u32..6, 1..40),
            max_fails in 0u32..4,
            slow_start in proptest::bool::ANY,
            steps in proptest::collection::vec(step(), 1..300),
        ) {
            // With slow start, weights are in hundredths and a ramping host has a fraction.
            let scale: u32 = if slow_start { 100 } else { 1 };
            let unit = |w: u32| if slow_start && w == 0 { 37 } else { w.max(1) * scale };
            let mut weights: Vec<u32> = weights.into_iter().map(unit).collect();
            let mut members: Vec<u32> = (0..weights.len() as u32).collect();
            let mut available = vec![true; weights.len()];
            let mut version = 1u64;
            let mut rr = SmoothWeightedRoundRobin::new(max_fails);
            let mut naive = Naive { current: vec![], effective: vec![], weight: vec![], max_fails, scale: 1 };
            let mut rng = SimRng::from_seed(0);
            let active = vec![0u32; 256];
            let names: Vec<String> = (0..256).map(|i| format!("s-{i}")).collect();
            for step in steps {
                let mut tried: Vec<u32> = Vec::new();
                match step {
                    Step::Pick => {}
                    Step::Retry(mask) => {
                        tried = members.iter().copied().filter(|&s| mask >> (s % 64) & 1 == 1).collect();
                    }
                    Step::Toggle(i) => {
                        let s = members[i % members.len()] as usize;
                        available[s] = !available[s];
                        version += 1;
                        continue;
                    }
                    Step::Weight(i, w) => {
                        let s = members[i % members.len()] as usize;
                        weights[s] = unit(w);
                        version += 1;
                        continue;
                    }
                    Step::Fail(i) => {
                        let s = members[i % members.len()];
                        rr.observe(&Outcome { server: s, sent_ns: 0, now_ns: 0, kind: super::super::OutcomeKind::Failed });
                        naive.fail(s);
                        continue;
                    }
                    Step::Add(w) => {
                        if weights.len() < 200 {
                            members.push(weights.len() as u32);
                            weights.push(unit(w));
                            available.push(true);
                            version += 1;
                        }
                        continue;
                    }
                    Step::Remove(i) => {
                        if members.len() > 1 {
                            members.remove(i % members.len());
                            version += 1;
                        }
                        continue;
                    }
                }
                let eligible: Vec<u32> =
                    members.iter().copied().filter(|&s| available[s as usize] && !tried.contains(&s)).collect();
                let tried_key = tried.iter().fold(tried.len() as u64, |k, &s| crate::rng::mix64(k ^ u64::from(s)));
                let mut avail = available.clone();
                for &s in &tried {
                    avail[s as usize] = false;
                }
                let view = PickView {
                    now_ns: 0,
                    members: &members,
                    eligible: &eligible,
                    available: &avail,
                    weights: &weights,
                    weight_scale: scale,
                    active: &active[..weights.len()],
                    version: version ^ if tried.is_empty() { 0 } else { tried_key | 1 << 63 },
                    members_version: 1,
                    source_ip: 0,
                    key: 0,
                    key_text: false,
                    names: &names[..weights.len()],
                };
                let expected = naive.pick(&eligible, &weights, scale);
                proptest::prop_assert_eq!(rr.pick(&view, &mut rng), expected);
                for s in 0..weights.len() as u32 {
                    proptest::prop_assert_eq!(rr.inspect(s, 0), Some(naive.current[s as usize] as f64), "server {}", s);
                }
            }
        }
    }

    /// Unequal weights take the fast form (its class tops), not nginx's scan: a weight
    /// table of 1–4 over 1,000 peers keeps to the same sequence as the loop, and the fast
    /// form is what is active after the first pick.
    #[test]
    fn unequal_weights_use_the_fast_form() {
        let weights: Vec<u32> = (0..1000).map(|i| 1 + i % 4).collect();
        let f = StaticView::new(&weights);
        let mut rr = SmoothWeightedRoundRobin::new(1);
        let mut naive = Naive { current: vec![], effective: vec![], weight: vec![], max_fails: 1, scale: 1 };
        let mut rng = SimRng::from_seed(0);
        for _ in 0..20_000 {
            assert_eq!(rr.pick(&f.view(), &mut rng), naive.pick(f.view().eligible(), &weights, 1));
            assert!(rr.fast.as_ref().is_some_and(|c| c.classes.len() == 4));
        }
    }
}
