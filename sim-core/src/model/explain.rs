//! The inspector's "why the next pick goes there": each pool's [`PickExplanation`] for one
//! replica, from the view its next pick would see, without changing anything.
//!
//! `pick` (balancer.rs) refreshes the replica's eligible lists and slow-start weights before it
//! builds its view; this builds the same view from `&self`, computing what a refresh would
//! give (and the version numbers it would assign) when one is due, so the explanation is of
//! the pick that really comes next for a first attempt (no servers tried yet). What the view
//! cannot know is said in notes: stickiness goes first, hash keys belong to the next request,
//! and an L4 balancer picks only when a connection opens.

use serde::Serialize;

use super::Simulation;
use super::state::*;
use crate::algo::{PickExplanation, PickView, Randomness};
use crate::scenario::{Balancing, Layer, Sticky};

/// One pool's next pick at one replica.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct NextPick {
    /// The pool (`default` unless the scenario names pools).
    pub pool: String,
    /// The algorithm's explanation.
    pub explanation: PickExplanation,
    /// What else decides where the next request goes (stickiness, L4, keys, client-side).
    pub notes: Vec<String>,
}

impl Simulation {
    /// The next pick of each pool at replica `r`, as its balancer explains it.
    pub(super) fn next_picks(&self, r: usize) -> Vec<NextPick> {
        let Some(replica) = self.replicas.get(r) else { return Vec::new() };
        let now = self.now;
        // Slow-start weights as `update_slow_start` would leave them now.
        let mut ramp_weights = None;
        let mut weights_changed = false;
        if let Some(ramp) =
            self.ramp.as_deref().filter(|_| self.custom.is_none() && super::slow_start::ramps(self.algorithm))
        {
            let mut w = ramp.weights.clone();
            for &s in &ramp.ramping {
                let configured = self.weights[s as usize];
                let now_w = if now.saturating_sub(ramp.since[s as usize]) >= ramp.spec.window_ns {
                    configured * super::slow_start::SCALE
                } else {
                    ramp.weight_at(configured, s, now)
                };
                weights_changed |= w[s as usize] != now_w;
                w[s as usize] = now_w;
            }
            ramp_weights = Some(w);
        }
        let (weights, weight_scale) = match &ramp_weights {
            Some(w) => (&w[..], super::slow_start::SCALE),
            None => (&self.weights[..], 1),
        };
        // The eligible lists as `refresh_views` would leave them.
        let refresh = replica.dirty || weights_changed || now >= replica.passive_expiry_ns;
        let (views, available) =
            if refresh { self.fresh_views(replica) } else { (replica.views.clone(), replica.available.clone()) };
        let mut notes = Vec::new();
        if !replica.up {
            notes.push("This replica is down: its clients fail until DNS hands them another replica.".to_string());
        }
        if self.sc.clients.iter().all(|g| g.balancing == Balancing::Client) {
            notes.push("The clients balance on their own (client-side); this proxy is not on their path.".to_string());
        }
        if self.layer == Layer::L4 {
            notes.push(
                "L4: the balancer picks only when a new connection opens; requests on an open connection follow it."
                    .to_string(),
            );
        }
        match self.sticky {
            Sticky::Cookie if self.layer == Layer::L7 => notes.push(
                "Sticky (cookie): a request carrying a session cookie goes to its server while that server is eligible; only new sessions are picked."
                    .to_string(),
            ),
            Sticky::SourceIp => notes.push(
                "Sticky (source_ip): a client address seen before goes to its server while that server is eligible; only new addresses are picked."
                    .to_string(),
            ),
            _ => {}
        }
        let mut out = Vec::new();
        for (p, pool_info) in self.pools.iter().enumerate() {
            let Some(balancer) = replica.balancers.get(p) else { continue };
            let Some(pool) = self
                .servers
                .iter()
                .find(|s| s.pool as usize == p)
                .map(|s| self.sc.servers[s.group as usize].pool.clone())
            else {
                continue;
            };
            let mut panic = false;
            if let Some(threshold) = self.sc.balancer.panic_threshold {
                let total = pool_info.primaries.len();
                panic = total > 0 && (views[p].primaries.len() as f64) * 100.0 < threshold * total as f64;
            }
            let use_backups = views[p].primaries.is_empty() && !panic;
            let (members, eligible): (&[u32], &[u32]) = if panic {
                (&pool_info.primaries, &pool_info.primaries)
            } else if use_backups {
                (&pool_info.backups, &views[p].backups)
            } else {
                (&pool_info.primaries, &views[p].primaries)
            };
            let mut avail = available.clone();
            if panic {
                for &s in members {
                    avail[s as usize] = true;
                }
            }
            let tier = u64::from(use_backups) | (u64::from(panic) << 1);
            let view = PickView {
                now_ns: now,
                members,
                eligible,
                available: &avail,
                weights,
                weight_scale,
                active: &replica.active,
                version: views[p].version ^ if panic { 1 << 63 } else { 0 },
                members_version: (pool_info.version << 2) | tier,
                source_ip: 0,
                key: 0,
                key_text: self.sc.balancer.hash_key_text,
                // Instance names, for the sentences; the pick's own view has `ring_names` (the
                // servers' addresses when set), which only the hash rings read, and a hash
                // policy's next server is the next request's key's, never named here.
                names: &self.names,
            };
            let mut explanation = balancer.as_balancer().explain(&view, &replica.rng);
            if self.custom.is_none() {
                // The scenario's name for it (Envoy's ring hash reports itself as nginx's
                // `consistent_hash`, the family it belongs to).
                explanation.algorithm = self.algorithm.name().to_string();
            }
            let mut pool_notes = notes.clone();
            if use_backups && !eligible.is_empty() {
                pool_notes.push("No primary is eligible: the backups take the requests.".to_string());
            }
            if panic {
                pool_notes.push("Panic mode: too few healthy hosts, so every live host is picked from.".to_string());
            }
            if explanation.randomness == Randomness::Keyed {
                // The view has no request: the key (or address) is the next request's.
                explanation.next = None;
                explanation.next_name = None;
                explanation.reason =
                    "The next request's key decides: each server gets the keys of its share.".to_string();
            }
            out.push(NextPick { pool, explanation, notes: pool_notes });
        }
        out
    }

