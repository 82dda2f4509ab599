// The live-actions panel: switch algorithm, layer and stickiness; kill, recover or slow a
// server (or a balancer replica); add or remove servers; change a client group's rate; take the
// session store down or up where the scenario has one. Every action goes to the core as the
// same JSON an [[events]] entry has, and is recorded on the timeline.
// @ts-check

import { el } from './util.js';

/** @typedef {import('./types.js').Action} Action */

export class LiveActions {
  /**
   * `onAction(action)` applies an action and returns null, or a message saying why not.
   * @param {HTMLElement} root
   * @param {{ onAction: (action: Action) => string | null }} options
   */
  constructor(root, { onAction }) {
    this.root = root;
    this.onAction = onAction;
    /** @type {import('./types.js').Topology | null} */
    this.topo = null;
    // The controls, built by setTopology (the page calls it before anything else here).
    /** @type {HTMLSelectElement} */ this.algorithm;
    /** @type {HTMLButtonElement[]} */ this.layerBtns;
    /** @type {HTMLSelectElement} */ this.server;
    /** @type {HTMLInputElement} */ this.factor;
    /** @type {HTMLSelectElement} */ this.group;
    /** @type {HTMLSelectElement} */ this.client;
    /** @type {HTMLInputElement} */ this.rate;
    /** @type {HTMLSelectElement} */ this.sticky;
    /** @type {HTMLSpanElement} */ this.storeState;
    /** @type {HTMLDivElement} */ this.msg;
  }

