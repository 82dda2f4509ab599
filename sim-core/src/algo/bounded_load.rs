//! `bounded_load_hash`: consistent hashing with bounded loads (Mirrokni, Thorup and
//! Zadimoghaddam, arXiv:1608.01350) with the capacity rule of HAProxy's
//! `hash-balance-factor` (`src/lb_chash.c`, `chash_server_is_eligible`), on a ketama ring of
//! the eligible servers (as HAProxy keeps only usable servers in its tree).
//!
//! With `m` requests in flight from this replica, the total capacity is `⌈c · (m + 1)⌉` slots
//! (the new request included), spread over the servers by weight (the floor or ceiling of each
//! weighted share, at least 1). A server may take the request only if its load is below its
//! slots. The request starts at its ring position (first point ≥ crc32 of its key) and walks
//! clockwise to the first server with room, so no server exceeds its capacity.
//!
//! The walk is O(servers passed): with one hot key it passes every full server, and which
//! servers are full moves with the in-flight total (see docs/performance.md, 2026-11-28).

use super::ketama::KetamaRing;
use super::{Balancer, PickView};
use crate::rng::SimRng;

/// Consistent hashing with bounded loads.
#[derive(Clone, Debug)]
pub struct BoundedLoadHash {
    factor: f64,
    ring: KetamaRing,
    built_for: Option<u64>,
    /// Cumulative weight before each eligible server (HAProxy's `cumulative_weight`).
    cumulative: Vec<u64>,
    total_weight: u64,
    /// When the eligible servers are consecutive ids, the first: their loads are then one
    /// contiguous slice, summed without indirection.
    run_start: Option<u32>,
    /// Per server, the pick (`walk`) in which it was last found full: a walk meets each
    /// server at many ring points, and nothing changes during one pick.
    seen: Vec<u32>,
    /// The current pick's stamp for `seen`.
    walk: u32,
    /// Whether the caller reports every change of an active count (`active_changed`); then
    /// the in-flight total is kept up to date instead of summed at each pick.
    notified: bool,
    /// The counts as last reported, by server id, for the eligible servers of `built_for`
    /// (`u32::MAX` for the others).
    counts: Vec<u32>,
    /// Their total (with `notified`).
    in_flight: u64,
}

/// HAProxy's capacity rule with what depends only on the pick computed once.
struct Capacity {
    tot_weight: u64,
    per_weight: u64,
    remainder: u64,
}

impl Capacity {
    fn new(factor: f64, total_weight: u64, in_flight: u64) -> Capacity {
        // Percent arithmetic as HAProxy does it, so c = 1.25 is exact.
        let factor_pct = libm::round(factor * 100.0) as u64;
        let total_slots = ((in_flight + 1) * factor_pct).div_ceil(100);
        let tot_weight = total_weight.max(1);
        Capacity { tot_weight, per_weight: total_slots / tot_weight, remainder: total_slots % tot_weight }
    }

    /// The slots of a server of this weight after `cumulative` weight in configuration order.
    fn slots(&self, weight: u64, cumulative: u64) -> u64 {
        let slots = weight * self.per_weight + ((cumulative + weight) * self.remainder) / self.tot_weight
            - (cumulative * self.remainder) / self.tot_weight;
        slots.max(1)
    }

    /// `load < slots(weight, cumulative)`, mostly without dividing: the two floors in
    /// `slots` differ by `⌊weight · remainder / tot_weight⌋` or one more, so only a load equal
    /// to the smaller value needs the exact rule.
    fn has_room(&self, weight: u64, cumulative: u64, load: u64) -> bool {
        let base = weight * self.per_weight;
        if load < base.max(1) {
            return true;
        }
        if self.remainder == 0 {
            return false;
        }
        let lower = base + weight * self.remainder / self.tot_weight;
        if load < lower.max(1) {
            return true;
        }
        if load > lower {
            return false;
        }
        load < self.slots(weight, cumulative)
    }
}

impl BoundedLoadHash {
    /// Capacity factor `factor` (c ≥ 1; HAProxy's `hash-balance-factor` / 100).
    pub fn new(factor: f64) -> BoundedLoadHash {
        BoundedLoadHash {
            factor,
            ring: KetamaRing::default(),
            built_for: None,
            cumulative: Vec::new(),
            total_weight: 0,
            run_start: None,
            seen: Vec::new(),
            walk: 0,
            notified: false,
            counts: Vec::new(),
            in_flight: 0,
        }
    }

