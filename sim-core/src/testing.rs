//! proptest strategies for property-based tests with lbsim (feature `proptest`): arbitrary
//! valid scenarios, failure timelines and traffic mixes, bounded so each case runs in
//! milliseconds, and shrinking toward simpler scenarios (fewer servers, clients and events,
//! shorter runs, plainer options).
//!
//! ```
//! use proptest::prelude::*;
//! use proptest::test_runner::{Config, TestRunner};
//! use sim_core::testing::{Bounds, scenarios};
//! use sim_core::Simulation;
//!
//! // In a test file this would be a `proptest! { #[test] fn … }` block.
//! let mut runner = TestRunner::new(Config::with_cases(8));
//! runner
//!     .run(&scenarios(Bounds::default()), |s| {
//!         let mut sim = Simulation::new(&s, s.seed);
//!         sim.run();
//!         let r = sim.report();
//!         prop_assert_eq!(r.requests.sent, r.requests.completed + r.requests.failed);
//!         Ok(())
//!     })
//!     .unwrap();
//! ```

use proptest::prelude::*;

use crate::config::Format;
use crate::model::Simulation;
use crate::scenario::*;

const MS: u64 = 1_000_000;

/// How big generated scenarios may get.
#[derive(Clone, Debug)]
pub struct Bounds {
    /// Server groups (1 ..= this).
    pub max_server_groups: usize,
    /// Servers per group (1 ..= this).
    pub max_servers: u32,
    /// Client groups (1 ..= this).
    pub max_client_groups: usize,
    /// Clients per group (1 ..= this).
    pub max_clients: u32,
    /// Requests per second per client (up to this).
    pub max_rate: f64,
    /// Run length in milliseconds (100 ..= this).
    pub max_duration_ms: u64,
    /// Timeline events (0 ..= this).
    pub max_events: usize,
    /// Algorithms to draw from.
    pub algorithms: Vec<Algorithm>,
    /// Whether to generate failures (crashes, removals, replica crashes, store outages).
    pub failures: bool,
    /// Whether L7 scenarios get the resilience mechanisms (issue 16: failing servers, outlier
    /// detection, circuit breakers, `retry_on_error`), drawn from the scenario's seed.
    pub resilience: bool,
}

impl Default for Bounds {
    fn default() -> Bounds {
        Bounds {
            max_server_groups: 2,
            max_servers: 5,
            max_client_groups: 2,
            max_clients: 6,
            max_rate: 40.0,
            max_duration_ms: 3_000,
            max_events: 5,
            algorithms: Algorithm::ALL.to_vec(),
            failures: true,
            resilience: false,
        }
    }
}

/// Upper bound on the events a scenario from these bounds can process (it is set as the
/// scenario's `limits.max_events`, so no generated case can run long).
pub fn max_events_for(b: &Bounds) -> u64 {
    let requests =
        b.max_rate * f64::from(b.max_clients) * b.max_client_groups as f64 * (b.max_duration_ms as f64 / 1e3);
    (requests as u64 + 1) * 200 + 100_000
}

const SERVER_NAMES: [&str; 3] = ["api", "svc", "web"];
const CLIENT_NAMES: [&str; 3] = ["users", "mobile", "batch"];

