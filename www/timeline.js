// The timeline of a session: the scenario's own [[events]] as they happen and the live actions
// you took (at their exact simulated instants), plus the permalink — scenario (bundled name or
// full text), seed, actions and the instant viewed, deflated into the URL fragment — and its
// strict decoding (a malformed link is reported, never half-applied).
// @ts-check

import { el } from './util.js';

/** @typedef {import('./types.js').TimelineItem} TimelineItem */
/** @typedef {import('./types.js').Action} Action */

/**
 * Renders the list: the session's timeline (Session.timeline()).
 * @param {HTMLElement} list
 * @param {TimelineItem[]} items
 */
export function renderTimeline(list, items) {
  const key = items.map((it) => `${it.atNs}|${it.text}|${it.who}|${it.fired}`).join(';');
  if (list.dataset.key === key) return;
  list.dataset.key = key;
  if (!items.length) {
    list.replaceChildren(el('li', { class: 'empty' }, 'No events yet. Live actions you take are recorded here with their simulated time.'));
    return;
  }
  list.replaceChildren(...items.map((it) => el('li', { class: `${it.who === 'you' ? 'live' : ''}${it.fired ? '' : ' pending'}` },
    el('span', { class: 't' }, `${fmtSeconds(it.atNs)} s`),
    el('span', {}, it.text),
    el('span', { class: 'who' }, it.fired ? it.who : `${it.who} · to come`))));
}

/**
 * BigInt nanoseconds as seconds with millisecond precision (cut, not rounded).
 * @param {bigint} ns
 */
export function fmtSeconds(ns) {
  return (Number(ns / 1000000n) / 1000).toFixed(3);
}

/**
 * Chart markers for the events that have happened: time in seconds and label.
 * @param {TimelineItem[]} items
 * @returns {{ t: number, label: string }[]}
 */
export function markers(items) {
  return items.filter((it) => it.fired).map((it) => ({ t: Number(it.atNs) / 1e9, label: it.text }));
}

// ---- permalink -------------------------------------------------------------------------

const PREFIX = '#run=';

/**
 * A link's content: the scenario by bundled name or as text, the seed (null: the scenario's
 * own), the live actions and the instant viewed (ms).
 * @typedef {{ name: string | null, text: string | null, seed: number | null,
 *   actions: import('./types.js').TimedAction[], t: number, ab: string[] | null }} Permalink
 */

/** The most `--set` lines an A/B link may carry, and the longest line (characters). */
export const AB_LINK_LIMITS = { lines: 32, chars: 500 };

/**
 * The URL fragment for a session: { name | text, seed, actions: [{atNs, action}], t (ms) },
 * plus `ab`, B's `--set` lines, when A/B mode is on (absent otherwise: older links still read).
 * @param {{ name: string | null, text: string, seed: number | null,
 *   actions: import('./types.js').TimedAction[], t: number, ab?: string[] | null }} link
 */
export async function encodePermalink({ name, text, seed, actions, t, ab = null }) {
  /** @type {{ v: number, seed: number | null, actions: [string, Action][], t: number, scenario?: string, text?: string, ab?: string[] }} */
  const data = { v: 1, seed, actions: actions.map((a) => [a.atNs, a.action]), t: Math.round(t) };
  if (ab && ab.length > 0) data.ab = [...ab];
  if (name) data.scenario = name;
  else data.text = text;
  const bytes = new TextEncoder().encode(JSON.stringify(data));
  return PREFIX + toBase64Url(await pipe(bytes, new CompressionStream('deflate-raw')));
}

/** @param {string} hash */
export function hasPermalink(hash) {
  return hash.startsWith(PREFIX);
}

/**
 * Reads a permalink fragment; throws Error with a readable reason when it is malformed.
 * @param {string} hash
 * @returns {Promise<Permalink>}
 */
export async function decodePermalink(hash) {
  if (!hasPermalink(hash)) throw new Error(`the link does not start with ${PREFIX}`);
  /** @type {unknown} */
  let parsed;
  try {
    const raw = await pipe(fromBase64Url(hash.slice(PREFIX.length)), new DecompressionStream('deflate-raw'));
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
  } catch {
    throw new Error('the link is damaged (it does not decode); was it cut off when copied?');
  }
  /** @type {(why: string) => never} */
  const bad = (why) => { throw new Error(`the link's content is invalid: ${why}`); };
  if (!parsed || typeof parsed !== 'object') bad('unknown version');
  const data = /** @type {Record<string, unknown>} */ (parsed);
  if (data.v !== 1) bad('unknown version');
  const { scenario, text, seed } = data;
  if (typeof scenario !== 'string' && typeof text !== 'string') bad('no scenario');
  // A scenario that is neither a name nor absent would otherwise be looked up as a name.
  if (scenario != null && typeof scenario !== 'string') bad('scenario must be the name of a bundled scenario');
  if (seed !== null && !(typeof seed === 'number' && Number.isSafeInteger(seed) && seed >= 0)) bad('seed must be a whole number ≥ 0');
  if (!Array.isArray(data.actions)) bad('actions must be a list');
  /** @type {unknown[]} */
  const list = data.actions;
  const actions = list.map((a, i) => {
    if (!Array.isArray(a) || a.length !== 2 || typeof a[0] !== 'string' || !/^[0-9]{1,20}$/.test(a[0])) bad(`action ${i + 1} has no valid time`);
    /** @type {unknown} */
    const act = a[1];
    if (!act || typeof act !== 'object' || Array.isArray(act) || !('action' in act) || typeof act.action !== 'string') bad(`action ${i + 1} is not an action`);
    for (const v of Object.values(act)) if (!['string', 'number', 'boolean'].includes(typeof v)) bad(`action ${i + 1} has a value of the wrong kind`);
    // Checked just above: an object whose values are strings, numbers or booleans, with a string `action`.
    return { atNs: a[0], action: /** @type {Action} */ (act) };
  });
  const t = typeof data.t === 'number' && Number.isFinite(data.t) && data.t >= 0 ? data.t : 0;
  /** @type {string[] | null} */
  let ab = null;
  if (data.ab !== undefined && data.ab !== null) {
    const { lines, chars } = AB_LINK_LIMITS;
    if (!Array.isArray(data.ab) || data.ab.length === 0 || !data.ab.every((l) => typeof l === 'string')) bad('ab must be a list of KEY=VALUE settings');
    /** @type {string[]} */
    const list = data.ab;
    if (list.length > lines) bad(`ab has ${list.length} settings; at most ${lines}`);
    if (list.some((l) => l.length > chars)) bad(`an ab setting is longer than ${chars} characters`);
    if (!list.every((l) => l.includes('='))) bad('every ab setting must be KEY=VALUE');
    ab = list;
  }
  return { name: typeof scenario === 'string' ? scenario : null, text: typeof text === 'string' ? text : null, seed, actions, t, ab };
}

/**
 * The bytes through a (de)compression stream.
 * @param {Uint8Array<ArrayBuffer>} bytes
 * @param {CompressionStream | DecompressionStream} transform
 */
async function pipe(bytes, transform) {
  const stream = new Blob([bytes]).stream().pipeThrough(transform);
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** @param {Uint8Array} bytes */
function toBase64Url(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** @param {string} text */
function fromBase64Url(text) {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(b64 + '==='.slice((b64.length + 3) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}
