// The page's entry point: loads the wasm core, opens a scenario (bundled, edited, or from a
// permalink), runs the animation loop (play / pause / step / speed), and keeps every view —
// topology, counters, charts, inspector, timeline — in step with the simulation.
// @ts-check

import init, { algorithms } from './pkg/sim_web.js';
import { $, $as, el, fmtCount, fmtMs, fmtNum, fmtPct, download, OUTCOMES, OUTCOME_COLORS, serverColor } from './util.js';
import { Session, ScenarioError } from './session.js';
import { TopologyView } from './topology.js';
import { TimeChart, ChartGroup, windowStats } from './charts.js';
import { Inspector } from './inspector.js';
import { Editor } from './editor.js';
import { LiveActions } from './actions.js';
import { renderTimeline, markers, encodePermalink, decodePermalink, hasPermalink } from './timeline.js';
import { ABRun, AB_FIGURES, overrideLines } from './ab.js';
import { SNIPPETS, withEvents } from './scenario.js';
import { LessonPanel } from './lesson.js';

/** @typedef {import('./types.js').Action} Action */
/** @typedef {import('./types.js').Frame} Frame */
/** @typedef {'counters' | 'topology-text' | 'charts' | 'timeline' | 'inspector'} SlowTask */

const DEFAULT_SCENARIO = 'grpc-l4-imbalance';
const STEP_MS = 100;

/**
 * The page's state (also `window.lbsim`, for tests and the console).
 * @typedef {object} App
 * @property {Session | null} session
 * @property {ABRun | null} ab side B of A/B mode (null when off), stepped to A's time every frame
 * @property {HTMLElement | null} abSeeds the last "run 5 seeds" table of this A/B pair
 * @property {{ file: string, name: string, title: string }[]} bundled the bundled scenarios' index
 * @property {Map<string, string>} texts bundled name → text
 * @property {import('./types.js').Algorithm[]} algorithms
 * @property {boolean} playing
 * @property {number | 'max'} speed simulated seconds per second of wall time, or as fast as possible
 * @property {number} anim animation clock (s of wall time while playing)
 * @property {number} lastTs
 * @property {{ dt: number, work: number, playing: boolean, tasks: string }[]} frameTimes per animation
 *   frame (ms), with the few-times-a-second view it refreshed ('' for none)
 * @property {SlowTask[]} slowQueue views waiting to be refreshed, one per frame
 * @property {string} lastTasks the view refreshed in this frame
 * @property {import('./types.js').TimelineItem[]} timeline Session.timeline() at the last refresh
 * @property {string} marksKey
 * @property {number} lastSlow
 * @property {number} lastTimeline
 * @property {number} lastInspect
 * @property {number} actualSpeed
 * @property {number} chunk events per stepEvents call at "as fast as possible"
 * @property {[number, number] | null} brush the selected time window (s)
 * @property {Frame | null} frame the last snapshot
 * @property {boolean} broken the core trapped
 * @property {string} lastAnnounced the run state last written to the aria-live region
 * @property {MediaQueryList} reducedMotion prefers-reduced-motion: the dots stand still
 * @property {() => { canvas: string, width: number, height: number, boxes: import('./util.js').DrawnBox[] }[]} labelBoxes
 *   the text and boxes each canvas drew last (CSS px within it), for the layout tests
 */

/** @type {App} */
const app = {
  session: null,
  ab: null,
  abSeeds: null,
  bundled: [], // [{file, name, title}]
  texts: new Map(), // bundled name → text
  algorithms: [],
  playing: false,
  speed: 1,
  anim: 0, // animation clock (s of wall time while playing)
  lastTs: 0,
  frameTimes: [], // [{dt, work, playing, tasks}] per animation frame (ms), for the frame-time measurement
  slowQueue: [],
  lastTasks: '',
  timeline: [], // Session.timeline() at the last refresh
  marksKey: '',
  lastSlow: 0, // wall time of the last 4 Hz refresh
  lastTimeline: 0,
  lastInspect: 0,
  actualSpeed: 1,
  chunk: 20000, // events per stepEvents call at "as fast as possible"
  brush: null,
  frame: null,
  broken: false,
  lastAnnounced: '',
  reducedMotion: matchMedia('(prefers-reduced-motion: reduce)'),
  labelBoxes: () => [],
};
/** @type {Window & { lbsim?: App }} */ (window).lbsim = app; // for tests and the curious (console)

/**
 * The open session: the functions that call this run only once one is open.
 * @returns {Session}
 */
function current() {
  if (!app.session) throw new Error('no scenario is open');
  return app.session;
}

/**
 * An error's message (or the thrown value as text).
 * @param {unknown} e
 */
function messageOf(e) {
  return e instanceof Error ? e.message : String(e);
}

// ---- errors ------------------------------------------------------------------------------

let lastConsoleError = '';
const consoleError = console.error.bind(console);
console.error = (...args) => {
  lastConsoleError = args.map(String).join(' ');
  consoleError(...args);
};

/** @param {string} text */
function banner(text) {
  $('banner-text').textContent = text;
  $('banner').hidden = !text;
}

/**
 * The core trapped (a Rust panic): say so in the page and stop the loop's calls into it.
 * @param {unknown} e
 */
function coreFailed(e) {
  app.playing = false;
  app.broken = true;
  const panic = lastConsoleError.includes('panicked') ? `\n${lastConsoleError.split('\n')[0]}` : '';
  banner(`The simulation core stopped: ${messageOf(e)}${panic}\nPick a scenario or reload the page to start again.`);
  updateButtons();
}

window.addEventListener('error', (e) => banner(`Error: ${e.message}`));
window.addEventListener('unhandledrejection', (e) => banner(`Error: ${e.reason?.message ?? e.reason}`));

// ---- views ---------------------------------------------------------------------------------

