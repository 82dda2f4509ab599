//! `haproxy_consistent_hash` and `haproxy_map_hash`: HAProxy 2.6's hash balancing (`balance
//! uri | url_param | hdr(…) | source`) with `hash-type consistent` (`src/lb_chash.c`) and
//! with `hash-type map-based`, HAProxy's default (`src/lb_map.c`, `map_get_server_hash`).
//!
//! The key's hash (`src/backend.c`, `get_server_uh`/`_ph`/`_hh`/`_sh`): `sdbm` of the key's
//! text (the URI up to `?`, the parameter's or header's value) for both, since `sdbm` is the
//! default function of `hash-type`; `balance source` takes the IPv4 address as a 32-bit
//! number instead. `hash-type consistent` alone also turns the avalanche on
//! (`cfgparse-listen.c`: "the default hash function is sdbm for map-based and sdbm+avalanche
//! for consistent"), so the consistent tree looks up `full_hash(hash)`; map-based uses the
//! hash as it is. With `hash_key_text` the key's text is hashed as HAProxy does; without it,
//! the request key's low 32 bits are the hash (for `source_ip` that is the address: exact).
//!
//! Consistent (`chash_init_server_tree`, `chash_queue_dequeue_srv`, `chash_get_server_hash`):
//! a server of weight w puts `w × BE_WEIGHT_SCALE` (16) points on a 32-bit tree, point j at
//! `full_hash(puid × SRV_EWGHT_RANGE + j)` (SRV_EWGHT_RANGE = 256 × 16), where `puid` is the
//! server's 1-based number in the backend (lbsim: its position among the scenario's servers,
//! which the importer declares in the backend's order). A down server's points leave the
//! tree. The lookup takes the first point ≥ the hash (wrapping to the first) and the point
//! before it (wrapping to the last) and picks the nearer one, the previous one on a tie.
//! Lookup is a binary search, O(log points), plus a step over each point of a server that
//! cannot be used. lbsim difference: for a retry, HAProxy walks on from the chosen point past
//! the server it avoids; lbsim takes the nearest point among the servers not yet tried.
//!
//! Map-based: the weights (divided by their gcd) fill the `recalc_server_map` map of the
//! servers that can be used (the map `static_rr` walks); a key goes to `map[hash % total]`,
//! so adding a server moves most keys.

use super::ring_index::{self, RingIndex};
use super::static_rr::server_map;
use super::{Balancer, PickView};
use crate::rng::SimRng;

/// `BE_WEIGHT_SCALE`: a consistent-hash server has this many points per unit of weight.
const BE_WEIGHT_SCALE: u32 = 16;
/// `SRV_EWGHT_RANGE` (`SRV_UWGHT_RANGE × BE_WEIGHT_SCALE`): the spacing of servers' point
/// seeds.
const SRV_EWGHT_RANGE: u32 = 256 * BE_WEIGHT_SCALE;

/// HAProxy's `full_hash` (`include/haproxy/intops.h`): one of Bob Jenkins' integer
/// avalanche functions, then a multiplication by 3221225473.
pub(crate) fn full_hash(mut a: u32) -> u32 {
    a = a.wrapping_add(0x7ed5_5d16).wrapping_add(a << 12);
    a = (a ^ 0xc761_c23c) ^ (a >> 19);
    a = a.wrapping_add(0x1656_67b1).wrapping_add(a << 5);
    a = a.wrapping_add(0xd3a2_646c) ^ (a << 9);
    a = a.wrapping_add(0xfd70_46c5).wrapping_add(a << 3);
    a = (a ^ 0xb55a_4f09) ^ (a >> 16);
    a.wrapping_mul(3_221_225_473)
}

/// HAProxy's `hash_sdbm` (`src/hash.c`), the default function of `hash-type`.
pub(crate) fn sdbm(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0u32, |h, &c| u32::from(c).wrapping_add(h << 6).wrapping_add(h << 16).wrapping_sub(h))
}

/// The key's 32-bit hash before any avalanche: the text's sdbm (`hash_key_text`, made by
/// `text_key`), else the key's low 32 bits: for `source_ip` the address itself, as HAProxy
/// hashes it; the other keys are lbsim's own well-mixed numbers.
fn key_hash(view: &PickView<'_>) -> u32 {
    view.key() as u32
}

