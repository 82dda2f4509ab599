//! The balancer replicas (L7 proxies / API gateways, or L4 forwarders): rate limiting,
//! per-request work, stickiness, the pick through the algorithm over what health checking
//! allows, upstream connections, and the way back with passive health accounting.

use super::Simulation;
use super::client::via;
use super::conn::profile::Profile;
use super::conn::upstream::Admit;
use super::state::*;
use crate::algo::{OutcomeKind, PickView};
use crate::metrics::report::Outcome;
use crate::scenario::*;
use crate::slab::Handle;

impl Simulation {
    #[inline(never)]
    pub(super) fn on_at_balancer(&mut self, h: Handle) {
        let Some(req) = self.reqs.get(h) else { return };
        let r = req.replica;
        if !self.replicas[r as usize].up {
            self.answer_client(h, Outcome::ConnectionError, false);
            return;
        }
        let pinned = req.extra().stream.and_then(|sh| self.streams.get(sh)).is_some_and(|s| s.server != NONE);
        let mut delay_ns = 0;
        if self.has_rate_limits && !pinned {
            match self.rate_limit(h) {
                Ok(d) => delay_ns = d,
                Err(()) => {
                    if self.measuring() {
                        self.replicas[r as usize].rate_limited += 1;
                    }
                    self.answer_client(h, Outcome::RateLimited, false);
                    return;
                }
            }
        }
        if self.reqs.len() > super::PREFETCH_FROM
            && let Some(req) = self.reqs.get(h)
        {
            // Its pick comes after the balancer's work: start its ring lookup's miss now.
            let balancer = &self.replicas[r as usize].balancers[req.pool as usize];
            balancer.prefetch_key(req.key, self.sc.balancer.hash_key_text);
        }
        let work = self.sc.balancer.overhead_ns + self.sc.balancer.auth_ns;
        match self.sc.balancer.workers {
            Some(w) => {
                let replica = &mut self.replicas[r as usize];
                if replica.busy < w {
                    self.replica_busy_change(r, 1);
                    self.after(delay_ns + work, Ev::BalancerDone { req: h, replica: r });
                } else {
                    replica.queue.push_back(h);
                }
            }
            None => self.after(delay_ns + work, Ev::BalancerDone { req: h, replica: r }),
        }
    }

    /// Accounts a change of a replica's busy workers (for its utilization).
    fn replica_busy_change(&mut self, r: u32, delta: i32) {
        let (warmup, end) = self.window_ns();
        let now = self.now;
        let replica = &mut self.replicas[r as usize];
        replica.busy_area += u128::from(replica.busy) * u128::from(overlap(replica.busy_since_ns, now, warmup, end));
        replica.busy_since_ns = now;
        replica.busy = (replica.busy as i64 + i64::from(delta)).max(0) as u32;
    }

    #[inline(never)]
    pub(super) fn on_balancer_done(&mut self, h: Handle, r: u32) {
        if self.sc.balancer.workers.is_some() {
            // The worker is free; start the next waiting request.
            self.replica_busy_change(r, -1);
            while let Some(next) = self.replicas[r as usize].queue.pop_front() {
                if self.reqs.get(next).is_some() {
                    self.replica_busy_change(r, 1);
                    let work = self.sc.balancer.overhead_ns + self.sc.balancer.auth_ns;
                    self.schedule(work.max(1), Ev::BalancerDone { req: next, replica: r });
                    break;
                }
            }
        }
        if self.reqs.get(h).is_some() && self.replicas[r as usize].up {
            self.route(h);
        }
    }

