// The host-defined print() of test262 (INTERPRETING.md), which async tests'
// $DONE (harness/doneprintHandle.js) reports through; the only host hook
// either runner provides (plain_v8_runner.cc defines the same, natively).
// ken_test262_test.cc loads it into the template store before the harness.
(function () {
  Object.defineProperty(globalThis, 'print', {
    value: function print(message) { console.log(String(message)); },
    writable: true, enumerable: false, configurable: true,
  });
})();
