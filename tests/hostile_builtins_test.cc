// A hostile program cannot break Ken's built-in JS. User code shares its realm
// with js_api/*.js and may replace or poison any builtin (prototype methods,
// iterators, getters on Object.prototype, JSON, Reflect, Function.prototype.call,
// the global constructors...). Ken's hooks (HTTP, timers, delivery, inspect,
// console, the before-checkpoint hooks) must keep working after that, through
// the real turn inputs of runtime/turn/dispatcher.h, and every commit must succeed;
// only turns in which the program itself uses a poisoned builtin fail.
//
// Everything V8 runs in forked children (V8 initialises once per process);
// the second child restores the poisoned heap from disk.
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "tests/util/turns.h"
#include "gtest/gtest.h"
#include "js_api/js_sources.h"
#include "js_api/natives.h"
#include "runtime/isolate/v8_init.h"
#include "runtime/node/node.h"
#include "tests/util/subprocess.h"
#include "v8.h"

namespace ken {
namespace {

using namespace ::ken::testing;  // NOLINT: the turn-input helpers

using ::ken::testing::RunInChild;

// The program, before it turns hostile: a message handler, an HTTP handler,
// timers, an Intl object in the heap, and sample values to print.
constexpr char kSetup[] = R"js(
  var count = 0, lastMsg = '', lastValue;
  ken.receive(function (v, from) {
    if (v !== null && typeof v === 'object' && v.text === 'bad') v.text.split('');  // uses a poisoned builtin
    count++;
    lastValue = v;
    lastMsg = from + ':' + v.text + ':' + v.n;
  });
  var jsonBody = Object.create(null);
  jsonBody.ok = true; jsonBody.n = 3; jsonBody.s = 'q"\u2603';
  function handleRequest(req, res) {
    if (req.path === '/json') { res.body = jsonBody; return; }
    if (req.path === '/status') { res.statusCode = 201; res.body = 'created'; return; }
    if (req.path === '/badstatus') { res.statusCode = 99; return; }
    if (req.path === '/poisoned') { res.body = req.path.toUpperCase(); return; }  // uses a poisoned builtin
    res.headers['X-Reply'] = 'yes';
    res.headers['X-Num'] = 5;
    res.headers['X-Esc'] = 'a"b\\c\u0001\u00e9';
    res.body = req.method + ' ' + req.path + ' ' + req.query + ' ' + req.headers['x-h'] + ' ' + req.body;
  }
  var fired = 0, ticks = 0, tOnce, tBad, tEvery;
  var nf = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });
  var nfFirst = nf.format(1234.567);
  var sample = {
    plain: { a: 1, b: 'two', c: [1, 2, 3], d: { e: { f: { g: 1 } } } },
    arr: [1, , 'x', { y: null }],
    long: Array.from({ length: 120 }, (_, i) => i),
    wide: { key1: 'a'.repeat(30), key2: 'b'.repeat(30), key3: 'c'.repeat(30) },
    map: new Map([[1, 'one'], ['k', { v: true }]]),
    set: new Set([1, 'a']),
    date: new Date(0),
    badDate: new Date(NaN),
    re: /ab+c/gi,
    err: new RangeError('boom'),
    errProps: Object.assign(new TypeError('t'), { code: 'E1' }),
    fn: function namedFn(a, b) { return a + b; },
    arrow: (x) => x,
    gen: function* g() {},
    asyncFn: async function af() {},
    cls: class Foo { constructor() { this.z = 1; } },
    sym: Symbol('s'),
    big: 10n,
    negz: -0,
    str: 'it\'s "q"\n\t\u0001 \u{1F600}',
    longStr: 'y'.repeat(10005),
    u8: new Uint8Array([1, 2, 255]),
    big64: new BigInt64Array(2),
    ab: new ArrayBuffer(4),
    dv: new DataView(new ArrayBuffer(2)),
    boxed: [new Number(3), new String('ab'), new Boolean(false), Object(Symbol('q')), Object(1n)],
    nullp: Object.assign(Object.create(null), { k: 1 }),
    promise: Promise.resolve(42),
    pending: new Promise(() => {}),
    weak: [new WeakMap(), new WeakSet()],
    accessors: { get g() { return 1; }, set s(v) {}, get gs() { return 1; }, set gs(v) {} },
    symKey: { [Symbol('k')]: 1, 'needs quote': 2, $ok: 3 },
    nf: nf,
    throwingGetter: Object.defineProperty({}, 'x', { get() { throw new Error('getter'); }, enumerable: true }),
    msgMap: new Map([[1, [2, 'x']]]),
  };
  var hostileError = new Error('hostile proxy'), RealError = Error;
  var hostileProxy = new Proxy({}, { ownKeys() { throw hostileError; } });
  sample.rejected = Promise.reject(new Error('no')); sample.rejected.catch(() => {});
  sample.inst = new sample.cls();
  sample.circ = { name: 'c' }; sample.circ.self = sample.circ;
  sample.wref = (() => { try { return new WeakRef(sample.plain); } catch (e) { return 'no WeakRef (journal mode)'; } })();
  'set up';
)js";

