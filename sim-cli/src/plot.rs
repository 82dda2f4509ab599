//! Charts (SVG, with plotters) for people who would rather look than read: a run's latency CDF,
//! per-server load and in-flight requests over time with the timeline marked, latency and
//! outcomes over time; algorithms side by side with confidence intervals; sweep metrics
//! against a parameter.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use sim_core::metrics::report::Series;
use sim_core::{Outcome, Report, Simulation};

use crate::compare::{Comparison, metrics};
use crate::stats::estimate;

const SIZE: (u32, u32) = (1000, 560);
const FONT: &str = "sans-serif";

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing a chart: {e:?}")
}

fn color(i: usize) -> RGBColor {
    // Tableau-like palette: distinct and readable on white.
    const C: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ];
    let (r, g, b) = C[i % C.len()];
    RGBColor(r, g, b)
}

/// A chart drawn into `svg` (written to its file by `write_svg`, atomically: an interrupted
/// or failed run leaves no half-drawn chart).
fn area(svg: &mut String) -> DrawingArea<SVGBackend<'_>, Shift> {
    let root = SVGBackend::with_string(svg, SIZE).into_drawing_area();
    let _ = root.fill(&WHITE);
    root
}

fn nice_max(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0] {
        if m * p >= v * 1.05 {
            return m * p;
        }
    }
    10.0 * p
}

/// Marks timeline events as dashed vertical lines with their text.
fn mark_events<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    events: &[(f64, String)],
    y_top: f64,
) -> anyhow::Result<()> {
    for (i, (t, text)) in events.iter().enumerate() {
        let style = ShapeStyle { color: RGBAColor(90, 90, 90, 0.8), filled: false, stroke_width: 1 };
        chart.draw_series(DashedLineSeries::new(vec![(*t, 0.0), (*t, y_top)], 6, 4, style)).map_err(err)?;
        let y = y_top * (0.97 - 0.06 * (i % 4) as f64);
        chart
            .draw_series(std::iter::once(Text::new(format!(" {text}"), (*t, y), (FONT, 13).into_font().color(&BLACK))))
            .map_err(err)?;
    }
    Ok(())
}

/// A chart over simulated time (x from 0 to `t_end` seconds, y from 0 to `y_max`), with
/// its caption and axes drawn.
fn time_chart<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    caption: String,
    t_end: f64,
    y_max: f64,
    y_desc: &str,
) -> anyhow::Result<TimeChart<'a, 'b>> {
    let mut chart = ChartBuilder::on(root)
        .caption(caption, (FONT, 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..t_end, 0.0..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("simulated time (s)")
        .y_desc(y_desc)
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 13))
        .draw()
        .map_err(err)?;
    Ok(chart)
}

type TimeChart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Draws the legend of the labelled series at `position`.
fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> anyhow::Result<()> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, 13))
        .draw()
        .map_err(err)
}

/// Marks the timeline on a time chart and draws its legend.
fn finish_time_chart<'a, 'b: 'a>(mut chart: TimeChart<'a, 'b>, series: &Series, y_max: f64) -> anyhow::Result<()> {
    mark_events(&mut chart, &series.events, y_max)?;
    legend(&mut chart, SeriesLabelPosition::UpperRight)
}

/// Finishes a chart's drawing (the drawing area is done with).
fn present(root: DrawingArea<SVGBackend<'_>, Shift>) -> anyhow::Result<()> {
    root.present().map_err(err)
}

/// Writes a finished chart to its file.
fn write_svg(path: &Path, svg: &str) -> anyhow::Result<()> {
    crate::files::write_atomic(path, svg.as_bytes())
}

/// The charts of one run. Needs the report's series (the caller enables them).
pub fn run(report: &Report, sim: &Simulation, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let series = report.series.as_ref().ok_or_else(|| anyhow!("charts need the time series"))?;
    Ok(vec![
        latency_cdf(report, sim, dir)?,
        per_server_over_time(report, series, dir, true)?,
        per_server_over_time(report, series, dir, false)?,
        latency_over_time(report, series, dir)?,
        outcomes_over_time(report, series, dir)?,
    ])
}

