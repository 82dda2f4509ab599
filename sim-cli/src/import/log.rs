//! `lbsim import log FILE --format nginx|haproxy|csv`: a real access log becomes a trace CSV
//! (the format `trace = "…"` replays), a summary (requests, malformed lines, rate over time,
//! upstreams, status classes, service-time quantiles) and a scenario that replays the trace.
//!
//! The log is streamed twice (never loaded whole): the first pass parses and summarises every
//! line and measures how far the request start times are out of order; the second writes the
//! trace in start-time order through a reorder heap no larger than that disorder needs. So the
//! memory is bounded by the requests inside the disorder window, not by the file; FILE must
//! therefore be a file that can be read twice (not a pipe).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::json;

use super::{comment, group_name, toml_str};
use crate::error::user;

/// Lines longer than this are malformed (nginx and HAProxy lines are far shorter; HAProxy's
/// own default limit is 1024 bytes, raised with `len` up to 65535).
pub const MAX_LINE: usize = 64 * 1024;
/// How many malformed lines the summary names (all are counted).
const SHOWN_PROBLEMS: usize = 5;
/// Most rows held at once to sort the trace by start time.
const MAX_REORDER: usize = 5_000_000;

/// The log formats `lbsim import log` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogKind {
    /// nginx access log: `combined`, `combined` plus `$request_time $upstream_response_time
    /// $upstream_addr` (detected), or any `--log-format`.
    Nginx,
    /// HAProxy's HTTP log (`option httplog`), with or without a syslog prefix.
    Haproxy,
    /// A trace CSV (validated, summarised, and with `-o` written sorted).
    Csv,
}

/// What becomes a row's `key`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyFrom {
    /// The request path without its query string.
    Path,
    /// The request URI with its query string.
    Uri,
    /// The client address (`$remote_addr`, HAProxy's client_ip).
    #[value(name = "remote_addr")]
    RemoteAddr,
    /// The upstream server that answered.
    Upstream,
    /// No `key` column.
    None,
}

/// The options of `lbsim import log`.
pub struct LogOptions<'a> {
    pub file: &'a str,
    pub kind: LogKind,
    pub log_format: Option<&'a str>,
    pub out: Option<&'a str>,
    pub key: KeyFrom,
    pub json: bool,
}

/// nginx's predefined `combined` format.
pub const COMBINED: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#;
/// `combined` with the timing and upstream fields the summary needs.
pub const COMBINED_UPSTREAM: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time $upstream_response_time $upstream_addr"#;

/// One parsed request.
#[derive(Debug, Clone, Default)]
struct Row {
    /// When the request started, ns since the Unix epoch (or since the CSV's zero).
    start: i64,
    /// The time the log line carries, ns (nginx: the end; HAProxy and CSV: the start).
    logged: i64,
    /// The upstream's service time, ns: nginx's last `$upstream_response_time`, HAProxy's Tr.
    service: Option<u64>,
    /// The source has a service-time field but this request has none (`-`, Tr = −1).
    no_service: bool,
    upstream: Option<String>,
    /// Several upstreams were tried (nginx lists, HAProxy retries > 0).
    retried: bool,
    status: Option<i32>,
    source_ip: Option<String>,
    /// The request URI (path and query).
    uri: Option<String>,
    key: Option<String>,
    request_bytes: Option<u64>,
    response_bytes: Option<u64>,
}

/// The columns the trace gets (decided by the format, the same for every row).
#[derive(Debug, Clone, Copy, Default)]
struct Columns {
    key: bool,
    service: bool,
    source_ip: bool,
    path: bool,
    request_bytes: bool,
    response_bytes: bool,
}

impl Columns {
    fn header(&self) -> String {
        let mut h = vec!["time"];
        for (on, name) in [
            (self.key, "key"),
            (self.service, "service_ms"),
            (self.source_ip, "source_ip"),
            (self.path, "path"),
            (self.request_bytes, "request_bytes"),
            (self.response_bytes, "response_bytes"),
        ] {
            if on {
                h.push(name);
            }
        }
        h.join(",")
    }
}

// ---------------------------------------------------------------------------------------
// Numbers and times

