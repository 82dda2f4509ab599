//! Charts (SVG and PNG, with plotters) for people who would rather look than read: a run's
//! latency CDF, per-server load and in-flight requests over time with the timeline marked,
//! latency and outcomes over time; algorithms side by side with confidence intervals; sweep
//! metrics against a parameter.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::anyhow;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, register_font};
use sim_core::metrics::report::{Series, SeriesPoint};
use sim_core::{Outcome, Report, Simulation};

use crate::compare::{Comparison, metrics};
use crate::stats::estimate;

const SIZE: (u32, u32) = (1000, 560);
const FONT: &str = "sans-serif";
/// The font every chart is measured and (in PNGs) drawn with, built in so that PNGs have
/// text on machines without fonts installed. DejaVu Sans, whose licence allows this
/// (`assets/DejaVuSans.LICENSE`).
static FONT_DATA: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
/// Per-server charts draw a line for each server up to this many (one colour each).
const MAX_SERVER_LINES: usize = 10;

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

/// Registers the built-in font under the family name the charts use (once per process).
fn fonts() -> anyhow::Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    if *REGISTERED.get_or_init(|| register_font(FONT, FontStyle::Normal, FONT_DATA).is_ok()) {
        Ok(())
    } else {
        Err(anyhow!("drawing a chart: the built-in font could not be read"))
    }
}

/// Draws one chart twice, as SVG (sharp at any size, for documents) and as PNG (for pasting
/// into tickets and chats), and writes `STEM.svg` and `STEM.png` into `dir` atomically: an
/// interrupted or failed run leaves no half-drawn chart. `draw_svg` and `draw_png` are the
/// same drawing for the two backends (see `chart!`).
fn save(
    dir: &Path,
    stem: &str,
    draw_svg: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> anyhow::Result<()>,
    draw_png: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<PathBuf>> {
    fonts()?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw_svg(&root)?;
        root.present().map_err(err)?;
    }
    let (w, h) = SIZE;
    let mut rgb = vec![255u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw_png(&root)?;
        root.present().map_err(err)?;
    }
    let svg_path = dir.join(format!("{stem}.svg"));
    crate::files::write_atomic(&svg_path, svg.as_bytes())?;
    let png_path = dir.join(format!("{stem}.png"));
    crate::files::write_atomic(&png_path, &encode_png(&rgb, w, h)?)?;
    Ok(vec![svg_path, png_path])
}

/// An 8-bit RGB image as PNG.
fn encode_png(rgb: &[u8], w: u32, h: u32) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| anyhow!("encoding a PNG chart: {e}"))?;
    writer.write_image_data(rgb).map_err(|e| anyhow!("encoding a PNG chart: {e}"))?;
    writer.finish().map_err(|e| anyhow!("encoding a PNG chart: {e}"))?;
    Ok(out)
}

/// `save` with one drawing expression used for both backends: `chart!(dir, "stem", |root|
/// draw(root, …))`. (A closure cannot be generic over the backend; a macro can repeat it.)
macro_rules! chart {
    ($dir:expr, $stem:expr, |$root:ident| $body:expr) => {
        save($dir, $stem, |$root| $body, |$root| $body)
    };
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

/// Evenly spaced round tick values (1, 2, 2.5 or 5 times a power of ten apart; for
/// `integer` axes whole numbers 1, 2 or 5 times a power of ten apart) within `lo..=hi`, at
/// most about `max` of them.
fn ticks(lo: f64, hi: f64, max: usize, integer: bool) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite() && hi >= lo) {
        return Vec::new();
    }
    let raw = ((hi - lo) / max.max(1) as f64).max(1e-300);
    let p = 10f64.powf(raw.log10().floor());
    let steps: &[f64] = if integer { &[1.0, 2.0, 5.0, 10.0] } else { &[1.0, 2.0, 2.5, 5.0, 10.0] };
    let mut step = steps.iter().map(|m| m * p).find(|s| *s >= raw * (1.0 - 1e-9)).unwrap_or(10.0 * p);
    if integer {
        step = step.round().max(1.0);
    }
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    // Multiples of the step rounded to its decimals: 0.30000000000000004 is not a label.
    let scale = 10f64.powi((1 - step.log10().floor() as i32).max(0));
    (first..=last.min(first + 1000)).map(|k| (k as f64 * step * scale).round() / scale + 0.0).collect()
}

