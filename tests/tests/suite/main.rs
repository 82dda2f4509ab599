//! lbsim's integration, property and theory tests as one test binary: each file was a binary
//! of its own, and linking a dozen binaries against the engine cost more than running most of
//! them. Filter by module as before: `cargo test --profile ci -p lbsim-tests --test suite cli::`.
//! (`readme_property.rs` stays a binary of its own: it is the README's example, verbatim, as a
//! user would put it in their own `tests/` folder.)

mod algorithm_properties;
mod cli;
mod determinism;
mod docs;
mod experiments;
mod health_algorithms;
mod import;
mod library;
mod protocols;
mod replay;
mod robustness;
mod sessions_gateway;
mod theory;
