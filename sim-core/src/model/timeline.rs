//! The timeline: `[[events]]` from the scenario and live actions from the browser, applied
//! the same way (crash, recover, slow, add, remove, algorithm, rate, store, layer, sticky).

use super::Simulation;
use super::state::*;
use crate::algo::AnyBalancer;
use crate::metrics::trace::TraceEvent;
use crate::rng::{Purpose, SimRng};
use crate::scenario::*;

/// What a target name refers to.
enum Target {
    Servers(Vec<u32>),
    Replica(u32),
    Nothing,
}

impl Simulation {
    #[inline(never)]
    pub(super) fn on_timeline(&mut self, index: u32) {
        let Some(event) = self.sc.events.get(index as usize).cloned() else { return };
        self.apply(&event.action);
    }

    /// Schedules a live action to happen 1 ns from now, ahead of anything else at that
    /// instant, and records it on the scenario's timeline (so the scenario, written back,
    /// replays it identically). Returns `false` (and does nothing) once clients have stopped.
    pub fn schedule_action(&mut self, action: Action) -> bool {
        let at_ns = self.now + 1;
        if at_ns >= self.sc.duration_ns || self.finished {
            return false;
        }
        let index = self.sc.events.len() as u32;
        self.sc.events.push(TimelineEvent { at_ns, action });
        self.queue.push_first(at_ns, u64::from(index), Ev::Timeline { index });
        true
    }

    fn resolve(&self, target: &str) -> Target {
        if let Some(i) = target.strip_prefix("balancer-").and_then(|n| n.parse::<u32>().ok())
            && i >= 1
            && (i as usize) <= self.replicas.len()
        {
            return Target::Replica(i - 1);
        }
        if let Some(s) = self.names.iter().position(|n| n == target) {
            return Target::Servers(vec![s as u32]);
        }
        if let Some(g) = self.sc.servers.iter().position(|g| g.name == target) {
            let ids =
                (0..self.servers.len() as u32).filter(|&s| self.servers[s as usize].group as usize == g).collect();
            return Target::Servers(ids);
        }
        Target::Nothing
    }

    /// Removes one server (scale in: it drains); its gRPC clients re-resolve, as they do
    /// when a server sends GOAWAY.
    pub(super) fn remove_one(&mut self, s: u32) {
        let mut direct: Vec<u32> =
            self.conns.iter().filter(|(_, c)| c.server == s && c.replica == NONE).map(|(_, c)| c.client).collect();
        direct.sort_unstable();
        direct.dedup();
        self.remove_server(s);
        direct.into_iter().for_each(|c| self.resolve_servers(c));
    }

