#!/usr/bin/env python3
"""Writes scenarios/data/access.log: a small, realistic, made-up nginx access log.

Deterministic (a fixed seed, only random.random() is used, whose sequence Python keeps stable),
no network, no input. The format is nginx's `combined` plus the end time in milliseconds
(`$msec`: `$time_local` has whole seconds only, which would bunch each second's requests
together in a replay) and the timing and upstream fields:

    log_format timed '$remote_addr - $remote_user [$time_local] "$request" $status '
                     '$body_bytes_sent "$http_referer" "$http_user_agent" '
                     '$msec $request_time $upstream_response_time $upstream_addr';

What is in it: 2,000 requests over about a minute and a half, the rate ramping from 10 to 35
requests/s (three single-worker servers from light load to about 0.6); three upstreams behind round robin, the third 2.5 times slower; service times
lognormal (median 20 ms) with a Pareto tail on 2% of requests (up to seconds), so p99.9 is
far above p50; a few requests retried on a second upstream (a list `0.005, 0.021`); a few
answered by nginx itself (upstream `-`); lines written in the order requests end, as nginx
does; and two malformed lines (a truncated line and binary junk), as real logs have.

Regenerate and re-import (from the repository root):

    python3 scripts/gen_access_log.py > scenarios/data/access.log
    cd scenarios && lbsim import log data/access.log --format nginx --log-format \
      '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $msec $request_time $upstream_response_time $upstream_addr' \
      > /dev/null

The second command rewrites scenarios/data/access.csv (a test checks that it matches).
"""

import math
import random

SEED = 15
REQUESTS = 2000
START = 1795860000  # 2026-11-28T10:00:00Z
UPSTREAMS = ["10.0.1.1:8080", "10.0.1.2:8080", "10.0.1.3:8080"]
SLOW = {"10.0.1.3:8080": 2.5}
PATHS = ["/api/items/{}", "/api/search?q=w{}", "/api/cart/{}", "/api/users/{}/orders"]
AGENTS = ["Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
          "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15",
          "okhttp/4.12.0", "curl/8.5.0"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

rng = random.Random(SEED)


def pick(items):
    return items[int(rng.random() * len(items)) % len(items)]


def normal():
    # Box-Muller from two uniforms (only random() is used, for stable output).
    u1 = 1.0 - rng.random()
    u2 = rng.random()
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def service(upstream):
    s = 0.020 * math.exp(0.6 * normal())
    if rng.random() < 0.02:
        s += 0.050 / (1.0 - rng.random()) ** (1 / 1.5)  # Pareto tail, alpha 1.5
    return min(s * SLOW.get(upstream, 1.0), 8.0)


def time_local(t):
    # Civil date from days since the epoch (UTC), as nginx prints it with +0000.
    secs = int(t)
    days, rem = divmod(secs, 86400)
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    y += m <= 2
    return "%02d/%s/%04d:%02d:%02d:%02d +0000" % (d, MONTHS[m - 1], y, rem // 3600, rem % 3600 // 60, rem % 60)


lines = []
t = 0.0
for i in range(REQUESTS):
    # Rate ramps linearly from 10/s to 35/s over the requests.
    rate = 10.0 + 25.0 * i / REQUESTS
    t += -math.log(1.0 - rng.random()) / rate
    ip = "203.0.113.%d" % (1 + int(rng.random() * 60))
    path = pick(PATHS).format(1 + int(rng.random() * 500))
    agent = pick(AGENTS)
    upstream = UPSTREAMS[i % 3]
    r = rng.random()
    if r < 0.01:
        # Answered by nginx itself (a 404 for a path no location proxies).
        path = "/favicon.ico"
        status, size, total, ups, addr = 404, 153, 0.0, "-", "-"
    elif r < 0.025:
        # The first upstream failed to connect; nginx retried the next one.
        second = UPSTREAMS[(i + 1) % 3]
        first_t = 0.001 + 0.004 * rng.random()
        s = service(second)
        status, size = 200, 400 + int(rng.random() * 4000)
        total = first_t + s + 0.0005
        ups = "%.3f, %.3f" % (first_t, s)
        addr = "%s, %s" % (upstream, second)
    else:
        s = service(upstream)
        status = 500 if rng.random() < 0.005 else 200
        size = 400 + int(rng.random() * 4000)
        total = s + 0.0005 + 0.001 * rng.random()
        ups, addr = "%.3f" % s, upstream
    end = START + t + total
    request = "GET %s HTTP/1.1" % path
    line = '%s - - [%s] "%s" %d %d "-" "%s" %.3f %.3f %s %s' % (
        ip, time_local(end), request, status, size, agent, end, total, ups, addr)
    lines.append((end, i, line))

lines.sort()
out = [line for _, _, line in lines]
# Two malformed lines, as real logs have: one cut off mid-write, one of binary junk.
out.insert(700, out[700][:60])
out.insert(1500, '\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xfc\\x03\\x03')
print("\n".join(out))
