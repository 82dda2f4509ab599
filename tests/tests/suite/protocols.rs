//! Connections and protocols: gRPC behind L4 vs L7 vs client-side balancing, maximum
//! connection age, WebSocket scale-out, HTTP/1.1 pool waits, gRPC streams — and every request
//! ending exactly once whatever the connection churn.

use std::collections::BTreeMap;

use lbsim_tests::*;
use proptest::prelude::*;
use sim_core::metrics::trace::TraceRecord;
use sim_core::testing::{Bounds, scenarios};
use sim_core::{Outcome, Report, Scenario, Simulation};

fn counts(r: &Report) -> Vec<u64> {
    r.servers.iter().map(|s| s.requests).collect()
}

fn trace(s: &Scenario, seed: u64) -> (Report, Vec<TraceRecord>) {
    let mut sim = Simulation::new(s, seed);
    sim.enable_trace();
    sim.run();
    let mut records = Vec::new();
    sim.drain_trace(&mut records);
    (sim.report(), records)
}

/// Three gRPC clients, one HTTP/2 connection each, four servers behind L4 round robin: one
/// server serves nothing. L7 or client-side round robin: max/mean ≤ 1.05.
#[test]
fn grpc_behind_l4_leaves_a_server_idle_and_the_fixes_balance() {
    let s = bundled("grpc-l4-imbalance.toml");
    let r = run(&s, s.seed);
    let c = counts(&r);
    assert_eq!(c.iter().filter(|&&n| n == 0).count(), 1, "exactly one idle server: {c:?}");
    assert!(r.balance.max_over_mean > 1.3, "{:?}", r.balance);

    let mut l7 = s.clone();
    l7.balancer.layer = sim_core::Layer::L7;
    let r = run(&l7, s.seed);
    assert!(r.balance.max_over_mean <= 1.05, "L7: {:?} {:?}", counts(&r), r.balance);

    let mut client_side = s.clone();
    client_side.clients[0].balancing = sim_core::Balancing::Client;
    client_side.clients[0].client_algorithm = sim_core::ClientAlgorithm::RoundRobin;
    let r = run(&client_side, s.seed);
    assert!(r.balance.max_over_mean <= 1.05, "client-side: {:?} {:?}", counts(&r), r.balance);
    // One subchannel per server per client.
    assert!(
        r.servers.iter().all(|s| s.connections == 3),
        "{:?}",
        r.servers.iter().map(|s| s.connections).collect::<Vec<_>>()
    );

    let mut pick_first = client_side.clone();
    pick_first.clients[0].client_algorithm = sim_core::ClientAlgorithm::PickFirst;
    let r = run(&pick_first, s.seed);
    assert_eq!(counts(&r).iter().filter(|&&n| n == 0).count(), 1, "pick_first pins like L4: {:?}", counts(&r));
}

/// With a maximum connection age, L4 balance becomes close to even over time: within 10% of
/// the mean over two minutes (it is 33% off without).
#[test]
fn max_connection_age_rebalances_l4_over_time() {
    let s = bundled("grpc-max-connection-age.toml");
    let r = run(&s, s.seed);
    assert!(r.balance.max_over_mean <= 1.10, "{:?} {:?}", counts(&r), r.balance);
    assert!(r.servers.iter().all(|s| s.connections >= 10), "clients reconnected many times");
    assert_eq!(r.requests.failed, 0, "GOAWAY lets in-flight calls finish");
}

/// WebSocket clients with long-lived connections under L4 least_connections: servers added
/// mid-run receive (almost) no messages from the existing connections.
#[test]
fn websocket_scale_out_leaves_new_servers_idle() {
    let s = bundled("websocket-scale-out.toml");
    let r = run(&s, s.seed);
    let total: u64 = counts(&r).iter().sum();
    for name in ["chat-4", "chat-5"] {
        let server = r.servers.iter().find(|x| x.name == name).unwrap();
        assert!(server.requests * 100 < total, "{name} got {} of {total}", server.requests);
        assert_eq!(server.connections, 0, "{name} accepted no connections");
    }
    assert_eq!(r.requests.failed, 0);
}

/// HTTP/1.1 with one connection: requests wait for it, and the wait is part of the latency.
/// Poisson arrivals at 50/s and a constant 10 ms service make the connection an M/D/1 queue:
/// by Pollaczek–Khinchine the mean wait is ρ·S / (2(1 − ρ)) = 0.5 · 10 / (2 · 0.5) = 5 ms, so the
/// mean latency is 15 ms. Over HTTP/2 nothing waits: exactly 10 ms.
#[test]
fn http1_pool_wait_is_part_of_latency() {
    let mut client = sim_core::ClientGroup::new("c", 1, 50.0);
    client.connections = 1;
    // Servers with plenty of workers: only the client's connection can make a request wait.
    let mut servers = sim_core::ServerGroup::new("api", 4, sim_core::ServiceDist::Constant { value_ns: 10 * MS });
    servers.workers = 100;
    let mut s = Scenario::new("pool", 4_000 * SEC, servers, client);
    s.warmup_ns = 10 * SEC;
    s.balancer.algorithm = sim_core::Algorithm::LeastConnections;
    let r = run(&s, 1);
    assert!(rel(r.latency_ms.mean, 15.0) < 0.03, "HTTP/1.1 mean {} ms vs M/D/1 15 ms", r.latency_ms.mean);
    assert!(r.latency_ms.p99 > 25.0, "waits show in the tail: p99 {}", r.latency_ms.p99);
    s.clients[0].protocol = sim_core::Protocol::Http2;
    let r = run(&s, 1);
    assert!((r.latency_ms.mean - 10.0).abs() < 1e-9 && (r.latency_ms.max - 10.0).abs() < 1e-9, "{:?}", r.latency_ms);
}

