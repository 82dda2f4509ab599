//! `consistent_hash`: nginx `hash $key consistent` (`src/http/modules/
//! ngx_http_upstream_hash_module.c`, `ngx_http_upstream_init_chash` and
//! `ngx_http_upstream_get_chash_peer`), the ketama ring of Cache::Memcached::Fast.
//!
//! Every server puts 160 points per unit of weight on a 32-bit ring: point j is
//! `crc32(host \0 port prev)`, where `prev` is point j−1 as four little-endian bytes (0 for
//! the first), and host/port come from the server's address (`servers[].address`, the text of
//! nginx's `server` line, e.g. `10.0.0.1:8080`), or its name without one (`api-1`: no port). Points are
//! sorted and de-duplicated. A request goes to the first point ≥ `crc32(key)`, wrapping
//! around; if that server cannot be used, the walk goes on clockwise point by point, at most
//! 20 more, then nginx falls back to round robin. The key's crc32 is of its text with
//! `hash_key_text` (the path, header value, dotted address: what nginx hashes), else of the
//! request key as decimal text.
//! Because a server's points depend only on its own name and weight, adding a server moves
//! only the keys that now land on its points: about 1/(n+1) of them.

use super::ring_index::PointTable;
use super::round_robin::SwrrState;
use super::{Balancer, PickView};
use crate::rng::SimRng;

/// nginx's points per unit of weight.
const POINTS_PER_WEIGHT: u32 = 160;
/// Further points nginx tries before falling back to round robin.
const MAX_TRIES: usize = 20;

/// nginx's host and port split of a `server` string: the port is the digits after the last ':'
/// (a `unix:` socket path is all host).
fn split_host_port(name: &str) -> (&[u8], &[u8]) {
    let bytes = name.as_bytes();
    if bytes.len() >= 5 && bytes[..5].eq_ignore_ascii_case(b"unix:") {
        return (&bytes[5..], &[]);
    }
    let digits = bytes.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    if digits < bytes.len() && bytes[bytes.len() - digits - 1] == b':' {
        (&bytes[..bytes.len() - digits - 1], &bytes[bytes.len() - digits..])
    } else {
        (bytes, &[])
    }
}

/// A ketama ring: sorted (point, server) pairs.
#[derive(Clone, Debug, Default)]
pub(crate) struct KetamaRing {
    pub(crate) points: Vec<(u32, u32)>,
    /// Finds a hash's point in one cache line (large rings).
    table: PointTable,
}

impl KetamaRing {
    /// Builds the ring over `servers`, named and weighted as in the view.
    pub(crate) fn build(view: &PickView<'_>, servers: &[u32]) -> KetamaRing {
        let mut points = Vec::with_capacity(servers.iter().map(|&s| view.weight(s) as usize).sum::<usize>() * 160);
        // Points carry the server's place in `servers` while sorted: ties of a point then
        // stay in the order they were made (nginx's stable sort) in an unstable sort.
        for (i, &s) in servers.iter().enumerate() {
            let (host, port) = split_host_port(view.name(s));
            let mut base = crc32fast::Hasher::new();
            base.update(host);
            base.update(&[0]);
            base.update(port);
            let mut prev = 0u32;
            for _ in 0..view.weight(s) * POINTS_PER_WEIGHT {
                let mut h = base.clone();
                h.update(&prev.to_le_bytes());
                prev = h.finalize();
                points.push((prev, i as u32));
            }
        }
        points.sort_unstable();
        points.dedup_by_key(|&mut (h, _)| h);
        for p in &mut points {
            p.1 = servers[p.1 as usize];
        }
        let table = PointTable::build(&points);
        KetamaRing { points, table }
    }

    /// Index of the first point ≥ `hash` (may be `len`, which wraps to 0).
    #[cfg(test)]
    pub(crate) fn find(&self, hash: u32) -> usize {
        self.table.find(&self.points, hash).0
    }

    /// Asks for the table line [`KetamaRing::find_server`] will read for `hash` (a hint).
    #[inline]
    pub(crate) fn prefetch(&self, hash: u32) {
        self.table.prefetch(hash);
    }

