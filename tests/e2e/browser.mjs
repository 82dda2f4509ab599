// Shared helpers of the page tests: Debian's Chromium under playwright-core with the flags
// that work on these machines, a page that records every console error and page error, and
// small readers for what the page shows (clock, counters).

import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT = new URL('../../', import.meta.url).pathname;
export const ARTIFACTS = join(ROOT, 'artifacts/e2e');

/** Launches headless Chromium (CHROMIUM or /usr/bin/chromium) with a fresh profile. */
export async function launch() {
  const profile = mkdtempSync(join(tmpdir(), 'lbsim-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1440, height: 900 },
    acceptDownloads: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Opens `url` in a new tab and waits for the page to say it is ready. `errors` collects
 * console errors and uncaught page errors (the tests assert it stays empty).
 */
export async function openPage(context, url) {
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console.error: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 30000 });
  return { page, errors };
}

/** Simulated time shown by the page, in seconds. */
export async function simTime(page) {
  const text = await page.textContent('#clock');
  return Number(/t = ([0-9.]+) s/.exec(text)?.[1] ?? NaN);
}

/** A counter card's value (e.g. "sent", "ok", "connection_error"). */
export async function counter(page, key) {
  const text = await page.textContent(`#count-${key} .v`);
  return Number(text.replace(/[^0-9.]/g, ''));
}

/** Waits until the page's simulated clock reaches `seconds`. */
export async function waitForSimTime(page, seconds, timeout = 30000) {
  await page.waitForFunction(
    (s) => Number(/t = ([0-9.]+) s/.exec(document.getElementById('clock').textContent)?.[1]) >= s,
    seconds,
    { timeout },
  );
}

/**
 * Gives the page up to `timeout` ms for `fn` (run in the page) to hold, then returns; the
 * caller asserts. The page refreshes its counters, the topology's text, charts, timeline and
 * inspector a few times a second, one view a frame: two views can be a refresh apart, so a
 * test waits on the view it reads rather than on another, and its assertion (not a timeout)
 * says what was wrong.
 */
export async function eventually(page, fn, arg = null, timeout = 5000) {
  await page.waitForFunction(fn, arg, { timeout }).catch(() => {});
}

/**
 * After a resize, the charts redraw one a frame and the timeline's markers a few times a
 * second: waits (up to about 3 s) until two reads of every canvas's drawn boxes, 20 frames
 * apart, are the same.
 */
export async function settleDrawing(page) {
  let last = '';
  for (let i = 0; i < 10; i++) {
    await page.evaluate(() => new Promise((done) => {
      let k = 0;
      const next = () => (++k >= 20 ? done() : requestAnimationFrame(next));
      requestAnimationFrame(next);
    }));
    const now = JSON.stringify(await page.evaluate(() => window.lbsim.labelBoxes()));
    if (now === last) return;
    last = now;
  }
}

/** The state the topology shows for a server ("up", "crashed", "marked down", …). */
export async function serverState(page, name) {
  return page.getAttribute(`#topo-text li[data-server="${name}"]`, 'data-state');
}

export function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
