//! Clients: open-loop arrivals, sessions, connection pools (HTTP/1.1 keep-alive, HTTP/2
//! streams, WebSocket, gRPC client-side channels), sending attempts, answers, timeouts and
//! retries. Every request ends here, with exactly one outcome.

use super::Simulation;
use super::state::*;
use crate::metrics::report::Outcome;
use crate::metrics::trace::TraceRecord;
use crate::rng::mix64;
use crate::scenario::*;
use crate::slab::Handle;

/// Protocol header bytes on the wire per message: (request, response).
/// HTTP/1.1: typical request and response header blocks. HTTP/2: HPACK-compressed headers
/// on a warm connection plus the 9-byte frame headers. WebSocket: frame headers (masked from
/// the client).
pub(crate) fn header_bytes(protocol: Protocol) -> (u64, u64) {
    match protocol {
        Protocol::Http1 => (350, 250),
        Protocol::Http2 => (49, 29),
        Protocol::WebSocket => (6, 2),
    }
}

/// Bytes of a TCP handshake and, with TLS, of a TLS 1.3 handshake (certificate chain):
/// (client sends, client receives).
pub(crate) fn handshake_bytes(tls: bool) -> (u64, u64) {
    if tls { (120 + 600, 120 + 4_000) } else { (120, 60) }
}