// Replaces every function-valued or accessor builtin it can reach with one
// that throws, and adds throwing accessors on Object.prototype and
// Array.prototype for names and indices Ken reads. Leaves Ken's own globals
// (console, ken, timers, Intl) and the program's functions alone.
constexpr char kPoison[] = R"js(
(function () {
  'use strict';
  const E = Error, defineProperty = Object.defineProperty, getDesc = Object.getOwnPropertyDescriptor;
  const ownKeys = Reflect.ownKeys, getProto = Object.getPrototypeOf, hasOwn = Object.hasOwn;
  const poison = function () { throw new E('poisoned'); };
  const accessor = { __proto__: null, get: poison, set: poison, enumerable: false, configurable: true };
  const todo = [];
  const poisonAll = (obj) => {
    for (const key of ownKeys(obj)) {
      const d = getDesc(obj, key);
      if (!d.configurable) continue;
      if (key === 'constructor') { todo.push([obj, key, accessor]); continue; }
      if (hasOwn(d, 'get') || typeof d.value === 'function') {
        todo.push([obj, key, hasOwn(d, 'get') ? accessor
                                              : { __proto__: null, value: poison, writable: true, configurable: true }]);
      }
    }
  };
  const TypedArray = getProto(Int8Array);
  const iterProto = (it) => getProto(it);
  const protos = [
    Object.prototype, Function.prototype, Array.prototype, String.prototype, Number.prototype, Boolean.prototype,
    Symbol.prototype, BigInt.prototype, Date.prototype, RegExp.prototype, Error.prototype, Map.prototype,
    Set.prototype, WeakMap.prototype, WeakSet.prototype, WeakRef.prototype, Promise.prototype,
    ArrayBuffer.prototype, TypedArray.prototype, Uint8Array.prototype,
    iterProto([][Symbol.iterator]()), iterProto(new Map()[Symbol.iterator]()), iterProto(new Set()[Symbol.iterator]()),
    iterProto(''[Symbol.iterator]()), getProto(getProto([][Symbol.iterator]())),
  ];
  const statics = [Object, Array, String, Number, Boolean, Symbol, BigInt, Date, RegExp, Error, Map, Set, Promise,
                   ArrayBuffer, TypedArray, Uint8Array, Function, JSON, Math, Reflect];
  for (const p of protos) poisonAll(p);
  for (const s of statics) poisonAll(s);
  for (const ctor of [Object, Array, String, Number, Boolean, Symbol, BigInt, Date, RegExp, Error, TypeError,
                      RangeError, Map, Set, WeakMap, WeakSet, WeakRef, Promise, ArrayBuffer, DataView, Uint8Array,
                      Function]) {
    todo.push([ctor, Symbol.hasInstance, { __proto__: null, value: poison, configurable: true }]);
  }
  for (const name of Object.getOwnPropertyNames(globalThis)) {
    const d = getDesc(globalThis, name);
    if (!d.configurable || typeof d.value !== 'function' || name === 'FinalizationRegistry') continue;
    if (/^[A-Z]/.test(name) || ['parseInt', 'parseFloat', 'isNaN', 'isFinite', 'eval', 'encodeURIComponent',
                                'decodeURIComponent', 'encodeURI', 'decodeURI', 'escape', 'unescape'].includes(name)) {
      todo.push([globalThis, name, { __proto__: null, value: poison, writable: true, configurable: true }]);
    }
  }
  todo.push([globalThis, 'globalThis', accessor]);
  for (const name of ['uri', 'method', 'path', 'query', 'body', 'headers', 'statusCode', 'then', 'toJSON',
                      'length', 'prototype', 'next', 'done', 'value', 'get', 'set', 'writable', 'enumerable',
                      'configurable', 'name', 'message', 'stack', 'size', 'locale', 'segment', 'index', 'input',
                      'due', 'interval', 'callback', 'args', 'seen', 'refs', 'depth', 'content-type', 'x-reply',
                      'x-num', 'x-esc', 'timeZone', 'hasOwnProperty', 'primordials', 'inspect', 'format',
                      Symbol.iterator, Symbol.toPrimitive, Symbol.toStringTag, Symbol.split, Symbol.replace,
                      Symbol.match, Symbol.matchAll, Symbol.search, Symbol.species, Symbol.isConcatSpreadable,
                      '0', '1', '2', '3']) {
    if (!hasOwn(Object.prototype, name) || getDesc(Object.prototype, name).configurable) {
      todo.push([Object.prototype, name, accessor]);
    }
  }
  for (const index of ['0', '1', '2', '3']) todo.push([Array.prototype, index, accessor]);
  const n = todo.length;
  // From here on only syntax and the captured defineProperty.
  for (let i = 0; i < n; i++) {
    const t = todo[i];
    defineProperty(t[0], t[1], t[2]);
  }
  return n;
})()
)js";

