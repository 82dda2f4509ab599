//! A dense store with generational handles: a handle to a freed (or re-armed) slot no longer
//! resolves, so stale events about a finished request or a closed connection are recognised
//! instead of acting on whatever reuses the slot.

/// A handle to a slab entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Handle {
    /// Slot index.
    pub idx: u32,
    /// Generation the handle was issued for.
    pub generation: u32,
}

struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

/// A vector of slots with a free list. Memory grows with the most entries alive at once.
pub struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab { slots: Vec::new(), free: Vec::new(), len: 0 }
    }
}

impl<T> Slab<T> {
    /// Stores a value and returns its handle.
    #[inline]
    pub fn insert(&mut self, value: T) -> Handle {
        self.len += 1;
        if let Some(idx) = self.free.pop() {
            let slot = &mut self.slots[idx as usize];
            slot.value = Some(value);
            Handle { idx, generation: slot.generation }
        } else {
            let idx = self.slots.len() as u32;
            self.slots.push(Slot { generation: 0, value: Some(value) });
            Handle { idx, generation: 0 }
        }
    }

    /// The value, if the handle is still current.
    #[inline]
    pub fn get(&self, h: Handle) -> Option<&T> {
        match self.slots.get(h.idx as usize) {
            Some(slot) if slot.generation == h.generation => slot.value.as_ref(),
            _ => None,
        }
    }

    /// The value, mutably, if the handle is still current.
    #[inline]
    pub fn get_mut(&mut self, h: Handle) -> Option<&mut T> {
        match self.slots.get_mut(h.idx as usize) {
            Some(slot) if slot.generation == h.generation => slot.value.as_mut(),
            _ => None,
        }
    }

    /// Invalidates every handle to the entry and returns a new one; the value stays.
    #[inline]
    pub fn rearm(&mut self, h: Handle) -> Option<Handle> {
        let slot = self.slots.get_mut(h.idx as usize)?;
        if slot.generation != h.generation || slot.value.is_none() {
            return None;
        }
        slot.generation = slot.generation.wrapping_add(1);
        Some(Handle { idx: h.idx, generation: slot.generation })
    }

    /// Inserts the value `make` builds, built in its slot: for a large `T`, building it
    /// first and then moving it in (`insert`) is a `memcpy` of the whole value.
    #[inline]
    pub fn insert_with(&mut self, make: impl FnOnce() -> T) -> Handle {
        self.len += 1;
        if let Some(idx) = self.free.pop() {
            let slot = &mut self.slots[idx as usize];
            slot.value = Some(make());
            Handle { idx, generation: slot.generation }
        } else {
            let idx = self.slots.len() as u32;
            self.slots.push(Slot { generation: 0, value: Some(make()) });
            Handle { idx, generation: 0 }
        }
    }

    /// Removes the entry; every handle to it stops resolving.
    #[inline]
    pub fn remove(&mut self, h: Handle) -> Option<T> {
        let slot = self.slots.get_mut(h.idx as usize)?;
        if slot.generation != h.generation {
            return None;
        }
        let value = slot.value.take()?;
        slot.generation = slot.generation.wrapping_add(1);
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
        slot.value.as_ref().map(|_| Handle { idx, generation: slot.generation })
    }

    /// Live entries with their current handles, in slot order (deterministic).
    pub fn iter(&self) -> impl Iterator<Item = (Handle, &T)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.value.as_ref().map(|v| (Handle { idx: i as u32, generation: s.generation }, v)))
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

    #[test]
    fn stale_handles_do_not_resolve() {
        let mut s = Slab::default();
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
        let (mut a, mut b) = (Slab::default(), Slab::default());
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
