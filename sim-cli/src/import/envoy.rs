//! `lbsim import envoy`: an Envoy v3 cluster (YAML or JSON; a bootstrap's
//! `static_resources.clusters`, a `clusters:` list, xDS `resources`, or one cluster) read into a
//! tree that keeps each node's line and column, and mapped to a scenario.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

use super::{Imported, comment, group_name, toml_str};
use crate::error::user;

/// Largest configuration file read.
const MAX_FILE_BYTES: usize = 16 << 20;
/// Most server groups a scenario takes.
const MAX_GROUPS: usize = 1000;
/// Deepest nesting of mappings and sequences (Envoy configs are a dozen levels deep).
const MAX_DEPTH: usize = 64;
/// Most nodes, counting aliases' copies (an alias bomb is refused, not expanded).
const MAX_NODES: usize = 1_000_000;

/// A YAML node with where it starts (line, column; both from 1).
#[derive(Clone, Debug)]
struct Node {
    line: usize,
    col: usize,
    /// The line of the key this node is the value of (its own line elsewhere): a block
    /// mapping's value starts on the line after its key, and comments name the key's line.
    key_line: usize,
    kind: Kind,
}

#[derive(Clone, Debug)]
enum Kind {
    Scalar(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

impl Node {
    fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    fn what(&self) -> &'static str {
        match self.kind {
            Kind::Scalar(_) => "a scalar",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }
}

/// A mapping key waiting for its value: the key, its line and column.
type PendingKey = Option<(String, usize, usize)>;

/// Builds the node tree from the parser's events (no recursion: a stack of open nodes).
struct Builder {
    /// Open containers: the node, its anchor, and the pending key of a mapping.
    stack: Vec<(Node, usize, PendingKey)>,
    anchors: Vec<(usize, Node)>,
    docs: Vec<Node>,
    nodes: usize,
    error: Option<String>,
}

impl Builder {
    fn push(&mut self, node: Node, anchor: usize) {
        self.nodes += count(&node);
        if self.nodes > MAX_NODES {
            self.error.get_or_insert(format!(
                "{}:{}: more than {MAX_NODES} YAML nodes (aliases included); the importer reads at most that many",
                node.line, node.col
            ));
            return;
        }
        if anchor > 0 {
            self.anchors.push((anchor, node.clone()));
        }
        let Some((parent, _, key)) = self.stack.last_mut() else {
            self.docs.push(node);
            return;
        };
        match &mut parent.kind {
            Kind::Seq(items) => items.push(node),
            Kind::Map(entries) => match key.take() {
                None => match node.kind {
                    Kind::Scalar(k) => {
                        if entries.iter().any(|(e, _)| *e == k) {
                            self.error.get_or_insert(format!(
                                "{}:{}: duplicate key `{}`: each key may appear once in a mapping",
                                node.line,
                                node.col,
                                comment(&k)
                            ));
                        }
                        *key = Some((k, node.line, node.col));
                    }
                    _ => {
                        self.error.get_or_insert(format!(
                            "{}:{}: a mapping key must be a plain value, not {}",
                            node.line,
                            node.col,
                            node.what()
                        ));
                        *key = Some((String::new(), node.line, node.col));
                    }
                },
                Some((k, key_line, _)) => entries.push((k, Node { key_line, ..node })),
            },
            Kind::Scalar(_) => unreachable!("scalars are never open"),
        }
    }
}

fn count(node: &Node) -> usize {
    let mut n = 0;
    let mut todo = vec![node];
    while let Some(x) = todo.pop() {
        n += 1;
        match &x.kind {
            Kind::Scalar(_) => {}
            Kind::Seq(items) => todo.extend(items),
            Kind::Map(m) => todo.extend(m.iter().map(|(_, v)| v)),
        }
    }
    n
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let (line, col) = (mark.line(), mark.col() + 1);
        match ev {
            Event::Scalar(text, _, anchor, _) => {
                self.push(Node { line, col, key_line: line, kind: Kind::Scalar(text) }, anchor)
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    self.error.get_or_insert(format!(
                        "{line}:{col}: nested more than {MAX_DEPTH} levels deep; the importer reads at most {MAX_DEPTH}"
                    ));
                    return;
                }
                let kind = if matches!(ev, Event::SequenceStart(..)) { Kind::Seq(vec![]) } else { Kind::Map(vec![]) };
                self.stack.push((Node { line, col, key_line: line, kind }, anchor, None));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((node, anchor, _)) = self.stack.pop() {
                    self.push(node, anchor);
                }
            }
            Event::Alias(id) => match self.anchors.iter().rev().find(|(a, _)| *a == id) {
                Some((_, n)) => {
                    let mut n = n.clone();
                    (n.line, n.col, n.key_line) = (line, col, line);
                    self.push(n, 0);
                }
                None => {
                    self.error.get_or_insert(format!("{line}:{col}: alias to an unknown anchor"));
                }
            },
            _ => {}
        }
    }
}

/// Parses YAML (JSON is YAML 1.2) into one document's tree; errors carry file:line:column.
fn parse(file: &str, text: &str) -> Result<Node> {
    let mut b = Builder { stack: vec![], anchors: vec![], docs: vec![], nodes: 0, error: None };
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut b, true) {
        let m = e.marker();
        return Err(user(format!(
            "{file}:{}:{}: {}: expected Envoy cluster configuration in YAML or JSON",
            m.line(),
            m.col() + 1,
            e.info()
        )));
    }
    if let Some(e) = b.error {
        return Err(user(format!("{file}:{e}")));
    }
    match b.docs.len() {
        1 => Ok(b.docs.pop().expect("one")),
        0 => Err(user(format!("{file}: empty: expected an Envoy cluster (YAML or JSON)"))),
        n => Err(user(format!(
            "{file}:{}:{}: {n} YAML documents; expected one (a bootstrap, a `clusters:` list or one cluster)",
            b.docs[1].line, b.docs[1].col
        ))),
    }
}

