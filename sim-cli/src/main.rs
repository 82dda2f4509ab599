//! `lbsim`: run load-balancing scenarios, compare algorithms, sweep parameters. A thin
//! binary over the `sim_cli` library (which is glue over `sim-core`).

/// Large blocks on transparent huge pages (`sim_cli::huge_pages`).
#[global_allocator]
static ALLOCATOR: sim_cli::huge_pages::HugePages = sim_cli::huge_pages::HugePages;

fn main() -> std::process::ExitCode {
    sim_cli::main_with(Vec::new())
}
