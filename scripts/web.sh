#!/usr/bin/env bash
# The browser build of lbsim and its tests.
#
#   scripts/web.sh build         wasm core → www/pkg/ (web) and sim-web/pkg-node/ (Node.js),
#                                plus the bundled scenarios (www/pkg/scenarios/); quick when
#                                nothing changed
#   scripts/web.sh serve [PORT]  build if needed, then serve www/ on http://127.0.0.1:PORT/ (8080)
#   scripts/web.sh dist [DIR]    build, then a self-contained copy of the page for any static
#                                host in DIR (dist/web): only what the page loads, each text
#                                and wasm file also precompressed (.gz, .br); no server code
#   scripts/web.sh test          build, then the Node.js parity test (wasm run() = lbsim run on
#                                every scenario), the Playwright test of the page and the walk
#                                through every scenario's lesson; screenshots and frame times go
#                                to artifacts/e2e/
#
# Exit status 3: this machine cannot build wasm (no wasm32 target for rustup and none could be
# added) — callers treat it as "skipped", not as a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=wasm32-unknown-unknown
WASM=target/wasm/$TARGET/wasm/sim_web.wasm
case ":$PATH:" in *":$HOME/.cargo/bin:"*) ;; *) export PATH="$PATH:$HOME/.cargo/bin" ;; esac

say() { printf 'web.sh: %s\n' "$*" >&2; }

# The wasm-bindgen version the crate is locked to; the CLI must match it exactly.
bindgen_version() {
  awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

ensure_wasm_target() {
  if rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
    return
  fi
  say "adding the rustup target $TARGET (gives up after 5 minutes)"
  if command -v rustup >/dev/null && timeout 300 rustup target add "$TARGET"; then
    return
  fi
  say "the wasm32 toolchain is unavailable: rustup has no $TARGET target and could not add it."
  say "Install it with 'rustup target add $TARGET' on a machine with network access. Skipping."
  exit 3
}

ensure_bindgen() {
  local want have
  want=$(bindgen_version)
  [ -n "$want" ] || { say "no wasm-bindgen in Cargo.lock"; exit 1; }
  have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
  if [ "$have" != "$want" ]; then
    say "installing wasm-bindgen-cli $want (found '${have:-none}'; takes a few minutes)"
    # Not --locked: one locked dependency is missing from the registry mirror.
    cargo install wasm-bindgen-cli --version "$want"
  fi
}

# Copies scenarios/*.toml to www/pkg/scenarios/ with an index.json, touching only what changed.
bundle_scenarios() {
  local dir=www/pkg/scenarios
  mkdir -p "$dir"
  # Scenarios that read files beside them (a trace replay, empirical samples from a file)
  # need the command line: the page does not offer them.
  reads_files() { grep -qE '^\s*(trace\s*=|[^#]*\bfile\s*=\s*")' "$1"; }
  for f in scenarios/*.toml; do
    reads_files "$f" && continue
    cmp -s "$f" "$dir/$(basename "$f")" || cp "$f" "$dir/"
  done
  for f in "$dir"/*.toml; do
    [ -e "$f" ] && { [ ! -e "scenarios/$(basename "$f")" ] || reads_files "scenarios/$(basename "$f")"; } && rm -f "$f"
  done
  node - "$dir" <<'EOF'
const fs = require('fs'), path = require('path');
const dir = process.argv[2];
const list = fs.readdirSync(dir).filter((f) => f.endsWith('.toml')).sort().map((file) => {
  const text = fs.readFileSync(path.join(dir, file), 'utf8');
  const first = (text.split('\n')[0] || '').replace(/^#\s*/, '');
  const title = first.includes(':') ? first.slice(first.indexOf(':') + 1).trim() : '';
  return { file, name: file.replace(/\.toml$/, ''), title };
});
const json = JSON.stringify(list, null, 1) + '\n';
const out = path.join(dir, 'index.json');
if (!fs.existsSync(out) || fs.readFileSync(out, 'utf8') !== json) fs.writeFileSync(out, json);
EOF
}

