//! The trace hash: a stable 64-bit fingerprint of the whole ordered event history
//! (xxHash64 over little-endian words, seed 0), equal on every run and every platform.

/// Accumulates the trace hash.
pub struct TraceHasher {
    inner: twox_hash::XxHash64,
}

impl Default for TraceHasher {
    fn default() -> Self {
        TraceHasher { inner: twox_hash::XxHash64::with_seed(0) }
    }
}

impl TraceHasher {
    /// Adds words to the history.
    #[inline]
    pub fn words(&mut self, words: &[u64]) {
        use std::hash::Hasher;
        for w in words {
            self.inner.write(&w.to_le_bytes());
        }
    }

    /// The hash so far, as 16 lowercase hex digits.
    pub fn hex(&self) -> String {
        use std::hash::Hasher;
        format!("{:016x}", self.inner.finish())
    }
}
