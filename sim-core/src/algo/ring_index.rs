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

/// Points a [`PointTable`] line holds.
const LINE_POINTS: usize = 14;

/// One slice of a [`PointTable`]: a cache line.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct Line {
    /// Where the slice's points start in the ring.
    start: u32,
    /// How many points the slice has (more than [`LINE_POINTS`]: only `start` is kept).
    len: u32,
    /// Its points: the bits of the hash below the slice's, then the server.
    packed: [u32; LINE_POINTS],
}

/// A lookup table over a sorted ring of `(u32 hash, server)` points that answers in one
/// cache line what the slice index and the ring answer in two: one line per slice of the
/// hash space, with where the slice's points start and the points themselves, packed (the
/// hash bits below the slice's, then the server). 64 bytes per 4–8 points, so it is kept
/// only where it pays: rings of [`INDEX_FROM`] points or more whose hash and server bits fit
/// 32; otherwise [`PointTable::find`] searches the ring through a [`RingIndex`].
#[derive(Clone, Debug, Default)]
pub(crate) struct PointTable {
    /// 32 − bits: a hash's slice is `hash >> shift` (the packed hash bits are the `shift` low
    /// bits).
    shift: u32,
    /// Bits of a packed point's server.
    server_bits: u32,
    lines: Vec<Line>,
    /// The index used instead when there are no lines.
    index: RingIndex,
}

impl PointTable {
    /// The table of a ring of points sorted by hash.
    pub(crate) fn build(points: &[(u32, u32)]) -> PointTable {
        let len = points.len();
        let index = || RingIndex::build(len, |i| u64::from(points[i].0) << 32);
        if len < INDEX_FROM || u32::try_from(len).is_err() {
            return PointTable { index: index(), ..PointTable::default() };
        }
        let bits = (len / POINTS_PER_SLICE).next_power_of_two().trailing_zeros().clamp(1, MAX_BITS);
        let shift = 32 - bits;
        let max_server = points.iter().map(|&(_, s)| s).max().unwrap_or(0);
        let server_bits = 32 - max_server.leading_zeros();
        if shift + server_bits > 32 {
            return PointTable { index: index(), ..PointTable::default() };
        }
        let low_mask = (1u32 << shift) - 1;
        let mut lines = Vec::with_capacity(1 << bits);
        let mut i = 0usize;
        for b in 0..1u32 << bits {
            let start = i;
            while i < len && points[i].0 >> shift == b {
                i += 1;
            }
            let mut line = Line { start: start as u32, len: (i - start) as u32, packed: [0; LINE_POINTS] };
            if i - start <= LINE_POINTS {
                for (k, &(h, s)) in points[start..i].iter().enumerate() {
                    line.packed[k] = ((h & low_mask) << server_bits) | s;
                }
            }
            lines.push(line);
        }
        PointTable { shift, server_bits, lines, index: RingIndex::default() }
    }

    /// Asks the processor for the line [`PointTable::find`] reads for `hash` (a hint: no
    /// effect on any result; nothing for a table without lines).
    #[inline]
    pub(crate) fn prefetch(&self, hash: u32) {
        if let Some(line) = self.lines.get((hash >> self.shift) as usize) {
            crate::slab::prefetch(line);
        }
    }

    /// The first position whose hash is ≥ `hash` (may be `points.len()`), as a binary search
    /// of the whole ring finds it, with that point's server when the table read it too.
    #[inline]
    pub(crate) fn find(&self, points: &[(u32, u32)], hash: u32) -> (usize, Option<u32>) {
        let key = |&(p, _): &(u32, u32)| u64::from(p) << 32;
        let Some(line) = self.lines.get((hash >> self.shift) as usize) else {
            return (find(points, &self.index, u64::from(hash) << 32, key), None);
        };
        let (start, len) = (line.start as usize, line.len as usize);
        if len > LINE_POINTS {
            return (start + points[start..start + len].partition_point(|&(p, _)| p < hash), None);
        }
        let low = hash & ((1u32 << self.shift) - 1);
        // `server_bits` < 32 where there are lines: the hash bits take at least one.
        let server_mask = (1u32 << self.server_bits) - 1;
        for (k, &p) in line.packed[..len].iter().enumerate() {
            if p >> self.server_bits >= low {
                return (start + k, Some(p & server_mask));
            }
        }
        // Past the slice's points: the answer is the first point of the slices after it, read
        // from the line that follows in memory rather than from the ring (a second miss).
        let next = self.lines[(hash >> self.shift) as usize + 1..].iter().find(|l| l.len > 0);
        match next {
            Some(l) if l.len as usize <= LINE_POINTS => (start + len, Some(l.packed[0] & server_mask)),
            // Past the last point (the caller wraps), or a crowded slice.
            _ => (start + len, None),
        }
    }

