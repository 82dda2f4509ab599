//! `least_connections`: nginx `least_conn`, following
//! `ngx_http_upstream_get_least_conn_peer` in `ngx_http_upstream_least_conn_module.c`
//! (and its stream twin for L4, where it counts connections).
//!
//! The first eligible peer with the lowest `active / weight` (compared by cross-multiplying)
//! wins; if later peers tie with it, one smooth-WRR round over the tied peers, starting at
//! the first minimum, breaks the tie.
//!
//! Inside a simulation the same picks come from an ordered form in O(log n) per pick and per
//! count change ([`LeastConnections`], `Levels`); nginx's scan runs where that form is not
//! exact by construction (penalties recovering, a changed eligible set).

use super::round_robin::{Peer, UNSEEN, swrr_round};
use super::{Balancer, Outcome, PickView};
use crate::rng::SimRng;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// nginx least connections (weighted).
///
/// Two forms give the same picks. The *scan* is nginx's loop (`first_minimum`,
/// `lowest_counts`, then one smooth round over the tied peers). The *fast* form (`Levels`)
/// answers in O(log n) per pick and per change of an active count; it needs to be told of
/// every count change (`active_changed`, which the simulation's replicas call from
/// `hold_active`/`release_active`), so only instances made by the simulation use it. It is
/// used while every eligible peer's effective weight equals its weight (no failure penalty
/// recovering) and the eligible set is the one it was built for; otherwise the scan runs on
/// the current weights written back from it, and the fast form is built again once the
/// eligible set has been the same for two picks in a row and every peer is settled.
#[derive(Clone, Debug, Default)]
pub struct LeastConnections {
    peers: Vec<Peer>,
    max_fails: u32,
    /// The view's weight unit (1, or 100 with slow start).
    scale: u32,
    /// Weights of the servers seen, remembered for the failure penalty.
    weights: Vec<u32>,
    /// The view version `weights` and `uniform` were taken for.
    built_for: Option<u64>,
    /// Whether every eligible server has the same weight (then counts compare directly).
    uniform: bool,
    /// When the eligible servers are consecutive ids (the usual case), the first one: their
    /// counts are then one contiguous slice, scanned without indirection.
    run_start: Option<u32>,
    /// Scratch: the servers tied at the minimum, in configuration order.
    ties: Vec<u32>,
    /// Whether the caller reports every active-count change (`active_changed`).
    notified: bool,
    /// The fast form, while it is exact.
    fast: Option<Levels>,
    /// The version of the previous pick (two in a row with the same one build the fast form).
    last_version: Option<u64>,
    /// Scratch for [`Levels::subset_pick`]: the tied peers' positions and current weights.
    subset_ties: Vec<(u32, i64)>,
    /// The servers `inspect` reports on: those nginx's state would hold by now (every server
    /// of the view after the first round, a penalized one before).
    exposed: usize,
}

/// A level: a ratio `active / weight` in lowest terms, ordered by cross-multiplying (nginx's
/// comparison), so equal ratios of different weights are one level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Level {
    active: u32,
    weight: u32,
}

impl Level {
    fn new(active: u32, weight: u32) -> Level {
        let (mut a, mut b) = (active, weight);
        while b != 0 {
            (a, b) = (b, a % b);
        }
        let g = a.max(1);
        Level { active: active / g, weight: weight / g }
    }
}

impl Ord for Level {
    fn cmp(&self, other: &Level) -> Ordering {
        (u64::from(self.active) * u64::from(other.weight)).cmp(&(u64::from(other.active) * u64::from(self.weight)))
    }
}

impl PartialOrd for Level {
    fn partial_cmp(&self, other: &Level) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The peers at one level, by weight.
///
/// While a level is the lowest, every pick with more than one peer at it is one smooth round
/// over all of them: each gains its effective weight (here equal to its weight), the winner
/// loses the total. `rounds` counts those rounds since the level was created; a peer's current
/// weight is `key + weight · rounds`, so a round touches only its winner. Within one weight the
/// order by current weight is the order by key, so each weight keeps its peers in an ordered
/// set on `(−key, position)`: its first is the candidate nginx's loop would prefer (highest
/// current weight, earliest in configuration order); the winner is the best of the candidates
/// of the (few) weights present. The ordered set is an indexed binary heap ([`Heap`]): the
/// peers only ever need the best one, and moving a peer is a removal at a known index.
#[derive(Clone, Debug, Default)]
struct LevelPeers {
    rounds: i64,
    classes: Vec<(u32, Heap)>,
}

/// A max-heap of `(key, position)` — higher key first, then earlier position — that knows
/// where each entry is (`Slot::index`), so any peer is taken out in O(log n).
#[derive(Clone, Debug, Default)]
struct Heap {
    items: Vec<(i64, u32)>,
}

/// Whether `a` comes before `b` (nginx prefers the higher current weight, then the earlier).
#[inline]
fn before(a: (i64, u32), b: (i64, u32)) -> bool {
    a.0 > b.0 || (a.0 == b.0 && a.1 < b.1)
}

impl Heap {
    fn place(&mut self, i: usize, item: (i64, u32), slots: &mut [Slot]) {
        self.items[i] = item;
        slots[item.1 as usize].index = i as u32;
    }