    /// Sends a request on to a server: its stream's server, or a fresh pick.
    fn route(&mut self, h: Handle) {
        let req = self.reqs.get(h).expect("routing a live request");
        let (r, pool, key, c, session) = (req.replica, req.pool, req.key, req.client, req.session);
        if let Some(sh) = req.extra().stream
            && let Some(s) = self.streams.get(sh).map(|s| s.server).filter(|&s| s != NONE)
        {
            self.forward(h, s);
            return;
        }
        if !self.breaker_admits(r, pool) {
            self.overflow(h, r);
            return;
        }
        let reselect = self.sc.balancer.retry.as_ref().filter(|p| p.previous_hosts);
        let pick = if req.extra().tried.is_empty() {
            self.pick(r, pool, key, c, Some((&[], session)))
        } else if let Some(n) = reselect.map(|p| p.host_selection_retry_max_attempts) {
            // Envoy's previous_hosts predicate (`ZoneAwareLoadBalancerBase::chooseHost`,
            // source/common/upstream/load_balancer_impl.cc): the pick is made again, up to
            // `host_selection_retry_max_attempts` times, while the host picked was tried
            // already; then the last host picked is used, tried or not. Each pick moves the
            // algorithm on (round robin's position, a fresh random draw); a hashing algorithm
            // sees the key changed as Envoy's Maglev changes its hash (`hash ^ (2^64 −
            // attempt)`; Envoy's ring hash steps to the next ring entry instead).
            let tried = std::mem::take(&mut self.reqs.get_mut(h).expect("live").extra_mut().tried);
            let mut pick = None;
            for attempt in 0..=u64::from(n) {
                let k = if attempt == 0 { key } else { key ^ (u64::MAX - attempt + 1) };
                pick = self.pick(r, pool, k, c, Some((&[], session)));
                if !pick.is_some_and(|s| tried.contains(&s)) {
                    break;
                }
            }
            self.reqs.get_mut(h).expect("live").extra_mut().tried = tried;
            pick
        } else {
            let tried = std::mem::take(&mut self.reqs.get_mut(h).expect("live").extra_mut().tried);
            let pick = self.pick(r, pool, key, c, Some((&tried, session)));
            self.reqs.get_mut(h).expect("live").extra_mut().tried = tried;
            pick
        };
        let Some(s) = pick else {
            self.answer_client(h, Outcome::NoServer, false);
            return;
        };
        if self.measuring() {
            self.replicas[r as usize].routed += 1;
        }
        self.hold_active(r, s);
        let req = self.reqs.get_mut(h).expect("live");
        match req.extra().stream.and_then(|sh| self.streams.get_mut(sh)) {
            // A stream's first message pins the stream; the stream holds the active count.
            Some(stream) => {
                stream.server = s;
                stream.replica = r;
            }
            None => req.holds |= hold::ACTIVE,
        }
        self.forward(h, s);
    }

    /// Passes a request from its replica to server `s` over an upstream connection (or makes
    /// it wait for one: circuit breakers' `max_connections`).
    fn forward(&mut self, h: Handle, s: u32) {
        let req = self.reqs.get(h).expect("live");
        let (r, c, pool) = (req.replica, req.client, req.pool);
        let profile = Profile::of(self.group_of(c).protocol);
        if profile.upstream_per_request
            && let Some(cb) = self.sc.balancer.circuit_breakers
        {
            match self.upstream_admit(r, s, pool, &cb) {
                Admit::Now => {}
                Admit::Pending => {
                    let req = self.reqs.get_mut(h).expect("live");
                    req.server = s;
                    req.holds |= hold::PENDING;
                    let replica = &mut self.replicas[r as usize];
                    replica.pending[s as usize].push_back(h);
                    replica.pool_pending[pool as usize] += 1;
                    return;
                }
                Admit::Overflow => {
                    // Envoy's pending overflow: a local 503, not retried by the router.
                    let req = self.reqs.get_mut(h).expect("live");
                    if req.holds & hold::ACTIVE != 0 {
                        req.holds &= !hold::ACTIVE;
                        self.release_active(r, s);
                    }
                    self.overflow(h, r);
                    return;
                }
            }
        }
        let wait = self.upstream_acquire(r, s, profile);
        self.send_upstream(h, s, wait);
    }

    /// Sends a try on its upstream connection to `s`, usable in `wait`.
    pub(super) fn send_upstream(&mut self, h: Handle, s: u32, wait: u64) {
        let delay = wait + self.upstream_hop_ns();
        let per_try = self.sc.balancer.retry.as_ref().and_then(|p| p.per_try_timeout_ns);
        let now = self.now;
        // An HTTP/1.1 connection is held by its try, and closed if the try is abandoned (the
        // client timed out, a hedge won): Envoy resets the upstream stream, nginx finalizes
        // the request and closes the upstream connection. The server's answer then finds no
        // request, so nothing else would ever release it.
        let counted =
            self.reqs.get(h).is_some_and(|q| Profile::of(self.group_of(q.client).protocol).upstream_per_request);
        let req = self.reqs.get_mut(h).expect("live");
        req.server = s;
        req.sent_to_server_ns = now;
        if counted {
            req.holds |= hold::UPSTREAM;
        }
        if let Some(per_try) = per_try {
            // Envoy arms the per-try timer once the try has its upstream connection
            // (`UpstreamRequest::setupPerTryTimeout` from `onPoolReady`).
            let after = wait.saturating_add(per_try);
            req.extra_mut().per_try_deadline_ns = now.saturating_add(after);
            let try_no = req.try_no();
            self.after(delay, Ev::AtServer { req: h });
            self.after(after, Ev::PerTryTimeout { req: h, try_no });
            return;
        }
        self.after(delay, Ev::AtServer { req: h });
    }

