#!/usr/bin/env bash
# Runs every check the project has: formatting, lints, all tests (unit, integration,
# property, theory, CLI-through-the-binary), the browser tests (wasm in Node.js, the page in
# headless Chromium), the benchmark in its quick mode and the conformance suite against the real
# nginx and HAProxy in its quick mode.
# This is the README's test command and what CI runs after installing what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "setup (idempotent installs)"
scripts/setup.sh

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo doc (no warnings)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
# The workspace build turns sim-core's proptest feature on; its docs must build without it too.
RUSTDOCFLAGS="-D warnings" cargo doc -p sim-core --no-deps --quiet

step "tests (profile ci: release speed with debug assertions)"
cargo test --workspace --profile ci

step "browser build: the wasm core (www/pkg/, sim-web/pkg-node/)"
web=0
scripts/web.sh build || web=$?
if [ "$web" -eq 3 ]; then
  printf '\n!! SKIPPED the wasm build: this machine has no wasm32 toolchain (see above)\n\n'
elif [ "$web" -ne 0 ]; then
  exit "$web"
fi

step "the page's JavaScript: unit tests of its pure helpers (Node.js), tsc --noEmit -p www"
node --test --test-reporter=spec tests/e2e/unit.test.mjs
if [ "$web" -eq 0 ]; then
  tests/e2e/node_modules/.bin/tsc --noEmit -p www
else
  # The wasm glue's types (www/pkg/sim_web.d.ts) come from the build skipped above.
  printf '\n!! SKIPPED tsc: www/pkg/sim_web.d.ts needs the wasm build\n\n'
fi

if [ "$web" -eq 0 ]; then
  step "browser: wasm core = native on every scenario (Node.js), the page in headless Chromium"
  scripts/web.sh test
else
  printf '\n!! SKIPPED the browser tests: this machine has no wasm32 toolchain (see above)\n\n'
fi

step "benchmark, quick mode (proves it runs; figures are not asserted)"
cargo build --release -p sim-cli
if [ -x .venv/bin/python ]; then export LBSIM_PYTHON=.venv/bin/python; fi
if [ "$web" -eq 0 ]; then
  ./target/release/lbsim bench --quick --wasm
else
  ./target/release/lbsim bench --quick
fi

step "conformance, quick mode: lbsim against the real nginx and HAProxy (127.0.0.1 only)"
LBSIM=./target/release/lbsim scripts/conformance.sh --quick

echo
echo "all checks passed"