    /// The servers of the points in ring order from position `start` (as
    /// [`KetamaRing::find_server`] found it for `hash`), once around.
    pub(crate) fn walk_from(&self, hash: u32, start: usize) -> super::ring_index::RingWalk<'_> {
        self.table.walk_from(&self.points, hash, start)
    }

    /// The first point ≥ `hash`, wrapping: its index and its server.
    pub(crate) fn find_server(&self, hash: u32) -> (usize, u32) {
        match self.table.find(&self.points, hash) {
            (i, Some(s)) => (i, s),
            (i, None) => {
                let i = if i == self.points.len() { 0 } else { i };
                (i, self.points[i].1)
            }
        }
    }
}

/// The crc32 nginx hashes a key with (of the key as decimal text, written without an
/// allocation: this runs on every pick).
pub(crate) fn key_crc(key: u64) -> u32 {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut k = key;
    loop {
        i -= 1;
        buf[i] = b'0' + (k % 10) as u8;
        k /= 10;
        if k == 0 {
            break;
        }
    }
    crc32fast::hash(&buf[i..])
}

/// nginx consistent hashing (ketama).
#[derive(Clone, Debug, Default)]
pub struct KetamaHash {
    ring: KetamaRing,
    built_for: Option<u64>,
    fallback: SwrrState,
}

impl KetamaHash {
    /// Asks for the ring line a pick for `key_crc` reads (a hint).
    #[inline]
    pub(crate) fn prefetch(&self, key_crc: u32) {
        self.ring.prefetch(key_crc);
    }

    /// The ring's (point, server) pairs, sorted (for the browser's inspector).
    pub fn points(&self) -> &[(u32, u32)] {
        &self.ring.points
    }

    fn pick_hash(&mut self, view: &PickView<'_>, hash: u32) -> Option<u32> {
        if self.built_for != Some(view.members_version()) {
            self.ring = KetamaRing::build(view, view.members());
            self.built_for = Some(view.members_version());
        }
        let n = self.ring.points.len();
        if view.members().len() >= 2 && n > 0 {
            let (start, first) = self.ring.find_server(hash);
            if view.is_available(first) {
                return Some(first);
            }
            for step in 1..=MAX_TRIES {
                let s = self.ring.points[(start + step) % n].1;
                if view.is_available(s) {
                    return Some(s);
                }
            }
        }
        self.fallback.round(view, view.eligible().iter().copied())
    }
}

impl Balancer for KetamaHash {
    fn name(&self) -> &str {
        "consistent_hash"
    }

    fn pick(&mut self, view: &PickView<'_>, _rng: &mut SimRng) -> Option<u32> {
        self.pick_hash(view, view.key_crc())
    }

    fn hash_share(&self, server: u32) -> Option<f64> {
        super::ring_share(self.ring.points.iter().map(|&(p, s)| (u64::from(p), s)), server, 4_294_967_296.0)
    }