    /// A try's `per_try_timeout` ran out before its answer came back (Envoy's
    /// `Filter::onPerTryTimeout` in source/common/router/router.cc): the upstream stream is
    /// reset — the server is not told and keeps working on it, its answer goes nowhere, as
    /// with a client timeout — and the try ends at the balancer with the outcome `timeout`:
    /// retried if `retry_on` lists it (Envoy's `5xx`, `gateway-error` and `reset` conditions
    /// all retry a per-try timeout, `RetryStateImpl::wouldRetryFromReset`), else answered to
    /// the client (Envoy's 504). The client's own `timeout` keeps running.
    #[inline(never)]
    pub(super) fn on_per_try_timeout(&mut self, h: Handle, try_no: u32) {
        let Some(req) = self.reqs.get(h) else { return };
        if req.try_no() != try_no || req.extra().per_try_deadline_ns != self.now {
            return;
        }
        let (c, attempt_start) = (req.client, req.attempt_start_ns);
        // A new handle for the request, so whatever the old try still has in flight (on its
        // way to the server, in its queue, on the way back) resolves to nothing.
        let h2 = self.reqs.rearm(h).expect("live request");
        if let Some(hh) = self.reqs.get(h2).and_then(|q| q.extra().hedge)
            && let Some(hedge) = self.hedges.get_mut(hh)
        {
            for x in hedge.live.iter_mut().filter(|x| **x == h) {
                *x = h2;
            }
        }
        // The client's timeout was armed with the old handle: it moves, at the same moment.
        if let Some(timeout) = self.group_of(c).timeout_ns {
            let at = attempt_start.saturating_add(timeout);
            self.schedule(at.saturating_sub(self.now), Ev::Timeout { req: h2 });
        }
        self.on_back_at_balancer(h2, Outcome::Timeout);
    }

    #[inline(never)]
    pub(super) fn on_back_at_balancer(&mut self, h: Handle, outcome: Outcome) {
        let Some(req) = self.reqs.get_mut(h) else { return };
        if let Some(x) = req.extra.as_deref_mut() {
            x.per_try_deadline_ns = 0;
        }
        let (r, s, pool, sent, c) = (req.replica, req.server, req.pool, req.sent_to_server_ns, req.client);
        let session = req.session;
        let holds = req.holds;
        // The retry (if this try was one) is over too, whatever it brought back: it no longer
        // counts against `max_retries` or the retry budget. Its upstream connection is
        // released (or reset) below.
        req.holds &= !(hold::ACTIVE | hold::RETRY | hold::UPSTREAM);
        if holds & hold::ACTIVE != 0 {
            self.release_active(r, s);
        }
        if holds & hold::RETRY != 0 {
            self.release_retry(r, pool);
        }
        if outcome == Outcome::Timeout {
            // Only a per-try timeout ends a try at the balancer as `timeout`.
            self.upstream_reset(r, s, Profile::of(self.group_of(c).protocol));
        } else {
            self.upstream_release(r, s, Profile::of(self.group_of(c).protocol));
        }
        let kind = match outcome {
            Outcome::ConnectionError => OutcomeKind::ConnectionError,
            Outcome::ServerError if self.sc.balancer.fail_on_server_error => OutcomeKind::Failed,
            // A per-try timeout: the balancer gave up, the server may still be working.
            Outcome::Timeout => OutcomeKind::Abandoned,
            _ => OutcomeKind::Answered,
        };
        if self.sc.balancer.outlier_detection.is_some() {
            self.outlier_result(r, s, outcome);
        }
        let observed = crate::algo::Outcome { server: s, sent_ns: sent, now_ns: self.now, kind };
        self.replicas[r as usize].balancers[pool as usize].observe(&observed);
        if kind.is_failure() {
            self.passive_failure(r, s);
            let tries = self.reqs.get(h).map_or(0, |q| q.extra().tried.len() as u32);
            if tries < self.sc.balancer.retry_on_error && self.replicas[r as usize].up && self.can_retry(r, pool) {
                // nginx proxy_next_upstream: try another server for the same attempt.
                self.hold_retry(h);
                self.trace_try(h, outcome.name());
                let now = self.now;
                let req = self.reqs.get_mut(h).expect("live");
                let x = req.extra_mut();
                x.tried.push(s);
                x.try_no += 1;
                req.try_start_ns = now;
                if self.measuring() {
                    self.stats.balancer_retries += 1;
                }
                self.route(h);
                return;
            }
        } else if outcome != Outcome::Timeout {
            // (A timed-out try is no answer: no success for the passive checks, no cookie.)
            self.passive_success(r, s);
            if self.sticky == Sticky::Cookie && outcome != Outcome::Rejected {
                // Cookie insert: every answer (re)writes the cookie with the server that served.
                match session.and_then(|sh| self.sessions.get_mut(sh)) {
                    Some(sess) => sess.cookie = s,
                    None => self.clients[c as usize].cookie = s,
                }
            }
        }
        if self.sc.balancer.retry.is_some() && self.balancer_retry(h, r, s, outcome) {
            return;
        }
        self.answer_client(h, outcome, false);
    }

