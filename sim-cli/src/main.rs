//! `lbsim`: run load-balancing scenarios, compare algorithms, sweep parameters. A thin
//! binary over the `sim_cli` library (which is glue over `sim-core`).

fn main() -> std::process::ExitCode {
    sim_cli::main_with(Vec::new())
}