/// A linear f64 axis with the ticks given (plotters' own `with_key_points` cannot take a
/// label formatter).
struct Ticked {
    range: std::ops::Range<f64>,
    ticks: Vec<f64>,
}

impl Ranged for Ticked {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;
    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        RangedCoordf64::from(self.range.clone()).map(value, limit)
    }
    fn key_points<Hint: plotters::coord::ranged1d::KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Bold points (ticks and labels) only; no light mesh lines in between.
        if hint.weight().allow_light_points() { Vec::new() } else { self.ticks.clone() }
    }
    fn range(&self) -> std::ops::Range<f64> {
        self.range.clone()
    }
}

/// Ticks on a log10 axis from `lo` to `hi` (exponents): the powers of ten, and 2 and 5
/// times them when the axis spans fewer than three decades.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut out = Vec::new();
    let (first, last) = (lo.floor() as i32, hi.ceil() as i32);
    for e in first..=last {
        let e = f64::from(e);
        let mut candidates = vec![e];
        if hi - lo < 3.0 {
            candidates.extend([e + 2f64.log10(), e + 5f64.log10()]);
        }
        out.extend(candidates.into_iter().filter(|v| *v >= lo - 1e-9 && *v <= hi + 1e-9));
    }
    out
}

/// `v` with three significant digits and no trailing zeros, for labels people read:
/// 2511.5492 → "2510", 0.0123456 → "0.0123", 1.5 → "1.5".
fn sig3(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{}", if v == 0.0 { 0.0 } else { v });
    }
    let mag = v.abs().log10().floor() as i32;
    let scale = 10f64.powi(mag - 2);
    let r = (v / scale).round() * scale;
    let decimals = (2 - mag).max(0) as usize;
    let s = format!("{r:.decimals$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

/// Marks timeline events as dashed vertical lines with their text.
fn mark_events<DB: DrawingBackend, X: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, RangedCoordf64>>,
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

type TimeChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A chart over simulated time (x from 0 to `t_end` seconds, y over `y`), with its caption
/// and axes drawn; `bottom` is extra room under the axes for a note.
fn time_chart<'a, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    caption: String,
    t_end: f64,
    y: std::ops::Range<f64>,
    y_desc: &str,
    bottom: u32,
) -> anyhow::Result<TimeChart<'a, DB>> {
    let mut chart = ChartBuilder::on(root)
        .caption(caption, (FONT, 22))
        .margin(16)
        .margin_bottom(16 + bottom)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..t_end, y)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("simulated time (s)")
        .y_desc(y_desc)
        // A little room below zero (so a line at zero is not hidden by the axis) gets no tick.
        .y_label_formatter(&|v| if *v < 0.0 { String::new() } else { sig3(*v) })
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 13))
        .draw()
        .map_err(err)?;
    Ok(chart)
}

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
fn finish_time_chart<'a, DB: DrawingBackend + 'a>(
    mut chart: TimeChart<'a, DB>,
    series: &Series,
    y_max: f64,
) -> anyhow::Result<()> {
    mark_events(&mut chart, &series.events, y_max)?;
    legend(&mut chart, SeriesLabelPosition::UpperRight)
}

