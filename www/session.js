// A simulation session: the scenario text as loaded, the seed, the live actions applied so far
// and the wasm `Sim` running them. Live actions are recorded with the exact simulated instant
// they take effect (now + 1 ns, as the core schedules them), so the session can be rebuilt
// from text + actions — for a permalink, and for `add`, whose new servers must exist from the
// start of the run (the core allocates every server a timeline will ever add when it builds).
// @ts-check

import { Sim, check, errorLine } from './pkg/sim_web.js';
import { describe, formatOf, withEvents } from './scenario.js';

/** @typedef {import('./types.js').Action} Action */
/** @typedef {import('./types.js').TimedAction} TimedAction */
/** @typedef {import('./types.js').TimelineItem} TimelineItem */

/** A scenario that cannot be loaded: the CLI's message and its line (0 if none). */
export class ScenarioError extends Error {
  /**
   * @param {string} message
   * @param {number} line
   */
  constructor(message, line) {
    super(message);
    this.line = line;
  }
}

/**
 * Validates text like `lbsim check`: null when valid, else a ScenarioError.
 * @param {string} text
 */
export function validate(text) {
  const fmt = formatOf(text);
  const msg = check(text, fmt);
  return msg ? new ScenarioError(msg, errorLine(text, fmt)) : null;
}

export class Session {
  /**
   * Builds a session. `name`: the bundled scenario it came from (null when edited);
   * `seed`: null for the scenario's own; `actions`: live actions to replay ([{atNs, action}]).
   * Throws ScenarioError for text the core refuses.
   * @param {{ text: string, name?: string | null, seed?: number | null,
   *   actions?: { atNs: string | bigint, action: Action }[] }} options
   */
  constructor({ text, name = null, seed = null, actions = [] }) {
    const err = validate(text);
    if (err) throw err;
    this.text = text;
    this.name = name;
    this.format = formatOf(text);
    /** @type {TimedAction[]} */
    this.actions = actions.map((a) => ({ atNs: String(a.atNs), action: { ...a.action } }));
    this.sim = this.#build(seed);
    /** @type {import('./types.js').Topology} */
    this.topo = JSON.parse(this.sim.topology());
    this.seed = this.topo.seed;
    // From the core, not from the scenario's text.
    this.warmupMs = this.topo.warmup_ms;
    /** @type {Record<string, number>} workers per server group */
    this.workers = Object.fromEntries(this.topo.servers.map((s) => [s.group, s.workers]));
    /** @type {import('./types.js').SeriesPoint[]} */
    this.points = [];
    this.generation = 0; // bumped when the Sim is rebuilt (views re-read the topology)
    /** @type {{ atNs: bigint, action: Action }[]} */
    this.scenarioEvents = [];
    this.#readEvents();
  }

  /** The scenario's own [[events]] (the core's timeline items, minus the live actions in it). */
  #readEvents() {
    /** @type {import('./types.js').CoreTimelineItem[]} */
    const items = JSON.parse(this.sim.timelineItems());
    const all = items.map((it) => ({
      atNs: BigInt(it.at_ns),
      action: /** @type {Action} */ ({ action: it.kind, ...(it.target === null ? {} : { target: it.target }), ...it.values }),
    }));
    this.scenarioEvents = all.slice(0, Math.max(0, all.length - this.actions.length));
  }

  /**
   * The timeline: the scenario's events and the live actions, in time order, each with
   * `atNs` (BigInt), `text` (the core's label), `who` ("scenario" | "you") and `fired`.
   * @returns {TimelineItem[]}
   */
  timeline() {
    const now = this.nowNs();
    /** @type {TimelineItem[]} */
    const items = [
      ...this.scenarioEvents.map((e) => ({ atNs: e.atNs, text: describe(e.action), who: /** @type {const} */ ('scenario'), fired: false })),
      ...this.actions.map((a) => ({ atNs: BigInt(a.atNs), text: describe(a.action), who: /** @type {const} */ ('you'), fired: false })),
    ];
    for (const it of items) it.fired = it.atNs <= now;
    return items.sort((a, b) => (a.atNs < b.atNs ? -1 : a.atNs > b.atNs ? 1 : 0));
  }

  /** @param {number | null} seed */
  #build(seed) {
    try {
      return new Sim(withEvents(this.text, this.actions), this.format, seed ?? undefined);
    } catch (e) {
      throw new ScenarioError(String(e instanceof Error ? e.message : e), 0);
    }
  }

  get nowMs() { return this.sim.nowMs(); }
  get durationMs() { return this.sim.durationMs(); }
  get finished() { return this.sim.finished(); }

  /** Simulated now in integer nanoseconds (exact: the core's u64 round-trips through ms). */
  nowNs() {
    return BigInt(Math.round(this.sim.nowMs() * 1e6));
  }

  /**
   * Applies a live action now (it takes effect 1 ns later). Returns null when applied, else
   * why not. Throws Error for an action the core refuses (its validation message).
   * @param {Action} action
   * @returns {string | null}
   */
  apply(action) {
    if (this.finished) return 'the run is over';
    const atNs = (this.nowNs() + 1n).toString();
    const applied = this.sim.apply(JSON.stringify(action));
    if (!applied) return 'clients have stopped sending (past the scenario duration)';
    this.actions.push({ atNs, action: { ...action } });
    if (action.action === 'add') this.rebuild();
    return null;
  }

  /** Rebuilds the Sim from text + actions and replays it to the current instant. */
  rebuild() {
    const nowNs = this.nowNs();
    const sim = this.#build(this.seed);
    sim.stepUntil((Number(nowNs) + 0.5) / 1e6);
    this.sim.free();
    this.sim = sim;
    this.topo = JSON.parse(sim.topology());
    this.points = [];
    this.generation++;
    this.#readEvents();
  }

  /** New completed time-series buckets since the last call (appended to `points`). */
  pullSeries() {
    /** @type {import('./types.js').SeriesPoint[]} */
    const fresh = JSON.parse(this.sim.seriesFrom(this.points.length));
    for (const p of fresh) this.points.push(p);
    return fresh.length;
  }

  /** @returns {import('./types.js').Report} */
  report() {
    return JSON.parse(this.sim.report());
  }

  exportToml() {
    return this.sim.exportToml();
  }

  traceHash() {
    return this.sim.traceHash();
  }

  free() {
    this.sim.free();
  }
}
