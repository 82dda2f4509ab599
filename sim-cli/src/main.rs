//! `lbsim`: run load-balancing scenarios, compare algorithms, sweep parameters. A thin layer
//! over `sim-core`: parse arguments, read files, print tables or JSON, write outputs safely.

mod bench;
mod cli;
mod compare;
mod error;
mod exp;
mod files;
mod interrupt;
mod load;
mod plot;
mod run;
mod stats;
mod sweep;
mod table;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::error::UserError;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // Help and version go to stdout with success; usage errors are bad input (exit 2).
            let code = if err.use_stderr() { 2 } else { 0 };
            let _ = err.print();
            return ExitCode::from(code);
        }
    };
    interrupt::install();
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Check(args) => run::check(args),
        Command::Algorithms => run::algorithms(),
        Command::Compare(args) => compare::compare(args),
        Command::Sweep(args) => sweep::sweep(args),
        Command::Merge(args) => sweep::merge(args),
        Command::Bench(args) => bench::bench(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let code = if err.downcast_ref::<UserError>().is_some() {
                2
            } else if err.downcast_ref::<interrupt::Interrupted>().is_some() {
                130
            } else {
                1
            };
            eprintln!("error: {err:#}");
            ExitCode::from(code)
        }
    }
}
