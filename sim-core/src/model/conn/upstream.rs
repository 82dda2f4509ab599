//! Upstream connections from a balancer replica to its servers: HTTP/1.1 keep-alive
//! connections carry one request at a time and return to an idle pool; HTTP/2 (and relayed
//! protocols) share one multiplexed connection per server, ready after its handshake. With
//! circuit breakers, a pool's HTTP/1.1 connections are bounded (`max_connections`) and the
//! requests waiting for one too (`max_pending_requests`), as Envoy's connection pools do.

use super::profile::Profile;
use crate::model::Simulation;
use crate::model::state::*;
use crate::slab::Handle;

/// Whether a try may have an upstream connection now (circuit breakers, HTTP/1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::model) enum Admit {
    /// An idle connection, or room for a new one.
    Now,
    /// It waits as a pending request for a connection of its host.
    Pending,
    /// The pending requests are at `max_pending_requests`: `overflow`.
    Overflow,
}

impl Simulation {
    /// An upstream connection from replica `r` to server `s`; returns how long until it is
    /// usable (0 when an idle keep-alive or the multiplexed connection is ready).
    pub(in crate::model) fn upstream_acquire(&mut self, r: u32, s: u32, profile: Profile) -> u64 {
        let rtt = 2 * self.upstream_hop_ns();
        let server_up = self.servers[s as usize].state == ServerState::Up;
        let up = &mut self.replicas[r as usize].upstream[s as usize];
        if profile.upstream_per_request {
            if up.idle > 0 {
                up.idle -= 1;
                0
            } else {
                if server_up {
                    up.open += 1;
                    self.server_conn_opened(s);
                }
                rtt
            }
        } else if up.open == 0 {
            if server_up {
                up.open = 1;
                up.ready_ns = self.now + rtt;
                self.server_conn_opened(s);
            }
            rtt
        } else {
            up.ready_ns.saturating_sub(self.now)
        }
    }

    /// The answer from `s` came back: a keep-alive connection goes to the first request
    /// pending for `s` (Envoy's `onUpstreamReady`), else returns to the idle pool.
    pub(in crate::model) fn upstream_release(&mut self, r: u32, s: u32, profile: Profile) {
        if profile.upstream_per_request {
            let up = &self.replicas[r as usize].upstream[s as usize];
            if up.open > up.idle
                && let Some(h) = self.next_pending(r, s)
            {
                self.send_upstream(h, s, 0);
                return;
            }
            let up = &mut self.replicas[r as usize].upstream[s as usize];
            if up.open > up.idle {
                up.idle += 1;
            }
        }
    }

    /// The try on it was reset (Envoy's `per_try_timeout`): an HTTP/1.1 connection cannot carry
    /// another request while the server still answers the reset one, so Envoy closes it; a
    /// multiplexed connection only loses the stream.
    pub(in crate::model) fn upstream_reset(&mut self, r: u32, s: u32, profile: Profile) {
        if profile.upstream_per_request {
            let up = &mut self.replicas[r as usize].upstream[s as usize];
            if up.open > up.idle {
                up.open -= 1;
                self.server_conn_closed(s);
                // Room for a connection: the first request pending for `s` opens it.
                if let Some(h) = self.next_pending(r, s) {
                    let wait = self.upstream_acquire(r, s, profile);
                    self.send_upstream(h, s, wait);
                }
            }
        }
    }

    /// Envoy's connection pool limits (`ConnPoolImplBase::newStreamImpl` and
    /// `tryCreateNewConnection`, source/common/conn_pool/conn_pool_base.cc) for a try to `s`
    /// of `pool` over HTTP/1.1: an idle connection is used; else a new one is opened while the
    /// pool (Envoy's cluster) has fewer than `max_connections` open, or when the host has none
    /// at all (Envoy: "always create one, to prevent pending streams being queued to this
    /// upstream with no way to be processed"); else the try waits as a pending request, unless
    /// `max_pending_requests` wait already (Envoy's `upstream_rq_pending_overflow`).
    pub(in crate::model) fn upstream_admit(
        &self,
        r: u32,
        s: u32,
        pool: u16,
        cb: &crate::scenario::CircuitBreakers,
    ) -> Admit {
        let replica = &self.replicas[r as usize];
        let up = &replica.upstream[s as usize];
        if up.idle > 0 || up.open == 0 {
            return Admit::Now;
        }
        let p = &self.pools[pool as usize];
        let open: u64 =
            p.primaries.iter().chain(&p.backups).map(|&x| u64::from(replica.upstream[x as usize].open)).sum();
        if open < u64::from(cb.max_connections) {
            Admit::Now
        } else if replica.pool_pending[pool as usize] >= cb.max_pending_requests {
            Admit::Overflow
        } else {
            Admit::Pending
        }
    }

    /// The next request waiting for a connection to `s` at replica `r` (entries whose request
    /// moved on — timed out, cancelled — are dropped), its pending count released.
    pub(in crate::model) fn next_pending(&mut self, r: u32, s: u32) -> Option<Handle> {
        loop {
            let h = self.replicas[r as usize].pending.get_mut(s as usize)?.pop_front()?;
            let Some(req) = self.reqs.get_mut(h) else { continue };
            if req.holds & hold::PENDING == 0 {
                continue;
            }
            req.holds &= !hold::PENDING;
            let pool = req.pool;
            self.release_pending(r, pool);
            return Some(h);
        }
    }

    /// Releases one of a pool's pending requests.
    pub(in crate::model) fn release_pending(&mut self, r: u32, pool: u16) {
        let n = &mut self.replicas[r as usize].pool_pending[pool as usize];
        assert!(*n > 0, "replica {r}: pending requests went negative for pool {pool} at t={} ns", self.now);
        *n -= 1;
    }
}
