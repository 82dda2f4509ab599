// The README's pictures of the page (www/screenshot-1440.png and www/screenshot-390.png, a
// desktop and a phone width): a server killed by hand, the algorithm switched, a chart window
// brushed — at fixed simulated times, so the pictures are the same every time. The page test
// takes them into artifacts/e2e/; this script writes them into www/. Needs `scripts/web.sh
// build` and tests/e2e/node_modules.
//
//   node tests/e2e/screenshot.mjs [OUT_DIR]      (default www/)

import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { serve } from './static-server.mjs';
import { ROOT, launch, openPage } from './browser.mjs';

export const WIDTHS = [1440, 390];

/**
 * Stages the session at `width` px and writes a full-page screenshot to `out`. Resolves to
 * the console and page errors seen (empty when all went well).
 */
export async function stagedScreenshot(context, url, width, out) {
  const { page, errors } = await openPage(context, url);
  try {
    await page.setViewportSize({ width, height: 900 });
    const stepTo = (ms) => page.evaluate((t) => window.lbsim.session.sim.stepUntil(t), ms);
    await page.selectOption('#scenario', 'crash-with-health-checks');
    await page.waitForFunction(() => document.getElementById('topo-caption').textContent.startsWith('crash-with-health-checks'));
    await stepTo(12000);
    await page.selectOption('#act-server', 'api-5');
    await page.click('#act-crash');
    await stepTo(26000);
    await page.selectOption('#act-algorithm', 'least_connections');
    await stepTo(44000);
    await page.click('#step');
    await page.waitForTimeout(1200); // the slower refreshes (charts, timeline, inspector)
    await page.locator('#chart-latency').scrollIntoViewIfNeeded();
    const box = await page.locator('#chart-latency').boundingBox();
    const x = (t) => box.x + 56 + ((box.width - 68) * t) / 80;
    await page.mouse.move(x(14), box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(x(26), box.y + box.height / 2, { steps: 4 });
    await page.mouse.up();
    await page.mouse.move(box.x + box.width * 0.5, box.y - 40);
    await page.evaluate(() => { document.activeElement?.blur(); window.scrollTo(0, 0); });
    await page.waitForTimeout(300);
    await page.screenshot({ path: out, fullPage: true });
    return errors;
  } finally {
    await page.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const dir = process.argv[2] ?? join(ROOT, 'www');
  const { server, url } = await serve(join(ROOT, 'www'));
  const browser = await launch();
  try {
    for (const width of WIDTHS) {
      const out = join(dir, `screenshot-${width}.png`);
      const errors = await stagedScreenshot(browser.context, url, width, out);
      if (errors.length) throw new Error(errors.join('\n'));
      console.log(`wrote ${out}`);
    }
  } finally {
    await browser.close();
    server.close();
  }
}