/// The charts of one run (each as SVG and PNG). Needs the report's series (the caller
/// enables them).
pub fn run(report: &Report, sim: &Simulation, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let series = report.series.as_ref().ok_or_else(|| anyhow!("charts need the time series"))?;
    let mut qs: Vec<f64> = (1..1000).map(|i| f64::from(i) / 1000.0).collect();
    qs.extend([0.9995, 0.9999, 0.99999]);
    let values = sim.latency_quantiles_ms(&qs);
    let mut out = chart!(dir, "latency_cdf", |root| latency_cdf(root, report, &qs, &values))?;
    out.extend(chart!(dir, "load_per_server", |root| per_server_over_time(root, report, series, true))?);
    out.extend(chart!(dir, "in_flight_per_server", |root| per_server_over_time(root, report, series, false))?);
    out.extend(chart!(dir, "latency_over_time", |root| latency_over_time(root, report, series))?);
    out.extend(chart!(dir, "outcomes_over_time", |root| outcomes_over_time(root, report, series))?);
    Ok(out)
}

/// The latency CDF on a log axis, with p50, p99 and p99.9 marked. Their values are listed
/// in a legend (laid out by plotters: never overlapping, never past the edge) in whichever
/// corner the curve and the marks leave free, instead of beside the marks, where p99 and
/// p99.9 — close in height and at the far right — would overlap and run off the chart.
fn latency_cdf<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    report: &Report,
    qs: &[f64],
    values: &[f64],
) -> anyhow::Result<()> {
    let min = values.iter().copied().filter(|v| *v > 0.0).fold(f64::INFINITY, f64::min);
    let max = report.latency_ms.max.max(min * 1.5);
    let (lo, hi) = if min.is_finite() { (min * 0.8, max * 1.2) } else { (0.01, 1.0) };
    let caption = format!("{} — latency CDF of ok requests ({})", report.scenario, report.algorithm);
    let mut chart = ChartBuilder::on(root)
        .caption(caption, (FONT, 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d((lo..hi).log_scale(), 0.0..1.0)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("latency (ms, log scale)")
        .x_label_formatter(&|v| sig3(*v))
        .y_desc("fraction of requests ≤ latency")
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 13))
        .draw()
        .map_err(err)?;
    let points: Vec<(f64, f64)> = values.iter().zip(qs).filter(|(v, _)| **v > 0.0).map(|(v, q)| (*v, *q)).collect();
    chart.draw_series(LineSeries::new(points.iter().copied(), color(0).stroke_width(3))).map_err(err)?;
    let marks: Vec<(&str, f64, f64, RGBColor)> = [
        ("p50", 0.5, report.latency_ms.p50, color(2)),
        ("p99", 0.99, report.latency_ms.p99, color(1)),
        ("p99.9", 0.999, report.latency_ms.p999, color(3)),
    ]
    .into_iter()
    .filter(|m| m.2 > 0.0)
    .collect();
    for &(label, q, v, c) in &marks {
        let style = ShapeStyle { color: c.to_rgba(), filled: false, stroke_width: 1 };
        chart.draw_series(DashedLineSeries::new(vec![(v, 0.0), (v, q)], 5, 4, style)).map_err(err)?;
        chart
            .draw_series(std::iter::once(Circle::new((v, q), 5, c.filled())))
            .map_err(err)?
            .label(format!("{label}  {} ms", sig3(v)))
            .legend(move |(x, y)| Circle::new((x + 9, y), 5, c.filled()));
    }
    if !marks.is_empty() {
        // How much of the curve and of the marks' dashed lines each candidate corner holds
        // (in fractions of the plot: x along the log axis, y the quantile).
        let xf = |v: f64| (v / lo).ln() / (hi / lo).ln();
        let crowd = |x: std::ops::Range<f64>, y: std::ops::Range<f64>| {
            let curve = points.iter().filter(|(v, q)| x.contains(&xf(*v)) && y.contains(q)).count();
            let lines = marks.iter().filter(|m| x.contains(&xf(m.2)) && y.start < m.1).count();
            curve + 100 * lines
        };
        let upper_left = crowd(0.0..0.45, 0.7..1.01);
        let lower_right = crowd(0.55..1.01, 0.0..0.3);
        let corner =
            if lower_right < upper_left { SeriesLabelPosition::LowerRight } else { SeriesLabelPosition::UpperLeft };
        legend(&mut chart, corner)?;
    }
    Ok(())
}

