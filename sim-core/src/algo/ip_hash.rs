//! `ip_hash`: nginx `ip_hash` (`src/http/modules/ngx_http_upstream_ip_hash_module.c`, 1.27+).
//!
//! The hash starts at 89 and folds in the first three octets of the IPv4 address:
//! `h = (h * 113 + octet) % 6271`. The peer is found by walking the configured peers with
//! `h % total_weight` (weights of every peer, down or not). If that peer cannot be used, the
//! same octets are folded into `h` again; after 20 re-hashes (or with fewer than two peers)
//! nginx falls back to smooth weighted round robin.
//!
//! nginx walks the peer list for each try; here the walk is a binary search over the
//! members' cumulative weights, rebuilt once per view version (the same peer: the first
//! whose cumulative weight exceeds `h % total_weight`).

use super::round_robin::SwrrState;
use super::{Balancer, PickView};
use crate::rng::SimRng;

/// nginx ip_hash.
#[derive(Clone, Debug, Default)]
pub struct IpHash {
    fallback: SwrrState,
    /// Cumulative weights of the members in configuration order (the last is the total).
    cumulative: Vec<u64>,
    /// The view version `cumulative` was built for (weights change with slow start).
    built_for: Option<u64>,
    /// Every member's weight, when they are all the same (and not 0).
    uniform: Option<u64>,
}

/// nginx's ip_hash constants.
const START: u32 = 89;
const MULTIPLIER: u32 = 113;
const MODULUS: u32 = 6271;
const MAX_TRIES: u32 = 20;

/// One round of the hash over the address's first three octets (network order).
pub(crate) fn fold(hash: u32, ip: u32) -> u32 {
    let octets = ip.to_be_bytes();
    octets[..3].iter().fold(hash, |h, &b| (h * MULTIPLIER + u32::from(b)) % MODULUS)
}

impl Balancer for IpHash {
    fn name(&self) -> &str {
        "ip_hash"
    }

    fn pick(&mut self, view: &PickView<'_>, _rng: &mut SimRng) -> Option<u32> {
        let members = view.members();
        if self.built_for != Some(view.version()) {
            self.cumulative.clear();
            let mut total = 0u64;
            self.cumulative.extend(members.iter().map(|&s| {
                total += u64::from(view.weight(s));
                total
            }));
            let first = members.first().map(|&s| view.weight(s));
            self.uniform = first.filter(|&w| w > 0 && members.iter().all(|&s| view.weight(s) == w)).map(u64::from);
            self.built_for = Some(view.version());
        }
        let total_weight = self.cumulative.last().copied().unwrap_or(0);
        if members.len() >= 2 && total_weight > 0 {
            let mut hash = START;
            for _ in 0..=MAX_TRIES {
                hash = fold(hash, view.source_ip());
                let w = u64::from(hash) % total_weight;
                // nginx's walk stops at the first peer whose cumulative weight exceeds `w`.
                // With equal weights that peer is `w / weight`, without the search.
                let i = match self.uniform {
                    Some(weight) => (w / weight) as usize,
                    None => self.cumulative.partition_point(|&c| c <= w),
                };
                let chosen = members[i];
                if view.is_available(chosen) {
                    return Some(chosen);
                }
            }
        }
        self.fallback.round(view, view.eligible().iter().copied())
    }

