//! gRPC streams: a long-lived stream on a connection carries many messages, pinned to the
//! server its first message was routed to; it holds one stream slot on its connection and one
//! active count at the replica that pinned it.

use crate::model::Simulation;
use crate::model::state::*;
use crate::slab::Handle;

impl Simulation {
    /// The client's current gRPC stream, if it can take another message.
    pub(in crate::model) fn usable_stream(&mut self, c: u32) -> Option<Handle> {
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
    pub(in crate::model) fn send_stream_message(&mut self, h: Handle, sh: Handle) {
        let stream = self.streams.get_mut(sh).expect("usable stream");
        stream.remaining -= 1;
        stream.in_flight += 1;
        let ch = stream.conn;
        let conn = self.conns.get(ch).expect("stream's connection is open");
        let (r, conn_server, id) = (conn.replica, conn.server, conn.id);
        let req = self.reqs.get_mut(h).expect("live request");
        req.extra_mut().stream = Some(sh);
        req.conn = Some(ch);
        req.conn_id = std::num::NonZeroU64::new(id);
        req.replica = r;
        self.transmit(h, ch, r, conn_server);
    }

    /// Opens a new gRPC stream on `ch` for client `c` and makes it current.
    pub(in crate::model) fn open_stream(&mut self, c: u32, ch: Handle) -> Handle {
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
    pub(in crate::model) fn maybe_close_stream(&mut self, sh: Handle) {
        let done = self.streams.get(sh).is_some_and(|s| {
            s.in_flight == 0 && (s.remaining == 0 || self.clients[s.client as usize].stream != Some(sh))
        });
        if done {
            self.close_stream(sh);
        }
    }

    /// Ends a stream: frees its slot on the connection and its replica's active count.
    pub(in crate::model) fn close_stream(&mut self, sh: Handle) {
        let Some(stream) = self.streams.remove(sh) else { return };
        if self.clients[stream.client as usize].stream == Some(sh) {
            self.clients[stream.client as usize].stream = None;
        }
        if stream.replica != NONE && stream.server != NONE {
            self.release_active(stream.replica, stream.server);
        }
        self.release_stream_slot(stream.conn, false);
    }

    /// A message of a stream ended (or moved to a retry on a new stream).
    pub(in crate::model) fn stream_message_done(&mut self, sh: Handle) {
        if let Some(s) = self.streams.get_mut(sh) {
            assert!(s.in_flight > 0, "a message of client {}'s stream ended twice", s.client);
            s.in_flight -= 1;
        }
        self.maybe_close_stream(sh);
    }
}
