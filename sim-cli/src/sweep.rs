//! `lbsim sweep` and `lbsim merge`: a grid of parameter values × seeds, run on every core, one
//! CSV row per (point, seed) written in grid order as results come in — so a killed sweep
//! leaves only complete rows, a rerun skips what is done, and reruns are byte-identical.
//! `--shard K/N` runs a deterministic 1/N of the grid; `merge` joins the shards.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};

use anyhow::Context;
use sim_core::{Format, Report};

use crate::cli::{MergeArgs, SweepArgs};
use crate::error::user;
use crate::exp::{Task, run_all};

/// Metric columns, in order.
const METRIC_COLUMNS: [&str; 17] = [
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
    "balance_max_over_mean",
    "balance_jain_index",
    "balance_cov",
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
        r.balance.max_over_mean.to_string(),
        r.balance.jain_index.to_string(),
        r.balance.cov.to_string(),
        r.sessions.started.to_string(),
        r.sessions.lost.to_string(),
        r.events_processed.to_string(),
        r.trace_hash.clone(),
    ]
}

/// Splits `v1,v2,…` at commas outside brackets, braces and quotes (values may be TOML arrays
/// or inline tables).
fn split_values(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut quote, mut cur) = (0i32, None::<char>, String::new());
    for ch in text.chars() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(ch),
            (None, '[' | '{') => depth += 1,
            (None, ']' | '}') => depth -= 1,
            (None, ',') if depth == 0 => {
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

/// Reads the rows already in a sweep's CSV (dropping a cut-off last line), checking that the
/// file belongs to this sweep.
fn existing_rows(path: &str, header: &[String], sweep_id: &str) -> anyhow::Result<BTreeMap<usize, Vec<String>>> {
    let mut file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(user(format!("cannot open {path}: {e}"))),
    };
    let mut text = String::new();
    file.read_to_string(&mut text).with_context(|| format!("reading {path}"))?;
    if !text.is_empty() && !text.ends_with('\n') {
        // A run killed in the middle of a write: drop the incomplete line.
        let keep = text.rfind('\n').map_or(0, |i| i + 1);
        file.set_len(keep as u64)?;
        file.seek(SeekFrom::End(0))?;
        text.truncate(keep);
    }
    if text.is_empty() {
        return Ok(BTreeMap::new());
    }
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
    let found: Vec<String> = reader.headers()?.iter().map(str::to_string).collect();
    if found != header {
        return Err(user(format!("{path} holds another sweep (its columns differ); write to a new file or delete it")));
    }
    let mut rows = BTreeMap::new();
    for row in reader.records() {
        let row = row.with_context(|| format!("reading {path}"))?;
        if row.get(1) != Some(sweep_id) {
            return Err(user(format!(
                "{path} holds rows of another sweep (sweep id {} ≠ {sweep_id}): same columns, other scenario, values or seeds",
                row.get(1).unwrap_or("?")
            )));
        }
        let index: usize =
            row.get(0).and_then(|v| v.parse().ok()).ok_or_else(|| user(format!("{path}: bad index column")))?;
        rows.insert(index, row.iter().map(str::to_string).collect());
    }
    Ok(rows)
}

fn csv_line(fields: &[String]) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    w.write_record(fields)?;
    w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
}

