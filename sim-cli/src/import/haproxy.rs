//! `lbsim import haproxy`: haproxy.cfg (sections, words, quotes, comments) and the mapping of
//! one `backend` or `listen` section, with the `defaults` before it, to a scenario.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;

use super::{Imported, comment, group_name, toml_str};
use crate::error::user;

/// Largest configuration file read.
const MAX_FILE_BYTES: usize = 16 << 20;
/// Most server groups a scenario takes.
const MAX_GROUPS: usize = 1000;

const SECTIONS: &[&str] = &[
    "global",
    "defaults",
    "frontend",
    "backend",
    "listen",
    "peers",
    "resolvers",
    "userlist",
    "mailers",
    "cache",
    "program",
    "http-errors",
    "ring",
    "crt-store",
    "traces",
];

/// Server keywords that take a value (the rest are flags).
const VALUED: &[&str] = &[
    "weight",
    "inter",
    "fastinter",
    "downinter",
    "rise",
    "fall",
    "maxconn",
    "maxqueue",
    "minconn",
    "port",
    "addr",
    "cookie",
    "slowstart",
    "on-error",
    "on-marked-down",
    "on-marked-up",
    "observe",
    "error-limit",
    "ca-file",
    "crt",
    "sni",
    "verify",
    "alpn",
    "proto",
    "resolvers",
    "resolve-prefer",
    "init-addr",
    "id",
    "source",
    "check-sni",
    "check-alpn",
    "pool-max-conn",
    "pool-purge-delay",
    "agent-port",
    "agent-inter",
    "agent-send",
    "agent-addr",
    "namespace",
    "redir",
    "track",
    "ciphers",
    "ciphersuites",
    "crl-file",
    "max-reuse",
    "tcp-ut",
    "ws",
    "log-proto",
    "set-proxy-v2-tlv-fmt",
    "shard",
    "hash-key",
    "check-proto",
    "verifyhost",
    "npn",
    "usesrc",
    "sigalgs",
    "curves",
    "ssl-min-ver",
    "ssl-max-ver",
    "resolve-opts",
    "resolve-net",
    "pool-low-conn",
    "proxy-v2-options",
    "guid",
];

/// One configuration line: words with their columns.
struct Line {
    file: String,
    line: usize,
    words: Vec<(String, usize)>,
}

impl Line {
    fn name(&self) -> &str {
        &self.words[0].0
    }
    fn word(&self, i: usize) -> Option<&str> {
        self.words.get(i).map(|(w, _)| w.as_str())
    }
    fn loc(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
    fn pos(&self, i: usize) -> String {
        format!("{}:{}:{}", self.file, self.line, self.words.get(i).map_or(1, |w| w.1))
    }
    fn at(&self) -> String {
        let short = Path::new(&self.file).file_name().map_or(self.file.clone(), |n| n.to_string_lossy().into_owned());
        format!("{short}:{}", self.line)
    }
    fn text(&self) -> String {
        comment(&self.words.iter().map(|(w, _)| w.as_str()).collect::<Vec<_>>().join(" "))
    }
}

/// Splits the file into lines of words (quotes, backslash escapes, `#` comments).
fn lex(file: &str, text: &str) -> Result<Vec<Line>> {
    let mut lines = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let chars: Vec<char> = raw.chars().collect();
        let mut words = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            if chars[i].is_whitespace() {
                i += 1;
                continue;
            }
            if chars[i] == '#' {
                break;
            }
            let start = i + 1;
            let mut word = String::new();
            while i < chars.len() && !chars[i].is_whitespace() {
                match chars[i] {
                    '#' => break,
                    q @ ('"' | '\'') => {
                        let open = i + 1;
                        i += 1;
                        loop {
                            match chars.get(i) {
                                None => {
                                    return Err(user(format!(
                                        "{file}:{}:{open}: unterminated string: expected a closing {q} on the same line",
                                        n + 1
                                    )));
                                }
                                Some(&c) if c == q => {
                                    i += 1;
                                    break;
                                }
                                Some('\\') if q == '"' && i + 1 < chars.len() => {
                                    word.push(chars[i + 1]);
                                    i += 2;
                                }
                                Some(&c) => {
                                    word.push(c);
                                    i += 1;
                                }
                            }
                        }
                    }
                    '\\' if i + 1 < chars.len() => {
                        word.push(chars[i + 1]);
                        i += 2;
                    }
                    c => {
                        word.push(c);
                        i += 1;
                    }
                }
            }
            words.push((word, start));
        }
        if !words.is_empty() {
            lines.push(Line { file: file.to_string(), line: n + 1, words });
        }
    }
    Ok(lines)
}

