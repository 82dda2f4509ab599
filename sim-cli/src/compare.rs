//! `lbsim compare`: several variants of a scenario (algorithms, or any `--set` changes) on the
//! same seeds (common random numbers), each metric with its mean and 95% confidence interval
//! across seeds, and the paired difference to the first variant with whether it is
//! significant — and a flag where success rates differ, since latency over fewer successes is
//! not better latency.

use std::fmt::Write as _;
use std::sync::Arc;

use serde_json::{Value, json};
use sim_core::{Algorithm, Report, Scenario};

use crate::cli::{CompareArgs, OutputFormat};
use crate::error::user;
use crate::exp::{Task, run_all};
use crate::stats::{Estimate, estimate, paired_difference};
use crate::{load, out, plot, table};

/// When a metric has a column in the table (JSON always has every metric).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Show {
    Always,
    /// When some run had a failed request (otherwise it equals its `ok`-only twin).
    IfFailures,
    /// When some run had a counted server that served nothing.
    IfIdle,
    /// When some run started a session.
    IfSessions,
    /// Only in JSON (keeps the table narrow).
    JsonOnly,
}

/// A metric read off a report: its name in JSON, its column header, a getter.
pub struct Metric {
    pub name: &'static str,
    pub header: &'static str,
    pub get: fn(&Report) -> f64,
    pub show: Show,
}

/// The metrics compared.
pub fn metrics() -> Vec<Metric> {
    use Show::*;
    let m = |name, header, get, show| Metric { name, header, get, show };
    vec![
        m("latency_ms.mean", "mean (ms)", |r: &Report| r.latency_ms.mean, Always),
        m("latency_ms.p50", "p50 (ms)", |r: &Report| r.latency_ms.p50, Always),
        m("latency_ms.p99", "p99 (ms)", |r: &Report| r.latency_ms.p99, Always),
        m("latency_ms.p999", "p99.9 (ms)", |r: &Report| r.latency_ms.p999, Always),
        m("latency_all_ms.mean", "all mean (ms)", |r: &Report| r.latency_all_ms.mean, IfFailures),
        m("latency_all_ms.p50", "all p50 (ms)", |r: &Report| r.latency_all_ms.p50, JsonOnly),
        m("latency_all_ms.p99", "all p99 (ms)", |r: &Report| r.latency_all_ms.p99, IfFailures),
        m("latency_all_ms.p999", "all p99.9 (ms)", |r: &Report| r.latency_all_ms.p999, JsonOnly),
        m("success_rate", "success", success_rate, Always),
        m("balance.max_over_mean", "max/mean", |r: &Report| r.balance.max_over_mean, Always),
        m("balance.jain_index", "Jain", |r: &Report| r.balance.jain_index, Always),
        m("balance.min_share", "min share", |r: &Report| r.balance.min_share, Always),
        m("balance.idle", "idle servers", |r: &Report| r.balance.idle as f64, IfIdle),
        m("balance.servers", "servers counted", |r: &Report| r.balance.servers as f64, JsonOnly),
        m("sessions.lost", "sessions lost", |r: &Report| r.sessions.lost as f64, IfSessions),
    ]
}

/// Completed over sent (1 when nothing was sent).
pub fn success_rate(r: &Report) -> f64 {
    if r.requests.sent == 0 { 1.0 } else { r.requests.completed as f64 / r.requests.sent as f64 }
}

/// One compared variant: a name and the `--set` changes it makes to the scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variant {
    pub name: String,
    pub sets: Vec<String>,
}

/// Per variant and metric: the value of every seed, in seed order. Only the compared
/// metrics are kept, not whole reports, so memory grows by about 120 bytes a run.
pub struct Comparison {
    pub scenario: String,
    pub seeds: Vec<u64>,
    pub variants: Vec<Variant>,
    /// The algorithm each variant ran (at the start).
    pub algorithms: Vec<String>,
    /// `[variant][metric (in `metrics()` order)][seed]`.
    values: Vec<Vec<Vec<f64>>>,
    /// Whether any run started a session (the sessions-lost column is shown only then).
    pub any_sessions: bool,
    /// Whether any run had a failed request (the latency-of-every-request columns are shown
    /// only then: otherwise they equal the `ok` ones).
    pub any_failures: bool,
    /// Whether any run had an idle counted server.
    pub any_idle: bool,
}

