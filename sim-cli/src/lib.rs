//! The `lbsim` command line as a library: `main_with` runs it, optionally with your own
//! balancing policies registered by name (`lbsim run FILE --balancer NAME`), so a three-line
//! binary gives you the whole CLI — tables, JSON, traces, charts — for a custom algorithm.

pub(crate) mod bench;
mod cli;
mod compare;
mod error;
mod exp;
mod export;
mod files;
pub mod huge_pages;
mod import;
mod interrupt;
mod lesson;
mod load;
mod out;
mod plot;
mod replay;
mod run;
mod stats;
mod sweep;
mod table;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::error::UserError;

/// A balancing policy of your own, selectable with `--balancer NAME` in `run`.
#[derive(Clone)]
pub struct CustomBalancer {
    /// The name `--balancer` selects it by.
    pub name: String,
    /// Makes a fresh instance (one per balancer replica and pool).
    pub factory: fn() -> Box<dyn sim_core::algo::Balancer>,
}

/// The table of configuration directives `lbsim import` reads and how each is treated, as
/// Markdown: docs/directives.md includes it verbatim.
pub fn import_directives_markdown() -> String {
    import::directives_markdown()
}

/// Runs the command line on the process's arguments and returns its exit code (0 success,
/// 1 failure, 2 bad input, 130 interrupted by SIGINT, SIGTERM or SIGHUP; a closed stdout ends
/// quietly with 0). `custom` lists policies `--balancer` can select.
///
/// ```no_run
/// use sim_core::algo::{Balancer, PickView};
/// use sim_core::rng::SimRng;
///
/// struct Mine;
/// impl Balancer for Mine {
///     fn name(&self) -> &str { "mine" }
///     fn pick(&mut self, view: &PickView<'_>, _: &mut SimRng) -> Option<u32> {
///         view.eligible().last().copied()
///     }
/// }
///
/// fn main() -> std::process::ExitCode {
///     sim_cli::main_with(vec![sim_cli::CustomBalancer { name: "mine".into(), factory: || Box::new(Mine) }])
/// }
/// ```
pub fn main_with(custom: Vec<CustomBalancer>) -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // Help and version go to stdout with success; usage errors are bad input (exit 2).
            let code = if err.use_stderr() { 2 } else { 0 };
            return match err.print() {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => ExitCode::from(1),
                _ => ExitCode::from(code),
            };
        }
    };
    interrupt::install();
    let result = match cli.command {
        Command::Run(args) => run::run(args, &custom),
        Command::Check(args) => run::check(args),
        Command::Algorithms => run::algorithms(),
        Command::Compare(args) => compare::compare(args),
        Command::Sweep(args) => sweep::sweep(args),
        Command::Merge(args) => sweep::merge(args),
        Command::Bench(args) => bench::bench(args),
        Command::Import(args) => import::import(args),
        Command::Export(args) => export::export(args),
        Command::Lesson(args) => lesson::lesson(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if err.downcast_ref::<out::StdoutClosed>().is_some() {
                // The reader went away (`lbsim … | head`): nothing to say, nobody to say it to.
                return ExitCode::SUCCESS;
            }
            let code = if err.downcast_ref::<UserError>().is_some() {
                2
            } else if err.downcast_ref::<interrupt::Interrupted>().is_some() {
                interrupt::EXIT_CODE
            } else {
                1
            };
            out::note(&format!("error: {err:#}"));
            ExitCode::from(code)
        }
    }
}
