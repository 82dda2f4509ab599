// A scenario's text as the page handles it without the core: its format, live actions written
// into it as [[events]] and read back from the core's written-back TOML, durations, server
// workers, and the timeline's label of each action. Pure functions (no DOM, no wasm), so
// Node.js unit-tests them (tests/e2e/unit.test.mjs).
// @ts-check

/** @typedef {import('./types.js').Action} Action */
/** @typedef {import('./types.js').TimedAction} TimedAction */

/**
 * "toml" or "json", by the text's first character (like the CLI's choice by extension).
 * @param {string} text
 * @returns {'toml' | 'json'}
 */
export function formatOf(text) {
  return text.trimStart().startsWith('{') ? 'json' : 'toml';
}

/**
 * The scenario text with `actions` appended as [[events]] (at their recorded instants).
 * @param {string} text
 * @param {TimedAction[]} actions
 */
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

/**
 * A TOML value for an action's value; throws for anything but a string, finite number or boolean.
 * @param {unknown} v
 */
export function tomlValue(v) {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'boolean') return String(v);
  throw new Error(`action value ${JSON.stringify(v)} is not a string, number or boolean`);
}

/** @type {Record<string, number>} */
const MS_PER_UNIT = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1e3, m: 6e4, h: 3.6e6 };

/**
 * Reads a duration like the core does ("250us", "1.5s", "2m"), in milliseconds; 0 when it is
 * not one.
 * @param {string | null | undefined} text
 */
export function durationMs(text) {
  const m = /^\s*([0-9]*\.?[0-9]+)\s*(ns|us|µs|ms|s|m|h)\s*$/.exec(text ?? '');
  if (!m) return 0;
  return Number(m[1]) * MS_PER_UNIT[m[2]];
}

/** @type {Record<string, bigint>} */
const NS_PER_UNIT = { ns: 1n, us: 1000n, ms: 1000000n, s: 1000000000n, m: 60000000000n, h: 3600000000000n };

/**
 * Reads a duration as the core writes it ("20s", "1.5ms", "31.000000001s", "2m") into BigInt
 * ns (digits beyond 1 ns are cut); null when it is not one.
 * @param {unknown} text
 */
export function durationNs(text) {
  const m = /^([0-9]+)(?:\.([0-9]+))?(ns|us|ms|s|m|h)$/.exec(typeof text === 'string' ? text : '');
  if (!m) return null;
  const scale = NS_PER_UNIT[m[3]];
  const digits = scale.toString().length - 1;
  const frac = (m[2] ?? '').slice(0, digits).padEnd(digits, '0');
  return BigInt(m[1]) * scale + (digits ? BigInt(frac || '0') : 0n);
}

/**
 * The [[events]] of the core's written-back TOML: [{atNs, action}], in file order.
 * @param {string} toml
 * @returns {{ atNs: bigint, action: Action }[]}
 */
export function parseEvents(toml) {
  const out = [];
  for (const chunk of toml.split(/^\[\[events\]\]$/m).slice(1)) {
    /** @type {Record<string, string | number>} */
    const fields = {};
    let atNs = null;
    for (const line of chunk.split('\n')) {
      if (line.startsWith('[')) break;
      const m = /^(\w+) = (.+)$/.exec(line.trim());
      if (!m) continue;
      const value = m[2].startsWith('"') ? JSON.parse(m[2]) : Number(m[2]);
      if (m[1] === 'at') atNs = durationNs(value);
      else fields[m[1]] = value;
    }
    if (atNs !== null && typeof fields.action === 'string' && fields.action) out.push({ atNs, action: { ...fields, action: fields.action } });
  }
  return out;
}

/**
 * Workers per server group, from the core's written-back TOML ([[servers]] blocks).
 * @param {string} toml
 * @returns {Record<string, number>}
 */
export function workersByGroup(toml) {
  /** @type {Record<string, number>} */
  const out = {};
  for (const block of toml.split('[[servers]]').slice(1)) {
    const name = /^name = "([^"]*)"/m.exec(block)?.[1];
    if (name !== undefined) out[name] = Number(/^workers = (\d+)/m.exec(block)?.[1] ?? 1);
  }
  return out;
}

/**
 * The label the core gives an action on its timeline (sim-core `describe`).
 * @param {Action} a
 */
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
    case 'store_slow': return `session store slow ×${a.factor}`;
    case 'burst': return `burst of ${a.count} from ${a.target}`;
    case 'set_layer': return `layer → ${a.layer}`;
    case 'set_sticky': return `sticky → ${a.sticky}`;
    default: return a.action;
  }
}
