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
{
  const MAX_DELAY = 2147483647;  // as browsers: larger delays overflow to 1
  const timers = new Map();      // id -> { due, interval, callback, args }
  let nextId = 1;

  const toDelay = (delay) => {
    let d = Number(delay);
    if (!(d >= 1) || d > MAX_DELAY) d = 1;  // NaN, negative, 0, too big
    return Math.floor(d);
  };
  const add = (callback, delay, args, repeat) => {
    if (typeof callback !== 'function') {
      throw new TypeError('The "callback" argument must be a function (Ken does not evaluate strings)');
    }
    const ms = toDelay(delay);
    const id = nextId++;
    timers.set(id, { due: Date.now() + ms, interval: repeat ? ms : 0, callback, args });
    return id;
  };
  const clear = (id) => { timers.delete(typeof id === 'number' ? id : Number(id)); };
  const api = {
    setTimeout(callback, delay, ...args) { return add(callback, delay, args, false); },
    setInterval(callback, delay, ...args) { return add(callback, delay, args, true); },
    clearTimeout(id) { clear(id); },
    clearInterval(id) { clear(id); },
  };
  for (const [name, fn] of Object.entries(api)) {
    internals.markNative(fn);
    Object.defineProperty(globalThis, name, { value: fn, writable: true, enumerable: true, configurable: true });
  }

  // Advances (interval) or removes (timeout) timer `id` for due time `due`.
  // Returns the timer, or undefined if it was cleared or already fired.
  const consume = (id, due) => {
    const t = timers.get(id);
    if (t === undefined || t.due !== due) return undefined;
    if (t.interval > 0) {
      const now = Date.now();
      t.due = due + t.interval > now ? due + t.interval : now + t.interval;
    } else {
      timers.delete(id);
    }
    return t;
  };
  internals.fireTimer = (id, due) => {
    const t = consume(id, due);
    if (t !== undefined) Reflect.apply(t.callback, globalThis, t.args);
  };
  // After a failed callback: the firing still counts (not retried forever).
  internals.consumeTimer = (id, due) => { consume(id, due); };
  // The earliest `max` timers as JSON [[id, due], ...], soonest first.
  internals.upcomingTimers = (max) => {
    const list = [];
    for (const [id, t] of timers) list.push([id, t.due]);
    list.sort((a, b) => a[1] - b[1] || a[0] - b[0]);
    return JSON.stringify(list.slice(0, max));
  };
}
