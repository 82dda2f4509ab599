// The page under a real browser (playwright-core driving Debian's Chromium), doing what a
// person does: pick a scenario, play, kill a server, switch the algorithm, add a server,
// brush a chart, export the timeline and replay it with `lbsim run` (same trace_hash, also
// after every kind of live action), open the permalink (same session; dropped once another
// session starts), check that nothing drawn overlaps at 390, 768 and 1440 px (the boxes the
// canvases report through window.lbsim.labelBoxes()), walk every control by keyboard alone,
// serve the `scripts/web.sh dist` folder, take the README's screenshots, type a broken
// scenario (the CLI's error, inline), open malformed permalinks, run A/B mode (algorithm,
// layer, stickiness: same arrivals in lockstep, live actions on both, "run 5 seeds" = `lbsim
// compare`, its permalink and export), and measure frame times with 1,000 clients and 50 servers.
// Fails on any console error or page error. Screenshots and frame times: artifacts/e2e/.
// Needs `scripts/web.sh build` and target/release/lbsim (scripts/web.sh test does both).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { brotliDecompressSync, deflateRawSync, gunzipSync } from 'node:zlib';
import { serve } from './static-server.mjs';
import { WIDTHS, stagedScreenshot } from './screenshot.mjs';
import { ARTIFACTS, ROOT, counter, eventually, launch, openPage, quantile, serverState, settleDrawing, simTime, waitForSimTime } from './browser.mjs';

const LBSIM = join(ROOT, 'target/release/lbsim');
let server, url, browser;

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  ({ server, url } = await serve(join(ROOT, 'www')));
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.close();
});

const shot = (page, name) => page.screenshot({ path: join(ARTIFACTS, name), fullPage: true });

async function top(page) {
  await page.evaluate(() => window.scrollTo(0, 0));
}

