//! The binary's allocator: the system allocator, asking Linux for transparent huge pages on
//! every block of 4 MiB or more (`madvise(MADV_HUGEPAGE)`, which machines whose
//! `/sys/kernel/mm/transparent_hugepage/enabled` says `madvise` — Debian's default — need).
//! At 10,000 to 100,000 servers the per-server state, latency rows, lookup tables and request
//! slabs are tens to hundreds of MiB touched at random, and with 4 KiB pages nearly every
//! touch also misses the address-translation cache; with 2 MiB pages it mostly does not.
//! Measured in docs/performance.md. Small blocks, and other systems, are the system
//! allocator's as they were. The advice changes where memory sits, never what is computed.

use std::alloc::{GlobalAlloc, Layout, System};

/// Blocks at least this large are advised.
const ADVISE_FROM: usize = 4 << 20;
/// The huge page size the advice is aligned to (x86-64 and aarch64 with 4 KiB base pages).
const HUGE_PAGE: usize = 2 << 20;

/// [`System`], with huge pages advised on large blocks.
pub struct HugePages;

// SAFETY: every call is forwarded to `System` unchanged; `advise` only gives the kernel a hint
// about whole pages inside the block just returned, and ignores its result.
unsafe impl GlobalAlloc for HugePages {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is `System`'s.
        let p = unsafe { System.alloc(layout) };
        advise(p, layout.size());
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.alloc_zeroed(layout) };
        advise(p, layout.size());
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        advise(p, new_size);
        p
    }
}

/// Advises huge pages on the 2 MiB-aligned part of a block of `size` bytes at `p`.
#[inline]
fn advise(p: *mut u8, size: usize) {
    #[cfg(target_os = "linux")]
    if size >= ADVISE_FROM && !p.is_null() {
        let start = (p as usize).next_multiple_of(HUGE_PAGE);
        let end = (p as usize + size) / HUGE_PAGE * HUGE_PAGE;
        if end > start {
            // SAFETY: [start, end) is page-aligned and inside the block just allocated, which
            // the caller owns; MADV_HUGEPAGE changes no contents. A failure (an old kernel, THP
            // disabled) leaves normal pages.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (p, size, HUGE_PAGE);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Large and small blocks behave as the system allocator's: zeroed when asked, contents
    /// kept across a growing and a shrinking reallocation, the advice only a hint.
    #[test]
    fn blocks_behave_as_the_system_allocators() {
        let a = HugePages;
        for size in [64usize, ADVISE_FROM + 12_345, 3 * HUGE_PAGE] {
            let layout = Layout::from_size_align(size, 64).unwrap();
            // SAFETY: a non-zero size; the block is written and read within its bounds and
            // freed with the layout it was (re)allocated with.
            unsafe {
                let p = a.alloc_zeroed(layout);
                assert!(!p.is_null());
                assert!((0..size).step_by(4093).all(|i| *p.add(i) == 0));
                for i in (0..size).step_by(4093) {
                    *p.add(i) = (i % 251) as u8;
                }
                let q = a.realloc(p, layout, size * 2);
                assert!(!q.is_null());
                assert!((0..size).step_by(4093).all(|i| *q.add(i) == (i % 251) as u8));
                let grown = Layout::from_size_align(size * 2, 64).unwrap();
                let r = a.realloc(q, grown, size / 2);
                assert!((0..size / 2).step_by(4093).all(|i| *r.add(i) == (i % 251) as u8));
                a.dealloc(r, Layout::from_size_align(size / 2, 64).unwrap());
                let s = a.alloc(layout);
                assert!(!s.is_null());
                a.dealloc(s, layout);
            }
        }
    }
}
