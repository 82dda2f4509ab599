// The wasm core's speed in Node.js, for `lbsim bench --wasm`: runs one scenario file with the
// wasm build's run() (sim-web/pkg-node, made by `scripts/web.sh build`) and prints one JSON
// line: events, wall seconds (around run() only) and the trace_hash, which must equal the
// native run's.
//
//   node scripts/bench-wasm.mjs SCENARIO.toml SEED
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const [file, seed] = process.argv.slice(2);
if (!file) {
  console.error('usage: node scripts/bench-wasm.mjs SCENARIO.toml [SEED]');
  process.exit(2);
}
const root = new URL('../', import.meta.url).pathname;
const pkg = join(root, 'sim-web/pkg-node/sim_web.js');
if (!existsSync(pkg)) {
  console.error(`no wasm build at ${pkg}: run scripts/web.sh build first`);
  process.exit(2);
}
const web = createRequire(import.meta.url)(pkg);
const text = readFileSync(file, 'utf8');
const start = process.hrtime.bigint();
const report = JSON.parse(web.run(text, seed === undefined ? undefined : Number(seed)));
const wall_s = Number(process.hrtime.bigint() - start) / 1e9;
console.log(JSON.stringify({
  events: report.events_processed,
  wall_s,
  trace_hash: report.trace_hash,
}));
