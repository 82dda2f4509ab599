//! Trace replay files (`trace = "requests.csv"` in a client group): finding them next to the
//! scenario, a streaming CSV reader that hands the engine one row at a time (the file is
//! never loaded whole), and the errors of a bad file as `file:line: what is wrong`.
//!
//! The format: a header line naming the columns, comma separated — `time` (required; seconds
//! from the start as a decimal number, or an RFC 3339 timestamp, then relative to the first
//! row), and optionally `key`, `service_ms`, `source_ip`, `path`, `request_bytes`,
//! `response_bytes`. One request per row, in time order (equal times allowed). Empty lines
//! and lines starting with `#` are skipped. No quoting: a field cannot hold a comma.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::{Arc, Mutex};

use sim_core::replay::{TraceRow, TraceSource, source_id};
use sim_core::{Scenario, Simulation};

use crate::error::user;

/// The longest line a trace may have (a fixed limit: no real request needs more).
pub const MAX_LINE: usize = 64 * 1024;
/// The largest `service_ms` (one day).
const MAX_SERVICE_MS: u64 = 86_400_000;
/// The largest `request_bytes` / `response_bytes` (1 TiB, as the scenario's keys).
const MAX_BYTES: u64 = 1 << 40;
/// The latest relative `time` (one year, the longest `duration`).
const MAX_TIME_S: u64 = 365 * 24 * 3600;

/// The columns a trace may have.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Col {
    Time,
    Key,
    ServiceMs,
    SourceIp,
    Path,
    RequestBytes,
    ResponseBytes,
}

const COLUMNS: [(&str, Col); 7] = [
    ("time", Col::Time),
    ("key", Col::Key),
    ("service_ms", Col::ServiceMs),
    ("source_ip", Col::SourceIp),
    ("path", Col::Path),
    ("request_bytes", Col::RequestBytes),
    ("response_bytes", Col::ResponseBytes),
];

fn column_names() -> String {
    COLUMNS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

/// How the `time` column is written (decided by the first row; every row must agree).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum TimeForm {
    /// Seconds from the start.
    Seconds,
    /// RFC 3339 timestamps: ns since the epoch of the first row.
    Timestamp(i128),
}

/// Where a reader's first error goes: the engine sees only the end of the rows; the CLI
/// looks here after each stretch of simulated time.
pub type ErrorSlot = Arc<Mutex<Option<String>>>;

/// A streaming reader of one trace file.
pub struct CsvRows {
    reader: BufReader<File>,
    /// The file as messages name it.
    shown: String,
    /// The line number of the line in `buf`.
    line: u64,
    buf: Vec<u8>,
    cols: Vec<Col>,
    form: Option<TimeForm>,
    prev_ns: u64,
    /// Rows read so far.
    pub rows: u64,
    /// The first and last row's time (ns from the start).
    pub span: Option<(u64, u64)>,
    error: ErrorSlot,
}

impl CsvRows {
    /// Opens a trace file and reads its header (errors: exit 2, before anything runs).
    pub fn open(path: &Path, shown: &str) -> anyhow::Result<CsvRows> {
        let file = File::open(path).map_err(|e| user(format!("cannot read trace file {shown}: {e}")))?;
        if file.metadata().is_ok_and(|m| m.is_dir()) {
            return Err(user(format!("cannot read trace file {shown}: it is a directory")));
        }
        CsvRows::from_file(file, shown)
    }

    /// Reads the header of an open trace file.
    pub fn from_file(file: File, shown: &str) -> anyhow::Result<CsvRows> {
        let mut rows = CsvRows {
            reader: BufReader::with_capacity(256 * 1024, file),
            shown: shown.to_string(),
            line: 0,
            buf: Vec::with_capacity(256),
            cols: Vec::new(),
            form: None,
            prev_ns: 0,
            rows: 0,
            span: None,
            error: Arc::new(Mutex::new(None)),
        };
        if !rows.next_line().map_err(user)? {
            return Err(user(format!(
                "{shown}:1: the trace is empty; its first line must name the columns (e.g. time,key,service_ms)"
            )));
        }
        rows.cols = rows.header().map_err(user)?;
        Ok(rows)
    }

