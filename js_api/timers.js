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
  ArrayPrototypeSplice,
  DateNow,
  MathFloor,
  MathMax,
  MathMin,
  MathTrunc,
  Map,
  MapPrototypeDelete,
  MapPrototypeForEach,
  MapPrototypeGet,
  MapPrototypeGetSize,
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
  // Internal timers due at once (delay 0: calls to actors of this node and
  // their replies), in a FIFO of ids beside the table, so that listing the
  // next ones due costs what it lists, not a sort of all of them; their due
  // times never go back (a clock step back keeps their order).
  if (state.immediates === undefined) {
    state.immediates = NullProtoArray();
    state.immediateHead = 0;
    state.lastImmediateDue = 0;
  }

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
    let id;
    if (delay === 0) {
      id = state.nextId++;
      const due = MathMax(DateNow(), state.lastImmediateDue);
      state.lastImmediateDue = due;
      MapPrototypeSet(state.table, id, { __proto__: null, due, interval: 0, callback, args: NullProtoArray(),
                                         immediate: true });
      ArrayPrototypePush(state.immediates, id);
    } else {
      id = add(callback, delay, NullProtoArray(), false);
    }
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
    const n = MapPrototypeGetSize(state.table);
    let end = max === undefined ? n : Number(max);
    // As list.slice(0, max).
    end = end !== end ? 0 : end < 0 ? MathMax(n + MathTrunc(end), 0) : MathMin(MathTrunc(end), n);
    // The first `end` immediates still in the table (dropping fired ones).
    const q = state.immediates;
    while (state.immediateHead < q.length && MapPrototypeGet(state.table, q[state.immediateHead]) === undefined) {
      state.immediateHead++;
    }
    if (state.immediateHead > 1024 && state.immediateHead * 2 > q.length) {
      ArrayPrototypeSplice(q, 0, state.immediateHead);
      state.immediateHead = 0;
    }
    const list = NullProtoArray();
    for (let i = state.immediateHead; i < q.length && list.length < end; i++) {
      const t = MapPrototypeGet(state.table, q[i]);
      if (t !== undefined) ArrayPrototypePush(list, [q[i], t.due]);
    }
    MapPrototypeForEach(state.table, (t, id) => { if (t.immediate !== true) ArrayPrototypePush(list, [id, t.due]); });
    ArrayPrototypeSort(list, (a, b) => a[1] - b[1] || a[0] - b[0]);
    let json = '[';
    for (let i = 0; i < end && i < list.length; i++) {
      json += `${i > 0 ? ',' : ''}[${jsonNumber(list[i][0])},${jsonNumber(list[i][1])}]`;
    }
    return `${json}]`;
  };
}
