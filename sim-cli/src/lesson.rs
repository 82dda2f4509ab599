//! `lbsim lesson`: follows a scenario's `[lesson]` step by step (each step's changes on top of
//! the earlier ones, on the same seed) and checks every claim with the core's own evaluation
//! (`sim_core::lesson`, the one the page uses), printing ✓ or ✗ with the measured figure.

use serde::Serialize;
use sim_core::lesson::Checked;
use sim_core::{Format, Scenario, Simulation};

use crate::cli::{LessonArgs, OutputFormat};
use crate::error::user;
use crate::{load, out};

/// One step as followed: its changes in force and its claims checked.
#[derive(Serialize)]
struct StepResult<'a> {
    step: usize,
    say: &'a str,
    sets: Vec<String>,
    claims: Vec<Checked>,
}

/// The claims that do not hold (exit code 1).
#[derive(Debug)]
pub struct ClaimsFail(pub usize, pub usize);

impl std::fmt::Display for ClaimsFail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} of {} claims of the lesson do not hold", self.0, self.1)
    }
}

impl std::error::Error for ClaimsFail {}

/// Reads the scenario with `sets` as `lbsim run` does, printing each warning once however many
/// steps give it.
fn load_step(path: &str, text: &str, sets: &[String], warned: &mut Vec<String>) -> anyhow::Result<Scenario> {
    let mut scenario = load::ScenarioFiles::beside(path)
        .load(text, Format::from_path(path), sets)
        .map_err(|e| user(e.with_file(path)))?;
    crate::replay::resolve(&mut scenario, path)?;
    for warning in sim_core::config::warnings(&scenario) {
        if !warned.contains(&warning) {
            out::note(&format!("warning: {path}: {warning}"));
            warned.push(warning);
        }
    }
    Ok(scenario)
}

pub fn lesson(args: LessonArgs) -> anyhow::Result<()> {
    let text = load::text(&args.file)?;
    let mut warned = Vec::new();
    let base = load_step(&args.file, &text, &args.overrides.all(), &mut warned)?;
    let Some(lesson) = base.lesson.clone() else {
        return Err(user(format!(
            "{}: the scenario has no [lesson] table (see docs/scenario-format.md, \"[lesson]\")",
            args.file
        )));
    };
    let seed = args.seed.unwrap_or(base.seed);
    let mut results = Vec::new();
    // Runs already made, by the changes in force: a step without changes of its own checks the
    // same run as the step before it.
    let mut runs: Vec<(Vec<String>, sim_core::Report)> = Vec::new();
    for (i, step) in lesson.steps.iter().enumerate() {
        let sets = lesson.sets_at(i);
        let mut claims = Vec::new();
        // Every step's changes are checked, also those of a step without claims.
        let mut all = args.overrides.all();
        all.extend(sets.iter().cloned());
        let scenario = load_step(&args.file, &text, &all, &mut warned)
            .map_err(|e| e.context(format!("lesson step {}: its changes {sets:?} do not apply", i + 1)))?;
        if !step.expect.is_empty() {
            if !runs.iter().any(|(s, _)| *s == sets) {
                let mut sim = Simulation::new(&scenario, seed);
                let replays = crate::replay::attach(&mut sim)?;
                crate::run::drive(&mut sim, &format!("{} step {}", scenario.name, i + 1), |_| replays.check())?;
                runs.push((sets.clone(), sim.report()));
            }
            let report = &runs.iter().find(|(s, _)| *s == sets).expect("just run").1;
            claims = sim_core::lesson::check_all(&step.expect, report);
        }
        results.push(StepResult { step: i + 1, say: &step.say, sets, claims });
    }
    let total: usize = results.iter().map(|r| r.claims.len()).sum();
    let failing: usize = results.iter().map(|r| r.claims.iter().filter(|c| !c.holds).count()).sum();
    match args.format {
        OutputFormat::Json => {
            let json = serde_json::json!({
                "scenario": base.name,
                "seed": seed,
                "title": lesson.title,
                "intro": lesson.intro,
                "steps": results,
                "claims": total,
                "failing": failing,
            });
            out::stdout(&format!("{json}\n"))?;
        }
        OutputFormat::Table => out::stdout(&printed(&lesson.title, &lesson.intro, &results, seed, total, failing))?,
    }
    if failing > 0 {
        return Err(anyhow::Error::new(ClaimsFail(failing, total)));
    }
    Ok(())
}

fn printed(title: &str, intro: &str, results: &[StepResult<'_>], seed: u64, total: usize, failing: usize) -> String {
    let mut t = format!("Lesson: {} (seed {seed})\n", out::escape(title));
    if !intro.is_empty() {
        t.push_str(&format!("{}\n", out::escape(intro)));
    }
    for r in results {
        t.push_str(&format!("\nStep {}. {}\n", r.step, out::escape(r.say)));
        if !r.sets.is_empty() {
            let sets: Vec<String> = r.sets.iter().map(|s| format!("--set {}", out::escape(s))).collect();
            t.push_str(&format!("  with {}\n", sets.join(" ")));
        }
        for c in &r.claims {
            let mark = if c.holds { "✓" } else { "✗" };
            t.push_str(&format!("  {mark} {}  (measured {})\n", c.claim, out::escape(&c.shown)));
        }
    }
    t.push_str(&format!("\n{} of {total} claims hold\n", total - failing));
    t
}