fn latency_cdf(report: &Report, sim: &Simulation, dir: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join("latency_cdf.svg");
    let mut svg = String::new();
    let root = area(&mut svg);
    let mut qs: Vec<f64> = (1..1000).map(|i| f64::from(i) / 1000.0).collect();
    qs.extend([0.9995, 0.9999, 0.99999]);
    let values = sim.latency_quantiles_ms(&qs);
    let min = values.iter().copied().filter(|v| *v > 0.0).fold(f64::INFINITY, f64::min);
    let max = report.latency_ms.max.max(min * 1.5);
    let (lo, hi) = if min.is_finite() { (min * 0.8, max * 1.2) } else { (0.01, 1.0) };
    let caption = format!("{} — latency CDF of ok requests ({})", report.scenario, report.algorithm);
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, (FONT, 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d((lo..hi).log_scale(), 0.0..1.0)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("latency (ms, log scale)")
        .x_label_formatter(&|v| format!("{}", (v * 1000.0).round() / 1000.0))
        .y_desc("fraction of requests ≤ latency")
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 13))
        .draw()
        .map_err(err)?;
    let points: Vec<(f64, f64)> = values.iter().zip(&qs).filter(|(v, _)| **v > 0.0).map(|(v, q)| (*v, *q)).collect();
    chart.draw_series(LineSeries::new(points, color(0).stroke_width(3))).map_err(err)?;
    for (label, q, v) in [
        ("p50", 0.5, report.latency_ms.p50),
        ("p99", 0.99, report.latency_ms.p99),
        ("p99.9", 0.999, report.latency_ms.p999),
    ] {
        if v > 0.0 {
            chart.draw_series(std::iter::once(Circle::new((v, q), 5, color(3).filled()))).map_err(err)?;
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("  {label} {v:.2} ms"),
                    (v, q - 0.04),
                    (FONT, 14).into_font().color(&BLACK),
                )))
                .map_err(err)?;
        }
    }
    drop(chart);
    present(root)?;
    write_svg(&path, &svg)?;
    Ok(path)
}

/// Per-server requests/s (`served = true`) or requests at the server (queued + in service).
fn per_server_over_time(report: &Report, series: &Series, dir: &Path, served: bool) -> anyhow::Result<PathBuf> {
    let name = if served { "load_per_server.svg" } else { "in_flight_per_server.svg" };
    let path = dir.join(name);
    let mut svg = String::new();
    let root = area(&mut svg);
    let interval = series.interval_s.max(1e-9);
    let value = |p: &sim_core::metrics::report::SeriesPoint, s: usize| -> f64 {
        if served { f64::from(p.served[s]) / interval } else { f64::from(p.in_flight[s]) }
    };
    // Servers that exist in the report (added servers included once they did something).
    let shown: Vec<usize> = (0..series.servers.len())
        .filter(|&s| series.points.iter().any(|p| p.served[s] > 0 || p.in_flight[s] > 0))
        .collect();
    let t_end = series.points.last().map_or(1.0, |p| p.t_s + interval);
    let y_max =
        nice_max(series.points.iter().flat_map(|p| shown.iter().map(move |&s| value(p, s))).fold(0.0, f64::max));
    let caption = if served {
        format!("{} — requests served per second, per server", report.scenario)
    } else {
        format!("{} — requests at each server (queued + in service)", report.scenario)
    };
    let y_desc = if served { "requests/s" } else { "requests at the server" };
    let mut chart = time_chart(&root, caption, t_end, y_max, y_desc)?;
    if shown.len() <= 12 {
        for (k, &s) in shown.iter().enumerate() {
            let pts: Vec<(f64, f64)> = series.points.iter().map(|p| (p.t_s + interval / 2.0, value(p, s))).collect();
            let c = color(k);
            chart
                .draw_series(LineSeries::new(pts, c.stroke_width(2)))
                .map_err(err)?
                .label(series.servers[s].clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3)));
        }
    } else {
        // Many servers: the band between the least and most loaded, and the mean.
        let band: Vec<(f64, f64, f64, f64)> = series
            .points
            .iter()
            .map(|p| {
                let vals: Vec<f64> = shown.iter().map(|&s| value(p, s)).collect();
                let mean = vals.iter().sum::<f64>() / vals.len().max(1) as f64;
                let min = vals.iter().copied().fold(f64::INFINITY, f64::min);
                let max = vals.iter().copied().fold(0.0, f64::max);
                (p.t_s + interval / 2.0, min, mean, max)
            })
            .collect();
        let mut polygon: Vec<(f64, f64)> = band.iter().map(|b| (b.0, b.3)).collect();
        polygon.extend(band.iter().rev().map(|b| (b.0, b.1)));
        chart
            .draw_series(std::iter::once(Polygon::new(polygon, color(0).mix(0.25).filled())))
            .map_err(err)?
            .label(format!("min–max over {} servers", shown.len()))
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 18, y + 5)], color(0).mix(0.25).filled()));
        chart
            .draw_series(LineSeries::new(band.iter().map(|b| (b.0, b.2)), color(0).stroke_width(2)))
            .map_err(err)?
            .label("mean")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color(0).stroke_width(3)));
    }
    finish_time_chart(chart, series, y_max)?;
    present(root)?;
    write_svg(&path, &svg)?;
    Ok(path)
}

