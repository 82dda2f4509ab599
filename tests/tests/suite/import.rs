//! `lbsim import`: real balancer configurations (tests/fixtures/import/) become scenarios that
//! `lbsim check` accepts, every directive lbsim does not model gets a warning with file:line,
//! malformed files exit 2 with file:line:column, and docs/directives.md is the importer's table.

use std::path::{Path, PathBuf};

use lbsim_tests::*;
use sim_core::Scenario;
use sim_core::scenario::{Algorithm, HashKey, Layer, Sticky};

fn fixture(name: &str) -> String {
    format!("tests/fixtures/import/{name}")
}

/// Imports, asserts success, and returns (scenario, warnings).
fn import_ok(args: &[&str]) -> (String, String) {
    let (code, out, err) = lbsim_text(args);
    assert_eq!(code, 0, "lbsim {args:?} failed:\n{err}");
    assert!(!err.contains("error:"), "unexpected error output: {err}");
    (out, err)
}

/// The scenario passes `lbsim check` (through the binary, from a file as a user saves it).
fn assert_checks(scenario: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("imported.toml");
    std::fs::write(&path, scenario).unwrap();
    let (code, out, err) = lbsim_text(&["check", path.to_str().unwrap()]);
    assert_eq!(code, 0, "the imported scenario fails `lbsim check`:\n{err}\n--- scenario:\n{scenario}");
    assert!(out.contains(": ok"), "{out}");
    (dir, path)
}

/// Imports a file written in a temporary directory; returns (exit code, stdout, stderr).
fn import_text(files: &[(&str, &str)], args: &[&str]) -> (i32, String, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let main = dir.path().join(files[0].0);
    let mut all = vec!["import", "nginx", main.to_str().unwrap()];
    all.extend_from_slice(args);
    let (code, out, err) = lbsim_text(&all);
    (code, out, err, dir)
}

