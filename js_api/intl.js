// Snapshot-safe Intl. V8 cannot serialize the ICU objects behind Intl
// instances (CreateBlob hits a CHECK; see docs/engine.md), so each Intl
// constructor is replaced by a wrapper that keeps only plain data in the heap:
// the resolved locale and a copy of the options it was given. The native ICU
// object is made from them on first use and cached in `live`, which is emptied
// before every checkpoint, so no native object is ever in a snapshot. Results
// are the native ones; functions handed out (`format`, `compare`) and
// iterables (`segment`) are JS closures that re-enter through the cache.
//
// The native constructors, their prototypes and the native objects are never
// handed to user code, so what is found on them cannot be replaced; the
// wrappers call the native methods captured here all the same.
//
// Runs as `function (natives, internals)`.
'use strict';
const {
  ArrayFrom,
  ArrayIsArray,
  ArrayPrototype,
  ArrayPrototypePush,
  FunctionPrototypeSymbolHasInstance,
  GetOwnPropertyDescriptor,
  Map,
  MapPrototypeClear,
  MapPrototypeGet,
  MapPrototypeSet,
  NullProtoArray,
  ObjectDefineProperty,
  ObjectGetOwnPropertyNames,
  ObjectSetPrototypeOf,
  Proxy,
  ReflectApply,
  ReflectConstruct,
  ReflectGet,
  ReflectOwnKeys,
  String,
  SymbolIterator,
  SymbolToStringTag,
  TypeError,
  WeakMap,
  WeakMapPrototypeGet,
  WeakMapPrototypeSet,
} = internals.primordials;
const live = new Map();  // wrapper -> native ICU-backed object; cleared before each checkpoint
internals.beforeCheckpoint[internals.beforeCheckpoint.length] = () => { MapPrototypeClear(live); };

const argsOf = new WeakMap();  // wrapper instance -> { Native, list: [locales, options] } (plain data)
const boundOf = new WeakMap();  // wrapper instance -> Map(getter name -> closure)
internals.state.intl = { __proto__: null, live, argsOf, boundOf };
let LocaleWrapper = null;
let nativeLocaleToString = null;

// Locale wrappers must reach native code as their tag: native
// CanonicalizeLocaleList would read a foreign object as an empty list.
const localeTag = (l) => {
  if (LocaleWrapper !== null && FunctionPrototypeSymbolHasInstance(LocaleWrapper, l)) {
    return ReflectApply(nativeLocaleToString, nativeOf(l, 'Locale', LocaleWrapper, 'toString'), []);
  }
  return l;
};
const toNativeLocales = (locales) => {
  if (!ArrayIsArray(locales)) return localeTag(locales);
  // A new array, as locales.map(localeTag) made (holes included; each
  // element read once), without Array.prototype.map: filled while it has no
  // prototype (no index setter on Array.prototype is reached), then an
  // ordinary array, because native code may iterate it (ListFormat.format).
  const len = locales.length;
  const out = NullProtoArray();
  out.length = len;
  for (let k = 0; k < len; k++) {
    if (k in locales) out[k] = localeTag(locales[k]);
  }
  return ObjectSetPrototypeOf(out, ArrayPrototype);
};
// The argument list of a call, with Locale wrappers as their tags.
const toNativeArgs = (args) => {
  const out = NullProtoArray();
  for (let i = 0; i < args.length; i++) ArrayPrototypePush(out, toNativeLocales(args[i]));
  return out;
};

// Hands `options` to the native constructor through a Proxy that records
// each option as the constructor reads it, so every option (and getter) is
// read exactly once, in the spec's order, and the copy holds exactly what
// the native object was built from.
const recordingOptions = (options, record) => {
  if (options === null || typeof options !== 'object') return options;
  return new Proxy(options, {
    __proto__: null,
    get(target, key) {
      const v = ReflectGet(target, key);
      if (typeof key === 'string' && v !== undefined) record[key] = v;
      return v;
    },
  });
};

// The native object behind wrapper instance `self` (made again from its plain
// data after a checkpoint).
function nativeOf(self, name, Wrapper, method) {
  const args = self !== null && (typeof self === 'object') ? WeakMapPrototypeGet(argsOf, self) : undefined;
  if (args === undefined || !FunctionPrototypeSymbolHasInstance(Wrapper, self)) {
    throw new TypeError(`Method Intl.${name}.prototype.${method} called on incompatible receiver ${String(self)}`);
  }
  let n = MapPrototypeGet(live, self);
  if (n === undefined) {
    n = ReflectConstruct(args.Native, args.list);
    MapPrototypeSet(live, self, n);
  }
  return n;
}

