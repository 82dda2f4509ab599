//! The algorithm catalogue under failures: active and passive health checks, backups, slow
//! servers, and how hash algorithms move keys when a server is added.

use lbsim_tests::*;
use proptest::prelude::*;
use sim_core::algo::{Balancer, BoundedLoadHash, StaticView};
use sim_core::rng::SimRng;
use sim_core::testing::{Bounds, scenarios};
use sim_core::{Algorithm, BalancerSpec, Report, Scenario, Simulation};

fn server<'a>(r: &'a Report, name: &str) -> &'a sim_core::metrics::report::ServerReport {
    r.servers.iter().find(|s| s.name == name).unwrap()
}

/// A crash under active checks (interval 2 s, fall 3, timeout 1 s): requests to the dead
/// server stop within fall × interval + timeout; after `recover`, traffic returns after rise ×
/// interval (not before the rise-th good check, so not before (rise − 1) × interval).
#[test]
fn active_checks_detect_a_crash_and_a_recovery_in_time() {
    let s = bundled("crash-with-health-checks.toml");
    let hc = s.balancer.health_check.unwrap();
    let (crash, recover) = (20 * SEC, 50 * SEC);
    let mut sim = Simulation::new(&s, s.seed);
    let detect_bound = crash + u64::from(hc.fall) * hc.interval_ns + hc.timeout_ns + 10 * MS;
    sim.step_until(detect_bound);
    let refused_by_bound = server(&sim.report(), "api-3").requests_while_down;
    assert!(refused_by_bound > 0, "the crash was felt");
    sim.step_until(recover - 1);
    let r = sim.report();
    assert_eq!(server(&r, "api-3").requests_while_down, refused_by_bound, "requests went on after detection");
    let detected = r.crashes[0].detected_after_s.unwrap();
    assert!(detected <= (hc.fall as f64) * 2.0 + 1.0, "detected after {detected}s");
    let served_at_recovery = server(&r, "api-3").requests;
    sim.step_until(recover + u64::from(hc.rise - 1) * hc.interval_ns);
    assert_eq!(server(&sim.report(), "api-3").requests, served_at_recovery, "traffic came back before rise checks");
    sim.step_until(recover + u64::from(hc.rise) * hc.interval_ns + 200 * MS);
    assert!(server(&sim.report(), "api-3").requests > served_at_recovery, "traffic did not come back");
    sim.run();
    assert_eq!(sim.report().picks_ineligible, 0);
}

/// Without checks the dead server keeps its share of traffic until it recovers; nginx passive
/// checks cut that to about one probe per `fail_timeout`.
#[test]
fn passive_checks_leave_one_probe_per_fail_timeout() {
    let s = bundled("crash-no-health-checks.toml");
    let none = run(&s, s.seed);
    let refused = server(&none, "api-3").requests_while_down;
    assert!(refused > 4_000, "{refused}");
    let mut passive = s.clone();
    passive.balancer.passive = Some(sim_core::Passive::new(1, 10 * SEC));
    let r = run(&passive, s.seed);
    let probes = server(&r, "api-3").requests_while_down;
    // 30 s down with a 10 s fail_timeout: the first failure, then about three probes.
    assert!((2..=6).contains(&probes), "{probes} requests reached the dead server");
}

/// With no network latency a request in flight at the crash fails inside the crash itself,
/// and nginx passive checks (`max_fails = 1`) take the server out at that very instant: the
/// report says it was detected after 0 s, not at the next probe a `fail_timeout` later.
#[test]
fn a_crash_detected_by_a_failure_at_the_crash_is_reported_at_once() {
    let mut s = bundled("crash-no-health-checks.toml");
    s.network.latency_ns = 0;
    s.balancer.passive = Some(sim_core::Passive::new(1, 10 * SEC));
    // Long service so that every server has work in flight at the crash, whatever the seed.
    s.servers[0].service = sim_core::ServiceDist::Constant { value_ns: 20 * MS };
    for seed in 0..8 {
        let r = run(&s, seed);
        let crash = &r.crashes[0];
        assert_eq!(crash.detected_after_s, Some(0.0), "seed {seed}: {crash:?}");
    }
}

