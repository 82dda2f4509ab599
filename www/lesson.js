// The lesson panel: the scenario's `[lesson]` (read by the core) beside the topology, one step
// at a time. "Do this" restarts the run with the step's changes on the same seed (the core
// writes the changed scenario, through the same `--set` code as `lbsim lesson`), and every
// claim of the step in force is checked live by the core's own evaluation (`Sim.lessonCheck`,
// i.e. sim_core::lesson — nothing is re-computed here), with the figure of the run before it:
// "balance.jain_index went from 0.75 to 1 ✓".
// @ts-check

import { lessonStepText } from './pkg/sim_web.js';
import { el } from './util.js';

/**
 * A step as the core describes it (`Sim.lesson()`).
 * @typedef {object} LessonStep
 * @property {string} say
 * @property {string[]} set this step's own changes
 * @property {boolean} fresh whether it starts from the scenario as written
 * @property {string[]} sets every change in force at this step
 * @property {string[]} claims each claim as a person reads it
 */

/**
 * @typedef {object} Lesson
 * @property {string} title
 * @property {string} intro
 * @property {LessonStep[]} steps
 */

/**
 * A claim checked by the core (`Sim.lessonCheck`).
 * @typedef {object} CheckedClaim
 * @property {string} claim
 * @property {number | null} value
 * @property {string} shown
 * @property {boolean} holds
 */

/**
 * What the panel needs of the page: the open session, and a way to start a new one (and play
 * it) from a scenario text.
 * @typedef {object} LessonHost
 * @property {() => import('./session.js').Session | null} current
 * @property {(text: string, name: string | null, seed: number) => void} restart
 */

export class LessonPanel {
  /**
   * @param {HTMLElement} root the panel (hidden while the scenario has no lesson)
   * @param {HTMLElement} body where the lesson is drawn
   * @param {LessonHost} host
   */
  constructor(root, body, host) {
    this.root = root;
    this.body = body;
    this.host = host;
    /** @type {Lesson | null} */
    this.lesson = null;
    /** The scenario as written whose lesson is followed. @type {{ text: string, format: string, name: string | null } | null} */
    this.base = null;
    /** The step whose changes are in force (-1: none of the steps' runs). */
    this.step = -1;
    /** The text of the run for `step` (a restart of it keeps the step). */
    this.stepText = '';
    /** @type {{ text: string, step: number } | null} the run "Do this" asked for */
    this.pending = null;
    /** Each claim's figure at the end of the last finished run (claim text → shown). @type {Map<string, string>} */
    this.finished = new Map();
    /** The figures of the run before the step in force, for "went from … to …". @type {Map<string, string>} */
    this.from = new Map();
    /** @type {HTMLElement[]} the claim lists of the steps */
    this.lists = [];
    /** @type {HTMLElement[]} the steps */
    this.items = [];
    this.lastKey = '';
    setInterval(() => this.poll(), 250);
  }

  /**
   * A session started (any way): the step "Do this" asked for, a restart of the step in
   * force, or another scenario (its own lesson, from the start).
   * @param {import('./session.js').Session} s
   */
  onSession(s) {
    if (this.pending && s.text === this.pending.text) {
      this.step = this.pending.step;
      this.stepText = s.text;
    } else if (!(this.lesson && s.text === this.stepText)) {
      /** @type {Lesson | null} */
      const lesson = JSON.parse(s.sim.lesson());
      this.lesson = lesson;
      this.base = { text: s.text, format: s.format, name: s.name };
      this.stepText = s.text;
      // The scenario as written is step 1's run when step 1 changes nothing.
      this.step = lesson && lesson.steps.length > 0 && lesson.steps[0].sets.length === 0 ? 0 : -1;
      this.finished = new Map();
      this.from = new Map();
    }
    this.pending = null;
    this.lastKey = '';
    this.render();
  }

  /**
   * "Do this": restarts with step `i`'s changes (on top of the earlier steps', unless fresh)
   * on the same seed, and plays.
   * @param {number} i
   */
  doStep(i) {
    const s = this.host.current();
    if (!s || !this.base) return;
    let text;
    try {
      text = lessonStepText(this.base.text, this.base.format, i);
    } catch (e) {
      this.body.querySelector('.lesson-error')?.replaceChildren(String(e instanceof Error ? e.message : e));
      return;
    }
    this.from = new Map(this.finished);
    this.pending = { text, step: i };
    this.host.restart(text, this.base.name, s.seed);
  }

