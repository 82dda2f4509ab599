//! `round_robin`: nginx's smooth weighted round robin, following
//! `ngx_http_upstream_get_peer` and `ngx_http_upstream_free_round_robin_peer` in
//! `src/http/ngx_http_upstream_round_robin.c`.
//!
//! Each pick, every eligible peer gains its effective weight; the peer with the highest
//! current weight wins (the first in configuration order on ties) and loses the total of the
//! eligible peers' effective weights. A failure lowers the peer's effective weight by
//! `weight / max_fails`; it climbs back by one per round it takes part in. Weights 5, 1, 1
//! give the sequence `a a b a c a a`.

use super::{Balancer, Outcome, OutcomeKind, PickView};
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
}

impl SwrrState {
    pub(crate) fn new(max_fails: u32) -> SwrrState {
        SwrrState { peers: Vec::new(), max_fails }
    }

    fn ensure(&mut self, n: usize) {
        if self.peers.len() < n {
            self.peers.resize(n, Peer { current: 0, effective: i64::MIN });
        }
    }

    /// One smooth-WRR round over `candidates` (in configuration order); returns the winner.
    pub(crate) fn round(&mut self, view: &PickView<'_>, candidates: impl Iterator<Item = u32>) -> Option<u32> {
        self.ensure(view.server_count());
        let mut best: Option<(u32, i64)> = None;
        let mut total: i64 = 0;
        for s in candidates {
            let weight = i64::from(view.weight(s));
            let peer = &mut self.peers[s as usize];
            if peer.effective == i64::MIN {
                peer.effective = weight;
            }
            peer.current += peer.effective;
            total += peer.effective;
            if peer.effective < weight {
                peer.effective += 1;
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
        peer.effective = (peer.effective - i64::from(weight / self.max_fails)).max(0);
    }

    pub(crate) fn current_weight(&self, server: u32) -> Option<f64> {
        self.peers.get(server as usize).map(|p| p.current as f64)
    }
}

/// nginx smooth weighted round robin.
#[derive(Clone, Debug, Default)]
pub struct SmoothWeightedRoundRobin {
    state: SwrrState,
    /// Weights of servers, remembered for the failure penalty.
    weights: Vec<u32>,
    /// The view version `weights` was taken for.
    built_for: Option<u64>,
}

impl SmoothWeightedRoundRobin {
    /// A fresh instance; `max_fails` as in nginx (0 = no failure penalty).
    pub fn new(max_fails: u32) -> SmoothWeightedRoundRobin {
        SmoothWeightedRoundRobin { state: SwrrState::new(max_fails), weights: Vec::new(), built_for: None }
    }
}

impl Balancer for SmoothWeightedRoundRobin {
    fn name(&self) -> &str {
        "round_robin"
    }

    fn pick(&mut self, view: &PickView<'_>, _rng: &mut SimRng) -> Option<u32> {
        if self.built_for != Some(view.version()) {
            if self.weights.len() < view.server_count() {
                self.weights.resize(view.server_count(), 1);
            }
            for &s in view.eligible() {
                self.weights[s as usize] = view.weight(s);
            }
            self.built_for = Some(view.version());
        }
        self.state.round(view, view.eligible().iter().copied())
    }

    fn observe(&mut self, outcome: &Outcome) {
        if outcome.kind == OutcomeKind::ConnectionError {
            let weight = self.weights.get(outcome.server as usize).copied().unwrap_or(1);
            self.state.penalize(outcome.server, weight);
        }
    }

    fn inspect(&self, server: u32, _now_ns: u64) -> Option<f64> {
        self.state.current_weight(server)
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
        rr.observe(&Outcome { server: 0, sent_ns: 0, now_ns: 0, kind: OutcomeKind::ConnectionError });
        // Effective weight of server 0 drops to 0 and climbs by one per round.
        let picks: Vec<u32> = (0..6).map(|_| rr.pick(&f.view(), &mut rng).unwrap()).collect();
        assert_eq!(picks.iter().filter(|&&s| s == 1).count(), 4, "{picks:?}");
    }
}