// Inspected (shell, Inspect(value, true)) before and after poisoning: the
// text must not change.
const char* const kShellExpressions[] = {
    "sample",          "sample.plain",  "sample.arr",     "sample.long",    "sample.wide",      "sample.map",
    "sample.set",      "sample.date",   "sample.badDate", "sample.re",      "sample.err",       "sample.errProps",
    "sample.fn",       "sample.arrow",  "sample.gen",     "sample.asyncFn", "sample.cls",       "sample.sym",
    "sample.big",      "sample.negz",   "sample.str",     "sample.longStr", "sample.u8",        "sample.big64",
    "sample.ab",       "sample.dv",     "sample.boxed",   "sample.nullp",   "sample.promise",   "sample.pending",
    "sample.rejected", "sample.weak",   "sample.accessors", "sample.symKey", "sample.nf",       "sample.inst",
    "sample.circ",     "sample.wref",   "sample.throwingGetter", "hostileProxy", "console.log",
    "ken",             "ken.send",      "Intl.NumberFormat", "setTimeout",  "undefined",        "null",
    "nfFirst",
};

// console.* before and after poisoning: the output must not change.
constexpr char kConsoleTurn[] = R"js(
  console.log('%s=%d %i %f %j %o %O %c %% %x', 'a', 42, 3.7, '1.5', 'j"', sample.plain, sample.map, 'css', 'extra');
  console.log(sample, sample.str, 7, sample.sym);
  console.log();
  console.log('%s', sample.set);
  console.info('info'); console.debug('debug'); console.warn('warn'); console.error('error', sample.err);
  console.assert(false, 'assert', 1); console.assert(true, 'not shown'); console.assert(false);
  console.count(); console.count('c'); console.count('c'); console.countReset(); console.countReset('c');
  console.group('group', 1); console.log('in\ngroup'); console.group(); console.log('deeper'); console.groupEnd();
  console.groupEnd(); console.groupEnd();
  console.dir(sample.plain); console.table(sample.arr);
  console.time('t'); console.timeLog('none'); console.timeEnd('none');
  'console done';
)js";

// Each family of poisoned builtins, used by the program itself: that turn
// fails, the node carries on.
const char* const kProgramUsesPoison[] = {
    "sample.map.get(1)",
    "sample.set.has(1)",
    "new Map()",
    "[1, 2].join()",
    "for (const x of sample.plain.c) {}",
    "[...sample.plain.c]",
    "const [first] = sample.plain.c;",
    "'Ab'.toLowerCase()",
    "'a,b'.split(',')",
    "JSON.stringify(1)",
    "Object.keys(sample.plain)",
    "sample.plain.hasOwnProperty('a')",
    "sample.plain.then",
    "Reflect.apply(sample.fn, null, [])",
    "sample.fn.call(null, 1, 2)",
    "sample.re.test('abc')",
    "sample.sym.toString()",
    "sample.promise.then(function () {})",
    "(1).toFixed(2)",
    "sample.date.getTime()",
    "new Error('x')",
    "String(1)",
    "Math.max(1, 2)",
    "sample.u8.length",
    "globalThis",
};

struct Harness {
  std::string console;  // everything console.* wrote since the last Take()
  std::unique_ptr<Node> node;
  uint64_t next_seq = 1;  // of the channel b->a

  std::string TakeConsole() {
    std::string out;
    std::swap(out, console);
    return out;
  }
};

