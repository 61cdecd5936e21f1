// Values printed with console.log, which formats them as Node's
// util.inspect does with its defaults. Run by tests/inspect_test.cc in a Ken
// shell and, where the machine has Node.js, with `node`: both must print
// tests/inspect/expected.txt. Errors get a fixed stack so the text does not
// depend on where the file lives.
'use strict';
const withStack = (e, frames) => { e.stack = `${e.name}: ${e.message}${frames}`; return e; };
class Foo extends Map {}
class Bar extends Array {}
class Point { constructor(x, y) { this.x = x; this.y = y; } }
class Base {}
class Derived extends Base {}
function named() {}
const cases = [
  ['numbers', () => [0, -0, 1.5, NaN, Infinity, -Infinity, 2 ** 53]],
  ['bigint and symbols', () => [10n, Symbol('s'), Symbol(), Symbol.iterator]],
  ['strings', () => ['plain', "it's", 'both \' and "', 'all \' " `', 'tab\there', 'nl\nx', '\x00\x7f\x9f', '\ud800 lone', '😀']],
  ['long string in array', () => ['a'.repeat(100)]],
  ['multi-line string in object', () => ({ text: 'first line of text\nsecond line of text\nthird line of the text here' })],
  ['very long string', () => ['x'.repeat(10050)]],
  ['short array', () => [1, 2, 3]],
  ['grouped numbers', () => Array.from({ length: 30 }, (_, i) => i + 1)],
  ['grouped squares', () => Array.from({ length: 26 }, (_, i) => i * i * i)],
  ['grouped strings', () => ['apple', 'banana', 'cherry', 'date', 'elderberry', 'fig', 'grape', 'honeydew', 'kiwi', 'lemon']],
  ['long array', () => Array.from({ length: 150 }, (_, i) => i)],
  ['holes', () => [1, , , 4, , 6]],
  ['sparse tail', () => { const a = [1, 2]; a.length = 5; return a; }],
  ['array with keys', () => { const a = [1, 2, 3]; a.extra = 'yes'; return a; }],
  ['nested', () => ({ a: { b: { c: { d: { e: 1 } } } }, list: [[1, [2, [3, [4]]]]] })],
  ['objects in array', () => [{ id: 1, name: 'one' }, { id: 2, name: 'two' }, { id: 3, name: 'three' }]],
  ['wide object', () => ({ alpha: 'aaaaaaaaaa', beta: 'bbbbbbbbbb', gamma: 'cccccccccc', delta: 'dddddddddd', epsilon: 'eeeeeeeeee' })],
  ['keys', () => ({ 'a-b': 1, '1x': 2, _ok: 3, $dollar: 4, 42: 5, [Symbol('k')]: 6, __proto__x: 7 })],
  ['null prototype', () => Object.assign(Object.create(null), { a: 1 })],
  ['empty things', () => [{}, [], new Map(), new Set(), Object.create(null)]],
  ['circular', () => { const o = { name: 'o' }; o.self = o; o.list = [o]; return o; }],
  ['map', () => new Map([['a', 1], [{ k: 1 }, [1, 2]]])],
  ['set', () => new Set([1, 'two', [3]])],
  ['large set', () => new Set(Array.from({ length: 120 }, (_, i) => i))],
  ['large map', () => new Map(Array.from({ length: 105 }, (_, i) => [i, i])) ],
  ['subclasses', () => [new Foo([[1, 2]]), Bar.from([1, 2]), new Point(1, 2), new Derived()]],
  ['typed arrays', () => [new Uint8Array(3), new Float64Array([1.5, -0]), new BigInt64Array(2)]],
  ['long typed array', () => new Uint8Array(130)],
  ['array buffer', () => new Uint8Array([1, 2, 255]).buffer],
  ['data view', () => new DataView(new ArrayBuffer(4), 1)],
  ['dates and regexps', () => [new Date(0), new Date(NaN), /a+b/gi, new RegExp('x/y')]],
  ['boxed', () => [new Number(3), new String('ab'), new Boolean(false), Object(1n), Object(Symbol('q'))]],
  ['functions in containers', () => [named, () => 1, function () {}, async function af() {}, function* gen() {}, async function* ag() {}, Point, Derived, class {}]],
  ['function with properties', () => { function f() {} f.x = 1; return f; }],
  ['errors in containers', () => [withStack(new Error('inner'), '\n    at f (file.js:1:2)\n    at g (file.js:3:4)')]],
  ['error with properties', () => { const e = withStack(new TypeError('bad'), '\n    at h (file.js:5:6)'); e.code = 'E_BAD'; return e; }],
  ['error without stack frames', () => withStack(new RangeError('no frames'), '')],
  ['error in object', () => ({ error: withStack(new Error('deep'), '\n    at k (file.js:7:8)') })],
  ['error with cause', () => withStack(new Error('outer', { cause: 'why' }), '\n    at m (file.js:9:1)')],
  ['promises', () => [Promise.resolve(42), new Promise(() => {}), (() => { const p = Promise.reject(3); p.catch(() => {}); return p; })()]],
  ['weak collections', () => [new WeakMap(), new WeakSet()]],
  ['iterators', () => [new Map([[1, 2]]).keys(), new Set([5]).values(), new Map([[1, 2]]).entries()]],
  ['proxy', () => new Proxy({ a: 1 }, { get() { throw new Error('trap ran'); } })],
  ['getters', () => ({ get g() { return 1; }, set s(v) {}, get gs() { return 1; }, set gs(v) {} })],
  ['arguments', () => (function () { return arguments; })(1, 'a')],
  ['to string tag', () => ({ [Symbol.toStringTag]: 'Custom', a: 1 })],
  ['class with tag', () => { class T { get [Symbol.toStringTag]() { return 'Tagged'; } } return new T(); }],
  ['deep arrays', () => [[[[1]]], [[[2]]]]],
  ['mixed array', () => [1, 'two', { three: 3 }, [4], null, undefined, true]],
  ['object with many keys', () => { const o = {}; for (let i = 0; i < 30; i++) o['key' + i] = i; return o; }],
  ['array of long strings', () => Array.from({ length: 8 }, (_, i) => 'item number ' + i + ' of the list')],
];
for (const [name, make] of cases) {
  console.log(`--- ${name}`);
  console.log(make());
}
