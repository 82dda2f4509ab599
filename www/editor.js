// The scenario editor: a textarea with line numbers that validates as you type (the core's
// `check`, so the message is exactly the command line's `scenario:LINE:COL: key: what`) and
// marks the offending line inline.
// @ts-check

import { validate } from './session.js';
import { insertSnippet } from './scenario.js';

const LINE_PX = 18, PAD_PX = 8;

/** @typedef {import('./session.js').ScenarioError} ScenarioError */

export class Editor {
  /**
   * `onChange(error)` is called after each validation (error null when the text is valid).
   * @param {{ textarea: HTMLTextAreaElement, gutter: HTMLElement, band: HTMLElement, errorBox: HTMLElement,
   *   status: HTMLElement, onChange?: (error: ScenarioError | null) => void }} parts
   */
  constructor({ textarea, gutter, band, errorBox, status, onChange }) {
    this.textarea = textarea;
    this.gutter = gutter;
    this.band = band;
    this.errorBox = errorBox;
    this.status = status;
    this.onChange = onChange;
    /** @type {ScenarioError | null} */
    this.error = null;
    this.lines = 0;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let timer;
    textarea.addEventListener('input', () => {
      this.#numbers();
      clearTimeout(timer);
      timer = setTimeout(() => this.validate(), 150);
    });
    textarea.addEventListener('scroll', () => this.#sync());
    // Tab indents, except right after Esc: then it moves on like everywhere else, so a
    // keyboard user is never trapped in the editor (Shift+Tab always goes back).
    let leaving = false;
    textarea.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        leaving = true;
        return;
      }
      if (e.key === 'Tab' && !e.shiftKey && !e.ctrlKey && !e.metaKey && !leaving) {
        e.preventDefault();
        document.execCommand('insertText', false, '  ');
      }
      if (e.key !== 'Shift') leaving = false;
    });
    textarea.addEventListener('blur', () => { leaving = false; });
    errorBox.addEventListener('click', () => this.error?.line && this.goToLine(this.error.line));
  }

  get text() { return this.textarea.value; }

  /** @param {string} text */
  setText(text) {
    this.textarea.value = text;
    this.textarea.scrollTop = 0;
    this.#numbers();
    return this.validate();
  }

  /** Checks the text; shows the error inline. Returns the error or null. */
  validate() {
    const err = validate(this.text);
    this.show(err);
    this.onChange?.(err);
    return err;
  }

  /**
   * Shows an error ({message, line}) or clears it.
   * @param {ScenarioError | null} err
   */
  show(err) {
    this.error = err;
    this.errorBox.hidden = !err;
    this.band.hidden = !err || !err.line;
    this.status.textContent = err ? '✗ invalid' : '✓ valid';
    this.status.className = `small ${err ? 'invalid' : 'valid'}`;
    if (err) {
      this.errorBox.textContent = err.message + (err.line ? `   (line ${err.line} — click to go there)` : '');
    }
    this.#numbers(true);
    this.#sync();
  }

  /**
   * Puts a snippet of the Insert menu into its block (`insertSnippet`), as one undoable edit,
   * selects what was inserted and validates. Returns an error message when it cannot.
   * @param {{ table: string, text: string, replaces: string[] }} snippet
   * @returns {string | null}
   */
  insert(snippet) {
    let out;
    try {
      out = insertSnippet(this.text, this.textarea.selectionStart, snippet);
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
    const ta = this.textarea;
    ta.focus();
    ta.select();
    // insertText keeps the browser's undo history (Ctrl+Z takes the insertion back).
    if (!document.execCommand('insertText', false, out.text)) ta.value = out.text;
    ta.setSelectionRange(out.start, out.end);
    this.#numbers();
    this.validate();
    return null;
  }

  /** @param {number} line */
  goToLine(line) {
    const lines = this.text.split('\n');
    const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
    this.textarea.focus();
    this.textarea.setSelectionRange(start, start + (lines[line - 1]?.length ?? 0));
    this.textarea.scrollTop = Math.max(0, (line - 5) * LINE_PX);
  }

  #numbers(force = false) {
    const n = this.text.split('\n').length;
    if (n === this.lines && !force) return;
    this.lines = n;
    const bad = this.error?.line ?? 0;
    const frag = document.createDocumentFragment();
    for (let i = 1; i <= n; i++) {
      if (i === bad) {
        const s = document.createElement('span');
        s.className = 'err';
        s.textContent = String(i);
        frag.append(s, '\n');
      } else {
        frag.append(`${i}\n`);
      }
    }
    this.gutter.replaceChildren(frag);
  }

  #sync() {
    this.gutter.scrollTop = this.textarea.scrollTop;
    if (this.error?.line) this.band.style.top = `${PAD_PX + (this.error.line - 1) * LINE_PX - this.textarea.scrollTop}px`;
  }
}
