//! `lbsim sweep` and `lbsim merge`: a grid of parameter values × seeds, run on every core, one
//! CSV row per (point, seed) written in grid order as results come in — so a killed sweep
//! leaves only complete rows, a rerun skips what is done, and reruns are byte-identical.
//! `--shard K/N` runs a deterministic 1/N of the grid; `merge` joins the shards.
//!
//! The CSV is locked while a sweep writes it (an advisory lock: a second sweep into the same
//! file is refused instead of interleaving its rows), and each row ends with a `check` column,
//! a hash of its other fields, so an edited, duplicated or foreign row is found on resume or
//! merge and reported with its line number instead of being kept.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::hash::Hasher;
use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::Arc;

use anyhow::Context;
use sim_core::{Format, Report};

use crate::cli::{MergeArgs, SweepArgs};
use crate::compare::{check_runs, seed_range};
use crate::error::user;
use crate::exp::{Task, run_all};
use crate::interrupt::Interrupted;
use crate::out;

/// Metric columns, in order.
const METRIC_COLUMNS: [&str; 24] = [
    "sent",
    "completed",
    "failed",
    "success_rate",
    "latency_ms_mean",
    "latency_ms_p50",
    "latency_ms_p90",
    "latency_ms_p99",
    "latency_ms_p999",
    "latency_ms_max",
    "latency_all_ms_mean",
    "latency_all_ms_p50",
    "latency_all_ms_p99",
    "latency_all_ms_p999",
    "balance_max_over_mean",
    "balance_jain_index",
    "balance_cov",
    "balance_servers",
    "balance_idle",
    "balance_min_share",
    "sessions_started",
    "sessions_lost",
    "events_processed",
    "trace_hash",
];

fn metric_values(r: &Report) -> Vec<String> {
    vec![
        r.requests.sent.to_string(),
        r.requests.completed.to_string(),
        r.requests.failed.to_string(),
        crate::compare::success_rate(r).to_string(),
        r.latency_ms.mean.to_string(),
        r.latency_ms.p50.to_string(),
        r.latency_ms.p90.to_string(),
        r.latency_ms.p99.to_string(),
        r.latency_ms.p999.to_string(),
        r.latency_ms.max.to_string(),
        r.latency_all_ms.mean.to_string(),
        r.latency_all_ms.p50.to_string(),
        r.latency_all_ms.p99.to_string(),
        r.latency_all_ms.p999.to_string(),
        r.balance.max_over_mean.to_string(),
        r.balance.jain_index.to_string(),
        r.balance.cov.to_string(),
        r.balance.servers.to_string(),
        r.balance.idle.to_string(),
        r.balance.min_share.to_string(),
        r.sessions.started.to_string(),
        r.sessions.lost.to_string(),
        r.events_processed.to_string(),
        r.trace_hash.clone(),
    ]
}

/// Splits `v1,v2,…` at commas outside brackets, braces and quotes (values may be TOML arrays
/// or inline tables).
fn split_values(text: &str) -> Vec<String> {
    split_outside(text, ',')
}

/// Splits `text` at `sep` outside brackets, braces and quotes, trimming each part (compare's
/// `--variant` uses `;`).
pub fn split_outside(text: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut quote, mut cur) = (0i32, None::<char>, String::new());
    for ch in text.chars() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(ch),
            (None, '[' | '{') => depth += 1,
            (None, ']' | '}') => depth -= 1,
            (None, c) if c == sep && depth == 0 => {
                out.push(std::mem::take(&mut cur).trim().to_string());
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    out.push(cur.trim().to_string());
    out
}

/// A sweep parameter: a key path and its values.
struct Param {
    key: String,
    values: Vec<String>,
}

fn parse_param(arg: &str) -> anyhow::Result<Param> {
    let (key, values) = arg
        .split_once('=')
        .ok_or_else(|| user(format!("--param {arg}: expected KEY=v1,v2,… e.g. --param servers[0].count=4,8,16")))?;
    let key = key.trim().to_string();
    sim_core::config::set::parse_path(&key).map_err(|why| user(format!("--param {arg}: bad key path: {why}")))?;
    let values = split_values(values);
    if values.iter().any(|v| v.is_empty()) {
        return Err(user(format!("--param {arg}: a value is empty")));
    }
    Ok(Param { key, values })
}

