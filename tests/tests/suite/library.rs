//! lbsim as a library for property-based tests: strategies make only valid, bounded
//! scenarios that survive a trip through TOML; a wrong custom balancer is caught, shrunk, and
//! its counterexample replays through the command line to the same trace hash.

use lbsim_tests::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestError, TestRunner};
use sim_core::testing::{Bounds, max_events_for, scenarios};
use sim_core::{Scenario, Simulation};

proptest! {
    #![proptest_config(ProptestConfig { cases: stress_cases(120), ..ProptestConfig::default() })]

    /// Generated scenarios are valid, run within the bounded number of events, and read back
    /// from their TOML to an equal scenario (so a printed counterexample is the same case).
    #[test]
    fn strategies_make_valid_bounded_scenarios_that_round_trip(s in scenarios(Bounds::default())) {
        prop_assert!(s.validate().is_ok(), "{:?}", s.validate());
        let back = Scenario::from_toml(&s.to_toml()).map_err(|e| TestCaseError::fail(format!("{e}\n{}", s.to_toml())))?;
        prop_assert_eq!(&back, &s);
        let mut sim = Simulation::new(&s, s.seed);
        sim.run();
        prop_assert!(sim.aborted().is_none(), "{:?}", sim.aborted());
        prop_assert!(sim.events_processed() <= max_events_for(&Bounds::default()));
    }
}

/// Everything the strategies make passes `lbsim check` (through the binary, a sample).
#[test]
fn generated_scenarios_pass_lbsim_check() {
    let dir = tempfile::tempdir().unwrap();
    let mut runner = TestRunner::new(Config::with_cases(1));
    for i in 0..25 {
        let s = scenarios(Bounds::default()).new_tree(&mut runner).unwrap().current();
        let path = dir.path().join(format!("s{i}.toml"));
        std::fs::write(&path, s.to_toml()).unwrap();
        let (code, out, err) = lbsim_text(&["check", path.to_str().unwrap()]);
        assert_eq!(code, 0, "{}\n{out}{err}", s.to_toml());
    }
}

fn run_with_ignores_health(s: &Scenario) -> sim_core::Report {
    let mut sim = Simulation::with_balancer(s, s.seed, Box::new(|| Box::new(IgnoresHealth::default())));
    sim.run();
    sim.report()
}

/// A deliberately wrong custom balancer (it ignores health) is caught by the property "never
/// route to a server the balancer's health checking has taken out"; proptest shrinks the
/// scenario, which prints as TOML, and `lbsim run` (a build with the balancer registered)
/// replays it to the same failure and the same trace hash.
#[test]
fn a_wrong_balancer_is_caught_shrunk_and_replayed_by_lbsim_run() {
    let bounds = Bounds { max_events: 6, ..Bounds::default() };
    // A fixed generator seed: which counterexample is found, and how far it shrinks, is then
    // the same on every run (the property itself is checked by the other tests).
    let mut runner = TestRunner::new_with_rng(
        Config { cases: 500, failure_persistence: None, ..Config::default() },
        proptest::test_runner::TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
    );
    let result = runner.run(&scenarios(bounds), |s| {
        let r = run_with_ignores_health(&s);
        prop_assert_eq!(r.picks_ineligible, 0, "routed to a server marked down");
        Ok(())
    });
    let minimal = match result {
        Err(TestError::Fail(_, minimal)) => minimal,
        other => panic!("the wrong balancer was not caught: {other:?}"),
    };
    // Shrunk toward a simple scenario: from up to six timeline events to a handful (how many
    // are left depends on the exact history, so the bound leaves room for one more than the
    // crash and the recovery the failure needs).
    assert!(minimal.events.len() <= 3, "{}", minimal.to_toml());
    let report = run_with_ignores_health(&minimal);
    assert!(report.picks_ineligible > 0);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("counterexample.toml");
    std::fs::write(&file, minimal.to_toml()).unwrap();
    let custom = example_path("custom_lbsim");
    let out = std::process::Command::new(&custom)
        .args(["run", file.to_str().unwrap(), "--balancer", "ignores_health", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let replay: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(replay["picks_ineligible"].as_u64().unwrap() > 0, "the failure did not reproduce");
    assert_eq!(replay["trace_hash"].as_str().unwrap(), report.trace_hash, "replay differs");
    assert_eq!(replay["algorithm"], "ignores_health");
    // And the same file with a built-in algorithm (which respects health) does not fail.
    let (code, out, _) = lbsim_text(&["run", file.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0);
    let builtin: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(builtin["picks_ineligible"], 0);
}

/// A property that fails for a built-in configuration (round robin without health checks sends
/// requests to a crashed server) shrinks to a file that the stock `lbsim run` replays exactly.
#[test]
fn a_built_in_counterexample_replays_with_stock_lbsim() {
    let bounds = Bounds { max_events: 4, ..Bounds::default() };
    let strategy = scenarios(bounds).prop_map(|mut s| {
        s.balancer.health_check = None;
        s.balancer.passive = None;
        s
    });
    // A fixed generator seed: which counterexample is found, and how far it shrinks, is then
    // the same on every run (the property itself is checked by the other tests).
    let mut runner = TestRunner::new_with_rng(
        Config { cases: 500, failure_persistence: None, ..Config::default() },
        proptest::test_runner::TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
    );
    let result = runner.run(&strategy, |s| {
        let r = run(&s, s.seed);
        prop_assert_eq!(r.servers.iter().map(|x| x.requests_while_down).sum::<u64>(), 0);
        Ok(())
    });
    let Err(TestError::Fail(_, minimal)) = result else { panic!("no counterexample found") };
    let report = run(&minimal, minimal.seed);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(&file, minimal.to_toml()).unwrap();
    let (code, out, err) = lbsim_text(&["run", file.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let replay: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(replay["trace_hash"].as_str().unwrap(), report.trace_hash);
    let down: u64 =
        replay["servers"].as_array().unwrap().iter().map(|s| s["requests_while_down"].as_u64().unwrap()).sum();
    assert!(down > 0);
}
