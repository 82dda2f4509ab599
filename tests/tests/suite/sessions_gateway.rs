//! Sessions (local state, cookie and source-IP stickiness, the session store) and the API
//! gateway (rate limits, replicas as a single point of failure).

use std::collections::{BTreeMap, BTreeSet};

use lbsim_tests::*;
use proptest::prelude::*;
use sim_core::metrics::trace::TraceRecord;
use sim_core::{Algorithm, Outcome, Report, Scenario, Simulation, Sticky};

fn traced(s: &Scenario) -> (Report, Vec<TraceRecord>) {
    let mut sim = Simulation::new(s, s.seed);
    sim.enable_trace();
    sim.run();
    let mut records = Vec::new();
    sim.drain_trace(&mut records);
    let r = sim.report();
    assert_eq!(r.requests.sent, r.requests.completed + r.requests.failed);
    (r, records)
}

/// A crash with cookie stickiness and local state loses the sessions that lived on the dead
/// server: the count matches the sessions active there at the crash, as read back from the
/// trace (sessions served there that had requests both before and after the crash), within 5%.
#[test]
fn a_crash_loses_the_sessions_living_on_the_server() {
    let s = bundled("sticky-cookie-crash.toml");
    let (r, records) = traced(&s);
    let crash_ns = 30 * SEC;
    let api2 = r.servers.iter().position(|x| x.name == "api-2").unwrap() as u32;
    let mut sessions: BTreeMap<u64, (bool, u64, u64)> = BTreeMap::new();
    for rec in &records {
        let Some(id) = rec.session else { continue };
        let e = sessions.entry(id).or_insert((false, u64::MAX, 0));
        if rec.server == Some(api2) && rec.outcome == Outcome::Ok && rec.end_ns <= crash_ns {
            e.0 = true;
        }
        e.1 = e.1.min(rec.start_ns);
        e.2 = e.2.max(rec.end_ns);
    }
    let active_there =
        sessions.values().filter(|(on, first, last)| *on && *first < crash_ns && *last > crash_ns).count() as f64;
    let lost = r.crashes[0].sessions_lost as f64;
    assert!(rel(lost, active_there) < 0.05, "lost {lost}, active on api-2 at the crash {active_there}");
    assert!(lost > 100.0);
    assert_eq!(r.sessions.lost as f64, lost - (r.crashes[0].sessions_lost - r.sessions.lost) as f64);
    // Each lost session's next request finds an empty cart.
    assert!(r.requests.outcomes.session_lost > 0 && r.requests.outcomes.session_lost <= r.sessions.lost + 5);
}

/// With a session store the same crash loses no session, and every session request pays the
/// store's latency.
#[test]
fn a_session_store_loses_nothing_and_costs_its_latency() {
    let s = bundled("session-store-crash.toml");
    let (r, _) = traced(&s);
    assert_eq!(r.sessions.lost, 0);
    assert_eq!(r.requests.outcomes.session_lost, 0);
    assert_eq!(r.crashes[0].sessions_lost, 0);
    // Constant service and no network: every ok request takes exactly service + store.
    let mut s = s.clone();
    s.servers[0].service = sim_core::ServiceDist::Constant { value_ns: 10 * MS };
    s.servers[0].workers = 1000;
    s.network.latency_ns = 0;
    s.events.clear();
    s.balancer.health_check = None;
    s.duration_ns = 10 * SEC;
    let min_latency = |records: &[TraceRecord]| {
        records.iter().filter(|r| r.outcome == Outcome::Ok).map(|r| r.end_ns - r.start_ns).min().unwrap()
    };
    let (_, records) = traced(&s);
    assert!(records.iter().all(|r| r.end_ns - r.start_ns >= 11 * MS), "a request skipped the store");
    assert_eq!(min_latency(&records), 11 * MS);
    s.session_store = None;
    s.balancer.sticky = Sticky::Cookie;
    let (_, records) = traced(&s);
    assert_eq!(min_latency(&records), 10 * MS);
}

