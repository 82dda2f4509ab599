// Parity of the wasm core with the native command line: for every file in scenarios/,
// run() from sim-web/pkg-node returns exactly the JSON report of `lbsim run FILE --format json`
// (trace_hash included), and the A/B entry points (`--set` lines) = `lbsim run --set`. Needs `scripts/web.sh build` and target/release/lbsim.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const ROOT = new URL('../../', import.meta.url).pathname;
const LBSIM = join(ROOT, 'target/release/lbsim');
const web = createRequire(import.meta.url)(join(ROOT, 'sim-web/pkg-node/sim_web.js'));
const files = readdirSync(join(ROOT, 'scenarios')).filter((f) => f.endsWith('.toml')).sort();
// Scenarios that read a file beside them (`trace = "…"`, `file = "…"`), which only the
// command line can (scripts/web.sh leaves them out of the page's list too).
const READS_FILES = /^\s*(trace\s*=|[^#\n]*\bfile\s*=\s*")/m;

test('every bundled scenario: wasm run() in Node.js = native lbsim run', async (t) => {
  assert.ok(files.length > 0, 'scenarios/ has no .toml files');
  for (const file of files) {
    await t.test(file, () => {
      const path = join(ROOT, 'scenarios', file);
      const text = readFileSync(path, 'utf8');
      if (READS_FILES.test(text)) {
        // A trace replay or a sample file: only the command line reads files. The page says
        // so (and does not offer the scenario); it never runs it without its data.
        assert.throws(() => web.run(text), /lbsim CLI|files cannot be read here/);
        console.log(`  ${file}: reads files — the wasm build refuses it with a clear message`);
        return;
      }
      const native = execFileSync(LBSIM, ['run', path, '--format', 'json'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      const wasm = web.run(readFileSync(path, 'utf8'));
      const a = JSON.parse(native);
      const b = JSON.parse(wasm);
      assert.equal(b.trace_hash, a.trace_hash, 'trace_hash');
      assert.deepEqual(b, a, 'whole report');
      assert.equal(wasm.trim(), native.trim(), 'byte-identical JSON');
      console.log(`  ${file}: trace_hash ${b.trace_hash}, ${b.requests.sent} requests, identical`);
    });
  }
});

test('a seed argument matches lbsim run --seed', () => {
  const path = join(ROOT, 'scenarios', files.find((f) => !READS_FILES.test(readFileSync(join(ROOT, 'scenarios', f), 'utf8'))));
  const native = JSON.parse(execFileSync(LBSIM, ['run', path, '--seed', '99', '--format', 'json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  const wasm = JSON.parse(web.run(readFileSync(path, 'utf8'), 99));
  assert.equal(wasm.trace_hash, native.trace_hash);
});

test('bad scenario text: check() gives the command line message', () => {
  const text = 'name = "x"\nduration = "10s"\n[[servers]]\nname = "api"\n' +
    'service = { dist = "constant", value = "10ms" }\n[[clients]]\nname = "web"\nrate = -5\n';
  const file = join(mkdtempSync(join(tmpdir(), 'lbsim-')), 'scenario');
  writeFileSync(file, text);
  const cli = spawnSync(LBSIM, ['check', file], { encoding: 'utf8' });
  assert.equal(cli.status, 2);
  const msg = web.check(text, 'toml');
  assert.equal(`error: ${msg.replace(/^scenario/, file)}`, cli.stderr.trim());
  assert.match(msg, /^scenario:8:8: clients\[0\]\.rate: must be at least 0, got -5$/);
  assert.equal(web.errorLine(text, 'toml'), 8);
  assert.throws(() => web.run(text), (e) => e.message === msg);
});

test('A/B: runWith() and Sim.withOverrides() = lbsim run --set, on the same arrivals', () => {
  const path = join(ROOT, 'scenarios', 'grpc-l4-imbalance.toml');
  const text = readFileSync(path, 'utf8');
  const sets = ['balancer.layer=l7', 'balancer.algorithm=least_connections'];
  const native = JSON.parse(execFileSync(LBSIM, ['run', path, '--seed', '3', ...sets.flatMap((s) => ['--set', s]), '--format', 'json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  const wasm = JSON.parse(web.runWith(text, 'toml', 3, sets.join('\n')));
  assert.equal(wasm.trace_hash, native.trace_hash);
  // Side B stepped to the end gives the same run; side A (no overrides) sends the same requests.
  const a = new web.Sim(text, 'toml', 3);
  const b = web.Sim.withOverrides(text, 'toml', 3, sets.join('\n'));
  for (const t of [6000, 20000, 45000]) {
    a.stepUntil(t);
    b.stepUntil(t);
    a.snapshot();
    b.snapshot();
    assert.equal(b.totals()[0], a.totals()[0], `same requests sent by t = ${t} ms`);
  }
  while (b.stepEvents(100000));
  assert.equal(b.traceHash(), native.trace_hash);
  assert.equal(JSON.parse(b.topology()).layer, 'l7');
  assert.match(web.checkWith(text, 'toml', 'balancer.layer=l5'), /^scenario: --set balancer\.layer=l5: balancer\.layer: /);
  assert.equal(web.checkWith(text, 'toml', sets.join('\n')), '');
});
