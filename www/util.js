// Small shared helpers for the page: DOM building, number formatting, colours, and sizing a
// canvas to its box at the device's pixel ratio.
// @ts-check

/**
 * A child of `el`: a node, text (anything printable), or nothing (skipped); also a list of
 * them (flattened one level).
 * @typedef {Node | string | number | boolean | null | undefined} ElChild
 */

/**
 * Creates an element: el('div', {class: 'x', onclick: f}, child, 'text', …). Attributes
 * `on<event>` add listeners, `class` and `text` set className and textContent; `true` sets an
 * empty attribute; undefined, null and false leave it out.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, unknown>} [attrs]
 * @param {...(ElChild | ElChild[])} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), /** @type {EventListener} */ (v));
    else if (k === 'class') e.className = String(v);
    else if (k === 'text') e.textContent = String(v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

/**
 * The element with this id; throws when the page has none (a typo, not a state to handle).
 * @param {string} id
 * @returns {HTMLElement}
 */
export const $ = (id) => {
  const e = document.getElementById(id);
  if (!e) throw new Error(`the page has no element #${id}`);
  return e;
};

/**
 * The element with this id, checked to be of the given kind ($as('seed', HTMLInputElement)).
 * @template {HTMLElement} T
 * @param {string} id
 * @param {{ new (): T, prototype: T }} type
 * @returns {T}
 */
export function $as(id, type) {
  const e = $(id);
  if (!(e instanceof type)) throw new Error(`#${id} is a <${e.localName}>, not the ${type.name} the page expects`);
  return e;
}

/**
 * A count: 12345 → "12,345"; from ten million on in millions, 12345678 → "12.3 M".
 * @param {number} n
 */
export function fmtCount(n) {
  if (!Number.isFinite(n)) return '–';
  if (Math.abs(n) >= 1e7) return (n / 1e6).toFixed(Math.abs(n) >= 1e8 ? 0 : 1) + ' M';
  // The separators by hand: toLocaleString builds a number formatter on every call, and the
  // topology formats a few numbers per server every frame (it was a quarter of the page's
  // time with 50 servers).
  const r = Math.round(n);
  let digits = String(Math.abs(r));
  if (digits.length <= 3) return r < 0 ? `-${digits}` : digits;
  let out = '';
  while (digits.length > 3) {
    out = `,${digits.slice(-3)}${out}`;
    digits = digits.slice(0, -3);
  }
  return `${r < 0 ? '-' : ''}${digits}${out}`;
}

/**
 * A number with about `digits` significant digits (whole numbers from 10^digits on, with
 * thousands separators); "–" for null, undefined, NaN and infinities.
 * @param {number | null | undefined} x
 * @param {number} [digits]
 */
export function fmtNum(x, digits = 3) {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 10 ** digits) return Math.round(x).toLocaleString('en-US');
  return Number(x.toPrecision(digits)).toString();
}

/**
 * Milliseconds: "12.3 ms", from ten seconds on "12.3 s".
 * @param {number} ms
 */
export function fmtMs(ms) {
  if (!Number.isFinite(ms)) return '–';
  if (ms >= 10000) return (ms / 1000).toFixed(1) + ' s';
  return fmtNum(ms) + ' ms';
}

/**
 * A share as a percentage: two decimals, one for 0 and from 99.9% on.
 * @param {number} x
 */
export function fmtPct(x) {
  return Number.isFinite(x) ? (x * 100).toFixed(x >= 0.999 || x === 0 ? 1 : 2) + '%' : '–';
}

/**
 * Simulated time in seconds with millisecond precision.
 * @param {number} ms
 */
export function fmtTime(ms) {
  return (ms / 1000).toFixed(3) + ' s';
}

/** Report outcome names, in the order of the time series' `outcomes` and of `totals`. */
export const OUTCOMES = ['ok', 'timeout', 'rejected', 'no_server', 'connection_error', 'rate_limited', 'session_lost', 'store_unavailable', 'server_error', 'overflow'];

/** @type {Record<string, string>} */
export const OUTCOME_COLORS = {
  ok: '#3fb950',
  timeout: '#e3b341',
  rejected: '#f0883e',
  no_server: '#f85149',
  connection_error: '#db61a2',
  rate_limited: '#a371f7',
  session_lost: '#79c0ff',
  store_unavailable: '#d2a8ff',
  server_error: '#ff7b72',
  overflow: '#8b949e',
};

/** Colours of client groups (dots, connection lines). */
export const GROUP_COLORS = ['#58a6ff', '#f778ba', '#7ee787', '#ffa657', '#d2a8ff', '#79c0ff', '#ffd33d', '#ff7b72'];

/**
 * A distinct colour per server index (golden-angle hues).
 * @param {number} i
 */
export function serverColor(i) {
  return `hsl(${(i * 137.508 + 200) % 360}, 70%, 62%)`;
}

/**
 * Sizes a canvas's drawing buffer to its CSS box × devicePixelRatio; returns the 2D context
 * scaled so drawing uses CSS pixels, and the CSS width and height.
 * @param {HTMLCanvasElement} canvas
 * @returns {{ ctx: CanvasRenderingContext2D, w: number, h: number }}
 */
export function fitCanvas(canvas) {
  const dpr = Math.min(window.devicePixelRatio || 1, 2);
  const w = Math.max(1, canvas.clientWidth);
  const h = Math.max(1, canvas.clientHeight);
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('this browser gives no 2D canvas context');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return { ctx, w, h };
}

/**
 * Triggers a download of `text` as a file.
 * @param {string} name
 * @param {string} text
 * @param {string} [type]
 */
export function download(name, text, type = 'text/plain') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = el('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/**
 * A box drawn on a canvas, in CSS pixels within it: a text label (`kind` "text") or a framed
 * box (`kind` "box"). The views keep the boxes of their last drawing so a test can check that
 * nothing overlaps at any page width (`window.lbsim.labelBoxes()`).
 * @typedef {{ kind: 'text' | 'box', text: string, x: number, y: number, w: number, h: number }} DrawnBox
 */

/**
 * Draws `text` at (x, y) with the context's font and alignment (baseline: middle), shortened
 * with "…" to at most `maxW` pixels — nothing at all when not even one character fits — and
 * records its box in `boxes`. Returns the width drawn (0 when nothing was).
 * @param {CanvasRenderingContext2D} ctx
 * @param {DrawnBox[]} boxes
 * @param {string} text
 * @param {number} x
 * @param {number} y
 * @param {number} [maxW]
 */
export function drawText(ctx, boxes, text, x, y, maxW = Infinity) {
  let shown = text;
  let w = ctx.measureText(shown).width;
  if (w > maxW) {
    // The longest prefix that fits with the ellipsis (binary search: widths grow with length).
    let lo = 0, hi = text.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (ctx.measureText(text.slice(0, mid) + '…').width <= maxW) lo = mid;
      else hi = mid - 1;
    }
    if (lo === 0) return 0;
    shown = text.slice(0, lo).trimEnd() + '…';
    w = ctx.measureText(shown).width;
  }
  ctx.fillText(shown, x, y);
  const size = Number(/(\d+(?:\.\d+)?)px/.exec(ctx.font)?.[1] ?? 10);
  const align = ctx.textAlign;
  const left = align === 'right' || align === 'end' ? x - w : align === 'center' ? x - w / 2 : x;
  const top = ctx.textBaseline === 'middle' ? y - size / 2 : ctx.textBaseline === 'top' ? y : y - size * 0.8;
  boxes.push({ kind: 'text', text: shown, x: left, y: top, w, h: size });
  return w;
}
