//! The command line, driven through the `lbsim` binary on real files as a person uses it:
//! bundled scenarios run and report, and every kind of bad input exits with code 2 and a
//! message that names the place and the problem — never a panic.

use std::path::PathBuf;

use lbsim_tests::*;

const GOOD: &str = r#"
name = "good"
duration = "2s"

[[servers]]
name = "api"
count = 2
service = { dist = "exponential", mean = "5ms" }

[[clients]]
name = "web"
count = 4
rate = 50
protocol = "http2"
"#;

/// Writes a scenario file in a fresh temporary directory.
fn scenario_file(text: &str, ext: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("s.{ext}"));
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// Runs `lbsim run` on `text` and checks the exit code and that stderr contains every piece.
fn check(text: &str, args: &[&str], code: i32, expect: &[&str]) {
    let (_dir, path) = scenario_file(text, "toml");
    let mut all = vec!["run", path.to_str().unwrap()];
    all.extend_from_slice(args);
    let (status, stdout, stderr) = lbsim_text(&all);
    assert_eq!(status, code, "exit code for {args:?}\nstdout: {stdout}\nstderr: {stderr}");
    for piece in expect {
        assert!(stderr.contains(piece), "stderr lacks {piece:?}:\n{stderr}");
    }
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert!(!stderr.contains("RUST_BACKTRACE"), "backtrace: {stderr}");
}