std::unique_ptr<Harness> OpenHarness(const std::string& path) {
  auto h = std::make_unique<Harness>();
  NodeOptions options;
  options.store_path = path;
  options.durability = ::ken::testing::DurabilityUnderTest();
  options.node_id = "a";
  options.peers = {"b"};
  options.isolate.turn_timeout_ms = 20000;
  Harness* raw = h.get();
  options.isolate.console = [raw](int stream, std::string_view text) {
    raw->console += stream == 2 ? "[err] " : "";
    raw->console.append(text.data(), text.size());
    raw->console += "\n";
  };
  auto node = Node::Open(options);
  EXPECT_TRUE(node.ok()) << node.status();
  if (!node.ok()) return nullptr;
  h->node = std::move(*node);
  return h;
}

// Evaluates `source` as a turn whose output is the shell's text of its value.
TurnInput ShellInput(const std::string& source) {
  TurnInput input = MakeTurn(ShellRecord(source, "test"));
  input.description = "test: " + source.substr(0, 60);
  return input;
}

// Calls internals.listGlobals() (what `ken inspect` prints).
TurnInput ListGlobalsInput() {
  TurnInput input;
  input.description = "list globals";
  input.body = [](const TurnScope& scope) -> absl::StatusOr<std::string> {
    v8::Local<v8::Value> fn;
    if (!scope.internals->Get(scope.context, V8String(scope.isolate, "listGlobals")).ToLocal(&fn) ||
        !fn->IsFunction()) {
      return absl::NotFoundError("no internals.listGlobals");
    }
    v8::Local<v8::Value> text;
    if (!fn.As<v8::Function>()->Call(scope.context, v8::Undefined(scope.isolate), 0, nullptr).ToLocal(&text)) {
      return absl::AbortedError("threw");
    }
    return StdString(scope.isolate, text);
  };
  return input;
}

// Runs one input as a batch; the commit must succeed whatever the turn did.
TurnResult RunOne(Node& node, const TurnInput& input, const TurnInput* observe = nullptr,
                  std::optional<std::string>* observed = nullptr) {
  BatchResult r = node.RunBatch({input}, observe);
  EXPECT_TRUE(r.commit.ok()) << input.description << ": " << r.commit;
  if (observed != nullptr && !r.observed.empty()) *observed = r.observed.back();
  return r.results.empty() ? TurnResult{} : r.results[0];
}

std::string Shell(Node& node, const std::string& source) {
  TurnResult r = RunOne(node, ShellInput(source));
  EXPECT_TRUE(r.ok()) << source << ": " << r.error;
  return r.output;
}

// A ValueSerializer payload of the value of `expr`, made in a discarded turn.
std::string Payload(Node& node, const std::string& expr) {
  TurnResult r = node.Evaluate([&](const TurnScope& scope) -> absl::StatusOr<std::string> {
    v8::Local<v8::Value> value;
    if (!EvalScript(scope, "(" + expr + ")", "payload").ToLocal(&value)) return absl::AbortedError("threw");
    v8::ValueSerializer serializer(scope.isolate);
    serializer.WriteHeader();
    if (!serializer.WriteValue(scope.context, value).FromMaybe(false)) return absl::AbortedError("threw");
    std::pair<uint8_t*, size_t> bytes = serializer.Release();
    std::string out(reinterpret_cast<char*>(bytes.first), bytes.second);
    free(bytes.first);
    return out;
  });
  EXPECT_TRUE(r.ok()) << r.error;
  return r.output;
}

v1::Envelope Envelope(uint64_t seq, std::string payload) {
  v1::Envelope e;
  e.set_src("b");
  e.set_dst("a");
  e.set_seq(seq);
  e.set_payload(std::move(payload));
  return e;
}

HttpRequest Request(const std::string& method, const std::string& path, const std::string& query,
                    const std::string& body) {
  HttpRequest request;
  request.method = method;
  request.path = path;
  request.query = query;
  request.uri = query.empty() ? path : path + "?" + query;
  request.headers = {{"x-h", "v1"}, {"x-h", "v2"}, {"content-length", std::to_string(body.size())}};
  request.body = body;
  return request;
}

HttpResponse Http(Node& node, const HttpRequest& request) {
  BatchResult r = node.RunBatch({HttpInput(request)});
  EXPECT_TRUE(r.commit.ok()) << request.path << ": " << r.commit;
  return ToHttpResponse(r.results[0]);
}

std::string Header(const HttpResponse& response, const std::string& name) {
  for (const auto& [n, v] : response.headers) {
    if (n == name) return v;
  }
  return "<absent>";
}

std::vector<std::pair<int64_t, int64_t>> Upcoming(Node& node, int max) {
  const TurnInput observe = UpcomingTimersInput(max);
  std::optional<std::string> observed;
  TurnResult r = RunOne(node, ShellInput("'observe'"), &observe, &observed);
  EXPECT_TRUE(r.ok()) << r.error;
  EXPECT_TRUE(observed.has_value()) << "upcomingTimers failed";
  return observed ? ParseUpcomingTimers(*observed) : std::vector<std::pair<int64_t, int64_t>>{};
}

