//! lbsim in the browser: a wasm-bindgen handle over the same deterministic core the command
//! line runs. Long-lived state stays in wasm behind [`Sim`]; JavaScript owns the animation
//! loop and asks for small results (typed arrays) each frame, not large JSON.

use sim_core::config::{ConfigError, Format};
use sim_core::model::snapshot::Snapshot;
use sim_core::{Action, Scenario, Simulation};
use wasm_bindgen::prelude::*;

/// Reports panics to the browser console (instead of an opaque "unreachable").
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

fn format_of(name: &str) -> Format {
    if name.eq_ignore_ascii_case("json") { Format::Json } else { Format::Toml }
}

fn config_error(e: &ConfigError) -> JsError {
    JsError::new(&e.with_file("scenario"))
}

/// Reads scenario text as the command line does (same messages, with line and column).
fn load(text: &str, format: &str) -> Result<Scenario, JsError> {
    load_with(text, format, "")
}

/// Like [`load`], then applies `overrides`: `KEY=VALUE` lines exactly as `lbsim run --set`
/// takes them (blank lines ignored), so an A/B variant differs from its base only there.
fn load_with(text: &str, format: &str, overrides: &str) -> Result<Scenario, JsError> {
    let scenario =
        sim_core::config::load(text, format_of(format), &set_lines(overrides)).map_err(|e| config_error(&e))?;
    no_trace(&scenario).map_err(|e| JsError::new(&e))?;
    Ok(scenario)
}

/// The page cannot read files: a client group with `trace` would send nothing here, so it is
/// refused with a message that says where it does work.
fn no_trace(scenario: &Scenario) -> Result<(), String> {
    match scenario.clients.iter().position(|g| g.trace.is_some()) {
        Some(i) => Err(format!(
            "scenario: clients[{i}].trace: trace replay needs the lbsim CLI (the page cannot read the trace file); run \
             it with `lbsim run`, or give the group a rate instead"
        )),
        None => Ok(()),
    }
}

/// `KEY=VALUE` lines, trimmed, blank ones dropped.
fn set_lines(overrides: &str) -> Vec<String> {
    overrides.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect()
}

fn seeded(mut scenario: Scenario, seed: Option<f64>) -> Scenario {
    if let Some(seed) = seed {
        scenario.seed = seed as u64;
    }
    scenario
}

/// Runs a scenario (TOML) to the end and returns exactly the JSON report of
/// `lbsim run --format json` (seed: the scenario's unless given).
#[wasm_bindgen]
pub fn run(scenario_text: &str, seed: Option<f64>) -> Result<String, JsError> {
    run_format(scenario_text, "toml", seed)
}

/// Like [`run`], for TOML (`"toml"`) or JSON (`"json"`) text.
#[wasm_bindgen(js_name = runFormat)]
pub fn run_format(scenario_text: &str, format: &str, seed: Option<f64>) -> Result<String, JsError> {
    let mut scenario = load(scenario_text, format)?;
    if let Some(seed) = seed {
        scenario.seed = seed as u64;
    }
    let mut sim = Simulation::new(&scenario, scenario.seed);
    sim.run();
    if let Some(why) = sim.aborted() {
        return Err(JsError::new(why));
    }
    Ok(sim.report().to_json())
}

/// Like [`run_format`] with `--set` overrides (`KEY=VALUE`, one a line): `lbsim run --set K=V
/// --seed N --format json`. The page's "run 5 seeds" of A/B mode runs both variants with it.
#[wasm_bindgen(js_name = runWith)]
pub fn run_with(scenario_text: &str, format: &str, seed: Option<f64>, overrides: &str) -> Result<String, JsError> {
    let scenario = seeded(load_with(scenario_text, format, overrides)?, seed);
    let mut sim = Simulation::new(&scenario, scenario.seed);
    sim.run();
    if let Some(why) = sim.aborted() {
        return Err(JsError::new(why));
    }
    Ok(sim.report().to_json())
}

/// `""` when the `--set` overrides apply to the scenario, else the error as `lbsim run --set`
/// prints it (the key path, what is wrong, what is allowed).
#[wasm_bindgen(js_name = checkWith)]
pub fn check_with(scenario_text: &str, format: &str, overrides: &str) -> String {
    match sim_core::config::load(scenario_text, format_of(format), &set_lines(overrides)) {
        Ok(s) => no_trace(&s).err().unwrap_or_default(),
        Err(e) => e.with_file("scenario"),
    }
}

