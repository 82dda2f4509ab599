// Live time-series charts (plain canvas): latency p50/p99, requests/s per server, balance
// (Jain's index) and outcomes per second, with warmup shading and timeline markers. Dragging
// across any chart selects a time window on all of them (brushing); `windowStats` summarises
// the buckets in that window.
// @ts-check

import { drawText, el, fitCanvas, fmtNum } from './util.js';

const M = { left: 56, right: 12, top: 42, bottom: 30 };
const GRID = '#232d3a', AXIS = '#8b98a9', TEXT = '#dbe3ec';

/**
 * One line (or stacked area) of a chart: a value per x, NaN for a gap. `line`: in a stacked
 * chart, drawn as a line over the areas instead of stacked (the requests sent, over the
 * outcomes of those that ended).
 * `dash`: a dashed line (side B of an A/B comparison, the attempts over the sent line).
 * @typedef {{ name: string, color: string, values: number[], width?: number, line?: boolean, dash?: number[] }} Series
 */

/**
 * A chart's options: title, unit (y axis), stacked (areas stacked), yMax (fixed top, else
 * auto), markerLabels (write event names), hoverFmt(value) for the readout.
 * @typedef {{ title: string, unit: string, stacked?: boolean, yMax?: number | null,
 *   markerLabels?: boolean, hoverFmt?: (v: number) => string }} ChartOptions
 */

/** A selected time window [from, to] in seconds, or none. @typedef {[number, number] | null} Brush */

/** A timeline marker: time (s) and label. @typedef {{ t: number, label: string }} Marker */

export class TimeChart {
  /**
   * opts: title, unit (y axis), stacked (areas stacked), yMax (fixed top, else auto),
   * markerLabels (write event names), hoverFmt(value) for the readout.
   * @param {HTMLCanvasElement} canvas
   * @param {ChartOptions} opts
   */
  constructor(canvas, opts) {
    this.canvas = canvas;
    /** @type {{ stacked: boolean, yMax: number | null, hoverFmt: (v: number) => string, title: string, unit: string, markerLabels?: boolean }} */
    this.o = { stacked: false, yMax: null, hoverFmt: (v) => fmtNum(v), ...opts };
    /** @type {number[]} */
    this.xs = [];
    /** @type {Series[]} */
    this.series = [];
    this.xMax = 60;
    /** @type {Marker[]} */
    this.markers = [];
    this.warmup = 0;
    /** @type {Brush} */
    this.brush = null;
    /** @type {number | null} */
    this.hover = null;
    this.dirty = true;
    /** @type {import('./util.js').DrawnBox[]} the text of the last drawing (hover box aside) */
    this.boxes = [];
  }

  /**
   * @param {number[]} xs
   * @param {Series[]} series
   */
  setData(xs, series) { this.xs = xs; this.series = series; this.dirty = true; }
  /** @param {number} x */
  setXMax(x) { if (x !== this.xMax) { this.xMax = x; this.dirty = true; } }
  /** @param {Marker[]} m */
  setMarkers(m) { this.markers = m; this.dirty = true; }
  /** @param {number} s */
  setWarmup(s) { this.warmup = s; this.dirty = true; }
  /** @param {Brush} b */
  setBrush(b) { this.brush = b; this.dirty = true; }
  /** @param {number | null} t */
  setHover(t) { if (t !== this.hover) { this.hover = t; this.dirty = true; } }

  /**
   * What the chart shows, in words (its text alternative): the span and the latest values.
   * @returns {string}
   */
  summary() {
    const n = this.xs.length;
    if (!n) return `${this.o.title}: no data yet.`;
    const latest = this.series.map((x) => `${x.name} ${this.o.hoverFmt(x.values[n - 1])}`);
    const more = latest.length > 6 ? `, and ${latest.length - 6} more` : '';
    return `${this.o.title}: ${n} one-second buckets up to ${fmtNum(this.xs[n - 1])} s; latest: ${latest.slice(0, 6).join(', ')}${more}.`;
  }