    /// Applies an action now.
    pub(super) fn apply(&mut self, action: &Action) {
        self.note_timeline(action);
        match action {
            Action::Crash { target } => match self.resolve(target) {
                Target::Servers(ids) => ids.into_iter().for_each(|s| self.crash_server(s)),
                Target::Replica(r) => self.crash_replica(r),
                Target::Nothing => {}
            },
            Action::Recover { target } => match self.resolve(target) {
                Target::Servers(ids) => ids.into_iter().for_each(|s| self.recover_server(s)),
                Target::Replica(r) => self.recover_replica(r),
                Target::Nothing => {}
            },
            Action::Slow { target, factor } => {
                if let Target::Servers(ids) = self.resolve(target) {
                    for s in ids {
                        self.servers[s as usize].slow = *factor;
                    }
                }
            }
            Action::Errors { target, rate, latency_ns } => {
                if let Target::Servers(ids) = self.resolve(target) {
                    for s in ids {
                        let seed = self.seed;
                        let errors = self.servers[s as usize].set_errors(|| ServerErrors {
                            rate: 0.0,
                            latency_ns: None,
                            rng: SimRng::stream(seed, Purpose::Errors, u64::from(s)),
                        });
                        errors.rate = *rate;
                        errors.latency_ns = *latency_ns;
                    }
                }
            }
            Action::Add { target, count } => {
                if let Target::Servers(ids) = self.resolve(target) {
                    let fresh: Vec<u32> = ids
                        .into_iter()
                        .filter(|&s| self.servers[s as usize].state == ServerState::NotAdded)
                        .take(*count as usize)
                        .collect();
                    // Client-side clients learn of new servers at their next resolution.
                    fresh.into_iter().for_each(|s| self.add_server(s));
                }
            }
            Action::Remove { target, count } => {
                if let Target::Servers(ids) = self.resolve(target) {
                    let single = ids.len() == 1 && self.names[ids[0] as usize] == *target;
                    let live: Vec<u32> = ids
                        .into_iter()
                        .rev()
                        .filter(|&s| matches!(self.servers[s as usize].state, ServerState::Up | ServerState::Down))
                        .take(if single { 1 } else { *count as usize })
                        .collect();
                    for s in live {
                        self.remove_one(s);
                    }
                }
            }
            Action::SetAlgorithm { algorithm } => {
                self.algorithm = *algorithm;
                self.custom = None;
                let params = crate::algo::BuiltInParams::from_spec(&self.sc.balancer);
                for replica in &mut self.replicas {
                    for algo in &mut replica.balancers {
                        *algo = AnyBalancer::new(*algorithm, &params);
                    }
                }
            }
            Action::SetRate { target, rate } => {
                if let Some(g) = self.sc.clients.iter().position(|c| &c.name == target) {
                    let skew = self.sc.clients[g].rate_skew;
                    let first = self.groups[g].first_client;
                    let count = self.sc.clients[g].count;
                    self.sc.clients[g].rate = *rate;
                    // A constant rate from now on replaces a schedule.
                    self.sc.clients[g].schedule = None;
                    for i in 0..count {
                        let c = first + i;
                        self.clients[c as usize].mean_gap_ns =
                            super::build::mean_gap_ns(rate * super::build::skew_weight(i, count, skew));
                        self.clients[c as usize].arrival_generation += 1;
                        // A client yet to start draws its first gap at its start.
                        if self.clients[c as usize].started {
                            let gap = self.next_gap(c);
                            self.schedule_arrival(c, gap);
                        }
                    }
                }
            }
            Action::StoreDown => self.store_up = false,
            Action::StoreUp => self.store_up = true,
            Action::StoreSlow { factor } => self.store_factor = *factor,
            Action::Burst { target, count } => {
                if let Some(g) = self.sc.clients.iter().position(|c| &c.name == target) {
                    self.burst(g, *count);
                }
            }
            Action::SetLayer { layer } => {
                self.layer = *layer;
                // Clients reconnect through the new layer.
                let proxied: Vec<_> = self.conns.iter().filter(|(_, c)| c.replica != NONE).map(|(h, _)| h).collect();
                proxied.into_iter().for_each(|ch| self.goaway(ch));
            }
            Action::SetSticky { sticky } => self.sticky = *sticky,
        }
    }

    /// A burst: exactly `count` new requests now, spread round-robin over the group's clients
    /// that have started (a cursor carries on from one burst to the next). A client whose
    /// start is this very instant starts first.
    fn burst(&mut self, g: usize, count: u32) {
        let group = &self.sc.clients[g];
        // Client i starts at `client_start_ns(i)`, which grows with i: the started ones are a prefix.
        let (mut lo, mut hi) = (0u32, group.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if group.client_start_ns(mid) <= self.now { lo = mid + 1 } else { hi = mid }
        }
        let live = u64::from(lo);
        if live == 0 {
            return;
        }
        let first = self.groups[g].first_client;
        for _ in 0..count {
            let i = (self.groups[g].burst_next % live) as u32;
            self.groups[g].burst_next = self.groups[g].burst_next.wrapping_add(1);
            let c = first + i;
            self.start_client(c);
            self.send_new(c, false, None);
            if self.finished {
                return;
            }
        }
    }