const topology = new TopologyView($as('topology', HTMLCanvasElement), { onPickServer: (name) => actions.selectServer(name) });
// Side B's topology (A/B mode), drawn from B's snapshot every frame beside A's numbers.
const abTopology = new TopologyView($as('ab-topology', HTMLCanvasElement));
const inspector = new Inspector($('inspector-body'), $('inspector-head'), { onReplica: () => refreshInspector() });
const actions = new LiveActions($('actions-body'), { onAction: applyAction });
const editor = new Editor({
  textarea: $as('editor', HTMLTextAreaElement), gutter: $('gutter'), band: $('error-band'), errorBox: $('editor-error'), status: $('editor-status'),
  onChange: (err) => { $as('run-edited', HTMLButtonElement).disabled = !!err; },
});
// The Insert menu: heavy-tailed and empirical service times, closed-loop users, a load schedule.
{
  const menu = $as('insert-snippet', HTMLSelectElement);
  for (const s of SNIPPETS) menu.append(new Option(s.label, s.id));
  menu.addEventListener('change', () => {
    const snippet = SNIPPETS.find((s) => s.id === menu.value);
    menu.value = '';
    if (!snippet) return;
    const problem = editor.insert(snippet);
    if (problem) banner(`Insert: ${problem}.`);
  });
}
const charts = {
  latency: new TimeChart($as('chart-latency', HTMLCanvasElement), { title: 'Latency per second — p50 and p99 (ms)', unit: 'ms', hoverFmt: (v) => fmtMs(v), markerLabels: true }),
  served: new TimeChart($as('chart-served', HTMLCanvasElement), { title: 'Requests served per second, per server', unit: 'requests/s', hoverFmt: (v) => `${fmtNum(v)}/s` }),
  balance: new TimeChart($as('chart-balance', HTMLCanvasElement), { title: "Balance — Jain's index (1 = even load)", unit: 'Jain index', yMax: 1, hoverFmt: (v) => fmtNum(v, 4) }),
  outcomes: new TimeChart($as('chart-outcomes', HTMLCanvasElement), { title: 'Requests sent per second (line) and outcomes of those that ended (stacked)', unit: 'requests/s', stacked: true, hoverFmt: (v) => `${fmtNum(v)}/s` }),
};
app.labelBoxes = () => [topology, ...(app.ab ? [abTopology] : []), ...Object.values(charts)].map((v) => ({
  canvas: v.canvas.id, width: v.canvas.clientWidth, height: v.canvas.clientHeight, boxes: v.boxes.map((b) => ({ ...b })),
}));
const chartGroup = new ChartGroup(Object.values(charts), { onBrush: (b) => { app.brush = b; renderWindowStats(); } });
// The scenario's lesson: "Do this" restarts with the step's changes on the same seed and plays.
const lesson = new LessonPanel($('lesson'), $('lesson-body'), {
  current: () => app.session,
  restart: (text, name, seed) => {
    if (start({ text, name, seed })) {
      app.playing = true;
      updateButtons();
    }
  },
});

// ---- opening scenarios ------------------------------------------------------------------------

/** @param {string} name */
async function bundledText(name) {
  const cached = app.texts.get(name);
  if (cached !== undefined) return cached;
  const entry = app.bundled.find((b) => b.name === name);
  if (!entry) throw new Error(`there is no bundled scenario "${name}"`);
  const res = await fetch(`pkg/scenarios/${entry.file}`);
  if (!res.ok) throw new Error(`could not load scenarios/${entry.file} (HTTP ${res.status})`);
  const text = await res.text();
  app.texts.set(name, text);
  return text;
}

/**
 * Starts a session. Returns true, or false when the text is refused (the error is shown in
 * the editor; the running session, if any, goes on).
 * @param {{ text: string, name?: string | null, seed?: number | null,
 *   actionsList?: import('./types.js').TimedAction[], untilMs?: number,
 *   fromLink?: boolean }} options
 */
function start({ text, name = null, seed = null, actionsList = [], untilMs = 0, fromLink = false }) {
  let s;
  try {
    s = new Session({ text, name, seed, actions: actionsList });
  } catch (e) {
    if (e instanceof ScenarioError) {
      if (editor.text !== text) editor.setText(text);
      editor.show(e);
      return false;
    }
    throw e;
  }
  stopAB(); // B belonged to the old run (before the old session goes: it reads its state)
  if (app.session) app.session.free();
  app.session = s;
  app.broken = false;
  app.playing = false;
  app.timeline = [];
  app.marksKey = '';
  app.brush = null;
  chartGroup.setBrush(null, true);
  if (editor.text !== text) editor.setText(text);
  $as('seed', HTMLInputElement).value = String(s.seed);
  syncScenarioSelect();
  viewsForTopology();
  if (untilMs > 0) s.sim.stepUntil(untilMs);
  forgetPermalink(fromLink);
  refreshAll();
  updateButtons();
  $('summary').replaceChildren();
  lesson.onSession(s);
  return true;
}

/**
 * A permalink describes one session: once another starts (another scenario, a restart, an
 * edited scenario) the old link must not stay in the address bar, or a reload would bring the
 * old session back. Keeps the fragment only for the session the link itself opened.
 * @param {boolean} fromLink
 */
function forgetPermalink(fromLink) {
  const out = $as('permalink-out', HTMLInputElement);
  out.hidden = true;
  out.value = '';
  if (!fromLink && hasPermalink(location.hash)) history.replaceState(null, '', location.pathname + location.search);
}

/**
 * @param {string} name
 * @param {number | null} [seed]
 */
async function openBundled(name, seed = null) {
  const text = await bundledText(name);
  start({ text, name, seed });
}

function syncScenarioSelect() {
  const sel = $as('scenario', HTMLSelectElement);
  const name = app.session?.name;
  let edited = sel.querySelector('option[value=""]');
  if (!name) {
    if (!edited) sel.prepend((edited = el('option', { value: '' }, '(edited scenario)')));
    sel.value = '';
  } else {
    edited?.remove();
    sel.value = name;
  }
}

