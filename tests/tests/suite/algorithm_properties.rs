//! Property tests of each algorithm against hand-made pool states (`StaticView`), and of the
//! engine's round robin over whole runs.

use lbsim_tests::*;
use proptest::prelude::*;
use sim_core::algo::{Balancer, StaticView};
use sim_core::rng::SimRng;
use sim_core::{Algorithm, BalancerSpec};

fn algo(a: Algorithm) -> Box<dyn Balancer> {
    sim_core::algo::built_in(a, &BalancerSpec::default())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Equal weights: after every pick, per-server counts differ by at most one.
    #[test]
    fn round_robin_equal_weights_stay_within_one(n in 1usize..24, picks in 1usize..400) {
        let v = StaticView::new(&vec![1; n]);
        let mut rr = algo(Algorithm::RoundRobin);
        let mut rng = SimRng::from_seed(0);
        let mut counts = vec![0u32; n];
        for _ in 0..picks {
            counts[rr.pick(&v.view(), &mut rng).unwrap() as usize] += 1;
            let (lo, hi) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
            prop_assert!(hi - lo <= 1, "{counts:?}");
        }
    }

    /// Weights: every full cycle (Σ weights picks) gives each server exactly its weight, and
    /// within a cycle no server runs ahead of or behind its share by a whole cycle's worth.
    #[test]
    fn round_robin_follows_weights_each_cycle(weights in prop::collection::vec(1u32..8, 1..8), cycles in 1usize..6) {
        let v = StaticView::new(&weights);
        let total: u32 = weights.iter().sum();
        let mut rr = algo(Algorithm::RoundRobin);
        let mut rng = SimRng::from_seed(0);
        let mut counts = vec![0u32; weights.len()];
        for t in 1..=(total as usize * cycles) {
            counts[rr.pick(&v.view(), &mut rng).unwrap() as usize] += 1;
            for (i, &w) in weights.iter().enumerate() {
                let ideal = t as f64 * f64::from(w) / f64::from(total);
                prop_assert!((f64::from(counts[i]) - ideal).abs() < f64::from(w), "t={t} {counts:?} {weights:?}");
            }
            if t % total as usize == 0 {
                let k = (t / total as usize) as u32;
                let expect: Vec<u32> = weights.iter().map(|w| w * k).collect();
                prop_assert_eq!(&counts, &expect);
            }
        }
    }

    /// least_connections never picks a server with more active requests per weight than
    /// another eligible server.
    #[test]
    fn least_connections_picks_a_minimum(
        servers in prop::collection::vec((1u32..6, 0u32..20, prop::bool::weighted(0.8)), 1..16),
    ) {
        let weights: Vec<u32> = servers.iter().map(|s| s.0).collect();
        let mut v = StaticView::new(&weights);
        for (i, s) in servers.iter().enumerate() {
            v.active[i] = s.1;
            if !s.2 { v.set_available(i as u32, false); }
        }
        let mut lc = algo(Algorithm::LeastConnections);
        let pick = lc.pick(&v.view(), &mut SimRng::from_seed(1));
        let eligible = v.view().eligible().to_vec();
        prop_assert_eq!(pick.is_none(), eligible.is_empty());
        if let Some(p) = pick {
            prop_assert!(eligible.contains(&p));
            let ratio = |s: u32| f64::from(v.active[s as usize]) / f64::from(v.weights[s as usize]);
            for &s in &eligible {
                prop_assert!(ratio(p) <= ratio(s) + 1e-12, "picked {p} ({}) over {s} ({})", ratio(p), ratio(s));
            }
        }
    }

    /// Every algorithm picks an eligible server when there is one, and nothing otherwise
    /// (ip_hash falls back to round robin over the eligible ones).
    #[test]
    fn every_algorithm_picks_only_eligible_servers(
        n in 1usize..12,
        down in prop::collection::vec(any::<bool>(), 12),
        key in any::<u64>(),
        ip in any::<u32>(),
        active in prop::collection::vec(0u32..5, 12),
    ) {
        let mut v = StaticView::new(&vec![1; n]);
        v.key = key;
        v.source_ip = ip;
        for i in 0..n {
            v.active[i] = active[i];
            if down[i] { v.set_available(i as u32, false); }
        }
        for a in Algorithm::ALL {
            let mut alg = algo(a);
            let mut rng = SimRng::from_seed(key);
            for _ in 0..3 {
                let pick = alg.pick(&v.view(), &mut rng);
                match pick {
                    Some(p) => prop_assert!(v.view().eligible().contains(&p), "{} picked {p}", a.name()),
                    None => prop_assert!(v.view().eligible().is_empty(), "{} picked nothing", a.name()),
                }
            }
        }
    }

    /// power_of_two's pick is never more loaded than a uniformly random one would be on
    /// average: it picks the most loaded server with probability ≈ 1/n² (two samples).
    #[test]
    fn power_of_two_avoids_the_busiest(n in 2usize..10, seed in any::<u64>()) {
        let mut v = StaticView::new(&vec![1; n]);
        v.active[0] = 100;
        let mut p2c = algo(Algorithm::PowerOfTwo);
        let mut rng = SimRng::from_seed(seed);
        let trials = 4000;
        let hits = (0..trials).filter(|_| p2c.pick(&v.view(), &mut rng) == Some(0)).count();
        let expected = trials as f64 / (n * n) as f64;
        prop_assert!((hits as f64) < expected * 1.6 + 20.0, "{hits} hits, expected about {expected}");
    }
}

