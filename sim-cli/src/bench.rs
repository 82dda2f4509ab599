//! `lbsim bench`: simulation speed on fixed scenarios — requests/s, events/s and peak memory,
//! each case in its own child process (so peak memory is the case's own), and the SimPy
//! model of the same queueing case (`scripts/simpy_lb.py`) when Python has SimPy.

use std::io::Write;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sim_core::model::snapshot::Snapshot;
use sim_core::{Algorithm, Protocol, Scenario, Simulation, Sticky};

use crate::cli::{BenchArgs, OutputFormat};
use crate::error::user;
use crate::table;

/// One benchmark case: a name, what it measures, a scenario for about N requests, and how it
/// is driven.
struct Case {
    name: &'static str,
    what: &'static str,
    build: fn(u64) -> Scenario,
    drive: Drive,
    /// Whether `--quick` (what scripts/test.sh runs) includes it: the scale cases (100,000
    /// servers, health churn) run in the full bench or when named with `--case`.
    quick: bool,
}

/// How a case runs its simulation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Drive {
    /// `Simulation::run` to the end (the CLI's path).
    Run,
    /// The browser page's "as fast as possible" path: time series on, events in chunks of
    /// 20,000 (`stepEvents`), a snapshot of every server and replica after each chunk.
    Frames,
    /// Not lbsim: the same queueing model as a bare event loop ([`bare_loop`]), for this
    /// machine's ceiling in the same run.
    Bare,
    /// Trace replay: N rows written to an anonymous temporary file first (not timed), then
    /// replayed through the CLI's streaming reader (timed), as `lbsim run` does.
    Replay,
}

/// Events per frame in [`Drive::Frames`] (the page's `app.chunk`).
const FRAME_EVENTS: u32 = 20_000;

/// A scale case: `reference_queueing` at `n` servers, load 0.9, with one algorithm (not in
/// the quick mode).
/// Hash policies get the keys a hash policy needs (see [`keyed`]).
macro_rules! scale_case {
    ($name:literal, $what:literal, $n:literal, $algorithm:expr) => {
        Case {
            name: $name,
            what: $what,
            build: |r| keyed(Scenario::reference_queueing($n, 0.9, $algorithm, r)),
            drive: Drive::Run,
            quick: false,
        }
    };
}

/// The reference scenario has one client, so every request has the same hash key (its
/// address) and a hash policy sends them all to one server. The scale cases spread them as a
/// real site's would: 1,000,000 uniform `x-user` header keys for the key hashes; for
/// `ip_hash` (which hashes the address's first three octets) one client per server, each
/// with its own address. Other policies are left as they are.
fn keyed(mut s: Scenario) -> Scenario {
    use sim_core::scenario::KeySpace;
    match s.balancer.algorithm {
        Algorithm::ConsistentHash
        | Algorithm::RingHash
        | Algorithm::Maglev
        | Algorithm::BoundedLoadHash
        | Algorithm::HaproxyConsistentHash
        | Algorithm::HaproxyMapHash => {
            s.balancer.hash_key = sim_core::HashKey::Header("x-user".into());
            s.clients[0].keys = Some(KeySpace { count: 1_000_000, skew: 0.0, template: None });
        }
        // `first` with no limit sends everything to the first server: give it HAProxy's usual
        // `maxconn` of one request per worker, so it fills servers in order.
        Algorithm::First => s.balancer.max_conns = 1,
        Algorithm::IpHash => {
            let n = s.servers.iter().map(|g| g.count).sum::<u32>();
            let total = s.clients[0].rate;
            s.clients[0].count = n;
            s.clients[0].source_ips = n;
            s.clients[0].rate = total / f64::from(n);
            s.limits.max_clients = s.limits.max_clients.max(n);
        }
        _ => {}
    }
    s
}