/// Parses `K/N`.
fn parse_shard(text: &str) -> anyhow::Result<(u64, u64)> {
    let bad = || user(format!("--shard {text}: expected K/N with 1 ≤ K ≤ N, e.g. --shard 2/8"));
    let (k, n) = text.split_once('/').ok_or_else(bad)?;
    let (k, n): (u64, u64) = (k.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if k == 0 || n == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

/// The grid: every combination of parameter values, in order (the last parameter varies
/// fastest).
fn grid(params: &[Param]) -> Vec<Vec<String>> {
    let mut points = vec![Vec::new()];
    for p in params {
        points = points
            .into_iter()
            .flat_map(|prefix| {
                p.values.iter().map(move |v| {
                    let mut point = prefix.clone();
                    point.push(v.clone());
                    point
                })
            })
            .collect();
    }
    points
}

/// The last column of every row: a hash of the row's other fields.
const CHECK_COLUMN: &str = "check";

/// The `check` value of a row's other fields.
fn row_check(fields: &[String]) -> String {
    let mut h = twox_hash::XxHash64::with_seed(0);
    for f in fields {
        h.write(f.as_bytes());
        h.write(&[0]);
    }
    format!("{:016x}", h.finish())
}

/// Checks one row read back from a CSV (`fields` includes the check column): its check value
/// matches its fields. `Err` says what is wrong, for a message with the file and line.
fn verify_row(fields: &[String]) -> Result<(), String> {
    let Some((check, rest)) = fields.split_last() else { return Err("the row is empty".into()) };
    if *check != row_check(rest) {
        return Err(format!(
            "row {} was edited or damaged (its {CHECK_COLUMN} value does not match its fields)",
            rest.first().map_or("?", String::as_str)
        ));
    }
    Ok(())
}

/// What a sweep expects of the rows of its CSV.
struct Expected<'a> {
    header: &'a [String],
    sweep_id: &'a str,
    total: usize,
    points: &'a [Vec<String>],
    seeds: &'a [u64],
}

impl Expected<'_> {
    /// The fields before the metrics of row `index`: index, sweep, tasks, values, seed.
    fn prefix(&self, index: usize) -> Vec<String> {
        let mut row = vec![index.to_string(), self.sweep_id.to_string(), self.total.to_string()];
        row.extend(self.points[index / self.seeds.len()].iter().cloned());
        row.push(self.seeds[index % self.seeds.len()].to_string());
        row
    }
}

/// Reads the rows already in a sweep's CSV text (after a cut-off last line was dropped),
/// checking that the file belongs to this sweep and that every row is one of its runs, once,
/// unedited (exit 2 with the line number otherwise). Returns the indices done.
fn existing_rows(path: &str, text: &str, want: &Expected<'_>) -> anyhow::Result<BTreeMap<usize, u64>> {
    let mut rows = BTreeMap::new();
    if text.is_empty() {
        return Ok(rows);
    }
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
    let found: Vec<String> =
        reader.headers().map_err(|e| user(format!("{path}: {e}")))?.iter().map(str::to_string).collect();
    if found != want.header {
        return Err(user(format!("{path} holds another sweep (its columns differ); write to a new file or delete it")));
    }
    for row in reader.records() {
        let row = row.map_err(|e| {
            user(format!("{path}{}: not a row of this sweep ({e}); delete that line to rerun it", csv_line_of(&e)))
        })?;
        let line = row.position().map_or(0, |p| p.line());
        let at = |what: String| user(format!("{path} line {line}: {what}; delete that line to rerun it"));
        let fields: Vec<String> = row.iter().map(str::to_string).collect();
        if fields.get(1).map(String::as_str) != Some(want.sweep_id) {
            return Err(user(format!(
                "{path} line {line} holds a row of another sweep (sweep id {} ≠ {}): same columns, other scenario, values or seeds",
                fields.get(1).map_or("?", String::as_str),
                want.sweep_id
            )));
        }
        let index =
            fields[0].parse::<usize>().ok().filter(|i| *i < want.total).ok_or_else(|| {
                at(format!("bad index {:?} (this sweep has rows 0 to {})", fields[0], want.total - 1))
            })?;
        let prefix = want.prefix(index);
        if fields[..prefix.len()] != prefix[..] {
            return Err(at(format!("row {index} does not hold this sweep's values or seed for that index (edited?)")));
        }
        verify_row(&fields).map_err(at)?;
        if let Some(first) = rows.insert(index, line) {
            return Err(at(format!("row {index} is also on line {first} (a duplicated row)")));
        }
    }
    Ok(rows)
}

