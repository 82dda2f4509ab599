//! Client-side (gRPC) balancing: subchannels straight to servers, the policy that chooses
//! among them (`pick_first`, `round_robin`, behind [`SubchannelPolicy`]) and connection
//! backoff.

use super::Acquire;
use crate::metrics::report::Outcome;
use crate::model::Simulation;
use crate::model::state::*;

impl Simulation {
    /// Client-side balancing (gRPC): pick a ready subchannel, connecting as needed.
    pub(in crate::model) fn acquire_direct(&mut self, c: u32, max_streams: u32) -> Acquire {
        let policy = self.group_of(c).client_algorithm.policy();
        for round in 0..2 {
            let n = self.clients[c as usize].conns.len();
            let start = self.clients[c as usize].rr_next as usize;
            let mut connecting = false;
            let mut full = false;
            for k in 0..n {
                let i = policy.candidate(k, n, start);
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
                if policy.first_only() && conn.state != ConnState::Draining {
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
    pub(in crate::model) fn connect_subchannels(&mut self, c: u32) -> bool {
        let policy = self.group_of(c).client_algorithm.policy();
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
        if policy.connects_all() {
            for s in resolved {
                if !have.contains(&s) && !in_backoff(&self.clients[c as usize], s) {
                    self.open_direct_conn(c, s);
                }
            }
        } else if have.is_empty()
            && let Some(&s) = resolved.iter().find(|&&s| !in_backoff(&self.clients[c as usize], s))
        {
            self.open_direct_conn(c, s);
        }
        // A refused connection may have made gRPC move on to the next address already.
        self.clients[c as usize]
            .conns
            .iter()
            .any(|&x| self.conns.get(x).is_some_and(|k| k.state != ConnState::Draining))
    }

    /// gRPC connection backoff: 1 s, ×1.6 per failure, at most 120 s, ±20% jitter.
    pub(in crate::model) fn start_backoff(&mut self, c: u32, s: u32) {
        let now = self.now;
        let jitter = 1.0 + (self.client_rng(c).uniform() * 0.4 - 0.2);
        let client = &mut self.clients[c as usize];
        let failures = client.backoff.iter().find(|b| b.0 == s).map_or(0, |b| b.2) + 1;
        let base = (1e9 * libm::pow(1.6, (failures - 1) as f64)).min(120e9);
        let until = now + (base * jitter) as u64;
        client.backoff.retain(|b| b.0 != s);
        client.backoff.push((s, until, failures));
    }
}