/// How a connection request came out.
pub(crate) enum Acquire {
    /// Send on this connection now.
    Use(Handle),
    /// Wait for a connection or stream to free up (or finish connecting).
    Wait,
    /// Fail the attempt with this outcome.
    Fail(Outcome),
}

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
    matches!(outcome, Outcome::Timeout | Outcome::Rejected | Outcome::ConnectionError | Outcome::NoServer)
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
    pub(super) fn group_of(&self, client: u32) -> &ClientGroup {
        &self.sc.clients[self.clients[client as usize].group as usize]
    }

    /// The time to the client's next request.
    pub(super) fn next_gap(&mut self, c: u32) -> Option<u64> {
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
    pub(super) fn schedule_arrival(&mut self, c: u32, gap: Option<u64>) {
        if let Some(gap) = gap
            && self.now.saturating_add(gap) < self.sc.duration_ns
        {
            let generation = self.clients[c as usize].arrival_generation;
            self.schedule(gap, Ev::Arrival { client: c, generation });
        }
    }

    #[inline(never)]
    pub(super) fn on_arrival(&mut self, c: u32, generation: u32) {
        if self.ended || generation != self.clients[c as usize].arrival_generation {
            return;
        }
        let gap = self.next_gap(c);
        self.schedule_arrival(c, gap);
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
        self.new_request(c);
    }

    /// Creates a request and sends its first attempt.
    fn new_request(&mut self, c: u32) {
        let g = self.clients[c as usize].group as usize;
        let measured = self.measuring();
        // Fixed draws per request (path, key, size), whatever the balancer does: paired runs.
        let (path, key_draw, size_u) = {
            let rt = &self.groups[g];
            let rng = &mut self.clients[c as usize].traffic_rng;
            let x = rng.uniform() * rt.path_cumulative.last().copied().unwrap_or(1.0);
            let path = rt.path_cumulative.partition_point(|&w| w <= x).min(rt.path_cumulative.len() - 1);
            let key_draw = rt.zipf.as_ref().map(|z| z.sample(rng));
            let size_u = ((rng.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64);
            (path, key_draw, size_u)
        };
        let session = self.session_for_new_request(c, measured);
        let client = &self.clients[c as usize];
        let key = match &self.sc.balancer.hash_key {
            HashKey::SourceIp => u64::from(client.ip),
            HashKey::Session => session.and_then(|s| self.sessions.get(s)).map_or(u64::from(c), |s| s.id),
            HashKey::Path => self.groups[g].path_key[path],
            HashKey::Header(_) => mix64(key_draw.unwrap_or(u64::from(c) + (1 << 40))),
        };
        let id = self.next_req_id;
        self.next_req_id += 1;
        let req = Req {
            id,
            client: c,
            created_ns: self.now,
            attempt: 1,
            measured,
            path: path as u16,
            pool: self.groups[g].path_pool[path],
            key,
            size_u,
            session,
            stream: None,
            server: NONE,
            replica: NONE,
            conn: None,
            conn_id: None,
            sent_to_server_ns: 0,
            holds: 0,
            via: 0,
            tried: Vec::new(),
        };
        if measured {
            self.stats.sent += 1;
            self.stats.groups[g].sent += 1;
        }
        let h = self.reqs.insert(req);
        self.start_attempt(h);
    }

    /// Attaches a request to the client's current session, starting a new one when due.
    fn session_for_new_request(&mut self, c: u32, measured: bool) -> Option<Handle> {
        let n = self.group_of(c).session_requests?;
        let current =
            self.clients[c as usize].session.filter(|&s| self.sessions.get(s).is_some_and(|s| s.remaining > 0));
        let h = match current {
            Some(h) => h,
            None => {
                let id = self.next_session_id;
                self.next_session_id += 1;
                let h = self.sessions.insert(Session {
                    id,
                    remaining: n,
                    outstanding: 0,
                    requests: 0,
                    home: NONE,
                    cookie: NONE,
                    lost: false,
                    state_gone: false,
                    measured,
                    established: false,
                    opener: None,
                    parked: Vec::new(),
                });
                if measured {
                    self.stats.sessions_started += 1;
                }
                self.clients[c as usize].session = Some(h);
                h
            }
        };
        let s = self.sessions.get_mut(h).expect("current session is live");
        s.remaining -= 1;
        s.outstanding += 1;
        s.requests += 1;
        Some(h)
    }

    /// Starts the attempt the handle currently names: arms its timeout and dispatches it.
    fn start_attempt(&mut self, h: Handle) {
        let c = self.reqs.get(h).map(|r| r.client).expect("attempt of a live request");
        if let Some(timeout) = self.group_of(c).timeout_ns {
            self.schedule(timeout, Ev::Timeout { req: h });
        }
        self.send_or_park(h);
    }

    /// Sends an attempt, unless it belongs to a session still being established by another
    /// request: then it waits for that answer (and its cookie).
    fn send_or_park(&mut self, h: Handle) {
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
    fn dispatch(&mut self, h: Handle) {
        let Some(c) = self.reqs.get(h).map(|r| r.client) else { return };
        match self.try_send(h, c) {
            Acquire::Use(_) => {}
            Acquire::Wait => self.clients[c as usize].waiting.push_back(h),
            Acquire::Fail(outcome) => self.finish_attempt(h, outcome),
        }
    }

    /// Sends the attempt if a connection (or stream) can take it; otherwise says why not.
    fn try_send(&mut self, h: Handle, c: u32) -> Acquire {
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
    pub(super) fn pump(&mut self, c: u32) {
        // Take the request out before trying: trying may fail other waiting requests (a refused
        // connection), and those must not be confused with this one.
        while let Some(h) = self.clients[c as usize].waiting.pop_front() {
            if self.reqs.get(h).is_none() {
                continue;
            }
            match self.try_send(h, c) {
                Acquire::Use(_) => {}
                Acquire::Wait => {
                    self.clients[c as usize].waiting.push_front(h);
                    return;
                }
                Acquire::Fail(outcome) => self.finish_attempt(h, outcome),
            }
        }
    }

    /// Finds (or opens) a connection with room for one more request or stream.
    fn acquire_conn(&mut self, c: u32) -> Acquire {
        let g = self.group_of(c);
        let (balancing, protocol, pool_size, max_streams) = (g.balancing, g.protocol, g.connections, g.max_streams);
        if balancing == Balancing::Client {
            return self.acquire_direct(c, max_streams);
        }
        let limit = match protocol {
            Protocol::Http1 => 1,
            Protocol::Http2 => max_streams,
            Protocol::WebSocket => u32::MAX,
        };
        let conns = &self.clients[c as usize].conns;
        let mut best: Option<(Handle, u32)> = None;
        let mut open_or_connecting = 0u32;
        for (i, &ch) in conns.iter().enumerate() {
            let Some(conn) = self.conns.get(ch) else { continue };
            match conn.state {
                ConnState::Connecting => open_or_connecting += 1,
                ConnState::Open => {
                    open_or_connecting += 1;
                    if conn.streams < limit {
                        let score = if protocol == Protocol::WebSocket {
                            // Rotate messages over the client's WebSocket connections.
                            (i as u32).wrapping_sub(self.clients[c as usize].rr_next) % conns.len() as u32
                        } else {
                            conn.streams
                        };
                        if best.is_none_or(|(_, s)| score < s) {
                            best = Some((ch, score));
                        }
                    }
                }
                ConnState::Draining => {}
            }
        }
        if let Some((ch, _)) = best {
            if protocol == Protocol::WebSocket {
                let client = &mut self.clients[c as usize];
                let i = client.conns.iter().position(|&x| x == ch).unwrap_or(0) as u32;
                client.rr_next = i + 1;
            }
            return Acquire::Use(ch);
        }
        if open_or_connecting < pool_size {
            return match self.open_proxy_conn(c) {
                Ok(Some(ch)) => Acquire::Use(ch),
                Ok(None) => Acquire::Wait,
                Err(outcome) => Acquire::Fail(outcome),
            };
        }
        Acquire::Wait
    }

    /// Client-side balancing (gRPC): pick a ready subchannel, connecting as needed.
    fn acquire_direct(&mut self, c: u32, max_streams: u32) -> Acquire {
        let policy = self.group_of(c).client_algorithm;
        for round in 0..2 {
            let n = self.clients[c as usize].conns.len();
            let start = self.clients[c as usize].rr_next as usize;
            let mut connecting = false;
            let mut full = false;
            for k in 0..n {
                // round_robin rotates over ready subchannels; pick_first uses the first one.
                let i = if policy == ClientAlgorithm::RoundRobin { (start + k) % n } else { k };
                let ch = self.clients[c as usize].conns[i];
                let Some(conn) = self.conns.get(ch) else { continue };
                match conn.state {
                    ConnState::Open if conn.streams < max_streams => {
                        self.clients[c as usize].rr_next = (i + 1) as u32;
                        return Acquire::Use(ch);
                    }
                    ConnState::Open => full = true,
                    ConnState::Connecting => connecting = true,
                    ConnState::Draining => {}
                }
                if policy == ClientAlgorithm::PickFirst && conn.state != ConnState::Draining {
                    break;
                }
            }
            if connecting || full {
                return Acquire::Wait;
            }
            // No ready or connecting subchannel: (re)connect what the resolver gave us; with no
            // network latency the connection is usable at once, so look again.
            if round == 0 && !self.connect_subchannels(c) {
                return Acquire::Fail(Outcome::ConnectionError);
            }
        }
        Acquire::Wait
    }

    /// Opens client-side connections the policy wants and does not have. Returns whether any
    /// connection is now connecting or open.
    pub(super) fn connect_subchannels(&mut self, c: u32) -> bool {
        let policy = self.group_of(c).client_algorithm;
        let resolved = self.clients[c as usize].resolved.clone();
        let have: Vec<u32> = self.clients[c as usize]
            .conns
            .iter()
            .filter_map(|&ch| self.conns.get(ch))
            .filter(|conn| conn.state != ConnState::Draining)
            .map(|conn| conn.server)
            .collect();
        let now = self.now;
        let in_backoff = |client: &Client, s: u32| client.backoff.iter().any(|&(b, until, _)| b == s && until > now);
        match policy {
            ClientAlgorithm::RoundRobin => {
                for s in resolved {
                    if !have.contains(&s) && !in_backoff(&self.clients[c as usize], s) {
                        self.open_direct_conn(c, s);
                    }
                }
            }
            ClientAlgorithm::PickFirst => {
                if have.is_empty()
                    && let Some(&s) = resolved.iter().find(|&&s| !in_backoff(&self.clients[c as usize], s))
                {
                    self.open_direct_conn(c, s);
                }
            }
        }
        // A refused connection may have made gRPC move on to the next address already.
        self.clients[c as usize]
            .conns
            .iter()
            .any(|&x| self.conns.get(x).is_some_and(|k| k.state != ConnState::Draining))
    }

    /// Opens a connection from a client to its balancer replica. L4 picks the server now.
    /// Returns the connection if it is usable at once, `None` if it is connecting.
    fn open_proxy_conn(&mut self, c: u32) -> Result<Option<Handle>, Outcome> {
        let r = self.clients[c as usize].replica;
        let protocol = self.group_of(c).protocol;
        let layer = self.layer;
        let (hop, up_hop) = (self.client_hop_ns(), self.upstream_hop_ns());
        let tls = self.sc.network.tls_handshake_ns;
        let g = self.clients[c as usize].group as usize;
        let mut server = NONE;
        let mut holds_active = false;
        let replica_up = self.replicas[r as usize].up;
        // Client ↔ replica handshake: TCP, and TLS where the replica terminates it (L7).
        let mut delay = 2 * hop;
        let relays = layer == Layer::L4 || protocol == Protocol::WebSocket;
        if replica_up && relays {
            // L4 (or a WebSocket upgrade): the replica picks a server for the whole connection.
            let pool = self.groups[g].path_pool[0];
            let key = self.conn_key(c);
            match self.pick(r, pool, key, c, None) {
                Some(s) => {
                    server = s;
                    holds_active = true;
                    self.replicas[r as usize].active[s as usize] += 1;
                    if self.measuring() {
                        self.replicas[r as usize].routed += 1;
                    }
                }
                None => return Err(Outcome::NoServer),
            }
        }
        if layer == Layer::L4 {
            // The SYN travels on to the server; TLS terminates there.
            delay = 2 * (hop + up_hop) + self.sc.balancer.overhead_ns;
            if tls > 0 {
                delay += 2 * (hop + up_hop) + tls;
            }
        } else {
            if tls > 0 {
                delay += 2 * hop + tls;
            }
            if protocol == Protocol::WebSocket {
                // The upgrade: the replica connects upstream and relays the 101 back.
                delay += 2 * up_hop + self.sc.balancer.overhead_ns;
            }
        }
        let conn = Conn {
            id: 0,
            client: c,
            replica: r,
            server,
            state: ConnState::Connecting,
            streams: 0,
            up_free_ns: 0,
            down_free_ns: 0,
            counted_at_server: false,
            holds_active,
        };
        self.start_conn(c, conn, delay, tls > 0)
    }

    /// Opens a client-side connection straight to a server.
    fn open_direct_conn(&mut self, c: u32, s: u32) {
        let hop = self.client_hop_ns();
        let tls = self.sc.network.tls_handshake_ns;
        let delay = 2 * hop + if tls > 0 { 2 * hop + tls } else { 0 };
        let conn = Conn {
            id: 0,
            client: c,
            replica: NONE,
            server: s,
            state: ConnState::Connecting,
            streams: 0,
            up_free_ns: 0,
            down_free_ns: 0,
            counted_at_server: false,
            holds_active: false,
        };
        // A refusal is handled inside (backoff, next address); nothing more to do here.
        let _ = self.start_conn(c, conn, delay, tls > 0);
    }

    /// Starts a connection's handshake. `Ok(Some)`: usable now (nothing costs time);
    /// `Ok(None)`: connecting; `Err`: refused at once.
    fn start_conn(&mut self, c: u32, mut conn: Conn, delay: u64, tls: bool) -> Result<Option<Handle>, Outcome> {
        conn.id = self.next_conn_id;
        self.next_conn_id += 1;
        let g = self.clients[c as usize].group as usize;
        let (up, down) = handshake_bytes(tls);
        let stats = &mut self.stats.groups[g];
        stats.connections += 1;
        stats.bytes_sent = stats.bytes_sent.saturating_add(up);
        stats.bytes_received = stats.bytes_received.saturating_add(down);
        let ch = self.conns.insert(conn);
        self.clients[c as usize].conns.push(ch);
        if delay == 0 {
            // Nothing costs time: the connection is usable (or refused) now, without an event.
            if self.conn_established(ch) { Ok(Some(ch)) } else { Err(Outcome::ConnectionError) }
        } else {
            self.schedule(delay, Ev::ConnReady { conn: ch });
            Ok(None)
        }
    }

    /// The key an L4 or WebSocket connection is balanced by (no request attributes yet).
    fn conn_key(&self, c: u32) -> u64 {
        let client = &self.clients[c as usize];
        match self.sc.balancer.hash_key {
            HashKey::SourceIp => u64::from(client.ip),
            _ => mix64(u64::from(c) + (1 << 41)),
        }
    }

    #[inline(never)]
    pub(super) fn on_conn_ready(&mut self, ch: Handle) {
        let Some(c) = self.conns.get(ch).map(|conn| conn.client) else { return };
        self.conn_established(ch);
        self.pump(c);
    }

    /// Completes a handshake: the connection opens, or fails if its peer is gone.
    /// Returns whether it opened.
    fn conn_established(&mut self, ch: Handle) -> bool {
        let Some(conn) = self.conns.get(ch) else { return false };
        let (c, r, s) = (conn.client, conn.replica, conn.server);
        let replica_ok = r == NONE || self.replicas[r as usize].up;
        let server_ok = s == NONE || self.servers[s as usize].state == ServerState::Up;
        if !(replica_ok && server_ok) {
            self.connect_failed(ch, c, s);
            return false;
        }
        let conn = self.conns.get_mut(ch).expect("checked above");
        conn.state = ConnState::Open;
        if s != NONE {
            conn.counted_at_server = true;
            self.server_conn_opened(s);
            if let Some(age) = self.sc.servers[self.servers[s as usize].group as usize].max_connection_age_ns {
                // gRPC: each connection's age gets a uniform ±10% jitter.
                let jitter = self.servers[s as usize].rng.uniform() * 0.2 - 0.1;
                let at = (age as f64 * (1.0 + jitter)).max(1.0) as u64;
                self.schedule(at, Ev::ConnAge { conn: ch });
            }
        }
        true
    }

    /// A connection attempt was refused (peer down): drop it. Waiting requests fail with the
    /// connection error unless an open connection is left to carry them (a connection still
    /// handshaking with the same dead peer would only fail too).
    fn connect_failed(&mut self, ch: Handle, c: u32, s: u32) {
        self.close_conn(ch);
        let client_side = self.group_of(c).balancing == Balancing::Client;
        if client_side && s != NONE {
            self.start_backoff(c, s);
        }
        let open = |sim: &Simulation| {
            sim.clients[c as usize].conns.iter().any(|&x| sim.conns.get(x).is_some_and(|k| k.state == ConnState::Open))
        };
        let mut carried = open(self);
        if !carried && client_side {
            // gRPC tries the next resolved address; requests wait for it.
            carried = self.connect_subchannels(c)
                && self.clients[c as usize].conns.iter().any(|&x| self.conns.get(x).is_some());
        }
        if !carried {
            let waiting: Vec<Handle> = self.clients[c as usize].waiting.drain(..).collect();
            for h in waiting {
                if self.reqs.get(h).is_some() {
                    self.finish_attempt(h, Outcome::ConnectionError);
                }
            }
        }
    }

    /// gRPC connection backoff: 1 s, ×1.6 per failure, at most 120 s, ±20% jitter.
    fn start_backoff(&mut self, c: u32, s: u32) {
        let now = self.now;
        let client = &mut self.clients[c as usize];
        let failures = client.backoff.iter().find(|b| b.0 == s).map_or(0, |b| b.2) + 1;
        let base = (1e9 * libm::pow(1.6, (failures - 1) as f64)).min(120e9);
        let jitter = 1.0 + (client.rng.uniform() * 0.4 - 0.2);
        let until = now + (base * jitter) as u64;
        client.backoff.retain(|b| b.0 != s);
        client.backoff.push((s, until, failures));
    }

    /// Closes a connection: it leaves its client, server and replica counts.
    pub(super) fn close_conn(&mut self, ch: Handle) {
        let Some(conn) = self.conns.remove(ch) else { return };
        let client = &mut self.clients[conn.client as usize];
        client.conns.retain(|&x| x != ch);
        if conn.counted_at_server {
            self.server_conn_closed(conn.server);
        }
        if conn.holds_active && conn.replica != NONE {
            let active = &mut self.replicas[conn.replica as usize].active[conn.server as usize];
            debug_assert!(*active > 0, "connection count went negative");
            *active = active.saturating_sub(1);
        }
        // gRPC streams on it break; their pinning ends with the connection.
        if let Some(sh) = self.clients[conn.client as usize].stream
            && self.streams.get(sh).is_some_and(|s| s.conn == ch)
        {
            self.close_stream(sh);
        }
    }

    /// GOAWAY (max connection age, or the server draining): no new streams; the connection
    /// closes once its in-flight work ends, and the client reconnects (and is balanced again).
    #[inline(never)]
    pub(super) fn on_conn_age(&mut self, ch: Handle) {
        self.goaway(ch);
    }

    pub(super) fn goaway(&mut self, ch: Handle) {
        let Some(conn) = self.conns.get_mut(ch) else { return };
        let c = conn.client;
        conn.state = ConnState::Draining;
        let idle = conn.streams == 0;
        if let Some(sh) = self.clients[c as usize].stream
            && self.streams.get(sh).is_some_and(|s| s.conn == ch)
        {
            // The stream may finish its in-flight messages, but takes no new ones.
            self.clients[c as usize].stream = None;
            self.maybe_close_stream(sh);
        }
        if idle && self.conns.get(ch).is_some_and(|conn| conn.streams == 0) {
            self.close_conn(ch);
        }
        self.pump(c);
    }

    /// Sends an attempt on an open connection.
    fn send_on_conn(&mut self, h: Handle, ch: Handle) {
        let conn = self.conns.get_mut(ch).expect("sending on a live connection");
        conn.streams += 1;
        let (r, s, id) = (conn.replica, conn.server, conn.id);
        let req = self.reqs.get_mut(h).expect("sending a live request");
        req.conn = Some(ch);
        req.conn_id = Some(id);
        req.holds |= hold::STREAM;
        req.replica = r;
        self.transmit(h, ch, r, s);
    }

    /// Puts an attempt on the wire toward its replica or server.
    fn transmit(&mut self, h: Handle, ch: Handle, r: u32, s: u32) {
        let c = self.reqs.get(h).map(|req| req.client).expect("live request");
        let g = self.clients[c as usize].group as usize;
        let group = &self.sc.clients[g];
        let (hdr, _) = header_bytes(group.protocol);
        let bytes = group.request_bytes + hdr;
        let encode_ns = serialize_ns(group.serialize_per_kb_ns, group.request_bytes);
        let tx = self.tx_ns(bytes);
        let (hop, up_hop) = (self.client_hop_ns(), self.upstream_hop_ns());
        let conn = self.conns.get_mut(ch).expect("live connection");
        // Saturating: a connection's queue of transfers can reach past the clock's range only
        // in scenarios validation refuses (`config::check::check_horizon`).
        let start = self.now.saturating_add(encode_ns).max(conn.up_free_ns);
        conn.up_free_ns = start.saturating_add(tx);
        let at_peer = (conn.up_free_ns - self.now).saturating_add(hop);
        // Saturating as a backstop: validation refuses runs whose bytes could pass 2^63.
        self.stats.groups[g].bytes_sent = self.stats.groups[g].bytes_sent.saturating_add(bytes);
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

    /// The client's current gRPC stream, if it can take another message.
    fn usable_stream(&mut self, c: u32) -> Option<Handle> {
        let sh = self.clients[c as usize].stream?;
        let ok = self.streams.get(sh).is_some_and(|s| {
            s.remaining > 0 && self.conns.get(s.conn).is_some_and(|conn| conn.state == ConnState::Open)
        });
        if ok {
            return Some(sh);
        }
        self.clients[c as usize].stream = None;
        self.maybe_close_stream(sh);
        None
    }

    /// Sends a message on a gRPC stream (opening the stream took a stream slot; messages don't).
    fn send_stream_message(&mut self, h: Handle, sh: Handle) {
        let stream = self.streams.get_mut(sh).expect("usable stream");
        stream.remaining -= 1;
        stream.in_flight += 1;
        let ch = stream.conn;
        let conn = self.conns.get(ch).expect("stream's connection is open");
        let (r, conn_server, id) = (conn.replica, conn.server, conn.id);
        let req = self.reqs.get_mut(h).expect("live request");
        req.stream = Some(sh);
        req.conn = Some(ch);
        req.conn_id = Some(id);
        req.replica = r;
        self.transmit(h, ch, r, conn_server);
    }

    /// Opens a new gRPC stream on `ch` for client `c` and makes it current.
    fn open_stream(&mut self, c: u32, ch: Handle) -> Handle {
        let n = self.group_of(c).stream_messages.unwrap_or(1);
        let conn = self.conns.get_mut(ch).expect("open connection");
        conn.streams += 1;
        let sh = self.streams.insert(Stream {
            client: c,
            conn: ch,
            server: NONE,
            replica: NONE,
            remaining: n,
            in_flight: 0,
        });
        self.clients[c as usize].stream = Some(sh);
        sh
    }

    /// Closes a stream once nothing is in flight on it and it takes no more messages
    /// (all sent, or no longer the client's current stream).
    pub(super) fn maybe_close_stream(&mut self, sh: Handle) {
        let done = self.streams.get(sh).is_some_and(|s| {
            s.in_flight == 0 && (s.remaining == 0 || self.clients[s.client as usize].stream != Some(sh))
        });
        if done {
            self.close_stream(sh);
        }
    }

    /// Ends a stream: frees its slot on the connection and its replica's active count.
    pub(super) fn close_stream(&mut self, sh: Handle) {
        let Some(stream) = self.streams.remove(sh) else { return };
        if self.clients[stream.client as usize].stream == Some(sh) {
            self.clients[stream.client as usize].stream = None;
        }
        if stream.replica != NONE && stream.server != NONE {
            let active = &mut self.replicas[stream.replica as usize].active[stream.server as usize];
            debug_assert!(*active > 0, "stream count went negative");
            *active = active.saturating_sub(1);
        }
        self.release_stream_slot(stream.conn, false);
    }

    /// Frees one request or stream slot on a connection; a draining connection closes when
    /// its last slot frees; an aborted HTTP/1.1 request closes its connection.
    fn release_stream_slot(&mut self, ch: Handle, abort_http1: bool) {
        let Some(conn) = self.conns.get_mut(ch) else { return };
        debug_assert!(conn.streams > 0, "stream count went negative");
        conn.streams = conn.streams.saturating_sub(1);
        let c = conn.client;
        let close = abort_http1 || (conn.state == ConnState::Draining && conn.streams == 0);
        if close {
            self.close_conn(ch);
        }
        if !self.clients[c as usize].waiting.is_empty() {
            self.pump(c);
        }
    }

    /// Releases whatever the attempt still holds (each hold exactly once).
    pub(super) fn release_holds(&mut self, h: Handle, aborted: bool) {
        let Some(req) = self.reqs.get_mut(h) else { return };
        if req.holds == 0 {
            return;
        }
        let holds = std::mem::take(&mut req.holds);
        let (r, s, conn, pool, sent) = (req.replica, req.server, req.conn, req.pool, req.sent_to_server_ns);
        let c = req.client;
        if holds & hold::ACTIVE != 0 {
            let active = &mut self.replicas[r as usize].active[s as usize];
            debug_assert!(*active > 0, "active count went negative");
            *active = active.saturating_sub(1);
            if aborted {
                let outcome = crate::algo::Outcome {
                    server: s,
                    sent_ns: sent,
                    now_ns: self.now,
                    kind: crate::algo::OutcomeKind::Abandoned,
                };
                self.replicas[r as usize].algos[pool as usize].observe(&outcome);
            }
        }
        if holds & hold::STREAM != 0
            && let Some(ch) = conn
        {
            let http1 = self.group_of(c).protocol == Protocol::Http1;
            self.release_stream_slot(ch, aborted && http1);
        }
    }

    #[inline(never)]
    pub(super) fn on_timeout(&mut self, h: Handle) {
        if self.reqs.get(h).is_none() {
            return;
        }
        self.release_holds(h, true);
        self.finish_attempt(h, Outcome::Timeout);
    }

    /// Sends an answer (or an error) from where the attempt is now back to the client: over
    /// the balancer–server hop first if `via_upstream`, then over the client's hop, where it
    /// shares the connection's downlink with other answers.
    pub(super) fn answer_client(&mut self, h: Handle, outcome: Outcome, via_upstream: bool) {
        let Some(req) = self.reqs.get(h) else { return };
        let (c, conn) = (req.client, req.conn);
        let group = self.group_of(c);
        let (_, hdr) = header_bytes(group.protocol);
        let body = if outcome == Outcome::Ok || outcome == Outcome::SessionLost { group.response_bytes } else { 0 };
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
        self.stats.groups[g].bytes_received = self.stats.groups[g].bytes_received.saturating_add(bytes);
        self.after(delay, Ev::BackAtClient { req: h, outcome });
    }

    #[inline(never)]
    pub(super) fn on_back_at_client(&mut self, h: Handle, outcome: Outcome) {
        if self.reqs.get(h).is_none() {
            return;
        }
        self.release_holds(h, false);
        self.finish_attempt(h, outcome);
    }

    /// Ends an attempt: retries it if allowed, else ends the request.
    pub(super) fn finish_attempt(&mut self, h: Handle, outcome: Outcome) {
        let Some(req) = self.reqs.get(h) else { return };
        let c = req.client;
        let retries = self.group_of(c).retries;
        if outcome != Outcome::Ok && retryable(outcome) && req.attempt <= retries && !self.finished {
            self.release_holds(h, false);
            let h2 = self.reqs.rearm(h).expect("live request");
            let req = self.reqs.get_mut(h2).expect("live request");
            let measured = req.measured;
            req.attempt += 1;
            req.server = NONE;
            req.replica = NONE;
            req.conn = None;
            req.via = 0;
            req.tried.clear();
            if let Some(sh) = req.stream.take() {
                self.stream_message_done(sh);
            }
            if measured {
                self.stats.retries += 1;
            }
            self.start_attempt(h2);
        } else {
            self.finish_request(h, outcome);
        }
    }

    /// A message of a stream ended (or moved to a retry on a new stream).
    fn stream_message_done(&mut self, sh: Handle) {
        if let Some(s) = self.streams.get_mut(sh) {
            s.in_flight = s.in_flight.saturating_sub(1);
        }
        self.maybe_close_stream(sh);
    }

    /// Ends a request with its one outcome.
    fn finish_request(&mut self, h: Handle, outcome: Outcome) {
        self.release_holds(h, false);
        let Some(req) = self.reqs.remove(h) else { return };
        let latency = self.now - req.created_ns;
        let g = self.clients[req.client as usize].group as usize;
        let server = if req.server == NONE { None } else { Some(req.server) };
        let conn = req.conn_id;
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
            }
            self.stats.series.outcome(i, ok.then_some(latency));
        }
        if let Some(sh) = req.session {
            let answered = matches!(outcome, Outcome::Ok | Outcome::SessionLost);
            self.session_request_done(sh, req.client, h.idx, answered);
        }
        if let Some(sh) = req.stream {
            self.stream_message_done(sh);
        }
        self.stats.last_end_ns = self.now;
        self.hasher.words(&[req.id, outcome as u64, self.now, u64::from(req.server), u64::from(req.attempt)]);
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
            });
        }
    }

    /// A session request ended: the session's opener establishes it (when answered) and
    /// releases the requests parked behind it; the last request ends the session.
    fn session_request_done(&mut self, sh: Handle, c: u32, slot: u32, answered: bool) {
        let Some(s) = self.sessions.get_mut(sh) else { return };
        s.outstanding -= 1;
        if s.opener == Some(slot) {
            s.opener = None;
            s.established |= answered;
            let parked = std::mem::take(&mut s.parked);
            for h in parked {
                self.send_or_park(h);
            }
        }
        let Some(s) = self.sessions.get_mut(sh) else { return };
        if s.remaining == 0 && s.outstanding == 0 {
            let s = self.sessions.remove(sh).expect("live session");
            if s.measured {
                self.stats.sessions_completed += 1;
                self.stats.session_requests += u64::from(s.requests);
            }
            if s.home != NONE {
                self.servers[s.home as usize].sessions = self.servers[s.home as usize].sessions.saturating_sub(1);
            }
            if self.clients[c as usize].session == Some(sh) {
                self.clients[c as usize].session = None;
            }
        }
    }

    /// DNS: a proxy client re-resolves the balancer (health-checked DNS round robin over the
    /// replicas that are up); a client-side client re-resolves the server list.
    #[inline(never)]
    pub(super) fn on_resolve(&mut self, c: u32) {
        if self.ended {
            return;
        }
        let group = self.group_of(c);
        let (interval, client_side) = match group.balancing {
            Balancing::Client => (group.resolve_interval_ns, true),
            Balancing::Proxy => (self.sc.balancer.dns_ttl_ns, false),
        };
        self.schedule(interval, Ev::Resolve { client: c });
        if client_side {
            self.resolve_servers(c);
        } else {
            self.resolve_replica(c);
        }
    }

    /// Health-checked DNS round robin: the next replica that is up.
    pub(super) fn resolve_replica(&mut self, c: u32) {
        let n = self.replicas.len() as u64;
        for _ in 0..n {
            let r = (self.dns_counter % n) as u32;
            self.dns_counter += 1;
            if self.replicas[r as usize].up {
                self.clients[c as usize].replica = r;
                return;
            }
        }
    }

    /// Client-side resolution: the pool's servers that exist (DNS knows nothing of health),
    /// rotated by DNS round robin; connections to servers no longer listed drain.
    pub(super) fn resolve_servers(&mut self, c: u32) {
        let g = self.clients[c as usize].group as usize;
        let pool = self.groups[g].path_pool[0] as usize;
        let mut list: Vec<u32> = self.pools[pool].primaries.clone();
        if !list.is_empty() {
            let k = (self.dns_counter % list.len() as u64) as usize;
            self.dns_counter += 1;
            list.rotate_left(k);
        }
        let stale: Vec<Handle> = self.clients[c as usize]
            .conns
            .iter()
            .copied()
            .filter(|&ch| self.conns.get(ch).is_some_and(|conn| !list.contains(&conn.server)))
            .collect();
        self.clients[c as usize].resolved = list;
        for ch in stale {
            self.goaway(ch);
        }
        if self.group_of(c).client_algorithm == ClientAlgorithm::RoundRobin {
            // gRPC round_robin connects every address eagerly.
            self.connect_subchannels(c);
        }
        self.pump(c);
    }

    /// Called once at the start: what each client does before its first request.
    pub(super) fn start_client(&mut self, c: u32) {
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
                if group.protocol == Protocol::WebSocket {
                    for _ in 0..group.connections {
                        let _ = self.open_proxy_conn(c);
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
            && first < self.sc.duration_ns
        {
            let generation = self.clients[c as usize].arrival_generation;
            self.queue.push(first, Ev::Arrival { client: c, generation });
        }
    }
}