/// The weights the structures were built for, and a cheap check that they still hold.
#[derive(Clone, Debug, Default)]
struct Built {
    members_version: Option<u64>,
    version: Option<u64>,
    weights: Vec<u32>,
}

impl Built {
    /// Whether the structure must be rebuilt for this view: the member list or a member's
    /// weight changed (checked once per view version, O(members)).
    fn stale(&mut self, view: &PickView<'_>) -> bool {
        if self.members_version != Some(view.members_version()) {
            return true;
        }
        if self.version == Some(view.version()) {
            return false;
        }
        self.version = Some(view.version());
        view.members().iter().zip(&self.weights).any(|(&s, &w)| view.weight(s) != w)
    }

    fn record(&mut self, view: &PickView<'_>) {
        self.members_version = Some(view.members_version());
        self.version = Some(view.version());
        self.weights = view.members().iter().map(|&s| view.weight(s)).collect();
    }
}

/// HAProxy `hash-type consistent`.
#[derive(Clone, Debug, Default)]
pub struct HaproxyConsistentHash {
    /// (point, server), sorted by point, then in insertion order (server order, then j).
    points: Vec<(u32, u32)>,
    /// Where each slice of the hash space starts (large trees only).
    index: RingIndex,
    built: Built,
}

/// A server's points: `eweight` = weight × 16, in lbsim's weight units.
fn eweight(view: &PickView<'_>, s: u32) -> u32 {
    let scale = view.weight_scale().max(1);
    (view.weight(s).saturating_mul(BE_WEIGHT_SCALE)).div_ceil(scale)
}

impl HaproxyConsistentHash {
    fn build(&mut self, view: &PickView<'_>) {
        self.points.clear();
        for &s in view.members() {
            let seed = (s + 1).wrapping_mul(SRV_EWGHT_RANGE);
            for j in 0..eweight(view, s) {
                self.points.push((full_hash(seed.wrapping_add(j)), s));
            }
        }
        // Stable: equal points (only possible past weight 256) keep eb32's insertion order.
        self.points.sort_by_key(|&(p, _)| p);
        self.index = RingIndex::build(self.points.len(), |i| u64::from(self.points[i].0) << 32);
        self.built.record(view);
    }

    /// The tree's (point, server) pairs, sorted (for the inspector and tests).
    pub fn points(&self) -> &[(u32, u32)] {
        &self.points
    }

    /// `chash_get_server_hash` over the points of usable servers, for an avalanched hash.
    fn lookup(&self, view: &PickView<'_>, hash: u32) -> Option<u32> {
        let n = self.points.len();
        if n == 0 {
            return None;
        }
        let start = ring_index::find(&self.points, &self.index, u64::from(hash) << 32, |&(p, _)| u64::from(p) << 32);
        // The first usable point at or after `start` (wrapping), then the usable point before it.
        // Walked as two ranges each way rather than by `(start ± k) % n`: no division per probe.
        let usable = |&i: &usize| view.is_available(self.points[i].1);
        let next = (start..n).chain(0..start).find(usable)?;
        let prev = (0..start).rev().chain((start..n).rev()).find(usable)?;
        let (pn, sn) = self.points[next];
        let (pp, sp) = self.points[prev];
        let dp = hash.wrapping_sub(pp);
        let dn = pn.wrapping_sub(hash);
        Some(if dp <= dn { sp } else { sn })
    }
}

impl Balancer for HaproxyConsistentHash {
    fn name(&self) -> &str {
        "haproxy_consistent_hash"
    }

    fn pick(&mut self, view: &PickView<'_>, _rng: &mut SimRng) -> Option<u32> {
        if view.eligible().is_empty() {
            return None;
        }
        if self.built.stale(view) {
            self.build(view);
        }
        self.lookup(view, full_hash(key_hash(view)))
    }