// Runs now, at creation: it reads the native Intl objects while no user code
// exists. Everything in the closures it makes runs later, in turns.
function wrap(name, callable, boundGetters) {
  const Native = Intl[name];
  if (typeof Native !== 'function') return;
  const NativeProto = Native.prototype;
  const resolvedOptions = name === 'Locale' ? null : NativeProto.resolvedOptions;
  const nativeToString = name === 'Locale' ? NativeProto.toString : null;
  if (name === 'Locale') nativeLocaleToString = nativeToString;
  const Wrapper = function (locales, options) {
    if (new.target === undefined) {
      if (!callable) throw new TypeError(`Constructor Intl.${name} requires 'new'`);
      return ReflectConstruct(Wrapper, arguments);
    }
    const record = { __proto__: null };
    const nativeArgs = [toNativeLocales(locales), recordingOptions(options, record)];
    const native = ReflectConstruct(Native, nativeArgs);  // validates exactly as V8 does
    // Keep what re-creates the same object later: the resolved locale (stable
    // across restarts even if the default locale changes) and the options.
    const tag = name === 'Locale' ? ReflectApply(nativeToString, native, [])
                                  : ReflectApply(resolvedOptions, native, []).locale;
    WeakMapPrototypeSet(argsOf, this, {
      __proto__: null,
      Native,
      list: name === 'Locale' ? [tag] : [tag, options === undefined ? undefined : record],
    });
    MapPrototypeSet(live, this, native);
  };
  ObjectDefineProperty(Wrapper, 'name', { __proto__: null, value: name });
  internals.markNative(Wrapper);
  ObjectDefineProperty(Wrapper, 'length', { __proto__: null, value: Native.length });
  const proto = Wrapper.prototype;
  ObjectDefineProperty(proto, 'constructor', { __proto__: null, value: Wrapper, writable: true, configurable: true });
  ObjectDefineProperty(proto, SymbolToStringTag, { __proto__: null, value: `Intl.${name}`, configurable: true });

  const protoKeys = ReflectOwnKeys(NativeProto);
  for (let i = 0; i < protoKeys.length; i++) {
    const key = protoKeys[i];
    if (key === 'constructor' || key === SymbolToStringTag) continue;
    const d = GetOwnPropertyDescriptor(NativeProto, key);
    if (typeof d.value === 'function') {
      const nativeMethod = d.value;
      const method = {
        [key](...a) {
          const n = nativeOf(this, name, Wrapper, key);
          if (key === 'segment') {
            const self = this;
            return makeSegments(() => nativeOf(self, name, Wrapper, key), nativeMethod, String(a.length > 0 ? a[0] : undefined));
          }
          const result = ReflectApply(nativeMethod, n, toNativeArgs(a));
          if (name === 'Locale' && FunctionPrototypeSymbolHasInstance(Native, result)) {
            return new Wrapper(ReflectApply(nativeToString, result, []));
          }
          return result;
        },
      }[key];
      ObjectDefineProperty(method, 'length', { __proto__: null, value: nativeMethod.length });
      internals.markNative(method);
      ObjectDefineProperty(proto, key, {
        __proto__: null, value: method, writable: d.writable, enumerable: d.enumerable, configurable: d.configurable,
      });
    } else if (d.get) {
      const nativeGet = d.get;
      let bound = false;
      for (let j = 0; j < boundGetters.length; j++) bound = bound || boundGetters[j] === key;
      const get = {
        get [key]() {
          const n = nativeOf(this, name, Wrapper, key);
          if (!bound) return ReflectApply(nativeGet, n, []);
          let m = WeakMapPrototypeGet(boundOf, this);
          if (m === undefined) {
            m = new Map();
            WeakMapPrototypeSet(boundOf, this, m);
          }
          let fn = MapPrototypeGet(m, key);
          if (fn === undefined) {
            const self = this;
            const length = ReflectApply(nativeGet, n, []).length;  // a native bound function's own length
            fn = (...a) => ReflectApply(ReflectApply(nativeGet, nativeOf(self, name, Wrapper, key), []), undefined, a);
            ObjectDefineProperty(fn, 'length', { __proto__: null, value: length });
            ObjectDefineProperty(fn, 'name', { __proto__: null, value: '' });
            internals.markNative(fn);
            MapPrototypeSet(m, key, fn);
          }
          return fn;
        },
      };
      const getter = GetOwnPropertyDescriptor(get, key).get;
      internals.markNative(getter);
      ObjectDefineProperty(proto, key, {
        __proto__: null, get: getter, enumerable: d.enumerable, configurable: d.configurable,
      });
    }
  }
  const staticKeys = ObjectGetOwnPropertyNames(Native);
  for (let i = 0; i < staticKeys.length; i++) {
    const key = staticKeys[i];
    if (key === 'prototype' || key === 'length' || key === 'name') continue;
    const d = GetOwnPropertyDescriptor(Native, key);
    if (typeof d.value !== 'function') continue;
    const nativeStatic = d.value;
    const fn = { [key](...a) { return ReflectApply(nativeStatic, Native, toNativeArgs(a)); } }[key];
    ObjectDefineProperty(fn, 'length', { __proto__: null, value: nativeStatic.length });
    internals.markNative(fn);
    ObjectDefineProperty(Wrapper, key, { __proto__: null, value: fn, writable: true, enumerable: false, configurable: true });
  }
  ObjectDefineProperty(Wrapper, 'prototype', { __proto__: null, writable: false, enumerable: false, configurable: false });
  if (name === 'Locale') LocaleWrapper = Wrapper;
  ObjectDefineProperty(Intl, name, { __proto__: null, value: Wrapper, writable: true, enumerable: false, configurable: true });
}

// Intl.Segmenter.prototype.segment: a Segments-like object whose iterators
// are generators over fresh native results, so none outlives its turn. The
// native Segments object and its iterator are never handed out, so their
// `containing`, [Symbol.iterator] and `next` are V8's.
function makeSegments(getNative, nativeSegment, string) {
  const fresh = () => ReflectApply(nativeSegment, getNative(), [string]);
  const segments = {
    containing(index) { return fresh().containing(index); },
    *[SymbolIterator]() {
      const all = ArrayFrom(fresh());
      for (let i = 0; i < all.length; i++) yield all[i];
    },
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