/// The engine's round robin (L7, equal weights, no failures): per-server request counts over a
/// whole run differ by at most one.
#[test]
fn engine_round_robin_counts_differ_by_at_most_one() {
    for (n, seed) in [(3, 1), (7, 2), (16, 3)] {
        let mut s = queueing(n, 0.5, Algorithm::RoundRobin, 20_000);
        s.warmup_ns = 0;
        let r = run(&s, seed);
        let counts: Vec<u64> = r.servers.iter().map(|s| s.requests).collect();
        let spread = counts.iter().max().unwrap() - counts.iter().min().unwrap();
        assert!(spread <= 1, "n={n}: {counts:?}");
    }
}

/// nginx's smooth weighted round robin written plainly (the scan over every eligible peer that
/// `round_robin` used before its O(log n) form), the reference the fast form must equal.
struct NaiveSwrr {
    current: Vec<i64>,
    /// `i64::MIN` = not yet seen (starts at the configured weight).
    effective: Vec<i64>,
    /// Weights remembered at the last pick, for the failure penalty.
    weights: Vec<u32>,
    max_fails: u32,
}

impl NaiveSwrr {
    fn new(max_fails: u32) -> NaiveSwrr {
        NaiveSwrr { current: Vec::new(), effective: Vec::new(), weights: Vec::new(), max_fails }
    }

    fn ensure(&mut self, n: usize) {
        if self.current.len() < n {
            self.current.resize(n, 0);
            self.effective.resize(n, i64::MIN);
            self.weights.resize(n, 1);
        }
    }

    fn pick(&mut self, v: &sim_core::algo::PickView<'_>) -> Option<u32> {
        self.ensure(v.server_count());
        let (mut best, mut total) = (None::<u32>, 0i64);
        for &s in v.eligible() {
            let (i, weight) = (s as usize, i64::from(v.weight(s)));
            self.weights[i] = v.weight(s);
            if self.effective[i] == i64::MIN {
                self.effective[i] = weight;
            }
            self.current[i] += self.effective[i];
            total += self.effective[i];
            if self.effective[i] < weight {
                self.effective[i] += 1;
            }
            if best.is_none_or(|b| self.current[i] > self.current[b as usize]) {
                best = Some(s);
            }
        }
        let b = best?;
        self.current[b as usize] -= total;
        Some(b)
    }

