// Ken's own copies of the intrinsics its built-in JS uses ("primordials", as
// in Node.js). User code runs in the same realm as js_api/*.js and may
// replace or poison any builtin: Map.prototype.clear, Array.prototype
// [Symbol.iterator], JSON.stringify, Function.prototype.call, getters on
// Object.prototype... The built-in scripts run once, when a store is created,
// before any user code exists; this one, the first, copies every intrinsic
// they may need into internals.primordials, a frozen null-prototype object
// that only the built-in scripts can reach (each destructures what it uses at
// its top). Naming follows Node.js:
//   Map, String, ...            the constructors
//   MapPrototype, ...           their prototype objects
//   ObjectKeys, JSONStringify   static functions (called without `this`) and
//   NumberMAX_SAFE_INTEGER        constant values
//   SymbolIterator              well-known symbols
//   MapPrototypeGet(map, k)     prototype methods, uncurried: the receiver is
//                               the first argument
//   MapPrototypeGetSize(map)    prototype getters (and setters: ...Set...)
//   ArrayPrototypeSymbolIterator(a), ArrayIteratorPrototypeNext(it), ...
// plus a few helpers (at the end).
//
// Rules for the built-in code that runs after creation (in turns):
//   - call intrinsics only through these copies;
//   - no for-of, spread or array destructuring over arrays, Maps or Sets (they
//     use %ArrayIteratorPrototype%.next and friends); rest parameters are fine;
//   - internal records and lists have a null prototype (`{ __proto__: null }`,
//     NullProtoArray()), so a getter or setter on Object.prototype or an index
//     accessor on Array.prototype is never reached, and array methods that
//     consult `constructor` / Symbol.species on their receiver find nothing;
//   - `instanceof` consults C[Symbol.hasInstance], which user code can define
//     on any constructor: use FunctionPrototypeSymbolHasInstance(C, v);
//   - String.prototype.split/replace/replaceAll/match with a string argument
//     look up Symbol.split/... on String.prototype and Object.prototype: avoid
//     them (indexOf and slice do not).
//
// Runs as `function (natives, internals)`; sets internals.primordials.
'use strict';
{
  const { apply: ReflectApply, getOwnPropertyDescriptor: ReflectGetOwnPropertyDescriptor,
          ownKeys: ReflectOwnKeys } = Reflect;
  const { defineProperty: ObjectDefineProperty, freeze: ObjectFreeze, getPrototypeOf: ObjectGetPrototypeOf,
          setPrototypeOf: ObjectSetPrototypeOf } = Object;
  const { bind, call } = Function.prototype;
  // uncurryThis(fn)(self, ...args) calls fn with `this` = self. It is
  // call.bind(fn): a bound function whose target is the original `call`, so
  // nothing is looked up when it runs.
  const uncurryThis = ReflectApply(bind, bind, [call]);
  const StringPrototypeToUpperCase = uncurryThis(String.prototype.toUpperCase);
  const StringPrototypeSlice = uncurryThis(String.prototype.slice);
  const StringPrototypeStartsWith = uncurryThis(String.prototype.startsWith);
  const ObjectPrototypeHasOwnProperty = uncurryThis(Object.prototype.hasOwnProperty);
  const SymbolPrototypeGetDescription = uncurryThis(ReflectGetOwnPropertyDescriptor(Symbol.prototype, 'description').get);

  const primordials = { __proto__: null };
  const define = (name, value) => {
    ObjectDefineProperty(primordials, name, { __proto__: null, value, writable: false, enumerable: true, configurable: false });
  };
  // 'toLowerCase' -> 'ToLowerCase'; Symbol.iterator -> 'SymbolIterator'.
  const keyName = (key) => {
    if (typeof key === 'symbol') {
      const d = SymbolPrototypeGetDescription(key);
      const bare = StringPrototypeStartsWith(d, 'Symbol.') ? StringPrototypeSlice(d, 7) : d;
      return `Symbol${StringPrototypeToUpperCase(StringPrototypeSlice(bare, 0, 1))}${StringPrototypeSlice(bare, 1)}`;
    }
    return `${StringPrototypeToUpperCase(StringPrototypeSlice(key, 0, 1))}${StringPrototypeSlice(key, 1)}`;
  };
  // Static members: functions and values as they are.
  const copyStatics = (prefix, source) => {
    const keys = ReflectOwnKeys(source);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      if (key === 'prototype' || key === 'length' || key === 'name' || key === 'caller' || key === 'arguments') continue;
      const d = ReflectGetOwnPropertyDescriptor(source, key);
      if (ObjectPrototypeHasOwnProperty(d, 'value')) define(`${prefix}${keyName(key)}`, d.value);
    }
  };
  // Prototype members: methods and accessors, uncurried.
  const copyPrototype = (prefix, source) => {
    const keys = ReflectOwnKeys(source);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      if (key === 'constructor') continue;
      const d = ReflectGetOwnPropertyDescriptor(source, key);
      const name = keyName(key);
      if (ObjectPrototypeHasOwnProperty(d, 'value')) {
        if (typeof d.value === 'function') define(`${prefix}${name}`, uncurryThis(d.value));
      } else {
        if (typeof d.get === 'function') define(`${prefix}Get${name}`, uncurryThis(d.get));
        if (typeof d.set === 'function') define(`${prefix}Set${name}`, uncurryThis(d.set));
      }
    }
  };

  define('globalThis', globalThis);
  define('uncurryThis', uncurryThis);
  const constructors = [
    'Array', 'ArrayBuffer', 'BigInt', 'BigInt64Array', 'BigUint64Array', 'Boolean', 'DataView', 'Date', 'Error',
    'EvalError', 'FinalizationRegistry', 'Float32Array', 'Float64Array', 'Function', 'Int16Array', 'Int32Array',
    'Int8Array', 'Map', 'Number', 'Object', 'Promise', 'Proxy', 'RangeError', 'ReferenceError', 'RegExp', 'Set',
    'String', 'Symbol', 'SyntaxError', 'TypeError', 'URIError', 'Uint16Array', 'Uint32Array', 'Uint8Array',
    'Uint8ClampedArray', 'WeakMap', 'WeakRef', 'WeakSet',
  ];
  for (let i = 0; i < constructors.length; i++) {
    const name = constructors[i];
    const ctor = globalThis[name];
    if (typeof ctor !== 'function') continue;
    define(name, ctor);
    copyStatics(name, ctor);
    if (ctor.prototype !== undefined) {
      define(`${name}Prototype`, ctor.prototype);
      copyPrototype(`${name}Prototype`, ctor.prototype);
    }
  }
  const namespaces = ['JSON', 'Math', 'Reflect'];
  for (let i = 0; i < namespaces.length; i++) copyStatics(namespaces[i], globalThis[namespaces[i]]);
  const functions = ['parseInt', 'parseFloat', 'isNaN', 'isFinite'];
  for (let i = 0; i < functions.length; i++) define(functions[i], globalThis[functions[i]]);

  // Intrinsics without a global name.
  const TypedArray = ObjectGetPrototypeOf(Int8Array);
  define('TypedArray', TypedArray);
  copyStatics('TypedArray', TypedArray);
  define('TypedArrayPrototype', TypedArray.prototype);
  copyPrototype('TypedArrayPrototype', TypedArray.prototype);
  const arrayIterator = [][Symbol.iterator]();
  const iteratorPrototypes = [
    ['ArrayIteratorPrototype', ObjectGetPrototypeOf(arrayIterator)],
    ['IteratorPrototype', ObjectGetPrototypeOf(ObjectGetPrototypeOf(arrayIterator))],
    ['MapIteratorPrototype', ObjectGetPrototypeOf(new Map()[Symbol.iterator]())],
    ['SetIteratorPrototype', ObjectGetPrototypeOf(new Set()[Symbol.iterator]())],
    ['StringIteratorPrototype', ObjectGetPrototypeOf(''[Symbol.iterator]())],
  ];
  for (let i = 0; i < iteratorPrototypes.length; i++) {
    define(iteratorPrototypes[i][0], iteratorPrototypes[i][1]);
    copyPrototype(iteratorPrototypes[i][0], iteratorPrototypes[i][1]);
  }

  // Helpers.
  // A new, empty array with a null prototype: indices written to it and the
  // `constructor` read by slice/concat/map never reach a prototype.
  define('NullProtoArray', () => ObjectSetPrototypeOf([], null));
  // Object.getOwnPropertyDescriptor with a null-prototype result: reading
  // d.get of a data property (or d.value of an accessor) finds nothing on
  // Object.prototype. Proxies answer through their own traps, as usual.
  define('GetOwnPropertyDescriptor', (object, key) => {
    const d = ReflectGetOwnPropertyDescriptor(object, key);
    return d === undefined ? undefined : ObjectSetPrototypeOf(d, null);
  });

  internals.primordials = ObjectFreeze(primordials);
  // The built-ins' own state (timer table, handlers, Intl caches, console
  // counters), one null-prototype record per script, kept here rather than
  // in closures so that a later Ken can upgrade the built-ins of an existing
  // heap and carry their state over (versioned upgrade functions).
  internals.state = ObjectSetPrototypeOf({}, null);
}