    fn explain(&self, view: &PickView<'_>, rng: &SimRng) -> super::PickExplanation {
        super::explain::hashed(
            self,
            view,
            rng,
            "ip_hash (nginx): the first three octets of the client's address are hashed onto the servers by weight; a hash landing on an unavailable server is re-hashed (20 times, then round robin).",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::StaticView;

    fn ip(a: u8, b: u8, c: u8, d: u8) -> u32 {
        u32::from_be_bytes([a, b, c, d])
    }

    fn pick(weights: &[u32], down: &[u32], addr: u32) -> u32 {
        let mut f = StaticView::new(weights);
        for &d in down {
            f.set_available(d, false);
        }
        f.source_ip = addr;
        IpHash::default().pick(&f.view(), &mut SimRng::from_seed(0)).unwrap()
    }

    /// Vectors computed by re-implementing nginx's loop exactly (hand check for 10.0.0.1:
    /// 89 → 3796 → 2520 → 2565, and 2565 % 3 = 0).
    #[test]
    fn nginx_vectors() {
        let cases = [
            (ip(10, 0, 0, 1), 0, 1, 0, 2),
            (ip(192, 168, 1, 77), 1, 1, 0, 1),
            (ip(172, 16, 5, 4), 1, 1, 1, 1),
            (ip(8, 8, 8, 8), 2, 2, 2, 2),
            (ip(1, 2, 3, 4), 1, 1, 0, 1),
        ];
        for (addr, equal, equal_down0, weighted, weighted_down0) in cases {
            assert_eq!(pick(&[1, 1, 1], &[], addr), equal, "{addr:x} 1,1,1");
            assert_eq!(pick(&[1, 1, 1], &[0], addr), equal_down0, "{addr:x} 1,1,1 peer 0 down");
            assert_eq!(pick(&[5, 1, 1], &[], addr), weighted, "{addr:x} 5,1,1");
            assert_eq!(pick(&[5, 1, 1], &[0], addr), weighted_down0, "{addr:x} 5,1,1 peer 0 down");
        }
        assert_eq!(fold(fold(fold(START, 0), 0), 0), fold(fold(fold(START, 0), 0), 0));
    }

    #[test]
    fn same_slash_24_same_server() {
        for last in 0..=255u8 {
            assert_eq!(pick(&[1, 1, 1, 1], &[], ip(10, 1, 2, last)), pick(&[1, 1, 1, 1], &[], ip(10, 1, 2, 0)));
        }
    }

    /// nginx's walk as written: the reference for the cumulative-weight search.
    fn naive(f: &StaticView) -> u32 {
        let view = f.view();
        let members = view.members();
        let total: u64 = members.iter().map(|&s| u64::from(view.weight(s))).sum();
        if members.len() >= 2 && total > 0 {
            let mut hash = START;
            for _ in 0..=MAX_TRIES {
                hash = fold(hash, view.source_ip());
                let mut w = u64::from(hash) % total;
                let mut chosen = members[0];
                for &s in members {
                    let weight = u64::from(view.weight(s));
                    if w < weight {
                        chosen = s;
                        break;
                    }
                    w -= weight;
                }
                if view.is_available(chosen) {
                    return chosen;
                }
            }
        }
        u32::MAX
    }

    /// Equal weights take the direct index instead of the search: at 7,000 servers of
    /// weight 2 (more weight units than nginx's hash reaches) with every seventh down, every
    /// address gets nginx's peer.
    #[test]
    fn equal_weights_index_as_nginx_walks() {
        let mut f = StaticView::new(&[2; 7000]);
        for s in (0..7000).step_by(7) {
            f.set_available(s, false);
        }
        let mut ih = IpHash::default();
        for a in 0..3000u32 {
            f.source_ip = a.wrapping_mul(0x9e37_79b9);
            let got = ih.pick(&f.view(), &mut SimRng::from_seed(0)).unwrap();
            assert_eq!(got, naive(&f), "address {:#x}", f.source_ip);
        }
        assert_eq!(ih.uniform, Some(2));
    }

    proptest::proptest! {
        /// The binary search finds nginx's peer for every address, under weight changes
        /// (zero weights too), health changes and membership changes.
        #[test]
        fn search_matches_nginx_walk(
            weights in proptest::collection::vec(0u32..5, 2..60),
            steps in proptest::collection::vec((0usize..64, 0u32..5, 0u8..4, proptest::num::u32::ANY), 1..120),
        ) {
            let mut f = StaticView::new(&weights);
            let mut ih = IpHash::default();
            let mut rng = SimRng::from_seed(0);
            for (i, w, what, addr) in steps {
                let n = f.weights.len();
                match what {
                    0 => f.weights[i % n] = w,
                    1 => f.set_available((i % n) as u32, !f.available[i % n]),
                    2 => {
                        let mut m: Vec<u32> = (0..n as u32).filter(|&s| s as usize != i % n).collect();
                        m.push((n + i % 3) as u32);
                        f.set_members(m);
                    }
                    _ => {}
                }
                f.source_ip = addr;
                let expected = naive(&f);
                if expected != u32::MAX {
                    proptest::prop_assert_eq!(ih.pick(&f.view(), &mut rng), Some(expected));
                }
            }
        }
    }
}