int64_t Int(Node& node, const std::string& expr) { return std::atoll(Shell(node, expr).c_str()); }

// Every hook, through the real turn inputs; `poisoned` adds the cases in
// which the program itself uses a poisoned builtin.
void ExerciseHooks(Harness& h, bool poisoned) {
  Node& node = *h.node;
  SCOPED_TRACE(poisoned ? "after poisoning" : "before poisoning");

  // HTTP.
  HttpResponse ok = Http(node, Request("POST", "/ok", "x=1", "payload \xe2\x98\x83"));
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.body, "POST /ok x=1 v1, v2 payload \xe2\x98\x83");
  EXPECT_EQ(Header(ok, "x-reply"), "yes");
  EXPECT_EQ(Header(ok, "x-num"), "5");
  EXPECT_EQ(Header(ok, "x-esc"), "a\"b\\c\x01\xc3\xa9");
  HttpResponse json = Http(node, Request("GET", "/json", "", ""));
  EXPECT_EQ(json.status, 200) << json.body;
  EXPECT_EQ(json.body, "{\"ok\":true,\"n\":3,\"s\":\"q\\\"\xe2\x98\x83\"}");
  EXPECT_EQ(Header(json, "content-type"), "application/json");
  HttpResponse created = Http(node, Request("PUT", "/status", "", ""));
  EXPECT_EQ(created.status, 201);
  EXPECT_EQ(created.body, "created");
  EXPECT_EQ(Http(node, Request("GET", "/badstatus", "", "")).status, 500);
  if (poisoned) {
    EXPECT_EQ(Http(node, Request("GET", "/poisoned", "", "")).status, 500);
    EXPECT_EQ(Http(node, Request("GET", "/ok", "", "")).status, 200);
  }

  // Messages.
  int64_t before = Int(node, "count");
  TurnResult d1 = RunOne(node, DeliveryInput(Envelope(h.next_seq++, Payload(node, "{ text: 'hi', n: 7 }"))));
  EXPECT_TRUE(d1.ok()) << d1.error;
  EXPECT_EQ(Shell(node, "lastMsg"), "'b:hi:7'");
  TurnResult d2 = RunOne(node, DeliveryInput(Envelope(h.next_seq++, Payload(node, "sample.msgMap"))));
  EXPECT_TRUE(d2.ok()) << d2.error;
  EXPECT_EQ(Shell(node, "lastValue"), "Map(1) { 1 => [ 2, 'x' ] }");
  if (poisoned) {
    TurnResult bad = RunOne(node, DeliveryInput(Envelope(h.next_seq++, Payload(node, "{ text: 'bad' }"))));
    EXPECT_EQ(bad.status, TurnStatus::kThrew);
    EXPECT_NE(bad.error.find("poisoned"), std::string::npos) << bad.error;
  }
  EXPECT_EQ(Int(node, "count"), before + 2);

  // Timers: three, soonest first, then one more and one cleared.
  Shell(node, R"js(
    if (typeof tEvery === 'number') clearInterval(tEvery);
    fired = 0; ticks = 0;
    tOnce = setTimeout(function (a, b) { fired += a + b; }, 5000000, 2, 3);
    tBad = setTimeout(function () { [].join(); }, 6000000);  // uses a poisoned builtin once poisoned
    tEvery = setInterval(function () { ticks++; }, 10000000);
  )js");
  std::vector<std::pair<int64_t, int64_t>> timers = Upcoming(node, 64);
  ASSERT_EQ(timers.size(), 3u);
  const int64_t once = Int(node, "tOnce"), bad = Int(node, "tBad"), every = Int(node, "tEvery");
  EXPECT_EQ(timers[0].first, once);
  EXPECT_EQ(timers[1].first, bad);
  EXPECT_EQ(timers[2].first, every);
  EXPECT_LT(timers[0].second, timers[1].second);
  EXPECT_LT(timers[1].second, timers[2].second);
  EXPECT_EQ(Upcoming(node, 2).size(), 2u);
  Shell(node, "var tNew = setTimeout(function () { fired += 100; }, 1); "
              "var tGone = setTimeout(function () { fired += 1000; }, 1); "
              "clearTimeout(tGone); tNew");
  timers = Upcoming(node, 64);
  ASSERT_EQ(timers.size(), 4u);
  EXPECT_EQ(timers[0].first, Int(node, "tNew"));
  TurnResult fire_new = RunOne(node, TimerInput(timers[0].first, timers[0].second));
  EXPECT_TRUE(fire_new.ok()) << fire_new.error;
  TurnResult fire_once = RunOne(node, TimerInput(timers[1].first, timers[1].second));
  EXPECT_TRUE(fire_once.ok()) << fire_once.error;
  EXPECT_EQ(Int(node, "fired"), 105);
  TurnResult fire_every = RunOne(node, TimerInput(timers[3].first, timers[3].second));
  EXPECT_TRUE(fire_every.ok()) << fire_every.error;
  EXPECT_EQ(Int(node, "ticks"), 1);
  TurnResult fire_bad = RunOne(node, TimerInput(timers[2].first, timers[2].second));
  if (poisoned) {
    EXPECT_EQ(fire_bad.status, TurnStatus::kThrew);  // consumed by the fallback all the same
  } else {
    EXPECT_TRUE(fire_bad.ok()) << fire_bad.error;
  }
  std::vector<std::pair<int64_t, int64_t>> after = Upcoming(node, 64);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].first, every);
  EXPECT_EQ(after[0].second, timers[3].second + 10000000);

  // Intl: the object made before, new ones, and the commits that drop their
  // ICU objects (before-checkpoint hook).
  EXPECT_EQ(Shell(node, "nf.format(9876.5)"), "'9,876.5'");
  EXPECT_EQ(Shell(node, "nf.format(1.234)"), "'1.23'");
  EXPECT_EQ(Shell(node, "new Intl.DateTimeFormat('en-US', { timeZone: 'UTC' }).format(0)"), "'1/1/1970'");
  EXPECT_EQ(Shell(node, "new Intl.Locale('en-US').maximize().baseName"), "'en-Latn-US'");
  EXPECT_EQ(Shell(node, "Intl.NumberFormat.supportedLocalesOf(['en-US'])"), "[ 'en-US' ]");
  EXPECT_EQ(Shell(node, "var segs = 0; for (const s of new Intl.Segmenter('en', { granularity: 'word' })"
                        ".segment('hi there')) segs++; segs"),
            "3");
  EXPECT_EQ(Shell(node, "new Intl.Segmenter('en').segment('ab').containing(1).segment"), "'b'");
  EXPECT_EQ(Shell(node, "new Intl.Collator('en').compare('a', 'b')"), "-1");
  EXPECT_EQ(Shell(node, "new Intl.PluralRules('en').select(1)"), "'one'");
  EXPECT_EQ(Shell(node, "new Intl.NumberFormat([new Intl.Locale('de')]).resolvedOptions().locale"), "'de'");
  TurnResult list = RunOne(node, ShellInput("new Intl.ListFormat('en').format(['a', 'b'])"));
  if (poisoned) {
    EXPECT_EQ(list.status, TurnStatus::kThrew);  // ListFormat iterates the program's list: its array iterator
  } else {
    EXPECT_EQ(list.output, "'a and b'") << list.error;
  }
  TurnResult throws = RunOne(node, ShellInput("new Intl.NumberFormat('en', { style: 'currency' })"));
  EXPECT_EQ(throws.status, TurnStatus::kThrew);
  EXPECT_NE(throws.error.find("TypeError"), std::string::npos) << throws.error;
  EXPECT_EQ(Shell(node, "nfFirst"), "'1,234.57'");

  // ken inspect's listing of the program's globals (internals.listGlobals).
  TurnResult globals = node.Evaluate(ListGlobalsInput().body);
  EXPECT_TRUE(globals.ok()) << globals.error;
  EXPECT_NE(globals.output.find("\nhandleRequest: [Function: handleRequest]\n"), std::string::npos) << globals.output;
  EXPECT_NE(globals.output.find("\nnfFirst: '1,234.57'\n"), std::string::npos) << globals.output;
  EXPECT_EQ(globals.output.find("setTimeout"), std::string::npos) << globals.output;
  EXPECT_EQ(globals.output.rfind("count: ", 0), 0u) << globals.output;

  // Errors Ken's built-ins throw.
  TurnResult no_fn = RunOne(node, ShellInput("setTimeout('code', 1)"));
  EXPECT_EQ(no_fn.status, TurnStatus::kThrew);
  EXPECT_NE(no_fn.error.find("TypeError: The \"callback\" argument must be a function"), std::string::npos)
      << no_fn.error;
  TurnResult fr = RunOne(node, ShellInput("new FinalizationRegistry(function () {})"));
  EXPECT_EQ(fr.status, TurnStatus::kThrew);
  EXPECT_NE(fr.error.find("not supported in a persistent Ken isolate"), std::string::npos) << fr.error;
  TurnResult send = RunOne(node, ShellInput("ken.send('b')"));
  EXPECT_EQ(send.status, TurnStatus::kThrew);
  EXPECT_NE(send.error.find("needs a destination and a value"), std::string::npos) << send.error;

  if (poisoned) {
    for (const char* source : kProgramUsesPoison) {
      TurnResult r = RunOne(node, ShellInput(source));
      EXPECT_EQ(r.status, TurnStatus::kThrew) << source << " did not fail: " << r.output;
      EXPECT_EQ(Shell(node, "'still working'"), "'still working'") << "after " << source;
    }
  }
}