/// ` line N` for a CSV error that knows its line (the messages of `csv` say `line: N`).
fn csv_line_of(e: &csv::Error) -> String {
    e.position().map_or_else(String::new, |p| format!(" line {}", p.line()))
}

fn csv_line(fields: &[String]) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    w.write_record(fields)?;
    w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
}

pub fn sweep(args: SweepArgs) -> anyhow::Result<()> {
    let text = crate::load::text(&args.file)?;
    let format = Format::from_path(&args.file);
    let base_sets = args.overrides.all();
    let params: Vec<Param> = args.params.iter().map(|p| parse_param(p)).collect::<anyhow::Result<_>>()?;
    if params.is_empty() {
        return Err(user("sweep needs at least one --param KEY=v1,v2,…"));
    }
    if args.seeds == 0 {
        return Err(user("--seeds must be at least 1"));
    }
    let (shard, shards) = args.shard.as_deref().map(parse_shard).transpose()?.unwrap_or((1, 1));
    // The size of the grid before it is built: every point is a scenario in memory.
    let point_count = params.iter().fold(1u64, |n, p| n.saturating_mul(p.values.len() as u64));
    check_runs(point_count, "grid points", args.seeds, args.max_runs, "sweep")?;
    crate::files::refuse_input_as_output(&format!("--out {}", args.out), args.out.as_ref(), &[&args.file])?;
    // Every grid point is validated before anything runs.
    let points = grid(&params);
    let files = crate::load::ScenarioFiles::beside(&args.file);
    let mut scenarios = Vec::with_capacity(points.len());
    for point in &points {
        crate::interrupt::check()?;
        let mut sets = base_sets.clone();
        sets.extend(params.iter().zip(point).map(|(p, v)| format!("{}={v}", p.key)));
        let mut s = files.load(&text, format, &sets).map_err(|e| {
            let at: Vec<String> = params.iter().zip(point).map(|(p, v)| format!("{}={v}", p.key)).collect();
            user(format!("{} (at {}): {}", args.file, at.join(" "), e.with_file(&args.file)))
        })?;
        crate::replay::resolve(&mut s, &args.file)?;
        scenarios.push(Arc::new(s));
    }
    let first_seed = args.seed.unwrap_or(scenarios[0].seed);
    let seeds = seed_range(first_seed, args.seeds)?;
    let total = points.len() * seeds.len();
    let sweep_id = {
        let mut h = twox_hash::XxHash64::with_seed(0);
        h.write(text.as_bytes());
        for s in &base_sets {
            h.write(s.as_bytes());
            h.write(&[0]);
        }
        for p in &params {
            h.write(p.key.as_bytes());
            for v in &p.values {
                h.write(v.as_bytes());
                h.write(&[1]);
            }
        }
        h.write(&first_seed.to_le_bytes());
        h.write(&(seeds.len() as u64).to_le_bytes());
        format!("{:016x}", h.finish())
    };
    let mut header: Vec<String> = vec!["index".into(), "sweep".into(), "tasks".into()];
    header.extend(params.iter().map(|p| p.key.clone()));
    header.push("seed".into());
    header.extend(METRIC_COLUMNS.iter().map(|c| c.to_string()));
    header.push(CHECK_COLUMN.into());
    let want = Expected { header: &header, sweep_id: &sweep_id, total, points: &points, seeds: &seeds };
    let mut file = open_locked(&args.out)?;
    // A CSV of this sweep cannot be larger than this (each row's values plus generous room for
    // the numbers); a bigger file (or an endless one) is not this sweep's.
    let widest_point = points.iter().map(|p| p.iter().map(|v| v.len() + 3).sum::<usize>()).max().unwrap_or(0);
    let max_bytes = (total as u64 + 1).saturating_mul((widest_point + 40 * header.len() + 64) as u64);
    let mut bytes = Vec::new();
    (&mut file).take(max_bytes + 1).read_to_end(&mut bytes).with_context(|| format!("reading {}", args.out))?;
    if bytes.len() as u64 > max_bytes {
        return Err(user(format!(
            "{} is larger than a CSV of this sweep can be ({max_bytes} bytes); write to a new file",
            args.out
        )));
    }
    let mut text = String::from_utf8(bytes)
        .map_err(|_| user(format!("{} is not a CSV of lbsim (it is not UTF-8 text); write to a new file", args.out)))?;
    if !text.is_empty() && !text.ends_with('\n') {
        // A run killed in the middle of a write: drop the incomplete line.
        let keep = text.rfind('\n').map_or(0, |i| i + 1);
        file.set_len(keep as u64).with_context(|| format!("writing {}", args.out))?;
        text.truncate(keep);
    }
    let done = existing_rows(&args.out, &text, &want)?;
    file.seek(SeekFrom::End(0))?;
    let mine: Vec<usize> = (0..total).filter(|i| (*i as u64) % shards == shard - 1).collect();
    let todo: Vec<usize> = mine.iter().copied().filter(|i| !done.contains_key(i)).collect();
    let already = mine.len() - todo.len();
    if text.is_empty() {
        file.write_all(&csv_line(&header)?).with_context(|| format!("writing {}", args.out))?;
        file.flush()?;
    }
    if already > 0 {
        out::note(&format!("{}: {already} of {} rows already done; running the rest", args.out, mine.len()));
    }
    let plot_dir = args.plot.as_deref().map(crate::files::ensure_dir).transpose()?;
    let tasks: Vec<Task> = todo
        .iter()
        .map(|&i| Task { index: i, scenario: Arc::clone(&scenarios[i / seeds.len()]), seed: seeds[i % seeds.len()] })
        .collect();
    // Results arrive in any order; rows go out in grid order.
    let mut pending: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut next = 0usize;
    let order = todo.clone();
    let result = run_all(tasks, args.jobs, "sweep", |i, report| {
        let mut row = want.prefix(i);
        row.extend(metric_values(&report));
        row.push(row_check(&row));
        pending.insert(i, row);
        while next < order.len() {
            let Some(row) = pending.remove(&order[next]) else { break };
            // One write per complete line, flushed: a kill never leaves half a row behind
            // (and a cut-off line is dropped on the next run).
            file.write_all(&csv_line(&row)?).with_context(|| format!("writing {}", args.out))?;
            file.flush()?;
            next += 1;
        }
        Ok(())
    });
    if let Err(e) = result {
        if e.downcast_ref::<Interrupted>().is_some() {
            // The completed rows are kept (that is what makes a sweep resumable): say so.
            return Err(anyhow::Error::new(Interrupted {
                note: Some(format!(
                    "{} of {} rows are in {} ({next} new); rerun the same command to finish",
                    already + next,
                    mine.len(),
                    args.out
                )),
            }));
        }
        return Err(e);
    }
    file.sync_all().ok();
    // The rows this run is responsible for (done before or now), of the sweep's total.
    let part = if shards == 1 { "all".to_string() } else { format!("shard {shard}/{shards}") };
    out::note(&format!("{}: {} rows ({part} of {total})", args.out, mine.len()));
    if let Some(dir) = plot_dir {
        for path in crate::plot::sweep(&args.out, dir.path())? {
            out::note(&format!("wrote {}", path.display()));
        }
        dir.keep();
    }
    Ok(())
}

