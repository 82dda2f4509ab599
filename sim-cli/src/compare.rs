//! `lbsim compare`: several algorithms on the same seeds (common random numbers), each metric
//! with its mean and 95% confidence interval across seeds, and the paired difference to the
//! first algorithm with whether it is significant.

use std::fmt::Write as _;
use std::sync::Arc;

use serde_json::{Value, json};
use sim_core::{Algorithm, Report, Scenario};

use crate::cli::{CompareArgs, OutputFormat};
use crate::error::user;
use crate::exp::{Task, run_all};
use crate::stats::{Estimate, estimate, paired_difference};
use crate::{load, out, plot, table};

/// A metric read off a report: its name in JSON, its column header, a getter.
pub struct Metric {
    pub name: &'static str,
    pub header: &'static str,
    pub get: fn(&Report) -> f64,
}

/// The metrics compared and swept.
pub fn metrics() -> Vec<Metric> {
    vec![
        Metric { name: "latency_ms.mean", header: "mean (ms)", get: |r| r.latency_ms.mean },
        Metric { name: "latency_ms.p50", header: "p50 (ms)", get: |r| r.latency_ms.p50 },
        Metric { name: "latency_ms.p99", header: "p99 (ms)", get: |r| r.latency_ms.p99 },
        Metric { name: "latency_ms.p999", header: "p99.9 (ms)", get: |r| r.latency_ms.p999 },
        Metric { name: "success_rate", header: "success", get: success_rate },
        Metric { name: "balance.max_over_mean", header: "max/mean", get: |r| r.balance.max_over_mean },
        Metric { name: "balance.jain_index", header: "Jain", get: |r| r.balance.jain_index },
        Metric { name: "sessions.lost", header: "sessions lost", get: |r| r.sessions.lost as f64 },
    ]
}

/// Completed over sent (1 when nothing was sent).
pub fn success_rate(r: &Report) -> f64 {
    if r.requests.sent == 0 { 1.0 } else { r.requests.completed as f64 / r.requests.sent as f64 }
}

/// Per algorithm and metric: the value of every seed, in seed order. Only the compared
/// metrics are kept, not whole reports, so memory grows by 64 bytes a run.
pub struct Comparison {
    pub scenario: String,
    pub seeds: Vec<u64>,
    pub algorithms: Vec<Algorithm>,
    /// `[algorithm][metric (in `metrics()` order)][seed]`.
    values: Vec<Vec<Vec<f64>>>,
    /// Whether any run started a session (the sessions-lost column is shown only then).
    pub any_sessions: bool,
}

impl Comparison {
    /// The values of one metric for one algorithm, in seed order.
    pub fn values(&self, a: usize, m: &Metric) -> Vec<f64> {
        let i = metrics().iter().position(|x| x.name == m.name).expect("a metric of metrics()");
        self.values[a][i].clone()
    }
}

fn parse_algorithms(list: &str) -> anyhow::Result<Vec<Algorithm>> {
    let mut out = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let a = Algorithm::from_name(name).ok_or_else(|| {
            user(format!("--algorithms: unknown algorithm \"{name}\"; allowed: {}", Algorithm::names()))
        })?;
        if out.contains(&a) {
            return Err(user(format!("--algorithms: \"{name}\" is listed twice")));
        }
        out.push(a);
    }
    if out.is_empty() {
        return Err(user("--algorithms needs at least one algorithm, e.g. --algorithms round_robin,power_of_two"));
    }
    Ok(out)
}

/// Runs the comparison.
pub fn run_comparison(
    base: &Scenario,
    algorithms: &[Algorithm],
    seeds: &[u64],
    jobs: Option<usize>,
) -> anyhow::Result<Comparison> {
    let mut tasks = Vec::new();
    for (ai, &a) in algorithms.iter().enumerate() {
        let mut s = base.clone();
        s.balancer.algorithm = a;
        s.validate().map_err(|e| user(format!("with algorithm {}: {e}", a.name())))?;
        let s = Arc::new(s);
        for (si, &seed) in seeds.iter().enumerate() {
            tasks.push(Task { index: ai * seeds.len() + si, scenario: Arc::clone(&s), seed });
        }
    }
    let all = metrics();
    let mut values = vec![vec![vec![f64::NAN; seeds.len()]; all.len()]; algorithms.len()];
    let mut any_sessions = false;
    run_all(tasks, jobs, "compare", |i, r| {
        let (a, s) = (i / seeds.len(), i % seeds.len());
        for (mi, m) in all.iter().enumerate() {
            values[a][mi][s] = (m.get)(&r);
        }
        any_sessions |= r.sessions.started > 0;
        Ok(())
    })?;
    Ok(Comparison {
        scenario: base.name.clone(),
        seeds: seeds.to_vec(),
        algorithms: algorithms.to_vec(),
        values,
        any_sessions,
    })
}

