// The topology view: client groups → balancer replicas → servers on one canvas. Connections are
// lines (width = open streams), requests in flight are dots moving along their path (capped in
// number, drawn in one batched path per client group), each server row has in-service and
// queue bars and a health colour (crashed, marked down by health checks, ejected by outlier
// detection and until when, provisioning by an autoscaler, draining, slow), its sessions, mean
// latency and errors; a lost session flashes its server. The balancer boxes show their circuit
// breakers (open requests against max_requests, overflows), and a session store is a node of
// its own (up, down or slow, with its latency) — a store outage is not a server crash. Drawn
// every animation frame from the core's snapshot.
// @ts-check

import { GROUP_COLORS, drawText, fitCanvas, fmtCount, fmtMs } from './util.js';

/** @typedef {import('./types.js').Frame} Frame */
/** @typedef {import('./types.js').Topology} Topology */
/** @typedef {[number, number]} Point */

/**
 * Where everything goes on the canvas (CSS pixels), for one size and topology.
 * @typedef {object} Layout
 * @property {number} w
 * @property {number} h
 * @property {number} pad
 * @property {number} top the first server row's top
 * @property {number} n servers
 * @property {number} rowH a server row's height
 * @property {number} sx the server column's left
 * @property {number} barX
 * @property {number} barW
 * @property {number} numW width of the numbers at the right (0 when rows are too thin)
 * @property {number} nameW width of the server names
 * @property {boolean} narrow a phone-sized canvas: narrower columns, fewer numbers
 * @property {boolean} wide room for the latency and error columns
 * @property {{ x: number, y: number, w: number, h: number, ax: number, ay: number, direct: boolean }[]} groups
 *   client group boxes; (ax, ay) where their lines leave; direct: client-side balancing
 * @property {{ x: number, y: number, w: number, h: number, lx: number, rx: number, ay: number }[]} replicas
 * @property {{ y: number, cy: number }[]} servers rows: top and centre
 * @property {{ x: number, y: number, w: number, h: number } | null} store the session store's box
 * @property {number} fontPx
 * @property {Map<string, Point[]>} [directs] client-side paths (group → server), made when first drawn
 */

const NONE = 4294967295;
const MAX_DOTS = 700; // dots drawn at most per frame; beyond that each dot stands for several requests
const STATE = { NOT_ADDED: 0, UP: 1, DOWN: 2, DRAINING: 3, REMOVED: 4, PROVISIONING: 5 };
const STORE = { NONE: 0, UP: 1, DOWN: 2, SLOW: 3 };
/** How long a server flashes after it lost sessions (ms of wall time). */
const FLASH_MS = 1500;
const COLORS = {
  up: '#3fb950', down: '#f85149', marked: '#e3b341', draining: '#d18616', slow: '#a371f7', off: '#48505c',
  ejected: '#db61a2', provisioning: '#39c5cf', lost: '#ff7b72', store: '#79c0ff',
  busy: '#4fa3ff', queue: '#f0883e', text: '#dbe3ec', muted: '#8b98a9', box: '#1c2430', boxLine: '#34404f',
  upstream: 'rgba(160, 180, 205, 0.45)',
};

export class TopologyView {
  /**
   * `onPickServer(name)` is called when a server row is clicked.
   * @param {HTMLCanvasElement} canvas
   * @param {{ onPickServer?: (name: string) => void }} [options]
   */
  constructor(canvas, { onPickServer } = {}) {
    this.canvas = canvas;
    /** @type {Topology | null} */
    this.topo = null;
    /** @type {Frame | null} */
    this.frame = null;
    /** @type {number[][] | null} */
    this.active = null; // replica × server active counts from the inspector (for L7 upstream lines)
    /** @type {{ algorithm: string, layer: string, sticky?: string }} */
    this.labels = { algorithm: '', layer: '' };
    /** @type {number[]} */
    this.workers = [];
    /** @type {number | undefined} */
    this.maxWorkers;
    /** @type {Layout | undefined} */
    this.L;
    this.barScale = 4;
    this.layoutKey = '';
    /** @type {import('./util.js').DrawnBox[]} the text and boxes of the last drawing */
    this.boxes = [];
    /** @type {Float64Array} sessions lost per server at the last update (to see new losses) */
    this.lostSeen = new Float64Array(0);
    /** @type {Float64Array} until when (performance.now() ms) each server flashes */
    this.flashUntil = new Float64Array(0);
    /** @type {Float64Array} how many sessions each server lost in its current flash */
    this.flashCount = new Float64Array(0);
    /** Lost-session flashes so far (tests and the curious). */
    this.flashes = 0;
    canvas.addEventListener('click', (e) => {
      const name = this.serverAt(e.offsetX, e.offsetY);
      if (name && onPickServer) onPickServer(name);
    });
    canvas.addEventListener('mousemove', (e) => {
      canvas.style.cursor = this.serverAt(e.offsetX, e.offsetY) ? 'pointer' : 'default';
    });
  }