/// A server marked down at 600 replicas for a year: the time summed over replicas passes
/// u64 nanoseconds (it overflowed in the test profile); the report's per-replica average is
/// the year less the detection.
#[test]
fn a_year_marked_down_at_hundreds_of_replicas_is_reported() {
    let text = "name = \"year\"\nduration = \"8760h\"\n[[servers]]\nname = \"api\"\ncount = 2\nservice = { dist = \"constant\", value = \"1ms\" }\n[[clients]]\nname = \"web\"\nrate = 0\n[balancer]\nreplicas = 600\nhealth_check = { interval = \"1h\", timeout = \"1s\", rise = 1, fall = 1 }\n[limits]\nmax_duration = \"8760h\"\n[[events]]\nat = \"0s\"\naction = \"crash\"\ntarget = \"api-1\"\n";
    let s = Scenario::from_toml(text).unwrap();
    let r = run(&s, 1);
    let down = server(&r, "api-1").marked_down_s;
    let year = 365.0 * 86_400.0;
    assert!(down > year - 3_700.0 && down <= year, "marked down {down} s of {year}");
}

/// nginx backup servers serve only while no primary is available.
#[test]
fn backups_take_over_only_while_every_primary_is_out() {
    let s = bundled("backup-failover.toml");
    let mut sim = Simulation::new(&s, s.seed);
    sim.step_until(19 * SEC);
    assert_eq!(server(&sim.report(), "standby-1").requests, 0);
    sim.step_until(45 * SEC);
    let during = server(&sim.report(), "standby-1").requests;
    assert!(during > 4_000, "{during}");
    sim.step_until(55 * SEC);
    let after_probe = server(&sim.report(), "standby-1").requests;
    sim.run();
    let end = server(&sim.report(), "standby-1").requests;
    assert!(end - after_probe < 20, "the backup kept working after the primaries came back");
}

/// One server 12× slower for half the run, 1 s client timeout (Linkerd's 2016 experiment):
/// least_connections and peak_ewma lose far fewer requests than round_robin. Linkerd
/// published ≈ 95% / 99% / 99.9% success for round robin / least loaded / peak EWMA.
#[test]
fn slow_server_least_connections_and_peak_ewma_beat_round_robin() {
    let s = bundled("slow-server.toml");
    let success = |a: Algorithm| {
        let mut s = s.clone();
        s.balancer.algorithm = a;
        let r = run(&s, s.seed);
        r.requests.completed as f64 / r.requests.sent as f64
    };
    let rr = success(Algorithm::RoundRobin);
    let lc = success(Algorithm::LeastConnections);
    let ewma = success(Algorithm::PeakEwma);
    assert!((0.93..0.97).contains(&rr), "round_robin {rr}");
    assert!(lc > 0.985, "least_connections {lc}");
    assert!(ewma > 0.995, "peak_ewma {ewma}");
    assert!((1.0 - lc) * 3.0 < 1.0 - rr && (1.0 - ewma) * 10.0 < 1.0 - rr, "rr {rr}, lc {lc}, ewma {ewma}");
}

fn algo(a: Algorithm) -> Box<dyn Balancer> {
    sim_core::algo::built_in(a, &BalancerSpec::default())
}

