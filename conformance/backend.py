#!/usr/bin/env python3
"""Real backends for the conformance suite: one asyncio process, one listening socket per
server instance of a scenario, all on 127.0.0.1.

Each backend is an HTTP/1.1 keep-alive server with a fixed number of workers (an
asyncio.Semaphore of the scenario's `workers`; waiters are served first come, first served, like
lbsim's FIFO queue) and service times drawn from the scenario's distribution with a seeded
random.Random per backend. Every answer carries `X-Backend: <lbsim server name>` so the driver
can say which backend served it, and `X-Service-Ms` with the service time drawn for it. `--kill NAME@T` crashes a backend T seconds after the load's
start (read from --t0-file once the suite writes it): its listening socket closes and its
connections are reset, as when a process dies.

Standard library only. Stops by itself after --lifetime seconds (a bound even if the suite that
started it dies without stopping it).
"""

import argparse
import asyncio
import json
import math
import os
import random
import signal
import socket
import sys
import time

MAX_HEADER_BYTES = 16 * 1024


def sampler(dist, rng):
    """A function giving one service time in seconds, drawn like lbsim's `service` table."""
    kind = dist["dist"]
    if kind == "constant":
        value = dist["value_s"]
        return lambda: value
    if kind == "exponential":
        mean = dist["mean_s"]
        return lambda: rng.expovariate(1.0 / mean) if mean > 0 else 0.0
    if kind == "uniform":
        lo, hi = dist["min_s"], dist["max_s"]
        return lambda: rng.uniform(lo, hi)
    if kind == "lognormal":
        mu = math.log(dist["p50_s"])
        sigma = (math.log(dist["p99_s"]) - mu) / 2.3263478740408408
        return lambda: rng.lognormvariate(mu, sigma)
    raise SystemExit(f"backend.py: unsupported service distribution {kind!r}")


class Backend:
    def __init__(self, spec, seed):
        self.name = spec["name"]
        self.port = spec["port"]
        self.slots = asyncio.Semaphore(spec["workers"])
        self.draw = sampler(spec["service"], random.Random(f"{seed}:{self.name}"))
        self.server = None
        self.writers = set()
        self.dead = False
        self.served = 0

    async def start(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.server = await asyncio.start_server(self.connection, sock=sock, backlog=1024)

    def kill(self):
        """A crash: no more connections, and every open one reset (SO_LINGER 0, then close)."""
        self.dead = True
        self.server.close()
        for w in list(self.writers):
            s = w.get_extra_info("socket")
            if s is not None:
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                except OSError:
                    pass
            w.transport.abort()
        self.writers.clear()

    async def connection(self, reader, writer):
        if self.dead:
            writer.transport.abort()
            return
        self.writers.add(writer)
        try:
            while not self.dead:
                head = await reader.readuntil(b"\r\n\r\n")
                if len(head) > MAX_HEADER_BYTES:
                    break
                length = 0
                close = False
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    k = k.strip().lower()
                    if k == b"content-length":
                        length = int(v.strip() or 0)
                    elif k == b"connection" and v.strip().lower() == b"close":
                        close = True
                if length:
                    await reader.readexactly(length)
                t = 0.0
                async with self.slots:
                    if self.dead:
                        break
                    t = self.draw()
                    if t > 0:
                        await asyncio.sleep(t)
                if self.dead:
                    break
                self.served += 1
                body = b"ok\n"
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Backend: "
                    + self.name.encode()
                    + b"\r\nX-Service-Ms: "
                    + f"{t * 1e3:.4f}".encode()
                    + b"\r\nContent-Length: "
                    + str(len(body)).encode()
                    + (b"\r\nConnection: close" if close else b"")
                    + b"\r\n\r\n"
                    + body
                )
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            pass
        finally:
            self.writers.discard(writer)
            if not writer.transport.is_closing():
                writer.close()


async def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--plan", required=True, help="JSON: {seed, backends: [{name, port, workers, service}]}")
    p.add_argument("--kill", action="append", default=[],
                   help="NAME@SECONDS: crash a backend that long after the load's start (see --t0-file)")
    p.add_argument("--t0-file", help="where the load's start time (epoch seconds) appears once it is known")
    p.add_argument("--ready", required=True, help="file written once every socket listens")
    p.add_argument("--lifetime", type=float, default=600.0, help="exit after this many seconds regardless")
    args = p.parse_args()
    with open(args.plan) as f:
        plan = json.load(f)
    backends = {b["name"]: Backend(b, plan["seed"]) for b in plan["backends"]}
    for b in backends.values():
        await b.start()
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    kills = []
    for k in args.kill:
        name, _, at = k.rpartition("@")
        if name not in backends:
            raise SystemExit(f"backend.py: --kill {k}: no backend {name!r}")
        kills.append((float(at), backends[name]))

    async def schedule_kills():
        # The start time is written once the proxy is ready; wait for it (bounded by --lifetime).
        while not os.path.exists(args.t0_file):
            await asyncio.sleep(0.05)
        with open(args.t0_file) as f:
            t0 = float(f.read())
        for at, b in kills:
            loop.call_later(max(0.0, t0 + at - time.time()), b.kill)

    # A reference to each background task, so none is collected while it runs.
    background = []
    if kills:
        if not args.t0_file:
            raise SystemExit("backend.py: --kill needs --t0-file")
        background.append(asyncio.create_task(schedule_kills()))
    with open(args.ready + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.replace(args.ready + ".tmp", args.ready)
    try:
        await asyncio.wait_for(stop, args.lifetime)
    except asyncio.TimeoutError:
        print("backend.py: lifetime reached, exiting", file=sys.stderr)
    for b in backends.values():
        if not b.dead:
            b.server.close()


if __name__ == "__main__":
    asyncio.run(main())
