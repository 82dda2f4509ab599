//! Name resolution: proxy clients find a balancer replica by health-checked DNS round robin;
//! client-side (gRPC) clients re-resolve the server list, and connections to servers no longer
//! listed drain.

use crate::model::Simulation;
use crate::model::state::*;
use crate::scenario::*;
use crate::slab::Handle;

impl Simulation {
    /// DNS: a proxy client re-resolves the balancer (health-checked DNS round robin over the
    /// replicas that are up); a client-side client re-resolves the server list.
    #[inline(never)]
    pub(in crate::model) fn on_resolve(&mut self, c: u32) {
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
    pub(in crate::model) fn resolve_replica(&mut self, c: u32) {
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
    pub(in crate::model) fn resolve_servers(&mut self, c: u32) {
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
        if self.group_of(c).client_algorithm.policy().connects_all() {
            // gRPC round_robin connects every address eagerly.
            self.connect_subchannels(c);
        }
        self.pump(c);
    }
}
