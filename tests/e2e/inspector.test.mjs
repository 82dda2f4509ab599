// The balancer inspector under a real browser: for every algorithm (switched live with the
// page's algorithm control), the sentence is the core's explanation (Balancer::explain, through
// Sim.inspect) and names the next server; where the pick does not hash the request, the next
// request the replica routes really goes there (exactly, also for the random ones: the core
// explains with a clone of the replica's random stream). The counters read the core's totals
// by name, the live settings, warmup, workers and the timeline's items come from the core, and names as the scenario
// spells them (`source_ip`). Fails on any console or page error.
// Needs `scripts/web.sh build` (scripts/web.sh test runs it).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { serve } from './static-server.mjs';
import { ROOT, counter, launch, openPage, waitForSimTime } from './browser.mjs';

let server, url, browser;

before(async () => {
  ({ server, url } = await serve(join(ROOT, 'www')));
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.close();
});

/** Plays until the inspector's head names `algorithm` (a live switch takes effect at the next event), then pauses. */
async function switchTo(page, algorithm) {
  await page.selectOption('#act-algorithm', algorithm);
  await page.click('#play');
  await page.waitForFunction((a) => document.getElementById('inspector-head').textContent.includes(a), algorithm);
  await page.click('#play');
  await page.waitForFunction(() => /paused/.test(document.getElementById('live-status').textContent));
}

test('the inspector explains the next pick of every algorithm, and the next request goes there', async () => {
  const { page, errors } = await openPage(browser.context, url);
  await page.selectOption('#scenario', 'basic-mm1');
  await page.waitForFunction(() => document.getElementById('topo-caption').textContent.startsWith('basic-mm1'));
  await page.selectOption('#speed', '10');
  await page.click('#play');
  await waitForSimTime(page, 1);
  const algorithms = await page.$$eval('#act-algorithm option', (os) => os.map((o) => o.value).filter(Boolean));
  assert.ok(algorithms.length >= 10, `every built-in is offered: ${algorithms.join(', ')}`);
  await page.click('#play');

  for (const algorithm of algorithms) {
    await switchTo(page, algorithm);
    // The sentence shown is the core's explanation of the state the page is paused at.
    const explanation = await page.evaluate(() => JSON.parse(window.lbsim.session.sim.inspect(0)).next[0].explanation);
    assert.equal(explanation.algorithm, algorithm);
    assert.ok(explanation.explained);
    await page.waitForFunction((e) => {
      const pick = document.querySelector('#inspector-body .why .pick');
      return pick?.dataset.next === (e.next_name ?? '') && pick.textContent.includes(e.rule);
    }, explanation);
    const sentence = await page.textContent('#inspector-body .why');
    if (explanation.randomness === 'keyed') {
      assert.equal(explanation.next_name, null);
      assert.match(sentence, /key/, `${algorithm}: ${sentence}`);
      continue;
    }
    assert.ok(explanation.next_name, `${algorithm}: a next server`);
    assert.ok(sentence.includes(`Next pick: ${explanation.next_name}`) || sentence.includes(`next draw): ${explanation.next_name}`),
      `${algorithm}: the sentence names ${explanation.next_name}: ${sentence}`);
    if (explanation.randomness === 'random') assert.ok(explanation.sampled.length > 0 || algorithm === 'random', `${algorithm}: the draws are shown`);
    // Step event by event: each time replica 0 routes one more request, it went where the
    // explanation just before said.
    const seen = await page.evaluate(() => {
      const sim = window.lbsim.session.sim;
      let before = JSON.parse(sim.inspect(0));
      const out = [];
      for (let i = 0; i < 5000 && out.length < 50; i++) {
        if (!sim.stepEvents(1)) break;
        const after = JSON.parse(sim.inspect(0));
        const was = new Map(before.servers.map((s) => [s.name, s.active]));
        const changed = after.servers.filter((s) => s.active !== (was.get(s.name) ?? 0));
        if (changed.length === 1 && changed[0].active === (was.get(changed[0].name) ?? 0) + 1) {
          out.push({ expected: before.next[0].explanation.next_name, got: changed[0].name });
        }
        before = after;
      }
      return out;
    });
    assert.ok(seen.length >= 20, `${algorithm}: ${seen.length} picks seen`);
    for (const { expected, got } of seen) assert.equal(got, expected, `${algorithm}: the explained next pick`);
  }
  assert.deepEqual(errors, []);
  await page.close();
});

