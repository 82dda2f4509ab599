//! Servers: admission (FIFO queue behind `workers`, `queue` limit), service times drawn from
//! each request's quantile, session state, the session store, and the lifecycle the timeline
//! drives (crash, recover, slow, add, drain and remove).

use super::Simulation;
use super::balancer::overlap;
use super::client::via;
use super::state::*;
use crate::metrics::report::Outcome;
use crate::rng::normal_quantile;
use crate::scenario::*;
use crate::slab::Handle;

/// A service time for quantile `u` of a distribution, in nanoseconds (before slow-down).
pub(crate) fn service_ns(dist: &ServiceDist, u: f64) -> f64 {
    match *dist {
        ServiceDist::Constant { value_ns } => value_ns as f64,
        ServiceDist::Exponential { mean_ns } => -(mean_ns as f64) * libm::log(1.0 - u),
        ServiceDist::Uniform { min_ns, max_ns } => min_ns as f64 + u * (max_ns - min_ns) as f64,
        ServiceDist::Lognormal { p50_ns, p99_ns } => {
            let sigma = crate::scenario::lognormal_sigma(p50_ns, p99_ns);
            p50_ns as f64 * libm::exp(sigma * normal_quantile(u))
        }
    }
}

impl Simulation {
    #[inline(never)]
    pub(super) fn on_at_server(&mut self, h: Handle) {
        // An attempt the client gave up on while it travelled is dropped on arrival.
        let Some(req) = self.reqs.get(h) else { return };
        let s = req.server;
        let (session, measured, size_u, c) = (req.session, req.measured, req.size_u, req.client);
        let given_ns = req.replay.as_ref().and_then(|r| r.service_ns).unwrap_or(u64::MAX);
        let (request_bytes, response_bytes) = req.bytes(self.group_of(c));
        let state = self.servers[s as usize].state;
        if !matches!(state, ServerState::Up | ServerState::Draining) {
            if state == ServerState::Down {
                self.stats.while_down[s as usize] += 1;
            }
            self.answer_from_server(h, Outcome::ConnectionError);
            return;
        }
        let mut extra_ns = 0;
        let mut session_missing = false;
        if let Some(sh) = session {
            match self.sc.session_store {
                Some(store) => {
                    // The server is up but cannot reach the store: it answers with an error
                    // of its own (a 503), not a failed connection.
                    if !self.store_up {
                        self.answer_from_server(h, Outcome::StoreUnavailable);
                        return;
                    }
                    extra_ns += if self.store_factor == 1.0 {
                        store.latency_ns
                    } else {
                        (store.latency_ns as f64 * self.store_factor + 0.5).clamp(0.0, 1e17) as u64
                    };
                }
                None => session_missing = self.touch_local_session(sh, s),
            }
        }
        let group = self.group_of(c);
        extra_ns = super::client::serialize_ns(group.serialize_per_kb_ns, request_bytes + response_bytes)
            .saturating_add(extra_ns);
        let job = Job { req: h, server: s, size_u, extra_ns, given_ns, measured, session_missing, next: NONE };
        let server = &self.servers[s as usize];
        if server.busy < server.workers {
            let jh = self.jobs.insert(job);
            self.start_job(jh);
        } else if server.queued >= server.queue_cap {
            if measured {
                self.stats.rejected[s as usize] += 1;
            }
            self.answer_from_server(h, Outcome::Rejected);
        } else {
            let jh = self.jobs.insert(job);
            self.enqueue_job(s, jh);
        }
    }

    /// Local session state: the first server to see a session holds it; a request landing
    /// elsewhere finds it missing (the session is lost, and its state starts over here).
    /// Returns whether the state was missing.
    fn touch_local_session(&mut self, sh: Handle, s: u32) -> bool {
        let Some(sess) = self.sessions.get_mut(sh) else { return false };
        if sess.home == s {
            return false;
        }
        if sess.state_gone {
            // Its server died with the state: this server starts an empty one.
            sess.state_gone = false;
            sess.home = s;
            self.servers[s as usize].sessions += 1;
            return true;
        }
        let had_home = sess.home != NONE;
        let old = sess.home;
        sess.home = s;
        // Counted like requests, by when it happens: a loss at or after warmup, each session
        // once (see `Session::lost`).
        let newly_lost = had_home && !sess.lost && self.now >= self.sc.warmup_ns;
        if newly_lost {
            sess.lost = true;
        }
        if had_home {
            self.servers[old as usize].sessions = self.servers[old as usize].sessions.saturating_sub(1);
        }
        self.servers[s as usize].sessions += 1;
        if newly_lost {
            self.stats.sessions_lost += 1;
        }
        had_home
    }