pub fn sweep(args: SweepArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .map_err(|e| user(format!("cannot read scenario file {}: {e}", args.file)))?;
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
    // Every grid point is validated before anything runs.
    let points = grid(&params);
    let mut scenarios = Vec::with_capacity(points.len());
    for point in &points {
        let mut sets = base_sets.clone();
        sets.extend(params.iter().zip(point).map(|(p, v)| format!("{}={v}", p.key)));
        let s = sim_core::config::load(&text, format, &sets).map_err(|e| {
            let at: Vec<String> = params.iter().zip(point).map(|(p, v)| format!("{}={v}", p.key)).collect();
            user(format!("{} (at {}): {}", args.file, at.join(" "), e.with_file(&args.file)))
        })?;
        scenarios.push(s);
    }
    let first_seed = args.seed.unwrap_or(scenarios[0].seed);
    let seeds: Vec<u64> = (0..args.seeds).map(|i| first_seed.wrapping_add(i)).collect();
    let total = points.len() * seeds.len();
    let sweep_id = {
        let mut h = twox_hash::XxHash64::with_seed(0);
        use std::hash::Hasher;
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
    let done = existing_rows(&args.out, &header, &sweep_id)?;
    let mine: Vec<usize> = (0..total).filter(|i| (*i as u64) % shards == shard - 1).collect();
    let todo: Vec<usize> = mine.iter().copied().filter(|i| !done.contains_key(i)).collect();
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args.out)
        .map_err(|e| user(format!("cannot write {}: {e}", args.out)))?;
    if done.is_empty() && file.metadata()?.len() == 0 {
        file.write_all(&csv_line(&header)?)?;
        file.flush()?;
    }
    if !done.is_empty() {
        eprintln!("{}: {} of {} rows already done; running the rest", args.out, done.len(), mine.len());
    }
    let tasks: Vec<Task> = todo
        .iter()
        .map(|&i| Task { index: i, scenario: scenarios[i / seeds.len()].clone(), seed: seeds[i % seeds.len()] })
        .collect();
    // Results arrive in any order; rows go out in grid order.
    let mut pending: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut next = 0usize;
    let order = todo.clone();
    run_all(tasks, args.jobs, "sweep", |i, report| {
        let point = &points[i / seeds.len()];
        let mut row = vec![i.to_string(), sweep_id.clone(), total.to_string()];
        row.extend(point.iter().cloned());
        row.push(seeds[i % seeds.len()].to_string());
        row.extend(metric_values(&report));
        pending.insert(i, row);
        while next < order.len() {
            let Some(row) = pending.remove(&order[next]) else { break };
            // One write per complete line, flushed: a kill never leaves half a row behind
            // (and a cut-off line is dropped on the next run).
            file.write_all(&csv_line(&row)?)?;
            file.flush()?;
            next += 1;
        }
        Ok(())
    })?;
    file.sync_all().ok();
    eprintln!("{}: {} rows (shard {shard}/{shards} of {total})", args.out, mine.len());
    if let Some(dir) = &args.plot {
        let dir = crate::files::ensure_dir(dir)?;
        for path in crate::plot::sweep(&args.out, &dir)? {
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(())
}

pub fn merge(args: MergeArgs) -> anyhow::Result<()> {
    if args.inputs.is_empty() {
        return Err(user("merge needs at least one input CSV"));
    }
    let mut header: Option<Vec<String>> = None;
    let mut rows: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut tasks: Option<usize> = None;
    for path in &args.inputs {
        let text = std::fs::read_to_string(path).map_err(|e| user(format!("cannot read {path}: {e}")))?;
        let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
        let h: Vec<String> =
            reader.headers().map_err(|e| user(format!("{path}: {e}")))?.iter().map(str::to_string).collect();
        if h.first().map(String::as_str) != Some("index") || h.get(1).map(String::as_str) != Some("sweep") {
            return Err(user(format!("{path} is not an lbsim sweep CSV (its first columns are not index, sweep)")));
        }
        match &header {
            None => header = Some(h),
            Some(first) if *first != h => {
                return Err(user(format!("{path} has other columns than {}: not the same sweep", args.inputs[0])));
            }
            _ => {}
        }
        for row in reader.records() {
            let row = row.map_err(|e| user(format!("{path}: {e}")))?;
            let fields: Vec<String> = row.iter().map(str::to_string).collect();
            let index: usize = fields[0].parse().map_err(|_| user(format!("{path}: bad index {}", fields[0])))?;
            let t: usize = fields[2].parse().map_err(|_| user(format!("{path}: bad tasks {}", fields[2])))?;
            if let Some((first_index, first)) = rows.iter().next()
                && first[1] != fields[1]
            {
                return Err(user(format!(
                    "{path} row {index} belongs to sweep {}, row {first_index} to sweep {}: not the same sweep",
                    fields[1], first[1]
                )));
            }
            tasks = Some(t);
            if let Some(existing) = rows.get(&index) {
                if *existing != fields {
                    return Err(user(format!("{path}: row {index} differs from the same row in another file")));
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
    eprintln!("{}: {} rows from {} files", args.out, rows.len(), args.inputs.len());
    if missing > 0 {
        eprintln!("warning: {missing} of {} rows are missing (a shard not run or not finished?)", tasks.unwrap_or(0));
    }
    Ok(())
}
