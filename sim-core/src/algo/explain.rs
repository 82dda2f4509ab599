//! Why the next pick goes where it goes: [`Balancer::explain`]'s answer as structured data,
//! and the machinery the built-in algorithms share to give it.
//!
//! The next server is never guessed from the displayed numbers: a built-in balancer is cloned
//! with the replica's pick stream and the clone's [`Balancer::pick`] is the answer, so the
//! explanation cannot drift from the algorithm (a property test holds them equal). The
//! numbers each candidate carries (active ÷ weight, current weight, EWMA cost, key share) are
//! there to read the reason, not to recompute it.

use serde::Serialize;

use super::{Balancer, PickView};
use crate::rng::SimRng;

/// One named number of a candidate (`current weight`, `active ÷ weight`, `cost`, …).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Value {
    /// What the number is.
    pub name: &'static str,
    /// The number.
    pub value: f64,
}

/// A server the rule considers for the next pick, with the numbers it compares.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Candidate {
    /// Server id.
    pub server: u32,
    /// Instance name.
    pub name: String,
    /// This replica's requests (L7) or connections (L4) in flight to it.
    pub active: u32,
    /// The weight the pick sees (× 100 during slow start).
    pub weight: u32,
    /// The algorithm's own numbers for it.
    pub values: Vec<Value>,
}

/// How much chance is in the pick.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Randomness {
    /// The state and the view decide it.
    Deterministic,
    /// A hash of the request's key (or client address) decides it: the next request's key
    /// decides where it goes.
    Keyed,
    /// A random draw decides it (see [`PickExplanation::sampled`] and the candidates'
    /// `probability`).
    Random,
}

/// The next pick for a request seen with a given view, and why.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PickExplanation {
    /// The algorithm's name.
    pub algorithm: String,
    /// The rule, in a sentence.
    pub rule: String,
    /// The server `pick` chooses for this view and state (for a random pick, with the
    /// replica's stream as it is now); `None` when nothing is eligible or the policy gives
    /// no explanation.
    pub next: Option<u32>,
    /// Its instance name.
    pub next_name: Option<String>,
    /// Why that one, in a sentence (names the winner and the numbers that decided it).
    pub reason: String,
    /// How much chance is in the pick.
    pub randomness: Randomness,
    /// For sampling algorithms (power of d, peak EWMA): the servers the stream draws for this
    /// pick, in draw order.
    pub sampled: Vec<u32>,
    /// The servers considered, in eligible order.
    pub candidates: Vec<Candidate>,
    /// Whether the policy explained itself (false: a custom policy without `explain`).
    pub explained: bool,
}

impl PickExplanation {
    /// The answer of a policy that does not explain itself.
    pub fn unexplained(algorithm: &str) -> PickExplanation {
        PickExplanation {
            algorithm: algorithm.to_string(),
            rule: "No explanation: this policy does not describe its picks.".to_string(),
            next: None,
            next_name: None,
            reason: String::new(),
            randomness: Randomness::Deterministic,
            sampled: Vec::new(),
            candidates: Vec::new(),
            explained: false,
        }
    }
}

/// The pick `b` would make now, on clones of the balancer and the stream (neither moves).
pub(crate) fn next_by_clone<B: Balancer + Clone>(b: &B, view: &PickView<'_>, rng: &SimRng) -> Option<u32> {
    b.clone().pick(view, &mut rng.clone())
}

/// An explanation of `b`'s next pick: the rule, the candidates (eligible servers with the
/// numbers `values` gives each), the winner by cloning, and the reason `reason` writes for it.
pub(crate) fn explain_with<B: Balancer + Clone>(
    b: &B,
    view: &PickView<'_>,
    rng: &SimRng,
    rule: &str,
    randomness: Randomness,
    values: impl Fn(u32) -> Vec<Value>,
    reason: impl FnOnce(&Candidate) -> String,
) -> PickExplanation {
    let next = next_by_clone(b, view, rng);
    let candidates: Vec<Candidate> = view
        .eligible()
        .iter()
        .map(|&s| Candidate {
            server: s,
            name: view.name(s).to_string(),
            active: view.active(s),
            weight: view.weight(s),
            values: values(s),
        })
        .collect();
    let reason = match next {
        None => "No server is eligible.".to_string(),
        Some(s) => match candidates.iter().find(|c| c.server == s) {
            Some(c) => reason(c),
            None => format!("{} (not eligible: a broken policy).", view.name(s)),
        },
    };
    PickExplanation {
        algorithm: b.name().to_string(),
        rule: rule.to_string(),
        next,
        next_name: next.map(|s| view.name(s).to_string()),
        reason,
        randomness,
        sampled: Vec::new(),
        candidates,
        explained: true,
    }
}

/// The value named `name` of a candidate (0 when it has none).
pub(crate) fn value(c: &Candidate, name: &str) -> f64 {
    c.values.iter().find(|v| v.name == name).map_or(0.0, |v| v.value)
}