fn service() -> impl Strategy<Value = ServiceDist> {
    prop_oneof![
        (1u64..20).prop_map(|ms| ServiceDist::Exponential { mean_ns: ms * MS }),
        (0u64..20).prop_map(|ms| ServiceDist::Constant { value_ns: ms * MS }),
        (0u64..10, 1u64..20).prop_map(|(a, b)| ServiceDist::Uniform { min_ns: a * MS, max_ns: (a + b) * MS }),
        (1u64..10, 2u64..10).prop_map(|(p50, k)| ServiceDist::Lognormal { p50_ns: p50 * MS, p99_ns: p50 * k * MS }),
        // Tails heavy enough to matter, light enough that a generated run stays bounded: a
        // Weibull of shape 0.1 has a mean of 3.6 million × its scale, and a Pareto of alpha 1.1
        // draws a 10 s service time from a 1 ms minimum once in 25,000 requests (then health
        // checks tick through the drain until the run hits its event bound).
        (1u64..10, 15u32..40).prop_map(|(min, a)| ServiceDist::Pareto { min_ns: min * MS, alpha: f64::from(a) / 10.0 }),
        (5u32..30, 1u64..20).prop_map(|(k, ms)| ServiceDist::Weibull { shape: f64::from(k) / 10.0, scale_ns: ms * MS }),
        (1u32..40, 1u64..20).prop_map(|(k, ms)| ServiceDist::Gamma { shape: f64::from(k) / 4.0, mean_ns: ms * MS }),
        proptest::collection::vec(0u64..50, 1..8).prop_map(|ms| {
            let mut samples: Vec<u64> = ms.into_iter().map(|v| v * MS).collect();
            samples.sort_unstable();
            ServiceDist::Empirical { samples: samples.into(), file: None }
        }),
        (1u32..10, 1u64..5, 5u64..50).prop_map(|(w, fast, slow)| ServiceDist::Mixture {
            parts: vec![
                MixturePart { weight: f64::from(w), dist: ServiceDist::Exponential { mean_ns: fast * MS } },
                MixturePart { weight: 1.0, dist: ServiceDist::Constant { value_ns: slow * MS } },
            ]
            .into(),
        }),
    ]
}

fn server_group(index: usize, max_servers: u32) -> impl Strategy<Value = ServerGroup> {
    (1..=max_servers, 1u32..4, 1u32..4, proptest::option::of(0u32..20), service(), proptest::option::of(200u64..2_000))
        .prop_map(move |(count, weight, workers, queue, service, age_ms)| {
            let mut g = ServerGroup::new(SERVER_NAMES[index], count, service);
            g.weight = weight;
            g.workers = workers;
            g.queue = queue;
            g.max_connection_age_ns = age_ms.map(|ms| ms * MS);
            g
        })
}

