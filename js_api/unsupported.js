// Builtins whose objects a checkpoint cannot hold. FinalizationRegistry: its
// cleanup callbacks are scheduled by the garbage collector, and a registry
// whose target died makes V8's CreateBlob abort the process (BUILDING.md).
// The constructor stays (so feature tests see it) but throws in the turn that
// uses it, which aborts that turn cleanly instead of crashing at checkpoint.
//
// Runs as `function (natives, internals)`.
'use strict';
{
  const NativeFR = FinalizationRegistry;
  const FR = function FinalizationRegistry(cleanupCallback) {
    throw new TypeError(
        'FinalizationRegistry is not supported in a persistent Ken isolate: its cleanup callbacks ' +
        'depend on garbage collection, which a checkpoint cannot hold');
  };
  Object.defineProperty(FR, 'prototype', { value: NativeFR.prototype, writable: false });
  internals.markNative(FR);
  Object.defineProperty(NativeFR.prototype, 'constructor', { value: FR, writable: true, configurable: true });
  Object.defineProperty(globalThis, 'FinalizationRegistry', { value: FR, writable: true, enumerable: false, configurable: true });
}
