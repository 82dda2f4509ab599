//! lbsim's core: a deterministic discrete-event simulator of clients, connections, load
//! balancers and servers. It does no IO: text in, reports out.

pub mod algo;
pub mod config;
pub mod metrics;
pub mod model;
pub mod queue;
pub mod rng;
pub mod scenario;
pub mod slab;
#[cfg(feature = "proptest")]
pub mod testing;

pub use config::{ConfigError, Format};
pub use metrics::report::{Outcome, Report};
pub use model::Simulation;
pub use scenario::*;
