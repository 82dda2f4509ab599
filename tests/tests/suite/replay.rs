//! Trace replay (`trace = "requests.csv"`) through the `lbsim` binary: exact FIFO latencies
//! from given service times, keys in `--trace` lines, `check`'s row count, `compare` over a
//! trace, and every kind of bad trace file as exit 2 with `file:line: what is wrong`.

use std::path::{Path, PathBuf};

use lbsim_tests::*;

/// One server with one worker, no network latency; an HTTP/2 client so requests queue at the
/// server, not at the client. The server's own service time (50 ms) must not be used.
const FIFO: &str = r#"
name = "fifo"
duration = "1s"

[[servers]]
name = "api"
count = 1
workers = 1
service = { dist = "constant", value = "50ms" }

[[clients]]
name = "log"
count = 1
protocol = "http2"
trace = "rows.csv"
"#;

/// Writes a scenario and its trace (`rows.csv`, next to it) in a fresh directory.
fn files(scenario: &str, csv: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.toml");
    std::fs::write(&path, scenario).unwrap();
    std::fs::write(dir.path().join("rows.csv"), csv).unwrap();
    (dir, path)
}

fn trace_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// A trace line's time in integer ns (the line has ms as a float: exact for these values).
fn ns(v: &serde_json::Value) -> u64 {
    (v.as_f64().unwrap() * 1e6).round() as u64
}