test('counters show the core\'s totals by name, the live settings are the core\'s; names as the scenario spells them', async () => {
  const { page, errors } = await openPage(browser.context, url);
  await page.selectOption('#scenario', 'heavy-users-sticky');
  await page.waitForFunction(() => document.getElementById('topo-caption').textContent.startsWith('heavy-users-sticky'));
  const topo = await page.evaluate(() => JSON.parse(window.lbsim.session.sim.topology()));
  assert.equal(topo.sticky, 'source_ip');
  assert.equal(topo.layer, 'l7');
  // The session reads the warmup and the workers from the core, not from TOML text.
  assert.equal(topo.warmup_ms, 5000);
  assert.equal(await page.evaluate(() => window.lbsim.session.warmupMs), 5000);
  const workers = await page.evaluate(() => window.lbsim.session.workers);
  assert.deepEqual(Object.keys(workers), [...new Set(topo.servers.map((s) => s.group))]);
  assert.ok(Object.values(workers).every((w) => Number.isInteger(w) && w >= 1));
  assert.ok(topo.clients.every((c) => ['proxy', 'client'].includes(c.balancing) && ['http1', 'http2', 'websocket'].includes(c.protocol)));
  await page.selectOption('#speed', '10');
  await page.click('#play');
  await waitForSimTime(page, 7); // past the 5 s warmup: totals count from there
  await page.click('#play');
  await page.waitForFunction(() => /paused/.test(document.getElementById('live-status').textContent));
  const totals = await page.evaluate(() => {
    window.lbsim.session.sim.snapshot();
    return JSON.parse(window.lbsim.session.sim.totalsNamed());
  });
  assert.ok(totals.sent > 0);
  assert.deepEqual(Object.keys(totals.outcomes).slice(0, 2), ['ok', 'timeout'], 'report order');
  await page.waitForFunction((sent) => Number(document.querySelector('#count-sent .v').textContent.replace(/[^0-9.]/g, '')) === sent, totals.sent);
  assert.equal(await counter(page, 'ok'), totals.outcomes.ok);
  // The live settings come from the core (Sim.liveSettings), with the scenario's spelling.
  const live = await page.evaluate(() => JSON.parse(window.lbsim.session.sim.liveSettings()));
  assert.equal(live.sticky, 'source_ip');
  assert.equal(await page.inputValue('#act-sticky'), 'source_ip');
  await page.selectOption('#act-sticky', 'cookie');
  await page.click('#play');
  await page.waitForFunction(() => JSON.parse(window.lbsim.session.sim.liveSettings()).sticky === 'cookie');
  await page.click('#play');
  await page.waitForFunction(() => document.getElementById('act-sticky').value === 'cookie');
  // The timeline comes from the core as typed items: the live action is the last one, with its
  // kind, value and the core's label; the session's scenario events are the others.
  const items = await page.evaluate(() => JSON.parse(window.lbsim.session.sim.timelineItems()));
  const last = items[items.length - 1];
  assert.deepEqual([last.kind, last.values.sticky, last.label], ['set_sticky', 'cookie', 'sticky → cookie']);
  assert.ok(/^\d+$/.test(last.at_ns));
  const scenarioEvents = await page.evaluate(() => window.lbsim.session.scenarioEvents.map((e) => ({ ...e, atNs: String(e.atNs) })));
  assert.deepEqual(scenarioEvents, items.slice(0, -1).map((it) => ({
    atNs: it.at_ns, action: { action: it.kind, ...(it.target === null ? {} : { target: it.target }), ...it.values },
  })));
  assert.deepEqual(errors, []);
  await page.close();
});
