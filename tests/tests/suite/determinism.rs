//! Determinism: the same scenario and seed give the same report and trace hash on every run
//! and whether run at once or stepped; another seed gives another history; and changing the
//! algorithm leaves the arrivals a run sees unchanged (common random numbers).

use lbsim_tests::*;
use sim_core::metrics::trace::TraceRecord;
use sim_core::{Algorithm, Scenario, Simulation};

fn small() -> Scenario {
    let mut s = queueing(8, 0.8, Algorithm::PowerOfTwo, 40_000);
    s.clients[0].timeout_ns = Some(200 * MS);
    s.clients[0].retries = 1;
    s.servers[0].queue = Some(20);
    s
}

#[test]
fn same_seed_same_report_and_hash() {
    let s = small();
    let a = run(&s, 5);
    let b = run(&s, 5);
    assert_eq!(a, b);
    assert_eq!(a.to_json(), b.to_json());
    assert_eq!(a.trace_hash.len(), 16);
}

#[test]
fn stepping_equals_running() {
    let s = small();
    let whole = run(&s, 5);
    let mut sim = Simulation::new(&s, 5);
    let mut t = 0;
    while !sim.is_finished() {
        t += 37 * MS;
        sim.step_until(t);
    }
    assert_eq!(sim.report(), whole);
    let mut sim = Simulation::new(&s, 5);
    while sim.step() {}
    assert_eq!(sim.report(), whole);
}

#[test]
fn another_seed_another_history() {
    let s = small();
    assert_ne!(run(&s, 5).trace_hash, run(&s, 6).trace_hash);
}

fn arrival_times(s: &Scenario, seed: u64) -> Vec<u64> {
    let mut sim = Simulation::new(s, seed);
    sim.enable_trace();
    sim.run();
    let mut records: Vec<TraceRecord> = Vec::new();
    sim.drain_trace(&mut records);
    let mut starts: Vec<(u64, u64)> = records.iter().map(|r| (r.id, r.start_ns)).collect();
    starts.sort_unstable();
    starts.into_iter().map(|(_, t)| t).collect()
}

#[test]
fn swapping_the_algorithm_keeps_the_arrivals() {
    let mut s = small();
    let base = arrival_times(&s, 9);
    assert!(base.len() > 1000);
    for algorithm in Algorithm::ALL {
        s.balancer.algorithm = algorithm;
        assert_eq!(arrival_times(&s, 9), base, "{} changed the arrivals", algorithm.name());
    }
}

#[test]
fn series_do_not_change_the_run() {
    let s = small();
    let plain = run(&s, 5);
    let mut sim = Simulation::new(&s, 5);
    sim.enable_series();
    sim.run();
    let mut with_series = sim.report();
    assert!(with_series.series.as_ref().is_some_and(|x| !x.points.is_empty()));
    with_series.series = None;
    assert_eq!(with_series, plain);
}
