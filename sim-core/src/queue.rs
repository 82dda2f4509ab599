//! The future-event list: events ordered totally by (time, sequence number), so events at the
//! same instant run in the order they were scheduled. Knows nothing of the domain.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

struct Entry<E> {
    /// `time << 64 | sequence`: one integer compare orders by time, then by insertion.
    key: u128,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl<E> Eq for Entry<E> {}

impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Entry<E> {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap; reverse so the earliest key comes out first.
        other.key.cmp(&self.key)
    }
}

/// A priority queue of events keyed by simulated time in nanoseconds.
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    next_seq: u64,
}

/// Sequence numbers below this are reserved for events that must come first at their
/// instant (see [`EventQueue::push_first`]).
const FIRST_RESERVED: u64 = 1 << 40;

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue { heap: BinaryHeap::new(), next_seq: FIRST_RESERVED }
    }
}

impl<E> EventQueue<E> {
    /// Schedules `event` at `time_ns`.
    #[inline]
    pub fn push(&mut self, time_ns: u64, event: E) {
        let key = (u128::from(time_ns) << 64) | u128::from(self.next_seq);
        self.next_seq += 1;
        self.heap.push(Entry { key, event });
    }

    /// Schedules `event` at `time_ns` ahead of every ordinary event at that instant, ordered
    /// among such events by `rank`. Timeline actions use this, so an action recorded live
    /// and the same action replayed from a file run at the same point of the history.
    pub fn push_first(&mut self, time_ns: u64, rank: u64, event: E) {
        debug_assert!(rank < FIRST_RESERVED);
        let key = (u128::from(time_ns) << 64) | u128::from(rank.min(FIRST_RESERVED - 1));
        self.heap.push(Entry { key, event });
    }

    /// Removes and returns the earliest event.
    #[inline]
    pub fn pop(&mut self) -> Option<(u64, E)> {
        self.heap.pop().map(|e| ((e.key >> 64) as u64, e.event))
    }

    /// The time of the earliest event.
    #[inline]
    pub fn peek_time(&self) -> Option<u64> {
        self.heap.peek().map(|e| (e.key >> 64) as u64)
    }

    /// Number of scheduled events.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_time_then_insertion() {
        let mut q = EventQueue::default();
        q.push(5, "c");
        q.push(1, "a");
        q.push(5, "d");
        q.push(1, "b");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, vec![(1, "a"), (1, "b"), (5, "c"), (5, "d")]);
    }

    #[test]
    fn first_events_lead_their_instant() {
        let mut q = EventQueue::default();
        q.push(5, "late");
        q.push_first(5, 1, "first-1");
        q.push_first(5, 0, "first-0");
        q.push(4, "early");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).map(|(_, e)| e).collect();
        assert_eq!(order, vec!["early", "first-0", "first-1", "late"]);
    }

    proptest::proptest! {
        /// Any mix of pushes and pops comes out in (time, insertion) order, exactly as a
        /// sorted list would give it.
        #[test]
        fn pops_in_time_then_insertion_order(ops in proptest::collection::vec((0u64..50, proptest::bool::weighted(0.6)), 0..400)) {
            let mut q = EventQueue::default();
            let mut model: Vec<(u64, usize)> = Vec::new();
            for (i, (time, push)) in ops.into_iter().enumerate() {
                if push {
                    q.push(time, i);
                    model.push((time, i));
                } else {
                    model.sort();
                    let expected = (!model.is_empty()).then(|| model.remove(0));
                    proptest::prop_assert_eq!(q.pop(), expected);
                }
                proptest::prop_assert_eq!(q.len(), model.len());
            }
            model.sort();
            let rest: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
            proptest::prop_assert_eq!(rest, model);
        }
    }
}