#[test]
fn bundled_scenarios_run_with_tables_and_json() {
    for entry in std::fs::read_dir(root().join("scenarios")).unwrap() {
        let path = entry.unwrap().path();
        if !(path.is_file() && path.extension().is_some_and(|x| x == "toml")) {
            continue; // scenarios/data/: the files scenarios read
        }
        let file = path.to_str().unwrap();
        let (code, table, stderr) = lbsim_text(&["run", file, "--set", "duration=3s", "--set", "warmup=0s"]);
        assert_eq!(code, 0, "{file}: {stderr}");
        assert!(table.contains("server") && table.contains("latency (ms)"), "{file}: {table}");
        let (code, json, stderr) =
            lbsim_text(&["run", file, "--format", "json", "--set", "duration=3s", "--set", "warmup=0s"]);
        assert_eq!(code, 0, "{file}: {stderr}");
        let r: serde_json::Value = serde_json::from_str(&json).unwrap();
        let q = &r["requests"];
        assert_eq!(
            q["sent"].as_u64(),
            Some(q["completed"].as_u64().unwrap() + q["failed"].as_u64().unwrap()),
            "{file}"
        );
        let outcomes: u64 = q["outcomes"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
        assert_eq!(q["sent"].as_u64(), Some(outcomes), "{file}");
        for key in [
            "scenario",
            "seed",
            "algorithm",
            "layer",
            "duration_s",
            "latency_ms",
            "servers",
            "balance",
            "sessions",
            "events_processed",
            "trace_hash",
        ] {
            assert!(r.get(key).is_some(), "{file}: report lacks {key}");
        }
        assert_eq!(r["trace_hash"].as_str().unwrap().len(), 16);
    }
}

#[test]
fn json_scenarios_work_like_toml() {
    let json = r#"{"name": "j", "duration": "2s",
        "servers": [{"name": "api", "count": 2, "service": {"dist": "constant", "value": "1ms"}}],
        "clients": [{"name": "web", "rate": 10}]}"#;
    let (_d, path) = scenario_file(json, "json");
    let (code, out, err) = lbsim_text(&["run", path.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"scenario\":\"j\""));
    let bad = json.replace("\"rate\": 10", "\"rate\": -1");
    let (_d, path) = scenario_file(&bad, "json");
    let (code, _, err) = lbsim_text(&["run", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("clients[0].rate") && err.contains("at least 0") && err.contains(":3:"), "{err}");
}

#[test]
fn bad_input_exits_2_with_a_precise_message() {
    // A typo'd key: names the key, its line and column, and suggests the right one.
    check(
        &GOOD.replace("rate = 50", "rat = 50"),
        &[],
        2,
        &["s.toml:13:1", "clients[0].rat", "unknown key", "did you mean \"rate\""],
    );
    // TOML syntax error.
    check(&GOOD.replace("count = 2", "count = = 2"), &[], 2, &["s.toml:7:", "TOML syntax"]);
    // A negative rate.
    check(
        &GOOD.replace("rate = 50", "rate = -5"),
        &[],
        2,
        &["s.toml:13:8", "clients[0].rate", "must be at least 0, got -5"],
    );
    // An unknown algorithm lists the allowed ones.
    check(
        &format!("{GOOD}\n[balancer]\nalgorithm = \"fastest\"\n"),
        &[],
        2,
        &["balancer.algorithm", "unknown algorithm \"fastest\"", "power_of_two", "maglev"],
    );
    // An absurd count.
    check(&GOOD.replace("count = 4", "count = 999999999999"), &[], 2, &["clients[0].count", "must be at most"]);
    // A bad duration unit says what units exist.
    check(&GOOD.replace("\"2s\"", "\"2 fortnights\""), &[], 2, &["duration", "unknown unit", "ns, us, ms, s, m or h"]);
    check(&GOOD.replace("\"2s\"", "20"), &[], 2, &["duration", "needs a unit"]);
    // A wrong type.
    check(
        &GOOD.replace("count = 2", "count = \"two\""),
        &[],
        2,
        &["servers[0].count", "expected a whole number, found a string"],
    );
    // nan and inf.
    check(&GOOD.replace("rate = 50", "rate = nan"), &[], 2, &["clients[0].rate", "nan"]);
    check(&GOOD.replace("rate = 50", "rate = inf"), &[], 2, &["clients[0].rate", "at most"]);
    // A missing required key.
    check(&GOOD.replace("name = \"good\"\n", ""), &[], 2, &["name", "is required but missing"]);
    // Too much work is refused before it starts, with the way to raise the limit.
    check(&GOOD.replace("\"2s\"", "\"100h\""), &[], 2, &["max_requests", "--max-requests"]);
    // A bad --set.
    check(GOOD, &["--set", "clients[3].rate=5"], 2, &["--set clients[3].rate=5", "index out of range"]);
    check(GOOD, &["--set", "balancer.algorithm=magic"], 2, &["--set balancer.algorithm=magic", "unknown algorithm"]);
    check(GOOD, &["--set", "nonsense"], 2, &["expected KEY=VALUE"]);
    // Bad arguments.
    check(GOOD, &["--format", "xml"], 2, &["xml"]);
    check(GOOD, &["--seed", "-3"], 2, &[]);
}

/// Closed-loop users, think times and load schedules: every bad value exits 2 with its line,
/// key path and what is allowed.
#[test]
fn users_and_schedules_refuse_bad_values() {
    let users = |extra: &str| GOOD.replace("rate = 50", &format!("users = 10{extra}"));
    let sched = |points: &str| GOOD.replace("rate = 50", &format!("schedule = [{points}]"));
    check(&GOOD.replace("rate = 50", "users = 0"), &[], 2, &["s.toml:13:9", "clients[0].users", "at least 1"]);
    check(&GOOD.replace("rate = 50", "users = 5000000"), &[], 2, &["clients[0].users", "at most 1000000"]);
    check(&users("\nrate = 5"), &[], 2, &["s.toml:14:8", "clients[0].rate", "does not apply with users"]);
    check(&users("\narrival = \"constant\""), &[], 2, &["clients[0].arrival", "does not apply with users"]);
    check(&users("\nrate_skew = 1"), &[], 2, &["clients[0].rate_skew", "does not apply with users"]);
    check(
        &GOOD.replace("rate = 50", "rate = 50\nthink_time = { dist = \"constant\", value = \"1s\" }"),
        &[],
        2,
        &["s.toml:14:", "clients[0].think_time", "applies only to a closed loop"],
    );
    check(
        &users("\nthink_time = { dist = \"normal\", mean = \"1s\" }"),
        &[],
        2,
        &["clients[0].think_time.dist", "unknown"],
    );
    check(&users("\nthink_time = \"1s\""), &[], 2, &["clients[0].think_time", "expected a table"]);
    check(
        &sched("{ at = \"10s\", rate = 5 }, { at = \"5s\", rate = 9 }"),
        &[],
        2,
        &["s.toml:13:", "clients[0].schedule[1].at", "must be after the previous point's at (10s)"],
    );
    check(&sched("{ at = \"0s\" }"), &[], 2, &["clients[0].schedule[0]", "needs rate"]);
    check(&sched("{ at = \"0s\", rate = -1 }"), &[], 2, &["clients[0].schedule[0].rate", "at least 0"]);
    check(&sched("{ at = \"0s\", rate = 1, users = 2 }"), &[], 2, &["clients[0].schedule[0].users", "not both"]);
    check(
        &sched("{ at = \"0s\", rate = 1 }, { at = \"1s\", users = 2 }"),
        &[],
        2,
        &["clients[0].schedule", "use one kind"],
    );
    check(&sched(""), &[], 2, &["clients[0].schedule", "needs at least one point"]);
    check(&sched("{ at = 5, rate = 1 }"), &[], 2, &["clients[0].schedule[0].at", "needs a unit"]);
    check(&sched("{ at = \"0s\", rate = 1, speed = 2 }"), &[], 2, &["clients[0].schedule[0].speed", "unknown key"]);
    check(&sched("{ rate = 1 }"), &[], 2, &["clients[0].schedule[0].at", "is required"]);
    let many: Vec<String> = (0..1001).map(|i| format!("{{ at = \"{i}s\", rate = 1 }}")).collect();
    check(&sched(&many.join(", ")), &[], 2, &["clients[0].schedule", "at most 1000"]);
    check(
        &GOOD.replace("rate = 50", "rate = 50\nschedule = [{ at = \"0s\", rate = 5 }]"),
        &[],
        2,
        &["clients[0].rate", "does not apply with schedule"],
    );
    check(
        &users("\nschedule = [{ at = \"0s\", users = 5 }]"),
        &[],
        2,
        &["clients[0].schedule", "does not apply with users"],
    );
    check(
        &format!("{}\n[[events]]\nat = \"1s\"\naction = \"set_rate\"\ntarget = \"web\"\nrate = 5\n", users("")),
        &[],
        2,
        &["events[0].target", "closed loop"],
    );
    // Users beyond the client's slots, and a point past the end, are warned about by check.
    let (code, _, err) = run_on(
        &GOOD
            .replace("rate = 50", "users = 10")
            .replace("protocol = \"http2\"", "protocol = \"http1\"\nconnections = 2"),
        &["check"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("10 users per client share 2 HTTP/1.1 connection(s)"), "{err}");
    let (code, _, err) = run_on(&sched("{ at = \"0s\", users = 5 }, { at = \"9s\", users = 50 }"), &["check"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("clients[0].schedule[1] at 9s is not before duration (2s)"), "{err}");
    // A rate point past the end still sets the slope before the end; the points after it do not.
    let points = "{ at = \"0s\", rate = 5 }, { at = \"9s\", rate = 50 }";
    let (code, _, err) = run_on(&sched(points), &["check"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("schedule"), "{err}");
    let (code, _, err) = run_on(&sched(&format!("{points}, {{ at = \"10s\", rate = 1 }}")), &["check"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("clients[0].schedule[2] and the points after it never take effect"), "{err}");
    // A rate schedule's peak is what queues at the client.
    let text = sched("{ at = \"0s\", rate = 1 }, { at = \"1s\", rate = 500 }").replace("\"http2\"", "\"http1\"");
    let (code, _, err) = run_on(&text, &["check"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("each client sends up to 500 requests/s over 1 HTTP/1.1 connection(s)"), "{err}");
    // A closed loop that never waits would spin: its estimate (users / 1 ns) is refused.
    let (code, _, err) = run_on(
        &GOOD
            .replace("rate = 50", "users = 10")
            .replace("\"exponential\", mean = \"5ms\"", "\"constant\", value = \"0s\""),
        &["check"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("max_requests") && err.contains("users"), "{err}");
    // The good forms run.
    for text in [
        users("\nthink_time = { dist = \"exponential\", mean = \"50ms\" }"),
        sched("{ at = \"0s\", rate = 5 }, { at = \"1s\", rate = 50 }"),
        sched("{ at = \"0s\", users = 5 }, { at = \"1s\", users = 1 }"),
    ] {
        check(&text, &[], 0, &[]);
    }
}

#[test]
fn missing_file_and_unwritable_trace() {
    let (code, _, err) = lbsim_text(&["run", "no/such/file.toml"]);
    assert_eq!(code, 2);
    assert!(err.contains("no/such/file.toml") && err.contains("cannot read"), "{err}");
    let (_d, path) = scenario_file(GOOD, "toml");
    let (code, _, err) = lbsim_text(&["run", path.to_str().unwrap(), "--trace", "/no/such/dir/t.jsonl"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/no/such/dir/t.jsonl"), "{err}");
}

#[test]
fn set_overrides_and_seed() {
    let (_d, path) = scenario_file(GOOD, "toml");
    let p = path.to_str().unwrap();
    let (_, a, _) = lbsim_text(&["run", p, "--format", "json", "--seed", "3"]);
    let (_, b, _) = lbsim_text(&["run", p, "--format", "json", "--seed", "3"]);
    let (_, c, _) = lbsim_text(&["run", p, "--format", "json", "--seed", "4"]);
    assert_eq!(a, b);
    assert_ne!(a, c);
    let (code, out, err) = lbsim_text(&[
        "run",
        p,
        "--format",
        "json",
        "--set",
        "balancer.algorithm=least_connections",
        "--set",
        "servers[0].count=3",
        "--set",
        "duration=3s",
        "--set",
        "servers[0].max_connection_age=5s",
    ]);
    assert_eq!(code, 0, "{err}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["algorithm"], "least_connections");
    assert_eq!(r["servers"].as_array().unwrap().len(), 3);
    assert_eq!(r["duration_s"], 3.0);
}

#[test]
fn trace_has_one_line_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let (_d, path) = scenario_file(GOOD, "toml");
    let trace = dir.path().join("t.jsonl");
    let (code, out, err) =
        lbsim_text(&["run", path.to_str().unwrap(), "--format", "json", "--trace", trace.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    let text = std::fs::read_to_string(&trace).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len() as u64, r["requests"]["sent"].as_u64().unwrap());
    let first = &lines[0];
    for key in ["id", "client", "server", "start_ms", "end_ms", "outcome", "attempt"] {
        assert!(first.get(key).is_some(), "trace line lacks {key}: {first}");
    }
    assert!(first["client"].as_str().unwrap().starts_with("web-"));
    let ends: Vec<f64> = lines.iter().map(|l| l["end_ms"].as_f64().unwrap()).collect();
    assert!(ends.windows(2).all(|w| w[0] <= w[1]), "completion order");
    // No temporary files are left beside the trace.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn check_and_algorithms() {
    let (code, out, _) = lbsim_text(&["check", "scenarios/basic-mm1.toml"]);
    assert_eq!(code, 0);
    assert!(out.contains("ok"));
    let (code, out, _) = lbsim_text(&["algorithms"]);
    assert_eq!(code, 0);
    for a in sim_core::Algorithm::ALL {
        assert!(out.contains(a.name()), "{} missing from:\n{out}", a.name());
    }
    assert!(out.contains("nginx") && out.contains("Envoy") && out.contains("Linkerd"));
    let (code, out, _) = lbsim_text(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("Examples"));
}

/// `--seed` takes the range a scenario's `seed` takes, 0 to 2^63 − 1, and says so when a value
/// is outside it (`--seed -1` is a bad value, not an unknown option); seeds that a compare or
/// sweep would count past the range are refused too.
#[test]
fn seeds_on_the_command_line_match_the_file() {
    let (_dir, path) = scenario_file(GOOD, "toml");
    let s = path.to_str().unwrap();
    for bad in ["-1", "9223372036854775808", "18446744073709551615", "x"] {
        let (code, _, err) = lbsim_text(&["run", s, "--seed", bad]);
        assert_eq!(code, 2, "--seed {bad}: {err}");
        assert!(err.contains("0 to 9223372036854775807"), "--seed {bad}: {err}");
        assert!(!err.contains("unexpected argument"), "{err}");
    }
    let (code, out, err) = lbsim_text(&["run", s, "--seed", "9223372036854775807", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"seed\":9223372036854775807"), "{out}");
    let (code, _, err) =
        lbsim_text(&["compare", s, "--algorithms", "round_robin", "--seed", "9223372036854775807", "--seeds", "2"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("past the largest seed"), "{err}");
}

/// A scenario name with an escape sequence and a newline is printed escaped, never raw, in
/// the check line and the report's and comparison's headings.
#[test]
fn scenario_names_are_escaped_on_the_terminal() {
    let text = GOOD.replace("name = \"good\"", "name = \"evil\\u001b[2J\\nname\"");
    let (_dir, path) = scenario_file(&text, "toml");
    let s = path.to_str().unwrap();
    for args in
        [vec!["check", s], vec!["run", s], vec!["compare", s, "--algorithms", "round_robin,random", "--seeds", "2"]]
    {
        let (code, out, err) = lbsim_text(&args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(!out.contains('\u{1b}') && !err.contains('\u{1b}'), "{args:?} printed an escape sequence: {out}");
        assert!(out.contains("evil\\u{1b}[2J\\nname"), "{args:?}: {out}");
    }
    // JSON keeps the name exactly (escaped by JSON itself).
    let (_, out, _) = lbsim_text(&["run", s, "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["scenario"], "evil\u{1b}[2J\nname");
}

// Messages and warnings (issue 19, item 9): every problem of a file at once, each at its own
// line and column; keys of another choice named as such; huge numbers and long values cut;
// settings that change nothing warned about; crash lines capped like the server table.

/// Runs `lbsim ARGS…` on `text` (a TOML file) and returns exit code, stdout and stderr.
fn run_on(text: &str, args: &[&str]) -> (i32, String, String) {
    let (_dir, path) = scenario_file(text, "toml");
    let mut all = vec![args[0], path.to_str().unwrap()];
    all.extend_from_slice(&args[1..]);
    lbsim_text(&all)
}

#[test]
fn every_problem_is_reported_with_its_own_place() {
    let text = GOOD
        .replace("mean = \"5ms\" }", "mean = \"5ms\", value = \"1ms\" }")
        .replace("count = 4", "count = 18446744073709551616")
        .replace("rate = 50", "rat = 50\ntimeout = \"1 parsec\"")
        + "\n[[events]]\nat = \"1s\"\naction = \"slow\"\ntarget = \"api\"\nfactor = 1e300\nrate = 3\n";
    let (code, _, err) = run_on(&text, &["run"]);
    assert_eq!(code, 2, "{err}");
    let lines: Vec<&str> = err.lines().collect();
    let expected = [
        "/s.toml:8:49: servers[0].service.value: key \"value\" does not apply to dist = \"exponential\" (it takes: mean)",
        "/s.toml:12:9: clients[0].count: 18446744073709551616 is too large; allowed: 0 to 1000000",
        "/s.toml:13:1: clients[0].rat: unknown key \"rat\" (did you mean \"rate\"?)",
        "/s.toml:14:11: clients[0].timeout: unknown unit \"parsec\" in \"1 parsec\"",
        "/s.toml:21:10: events[0].factor: must be at most 10000, got 1e300",
        "/s.toml:22:1: events[0].rate: key \"rate\" does not apply to action = \"slow\" (it takes: target, factor)",
    ];
    assert_eq!(lines.len(), expected.len(), "{err}");
    assert!(err.starts_with("error: "), "{err}");
    for (line, want) in lines.iter().zip(expected) {
        assert!(line.contains(want), "expected a line with\n{want}\ngot\n{line}\nin\n{err}");
    }
    assert!(!err.contains("did you mean \"value\"") && !err.contains("got inf"), "{err}");
    // Thirty unknown keys: the first 20 listed, the rest counted.
    let keys: String = (0..30).map(|i| format!("wrong{i} = 1\n")).collect();
    let (code, _, err) = run_on(&format!("{keys}{GOOD}"), &["run"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.lines().count(), 21, "{err}");
    assert!(err.lines().last().unwrap().ends_with(": … and 10 more problems (only the first 20 are listed)"), "{err}");
}

#[test]
fn long_values_and_huge_numbers_are_cut_in_messages() {
    let long = "y".repeat(100_000);
    let (code, _, err) = run_on(GOOD, &["run", "--set", &format!("balancer.algorithm={long}")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.len() < 600, "{} bytes of message: {}", err.len(), &err[..300]);
    assert!(err.contains("(100019 characters)") && err.contains("(100000 characters)"), "{err}");
    let (code, _, err) = run_on(&GOOD.replace("rate = 50", &format!("rate = 50\n{long} = 1")), &["run"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.len() < 700, "{} bytes of message", err.len());
    let (code, _, err) = run_on(&GOOD.replace("count = 4", "count = 1e300"), &["run"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("clients[0].count: must be at most 1000000, got 1e300") && err.len() < 200, "{err}");
}

#[test]
fn settings_without_effect_are_warned_about() {
    let text = GOOD
        .replace("protocol = \"http2\"", "protocol = \"http1\"\nmax_streams = 10\nclient_algorithm = \"round_robin\"")
        + "\n[balancer]\nalgorithm = \"round_robin\"\nhash_key = \"path\"\nchoices = 3\nmax_conns = 5\nsticky = \"cookie\"\n\
           \n[[events]]\nat = \"1s\"\naction = \"set_layer\"\nlayer = \"l4\"\n";
    let (code, _, err) = run_on(&text, &["check"]);
    assert_eq!(code, 0, "{err}");
    for want in [
        "warning: ",
        "clients[0].max_streams has no effect with protocol = \"http1\"",
        "clients[0].client_algorithm has no effect with balancing = \"proxy\"",
        "balancer.hash_key has no effect: it is read only by consistent_hash, ring_hash, maglev, bounded_load_hash, \
         haproxy_consistent_hash, haproxy_map_hash, and this scenario uses round_robin",
        "balancer.choices has no effect: it is read only by power_of_two, random_draws,",
        // Issue 14: HAProxy `first`'s maxconn.
        "balancer.max_conns has no effect: it is read only by first,",
        "events[0] sets layer l4 at 1s: cookie stickiness has no effect from then on",
    ] {
        assert!(err.contains(want), "stderr lacks {want:?}:\n{err}");
    }
    // A parameter of an algorithm the timeline switches to is not warned about.
    let switched = text.replace("layer = \"l4\"", "layer = \"l7\"")
        + "\n[[events]]\nat = \"1s\"\naction = \"set_algorithm\"\nalgorithm = \"power_of_two\"\n";
    let (code, _, err) = run_on(&switched, &["check"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("balancer.choices") && !err.contains("cookie"), "{err}");
    assert!(err.contains("balancer.hash_key has no effect"), "{err}");
}

#[test]
fn crash_lines_are_capped_with_a_summary() {
    // 1,000 servers crash and recover ten times: 10,000 crashes.
    let mut text = GOOD
        .replace("count = 2", "count = 1000")
        .replace("\"2s\"", "\"20s\"")
        .replace("rate = 50", "rate = 5\ntimeout = \"1s\"")
        + "\n[balancer.health_check]\ninterval = \"500ms\"\nfall = 1\n";
    for k in 0..10 {
        text += &format!(
            "\n[[events]]\nat = \"{}s\"\naction = \"crash\"\ntarget = \"api\"\n\n[[events]]\nat = \"{}s\"\naction = \"recover\"\ntarget = \"api\"\n",
            2 * k,
            2 * k + 1
        );
    }
    let (code, out, err) = run_on(&text, &["run"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().filter(|l| l.starts_with("crash: ")).count(), 20, "{out}");
    let summary = out
        .lines()
        .find(|l| l.starts_with("… 9980 more crashes of 1000 servers from 0.0s to 18.0s: "))
        .unwrap_or_else(|| panic!("no summary line:\n{out}"));
    assert!(summary.contains(" detected after ") && summary.contains("never detected"), "{summary}");
    assert!(out.lines().count() < 120, "{} lines", out.lines().count());
    let (code, json, _) = run_on(&text, &["run", "--format", "json"]);
    assert_eq!(code, 0);
    let r: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(r["crashes"].as_array().unwrap().len(), 10_000, "JSON keeps every crash");
}

// Traffic shapes, the session store's actions and algorithm names (issue 21): every new key
// refuses bad values with exit code 2, the key path and what is allowed.

#[test]
fn traffic_shape_and_store_keys_refuse_bad_values() {
    let burst = |extra: &str| format!("{GOOD}\n[[events]]\nat = \"1s\"\naction = \"burst\"\ntarget = \"web\"\n{extra}");
    check(&burst("count = 0\n"), &[], 2, &["events[0].count", "must be at least 1, got 0"]);
    check(&burst("count = 2000000\n"), &[], 2, &["events[0].count", "must be at most 1000000"]);
    check(&burst(""), &[], 2, &["events[0].count", "is required but missing"]);
    check(
        &burst("count = 5\n").replace("target = \"web\"", "target = \"api\""),
        &[],
        2,
        &["events[0].target", "\"api\" is not a client group; allowed: web"],
    );
    // A burst before its group starts.
    check(
        &burst("count = 5\n").replace("protocol = \"http2\"", "protocol = \"http2\"\nstart = \"1.5s\""),
        &[],
        2,
        &["events[0].at", "before any client of \"web\" starts", "start = 1.5s"],
    );
    check(&GOOD.replace("rate = 50", "rate = 50\nstart = \"-1s\""), &[], 2, &["clients[0].start"]);
    check(&GOOD.replace("rate = 50", "rate = 50\nstart = 3"), &[], 2, &["clients[0].start", "needs a unit"]);
    check(
        &GOOD.replace("rate = 50", "rate = 50\nstart = \"2s\""),
        &[],
        2,
        &["clients[0].start", "is not before duration", "would never send"],
    );
    check(&GOOD.replace("rate = 50", "rate = 50\nramp = \"soon\""), &[], 2, &["clients[0].ramp"]);
    check(&GOOD.replace("rate = 50", "rate = 50\nramp = \"9000h\""), &[], 2, &["clients[0].ramp", "at most"]);
    let store = |extra: &str| {
        format!(
            "{GOOD}\n[session_store]\nlatency = \"1ms\"\n\n[[events]]\nat = \"1s\"\naction = \"store_slow\"\n{extra}"
        )
    };
    check(&store("factor = 0\n"), &[], 2, &["events[0].factor", "must be at least 0.001"]);
    check(&store(""), &[], 2, &["events[0].factor", "is required but missing"]);
    check(&store("factor = 2\ntarget = \"api\"\n"), &[], 2, &["events[0].target", "action = \"store_slow\""]);
    check(
        &store("factor = 2\n").replace("[session_store]\nlatency = \"1ms\"\n", ""),
        &[],
        2,
        &["events[0].action", "there is no [session_store]"],
    );
    // Good values run.
    check(&store("factor = 2\n"), &[], 0, &[]);
    check(&burst("count = 5\n").replace("rate = 50", "rate = 50\nstart = \"0.5s\"\nramp = \"1s\""), &[], 0, &[]);
}

/// nginx, HAProxy and Envoy names for the same algorithms are accepted (Envoy's in upper
/// case), names for different algorithms are not, and `lbsim algorithms` lists the aliases
/// and fits 100 columns when piped.
#[test]
fn algorithm_aliases_and_the_algorithms_table() {
    for (alias, name) in [
        ("least_conn", "least_connections"),
        ("leastconn", "least_connections"),
        ("roundrobin", "haproxy_round_robin"),
        ("static-rr", "static_rr"),
        ("random_two_least_conn", "random_two"),
        ("LEAST_REQUEST", "power_of_two"),
        ("p2c", "power_of_two"),
        ("ROUND_ROBIN", "round_robin"),
        ("RING_HASH", "ring_hash"),
        ("MAGLEV", "maglev"),
        ("RANDOM", "random"),
    ] {
        let (_dir, path) = scenario_file(GOOD, "toml");
        let arg = format!("balancer.algorithm={alias}");
        let (code, out, err) =
            lbsim_text(&["run", path.to_str().unwrap(), "--set", &arg, "--format", "json", "--seed", "3"]);
        assert_eq!(code, 0, "{alias}: {err}");
        let report: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(report["algorithm"], name, "{alias}");
        let (_dir, path) = scenario_file(&format!("{GOOD}\n[balancer]\nalgorithm = \"{alias}\"\n"), "toml");
        let (code, _, err) = lbsim_text(&["check", path.to_str().unwrap()]);
        assert_eq!(code, 0, "{alias} in a file: {err}");
    }
    // HAProxy `source` is not nginx ip_hash; HAProxy `random` is random_draws, not random.
    for other in ["source", "random(2)"] {
        check(GOOD, &["--set", &format!("balancer.algorithm={other}")], 2, &["unknown algorithm"]);
    }
    // `first`'s max_conns is bounded like every count.
    check(GOOD, &["--set", "balancer.max_conns=2000000"], 2, &["balancer.max_conns", "at most 1000000"]);
    let (code, out, _) = lbsim_text(&["algorithms"]);
    assert_eq!(code, 0);
    for piece in ["least_conn", "leastconn", "roundrobin", "least_request", "p2c", "case-insensitive"] {
        assert!(out.contains(piece), "{piece} missing from:\n{out}");
    }
    let widest = out.lines().map(|l| l.chars().count()).max().unwrap();
    assert!(widest <= 100, "{widest} columns:\n{out}");
}

// Failing servers (issue 16): error_rate, error_latency, fail_on_server_error and the
// `errors` action refuse bad values with exit code 2, the line and the key path.
#[test]
fn failing_server_keys_refuse_bad_values() {
    let service = "service = { dist = \"exponential\", mean = \"5ms\" }";
    let group = |extra: &str| GOOD.replacen(service, &format!("{service}\n{extra}"), 1);
    check(&group("error_rate = 1.5"), &[], 2, &[":9:", "servers[0].error_rate", "must be at most 1"]);
    check(&group("error_rate = -0.1"), &[], 2, &["servers[0].error_rate", "must be at least 0"]);
    check(&group("error_rate = \"half\""), &[], 2, &["servers[0].error_rate"]);
    check(&group("error_latency = 3"), &[], 2, &["servers[0].error_latency", "needs a unit"]);
    check(&group("error_latency = \"25h\""), &[], 2, &["servers[0].error_latency", "at most"]);
    check(&format!("{GOOD}\n[balancer]\nfail_on_server_error = 1\n"), &[], 2, &["balancer.fail_on_server_error"]);
    let errors = |extra: &str| format!("{GOOD}\n[[events]]\nat = \"1s\"\naction = \"errors\"\n{extra}");
    check(&errors("target = \"api-1\"\nrate = 2\n"), &[], 2, &["events[0].rate", "must be at most 1"]);
    check(&errors("target = \"api-1\"\n"), &[], 2, &["events[0].rate", "is required but missing"]);
    check(&errors("rate = 0.5\n"), &[], 2, &["events[0].target", "is required but missing"]);
    check(&errors("target = \"web\"\nrate = 0.5\n"), &[], 2, &["events[0].target", "is not a server or server group"]);
    check(&errors("target = \"api-1\"\nrate = 0.5\nlatency = \"soon\"\n"), &[], 2, &["events[0].latency"]);
    check(
        &errors("target = \"api-1\"\nrate = 0.5\nfactor = 2\n"),
        &[],
        2,
        &["events[0].factor", "action = \"errors\""],
    );
    // The good forms.
    check(&group("error_rate = 0.1\nerror_latency = \"1ms\""), &[], 0, &[]);
    check(&errors("target = \"api\"\nrate = 1\nlatency = \"500us\"\n"), &[], 0, &[]);
}

// Outlier detection (issue 16): each key refuses a bad value with exit code 2, its line and
// key path; `max_ejection_time` below `base_ejection_time` and an L4 balancer are refused.
#[test]
fn outlier_detection_keys_refuse_bad_values() {
    let od = |extra: &str| format!("{GOOD}\n[balancer.outlier_detection]\n{extra}\n");
    check(&od("consecutive_5xx = -1"), &[], 2, &["balancer.outlier_detection.consecutive_5xx", "at least 0"]);
    check(
        &od("consecutive_gateway_failure = 1.5"),
        &[],
        2,
        &["balancer.outlier_detection.consecutive_gateway_failure"],
    );
    for key in [
        "enforcing_consecutive_5xx",
        "enforcing_consecutive_gateway_failure",
        "enforcing_success_rate",
        "max_ejection_percent",
    ] {
        check(&od(&format!("{key} = 101")), &[], 2, &[&format!("balancer.outlier_detection.{key}"), "at most 100"]);
    }
    check(&od("interval = 10"), &[], 2, &["balancer.outlier_detection.interval", "needs a unit"]);
    check(&od("interval = \"0s\""), &[], 2, &["balancer.outlier_detection.interval", "at least 1ms"]);
    check(&od("base_ejection_time = \"25h\""), &[], 2, &["balancer.outlier_detection.base_ejection_time", "at most"]);
    check(
        &od("base_ejection_time = \"60s\"\nmax_ejection_time = \"30s\""),
        &[],
        2,
        &["balancer.outlier_detection.max_ejection_time", "must be at least base_ejection_time (1m), got 30s"],
    );
    check(
        &od("success_rate_stdev_factor = \"high\""),
        &[],
        2,
        &["balancer.outlier_detection.success_rate_stdev_factor"],
    );
    check(
        &od("consecutive_errors = 5"),
        &[],
        2,
        &["balancer.outlier_detection", "consecutive_errors", "consecutive_5xx"],
    );
    check(
        &format!("{GOOD}\n[balancer]\nlayer = \"l4\"\noutlier_detection = {{}}\n"),
        &[],
        2,
        &["balancer.outlier_detection", "needs layer = \"l7\""],
    );
    // Circuit breakers: the same rules.
    let cb = |extra: &str| format!("{GOOD}\n[balancer.circuit_breakers]\n{extra}\n");
    check(&cb("max_requests = -1"), &[], 2, &["balancer.circuit_breakers.max_requests", "at least 0"]);
    check(&cb("max_retries = \"3\""), &[], 2, &["balancer.circuit_breakers.max_retries"]);
    check(&cb("max_connections = 0"), &[], 2, &["balancer.circuit_breakers.max_connections", "at least 1"]);
    check(&cb("max_pending_requests = -1"), &[], 2, &["balancer.circuit_breakers.max_pending_requests", "at least 0"]);
    check(&cb("max_pending = 1"), &[], 2, &["balancer.circuit_breakers.max_pending", "unknown key"]);
    check(&cb("max_connections = 10\nmax_pending_requests = 0"), &[], 0, &[]);
    check(
        &format!("{GOOD}\n[balancer]\nlayer = \"l4\"\ncircuit_breakers = {{ max_requests = 5 }}\n"),
        &[],
        2,
        &["balancer.circuit_breakers", "needs layer = \"l7\""],
    );
    check(&cb("max_requests = 10\nmax_retries = 0"), &[], 0, &[]);
    // The good forms: an empty table takes Envoy's defaults.
    check(&od(""), &[], 0, &[]);
    check(
        &od(
            "consecutive_5xx = 3\ninterval = \"1s\"\nbase_ejection_time = \"5s\"\nmax_ejection_percent = 50\nsuccess_rate_stdev_factor = 1000",
        ),
        &[],
        0,
        &[],
    );
}

/// The new service-time distributions: a bad value names the file, line, column and key
/// path and what is allowed (exit 2); an empirical sample file is read from the scenario's
/// directory (whatever the working directory), and a bad line in it names `file:line`.
#[test]
fn service_distributions_and_sample_files() {
    let with = |service: &str| GOOD.replace(r#"{ dist = "exponential", mean = "5ms" }"#, service);
    check(
        &with(r#"{ dist = "pareto", min = "1ms", alpha = 0.8 }"#),
        &[],
        2,
        &["s.toml:8:51: servers[0].service.alpha: must be more than 1 (the mean is infinite otherwise), got 0.8"],
    );
    check(
        &with(r#"{ dist = "mixture", parts = [{ weight = -1, dist = "constant", value = "1ms" }] }"#),
        &[],
        2,
        &["servers[0].service.parts[0].weight: must be more than 0"],
    );
    check(
        &with(r#"{ dist = "mixture", parts = [{ weight = 1, dist = "mixture", parts = [] }] }"#),
        &[],
        2,
        &["servers[0].service.parts[0].dist: a mixture's part cannot be a mixture itself"],
    );
    check(
        &with(r#"{ dist = "empirical", samples = [] }"#),
        &[],
        2,
        &["servers[0].service.samples: needs at least one sample"],
    );
    check(
        &with(r#"{ dist = "empirical", samples = ["1ms"], file = "t.csv" }"#),
        &[],
        2,
        &["servers[0].service.file: give either samples or file, not both"],
    );
    check(&with(r#"{ dist = "empirical" }"#), &[], 2, &["servers[0].service: empirical needs samples"]);
    check(
        &with(r#"{ dist = "gamma", shape = 0, mean = "1ms" }"#),
        &[],
        2,
        &["servers[0].service.shape: must be at least 0.01"],
    );

    // A sample file beside the scenario, run from the workspace root (another directory).
    let text = with(r#"{ dist = "empirical", file = "times.csv" }"#);
    let (dir, path) = scenario_file(&text, "toml");
    let times = dir.path().join("times.csv");
    std::fs::write(&times, "service_ms\n# measured on one host\n2\n\n4ms\n6000us\n").unwrap();
    let file = path.to_str().unwrap();
    let (code, json, stderr) = lbsim_text(&["run", file, "--format", "json", "--set", "warmup=0s"]);
    assert_eq!(code, 0, "{stderr}");
    let r: serde_json::Value = serde_json::from_str(&json).unwrap();
    // Mean service 4 ms at 200 req/s over 2 servers: latency ≥ 2 ms, busy about 40%.
    let util = r["servers"][0]["utilization"].as_f64().unwrap();
    assert!((0.3..0.5).contains(&util), "utilization {util}");
    // The time averages per server: in flight = queue + busy workers (one worker here).
    let (in_flight, queue) =
        (r["servers"][0]["mean_in_flight"].as_f64().unwrap(), r["servers"][0]["mean_queue"].as_f64().unwrap());
    assert!(queue > 0.0 && (in_flight - queue - util).abs() < 1e-9, "{in_flight} {queue} {util}");
    let (code, table, stderr) = lbsim_text(&["run", file]);
    assert_eq!(code, 0, "{stderr}");
    assert!(table.contains("in flight") && table.contains("queue"), "{table}");
    // A bad line, a missing file, and a file given with --set.
    std::fs::write(&times, "service_ms\n2\n4xs\n").unwrap();
    let (code, _, stderr) = lbsim_text(&["run", file]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("s.toml:8:40: servers[0].service.file: times.csv:3: "), "{stderr}");
    assert!(stderr.contains("a sample is a number of milliseconds"), "{stderr}");
    let (code, _, stderr) = lbsim_text(&["run", file, "--set", "servers[0].service.file=\"missing.csv\""]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("servers[0].service.file: cannot read "), "{stderr}");
    assert!(stderr.contains("missing.csv"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

// Slow start (issue 16, Envoy `slow_start_config`): bad values exit 2 with the line and key
// path; a run with it is fine.
#[test]
fn slow_start_keys_refuse_bad_values() {
    let balancer = |extra: &str| format!("{GOOD}\n[balancer]\nslow_start = {{ {extra} }}\n");
    check(&balancer(""), &[], 2, &[":17:", "balancer.slow_start.window", "is required but missing"]);
    check(&balancer("window = 5"), &[], 2, &["balancer.slow_start.window", "needs a unit"]);
    check(&balancer("window = \"0s\""), &[], 2, &["balancer.slow_start.window", "at least"]);
    check(&balancer("window = \"10s\", aggression = 0"), &[], 2, &["balancer.slow_start.aggression", "more than 0"]);
    check(&balancer("window = \"10s\", aggression = -1"), &[], 2, &["balancer.slow_start.aggression"]);
    check(
        &balancer("window = \"10s\", min_weight_percent = 101"),
        &[],
        2,
        &["balancer.slow_start.min_weight_percent", "must be at most 100"],
    );
    check(&balancer("window = \"10s\", speed = 2"), &[], 2, &["balancer.slow_start.speed"]);
    check(&balancer("window = \"10s\", aggression = 2.5, min_weight_percent = 0"), &[], 0, &[]);
    // Read only by the algorithms Envoy (and nginx Plus) ramp: a warning elsewhere.
    let (code, _, stderr) = {
        let (_dir, path) = scenario_file(&balancer("window = \"10s\""), "toml");
        lbsim_text(&["check", path.to_str().unwrap(), "--set", "balancer.algorithm=maglev"])
    };
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("balancer.slow_start has no effect"), "{stderr}");
}

/// Slow start through the binary: a server added at 10 s gets its weight ramped from 10 % to
/// 100 % over a 10 s window, so its share of each second's requests climbs from
/// 0.1 / 4.1 ≈ 2.4 % to 1/5 (without slow start it has 1/5 from the first second).
#[test]
fn a_new_server_ramps_up_over_the_slow_start_window() {
    let text = |slow: &str, algorithm: &str| {
        format!(
            "name = \"ramp\"\nseed = 3\nduration = \"25s\"\n\n[[servers]]\nname = \"api\"\ncount = 4\nworkers = 100\n\
             service = {{ dist = \"constant\", value = \"1ms\" }}\n\n[[clients]]\nname = \"web\"\ncount = 10\nrate = 100\n\
             protocol = \"http2\"\n\n[balancer]\nalgorithm = \"{algorithm}\"\n{slow}\n\n[[events]]\nat = \"10s\"\n\
             action = \"add\"\ntarget = \"api\"\ncount = 1\n"
        )
    };
    let shares = |text: &str| -> Vec<f64> {
        let (_dir, path) = scenario_file(text, "toml");
        let (code, json, stderr) = lbsim_text(&["run", path.to_str().unwrap(), "--series", "--format", "json"]);
        assert_eq!(code, 0, "{stderr}");
        let r: serde_json::Value = serde_json::from_str(&json).unwrap();
        let names = r["series"]["servers"].as_array().unwrap();
        let i = names.iter().position(|n| n == "api-5").unwrap();
        r["series"]["points"].as_array().unwrap()[10..22]
            .iter()
            .map(|p| {
                let served: Vec<f64> = p["served"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
                served[i] / served.iter().sum::<f64>()
            })
            .collect()
    };
    let window = "slow_start = { window = \"10s\" }";
    for algorithm in ["round_robin", "power_of_two", "least_connections"] {
        let ramped = shares(&text(window, algorithm));
        let full = shares(&text("", algorithm));
        // The first second: weight 10 %; the middle (14–15 s): about 45 %; after: all of it.
        assert!(ramped[0] < 0.06, "{algorithm}: {ramped:?}");
        assert!((0.07..0.13).contains(&ramped[4]), "{algorithm}: {ramped:?}");
        assert!(ramped.windows(2).take(9).all(|w| w[1] > w[0] - 0.01), "{algorithm} climbs: {ramped:?}");
        assert!(ramped[11] > 0.17, "{algorithm}: {ramped:?}");
        assert!(full[0] > 0.17, "{algorithm} without slow start: {full:?}");
    }
    // round_robin is exact: 0.1 / 4.1 in the first second.
    let rr = shares(&text(window, "round_robin"));
    assert!((rr[0] - 0.1 / 4.1).abs() < 0.002, "{rr:?}");
}

// Autoscaling (issue 16, Kubernetes HPA): bad values exit 2 with the line and key path.
#[test]
fn autoscale_keys_refuse_bad_values() {
    let service = "service = { dist = \"exponential\", mean = \"5ms\" }";
    let scaled = |extra: &str| GOOD.replacen(service, &format!("{service}\nautoscale = {{ {extra} }}"), 1);
    check(&scaled("max = 4"), &[], 2, &[":9:", "servers[0].autoscale", "needs a target"]);
    check(&scaled("target_utilization = 0.6"), &[], 2, &["servers[0].autoscale.max", "is required but missing"]);
    check(
        &scaled("max = 4, target_utilization = 0"),
        &[],
        2,
        &["servers[0].autoscale.target_utilization", "more than 0"],
    );
    check(&scaled("max = 4, target_utilization = 1.5"), &[], 2, &["target_utilization", "must be at most 1"]);
    check(&scaled("max = 4, target_in_flight = -2"), &[], 2, &["servers[0].autoscale.target_in_flight"]);
    check(
        &scaled("max = 4, target_utilization = 0.5, target_in_flight = 3"),
        &[],
        2,
        &["servers[0].autoscale", "not both"],
    );
    check(&scaled("min = 5, max = 4, target_utilization = 0.5"), &[], 2, &["min (5) is more than max (4)"]);
    check(&scaled("min = 3, max = 4, target_utilization = 0.5"), &[], 2, &["servers[0].count", "min 3 to max 4"]);
    check(
        &scaled("max = 4, target_utilization = 0.5, interval = 15"),
        &[],
        2,
        &["servers[0].autoscale.interval", "needs a unit"],
    );
    check(&scaled("max = 4, target_utilization = 0.5, tolerance = -1"), &[], 2, &["servers[0].autoscale.tolerance"]);
    check(&scaled("max = 4, target_utilization = 0.5, cooldown = \"1m\""), &[], 2, &["servers[0].autoscale.cooldown"]);
    check(
        &scaled("max = 200000, target_utilization = 0.5"),
        &[],
        2,
        &["servers[0].autoscale.max", "must be at most 100000"],
    );
    check(&scaled("max = 90000, target_utilization = 0.5"), &["--set", "limits.max_servers=1000"], 2, &["max_servers"]);
    check(&scaled("max = 4, target_in_flight = 8, provision_delay = \"0s\""), &[], 0, &[]);
}

/// The HPA through the binary on the catalogue's ramp: servers are added one by one as the
/// load rises, and removed only once the 5-minute stabilization window has forgotten the
/// peak; every decision follows the formula from the metric it reports.
#[test]
fn the_autoscaler_follows_a_ramp_up_and_stabilizes_down() {
    let (code, json, stderr) = lbsim_text(&["run", "scenarios/autoscale-ramp.toml", "--format", "json", "--series"]);
    assert_eq!(code, 0, "{stderr}");
    let r: serde_json::Value = serde_json::from_str(&json).unwrap();
    let decisions = r["autoscaler"].as_array().unwrap();
    let field = |d: &serde_json::Value, k: &str| d[k].as_f64().unwrap();
    let ups: Vec<_> = decisions.iter().filter(|d| field(d, "desired") > field(d, "current")).collect();
    let downs: Vec<_> = decisions.iter().filter(|d| field(d, "desired") < field(d, "current")).collect();
    assert_eq!((ups.len(), downs.len()), (6, 6), "{decisions:?}");
    for d in &ups {
        // desired = ceil(ready × utilization / 0.6), outside the tolerance (a server still
        // provisioning counts in `current`, not in `ready`).
        let (ready, metric) = (field(d, "ready"), field(d, "metric"));
        assert!(metric / 0.6 > 1.1, "{d}");
        assert_eq!(field(d, "desired"), (ready * metric / 0.6).ceil(), "{d}");
    }
    // The load peaks until 10 min and falls until 12: the first scale-down comes only after
    // the stabilization window (5 min) no longer holds a recommendation of 8.
    let first_down = field(downs[0], "at_s");
    assert!(first_down > 600.0 + 300.0, "{first_down}");
    assert!(downs.iter().all(|d| field(d, "at_s") > field(ups[5], "at_s")));
    // Every decision is a timeline event of the series.
    let events = r["series"]["events"].as_array().unwrap();
    let scale_events = events.iter().filter(|e| e[1].as_str().unwrap().starts_with("autoscale api ")).count();
    assert_eq!(scale_events, 12, "{events:?}");
    // Removed servers drained: nothing failed.
    assert_eq!(r["requests"]["failed"].as_u64(), Some(0));
}

/// Slow start for a server back from a crash: without active checks its window starts at
/// `recover` (share 0.1 / 3.1 in the first second back, not 1/4); with them, when a check
/// marks it up again (Envoy's `lastHcPassTime`), so it serves nothing until then.
#[test]
fn a_recovered_server_ramps_from_its_recovery_or_its_first_passing_check() {
    let text = |checks: &str| {
        format!(
            "name = \"rec\"\nseed = 3\nduration = \"25s\"\n\n[[servers]]\nname = \"api\"\ncount = 4\nworkers = 100\n\
             service = {{ dist = \"constant\", value = \"1ms\" }}\n\n[[clients]]\nname = \"web\"\ncount = 10\nrate = 100\n\
             protocol = \"http2\"\n\n[balancer]\nalgorithm = \"round_robin\"\nslow_start = {{ window = \"10s\" }}\n{checks}\n\n\
             [[events]]\nat = \"5s\"\naction = \"crash\"\ntarget = \"api-1\"\n\n[[events]]\nat = \"10s\"\naction = \"recover\"\n\
             target = \"api-1\"\n"
        )
    };
    let shares = |text: &str| -> Vec<f64> {
        let (_dir, path) = scenario_file(text, "toml");
        let (code, json, stderr) = lbsim_text(&["run", path.to_str().unwrap(), "--series", "--format", "json"]);
        assert_eq!(code, 0, "{stderr}");
        let r: serde_json::Value = serde_json::from_str(&json).unwrap();
        r["series"]["points"].as_array().unwrap()[10..24]
            .iter()
            .map(|p| {
                let served: Vec<f64> = p["served"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
                served[0] / served.iter().sum::<f64>()
            })
            .collect()
    };
    let unchecked = shares(&text(""));
    assert!((unchecked[0] - 0.1 / 3.1).abs() < 0.003, "{unchecked:?}");
    assert!((0.1..0.16).contains(&unchecked[4]), "{unchecked:?}");
    assert!(unchecked[13] > 0.24, "{unchecked:?}");
    let checked = shares(&text("health_check = { interval = \"1s\", rise = 2, fall = 2 }"));
    assert_eq!(checked[0], 0.0, "down until two checks pass: {checked:?}");
    assert!(checked[1] > 0.0 && checked[1] < 0.05, "{checked:?}");
    assert!(checked.windows(2).take(11).all(|w| w[1] >= w[0]), "{checked:?}");
}

// Client retries (issue 16): gRPC's retry policy and retry throttling (`[clients.retry]`,
// gRFC A6) and `retry_same_work` refuse bad values with exit code 2, the line and the key path.
#[test]
fn client_retry_keys_refuse_bad_values() {
    let with = |extra: &str| format!("{GOOD}{extra}\n");
    let retry = |body: &str| with(&format!("retry = {{ {body} }}"));
    check(
        &retry("max_attempts = 6"),
        &[],
        2,
        &[":15:", "clients[0].retry.max_attempts", "at most 5", "gRPC allows 2 to 5"],
    );
    check(&retry("max_attempts = 1"), &[], 2, &["clients[0].retry.max_attempts", "at least 2"]);
    check(&retry("initial_backoff = \"1s\""), &[], 2, &["clients[0].retry.max_attempts", "is required but missing"]);
    check(
        &retry("max_attempts = 3, initial_backoff = 5"),
        &[],
        2,
        &["clients[0].retry.initial_backoff", "needs a unit"],
    );
    check(
        &retry("max_attempts = 3, initial_backoff = \"2s\", max_backoff = \"1s\""),
        &[],
        2,
        &["clients[0].retry.max_backoff", "must be at least initial_backoff (2s), got 1s"],
    );
    check(
        &retry("max_attempts = 3, initial_backoff = \"2s\""),
        &[],
        2,
        &["clients[0].retry.initial_backoff", "is above max_backoff (default 1s)"],
    );
    check(
        &retry("max_attempts = 3, backoff_multiplier = 0.5"),
        &[],
        2,
        &["clients[0].retry.backoff_multiplier", "at least 1"],
    );
    check(
        &retry("max_attempts = 3, retryable = [\"ok\"]"),
        &[],
        2,
        &["clients[0].retry.retryable[0]", "unknown value \"ok\"", "allowed: timeout, rejected"],
    );
    check(&retry("max_attempts = 3, retryable = [\"timeuot\"]"), &[], 2, &["retryable[0]", "did you mean"]);
    check(&retry("max_attempts = 3, retryable = []"), &[], 2, &["clients[0].retry.retryable", "at least one outcome"]);
    check(
        &retry("max_attempts = 3, retryable = \"timeout\""),
        &[],
        2,
        &["clients[0].retry.retryable", "expected an array"],
    );
    check(&retry("max_attempts = 3, max_tokens = 0"), &[], 2, &["clients[0].retry.max_tokens", "at least 0.001"]);
    check(&retry("max_attempts = 3, max_tokens = 1001"), &[], 2, &["clients[0].retry.max_tokens", "at most 1000"]);
    check(&retry("max_attempts = 3, max_tokens = 10, token_ratio = -1"), &[], 2, &["clients[0].retry.token_ratio"]);
    check(
        &retry("max_attempts = 3, token_ratio = 0.1"),
        &[],
        2,
        &["clients[0].retry.token_ratio", "set max_tokens too"],
    );
    check(&retry("max_attempts = 3, hedge = 1"), &[], 2, &["clients[0].retry.hedge", "unknown key"]);
    check(
        &with("retries = 2\nretry = { max_attempts = 3 }"),
        &[],
        2,
        &["clients[0].retry", "cannot be combined with retries"],
    );
    check(&with("retry_same_work = \"no\""), &[], 2, &["clients[0].retry_same_work", "true or false"]);
    // The good forms.
    check(
        &retry(
            "max_attempts = 5, initial_backoff = \"10ms\", max_backoff = \"80ms\", backoff_multiplier = 1.5, \
             retryable = [\"timeout\", \"server_error\"], max_tokens = 10, token_ratio = 0.1",
        ),
        &[],
        0,
        &[],
    );
    check(&with("retries = 1\nretry_same_work = false"), &[], 0, &[]);
}

/// A scenario whose servers answer every request with an error at once, so a request's
/// latency is the sum of its retries' backoffs.
const ALWAYS_FAILING: &str = r#"
name = "always-failing"
seed = 3
duration = "20s"

[[servers]]
name = "api"
count = 2
workers = 100
error_rate = 1.0
error_latency = "0s"
service = { dist = "constant", value = "1ms" }

[[clients]]
name = "c"
count = 10
rate = 20
"#;

fn run_json(text: &str, args: &[&str]) -> serde_json::Value {
    let (_dir, path) = scenario_file(text, "toml");
    let mut all = vec!["run", path.to_str().unwrap(), "--format", "json"];
    all.extend_from_slice(args);
    let (code, out, err) = lbsim_text(&all);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

/// gRPC's backoff (A6): attempt n + 1 waits uniform[0, min(initial·multiplier^(n−1), max)).
/// With answers that take no time, a request's latency is the sum of its backoffs: with 3
/// attempts, 100 ms and a 150 ms cap, U(0, 100 ms) + U(0, 150 ms): mean 125 ms, under 250 ms.
/// Every try is an attempt: `attempts` = `sent` + `retries` = 3 × `sent`.
#[test]
fn client_retry_backoff_follows_grpc() {
    let text = format!(
        "{ALWAYS_FAILING}retry = {{ max_attempts = 3, initial_backoff = \"100ms\", max_backoff = \"150ms\", retryable = [\"server_error\"] }}\n"
    );
    let r = run_json(&text, &[]);
    let q = &r["requests"];
    let sent = q["sent"].as_u64().unwrap();
    assert!(sent > 3500, "{q}");
    assert_eq!(q["outcomes"]["server_error"].as_u64(), Some(sent), "{q}");
    assert_eq!(q["retries"].as_u64(), Some(2 * sent), "{q}");
    assert_eq!(q["attempts"].as_u64(), Some(3 * sent), "{q}");
    // Each retry counts at the server it reached.
    let at_servers: u64 = r["servers"].as_array().unwrap().iter().map(|s| s["retries"].as_u64().unwrap_or(0)).sum();
    assert_eq!(at_servers, 2 * sent);
    let all = &r["latency_all_ms"];
    let mean = all["mean"].as_f64().unwrap();
    // The mean of ~4000 sums of two uniforms (sd ≈ 52 ms): 125 ± 4 ms is over 4 standard errors.
    assert!((mean - 125.0).abs() < 4.0, "mean {mean}: {all}");
    assert!(all["max"].as_f64().unwrap() < 250.0, "{all}");
    assert!(all["max"].as_f64().unwrap() > 200.0, "{all}");
    // The first retry alone: U(0, 100 ms), mean 50 ms, below 100 ms.
    let r = run_json(&text, &["--set", "clients[0].retry.max_attempts=2"]);
    let all = &r["latency_all_ms"];
    let mean = all["mean"].as_f64().unwrap();
    assert!((mean - 50.0).abs() < 2.5, "mean {mean}: {all}");
    assert!(all["max"].as_f64().unwrap() < 100.0, "{all}");
    // The multiplier: the bound for the second retry is 100 ms × 1.5 = 150 ms (the cap is
    // higher): mean 50 + 75 ms.
    let r = run_json(
        &text,
        &["--set", "clients[0].retry.max_backoff=\"1s\"", "--set", "clients[0].retry.backoff_multiplier=1.5"],
    );
    let mean = r["latency_all_ms"]["mean"].as_f64().unwrap();
    assert!((mean - 125.0).abs() < 4.0, "mean {mean}");
    // Not listed as retryable: no retry at all.
    let r = run_json(&text, &["--set", "clients[0].retry.retryable=[\"timeout\"]"]);
    assert_eq!(r["requests"]["retries"].as_u64(), Some(0));
}

/// gRPC retry throttling (A6): every client starts with `max_tokens` = 10; each failed
/// attempt takes one; a retry needs more than 5 left. Against servers that always fail, each
/// client gets exactly 4 retries (after the failures leaving 9, 8, 7 and 6 tokens), then
/// none: every later failure that wanted a retry counts in `retries_throttled`.
#[test]
fn client_retry_throttling_stops_retries_as_grpc_does() {
    let text = format!(
        "{ALWAYS_FAILING}retry = {{ max_attempts = 5, initial_backoff = \"10ms\", retryable = [\"server_error\"], max_tokens = 10, token_ratio = 0.5 }}\n"
    );
    let q = run_json(&text, &[])["requests"].clone();
    let sent = q["sent"].as_u64().unwrap();
    assert_eq!(q["retries"].as_u64(), Some(40), "{q}");
    assert_eq!(q["attempts"].as_u64(), Some(sent + 40), "{q}");
    // Every attempt but the retries allowed and the requests' 5th attempts (which want no
    // retry) was refused one: at least sent − 10 (each client ran at most one 5-attempt request).
    let throttled = q["retries_throttled"].as_u64().unwrap();
    assert!(throttled >= sent - 10 && throttled <= sent, "{throttled} of {sent}: {q}");
    // Without throttling every request gets its 4 retries.
    let text = text.replace(", max_tokens = 10, token_ratio = 0.5", "");
    let q = run_json(&text, &[])["requests"].clone();
    assert_eq!(q["retries"].as_u64(), Some(4 * q["sent"].as_u64().unwrap()), "{q}");
    assert_eq!(q.get("retries_throttled"), None, "{q}");
}

/// `retry_same_work`: one request in ten is a 1 s call, the rest take 1 ms, and the client
/// gives up after 100 ms and retries twice. Retrying the same call (the default) times out all
/// three times, so ≈ 10% of requests fail; drawing fresh work for each retry fails only when
/// three draws are slow in a row (≈ 0.1%).
#[test]
fn retry_same_work_chooses_whether_a_retry_repeats_the_work() {
    let text = r#"
name = "same-work"
seed = 5
duration = "20s"

[[servers]]
name = "api"
count = 2
workers = 1000
service = { dist = "mixture", parts = [{ weight = 9, dist = "constant", value = "1ms" }, { weight = 1, dist = "constant", value = "1s" }] }

[[clients]]
name = "c"
count = 10
rate = 50
protocol = "http2"
timeout = "100ms"
retries = 2
"#;
    let share = |r: serde_json::Value| {
        let q = &r["requests"];
        q["outcomes"]["timeout"].as_f64().unwrap() / q["sent"].as_f64().unwrap()
    };
    let same = share(run_json(text, &[]));
    assert!((same - 0.1).abs() < 0.015, "{same}");
    let fresh = share(run_json(text, &["--set", "clients[0].retry_same_work=false"]));
    assert!(fresh < 0.004, "{fresh}");
    // The same with gRPC's retry policy.
    let grpc = text.replace("retries = 2", "retry = { max_attempts = 3, retryable = [\"timeout\"] }");
    let same = share(run_json(&grpc, &[]));
    assert!((same - 0.1).abs() < 0.015, "{same}");
    let fresh = share(run_json(&grpc, &["--set", "clients[0].retry_same_work=false"]));
    assert!(fresh < 0.004, "{fresh}");
}

// Balancer retries (issue 16): Envoy's retry policy and retry budget (`[balancer.retry]`)
// refuse bad values with exit code 2, the line and the key path.
#[test]
fn balancer_retry_keys_refuse_bad_values() {
    let retry = |body: &str| format!("{GOOD}\n[balancer]\nretry = {{ {body} }}\n");
    check(&retry("num_retries = 0"), &[], 2, &[":17:", "balancer.retry.num_retries", "at least 1"]);
    check(
        &retry("retry_on = [\"timeout\"]"),
        &[],
        2,
        &["balancer.retry.retry_on", "timeout cannot be retried at the balancer", "allowed: server_error"],
    );
    check(&retry("retry_on = [\"5xx\"]"), &[], 2, &["balancer.retry.retry_on[0]", "unknown value \"5xx\""]);
    check(&retry("base_interval = \"0s\""), &[], 2, &["balancer.retry.base_interval", "at least 1ms"]);
    check(
        &retry("base_interval = \"100ms\", max_interval = \"50ms\""),
        &[],
        2,
        &["balancer.retry.max_interval", "at least base_interval (100ms), got 50ms"],
    );
    check(
        &retry("retry_host_predicate = \"other\""),
        &[],
        2,
        &["balancer.retry.retry_host_predicate", "allowed: previous_hosts"],
    );
    check(&retry("budget_percent = 120"), &[], 2, &["balancer.retry.budget_percent", "at most 100"]);
    check(&retry("min_retry_concurrency = -1"), &[], 2, &["balancer.retry.min_retry_concurrency", "at least 0"]);
    check(&retry("per_try = 1"), &[], 2, &["balancer.retry.per_try", "unknown key"]);
    check(&retry("per_try_timeout = \"0s\""), &[], 2, &["balancer.retry.per_try_timeout", "at least 1ms"]);
    check(&retry("per_try_timeout = 5"), &[], 2, &["balancer.retry.per_try_timeout", "needs a unit"]);
    check(
        &retry("retry_on = [\"timeout\"]"),
        &[],
        2,
        &["balancer.retry.retry_on", "timeout only with per_try_timeout", "allowed: server_error"],
    );
    check(&retry("retry_on = [\"timeout\"], per_try_timeout = \"50ms\""), &[], 0, &[]);
    check(
        &retry("host_selection_retry_max_attempts = -1"),
        &[],
        2,
        &["balancer.retry.host_selection_retry_max_attempts", "at least 0"],
    );
    check(
        &retry("host_selection_retry_max_attempts = 101"),
        &[],
        2,
        &["balancer.retry.host_selection_retry_max_attempts", "at most 100"],
    );
    check(
        &format!("{GOOD}\n[balancer]\nretry_on_error = 1\nretry = {{ num_retries = 1 }}\n"),
        &[],
        2,
        &["balancer.retry", "cannot be combined with retry_on_error"],
    );
    check(
        &format!("{GOOD}\n[balancer]\nlayer = \"l4\"\nretry = {{ num_retries = 1 }}\n"),
        &[],
        2,
        &["balancer.retry", "layer = \"l7\" only"],
    );
    // The good forms.
    check(
        &retry(
            "num_retries = 3, retry_on = [\"server_error\", \"rejected\"], base_interval = \"10ms\", \
             max_interval = \"1s\", retry_host_predicate = \"previous_hosts\", budget_percent = 25, min_retry_concurrency = 2",
        ),
        &[],
        0,
        &[],
    );
}

/// Envoy's retry policy at the balancer: retry n waits uniform[0, min(base · 2^(n−1), max))
/// (`JitteredExponentialBackOffStrategy`): with 2 retries, 100 ms and a 150 ms cap, a request
/// to servers that always fail at once takes U(0, 100) + U(0, 150) ms, mean 125 ms; both
/// retries count in `balancer_retries` and `attempts`. With `previous_hosts` a retry avoids
/// the host that failed: one bad host of four costs no request; without it, round robin may
/// send the retry back to it.
#[test]
fn balancer_retry_backs_off_as_envoy_and_avoids_previous_hosts() {
    let text = r#"
name = "lb-retry"
seed = 3
duration = "20s"

[[servers]]
name = "api"
count = 4
workers = 100
service = { dist = "constant", value = "1ms" }

[[clients]]
name = "c"
count = 10
rate = 20
protocol = "http2"

[balancer]
algorithm = "round_robin"
retry = { num_retries = 2, base_interval = "100ms", max_interval = "150ms" }

[[events]]
at = "0s"
action = "errors"
target = "api"
rate = 1.0
latency = "0s"
"#;
    let r = run_json(text, &[]);
    let q = &r["requests"];
    let sent = q["sent"].as_u64().unwrap();
    assert_eq!(q["outcomes"]["server_error"].as_u64(), Some(sent), "{q}");
    assert_eq!(q["balancer_retries"].as_u64(), Some(2 * sent), "{q}");
    assert_eq!(q["attempts"].as_u64(), Some(3 * sent), "{q}");
    let at_servers: u64 = r["servers"].as_array().unwrap().iter().map(|s| s["retries"].as_u64().unwrap_or(0)).sum();
    assert_eq!(at_servers, 2 * sent);
    let all = &r["latency_all_ms"];
    let mean = all["mean"].as_f64().unwrap();
    assert!((mean - 125.0).abs() < 4.0, "mean {mean}: {all}");
    assert!(all["max"].as_f64().unwrap() < 251.0, "{all}");
    // Envoy's defaults: one retry, 25 ms base: U(0, 25 ms), mean 12.5 ms.
    let r = run_json(&text.replace("num_retries = 2, base_interval = \"100ms\", max_interval = \"150ms\"", ""), &[]);
    assert_eq!(r["requests"]["balancer_retries"].as_u64(), r["requests"]["sent"].as_u64());
    let mean = r["latency_all_ms"]["mean"].as_f64().unwrap();
    assert!((mean - 12.5).abs() < 1.0, "mean {mean}");
    // One failing host of four.
    let one = ["--set", "events[0].target=\"api-1\""];
    let with = run_json(text, &[one[0], one[1], "--set", "balancer.retry.retry_host_predicate=\"previous_hosts\""]);
    assert_eq!(with["requests"]["outcomes"]["server_error"].as_u64(), Some(0), "{}", with["requests"]);
    let without = run_json(text, &one);
    assert!(without["requests"]["outcomes"]["server_error"].as_u64().unwrap() > 0, "{}", without["requests"]);
}

/// Envoy's retry budget: at most max(min_retry_concurrency, budget_percent % × (active +
/// pending)) retries outstanding per replica. Half of 1,000 requests/s fail after 100 ms; a
/// retry waits U(0, 1 s) and then 100 ms of work, so it is outstanding 0.6 s on average.
/// With the budget at its floor of 5 concurrent retries, 5 / 0.6 s ≈ 8.3 retries/s get
/// through (≈ 167 in 20 s); at 20% of ≈ 104 active requests, ≈ 20 / 0.6 s ≈ 34/s (≈ 690).
/// The rest count in `retries_over_budget`.
#[test]
fn balancer_retry_budget_limits_concurrent_retries() {
    let text = r#"
name = "lb-budget"
seed = 3
duration = "20s"

[[servers]]
name = "api"
count = 4
workers = 1000
service = { dist = "constant", value = "100ms" }

[[clients]]
name = "c"
count = 10
rate = 100
protocol = "http2"

[balancer]
algorithm = "round_robin"
retry = { num_retries = 1, base_interval = "1s", max_interval = "1s", budget_percent = 0, min_retry_concurrency = 5 }

[[events]]
at = "0s"
action = "errors"
target = "api"
rate = 0.5
latency = "100ms"
"#;
    let q = run_json(text, &[])["requests"].clone();
    let retries = q["balancer_retries"].as_f64().unwrap();
    assert!((retries - 167.0).abs() < 167.0 * 0.1, "{q}");
    let failed_tries = q["outcomes"]["server_error"].as_u64().unwrap() + q["balancer_retries"].as_u64().unwrap() / 2;
    assert!(q["retries_over_budget"].as_u64().unwrap() > failed_tries / 2, "{q}");
    let q = run_json(text, &["--set", "balancer.retry.budget_percent=20"])["requests"].clone();
    let retries = q["balancer_retries"].as_f64().unwrap();
    assert!((retries - 690.0).abs() < 690.0 * 0.12, "{q}");
    // Without a budget every failed try is retried once.
    let q = run_json(&text.replace(", budget_percent = 0, min_retry_concurrency = 5", ""), &[])["requests"].clone();
    assert_eq!(q.get("retries_over_budget"), None, "{q}");
    let retries = q["balancer_retries"].as_f64().unwrap();
    assert!((retries / q["sent"].as_f64().unwrap() - 0.5).abs() < 0.02, "{q}");
}

/// A retry at the balancer must not go back to a server it already tried: `least_connections`
/// cached its eligible list by the view's version and the number of servers tried, so a
/// request that had tried api-1 and one that had tried api-3 shared the cache, and the second
/// could be sent to api-3 again (a debug-build panic, "picked an ineligible server"). Several
/// servers failing, nginx's `retry_on_error` and Envoy's `previous_hosts` alike.
#[test]
fn balancer_retries_never_pick_a_server_already_tried() {
    let text = r#"
name = "tried"
duration = "3s"

[[servers]]
name = "api"
count = 3
workers = 2
error_rate = 0.2
error_latency = "2ms"
service = { dist = "exponential", mean = "5ms" }

[[clients]]
name = "web"
count = 4
rate = 80
protocol = "http2"

[balancer]
algorithm = "least_connections"
fail_on_server_error = true
retry_on_error = 2
"#;
    for seed in ["1", "2", "3"] {
        let r = run_json(text, &["--seed", seed]);
        assert_eq!(r["picks_ineligible"].as_u64(), Some(0));
        assert!(r["requests"]["balancer_retries"].as_u64().unwrap() > 50, "{}", r["requests"]);
        let envoy = text.replace(
            "retry_on_error = 2",
            "retry = { num_retries = 2, base_interval = \"1ms\", retry_host_predicate = \"previous_hosts\" }",
        );
        let r = run_json(&envoy, &["--seed", seed]);
        assert_eq!(r["picks_ineligible"].as_u64(), Some(0));
    }
}

/// Runs `text` with `--trace` and returns the report and the trace's lines.
fn run_traced(text: &str, args: &[&str]) -> (serde_json::Value, Vec<serde_json::Value>) {
    let (dir, path) = scenario_file(text, "toml");
    let trace = dir.path().join("t.jsonl");
    let mut all = vec!["run", path.to_str().unwrap(), "--format", "json", "--trace", trace.to_str().unwrap()];
    all.extend_from_slice(args);
    let (code, out, err) = lbsim_text(&all);
    assert_eq!(code, 0, "{err}");
    let lines = std::fs::read_to_string(&trace).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (serde_json::from_str(&out).unwrap(), lines)
}

/// Issue 14, "every attempt in the trace": a request that took more than one try has a line
/// per try (`kind = "attempt"`: server, start, end, outcome, attempt, try); the last one ends
/// where and how the request did; tries of one attempt follow each other; a request answered
/// at its first try has none. Retries at the balancer (nginx's `retry_on_error`, Envoy's
/// `[balancer.retry]`), at the client (`retries`, `[clients.retry]`) and hedges alike, and the
/// trace hash is the same with and without the trace.
#[test]
fn trace_has_a_line_per_attempt() {
    let base = r#"
name = "tries"
duration = "3s"
seed = 5

[[servers]]
name = "api"
count = 3
workers = 4
service = { dist = "exponential", mean = "5ms" }

[[clients]]
name = "web"
count = 4
rate = 50
protocol = "http2"
CLIENT

[balancer]
algorithm = "round_robin"
BALANCER

[[events]]
at = "0s"
action = "errors"
target = "api-1"
rate = 1.0
latency = "2ms"
"#;
    let cases = [
        ("", "fail_on_server_error = true\nretry_on_error = 2"),
        ("", "retry = { num_retries = 2, base_interval = \"1ms\" }"),
        ("retries = 2", ""),
        (
            "retry = { max_attempts = 3, initial_backoff = \"1ms\", max_backoff = \"2ms\", retryable = [\"server_error\"] }",
            "",
        ),
        ("hedging = { max_attempts = 2, hedging_delay = \"3ms\", non_fatal = [\"server_error\"] }", ""),
    ];
    for (client, balancer) in cases {
        let text = base.replace("CLIENT", client).replace("BALANCER", balancer);
        let (report, lines) = run_traced(&text, &[]);
        let requests: std::collections::HashMap<u64, &serde_json::Value> =
            lines.iter().filter(|l| l.get("kind").is_none()).map(|l| (l["id"].as_u64().unwrap(), l)).collect();
        let mut tries: std::collections::BTreeMap<u64, Vec<&serde_json::Value>> = Default::default();
        for l in lines.iter().filter(|l| l["kind"] == "attempt") {
            tries.entry(l["id"].as_u64().unwrap()).or_default().push(l);
        }
        assert!(tries.len() > 20, "{client} {balancer}: only {} requests with tries", tries.len());
        let mut failed_tries = 0;
        for (id, ts) in &tries {
            let r = requests[id];
            assert!(ts.len() >= 2, "{client} {balancer}: request {id} has a single try line: {ts:?}");
            let ended: Vec<&&serde_json::Value> = ts.iter().filter(|t| t["outcome"] != "cancelled").collect();
            let last = ended.last().unwrap();
            assert_eq!(
                (&last["outcome"], &last["end_ms"], &last["server"]),
                (&r["outcome"], &r["end_ms"], &r["server"])
            );
            assert_eq!(last["attempt"], r["attempt"], "{r} {ts:?}");
            for t in ts {
                let (start, end) = (t["start_ms"].as_f64().unwrap(), t["end_ms"].as_f64().unwrap());
                assert!(
                    start >= r["start_ms"].as_f64().unwrap() && start <= end && end <= r["end_ms"].as_f64().unwrap()
                );
                failed_tries += u64::from(t["server"] == "api-1");
            }
            // Within an attempt, tries are numbered 1, 2, … and follow each other.
            for w in ts.windows(2).filter(|w| w[0]["attempt"] == w[1]["attempt"]) {
                assert_eq!(w[1]["try"].as_u64(), w[0]["try"].as_u64().map(|n| n + 1), "{ts:?}");
                assert!(w[1]["start_ms"].as_f64() >= w[0]["end_ms"].as_f64(), "{ts:?}");
            }
        }
        // Every try at the failing server is visible (all of them failed), and requests
        // answered at once have no try lines.
        assert!(failed_tries > 0);
        let extra = report["requests"]["attempts"].as_u64().unwrap() - report["requests"]["sent"].as_u64().unwrap();
        let lines_of_retried: u64 = tries.values().map(|t| t.len() as u64 - 1).sum();
        if client.starts_with("hedging") {
            assert!(tries.values().flatten().any(|t| t["outcome"] == "cancelled"), "no cancelled hedge");
        } else {
            // One line per try, one try per attempt counted in the report (the window holds
            // every request here: no warmup).
            assert_eq!(lines_of_retried, extra, "{client} {balancer}");
        }
        let plain = run_json(&text, &[]);
        assert_eq!(plain["trace_hash"], report["trace_hash"], "{client} {balancer}");
    }
}

/// Envoy's `per_try_timeout`: a try that has no answer within it (from the moment it has its
/// upstream connection) is reset and ends as `timeout` at the balancer; with `timeout` in
/// `retry_on` (the default once `per_try_timeout` is set: Envoy's `5xx` retries it) it goes
/// to another server (`previous_hosts`). One server of four is 100× slow (500 ms): every
/// request it gets is retried after 50 ms and answered by a fast one (no failures, latency under 50 ms + the
/// 1 ms backoff + 5 ms of work + hops); without the timeout in `retry_on` those requests end
/// as `timeout` after 50 ms. The slow server still does the work of every try (it is not told).
#[test]
fn per_try_timeout_cuts_and_retries_a_slow_try() {
    let text = r#"
name = "per-try"
duration = "10s"
seed = 3

[[servers]]
name = "api"
count = 4
workers = 1000
service = { dist = "constant", value = "5ms" }

[[clients]]
name = "c"
count = 10
rate = 20
timeout = "2s"
protocol = "http2"

[balancer]
algorithm = "round_robin"
retry = { num_retries = 1, per_try_timeout = "50ms", base_interval = "1ms", max_interval = "1ms", retry_host_predicate = "previous_hosts" }

[[events]]
at = "0s"
action = "slow"
target = "api-1"
factor = 100
"#;
    let r = run_json(text, &[]);
    let q = &r["requests"];
    let sent = q["sent"].as_f64().unwrap();
    assert_eq!(q["outcomes"]["ok"].as_f64(), Some(sent), "{q}");
    let retries = q["balancer_retries"].as_f64().unwrap();
    assert!((retries / sent - 0.25).abs() < 0.03, "{q}");
    let max = r["latency_ms"]["max"].as_f64().unwrap();
    assert!((55.0..58.0).contains(&max), "max {max}");
    // The slow server serves every try it got, answers to nobody.
    let slow = r["servers"].as_array().unwrap().iter().find(|s| s["name"] == "api-1").unwrap();
    // (Less the tries still in its queue when the run ends.)
    assert!((slow["requests"].as_f64().unwrap() / retries - 1.0).abs() < 0.1, "{slow}");
    // Without `timeout` in retry_on the client gets Envoy's 504: `timeout`, at 50 ms.
    let r = run_json(text, &["--set", "balancer.retry.retry_on=[\"server_error\"]"]);
    let q = &r["requests"];
    let timeouts = q["outcomes"]["timeout"].as_f64().unwrap();
    assert!((timeouts / sent - 0.25).abs() < 0.03, "{q}");
    assert_eq!(q.get("balancer_retries"), None, "no retries: {q}");
    let failed = r["latency_all_ms"]["max"].as_f64().unwrap();
    assert!((50.0..52.0).contains(&failed), "{}", r["latency_all_ms"]);
    // And with HTTP/1.1 upstream connections, each reset try closes its connection (Envoy
    // cannot reuse it while the server still answers): the same outcomes, more connections.
    let r11 = run_json(text, &["--set", "clients[0].protocol=\"http1\""]);
    assert_eq!(r11["requests"]["outcomes"]["ok"], r11["requests"]["sent"], "{}", r11["requests"]);
}

/// Envoy's `host_selection_retry_max_attempts` with the `previous_hosts` predicate: the pick
/// is made again while it lands on a host already tried, at most that many times, then the
/// last pick is used. Two servers, one always failing, `random`, one retry: a retry after a
/// failure at the bad host goes back to it with probability 1/2 per pick, so the share of
/// requests that fail is 1/2 × (1/2)^(1+n): 25% with n = 0, 12.5% with Envoy's default 1,
/// 1/64 with 4.
#[test]
fn host_selection_retries_follow_envoy() {
    let text = r#"
name = "reselect"
duration = "20s"
seed = 9

[[servers]]
name = "api"
count = 2
workers = 100
service = { dist = "constant", value = "1ms" }

[[clients]]
name = "c"
count = 10
rate = 40
protocol = "http2"

[balancer]
algorithm = "random"
retry = { num_retries = 1, base_interval = "1ms", retry_host_predicate = "previous_hosts" }

[[events]]
at = "0s"
action = "errors"
target = "api-1"
rate = 1.0
latency = "0s"
"#;
    for (n, expect) in [(None, 0.125), (Some(0), 0.25), (Some(4), 1.0 / 64.0)] {
        let args: Vec<String> = n
            .map(|n| vec!["--set".into(), format!("balancer.retry.host_selection_retry_max_attempts={n}")])
            .unwrap_or_default();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let q = run_json(text, &args)["requests"].clone();
        let share = q["outcomes"]["server_error"].as_f64().unwrap() / q["sent"].as_f64().unwrap();
        assert!((share - expect).abs() < 0.02 + expect * 0.1, "n = {n:?}: {share} vs {expect}: {q}");
    }
    // One server only: every retry is a tried host; the last pick is used all the same.
    let q = run_json(text, &["--set", "servers[0].count=1"])["requests"].clone();
    assert_eq!(q["balancer_retries"], q["sent"], "{q}");
    assert_eq!(q["outcomes"]["server_error"], q["sent"], "{q}");
}

// Hedging (issue 16): gRPC's hedging policy (`[clients.hedging]`) refuses bad values and the
// combinations gRPC or the model does not have, with exit code 2 and the key path.
#[test]
fn hedging_keys_refuse_bad_values() {
    let hedging = |extra: &str, body: &str| format!("{GOOD}{extra}\nhedging = {{ {body} }}\n");
    check(&hedging("", "max_attempts = 6"), &[], 2, &[":16:", "clients[0].hedging.max_attempts", "gRPC allows 2 to 5"]);
    check(
        &hedging("", "hedging_delay = \"10ms\""),
        &[],
        2,
        &["clients[0].hedging.max_attempts", "is required but missing"],
    );
    check(
        &hedging("", "max_attempts = 2, hedging_delay = 10"),
        &[],
        2,
        &["clients[0].hedging.hedging_delay", "needs a unit"],
    );
    check(
        &hedging("", "max_attempts = 2, non_fatal = [\"ok\"]"),
        &[],
        2,
        &["clients[0].hedging.non_fatal[0]", "unknown value \"ok\""],
    );
    check(&hedging("", "max_attempts = 2, delay = \"1s\""), &[], 2, &["clients[0].hedging.delay", "unknown key"]);
    check(
        &hedging("retries = 1", "max_attempts = 2"),
        &[],
        2,
        &["clients[0].hedging", "a retry policy or a hedging policy, not both"],
    );
    check(&hedging("session_requests = 3", "max_attempts = 2"), &[], 2, &["clients[0].hedging", "session_requests"]);
    check(&hedging("stream_messages = 3", "max_attempts = 2"), &[], 2, &["clients[0].hedging", "stream_messages"]);
    // The good form.
    check(
        &hedging("", "max_attempts = 3, hedging_delay = \"5ms\", non_fatal = [\"server_error\", \"timeout\"]"),
        &[],
        0,
        &[],
    );
}

/// gRPC hedging (A6): the first answer wins and the others are cancelled and counted; each
/// request ends with exactly one outcome; a `non_fatal` failure sends the next hedge at once
/// instead of ending the call. One server of four fails every call in 1 ms; calls take 10 ms.
#[test]
fn hedging_first_answer_wins_and_non_fatal_failures_send_the_next() {
    let text = r#"
name = "hedge"
seed = 2
duration = "10s"

[[servers]]
name = "api"
count = 4
workers = 100
service = { dist = "constant", value = "10ms" }

[[clients]]
name = "web"
count = 10
rate = 20
protocol = "http2"
hedging = { max_attempts = 3, hedging_delay = "1s", non_fatal = ["server_error"] }

[balancer]
algorithm = "round_robin"

[[events]]
at = "0s"
action = "errors"
target = "api-1"
rate = 1.0
latency = "1ms"
"#;
    let outcomes = |q: &serde_json::Value| -> u64 {
        q["outcomes"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum()
    };
    // Non-fatal: a failure from api-1 sends the next attempt at once; no call fails, and
    // none waits for the 1 s delay (the error took 1 ms, the next answer 10 ms).
    let r = run_json(text, &[]);
    let q = &r["requests"];
    let sent = q["sent"].as_u64().unwrap();
    assert_eq!(outcomes(q), sent, "one outcome per request: {q}");
    assert_eq!(q["outcomes"]["ok"].as_u64(), Some(sent), "{q}");
    let hedges = q["hedges"].as_u64().unwrap();
    assert!(hedges > sent / 5 && hedges < sent / 2, "about a quarter of calls meet api-1 first: {q}");
    assert_eq!(q["attempts"].as_u64(), Some(sent + hedges), "{q}");
    let servers = r["servers"].as_array().unwrap();
    assert_eq!(servers.iter().map(|s| s["hedges"].as_u64().unwrap_or(0)).sum::<u64>(), hedges);
    assert!(servers.iter().all(|s| s.get("retries").is_none()), "a hedge is not a retry");
    assert_eq!(q.get("hedges_cancelled"), None, "a dropped non-fatal attempt is not a cancelled one: {q}");
    assert!(r["latency_ms"]["max"].as_f64().unwrap() < 13.0, "{}", r["latency_ms"]);
    // Fatal (the default): api-1's error ends the call — a quarter fail, no hedge is sent.
    let r = run_json(text, &["--set", "clients[0].hedging.non_fatal=[\"timeout\"]"]);
    let q = &r["requests"];
    assert_eq!(outcomes(q), sent, "{q}");
    let failed = q["outcomes"]["server_error"].as_u64().unwrap();
    assert!((failed as f64 / sent as f64 - 0.25).abs() < 0.02, "{q}");
    assert_eq!(q.get("hedges"), None, "{q}");
    // All at once (delay 0): 3 attempts per call, the first answer wins, two are cancelled
    // (a fast error from api-1 is non-fatal and only drops its own attempt).
    let r = run_json(text, &["--set", "clients[0].hedging.hedging_delay=\"0s\""]);
    let q = &r["requests"];
    assert_eq!(outcomes(q), sent, "{q}");
    assert_eq!(q["outcomes"]["ok"].as_u64(), Some(sent), "{q}");
    assert_eq!(q["hedges"].as_u64(), Some(2 * sent), "{q}");
    let cancelled = q["hedges_cancelled"].as_u64().unwrap();
    let dropped = 3 * sent - sent - cancelled;
    assert!(dropped > sent / 2 && dropped < sent, "the attempts api-1 failed: {dropped} of {sent} calls: {q}");
}

/// With every retry mechanism on at once (gRPC retries with throttling, hedging with
/// non-fatal failures, Envoy balancer retries with a budget and previous_hosts, crashes,
/// errors, full queues, timeouts, closed-loop users), every request ends with exactly one
/// outcome and the tries add up: attempts = sent + retries + balancer retries + hedges ≥ sent.
#[test]
fn every_request_ends_once_with_every_retry_mechanism_on() {
    for file in [
        "fuzz/corpus/scenario/s16-client-retry.toml",
        "fuzz/corpus/scenario/s16-hedging.toml",
        "fuzz/corpus/scenario/s16-balancer-retry.toml",
    ] {
        for seed in ["1", "2", "3"] {
            let (code, out, err) = lbsim_text(&["run", file, "--seed", seed, "--format", "json"]);
            assert_eq!(code, 0, "{file}: {err}");
            let r: serde_json::Value = serde_json::from_str(&out).unwrap();
            let q = &r["requests"];
            let n = |k: &str| q[k].as_u64().unwrap_or(0);
            let outcomes: u64 = q["outcomes"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
            assert_eq!(outcomes, n("sent"), "{file} seed {seed}: {q}");
            assert_eq!(n("attempts"), n("sent") + n("retries") + n("balancer_retries") + n("hedges"), "{file}: {q}");
            assert!(n("attempts") > n("sent"), "{file}: {q}");
            assert!(n("hedges_cancelled") <= n("hedges"), "{file}: {q}");
        }
    }
}

/// `lbsim lesson`: each step's claims printed with ✓/✗ and the measured figure; exit 1 when
/// one does not hold; the lesson changes nothing in the run itself.
#[test]
fn lesson_follows_the_steps_and_checks_every_claim() {
    let lesson = r#"
[lesson]
title = "Two servers"
intro = "Round robin, then least connections."

[[lesson.steps]]
say = "As written: every request ok."
expect = [
  { metric = "requests.outcomes.ok", over = "requests.sent", op = "==", value = 1 },
  { metric = "servers[api-2].requests", op = ">", value = 0 },
]

[[lesson.steps]]
say = "Switch to least connections."
set = ["balancer.algorithm=least_connections"]
expect = [{ metric = "balance.servers", op = "==", value = 2 }]

[[lesson.steps]]
say = "Only the changes of this step: three servers."
fresh = true
set = ["servers[0].count=3"]
expect = [{ metric = "balance.servers", op = "==", value = 3 }]
"#;
    let text = format!("{GOOD}{lesson}");
    let (_dir, path) = scenario_file(&text, "toml");
    let file = path.to_str().unwrap();
    let (code, out, err) = lbsim_text(&["lesson", file]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Lesson: Two servers"), "{out}");
    assert!(
        out.contains("Step 2. Switch to least connections.\n  with --set balancer.algorithm=least_connections"),
        "{out}"
    );
    assert!(out.contains("✓ servers[api-2].requests > 0  (measured "), "{out}");
    assert!(
        out.contains("Step 3. Only the changes of this step: three servers.\n  with --set servers[0].count=3\n"),
        "{out}"
    );
    assert!(out.contains("4 of 4 claims hold"), "{out}");
    let (code, out, _) = lbsim_text(&["lesson", file, "--format", "json"]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["steps"][2]["sets"], serde_json::json!(["servers[0].count=3"]));
    assert_eq!(json["steps"][0]["claims"][0]["holds"], true);

    // The lesson is never read by the simulation: the same trace hash with or without it.
    let hash = |file: &str| {
        let (code, out, err) = lbsim_text(&["run", file, "--format", "json"]);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["trace_hash"].clone()
    };
    let (_plain_dir, plain) = scenario_file(GOOD, "toml");
    assert_eq!(hash(file), hash(plain.to_str().unwrap()));

    // A claim that does not hold: ✗ with the figure, exit 1.
    let wrong = text.replace(r#"op = "==", value = 3 }"#, r#"op = "==", value = 4 }"#);
    let (_dir2, path) = scenario_file(&wrong, "toml");
    let (code, out, err) = lbsim_text(&["lesson", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("✗ balance.servers = 4  (measured 3)"), "{out}");
    assert!(err.contains("1 of 4 claims of the lesson do not hold"), "{err}");

    // No lesson: bad input.
    let (code, _, err) = lbsim_text(&["lesson", plain.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("has no [lesson] table"), "{err}");
}

/// A bad `[lesson]` is refused like any other bad key: exit 2, the line, the key path, what
/// is wrong and what is allowed — by `run` too, though the run never reads the lesson.
#[test]
fn bad_lessons_exit_2_with_the_key_path() {
    let with = |lesson: &str| format!("{GOOD}\n[lesson]\ntitle = \"t\"\n{lesson}");
    let step = |body: &str| with(&format!("[[lesson.steps]]\nsay = \"s\"\n{body}"));
    check(
        &with("[[lesson.steps]]\nsay = \"s\"\nwhat = 1"),
        &[],
        2,
        &["lesson.steps[0].what", "unknown key \"what\"", "allowed keys here: say, set, fresh, expect"],
    );
    check(
        &step(r#"expect = [{ metric = "balance.jain", op = ">=", value = 0.9 }]"#),
        &[],
        2,
        &["lesson.steps[0].expect[0].metric", "unknown metric \"jain\"", "jain_index"],
    );
    check(
        &step(r#"expect = [{ metric = "servers.requests", op = ">=", value = 1 }]"#),
        &[],
        2,
        &["lesson.steps[0].expect[0].metric", "servers is a list", "servers[api-1]"],
    );
    check(
        &step(r#"expect = [{ metric = "latency_ms.p99", op = "=>", value = 1 }]"#),
        &[],
        2,
        &["lesson.steps[0].expect[0].op", "unknown value \"=>\"", "<, <=, >, >=, ==, ~, null"],
    );
    check(
        &step(r#"expect = [{ metric = "latency_ms.p99", op = "~", value = 1 }]"#),
        &[],
        2,
        &["lesson.steps[0].expect[0].tolerance", "is required but missing"],
    );
    check(&step(r#"set = ["balancer.algorithm"]"#), &[], 2, &["lesson.steps[0].set[0]", "KEY=VALUE"]);
    check(&with(""), &[], 2, &["lesson.steps", "is required but missing"]);
    // A change that names no key of the scenario is refused when the step runs.
    let (_dir, path) = scenario_file(&step(r#"set = ["balancer.algoritm=maglev"]"#), "toml");
    let (code, _, err) = lbsim_text(&["lesson", path.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("lesson step 1") && err.contains("algoritm"), "{err}");
}
