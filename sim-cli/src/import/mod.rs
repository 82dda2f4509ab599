//! `lbsim import`: reads a real balancer's configuration and prints a runnable, commented
//! scenario. Every directive the importer knows is in `DIRECTIVES` (the source of
//! docs/directives.md); what lbsim does not model is reported, never dropped silently.

mod envoy;
mod haproxy;
pub mod log;
mod nginx;

use std::fmt::Write as _;

use anyhow::Result;

use crate::cli::{ImportArgs, ImportProgram};
use crate::error::user;

/// How the importer treats a directive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// Mapped to lbsim keys with the same semantics.
    Supported,
    /// Mapped to the closest lbsim keys; the output and a warning say how it differs.
    Approximated,
    /// Not modeled: a warning and a comment in the output.
    Ignored,
}

impl Support {
    fn word(self) -> &'static str {
        match self {
            Support::Supported => "supported",
            Support::Approximated => "approximated",
            Support::Ignored => "ignored",
        }
    }
}

/// One row of the directive table: program, directive, treatment, what it becomes.
pub struct Directive {
    pub program: &'static str,
    pub name: &'static str,
    pub support: Support,
    pub note: &'static str,
}

const fn d(program: &'static str, name: &'static str, support: Support, note: &'static str) -> Directive {
    Directive { program, name, support, note }
}

use Support::{Approximated, Ignored, Supported};