pub fn compare(args: CompareArgs) -> anyhow::Result<()> {
    let base = load::scenario(&args.file, &args.overrides.all())?;
    let algorithms = parse_algorithms(&args.algorithms)?;
    if args.seeds == 0 {
        return Err(user("--seeds must be at least 1"));
    }
    let runs = check_runs(algorithms.len() as u64, "algorithms", args.seeds, args.max_runs, "compare")?;
    let first_seed = args.seed.unwrap_or(base.seed);
    let seeds = seed_range(first_seed, args.seeds)?;
    let plot_dir = args.plot.as_deref().map(crate::files::ensure_dir).transpose()?;
    let c = run_comparison(&base, &algorithms, &seeds, args.jobs)?;
    debug_assert_eq!(runs as usize, c.algorithms.len() * c.seeds.len());
    // Charts first: a reader of stdout that goes away must not cost them.
    if let Some(dir) = plot_dir {
        for path in plot::comparison(&c, dir.path())? {
            out::note(&format!("wrote {}", path.display()));
        }
        dir.keep();
    }
    match args.format {
        OutputFormat::Json => out::stdout(&format!("{}\n", to_json(&c))),
        OutputFormat::Table => out::stdout(&to_table(&c)),
    }
}

/// Refuses (exit 2, before any work) an experiment of more than `--max-runs` runs:
/// `points` × `seeds`. Returns the number of runs.
pub fn check_runs(points: u64, what: &str, seeds: u64, max_runs: u64, command: &str) -> anyhow::Result<u64> {
    let runs = points.checked_mul(seeds);
    match runs {
        Some(runs) if runs <= max_runs => Ok(runs),
        _ => Err(user(format!(
            "{command} would make {} runs ({points} {what} × {seeds} seeds), more than --max-runs {max_runs} \
             (each run's results are kept in memory); raise --max-runs or use fewer seeds or values",
            runs.map_or_else(|| "more than 2^64".to_string(), |r| r.to_string())
        ))),
    }
}

/// The seeds `first`, `first + 1`, … (`count` of them), all within the range a scenario's
/// `seed` accepts.
pub fn seed_range(first: u64, count: u64) -> anyhow::Result<Vec<u64>> {
    let max = crate::cli::MAX_SEED;
    if first > max || (count > 0 && count - 1 > max - first) {
        return Err(user(format!(
            "seeds {first} to {first} + {count} − 1 go past the largest seed, {max} (2^63 − 1); use a smaller --seed"
        )));
    }
    Ok((0..count).map(|i| first + i).collect())
}

fn est_json(e: &Estimate) -> Value {
    json!({"mean": e.mean, "ci95_low": e.low, "ci95_high": e.high})
}

fn to_json(c: &Comparison) -> String {
    let results: Vec<Value> = c
        .algorithms
        .iter()
        .enumerate()
        .map(|(a, alg)| {
            let mut by_metric = serde_json::Map::new();
            let mut vs_first = serde_json::Map::new();
            for m in metrics() {
                let values = c.values(a, &m);
                by_metric.insert(m.name.into(), est_json(&estimate(&values)));
                if a > 0 {
                    let d = paired_difference(&values, &c.values(0, &m));
                    vs_first.insert(
                        m.name.into(),
                        json!({"mean_diff": d.mean, "ci95_low": d.low, "ci95_high": d.high, "significant": d.significant()}),
                    );
                }
            }
            let mut entry = json!({"algorithm": alg.name(), "metrics": by_metric});
            if a > 0 {
                entry["vs_first"] = Value::Object(vs_first);
            }
            entry
        })
        .collect();
    let note = (c.seeds.len() < 2).then_some("confidence intervals need at least 2 seeds");
    json!({
        "scenario": c.scenario,
        "seeds": c.seeds.len(),
        "seed_values": c.seeds,
        "baseline": c.algorithms[0].name(),
        "note": note,
        "results": results,
    })
    .to_string()
}

