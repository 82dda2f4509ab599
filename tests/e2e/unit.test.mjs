// Unit tests of the page's pure helpers (www/*.js): number formatting, chart scales and window
// statistics, scenario text (durations, [[events]] written in and read back, labels), the
// permalink's encoding and strict decoding and the topology's
// server status and geometry. Plain Node.js: no browser, no wasm (www/pkg/ need not exist).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateRawSync } from 'node:zlib';

import { OUTCOMES, OUTCOME_COLORS, fmtCount, fmtMs, fmtNum, fmtPct, fmtTime, serverColor } from '../../www/util.js';
import { SNIPPETS, describe, durationMs, durationNs, formatOf, insertSnippet, tomlValue, withEvents } from '../../www/scenario.js';
import { decodePermalink, encodePermalink, fmtSeconds, hasPermalink, markers } from '../../www/timeline.js';
import { niceCeil, ticks, windowStats } from '../../www/charts.js';
import { overrideLines, tInterval } from '../../www/ab.js';
import { along, fmtRate, loadText, status } from '../../www/topology.js';

// ---- util.js ----------------------------------------------------------------------------------

test('fmtCount: thousands separators, millions from ten million on, a dash for non-numbers', () => {
  assert.equal(fmtCount(0), '0');
  assert.equal(fmtCount(12345), '12,345');
  assert.equal(fmtCount(2.5), '3');
  assert.equal(fmtCount(9999999), '9,999,999');
  assert.equal(fmtCount(12345678), '12.3 M');
  assert.equal(fmtCount(123456789), '123 M');
  assert.equal(fmtCount(-12345678), '-12.3 M');
  assert.equal(fmtCount(NaN), '–');
  for (const n of [1, 999, 1000, 1001, 65536, 100000, 999999, 1000000, -1, -999, -1000, -123456, 4.4, 999.5]) {
    assert.equal(fmtCount(n), Math.round(n).toLocaleString('en-US'), `as toLocaleString for ${n}`);
  }
  assert.equal(fmtCount(Infinity), '–');
});

test('fmtNum: about three significant digits, whole numbers from 10^digits on', () => {
  assert.equal(fmtNum(0), '0');
  assert.equal(fmtNum(12.345), '12.3');
  assert.equal(fmtNum(-0.5), '-0.5');
  assert.equal(fmtNum(0.000123456), '0.000123');
  assert.equal(fmtNum(999.6), '1000');
  assert.equal(fmtNum(1234.5), '1,235');
  assert.equal(fmtNum(0.98765, 4), '0.9877');
  assert.equal(fmtNum(12345, 6), '12345');
  for (const x of [null, undefined, NaN, Infinity, -Infinity]) assert.equal(fmtNum(x), '–');
});

test('fmtMs, fmtPct, fmtTime', () => {
  assert.equal(fmtMs(12.34), '12.3 ms');
  assert.equal(fmtMs(9999), '9,999 ms');
  assert.equal(fmtMs(10000), '10.0 s');
  assert.equal(fmtMs(125400), '125.4 s');
  assert.equal(fmtMs(NaN), '–');
  assert.equal(fmtPct(0.125), '12.50%');
  assert.equal(fmtPct(0), '0.0%');
  assert.equal(fmtPct(0.999), '99.9%');
  assert.equal(fmtPct(1), '100.0%');
  assert.equal(fmtPct(NaN), '–');
  assert.equal(fmtTime(1234), '1.234 s');
  assert.equal(fmtTime(0), '0.000 s');
});

test('serverColor: golden-angle hues, distinct for neighbours', () => {
  assert.equal(serverColor(0), 'hsl(200, 70%, 62%)');
  assert.match(serverColor(1), /^hsl\(337\.508\d*, 70%, 62%\)$/);
  const hues = Array.from({ length: 16 }, (_, i) => serverColor(i));
  assert.equal(new Set(hues).size, 16);
});

