//! Upstream connections from a balancer replica to its servers: HTTP/1.1 keep-alive
//! connections carry one request at a time and return to an idle pool; HTTP/2 (and relayed
//! protocols) share one multiplexed connection per server, ready after its handshake.

use super::profile::Profile;
use crate::model::Simulation;
use crate::model::state::*;

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

    /// The answer from `s` came back: a keep-alive connection returns to the idle pool.
    pub(in crate::model) fn upstream_release(&mut self, r: u32, s: u32, profile: Profile) {
        if profile.upstream_per_request {
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
            }
        }
    }
}
