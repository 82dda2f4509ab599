//! Balancing algorithms: one file per algorithm behind the small [`Balancer`] trait. A policy
//! is a choice given a read-only [`PickView`] of one pool as one balancer replica sees it; it
//! keeps its own state (weights, rings, estimates) and learns outcomes through [`Outcome`]s.

mod bounded_load;
mod explain;
mod first;
mod haproxy_hash;
mod haproxy_rr;
mod ip_hash;
pub(crate) mod ketama;
mod least_conn;
mod maglev;
mod peak_ewma;
mod power_of_two;
mod random;
mod random_draws;
mod random_two;
mod ring_hash;
mod ring_index;
mod round_robin;
mod static_rr;
mod subchannel;

pub use bounded_load::BoundedLoadHash;
pub use explain::{Candidate, PickExplanation, Randomness, Value};
pub use first::FirstAvailable;
pub use haproxy_hash::{HaproxyConsistentHash, HaproxyMapHash};
pub use haproxy_rr::HaproxyRoundRobin;
pub use ip_hash::IpHash;
pub use ketama::KetamaHash;
pub use least_conn::LeastConnections;
pub use maglev::Maglev;
pub use peak_ewma::PeakEwma;
pub use power_of_two::PowerOfTwo;
pub use random::WeightedRandom;
pub use random_draws::RandomDraws;
pub use random_two::RandomTwo;
pub use ring_hash::RingHash;
pub use round_robin::SmoothWeightedRoundRobin;
pub use static_rr::StaticRoundRobin;
pub use subchannel::{PickFirst, RoundRobin, SubchannelPolicy};

use crate::rng::SimRng;
use crate::scenario::{Algorithm, BalancerSpec};

/// What a balancer replica knows about one pool at the moment of a pick.
///
/// Server ids are global, dense indexes (`0..server_count()`); per-server facts are looked up
/// by id. `eligible()` lists, in configuration order, the members the replica may use now:
/// not marked down by health checks, not failed within nginx's `fail_timeout`, not draining,
/// and not already tried by this request.
pub struct PickView<'a> {
    pub(crate) now_ns: u64,
    pub(crate) members: &'a [u32],
    pub(crate) eligible: &'a [u32],
    pub(crate) available: &'a [bool],
    pub(crate) weights: &'a [u32],
    pub(crate) weight_scale: u32,
    pub(crate) active: &'a [u32],
    pub(crate) version: u64,
    pub(crate) members_version: u64,
    pub(crate) source_ip: u32,
    pub(crate) key: u64,
    /// Whether `key` is already the program's hash of the key's text (`hash_key_text`).
    pub(crate) key_text: bool,
    pub(crate) names: &'a [String],
}

impl<'a> PickView<'a> {
    /// Simulated time of the pick, in nanoseconds.
    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }

    /// Every member of the pool tier being balanced (primary or backup), in configuration
    /// order, available or not.
    pub fn members(&self) -> &'a [u32] {
        self.members
    }

    /// The members that may be picked now, in configuration order.
    pub fn eligible(&self) -> &'a [u32] {
        self.eligible
    }

    /// Whether `server` may be picked now.
    pub fn is_available(&self, server: u32) -> bool {
        self.available.get(server as usize).copied().unwrap_or(false)
    }

    /// Weight of a server: its configured weight × [`PickView::weight_scale`], ramped
    /// down while it is in slow start (`[balancer.slow_start]`).
    pub fn weight(&self, server: u32) -> u32 {
        self.weights[server as usize]
    }

    /// The weight of one configured unit: 1, or 100 with slow start (weights then move in
    /// hundredths so a ramped host can have a fraction of its configured weight). nginx's
    /// round robin steps its effective weight back by one unit per round.
    pub fn weight_scale(&self) -> u32 {
        self.weight_scale
    }

    /// Requests (L7) or connections (L4) this replica has in flight to a server.
    pub fn active(&self, server: u32) -> u32 {
        self.active[server as usize]
    }

    /// Number of server ids (the length of per-server tables an algorithm may keep).
    pub fn server_count(&self) -> usize {
        self.weights.len()
    }

    /// Changes whenever the eligible set (or a weight) changes: algorithms that build tables
    /// over it (rings, Maglev, weight checks) rebuild when it differs from the version they
    /// built for.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Changes whenever the member list changes (servers added or removed), not on health
    /// changes: algorithms that hash over all members (nginx) rebuild when it differs.
    pub fn members_version(&self) -> u64 {
        self.members_version
    }

    /// The client's IPv4 source address (what `ip_hash` hashes).
    pub fn source_ip(&self) -> u32 {
        self.source_ip
    }

    /// The request's hash key (per `hash_key`: address, session, path or header value).
    pub fn key(&self) -> u64 {
        self.key
    }

    /// Whether [`PickView::key`] is already the real program's hash of the key's text
    /// (`balancer.hash_key_text`, made by [`text_key`]) rather than a number to hash.
    pub fn key_is_text_hash(&self) -> bool {
        self.key_text
    }
}