struct Printed {
  std::vector<std::string> shell;
  std::string console;
};

Printed PrintEverything(Harness& h) {
  Printed p;
  for (const char* e : kShellExpressions) p.shell.push_back(Shell(*h.node, e));
  h.TakeConsole();
  EXPECT_EQ(Shell(*h.node, kConsoleTurn), "'console done'");
  p.console = h.TakeConsole();
  // Timing output varies; the trace's first line does not.
  EXPECT_EQ(Shell(*h.node, "console.time(); console.timeLog(); console.timeEnd(); console.trace('tr', 1); 0"), "0");
  std::string timing = h.TakeConsole();
  EXPECT_NE(timing.find("default: "), std::string::npos) << timing;
  EXPECT_NE(timing.find("[err] Trace: tr 1\n    at "), std::string::npos) << timing;
  return p;
}

void CreateAndPoison(const std::string& path) {
  InitializeV8({});
  std::unique_ptr<Harness> h = OpenHarness(path);
  ASSERT_NE(h, nullptr);
  ASSERT_EQ(Shell(*h->node, kSetup), "'set up'");
  Printed before = PrintEverything(*h);
  EXPECT_EQ(before.shell.back(), "'1,234.57'");
  EXPECT_EQ(before.shell[5], "Map(2) { 1 => 'one', 'k' => { v: true } }");
  EXPECT_NE(before.console.find("a=42 3 1.5 \"j\\\"\" {\n  a: 1,\n  b: 'two',"), std::string::npos) << before.console;
  ExerciseHooks(*h, false);

  TurnResult poison = RunOne(*h->node, ShellInput(kPoison));
  ASSERT_TRUE(poison.ok()) << poison.error;
  EXPECT_GT(std::atoi(poison.output.c_str()), 300) << poison.output;
  // The poison is really there.
  EXPECT_EQ(RunOne(*h->node, ShellInput("[].push(1)")).status, TurnStatus::kThrew);

  Printed after = PrintEverything(*h);
  ASSERT_EQ(after.shell.size(), before.shell.size());
  for (size_t i = 0; i < before.shell.size(); ++i) {
    EXPECT_EQ(after.shell[i], before.shell[i]) << kShellExpressions[i];
  }
  EXPECT_EQ(after.console, before.console);
  ExerciseHooks(*h, true);

  // V8 calls the program's Error.prepareStackTrace when err.stack is read.
  Shell(*h->node, "RealError.prepareStackTrace = function () { throw hostileError; }; 0");
  h->TakeConsole();
  EXPECT_EQ(Shell(*h->node, "console.trace('tr'); console.log(hostileProxy); 0"), "0");
  // A Proxy prints as its target, as util.inspect does: no trap runs.
  EXPECT_EQ(h->TakeConsole(), "[err] Trace: tr\n{}\n");
  TurnResult threw = RunOne(*h->node, ShellInput("[].push(1)"));
  EXPECT_EQ(threw.status, TurnStatus::kThrew);
  EXPECT_EQ(threw.error, "Uncaught Error: poisoned");
  Shell(*h->node, "delete RealError.prepareStackTrace; 0");
}