  /**
   * `workers`: workers per server group (for each server's capacity mark).
   * @param {Topology} topo
   * @param {Record<string, number>} [workers]
   */
  setTopology(topo, workers = {}) {
    this.topo = topo;
    this.workers = topo.servers.map((s) => workers[s.group] ?? 1);
    this.maxWorkers = Math.max(1, ...this.workers);
    this.layoutKey = '';
    this.barScale = 4;
    this.active = null;
    this.lostSeen = new Float64Array(topo.servers.length);
    this.flashUntil = new Float64Array(topo.servers.length);
    this.flashCount = new Float64Array(topo.servers.length);
  }

  /**
   * The latest snapshot (typed arrays from the core).
   * @param {Frame} frame
   */
  update(frame) {
    this.frame = frame;
    let peak = 0;
    for (let i = 0; i < frame.busy.length; i++) peak = Math.max(peak, frame.busy[i] + frame.queue[i]);
    // The bar scale grows with the busiest server and shrinks back slowly.
    this.barScale = Math.max(this.maxWorkers ?? 4, peak, this.barScale * 0.995);
    // A session lost at a server (its crash, or a request sent elsewhere) flashes the server.
    const lost = frame.sessionsLost;
    if (lost && lost.length === this.lostSeen.length) {
      const now = performance.now();
      for (let s = 0; s < lost.length; s++) {
        if (lost[s] > this.lostSeen[s]) {
          this.flashCount[s] = (this.flashUntil[s] > now ? this.flashCount[s] : 0) + lost[s] - this.lostSeen[s];
          this.flashUntil[s] = now + FLASH_MS;
          this.flashes++;
        }
        this.lostSeen[s] = lost[s];
      }
    }
  }

  /** Whether server s is flashing for lost sessions now. @param {number} s */
  flashing(s) {
    return (this.flashUntil[s] ?? 0) > performance.now();
  }

  /** @param {number[][]} matrix replica × server active counts */
  setActive(matrix) { this.active = matrix; }
  /** @param {import('./types.js').LiveSettings} labels */
  setLabels(labels) { this.labels = { ...this.labels, ...labels }; }

  /**
   * What the canvas shows, as text (its accessible fallback content): one entry per server.
   * @returns {{ name: string, state: string, text: string }[]}
   */
  summary() {
    const f = this.frame, t = this.topo;
    if (!f || !t) return [];
    return t.servers.map((srv, s) => {
      const { note, word } = status(f, s, t.replicas);
      const extra = [
        f.latencyMs?.[s] ? `mean ${fmtMs(f.latencyMs[s])}` : '',
        f.errors?.[s] ? `${fmtCount(f.errors[s])} errors` : '',
        f.retries?.[s] ? `${fmtCount(f.retries[s])} retries` : '',
        f.hedges?.[s] ? `${fmtCount(f.hedges[s])} hedges` : '',
        f.sessions?.[s] || f.sessionsLost?.[s] ? `${fmtCount(f.sessions?.[s] ?? 0)} sessions` : '',
        f.sessionsLost?.[s] ? `${fmtCount(f.sessionsLost[s])} sessions lost${this.flashing(s) ? ' (just now)' : ''}` : '',
      ].filter(Boolean);
      return {
        name: srv.name, state: word,
        text: `${srv.name}: ${note || 'up'} — ${f.busy[s]} in service, ${f.queue[s]} queued, ${f.conns[s]} connections, ${f.served[s]} served${extra.length ? ', ' + extra.join(', ') : ''}`,
      };
    });
  }

  /**
   * The session store as text (the canvas's fallback), or null without one.
   * @returns {{ state: string, text: string } | null}
   */
  storeSummary() {
    const f = this.frame;
    if (!f || !f.store) return null;
    const { word, note } = storeStatus(f);
    return { state: word, text: `session store: ${note}` };
  }

  /**
   * The name of the server whose row is at (x, y), if any.
   * @param {number} x
   * @param {number} y
   */
  serverAt(x, y) {
    const L = this.L, t = this.topo;
    if (!L || !t || x < L.sx - 6) return null;
    const i = Math.floor((y - L.top) / L.rowH);
    return i >= 0 && i < L.n ? t.servers[i].name : null;
  }