/// gRPC streams: an L7 balancer picks once per stream, so every message of a stream reaches
/// one server, while different streams spread.
#[test]
fn grpc_streams_pin_per_stream_at_l7() {
    let mut s = bundled("grpc-l7-balanced.toml");
    s.clients[0].stream_messages = Some(50);
    s.duration_ns = 20 * SEC;
    let (r, records) = trace(&s, 3);
    assert_eq!(r.requests.failed, 0);
    // Consecutive messages of one client come in runs of (up to) 50 on one server.
    let mut per_client: BTreeMap<u32, Vec<(u64, u32)>> = BTreeMap::new();
    for rec in &records {
        per_client.entry(rec.client).or_default().push((rec.id, rec.server.unwrap()));
    }
    let mut switches = 0;
    let mut messages = 0;
    for msgs in per_client.values_mut() {
        msgs.sort_unstable();
        messages += msgs.len();
        switches += msgs.windows(2).filter(|w| w[0].1 != w[1].1).count();
    }
    assert!(switches * 50 <= messages + 50 * per_client.len(), "{switches} switches for {messages} messages");
    assert!(r.balance.max_over_mean < 1.3, "streams still spread: {:?}", counts(&r));
}

/// TLS: a handshake costs a round trip and CPU on a new connection, and bytes on the wire.
/// The first request of a client waits for its connection: TCP (1 RTT), then TLS 1.3 (1 RTT
/// plus the handshake cost) at the L7 balancer.
#[test]
fn tls_costs_the_first_request_and_bytes() {
    let mut s = bundled("grpc-l7-balanced.toml");
    s.duration_ns = 10 * SEC;
    let first = |s: &Scenario| {
        let (r, records) = trace(s, 1);
        let rec = records.iter().find(|r| r.id == 0).unwrap().clone();
        (r, rec.end_ns - rec.start_ns)
    };
    let (plain, plain_first) = first(&s);
    s.network.tls_handshake_ns = 2 * MS;
    let (tls, tls_first) = first(&s);
    assert!(tls.clients[0].bytes_received > plain.clients[0].bytes_received);
    let rtt = 2 * s.network.latency_ns;
    assert_eq!(tls_first - plain_first, rtt + 2 * MS, "TLS adds one round trip and the handshake cost");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Under L4 every request of one connection reaches one server.
    #[test]
    fn l4_keeps_a_connection_on_one_server(seed in 0u64..1000, clients in 1u32..6, servers in 2u32..6, age in proptest::option::of(300u64..1500)) {
        let mut s = bundled("grpc-l4-imbalance.toml");
        s.duration_ns = 3 * SEC;
        s.warmup_ns = 0;
        s.clients[0].count = clients;
        s.clients[0].source_ips = clients;
        s.servers[0].count = servers;
        s.servers[0].max_connection_age_ns = age.map(|ms| ms * MS);
        let (_, records) = trace(&s, seed);
        let mut server_of: BTreeMap<u64, u32> = BTreeMap::new();
        for rec in records.iter().filter(|r| r.outcome == Outcome::Ok) {
            let conn = rec.conn.expect("an ok request had a connection");
            let server = rec.server.unwrap();
            prop_assert_eq!(*server_of.entry(conn).or_insert(server), server, "connection {} moved", conn);
        }
    }

    /// Under L7 with round robin (equal weights, no failures), per-server counts differ by at
    /// most one.
    #[test]
    fn l7_round_robin_counts_differ_by_at_most_one(seed in 0u64..1000, servers in 1u32..9, clients in 1u32..5) {
        let mut s = bundled("grpc-l7-balanced.toml");
        s.duration_ns = 2 * SEC;
        s.warmup_ns = 0;
        s.servers[0].count = servers;
        s.clients[0].count = clients;
        s.clients[0].source_ips = clients;
        let r = run(&s, seed);
        let c = counts(&r);
        prop_assert!(c.iter().max().unwrap() - c.iter().min().unwrap() <= 1, "{:?}", c);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: stress_cases(150), ..ProptestConfig::default() })]

    /// Every sent request ends with exactly one outcome, whatever the protocols, connection
    /// ages (GOAWAY), crashes, removals and replica failures.
    #[test]
    fn every_request_ends_exactly_once(s in scenarios(Bounds::default())) {
        s.validate().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let (r, records) = trace(&s, s.seed);
        prop_assert_eq!(r.requests.sent, r.requests.completed + r.requests.failed);
        let mut ids: Vec<u64> = records.iter().map(|r| r.id).collect();
        let total = ids.len();
        ids.sort_unstable();
        ids.dedup();
        prop_assert_eq!(ids.len(), total, "a request ended twice");
        prop_assert_eq!(total as u64, ids.last().map_or(0, |l| l + 1), "a request never ended");
    }
}
