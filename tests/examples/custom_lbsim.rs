//! Your own lbsim: the whole command line, with a custom balancing policy registered by name
//! (`custom_lbsim run FILE --balancer ignores_health`). The library tests use it to replay a
//! shrunk counterexample of the deliberately wrong `IgnoresHealth` balancer.

fn main() -> std::process::ExitCode {
    sim_cli::main_with(vec![sim_cli::CustomBalancer {
        name: "ignores_health".into(),
        factory: || Box::new(lbsim_tests::IgnoresHealth::default()),
    }])
}