/// Envoy duration: `"5s"`, `"0.25s"` (protobuf JSON) or `{seconds, nanos}`; in nanoseconds.
fn duration_ns(node: &Node) -> Option<u64> {
    match &node.kind {
        Kind::Scalar(s) => {
            let s = s.strip_suffix('s')?;
            let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
            if whole.is_empty() || frac.len() > 9 || !(whole.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())) {
                return None;
            }
            let secs: u64 = whole.parse().ok()?;
            let nanos: u64 = if frac.is_empty() { 0 } else { format!("{frac:0<9}").parse().ok()? };
            secs.checked_mul(1_000_000_000)?.checked_add(nanos)
        }
        Kind::Map(m) => {
            let mut total = 0u64;
            for (k, v) in m {
                let Kind::Scalar(t) = &v.kind else { return None };
                let n: u64 = t.parse().ok()?;
                total = match k.as_str() {
                    "seconds" => total.checked_add(n.checked_mul(1_000_000_000)?)?,
                    "nanos" if n < 1_000_000_000 => total.checked_add(n)?,
                    _ => return None,
                };
            }
            Some(total)
        }
        Kind::Seq(_) => None,
    }
}

/// A scenario duration in the largest unit that keeps it exact.
/// `{ a = 1, b = 2 }`, or `{}` (Envoy's defaults, which are lbsim's).
fn inline_table(fields: &[String]) -> String {
    if fields.is_empty() { "{}".to_string() } else { format!("{{ {} }}", fields.join(", ")) }
}

fn duration_text(ns: u64) -> String {
    for (unit, per) in [("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000)] {
        if ns.is_multiple_of(per) {
            return format!("{}{unit}", ns / per);
        }
    }
    format!("{ns}ns")
}

/// Where a node is, for messages.
struct Src<'a> {
    file: &'a str,
    short: String,
}

impl Src<'_> {
    fn pos(&self, n: &Node) -> String {
        format!("{}:{}:{}", self.file, n.line, n.col)
    }
    fn loc(&self, n: &Node) -> String {
        format!("{}:{}", self.file, n.key_line)
    }
    fn at(&self, n: &Node) -> String {
        format!("{}:{}", self.short, n.key_line)
    }
}

pub fn import(file: &str, cluster: Option<&str>, rate: f64) -> Result<Imported> {
    let text = crate::load::bounded_text(file, file, MAX_FILE_BYTES, "the importer's limit on config files")?;
    let root = parse(file, &text)?;
    let src =
        Src { file, short: Path::new(file).file_name().map_or(file.to_string(), |n| n.to_string_lossy().into_owned()) };
    if !matches!(root.kind, Kind::Map(_)) {
        return Err(user(format!(
            "{}: the top level is {}; expected a mapping (a bootstrap, `clusters:` or one cluster)",
            src.pos(&root),
            root.what()
        )));
    }
    // Where the clusters are: a bootstrap, a bare list, an xDS response, or the cluster itself.
    let list = root.get("static_resources").and_then(|s| s.get("clusters")).or_else(|| root.get("clusters"));
    let clusters: Vec<&Node> = if let Some(list) = list {
        match &list.kind {
            Kind::Seq(items) => items.iter().collect(),
            _ => return Err(user(format!("{}: `clusters` is {}; expected a list", src.pos(list), list.what()))),
        }
    } else if let Some(Node { kind: Kind::Seq(items), .. }) = root.get("resources") {
        items.iter().collect()
    } else if root.get("load_assignment").is_some() || root.get("lb_policy").is_some() {
        vec![&root]
    } else {
        return Err(user(format!(
            "{}: no cluster: expected `static_resources.clusters`, `clusters`, `resources` or a cluster with `load_assignment`",
            src.pos(&root)
        )));
    };
    let name_of = |c: &Node| match c.get("name").map(|n| &n.kind) {
        Some(Kind::Scalar(s)) => s.clone(),
        _ => String::new(),
    };
    let names: Vec<String> = clusters.iter().map(|c| name_of(c)).collect();
    let chosen = match cluster {
        Some(want) => clusters.iter().position(|c| name_of(c) == want).ok_or_else(|| {
            user(format!(
                "{file}: no cluster named {want}; the file has: {}",
                if names.is_empty() { "none".to_string() } else { names.join(", ") }
            ))
        })?,
        None => match clusters.len() {
            1 => 0,
            0 => return Err(user(format!("{file}: the cluster list is empty: nothing to balance"))),
            _ => {
                return Err(user(format!(
                    "{file}: several clusters ({}): choose one with --cluster NAME",
                    names.join(", ")
                )));
            }
        },
    };
    let c = clusters[chosen];
    if !matches!(c.kind, Kind::Map(_)) {
        return Err(user(format!("{}: a cluster is {}; expected a mapping", src.pos(c), c.what())));
    }
    let retry = route_retry_policy(&root, &names[chosen]);
    Mapper { src, warnings: vec![], head: String::new() }.map(c, &names[chosen], rate, retry)
}

/// The `retry_policy` of the first route to `cluster` in a bootstrap's listeners
/// (`static_resources.listeners[].filter_chains[].filters[].typed_config.route_config
/// .virtual_hosts[].routes[].route`), if the file has one: Envoy's retries belong to the
/// route, their budget to the cluster.
fn route_retry_policy<'n>(root: &'n Node, cluster: &str) -> Option<&'n Node> {
    let seq = |n: Option<&'n Node>| -> &'n [Node] {
        match n.map(|n| &n.kind) {
            Some(Kind::Seq(items)) => items,
            _ => &[],
        }
    };
    let listeners = root.get("static_resources").and_then(|s| s.get("listeners")).or_else(|| root.get("listeners"));
    for l in seq(listeners) {
        for chain in seq(l.get("filter_chains")) {
            for f in seq(chain.get("filters")) {
                let Some(rc) = f.get("typed_config").and_then(|t| t.get("route_config")) else { continue };
                for vh in seq(rc.get("virtual_hosts")) {
                    for r in seq(vh.get("routes")) {
                        let Some(route) = r.get("route") else { continue };
                        let to_cluster =
                            matches!(route.get("cluster").map(|c| &c.kind), Some(Kind::Scalar(c)) if c == cluster);
                        if to_cluster && let Some(p) = route.get("retry_policy") {
                            return Some(p);
                        }
                    }
                }
            }
        }
    }
    None
}