/// Per-server requests/s (`served = true`) or requests at the server (queued + in service).
/// Every server is shown — an idle one is often the finding — and labelled when it served
/// nothing; beyond `MAX_SERVER_LINES` servers the chart says so and draws the range over all
/// servers with the mean, the busiest and the idlest. The requests/s legend gives each server's
/// mean over its own lifetime in the measured window (`lifetime_s`).
fn per_server_over_time<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    report: &Report,
    series: &Series,
    served: bool,
) -> anyhow::Result<()> {
    let interval = series.interval_s.max(1e-9);
    let value = |p: &SeriesPoint, s: usize| -> f64 {
        if served { f64::from(p.served[s]) / interval } else { f64::from(p.in_flight[s]) }
    };
    let n = series.servers.len();
    let idle: Vec<bool> = (0..n).map(|s| series.points.iter().all(|p| p.served[s] == 0)).collect();
    let window_s = report.window.to_s - report.window.from_s;
    // On the load chart each server's mean requests/s over its own lifetime in the measured
    // window: a server added mid-run is not averaged over the time before it existed.
    let name = |s: usize| {
        if idle[s] {
            return format!("{} (served nothing)", series.servers[s]);
        }
        let own = report.servers.iter().find(|r| r.name == series.servers[s]);
        match own {
            Some(r) if served && r.lifetime_s > 0.0 => {
                let rate = r.requests as f64 / r.lifetime_s;
                if r.lifetime_s < window_s * 0.999 {
                    format!("{}: {}/s over its {} s", series.servers[s], sig3(rate), sig3(r.lifetime_s))
                } else {
                    format!("{}: {}/s", series.servers[s], sig3(rate))
                }
            }
            _ => series.servers[s].clone(),
        }
    };
    let t_end = series.points.last().map_or(1.0, |p| p.t_s + interval);
    let y_max = nice_max(series.points.iter().flat_map(|p| (0..n).map(move |s| value(p, s))).fold(0.0, f64::max));
    let caption = if served {
        format!("{} — requests served per second, per server", report.scenario)
    } else {
        format!("{} — requests at each server (queued + in service)", report.scenario)
    };
    let y_desc = if served { "requests/s" } else { "requests at the server" };
    let many = n > MAX_SERVER_LINES;
    // Lines at zero (idle servers) sit just above the x axis, not on it.
    let y_min = -y_max * 0.015;
    let mut chart = time_chart(root, caption, t_end, y_min..y_max, y_desc, if many { 40 } else { 0 })?;
    // A server added during the measured window and still there at its end existed for its
    // last `lifetime_s`: its line starts then instead of lying at zero before it existed
    // (a removed server's span is ambiguous — it may have been added late too — so its
    // line is drawn whole).
    let born: Vec<f64> = (0..n)
        .map(|s| match report.servers.iter().find(|r| r.name == series.servers[s]) {
            Some(r)
                if !matches!(r.state.as_str(), "removed" | "not_added")
                    && r.lifetime_s > 0.0
                    && r.lifetime_s < window_s * 0.999 =>
            {
                report.window.to_s - r.lifetime_s
            }
            _ => f64::NEG_INFINITY,
        })
        .collect();
    // Whether server `s` existed during (part of) the bucket starting at `t`.
    let existed = |s: usize, t: f64| t + interval > born[s] + 1e-9;
    let line = |s: usize| -> Vec<(f64, f64)> {
        series.points.iter().filter(|p| existed(s, p.t_s)).map(|p| (p.t_s + interval / 2.0, value(p, s))).collect()
    };
    if !many {
        for s in 0..n {
            let c = color(s);
            chart
                .draw_series(LineSeries::new(line(s), c.stroke_width(2)))
                .map_err(err)?
                .label(name(s))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3)));
        }
    } else {
        // Too many servers for a line each: the band between the least and the most loaded
        // at each moment, the mean, and the busiest and idlest servers over the whole run.
        let band: Vec<(f64, f64, f64, f64)> = series
            .points
            .iter()
            .map(|p| {
                let vals: Vec<f64> = (0..n).filter(|&s| existed(s, p.t_s)).map(|s| value(p, s)).collect();
                let mean = vals.iter().sum::<f64>() / vals.len().max(1) as f64;
                let min = vals.iter().copied().fold(f64::INFINITY, f64::min);
                let min = if min.is_finite() { min } else { 0.0 };
                let max = vals.iter().copied().fold(0.0, f64::max);
                (p.t_s + interval / 2.0, min, mean, max)
            })
            .collect();
        let mut polygon: Vec<(f64, f64)> = band.iter().map(|b| (b.0, b.3)).collect();
        polygon.extend(band.iter().rev().map(|b| (b.0, b.1)));
        chart
            .draw_series(std::iter::once(Polygon::new(polygon, color(0).mix(0.25).filled())))
            .map_err(err)?
            .label(format!("least to most loaded of {n} servers"))
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 18, y + 5)], color(0).mix(0.25).filled()));
        chart
            .draw_series(LineSeries::new(band.iter().map(|b| (b.0, b.2)), color(0).stroke_width(2)))
            .map_err(err)?
            .label("mean")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color(0).stroke_width(3)));
        // Busiest and idlest by requests served over the run (ties: the first).
        let total = |s: usize| series.points.iter().map(|p| p.served[s] as u64).sum::<u64>();
        let busiest = (0..n).max_by_key(|&s| (total(s), std::cmp::Reverse(s))).unwrap_or(0);
        let idlest = (0..n).min_by_key(|&s| (total(s), s)).unwrap_or(0);
        for (s, what, c) in [(busiest, "busiest", color(3)), (idlest, "idlest", color(1))] {
            chart
                .draw_series(LineSeries::new(line(s), c.stroke_width(2)))
                .map_err(err)?
                .label(format!("{what}: {}", name(s)))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3)));
        }
        let idle_names: Vec<&str> = (0..n).filter(|&s| idle[s]).map(|s| series.servers[s].as_str()).collect();
        let mut note = vec![format!(
            "{n} servers, too many to draw each: the band spans the least to the most loaded at each moment."
        )];
        note.push(match idle_names.len() {
            0 => "Every server served requests.".to_string(),
            k => {
                let mut list = idle_names.iter().take(8).copied().collect::<Vec<_>>().join(", ");
                if k > 8 {
                    list.push_str(&format!(" and {} more", k - 8));
                }
                format!("{k} served nothing: {list}")
            }
        });
        let font = (FONT, 14).into_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Bottom));
        let bottom = SIZE.1 as i32 - 10;
        for (i, text) in note.iter().rev().enumerate() {
            root.draw(&Text::new(text.clone(), (20, bottom - 18 * i as i32), font.clone())).map_err(err)?;
        }
    }
    finish_time_chart(chart, series, y_max)
}

