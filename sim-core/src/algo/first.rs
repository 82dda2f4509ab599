//! `first`: HAProxy's `balance first` (`src/lb_fas.c`, `fas_get_next_server`).
//!
//! Servers sit in a tree ordered by their id (`puid`, configuration order by default); a pick
//! walks it from the smallest id and takes the first server that is not saturated: one with
//! fewer than `maxconn` requests being served (`balancer.max_conns` in lbsim, per server and
//! per balancer replica; 0 = unlimited, so the first server takes everything). The walk skips
//! only saturated servers, so a pick costs O(1 + the number of full servers before the one
//! it takes), as HAProxy's does.
//!
//! lbsim difference: when every server is full HAProxy holds the request in the backend's
//! queue until a connection slot frees; lbsim has no balancer-side queue and sends it to the
//! least loaded eligible server (the first one on ties), where it waits in that server's
//! queue instead.

use super::{Balancer, PickView};
use crate::rng::SimRng;

/// HAProxy first available.
#[derive(Clone, Debug, Default)]
pub struct FirstAvailable {
    max_conns: u32,
}

impl FirstAvailable {
    /// `max_conns` per server (0 = unlimited).
    pub fn new(max_conns: u32) -> FirstAvailable {
        FirstAvailable { max_conns }
    }
}

impl Balancer for FirstAvailable {
    fn name(&self) -> &str {
        "first"
    }

    fn pick(&mut self, view: &PickView<'_>, _rng: &mut SimRng) -> Option<u32> {
        let eligible = view.eligible();
        let first = *eligible.first()?;
        if self.max_conns == 0 {
            return Some(first);
        }
        if let Some(&s) = eligible.iter().find(|&&s| view.active(s) < self.max_conns) {
            return Some(s);
        }
        // All full (the walk visited every server: HAProxy's cost too): the least loaded.
        eligible.iter().copied().min_by_key(|&s| view.active(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::StaticView;
    use proptest::prelude::*;

    /// HAProxy's documented behaviour: server 1 fills up to its maxconn, then server 2, …
    #[test]
    fn fills_servers_in_order_up_to_max_conns() {
        let mut f = StaticView::new(&[1, 1, 1]);
        let mut b = FirstAvailable::new(2);
        let mut rng = SimRng::from_seed(1);
        let mut picks = Vec::new();
        for _ in 0..6 {
            let s = b.pick(&f.view(), &mut rng).unwrap();
            f.active[s as usize] += 1;
            picks.push(s);
        }
        assert_eq!(picks, [0, 0, 1, 1, 2, 2]);
        // A slot frees on server 1: the next request goes back there.
        f.active[0] -= 1;
        assert_eq!(b.pick(&f.view(), &mut rng), Some(0));
        // Everything full: the least loaded (first on ties).
        f.active = vec![3, 2, 2];
        assert_eq!(b.pick(&f.view(), &mut rng), Some(1));
    }

    #[test]
    fn skips_ineligible_servers_and_is_unlimited_by_default() {
        let mut f = StaticView::new(&[1, 1, 1]);
        f.active = vec![0, 50, 0];
        f.set_available(0, false);
        let mut rng = SimRng::from_seed(1);
        assert_eq!(FirstAvailable::new(0).pick(&f.view(), &mut rng), Some(1));
        assert_eq!(FirstAvailable::new(50).pick(&f.view(), &mut rng), Some(2));
    }

    proptest! {
        /// Against a naive loop: the lowest-id eligible server below max_conns.
        #[test]
        fn matches_a_naive_loop(active in proptest::collection::vec(0u32..5, 1..12), max in 0u32..5, down in 0usize..12) {
            let mut f = StaticView::new(&vec![1; active.len()]);
            f.active = active.clone();
            if down < active.len() && active.len() > 1 {
                f.set_available(down as u32, false);
            }
            let eligible: Vec<u32> = f.view().eligible().to_vec();
            let expect = if max == 0 {
                eligible.first().copied()
            } else {
                let mut found = None;
                for &s in &eligible {
                    if active[s as usize] < max {
                        found = Some(s);
                        break;
                    }
                }
                found.or_else(|| {
                    let mut best: Option<u32> = None;
                    for &s in &eligible {
                        if best.is_none_or(|b| active[s as usize] < active[b as usize]) {
                            best = Some(s);
                        }
                    }
                    best
                })
            };
            let mut rng = SimRng::from_seed(1);
            prop_assert_eq!(FirstAvailable::new(max).pick(&f.view(), &mut rng), expect);
        }
    }
}
