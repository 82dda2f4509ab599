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
        // nginx's clock for passive checks is whole seconds (issue 14).
        "passive = { max_fails = 2, fail_timeout = \"30s\", clock_granularity = \"1s\" }",
        "# nginx.conf:15 proxy_next_upstream_tries 3",
        "retry_on_error = 2",
        // `http_502`: a server's 5xx is a failed attempt (approximated: every 5xx, a warning).
        "fail_on_server_error = true",
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
fn nginx_random_two_is_random_two_and_several_upstreams_need_a_choice() {
    let file = fixture("nginx-random-two.conf");
    let (code, _, err) = lbsim_text(&["import", "nginx", &file]);
    assert_eq!(code, 2);
    assert!(err.contains("several upstream blocks (web, other): choose one with --upstream NAME"), "{err}");
    let (code, _, err) = lbsim_text(&["import", "nginx", &file, "--upstream", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("no `upstream nope` block; the file has: web, other"), "{err}");

    let (out, err) = import_ok(&["import", "nginx", &file, "--upstream", "web", "--rate", "500"]);
    // Issue 14: nginx's own algorithm (two distinct draws), no longer approximated.
    assert!(out.contains("algorithm = \"random_two\"\n"), "{out}");
    assert!(!out.contains("power_of_two") && !out.contains("choices"), "{out}");
    assert!(out.contains("# nginx-random-two.conf:9 proxy_next_upstream off\nretry_on_error = 0"), "{out}");
    assert!(out.contains("rate = 5.0"), "--rate is the total over 100 clients: {out}");
    assert!(!err.contains("nginx-random-two.conf:3"), "`random two least_conn` is modelled: {err}");
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
    assert!(out.contains("keys = { count = 1000, skew = 0, template = \"k{i}\" }"), "{out}");
    assert!(out.contains("hash_key_text = true"), "{out}");
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

/// Issue 14: HAProxy `roundrobin`, `static-rr` and `first` import as lbsim's algorithms of the
/// same names, `first` with the servers' `maxconn` (differing values approximated); `maxconn`
/// with another method is still a warning.
#[test]
fn haproxy_roundrobin_static_rr_and_first_are_first_class() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("roundrobin", "", "algorithm = \"haproxy_round_robin\"\n", Some("`maxconn 50`: lbsim has no per-server")),
        ("static-rr", "", "algorithm = \"static_rr\"\n", Some("`maxconn 50`: lbsim has no per-server")),
        ("first", "", "algorithm = \"first\"\nmax_conns = 50\n", None),
        ("first", " maxconn 20", "algorithm = \"first\"\nmax_conns = 50\n", Some("servers differ in `maxconn`")),
    ];
    for (balance, other, expect, warning) in cases {
        let cfg = format!(
            "backend b\n  mode http\n  balance {balance}\n  server a 10.0.0.1:80 weight 5 maxconn 50\n  server b 10.0.0.2:80{other}\n  server c 10.0.0.3:80 maxconn 50\n"
        );
        let cfg = if other.is_empty() { cfg.replace("10.0.0.2:80\n", "10.0.0.2:80 maxconn 50\n") } else { cfg };
        let path = dir.path().join("h.cfg");
        std::fs::write(&path, &cfg).unwrap();
        let (out, err) = import_ok(&["import", "haproxy", path.to_str().unwrap()]);
        assert!(out.contains(expect), "{balance}: missing {expect:?} in:\n{out}");
        match warning {
            Some(w) => assert!(err.contains(w), "{balance}: missing {w:?} in {err}"),
            None => assert!(!err.contains("approximated") && !err.contains("maxconn"), "{balance}: {err}"),
        }
        if !warning.is_some_and(|w| w.contains("differ")) {
            assert!(!err.contains(&format!("`balance {balance}`")), "`balance {balance}` is modelled: {err}");
        }
        assert_checks(&out);
    }
}

/// Issue 14: HAProxy's hash methods import as its own hashes, `hash-type consistent` as
/// haproxy_consistent_hash and map-based (the default) as haproxy_map_hash, hashing the key's
/// text (no longer approximated by nginx's ketama ring); a hash function or modifier other
/// than the default is approximated, and so are bounded loads.
#[test]
fn haproxy_hash_types_are_first_class() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("uri", "", "algorithm = \"haproxy_map_hash\"\nhash_key = \"path\"\nhash_key_text = true\n", None),
        ("uri", "hash-type map-based", "algorithm = \"haproxy_map_hash\"\nhash_key = \"path\"\n", None),
        ("uri", "hash-type consistent", "algorithm = \"haproxy_consistent_hash\"\nhash_key = \"path\"\n", None),
        ("source", "hash-type consistent", "algorithm = \"haproxy_consistent_hash\"\nhash_key = \"source_ip\"\n", None),
        (
            "hdr(X-User)",
            "hash-type consistent sdbm avalanche",
            "algorithm = \"haproxy_consistent_hash\"\nhash_key = \"header:X-User\"\nhash_key_text = true\n",
            None,
        ),
        (
            "uri",
            "hash-type consistent djb2",
            "algorithm = \"haproxy_consistent_hash\"\n",
            Some("`hash-type consistent djb2`: approximated: lbsim hashes as `hash-type consistent` does by default"),
        ),
        (
            "uri",
            "hash-type map-based sdbm avalanche",
            "algorithm = \"haproxy_map_hash\"\n",
            Some("approximated: lbsim hashes as `hash-type map-based` does by default (sdbm)"),
        ),
        (
            "uri",
            "hash-type consistent\n  hash-balance-factor 150",
            "algorithm = \"bounded_load_hash\"\nhash_key = \"path\"\nbalance_factor = 1.5\n",
            Some("approximated: HAProxy's consistent hash tree with bounded loads"),
        ),
        ("uri whole", "", "algorithm = \"haproxy_map_hash\"\n", Some("`balance uri whole`: approximated")),
    ];
    for (balance, hash_type, expect, warning) in cases {
        let cfg = format!(
            "backend b\n  mode http\n  balance {balance}\n  {hash_type}\n  server a 10.0.0.1:80 weight 2\n  server b 10.0.0.2:80\n"
        );
        let path = dir.path().join("h.cfg");
        std::fs::write(&path, &cfg).unwrap();
        let (out, err) = import_ok(&["import", "haproxy", path.to_str().unwrap()]);
        assert!(out.contains(expect), "{balance} {hash_type}: missing {expect:?} in:\n{out}");
        match warning {
            Some(w) => assert!(err.contains(w), "{balance} {hash_type}: missing {w:?} in {err}"),
            None => assert!(!err.contains("approximated"), "{balance} {hash_type}: {err}"),
        }
        assert_checks(&out);
    }
}