/** Rebuilds the views that depend on the servers, groups and replicas. */
function viewsForTopology() {
  const s = current();
  topology.setTopology(s.topo, s.workers);
  inspector.setTopology(s.topo);
  actions.setTopology(s.topo, app.algorithms);
  $('duration').textContent = `/ ${fmtNum(s.durationMs / 1000)} s`;
  $('topo-caption').textContent = `${s.topo.name}${s.topo.description ? ' — ' + s.topo.description : ''}`;
  $('topo-caption').title = s.topo.description;
  buildCounters();
}

// ---- live actions --------------------------------------------------------------------------

/**
 * Applies a live action (LiveActions' onAction): null when applied, else why not.
 * @param {Action} action
 * @returns {string | null}
 */
function applyAction(action) {
  const s = app.session;
  if (!s || app.broken) return 'nothing is running';
  if (action.action === 'add' && !action.deferred) {
    // Adding rebuilds the run (the new server must exist from its start) and replays it to
    // now, which can take a moment: say so first, then do it.
    actions.message('Adding a server: replaying the run so far with it…');
    setTimeout(() => {
      const why = applyAction({ ...action, deferred: true });
      if (why) actions.message(why, true);
    }, 30);
    return null;
  }
  delete action.deferred;
  // B takes every live action too (rebuilt with A's actions, at A's instants), so the two
  // still differ only in B's setting.
  const abOverrides = app.ab?.overrides ?? null;
  let why;
  try {
    const generation = s.generation;
    why = s.apply(action);
    if (why) return why;
    // Take effect now (the core schedules actions 1 ns ahead), so a paused view shows them.
    s.sim.stepUntil((Number(s.nowNs()) + 1.5) / 1e6);
    if (s.generation !== generation) viewsForTopology();
  } catch (e) {
    if (e instanceof WebAssembly.RuntimeError) { coreFailed(e); return 'the core stopped'; }
    return messageOf(e);
  }
  s.topo = JSON.parse(s.sim.topology()); // rates may have changed
  if (abOverrides) startAB(abOverrides);
  actions.message(`Applied ${describeShort(action)} at t = ${(s.nowMs / 1000).toFixed(3)} s.`);
  app.lastTimeline = 0;
  app.lastInspect = 0;
  refreshAll();
  return null;
}

/**
 * The timeline with the autoscalers' decisions so far, each at its time (the core's typed
 * records: group, servers before, desired, the metric that decided).
 * @param {import('./types.js').TimelineItem[]} items
 * @param {import('./session.js').Session} s
 */
function withScaleDecisions(items, s) {
  /** @type {import('./types.js').ScaleDecision[]} */
  const decisions = JSON.parse(s.sim.scaleDecisionsFrom(0));
  if (!decisions.length) return items;
  const scaled = decisions.map((d) => ({
    atNs: BigInt(Math.round(d.at_s * 1e9)), who: /** @type {const} */ ('autoscaler'), fired: true,
    text: `autoscale ${d.group} ${d.current} → ${d.desired} (${d.ready} ready, metric ${fmtNum(d.metric, 3)})`,
  }));
  return [...items, ...scaled].sort((a, b) => (a.atNs < b.atNs ? -1 : a.atNs > b.atNs ? 1 : 0));
}

/** @param {Action} a */
function describeShort(a) {
  return Object.entries(a).map(([k, v]) => (k === 'action' ? v : `${k}=${v}`)).join(' ');
}

/**
 * Algorithm, layer, stickiness and the store now, as the core says (Sim.liveSettings): the
 * scenario's, changed by timeline events so far.
 * @returns {import('./types.js').LiveSettings}
 */
function liveSettings() {
  /** @type {import('./types.js').CoreLiveSettings} */
  const live = JSON.parse(current().sim.liveSettings());
  return { algorithm: live.algorithm, layer: live.layer, sticky: live.sticky, store: live.store === 'down' ? 'down' : 'up' };
}

// ---- the loop ----------------------------------------------------------------------------------

/** @param {number} dtMs wall time since the last frame */
function advance(dtMs) {
  const s = current();
  const t0 = performance.now();
  const before = s.nowMs;
  if (app.speed === 'max') {
    while (performance.now() - t0 < 11) {
      const c0 = performance.now();
      if (!s.sim.stepEvents(app.chunk)) break;
      const took = performance.now() - c0;
      app.chunk = Math.max(500, Math.min(500000, Math.round(app.chunk * (took > 4 ? 0.7 : 1.3))));
    }
  } else {
    s.sim.stepUntil(Math.min(s.nowMs + dtMs * app.speed, s.durationMs * 10));
  }
  const simAdvanced = s.nowMs - before;
  app.actualSpeed = 0.9 * app.actualSpeed + 0.1 * (simAdvanced / Math.max(1, dtMs));
  if (s.finished) finish();
}

/** @param {number} ts the animation frame's timestamp */
function frame(ts) {
  const dt = app.lastTs ? ts - app.lastTs : 16.7;
  app.lastTs = ts;
  const w0 = performance.now();
  if (app.session && !app.broken) {
    try {
      if (app.playing) {
        advance(Math.min(dt, 100));
        if (!app.reducedMotion.matches) app.anim += Math.min(dt, 100) / 1000;
      }
      refresh(ts);
    } catch (e) {
      if (e instanceof WebAssembly.RuntimeError) coreFailed(e);
      else throw e;
    }
  }
  app.frameTimes.push({ dt, work: performance.now() - w0, playing: app.playing, tasks: app.lastTasks });
  app.lastTasks = '';
  if (app.frameTimes.length > 4000) app.frameTimes.splice(0, 2000);
  if (app.session && document.body.dataset.ready !== 'true') document.body.dataset.ready = 'true';
  requestAnimationFrame(frame);
}