/// HAProxy time (a bare number is milliseconds; `us`, `ms`, `s`, `m`, `h`, `d`) in ms.
fn parse_time(text: &str) -> Option<u64> {
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    if digits == 0 {
        return None;
    }
    let n: u64 = text[..digits].parse().ok()?;
    match &text[digits..] {
        "" | "ms" => Some(n),
        "us" => Some(n / 1000),
        "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        "d" => n.checked_mul(86_400_000),
        _ => None,
    }
}

fn duration(ms: u64) -> String {
    if ms.is_multiple_of(1000) { format!("{}s", ms / 1000) } else { format!("{ms}ms") }
}

/// A section: its header line and body.
struct Section<'a> {
    head: &'a Line,
    body: Vec<&'a Line>,
}

pub fn import(file: &str, backend: Option<&str>, rate: f64) -> Result<Imported> {
    let text = crate::load::bounded_text(file, file, MAX_FILE_BYTES, "the importer's limit on config files")?;
    let lines = lex(file, &text)?;
    let mut sections: Vec<Section> = Vec::new();
    for l in &lines {
        if SECTIONS.contains(&l.name()) {
            sections.push(Section { head: l, body: Vec::new() });
        } else {
            match sections.last_mut() {
                Some(s) => s.body.push(l),
                None => {
                    return Err(user(format!(
                        "{}: `{}` outside a section: expected a section keyword first ({})",
                        l.pos(0),
                        l.name(),
                        SECTIONS.join(", ")
                    )));
                }
            }
        }
    }
    let pools: Vec<usize> =
        (0..sections.len()).filter(|&i| matches!(sections[i].head.name(), "backend" | "listen")).collect();
    let names: Vec<&str> = pools.iter().map(|&i| sections[i].head.word(1).unwrap_or("")).collect();
    let chosen = match backend {
        Some(want) => *pools.iter().find(|&&i| sections[i].head.word(1) == Some(want)).ok_or_else(|| {
            user(format!(
                "{file}: no `backend {want}` or `listen {want}` section; the file has: {}",
                if names.is_empty() { "none".to_string() } else { names.join(", ") }
            ))
        })?,
        None => match pools.as_slice() {
            [one] => *one,
            [] => return Err(user(format!("{file}: no `backend` or `listen` section: nothing to balance"))),
            _ => {
                return Err(user(format!(
                    "{file}: several backends ({}): choose one with --backend NAME",
                    names.join(", ")
                )));
            }
        },
    };
    let sec = &sections[chosen];
    let name =
        sec.head.word(1).ok_or_else(|| user(format!("{}: `{}` needs a name", sec.head.pos(0), sec.head.name())))?;
    // The defaults that apply: `from NAME`, else the last `defaults` section before it.
    let from = match (sec.head.word(2), sec.head.word(3)) {
        (Some("from"), Some(d)) => Some(d),
        _ => None,
    };
    let defaults = sections[..chosen]
        .iter()
        .rev()
        .find(|s| s.head.name() == "defaults" && from.is_none_or(|d| s.head.word(1) == Some(d)));
    if let (Some(d), None) = (from, defaults) {
        return Err(user(format!("{}: `from {d}`: no `defaults {d}` section before it", sec.head.pos(3))));
    }
    let m = Mapper::default();
    let mut body: Vec<(&Line, bool)> = Vec::new();
    if let Some(d) = defaults {
        body.extend(d.body.iter().map(|l| (*l, true)));
    }
    body.extend(sec.body.iter().map(|l| (*l, false)));
    m.map(file, sec.head, name, &body, rate)
}