/// Validates scenario text: `""` when valid, else the error as the command line prints it
/// (`scenario:LINE:COLUMN: key: what is wrong`), for inline display in an editor.
#[wasm_bindgen]
pub fn check(scenario_text: &str, format: &str) -> String {
    match sim_core::config::load(scenario_text, format_of(format), &[]) {
        Ok(s) => no_trace(&s).err().unwrap_or_default(),
        Err(e) => e.with_file("scenario"),
    }
}

/// The line of a `check` error (1-based), or 0.
#[wasm_bindgen(js_name = errorLine)]
pub fn error_line(scenario_text: &str, format: &str) -> u32 {
    match sim_core::config::load(scenario_text, format_of(format), &[]) {
        Err(ConfigError { origin: sim_core::config::Origin::At { line, .. }, .. }) => line,
        _ => 0,
    }
}

/// The algorithms, one line each: name, source system, parameters (JSON array).
#[wasm_bindgen]
pub fn algorithms() -> String {
    let list: Vec<serde_json::Value> = sim_core::algo::catalogue()
        .into_iter()
        .map(|(a, source, params)| serde_json::json!({"name": a.name(), "source": source, "parameters": params}))
        .collect();
    serde_json::Value::Array(list).to_string()
}

/// The scenario text to run for step `step` (0-based) of its `[lesson]`: the text read with the
/// changes in force at that step (`lbsim lesson`'s, through the same `--set` code) and written
/// back as TOML, lesson included. The page restarts with it on the same seed.
#[wasm_bindgen(js_name = lessonStepText)]
pub fn lesson_step_text(scenario_text: &str, format: &str, step: u32) -> Result<String, JsError> {
    let base = load(scenario_text, format)?;
    let lesson = base.lesson.as_ref().ok_or_else(|| JsError::new("the scenario has no [lesson]"))?;
    let step = step as usize;
    if step >= lesson.steps.len() {
        return Err(JsError::new(&format!(
            "the lesson has {} steps; there is no step {}",
            lesson.steps.len(),
            step + 1
        )));
    }
    let changed = load_with(scenario_text, format, &lesson.sets_at(step).join("\n"))?;
    Ok(changed.to_toml())
}

/// A running simulation.
#[wasm_bindgen]
pub struct Sim {
    sim: Simulation,
    snap: Snapshot,
    /// The scenario as loaded. The engine's own copy changes as actions run (a `set_rate`
    /// rewrites the group's base rate in place), so exports start from this one.
    loaded: Scenario,
}

#[wasm_bindgen]
impl Sim {
    /// Builds a simulation from scenario text (`format`: "toml" or "json"); `seed` overrides
    /// the scenario's.
    #[wasm_bindgen(constructor)]
    pub fn new(scenario_text: &str, format: &str, seed: Option<f64>) -> Result<Sim, JsError> {
        let mut scenario = load(scenario_text, format)?;
        if let Some(seed) = seed {
            scenario.seed = seed as u64;
        }
        let mut sim = Simulation::new(&scenario, scenario.seed);
        sim.enable_series();
        Ok(Sim { sim, snap: Snapshot::default(), loaded: scenario })
    }

    /// Like the constructor, with `--set` overrides (`KEY=VALUE`, one a line) applied after
    /// reading: side B of the page's A/B mode. Arrival streams derive from (seed, purpose,
    /// client), so a variant that changes only balancer settings sees the same arrivals as
    /// its base on the same seed (common random numbers).
    #[wasm_bindgen(js_name = withOverrides)]
    pub fn with_overrides(
        scenario_text: &str,
        format: &str,
        seed: Option<f64>,
        overrides: &str,
    ) -> Result<Sim, JsError> {
        let scenario = seeded(load_with(scenario_text, format, overrides)?, seed);
        let mut sim = Simulation::new(&scenario, scenario.seed);
        sim.enable_series();
        Ok(Sim { sim, snap: Snapshot::default(), loaded: scenario })
    }

    /// Advances to simulated time `t_ms` (milliseconds).
    #[wasm_bindgen(js_name = stepUntil)]
    pub fn step_until(&mut self, t_ms: f64) {
        self.sim.step_until((t_ms.max(0.0) * 1e6) as u64);
    }