    fn explain(&self, view: &PickView<'_>, rng: &SimRng) -> super::PickExplanation {
        super::explain::hashed(
            self,
            view,
            rng,
            "Consistent hashing (nginx ketama): the request's key is hashed onto a ring of 160 points per weight; the first point at or after it wins, walking past unavailable servers.",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::StaticView;

    fn pick(weights: &[u32], down: &[u32], key: &str) -> u32 {
        let mut v = StaticView::new(weights);
        v.names = ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"].iter().map(|s| s.to_string()).collect();
        for &d in down {
            v.set_available(d, false);
        }
        KetamaHash::default().pick_hash(&v.view(), crc32fast::hash(key.as_bytes())).unwrap()
    }

    #[test]
    fn splits_host_and_port_like_nginx() {
        assert_eq!(split_host_port("10.0.0.1:80"), (&b"10.0.0.1"[..], &b"80"[..]));
        assert_eq!(split_host_port("api-1"), (&b"api-1"[..], &b""[..]));
        assert_eq!(split_host_port("host:"), (&b"host"[..], &b""[..]));
        assert_eq!(split_host_port("unix:/tmp/a:80"), (&b"/tmp/a:80"[..], &b""[..]));
    }

    /// Vectors from re-implementing nginx's `ngx_http_upstream_init_chash` exactly: servers
    /// "10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"; the ring has 480 points and the first
    /// point of 10.0.0.1:80 is crc32("10.0.0.1\0" "80" 00 00 00 00) = 0xa2ad5d56.
    #[test]
    fn nginx_vectors() {
        let mut v = StaticView::new(&[1, 1, 1]);
        v.names = ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"].iter().map(|s| s.to_string()).collect();
        let ring = KetamaRing::build(&v.view(), &[0, 1, 2]);
        assert_eq!(ring.points.len(), 480);
        assert!(ring.points.contains(&(0xa2ad5d56, 0)));
        assert_eq!(pick(&[1, 1, 1], &[], "a"), 1);
        assert_eq!(pick(&[1, 1, 1], &[], "b"), 2);
        assert_eq!(pick(&[1, 1, 1], &[], "user42"), 2);
        assert_eq!(pick(&[5, 1, 1], &[], "a"), 0);
        assert_eq!(pick(&[5, 1, 1], &[], "b"), 2);
        assert_eq!(pick(&[5, 1, 1], &[], "user42"), 0);
        // Keys on 10.0.0.1 walk clockwise to the next live point when it is down.
        assert_eq!(pick(&[1, 1, 1], &[], "user1"), 0);
        assert_eq!(pick(&[1, 1, 1], &[0], "user1"), 1);
        assert_eq!(pick(&[1, 1, 1], &[0], "user2"), 2);
        assert_eq!(pick(&[1, 1, 1], &[0], "user9"), 2);
    }

    proptest::proptest! {
        /// The key's decimal text is written as `to_string` writes it.
        #[test]
        fn key_crc_hashes_the_decimal_text(key in proptest::num::u64::ANY) {
            proptest::prop_assert_eq!(key_crc(key), crc32fast::hash(key.to_string().as_bytes()));
        }
    }

    /// Equal points of two servers keep the one made first, as nginx's stable sort and
    /// de-duplication do: 3,000 servers' 480,000 points have a few dozen such ties, listed in
    /// both orders.
    #[test]
    fn tied_points_keep_the_server_listed_first() {
        let v = StaticView::new(&vec![1; 3000]);
        for servers in [(0..3000).collect::<Vec<u32>>(), (0..3000).rev().collect()] {
            let ring = KetamaRing::build(&v.view(), &servers);
            // The reference: each server's points in list order (a ring of one server: its
            // own ties are its own), a stable sort by hash, the first of each.
            let mut want: Vec<(u32, u32)> = Vec::new();
            for &s in &servers {
                want.extend(KetamaRing::build(&v.view(), &[s]).points);
            }
            let ties = {
                let mut hashes: Vec<u32> = want.iter().map(|p| p.0).collect();
                hashes.sort_unstable();
                hashes.windows(2).filter(|w| w[0] == w[1]).count()
            };
            assert!(ties >= 5, "only {ties} ties");
            want.sort_by_key(|&(h, _)| h);
            want.dedup_by_key(|&mut (h, _)| h);
            assert_eq!(ring.points, want);
        }
    }

    /// The slice index finds the same point as a binary search over the whole ring, at the
    /// edges of slices and of the ring too.
    #[test]
    fn indexed_find_matches_binary_search() {
        let v = StaticView::new(&vec![1; 200]);
        let ring = KetamaRing::build(&v.view(), &(0..200).collect::<Vec<u32>>());
        assert!(ring.table.bytes() >= 64 << 10, "{} points", ring.points.len());
        let mut probes: Vec<u32> = vec![0, 1, u32::MAX, u32::MAX - 1, 0xffff, 0x10000];
        for &(p, _) in ring.points.iter().step_by(97) {
            probes.extend([p, p.wrapping_sub(1), p.wrapping_add(1), p & 0xffff_0000, p | 0xffff]);
        }
        let mut x = 0x9e37_79b9u32;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            probes.push(x);
        }
        for h in probes {
            let i = ring.points.partition_point(|&(p, _)| p < h);
            assert_eq!(ring.find(h), i, "hash {h:#x}");
            assert_eq!(
                ring.find_server(h),
                (i % ring.points.len(), ring.points[i % ring.points.len()].1),
                "hash {h:#x}"
            );
        }
    }
}
