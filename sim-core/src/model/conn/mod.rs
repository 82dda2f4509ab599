//! The connection layer: a client's pool of connections to its balancer replica (or, with
//! client-side balancing, straight to servers). It opens connections (handshakes, TLS, the L4
//! pick), hands out slots on them (a request on HTTP/1.1, a stream on HTTP/2, a message on
//! WebSocket — see [`profile`]), drains them on GOAWAY and closes them. What differs between
//! protocols is data in [`profile::Profile`], not branches spread over the model.

use crate::metrics::report::Outcome;
use crate::model::Simulation;
use crate::model::state::*;
use crate::rng::{Purpose, SimRng, mix64};
use crate::scenario::*;
use crate::slab::Handle;
use profile::{Profile, handshake_bytes};

pub(crate) mod profile;
mod stream;
mod subchannel;
pub(in crate::model) mod upstream;

/// How a connection request came out.
pub(crate) enum Acquire {
    /// Send on this connection now.
    Use(Handle),
    /// Wait for a connection or stream to free up (or finish connecting).
    Wait,
    /// Fail the attempt with this outcome.
    Fail(Outcome),
}

impl Simulation {
    /// Finds (or opens) a connection with room for one more request or stream.
    pub(in crate::model) fn acquire_conn(&mut self, c: u32) -> Acquire {
        let g = self.group_of(c);
        let (balancing, protocol, pool_size, max_streams) = (g.balancing, g.protocol, g.connections, g.max_streams);
        if balancing == Balancing::Client {
            return self.acquire_direct(c, max_streams);
        }
        let profile = Profile::of(protocol);
        let limit = profile.slots_per_conn(max_streams);
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
                        let score = if profile.rotates {
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
            if profile.rotates {
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

    /// Opens a connection from a client to its balancer replica. L4 picks the server now.
    /// Returns the connection if it is usable at once, `None` if it is connecting.
    pub(in crate::model) fn open_proxy_conn(&mut self, c: u32) -> Result<Option<Handle>, Outcome> {
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
        let relayed = Profile::of(protocol).relayed;
        let relays = layer == Layer::L4 || relayed;
        if replica_up && relays {
            // L4 (or a WebSocket upgrade): the replica picks a server for the whole connection.
            let pool = self.groups[g].path_pool[0];
            let key = self.conn_key(c);
            match self.pick(r, pool, key, c, None) {
                Some(s) => {
                    server = s;
                    holds_active = true;
                    self.hold_active(r, s);
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
            if relayed {
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
    pub(in crate::model) fn open_direct_conn(&mut self, c: u32, s: u32) {
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
    pub(in crate::model) fn start_conn(
        &mut self,
        c: u32,
        mut conn: Conn,
        delay: u64,
        tls: bool,
    ) -> Result<Option<Handle>, Outcome> {
        conn.id = self.next_conn_id;
        self.next_conn_id += 1;
        let g = self.clients[c as usize].group as usize;
        let (up, down) = handshake_bytes(tls);
        // A window ending before `duration` counts what a run ending there would have.
        if self.before_window_end(self.now) {
            let stats = &mut self.stats.groups[g];
            stats.connections += 1;
            stats.bytes_sent = stats.bytes_sent.saturating_add(up);
            stats.bytes_received = stats.bytes_received.saturating_add(down);
        }
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
    pub(in crate::model) fn conn_key(&self, c: u32) -> u64 {
        let client = &self.clients[c as usize];
        let key = match self.sc.balancer.hash_key {
            HashKey::SourceIp => u64::from(client.ip),
            _ => mix64(u64::from(c) + (1 << 41)),
        };
        if !self.sc.balancer.hash_key_text {
            return key;
        }
        // As text: the dotted address (nginx stream `hash $remote_addr`), else the number.
        let text = match self.sc.balancer.hash_key {
            HashKey::SourceIp => std::net::Ipv4Addr::from(client.ip).to_string(),
            _ => key.to_string(),
        };
        crate::algo::text_key_of(self.algorithm, &self.sc.balancer.hash_key, &text)
    }

    #[inline(never)]
    pub(in crate::model) fn on_conn_ready(&mut self, ch: Handle) {
        let Some(c) = self.conns.get(ch).map(|conn| conn.client) else { return };
        self.conn_established(ch);
        self.pump(c);
    }

    /// Completes a handshake: the connection opens, or fails if its peer is gone.
    /// Returns whether it opened.
    pub(in crate::model) fn conn_established(&mut self, ch: Handle) -> bool {
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
                let seed = self.seed;
                let rng = self.server_rngs[s as usize]
                    .get_or_insert_with(|| Box::new(SimRng::stream(seed, Purpose::Server, u64::from(s))));
                let jitter = rng.uniform() * 0.2 - 0.1;
                let at = (age as f64 * (1.0 + jitter)).max(1.0) as u64;
                self.schedule(at, Ev::ConnAge { conn: ch });
            }
        }
        true
    }

    /// A connection attempt was refused (peer down): drop it. Waiting requests fail with the
    /// connection error unless an open connection is left to carry them (a connection still
    /// handshaking with the same dead peer would only fail too).
    pub(in crate::model) fn connect_failed(&mut self, ch: Handle, c: u32, s: u32) {
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

    /// Closes a connection: it leaves its client, server and replica counts.
    pub(in crate::model) fn close_conn(&mut self, ch: Handle) {
        let Some(conn) = self.conns.remove(ch) else { return };
        let client = &mut self.clients[conn.client as usize];
        client.conns.retain(|x| *x != ch);
        if conn.counted_at_server {
            self.server_conn_closed(conn.server);
        }
        if conn.holds_active && conn.replica != NONE {
            self.release_active(conn.replica, conn.server);
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
    pub(in crate::model) fn on_conn_age(&mut self, ch: Handle) {
        self.goaway(ch);
    }

    pub(in crate::model) fn goaway(&mut self, ch: Handle) {
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

    /// Frees one request or stream slot on a connection; a draining connection closes when
    /// its last slot frees; an aborted HTTP/1.1 request closes its connection.
    pub(in crate::model) fn release_stream_slot(&mut self, ch: Handle, abort_http1: bool) {
        let Some(conn) = self.conns.get_mut(ch) else { return };
        assert!(
            conn.streams > 0,
            "connection {} of client {} released a slot it did not hand out",
            conn.id,
            conn.client
        );
        conn.streams -= 1;
        let c = conn.client;
        let close = abort_http1 || (conn.state == ConnState::Draining && conn.streams == 0);
        if close {
            self.close_conn(ch);
        }
        if !self.clients[c as usize].waiting.is_empty() {
            self.pump(c);
        }
    }

    /// Counts one more request, stream or connection in flight from replica `r` to server `s`
    /// (what least-connection algorithms read). Three things hold a count: a unary L7
    /// attempt (`hold::ACTIVE`), an L4 or WebSocket connection (`Conn::holds_active`) and a
    /// gRPC stream pinned by its first message (`Stream::replica`); each releases it once,
    /// through [`Simulation::release_active`].
    pub(in crate::model) fn hold_active(&mut self, r: u32, s: u32) {
        let replica = &mut self.replicas[r as usize];
        replica.active[s as usize] += 1;
        let pool = self.servers[s as usize].pool as usize;
        // Least connections, bounded loads and `first` keep the counts ordered: they learn each change.
        if let Some(b) = replica.balancers.get_mut(pool) {
            b.active_changed(s, replica.active[s as usize]);
        }
        // Circuit breakers count a pool's requests in flight (`pool_requests` is empty without).
        if let Some(n) = replica.pool_requests.get_mut(pool) {
            *n += 1;
        }
    }

    /// Releases a count taken by [`Simulation::hold_active`]. A release without a hold is a
    /// bug in the model: it stops the run with the context rather than clamping the count.
    pub(in crate::model) fn release_active(&mut self, r: u32, s: u32) {
        let active = &mut self.replicas[r as usize].active[s as usize];
        assert!(
            *active > 0,
            "replica {r}: active count went negative for server {s} at t={} ns (a release without a hold)",
            self.now
        );
        *active -= 1;
        let now_active = *active;
        let pool = self.servers[s as usize].pool as usize;
        let replica = &mut self.replicas[r as usize];
        if let Some(b) = replica.balancers.get_mut(pool) {
            b.active_changed(s, now_active);
        }
        if let Some(n) = replica.pool_requests.get_mut(pool) {
            *n -= 1;
        }
    }
}
