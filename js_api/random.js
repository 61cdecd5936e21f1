// Math.random from a generator whose state lives in the heap. V8 resets its
// own generator's state in every snapshot (the context serializer's
// MathRandom::ResetContext), so after each restore of a checkpoint it would
// start afresh: two restores of one checkpoint would see different
// sequences, and a turn could not be replayed. This one is xoshiro128**
// (Blackman and Vigna, https://prng.di.unimi.it/), seeded once from OS
// entropy when the store is created (internals.randomSeed, four 32-bit words
// from the host), its state in internals.state.random; each value takes 53
// bits from two outputs, as V8's does. It is not a cryptographic generator
// (neither is V8's Math.random).
//
// Runs as `function (natives, internals)`.
'use strict';
const {
  MathImul,
  ObjectDefineProperty,
  Uint32Array,
  globalThis: global,
} = internals.primordials;
{
  // Kept when this script runs again to upgrade an existing heap's built-ins.
  let s;
  if (internals.state.random !== undefined) {
    s = internals.state.random.s;
  } else {
    const seed = internals.randomSeed;
    s = new Uint32Array(4);
    for (let i = 0; i < 4; i++) s[i] = seed[i] >>> 0;
    if ((s[0] | s[1] | s[2] | s[3]) === 0) s[0] = 0x9e3779b9;  // the all-zero state never leaves zero
    internals.state.random = { __proto__: null, s };
  }
  const rotl = (x, k) => (x << k) | (x >>> (32 - k));
  const next = () => {
    const result = MathImul(rotl(MathImul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  };
  const random = { random() { return ((next() >>> 5) * 67108864 + (next() >>> 6)) / 9007199254740992; } }.random;
  internals.markNative(random);
  ObjectDefineProperty(global.Math, 'random', {
    __proto__: null, value: random, writable: true, enumerable: false, configurable: true,
  });
}