    /// A point owns the half arcs to its neighbours (the nearer point wins).
    fn hash_share(&self, server: u32) -> Option<f64> {
        let n = self.points.len();
        if n == 0 {
            return None;
        }
        let mut owned = 0.0;
        for i in 0..n {
            if self.points[i].1 != server {
                continue;
            }
            let p = self.points[i].0;
            let before = p.wrapping_sub(self.points[(i + n - 1) % n].0);
            let after = self.points[(i + 1) % n].0.wrapping_sub(p);
            owned += (f64::from(before) + f64::from(after)) / 2.0;
        }
        if n == 1 {
            return Some(1.0);
        }
        Some(owned / 4_294_967_296.0)
    }

    fn explain(&self, view: &PickView<'_>, rng: &SimRng) -> super::PickExplanation {
        super::explain::hashed(
            self,
            view,
            rng,
            "HAProxy consistent hash (lb_chash.c): the key's hash (sdbm, then the avalanche) finds the nearer of the tree's points on either side; each server has weight × 16 points.",
        )
    }
}

/// HAProxy `hash-type map-based`.
#[derive(Clone, Debug, Default)]
pub struct HaproxyMapHash {
    map: Vec<u32>,
    /// The view version the map was built for (the usable servers).
    built_for: Option<u64>,
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl HaproxyMapHash {
    /// `init_server_map` divides by the gcd of every server's weight; `recalc_server_map`
    /// fills the map with the usable ones.
    fn build(&mut self, view: &PickView<'_>) {
        let members = view.members();
        let g = members.iter().map(|&s| u64::from(view.weight(s))).fold(0, gcd).max(1);
        let servers: Vec<(u32, u64)> = members
            .iter()
            .filter(|&&s| view.is_available(s))
            .map(|&s| (s, u64::from(view.weight(s)).div_ceil(g)))
            .collect();
        self.map = server_map(&servers);
        self.built_for = Some(view.version());
    }
}

impl Balancer for HaproxyMapHash {
    fn name(&self) -> &str {
        "haproxy_map_hash"
    }

    fn pick(&mut self, view: &PickView<'_>, _rng: &mut SimRng) -> Option<u32> {
        if view.eligible().is_empty() {
            return None;
        }
        if self.built_for != Some(view.version()) {
            self.build(view);
        }
        let len = self.map.len() as u32;
        if len == 0 {
            return None;
        }
        Some(self.map[(key_hash(view) % len) as usize])
    }

    fn hash_share(&self, server: u32) -> Option<f64> {
        if self.map.is_empty() {
            return None;
        }
        Some(self.map.iter().filter(|&&s| s == server).count() as f64 / self.map.len() as f64)
    }

