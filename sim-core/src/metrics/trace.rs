//! Trace records: one per request (`--trace`), and optionally health and timeline events
//! (`--trace-events`), for scripts and for replaying what happened.

use serde::Serialize;

use super::report::Outcome;

/// One request's record, in completion order.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct TraceRecord {
    /// Request id.
    pub id: u64,
    /// Global client index.
    pub client: u32,
    /// The server of the last attempt, if one was reached.
    pub server: Option<u32>,
    /// When the client issued it.
    pub start_ns: u64,
    /// When its outcome was known.
    pub end_ns: u64,
    /// Its outcome.
    pub outcome: Outcome,
    /// Attempts made.
    pub attempt: u32,
    /// The client connection that carried the last attempt, if one did.
    pub conn: Option<u64>,
    /// The user session it belongs to, if any.
    pub session: Option<u64>,
}

/// A request record as written to a trace file.
#[derive(Serialize)]
pub struct TraceLine<'a> {
    /// Request id.
    pub id: u64,
    /// Client instance name.
    pub client: &'a str,
    /// Server instance name, or null.
    pub server: Option<&'a str>,
    /// Start in milliseconds.
    pub start_ms: f64,
    /// End in milliseconds.
    pub end_ms: f64,
    /// Outcome name.
    pub outcome: &'static str,
    /// Attempts made.
    pub attempt: u32,
    /// The client connection that carried the last attempt (an added field).
    pub conn: Option<u64>,
    /// The user session it belongs to (an added field).
    pub session: Option<u64>,
}

/// A health or timeline event.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct TraceEvent {
    /// When, in milliseconds.
    pub time_ms: f64,
    /// `health`, `timeline`, `detect`.
    pub event: String,
    /// What it concerns (`balancer-1`, `api-2`, …).
    pub target: String,
    /// What happened (`down`, `up`, `crash`, …).
    pub detail: String,
}
