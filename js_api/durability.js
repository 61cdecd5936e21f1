// Switches the heap's globals to a durability mode (runtime/node/durability.h)
// when a store changes mode or is created in one. Journal mode replays
// turns, so the globals whose results depend on garbage-collection timing
// cannot be used there: WeakRef (deref() answers depend on when the GC ran)
// is replaced by a constructor that throws, as FinalizationRegistry is in
// every mode (unsupported.js). Snapshot mode gets the native WeakRef back.
// Idempotent. Runs as `function (natives, internals)`, not at heap creation
// but in the turn that switches, with internals.durabilityTarget set.
'use strict';
const {
  WeakRef: NativeWeakRef,
  ObjectDefineProperty,
  TypeError,
  globalThis: global,
} = internals.primordials;
{
  const mode = internals.durabilityTarget;
  let WeakRefGlobal = NativeWeakRef;
  if (mode === 'journal') {
    WeakRefGlobal = function WeakRef(target) {
      throw new TypeError(
          'WeakRef is not available in journal mode: what deref() answers depends on when the garbage ' +
          'collector ran, which a replay of the journal cannot repeat (use a Map, or durability: snapshot)');
    };
    ObjectDefineProperty(WeakRefGlobal, 'prototype', { __proto__: null, value: NativeWeakRef.prototype, writable: false });
    internals.markNative(WeakRefGlobal);
  }
  ObjectDefineProperty(NativeWeakRef.prototype, 'constructor', {
    __proto__: null, value: WeakRefGlobal, writable: true, configurable: true,
  });
  ObjectDefineProperty(global, 'WeakRef', {
    __proto__: null, value: WeakRefGlobal, writable: true, enumerable: false, configurable: true,
  });
  internals.durability = mode;
}