    /// The eligible lists and availability a refresh of `replica`'s views would give now,
    /// with the versions it would assign (`fill_views`, the rule `refresh_views` applies).
    fn fresh_views(&self, replica: &Replica) -> (Vec<PoolView>, Vec<bool>) {
        let mut views = replica.views.clone();
        let mut available = replica.available.clone();
        self.fill_views(replica, &mut views, &mut available);
        (views, available)
    }
}

#[cfg(test)]
mod tests {
    use crate::Simulation;
    use crate::config::{Format, load};

    /// A pool with unequal weights whose membership changes (a server added, one removed),
    /// so views are rebuilt between picks; no failures, so every pick is a first attempt.
    const CHANGING: &str = r#"
name = "changing"
seed = 3
duration = "6s"

[[servers]]
name = "api"
count = 3
workers = 2
service = { dist = "exponential", mean = "20ms" }

[[servers]]
name = "big"
count = 2
weight = 3
workers = 4
service = { dist = "exponential", mean = "10ms" }

[[clients]]
name = "web"
count = 20
rate = 20
protocol = "http2"

[[events]]
at = "2s"
action = "add"
target = "api"
count = 1

[[events]]
at = "4s"
action = "remove"
target = "big-1"
"#;

    /// Steps `sim` to its end from `from_ns`, checking that each time replica 0 makes one new
    /// pick, the server is the one its inspection named just before. Returns the picks seen.
    fn check(sim: &mut Simulation, from_ns: u64, what: &str) -> usize {
        sim.step_until(from_ns);
        let (mut checked, mut before) = (0, sim.inspect(0).expect("replica 0"));
        while sim.step() {
            let after = sim.inspect(0).expect("replica 0");
            let was = |name: &str| before.servers.iter().find(|b| b.name == name).map_or(0, |b| b.active);
            let mut changed = after.servers.iter().filter(|s| s.active != was(&s.name));
            if let (Some(s), None) = (changed.next(), changed.next())
                && s.active == was(&s.name) + 1
            {
                let next = before.next[0].explanation.next_name.as_deref();
                assert_eq!(next, Some(s.name.as_str()), "{what} at {} ns: {:?}", sim.now_ns(), before.next[0]);
                checked += 1;
            }
            before = after;
        }
        checked
    }

    /// In a run, the inspector's next server is where replica 0's next pick really goes, for
    /// every algorithm whose pick does not hash the request, while the membership changes.
    /// (The explanation is of a pick at the current instant: with time-dependent state —
    /// slow-start ramps, EWMA decay — a pick made later may differ, so those are checked
    /// where time does not move the answer.)
    #[test]
    fn the_explained_next_pick_is_the_next_pick() {
        for algorithm in ["round_robin", "least_connections", "random", "power_of_two", "peak_ewma"] {
            let sc = load(CHANGING, Format::Toml, &[format!("balancer.algorithm={algorithm}")]).expect("scenario");
            let mut sim = Simulation::new(&sc, sc.seed);
            let checked = check(&mut sim, 0, algorithm);
            assert!(checked > 1000, "{algorithm}: only {checked} picks seen");
        }
        // Slow start changes the weights as the ramp goes and `pick` then rebuilds the view:
        // the explanation rebuilds it the same way (checked over the ramp where a later pick
        // stays exact here; power of two's schedule follows the ramp's clock).
        let text = include_str!("../../../scenarios/slow-start.toml");
        for algorithm in ["round_robin", "least_connections"] {
            let sets = [format!("balancer.algorithm={algorithm}"), "duration=24s".to_string()];
            let sc = load(text, Format::Toml, &sets).expect("scenario");
            let mut sim = Simulation::new(&sc, sc.seed);
            let checked = check(&mut sim, 18_000_000_000, algorithm);
            assert!(checked > 1000, "slow start, {algorithm}: only {checked} picks seen");
        }
    }
}