/// Traffic: client groups of any protocol, with timeouts, retries, sessions and payloads.
pub fn traffic(b: &Bounds) -> BoxedStrategy<Vec<ClientGroup>> {
    let max_clients = b.max_clients;
    let max_rate = b.max_rate;
    let group = move |index: usize| {
        (
            (1..=max_clients, 0.0..=max_rate, 0..Protocol::ALL.len(), 1u32..3, 1u32..8),
            (proptest::option::of(20u64..500), 0u32..3, proptest::option::of(1u32..6), 0u64..3000, any::<bool>()),
            (0u8..3, proptest::option::of(2u32..6), any::<bool>(), proptest::option::of((0u64..50, 0u64..100)), 0u8..6),
        )
            .prop_map(
                move |(
                    (count, rate, protocol, connections, max_streams),
                    (timeout_ms, retries, session, bytes, constant),
                    (balancing, stream_messages, skew, staggered, load),
                )| {
                    let mut c = ClientGroup::new(CLIENT_NAMES[index], count, rate);
                    c.protocol = Protocol::ALL[protocol].1;
                    c.connections = connections;
                    c.max_streams = max_streams;
                    c.timeout_ns = timeout_ms.map(|ms| ms * MS);
                    c.retries = retries;
                    if retries == 2 && bytes % 2 == 0 {
                        // gRPC's retry policy instead: backoff, a timeout retried, sometimes
                        // throttling, sometimes fresh work per retry.
                        let mut p = RetryPolicy::new(3);
                        p.initial_backoff_ns = MS;
                        p.max_backoff_ns = 10 * MS;
                        p.retryable[crate::Outcome::Timeout.index()] = true;
                        if constant {
                            p.throttling = Some(RetryThrottling { max_milli_tokens: 3000, milli_token_ratio: 500 });
                        }
                        c.retries = 0;
                        c.retry = Some(p);
                        c.retry_same_work = bytes % 4 != 0;
                    }
                    c.session_requests = session;
                    c.request_bytes = bytes;
                    c.response_bytes = bytes * 3;
                    if constant {
                        c.arrival = Arrival::Constant;
                    }
                    if skew {
                        c.rate_skew = 1.0;
                    }
                    // Mostly a constant open-loop rate; sometimes a closed loop (a fixed
                    // population or a schedule of users) or a schedule of rates, with points
                    // inside the shortest run (100 ms).
                    match load {
                        4 => {
                            let users = 1 + (rate as u32) % 5;
                            c.rate = 0.0;
                            c.rate_skew = 0.0;
                            c.arrival = Arrival::Poisson;
                            c.users = Some(users);
                            c.think_time = Some(ServiceDist::Exponential { mean_ns: 2 * MS });
                            if constant {
                                c.schedule = Some(Schedule::Users(vec![(0, users), (50 * MS, users / 2)]));
                            }
                        }
                        5 => {
                            c.schedule = Some(Schedule::Rate(vec![(0, rate / 2.0), (50 * MS, rate)]));
                            c.rate = 0.0;
                        }
                        _ => {}
                    }
                    // Staggered starts, well within the shortest run (100 ms).
                    if let Some((start_ms, ramp_ms)) = staggered {
                        c.start_ns = start_ms * MS;
                        c.ramp_ns = ramp_ms * MS;
                    }
                    if c.protocol == Protocol::Http2 {
                        // Client-side balancing (gRPC) and long-lived streams are HTTP/2 only.
                        match balancing {
                            1 => {
                                c.balancing = Balancing::Client;
                                c.client_algorithm = ClientAlgorithm::RoundRobin;
                            }
                            2 => {
                                c.balancing = Balancing::Client;
                                c.client_algorithm = ClientAlgorithm::PickFirst;
                            }
                            _ => {}
                        }
                        c.stream_messages = stream_messages;
                        c.resolve_interval_ns = 500 * MS;
                    }
                    if retries == 1
                        && bytes % 3 == 0
                        && c.session_requests.is_none()
                        && c.stream_messages.is_none()
                        && c.protocol != Protocol::WebSocket
                    {
                        // gRPC hedging instead (unary calls without sessions).
                        let mut h = Hedging::new(2 + (bytes % 2) as u32);
                        h.hedging_delay_ns = (bytes % 5) * MS;
                        h.non_fatal[crate::Outcome::ServerError.index()] = constant;
                        c.retries = 0;
                        c.hedging = Some(h);
                    }
                    c
                },
            )
    };
    (1..=b.max_client_groups).prop_flat_map(move |n| (0..n).map(group).collect::<Vec<_>>()).boxed()
}

/// A timeline event before it meets its scenario: when (a fraction of the duration), what
/// (a kind) and to what (an index into the possible targets) with what (a parameter). Drawn
/// independently of the scenario, so proptest shrinks a timeline by dropping and simplifying
/// events one by one (kind 0, `slow`, is the simplest action; time 0 the earliest).
#[derive(Clone, Debug)]
struct RawEvent {
    when: u32,
    kind: u8,
    target: u32,
    param: u32,
}

fn raw_events(max: usize) -> impl Strategy<Value = Vec<RawEvent>> + Clone {
    proptest::collection::vec(
        (any::<u32>(), 0u8..13, any::<u32>(), any::<u32>()).prop_map(|(when, kind, target, param)| RawEvent {
            when,
            kind,
            target,
            param,
        }),
        0..=max,
    )
}