struct Mapper<'a> {
    src: Src<'a>,
    warnings: Vec<String>,
    head: String,
}

/// One endpoint: where it is written, its address, weight and priority.
struct Endpoint<'a> {
    node: &'a Node,
    address: String,
    weight: u64,
    priority: u64,
}

impl Mapper<'_> {
    fn ignore(&mut self, key: &str, n: &Node, why: &str) {
        self.warnings.push(format!("{}: `{key}`: {why}", self.src.loc(n)));
        let _ = writeln!(self.head, "# {} {key}: ignored: {why}", self.src.at(n));
    }

    fn approx(&mut self, out: &mut String, key: &str, n: &Node, why: &str) {
        self.warnings.push(format!("{}: `{key}`: approximated: {why}", self.src.loc(n)));
        let _ = writeln!(out, "# approximated: {why}");
    }

    fn scalar<'n>(&self, key: &str, n: &'n Node) -> Result<&'n str> {
        match &n.kind {
            Kind::Scalar(s) => Ok(s),
            _ => Err(user(format!("{}: `{key}` is {}; expected a value", self.src.pos(n), n.what()))),
        }
    }

    fn map_of<'n>(&self, key: &str, n: &'n Node) -> Result<&'n [(String, Node)]> {
        match &n.kind {
            Kind::Map(m) => Ok(m),
            _ => Err(user(format!("{}: `{key}` is {}; expected a mapping", self.src.pos(n), n.what()))),
        }
    }

    fn seq_of<'n>(&self, key: &str, n: &'n Node) -> Result<&'n [Node]> {
        match &n.kind {
            Kind::Seq(s) => Ok(s),
            _ => Err(user(format!("{}: `{key}` is {}; expected a list", self.src.pos(n), n.what()))),
        }
    }

    /// A whole number (protobuf JSON may quote it; a wrapper may be `{value: N}`).
    fn uint(&self, key: &str, n: &Node, range: std::ops::RangeInclusive<u64>) -> Result<u64> {
        let n = n.get("value").unwrap_or(n);
        self.scalar(key, n)?.parse::<u64>().ok().filter(|v| range.contains(v)).ok_or_else(|| {
            user(format!(
                "{}: `{key}`: expected a whole number from {} to {}",
                self.src.pos(n),
                range.start(),
                range.end()
            ))
        })
    }

    fn number(&self, key: &str, n: &Node, lo: f64, hi: f64) -> Result<f64> {
        let n = n.get("value").unwrap_or(n);
        self.scalar(key, n)?
            .parse::<f64>()
            .ok()
            .filter(|v| (lo..=hi).contains(v))
            .ok_or_else(|| user(format!("{}: `{key}`: expected a number from {lo} to {hi}", self.src.pos(n))))
    }

    fn duration(&self, key: &str, n: &Node, lo_ns: u64, hi_ns: u64) -> Result<u64> {
        duration_ns(n).filter(|v| (lo_ns..=hi_ns).contains(v)).ok_or_else(|| {
            user(format!(
                "{}: `{key}`: expected a duration (\"5s\", \"0.5s\" or {{seconds: 5, nanos: 0}}) from {} to {}",
                self.src.pos(n),
                duration_text(lo_ns),
                duration_text(hi_ns)
            ))
        })
    }

    /// `slow_start_config` (`envoy.config.cluster.v3.Cluster.SlowStartConfig`) as the
    /// `[balancer]` line `slow_start = { … }`: `slow_start_window`, `aggression` (a runtime
    /// double: its `default_value`, 1.0 when absent) and `min_weight_percent` (10 when absent).
    fn slow_start(&mut self, n: &Node) -> Result<String> {
        let (mut window, mut aggression, mut min_percent) = (None, 1.0, 10.0);
        for (k, v) in self.map_of("slow_start_config", n)? {
            match k.as_str() {
                "slow_start_window" => {
                    window = Some(self.duration(k, v, 1_000_000, 365 * 24 * 3600 * 1_000_000_000)?)
                }
                "aggression" => {
                    let value = v.get("default_value").unwrap_or(v);
                    aggression = self.number("aggression.default_value", value, -1e9, 1_000.0)?;
                    if aggression <= 0.0 {
                        // Envoy logs an error and ramps linearly.
                        self.ignore("slow_start_config.aggression", v, "Envoy uses 1.0 for an aggression of 0 or less");
                        aggression = 1.0;
                    }
                }
                "min_weight_percent" => min_percent = self.number("min_weight_percent", v, 0.0, 100.0)?,
                other => self.ignore(&format!("slow_start_config.{other}"), v, "not modeled by lbsim"),
            }
        }
        let Some(window) = window else {
            // Envoy: without a window slow start is off.
            self.ignore("slow_start_config", n, "without slow_start_window slow start is off");
            return Ok(String::new());
        };
        Ok(format!(
            "# {} slow_start_config\nslow_start = {{ window = \"{}\", aggression = {aggression:?}, min_weight_percent = {min_percent:?} }}\n",
            self.src.at(n),
            duration_text(window)
        ))
    }

    fn endpoints<'n>(&mut self, la: &'n Node) -> Result<Vec<Endpoint<'n>>> {
        let mut out = Vec::new();
        for (k, v) in self.map_of("load_assignment", la)? {
            match k.as_str() {
                "cluster_name" => {}
                "endpoints" => {
                    for loc in self.seq_of("endpoints", v)? {
                        let mut priority = 0;
                        let mut lbs: &[Node] = &[];
                        for (lk, lv) in self.map_of("endpoints[]", loc)? {
                            match lk.as_str() {
                                "priority" => priority = self.uint("priority", lv, 0..=127)?,
                                "lb_endpoints" => lbs = self.seq_of("lb_endpoints", lv)?,
                                "locality" => {
                                    let _ = writeln!(
                                        self.head,
                                        "# {} locality: lbsim has no zones; its endpoints are balanced with the rest",
                                        self.src.at(lv)
                                    );
                                }
                                "load_balancing_weight" => self.ignore(
                                    "endpoints[].load_balancing_weight",
                                    lv,
                                    "locality weights are not modeled (lbsim has no localities); endpoint weights are",
                                ),
                                other => self.ignore(&format!("endpoints[].{other}"), lv, "not modeled by lbsim"),
                            }
                        }
                        for ep in lbs {
                            out.push(self.endpoint(ep, priority)?);
                        }
                    }
                }
                "policy" => {
                    for (pk, pv) in self.map_of("policy", v)? {
                        self.ignore(&format!("load_assignment.policy.{pk}"), pv, "not modeled by lbsim");
                    }
                }
                other => self.ignore(&format!("load_assignment.{other}"), v, "not modeled by lbsim"),
            }
        }
        Ok(out)
    }

    fn endpoint<'n>(&mut self, ep: &'n Node, priority: u64) -> Result<Endpoint<'n>> {
        let mut weight = 1;
        let mut address = None;
        for (k, v) in self.map_of("lb_endpoints[]", ep)? {
            match k.as_str() {
                "load_balancing_weight" => weight = self.uint("load_balancing_weight", v, 1..=1000)?,
                "endpoint" => {
                    for (ek, ev) in self.map_of("endpoint", v)? {
                        match ek.as_str() {
                            "address" => {
                                let sa = ev.get("socket_address").ok_or_else(|| {
                                    user(format!(
                                        "{}: `address`: expected `socket_address` (pipes and internal addresses are not balanced by lbsim)",
                                        self.src.pos(ev)
                                    ))
                                })?;
                                let host = sa.get("address").ok_or_else(|| {
                                    user(format!("{}: `socket_address` needs `address`", self.src.pos(sa)))
                                })?;
                                let host = self.scalar("address", host)?;
                                address = Some(match sa.get("port_value") {
                                    Some(p) => format!("{host}:{}", self.uint("port_value", p, 0..=65535)?),
                                    None => host.to_string(),
                                });
                            }
                            "hostname" => {}
                            "health_check_config" => {
                                self.ignore("endpoint.health_check_config", ev, "lbsim checks the server itself")
                            }
                            other => self.ignore(&format!("endpoint.{other}"), ev, "not modeled by lbsim"),
                        }
                    }
                }
                "health_status" => {
                    self.ignore("health_status", v, "lbsim starts every server healthy; its health checks decide")
                }
                "metadata" => {}
                other => self.ignore(&format!("lb_endpoints[].{other}"), v, "not modeled by lbsim"),
            }
        }
        let address = address.ok_or_else(|| {
            user(format!("{}: an lb_endpoint needs `endpoint.address.socket_address`", self.src.pos(ep)))
        })?;
        Ok(Endpoint { node: ep, address, weight, priority })
    }

    /// A route's `retry_policy` (Envoy's `RetryPolicy`) and the cluster's retry budget as
    /// `[balancer.retry]` fields; `None` (with a warning) when none of its conditions is one
    /// lbsim has. `5xx`, `gateway-error` and `reset` also retry per-try timeouts in Envoy.
    fn retry_policy(&mut self, n: &Node, budget: Option<(f64, u64)>) -> Result<Option<Vec<String>>> {
        let mut outcomes: Vec<&str> = Vec::new();
        let mut fields = Vec::new();
        let mut per_try = false;
        let mut conditions: Option<&Node> = None;
        for (k, v) in self.map_of("retry_policy", n)? {
            match k.as_str() {
                "retry_on" => conditions = Some(v),
                "num_retries" => fields.push(format!("num_retries = {}", self.uint(k, v, 1..=100)?)),
                "per_try_timeout" => {
                    let ns = self.duration(k, v, 1_000_000, 3_600_000_000_000)?;
                    fields.push(format!("per_try_timeout = \"{}\"", duration_text(ns)));
                    per_try = true;
                }
                "retry_back_off" => {
                    for (bk, bv) in self.map_of("retry_back_off", v)? {
                        match bk.as_str() {
                            "base_interval" => {
                                let ns = self.duration(bk, bv, 1_000_000, 3_600_000_000_000)?;
                                fields.push(format!("base_interval = \"{}\"", duration_text(ns)));
                            }
                            "max_interval" => {
                                let ns = self.duration(bk, bv, 1_000_000, 36_000_000_000_000)?;
                                fields.push(format!("max_interval = \"{}\"", duration_text(ns)));
                            }
                            other => {
                                self.ignore(&format!("retry_policy.retry_back_off.{other}"), bv, "not modeled by lbsim")
                            }
                        }
                    }
                }
                "retry_host_predicate" => {
                    for pred in self.seq_of("retry_host_predicate", v)? {
                        let name =
                            pred.get("name").map(|x| self.scalar("retry_host_predicate[].name", x)).transpose()?;
                        if name == Some("envoy.retry_host_predicates.previous_hosts") {
                            fields.push("retry_host_predicate = \"previous_hosts\"".into());
                        } else {
                            self.ignore("retry_policy.retry_host_predicate[]", pred, "lbsim has only previous_hosts");
                        }
                    }
                }
                "host_selection_retry_max_attempts" => {
                    fields.push(format!("host_selection_retry_max_attempts = {}", self.uint(k, v, 0..=100)?))
                }
                other => self.ignore(&format!("retry_policy.{other}"), v, "not modeled by lbsim"),
            }
        }
        let text = match conditions {
            Some(v) => self.scalar("retry_on", v)?.to_string(),
            None => String::new(),
        };
        for cond in text.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            let (mapped, timeout): (&[&str], bool) = match cond {
                "5xx" => (&["server_error", "rejected", "connection_error"], true),
                "gateway-error" | "reset" => (&["connection_error"], true),
                "connect-failure" | "refused-stream" => (&["connection_error"], false),
                _ => {
                    self.ignore(
                        &format!("retry_policy.retry_on {cond}"),
                        conditions.expect("read"),
                        "not a condition lbsim has",
                    );
                    continue;
                }
            };
            for o in mapped.iter().copied().chain((timeout && per_try).then_some("timeout")) {
                if !outcomes.contains(&o) {
                    outcomes.push(o);
                }
            }
        }
        if outcomes.is_empty() {
            self.ignore("retry_policy", n, "no `retry_on` condition lbsim has: nothing is retried");
            return Ok(None);
        }
        // lbsim's order of outcomes, whatever the order of the conditions.
        let order = ["timeout", "rejected", "connection_error", "server_error"];
        outcomes.sort_by_key(|o| order.iter().position(|x| x == o));
        let list: Vec<String> = outcomes.iter().map(|o| format!("\"{o}\"")).collect();
        fields.insert(0, format!("retry_on = [{}]", list.join(", ")));
        if let Some((percent, min)) = budget {
            fields.push(format!("budget_percent = {percent:?}"));
            fields.push(format!("min_retry_concurrency = {min}"));
        }
        Ok(Some(fields))
    }

    fn map(mut self, c: &Node, name: &str, rate: f64, retry: Option<&Node>) -> Result<Imported> {
        let mut bal = String::from("\n[balancer]\n");
        let mut lb_policy: Option<&Node> = None;
        let mut lr_config: Option<&Node> = None;
        let mut ring_config: Option<&Node> = None;
        let mut rr_config: Option<&Node> = None;
        let mut maglev_config: Option<&Node> = None;
        let mut assignment: Option<&Node> = None;
        let mut health: Option<&Node> = None;
        let mut common: Option<&Node> = None;
        let mut outlier: Option<&Node> = None;
        let mut breakers: Option<&Node> = None;
        let Kind::Map(entries) = &c.kind else { unreachable!("checked by the caller") };
        for (k, v) in entries {
            match k.as_str() {
                "name" | "@type" => {}
                "lb_policy" => lb_policy = Some(v),
                "least_request_lb_config" => lr_config = Some(v),
                "round_robin_lb_config" => rr_config = Some(v),
                "ring_hash_lb_config" => ring_config = Some(v),
                "maglev_lb_config" => maglev_config = Some(v),
                "load_assignment" => assignment = Some(v),
                "health_checks" => health = Some(v),
                "common_lb_config" => common = Some(v),
                "type" | "cluster_type" => {
                    let t = match &v.kind {
                        Kind::Scalar(s) => s.clone(),
                        _ => "custom".to_string(),
                    };
                    let _ = writeln!(
                        self.head,
                        "# {} type {}: how Envoy finds the endpoints; lbsim takes the listed ones as they are",
                        self.src.at(v),
                        comment(&t)
                    );
                }
                "outlier_detection" => outlier = Some(v),
                "circuit_breakers" => breakers = Some(v),
                "connect_timeout" | "per_connection_buffer_limit_bytes" => {
                    self.ignore(k, v, "lbsim's balancer has no upstream timeouts or buffers")
                }
                "transport_socket"
                | "typed_extension_protocol_options"
                | "http2_protocol_options"
                | "http_protocol_options"
                | "dns_lookup_family"
                | "dns_refresh_rate"
                | "respect_dns_ttl"
                | "dns_resolvers"
                | "typed_dns_resolver_config"
                | "alt_stat_name"
                | "metadata"
                | "upstream_connection_options" => {
                    let _ = writeln!(self.head, "# {} {k}: not about balancing", self.src.at(v));
                }
                other => self.ignore(other, v, "not modeled by lbsim"),
            }
        }

        // Endpoints: the lowest priority is the primary pool, the rest are backups.
        let la = assignment.ok_or_else(|| {
            user(format!(
                "{}: cluster {name} has no `load_assignment`: lbsim needs the endpoints listed (EDS and DNS are not read)",
                self.src.pos(c)
            ))
        })?;
        let eps = self.endpoints(la)?;
        if eps.is_empty() {
            return Err(user(format!("{}: `load_assignment` has no endpoints: nothing to balance", self.src.pos(la))));
        }
        if eps.len() > MAX_GROUPS {
            return Err(user(format!(
                "{}: {} endpoints; a scenario takes at most {MAX_GROUPS} server groups",
                self.src.pos(la),
                eps.len()
            )));
        }
        let first = eps.iter().map(|e| e.priority).min().expect("not empty");
        // Envoy's RANDOM picks uniformly among the hosts (weights unread); lbsim's is weighted.
        let unweighted = matches!(c.get("lb_policy").map(|n| &n.kind), Some(Kind::Scalar(p)) if p == "RANDOM");
        if unweighted && let Some(e) = eps.iter().find(|e| e.weight != 1) {
            let why = "Envoy's RANDOM ignores endpoint weights, so they are left out";
            self.warnings.push(format!("{}: `load_balancing_weight {}`: {why}", self.src.loc(e.node), e.weight));
        }
        let mut servers = String::new();
        let mut taken = Vec::new();
        let mut seen = Vec::new();
        for e in &eps {
            let g = group_name(&e.address, &mut taken);
            let _ = writeln!(servers, "# {} endpoint {}", self.src.at(e.node), comment(&e.address));
            let _ = writeln!(servers, "[[servers]]\nname = {}\ncount = 1", toml_str(&g));
            if e.weight != 1 && unweighted {
                let _ = writeln!(servers, "# load_balancing_weight {}: Envoy's RANDOM ignores it", e.weight);
            } else if e.weight != 1 {
                let _ = writeln!(servers, "weight = {}", e.weight);
            }
            if e.priority > first {
                let _ = writeln!(servers, "# priority {}", e.priority);
                servers.push_str("backup = true\n");
            }
            servers.push_str(&super::address_line(&e.address, &mut seen));
            servers
                .push_str("# placeholder: the cluster does not say how fast the server is; measure it and set this\n");
            servers.push_str("service = { dist = \"exponential\", mean = \"10ms\" }\n\n");
        }
        if let Some(e) = eps.iter().find(|e| e.priority > first) {
            let why = "Envoy spills traffic to the next priority as the healthy share of one falls below 100% / 1.4 (the overprovisioning factor); lbsim's backups take traffic only when every primary is down";
            self.warnings.push(format!("{}: `priority {}`: approximated: {why}", self.src.loc(e.node), e.priority));
            let _ = writeln!(bal, "# endpoints with priority above {first} are backups\n# approximated: {why}");
        }
        if first > 0 {
            let _ = writeln!(bal, "# no endpoint has priority 0: priority {first} is the primary pool");
        }

        // The cluster does not say whether its listener proxies HTTP or TCP.
        bal.push_str("# the cluster does not say: http_connection_manager listeners are l7, tcp_proxy l4\n");
        bal.push_str("layer = \"l7\"\n");

        // The algorithm.
        let policy = match lb_policy {
            Some(n) => self.scalar("lb_policy", n)?.to_string(),
            None => "ROUND_ROBIN".to_string(),
        };
        match lb_policy {
            Some(n) => {
                let _ = writeln!(bal, "# {} lb_policy: {}", self.src.at(n), comment(&policy));
            }
            None => bal.push_str("# no `lb_policy`: Envoy's default, ROUND_ROBIN\n"),
        }
        let weighted = eps.iter().any(|e| e.weight != eps[0].weight);
        let mut hashed = false;
        // Bounded loads: common_lb_config.consistent_hashing_lb_config.hash_balance_factor (a
        // percentage of the average load, at least 100) on RING_HASH and MAGLEV clusters.
        let mut balance_factor = None;
        if let Some(cl) = common {
            for (k, v) in self.map_of("common_lb_config", cl)? {
                if k == "consistent_hashing_lb_config" {
                    for (k2, v2) in self.map_of("consistent_hashing_lb_config", v)? {
                        match k2.as_str() {
                            "hash_balance_factor" => {
                                balance_factor = Some((v2, self.uint("hash_balance_factor", v2, 100..=10_000)?))
                            }
                            other => self.ignore(
                                &format!("consistent_hashing_lb_config.{other}"),
                                v2,
                                "not modeled by lbsim",
                            ),
                        }
                    }
                }
            }
        }
        let factor_note = balance_factor.map(|(v, f)| (format!("# {} hash_balance_factor: {f}", self.src.at(v)), f));
        let bounded = |bal: &mut String, algo: &str| match &factor_note {
            Some((note, f)) if matches!(policy.as_str(), "RING_HASH" | "MAGLEV") => {
                let _ = writeln!(bal, "{note}");
                bal.push_str("algorithm = \"bounded_load_hash\"\n");
                let _ = writeln!(bal, "balance_factor = {:?}", *f as f64 / 100.0);
            }
            _ => {
                let _ = writeln!(bal, "algorithm = \"{algo}\"");
            }
        };
        match policy.as_str() {
            "ROUND_ROBIN" => {
                bal.push_str("algorithm = \"round_robin\"\n");
                if let Some(cfg) = rr_config {
                    for (k, v) in self.map_of("round_robin_lb_config", cfg)? {
                        match k.as_str() {
                            "slow_start_config" => {
                                let line = self.slow_start(v)?;
                                bal.push_str(&line);
                            }
                            other => self.ignore(&format!("round_robin_lb_config.{other}"), v, "not modeled by lbsim"),
                        }
                    }
                }
            }
            "RANDOM" => bal.push_str("algorithm = \"random\"\n"),
            "LEAST_REQUEST" => {
                let mut choices = 2;
                let mut slow = String::new();
                if let Some(cfg) = lr_config {
                    for (k, v) in self.map_of("least_request_lb_config", cfg)? {
                        match k.as_str() {
                            "choice_count" => {
                                choices = self.uint("choice_count", v, 2..=100)?;
                                let _ = writeln!(bal, "# {} choice_count: {choices}", self.src.at(v));
                            }
                            "active_request_bias" => {
                                let bias = self.number("active_request_bias", v, 0.0, 1e6)?;
                                if bias != 1.0 {
                                    self.ignore(
                                        "least_request_lb_config.active_request_bias",
                                        v,
                                        "lbsim weighs active requests with Envoy's default bias, 1.0",
                                    );
                                }
                            }
                            "slow_start_config" => slow = self.slow_start(v)?,
                            other => {
                                self.ignore(&format!("least_request_lb_config.{other}"), v, "not modeled by lbsim")
                            }
                        }
                    }
                }
                bal.push_str("algorithm = \"power_of_two\"\n");
                let _ = writeln!(bal, "choices = {choices}");
                bal.push_str(&slow);
                if weighted {
                    self.approx(
                        &mut bal,
                        "lb_policy: LEAST_REQUEST",
                        lb_policy.expect("LEAST_REQUEST is written"),
                        "with unequal weights Envoy schedules by weight / (active requests + 1); lbsim samples by weight and keeps the least loaded",
                    );
                }
            }
            "RING_HASH" => {
                hashed = true;
                let mut min = 1024;
                let mut max_node = None;
                if let Some(cfg) = ring_config {
                    for (k, v) in self.map_of("ring_hash_lb_config", cfg)? {
                        match k.as_str() {
                            "minimum_ring_size" => {
                                min = self.uint("minimum_ring_size", v, 1..=8_388_608)?;
                                let _ = writeln!(bal, "# {} minimum_ring_size: {min}", self.src.at(v));
                            }
                            "maximum_ring_size" => {
                                max_node = Some((v, self.uint("maximum_ring_size", v, 1..=8_388_608)?));
                            }
                            "hash_function" => {
                                let f = self.scalar("hash_function", v)?;
                                if f != "XX_HASH" {
                                    self.ignore(
                                        "ring_hash_lb_config.hash_function",
                                        v,
                                        "lbsim's ring uses xxHash, Envoy's default",
                                    );
                                }
                            }
                            other => self.ignore(&format!("ring_hash_lb_config.{other}"), v, "not modeled by lbsim"),
                        }
                    }
                }
                bounded(&mut bal, "ring_hash");
                let _ = writeln!(bal, "ring_size = {min}");
                if let Some((v, max)) = max_node {
                    let _ = writeln!(
                        bal,
                        "# {} maximum_ring_size: {max}: lbsim's ring is sized from ring_size and the weights",
                        self.src.at(v)
                    );
                    if max < min {
                        return Err(user(format!(
                            "{}: `maximum_ring_size` {max} is below `minimum_ring_size` {min}",
                            self.src.pos(v)
                        )));
                    }
                }
            }
            "MAGLEV" => {
                hashed = true;
                let mut size = 65537;
                if let Some(cfg) = maglev_config {
                    for (k, v) in self.map_of("maglev_lb_config", cfg)? {
                        match k.as_str() {
                            "table_size" => {
                                size = self.uint("table_size", v, 2..=5_000_011)?;
                                if !(2..).take_while(|d| d * d <= size).all(|d| size % d != 0) {
                                    return Err(user(format!(
                                        "{}: `table_size` {size}: expected a prime (Envoy requires it), e.g. 65537",
                                        self.src.pos(v)
                                    )));
                                }
                                let _ = writeln!(bal, "# {} table_size: {size}", self.src.at(v));
                            }
                            other => self.ignore(&format!("maglev_lb_config.{other}"), v, "not modeled by lbsim"),
                        }
                    }
                }
                bounded(&mut bal, "maglev");
                let _ = writeln!(bal, "table_size = {size}");
            }
            "CLUSTER_PROVIDED" | "LOAD_BALANCING_POLICY_CONFIG" => {
                let n = lb_policy.expect("written");
                self.approx(&mut bal, "lb_policy", n, "not modeled by lbsim; round robin stands in");
                bal.push_str("algorithm = \"round_robin\"\n");
            }
            other => {
                let n = lb_policy.expect("written");
                return Err(user(format!(
                    "{}: `lb_policy: {}`: expected ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH, MAGLEV, CLUSTER_PROVIDED or LOAD_BALANCING_POLICY_CONFIG",
                    self.src.pos(n),
                    comment(other)
                )));
            }
        }
        if hashed {
            let why = "the hashed value is set by the route's hash_policy, which the cluster does not say; source_ip stands in (set hash_key to \"header:NAME\" or \"path\" as your route hashes)";
            self.approx(&mut bal, "lb_policy", lb_policy.expect("written"), why);
            bal.push_str("hash_key = \"source_ip\"\n");
        }
        for (key, cfg, used) in [
            ("least_request_lb_config", lr_config, policy == "LEAST_REQUEST"),
            ("round_robin_lb_config", rr_config, policy == "ROUND_ROBIN"),
            ("ring_hash_lb_config", ring_config, policy == "RING_HASH"),
            ("maglev_lb_config", maglev_config, policy == "MAGLEV"),
        ] {
            if let (Some(n), false) = (cfg, used) {
                self.ignore(key, n, "the lb_policy does not read it, so it has no effect");
            }
        }

        // Active health checks (lbsim has one; Envoy may list several).
        let mut checked = false;
        if let Some(h) = health {
            let list = self.seq_of("health_checks", h)?;
            if let Some(hc) = list.first() {
                checked = true;
                let mut interval = None;
                let mut timeout = None;
                let (mut rise, mut fall) = (None, None);
                for (k, v) in self.map_of("health_checks[]", hc)? {
                    match k.as_str() {
                        "interval" => {
                            interval = Some(self.duration("interval", v, 1_000_000, 3_600_000_000_000)?);
                        }
                        "timeout" => timeout = Some(self.duration("timeout", v, 1_000, 3_600_000_000_000)?),
                        "healthy_threshold" => rise = Some(self.uint("healthy_threshold", v, 1..=1000)?),
                        "unhealthy_threshold" => fall = Some(self.uint("unhealthy_threshold", v, 1..=1000)?),
                        "http_health_check" | "tcp_health_check" | "grpc_health_check" | "custom_health_check" => {
                            let _ = writeln!(
                                bal,
                                "# {} {k}: lbsim's checks succeed when the server is up and answers in time",
                                self.src.at(v)
                            );
                        }
                        other => self.ignore(&format!("health_checks[].{other}"), v, "not modeled by lbsim"),
                    }
                }
                let need = |what: &str| {
                    user(format!("{}: a health check needs `{what}` (Envoy requires it too)", self.src.pos(hc)))
                };
                let interval = interval.ok_or_else(|| need("interval"))?;
                let timeout = timeout.ok_or_else(|| need("timeout"))?;
                let rise = rise.ok_or_else(|| need("healthy_threshold"))?;
                let fall = fall.ok_or_else(|| need("unhealthy_threshold"))?;
                let _ = writeln!(
                    bal,
                    "# {} health check: interval {}, timeout {}, healthy_threshold {rise}, unhealthy_threshold {fall}",
                    self.src.at(hc),
                    duration_text(interval),
                    duration_text(timeout)
                );
                let _ = writeln!(
                    bal,
                    "health_check = {{ interval = \"{}\", timeout = \"{}\", rise = {rise}, fall = {fall} }}",
                    duration_text(interval),
                    duration_text(timeout)
                );
                for extra in &list[1..] {
                    self.ignore("health_checks[]", extra, "lbsim runs one health check; the first one is used");
                }
            }
        }

        // Outlier detection: the same names and defaults; only what the file sets is written.
        if let Some(od) = outlier {
            let mut fields = Vec::new();
            for (k, v) in self.map_of("outlier_detection", od)? {
                match k.as_str() {
                    "consecutive_5xx"
                    | "consecutive_gateway_failure"
                    | "success_rate_minimum_hosts"
                    | "success_rate_request_volume"
                    | "success_rate_stdev_factor" => fields.push(format!("{k} = {}", self.uint(k, v, 0..=1_000_000)?)),
                    "enforcing_consecutive_5xx"
                    | "enforcing_consecutive_gateway_failure"
                    | "enforcing_success_rate"
                    | "max_ejection_percent" => fields.push(format!("{k} = {}", self.uint(k, v, 0..=100)?)),
                    "interval" | "base_ejection_time" | "max_ejection_time" => {
                        let ns = self.duration(k, v, 1_000_000, 86_400_000_000_000)?;
                        fields.push(format!("{k} = \"{}\"", duration_text(ns)));
                    }
                    other => self.ignore(&format!("outlier_detection.{other}"), v, "not modeled by lbsim"),
                }
            }
            let _ = writeln!(bal, "# {} outlier_detection: Envoy's, per replica", self.src.at(od));
            let _ = writeln!(bal, "outlier_detection = {}", inline_table(&fields));
        }
        // Circuit breakers: the DEFAULT priority's thresholds (lbsim has one priority); its
        // retry budget goes with the route's retry policy.
        let mut budget: Option<(f64, u64, &Node)> = None;
        if let Some(cb) = breakers {
            let mut fields = Vec::new();
            for (k, v) in self.map_of("circuit_breakers", cb)? {
                if k != "thresholds" {
                    self.ignore(&format!("circuit_breakers.{k}"), v, "not modeled by lbsim");
                    continue;
                }
                for t in self.seq_of("circuit_breakers.thresholds", v)? {
                    let entries = self.map_of("thresholds[]", t)?;
                    let high = entries
                        .iter()
                        .any(|(k, v)| k == "priority" && matches!(&v.kind, Kind::Scalar(s) if s == "HIGH"));
                    if high {
                        self.ignore(
                            "circuit_breakers.thresholds[] (priority HIGH)",
                            t,
                            "lbsim's routes have one priority, DEFAULT",
                        );
                        continue;
                    }
                    for (k, v) in entries {
                        match k.as_str() {
                            "priority" => {}
                            "max_requests" | "max_retries" | "max_pending_requests" => {
                                fields.push(format!("{k} = {}", self.uint(k, v, 0..=100_000_000)?))
                            }
                            "max_connections" => fields.push(format!("{k} = {}", self.uint(k, v, 1..=100_000_000)?)),
                            "retry_budget" => {
                                // Envoy's defaults: 20% and 3.
                                let (mut percent, mut min) = (20.0, 3);
                                for (bk, bv) in self.map_of("retry_budget", v)? {
                                    match bk.as_str() {
                                        "budget_percent" => percent = self.number(bk, bv, 0.0, 100.0)?,
                                        "min_retry_concurrency" => min = self.uint(bk, bv, 0..=1_000_000)?,
                                        other => {
                                            self.ignore(&format!("retry_budget.{other}"), bv, "not modeled by lbsim")
                                        }
                                    }
                                }
                                budget = Some((percent, min, v));
                            }
                            other => self.ignore(
                                &format!("circuit_breakers.thresholds[].{other}"),
                                v,
                                "not modeled by lbsim",
                            ),
                        }
                    }
                }
            }
            // A threshold with only a retry budget sets no breaker of lbsim's.
            if !fields.is_empty() || budget.is_none() {
                let _ = writeln!(bal, "# {} circuit_breakers: Envoy's, per replica", self.src.at(cb));
                let _ = writeln!(bal, "circuit_breakers = {}", inline_table(&fields));
            }
        }
        if let Some(p) = retry {
            if let Some(fields) = self.retry_policy(p, budget.map(|(percent, min, _)| (percent, min)))? {
                let _ = writeln!(bal, "# {} retry_policy: the route's, at each replica", self.src.at(p));
                if let Some((_, _, v)) = budget {
                    let _ = writeln!(bal, "# {} retry_budget: the cluster's", self.src.at(v));
                }
                let _ = writeln!(bal, "retry = {}", inline_table(&fields));
            }
        } else if let Some((_, _, v)) = budget {
            self.ignore(
                "circuit_breakers.thresholds[].retry_budget",
                v,
                "no route to this cluster has a retry_policy: nothing to budget",
            );
        }

        // Panic mode: Envoy balances over every host when too few are healthy (50% by default).
        let mut panic = 50.0;
        let mut panic_node = None;
        if let Some(cl) = common {
            for (k, v) in self.map_of("common_lb_config", cl)? {
                match k.as_str() {
                    "healthy_panic_threshold" => {
                        panic = self.number("healthy_panic_threshold", v, 0.0, 100.0)?;
                        panic_node = Some(v);
                    }
                    "consistent_hashing_lb_config" => {
                        if balance_factor.is_some() && !hashed {
                            self.ignore(
                                "consistent_hashing_lb_config",
                                v,
                                "bounded loads are for RING_HASH and MAGLEV",
                            );
                        }
                    }
                    other => self.ignore(&format!("common_lb_config.{other}"), v, "not modeled by lbsim"),
                }
            }
        }
        if checked {
            match panic_node {
                Some(v) => {
                    let _ = writeln!(bal, "# {} healthy_panic_threshold: {panic}", self.src.at(v));
                }
                None => bal.push_str("# no `healthy_panic_threshold`: Envoy's default, 50%\n"),
            }
            if panic > 0.0 {
                let _ = writeln!(bal, "panic_threshold = {panic:?}");
            } else {
                bal.push_str("# 0 disables panic mode\n");
            }
        } else if let Some(v) = panic_node {
            self.ignore(
                "common_lb_config.healthy_panic_threshold",
                v,
                "without health checks every host stays healthy, so panic mode never starts",
            );
        }

        let mut text = format!(
            "# Imported by `lbsim import envoy` from {} (cluster {}, {}).\n# Only this cluster (and the retry_policy of a route to it) is read.\n\n",
            comment(self.src.file),
            comment(name),
            self.src.at(c)
        );
        text.push_str(&self.head);
        let scenario_name = if name.is_empty() { "envoy".to_string() } else { format!("envoy-{name}") };
        let _ = writeln!(text, "\nname = {}\nduration = \"60s\"\n", toml_str(&scenario_name));
        text.push_str(&servers);
        let _ = writeln!(
            text,
            "# placeholder traffic: {rate} requests/s in total from 100 clients; replace it with your own"
        );
        let _ = writeln!(text, "[[clients]]\nname = \"clients\"\ncount = 100\nrate = {:?}", rate / 100.0);
        text.push_str(&bal);
        Ok(Imported { scenario: text, warnings: self.warnings })
    }
}
