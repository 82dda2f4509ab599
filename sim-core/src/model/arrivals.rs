//! Arrivals: when each client sends its next request (open-loop Poisson or constant gaps, at
//! a fixed rate or along a `schedule`; closed-loop users who think between requests), and
//! what a client does at the start of the run before its first request.

use crate::model::Simulation;
use crate::model::conn::profile::Profile;
use crate::model::state::*;
use crate::scenario::*;

impl Simulation {
    /// The time to the client's next request.
    pub(in crate::model) fn next_gap(&mut self, c: u32) -> Option<u64> {
        let group = self.group_of(c);
        let arrival = group.arrival;
        if group.schedule.is_some() {
            return self.next_scheduled_gap(c);
        }
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

    /// The time to the next request along a rate schedule: a gap of the unit-rate process
    /// (exponential for Poisson, equal for `constant`: equal steps of the cumulative rate),
    /// mapped through the inverse of the schedule's cumulative rate (exact, piecewise
    /// quadratic). Kept out of the constant-rate path.
    #[inline(never)]
    fn next_scheduled_gap(&mut self, c: u32) -> Option<u64> {
        let g = self.clients[c as usize].group as usize;
        let arrival = self.sc.clients[g].arrival;
        let client = &mut self.clients[c as usize];
        let mean_ns = client.mean_gap_ns;
        if !mean_ns.is_finite() {
            return None;
        }
        let unit_ns = match arrival {
            Arrival::Poisson => client.arrivals_rng.exponential(mean_ns),
            Arrival::Constant => mean_ns,
        };
        let schedule = self.sc.clients[g].schedule.as_ref()?;
        let at = schedule.advance(self.now, unit_ns / 1e9)?;
        Some(at.saturating_sub(self.now).max(1))
    }

    /// A think time of the client's group, in nanoseconds (at least 1, so that a closed loop
    /// with nothing to wait for still moves the clock on).
    fn think_ns(&mut self, c: u32) -> u64 {
        let g = self.clients[c as usize].group as usize;
        let rng = &mut self.clients[c as usize].arrivals_rng;
        let u = ((rng.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64);
        let ns = match &self.sc.clients[g].think_time {
            Some(dist) => crate::model::server::service_ns(dist, u),
            None => 0.0,
        };
        (ns + 0.5).clamp(1.0, 1e18) as u64
    }

    /// A user thinks, then sends (an `Ev::Think`); one that would send at or after the end
    /// leaves instead.
    fn user_thinks(&mut self, c: u32) {
        let think = self.think_ns(c);
        if self.now.saturating_add(think) < self.sc.duration_ns && !self.ended {
            self.schedule(think, Ev::Think { client: c });
        } else {
            self.clients[c as usize].users -= 1;
        }
    }

    /// Adds users to a started closed-loop client up to its target; each starts with one
    /// think (a random first think, so the population does not send all at once and reaches
    /// its steady state sooner — what mean value analysis describes).
    fn add_users(&mut self, c: u32) {
        while self.clients[c as usize].users < self.clients[c as usize].users_target {
            self.clients[c as usize].users += 1;
            self.user_thinks(c);
        }
    }

    /// A user whose request ended: it leaves if the population is above its target, else it
    /// thinks and sends again.
    pub(in crate::model) fn user_done(&mut self, c: u32) {
        let client = &mut self.clients[c as usize];
        if client.users > client.users_target {
            client.users -= 1;
        } else {
            self.user_thinks(c);
        }
    }

    #[inline(never)]
    pub(in crate::model) fn on_think(&mut self, c: u32) {
        let client = &mut self.clients[c as usize];
        if self.ended || client.users > client.users_target {
            client.users -= 1;
            return;
        }
        self.send_new(c, true, None);
    }

    /// A users schedule point: every started client of the group moves to the new
    /// population (new users start with a think; users beyond it leave when they next can).
    pub(in crate::model) fn on_population(&mut self, g: u32, point: u32) {
        let Some(Schedule::Users(points)) = &self.sc.clients[g as usize].schedule else { return };
        let target = points[point as usize].1;
        let (first, count) = (self.groups[g as usize].first_client, self.sc.clients[g as usize].count);
        for c in first..first + count {
            if self.clients[c as usize].started {
                self.clients[c as usize].users_target = target;
                self.add_users(c);
            }
        }
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
        self.send_new(c, false, None);
    }

    /// A client sends a new request (an arrival, a burst, a closed-loop user's next request
    /// or a replayed trace row), unless the run is past its limit of requests in flight (then
    /// the run stops).
    pub(in crate::model) fn send_new(&mut self, c: u32, user: bool, row: Option<crate::replay::TraceRow>) {
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
        self.new_request(c, user, row);
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
                let phase = (self.client_rng(c).uniform() * group.resolve_interval_ns as f64) as u64;
                self.schedule(phase.max(1), Ev::Resolve { client: c });
            }
            Balancing::Proxy => {
                self.resolve_replica(c);
                if self.replicas.len() > 1 {
                    let ttl = self.sc.balancer.dns_ttl_ns;
                    let phase = (self.client_rng(c).uniform() * ttl as f64) as u64;
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
        if let Some(users) = group.users {
            // The population at this instant: the last schedule point at or before it (the
            // first point's before any), or the group's `users`.
            self.clients[c as usize].users_target = match &group.schedule {
                Some(Schedule::Users(points)) => {
                    let i = points.partition_point(|&(at, _)| at <= self.now);
                    points[i.saturating_sub(1)].1
                }
                _ => users,
            };
            self.add_users(c);
            return;
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