fn latency_over_time<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    report: &Report,
    series: &Series,
) -> anyhow::Result<()> {
    let interval = series.interval_s;
    let t_end = series.points.last().map_or(1.0, |p| p.t_s + interval);
    let y_max = nice_max(series.points.iter().map(|p| p.p99_ms).fold(0.0, f64::max));
    let caption = format!("{} — latency over time ({})", report.scenario, report.algorithm);
    let mut chart = time_chart(root, caption, t_end, 0.0..y_max, "latency of ok requests (ms)", 0)?;
    for (k, (label, get)) in
        [("p50", (|p: &SeriesPoint| p.p50_ms) as fn(&_) -> f64), ("p99", |p| p.p99_ms)].into_iter().enumerate()
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
    finish_time_chart(chart, series, y_max)
}

fn outcomes_over_time<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    report: &Report,
    series: &Series,
) -> anyhow::Result<()> {
    let interval = series.interval_s.max(1e-9);
    let t_end = series.points.last().map_or(1.0, |p| p.t_s + interval);
    let y_max =
        nice_max(series.points.iter().map(|p| p.outcomes.iter().sum::<u64>() as f64 / interval).fold(0.0, f64::max));
    let caption = format!("{} — request outcomes per second", report.scenario);
    let mut chart = time_chart(root, caption, t_end, 0.0..y_max, "requests ending per second", 0)?;
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
            Outcome::ServerError => RGBColor(140, 20, 20),
            Outcome::Overflow => RGBColor(110, 84, 148),
        };
        chart
            .draw_series(std::iter::once(Polygon::new(polygon, c.mix(0.6).filled())))
            .map_err(err)?
            .label(outcome.name())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 18, y + 5)], c.mix(0.6).filled()));
        base = top;
    }
    finish_time_chart(chart, series, y_max)
}

