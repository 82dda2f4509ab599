//! gRPC client-side load-balancing policies: the sibling of [`Balancer`](super::Balancer) for
//! a client that balances over its own subchannels (one connection per resolved address)
//! instead of going through a proxy.
//!
//! Sources: gRPC's `doc/load-balancing.md` ("pick_first … tries to connect to the first
//! address … all RPCs are sent to it"; "round_robin … creates a subchannel to each address …
//! RPCs are sent to the ready subchannels in turn") and the policies in grpc-go
//! (`balancer/pickfirst`, `balancer/roundrobin`).

use crate::scenario::ClientAlgorithm;

/// How a client-side policy uses and connects its subchannels. The connection layer
/// (`model/conn/subchannel.rs`) asks it; the policy holds no state of its own (the rotation
/// position lives with the client).
pub trait SubchannelPolicy {
    /// The policy's name as gRPC's service config spells it.
    fn name(&self) -> &'static str;
    /// The subchannel to look at on try `k` of `n`, when the last one used was before `next`.
    fn candidate(&self, k: usize, n: usize, next: usize) -> usize;
    /// Whether only the first subchannel that is not draining may be used (pick_first sends
    /// everything to one address, even while it is busy).
    fn first_only(&self) -> bool;
    /// Whether the policy keeps a subchannel to every resolved address (and connects them
    /// as soon as they are resolved), rather than one connection at a time.
    fn connects_all(&self) -> bool;
}

/// gRPC `pick_first`: one connection, to the first address that accepts it.
pub struct PickFirst;

impl SubchannelPolicy for PickFirst {
    fn name(&self) -> &'static str {
        "pick_first"
    }
    fn candidate(&self, k: usize, _n: usize, _next: usize) -> usize {
        k
    }
    fn first_only(&self) -> bool {
        true
    }
    fn connects_all(&self) -> bool {
        false
    }
}

/// gRPC `round_robin`: a subchannel per address, requests rotate over the ready ones.
pub struct RoundRobin;

impl SubchannelPolicy for RoundRobin {
    fn name(&self) -> &'static str {
        "round_robin"
    }
    fn candidate(&self, k: usize, n: usize, next: usize) -> usize {
        (next + k) % n
    }
    fn first_only(&self) -> bool {
        false
    }
    fn connects_all(&self) -> bool {
        true
    }
}

impl ClientAlgorithm {
    /// The policy that implements this choice.
    pub fn policy(self) -> &'static dyn SubchannelPolicy {
        match self {
            ClientAlgorithm::PickFirst => &PickFirst,
            ClientAlgorithm::RoundRobin => &RoundRobin,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_rotates_from_the_next_subchannel_and_pick_first_starts_at_the_first() {
        let rr = ClientAlgorithm::RoundRobin.policy();
        let order: Vec<usize> = (0..4).map(|k| rr.candidate(k, 4, 2)).collect();
        assert_eq!(order, [2, 3, 0, 1]);
        let pf = ClientAlgorithm::PickFirst.policy();
        let order: Vec<usize> = (0..4).map(|k| pf.candidate(k, 4, 2)).collect();
        assert_eq!(order, [0, 1, 2, 3]);
        assert!(pf.first_only() && !pf.connects_all());
        assert!(!rr.first_only() && rr.connects_all());
    }
}