    /// An instance whose caller reports every change of an active count through
    /// [`BoundedLoadHash::active_changed`].
    pub(crate) fn notified(factor: f64) -> BoundedLoadHash {
        BoundedLoadHash { notified: true, ..BoundedLoadHash::new(factor) }
    }

    /// Stops relying on count-change reports.
    pub(crate) fn unnotified(mut self) -> BoundedLoadHash {
        self.notified = false;
        self
    }

    /// The replica's active count of `server` is now `active`.
    #[inline]
    pub(crate) fn active_changed(&mut self, server: u32, active: u32) {
        if let Some(known) = self.counts.get_mut(server as usize)
            && *known != u32::MAX
        {
            self.in_flight = self.in_flight + u64::from(active) - u64::from(*known);
            *known = active;
        }
    }

    /// A server's capacity in slots when `in_flight` requests are out (HAProxy's rule).
    pub fn slots(&self, view: &PickView<'_>, server: u32, in_flight: u64) -> u64 {
        let weight = u64::from(view.weight(server));
        let cumulative = self.cumulative.get(server as usize).copied().unwrap_or(0);
        Capacity::new(self.factor, self.total_weight, in_flight).slots(weight, cumulative)
    }

    fn rebuild(&mut self, view: &PickView<'_>) {
        self.ring = KetamaRing::build(view, view.eligible());
        self.cumulative = vec![0; view.server_count()];
        let mut acc = 0u64;
        for &s in view.eligible() {
            self.cumulative[s as usize] = acc;
            acc += u64::from(view.weight(s));
        }
        self.total_weight = acc;
        let eligible = view.eligible();
        let consecutive = eligible.iter().enumerate().all(|(i, &s)| s as usize == eligible[0] as usize + i);
        self.run_start = eligible.first().copied().filter(|_| consecutive);
        self.seen = vec![0; view.server_count()];
        self.walk = 0;
        if self.notified {
            self.counts = vec![u32::MAX; view.server_count()];
            for &s in view.eligible() {
                self.counts[s as usize] = view.active(s);
            }
            self.in_flight = view.eligible().iter().map(|&s| u64::from(view.active(s))).sum();
        }
        self.built_for = Some(view.version());
    }
}

impl Balancer for BoundedLoadHash {
    fn name(&self) -> &str {
        "bounded_load_hash"
    }

    fn pick(&mut self, view: &PickView<'_>, _rng: &mut SimRng) -> Option<u32> {
        if self.built_for != Some(view.version()) {
            self.rebuild(view);
        }
        let n = self.ring.points.len();
        if n == 0 {
            return None;
        }
        let in_flight: u64 = match self.run_start {
            _ if self.notified => self.in_flight,
            Some(first) => {
                view.active[first as usize..first as usize + view.eligible.len()].iter().map(|&a| u64::from(a)).sum()
            }
            None => view.eligible().iter().map(|&s| u64::from(view.active(s))).sum(),
        };
        let capacity = Capacity::new(self.factor, self.total_weight, in_flight);
        if self.walk == u32::MAX {
            self.seen.fill(0);
            self.walk = 0;
        }
        self.walk += 1;
        let start = self.ring.find(view.key_crc());
        // The walk from `start` to the end of the ring, then from its beginning: the first
        // server with room, skipping servers already found full in this walk.
        let (tail, head) = self.ring.points.split_at(start % n);
        for &(_, s) in head.iter().chain(tail) {
            let seen = &mut self.seen[s as usize];
            if *seen == self.walk {
                continue;
            }
            *seen = self.walk;
            if capacity.has_room(u64::from(view.weight(s)), self.cumulative[s as usize], u64::from(view.active(s))) {
                return Some(s);
            }
        }
        // Every server full: the walk ends where it started, on the last point before it.
        Some(self.ring.points[(start + n - 1) % n].1)
    }

    fn hash_share(&self, server: u32) -> Option<f64> {
        super::ring_share(self.ring.points.iter().map(|&(p, s)| (u64::from(p), s)), server, 4_294_967_296.0)
    }