#[test]
fn nginx_upstream_from_an_include_becomes_a_runnable_scenario() {
    let file = fixture("nginx/nginx.conf");
    let (out, err) = import_ok(&["import", "nginx", &file]);
    // Mapped directives name their source line.
    for line in [
        "# upstreams.conf:4 least_conn",
        "algorithm = \"least_connections\"",
        "# upstreams.conf:5 server 10.0.0.1:8080 weight=3 max_fails=2 fail_timeout=30s",
        "weight = 3",
        "backup = true",
        "# upstreams.conf:8 server 10.0.0.9:8080 down: marked `down`: left out",
        "passive = { max_fails = 2, fail_timeout = \"30s\" }",
        "# nginx.conf:15 proxy_next_upstream_tries 3",
        "retry_on_error = 2",
        "layer = \"l7\"",
        "# upstreams.conf:3 zone api_backend 64k: ignored",
        "rate = 1.0",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    assert!(out.contains("placeholder traffic"), "the client group is marked a placeholder");
    assert_eq!(out.matches("[[servers]]").count(), 4, "four servers: the `down` one is left out");
    // One warning per directive lbsim does not model, with file:line.
    let inc = "tests/fixtures/import/nginx/conf.d/upstreams.conf";
    let main = "tests/fixtures/import/nginx/nginx.conf";
    for w in [
        format!("warning: {inc}:7: `server app3.internal:8080` `max_conns=100`"),
        format!("warning: {inc}:10: `keepalive 32`"),
        format!("warning: {inc}:11: `keepalive_timeout 60s`"),
        format!("warning: {inc}:12: `keepalive_requests 1000`"),
        format!("warning: {main}:26: `proxy_next_upstream timeout`"),
        format!("warning: {main}:26: `proxy_next_upstream http_502`"),
        format!("warning: {main}:27: `proxy_read_timeout 30s`"),
    ] {
        assert!(err.contains(&w), "missing {w:?} in:\n{err}");
    }
    assert_eq!(err.lines().count(), 7, "exactly one warning per unmodeled directive:\n{err}");
    // Each warning's directive also has a comment in the scenario.
    for c in
        ["max_conns=100", "keepalive 32", "keepalive_timeout 60s", "keepalive_requests 1000", "proxy_read_timeout 30s"]
    {
        assert!(
            out.lines().any(|l| l.starts_with('#') && l.contains(c) && l.contains("ignored")),
            "no comment for {c}"
        );
    }
    let (_dir, path) = assert_checks(&out);
    let (code, report, err) = lbsim_text(&["run", path.to_str().unwrap()]);
    assert_eq!(code, 0, "the imported scenario runs: {err}");
    assert!(report.contains("least_connections"), "{report}");
}

#[test]
fn nginx_random_two_is_approximated_and_several_upstreams_need_a_choice() {
    let file = fixture("nginx-random-two.conf");
    let (code, _, err) = lbsim_text(&["import", "nginx", &file]);
    assert_eq!(code, 2);
    assert!(err.contains("several upstream blocks (web, other): choose one with --upstream NAME"), "{err}");
    let (code, _, err) = lbsim_text(&["import", "nginx", &file, "--upstream", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("no `upstream nope` block; the file has: web, other"), "{err}");

    let (out, err) = import_ok(&["import", "nginx", &file, "--upstream", "web", "--rate", "500"]);
    assert!(out.contains("algorithm = \"power_of_two\"\nchoices = 2"), "{out}");
    assert!(out.contains("approximated: nginx picks two DISTINCT servers"), "{out}");
    assert!(out.contains("# nginx-random-two.conf:9 proxy_next_upstream off\nretry_on_error = 0"), "{out}");
    assert!(out.contains("rate = 5.0"), "--rate is the total over 100 clients: {out}");
    assert!(err.contains("nginx-random-two.conf:3: `random two least_conn`: approximated"), "{err}");
    assert!(err.contains("nginx-random-two.conf:6: `sticky cookie srv_id`: not modeled"), "{err}");
    // Per-server max_fails differ: lbsim has one setting, so that is approximated and said.
    assert!(err.contains("nginx-random-two.conf:5: `server 192.168.1.12 weight=2 max_fails=0`: approximated"), "{err}");
    assert_eq!(out.matches("[[servers]]").count(), 3, "two servers on one line are both read");
    assert_checks(&out);
}

#[test]
fn nginx_stream_upstream_is_l4_with_a_consistent_hash_of_the_client_address() {
    let (out, err) = import_ok(&["import", "nginx", &fixture("nginx-stream-hash.conf")]);
    for line in [
        "layer = \"l4\"",
        "# nginx-stream-hash.conf:3 hash $remote_addr consistent",
        "algorithm = \"consistent_hash\"\nhash_key = \"source_ip\"",
        "weight = 5",
        "retry_on_error = 2",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    assert!(err.contains("nginx-stream-hash.conf:11: `proxy_connect_timeout 1s`"), "{err}");
    assert_checks(&out);
}

#[test]
fn nginx_hash_of_a_header_gets_placeholder_keys() {
    let conf = "http {\n  upstream u {\n    hash $http_x_user;   # plain hash\n    server a:80; server b:80;\n  }\n}\n";
    let (code, out, err, _dir) = import_text(&[("n.conf", conf)], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("hash_key = \"header:x_user\""), "{out}");
    assert!(out.contains("keys = { count = 1000, skew = 0 }"), "{out}");
    assert!(err.contains("n.conf:3: `hash $http_x_user`: approximated"), "{err}");
    assert_checks(&out);
}

/// The error of a malformed configuration: exit 2, one line naming file:line:column.
fn malformed(files: &[(&str, &str)], place: &str, what: &str) {
    let (code, out, err, dir) = import_text(files, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty(), "no scenario on bad input: {out}");
    assert!(!err.contains("panicked"), "{err}");
    let place = format!("{}{place}", dir.path().display().to_string() + "/");
    assert!(err.contains(&format!("{place}: ")), "expected {place:?} in: {err}");
    assert!(err.contains(what), "expected {what:?} in: {err}");
}

#[test]
fn nginx_malformed_files_exit_2_with_file_line_column() {
    let (code, _, err) = lbsim_text(&["import", "nginx", &fixture("nginx-malformed.conf")]);
    assert_eq!(code, 2);
    assert!(
        err.contains(
            "nginx-malformed.conf:4:9: `server 10.0.0.1:8080`: a second `server` in one directive: expected `;`"
        ),
        "{err}"
    );
    malformed(
        &[("a.conf", "http {\n  upstream u {\n    server a:80;\n  }\n")],
        "a.conf:4:4",
        "expected `}` to close the `http` block",
    );
    malformed(&[("a.conf", "upstream u { server a:80; }\n}\n")], "a.conf:2:1", "unexpected `}`");
    malformed(&[("a.conf", "upstream u {\n  server \"a:80;\n}\n")], "a.conf:2:10", "unterminated string");
    malformed(
        &[("a.conf", "upstream u { server a:80 }\n")],
        "a.conf:1:26",
        "expected `;` to end the `server` directive",
    );
    malformed(&[("a.conf", "upstream u { server a:80; least_conn")], "a.conf:1:37", "expected `;` or `{`");
    malformed(
        &[("a.conf", "upstream u {\n server a:80 weight=5000;\n}")],
        "a.conf:2:14",
        "weight=N with N from 1 to 1000",
    );
    malformed(&[("a.conf", "upstream u { server a:80 fail_timeout=ten; }")], "a.conf:1:26", "fail_timeout=TIME");
    malformed(&[("a.conf", "upstream u { server a:80 wieght=2; }")], "a.conf:1:26", "unknown parameter `wieght=2`");
    malformed(
        &[("a.conf", "upstream u { ip_hash; server a:80; server b:80 backup; }")],
        "a.conf:1:36",
        "`backup` cannot be used with the `ip_hash`",
    );
    malformed(&[("a.conf", "upstream u { least_conn; ip_hash; server a:80; }")], "a.conf:1:26", "already set");
    malformed(&[("a.conf", "upstream u { server a:80 down; }")], "a.conf:1:1", "no primary server");
    malformed(&[("a.conf", "http { server { listen 80; } }")], "a.conf", "no `upstream` block");
}

#[test]
fn nginx_includes_are_relative_bounded_and_cycle_checked() {
    // A cycle through two files.
    malformed(
        &[("a.conf", "http {\n  include sub/b.conf;\n}\n"), ("sub/b.conf", "include ../a.conf;\n")],
        "sub/b.conf:1:1",
        "an include cycle",
    );
    // Missing file and glob patterns.
    malformed(&[("a.conf", "http { include nope.conf; }")], "a.conf:1:8", "cannot read");
    malformed(&[("a.conf", "http { include conf.d/*.conf; }")], "a.conf:1:8", "glob patterns are not supported");
    // A chain 20 files deep exceeds the limit of 16.
    let mut files: Vec<(String, String)> =
        (0..20).map(|i| (format!("f{i}.conf"), format!("include f{}.conf;\n", i + 1))).collect();
    files.push(("f20.conf".into(), "upstream u { server a:80; }\n".into()));
    let refs: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    malformed(&refs, "f16.conf:1:1", "more than 16 levels deep");
    // 10 deep is fine, and the upstream's comments name the included file.
    let mut files: Vec<(String, String)> =
        (0..10).map(|i| (format!("f{i}.conf"), format!("include f{}.conf;\n", i + 1))).collect();
    files.push(("f10.conf".into(), "upstream u {\n  server a:80;\n}\n".into()));
    let refs: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let (code, out, err, _dir) = import_text(&refs, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("# f10.conf:2 server a:80"), "{out}");
}

#[test]
fn import_rate_must_be_positive() {
    let (code, _, err) = lbsim_text(&["import", "nginx", &fixture("nginx-stream-hash.conf"), "--rate", "0"]);
    assert_eq!(code, 2);
    assert!(err.contains("--rate 0: the placeholder rate is requests per second, more than 0"), "{err}");
}

/// docs/directives.md contains the importer's own directive table verbatim.
/// `LBSIM_BLESS=1` rewrites the page's table from the importer's.
#[test]
fn directives_doc_is_the_importers_table() {
    let path: PathBuf = root().join("docs/directives.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let marker =
        "<!-- generated from sim-cli/src/import/mod.rs (DIRECTIVES); tests/tests/suite/import.rs checks it -->\n";
    let (head, _) = doc.split_once(marker).expect("docs/directives.md has the table marker");
    let expected = format!("{head}{marker}{}", sim_cli::import_directives_markdown());
    if std::env::var_os("LBSIM_BLESS").is_some() {
        std::fs::write(&path, &expected).unwrap();
    }
    assert!(
        doc == expected,
        "docs/directives.md differs from the importer's table; rerun with LBSIM_BLESS=1 and review"
    );
    assert!(Path::new(&path).exists());
}

#[test]
fn haproxy_backend_with_defaults_becomes_a_runnable_scenario() {
    let file = fixture("haproxy.cfg");
    let (code, _, err) = lbsim_text(&["import", "haproxy", &file]);
    assert_eq!(code, 2);
    assert!(err.contains("several backends (app, static): choose one with --backend NAME"), "{err}");
    let (code, _, err) = lbsim_text(&["import", "haproxy", &file, "--upstream", "app"]);
    assert_eq!(code, 2);
    assert!(err.contains("--upstream is for nginx; haproxy takes --backend NAME"), "{err}");

    let (out, err) = import_ok(&["import", "haproxy", &file, "--backend", "app"]);
    for line in [
        "# haproxy.cfg:7 mode http\nlayer = \"l7\"",
        "# haproxy.cfg:22 balance leastconn\nalgorithm = \"least_connections\"",
        "health_check = { interval = \"3s\", rise = 2, fall = 3, timeout = \"1s\" }",
        "# haproxy.cfg:23 option httpchk GET /health",
        "# haproxy.cfg:11 option redispatch: the last retry goes to another server",
        "retry_on_error = 1",
        "# haproxy.cfg:25 cookie SRV insert indirect nocache\nsticky = \"cookie\"",
        "# haproxy.cfg:29 server old 10.0.0.4:8080 disabled: `disabled`: left out",
        "name = \"app3\"\ncount = 1\nweight = 5",
        "backup = true",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    assert_eq!(out.matches("[[servers]]").count(), 4);
    for w in [
        "haproxy.cfg:12: `timeout connect 5s`",
        "haproxy.cfg:14: `timeout server 30s`",
        "haproxy.cfg:27: `server app2` `maxconn 200`",
        "haproxy.cfg:31: `http-request set-header X-Forwarded-Proto https`: not modeled",
        "haproxy.cfg:11: `option redispatch`: approximated",
    ] {
        assert!(err.contains(w), "missing warning {w:?} in:\n{err}");
    }
    assert_eq!(err.lines().count(), 5, "one warning per directive:\n{err}");
    assert!(!out.contains("static"), "only the chosen backend is read");
    assert_checks(&out);
}

#[test]
fn haproxy_tcp_source_hash_with_balance_factor_is_bounded_load() {
    let (out, err) = import_ok(&["import", "haproxy", &fixture("haproxy-tcp-source.cfg")]);
    for line in [
        "layer = \"l4\"",
        "algorithm = \"bounded_load_hash\"\nhash_key = \"source_ip\"\nbalance_factor = 1.5",
        "health_check = { interval = \"1s\", rise = 2, fall = 2 }",
        "retry_on_error = 0",
        "# haproxy-tcp-source.cfg:2 bind :3306: not about balancing",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    assert!(err.contains("haproxy-tcp-source.cfg:4: `balance source`: approximated"), "{err}");
    assert!(err.contains("only some servers have `check`"), "{err}");
    assert_checks(&out);
}

#[test]
fn haproxy_random_draws_and_default_tcp_mode() {
    let (out, err) = import_ok(&["import", "haproxy", &fixture("haproxy-random.cfg")]);
    assert!(out.contains("# no `mode`: HAProxy's default, tcp\nlayer = \"l4\""), "{out}");
    assert!(out.contains("algorithm = \"power_of_two\"\nchoices = 3"), "{out}");
    assert!(out.contains("weight 0 takes no balanced traffic: left out"), "{out}");
    assert!(err.contains("haproxy-random.cfg:2: `balance random(3)`: approximated"), "{err}");
    // Settings that have no effect with this configuration are said, not dropped.
    let conf = "defaults\n  hash-type consistent\n  timeout check 2s\nbackend b\n  balance roundrobin\n  option httpchk\n  server a 10.0.0.1:80\n";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.cfg");
    std::fs::write(&path, conf).unwrap();
    let (code, out, err) = lbsim_text(&["import", "haproxy", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    for w in ["h.cfg:2: `hash-type consistent`", "h.cfg:3: `timeout check 2s`", "h.cfg:6: `option httpchk`"] {
        assert!(err.contains(w), "missing warning {w:?} in:\n{err}");
    }
    assert!(!out.contains("health_check"), "{out}");
    assert_checks(&out);
    assert_checks(&out);
}

/// A malformed haproxy.cfg: exit 2 with file:line:column.
fn haproxy_malformed(text: &str, place: &str, what: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.cfg");
    std::fs::write(&path, text).unwrap();
    let (code, out, err) = lbsim_text(&["import", "haproxy", path.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains(&format!("{}/h.cfg:{place}: ", dir.path().display())), "expected h.cfg:{place} in: {err}");
    assert!(err.contains(what), "expected {what:?} in: {err}");
}

#[test]
fn haproxy_malformed_files_exit_2_with_file_line_column() {
    let (code, _, err) = lbsim_text(&["import", "haproxy", &fixture("haproxy-malformed.cfg")]);
    assert_eq!(code, 2);
    assert!(err.contains("haproxy-malformed.cfg:3:13: `balance least-conn`: expected roundrobin"), "{err}");
    haproxy_malformed("backend b\n  server a \"10.0.0.1:80\n", "2:12", "unterminated string");
    haproxy_malformed("  server a 10.0.0.1:80\nbackend b\n", "1:3", "outside a section");
    haproxy_malformed(
        "backend b\n  server a 10.0.0.1:80 weight 300\n",
        "2:31",
        "expected a whole number from 0 to 256",
    );
    haproxy_malformed("backend b\n  server a 10.0.0.1:80 check inter soon\n", "2:36", "`inter soon`: expected a time");
    haproxy_malformed("backend b\n  server a 10.0.0.1:80 weight\n", "2:24", "`weight` needs a value");
    haproxy_malformed("backend b\n  server a\n", "2:3", "needs an address");
    haproxy_malformed("backend b\n  mode udp\n  server a 10.0.0.1:80\n", "2:8", "expected tcp or http");
    haproxy_malformed(
        "backend b\n  balance random(0)\n  server a 10.0.0.1:80\n",
        "2:11",
        "random(N) with N from 1 to 100",
    );
    haproxy_malformed("backend b\n  balance uri\n  server a 10.0.0.1:80\n", "2:11", "`mode tcp` does not see");
    haproxy_malformed("backend b\n  server a 10.0.0.1:80 backup\n", "1:1", "no active non-backup server");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.cfg");
    std::fs::write(&path, "frontend f\n  bind :80\n").unwrap();
    let (code, _, err) = lbsim_text(&["import", "haproxy", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("no `backend` or `listen` section: nothing to balance"), "{err}");
}

#[test]
fn envoy_bootstrap_cluster_with_priorities_and_health_checks_becomes_a_runnable_scenario() {
    let file = fixture("envoy.yaml");
    // Two clusters: one must be chosen.
    let (code, _, err) = lbsim_text(&["import", "envoy", &file]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("several clusters (api, static): choose one with --cluster NAME"), "{err}");
    let (code, _, err) = lbsim_text(&["import", "envoy", &file, "--cluster", "nope"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no cluster named nope; the file has: api, static"), "{err}");

    let (out, err) = import_ok(&["import", "envoy", &file, "--cluster", "api"]);
    for line in [
        "# envoy.yaml:10 type STRICT_DNS: how Envoy finds the endpoints",
        "# envoy.yaml:12 lb_policy: LEAST_REQUEST",
        "algorithm = \"power_of_two\"",
        "# envoy.yaml:14 choice_count: 3",
        "choices = 3",
        "# envoy.yaml:37 endpoint 10.0.0.1:8080",
        "weight = 3",
        "# priority 1\nbackup = true",
        "health_check = { interval = \"5s\", timeout = \"1s\", rise = 2, fall = 3 }",
        "# envoy.yaml:25 http_health_check: lbsim's checks succeed",
        "# envoy.yaml:17 healthy_panic_threshold: 40",
        "panic_threshold = 40.0",
        "placeholder traffic",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    assert_eq!(out.matches("[[servers]]").count(), 4, "three primaries and one backup");
    let f = "tests/fixtures/import/envoy.yaml";
    for w in [
        format!("warning: {f}:11: `connect_timeout`"),
        format!("warning: {f}:15: `least_request_lb_config.active_request_bias`"),
        format!("warning: {f}:24: `health_checks[].interval_jitter`: not modeled"),
        format!("warning: {f}:27: `outlier_detection`: not modeled yet"),
        format!("warning: {f}:30: `circuit_breakers`: not modeled yet"),
        format!("warning: {f}:49: `priority 1`: approximated: Envoy spills traffic"),
        format!("warning: {f}:12: `lb_policy: LEAST_REQUEST`: approximated: with unequal weights"),
    ] {
        assert!(err.contains(&w), "missing {w:?} in:\n{err}");
    }
    assert_checks(&out);

    // The other cluster: Envoy's defaults, round robin and no health checks.
    let (out, _) = import_ok(&["import", "envoy", &file, "--cluster", "static"]);
    assert!(out.contains("# no `lb_policy`: Envoy's default, ROUND_ROBIN\nalgorithm = \"round_robin\""), "{out}");
    assert!(!out.contains("panic_threshold ="), "no health checks, no panic mode:\n{out}");
    assert_checks(&out);
}

#[test]
fn envoy_json_ring_hash_and_yaml_maglev_clusters() {
    let (out, err) = import_ok(&["import", "envoy", &fixture("envoy-ring-hash.json"), "--rate", "500"]);
    for line in [
        "algorithm = \"ring_hash\"",
        "ring_size = 4096",
        "# envoy-ring-hash.json:6 maximum_ring_size: 65536",
        "hash_key = \"source_ip\"",
        // `{"seconds": 2}` and "0.5s" are both Envoy durations.
        "health_check = { interval = \"2s\", timeout = \"500ms\", rise = 1, fall = 2 }",
        "# no `healthy_panic_threshold`: Envoy's default, 50%\npanic_threshold = 50.0",
        "rate = 5.0",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    assert!(
        err.contains("envoy-ring-hash.json:5: `lb_policy`: approximated: the hashed value is set by the route"),
        "{err}"
    );
    assert_checks(&out);

    let (out, _) = import_ok(&["import", "envoy", &fixture("envoy-maglev.yaml")]);
    assert!(out.contains("algorithm = \"maglev\"\ntable_size = 5003"), "{out}");
    assert_eq!(out.matches("[[servers]]").count(), 3);
    assert_checks(&out);
}

/// An Envoy file written in a temporary directory must exit 2 naming `place` and `what`.
fn envoy_malformed(name: &str, text: &str, place: &str, what: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    let (code, out, err) = lbsim_text(&["import", "envoy", path.to_str().unwrap()]);
    assert_eq!(code, 2, "{text:?} should be refused: {err}");
    assert!(out.is_empty(), "no scenario for a malformed file: {out}");
    let want = format!("{}:{place}", path.display());
    assert!(err.contains(&want) && err.contains(what), "expected {want} and {what:?} in: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn envoy_malformed_files_exit_2_with_file_line_column() {
    let (code, _, err) = lbsim_text(&["import", "envoy", &fixture("envoy-malformed.yaml")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("envoy-malformed.yaml:5:1: while parsing a flow sequence"), "{err}");
    let ep = "load_assignment:\n  endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: a, port_value: 1}}}}]}]\n";
    envoy_malformed(
        "bad.json",
        "{\"name\": \"a\",\n  \"lb_policy\": \"RING_HASH\" \"x\"}",
        "2:",
        "expected Envoy cluster configuration",
    );
    envoy_malformed("p.yaml", &format!("lb_policy: FASTEST\n{ep}"), "1:12:", "expected ROUND_ROBIN, LEAST_REQUEST");
    envoy_malformed(
        "d.yaml",
        &format!("health_checks:\n  - interval: 5 seconds\n{ep}"),
        "2:15:",
        "expected a duration (\"5s\", \"0.5s\" or {seconds: 5, nanos: 0})",
    );
    envoy_malformed(
        "t.yaml",
        &format!("health_checks:\n  - {{interval: 5s, timeout: 1s, healthy_threshold: 1}}\n{ep}"),
        "2:5:",
        "a health check needs `unhealthy_threshold`",
    );
    envoy_malformed(
        "w.yaml",
        "load_assignment:\n  endpoints:\n  - lb_endpoints:\n    - endpoint: {address: {socket_address: {address: a, port_value: 1}}}\n      load_balancing_weight: 0\n",
        "5:30:",
        "expected a whole number from 1 to 1000",
    );
    envoy_malformed(
        "m.yaml",
        &format!("lb_policy: MAGLEV\nmaglev_lb_config: {{table_size: 65536}}\n{ep}"),
        "2:32:",
        "expected a prime",
    );
    envoy_malformed(
        "k.yaml",
        &format!("lb_policy: RANDOM\nlb_policy: RANDOM\n{ep}"),
        "2:1:",
        "duplicate key `lb_policy`",
    );
    envoy_malformed("n.yaml", "- 1\n- 2\n", "1:1:", "expected a mapping");
    envoy_malformed("e.yaml", "load_assignment: {endpoints: []}\n", "1:18:", "has no endpoints");
    envoy_malformed(
        "deep.yaml",
        &format!("a: {}{}\n", "[".repeat(100), "]".repeat(100)),
        "1:",
        "nested more than 64 levels",
    );
    envoy_malformed(
        "bomb.yaml",
        "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n",
        "",
        "more than 1000000 YAML nodes",
    );
}

#[test]
fn envoy_xds_resources_and_flags_of_other_programs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cds.yaml");
    // An xDS discovery response: clusters under `resources`, each with its `@type`.
    std::fs::write(
        &path,
        "resources:\n- \"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster\n  name: web\n  lb_policy: RANDOM\n  load_assignment:\n    endpoints:\n    - lb_endpoints:\n      - endpoint: {address: {socket_address: {address: web-1, port_value: 80}}}\n      - endpoint: {address: {socket_address: {address: web-2, port_value: 80}}}\n        load_balancing_weight: 5\n",
    )
    .unwrap();
    let file = path.to_str().unwrap();
    let (out, err) = import_ok(&["import", "envoy", file]);
    assert!(out.contains("# cds.yaml:4 lb_policy: RANDOM\nalgorithm = \"random\""), "{out}");
    assert!(out.contains("name = \"web-1-80\""), "{out}");
    // Envoy's RANDOM is uniform: the weight is named, not applied.
    assert!(out.contains("# load_balancing_weight 5: Envoy's RANDOM ignores it"), "{out}");
    assert!(!out.contains("weight = 5"), "{out}");
    assert!(err.contains("cds.yaml:9: `load_balancing_weight 5`: Envoy's RANDOM ignores endpoint weights"), "{err}");
    assert_checks(&out);
    for (flag, program) in
        [("--backend", "envoy"), ("--upstream", "envoy"), ("--cluster", "nginx"), ("--cluster", "haproxy")]
    {
        let (code, _, err) = lbsim_text(&["import", program, file, flag, "x"]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("--cluster") && err.contains(program), "{err}");
    }
}

/// A config file is read no further than the importer's limit, whatever kind of file it is:
/// `/dev/zero` (endless, and 0 bytes long by its metadata) is refused at once.
#[test]
fn endless_config_files_are_refused_at_the_limit() {
    lbsim_path(); // built before the clock starts
    for program in ["nginx", "haproxy", "envoy"] {
        let start = std::time::Instant::now();
        let (code, _, err) = lbsim_text(&["import", program, "/dev/zero"]);
        assert_eq!(code, 2, "{program}: {err}");
        assert!(err.contains("larger than 16777216 bytes"), "{program}: {err}");
        assert!(start.elapsed() < std::time::Duration::from_secs(10), "{program} took {:?}", start.elapsed());
    }
}

// ---- export --------------------------------------------------------------------------------

/// The balancer semantics a configuration carries for one pool, as lbsim reads them: what an
/// export must keep and an import must give back.
#[derive(Debug, PartialEq)]
struct Semantics {
    layer: Option<Layer>,
    algorithm: Option<(Algorithm, u32)>,
    hash_key: Option<HashKey>,
    balance_factor: Option<u64>,
    table: Option<u32>,
    servers: Vec<(u32, bool)>,
    passive: Option<Option<(u32, u64)>>,
    health: Option<Option<(u64, u32, u32)>>,
    retry_on_error: Option<u32>,
    sticky: Option<Sticky>,
    panic_threshold: Option<Option<u64>>,
}

/// The semantics of `pool` in `sc` that `program`'s configuration can carry and its importer
/// reads (`warned`: the export's warnings — a field the export said it approximated is not
/// compared). Envoy's importer reads clusters, not listeners or routes: no layer, retries or
/// hash key there.
fn semantics(sc: &Scenario, pool: &str, program: &str, warned: &str) -> Semantics {
    let b = &sc.balancer;
    let hashing = matches!(
        b.algorithm,
        Algorithm::ConsistentHash | Algorithm::BoundedLoadHash | Algorithm::RingHash | Algorithm::Maglev
    );
    let nginx_hash_backup = program == "nginx"
        && matches!(
            b.algorithm,
            Algorithm::IpHash | Algorithm::ConsistentHash | Algorithm::Random | Algorithm::PowerOfTwo
        );
    let no_backup = warned.contains("`backup` cannot be used") || nginx_hash_backup;
    let no_weights = warned.contains("ignores load_balancing_weight");
    Semantics {
        layer: (program != "envoy").then_some(b.layer),
        algorithm: (!warned.contains("algorithm "))
            .then_some((b.algorithm, if b.algorithm == Algorithm::PowerOfTwo { b.choices } else { 0 })),
        hash_key: (program != "envoy" && hashing && !warned.contains("hashing") && !warned.contains("algorithm "))
            .then(|| b.hash_key.clone()),
        balance_factor: (b.algorithm == Algorithm::BoundedLoadHash && program != "nginx")
            .then(|| (b.balance_factor * 100.0).round() as u64),
        table: match (program, if warned.contains("algorithm ") { Algorithm::Random } else { b.algorithm }) {
            ("envoy", Algorithm::RingHash) => Some(b.ring_size),
            ("envoy", Algorithm::Maglev) => Some(b.table_size),
            _ => None,
        },
        servers: sc
            .servers
            .iter()
            .filter(|g| g.pool == pool)
            .flat_map(|g| (0..g.count).map(move |_| g))
            .map(|g| (if no_weights { 1 } else { g.weight }, g.backup && !no_backup))
            .collect(),
        passive: (program == "nginx")
            .then(|| b.passive.filter(|p| p.max_fails > 0).map(|p| (p.max_fails, p.fail_timeout_ns))),
        health: (program != "nginx").then(|| b.health_check.map(|h| (h.interval_ns, h.rise, h.fall))),
        retry_on_error: (program != "envoy").then_some(b.retry_on_error),
        sticky: (program == "haproxy" && !warned.contains("stickiness")).then_some(b.sticky),
        // Panic mode starts only when health checks mark hosts down: without checks it is moot.
        panic_threshold: (program == "envoy" && b.health_check.is_some())
            .then(|| b.panic_threshold.map(|p| (p * 1000.0).round() as u64)),
    }
}

/// A program from Debian's packages: /usr/sbin is not on every user's PATH.
fn sbin(program: &str) -> PathBuf {
    let path = Path::new("/usr/sbin").join(program);
    if path.exists() { path } else { PathBuf::from(program) }
}

/// nginx -t (and HAProxy -c) on an exported file: the real program accepts it.
fn real_program_accepts(program: &str, path: &Path, l4: bool) {
    let out = match program {
        "nginx" => {
            // Debian builds the stream module as a dynamic module (package libnginx-mod-stream).
            let module = "/usr/lib/nginx/modules/ngx_stream_module.so";
            let load = if l4 && Path::new(module).exists() { format!("load_module {module}; ") } else { String::new() };
            let pid = path.with_extension("pid");
            std::process::Command::new(sbin("nginx"))
                .args(["-t", "-q", "-c", path.to_str().unwrap(), "-g"])
                .arg(format!("{load}pid {}; error_log stderr;", pid.display()))
                .output()
        }
        "haproxy" => {
            std::process::Command::new(sbin("haproxy")).args(["-c", "-q", "-f", path.to_str().unwrap()]).output()
        }
        _ => return,
    };
    let out = out.unwrap_or_else(|e| {
        panic!("cannot run {program} ({e}): scripts/setup.sh installs it (nginx-light, libnginx-mod-stream, haproxy)")
    });
    assert!(
        out.status.success(),
        "{program} refuses the exported {}:\n{}\n--- config:\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(path).unwrap()
    );
}

#[test]
fn export_of_every_bundled_scenario_passes_the_real_program_and_imports_back_the_same_balancer() {
    let dir = tempfile::tempdir().unwrap();
    let mut compared = 0;
    // Every bundled scenario as it is, and one with each algorithm (and its parameters).
    let mut cases: Vec<(String, String, Vec<String>)> =
        bundled_texts().into_iter().map(|(name, text)| (name, text, vec![])).collect();
    let (_, backup_text) = bundled_texts().into_iter().find(|(n, _)| n == "backup-failover.toml").unwrap();
    for a in Algorithm::ALL {
        for layer in ["l7", "l4"] {
            let mut sets = vec![
                format!("balancer.algorithm={}", a.name()),
                format!("balancer.layer={layer}"),
                "servers[0].weight=3".to_string(),
            ];
            // nginx (and lbsim) refuse backups with the hashing and random methods.
            if sim_core::config::load(&backup_text, sim_core::Format::Toml, &sets).is_err() {
                sets.push("servers[1].backup=false".into());
            }
            match a {
                Algorithm::PowerOfTwo => sets.push("balancer.choices=3".into()),
                Algorithm::BoundedLoadHash => sets.push("balancer.balance_factor=1.25".into()),
                Algorithm::RingHash => sets.push("balancer.ring_size=4096".into()),
                _ => {}
            }
            cases.push(("backup-failover.toml".into(), backup_text.clone(), sets));
        }
    }
    for (name, text, sets) in cases {
        let sc = match sim_core::config::load(&text, sim_core::Format::Toml, &sets) {
            Ok(sc) => sc,
            Err(_) if sets.is_empty() => continue, // a scenario that reads files
            Err(e) => panic!("{name} {sets:?}: {}", e.with_file(&name)),
        };
        let file = root().join("scenarios").join(&name);
        for (program, ext, choose) in
            [("nginx", "conf", "--upstream"), ("haproxy", "cfg", "--backend"), ("envoy", "yaml", "--cluster")]
        {
            let out = dir.path().join(format!("{name}.{ext}"));
            let mut args = vec!["export", program, file.to_str().unwrap(), "-o", out.to_str().unwrap()];
            for s in &sets {
                args.extend(["--set", s.as_str()]);
            }
            let (code, _, warned) = lbsim_text(&args);
            let name = format!("{name} {sets:?}");
            assert_eq!(code, 0, "export {program} {name}: {warned}");
            real_program_accepts(program, &out, sc.balancer.layer == Layer::L4);
            let mut pools: Vec<&str> = sc.servers.iter().map(|g| g.pool.as_str()).collect();
            pools.dedup();
            for pool in pools {
                let (code, imported, err) = lbsim_text(&["import", program, out.to_str().unwrap(), choose, pool]);
                assert_eq!(code, 0, "import {program} of the export of {name} ({pool}): {err}");
                let back = Scenario::from_toml(&imported)
                    .unwrap_or_else(|e| panic!("{name} via {program}: {}\n{imported}", e.with_file("imported")));
                assert_eq!(
                    semantics(&back, &back.servers[0].pool, program, &warned),
                    semantics(&sc, pool, program, &warned),
                    "{name} ({pool}) through {program}: the imported balancer differs (export warnings: {warned})\n--- imported:\n{imported}"
                );
                compared += 1;
            }
        }
    }
    assert!(compared >= 120, "{compared} round trips");
}

#[test]
fn export_addresses_listen_and_bad_arguments() {
    let file = root().join("scenarios/backup-failover.toml");
    let f = file.to_str().unwrap();
    let (code, out, _) = lbsim_text(&[
        "export",
        "haproxy",
        f,
        "--addresses",
        "10.0.0.1:80,10.0.0.2:80,10.0.0.3:81",
        "--listen",
        "0.0.0.0:9000",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("bind 0.0.0.0:9000"), "{out}");
    assert!(out.contains("10.0.0.2:80") && out.contains("10.0.0.3:81 backup"), "{out}");
    for (args, what) in [
        (vec!["--addresses", "10.0.0.1:80"], "--addresses has 1 address(es); the scenario has 3 server instance(s)"),
        (vec!["--addresses", "10.0.0.1,10.0.0.2:80,10.0.0.3:80"], "expected HOST:PORT"),
        (vec!["--listen", "localhost:0"], "--listen \"localhost:0\": expected HOST:PORT"),
        (vec!["--set", "balancer.algorithm=nope"], "balancer.algorithm"),
    ] {
        let mut all = vec!["export", "nginx", f];
        all.extend(args.iter().copied());
        let (code, _, err) = lbsim_text(&all);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(what), "{args:?}: {err}");
    }
    // The output may not be the scenario itself.
    let (code, _, err) = lbsim_text(&["export", "nginx", f, "-o", f]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn haproxy_stick_on_src_is_source_ip_stickiness_and_redispatch_1_retries_other_servers() {
    let cfg = "defaults\n    mode http\n    retries 2\n    option redispatch 1\nbackend app\n    balance roundrobin\n    stick-table type ip size 1m expire 30m\n    stick on src\n    server a 10.0.0.1:80\n    server b 10.0.0.2:80\n";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("haproxy.cfg");
    std::fs::write(&path, cfg).unwrap();
    let (scenario, warnings) = import_ok(&["import", "haproxy", path.to_str().unwrap()]);
    let sc = Scenario::from_toml(&scenario).unwrap();
    assert_eq!(sc.balancer.sticky, Sticky::SourceIp, "{scenario}");
    assert_eq!(sc.balancer.retry_on_error, 2, "{scenario}");
    assert!(!warnings.contains("stick"), "{warnings}");
    std::fs::write(&path, cfg.replace("option redispatch 1", "option redispatch 0")).unwrap();
    let (code, _, err) = lbsim_text(&["import", "haproxy", path.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("haproxy.cfg:4:") && err.contains("interval"), "{err}");
}