impl Comparison {
    /// The values of one metric for one variant, in seed order.
    pub fn values(&self, a: usize, m: &Metric) -> Vec<f64> {
        let i = metrics().iter().position(|x| x.name == m.name).expect("a metric of metrics()");
        self.values[a][i].clone()
    }

    /// The values of the metric named `name` (one of `metrics()`).
    fn values_of(&self, a: usize, name: &str) -> Vec<f64> {
        let i = metrics().iter().position(|x| x.name == name).expect("a metric of metrics()");
        self.values[a][i].clone()
    }

    /// Whether variant `a`'s success rate differs from the first's: the paired interval of
    /// the difference excludes zero. Its latency figures are then over another share of the
    /// requests, and a lower latency may only mean that the slow requests failed.
    pub fn success_differs(&self, a: usize) -> bool {
        a > 0
            && paired_difference(&self.values_of(a, "success_rate"), &self.values_of(0, "success_rate")).significant()
                == Some(true)
    }

    /// The words under the table for a variant whose success rate differs from the first's.
    pub fn success_warning(&self, a: usize) -> String {
        let mine = estimate(&self.values_of(a, "success_rate")).mean;
        let first = estimate(&self.values_of(0, "success_rate")).mean;
        let (name, base) = (&self.variants[a].name, &self.variants[0].name);
        let rel = if first > 0.0 { (mine / first - 1.0) * 100.0 } else { f64::INFINITY };
        if mine < first {
            format!(
                "{name}: {:.1}% fewer requests succeeded than with {base} (success {} vs {}) — its latency figures are over fewer requests; compare latency_all_ms",
                -rel,
                fmt(mine),
                fmt(first)
            )
        } else {
            format!(
                "{name}: {:.1}% more requests succeeded than with {base} (success {} vs {}) — {base}'s latency figures are over fewer requests; compare latency_all_ms",
                rel,
                fmt(mine),
                fmt(first)
            )
        }
    }
}

/// Reads `--algorithms a,b,c`: each algorithm is the variant `NAME:balancer.algorithm=NAME`.
fn parse_algorithms(list: &str) -> anyhow::Result<Vec<Variant>> {
    let mut out: Vec<Algorithm> = Vec::new();
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
    Ok(out
        .into_iter()
        .map(|a| Variant { name: a.name().to_string(), sets: vec![format!("balancer.algorithm={}", a.name())] })
        .collect())
}

/// The longest variant name (it heads a table row and a chart bar).
const MAX_VARIANT_NAME: usize = 64;

/// Reads `--variant "NAME:KEY=VALUE[;KEY=VALUE…]"` (`NAME:` alone is the scenario as it is).
pub fn parse_variant(arg: &str) -> anyhow::Result<Variant> {
    let expected = "expected NAME:KEY=VALUE[;KEY=VALUE…] (values as --set reads them), e.g. \
                    --variant \"l7:balancer.layer=l7\" or --variant \"as-is:\"";
    let bad = |why: String| user(format!("--variant {arg:?}: {why}; {expected}"));
    let (name, sets) = arg.split_once(':').ok_or_else(|| bad("no `:` after the name".into()))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(bad("the name is empty".into()));
    }
    if name.chars().count() > MAX_VARIANT_NAME || name.chars().any(char::is_control) {
        return Err(bad(format!("the name must be 1 to {MAX_VARIANT_NAME} printable characters")));
    }
    let mut out = Vec::new();
    for set in crate::sweep::split_outside(sets, ';') {
        if set.is_empty() {
            continue;
        }
        let (key, value) = set.split_once('=').ok_or_else(|| bad(format!("`{set}` is not KEY=VALUE")))?;
        let key = key.trim();
        sim_core::config::set::parse_path(key).map_err(|why| bad(format!("bad key path `{key}`: {why}")))?;
        if key == "seed" {
            return Err(bad("a variant cannot set `seed`: every variant runs on the same seeds (use --seed)".into()));
        }
        if value.trim().is_empty() {
            return Err(bad(format!("`{set}` has no value")));
        }
        out.push(format!("{key}={}", value.trim()));
    }
    Ok(Variant { name: name.to_string(), sets: out })
}

