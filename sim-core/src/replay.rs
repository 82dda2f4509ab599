//! Trace replay (`trace = "requests.csv"` in a client group): the rows the engine replays,
//! the interface a caller streams them through, and the fixed functions that turn a row's
//! strings into the engine's numbers. The engine never reads the file (it does no IO): the
//! caller (the `lbsim` CLI) parses it and attaches one [`TraceSource`] per trace group with
//! [`crate::Simulation::attach_trace`]. The engine takes the next row only when the previous
//! row's request is sent, so a replay holds one row per group plus the requests in flight,
//! whatever the file's length.

/// One request of a trace: when it is sent and what is known about it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceRow {
    /// When the request is sent, in ns from the group's `start` (the trace's own start is
    /// its first row, or 0 for relative times). Rows must come in time order.
    pub time_ns: u64,
    /// The request's key (`hash_key = "header:…"`), shown in `--trace` lines.
    pub key: Option<Box<str>>,
    /// The request's work at the server, used instead of a draw from the server's `service`
    /// (still multiplied by a `slow` action's factor).
    pub service_ns: Option<u64>,
    /// Its source address, as [`source_id`] makes it a number: rows from the same address go
    /// to the same client of the group.
    pub source: Option<u64>,
    /// The request path (`hash_key = "path"` and routes).
    pub path: Option<Box<str>>,
    /// Request payload size (instead of the group's `request_bytes`).
    pub request_bytes: Option<u64>,
    /// Response payload size (instead of the group's `response_bytes`).
    pub response_bytes: Option<u64>,
}

/// Where a trace group's rows come from. Any iterator of rows is one (tests, generated
/// traces); the CLI's is a streaming CSV reader.
pub trait TraceSource: Send {
    /// The next row, or `None` at the end (or when the source failed: it keeps its error for
    /// its owner to report).
    fn next_row(&mut self) -> Option<TraceRow>;
}

impl<I: Iterator<Item = TraceRow> + Send> TraceSource for I {
    fn next_row(&mut self) -> Option<TraceRow> {
        self.next()
    }
}

/// The engine's hash key of a key string (`hash_key = "header:…"`) or a path (`hash_key =
/// "path"`): its xxHash64 with seed 0, the function the `path` key of generated traffic uses
/// too, so the same string is the same key everywhere.
pub fn key_hash(text: &str) -> u64 {
    twox_hash::XxHash64::oneshot(0, text.as_bytes())
}

/// A source address as a number: an IPv4 address (`203.0.113.7`) is its 32-bit value, any
/// other text (IPv6, a name) its [`key_hash`]. Rows go to client
/// `mix64(source_id) mod count` of the group.
pub fn source_id(text: &str) -> u64 {
    match text.parse::<std::net::Ipv4Addr>() {
        Ok(ip) => u64::from(u32::from(ip)),
        Err(_) => key_hash(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_strings_same_numbers() {
        assert_eq!(key_hash("user-17"), key_hash("user-17"));
        assert_ne!(key_hash("user-17"), key_hash("user-18"));
        assert_eq!(source_id("10.0.0.1"), 0x0a00_0001);
        assert_eq!(source_id("::1"), key_hash("::1"));
    }
}