/// Every directive the importers read, in the order docs/directives.md lists them.
pub const DIRECTIVES: &[Directive] = &[
    d(
        "nginx",
        "include",
        Supported,
        "Read relative to the including file (at most 16 levels deep; a cycle is an error). Glob patterns are refused.",
    ),
    d(
        "nginx",
        "upstream",
        Supported,
        "The balanced pool; `--upstream NAME` picks one when there are several. In a `stream` block it sets `balancer.layer = \"l4\"`, in `http` `\"l7\"`.",
    ),
    d("nginx", "server", Supported, "One `[[servers]]` group per `server` line (count 1), named after its address."),
    d("nginx", "server weight=", Supported, "`servers[].weight` (1 to 1000)."),
    d(
        "nginx",
        "server max_fails=",
        Supported,
        "`balancer.passive.max_fails`; lbsim has one setting for the balancer, so differing values per server are approximated by the first server's.",
    ),
    d(
        "nginx",
        "server fail_timeout=",
        Supported,
        "`balancer.passive.fail_timeout`; per-server differences approximated as for `max_fails`.",
    ),
    d("nginx", "server backup", Supported, "`servers[].backup = true`."),
    d("nginx", "server down", Supported, "The server is left out (a comment says so)."),
    d("nginx", "server max_conns=", Ignored, "lbsim has no per-server connection cap at the balancer."),
    d("nginx", "server slow_start=", Ignored, "Not modeled."),
    d("nginx", "server resolve / service= / route= / drain", Ignored, "Not modeled (commercial or DNS features)."),
    d("nginx", "least_conn", Supported, "`algorithm = \"least_connections\"`."),
    d("nginx", "ip_hash", Supported, "`algorithm = \"ip_hash\"` (first three octets of the client address)."),
    d(
        "nginx",
        "hash KEY consistent",
        Supported,
        "`algorithm = \"consistent_hash\"` with `hash_key_text = true` (the key's text hashed with crc32, as nginx does); `$remote_addr` → `hash_key = \"source_ip\"` (its dotted text), `$uri`/`$request_uri` → `\"path\"`, `$http_X`/`$cookie_X`/`$arg_X` → `\"header:X\"` with placeholder `clients[].keys` (`k1`…`k1000`); other keys are approximated by `source_ip`.",
    ),
    d(
        "nginx",
        "hash KEY",
        Approximated,
        "nginx's plain `hash` is a modulo over the weighted servers; lbsim has no modulo hash, so it becomes `consistent_hash` (the same spread, more keys move when servers change).",
    ),
    d("nginx", "random", Supported, "`algorithm = \"random\"` (weighted)."),
    d(
        "nginx",
        "random two [least_conn]",
        Supported,
        "`algorithm = \"random_two\"`: two distinct weighted draws (down and failed peers keep their share of the draws and are redrawn), the lower conns/weight wins, ties to the second.",
    ),
    d("nginx", "random two least_time=", Ignored, "Commercial; mapped as `random two` with a warning."),
    d("nginx", "least_time", Ignored, "Commercial; not modeled (round robin is kept)."),
    d("nginx", "keepalive", Ignored, "lbsim does not model the balancer's upstream connection cache."),
    d("nginx", "keepalive_timeout", Ignored, "As `keepalive`."),
    d("nginx", "keepalive_requests", Ignored, "As `keepalive`."),
    d("nginx", "keepalive_time", Ignored, "As `keepalive`."),
    d(
        "nginx",
        "zone",
        Ignored,
        "Shared memory between worker processes; lbsim's balancer is one process, so it has no effect (a comment, no warning).",
    ),
    d(
        "nginx",
        "proxy_next_upstream",
        Supported,
        "From the location (or its server or http block) that proxies to the upstream: `off` → `retry_on_error = 0`; `error` → retries on connection errors; `http_500`/`http_502`/`http_503`/`http_504` → `fail_on_server_error = true` (a server's 5xx is a failed attempt: retried, counted by max_fails); `timeout`, `invalid_header`, other `http_*` and `non_idempotent` are not modeled (warning). nginx's default is `error timeout`.",
    ),
    d(
        "nginx",
        "proxy_next_upstream_tries",
        Supported,
        "`retry_on_error = tries − 1`; 0 (nginx's default, unlimited) → the number of other servers (at most 100).",
    ),
    d("nginx", "proxy_next_upstream_timeout", Ignored, "Not modeled."),
    d(
        "nginx",
        "proxy_connect_timeout / proxy_read_timeout / proxy_send_timeout / proxy_timeout",
        Ignored,
        "lbsim's balancer has no upstream timeouts (clients' `timeout` is the client's).",
    ),
    d("nginx", "any other directive in the upstream block", Ignored, "A warning names it."),
    d(
        "haproxy",
        "backend / listen",
        Supported,
        "The balanced pool; `--backend NAME` picks one when there are several. The last `defaults` section before it (or `from NAME`) applies.",
    ),
    d("haproxy", "mode tcp|http", Supported, "`balancer.layer = \"l4\"` or `\"l7\"`; HAProxy's default is tcp."),
    d(
        "haproxy",
        "balance roundrobin",
        Supported,
        "`algorithm = \"haproxy_round_robin\"`: HAProxy's fast weighted round robin (lb_fwrr.c), whose order differs from nginx's smooth WRR (weights 5,1,1: a a a b a a c).",
    ),
    d(
        "haproxy",
        "balance static-rr",
        Supported,
        "`algorithm = \"static_rr\"`: HAProxy's precomputed map of gcd-reduced weights (lb_map.c).",
    ),
    d("haproxy", "balance leastconn", Supported, "`algorithm = \"least_connections\"`."),
    d(
        "haproxy",
        "balance first",
        Supported,
        "`algorithm = \"first\"` with `max_conns` = the servers' `maxconn` (one value: differing values are approximated by the first server's).",
    ),
    d(
        "haproxy",
        "balance source / uri / url_param / hdr(NAME)",
        Supported,
        "`haproxy_map_hash` (HAProxy's default `hash-type map-based`) or `haproxy_consistent_hash` (`hash-type consistent`) with `hash_key_text = true` and `hash_key` `source_ip` (the address as a 32-bit number), `path` or `header:NAME` (placeholder `clients[].keys`); with `hash-balance-factor`, `bounded_load_hash` (approximated: lbsim's ring, not HAProxy's tree). `balance uri` options (`len`, `depth`, `whole`) are approximated by the whole path.",
    ),
    d(
        "haproxy",
        "balance random[(N)]",
        Supported,
        "`algorithm = \"random_draws\"` with `choices = N` (2 by default; `random(1)` is `random`): N weighted draws, the least served/weight wins.",
    ),
    d("haproxy", "balance rdp-cookie / hash", Ignored, "Round robin stands in (warning)."),
    d(
        "haproxy",
        "hash-type map-based|consistent [FUNCTION [avalanche]]",
        Supported,
        "`map-based` → `haproxy_map_hash`, `consistent` → `haproxy_consistent_hash`, hashing as HAProxy does by default (sdbm; the avalanche for `consistent`); another function or modifier is approximated by the default (warning).",
    ),
    d(
        "haproxy",
        "hash-balance-factor",
        Supported,
        "With `hash-type consistent`: `bounded_load_hash`, `balance_factor = N / 100`.",
    ),
    d(
        "haproxy",
        "server NAME ADDR",
        Supported,
        "One `[[servers]]` group per `server` line (count 1), named after NAME.",
    ),
    d(
        "haproxy",
        "server weight",
        Supported,
        "`servers[].weight`; weight 0 (no balanced traffic) leaves the server out.",
    ),
    d(
        "haproxy",
        "server check / inter / rise / fall",
        Supported,
        "`balancer.health_check` (interval, rise, fall); lbsim checks every server, so `check` on only some is approximated.",
    ),
    d("haproxy", "server backup", Supported, "`servers[].backup = true`."),
    d("haproxy", "server disabled", Supported, "The server is left out (a comment says so)."),
    d(
        "haproxy",
        "server maxconn / maxqueue / minconn",
        Ignored,
        "lbsim has no per-server connection limit at the balancer; only `balance first` reads `maxconn` (as `max_conns`).",
    ),
    d("haproxy", "other server parameters", Ignored, "A warning names each."),
    d("haproxy", "default-server", Supported, "Its parameters are the defaults of every `server` line."),
    d(
        "haproxy",
        "option httpchk",
        Supported,
        "Noted on `balancer.health_check`: lbsim's checks succeed when the server is up and answers in time.",
    ),
    d("haproxy", "timeout check", Supported, "`balancer.health_check.timeout`."),
    d("haproxy", "timeout server / connect / queue / tunnel", Ignored, "lbsim's balancer has no upstream timeouts."),
    d(
        "haproxy",
        "retries",
        Approximated,
        "Same-server retries are not modeled; with `option redispatch` the last retry goes to another server: `retry_on_error = 1`; with `option redispatch 1` every retry does: `retry_on_error = retries`.",
    ),
    d("haproxy", "option redispatch", Supported, "See `retries`."),
    d(
        "haproxy",
        "cookie NAME insert",
        Supported,
        "`balancer.sticky = \"cookie\"` (needs `mode http`); other cookie modes are ignored.",
    ),
    d(
        "haproxy",
        "stick on src / stick-table type ip",
        Supported,
        "`balancer.sticky = \"source_ip\"` (a stick table keyed by the client address); other `stick on` patterns are ignored.",
    ),
    d(
        "haproxy",
        "any other keyword in the backend",
        Ignored,
        "A warning names it; frontend-side keywords of a `listen` (`bind`, `log`, logging options) get a comment.",
    ),
    d(
        "envoy",
        "static_resources.clusters / clusters / resources / a single cluster",
        Supported,
        "YAML or JSON (v3 API); `--cluster NAME` picks one when there are several. Only the cluster is read (`layer = \"l7\"`: the cluster does not say which listener proxies to it).",
    ),
    d(
        "envoy",
        "type (STATIC, STRICT_DNS, …)",
        Ignored,
        "How Envoy finds endpoints; the listed endpoints are taken as they are (a comment, no warning).",
    ),
    d("envoy", "lb_policy: ROUND_ROBIN", Supported, "`algorithm = \"round_robin\"` (Envoy's default)."),
    d(
        "envoy",
        "lb_policy: LEAST_REQUEST",
        Supported,
        "`algorithm = \"power_of_two\"`, `choices` = `least_request_lb_config.choice_count` (default 2), sampled with replacement as Envoy does; with unequal weights approximated (warning). `active_request_bias` other than 1.0 is ignored (warning).",
    ),
    d(
        "envoy",
        "round_robin_lb_config / least_request_lb_config: slow_start_config",
        Supported,
        "`[balancer.slow_start]`: `window` = `slow_start_window`, `aggression` = `aggression.default_value` (default 1.0; 0 or less is 1.0, as Envoy does, warning), `min_weight_percent` (default 10). Without a window it is off (warning).",
    ),
    d(
        "envoy",
        "lb_policy: RANDOM",
        Supported,
        "`algorithm = \"random\"`; Envoy's RANDOM picks uniformly, ignoring endpoint weights, so they are left out (warning).",
    ),
    d(
        "envoy",
        "lb_policy: RING_HASH",
        Approximated,
        "`algorithm = \"ring_hash\"`, `ring_size` = `ring_hash_lb_config.minimum_ring_size` (default 1024); `maximum_ring_size` is noted. The hashed value comes from the route's `hash_policy`, so `hash_key = \"source_ip\"` stands in (warning).",
    ),
    d(
        "envoy",
        "lb_policy: MAGLEV",
        Approximated,
        "`algorithm = \"maglev\"`, `table_size` = `maglev_lb_config.table_size` (default 65537, a prime); hash key as for `RING_HASH`.",
    ),
    d(
        "envoy",
        "lb_policy: CLUSTER_PROVIDED / LOAD_BALANCING_POLICY_CONFIG",
        Ignored,
        "Round robin stands in (warning).",
    ),
    d(
        "envoy",
        "load_assignment endpoints",
        Supported,
        "One `[[servers]]` group per `lb_endpoints` entry (count 1), named after its `socket_address`; `load_balancing_weight` → `servers[].weight` (1 to 1000).",
    ),
    d(
        "envoy",
        "endpoints priority",
        Approximated,
        "The lowest priority is the primary pool; higher ones become `backup = true`. Envoy spills traffic over as a priority's healthy share falls below 100% / 1.4 (overprovisioning factor); lbsim's backups serve only when every primary is down (warning).",
    ),
    d(
        "envoy",
        "locality / locality load_balancing_weight",
        Ignored,
        "lbsim has no localities (a comment; a warning for locality weights).",
    ),
    d(
        "envoy",
        "health_checks",
        Supported,
        "The first check → `balancer.health_check`: `interval`, `timeout`, `healthy_threshold` → `rise`, `unhealthy_threshold` → `fall`. Durations as `\"5s\"`, `\"0.5s\"` or `{seconds, nanos}`. Further checks and other fields (`interval_jitter`, …) are ignored (warning).",
    ),
    d(
        "envoy",
        "common_lb_config.healthy_panic_threshold",
        Supported,
        "`balancer.panic_threshold` (Envoy's default 50% when the cluster has health checks; 0 disables it).",
    ),
    d(
        "envoy",
        "common_lb_config.consistent_hashing_lb_config.hash_balance_factor",
        Approximated,
        "On RING_HASH or MAGLEV: `algorithm = \"bounded_load_hash\"` with `balance_factor` = the percentage / 100 (lbsim bounds loads on its own ring).",
    ),
    d(
        "envoy",
        "outlier_detection",
        Supported,
        "`balancer.outlier_detection`, the same fields (`consecutive_5xx`, `interval`, `base_ejection_time`, `max_ejection_percent`, success rate …); the local-origin and failure-percentage fields are ignored with a warning.",
    ),
    d(
        "envoy",
        "circuit_breakers",
        Supported,
        "`balancer.circuit_breakers`: the DEFAULT priority's `max_requests`, `max_retries`, `max_connections` and `max_pending_requests` (the last two bound HTTP/1.1 upstream connections); other thresholds are ignored with a warning. Its `retry_budget` (`budget_percent`, `min_retry_concurrency`) goes to `balancer.retry` with the route's retry policy.",
    ),
    d(
        "envoy",
        "route retry_policy",
        Supported,
        "The `retry_policy` of the first route to the cluster in a bootstrap's listeners → `balancer.retry`: `num_retries`, `per_try_timeout`, `retry_back_off` (`base_interval`, `max_interval`), `retry_host_predicate` `previous_hosts`, `host_selection_retry_max_attempts`. `retry_on`: `5xx` → `server_error`, `rejected`, `connection_error`; `gateway-error` and `reset` → `connection_error`; `connect-failure` and `refused-stream` → `connection_error`; with a `per_try_timeout`, `5xx`, `gateway-error` and `reset` add `timeout`. Other conditions and fields are ignored (warning).",
    ),
    d("envoy", "connect_timeout", Ignored, "lbsim's balancer has no upstream timeouts (warning)."),
    d(
        "envoy",
        "any other cluster field",
        Ignored,
        "A warning names it; transport and protocol options and DNS settings get a comment (they do not decide where requests go).",
    ),
];

