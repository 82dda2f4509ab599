// The guided lessons in the page: every bundled scenario's `[lesson]` walked step by step in
// headless Chromium at full speed — "Do this" restarts with the step's changes on the same
// seed, and every claim, checked by the core as the run goes (Sim.lessonCheck, the evaluation
// `lbsim lesson` uses), shows ✓ at the end of its run. Fails on any console or page error.
// Needs `scripts/web.sh build` (scripts/web.sh test runs it).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { serve } from './static-server.mjs';
import { ROOT, launch, openPage } from './browser.mjs';

let server, url, browser;

before(async () => {
  ({ server, url } = await serve(join(ROOT, 'www')));
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.close();
});

/** Follows every step of the open scenario's lesson; returns [{ step, claim, holds, figure }]. */
async function walk(page, name) {
  const steps = await page.locator('#lesson-body li.lesson-step').count();
  assert.ok(steps > 0, `${name}: the lesson panel shows no steps`);
  const out = [];
  for (let i = 0; i < steps; i++) {
    await page.click(`#lesson-body button.lesson-do[data-step="${i}"]`);
    await page.waitForSelector(`#lesson-body li.lesson-step[data-step="${i}"][data-current="true"][data-done="true"]`, { timeout: 180000 });
    const claims = await page.$$eval(`#lesson-body li.lesson-step[data-step="${i}"] li.claim`, (lis) =>
      lis.map((li) => ({ claim: li.querySelector('.what').textContent, holds: li.dataset.holds, final: li.dataset.final, figure: li.querySelector('.figure').textContent, mark: li.querySelector('.mark').textContent })));
    for (const c of claims) out.push({ step: i + 1, ...c });
  }
  return out;
}

test('every bundled scenario has a lesson, and following it every claim holds', async () => {
  const { page, errors } = await openPage(browser.context, url);
  const names = await page.evaluate(() => window.lbsim.bundled.map((b) => b.name));
  assert.ok(names.length >= 25, `only ${names.length} bundled scenarios`);
  await page.selectOption('#speed', 'max');
  const failing = [];
  let checked = 0;
  const t0 = Date.now();
  for (const name of names) {
    await page.selectOption('#scenario', name);
    await page.waitForFunction((n) => document.getElementById('topo-caption').textContent.startsWith(n), name);
    assert.equal(await page.isVisible('#lesson'), true, `${name}: no lesson panel`);
    for (const c of await walk(page, name)) {
      checked++;
      if (c.holds !== 'true' || c.final !== 'true' || c.mark !== '✓') failing.push(`${name} step ${c.step}: ${c.claim} (${c.figure})`);
    }
  }
  console.log(`lessons: ${checked} claims over ${names.length} scenarios in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  assert.deepEqual(failing, [], `claims that do not hold in the page:\n${failing.join('\n')}`);
  assert.ok(checked >= 90, `only ${checked} claims checked`);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a step shows the figure of the run before it, and the changes follow into the editor and the restart', async () => {
  const { page, errors } = await openPage(browser.context, url);
  await page.selectOption('#scenario', 'grpc-l4-imbalance');
  await page.waitForFunction(() => document.getElementById('topo-caption').textContent.startsWith('grpc-l4-imbalance'));
  await page.selectOption('#speed', 'max');
  await page.click('#lesson-body button.lesson-do[data-step="0"]');
  await page.waitForSelector('#lesson-body li.lesson-step[data-step="0"][data-done="true"]', { timeout: 60000 });
  await page.click('#lesson-body button.lesson-do[data-step="1"]');
  // While it runs the claims are checked on the figures so far.
  await page.waitForSelector('#lesson-body li.lesson-step[data-step="1"][data-done="true"]', { timeout: 60000 });
  const figure = await page.textContent('#lesson-body li.lesson-step[data-step="1"] li.claim .figure');
  assert.match(figure, /^went from 1\.35 to 1(\.0\d*)?$/, figure);
  // The editor shows the scenario as changed: L7 is the default, so no `layer = "l4"` is left.
  const edited = await page.inputValue('#editor');
  assert.match(edited, /name = "grpc-l4-imbalance"/);
  assert.doesNotMatch(edited, /layer = "l4"/, 'the editor shows the scenario as changed');
  assert.equal(await page.inputValue('#scenario'), 'grpc-l4-imbalance');
  // A restart keeps the step in force.
  await page.click('#restart');
  await page.waitForSelector('#lesson-body li.lesson-step[data-step="1"][data-current="true"]');
  // Another scenario brings its own lesson, from its first step.
  await page.selectOption('#scenario', 'slow-server');
  await page.waitForFunction(() => document.querySelector('#lesson-body .lesson-title')?.textContent.includes('12×'));
  assert.equal(await page.getAttribute('#lesson-body li.lesson-step[data-step="0"]', 'data-current'), 'true');
  assert.deepEqual(errors, []);
  await page.close();
});