function finish() {
  app.playing = false;
  const s = current();
  const r = s.report();
  $('summary').replaceChildren(
    el('div', {}, el('b', {}, 'Run finished'), ` at ${fmtNum(r.end_s ?? s.nowMs / 1000)} s — `,
      `${fmtCount(r.requests.sent)} requests, ok ${fmtPct(r.requests.completed / Math.max(1, r.requests.sent))}, `,
      `p50 ${fmtMs(r.latency_ms.p50)}, p99 ${fmtMs(r.latency_ms.p99)}, Jain ${fmtNum(r.balance.jain_index, 4)}`),
    el('div', {}, 'trace_hash ', el('code', { id: 'trace-hash' }, r.trace_hash), ' — the exported scenario replays to this hash'));
  app.lastTimeline = 0;
  updateButtons();
}

// ---- refreshing views --------------------------------------------------------------------------

/**
 * @param {import('./pkg/sim_web.js').Sim} [sim] A's unless given (B's in A/B mode)
 * @returns {Frame}
 */
function snapshot(sim = current().sim) {
  sim.snapshot();
  return {
    state: sim.serverState(), busy: sim.serverBusy(), queue: sim.serverQueue(), conns: sim.serverConns(),
    served: sim.serverServed(), markedDown: sim.serverMarkedDown(), slow: sim.serverSlow(),
    replicaUp: sim.replicaUp(), replicaBusy: sim.replicaBusy(),
    groupInFlight: sim.groupInFlight(), groupWaiting: sim.groupWaiting(), groupConns: sim.groupConns(),
    edges: sim.edges(), flows: sim.flows(), flowsToReplica: sim.flowsToReplica(), totals: JSON.parse(sim.totalsNamed()),
    ejected: sim.serverEjected(), ejectedUntilMs: sim.serverEjectedUntilMs(), sessions: sim.serverSessions(),
    sessionsLost: sim.serverSessionsLost(), errors: sim.serverErrors(), retries: sim.serverRetries(),
    hedges: sim.serverHedges(), latencyMs: sim.serverLatencyMs(), replicaOpen: sim.replicaOpenRequests(),
    replicaOverflows: sim.replicaOverflows(), maxRequests: sim.maxRequests(), store: sim.storeState(),
    storeLatencyMs: sim.storeLatencyMs(), retriesTotal: sim.retries(), hedgesTotal: sim.hedges(),
  };
}

/**
 * Every frame: snapshot and topology; a few times a second: counters, charts, inspector.
 * @param {number} ts
 * @param {boolean} [force]
 */
function refresh(ts, force = false) {
  const s = current();
  if (app.ab) app.ab.stepTo(s.nowMs, s.finished); // lockstep: B at A's simulated time, every frame
  const snap = snapshot();
  app.frame = snap;
  topology.update(snap);
  topology.draw(app.anim);
  if (app.ab) {
    abTopology.update(snapshot(app.ab.sim));
    abTopology.draw(app.anim);
  }
  $('clock').textContent = `t = ${(s.nowMs / 1000).toFixed(2)} s`;
  $('progress').style.width = `${Math.min(100, (100 * s.nowMs) / s.durationMs)}%`;
  // The few-times-a-second views are queued and run one per frame (a frame that did them all
  // at once took longer than the 16.7 ms of a 60 Hz frame and the next vsync was missed: the
  // 95th-percentile frame interval was 33 ms). Forced refreshes (a live action, a new
  // session) still do everything at once.
  if (force || ts - app.lastSlow > 200 || !app.playing) {
    app.lastSlow = ts;
    queueSlow('counters', 'topology-text', 'charts');
  }
  if (force || ts - app.lastTimeline > 250) {
    app.lastTimeline = ts;
    queueSlow('timeline');
  }
  if (force || ts - app.lastInspect > 250) {
    app.lastInspect = ts;
    queueSlow('inspector');
  }
  do {
    const task = app.slowQueue.shift();
    if (task) runSlow(task, snap, force);
    app.lastTasks = task ?? '';
  } while (force && app.slowQueue.length);
  // One chart a frame (each redraws only when its data or view changed).
  chartGroup.draw(force ? Infinity : 1);
}

/** Queues views to refresh (each at most once in the queue). @param {...SlowTask} tasks */
function queueSlow(...tasks) {
  for (const t of tasks) if (!app.slowQueue.includes(t)) app.slowQueue.push(t);
}

/**
 * @param {SlowTask} task
 * @param {Frame} snap
 * @param {boolean} force
 */
function runSlow(task, snap, force) {
  const s = current();
  switch (task) {
    case 'counters':
      updateCounters(snap);
      updateRunState();
      updateAB();
      break;
    case 'topology-text':
      updateTopologyText();
      break;
    case 'charts': {
      const fresh = s.pullSeries() + (app.ab ? app.ab.pullSeries() : 0);
      if (fresh > 0 || force) updateCharts();
      break;
    }
    case 'timeline': {
      app.timeline = withScaleDecisions(s.timeline(), s);
      const live = liveSettings();
      topology.setLabels(live);
      actions.setCurrent(live);
      renderTimeline($('timeline-list'), app.timeline);
      const marks = markers(app.timeline);
      if (JSON.stringify(marks) !== app.marksKey) {
        app.marksKey = JSON.stringify(marks);
        for (const c of Object.values(charts)) c.setMarkers(marks);
      }
      break;
    }
    case 'inspector':
      refreshInspector();
      break;
  }
}

// ---- A/B mode ----------------------------------------------------------------------------------

/**
 * Starts B from the open session — its text and seed, and its live actions so far written in
 * as [[events]], so B differs from A only in the overrides — replayed to A's simulated time.
 * @param {string[]} [overrides] the `--set` lines (default: the text box's)
 */
function startAB(overrides = overrideLines($as('ab-set', HTMLTextAreaElement).value)) {
  const s = current();
  stopAB();
  $as('ab-set', HTMLTextAreaElement).value = overrides.join('\n');
  try {
    app.ab = new ABRun({ text: withEvents(s.text, s.actions), format: s.format, seed: s.seed }, overrides);
  } catch (e) {
    $('ab-error').textContent = messageOf(e);
    return;
  }
  app.ab.stepTo(s.nowMs, s.finished);
  const t = app.ab.topo;
  abTopology.setTopology(t, s.workers);
  abTopology.setLabels({ algorithm: t.algorithm, layer: t.layer, sticky: t.sticky, store: 'up' });
  $('ab-topo-wrap').hidden = false;
  app.lastSlow = 0;
  app.ab.pullSeries();
  updateAB();
  updateCharts();
  updateButtons();
}

