//! Reports as tables for people: aligned, units in the headers, one row per server.

use std::fmt::Write;

use comfy_table::presets::UTF8_BORDERS_ONLY;
use comfy_table::{CellAlignment, ContentArrangement, Table};
use sim_core::metrics::report::{CrashReport, ScaleDecision};
use sim_core::scenario::{Balancing, ClientAlgorithm};
use sim_core::{Outcome, Report, Scenario};

/// A table in the house style.
pub fn new_table() -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_BORDERS_ONLY).set_content_arrangement(ContentArrangement::Dynamic);
    t
}

/// Right-aligns every column but the first.
pub fn align_numbers(t: &mut Table) {
    let n = t.column_count();
    for i in 1..n {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
}

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.1}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn pct(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

/// The balancing that actually happens: the balancer's algorithm and layer for proxied
/// clients, the gRPC policy for clients that balance themselves ("round_robin (l4)" was shown
/// for gRPC clients that never touch the balancer), both when the groups mix.
fn balancing(r: &Report, scenario: &Scenario) -> String {
    let proxy = format!("{} ({})", r.algorithm, r.layer);
    let mut own: Vec<&str> = scenario
        .clients
        .iter()
        .filter(|c| c.balancing == Balancing::Client)
        .map(|c| match c.client_algorithm {
            ClientAlgorithm::PickFirst => "pick_first",
            ClientAlgorithm::RoundRobin => "round_robin",
        })
        .collect();
    own.sort_unstable();
    own.dedup();
    if own.is_empty() {
        return proxy;
    }
    let client = format!("client-side {} (gRPC)", own.join("/"));
    if scenario.clients.iter().all(|c| c.balancing == Balancing::Client) {
        client
    } else {
        format!("{proxy} and {client}")
    }
}

/// The whole report.
pub fn report(r: &Report, scenario: &Scenario) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} — {} over {:.1}s, seed {}, {} events, trace {}",
        crate::out::escape(&r.scenario),
        balancing(r, scenario),
        r.duration_s,
        r.seed,
        r.events_processed,
        r.trace_hash
    );
    let w = &r.window;
    if w.from_s > 0.0 || w.to_s < r.duration_s {
        let _ = writeln!(out, "measured: requests that started from {:.1}s to {:.1}s", w.from_s, w.to_s);
    }
    let q = &r.requests;
    let success = if q.sent > 0 { q.completed as f64 / q.sent as f64 } else { 0.0 };
    let mut t = new_table();
    t.set_header(vec!["requests", "sent", "ok", "failed", "success", "retries"]);
    t.add_row(vec![
        "all".to_string(),
        q.sent.to_string(),
        q.completed.to_string(),
        q.failed.to_string(),
        pct(success),
        q.retries.to_string(),
    ]);
    align_numbers(&mut t);
    let _ = writeln!(out, "{t}");
    let failures: Vec<String> = Outcome::ALL[1..]
        .iter()
        .filter(|o| q.outcomes.get(**o) > 0)
        .map(|o| format!("{} {}", o.name(), q.outcomes.get(*o)))
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(out, "failures: {}", failures.join(", "));
    }
    let l = &r.latency_ms;
    let mut t = new_table();
    t.set_header(vec!["latency (ms)", "mean", "p50", "p90", "p99", "p99.9", "max"]);
    t.add_row(vec!["ok requests".into(), ms(l.mean), ms(l.p50), ms(l.p90), ms(l.p99), ms(l.p999), ms(l.max)]);
    // Failures at the moment they ended: the ok row alone hides them (a timed-out server
    // makes the ok percentiles look better).
    let a = &r.latency_all_ms;
    if q.failed > 0 {
        t.add_row(vec!["every request".into(), ms(a.mean), ms(a.p50), ms(a.p90), ms(a.p99), ms(a.p999), ms(a.max)]);
    }
    align_numbers(&mut t);
    let _ = writeln!(out, "{t}");
    let mut t = new_table();
    let shown: Vec<_> = r.servers.iter().filter(|s| s.state != "not_added").collect();
    let with_failures = shown.iter().any(|s| s.latency_all_ms != s.latency_ms);
    let with_errors = shown.iter().any(|s| s.errors > 0);
    let mut header =
        vec!["server", "requests", "share", "conns", "util", "in flight", "queue", "mean (ms)", "p99 (ms)"];
    if with_errors {
        // A failing server answers fast: its requests must not read as healthy work.
        header.insert(2, "errors");
    }
    if with_failures {
        header.push("p99 all (ms)");
    }
    header.push("state");
    t.set_header(header);
    let total: u64 = r.servers.iter().map(|s| s.requests).sum();
    let limit = 40;
    for s in shown.iter().take(limit) {
        let share = if total > 0 { s.requests as f64 / total as f64 } else { 0.0 };
        let mut state = s.state.clone();
        if s.down_s > 0.0 {
            state = format!("{state}, down {:.1}s", s.down_s);
        }
        if s.ejections > 0 {
            // Outlier detection: how often and how long (averaged over replicas) it was out.
            state = format!("{state}, ejected {}× {:.1}s", s.ejections, s.ejected_s);
        }
        let mut row = vec![
            s.name.clone(),
            s.requests.to_string(),
            pct(share),
            s.connections.to_string(),
            pct(s.utilization),
            format!("{:.2}", s.mean_in_flight),
            format!("{:.2}", s.mean_queue),
            ms(s.latency_ms.mean),
            ms(s.latency_ms.p99),
        ];
        if with_errors {
            row.insert(2, s.errors.to_string());
        }
        if with_failures {
            row.push(ms(s.latency_all_ms.p99));
        }
        row.push(state);
        t.add_row(row);
    }
    align_numbers(&mut t);
    let _ = writeln!(out, "{t}");
    if shown.len() > limit {
        let _ = writeln!(out, "… {} more servers (use --format json for all)", shown.len() - limit);
    }
    let b = &r.balance;
    let _ = writeln!(
        out,
        "balance: max/mean {:.3}, Jain {:.4}, CoV {:.3}, least share {}{} (over {} servers up the whole window)",
        b.max_over_mean,
        b.jain_index,
        b.cov,
        pct(b.min_share),
        if b.idle > 0 { format!(", {} idle", b.idle) } else { String::new() },
        b.servers
    );
    if r.sessions.started > 0 {
        let _ = writeln!(
            out,
            "sessions: {} started, {} completed, {} lost ({:.1} requests each)",
            r.sessions.started, r.sessions.completed, r.sessions.lost, r.sessions.requests_per_session
        );
    }
    if r.clients.len() > 1 || r.clients.iter().any(|c| c.bytes_sent > 0) {
        let mut t = new_table();
        t.set_header(vec![
            "clients",
            "sent",
            "ok",
            "failed",
            "mean (ms)",
            "p99 (ms)",
            "sent (KB)",
            "received (KB)",
            "conns",
        ]);
        for c in &r.clients {
            t.add_row(vec![
                c.name.clone(),
                c.sent.to_string(),
                c.completed.to_string(),
                c.failed.to_string(),
                ms(c.latency_ms_mean),
                ms(c.latency_ms_p99),
                format!("{:.1}", c.bytes_sent as f64 / 1e3),
                format!("{:.1}", c.bytes_received as f64 / 1e3),
                c.connections_opened.to_string(),
            ]);
        }
        align_numbers(&mut t);
        let _ = writeln!(out, "{t}");
    }
    if r.replicas.len() > 1 || r.replicas.iter().any(|x| x.rate_limited > 0 || x.down_s > 0.0) {
        let mut t = new_table();
        t.set_header(vec!["balancer", "routed", "rate limited", "util", "down (s)"]);
        for x in &r.replicas {
            t.add_row(vec![
                x.name.clone(),
                x.routed.to_string(),
                x.rate_limited.to_string(),
                // Utilization is of `balancer.workers`; without a limit there is none to fill.
                if scenario.balancer.workers.is_some() { pct(x.utilization) } else { "n/a (no workers limit)".into() },
                format!("{:.1}", x.down_s),
            ]);
        }
        align_numbers(&mut t);
        let _ = writeln!(out, "{t}");
    }
    crash_lines(&mut out, &r.crashes);
    scale_lines(&mut out, &r.autoscaler);
    out
}