    /// Envoy's route retry policy: retries a try whose outcome is in `retry_on` after a
    /// jittered backoff, if retries are left and the retry budget allows it. Whether it did.
    fn balancer_retry(&mut self, h: Handle, r: u32, s: u32, outcome: Outcome) -> bool {
        let Some(p) = &self.sc.balancer.retry else { return false };
        let (budget, previous_hosts) = (p.budget, p.previous_hosts);
        let Some(req) = self.reqs.get(h) else { return false };
        let n = req.extra().lb_retries + 1;
        if !p.retry_on[outcome.index()] || n > p.num_retries || !self.replicas[r as usize].up || self.finished {
            return false;
        }
        let bound = p.backoff_bound_ns(n);
        let measured = self.measuring();
        if let Some(b) = budget {
            // Envoy: active and pending requests of the cluster (here: the replica's requests
            // at its servers and those waiting for one of its workers).
            let replica = &self.replicas[r as usize];
            let active: u64 = replica.active.iter().map(|&a| u64::from(a)).sum();
            let pending = replica.queue.len() as u64;
            if u64::from(replica.active_retries) >= b.limit(active + pending) {
                if measured {
                    self.stats.retries_over_budget += 1;
                }
                return false;
            }
        }
        // The circuit breakers' `max_retries`: a retry they refuse ends the attempt with its
        // outcome.
        let pool = self.reqs.get(h).expect("live").pool;
        if !self.can_retry(r, pool) {
            return false;
        }
        self.hold_retry(h);
        let replica = &mut self.replicas[r as usize];
        let rng = replica.retry_rng.as_mut().expect("a replica with a retry policy has its stream");
        let delay = rng.next_u64() % bound.max(1);
        let req = self.reqs.get_mut(h).expect("live");
        let x = req.extra_mut();
        x.lb_retries = n;
        if previous_hosts {
            x.tried.push(s);
        }
        if measured {
            self.stats.balancer_retries += 1;
        }
        self.trace_try(h, outcome.name());
        self.schedule(delay, Ev::BalancerRetry { req: h });
        true
    }

    /// A balancer retry's backoff is over: route the request again (with `previous_hosts`,
    /// re-picking while the pick was tried already, see `route`).
    #[inline(never)]
    pub(super) fn on_balancer_retry(&mut self, h: Handle) {
        let Some(req) = self.reqs.get(h) else { return };
        let r = req.replica;
        let now = self.now;
        let req = self.reqs.get_mut(h).expect("live");
        req.extra_mut().try_no += 1;
        req.try_start_ns = now;
        if !self.replicas[r as usize].up {
            self.answer_client(h, Outcome::ConnectionError, false);
            return;
        }
        // (Every host tried: Envoy's host selection still re-picks up to its limit, then
        // takes the last pick; nothing is forgotten.)
        self.route(h);
    }