/// The variants of a compare command: `--algorithms` first, then each `--variant`, in order.
fn variants(args: &CompareArgs) -> anyhow::Result<Vec<Variant>> {
    let mut all = match &args.algorithms {
        Some(list) => parse_algorithms(list)?,
        None => Vec::new(),
    };
    for v in &args.variants {
        let v = parse_variant(v)?;
        if all.iter().any(|x| x.name == v.name) {
            return Err(user(format!(
                "--variant {}: the name \"{}\" is already used (by --algorithms or another --variant); names must differ",
                v.name, v.name
            )));
        }
        all.push(v);
    }
    if all.is_empty() {
        return Err(user(
            "compare needs --algorithms A,B,… or --variant NAME:KEY=VALUE[;…] (at least one), e.g. --algorithms round_robin,power_of_two",
        ));
    }
    Ok(all)
}

/// Runs the comparison. `scenarios[i]` is variant `i`'s scenario (validated).
pub fn run_comparison(
    scenarios: Vec<Scenario>,
    variants: &[Variant],
    seeds: &[u64],
    jobs: Option<usize>,
) -> anyhow::Result<Comparison> {
    let mut tasks = Vec::new();
    let name = scenarios.first().map(|s| s.name.clone()).unwrap_or_default();
    let algorithms: Vec<String> = scenarios.iter().map(|s| s.balancer.algorithm.name().to_string()).collect();
    for (ai, s) in scenarios.into_iter().enumerate() {
        let s = Arc::new(s);
        for (si, &seed) in seeds.iter().enumerate() {
            tasks.push(Task { index: ai * seeds.len() + si, scenario: Arc::clone(&s), seed });
        }
    }
    let all = metrics();
    let mut values = vec![vec![vec![f64::NAN; seeds.len()]; all.len()]; variants.len()];
    let (mut any_sessions, mut any_failures, mut any_idle) = (false, false, false);
    run_all(tasks, jobs, "compare", |i, r| {
        let (a, s) = (i / seeds.len(), i % seeds.len());
        for (mi, m) in all.iter().enumerate() {
            values[a][mi][s] = (m.get)(&r);
        }
        any_sessions |= r.sessions.started > 0;
        any_failures |= r.requests.failed > 0;
        any_idle |= r.balance.idle > 0;
        Ok(())
    })?;
    Ok(Comparison {
        scenario: name,
        seeds: seeds.to_vec(),
        variants: variants.to_vec(),
        algorithms,
        values,
        any_sessions,
        any_failures,
        any_idle,
    })
}