/// Round robin without stickiness and with local state: a follow-up request finds its
/// session's state on its server only by chance, so about 1 − 1/n of them are session_lost.
#[test]
fn round_robin_without_stickiness_loses_most_follow_ups() {
    for n in [2u32, 4, 8] {
        let mut s = bundled("sticky-cookie-crash.toml");
        s.events.clear();
        s.balancer.sticky = Sticky::None;
        s.servers[0].count = n;
        let r = run(&s, s.seed);
        let follow_ups = (r.requests.sent - r.sessions.started) as f64;
        let lost_share = r.requests.outcomes.session_lost as f64 / follow_ups;
        let expect = 1.0 - 1.0 / f64::from(n);
        assert!((lost_share - expect).abs() < 0.05, "n={n}: {lost_share:.3} of follow-ups lost, expected {expect:.3}");
    }
}

/// ip_hash with every client behind one address sends everything to one server.
#[test]
fn ip_hash_behind_one_nat_address_uses_one_server() {
    let mut s = bundled("ip-hash-nat.toml");
    s.clients.truncate(1);
    let (r, records) = traced(&s);
    let servers: BTreeSet<u32> = records.iter().filter_map(|r| r.server).collect();
    assert_eq!(servers.len(), 1, "{servers:?}");
    assert_eq!(r.servers.iter().filter(|x| x.requests > 0).count(), 1);
}

/// Kong's fixed window: 120 per minute, one client at 5 per second for 3 minutes gives exactly
/// 360 ok and 540 rate_limited; N replicas with local counters allow N×.
#[test]
fn kong_fixed_window_is_exact_and_local_to_each_replica() {
    let text = r#"
        name = "kong"
        duration = "3m"
        [[servers]]
        name = "api"
        count = 2
        workers = 8
        service = { dist = "exponential", mean = "5ms" }
        [[clients]]
        name = "consumer"
        rate = 5
        arrival = "constant"
        protocol = "http2"
        [balancer]
        rate_limit = { per_minute = 120, key = "client" }
    "#;
    let s = Scenario::from_toml(text).unwrap();
    let r = run(&s, 1);
    assert_eq!((r.requests.outcomes.ok, r.requests.outcomes.rate_limited), (360, 540));
    // A global limit per replica, 30 clients spread over the replicas by DNS.
    for replicas in [1u32, 3] {
        let mut s = s.clone();
        s.clients[0].count = 30;
        s.clients[0].source_ips = 30;
        s.clients[0].rate = 1.0;
        s.balancer.replicas = replicas;
        s.balancer.dns_ttl_ns = 3600 * SEC;
        s.balancer.rate_limit.as_mut().unwrap().key = sim_core::RateKey::Global;
        let r = run(&s, 1);
        assert_eq!(r.requests.outcomes.ok, 120 * 3 * u64::from(replicas), "{replicas} replicas");
    }
}