    /// Refreshes a replica's eligible lists if anything changed or a passive block expired.
    fn refresh_views(&mut self, r: u32) {
        let replica = &mut self.replicas[r as usize];
        if !replica.dirty && self.now < replica.passive_expiry_ns {
            return;
        }
        // The lists are filled in place (no allocation), moved out while the replica is read.
        let mut views = std::mem::take(&mut replica.views);
        let mut available = std::mem::take(&mut replica.available);
        let (version, expiry) = self.fill_views(&self.replicas[r as usize], &mut views, &mut available);
        self.view_version = version;
        let replica = &mut self.replicas[r as usize];
        replica.views = views;
        replica.available = available;
        replica.dirty = false;
        replica.passive_expiry_ns = expiry;
    }

    /// The one rule of who may be picked: writes `replica`'s eligible lists per pool and the
    /// availability per server as they are now — not marked down by health checks, not
    /// ejected by outlier detection, not blocked by nginx's passive checks — with fresh view
    /// versions. Returns the last version given and when the earliest passive block expires.
    /// `refresh_views` keeps the result; the inspector's explanation (explain.rs) computes it
    /// without keeping it.
    pub(super) fn fill_views(&self, replica: &Replica, views: &mut [PoolView], available: &mut [bool]) -> (u64, u64) {
        let now = self.now;
        let passive = self.sc.balancer.passive;
        let checks = self.sc.balancer.health_check.is_some();
        let mut expiry = u64::MAX;
        let mut version = self.view_version;
        available.fill(false);
        for (p, pool) in self.pools.iter().enumerate() {
            let single = pool.primaries.len() == 1;
            let view = &mut views[p];
            view.primaries.clear();
            view.backups.clear();
            for (list, members) in [(&mut view.primaries, &pool.primaries), (&mut view.backups, &pool.backups)] {
                for &s in members {
                    let i = s as usize;
                    if checks && !replica.health[i].up {
                        continue;
                    }
                    if replica.outlier.get(i).is_some_and(|h| h.ejected) {
                        continue;
                    }
                    if let Some(pv) = passive {
                        let st = replica.passive[i];
                        // nginx: unavailable while fails ≥ max_fails within fail_timeout of the
                        // last check; a lone server is never taken out this way.
                        if !single && pv.max_fails > 0 && st.fails >= pv.max_fails {
                            // On the checks' clock (nginx: whole seconds): out while
                            // tick(now) − checked ≤ fail_timeout, so back at the first tick
                            // past checked + fail_timeout.
                            let until = st.checked_ns + pv.fail_timeout_ns;
                            if pv.tick(now) <= until {
                                let step = pv.clock_ns.max(1);
                                expiry = expiry.min((until / step + 1) * step);
                                continue;
                            }
                        }
                    }
                    available[i] = true;
                    list.push(s);
                }
            }
            version += 1;
            view.version = version;
        }
        (version, expiry)
    }