    fn fail(&mut self, server: u32) {
        if self.max_fails == 0 {
            return;
        }
        self.ensure(server as usize + 1);
        let (i, weight) = (server as usize, self.weights[server as usize]);
        if self.effective[i] == i64::MIN {
            self.effective[i] = i64::from(weight);
        }
        self.effective[i] = (self.effective[i] - i64::from(weight / self.max_fails)).max(0);
    }
}

/// One thing that happens to the pool between picks.
#[derive(Clone, Debug)]
enum PoolEvent {
    /// This many picks.
    Picks(usize),
    /// A server goes down or comes back (health).
    Health(usize, bool),
    /// A server's weight changes.
    Weight(usize, u32),
    /// A connection error on the last server picked (nginx's failure penalty).
    Fail,
    /// The member list changes: a server is added or removed.
    Members(usize, bool),
}

fn pool_event() -> impl Strategy<Value = PoolEvent> {
    prop_oneof![
        6 => (1usize..40).prop_map(PoolEvent::Picks),
        2 => (0usize..64, any::<bool>()).prop_map(|(s, up)| PoolEvent::Health(s, up)),
        1 => (0usize..64, 1u32..5).prop_map(|(s, w)| PoolEvent::Weight(s, w)),
        2 => Just(PoolEvent::Fail),
        1 => (0usize..64, any::<bool>()).prop_map(|(s, add)| PoolEvent::Members(s, add)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// `round_robin` picks exactly what nginx's plain scan picks, pick after pick, and reports
    /// the same current weights, under health changes, weight changes, failure penalties and
    /// servers added or removed, with equal weights (its O(log n) form) or not.
    #[test]
    fn round_robin_matches_the_plain_scan(
        n in 1usize..48,
        weights in prop::collection::vec(1u32..5, 48),
        uniform in prop::bool::weighted(0.7),
        max_fails in 0u32..3,
        events in prop::collection::vec(pool_event(), 1..40),
    ) {
        let weights: Vec<u32> = if uniform { vec![weights[0]; n] } else { weights[..n].to_vec() };
        let mut f = StaticView::new(&weights);
        let mut fast = sim_core::algo::SmoothWeightedRoundRobin::new(max_fails);
        let mut naive = NaiveSwrr::new(max_fails);
        let mut rng = SimRng::from_seed(0);
        let mut last = None;
        for event in events {
            match event {
                PoolEvent::Picks(k) => {
                    for _ in 0..k {
                        let expected = naive.pick(&f.view());
                        prop_assert_eq!(fast.pick(&f.view(), &mut rng), expected);
                        last = expected.or(last);
                        for s in 0..f.weights.len() as u32 {
                            let current = naive.current.get(s as usize).map(|&c| c as f64);
                            prop_assert_eq!(fast.inspect(s, 0), current, "server {}", s);
                        }
                    }
                }
                PoolEvent::Health(s, up) => {
                    let s = (s % f.weights.len()) as u32;
                    f.set_available(s, up);
                }
                PoolEvent::Weight(s, w) => {
                    let i = s % f.weights.len();
                    // Weight changes keep the pool's kind: all equal stays all equal.
                    if uniform {
                        f.weights.iter_mut().for_each(|x| *x = w);
                    } else {
                        f.weights[i] = w;
                    }
                }
                PoolEvent::Fail => {
                    if let Some(s) = last {
                        naive.fail(s);
                        fast.observe(&sim_core::algo::Outcome {
                            server: s,
                            sent_ns: 0,
                            now_ns: 0,
                            kind: sim_core::algo::OutcomeKind::ConnectionError,
                        });
                    }
                }
                PoolEvent::Members(s, add) => {
                    let mut members = f.members.clone();
                    if add {
                        let new = (f.weights.len() + s % 4) as u32;
                        if !members.contains(&new) {
                            members.push(new);
                        }
                    } else if members.len() > 1 {
                        members.remove(s % members.len());
                    }
                    f.set_members(members);
                    if uniform {
                        let w = f.weights[0];
                        f.weights.iter_mut().for_each(|x| *x = w);
                    }
                }
            }
        }
    }
}