/// A gateway replica crash: with one replica every request fails during the outage; with
/// three, failures come only from the dead replica's clients until they re-resolve — at most
/// clients × rate × TTL.
#[test]
fn one_gateway_is_a_single_point_of_failure_three_are_not() {
    let s = bundled("gateway-spof.toml");
    let (crash, recover) = (20 * SEC, 40 * SEC);
    let mut one = s.clone();
    one.balancer.replicas = 1;
    for e in one.events.iter_mut() {
        if let sim_core::Action::Crash { target } | sim_core::Action::Recover { target } = &mut e.action {
            *target = "balancer-1".into();
        }
    }
    let (_, records) = traced(&one);
    let during: Vec<_> = records.iter().filter(|r| r.start_ns >= crash + MS && r.start_ns < recover).collect();
    assert!(during.len() > 10_000);
    assert!(during.iter().all(|r| r.outcome == Outcome::ConnectionError), "a request got through a dead gateway");

    let (r, records) = traced(&s);
    let failed: Vec<_> = records.iter().filter(|r| r.outcome != Outcome::Ok).collect();
    let clients: BTreeSet<u32> = failed.iter().map(|r| r.client).collect();
    let per_client = s.clients[0].rate * (s.balancer.dns_ttl_ns as f64 / 1e9);
    let bound = clients.len() as f64 * per_client + 50.0;
    assert!(clients.len() <= 110, "{} clients failed; a third is 100", clients.len());
    assert!((failed.len() as f64) < bound, "{} failures, bound {bound}", failed.len());
    let last = failed.iter().map(|r| r.end_ns).max().unwrap();
    assert!(last <= crash + s.balancer.dns_ttl_ns + 100 * MS, "failures went on until {last}");
    assert!(r.requests.outcomes.connection_error > 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: stress_cases(40), ..ProptestConfig::default() })]

    /// With cookie stickiness and healthy servers, a session is never served by two servers:
    /// every request of a session after its first answer goes to the server that answered.
    #[test]
    fn a_sticky_session_stays_on_one_server(
        seed in 0u64..10_000,
        servers in 2u32..8,
        clients in 1u32..60,
        rate in 0.5f64..20.0,
        session in 2u32..30,
        algorithm in proptest::sample::select(vec![Algorithm::RoundRobin, Algorithm::LeastConnections, Algorithm::PowerOfTwo, Algorithm::Random, Algorithm::PeakEwma]),
        http2 in any::<bool>(),
    ) {
        let mut s = bundled("sticky-cookie-crash.toml");
        s.events.clear();
        s.seed = seed;
        s.duration_ns = 5 * SEC;
        s.warmup_ns = 0;
        s.servers[0].count = servers;
        s.clients[0].count = clients;
        s.clients[0].source_ips = clients;
        s.clients[0].rate = rate;
        s.clients[0].session_requests = Some(session);
        s.clients[0].timeout_ns = None;
        if http2 {
            s.clients[0].protocol = sim_core::Protocol::Http2;
        }
        s.balancer.algorithm = algorithm;
        let (r, records) = traced(&s);
        prop_assert_eq!(r.requests.outcomes.session_lost, 0);
        let mut server_of: BTreeMap<u64, u32> = BTreeMap::new();
        for rec in records.iter().filter(|r| r.outcome == Outcome::Ok) {
            let id = rec.session.unwrap();
            let server = rec.server.unwrap();
            prop_assert_eq!(*server_of.entry(id).or_insert(server), server, "session {} moved", id);
        }
    }
}

/// nginx `limit_req` (leaky bucket): 10 r/s with no burst lets through half of a steady
/// 20 r/s; with a burst of 20 and no `nodelay`, extra requests wait instead of failing.
#[test]
fn leaky_bucket_limits_and_delays() {
    let text = r#"
        name = "limit-req"
        duration = "60s"
        [[servers]]
        name = "api"
        count = 2
        workers = 8
        service = { dist = "constant", value = "1ms" }
        [[clients]]
        name = "c"
        rate = 20
        arrival = "constant"
        protocol = "http2"
        [balancer]
        rate_limit = { per_second = 10, key = "client", kind = "leaky_bucket", burst = 0, nodelay = true }
    "#;
    let s = Scenario::from_toml(text).unwrap();
    let r = run(&s, 1);
    let limited = r.requests.outcomes.rate_limited as f64 / r.requests.sent as f64;
    assert!((limited - 0.5).abs() < 0.01, "{limited}");
    let mut s2 = s.clone();
    s2.clients[0].rate = 10.0;
    s2.clients[0].arrival = sim_core::Arrival::Poisson;
    s2.balancer.rate_limit = Some(sim_core::RateLimit {
        limit: 12,
        window_ns: SEC,
        key: sim_core::RateKey::Client,
        kind: sim_core::RateLimitKind::LeakyBucket { burst: 20, nodelay: false },
    });
    let r = run(&s2, 1);
    assert!(r.requests.outcomes.rate_limited < r.requests.sent / 50, "{:?}", r.requests.outcomes);
    assert!(r.latency_ms.p99 > 50.0, "bursts were spaced out: p99 {}", r.latency_ms.p99);
}