/** @param {string} [why] shown where the table was */
function stopAB(why = '') {
  if (app.ab) app.ab.free();
  app.ab = null;
  app.abSeeds = null;
  $('ab-topo-wrap').hidden = true;
  if (app.session) updateCharts(); // back to A's series alone
  $('ab-error').textContent = why;
  $('ab-out').replaceChildren();
  updateButtons();
}

/** A signed number with the given decimals. @param {number} v @param {number} d */
function signed(v, d) {
  return `${v > 0 ? '+' : v < 0 ? '−' : '±'}${fmtNum(Math.abs(v), d)}`;
}

/** The A, B and B − A table of the headline figures so far (one pair of runs: no interval). */
function updateAB() {
  const b = app.ab;
  if (!b) return;
  $('ab-error').textContent = '';
  const s = current();
  /** @type {import('./types.js').Report} */
  const ra = s.report();
  const rb = b.report();
  const rows = AB_FIGURES.map(([key, label, get]) => {
    const d = key === 'success' || key === 'jain' ? 4 : 2;
    const va = get(ra), vb = get(rb);
    return el('tr', { 'data-key': key }, el('th', {}, label), el('td', {}, fmtNum(va, d)), el('td', {}, fmtNum(vb, d)),
      el('td', { class: 'diff' }, signed(vb - va, d)));
  });
  $('ab-out').replaceChildren(
    el('p', { class: 'small' }, `A: as written. B: ${b.overrides.join(', ')} (${b.topo.algorithm}, ${b.topo.layer}, sticky ${b.topo.sticky}). `,
      `Same seed ${b.seed}, same arrivals — sent A ${fmtCount(ra.requests.sent)}, B ${fmtCount(rb.requests.sent)}.`),
    el('table', { id: 'ab-table', class: 'ab-table' },
      el('thead', {}, el('tr', {}, el('th', {}, 'at t = ' + (s.nowMs / 1000).toFixed(2) + ' s'), el('th', {}, 'A'), el('th', {}, 'B'), el('th', {}, 'B − A'))),
      el('tbody', {}, ...rows)),
    el('p', { class: 'small muted' }, 'One seed gives one difference and no interval: intervals need several seeds (Run 5 seeds).'),
    ...(app.abSeeds ? [app.abSeeds] : []));
}

/** Runs both variants on seeds 1..5 to the end and shows the mean difference ± 95% t-interval. */
function runABSeeds() {
  const b = app.ab;
  if (!b) return;
  const rows = b.acrossSeeds().map(({ key, label, mean, half }) => {
    const d = key === 'success' || key === 'jain' ? 4 : 2;
    // data-mean / data-half: the unrounded figures, for tests and the curious.
    return el('tr', { 'data-key': key, 'data-mean': mean, 'data-half': half ?? '' }, el('th', {}, label), el('td', { class: 'diff' }, signed(mean, d)),
      el('td', {}, half === null ? '—' : `± ${fmtNum(half, d)}`),
      el('td', {}, half === null ? '' : Math.abs(mean) > half ? 'differs' : 'no clear difference'));
  });
  app.abSeeds = el('table', { id: 'ab-seeds-table', class: 'ab-table' },
    el('caption', {}, 'Seeds 1–5, both variants run to the end: mean B − A and its 95% t-interval (as lbsim compare)'),
    el('thead', {}, el('tr', {}, el('th', {}, 'figure'), el('th', {}, 'mean B − A'), el('th', {}, '95% interval'), el('th', {}, ''))),
    el('tbody', {}, ...rows));
  updateAB();
}

function refreshAll() {
  refresh(performance.now(), true);
}

function refreshInspector() {
  const s = app.session;
  if (!s) return;
  /** @type {(import('./types.js').Inspection | null)[]} */
  const all = [];
  for (let r = 0; r < s.topo.replicas; r++) all.push(JSON.parse(s.sim.inspect(r)));
  const info = all[inspector.replica];
  inspector.update(info);
  // Active counts per replica and server (by server index) for the topology's upstream lines.
  const index = new Map(s.topo.servers.map((x, i) => [x.name, i]));
  topology.setActive(all.map((inf) => {
    const row = new Array(s.topo.servers.length).fill(0);
    for (const x of inf?.servers ?? []) {
      const k = index.get(x.name);
      if (k !== undefined) row[k] = x.active;
    }
    return row;
  }));
}

// ---- counters ----------------------------------------------------------------------------------

const COUNTERS = [
  ['sent', 'requests sent', '#4fa3ff'],
  ...OUTCOMES.map((o) => [o, o.replace('_', ' '), OUTCOME_COLORS[o]]),
  ['retries', 'retries / hedges', '#d2a8ff'],
  ['inflight', 'in flight now', '#8b98a9'],
  ['sessions', 'sessions started / lost', '#79c0ff'],
  ['events', 'events processed', '#8b98a9'],
];

function buildCounters() {
  $('counters').replaceChildren(...COUNTERS.map(([key, label, color]) =>
    el('div', { class: 'counter', id: `count-${key}`, style: `border-left-color:${color}` },
      el('div', { class: 'v' }, '0'), el('div', { class: 'k' }, label))));
  $('counters').title = 'Totals after the warmup; "in flight" and "events" count everything';
}

/**
 * @param {string} key
 * @param {string} text
 */
function setCounter(key, text) {
  const v = document.querySelector(`#count-${key} .v`);
  if (v && v.textContent !== text) v.textContent = text;
}