    fn sift_up(&mut self, mut i: usize, slots: &mut [Slot]) {
        let item = self.items[i];
        while i > 0 {
            let parent = (i - 1) / 2;
            if !before(item, self.items[parent]) {
                break;
            }
            self.place(i, self.items[parent], slots);
            i = parent;
        }
        self.place(i, item, slots);
    }

    fn sift_down(&mut self, mut i: usize, slots: &mut [Slot]) {
        let item = self.items[i];
        let n = self.items.len();
        loop {
            let left = 2 * i + 1;
            if left >= n {
                break;
            }
            let right = left + 1;
            let child = if right < n && before(self.items[right], self.items[left]) { right } else { left };
            if !before(self.items[child], item) {
                break;
            }
            self.place(i, self.items[child], slots);
            i = child;
        }
        self.place(i, item, slots);
    }

    fn push(&mut self, item: (i64, u32), slots: &mut [Slot]) {
        self.items.push(item);
        self.sift_up(self.items.len() - 1, slots);
    }

    fn remove(&mut self, i: usize, slots: &mut [Slot]) {
        let last = self.items.pop().expect("a peer's heap holds it");
        if i < self.items.len() {
            self.place(i, last, slots);
            self.sift_up(i, slots);
            let i = slots[last.1 as usize].index as usize;
            self.sift_down(i, slots);
        }
    }

    /// The top entry's key changed (it only goes down: the winner loses the total).
    fn lower_top(&mut self, key: i64, slots: &mut [Slot]) {
        self.items[0].0 = key;
        self.sift_down(0, slots);
    }
}

/// Per peer in the fast form.
#[derive(Clone, Copy, Debug)]
struct Slot {
    server: u32,
    active: u32,
    weight: u32,
    /// `current − weight · rounds` of its level.
    key: i64,
    /// `rounds` of its level when it joined (a peer not yet seen is seen once it grows).
    joined: i64,
    /// Where it is in its level's heap.
    index: u32,
}

/// Past this many rounds at one level the fast form is rebuilt (keys then start from the
/// current weights again), so `weight · rounds` never overflows.
const ROUNDS_LIMIT: i64 = 1 << 40;
/// Weights above this use the scan (with [`ROUNDS_LIMIT`], keys stay within `i64`).
const FAST_WEIGHT_LIMIT: u32 = 1 << 20;

/// The fast form of least connections over one eligible set (see [`LevelPeers`]).
#[derive(Clone, Debug, Default)]
struct Levels {
    version: u64,
    /// Position in the eligible set, by server id (`u32::MAX`: not in it).
    position: Vec<u32>,
    slots: Vec<Slot>,
    levels: BTreeMap<Level, LevelPeers>,
    /// A level's `rounds` passed [`ROUNDS_LIMIT`]: rebuild after this pick.
    worn: bool,
    /// Whether a pick has run a round.
    rounds_run: bool,
}

impl Levels {
    /// Builds the form from the view and the peers' current weights; `None` if some peer is
    /// not settled (its effective weight differs from its weight) or a weight is out of range.
    fn build(view: &PickView<'_>, peers: &[Peer]) -> Option<Levels> {
        let eligible = view.eligible();
        let mut f = Levels {
            version: view.version(),
            position: vec![u32::MAX; view.server_count()],
            slots: Vec::with_capacity(eligible.len()),
            levels: BTreeMap::new(),
            worn: false,
            rounds_run: false,
        };
        for (i, &s) in eligible.iter().enumerate() {
            let weight = view.weight(s);
            let peer = peers[s as usize];
            if weight == 0
                || weight > FAST_WEIGHT_LIMIT
                || (peer.effective != UNSEEN && peer.effective != i64::from(weight))
            {
                return None;
            }
            f.position[s as usize] = i as u32;
            f.slots.push(Slot { server: s, active: view.active(s), weight, key: 0, joined: 0, index: 0 });
            f.join(i as u32, peer.current);
        }
        Some(f)
    }