    /// Picks a server of `pool` at replica `r`: stickiness first, then the algorithm over the
    /// eligible primaries (or the backups when no primary is eligible; or every live primary
    /// in Envoy's panic mode). `request` carries the servers already tried and the session.
    pub(super) fn pick(
        &mut self,
        r: u32,
        pool: u16,
        key: u64,
        c: u32,
        request: Option<(&[u32], Option<Handle>)>,
    ) -> Option<u32> {
        self.update_slow_start();
        self.refresh_views(r);
        let (tried, session) = request.unwrap_or((&[], None));
        let p = pool as usize;
        let ip_id = self.clients[c as usize].ip_id as usize;
        // Stickiness.
        let sticky_server = match self.sticky {
            // An L4 balancer sees TCP, not HTTP: no cookie to read (a WebSocket upgrade
            // through an L7 replica is an HTTP request and carries one).
            Sticky::Cookie if self.layer == Layer::L4 => NONE,
            Sticky::Cookie => match session.and_then(|sh| self.sessions.get(sh)) {
                Some(sess) => sess.cookie,
                None if self.group_of(c).session_requests.is_none() => self.clients[c as usize].cookie,
                None => NONE,
            },
            Sticky::SourceIp => self.replicas[r as usize].stick[ip_id],
            Sticky::None => NONE,
        };
        if sticky_server != NONE
            && self.replicas[r as usize].available[sticky_server as usize]
            && self.servers[sticky_server as usize].pool == pool
            && !tried.contains(&sticky_server)
        {
            self.passive_probe(r, sticky_server);
            return Some(sticky_server);
        }
        let now = self.now;
        let source_ip = self.clients[c as usize].ip;
        let (weights, weight_scale) = match self.ramp.as_deref() {
            Some(ramp) if self.custom.is_none() && super::slow_start::ramps(self.algorithm) => {
                (&ramp.weights[..], super::slow_start::SCALE)
            }
            _ => (&self.weights[..], 1),
        };
        let Replica { balancers, rng, active, available, views, .. } = &mut self.replicas[r as usize];
        let pool_info = &self.pools[p];
        let mut panic = false;
        if let Some(threshold) = self.sc.balancer.panic_threshold {
            let total = pool_info.primaries.len();
            let healthy = views[p].primaries.len();
            panic = total > 0 && (healthy as f64) * 100.0 < threshold * total as f64;
        }
        let use_backups = views[p].primaries.iter().all(|s| tried.contains(s)) && !panic;
        let (members, base): (&[u32], &[u32]) = if panic {
            (&pool_info.primaries, &pool_info.primaries)
        } else if use_backups {
            (&pool_info.backups, &views[p].backups)
        } else {
            (&pool_info.primaries, &views[p].primaries)
        };
        let mut scratch_available;
        let mut eligible_owned;
        let (eligible, available): (&[u32], &[bool]) = if tried.is_empty() && !panic {
            (base, available)
        } else {
            eligible_owned = base.to_vec();
            eligible_owned.retain(|s| !tried.contains(s));
            scratch_available = available.clone();
            if panic {
                for &s in members {
                    scratch_available[s as usize] = true;
                }
            }
            for &s in tried {
                scratch_available[s as usize] = false;
            }
            (&eligible_owned, &scratch_available)
        };
        if eligible.is_empty() {
            return None;
        }
        // The servers tried change what is eligible: they are part of the version, by content
        // (two lists of the same length at the same view version differ: by length alone an
        // algorithm's cache of the eligible list went stale and picked a tried server).
        let tried_key = if tried.is_empty() {
            0
        } else {
            tried.iter().fold(tried.len() as u64, |k, &s| crate::rng::mix64(k ^ u64::from(s))) & !(1 << 63)
        };
        let version = views[p].version ^ tried_key ^ if panic { 1 << 63 } else { 0 };
        let tier = u64::from(use_backups) | (u64::from(panic) << 1);
        let view = PickView {
            now_ns: now,
            members,
            eligible,
            available,
            weights,
            weight_scale,
            active,
            version,
            members_version: (pool_info.version << 2) | tier,
            source_ip,
            key,
            key_text: self.sc.balancer.hash_key_text,
            names: &self.ring_names,
        };
        let pick = balancers[p].pick(&view, rng)?;
        let eligible_pick = view.is_available(pick)
            && self.servers.get(pick as usize).is_some_and(|x| x.pool == pool && x.backup == use_backups);
        if !eligible_pick {
            // Only a custom policy can do this (built-ins pick from `eligible`); count it, and
            // route it anyway, as a broken balancer would.
            debug_assert!(self.custom.is_some(), "{} picked an ineligible server", self.algorithm.name());
            self.stats.picks_ineligible += 1;
        }
        if (pick as usize) >= self.servers.len() {
            return None;
        }
        self.passive_probe(r, pick);
        if self.sticky == Sticky::SourceIp {
            self.replicas[r as usize].stick[ip_id] = pick;
        }
        Some(pick)
    }

    /// nginx: picking a server more than `fail_timeout` after its last check re-checks it
    /// (so a failed server gets one probe request per `fail_timeout`).
    fn passive_probe(&mut self, r: u32, s: u32) {
        let Some(pv) = self.sc.balancer.passive else { return };
        let now = pv.tick(self.now);
        let st = &mut self.replicas[r as usize].passive[s as usize];
        if now.saturating_sub(st.checked_ns) > pv.fail_timeout_ns {
            st.checked_ns = now;
            if st.fails >= pv.max_fails && pv.max_fails > 0 {
                self.replicas[r as usize].dirty = true;
            }
        }
    }

    /// nginx: a failure counts, and may take the server out for `fail_timeout`.
    fn passive_failure(&mut self, r: u32, s: u32) {
        let Some(pv) = self.sc.balancer.passive else { return };
        let now = pv.tick(self.now);
        let st = &mut self.replicas[r as usize].passive[s as usize];
        st.fails += 1;
        st.accessed_ns = now;
        st.checked_ns = now;
        if pv.max_fails > 0 && st.fails >= pv.max_fails {
            self.replicas[r as usize].dirty = true;
            self.note_detection(s);
        }
    }