    /// The slot this reader puts its first error in.
    pub fn error_slot(&self) -> ErrorSlot {
        Arc::clone(&self.error)
    }

    fn at(&self, what: impl std::fmt::Display) -> String {
        format!("{}:{}: {what}", self.shown, self.line)
    }

    /// Reads the next line that is not empty or a comment into `buf` (without its line end).
    /// `Ok(false)` at the end of the file.
    fn next_line(&mut self) -> Result<bool, String> {
        loop {
            self.buf.clear();
            self.line += 1;
            let n = (&mut self.reader)
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| self.at(format!("cannot read: {e}")))?;
            if n == 0 {
                return Ok(false);
            }
            if self.buf.last() == Some(&b'\n') {
                self.buf.pop();
            } else if self.buf.len() > MAX_LINE {
                return Err(self.at(format!("the line is longer than {MAX_LINE} bytes (64 KiB), the limit on a line")));
            }
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
            if self.buf.len() > MAX_LINE {
                return Err(self.at(format!("the line is longer than {MAX_LINE} bytes (64 KiB), the limit on a line")));
            }
            let text = self.buf.trim_ascii_start();
            if !text.is_empty() && text[0] != b'#' {
                return Ok(true);
            }
        }
    }

    fn header(&self) -> Result<Vec<Col>, String> {
        let text = std::str::from_utf8(&self.buf)
            .map_err(|_| self.at("the header is not UTF-8 text"))?
            .trim_start_matches('\u{feff}');
        let mut cols = Vec::new();
        for name in text.split(',') {
            let name = name.trim();
            let Some(&(_, col)) = COLUMNS.iter().find(|(n, _)| *n == name) else {
                return Err(self.at(format!(
                    "unknown column {:?} in the header; the columns are: {} (time is required)",
                    clip(name),
                    column_names()
                )));
            };
            if cols.contains(&col) {
                return Err(self.at(format!("column {name} appears twice in the header")));
            }
            cols.push(col);
        }
        if !cols.contains(&Col::Time) {
            return Err(self.at(format!(
                "the header has no time column (required: seconds from the start, or an RFC 3339 timestamp); the \
                 columns are: {}",
                column_names()
            )));
        }
        Ok(cols)
    }

    /// The next row, or `Ok(None)` at the end.
    pub fn read_row(&mut self) -> Result<Option<TraceRow>, String> {
        if !self.next_line()? {
            return Ok(None);
        }
        // The line is taken out while its fields are read (they borrow it), then put back
        // (its capacity is reused for the next line).
        let buf = std::mem::take(&mut self.buf);
        let row = self.parse(&buf);
        self.buf = buf;
        row.map(Some)
    }

    /// The fields of a row's line.
    fn parse(&mut self, buf: &[u8]) -> Result<TraceRow, String> {
        let mut row = TraceRow::default();
        let mut fields = buf.split(|&b| b == b',');
        let mut time_ns = None;
        for i in 0..self.cols.len() {
            let col = self.cols[i];
            let Some(raw) = fields.next() else {
                return Err(self.at(format!(
                    "the row has {i} fields, the header names {}: column {} is missing",
                    self.cols.len(),
                    name_of(col)
                )));
            };
            let raw = raw.trim_ascii();
            if raw.first() == Some(&b'"') {
                return Err(self.at(format!(
                    "column {}: quoted fields are not supported (no field may hold a comma)",
                    name_of(col)
                )));
            }
            if raw.is_empty() {
                if col == Col::Time {
                    return Err(self.at("column time is empty; every row needs its time"));
                }
                continue;
            }
            // Numbers are read from the bytes (a bad one is shown as text in the message);
            // strings must be UTF-8.
            // Numbers are read from the bytes (a bad one is shown as text in the message);
            // strings must be UTF-8.
            let text =
                || std::str::from_utf8(raw).map_err(|_| self.at(format!("column {} is not UTF-8 text", name_of(col))));
            match col {
                Col::Time if self.form == Some(TimeForm::Seconds) => time_ns = Some(self.seconds(raw)?),
                Col::Time => {
                    let text = text()?;
                    time_ns = Some(self.time(text)?);
                }
                Col::ServiceMs => {
                    let ns = decimal(raw, 6, MAX_SERVICE_MS).ok_or_else(|| {
                        self.at(format!(
                            "service_ms {:?} is not a number of milliseconds from 0 to {MAX_SERVICE_MS} (at most 6 \
                             decimals, e.g. 12.5)",
                            clip(&String::from_utf8_lossy(raw))
                        ))
                    })?;
                    row.service_ns = Some(ns);
                }
                Col::Key => row.key = Some(text()?.into()),
                Col::SourceIp => row.source = Some(source_id(text()?)),
                Col::Path => row.path = Some(text()?.into()),
                Col::RequestBytes | Col::ResponseBytes => {
                    let text = text()?;
                    let v = text.parse::<u64>().ok().filter(|&v| v <= MAX_BYTES).ok_or_else(|| {
                        self.at(format!(
                            "{} {:?} is not a whole number of bytes from 0 to {MAX_BYTES} (1 TiB)",
                            name_of(col),
                            clip(text)
                        ))
                    })?;
                    if col == Col::RequestBytes {
                        row.request_bytes = Some(v);
                    } else {
                        row.response_bytes = Some(v);
                    }
                }
            }
        }
        if fields.next().is_some() {
            let n = buf.split(|&b| b == b',').count();
            return Err(self.at(format!("the row has {n} fields, more than the header's {}", self.cols.len())));
        }
        // The header has a time column and an empty time is refused above.
        let Some(time_ns) = time_ns else { return Err(self.at("the row has no time")) };
        if time_ns < self.prev_ns {
            return Err(self.at(format!(
                "time {} s is before the previous row's {} s: rows must be in time order (sort the file by time)",
                secs(time_ns),
                secs(self.prev_ns)
            )));
        }
        self.prev_ns = time_ns;
        row.time_ns = time_ns;
        self.rows += 1;
        self.span = Some((self.span.map_or(time_ns, |(first, _)| first), time_ns));
        Ok(row)
    }

    /// A time in seconds from the start, in ns.
    fn seconds(&self, raw: &[u8]) -> Result<u64, String> {
        decimal(raw, 9, MAX_TIME_S).ok_or_else(|| {
            let text = String::from_utf8_lossy(raw);
            let stamp = text.len() >= 10 && raw[4] == b'-';
            if stamp {
                return self.at(format!(
                    "time {:?} mixes forms: the first row's time is a number of seconds, every row's must be too",
                    clip(&text)
                ));
            }
            self.at(format!(
                "time {:?} is not a number of seconds from 0 to {MAX_TIME_S} (at most 9 decimals, e.g. 0.125) or an \
                 RFC 3339 timestamp (e.g. 2024-05-01T08:00:00.125Z)",
                clip(&text)
            ))
        })
    }

    /// A row's time in ns from the start.
    fn time(&mut self, text: &str) -> Result<u64, String> {
        let stamp = text.len() >= 10 && text.as_bytes()[4] == b'-';
        match (self.form, stamp) {
            (None | Some(TimeForm::Seconds), false) => {
                self.form = Some(TimeForm::Seconds);
                self.seconds(text.as_bytes())
            }
            (None | Some(TimeForm::Timestamp(_)), true) => {
                let ns = rfc3339_ns(text).ok_or_else(|| {
                    self.at(format!(
                        "time {:?} is not an RFC 3339 timestamp (e.g. 2024-05-01T08:00:00.125Z or \
                         2024-05-01T10:00:00+02:00)",
                        clip(text)
                    ))
                })?;
                let first = match self.form {
                    Some(TimeForm::Timestamp(first)) => first,
                    _ => {
                        self.form = Some(TimeForm::Timestamp(ns));
                        ns
                    }
                };
                let rel = ns - first;
                if rel < 0 {
                    return Err(self.at(format!(
                        "time {} is before the first row's: rows must be in time order (sort the file by time)",
                        clip(text)
                    )));
                }
                u64::try_from(rel).ok().filter(|&r| r <= MAX_TIME_S * 1_000_000_000).ok_or_else(|| {
                    self.at(format!("time {} is more than {MAX_TIME_S} s after the first row", clip(text)))
                })
            }
            (Some(_), _) => Err(self.at(format!(
                "time {:?} mixes forms: the first row's time is {}, every row's must be too",
                clip(text),
                if stamp { "a number of seconds" } else { "a timestamp" }
            ))),
        }
    }

    /// Reads every row to the end (`lbsim check`): the row count and time span, or the first
    /// error.
    pub fn scan(mut self) -> Result<(u64, Option<(u64, u64)>), String> {
        while self.read_row()?.is_some() {}
        Ok((self.rows, self.span))
    }
}

