//! Time-series ticks and the final report.

use super::Simulation;
use super::state::*;
use crate::metrics::report::*;
use crate::metrics::series::SeriesAcc;
use crate::scenario::{Layer, MAX_SERIES_BUCKETS};

impl Simulation {
    /// Keeps time series (per-bucket outcomes, latency, per-server load) for charts. Call
    /// before the first step; series do not change the run (nor its trace hash).
    pub fn enable_series(&mut self) {
        if self.stats.series.enabled {
            return;
        }
        self.stats.series = SeriesAcc::new(
            true,
            self.servers.len(),
            self.sc.report.interval_ns,
            self.sc.duration_ns,
            MAX_SERIES_BUCKETS,
        );
        let interval = self.stats.series.interval_ns;
        self.queue.push(self.now + interval, Ev::Tick);
    }

    /// Latency (ms) of the `ok` requests after warmup at each quantile in `qs` (for CDF plots).
    pub fn latency_quantiles_ms(&self, qs: &[f64]) -> Vec<f64> {
        qs.iter().map(|&q| self.stats.latency.quantile_ms(q)).collect()
    }

    /// Measures only the requests that start in [`from_ns`, `to_ns`) and takes every time
    /// figure over that window (`lbsim run --window`); the run itself does not change. Call
    /// before the first step. The window must lie within the run: `from_ns < to_ns <=
    /// duration`.
    pub fn set_window(&mut self, from_ns: u64, to_ns: u64) -> Result<(), String> {
        let duration = self.sc.duration_ns;
        if from_ns >= to_ns || to_ns > duration {
            return Err(format!(
                "the window must start before it ends and end by the duration ({}); got {}..{}",
                crate::config::units::format_duration(duration),
                crate::config::units::format_duration(from_ns),
                crate::config::units::format_duration(to_ns)
            ));
        }
        if self.now > 0 || self.events_processed > 0 {
            return Err("the window must be set before the run starts".into());
        }
        self.stats.window = Some((from_ns, to_ns));
        Ok(())
    }

    /// Time-series points from index `from` on, as a JSON array (for live charts).
    pub fn series_points_json(&self, from: usize) -> String {
        let points = self.stats.series.points.get(from..).unwrap_or(&[]);
        serde_json::to_string(points).unwrap_or_else(|_| "[]".into())
    }

    /// The width of a time-series bucket, in nanoseconds.
    pub fn series_interval_ns(&self) -> u64 {
        self.stats.series.interval_ns
    }

    #[inline(never)]
    pub(super) fn on_tick(&mut self) {
        let interval = self.stats.series.interval_ns;
        let start = self.now.saturating_sub(interval);
        let in_flight: Vec<u32> = self.servers.iter().map(|s| s.busy + s.queued).collect();
        let up: Vec<bool> = self.servers.iter().map(|s| s.state == ServerState::Up).collect();
        self.stats.series.close(start, in_flight, &up);
        let drained = self.ended && self.reqs.is_empty();
        if !self.finished && !drained && !self.stats.series.is_full() {
            self.queue.push(self.now + interval, Ev::Tick);
        }
    }

    /// Closes the bucket the run finished in: the run stops before that bucket's tick, and
    /// the requests that ended in it were missing from the series (its last second's).
    pub(super) fn close_last_bucket(&mut self) {
        if !self.stats.series.has_pending() || self.stats.series.is_full() {
            return;
        }
        // Buckets start at multiples of the interval from the run's start (series are
        // enabled before the first step).
        let start = self.stats.series.points.len() as u64 * self.stats.series.interval_ns;
        let in_flight: Vec<u32> = self.servers.iter().map(|s| s.busy + s.queued).collect();
        let up: Vec<bool> = self.servers.iter().map(|s| s.state == ServerState::Up).collect();
        self.stats.series.close(start, in_flight, &up);
    }