function nativeHash(file) {
  const out = execFileSync(LBSIM, ['run', file, '--format', 'json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return JSON.parse(out).trace_hash;
}

test('a session: play, kill a server, switch algorithm, add a server; export and permalink reproduce it', async () => {
  const { page, errors } = await openPage(browser.context, url);

  // Pick a scenario and play it at 10×.
  await page.selectOption('#scenario', 'crash-with-health-checks');
  await page.waitForFunction(() => document.getElementById('topo-caption').textContent.startsWith('crash-with-health-checks'));
  assert.match(await page.inputValue('#editor'), /name = "crash-with-health-checks"/);
  await page.selectOption('#speed', '10');
  await page.click('#play');
  await waitForSimTime(page, 9);
  // Counters count after the 5 s warmup and refresh a few times a second.
  await eventually(page, () => ['sent', 'ok'].every((k) => Number(document.querySelector(`#count-${k} .v`).textContent.replace(/[^0-9.]/g, '')) > 0));
  assert.ok((await counter(page, 'sent')) > 0, 'requests are counted');
  const okBefore = await counter(page, 'ok');
  assert.ok(okBefore > 0);
  assert.equal(await serverState(page, 'api-5'), 'up');
  const servedChart = await page.locator('#chart-served').screenshot();
  const pointsBefore = await page.evaluate(() => window.lbsim.session.points.length);
  await top(page);
  await shot(page, '01-playing.png');

  // Kill a server: the topology shows it crashed at once, the health checks take it out.
  await page.selectOption('#act-server', 'api-5');
  await page.click('#act-crash');
  assert.equal(await serverState(page, 'api-5'), 'crashed');
  await page.waitForFunction(() => [...document.querySelectorAll('#timeline-list li.live')].some((li) => li.textContent.includes('crash api-5')));
  await page.waitForFunction(() => document.querySelector('#topo-text li[data-server="api-5"]').textContent.includes('crashed · marked down'), null, { timeout: 20000 });
  await page.waitForFunction(() => [...document.querySelectorAll('#inspector-body tr')].some((tr) => tr.cells[0].textContent === 'api-5' && tr.cells[1].textContent === '✗'));
  await page.waitForFunction(() => Number(document.querySelector('#count-connection_error .v').textContent.replace(/\D/g, '')) > 0);
  await top(page);
  await shot(page, '02-server-killed.png');

  // Switch the algorithm: the inspector and the topology say so.
  await page.selectOption('#act-algorithm', 'least_connections');
  await page.waitForFunction(() => document.getElementById('inspector-head').textContent.includes('least_connections'));
  assert.match(await page.textContent('#inspector-body .why'), /Least connections/);
  await page.waitForFunction(() => [...document.querySelectorAll('#timeline-list li.live')].some((li) => li.textContent.includes('algorithm → least_connections')));

  // Add a server (the session is rebuilt with the server allocated from the start).
  await page.selectOption('#act-group', 'api');
  await page.click('#act-add');
  await page.waitForFunction(() => document.querySelector('#topo-text li[data-server="api-7"]')?.dataset.state === 'up');
  assert.equal(await serverState(page, 'api-5'), 'crashed', 'the rebuilt session kept the crash');

  // Counters and charts moved on.
  const t = await simTime(page);
  await waitForSimTime(page, t + 5);
  assert.ok((await counter(page, 'ok')) > okBefore, 'ok counter grows');
  const pointsAfter = await page.evaluate(() => window.lbsim.session.points.length);
  assert.ok(pointsAfter > pointsBefore, `chart data grows (${pointsBefore} → ${pointsAfter} buckets)`);
  assert.notDeepEqual(await page.locator('#chart-served').screenshot(), servedChart, 'the served chart changed');

  // Brush a window on the latency chart: its statistics appear.
  await page.locator('#chart-latency').scrollIntoViewIfNeeded();
  const box = await page.locator('#chart-latency').boundingBox();
  await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.5);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.45, box.y + box.height * 0.5, { steps: 5 });
  await page.mouse.up();
  const summary = await page.textContent('#window-summary');
  assert.match(summary, /Window .*–.* s/);
  assert.match(summary, /Jain/);
  await top(page);
  await shot(page, '03-actions-and-brush.png');

  // A permalink of the session so far.
  await page.click('#permalink');
  await page.waitForFunction(() => document.getElementById('permalink-out').value.includes('#run='));
  const permalink = await page.inputValue('#permalink-out');
  assert.match(permalink, /#run=/);
  const actions = await page.evaluate(() => window.lbsim.session.actions.length);
  assert.equal(actions, 3);

  // Run to the end as fast as possible.
  await page.selectOption('#speed', 'max');
  await page.waitForSelector('#trace-hash', { timeout: 120000 });
  const hash = (await page.textContent('#trace-hash')).trim();
  assert.match(hash, /^[0-9a-f]{16}$/);
  assert.equal(await page.evaluate(() => window.lbsim.session.traceHash()), hash);
  await top(page);
  await shot(page, '04-finished.png');

  // Export the timeline and replay it with the native CLI: same trace_hash.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
  const exported = join(ARTIFACTS, 'exported-session.toml');
  await download.saveAs(exported);
  const text = readFileSync(exported, 'utf8');
  assert.match(text, /action = "crash"\ntarget = "api-5"/);
  assert.match(text, /action = "set_algorithm"\nalgorithm = "least_connections"/);
  assert.match(text, /action = "add"\ntarget = "api"/);
  assert.equal(nativeHash(exported), hash, 'lbsim run on the exported scenario gives the page\'s trace_hash');
  console.log(`  exported timeline replays natively to trace_hash ${hash}`);

  // The permalink reproduces the session: same actions, same end.
  const again = await openPage(browser.context, permalink);
  assert.equal(await again.page.textContent('#banner-text'), '');
  assert.equal(await again.page.evaluate(() => window.lbsim.session.actions.length), 3);
  await again.page.selectOption('#speed', 'max');
  await again.page.click('#play');
  await again.page.waitForSelector('#trace-hash', { timeout: 120000 });
  assert.equal((await again.page.textContent('#trace-hash')).trim(), hash, 'the permalink reproduces the trace_hash');
  await again.page.close();

  assert.deepEqual([...errors, ...again.errors], [], 'no console or page errors');
  await page.close();
});

test('export after every kind of live action replays natively to the page\'s trace_hash', async () => {
  const { page, errors } = await openPage(browser.context, url);
  await page.selectOption('#scenario', 'session-store-crash');
  await page.waitForFunction(() => document.getElementById('topo-caption').textContent.startsWith('session-store-crash'));
  const step = async () => { for (let i = 0; i < 3; i++) await page.click('#step'); };
  // Each kind of action the panel offers, one after another, with time passing in between.
  const kinds = [
    ['set_rate', async () => { await page.selectOption('#act-client', 'shopper'); await page.fill('#act-rate', '2.5'); await page.click('#act-set-rate'); }],
    ['set_algorithm', () => page.selectOption('#act-algorithm', 'least_connections')],
    ['set_layer', () => page.click('#act-layer-l4')],
    ['set_sticky', () => page.selectOption('#act-sticky', 'cookie')],
    ['crash', async () => { await page.selectOption('#act-server', 'api-3'); await page.click('#act-crash'); }],
    ['recover', () => page.click('#act-recover')],
    ['slow', async () => { await page.selectOption('#act-server', 'api-1'); await page.fill('#act-factor', '3'); await page.click('#act-slow'); }],
    ['slow', () => page.click('#act-normal')],
    ['errors', async () => { await page.selectOption('#act-server', 'api-2'); await page.click('#act-errors'); }],
    ['errors', () => page.click('#act-errors-end')],
    ['store_down', () => page.click('#act-store-down')],
    ['store_up', () => page.click('#act-store-up')],
    ['add', async () => { await page.selectOption('#act-group', 'api'); await page.click('#act-add'); }],
    ['remove', () => page.click('#act-remove')],
  ];
  for (const [kind, act] of kinds) {
    await step();
    const before = await page.evaluate(() => window.lbsim.session.actions.length);
    await act();
    await page.waitForFunction((n) => window.lbsim.session.actions.length === n + 1, before);
    assert.equal(await page.evaluate(() => window.lbsim.session.actions.at(-1).action.action), kind);
  }
  await page.selectOption('#speed', 'max');
  await page.click('#play');
  await page.waitForSelector('#trace-hash', { timeout: 120000 });
  const hash = (await page.textContent('#trace-hash')).trim();
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
  const exported = join(ARTIFACTS, 'exported-every-action.toml');
  await download.saveAs(exported);
  const text = readFileSync(exported, 'utf8');
  assert.equal(nativeHash(exported), hash, 'lbsim run on the exported scenario gives the page\'s trace_hash');
  // The group keeps its rate as loaded; the change is an event.
  assert.match(text, /\[\[clients\]\]\nname = "shopper"\ncount = 600\nrate = 1\.0\n/);
  assert.match(text, /action = "set_rate"\ntarget = "shopper"\nrate = 2.5/);
  for (const [kind] of kinds) assert.match(text, new RegExp(`action = "${kind}"`), kind);
  console.log(`  ${kinds.length} live actions of ${new Set(kinds.map((k) => k[0])).size} kinds: the export replays to ${hash}`);
  assert.deepEqual(errors, [], 'no console or page errors');
  await page.close();
});

test('A/B mode: algorithm, layer and stickiness on the same seed and arrivals, in lockstep; 5 seeds = lbsim compare', async () => {
  const { page, errors } = await openPage(browser.context, url);
  await page.selectOption('#speed', '10');
  const cases = [
    ['slow-server', 'balancer.algorithm=least_connections', 'algorithm', 'round_robin', 'least_connections'],
    ['grpc-l4-imbalance', 'balancer.layer=l7', 'layer', 'l4', 'l7'],
    ['heavy-users-sticky', 'balancer.sticky=none', 'sticky', 'source_ip', 'none'],
  ];
  for (const [name, set, field, before, after] of cases) {
    await page.selectOption('#scenario', name);
    await page.waitForFunction((n) => document.getElementById('topo-caption').textContent.startsWith(n), name);
    assert.equal(await page.evaluate(() => window.lbsim.ab), null, `${name}: a new session ends A/B`);
    await page.fill('#ab-set', set);
    await page.click('#ab-start');
    await page.waitForSelector('#ab-table');
    const [a, b] = await page.evaluate((f) => [window.lbsim.session.topo[f], window.lbsim.ab.topo[f]], field);
    assert.deepEqual([a, b], [before, after], `${name}: A keeps ${field} ${before}, B has ${after}`);
    // Same seed and arrivals: at every instant looked at, both are at the same simulated time
    // and have sent exactly as many requests, while their runs differ (trace hashes).
    await page.click('#play');
    let lastSent = 0;
    for (const at of [7, 10, 13]) {
      await waitForSimTime(page, at);
      const [ta, tb, sa, sb] = await page.evaluate(() => {
        const { session, ab } = window.lbsim;
        session.sim.snapshot();
        ab.sim.snapshot();
        return [session.sim.nowMs(), ab.sim.nowMs(), session.sim.totals()[0], ab.sim.totals()[0]];
      });
      assert.equal(tb, ta, `${name}: B in lockstep with A at t = ${ta} ms`);
      assert.equal(sb, sa, `${name}: same requests sent at t = ${ta} ms`);
      assert.ok(sa > lastSent, `${name}: requests flow (${sa} by t = ${ta} ms)`);
      lastSent = sa;
    }
    await page.click('#play');
    const hashes = await page.evaluate(() => [window.lbsim.session.sim.traceHash(), window.lbsim.ab.sim.traceHash()]);
    assert.notEqual(hashes[0], hashes[1], `${name}: ${set} changes the run`);
    await page.waitForFunction(() => document.querySelectorAll('#ab-table tbody tr').length === 4);
    const text = await page.textContent('#ab-out');
    assert.match(text, /B − A/);
    assert.match(text, /intervals need several seeds/);
    assert.ok(await page.isVisible('#ab-topology'), `${name}: B's topology is drawn`);
    // The charts overlay A and B (their text alternatives name both).
    assert.match(await page.getAttribute('#chart-latency', 'aria-label'), /A p99 .*B p50 .*B p99 /);
    assert.match(await page.getAttribute('#chart-balance', 'aria-label'), /A Jain .*B Jain /);
    if (field === 'algorithm') {
      // B's topology and the four-series legends: nothing overlaps on a phone or a desktop.
      for (const width of [390, 1440]) {
        await page.setViewportSize({ width, height: 900 });
        await settleDrawing(page);
        const canvases = await page.evaluate(() => window.lbsim.labelBoxes());
        assert.ok(canvases.some((c) => c.canvas === 'ab-topology' && c.boxes.length > 0), `${width} px: B's topology drew`);
        assert.deepEqual(layoutFaults(canvases), [], `${width} px, A/B: overlapping or clipped text`);
      }
    }
  }
  await shot(page, '09-ab.png');

  // A live action during A/B reaches B too (at the same instant): they still differ only in
  // B's setting, and the arrivals stay the same.
  await page.selectOption('#act-server', 'app-2');
  await page.click('#act-crash');
  await page.waitForFunction(() => window.lbsim.session.actions.length === 1 && window.lbsim.ab !== null);
  assert.match(await page.evaluate(() => window.lbsim.ab.text), /action = "crash"\ntarget = "app-2"/);
  for (let i = 0; i < 5; i++) await page.click('#step');
  const lock = await page.evaluate(() => {
    const { session, ab } = window.lbsim;
    session.sim.snapshot();
    ab.sim.snapshot();
    return [session.sim.nowMs(), ab.sim.nowMs(), session.sim.totals()[0], ab.sim.totals()[0]];
  });
  assert.deepEqual([lock[1], lock[3]], [lock[0], lock[2]], 'after a live action: same instant, same requests sent');

  // The permalink carries B's setting: opened in a new tab it restores A/B at that instant.
  await page.click('#permalink');
  await page.waitForFunction(() => document.getElementById('permalink-out').value.includes('#run=')); // encoding is async
  const link = await page.inputValue('#permalink-out');
  const { page: again, errors: againErrors } = await openPage(browser.context, link);
  await again.waitForFunction(() => window.lbsim.ab !== null && document.querySelector('#ab-table') !== null);
  assert.deepEqual(await again.evaluate(() => window.lbsim.ab.overrides), ['balancer.sticky=none']);
  assert.equal(await again.inputValue('#ab-set'), 'balancer.sticky=none');
  const reopened = await again.evaluate(() => {
    const { session, ab } = window.lbsim;
    session.sim.snapshot();
    ab.sim.snapshot();
    return { actions: session.actions.length, sticky: ab.topo.sticky, t: [session.sim.nowMs(), ab.sim.nowMs()], sent: [session.sim.totals()[0], ab.sim.totals()[0]] };
  });
  assert.equal(reopened.actions, 1, 'the live action came along');
  assert.equal(reopened.sticky, 'none');
  assert.ok(Math.abs(reopened.t[0] - lock[0]) < 1, `reopened at t = ${reopened.t[0]} ms (left at ${lock[0]})`);
  assert.equal(reopened.t[1], reopened.t[0]);
  assert.equal(reopened.sent[1], reopened.sent[0]);
  assert.deepEqual(againErrors, []);
  await again.close();

  // The export is side A with how to replay side B; both replay natively to the page's hashes.
  await page.selectOption('#speed', 'max');
  await page.click('#play');
  await page.waitForSelector('#trace-hash', { timeout: 120000 });
  const [hashA, hashB] = await page.evaluate(() => [window.lbsim.session.sim.traceHash(), window.lbsim.ab.sim.traceHash()]);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
  const exported = join(ARTIFACTS, 'exported-ab.toml');
  await download.saveAs(exported);
  assert.match(readFileSync(exported, 'utf8'), /^# A\/B comparison[^]*#   lbsim run heavy-users-sticky-session\.toml --set balancer\.sticky=none\n/);
  assert.equal(nativeHash(exported), hashA, 'side A replays');
  const nativeB = JSON.parse(execFileSync(LBSIM, ['run', exported, '--set', 'balancer.sticky=none', '--format', 'json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
  assert.equal(nativeB.trace_hash, hashB, 'side B replays with --set');

  // Run 5 seeds: the mean B − A and its interval equal `lbsim compare` on the same seeds.
  await page.selectOption('#scenario', 'slow-server');
  await page.waitForFunction(() => document.getElementById('topo-caption').textContent.startsWith('slow-server'));
  await page.fill('#ab-set', 'balancer.algorithm=least_connections');
  await page.click('#ab-start');
  await page.click('#ab-seeds');
  await page.waitForSelector('#ab-seeds-table', { timeout: 60000 });
  const page5 = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll('#ab-seeds-table tbody tr')]
    .map((tr) => [tr.dataset.key, [Number(tr.dataset.mean), Number(tr.dataset.half)]])));
  const file = join(ROOT, 'scenarios/slow-server.toml');
  const native = JSON.parse(execFileSync(LBSIM, ['compare', file, '--algorithms', 'round_robin,least_connections', '--seed', '1', '--format', 'json'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })).results[1].vs_first;
  for (const [key, metric] of [['latency_mean', 'latency_ms.mean'], ['latency_p99', 'latency_ms.p99'], ['success', 'success_rate'], ['jain', 'balance.jain_index']]) {
    const [mean, half] = page5[key];
    const n = native[metric];
    assert.ok(Math.abs(mean - n.mean_diff) <= 1e-9 * Math.max(1, Math.abs(n.mean_diff)), `${key}: mean ${mean} = lbsim compare ${n.mean_diff}`);
    assert.ok(Math.abs(half - (n.ci95_high - n.ci95_low) / 2) <= 1e-6 * Math.max(1, Math.abs(half)), `${key}: ± ${half} = lbsim compare`);
  }

  // A setting that does not apply: the core's message, and A runs on alone.
  await page.fill('#ab-set', 'balancer.algorithm=nope');
  await page.click('#ab-start');
  assert.match(await page.textContent('#ab-error'), /balancer\.algorithm: unknown algorithm "nope"; allowed: round_robin/);
  assert.equal(await page.evaluate(() => window.lbsim.ab), null);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a permalink follows its session: another scenario, a restart or an edited run drops it', async () => {
  const { page, errors } = await openPage(browser.context, url);
  const makeLink = async () => {
    await page.click('#step');
    await page.click('#permalink');
    await page.waitForFunction(() => location.hash.startsWith('#run=') && document.getElementById('permalink-out').value.includes('#run='));
    assert.ok(await page.isVisible('#permalink-out'));
  };
  const dropped = async (what) => {
    await page.waitForFunction(() => location.hash === '', null, { timeout: 5000 }).catch(() => {});
    assert.equal(await page.evaluate(() => location.hash), '', `${what}: the address keeps no #run=`);
    assert.ok(!(await page.isVisible('#permalink-out')), `${what}: the link box is gone`);
    assert.equal(await page.inputValue('#permalink-out'), '', what);
  };
  await page.selectOption('#scenario', 'basic-mm1');
  await page.waitForFunction(() => document.getElementById('topo-caption').textContent.startsWith('basic-mm1'));
  await makeLink();
  await page.selectOption('#scenario', 'slow-server');
  await page.waitForFunction(() => document.getElementById('topo-caption').textContent.startsWith('slow-server'));
  await dropped('another scenario');
  // A reload opens what is shown, not the old session.
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  assert.equal(await page.textContent('#banner-text'), '');
  await makeLink();
  await page.click('#restart');
  await dropped('restart');
  await makeLink();
  await page.click('#run-edited');
  await dropped('run the edited scenario');
  // The session a link opened keeps its link until another starts.
  await makeLink();
  const link = await page.evaluate(() => location.href);
  const again = await openPage(browser.context, link);
  assert.match(await again.page.evaluate(() => location.hash), /^#run=/);
  await again.page.click('#restart');
  assert.equal(await again.page.evaluate(() => location.hash), '');
  assert.deepEqual([...errors, ...again.errors], [], 'no console or page errors');
  await again.page.close();
  await page.close();
});

/** Pairs of drawn boxes of one canvas that overlap (by more than half a pixel), and boxes outside it. */
function layoutFaults(canvases) {
  const faults = [];
  const hit = (a, b) => a.x + 0.5 < b.x + b.w && b.x + 0.5 < a.x + a.w && a.y + 0.5 < b.y + b.h && b.y + 0.5 < a.y + a.h;
  for (const c of canvases) {
    for (const kind of ['text', 'box']) {
      const boxes = c.boxes.filter((b) => b.kind === kind);
      for (let i = 0; i < boxes.length; i++) {
        const a = boxes[i];
        if (a.x < -0.5 || a.y < -0.5 || a.x + a.w > c.width + 0.5 || a.y + a.h > c.height + 0.5) faults.push(`${c.canvas}: "${a.text}" leaves the canvas`);
        for (let j = i + 1; j < boxes.length; j++) {
          if (hit(a, boxes[j])) faults.push(`${c.canvas}: "${a.text}" overlaps "${boxes[j].text}"`);
        }
      }
    }
  }
  return faults;
}

test('layout: no drawn text or box overlaps another at 390, 768 and 1440 px, and no event label is dropped', async () => {
  const { page, errors } = await openPage(browser.context, url);
  await page.selectOption('#scenario', 'crash-with-health-checks');
  await page.waitForFunction(() => document.getElementById('topo-caption').textContent.startsWith('crash-with-health-checks'));
  await page.selectOption('#speed', '10');
  await page.click('#play');
  await waitForSimTime(page, 6);
  // Several events at almost the same instant (their labels must not stack), and a slow server
  // with a queue (its note must not print over the numbers).
  await page.selectOption('#act-server', 'api-2');
  await page.fill('#act-factor', '5');
  await page.click('#act-slow');
  await page.selectOption('#act-server', 'api-5');
  await page.click('#act-crash');
  await page.selectOption('#act-algorithm', 'least_connections');
  await page.fill('#act-rate', String(Number(await page.inputValue('#act-rate')) * 1.2));
  await page.click('#act-set-rate');
  await page.selectOption('#act-sticky', 'cookie');
  await waitForSimTime(page, 14);
  await page.click('#play'); // pause
  for (const width of [390, 768, 1440]) {
    await page.setViewportSize({ width, height: 900 });
    await settleDrawing(page); // every chart redrawn at the new size
    const canvases = await page.evaluate(() => window.lbsim.labelBoxes());
    const topo = canvases.find((c) => c.canvas === 'topology');
    assert.ok(topo.boxes.some((b) => b.kind === 'text' && b.text.startsWith('slow')), `${width} px: the slow note is drawn (${topo.boxes.map((b) => b.text).join(' | ')})`);
    const faults = layoutFaults(canvases);
    assert.deepEqual(faults, [], `${width} px: overlapping or clipped text`);
    // Every fired event has its label on the latency chart (shortened with … at worst).
    const fired = await page.evaluate(() => window.lbsim.timeline.filter((t) => t.fired).map((t) => t.text));
    const latency = canvases.find((c) => c.canvas === 'chart-latency').boxes.map((b) => b.text);
    for (const label of fired) {
      const i = latency.findIndex((t) => t === label || (t.endsWith('…') && label.startsWith(t.slice(0, -1))));
      assert.ok(i >= 0, `${width} px: the event label "${label}" is on the latency chart`);
      latency.splice(i, 1);
    }
    await page.screenshot({ path: join(ARTIFACTS, `layout-${width}.png`), fullPage: true });
    console.log(`  ${width} px: ${canvases.reduce((a, c) => a + c.boxes.length, 0)} drawn boxes on ${canvases.length} canvases, none overlapping; ${fired.length} event labels`);
  }
  // The session store's node and the circuit breakers' lines fit too (a store taken down).
  await page.setViewportSize({ width: 1440, height: 900 });
  await page.locator('#editor').fill(`${readFileSync(join(ROOT, 'scenarios/session-store-crash.toml'), 'utf8')}\n[balancer.circuit_breakers]\nmax_requests = 64\n`);
  await page.click('#run-edited');
  await page.click('#play');
  await waitForSimTime(page, 6);
  await page.click('#act-store-down');
  await waitForSimTime(page, 8);
  await page.click('#play');
  for (const width of [390, 768, 1440]) {
    await page.setViewportSize({ width, height: 900 });
    await settleDrawing(page);
    const canvases = await page.evaluate(() => window.lbsim.labelBoxes());
    const texts = canvases.find((c) => c.canvas === 'topology').boxes.map((b) => b.text);
    assert.ok(texts.includes('session store') && texts.some((t) => t.startsWith('open')), `${width} px: store and breakers drawn (${texts.join(' | ')})`);
    assert.deepEqual(layoutFaults(canvases), [], `${width} px: overlapping or clipped text with a store and breakers`);
  }
  await page.setViewportSize({ width: 1440, height: 900 });
  assert.deepEqual(errors, [], 'no console or page errors');
  await page.close();
});

test('keyboard only: Tab reaches every control with a visible ring, leaves the editor; charts, run state and reduced motion', async () => {
  const { page, errors } = await openPage(browser.context, url);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  const key = () => page.evaluate(() => {
    const e = document.activeElement;
    const cs = getComputedStyle(e);
    return { id: e.id || `${e.tagName.toLowerCase()}:${e.textContent.trim()}`, ring: cs.outlineStyle === 'none' ? 0 : parseFloat(cs.outlineWidth) };
  });
  const controls = await page.evaluate(() => [...document.querySelectorAll('button, select, input, textarea, a[href], [tabindex]')]
    .filter((e) => !e.disabled && e.tabIndex >= 0 && e.getClientRects().length > 0)
    .map((e) => e.id || `${e.tagName.toLowerCase()}:${e.textContent.trim()}`));
  assert.ok(controls.includes('run-edited') && controls.includes('play') && controls.includes('chart-tables-toggle'));
  // Forward through the whole page with Tab alone (Esc once in the editor, as its hint says).
  await page.evaluate(() => { document.activeElement?.blur(); window.scrollTo(0, 0); });
  const seen = [];
  for (let i = 0; i < controls.length * 2 + 10; i++) {
    await page.keyboard.press('Tab');
    const k = await key();
    if (seen.length && (k.id === seen[0].id || k.id.startsWith('body:'))) break; // past the last control
    seen.push(k);
    if (k.id === 'editor') await page.keyboard.press('Escape');
  }
  const ids = seen.map((k) => k.id);
  const missed = controls.filter((c) => !ids.includes(c));
  assert.deepEqual(missed, [], `Tab reaches every control (order seen: ${ids.join(', ')})`);
  assert.equal(ids[ids.indexOf('editor') + 1], 'run-edited', 'from the editor, Esc then Tab reaches "Run this scenario"');
  for (const k of seen) assert.ok(k.ring >= 2, `${k.id}: a focus ring of ${k.ring} px`);
  // Shift+Tab leaves the editor backwards too.
  await page.focus('#editor');
  await page.keyboard.press('Shift+Tab');
  assert.notEqual((await key()).id, 'editor');
  // Play and pause by keyboard: the run state is announced in the aria-live region.
  await page.focus('#play');
  await page.keyboard.press('Enter');
  assert.equal(await page.getAttribute('#live-status', 'aria-live'), 'polite');
  await page.waitForFunction(() => /playing at t = /.test(document.getElementById('live-status').textContent));
  await waitForSimTime(page, 3);
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => /paused at t = [1-9]/.test(document.getElementById('live-status').textContent));
  // Reduced motion: the dots stand still (the animation clock does not run).
  assert.equal(await page.evaluate(() => window.lbsim.anim), 0);
  // Charts: a text summary, and their data as tables on demand.
  for (const id of ['chart-latency', 'chart-served', 'chart-balance', 'chart-outcomes']) {
    assert.equal(await page.getAttribute(`#${id}`, 'role'), 'img');
    assert.match(await page.getAttribute(`#${id}`, 'aria-label'), /one-second buckets up to [0-9.]+ s; latest: /, id);
  }
  await page.focus('#chart-tables-toggle');
  await page.keyboard.press('Enter');
  assert.equal(await page.getAttribute('#chart-tables-toggle', 'aria-expanded'), 'true');
  assert.equal(await page.locator('#chart-tables table').count(), 4);
  assert.ok((await page.locator('#chart-tables table').first().locator('tbody tr').count()) >= 2);
  console.log(`  ${ids.length} controls reached by Tab; ring ≥ 2 px on each`);
  assert.deepEqual(errors, [], 'no console or page errors');
  await page.close();
});

test('scripts/web.sh dist: a self-contained static folder, precompressed, that runs the page', async () => {
  const out = join(mkdtempSync(join(tmpdir(), 'lbsim-dist-')), 'web');
  execFileSync('bash', [join(ROOT, 'scripts/web.sh'), 'dist', out], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  const files = [];
  const walk = (d) => readdirSync(d, { withFileTypes: true }).forEach((e) => (e.isDirectory() ? walk(join(d, e.name)) : files.push(join(d, e.name).slice(out.length + 1))));
  walk(out);
  const originals = files.filter((f) => !/\.(gz|br)$/.test(f));
  for (const f of originals) {
    assert.match(f, /\.(html|css|js|json|toml|wasm)$/, `${f}: only what the page loads`);
    const data = readFileSync(join(out, f));
    assert.deepEqual(gunzipSync(readFileSync(join(out, f + '.gz'))), data, `${f}.gz`);
    assert.deepEqual(brotliDecompressSync(readFileSync(join(out, f + '.br'))), data, `${f}.br`);
  }
  for (const need of ['index.html', 'app.js', 'pkg/sim_web.js', 'pkg/sim_web_bg.wasm', 'pkg/scenarios/index.json']) assert.ok(originals.includes(need), need);
  assert.ok(!originals.some((f) => /types\.js$|\.d\.ts$|\.md$|tsconfig/.test(f)), 'no development files');
  const wasm = readFileSync(join(out, 'pkg/sim_web_bg.wasm')).length, wasmBr = readFileSync(join(out, 'pkg/sim_web_bg.wasm.br')).length;
  console.log(`  ${originals.length} files; wasm ${Math.round(wasm / 1024)} KiB, ${Math.round(wasmBr / 1024)} KiB with brotli`);
  // Served by a plain static server, the folder is the whole page.
  const dist = await serve(out);
  try {
    const { page, errors } = await openPage(browser.context, dist.url);
    await page.selectOption('#speed', '10');
    await page.click('#play');
    await waitForSimTime(page, 2);
    assert.ok(await page.evaluate(() => window.lbsim.session.sim.events() > 0), 'the core runs');
    assert.deepEqual(errors, [], 'no console or page errors');
    await page.close();
  } finally {
    dist.server.close();
    rmSync(dirname(out), { recursive: true, force: true });
  }
});

test('screenshots for the README at 1440 and 390 px (artifacts/e2e/screenshot-*.png)', async () => {
  for (const width of WIDTHS) {
    const out = join(ARTIFACTS, `screenshot-${width}.png`);
    const errors = await stagedScreenshot(browser.context, url, width, out);
    assert.deepEqual(errors, [], `${width} px: no console or page errors`);
    const png = readFileSync(out);
    assert.equal(png.readUInt32BE(16), width, `${width} px: the picture is the page's width`);
    console.log(`  ${out}: ${png.readUInt32BE(16)} × ${png.readUInt32BE(20)} px`);
  }
});

test('editor: bad scenario text shows the CLI\'s exact error inline, and the page keeps working', async () => {
  const { page, errors } = await openPage(browser.context, url);
  await page.selectOption('#speed', '10');
  await page.click('#play');
  const original = await page.inputValue('#editor');
  const dir = mkdtempSync(join(tmpdir(), 'lbsim-e2e-'));

  const cases = [
    ['a value out of range', original.replace(/^rate = 133/m, 'rate = -5')],
    ['a TOML syntax error', original.replace(/^\[balancer\]/m, '[balancer')],
    ['an unknown key', original.replace(/^workers = 4/m, 'wrokers = 4')],
  ];
  for (const [what, bad] of cases) {
    assert.notEqual(bad, original, what);
    // The command line's message for the same text.
    const file = join(dir, 'scenario');
    writeFileSync(file, bad);
    const cli = spawnSync(LBSIM, ['check', file], { encoding: 'utf8' });
    assert.equal(cli.status, 2, what);
    const expected = cli.stderr.trim().split('\n')[0].replace(/^error: /, '').replace(file, 'scenario');
    await page.locator('#editor').fill(bad);
    await page.waitForFunction((msg) => {
      const box = document.getElementById('editor-error');
      return !box.hidden && box.textContent.startsWith(msg);
    }, expected, { timeout: 5000 }).catch(() => {});
    const shown = await page.textContent('#editor-error');
    assert.ok(shown.startsWith(expected), `${what}: page shows "${shown}", CLI says "${expected}"`);
    const line = Number(/^scenario:(\d+):/.exec(expected)?.[1]);
    assert.ok(line > 0);
    assert.equal(await page.textContent('#gutter .err'), String(line), `${what}: the gutter marks line ${line}`);
    assert.ok(await page.isVisible('#error-band'));
    assert.ok(await page.isDisabled('#run-edited'));
    assert.equal((await page.textContent('#editor-status')).trim(), '✗ invalid');
    console.log(`  ${what}: ${expected}`);
    if (what === 'a value out of range') {
      await page.locator('#editor-panel').screenshot({ path: join(ARTIFACTS, '05-editor-error.png') });
    }
  }

  // The page keeps working: the simulation runs on and the controls respond.
  const t = await simTime(page);
  await waitForSimTime(page, t + 2);
  await page.selectOption('#act-algorithm', 'power_of_two');
  await page.waitForFunction(() => document.getElementById('inspector-head').textContent.includes('power_of_two'));

  // Fix the text, run the edited scenario.
  await page.locator('#editor').fill(original.replace(/^rate = 133/m, 'rate = 200'));
  await page.waitForSelector('#editor-error', { state: 'hidden' });
  assert.equal((await page.textContent('#editor-status')).trim(), '✓ valid');
  await page.click('#run-edited');
  assert.equal(await page.inputValue('#scenario'), '');
  assert.equal(await page.inputValue('#act-rate'), '200');
  assert.equal(await simTime(page), 0);
  assert.deepEqual(errors, [], 'no console or page errors');
  await page.close();
});

test('editor Insert menu: each traffic model goes into its block, validates like the CLI, and the edited scenario runs', async () => {
  const { page, errors } = await openPage(browser.context, url);
  const original = await page.inputValue('#editor');
  const options = await page.$$eval('#insert-snippet option', (os) => os.map((o) => o.value).filter(Boolean));
  assert.ok(options.length >= 8, `the menu offers the traffic models: ${options}`);
  const dir = mkdtempSync(join(tmpdir(), 'lbsim-e2e-'));
  for (const id of options) {
    await page.locator('#editor').fill(original);
    await page.waitForSelector('#editor-error', { state: 'hidden' });
    // The cursor in the [[clients]] block, as a person would click there.
    const at = original.indexOf('[[clients]]');
    await page.$eval('#editor', (ta, at) => { ta.focus(); ta.setSelectionRange(at + 3, at + 3); }, at);
    await page.selectOption('#insert-snippet', id);
    const text = await page.inputValue('#editor');
    assert.notEqual(text, original, `${id}: the text changed`);
    const selected = await page.$eval('#editor', (ta) => ta.value.slice(ta.selectionStart, ta.selectionEnd));
    assert.ok(selected.length > 0 && text.includes(selected), `${id}: the inserted lines are selected`);
    assert.equal(await page.inputValue('#insert-snippet'), '', 'the menu returns to its prompt');
    // The page's verdict is the command line's.
    const file = join(dir, `${id}.toml`);
    writeFileSync(file, text);
    const cli = spawnSync(LBSIM, ['check', file], { encoding: 'utf8' });
    await page.waitForFunction(() => /valid/.test(document.getElementById('editor-status').textContent));
    const status = (await page.textContent('#editor-status')).trim();
    assert.equal(cli.status, 0, `${id}: lbsim check accepts the inserted text: ${cli.stderr}`);
    assert.equal(status, '✓ valid', `${id}: ${await page.textContent('#editor-error')}`);
  }
  // The last one (a schedule) runs.
  await page.click('#run-edited');
  await page.selectOption('#speed', '10');
  await page.click('#play');
  await waitForSimTime(page, 2);
  assert.deepEqual(errors, [], 'no console or page errors');
  await page.close();
});

test('a malformed permalink shows an error and the page stays usable', async () => {
  const link = (obj) => '#run=' + deflateRawSync(Buffer.from(JSON.stringify(obj))).toString('base64url');
  const cases = [
    ['garbage', '#run=%%%not-a-link', /cannot be opened: the link is damaged/],
    ['cut off', link({ v: 1, scenario: 'basic-mm1', seed: 1, actions: [], t: 0 }).slice(0, 20), /cannot be opened/],
    ['unknown scenario', link({ v: 1, scenario: 'no-such-scenario', seed: 1, actions: [], t: 0 }), /no bundled scenario "no-such-scenario"/],
    ['bad action', link({ v: 1, scenario: 'basic-mm1', seed: 1, actions: [['12', 'crash']], t: 0 }), /action 1 is not an action/],
    ['invalid scenario', link({ v: 1, text: 'name = "x"\nduration = "10s"\n', seed: null, actions: [], t: 0 }), /scenario is invalid/],
    ['unknown target', link({ v: 1, scenario: 'basic-mm1', seed: 1, actions: [['1000000', { action: 'crash', target: 'nope-9' }]], t: 0 }), /invalid/],
  ];
  for (const [what, hash, expect] of cases) {
    const { page, errors } = await openPage(browser.context, url + hash);
    const text = await page.textContent('#banner-text');
    assert.match(text, expect, `${what}: banner says "${text}"`);
    assert.ok(await page.isVisible('#banner'), what);
    console.log(`  ${what}: ${text.split('\n')[0]}`);
    if (what === 'invalid scenario') {
      assert.ok(await page.isVisible('#editor-error'), 'the link\'s scenario error is shown in the editor');
      assert.match(await page.textContent('#editor-error'), /^scenario:/);
      await top(page);
      await shot(page, '06-bad-permalink.png');
    }
    // Usable: a scenario is loaded and plays.
    assert.ok((await page.locator('#topo-text li').count()) > 0, `${what}: a scenario is loaded`);
    await page.selectOption('#speed', '10');
    await page.click('#play');
    await waitForSimTime(page, 1);
    assert.deepEqual(errors, [], `${what}: no console or page errors`);
    await page.close();
  }
});

/** Opens scenario text as "Run this scenario" does, and waits for its topology. */
async function runText(page, text) {
  await page.locator('#editor').fill(text);
  await page.click('#run-edited');
  await page.waitForFunction(() => document.querySelectorAll('#topo-text li').length > 0);
}

/** The texts drawn on a canvas (the boxes it reports through window.lbsim.labelBoxes()). */
async function drawnTexts(page, canvas) {
  return page.evaluate((id) => window.lbsim.labelBoxes().find((c) => c.canvas === id).boxes.filter((b) => b.kind !== 'box').map((b) => b.text), canvas);
}

const scenarioText = (name) => readFileSync(join(ROOT, 'scenarios', `${name}.toml`), 'utf8');

test('resilience states: ejected until when, circuit breakers overflowing, autoscaler provisioning and decisions, retries and attempts', async () => {
  const { page, errors } = await openPage(browser.context, url);
  await page.selectOption('#speed', '10');

  // Outlier detection ejects the fast-failing api-4 (distinct from a health check's "marked
  // down"): the topology and the inspector say "ejected" and until when (Envoy: 30 s after).
  await runText(page, `${scenarioText('fast-failing-server')}\n[balancer.outlier_detection]\nconsecutive_5xx = 5\n`);
  await page.click('#play');
  await page.waitForFunction(() => document.querySelector('#topo-text li[data-server="api-4"]')?.dataset.state === 'ejected', null, { timeout: 30000 });
  const ejected = await page.textContent('#topo-text li[data-server="api-4"]');
  const until = Number(/ejected until ([0-9.]+) s/.exec(ejected)?.[1]);
  assert.ok(until >= 40 && until <= 41, `ejected 30 s from its ejection just after 10 s: ${ejected}`);
  const drawnEjected = await drawnTexts(page, 'topology');
  assert.ok(drawnEjected.some((t) => /^ejected until 4[01]\.\d s$/.test(t)), `drawn on the topology: ${drawnEjected.join(' | ')}`);
  await page.waitForFunction(() => [...document.querySelectorAll('#inspector-body tr')].some((tr) => tr.cells[0].textContent === 'api-4' && /ejected until 4[01]\.\d s/.test(tr.textContent)));
  await page.click('#play');
  await top(page);
  await shot(page, '10-ejected.png');

  // Circuit breakers: the balancer shows its open requests against max_requests and its
  // overflows once the slowdown at 20 s pushes the pool over the limit.
  await runText(page, `${scenarioText('circuit-breaker-shedding')}\n[balancer.circuit_breakers]\nmax_requests = 32\n`);
  await page.click('#play');
  await page.waitForFunction(() => /breakers \d+\/32 open.*, [1-9]\d* overflowed/.test(document.getElementById('inspector-head').textContent), null, { timeout: 40000 });
  const drawn = await drawnTexts(page, 'topology');
  assert.ok(drawn.some((t) => /^open \d+\/32( FULL)?$/.test(t)), `open requests vs max_requests drawn: ${drawn.join(' | ')}`);
  assert.ok(drawn.some((t) => /^overflow [1-9]/.test(t)), 'overflows drawn');
  await page.waitForFunction(() => Number(document.querySelector('#count-overflow .v').textContent.replace(/\D/g, '')) > 0);
  await page.click('#play');
  await top(page);
  await shot(page, '11-circuit-breakers.png');

  // Autoscaler: at 75% utilization against a 60% target it asks for a third server at 15 s;
  // the server is drawn provisioning for its 30 s provision_delay, then up, and the decision
  // is on the timeline at its time.
  await runText(page, `name = "autoscale-probe"
seed = 1
duration = "2m"
[[servers]]
name = "api"
count = 2
workers = 4
service = { dist = "exponential", mean = "20ms" }
[servers.autoscale]
min = 2
max = 6
target_utilization = 0.6
provision_delay = "30s"
[[clients]]
name = "web"
count = 10
protocol = "http2"
max_streams = 100000
rate = 30
[balancer]
algorithm = "round_robin"
`);
  assert.equal(await serverState(page, 'api-3'), 'not added');
  await page.click('#play');
  await page.waitForFunction(() => document.querySelector('#topo-text li[data-server="api-3"]')?.dataset.state === 'provisioning', null, { timeout: 30000 });
  assert.ok((await simTime(page)) < 45, 'provisioning during its delay');
  await page.waitForFunction(() => [...document.querySelectorAll('#timeline-list li')].some((li) => /^15\.000 s.*autoscale api 2 → 3/.test(li.textContent)));
  await page.waitForFunction(() => document.querySelector('#topo-text li[data-server="api-3"]')?.dataset.state === 'up', null, { timeout: 30000 });
  assert.ok((await simTime(page)) >= 45, 'ready once provision_delay has passed');
  await page.click('#play');

  // Retries: a retry storm's attempts drawn over the sent line, counted, and per server.
  await runText(page, scenarioText('retry-storm').replace(/^warmup = .*$/m, 'warmup = "1s"'));
  await page.click('#play');
  await waitForSimTime(page, 16, 60000);
  await page.click('#play');
  await eventually(page, () => Number(document.querySelector('#count-retries .v').textContent.split('/')[0].replace(/\D/g, '')) > 0
    && /[0-9.k]+ retries/.test(document.querySelector('#topo-text li[data-server="api-1"]').textContent));
  assert.ok((await page.textContent('#count-retries .v')).split('/').map((x) => Number(x.replace(/\D/g, '')))[0] > 0, 'retries counted');
  assert.match(await page.textContent('#topo-text li[data-server="api-1"]'), /[0-9.k]+ retries/);
  await page.waitForFunction(() => window.lbsim.labelBoxes().find((c) => c.canvas === 'chart-outcomes').boxes.some((b) => b.text === 'attempts'));
  await eventually(page, () => window.lbsim.session.points.some((p) => p.retries > p.sent));
  const series = await page.evaluate(() => window.lbsim.session.points.map((p) => [p.sent, p.retries]));
  assert.ok(series.some(([sent, retries]) => retries > sent), 'a bucket where the retries outnumber the requests sent');
  await top(page);
  await shot(page, '12-retry-storm.png');
  assert.deepEqual(errors, [], 'no console or page errors');
  await page.close();
});

test('sessions and the store drawn: store node up/down/slow, sessions per server, a lost session flashes, per-server latency and errors', async () => {
  const { page, errors } = await openPage(browser.context, url);
  await page.selectOption('#speed', '10');
  await page.selectOption('#scenario', 'session-store-crash');
  await page.waitForFunction(() => document.getElementById('topo-caption').textContent.startsWith('session-store-crash'));
  await page.click('#play');
  await waitForSimTime(page, 8);
  // Per-server latency counts after the 5 s warmup.
  await eventually(page, () => /mean [0-9.]+ (ms|µs)/.test(document.querySelector('#topo-text li[data-server="api-1"]').textContent));
  assert.equal(await page.getAttribute('#topo-text li[data-store]', 'data-store'), 'up');
  assert.match(await page.textContent('#topo-text li[data-store]'), /session store: up — 1(\.0+)? ms/);
  assert.ok((await drawnTexts(page, 'topology')).includes('session store'), 'the store is a node of the topology');
  const api1 = await page.textContent('#topo-text li[data-server="api-1"]');
  assert.match(api1, /mean [0-9.]+ (ms|µs)/, `per-server latency: ${api1}`);
  assert.doesNotMatch(api1, /sessions/, `with a store, no server holds sessions: ${api1}`);

  // Taking the store down is not a server crash: every server stays up, the store is drawn
  // down, and store_unavailable grows.
  await page.click('#act-store-down');
  await page.waitForFunction(() => document.querySelector('#topo-text li[data-store]')?.dataset.store === 'down');
  await waitForSimTime(page, (await simTime(page)) + 2);
  const states = await page.evaluate(() => [...document.querySelectorAll('#topo-text li[data-server]')].map((li) => li.dataset.state));
  assert.deepEqual(states, ['up', 'up', 'up', 'up'], 'no server looks crashed');
  // Counters refresh a few times a second (one view a frame): waited for, then read.
  await eventually(page, () => Number(document.querySelector('#count-store_unavailable .v').textContent.replace(/[^0-9.]/g, '')) > 0);
  assert.ok((await counter(page, 'store_unavailable')) > 0);
  await page.waitForFunction(() => window.lbsim.labelBoxes().find((c) => c.canvas === 'topology').boxes.some((b) => /^DOWN · [1-9][0-9.,k]* failed$/.test(b.text)));
  await top(page);
  await shot(page, '13-store-down.png');
  await page.click('#act-store-up');
  await page.waitForFunction(() => document.querySelector('#topo-text li[data-store]')?.dataset.store === 'up');
  await page.click('#play');

  // A slow store: its latency multiplied, drawn as slow with the new latency.
  await runText(page, `${scenarioText('session-store-crash')}\n[[events]]\nat = "2s"\naction = "store_slow"\nfactor = 20\n`);
  await page.click('#play');
  await page.waitForFunction(() => document.querySelector('#topo-text li[data-store]')?.dataset.store === 'slow', null, { timeout: 20000 });
  assert.match(await page.textContent('#topo-text li[data-store]'), /session store: slow — 20(\.0+)? ms/);
  assert.ok((await drawnTexts(page, 'topology')).some((t) => /^slow · 20(\.0+)? ms$/.test(t)), 'drawn slow with its latency');
  await page.click('#play');

  // Without a store, a crash loses the sessions its server held: the server flashes with the
  // count lost, which also stays in its text, and the sessions counter shows them.
  await page.selectOption('#scenario', 'sticky-cookie-crash');
  await page.waitForFunction(() => document.getElementById('topo-caption').textContent.startsWith('sticky-cookie-crash'));
  assert.equal(await page.locator('#topo-text li[data-store]').count(), 0, 'no store here');
  await page.click('#play');
  await waitForSimTime(page, 8);
  assert.match(await page.textContent('#topo-text li[data-server="api-2"]'), /[1-9]\d* sessions/, 'sessions per server');
  // The flash is drawn for 1.5 s (every frame); the topology's text follows within a refresh.
  await page.waitForFunction(() => window.lbsim.labelBoxes().find((c) => c.canvas === 'topology').boxes.some((b) => /^−[1-9][0-9.,k]* sessions? lost$/.test(b.text)), null, { timeout: 40000 });
  await page.waitForFunction(() => /sessions lost \(just now\)/.test(document.querySelector('#topo-text li[data-server="api-2"]').textContent));
  await top(page);
  await shot(page, '14-sessions-lost.png');
  // The counters and the topology's text refresh in turn, one view a frame, a few times a
  // second: the counter can be a refresh behind the flash, so it is waited for, not read once.
  await eventually(page, () => Number(document.querySelector('#count-sessions .v').textContent.split('/')[1].replace(/\D/g, '')) > 0);
  const lost = Number((await page.textContent('#count-sessions .v')).split('/')[1].replace(/\D/g, ''));
  assert.ok(lost > 0, `the counter counts them: ${await page.textContent('#count-sessions .v')}`);
  await waitForSimTime(page, (await simTime(page)) + 20);
  await eventually(page, () => !/just now/.test(document.querySelector('#topo-text li[data-server="api-2"]').textContent));
  assert.doesNotMatch(await page.textContent('#topo-text li[data-server="api-2"]'), /just now/, 'the flash ends');
  assert.match(await page.textContent('#topo-text li[data-server="api-2"]'), /[1-9][0-9.,k]* sessions lost/);
  assert.match(await page.textContent('#topo-text li[data-server="api-2"]'), /[1-9][0-9.,k]* errors/, 'per-server errors');
  await page.click('#play');
  assert.deepEqual(errors, [], 'no console or page errors');
  await page.close();
});

test('A/B mode overlays B on the per-server and outcome charts too', async () => {
  const { page, errors } = await openPage(browser.context, url);
  await page.selectOption('#speed', '10');
  await page.selectOption('#scenario', 'slow-server');
  await page.waitForFunction(() => document.getElementById('topo-caption').textContent.startsWith('slow-server'));
  await page.fill('#ab-set', 'balancer.algorithm=least_connections');
  await page.click('#ab-start');
  await page.waitForSelector('#ab-table');
  await page.click('#play');
  await waitForSimTime(page, 8);
  await page.click('#play');
  await page.click('#chart-tables-toggle');
  const heads = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll('#chart-tables table')].map((t) =>
    [t.caption.textContent, [...t.tHead.rows[0].cells].slice(1).map((c) => c.textContent)])));
  const served = Object.entries(heads).find(([k]) => k.startsWith('Requests served'))[1];
  const outcomes = Object.entries(heads).find(([k]) => k.startsWith('Requests sent'))[1];
  assert.ok(served.includes('A backend-1') && served.includes('B backend-1'), `served per server, A and B: ${served}`);
  assert.equal(served.filter((n) => n.startsWith('B ')).length, served.length / 2);
  for (const n of ['A ok', 'A sent', 'B ok', 'B sent']) assert.ok(outcomes.includes(n), `outcomes chart has ${n}: ${outcomes}`);
  // B's values are B's own: its served counts per server differ from A's (another algorithm).
  const [a, b] = await page.evaluate(() => [window.lbsim.session.points, window.lbsim.ab.points].map((ps) => ps.map((p) => p.served.join(',')).join(';')));
  assert.notEqual(a, b);
  await page.locator('#chart-served').scrollIntoViewIfNeeded();
  await shot(page, '15-ab-overlays.png');
  await page.click('#ab-stop').catch(() => {});
  assert.deepEqual(errors, [], 'no console or page errors');
  await page.close();
});