    pub(super) fn start_job(&mut self, jh: Handle) {
        let job = *self.jobs.get(jh).expect("live job");
        let s = job.server as usize;
        self.server_busy_change(job.server, 1);
        let dist = self.sc.servers[self.servers[s].group as usize].service;
        // A replayed row's own work replaces the draw; a `slow` action still scales it.
        let work = if job.given_ns == u64::MAX { service_ns(&dist, job.size_u) } else { job.given_ns as f64 };
        let base = work * self.servers[s].slow;
        let t = ((base + 0.5).clamp(0.0, 1e17) as i64 as u64).saturating_add(job.extra_ns);
        debug_assert!(self.servers[s].busy <= self.servers[s].workers, "server serves more than its workers");
        // Always through the queue: a zero service time must not recurse through the queue.
        self.schedule(t, Ev::ServiceDone { job: jh });
    }

    /// Puts a job at the end of a server's queue.
    fn enqueue_job(&mut self, s: u32, jh: Handle) {
        let tail = self.servers[s as usize].queue_tail;
        if tail == NONE {
            self.servers[s as usize].queue_head = jh.idx;
        } else {
            let last = self.jobs.handle_at(tail).and_then(|t| self.jobs.get_mut(t)).expect("queued jobs are live");
            last.next = jh.idx;
        }
        let server = &mut self.servers[s as usize];
        server.queue_tail = jh.idx;
        server.queued += 1;
    }

    /// Takes the first job of a server's queue.
    fn dequeue_job(&mut self, s: u32) -> Option<Handle> {
        let head = self.servers[s as usize].queue_head;
        if head == NONE {
            return None;
        }
        let jh = self.jobs.handle_at(head).expect("queued jobs are live");
        let next = std::mem::replace(&mut self.jobs.get_mut(jh).expect("live").next, NONE);
        let server = &mut self.servers[s as usize];
        server.queue_head = next;
        if next == NONE {
            server.queue_tail = NONE;
        }
        server.queued -= 1;
        Some(jh)
    }

    /// Accounts a change of a server's busy workers (utilization within the window).
    fn server_busy_change(&mut self, s: u32, delta: i32) {
        let (warmup, end) = self.window_ns();
        let now = self.now;
        let server = &mut self.servers[s as usize];
        server.busy_area += u128::from(server.busy) * u128::from(overlap(server.busy_since_ns, now, warmup, end));
        server.busy_since_ns = now;
        server.busy = (i64::from(server.busy) + i64::from(delta)).max(0) as u32;
    }

    #[inline(never)]
    pub(super) fn on_service_done(&mut self, jh: Handle) {
        let Some(job) = self.jobs.remove(jh) else { return };
        let s = job.server;
        self.server_busy_change(s, -1);
        if job.measured {
            self.stats.served[s as usize] += 1;
            self.stats.series.served(s);
        }
        // Start the next job before answering, so the server's state is settled.
        if let Some(next) = self.dequeue_job(s) {
            self.start_job(next);
        }
        if self.reqs.get(job.req).is_some() {
            let outcome = if job.session_missing { Outcome::SessionLost } else { Outcome::Ok };
            self.answer_from_server(job.req, outcome);
        }
        self.maybe_finish_drain(s);
    }

    /// Sends the server's answer (or error) back the way the attempt came.
    pub(super) fn answer_from_server(&mut self, h: Handle, outcome: Outcome) {
        match self.via_of(h) {
            via::L7 => {
                let delay = self.upstream_hop_ns();
                self.after(delay, Ev::BackAtBalancer { req: h, outcome });
            }
            via::RELAY => self.answer_client(h, outcome, true),
            _ => self.answer_client(h, outcome, false),
        }
    }

    pub(super) fn server_conn_opened(&mut self, s: u32) {
        let server = &mut self.servers[s as usize];
        server.conns_open += 1;
        self.stats.accepted[s as usize] += 1;
        let max = &mut self.stats.conns_max[s as usize];
        *max = (*max).max(server.conns_open);
    }