    /// The report of the run so far (complete once the run is finished).
    pub fn report(&self) -> Report {
        let (from_ns, to_ns) = self.window_ns();
        let window_ns = (to_ns - from_ns).max(1) as f64;
        let st = &self.stats;
        let failed_at = &st.server_latency_failed;
        let failed: u64 = st.outcomes[1..].iter().sum();
        let servers: Vec<ServerReport> = self
            .servers
            .iter()
            .enumerate()
            .map(|(s, server)| {
                let latency_ms = ServerLatency {
                    mean: self.server_latency.mean_ms(s),
                    p99: self.server_latency.quantile_ms(s, 0.99),
                };
                // Over every request, failed ones included: the same without failures.
                let latency_all_ms = if failed_at.count(s) == 0 {
                    latency_ms.clone()
                } else {
                    ServerLatency {
                        mean: self.server_latency.mean_ms_with(failed_at, s),
                        p99: self.server_latency.quantile_ms_with(failed_at, s, 0.99),
                    }
                };
                ServerReport {
                    name: self.names[s].clone(),
                    requests: st.served[s],
                    connections: st.accepted[s],
                    // Over its own lifetime within the window: a server added half way through
                    // and busy since is fully utilized, not half.
                    utilization: server.busy_area as f64
                        / (f64::from(server.workers) * (window_ns - st.absent_ns[s] as f64).max(1.0)),
                    latency_ms,
                    group: self.sc.servers[server.group as usize].name.clone(),
                    connections_max: st.conns_max[s],
                    rejected: st.rejected[s],
                    down_s: st.down_ns[s] as f64 / 1e9,
                    requests_while_down: st.while_down[s],
                    marked_down_s: st.marked_down_ns[s] as f64 / 1e9 / self.replicas.len().max(1) as f64,
                    up_whole_window: server.up_whole_window,
                    state: server.state.name().to_string(),
                    latency_all_ms,
                    lifetime_s: (window_ns - st.absent_ns[s] as f64).max(0.0) / 1e9,
                    errors: st.server_errors[s],
                    retries: st.server_retries[s],
                    hedges: st.server_hedges[s],
                    mean_in_flight: (server.busy_area + server.queue_area) as f64
                        / (window_ns - st.absent_ns[s] as f64).max(1.0),
                    mean_queue: server.queue_area as f64 / (window_ns - st.absent_ns[s] as f64).max(1.0),
                    ejections: st.ejections[s],
                    ejected_s: st.ejected_ns[s] as f64 / 1e9 / self.replicas.len().max(1) as f64,
                }
            })
            .collect();
        let counts: Vec<u64> = servers.iter().filter(|s| s.up_whole_window).map(|s| s.requests).collect();
        let all = st.latency.merged(&st.latency_failed);
        let clients = self
            .sc
            .clients
            .iter()
            .enumerate()
            .map(|(g, group)| {
                let gs = &st.groups[g];
                let failed: u64 = gs.outcomes[1..].iter().sum();
                let (latency_ms_mean, latency_ms_p99) = match st.group_latency.get(g) {
                    Some(h) => (h.mean_ms(), h.quantile_ms(0.99)),
                    None => (st.latency.mean_ms(), st.latency.quantile_ms(0.99)),
                };
                ClientReport {
                    name: group.name.clone(),
                    sent: gs.sent,
                    completed: gs.outcomes[0],
                    failed,
                    bytes_sent: gs.bytes_sent,
                    bytes_received: gs.bytes_received,
                    latency_ms_mean,
                    latency_ms_p99,
                    connections_opened: gs.connections,
                }
            })
            .collect();
        let replicas = self
            .replicas
            .iter()
            .enumerate()
            .map(|(r, replica)| ReplicaReport {
                name: format!("balancer-{}", r + 1),
                routed: replica.routed,
                rate_limited: replica.rate_limited,
                utilization: match self.sc.balancer.workers {
                    Some(w) => replica.busy_area as f64 / (f64::from(w) * window_ns),
                    None => 0.0,
                },
                down_s: replica.down_ns as f64 / 1e9,
                overflows: replica.overflows,
                retries_overflowed: replica.retries_overflowed,
            })
            .collect();
        let crashes = st
            .crashes
            .iter()
            // A window ending before `duration` reports the crashes a run ending there saw.
            .filter(|c| st.window.is_none_or(|(_, to)| c.1 < to))
            .map(|&(s, at, detected, lost)| CrashReport {
                server: self.names[s as usize].clone(),
                at_s: at as f64 / 1e9,
                detected_after_s: detected.map(|d| d as f64 / 1e9),
                sessions_lost: lost,
            })
            .collect();
        let series = st.series.enabled.then(|| Series {
            interval_s: st.series.interval_ns as f64 / 1e9,
            servers: self.names.clone(),
            points: st.series.points.clone(),
            events: st.series.events.iter().map(|(t, e)| (*t as f64 / 1e9, e.clone())).collect(),
        });
        let algorithm = match (&self.custom, self.replicas.first().and_then(|r| r.balancers.first())) {
            (Some(_), Some(a)) => a.as_balancer().name().to_string(),
            _ => self.sc.balancer.algorithm.name().to_string(),
        };
        Report {
            scenario: self.sc.name.clone(),
            seed: self.seed,
            algorithm,
            layer: if self.sc.balancer.layer == Layer::L4 { "l4" } else { "l7" }.to_string(),
            duration_s: self.sc.duration_ns as f64 / 1e9,
            requests: Requests {
                sent: st.sent,
                completed: st.outcomes[0],
                failed,
                outcomes: Outcomes::from_counts(&st.outcomes),
                retries: st.retries,
                attempts: st.sent + st.retries + st.balancer_retries + st.hedges,
                retries_throttled: st.retries_throttled,
                balancer_retries: st.balancer_retries,
                retries_over_budget: st.retries_over_budget,
                hedges: st.hedges,
                hedges_cancelled: st.hedges_cancelled,
            },
            latency_ms: Latency::of(&st.latency),
            servers,
            balance: balance(&counts),
            sessions: Sessions {
                started: st.sessions_started,
                lost: st.sessions_lost,
                completed: st.sessions_completed,
                requests_per_session: if st.sessions_completed == 0 {
                    0.0
                } else {
                    st.session_requests as f64 / st.sessions_completed as f64
                },
            },
            events_processed: self.events_processed,
            trace_hash: self.hasher.hex(),
            end_s: st.last_end_ns as f64 / 1e9,
            clients,
            replicas,
            crashes,
            picks_ineligible: st.picks_ineligible,
            latency_all_ms: Latency::of(&all),
            window: Window { from_s: from_ns as f64 / 1e9, to_s: to_ns as f64 / 1e9 },
            series,
            autoscaler: st.scale_decisions.clone(),
        }
    }
}