/// A short number for a sentence (integers without a fraction).
pub(crate) fn num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 { format!("{}", x as i64) } else { format!("{x:.3}") }
}

/// nginx smooth weighted round robin (also its fallback in `ip_hash`).
pub(crate) fn round_robin<B: Balancer + Clone>(b: &B, view: &PickView<'_>, rng: &SimRng) -> PickExplanation {
    explain_with(
        b,
        view,
        rng,
        "Smooth weighted round robin: each pick adds every eligible server's weight to its current weight, takes the highest and subtracts the total.",
        Randomness::Deterministic,
        |s| current_weight(b, view, s),
        |c| {
            format!(
                "{}: highest current weight + weight ({}).",
                c.name,
                num(value(c, "current weight") + f64::from(c.weight))
            )
        },
    )
}

/// nginx least_conn.
pub(crate) fn least_connections<B: Balancer + Clone>(b: &B, view: &PickView<'_>, rng: &SimRng) -> PickExplanation {
    explain_with(
        b,
        view,
        rng,
        "Least connections: the lowest active ÷ weight wins; ties go by smooth weighted round robin.",
        Randomness::Deterministic,
        |s| {
            let mut v = vec![Value {
                name: "active ÷ weight",
                value: f64::from(view.active(s)) / f64::from(view.weight(s).max(1)),
            }];
            v.extend(current_weight(b, view, s));
            v
        },
        |c| {
            let tied = view
                .eligible()
                .iter()
                .filter(|&&s| {
                    u64::from(view.active(s)) * u64::from(c.weight) == u64::from(c.active) * u64::from(view.weight(s))
                })
                .count();
            let tie =
                if tied > 1 { format!("; {tied} tied, smooth weighted round robin chose it") } else { String::new() };
            format!("{}: lowest active ÷ weight ({} ÷ {}{tie}).", c.name, c.active, c.weight)
        },
    )
}

/// nginx weighted `random`.
pub(crate) fn random<B: Balancer + Clone>(b: &B, view: &PickView<'_>, rng: &SimRng) -> PickExplanation {
    let total: f64 = view.eligible().iter().map(|&s| f64::from(view.weight(s))).sum();
    explain_with(
        b,
        view,
        rng,
        "Random: a server drawn with probability proportional to its weight among the eligible ones.",
        Randomness::Random,
        |s| {
            vec![Value {
                name: "probability",
                value: if total > 0.0 { f64::from(view.weight(s)) / total } else { 0.0 },
            }]
        },
        |c| {
            format!(
                "{}: drawn by the replica's random stream (probability {:.1}%).",
                c.name,
                100.0 * value(c, "probability")
            )
        },
    )
}

/// A hash policy: the key decides; the candidates carry their key shares.
pub(crate) fn hashed<B: Balancer + Clone>(b: &B, view: &PickView<'_>, rng: &SimRng, rule: &str) -> PickExplanation {
    explain_with(
        b,
        view,
        rng,
        rule,
        Randomness::Keyed,
        |s| b.hash_share(s).map(|v| vec![Value { name: "key share", value: v }]).unwrap_or_default(),
        |c| format!("{}: where this request's key hashes to.", c.name),
    )
}

/// Active ÷ weight, the load the least-loaded rules compare.
fn load(view: &PickView<'_>, s: u32) -> Vec<Value> {
    vec![Value { name: "active ÷ weight", value: f64::from(view.active(s)) / f64::from(view.weight(s).max(1)) }]
}

/// Drawn servers, the least loaded (active ÷ weight) of them wins: nginx `random two
/// [least_conn]` and HAProxy `random(N)`. `sampled`: the draws the pick compares.
pub(crate) fn least_loaded_of_draws<B: Balancer + Clone>(
    b: &B,
    view: &PickView<'_>,
    rng: &SimRng,
    rule: &str,
    sampled: Vec<u32>,
) -> PickExplanation {
    let mut e = explain_with(
        b,
        view,
        rng,
        rule,
        Randomness::Random,
        |s| load(view, s),
        |c| format!("{}: the least loaded of the draws ({} ÷ {}).", c.name, c.active, c.weight),
    );
    if sampled.is_empty() {
        // nginx `random two` after 20 rejected draws, or with fewer than two peers.
        if let Some(name) = &e.next_name {
            e.reason = format!("{name}: round robin, nginx's fallback when the draws find no two usable peers.");
        }
    }
    e.sampled = sampled;
    e
}

/// HAProxy `first`.
pub(crate) fn first<B: Balancer + Clone>(b: &B, view: &PickView<'_>, rng: &SimRng) -> PickExplanation {
    explain_with(
        b,
        view,
        rng,
        "First (HAProxy): the first server in configuration order with fewer than max_conns requests in flight; when all are full, the least loaded.",
        Randomness::Deterministic,
        |_| Vec::new(),
        |c| format!("{}: the first with room ({} active).", c.name, c.active),
    )
}