fn fmt(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

fn with_ci(e: &Estimate) -> String {
    match e.half_width() {
        Some(h) => mean_pm(e.mean, h),
        None => fmt(e.mean),
    }
}

/// `mean ± h` with as many decimals as the interval's width calls for: the half-width to two
/// significant digits and the mean to the same decimal place — and more digits when needed
/// for the printed numbers to show what the significance mark says (`-0.0001 ± 0.0001 *`
/// cannot show that the interval excludes zero; `-0.00012 ± 0.000094 *` does).
fn mean_pm(mean: f64, h: f64) -> String {
    if !(h.is_finite() && h > 0.0 && mean.is_finite()) {
        return format!("{} ± {}", fmt(mean), fmt(h));
    }
    let mut decimals = (1 - h.log10().floor() as i32).clamp(0, 15) as usize;
    loop {
        let (m, w) = (format!("{mean:.decimals$}"), format!("{h:.decimals$}"));
        let shown_excludes_zero = m.parse::<f64>().unwrap_or(mean).abs() > w.parse::<f64>().unwrap_or(h);
        if shown_excludes_zero == (mean.abs() > h) || decimals >= 15 {
            // A mean that rounds to zero is shown as 0, not -0.
            let m = if m.trim_start_matches('-').chars().all(|c| c == '0' || c == '.') {
                m.trim_start_matches('-').to_string()
            } else {
                m
            };
            return format!("{m} ± {w}");
        }
        decimals += 1;
    }
}

fn to_table(c: &Comparison) -> String {
    let mut out = String::new();
    let shown: Vec<Metric> = metrics().into_iter().filter(|m| m.name != "sessions.lost" || c.any_sessions).collect();
    let _ = writeln!(
        out,
        "{} — {} algorithms × {} seeds ({}…), same seeds for every algorithm; mean ± 95% CI",
        out::escape(&c.scenario),
        c.algorithms.len(),
        c.seeds.len(),
        c.seeds[0]
    );
    let mut t = table::new_table();
    let mut header = vec!["algorithm".to_string()];
    header.extend(shown.iter().map(|m| m.header.to_string()));
    t.set_header(header);
    for (a, alg) in c.algorithms.iter().enumerate() {
        let mut row = vec![alg.name().to_string()];
        row.extend(shown.iter().map(|m| with_ci(&estimate(&c.values(a, m)))));
        t.add_row(row);
    }
    table::align_numbers(&mut t);
    let _ = writeln!(out, "{t}");
    if c.seeds.len() < 2 {
        let _ = writeln!(out, "note: confidence intervals need at least 2 seeds (--seeds 2 or more)");
    }
    if c.algorithms.len() > 1 {
        let mut t = table::new_table();
        let mut header = vec![format!("vs {}", c.algorithms[0].name())];
        header.extend(shown.iter().map(|m| format!("Δ {}", m.header)));
        t.set_header(header);
        for a in 1..c.algorithms.len() {
            let mut row = vec![c.algorithms[a].name().to_string()];
            for m in &shown {
                let d = paired_difference(&c.values(a, m), &c.values(0, m));
                let mark = match d.significant() {
                    Some(true) => " *",
                    Some(false) => "",
                    None => " ?",
                };
                row.push(format!("{}{mark}", with_ci(&d)));
            }
            t.add_row(row);
        }
        table::align_numbers(&mut t);
        let _ = writeln!(out, "{t}");
        let _ = writeln!(
            out,
            "Δ = paired difference to {} on the same seeds; * = significant (95% CI excludes 0)",
            c.algorithms[0].name()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::mean_pm;

    #[test]
    fn digits_follow_the_interval() {
        // Two significant digits of the half-width, the mean to the same place.
        assert_eq!(mean_pm(-0.000123, 0.0000941), "-0.000123 ± 0.000094");
        assert_eq!(mean_pm(2511.5492, 3.21), "2511.5 ± 3.2");
        assert_eq!(mean_pm(167.8, 102.6), "168 ± 103");
        // More digits when two would make an interval that excludes zero look as if it did not.
        assert_eq!(mean_pm(-0.0001149, 0.0001141), "-0.000115 ± 0.000114");
        assert_eq!(mean_pm(0.5, 0.0), "0.5000 ± 0.0000");
        assert_eq!(mean_pm(-0.000003, 0.00076), "0.00000 ± 0.00076");
    }
}
