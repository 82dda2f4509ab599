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

    const SCENARIO: &str = r#"
name = "replay"
duration = "1s"
[[servers]]
name = "api"
count = 1
service = { dist = "constant", value = "50ms" }
[[clients]]
name = "log"
count = 2
protocol = "http2"
trace = "rows.csv"
"#;

    fn row(ms: u64, service_ms: u64) -> TraceRow {
        TraceRow { time_ns: ms * 1_000_000, service_ns: Some(service_ms * 1_000_000), ..TraceRow::default() }
    }

    #[test]
    fn a_trace_group_without_a_source_sends_nothing() {
        let sc = crate::Scenario::from_toml(SCENARIO).unwrap();
        let mut sim = crate::Simulation::new(&sc, 1);
        sim.run();
        assert_eq!(sim.requests_created(), 0);
        assert!(sim.aborted().is_none());
    }

    #[test]
    fn rows_from_an_iterator_are_sent_at_their_times_with_their_work() {
        let sc = crate::Scenario::from_toml(SCENARIO).unwrap();
        let mut sim = crate::Simulation::new(&sc, 1);
        sim.enable_trace();
        // Past the end (1 s): never sent, and the source is not read that far.
        let rows = vec![row(0, 2), row(1, 1), row(1, 3), row(2000, 1)];
        sim.attach_trace(0, Box::new(rows.into_iter())).unwrap();
        assert!(sim.attach_trace(0, Box::new(std::iter::empty())).is_err(), "attached twice");
        sim.run();
        let mut records = Vec::new();
        sim.drain_trace(&mut records);
        let mut ends: Vec<(u64, u64)> = records.iter().map(|r| (r.start_ns, r.end_ns)).collect();
        ends.sort_unstable();
        // One worker, FIFO: 0→2 ms, then 2→3 ms, then 3→6 ms (the server's 50 ms unused).
        assert_eq!(ends, vec![(0, 2_000_000), (1_000_000, 3_000_000), (1_000_000, 6_000_000)]);
        // Rows without an address alternate over the group's two clients.
        let mut clients: Vec<u32> = records.iter().map(|r| r.client).collect();
        clients.sort_unstable();
        assert_eq!(clients, vec![0, 0, 1]);
    }

    #[test]
    fn rows_are_pulled_one_at_a_time_as_the_run_reaches_them() {
        // An endless source, one row per ms: the engine holds the next row only, so after
        // t ms it has taken about t rows, and at the end no more than the run's.
        let sc = crate::Scenario::from_toml(SCENARIO).unwrap();
        let mut sim = crate::Simulation::new(&sc, 1);
        let pulled = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = std::sync::Arc::clone(&pulled);
        let rows = (0u64..).map(move |i| {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            row(i, 0)
        });
        sim.attach_trace(0, Box::new(rows)).unwrap();
        let taken = |p: &std::sync::Arc<std::sync::atomic::AtomicU64>| p.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(taken(&pulled), 1);
        sim.step_until(100_000_000);
        assert_eq!(taken(&pulled), 102, "rows 0..=100 ms sent, the one at 101 ms waiting");
        sim.run();
        // 1000 rows before the 1 s end, and the first one past it (then the source is dropped).
        assert_eq!(taken(&pulled), 1001);
        assert_eq!(sim.requests_created(), 1000);
    }

    #[test]
    fn attaching_is_refused_where_it_cannot_work() {
        let sc = crate::Scenario::from_toml(SCENARIO).unwrap();
        let mut sim = crate::Simulation::new(&sc, 1);
        assert!(sim.attach_trace(5, Box::new(std::iter::empty())).is_err());
        let plain = crate::Scenario::from_toml(&SCENARIO.replace("trace = \"rows.csv\"", "rate = 1")).unwrap();
        let mut sim = crate::Simulation::new(&plain, 1);
        assert!(sim.attach_trace(0, Box::new(std::iter::empty())).unwrap_err().contains("has no trace"));
    }

    #[test]
    fn trace_round_trips_through_toml_and_refuses_generated_traffic() {
        let sc = crate::Scenario::from_toml(SCENARIO).unwrap();
        assert_eq!(sc.clients[0].trace.as_deref(), Some("rows.csv"));
        let back = crate::Scenario::from_toml(&sc.to_toml()).unwrap();
        assert_eq!(back, sc);
        for extra in ["rate = 5", "arrival = \"constant\"", "rate_skew = 1", "ramp = \"1s\""] {
            let text = SCENARIO.replace("trace = \"rows.csv\"", &format!("trace = \"rows.csv\"\n{extra}"));
            let e = crate::Scenario::from_toml(&text).unwrap_err().to_string();
            assert!(e.contains("clients[0].") && e.contains("not allowed with `trace`"), "{extra}: {e}");
        }
        let e = crate::Scenario::from_toml(&SCENARIO.replace("\"rows.csv\"", "\"  \"")).unwrap_err().to_string();
        assert!(e.contains("clients[0].trace") && e.contains("must name a CSV file"), "{e}");
        let e = crate::Scenario::from_toml(&SCENARIO.replace("\"rows.csv\"", "3")).unwrap_err().to_string();
        assert!(e.contains("clients[0].trace") && e.contains("expected a string"), "{e}");
        let set_rate =
            format!("{SCENARIO}\n[[events]]\nat = \"0.5s\"\naction = \"set_rate\"\ntarget = \"log\"\nrate = 5\n");
        let e = crate::Scenario::from_toml(&set_rate).unwrap_err().to_string();
        assert!(e.contains("events[0].target") && e.contains("replays a trace"), "{e}");
    }
}