/// Turns raw events into the scenario's timeline: times in order before the duration, targets
/// among its server instances, groups and replicas (client groups for bursts, at or after
/// the group's start); kinds that do not apply (failures when `failures` is off, the session
/// store when there is none) become `slow`.
fn resolve_timeline(s: &Scenario, raw: &[RawEvent], failures: bool) -> Vec<TimelineEvent> {
    let groups: Vec<(String, u32)> = s.servers.iter().map(|g| (g.name.clone(), g.count.max(1))).collect();
    let instances: Vec<String> = groups.iter().flat_map(|(n, k)| (1..=*k).map(move |i| format!("{n}-{i}"))).collect();
    let mut server_targets = instances;
    server_targets.extend(groups.iter().map(|(n, _)| n.clone()));
    let pick = |list: &[String], i: u32| list[i as usize % list.len()].clone();
    let group_names: Vec<String> = groups.iter().map(|(n, _)| n.clone()).collect();
    let replica = |i: u32| format!("balancer-{}", 1 + i % s.balancer.replicas.max(1));
    let duration = s.duration_ns.max(2);
    let mut events: Vec<TimelineEvent> = raw
        .iter()
        .map(|e| {
            let at_ns = 1 + ((u128::from(e.when) * u128::from(duration - 1)) >> 32) as u64;
            let kind = match e.kind {
                3..=7 | 12 if !failures => 0,
                8 | 9 if !failures || s.session_store.is_none() => 0,
                11 if s.session_store.is_none() => 0,
                10 if s.clients.is_empty() => 0,
                k => k,
            };
            let client = s.clients.get(e.target as usize % s.clients.len().max(1));
            let (client_name, client_start) = client.map_or((String::new(), 0), |c| (c.name.clone(), c.start_ns));
            let action = match kind {
                0 => Action::Slow { target: pick(&server_targets, e.target), factor: f64::from(1 + e.param % 19) },
                1 => Action::Add { target: pick(&group_names, e.target), count: 1 + e.param % 2 },
                2 => Action::SetAlgorithm { algorithm: Algorithm::ALL[e.param as usize % Algorithm::ALL.len()] },
                3 => Action::Crash { target: pick(&server_targets, e.target) },
                4 => Action::Recover { target: pick(&server_targets, e.target) },
                5 => Action::Remove { target: pick(&group_names, e.target), count: 1 + e.param % 2 },
                6 => Action::Crash { target: replica(e.target) },
                7 => Action::Recover { target: replica(e.target) },
                8 => Action::StoreDown,
                9 => Action::StoreUp,
                10 => Action::Burst { target: client_name, count: 1 + e.param % 20 },
                12 => Action::Errors {
                    target: pick(&server_targets, e.target),
                    rate: f64::from(e.param % 3) / 2.0,
                    latency_ns: (e.param % 4 != 0).then(|| u64::from(e.param % 4) * MS),
                },
                _ => Action::StoreSlow { factor: f64::from(1 + e.param % 9) },
            };
            // A burst comes when its group has started.
            let at_ns = if kind == 10 { at_ns.max(client_start) } else { at_ns };
            TimelineEvent { at_ns, action }
        })
        .filter(|e| match &e.action {
            Action::SetAlgorithm { algorithm } => {
                *algorithm != Algorithm::IpHash || s.servers.iter().all(|g| !g.backup)
            }
            _ => true,
        })
        .collect();
    events.sort_by_key(|e| e.at_ns);
    events
}

/// A failure timeline for a scenario: up to `max` actions at times before `duration_ns`.
pub fn timelines(s: &Scenario, max: usize, failures: bool) -> BoxedStrategy<Vec<TimelineEvent>> {
    let s = s.clone();
    raw_events(max).prop_map(move |raw| resolve_timeline(&s, &raw, failures)).boxed()
}