  render() {
    const lesson = this.lesson;
    this.root.hidden = !lesson;
    this.lists = [];
    this.items = [];
    if (!lesson) {
      this.body.replaceChildren();
      return;
    }
    const steps = lesson.steps.map((step, i) => {
      const list = el('ul', { class: 'lesson-claims' },
        step.claims.map((c) => el('li', { class: 'claim', 'data-holds': '', 'data-final': 'false' },
          el('span', { class: 'mark', 'aria-hidden': 'true' }, '·'), ' ', el('span', { class: 'what' }, c), ' — ',
          el('span', { class: 'figure muted' }, 'not run yet'))));
      this.lists.push(list);
      const changes = step.set.length
        ? el('div', { class: 'small' }, step.fresh ? 'From the scenario as written: ' : 'Change: ',
          step.set.flatMap((x, k) => [k ? ' ' : '', el('code', {}, `--set ${x}`)]))
        : step.fresh ? el('div', { class: 'small' }, 'The scenario as written.') : null;
      const item = el('li', { class: 'lesson-step', 'data-step': String(i), 'data-current': String(i === this.step) },
        el('div', { class: 'lesson-say' }, el('b', {}, `${i + 1}. `), step.say),
        changes,
        el('button', { type: 'button', class: 'lesson-do', 'data-step': String(i), onclick: () => this.doStep(i),
          title: step.sets.length ? `Restart on the same seed with ${step.sets.map((x) => '--set ' + x).join(' ')}` : 'Restart the scenario as written on the same seed' },
        i === this.step ? '↺ Again' : 'Do this'),
        list);
      this.items.push(item);
      return item;
    });
    this.body.replaceChildren(
      el('p', { class: 'lesson-title' }, el('b', {}, lesson.title)),
      el('p', { class: 'small lesson-intro', hidden: !lesson.intro }, lesson.intro),
      el('div', { class: 'lesson-error error small', role: 'alert' }),
      el('ol', { class: 'lesson-steps' }, steps),
    );
    this.poll(true);
  }

  /**
   * Checks the claims of the step in force against the run so far (the core's evaluation)
   * and shows each with ✓/✗ and its figure; at the end of the run the figures are kept as the
   * "from" of the next step.
   * @param {boolean} [force]
   */
  poll(force = false) {
    const s = this.host.current();
    if (!s || !this.lesson || this.step < 0) return;
    const done = s.finished;
    const key = `${s.nowMs}|${done}|${s.generation}`;
    if (!force && key === this.lastKey) return;
    this.lastKey = key;
    /** @type {CheckedClaim[]} */
    const checks = JSON.parse(s.sim.lessonCheck(this.step));
    const list = this.lists[this.step];
    if (!list) return;
    checks.forEach((c, k) => {
      const li = /** @type {HTMLElement | undefined} */ (list.children[k]);
      if (!li) return;
      const before = this.from.get(c.claim);
      li.dataset.holds = String(c.holds);
      li.dataset.final = String(done);
      li.classList.toggle('ok', c.holds);
      li.classList.toggle('bad', !c.holds);
      li.querySelector('.mark')?.replaceChildren(c.holds ? '✓' : '✗');
      const figure = before !== undefined && before !== c.shown ? `went from ${before} to ${c.shown}` : `${c.shown}`;
      li.querySelector('.figure')?.replaceChildren(done ? figure : `${figure} so far`);
      li.title = `${c.claim}: ${c.holds ? 'holds' : 'does not hold'}${done ? '' : ' (the run is not over)'}`;
    });
    const item = this.items[this.step];
    if (item) item.dataset.done = String(done && checks.length === list.children.length);
    if (done) {
      // Every step's claims on this finished run: the "from" figures of whichever step is next.
      this.lesson.steps.forEach((_, j) => {
        /** @type {CheckedClaim[]} */
        const all = j === this.step ? checks : JSON.parse(s.sim.lessonCheck(j));
        for (const c of all) this.finished.set(c.claim, c.shown);
      });
    }
  }
}
