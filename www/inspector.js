// The balancer inspector: one replica's own state at the current instant — per server whether
// it may be picked, active requests/connections, health counters, nginx failures, the
// algorithm's number (smooth-WRR current weight, peak-EWMA estimate) and hash ring / Maglev
// shares, outlier ejections with their end — with the core's explanation of where the next pick
// goes and why (Balancer::explain: nothing here re-computes an algorithm), and the replica's
// circuit breakers (open requests against max_requests, overflows).
// @ts-check

import { el, fmtNum } from './util.js';

/** @typedef {import('./types.js').Inspection} Inspection */
/** @typedef {import('./types.js').InspectServer} InspectServer */

/**
 * Which optional columns the table shows.
 * @typedef {{ weight: boolean, health: boolean, fails: boolean, ejected: boolean, state: boolean, cost: boolean, share: boolean }} Columns
 */

/**
 * One server's row and its cells (the optional ones where their column is shown).
 * @typedef {object} Cells
 * @property {HTMLTableRowElement} row
 * @property {HTMLTableCellElement} eligible
 * @property {HTMLTableCellElement} active
 * @property {HTMLTableCellElement} [weight]
 * @property {HTMLTableCellElement} [health]
 * @property {HTMLTableCellElement} [fails]
 * @property {HTMLTableCellElement} [ejected]
 * @property {HTMLTableCellElement} [state]
 * @property {HTMLTableCellElement} [cost]
 * @property {{ td: HTMLTableCellElement, text: HTMLSpanElement, bar: HTMLElement }} [share]
 */

export class Inspector {
  /**
   * `onReplica(r)` is called when another replica is picked.
   * @param {HTMLElement} body
   * @param {HTMLElement} head
   * @param {{ onReplica?: (replica: number) => void }} [options]
   */
  constructor(body, head, { onReplica } = {}) {
    this.body = body;
    this.head = head;
    this.onReplica = onReplica;
    this.replica = 0;
    this.key = '';
    /** @type {Set<string>} */
    this.backup = new Set();
    this.hadFails = false;
    this.hadEjected = false;
    // Built by setTopology and #build (update() is called only after setTopology).
    /** @type {import('./types.js').Topology} */ this.topo;
    /** @type {Cells[]} */ this.cells;
    /** @type {HTMLParagraphElement} */ this.why;
  }

  /** @param {import('./types.js').Topology} topo */
  setTopology(topo) {
    this.topo = topo;
    this.backup = new Set(topo.servers.filter((s) => s.backup).map((s) => s.name));
    this.key = '';
    this.hadEjected = false; // the outlier column belongs to the session that ejected
    if (this.replica >= topo.replicas) this.replica = 0;
  }

  /**
   * `info`: the core's inspect() result for the selected replica (null when there is none).
   * @param {Inspection | null | undefined} info
   */
  update(info) {
    if (!info) return;
    const servers = info.servers;
    /** @type {Columns} */
    const cols = {
      weight: servers.some((s) => s.weight !== 1),
      health: servers.some((s) => s.health !== null),
      fails: servers.some((s) => s.fails > 0) || this.hadFails,
      ejected: servers.some((s) => s.ejected) || this.hadEjected,
      state: servers.some((s) => s.algorithm_state !== null),
      cost: info.algorithm === 'peak_ewma',
      share: servers.some((s) => s.hash_share !== null),
    };
    this.hadFails = cols.fails;
    this.hadEjected = cols.ejected;
    const key = `${info.algorithm}|${servers.map((s) => s.name).join(',')}|${JSON.stringify(cols)}|${this.topo.replicas}`;
    if (key !== this.key) this.#build(info, cols, key);

    const nextNames = new Set(info.next.map((n) => n.explanation.next_name).filter((n) => n !== null));
    const maxShare = Math.max(1e-9, ...servers.map((s) => s.hash_share ?? 0));
    this.why.replaceChildren(...explain(info));
    servers.forEach((s, i) => {
      const c = this.cells[i];
      set(c.eligible, s.eligible ? '✓' : '✗', s.eligible ? 'ok' : 'bad');
      set(c.active, String(s.active));
      if (c.weight) set(c.weight, String(s.weight));
      if (c.health) set(c.health, s.health === null ? '–' : `${s.health} ${s.checks_up ? '▲' : '▼'}`, s.checks_up ? 'ok' : 'bad');
      if (c.fails) set(c.fails, String(s.fails), s.fails ? 'bad' : '');
      if (c.ejected) {
        set(c.ejected, s.ejected ? `ejected until ${((s.ejected_until_ms ?? 0) / 1000).toFixed(1)} s` : '–', s.ejected ? 'bad' : '');
      }
      if (c.state) set(c.state, s.algorithm_state === null ? '–' : fmtNum(s.algorithm_state, 4));
      if (c.cost) set(c.cost, s.algorithm_state === null ? '–' : fmtNum(s.algorithm_state * (s.active + 1), 4));
      if (c.share) {
        set(c.share.text, s.hash_share === null ? '–' : (s.hash_share * 100).toFixed(1) + '%');
        c.share.bar.style.width = `${(100 * (s.hash_share ?? 0)) / maxShare}%`;
      }
      c.row.className = `${nextNames.has(s.name) ? 'next' : ''} ${s.eligible ? '' : 'no'}`;
    });
    const cb = info.circuit_breakers;
    const breakers = cb
      ? ` · breakers ${cb.open_requests}/${cb.max_requests} open${cb.open_requests >= cb.max_requests ? ' (full)' : ''}, ${cb.overflows} overflowed`
      : '';
    this.head.textContent = `${info.replica}${info.up ? '' : ' (DOWN)'} · ${info.algorithm}${breakers}`;
  }