  /**
   * Builds the controls for a scenario. `algorithms`: the core's catalogue.
   * @param {import('./types.js').Topology} topo
   * @param {import('./types.js').Algorithm[]} algorithms
   */
  setTopology(topo, algorithms) {
    this.topo = topo;
    /** @param {Action} action */
    const act = (action) => this.#do(action);
    const groups = [...new Set(topo.servers.map((s) => s.group))];
    const proxied = topo.clients.some((c) => c.balancing !== 'client');

    this.algorithm = el('select', { id: 'act-algorithm', 'aria-label': 'algorithm' },
      algorithms.map((a) => el('option', { value: a.name, title: a.source }, a.name)));
    this.algorithm.addEventListener('change', () => act({ action: 'set_algorithm', algorithm: this.algorithm.value }));

    this.layerBtns = ['l4', 'l7'].map((l) => el('button', {
      id: `act-layer-${l}`, 'aria-pressed': 'false', title: l === 'l4' ? 'one pick per connection' : 'one pick per request / stream',
      onclick: () => act({ action: 'set_layer', layer: l }),
    }, l.toUpperCase()));

    this.server = el('select', { id: 'act-server', 'aria-label': 'server' },
      el('optgroup', { label: 'servers' }, topo.servers.map((s) => el('option', { value: s.name }, s.name))),
      topo.replicas > 1 ? el('optgroup', { label: 'balancer replicas' },
        Array.from({ length: topo.replicas }, (_, i) => el('option', { value: `balancer-${i + 1}` }, `balancer-${i + 1}`))) : null);
    this.factor = el('input', { id: 'act-factor', type: 'number', min: '1', step: '1', value: '5', 'aria-label': 'slow factor', title: 'service time multiplier (1 = normal)' });

    this.group = el('select', { id: 'act-group', 'aria-label': 'server group' }, groups.map((g) => el('option', { value: g }, g)));
    this.client = el('select', { id: 'act-client', 'aria-label': 'client group' }, topo.clients.map((c) => el('option', { value: c.name }, c.name)));
    this.rate = el('input', { id: 'act-rate', type: 'number', min: '0', step: 'any', 'aria-label': 'rate per client', title: 'requests per second, per client' });
    const syncRate = () => { this.rate.value = String(topo.clients.find((c) => c.name === this.client.value)?.rate ?? ''); };
    this.client.addEventListener('change', syncRate);
    syncRate();

    this.sticky = el('select', { id: 'act-sticky', 'aria-label': 'stickiness' },
      ['none', 'cookie', 'source_ip'].map((s) => el('option', { value: s }, s)));
    this.sticky.addEventListener('change', () => act({ action: 'set_sticky', sticky: this.sticky.value }));

    /** @type {(label: string, ...ctl: import('./util.js').ElChild[]) => HTMLElement[]} */
    const row = (label, ...ctl) => [el('label', {}, label), el('div', { class: 'ctl' }, ...ctl)];
    this.storeState = el('span', { id: 'act-store-state', class: 'small' });
    const store = topo.session_store
      ? row('Session store',
        el('button', { id: 'act-store-down', class: 'danger', onclick: () => act({ action: 'store_down' }) }, 'Take down'),
        el('button', { id: 'act-store-up', onclick: () => act({ action: 'store_up' }) }, 'Bring up'),
        this.storeState)
      : [el('label', {}, 'Session store'), el('div', { class: 'ctl muted small' },
        'none in this scenario — add a [session_store] table in the editor to model one (the model can take a store down and up, not attach one mid-run)')];

    this.msg = el('div', { class: 'act-msg', id: 'act-msg', role: 'status' });
    this.root.replaceChildren(el('div', { class: 'act' },
      row('Algorithm', this.algorithm),
      row('Layer', el('span', { class: 'seg' }, this.layerBtns), proxied ? null : el('span', { class: 'muted small' }, '(clients balance on their own)')),
      row('Stickiness', this.sticky),
      row('Server',
        this.server,
        el('button', { id: 'act-crash', class: 'danger', onclick: () => act({ action: 'crash', target: this.server.value }) }, 'Kill'),
        el('button', { id: 'act-recover', onclick: () => act({ action: 'recover', target: this.server.value }) }, 'Recover')),
      row('', el('button', { id: 'act-slow', onclick: () => {
          const factor = Number(this.factor.value);
          if (!(factor > 0 && Number.isFinite(factor))) this.message('The slow-down factor must be a positive number (1 = normal speed).', true);
          else act({ action: 'slow', target: this.server.value, factor });
        } }, 'Slow down ×'), this.factor,
        el('button', { id: 'act-normal', onclick: () => act({ action: 'slow', target: this.server.value, factor: 1 }) }, 'Normal speed')),
      // A server that answers every request with a 5xx in 1 ms (it lost its database, say):
      // least_connections and peak_ewma see an idle, fast server and send it more.
      row('', el('button', { id: 'act-errors', class: 'danger', onclick: () => act({ action: 'errors', target: this.server.value, rate: 1, latency: '1ms' }) }, 'Fail fast (5xx in 1 ms)'),
        el('button', { id: 'act-errors-end', onclick: () => act({ action: 'errors', target: this.server.value, rate: 0 }) }, 'Stop errors')),
      row('Servers of', this.group,
        el('button', { id: 'act-add', onclick: () => act({ action: 'add', target: this.group.value, count: 1 }) }, '+ Add one'),
        el('button', { id: 'act-remove', onclick: () => act({ action: 'remove', target: this.group.value, count: 1 }) }, '− Remove one')),
      row('Client rate', this.client, this.rate,
        el('button', { id: 'act-set-rate', onclick: () => {
          const rate = this.rate.value.trim() === '' ? NaN : Number(this.rate.value);
          if (!(rate >= 0 && Number.isFinite(rate))) this.message('The rate must be a number of requests per second, 0 or more.', true);
          else act({ action: 'set_rate', target: this.client.value, rate });
        } }, 'Set /s each')),
      ...store,
    ), this.msg);
  }

  /**
   * Shows the live settings (after actions or scenario events changed them).
   * @param {import('./types.js').LiveSettings} settings
   */
  setCurrent({ algorithm, layer, sticky, store }) {
    if (!this.topo) return;
    this.storeState.textContent = store === 'down' ? 'now: DOWN' : 'now: up';
    this.storeState.className = `small ${store === 'down' ? 'bad' : 'ok'}`;
    if (algorithm && this.algorithm.value !== algorithm && document.activeElement !== this.algorithm) this.algorithm.value = algorithm;
    for (const b of this.layerBtns) b.setAttribute('aria-pressed', String(b.id === `act-layer-${layer}`));
    if (sticky && this.sticky.value !== sticky && document.activeElement !== this.sticky) this.sticky.value = sticky;
  }

  /** @param {string} name */
  selectServer(name) {
    if (this.server) this.server.value = name;
  }

  /**
   * @param {string} text
   * @param {boolean} [error]
   */
  message(text, error = false) {
    this.msg.textContent = text;
    this.msg.className = `act-msg${error ? ' error' : ''}`;
  }

  /** @param {Action} action */
  #do(action) {
    const why = this.onAction(action);
    if (why) this.message(why, true);
  }
}
