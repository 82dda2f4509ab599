//! Arrivals: when each client sends its next request (open-loop Poisson or constant gaps),
//! and what a client does at the start of the run before its first request.

use crate::model::Simulation;
use crate::model::conn::profile::Profile;
use crate::model::state::*;
use crate::scenario::*;

impl Simulation {
    /// The time to the client's next request.
    pub(in crate::model) fn next_gap(&mut self, c: u32) -> Option<u64> {
        let arrival = self.group_of(c).arrival;
        let client = &mut self.clients[c as usize];
        let mean_ns = client.mean_gap_ns;
        if !mean_ns.is_finite() {
            return None;
        }
        let gap = match arrival {
            Arrival::Poisson => client.arrivals_rng.exponential(mean_ns),
            Arrival::Constant => mean_ns,
        };
        // Through i64: in range after the clamp, and one instruction where `as u64` takes a
        // branch on x86-64.
        Some((gap + 0.5).clamp(1.0, 1e18) as i64 as u64)
    }

    /// Schedules a client's next arrival `gap` from now, if it falls before the end.
    pub(in crate::model) fn schedule_arrival(&mut self, c: u32, gap: Option<u64>) {
        if let Some(gap) = gap
            && self.now.saturating_add(gap) < self.sc.duration_ns
        {
            let generation = self.clients[c as usize].arrival_generation;
            self.schedule(gap, Ev::Arrival { client: c, generation });
        }
    }

    #[inline(never)]
    pub(in crate::model) fn on_arrival(&mut self, c: u32, generation: u32) {
        if self.ended || generation != self.clients[c as usize].arrival_generation {
            return;
        }
        let gap = self.next_gap(c);
        self.schedule_arrival(c, gap);
        self.send_new(c, None);
    }

    /// A client sends a new request (an arrival, a burst or a replayed trace row), unless the
    /// run is past its limit of requests in flight (then the run stops).
    pub(in crate::model) fn send_new(&mut self, c: u32, row: Option<crate::replay::TraceRow>) {
        if self.finished {
            return;
        }
        if self.reqs.len() as u64 >= self.sc.limits.max_in_flight {
            self.aborted = Some(format!(
                "stopped at t={:.3}s: more than {} requests in flight (limit max_in_flight). The system is \
                 overloaded with unbounded queues; set servers[].queue or clients[].timeout, or raise [limits] max_in_flight",
                self.now as f64 / 1e9,
                self.sc.limits.max_in_flight
            ));
            self.finished = true;
            return;
        }
        self.new_request(c, row);
    }

    /// Called once when the client starts (at t = 0, or at its group's `start` plus its
    /// place in the `ramp`): what each client does before its first request.
    pub(in crate::model) fn start_client(&mut self, c: u32) {
        if self.clients[c as usize].started || self.ended {
            return;
        }
        self.clients[c as usize].started = true;
        let group = self.group_of(c).clone();
        match group.balancing {
            Balancing::Client => {
                self.resolve_servers(c);
                let phase = (self.clients[c as usize].rng.uniform() * group.resolve_interval_ns as f64) as u64;
                self.schedule(phase.max(1), Ev::Resolve { client: c });
            }
            Balancing::Proxy => {
                self.resolve_replica(c);
                if self.replicas.len() > 1 {
                    let ttl = self.sc.balancer.dns_ttl_ns;
                    let phase = (self.clients[c as usize].rng.uniform() * ttl as f64) as u64;
                    self.schedule(phase.max(1), Ev::Resolve { client: c });
                }
                if Profile::of(group.protocol).connects_at_start {
                    for _ in 0..group.connections {
                        // With no server to connect to (all down at the start), the client
                        // opens the connection with its first message instead, which then
                        // ends as `no_server` if there is still none: nothing to do here.
                        if self.open_proxy_conn(c).is_err() {
                            continue;
                        }
                    }
                }
            }
        }
        let first = match group.arrival {
            Arrival::Poisson => self.next_gap(c),
            Arrival::Constant => self.next_gap(c).map(|gap| {
                let phase = self.clients[c as usize].arrivals_rng.uniform();
                ((gap as f64) * phase) as u64
            }),
        };
        if let Some(first) = first
            && self.now.saturating_add(first) < self.sc.duration_ns
        {
            let generation = self.clients[c as usize].arrival_generation;
            self.queue.push(self.now + first, Ev::Arrival { client: c, generation });
        }
    }
}
