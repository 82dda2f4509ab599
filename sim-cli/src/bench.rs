//! `lbsim bench`: simulation speed on fixed scenarios — requests/s, events/s and peak memory,
//! each case in its own child process (so peak memory is the case's own), and the SimPy
//! reference model (`shared/reference/simpy_lb.py`) on the same model when Python has SimPy.

use std::io::Write;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sim_core::{Algorithm, Protocol, Scenario, Simulation, Sticky};

use crate::cli::{BenchArgs, OutputFormat};
use crate::error::user;
use crate::table;

/// One benchmark case: a name, what it measures, and a scenario for about N requests.
struct Case {
    name: &'static str,
    what: &'static str,
    build: fn(u64) -> Scenario,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "p2c-100",
            what: "100 servers, power_of_two, load 0.9",
            build: |n| Scenario::reference_queueing(100, 0.9, Algorithm::PowerOfTwo, n),
        },
        Case {
            name: "rr-100",
            what: "100 servers, round_robin, load 0.9",
            build: |n| Scenario::reference_queueing(100, 0.9, Algorithm::RoundRobin, n),
        },
        Case {
            name: "lc-100",
            what: "100 servers, least_connections, load 0.9",
            build: |n| Scenario::reference_queueing(100, 0.9, Algorithm::LeastConnections, n),
        },
        Case {
            name: "ewma-100",
            what: "100 servers, peak_ewma, load 0.9",
            build: |n| Scenario::reference_queueing(100, 0.9, Algorithm::PeakEwma, n),
        },
        Case {
            name: "p2c-10000",
            what: "10,000 servers, power_of_two, load 0.9",
            build: |n| Scenario::reference_queueing(10_000, 0.9, Algorithm::PowerOfTwo, n),
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
        },
    ]
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
}

/// Peak resident memory of this process (Linux `VmHWM`), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Runs one case in this process and prints its measurement as JSON.
fn child(name: &str, requests: u64) -> anyhow::Result<()> {
    let case = cases().into_iter().find(|c| c.name == name).ok_or_else(|| user(format!("no bench case {name}")))?;
    let scenario = (case.build)(requests);
    let start = Instant::now();
    let mut sim = Simulation::new(&scenario, 1);
    sim.run();
    let wall_s = start.elapsed().as_secs_f64();
    let report = sim.report();
    let m = Measurement {
        case: name.to_string(),
        requests: sim.requests_created(),
        events: report.events_processed,
        wall_s,
        peak_rss_mib: peak_rss_mib(),
        mean_ms: report.latency_ms.mean,
    };
    println!("{}", serde_json::to_string(&m)?);
    Ok(())
}

/// The SimPy reference on the same model (p2c, 100 servers, load 0.9), if Python has SimPy.
fn simpy(script: &str, requests: u64) -> Option<(f64, f64)> {
    if !std::path::Path::new(script).exists() {
        return None;
    }
    let python = std::env::var("LBSIM_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .args([script, "--policy", "p2c", "--servers", "100", "--lam", "0.9", "--requests", &requests.to_string()])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |key: &str| -> Option<f64> {
        text.split_whitespace().find_map(|w| w.strip_prefix(&format!("{key}="))).and_then(|v| v.parse().ok())
    };
    Some((field("requests_per_s")?, field("maxrss_mib")?))
}

pub fn bench(args: BenchArgs) -> anyhow::Result<()> {
    if let Some(name) = &args.child {
        return child(name, args.requests.unwrap_or(1_000_000));
    }
    let requests = args.requests.unwrap_or(if args.quick { 200_000 } else { 10_000_000 });
    let selected: Vec<Case> =
        cases().into_iter().filter(|c| args.case.as_deref().is_none_or(|f| c.name.contains(f))).collect();
    if selected.is_empty() {
        let names: Vec<&str> = cases().iter().map(|c| c.name).collect();
        return Err(user(format!("no bench case matches; cases: {}", names.join(", "))));
    }
    let exe = std::env::current_exe().context("locating lbsim")?;
    let mut results = Vec::new();
    for case in &selected {
        // The 10,000-server case needs no more requests to show its rate.
        let n = if case.name == "p2c-10000" { requests.min(5_000_000) } else { requests };
        eprint!("bench {} ({n} requests)… ", case.name);
        std::io::stderr().flush().ok();
        let out = Command::new(&exe).args(["bench", "--child", case.name, "--requests", &n.to_string()]).output()?;
        if !out.status.success() {
            bail!("bench case {} failed: {}", case.name, String::from_utf8_lossy(&out.stderr));
        }
        let m: Measurement = serde_json::from_slice(&out.stdout).context("reading a bench measurement")?;
        eprintln!("{:.2}s", m.wall_s);
        results.push((case, m));
        crate::interrupt::check()?;
    }
    let simpy_requests = args.simpy.unwrap_or(if args.quick { 50_000 } else { 1_000_000 });
    let wants_simpy = selected.iter().any(|c| c.name == "p2c-100");
    let reference = if wants_simpy {
        eprint!("SimPy reference, p2c-100 ({simpy_requests} requests)… ");
        let r = simpy(&args.simpy_script, simpy_requests);
        eprintln!("{}", if r.is_some() { "done" } else { "not available (needs python3 with simpy)" });
        r
    } else {
        None
    };
    match args.format {
        OutputFormat::Json => {
            let rows: Vec<serde_json::Value> = results
                .iter()
                .map(|(c, m)| {
                    serde_json::json!({
                        "case": c.name, "what": c.what, "requests": m.requests, "events": m.events,
                        "wall_s": m.wall_s, "requests_per_s": m.requests as f64 / m.wall_s,
                        "events_per_s": m.events as f64 / m.wall_s, "peak_rss_mib": m.peak_rss_mib,
                        "mean_latency_ms": m.mean_ms,
                    })
                })
                .collect();
            let simpy = reference.map(|(rps, rss)| serde_json::json!({"requests_per_s": rps, "peak_rss_mib": rss}));
            println!("{}", serde_json::json!({"cases": rows, "simpy_p2c_100": simpy}));
        }
        OutputFormat::Table => {
            let mut t = table::new_table();
            t.set_header(vec!["case", "requests", "wall (s)", "requests/s", "events/s", "peak RSS (MiB)", "vs SimPy"]);
            for (c, m) in &results {
                let rps = m.requests as f64 / m.wall_s;
                let vs = match (c.name, reference) {
                    ("p2c-100", Some((simpy_rps, _))) => format!("{:.0}×", rps / simpy_rps),
                    _ => String::new(),
                };
                t.add_row(vec![
                    c.name.to_string(),
                    m.requests.to_string(),
                    format!("{:.2}", m.wall_s),
                    format!("{:.2}M", rps / 1e6),
                    format!("{:.2}M", m.events as f64 / m.wall_s / 1e6),
                    m.peak_rss_mib.map_or("n/a".into(), |v| format!("{v:.1}")),
                    vs,
                ]);
            }
            println!("{t}");
            if let Some((rps, rss)) = reference {
                println!(
                    "SimPy reference (p2c, 100 servers, load 0.9, {simpy_requests} requests): {rps:.0} requests/s, {rss:.1} MiB"
                );
            }
            for (c, _) in &results {
                println!("  {:<14} {}", c.name, c.what);
            }
        }
    }
    Ok(())
}
