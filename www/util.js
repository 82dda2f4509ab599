// Small shared helpers for the page: DOM building, number formatting, colours, and sizing a
// canvas to its box at the device's pixel ratio.

/** Creates an element: el('div', {class: 'x', onclick: f}, child, 'text', …). */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

export const $ = (id) => document.getElementById(id);

/** 12345 → "12,345"; 1234567 → "1.23 M". */
export function fmtCount(n) {
  if (!Number.isFinite(n)) return '–';
  if (Math.abs(n) >= 1e7) return (n / 1e6).toFixed(Math.abs(n) >= 1e8 ? 0 : 1) + ' M';
  return Math.round(n).toLocaleString('en-US');
}

/** A number with about three significant digits. */
export function fmtNum(x, digits = 3) {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 10 ** digits) return Math.round(x).toLocaleString('en-US');
  return Number(x.toPrecision(digits)).toString();
}

export function fmtMs(ms) {
  if (!Number.isFinite(ms)) return '–';
  if (ms >= 10000) return (ms / 1000).toFixed(1) + ' s';
  return fmtNum(ms) + ' ms';
}

export function fmtPct(x) {
  return Number.isFinite(x) ? (x * 100).toFixed(x >= 0.999 || x === 0 ? 1 : 2) + '%' : '–';
}

/** Simulated time in seconds with millisecond precision. */
export function fmtTime(ms) {
  return (ms / 1000).toFixed(3) + ' s';
}

/** Report outcome names, in the order of the time series' `outcomes` and of `totals`. */
export const OUTCOMES = ['ok', 'timeout', 'rejected', 'no_server', 'connection_error', 'rate_limited', 'session_lost'];

export const OUTCOME_COLORS = {
  ok: '#3fb950',
  timeout: '#e3b341',
  rejected: '#f0883e',
  no_server: '#f85149',
  connection_error: '#db61a2',
  rate_limited: '#a371f7',
  session_lost: '#79c0ff',
};

/** Colours of client groups (dots, connection lines). */
export const GROUP_COLORS = ['#58a6ff', '#f778ba', '#7ee787', '#ffa657', '#d2a8ff', '#79c0ff', '#ffd33d', '#ff7b72'];

/** A distinct colour per server index (golden-angle hues). */
export function serverColor(i) {
  return `hsl(${(i * 137.508 + 200) % 360}, 70%, 62%)`;
}

/**
 * Sizes a canvas's drawing buffer to its CSS box × devicePixelRatio; returns the 2D context
 * scaled so drawing uses CSS pixels, and the CSS width and height.
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
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return { ctx, w, h };
}

/** Triggers a download of `text` as a file. */
export function download(name, text, type = 'text/plain') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = el('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
