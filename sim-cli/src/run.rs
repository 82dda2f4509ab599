//! `lbsim run`, `lbsim check` and `lbsim algorithms`.

use std::io::{IsTerminal, Write};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sim_core::metrics::trace::{AttemptLine, AttemptRecord, TraceEvent, TraceLine, TraceRecord};
use sim_core::{Report, Scenario, Simulation};

use crate::cli::{CheckArgs, OutputFormat, RunArgs};
use crate::error::user;
use crate::files::AtomicFile;
use crate::{interrupt, load, out, table};

/// Runs a simulation to the end in chunks: a progress bar on a terminal, Ctrl-C checked
/// between chunks, `on_chunk` called after each (to drain traces).
pub fn drive(
    sim: &mut Simulation,
    label: &str,
    mut on_chunk: impl FnMut(&mut Simulation) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let duration = sim.scenario().duration_ns;
    let show = std::io::stderr().is_terminal() && duration > 0;
    let bar = if show {
        let bar = ProgressBar::with_draw_target(Some(1000), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:40}] {percent}% simulated {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(out::escape(label).into_owned());
        bar
    } else {
        ProgressBar::hidden()
    };
    let chunk = (duration / 1000).max(1);
    let mut until = 0u64;
    while !sim.is_finished() {
        // Over a quiet stretch (a long drain), jump to the next event rather than stepping
        // through empty chunks.
        until = until.saturating_add(chunk).max(sim.next_event_ns().unwrap_or(0));
        sim.step_until(until);
        on_chunk(sim)?;
        interrupt::check()?;
        let done = (sim.now_ns().min(duration) * 1000 / duration.max(1)).min(1000);
        bar.set_position(done);
        if sim.now_ns() >= duration {
            bar.set_message("(draining)");
        }
    }
    bar.finish_and_clear();
    if let Some(why) = sim.aborted() {
        return Err(user(why.to_string()));
    }
    Ok(())
}

/// Loads the scenario of a `run`, applying `--seed`.
fn prepare(args: &RunArgs) -> anyhow::Result<(Scenario, u64)> {
    let mut scenario = load::scenario(&args.file, &args.overrides.all())?;
    if let Some(seed) = args.seed {
        scenario.seed = seed;
    }
    let seed = scenario.seed;
    Ok((scenario, seed))
}

/// Reads `--window FROM..TO` (durations; FROM defaults to 0, TO to the duration).
fn parse_window(text: &str, scenario: &Scenario) -> anyhow::Result<(u64, u64)> {
    let duration = scenario.duration_ns;
    let bad =
        |why: String| user(format!("--window {text}: {why}; write FROM..TO with durations, e.g. --window 30s..60s"));
    let Some((from, to)) = text.split_once("..") else {
        return Err(bad("no `..` between the start and the end".into()));
    };
    let read = |part: &str, default: u64| -> anyhow::Result<u64> {
        let part = part.trim();
        if part.is_empty() {
            return Ok(default);
        }
        sim_core::config::units::parse_duration_ns(part).map_err(|e| bad(format!("`{part}`: {e}")))
    };
    let (from, to) = (read(from, 0)?, read(to, duration)?);
    if from >= to {
        return Err(bad("the start must come before the end".into()));
    }
    if to > duration {
        return Err(bad(format!(
            "the end is after the duration ({}); requests start only until then (raise it with --set duration=…)",
            sim_core::config::units::format_duration(duration)
        )));
    }
    Ok((from, to))
}

/// The spans between timeline events within [warmup, duration), for `--split-at-events`.
fn event_spans(scenario: &Scenario) -> Vec<(u64, u64)> {
    let (from, to) = (scenario.warmup_ns, scenario.duration_ns);
    let mut cuts: Vec<u64> = vec![from];
    cuts.extend(scenario.events.iter().map(|e| e.at_ns).filter(|&t| t > from && t < to));
    cuts.push(to);
    cuts.sort_unstable();
    cuts.dedup();
    cuts.windows(2).map(|w| (w[0], w[1])).collect()
}

/// `lbsim run --split-at-events`: the scenario once per span, one report each (a table
/// section each, or a JSON array).
fn run_split(
    scenario: &Scenario,
    seed: u64,
    args: &RunArgs,
    factory: Option<fn() -> Box<dyn sim_core::algo::Balancer>>,
) -> anyhow::Result<()> {
    let spans = event_spans(scenario);
    let mut reports = Vec::with_capacity(spans.len());
    let mut text = String::new();
    for (i, &(from, to)) in spans.iter().enumerate() {
        let mut sim = match factory {
            Some(f) => Simulation::with_balancer(scenario, seed, Box::new(f)),
            None => Simulation::new(scenario, seed),
        };
        sim.set_window(from, to).map_err(user)?;
        let replays = crate::replay::attach(&mut sim)?;
        let label = format!("{} (span {}/{})", scenario.name, i + 1, spans.len());
        drive(&mut sim, &label, |_| replays.check())?;
        let report = sim.report();
        if args.format == OutputFormat::Table {
            let fmt = sim_core::config::units::format_duration;
            let _ = std::fmt::Write::write_fmt(
                &mut text,
                format_args!("== span {}/{}: {}..{} ==\n", i + 1, spans.len(), fmt(from), fmt(to)),
            );
            text.push_str(&table::report(&report, sim.scenario()));
            text.push('\n');
        }
        reports.push(report);
    }
    match args.format {
        OutputFormat::Table => out::stdout(&text),
        OutputFormat::Json => {
            out::stdout(&format!("{}\n", serde_json::to_string(&reports).context("writing the reports")?))
        }
    }
}