impl TraceSource for CsvRows {
    fn next_row(&mut self) -> Option<TraceRow> {
        match self.read_row() {
            Ok(row) => row,
            Err(e) => {
                if let Ok(mut slot) = self.error.lock() {
                    slot.get_or_insert(e);
                }
                None
            }
        }
    }
}

fn name_of(col: Col) -> &'static str {
    COLUMNS.iter().find(|(_, c)| *c == col).map_or("?", |(n, _)| *n)
}

/// A value echoed in a message, cut short.
fn clip(text: &str) -> String {
    let cut: String = text.chars().take(40).collect();
    if cut.len() < text.len() { format!("{cut}…") } else { cut }
}

fn secs(ns: u64) -> String {
    let s = format!("{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A non-negative decimal number with at most `decimals` digits after the point, times
/// 10^decimals, exactly (no floating point, one pass over the bytes: it is most of a row's
/// work); `None` if it is not one or exceeds `max` (in whole units).
fn decimal(text: &[u8], decimals: u32, max: u64) -> Option<u64> {
    let mut value: u64 = 0;
    let mut frac: Option<u32> = None;
    let mut digits = 0u32;
    for &b in text {
        match b {
            b'0'..=b'9' => {
                if let Some(f) = frac.as_mut() {
                    if *f == decimals {
                        return None;
                    }
                    *f += 1;
                }
                value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
                digits += 1;
            }
            b'.' if frac.is_none() => frac = Some(0),
            _ => return None,
        }
    }
    if digits == 0 {
        return None;
    }
    let value = value.checked_mul(10u64.pow(decimals - frac.unwrap_or(0)))?;
    (value <= max.checked_mul(10u64.pow(decimals))?).then_some(value)
}

/// Days from 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An RFC 3339 timestamp (`2024-05-01T08:00:00.125Z`, `…+02:00`; a space for the `T` is
/// accepted) as ns since the epoch.
fn rfc3339_ns(text: &str) -> Option<i128> {
    let b = text.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(r)?;
        if s.bytes().all(|c| c.is_ascii_digit()) { s.parse().ok() } else { None }
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&mo) || d < 1 || d > days_in[(mo - 1) as usize] || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = &text[19..];
    let mut frac_ns: i128 = 0;
    if let Some(r) = rest.strip_prefix('.') {
        let digits = r.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        let mut f: i128 = r[..digits].parse().ok()?;
        for _ in digits..9 {
            f *= 10;
        }
        frac_ns = f;
        rest = &r[digits..];
    }
    let offset_s: i64 = match rest {
        "Z" | "z" => 0,
        _ => {
            let rb = rest.as_bytes();
            if rb.len() != 6 || !matches!(rb[0], b'+' | b'-') || rb[3] != b':' {
                return None;
            }
            let oh: i64 = rest[1..3].parse().ok()?;
            let om: i64 = rest[4..6].parse().ok()?;
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if rb[0] == b'-' { -o } else { o }
        }
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset_s;
    Some(i128::from(secs) * 1_000_000_000 + frac_ns)
}

/// Rewrites each trace group's path to be relative to the scenario file's directory (as
/// written in the scenario, a relative path means "next to the scenario"), and checks each
/// file opens and has a good header: a missing trace is exit 2 before anything runs.
pub fn resolve(scenario: &mut Scenario, scenario_path: &str) -> anyhow::Result<()> {
    // Opening a FIFO waits for its writer: a signal meanwhile ends the process at once
    // (nothing is written yet).
    let _exit_at_once = crate::interrupt::ExitAtOnce::start();
    let dir = Path::new(scenario_path).parent().unwrap_or(Path::new(""));
    for (i, g) in scenario.clients.iter_mut().enumerate() {
        let Some(trace) = g.trace.as_mut() else { continue };
        let path = Path::new(trace.as_str());
        if path.is_relative() && !dir.as_os_str().is_empty() {
            *trace = dir.join(path).to_string_lossy().into_owned();
        }
        CsvRows::open(Path::new(trace.as_str()), trace)
            .map_err(|e| user(format!("{scenario_path}: clients[{i}].trace: {e}")))?;
    }
    Ok(())
}

/// The error slots of a simulation's trace readers: the first error any of them met.
#[derive(Default)]
pub struct Replays(Vec<ErrorSlot>);

impl Replays {
    /// A reader's error, if one stopped its rows: exit 2 with `file:line: what`.
    pub fn check(&self) -> anyhow::Result<()> {
        for slot in &self.0 {
            if let Some(e) = slot.lock().ok().and_then(|s| s.clone()) {
                return Err(user(e));
            }
        }
        Ok(())
    }
}

/// Opens each trace group's file (paths already resolved) and attaches a reader to the
/// simulation. Each simulation reads its own copy of the rows (runs of `compare` and `sweep`
/// run side by side).
pub fn attach(sim: &mut Simulation) -> anyhow::Result<Replays> {
    let traces: Vec<(usize, String)> =
        sim.scenario().clients.iter().enumerate().filter_map(|(i, g)| g.trace.clone().map(|t| (i, t))).collect();
    let mut slots = Vec::new();
    for (i, path) in traces {
        let rows = CsvRows::open(Path::new(&path), &path)?;
        slots.push(rows.error_slot());
        sim.attach_trace(i, Box::new(rows)).map_err(user)?;
    }
    Ok(Replays(slots))
}

/// `lbsim check`: each trace's row count and time span, after one streaming pass (the first
/// bad row is exit 2).
pub fn describe(scenario: &Scenario) -> anyhow::Result<Vec<String>> {
    // A long file (or a slow FIFO): a signal ends the process at once, nothing is printed yet.
    let _exit_at_once = crate::interrupt::ExitAtOnce::start();
    let mut out = Vec::new();
    for (i, g) in scenario.clients.iter().enumerate() {
        let Some(path) = &g.trace else { continue };
        let (rows, span) = CsvRows::open(Path::new(path), path)?.scan().map_err(user)?;
        let late = span.is_some_and(|(_, last)| g.start_ns.saturating_add(last) >= scenario.duration_ns);
        let text = match span {
            Some((first, last)) => format!("from {} s to {} s", secs(first), secs(last)),
            None => "no rows".to_string(),
        };
        let after = if late {
            format!(
                "; rows at or after duration ({}) are not sent: raise duration to replay them all",
                sim_core::config::units::format_duration(scenario.duration_ns)
            )
        } else {
            String::new()
        };
        out.push(format!("clients[{i}] (\"{}\") replays {path}: {rows} rows, {text}{after}", g.name));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact() {
        let d = |t: &str, decimals, max| decimal(t.as_bytes(), decimals, max);
        assert_eq!(d("0.125", 9, 10), Some(125_000_000));
        assert_eq!(d("2", 6, 10), Some(2_000_000));
        assert_eq!(d(".5", 6, 10), Some(500_000));
        assert_eq!(d("10.", 6, 10), Some(10_000_000));
        assert_eq!(d("10.000001", 6, 10), None);
        assert_eq!(d("1.0000001", 6, 10), None);
        assert_eq!(d("-1", 6, 10), None);
        assert_eq!(d("1e3", 6, 10000), None);
        assert_eq!(d("1.2.3", 6, 10), None);
        assert_eq!(d("11", 6, 10), None);
        assert_eq!(d("99999999999999999999999", 6, u64::MAX / 1_000_000), None);
        assert_eq!(d("", 6, 10), None);
        assert_eq!(d(".", 6, 10), None);
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339_ns("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339_ns("1970-01-01T01:00:00.5+01:00"), Some(500_000_000));
        assert_eq!(rfc3339_ns("2024-02-29T00:00:00Z"), Some(1_709_164_800 * 1_000_000_000));
        assert_eq!(rfc3339_ns("2023-02-29T00:00:00Z"), None);
        assert_eq!(rfc3339_ns("2024-05-01 08:00:00Z"), rfc3339_ns("2024-05-01T08:00:00Z"));
        assert_eq!(rfc3339_ns("2024-05-01T08:00:00"), None);
    }
}