/// The fraction of `keys` that map to another server after server `n` joins servers `0..n`.
fn moved_fraction(a: Algorithm, n: u32, keys: u64, salt: u64) -> f64 {
    let mut v = StaticView::new(&vec![1; n as usize]);
    let mut rng = SimRng::from_seed(0);
    let mut alg = algo(a);
    let before: Vec<u32> = (0..keys)
        .map(|k| {
            v.key = sim_core::rng::mix64(k ^ salt);
            v.source_ip = sim_core::rng::mix64(k ^ salt) as u32;
            alg.pick(&v.view(), &mut rng).unwrap()
        })
        .collect();
    v.set_members((0..=n).collect());
    let moved = (0..keys)
        .filter(|&k| {
            v.key = sim_core::rng::mix64(k ^ salt);
            v.source_ip = sim_core::rng::mix64(k ^ salt) as u32;
            alg.pick(&v.view(), &mut rng).unwrap() != before[k as usize]
        })
        .count();
    moved as f64 / keys as f64
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Consistent hashing, Maglev and bounded-load hashing move about 1/(n+1) of the keys when
    /// a server is added (the new server's share), never much more.
    #[test]
    fn consistent_algorithms_move_about_one_in_n_plus_one(n in 2u32..16, salt in any::<u64>()) {
        let ideal = 1.0 / f64::from(n + 1);
        for a in [Algorithm::ConsistentHash, Algorithm::Maglev, Algorithm::BoundedLoadHash] {
            let moved = moved_fraction(a, n, 4_000, salt);
            prop_assert!(moved > ideal * 0.5 && moved < ideal * 1.6, "{}: n={} moved {:.3}, ideal {:.3}", a.name(), n, moved, ideal);
        }
    }

    /// nginx ip_hash is modulo hashing: adding a server moves most keys (the contrast).
    #[test]
    fn ip_hash_moves_most_keys(n in 3u32..16, salt in any::<u64>()) {
        let moved = moved_fraction(Algorithm::IpHash, n, 2_000, salt);
        prop_assert!(moved > 0.5, "ip_hash moved only {moved:.3}");
    }

    /// ip_hash is stable for a fixed address, whatever else happens between picks.
    #[test]
    fn ip_hash_is_stable_for_an_address(ip in any::<u32>(), others in prop::collection::vec(any::<u32>(), 0..20), n in 2usize..10) {
        let mut v = StaticView::new(&vec![1; n]);
        let mut alg = algo(Algorithm::IpHash);
        let mut rng = SimRng::from_seed(1);
        v.source_ip = ip;
        let first = alg.pick(&v.view(), &mut rng);
        for o in others {
            v.source_ip = o;
            alg.pick(&v.view(), &mut rng);
            v.source_ip = ip;
            prop_assert_eq!(alg.pick(&v.view(), &mut rng), first);
        }
    }

    /// Bounded-load hashing never puts a server above its capacity ⌈c·(m+1)⌉ share.
    #[test]
    fn bounded_load_never_exceeds_capacity(
        n in 2usize..12, loads in prop::collection::vec(0u32..30, 12), key in any::<u64>(), factor in 1.0f64..2.0,
    ) {
        let mut v = StaticView::new(&vec![1; n]);
        v.active[..n].copy_from_slice(&loads[..n]);
        v.key = key;
        let mut b = BoundedLoadHash::new(factor);
        let pick = sim_core::algo::Balancer::pick(&mut b, &v.view(), &mut SimRng::from_seed(0)).unwrap();
        let in_flight: u64 = loads[..n].iter().map(|&l| u64::from(l)).sum();
        let slots = b.slots(&v.view(), pick, in_flight);
        prop_assert!(u64::from(v.active[pick as usize]) < slots, "server {} at {} of {}", pick, v.active[pick as usize], slots);
    }

    /// No built-in algorithm ever picks a server the replica's health checking has taken out
    /// while a healthy one exists (random scenarios with checks, crashes and recoveries).
    #[test]
    fn no_pick_of_a_server_marked_down(s in scenarios(Bounds { max_events: 8, ..Bounds::default() })) {
        let r = run(&s, s.seed);
        prop_assert_eq!(r.picks_ineligible, 0);
    }
}

// ---- failing servers (error_rate, the `errors` action, server_error) -----------------------

/// One group of `n` servers with a constant 10 ms service, 200 requests/s from 20 clients.
fn erroring(n: u32, error_rate: f64, error_latency_ns: Option<u64>) -> Scenario {
    let text = format!(
        "name = \"errors\"\nduration = \"20s\"\n[[servers]]\nname = \"api\"\ncount = {n}\nworkers = 1000\n\
         service = {{ dist = \"constant\", value = \"10ms\" }}\nerror_rate = {error_rate:?}\n{}\
         [[clients]]\nname = \"web\"\ncount = 20\nconnections = 4\nrate = 10\n",
        error_latency_ns.map_or(String::new(), |l| format!("error_latency = \"{l}ns\"\n"))
    );
    Scenario::from_toml(&text).unwrap()
}

