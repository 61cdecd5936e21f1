// Builtins whose objects a checkpoint cannot hold. FinalizationRegistry: its
// cleanup callbacks are scheduled by the garbage collector, and a registry
// whose target died makes V8's CreateBlob abort the process (docs/engine.md).
// The constructor stays (so feature tests see it) but throws in the turn that
// uses it, which aborts that turn cleanly instead of crashing at checkpoint.
//
// Runs as `function (natives, internals)`.
'use strict';
const {
  FinalizationRegistry: NativeFR,
  ObjectDefineProperty,
  TypeError,
  globalThis: global,
} = internals.primordials;
{
  const FR = function FinalizationRegistry(cleanupCallback) {
    throw new TypeError(
        'FinalizationRegistry is not supported in a persistent Ken isolate: its cleanup callbacks ' +
        'depend on garbage collection, which a checkpoint cannot hold');
  };
  ObjectDefineProperty(FR, 'prototype', { __proto__: null, value: NativeFR.prototype, writable: false });
  internals.markNative(FR);
  ObjectDefineProperty(NativeFR.prototype, 'constructor', {
    __proto__: null, value: FR, writable: true, configurable: true,
  });
  ObjectDefineProperty(global, 'FinalizationRegistry', {
    __proto__: null, value: FR, writable: true, enumerable: false, configurable: true,
  });
}