fn latency_over_time(report: &Report, series: &Series, dir: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join("latency_over_time.svg");
    let mut svg = String::new();
    let root = area(&mut svg);
    let interval = series.interval_s;
    let t_end = series.points.last().map_or(1.0, |p| p.t_s + interval);
    let y_max = nice_max(series.points.iter().map(|p| p.p99_ms).fold(0.0, f64::max));
    let caption = format!("{} — latency over time ({})", report.scenario, report.algorithm);
    let mut chart = time_chart(&root, caption, t_end, y_max, "latency of ok requests (ms)")?;
    for (k, (label, get)) in
        [("p50", (|p: &sim_core::metrics::report::SeriesPoint| p.p50_ms) as fn(&_) -> f64), ("p99", |p| p.p99_ms)]
            .into_iter()
            .enumerate()
    {
        let pts: Vec<(f64, f64)> =
            series.points.iter().filter(|p| p.outcomes[0] > 0).map(|p| (p.t_s + interval / 2.0, get(p))).collect();
        let c = color(k);
        chart
            .draw_series(LineSeries::new(pts, c.stroke_width(2)))
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3)));
    }
    finish_time_chart(chart, series, y_max)?;
    present(root)?;
    write_svg(&path, &svg)?;
    Ok(path)
}

fn outcomes_over_time(report: &Report, series: &Series, dir: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join("outcomes_over_time.svg");
    let mut svg = String::new();
    let root = area(&mut svg);
    let interval = series.interval_s.max(1e-9);
    let t_end = series.points.last().map_or(1.0, |p| p.t_s + interval);
    let y_max =
        nice_max(series.points.iter().map(|p| p.outcomes.iter().sum::<u64>() as f64 / interval).fold(0.0, f64::max));
    let caption = format!("{} — request outcomes per second", report.scenario);
    let mut chart = time_chart(&root, caption, t_end, y_max, "requests ending per second")?;
    // Stacked areas, failures on top of ok.
    let mut base: Vec<f64> = vec![0.0; series.points.len()];
    for (k, outcome) in Outcome::ALL.iter().enumerate() {
        if series.points.iter().all(|p| p.outcomes[k] == 0) {
            continue;
        }
        let top: Vec<f64> = series.points.iter().zip(&base).map(|(p, b)| b + p.outcomes[k] as f64 / interval).collect();
        let mut polygon: Vec<(f64, f64)> =
            series.points.iter().zip(&top).map(|(p, t)| (p.t_s + interval / 2.0, *t)).collect();
        polygon.extend(series.points.iter().zip(&base).rev().map(|(p, b)| (p.t_s + interval / 2.0, *b)));
        let c = match outcome {
            Outcome::Ok => color(2),
            Outcome::Timeout => color(1),
            Outcome::Rejected => color(4),
            Outcome::NoServer => color(5),
            Outcome::ConnectionError => color(3),
            Outcome::RateLimited => color(6),
            Outcome::SessionLost => color(8),
            Outcome::StoreUnavailable => color(9),
        };
        chart
            .draw_series(std::iter::once(Polygon::new(polygon, c.mix(0.6).filled())))
            .map_err(err)?
            .label(outcome.name())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 18, y + 5)], c.mix(0.6).filled()));
        base = top;
    }
    finish_time_chart(chart, series, y_max)?;
    present(root)?;
    write_svg(&path, &svg)?;
    Ok(path)
}

