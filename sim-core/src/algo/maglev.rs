//! `maglev`: Envoy's Maglev table (`source/extensions/load_balancing_policies/maglev/
//! maglev_lb.cc`), built over the eligible (healthy) servers.
//!
//! Servers are sorted by name. Each gets `offset = xxHash64(name) % M` and
//! `skip = xxHash64(name, seed 1) % (M − 1) + 1`, and fills the table in rounds along its
//! permutation `(offset + skip·j) % M`; with weights, a server takes a slot in round k only
//! once `k · weight ≥ its running target`. A request goes to `table[hash % M]`.

use super::ring_hash::xxhash64;
use super::{Balancer, PickView};
use crate::rng::SimRng;

/// Envoy Maglev.
#[derive(Clone, Debug)]
pub struct Maglev {
    table_size: u64,
    table: Vec<u32>,
    built_for: Option<u64>,
}

impl Maglev {
    /// A table of `table_size` slots (must be prime; Envoy's default is 65537).
    pub fn new(table_size: u32) -> Maglev {
        Maglev { table_size: u64::from(table_size), table: Vec::new(), built_for: None }
    }

    /// The lookup table (server per slot), for the browser's inspector.
    pub fn table(&self) -> &[u32] {
        &self.table
    }

    fn build(&mut self, view: &PickView<'_>) {
        struct Entry {
            server: u32,
            offset: u64,
            skip: u64,
            weight: f64,
            target: f64,
            next: u64,
        }
        let m = self.table_size;
        let servers = view.eligible();
        self.table.clear();
        if servers.is_empty() {
            return;
        }
        let total: f64 = servers.iter().map(|&s| f64::from(view.weight(s))).sum();
        let mut sorted: Vec<u32> = servers.to_vec();
        sorted.sort_by(|&a, &b| view.name(a).cmp(view.name(b)));
        let mut entries: Vec<Entry> = sorted
            .iter()
            .map(|&s| {
                let key = view.name(s).as_bytes();
                Entry {
                    server: s,
                    offset: xxhash64(key, 0) % m,
                    skip: xxhash64(key, 1) % (m - 1) + 1,
                    weight: f64::from(view.weight(s)) / total,
                    target: 0.0,
                    next: 0,
                }
            })
            .collect();
        let max_weight = entries.iter().map(|e| e.weight).fold(0.0, f64::max);
        let mut table = vec![u32::MAX; m as usize];
        let mut filled = 0u64;
        let mut iteration = 1u64;
        while filled < m {
            for e in entries.iter_mut() {
                if filled >= m {
                    break;
                }
                if (iteration as f64) * e.weight < e.target {
                    continue;
                }
                e.target += max_weight;
                let mut c = (e.offset + e.skip * e.next) % m;
                while table[c as usize] != u32::MAX {
                    e.next += 1;
                    c = (e.offset + e.skip * e.next) % m;
                }
                table[c as usize] = e.server;
                e.next += 1;
                filled += 1;
            }
            iteration += 1;
        }
        self.table = table;
    }
}

impl Balancer for Maglev {
    fn name(&self) -> &str {
        "maglev"
    }

    fn pick(&mut self, view: &PickView<'_>, _rng: &mut SimRng) -> Option<u32> {
        if self.built_for != Some(view.version()) {
            self.build(view);
            self.built_for = Some(view.version());
        }
        if self.table.is_empty() {
            return None;
        }
        Some(self.table[(view.key_xxhash() % self.table_size) as usize])
    }

    fn hash_share(&self, server: u32) -> Option<f64> {
        if self.table.is_empty() {
            return None;
        }
        Some(self.table.iter().filter(|&&s| s == server).count() as f64 / self.table.len() as f64)
    }

    fn explain(&self, view: &PickView<'_>, rng: &SimRng) -> super::PickExplanation {
        super::explain::hashed(
            self,
            view,
            rng,
            "Maglev (Envoy): the request's key is hashed into a lookup table filled by the healthy hosts in weighted turns; a server gets the keys of its share.",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::StaticView;

    fn table(weights: &[u32], names: Vec<String>, m: u32) -> Vec<u32> {
        let mut f = StaticView::new(weights);
        f.names = names;
        let mut maglev = Maglev::new(m);
        maglev.build(&f.view());
        maglev.table
    }

    /// Envoy `MaglevLoadBalancerTest.Basic` (test/extensions/load_balancing_policies/maglev/
    /// maglev_lb_test.cc): hosts 127.0.0.1:90..95, table size 7 → `{2,4,0,1,5,0,3}`.
    #[test]
    fn envoy_basic_table() {
        let names = (90..96).map(|p| format!("127.0.0.1:{p}")).collect();
        assert_eq!(table(&[1; 6], names, 7), vec![2, 4, 0, 1, 5, 0, 3]);
    }

    /// Envoy `BasicWithHostName`: keys "90".."95", table size 7 → `{2,5,0,3,4,1,0}`.
    #[test]
    fn envoy_hostname_table() {
        let names = (90..96).map(|p| format!("{p}")).collect();
        assert_eq!(table(&[1; 6], names, 7), vec![2, 5, 0, 3, 4, 1, 0]);
    }

    /// Envoy `MaglevLoadBalancerTest.Weighted`: :90 weight 1, :91 weight 2, table size 17.
    #[test]
    fn envoy_weighted_table() {
        let names = (90..92).map(|p| format!("127.0.0.1:{p}")).collect();
        assert_eq!(table(&[1, 2], names, 17), vec![1, 0, 0, 1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 0, 1]);
    }
}
