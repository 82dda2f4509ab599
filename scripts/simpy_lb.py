#!/usr/bin/env python3
"""The SimPy model `lbsim bench --simpy N` compares lbsim with: the bench's queueing case.

One Poisson source sends requests at total rate lam * servers / service through a balancer
to `servers` single-worker FIFO servers with exponential service times (mean 10 ms), as
`Scenario::reference_queueing` builds it in lbsim. The balancer counts each server's
outstanding requests (queued + in service) and picks by `--policy`:

  p2c     two servers drawn uniformly with replacement, the one with fewer outstanding
          requests (the first drawn on a tie), like lbsim's power_of_two (Envoy LEAST_REQUEST)
  rr      round robin
  lc      the fewest outstanding requests (the lowest index on a tie)
  random  uniformly at random

The first 10% of the requests are warmup and left out of the mean, as lbsim leaves out the
first 10% of the run's time. The model keeps a running sum of latencies, not every latency,
so its memory does not grow with the run.

Output, one line of key=value pairs (the bench reads requests_per_s and maxrss_mib):

  requests=N mean_ms=M requests_per_s=R wall_s=W maxrss_mib=X

requests_per_s is simulated requests per second of wall-clock time spent in `env.run()`.

    python3 scripts/simpy_lb.py --policy p2c --servers 100 --lam 0.9 --requests 1000000
"""

import argparse
import random
import resource
import sys
import time

try:
    import simpy
except ImportError:
    sys.exit("simpy_lb.py needs SimPy: pip install simpy==4.1.2 (scripts/setup.sh installs it into .venv)")

POLICIES = ("p2c", "rr", "lc", "random")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--policy", choices=POLICIES, default="p2c")
    p.add_argument("--servers", type=int, default=100, help="number of servers (>= 1)")
    p.add_argument("--lam", type=float, default=0.9, help="load per server, 0 < lam < 1")
    p.add_argument("--requests", type=int, default=1_000_000, help="requests to send (>= 10)")
    p.add_argument("--service-ms", type=float, default=10.0, help="mean service time in ms")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    if args.servers < 1:
        p.error("--servers must be at least 1")
    if not 0.0 < args.lam < 1.0:
        p.error("--lam must be between 0 and 1 (exclusive): at 1 or above the queues grow without bound")
    if args.requests < 10:
        p.error("--requests must be at least 10")
    if not args.service_ms > 0.0:
        p.error("--service-ms must be positive")
    return args


def simulate(policy, n, lam, requests, service_ms, seed):
    """Runs the model; returns (mean latency in ms over the measured requests, wall seconds)."""
    rng = random.Random(seed)
    env = simpy.Environment()
    servers = [simpy.Resource(env, capacity=1) for _ in range(n)]
    outstanding = [0] * n
    warmup = requests // 10
    totals = {"sum_ms": 0.0, "count": 0, "next_rr": 0}
    arrival_rate = lam * n / service_ms  # requests per ms
    service_rate = 1.0 / service_ms

    def pick():
        if policy == "p2c":
            a = rng.randrange(n)
            b = rng.randrange(n)
            return b if outstanding[b] < outstanding[a] else a
        if policy == "rr":
            i = totals["next_rr"]
            totals["next_rr"] = (i + 1) % n
            return i
        if policy == "lc":
            return min(range(n), key=outstanding.__getitem__)
        return rng.randrange(n)

    def request(index, server):
        arrived = env.now
        with servers[server].request() as slot:
            yield slot
            yield env.timeout(rng.expovariate(service_rate))
        outstanding[server] -= 1
        if index >= warmup:
            totals["sum_ms"] += env.now - arrived
            totals["count"] += 1

    def source():
        for index in range(requests):
            yield env.timeout(rng.expovariate(arrival_rate))
            server = pick()
            outstanding[server] += 1
            env.process(request(index, server))

    env.process(source())
    start = time.perf_counter()
    env.run()
    wall = time.perf_counter() - start
    return totals["sum_ms"] / max(totals["count"], 1), wall


def main(argv):
    args = parse_args(argv)
    mean_ms, wall = simulate(args.policy, args.servers, args.lam, args.requests, args.service_ms, args.seed)
    # ru_maxrss is in KiB on Linux.
    maxrss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(
        f"requests={args.requests} mean_ms={mean_ms:.4f} requests_per_s={args.requests / wall:.1f} "
        f"wall_s={wall:.3f} maxrss_mib={maxrss_mib:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