/// A non-negative decimal number (`12`, `0.125`) scaled by 10^`digits`, exactly (no floats):
/// `decimal("0.002", 9)` is 2,000,000. More fractional digits than `digits` is an error.
fn decimal(text: &str, digits: u32) -> Option<u64> {
    let (int, frac) = match text.split_once('.') {
        Some((i, f)) => (i, f),
        None => (text, ""),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if frac.len() > digits as usize || int.len() > 12 {
        return None;
    }
    let int: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut f: u64 = if frac.is_empty() { 0 } else { frac.parse().ok()? };
    f *= 10u64.pow(digits - frac.len() as u32);
    int.checked_mul(10u64.pow(digits))?.checked_add(f).filter(|&v| v <= LIMIT)
}

/// The largest number or time (in ns: 146 years, to 2116 since 1970) a log value may have, so
/// times and their differences never overflow an i64.
const LIMIT: u64 = 1 << 62;

/// `n` (scaled by 10^digits) as a decimal with trailing zeros removed: 2500000 → `2.5`.
fn show_decimal(n: u64, digits: u32) -> String {
    let scale = 10u64.pow(digits);
    let (int, frac) = (n / scale, n % scale);
    if frac == 0 {
        return int.to_string();
    }
    let f = format!("{frac:0width$}", width = digits as usize);
    format!("{int}.{}", f.trim_end_matches('0'))
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian; Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn month(name: &str) -> Option<u32> {
    const M: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    M.iter().position(|m| *m == name).map(|i| i as u32 + 1)
}

fn num<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Seconds since the epoch of a date and time of day, checked.
fn civil_ns(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32, frac_ns: u64) -> Option<i64> {
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 || !(1..=9999).contains(&y) {
        return None;
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s);
    secs.checked_mul(1_000_000_000)?.checked_add(frac_ns as i64).filter(|t| t.unsigned_abs() <= LIMIT)
}

/// `28/Nov/2026:10:00:00` with an optional `.123` fraction (HAProxy) — local time, no zone.
fn clf_date(text: &str) -> Option<i64> {
    let (date, time) = text.split_once(':')?;
    let mut dp = date.split('/');
    let (d, mo, y) = (num::<u32>(dp.next()?)?, month(dp.next()?)?, num::<i64>(dp.next()?)?);
    if dp.next().is_some() {
        return None;
    }
    let (hms, frac) = match time.split_once('.') {
        Some((a, f)) => (a, decimal(&format!("0.{f}"), 9)?),
        None => (time, 0),
    };
    let mut tp = hms.split(':');
    let (h, mi, s) = (num(tp.next()?)?, num(tp.next()?)?, num(tp.next()?)?);
    if tp.next().is_some() {
        return None;
    }
    civil_ns(y, mo, d, h, mi, s, frac)
}

/// A zone offset `+0100`, `-05:30` or `Z`, in ns to subtract from local time to get UTC.
fn zone(text: &str) -> Option<i64> {
    if text == "Z" || text == "z" {
        return Some(0);
    }
    let sign = match text.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits: String = text[1..].chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || text[1..].len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (i64, i64) = (num(&digits[..2])?, num(&digits[2..])?);
    Some(sign * (h * 3600 + m * 60) * 1_000_000_000)
}

/// nginx's `$time_local`: `28/Nov/2026:10:00:00 +0000`.
fn time_local(text: &str) -> Option<i64> {
    let (t, z) = text.split_once(' ')?;
    Some(clf_date(t)? - zone(z)?)
}

/// RFC 3339 (`$time_iso8601`, CSV timestamps): `2026-11-28T10:00:00.125+00:00`.
fn rfc3339(text: &str) -> Option<i64> {
    if text.len() < 20 || !text.is_char_boundary(10) || !text.is_char_boundary(19) {
        return None;
    }
    let (date, rest) = (&text[..10], &text[10..]);
    if !matches!(rest.as_bytes()[0], b'T' | b't' | b' ') {
        return None;
    }
    let mut dp = date.split('-');
    let (y, mo, d) = (num::<i64>(dp.next()?)?, num(dp.next()?)?, num(dp.next()?)?);
    let time = &rest[1..];
    let (h, mi, s) = (num(time.get(0..2)?)?, num(time.get(3..5)?)?, num(time.get(6..8)?)?);
    if time.as_bytes().get(2) != Some(&b':') || time.as_bytes().get(5) != Some(&b':') {
        return None;
    }
    let mut tail = &time[8..];
    let mut frac = 0;
    if let Some(f) = tail.strip_prefix('.') {
        let n = f.bytes().take_while(u8::is_ascii_digit).count();
        frac = decimal(&format!("0.{}", &f[..n]), 9)?;
        tail = &f[n..];
    }
    Some(civil_ns(y, mo, d, h, mi, s, frac)? - zone(tail)?)
}

// ---------------------------------------------------------------------------------------
// nginx log_format matcher

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Lit(String),
    Var(String),
}

/// A compiled nginx `log_format`: literal text between `$variables`.
#[derive(Debug, Clone)]
pub struct Format {
    segs: Vec<Seg>,
}

/// Variables whose value is a list when nginx tried several upstreams: `a, b` (another server
/// of the group) or `a : b` (an internal redirect to another group).
fn is_list(var: &str) -> bool {
    var.starts_with("upstream_")
}

impl Format {
    /// Compiles a format string; exit 2 when two variables touch (no text to split them) or
    /// no time variable is present.
    pub fn compile(text: &str) -> Result<Format> {
        let mut segs = Vec::new();
        let mut lit = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((_, c)) = chars.next() {
            if c != '$' {
                lit.push(c);
                continue;
            }
            let mut name = String::new();
            let braced = chars.peek().map(|(_, c)| *c) == Some('{');
            if braced {
                chars.next();
            }
            while let Some(&(_, c)) = chars.peek() {
                if c.is_ascii_alphanumeric() || c == '_' {
                    name.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            if braced && chars.next().map(|(_, c)| c) != Some('}') {
                return Err(user(format!("--log-format: `${{{name}` has no closing `}}`")));
            }
            if name.is_empty() {
                lit.push('$');
                continue;
            }
            if !lit.is_empty() {
                segs.push(Seg::Lit(std::mem::take(&mut lit)));
            } else if matches!(segs.last(), Some(Seg::Var(_))) {
                let Some(Seg::Var(prev)) = segs.last() else { unreachable!() };
                return Err(user(format!(
                    "--log-format: `${prev}` and `${name}` have no text between them, so a line cannot be split into them"
                )));
            }
            segs.push(Seg::Var(name));
        }
        if !lit.is_empty() {
            segs.push(Seg::Lit(lit));
        }
        let f = Format { segs };
        if !["msec", "time_local", "time_iso8601"].iter().any(|v| f.has(v)) {
            return Err(user(
                "--log-format: the format has no time: it needs `$msec`, `$time_local` or `$time_iso8601`",
            ));
        }
        Ok(f)
    }

    fn has(&self, var: &str) -> bool {
        self.segs.iter().any(|s| matches!(s, Seg::Var(v) if v == var))
    }

    /// Splits a line into (variable, value) pairs, or says where it stops matching.
    fn split<'l>(&self, line: &'l str) -> Result<Vec<(&str, &'l str)>, String> {
        let mut out = Vec::new();
        let mut pos = 0;
        for (i, seg) in self.segs.iter().enumerate() {
            match seg {
                Seg::Lit(l) => {
                    if !line[pos..].starts_with(l.as_str()) {
                        return Err(format!("expected `{l}` at column {}", pos + 1));
                    }
                    pos += l.len();
                }
                Seg::Var(name) => {
                    let rest = &line[pos..];
                    let next = match self.segs.get(i + 1) {
                        Some(Seg::Lit(l)) => Some(l.as_str()),
                        _ => None,
                    };
                    let len = match next {
                        None => rest.len(),
                        Some(l) if is_list(name) && l.starts_with(' ') => list_len(rest),
                        Some(l) => match rest.find(l) {
                            Some(n) => n,
                            None => return Err(format!("`${name}` at column {}: no `{l}` after it", pos + 1)),
                        },
                    };
                    out.push((name.as_str(), &rest[..len]));
                    pos += len;
                }
            }
        }
        if pos != line.len() {
            return Err(format!("unexpected text at column {}", pos + 1));
        }
        Ok(out)
    }
}

/// The length of an upstream list at the start of `s`: `0.002, 0.004 : 0.001` (items without
/// spaces, joined by `, ` or ` : `).
fn list_len(s: &str) -> usize {
    let item = |from: usize| from + s[from..].find(' ').unwrap_or(s.len() - from);
    let mut end = item(0);
    loop {
        if s[..end].ends_with(',') && s[end..].starts_with(' ') {
            end = item(end + 1);
        } else if s[end..].starts_with(" : ") {
            end = item(end + 3);
        } else {
            return end;
        }
    }
}

/// The items of an upstream list, in order.
fn list_items(s: &str) -> Vec<&str> {
    s.split([',', ':']).map(str::trim).filter(|x| !x.is_empty()).collect()
}

/// The path and URI of an HTTP request line `GET /a?b=1 HTTP/1.1` (`-` when it is not one:
/// nginx logs junk sent to it as it came).
fn request_uri(request: &str) -> Option<&str> {
    let mut parts = request.split(' ');
    let (_method, uri) = (parts.next()?, parts.next()?);
    (uri.starts_with('/') || uri.contains("://")).then_some(uri)
}

fn nginx_row(format: &Format, line: &str) -> Result<Row, String> {
    let fields = format.split(line)?;
    let mut row = Row::default();
    let mut end = None;
    let mut request_time = None;
    let mut best = 0; // $msec (ms) > $time_iso8601 = $time_local (s)
    for (var, value) in fields {
        let bad = |what: &str| format!("`${var}` is {value:?}: {what}");
        match var {
            "msec" => {
                end = Some(decimal(value, 9).ok_or_else(|| bad("not seconds since 1970"))? as i64);
                best = 2;
            }
            "time_local" if best < 1 => {
                end = Some(time_local(value).ok_or_else(|| bad("not a time like 28/Nov/2026:10:00:00 +0000"))?);
                best = 1;
            }
            "time_iso8601" if best < 1 => {
                end = Some(rfc3339(value).ok_or_else(|| bad("not a time like 2026-11-28T10:00:00+00:00"))?);
                best = 1;
            }
            "request_time" => {
                request_time = Some(decimal(value, 9).ok_or_else(|| bad("not a number of seconds"))?);
            }
            "upstream_response_time" => {
                let items = list_items(value);
                let last = items.last().copied().unwrap_or("-");
                for item in &items {
                    if *item != "-" && decimal(item, 9).is_none() {
                        return Err(bad("not a list of seconds"));
                    }
                }
                row.retried = items.len() > 1;
                match last {
                    "-" => row.no_service = true,
                    t => row.service = decimal(t, 9),
                }
            }
            "upstream_addr" => {
                let items = list_items_addr(value);
                row.upstream = items.last().filter(|a| **a != "-").map(|a| a.to_string());
            }
            "remote_addr" => row.source_ip = Some(value.to_string()),
            "status" => row.status = Some(num::<i32>(value).ok_or_else(|| bad("not a status code"))?),
            "body_bytes_sent" | "bytes_sent" if row.response_bytes.is_none() || var == "body_bytes_sent" => {
                row.response_bytes =
                    Some(if value == "-" { 0 } else { num(value).ok_or_else(|| bad("not a byte count"))? });
            }
            "request_length" => row.request_bytes = Some(num(value).ok_or_else(|| bad("not a byte count"))?),
            "request" => row.uri = Some(request_uri(value).unwrap_or("-").to_string()),
            "request_uri" if row.uri.is_none() => row.uri = Some(value.to_string()),
            _ => {}
        }
    }
    let end = end.ok_or("no time")?;
    row.logged = end;
    // nginx writes the line when the request ends; $request_time runs from its first byte.
    row.start = end.saturating_sub(request_time.unwrap_or(0) as i64);
    Ok(row)
}

/// Upstream addresses: `10.0.0.1:80, 10.0.0.2:80 : unix:/x` — split on `, ` and ` : `
/// (addresses contain `:` themselves).
fn list_items_addr(s: &str) -> Vec<&str> {
    s.split(", ").flat_map(|x| x.split(" : ")).map(str::trim).filter(|x| !x.is_empty()).collect()
}

// ---------------------------------------------------------------------------------------
// HAProxy

/// One `option httplog` line:
/// `[syslog prefix] haproxy[pid]: ip:port [accept_date] frontend backend/server
/// Tq/Tw/Tc/Tr/Tt status bytes cookie cookie state act/fe/be/srv/retries sq/bq [{hdrs}] "request"`.
fn haproxy_row(line: &str) -> Result<Row, String> {
    // The accept date is the first `[dd/Mon/yyyy:hh:mm:ss.mmm]`; the syslog prefix and
    // `haproxy[pid]:` (its `[` holds a number) come before it.
    let mut found = None;
    for (i, _) in line.match_indices('[') {
        if let Some(close) = line[i..].find(']')
            && let Some(t) = clf_date(&line[i + 1..i + close])
        {
            found = Some((i, i + close, t));
            break;
        }
    }
    let (open, close, start) = found.ok_or("no accept date like [28/Nov/2026:10:00:00.123]")?;
    let client = line[..open].trim_end().rsplit(' ').next().unwrap_or("");
    let (ip, port) = client.rsplit_once(':').ok_or_else(|| format!("{client:?} is not client_ip:port"))?;
    if ip.is_empty() || num::<u16>(port).is_none() {
        return Err(format!("{client:?} is not client_ip:port"));
    }
    let rest = &line[close + 1..];
    let quote = rest.find('"').ok_or("no quoted request at the end")?;
    let fields: Vec<&str> = rest[..quote].split_whitespace().collect();
    if fields.len() < 10 {
        return Err(format!("{} fields between the date and the request, expected at least 10", fields.len()));
    }
    let request = rest[quote + 1..].trim_end().strip_suffix('"').ok_or("the request's closing quote is missing")?;
    let timers: Vec<&str> = fields[2].split('/').collect();
    let timer = |t: &str| -> Option<i64> {
        let t = t.strip_prefix('+').unwrap_or(t);
        if t == "-1" { Some(-1) } else { num(t) }
    };
    if timers.len() != 5 || timers.iter().any(|t| timer(t).is_none()) {
        return Err(format!("timers {:?} are not Tq/Tw/Tc/Tr/Tt", fields[2]));
    }
    let tr = timer(timers[3]).unwrap_or(-1);
    let status = match fields[3] {
        "-1" => -1,
        s => num::<i32>(s).ok_or_else(|| format!("status {s:?} is not a number"))?,
    };
    let bytes = num::<u64>(fields[4].strip_prefix('+').unwrap_or(fields[4]))
        .ok_or_else(|| format!("bytes_read {:?} is not a number", fields[4]))?;
    let conns: Vec<&str> = fields[8].split('/').collect();
    if conns.len() != 5 {
        return Err(format!("{:?} is not actconn/feconn/beconn/srv_conn/retries", fields[8]));
    }
    let retries = num::<u64>(conns[4].strip_prefix('+').unwrap_or(conns[4]));
    let server = fields[1];
    if !server.contains('/') {
        return Err(format!("{server:?} is not backend/server"));
    }
    let upstream = (!server.ends_with("/<NOSRV>")).then(|| server.to_string());
    Ok(Row {
        start,
        logged: start,
        service: match tr {
            ..0 => None,
            ms => Some((ms as u64).checked_mul(1_000_000).filter(|&v| v <= LIMIT).ok_or("Tr is too large")?),
        },
        no_service: tr < 0,
        upstream,
        retried: retries.unwrap_or(0) > 0,
        status: Some(status),
        source_ip: Some(ip.to_string()),
        uri: Some(request_uri(request).unwrap_or("-").to_string()),
        key: None,
        request_bytes: None,
        response_bytes: Some(bytes),
    })
}

// ---------------------------------------------------------------------------------------
// Trace CSV

/// The columns a trace CSV may have (shared with `trace = "…"` replay).
pub const CSV_COLUMNS: &[&str] = &["time", "key", "service_ms", "source_ip", "path", "request_bytes", "response_bytes"];

struct CsvHeader {
    names: Vec<usize>,
    /// Times are RFC 3339 timestamps (else seconds from the start); decided by the first row.
    timestamps: Option<bool>,
}

fn csv_header(line: &str) -> Result<CsvHeader, String> {
    let mut names = Vec::new();
    for name in line.split(',') {
        let name = name.trim();
        match CSV_COLUMNS.iter().position(|c| *c == name) {
            Some(i) if names.contains(&i) => return Err(format!("column `{name}` appears twice")),
            Some(i) => names.push(i),
            None => {
                return Err(format!("unknown column `{name}`; the columns are {}", CSV_COLUMNS.join(", ")));
            }
        }
    }
    if !names.contains(&0) {
        return Err("the header has no `time` column (required)".into());
    }
    Ok(CsvHeader { names, timestamps: None })
}

fn csv_row(h: &mut CsvHeader, line: &str) -> Result<Row, String> {
    let values: Vec<&str> = line.split(',').collect();
    if values.len() != h.names.len() {
        return Err(format!("{} fields, the header has {}", values.len(), h.names.len()));
    }
    let mut row = Row::default();
    for (&col, value) in h.names.iter().zip(values) {
        let value = value.trim();
        let name = CSV_COLUMNS[col];
        let bad = |what: &str| format!("`{name}` is {value:?}: {what}");
        match name {
            "time" => {
                let ts = *h.timestamps.get_or_insert(value.contains('T') || value.contains('t'));
                row.start = if ts {
                    rfc3339(value).ok_or_else(|| bad("not an RFC 3339 timestamp like the first row's"))?
                } else {
                    decimal(value, 9).ok_or_else(|| bad("not seconds from the start (a decimal number)"))? as i64
                };
            }
            "key" => row.key = Some(value.to_string()),
            "service_ms" => row.service = Some(decimal(value, 6).ok_or_else(|| bad("not milliseconds"))?),
            "source_ip" => row.source_ip = Some(value.to_string()),
            "path" => row.uri = Some(value.to_string()),
            "request_bytes" => row.request_bytes = Some(num(value).ok_or_else(|| bad("not a byte count"))?),
            "response_bytes" => row.response_bytes = Some(num(value).ok_or_else(|| bad("not a byte count"))?),
            _ => unreachable!("every column is known"),
        }
    }
    row.logged = row.start;
    Ok(row)
}

// ---------------------------------------------------------------------------------------
// Reading lines

/// A line of at most `MAX_LINE` bytes, or why not.
enum Line {
    Text(String),
    TooLong,
    NotUtf8,
}

/// Reads the next line (without its `\n` or `\r\n`), never holding more than `MAX_LINE` bytes.
fn next_line(reader: &mut impl BufRead, buf: &mut Vec<u8>, read: &mut u64) -> std::io::Result<Option<Line>> {
    buf.clear();
    let mut too_long = false;
    let mut any = false;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            break;
        }
        any = true;
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if !too_long {
            let room = (MAX_LINE + 2).saturating_sub(buf.len());
            buf.extend_from_slice(&chunk[..take.min(room)]);
            too_long = buf.len() > MAX_LINE + 1;
        }
        reader.consume(take);
        *read += take as u64;
        if done {
            break;
        }
    }
    if !any {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    if too_long || buf.len() > MAX_LINE {
        return Ok(Some(Line::TooLong));
    }
    Ok(Some(match String::from_utf8(std::mem::take(buf)) {
        Ok(s) => Line::Text(s),
        Err(_) => Line::NotUtf8,
    }))
}

/// What the parser makes of the lines of a file.
enum Parser {
    Nginx(Format),
    Haproxy,
    Csv(Option<CsvHeader>),
}

/// A line's meaning.
enum Parsed {
    Row(Box<Row>),
    /// Empty, a `#` comment (CSV), or the CSV header.
    Skip,
    Bad(String),
}

impl Parser {
    fn parse(&mut self, line: &Line) -> Result<Parsed, String> {
        let text = match line {
            Line::Text(t) => t,
            Line::TooLong => return Ok(Parsed::Bad(format!("longer than {MAX_LINE} bytes"))),
            Line::NotUtf8 => return Ok(Parsed::Bad("not UTF-8 text".into())),
        };
        if text.trim().is_empty() {
            return Ok(Parsed::Skip);
        }
        let row = match self {
            Parser::Nginx(f) => nginx_row(f, text),
            Parser::Haproxy => haproxy_row(text),
            Parser::Csv(header) => {
                if text.starts_with('#') {
                    return Ok(Parsed::Skip);
                }
                match header {
                    None => {
                        *header = Some(csv_header(text)?);
                        return Ok(Parsed::Skip);
                    }
                    Some(h) => csv_row(h, text),
                }
            }
        };
        Ok(match row {
            Ok(r) => Parsed::Row(Box::new(r)),
            Err(e) => Parsed::Bad(e),
        })
    }
}

fn open(file: &str) -> Result<BufReader<std::fs::File>> {
    let f = std::fs::File::open(file).map_err(|e| user(format!("cannot read {file}: {e}")))?;
    match f.metadata() {
        Ok(m) if m.is_file() => {}
        _ => {
            return Err(user(format!(
                "{file} is not a regular file: `import log` reads the log twice (to sort it), so it needs a file, not a pipe"
            )));
        }
    }
    Ok(BufReader::with_capacity(256 * 1024, f))
}

// ---------------------------------------------------------------------------------------
// The summary

/// Exact quantiles: a count per distinct value (ns). Logs give milliseconds, so the map holds at
/// most one entry per distinct millisecond value.
#[derive(Default)]
struct Quantiles {
    counts: BTreeMap<u64, u64>,
    n: u64,
    sum: u128,
}

impl Quantiles {
    fn add(&mut self, v: u64) {
        *self.counts.entry(v).or_insert(0) += 1;
        self.n += 1;
        self.sum += u128::from(v);
    }

    /// The nearest-rank quantile: the smallest value with at least ⌈q·n⌉ values at or below it.
    fn quantile(&self, q: f64) -> Option<u64> {
        if self.n == 0 {
            return None;
        }
        let rank = ((q * self.n as f64).ceil() as u64).clamp(1, self.n);
        let mut seen = 0;
        for (&v, &c) in &self.counts {
            seen += c;
            if seen >= rank {
                return Some(v);
            }
        }
        self.counts.keys().next_back().copied()
    }
}

/// Pass 1: everything but the rate table (which needs the first start time).
#[derive(Default)]
struct Summary {
    lines: u64,
    skipped: u64,
    requests: u64,
    malformed: u64,
    problems: Vec<(u64, String)>,
    first: Option<i64>,
    last: Option<i64>,
    service: Quantiles,
    no_service: u64,
    retried: u64,
    /// Per upstream: requests and their service times.
    upstreams: BTreeMap<String, (u64, Quantiles)>,
    statuses: BTreeMap<&'static str, u64>,
    /// Largest `logged − start` (nginx: the request time).
    max_lead: i64,
    /// Largest step back of `logged` against the running maximum.
    max_back: i64,
    max_logged: Option<i64>,
    /// Rows whose start is before an earlier row's (the file is not in start order).
    out_of_order: u64,
    max_start: Option<i64>,
}

impl Summary {
    fn add(&mut self, row: &Row) {
        self.requests += 1;
        self.first = Some(self.first.map_or(row.start, |f| f.min(row.start)));
        self.last = Some(self.last.map_or(row.start, |l| l.max(row.start)));
        if let Some(s) = row.service {
            self.service.add(s);
        }
        if row.no_service {
            self.no_service += 1;
        }
        if row.retried {
            self.retried += 1;
        }
        if let Some(u) = &row.upstream {
            // No allocation per row for an upstream already seen.
            let entry = match self.upstreams.get_mut(u) {
                Some(e) => e,
                None => self.upstreams.entry(u.clone()).or_default(),
            };
            entry.0 += 1;
            if let Some(s) = row.service {
                entry.1.add(s);
            }
        }
        if let Some(s) = row.status {
            let class = match s / 100 {
                1 if s > 0 => "1xx",
                2 => "2xx",
                3 => "3xx",
                4 => "4xx",
                5 => "5xx",
                _ => "other",
            };
            *self.statuses.entry(class).or_insert(0) += 1;
        }
        self.max_lead = self.max_lead.max(row.logged.saturating_sub(row.start));
        let m = self.max_logged.map_or(row.logged, |m| m.max(row.logged));
        self.max_back = self.max_back.max(m.saturating_sub(row.logged));
        self.max_logged = Some(m);
        if self.max_start.is_some_and(|m| row.start < m) {
            self.out_of_order += 1;
        }
        self.max_start = Some(self.max_start.map_or(row.start, |m| m.max(row.start)));
    }

    fn bad(&mut self, line: u64, why: String) {
        self.malformed += 1;
        if self.problems.len() < SHOWN_PROBLEMS {
            self.problems.push((line, why));
        }
    }
}

/// A duration for a scenario file and for people: `12ms`, `1.5s`, `250us`.
fn duration(ns: u64) -> String {
    if ns == 0 {
        "0s".into()
    } else if ns >= 1_000_000_000 && ns.is_multiple_of(1_000_000) {
        format!("{}s", show_decimal(ns / 1_000_000, 3))
    } else if ns >= 1_000_000 && ns.is_multiple_of(1_000) {
        format!("{}ms", show_decimal(ns / 1_000, 3))
    } else if ns.is_multiple_of(1_000) {
        format!("{}us", ns / 1_000)
    } else {
        format!("{ns}ns")
    }
}

/// One row of the rate table: [from, to) in ns from the first start, and its count.
struct Bucket {
    from: u64,
    to: u64,
    requests: u64,
}

impl Bucket {
    /// Its length in seconds, at least 1 (a last bucket can be a moment).
    fn secs(&self) -> f64 {
        ((self.to - self.from) as f64 / 1e9).max(1.0)
    }
}

/// Per 10 s for spans under 2 minutes, per minute up to 20 minutes, else tenths of the span
/// (whole seconds). The last bucket ends at the last start time, so its rate is over the time
/// it covers.
fn buckets(span: u64) -> Vec<Bucket> {
    const MIN: u64 = 60_000_000_000;
    let width = match span {
        s if s < 2 * MIN => 10_000_000_000,
        s if s < 20 * MIN => MIN,
        s => (s / 10).div_ceil(1_000_000_000) * 1_000_000_000,
    };
    let n = span / width + 1;
    (0..n).map(|i| Bucket { from: i * width, to: ((i + 1) * width).min(span.max(1)), requests: 0 }).collect()
}

// ---------------------------------------------------------------------------------------
// The command

/// `lbsim import log`.
pub fn import_log(opts: &LogOptions<'_>) -> Result<()> {
    let file = opts.file;
    let mut parser = match (opts.kind, opts.log_format) {
        (LogKind::Nginx, Some("combined")) => Parser::Nginx(Format::compile(COMBINED)?),
        (LogKind::Nginx, Some(f)) => Parser::Nginx(Format::compile(f)?),
        (LogKind::Nginx, None) => Parser::Nginx(detect(file)?),
        (_, Some(_)) => return Err(user("--log-format is for --format nginx (HAProxy's httplog and CSV are fixed)")),
        (LogKind::Haproxy, None) => Parser::Haproxy,
        (LogKind::Csv, None) => Parser::Csv(None),
    };
    let format_name = match &parser {
        Parser::Nginx(f) if f.segs == Format::compile(COMBINED)?.segs => "nginx combined".to_string(),
        Parser::Nginx(f) if f.segs == Format::compile(COMBINED_UPSTREAM)?.segs => {
            "nginx combined + $request_time $upstream_response_time $upstream_addr".to_string()
        }
        Parser::Nginx(_) => "nginx (--log-format)".to_string(),
        Parser::Haproxy => "HAProxy httplog".to_string(),
        Parser::Csv(_) => "trace CSV".to_string(),
    };
    let time_source = match &parser {
        Parser::Nginx(f) => {
            let when = if f.has("msec") {
                "$msec (milliseconds)"
            } else if f.has("time_iso8601") {
                "$time_iso8601 (whole seconds)"
            } else {
                "$time_local (whole seconds)"
            };
            if f.has("request_time") {
                format!("{when} − $request_time: nginx logs a request when it ends")
            } else {
                format!("{when}: when the request ended (no $request_time to find its start)")
            }
        }
        Parser::Haproxy => "the accept date (milliseconds): when the request started".to_string(),
        Parser::Csv(_) => "the time column".to_string(),
    };
    let cols = match &parser {
        Parser::Nginx(f) => Columns {
            key: opts.key != KeyFrom::None,
            service: f.has("upstream_response_time"),
            source_ip: f.has("remote_addr"),
            path: f.has("request") || f.has("request_uri"),
            request_bytes: f.has("request_length"),
            response_bytes: f.has("body_bytes_sent") || f.has("bytes_sent"),
        },
        Parser::Haproxy => Columns {
            key: opts.key != KeyFrom::None,
            service: true,
            source_ip: true,
            path: true,
            request_bytes: false,
            response_bytes: true,
        },
        Parser::Csv(_) => Columns::default(), // from the header, below
    };

    // Where the trace goes: -o, or beside the log as NAME.csv (a CSV input is only checked).
    let out_path = match (opts.out, opts.kind) {
        (Some(o), _) => Some(o.to_string()),
        (None, LogKind::Csv) => None,
        (None, _) => Some(Path::new(file).with_extension("csv").to_string_lossy().into_owned()),
    };
    if let Some(o) = &out_path {
        crate::files::refuse_input_as_output(&format!("-o {o}"), Path::new(o), &[file])?;
    }

    // Pass 1: parse and summarise.
    let mut sum = Summary::default();
    let mut reader = open(file)?;
    let size = reader.get_ref().metadata().map(|m| m.len()).unwrap_or(0);
    let bar = progress(file, 2 * size);
    let mut read = 0u64;
    let mut buf = Vec::new();
    let mut n = 0u64;
    while let Some(line) = next_line(&mut reader, &mut buf, &mut read).with_context(|| format!("reading {file}"))? {
        n += 1;
        if n.is_multiple_of(65_536) {
            crate::interrupt::check()?;
            bar.set_position(read);
        }
        match parser.parse(&line).map_err(|e| user(format!("{file}:{n}: {e}")))? {
            Parsed::Row(mut row) => {
                fill_key(&mut row, opts.key);
                sum.add(&row);
            }
            Parsed::Skip => sum.skipped += 1,
            Parsed::Bad(why) => sum.bad(n, why),
        }
    }
    sum.lines = n;
    let cols = match &parser {
        Parser::Csv(Some(h)) => Columns {
            key: h.names.contains(&1),
            service: h.names.contains(&2),
            source_ip: h.names.contains(&3),
            path: h.names.contains(&4),
            request_bytes: h.names.contains(&5),
            response_bytes: h.names.contains(&6),
        },
        _ => cols,
    };
    let problems = || {
        sum.problems.iter().map(|(l, w)| format!("\n  {file}:{l}: {w}")).collect::<String>()
            + if sum.malformed > sum.problems.len() as u64 { "\n  …" } else { "" }
    };
    if sum.requests == 0 {
        return Err(user(if sum.malformed > 0 {
            format!(
                "{file}: none of its {} lines is a {format_name} log line ({} malformed); the first problems:{}",
                sum.lines,
                sum.malformed,
                problems()
            )
        } else {
            format!("{file}: no requests in it")
        }));
    }
    let t0 = sum.first.unwrap_or(0);
    let span = sum.last.unwrap_or(t0).saturating_sub(t0) as u64;
    let mut table = buckets(span);

    // Pass 2: write the rows in start order through a heap that holds a row until no later
    // line can start before it (a later line starts at least max_back + max_lead before the
    // largest logged time seen so far).
    let mut out = match &out_path {
        Some(o) => {
            let mut f = crate::files::AtomicFile::create(o)?;
            writeln!(f.writer(), "{}", cols.header()).with_context(|| format!("cannot write {o}"))?;
            Some((f, std::io::BufWriter::new(Vec::<u8>::new())))
        }
        None => None,
    };
    let window = sum.max_back.saturating_add(sum.max_lead);
    let mut heap: BinaryHeap<Reverse<(i64, u64, String)>> = BinaryHeap::new();
    let mut written = 0u64;
    let mut max_logged = i64::MIN;
    let emit = |row: (i64, u64, String),
                out: &mut Option<(crate::files::AtomicFile, std::io::BufWriter<Vec<u8>>)>|
     -> Result<()> {
        let rel = row.0.saturating_sub(t0) as u64;
        if let Some((f, w)) = out {
            writeln!(w, "{}{}", show_decimal(rel, 9), row.2)?;
            if w.get_ref().len() > 1 << 20 {
                let bytes = std::mem::take(w.get_mut());
                f.writer().write_all(&bytes).context("cannot write the trace")?;
            }
        }
        Ok(())
    };
    let mut reader = open(file)?;
    let mut parser = match parser {
        Parser::Csv(_) => Parser::Csv(None),
        p => p,
    };
    let mut n = 0u64;
    while let Some(line) = next_line(&mut reader, &mut buf, &mut read).with_context(|| format!("reading {file}"))? {
        n += 1;
        if n.is_multiple_of(65_536) {
            crate::interrupt::check()?;
            bar.set_position(read);
        }
        let Ok(Parsed::Row(mut row)) = parser.parse(&line) else { continue };
        max_logged = max_logged.max(row.logged);
        // Every request counts in the rate table, replayed or not.
        let rel = row.start.saturating_sub(t0) as u64;
        let i = table.iter().position(|b| rel < b.to).unwrap_or(table.len() - 1);
        table[i].requests += 1;
        if row.no_service {
            // Never reached a server (or the server never answered): not replayed.
            continue;
        }
        fill_key(&mut row, opts.key);
        heap.push(Reverse((row.start, n, csv_fields(&row, cols))));
        if heap.len() > MAX_REORDER {
            return Err(user(format!(
                "{file}: its requests are out of start-time order by up to {} (the longest request time plus the largest step back in the log's times): sorting them would hold more than {MAX_REORDER} requests in memory",
                duration(window as u64)
            )));
        }
        let bound = max_logged.saturating_sub(window);
        while heap.peek().is_some_and(|Reverse(top)| top.0 <= bound) {
            let Reverse(top) = heap.pop().expect("peeked");
            emit(top, &mut out)?;
            written += 1;
        }
    }
    while let Some(Reverse(top)) = heap.pop() {
        emit(top, &mut out)?;
        written += 1;
    }
    bar.finish_and_clear();
    if let Some((mut f, w)) = out {
        let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
        f.writer().write_all(&bytes).context("cannot write the trace")?;
        f.commit()?;
    }

    let trace_path = out_path.clone().unwrap_or_else(|| file.to_string());
    let report = Report {
        file,
        format_name: &format_name,
        time_source: &time_source,
        sum: &sum,
        table: &table,
        span,
        written,
        trace_path: &trace_path,
        cols,
        wrote: out_path.is_some(),
    };
    if sum.malformed > 0 {
        crate::out::note(&format!(
            "warning: {} malformed line{} in {file} (not in the trace); the first:{}",
            sum.malformed,
            if sum.malformed == 1 { "" } else { "s" },
            problems()
        ));
    }
    if opts.kind == LogKind::Csv && sum.out_of_order > 0 && out_path.is_none() {
        crate::out::note(&format!(
            "warning: {file}: {} rows start before an earlier row: replay needs rows in time order; write a sorted copy with -o FILE",
            sum.out_of_order
        ));
    }
    if opts.json {
        crate::out::stdout(&(serde_json::to_string_pretty(&report.json())? + "\n"))
    } else {
        crate::out::stdout(&report.text())
    }
}

/// A progress bar over both passes (bytes read) on a terminal, for big logs.
fn progress(file: &str, total: u64) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() || total < 64 << 20 {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(Some(total), indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template("{prefix} [{bar:40}] {percent}% read")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(crate::out::escape(file).into_owned());
    bar
}

/// Picks `combined` + upstream fields if one of the first 100 non-empty lines has them (the
/// first line may be a malformed one), else `combined`.
fn detect(file: &str) -> Result<Format> {
    let extended = Format::compile(COMBINED_UPSTREAM)?;
    let mut reader = open(file)?;
    let mut buf = Vec::new();
    let mut tried = 0;
    while let Some(line) = next_line(&mut reader, &mut buf, &mut 0).with_context(|| format!("reading {file}"))? {
        if let Line::Text(t) = &line {
            if t.trim().is_empty() {
                continue;
            }
            if nginx_row(&extended, t).is_ok() {
                return Ok(extended);
            }
        }
        tried += 1;
        if tried == 100 {
            break;
        }
    }
    Format::compile(COMBINED)
}

fn path_of(uri: &str) -> &str {
    uri.split(['?', '#']).next().unwrap_or(uri)
}

fn fill_key(row: &mut Row, from: KeyFrom) {
    if row.key.is_some() {
        return;
    }
    row.key = match from {
        KeyFrom::Path => row.uri.as_deref().map(|u| path_of(u).to_string()),
        KeyFrom::Uri => row.uri.clone(),
        KeyFrom::RemoteAddr => row.source_ip.clone(),
        KeyFrom::Upstream => row.upstream.clone(),
        KeyFrom::None => None,
    };
}

/// A value safe in the trace CSV (no quoting): `,` and control characters percent-encoded
/// (`%2C`; a `%` stays as it is, so URL-encoded paths and keys are unchanged), `-` for a
/// missing value.
fn cell(s: Option<&str>) -> String {
    let s = s.unwrap_or("-");
    if s.is_empty() {
        return "-".into();
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == ',' || c.is_control() {
            let mut b = [0; 4];
            for byte in c.encode_utf8(&mut b).bytes() {
                let _ = write!(out, "%{byte:02X}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A row's fields after `time`, each with its leading comma.
fn csv_fields(row: &Row, cols: Columns) -> String {
    let mut s = String::new();
    if cols.key {
        let _ = write!(s, ",{}", cell(row.key.as_deref()));
    }
    if cols.service {
        // ns are ms with six decimals.
        let _ = write!(s, ",{}", row.service.map(|ns| show_decimal(ns, 6)).unwrap_or_default());
    }
    if cols.source_ip {
        let _ = write!(s, ",{}", cell(row.source_ip.as_deref()));
    }
    if cols.path {
        let _ = write!(s, ",{}", cell(row.uri.as_deref().map(path_of)));
    }
    if cols.request_bytes {
        let _ = write!(s, ",{}", row.request_bytes.unwrap_or(0));
    }
    if cols.response_bytes {
        let _ = write!(s, ",{}", row.response_bytes.unwrap_or(0));
    }
    s
}

struct Report<'a> {
    file: &'a str,
    format_name: &'a str,
    time_source: &'a str,
    sum: &'a Summary,
    table: &'a [Bucket],
    span: u64,
    written: u64,
    trace_path: &'a str,
    cols: Columns,
    wrote: bool,
}

const QUANTILES: [(&str, f64); 5] = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999), ("max", 1.0)];

/// How many clients the scenario's client groups have (the trace's rows are spread over them).
const CLIENTS: u64 = 10;

impl Report<'_> {
    fn mean_rate(&self) -> f64 {
        // Over the span of start times; a log of one instant is rated over 1 s.
        self.sum.requests as f64 / (self.span as f64 / 1e9).max(1.0)
    }

    fn json(&self) -> serde_json::Value {
        let s = self.sum;
        let q: serde_json::Map<String, serde_json::Value> = QUANTILES
            .iter()
            .map(|(name, q)| (name.to_string(), json!(s.service.quantile(*q).map(|ns| ns as f64 / 1e6))))
            .collect();
        json!({
            "file": self.file,
            "format": self.format_name,
            "start_times": self.time_source,
            "lines": s.lines,
            "requests": s.requests,
            "malformed": { "count": s.malformed, "first": s.problems.iter().map(|(l, w)| json!({"line": l, "problem": w})).collect::<Vec<_>>() },
            "not_replayed": s.no_service,
            "trace": { "file": self.trace_path, "written": self.wrote, "rows": self.written, "columns": self.cols.header() },
            "span_s": self.span as f64 / 1e9,
            "mean_rate": self.mean_rate(),
            "rate_over_time": self.table.iter().map(|b| json!({"from_s": b.from as f64 / 1e9, "to_s": b.to as f64 / 1e9, "requests": b.requests})).collect::<Vec<_>>(),
            "upstreams": s.upstreams.iter().map(|(u, (n, _))| (u.clone(), json!(n))).collect::<serde_json::Map<_, _>>(),
            "upstream_service_ms": s.upstreams.iter().map(|(u, (_, q))| (u.clone(), json!({
                "p50": q.quantile(0.5).map(|ns| ns as f64 / 1e6),
                "p99": q.quantile(0.99).map(|ns| ns as f64 / 1e6),
            }))).collect::<serde_json::Map<_, _>>(),
            "retried": s.retried,
            "status_classes": s.statuses,
            "service_ms": { "count": s.service.n, "mean": (s.service.n > 0).then(|| s.service.sum as f64 / s.service.n as f64 / 1e6), "quantiles": q },
            "scenario": self.scenario(),
        })
    }

    fn text(&self) -> String {
        let s = self.sum;
        let mut o = String::new();
        let _ = writeln!(o, "# Imported by `lbsim import log` from {} ({}).", comment(self.file), self.format_name);
        let _ = writeln!(
            o,
            "# lines: {}   requests: {}   malformed: {}   empty or comment lines: {}",
            s.lines, s.requests, s.malformed, s.skipped
        );
        for (l, w) in &s.problems {
            let _ = writeln!(o, "#   malformed {}:{l}: {}", comment(self.file), comment(w));
        }
        if s.malformed > s.problems.len() as u64 {
            let _ = writeln!(o, "#   … and {} more", s.malformed - s.problems.len() as u64);
        }
        if s.no_service > 0 {
            let _ = writeln!(
                o,
                "# not replayed: {} requests with no upstream response time (`-` or Tr = -1: answered by the proxy itself, or no server answered)",
                s.no_service
            );
        }
        let _ = writeln!(o, "# request start times from {}", self.time_source);
        let verb = if self.wrote { "written to" } else { "in" };
        let _ = writeln!(
            o,
            "# trace: {} rows {verb} {} (columns {})",
            self.written,
            comment(self.trace_path),
            self.cols.header()
        );
        let _ = writeln!(
            o,
            "# time span: {} (start times)   mean rate: {:.2} requests/s",
            duration(self.span),
            self.mean_rate()
        );
        let _ = writeln!(
            o,
            "#\n# rate over time:\n#   {:>10} {:>10} {:>10} {:>12}",
            "from", "to", "requests", "requests/s"
        );
        for b in self.table {
            let secs = b.secs();
            let _ = writeln!(
                o,
                "#   {:>10} {:>10} {:>10} {:>12.2}",
                duration(b.from),
                duration(b.to),
                b.requests,
                b.requests as f64 / secs
            );
        }
        if !s.upstreams.is_empty() {
            let _ = writeln!(o, "#\n# requests per upstream (the one that answered), with its service times:");
            let _ = writeln!(
                o,
                "#   {:<30} {:>10} {:>7} {:>10} {:>10}",
                "upstream", "requests", "share", "p50 ms", "p99 ms"
            );
            for (u, (c, q)) in &s.upstreams {
                let ms = |q: Option<u64>| q.map_or("-".to_string(), |ns| show_decimal(ns, 6));
                let _ = writeln!(
                    o,
                    "#   {:<30} {:>10} {:>6.1}% {:>10} {:>10}",
                    comment(u),
                    c,
                    100.0 * *c as f64 / s.requests as f64,
                    ms(q.quantile(0.5)),
                    ms(q.quantile(0.99))
                );
            }
            if s.retried > 0 {
                let _ = writeln!(o, "#   retried on another upstream: {} requests", s.retried);
            }
        }
        if !s.statuses.is_empty() {
            let classes: Vec<String> = s.statuses.iter().map(|(c, n)| format!("{c} {n}")).collect();
            let _ = writeln!(o, "#\n# status classes: {}", classes.join(", "));
        }
        if s.service.n > 0 {
            let _ = writeln!(o, "#\n# service time (upstream response time) of {} requests:", s.service.n);
            let parts: Vec<String> = QUANTILES
                .iter()
                .map(|(name, q)| format!("{name} {}", show_decimal(s.service.quantile(*q).unwrap_or(0), 6)))
                .collect();
            let _ = writeln!(
                o,
                "#   {} ms   mean {:.3} ms",
                parts.join("   "),
                s.service.sum as f64 / s.service.n as f64 / 1e6
            );
        }
        o.push_str("#\n");
        o.push_str(&self.scenario());
        o
    }

    /// The service time for the servers: lognormal through the log's p50 and p99, kept in
    /// the range lbsim accepts (p99 above p50, at most 1000 × p50).
    fn fitted(&self) -> Option<(u64, u64)> {
        let q = &self.sum.service;
        let p50 = q.quantile(0.5)?.max(1_000);
        let p99 = q.quantile(0.99)?.clamp(p50 + 1_000, p50.saturating_mul(1000));
        Some((p50, p99))
    }

    fn scenario(&self) -> String {
        let s = self.sum;
        let mut o = String::new();
        let name: String = Path::new(self.file)
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
            .collect();
        let _ = writeln!(o, "name = {}", toml_str(&format!("replay-{name}")));
        let _ = writeln!(o, "seed = 1");
        // Long enough for the last request to finish (the longest service time after it).
        let tail = s.service.quantile(1.0).unwrap_or(0).saturating_add(1_000_000_000);
        let dur = (self.span.saturating_add(tail)).div_ceil(1_000_000_000);
        let _ = writeln!(o, "duration = \"{dur}s\"   # the log's span plus its longest service time and 1 s");
        let _ = writeln!(o, "warmup = \"0s\"");
        let service = match self.fitted() {
            Some((p50, p99)) => format!(
                "{{ dist = \"lognormal\", p50 = \"{}\", p99 = \"{}\" }}   # fitted to the log's p50 and p99",
                duration(p50),
                duration(p99)
            ),
            None => "{ dist = \"exponential\", mean = \"10ms\" }   # placeholder: the log has no upstream times".into(),
        };
        let mut taken = Vec::new();
        if s.upstreams.is_empty() {
            let _ = writeln!(o, "\n# The log does not say which server answered: 4 placeholder servers.");
            let _ = writeln!(o, "[[servers]]\nname = \"app\"\ncount = 4\nservice = {service}");
        } else {
            let _ = writeln!(
                o,
                "\n# One server per upstream seen in the log ({}). Rows with a service_ms use it as their\n# work; the fitted distribution is for rows without one and for the open-loop what-if below.",
                s.upstreams.len()
            );
            for u in s.upstreams.keys() {
                let _ = writeln!(
                    o,
                    "[[servers]]\nname = {}   # {}\ncount = 1\nservice = {service}",
                    toml_str(&group_name(u, &mut taken)),
                    comment(u)
                );
            }
        }
        let _ = writeln!(
            o,
            "\n# The log's requests, replayed at their times. The path is relative to this scenario file\n# (as written here, relative to the directory lbsim import ran in: save the scenario there)."
        );
        let _ = writeln!(o, "[[clients]]\nname = \"replay\"\ncount = {CLIENTS}\ntrace = {}", toml_str(self.trace_path));
        let _ = writeln!(
            o,
            "\n[balancer]\nalgorithm = \"round_robin\"   # try --set balancer.algorithm=least_connections (or peak_ewma)"
        );
        // The open-loop what-if.
        let per_client = |r: f64| {
            let r = r / CLIENTS as f64;
            if r == 0.0 || r >= 0.001 { format!("{r:.3}") } else { format!("{r:e}") }
        };
        let _ = writeln!(
            o,
            "\n# What-if, open loop (at other rates, or without the file): replace the [[clients]] group\n# above with this one. Rates are per client ({CLIENTS} clients)."
        );
        let _ = writeln!(o, "# [[clients]]\n# name = \"open-loop\"\n# count = {CLIENTS}");
        let _ = writeln!(o, "# rate = {}   # the log's mean rate / {CLIENTS}", per_client(self.mean_rate()));
        let _ = writeln!(o, "# protocol = \"http2\"\n# max_streams = 100000");
        let points: Vec<String> = self
            .table
            .iter()
            .map(|b| {
                format!("{{ at = \"{}\", rate = {} }}", duration(b.from), per_client(b.requests as f64 / b.secs()))
            })
            .collect();
        let _ = writeln!(
            o,
            "# To follow the log's rate over time instead of its mean, put this in place of `rate`:\n# schedule = [{}]",
            points.join(", ")
        );
        if s.service.n > 0 {
            // The percentiles 0.5, 1.5, …, 99.5: a hundred equally likely values.
            let samples: Vec<String> = (0..100)
                .map(|i| {
                    let q = (f64::from(i) + 0.5) / 100.0;
                    format!("\"{}\"", duration(s.service.quantile(q).unwrap_or(0).max(1)))
                })
                .collect();
            let _ = writeln!(
                o,
                "# To draw service times from the log's percentiles instead of the lognormal, give each server:\n# service = {{ dist = \"empirical\", samples = [{}] }}",
                samples.join(", ")
            );
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_and_times_are_exact() {
        assert_eq!(decimal("0.002", 9), Some(2_000_000));
        assert_eq!(decimal("12", 3), Some(12_000));
        assert_eq!(decimal("1.5", 6), Some(1_500_000));
        assert_eq!(decimal("-1", 6), None);
        assert_eq!(decimal("1.2345", 3), None);
        assert_eq!(show_decimal(2_500_000, 6), "2.5");
        assert_eq!(show_decimal(3_000_000, 6), "3");
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        let t = time_local("28/Nov/2026:10:00:00 +0100").unwrap();
        assert_eq!(t, rfc3339("2026-11-28T09:00:00Z").unwrap());
        assert_eq!(
            clf_date("28/Nov/2026:10:00:00.125").unwrap() - clf_date("28/Nov/2026:10:00:00").unwrap(),
            125_000_000
        );
        assert_eq!(rfc3339("2026-11-28T10:00:00.5+00:00").unwrap() % 1_000_000_000, 500_000_000);
    }

    #[test]
    fn upstream_lists_are_split() {
        let f = Format::compile(COMBINED_UPSTREAM).unwrap();
        let line = r#"10.1.1.1 - - [28/Nov/2026:10:00:01 +0000] "GET /a?x=1 HTTP/1.1" 200 512 "-" "curl/8" 0.010 0.002, 0.004 : 0.003 10.0.0.1:80, 10.0.0.2:80 : 10.0.1.1:80"#;
        let row = nginx_row(&f, line).unwrap();
        assert_eq!(row.service, Some(3_000_000));
        assert_eq!(row.upstream.as_deref(), Some("10.0.1.1:80"));
        assert!(row.retried);
        assert_eq!(row.start, row.logged - 10_000_000);
        assert_eq!(row.uri.as_deref(), Some("/a?x=1"));
    }

    #[test]
    fn nearest_rank_quantiles() {
        let mut q = Quantiles::default();
        for v in 1..=1000 {
            q.add(v);
        }
        assert_eq!(q.quantile(0.5), Some(500));
        assert_eq!(q.quantile(0.999), Some(999));
        assert_eq!(q.quantile(1.0), Some(1000));
    }
}