    /// Processes up to `n` events ("as fast as possible"); returns whether the run goes on.
    #[wasm_bindgen(js_name = stepEvents)]
    pub fn step_events(&mut self, n: u32) -> bool {
        self.sim.step_events(n) && !self.sim.is_finished()
    }

    /// Simulated time now, in milliseconds.
    #[wasm_bindgen(js_name = nowMs)]
    pub fn now_ms(&self) -> f64 {
        self.sim.now_ns() as f64 / 1e6
    }

    /// The scenario's duration in milliseconds.
    #[wasm_bindgen(js_name = durationMs)]
    pub fn duration_ms(&self) -> f64 {
        self.sim.scenario().duration_ns as f64 / 1e6
    }

    /// Whether the run is over.
    pub fn finished(&self) -> bool {
        self.sim.is_finished()
    }

    /// Events processed so far.
    pub fn events(&self) -> f64 {
        self.sim.events_processed() as f64
    }

    /// Names and structure (JSON): servers (name, group, pool, backup, workers), client groups,
    /// replicas, algorithm, layer, stickiness, duration and warmup.
    pub fn topology(&self) -> String {
        let s = self.sim.scenario();
        let servers: Vec<serde_json::Value> = (0..self.sim.server_count())
            .map(|i| {
                let (group, pool, backup) = self.sim.server_group(i as u32);
                let workers = s.servers.iter().find(|g| g.name == group).map_or(1, |g| g.workers);
                serde_json::json!({
                    "name": self.sim.server_name(i as u32), "group": group, "pool": pool, "backup": backup,
                    "workers": workers,
                })
            })
            .collect();
        let clients: Vec<serde_json::Value> = s
            .clients
            .iter()
            .map(|c| {
                serde_json::json!({
                    "name": c.name, "count": c.count, "protocol": c.protocol.name(),
                    "balancing": c.balancing, "rate": c.rate,
                    // A closed loop's rate is an output, a schedule's changes: the page says which.
                    "users": c.users, "scheduled": c.schedule.is_some(),
                })
            })
            .collect();
        serde_json::json!({
            "name": s.name, "description": s.description, "servers": servers, "clients": clients,
            "replicas": s.balancer.replicas, "algorithm": s.balancer.algorithm.name(),
            "layer": s.balancer.layer,
            "sticky": s.balancer.sticky,
            "session_store": s.session_store.is_some(),
            "duration_ms": s.duration_ns as f64 / 1e6,
            "warmup_ms": s.warmup_ns as f64 / 1e6,
            "seed": self.sim.seed(),
        })
        .to_string()
    }

    /// Takes a snapshot; read it with the typed-array getters below.
    pub fn snapshot(&mut self) {
        self.sim.snapshot_into(&mut self.snap);
    }

    #[wasm_bindgen(js_name = serverState)]
    pub fn server_state(&self) -> Vec<u8> {
        self.snap.server_state.clone()
    }

    #[wasm_bindgen(js_name = serverBusy)]
    pub fn server_busy(&self) -> Vec<u32> {
        self.snap.server_busy.clone()
    }

    #[wasm_bindgen(js_name = serverQueue)]
    pub fn server_queue(&self) -> Vec<u32> {
        self.snap.server_queue.clone()
    }

    #[wasm_bindgen(js_name = serverConns)]
    pub fn server_conns(&self) -> Vec<u32> {
        self.snap.server_conns.clone()
    }

    #[wasm_bindgen(js_name = serverServed)]
    pub fn server_served(&self) -> Vec<f64> {
        self.snap.server_served.clone()
    }

    #[wasm_bindgen(js_name = serverMarkedDown)]
    pub fn server_marked_down(&self) -> Vec<u32> {
        self.snap.server_marked_down.clone()
    }

    #[wasm_bindgen(js_name = serverSlow)]
    pub fn server_slow(&self) -> Vec<f64> {
        self.snap.server_slow.clone()
    }

    /// Replicas whose outlier detection has each server ejected.
    #[wasm_bindgen(js_name = serverEjected)]
    pub fn server_ejected(&self) -> Vec<u32> {
        self.snap.server_ejected.clone()
    }