  /**
   * The layout for a w × h canvas (made again only when the size or the topology changed).
   * @param {Topology} t
   * @param {number} w
   * @param {number} h
   * @returns {Layout}
   */
  #layout(t, w, h) {
    const key = `${w}x${h}:${t.servers.length}:${t.clients.length}:${t.replicas}`;
    if (key === this.layoutKey && this.L) return this.L;
    this.layoutKey = key;
    const pad = 12, top = 34;
    const n = t.servers.length, g = t.clients.length, r = t.replicas;
    // Below 640 px the fixed minimum widths would not fit side by side (the balancer box
    // covered the client box at 390 px): the columns then take shares of the width instead.
    const narrow = w < 640;
    const cw = narrow ? Math.round((w - 2 * pad) * 0.25) : Math.min(190, Math.max(130, w * 0.17));
    const rw = narrow ? Math.round((w - 2 * pad) * 0.19) : Math.min(165, Math.max(118, w * 0.15));
    const rx = narrow ? pad + cw + 10 : Math.max(pad + cw + 24, Math.round(w * 0.37 - rw / 2));
    // Wide canvases also give each server's mean latency and errors a column (the server
    // column starts further left to keep room for the bars and the notes on them).
    const wide = w >= 860;
    const sx = narrow ? rx + rw + 16 : Math.max(rx + rw + 24, Math.round(w * (wide ? 0.5 : 0.56)));
    const avail = h - top - pad;
    const rowH = Math.max(3, Math.min(34, avail / Math.max(1, n)));
    const sY0 = top + Math.max(0, (avail - rowH * n) / 2);
    const gH = Math.min(92, (avail - 10 * (g - 1)) / Math.max(1, g));
    const gY0 = top + (avail - (gH * g + 10 * (g - 1))) / 2;
    // A session store sits under the balancer column: the replicas share what is above it.
    const storeH = t.session_store ? Math.min(62, Math.max(34, avail * 0.22)) : 0;
    const rAvail = avail - (storeH ? storeH + 14 : 0);
    const rH = Math.min(74, (rAvail - 12 * (r - 1)) / Math.max(1, r));
    const rY0 = top + (rAvail - (rH * r + 12 * (r - 1))) / 2;
    const groups = t.clients.map((c, i) => {
      const y = gY0 + i * (gH + 10);
      return { x: pad, y, w: cw, h: gH, ax: pad + cw, ay: y + gH / 2, direct: c.balancing === 'client' };
    });
    const replicas = Array.from({ length: r }, (_, i) => {
      const y = rY0 + i * (rH + 12);
      return { x: rx, y, w: rw, h: rH, lx: rx, rx: rx + rw, ay: y + rH / 2 };
    });
    const nameW = rowH >= 9 ? (narrow ? 46 : 64) : 8;
    const numW = rowH >= 9 ? (narrow ? 40 : wide ? 210 : 150) : 0;
    const barX = sx + 12 + nameW;
    const barW = Math.max(30, w - pad - numW - barX);
    const servers = t.servers.map((_, i) => ({ y: sY0 + i * rowH, cy: sY0 + i * rowH + rowH / 2 }));
    const store = storeH ? { x: rx, y: top + avail - storeH, w: rw, h: storeH } : null;
    this.L = { w, h, pad, top: sY0, n, rowH, sx, barX, barW, numW, nameW, narrow, wide, groups, replicas, servers, store, fontPx: Math.max(8, Math.min(12, rowH - 2)) };
    return this.L;
  }

  /** @param {number} animClock the animation clock (s), for the dots' positions */
  draw(animClock) {
    if (!this.topo || !this.frame) return;
    const { ctx, w, h } = fitCanvas(this.canvas);
    const f = this.frame, t = this.topo;
    const L = this.#layout(t, w, h);
    ctx.clearRect(0, 0, w, h);
    ctx.textBaseline = 'middle';
    /** @type {import('./util.js').DrawnBox[]} */
    const B = [];
    this.boxes = B;

    // Column headings, each kept to its column.
    ctx.font = '600 10.5px system-ui, sans-serif';
    ctx.fillStyle = COLORS.muted;
    ctx.textAlign = 'left';
    const bx = L.replicas[0]?.x ?? L.sx;
    drawText(ctx, B, L.narrow ? 'CLIENTS' : 'CLIENT GROUPS', L.pad, 12, bx - L.pad - 6);
    drawText(ctx, B, 'BALANCER', bx, 12, L.sx - bx - 6);
    const serversW = drawText(ctx, B, 'SERVERS', L.sx, 12, L.w - L.pad - L.sx);
    if (L.numW) {
      ctx.textAlign = 'right';
      drawText(ctx, B, L.narrow ? 'now' : L.wide ? 'in service+queued · conns · served · mean · errors' : 'in service+queued · conns · served', L.w - L.pad, 12, L.w - L.pad - (L.sx + serversW + 10));
    }
    ctx.textAlign = 'left';
    ctx.font = '10px system-ui, sans-serif';
    const layer = (this.labels.layer || t.layer).toUpperCase();
    drawText(ctx, B, `${layer} · ${this.labels.algorithm || t.algorithm}${this.labels.sticky && this.labels.sticky !== 'none' ? ' · sticky ' + this.labels.sticky : ''}`, bx, 24, L.sx - bx - 6);

    this.#drawConnections(ctx, L, f);
    this.#drawUpstream(ctx, L, f);
    this.#drawGroups(ctx, L, f, t);
    this.#drawStore(ctx, L, f);
    this.#drawReplicas(ctx, L, f);
    this.#drawServers(ctx, L, f, t);
    this.#drawDots(ctx, L, f, animClock);
  }

  /**
   * @param {CanvasRenderingContext2D} ctx
   * @param {Layout} L
   * @param {Frame} f
   */
  #drawConnections(ctx, L, f) {
    const e = f.edges;
    ctx.lineCap = 'round';
    for (let i = 0; i + 4 < e.length; i += 5) {
      const g = e[i], r = e[i + 1], s = e[i + 2], conns = e[i + 3], streams = e[i + 4];
      const G = L.groups[g];
      if (!G) continue;
      ctx.strokeStyle = GROUP_COLORS[g % GROUP_COLORS.length];
      ctx.globalAlpha = 0.22 + 0.45 * Math.min(1, Math.log10(1 + conns) / 3);
      ctx.lineWidth = Math.min(14, 1 + 1.3 * Math.sqrt(streams));
      ctx.beginPath();
      if (r !== NONE && L.replicas[r]) {
        const R = L.replicas[r];
        ctx.moveTo(G.ax, G.ay);
        ctx.lineTo(R.lx, R.ay);
        if (s !== NONE && L.servers[s]) {
          ctx.moveTo(R.rx, R.ay);
          ctx.lineTo(L.sx - 4, L.servers[s].cy);
        }
      } else if (s !== NONE && L.servers[s]) {
        const pts = this.#direct(L, g, s);
        ctx.moveTo(pts[0][0], pts[0][1]);
        for (let k = 1; k < pts.length; k++) ctx.lineTo(pts[k][0], pts[k][1]);
      }
      ctx.stroke();
    }
    ctx.globalAlpha = 1;
  }

  /**
   * L7 upstream: replica → server lines for requests in flight (connections end at the replica).
   * @param {CanvasRenderingContext2D} ctx
   * @param {Layout} L
   * @param {Frame} f
   */
  #drawUpstream(ctx, L, f) {
    const n = L.n, groups = L.groups.length;
    const perServer = new Float64Array(n);
    for (let g = 0; g < groups; g++) {
      if (L.groups[g].direct) continue;
      for (let s = 0; s < n; s++) perServer[s] += f.flows[g * n + s];
    }
    ctx.strokeStyle = COLORS.upstream;
    for (let r = 0; r < L.replicas.length; r++) {
      const R = L.replicas[r];
      for (let s = 0; s < n; s++) {
        const k = this.#share(L, f, r, s) * perServer[s];
        if (k <= 0) continue;
        ctx.lineWidth = Math.min(8, 0.6 + Math.sqrt(k) * 0.7);
        ctx.beginPath();
        ctx.moveTo(R.rx, R.ay);
        ctx.lineTo(L.sx - 4, L.servers[s].cy);
        ctx.stroke();
      }
    }
  }

  /**
   * Client-side path from group g straight to server s, curving below the balancer column.
   * @param {Layout} L
   * @param {number} g
   * @param {number} s
   * @returns {Point[]}
   */
  #direct(L, g, s) {
    const key = `${g}:${s}`;
    L.directs ??= new Map();
    let pts = L.directs.get(key);
    if (!pts) {
      const G = L.groups[g], S = [L.sx - 4, L.servers[s].cy];
      const last = L.replicas[L.replicas.length - 1];
      const below = Math.min(L.h - 8, last.y + last.h + 22);
      const c1 = [last.x - 10, below], c2 = [last.x + last.w + 10, below];
      pts = [];
      for (let k = 0; k <= 16; k++) {
        const u = k / 16, v = 1 - u;
        pts.push([
          v * v * v * G.ax + 3 * v * v * u * c1[0] + 3 * v * u * u * c2[0] + u * u * u * S[0],
          v * v * v * G.ay + 3 * v * v * u * c1[1] + 3 * v * u * u * c2[1] + u * u * u * S[1],
        ]);
      }
      L.directs.set(key, pts);
    }
    return pts;
  }

  /**
   * The share of server s's proxied requests that go through replica r.
   * @param {Layout} L
   * @param {Frame} f
   * @param {number} r
   * @param {number} s
   */
  #share(L, f, r, s) {
    const R = L.replicas.length;
    if (R === 1) return 1;
    const a = this.active;
    if (!a) return f.replicaUp[r] ? 1 / R : 0;
    let sum = 0;
    for (let i = 0; i < R; i++) sum += a[i]?.[s] ?? 0;
    return sum > 0 ? (a[r]?.[s] ?? 0) / sum : 0;
  }

  /**
   * @param {CanvasRenderingContext2D} ctx
   * @param {Layout} L
   * @param {Frame} f
   * @param {Topology} t
   */
  #drawGroups(ctx, L, f, t) {
    t.clients.forEach((c, i) => {
      const G = L.groups[i];
      box(ctx, G.x, G.y, G.w, G.h, COLORS.box, GROUP_COLORS[i % GROUP_COLORS.length]);
      this.boxes.push({ kind: 'box', text: c.name, x: G.x, y: G.y, w: G.w, h: G.h });
      /** @type {[string, string, string][]} */
      const lines = [
        [`${c.name} ×${fmtCount(c.count)}`, '600 12px system-ui, sans-serif', COLORS.text],
        [`${c.protocol}${c.balancing === 'client' ? ' · client-side' : ''} · ${loadText(c)}`, '10.5px system-ui, sans-serif', COLORS.muted],
        [`in flight ${fmtCount(f.groupInFlight[i])} · waiting ${fmtCount(f.groupWaiting[i])}`, '10.5px system-ui, sans-serif', COLORS.text],
        [`connections ${fmtCount(f.groupConns[i])}`, '10.5px system-ui, sans-serif', COLORS.muted],
      ];
      textLines(ctx, this.boxes, lines, G.x + 8, G.y, G.w - 16, G.h);
    });
  }

  /**
   * @param {CanvasRenderingContext2D} ctx
   * @param {Layout} L
   * @param {Frame} f
   */
  #drawReplicas(ctx, L, f) {
    const used = L.groups.some((G) => !G.direct);
    L.replicas.forEach((R, i) => {
      const up = f.replicaUp[i] === 1;
      box(ctx, R.x, R.y, R.w, R.h, up ? COLORS.box : '#2d1416', up ? (used ? '#4fa3ff' : COLORS.boxLine) : COLORS.down);
      this.boxes.push({ kind: 'box', text: `balancer-${i + 1}`, x: R.x, y: R.y, w: R.w, h: R.h });
      /** @type {[string, string, string][]} */
      const lines = [
        [`balancer-${i + 1}`, '600 12px system-ui, sans-serif', COLORS.text],
        [up ? (used ? `busy ${f.replicaBusy[i]}` : 'unused (client-side)') : 'DOWN', '10.5px system-ui, sans-serif', up ? COLORS.muted : COLORS.down],
      ];
      if (f.maxRequests && up) {
        // Circuit breakers: open requests against max_requests (per pool), and what overflowed.
        const open = f.replicaOpen[i], full = open >= f.maxRequests;
        lines.push([`open ${fmtCount(open)}/${fmtCount(f.maxRequests)}${full ? ' FULL' : ''}`, '10.5px system-ui, sans-serif', full ? COLORS.down : COLORS.text]);
        lines.push([`overflow ${fmtCount(f.replicaOverflows[i])}`, '10.5px system-ui, sans-serif', f.replicaOverflows[i] > 0 ? COLORS.queue : COLORS.muted]);
      }
      textLines(ctx, this.boxes, lines, R.x + 8, R.y, R.w - 16, R.h);
    });
  }

  /**
   * The session store: a node under the balancers, dashed lines to the servers that read
   * sessions from it; red and crossed out when down (the servers stay up: requests that touch
   * a session fail store_unavailable), violet when slow.
   * @param {CanvasRenderingContext2D} ctx
   * @param {Layout} L
   * @param {Frame} f
   */
  #drawStore(ctx, L, f) {
    const S = L.store;
    if (!S || !f.store) return;
    const { color, word } = storeStatus(f);
    const down = f.store === STORE.DOWN;
    ctx.save();
    ctx.setLineDash([3, 4]);
    ctx.strokeStyle = color;
    ctx.globalAlpha = down ? 0.7 : 0.35;
    ctx.lineWidth = 1;
    ctx.beginPath();
    const x0 = S.x + S.w, y0 = S.y + S.h / 2, x1 = L.sx - 4;
    ctx.moveTo(x0, y0);
    ctx.lineTo(x1 - 8, y0);
    if (L.servers.length) {
      ctx.moveTo(x1 - 8, Math.min(y0, L.servers[0].cy));
      ctx.lineTo(x1 - 8, Math.max(y0, L.servers[L.servers.length - 1].cy));
    }
    ctx.stroke();
    ctx.restore();
    box(ctx, S.x, S.y, S.w, S.h, down ? '#2d1416' : COLORS.box, color);
    if (down) {
      // Crossed out (faintly, under its text): the store, not a server, is what failed.
      ctx.strokeStyle = COLORS.down;
      ctx.globalAlpha = 0.35;
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.moveTo(S.x + 4, S.y + 4);
      ctx.lineTo(S.x + S.w - 4, S.y + S.h - 4);
      ctx.moveTo(S.x + S.w - 4, S.y + 4);
      ctx.lineTo(S.x + 4, S.y + S.h - 4);
      ctx.stroke();
      ctx.globalAlpha = 1;
    }
    this.boxes.push({ kind: 'box', text: 'session store', x: S.x, y: S.y, w: S.w, h: S.h });
    const failed = f.totals.outcomes.store_unavailable ?? 0;
    /** @type {[string, string, string][]} */
    const lines = [
      ['session store', '600 12px system-ui, sans-serif', COLORS.text],
      [down ? `DOWN · ${fmtCount(failed)} failed` : `${word} · ${fmtMs(f.storeLatencyMs)}`, '10.5px system-ui, sans-serif', down ? COLORS.down : color],
    ];
    textLines(ctx, this.boxes, lines, S.x + 8, S.y, S.w - 16, S.h);
  }

  /**
   * @param {CanvasRenderingContext2D} ctx
   * @param {Layout} L
   * @param {Frame} f
   * @param {Topology} t
   */
  #drawServers(ctx, L, f, t) {
    const font = `${L.fontPx}px ui-monospace, Menlo, Consolas, monospace`;
    const sq = Math.max(3, Math.min(10, L.rowH - 3));
    const scale = L.barW / this.barScale;
    const replicas = L.replicas.length;
    ctx.font = font;
    // Bars first (batched by colour), then squares, then text.
    const busy = new Path2D(), queue = new Path2D(), track = new Path2D();
    const bh = Math.max(2, Math.min(12, L.rowH * 0.55));
    for (let s = 0; s < L.n; s++) {
      const y = L.servers[s].cy - bh / 2;
      track.rect(L.barX, y, L.barW, bh);
      const b = f.busy[s] * scale, q = Math.min(L.barW - b, f.queue[s] * scale);
      if (b > 0) busy.rect(L.barX, y, b, bh);
      if (q > 0) queue.rect(L.barX + b, y, q, bh);
    }
    ctx.fillStyle = '#1a222d';
    ctx.fill(track);
    ctx.fillStyle = COLORS.busy;
    ctx.fill(busy);
    ctx.fillStyle = COLORS.queue;
    ctx.fill(queue);
    // Capacity: a mark at each server's worker count (beyond it, requests queue).
    const cap = new Path2D();
    for (let s = 0; s < L.n; s++) {
      const x = Math.round(L.barX + Math.min(L.barW, this.workers[s] * scale)) - 0.5;
      cap.moveTo(x, L.servers[s].cy - bh / 2 - 2);
      cap.lineTo(x, L.servers[s].cy + bh / 2 + 2);
    }
    ctx.strokeStyle = 'rgba(219,227,236,0.55)';
    ctx.lineWidth = 1;
    ctx.stroke(cap);

    for (let s = 0; s < L.n; s++) {
      const st = f.state[s], cy = L.servers[s].cy;
      const full = status(f, s, replicas), color = full.color;
      // On a phone the one-word state fits where the longer note would be cut ("crashed…").
      let note = L.narrow && full.word !== 'slow' && full.note ? full.word : full.note;
      let noteColor = color;
      if (this.flashing(s)) {
        // For the flash the loss replaces the state note (the square keeps the state's colour).
        note = `−${fmtCount(this.flashCount[s])} session${this.flashCount[s] === 1 ? '' : 's'} lost`;
        noteColor = COLORS.lost;
      } else if (!note && f.sessions?.[s]) {
        note = `${fmtCount(f.sessions[s])} sessions`;
        noteColor = COLORS.store;
      }
      const off = st === STATE.NOT_ADDED || st === STATE.REMOVED || st === STATE.PROVISIONING;
      ctx.fillStyle = color;
      if (this.flashing(s)) {
        // Sessions lost here just now: a ring around the square that fades out.
        const left = (this.flashUntil[s] - performance.now()) / FLASH_MS;
        ctx.strokeStyle = COLORS.lost;
        ctx.globalAlpha = Math.max(0.25, left);
        ctx.lineWidth = 2;
        ctx.strokeRect(L.sx - 3, cy - sq / 2 - 3, sq + 6, sq + 6);
        ctx.globalAlpha = 1;
      }
      if (st === STATE.PROVISIONING) {
        ctx.strokeStyle = color;
        ctx.lineWidth = 1;
        ctx.setLineDash([2, 2]);
        ctx.strokeRect(L.sx + 0.5, cy - sq / 2 + 0.5, sq - 1, sq - 1);
        ctx.setLineDash([]);
      } else if (off) {
        ctx.strokeStyle = color;
        ctx.lineWidth = 1;
        ctx.strokeRect(L.sx + 0.5, cy - sq / 2 + 0.5, sq - 1, sq - 1);
      } else {
        ctx.fillRect(L.sx, cy - sq / 2, sq, sq);
      }
      if (L.rowH >= 9) {
        ctx.textAlign = 'left';
        ctx.fillStyle = off ? COLORS.off : COLORS.text;
        drawText(ctx, this.boxes, t.servers[s].name, L.sx + 14, cy, L.barX - L.sx - 18);
        ctx.textAlign = 'right';
        ctx.fillStyle = COLORS.muted;
        const base = `${f.busy[s]}+${f.queue[s]} ${fmtCount(f.conns[s]).padStart(5)} ${fmtCount(f.served[s]).padStart(7)}`;
        const nums = L.narrow ? `${f.busy[s]}+${f.queue[s]}`
          : L.wide ? `${f.busy[s]}+${f.queue[s]} ${fmtCount(f.conns[s]).padStart(4)} ${fmtCount(f.served[s]).padStart(6)} ${(f.latencyMs?.[s] ? fmtMs(f.latencyMs[s]) : '–').padStart(7)} ${fmtCount(f.errors?.[s] ?? 0).padStart(4)}` : base;
        const numsW = drawText(ctx, this.boxes, nums, L.w - L.pad, cy, L.w - L.pad - L.barX);
        if (note) {
          // After the bar, but never into the numbers ("slow ×5" printed over the queue count).
          ctx.textAlign = 'left';
          ctx.fillStyle = color;
          const end = L.w - L.pad - (numsW ? numsW + 6 : 0);
          const x = Math.max(L.barX + 4, Math.min(L.barX + 4 + (f.busy[s] + f.queue[s]) * scale, end - ctx.measureText(note).width));
          // On a dark backing: the note often lies over the orange queue bar.
          ctx.fillStyle = 'rgba(13,17,23,0.8)';
          ctx.fillRect(x - 2, cy - L.fontPx / 2 - 1, Math.min(ctx.measureText(note).width, end - x) + 4, L.fontPx + 2);
          ctx.fillStyle = noteColor;
          drawText(ctx, this.boxes, note, x, cy, end - x);
        }
      }
    }
    ctx.textAlign = 'left';
  }

  /**
   * @param {CanvasRenderingContext2D} ctx
   * @param {Layout} L
   * @param {Frame} f
   * @param {number} clock
   */
  #drawDots(ctx, L, f, clock) {
    const n = L.n, groups = L.groups.length, R = L.replicas.length;
    let total = 0;
    for (let i = 0; i < f.flows.length; i++) total += f.flows[i];
    for (let i = 0; i < f.flowsToReplica.length; i++) total += f.flowsToReplica[i];
    if (total === 0) return;
    const per = Math.max(1, total / MAX_DOTS); // requests per dot
    for (let g = 0; g < groups; g++) {
      const G = L.groups[g];
      const p = new Path2D();
      /** @type {(pts: Point[], count: number, seed: number) => void} */
      const add = (pts, count, seed) => {
        const m = Math.round(count / per) || (count > 0 ? 1 : 0);
        if (!m) return;
        const speed = 0.35 + 0.25 * frac(seed * 0.618);
        for (let k = 0; k < m; k++) {
          const u = frac(k / m + clock * speed + seed * 0.137);
          const [x, y] = along(pts, u);
          p.rect(x - 1.6, y - 1.6, 3.2, 3.2);
        }
      };
      for (let s = 0; s < n; s++) {
        const c = f.flows[g * n + s];
        if (!c) continue;
        /** @type {Point} */
        const S = [L.sx - 4, L.servers[s].cy];
        if (G.direct) {
          add(this.#direct(L, g, s), c, g * 31 + s);
          continue;
        }
        for (let r = 0; r < R; r++) {
          const share = this.#share(L, f, r, s);
          if (share <= 0) continue;
          const Rr = L.replicas[r];
          add([[G.ax, G.ay], [Rr.lx, Rr.ay], [Rr.rx, Rr.ay], S], c * share, g * 31 + s + r * 7);
        }
      }
      for (let r = 0; r < R; r++) {
        const c = f.flowsToReplica[g * R + r];
        if (c) add([[G.ax, G.ay], [L.replicas[r].lx, L.replicas[r].ay]], c, 1000 + g * 7 + r);
      }
      ctx.fillStyle = GROUP_COLORS[g % GROUP_COLORS.length];
      ctx.fill(p);
    }
  }
}