    fn explain(&self, view: &PickView<'_>, rng: &SimRng) -> super::PickExplanation {
        super::explain::hashed(
            self,
            view,
            rng,
            "HAProxy map-based hash (lb_map.c): the key's sdbm hash modulo the total weight picks a slot of the weight map of the usable servers.",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::{StaticView, text_key_of};
    use crate::scenario::Algorithm;
    use proptest::prelude::*;

    fn view_with_key(weights: &[u32], text: &str) -> StaticView {
        let mut v = StaticView::new(weights);
        v.key = u64::from(sdbm(text.as_bytes()));
        v
    }

    fn chash(weights: &[u32], down: &[u32], text: &str) -> u32 {
        let mut v = view_with_key(weights, text);
        for &d in down {
            v.set_available(d, false);
        }
        let mut view = v.view();
        view.key_text = true;
        HaproxyConsistentHash::default().pick(&view, &mut SimRng::from_seed(1)).unwrap()
    }

    fn map_hash(weights: &[u32], down: &[u32], text: &str) -> u32 {
        let mut v = view_with_key(weights, text);
        for &d in down {
            v.set_available(d, false);
        }
        let mut view = v.view();
        view.key_text = true;
        HaproxyMapHash::default().pick(&view, &mut SimRng::from_seed(1)).unwrap()
    }

    /// The naive tree: every usable point in a sorted Vec, the nearest by a linear scan.
    fn naive(weights: &[u32], up: &[bool], hash: u32) -> Option<u32> {
        let mut pts: Vec<(u32, u32)> = Vec::new();
        for (s, &w) in weights.iter().enumerate() {
            if !up[s] {
                continue;
            }
            for j in 0..w * 16 {
                pts.push((full_hash((s as u32 + 1) * 4096 + j), s as u32));
            }
        }
        pts.sort_by_key(|&(p, _)| p);
        let next = pts.iter().position(|&(p, _)| p >= hash).unwrap_or(0);
        let prev = if next == 0 { pts.len().checked_sub(1)? } else { next - 1 };
        let dp = hash.wrapping_sub(pts[prev].0);
        let dn = pts[next].0.wrapping_sub(hash);
        Some(if dp <= dn { pts[prev].1 } else { pts[next].1 })
    }

    /// sdbm and full_hash by hand: sdbm("a") = 97; sdbm("ab") = 98 + 97·65599 = 6363201;
    /// full_hash(0) from the six steps of intops.h then × 3221225473.
    #[test]
    fn hash_functions_by_hand() {
        assert_eq!(sdbm(b""), 0);
        assert_eq!(sdbm(b"a"), 97);
        assert_eq!(sdbm(b"ab"), 98 + 97 * 65_599);
        let mut a: u32 = 0x7ed5_5d16;
        a = (a ^ 0xc761_c23c) ^ (a >> 19);
        a = a.wrapping_add(0x1656_67b1).wrapping_add(a << 5);
        a = a.wrapping_add(0xd3a2_646c) ^ (a << 9);
        a = a.wrapping_add(0xfd70_46c5).wrapping_add(a << 3);
        a = (a ^ 0xb55a_4f09) ^ (a >> 16);
        assert_eq!(full_hash(0), a.wrapping_mul(3_221_225_473));
    }

    /// What the real HAProxy 2.6.12 did (`balance uri`, `hash-type consistent`, servers of
    /// weight 1 without `id`), measured by scripts/conformance.sh --only consistent-hash:
    /// the server (1-based) of /k1 … /k40 with four servers, then with a fifth added.
    #[test]
    fn haproxy_2_6_consistent_vectors() {
        let four = "3433223334432243342334441422313244332133";
        let five = "3433223554532543352335441422313545532133";
        for (n, want) in [(4usize, four), (5, five)] {
            let got: String =
                (1..=40).map(|i| char::from(b'1' + chash(&vec![1; n], &[], &format!("/k{i}")) as u8)).collect();
            assert_eq!(got, want, "{n} servers");
        }
    }

    /// The real HAProxy 2.6.12 with `hash-type map-based` (its default), measured by
    /// scripts/conformance.sh --only map-hash: /k1 … /k40 over four servers, then five.
    #[test]
    fn haproxy_2_6_map_based_vectors() {
        let four = "2341234124123412341341234123423412341231";
        let five = "3451234515123451234451234512334512345122";
        for (n, want) in [(4usize, four), (5, five)] {
            let got: String =
                (1..=40).map(|i| char::from(b'1' + map_hash(&vec![1; n], &[], &format!("/k{i}")) as u8)).collect();
            assert_eq!(got, want, "{n} servers");
        }
    }

    /// By hand: weights 4 and 2 reduce to 2 and 1, whose map is `a a b` (static_rr's tests),
    /// so a key goes to b when sdbm(key) % 3 = 2. With the middle of three servers down, the
    /// map is the other two: sdbm(key) % 2.
    #[test]
    fn map_based_by_hand() {
        for i in 1..=30 {
            let key = format!("/u{i}");
            let h = sdbm(key.as_bytes());
            assert_eq!(map_hash(&[4, 2], &[], &key), u32::from(h % 3 == 2), "{key}");
            assert_eq!(map_hash(&[1, 1, 1], &[1], &key), if h.is_multiple_of(2) { 0 } else { 2 }, "{key}");
        }
    }

    /// `balance source` hashes the IPv4 address as a number (`get_server_sh`: the 32-bit words
    /// in network order), not its text; the other keys are hashed as text with sdbm. With the
    /// map-based default, 10.0.0.x over four equal servers is then map[x % 4].
    #[test]
    fn source_addresses_hash_as_numbers() {
        use crate::scenario::HashKey;
        for alg in [Algorithm::HaproxyConsistentHash, Algorithm::HaproxyMapHash] {
            assert_eq!(text_key_of(alg, &HashKey::SourceIp, "10.0.0.7"), 0x0a00_0007);
            assert_eq!(text_key_of(alg, &HashKey::Path, "10.0.0.7"), u64::from(sdbm(b"10.0.0.7")));
        }
        for x in 0..20u32 {
            let mut v = StaticView::new(&[1, 1, 1, 1]);
            v.key = text_key_of(Algorithm::HaproxyMapHash, &HashKey::SourceIp, &format!("10.0.0.{x}"));
            let mut view = v.view();
            view.key_text = true;
            assert_eq!(HaproxyMapHash::default().pick(&view, &mut SimRng::from_seed(1)), Some(x % 4));
        }
    }

    /// A down server's points leave the tree: its keys go to the nearest point of another
    /// server, and no other key moves.
    #[test]
    fn a_down_server_moves_only_its_keys() {
        for i in 1..=40 {
            let key = format!("/k{i}");
            let up = chash(&[1, 1, 1, 1], &[], &key);
            let down = chash(&[1, 1, 1, 1], &[2], &key);
            if up == 2 {
                assert_ne!(down, 2, "{key}");
            } else {
                assert_eq!(down, up, "{key}");
            }
        }
    }

    /// A server of weight w has 16·w points; shares add up to one.
    #[test]
    fn points_follow_weights() {
        let v = StaticView::new(&[1, 3]);
        let mut b = HaproxyConsistentHash::default();
        b.pick(&v.view(), &mut SimRng::from_seed(1));
        assert_eq!(b.points().len(), 64);
        assert_eq!(b.points().iter().filter(|&&(_, s)| s == 1).count(), 48);
        let total = b.hash_share(0).unwrap() + b.hash_share(1).unwrap();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
    }

    proptest! {
        /// The binary search with usable-point steps finds what a linear scan over a tree of
        /// only the usable servers' points finds.
        #[test]
        fn lookup_matches_a_naive_tree(
            weights in proptest::collection::vec(0u32..5, 1..8),
            down in proptest::collection::vec(proptest::bool::ANY, 8),
            key in proptest::num::u32::ANY,
        ) {
            let mut v = StaticView::new(&weights);
            for (s, &d) in down.iter().enumerate().take(weights.len()) {
                if d {
                    v.set_available(s as u32, false);
                }
            }
            v.key = u64::from(key);
            let mut view = v.view();
            view.key_text = true;
            let up: Vec<bool> = (0..weights.len()).map(|s| v.available[s]).collect();
            let mut b = HaproxyConsistentHash::default();
            let got = b.pick(&view, &mut SimRng::from_seed(1));
            let want = naive(&weights, &up, full_hash(key));
            if view.eligible().is_empty() {
                prop_assert_eq!(got, None);
            } else {
                prop_assert_eq!(got, want);
            }
        }

        /// `full_hash` is a bijection (every step is invertible), so distinct seeds never share a point.
        #[test]
        fn full_hash_distinct(a in proptest::num::u32::ANY, b in proptest::num::u32::ANY) {
            prop_assume!(a != b);
            prop_assert_ne!(full_hash(a), full_hash(b));
        }
    }
    /// A tree large enough for the slice index (300 servers of weight 1–3: over 4,096
    /// points) looks up what the naive tree does, some servers down.
    #[test]
    fn an_indexed_tree_looks_up_as_the_naive_tree() {
        let weights: Vec<u32> = (0..300).map(|i| 1 + i % 3).collect();
        let mut v = StaticView::new(&weights);
        for s in (0..300).step_by(7) {
            v.set_available(s, false);
        }
        let up: Vec<bool> = (0..weights.len()).map(|s| v.available[s]).collect();
        let mut b = HaproxyConsistentHash::default();
        let mut key = 0x2545_f491u32;
        for _ in 0..3_000 {
            key ^= key << 13;
            key ^= key >> 17;
            key ^= key << 5;
            v.key = u64::from(key);
            let mut view = v.view();
            view.key_text = true;
            assert_eq!(b.pick(&view, &mut SimRng::from_seed(1)), naive(&weights, &up, full_hash(key)), "key {key}");
        }
        assert!(b.index.slice(0).is_some(), "{} points", b.points.len());
    }
}
