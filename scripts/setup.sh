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