/**
 * A server's health colour, a short note on anything unusual and its state in one word.
 * @param {Pick<Frame, 'state' | 'markedDown' | 'slow'> & Partial<Pick<Frame, 'ejected' | 'ejectedUntilMs'>>} f
 * @param {number} s server index
 * @param {number} replicas balancer replicas
 * @returns {{ color: string, note: string, word: string }}
 */
export function status(f, s, replicas) {
  const st = f.state[s], marked = f.markedDown[s] > 0;
  if (st === STATE.NOT_ADDED) return { color: COLORS.off, note: 'not added', word: 'not added' };
  if (st === STATE.REMOVED) return { color: COLORS.off, note: 'removed', word: 'removed' };
  if (st === STATE.PROVISIONING) return { color: COLORS.provisioning, note: 'provisioning', word: 'provisioning' };
  if (st === STATE.DRAINING) return { color: COLORS.draining, note: 'draining', word: 'draining' };
  const ejected = f.ejected?.[s] ?? 0;
  // Ejected by outlier detection: out until its ejection time has passed (it returns at the
  // detector's next sweep from then), unlike a health check's "marked down".
  const until = ejected ? ` until ${((f.ejectedUntilMs?.[s] ?? 0) / 1000).toFixed(1)} s` : '';
  if (st === STATE.DOWN) return { color: COLORS.down, note: ejected ? `crashed · ejected${until}` : marked ? 'crashed · marked down' : 'crashed · still picked', word: 'crashed' };
  if (ejected) return { color: COLORS.ejected, note: `ejected${replicas > 1 ? ` by ${ejected}/${replicas}` : ''}${until}`, word: 'ejected' };
  if (marked) return { color: COLORS.marked, note: replicas > 1 ? `marked down by ${f.markedDown[s]}/${replicas}` : 'marked down', word: 'marked down' };
  if (f.slow[s] !== 1) return { color: COLORS.slow, note: `slow ×${f.slow[s]}`, word: 'slow' };
  return { color: COLORS.up, note: '', word: 'up' };
}