    /// When each server's longest ejection ends (ms; 0: not ejected).
    #[wasm_bindgen(js_name = serverEjectedUntilMs)]
    pub fn server_ejected_until_ms(&self) -> Vec<f64> {
        self.snap.server_ejected_until_ms.clone()
    }

    /// Sessions whose state each server holds.
    #[wasm_bindgen(js_name = serverSessions)]
    pub fn server_sessions(&self) -> Vec<u32> {
        self.snap.server_sessions.clone()
    }

    /// Sessions lost at each server so far (after warmup).
    #[wasm_bindgen(js_name = serverSessionsLost)]
    pub fn server_sessions_lost(&self) -> Vec<f64> {
        self.snap.server_sessions_lost.clone()
    }

    /// Error answers, rejections and requests reaching it crashed, per server (after warmup).
    #[wasm_bindgen(js_name = serverErrors)]
    pub fn server_errors(&self) -> Vec<f64> {
        self.snap.server_errors.clone()
    }

    /// Retries that reached each server (after warmup).
    #[wasm_bindgen(js_name = serverRetries)]
    pub fn server_retries(&self) -> Vec<f64> {
        self.snap.server_retries.clone()
    }

    /// Hedges that reached each server (after warmup).
    #[wasm_bindgen(js_name = serverHedges)]
    pub fn server_hedges(&self) -> Vec<f64> {
        self.snap.server_hedges.clone()
    }

    /// Mean latency of each server's ok requests (ms).
    #[wasm_bindgen(js_name = serverLatencyMs)]
    pub fn server_latency_ms(&self) -> Vec<f64> {
        self.snap.server_latency_ms.clone()
    }

    /// Requests each replica has in flight to servers (circuit breakers).
    #[wasm_bindgen(js_name = replicaOpenRequests)]
    pub fn replica_open_requests(&self) -> Vec<u32> {
        self.snap.replica_open_requests.clone()
    }

    /// Requests each replica's circuit breakers refused (after warmup).
    #[wasm_bindgen(js_name = replicaOverflows)]
    pub fn replica_overflows(&self) -> Vec<f64> {
        self.snap.replica_overflows.clone()
    }

    #[wasm_bindgen(js_name = replicaUp)]
    pub fn replica_up(&self) -> Vec<u8> {
        self.snap.replica_up.clone()
    }

    #[wasm_bindgen(js_name = replicaBusy)]
    pub fn replica_busy(&self) -> Vec<u32> {
        self.snap.replica_busy.clone()
    }

    /// Requests waiting for a worker at each replica (from the last snapshot).
    #[wasm_bindgen(js_name = replicaQueue)]
    pub fn replica_queue(&self) -> Vec<u32> {
        self.snap.replica_queue.clone()
    }

    #[wasm_bindgen(js_name = groupInFlight)]
    pub fn group_in_flight(&self) -> Vec<u32> {
        self.snap.group_in_flight.clone()
    }

    #[wasm_bindgen(js_name = groupWaiting)]
    pub fn group_waiting(&self) -> Vec<u32> {
        self.snap.group_waiting.clone()
    }

    #[wasm_bindgen(js_name = groupConns)]
    pub fn group_conns(&self) -> Vec<u32> {
        self.snap.group_conns.clone()
    }

    /// Connections: 5 numbers per entry: group, replica (4294967295 = none), server
    /// (4294967295 = ends at the replica), connections, streams.
    pub fn edges(&self) -> Vec<u32> {
        self.snap.edges.clone()
    }

    /// Requests in flight from each group to each server (groups × servers, row-major).
    pub fn flows(&self) -> Vec<u32> {
        self.snap.flows.clone()
    }

    /// Requests at or on their way to each replica, per group (groups × replicas).
    #[wasm_bindgen(js_name = flowsToReplica)]
    pub fn flows_to_replica(&self) -> Vec<u32> {
        self.snap.flows_to_replica.clone()
    }

    /// Totals after warmup: sent, ok, timeout, rejected, no_server, connection_error,
    /// rate_limited, session_lost, store_unavailable, sessions started, sessions lost.
    pub fn totals(&self) -> Vec<f64> {
        self.snap.totals.clone()
    }

