#!/usr/bin/env bash
# Runs every check the project has: formatting, lints, all tests (unit, integration,
# property, theory, CLI-through-the-binary), and the benchmark in its quick mode.
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

step "tests (profile ci: release speed with debug assertions)"
cargo test --workspace --profile ci

step "benchmark, quick mode (proves it runs; figures are not asserted)"
cargo build --release -p sim-cli
if [ -x .venv/bin/python ]; then export LBSIM_PYTHON=.venv/bin/python; fi
./target/release/lbsim bench --quick

echo
echo "all checks passed"