build() {
  ensure_wasm_target
  ensure_bindgen
  cargo build --quiet --profile wasm --target "$TARGET" -p sim-web --target-dir target/wasm
  # wasm-bindgen only when the core or the bindgen version changed (keeps files untouched).
  local stamp
  stamp="$(sha256sum "$WASM" | cut -d' ' -f1) $(bindgen_version)"
  if [ "$(cat www/pkg/.stamp 2>/dev/null)" != "$stamp" ] || [ "$(cat sim-web/pkg-node/.stamp 2>/dev/null)" != "$stamp" ]; then
    say "wasm-bindgen → www/pkg/ and sim-web/pkg-node/"
    wasm-bindgen --target web --out-dir www/pkg "$WASM"
    wasm-bindgen --target nodejs --out-dir sim-web/pkg-node "$WASM"
    echo "$stamp" >www/pkg/.stamp
    echo "$stamp" >sim-web/pkg-node/.stamp
  fi
  bundle_scenarios
  say "built: www/pkg/ ($(du -k www/pkg/sim_web_bg.wasm | cut -f1) KiB wasm), sim-web/pkg-node/"
}

# npm packages of the tests, installed only when missing or when package-lock.json changed.
ensure_node_deps() {
  local lock_sum
  lock_sum=$(sha256sum tests/e2e/package-lock.json | cut -d' ' -f1)
  if [ "$(cat tests/e2e/node_modules/.lock-sha 2>/dev/null)" != "$lock_sum" ]; then
    say "npm ci in tests/e2e"
    (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
    echo "$lock_sum" >tests/e2e/node_modules/.lock-sha
  fi
}

ensure_chromium() {
  export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
  if [ ! -x "$CHROMIUM" ]; then
    say "installing Debian's chromium"
    apt-get install -y chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y chromium >/dev/null; }
  fi
}

run_tests() {
  build
  say "building the native CLI (target/release/lbsim) for the comparisons"
  cargo build --quiet --release -p sim-cli
  ensure_node_deps
  ensure_chromium
  mkdir -p artifacts/e2e
  local start=$SECONDS
  node --test --test-reporter=spec tests/e2e/parity.test.mjs
  node --test --test-reporter=spec tests/e2e/page.test.mjs
  node --test --test-reporter=spec tests/e2e/lesson.test.mjs
  node --test --test-reporter=spec tests/e2e/inspector.test.mjs
  say "all browser tests passed in $((SECONDS - start)) s; screenshots and frame times in artifacts/e2e/"
}

# The page as static files: what the browser loads and nothing else (no type sources, no
# READMEs, no generated .d.ts), plus .gz and .br next to each compressible file for hosts that
# serve precompressed files (nginx gzip_static/brotli_static, Caddy, most CDNs); hosts that do
# not simply serve the originals.
dist() {
  local out=${1:-dist/web}
  case "${out%/}" in
    '' | . | .. | / | www | "$HOME") say "dist: refusing to replace '$out' (give a fresh directory such as dist/web)"; exit 2 ;;
  esac
  build
  rm -rf "$out"
  mkdir -p "$out/pkg/scenarios"
  local f
  for f in www/*.html www/*.css www/*.js; do
    [ "$(basename "$f")" = types.js ] && continue # JSDoc types only, never loaded
    cp "$f" "$out/"
  done
  cp www/pkg/sim_web.js www/pkg/sim_web_bg.wasm "$out/pkg/"
  cp www/pkg/scenarios/*.toml www/pkg/scenarios/index.json "$out/pkg/scenarios/"
  node - "$out" <<'EOF'
const fs = require('fs'), path = require('path'), zlib = require('zlib');
let raw = 0, gz = 0, br = 0, files = 0;
const walk = (d) => fs.readdirSync(d, { withFileTypes: true }).forEach((e) => {
  const p = path.join(d, e.name);
  if (e.isDirectory()) return walk(p);
  if (!/\.(html|css|js|json|toml|wasm)$/.test(p)) return;
  const data = fs.readFileSync(p);
  const g = zlib.gzipSync(data, { level: 9 });
  const b = zlib.brotliCompressSync(data, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: data.length } });
  fs.writeFileSync(p + '.gz', g);
  fs.writeFileSync(p + '.br', b);
  raw += data.length; gz += g.length; br += b.length; files++;
});
walk(process.argv[2]);
const k = (n) => `${Math.round(n / 1024)} KiB`;
console.error(`web.sh: dist: ${files} files, ${k(raw)} (gzip ${k(gz)}, brotli ${k(br)})`);
EOF
  say "dist: $out/ — copy it to any static host (index.html at its root)"
}

case "${1:-}" in
  build) build ;;
  dist) dist "${2:-}" ;;
  serve)
    build
    exec node tests/e2e/static-server.mjs www "${2:-8080}"
    ;;
  test) run_tests ;;
  *)
    echo "usage: scripts/web.sh build | serve [PORT] | dist [DIR] | test" >&2
    exit 2
    ;;
esac