/// [`text_key`] for a key of kind `hash_key`: HAProxy's `balance source` hashes the IPv4
/// address as a 32-bit number (`get_server_sh`), not its dotted text.
pub fn text_key_of(algorithm: Algorithm, hash_key: &crate::scenario::HashKey, text: &str) -> u64 {
    if matches!(algorithm, Algorithm::HaproxyConsistentHash | Algorithm::HaproxyMapHash)
        && *hash_key == crate::scenario::HashKey::SourceIp
        && let Ok(ip) = text.parse::<std::net::Ipv4Addr>()
    {
        return u64::from(u32::from(ip));
    }
    text_key(algorithm, text)
}

/// The hash a real program computes of a key's text, for `algorithm`'s ring: nginx's
/// `hash … consistent` takes `ngx_crc32_long` of the key (ngx_http_upstream_hash_module.c,
/// `ngx_http_upstream_init_chash_peer`), Envoy's header and address hash policies
/// `HashUtil::xxHash64` of the value (seed 0).
pub fn text_key(algorithm: Algorithm, text: &str) -> u64 {
    match algorithm {
        Algorithm::ConsistentHash | Algorithm::BoundedLoadHash => u64::from(crc32fast::hash(text.as_bytes())),
        Algorithm::HaproxyConsistentHash | Algorithm::HaproxyMapHash => u64::from(haproxy_hash::sdbm(text.as_bytes())),
        _ => ring_hash::xxhash64(text.as_bytes(), 0),
    }
}

impl<'a> PickView<'a> {
    /// The ring position of the request on an nginx ketama ring: crc32 of its key's text.
    pub(crate) fn key_crc(&self) -> u32 {
        if self.key_text { self.key as u32 } else { ketama::key_crc(self.key) }
    }

    /// The request's 64-bit hash for Envoy's ring hash and Maglev.
    pub(crate) fn key_xxhash(&self) -> u64 {
        if self.key_text { self.key } else { ring_hash::request_hash(self.key) }
    }

    /// What hash rings hash for a server: its address (`10.0.0.1:8080`, the real balancer's
    /// `server` line) where the scenario gives addresses, else its instance name (`api-2`).
    pub fn name(&self, server: u32) -> &'a str {
        &self.names[server as usize]
    }
}

/// How a request a replica routed ended, as the replica sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutcomeKind {
    /// The server answered (successfully, or with an error status such as a full queue).
    Answered,
    /// The connection to the server failed (refused or reset): nginx's `error`.
    ConnectionError,
    /// The client gave up before the answer came (timeout); the server may still be working.
    Abandoned,
    /// The server answered with an error that the balancer counts as a failed attempt
    /// (`fail_on_server_error`: nginx's `proxy_next_upstream http_500 …`).
    Failed,
}

impl OutcomeKind {
    /// Whether nginx counts the attempt as failed (`NGX_PEER_FAILED`): a connection error, or
    /// an error answer the configuration treats as one.
    pub fn is_failure(self) -> bool {
        matches!(self, OutcomeKind::ConnectionError | OutcomeKind::Failed)
    }
}