test('frame times: 1,000 clients and 50 servers animated at 1× (report)', async () => {
  const { page, errors } = await openPage(browser.context, url);
  await page.locator('#editor').fill(readFileSync(join(ROOT, 'tests/e2e/scenarios/perf-1000x50.toml'), 'utf8'));
  await page.click('#run-edited');
  assert.equal(await page.locator('#topo-text li').count(), 50);
  await page.selectOption('#speed', '1');
  await page.click('#play');
  await page.waitForTimeout(1500); // warm up (JIT, first charts)
  await page.evaluate(() => { window.lbsim.frameTimes.length = 0; });
  const seconds = 8;
  await page.waitForTimeout(seconds * 1000);
  const frames = await page.evaluate(() => window.lbsim.frameTimes.filter((f) => f.playing));
  const inFlight = await counter(page, 'inflight');
  await top(page);
  await shot(page, '07-perf-1000-clients-50-servers.png');
  const dt = frames.map((f) => f.dt).sort((a, b) => a - b);
  const work = frames.map((f) => f.work).sort((a, b) => a - b);
  const total = frames.reduce((a, f) => a + f.dt, 0);
  const late = frames.filter((f) => f.dt > 20).length;
  const result = {
    scenario: 'tests/e2e/scenarios/perf-1000x50.toml (1,000 clients, 50 servers, 5,000 requests/s)',
    // The frame interval is the time between animation frames: a frame whose work (the page's
    // script, then Chromium's style, layout, paint and raster) misses a 60 Hz vsync shows as
    // 33 ms. Other processes taking the CPU make frames late too, so the load is reported.
    load_average_1min: loadavg()[0],
    cores: cpus().length,
    late_frames_percent: (100 * late) / frames.length,
    seconds: total / 1000,
    frames: frames.length,
    fps: (1000 * frames.length) / total,
    frame_interval_ms: { p50: quantile(dt, 0.5), p95: quantile(dt, 0.95), max: dt[dt.length - 1] },
    work_per_frame_ms: { p50: quantile(work, 0.5), p95: quantile(work, 0.95), max: work[work.length - 1] },
    requests_in_flight_at_end: inFlight,
  };
  writeFileSync(join(ARTIFACTS, 'frame-times.json'), JSON.stringify(result, null, 2) + '\n');
  const f = (x) => x.toFixed(1);
  console.log(`  frame interval p50 ${f(result.frame_interval_ms.p50)} ms, p95 ${f(result.frame_interval_ms.p95)} ms, max ${f(result.frame_interval_ms.max)} ms — ${f(result.fps)} fps over ${f(result.seconds)} s`);
  console.log(`  late frames (interval > 20 ms) ${f(result.late_frames_percent)}%; load average ${f(result.load_average_1min)} on ${result.cores} cores`);
  console.log(`  work per frame (simulate + snapshot + draw) p50 ${f(result.work_per_frame_ms.p50)} ms, p95 ${f(result.work_per_frame_ms.p95)} ms, max ${f(result.work_per_frame_ms.max)} ms`);
  assert.ok(frames.length > seconds * 5, `the animation ran (${frames.length} frames in ${seconds} s)`);
  // Issue 17's budget: a 95th-percentile frame interval within one 60 Hz frame (≤ 17 ms), with
  // the page's own work per frame (simulate, snapshot, draw, the one view it refreshes) far
  // below a frame. Both are wall times: on a machine busy with other work (load average above
  // its cores) the page's threads wait for a core and frames miss vsync whatever the page
  // does, so there they are reported but not held to the budget.
  if (result.load_average_1min < result.cores) {
    assert.ok(frames.length > seconds * 30, `${frames.length} frames in ${seconds} s`);
    assert.ok(result.frame_interval_ms.p50 < 20, `median frame interval ${result.frame_interval_ms.p50} ms (60 fps is 16.7 ms)`);
    assert.ok(result.work_per_frame_ms.p95 < 8, `work per frame p95 ${result.work_per_frame_ms.p95} ms`);
    assert.ok(result.frame_interval_ms.p95 <= 17, `95th-percentile frame interval ${result.frame_interval_ms.p95} ms (budget 17 ms)`);
  } else {
    console.log(`  load average ${f(result.load_average_1min)} on ${result.cores} cores: the budget is reported, not asserted, on a busy machine`);
  }
  assert.deepEqual(errors, [], 'no console or page errors');
  await page.close();
});
