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

/// One peer's smooth-WRR weights (nginx `current_weight`, `effective_weight`).
#[derive(Clone, Copy, Debug)]
struct Peer {
    current: i64,
    /// `i64::MIN` = not yet seen (starts at the configured weight).
    effective: i64,
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
            self.peers.resize(n, Peer { current: 0, effective: i64::MIN });
        }
    }

    /// One smooth-WRR round over `candidates` (in configuration order); returns the winner.
    pub(crate) fn round(&mut self, view: &PickView<'_>, candidates: impl Iterator<Item = u32>) -> Option<u32> {
        self.ensure(view.server_count());
        self.scale = view.weight_scale().max(1);
        let step = i64::from(self.scale);
        let mut best: Option<(u32, i64)> = None;
        let mut total: i64 = 0;
        for s in candidates {
            let weight = i64::from(view.weight(s));
            let peer = &mut self.peers[s as usize];
            if peer.effective == i64::MIN {
                peer.effective = weight;
            }
            // Under slow start (weights in hundredths) a weight lowered since — a host that
            // came back ramps again — caps the effective weight at once, as Envoy rebuilds
            // its schedule with the new weights. Otherwise nginx's rule: the effective weight
            // only climbs back towards the weight.
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
        self.peers[b as usize].current -= total;
        Some(b)
    }

    /// nginx's failure penalty: `effective_weight -= weight / max_fails`, floored at 0.
    pub(crate) fn penalize(&mut self, server: u32, weight: u32) {
        if self.max_fails == 0 {
            return;
        }
        self.ensure(server as usize + 1);
        let peer = &mut self.peers[server as usize];
        if peer.effective == i64::MIN {
            peer.effective = i64::from(weight);
        }
        // In whole configured units, as nginx divides integers (weight 1, max_fails 2: none).
        let penalty = weight / self.scale / self.max_fails * self.scale;
        peer.effective = (peer.effective - i64::from(penalty)).max(0);
    }

    pub(crate) fn current_weight(&self, server: u32) -> Option<f64> {
        self.peers.get(server as usize).map(|p| p.current as f64)
    }
}

/// Smooth WRR over peers that all have the same effective weight `e`, in O(log n) per pick.
///
/// Every round adds `e` to each peer's current weight, so the order between peers never
/// changes except for the winner, who loses `n · e`. The current weights are therefore kept as
/// `key + offset`: `offset` carries the rounds' shared `+e`, and a max-heap on
/// `(key, earlier position)` finds nginx's winner (the highest current weight, the first in
/// configuration order on ties) without visiting the others. The keys live in
/// `SwrrState::peers[s].current` while this is active; `materialize` adds the offset back.
#[derive(Clone, Debug, Default)]
struct Uniform {
    /// `(key, Reverse(position in eligible))`: the top is nginx's winner.
    heap: std::collections::BinaryHeap<(i64, std::cmp::Reverse<u32>)>,
    /// The eligible servers the heap covers, in configuration order.
    ids: Vec<u32>,
    /// Whether a server is in `ids` (for `inspect`), by server id.
    member: Vec<bool>,
    /// The shared effective weight.
    effective: i64,
    /// Added to every key to give the current weight.
    offset: i64,
}

/// Past this offset the keys are shifted back towards zero (order-preserving), so that no
/// run, however long, overflows an `i64`.
const OFFSET_FOLD: i64 = 1 << 52;

/// nginx smooth weighted round robin.
#[derive(Clone, Debug, Default)]
pub struct SmoothWeightedRoundRobin {
    state: SwrrState,
    /// Weights of servers, remembered for the failure penalty.
    weights: Vec<u32>,
    /// The view version `weights` was taken for.
    built_for: Option<u64>,
    /// Whether the eligible servers of `built_for` all have the same configured weight.
    uniform_weights: bool,
    /// The O(log n) form, while every eligible peer has the same effective weight.
    fast: Option<Uniform>,
}

impl SmoothWeightedRoundRobin {
    /// A fresh instance; `max_fails` as in nginx (0 = no failure penalty).
    pub fn new(max_fails: u32) -> SmoothWeightedRoundRobin {
        SmoothWeightedRoundRobin { state: SwrrState::new(max_fails), ..SmoothWeightedRoundRobin::default() }
    }

    /// Writes the fast form's current weights back into the per-peer state and leaves it.
    fn materialize(&mut self) {
        if let Some(fast) = self.fast.take() {
            for &s in &fast.ids {
                self.state.peers[s as usize].current += fast.offset;
            }
        }
    }

    /// Enters the fast form if every eligible peer's effective weight equals its (common)
    /// configured weight, so that it stays constant round after round. O(n), once per view
    /// version or after a penalised peer has recovered.
    fn try_uniform(&mut self, view: &PickView<'_>) {
        let eligible = view.eligible();
        if !self.uniform_weights || eligible.len() < 2 {
            return;
        }
        self.state.ensure(view.server_count());
        let weight = i64::from(view.weight(eligible[0]));
        let full = eligible.iter().all(|&s| {
            let e = self.state.peers[s as usize].effective;
            e == i64::MIN || e == weight
        });
        if !full {
            return;
        }
        let mut member = vec![false; view.server_count()];
        let mut entries = Vec::with_capacity(eligible.len());
        for (pos, &s) in eligible.iter().enumerate() {
            let peer = &mut self.state.peers[s as usize];
            peer.effective = weight;
            member[s as usize] = true;
            entries.push((peer.current, std::cmp::Reverse(pos as u32)));
        }
        self.fast = Some(Uniform {
            heap: std::collections::BinaryHeap::from(entries),
            ids: eligible.to_vec(),
            member,
            effective: weight,
            offset: 0,
        });
    }
}

impl Uniform {
    /// One nginx round: every peer gains `e`, the first highest wins and loses `n · e`.
    fn round(&mut self, peers: &mut [Peer]) -> Option<u32> {
        let total = self.effective * self.ids.len() as i64;
        self.offset += self.effective;
        let mut top = self.heap.peek_mut()?;
        let s = self.ids[top.1.0 as usize];
        top.0 -= total;
        peers[s as usize].current = top.0;
        drop(top);
        if self.offset > OFFSET_FOLD {
            self.fold(peers);
        }
        Some(s)
    }

    /// Moves the offset into the keys (a uniform shift keeps the heap's order).
    fn fold(&mut self, peers: &mut [Peer]) {
        let shift = self.offset;
        let mut entries = std::mem::take(&mut self.heap).into_vec();
        for entry in &mut entries {
            entry.0 += shift;
            peers[self.ids[entry.1.0 as usize] as usize].current = entry.0;
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
            let eligible = view.eligible();
            let first = eligible.first().map_or(1, |&s| view.weight(s));
            self.uniform_weights = true;
            for &s in eligible {
                let w = view.weight(s);
                self.weights[s as usize] = w;
                self.uniform_weights &= w == first;
            }
            self.built_for = Some(view.version());
            self.try_uniform(view);
        }
        if let Some(fast) = &mut self.fast {
            return fast.round(&mut self.state.peers);
        }
        let pick = self.state.round(view, view.eligible().iter().copied());
        // A penalised peer climbs back by one per round; once all are back, return to the
        // fast form (one O(n) check per slow pick, which costs as much as the pick itself).
        self.try_uniform(view);
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
            Some(fast) if fast.member.get(server as usize).copied().unwrap_or(false) => fast.offset,
            _ => 0,
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
}