/// An owned, hand-made pool state for testing a policy outside a simulation:
/// `StaticView::new(&[weights]).view()` gives a [`PickView`] of servers `0..n`, all eligible.
#[derive(Clone, Debug)]
pub struct StaticView {
    /// Pool members in configuration order.
    pub members: Vec<u32>,
    /// Per-server availability.
    pub available: Vec<bool>,
    /// Per-server weight.
    pub weights: Vec<u32>,
    /// Per-server active requests.
    pub active: Vec<u32>,
    /// Per-server names.
    pub names: Vec<String>,
    /// The request key.
    pub key: u64,
    /// The client's address.
    pub source_ip: u32,
    /// The time of the pick.
    pub now_ns: u64,
    eligible: Vec<u32>,
    version: u64,
    members_version: u64,
}

impl StaticView {
    /// Servers `0..weights.len()` with these weights, all available and idle, named `s-1`….
    pub fn new(weights: &[u32]) -> StaticView {
        let n = weights.len();
        StaticView {
            members: (0..n as u32).collect(),
            available: vec![true; n],
            weights: weights.to_vec(),
            active: vec![0; n],
            names: (1..=n).map(|i| format!("s-{i}")).collect(),
            key: 0,
            source_ip: 0,
            now_ns: 0,
            eligible: (0..n as u32).collect(),
            version: 1,
            members_version: 1,
        }
    }

    /// Marks a server available or not (the eligible list and version follow).
    pub fn set_available(&mut self, server: u32, available: bool) {
        self.available[server as usize] = available;
        self.eligible = self.members.iter().copied().filter(|&s| self.available[s as usize]).collect();
        self.version += 1;
    }

    /// Replaces the member list (scale out / in); the eligible list and version follow.
    pub fn set_members(&mut self, members: Vec<u32>) {
        let n = members.iter().map(|&s| s as usize + 1).max().unwrap_or(0).max(self.weights.len());
        self.weights.resize(n, 1);
        self.available.resize(n, true);
        self.active.resize(n, 0);
        while self.names.len() < n {
            self.names.push(format!("s-{}", self.names.len() + 1));
        }
        self.members = members;
        self.eligible = self.members.iter().copied().filter(|&s| self.available[s as usize]).collect();
        self.version += 1;
        self.members_version += 1;
    }

    /// The view a policy sees. Its version also follows the weights, which tests may change
    /// directly.
    pub fn view(&self) -> PickView<'_> {
        let weights_print = self.weights.iter().fold(0u64, |h, &w| (h ^ u64::from(w)).rotate_left(29).wrapping_mul(K));
        PickView {
            now_ns: self.now_ns,
            members: &self.members,
            eligible: &self.eligible,
            available: &self.available,
            weights: &self.weights,
            weight_scale: 1,
            active: &self.active,
            version: self.version ^ weights_print,
            members_version: self.members_version,
            source_ip: self.source_ip,
            key: self.key,
            key_text: false,
            names: &self.names,
        }
    }
}

/// Mixes weights into [`StaticView`] versions.
const K: u64 = 0x9E37_79B9_7F4A_7C15;

/// What a replica learns when a request it sent to a server ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The server.
    pub server: u32,
    /// When the request was sent to the server.
    pub sent_ns: u64,
    /// When the answer (or the failure) came back.
    pub now_ns: u64,
    /// How it ended.
    pub kind: OutcomeKind,
}

/// A balancing policy. Implement it to test your own algorithm with lbsim (see
/// `Simulation::with_balancer`).
pub trait Balancer: Send {
    /// The algorithm's name, for reports.
    fn name(&self) -> &str;

