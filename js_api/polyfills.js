// Builtins that V8 10.2 installs only in isolates that are not creating a
// snapshot (flag-gated "harmony" features; see docs/engine.md). Ken's
// heaps are always made by a SnapshotCreator, so these are defined here, once,
// when a store is created, and persist with the heap. Each follows its
// ECMAScript 2023 definition: same name, length, attributes (writable,
// non-enumerable, configurable) and not a constructor (method syntax).
//
// Runs as `function (natives, internals)`. Like every built-in script it calls
// intrinsics only through internals.primordials (see primordials.js), so later
// changes by user code cannot redirect the builtins.
'use strict';
const {
  ArrayBuffer,
  ArrayPrototype,
  FunctionPrototype,
  FunctionPrototypeSymbolHasInstance,
  MathMin,
  MathTrunc,
  NumberMAX_SAFE_INTEGER,
  Object,
  ObjectDefineProperty,
  ObjectKeys,
  ObjectPrototypeHasOwnProperty,
  ReflectApply,
  String,
  StringPrototype,
  SymbolUnscopables,
  TypeError,
  TypedArrayPrototype,
  TypedArrayPrototypeGetBuffer,
  TypedArrayPrototypeGetByteLength,
  TypedArrayPrototypeGetByteOffset,
  TypedArrayPrototypeGetLength,
  Uint8Array,
  WeakMap,
  WeakMapPrototypeGet,
  WeakMapPrototypeSet,
} = internals.primordials;

// Built-in functions written in JS must still look native: per ECMA-262
// 20.2.3.5, Function.prototype.toString of a built-in returns the
// NativeFunction form. Every built-in JS function Ken defines is registered
// with internals.markNative, and toString answers for it as V8 does for its
// own builtins.
const nativeNames = new WeakMap();  // function -> name at registration
internals.markNative = (...fns) => {
  for (let i = 0; i < fns.length; i++) {
    const fn = fns[i];
    const name = fn.name;  // own: every function Ken registers has one
    WeakMapPrototypeSet(nativeNames, fn, typeof name === 'string' ? name : '');
  }
};
{
  const originalToString = FunctionPrototype.toString;  // V8's (no user code exists yet)
  const toString = {
    toString() {
      const name = typeof this === 'function' ? WeakMapPrototypeGet(nativeNames, this) : undefined;
      if (name !== undefined) return `function ${name}() { [native code] }`;
      return ReflectApply(originalToString, this, []);
    },
  }.toString;
  internals.markNative(toString);
  ObjectDefineProperty(FunctionPrototype, 'toString', {
    __proto__: null, value: toString, writable: true, enumerable: false, configurable: true,
  });
}

// Runs now, at creation.
const defineMethods = (target, methods) => {
  const keys = ObjectKeys(methods);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    if (ObjectPrototypeHasOwnProperty(target, key)) continue;
    internals.markNative(methods[key]);
    ObjectDefineProperty(target, key, {
      __proto__: null, value: methods[key], writable: true, enumerable: false, configurable: true,
    });
  }
};

// ToIntegerOrInfinity (ECMA-262 7.1.5).
const toIntegerOrInfinity = (value) => {
  const n = +value;
  if (n !== n || n === 0) return 0;
  if (n === Infinity || n === -Infinity) return n;
  return MathTrunc(n);
};
// ToLength (7.1.20).
const toLength = (value) => {
  const len = toIntegerOrInfinity(value);
  return len <= 0 ? 0 : MathMin(len, NumberMAX_SAFE_INTEGER);
};
const requireCallable = (fn, what) => {
  if (typeof fn !== 'function') throw new TypeError(`${String(fn)} is not a function (${what})`);
};

// ValidateTypedArray (23.2.4.4): the `length` getter throws a TypeError for
// anything that is not a TypedArray.
const validateTypedArray = (o, method) => {
  const len = TypedArrayPrototypeGetLength(o);  // throws TypeError if not a TypedArray
  // A detached buffer reads as length 0 in V8; detach is observable through
  // the buffer's byteLength getter only when the view was non-empty.
  if (len === 0 && TypedArrayPrototypeGetByteLength(o) === 0 && TypedArrayPrototypeGetByteOffset(o) === 0) {
    const buffer = TypedArrayPrototypeGetBuffer(o);
    if (FunctionPrototypeSymbolHasInstance(ArrayBuffer, buffer)) {
      try { new Uint8Array(buffer); } catch (e) {
        throw new TypeError(`Cannot perform ${method} on a detached ArrayBuffer`);
      }
    }
  }
  return len;
};