test('OUTCOMES are the report order and each has a colour', () => {
  assert.deepEqual(OUTCOMES, ['ok', 'timeout', 'rejected', 'no_server', 'connection_error', 'rate_limited', 'session_lost', 'store_unavailable', 'server_error', 'overflow']);
  assert.deepEqual(Object.keys(OUTCOME_COLORS), OUTCOMES);
});

// ---- scenario.js --------------------------------------------------------------------------------

test('insertSnippet: into the block at the cursor (or the first), replacing the keys it replaces, multi-line arrays included', () => {
  const text = 'name = "x"\n[[servers]]\nname = "a"\nservice = { dist = "constant", value = "1ms" }\ncount = 2\n\n'
    + '[[servers]]\nname = "b"\n\n[[clients]]\nname = "c"\nrate = 5\nschedule = [\n  { at = "0s", rate = 1 },\n]\nkeys = { count = 3 }\n# end\n';
  const pareto = SNIPPETS.find((s) => s.id === 'pareto');
  const users = SNIPPETS.find((s) => s.id === 'users');
  assert.ok(pareto && users);
  // Cursor in the clients block: a servers snippet goes to the first [[servers]] block, in place of its service.
  let r = insertSnippet(text, text.indexOf('keys'), pareto);
  assert.equal(r.text, text.replace('service = { dist = "constant", value = "1ms" }', pareto.text));
  assert.equal(r.text.slice(r.start, r.end), pareto.text);
  // Cursor in the second servers block (no service there): added after its last key line.
  r = insertSnippet(text, text.indexOf('name = "b"') + 3, pareto);
  assert.match(r.text, /name = "b"\nservice = \{ dist = "pareto"/);
  assert.match(r.text, /service = \{ dist = "constant"/, 'the first block is untouched');
  // users replaces rate and a multi-line schedule, keeps the other keys and the comment.
  r = insertSnippet(text, text.indexOf('rate = 5'), users);
  assert.ok(r.text.endsWith('[[clients]]\nname = "c"\n' + users.text + '\nkeys = { count = 3 }\n# end\n'), r.text);
  assert.equal(r.text.slice(r.start, r.end), users.text);
  assert.throws(() => insertSnippet('{"name": "x"}', 0, pareto), /JSON/);
  assert.throws(() => insertSnippet('name = "x"\n[[servers]]\nname = "a"\n', 0, users), /no \[\[clients\]\] block/);
  // Every snippet names a block kind and the keys it replaces include its own.
  for (const s of SNIPPETS) {
    assert.ok(s.table === 'servers' || s.table === 'clients', s.id);
    for (const line of s.text.split('\n')) assert.ok(s.replaces.includes(line.split(' = ')[0]), `${s.id}: ${line}`);
  }
});

test('formatOf: JSON when the text starts with {, else TOML', () => {
  assert.equal(formatOf('  \n{"name": "x"}'), 'json');
  assert.equal(formatOf('name = "x"'), 'toml');
  assert.equal(formatOf(''), 'toml');
});

test('durationMs reads the core\'s units; 0 for anything else', () => {
  assert.equal(durationMs('250us'), 0.25);
  assert.equal(durationMs('250µs'), 0.25);
  assert.equal(durationMs('1.5s'), 1500);
  assert.equal(durationMs('.5s'), 500);
  assert.equal(durationMs(' 3 ms '), 3);
  assert.equal(durationMs('2m'), 120000);
  assert.equal(durationMs('1h'), 3600000);
  assert.equal(durationMs('2000000ns'), 2);
  assert.equal(durationMs('abc'), 0);
  assert.equal(durationMs('5'), 0);
  assert.equal(durationMs(null), 0);
  assert.equal(durationMs(undefined), 0);
});

test('durationNs: exact integer nanoseconds (digits below 1 ns cut); null when not a duration', () => {
  assert.equal(durationNs('20s'), 20000000000n);
  assert.equal(durationNs('1.5ms'), 1500000n);
  assert.equal(durationNs('31.000000001s'), 31000000001n);
  assert.equal(durationNs('2m'), 120000000000n);
  assert.equal(durationNs('1h'), 3600000000000n);
  assert.equal(durationNs('7ns'), 7n);
  assert.equal(durationNs('1.9ns'), 1n);
  assert.equal(durationNs('1.0000000009s'), 1000000000n);
  assert.equal(durationNs('0.25us'), 250n);
  // Beyond 2^53 ns, where a double would round.
  assert.equal(durationNs('9007199254740993ns'), 9007199254740993n);
  for (const bad of ['-1s', '1 s', '1.s', 's', '1d', '', null, 5]) assert.equal(durationNs(bad), null, String(bad));
});

test('tomlValue: strings quoted, finite numbers and booleans as they are, anything else refused', () => {
  assert.equal(tomlValue('a "b"'), '"a \\"b\\""');
  assert.equal(tomlValue(2.5), '2.5');
  assert.equal(tomlValue(true), 'true');
  for (const bad of [NaN, Infinity, null, undefined, {}, []]) {
    assert.throws(() => tomlValue(bad), /is not a string, number or boolean/);
  }
});

const CRASH = { atNs: '1000000001', action: { action: 'crash', target: 'web-1' } };
const SLOW = { atNs: '2500000000', action: { action: 'slow', target: 'web-2', factor: 3 } };

test('withEvents appends live actions as TOML [[events]] at their exact instants', () => {
  assert.equal(withEvents('name = "x"', []), 'name = "x"');
  assert.equal(withEvents('name = "x"', [CRASH, SLOW]), [
    'name = "x"', '', '# live actions',
    '[[events]]', 'at = "1000000001ns"', 'action = "crash"', 'target = "web-1"', '',
    '[[events]]', 'at = "2500000000ns"', 'action = "slow"', 'target = "web-2"', 'factor = 3', '',
  ].join('\n'));
  assert.throws(() => withEvents('x = 1', [{ atNs: '1', action: { action: 'slow', factor: NaN } }]), /not a string, number or boolean/);
});

test('withEvents appends to a JSON scenario\'s events (kept first)', () => {
  const text = JSON.stringify({ name: 'x', events: [{ at: '1s', action: 'store_down' }] });
  const out = JSON.parse(withEvents(text, [CRASH]));
  assert.deepEqual(out, { name: 'x', events: [{ at: '1s', action: 'store_down' }, { at: '1000000001ns', action: 'crash', target: 'web-1' }] });
  assert.deepEqual(JSON.parse(withEvents('{"name": "y"}', [SLOW])).events, [{ at: '2500000000ns', action: 'slow', target: 'web-2', factor: 3 }]);
});

test('describe: the timeline label of every action kind', () => {
  const cases = [
    [{ action: 'crash', target: 'a' }, 'crash a'],
    [{ action: 'recover', target: 'a' }, 'recover a'],
    [{ action: 'slow', target: 'a', factor: 4 }, 'slow a ×4'],
    [{ action: 'add', target: 'web' }, 'add 1 to web'],
    [{ action: 'add', target: 'web', count: 3 }, 'add 3 to web'],
    [{ action: 'remove', target: 'web' }, 'remove 1 from web'],
    [{ action: 'set_algorithm', algorithm: 'maglev' }, 'algorithm → maglev'],
    [{ action: 'set_rate', target: 'mobile', rate: 12.5 }, 'mobile rate → 12.5/s'],
    [{ action: 'store_down' }, 'session store down'],
    [{ action: 'store_up' }, 'session store up'],
    [{ action: 'set_layer', layer: 'l7' }, 'layer → l7'],
    [{ action: 'set_sticky', sticky: 'none' }, 'sticky → none'],
    [{ action: 'errors', target: 'api-4', rate: 1, latency: '1ms' }, 'api-4 errors 100% in 1ms'],
    [{ action: 'errors', target: 'api', rate: 0.25 }, 'api errors 25%'],
    [{ action: 'errors', target: 'api-4', rate: 0 }, 'errors end at api-4'],
    [{ action: 'something_new' }, 'something_new'],
  ];
  for (const [action, label] of cases) assert.equal(describe(action), label);
});

// ---- timeline.js --------------------------------------------------------------------------------

test('fmtSeconds and markers: fired events only, in seconds', () => {
  assert.equal(fmtSeconds(1234567890n), '1.234');
  assert.equal(fmtSeconds(0n), '0.000');
  const items = [
    { atNs: 1500000000n, text: 'crash a', who: 'you', fired: true },
    { atNs: 2000000001n, text: 'recover a', who: 'scenario', fired: false },
  ];
  assert.deepEqual(markers(items), [{ t: 1.5, label: 'crash a' }]);
});

/** A permalink fragment of any content, deflated as the page does. */
function link(content) {
  return '#run=' + deflateRawSync(Buffer.from(JSON.stringify(content))).toString('base64url');
}

test('permalink: encode then decode gives the session back', async () => {
  const actions = [CRASH, { atNs: '18446744073709551615', action: { action: 'set_sticky', sticky: 'cookie' } }];
  const bundled = await encodePermalink({ name: 'grpc-l4-imbalance', text: 'ignored', seed: 7, actions, t: 1234.6 });
  assert.ok(hasPermalink(bundled));
  assert.match(bundled, /^#run=[A-Za-z0-9_-]+$/);
  assert.deepEqual(await decodePermalink(bundled), { name: 'grpc-l4-imbalance', text: null, seed: 7, actions, t: 1235, ab: null });

  const text = 'name = "edited"\n# ünïcode ✓\n';
  const edited = await encodePermalink({ name: null, text, seed: null, actions: [], t: 0, ab: null });
  assert.deepEqual(await decodePermalink(edited), { name: null, text, seed: null, actions: [], t: 0, ab: null });
  // The page's own encoding and Node's zlib agree (deflate-raw, base64url without padding).
  assert.deepEqual(await decodePermalink(link({ v: 1, seed: null, actions: [], t: 0, text })), { name: null, text, seed: null, actions: [], t: 0, ab: null });
});

test('permalink: A/B mode carries B\'s --set lines', async () => {
  const ab = ['balancer.layer=l7', 'balancer.sticky=none'];
  const encoded = await encodePermalink({ name: 'x', text: '', seed: 1, actions: [], t: 5, ab });
  assert.deepEqual(await decodePermalink(encoded), { name: 'x', text: null, seed: 1, actions: [], t: 5, ab });
  // Without A/B nothing is added, so links from before A/B mode read the same.
  const plain = await encodePermalink({ name: 'x', text: '', seed: 1, actions: [], t: 5, ab: null });
  assert.equal(plain, await encodePermalink({ name: 'x', text: '', seed: 1, actions: [], t: 5 }));
});

test('A/B: 95% Student-t interval as lbsim compare, and the --set lines of the text box', () => {
  // sd = 1.5811, se = 0.7071, t(4) = 2.776 (sim-cli stats.rs test)
  const e = tInterval([1, 2, 3, 4, 5]);
  assert.equal(e.mean, 3);
  assert.ok(Math.abs(e.half - 2.776 * Math.SQRT1_2) < 1e-9);
  assert.deepEqual(tInterval([4]), { mean: 4, half: null }, 'one seed: no interval');
  assert.ok(Math.abs(tInterval(Array.from({ length: 40 }, (_, i) => i % 2)).half - 1.959964 * Math.sqrt(40 / 39 / 4 / 40)) < 1e-9, 'df > 30: normal quantile');
  assert.deepEqual(overrideLines(' balancer.layer=l7 \n\n# a note\nbalancer.sticky=none'), ['balancer.layer=l7', 'balancer.sticky=none']);
});

test('permalink: a damaged or foreign link says why', async () => {
  assert.equal(hasPermalink('#other'), false);
  await assert.rejects(decodePermalink('#other'), /does not start with #run=/);
  await assert.rejects(decodePermalink('#run=abc'), /the link is damaged/);
  const good = link({ v: 1, seed: 1, actions: [], t: 0, scenario: 'x' });
  await assert.rejects(decodePermalink(good.slice(0, -6)), /the link is damaged/);
  const notJson = '#run=' + deflateRawSync(Buffer.from('{"v": 1,')).toString('base64url');
  await assert.rejects(decodePermalink(notJson), /the link is damaged/);
});

test('permalink: invalid content is refused with the reason, never half-applied', async () => {
  const ok = { v: 1, scenario: 'x', seed: 3, actions: [['5', { action: 'crash', target: 'a' }]], t: 10 };
  assert.deepEqual(await decodePermalink(link(ok)), { name: 'x', text: null, seed: 3, actions: [{ atNs: '5', action: { action: 'crash', target: 'a' } }], t: 10, ab: null });
  const cases = [
    [null, /unknown version/],
    [[1, 2], /unknown version/],
    [{ ...ok, v: 2 }, /unknown version/],
    [{ ...ok, scenario: undefined }, /no scenario/],
    [{ ...ok, scenario: 5 }, /no scenario/],
    [{ ...ok, scenario: 5, text: 'name = "x"' }, /scenario must be the name of a bundled scenario/],
    [{ ...ok, seed: -1 }, /seed must be a whole number/],
    [{ ...ok, seed: 1.5 }, /seed must be a whole number/],
    [{ ...ok, seed: '3' }, /seed must be a whole number/],
    [{ ...ok, seed: 2 ** 53 }, /seed must be a whole number/],
    [{ ...ok, actions: {} }, /actions must be a list/],
    [{ ...ok, actions: [['x', { action: 'crash' }]] }, /action 1 has no valid time/],
    [{ ...ok, actions: [['5', { action: 'crash' }], [5, { action: 'crash' }]] }, /action 2 has no valid time/],
    [{ ...ok, actions: [['123456789012345678901', { action: 'crash' }]] }, /action 1 has no valid time/],
    [{ ...ok, actions: [['5', { action: 'crash' }, 'extra']] }, /action 1 has no valid time/],
    [{ ...ok, actions: [['5', 'crash']] }, /action 1 is not an action/],
    [{ ...ok, actions: [['5', ['crash']]] }, /action 1 is not an action/],
    [{ ...ok, actions: [['5', { target: 'a' }]] }, /action 1 is not an action/],
    [{ ...ok, actions: [['5', { action: 'crash', target: { name: 'a' } }]] }, /action 1 has a value of the wrong kind/],
    [{ ...ok, actions: [['5', { action: 'crash', target: null }]] }, /action 1 has a value of the wrong kind/],
    [{ ...ok, ab: 'balancer.layer=l7' }, /ab must be a list of KEY=VALUE settings/],
    [{ ...ok, ab: [] }, /ab must be a list of KEY=VALUE settings/],
    [{ ...ok, ab: [7] }, /ab must be a list of KEY=VALUE settings/],
    [{ ...ok, ab: ['balancer.layer'] }, /every ab setting must be KEY=VALUE/],
    [{ ...ok, ab: Array(33).fill('a=b') }, /ab has 33 settings; at most 32/],
    [{ ...ok, ab: ['a=' + 'x'.repeat(500)] }, /longer than 500 characters/],
  ];
  for (const [content, why] of cases) {
    await assert.rejects(decodePermalink(link(content)), (e) => e instanceof Error && why.test(e.message) && /the link's content is invalid/.test(e.message), JSON.stringify(content));
  }
  // A scenario given as null with a text is an edited scenario; a time that is not a number ≥ 0 is 0.
  assert.deepEqual(await decodePermalink(link({ ...ok, scenario: null, text: 'y = 1', t: -5 })), { name: null, text: 'y = 1', seed: 3, actions: ok.actions.map(([atNs, action]) => ({ atNs, action })), t: 0, ab: null });
  assert.equal((await decodePermalink(link({ ...ok, t: 'soon' }))).t, 0);
  assert.equal((await decodePermalink(link({ ...ok, seed: null }))).seed, null);
});

// ---- charts.js ----------------------------------------------------------------------------------

test('niceCeil: the smallest 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k at or above', () => {
  assert.equal(niceCeil(1), 1);
  assert.equal(niceCeil(7), 8);
  assert.equal(niceCeil(8.5), 10);
  assert.equal(niceCeil(100), 100);
  assert.equal(niceCeil(101), 120);
  assert.equal(niceCeil(2600), 3000);
  assert.ok(Math.abs(niceCeil(0.013) - 0.015) < 1e-15);
});

test('ticks: round steps from 0 to max', () => {
  assert.deepEqual(ticks(10, 4), [0, 2.5, 5, 7.5, 10]);
  assert.deepEqual(ticks(60, 5), [0, 20, 40, 60]);
  assert.deepEqual(ticks(1, 4), [0, 0.25, 0.5, 0.75, 1]);
  assert.deepEqual(ticks(0.3, 3), [0, 0.1, 0.2, 0.3]);
  assert.deepEqual(ticks(7, 2), [0, 5]);
});

const point = (t_s, outcomes, served, p50_ms, p99_ms) => ({ t_s, outcomes, served, p50_ms, p99_ms, in_flight: served.map(() => 0), jain_index: 1 });

test('windowStats: the buckets whose centre is in the window, summed and summarised', () => {
  const pts = [
    point(0, [10, 1, 0, 0, 0, 0, 0], [6, 4, 0], 5, 20),
    point(1, [8, 0, 0, 2, 0, 0, 0], [4, 4, 0], 7, 30),
    point(2, [0, 0, 0, 0, 0, 0, 0], [0, 0, 0], 0, 0),
  ];
  const w = windowStats(pts, 0, 2, 1, [true, true, false]);
  assert.equal(w.from, 0);
  assert.equal(w.to, 2);
  assert.equal(w.buckets, 2);
  assert.deepEqual(w.outcomes, [18, 1, 0, 2, 0, 0, 0]);
  assert.equal(w.ended, 21);
  assert.equal(w.okPerS, 9);
  assert.equal(w.failedShare, 1 - 18 / 21);
  assert.equal(w.p50, 7); // the upper median of [5, 7]
  assert.equal(w.p99max, 30);
  assert.deepEqual(w.served, [10, 8, 0]);
  // The third server is down and served nothing: it does not count for balance.
  assert.equal(w.jain, (18 * 18) / (2 * (100 + 64)));
  assert.equal(w.maxOverMean, 10 / 9);
  // Counted when it is up: an idle server makes the balance worse.
  const all = windowStats(pts, 0, 2, 1, [true, true, true]);
  assert.equal(all.jain, (18 * 18) / (3 * 164));
  assert.equal(all.maxOverMean, 10 / 6);
});

test('windowStats: empty windows and buckets without ok requests', () => {
  const pts = [point(0, [0, 3, 0, 0, 0, 0, 0], [0, 0], 0, 0), point(1, [0, 0, 0, 0, 0, 0, 0], [0, 0], 0, 0)];
  assert.equal(windowStats(pts, 5, 9, 1, [true, true]), null);
  assert.equal(windowStats([], 0, 9, 1, []), null);
  const w = windowStats(pts, 0, 2, 1, [true, true]);
  assert.equal(w.failedShare, 1);
  assert.ok(Number.isNaN(w.p50));
  assert.ok(Number.isNaN(w.p99max));
  assert.ok(Number.isNaN(w.jain));
  assert.ok(Number.isNaN(w.maxOverMean));
  assert.equal(windowStats([pts[1]], 0, 2, 1, [true, true]).failedShare, 0);
  // Half-second buckets: the centre decides, and rates are per second.
  const half = windowStats([point(0, [4, 0, 0, 0, 0, 0, 0], [4], 1, 2), point(0.5, [6, 0, 0, 0, 0, 0, 0], [6], 1, 2)], 0.3, 1, 0.5, [true]);
  assert.equal(half.buckets, 1);
  assert.equal(half.okPerS, 12);
});

// ---- topology.js --------------------------------------------------------------------------------

test('loadText: a rate, a closed loop\'s users (its rate is an output) or a schedule', () => {
  assert.equal(loadText({ rate: 5 }), `${fmtRate(5)}/s each`);
  assert.equal(loadText({ rate: 0, users: 20 }), '20 users each');
  assert.equal(loadText({ rate: 0, users: 20, scheduled: true }), '20 users each (scheduled)');
  assert.equal(loadText({ rate: 0, users: null, scheduled: true }), 'scheduled rate');
});

test('status: each server state, marked down by replicas, slow', () => {
  const f = {
    state: Uint8Array.from([1, 2, 2, 3, 0, 4, 1, 1]),
    markedDown: Uint32Array.from([0, 1, 0, 0, 0, 0, 2, 0]),
    slow: Float64Array.from([1, 1, 1, 1, 1, 1, 1, 2.5]),
  };
  const words = (replicas) => Array.from(f.state, (_, s) => status(f, s, replicas)).map((x) => [x.word, x.note]);
  assert.deepEqual(words(2), [
    ['up', ''],
    ['crashed', 'crashed · marked down'],
    ['crashed', 'crashed · still picked'],
    ['draining', 'draining'],
    ['not added', 'not added'],
    ['removed', 'removed'],
    ['marked down', 'marked down by 2/2'],
    ['slow', 'slow ×2.5'],
  ]);
  assert.deepEqual(words(1)[6], ['marked down', 'marked down']);
  assert.notEqual(status(f, 0, 1).color, status(f, 1, 1).color);
});

test('status: ejected by outlier detection (until when) and provisioning are their own states', () => {
  const f = {
    state: Uint8Array.from([1, 1, 2, 5]),
    markedDown: Uint32Array.from([1, 2, 1, 0]),
    slow: Float64Array.from([1, 1, 1, 1]),
    ejected: Uint32Array.from([1, 1, 1, 0]),
    ejectedUntilMs: Float64Array.from([40000, 41234, 50000, 0]),
  };
  const words = (replicas) => Array.from(f.state, (_, s) => status(f, s, replicas)).map((x) => [x.word, x.note]);
  assert.deepEqual(words(1), [
    ['ejected', 'ejected until 40.0 s'],
    ['ejected', 'ejected until 41.2 s'],
    ['crashed', 'crashed · ejected until 50.0 s'],
    ['provisioning', 'provisioning'],
  ]);
  assert.equal(words(2)[0][1], 'ejected by 1/2 until 40.0 s');
  assert.notEqual(status(f, 0, 1).color, status({ ...f, ejected: Uint32Array.from([0, 0, 0, 0]) }, 0, 1).color, 'ejected is not drawn as marked down');
});

test('along: the point at a fraction of a polyline\'s length', () => {
  const pts = [[0, 0], [10, 0], [10, 10]];
  assert.deepEqual(along(pts, 0), [0, 0]);
  assert.deepEqual(along(pts, 0.25), [5, 0]);
  assert.deepEqual(along(pts, 0.5), [10, 0]);
  assert.deepEqual(along(pts, 0.75), [10, 5]);
  assert.deepEqual(along(pts, 1), [10, 10]);
  assert.deepEqual(along(pts, 1.5), [10, 10]); // clamped to the end
  assert.deepEqual(along([[3, 4]], 0.5), [3, 4]);
  assert.deepEqual(along([[3, 4], [3, 4]], 0.5), [3, 4]);
});

test('fmtRate: whole from 100 on, else three significant digits', () => {
  assert.equal(fmtRate(150.4), '150');
  assert.equal(fmtRate(12.345), '12.3');
  assert.equal(fmtRate(0.5), '0.5');
  assert.equal(fmtRate(0), '0');
});