    /// The same totals by name (JSON): `sent`, `outcomes` keyed by each outcome's report name,
    /// `sessions_started`, `sessions_lost` — so the page never reads them by position.
    #[wasm_bindgen(js_name = totalsNamed)]
    pub fn totals_named(&self) -> String {
        let t = &self.snap.totals;
        let at = |i: usize| t.get(i).copied().unwrap_or(0.0);
        let n = sim_core::Outcome::ALL.len();
        let totals = Totals {
            sent: at(0),
            outcomes: sim_core::Outcome::ALL
                .iter()
                .enumerate()
                .map(|(i, o)| (o.name().to_string(), at(1 + i).into()))
                .collect(),
            sessions_started: at(1 + n),
            sessions_lost: at(2 + n),
        };
        serde_json::to_string(&totals).unwrap_or_default()
    }

    /// `[balancer.circuit_breakers] max_requests` (0: no circuit breakers).
    #[wasm_bindgen(js_name = maxRequests)]
    pub fn max_requests(&self) -> u32 {
        self.snap.max_requests
    }

    /// The session store's state: 0 none, 1 up, 2 down, 3 slow (from the last snapshot).
    #[wasm_bindgen(js_name = storeState)]
    pub fn store_state(&self) -> u8 {
        self.snap.store
    }

    /// The session store's latency now (ms).
    #[wasm_bindgen(js_name = storeLatencyMs)]
    pub fn store_latency_ms(&self) -> f64 {
        self.snap.store_latency_ms
    }

    /// Retries so far (the clients' and the balancer's), after warmup.
    pub fn retries(&self) -> f64 {
        self.snap.retries
    }

    /// Hedged attempts so far, after warmup.
    pub fn hedges(&self) -> f64 {
        self.snap.hedges
    }

    /// The autoscalers' decisions from index `from` on (JSON array: `at_s`, `group`,
    /// `current`, `ready`, `desired`, `metric`).
    #[wasm_bindgen(js_name = scaleDecisionsFrom)]
    pub fn scale_decisions_from(&self, from: usize) -> String {
        let all = self.sim.scale_decisions();
        serde_json::to_string(all.get(from..).unwrap_or(&[])).unwrap_or_else(|_| "[]".into())
    }

    /// Time-series points from index `from` on (JSON array of the report's series points).
    #[wasm_bindgen(js_name = seriesFrom)]
    pub fn series_from(&self, from: usize) -> String {
        self.sim.series_points_json(from)
    }

    /// Applies a live action now — the same actions as `[[events]]`, as JSON with the same keys
    /// (`{"action": "crash", "target": "api-2"}`, `{"action": "set_algorithm", "algorithm":
    /// "peak_ewma"}`) — and records it on the timeline. Returns false once clients stopped.
    pub fn apply(&mut self, action_json: &str) -> Result<bool, JsError> {
        let action = parse_action(action_json, self.sim.scenario())?;
        Ok(self.sim.schedule_action(action))
    }

    /// The settings now (JSON, sim-core `LiveSettings`): algorithm, layer, stickiness, the
    /// session store, each client group's rate — as the timeline's events left them.
    #[wasm_bindgen(js_name = liveSettings)]
    pub fn live_settings(&self) -> String {
        serde_json::to_string(&self.sim.live_settings()).unwrap_or_default()
    }

    /// The timeline (JSON, sim-core `TimelineItem`s): the scenario's events and the live
    /// actions applied, each with its time, kind, target, typed values and the core's label.
    #[wasm_bindgen(js_name = timelineItems)]
    pub fn timeline_items(&self) -> String {
        serde_json::to_string(&self.sim.timeline_items()).unwrap_or_default()
    }

    /// The balancer state of replica `replica` (0-based) for the inspector (JSON).
    pub fn inspect(&self, replica: u32) -> String {
        self.sim.inspect(replica).map_or("null".into(), |i| serde_json::to_string(&i).unwrap_or_default())
    }

    /// The report so far (the same JSON as the command line's, plus series).
    pub fn report(&self) -> String {
        self.sim.report().to_json()
    }

    /// The scenario as loaded with the live actions recorded as `[[events]]` and the seed used:
    /// `lbsim run` replays it to the same trace hash. The events come from the engine (the
    /// scenario's own, then the live ones in the order applied); everything else from the
    /// scenario as loaded, since actions such as `set_rate` change the engine's copy.
    #[wasm_bindgen(js_name = exportToml)]
    pub fn export_toml(&self) -> String {
        let mut s = self.loaded.clone();
        s.events = self.sim.scenario().events.clone();
        s.seed = self.sim.seed();
        s.to_toml()
    }

