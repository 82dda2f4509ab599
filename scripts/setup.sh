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
