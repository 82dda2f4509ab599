//! `random_draws`: HAProxy's `balance random[(N)]`, following `get_server_rnd` in
//! `src/backend.c` (HAProxy 2.6 to 3.x).
//!
//! N draws (`balancer.choices`, default 2, HAProxy's `random(N)`), each a random hash looked
//! up in the consistent-hash tree of `src/lb_chash.c` (`chash_get_server_hash`), whose points
//! per server are proportional to its weight: lbsim draws each server with probability
//! proportional to its weight (the exact arc lengths of HAProxy's ring are not modelled). The
//! draws are *with* replacement; each new draw is compared with the best so far, and the new
//! one is kept unless `served(new) × weight(best) > served(best) × weight(new)`: ties go to
//! the later draw. A draw cost O(log n) (binary search in the cumulative weights).
//!
//! lbsim differences: on an equal load HAProxy compares the servers' recent session rates;
//! lbsim keeps the later draw. A draw landing on a server that is not eligible (down, or
//! already tried) is drawn again (HAProxy's tree holds only usable servers, so this is the
//! same distribution); after 32 such draws lbsim takes the first eligible server.

use super::random_two::MemberDraw;
use super::{Balancer, PickView};
use crate::rng::SimRng;

/// Redraws for an ineligible server before giving up on the draw.
const REDRAWS: u32 = 32;

/// HAProxy random with N draws.
#[derive(Clone, Debug, Default)]
pub struct RandomDraws {
    draws: u32,
    members: MemberDraw,
}

impl RandomDraws {
    /// `draws` draws per pick (HAProxy's default is 2).
    pub fn new(draws: u32) -> RandomDraws {
        RandomDraws { draws: draws.max(1), members: MemberDraw::default() }
    }

    fn one(&mut self, view: &PickView<'_>, rng: &mut SimRng) -> Option<u32> {
        for _ in 0..REDRAWS {
            let s = self.members.draw(view, rng)?;
            if view.is_available(s) {
                return Some(s);
            }
        }
        view.eligible().first().copied()
    }
}

impl Balancer for RandomDraws {
    fn name(&self) -> &str {
        "random_draws"
    }

    fn pick(&mut self, view: &PickView<'_>, rng: &mut SimRng) -> Option<u32> {
        self.choose(view, rng, None)
    }

    fn explain(&self, view: &PickView<'_>, rng: &SimRng) -> super::PickExplanation {
        // The draws the pick will make: the same draws on clones.
        let mut drawn = Vec::new();
        self.clone().choose(view, &mut rng.clone(), Some(&mut drawn));
        super::explain::least_loaded_of_draws(
            self,
            view,
            rng,
            "Random draws (HAProxy random(N)): N servers drawn by weight, with replacement; the lowest active ÷ weight wins, ties go to the later draw.",
            drawn,
        )
    }
}

impl RandomDraws {
    /// HAProxy's pick; `drawn` (for explanations) gets every draw in order.
    fn choose(&mut self, view: &PickView<'_>, rng: &mut SimRng, mut drawn: Option<&mut Vec<u32>>) -> Option<u32> {
        if view.eligible().is_empty() {
            return None;
        }
        self.members.refresh(view);
        let mut best = self.one(view, rng)?;
        if let Some(d) = drawn.as_deref_mut() {
            d.push(best);
        }
        for _ in 1..self.draws {
            let curr = self.one(view, rng)?;
            if let Some(d) = drawn.as_deref_mut() {
                d.push(curr);
            }
            if curr != best {
                let wcurr = u64::from(view.active(curr)) * u64::from(view.weight(best));
                let wprev = u64::from(view.active(best)) * u64::from(view.weight(curr));
                best = if wcurr > wprev { best } else { curr };
            }
        }
        Some(best)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::StaticView;
    use proptest::prelude::*;

    /// With equal weights each draw is `below(n)`: the exact result for a seed follows from
    /// the draws (later draw wins ties; the same server twice is no comparison).
    #[test]
    fn keeps_the_least_loaded_of_n_draws_later_on_ties() {
        let mut f = StaticView::new(&[1, 1, 1, 1, 1]);
        f.active = vec![4, 2, 2, 0, 7];
        for seed in 0..50 {
            let mut rng = SimRng::from_seed(seed);
            let d: Vec<u32> = (0..3).map(|_| rng.below(5) as u32).collect();
            let mut best = d[0];
            for &c in &d[1..] {
                if f.active[c as usize] <= f.active[best as usize] {
                    best = c;
                }
            }
            let mut b = RandomDraws::new(3);
            assert_eq!(b.pick(&f.view(), &mut SimRng::from_seed(seed)), Some(best), "seed {seed}: {d:?}");
        }
    }

    /// `random(1)` is plain weighted random.
    #[test]
    fn one_draw_follows_weights() {
        let f = StaticView::new(&[3, 1]);
        let mut b = RandomDraws::new(1);
        let mut rng = SimRng::from_seed(2);
        let zeros = (0..8000).filter(|_| b.pick(&f.view(), &mut rng) == Some(0)).count();
        assert!((5800..6200).contains(&zeros), "{zeros}");
    }

    proptest! {
        /// Against a naive loop over a linear scan of the cumulative weights.
        #[test]
        fn matches_a_naive_loop(
            weights in proptest::collection::vec(1u32..6, 1..10),
            active in proptest::collection::vec(0u32..6, 10),
            n in 1u32..5,
            seed in any::<u64>(),
        ) {
            let len = weights.len();
            let mut f = StaticView::new(&weights);
            f.active = active[..len].to_vec();
            let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
            let mut rng = SimRng::from_seed(seed);
            let mut draw = || {
                let mut x = rng.below(total);
                let mut s = 0;
                while x >= u64::from(weights[s]) {
                    x -= u64::from(weights[s]);
                    s += 1;
                }
                s
            };
            let mut best = draw();
            for _ in 1..n {
                let c = draw();
                if c != best && f.active[c] * weights[best] <= f.active[best] * weights[c] {
                    best = c;
                }
            }
            let mut b = RandomDraws::new(n);
            prop_assert_eq!(b.pick(&f.view(), &mut SimRng::from_seed(seed)), Some(best as u32));
        }
    }
}