/// Arbitrary valid scenarios within `b`.
pub fn scenarios(b: Bounds) -> BoxedStrategy<Scenario> {
    let servers = (1..=b.max_server_groups).prop_flat_map({
        let max = b.max_servers;
        move |n| (0..n).map(|i| server_group(i, max)).collect::<Vec<_>>()
    });
    let balancer = (
        (proptest::sample::select(b.algorithms.clone()), any::<bool>(), 1u32..3, 1u32..4, 0u8..4),
        (proptest::option::of((100u64..1000, 1u32..3, 1u32..3)), proptest::option::of((1u32..3, 100u64..2000))),
        (0u8..3, proptest::option::of(1u64..200), 0u64..200, proptest::option::of(20.0f64..80.0)),
    );
    let bounds = b.clone();
    let setup = (0u64..u64::from(u32::MAX), 100..=b.max_duration_ms, 0u64..3, any::<bool>());
    (servers, traffic(&b), balancer, setup, raw_events(b.max_events))
        .prop_map(
            move |(
                servers,
                mut clients,
                ((algorithm, l4, replicas, choices, key), (health, passive), (sticky, rate_limit, overhead_us, panic)),
                (seed, duration_ms, latency_ms, store),
                raw,
            )| {
                let mut s = Scenario::new("generated", duration_ms * MS, servers[0].clone(), clients[0].clone());
                s.servers = servers;
                s.seed = seed;
                s.balancer.algorithm = algorithm;
                s.balancer.layer = if l4 { Layer::L4 } else { Layer::L7 };
                s.balancer.replicas = replicas;
                s.balancer.choices = choices.max(1);
                s.balancer.overhead_ns = overhead_us * 1_000;
                s.balancer.panic_threshold = panic;
                // An autoscaler on the first group of a fifth of them (the same way), reacting
                // within the run.
                if seed % 5 == 1 {
                    let count = s.servers[0].count;
                    let interval = (duration_ms * MS / 4).max(MS);
                    s.servers[0].autoscale = Some(Autoscale {
                        interval_ns: interval,
                        provision_delay_ns: interval / 2,
                        scale_down_stabilization_ns: 2 * interval,
                        ..Autoscale::new(1, count + 2, ScaleMetric::InFlight(1.0))
                    });
                }
                // Slow start on a quarter of the scenarios, derived from the seed so that the
                // strategies draw what they drew before (saved regressions stay valid).
                if seed % 4 == 0 {
                    s.balancer.slow_start = Some(SlowStart {
                        window_ns: (duration_ms * MS / 2).max(MS),
                        aggression: [1.0, 0.5, 2.0][(seed / 4 % 3) as usize],
                        min_weight_percent: (seed / 12 % 50) as f64,
                    });
                }
                s.balancer.health_check = health.map(|(interval_ms, rise, fall)| HealthCheck {
                    interval_ns: interval_ms * MS,
                    timeout_ns: 50 * MS,
                    rise,
                    fall,
                });
                s.balancer.passive = passive.map(|(max_fails, timeout_ms)| Passive::new(max_fails, timeout_ms * MS));
                s.balancer.sticky = [Sticky::None, Sticky::Cookie, Sticky::SourceIp][sticky as usize];
                s.network.latency_ns = latency_ms * MS / 2;
                if store {
                    s.session_store = Some(SessionStore { latency_ns: MS });
                }
                if !l4 {
                    s.balancer.hash_key = match key {
                        0 => HashKey::SourceIp,
                        1 => HashKey::Path,
                        _ => HashKey::Header("x-user".into()),
                    };
                    s.balancer.rate_limit = rate_limit.map(|limit| RateLimit {
                        limit,
                        window_ns: 1_000 * MS,
                        key: RateKey::Client,
                        kind: RateLimitKind::FixedWindow,
                    });
                } else if s.balancer.sticky == Sticky::Cookie {
                    s.balancer.sticky = Sticky::None;
                }
                if algorithm == Algorithm::IpHash {
                    s.servers.iter_mut().for_each(|g| g.backup = false);
                }
                if bounds.resilience && !l4 {
                    resilience(&mut s, seed);
                }
                for c in clients.iter_mut() {
                    c.source_ips = c.count.max(1);
                }
                s.clients = clients;
                s.limits.max_events = max_events_for(&bounds);
                s.events = resolve_timeline(&s, &raw, bounds.failures);
                // `check` also counts the table rebuilds a timeline causes (work, not events
                // the run counts): room for them, while the events processed stay within
                // `max_events_for`.
                s.limits.max_events = s.limits.max_events.max(crate::config::estimated_events(&s).ceil() as u64);
                s
            },
        )
        .boxed()
}