/// Opens (or creates) a sweep's CSV for reading and appending, and takes its lock: two sweeps
/// writing one file would interleave their rows. Refused (exit 2) if another process holds it.
fn open_locked(path: &str) -> anyhow::Result<std::fs::File> {
    if let Ok(m) = std::fs::metadata(path)
        && !m.is_file()
    {
        return Err(user(format!(
            "--out {path}: not a regular file (a sweep appends to its CSV and resumes from it); choose a file path"
        )));
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| user(format!("cannot write {path}: {e}")))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(user(format!(
                "{path} is being written by another lbsim (it holds the file's lock); wait for it to finish or use another --out"
            )));
        }
        Err(std::fs::TryLockError::Error(e)) => {
            // Some file systems have no locks: go on, but say that nothing guards the file.
            out::note(&format!("warning: cannot lock {path} ({e}); make sure no other sweep writes to it"));
        }
    }
    Ok(file)
}

/// The longest line a sweep CSV's row can be (its parameter values come from a command line).
const MAX_LINE_BYTES: usize = 1 << 20;

/// Reads a CSV to merge, line by line, refusing (exit 2) a line longer than any row of lbsim's
/// or more rows than `--max-runs`: `/dev/zero` or a huge unrelated file is refused at once
/// instead of filling memory. A signal while waiting on the input ends the process at once.
fn read_sweep_csv(path: &str, max_runs: u64) -> anyhow::Result<String> {
    use std::io::BufRead;
    let _exit_at_once = crate::interrupt::ExitAtOnce::start();
    let cannot = |e: std::io::Error| user(format!("cannot read {path}: {e}"));
    let file = std::fs::File::open(path).map_err(cannot)?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(user(format!("cannot read {path}: it is a directory")));
    }
    let mut reader = std::io::BufReader::new(file);
    let (mut text, mut line, mut lines) = (String::new(), Vec::new(), 0u64);
    loop {
        line.clear();
        let got = (&mut reader).take(MAX_LINE_BYTES as u64 + 1).read_until(b'\n', &mut line).map_err(cannot)?;
        if got == 0 {
            return Ok(text);
        }
        lines += 1;
        if line.len() > MAX_LINE_BYTES {
            return Err(user(format!(
                "{path} line {lines} is longer than {MAX_LINE_BYTES} bytes: not an lbsim sweep CSV"
            )));
        }
        if lines > max_runs.saturating_add(1) {
            return Err(user(format!("{path} has more than --max-runs {max_runs} rows; raise --max-runs to merge it")));
        }
        let line = std::str::from_utf8(&line)
            .map_err(|_| user(format!("{path} line {lines} is not UTF-8 text: not an lbsim sweep CSV")))?;
        text.push_str(line);
    }
}

