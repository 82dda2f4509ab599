#!/usr/bin/env bash
# The conformance suite: lbsim against the real nginx and HAProxy (README, "Conformance"; each
# case file in conformance/ says what it checks). For each case in conformance/*.toml and each
# program: `lbsim export` writes the proxy's configuration, real backends
# (conformance/backend.py) and the proxy start on 127.0.0.1 only, a bounded open-loop load runs
# (conformance/driver.py), everything stops, and `lbsim run` of the same scenario is compared
# (conformance/suite.py); the table goes to conformance/results.md.
# Usage: scripts/conformance.sh [--quick] [--only NAME]   (exit 1 when a verdict fails)
# --quick: the cases marked `quick` (about a minute); --only NAME: the cases whose file name
# contains NAME. Both print their table rather than replace conformance/results.md.
# Needs bash and Python 3.11+ (standard library only). LBSIM=path skips the release build;
# KEEP=1 keeps the work directory (configurations, logs, every request of both sides).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=()
only=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=(--quick) ;;
    --only) only=("--only=${2:?--only needs a name}"); shift ;;
    --only=*) only=("$1") ;;
    *) echo "usage: scripts/conformance.sh [--quick] [--only NAME]" >&2; exit 2 ;;
  esac
  shift
done

py=python3
if [ -x .venv/bin/python ]; then py=.venv/bin/python; fi
"$py" -c 'import sys, tomllib; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
  || { echo "conformance.sh: needs Python 3.11 or newer (tomllib)" >&2; exit 2; }

if [ -z "${LBSIM:-}" ]; then
  cargo build --release -p sim-cli --quiet
  LBSIM="${CARGO_TARGET_DIR:-target}/release/lbsim"
fi
LBSIM=$(realpath "$LBSIM")

nginx=$(command -v nginx || echo /usr/sbin/nginx)
haproxy=$(command -v haproxy || echo /usr/sbin/haproxy)
if [ ! -x "$nginx" ] || [ ! -x "$haproxy" ]; then
  scripts/setup.sh
  nginx=$(command -v nginx || echo /usr/sbin/nginx)
  haproxy=$(command -v haproxy || echo /usr/sbin/haproxy)
fi
# (sed reads all of the output: `head` would close the pipe early, a SIGPIPE under pipefail)
versions="$("$nginx" -v 2>&1 | sed -n '1s/^nginx version: //p'), HAProxy $("$haproxy" -v 2>&1 | sed -n '1s/^HAProxy version \([^ ]*\).*/\1/p')"

work=$(mktemp -d "${TMPDIR:-/tmp}/lbsim-conformance.XXXXXX")
pids="$work/pids"
: >"$pids"
# No process left behind, whatever happens: every process the runner starts is in $pids.
cleanup() {
  local rc=$?
  [ -n "${runner:-}" ] && kill "$runner" 2>/dev/null || true
  while read -r pid; do
    kill "$pid" 2>/dev/null || true
  done <"$pids"
  sleep 0.5
  while read -r pid; do
    kill -9 "$pid" 2>/dev/null || true
  done <"$pids"
  if [ "${KEEP:-0}" = 1 ]; then echo "conformance.sh: work files kept in $work"; else rm -rf "$work"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The full suite's table is the one kept (conformance/results.md, copied into the README); a
# quick or partial run prints its table instead of replacing it.
out=conformance/results.md
if [ ${#quick[@]} -gt 0 ] || [ ${#only[@]} -gt 0 ]; then out="$work/results.md"; fi
status=0
"$py" conformance/suite.py --lbsim "$LBSIM" --nginx "$nginx" --haproxy "$haproxy" --work "$work" \
  --pids "$pids" --versions "$versions" --out "$out" "${quick[@]}" "${only[@]}" &
runner=$!
wait "$runner" || status=$?
runner=
if [ "$out" != conformance/results.md ] && [ -f "$out" ]; then cat "$out"; fi
exit "$status"
