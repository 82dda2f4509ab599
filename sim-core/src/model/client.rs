//! Requests: a client's request is created, its attempts are sent over the connection layer
//! (`conn/`), answered, timed out or retried, and it ends here with exactly one outcome
//! (`finish_request`). Arrivals, sessions and name resolution have files of their own.

use super::Simulation;
use super::conn::Acquire;
use super::conn::profile::Profile;
use super::state::*;
use crate::metrics::report::Outcome;
use crate::metrics::trace::{AttemptRecord, TraceKey, TraceRecord};
use crate::replay::TraceRow;
use crate::rng::{Purpose, SimRng, mix64};
use crate::scenario::*;
use crate::slab::Handle;
use std::num::NonZeroU64;

/// Which way an attempt travels, so the answer comes back the same way.
pub(crate) mod via {
    /// Through an L7 replica that balances it.
    pub const L7: u8 = 1;
    /// Through a replica that only relays it (L4, WebSocket after the upgrade).
    pub const RELAY: u8 = 2;
    /// Straight to the server (client-side balancing).
    pub const DIRECT: u8 = 3;
}

/// Whether a failed attempt may be retried.
fn retryable(outcome: Outcome) -> bool {
    matches!(
        outcome,
        Outcome::Timeout
            | Outcome::Rejected
            | Outcome::ConnectionError
            | Outcome::NoServer
            | Outcome::ServerError
            | Outcome::Overflow
    )
}

/// The index of a replayed row's path in the group's `paths`: the longest one that is a
/// prefix of it (so `paths` with `/api` and `/static` classify `/api/users/7`), else the
/// first. The path's route and pool follow from that entry; its `path` hash key is the row's
/// own path.
fn replayed_path(paths: &[(String, f64)], path: &str) -> usize {
    paths
        .iter()
        .enumerate()
        .filter(|(_, (p, _))| path.starts_with(p.as_str()))
        .max_by_key(|(_, (p, _))| p.len())
        .map_or(0, |(i, _)| i)
}

/// Time to encode or decode `bytes` at `per_kb_ns` per 1,000 bytes (0 without a cost, the
/// usual case, without a division). The product of the largest allowed values (1 s per KB,
/// 1 TiB) does not fit in u64: it is taken in u128 and saturates (validation refuses
/// scenarios whose times would not fit the clock's horizon, so saturation is a backstop).
#[inline]
pub(crate) fn serialize_ns(per_kb_ns: u64, bytes: u64) -> u64 {
    if per_kb_ns == 0 { 0 } else { u64::try_from(u128::from(per_kb_ns) * u128::from(bytes) / 1000).unwrap_or(u64::MAX) }
}

impl Simulation {
    /// Client `c`'s stream for client-side choices (`Purpose::Client`), made on first use.
    pub(in crate::model) fn client_rng(&mut self, c: u32) -> &mut SimRng {
        let seed = self.seed;
        self.clients[c as usize]
            .rng
            .get_or_insert_with(|| Box::new(SimRng::stream(seed, Purpose::Client, u64::from(c))))
    }

    pub(in crate::model) fn group_of(&self, client: u32) -> &ClientGroup {
        &self.sc.clients[self.clients[client as usize].group as usize]
    }

