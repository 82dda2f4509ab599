//! A dense store with generational handles: a handle to a freed (or re-armed) slot no longer
//! resolves, so stale events about a finished request or a closed connection are recognised
//! instead of acting on whatever reuses the slot.

use std::num::NonZeroU32;

/// A handle to a slab entry. Its generation is kept plus one, never zero, so an
/// `Option<Handle>` is eight bytes like a handle (a request holds several).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Handle {
    /// Slot index.
    pub idx: u32,
    /// Generation the handle was issued for, plus one.
    generation_1: NonZeroU32,
}

impl Handle {
    /// The generation the handle was issued for (from 0: the first use of a slot).
    #[inline]
    pub fn generation(self) -> u32 {
        self.generation_1.get() - 1
    }
}

/// A slot starts on a cache line ([`Line`], the default): a request (120 bytes and the
/// generation) is then exactly two lines, a connection one, where an unaligned array (a large
/// block starts 16 bytes into its page) spread them over three and two. Measured:
/// iphash-10000 (a million requests queued) 2–8% faster, p2c-100 3%, for 13% more peak
/// memory there. Values of up to 28 bytes (a job) take half a line ([`HalfLine`]): two to a
/// line, none across two.
struct Slot<T, A> {
    /// Aligns the slot as `A` is aligned (an empty array takes no room).
    _align: [A; 0],
    /// The current generation, plus one.
    generation_1: NonZeroU32,
    value: Option<T>,
}

/// A [`Slab`]'s slots start on a cache line.
#[repr(align(64))]
pub struct Line;

/// A [`Slab`]'s slots start on a half cache line.
#[repr(align(32))]
pub struct HalfLine;

/// The first generation of a slot (0, kept plus one).
const FIRST: NonZeroU32 = NonZeroU32::MIN;

/// The generation after `g` (both plus one): after 2³² − 2 reuses of a slot it starts again.
#[inline]
fn next(g: NonZeroU32) -> NonZeroU32 {
    g.checked_add(1).unwrap_or(FIRST)
}

/// A vector of slots with a free list. Memory grows with the most entries alive at once.
pub struct Slab<T, A = Line> {
    slots: Vec<Slot<T, A>>,
    free: Vec<u32>,
    len: usize,
}

impl<T, A> Default for Slab<T, A> {
    fn default() -> Self {
        Slab { slots: Vec::new(), free: Vec::new(), len: 0 }
    }
}

impl<T, A> Slab<T, A> {
    /// Stores a value and returns its handle.
    #[inline]
    pub fn insert(&mut self, value: T) -> Handle {
        self.len += 1;
        if let Some(idx) = self.free.pop() {
            let slot = &mut self.slots[idx as usize];
            slot.value = Some(value);
            Handle { idx, generation_1: slot.generation_1 }
        } else {
            let idx = self.slots.len() as u32;
            self.slots.push(Slot { _align: [], generation_1: FIRST, value: Some(value) });
            Handle { idx, generation_1: FIRST }
        }
    }

    /// The value, if the handle is still current.
    #[inline]
    pub fn get(&self, h: Handle) -> Option<&T> {
        match self.slots.get(h.idx as usize) {
            Some(slot) if slot.generation_1 == h.generation_1 => slot.value.as_ref(),
            _ => None,
        }
    }

    /// The value, mutably, if the handle is still current.
    #[inline]
    pub fn get_mut(&mut self, h: Handle) -> Option<&mut T> {
        match self.slots.get_mut(h.idx as usize) {
            Some(slot) if slot.generation_1 == h.generation_1 => slot.value.as_mut(),
            _ => None,
        }
    }

    /// Invalidates every handle to the entry and returns a new one; the value stays.
    #[inline]
    pub fn rearm(&mut self, h: Handle) -> Option<Handle> {
        let slot = self.slots.get_mut(h.idx as usize)?;
        if slot.generation_1 != h.generation_1 || slot.value.is_none() {
            return None;
        }
        slot.generation_1 = next(slot.generation_1);
        Some(Handle { idx: h.idx, generation_1: slot.generation_1 })
    }

    /// Inserts the value `make` builds, built in its slot: for a large `T`, building it
    /// first and then moving it in (`insert`) is a `memcpy` of the whole value.
    #[inline]
    pub fn insert_with(&mut self, make: impl FnOnce() -> T) -> Handle {
        self.len += 1;
        if let Some(idx) = self.free.pop() {
            let slot = &mut self.slots[idx as usize];
            slot.value = Some(make());
            Handle { idx, generation_1: slot.generation_1 }
        } else {
            let idx = self.slots.len() as u32;
            self.slots.push(Slot { _align: [], generation_1: FIRST, value: Some(make()) });
            Handle { idx, generation_1: FIRST }
        }
    }

