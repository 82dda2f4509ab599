#!/usr/bin/env bash
# Installs what the checks need, idempotently (a second run changes nothing). Called by
# scripts/test.sh, so the test command works on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup component add rustfmt clippy >/dev/null 2>&1 || true

# The SimPy reference model, for the benchmark's side-by-side comparison (optional: the
# benchmark runs without it and says so).
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv >/dev/null 2>&1 || true
fi
if [ -x .venv/bin/python ] && ! .venv/bin/python -c "import simpy" >/dev/null 2>&1; then
  .venv/bin/pip install --quiet simpy==4.1.2 || echo "note: could not install SimPy; the benchmark will skip the comparison"
fi

# The npm packages of the page's checks (tests/e2e/package-lock.json: typescript, pinned, for
# `tsc -p www`; playwright-core for the browser tests), from the npm registry with `npm ci`,
# only when missing or when the lock file changed. scripts/web.sh reads the same stamp, so it
# does not install them again.
lock_sum=$(sha256sum tests/e2e/package-lock.json | cut -d' ' -f1)
if [ "$(cat tests/e2e/node_modules/.lock-sha 2>/dev/null)" != "$lock_sum" ]; then
  echo "setup.sh: npm ci in tests/e2e"
  (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_sum" >tests/e2e/node_modules/.lock-sha
fi

# Real nginx (with the stream module) and HAProxy from Debian's packages: the export tests run
# `nginx -t` and `haproxy -c` on every exported configuration (they never start a server).
missing=()
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || missing+=(nginx-light)
[ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || missing+=(libnginx-mod-stream)
[ -x /usr/sbin/haproxy ] || command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup.sh: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # The packages would start their services (nginx on port 80): a policy-rc.d that refuses
  # keeps them stopped; nothing here listens beyond what a test starts on 127.0.0.1.
  made_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
  fi
  apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -q "${missing[@]}" >/dev/null; }
  [ -z "$made_policy" ] || rm -f /usr/sbin/policy-rc.d
fi