fn cases() -> Vec<Case> {
    let mut all = vec![
        Case {
            name: "p2c-100",
            what: "100 servers, power_of_two, load 0.9",
            build: |n| Scenario::reference_queueing(100, 0.9, Algorithm::PowerOfTwo, n),
            drive: Drive::Run,
            quick: true,
        },
        Case {
            name: "bare-p2c-100",
            what: "not lbsim: p2c-100's queueing model as a bare event loop (the machine's ceiling)",
            build: |n| Scenario::reference_queueing(100, 0.9, Algorithm::PowerOfTwo, n),
            drive: Drive::Bare,
            quick: true,
        },
        Case {
            name: "rr-100",
            what: "100 servers, round_robin, load 0.9",
            build: |n| Scenario::reference_queueing(100, 0.9, Algorithm::RoundRobin, n),
            drive: Drive::Run,
            quick: true,
        },
        Case {
            name: "lc-100",
            what: "100 servers, least_connections, load 0.9",
            build: |n| Scenario::reference_queueing(100, 0.9, Algorithm::LeastConnections, n),
            drive: Drive::Run,
            quick: true,
        },
        Case {
            name: "ewma-100",
            what: "100 servers, peak_ewma, load 0.9",
            build: |n| Scenario::reference_queueing(100, 0.9, Algorithm::PeakEwma, n),
            drive: Drive::Run,
            quick: true,
        },
        Case {
            name: "p2c-10000",
            what: "10,000 servers, power_of_two, load 0.9",
            build: |n| Scenario::reference_queueing(10_000, 0.9, Algorithm::PowerOfTwo, n),
            drive: Drive::Run,
            quick: true,
        },
        Case {
            name: "rr-10000",
            what: "10,000 servers, round_robin, load 0.9",
            build: |n| Scenario::reference_queueing(10_000, 0.9, Algorithm::RoundRobin, n),
            drive: Drive::Run,
            quick: true,
        },
        Case {
            name: "lc-10000",
            what: "10,000 servers, least_connections, load 0.9",
            build: |n| Scenario::reference_queueing(10_000, 0.9, Algorithm::LeastConnections, n),
            drive: Drive::Run,
            quick: true,
        },
        Case {
            name: "blh-10000",
            what: "10,000 servers, bounded_load_hash, load 0.9",
            build: |n| Scenario::reference_queueing(10_000, 0.9, Algorithm::BoundedLoadHash, n),
            drive: Drive::Run,
            quick: true,
        },
        Case {
            name: "http2-streams",
            what: "200 gRPC clients, 1 connection × 100 streams each, L7 least_connections, 0.5 ms hops",
            build: |n| {
                let mut s = Scenario::reference_queueing(100, 0.8, Algorithm::LeastConnections, n);
                let total = s.clients[0].rate;
                s.clients[0].count = 200;
                s.clients[0].rate = total / 200.0;
                s.clients[0].protocol = Protocol::Http2;
                s.clients[0].max_streams = 100;
                s.clients[0].request_bytes = 300;
                s.clients[0].response_bytes = 1200;
                s.network.latency_ns = 500_000;
                s
            },
            drive: Drive::Run,
            quick: true,
        },
        Case {
            name: "sessions",
            what: "5,000 users, sessions of 20 requests, cookie stickiness, local session state",
            build: |n| {
                let mut s = Scenario::reference_queueing(100, 0.8, Algorithm::RoundRobin, n);
                let total = s.clients[0].rate;
                s.clients[0].count = 5_000;
                s.clients[0].rate = total / 5_000.0;
                s.clients[0].protocol = Protocol::Http1;
                s.clients[0].connections = 4;
                s.clients[0].session_requests = Some(20);
                s.balancer.sticky = Sticky::Cookie;
                s
            },
            drive: Drive::Run,
            quick: true,
        },
        Case {
            name: "replay-10m",
            what: "trace replay of N rows (time, key, service_ms) streamed from a CSV file, 8 servers, \
                   least_connections, load 0.9",
            build: replay_scenario,
            drive: Drive::Replay,
            quick: true,
        },
        Case {
            name: "resilience-100",
            what: "p2c-100 with every resilience mechanism on: 1% fast errors, outlier detection, circuit \
                   breakers, Envoy retries with a budget, gRPC client retries with throttling, slow start, \
                   an autoscaler (compare with p2c-100: within 1.5×)",
            build: |n| resilience_scenario(n, true),
            drive: Drive::Run,
            quick: true,
        },
        Case {
            name: "snapshot-100",
            what: "p2c-100 as the browser runs it: series on, 20,000-event frames, a snapshot per frame",
            build: |n| Scenario::reference_queueing(100, 0.9, Algorithm::PowerOfTwo, n),
            drive: Drive::Frames,
            quick: true,
        },
    ];
    all.extend(scale_cases());
    all
}

