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
    match dist {
        ServiceDist::Constant { value_ns } => *value_ns as f64,
        ServiceDist::Exponential { mean_ns } => -(*mean_ns as f64) * libm::log(1.0 - u),
        ServiceDist::Uniform { min_ns, max_ns } => *min_ns as f64 + u * (max_ns - min_ns) as f64,
        ServiceDist::Lognormal { p50_ns, p99_ns } => {
            let sigma = crate::scenario::lognormal_sigma(*p50_ns, *p99_ns);
            *p50_ns as f64 * libm::exp(sigma * normal_quantile(u))
        }
        ServiceDist::Pareto { min_ns, alpha } => {
            (*min_ns as f64 * libm::pow(1.0 - u, -1.0 / alpha)).min(MAX_SERVICE_NS as f64)
        }
        ServiceDist::Mixture { parts } => {
            // One uniform gives one draw: `u` picks the part by cumulative weight and is then
            // rescaled to a uniform within that part's slice.
            let total: f64 = parts.iter().map(|p| p.weight).sum();
            let mut below = 0.0;
            for (i, part) in parts.iter().enumerate() {
                let w = part.weight / total;
                if u < below + w || i + 1 == parts.len() {
                    let inner = ((u - below) / w).clamp(0.0, 1.0 - f64::EPSILON / 2.0);
                    return service_ns(&part.dist, inner);
                }
                below += w;
            }
            0.0
        }
        ServiceDist::Empirical { samples, .. } => {
            let n = samples.len();
            let i = ((u * n as f64) as usize).min(n.saturating_sub(1));
            samples.get(i).map_or(0.0, |&v| v as f64)
        }
        ServiceDist::Weibull { shape, scale_ns } => {
            (*scale_ns as f64 * libm::pow(-libm::log(1.0 - u), 1.0 / shape)).min(MAX_SERVICE_NS as f64)
        }
        ServiceDist::Gamma { shape, mean_ns } => {
            (gamma_quantile(*shape, u) * (*mean_ns as f64 / shape)).min(MAX_SERVICE_NS as f64)
        }
    }
}

/// The regularized incomplete gamma functions `(P(a, x), Q(a, x))` for `a > 0`, `x ≥ 0`, and
/// the factor `x^a e^(−x) / Γ(a)` both share (`x` times the density): the series below
/// `a + 1`, Lentz's continued fraction above (Numerical Recipes §6.2). Each of P and Q is
/// computed directly where it is small, so the upper tail keeps its relative precision.
/// `log_gamma_a` is `ln Γ(a)`, computed once by the caller.
fn incomplete_gamma(a: f64, x: f64, log_gamma_a: f64) -> (f64, f64, f64) {
    if x <= 0.0 {
        return (0.0, 1.0, 0.0);
    }
    let front = libm::exp(a * libm::log(x) - x - log_gamma_a);
    if x < a + 1.0 {
        let (mut ap, mut del) = (a, 1.0 / a);
        let mut sum = del;
        for _ in 0..10_000 {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if del.abs() < sum.abs() * 1e-16 {
                break;
            }
        }
        let p = (sum * front).min(1.0);
        (p, 1.0 - p, front)
    } else {
        const TINY: f64 = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / TINY;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -f64::from(i) * (f64::from(i) - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < TINY {
                d = TINY;
            }
            c = b + an / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-16 {
                break;
            }
        }
        let q = (front * h).min(1.0);
        (1.0 - q, q, front)
    }
}

