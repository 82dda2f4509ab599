//! Running many simulations at once: every core (rayon), a progress bar on a terminal,
//! Ctrl-C honoured between chunks of simulated time, results handed back in any order.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use sim_core::{Report, Scenario, Simulation};

use crate::interrupt;

/// One simulation to run.
pub struct Task {
    /// Position in the experiment (for ordering results).
    pub index: usize,
    /// The scenario (shared by the seeds of one point: one copy, not one per run).
    pub scenario: Arc<Scenario>,
    /// The seed.
    pub seed: u64,
}

/// Runs one simulation to the end, checking for Ctrl-C (or `stop`) between chunks; `None`
/// if stopped. Fails if a runtime limit stopped the run.
pub fn simulate(scenario: &Scenario, seed: u64, stop: &AtomicBool) -> anyhow::Result<Option<Report>> {
    let mut sim = Simulation::new(scenario, seed);
    let replays = crate::replay::attach(&mut sim)?;
    let chunk = (scenario.duration_ns / 100).max(1);
    let mut until = 0;
    while !sim.is_finished() {
        if interrupt::requested() || stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        until = (until + chunk).max(sim.next_event_ns().unwrap_or(0));
        sim.step_until(until);
        replays.check()?;
    }
    if let Some(why) = sim.aborted() {
        anyhow::bail!("{why}");
    }
    Ok(Some(sim.report()))
}

/// A progress bar on stderr when it is a terminal, hidden otherwise.
pub fn progress(total: usize, what: &str) -> ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:40}] {pos}/{len} runs, {elapsed} elapsed, ~{eta} left")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(crate::out::escape(what).into_owned());
    bar
}

/// Runs tasks on `jobs` threads (all cores by default) and calls `on_result` on this thread
/// as each finishes. Stops early (returning `Interrupted`) on Ctrl-C.
pub fn run_all(
    tasks: Vec<Task>,
    jobs: Option<usize>,
    what: &str,
    mut on_result: impl FnMut(usize, Report) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let bar = progress(tasks.len(), what);
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(j) = jobs {
        builder = builder.num_threads(j.max(1));
    }
    let pool = builder.build()?;
    let (tx, rx) = mpsc::channel::<(usize, anyhow::Result<Option<Report>>)>();
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let stop_ref = &stop;
        scope.spawn(move || {
            pool.install(|| {
                tasks.into_par_iter().for_each_with(tx, |tx, task| {
                    if interrupt::requested() || stop_ref.load(Ordering::Relaxed) {
                        return;
                    }
                    let result = simulate(&task.scenario, task.seed, stop_ref);
                    let _ = tx.send((task.index, result));
                });
            });
        });
        let mut outcome = Ok(());
        for (index, result) in rx {
            let step = match result {
                Ok(Some(report)) => on_result(index, report),
                Ok(None) => Ok(()),
                Err(e) => Err(e.context(format!("run {index}"))),
            };
            bar.inc(1);
            if let Err(e) = step {
                // Stop the other workers; the scope waits for them to notice.
                stop.store(true, Ordering::Relaxed);
                if outcome.is_ok() {
                    outcome = Err(e);
                }
            }
        }
        outcome
    })?;
    bar.finish_and_clear();
    interrupt::check()
}