/// Bars with 95% confidence intervals, one bar per algorithm, one panel per metric.
pub fn comparison(c: &Comparison, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let all = metrics();
    for (file, names) in [
        ("compare_latency.svg", vec!["latency_ms.mean", "latency_ms.p99"]),
        ("compare_success_balance.svg", vec!["success_rate", "balance.max_over_mean"]),
    ] {
        let chosen: Vec<_> = all.iter().filter(|m| names.contains(&m.name)).collect();
        let path = dir.join(file);
        let mut svg = String::new();
        let whole = area(&mut svg);
        let root = whole
            .titled(&format!("{} — {} seeds per algorithm (mean and 95% CI)", c.scenario, c.seeds.len()), (FONT, 22))
            .map_err(err)?;
        let panels = root.split_evenly((1, chosen.len()));
        let n = c.algorithms.len();
        let labels: Vec<String> = c.algorithms.iter().map(|a| a.name().to_string()).collect();
        for (panel, m) in panels.iter().zip(&chosen) {
            let es: Vec<_> = (0..n).map(|a| estimate(&c.values(a, m))).collect();
            let top = es.iter().map(|e| e.high.unwrap_or(e.mean)).fold(0.0, f64::max);
            let low = es.iter().map(|e| e.low.unwrap_or(e.mean)).fold(f64::INFINITY, f64::min);
            let (y0, y1) = match m.name {
                // Success rates sit near 1: zoom in, but keep 1 in view.
                "success_rate" => ((low - (1.0 - low) * 0.6).clamp(0.0, 0.999), 1.0),
                "balance.max_over_mean" => (low.min(1.0) * 0.98, (top * 1.02).max(1.01)),
                _ => (0.0, nice_max(top)),
            };
            let mut chart = ChartBuilder::on(panel)
                .caption(m.header, (FONT, 18))
                .margin(14)
                .x_label_area_size(40)
                .y_label_area_size(64)
                .build_cartesian_2d((0..n as i32 - 1).into_segmented(), y0..y1)
                .map_err(err)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_label_formatter(&|v| match v {
                    SegmentValue::CenterOf(i) => labels.get(*i as usize).cloned().unwrap_or_default(),
                    _ => String::new(),
                })
                .label_style((FONT, 13))
                .draw()
                .map_err(err)?;
            chart
                .draw_series(es.iter().enumerate().map(|(a, e)| {
                    let mut bar = Rectangle::new(
                        [(SegmentValue::Exact(a as i32), y0), (SegmentValue::Exact(a as i32 + 1), e.mean)],
                        color(a).mix(0.8).filled(),
                    );
                    bar.set_margin(0, 0, 14, 14);
                    bar
                }))
                .map_err(err)?;
            // Whiskers: the 95% interval, capped.
            for (a, e) in es.iter().enumerate() {
                let (Some(lo), Some(hi)) = (e.low, e.high) else { continue };
                let x = SegmentValue::CenterOf(a as i32);
                let style = BLACK.stroke_width(2);
                chart
                    .draw_series(std::iter::once(PathElement::new(vec![(x.clone(), lo), (x.clone(), hi)], style)))
                    .map_err(err)?;
                for y in [lo, hi] {
                    let cap = Rectangle::new(
                        [(SegmentValue::Exact(a as i32), y), (SegmentValue::Exact(a as i32 + 1), y)],
                        style,
                    );
                    let mut cap = cap;
                    cap.set_margin(0, 0, 40, 40);
                    chart.draw_series(std::iter::once(cap)).map_err(err)?;
                }
            }
            let span = y1 - y0;
            chart
                .draw_series(es.iter().enumerate().map(|(a, e)| {
                    let text = format!("{:.4}", e.mean).trim_end_matches('0').trim_end_matches('.').to_string();
                    let y = (e.high.unwrap_or(e.mean) + span * 0.01).min(y1);
                    Text::new(
                        text,
                        (SegmentValue::CenterOf(a as i32), y),
                        (FONT, 13).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Bottom)),
                    )
                }))
                .map_err(err)?;
        }
        drop(panels);
        present(root)?;
        drop(whole);
        write_svg(&path, &svg)?;
        out.push(path.clone());
    }
    Ok(out)
}

