//! Envoy's cluster circuit breakers (`[balancer.circuit_breakers]`), after the "Circuit
//! breaking" page of Envoy's architecture overview and `source/common/upstream/
//! resource_manager_impl.h`: each replica keeps, per pool (Envoy's cluster), the requests it
//! has in flight to servers and the retries outstanding; a request over `max_requests` is
//! refused at once with `overflow` (Envoy's 503 with `x-envoy-overloaded`, counted in
//! `upstream_rq_pending_overflow`), a retry over `max_retries` is not made (Envoy's
//! `upstream_rq_retry_overflow`) and the failure it would have retried goes to the client.
//!
//! What counts as a request in flight: from the moment the replica sends it to a server until
//! the answer is back at the replica (or the client gives up on it) — the replica's `active`
//! count, summed over the pool. A gRPC stream counts once for its life, as Envoy counts a
//! stream; a WebSocket once per connection. A retry is outstanding from the moment the
//! replica decides to make it until that try's answer is back (or the request ends).
//!
//! For a retry policy (helper G's `[balancer.retry]`): ask [`Simulation::can_retry`] before
//! retrying and take [`Simulation::hold_retry`] when you do; the hold is released with the
//! request's other holds.

use super::Simulation;
use super::state::*;
use crate::slab::Handle;

impl Simulation {
    /// Whether replica `r`'s circuit breakers let a new request of `pool` through
    /// (`max_requests`).
    #[inline]
    pub(super) fn breaker_admits(&self, r: u32, pool: u16) -> bool {
        match self.sc.balancer.circuit_breakers {
            None => true,
            Some(cb) => self.replicas[r as usize].pool_requests[pool as usize] < cb.max_requests,
        }
    }

    /// Whether replica `r` may start one more retry of `pool` now (`max_retries`); counts a
    /// refusal as a retry overflow.
    pub(crate) fn can_retry(&mut self, r: u32, pool: u16) -> bool {
        let Some(cb) = self.sc.balancer.circuit_breakers else { return true };
        let measuring = self.measuring();
        let replica = &mut self.replicas[r as usize];
        if replica.pool_retries[pool as usize] < cb.max_retries {
            return true;
        }
        if measuring {
            replica.retries_overflowed += 1;
        }
        false
    }

    /// Counts request `h`'s retry as outstanding at its replica until its try is answered.
    pub(crate) fn hold_retry(&mut self, h: Handle) {
        let Some(req) = self.reqs.get_mut(h) else { return };
        if req.holds & hold::RETRY != 0 {
            return;
        }
        req.holds |= hold::RETRY;
        let (r, pool) = (req.replica, req.pool);
        // One count for `max_retries` (per pool) and one for the retry budget (per replica).
        let replica = &mut self.replicas[r as usize];
        replica.pool_retries[pool as usize] += 1;
        replica.active_retries += 1;
    }

    /// Releases a retry taken by [`Simulation::hold_retry`] (`holds` had `hold::RETRY`).
    pub(super) fn release_retry(&mut self, r: u32, pool: u16) {
        let replica = &mut self.replicas[r as usize];
        let n = &mut replica.pool_retries[pool as usize];
        assert!(*n > 0, "replica {r}: retries went negative for pool {pool} at t={} ns", self.now);
        *n -= 1;
        assert!(replica.active_retries > 0, "replica {r}: retries went negative at t={} ns", self.now);
        replica.active_retries -= 1;
    }

    /// Refuses request `h` at replica `r`: its circuit breaker is open.
    pub(super) fn overflow(&mut self, h: Handle, r: u32) {
        if self.measuring() {
            self.replicas[r as usize].overflows += 1;
        }
        self.answer_client(h, crate::metrics::report::Outcome::Overflow, false);
    }
}

#[cfg(test)]
mod tests {
    use crate::model::Simulation;
    use crate::scenario::Scenario;

    fn run(text: &str) -> crate::metrics::report::Report {
        let sc = Scenario::from_toml(text).expect("valid test scenario");
        let mut sim = Simulation::new(&sc, sc.seed);
        while sim.step() {}
        let replica = &sim.replicas[0];
        assert!(replica.pool_requests.iter().all(|&n| n == 0), "requests left counted: {:?}", replica.pool_requests);
        assert!(replica.pool_retries.iter().all(|&n| n == 0), "retries left counted: {:?}", replica.pool_retries);
        assert!(replica.pool_pending.iter().all(|&n| n == 0), "pending left counted: {:?}", replica.pool_pending);
        sim.report()
    }

    /// M/M/c/K: the probability that an arrival finds K = c + `max_pending` in the system.
    fn mmck_loss(c: u32, k: u32, a: f64) -> f64 {
        let mut p = vec![1.0f64];
        for n in 1..=k {
            let servers = f64::from(n.min(c));
            p.push(p[p.len() - 1] * a / servers);
        }
        p[k as usize] / p.iter().sum::<f64>()
    }

