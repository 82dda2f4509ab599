//! `ip_hash`: nginx `ip_hash` (`src/http/modules/ngx_http_upstream_ip_hash_module.c`, 1.27+).
//!
//! The hash starts at 89 and folds in the first three octets of the IPv4 address:
//! `h = (h * 113 + octet) % 6271`. The peer is found by walking the configured peers with
//! `h % total_weight` (weights of every peer, down or not). If that peer cannot be used, the
//! same octets are folded into `h` again; after 20 re-hashes (or with fewer than two peers)
//! nginx falls back to smooth weighted round robin.

use super::round_robin::SwrrState;
use super::{Balancer, PickView};
use crate::rng::SimRng;

/// nginx ip_hash.
#[derive(Clone, Debug, Default)]
pub struct IpHash {
    fallback: SwrrState,
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
        let total_weight: u64 = members.iter().map(|&s| u64::from(view.weight(s))).sum();
        if members.len() >= 2 && total_weight > 0 {
            let mut hash = START;
            for _ in 0..=MAX_TRIES {
                hash = fold(hash, view.source_ip());
                let mut w = u64::from(hash) % total_weight;
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
}
