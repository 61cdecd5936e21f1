// The builtins V8 10.2 leaves out of snapshot-creating isolates, as provided
// by polyfills.js and unsupported.js: checked against their ECMAScript
// definitions, in a new heap and again after a restore in a fresh process.
#include <string>
#include <utility>

#include "gtest/gtest.h"
#include "runtime/isolate/v8_init.h"
#include "runtime/node/node.h"
#include "runtime/turn/dispatcher.h"
#include "tests/util/subprocess.h"

namespace ken {
namespace {

// Each case is a script that throws (with a message) when the builtin is off.
const std::pair<const char*, const char*> kCases[] = {
    {"Object.hasOwn", R"js(
      const d = Object.getOwnPropertyDescriptor(Object, 'hasOwn');
      assert(d.writable && !d.enumerable && d.configurable, 'attributes');
      assert(Object.hasOwn.length === 2 && Object.hasOwn.name === 'hasOwn', 'length/name');
      assert(Object.hasOwn({ a: 1 }, 'a') === true && Object.hasOwn({}, 'toString') === false, 'result');
      const s = Symbol(); assert(Object.hasOwn({ [s]: 1 }, s), 'symbol key');
      assert(Object.hasOwn('abc', 'length') && Object.hasOwn([1], 0), 'ToObject / ToPropertyKey');
      assertThrows(TypeError, () => Object.hasOwn(null, 'a'));
      assertThrows(TypeError, () => Object.hasOwn(undefined, { toString() { throw new Error('key first'); } }));
      assertThrows(TypeError, () => new Object.hasOwn({}, 'a'));
    )js"},
    {"Array.prototype.at", R"js(
      const d = Object.getOwnPropertyDescriptor(Array.prototype, 'at');
      assert(d.writable && !d.enumerable && d.configurable, 'attributes');
      assert(Array.prototype.at.length === 1 && Array.prototype.at.name === 'at', 'length/name');
      const a = [1, 2, 3];
      assert(a.at(0) === 1 && a.at(-1) === 3 && a.at(3) === undefined && a.at(-4) === undefined, 'indices');
      assert(a.at(1.9) === 2 && a.at('1') === 2 && a.at(NaN) === 1 && a.at() === 1, 'ToIntegerOrInfinity');
      assert(Array.prototype.at.call({ length: 2, 0: 'x', 1: 'y' }, -1) === 'y', 'generic');
      assert(Array.prototype[Symbol.unscopables].at === true, 'unscopables');
      assertThrows(TypeError, () => Array.prototype.at.call(null, 0));
      assertThrows(TypeError, () => new a.at(0));
    )js"},
    {"Array.prototype.findLast/findLastIndex", R"js(
      for (const name of ['findLast', 'findLastIndex']) {
        const d = Object.getOwnPropertyDescriptor(Array.prototype, name);
        assert(d.writable && !d.enumerable && d.configurable, name + ' attributes');
        assert(Array.prototype[name].length === 1 && Array.prototype[name].name === name, name + ' length/name');
        assert(Array.prototype[Symbol.unscopables][name] === true, name + ' unscopables');
        assertThrows(TypeError, () => [1].findLast.call([1], 'not callable'));
      }
      const visited = [];
      const r = [1, , 3, 4].findLast(function (v, i, o) { visited.push(i); assert(this.t === 1, 'thisArg'); return v === undefined; }, { t: 1 });
      assert(r === undefined && visited.join() === '3,2,1', 'visits holes from the end');
      assert([1, 2, 3, 4].findLast((x) => x % 2) === 3 && [1, 2, 3, 4].findLastIndex((x) => x % 2) === 2, 'result');
      assert([].findLastIndex(() => true) === -1 && [5].findLast(() => false) === undefined, 'not found');
      assert(Array.prototype.findLastIndex.call({ length: 2, 0: 'a', 1: 'b' }, (v) => v === 'a') === 0, 'generic');
    )js"},
    {"String.prototype.at", R"js(
      const d = Object.getOwnPropertyDescriptor(String.prototype, 'at');
      assert(d.writable && !d.enumerable && d.configurable, 'attributes');
      assert(String.prototype.at.length === 1 && String.prototype.at.name === 'at', 'length/name');
      assert('abc'.at(-1) === 'c' && 'abc'.at(5) === undefined && 'abc'.at(0) === 'a', 'indices');
      assert(String.prototype.at.call(123, 0) === '1', 'ToString(this)');
      assertThrows(TypeError, () => String.prototype.at.call(undefined, 0));
    )js"},
    {"%TypedArray%.prototype.at/findLast/findLastIndex", R"js(
      const TA = Object.getPrototypeOf(Int8Array);
      for (const name of ['at', 'findLast', 'findLastIndex']) {
        const d = Object.getOwnPropertyDescriptor(TA.prototype, name);
        assert(d.writable && !d.enumerable && d.configurable, name + ' attributes');
        assert(TA.prototype[name].length === 1 && TA.prototype[name].name === name, name + ' length/name');
        assertThrows(TypeError, () => TA.prototype[name].call([1, 2], () => true));
      }
      for (const C of [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array,
                       Uint32Array, Float32Array, Float64Array]) {
        const t = new C([1, 2, 3]);
        assert(t.at(-1) === 3 && t.at(3) === undefined, C.name + ' at');
        assert(t.findLast((x) => x < 3) === 2 && t.findLastIndex((x) => x > 5) === -1, C.name + ' findLast');
      }
      const b = new BigInt64Array([1n, 2n]);
      assert(b.at(-1) === 2n && b.findLastIndex((x) => x === 1n) === 0, 'BigInt64Array');
    )js"},
    {"Error.stackTraceLimit and err.stack", R"js(
      assert(Error.stackTraceLimit === 10, 'stackTraceLimit');
      function inner() { return new Error('x'); }
      const e = inner();
      assert(typeof e.stack === 'string' && e.stack.startsWith('Error: x') && e.stack.includes('inner'), 'stack');
      assert(new Error('m', { cause: 1 }).cause === 1, 'cause');
    )js"},
    {"built-ins written in JS look native", R"js(
      const native = (f, name) => Function.prototype.toString.call(f) === `function ${name}() { [native code] }`;
      assert(native(Object.hasOwn, 'hasOwn') && native([].at, 'at') && native([].findLast, 'findLast'), 'polyfills');
      assert(native(Function.prototype.toString, 'toString'), 'toString itself');
      assert(native(Intl.NumberFormat, 'NumberFormat') && native(Intl.Collator.prototype.resolvedOptions, 'resolvedOptions'), 'Intl');
      const getter = Object.getOwnPropertyDescriptor(Intl.NumberFormat.prototype, 'format').get;
      assert(native(getter, 'get format') && native(new Intl.NumberFormat().format, ''), 'Intl getters and bound functions');
      assert(native(ken.send, 'send') && native(console.log, 'log'), 'ken and console');
      function user() { return 1; }
      assert(user.toString() === 'function user() { return 1; }', 'user functions keep their source');
      assertThrows(TypeError, () => Function.prototype.toString.call({}));
      assertThrows(TypeError, () => String.prototype.at.call(Symbol('s'), 0));
    )js"},
    {"Intl reads each option once", R"js(
      const reads = {};
      const options = {};
      for (const key of ['minimumFractionDigits', 'maximumFractionDigits', 'style', 'currency']) {
        Object.defineProperty(options, key, { get() { reads[key] = (reads[key] || 0) + 1; return key === 'style' ? 'currency' : key === 'currency' ? 'EUR' : 2; } });
      }
      const nf = new Intl.NumberFormat('en', options);
      assert(Object.values(reads).every((n) => n === 1), 'each option read once: ' + JSON.stringify(reads));
      assert(nf.format(1.5) === '€1.50', 'options applied: ' + nf.format(1.5));
    )js"},
    {"not persistable: absent or throwing", R"js(
      assert(typeof SharedArrayBuffer === 'undefined' && typeof Atomics === 'undefined', 'SAB/Atomics');
      assert(typeof WebAssembly === 'undefined', 'WebAssembly');
      assert(typeof FinalizationRegistry === 'function', 'FinalizationRegistry is visible');
      let message = '';
      try { new FinalizationRegistry(() => {}); } catch (e) { message = e instanceof TypeError ? e.message : ''; }
      assert(message.includes('not supported in a persistent Ken isolate'), 'clear error: ' + message);
    )js"},
};

constexpr char kPrelude[] = R"js(
  function assert(cond, what) { if (!cond) throw new Error('assertion failed: ' + what); }
  function assertThrows(C, fn) {
    try { fn(); } catch (e) { if (e instanceof C) return; throw new Error('threw ' + e + ', expected ' + C.name); }
    throw new Error('did not throw ' + C.name + ': ' + fn);
  }
)js";

void CheckAll(const std::string& path) {
  InitializeV8({});
  NodeOptions options;
  options.store_path = path;
  options.durability = ::ken::testing::DurabilityUnderTest();
  auto node = Node::Open(options);
  ASSERT_TRUE(node.ok()) << node.status();
  for (const auto& [name, script] : kCases) {
    TurnResult r =
        (*node)->RunBatch({MakeTurn(ShellRecord(std::string(kPrelude) + "{" + script + "}; 'ok'", name))}).results[0];
    EXPECT_TRUE(r.ok()) << name << ": " << r.error;
  }
}

TEST(BuiltinsTest, SpecBehaviourInNewHeapAndAfterRestore) {
  const std::string path = ::ken::testing::MakeTempDir() + "/builtins.ken";
  auto fresh = ::ken::testing::RunInChild([&] { CheckAll(path); });
  ASSERT_EQ(fresh.exit_code, 0) << fresh.output;
  auto restored = ::ken::testing::RunInChild([&] { CheckAll(path); });
  ASSERT_EQ(restored.exit_code, 0) << restored.output;
}

}  // namespace
}  // namespace ken