void RestorePoisoned(const std::string& path) {
  InitializeV8({});
  std::unique_ptr<Harness> h = OpenHarness(path);
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(RunOne(*h->node, ShellInput("[].push(1)")).status, TurnStatus::kThrew);
  EXPECT_EQ(Shell(*h->node, "sample.map"), "Map(2) { 1 => 'one', 'k' => { v: true } }");
  HttpResponse ok = Http(*h->node, Request("GET", "/ok", "", "again"));
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "GET /ok  v1, v2 again");
  std::vector<std::pair<int64_t, int64_t>> timers = Upcoming(*h->node, 64);
  ASSERT_EQ(timers.size(), 1u);
  EXPECT_TRUE(RunOne(*h->node, TimerInput(timers[0].first, timers[0].second)).ok());
  EXPECT_EQ(Int(*h->node, "ticks"), 2);
  EXPECT_EQ(Shell(*h->node, "nf.format(5)"), "'5'");
  h->TakeConsole();
  EXPECT_EQ(Shell(*h->node, "console.log(sample.set, sample.date); 1"), "1");
  EXPECT_EQ(h->TakeConsole(), "Set(2) { 1, 'a' } 1970-01-01T00:00:00.000Z\n");
}

TEST(HostileBuiltinsTest, HooksSurviveAProgramThatPoisonsEveryBuiltin) {
  const std::string path = ::ken::testing::MakeTempDir() + "/hostile.ken";
  auto poisoned = RunInChild([&] { CreateAndPoison(path); });
  ASSERT_EQ(poisoned.exit_code, 0) << "signal " << poisoned.signal << "\n" << poisoned.output;
  auto restored = RunInChild([&] { RestorePoisoned(path); });
  ASSERT_EQ(restored.exit_code, 0) << "signal " << restored.signal << "\n" << restored.output;
}