/**
 * The session store's colour, state word and a note with its latency.
 * @param {Pick<Frame, 'store' | 'storeLatencyMs'>} f
 */
export function storeStatus(f) {
  if (f.store === STORE.DOWN) return { color: COLORS.down, word: 'down', note: 'down — requests that touch a session fail store_unavailable' };
  if (f.store === STORE.SLOW) return { color: COLORS.slow, word: 'slow', note: `slow — ${fmtMs(f.storeLatencyMs)} per session request` };
  return { color: COLORS.store, word: 'up', note: `up — ${fmtMs(f.storeLatencyMs)} per session request` };
}

/** @param {number} x */
function frac(x) { return x - Math.floor(x); }

/**
 * The point at fraction u (0…1) of a polyline's length.
 * @param {Point[]} pts
 * @param {number} u
 * @returns {Point}
 */
export function along(pts, u) {
  let len = 0;
  for (let i = 1; i < pts.length; i++) len += Math.hypot(pts[i][0] - pts[i - 1][0], pts[i][1] - pts[i - 1][1]);
  let d = u * len;
  for (let i = 1; i < pts.length; i++) {
    const [x0, y0] = pts[i - 1], [x1, y1] = pts[i];
    const seg = Math.hypot(x1 - x0, y1 - y0);
    if (d <= seg || i === pts.length - 1) {
      const k = seg > 0 ? Math.min(1, d / seg) : 0;
      return [x0 + (x1 - x0) * k, y0 + (y1 - y0) * k];
    }
    d -= seg;
  }
  return pts[0];
}