/// Every algorithm at 10,000 and 100,000 servers (issue 18), unequal weights, and hash
/// tables under health churn.
fn scale_cases() -> Vec<Case> {
    vec![
        scale_case!("random-10000", "10,000 servers, random, load 0.9", 10_000, Algorithm::Random),
        scale_case!(
            "iphash-10000",
            "10,000 servers, ip_hash, a client per server, load 0.9",
            10_000,
            Algorithm::IpHash
        ),
        scale_case!(
            "chash-10000",
            "10,000 servers, consistent_hash (ketama), 1M keys, load 0.9",
            10_000,
            Algorithm::ConsistentHash
        ),
        scale_case!("ringhash-10000", "10,000 servers, ring_hash, 1M keys, load 0.9", 10_000, Algorithm::RingHash),
        scale_case!("maglev-10000", "10,000 servers, maglev, 1M keys, load 0.9", 10_000, Algorithm::Maglev),
        scale_case!(
            "hchash-10000",
            "10,000 servers, haproxy_consistent_hash, 1M keys, load 0.9",
            10_000,
            Algorithm::HaproxyConsistentHash
        ),
        scale_case!(
            "hmap-10000",
            "10,000 servers, haproxy_map_hash, 1M keys, load 0.9",
            10_000,
            Algorithm::HaproxyMapHash
        ),
        scale_case!(
            "blh-keyed-10000",
            "10,000 servers, bounded_load_hash, 1M keys (blh-10000 has one key), load 0.9",
            10_000,
            Algorithm::BoundedLoadHash
        ),
        scale_case!("ewma-10000", "10,000 servers, peak_ewma, load 0.9", 10_000, Algorithm::PeakEwma),
        scale_case!("p2c-100000", "100,000 servers, power_of_two, load 0.9", 100_000, Algorithm::PowerOfTwo),
        scale_case!("rr-100000", "100,000 servers, round_robin, load 0.9", 100_000, Algorithm::RoundRobin),
        scale_case!("random-100000", "100,000 servers, random, load 0.9", 100_000, Algorithm::Random),
        scale_case!("lc-100000", "100,000 servers, least_connections, load 0.9", 100_000, Algorithm::LeastConnections),
        scale_case!(
            "iphash-100000",
            "100,000 servers, ip_hash, a client per server, load 0.9",
            100_000,
            Algorithm::IpHash
        ),
        scale_case!(
            "chash-100000",
            "100,000 servers, consistent_hash (ketama), 1M keys, load 0.9",
            100_000,
            Algorithm::ConsistentHash
        ),
        scale_case!("ringhash-100000", "100,000 servers, ring_hash, 1M keys, load 0.9", 100_000, Algorithm::RingHash),
        scale_case!("maglev-100000", "100,000 servers, maglev, 1M keys, load 0.9", 100_000, Algorithm::Maglev),
        scale_case!(
            "hchash-100000",
            "100,000 servers, haproxy_consistent_hash, 1M keys, load 0.9",
            100_000,
            Algorithm::HaproxyConsistentHash
        ),
        scale_case!(
            "hmap-100000",
            "100,000 servers, haproxy_map_hash, 1M keys, load 0.9",
            100_000,
            Algorithm::HaproxyMapHash
        ),
        scale_case!(
            "blh-100000",
            "100,000 servers, bounded_load_hash, 1M keys, load 0.9",
            100_000,
            Algorithm::BoundedLoadHash
        ),
        scale_case!("ewma-100000", "100,000 servers, peak_ewma, load 0.9", 100_000, Algorithm::PeakEwma),
        scale_case!("random2-10000", "10,000 servers, random_two (nginx), load 0.9", 10_000, Algorithm::RandomTwo),
        scale_case!("random2-100000", "100,000 servers, random_two (nginx), load 0.9", 100_000, Algorithm::RandomTwo),
        scale_case!(
            "draws-10000",
            "10,000 servers, random_draws (HAProxy random(2)), load 0.9",
            10_000,
            Algorithm::RandomDraws
        ),
        scale_case!(
            "draws-100000",
            "100,000 servers, random_draws (HAProxy random(2)), load 0.9",
            100_000,
            Algorithm::RandomDraws
        ),
        scale_case!("first-10000", "10,000 servers, first (HAProxy), max_conns 1, load 0.9", 10_000, Algorithm::First),
        scale_case!(
            "first-100000",
            "100,000 servers, first (HAProxy), max_conns 1, load 0.9",
            100_000,
            Algorithm::First
        ),
        scale_case!("staticrr-10000", "10,000 servers, static_rr (HAProxy), load 0.9", 10_000, Algorithm::StaticRr),
        scale_case!("staticrr-100000", "100,000 servers, static_rr (HAProxy), load 0.9", 100_000, Algorithm::StaticRr),
        scale_case!(
            "haproxyrr-10000",
            "10,000 servers, haproxy_round_robin, load 0.9",
            10_000,
            Algorithm::HaproxyRoundRobin
        ),
        scale_case!(
            "haproxyrr-100000",
            "100,000 servers, haproxy_round_robin, load 0.9",
            100_000,
            Algorithm::HaproxyRoundRobin
        ),
        Case {
            name: "rr-weighted-10000",
            what: "10,000 servers, round_robin, weights 1, 2, 3, 4 (a quarter each, service time ∝ 1/weight), load 0.9",
            build: |r| weighted_scenario(10_000, r),
            drive: Drive::Run,
            quick: false,
        },
        Case {
            name: "rr-weighted-100000",
            what: "100,000 servers, round_robin, weights 1, 2, 3, 4 (a quarter each, service time ∝ 1/weight), load 0.9",
            build: |r| weighted_scenario(100_000, r),
            drive: Drive::Run,
            quick: false,
        },
        Case {
            name: "maglev-churn-10000",
            what: "maglev-10000 with health checks (1 s) and a server crashing every 50 ms, back 200 ms later: a table \
                   rebuild per health change",
            build: |r| churn_scenario(Algorithm::Maglev, r),
            drive: Drive::Run,
            quick: false,
        },
        Case {
            name: "ringhash-churn-10000",
            what: "ringhash-10000 with health checks (1 s) and a server crashing every 50 ms, back 200 ms later: a ring \
                   rebuild per health change",
            build: |r| churn_scenario(Algorithm::RingHash, r),
            drive: Drive::Run,
            quick: false,
        },
    ]
}

/// `reference_queueing` at `n` servers (a multiple of 4) as four groups of weights 1 to 4;
/// a server's mean service time is inversely proportional to its weight, so that every
/// server runs at load 0.9 under a weighted policy.
fn weighted_scenario(n: u32, requests: u64) -> Scenario {
    let mut s = Scenario::reference_queueing(n, 0.9, Algorithm::RoundRobin, requests);
    let base = s.servers[0].clone();
    let sim_core::ServiceDist::Exponential { mean_ns } = base.service else {
        unreachable!("reference scenarios have exponential service")
    };
    // Mean weight 2.5: a weight-w server gets w/2.5 of the mean share.
    s.servers = (1..=4u32)
        .map(|w| {
            let mut g = base.clone();
            g.name = format!("api-w{w}");
            g.count = n / 4;
            g.weight = w;
            g.service = sim_core::ServiceDist::Exponential { mean_ns: mean_ns * 5 / (2 * u64::from(w)) };
            g
        })
        .collect();
    s
}