/// While the session store is down, session requests fail as `store_unavailable` (not as
/// `connection_error`, which a crashed server gives); after store_up they succeed again; no
/// session state is lost. The scenario's crash of api-2 at 30 s still ends its requests as
/// `connection_error`, and only those.
#[test]
fn store_outage_fails_session_requests_only_while_down() {
    let mut s = bundled("session-store-crash.toml");
    s.events.retain(|e| matches!(e.action, sim_core::Action::Crash { .. }));
    s.events.insert(0, sim_core::TimelineEvent { at_ns: 20 * SEC, action: sim_core::Action::StoreDown });
    s.events.insert(1, sim_core::TimelineEvent { at_ns: 25 * SEC, action: sim_core::Action::StoreUp });
    let (r, records) = traced(&s);
    assert_eq!(r.sessions.lost, 0);
    let failed: Vec<_> = records.iter().filter(|r| r.outcome == Outcome::StoreUnavailable).collect();
    assert!(failed.len() > 500);
    assert!(failed.iter().all(|r| r.end_ns >= 20 * SEC && r.start_ns < 25 * SEC + 100 * MS));
    // The report counts those of measured sessions (started after the 5 s warmup).
    let counted = r.requests.outcomes.store_unavailable as usize;
    assert!(counted > 0 && counted <= failed.len(), "{counted} of {}", failed.len());
    let broken: Vec<_> = records.iter().filter(|r| r.outcome == Outcome::ConnectionError).collect();
    assert!(!broken.is_empty(), "the crash of api-2 failed no request");
    assert!(broken.iter().all(|r| r.end_ns >= 30 * SEC), "a store outage ended as connection_error");
}

/// An L4 balancer sees TCP, not HTTP: after `set_layer l4` the clients reconnect and are
/// balanced by the algorithm, not by the cookie the L7 balancer had written (which pins every
/// client to api-1, the only server before the scale-out).
#[test]
fn cookies_are_not_read_at_l4() {
    let text = r#"
name = "cookie-then-l4"
duration = "6s"
[[servers]]
name = "api"
count = 1
service = { dist = "exponential", mean = "2ms" }
[[clients]]
name = "web"
count = 100
protocol = "http2"
rate = 5
[balancer]
layer = "l7"
algorithm = "round_robin"
sticky = "cookie"
[[events]]
at = "2s"
action = "add"
target = "api"
count = 3
[[events]]
at = "3s"
action = "set_layer"
layer = "l4"
"#;
    let r = run(&Scenario::from_toml(text).unwrap(), 1);
    let conns: Vec<u64> = r.servers.iter().map(|s| s.connections).collect();
    // 100 reconnections spread by round robin over four servers, 25 each.
    for (s, &c) in r.servers.iter().zip(&conns).skip(1) {
        assert!(c >= 20, "{} got {c} connections: the cookie was read at L4 ({conns:?})", s.name);
    }
}

/// A leaky bucket slower than nginx's rate resolution (0.001 requests/s) is refused rather
/// than rounded up (one per hour would drain 3.6 times too fast).
#[test]
fn leaky_buckets_slower_than_nginx_can_express_are_refused() {
    let text = |per_hour: u32| {
        format!(
            "name = \"t\"\nduration = \"10s\"\n[[servers]]\nname = \"api\"\nservice = {{ dist = \"constant\", value = \"1ms\" }}\n\
             [[clients]]\nname = \"web\"\nrate = 1\n[balancer]\nlayer = \"l7\"\n\
             rate_limit = {{ per_hour = {per_hour}, kind = \"leaky_bucket\" }}\n"
        )
    };
    let e = Scenario::from_toml(&text(1)).unwrap_err();
    assert!(e.to_string().contains("slower than nginx limit_req can express"), "{e}");
    assert!(e.to_string().contains("balancer.rate_limit"), "{e}");
    Scenario::from_toml(&text(4)).unwrap();
}

// Traffic shapes (bursts, staggered starts), a degraded session store, and one definition of
// a lost session for every figure that counts them.

