// A/B mode: a second run (B) of the open scenario on the same seed, differing only in `--set`
// overrides (KEY=VALUE, as `lbsim run --set` takes them). The core derives arrival streams
// from (seed, purpose, client), so B sees exactly A's arrivals (common random numbers) and the
// difference of the headline figures is the setting's effect on the same traffic. A single
// pair of runs has no interval; "run 5 seeds" runs both variants on seeds 1..5 and reports the
// mean paired difference with its 95% Student-t interval, as `lbsim compare` does.
// @ts-check

import { Sim, checkWith, runWith } from './pkg/sim_web.js';

/** @typedef {import('./types.js').Report} Report */

/** Two-sided 95% critical values of Student's t for 1..=30 degrees of freedom (sim-cli stats.rs). */
const T95 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12,
  2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** The seeds "run 5 seeds" uses. */
export const AB_SEEDS = [1, 2, 3, 4, 5];

/**
 * The headline figures compared, each read from a report: key, label, getter.
 * @type {[string, string, (r: Report) => number][]}
 */
export const AB_FIGURES = [
  ['latency_mean', 'mean latency (ms)', (r) => r.latency_ms.mean],
  ['latency_p99', 'p99 latency (ms)', (r) => r.latency_ms.p99],
  ['success', 'success rate', (r) => (r.requests.sent === 0 ? 1 : r.requests.completed / r.requests.sent)],
  ['jain', "Jain's index", (r) => r.balance.jain_index],
];

/**
 * The mean of `values` with its 95% Student-t interval (null bounds with fewer than 2 values).
 * @param {number[]} values
 * @returns {{ mean: number, half: number | null }}
 */
export function tInterval(values) {
  const n = values.length;
  if (n === 0) return { mean: NaN, half: null };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, half: null };
  const variance = values.reduce((a, v) => a + (v - mean) * (v - mean), 0) / (n - 1);
  const df = n - 1;
  const t = df <= 30 ? T95[df - 1] : 1.959964;
  return { mean, half: t * Math.sqrt(variance / n) };
}

/**
 * The `--set` lines of B's text box: trimmed, blank lines and `#` comments dropped.
 * @param {string} text
 */
export function overrideLines(text) {
  return text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
}

/** Side B of an A/B comparison, stepped in lockstep with the page's session (side A). */
export class ABRun {
  /**
   * Builds B from A's text and seed with `overrides` applied. Throws Error with the core's
   * message (key path, what is allowed) when an override does not apply.
   * @param {{ text: string, format: string, seed: number }} a
   * @param {string[]} overrides
   */
  constructor(a, overrides) {
    if (overrides.length === 0) throw new Error('B: give at least one KEY=VALUE, such as balancer.algorithm=least_connections');
    const joined = overrides.join('\n');
    const msg = checkWith(a.text, a.format, joined);
    if (msg) throw new Error(`B (${overrides.join(', ')}): ${msg}`);
    this.text = a.text;
    this.format = a.format;
    this.seed = a.seed;
    this.overrides = overrides;
    this.sim = Sim.withOverrides(a.text, a.format, a.seed, joined);
    /** @type {import('./types.js').Topology} */
    this.topo = JSON.parse(this.sim.topology());
    /** @type {import('./types.js').SeriesPoint[]} */
    this.points = [];
  }

  /**
   * Steps B to A's simulated time (ms): the same instant each frame. Once A has finished, B
   * runs to its own end (it may drain a little longer), so its final figures are complete.
   * @param {number} nowMs
   * @param {boolean} [aFinished]
   */
  stepTo(nowMs, aFinished = false) {
    if (aFinished) {
      while (this.sim.stepEvents(100000));
    } else if (this.sim.nowMs() < nowMs) {
      this.sim.stepUntil(nowMs);
    }
  }

  /**
   * The lines the export puts at the top of side A's scenario: how to replay side B.
   * @param {string} file the exported file's name
   */
  exportHeader(file) {
    const sets = this.overrides.map((o) => `--set ${o}`).join(' ');
    return [
      '# A/B comparison exported from the lbsim page. This file is side A; side B is the same',
      '# file, seed and live actions with one setting changed:',
      `#   lbsim run ${file} ${sets}`,
      `# B: ${this.overrides.join(', ')}`,
      '',
    ].join('\n');
  }

  /** B's new time-series points (the same buckets as A's); returns how many arrived. */
  pullSeries() {
    /** @type {import('./types.js').SeriesPoint[]} */
    const fresh = JSON.parse(this.sim.seriesFrom(this.points.length));
    for (const p of fresh) this.points.push(p);
    return fresh.length;
  }

  /** Requests sent so far (after warmup), from B's last snapshot. */
  sent() {
    this.sim.snapshot();
    /** @type {import('./types.js').Totals} */
    const totals = JSON.parse(this.sim.totalsNamed());
    return totals.sent;
  }

  /** @returns {Report} */
  report() {
    return JSON.parse(this.sim.report());
  }

  /**
   * Both variants run to the end on each seed (the core's `runWith`, the same runs as
   * `lbsim run --seed N [--set …]`): per figure, the mean B − A difference and its interval.
   * @param {number[]} seeds
   */
  acrossSeeds(seeds = AB_SEEDS) {
    /** @type {Record<string, number[]>} */
    const diffs = {};
    for (const [key] of AB_FIGURES) diffs[key] = [];
    for (const seed of seeds) {
      /** @type {Report} */
      const ra = JSON.parse(runWith(this.text, this.format, seed, ''));
      /** @type {Report} */
      const rb = JSON.parse(runWith(this.text, this.format, seed, this.overrides.join('\n')));
      for (const [key, , get] of AB_FIGURES) diffs[key].push(get(rb) - get(ra));
    }
    return AB_FIGURES.map(([key, label]) => ({ key, label, ...tInterval(diffs[key]) }));
  }

  free() {
    this.sim.free();
  }
}