/// Bars with 95% confidence intervals, one bar per algorithm, one panel per metric (each
/// chart as SVG and PNG).
pub fn comparison(c: &Comparison, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    // With failures, the p99 of every request beside the p99 of the ok ones: a variant whose
    // slow requests fail has a better-looking ok p99.
    let latency: &[&str] = if c.any_failures {
        &["latency_ms.mean", "latency_ms.p99", "latency_all_ms.p99"]
    } else {
        &["latency_ms.mean", "latency_ms.p99"]
    };
    for (stem, names) in [
        ("compare_latency", latency),
        ("compare_success_balance", &["success_rate", "balance.max_over_mean", "balance.min_share"][..]),
    ] {
        out.extend(chart!(dir, stem, |root| comparison_chart(root, c, names))?);
    }
    Ok(out)
}

fn comparison_chart<DB: DrawingBackend>(
    whole: &DrawingArea<DB, Shift>,
    c: &Comparison,
    names: &[&str],
) -> anyhow::Result<()> {
    let all = metrics();
    let chosen: Vec<_> = all.iter().filter(|m| names.contains(&m.name)).collect();
    let root = whole
        .titled(&format!("{} — {} seeds per variant (mean and 95% CI)", c.scenario, c.seeds.len()), (FONT, 22))
        .map_err(err)?;
    let panels = root.split_evenly((1, chosen.len()));
    let n = c.variants.len();
    let labels: Vec<String> = c.variants.iter().map(|v| v.name.clone()).collect();
    for (panel, m) in panels.iter().zip(&chosen) {
        let es: Vec<_> = (0..n).map(|a| estimate(&c.values(a, m))).collect();
        let top = es.iter().map(|e| e.high.unwrap_or(e.mean)).fold(0.0, f64::max);
        let low = es.iter().map(|e| e.low.unwrap_or(e.mean)).fold(f64::INFINITY, f64::min);
        // Means that span more than two orders of magnitude go on a log axis (the bars
        // of the small ones would be invisible on a linear one): drawn as log10 of the
        // value on a linear axis, labelled with the values.
        let means: Vec<f64> = es.iter().map(|e| e.mean).collect();
        let lo_mean = means.iter().copied().fold(f64::INFINITY, f64::min);
        let log = m.name.starts_with("latency_") && wants_log_axis(&means);
        let t = |v: f64| if log { v.max(lo_mean * 1e-3).log10() } else { v };
        let (y0, y1) = if log {
            ((lo_mean.log10() - 0.3).floor(), (top.log10() + 0.1).ceil())
        } else {
            match m.name {
                // Success rates sit near 1: zoom in, but keep 1 in view.
                "success_rate" => ((low - (1.0 - low) * 0.6).clamp(0.0, 0.999), 1.0),
                "balance.max_over_mean" => (low.min(1.0) * 0.98, (top * 1.02).max(1.01)),
                _ => (0.0, nice_max(top)),
            }
        };
        let key_points = if log { log_ticks(y0, y1) } else { ticks(y0, y1, 8, false) };
        let caption = if log { format!("{} — log scale", m.header) } else { m.header.to_string() };
        let mut chart = ChartBuilder::on(panel)
            .caption(caption, (FONT, 18))
            .margin(14)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d((0..n as i32 - 1).into_segmented(), Ticked { range: y0..y1, ticks: key_points })
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => labels.get(*i as usize).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .y_label_formatter(&|v| sig3(if log { 10f64.powf(*v) } else { *v }))
            .label_style((FONT, 13))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(es.iter().enumerate().map(|(a, e)| {
                let mut bar = Rectangle::new(
                    [(SegmentValue::Exact(a as i32), y0), (SegmentValue::Exact(a as i32 + 1), t(e.mean).max(y0))],
                    color(a).mix(0.8).filled(),
                );
                bar.set_margin(0, 0, 14, 14);
                bar
            }))
            .map_err(err)?;
        // Whiskers: the 95% interval, capped (a low end below the axis is cut at it).
        for (a, e) in es.iter().enumerate() {
            let (Some(lo), Some(hi)) = (e.low, e.high) else { continue };
            let (lo, hi) = (t(lo).max(y0), t(hi).min(y1));
            let x = SegmentValue::CenterOf(a as i32);
            let style = BLACK.stroke_width(2);
            chart
                .draw_series(std::iter::once(PathElement::new(vec![(x.clone(), lo), (x.clone(), hi)], style)))
                .map_err(err)?;
            for y in [lo, hi] {
                let mut cap =
                    Rectangle::new([(SegmentValue::Exact(a as i32), y), (SegmentValue::Exact(a as i32 + 1), y)], style);
                cap.set_margin(0, 0, 40, 40);
                chart.draw_series(std::iter::once(cap)).map_err(err)?;
            }
        }
        let span = y1 - y0;
        chart
            .draw_series(es.iter().enumerate().map(|(a, e)| {
                let y = (t(e.high.unwrap_or(e.mean)) + span * 0.01).clamp(y0, y1);
                Text::new(
                    sig3(e.mean),
                    (SegmentValue::CenterOf(a as i32), y),
                    (FONT, 13).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Bottom)),
                )
            }))
            .map_err(err)?;
    }
    Ok(())
}