// Object.hasOwn (20.1.2.13).
defineMethods(Object, {
  hasOwn(O, P) {
    if (O == null) throw new TypeError('Cannot convert undefined or null to object');
    return ObjectPrototypeHasOwnProperty(O, P);
  },
});

// Array.prototype.at / findLast / findLastIndex (23.1.3.1, .11, .12).
defineMethods(ArrayPrototype, {
  at(index) {
    if (this == null) throw new TypeError('Array.prototype.at called on null or undefined');
    const O = Object(this);
    const len = toLength(O.length);
    const rel = toIntegerOrInfinity(index);
    const k = rel >= 0 ? rel : len + rel;
    if (k < 0 || k >= len) return undefined;
    return O[k];
  },
  findLast(predicate) {  // length 1: thisArg is optional
    const thisArg = arguments[1];
    if (this == null) throw new TypeError('Array.prototype.findLast called on null or undefined');
    const O = Object(this);
    const len = toLength(O.length);
    requireCallable(predicate, 'Array.prototype.findLast');
    for (let k = len - 1; k >= 0; k--) {
      const value = O[k];
      if (ReflectApply(predicate, thisArg, [value, k, O])) return value;
    }
    return undefined;
  },
  findLastIndex(predicate) {  // length 1: thisArg is optional
    const thisArg = arguments[1];
    if (this == null) throw new TypeError('Array.prototype.findLastIndex called on null or undefined');
    const O = Object(this);
    const len = toLength(O.length);
    requireCallable(predicate, 'Array.prototype.findLastIndex');
    for (let k = len - 1; k >= 0; k--) {
      if (ReflectApply(predicate, thisArg, [O[k], k, O])) return k;
    }
    return -1;
  },
});
// The new methods are in Array.prototype[@@unscopables] (23.1.3.38).
{
  const unscopables = ArrayPrototype[SymbolUnscopables];
  const keys = ['at', 'findLast', 'findLastIndex'];
  for (let i = 0; i < keys.length; i++) {
    if (!ObjectPrototypeHasOwnProperty(unscopables, keys[i])) {
      ObjectDefineProperty(unscopables, keys[i], {
        __proto__: null, value: true, writable: true, enumerable: true, configurable: true,
      });
    }
  }
}

// String.prototype.at (22.1.3.1).
defineMethods(StringPrototype, {
  at(index) {
    if (this == null) throw new TypeError('String.prototype.at called on null or undefined');
    const S = `${this}`;  // ToString: throws on a Symbol, unlike String()
    const len = S.length;
    const rel = toIntegerOrInfinity(index);
    const k = rel >= 0 ? rel : len + rel;
    if (k < 0 || k >= len) return undefined;
    return S[k];
  },
});

// %TypedArray%.prototype.at / findLast / findLastIndex (23.2.3.1, .13, .14).
defineMethods(TypedArrayPrototype, {
  at(index) {
    const len = validateTypedArray(this, '%TypedArray%.prototype.at');
    const rel = toIntegerOrInfinity(index);
    const k = rel >= 0 ? rel : len + rel;
    if (k < 0 || k >= len) return undefined;
    return this[k];
  },
  findLast(predicate) {  // length 1: thisArg is optional
    const thisArg = arguments[1];
    const len = validateTypedArray(this, '%TypedArray%.prototype.findLast');
    requireCallable(predicate, '%TypedArray%.prototype.findLast');
    for (let k = len - 1; k >= 0; k--) {
      const value = this[k];
      if (ReflectApply(predicate, thisArg, [value, k, this])) return value;
    }
    return undefined;
  },
  findLastIndex(predicate) {  // length 1: thisArg is optional
    const thisArg = arguments[1];
    const len = validateTypedArray(this, '%TypedArray%.prototype.findLastIndex');
    requireCallable(predicate, '%TypedArray%.prototype.findLastIndex');
    for (let k = len - 1; k >= 0; k--) {
      if (ReflectApply(predicate, thisArg, [this[k], k, this])) return k;
    }
    return -1;
  },
});

// Error.stackTraceLimit is undefined in snapshot contexts, which leaves
// `err.stack` undefined; plain V8 sets 10.
if (typeof Error.stackTraceLimit !== 'number') Error.stackTraceLimit = 10;