/// `reference_queueing` at 10,000 servers with active health checks (every second, down
/// after one failed check, up after one passed), 1M keys, and a crash every 50 ms of the run,
/// each server back 200 ms later: about 40 health changes per simulated second, each a view
/// change the table is rebuilt for.
fn churn_scenario(algorithm: Algorithm, requests: u64) -> Scenario {
    use sim_core::scenario::{Action, HealthCheck, TimelineEvent};
    let mut s = keyed(Scenario::reference_queueing(10_000, 0.9, algorithm, requests));
    s.balancer.health_check =
        Some(HealthCheck { interval_ns: 1_000_000_000, timeout_ns: 100_000_000, rise: 1, fall: 1 });
    let step = 50_000_000u64;
    let back = 200_000_000u64;
    let mut t = step;
    let mut k = 0u64;
    // Only churn that ends inside the run: a server still down at the end would keep the
    // run going past `duration` for nothing.
    while t + back < s.duration_ns {
        // Servers spread over the pool (a stride coprime with 10,000).
        let target = format!("api-{}", 1 + (k * 7_919) % 10_000);
        s.events.push(TimelineEvent { at_ns: t, action: Action::Crash { target: target.clone() } });
        s.events.push(TimelineEvent { at_ns: t + back, action: Action::Recover { target } });
        t += step;
        k += 1;
    }
    s.events.sort_by_key(|e| e.at_ns);
    s
}

/// p2c-100 (`on = false`) or the same with every resilience mechanism of issue 16 on: each
/// server fails 1% of requests in 1 ms, Envoy outlier detection and circuit breakers, an Envoy
/// retry policy with a budget, gRPC A6 client retries with throttling, slow start, and an
/// autoscaler that keeps the group between 90 and 110 servers.
fn resilience_scenario(n: u64, on: bool) -> Scenario {
    use sim_core::scenario::{
        Autoscale, BalancerRetry, CircuitBreakers, OutlierDetection, RetryBudget, RetryPolicy, RetryThrottling,
        ScaleMetric, SlowStart,
    };
    let mut s = Scenario::reference_queueing(100, 0.9, Algorithm::PowerOfTwo, n);
    if !on {
        return s;
    }
    let g = &mut s.servers[0];
    g.error_rate = 0.01;
    g.error_latency_ns = Some(1_000_000);
    g.autoscale = Some(Autoscale::new(90, 110, ScaleMetric::Utilization(0.9)));
    let b = &mut s.balancer;
    b.outlier_detection = Some(OutlierDetection::default());
    b.circuit_breakers = Some(CircuitBreakers::default());
    let mut retry = BalancerRetry::new();
    retry.budget = Some(RetryBudget { budget_percent: 20.0, min_retry_concurrency: 3 });
    b.retry = Some(retry);
    b.slow_start = Some(SlowStart::new(10_000_000_000));
    let mut client_retry = RetryPolicy::new(3);
    client_retry.throttling = Some(RetryThrottling { max_milli_tokens: 10_000, milli_token_ratio: 100 });
    s.clients[0].retry = Some(client_retry);
    s
}

/// The replay case's scenario: 8 servers as `reference_queueing` at load 0.9, the client
/// group replaying a trace (the file is handed over by [`replay_source`]) with request keys.
fn replay_scenario(rows: u64) -> Scenario {
    let mut s = Scenario::reference_queueing(8, 0.9, Algorithm::LeastConnections, rows);
    // Rows arrive at the reference rate; the run lasts past the last one.
    s.duration_ns = s.duration_ns + s.duration_ns / 5 + 1_000_000_000;
    s.warmup_ns = 0;
    s.clients[0].rate = 0.0;
    s.clients[0].trace = Some("replay-10m.csv".into());
    s.balancer.hash_key = sim_core::HashKey::Header("x-user".into());
    s
}

/// Writes the replay case's trace (`rows` rows at the scenario's rate: exponential gaps,
/// exponential service times of mean 10 ms, 100,000 keys; deterministic) to an anonymous
/// temporary file — gone when the process ends, however it ends — and opens the reader on it.
fn replay_source(scenario: &Scenario, rows: u64) -> anyhow::Result<crate::replay::CsvRows> {
    use std::io::{Seek, SeekFrom};
    let total_rate = 0.9 * 8.0 * 100.0;
    let mean_gap_ns = 1e9 / total_rate;
    let mut file = tempfile::tempfile().context("creating the trace's temporary file")?;
    {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut file);
        let mut rng = sim_core::rng::SimRng::from_seed(SEED);
        writeln!(w, "time,key,service_ms").context("writing the trace")?;
        let mut t = 0u64;
        for _ in 0..rows {
            t += rng.exponential(mean_gap_ns) as u64;
            let service_us = (rng.exponential(10_000.0) as u64).max(1);
            let key = rng.below(100_000);
            writeln!(
                w,
                "{}.{:09},user-{key},{}.{:03}",
                t / 1_000_000_000,
                t % 1_000_000_000,
                service_us / 1000,
                service_us % 1000
            )
            .context("writing the trace")?;
        }
        w.flush().context("writing the trace")?;
        debug_assert!(t < scenario.duration_ns, "the last row falls inside the run");
    }
    file.seek(SeekFrom::Start(0)).context("reading the trace back")?;
    crate::replay::CsvRows::from_file(file, "replay-10m.csv")
}

