//! What each protocol is to the connection layer, as data: how many requests a connection
//! carries at once, the header bytes on the wire, whether a balancer relays the connection to
//! one server, how upstream connections are reused. The model reads a [`Profile`] instead of
//! branching on `Protocol`, so a new protocol is a new profile here (and its name in
//! `scenario.rs`).

use crate::scenario::Protocol;

/// A protocol's behaviour in the connection layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Profile {
    /// Protocol header bytes on the wire per message: (request, response).
    pub header_bytes: (u64, u64),
    /// Requests (or streams) one connection carries at once: `None` takes the client group's
    /// `max_streams` (HTTP/2), `Some(n)` is fixed by the protocol.
    pub slots: Option<u32>,
    /// Messages rotate over the client's open connections (WebSocket) rather than going to
    /// the connection with the fewest in flight.
    pub rotates: bool,
    /// The connection is upgraded at the balancer and relayed to one server chosen when it
    /// opens, even at L7 (WebSocket).
    pub relayed: bool,
    /// Each client opens its whole pool at the start (long-lived WebSocket connections).
    pub connects_at_start: bool,
    /// Upstream, one request per keep-alive connection, which returns to the idle pool after
    /// the answer (HTTP/1.1); otherwise one multiplexed connection per server.
    pub upstream_per_request: bool,
    /// Abandoning a request in flight closes its connection: HTTP/1.1 cannot cancel one
    /// request on a connection without closing it (HTTP/2 resets the stream).
    pub abort_closes_conn: bool,
    /// What one slot is, in messages to users ("HTTP/2 stream slot(s)").
    pub slot_noun: &'static str,
}

impl Profile {
    /// The profile of `protocol`.
    ///
    /// Header bytes — HTTP/1.1: typical request and response header blocks. HTTP/2:
    /// HPACK-compressed headers on a warm connection plus the 9-byte frame headers. WebSocket:
    /// frame headers (masked from the client).
    pub(crate) const fn of(protocol: Protocol) -> Profile {
        match protocol {
            Protocol::Http1 => Profile {
                header_bytes: (350, 250),
                slots: Some(1),
                rotates: false,
                relayed: false,
                connects_at_start: false,
                upstream_per_request: true,
                abort_closes_conn: true,
                slot_noun: "HTTP/1.1 connection(s)",
            },
            Protocol::Http2 => Profile {
                header_bytes: (49, 29),
                slots: None,
                rotates: false,
                relayed: false,
                connects_at_start: false,
                upstream_per_request: false,
                abort_closes_conn: false,
                slot_noun: "HTTP/2 stream slot(s)",
            },
            Protocol::WebSocket => Profile {
                header_bytes: (6, 2),
                slots: Some(u32::MAX),
                rotates: true,
                relayed: true,
                connects_at_start: true,
                upstream_per_request: false,
                abort_closes_conn: false,
                slot_noun: "WebSocket connection(s)",
            },
        }
    }

    /// Requests or streams one connection carries at once, given the group's `max_streams`.
    pub(crate) fn slots_per_conn(self, max_streams: u32) -> u32 {
        self.slots.unwrap_or(max_streams)
    }
}

/// Bytes of a TCP handshake and, with TLS, of a TLS 1.3 handshake (certificate chain):
/// (client sends, client receives).
pub(crate) fn handshake_bytes(tls: bool) -> (u64, u64) {
    if tls { (120 + 600, 120 + 4_000) } else { (120, 60) }
}