/// Turns on issue 16's mechanisms with settings drawn from `bits` (the scenario's seed, so the
/// strategy's shape and shrinking stay as they were): small thresholds and short times, so a
/// short run ejects, returns, overflows, refuses retries and cuts tries (per-try timeouts).
fn resilience(s: &mut Scenario, bits: u64) {
    let pick = |shift: u32, n: u64| (bits >> shift) % n;
    if pick(0, 2) == 0 {
        s.servers[0].error_rate = [0.2, 0.5, 1.0][pick(1, 3) as usize];
    }
    s.balancer.fail_on_server_error = pick(3, 2) == 0;
    s.balancer.retry_on_error = pick(4, 3) as u32;
    s.balancer.outlier_detection = Some(OutlierDetection {
        consecutive_5xx: 1 + pick(6, 5) as u32,
        consecutive_gateway_failure: 1 + pick(9, 5) as u32,
        enforcing_consecutive_gateway_failure: [0, 50, 100][pick(12, 3) as usize],
        interval_ns: (50 + pick(14, 300)) * MS,
        base_ejection_time_ns: (50 + pick(23, 500)) * MS,
        max_ejection_time_ns: 2_000 * MS,
        max_ejection_percent: pick(32, 101) as u32,
        success_rate_minimum_hosts: 1 + pick(39, 4) as u32,
        success_rate_request_volume: 1 + pick(41, 20) as u32,
        success_rate_stdev_factor: 500 + pick(46, 2000) as u32,
        enforcing_success_rate: [0, 50, 100][pick(57, 3) as usize],
        ..OutlierDetection::default()
    });
    s.balancer.circuit_breakers = Some(CircuitBreakers {
        max_requests: 1 + pick(59, 16) as u32,
        max_retries: pick(62, 3) as u32,
        ..CircuitBreakers::default()
    });
    // Without `retry_on_error` (the two do not combine): sometimes Envoy's retry policy, with
    // per-try timeouts and host reselection. More bits from the same seed.
    let more = crate::rng::mix64(bits);
    let pick = |shift: u32, n: u64| (more >> shift) % n;
    if let Some(cb) = s.balancer.circuit_breakers.as_mut()
        && pick(40, 2) == 0
    {
        // Few upstream connections and pending requests (HTTP/1.1 clients wait for them).
        cb.max_connections = 1 + pick(42, 6) as u32;
        cb.max_pending_requests = pick(46, 8) as u32;
    }
    if s.balancer.retry_on_error == 0 && pick(0, 3) != 0 {
        let mut p = BalancerRetry::new();
        p.num_retries = 1 + pick(2, 3) as u32;
        p.base_interval_ns = (1 + pick(4, 5)) * MS;
        p.max_interval_ns = p.base_interval_ns * 10;
        p.previous_hosts = pick(8, 2) == 0;
        p.host_selection_retry_max_attempts = pick(9, 4) as u32;
        if pick(11, 2) == 0 {
            p.per_try_timeout_ns = Some((1 + pick(12, 30)) * MS);
            p.retry_on[crate::Outcome::Timeout.index()] = pick(17, 3) != 0;
        }
        if pick(19, 3) == 0 {
            p.budget =
                Some(RetryBudget { budget_percent: pick(21, 50) as f64, min_retry_concurrency: pick(27, 4) as u32 });
        }
        s.balancer.retry = Some(p);
    }
}