  /**
   * The chart's data as a table: a row per bucket, a column per series.
   * @returns {HTMLTableElement}
   */
  table() {
    const fmt = this.o.hoverFmt;
    return /** @type {HTMLTableElement} */ (el('table', { class: 'data-table' },
      el('caption', {}, this.o.title),
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 't (s)'), this.series.map((x) => el('th', { scope: 'col' }, x.name)))),
      el('tbody', {}, this.xs.map((t, i) => el('tr', {}, el('th', { scope: 'row' }, fmtNum(t)), this.series.map((x) => el('td', {}, fmt(x.values[i]))))))));
  }

  /** Plot rectangle in CSS pixels. */
  plot() {
    const w = this.canvas.clientWidth, h = this.canvas.clientHeight;
    return { x: M.left, y: M.top, w: Math.max(10, w - M.left - M.right), h: Math.max(10, h - M.top - M.bottom) };
  }

  /** @param {number} px */
  xToT(px) {
    const p = this.plot();
    return Math.max(0, Math.min(this.xMax, ((px - p.x) / p.w) * this.xMax));
  }

  draw() {
    if (!this.dirty) return;
    this.dirty = false;
    const { ctx, w, h } = fitCanvas(this.canvas);
    const p = this.plot();
    const o = this.o;
    ctx.clearRect(0, 0, w, h);
    /** @type {import('./util.js').DrawnBox[]} */
    const B = [];
    this.boxes = B;
    /** @param {number} t */
    const X = (t) => p.x + (t / this.xMax) * p.w;

    // Values (stacked if asked) and the y range.
    const n = this.xs.length;
    /** @type {ArrayLike<number>[]} */
    let stacks = this.series.map((s) => s.values);
    if (o.stacked) {
      const acc = new Float64Array(n);
      stacks = this.series.map((s) => {
        if (s.line) return s.values;
        const out = new Float64Array(n);
        for (let i = 0; i < n; i++) out[i] = acc[i] += s.values[i] || 0;
        return out;
      });
    }
    let top = o.yMax;
    if (top === null) {
      top = 0;
      for (const v of stacks) for (let i = 0; i < n; i++) if (Number.isFinite(v[i])) top = Math.max(top, v[i]);
      top = niceCeil(top || 1);
    }
    /** @param {number} v */
    const Y = (v) => p.y + p.h - (Math.min(v, top) / top) * p.h;

    // Title and legend.
    ctx.textBaseline = 'middle';
    ctx.font = '600 12px system-ui, sans-serif';
    ctx.fillStyle = TEXT;
    ctx.textAlign = 'left';
    drawText(ctx, B, o.title, 10, 13, w - 20);
    ctx.font = '11px system-ui, sans-serif';
    const widths = this.series.map((x) => 13 + ctx.measureText(x.name).width + 12);
    if (widths.reduce((a, b) => a + b, 0) <= w - M.left - M.right) {
      let lx = M.left;
      this.series.forEach((x, k) => {
        ctx.fillStyle = x.color;
        ctx.fillRect(lx, 24, 9, 9);
        ctx.fillStyle = AXIS;
        drawText(ctx, B, x.name, lx + 13, 29);
        lx += widths[k];
      });
    } else {
      ctx.fillStyle = AXIS;
      drawText(ctx, B, `${this.series.length} servers, one line each (hover for values)`, M.left, 29, w - M.left - M.right);
    }

    // Warmup band, grid, axes.
    if (this.warmup > 0) {
      ctx.fillStyle = 'rgba(139,152,169,0.08)';
      ctx.fillRect(p.x, p.y, X(Math.min(this.warmup, this.xMax)) - p.x, p.h);
      ctx.fillStyle = '#5d6876';
      ctx.textAlign = 'left';
      ctx.font = '10px system-ui, sans-serif';
      drawText(ctx, B, 'warmup', p.x + 4, p.y + 9, X(Math.min(this.warmup, this.xMax)) - p.x - 6);
    }
    ctx.font = '10.5px system-ui, sans-serif';
    ctx.strokeStyle = GRID;
    ctx.lineWidth = 1;
    ctx.fillStyle = AXIS;
    ctx.textAlign = 'right';
    for (const v of ticks(top, 4)) {
      const y = Math.round(Y(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(p.x, y);
      ctx.lineTo(p.x + p.w, y);
      ctx.stroke();
      // Clear of the turned unit label at the left edge.
      drawText(ctx, B, v >= 10000 ? `${fmtNum(v / 1000)}k` : fmtNum(v), p.x - 6, y, p.x - 24);
    }
    ctx.textAlign = 'center';
    for (const t of ticks(this.xMax, Math.max(2, Math.floor(p.w / 55)))) {
      drawText(ctx, B, fmtNum(t), X(t), p.y + p.h + 10);
    }
    drawText(ctx, B, 'simulated time (s)', p.x + p.w / 2, p.y + p.h + 23);
    ctx.save();
    ctx.translate(12, p.y + p.h / 2);
    ctx.rotate(-Math.PI / 2);
    /** @type {import('./util.js').DrawnBox[]} */
    const turned = [];
    drawText(ctx, turned, o.unit, 0, 0, p.h);
    ctx.restore();
    // Its box on the page, turned a quarter (x ↔ y).
    for (const b of turned) B.push({ ...b, x: 12 + b.y, y: p.y + p.h / 2 - b.x - b.w, w: b.h, h: b.w });

    // Timeline markers.
    ctx.setLineDash([3, 3]);
    ctx.strokeStyle = 'rgba(255,255,255,0.35)';
    for (const m of this.markers) {
      if (m.t > this.xMax) continue;
      const x = Math.round(X(m.t)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(x, p.y);
      ctx.lineTo(x, p.y + p.h);
      ctx.stroke();
    }
    ctx.setLineDash([]);
    if (this.o.markerLabels) {
      // Each label goes to the first row where it clears the labels (and "warmup") already
      // there; as many rows as the plot is tall, so labels neither stack on each other nor
      // get dropped while there is room. One that finds none is shortened to the gap left.
      ctx.font = '10px system-ui, sans-serif';
      ctx.textAlign = 'left';
      const rows = Math.max(1, Math.floor((p.h - 4) / 13));
      const rowRight = new Array(rows).fill(-Infinity);
      const warm = B.find((b) => b.text.startsWith('warm'));
      if (warm) rowRight[0] = warm.x + warm.w + 4;
      for (const m of this.markers) {
        if (m.t > this.xMax) continue;
        const x = X(m.t) + 3;
        const tw = ctx.measureText(m.label).width;
        const maxW = p.x + p.w - x - 2;
        const row = rowRight.findIndex((r) => r <= x - 2);
        if (row < 0) continue; // every row is taken at this instant; the timeline lists it
        const y = p.y + 9 + row * 13;
        ctx.fillStyle = 'rgba(17,23,31,0.85)';
        ctx.fillRect(x - 2, y - 6, Math.min(tw, maxW) + 4, 12);
        ctx.fillStyle = '#c9d1d9';
        const drawn = drawText(ctx, B, m.label, x, y, maxW);
        rowRight[row] = x + drawn + 6;
      }
    }

    // Data.
    ctx.save();
    ctx.beginPath();
    ctx.rect(p.x, p.y - 1, p.w, p.h + 2);
    ctx.clip();
    const xsPx = this.xs.map(X);
    if (o.stacked) {
      for (let k = stacks.length - 1; k >= 0; k--) {
        const v = stacks[k];
        if (!n) break;
        if (this.series[k].line) continue;
        ctx.beginPath();
        ctx.moveTo(xsPx[0], Y(0));
        for (let i = 0; i < n; i++) ctx.lineTo(xsPx[i], Y(v[i]));
        ctx.lineTo(xsPx[n - 1], Y(0));
        ctx.closePath();
        ctx.fillStyle = this.series[k].color;
        ctx.globalAlpha = 0.85;
        ctx.fill();
      }
      ctx.globalAlpha = 1;
    }
    {
      ctx.lineJoin = 'round';
      for (let k = 0; k < this.series.length; k++) {
        const s = this.series[k], v = s.values;
        if (o.stacked && !s.line) continue;
        ctx.strokeStyle = s.color;
        ctx.lineWidth = s.width ?? 1.5;
        ctx.setLineDash(s.dash ?? []);
        ctx.beginPath();
        let pen = false;
        for (let i = 0; i < n; i++) {
          if (!Number.isFinite(v[i])) { pen = false; continue; }
          if (pen) ctx.lineTo(xsPx[i], Y(v[i]));
          else ctx.moveTo(xsPx[i], Y(v[i]));
          pen = true;
        }
        ctx.stroke();
      }
      ctx.setLineDash([]);
    }
    ctx.restore();

    // Brush.
    if (this.brush) {
      const [a, b] = this.brush;
      ctx.fillStyle = 'rgba(79,163,255,0.16)';
      ctx.fillRect(X(a), p.y, X(b) - X(a), p.h);
      ctx.strokeStyle = 'rgba(79,163,255,0.8)';
      ctx.strokeRect(Math.round(X(a)) + 0.5, p.y + 0.5, Math.round(X(b) - X(a)), p.h - 1);
    }

    // Hover readout.
    if (this.hover !== null && n) {
      let i = 0, best = Infinity;
      for (let j = 0; j < n; j++) {
        const d = Math.abs(this.xs[j] - this.hover);
        if (d < best) { best = d; i = j; }
      }
      const x = Math.round(xsPx[i]) + 0.5;
      ctx.strokeStyle = 'rgba(255,255,255,0.5)';
      ctx.beginPath();
      ctx.moveTo(x, p.y);
      ctx.lineTo(x, p.y + p.h);
      ctx.stroke();
      const rows = this.#readout(i);
      ctx.font = '11px ui-monospace, Menlo, Consolas, monospace';
      const bw = Math.max(...rows.map((r) => ctx.measureText(r[0]).width)) + 22;
      const bx = x + 8 + bw > p.x + p.w ? x - 8 - bw : x + 8;
      ctx.fillStyle = 'rgba(13,17,23,0.92)';
      ctx.fillRect(bx, p.y + 4, bw, rows.length * 15 + 6);
      ctx.textAlign = 'left';
      rows.forEach(([text, color], r) => {
        ctx.fillStyle = color;
        ctx.fillRect(bx + 6, p.y + 11 + r * 15, 7, 7);
        ctx.fillStyle = TEXT;
        ctx.fillText(text, bx + 17, p.y + 15 + r * 15);
      });
    }
  }

  /**
   * The hover box's rows ([text, colour]) for bucket i: all series, or the top three and the
   * lowest when there are many.
   * @param {number} i
   * @returns {[string, string][]}
   */
  #readout(i) {
    const t = this.xs[i];
    /** @type {[string, string]} */
    const head = [`t ≈ ${fmtNum(t)} s`, 'transparent'];
    /** @type {[string, number, string][]} */
    const vals = this.series.map((s) => [s.name, s.values[i], s.color]);
    /** @type {(text: string, color: string) => [string, string]} */
    const row = (text, color) => [text, color];
    if (vals.length <= 6) return [head, ...vals.map(([name, v, c]) => row(`${name}: ${this.o.hoverFmt(v)}`, c))];
    vals.sort((a, b) => b[1] - a[1]);
    const pick = [...vals.slice(0, 3), vals[vals.length - 1]];
    return [head, ...pick.map(([name, v, c], k) => row(`${k === 3 ? 'min ' : ''}${name}: ${this.o.hoverFmt(v)}`, c))];
  }
}

/** Links charts: one brush and one hover position across all of them. */
export class ChartGroup {
  /**
   * `onBrush(brush, final)`: the window changed (final: the drag ended, or it was cleared).
   * @param {TimeChart[]} charts
   * @param {{ onBrush: (brush: Brush, final: boolean) => void }} options
   */
  constructor(charts, { onBrush }) {
    this.charts = charts;
    this.onBrush = onBrush;
    /** Where the next draw() starts looking for a changed chart (round robin). */
    this.next = 0;
    /** @type {Brush} */
    this.brush = null;
    for (const c of charts) this.#wire(c);
  }

  /** @param {TimeChart} chart */
  #wire(chart) {
    const cv = chart.canvas;
    /** @type {number | null} */
    let start = null;
    cv.addEventListener('pointerdown', (e) => {
      if (e.button !== 0) return;
      start = chart.xToT(e.offsetX);
      cv.setPointerCapture(e.pointerId);
    });
    cv.addEventListener('pointermove', (e) => {
      const t = chart.xToT(e.offsetX);
      for (const c of this.charts) c.setHover(t);
      if (start !== null && Math.abs(t - start) > chart.xMax / 400) this.setBrush([Math.min(start, t), Math.max(start, t)], false);
    });
    cv.addEventListener('pointerup', (e) => {
      if (start === null) return;
      const t = chart.xToT(e.offsetX);
      if (Math.abs(t - start) > chart.xMax / 400) this.setBrush([Math.min(start, t), Math.max(start, t)], true);
      start = null;
    });
    cv.addEventListener('pointerleave', () => { for (const c of this.charts) c.setHover(null); });
    cv.addEventListener('dblclick', () => this.setBrush(null, true));
  }

  /**
   * @param {Brush} b
   * @param {boolean} final
   */
  setBrush(b, final) {
    this.brush = b;
    for (const c of this.charts) c.setBrush(b);
    this.onBrush(b, final);
  }

  /**
   * Redraws the charts whose data or view changed, at most `limit` of them (the page draws
   * one a frame, so four fresh charts do not all land in one frame), oldest change first.
   * @param {number} [limit]
   */
  draw(limit = Infinity) {
    let drawn = 0;
    for (let k = 0; k < this.charts.length && drawn < limit; k++) {
      const c = this.charts[(this.next + k) % this.charts.length];
      if (!c.dirty) continue;
      c.draw();
      drawn++;
      this.next = (this.charts.indexOf(c) + 1) % this.charts.length;
    }
  }
}