    /// Removes the entry; every handle to it stops resolving.
    #[inline]
    pub fn remove(&mut self, h: Handle) -> Option<T> {
        let slot = self.slots.get_mut(h.idx as usize)?;
        if slot.generation_1 != h.generation_1 {
            return None;
        }
        let value = slot.value.take()?;
        slot.generation_1 = next(slot.generation_1);
        self.free.push(h.idx);
        self.len -= 1;
        Some(value)
    }

    /// Asks the processor to bring slot `idx` into the cache ahead of its use (no effect on
    /// results; nothing when `idx` is out of range). For entries that will be read after a
    /// long wait, like the next job of a deep queue.
    #[inline]
    pub fn prefetch(&self, idx: u32) {
        if let Some(slot) = self.slots.get(idx as usize) {
            // Every line of the slot: a handle's check reads the generation, which may sit
            // at the far end of a large value.
            prefetch(slot);
        }
    }

    /// Number of live entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no entry is live.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The current handle of slot `idx`, if it holds a live entry (for structures that link
    /// live entries by slot, like a server's queue of jobs).
    #[inline]
    pub fn handle_at(&self, idx: u32) -> Option<Handle> {
        let slot = self.slots.get(idx as usize)?;
        slot.value.as_ref().map(|_| Handle { idx, generation_1: slot.generation_1 })
    }

    /// Live entries with their current handles, in slot order (deterministic).
    pub fn iter(&self) -> impl Iterator<Item = (Handle, &T)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.value.as_ref().map(|v| (Handle { idx: i as u32, generation_1: s.generation_1 }, v)))
    }
}

/// Asks the processor to bring the cache lines holding `value` closer, without waiting for
/// them (a hint only: no effect on any result).
#[inline(always)]
pub(crate) fn prefetch<T>(value: &T) {
    let start = std::ptr::from_ref(value).cast::<u8>();
    let lines = (start as usize % 64 + size_of::<T>()).div_ceil(64);
    for line in 0..lines {
        prefetch_addr(start.wrapping_add(line * 64));
    }
}

/// Asks the processor to bring the cache line at `addr` closer. Never reads through `addr`,
/// so any address will do. A no-op where there is no such instruction (wasm32).
#[inline(always)]
fn prefetch_addr(addr: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetcht0` cannot fault (whatever the address) and changes no architectural
    // state; SSE, which defines it, is part of the x86_64 baseline.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(addr.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slots start on cache lines (or half lines); 120 bytes of value (a request) and the
    /// generation make two lines, 40 one, 24 (a job) half of one.
    #[test]
    fn slots_are_whole_or_half_cache_lines() {
        assert_eq!(align_of::<Slot<u8, Line>>(), 64);
        assert_eq!(size_of::<Slot<[std::num::NonZeroU64; 15], Line>>(), 128);
        assert_eq!(size_of::<Slot<[std::num::NonZeroU64; 5], Line>>(), 64);
        assert_eq!(align_of::<Slot<u8, HalfLine>>(), 32);
        assert_eq!(size_of::<Slot<[std::num::NonZeroU64; 3], HalfLine>>(), 32);
    }

    #[test]
    fn an_optional_handle_is_a_handle_in_size() {
        assert_eq!(size_of::<Option<Handle>>(), size_of::<Handle>());
    }

    /// Generations count from 0 (the trace hash numbers handles by them) and start again
    /// after 2³² − 2 reuses, never at the niche.
    #[test]
    fn generations_count_from_zero_and_wrap() {
        let mut s: Slab<i32> = Slab::default();
        let a = s.insert(1);
        assert_eq!(a.generation(), 0);
        assert_eq!(s.rearm(a).unwrap().generation(), 1);
        assert_eq!(next(NonZeroU32::MAX), FIRST);
    }

    #[test]
    fn stale_handles_do_not_resolve() {
        let mut s: Slab<i32> = Slab::default();
        let a = s.insert(1);
        let a2 = s.rearm(a).unwrap();
        assert!(s.get(a).is_none());
        assert_eq!(s.get(a2), Some(&1));
        assert_eq!(s.remove(a2), Some(1));
        let b = s.insert(2);
        assert_eq!(b.idx, a.idx);
        assert!(s.get(a2).is_none());
        assert_eq!(s.get(b), Some(&2));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn insert_with_reuses_slots_as_insert_does() {
        let (mut a, mut b): (Slab<u32>, Slab<u32>) = (Slab::default(), Slab::default());
        for step in 0..20u32 {
            if step % 3 == 2 {
                let (ha, hb) = (a.handle_at(step / 3).unwrap(), b.handle_at(step / 3).unwrap());
                assert_eq!(a.remove(ha), b.remove(hb));
            } else {
                assert_eq!(a.insert(step), b.insert_with(|| step));
            }
        }
        assert_eq!(a.len(), b.len());
        assert!(a.iter().map(|(h, v)| (h, *v)).eq(b.iter().map(|(h, v)| (h, *v))));
    }
}