/// The fuzz target's body: arbitrary bytes through the whole pipeline — parsed as TOML and as
/// JSON, validated, and, when valid, run with tightened limits and written back as TOML (which
/// must read back to the same scenario). Bad input may only produce errors; a panic here is a
/// bug (`cargo fuzz run scenario` drives it; `tests/tests/suite/robustness.rs` replays the corpus).
///
/// Lines of the form `#set KEY=VALUE` (a TOML comment, so the file still parses) are also
/// applied as `--set` overrides, at most [`MAX_FUZZ_SETS`] of them, in order: the fuzzer
/// mutates the overrides too, and a pair of them meets the same validation as the command
/// line's `--set a=.. --set b=..`.
pub fn exercise_bytes(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for format in [Format::Toml, Format::Json] {
        match load_fuzz_input(text, format) {
            Ok(scenario) => exercise_scenario(scenario),
            Err(e) => {
                assert!(!e.message.is_empty(), "an error without a message");
                let _ = e.with_file("fuzz");
            }
        }
    }
}

/// Reads a fuzz input as [`exercise_bytes`] does: its `#set KEY=VALUE` lines applied, and
/// every sample file it names read from its `#file VALUE` lines.
pub fn load_fuzz_input(text: &str, format: Format) -> Result<Scenario, crate::ConfigError> {
    let files = |_: &str| fuzz_file(text);
    crate::config::load_with_files(text, format, &fuzz_sets(text), &files)
}

/// The text of every sample file a fuzz input names: its `#file VALUE` lines, one value per
/// line (so the fuzzer reaches the sample-file reader without touching the disk).
fn fuzz_file(text: &str) -> Result<String, String> {
    let lines: Vec<&str> = text.lines().filter_map(|line| line.strip_prefix("#file ")).collect();
    if lines.is_empty() { Err("the fuzz input has no #file lines".to_string()) } else { Ok(lines.join("\n")) }
}

/// The sample files a scenario's distributions were read from, as text that reads back to the
/// same samples (for the write-back round trip).
fn sample_files(s: &Scenario) -> Vec<(String, String)> {
    fn walk(d: &ServiceDist, out: &mut Vec<(String, String)>) {
        match d {
            ServiceDist::Empirical { samples, file: Some(file) } => {
                let text: Vec<String> = samples.iter().map(|v| format!("{v}ns")).collect();
                out.push((file.clone(), text.join("\n")));
            }
            ServiceDist::Mixture { parts } => parts.iter().for_each(|p| walk(&p.dist, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    s.servers.iter().for_each(|g| walk(&g.service, &mut out));
    out
}

/// How many `#set` lines [`exercise_bytes`] applies.
pub const MAX_FUZZ_SETS: usize = 4;

/// The `#set KEY=VALUE` lines of a fuzz input, as `--set` arguments.
fn fuzz_sets(text: &str) -> Vec<String> {
    text.lines().filter_map(|line| line.strip_prefix("#set ")).take(MAX_FUZZ_SETS).map(str::to_string).collect()
}

/// Runs a valid scenario under small limits (so any input finishes in milliseconds) and checks
/// the invariants a run must keep.
pub fn exercise_scenario(mut s: Scenario) {
    s.limits.max_requests = s.limits.max_requests.min(20_000);
    s.limits.max_events = s.limits.max_events.min(2_000_000);
    s.limits.max_in_flight = s.limits.max_in_flight.min(20_000);
    s.limits.max_servers = s.limits.max_servers.min(2_000);
    s.limits.max_clients = s.limits.max_clients.min(2_000);
    if s.validate().is_err() {
        return;
    }
    let text = s.to_toml();
    // Sample files are written back by name: serve them with the samples read.
    let files = sample_files(&s);
    let read = |path: &str| {
        files.iter().find(|(p, _)| p == path).map(|(_, t)| t.clone()).ok_or_else(|| format!("no file {path}"))
    };
    let back = crate::config::load_with_files(&text, Format::Toml, &[], &read)
        .unwrap_or_else(|e| panic!("written scenario does not read back: {e}\n{text}"));
    assert_eq!(back, s, "written scenario reads back differently:\n{text}");
    let mut sim = Simulation::new(&s, s.seed);
    sim.enable_series();
    sim.run();
    let r = sim.report();
    if sim.aborted().is_none() {
        assert_eq!(r.requests.sent, r.requests.completed + r.requests.failed, "a request without one outcome");
    }
    let _ = r.to_json();
}