pub fn run(args: RunArgs, custom: &[crate::CustomBalancer]) -> anyhow::Result<()> {
    let (scenario, seed) = prepare(&args)?;
    let factory = match &args.balancer {
        Some(name) => Some(custom.iter().find(|c| &c.name == name).map(|c| c.factory).ok_or_else(|| {
            let known: Vec<&str> = custom.iter().map(|c| c.name.as_str()).collect();
            user(if known.is_empty() {
                format!(
                    "--balancer {name}: this lbsim has no custom balancers (build your own with sim_cli::main_with)"
                )
            } else {
                format!("--balancer {name}: unknown; this lbsim knows: {}", known.join(", "))
            })
        })?),
        None => None,
    };
    if args.split_at_events {
        return run_split(&scenario, seed, &args, factory);
    }
    let estimated = sim_core::config::estimated_requests(&scenario);
    // Health and timeline lines count against the cap too: flapping checks with no requests
    // at all once wrote hundreds of MB under --max-trace 0.
    let estimated_events = if args.trace_events { sim_core::config::estimated_trace_events(&scenario) } else { 0.0 };
    let mut trace = match &args.trace {
        Some(path) => {
            if estimated + estimated_events > args.max_trace as f64 {
                let events = if args.trace_events {
                    format!(" and {estimated_events:.0} health and timeline events (--trace-events)")
                } else {
                    String::new()
                };
                return Err(user(format!(
                    "--trace would hold about {estimated:.0} requests{events}, more than --max-trace {} lines; raise \
                     --max-trace or shorten the run",
                    args.max_trace
                )));
            }
            crate::files::refuse_input_as_output(&format!("--trace {path}"), path.as_ref(), &[&args.file])?;
            Some(AtomicFile::create(path)?)
        }
        None => None,
    };
    let plot_dir = args.plot.as_deref().map(crate::files::ensure_dir).transpose()?;
    let mut sim = match factory {
        Some(f) => Simulation::with_balancer(&scenario, seed, Box::new(f)),
        None => Simulation::new(&scenario, seed),
    };
    if trace.is_some() {
        sim.enable_trace();
        sim.enable_trace_attempts();
        if args.trace_events {
            sim.enable_trace_events();
        }
    }
    if args.series || plot_dir.is_some() {
        sim.enable_series();
    }
    if let Some(text) = &args.window {
        let (from, to) = parse_window(text, &scenario)?;
        sim.set_window(from, to).map_err(|e| user(format!("--window {text}: {e}")))?;
    }
    let replays = crate::replay::attach(&mut sim)?;
    let mut records: Vec<TraceRecord> = Vec::new();
    let mut events: Vec<TraceEvent> = Vec::new();
    let mut attempts: Vec<AttemptRecord> = Vec::new();
    let mut out = match trace.as_mut() {
        Some(f) => Some(std::io::BufWriter::new(f.writer().try_clone().context("opening the trace file")?)),
        None => None,
    };
    let mut lines = 0u64;
    drive(&mut sim, &scenario.name, |sim| {
        // A bad row met mid-run ends the run with its file:line (no report).
        replays.check()?;
        if let Some(w) = out.as_mut() {
            sim.drain_trace(&mut records);
            sim.drain_trace_events(&mut events);
            sim.drain_trace_attempts(&mut attempts);
            // The estimate is checked up front; the cap holds during the run as well (the
            // file is not kept: it would be cut short).
            lines += (records.len() + events.len() + attempts.len()) as u64;
            if lines > args.max_trace {
                return Err(user(format!(
                    "the trace reached more than --max-trace {} lines ({} requests, tries and health and timeline events so \
                     far, at {} simulated); no trace written. Raise --max-trace or shorten the run",
                    args.max_trace,
                    lines,
                    sim_core::config::units::format_duration(sim.now_ns())
                )));
            }
            write_trace(w, sim, &mut records, &mut attempts, &mut events)?;
        }
        Ok(())
    })?;
    if let Some(mut w) = out.take() {
        w.flush().context("writing the trace")?;
    }
    // Files first, then the report: a reader of stdout that goes away (`| head`) or a full
    // stdout must not cost the trace or the charts.
    if let Some(f) = trace {
        f.commit()?;
    }
    let mut report = sim.report();
    if let Some(dir) = plot_dir {
        for path in crate::plot::run(&report, &sim, dir.path())? {
            out::note(&format!("wrote {}", path.display()));
        }
        dir.keep();
    }
    if !args.series {
        report.series = None;
    }
    print_report(&report, args.format, &sim)
}