/**
 * A rounded box, filled and outlined.
 * @param {CanvasRenderingContext2D} ctx
 * @param {number} x
 * @param {number} y
 * @param {number} w
 * @param {number} h
 * @param {string} fill
 * @param {string} line
 */
function box(ctx, x, y, w, h, fill, line) {
  ctx.beginPath();
  ctx.roundRect(x, y, w, h, 7);
  ctx.fillStyle = fill;
  ctx.fill();
  ctx.strokeStyle = line;
  ctx.lineWidth = 1.2;
  ctx.stroke();
}

/**
 * Draws as many of `lines` ([text, font, colour]) as fit in a box of height h, each shortened
 * to the width w; records their boxes.
 * @param {CanvasRenderingContext2D} ctx
 * @param {import('./util.js').DrawnBox[]} boxes
 * @param {[string, string, string][]} lines
 * @param {number} x
 * @param {number} y
 * @param {number} w
 * @param {number} h
 */
function textLines(ctx, boxes, lines, x, y, w, h) {
  const lh = 15;
  const fit = Math.max(1, Math.min(lines.length, Math.floor((h - 6) / lh)));
  const y0 = y + h / 2 - ((fit - 1) * lh) / 2;
  ctx.textAlign = 'left';
  for (let i = 0; i < fit; i++) {
    const [text, font, color] = lines[i];
    ctx.font = font;
    ctx.fillStyle = color;
    drawText(ctx, boxes, text, x, y0 + i * lh, w);
  }
}

/**
 * A client's rate: whole from 100 on, else three significant digits.
 * @param {number} r
 */
export function fmtRate(r) {
  return r >= 100 ? Math.round(r).toString() : Number(r.toPrecision(3)).toString();
}

/**
 * What drives a client group's load, in a few words: its rate, its closed-loop users (their
 * rate is an output of the run) or its schedule (the rate changes over time).
 * @param {{ rate: number, users?: number | null, scheduled?: boolean }} c
 */
export function loadText(c) {
  if (c.users) return `${fmtCount(c.users)} users each${c.scheduled ? ' (scheduled)' : ''}`;
  if (c.scheduled) return 'scheduled rate';
  return `${fmtRate(c.rate)}/s each`;
}