#[derive(Default)]
struct Mapper {
    warnings: Vec<String>,
    head: String,
}

/// Server parameters shared by `default-server` and `server`.
#[derive(Clone)]
struct Params {
    weight: u64,
    check: bool,
    inter_ms: u64,
    rise: u64,
    fall: u64,
    backup: bool,
    disabled: bool,
    /// `maxconn N` (read by `balance first`; 0 = unlimited).
    maxconn: Option<u64>,
}

impl Mapper {
    fn ignore(&mut self, l: &Line, why: &str) {
        self.warnings.push(format!("{}: `{}`: {why}", l.loc(), l.text()));
        let _ = writeln!(self.head, "# {} {}: ignored: {why}", l.at(), l.text());
    }

    fn params(&mut self, l: &Line, from: usize, p: &mut Params) -> Result<()> {
        let mut i = from;
        let server = l.word(1).unwrap_or("");
        while let Some(key) = l.word(i) {
            let value = if VALUED.contains(&key) {
                i += 1;
                Some(l.word(i).ok_or_else(|| user(format!("{}: `{key}` needs a value", l.pos(i - 1))))?)
            } else {
                None
            };
            let at = l.pos(i);
            let number = |range: std::ops::RangeInclusive<u64>| -> Result<u64> {
                value.and_then(|v| v.parse::<u64>().ok()).filter(|n| range.contains(n)).ok_or_else(|| {
                    user(format!(
                        "{at}: `{key} {}`: expected a whole number from {} to {}",
                        value.unwrap_or(""),
                        range.start(),
                        range.end()
                    ))
                })
            };
            match key {
                "weight" => p.weight = number(0..=256)?,
                "rise" => p.rise = number(1..=1000)?,
                "fall" => p.fall = number(1..=1000)?,
                "inter" => {
                    p.inter_ms =
                        value.and_then(parse_time).filter(|ms| (1..=3_600_000).contains(ms)).ok_or_else(|| {
                            user(format!(
                                "{at}: `inter {}`: expected a time (2000, 2s, 500ms) from 1ms to 1h",
                                value.unwrap_or("")
                            ))
                        })?
                }
                "check" => p.check = true,
                "no-check" => p.check = false,
                "backup" => p.backup = true,
                "no-backup" => p.backup = false,
                "maxconn" => p.maxconn = Some(number(0..=1_000_000)?),
                "disabled" => p.disabled = true,
                "enabled" => p.disabled = false,
                // The server's value for `cookie NAME insert`: part of the stickiness lbsim models.
                "cookie" => {}
                other => {
                    let shown = match value {
                        Some(v) => format!("{other} {v}"),
                        None => other.to_string(),
                    };
                    let why = match other {
                        "maxqueue" | "minconn" => "lbsim has no per-server connection limit at the balancer",
                        _ => "not modeled by lbsim",
                    };
                    self.warnings.push(format!("{}: `{} {server}` `{shown}`: {why}", l.loc(), l.name()));
                    let _ = writeln!(
                        self.head,
                        "# {} {} {}: ignored: `{}`: {why}",
                        l.at(),
                        l.name(),
                        comment(server),
                        comment(&shown)
                    );
                }
            }
            i += 1;
        }
        Ok(())
    }