/// Writes drained trace records, the tries of requests that took more than one, and events,
/// merged by time (JSON lines). A try ends before (or when) its request does, so at equal
/// times tries come first, then events, then requests, as before.
fn write_trace(
    w: &mut impl Write,
    sim: &Simulation,
    records: &mut Vec<TraceRecord>,
    attempts: &mut Vec<AttemptRecord>,
    events: &mut Vec<TraceEvent>,
) -> anyhow::Result<()> {
    let mut ev = events.drain(..).peekable();
    let mut tries = attempts.drain(..).peekable();
    let mut write_tries = |w: &mut dyn Write, until_ns: u64| -> anyhow::Result<()> {
        while let Some(a) = tries.next_if(|a| a.end_ns <= until_ns) {
            let client = sim.client_name(a.client);
            let line = AttemptLine {
                kind: "attempt",
                id: a.id,
                client: &client,
                server: a.server.map(|s| sim.server_name(s)),
                start_ms: a.start_ns as f64 / 1e6,
                end_ms: a.end_ns as f64 / 1e6,
                outcome: a.outcome,
                attempt: a.attempt,
                try_no: a.try_no,
                conn: a.conn,
            };
            serde_json::to_writer(&mut *w, &line)?;
            w.write_all(b"\n")?;
        }
        Ok(())
    };
    for r in records.drain(..) {
        let end_ms = r.end_ns as f64 / 1e6;
        write_tries(w, r.end_ns)?;
        while let Some(e) = ev.next_if(|e| e.time_ms <= end_ms) {
            serde_json::to_writer(&mut *w, &e)?;
            w.write_all(b"\n")?;
        }
        let client = sim.client_name(r.client);
        let line = TraceLine {
            id: r.id,
            client: &client,
            server: r.server.map(|s| sim.server_name(s)),
            start_ms: r.start_ns as f64 / 1e6,
            end_ms,
            outcome: r.outcome.name(),
            attempt: r.attempt,
            conn: r.conn,
            session: r.session,
            key: r.key.as_ref(),
        };
        serde_json::to_writer(&mut *w, &line)?;
        w.write_all(b"\n")?;
    }
    // What is left (tries and events after the chunk's last request), merged by time: all
    // of it happened before the chunk ended, so nothing later can come before it.
    while let Some(e) = ev.peek() {
        write_tries(w, (e.time_ms * 1e6) as u64)?;
        serde_json::to_writer(&mut *w, &ev.next())?;
        w.write_all(b"\n")?;
    }
    write_tries(w, u64::MAX)?;
    Ok(())
}

fn print_report(report: &Report, format: OutputFormat, sim: &Simulation) -> anyhow::Result<()> {
    match format {
        OutputFormat::Json => out::stdout(&format!("{}\n", report.to_json())),
        OutputFormat::Table => out::stdout(&table::report(report, sim.scenario())),
    }
}

pub fn check(args: CheckArgs) -> anyhow::Result<()> {
    let scenario = load::scenario(&args.file, &args.overrides.all())?;
    let traces = crate::replay::describe(&scenario)?;
    let servers = scenario.initial_servers();
    let clients = scenario.total_clients();
    out::stdout(&format!(
        "{}: ok — scenario \"{}\", {} server(s), {} client(s), {} for {}, about {:.0} requests\n",
        args.file,
        out::escape(&scenario.name),
        servers,
        clients,
        scenario.balancer.algorithm.name(),
        sim_core::config::units::format_duration(scenario.duration_ns),
        sim_core::config::estimated_requests(&scenario)
    ))?;
    for line in traces {
        out::stdout(&format!("{line}\n"))?;
    }
    Ok(())
}

/// The width of the `algorithms` table when stdout is not a terminal (a pipe, a file): wide
/// enough to read, narrow enough for a mail or a code review.
const PIPE_WIDTH: u16 = 100;

pub fn algorithms() -> anyhow::Result<()> {
    let mut t = table::new_table();
    t.set_header(vec!["algorithm", "also accepted", "follows", "parameters"]);
    let mut widest = [0u16; 2];
    for (algorithm, source, params) in sim_core::algo::catalogue() {
        let aliases = algorithm.aliases().join("\n");
        widest[0] = widest[0].max(algorithm.name().chars().count() as u16);
        for a in algorithm.aliases() {
            widest[1] = widest[1].max(a.chars().count() as u16);
        }
        t.add_row(vec![algorithm.name(), aliases.as_str(), source, params]);
    }
    // A name is what people type: never broken over two lines (the prose columns wrap instead).
    for (i, width) in widest.into_iter().enumerate() {
        if let Some(column) = t.column_mut(i) {
            column.set_constraint(comfy_table::ColumnConstraint::LowerBoundary(comfy_table::Width::Fixed(width + 2)));
        }
    }
    // The terminal's width when stdout is one (comfy-table asks it); otherwise a fixed one,
    // not one line per row 220 columns wide.
    if t.width().is_none() {
        t.set_width(PIPE_WIDTH);
    }
    out::stdout(&format!(
        "{t}\nNames are case-insensitive (Envoy's ROUND_ROBIN, LEAST_REQUEST, RING_HASH, MAGLEV, RANDOM).\n"
    ))
}
