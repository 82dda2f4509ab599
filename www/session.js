// A simulation session: the scenario text as loaded, the seed, the live actions applied so far
// and the wasm `Sim` running them. Live actions are recorded with the exact simulated instant
// they take effect (now + 1 ns, as the core schedules them), so the session can be rebuilt
// from text + actions — for a permalink, and for `add`, whose new servers must exist from the
// start of the run (the core allocates every server a timeline will ever add when it builds).

import { Sim, check, errorLine } from './pkg/sim_web.js';

/** "toml" or "json", by the text's first character (like the CLI's choice by extension). */
export function formatOf(text) {
  return text.trimStart().startsWith('{') ? 'json' : 'toml';
}

/** A scenario that cannot be loaded: the CLI's message and its line (0 if none). */
export class ScenarioError extends Error {
  constructor(message, line) {
    super(message);
    this.line = line;
  }
}

/** Validates text like `lbsim check`: null when valid, else a ScenarioError. */
export function validate(text) {
  const fmt = formatOf(text);
  const msg = check(text, fmt);
  return msg ? new ScenarioError(msg, errorLine(text, fmt)) : null;
}

/** The scenario text with `actions` appended as [[events]] (at their recorded instants). */
export function withEvents(text, actions) {
  if (actions.length === 0) return text;
  if (formatOf(text) === 'json') {
    const obj = JSON.parse(text);
    obj.events = [...(obj.events ?? []), ...actions.map((a) => ({ at: `${a.atNs}ns`, ...a.action }))];
    return JSON.stringify(obj, null, 2);
  }
  const toml = actions.map((a) => {
    const lines = [`[[events]]`, `at = "${a.atNs}ns"`];
    for (const [k, v] of Object.entries(a.action)) lines.push(`${k} = ${tomlValue(v)}`);
    return lines.join('\n');
  });
  return `${text}\n\n# live actions\n${toml.join('\n\n')}\n`;
}

function tomlValue(v) {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'boolean') return String(v);
  throw new Error(`action value ${JSON.stringify(v)} is not a string, number or boolean`);
}

/** Reads a duration like the core does ("250us", "1.5s", "2m"), in milliseconds. */
export function durationMs(text) {
  const m = /^\s*([0-9]*\.?[0-9]+)\s*(ns|us|µs|ms|s|m|h)\s*$/.exec(text ?? '');
  if (!m) return 0;
  const unit = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1e3, m: 6e4, h: 3.6e6 }[m[2]];
  return Number(m[1]) * unit;
}

/** Reads a duration as the core writes it ("20s", "1.5ms", "31.000000001s", "2m") into BigInt ns. */
export function durationNs(text) {
  const m = /^([0-9]+)(?:\.([0-9]+))?(ns|us|ms|s|m|h)$/.exec(text ?? '');
  if (!m) return null;
  const scale = { ns: 1n, us: 1000n, ms: 1000000n, s: 1000000000n, m: 60000000000n, h: 3600000000000n }[m[3]];
  const digits = scale.toString().length - 1;
  const frac = (m[2] ?? '').slice(0, digits).padEnd(digits, '0');
  return BigInt(m[1]) * scale + (digits ? BigInt(frac || '0') : 0n);
}

/** The [[events]] of the core's written-back TOML: [{atNs, action}]. */
export function parseEvents(toml) {
  const out = [];
  for (const chunk of toml.split(/^\[\[events\]\]$/m).slice(1)) {
    const action = {};
    let atNs = null;
    for (const line of chunk.split('\n')) {
      if (line.startsWith('[')) break;
      const m = /^(\w+) = (.+)$/.exec(line.trim());
      if (!m) continue;
      const value = m[2].startsWith('"') ? JSON.parse(m[2]) : Number(m[2]);
      if (m[1] === 'at') atNs = durationNs(value);
      else action[m[1]] = value;
    }
    if (atNs !== null && action.action) out.push({ atNs, action });
  }
  return out;
}

/** Workers per server group, from the core's written-back TOML ([[servers]] blocks). */
function workersByGroup(toml) {
  const out = {};
  for (const block of toml.split('[[servers]]').slice(1)) {
    const name = /^name = "([^"]*)"/m.exec(block)?.[1];
    if (name !== undefined) out[name] = Number(/^workers = (\d+)/m.exec(block)?.[1] ?? 1);
  }
  return out;
}

/** The label the core gives an action on its timeline (sim-core `describe`). */
export function describe(a) {
  switch (a.action) {
    case 'crash': return `crash ${a.target}`;
    case 'recover': return `recover ${a.target}`;
    case 'slow': return `slow ${a.target} ×${a.factor}`;
    case 'add': return `add ${a.count ?? 1} to ${a.target}`;
    case 'remove': return `remove ${a.count ?? 1} from ${a.target}`;
    case 'set_algorithm': return `algorithm → ${a.algorithm}`;
    case 'set_rate': return `${a.target} rate → ${a.rate}/s`;
    case 'store_down': return 'session store down';
    case 'store_up': return 'session store up';
    case 'set_layer': return `layer → ${a.layer}`;
    case 'set_sticky': return `sticky → ${a.sticky}`;
    default: return a.action;
  }
}

export class Session {
  /**
   * Builds a session. `name`: the bundled scenario it came from (null when edited);
   * `seed`: null for the scenario's own; `actions`: live actions to replay ([{atNs, action}]).
   * Throws ScenarioError for text the core refuses.
   */
  constructor({ text, name = null, seed = null, actions = [] }) {
    const err = validate(text);
    if (err) throw err;
    this.text = text;
    this.name = name;
    this.format = formatOf(text);
    this.actions = actions.map((a) => ({ atNs: String(a.atNs), action: { ...a.action } }));
    this.sim = this.#build(seed);
    this.topo = JSON.parse(this.sim.topology());
    this.seed = this.topo.seed;
    const written = this.sim.exportToml(); // the core's normalised TOML: every default filled in
    this.warmupMs = durationMs(/^warmup = "([^"]+)"/m.exec(written)?.[1]);
    this.workers = workersByGroup(written);
    this.points = [];
    this.generation = 0; // bumped when the Sim is rebuilt (views re-read the topology)
    this.#readEvents();
  }

  /** The scenario's own [[events]] (the core's written-back TOML, minus the live actions in it). */
  #readEvents() {
    const all = parseEvents(this.sim.exportToml());
    this.scenarioEvents = all.slice(0, Math.max(0, all.length - this.actions.length));
  }

  /**
   * The timeline: the scenario's events and the live actions, in time order, each with
   * `atNs` (BigInt), `text` (the core's label), `who` ("scenario" | "you") and `fired`.
   */
  timeline() {
    const now = this.nowNs();
    const items = [
      ...this.scenarioEvents.map((e) => ({ atNs: e.atNs, text: describe(e.action), who: 'scenario' })),
      ...this.actions.map((a) => ({ atNs: BigInt(a.atNs), text: describe(a.action), who: 'you' })),
    ];
    for (const it of items) it.fired = it.atNs <= now;
    return items.sort((a, b) => (a.atNs < b.atNs ? -1 : a.atNs > b.atNs ? 1 : 0));
  }

  #build(seed) {
    try {
      return new Sim(withEvents(this.text, this.actions), this.format, seed ?? undefined);
    } catch (e) {
      throw new ScenarioError(String(e.message ?? e), 0);
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
    const fresh = JSON.parse(this.sim.seriesFrom(this.points.length));
    for (const p of fresh) this.points.push(p);
    return fresh.length;
  }

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