/// The quantile of the gamma distribution with shape `a` and scale 1: Halley's method on the
/// regularized incomplete gamma function from a Wilson–Hilferty start (cubic convergence:
/// two or three steps), kept inside a bracket that bisection narrows whenever a step leaves
/// it. Bounded iterations, so it always ends; accurate to about 1e-12 relative.
pub(crate) fn gamma_quantile(a: f64, u: f64) -> f64 {
    if u <= 0.0 {
        return 0.0;
    }
    let log_gamma_a = libm::lgamma(a);
    // Work on the smaller tail: P below the median, Q above it (1 − u is exact there).
    let upper = u > 0.5;
    let target = if upper { 1.0 - u } else { u };
    let mut x = {
        let z = normal_quantile(u);
        let wh = a * libm::pow(1.0 - 1.0 / (9.0 * a) + z / (3.0 * libm::sqrt(a)), 3.0);
        if wh > 0.0 && a >= 1.0 {
            wh
        } else {
            // Small shapes: P(a, x) ≈ x^a / Γ(a + 1) near 0.
            libm::pow(u * libm::tgamma(a + 1.0), 1.0 / a).max(f64::MIN_POSITIVE)
        }
    };
    let (mut lo, mut hi) = (0.0_f64, f64::INFINITY);
    for _ in 0..200 {
        let (p, q, front) = incomplete_gamma(a, x, log_gamma_a);
        // f(x) > 0 means x is above the quantile; f' is the density, front / x.
        let fx = if upper { target - q } else { p - target };
        if fx == 0.0 {
            return x;
        }
        if fx > 0.0 {
            hi = hi.min(x);
        } else {
            lo = lo.max(x);
        }
        let newton = fx * x / front;
        // Halley: f''/f' = (a − 1)/x − 1 for the gamma density.
        let halley = newton / (1.0 - 0.5 * newton * ((a - 1.0) / x - 1.0));
        let mut next = x - halley;
        if !next.is_finite() || next <= lo || next >= hi {
            next = x - newton;
        }
        if !next.is_finite() || next <= lo || next >= hi {
            next = if hi.is_finite() { 0.5 * (lo + hi) } else { 2.0 * x.max(1.0) };
        }
        // A step this small leaves an error far below it (the convergence is cubic).
        if (next - x).abs() <= 1e-10 * x {
            return next;
        }
        x = next;
    }
    x
}

impl Simulation {
    #[inline(never)]
    pub(super) fn on_at_server(&mut self, h: Handle) {
        // An attempt the client gave up on while it travelled is dropped on arrival.
        let Some(req) = self.reqs.get(h) else { return };
        let s = req.server;
        let (session, measured, size_u, c) = (req.session, req.measured, req.size_u, req.client);
        // A try that is not its request's first: a hedge, or a retry (the client's or the
        // balancer's), counted where it lands.
        let extra = req.extra();
        let again = match extra.hedge {
            Some(_) if req.attempt > 1 => 2u8,
            _ => u8::from(req.attempt > 1 || extra.lb_retries > 0),
        };
        let given_ns = extra.replay.as_ref().and_then(|r| r.service_ns).unwrap_or(u64::MAX);
        let (request_bytes, response_bytes) = req.bytes(self.group_of(c));
        if measured && again > 0 {
            let counts = if again == 2 { &mut self.stats.server_hedges } else { &mut self.stats.server_retries };
            counts[s as usize] += 1;
        }
        if again > 0 {
            self.stats.series.retried(again == 2);
        }
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
        let work = JobWork { extra_ns, given_ns };
        let job =
            Job { req: h, server: s, size_u, has_work: work != JobWork::NONE, measured, session_missing, error: false };
        let server = &self.servers[s as usize];
        if server.busy < server.workers {
            let jh = self.insert_job(job, work);
            self.start_job(jh);
        } else if server.queued >= server.queue_cap {
            if measured {
                self.stats.rejected[s as usize] += 1;
            }
            self.answer_from_server(h, Outcome::Rejected);
        } else {
            let jh = self.insert_job(job, work);
            self.enqueue_job(s, jh);
        }
    }

