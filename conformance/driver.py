#!/usr/bin/env python3
"""Load driver for the conformance suite: bounded open-loop HTTP/1.1 load, as lbsim's clients.

Like lbsim (docs/scenario-format.md, `[[clients]]`): each client sends requests at its own
Poisson (or constant-gap) rate — drawn here, or replayed from the send times lbsim's own run
drew (its trace), so both sides see the same arrivals — and has a keep-alive pool of
`connections` connections; a request
waits at the client for a free connection, and that wait is part of its latency. Each client's
connections are bound to its source address (any 127.x.y.z on Linux), so a balancer hashing the
client address sees distinct sources. Arrival gaps come from a seeded random.Random per client.

Bounded: at most --max-requests requests, none issued after the scenario's duration, and a hard
--time-limit after which unanswered requests are recorded as such and the driver exits.
One JSON line per request: client, source, path, send and answer times (seconds since the
start), the X-Backend header, the service time the backend drew (X-Service-Ms, in seconds),
the status (0: connection error or reset, -1: unanswered).
"""

import argparse
import asyncio
import json
import random
import sys
import time

MAX_RESPONSE_BYTES = 1 << 20


class Client:
    def __init__(self, spec, plan, records, t0, budget):
        self.spec = spec
        self.plan = plan
        self.records = records
        self.t0 = t0
        self.budget = budget
        self.rng = random.Random(f"{plan['seed']}:{spec['name']}")
        self.queue = asyncio.Queue()
        paths = spec.get("paths") or [["/", 1.0]]
        self.paths = [p for p, _ in paths]
        self.weights = [w for _, w in paths]

    def times(self):
        """The client's send times: given (lbsim's own arrivals, replayed), or drawn here."""
        given = self.spec.get("times")
        if given is not None:
            yield from given
            return
        rate = self.spec["rate"]
        if rate <= 0:
            return
        gap = 1.0 / rate
        t = self.rng.uniform(0, gap) if self.spec.get("arrival") == "constant" else self.rng.expovariate(rate)
        while True:
            yield t
            t += gap if self.spec.get("arrival") == "constant" else self.rng.expovariate(rate)

    async def arrivals(self):
        """Issues requests until the duration (or the shared budget) is spent."""
        for t in self.times():
            if t >= self.plan["duration_s"] or self.budget[0] <= 0:
                break
            self.budget[0] -= 1
            delay = self.t0 + t - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            path = self.rng.choices(self.paths, self.weights)[0]
            rec = {"client": self.spec["name"], "source": self.spec["source"], "path": path,
                   "send": time.time() - self.t0, "answer": None, "backend": None, "status": -1}
            self.records.append(rec)
            await self.queue.put(rec)

    async def connection(self):
        """One keep-alive connection of the pool: takes waiting requests in order."""
        host, port = self.plan["target"].rsplit(":", 1)
        reader = writer = None
        while True:
            rec = await self.queue.get()
            if rec is None:
                break
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, int(port), local_addr=(self.spec["source"], 0))
                writer.write(f"GET {rec['path']} HTTP/1.1\r\nHost: lbsim-conformance\r\n\r\n".encode())
                await writer.drain()
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                status = int(lines[0].split()[1])
                length, close, backend = None, False, None
                for line in lines[1:]:
                    k, _, v = line.partition(":")
                    k, v = k.strip().lower(), v.strip()
                    if k == "content-length":
                        length = int(v)
                    elif k == "connection" and v.lower() == "close":
                        close = True
                    elif k == "x-backend":
                        backend = v
                    elif k == "x-service-ms":
                        rec["service"] = float(v) / 1e3
                if length is None:
                    await reader.read(MAX_RESPONSE_BYTES)
                    close = True
                elif length:
                    await reader.readexactly(min(length, MAX_RESPONSE_BYTES))
                rec.update(answer=time.time() - self.t0, status=status, backend=backend)
                if close:
                    writer.close()
                    reader = writer = None
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError) as e:
                rec.update(answer=time.time() - self.t0, status=0, error=type(e).__name__)
                if writer is not None:
                    writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    async def run(self):
        pool = [asyncio.create_task(self.connection()) for _ in range(self.spec["connections"])]
        await self.arrivals()
        for _ in pool:
            await self.queue.put(None)
        await asyncio.gather(*pool)


async def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--plan", required=True,
                   help="JSON: {target, seed, duration_s, clients: [{name, source, rate, connections, arrival, "
                        "paths, times (optional: the send times, seconds)}]}")
    p.add_argument("--t0", type=float, required=True, help="start time, epoch seconds")
    p.add_argument("--max-requests", type=int, required=True)
    p.add_argument("--time-limit", type=float, required=True, help="seconds after --t0")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    with open(args.plan) as f:
        plan = json.load(f)
    records = []
    budget = [args.max_requests]
    clients = [Client(c, plan, records, args.t0, budget) for c in plan["clients"]]
    delay = args.t0 - time.time()
    if delay > 0:
        await asyncio.sleep(delay)
    tasks = [asyncio.create_task(c.run()) for c in clients]
    done, pending = await asyncio.wait(tasks, timeout=max(0.0, args.t0 + args.time_limit - time.time()))
    for t in pending:
        t.cancel()
    if pending:
        print(f"driver.py: time limit reached with {len(pending)} client(s) unfinished", file=sys.stderr)
        await asyncio.gather(*pending, return_exceptions=True)
    for t in done:
        if t.exception() is not None:
            raise t.exception()
    with open(args.out, "w") as f:
        for r in sorted(records, key=lambda r: r["send"]):
            f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