pub fn compare(args: CompareArgs) -> anyhow::Result<()> {
    let variants = variants(&args)?;
    let base_sets = args.overrides.all();
    // The scenario with the common overrides first (its errors are not a variant's), then
    // every variant's, all validated before anything runs; warnings once each.
    let text = load::text(&args.file)?;
    let format = sim_core::Format::from_path(&args.file);
    let files = load::ScenarioFiles::beside(&args.file);
    let mut base = files.load(&text, format, &base_sets).map_err(|e| user(e.with_file(&args.file)))?;
    crate::replay::resolve(&mut base, &args.file)?;
    let mut seen: Vec<String> = sim_core::config::warnings(&base);
    let mut warnings = seen.clone();
    let mut scenarios = Vec::with_capacity(variants.len());
    for v in &variants {
        let mut sets = base_sets.clone();
        sets.extend(v.sets.iter().cloned());
        let mut s = files
            .load(&text, format, &sets)
            .map_err(|e| user(format!("variant {}: {}", v.name, e.with_file(&args.file))))?;
        crate::replay::resolve(&mut s, &args.file)?;
        for w in sim_core::config::warnings(&s) {
            if !seen.contains(&w) {
                warnings.push(format!("variant {}: {w}", v.name));
                seen.push(w);
            }
        }
        scenarios.push(s);
    }
    for w in &warnings {
        out::note(&format!("warning: {}: {w}", args.file));
    }
    if args.seeds == 0 {
        return Err(user("--seeds must be at least 1"));
    }
    let runs = check_runs(variants.len() as u64, "variants", args.seeds, args.max_runs, "compare")?;
    let first_seed = args.seed.unwrap_or(base.seed);
    let seeds = seed_range(first_seed, args.seeds)?;
    let plot_dir = args.plot.as_deref().map(crate::files::ensure_dir).transpose()?;
    let c = run_comparison(scenarios, &variants, &seeds, args.jobs)?;
    debug_assert_eq!(runs as usize, c.variants.len() * c.seeds.len());
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
        .variants
        .iter()
        .enumerate()
        .map(|(a, variant)| {
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
            let mut entry = json!({
                "variant": variant.name,
                "sets": variant.sets,
                "algorithm": c.algorithms[a],
                "metrics": by_metric,
            });
            if a > 0 {
                entry["vs_first"] = Value::Object(vs_first);
                entry["success_rate_differs"] = json!(c.success_differs(a));
            }
            entry
        })
        .collect();
    let note = (c.seeds.len() < 2).then_some("confidence intervals need at least 2 seeds");
    let warnings: Vec<String> =
        (1..c.variants.len()).filter(|&a| c.success_differs(a)).map(|a| c.success_warning(a)).collect();
    json!({
        "scenario": c.scenario,
        "seeds": c.seeds.len(),
        "seed_values": c.seeds,
        "baseline": c.variants[0].name,
        "note": note,
        "warnings": warnings,
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

/// Whether a metric gets a table column in this comparison.
fn shown(c: &Comparison, m: &Metric) -> bool {
    match m.show {
        Show::Always => true,
        Show::IfFailures => c.any_failures,
        Show::IfIdle => c.any_idle,
        Show::IfSessions => c.any_sessions,
        Show::JsonOnly => false,
    }
}

/// The mark after a variant's name in the table of differences when its success rate
/// differs significantly from the first's.
const SUCCESS_FLAG: &str = "!";

fn to_table(c: &Comparison) -> String {
    let mut out = String::new();
    let shown: Vec<Metric> = metrics().into_iter().filter(|m| shown(c, m)).collect();
    let _ = writeln!(
        out,
        "{} — {} variants × {} seeds ({}…), same seeds for every variant; mean ± 95% CI",
        out::escape(&c.scenario),
        c.variants.len(),
        c.seeds.len(),
        c.seeds[0]
    );
    let mut t = table::new_table();
    let mut header = vec!["variant".to_string()];
    header.extend(shown.iter().map(|m| m.header.to_string()));
    t.set_header(header);
    for (a, v) in c.variants.iter().enumerate() {
        let mut row = vec![out::escape(&v.name).into_owned()];
        row.extend(shown.iter().map(|m| with_ci(&estimate(&c.values(a, m)))));
        t.add_row(row);
    }
    table::align_numbers(&mut t);
    let _ = writeln!(out, "{t}");
    // What each variant changes, unless every variant is a plain algorithm.
    let plain = c.variants.iter().all(|v| v.sets == [format!("balancer.algorithm={}", v.name)]);
    if !plain {
        for v in &c.variants {
            let sets = if v.sets.is_empty() { "(the scenario as it is)".to_string() } else { v.sets.join("; ") };
            let _ = writeln!(out, "  {}: {}", out::escape(&v.name), out::escape(&sets));
        }
    }
    if c.any_failures {
        let _ =
            writeln!(out, "latency columns count ok requests; \"all\" columns every request, failures when they ended");
    }
    if c.seeds.len() < 2 {
        let _ = writeln!(out, "note: confidence intervals need at least 2 seeds (--seeds 2 or more)");
    }
    if c.variants.len() > 1 {
        let base = out::escape(&c.variants[0].name).into_owned();
        let mut t = table::new_table();
        let mut header = vec![format!("vs {base}")];
        header.extend(shown.iter().map(|m| format!("Δ {}", m.header)));
        t.set_header(header);
        let mut flagged = Vec::new();
        for a in 1..c.variants.len() {
            let mut name = out::escape(&c.variants[a].name).into_owned();
            if c.success_differs(a) {
                name = format!("{name} {SUCCESS_FLAG}");
                flagged.push(a);
            }
            let mut row = vec![name];
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
        let _ = writeln!(out, "Δ = paired difference to {base} on the same seeds; * = significant (95% CI excludes 0)");
        if !flagged.is_empty() {
            let _ = writeln!(
                out,
                "{SUCCESS_FLAG} = the success rate differs significantly from {base}'s: a better latency over fewer successes is not better"
            );
            for a in flagged {
                let _ = writeln!(out, "{}", out::escape(&c.success_warning(a)));
            }
        }
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