    /// The servers of the ring's points in ring order from position `start` (as [`find`]
    /// gave it for `hash`, `points.len()` wrapping to 0), once around: read from the table's
    /// lines where it has them — the first is the one [`find`] just read, the next ones
    /// follow it in memory — instead of from the ring, whose line at `start` would be
    /// another miss.
    ///
    /// [`find`]: PointTable::find
    pub(crate) fn walk_from<'a>(&'a self, points: &'a [(u32, u32)], hash: u32, start: usize) -> RingWalk<'a> {
        let start = if start == points.len() { 0 } else { start };
        let (line, k) = match self.lines.get((hash >> self.shift) as usize) {
            // `find` gives a position within its slice or just past it.
            Some(l) if start >= l.start as usize => ((hash >> self.shift) as usize, start - l.start as usize),
            // Wrapped past the last point: the first line with points.
            _ if !self.lines.is_empty() => (0, 0),
            _ => (0, start),
        };
        RingWalk { table: self, points, line, k, left: points.len() }
    }

    /// Bytes it holds.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.lines.len() * size_of::<Line>() + self.index.starts.len() * 4
    }
}

/// The servers of a ring's points in ring order from a position, once around
/// ([`PointTable::walk_from`]).
pub(crate) struct RingWalk<'a> {
    table: &'a PointTable,
    points: &'a [(u32, u32)],
    /// The current line (with a table), and the place in it; without one, `k` is the
    /// position in the ring.
    line: usize,
    k: usize,
    /// Points still to yield.
    left: usize,
}

impl Iterator for RingWalk<'_> {
    type Item = u32;

    #[inline]
    fn next(&mut self) -> Option<u32> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let lines = &self.table.lines;
        if lines.is_empty() {
            let s = self.points[self.k].1;
            self.k = if self.k + 1 == self.points.len() { 0 } else { self.k + 1 };
            return Some(s);
        }
        // Some line ahead has a point (`left` > 0 counted it), so this ends.
        loop {
            let line = &lines[self.line];
            let k = self.k;
            if k < line.len as usize {
                self.k += 1;
                return Some(if line.len as usize <= LINE_POINTS {
                    line.packed[k] & ((1u32 << self.table.server_bits) - 1)
                } else {
                    self.points[line.start as usize + k].1
                });
            }
            self.k = 0;
            self.line = if self.line + 1 == lines.len() { 0 } else { self.line + 1 };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A xorshift64 sequence from `seed` (test data only).
    fn xorshift(mut x: u64) -> impl FnMut() -> u64 {
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    /// Every probe finds what a binary search of the whole ring finds: points, their
    /// neighbours, slice edges, the ends of the hash space and random hashes, on rings with
    /// even and with clustered points (runs of equal high bits, empty slices).
    #[test]
    fn lookups_match_a_whole_binary_search() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
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

    /// The point table finds what a binary search of the whole ring finds, and the server it
    /// reads is that point's: on even rings, on clustered ones (slices with more points than
    /// a line holds, and empty ones), and where server ids are too wide to pack (no lines).
    #[test]
    fn point_table_lookups_match_a_whole_binary_search() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        let even: Vec<(u32, u32)> = (0..60_000).map(|_| (next() as u32, (next() % 2_000) as u32)).collect();
        let clustered: Vec<(u32, u32)> =
            (0..20_000).map(|i| (if i % 3 == 0 { next() as u32 } else { (next() >> 52) as u32 }, i % 300)).collect();
        let wide: Vec<(u32, u32)> = (0..10_000).map(|_| (next() as u32, u32::MAX - (next() % 5) as u32)).collect();
        for (mut ring, lines) in [(even, true), (clustered, true), (wide, false)] {
            ring.sort_unstable_by_key(|&(h, _)| h);
            ring.dedup_by_key(|&mut (h, _)| h);
            let table = PointTable::build(&ring);
            assert_eq!(!table.lines.is_empty(), lines);
            let mut probes = vec![0, 1, u32::MAX, u32::MAX - 1];
            for &(p, _) in ring.iter().step_by(29) {
                probes.extend([p, p.wrapping_sub(1), p.wrapping_add(1), p & !0xfff, p | 0xfff]);
            }
            probes.extend((0..20_000).map(|_| next() as u32));
            let mut served = 0;
            for (n, h) in probes.into_iter().enumerate() {
                table.prefetch(h); // a hint: any hash, with or without lines
                let (i, server) = table.find(&ring, h);
                assert_eq!(i, ring.partition_point(|&(p, _)| p < h), "hash {h:#x}");
                // The walk from there: the ring's servers in order, wrapping, once around.
                let steps = if n % 1_000 == 0 { ring.len() + 1 } else { 40 };
                let walked: Vec<u32> = table.walk_from(&ring, h, i).take(steps).collect();
                let want: Vec<u32> =
                    ring.iter().cycle().skip(i % ring.len()).take(steps.min(ring.len())).map(|p| p.1).collect();
                assert_eq!(walked, want, "hash {h:#x}");
                if let Some(s) = server {
                    assert_eq!(s, ring[i].1, "hash {h:#x}");
                    served += 1;
                }
            }
            assert_eq!(served > 0, lines);
        }
    }

    #[test]
    fn small_rings_have_no_index() {
        let ring: Vec<u64> = (0..100).map(|i| i << 40).collect();
        assert!(RingIndex::build(ring.len(), |i| ring[i]).slice(5).is_none());
    }
}