/// The directive table as Markdown: docs/directives.md contains it verbatim (a test checks).
pub fn directives_markdown() -> String {
    let mut out = String::new();
    let mut program = "";
    for row in DIRECTIVES {
        if row.program != program {
            program = row.program;
            let _ = writeln!(out, "\n## {program}\n\n| directive | treatment | in lbsim |\n|---|---|---|");
        }
        let _ = writeln!(out, "| `{}` | {} | {} |", row.name, row.support.word(), row.note);
    }
    out
}

/// Largest placeholder `--rate`.
const MAX_RATE: f64 = 1e9;

/// `lbsim import PROGRAM FILE …`: prints the scenario on stdout, warnings on stderr.
pub fn import(args: ImportArgs) -> Result<()> {
    let log_only = [
        (args.format.is_some(), "--format"),
        (args.log_format.is_some(), "--log-format"),
        (args.out.is_some(), "-o/--out"),
        (args.key != log::KeyFrom::Path, "--key"),
        (args.json, "--json"),
    ];
    if args.program == ImportProgram::Log {
        let config_only = [
            (args.upstream.is_some(), "--upstream"),
            (args.backend.is_some(), "--backend"),
            (args.cluster.is_some(), "--cluster"),
        ];
        if let Some((_, flag)) = config_only.iter().find(|(given, _)| *given) {
            return Err(user(format!("{flag} is for configuration imports (nginx, haproxy, envoy), not `import log`")));
        }
        let Some(kind) = args.format else {
            return Err(user("import log needs --format nginx, haproxy or csv (what the file is)"));
        };
        return log::import_log(&log::LogOptions {
            file: &args.file,
            kind,
            log_format: args.log_format.as_deref(),
            out: args.out.as_deref(),
            key: args.key,
            json: args.json,
        });
    }
    if let Some((_, flag)) = log_only.iter().find(|(given, _)| *given) {
        return Err(user(format!("{flag} is for `lbsim import log`")));
    }
    if !(args.rate.is_finite() && args.rate > 0.0 && args.rate <= MAX_RATE) {
        return Err(user(format!(
            "--rate {}: the placeholder rate is requests per second, more than 0 and at most 1e9",
            args.rate
        )));
    }
    let imported = match args.program {
        ImportProgram::Nginx => {
            if args.cluster.is_some() {
                return Err(user("--cluster is for envoy; nginx takes --upstream NAME"));
            }
            if args.backend.is_some() {
                return Err(user("--backend is for haproxy; nginx takes --upstream NAME"));
            }
            nginx::import(&args.file, args.upstream.as_deref(), args.rate)?
        }
        ImportProgram::Haproxy => {
            if args.cluster.is_some() {
                return Err(user("--cluster is for envoy; haproxy takes --backend NAME"));
            }
            if args.upstream.is_some() {
                return Err(user("--upstream is for nginx; haproxy takes --backend NAME"));
            }
            haproxy::import(&args.file, args.backend.as_deref(), args.rate)?
        }
        ImportProgram::Envoy => {
            if args.upstream.is_some() || args.backend.is_some() {
                return Err(user("--upstream is for nginx and --backend for haproxy; envoy takes --cluster NAME"));
            }
            envoy::import(&args.file, args.cluster.as_deref(), args.rate)?
        }
        ImportProgram::Log => unreachable!("handled above"),
    };
    for warning in &imported.warnings {
        crate::out::note(&format!("warning: {warning}"));
    }
    crate::out::stdout(&imported.scenario)
}

