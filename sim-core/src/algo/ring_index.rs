//! A slice index over a sorted ring of hash points, shared by the rings of nginx's ketama,
//! Envoy's ring hash and HAProxy's consistent hash: where each slice of the hash space
//! starts, so the first point at or after a hash is searched for in one slice (about eight
//! points) instead of by a binary search of the whole ring, which at 100,000 servers
//! (16 M ketama points, 128 MiB) costs a cache miss per step. Lookups give exactly the
//! binary search's answer; the index only narrows where it looks.

/// Rings with fewer points are searched whole (a few cache lines per search).
const INDEX_FROM: usize = 1 << 12;
/// About this many points per slice (fewer where the hashes spread evenly).
const POINTS_PER_SLICE: usize = 8;
/// At most 2^24 slices (64 MiB of index for the largest rings).
const MAX_BITS: u32 = 24;

/// Where the points of each `2^(64 − bits)`-wide slice of the (64-bit) hash space start.
#[derive(Clone, Debug, Default)]
pub(crate) struct RingIndex {
    /// 64 − bits: a hash's slice is `hash >> shift`.
    shift: u32,
    /// `starts[b]` = the number of points below slice `b`; the last entry is the ring's
    /// length. Empty: no index (a small ring, or one too long for `u32` positions).
    starts: Vec<u32>,
}

impl RingIndex {
    /// The index of a ring of `len` points whose `i`-th hash (sorted ascending, as the top
    /// bits of a `u64`: a 32-bit point is `p << 32`) is `hash(i)`.
    pub(crate) fn build(len: usize, hash: impl Fn(usize) -> u64) -> RingIndex {
        if len < INDEX_FROM || u32::try_from(len).is_err() {
            return RingIndex::default();
        }
        let bits = (len / POINTS_PER_SLICE).next_power_of_two().trailing_zeros().min(MAX_BITS);
        let shift = 64 - bits;
        let slices = 1u64 << bits;
        let mut starts = Vec::with_capacity(slices as usize + 1);
        let mut i = 0usize;
        for b in 0..slices {
            while i < len && hash(i) >> shift < b {
                i += 1;
            }
            starts.push(i as u32);
        }
        starts.push(len as u32);
        RingIndex { shift, starts }
    }

    /// The positions `lo..hi` the first point ≥ `h` lies in (points before are below `h`,
    /// points after above); `None` without an index (search the whole ring).
    #[inline]
    pub(crate) fn slice(&self, h: u64) -> Option<(usize, usize)> {
        if self.starts.is_empty() {
            return None;
        }
        let b = (h >> self.shift) as usize;
        Some((self.starts[b] as usize, self.starts[b + 1] as usize))
    }

    /// Bytes it holds.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.starts.len() * 4
    }
}

/// The first position whose point is ≥ `h` in a sorted ring (may be `points.len()`), through
/// the index where there is one.
#[inline]
pub(crate) fn find<T>(points: &[T], index: &RingIndex, h: u64, key: impl Fn(&T) -> u64) -> usize {
    match index.slice(h) {
        Some((lo, hi)) => lo + points[lo..hi].partition_point(|p| key(p) < h),
        None => points.partition_point(|p| key(p) < h),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every probe finds what a binary search of the whole ring finds: points, their
    /// neighbours, slice edges, the ends of the hash space and random hashes, on rings with
    /// even and with clustered points (runs of equal high bits, empty slices).
    #[test]
    fn lookups_match_a_whole_binary_search() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let even: Vec<u64> = (0..50_000).map(|_| next()).collect();
        let clustered: Vec<u64> = (0..20_000).map(|i| if i % 3 == 0 { next() } else { next() >> 20 }).collect();
        for mut ring in [even, clustered] {
            ring.sort_unstable();
            let index = RingIndex::build(ring.len(), |i| ring[i]);
            assert!(index.bytes() > 0);
            let mut probes = vec![0, 1, u64::MAX, u64::MAX - 1];
            for &p in ring.iter().step_by(37) {
                probes.extend([p, p.wrapping_sub(1), p.wrapping_add(1), p & !0xffff_ffff, p | 0xffff_ffff]);
            }
            probes.extend((0..20_000).map(|_| next()));
            for h in probes {
                assert_eq!(find(&ring, &index, h, |&p| p), ring.partition_point(|&p| p < h), "hash {h:#x}");
            }
        }
    }

    #[test]
    fn small_rings_have_no_index() {
        let ring: Vec<u64> = (0..100).map(|i| i << 40).collect();
        assert!(RingIndex::build(ring.len(), |i| ring[i]).slice(5).is_none());
    }
}