    /// Puts the peer at `pos` into the level of its count with this current weight.
    fn join(&mut self, pos: u32, current: i64) {
        let slot = &mut self.slots[pos as usize];
        let weight = slot.weight;
        let level = self.levels.entry(Level::new(slot.active, weight)).or_default();
        slot.key = current - i64::from(weight) * level.rounds;
        slot.joined = level.rounds;
        let key = slot.key;
        let heap = match level.classes.iter().position(|c| c.0 == weight) {
            Some(c) => &mut level.classes[c].1,
            None => {
                level.classes.push((weight, Heap::default()));
                &mut level.classes.last_mut().expect("just pushed").1
            }
        };
        heap.push((key, pos), &mut self.slots);
    }

    /// Takes the peer at `pos` out of its level; returns its current weight and whether it
    /// took part in a round while there.
    fn leave(&mut self, pos: u32) -> (i64, bool) {
        let slot = self.slots[pos as usize];
        let level_key = Level::new(slot.active, slot.weight);
        let level = self.levels.get_mut(&level_key).expect("a peer's level exists");
        let c = level.classes.iter().position(|c| c.0 == slot.weight).expect("a peer's weight class exists");
        level.classes[c].1.remove(slot.index as usize, &mut self.slots);
        let current = slot.key + i64::from(slot.weight) * level.rounds;
        let grew = level.rounds > slot.joined;
        if level.classes[c].1.items.is_empty() {
            level.classes.swap_remove(c);
            if level.classes.is_empty() {
                self.levels.remove(&level_key);
            }
        }
        (current, grew)
    }

    /// Writes the current weights back into `peers` (a peer that took part in a round is seen).
    fn materialize(&self, peers: &mut [Peer]) {
        for (level_key, level) in &self.levels {
            for (weight, heap) in &level.classes {
                for &(key, pos) in &heap.items {
                    let slot = &self.slots[pos as usize];
                    debug_assert_eq!(Level::new(slot.active, slot.weight), *level_key);
                    let peer = &mut peers[slot.server as usize];
                    peer.current = key + i64::from(*weight) * level.rounds;
                    if level.rounds > slot.joined {
                        peer.effective = i64::from(*weight);
                    }
                }
            }
        }
    }

    /// The current weight of a peer in the form.
    fn current(&self, server: u32) -> Option<i64> {
        let pos = *self.position.get(server as usize)?;
        let slot = self.slots.get(pos as usize)?;
        let level = self.levels.get(&Level::new(slot.active, slot.weight))?;
        Some(slot.key + i64::from(slot.weight) * level.rounds)
    }

    /// A peer's count changed: it moves to its new level.
    fn active_changed(&mut self, server: u32, active: u32, peers: &mut [Peer]) {
        let Some(&pos) = self.position.get(server as usize) else { return };
        if pos == u32::MAX || self.slots[pos as usize].active == active {
            return;
        }
        let (current, grew) = self.leave(pos);
        if grew {
            peers[server as usize].effective = i64::from(self.slots[pos as usize].weight);
        }
        self.slots[pos as usize].active = active;
        self.join(pos, current);
    }

    /// Whether `view`'s eligible set is a part of this form's (a retry's set, without the
    /// servers tried), with the same weights and counts.
    fn covers(&self, view: &PickView<'_>) -> bool {
        view.eligible().iter().all(|&s| {
            self.position.get(s as usize).is_some_and(|&pos| {
                let slot = self.slots.get(pos as usize);
                slot.is_some_and(|slot| slot.weight == view.weight(s) && slot.active == view.active(s))
            })
        })
    }

    /// nginx's loop over a part of the form's peers (see [`Levels::covers`]): the scan finds
    /// the peers tied at the lowest ratio, and the round moves each of them in the form.
    fn subset_pick(&mut self, view: &PickView<'_>, peers: &mut [Peer], ties: &mut Vec<(u32, i64)>) -> Option<u32> {
        ties.clear();
        let (best_pos, tied) = first_minimum(view)?;
        let eligible = view.eligible();
        let b = eligible[best_pos];
        if !tied {
            return Some(b);
        }
        let (ab, wb) = (u64::from(view.active(b)), u64::from(view.weight(b)));
        let mut total = 0i64;
        let mut best: Option<(usize, i64)> = None;
        for &s in &eligible[best_pos..] {
            if u64::from(view.active(s)) * wb != ab * u64::from(view.weight(s)) {
                continue;
            }
            let pos = self.position[s as usize];
            let (current, _) = self.leave(pos);
            // Every peer in the form has its effective weight equal to its weight.
            let weight = i64::from(self.slots[pos as usize].weight);
            peers[s as usize].effective = weight;
            let current = current + weight;
            total += weight;
            if best.is_none_or(|(_, c)| current > c) {
                best = Some((ties.len(), current));
            }
            ties.push((pos, current));
        }
        let (winner, _) = best?;
        ties[winner].1 -= total;
        for &(pos, current) in ties.iter() {
            self.join(pos, current);
        }
        Some(self.slots[ties[winner].0 as usize].server)
    }