/// The autoscalers' decisions, one per line up to a cap (a flapping autoscaler over a week
/// decides tens of thousands of times), then a count.
fn scale_lines(out: &mut String, decisions: &[ScaleDecision]) {
    for d in decisions.iter().take(MAX_CRASH_LINES) {
        let _ = writeln!(
            out,
            "autoscale: {} {} → {} at {:.1}s (metric {:.2} over {} ready)",
            d.group, d.current, d.desired, d.at_s, d.metric, d.ready
        );
    }
    if let Some(rest) = decisions.get(MAX_CRASH_LINES..).filter(|r| !r.is_empty()) {
        let _ = writeln!(out, "… {} more autoscaler decisions (the JSON report lists them all)", rest.len());
    }
}

/// The most crashes listed one per line; the rest are summarised in one line, as the server
/// table is capped (1,000 servers crashing ten times would otherwise print 10,000 lines).
const MAX_CRASH_LINES: usize = 20;

fn crash_lines(out: &mut String, crashes: &[CrashReport]) {
    for c in crashes.iter().take(MAX_CRASH_LINES) {
        let detected = c.detected_after_s.map_or("never detected".to_string(), |d| format!("detected after {d:.2}s"));
        let _ = writeln!(out, "crash: {} at {:.1}s, {detected}, {} sessions lost", c.server, c.at_s, c.sessions_lost);
    }
    let rest = crashes.get(MAX_CRASH_LINES..).unwrap_or_default();
    if rest.is_empty() {
        return;
    }
    let servers = {
        let mut names: Vec<&str> = rest.iter().map(|c| c.server.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        names.len()
    };
    let first = rest.iter().map(|c| c.at_s).fold(f64::INFINITY, f64::min);
    let last = rest.iter().map(|c| c.at_s).fold(f64::NEG_INFINITY, f64::max);
    let detected: Vec<f64> = rest.iter().filter_map(|c| c.detected_after_s).collect();
    let never = rest.len() - detected.len();
    let detection = if detected.is_empty() {
        "none detected".to_string()
    } else {
        let fastest = detected.iter().copied().fold(f64::INFINITY, f64::min);
        let slowest = detected.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        format!("{} detected after {fastest:.2}s to {slowest:.2}s", detected.len())
    };
    let lost: u64 = rest.iter().map(|c| c.sessions_lost).sum();
    let _ = writeln!(
        out,
        "… {} more crashes of {servers} {} from {first:.1}s to {last:.1}s: {detection}, {never} never detected, \
         {lost} sessions lost (use --format json for all)",
        rest.len(),
        if servers == 1 { "server" } else { "servers" }
    );
}