/// What a child process reports about its case.
#[derive(Serialize, Deserialize, Debug, Clone)]
struct Measurement {
    case: String,
    requests: u64,
    events: u64,
    wall_s: f64,
    peak_rss_mib: Option<f64>,
    mean_ms: f64,
    trace_hash: String,
    /// CPU time of the measured part (user + system; 10 ms resolution): on a machine shared
    /// with other work, the speed the wall time hides.
    #[serde(default)]
    cpu_s: Option<f64>,
}

/// What the Node.js driver reports about the wasm build running a case.
#[derive(Deserialize, Debug, Clone)]
struct WasmMeasurement {
    events: u64,
    wall_s: f64,
    trace_hash: String,
}

/// The seed every case runs with.
const SEED: u64 = 1;

/// Peak resident memory of this process (Linux `VmHWM`), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// CPU time this process has used (user + system, Linux `/proc/self/stat`, in clock ticks of
/// 1/100 s, the fixed `USER_HZ`), in seconds.
fn cpu_time_s() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces): state is the first, utime the
    // 12th and stime the 13th.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// Runs one case in this process and prints its measurement as JSON.
fn child(name: &str, requests: u64) -> anyhow::Result<()> {
    let case = cases().into_iter().find(|c| c.name == name).ok_or_else(|| user(format!("no bench case {name}")))?;
    let scenario = (case.build)(requests);
    let source = if case.drive == Drive::Replay { Some(replay_source(&scenario, requests)?) } else { None };
    let cpu_start = cpu_time_s();
    let start = Instant::now();
    let (requests, events, wall_s, mean_ms, trace_hash) = match case.drive {
        Drive::Bare => {
            let (requests, mean_ms) = bare_loop(&scenario);
            (requests, 2 * requests, start.elapsed().as_secs_f64(), mean_ms, "-".to_string())
        }
        Drive::Run | Drive::Frames | Drive::Replay => {
            let mut sim = Simulation::new(&scenario, SEED);
            let mut failed = None;
            if let Some(rows) = source {
                failed = Some(rows.error_slot());
                sim.attach_trace(0, Box::new(rows)).map_err(|e| anyhow::anyhow!(e))?;
            }
            if case.drive != Drive::Frames {
                sim.run();
                if let Some(e) = failed.and_then(|slot| slot.lock().ok().and_then(|s| s.clone())) {
                    bail!("the replay's trace is bad: {e}");
                }
            } else {
                sim.enable_series();
                let mut snapshot = Snapshot::default();
                let mut frames = 0u64;
                loop {
                    let more = sim.step_events(FRAME_EVENTS);
                    sim.snapshot_into(&mut snapshot);
                    frames += 1;
                    if !more {
                        break;
                    }
                }
                std::hint::black_box((frames, &snapshot));
            }
            let wall_s = start.elapsed().as_secs_f64();
            let report = sim.report();
            (sim.requests_created(), report.events_processed, wall_s, report.latency_ms.mean, report.trace_hash)
        }
    };
    let m = Measurement {
        case: name.to_string(),
        requests,
        events,
        wall_s,
        peak_rss_mib: peak_rss_mib(),
        mean_ms,
        trace_hash,
        cpu_s: cpu_time_s().zip(cpu_start).map(|(end, start)| end - start),
    };
    crate::out::stdout(&format!("{}\n", serde_json::to_string(&m)?))?;
    Ok(())
}

/// The queueing model of a reference scenario (one Poisson source, single-worker FIFO servers
/// with exponential service, power of two choices on outstanding requests) as the bare event
/// loop a throwaway simulator would be: `std`'s binary heap of (time, sequence | target), a
/// `VecDeque` of arrival times per server, inversion exponentials, a running latency sum — no
/// clients, connections, balancer replica, histograms or trace hash. Returns the requests
/// and their mean latency (ms), which matches lbsim's on the same scenario.
fn bare_loop(scenario: &Scenario) -> (u64, f64) {
    use std::cmp::Reverse;
    use std::collections::{BinaryHeap, VecDeque};
    let n = scenario.servers[0].count as usize;
    let sim_core::ServiceDist::Exponential { mean_ns } = scenario.servers[0].service else {
        unreachable!("reference scenarios have exponential service")
    };
    let (mean_service, mean_gap) = (mean_ns as f64, 1e9 / scenario.clients[0].rate);
    let mut rng = sim_core::rng::SimRng::from_seed(SEED);
    let mut heap: BinaryHeap<Reverse<(u64, u64)>> = BinaryHeap::with_capacity(n + 1);
    let mut queues: Vec<VecDeque<u64>> = vec![VecDeque::new(); n];
    const ARRIVAL: u64 = u32::MAX as u64;
    let (mut seq, mut sent, mut done, mut latency_sum) = (0u64, 0u64, 0u64, 0u128);
    let mut push = |heap: &mut BinaryHeap<_>, t: u64, target: u64| {
        heap.push(Reverse((t, (seq << 32) | target)));
        seq += 1;
    };
    push(&mut heap, rng.exponential(mean_gap) as u64, ARRIVAL);
    while let Some(Reverse((now, id))) = heap.pop() {
        let target = id & ARRIVAL;
        if target == ARRIVAL {
            sent += 1;
            let next = now + rng.exponential(mean_gap) as u64;
            if next < scenario.duration_ns {
                push(&mut heap, next, ARRIVAL);
            }
            let a = rng.below(n as u64) as usize;
            let b = rng.below(n as u64) as usize;
            let s = if queues[b].len() < queues[a].len() { b } else { a };
            queues[s].push_back(now);
            if queues[s].len() == 1 {
                push(&mut heap, now + rng.exponential(mean_service) as u64, s as u64);
            }
        } else {
            let s = target as usize;
            let arrived = queues[s].pop_front().expect("a departure has a request");
            latency_sum += u128::from(now - arrived);
            done += 1;
            if !queues[s].is_empty() {
                push(&mut heap, now + rng.exponential(mean_service) as u64, target);
            }
        }
    }
    (sent, latency_sum as f64 / done.max(1) as f64 / 1e6)
}