    /// nginx's pick over the lowest level: alone, it wins untouched; otherwise one round.
    fn pick(&mut self, peers: &mut [Peer]) -> Option<u32> {
        let (_, level) = self.levels.iter_mut().next()?;
        let count: usize = level.classes.iter().map(|c| c.1.items.len()).sum();
        self.rounds_run |= count > 1;
        if count == 1 {
            let &(_, pos) = level.classes[0].1.items.first()?;
            return Some(self.slots[pos as usize].server);
        }
        level.rounds += 1;
        let rounds = level.rounds;
        let mut total = 0i64;
        let mut best: Option<(i64, u32, usize)> = None;
        for (c, (weight, heap)) in level.classes.iter().enumerate() {
            let w = i64::from(*weight);
            total += w * heap.items.len() as i64;
            let &(key, pos) = heap.items.first()?;
            let current = key + w * rounds;
            if best.is_none_or(|(bc, bp, _)| current > bc || (current == bc && pos < bp)) {
                best = Some((current, pos, c));
            }
        }
        let (current, pos, c) = best?;
        let slot = &mut self.slots[pos as usize];
        slot.key = current - total - i64::from(slot.weight) * rounds;
        let (key, server, weight) = (slot.key, slot.server, slot.weight);
        // The winner is its heap's top (the best of its weight).
        level.classes[c].1.lower_top(key, &mut self.slots);
        // The winner took part in this round: it is seen.
        peers[server as usize].effective = i64::from(weight);
        self.worn |= rounds > ROUNDS_LIMIT;
        Some(server)
    }
}

impl LeastConnections {
    /// A fresh instance; `max_fails` as in nginx.
    pub fn new(max_fails: u32) -> LeastConnections {
        LeastConnections { max_fails, scale: 1, ..LeastConnections::default() }
    }

    /// An instance whose caller reports every change of an active count through
    /// [`LeastConnections::active_changed`] (then picks take O(log n)).
    pub(crate) fn notified(max_fails: u32) -> LeastConnections {
        LeastConnections { notified: true, ..LeastConnections::new(max_fails) }
    }

    /// Stops relying on count-change reports (for use with views whose counts change
    /// without them).
    pub(crate) fn unnotified(mut self) -> LeastConnections {
        self.leave_fast();
        self.notified = false;
        self
    }

    /// The replica's active count of `server` is now `active`.
    #[inline]
    pub(crate) fn active_changed(&mut self, server: u32, active: u32) {
        if let Some(fast) = &mut self.fast {
            fast.active_changed(server, active, &mut self.peers);
        }
    }

    /// Writes the fast form's weights back and drops it.
    fn leave_fast(&mut self) {
        if let Some(fast) = self.fast.take() {
            fast.materialize(&mut self.peers);
        }
    }

    fn ensure(&mut self, n: usize) {
        if self.peers.len() < n {
            self.peers.resize(n, Peer { current: 0, effective: UNSEEN });
        }
    }

    /// Takes note of the eligible servers' weights once per view version.
    fn learn_weights(&mut self, view: &PickView<'_>) {
        if self.built_for == Some(view.version()) {
            return;
        }
        if self.weights.len() < view.server_count() {
            self.weights.resize(view.server_count(), 1);
        }
        let eligible = view.eligible();
        let first = eligible.first().map_or(1, |&s| view.weight(s));
        self.uniform = true;
        let mut consecutive = true;
        for (i, &s) in eligible.iter().enumerate() {
            let w = view.weight(s);
            self.weights[s as usize] = w;
            self.uniform &= w == first;
            consecutive &= s as usize == eligible[0] as usize + i;
        }
        self.run_start = eligible.first().copied().filter(|_| consecutive);
        self.built_for = Some(view.version());
    }

    /// One smooth-WRR round over `candidates` (in configuration order), as
    /// `round_robin::SwrrState::round` (nginx `ngx_http_upstream_get_peer`); returns the winner.
    fn round(&mut self, view: &PickView<'_>, candidates: impl Iterator<Item = u32>) -> Option<u32> {
        let b = swrr_round(&mut self.peers, view, candidates, i64::from(self.scale))?;
        self.exposed = self.exposed.max(view.server_count());
        Some(b)
    }