    /// Picks a server among `view.eligible()`, or `None` if there is nothing to pick.
    /// Picking a server outside `eligible()` is allowed (that is how a broken balancer
    /// behaves) and is recorded as such.
    fn pick(&mut self, view: &PickView<'_>, rng: &mut SimRng) -> Option<u32>;

    /// Called when a request the policy routed ends (successfully or not).
    fn observe(&mut self, _outcome: &Outcome) {}

    /// A short description of the policy's internal state for one server, for the browser's
    /// inspector (e.g. a smooth-WRR current weight or an EWMA estimate).
    fn inspect(&self, _server: u32, _now_ns: u64) -> Option<f64> {
        None
    }

    /// For hash policies: the share of the key space (ring arcs or table slots) a server owns,
    /// as last built.
    fn hash_share(&self, _server: u32) -> Option<f64> {
        None
    }

    /// The server [`Balancer::pick`] would choose next for a request seen with `view`, with
    /// the policy's state as it is and `rng` as the replica's pick stream now, and why: the
    /// rule in a sentence, the candidates with the numbers the rule compares, the winner, and
    /// how much chance is in it. It must not change anything (the browser's inspector calls
    /// it between picks). Built-ins answer by picking on clones of themselves and the stream,
    /// so the answer is exact; a custom policy answers "no explanation" unless it implements
    /// this ([`PickExplanation::unexplained`]).
    fn explain(&self, _view: &PickView<'_>, _rng: &SimRng) -> PickExplanation {
        PickExplanation::unexplained(self.name())
    }
}

/// The share of a 2^bits key space each server owns on a sorted ring: a point owns the arc
/// from the previous point (the first point owns the wrap-around arc).
pub(crate) fn ring_share(
    points: impl ExactSizeIterator<Item = (u64, u32)> + Clone,
    server: u32,
    space: f64,
) -> Option<f64> {
    let n = points.len();
    if n == 0 {
        return None;
    }
    let last = points.clone().last()?.0;
    let mut prev = last;
    let mut owned = 0.0;
    for (i, (p, s)) in points.enumerate() {
        let arc = if i == 0 { (space - last as f64) + p as f64 } else { (p - prev) as f64 };
        if s == server {
            owned += arc;
        }
        prev = p;
    }
    Some(owned / space)
}

/// The parameters built-in algorithms read from the scenario.
#[derive(Clone, Debug)]
pub(crate) struct BuiltInParams {
    /// Power-of-d sample size.
    pub choices: u32,
    /// Bounded-load capacity factor.
    pub balance_factor: f64,
    /// Maglev table size (prime).
    pub table_size: u32,
    /// Minimum ring size.
    pub ring_size: u32,
    /// Peak EWMA decay.
    pub decay_ns: u64,
    /// Peak EWMA initial estimate.
    pub default_rtt_ns: u64,
    /// nginx `max_fails` (0 = passive checks off): a failure lowers a server's effective
    /// weight by `weight / max_fails` in the round-robin family.
    pub max_fails: u32,
    /// HAProxy `first`: connections per server before the next one is used (0 = unlimited).
    pub max_conns: u32,
}

impl BuiltInParams {
    /// Parameters from a balancer spec.
    pub fn from_spec(b: &BalancerSpec) -> BuiltInParams {
        BuiltInParams {
            choices: b.choices,
            balance_factor: b.balance_factor,
            table_size: b.table_size,
            ring_size: b.ring_size,
            decay_ns: b.peak_ewma.decay_ns,
            default_rtt_ns: b.peak_ewma.default_rtt_ns,
            max_fails: b.passive.map_or(0, |p| p.max_fails),
            max_conns: b.max_conns,
        }
    }
}

/// Any balancer a replica runs: a built-in algorithm, dispatched statically on the hot path,
/// or a custom policy, boxed.
pub(crate) enum AnyBalancer {
    /// nginx smooth weighted round robin.
    RoundRobin(SmoothWeightedRoundRobin),
    /// Weighted random.
    Random(WeightedRandom),
    /// nginx least_conn.
    LeastConnections(LeastConnections),
    /// Envoy least_request (power of d choices).
    PowerOfTwo(PowerOfTwo),
    /// nginx ip_hash.
    IpHash(IpHash),
    /// nginx consistent hashing (ketama).
    ConsistentHash(KetamaHash),
    /// Envoy ring hash.
    RingHash(RingHash),
    /// Envoy Maglev.
    Maglev(Maglev),
    /// Consistent hashing with bounded loads.
    BoundedLoadHash(BoundedLoadHash),
    /// Linkerd peak EWMA.
    PeakEwma(PeakEwma),
    /// nginx random two least_conn.
    RandomTwo(RandomTwo),
    /// HAProxy random(N).
    RandomDraws(RandomDraws),
    /// HAProxy first.
    First(FirstAvailable),
    /// HAProxy static-rr.
    StaticRr(StaticRoundRobin),
    /// HAProxy roundrobin.
    HaproxyRoundRobin(HaproxyRoundRobin),
    /// HAProxy hash-type consistent.
    HaproxyConsistentHash(HaproxyConsistentHash),
    /// HAProxy hash-type map-based.
    HaproxyMapHash(HaproxyMapHash),
    /// A user's own policy.
    Custom(Box<dyn Balancer>),
}

impl AnyBalancer {
    /// A fresh instance of a built-in algorithm.
    pub fn new(algorithm: Algorithm, params: &BuiltInParams) -> AnyBalancer {
        match algorithm {
            Algorithm::RoundRobin => AnyBalancer::RoundRobin(SmoothWeightedRoundRobin::new(params.max_fails)),
            Algorithm::Random => AnyBalancer::Random(WeightedRandom::default()),
            Algorithm::LeastConnections => AnyBalancer::LeastConnections(LeastConnections::notified(params.max_fails)),
            Algorithm::PowerOfTwo => AnyBalancer::PowerOfTwo(PowerOfTwo::new(params.choices)),
            Algorithm::IpHash => AnyBalancer::IpHash(IpHash::default()),
            Algorithm::ConsistentHash => AnyBalancer::ConsistentHash(KetamaHash::default()),
            Algorithm::RingHash => AnyBalancer::RingHash(RingHash::new(params.ring_size)),
            Algorithm::Maglev => AnyBalancer::Maglev(Maglev::new(params.table_size)),
            Algorithm::BoundedLoadHash => {
                AnyBalancer::BoundedLoadHash(BoundedLoadHash::notified(params.balance_factor))
            }
            Algorithm::PeakEwma => AnyBalancer::PeakEwma(PeakEwma::new(params.decay_ns, params.default_rtt_ns)),
            Algorithm::RandomTwo => AnyBalancer::RandomTwo(RandomTwo::new(params.max_fails)),
            Algorithm::RandomDraws => AnyBalancer::RandomDraws(RandomDraws::new(params.choices)),
            Algorithm::First => AnyBalancer::First(FirstAvailable::notified(params.max_conns)),
            Algorithm::StaticRr => AnyBalancer::StaticRr(StaticRoundRobin::default()),
            Algorithm::HaproxyRoundRobin => AnyBalancer::HaproxyRoundRobin(HaproxyRoundRobin::default()),
            Algorithm::HaproxyConsistentHash => AnyBalancer::HaproxyConsistentHash(HaproxyConsistentHash::default()),
            Algorithm::HaproxyMapHash => AnyBalancer::HaproxyMapHash(HaproxyMapHash::default()),
        }
    }

