// Snapshot-safe Intl. V8 cannot serialize the ICU objects behind Intl
// instances (CreateBlob hits a CHECK; see ../shared/BUILDING.md), so each Intl
// constructor is replaced by a wrapper that keeps only plain data in the heap:
// the resolved locale and a copy of the options it was given. The native ICU
// object is made from them on first use and cached in `live`, which is emptied
// before every checkpoint, so no native object is ever in a snapshot. Results
// are the native ones; functions handed out (`format`, `compare`) and
// iterables (`segment`) are JS closures that re-enter through the cache.
//
// Runs as `function (natives, internals)`.
'use strict';
const ReflectApply = Reflect.apply;
const ReflectConstruct = Reflect.construct;
const live = new Map();  // wrapper -> native ICU-backed object; cleared before each checkpoint
internals.beforeCheckpoint.push(() => live.clear());

const wrappers = new Map();  // name -> wrapper constructor
const argsOf = new WeakMap();  // wrapper instance -> [locales, options] (plain data)
const boundOf = new WeakMap();  // wrapper instance -> Map(getter name -> closure)

// Locale wrappers must reach native code as their tag: native
// CanonicalizeLocaleList would read a foreign object as an empty list.
const toNativeLocales = (locales) => {
  const LocaleW = wrappers.get('Locale');
  if (LocaleW && locales instanceof LocaleW) return String(locales);
  if (Array.isArray(locales)) return locales.map((l) => (LocaleW && l instanceof LocaleW ? String(l) : l));
  return locales;
};

// Hands `options` to the native constructor through a Proxy that records
// each option as the constructor reads it, so every option (and getter) is
// read exactly once, in the spec's order, and the copy holds exactly what
// the native object was built from.
const recordingOptions = (options, record) => {
  if (options === null || typeof options !== 'object') return options;
  return new Proxy(options, {
    get(target, key) {
      const v = Reflect.get(target, key);
      if (typeof key === 'string' && v !== undefined) record[key] = v;
      return v;
    },
  });
};

function wrap(name, callable, boundGetters) {
  const Native = Intl[name];
  if (typeof Native !== 'function') return;
  const NativeProto = Native.prototype;
  const nativeOf = (self, method) => {
    const args = self !== null && (typeof self === 'object') ? argsOf.get(self) : undefined;
    if (args === undefined || !(self instanceof Wrapper)) {
      throw new TypeError(`Method Intl.${name}.prototype.${method} called on incompatible receiver ${String(self)}`);
    }
    let n = live.get(self);
    if (n === undefined) {
      n = ReflectConstruct(Native, args);
      live.set(self, n);
    }
    return n;
  };
  const Wrapper = function (locales, options) {
    if (new.target === undefined) {
      if (!callable) throw new TypeError(`Constructor Intl.${name} requires 'new'`);
      return ReflectConstruct(Wrapper, arguments);
    }
    const record = {};
    const nativeArgs = [toNativeLocales(locales), recordingOptions(options, record)];
    const native = ReflectConstruct(Native, nativeArgs);  // validates exactly as V8 does
    // Keep what re-creates the same object later: the resolved locale (stable
    // across restarts even if the default locale changes) and the options.
    const tag = name === 'Locale' ? String(native) : native.resolvedOptions().locale;
    argsOf.set(this, name === 'Locale' ? [tag] : [tag, options === undefined ? undefined : record]);
    live.set(this, native);
  };
  Object.defineProperty(Wrapper, 'name', { value: name });
  internals.markNative(Wrapper);
  Object.defineProperty(Wrapper, 'length', { value: Native.length });
  const proto = Wrapper.prototype;
  Object.defineProperty(proto, 'constructor', { value: Wrapper, writable: true, configurable: true });
  Object.defineProperty(proto, Symbol.toStringTag, { value: `Intl.${name}`, configurable: true });

  for (const key of Reflect.ownKeys(NativeProto)) {
    if (key === 'constructor' || key === Symbol.toStringTag) continue;
    const d = Object.getOwnPropertyDescriptor(NativeProto, key);
    if (typeof d.value === 'function') {
      const nativeMethod = d.value;
      const method = {
        [key](...a) {
          const n = nativeOf(this, key);
          if (key === 'segment') { const self = this; return makeSegments(() => nativeOf(self, key), nativeMethod, String(a[0])); }
          const result = ReflectApply(nativeMethod, n, a.map(toNativeLocales));
          if (name === 'Locale' && result instanceof Native) return new Wrapper(String(result));
          return result;
        },
      }[key];
      Object.defineProperty(method, 'length', { value: nativeMethod.length });
      internals.markNative(method);
      Object.defineProperty(proto, key, { value: method, writable: d.writable, enumerable: d.enumerable, configurable: d.configurable });
    } else if (d.get) {
      const nativeGet = d.get;
      const bound = boundGetters.includes(key);
      const get = {
        get [key]() {
          const n = nativeOf(this, key);
          if (!bound) return ReflectApply(nativeGet, n, []);
          let m = boundOf.get(this);
          if (m === undefined) { m = new Map(); boundOf.set(this, m); }
          let fn = m.get(key);
          if (fn === undefined) {
            const self = this;
            const length = ReflectApply(nativeGet, n, []).length;
            fn = (...a) => ReflectApply(ReflectApply(nativeGet, nativeOf(self, key), []), undefined, a);
            Object.defineProperty(fn, 'length', { value: length });
            Object.defineProperty(fn, 'name', { value: '' });
            internals.markNative(fn);
            m.set(key, fn);
          }
          return fn;
        },
      };
      const getter = Object.getOwnPropertyDescriptor(get, key).get;
      internals.markNative(getter);
      Object.defineProperty(proto, key, { get: getter, enumerable: d.enumerable, configurable: d.configurable });
    }
  }
  for (const key of Object.getOwnPropertyNames(Native)) {
    if (key === 'prototype' || key === 'length' || key === 'name') continue;
    const d = Object.getOwnPropertyDescriptor(Native, key);
    if (typeof d.value !== 'function') continue;
    const nativeStatic = d.value;
    const fn = { [key](...a) { return ReflectApply(nativeStatic, Native, a.map(toNativeLocales)); } }[key];
    Object.defineProperty(fn, 'length', { value: nativeStatic.length });
    internals.markNative(fn);
    Object.defineProperty(Wrapper, key, { value: fn, writable: true, enumerable: false, configurable: true });
  }
  Object.defineProperty(Wrapper, 'prototype', { writable: false, enumerable: false, configurable: false });
  wrappers.set(name, Wrapper);
  Object.defineProperty(Intl, name, { value: Wrapper, writable: true, enumerable: false, configurable: true });
}

// Intl.Segmenter.prototype.segment: a Segments-like object whose iterators
// are generators over fresh native results, so none outlives its turn.
function makeSegments(getNative, nativeSegment, string) {
  const fresh = () => ReflectApply(nativeSegment, getNative(), [string]);
  const segments = {
    containing(index) { return fresh().containing(index); },
    *[Symbol.iterator]() { yield* Array.from(fresh()); },
  };
  return segments;
}

wrap('Collator', true, ['compare']);
wrap('DateTimeFormat', true, ['format']);
wrap('NumberFormat', true, ['format']);
wrap('PluralRules', false, []);
wrap('RelativeTimeFormat', false, []);
wrap('ListFormat', false, []);
wrap('DisplayNames', false, []);
wrap('Locale', false, []);
wrap('Segmenter', false, []);
// Intl.v8BreakIterator is V8's pre-standard API; its ICU state cannot be
// checkpointed and Intl.Segmenter replaces it.
delete Intl.v8BreakIterator;