  /**
   * @param {Inspection} info
   * @param {Columns} cols
   * @param {string} key
   */
  #build(info, cols, key) {
    this.key = key;
    /** @type {(text: string, title?: string) => HTMLTableCellElement} */
    const th = (text, title) => el('th', { title }, text);
    const meaning = info.state_meaning || 'algorithm state';
    const stateName = info.algorithm === 'peak_ewma' ? 'EWMA ms' : info.algorithm === 'round_robin' || info.algorithm === 'least_connections' ? 'current wt' : 'state';
    const head = el('tr', {},
      th('server'),
      th('pick?', 'whether this replica may pick the server now (health checks, nginx max_fails, draining)'),
      th('active', "this replica's requests (L7) or connections (L4) in flight to the server"),
      cols.weight && th('weight'),
      cols.health && th('health', 'HAProxy rise/fall counter of the active checks; ▲ up, ▼ down'),
      cols.fails && th('fails', 'nginx passive failures counted (max_fails within fail_timeout)'),
      cols.ejected && th('outlier', "Envoy outlier detection: ejected until its ejection time has passed (it returns at the detector's next sweep)"),
      cols.state && th(stateName, meaning),
      cols.cost && th('cost', 'peak EWMA × (active + 1): the lower of two random picks wins'),
      cols.share && th('key share', 'share of the hash ring / Maglev table owned by the server'),
    );
    this.cells = [];
    const rows = info.servers.map((s) => {
      /** @type {Cells} */
      const c = { row: el('tr'), eligible: el('td'), active: el('td') };
      if (cols.weight) c.weight = el('td');
      if (cols.health) c.health = el('td');
      if (cols.fails) c.fails = el('td');
      if (cols.ejected) c.ejected = el('td');
      if (cols.state) c.state = el('td');
      if (cols.cost) c.cost = el('td');
      if (cols.share) {
        const text = el('span'), bar = el('i');
        c.share = { td: el('td', {}, text, el('span', { class: 'share' }, bar)), text, bar };
      }
      c.row.append(el('td', {}, s.name + (this.backup.has(s.name) ? ' (backup)' : '')), c.eligible, c.active,
        c.weight ?? '', c.health ?? '', c.fails ?? '', c.ejected ?? '', c.state ?? '', c.cost ?? '', c.share?.td ?? '');
      this.cells.push(c);
      return c.row;
    });
    this.why = el('p', { class: 'why' });
    const picker = this.topo.replicas > 1
      ? el('label', { class: 'muted small' }, 'replica ', this.#replicaSelect())
      : null;
    const table = el('table', { class: 'insp' }, el('thead', {}, head), el('tbody', {}, rows));
    this.body.replaceChildren(...(picker ? [picker] : []), this.why, table);
  }

  #replicaSelect() {
    const sel = el('select', { 'aria-label': 'replica' });
    for (let i = 0; i < this.topo.replicas; i++) sel.append(el('option', { value: i }, `balancer-${i + 1}`));
    sel.value = String(this.replica);
    sel.addEventListener('change', () => {
      this.replica = Number(sel.value);
      this.key = '';
      this.onReplica?.(this.replica);
    });
    return sel;
  }
}

/**
 * Sets a cell's text and class where they changed.
 * @param {HTMLElement} td
 * @param {string} text
 * @param {string} [cls]
 */
function set(td, text, cls = '') {
  if (td.textContent !== text) td.textContent = text;
  if (td.className !== cls) td.className = cls;
}

/**
 * The core's explanation as text: per pool, the rule, the next server and why, and the notes
 * (L4, stickiness, backups, a down replica). Pools are named when there are several.
 * @param {Inspection} info
 * @returns {(string | HTMLElement)[]}
 */
function explain(info) {
  /** @param {string} t */
  const b = (t) => el('b', {}, t);
  /** @type {(string | HTMLElement)[]} */
  const out = [];
  const eligible = info.servers.filter((s) => s.eligible).length;
  for (const { pool, explanation: e, notes } of info.next) {
    const span = el('span', { class: 'pick', 'data-pool': pool, 'data-next': e.next_name ?? '', 'data-randomness': e.randomness });
    if (info.next.length > 1) span.append(b(`${pool}: `));
    span.append(`${e.rule} `);
    if (e.next_name !== null) {
      span.append(e.randomness === 'random' ? 'Next pick (the stream\'s next draw): ' : 'Next pick: ', b(e.next_name), ` — ${e.reason} `);
    } else if (e.reason) {
      span.append(`${e.reason} `);
    }
    for (const n of notes) span.append(`${n} `);
    out.push(span);
  }
  out.push(` ${eligible} of ${info.servers.length} servers eligible.`);
  return out;
}
