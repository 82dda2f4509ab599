//! The engine's invariant checks fire when an invariant breaks (debug builds and the test
//! profile): each test breaks one invariant on purpose and expects the check to catch it.

use super::Simulation;
use super::state::*;
use crate::scenario::*;

fn sim() -> Simulation {
    let s = Scenario::reference_queueing(2, 0.5, Algorithm::RoundRobin, 2_000);
    let mut sim = Simulation::new(&s, 1);
    sim.step_until(50_000_000);
    sim
}

#[test]
#[should_panic(expected = "time went backwards")]
fn time_never_goes_backwards() {
    let mut sim = sim();
    let past = sim.now - 1;
    sim.queue.push(past, Ev::Tick);
    sim.step();
}

#[test]
#[should_panic(expected = "requests never ended")]
fn every_request_ends_before_the_run_does() {
    let mut sim = sim();
    let leftover = sim.reqs.iter().next().map(|(_, r)| r.clone()).expect("a request in flight");
    sim.run();
    sim.finished = false;
    sim.reqs.insert(leftover);
    sim.finish();
}

#[test]
#[should_panic(expected = "connection count went negative")]
fn server_connection_counts_never_go_negative() {
    let mut sim = sim();
    while sim.servers[0].conns_open > 0 {
        sim.server_conn_closed(0);
    }
    sim.server_conn_closed(0);
}

#[test]
#[should_panic(expected = "more than its workers")]
fn a_server_never_serves_more_than_its_workers() {
    let mut sim = sim();
    let s = 0usize;
    let workers = sim.servers[s].workers;
    let job = Job {
        req: sim.reqs.iter().next().unwrap().0,
        server: 0,
        size_u: 0.5,
        has_work: false,
        measured: false,
        session_missing: false,
        error: false,
    };
    for _ in 0..=workers {
        let jh = sim.jobs.insert(job);
        sim.start_job(jh);
    }
}

#[test]
#[should_panic(expected = "active count went negative")]
fn active_counts_never_go_negative() {
    let mut sim = sim();
    let (h, _) = sim.reqs.iter().next().unwrap();
    let req = sim.reqs.get_mut(h).unwrap();
    req.holds |= hold::ACTIVE;
    req.replica = 0;
    req.server = 1;
    sim.replicas[0].active[1] = 0;
    sim.release_holds(h, false);
}

#[test]
#[should_panic(expected = "retries went negative")]
fn retry_counts_never_go_negative() {
    let mut s = Scenario::reference_queueing(2, 0.5, Algorithm::RoundRobin, 2_000);
    s.balancer.circuit_breakers = Some(CircuitBreakers::default());
    let mut sim = Simulation::new(&s, 1);
    sim.step_until(50_000_000);
    let (h, _) = sim.reqs.iter().next().unwrap();
    let req = sim.reqs.get_mut(h).unwrap();
    req.holds |= hold::RETRY;
    req.replica = 0;
    sim.release_holds(h, false);
}

#[test]
#[should_panic(expected = "retries still counted")]
fn no_retry_is_held_past_the_end() {
    let mut s = Scenario::reference_queueing(2, 0.5, Algorithm::RoundRobin, 2_000);
    s.balancer.circuit_breakers = Some(CircuitBreakers::default());
    let mut sim = Simulation::new(&s, 1);
    sim.run();
    sim.finished = false;
    sim.replicas[0].pool_retries[0] = 1;
    sim.finish();
}
