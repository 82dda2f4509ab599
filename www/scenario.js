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
    case 'errors': {
      const rate = Number(a.rate);
      if (rate === 0) return `errors end at ${a.target}`;
      return a.latency ? `${a.target} errors ${rate * 100}% in ${a.latency}` : `${a.target} errors ${rate * 100}%`;
    }
    default: return a.action;
  }
}

/**
 * The editor's "Insert" menu: the traffic models a person would otherwise have to look up —
 * heavy-tailed and empirical service times, closed-loop users and a load schedule. `table` is
 * the kind of block the line belongs in; `replaces` the keys it takes the place of in that block
 * (a group has one service time, and `rate`, `users` and `schedule` exclude one another).
 * @type {{ id: string, label: string, table: 'servers' | 'clients', text: string, replaces: string[] }[]}
 */
export const SNIPPETS = [
  { id: 'pareto', label: 'Service time: Pareto (heavy tail)', table: 'servers', replaces: ['service'],
    text: 'service = { dist = "pareto", min = "2ms", alpha = 1.5 }' },
  { id: 'mixture', label: 'Service time: mixture (90% fast, 10% slow)', table: 'servers', replaces: ['service'],
    text: 'service = { dist = "mixture", parts = [{ weight = 0.9, dist = "exponential", mean = "2ms" }, { weight = 0.1, dist = "exponential", mean = "40ms" }] }' },
  { id: 'empirical', label: 'Service time: empirical (your measured samples)', table: 'servers', replaces: ['service'],
    text: 'service = { dist = "empirical", samples = ["1ms", "2ms", "2ms", "3ms", "5ms", "8ms", "40ms"] }' },
  { id: 'weibull', label: 'Service time: Weibull', table: 'servers', replaces: ['service'],
    text: 'service = { dist = "weibull", shape = 0.7, scale = "4ms" }' },
  { id: 'gamma', label: 'Service time: gamma', table: 'servers', replaces: ['service'],
    text: 'service = { dist = "gamma", shape = 2, mean = "5ms" }' },
  { id: 'lognormal', label: 'Service time: lognormal (p50, p99)', table: 'servers', replaces: ['service'],
    text: 'service = { dist = "lognormal", p50 = "5ms", p99 = "60ms" }' },
  { id: 'users', label: 'Clients: closed loop (users with think time)', table: 'clients', replaces: ['rate', 'schedule', 'arrival', 'users', 'think_time'],
    text: 'users = 20\nthink_time = { dist = "exponential", mean = "500ms" }' },
  { id: 'schedule', label: 'Clients: load schedule (a ramp)', table: 'clients', replaces: ['rate', 'schedule', 'users', 'think_time'],
    text: 'schedule = [{ at = "0s", rate = 20 }, { at = "20s", rate = 100 }]' },
];

/**
 * `text` with a snippet put in the `[[servers]]` or `[[clients]]` block that holds the cursor
 * (or the first such block), replacing the keys the snippet replaces there; and the range of
 * the inserted lines, to select them. TOML only: throws for JSON or when no such block exists.
 * @param {string} text
 * @param {number} cursor character offset of the cursor
 * @param {{ table: string, text: string, replaces: string[] }} snippet
 * @returns {{ text: string, start: number, end: number }}
 */
export function insertSnippet(text, cursor, snippet) {
  if (formatOf(text) === 'json') throw new Error('the Insert menu writes TOML; this scenario is JSON');
  const lines = text.split('\n');
  const header = `[[${snippet.table}]]`;
  const isHeader = (/** @type {string} */ l) => /^\s*\[/.test(l);
  // The block the cursor is in: the last header at or above the cursor's line.
  const cursorLine = text.slice(0, cursor).split('\n').length - 1;
  let start = -1;
  for (let i = Math.min(cursorLine, lines.length - 1); i >= 0; i--) {
    if (isHeader(lines[i])) { if (lines[i].trim() === header) start = i; break; }
  }
  if (start < 0) start = lines.findIndex((l) => l.trim() === header);
  if (start < 0) throw new Error(`no ${header} block to put it in`);
  let end = start + 1;
  while (end < lines.length && !isHeader(lines[end])) end++;
  const replaced = new RegExp(`^\\s*(${snippet.replaces.join('|')})\\s*=`);
  const body = [];
  let at = -1;
  for (let i = start + 1; i < end; i++) {
    if (replaced.test(lines[i])) {
      if (at < 0) at = body.length;
      // A multi-line array value ends at its closing bracket.
      let depth = 0;
      for (let j = i; j < end; j++) {
        depth += (lines[j].match(/\[/g) ?? []).length - (lines[j].match(/\]/g) ?? []).length;
        if (depth <= 0) { i = j; break; }
      }
      continue;
    }
    body.push(lines[i]);
  }
  if (at < 0) {
    // After the block's last key line (before its trailing blank lines and comments).
    at = body.length;
    while (at > 0 && (body[at - 1].trim() === '' || body[at - 1].trim().startsWith('#'))) at--;
  }
  body.splice(at, 0, ...snippet.text.split('\n'));
  const out = [...lines.slice(0, start + 1), ...body, ...lines.slice(end)];
  const before = out.slice(0, start + 1 + at).join('\n').length + 1;
  return { text: out.join('\n'), start: before, end: before + snippet.text.length };
}
