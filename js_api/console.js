// console.*: output goes to the node's stdout/stderr as the turn runs. It is
// the one output not held back until commit (docs/guarantees.md), so it is
// at-least-once: a turn that aborts, or a crash before commit, may have
// printed lines whose effects are rolled back.
//
// Runs as `function (natives, internals)`.
'use strict';
const {
  ArrayPrototypePush,
  NumberPrototypeToFixed,
  ErrorCaptureStackTrace,
  Map,
  MapPrototypeDelete,
  MapPrototypeGet,
  MapPrototypeSet,
  NullProtoArray,
  ObjectDefineProperty,
  ObjectKeys,
  String,
  StringPrototypeIndexOf,
  StringPrototypeSlice,
  globalThis: global,
} = internals.primordials;
{
  const write = natives.write;
  const hostNow = natives.hostNowMs;
  const elapsed = (start) => NumberPrototypeToFixed(hostNow() - start, 3);
  const format = internals.format;
  const inspect = internals.inspect;
  // console.count counters, console.time starts, the group indent; kept
  // when this script runs again to upgrade an existing heap's built-ins.
  const state = internals.state.console !== undefined
      ? internals.state.console
      : { __proto__: null, counts: new Map(), timers: new Map(), indent: '' };
  internals.state.console = state;
  const counts = state.counts;
  const timers = state.timers;
  // text with `indent` after each '\n' (no String.prototype.split: see
  // primordials.js).
  const indentLines = (text) => {
    let out = '';
    let from = 0;
    let at = StringPrototypeIndexOf(text, '\n');
    while (at !== -1) {
      out += StringPrototypeSlice(text, from, at + 1) + state.indent;
      from = at + 1;
      at = StringPrototypeIndexOf(text, '\n', from);
    }
    return out + StringPrototypeSlice(text, from);
  };
  const emit = (stream, args) => {
    const text = format(args);
    write(stream, state.indent ? state.indent + indentLines(text) : text);
  };
  // [first, ...rest] without the array iterator.
  const prepend = (first, rest) => {
    const list = NullProtoArray();
    ArrayPrototypePush(list, first);
    for (let i = 0; i < rest.length; i++) ArrayPrototypePush(list, rest[i]);
    return list;
  };
  const methods = {
    __proto__: null,
    log(...args) { emit(1, args); },
    info(...args) { emit(1, args); },
    debug(...args) { emit(1, args); },
    warn(...args) { emit(2, args); },
    error(...args) { emit(2, args); },
    trace(...args) {
      const err = { __proto__: null, name: 'Trace', message: format(args) };
      ErrorCaptureStackTrace(err, trace);
      let stack;
      try {
        stack = err.stack;  // formatted by the program's Error.prepareStackTrace, if it set one
      } catch (e) {
        stack = `Trace: ${err.message}`;
      }
      emit(2, [stack]);
    },
    dir(value) { emit(1, [inspect(value, false)]); },
    assert(condition, ...args) {
      if (!condition) emit(2, prepend('Assertion failed' + (args.length ? ':' : ''), args));
    },
    count(label = 'default') {
      const n = (MapPrototypeGet(counts, String(label)) || 0) + 1;
      MapPrototypeSet(counts, String(label), n);
      emit(1, [`${label}: ${n}`]);
    },
    countReset(label = 'default') { MapPrototypeDelete(counts, String(label)); },
    group(...args) { if (args.length) emit(1, args); state.indent += '  '; },
    groupEnd() { state.indent = StringPrototypeSlice(state.indent, 2); },
    // console.time measures with a host monotonic clock (natives.hostNowMs):
    // Date.now() is fixed for the whole of a turn. Console output is never
    // replayed, so this clock need not be recorded. As in Node: 3 decimals.
    time(label = 'default') { MapPrototypeSet(timers, String(label), hostNow()); },
    timeEnd(label = 'default') {
      const t = MapPrototypeGet(timers, String(label));
      if (t !== undefined) {
        MapPrototypeDelete(timers, String(label));
        emit(1, [`${label}: ${elapsed(t)}ms`]);
      }
    },
    timeLog(label = 'default', ...args) {
      const t = MapPrototypeGet(timers, String(label));
      if (t !== undefined) emit(1, prepend(`${label}: ${elapsed(t)}ms`, args));
    },
    table(data) { emit(1, [data]); },
  };
  const trace = methods.trace;
  methods.groupCollapsed = methods.group;
  const con = typeof global.console === 'object' && global.console !== null ? global.console : {};
  const keys = ObjectKeys(methods);
  for (let i = 0; i < keys.length; i++) {
    internals.markNative(methods[keys[i]]);
    ObjectDefineProperty(con, keys[i], {
      __proto__: null, value: methods[keys[i]], writable: true, enumerable: true, configurable: true,
    });
  }
  if (con !== global.console) {
    ObjectDefineProperty(global, 'console', {
      __proto__: null, value: con, writable: true, enumerable: false, configurable: true,
    });
  }
}
