//! `first`: HAProxy's `balance first` (`src/lb_fas.c`, `fas_get_next_server`).
//!
//! Servers sit in a tree ordered by their id (`puid`, configuration order by default); a pick
//! walks it from the smallest id and takes the first server that is not saturated: one with
//! fewer than `maxconn` requests being served (`balancer.max_conns` in lbsim, per server and
//! per balancer replica; 0 = unlimited, so the first server takes everything). The walk skips
//! only saturated servers, so a pick costs O(1 + the number of full servers before the one
//! it takes), as HAProxy's does.
//!
//! In a simulation, which tells the policy of every change of an active count
//! ([`FirstAvailable::active_changed`]), a pick takes O(log n) instead: the eligible servers
//! below `max_conns` are kept in an ordered set by their position, so the first of them is the
//! walk's answer without the walk; a second set ordered by (active, position) answers the
//! all-full case. The sets are built for one view version (once it has been seen on two picks
//! in a row: a retry's view, which leaves out the tried servers, is walked instead); a proptest
//! checks the picks against the walk.
//!
//! lbsim difference: when every server is full HAProxy holds the request in the backend's
//! queue until a connection slot frees; lbsim has no balancer-side queue and sends it to the
//! least loaded eligible server (the first one on ties), where it waits in that server's
//! queue instead.

use super::{Balancer, PickView};
use crate::rng::SimRng;
use std::collections::BTreeSet;

/// HAProxy first available.
#[derive(Clone, Debug, Default)]
pub struct FirstAvailable {
    max_conns: u32,
    /// Whether the caller reports every change of an active count.
    notified: bool,
    /// The view version of the previous pick (the sets are built when it repeats).
    last_version: Option<u64>,
    fast: Option<Fast>,
}

/// The ordered form for one view version.
#[derive(Clone, Debug)]
struct Fast {
    version: u64,
    /// The eligible servers of `version`, in configuration order.
    eligible: Vec<u32>,
    /// By server id: 1 + its position in `eligible`, or 0 if it is not eligible.
    position: Vec<u32>,
    /// By server id: its active count as last reported.
    active: Vec<u32>,
    /// Positions of the eligible servers below `max_conns`.
    open: BTreeSet<u32>,
    /// `(active, position)` of every eligible server.
    load: BTreeSet<(u32, u32)>,
}

impl FirstAvailable {
    /// `max_conns` per server (0 = unlimited).
    pub fn new(max_conns: u32) -> FirstAvailable {
        FirstAvailable { max_conns, ..FirstAvailable::default() }
    }

    /// An instance whose caller reports every change of an active count through
    /// [`FirstAvailable::active_changed`] (then picks take O(log n)).
    pub(crate) fn notified(max_conns: u32) -> FirstAvailable {
        FirstAvailable { notified: true, ..FirstAvailable::new(max_conns) }
    }

    /// Stops relying on count-change reports (for views whose counts change without them).
    pub(crate) fn unnotified(mut self) -> FirstAvailable {
        self.notified = false;
        self.fast = None;
        self
    }

    /// The replica's active count of `server` is now `active`.
    #[inline]
    pub(crate) fn active_changed(&mut self, server: u32, active: u32) {
        let max = self.max_conns;
        let Some(fast) = &mut self.fast else { return };
        let Some(slot) = fast.active.get_mut(server as usize) else { return };
        let old = std::mem::replace(slot, active);
        let position = fast.position[server as usize];
        if position == 0 {
            return;
        }
        let p = position - 1;
        fast.load.remove(&(old, p));
        fast.load.insert((active, p));
        if active < max {
            fast.open.insert(p);
        } else {
            fast.open.remove(&p);
        }
    }

    fn build(&self, view: &PickView<'_>) -> Fast {
        let eligible = view.eligible().to_vec();
        let n = view.server_count();
        let mut position = vec![0; n];
        let active: Vec<u32> = (0..n as u32).map(|s| view.active(s)).collect();
        let mut open = BTreeSet::new();
        let mut load = BTreeSet::new();
        for (p, &s) in eligible.iter().enumerate() {
            position[s as usize] = p as u32 + 1;
            load.insert((active[s as usize], p as u32));
            if active[s as usize] < self.max_conns {
                open.insert(p as u32);
            }
        }
        Fast { version: view.version(), eligible, position, active, open, load }
    }

    /// HAProxy's walk: the first eligible server below `max_conns`, else the least loaded.
    fn walk(&self, view: &PickView<'_>) -> Option<u32> {
        let eligible = view.eligible();
        if let Some(&s) = eligible.iter().find(|&&s| view.active(s) < self.max_conns) {
            return Some(s);
        }
        // All full (the walk visited every server: HAProxy's cost too): the least loaded.
        eligible.iter().copied().min_by_key(|&s| view.active(s))
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
        if !self.notified {
            return self.walk(view);
        }
        let version = view.version();
        if self.fast.as_ref().is_none_or(|f| f.version != version) {
            let repeated = self.last_version == Some(version);
            self.last_version = Some(version);
            if !repeated {
                return self.walk(view);
            }
            self.fast = Some(self.build(view));
        }
        let fast = self.fast.as_ref()?;
        let p = match fast.open.first() {
            Some(&p) => p,
            None => fast.load.first()?.1,
        };
        let s = fast.eligible[p as usize];
        debug_assert_eq!(fast.active[s as usize], view.active(s), "first: server {s}'s count was not reported");
        Some(s)
    }

    fn explain(&self, view: &PickView<'_>, rng: &SimRng) -> super::PickExplanation {
        super::explain::first(self, view, rng)
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
        /// Told of every count change, the ordered form picks what the walk picks, through
        /// arrivals, completions and health changes.
        #[test]
        fn ordered_form_matches_the_walk(
            n in 1usize..10,
            max in 1u32..4,
            steps in proptest::collection::vec((0u8..10, 0usize..10), 1..200),
        ) {
            let mut f = StaticView::new(&vec![1; n]);
            let mut fast = FirstAvailable::notified(max);
            let plain = FirstAvailable::new(max);
            let mut rng = SimRng::from_seed(1);
            for (what, which) in steps {
                let s = which % n;
                match what {
                    // A completion somewhere.
                    0..=2 => {
                        if f.active[s] > 0 {
                            f.active[s] -= 1;
                            fast.active_changed(s as u32, f.active[s]);
                        }
                    }
                    // A health change (the version moves).
                    3 => {
                        let up = !f.available[s];
                        if up || f.view().eligible().len() > 1 {
                            f.set_available(s as u32, up);
                        }
                    }
                    // A pick, and the request holds a count.
                    _ => {
                        let want = plain.walk(&f.view());
                        let got = fast.pick(&f.view(), &mut rng);
                        prop_assert_eq!(got, want);
                        if let Some(p) = got {
                            f.active[p as usize] += 1;
                            fast.active_changed(p, f.active[p as usize]);
                        }
                    }
                }
            }
        }

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