/** @param {Frame} snap */
function updateCounters(snap) {
  const s = current();
  // By name, from the core (Sim.totalsNamed): no reading by position.
  /** @type {import('./types.js').Totals} */
  const t = JSON.parse(s.sim.totalsNamed());
  setCounter('sent', fmtCount(t.sent));
  for (const [o, n] of Object.entries(t.outcomes)) setCounter(o, fmtCount(n));
  setCounter('inflight', fmtCount(snap.groupInFlight.reduce((a, b) => a + b, 0)));
  setCounter('retries', `${fmtCount(snap.retriesTotal)} / ${fmtCount(snap.hedgesTotal)}`);
  setCounter('sessions', `${fmtCount(t.sessions_started)} / ${fmtCount(t.sessions_lost)}`);
  setCounter('events', fmtCount(s.sim.events()));
}

/** The canvas's text alternative (screen readers, tests): each server's state and load. */
function updateTopologyText() {
  const list = $('topo-text');
  const store = topology.storeSummary();
  const items = [...topology.summary(), ...(store ? [{ name: '', store: store.state, state: store.state, text: store.text }] : [])];
  if (list.children.length !== items.length) {
    list.replaceChildren(...items.map(() => el('li')));
  }
  items.forEach((it, i) => {
    const li = /** @type {HTMLLIElement} */ (list.children[i]);
    if (li.textContent !== it.text) li.textContent = it.text;
    if ('store' in it) {
      li.dataset.store = it.state;
      delete li.dataset.server;
    } else li.dataset.server = it.name;
    li.dataset.state = it.state;
  });
}

function updateRunState() {
  const s = current();
  let text;
  if (app.broken) text = 'stopped (error)';
  else if (s.finished) text = 'finished';
  else if (app.playing) {
    const draining = s.nowMs >= s.durationMs ? ' · clients stopped, draining' : '';
    text = app.speed === 'max' ? `running as fast as possible (${fmtNum(app.actualSpeed)}× real time)${draining}` : `playing${Math.abs(app.actualSpeed - app.speed) > 0.1 * app.speed ? ` · ${fmtNum(app.actualSpeed)}× reached` : ''}${draining}`;
  } else text = 'paused';
  $('run-state').textContent = text;
  // Screen readers hear the run state and the clock when the state changes (the clock itself
  // changes every frame: announcing it would drown everything else).
  const word = text.split(' ')[0];
  if (word !== app.lastAnnounced) {
    app.lastAnnounced = word;
    $('live-status').textContent = `${s.name ?? 'edited scenario'}: ${text} at t = ${(s.nowMs / 1000).toFixed(1)} s of ${fmtNum(s.durationMs / 1000)} s`;
  }
}

// ---- charts ------------------------------------------------------------------------------------

/** @param {import('./types.js').SeriesPoint[]} points */
function bucketWidth(points) {
  return points.length > 1 ? points[1].t_s - points[0].t_s : 1;
}

function updateCharts() {
  const s = current(), pts = s.points, dt = bucketWidth(pts);
  const xs = pts.map((p) => p.t_s + dt / 2);
  const xMax = Math.max(s.durationMs / 1000, xs.length ? xs[xs.length - 1] + dt / 2 : 0);
  /** @type {(p: import('./types.js').SeriesPoint, v: number) => number} */
  const okOr = (p, v) => (p.outcomes[0] > 0 ? v : NaN);
  // A/B mode overlays B's latency and balance on A's (its buckets are A's: same run length,
  // same bucket width; B's beyond A's latest are not drawn until A gets there).
  const b = app.ab, bp = b ? b.points.slice(0, pts.length) : [];
  const jain = (/** @type {import('./types.js').SeriesPoint[]} */ ps) => ps.map((p) => (p.served.some((x) => x > 0) ? p.jain_index : NaN));
  charts.latency.setData(xs, b ? [
    { name: 'A p50', color: '#4fa3ff', values: pts.map((p) => okOr(p, p.p50_ms)), width: 2 },
    { name: 'A p99', color: '#f778ba', values: pts.map((p) => okOr(p, p.p99_ms)), width: 2 },
    { name: 'B p50', color: '#e3b341', values: bp.map((p) => okOr(p, p.p50_ms)), width: 2 },
    { name: 'B p99', color: '#ff7b29', values: bp.map((p) => okOr(p, p.p99_ms)), width: 2 },
  ] : [
    { name: 'p50', color: '#4fa3ff', values: pts.map((p) => okOr(p, p.p50_ms)), width: 2 },
    { name: 'p99', color: '#f778ba', values: pts.map((p) => okOr(p, p.p99_ms)), width: 2 },
  ]);
  const n = pts.length ? pts[0].served.length : s.topo.servers.length;
  const perServer = (/** @type {import('./types.js').SeriesPoint[]} */ ps, /** @type {string} */ prefix, /** @type {number[] | undefined} */ dash) =>
    Array.from({ length: n }, (_, i) => ({
      name: `${prefix}${s.topo.servers[i]?.name ?? `server ${i + 1}`}`, color: serverColor(i), width: n > 12 ? 1 : 1.6, dash,
      values: ps.map((p) => (p.served[i] ?? NaN) / dt),
    }));
  // A/B: B's servers dashed over A's, in the same colours (B has A's servers unless its
  // overrides add some).
  charts.served.setData(xs, b ? [...perServer(pts, 'A ', undefined), ...perServer(bp, 'B ', [5, 4])] : perServer(pts, '', undefined));
  charts.balance.setData(xs, b
    ? [{ name: 'A Jain', color: '#7ee787', width: 2, values: jain(pts) }, { name: 'B Jain', color: '#ff7b29', width: 2, values: jain(bp) }]
    : [{ name: 'Jain index', color: '#7ee787', width: 2, values: jain(pts) }]);
  const shown = OUTCOMES.map((o, k) => /** @type {[string, number]} */ ([o, k]))
    .filter(([, k]) => k === 0 || pts.some((p) => p.outcomes[k] > 0) || bp.some((p) => p.outcomes[k] > 0));
  // The requests sent per second over the outcomes of those that ended: the offered load
  // (a schedule's ramp, closed-loop users slowed down), and any gap between the two. With
  // retries or hedges, the attempts (sent + retries + hedges reaching servers) dashed above
  // it: the load the servers see, which a retry storm multiplies.
  const sentLine = (/** @type {import('./types.js').SeriesPoint[]} */ ps, /** @type {string} */ name, /** @type {string} */ color, /** @type {number[] | undefined} */ dash) =>
    ({ name, color, line: true, width: 1.5, dash, values: ps.map((p) => (p.sent ?? NaN) / dt) });
  const attemptsLine = (/** @type {import('./types.js').SeriesPoint[]} */ ps, /** @type {string} */ name, /** @type {string} */ color) =>
    ({ name, color, line: true, width: 1.5, dash: [2, 3], values: ps.map((p) => ((p.sent ?? NaN) + (p.retries ?? 0) + (p.hedges ?? 0)) / dt) });
  const retried = (/** @type {import('./types.js').SeriesPoint[]} */ ps) => ps.some((p) => (p.retries ?? 0) + (p.hedges ?? 0) > 0);
  const areas = shown.map(([o, k]) => ({ name: b ? `A ${o}` : o, color: OUTCOME_COLORS[o], values: pts.map((p) => p.outcomes[k] / dt) }));
  /** @type {import('./charts.js').Series[]} */
  const lines = [sentLine(pts, b ? 'A sent' : 'sent', '#e6edf3', undefined)];
  if (retried(pts)) lines.push(attemptsLine(pts, b ? 'A attempts' : 'attempts', '#d2a8ff'));
  if (b) {
    // B's outcomes as dashed lines over A's stacked areas, and its sent and attempts.
    for (const [o, k] of shown) lines.push({ name: `B ${o}`, color: OUTCOME_COLORS[o], line: true, width: 1.5, dash: [5, 4], values: bp.map((p) => p.outcomes[k] / dt) });
    lines.push(sentLine(bp, 'B sent', '#ff7b29', [5, 4]));
    if (retried(bp)) lines.push(attemptsLine(bp, 'B attempts', '#ffa657'));
  }
  charts.outcomes.setData(xs, [...areas, ...lines]);
  for (const c of Object.values(charts)) {
    c.setXMax(xMax);
    c.setWarmup(s.warmupMs / 1000);
    c.canvas.setAttribute('aria-label', c.summary());
  }
  if (!$('chart-tables').hidden) renderChartTables();
  if (app.brush) renderWindowStats();
}