    /// Stores a job, and its work besides the service time when it has some.
    fn insert_job(&mut self, job: Job, work: JobWork) -> Handle {
        let jh = self.jobs.insert(job);
        if job.has_work {
            let slot = jh.idx as usize;
            if slot >= self.job_work.len() {
                // Slots are allocated densely: the table grows with the job store.
                self.job_work.resize(slot + 1, JobWork::NONE);
            }
            self.job_work[slot] = work;
        }
        jh
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
            self.stats.server_sessions_lost[old as usize] += 1;
        }
        had_home
    }

    pub(super) fn start_job(&mut self, jh: Handle) {
        let job = *self.jobs.get(jh).expect("live job");
        // The request is answered when the work is done; it was last touched when it was
        // queued, which may be long ago.
        if self.reqs.len() > super::PREFETCH_FROM {
            self.reqs.prefetch(job.req.idx);
        }
        let s = job.server as usize;
        self.server_busy_change(job.server, 1);
        let dist = &self.sc.servers[self.servers[s].group as usize].service;
        // A replayed row's own work replaces the draw; a `slow` action still scales it.
        let JobWork { extra_ns, given_ns } = if job.has_work { self.job_work[jh.idx as usize] } else { JobWork::NONE };
        let work = if given_ns == u64::MAX { service_ns(dist, job.size_u) } else { given_ns as f64 };
        let base = work * self.servers[s].slow;
        let mut t = ((base + 0.5).clamp(0.0, 1e17) as i64 as u64).saturating_add(extra_ns);
        // `has_errors` first: a healthy server's `errors` is in a cache line this visit
        // would otherwise not touch.
        debug_assert_eq!(self.servers[s].has_errors, self.servers[s].errors.is_some(), "has_errors out of step");
        if self.servers[s].has_errors
            && let Some(errors) = self.servers[s].errors.as_deref_mut()
            && errors.rate > 0.0
            && errors.rng.uniform() < errors.rate
        {
            // An error instead of the work: after its own latency (slowed like the work
            // would be), or after the work when it has none.
            if let Some(l) = errors.latency_ns {
                t = ((l as f64 * self.servers[s].slow + 0.5).clamp(0.0, 1e17) as i64 as u64).saturating_add(extra_ns);
            }
            self.jobs.get_mut(jh).expect("live job").error = true;
        }
        debug_assert!(self.servers[s].busy <= self.servers[s].workers, "server serves more than its workers");
        // Always through the queue: a zero service time must not recurse through the queue.
        self.schedule(t, Ev::ServiceDone { job: jh, server: job.server });
    }

    /// Puts a job at the end of a server's queue.
    fn enqueue_job(&mut self, s: u32, jh: Handle) {
        let slot = jh.idx as usize;
        if slot >= self.job_next.len() {
            // Slots are allocated densely: the links grow with the job store.
            self.job_next.resize(slot + 1, NONE);
        }
        self.job_next[slot] = NONE;
        let tail = self.servers[s as usize].queue_tail;
        if tail == NONE {
            self.servers[s as usize].queue_head = jh.idx;
        } else {
            self.job_next[tail as usize] = jh.idx;
        }
        self.server_queue_change(s, 1);
        self.servers[s as usize].queue_tail = jh.idx;
    }

    /// Takes the first job of a server's queue.
    fn dequeue_job(&mut self, s: u32) -> Option<Handle> {
        let head = self.servers[s as usize].queue_head;
        if head == NONE {
            return None;
        }
        let jh = self.jobs.handle_at(head).expect("queued jobs are live");
        let next = std::mem::replace(&mut self.job_next[head as usize], NONE);
        self.server_queue_change(s, -1);
        let server = &mut self.servers[s as usize];
        server.queue_head = next;
        if next == NONE {
            server.queue_tail = NONE;
        } else if self.reqs.len() > super::PREFETCH_FROM {
            // The new head waited behind this job (in an overloaded server, for seconds) and is
            // taken out when a worker frees up: start bringing it in now.
            self.jobs.prefetch(next);
            crate::slab::prefetch(&self.job_next[next as usize]);
        }
        Some(jh)
    }

    /// Accounts a change of a server's waiting jobs (the time-averaged queue within the window).
    fn server_queue_change(&mut self, s: u32, delta: i32) {
        let (warmup, end) = self.window_ns();
        let (now, scaled) = (self.now, !self.scalers.is_empty());
        let server = &mut self.servers[s as usize];
        server.queue_area += u128::from(server.queued) * u128::from(overlap(server.queue_since_ns, now, warmup, end));
        if scaled {
            server.queue_all += u128::from(server.queued) * u128::from(now - server.queue_since_ns);
        }
        server.queue_since_ns = now;
        server.queued = (i64::from(server.queued) + i64::from(delta)).max(0) as u32;
    }

    /// Accounts a change of a server's busy workers (utilization within the window).
    fn server_busy_change(&mut self, s: u32, delta: i32) {
        let (warmup, end) = self.window_ns();
        let (now, scaled) = (self.now, !self.scalers.is_empty());
        let server = &mut self.servers[s as usize];
        server.busy_area += u128::from(server.busy) * u128::from(overlap(server.busy_since_ns, now, warmup, end));
        if scaled {
            server.busy_all += u128::from(server.busy) * u128::from(now - server.busy_since_ns);
        }
        server.busy_since_ns = now;
        server.busy = (i64::from(server.busy) + i64::from(delta)).max(0) as u32;
    }

    #[inline(never)]
    pub(super) fn on_service_done(&mut self, jh: Handle) {
        let Some(job) = self.jobs.remove(jh) else { return };
        let s = job.server;
        if self.reqs.len() > super::PREFETCH_FROM {
            // The job the server takes next and the request this one answers (both brought
            // in a service time ago, and likely evicted since): their misses overlap.
            self.jobs.prefetch(self.servers[s as usize].queue_head);
            self.reqs.prefetch(job.req.idx);
        }
        self.server_busy_change(s, -1);
        if job.measured {
            // An error answer is work the server finished too: it counts in `requests` (a
            // failing server must not look idle) and again in `errors`.
            self.stats.served[s as usize] += 1;
            self.stats.series.served(s);
            if job.error {
                self.stats.server_errors[s as usize] += 1;
            }
        }
        // Start the next job before answering, so the server's state is settled.
        if let Some(next) = self.dequeue_job(s) {
            self.start_job(next);
        }
        if self.reqs.get(job.req).is_some() {
            let outcome = if job.error {
                Outcome::ServerError
            } else if job.session_missing {
                Outcome::SessionLost
            } else {
                Outcome::Ok
            };
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
        self.server_queue_change(s, -(self.servers[s as usize].queued as i32));
        let server = &mut self.servers[s as usize];
        (server.queue_head, server.queue_tail) = (NONE, NONE);
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
                self.stats.server_sessions_lost[s as usize] += 1;
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
            // Requests pending for a connection to it try to open one (Envoy's pool does,
            // having none): the attempt fails at the crashed server.
            let profile = super::conn::profile::Profile::of(crate::scenario::Protocol::Http1);
            while let Some(h) = self.next_pending(r as u32, s) {
                let wait = self.upstream_acquire(r as u32, s, profile);
                self.send_upstream(h, s, wait);
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
        if self.sc.balancer.health_check.is_none() {
            // Without active checks nothing else tells the balancer it is back (with them, a
            // passing check starts the window: Envoy's `lastHcPassTime`).
            self.start_slow_start(s);
        }
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
        self.start_slow_start(s);
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
            self.server_queue_change(s as u32, 0);
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
        if self.sc.balancer.outlier_detection.is_some() {
            self.outlier_close_accounts(now.max(end));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{gamma_quantile, service_ns};
    use crate::rng::SimRng;
    use crate::scenario::{MAX_SERVICE_NS, MixturePart, ServiceDist};

    const MS: u64 = 1_000_000;

    fn close(got: f64, want: f64, rel: f64) {
        assert!((got - want).abs() <= rel * want.abs(), "got {got}, want {want} (relative tolerance {rel})");
    }

    /// The mean of 200,000 draws (one uniform each, as the engine draws them) against `mean_ns`.
    fn sample_mean_matches(dist: &ServiceDist, rel: f64) {
        let mut rng = SimRng::from_seed(7);
        let n = 200_000;
        let sum: f64 = (0..n).map(|_| service_ns(dist, rng.open_uniform())).sum();
        close(sum / n as f64, dist.mean_ns(), rel);
    }

    #[test]
    fn pareto_quantiles_and_cap() {
        let d = ServiceDist::Pareto { min_ns: 2 * MS, alpha: 2.5 };
        close(service_ns(&d, 0.5), 2e6 * libm::pow(2.0, 1.0 / 2.5), 1e-12);
        close(service_ns(&d, 0.0), 2e6, 1e-12);
        close(service_ns(&d, 0.99), 2e6 * libm::pow(100.0, 1.0 / 2.5), 1e-12);
        // The far tail is capped at the longest service time, never infinite.
        let heavy = ServiceDist::Pareto { min_ns: MAX_SERVICE_NS / 2, alpha: 1.01 };
        assert_eq!(service_ns(&heavy, 1.0 - 1e-16), MAX_SERVICE_NS as f64);
        close(d.mean_ns(), 2.5 * 2e6 / 1.5, 1e-12);
        close(d.second_moment_ns2(), 2.5 * 4e12 / 0.5, 1e-12);
        assert_eq!(ServiceDist::Pareto { min_ns: MS, alpha: 2.0 }.second_moment_ns2(), f64::INFINITY);
        // Finite variance (alpha 4) converges quickly enough for a sample-mean check.
        sample_mean_matches(&ServiceDist::Pareto { min_ns: MS, alpha: 4.0 }, 0.01);
    }

    #[test]
    fn weibull_quantiles() {
        // Shape 1 is the exponential distribution.
        let w = ServiceDist::Weibull { shape: 1.0, scale_ns: 5 * MS };
        let e = ServiceDist::Exponential { mean_ns: 5 * MS };
        for u in [0.001, 0.1, 0.5, 0.9, 0.999] {
            close(service_ns(&w, u), service_ns(&e, u), 1e-12);
        }
        let w = ServiceDist::Weibull { shape: 2.0, scale_ns: 3 * MS };
        close(service_ns(&w, 0.5), 3e6 * libm::sqrt(core::f64::consts::LN_2), 1e-12);
        close(w.mean_ns(), 3e6 * libm::sqrt(core::f64::consts::PI) / 2.0, 1e-12);
        close(w.second_moment_ns2(), 9e12, 1e-12);
        sample_mean_matches(&w, 0.01);
        sample_mean_matches(&ServiceDist::Weibull { shape: 0.7, scale_ns: MS }, 0.02);
    }

    #[test]
    fn gamma_quantiles_match_known_values() {
        // Shape 2, scale 1: the median (from the closed form 1 − (1 + x)e^(−x) = 1/2).
        close(gamma_quantile(2.0, 0.5), 1.678_346_990_016_661, 1e-12);
        // Shape 1 is the exponential distribution, in both tails.
        for u in [1e-9, 0.01, 0.3, 0.5, 0.7, 0.99, 1.0 - 1e-12] {
            close(gamma_quantile(1.0, u), -libm::log1p(-u), 1e-9);
        }
        // Shape 1/2: χ² with one degree of freedom over 2, so Q(u) = z²/2 with z the normal
        // quantile of (1 + u)/2.
        for u in [0.05, 0.5, 0.95, 0.999] {
            let z = crate::rng::normal_quantile((1.0 + u) / 2.0);
            close(gamma_quantile(0.5, u), z * z / 2.0, 1e-8);
        }
        // Shape 3: P(3, x) = 1 − e^(−x)(1 + x + x²/2); check the inverse by evaluating it.
        for u in [1e-6, 0.2, 0.5, 0.8, 0.999_999] {
            let x = gamma_quantile(3.0, u);
            let p = 1.0 - libm::exp(-x) * (1.0 + x + x * x / 2.0);
            close(p, u, 1e-9);
        }
        // Very small and very large shapes end (bounded iterations) with a finite answer.
        for a in [0.01, 0.1, 1_000.0, 100_000.0] {
            for u in [1e-12, 0.5, 1.0 - 1e-12] {
                let x = gamma_quantile(a, u);
                assert!(x.is_finite() && x >= 0.0, "shape {a} quantile {u}: {x}");
            }
        }
        close(gamma_quantile(100_000.0, 0.5), 100_000.0 - 1.0 / 3.0, 1e-6);
        let g = ServiceDist::Gamma { shape: 2.0, mean_ns: 4 * MS };
        close(service_ns(&g, 0.5), 1.678_346_990_016_661 * 2e6, 1e-12);
        close(g.second_moment_ns2(), 2.0 * 3.0 * 4e12, 1e-12);
        sample_mean_matches(&g, 0.01);
        sample_mean_matches(&ServiceDist::Gamma { shape: 0.3, mean_ns: MS }, 0.02);
    }

    #[test]
    fn empirical_resamples_sorted_values() {
        let d = ServiceDist::Empirical { samples: vec![MS, 2 * MS, 3 * MS, 10 * MS].into(), file: None };
        assert_eq!(service_ns(&d, 0.0), 1e6);
        assert_eq!(service_ns(&d, 0.2499), 1e6);
        assert_eq!(service_ns(&d, 0.25), 2e6);
        assert_eq!(service_ns(&d, 0.74), 3e6);
        assert_eq!(service_ns(&d, 1.0 - 1e-16), 1e7);
        close(d.mean_ns(), 4e6, 1e-12);
        close(d.second_moment_ns2(), (1.0 + 4.0 + 9.0 + 100.0) * 1e12 / 4.0, 1e-12);
        sample_mean_matches(&d, 0.01);
    }

    #[test]
    fn mixture_picks_a_part_by_weight_and_rescales_u() {
        let fast = ServiceDist::Exponential { mean_ns: MS };
        let slow = ServiceDist::Exponential { mean_ns: 10 * MS };
        let d = ServiceDist::Mixture {
            parts: vec![
                MixturePart { weight: 9.0, dist: fast.clone() },
                MixturePart { weight: 1.0, dist: slow.clone() },
            ]
            .into(),
        };
        // u in [0, 0.9) is the fast part at u / 0.9; u in [0.9, 1) the slow part at (u − 0.9) / 0.1.
        close(service_ns(&d, 0.45), service_ns(&fast, 0.5), 1e-12);
        close(service_ns(&d, 0.95), service_ns(&slow, 0.5), 1e-9);
        close(service_ns(&d, 0.905), service_ns(&slow, 0.05), 1e-9);
        close(d.mean_ns(), 0.9e6 + 1e6, 1e-12);
        close(d.second_moment_ns2(), 0.9 * 2e12 + 0.1 * 2e14, 1e-12);
        sample_mean_matches(&d, 0.01);
    }

    #[test]
    fn moments_of_the_older_distributions() {
        close(ServiceDist::Uniform { min_ns: MS, max_ns: 3 * MS }.second_moment_ns2(), 13e12 / 3.0, 1e-12);
        close(ServiceDist::Exponential { mean_ns: MS }.second_moment_ns2(), 2e12, 1e-12);
        let l = ServiceDist::Lognormal { p50_ns: MS, p99_ns: 5 * MS };
        sample_mean_matches(&l, 0.01);
        // E[S²] is the mean of the squared lognormal (σ doubled, median squared).
        let sigma = crate::scenario::lognormal_sigma(MS, 5 * MS);
        close(l.second_moment_ns2(), 1e12 * libm::exp(2.0 * sigma * sigma), 1e-12);
    }
}