/// The SimPy model shipped in the source tree this binary was built from
/// (`scripts/simpy_lb.py`): found from any working directory, as long as that tree exists.
fn default_simpy_script() -> String {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).join("scripts").join("simpy_lb.py").to_string_lossy().into_owned()
}

/// The SimPy model of the same queueing case (p2c, 100 servers, load 0.9): its requests/s
/// and peak memory, or why it could not run.
fn simpy(script: &str, requests: u64) -> Result<(f64, f64), String> {
    if !std::path::Path::new(script).is_file() {
        return Err(format!("no SimPy model at {script} (give its path with --simpy-script)"));
    }
    let python = std::env::var("LBSIM_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .args([script, "--policy", "p2c", "--servers", "100", "--lam", "0.9", "--requests", &requests.to_string()])
        .output()
        .map_err(|e| format!("cannot run {python} ({e}); set LBSIM_PYTHON to a Python with simpy"))?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        let last = why.trim().lines().last().unwrap_or("");
        return Err(format!("{python} {script} failed: {last} (needs python3 with simpy; LBSIM_PYTHON picks one)"));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |key: &str| -> Option<f64> {
        text.split_whitespace().find_map(|w| w.strip_prefix(&format!("{key}="))).and_then(|v| v.parse().ok())
    };
    match (field("requests_per_s"), field("maxrss_mib")) {
        (Some(rps), Some(rss)) => Ok((rps, rss)),
        _ => Err(format!("{script} printed no requests_per_s=… maxrss_mib=… line: {}", text.trim())),
    }
}

/// Runs a case's scenario with the wasm build in Node.js (see `scripts/bench-wasm.mjs`).
fn wasm_run(script: &str, case: &Case, requests: u64) -> anyhow::Result<WasmMeasurement> {
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let path = dir.path().join(format!("{}.toml", case.name));
    std::fs::write(&path, (case.build)(requests).to_toml()).context("writing the case's scenario")?;
    let out = Command::new("node")
        .arg(script)
        .arg(&path)
        .arg(SEED.to_string())
        .output()
        .context("running node (is Node.js installed?)")?;
    if !out.status.success() {
        bail!("the wasm run of {} failed: {}", case.name, String::from_utf8_lossy(&out.stderr).trim());
    }
    serde_json::from_slice(&out.stdout).context("reading the wasm measurement")
}

/// A case's measurements over its runs: the fastest run (the least disturbed by the rest of
/// the machine) and the median wall time.
struct CaseResult<'a> {
    case: &'a Case,
    best: Measurement,
    median_wall_s: f64,
    wasm: Option<(WasmMeasurement, f64)>,
}

/// Runs `f` `runs` times and returns the fastest result and the median wall time.
fn best_of<T>(
    runs: u32,
    wall: impl Fn(&T) -> f64,
    mut f: impl FnMut() -> anyhow::Result<T>,
) -> anyhow::Result<(T, f64)> {
    let mut all = Vec::new();
    for _ in 0..runs {
        all.push(f()?);
    }
    let mut walls: Vec<f64> = all.iter().map(&wall).collect();
    walls.sort_by(f64::total_cmp);
    let median = walls[walls.len() / 2];
    let best = all.into_iter().min_by(|a, b| wall(a).total_cmp(&wall(b))).expect("at least one run");
    Ok((best, median))
}

/// The cases a bench runs: named cases (`--case`, a substring) whatever the mode; else all,
/// or with `--quick` the quick ones.
fn select(filter: Option<&str>, quick: bool) -> Vec<Case> {
    cases()
        .into_iter()
        .filter(|c| match filter {
            Some(f) => c.name.contains(f),
            None => c.quick || !quick,
        })
        .collect()
}