    /// nginx's loop over every eligible peer.
    fn scan(&mut self, view: &PickView<'_>) -> Option<u32> {
        self.learn_weights(view);
        if self.uniform {
            let mut ties = std::mem::take(&mut self.ties);
            lowest_counts(view, self.run_start, &mut ties);
            let pick = match ties[..] {
                [] => None,
                [only] => Some(only),
                _ => self.round(view, ties.iter().copied()),
            };
            self.ties = ties;
            return pick;
        }
        let (best_pos, tied) = first_minimum(view)?;
        let eligible = view.eligible();
        let b = eligible[best_pos];
        if !tied {
            return Some(b);
        }
        let (ab, wb) = (u64::from(view.active(b)), u64::from(view.weight(b)));
        let tied = eligible[best_pos..]
            .iter()
            .copied()
            .filter(|&s| u64::from(view.active(s)) * wb == ab * u64::from(view.weight(s)));
        self.round(view, tied)
    }

    /// Whether every eligible peer's effective weight is its weight (or it is not yet seen).
    fn settled(&self, view: &PickView<'_>) -> bool {
        view.eligible().iter().all(|&s| {
            let e = self.peers[s as usize].effective;
            e == UNSEEN || e == i64::from(view.weight(s))
        })
    }
}
/// The position of the first eligible server with the lowest `active / weight` (compared by
/// cross-multiplying), and whether a later one ties with it.
fn first_minimum(view: &PickView<'_>) -> Option<(usize, bool)> {
    let (eligible, active, weights) = (view.eligible, view.active, view.weights);
    let mut best = (*eligible.first()?, 0usize);
    let mut tied = false;
    for (pos, &s) in eligible.iter().enumerate().skip(1) {
        let b = best.0 as usize;
        let lhs = u64::from(active[s as usize]) * u64::from(weights[b]);
        let rhs = u64::from(active[b]) * u64::from(weights[s as usize]);
        if lhs < rhs {
            (best, tied) = ((s, pos), false);
        } else if lhs == rhs {
            tied = true;
        }
    }
    Some((best.1, tied))
}

/// With equal weights the ratio is the count itself: collects the servers at the lowest
/// count, in configuration order (the first of them is nginx's first minimum).
fn lowest_counts(view: &PickView<'_>, run_start: Option<u32>, ties: &mut Vec<u32>) {
    let active = view.active;
    ties.clear();
    if let Some(first) = run_start {
        // Consecutive ids: a branch-free minimum over one slice, then one pass for the ties.
        let window = &active[first as usize..first as usize + view.eligible.len()];
        // Counts stay far below 2^31, and signed 32-bit compares vectorize on every x86-64.
        let min = window.iter().fold(i32::MAX, |m, &a| m.min(a as i32)) as u32;
        // The ties, found 32 counts at a time as a bit mask.
        let mut base = first;
        for chunk in window.chunks(32) {
            let mut mask = chunk.iter().enumerate().fold(0u32, |m, (i, &a)| m | (u32::from(a == min) << i));
            while mask != 0 {
                ties.push(base + mask.trailing_zeros());
                mask &= mask - 1;
            }
            base += chunk.len() as u32;
        }
        return;
    }
    let mut min = u32::MAX;
    for &s in view.eligible {
        let a = active[s as usize];
        if a < min {
            min = a;
            ties.clear();
        }
        if a == min {
            ties.push(s);
        }
    }
}

impl Balancer for LeastConnections {
    fn name(&self) -> &str {
        "least_connections"
    }

    fn pick(&mut self, view: &PickView<'_>, _rng: &mut SimRng) -> Option<u32> {
        self.ensure(view.server_count());
        self.scale = view.weight_scale().max(1);
        let version = view.version();
        let repeated = self.last_version == Some(version);
        self.last_version = Some(version);
        if let Some(fast) = &mut self.fast
            && fast.version != version
        {
            // A retry's set (a part of the form's, seen once): the scan over it, moving the
            // tied peers in the form, which stays for the next first attempt.
            if !repeated && fast.covers(view) {
                let mut ties = std::mem::take(&mut self.subset_ties);
                let pick = fast.subset_pick(view, &mut self.peers, &mut ties);
                if ties.len() > 1 {
                    self.exposed = self.exposed.max(view.server_count());
                }
                self.subset_ties = ties;
                return pick;
            }
            self.leave_fast();
        }
        if self.fast.is_none() && self.notified && repeated && self.settled(view) {
            self.fast = Levels::build(view, &self.peers);
        }
        let Some(fast) = &mut self.fast else { return self.scan(view) };
        let pick = fast.pick(&mut self.peers);
        // A count changed without a report would leave the form stale.
        debug_assert!(
            pick.is_none_or(|s| fast.slots[fast.position[s as usize] as usize].active == view.active(s)),
            "least_connections: an active count changed without active_changed"
        );
        if fast.rounds_run {
            self.exposed = self.exposed.max(view.server_count());
        }
        if fast.worn {
            // Start the keys again from the current weights.
            self.leave_fast();
            self.fast = Levels::build(view, &self.peers);
        }
        pick
    }