    /// Creates a request (from a replayed trace row, if given; `user`: a closed-loop user's)
    /// and sends its first attempt.
    pub(in crate::model) fn new_request(&mut self, c: u32, user: bool, row: Option<TraceRow>) {
        let g = self.clients[c as usize].group as usize;
        let measured = self.measuring();
        // Fixed draws per request (path, key, size), whatever the balancer does: paired runs.
        // A replayed row draws them too (same streams whatever the rows say), then what the
        // row gives replaces them.
        let (mut path, key_draw, size_u) = {
            let rt = &self.groups[g];
            let rng = &mut self.clients[c as usize].traffic_rng;
            let x = rng.uniform() * rt.path_cumulative.last().copied().unwrap_or(1.0);
            let path = rt.path_cumulative.partition_point(|&w| w <= x).min(rt.path_cumulative.len() - 1);
            let key_draw = rt.zipf.as_ref().map(|z| z.sample(rng));
            let size_u = ((rng.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64);
            (path, key_draw, size_u)
        };
        let row_path = row.as_ref().and_then(|r| r.path.as_deref());
        if let Some(p) = row_path {
            path = replayed_path(&self.sc.clients[g].paths, p);
        }
        let session = self.session_for_new_request(c, measured);
        let client = &self.clients[c as usize];
        let row_key = row.as_ref().and_then(|r| r.key.as_deref());
        let key = if self.sc.balancer.hash_key_text {
            // The key's text, hashed as the real program hashes it.
            let text = match &self.sc.balancer.hash_key {
                HashKey::SourceIp => std::net::Ipv4Addr::from(client.ip).to_string(),
                HashKey::Session => {
                    session.and_then(|s| self.sessions.get(s)).map_or(u64::from(c), |s| s.id).to_string()
                }
                HashKey::Path => row_path.unwrap_or(&self.sc.clients[g].paths[path].0).to_string(),
                HashKey::Header(_) => match (row_key, key_draw, &self.sc.clients[g].keys) {
                    (Some(k), _, _) => k.to_string(),
                    (None, Some(i), Some(space)) => space.text(i),
                    _ => mix64(u64::from(c) + (1 << 40)).to_string(),
                },
            };
            crate::algo::text_key_of(self.algorithm, &self.sc.balancer.hash_key, &text)
        } else {
            match &self.sc.balancer.hash_key {
                HashKey::SourceIp => u64::from(client.ip),
                HashKey::Session => session.and_then(|s| self.sessions.get(s)).map_or(u64::from(c), |s| s.id),
                HashKey::Path => row_path.map_or(self.groups[g].path_key[path], crate::replay::key_hash),
                HashKey::Header(_) => match row_key {
                    Some(k) => crate::replay::key_hash(k),
                    None => mix64(key_draw.unwrap_or(u64::from(c) + (1 << 40))),
                },
            }
        };
        let key_index = match (row_key, key_draw) {
            (None, Some(k)) => k as u32,
            _ => u32::MAX,
        };
        let replay = row.and_then(|r| {
            // The key string is kept only for `--trace` records: without them a replay holds
            // no string per request in flight.
            let key = if self.trace.is_some() { r.key } else { None };
            let any =
                key.is_some() || r.service_ns.is_some() || r.request_bytes.is_some() || r.response_bytes.is_some();
            any.then(|| {
                Box::new(Replayed {
                    key,
                    service_ns: r.service_ns,
                    request_bytes: r.request_bytes,
                    response_bytes: r.response_bytes,
                })
            })
        });
        let id = self.next_req_id;
        self.next_req_id += 1;
        if measured {
            self.stats.sent += 1;
            self.stats.groups[g].sent += 1;
        }
        self.stats.series.sent();
        let pool = self.groups[g].path_pool[path];
        let h = self.reqs.insert_with(|| Req {
            id,
            client: c,
            created_ns: self.now,
            attempt: 1,
            measured,
            path: path as u16,
            pool,
            key,
            size_u,
            session,
            server: NONE,
            replica: NONE,
            conn: None,
            conn_id: None,
            sent_to_server_ns: 0,
            holds: 0,
            via: 0,
            user,
            try_start_ns: self.now,
            attempt_start_ns: self.now,
            key_index,
            extra: replay.map(|replay| Box::new(ReqExtra { replay: Some(replay), ..ReqExtra::default() })),
        });
        if let Some(delay) = self.sc.clients[g].hedging.as_ref().map(|p| p.hedging_delay_ns) {
            let hh = self.hedges.insert(Hedge { live: vec![h], sent: 1 });
            self.reqs.get_mut(h).expect("live request").extra_mut().hedge = Some(hh);
            // Scheduled before the first attempt starts, so a zero delay sends the hedges
            // right after it.
            self.schedule(delay, Ev::Hedge { hedge: hh, attempt: 2 });
        }
        self.start_attempt(h);
    }

    /// Sends attempt `attempt` of a hedged request, unless it went out already (a non-fatal
    /// failure sent it early) or the request ended; then schedules the next.
    #[inline(never)]
    pub(in crate::model) fn on_hedge(&mut self, hh: Handle, attempt: u32) {
        let Some(hedge) = self.hedges.get(hh) else { return };
        let template = self.reqs.get(hedge.live[0]).expect("a hedge's attempt").clone();
        let Some(p) = self.group_of(template.client).hedging.as_ref() else { return };
        let (max, delay) = (p.max_attempts, p.hedging_delay_ns);
        if hedge.sent >= attempt || hedge.sent >= max || self.finished {
            return;
        }
        if attempt < max {
            self.schedule(delay, Ev::Hedge { hedge: hh, attempt: attempt + 1 });
        }
        self.send_hedge(hh, template);
    }

    /// Sends one more attempt of a hedged request: a fresh copy of `req`, one of its attempts.
    /// The attempt may end before this returns, and with it the request.
    fn send_hedge(&mut self, hh: Handle, mut req: Req) {
        let hedge = self.hedges.get_mut(hh).expect("live hedge");
        hedge.sent += 1;
        req.attempt = hedge.sent;
        req.server = NONE;
        req.replica = NONE;
        req.conn = None;
        req.conn_id = None;
        req.sent_to_server_ns = 0;
        req.holds = 0;
        req.via = 0;
        req.clear_tries();
        if !self.sc.clients[self.clients[req.client as usize].group as usize].retry_same_work {
            // Fresh work, as for a retry: the slowness was the server's, not the call's.
            let rng =
                self.clients[req.client as usize].retry_rng.as_mut().expect("retry_same_work = false has its stream");
            req.size_u = ((rng.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64);
        }
        if req.measured {
            self.stats.hedges += 1;
        }
        let h = self.reqs.insert(req);
        self.hedges.get_mut(hh).expect("live hedge").live.push(h);
        self.start_attempt(h);
    }

    /// Records the try `h` names as ended with `outcome` (a trace attempt line), when the
    /// trace keeps them. Callers call it for every try of a request that takes more than one.
    pub(in crate::model) fn trace_try(&mut self, h: Handle, outcome: &'static str) {
        let Some(attempts) = self.trace_attempts.as_mut() else { return };
        let Some(req) = self.reqs.get(h) else { return };
        attempts.push(AttemptRecord {
            id: req.id,
            client: req.client,
            server: (req.server != NONE).then_some(req.server),
            start_ns: req.try_start_ns,
            end_ns: self.now,
            outcome,
            attempt: req.attempt,
            try_no: req.try_no(),
            conn: req.conn_id.map(NonZeroU64::get),
        });
    }

    /// Takes an attempt of a hedged request out without an outcome (`cancelled`: another
    /// attempt won; else a non-fatal failure, dropped).
    fn drop_attempt(&mut self, h: Handle, cancelled: bool) {
        let Some(measured) = self.reqs.get(h).map(|r| r.measured) else { return };
        if cancelled {
            self.trace_try(h, "cancelled");
        }
        self.release_holds(h, cancelled);
        self.reqs.remove(h);
        if cancelled && measured {
            self.stats.hedges_cancelled += 1;
        }
    }

    /// An attempt of a hedged request ended. The first answer that is not a `non_fatal`
    /// failure ends the request and cancels the other attempts; a non-fatal failure sends the
    /// next attempt at once (gRPC), and ends the request only when it was the last one out.
    /// Whether the request ended with this attempt's outcome (else the attempt was dropped).
    ///
    /// Sending or cancelling an attempt can end another before it returns (an answer that
    /// takes no time; a freed slot that sends a waiting attempt): so everything about this
    /// attempt is settled first, and an attempt whose request already ended is cancelled.
    fn hedged_attempt_ended(&mut self, h: Handle, hh: Handle, outcome: Outcome) -> bool {
        let Some(hedge) = self.hedges.get_mut(hh) else {
            self.drop_attempt(h, true);
            return false;
        };
        hedge.live.retain(|&x| x != h);
        let (sent, others) = (hedge.sent, hedge.live.len());
        let c = self.reqs.get(h).expect("live request").client;
        let p = self.group_of(c).hedging.as_ref().expect("a hedged request's group hedges");
        let (non_fatal, max) = (outcome != Outcome::Ok && p.non_fatal[outcome.index()], p.max_attempts);
        // One line per try, once the request took more than one (a lone hedge that won at
        // once is just the request).
        let dropped = non_fatal && !self.finished && (sent < max || others > 0);
        if sent > 1 || dropped || self.reqs.get(h).is_some_and(|r| r.try_no() > 1) {
            self.trace_try(h, outcome.name());
        }
        if dropped {
            let template = (sent < max).then(|| self.reqs.get(h).expect("live request").clone());
            self.drop_attempt(h, false);
            if let Some(req) = template {
                self.send_hedge(hh, req);
            }
            return false;
        }
        // The winner: cancel the others.
        let others = std::mem::take(&mut self.hedges.get_mut(hh).expect("live hedge").live);
        self.hedges.remove(hh);
        for other in others {
            self.drop_attempt(other, true);
        }
        true
    }

    /// Starts the attempt the handle currently names: arms its timeout and dispatches it.
    pub(in crate::model) fn start_attempt(&mut self, h: Handle) {
        let now = self.now;
        let req = self.reqs.get_mut(h).expect("attempt of a live request");
        (req.try_start_ns, req.attempt_start_ns) = (now, now);
        if let Some(x) = req.extra.as_deref_mut() {
            x.try_no = 1;
        }
        let c = req.client;
        if let Some(timeout) = self.group_of(c).timeout_ns {
            self.schedule(timeout, Ev::Timeout { req: h });
        }
        self.send_or_park(h);
    }

    /// Sends an attempt, unless it belongs to a session still being established by another
    /// request: then it waits for that answer (and its cookie).
    pub(in crate::model) fn send_or_park(&mut self, h: Handle) {
        let Some(req) = self.reqs.get(h) else { return };
        let c = req.client;
        if let Some(sh) = req.session
            && let Some(sess) = self.sessions.get_mut(sh)
            && !sess.established
        {
            match sess.opener {
                None => sess.opener = Some(h.idx),
                Some(slot) if slot == h.idx => {}
                Some(_) => {
                    sess.parked.push(h);
                    return;
                }
            }
        }
        let client = &mut self.clients[c as usize];
        if client.waiting.is_empty() {
            self.dispatch(h);
        } else {
            client.waiting.push_back(h);
            self.pump(c);
        }
    }

    /// Sends an attempt on a connection, or queues it, or fails it.
    pub(in crate::model) fn dispatch(&mut self, h: Handle) {
        let Some(c) = self.reqs.get(h).map(|r| r.client) else { return };
        match self.try_send(h, c) {
            Acquire::Use(_) => {}
            Acquire::Wait => self.clients[c as usize].waiting.push_back(h),
            Acquire::Fail(outcome) => self.finish_attempt(h, outcome),
        }
    }

    /// Sends the attempt if a connection (or stream) can take it; otherwise says why not.
    pub(in crate::model) fn try_send(&mut self, h: Handle, c: u32) -> Acquire {
        let streaming = self.group_of(c).stream_messages.is_some();
        if streaming && let Some(sh) = self.usable_stream(c) {
            self.send_stream_message(h, sh);
            return Acquire::Use(sh);
        }
        match self.acquire_conn(c) {
            Acquire::Use(ch) => {
                if streaming {
                    let sh = self.open_stream(c, ch);
                    self.send_stream_message(h, sh);
                } else {
                    self.send_on_conn(h, ch);
                }
                Acquire::Use(ch)
            }
            other => other,
        }
    }

    /// Serves the client's waiting requests while connections or streams are free.
    ///
    /// One pump per client at a time: when answers take no time, serving one waiting request
    /// can end it and free its slot before `try_send` returns, and a nested pump there would
    /// recurse once per waiting request (a stack overflow with thousands waiting). The slot
    /// freed inside is noted instead, and this loop looks at the head again.
    pub(in crate::model) fn pump(&mut self, c: u32) {
        let client = &mut self.clients[c as usize];
        if client.pumping {
            client.pump_again = true;
            return;
        }
        client.pumping = true;
        loop {
            self.clients[c as usize].pump_again = false;
            // Take the request out before trying: trying may fail other waiting requests (a
            // refused connection), and those must not be confused with this one.
            while let Some(h) = self.clients[c as usize].waiting.pop_front() {
                if self.reqs.get(h).is_none() {
                    continue;
                }
                match self.try_send(h, c) {
                    Acquire::Use(_) => {}
                    Acquire::Wait => {
                        self.clients[c as usize].waiting.push_front(h);
                        break;
                    }
                    Acquire::Fail(outcome) => self.finish_attempt(h, outcome),
                }
            }
            if !self.clients[c as usize].pump_again || self.clients[c as usize].waiting.is_empty() {
                break;
            }
        }
        self.clients[c as usize].pumping = false;
    }

    /// Sends an attempt on an open connection.
    pub(in crate::model) fn send_on_conn(&mut self, h: Handle, ch: Handle) {
        let conn = self.conns.get_mut(ch).expect("sending on a live connection");
        conn.streams += 1;
        let (r, s, id) = (conn.replica, conn.server, conn.id);
        let req = self.reqs.get_mut(h).expect("sending a live request");
        req.conn = Some(ch);
        req.conn_id = NonZeroU64::new(id);
        req.holds |= hold::STREAM;
        req.replica = r;
        self.transmit(h, ch, r, s);
    }

    /// Puts an attempt on the wire toward its replica or server.
    pub(in crate::model) fn transmit(&mut self, h: Handle, ch: Handle, r: u32, s: u32) {
        let (c, created) = self.reqs.get(h).map(|req| (req.client, req.created_ns)).expect("live request");
        let counted = self.before_window_end(created);
        let g = self.clients[c as usize].group as usize;
        let group = &self.sc.clients[g];
        let (request_bytes, _) = self.reqs.get(h).expect("live request").bytes(group);
        let (hdr, _) = Profile::of(group.protocol).header_bytes;
        let bytes = request_bytes + hdr;
        let encode_ns = serialize_ns(group.serialize_per_kb_ns, request_bytes);
        let tx = self.tx_ns(bytes);
        let (hop, up_hop) = (self.client_hop_ns(), self.upstream_hop_ns());
        let conn = self.conns.get_mut(ch).expect("live connection");
        // Saturating: a connection's queue of transfers can reach past the clock's range only
        // in scenarios validation refuses (`config::check::check_horizon`).
        let start = self.now.saturating_add(encode_ns).max(conn.up_free_ns);
        conn.up_free_ns = start.saturating_add(tx);
        let at_peer = (conn.up_free_ns - self.now).saturating_add(hop);
        // Saturating as a backstop: validation refuses runs whose bytes could pass 2^63.
        if counted {
            self.stats.groups[g].bytes_sent = self.stats.groups[g].bytes_sent.saturating_add(bytes);
        }
        let req = self.reqs.get_mut(h).expect("live request");
        if r == NONE {
            // Client-side: straight to the server.
            req.server = s;
            req.via = via::DIRECT;
            req.sent_to_server_ns = self.now;
            self.after(at_peer, Ev::AtServer { req: h });
        } else if s != NONE {
            // Relayed through the replica to the connection's server.
            req.server = s;
            req.via = via::RELAY;
            req.sent_to_server_ns = self.now;
            self.after(at_peer.saturating_add(up_hop), Ev::AtServer { req: h });
        } else {
            req.via = via::L7;
            self.after(at_peer, Ev::AtBalancer { req: h });
        }
    }

    /// Releases whatever the attempt still holds (each hold exactly once).
    pub(in crate::model) fn release_holds(&mut self, h: Handle, aborted: bool) {
        let Some(req) = self.reqs.get_mut(h) else { return };
        if req.holds == 0 {
            return;
        }
        let holds = std::mem::take(&mut req.holds);
        let (r, s, conn, pool, sent) = (req.replica, req.server, req.conn, req.pool, req.sent_to_server_ns);
        let c = req.client;
        if holds & hold::ACTIVE != 0 {
            self.release_active(r, s);
            if aborted {
                let outcome = crate::algo::Outcome {
                    server: s,
                    sent_ns: sent,
                    now_ns: self.now,
                    kind: crate::algo::OutcomeKind::Abandoned,
                };
                self.replicas[r as usize].balancers[pool as usize].observe(&outcome);
            }
        }
        if holds & hold::RETRY != 0 {
            self.release_retry(r, pool);
        }
        if holds & hold::UPSTREAM != 0 {
            // Envoy resets the upstream stream of an abandoned try: HTTP/1.1 closes it.
            let profile = Profile::of(self.group_of(c).protocol);
            self.upstream_reset(r, s, profile);
        }
        if holds & hold::PENDING != 0 {
            // (Its entry in the host's pending queue is skipped when reached.)
            self.release_pending(r, pool);
        }
        if holds & hold::STREAM != 0
            && let Some(ch) = conn
        {
            let closes = Profile::of(self.group_of(c).protocol).abort_closes_conn;
            self.release_stream_slot(ch, aborted && closes);
        }
    }

    #[inline(never)]
    pub(in crate::model) fn on_timeout(&mut self, h: Handle) {
        if self.reqs.get(h).is_none() {
            return;
        }
        self.release_holds(h, true);
        self.finish_attempt(h, Outcome::Timeout);
    }

    /// Sends an answer (or an error) from where the attempt is now back to the client: over
    /// the balancer–server hop first if `via_upstream`, then over the client's hop, where it
    /// shares the connection's downlink with other answers.
    pub(in crate::model) fn answer_client(&mut self, h: Handle, outcome: Outcome, via_upstream: bool) {
        let Some(req) = self.reqs.get(h) else { return };
        let (c, conn, counted) = (req.client, req.conn, self.before_window_end(req.created_ns));
        let group = self.group_of(c);
        let (_, response_bytes) = req.bytes(group);
        let (_, hdr) = Profile::of(group.protocol).header_bytes;
        let body = if outcome == Outcome::Ok || outcome == Outcome::SessionLost { response_bytes } else { 0 };
        let decode_ns = serialize_ns(group.serialize_per_kb_ns, body);
        let bytes = body + hdr;
        let tx = self.tx_ns(bytes);
        let hop = self.client_hop_ns();
        let upstream = if via_upstream { self.upstream_hop_ns() } else { 0 };
        let mut delay = (upstream + hop).saturating_add(decode_ns);
        match conn.and_then(|ch| self.conns.get_mut(ch)) {
            Some(conn) => {
                let start = (self.now + upstream).max(conn.down_free_ns);
                conn.down_free_ns = start.saturating_add(tx);
                delay = (conn.down_free_ns - self.now).saturating_add(hop).saturating_add(decode_ns);
            }
            None => delay = delay.saturating_add(tx),
        }
        let g = self.clients[c as usize].group as usize;
        if counted {
            self.stats.groups[g].bytes_received = self.stats.groups[g].bytes_received.saturating_add(bytes);
        }
        self.after(delay, Ev::BackAtClient { req: h, outcome });
    }

    #[inline(never)]
    pub(in crate::model) fn on_back_at_client(&mut self, h: Handle, outcome: Outcome) {
        if self.reqs.get(h).is_none() {
            return;
        }
        self.release_holds(h, false);
        self.finish_attempt(h, outcome);
    }

    /// Ends an attempt: retries it if allowed, else ends the request.
    pub(in crate::model) fn finish_attempt(&mut self, h: Handle, outcome: Outcome) {
        let Some(req) = self.reqs.get(h) else { return };
        if let Some(hh) = req.extra().hedge {
            if self.hedged_attempt_ended(h, hh, outcome) {
                self.finish_request(h, outcome);
            }
            return;
        }
        let (c, attempt, measured) = (req.client, req.attempt, req.measured);
        let group = self.group_of(c);
        // The backoff before the retry (`None`: no retry).
        let backoff = match &group.retry {
            None => (outcome != Outcome::Ok && retryable(outcome) && attempt <= group.retries).then_some(None),
            Some(p) => {
                let (max_attempts, listed, throttling) = (p.max_attempts, p.retryable[outcome.index()], p.throttling);
                let bound = p.backoff_bound_ns(attempt);
                let client = &mut self.clients[c as usize];
                // gRPC: every attempt's end moves the client's tokens, a retry needs enough.
                let allowed = match throttling {
                    Some(t) if outcome == Outcome::Ok => {
                        t.record_success(&mut client.retry_milli_tokens);
                        false
                    }
                    Some(t) if listed => t.record_failure(&mut client.retry_milli_tokens),
                    _ => true,
                };
                let wanted = outcome != Outcome::Ok && listed && attempt < max_attempts;
                if wanted && !allowed && measured && !self.finished {
                    self.stats.retries_throttled += 1;
                }
                (wanted && allowed).then(|| {
                    // random(0, bound), as gRPC draws it.
                    let rng = client.retry_rng.as_mut().expect("a retry policy's client has its stream");
                    Some((rng.uniform() * bound as f64) as u64)
                })
            }
        };
        match backoff {
            Some(delay) if !self.finished => {
                self.trace_try(h, outcome.name());
                self.retry(h, delay)
            }
            _ => {
                let req = self.reqs.get(h).expect("live request");
                if req.attempt > 1 || req.try_no() > 1 {
                    self.trace_try(h, outcome.name());
                }
                self.finish_request(h, outcome)
            }
        }
    }

    /// Starts the request's next attempt, after `backoff` (`None`: at once, as `retries` does).
    fn retry(&mut self, h: Handle, backoff: Option<u64>) {
        self.release_holds(h, false);
        let h2 = self.reqs.rearm(h).expect("live request");
        let req = self.reqs.get_mut(h2).expect("live request");
        let (measured, c) = (req.measured, req.client);
        req.attempt += 1;
        req.server = NONE;
        req.replica = NONE;
        req.conn = None;
        req.via = 0;
        req.clear_tries();
        if !self.group_of(c).retry_same_work {
            // Fresh work: a new quantile of the service time (a replayed row's given work is
            // the call's and stays).
            let rng = self.clients[c as usize].retry_rng.as_mut().expect("retry_same_work = false has its stream");
            let u = ((rng.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64);
            self.reqs.get_mut(h2).expect("live request").size_u = u;
        }
        if let Some(sh) = self.reqs.get_mut(h2).and_then(|r| r.extra.as_deref_mut().and_then(|x| x.stream.take())) {
            self.stream_message_done(sh);
        }
        if measured {
            self.stats.retries += 1;
        }
        match backoff {
            None => self.start_attempt(h2),
            Some(delay) => self.schedule(delay, Ev::Retry { req: h2 }),
        }
    }

    /// A retry's backoff is over: its attempt starts (unless the run was cut short).
    #[inline(never)]
    pub(in crate::model) fn on_retry(&mut self, h: Handle) {
        if self.reqs.get(h).is_some() {
            self.start_attempt(h);
        }
    }

    /// Ends a request with its one outcome.
    pub(in crate::model) fn finish_request(&mut self, h: Handle, outcome: Outcome) {
        // Usually released already (an answer releases them on arrival): no call then.
        if self.reqs.get(h).is_some_and(|r| r.holds != 0) {
            self.release_holds(h, false);
        }
        let Some(req) = self.reqs.remove(h) else { return };
        let latency = self.now - req.created_ns;
        let g = self.clients[req.client as usize].group as usize;
        let server = if req.server == NONE { None } else { Some(req.server) };
        let conn = req.conn_id.map(NonZeroU64::get);
        let session_id = req.session.and_then(|sh| self.sessions.get(sh)).map(|s| s.id);
        if req.measured {
            let i = outcome.index();
            self.stats.outcomes[i] += 1;
            self.stats.groups[g].outcomes[i] += 1;
            let ok = outcome == Outcome::Ok;
            if ok {
                self.stats.latency.record(latency);
                if let Some(h) = self.stats.group_latency.get_mut(g) {
                    h.record(latency);
                }
                if let Some(s) = server {
                    self.server_latency.record(s as usize, latency);
                }
            } else {
                // A failure counts at the moment it ended: leaving it out made a run whose
                // slow server timed out 8% of its requests look faster (survivor bias).
                self.stats.latency_failed.record(latency);
                if let Some(s) = server {
                    self.stats.server_latency_failed.record(s as usize, latency);
                }
            }
            self.stats.series.outcome(i, ok, latency);
        }
        if let Some(sh) = req.session {
            let answered = matches!(outcome, Outcome::Ok | Outcome::SessionLost);
            self.session_request_done(sh, req.client, h.idx, answered);
        }
        if let Some(sh) = req.extra().stream {
            self.stream_message_done(sh);
        }
        // With a window ending before `duration`, the run goes on after it; `end_s` stays the
        // end of the requests that started before the window's end, as a run that stopped
        // there would report.
        if self.before_window_end(req.created_ns) {
            self.stats.last_end_ns = self.now;
        }
        self.hasher.words(&[req.id, outcome as u64, self.now, u64::from(req.server), u64::from(req.attempt)]);
        if req.user {
            self.user_done(req.client);
        }
        if let Some(trace) = self.trace.as_mut() {
            trace.push(TraceRecord {
                id: req.id,
                client: req.client,
                server,
                start_ns: req.created_ns,
                end_ns: self.now,
                outcome,
                attempt: req.attempt,
                conn,
                session: session_id,
                key: match req.extra.and_then(|x| x.replay).and_then(|r| r.key) {
                    Some(text) => Some(TraceKey::Text(text)),
                    None if req.key_index != u32::MAX => Some(TraceKey::Index(u64::from(req.key_index))),
                    None => None,
                },
            });
        }
    }
}