pub fn bench(args: BenchArgs) -> anyhow::Result<()> {
    if let Some(name) = &args.child {
        return child(name, args.requests.unwrap_or(1_000_000));
    }
    let requests = args.requests.unwrap_or(if args.quick { 200_000 } else { 10_000_000 });
    let runs = args.runs.unwrap_or(if args.quick { 1 } else { 3 });
    let selected = select(args.case.as_deref(), args.quick);
    if selected.is_empty() {
        let names: Vec<&str> = cases().iter().map(|c| c.name).collect();
        return Err(user(format!("no bench case matches; cases: {}", names.join(", "))));
    }
    if args.wasm && !std::path::Path::new(&args.wasm_script).is_file() {
        return Err(user(format!(
            "--wasm-script {}: no such file (run lbsim bench --wasm from the project root, or give the path to \
             scripts/bench-wasm.mjs)",
            args.wasm_script
        )));
    }
    let exe = std::env::current_exe().context("locating lbsim")?;
    let mut results = Vec::new();
    for case in &selected {
        // The 10,000- and 100,000-server cases need no more requests to show their rates.
        let n = if case.name.ends_with("-10000") || case.name.ends_with("-100000") {
            requests.min(5_000_000)
        } else {
            requests
        };
        progress(&format!("bench {} ({n} requests, {runs} run{})… ", case.name, if runs == 1 { "" } else { "s" }));
        let (best, median_wall_s) = best_of(
            runs,
            |m: &Measurement| m.wall_s,
            || {
                let out =
                    Command::new(&exe).args(["bench", "--child", case.name, "--requests", &n.to_string()]).output()?;
                if !out.status.success() {
                    bail!("bench case {} failed: {}", case.name, String::from_utf8_lossy(&out.stderr));
                }
                let m: Measurement = serde_json::from_slice(&out.stdout).context("reading a bench measurement")?;
                crate::interrupt::check()?;
                Ok(m)
            },
        )?;
        crate::out::note(&format!("best {:.2}s", best.wall_s));
        let wasm = if args.wasm && case.drive == Drive::Run {
            progress("  wasm in Node.js… ");
            let (w, median) = best_of(runs, |w: &WasmMeasurement| w.wall_s, || wasm_run(&args.wasm_script, case, n))?;
            if w.trace_hash != best.trace_hash || w.events != best.events {
                bail!(
                    "the wasm run of {} differs from the native one: trace_hash {} vs {}, events {} vs {}",
                    case.name,
                    w.trace_hash,
                    best.trace_hash,
                    w.events,
                    best.events
                );
            }
            crate::out::note(&format!("best {:.2}s, same trace_hash", w.wall_s));
            Some((w, median))
        } else {
            None
        };
        results.push(CaseResult { case, best, median_wall_s, wasm });
    }
    let simpy_requests = args.simpy.unwrap_or(if args.quick { 50_000 } else { 1_000_000 });
    let wants_simpy = selected.iter().any(|c| c.name == "p2c-100");
    let reference = if wants_simpy {
        progress(&format!(
            "SimPy reference, p2c-100 ({simpy_requests} requests, {runs} run{})… ",
            if runs == 1 { "" } else { "s" }
        ));
        // Best of as many runs as lbsim's cases get: the same footing on a noisy machine.
        let script = args.simpy_script.clone().unwrap_or_else(default_simpy_script);
        let mut best: Option<(f64, f64)> = None;
        let mut failure = None;
        for _ in 0..runs {
            let r = match simpy(&script, simpy_requests) {
                Ok(r) => r,
                Err(why) => {
                    failure = Some(why);
                    break;
                }
            };
            crate::interrupt::check()?;
            best = Some(best.map_or(r, |b: (f64, f64)| if r.0 > b.0 { r } else { b }));
        }
        match (&best, failure) {
            (Some(_), _) => crate::out::note("done"),
            (None, why) => crate::out::note(&format!("not available: {}", why.unwrap_or_default())),
        }
        best
    } else {
        None
    };
    match args.format {
        OutputFormat::Json => print_json(&results, reference, runs),
        OutputFormat::Table => print_table(&results, reference, runs, simpy_requests, args.wasm),
    }
}

/// Progress on stderr without a line end (best effort, like `out::note`).
fn progress(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}

/// Appends a line to a text being built.
fn line(text: &mut String, l: String) {
    text.push_str(&l);
    text.push('\n');
}