    /// Dispatches a pick.
    #[inline]
    pub fn pick(&mut self, view: &PickView<'_>, rng: &mut SimRng) -> Option<u32> {
        match self {
            AnyBalancer::RoundRobin(a) => a.pick(view, rng),
            AnyBalancer::Random(a) => a.pick(view, rng),
            AnyBalancer::LeastConnections(a) => a.pick(view, rng),
            AnyBalancer::PowerOfTwo(a) => a.pick(view, rng),
            AnyBalancer::IpHash(a) => a.pick(view, rng),
            AnyBalancer::ConsistentHash(a) => a.pick(view, rng),
            AnyBalancer::RingHash(a) => a.pick(view, rng),
            AnyBalancer::Maglev(a) => a.pick(view, rng),
            AnyBalancer::BoundedLoadHash(a) => a.pick(view, rng),
            AnyBalancer::PeakEwma(a) => a.pick(view, rng),
            AnyBalancer::RandomTwo(a) => a.pick(view, rng),
            AnyBalancer::RandomDraws(a) => a.pick(view, rng),
            AnyBalancer::First(a) => a.pick(view, rng),
            AnyBalancer::StaticRr(a) => a.pick(view, rng),
            AnyBalancer::HaproxyRoundRobin(a) => a.pick(view, rng),
            AnyBalancer::HaproxyConsistentHash(a) => a.pick(view, rng),
            AnyBalancer::HaproxyMapHash(a) => a.pick(view, rng),
            AnyBalancer::Custom(a) => a.pick(view, rng),
        }
    }