    fn observe(&mut self, outcome: &Outcome) {
        if outcome.kind.is_failure() && self.max_fails > 0 {
            // nginx's failure penalty, `effective_weight -= weight / max_fails` (floored at
            // 0), in whole configured units as nginx divides integers. The peer then climbs
            // back one unit per round, which only the scan follows.
            self.leave_fast();
            let server = outcome.server as usize;
            let weight = self.weights.get(server).copied().unwrap_or(1);
            self.ensure(server + 1);
            self.exposed = self.exposed.max(server + 1);
            let peer = &mut self.peers[server];
            if peer.effective == UNSEEN {
                peer.effective = i64::from(weight);
            }
            let penalty = weight / self.scale / self.max_fails * self.scale;
            peer.effective = (peer.effective - i64::from(penalty)).max(0);
        }
    }

    fn inspect(&self, server: u32, _now_ns: u64) -> Option<f64> {
        if server as usize >= self.exposed {
            return None;
        }
        if let Some(current) = self.fast.as_ref().and_then(|f| f.current(server)) {
            return Some(current as f64);
        }
        self.peers.get(server as usize).map(|p| p.current as f64)
    }

    fn explain(&self, view: &PickView<'_>, rng: &SimRng) -> super::PickExplanation {
        super::explain::least_connections(self, view, rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::StaticView;

    #[test]
    fn picks_lowest_active_per_weight() {
        let mut f = StaticView::new(&[1, 1, 1]);
        f.active = vec![3, 1, 2];
        let mut lc = LeastConnections::new(0);
        let mut rng = SimRng::from_seed(0);
        assert_eq!(lc.pick(&f.view(), &mut rng), Some(1));
        // Weighted: 4 active at weight 4 (ratio 1) beats 2 active at weight 1 (ratio 2).
        let mut f = StaticView::new(&[4, 1]);
        f.active = vec![4, 2];
        assert_eq!(lc.pick(&f.view(), &mut rng), Some(0));
    }

    #[test]
    fn told_of_count_changes_it_picks_in_the_fast_form() {
        let mut f = StaticView::new(&[1; 8]);
        let mut lc = LeastConnections::notified(0);
        let mut rng = SimRng::from_seed(0);
        let mut picks = Vec::new();
        for _ in 0..12 {
            let s = lc.pick(&f.view(), &mut rng).unwrap();
            f.active[s as usize] += 1;
            lc.active_changed(s, f.active[s as usize]);
            picks.push(s);
        }
        assert!(lc.fast.is_some());
        // Counts even out first; the rounds among the idle peers left the later ones with
        // higher current weights (server 7 won its pick alone, without a round), so the
        // ties at one go from the end (worked by hand from nginx's loop).
        assert_eq!(picks, vec![0, 1, 2, 3, 4, 5, 6, 7, 7, 6, 5, 4]);
        // Without reports, the scan.
        assert!(lc.clone().unnotified().fast.is_none());
    }

    #[test]
    fn ties_rotate_by_smooth_round_robin() {
        let f = StaticView::new(&[1, 1, 1]);
        let mut lc = LeastConnections::new(0);
        let mut rng = SimRng::from_seed(0);
        let picks: Vec<u32> = (0..6).map(|_| lc.pick(&f.view(), &mut rng).unwrap()).collect();
        assert_eq!(picks, vec![0, 1, 2, 0, 1, 2]);
    }

    /// nginx's loop written plainly (one pass with cross-multiplied ratios, then one smooth
    /// round over the peers tied with the first minimum), with its own state.
    struct Plain {
        current: Vec<i64>,
        effective: Vec<i64>,
    }

    impl Plain {
        fn pick(&mut self, v: &PickView<'_>) -> Option<u32> {
            let e = v.eligible();
            let ratio_lt = |a: u32, b: u32| {
                u64::from(v.active(a)) * u64::from(v.weight(b)) < u64::from(v.active(b)) * u64::from(v.weight(a))
            };
            let mut best = 0;
            let mut many = false;
            for i in 1..e.len() {
                if ratio_lt(e[i], e[best]) {
                    (best, many) = (i, false);
                } else if !ratio_lt(e[best], e[i]) {
                    many = true;
                }
            }
            let b = *e.get(best)?;
            if !many {
                return Some(b);
            }
            let (mut total, mut winner) = (0, None::<u32>);
            for &s in &e[best..] {
                if ratio_lt(s, b) || ratio_lt(b, s) {
                    continue;
                }
                let i = s as usize;
                self.current[i] += self.effective[i];
                total += self.effective[i];
                if winner.is_none_or(|w| self.current[i] > self.current[w as usize]) {
                    winner = Some(s);
                }
            }
            let w = winner?;
            self.current[w as usize] -= total;
            Some(w)
        }
    }

    proptest::proptest! {
        /// The fast paths (equal weights, consecutive ids) pick exactly what the plain loop
        /// picks, pick after pick, whatever the counts, weights and eligible set.
        #[test]
        fn fast_paths_match_the_plain_loop(
            weights in proptest::collection::vec(1u32..4, 1..80),
            uniform in proptest::bool::ANY,
            holes in proptest::collection::vec(0usize..80, 0..4),
            steps in proptest::collection::vec((0usize..80, 0u32..3), 1..200),
        ) {
            let n = weights.len();
            let weights: Vec<u32> = if uniform { vec![weights[0]; n] } else { weights };
            let mut f = StaticView::new(&weights);
            for h in holes {
                if h < n {
                    f.set_available(h as u32, false);
                }
            }
            let mut lc = LeastConnections::new(0);
            let mut plain = Plain { current: vec![0; n], effective: weights.iter().map(|&w| i64::from(w)).collect() };
            let mut rng = SimRng::from_seed(0);
            for (server, delta) in steps {
                let expected = plain.pick(&f.view());
                proptest::prop_assert_eq!(lc.pick(&f.view(), &mut rng), expected);
                if let Some(s) = expected {
                    f.active[s as usize] += 1;
                }
                // Some requests end.
                let i = server % n;
                f.active[i] = f.active[i].saturating_sub(delta);
            }
        }
    }

    /// nginx's least_conn with its failure penalty written plainly: one pass over the
    /// eligible peers with cross-multiplied ratios, one smooth round over the peers tied with
    /// the first minimum (the effective weight climbing back one unit per round), and
    /// `effective −= weight / max_fails` on a failure.
    struct PlainPenalized {
        current: Vec<i64>,
        /// `None` until the peer takes part in a round (or is penalized).
        effective: Vec<Option<i64>>,
        weights: Vec<u32>,
        max_fails: u32,
    }

    impl PlainPenalized {
        fn new(max_fails: u32) -> PlainPenalized {
            PlainPenalized { current: Vec::new(), effective: Vec::new(), weights: Vec::new(), max_fails }
        }

        fn grow(&mut self, n: usize) {
            self.current.resize(self.current.len().max(n), 0);
            self.effective.resize(self.effective.len().max(n), None);
            self.weights.resize(self.weights.len().max(n), 1);
        }

        fn pick(&mut self, v: &PickView<'_>) -> Option<u32> {
            self.grow(v.server_count());
            let e = v.eligible();
            for &s in e {
                self.weights[s as usize] = v.weight(s);
            }
            let ratio = |s: u32| (u64::from(v.active(s)), u64::from(v.weight(s)));
            let lt = |a: (u64, u64), b: (u64, u64)| a.0 * b.1 < b.0 * a.1;
            let min = e.iter().map(|&s| ratio(s)).reduce(|m, r| if lt(r, m) { r } else { m })?;
            let tied: Vec<u32> = e.iter().copied().filter(|&s| !lt(min, ratio(s))).collect();
            if let [only] = tied[..] {
                return Some(only);
            }
            let (mut total, mut winner) = (0, None::<u32>);
            for &s in &tied {
                let i = s as usize;
                let w = i64::from(v.weight(s));
                let eff = self.effective[i].unwrap_or(w);
                self.current[i] += eff;
                total += eff;
                self.effective[i] = Some(if eff < w { eff + 1 } else { eff });
                if winner.is_none_or(|x| self.current[i] > self.current[x as usize]) {
                    winner = Some(s);
                }
            }
            let w = winner?;
            self.current[w as usize] -= total;
            Some(w)
        }

        fn fail(&mut self, s: u32) {
            if self.max_fails == 0 {
                return;
            }
            self.grow(s as usize + 1);
            let i = s as usize;
            let w = self.weights[i];
            let eff = self.effective[i].unwrap_or(i64::from(w));
            self.effective[i] = Some((eff - i64::from(w / self.max_fails)).max(0));
        }
    }

    /// One step of the random workload below.
    #[derive(Clone, Debug)]
    enum Step {
        /// A request arrives (a pick; the winner's count grows).
        Arrive,
        /// Requests end at a server.
        Complete(usize, u32),
        /// A server goes down or comes back.
        Health(usize),
        /// A server's weight changes.
        Weight(usize, u32),
        /// The last pick's attempt failed (nginx's penalty).
        Fail,
        /// A retry: a pick that excludes the last servers picked.
        Retry(usize),
        /// A server joins the pool.
        Add,
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        prop_oneof![
            12 => Just(Step::Arrive),
            8 => (0usize..64, 1u32..3).prop_map(|(s, d)| Step::Complete(s, d)),
            1 => (0usize..64).prop_map(Step::Health),
            1 => (0usize..64, 1u32..4).prop_map(|(s, w)| Step::Weight(s, w)),
            1 => Just(Step::Fail),
            1 => (1usize..3).prop_map(Step::Retry),
            1 => Just(Step::Add),
        ]
    }

    proptest::proptest! {
        /// The O(log n) form, told of every count change as the simulation tells it, picks
        /// exactly what nginx's plain loop picks, pick after pick, under arrivals,
        /// completions, health and weight changes, failures (penalties), retries over a
        /// subset and added servers; and reports the same current weights.
        #[test]
        fn fast_form_matches_the_plain_loop(
            weights in proptest::collection::vec(1u32..4, 1..40),
            uniform in proptest::bool::ANY,
            max_fails in 0u32..3,
            steps in proptest::collection::vec(step(), 1..400),
        ) {
            let n = weights.len();
            let weights: Vec<u32> = if uniform { vec![weights[0]; n] } else { weights };
            let mut f = StaticView::new(&weights);
            let mut lc = LeastConnections::notified(max_fails);
            let mut plain = PlainPenalized::new(max_fails);
            let mut rng = SimRng::from_seed(0);
            let mut recent: Vec<u32> = Vec::new();
            for st in steps {
                let count = f.active.len();
                match st {
                    Step::Arrive => {
                        let expected = plain.pick(&f.view());
                        proptest::prop_assert_eq!(lc.pick(&f.view(), &mut rng), expected);
                        if let Some(s) = expected {
                            f.active[s as usize] += 1;
                            lc.active_changed(s, f.active[s as usize]);
                            recent.push(s);
                        }
                    }
                    Step::Complete(s, d) => {
                        let i = s % count;
                        f.active[i] = f.active[i].saturating_sub(d);
                        lc.active_changed(i as u32, f.active[i]);
                    }
                    Step::Health(s) => {
                        let i = (s % count) as u32;
                        f.set_available(i, !f.available[i as usize]);
                    }
                    Step::Weight(s, w) => {
                        f.weights[s % count] = w;
                    }
                    Step::Fail => {
                        if let Some(&s) = recent.last() {
                            plain.fail(s);
                            lc.observe(&Outcome { server: s, sent_ns: 0, now_ns: 0, kind: crate::algo::OutcomeKind::ConnectionError });
                        }
                    }
                    Step::Retry(k) => {
                        let tried: Vec<u32> = recent.iter().rev().take(k).copied().collect();
                        let eligible: Vec<u32> = f.view().eligible().iter().copied().filter(|s| !tried.contains(s)).collect();
                        let base = f.view();
                        // As the simulation does, the servers tried are part of the version.
                        let tried_key = tried.iter().fold(1u64, |k, &s| crate::rng::mix64(k ^ u64::from(s))) | 1 << 62;
                        let v = PickView { eligible: &eligible, version: base.version ^ tried_key, ..base };
                        let expected = plain.pick(&v);
                        proptest::prop_assert_eq!(lc.pick(&v, &mut rng), expected);
                        if let Some(s) = expected {
                            f.active[s as usize] += 1;
                            lc.active_changed(s, f.active[s as usize]);
                            recent.push(s);
                        }
                    }
                    Step::Add => {
                        let mut members = f.members.clone();
                        members.push(f.weights.len() as u32);
                        f.set_members(members);
                    }
                }
                for s in 0..f.active.len() as u32 {
                    let want = plain.current.get(s as usize).copied();
                    let got = lc.inspect(s, 0).map(|c| c as i64);
                    if let (Some(w), Some(g)) = (want, got) {
                        proptest::prop_assert_eq!(g, w, "current weight of server {}", s);
                    }
                }
            }
        }
    }
}