    fn explain(&self, view: &PickView<'_>, rng: &SimRng) -> super::PickExplanation {
        super::explain::hashed(
            self,
            view,
            rng,
            "Consistent hashing with bounded loads: the request's key is hashed onto the ring; a server at its load bound ⌈c·(m+1)⌉ passes the request to the next one clockwise.",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::StaticView;

    #[test]
    fn capacity_is_ceil_c_times_load() {
        let f = StaticView::new(&[1, 1, 1, 1]);
        let mut b = BoundedLoadHash::new(1.25);
        b.pick(&f.view(), &mut SimRng::from_seed(0));
        // 15 in flight + 1 new = 16; 16 × 1.25 = 20 slots over 4 servers: 5 each.
        assert!((0..4).all(|s| b.slots(&f.view(), s, 15) == 5));
        // 1 × 1.25 → 2 slots: floor/ceil spread gives 0,1,0,1 → at least 1 each.
        let total: u64 = (0..4).map(|s| b.slots(&f.view(), s, 0)).sum();
        assert_eq!(total, 4);
    }

    #[test]
    fn a_full_server_overflows_clockwise() {
        let mut f = StaticView::new(&[1, 1, 1]);
        f.key = 42;
        let mut b = BoundedLoadHash::new(1.25);
        let mut rng = SimRng::from_seed(0);
        let home = b.pick(&f.view(), &mut rng).unwrap();
        f.active[home as usize] = 10;
        let moved = b.pick(&f.view(), &mut rng).unwrap();
        assert_ne!(moved, home);
        let cap = b.slots(&f.view(), moved, 10);
        assert!(u64::from(f.active[moved as usize]) < cap);
    }

    /// The walk as it was first written: every ring point in turn, HAProxy's capacity rule
    /// computed plainly for each, the in-flight total summed through the eligible list.
    fn plain_pick(b: &BoundedLoadHash, v: &PickView<'_>) -> Option<u32> {
        let n = b.ring.points.len();
        if n == 0 {
            return None;
        }
        let in_flight: u64 = v.eligible().iter().map(|&s| u64::from(v.active(s))).sum();
        let total_slots = ((in_flight + 1) * 125).div_ceil(100);
        let tot: u64 = v.eligible().iter().map(|&s| u64::from(v.weight(s))).sum::<u64>().max(1);
        let start = b.ring.find(v.key_crc());
        let mut last = b.ring.points[start % n].1;
        for step in 0..n {
            let s = b.ring.points[(start + step) % n].1;
            last = s;
            let before: u64 = v.eligible().iter().take_while(|&&e| e != s).map(|&e| u64::from(v.weight(e))).sum();
            let w = u64::from(v.weight(s));
            let slots = (w * (total_slots / tot) + ((before + w) * (total_slots % tot)) / tot
                - (before * (total_slots % tot)) / tot)
                .max(1);
            if u64::from(v.active(s)) < slots {
                return Some(s);
            }
        }
        Some(last)
    }

    proptest::proptest! {
        /// The walk that skips servers already found full, with the in-flight total summed
        /// over a slice, picks exactly what the plain walk picks, whatever the loads, weights,
        /// keys, eligible set and members.
        #[test]
        fn fast_walk_matches_the_plain_walk(
            weights in proptest::collection::vec(1u32..4, 1..12),
            holes in proptest::collection::vec(0usize..12, 0..3),
            extra in 0u32..3,
            steps in proptest::collection::vec((proptest::num::u64::ANY, 0usize..15, 0u32..4), 1..120),
        ) {
            let n = weights.len();
            let mut f = StaticView::new(&weights);
            if extra > 0 {
                f.set_members((0..n as u32 + extra).collect());
            }
            for h in holes {
                if h < f.weights.len() {
                    f.set_available(h as u32, false);
                }
            }
            let mut b = BoundedLoadHash::new(1.25);
            // As the simulation makes it: told of every count change, it keeps the total.
            let mut told = BoundedLoadHash::notified(1.25);
            let mut rng = SimRng::from_seed(0);
            for (key, server, delta) in steps {
                f.key = key;
                let got = b.pick(&f.view(), &mut rng);
                proptest::prop_assert_eq!(got, plain_pick(&b, &f.view()));
                proptest::prop_assert_eq!(told.pick(&f.view(), &mut rng), got);
                if let Some(s) = got {
                    f.active[s as usize] += 1;
                    told.active_changed(s, f.active[s as usize]);
                }
                // Some requests end.
                let i = server % f.active.len();
                f.active[i] = f.active[i].saturating_sub(delta);
                told.active_changed(i as u32, f.active[i]);
            }
        }
    }
}