/** The charts' data as tables (shown on demand: the charts' text alternative in full). */
function renderChartTables() {
  $('chart-tables').replaceChildren(...Object.values(charts).map((c) => c.table()));
}

function renderWindowStats() {
  const box = $('window-stats');
  const s = app.session;
  if (!app.brush || !s) {
    box.replaceChildren(el('span', { class: 'muted' }, 'Drag across any chart to select a time window and see its statistics here.'));
    return;
  }
  const [a, b] = app.brush;
  const live = Array.from(app.frame?.state ?? [], (st) => st === 1); // up now (plus any server that served in the window)
  const w = windowStats(s.points, a, b, bucketWidth(s.points), live);
  if (!w) {
    box.replaceChildren(el('span', { class: 'muted' }, `No completed one-second buckets between ${fmtNum(a)} s and ${fmtNum(b)} s yet.`));
    return;
  }
  /** @type {(k: string, v: string, title?: string) => HTMLElement} */
  const kv = (k, v, title) => el('span', { class: 'kv', title }, `${k} `, el('b', {}, v));
  const failed = OUTCOMES.map((o, k) => /** @type {[string, number]} */ ([o, w.outcomes[k]])).filter(([o, c]) => o !== 'ok' && c > 0);
  const total = w.served.reduce((x, y) => x + y, 0) || 1;
  box.replaceChildren(
    el('div', { id: 'window-summary' },
      kv('Window', `${fmtNum(w.from)}–${fmtNum(w.to)} s`),
      kv('ok', `${fmtNum(w.okPerS)}/s`, 'requests that ended ok, per second'),
      kv('failed', fmtPct(w.failedShare), failed.map(([o, c]) => `${o}: ${c}`).join(', ') || 'none'),
      kv('p50 ≈', fmtMs(w.p50), 'median of the per-second p50s'),
      kv('p99 ≤', fmtMs(w.p99max), 'the worst per-second p99 in the window'),
      kv('Jain', fmtNum(w.jain, 4), "Jain's index of the servers' totals in the window"),
      kv('max/mean', fmtNum(w.maxOverMean), 'busiest server ÷ mean'),
      failed.length ? el('span', { class: 'muted' }, failed.map(([o, c]) => `${o} ${fmtCount(c)}`).join(' · ')) : null),
    el('div', { class: 'shares' }, w.served.map((c, i) => el('span', {}, `${s.topo.servers[i]?.name ?? i}: ${fmtCount(c)} (${((100 * c) / total).toFixed(1)}%)`))));
}

// ---- controls -----------------------------------------------------------------------------------

function updateButtons() {
  const s = app.session;
  const done = !s || s.finished || app.broken;
  const play = $as('play', HTMLButtonElement);
  play.textContent = app.playing ? '❚❚ Pause' : done && s?.finished ? '✓ Finished' : '▶ Play';
  play.disabled = done;
  $as('step', HTMLButtonElement).disabled = done || app.playing;
  $as('ab-stop', HTMLButtonElement).disabled = !app.ab;
  $as('ab-seeds', HTMLButtonElement).disabled = !app.ab;
}