/// A scenario with one quiet client group (rate 0: only bursts send) behind `balancer`.
fn quiet(clients: u32, extra: &str) -> Scenario {
    let text = format!(
        "name = \"shape\"\nduration = \"2m\"\n[[servers]]\nname = \"api\"\ncount = 2\nworkers = 1000\n\
         service = {{ dist = \"constant\", value = \"1ms\" }}\n[[clients]]\nname = \"web\"\ncount = {clients}\n\
         rate = 0\nprotocol = \"http2\"\n{extra}"
    );
    Scenario::from_toml(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// `burst` sends exactly its count at its instant, spread round-robin over the group's
/// clients; a second burst carries the round-robin on.
#[test]
fn a_burst_sends_exactly_its_count_at_its_instant() {
    let burst = |at: &str, count: u32| {
        format!("[[events]]\nat = \"{at}\"\naction = \"burst\"\ntarget = \"web\"\ncount = {count}\n")
    };
    let s = quiet(5, &format!("{}{}", burst("12.345s", 37), burst("30s", 3)));
    let (r, records) = traced(&s);
    let at = 12_345 * MS;
    let in_burst: Vec<_> = records.iter().filter(|x| x.start_ns == at).collect();
    assert_eq!(in_burst.len(), 37);
    assert_eq!(records.len(), 40, "requests outside the bursts");
    assert_eq!(r.requests.sent, 40);
    let mut per_client = [0u32; 5];
    in_burst.iter().for_each(|x| per_client[x.client as usize] += 1);
    assert_eq!(per_client, [8, 8, 7, 7, 7]);
    // The round-robin goes on where the first burst stopped (37 = 7·5 + 2).
    let mut later: Vec<u32> = records.iter().filter(|x| x.start_ns == 30 * SEC).map(|x| x.client).collect();
    later.sort_unstable();
    assert_eq!(later, [2, 3, 4]);
}

/// The rate-limit question that needed a `set_rate` trick: a fixed window of 100 per minute
/// hit by 200 requests just before the boundary lets exactly 100 through; another 200 just
/// after the boundary get a fresh window (200 through within 20 ms).
#[test]
fn a_fixed_window_hit_by_a_burst_before_the_boundary_lets_exactly_its_limit_through() {
    let burst = |at: &str| format!("[[events]]\nat = \"{at}\"\naction = \"burst\"\ntarget = \"web\"\ncount = 200\n");
    let limit = "[balancer]\nrate_limit = { per_minute = 100, key = \"global\" }\n";
    let r = run(&quiet(10, &format!("{limit}{}", burst("59.99s"))), 1);
    assert_eq!((r.requests.sent, r.requests.outcomes.ok, r.requests.outcomes.rate_limited), (200, 100, 100));
    let r = run(&quiet(10, &format!("{limit}{}{}", burst("59.99s"), burst("60.01s"))), 1);
    assert_eq!((r.requests.outcomes.ok, r.requests.outcomes.rate_limited), (200, 200));
}

/// Staggered starts: client i of n starts at start + ramp·i/n; before that it sends nothing
/// and opens no connection, so connection opens are spread over the ramp too.
#[test]
fn staggered_clients_send_nothing_before_their_start() {
    let text = r#"
        name = "ramp"
        duration = "30s"
        [[servers]]
        name = "api"
        count = 2
        max_connection_age = "5s"
        service = { dist = "constant", value = "1ms" }
        [[clients]]
        name = "web"
        count = 20
        rate = 10
        protocol = "http2"
        start = "5s"
        ramp = "10s"
    "#;
    let s = Scenario::from_toml(text).unwrap();
    let (r, records) = traced(&s);
    let mut first = [u64::MAX; 20];
    for x in &records {
        first[x.client as usize] = first[x.client as usize].min(x.start_ns);
    }
    for (i, &t) in first.iter().enumerate() {
        let start = 5 * SEC + 10 * SEC * i as u64 / 20;
        assert!(t >= start && t < start + 2 * SEC, "client {i} first sent at {t} ns, starts at {start} ns");
    }
    assert!(r.clients[0].connections_opened >= 20);
    // Without the ramp every client starts at once.
    let mut all_at_once = s.clone();
    all_at_once.clients[0].ramp_ns = 0;
    let (_, records) = traced(&all_at_once);
    assert!(records.iter().all(|x| x.start_ns >= 5 * SEC));
    assert!(records.iter().filter(|x| x.start_ns < 7 * SEC).map(|x| x.client).collect::<BTreeSet<_>>().len() == 20);
}

/// `store_slow` multiplies the session store's latency for every session request: constant
/// service 10 ms, store 1 ms, ×5 from 5 s → ok requests take 11 ms before and 15 ms after
/// (HTTP/2, so no request waits for a connection; a follow-up that waits for its session's
/// first answer takes longer, so the figure is the usual latency, and the least).
#[test]
fn a_slow_session_store_raises_session_request_latency_by_its_factor() {
    let mut s = bundled("session-store-crash.toml");
    s.clients[0].protocol = sim_core::Protocol::Http2;
    s.servers[0].service = sim_core::ServiceDist::Constant { value_ns: 10 * MS };
    s.servers[0].workers = 1000;
    s.network.latency_ns = 0;
    s.balancer.health_check = None;
    s.duration_ns = 10 * SEC;
    s.warmup_ns = 0;
    s.events = vec![sim_core::TimelineEvent { at_ns: 5 * SEC, action: sim_core::Action::StoreSlow { factor: 5.0 } }];
    let (_, records) = traced(&s);
    let latencies = |before: bool| -> Vec<u64> {
        records
            .iter()
            .filter(|x| x.outcome == Outcome::Ok && (x.start_ns < 5 * SEC) == before)
            .map(|x| x.end_ns - x.start_ns)
            .collect()
    };
    for (before, want) in [(true, 11 * MS), (false, 15 * MS)] {
        let l = latencies(before);
        let exact = l.iter().filter(|&&x| x == want).count();
        assert_eq!(l.iter().min(), Some(&want));
        assert!(exact as f64 > 0.95 * l.len() as f64, "{exact} of {} take {want} ns", l.len());
    }
}

/// One definition for every count of lost sessions (docs/scenario-format.md, "How sessions
/// are counted": by when the loss happens, like requests): with a warmup that covers most
/// sessions alive at the crash, the summary's sessions.lost and the crash line agree, and the
/// session_lost requests are at most one per lost session, nearly all of them.
#[test]
fn lost_sessions_are_counted_the_same_way_everywhere() {
    let mut s = bundled("sticky-cookie-crash.toml");
    // Sessions last 20 s at 1 request/s: at the 30 s crash, most sessions alive started
    // before the 25 s warmup ended.
    s.warmup_ns = 25 * SEC;
    let (r, records) = traced(&s);
    let lost = r.sessions.lost;
    assert!(lost > 100, "the crash's losses after warmup are counted: {lost}");
    assert_eq!(r.crashes[0].sessions_lost, lost, "crash line and summary count different losses");
    let session_lost = r.requests.outcomes.session_lost;
    assert!(session_lost <= lost, "{session_lost} session_lost requests for {lost} lost sessions");
    assert!(session_lost as f64 >= 0.9 * lost as f64, "{session_lost} vs {lost}");
    // The trace agrees: as many sessions lost state as the report says (each session's
    // first session_lost request).
    let in_trace: BTreeSet<u64> =
        records.iter().filter(|x| x.outcome == Outcome::SessionLost).filter_map(|x| x.session).collect();
    assert_eq!(in_trace.len() as u64, session_lost);
    // A crash during the warmup counts in neither figure.
    let mut early = bundled("sticky-cookie-crash.toml");
    early.warmup_ns = 40 * SEC;
    let r = run(&early, early.seed);
    assert_eq!((r.sessions.lost, r.crashes[0].sessions_lost), (0, 0));
}