    pub(super) fn server_conn_closed(&mut self, s: u32) {
        let server = &mut self.servers[s as usize];
        assert!(server.conns_open > 0, "server {s}'s connection count went negative (a close without an open)");
        server.conns_open -= 1;
    }

    /// Records a server state change (for time-down and up-for-the-window accounting).
    fn set_server_state(&mut self, s: u32, state: ServerState) {
        let ((warmup, end), now) = (self.window_ns(), self.now);
        let server = &mut self.servers[s as usize];
        if server.state == ServerState::Down {
            self.stats.down_ns[s as usize] += overlap(server.state_since_ns, now, warmup, end);
        }
        if matches!(server.state, ServerState::NotAdded | ServerState::Removed) {
            self.stats.absent_ns[s as usize] += overlap(server.state_since_ns, now, warmup, end);
        }
        let was_up = server.state == ServerState::Up;
        if was_up && state != ServerState::Up && now >= warmup && now < end {
            // Leaving "up" before the window ends: not up for the whole window.
            server.up_whole_window = false;
        }
        if !was_up && state == ServerState::Up {
            // Up by the window's start (added or recovered before it), it counts in
            // `balance` whenever it was added: servers of a scale-out were left out.
            server.up_whole_window = now <= warmup;
        }
        server.state = state;
        server.state_since_ns = now;
    }

    /// Crash: in-flight work fails with a connection error, connections reset, local session
    /// state is lost; new connections are refused until `recover`.
    pub(super) fn crash_server(&mut self, s: u32) {
        if !matches!(self.servers[s as usize].state, ServerState::Up | ServerState::Draining) {
            return;
        }
        self.set_server_state(s, ServerState::Down);
        // The record exists before the work is dropped: with no network latency a request in
        // flight fails right here, and a passive check may take the server out at this very
        // instant (a detection after 0 s, which must not be lost to the next probe).
        self.stats.crashes.push((s, self.now, None, 0));
        let idx = self.stats.crashes.len() - 1;
        self.servers[s as usize].crash = Some((self.now, idx));
        let lost = self.drop_server_work(s);
        self.stats.crashes[idx].3 = lost;
    }

    /// Drops everything a server holds (crash or removal); returns the sessions lost.
    fn drop_server_work(&mut self, s: u32) -> u64 {
        // Its jobs, in service or queued (found in the job store: a crash is rare, and no
        // per-server list of jobs in service needs keeping on the hot path).
        let server = &mut self.servers[s as usize];
        (server.queue_head, server.queue_tail, server.queued) = (NONE, NONE, 0);
        let jobs: Vec<Handle> = self.jobs.iter().filter(|(_, job)| job.server == s).map(|(h, _)| h).collect();
        self.server_busy_change(s, -(self.servers[s as usize].busy as i32));
        for jh in jobs {
            if let Some(job) = self.jobs.remove(jh)
                && self.reqs.get(job.req).is_some()
            {
                self.answer_from_server(job.req, Outcome::ConnectionError);
            }
        }
        // Local session state dies with the server. The crash line and the summary count the
        // same losses: those at or after warmup (like requests, by when they happen), each
        // session once, whenever the session started.
        let mut lost = 0u64;
        let measuring = self.measuring();
        let homed: Vec<Handle> = self.sessions.iter().filter(|(_, sess)| sess.home == s).map(|(h, _)| h).collect();
        for sh in homed {
            let sess = self.sessions.get_mut(sh).expect("live session");
            sess.home = NONE;
            sess.state_gone = true;
            if !sess.lost && measuring {
                sess.lost = true;
                lost += 1;
                self.stats.sessions_lost += 1;
            }
        }
        self.servers[s as usize].sessions = 0;
        // Connections to it reset.
        let conns: Vec<Handle> = self.conns.iter().filter(|(_, c)| c.server == s).map(|(h, _)| h).collect();
        let mut clients: Vec<u32> = Vec::new();
        for ch in conns {
            if let Some(conn) = self.conns.get(ch) {
                clients.push(conn.client);
            }
            self.close_conn(ch);
        }
        for r in 0..self.replicas.len() {
            let open = std::mem::take(&mut self.replicas[r].upstream[s as usize]).open;
            for _ in 0..open {
                self.server_conn_closed(s);
            }
        }
        clients.sort_unstable();
        clients.dedup();
        for c in clients {
            self.pump(c);
        }
        lost
    }