pub fn merge(args: MergeArgs) -> anyhow::Result<()> {
    if args.inputs.is_empty() {
        return Err(user("merge needs at least one input CSV"));
    }
    let inputs: Vec<&str> = args.inputs.iter().map(String::as_str).collect();
    crate::files::refuse_input_as_output(&format!("--out {}", args.out), args.out.as_ref(), &inputs)?;
    let mut header: Option<Vec<String>> = None;
    let mut rows: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut tasks: Option<usize> = None;
    for path in &args.inputs {
        let text = read_sweep_csv(path, args.max_runs)?;
        let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
        let h: Vec<String> =
            reader.headers().map_err(|e| user(format!("{path}: {e}")))?.iter().map(str::to_string).collect();
        if h.first().map(String::as_str) != Some("index")
            || h.get(1).map(String::as_str) != Some("sweep")
            || h.last().map(String::as_str) != Some(CHECK_COLUMN)
        {
            return Err(user(format!(
                "{path} is not an lbsim sweep CSV (its first columns are not index, sweep, or its last is not {CHECK_COLUMN})"
            )));
        }
        match &header {
            None => header = Some(h),
            Some(first) if *first != h => {
                return Err(user(format!("{path} has other columns than {}: not the same sweep", args.inputs[0])));
            }
            _ => {}
        }
        let mut lines: BTreeMap<usize, u64> = BTreeMap::new();
        for row in reader.records() {
            let row = row.map_err(|e| user(format!("{path}{}: {e}", csv_line_of(&e))))?;
            let line = row.position().map_or(0, |p| p.line());
            let at = |what: String| user(format!("{path} line {line}: {what}"));
            let fields: Vec<String> = row.iter().map(str::to_string).collect();
            let index: usize = fields[0].parse().map_err(|_| at(format!("bad index {:?}", fields[0])))?;
            let t: usize = fields[2].parse().map_err(|_| at(format!("bad tasks {:?}", fields[2])))?;
            verify_row(&fields).map_err(at)?;
            if let Some(first) = lines.insert(index, line) {
                return Err(at(format!("row {index} is also on line {first} (a duplicated row)")));
            }
            if let Some((first_index, first)) = rows.iter().next()
                && first[1] != fields[1]
            {
                return Err(at(format!(
                    "row {index} belongs to sweep {}, row {first_index} to sweep {}: not the same sweep",
                    fields[1], first[1]
                )));
            }
            if index >= t {
                return Err(at(format!("bad index {index} (the sweep has {t} rows)")));
            }
            tasks = Some(t);
            if let Some(existing) = rows.get(&index) {
                if *existing != fields {
                    return Err(at(format!("row {index} differs from the same row in another file")));
                }
                continue;
            }
            rows.insert(index, fields);
        }
    }
    let header = header.expect("at least one input");
    let missing = tasks.map_or(0, |t| t.saturating_sub(rows.len()));
    let mut out = csv_line(&header)?;
    for row in rows.values() {
        out.extend(csv_line(row)?);
    }
    crate::files::write_atomic(&args.out, &out)?;
    out::note(&format!("{}: {} rows from {} files", args.out, rows.len(), args.inputs.len()));
    if missing > 0 {
        out::note(&format!(
            "warning: {missing} of {} rows are missing (a shard not run or not finished?)",
            tasks.unwrap_or(0)
        ));
    }
    Ok(())
}
