// The timeline of a session: the scenario's own [[events]] as they happen and the live actions
// you took (at their exact simulated instants), plus the permalink — scenario (bundled name or
// full text), seed, actions and the instant viewed, deflated into the URL fragment — and its
// strict decoding (a malformed link is reported, never half-applied).

import { el } from './util.js';

/** Renders the list: the session's timeline (Session.timeline()). */
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

/** BigInt nanoseconds as seconds with millisecond precision. */
function fmtSeconds(ns) {
  return (Number(ns / 1000000n) / 1000).toFixed(3);
}

/** Chart markers for the events that have happened. */
export function markers(items) {
  return items.filter((it) => it.fired).map((it) => ({ t: Number(it.atNs) / 1e9, label: it.text }));
}

// ---- permalink -------------------------------------------------------------------------

const PREFIX = '#run=';

/** The URL fragment for a session: { name | text, seed, actions: [{atNs, action}], t (ms) }. */
export async function encodePermalink({ name, text, seed, actions, t }) {
  const data = { v: 1, seed, actions: actions.map((a) => [a.atNs, a.action]), t: Math.round(t) };
  if (name) data.scenario = name;
  else data.text = text;
  const bytes = new TextEncoder().encode(JSON.stringify(data));
  return PREFIX + toBase64Url(await pipe(bytes, new CompressionStream('deflate-raw')));
}

export function hasPermalink(hash) {
  return hash.startsWith(PREFIX);
}

/** Reads a permalink fragment; throws Error with a readable reason when it is malformed. */
export async function decodePermalink(hash) {
  if (!hasPermalink(hash)) throw new Error(`the link does not start with ${PREFIX}`);
  let data;
  try {
    const raw = await pipe(fromBase64Url(hash.slice(PREFIX.length)), new DecompressionStream('deflate-raw'));
    data = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
  } catch {
    throw new Error('the link is damaged (it does not decode); was it cut off when copied?');
  }
  const bad = (why) => { throw new Error(`the link's content is invalid: ${why}`); };
  if (!data || typeof data !== 'object' || data.v !== 1) bad('unknown version');
  if (typeof data.scenario !== 'string' && typeof data.text !== 'string') bad('no scenario');
  if (data.seed !== null && !(Number.isSafeInteger(data.seed) && data.seed >= 0)) bad('seed must be a whole number ≥ 0');
  if (!Array.isArray(data.actions)) bad('actions must be a list');
  const actions = data.actions.map((a, i) => {
    if (!Array.isArray(a) || a.length !== 2 || typeof a[0] !== 'string' || !/^[0-9]{1,20}$/.test(a[0])) bad(`action ${i + 1} has no valid time`);
    const act = a[1];
    if (!act || typeof act !== 'object' || Array.isArray(act) || typeof act.action !== 'string') bad(`action ${i + 1} is not an action`);
    for (const v of Object.values(act)) if (!['string', 'number', 'boolean'].includes(typeof v)) bad(`action ${i + 1} has a value of the wrong kind`);
    return { atNs: a[0], action: act };
  });
  const t = Number.isFinite(data.t) && data.t >= 0 ? data.t : 0;
  return { name: data.scenario ?? null, text: data.text ?? null, seed: data.seed, actions, t };
}

async function pipe(bytes, transform) {
  const stream = new Blob([bytes]).stream().pipeThrough(transform);
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function toBase64Url(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64Url(text) {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(b64 + '==='.slice((b64.length + 3) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}
