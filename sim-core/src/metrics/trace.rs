//! Trace records: one per request (`--trace`), one per try of a request that took more than
//! one (retries at the client or the balancer, hedges), and optionally health and timeline
//! events (`--trace-events`), for scripts and for replaying what happened.

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
    /// Its key: its number in the group's `keys` (1 to `count`), or a replayed row's key string.
    pub key: Option<TraceKey>,
}

/// A request's key in a trace record. Not part of the trace hash (which covers events and
/// outcomes; the key changes the history only through the picks it leads to).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum TraceKey {
    /// The key's number (1 to `count`) in the group's `keys` space: a number in the trace line.
    Index(u64),
    /// A replayed row's `key`: a string in the trace line.
    Text(Box<str>),
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
    /// The request's key: a number (its number in the group's `keys`, 1 to `count`), a
    /// string (a replayed row's `key`), or null (an added field).
    pub key: Option<&'a TraceKey>,
}

/// One try of a request that took more than one (a client retry, a balancer retry, a hedge):
/// where it went and how it ended. A request answered at its first try has none (its request
/// record says it all). Not part of the trace hash: tries are in the history the hash covers
/// already, through the events they cause.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct AttemptRecord {
    /// The request's id.
    pub id: u64,
    /// Global client index.
    pub client: u32,
    /// The server it was sent to, if it reached the point of having one.
    pub server: Option<u32>,
    /// When the try started: the client sent the attempt, or the balancer routed its retry.
    pub start_ns: u64,
    /// When its end was known: at the balancer for a try the balancer retried, else at the
    /// client.
    pub end_ns: u64,
    /// How it ended: an outcome's name, or `cancelled` (a hedge another attempt beat).
    pub outcome: &'static str,
    /// The client attempt it belongs to (1-based; a hedge is an attempt of its own).
    pub attempt: u32,
    /// Its number among the balancer's tries of that attempt (1-based).
    pub try_no: u32,
    /// The client connection that carried it, if one did.
    pub conn: Option<u64>,
}

/// A try as written to a trace file: the request line's fields for that try, `kind =
/// "attempt"` and its `try` number within the client attempt.
#[derive(Serialize)]
pub struct AttemptLine<'a> {
    /// Always `attempt` (request lines have no `kind`).
    pub kind: &'static str,
    /// The request's id.
    pub id: u64,
    /// Client instance name.
    pub client: &'a str,
    /// Server instance name, or null.
    pub server: Option<&'a str>,
    /// Start in milliseconds.
    pub start_ms: f64,
    /// End in milliseconds.
    pub end_ms: f64,
    /// Outcome name, or `cancelled`.
    pub outcome: &'static str,
    /// The client attempt (1-based).
    pub attempt: u32,
    /// The balancer's try within that attempt (1-based).
    #[serde(rename = "try")]
    pub try_no: u32,
    /// The client connection that carried it.
    pub conn: Option<u64>,
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
