//! `lbsim bench`: simulation speed on fixed scenarios — requests/s, events/s and peak memory,
//! each case in its own child process (so peak memory is the case's own), and the SimPy
//! reference model (`shared/reference/simpy_lb.py`) on the same model when Python has SimPy.

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
}

/// How a case runs its simulation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Drive {
    /// `Simulation::run` to the end (the CLI's path).
    Run,
    /// The browser page's "as fast as possible" path: time series on, events in chunks of
    /// 20,000 (`stepEvents`), a snapshot of every server and replica after each chunk.
    Frames,
}

/// Events per frame in [`Drive::Frames`] (the page's `app.chunk`).
const FRAME_EVENTS: u32 = 20_000;

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "p2c-100",
            what: "100 servers, power_of_two, load 0.9",
            build: |n| Scenario::reference_queueing(100, 0.9, Algorithm::PowerOfTwo, n),
            drive: Drive::Run,
        },
        Case {
            name: "rr-100",
            what: "100 servers, round_robin, load 0.9",
            build: |n| Scenario::reference_queueing(100, 0.9, Algorithm::RoundRobin, n),
            drive: Drive::Run,
        },
        Case {
            name: "lc-100",
            what: "100 servers, least_connections, load 0.9",
            build: |n| Scenario::reference_queueing(100, 0.9, Algorithm::LeastConnections, n),
            drive: Drive::Run,
        },
        Case {
            name: "ewma-100",
            what: "100 servers, peak_ewma, load 0.9",
            build: |n| Scenario::reference_queueing(100, 0.9, Algorithm::PeakEwma, n),
            drive: Drive::Run,
        },
        Case {
            name: "p2c-10000",
            what: "10,000 servers, power_of_two, load 0.9",
            build: |n| Scenario::reference_queueing(10_000, 0.9, Algorithm::PowerOfTwo, n),
            drive: Drive::Run,
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
        },
        Case {
            name: "snapshot-100",
            what: "p2c-100 as the browser runs it: series on, 20,000-event frames, a snapshot per frame",
            build: |n| Scenario::reference_queueing(100, 0.9, Algorithm::PowerOfTwo, n),
            drive: Drive::Frames,
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
    trace_hash: String,
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

/// Runs one case in this process and prints its measurement as JSON.
fn child(name: &str, requests: u64) -> anyhow::Result<()> {
    let case = cases().into_iter().find(|c| c.name == name).ok_or_else(|| user(format!("no bench case {name}")))?;
    let scenario = (case.build)(requests);
    let start = Instant::now();
    let mut sim = Simulation::new(&scenario, SEED);
    match case.drive {
        Drive::Run => sim.run(),
        Drive::Frames => {
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
    }
    let wall_s = start.elapsed().as_secs_f64();
    let report = sim.report();
    let m = Measurement {
        case: name.to_string(),
        requests: sim.requests_created(),
        events: report.events_processed,
        wall_s,
        peak_rss_mib: peak_rss_mib(),
        mean_ms: report.latency_ms.mean,
        trace_hash: report.trace_hash,
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

pub fn bench(args: BenchArgs) -> anyhow::Result<()> {
    if let Some(name) = &args.child {
        return child(name, args.requests.unwrap_or(1_000_000));
    }
    let requests = args.requests.unwrap_or(if args.quick { 200_000 } else { 10_000_000 });
    let runs = args.runs.unwrap_or(if args.quick { 1 } else { 3 });
    let selected: Vec<Case> =
        cases().into_iter().filter(|c| args.case.as_deref().is_none_or(|f| c.name.contains(f))).collect();
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
        // The 10,000-server case needs no more requests to show its rate.
        let n = if case.name == "p2c-10000" { requests.min(5_000_000) } else { requests };
        eprint!("bench {} ({n} requests, {runs} run{})… ", case.name, if runs == 1 { "" } else { "s" });
        std::io::stderr().flush().ok();
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
        eprintln!("best {:.2}s", best.wall_s);
        let wasm = if args.wasm && case.drive == Drive::Run {
            eprint!("  wasm in Node.js… ");
            std::io::stderr().flush().ok();
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
            eprintln!("best {:.2}s, same trace_hash", w.wall_s);
            Some((w, median))
        } else {
            None
        };
        results.push(CaseResult { case, best, median_wall_s, wasm });
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
        OutputFormat::Json => print_json(&results, reference, runs),
        OutputFormat::Table => print_table(&results, reference, runs, simpy_requests, args.wasm),
    }
    Ok(())
}

fn print_json(results: &[CaseResult<'_>], reference: Option<(f64, f64)>, runs: u32) {
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
                "mean_latency_ms": m.mean_ms, "trace_hash": m.trace_hash, "wasm_node": wasm,
            })
        })
        .collect();
    let simpy = reference.map(|(rps, rss)| serde_json::json!({"requests_per_s": rps, "peak_rss_mib": rss}));
    println!("{}", serde_json::json!({"cases": rows, "simpy_p2c_100": simpy}));
}

fn print_table(results: &[CaseResult<'_>], reference: Option<(f64, f64)>, runs: u32, simpy_requests: u64, wasm: bool) {
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
            ("p2c-100", Some((simpy_rps, _))) => format!("{:.0}×", rps / simpy_rps),
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
    println!("{t}");
    println!("best of {runs} run{} per case (each in a fresh process, one thread)", if runs == 1 { "" } else { "s" });
    if let Some((rps, rss)) = reference {
        println!(
            "SimPy reference (p2c, 100 servers, load 0.9, {simpy_requests} requests): {rps:.0} requests/s, {rss:.1} MiB"
        );
    }
    for r in results {
        println!("  {:<14} {}", r.case.name, r.case.what);
    }
}