/// HAProxy `static-rr`.
pub(crate) fn static_rr<B: Balancer + Clone>(b: &B, view: &PickView<'_>, rng: &SimRng) -> PickExplanation {
    explain_with(
        b,
        view,
        rng,
        "Static round robin (HAProxy static-rr): a map with each server weight ÷ gcd times, spread out, walked in turn; servers that are not eligible are skipped.",
        Randomness::Deterministic,
        |_| Vec::new(),
        |c| format!("{}: the next eligible entry of the map.", c.name),
    )
}

/// HAProxy `roundrobin`.
pub(crate) fn haproxy_round_robin<B: Balancer + Clone>(b: &B, view: &PickView<'_>, rng: &SimRng) -> PickExplanation {
    explain_with(
        b,
        view,
        rng,
        "HAProxy round robin (lb_fwrr.c): each server waits at its next position in a tree, stepped forward by the total weight ÷ its weight after each pick; the earliest position wins.",
        Randomness::Deterministic,
        |s| b.inspect(s, view.now_ns()).map(|v| vec![Value { name: "position", value: v }]).unwrap_or_default(),
        |c| format!("{}: the earliest position in the tree.", c.name),
    )
}

/// The smooth-WRR current weight a policy reports for a server (none when it keeps none).
fn current_weight<B: Balancer>(b: &B, view: &PickView<'_>, s: u32) -> Vec<Value> {
    b.inspect(s, view.now_ns()).map(|v| vec![Value { name: "current weight", value: v }]).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::super::{Outcome, OutcomeKind, StaticView, built_in};
    use crate::rng::SimRng;
    use crate::scenario::{Algorithm, BalancerSpec};
    use proptest::prelude::*;

    /// Random pool states: weights, active counts, availability, a key and an address.
    fn state() -> impl Strategy<Value = (Vec<u32>, Vec<u32>, Vec<bool>, u64, u32, u64)> {
        (2usize..9).prop_flat_map(|n| {
            (
                proptest::collection::vec(1u32..6, n),
                proptest::collection::vec(0u32..5, n),
                proptest::collection::vec(proptest::bool::weighted(0.8), n),
                any::<u64>(),
                any::<u32>(),
                any::<u64>(),
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// For every built-in algorithm, over random views and histories, the explanation's
        /// next server is the server `pick` then chooses with the same state and stream.
        #[test]
        fn explanation_names_the_pick((weights, active, up, key, ip, seed) in state(), steps in 0usize..12) {
            // A small prime table: Maglev's table is rebuilt often here.
            let spec = BalancerSpec { table_size: 251, ..BalancerSpec::default() };
            for algorithm in Algorithm::ALL {
                let mut b = built_in(algorithm, &spec);
                let mut rng = SimRng::from_seed(seed);
                let mut f = StaticView::new(&weights);
                f.key = key;
                f.source_ip = ip;
                // A history: picks, outcomes (failures penalise the WRR family, EWMA learns),
                // changing load and availability.
                for step in 0..steps {
                    f.now_ns = step as u64 * 1_000_000;
                    f.active = active.iter().map(|&a| (a + step as u32) % 5).collect();
                    if step == steps / 2 {
                        for (s, &u) in up.iter().enumerate() {
                            f.set_available(s as u32, u);
                        }
                    }
                    f.key = key.wrapping_add(step as u64);
                    if let Some(s) = b.pick(&f.view(), &mut rng) {
                        let kind = if step % 3 == 0 { OutcomeKind::ConnectionError } else { OutcomeKind::Answered };
                        b.observe(&Outcome { server: s, sent_ns: 0, now_ns: f.now_ns + 5_000_000 * (s as u64 + 1), kind });
                    }
                }
                f.now_ns += 1_000_000;
                let e = b.explain(&f.view(), &rng);
                prop_assert!(e.explained, "{}", algorithm.name());
                prop_assert_eq!(e.candidates.len(), f.view().eligible().len());
                let picked = b.pick(&f.view(), &mut rng);
                prop_assert_eq!(e.next, picked, "{}: {:?}", algorithm.name(), e);
                if let Some(s) = picked {
                    prop_assert!(e.reason.contains(&f.names[s as usize]), "{}", e.reason);
                    if !e.sampled.is_empty() {
                        prop_assert!(e.sampled.contains(&s), "{}: {:?}", algorithm.name(), e);
                    }
                }
            }
        }
    }

    /// A custom policy that does not override `explain` says so.
    #[test]
    fn custom_policies_are_unexplained() {
        struct First;
        impl super::Balancer for First {
            fn name(&self) -> &str {
                "first"
            }
            fn pick(&mut self, view: &super::PickView<'_>, _rng: &mut SimRng) -> Option<u32> {
                view.eligible().first().copied()
            }
        }
        let f = StaticView::new(&[1, 1]);
        let e = super::Balancer::explain(&First, &f.view(), &SimRng::from_seed(1));
        assert!(!e.explained);
        assert_eq!(e.next, None);
    }
}