    /// Dispatches an outcome.
    #[inline]
    pub fn observe(&mut self, outcome: &Outcome) {
        match self {
            AnyBalancer::RoundRobin(a) => a.observe(outcome),
            AnyBalancer::PeakEwma(a) => a.observe(outcome),
            AnyBalancer::LeastConnections(a) => a.observe(outcome),
            AnyBalancer::Custom(a) => a.observe(outcome),
            _ => {}
        }
    }

    /// The replica's active count of `server` changed to `active` (from `hold_active` and
    /// `release_active`): the algorithms that keep counts in an ordered structure move it.
    #[inline]
    pub fn active_changed(&mut self, server: u32, active: u32) {
        match self {
            AnyBalancer::LeastConnections(a) => a.active_changed(server, active),
            AnyBalancer::BoundedLoadHash(a) => a.active_changed(server, active),
            AnyBalancer::First(a) => a.active_changed(server, active),
            _ => {}
        }
    }

    /// A request with this key will be picked for soon: the ketama policies ask for the ring
    /// line its lookup reads (a hint, no effect on any pick: at 10,000 servers the table is
    /// 16 MiB read at random, a miss to memory per pick).
    #[inline]
    pub fn prefetch_key(&self, key: u64, key_text: bool) {
        let crc = || if key_text { key as u32 } else { ketama::key_crc(key) };
        match self {
            AnyBalancer::ConsistentHash(a) => a.prefetch(crc()),
            AnyBalancer::BoundedLoadHash(a) => a.prefetch(crc()),
            _ => {}
        }
    }