    fn note_timeline(&mut self, action: &Action) {
        let text = describe(action);
        self.stats.series.events.push((self.now, text.clone()));
        if let Some(events) = self.trace_events.as_mut() {
            let target = match action {
                Action::Crash { target }
                | Action::Recover { target }
                | Action::Slow { target, .. }
                | Action::Errors { target, .. }
                | Action::Add { target, .. }
                | Action::Remove { target, .. }
                | Action::SetRate { target, .. }
                | Action::Burst { target, .. } => target.clone(),
                _ => "balancer".into(),
            };
            events.push(TraceEvent { time_ms: self.now as f64 / 1e6, event: "timeline".into(), target, detail: text });
        }
    }

    /// A replica crashes: every attempt through it fails, its connections reset, and its
    /// clients keep failing until DNS gives them another replica.
    fn crash_replica(&mut self, r: u32) {
        if !self.replicas[r as usize].up {
            return;
        }
        self.replicas[r as usize].up = false;
        self.replicas[r as usize].down_since_ns = self.now;
        let through: Vec<_> = self
            .reqs
            .iter()
            .filter(|(_, q)| q.replica == r && q.via != super::client::via::DIRECT && q.via != 0)
            .map(|(h, _)| h)
            .collect();
        let conns: Vec<_> = self.conns.iter().filter(|(_, c)| c.replica == r).map(|(h, _)| h).collect();
        let clients: Vec<u32> = {
            let mut v: Vec<u32> = conns.iter().filter_map(|&ch| self.conns.get(ch).map(|c| c.client)).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        for ch in conns {
            self.close_conn(ch);
        }
        // Requests waiting for its workers are among `through`. Workers in the middle of a
        // request free themselves when their (now stale) work ends.
        self.replicas[r as usize].queue.clear();
        for h in through {
            if self.reqs.get(h).is_some() {
                self.release_holds(h, false);
                self.finish_attempt(h, crate::metrics::report::Outcome::ConnectionError);
            }
        }
        for c in clients {
            self.pump(c);
        }
    }

    fn recover_replica(&mut self, r: u32) {
        if self.replicas[r as usize].up {
            return;
        }
        let ((warmup, end), now) = (self.window_ns(), self.now);
        let replica = &mut self.replicas[r as usize];
        replica.down_ns += super::balancer::overlap(replica.down_since_ns, now, warmup, end);
        replica.up = true;
        self.reset_replica_state(r);
    }
}

/// A one-line description of an action, for charts and traces.
pub(crate) fn describe(action: &Action) -> String {
    match action {
        Action::Crash { target } => format!("crash {target}"),
        Action::Recover { target } => format!("recover {target}"),
        Action::Slow { target, factor } => format!("slow {target} ×{factor}"),
        Action::Add { target, count } => format!("add {count} to {target}"),
        Action::Remove { target, count } => format!("remove {count} from {target}"),
        Action::SetAlgorithm { algorithm } => format!("algorithm → {}", algorithm.name()),
        Action::SetRate { target, rate } => format!("{target} rate → {rate}/s"),
        Action::StoreDown => "session store down".into(),
        Action::StoreUp => "session store up".into(),
        Action::StoreSlow { factor } => format!("session store slow ×{factor}"),
        Action::Burst { target, count } => format!("burst of {count} from {target}"),
        Action::SetLayer { layer } => format!("layer → {}", if *layer == Layer::L4 { "l4" } else { "l7" }),
        Action::Errors { target, rate, latency_ns } => match latency_ns {
            _ if *rate == 0.0 => format!("errors end at {target}"),
            Some(l) => format!("{target} errors {}% in {}", rate * 100.0, crate::config::units::format_duration(*l)),
            None => format!("{target} errors {}%", rate * 100.0),
        },
        Action::SetSticky { sticky } => format!(
            "sticky → {}",
            match sticky {
                Sticky::None => "none",
                Sticky::Cookie => "cookie",
                Sticky::SourceIp => "source_ip",
            }
        ),
    }
}