function wireControls() {
  $('ab-start').addEventListener('click', () => app.session && startAB());
  $('ab-stop').addEventListener('click', () => stopAB());
  $('ab-seeds').addEventListener('click', () => {
    $('ab-out').setAttribute('aria-busy', 'true');
    // Let the page paint "running" first: five pairs of full runs take a moment.
    setTimeout(() => { try { runABSeeds(); } catch (e) { $('ab-error').textContent = messageOf(e); } $('ab-out').removeAttribute('aria-busy'); }, 20);
  });
  const scenario = $as('scenario', HTMLSelectElement);
  scenario.addEventListener('change', async () => {
    if (!scenario.value) return;
    await openBundled(scenario.value);
  });
  $('restart').addEventListener('click', () => {
    const s = app.session;
    if (!s) return;
    const seed = $as('seed', HTMLInputElement).value.trim();
    if (seed !== '' && !/^[0-9]{1,15}$/.test(seed)) {
      banner('The seed must be a whole number (0 to 999999999999999).');
      return;
    }
    banner('');
    start({ text: s.text, name: s.name, seed: seed === '' ? null : Number(seed) });
  });
  $('seed').addEventListener('keydown', (e) => e.key === 'Enter' && $('restart').click());
  $('play').addEventListener('click', () => {
    if (!app.session || app.session.finished) return;
    app.playing = !app.playing;
    app.actualSpeed = app.speed === 'max' ? 1 : app.speed;
    updateButtons();
  });
  $('step').addEventListener('click', () => {
    const s = app.session;
    if (!s || s.finished) return;
    try {
      s.sim.stepUntil(s.nowMs + STEP_MS);
      if (s.finished) finish();
      refreshAll();
    } catch (e) {
      coreFailed(e);
    }
  });
  const speed = $as('speed', HTMLSelectElement);
  speed.addEventListener('change', () => {
    app.speed = speed.value === 'max' ? 'max' : Number(speed.value);
    app.actualSpeed = app.speed === 'max' ? 1 : app.speed;
  });
  $('run-edited').addEventListener('click', () => {
    const ok = start({ text: editor.text, name: null, seed: null });
    if (ok) banner('');
  });
  $('export').addEventListener('click', () => {
    const s = app.session;
    if (!s) return;
    const file = `${s.topo.name}-session.toml`;
    download(file, (app.ab ? app.ab.exportHeader(file) : '') + s.exportToml(), 'application/toml');
  });
  $('permalink').addEventListener('click', async () => {
    const s = app.session;
    if (!s) return;
    const edited = !s.name || app.texts.get(s.name) !== s.text;
    const hash = await encodePermalink({ name: edited ? null : s.name, text: s.text, seed: s.seed, actions: s.actions, t: s.nowMs, ab: app.ab?.overrides ?? null });
    history.replaceState(null, '', hash);
    const out = $as('permalink-out', HTMLInputElement);
    out.hidden = false;
    out.value = location.href;
    out.select();
    navigator.clipboard?.writeText(location.href).then(() => actions.message('Permalink copied to the clipboard.'), () => {});
  });
  $('banner-close').addEventListener('click', () => banner(''));
  const tablesBtn = $('chart-tables-toggle');
  tablesBtn.addEventListener('click', () => {
    const box = $('chart-tables');
    box.hidden = !box.hidden;
    tablesBtn.setAttribute('aria-expanded', String(!box.hidden));
    tablesBtn.textContent = box.hidden ? 'Show the data as tables' : 'Hide the data tables';
    if (!box.hidden) renderChartTables();
  });
  document.addEventListener('keydown', (e) => {
    if (e.key !== ' ' || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.target instanceof Element && e.target.closest('input, textarea, select, button, [contenteditable]')) return;
    e.preventDefault();
    $('play').click();
  });
  window.addEventListener('hashchange', () => hasPermalink(location.hash) && openPermalink(location.hash));
  window.addEventListener('resize', () => { for (const c of Object.values(charts)) c.dirty = true; });
}

/** @param {string} hash */
async function openPermalink(hash) {
  let link;
  try {
    link = await decodePermalink(hash);
  } catch (e) {
    banner(`This permalink cannot be opened: ${messageOf(e)}\nShowing a bundled scenario instead.`);
    if (!app.session) await openBundled(defaultName());
    return;
  }
  let text = link.text;
  if (link.name) {
    try {
      text = await bundledText(link.name);
    } catch (e) {
      banner(`This permalink cannot be opened: ${messageOf(e)}.`);
      if (!app.session) await openBundled(defaultName());
      return;
    }
  }
  if (text === null) {
    // Only a link whose scenario name is "" gets here (the decoder wants a name or a text).
    banner('This permalink cannot be opened: it names no scenario.');
    if (!app.session) await openBundled(defaultName());
    return;
  }
  let ok = false;
  try {
    ok = start({ text, name: link.name, seed: link.seed, actionsList: link.actions, untilMs: link.t, fromLink: true });
  } catch (e) {
    banner(`This permalink cannot be opened: ${messageOf(e)}`);
  }
  if (!ok) {
    const shown = editor.text;
    if (!app.session) await openBundled(defaultName());
    if (editor.text !== shown) editor.setText(shown); // keep the link's text (and its error) in the editor
    banner("This permalink's scenario is invalid (the editor shows it and the error); a bundled scenario runs meanwhile.");
    return;
  }
  banner('');
  if (link.ab) startAB(link.ab); // B's setting; a bad one shows its error under A/B
}

function defaultName() {
  return app.bundled.some((b) => b.name === DEFAULT_SCENARIO) ? DEFAULT_SCENARIO : app.bundled[0]?.name;
}

// ---- start-up -------------------------------------------------------------------------------------

async function main() {
  wireControls();
  renderWindowStats();
  try {
    await init();
  } catch (e) {
    banner(`The simulation core (www/pkg/) could not be loaded: ${messageOf(e)}\nBuild it with scripts/web.sh build.`);
    return;
  }
  app.algorithms = JSON.parse(algorithms());
  try {
    const res = await fetch('pkg/scenarios/index.json');
    app.bundled = res.ok ? await res.json() : [];
  } catch {
    app.bundled = [];
  }
  $('scenario').replaceChildren(...app.bundled.map((b) => el('option', { value: b.name, title: b.title }, b.name)));
  if (hasPermalink(location.hash)) await openPermalink(location.hash);
  else if (app.bundled.length) await openBundled(defaultName());
  else banner('No bundled scenarios (www/pkg/scenarios/index.json is missing): write one in the editor.');
  requestAnimationFrame(frame);
}

main();