/// A static `error_rate`: that fraction of requests ends as `server_error` (within 3 standard
/// deviations of the binomial), each exactly once; the errors count in the server's requests
/// and in its `errors`; an error takes `error_latency` (here 1 ms, no network), or the service
/// time without one.
#[test]
fn error_rate_fails_that_fraction_after_the_error_latency() {
    let r = run(&erroring(1, 0.25, Some(MS)), 3);
    let q = &r.requests;
    let errors = q.outcomes.server_error as f64;
    let sd = (q.sent as f64 * 0.25 * 0.75).sqrt();
    assert!((errors - q.sent as f64 * 0.25).abs() < 3.0 * sd, "{errors} of {}", q.sent);
    assert_eq!(q.outcomes.ok + q.outcomes.server_error, q.sent, "one outcome each");
    assert_eq!(r.servers[0].errors, q.outcomes.server_error);
    assert_eq!(r.servers[0].requests, q.sent, "error answers count in the server's requests");
    // ok requests take 10 ms, errors 1 ms: the mean over every request is the mix.
    assert!((r.latency_ms.mean - 10.0).abs() < 1e-9, "{}", r.latency_ms.mean);
    let mix = (q.outcomes.ok as f64 * 10.0 + errors * 1.0) / q.sent as f64;
    assert!((r.latency_all_ms.mean - mix).abs() < 1e-6, "{} vs {mix}", r.latency_all_ms.mean);
    let slow = run(&erroring(1, 1.0, None), 3);
    assert_eq!(slow.requests.outcomes.server_error, slow.requests.sent);
    assert!((slow.latency_all_ms.mean - 10.0).abs() < 1e-9, "without error_latency an error takes the service time");
}

/// The `errors` action starts and ends a server's errors; `rate = 0` ends them. Round robin
/// gives the failing server its share; least_connections sees an idle server and gives it
/// more (the black hole); nginx's passive checks only react with `fail_on_server_error`.
#[test]
fn errors_action_black_hole_and_passive_checks() {
    let mut s = erroring(4, 0.0, None);
    s.warmup_ns = 5 * SEC;
    s.events.push(sim_core::scenario::TimelineEvent {
        at_ns: 5 * SEC,
        action: sim_core::scenario::Action::Errors { target: "api-4".into(), rate: 1.0, latency_ns: Some(MS) },
    });
    s.events.push(sim_core::scenario::TimelineEvent {
        at_ns: 15 * SEC,
        action: sim_core::scenario::Action::Errors { target: "api-4".into(), rate: 0.0, latency_ns: None },
    });
    let share = |r: &Report| r.requests.outcomes.server_error as f64 / r.requests.sent as f64;
    let rr = run(&s, 1);
    // 10 of the 15 measured seconds fail a quarter of the requests.
    assert!((share(&rr) - 0.25 * 10.0 / 15.0).abs() < 0.01, "{}", share(&rr));
    assert_eq!(server(&rr, "api-4").errors, rr.requests.outcomes.server_error);
    s.balancer.algorithm = Algorithm::LeastConnections;
    let lc = run(&s, 1);
    assert!(share(&lc) > 1.5 * share(&rr), "least_connections {} vs round robin {}", share(&lc), share(&rr));
    // Passive checks without fail_on_server_error: a 5xx is an answer, nothing changes.
    s.balancer.passive = Some(sim_core::scenario::Passive::new(1, 10 * SEC));
    assert_eq!(run(&s, 1).requests.outcomes.server_error, lc.requests.outcomes.server_error);
    s.balancer.fail_on_server_error = true;
    let passive = run(&s, 1);
    assert!(passive.requests.outcomes.server_error <= 2, "{}", passive.requests.outcomes.server_error);
    s.balancer.retry_on_error = 1;
    assert_eq!(run(&s, 1).requests.outcomes.server_error, 0, "the failed attempt is retried elsewhere");
}

/// A client's `retries` retry a server error: with half the answers failing and 3 retries, a
/// request fails only if all 4 attempts do (1/16), and the retries are counted.
#[test]
fn client_retries_retry_server_errors() {
    let mut s = erroring(2, 0.5, Some(MS));
    s.clients[0].retries = 3;
    let r = run(&s, 5);
    let share = r.requests.outcomes.server_error as f64 / r.requests.sent as f64;
    assert!((share - 1.0 / 16.0).abs() < 0.01, "{share}");
    assert!(r.requests.retries > r.requests.sent / 2, "{}", r.requests.retries);
}