#[test]
fn haproxy_random_draws_and_default_tcp_mode() {
    let (out, err) = import_ok(&["import", "haproxy", &fixture("haproxy-random.cfg")]);
    assert!(out.contains("# no `mode`: HAProxy's default, tcp\nlayer = \"l4\""), "{out}");
    // Issue 14: HAProxy's own random(N) draws, no longer approximated.
    assert!(out.contains("algorithm = \"random_draws\"\nchoices = 3"), "{out}");
    assert!(out.contains("weight 0 takes no balanced traffic: left out"), "{out}");
    assert!(!err.contains("haproxy-random.cfg:2"), "`balance random(3)` is modelled: {err}");
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
        // Issue 16: Envoy's outlier detection and circuit breakers, as they are.
        "outlier_detection = { consecutive_5xx = 5, base_ejection_time = \"30s\" }",
        "circuit_breakers = { max_connections = 1000 }",
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

/// Issue 16 with issue 14's importer: a bootstrap's route to the cluster carries Envoy's
/// retry policy (`retry_on` conditions mapped to outcomes: `5xx` and `reset` include a per-try
/// timeout; `retriable-4xx` has no lbsim outcome and is warned about), the cluster's
/// circuit breakers its retry budget; together they are `[balancer.retry]`. A malformed
/// `per_try_timeout` exits 2 with file:line:column.
#[test]
fn envoy_route_retry_policy_and_retry_budget_become_balancer_retry() {
    let yaml = |per_try: &str| {
        format!(
            r#"static_resources:
  listeners:
  - name: l
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          route_config:
            virtual_hosts:
            - name: all
              routes:
              - match: {{ prefix: "/" }}
                route:
                  cluster: api
                  retry_policy:
                    retry_on: "reset,retriable-4xx"
                    num_retries: 2
                    per_try_timeout: {per_try}
                    retry_back_off: {{ base_interval: 0.05s }}
                    retry_priority: {{ name: x }}
  clusters:
  - name: api
    circuit_breakers:
      thresholds:
      - retry_budget: {{ budget_percent: {{ value: 30 }} }}
    load_assignment:
      endpoints: [{{lb_endpoints: [{{endpoint: {{address: {{socket_address: {{address: a, port_value: 1}}}}}}}}]}}]
"#
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("retry.yaml");
    std::fs::write(&path, yaml("0.25s")).unwrap();
    let (out, err) = import_ok(&["import", "envoy", path.to_str().unwrap()]);
    assert!(
        out.contains(
            "retry = { retry_on = [\"timeout\", \"connection_error\"], num_retries = 2, per_try_timeout = \"250ms\", \
             base_interval = \"50ms\", budget_percent = 30.0, min_retry_concurrency = 3 }"
        ),
        "{out}"
    );
    assert!(!out.contains("circuit_breakers ="), "a budget alone sets no breaker:\n{out}");
    assert!(err.contains("retry.yaml:16: `retry_policy.retry_on retriable-4xx`: not a condition lbsim has"), "{err}");
    assert!(err.contains("retry.yaml:20: `retry_policy.retry_priority`: not modeled"), "{err}");
    assert_checks(&out);
    envoy_malformed("r.yaml", &yaml("soon"), "18:38:", "expected a duration");
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
    fail_on_server_error: Option<bool>,
    sticky: Option<Sticky>,
    panic_threshold: Option<Option<u64>>,
    /// Envoy's outlier detection and circuit breakers (exported to Envoy only).
    resilience: Option<(Option<sim_core::scenario::OutlierDetection>, Option<sim_core::scenario::CircuitBreakers>)>,
    /// Envoy's route retry policy and the cluster's retry budget (`[balancer.retry]`).
    retry: Option<Option<sim_core::scenario::BalancerRetry>>,
}

/// The semantics of `pool` in `sc` that `program`'s configuration can carry and its importer
/// reads (`warned`: the export's warnings — a field the export said it approximated is not
/// compared). Envoy's importer reads clusters, and of the routes only a route's retry policy:
/// no layer or hash key there.
fn semantics(sc: &Scenario, pool: &str, program: &str, warned: &str) -> Semantics {
    let b = &sc.balancer;
    let hashing = matches!(
        b.algorithm,
        Algorithm::ConsistentHash
            | Algorithm::BoundedLoadHash
            | Algorithm::RingHash
            | Algorithm::Maglev
            | Algorithm::HaproxyConsistentHash
            | Algorithm::HaproxyMapHash
    );
    let nginx_hash_backup = program == "nginx"
        && matches!(
            b.algorithm,
            Algorithm::IpHash | Algorithm::ConsistentHash | Algorithm::Random | Algorithm::RandomTwo
        );
    let no_backup = warned.contains("`backup` cannot be used") || nginx_hash_backup;
    let no_weights = warned.contains("ignores load_balancing_weight");
    Semantics {
        layer: (program != "envoy").then_some(b.layer),
        // With its parameter: power_of_two's and random_draws' choices, first's max_conns.
        algorithm: (!warned.contains("algorithm ")).then_some((
            b.algorithm,
            match b.algorithm {
                Algorithm::PowerOfTwo | Algorithm::RandomDraws => b.choices,
                Algorithm::First => b.max_conns,
                _ => 0,
            },
        )),
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
        // An L4 balancer sees no answers: a 5xx means nothing there.
        fail_on_server_error: (program == "nginx" && b.layer == Layer::L7).then_some(b.fail_on_server_error),
        sticky: (program == "haproxy" && !warned.contains("stickiness")).then_some(b.sticky),
        // Panic mode starts only when health checks mark hosts down: without checks it is moot.
        panic_threshold: (program == "envoy" && b.health_check.is_some())
            .then(|| b.panic_threshold.map(|p| (p * 1000.0).round() as u64)),
        resilience: (program == "envoy").then_some((b.outlier_detection, b.circuit_breakers)),
        // (`retry_on_error` goes to Envoy as a retry policy too: an approximation.)
        retry: (program == "envoy" && b.retry_on_error == 0 && !warned.contains("balancer.retry.retry_on"))
            .then(|| b.retry.clone()),
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
                Algorithm::PowerOfTwo | Algorithm::RandomDraws => sets.push("balancer.choices=3".into()),
                Algorithm::First => sets.push("balancer.max_conns=7".into()),
                Algorithm::BoundedLoadHash => sets.push("balancer.balance_factor=1.25".into()),
                Algorithm::RingHash => sets.push("balancer.ring_size=4096".into()),
                // A 5xx as a failed attempt: nginx's `proxy_next_upstream … http_5xx`.
                Algorithm::LeastConnections => sets.push("balancer.fail_on_server_error=true".into()),
                _ => {}
            }
            cases.push(("backup-failover.toml".into(), backup_text.clone(), sets));
        }
    }
    // Issue 16: Envoy's outlier detection and circuit breakers go to Envoy and come back.
    let resilience = [
        "balancer.outlier_detection.consecutive_5xx=3",
        "balancer.outlier_detection.interval=2500ms",
        "balancer.outlier_detection.max_ejection_percent=50",
        "balancer.outlier_detection.success_rate_stdev_factor=1000",
        "balancer.circuit_breakers.max_requests=200",
        "balancer.circuit_breakers.max_retries=1",
    ];
    cases.push(("backup-failover.toml".into(), backup_text.clone(), resilience.map(String::from).to_vec()));
    // Envoy's retry policy (the route's) and retry budget (the cluster's) go and come back,
    // with and without a per-try timeout, circuit breakers and the previous_hosts predicate.
    for retry in [
        "balancer.retry={ num_retries = 3, per_try_timeout = \"80ms\", base_interval = \"10ms\", max_interval = \"200ms\", \
         retry_host_predicate = \"previous_hosts\", host_selection_retry_max_attempts = 4, budget_percent = 25.0, min_retry_concurrency = 2 }",
        "balancer.retry={ retry_on = [\"connection_error\"], budget_percent = 10.0 }",
        "balancer.retry={ num_retries = 2, retry_on = [\"connection_error\", \"timeout\"], per_try_timeout = \"1s\" }",
    ] {
        let mut sets = resilience.map(String::from).to_vec();
        sets.push(retry.into());
        cases.push(("backup-failover.toml".into(), backup_text.clone(), sets));
        cases.push(("backup-failover.toml".into(), backup_text.clone(), vec![retry.into()]));
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

/// Issue 14: the importers keep each server's address (what nginx's ketama hashes), the
/// exporters write a scenario's addresses, and `--addresses` still overrides them.
#[test]
fn server_addresses_are_imported_and_exported() {
    let dir = tempfile::tempdir().unwrap();
    let nginx = dir.path().join("nginx.conf");
    std::fs::write(
        &nginx,
        "http {\n upstream app {\n  hash $arg_k consistent;\n  server 10.0.0.1:8080;\n  server backend.example:81 weight=2;\n }\n}\n",
    )
    .unwrap();
    let (scenario, _) = import_ok(&["import", "nginx", nginx.to_str().unwrap()]);
    let sc = Scenario::from_toml(&scenario).unwrap_or_else(|e| panic!("{e}\n{scenario}"));
    let addrs: Vec<Option<String>> =
        sc.servers.iter().map(|g| g.address.as_ref().and_then(|a| a.instance(0))).collect();
    assert_eq!(addrs, [Some("10.0.0.1:8080".into()), Some("backend.example:81".into())], "{scenario}");
    assert!(scenario.contains("address = \"10.0.0.1:8080\"\n"), "{scenario}");
    assert!(scenario.contains("addresses = [\"backend.example:81\"]"), "{scenario}");
    let haproxy = dir.path().join("haproxy.cfg");
    std::fs::write(&haproxy, "backend app\n    balance roundrobin\n    server a 10.0.0.7:80\n    server b 10.0.0.8:80\n    server c 10.0.0.8:80\n")
        .unwrap();
    let (scenario, _) = import_ok(&["import", "haproxy", haproxy.to_str().unwrap()]);
    assert!(
        scenario.contains("address = \"10.0.0.7:80\"") && scenario.contains("address = \"10.0.0.8:80\""),
        "{scenario}"
    );
    // Two lbsim servers cannot share an address: the repeat keeps its name, not the address.
    assert!(scenario.contains("# address 10.0.0.8:80: listed before"), "{scenario}");
    assert!(Scenario::from_toml(&scenario).is_ok(), "{scenario}");

    // Export: a base address counts up per instance; a list is written as given.
    let file = dir.path().join("s.toml");
    std::fs::write(
        &file,
        "name = \"a\"\nduration = \"1s\"\n[[servers]]\nname = \"api\"\ncount = 3\naddress = \"10.1.0.5:8080\"\n\
         service = { dist = \"constant\", value = \"1ms\" }\n[[servers]]\nname = \"db\"\naddresses = [\"db.local:9000\"]\n\
         service = { dist = \"constant\", value = \"1ms\" }\n[[clients]]\nname = \"c\"\nrate = 1\n\
         [balancer]\nalgorithm = \"consistent_hash\"\nhash_key = \"header:x-k\"\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let (code, out, err) = lbsim_text(&["export", "nginx", f]);
    assert_eq!(code, 0, "{err}");
    for line in ["server 10.1.0.5:8080", "server 10.1.0.6:8080", "server 10.1.0.7:8080", "server db.local:9000"] {
        assert!(out.contains(line), "{line}: {out}");
    }
    let (code, out, err) =
        lbsim_text(&["export", "haproxy", f, "--addresses", "1.1.1.1:1,1.1.1.2:1,1.1.1.3:1,1.1.1.4:1"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1.1.1.4:1") && !out.contains("10.1.0.5"), "--addresses overrides: {out}");
    // Round trip: nginx's export imports back with the same addresses.
    let conf = dir.path().join("out.conf");
    let (code, _, err) = lbsim_text(&["export", "nginx", f, "-o", conf.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (back, _) = import_ok(&["import", "nginx", conf.to_str().unwrap()]);
    let back = Scenario::from_toml(&back).unwrap();
    let texts: Vec<String> = back.servers.iter().filter_map(|g| g.address.as_ref()?.instance(0)).collect();
    assert_eq!(texts, ["10.1.0.5:8080", "10.1.0.6:8080", "10.1.0.7:8080", "db.local:9000"]);
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

// ---------------------------------------------------------------------------------------
// `lbsim import log`: access logs generated here (deterministic), checked against a direct
// computation of the same figures.

/// A small deterministic generator (xorshift64*), so the logs are the same on every run.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The nearest-rank quantile (the smallest value with at least ⌈q·n⌉ values at or below it).
fn nearest_rank(sorted: &[u64], q: f64) -> u64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// `lbsim import log … --json` into a temporary directory: (exit code, summary, stderr, trace).
fn import_log(name: &str, text: &[u8], args: &[&str]) -> (i32, serde_json::Value, String, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join(name);
    std::fs::write(&log, text).unwrap();
    let trace = dir.path().join("trace.csv");
    let mut all = vec!["import", "log", log.to_str().unwrap(), "-o", trace.to_str().unwrap(), "--json"];
    all.extend_from_slice(args);
    let (code, out, err) = lbsim_text(&all);
    let summary = if code == 0 {
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    } else {
        serde_json::Value::Null
    };
    let trace = std::fs::read_to_string(&trace).unwrap_or_default();
    (code, summary, err, trace, dir)
}

/// The trace's `time` column in ms (the generated logs have millisecond times).
fn trace_times_ms(trace: &str) -> Vec<u64> {
    trace
        .lines()
        .skip(1)
        .map(|l| (l.split(',').next().unwrap().parse::<f64>().unwrap() * 1000.0).round() as u64)
        .collect()
}

/// The printed scenario with its open-loop what-if uncommented in place of the replay group;
/// with `alternatives`, its `schedule` in place of `rate` and the `empirical` service time in
/// place of the lognormal.
fn open_loop_variant(scenario: &str, alternatives: bool) -> String {
    let lines: Vec<&str> = scenario.lines().collect();
    let commented = |prefix: &str| lines.iter().find(|l| l.starts_with(prefix)).map(|l| &l[2..]);
    let schedule = commented("# schedule = ").expect("a schedule");
    let empirical = commented("# service = { dist = \"empirical\"").expect("an empirical service time");
    let from = lines.iter().position(|l| *l == "# [[clients]]").expect("the what-if group");
    let mut what_if: Vec<&str> =
        lines[from..].iter().take_while(|l| !l.starts_with("# To ")).map(|l| &l[2..]).collect();
    assert!(what_if.iter().any(|l| l.starts_with("rate = ")), "{what_if:?}");
    let replay = lines.iter().position(|l| *l == "[[clients]]").expect("the replay group");
    let balancer = lines.iter().position(|l| *l == "[balancer]").expect("the balancer");
    if alternatives {
        for l in &mut what_if {
            if l.starts_with("rate = ") {
                *l = schedule;
            }
        }
    }
    let mut out: Vec<&str> = lines[..replay]
        .iter()
        .map(|l| if alternatives && l.starts_with("service = { dist = \"lognormal\"") { empirical } else { l })
        .collect();
    out.extend(what_if);
    out.push("");
    out.extend(&lines[balancer..from]);
    out.join("\n") + "\n"
}

/// The scenario `import log` printed passes `lbsim check` once its `trace =` line is replaced by
/// a rate (this branch has no trace replay yet; `imported_log_scenario_checks_with_its_trace`
/// checks it as printed).
fn assert_scenario_checks_without_trace(scenario: &str) {
    assert!(scenario.contains("\ntrace = \""), "the scenario replays the trace:\n{scenario}");
    let without: String = scenario
        .lines()
        .map(|l| if l.starts_with("trace = ") { "rate = 1.0" } else { l })
        .collect::<Vec<_>>()
        .join("\n");
    assert_checks(&without);
    // The open-loop what-if, uncommented in place of the replay group, checks too (its
    // `schedule` and `empirical` alternatives need the parallel branches: see
    // `imported_log_scenario_checks_with_its_trace`).
    assert_checks(&open_loop_variant(scenario, false));
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// `28/Nov/2026:10:00:05` for `secs` seconds after 2026-11-28T10:00:00 (the logs span minutes).
fn clf(secs: u64) -> String {
    format!("28/{}/2026:{:02}:{:02}:{:02}", MONTHS[10], 10 + secs / 3600, secs / 60 % 60, secs % 60)
}

/// An nginx log in `combined` + `$request_time $upstream_response_time $upstream_addr`
/// (whole-second `$time_local`), with retried upstream lists (`, ` and ` : `), requests nginx
/// answered itself (`-`), and malformed lines: cut off, a bad status, a line over 64 KiB, and one
/// that is not UTF-8. A blank line is not malformed.
#[test]
fn nginx_access_log_counts_quantiles_and_trace_match_a_direct_computation() {
    let mut g = Gen(0x5eed_1507);
    let upstreams = ["10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"];
    // (end ms, line, start ms or None when not replayed)
    let mut reqs: Vec<(u64, String)> = Vec::new();
    let mut services = Vec::new(); // the last attempt's ms, for every request that has one
    let mut starts = Vec::new(); // start ms as lbsim computes it: whole-second end − request_time
    let mut per_upstream = std::collections::BTreeMap::new();
    let (mut not_replayed, mut retried, mut s2, mut s4, mut s5) = (0, 0, 0, 0, 0);
    let mut t = 0u64;
    for i in 0..400u64 {
        t += g.below(400);
        let mut service = 1 + g.below(60);
        if i % 50 == 7 {
            service = 900 + g.below(3000); // the heavy tail
        }
        let ip = format!("198.51.100.{}", 1 + g.below(40));
        let path = format!("/api/v1/items/{}?page={}", g.below(300), g.below(5));
        let up = upstreams[(i % 3) as usize];
        let (status, ups, addr, rt) = if i % 37 == 5 {
            not_replayed += 1;
            (404, "-".to_string(), "-".to_string(), 0)
        } else if i % 41 == 3 {
            retried += 1;
            let other = upstreams[((i + 1) % 3) as usize];
            *per_upstream.entry(other).or_insert(0u64) += 1;
            services.push(service);
            (200, format!("0.003, 0.{service:03}"), format!("{up}, {other}"), 3 + service + 1)
        } else if i % 43 == 4 {
            retried += 1;
            *per_upstream.entry("unix:/run/fallback.sock").or_insert(0u64) += 1;
            services.push(service);
            (502, format!("0.002 : 0.{service:03}"), format!("{up} : unix:/run/fallback.sock"), 2 + service + 1)
        } else {
            *per_upstream.entry(up).or_insert(0u64) += 1;
            services.push(service);
            let st = if i % 19 == 0 { 500 } else { 200 };
            (st, format!("{}.{:03}", service / 1000, service % 1000), up.to_string(), service + 1)
        };
        match status / 100 {
            2 => s2 += 1,
            4 => s4 += 1,
            _ => s5 += 1,
        }
        let end = t + rt;
        let line = format!(
            "{ip} - - [{} +0000] \"GET {path} HTTP/1.1\" {status} {} \"-\" \"Mozilla/5.0 (X11; Linux x86_64)\" {}.{:03} {ups} {addr}",
            clf(end / 1000),
            200 + g.below(5000),
            rt / 1000,
            rt % 1000
        );
        if ups != "-" {
            starts.push((end / 1000 * 1000) as i64 - rt as i64);
        }
        reqs.push((end, line));
    }
    reqs.sort_by_key(|r| r.0); // nginx writes a line when its request ends
    let mut lines: Vec<Vec<u8>> = reqs.into_iter().map(|r| r.1.into_bytes()).collect();
    // Malformed lines at known places (1-based line numbers after insertion), and a blank line.
    let cut = lines[10][..50].to_vec();
    lines.insert(20, cut);
    let bad_status = String::from_utf8(lines[30].clone()).unwrap().replacen("\" 200 ", "\" 2x0 ", 1);
    lines.insert(100, bad_status.into_bytes());
    lines.insert(150, b"".to_vec());
    let long = format!(
        "198.51.100.1 - - [{} +0000] \"GET /{} HTTP/1.1\" 200 1 \"-\" \"x\" 0.001 0.001 10.0.0.1:8080",
        clf(0),
        "a".repeat(70_000)
    );
    lines.insert(200, long.into_bytes());
    let mut not_utf8 = lines[40].clone();
    not_utf8[5] = 0xff;
    lines.insert(300, not_utf8);
    // The first line is cut off too: the format is still detected from the lines after it.
    let first_cut = lines[0][..30].to_vec();
    lines.insert(0, first_cut);
    let mut text = lines.join(&b'\n');
    text.push(b'\n');

    let (code, s, err, trace, _dir) = import_log("access.log", &text, &["--format", "nginx"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(s["format"], "nginx combined + $request_time $upstream_response_time $upstream_addr");
    assert_eq!(s["requests"], 400);
    assert_eq!(s["lines"], 406);
    assert_eq!(s["malformed"]["count"], 5);
    let first: Vec<u64> =
        s["malformed"]["first"].as_array().unwrap().iter().map(|p| p["line"].as_u64().unwrap()).collect();
    assert_eq!(first, [1, 22, 102, 202, 302]);
    let why: Vec<&str> =
        s["malformed"]["first"].as_array().unwrap().iter().map(|p| p["problem"].as_str().unwrap()).collect();
    assert!(why[2].contains("`$status` is \"2x0\""), "{why:?}");
    assert!(why[3].contains("longer than 65536 bytes") && why[4].contains("not UTF-8"), "{why:?}");
    for line in [1, 22, 102, 202, 302] {
        assert!(err.contains(&format!("access.log:{line}: ")), "stderr names malformed line {line}:\n{err}");
    }
    assert_eq!(s["not_replayed"], not_replayed);
    assert_eq!(s["retried"], retried);
    let ups: std::collections::BTreeMap<String, u64> = serde_json::from_value(s["upstreams"].clone()).unwrap();
    let want: std::collections::BTreeMap<String, u64> = per_upstream.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    assert_eq!(ups, want);
    assert_eq!(s["status_classes"], serde_json::json!({"2xx": s2, "4xx": s4, "5xx": s5}));
    services.sort_unstable();
    assert_eq!(s["service_ms"]["count"], services.len());
    for (name, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999), ("max", 1.0)] {
        assert_eq!(s["service_ms"]["quantiles"][name].as_f64(), Some(nearest_rank(&services, q) as f64), "{name}");
    }
    // The trace: the replayed requests in start order, times from the first start.
    starts.sort_unstable();
    let want: Vec<u64> = starts.iter().map(|&x| (x - starts[0]) as u64).collect();
    assert_eq!(trace.lines().next(), Some("time,key,service_ms,source_ip,path,response_bytes"));
    assert_eq!(trace_times_ms(&trace), want);
    assert_eq!(s["trace"]["rows"], want.len());
    // The key is the path without its query; the service is the last attempt's time.
    let row = trace.lines().nth(1).unwrap();
    let cells: Vec<&str> = row.split(',').collect();
    assert!(cells[1].starts_with("/api/v1/items/") && !cells[1].contains('?') && cells[1] == cells[4], "{row}");
    let mut traced: Vec<u64> = trace.lines().skip(1).map(|l| l.split(',').nth(2).unwrap().parse().unwrap()).collect();
    traced.sort_unstable();
    assert_eq!(traced, services, "every replayed row carries its last attempt's service time");
    // The rate table counts every request (replayed or not).
    let counted: u64 = s["rate_over_time"].as_array().unwrap().iter().map(|b| b["requests"].as_u64().unwrap()).sum();
    assert_eq!(counted, 400);
    assert_scenario_checks_without_trace(s["scenario"].as_str().unwrap());
    assert_eq!(s["scenario"].as_str().unwrap().matches("[[servers]]").count(), 4, "one server per upstream");
}

/// HAProxy's `option httplog` lines, with and without a syslog prefix, captured headers, `-1`
/// timers (no server answered), `<NOSRV>`, retries, and malformed lines.
#[test]
fn haproxy_http_log_counts_quantiles_and_trace_match_a_direct_computation() {
    let mut g = Gen(0xa11_0c8);
    let servers = ["app/web1", "app/web2", "app/web3", "static/cdn1"];
    let mut lines = Vec::new();
    let mut tr_values = Vec::new();
    let mut starts = Vec::new();
    let mut per_server = std::collections::BTreeMap::new();
    let mut per_server_tr = std::collections::BTreeMap::new();
    let (mut not_replayed, mut retried) = (0, 0);
    let mut t = 0u64;
    for i in 0..300u64 {
        t += g.below(300);
        let server = servers[(g.below(4)) as usize];
        let mut tr = g.below(80) as i64;
        if i % 40 == 9 {
            tr = 1500 + g.below(2000) as i64;
        }
        // (server, timers, status, Tt: HAProxy writes the line when the request ends)
        let (srv, timers, status, tt) = if i % 29 == 3 {
            not_replayed += 1;
            *per_server.entry("app/web2".to_string()).or_insert(0u64) += 1;
            ("app/web2".to_string(), "0/0/1/-1/30000".to_string(), 504, 30_000)
        } else if i % 31 == 4 {
            not_replayed += 1;
            ("app/<NOSRV>".to_string(), "0/-1/-1/-1/0".to_string(), 503, 0)
        } else {
            *per_server.entry(server.to_string()).or_insert(0u64) += 1;
            per_server_tr.entry(server.to_string()).or_insert_with(Vec::new).push(tr as u64);
            tr_values.push(tr as u64);
            starts.push(t);
            (server.to_string(), format!("1/0/2/{tr}/{}", tr + 3), 200, tr as u64 + 3)
        };
        let retries = if i % 23 == 1 {
            retried += 1;
            "+1"
        } else {
            "0"
        };
        let prefix = if i % 2 == 0 { format!("Nov 28 10:00:{:02} lb1 ", (t / 1000) % 60) } else { String::new() };
        let headers = if i % 5 == 0 { "{example.com|Mozilla} {} " } else { "" };
        lines.push((t + tt, format!(
            "{prefix}haproxy[4242]: 192.0.2.{}:{} [{}.{:03}] www~ {srv} {timers} {status} {} - - ---- 5/5/2/1/{retries} 0/0 {headers}\"GET /p/{} HTTP/1.1\"",
            1 + g.below(50),
            40000 + g.below(20000),
            clf(t / 1000),
            t % 1000,
            100 + g.below(9000),
            g.below(100)
        )));
    }
    // In the order requests end, so the accept dates (the starts) are out of order.
    lines.sort_by_key(|l| l.0);
    let mut lines: Vec<String> = lines.into_iter().map(|l| l.1).collect();
    lines.insert(50, "haproxy[4242]: 192.0.2.7:40001 [28/Nov/2026:10:00:01.000] www~ app/web1 1/0/2/7 200 10 - - ---- 1/1/1/1/0 0/0 \"GET / HTTP/1.1\"".into());
    lines.insert(120, "Nov 28 10:00:05 lb1 haproxy[4242]: Proxy www started.".into());
    lines.insert(200, lines[199][..70].to_string());
    let text = lines.join("\n") + "\n";
    let (code, s, err, trace, _dir) = import_log("haproxy.log", text.as_bytes(), &["--format", "haproxy"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(s["requests"], 300);
    assert_eq!(s["malformed"]["count"], 3);
    let first: Vec<u64> =
        s["malformed"]["first"].as_array().unwrap().iter().map(|p| p["line"].as_u64().unwrap()).collect();
    assert_eq!(first, [51, 121, 201]);
    assert!(s["malformed"]["first"][0]["problem"].as_str().unwrap().contains("Tq/Tw/Tc/Tr/Tt"), "{s}");
    assert_eq!(s["not_replayed"], not_replayed);
    assert_eq!(s["retried"], retried);
    let ups: std::collections::BTreeMap<String, u64> = serde_json::from_value(s["upstreams"].clone()).unwrap();
    assert_eq!(ups, per_server);
    for (server, mut trs) in per_server_tr {
        trs.sort_unstable();
        let got = &s["upstream_service_ms"][&server];
        assert_eq!(got["p50"].as_f64(), Some(nearest_rank(&trs, 0.5) as f64), "{server}");
        assert_eq!(got["p99"].as_f64(), Some(nearest_rank(&trs, 0.99) as f64), "{server}");
    }
    tr_values.sort_unstable();
    for (name, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999), ("max", 1.0)] {
        assert_eq!(s["service_ms"]["quantiles"][name].as_f64(), Some(nearest_rank(&tr_values, q) as f64), "{name}");
    }
    // The accept date is the start: the trace is in start order, from the first replayed row.
    starts.sort_unstable();
    let want: Vec<u64> = starts.iter().map(|x| x - starts[0]).collect();
    assert_eq!(trace_times_ms(&trace), want);
    assert!(trace.lines().nth(1).unwrap().contains(",192.0.2."), "the source address without its port");
    assert_scenario_checks_without_trace(s["scenario"].as_str().unwrap());
}

/// A user's `log_format` with `$msec` (milliseconds: the best time source), variables lbsim
/// does not use, and the start computed as end − `$request_time`; formats without a time or
/// with two variables touching are refused.
#[test]
fn nginx_custom_log_format_uses_msec_and_refuses_unusable_formats() {
    let format = "$msec|$remote_addr|$request_length|\"$request\" $status $bytes_sent rt=$request_time ut=$upstream_response_time ua=$upstream_addr cache=$upstream_cache_status";
    let lines = [
        "1795860000.500|10.1.1.1|310|\"GET /a HTTP/1.1\" 200 900 rt=0.100 ut=0.090 ua=10.0.0.1:80 cache=MISS",
        "1795860000.300|10.1.1.2|320|\"POST /b?x=1 HTTP/2.0\" 201 901 rt=0.001 ut=0.001 ua=10.0.0.2:80 cache=-",
        "1795860000.900|10.1.1.3|330|\"GET /c,d%20e HTTP/1.1\" 200 902 rt=0.250 ut=0.004, 0.200 ua=10.0.0.1:80, 10.0.0.2:80 cache=HIT",
    ];
    let (code, s, err, trace, dir) = import_log(
        "custom.log",
        (lines.join("\n") + "\n").as_bytes(),
        &["--format", "nginx", "--log-format", format, "--key", "remote_addr"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(s["malformed"]["count"], 0);
    assert!(s["start_times"].as_str().unwrap().contains("$msec"), "{s}");
    // Starts: .500 − .100 = .400, .300 − .001 = .299, .900 − .250 = .650.
    assert_eq!(
        trace,
        "time,key,service_ms,source_ip,path,request_bytes,response_bytes\n\
         0,10.1.1.2,1,10.1.1.2,/b,320,901\n\
         0.101,10.1.1.1,90,10.1.1.1,/a,310,900\n\
         0.351,10.1.1.3,200,10.1.1.3,/c%2Cd%20e,330,902\n"
    );
    // Without -o the trace goes beside the log, named after it.
    let log = dir.path().join("custom.log");
    let (code, out, err) = lbsim_text(&[
        "import",
        "log",
        log.to_str().unwrap(),
        "--format",
        "nginx",
        "--log-format",
        format,
        "--key",
        "remote_addr",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read_to_string(dir.path().join("custom.csv")).unwrap(), trace);
    assert!(out.contains(&format!("trace = \"{}\"", dir.path().join("custom.csv").display())), "{out}");
    for (bad, why) in [
        ("$remote_addr \"$request\" $status", "needs `$msec`, `$time_local` or `$time_iso8601`"),
        ("$msec$status", "`$msec` and `$status` have no text between them"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("a.log");
        std::fs::write(&log, lines[0]).unwrap();
        let (code, _, err) =
            lbsim_text(&["import", "log", log.to_str().unwrap(), "--format", "nginx", "--log-format", bad]);
        assert_eq!(code, 2, "{bad}: {err}");
        assert!(err.contains(why), "{bad}: {err}");
    }
}

/// Bad uses of `import log` exit 2 with a clear message: no --format, a config flag, a log that is
/// all malformed (its first problems named with line numbers), something that is not a file.
#[test]
fn import_log_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("junk.log");
    let junk: String = (0..20).map(|i| format!("garbage line {i}\n")).collect();
    std::fs::write(&log, junk).unwrap();
    let log = log.to_str().unwrap();
    for (args, why) in [
        (vec!["import", "log", log], "needs --format nginx, haproxy or csv"),
        (vec!["import", "log", log, "--format", "nginx", "--upstream", "x"], "--upstream is for configuration imports"),
        (
            vec!["import", "log", log, "--format", "haproxy", "--log-format", "$msec"],
            "--log-format is for --format nginx",
        ),
        (vec!["import", "nginx", log, "--format", "nginx"], "--format is for `lbsim import log`"),
        (
            vec!["import", "log", log, "--format", "nginx"],
            "junk.log: none of its 20 lines is a nginx combined log line (20 malformed); the first problems:",
        ),
        (vec!["import", "log", log, "--format", "haproxy"], ":5: no accept date"),
        (vec!["import", "log", "/dev/zero", "--format", "nginx", "--log-format", "$msec"], "not a regular file"),
        (vec!["import", "log", log, "--format", "nginx", "-o", log], "writing it would destroy the input"),
    ] {
        let (code, out, err) = lbsim_text(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(why), "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
    }
    assert!(!dir.path().join("junk.csv").exists(), "no trace is left behind by a failed import");
}

/// A trace CSV is validated and summarised; rows out of order are warned about (replay needs
/// them sorted) and `-o` writes a sorted copy; an unknown column is an error with file:line.
#[test]
fn trace_csv_is_validated_summarised_and_sorted() {
    let text = "# a trace\ntime,key,service_ms\n0,a,2\n0.5,b,1.5\n\n0.25,c,3\n0.75,d,x\n1,e,4\n";
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("t.csv");
    std::fs::write(&csv, text).unwrap();
    let (code, out, err) = lbsim_text(&["import", "log", csv.to_str().unwrap(), "--format", "csv", "--json"]);
    assert_eq!(code, 0, "{err}");
    let s: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(s["requests"], 4);
    assert_eq!(s["malformed"]["first"][0]["line"], 7);
    assert!(s["malformed"]["first"][0]["problem"].as_str().unwrap().contains("`service_ms` is \"x\""), "{s}");
    assert_eq!(s["service_ms"]["quantiles"]["p50"], 2.0);
    assert_eq!(s["trace"]["written"], false);
    assert!(err.contains("1 rows start before an earlier row"), "{err}");
    let sorted = dir.path().join("sorted.csv");
    let (code, _, err) =
        lbsim_text(&["import", "log", csv.to_str().unwrap(), "--format", "csv", "-o", sorted.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read_to_string(&sorted).unwrap(), "time,key,service_ms\n0,a,2\n0.25,c,3\n0.5,b,1.5\n1,e,4\n");
    std::fs::write(&csv, "# x\ntime,kee\n0,a\n").unwrap();
    let (code, _, err) = lbsim_text(&["import", "log", csv.to_str().unwrap(), "--format", "csv"]);
    assert_eq!(code, 2);
    assert!(err.contains("t.csv:2: unknown column `kee`; the columns are time, key, service_ms"), "{err}");
}

/// The import command of the shipped access log (scripts/gen_access_log.py).
const SHIPPED_FORMAT: &str = "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\" $msec $request_time $upstream_response_time $upstream_addr";

/// The shipped trace is what `lbsim import log` makes of the shipped log, byte for byte (the
/// data is honest), and the summary matches what the generator put in.
#[test]
fn shipped_access_log_reimports_to_the_shipped_trace() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("access.csv");
    let (code, summary, err) = lbsim_text(&[
        "import",
        "log",
        "scenarios/data/access.log",
        "--format",
        "nginx",
        "--log-format",
        SHIPPED_FORMAT,
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let shipped = std::fs::read(root().join("scenarios/data/access.csv")).unwrap();
    assert!(std::fs::read(&out).unwrap() == shipped, "scenarios/data/access.csv is not the import of access.log");
    assert!(summary.contains("# lines: 2002   requests: 2000   malformed: 2"), "{summary}");
    assert!(err.contains("access.log:701: ") && err.contains("access.log:1501: "), "{err}");
}

/// The printed scenario, `trace =` line and all, runs; so does its open-loop what-if with the
/// `schedule` and `empirical` alternatives.
#[test]
fn imported_log_scenario_checks_with_its_trace() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("access.csv");
    let (code, scenario, err) = lbsim_text(&[
        "import",
        "log",
        "scenarios/data/access.log",
        "--format",
        "nginx",
        "--log-format",
        SHIPPED_FORMAT,
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    // The trace path is the absolute -o path, so the scenario can be saved anywhere.
    let path = dir.path().join("replay.toml");
    std::fs::write(&path, &scenario).unwrap();
    let (code, _, err) = lbsim_text(&["run", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}\n{scenario}");
    // And so does the open-loop what-if with its `schedule` and `empirical` alternatives
    // (helpers B and A).
    let path = dir.path().join("open-loop.toml");
    std::fs::write(&path, open_loop_variant(&scenario, true)).unwrap();
    let (code, _, err) = lbsim_text(&["run", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}\n{}", open_loop_variant(&scenario, true));
}

/// Thousands of mutated log lines (bytes replaced, cut, multi-byte characters and huge numbers
/// inserted) in each format: the import ends with exit 0 or 2 and a message, never a panic.
#[test]
fn mutated_log_lines_never_panic() {
    let samples = [
        (
            "nginx",
            "198.51.100.7 - - [28/Nov/2026:10:00:01 +0000] \"GET /a?b=1 HTTP/1.1\" 200 512 \"-\" \"curl/8\" 0.010 0.002, 0.004 : 0.003 10.0.0.1:80, 10.0.0.2:80 : 10.0.1.1:80",
        ),
        (
            "haproxy",
            "Nov 28 10:00:01 lb1 haproxy[42]: 192.0.2.7:40001 [28/Nov/2026:10:00:01.250] www~ app/web1 1/0/2/7/10 200 10 - - ---- 1/1/1/1/+1 0/0 {a|b} \"GET /x HTTP/1.1\"",
        ),
        ("csv", "2026-11-28T10:00:01.5+01:00,k,2.5,10.0.0.1,/p,10,20"),
    ];
    let inserts = ["é", "€", "\u{202e}", "99999999999999999999", "-1", "[", "]", "\"", ", ", " : ", "+", ":", "/", "."];
    let mut g = Gen(0xf00d);
    for (format, sample) in samples {
        let mut text = if format == "csv" {
            "time,key,service_ms,source_ip,path,request_bytes,response_bytes\n".to_string()
        } else {
            String::new()
        };
        for _ in 0..3000 {
            let mut line: Vec<char> = sample.chars().collect();
            for _ in 0..1 + g.below(3) {
                let at = g.below(line.len() as u64 + 1) as usize;
                match g.below(4) {
                    0 if at < line.len() => {
                        line[at] = inserts[g.below(inserts.len() as u64) as usize].chars().next().unwrap()
                    }
                    1 => line.truncate(at),
                    2 if at < line.len() => {
                        line.remove(at);
                    }
                    _ => {
                        let ins: Vec<char> = inserts[g.below(inserts.len() as u64) as usize].chars().collect();
                        line.splice(at..at, ins);
                    }
                }
            }
            text.extend(line);
            text.push('\n');
        }
        text.push_str(sample);
        text.push('\n');
        let (code, s, err, _, _dir) = import_log("m.log", text.as_bytes(), &["--format", format]);
        assert!(!err.contains("panicked"), "{format}: {err}");
        assert_eq!(code, 0, "{format}: the valid line is still read: {err}");
        assert!(
            s["requests"].as_u64().unwrap() >= 1 && s["malformed"]["count"].as_u64().unwrap() > 100,
            "{format}: {s}"
        );
    }
}

/// Slow start round-trips through Envoy (`slow_start_config` in `round_robin_lb_config` and
/// `least_request_lb_config`), and the programs without it say so when exporting.
#[test]
fn slow_start_goes_through_envoy_and_is_noted_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let file = root().join("scenarios/slow-start.toml");
    let sets = ["balancer.slow_start.aggression=2.5", "balancer.slow_start.min_weight_percent=0"];
    for algorithm in ["round_robin", "power_of_two"] {
        let out = dir.path().join(format!("{algorithm}.yaml"));
        let algo = format!("balancer.algorithm={algorithm}");
        let mut args = vec!["export", "envoy", file.to_str().unwrap(), "-o", out.to_str().unwrap(), "--set", &algo];
        for s in &sets {
            args.extend(["--set", s]);
        }
        let (code, _, err) = lbsim_text(&args);
        assert_eq!(code, 0, "{err}");
        assert!(!err.contains("slow_start"), "Envoy expresses it: {err}");
        let (imported, warnings) = import_ok(&["import", "envoy", out.to_str().unwrap(), "--cluster", "default"]);
        assert!(!warnings.contains("slow_start"), "{warnings}");
        let back = Scenario::from_toml(&imported).unwrap();
        let slow = back.balancer.slow_start.expect("slow start imported");
        assert_eq!((slow.window_ns, slow.aggression, slow.min_weight_percent), (30_000_000_000, 2.5, 0.0));
    }
    for (program, ext, hint) in [("nginx", "conf", "nginx Plus"), ("haproxy", "cfg", "slowstart 30s")] {
        let out = dir.path().join(format!("x.{ext}"));
        let (code, _, err) = lbsim_text(&["export", program, file.to_str().unwrap(), "-o", out.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        assert!(err.contains("balancer.slow_start") && err.contains(hint), "{program}: {err}");
    }
    // An Envoy aggression of 0 is Envoy's linear ramp, with a warning.
    let yaml = std::fs::read_to_string(dir.path().join("round_robin.yaml"))
        .unwrap()
        .replace("default_value: 2.5", "default_value: 0");
    let path = dir.path().join("zero.yaml");
    std::fs::write(&path, yaml).unwrap();
    let (imported, warnings) = import_ok(&["import", "envoy", path.to_str().unwrap(), "--cluster", "default"]);
    assert!(warnings.contains("Envoy uses 1.0 for an aggression of 0 or less"), "{warnings}");
    assert_eq!(Scenario::from_toml(&imported).unwrap().balancer.slow_start.unwrap().aggression, 1.0);
}
