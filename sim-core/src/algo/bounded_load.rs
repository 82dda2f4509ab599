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

use super::ketama::{KetamaRing, key_crc};
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
        }
    }

    /// A server's capacity in slots when `in_flight` requests are out (HAProxy's rule).
    pub fn slots(&self, view: &PickView<'_>, server: u32, in_flight: u64) -> u64 {
        // Percent arithmetic as HAProxy does it, so c = 1.25 is exact.
        let factor_pct = libm::round(self.factor * 100.0) as u64;
        let total_slots = ((in_flight + 1) * factor_pct).div_ceil(100);
        let tot_weight = self.total_weight.max(1);
        let weight = u64::from(view.weight(server));
        let cumulative = self.cumulative.get(server as usize).copied().unwrap_or(0);
        let per_weight = total_slots / tot_weight;
        let remainder = total_slots % tot_weight;
        let slots = weight * per_weight + ((cumulative + weight) * remainder) / tot_weight
            - (cumulative * remainder) / tot_weight;
        slots.max(1)
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
        let in_flight: u64 = view.eligible().iter().map(|&s| u64::from(view.active(s))).sum();
        let start = self.ring.find(key_crc(view.key()));
        let mut last = self.ring.points[start % n].1;
        for step in 0..n {
            let s = self.ring.points[(start + step) % n].1;
            last = s;
            if u64::from(view.active(s)) < self.slots(view, s, in_flight) {
                return Some(s);
            }
        }
        Some(last)
    }

    fn hash_share(&self, server: u32) -> Option<f64> {
        super::ring_share(self.ring.points.iter().map(|&(p, s)| (u64::from(p), s)), server, 4_294_967_296.0)
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
}