    /// nginx: a success clears the failures only if the server was re-checked since its
    /// last failure.
    fn passive_success(&mut self, r: u32, s: u32) {
        if self.sc.balancer.passive.is_none() {
            return;
        }
        let st = &mut self.replicas[r as usize].passive[s as usize];
        if st.accessed_ns < st.checked_ns && st.fails > 0 {
            st.fails = 0;
            self.replicas[r as usize].dirty = true;
        }
    }

    /// Applies the gateway's rate limits to a request at its replica: `Ok(delay)` to let it
    /// through (leaky bucket may delay it), `Err(())` to refuse it.
    fn rate_limit(&mut self, h: Handle) -> Result<u64, ()> {
        let req = self.reqs.get(h).expect("live");
        let (r, c, path) = (req.replica, req.client, req.path);
        let g = self.clients[c as usize].group as usize;
        let route = self.groups[g].path_route[path as usize];
        let limits: [(usize, Option<RateLimit>); 2] = [
            (0, self.sc.balancer.rate_limit),
            (1 + route.unwrap_or(0) as usize, route.and_then(|i| self.sc.balancer.routes[i as usize].rate_limit)),
        ];
        let now = self.now;
        let mut delay = 0u64;
        let mut updates: [Option<(usize, usize, RateCounter)>; 2] = [None; 2];
        for (i, (slot, limit)) in limits.into_iter().enumerate() {
            let Some(limit) = limit else { continue };
            let key = match limit.key {
                RateKey::Client => c as usize,
                RateKey::Ip => self.clients[c as usize].ip_id as usize,
                RateKey::Global => 0,
            };
            let counter = self.replicas[r as usize].rate_counters[slot][key];
            match limit.kind {
                RateLimitKind::FixedWindow => {
                    // Kong: windows aligned to the boundary; allowed iff usage < limit;
                    // refused requests are not counted.
                    let window_start = now - now % limit.window_ns;
                    let used = if counter.stamp_ns == window_start { counter.value } else { 0 };
                    if used >= limit.limit {
                        return Err(());
                    }
                    updates[i] = Some((slot, key, RateCounter { stamp_ns: window_start, value: used + 1 }));
                }
                RateLimitKind::LeakyBucket { burst, nodelay } => {
                    // nginx limit_req: excess in milli-requests, drained at the rate; a new key
                    // starts empty; refused requests leave the bucket as it was.
                    let rate_milli =
                        (u128::from(limit.limit) * 1000 * 1_000_000_000 / u128::from(limit.window_ns)).max(1);
                    let (excess, stamp) = if counter.stamp_ns == u64::MAX {
                        (0u128, now)
                    } else {
                        let ms = (now - counter.stamp_ns) / 1_000_000;
                        let drained = (rate_milli * u128::from(ms) / 1000) as i128;
                        let excess = (i128::from(counter.value) - drained + 1000).max(0) as u128;
                        if excess > u128::from(burst) * 1000 {
                            return Err(());
                        }
                        (excess, if ms > 0 { now } else { counter.stamp_ns })
                    };
                    updates[i] = Some((slot, key, RateCounter { stamp_ns: stamp, value: excess as u64 }));
                    if !nodelay {
                        // In u128 and saturating: a large burst at a slow rate (1e9 per hour)
                        // waits longer than u64 nanoseconds hold (validation refuses it).
                        let wait_ns = excess * 1000 / rate_milli * 1_000_000;
                        delay = delay.max(u64::try_from(wait_ns).unwrap_or(u64::MAX));
                    }
                }
            }
        }
        for (slot, key, counter) in updates.into_iter().flatten() {
            self.replicas[r as usize].rate_counters[slot][key] = counter;
        }
        Ok(delay)
    }
}

/// The length of `[a, b)` ∩ `[lo, hi)`.
pub(crate) fn overlap(a: u64, b: u64, lo: u64, hi: u64) -> u64 {
    b.min(hi).saturating_sub(a.max(lo))
}

impl Simulation {
    /// Marks every replica's eligible lists for rebuilding (membership or health changed).
    pub(super) fn invalidate_views(&mut self) {
        for replica in &mut self.replicas {
            replica.dirty = true;
        }
    }

    /// How an attempt travels back: for `via::L7` through the replica, else straight.
    pub(super) fn via_of(&self, h: Handle) -> u8 {
        self.reqs.get(h).map_or(via::DIRECT, |r| r.via)
    }
}