/// Whether bars of these (positive) values need a log axis: they span more than two orders
/// of magnitude, so the small ones would be slivers on a linear one.
fn wants_log_axis(values: &[f64]) -> bool {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(0.0, f64::max);
    lo > 0.0 && lo.is_finite() && hi / lo > 100.0
}

/// Sweep metrics against the first parameter, one line per combination of the others,
/// averaged over seeds with 95% intervals (each chart as SVG and PNG).
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
        ("latency_all_ms_p99", "p99 latency of every request (ms)"),
        ("success_rate", "success rate"),
        ("balance_max_over_mean", "busiest server / mean"),
        ("balance_min_share", "least busy server's share"),
    ] {
        let col = header.iter().position(|h| h == metric).ok_or_else(|| anyhow!("no {metric} column"))?;
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
        let plot = SweepPlot { label, params: &params, xs: &xs, numeric: numeric.as_deref(), data: &data };
        out.extend(chart!(dir, &format!("sweep_{metric}"), |root| sweep_chart(root, &plot))?);
    }
    Ok(out)
}

/// One sweep chart's data: per line (a combination of the other parameters) the estimate
/// at each value of the first parameter.
struct SweepPlot<'a> {
    label: &'a str,
    params: &'a [String],
    xs: &'a [String],
    numeric: Option<&'a [f64]>,
    data: &'a [(String, Vec<(f64, crate::stats::Estimate)>)],
}

