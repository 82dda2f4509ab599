//! lbsim's core: a deterministic discrete-event simulator of clients, connections, load
//! balancers and servers. It does no IO: scenario text in, reports out.
//!
//! The same scenario and seed give the same result, bit for bit, on every run and platform
//! (native and wasm32): time is integer nanoseconds, every random draw comes from a seeded
//! stream, and the report's `trace_hash` fingerprints the whole event history.
//!
//! # Build a scenario in code, run it, read the report
//!
//! ```
//! use sim_core::{Algorithm, ClientGroup, Scenario, ServerGroup, ServiceDist, Simulation};
//!
//! // Four servers with exponential service (mean 10 ms), 200 clients at 10 requests/s each.
//! let servers = ServerGroup::new("api", 4, ServiceDist::Exponential { mean_ns: 10_000_000 });
//! let clients = ClientGroup::new("web", 200, 10.0);
//! let mut scenario = Scenario::new("hello", 5_000_000_000, servers, clients);
//! scenario.balancer.algorithm = Algorithm::LeastConnections;
//! scenario.validate().unwrap();
//!
//! let mut sim = Simulation::new(&scenario, 42);
//! sim.run();
//! let report = sim.report();
//! assert_eq!(report.requests.sent, report.requests.completed + report.requests.failed);
//! assert!(report.latency_ms.mean > 10.0);
//! assert_eq!(report.trace_hash.len(), 16);
//! ```
//!
//! # Read a scenario file, step through it, keep a trace
//!
//! ```
//! use sim_core::{Outcome, Scenario, Simulation};
//!
//! let text = r#"
//!     name = "two-servers"
//!     duration = "2s"
//!     [[servers]]
//!     name = "api"
//!     count = 2
//!     service = { dist = "constant", value = "5ms" }
//!     [[clients]]
//!     name = "web"
//!     rate = 50
//!     [[events]]
//!     at = "1s"
//!     action = "crash"
//!     target = "api-2"
//! "#;
//! let scenario = Scenario::from_toml(text).unwrap();
//! let mut sim = Simulation::new(&scenario, scenario.seed);
//! sim.enable_trace();
//! sim.step_until(1_000_000_000); // one simulated second
//! assert!(sim.report().requests.failed == 0);
//! sim.run();
//! let mut records = Vec::new();
//! sim.drain_trace(&mut records);
//! // Without health checks, the balancer keeps sending api-2 half the traffic after it died.
//! let refused = records.iter().filter(|r| r.outcome == Outcome::ConnectionError).count();
//! assert!(refused > 10);
//! // Bad input is an error with a place and a reason, never a panic.
//! let err = Scenario::from_toml("name = \"x\"\nduration = \"2 weeks\"").unwrap_err();
//! assert!(err.to_string().contains("2:12: duration: unknown unit"));
//! ```
//!
//! # Plug in your own balancer
//!
//! Implement [`algo::Balancer`] (the trait the built-in algorithms implement) and run it with
//! [`Simulation::with_balancer`]; [`algo::StaticView`] unit-tests a policy on a hand-made pool.
//!
//! ```
//! use sim_core::algo::{Balancer, PickView};
//! use sim_core::rng::SimRng;
//! use sim_core::{Scenario, Simulation};
//!
//! /// Sends every request to the eligible server with the lowest id.
//! struct FirstAvailable;
//!
//! impl Balancer for FirstAvailable {
//!     fn name(&self) -> &str {
//!         "first_available"
//!     }
//!     fn pick(&mut self, view: &PickView<'_>, _rng: &mut SimRng) -> Option<u32> {
//!         view.eligible().first().copied()
//!     }
//! }
//!
//! let scenario = Scenario::reference_queueing(4, 0.2, sim_core::Algorithm::RoundRobin, 5_000);
//! let mut sim = Simulation::with_balancer(&scenario, 1, Box::new(|| Box::new(FirstAvailable)));
//! sim.run();
//! let report = sim.report();
//! assert_eq!(report.algorithm, "first_available");
//! assert_eq!(report.servers[0].requests, report.servers.iter().map(|s| s.requests).sum::<u64>());
//! ```
//!
//! # Property tests
//!
// The module exists only with the feature: a link to it would be broken without it.
#![cfg_attr(
    feature = "proptest",
    doc = "With the `proptest` feature, [`testing`] has strategies for arbitrary valid scenarios,"
)]
#![cfg_attr(
    not(feature = "proptest"),
    doc = "With the `proptest` feature, the `testing` module has strategies for arbitrary valid scenarios,"
)]
//! failure timelines and traffic mixes that shrink toward simpler scenarios; a shrunk
//! counterexample prints as a scenario file with [`Scenario::to_toml`]. See the README's
//! "Property tests with lbsim".

#![warn(missing_docs)]

pub mod algo;
pub mod config;
pub mod lesson;
pub mod metrics;
pub mod model;
pub(crate) mod queue;
pub mod replay;
pub mod rng;
pub mod scenario;
pub(crate) mod slab;
#[cfg(feature = "proptest")]
pub mod testing;

pub use config::{ConfigError, Format};
pub use metrics::report::{Outcome, Report};
pub use metrics::trace::TraceRecord;
pub use model::Simulation;
pub use scenario::*;