fn print_json(results: &[CaseResult<'_>], reference: Option<(f64, f64)>, runs: u32) -> anyhow::Result<()> {
    let rows: Vec<serde_json::Value> = results
        .iter()
        .map(|r| {
            let m = &r.best;
            let wasm = r.wasm.as_ref().map(|(w, median)| {
                serde_json::json!({
                    "wall_s": w.wall_s, "median_wall_s": median, "requests_per_s": m.requests as f64 / w.wall_s,
                    "slowdown": w.wall_s / m.wall_s,
                })
            });
            serde_json::json!({
                "case": r.case.name, "what": r.case.what, "requests": m.requests, "events": m.events,
                "runs": runs, "wall_s": m.wall_s, "median_wall_s": r.median_wall_s,
                "requests_per_s": m.requests as f64 / m.wall_s,
                "median_requests_per_s": m.requests as f64 / r.median_wall_s,
                "events_per_s": m.events as f64 / m.wall_s, "peak_rss_mib": m.peak_rss_mib,
                "cpu_s": m.cpu_s, "cpu_requests_per_s": m.cpu_s.filter(|&c| c > 0.0).map(|c| m.requests as f64 / c),
                "mean_latency_ms": m.mean_ms, "trace_hash": m.trace_hash, "wasm_node": wasm,
            })
        })
        .collect();
    let simpy = reference.map(|(rps, rss)| serde_json::json!({"requests_per_s": rps, "peak_rss_mib": rss}));
    crate::out::stdout(&format!("{}\n", serde_json::json!({"cases": rows, "simpy_p2c_100": simpy})))
}

fn print_table(
    results: &[CaseResult<'_>],
    reference: Option<(f64, f64)>,
    runs: u32,
    simpy_requests: u64,
    wasm: bool,
) -> anyhow::Result<()> {
    let mut t = table::new_table();
    let mut header = vec![
        "case",
        "requests",
        "best wall (s)",
        "requests/s",
        "median req/s",
        "events/s",
        "peak RSS (MiB)",
        "vs SimPy",
    ];
    if wasm {
        header.extend(["wasm/Node requests/s", "wasm ÷ native time"]);
    }
    t.set_header(header);
    for r in results {
        let m = &r.best;
        let rps = m.requests as f64 / m.wall_s;
        let vs = match (r.case.name, reference) {
            ("p2c-100" | "bare-p2c-100", Some((simpy_rps, _))) => format!("{:.0}×", rps / simpy_rps),
            _ => String::new(),
        };
        let mut row = vec![
            r.case.name.to_string(),
            m.requests.to_string(),
            format!("{:.2}", m.wall_s),
            format!("{:.2}M", rps / 1e6),
            format!("{:.2}M", m.requests as f64 / r.median_wall_s / 1e6),
            format!("{:.2}M", m.events as f64 / m.wall_s / 1e6),
            m.peak_rss_mib.map_or("n/a".into(), |v| format!("{v:.1}")),
            vs,
        ];
        if wasm {
            row.extend(match &r.wasm {
                Some((w, _)) => {
                    [format!("{:.2}M", m.requests as f64 / w.wall_s / 1e6), format!("{:.2}×", w.wall_s / m.wall_s)]
                }
                None => [String::new(), String::new()],
            });
        }
        t.add_row(row);
    }
    let mut text = format!("{t}\n");
    line(
        &mut text,
        format!(
            "best of {runs} run{} per case (each in a fresh process, one thread)",
            if runs == 1 { "" } else { "s" }
        ),
    );
    if let Some((rps, rss)) = reference {
        line(
            &mut text,
            format!(
                "SimPy reference (p2c, 100 servers, load 0.9, {simpy_requests} requests, best of {runs}): {rps:.0} \
             requests/s, {rss:.1} MiB"
            ),
        );
    }
    let rate =
        |name: &str| results.iter().find(|r| r.case.name == name).map(|r| r.best.requests as f64 / r.best.wall_s);
    if let (Some(lbsim), Some(bare)) = (rate("p2c-100"), rate("bare-p2c-100")) {
        line(&mut text, format!("lbsim runs p2c-100 at {:.0}% of the bare event loop's speed", 100.0 * lbsim / bare));
    }
    for r in results {
        line(&mut text, format!("  {:<14} {}", r.case.name, r.case.what));
    }
    crate::out::stdout(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every algorithm has a 10,000- and a 100,000-server case; `--quick` (what
    /// scripts/test.sh runs) leaves out the scale cases, which `--case` still reaches.
    #[test]
    fn scale_cases_cover_every_algorithm_and_stay_out_of_quick() {
        let all = cases();
        for a in Algorithm::ALL {
            for n in [10_000u32, 100_000] {
                let found = all.iter().any(|c| {
                    let s = (c.build)(1_000);
                    c.drive == Drive::Run
                        && s.balancer.algorithm == a
                        && s.servers.iter().map(|g| g.count).sum::<u32>() == n
                });
                assert!(found, "no {n}-server case for {}", a.name());
            }
        }
        let quick: Vec<&str> = select(None, true).iter().map(|c| c.name).collect();
        assert!(quick.contains(&"p2c-100") && quick.contains(&"rr-10000"), "{quick:?}");
        assert!(
            !quick.iter().any(|n| n.ends_with("-100000") || n.contains("churn") || n.contains("weighted")),
            "{quick:?}"
        );
        let named: Vec<&str> = select(Some("maglev-churn"), true).iter().map(|c| c.name).collect();
        assert_eq!(named, ["maglev-churn-10000"]);
        assert!(select(None, false).len() > quick.len());
    }

    /// The bare loop is a ceiling for the same model, not another model: its mean latency
    /// agrees with lbsim's on the same scenario (both near the p2c mean-field value).
    #[test]
    fn the_bare_loop_simulates_the_same_queueing_model() {
        let scenario = Scenario::reference_queueing(100, 0.9, Algorithm::PowerOfTwo, 400_000);
        let (requests, bare_ms) = bare_loop(&scenario);
        let mut sim = Simulation::new(&scenario, SEED);
        sim.run();
        let lbsim_ms = sim.report().latency_ms.mean;
        assert!((requests as f64 - 400_000.0).abs() < 5_000.0, "{requests} requests");
        // Different draws, the same system: within 4% of each other (the spread of two
        // 400k-request runs at load 0.9).
        assert!((bare_ms / lbsim_ms - 1.0).abs() < 0.04, "bare {bare_ms:.2} ms vs lbsim {lbsim_ms:.2} ms");
    }
}
