//! `consistent_hash`: Envoy's ring hash (`source/extensions/load_balancing_policies/ring_hash/
//! ring_hash_lb.cc`), built over the eligible (healthy) servers as Envoy builds it over
//! healthy hosts.
//!
//! Each server gets ring entries `xxHash64("<name>_<i>")` in proportion to its normalized
//! weight; the ring has at least `ring_size` entries (Envoy's `minimum_ring_size`, 1024 by
//! default). A request goes to the first entry whose hash is ≥ the request's hash, wrapping
//! around. The request hash is `xxHash64` of the 8 little-endian bytes of the request key.

use super::ring_index::{self, RingIndex};
use super::{Balancer, PickView};
use crate::rng::SimRng;

/// Envoy's largest ring.
const MAX_RING_SIZE: f64 = 8.0 * 1024.0 * 1024.0;

/// xxHash64 with a seed, as Envoy's `HashUtil::xxHash64`.
pub(crate) fn xxhash64(bytes: &[u8], seed: u64) -> u64 {
    twox_hash::XxHash64::oneshot(seed, bytes)
}

/// The hash a request is placed on the ring (or Maglev table) with.
pub(crate) fn request_hash(key: u64) -> u64 {
    xxhash64(&key.to_le_bytes(), 0)
}

/// A sorted hash ring of (hash, server) entries.
#[derive(Clone, Debug, Default)]
pub(crate) struct Ring {
    pub(crate) entries: Vec<(u64, u32)>,
    /// Where each slice of the hash space starts (large rings only).
    index: RingIndex,
}

impl Ring {
    /// Builds the ring over `servers` (names and weights from the view), as Envoy does.
    pub(crate) fn build(view: &PickView<'_>, servers: &[u32], min_ring_size: u32) -> Ring {
        let total: f64 = servers.iter().map(|&s| f64::from(view.weight(s))).sum();
        if servers.is_empty() || total <= 0.0 {
            return Ring::default();
        }
        let min_normalized = servers.iter().map(|&s| f64::from(view.weight(s)) / total).fold(f64::INFINITY, f64::min);
        let scale = (libm::ceil(min_normalized * f64::from(min_ring_size)) / min_normalized).min(MAX_RING_SIZE);
        let mut entries = Vec::with_capacity(libm::ceil(scale) as usize);
        let (mut current, mut target) = (0.0f64, 0.0f64);
        for &s in servers {
            target += scale * (f64::from(view.weight(s)) / total);
            let mut i = 0u64;
            while current < target {
                let key = format!("{}_{i}", view.name(s));
                entries.push((xxhash64(key.as_bytes(), 0), s));
                i += 1;
                current += 1.0;
            }
        }
        entries.sort_unstable();
        let index = RingIndex::build(entries.len(), |i| entries[i].0);
        Ring { entries, index }
    }

    /// The index of the first entry with hash ≥ `h`, wrapping to 0.
    pub(crate) fn index(&self, h: u64) -> usize {
        let i = ring_index::find(&self.entries, &self.index, h, |&(e, _)| e);
        if i == self.entries.len() { 0 } else { i }
    }

    /// The server for hash `h`.
    pub(crate) fn lookup(&self, h: u64) -> Option<u32> {
        if self.entries.is_empty() {
            return None;
        }
        Some(self.entries[self.index(h)].1)
    }
}

/// Envoy ring hash (consistent hashing).
#[derive(Clone, Debug)]
pub struct RingHash {
    min_ring_size: u32,
    ring: Ring,
    built_for: Option<u64>,
}

impl RingHash {
    /// A ring with at least `min_ring_size` entries.
    pub fn new(min_ring_size: u32) -> RingHash {
        RingHash { min_ring_size, ring: Ring::default(), built_for: None }
    }

    /// The ring's (hash, server) entries, sorted (for the browser's inspector).
    pub fn entries(&self) -> &[(u64, u32)] {
        &self.ring.entries
    }
}

impl Balancer for RingHash {
    fn name(&self) -> &str {
        "consistent_hash"
    }

    fn pick(&mut self, view: &PickView<'_>, _rng: &mut SimRng) -> Option<u32> {
        if self.built_for != Some(view.version()) {
            self.ring = Ring::build(view, view.eligible(), self.min_ring_size);
            self.built_for = Some(view.version());
        }
        self.ring.lookup(view.key_xxhash())
    }

    fn hash_share(&self, server: u32) -> Option<f64> {
        super::ring_share(self.ring.entries.iter().copied(), server, 18_446_744_073_709_551_616.0)
    }

    fn explain(&self, view: &PickView<'_>, rng: &SimRng) -> super::PickExplanation {
        super::explain::hashed(
            self,
            view,
            rng,
            "Ring hash (Envoy): the request's key is hashed onto a ring over the healthy hosts; the first entry at or after it wins. A server gets the keys of its share.",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::StaticView;

    /// A ring large enough for the slice index finds, for every probe, the entry a binary
    /// search of the whole ring finds.
    #[test]
    fn an_indexed_ring_finds_as_a_binary_search() {
        let f = StaticView::new(&[1, 2, 3, 1, 1]);
        let ring = Ring::build(&f.view(), f.view().eligible(), 20_000);
        assert!(ring.index.slice(0).is_some(), "{} entries", ring.entries.len());
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut probes: Vec<u64> =
            ring.entries.iter().step_by(11).flat_map(|&(h, _)| [h, h.wrapping_sub(1), h.wrapping_add(1)]).collect();
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            probes.push(x);
        }
        for h in probes.into_iter().chain([0, u64::MAX]) {
            let i = ring.entries.partition_point(|&(e, _)| e < h);
            assert_eq!(ring.index(h), if i == ring.entries.len() { 0 } else { i }, "hash {h:#x}");
        }
    }

    /// Envoy `RingHashLoadBalancerTest.Basic` (test/extensions/load_balancing_policies/
    /// ring_hash/ring_hash_lb_test.cc): hosts 127.0.0.1:90..95, minimum ring size 12.
    #[test]
    fn envoy_basic_ring() {
        let mut f = StaticView::new(&[1; 6]);
        f.names = (90..96).map(|p| format!("127.0.0.1:{p}")).collect();
        let ring = Ring::build(&f.view(), f.view().eligible(), 12);
        let port = |s: u32| 90 + s;
        let got: Vec<(u32, u64)> = ring.entries.iter().map(|&(h, s)| (port(s), h)).collect();
        let expected = vec![
            (94, 833437586790550860),
            (92, 928266305478181108),
            (90, 1033482794131418490),
            (95, 3551244743356806947),
            (93, 3851675632748031481),
            (91, 5583722120771150861),
            (91, 6311230543546372928),
            (93, 7700377290971790572),
            (95, 13144177310400110813),
            (92, 13444792449719432967),
            (94, 15516499411664133160),
            (90, 16117243373044804889),
        ];
        assert_eq!(got, expected);
        let host = |h: u64| port(ring.lookup(h).unwrap());
        assert_eq!(host(0), 94);
        assert_eq!(host(u64::MAX), 94);
        assert_eq!(host(3551244743356806947), 95);
        assert_eq!(host(3551244743356806948), 93);
        assert_eq!(host(16117243373044804880), 90);
    }

    #[test]
    fn ring_sizes_follow_envoy() {
        for (n, size) in [(1, 1024), (2, 1024), (3, 1026), (7, 1029), (100, 1100)] {
            let f = StaticView::new(&vec![1; n]);
            assert_eq!(Ring::build(&f.view(), f.view().eligible(), 1024).entries.len(), size, "n={n}");
        }
    }
}