/// What an importer returns: the scenario text and the warnings (`FILE:LINE: …`).
pub struct Imported {
    pub scenario: String,
    pub warnings: Vec<String>,
}

/// A TOML string literal (basic string, escaped).
pub fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A comment line's text with line breaks removed (config values never break a comment).
pub fn comment(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// A scenario name for a server group from an address: letters, digits and `-`, starting with
/// a letter, at most 64 characters, unique among `taken`.
/// The `address` (or one-entry `addresses`) line of an imported server: its address as the
/// config writes it, which lbsim's hash rings then hash as the real program does. A repeated
/// address (or one lbsim cannot hold) is left out with a comment: no two lbsim servers share one.
pub fn address_line(address: &str, seen: &mut Vec<String>) -> String {
    let fits =
        !address.is_empty() && address.len() <= 300 && !address.chars().any(|c| c.is_whitespace() || c.is_control());
    if !fits {
        return format!(
            "# address {}: not kept (lbsim addresses are 1 to 300 characters without spaces)\n",
            comment(address)
        );
    }
    if seen.iter().any(|a| a == address) {
        return format!("# address {}: listed before; kept for the first server only\n", comment(address));
    }
    seen.push(address.to_string());
    let ipv4_port = address
        .rsplit_once(':')
        .is_some_and(|(h, p)| h.parse::<std::net::Ipv4Addr>().is_ok() && p.parse::<u16>().is_ok_and(|p| p > 0));
    if ipv4_port {
        format!("address = {}\n", toml_str(address))
    } else {
        format!("addresses = [{}]\n", toml_str(address))
    }
}

pub fn group_name(address: &str, taken: &mut Vec<String>) -> String {
    let mut base: String =
        address.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    while base.contains("--") {
        base = base.replace("--", "-");
    }
    let base = base.trim_matches('-');
    let mut base =
        if base.starts_with(|c: char| c.is_ascii_alphabetic()) { base.to_string() } else { format!("s-{base}") };
    base.truncate(56);
    let base = base.trim_end_matches('-').to_string();
    let reserved = |n: &str| n == "balancer" || n.starts_with("balancer-") || n == "store" || n == "clients";
    let mut name = base.clone();
    let mut i = 2;
    while taken.contains(&name) || reserved(&name) {
        name = format!("{base}-{i}");
        i += 1;
    }
    taken.push(name.clone());
    name
}