// Every name a built-in script destructures from internals.primordials
// exists there (a typo would be a silent undefined), and the object is
// frozen with a null prototype.
TEST(HostileBuiltinsTest, PrimordialsHoldEveryNameTheBuiltinsUse) {
  const std::string path = ::ken::testing::MakeTempDir() + "/primordials.ken";
  auto child = RunInChild([&] {
    InitializeV8({});
    NodeOptions options;
    options.store_path = path;
    auto node = Node::Open(options);
    ASSERT_TRUE(node.ok()) << node.status();
    std::set<std::string> used;
    int scripts_using = 0;
    for (const JsSource& script : BuiltinScripts()) {
      std::string text = script.source;
      const std::string marker = "} = internals.primordials;";
      size_t end = text.find(marker);
      if (end == std::string::npos) continue;
      ++scripts_using;
      size_t begin = text.rfind("const {", end);
      ASSERT_NE(begin, std::string::npos) << script.name;
      std::string names = text.substr(begin + 7, end - begin - 7);
      std::string name;
      auto flush = [&] {
        if (!name.empty()) used.insert(name);
        name.clear();
      };
      for (size_t i = 0; i < names.size(); ++i) {
        char c = names[i];
        if (c == '/' && i + 1 < names.size() && names[i + 1] == '/') {  // comment to end of line
          flush();
          while (i < names.size() && names[i] != '\n') ++i;
        } else if (isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$') {
          name += c;
        } else if (c == ':') {  // `Name: alias`: the alias is local
          flush();
          while (i + 1 < names.size() && names[i + 1] != ',' && names[i + 1] != '}') ++i;
        } else {
          flush();
        }
      }
      flush();
    }
    EXPECT_EQ(scripts_using, static_cast<int>(BuiltinScripts().size()) - 1)
        << "every built-in script after primordials.js takes its intrinsics from there";
    EXPECT_GT(used.size(), 50u);
    TurnResult r = (*node)->Evaluate([&](const TurnScope& scope) -> absl::StatusOr<std::string> {
      v8::Local<v8::Value> p;
      if (!scope.internals->Get(scope.context, V8String(scope.isolate, "primordials")).ToLocal(&p) ||
          !p->IsObject()) {
        return absl::NotFoundError("internals.primordials is missing");
      }
      v8::Local<v8::Object> primordials = p.As<v8::Object>();
      std::string missing;
      for (const std::string& name : used) {
        if (!primordials->HasOwnProperty(scope.context, V8String(scope.isolate, name)).FromMaybe(false)) {
          missing += " " + name;
        }
      }
      if (!missing.empty()) return absl::NotFoundError("not in internals.primordials:" + missing);
      v8::Local<v8::Value> check;
      if (!EvalScript(scope, "(p) => Object.isFrozen(p) && Object.getPrototypeOf(p) === null", "check")
               .ToLocal(&check)) {
        return absl::AbortedError("threw");
      }
      v8::Local<v8::Value> args[] = {primordials};
      v8::Local<v8::Value> ok;
      if (!check.As<v8::Function>()->Call(scope.context, v8::Undefined(scope.isolate), 1, args).ToLocal(&ok)) {
        return absl::AbortedError("threw");
      }
      return ok->IsTrue() ? "ok" : "not frozen with a null prototype";
    });
    EXPECT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.output, "ok");
  });
  ASSERT_EQ(child.exit_code, 0) << "signal " << child.signal << "\n" << child.output;
}

}  // namespace
}  // namespace ken