    /// Recover: the server is back, empty (no queue, no sessions).
    pub(super) fn recover_server(&mut self, s: u32) {
        if self.servers[s as usize].state != ServerState::Down {
            return;
        }
        self.servers[s as usize].crash = None;
        self.set_server_state(s, ServerState::Up);
    }

    /// Scale out: the server joins its pool.
    pub(super) fn add_server(&mut self, s: u32) {
        self.set_server_state(s, ServerState::Up);
        let p = self.servers[s as usize].pool as usize;
        let list =
            if self.servers[s as usize].backup { &mut self.pools[p].backups } else { &mut self.pools[p].primaries };
        let at = list.partition_point(|&x| x < s);
        list.insert(at, s);
        self.pools[p].version += 1;
        self.invalidate_views();
    }

    /// Scale in: the server leaves its pool at once (no new picks), tells its clients to go
    /// away (GOAWAY), finishes its work, then is removed.
    pub(super) fn remove_server(&mut self, s: u32) {
        let state = self.servers[s as usize].state;
        if !matches!(state, ServerState::Up | ServerState::Down) {
            return;
        }
        let p = self.servers[s as usize].pool as usize;
        self.pools[p].primaries.retain(|&x| x != s);
        self.pools[p].backups.retain(|&x| x != s);
        self.pools[p].version += 1;
        self.invalidate_views();
        if state == ServerState::Down {
            self.set_server_state(s, ServerState::Removed);
            return;
        }
        self.set_server_state(s, ServerState::Draining);
        let conns: Vec<Handle> = self.conns.iter().filter(|(_, c)| c.server == s).map(|(h, _)| h).collect();
        for ch in conns {
            self.goaway(ch);
        }
        self.maybe_finish_drain(s);
    }

    fn maybe_finish_drain(&mut self, s: u32) {
        let server = &self.servers[s as usize];
        if server.state == ServerState::Draining && server.busy == 0 && server.queued == 0 {
            self.set_server_state(s, ServerState::Removed);
            // The sessions it still held are counted as lost (`stats.sessions_lost`) inside;
            // unlike a crash, a removal has no record of its own to carry the number.
            self.drop_server_work(s);
        }
    }

    /// The first time a replica takes a crashed server out (active or passive checks).
    pub(super) fn note_detection(&mut self, s: u32) {
        if let Some((at, idx)) = self.servers[s as usize].crash {
            let entry = &mut self.stats.crashes[idx];
            if entry.2.is_none() {
                entry.2 = Some(self.now - at);
            }
        }
    }

    /// Closes open time accounts at the end of the run.
    pub(super) fn settle_time_accounts(&mut self) {
        let ((warmup, end), now) = (self.window_ns(), self.now);
        for s in 0..self.servers.len() {
            self.server_busy_change(s as u32, 0);
            let server = &mut self.servers[s];
            // Before the time accounts below move `state_since_ns` to the end.
            if server.state != ServerState::Up && server.state_since_ns <= warmup {
                server.up_whole_window = false;
            }
            if server.state == ServerState::Down {
                self.stats.down_ns[s] += overlap(server.state_since_ns, now.max(end), warmup, end);
                server.state_since_ns = now.max(end);
            }
            if matches!(server.state, ServerState::NotAdded | ServerState::Removed) {
                self.stats.absent_ns[s] += overlap(server.state_since_ns, now.max(end), warmup, end);
                server.state_since_ns = now.max(end);
            }
        }
        for r in 0..self.replicas.len() {
            let replica = &mut self.replicas[r];
            replica.busy_area +=
                u128::from(replica.busy) * u128::from(overlap(replica.busy_since_ns, now, warmup, end));
            replica.busy_since_ns = now;
            if !replica.up {
                replica.down_ns += overlap(replica.down_since_ns, now.max(end), warmup, end);
                replica.down_since_ns = now.max(end);
            }
            for s in 0..self.servers.len() {
                let h = &mut replica.health[s];
                if !h.up {
                    self.stats.marked_down_ns[s] += u128::from(overlap(h.down_since_ns, now.max(end), warmup, end));
                    h.down_since_ns = now.max(end);
                }
            }
        }
    }
}