    /// `max_connections` and `max_pending_requests` (Envoy's connection pool): HTTP/1.1
    /// upstream connections carry one request each, so c connections in front of a server
    /// with plenty of workers are c servers, the pending requests their waiting room, and the
    /// pool an M/M/c/K queue (Poisson arrivals, exponential service, no network delay): the
    /// share of requests that overflow is the M/M/c/K loss probability, and the waits are
    /// real (a pending request gets the first connection that frees).
    #[test]
    fn connection_pool_limits_make_an_mmck_queue() {
        let text = |pending: u32| {
            format!(
                r#"
                name = "mmck"
                seed = 5
                duration = "2000s"
                [[servers]]
                name = "api"
                count = 1
                workers = 1000
                service = {{ dist = "exponential", mean = "100ms" }}
                [[clients]]
                name = "c"
                count = 200
                rate = 0.2
                connections = 8
                protocol = "http1"
                [network]
                latency = "0s"
                [balancer.circuit_breakers]
                max_requests = 100000
                max_connections = 5
                max_pending_requests = {pending}
                "#
            )
        };
        for pending in [0, 5] {
            let r = run(&text(pending));
            let q = &r.requests;
            let loss = q.outcomes.overflow as f64 / q.sent as f64;
            let want = mmck_loss(5, 5 + pending, 4.0);
            assert!(
                (loss - want).abs() < 0.06 * want,
                "pending {pending}: overflow share {loss}, M/M/c/K {want} ({} of {})",
                q.outcomes.overflow,
                q.sent
            );
            assert_eq!(q.outcomes.ok + q.outcomes.overflow, q.sent, "one outcome each");
            assert!(
                r.servers[0].connections_max <= 5,
                "at most 5 upstream connections: {}",
                r.servers[0].connections_max
            );
        }
        // Erlang B for K = c: the loss of a pool without a waiting room.
        assert!((mmck_loss(5, 5, 4.0) - erlang_b(5, 4.0)).abs() < 1e-12);
    }

    /// An HTTP/1.1 upstream connection whose try the client abandoned (its `timeout` ran out
    /// while a 2 s server worked on it) is closed, as nginx and Envoy close it, without
    /// circuit breakers too: before, nothing released it (the server's late answer finds no
    /// request), so every abandoned try kept a connection open to the end of the run — 514
    /// at once to the slow server here. At most one try is out at a time per client
    /// connection, so the open upstream connections stay within the client's connections.
    #[test]
    fn an_abandoned_http1_try_closes_its_upstream_connection() {
        let r = run(r#"
            name = "abandoned"
            duration = "10s"
            [[servers]]
            name = "fast"
            service = { dist = "constant", value = "5ms" }
            [[servers]]
            name = "slow"
            workers = 4
            service = { dist = "constant", value = "2s" }
            [[clients]]
            name = "web"
            rate = 100
            protocol = "http1"
            timeout = "100ms"
            [balancer]
            layer = "l7"
            algorithm = "round_robin"
            "#);
        assert!(r.requests.outcomes.timeout > 400, "{:?}", r.requests.outcomes);
        for s in &r.servers {
            assert!(s.connections_max <= 1, "{}: {} upstream connections open at once", s.name, s.connections_max);
        }
    }

    /// Erlang's loss formula B(c, A) = (A^c / c!) / Σ_{k=0..c} A^k / k!.
    fn erlang_b(c: u32, a: f64) -> f64 {
        // The stable recurrence B(0) = 1, B(k) = A·B(k−1) / (k + A·B(k−1)).
        (1..=c).fold(1.0, |b, k| a * b / (f64::from(k) + a * b))
    }

    /// Theory: a breaker with `max_requests = c` in front of c workers (no network delay)
    /// makes an M/M/c/c loss system: Poisson arrivals (40 clients at 1/s), exponential
    /// service (100 ms), A = 4 erlangs on 5 workers. The share refused with `overflow` is
    /// Erlang B(5, 4) ≈ 0.199, within 5 % (about 4 standard errors at 80,000 requests).
    #[test]
    fn a_breaker_in_front_of_c_workers_loses_by_erlang_b() {
        let r = run(r#"
            name = "erlang-b"
            seed = 11
            duration = "2000s"
            [[servers]]
            name = "api"
            count = 1
            workers = 5
            service = { dist = "exponential", mean = "100ms" }
            [[clients]]
            name = "c"
            count = 40
            rate = 1
            protocol = "http2"
            [balancer.circuit_breakers]
            max_requests = 5
            "#);
        let q = &r.requests;
        let loss = q.outcomes.overflow as f64 / q.sent as f64;
        let want = erlang_b(5, 4.0);
        assert!((want - 0.1991).abs() < 1e-3, "{want}");
        assert!(
            (loss - want).abs() < 0.05 * want,
            "overflow share {loss}, Erlang B {want} ({} of {})",
            q.outcomes.overflow,
            q.sent
        );
        assert_eq!(q.outcomes.ok + q.outcomes.overflow, q.sent, "one outcome each");
        assert_eq!(r.replicas[0].overflows, q.outcomes.overflow);
        assert_eq!(r.servers[0].rejected, 0, "the breaker keeps the server's queue empty");
    }

    /// max_retries: four failing servers, `retry_on_error = 3`. With max_retries = 0 no retry
    /// is made (each one is counted as overflowed); with Envoy's default 3 and one request at a
    /// time, every failure is retried on the three other servers.
    #[test]
    fn max_retries_bounds_retries_outstanding() {
        let text = |max_retries: u32| {
            format!(
                r#"
                name = "retries"
                seed = 2
                duration = "10s"
                [[servers]]
                name = "api"
                count = 4
                error_rate = 1.0
                error_latency = "1ms"
                service = {{ dist = "constant", value = "1ms" }}
                [[clients]]
                name = "c"
                count = 1
                rate = 5
                [balancer]
                retry_on_error = 3
                fail_on_server_error = true
                [balancer.circuit_breakers]
                max_retries = {max_retries}
                "#
            )
        };
        let none = run(&text(0));
        let sent = none.requests.sent;
        assert_eq!(none.requests.outcomes.server_error, sent);
        assert_eq!(none.replicas[0].retries_overflowed, sent, "each failure's retry was refused");
        assert_eq!(none.servers.iter().map(|s| s.requests).sum::<u64>(), sent, "one try each");
        let three = run(&text(3));
        assert_eq!(three.replicas[0].retries_overflowed, 0);
        assert_eq!(three.servers.iter().map(|s| s.requests).sum::<u64>(), 4 * three.requests.sent, "four tries each");
    }
}
