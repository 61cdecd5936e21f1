// Durable timers: setTimeout, setInterval, clearTimeout, clearInterval as in
// browsers (numeric ids). The timer table lives in the heap, so timers
// survive restarts; due times are wall-clock (Date.now()) so a timer that
// came due while the node was down fires late, once. The node's turn loop
// fires each due timer as its own turn (internals.fireTimer); firing updates
// the table in the same turn, so a committed firing never repeats and an
// uncommitted one (crash) happens again after restart: exactly once per due
// time. An interval that missed several due times while down fires once,
// then continues from now. Timers fire in `ken run` nodes; the shell has no
// idle loop and does not fire them.
//
// Runs as `function (natives, internals)`.
'use strict';
const {
  ArrayPrototypePush,
  ArrayPrototypeSort,
  DateNow,
  MathFloor,
  MathMax,
  MathMin,
  MathTrunc,
  Map,
  MapPrototypeDelete,
  MapPrototypeForEach,
  MapPrototypeGet,
  MapPrototypeSet,
  NullProtoArray,
  Number,
  NumberIsFinite,
  ObjectDefineProperty,
  ReflectApply,
  TypeError,
  globalThis: global,
} = internals.primordials;
{
  const MAX_DELAY = 2147483647;  // as browsers: larger delays overflow to 1
  // id -> { due, interval, callback, args } (null prototype); next id.
  // Kept when this script runs again to upgrade an existing heap's built-ins.
  const state = internals.state.timers !== undefined
      ? internals.state.timers
      : { __proto__: null, table: new Map(), nextId: 1 };
  internals.state.timers = state;

  const toDelay = (delay) => {
    let d = Number(delay);
    if (!(d >= 1) || d > MAX_DELAY) d = 1;  // NaN, negative, 0, too big
    return MathFloor(d);
  };
  const add = (callback, delay, args, repeat) => {
    if (typeof callback !== 'function') {
      throw new TypeError('The "callback" argument must be a function (Ken does not evaluate strings)');
    }
    const ms = toDelay(delay);
    const id = state.nextId++;
    MapPrototypeSet(state.table, id, { __proto__: null, due: DateNow() + ms, interval: repeat ? ms : 0, callback, args });
    return id;
  };
  const clear = (id) => { MapPrototypeDelete(state.table, typeof id === 'number' ? id : Number(id)); };
  const api = {
    __proto__: null,
    setTimeout(callback, delay, ...args) { return add(callback, delay, args, false); },
    setInterval(callback, delay, ...args) { return add(callback, delay, args, true); },
    clearTimeout(id) { clear(id); },
    clearInterval(id) { clear(id); },
  };
  // For the built-ins (ken.call's timeouts, calls to actors of this node):
  // the same durable timers, out of the program's reach (it may replace the
  // globals). `onFailure(error)`, if given, runs in the fallback turn after
  // the callback failed (threw, timed out, reached the heap limit), with the
  // turn's error text ("Uncaught TypeError: ...\n    at ..."); it must not
  // throw and should only record or schedule (it runs in the fallback).
  internals.addTimer = (callback, delay, onFailure) => {
    const id = add(callback, delay, NullProtoArray(), false);
    if (typeof onFailure === 'function') MapPrototypeGet(state.table, id).onFailure = onFailure;
    return id;
  };
  internals.clearTimer = clear;
  const names = ['setTimeout', 'setInterval', 'clearTimeout', 'clearInterval'];
  for (let i = 0; i < names.length; i++) {
    const fn = api[names[i]];
    internals.markNative(fn);
    ObjectDefineProperty(global, names[i], {
      __proto__: null, value: fn, writable: true, enumerable: true, configurable: true,
    });
  }

  // Advances (interval) or removes (timeout) timer `id` for due time `due`.
  // Returns the timer, or undefined if it was cleared or already fired.
  const consume = (id, due) => {
    const t = MapPrototypeGet(state.table, id);
    if (t === undefined || t.due !== due) return undefined;
    if (t.interval > 0) {
      const now = DateNow();
      t.due = due + t.interval > now ? due + t.interval : now + t.interval;
    } else {
      MapPrototypeDelete(state.table, id);
    }
    return t;
  };
  internals.fireTimer = (id, due) => {
    const t = consume(id, due);
    if (t !== undefined) ReflectApply(t.callback, global, t.args);
  };
  // After a failed callback: the firing still counts (not retried forever);
  // an internal timer with an onFailure is told the error.
  internals.consumeTimer = (id, due, error) => {
    const t = consume(id, due);
    if (t !== undefined && t.onFailure !== undefined && typeof error === 'string') t.onFailure(error);
  };
  // The earliest `max` timers as JSON [[id, due], ...], soonest first. The
  // host parses it: written out from numbers here, not by JSON.stringify
  // (which the program may replace, or steer with a toJSON).
  const jsonNumber = (n) => (NumberIsFinite(n) ? `${n}` : 'null');  // as JSON.stringify
  internals.upcomingTimers = (max) => {
    const list = NullProtoArray();
    MapPrototypeForEach(state.table, (t, id) => { ArrayPrototypePush(list, [id, t.due]); });
    ArrayPrototypeSort(list, (a, b) => a[1] - b[1] || a[0] - b[0]);
    // As list.slice(0, max).
    const n = list.length;
    let end = max === undefined ? n : Number(max);
    end = end !== end ? 0 : end < 0 ? MathMax(n + MathTrunc(end), 0) : MathMin(MathTrunc(end), n);
    let json = '[';
    for (let i = 0; i < end; i++) {
      json += `${i > 0 ? ',' : ''}[${jsonNumber(list[i][0])},${jsonNumber(list[i][1])}]`;
    }
    return `${json}]`;
  };
}