/**
 * Statistics of the series buckets whose centre lies in [t0, t1] seconds. `points`: the core's
 * series points; `dt`: bucket width (s); `live[s]`: whether server s counts for balance.
 * Null when no bucket's centre is in the window.
 * @param {import('./types.js').SeriesPoint[]} points
 * @param {number} t0
 * @param {number} t1
 * @param {number} dt
 * @param {boolean[]} live
 */
export function windowStats(points, t0, t1, dt, live) {
  const inside = points.filter((p) => p.t_s + dt / 2 >= t0 && p.t_s + dt / 2 <= t1);
  if (!inside.length) return null;
  const outcomes = new Array(7).fill(0);
  const ns = inside[0].served.length;
  const served = new Array(ns).fill(0);
  /** @type {number[]} */
  const p50s = [];
  let p99max = 0;
  for (const p of inside) {
    p.outcomes.forEach((c, k) => (outcomes[k] += c));
    p.served.forEach((c, s) => (served[s] += c));
    if (p.outcomes[0] > 0) {
      p50s.push(p.p50_ms);
      p99max = Math.max(p99max, p.p99_ms);
    }
  }
  const span = inside.length * dt;
  const ended = outcomes.reduce((a, b) => a + b, 0);
  const counted = served.filter((_, s) => live[s] || served[s] > 0);
  const sum = counted.reduce((a, b) => a + b, 0);
  const sq = counted.reduce((a, b) => a + b * b, 0);
  const mean = counted.length ? sum / counted.length : 0;
  p50s.sort((a, b) => a - b);
  return {
    from: inside[0].t_s,
    to: inside[inside.length - 1].t_s + dt,
    buckets: inside.length,
    outcomes,
    ended,
    okPerS: outcomes[0] / span,
    failedShare: ended ? 1 - outcomes[0] / ended : 0,
    p50: p50s.length ? p50s[Math.floor(p50s.length / 2)] : NaN,
    p99max: p50s.length ? p99max : NaN,
    served,
    jain: sq > 0 ? (sum * sum) / (counted.length * sq) : NaN,
    maxOverMean: mean > 0 ? Math.max(...counted) / mean : NaN,
  };
}

/**
 * The smallest "nice" number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × a power of ten) ≥ v > 0:
 * the top of an automatic y axis.
 * @param {number} v
 */
export function niceCeil(v) {
  const e = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * e >= v) return m * e;
  return 10 * e;
}

/**
 * Round tick values from 0 to max, about `count` steps of 1, 2, 2.5 or 5 × a power of ten.
 * @param {number} max
 * @param {number} count
 */
export function ticks(max, count) {
  const raw = max / count;
  const e = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * e).find((s) => s >= raw) ?? raw;
  const out = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}