#[test]
fn replay_reproduces_hand_computed_fifo_latencies() {
    // Rows at 0, 1, 1.5 and 10 ms with work 2, 1, 3 and 1 ms, one worker, FIFO:
    //   a: arrives 0,   starts 0,   ends 2   → latency 2 ms
    //   b: arrives 1,   waits for a, starts 2, ends 3   → latency 2 ms
    //   c: arrives 1.5, waits for b, starts 3, ends 6   → latency 4.5 ms
    //   d: arrives 10,  idle server, starts 10, ends 11 → latency 1 ms
    let csv = "time,service_ms,key\n0,2,a\n0.001,1,b\n# a comment\n\n0.0015,3,c\n0.010,1,d\n";
    let (dir, path) = files(FIFO, csv);
    let trace = dir.path().join("t.jsonl");
    let (code, out, err) =
        lbsim_text(&["run", path.to_str().unwrap(), "--format", "json", "--trace", trace.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["requests"]["sent"], 4);
    let got: Vec<(String, u64, u64)> = trace_lines(&trace)
        .iter()
        .map(|l| (l["key"].as_str().unwrap().to_string(), ns(&l["start_ms"]), ns(&l["end_ms"])))
        .collect();
    let want =
        [("a", 0, 2_000_000), ("b", 1_000_000, 3_000_000), ("c", 1_500_000, 6_000_000), ("d", 10_000_000, 11_000_000)];
    let want: Vec<(String, u64, u64)> = want.iter().map(|(k, s, e)| (k.to_string(), *s, *e)).collect();
    assert_eq!(got, want);
    // The same with RFC 3339 timestamps (relative to the first row) and a slow-down: a
    // `slow` action's factor still scales a row's own work.
    let csv = "time,service_ms\n2024-05-01T08:00:00Z,2\n2024-05-01T10:00:00.001+02:00,1\n";
    let slow = format!("{FIFO}\n[[events]]\nat = \"0s\"\naction = \"slow\"\ntarget = \"api-1\"\nfactor = 2\n");
    let (dir, path) = files(&slow, csv);
    let trace = dir.path().join("t.jsonl");
    let (code, _, err) = lbsim_text(&["run", path.to_str().unwrap(), "--trace", trace.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let ends: Vec<(u64, u64)> = trace_lines(&trace).iter().map(|l| (ns(&l["start_ms"]), ns(&l["end_ms"]))).collect();
    assert_eq!(ends, vec![(0, 4_000_000), (1_000_000, 6_000_000)]);
}

#[test]
fn keys_in_trace_lines_and_source_addresses_pick_clients() {
    // Key-space groups show the key's number; a replayed row its key string; rows from one
    // source address always go to the same client.
    let scenario = r#"
name = "keys"
duration = "1s"
[balancer]
algorithm = "consistent_hash"
hash_key = "header:x-user"
[[servers]]
name = "api"
count = 4
service = { dist = "constant", value = "1ms" }
[[clients]]
name = "log"
count = 8
protocol = "http2"
trace = "rows.csv"
[[clients]]
name = "gen"
rate = 20
keys = { count = 5 }
"#;
    let mut csv = String::from("time,key,source_ip,path\n");
    for i in 0..200 {
        csv.push_str(&format!("{:.3},user-{},10.0.0.{},/api/{i}\n", f64::from(i) * 0.004, i % 7, i % 3));
    }
    let (dir, path) = files(scenario, &csv);
    let trace = dir.path().join("t.jsonl");
    let (code, _, err) = lbsim_text(&["run", path.to_str().unwrap(), "--trace", trace.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let lines = trace_lines(&trace);
    let mut client_of_ip = std::collections::BTreeMap::new();
    let mut server_of_key = std::collections::BTreeMap::new();
    let (mut replayed, mut generated) = (0, 0);
    for l in &lines {
        let client = l["client"].as_str().unwrap();
        if client.starts_with("log-") {
            replayed += 1;
            let key = l["key"].as_str().expect("a replayed row's key is a string");
            let server = l["server"].as_str().unwrap().to_string();
            assert_eq!(server_of_key.entry(key.to_string()).or_insert(server.clone()), &server, "{key}");
            let start = ns(&l["start_ms"]);
            let row = (start / 4_000_000) as u32;
            let ip = row % 3;
            assert_eq!(client_of_ip.entry(ip).or_insert(client.to_string()), client, "address {ip}");
        } else {
            generated += 1;
            let k = l["key"].as_u64().expect("a key-space key is a number");
            assert!((1..=5).contains(&k), "{k}");
        }
    }
    assert_eq!(replayed, 200);
    assert!(generated > 0);
    assert_eq!(server_of_key.len(), 7);
}

#[test]
fn check_counts_rows_and_compare_replays_the_trace_in_every_run() {
    let csv = "time,service_ms\n0.5,1\n0.25,1\n";
    let (_d, path) = files(FIFO, "time,service_ms\n0.25,1\n0.5,2\n0.75,1\n1.5,1\n");
    let (code, out, err) = lbsim_text(&["check", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("replays") && out.contains("4 rows, from 0.25 s to 1.5 s"), "{out}");
    assert!(out.contains("not sent: raise duration"), "{out}");
    let (code, out, err) = lbsim_text(&[
        "compare",
        path.to_str().unwrap(),
        "--variant",
        "rr:balancer.algorithm=round_robin",
        "--variant",
        "lc:balancer.algorithm=least_connections",
        "--seeds",
        "2",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    // Every run of every variant replays the three rows before the end (work 1, 2, 1 ms on an
    // idle server): mean latency 4/3 ms in each.
    let c: serde_json::Value = serde_json::from_str(&out).unwrap();
    for v in c["results"].as_array().unwrap() {
        let m = &v["metrics"]["latency_ms.mean"];
        assert!((m["mean"].as_f64().unwrap() - 4.0 / 3.0).abs() < 1e-9, "{v}");
        assert_eq!(m["ci95_low"], m["ci95_high"], "same rows in every run: {v}");
    }
    // `check` reads the whole file: a bad row anywhere is found.
    let (_d, path) = files(FIFO, csv);
    let (code, _, err) = lbsim_text(&["check", path.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("rows.csv:3:") && err.contains("time order"), "{err}");
}

/// Runs a scenario whose trace is `csv` and checks exit 2, `rows.csv:LINE:` and the pieces
/// in stderr, and that no report was printed.
fn bad(csv: &str, line: u32, pieces: &[&str]) {
    let (_d, path) = files(FIFO, csv);
    let (code, out, err) = lbsim_text(&["run", path.to_str().unwrap()]);
    assert_eq!(code, 2, "{csv:?}\nstdout: {out}\nstderr: {err}");
    assert!(out.is_empty(), "no report after a bad row: {out}");
    assert!(err.contains(&format!("rows.csv:{line}: ")), "{csv:?}: {err}");
    for p in pieces {
        assert!(err.contains(p), "{csv:?}: stderr lacks {p:?}: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_trace_files_exit_2_with_file_and_line() {
    bad("time\n0.2\n0.1\n", 3, &["before the previous row's 0.2 s", "time order"]);
    bad("time,service_ms\n0,1\n0.1,fast\n", 3, &["service_ms \"fast\"", "milliseconds"]);
    bad("time\n0\nsoon\n", 3, &["time \"soon\"", "RFC 3339"]);
    bad("time\n-1\n", 2, &["time \"-1\""]);
    bad("time,key\n0\n", 2, &["1 fields", "column key is missing"]);
    bad("time\n0,extra\n", 2, &["2 fields, more than the header's 1"]);
    bad("time,user\n0,a\n", 1, &["unknown column \"user\"", "time, key, service_ms"]);
    bad("key\na\n", 1, &["no time column"]);
    bad("time,time\n0,0\n", 1, &["appears twice"]);
    bad("", 1, &["the trace is empty"]);
    bad("time,key\n0,\"a,b\"\n", 2, &["quoted fields are not supported"]);
    bad("time,request_bytes\n0,12.5\n", 2, &["request_bytes \"12.5\"", "whole number of bytes"]);
    bad("time\n0\n2024-05-01T08:00:00Z\n", 3, &["mixes forms"]);
    bad(&format!("time,key\n0,{}\n", "k".repeat(70_000)), 2, &["longer than 65536 bytes"]);
    bad("time\n,\n", 2, &["time is empty"]);
    // A bad row deep in the file is found when the run reaches it: still exit 2, no report.
    let mut long = String::from("time\n");
    for i in 0..5000 {
        long.push_str(&format!("{:.4}\n", f64::from(i) * 0.0001));
    }
    long.push_str("0.1\n");
    bad(&long, 5002, &["time order"]);
    // A missing trace is exit 2 before anything runs, naming the scenario's key.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.toml");
    std::fs::write(&path, FIFO).unwrap();
    let (code, out, err) = lbsim_text(&["run", path.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty());
    assert!(err.contains("clients[0].trace") && err.contains("rows.csv") && err.contains("cannot read"), "{err}");
    // Generated-traffic keys next to `trace`: the key path and why.
    let (_d, path) = files(&FIFO.replace("trace = ", "rate = 5\ntrace = "), "time\n0\n");
    let (code, _, err) = lbsim_text(&["run", path.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("clients[0].rate") && err.contains("not allowed with `trace`"), "{err}");
}

#[test]
fn bench_replays_a_generated_trace_with_bounded_memory() {
    // The bench's replay case writes its rows to an anonymous temporary file and replays all
    // of them (the last row falls inside the run).
    let (code, out, err) =
        lbsim_text(&["bench", "--case", "replay-10m", "--requests", "3000", "--runs", "1", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let case = &v["cases"][0];
    assert_eq!(case["case"], "replay-10m", "{v}");
    assert_eq!(case["requests"], 3000, "{v}");
}

#[test]
fn a_rows_path_picks_its_route_and_its_bytes_replace_the_groups() {
    let scenario = r#"
name = "paths"
duration = "1s"
[balancer]
routes = [{ prefix = "/static", pool = "cdn" }]
[[servers]]
name = "api"
count = 1
service = { dist = "constant", value = "1ms" }
[[servers]]
name = "files"
count = 1
pool = "cdn"
service = { dist = "constant", value = "1ms" }
[[clients]]
name = "log"
protocol = "http2"
trace = "rows.csv"
request_bytes = 7
paths = { "/" = 1, "/static" = 1 }
"#;
    let run = |csv: &str| {
        let (_d, path) = files(scenario, csv);
        let (code, out, err) = lbsim_text(&["run", path.to_str().unwrap(), "--format", "json"]);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()
    };
    // `/static/…` matches the longer group path `/static` (pool cdn), `/api/x` only `/`.
    let with = run(
        "time,path,request_bytes,response_bytes\n0,/static/app.js,100,5000\n0.1,/api/x,200,\n0.2,/static/b.css,,\n",
    );
    let served: Vec<(String, u64)> = with["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_string(), s["requests"].as_u64().unwrap()))
        .collect();
    assert_eq!(served, vec![("api-1".to_string(), 1), ("files-1".to_string(), 2)]);
    // The same rows without sizes: the group's (7 and 0 bytes). The difference is the rows'
    // own sizes (protocol headers are the same in both).
    let without = run("time,path\n0,/static/app.js\n0.1,/api/x\n0.2,/static/b.css\n");
    let bytes = |v: &serde_json::Value, k: &str| v["clients"][0][k].as_i64().unwrap();
    assert_eq!(bytes(&with, "bytes_sent") - bytes(&without, "bytes_sent"), (100 - 7) + (200 - 7));
    assert_eq!(bytes(&with, "bytes_received") - bytes(&without, "bytes_received"), 5000);
}

/// Issue 14: replayed paths hashed as HAProxy 2.6 hashes them: `balance uri` with `hash-type
/// consistent` (haproxy_consistent_hash) and with the map-based default (haproxy_map_hash)
/// send /k1 … /k40 over four servers where the real HAProxy 2.6.12 sent them
/// (scripts/conformance.sh --only consistent-hash and --only map-hash).
#[test]
fn haproxy_hashes_of_replayed_paths() {
    let mut csv = String::from("time,path\n");
    for i in 1..=40 {
        csv.push_str(&format!("{:.2},/k{i}\n", f64::from(i) * 0.01));
    }
    for (algorithm, want) in [
        ("haproxy_consistent_hash", "3433223334432243342334441422313244332133"),
        ("haproxy_map_hash", "2341234124123412341341234123423412341231"),
    ] {
        let scenario = format!(
            "name = \"h\"\nduration = \"2s\"\n[balancer]\nalgorithm = \"{algorithm}\"\nhash_key = \"path\"\n\
             hash_key_text = true\n[[servers]]\nname = \"api\"\ncount = 4\n\
             service = {{ dist = \"constant\", value = \"1ms\" }}\n[[clients]]\nname = \"log\"\ncount = 1\n\
             trace = \"rows.csv\"\n"
        );
        let (dir, path) = files(&scenario, &csv);
        let trace = dir.path().join("t.jsonl");
        let (code, _, err) = lbsim_text(&["run", path.to_str().unwrap(), "--trace", trace.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        let got: String =
            trace_lines(&trace).iter().map(|l| l["server"].as_str().unwrap().trim_start_matches("api-")).collect();
        assert_eq!(got, want, "{algorithm}");
    }
}
