// The README's "Property tests with lbsim" example, verbatim (tests/tests/suite/docs.rs checks).
use proptest::prelude::*;
use sim_core::testing::{Bounds, scenarios};
use sim_core::{Algorithm, Scenario, Simulation};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// For any 2 to 16 servers at load ≤ 0.8, power_of_two keeps the busiest server within
    /// 20% of the mean.
    #[test]
    fn power_of_two_balances(servers in 2u32..16, load in 0.3f64..0.8, seed in any::<u64>()) {
        let s = Scenario::reference_queueing(servers, load, Algorithm::PowerOfTwo, 40_000);
        let mut sim = Simulation::new(&s, seed);
        sim.run();
        let r = sim.report();
        prop_assert!(r.balance.max_over_mean < 1.2, "max/mean {} for\n{}", r.balance.max_over_mean, s.to_toml());
    }

    /// With a session store, no session is ever lost, whatever the crashes and traffic.
    #[test]
    fn a_session_store_never_loses_a_session(mut s in scenarios(Bounds::default())) {
        s.session_store = Some(sim_core::SessionStore { latency_ns: 1_000_000 });
        let mut sim = Simulation::new(&s, s.seed);
        sim.run();
        // On failure, proptest shrinks `s`; the message is a scenario file for `lbsim run`.
        prop_assert_eq!(sim.report().sessions.lost, 0, "{}", s.to_toml());
    }
}