    /// The scenario's `[lesson]` as JSON (`null` without one): `title`, `intro` and `steps`,
    /// each with `say`, its own `set` changes, `fresh`, `sets` (every change in force at that
    /// step) and `claims` (each claim as a person reads it).
    pub fn lesson(&self) -> String {
        let Some(lesson) = &self.loaded.lesson else { return "null".to_string() };
        let steps: Vec<serde_json::Value> = lesson
            .steps
            .iter()
            .enumerate()
            .map(|(i, step)| {
                serde_json::json!({
                    "say": step.say,
                    "set": step.set,
                    "fresh": step.fresh,
                    "sets": lesson.sets_at(i),
                    "claims": step.expect.iter().map(|c| c.describe()).collect::<Vec<_>>(),
                })
            })
            .collect();
        serde_json::json!({ "title": lesson.title, "intro": lesson.intro, "steps": steps }).to_string()
    }

    /// Step `step`'s claims checked against the report so far (the run's final report once
    /// finished), by `sim_core::lesson` — the evaluation `lbsim lesson` uses: a JSON array of
    /// `{claim, value, shown, holds}` (empty for a step without claims or beyond the lesson).
    #[wasm_bindgen(js_name = lessonCheck)]
    pub fn lesson_check(&self, step: u32) -> String {
        let claims = match self.loaded.lesson.as_ref().and_then(|l| l.steps.get(step as usize)) {
            Some(s) if !s.expect.is_empty() => &s.expect,
            _ => return "[]".to_string(),
        };
        serde_json::to_string(&sim_core::lesson::check_all(claims, &self.sim.report())).unwrap_or_else(|_| "[]".into())
    }

    /// The trace hash so far.
    #[wasm_bindgen(js_name = traceHash)]
    pub fn trace_hash(&self) -> String {
        self.sim.report().trace_hash
    }
}

/// Reads a live action from JSON by wrapping it as a one-event scenario timeline, so actions
/// are validated exactly like `[[events]]` in a file.
fn parse_action(json: &str, scenario: &Scenario) -> Result<Action, JsError> {
    let event: serde_json::Value =
        serde_json::from_str(json).map_err(|e| JsError::new(&format!("action: not JSON: {e}")))?;
    let mut probe = scenario.clone();
    probe.events.clear();
    probe.limits.max_requests = 1 << 40; // the largest the reader accepts
    let mut text = probe.to_toml();
    let mut table = toml::Table::new();
    let serde_json::Value::Object(map) = event else {
        return Err(JsError::new("action: expected an object such as {\"action\": \"crash\", \"target\": \"api-2\"}"));
    };
    for (k, v) in map {
        let value = match v {
            serde_json::Value::String(s) => toml::Value::String(s),
            serde_json::Value::Number(n) if n.is_i64() => toml::Value::Integer(n.as_i64().unwrap_or(0)),
            serde_json::Value::Number(n) => toml::Value::Float(n.as_f64().unwrap_or(0.0)),
            serde_json::Value::Bool(b) => toml::Value::Boolean(b),
            other => return Err(JsError::new(&format!("action: unsupported value {other}"))),
        };
        table.insert(k, value);
    }
    table.entry("at").or_insert(toml::Value::String("0s".into()));
    text.push_str("\n[[events]]\n");
    text.push_str(&toml::to_string(&table).map_err(|e| JsError::new(&e.to_string()))?);
    let parsed = Scenario::from_toml(&text).map_err(|e| JsError::new(&format!("action: {}", e.message)))?;
    parsed.events.into_iter().last().map(|e| e.action).ok_or_else(|| JsError::new("action: nothing to apply"))
}

/// A run's totals after warmup by name (`Sim.totalsNamed()`).
#[derive(serde::Serialize)]
struct Totals {
    /// Requests sent.
    sent: f64,
    /// Requests per outcome, by the report's outcome names, in report order.
    outcomes: serde_json::Map<String, serde_json::Value>,
    /// User sessions started.
    sessions_started: f64,
    /// User sessions lost.
    sessions_lost: f64,
}
