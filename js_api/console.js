// console.*: output goes to the node's stdout/stderr as the turn runs. It is
// the one output not held back until commit (DESIGN.md), so it is
// at-least-once: a turn that aborts, or a crash before commit, may have
// printed lines whose effects are rolled back.
//
// Runs as `function (natives, internals)`.
'use strict';
{
  const write = natives.write;
  const format = internals.format;
  const counts = new Map();
  const timers = new Map();
  let indent = '';
  const emit = (stream, args) => {
    const text = format(args);
    write(stream, indent ? indent + text.split('\n').join('\n' + indent) : text);
  };
  const methods = {
    log(...args) { emit(1, args); },
    info(...args) { emit(1, args); },
    debug(...args) { emit(1, args); },
    warn(...args) { emit(2, args); },
    error(...args) { emit(2, args); },
    trace(...args) {
      const err = { name: 'Trace', message: format(args) };
      Error.captureStackTrace(err, methods.trace);
      emit(2, [err.stack]);
    },
    dir(value) { emit(1, [internals.inspect(value, false)]); },
    assert(condition, ...args) {
      if (!condition) emit(2, ['Assertion failed' + (args.length ? ':' : ''), ...args]);
    },
    count(label = 'default') {
      const n = (counts.get(String(label)) || 0) + 1;
      counts.set(String(label), n);
      emit(1, [`${label}: ${n}`]);
    },
    countReset(label = 'default') { counts.delete(String(label)); },
    group(...args) { if (args.length) emit(1, args); indent += '  '; },
    groupEnd() { indent = indent.slice(2); },
    time(label = 'default') { timers.set(String(label), Date.now()); },
    timeEnd(label = 'default') {
      const t = timers.get(String(label));
      if (t !== undefined) { timers.delete(String(label)); emit(1, [`${label}: ${Date.now() - t}ms`]); }
    },
    timeLog(label = 'default', ...args) {
      const t = timers.get(String(label));
      if (t !== undefined) emit(1, [`${label}: ${Date.now() - t}ms`, ...args]);
    },
    table(data) { emit(1, [data]); },
  };
  methods.groupCollapsed = methods.group;
  internals.markNative(...Object.values(methods));
  const con = typeof console === 'object' && console !== null ? console : {};
  for (const key of Object.keys(methods)) {
    Object.defineProperty(con, key, { value: methods[key], writable: true, enumerable: true, configurable: true });
  }
  if (con !== globalThis.console) {
    Object.defineProperty(globalThis, 'console', { value: con, writable: true, enumerable: false, configurable: true });
  }
}