fn sweep_chart<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, p: &SweepPlot<'_>) -> anyhow::Result<()> {
    let y_max =
        nice_max(p.data.iter().flat_map(|(_, p)| p.iter().map(|(_, e)| e.high.unwrap_or(e.mean))).fold(0.0, f64::max));
    // Ticks where the parameter has values: whole numbers only for a whole-numbered
    // parameter (a server count has no 3.5), each category for a categorical one.
    let integer = p.numeric.is_some_and(|v| v.iter().all(|x| x.fract() == 0.0 && x.abs() < 9e15));
    let (x0, x1, key_points) = match p.numeric {
        Some(v) => {
            let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let pad = ((hi - lo) * 0.05).max(0.5);
            (lo - pad, hi + pad, ticks(lo - pad, hi + pad, 10, integer))
        }
        None => (-0.5, p.xs.len() as f64 - 0.5, (0..p.xs.len()).map(|i| i as f64).collect()),
    };
    let mut chart = ChartBuilder::on(root)
        .caption(format!("{} against {}", p.label, p.params[0]), (FONT, 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(70)
        .build_cartesian_2d(Ticked { range: x0..x1, ticks: key_points }, 0.0..y_max)
        .map_err(err)?;
    let is_numeric = p.numeric.is_some();
    chart
        .configure_mesh()
        .x_desc(p.params[0].as_str())
        .y_desc(p.label)
        .x_label_formatter(&|x| {
            if integer {
                format!("{}", x.round() as i64)
            } else if is_numeric {
                sig3(*x)
            } else {
                p.xs.get(x.round().max(0.0) as usize).cloned().unwrap_or_default()
            }
        })
        .y_label_formatter(&|y| sig3(*y))
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 13))
        .draw()
        .map_err(err)?;
    for (k, (name, pts)) in p.data.iter().enumerate() {
        let c = color(k);
        let legend =
            if p.params.len() > 1 { format!("{} = {name}", p.params[1..].join(", ")) } else { p.label.to_string() };
        chart
            .draw_series(LineSeries::new(pts.iter().map(|(x, e)| (*x, e.mean)), c.stroke_width(2)))
            .map_err(err)?
            .label(legend)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3)));
        chart.draw_series(pts.iter().map(|(x, e)| Circle::new((*x, e.mean), 4, c.filled()))).map_err(err)?;
        chart
            .draw_series(
                pts.iter().filter_map(|(x, e)| {
                    Some(ErrorBar::new_vertical(*x, e.low?, e.mean, e.high?, c.stroke_width(2), 8))
                }),
            )
            .map_err(err)?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_significant_digits() {
        assert_eq!(sig3(2511.5492), "2510");
        assert_eq!(sig3(0.0123456), "0.0123");
        assert_eq!(sig3(1.5), "1.5");
        assert_eq!(sig3(999.7), "1000");
        assert_eq!(sig3(-42.123), "-42.1");
        assert_eq!(sig3(0.0), "0");
    }

    #[test]
    fn log_axis_beyond_two_orders_of_magnitude() {
        assert!(wants_log_axis(&[2511.5, 12.0]));
        assert!(!wants_log_axis(&[2511.5, 30.0]));
        assert!(!wants_log_axis(&[2511.5, 0.0]), "zero has no place on a log axis");
    }

    #[test]
    fn integer_ticks_are_whole_numbers() {
        assert_eq!(ticks(1.5, 6.5, 10, true), vec![2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(ticks(-50.0, 1050.0, 10, true), [0.0, 200.0, 400.0, 600.0, 800.0, 1000.0]);
        assert!(ticks(0.0, 1.0, 10, false).contains(&0.3), "{:?}", ticks(0.0, 1.0, 10, false));
        assert_eq!(log_ticks(0.0, 4.0), vec![0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(log_ticks(0.0, 1.0).len(), 4);
    }
}