/// Sweep metrics against the first parameter, one line per combination of the others,
/// averaged over seeds with 95% intervals.
pub fn sweep(csv_path: &str, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut reader = csv::Reader::from_path(csv_path)?;
    let header: Vec<String> = reader.headers()?.iter().map(str::to_string).collect();
    let seed_col = header.iter().position(|h| h == "seed").ok_or_else(|| anyhow!("{csv_path}: no seed column"))?;
    let params: Vec<String> = header[3..seed_col].to_vec();
    let rows: Vec<Vec<String>> =
        reader.records().map(|r| r.map(|r| r.iter().map(str::to_string).collect())).collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    if rows.is_empty() || params.is_empty() {
        return Ok(out);
    }
    // The x axis: the first parameter, numeric if every value is, else categories in order.
    let mut xs: Vec<String> = Vec::new();
    for r in &rows {
        if !xs.contains(&r[3]) {
            xs.push(r[3].clone());
        }
    }
    let numeric: Option<Vec<f64>> = xs.iter().map(|x| x.trim_matches('"').parse::<f64>().ok()).collect();
    let x_of = |v: &str| -> f64 {
        match &numeric {
            Some(_) => v.trim_matches('"').parse().unwrap_or(0.0),
            None => xs.iter().position(|x| x == v).unwrap_or(0) as f64,
        }
    };
    let mut lines: Vec<String> = Vec::new();
    for r in &rows {
        let key = r[4..seed_col].join(", ");
        if !lines.contains(&key) {
            lines.push(key);
        }
    }
    for (metric, label) in [
        ("latency_ms_mean", "mean latency (ms)"),
        ("latency_ms_p99", "p99 latency (ms)"),
        ("success_rate", "success rate"),
        ("balance_max_over_mean", "busiest server / mean"),
    ] {
        let col = header.iter().position(|h| h == metric).ok_or_else(|| anyhow!("no {metric} column"))?;
        let path = dir.join(format!("sweep_{metric}.svg"));
        let mut svg = String::new();
        let root = area(&mut svg);
        let mut data: Vec<(String, Vec<(f64, crate::stats::Estimate)>)> = Vec::new();
        for line in &lines {
            let mut pts = Vec::new();
            for x in &xs {
                let vals: Vec<f64> = rows
                    .iter()
                    .filter(|r| &r[3] == x && &r[4..seed_col].join(", ") == line)
                    .filter_map(|r| r[col].parse().ok())
                    .collect();
                if !vals.is_empty() {
                    pts.push((x_of(x), estimate(&vals)));
                }
            }
            data.push((line.clone(), pts));
        }
        let y_max = nice_max(
            data.iter().flat_map(|(_, p)| p.iter().map(|(_, e)| e.high.unwrap_or(e.mean))).fold(0.0, f64::max),
        );
        let (x0, x1) = match &numeric {
            Some(v) => {
                let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let pad = ((hi - lo) * 0.05).max(0.5);
                (lo - pad, hi + pad)
            }
            None => (-0.5, xs.len() as f64 - 0.5),
        };
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("{label} against {}", params[0]), (FONT, 22))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, 0.0..y_max)
            .map_err(err)?;
        let cats = xs.clone();
        let is_numeric = numeric.is_some();
        chart
            .configure_mesh()
            .x_desc(params[0].as_str())
            .y_desc(label)
            .x_label_formatter(&move |x| {
                if is_numeric {
                    format!("{x}")
                } else {
                    let i = x.round();
                    if (x - i).abs() < 1e-6 && i >= 0.0 {
                        cats.get(i as usize).cloned().unwrap_or_default()
                    } else {
                        String::new()
                    }
                }
            })
            .axis_desc_style((FONT, 16))
            .label_style((FONT, 13))
            .draw()
            .map_err(err)?;
        for (k, (name, pts)) in data.iter().enumerate() {
            let c = color(k);
            let legend =
                if params.len() > 1 { format!("{} = {name}", params[1..].join(", ")) } else { label.to_string() };
            chart
                .draw_series(LineSeries::new(pts.iter().map(|(x, e)| (*x, e.mean)), c.stroke_width(2)))
                .map_err(err)?
                .label(legend)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3)));
            chart.draw_series(pts.iter().map(|(x, e)| Circle::new((*x, e.mean), 4, c.filled()))).map_err(err)?;
            chart
                .draw_series(pts.iter().filter_map(|(x, e)| {
                    Some(ErrorBar::new_vertical(*x, e.low?, e.mean, e.high?, c.stroke_width(2), 8))
                }))
                .map_err(err)?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        drop(chart);
        present(root)?;
        write_svg(&path, &svg)?;
        out.push(path);
    }
    Ok(out)
}