    fn map(mut self, file: &str, head: &Line, name: &str, body: &[(&Line, bool)], rate: f64) -> Result<Imported> {
        let mut p = Params {
            weight: 1,
            check: false,
            inter_ms: 2000,
            rise: 2,
            fall: 3,
            backup: false,
            disabled: false,
            maxconn: None,
        };
        let mut servers: Vec<(&Line, Params)> = Vec::new();
        let mut mode: Option<&Line> = None;
        let mut balance: Option<&Line> = None;
        let mut hash_type: Option<&Line> = None;
        let mut hash_factor: Option<&Line> = None;
        let mut httpchk: Option<&Line> = None;
        let mut check_timeout: Option<(&Line, u64)> = None;
        let mut retries: Option<(&Line, u64)> = None;
        let mut redispatch: Option<(&Line, bool)> = None;
        let mut cookie: Option<&Line> = None;
        let mut stick: Option<&Line> = None;
        let mut stick_table: Option<&Line> = None;
        for &(l, from_defaults) in body {
            let w1 = l.word(1).unwrap_or("");
            match (l.name(), w1) {
                ("mode", _) => mode = Some(l),
                ("balance", _) => balance = Some(l),
                ("hash-type", _) => hash_type = Some(l),
                ("hash-balance-factor", _) => hash_factor = Some(l),
                ("default-server", _) => self.params(l, 1, &mut p)?,
                ("server", _) if !from_defaults => {
                    if l.word(2).is_none() {
                        return Err(user(format!("{}: `server {w1}` needs an address", l.pos(0))));
                    }
                    let mut sp = p.clone();
                    self.params(l, 3, &mut sp)?;
                    servers.push((l, sp));
                }
                ("option", "httpchk") => httpchk = Some(l),
                ("option", "redispatch") => redispatch = Some((l, true)),
                ("no", "option") if l.word(2) == Some("redispatch") => redispatch = Some((l, false)),
                ("timeout", "check") => {
                    let ms =
                        l.word(2).and_then(parse_time).filter(|ms| (1..=3_600_000).contains(ms)).ok_or_else(|| {
                            user(format!(
                                "{}: `timeout check`: expected a time (1000, 1s, 500ms) from 1ms to 1h",
                                l.pos(2)
                            ))
                        })?;
                    check_timeout = Some((l, ms));
                }
                ("timeout", "server" | "connect" | "queue" | "tunnel" | "server-fin") => {
                    self.ignore(l, "lbsim's balancer has no upstream timeouts")
                }
                ("retries", _) => {
                    let n = l
                        .word(1)
                        .and_then(|v| v.parse::<u64>().ok())
                        .ok_or_else(|| user(format!("{}: `retries`: expected a whole number", l.pos(1))))?;
                    retries = Some((l, n));
                }
                ("cookie", _) if !from_defaults || l.words.iter().any(|w| w.0 == "insert") => cookie = Some(l),
                ("stick", "on") if !from_defaults => stick = Some(l),
                ("stick-table", _) if !from_defaults => stick_table = Some(l),
                // Defaults hold much that is not about balancing (logging, frontends' timeouts).
                _ if from_defaults => {}
                ("bind" | "log" | "description" | "acl" | "default_backend" | "use_backend", _)
                | (
                    "option",
                    "httplog" | "tcplog" | "dontlognull" | "forwardfor" | "http-server-close" | "log-health-checks",
                ) => {
                    let _ = writeln!(self.head, "# {} {}: not about balancing", l.at(), l.text());
                }
                _ => self.ignore(l, "not modeled by lbsim"),
            }
        }
        if servers.is_empty() {
            return Err(user(format!("{}: `{} {name}` has no `server` line", head.pos(0), head.name())));
        }
        let l4 = match mode {
            None => false,
            Some(l) => match l.word(1) {
                Some("http") => false,
                Some("tcp") => true,
                _ => return Err(user(format!("{}: `mode`: expected tcp or http", l.pos(1)))),
            },
        };
        let l4 = mode.is_none() || l4;

        let mut bal = String::from("\n[balancer]\n");
        match mode {
            Some(l) => {
                let _ = writeln!(bal, "# {} {}", l.at(), l.text());
            }
            None => bal.push_str("# no `mode`: HAProxy's default, tcp\n"),
        }
        let _ = writeln!(bal, "layer = \"{}\"", if l4 { "l4" } else { "l7" });

        // Balance.
        let consistent = hash_type.is_some_and(|l| l.word(1) == Some("consistent"));
        let mut keys = false;
        let (algo, extra): (String, Vec<String>) = match balance {
            None => {
                bal.push_str("# no `balance`: HAProxy's default, roundrobin\n");
                ("round_robin".into(), vec![])
            }
            Some(l) => {
                let _ = writeln!(bal, "# {} {}", l.at(), l.text());
                let how = l.word(1).unwrap_or("");
                let hashed = |key: &str| -> (String, Vec<String>) {
                    (String::new(), vec![format!("hash_key = {}", toml_str(key))])
                };
                let (a, mut e) = match how {
                    "roundrobin" => ("haproxy_round_robin".to_string(), vec![]),
                    "static-rr" => ("static_rr".to_string(), vec![]),
                    "leastconn" => ("least_connections".to_string(), vec![]),
                    "first" => {
                        // HAProxy's `first` reads each server's `maxconn`; lbsim has one value.
                        let live: Vec<&(&Line, Params)> = servers.iter().filter(|(_, p)| !p.disabled).collect();
                        let max = live.first().and_then(|(_, p)| p.maxconn).unwrap_or(0);
                        if live.iter().any(|(_, p)| p.maxconn.unwrap_or(0) != max) {
                            self.approx(
                                &mut bal,
                                l,
                                "servers differ in `maxconn`; lbsim's max_conns is one value, the first server's",
                            );
                        }
                        if max == 0 {
                            bal.push_str("# no server `maxconn`: the first server takes every request\n");
                            ("first".to_string(), vec![])
                        } else {
                            ("first".to_string(), vec![format!("max_conns = {max}")])
                        }
                    }
                    "source" => hashed("source_ip"),
                    "uri" => {
                        if l.word(2).is_some() {
                            // `len`, `depth`, `whole`: other parts of the URI are hashed.
                            self.approx(
                                &mut bal,
                                l,
                                "lbsim hashes the whole path (HAProxy's `balance uri` without options)",
                            );
                        }
                        hashed("path")
                    }
                    "url_param" | "hdr" => {
                        let p = l
                            .word(2)
                            .ok_or_else(|| user(format!("{}: `balance url_param` needs a parameter name", l.pos(1))))?;
                        keys = true;
                        hashed(&format!("header:{p}"))
                    }
                    h if h.starts_with("hdr(") && h.ends_with(')') && h.len() > 5 => {
                        keys = true;
                        hashed(&format!("header:{}", &h[4..h.len() - 1]))
                    }
                    "random" => ("random_draws".to_string(), vec!["choices = 2".to_string()]),
                    r if r.starts_with("random(") && r.ends_with(')') => {
                        let n: u64 =
                            r[7..r.len() - 1].parse().ok().filter(|n| (1..=100).contains(n)).ok_or_else(|| {
                                user(format!("{}: `{r}`: expected random(N) with N from 1 to 100", l.pos(1)))
                            })?;
                        if n == 1 {
                            ("random".to_string(), vec![])
                        } else {
                            ("random_draws".to_string(), vec![format!("choices = {n}")])
                        }
                    }
                    "rdp-cookie" | "hash" | "sticky" => {
                        self.approx(&mut bal, l, "not modeled by lbsim; round robin stands in");
                        ("round_robin".to_string(), vec![])
                    }
                    other => {
                        return Err(user(format!(
                            "{}: `balance {other}`: expected roundrobin, static-rr, leastconn, first, source, uri, url_param, hdr(NAME), random[(N)], rdp-cookie or hash",
                            l.pos(1)
                        )));
                    }
                };
                if a.is_empty() {
                    // A hash of a request attribute.
                    let factor =
                        hash_factor.and_then(|f| f.word(1)).and_then(|v| v.parse::<u64>().ok()).filter(|&v| v > 0);
                    let algo = match (consistent, factor) {
                        (true, Some(f)) => {
                            let hf = hash_factor.expect("set");
                            let _ = writeln!(bal, "# {} {}: bounded loads", hf.at(), hf.text());
                            e.push(format!("balance_factor = {:?}", (f as f64 / 100.0).clamp(1.0, 100.0)));
                            "bounded_load_hash"
                        }
                        (true, None) => "haproxy_consistent_hash",
                        (false, _) => "haproxy_map_hash",
                    };
                    if let Some(h) = hash_type {
                        let _ = writeln!(bal, "# {} {}", h.at(), h.text());
                        // lbsim hashes as `hash-type` does by default: sdbm, with the
                        // avalanche for consistent and without for map-based.
                        let (func, modifier) = (h.word(2), h.word(3));
                        let default = matches!(
                            (consistent, func, modifier),
                            (_, None, _) | (true, Some("sdbm"), Some("avalanche")) | (false, Some("sdbm"), None)
                        );
                        if !default {
                            let want = if consistent { "`hash-type consistent`" } else { "`hash-type map-based`" };
                            self.approx(
                                &mut bal,
                                h,
                                &format!(
                                    "lbsim hashes as {want} does by default (sdbm{}): another key → server mapping",
                                    if consistent { " with the avalanche" } else { "" }
                                ),
                            );
                        }
                    } else {
                        bal.push_str("# no `hash-type`: HAProxy's default, map-based\n");
                    }
                    if algo == "bounded_load_hash" {
                        self.approx(
                            &mut bal,
                            l,
                            "HAProxy's consistent hash tree with bounded loads differs from lbsim's bounded_load_hash ring: a similar spread, other keys per server",
                        );
                    } else {
                        let _ = writeln!(
                            bal,
                            "# HAProxy hashes the key's text with sdbm: so does lbsim with hash_key_text"
                        );
                        e.push("hash_key_text = true".to_string());
                    }
                    (algo.to_string(), e)
                } else {
                    (a, e)
                }
            }
        };
        if algo != "first" {
            for (l, sp) in &servers {
                if let Some(n) = sp.maxconn.filter(|&n| n > 0) {
                    let why =
                        "lbsim has no per-server connection limit at the balancer (only `balance first` reads it)";
                    self.warnings.push(format!(
                        "{}: `{} {}` `maxconn {n}`: {why}",
                        l.loc(),
                        l.name(),
                        l.word(1).unwrap_or("")
                    ));
                    let _ = writeln!(
                        self.head,
                        "# {} {} {}: ignored: `maxconn {n}`: {why}",
                        l.at(),
                        l.name(),
                        comment(l.word(1).unwrap_or(""))
                    );
                }
            }
        }
        let _ = writeln!(bal, "algorithm = {}", toml_str(&algo));
        for e in &extra {
            let _ = writeln!(bal, "{e}");
        }
        if l4 && extra.iter().any(|e| e.starts_with("hash_key =") && !e.contains("source_ip")) {
            return Err(user(format!(
                "{}: `{}` hashes a request attribute, which `mode tcp` does not see (set `mode http`)",
                balance.map_or(head.pos(0), |l| l.pos(1)),
                balance.map_or(String::new(), Line::text)
            )));
        }

        // Active health checks: HAProxy checks the servers marked `check`.
        let checked: Vec<&(&Line, Params)> = servers.iter().filter(|(_, p)| p.check && !p.disabled).collect();
        if let Some((l, sp)) = checked.first() {
            if checked.len() < servers.iter().filter(|(_, p)| !p.disabled).count() {
                self.approx(&mut bal, l, "only some servers have `check`; lbsim checks every server");
            }
            if checked.iter().any(|(_, p)| p.inter_ms != sp.inter_ms || p.rise != sp.rise || p.fall != sp.fall) {
                self.approx(
                    &mut bal,
                    l,
                    "servers differ in inter/rise/fall; lbsim has one setting, the first checked server's",
                );
            }
            let _ =
                writeln!(bal, "# {} check inter {} rise {} fall {}", l.at(), duration(sp.inter_ms), sp.rise, sp.fall);
            if let Some(h) = httpchk {
                let _ = writeln!(
                    bal,
                    "# {} {}: lbsim's checks succeed when the server is up and answers in time",
                    h.at(),
                    h.text()
                );
            }
            let mut hc = format!("interval = \"{}\", rise = {}, fall = {}", duration(sp.inter_ms), sp.rise, sp.fall);
            if let Some((t, ms)) = check_timeout {
                let _ = writeln!(bal, "# {} {}", t.at(), t.text());
                let _ = write!(hc, ", timeout = \"{}\"", duration(ms));
            }
            let _ = writeln!(bal, "health_check = {{ {hc} }}");
        } else {
            for l in [httpchk, check_timeout.map(|(l, _)| l)].into_iter().flatten() {
                self.ignore(l, "no server has `check`, so HAProxy runs no health checks");
            }
        }
        // Hash settings only matter to the hash-based `balance` methods.
        if !(algo.ends_with("_hash")) {
            for l in [hash_type, hash_factor].into_iter().flatten() {
                self.ignore(l, "the `balance` method does not hash, so this has no effect");
            }
        } else if algo != "bounded_load_hash"
            && let Some(l) = hash_factor
        {
            self.ignore(l, "bounded loads need `hash-type consistent` and a factor above 0");
        }

        // Retries: another server only with `option redispatch` (on the last retry).
        let n = retries.map_or(3, |(_, n)| n);
        if let Some((l, _)) = retries {
            let _ = writeln!(bal, "# {} {}", l.at(), l.text());
        } else {
            bal.push_str("# no `retries`: HAProxy's default, 3\n");
        }
        // `option redispatch <interval>`: P > 0 redispatches on every P-th retry, -N on the N-th
        // retry before the last; the default (-1) on the last one only (HAProxy's docs).
        let every = redispatch.and_then(|(l, on)| if on { l.word(2).map(|w| w.parse::<i64>()) } else { None });
        let retry = match redispatch {
            Some((l, true)) if n > 0 => match every {
                Some(Ok(1)) => {
                    let _ = writeln!(bal, "# {} {}: every retry goes to another server", l.at(), l.text());
                    n
                }
                Some(Ok(p)) if p == 0 || p.unsigned_abs() > 1_000 => {
                    return Err(user(format!(
                        "{}: `{}`: the interval is a whole number, not 0, from -1000 to 1000",
                        l.pos(2),
                        l.text()
                    )));
                }
                Some(Err(_)) => {
                    return Err(user(format!("{}: `{}`: expected `option redispatch [INTERVAL]`", l.pos(2), l.text())));
                }
                _ => {
                    let _ = writeln!(bal, "# {} {}: the last retry goes to another server", l.at(), l.text());
                    if n > 1 {
                        self.approx(&mut bal, l, "HAProxy retries the same server before redispatching; lbsim does not model same-server retries");
                    }
                    1
                }
            },
            _ => {
                if n > 0 {
                    bal.push_str("# without `option redispatch` HAProxy retries the same server: not modeled\n");
                }
                0
            }
        };
        let _ = writeln!(bal, "retry_on_error = {retry}");

        if let Some(c) = cookie {
            if l4 {
                self.ignore(c, "cookies need `mode http`");
            } else if c.words.iter().any(|w| w.0 == "insert") {
                let _ = writeln!(bal, "# {} {}", c.at(), c.text());
                bal.push_str("sticky = \"cookie\"\n");
            } else {
                self.ignore(
                    c,
                    "only `cookie NAME insert` is modeled (lbsim's cookie stickiness inserts its own cookie)",
                );
            }
        }

        // A stick table keyed by the source address is lbsim's `sticky = "source_ip"`.
        match stick {
            Some(l) if l.word(2) == Some("src") && cookie.is_none() => {
                let _ = writeln!(bal, "# {} {}", l.at(), l.text());
                if let Some(t) = stick_table {
                    let _ = writeln!(bal, "# {} {}: the table `stick on` fills", t.at(), t.text());
                }
                bal.push_str("sticky = \"source_ip\"\n");
            }
            Some(l) if l.word(2) == Some("src") => {
                self.ignore(l, "`cookie` stickiness is used; lbsim has one kind of stickiness")
            }
            Some(l) => self.ignore(l, "only `stick on src` (a stick table keyed by the client address) is modeled"),
            None => {
                if let Some(t) = stick_table {
                    self.ignore(t, "no `stick on` uses the table");
                }
            }
        }

        // Servers.
        let mut out = String::new();
        let mut taken = Vec::new();
        let mut seen = Vec::new();
        let live = servers.iter().filter(|(_, p)| !p.disabled && p.weight > 0).count();
        if live > MAX_GROUPS {
            return Err(user(format!(
                "{}: {live} servers; a scenario takes at most {MAX_GROUPS} server groups",
                head.pos(0)
            )));
        }
        if servers.iter().filter(|(_, p)| !p.disabled && p.weight > 0).all(|(_, p)| p.backup) {
            return Err(user(format!(
                "{}: `{} {name}` has no active non-backup server: nothing to balance",
                head.pos(0),
                head.name()
            )));
        }
        for (l, sp) in &servers {
            let sname = l.word(1).unwrap_or("");
            if sp.disabled {
                let _ = writeln!(out, "# {} {}: `disabled`: left out\n", l.at(), l.text());
                continue;
            }
            if sp.weight == 0 {
                let _ = writeln!(out, "# {} {}: weight 0 takes no balanced traffic: left out\n", l.at(), l.text());
                continue;
            }
            let g = group_name(sname, &mut taken);
            let _ = writeln!(out, "# {} {}", l.at(), l.text());
            let _ = writeln!(out, "[[servers]]\nname = {}\ncount = 1", toml_str(&g));
            if sp.weight != 1 {
                let _ = writeln!(out, "weight = {}", sp.weight);
            }
            if sp.backup {
                out.push_str("backup = true\n");
            }
            if let Some(addr) = l.word(2) {
                out.push_str(&super::address_line(addr, &mut seen));
            }
            out.push_str("# placeholder: haproxy.cfg does not say how fast the server is; measure it and set this\n");
            out.push_str("service = { dist = \"exponential\", mean = \"10ms\" }\n\n");
        }
        let _ = writeln!(
            out,
            "# placeholder traffic: {rate} requests/s in total from 100 clients; replace it with your own"
        );
        let _ = writeln!(out, "[[clients]]\nname = \"clients\"\ncount = 100\nrate = {:?}", rate / 100.0);
        if keys {
            out.push_str("# placeholder: the hashed attribute's values\nkeys = { count = 1000, skew = 0 }\n");
        }

        let mut text = format!(
            "# Imported by `lbsim import haproxy` from {} ({} {name}, {}).\n# Only this section and the `defaults` before it are read.\n\n",
            comment(file),
            head.name(),
            head.at()
        );
        text.push_str(&self.head);
        let _ = writeln!(text, "\nname = {}\nduration = \"60s\"\n", toml_str(&format!("haproxy-{name}")));
        text.push_str(&out);
        text.push_str(&bal);
        Ok(Imported { scenario: text, warnings: self.warnings })
    }

    fn approx(&mut self, bal: &mut String, l: &Line, why: &str) {
        self.warnings.push(format!("{}: `{}`: approximated: {why}", l.loc(), l.text()));
        let _ = writeln!(bal, "# approximated: {why}");
    }
}