    /// The policy as a trait object (for inspection).
    pub fn as_balancer(&self) -> &dyn Balancer {
        match self {
            AnyBalancer::RoundRobin(a) => a,
            AnyBalancer::Random(a) => a,
            AnyBalancer::LeastConnections(a) => a,
            AnyBalancer::PowerOfTwo(a) => a,
            AnyBalancer::IpHash(a) => a,
            AnyBalancer::ConsistentHash(a) => a,
            AnyBalancer::RingHash(a) => a,
            AnyBalancer::Maglev(a) => a,
            AnyBalancer::BoundedLoadHash(a) => a,
            AnyBalancer::PeakEwma(a) => a,
            AnyBalancer::RandomTwo(a) => a,
            AnyBalancer::RandomDraws(a) => a,
            AnyBalancer::First(a) => a,
            AnyBalancer::StaticRr(a) => a,
            AnyBalancer::HaproxyRoundRobin(a) => a,
            AnyBalancer::HaproxyConsistentHash(a) => a,
            AnyBalancer::HaproxyMapHash(a) => a,
            AnyBalancer::Custom(a) => a.as_ref(),
        }
    }
}

/// A fresh instance of a built-in algorithm with the parameters `spec` gives it, for
/// exercising a policy outside a run (with a [`StaticView`]).
pub fn built_in(algorithm: Algorithm, spec: &BalancerSpec) -> Box<dyn Balancer> {
    match AnyBalancer::new(algorithm, &BuiltInParams::from_spec(spec)) {
        AnyBalancer::RoundRobin(a) => Box::new(a),
        AnyBalancer::Random(a) => Box::new(a),
        // Outside a simulation nothing reports count changes.
        AnyBalancer::LeastConnections(a) => Box::new(a.unnotified()),
        AnyBalancer::PowerOfTwo(a) => Box::new(a),
        AnyBalancer::IpHash(a) => Box::new(a),
        AnyBalancer::ConsistentHash(a) => Box::new(a),
        AnyBalancer::RingHash(a) => Box::new(a),
        AnyBalancer::Maglev(a) => Box::new(a),
        AnyBalancer::BoundedLoadHash(a) => Box::new(a.unnotified()),
        AnyBalancer::PeakEwma(a) => Box::new(a),
        AnyBalancer::RandomTwo(a) => Box::new(a),
        AnyBalancer::RandomDraws(a) => Box::new(a),
        AnyBalancer::First(a) => Box::new(a.unnotified()),
        AnyBalancer::StaticRr(a) => Box::new(a),
        AnyBalancer::HaproxyRoundRobin(a) => Box::new(a),
        AnyBalancer::HaproxyConsistentHash(a) => Box::new(a),
        AnyBalancer::HaproxyMapHash(a) => Box::new(a),
        AnyBalancer::Custom(a) => a,
    }
}

/// One line per built-in algorithm: name, the system whose semantics it follows, parameters.
pub fn catalogue() -> Vec<(Algorithm, &'static str, &'static str)> {
    Algorithm::ALL
        .iter()
        .map(|&a| {
            let (source, params) = match a {
                Algorithm::RoundRobin => (
                    "nginx smooth weighted round robin (ngx_http_upstream_round_robin.c); weights 5,1,1 pick a a b a c a a",
                    "servers[].weight",
                ),
                Algorithm::Random => ("nginx `random` (weighted, without `two`)", "servers[].weight"),
                Algorithm::LeastConnections => (
                    "nginx least_conn: lowest active/weight, ties by smooth weighted round robin",
                    "servers[].weight",
                ),
                Algorithm::PowerOfTwo => (
                    "Envoy least_request: sample `choices` hosts (with replacement), fewest active requests wins",
                    "balancer.choices (default 2)",
                ),
                Algorithm::IpHash => (
                    "nginx ip_hash: first three IPv4 octets, h=(h*113+b)%6271 from 89, 20 re-hashes then round robin",
                    "servers[].weight",
                ),
                Algorithm::ConsistentHash => (
                    "nginx `hash $key consistent` (ketama): 160 crc32 points per weight, first point ≥ crc32(key), walk past down servers",
                    "balancer.hash_key",
                ),
                Algorithm::RingHash => (
                    "Envoy ring hash: xxHash64 of \"<host>_<i>\", ring rescaled to ≥ ring_size entries over healthy hosts",
                    "balancer.ring_size (default 1024), balancer.hash_key",
                ),
                Algorithm::Maglev => (
                    "Envoy Maglev: offset/skip from xxHash64 (seeds 0 and 1), weighted rounds, table[hash % M]",
                    "balancer.table_size (prime, default 65537), balancer.hash_key",
                ),
                Algorithm::BoundedLoadHash => (
                    "consistent hashing with bounded loads (Mirrokni et al.; HAProxy hash-balance-factor): ⌈c·(m+1)⌉ slots, overflow walks clockwise",
                    "balancer.balance_factor (default 1.25), balancer.hash_key",
                ),
                Algorithm::PeakEwma => (
                    "Linkerd/tower peak EWMA: cost = EWMA latency (peak-sensitive) × (pending+1), P2C over two distinct hosts",
                    "balancer.peak_ewma.decay (10s), balancer.peak_ewma.default_rtt (30ms)",
                ),
                Algorithm::RandomTwo => (
                    "nginx `random two [least_conn]`: two DISTINCT weighted draws, lower conns/weight wins, ties to the second",
                    "servers[].weight",
                ),
                Algorithm::RandomDraws => (
                    "HAProxy `random(N)`: N weighted draws (with replacement), least served/weight wins, ties to the later",
                    "balancer.choices (default 2), servers[].weight",
                ),
                Algorithm::First => (
                    "HAProxy `first` (lb_fas.c): the first server in order with fewer than max_conns connections",
                    "balancer.max_conns (0 = unlimited)",
                ),
                Algorithm::StaticRr => (
                    "HAProxy `static-rr` (lb_map.c): a precomputed map of gcd-reduced weights; weights 5,1,1 pick a a a b a a c",
                    "servers[].weight",
                ),
                Algorithm::HaproxyRoundRobin => (
                    "HAProxy `roundrobin` (lb_fwrr.c, fast weighted round robin); weights 5,1,1 pick a a a b a a c",
                    "servers[].weight",
                ),
                Algorithm::HaproxyConsistentHash => (
                    "HAProxy `hash-type consistent` (lb_chash.c): 16 points per weight at full_hash(puid·4096 + j), the nearest point to full_hash(sdbm(key))",
                    "balancer.hash_key, servers[].weight",
                ),
                Algorithm::HaproxyMapHash => (
                    "HAProxy `hash-type map-based` (lb_map.c), its default: sdbm(key) modulo the gcd-reduced weights' map of usable servers",
                    "balancer.hash_key, servers[].weight",
                ),
            };
            (a, source, params)
        })
        .collect()
}
