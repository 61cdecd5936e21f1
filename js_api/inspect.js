// Formats values for the shell and console as Node's util.inspect does with
// its defaults (depth 2, breakLength 80, compact 3, maxArrayLength 100,
// maxStringLength 10000): the same line breaking, arrays of short items
// grouped in aligned columns, `... N more items`, `[class A]`, `Foo(1) [Map]`,
// errors with their stacks, `<ref *1>` cycles. The shell prints as Node's
// REPL does (showProxy: `Proxy [ target, handler ]`); console.log as
// util.inspect does (a Proxy prints as its target, no trap runs). Ken's own
// choices: at the shell's top level a function prints its source; stack
// frames of Ken's built-in scripts (ken:*.js) are not shown.
//
// The values it formats are the program's, and may be hostile (a getter or a
// Proxy in a prototype chain that throws: then the text says the value could
// not be inspected; one that loops: the caller runs it under the watchdog).
// Its own workings use only intrinsics captured when the store was created
// (primordials.js), and V8's own view of a value (natives.brand,
// proxyDetails, previewEntries, constructorName), never methods the program
// can replace.
//
// Runs as `function (natives, internals)`; sets internals.inspect,
// internals.format and internals.listGlobals. Rerun by built-ins upgrades.
'use strict';
const {
  ArrayBufferPrototypeGetByteLength,
  ArrayIsArray,
  ArrayPrototypeIncludes,
  ArrayPrototypeIndexOf,
  ArrayPrototypeJoin,
  ArrayPrototypePop,
  ArrayPrototypePush,
  ArrayPrototypeSplice,
  BigIntPrototypeValueOf,
  BooleanPrototypeValueOf,
  DataViewPrototypeGetBuffer,
  DataViewPrototypeGetByteLength,
  DataViewPrototypeGetByteOffset,
  DatePrototypeGetTime,
  DatePrototypeToISOString,
  DatePrototypeToString,
  ErrorPrototypeToString,
  FunctionPrototype,
  FunctionPrototypeSymbolHasInstance,
  GetOwnPropertyDescriptor,
  JSONStringify,
  Map,
  MapPrototypeForEach,
  MapPrototypeGet,
  MapPrototypeGetSize,
  MapPrototypeSet,
  MathFloor,
  MathMax,
  MathMin,
  MathRound,
  MathSqrt,
  Number,
  NumberPrototypeToString,
  NumberPrototypeValueOf,
  NullProtoArray,
  ObjectGetOwnPropertyNames,
  ObjectGetOwnPropertySymbols,
  ObjectGetPrototypeOf,
  ObjectIs,
  ObjectKeys,
  ObjectPrototypeHasOwnProperty,
  ObjectPrototypePropertyIsEnumerable,
  RegExpPrototypeGetDotAll,
  RegExpPrototypeGetGlobal,
  RegExpPrototypeGetHasIndices,
  RegExpPrototypeGetIgnoreCase,
  RegExpPrototypeGetMultiline,
  RegExpPrototypeGetSource,
  RegExpPrototypeGetSticky,
  RegExpPrototypeGetUnicode,
  Set,
  SetPrototypeAdd,
  SetPrototypeForEach,
  SetPrototypeGetSize,
  SetPrototypeHas,
  String,
  StringPrototypeCharCodeAt,
  StringPrototypeEndsWith,
  StringPrototypeIncludes,
  StringPrototypeIndexOf,
  StringPrototypePadEnd,
  StringPrototypePadStart,
  StringPrototypeRepeat,
  StringPrototypeSlice,
  StringPrototypeStartsWith,
  StringPrototypeToUpperCase,
  StringPrototypeValueOf,
  SymbolPrototypeToString,
  SymbolPrototypeValueOf,
  SymbolIterator,
  SymbolToStringTag,
  TypedArrayPrototypeGetLength,
  TypedArrayPrototypeGetSymbolToStringTag,
  Uint8Array,
  globalThis: global,
  parseFloat,
  parseInt,
  uncurryThis,
} = internals.primordials;
// Ken's Function.prototype.toString (polyfills.js: built-ins written in JS
// print as native code), taken while no user code exists.
const FunctionPrototypeToString = uncurryThis(FunctionPrototype.toString);
const { brand, constructorName: internalConstructorName, previewEntries, promiseState, proxyDetails } = natives;

const kObjectType = 0;
const kArrayType = 1;
const kArrayExtrasType = 2;
const kMinLineLength = 16;

const newContext = (options) => ({
  __proto__: null,
  seen: NullProtoArray(),
  circular: undefined,
  indentationLvl: 0,
  currentDepth: 0,
  depth: 2,
  breakLength: 80,
  compact: 3,
  maxArrayLength: 100,
  maxStringLength: 10000,
  showProxy: false,
  uncaught: false,  // formatting a thrown or rejected value (formatError)
  ...options,
});

const plural = (n, word) => `${n} ${word}${n > 1 ? 's' : ''}`;
const remainingText = (n) => `... ${plural(n, 'more item')}`;
const hex = (n) => NumberPrototypeToString(n, 16);
// s with every '\n' replaced by `by` (String.prototype.split/replaceAll with a
// string argument consult Symbol.split/Symbol.replace on the prototypes).
const replaceNewlines = (s, by) => {
  let at = StringPrototypeIndexOf(s, '\n');
  if (at === -1) return s;
  let out = '';
  let from = 0;
  while (at !== -1) {
    out += StringPrototypeSlice(s, from, at) + by;
    from = at + 1;
    at = StringPrototypeIndexOf(s, '\n', from);
  }
  return out + StringPrototypeSlice(s, from);
};
const join = (list, separator) => ArrayPrototypeJoin(list, separator);

// The escape Node writes for a character code below 0xa0 that needs one.
const metaEscape = (c) => {
  switch (c) {
    case 0x08: return '\\b';
    case 0x09: return '\\t';
    case 0x0a: return '\\n';
    case 0x0c: return '\\f';
    case 0x0d: return '\\r';
    case 0x27: return "\\'";
    case 0x5c: return '\\\\';
    default: return '\\x' + StringPrototypePadStart(StringPrototypeToUpperCase(hex(c)), 2, '0');
  }
};

// A quoted string literal: single quotes unless the string holds one (then
// double quotes, or backticks, as Node picks), control characters, C1
// controls and lone surrogates escaped.
function strEscape(str) {
  let quote = 0x27;
  if (StringPrototypeIncludes(str, "'")) {
    if (!StringPrototypeIncludes(str, '"')) quote = 0x22;
    else if (!StringPrototypeIncludes(str, '`') && !StringPrototypeIncludes(str, '${')) quote = 0x60;
  }
  let result = '';
  let last = 0;
  for (let i = 0; i < str.length; i++) {
    const point = StringPrototypeCharCodeAt(str, i);
    if ((point === 0x27 && quote === 0x27) || point === 0x5c || point < 0x20 || (point > 0x7e && point < 0xa0)) {
      result += StringPrototypeSlice(str, last, i) + metaEscape(point);
      last = i + 1;
    } else if (point >= 0xd800 && point <= 0xdfff) {
      if (point <= 0xdbff && i + 1 < str.length) {
        const next = StringPrototypeCharCodeAt(str, i + 1);
        if (next >= 0xdc00 && next <= 0xdfff) {
          i++;
          continue;
        }
      }
      result += `${StringPrototypeSlice(str, last, i)}\\u${hex(point)}`;
      last = i + 1;
    }
  }
  if (last !== str.length) result += StringPrototypeSlice(str, last);
  const q = quote === 0x27 ? "'" : quote === 0x22 ? '"' : '`';
  return q + result + q;
}

// /^[a-zA-Z_][a-zA-Z_0-9]*$/: keys printed without quotes.
const isPlainKey = (key) => {
  if (key.length === 0) return false;
  for (let i = 0; i < key.length; i++) {
    const c = StringPrototypeCharCodeAt(key, i);
    const word = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f;
    if (!word && !(i > 0 && c >= 0x30 && c <= 0x39)) return false;
  }
  return true;
};
// /^(0|[1-9][0-9]*)$/ below 2**32 - 1: an array index.
const isIndexKey = (key) => {
  if (typeof key !== 'string' || key.length === 0 || key.length > 10) return false;
  if (key.length > 1 && StringPrototypeCharCodeAt(key, 0) === 0x30) return false;
  for (let i = 0; i < key.length; i++) {
    const c = StringPrototypeCharCodeAt(key, i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return Number(key) < 4294967295;
};

const formatNumber = (n) => (ObjectIs(n, -0) ? '-0' : `${n}`);

function formatPrimitive(ctx, value) {
  if (typeof value === 'string') {
    let trailer = '';
    if (value.length > ctx.maxStringLength) {
      const remaining = value.length - ctx.maxStringLength;
      value = StringPrototypeSlice(value, 0, ctx.maxStringLength);
      trailer = `... ${plural(remaining, 'more character')}`;
    }
    if (value.length > kMinLineLength && value.length > ctx.breakLength - ctx.indentationLvl - 4) {
      // One literal per line of the string, joined with `+`.
      const parts = NullProtoArray();
      let from = 0;
      let at = StringPrototypeIndexOf(value, '\n');
      while (at !== -1 && at + 1 < value.length) {
        ArrayPrototypePush(parts, strEscape(StringPrototypeSlice(value, from, at + 1)));
        from = at + 1;
        at = StringPrototypeIndexOf(value, '\n', from);
      }
      ArrayPrototypePush(parts, strEscape(StringPrototypeSlice(value, from)));
      return join(parts, ` +\n${StringPrototypeRepeat(' ', ctx.indentationLvl + 2)}`) + trailer;
    }
    return strEscape(value) + trailer;
  }
  if (typeof value === 'number') return formatNumber(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'boolean') return `${value}`;
  if (typeof value === 'undefined') return 'undefined';
  return SymbolPrototypeToString(value);
}

// The flags of a RegExp, each read through its captured getter (the `flags`
// getter reads them as properties, which a program can replace).
const regExpFlags = (re) => {
  let flags = '';
  if (RegExpPrototypeGetHasIndices !== undefined && RegExpPrototypeGetHasIndices(re)) flags += 'd';
  if (RegExpPrototypeGetGlobal(re)) flags += 'g';
  if (RegExpPrototypeGetIgnoreCase(re)) flags += 'i';
  if (RegExpPrototypeGetMultiline(re)) flags += 'm';
  if (RegExpPrototypeGetDotAll(re)) flags += 's';
  if (RegExpPrototypeGetUnicode(re)) flags += 'u';
  if (RegExpPrototypeGetSticky(re)) flags += 'y';
  return flags;
};

// The prototypes of the intrinsic constructors, as captured: their names do
// not depend on a `constructor` property the program can replace (Node
// does this for Object.prototype and Function.prototype).
const wellKnownPrototypes = new Map();
{
  const names = ['Object', 'Function', 'Array', 'Map', 'Set', 'WeakMap', 'WeakSet', 'WeakRef', 'Promise', 'Date',
                 'RegExp', 'Error', 'TypeError', 'RangeError', 'SyntaxError', 'ReferenceError', 'EvalError',
                 'URIError', 'Number', 'String', 'Boolean', 'Symbol', 'BigInt', 'ArrayBuffer', 'DataView',
                 'Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array',
                 'Uint32Array', 'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array'];
  const p = internals.primordials;
  for (let i = 0; i < names.length; i++) {
    const ctor = p[names[i]];
    const proto = p[`${names[i]}Prototype`];
    if (ctor !== undefined && proto !== undefined) {
      MapPrototypeSet(wellKnownPrototypes, proto, { __proto__: null, name: names[i], ctor });
    }
  }
}

// The first constructor name on the prototype chain whose constructor the
// value is an instance of; null for a chain that ends without one (a null
// prototype); `Name <Proto>` for a chain with no constructor at all.
function getConstructorName(obj, ctx, recurseTimes) {
  let firstProto;
  const original = obj;
  for (let steps = 0; obj !== null && obj !== undefined && steps < 10000; steps++) {
    const known = MapPrototypeGet(wellKnownPrototypes, obj);
    if (known !== undefined && FunctionPrototypeSymbolHasInstance(known.ctor, original)) return known.name;
    const descriptor = GetOwnPropertyDescriptor(obj, 'constructor');
    if (descriptor !== undefined && typeof descriptor.value === 'function') {
      const name = descriptor.value.name;
      if (typeof name === 'string' && name !== '' && FunctionPrototypeSymbolHasInstance(descriptor.value, original)) {
        return name;
      }
    }
    obj = ObjectGetPrototypeOf(obj);
    if (firstProto === undefined) firstProto = obj;
  }
  if (firstProto === null) return null;
  const res = internalConstructorName(original);
  if (recurseTimes > ctx.depth) return `${res} <Complex prototype>`;
  const protoConstructor = getConstructorName(firstProto, ctx, recurseTimes + 1);
  if (protoConstructor === null) {
    return `${res} <${formatValue(newContext({ depth: -1 }), firstProto, 0)}>`;
  }
  return `${res} <${protoConstructor}>`;
}

function getPrefix(constructor, tag, fallback, size = '') {
  if (constructor === null) {
    if (tag !== '' && fallback !== tag) return `[${fallback}${size}: null prototype] [${tag}] `;
    return `[${fallback}${size}: null prototype] `;
  }
  if (tag !== '' && constructor !== tag) return `${constructor}${size} [${tag}] `;
  return `${constructor}${size} `;
}

function getCtxStyle(value, constructor, tag) {
  let fallback = '';
  if (constructor === null) {
    fallback = internalConstructorName(value);
    if (fallback === tag) fallback = 'Object';
  }
  return getPrefix(constructor, tag, fallback);
}

// Own enumerable keys: strings (indices left out for `nonIndex`), then
// enumerable symbols.
function getKeys(value, nonIndex) {
  const keys = NullProtoArray();
  const names = ObjectKeys(value);
  for (let i = 0; i < names.length; i++) {
    if (!nonIndex || !isIndexKey(names[i])) ArrayPrototypePush(keys, names[i]);
  }
  const symbols = ObjectGetOwnPropertySymbols(value);
  for (let i = 0; i < symbols.length; i++) {
    if (ObjectPrototypePropertyIsEnumerable(value, symbols[i])) ArrayPrototypePush(keys, symbols[i]);
  }
  return keys;
}

function getFunctionBase(value, constructor, tag, kind) {
  let source = '';
  try { source = FunctionPrototypeToString(value); } catch (e) { /* not a function after all */ }
  if (StringPrototypeStartsWith(source, 'class') && StringPrototypeEndsWith(source, '}')) {
    const next = StringPrototypeCharCodeAt(source, 5);
    if (next === 0x20 || next === 0x7b || next === 0x0a || next === 0x09 || next === 0x0d) {
      const hasName = ObjectPrototypeHasOwnProperty(value, 'name');
      const name = (hasName && value.name) || '(anonymous)';
      let base = `class ${name}`;
      if (constructor !== 'Function' && constructor !== null) base += ` [${constructor}]`;
      if (tag !== '' && constructor !== tag) base += ` [${tag}]`;
      if (constructor !== null) {
        const superName = ObjectGetPrototypeOf(value).name;
        if (superName) base += ` extends ${superName}`;
      } else {
        base += ' extends [null prototype]';
      }
      return `[${base}]`;
    }
  }
  const type = kind === 'Proxy' ? 'Function' : kind;
  let base = `[${type}`;
  if (constructor === null) base += ' (null prototype)';
  const name = value.name;
  if (name === '') base += ' (anonymous)';
  else base += `: ${typeof name === 'string' ? name : formatValue(newContext({ depth: -1 }), name, 0)}`;
  base += ']';
  if (constructor !== type && constructor !== null) base += ` ${constructor}`;
  if (tag !== '' && constructor !== tag) base += ` [${tag}]`;
  return base;
}

// A stack line of one of Ken's built-in scripts ("    at f (ken:http.js:3:9)").
const isBuiltinFrame = (line) => StringPrototypeStartsWith(line, '    at ') &&
  (StringPrototypeIncludes(line, '(ken:') || StringPrototypeStartsWith(line, '    at ken:'));

// err.stack without the frames of Ken's built-in scripts.
function hideBuiltinFrames(stack) {
  if (!StringPrototypeIncludes(stack, 'ken:')) return stack;
  let out = '';
  let from = 0;
  while (from <= stack.length) {
    let at = StringPrototypeIndexOf(stack, '\n', from);
    if (at === -1) at = stack.length;
    const line = StringPrototypeSlice(stack, from, at);
    if (!isBuiltinFrame(line)) out += (out === '' && from === 0 ? '' : '\n') + line;
    from = at + 1;
  }
  return out;
}
internals.hideBuiltinFrames = hideBuiltinFrames;

// value[key], or undefined if reading it throws (a getter, or V8 calling
// the program's Error.prepareStackTrace for `stack`).
const readOrUndefined = (value, key) => {
  try { return value[key]; } catch (e) { return undefined; }
};

function getStackString(error) {
  const stack = readOrUndefined(error, 'stack');
  if (stack) {
    try { return hideBuiltinFrames(String(stack)); } catch (e) { /* its toString threw */ }
  }
  try { return ErrorPrototypeToString(error); } catch (e) { return 'Error'; }
}

// "Error: x" for an error whose constructor or name differs from what its
// stack starts with: `TypeError [MyName]: x`, `[Error: null prototype]`.
function improveStack(stack, constructor, name, tag) {
  let len = name.length;
  if (constructor === null || (StringPrototypeEndsWith(name, 'Error') && StringPrototypeStartsWith(stack, name) &&
                               (stack.length === len || stack[len] === ':' || stack[len] === '\n'))) {
    let fallback = 'Error';
    if (constructor === null) {
      const colon = StringPrototypeIndexOf(stack, ':');
      const newline = StringPrototypeIndexOf(stack, '\n');
      let end = colon === -1 ? newline : newline === -1 ? colon : MathMin(colon, newline);
      if (end === -1) end = stack.length;
      fallback = StringPrototypeSlice(stack, 0, end);
      len = fallback.length;
      fallback = fallback || 'Error';
    }
    const prefix = StringPrototypeSlice(getPrefix(constructor, tag, fallback), 0, -1);
    if (name !== prefix) {
      if (StringPrototypeIncludes(prefix, name)) {
        stack = len === 0 ? `${prefix}: ${stack}` : `${prefix}${StringPrototypeSlice(stack, len)}`;
      } else {
        stack = `${prefix} [${name}]${StringPrototypeSlice(stack, len)}`;
      }
    }
  }
  return stack;
}

// `bare`: an error thrown or rejected at the top ("Uncaught Error: x"),
// printed without brackets even when its stack has no frames, as Node's
// REPL prints it.
function formatError(err, constructor, tag, ctx, keys, bare) {
  const rawName = readOrUndefined(err, 'name');
  const name = rawName != null && typeof rawName !== 'symbol' ? `${rawName}` : 'Error';
  let stack = getStackString(err);
  // name, message and stack shown by the stack are not repeated as keys.
  const shown = ['name', 'message', 'stack'];
  for (let i = 0; i < shown.length; i++) {
    const index = ArrayPrototypeIndexOf(keys, shown[i]);
    const own = readOrUndefined(err, shown[i]);
    if (index !== -1 && typeof own === 'string' && StringPrototypeIncludes(stack, own)) ArrayPrototypeSplice(keys, index, 1);
  }
  if ('cause' in err && !ArrayPrototypeIncludes(keys, 'cause')) ArrayPrototypePush(keys, 'cause');
  if (ArrayIsArray(readOrUndefined(err, 'errors')) && !ArrayPrototypeIncludes(keys, 'errors')) {
    ArrayPrototypePush(keys, 'errors');
  }
  stack = improveStack(stack, constructor, name, tag);
  const rawMessage = readOrUndefined(err, 'message');
  const message = typeof rawMessage === 'string' ? rawMessage : '';
  let pos = (message && StringPrototypeIndexOf(stack, message)) || -1;
  if (pos !== -1) pos += message.length;
  const stackStart = StringPrototypeIndexOf(stack, '\n    at', pos);
  if (stackStart === -1 && !bare) stack = `[${stack}]`;
  if (ctx.indentationLvl !== 0) stack = replaceNewlines(stack, `\n${StringPrototypeRepeat(' ', ctx.indentationLvl)}`);
  return stack;
}

function formatValue(ctx, value, recurseTimes) {
  if (typeof value !== 'object' && typeof value !== 'function') return formatPrimitive(ctx, value);
  if (value === null) return 'null';
  let proxy = proxyDetails(value);
  if (proxy !== undefined) {
    if (proxy === null || proxy[0] === null) return '<Revoked Proxy>';
    if (ctx.showProxy) return formatProxy(ctx, proxy, recurseTimes);
    // Formatted as its target, which is unwrapped too: no trap ever runs.
    while (proxy !== undefined) {
      if (proxy === null) return '<Revoked Proxy>';
      value = proxy[0];
      proxy = proxyDetails(value);
    }
  }
  if (ArrayPrototypeIncludes(ctx.seen, value)) {
    let index = 1;
    if (ctx.circular === undefined) {
      ctx.circular = new Map();
      MapPrototypeSet(ctx.circular, value, index);
    } else {
      index = MapPrototypeGet(ctx.circular, value);
      if (index === undefined) {
        index = MapPrototypeGetSize(ctx.circular) + 1;
        MapPrototypeSet(ctx.circular, value, index);
      }
    }
    return `[Circular *${index}]`;
  }
  return formatRaw(ctx, value, recurseTimes);
}

function formatProxy(ctx, proxy, recurseTimes) {
  if (recurseTimes > ctx.depth) return 'Proxy [Array]';
  recurseTimes += 1;
  ctx.indentationLvl += 2;
  const res = NullProtoArray();
  ArrayPrototypePush(res, formatValue(ctx, proxy[0], recurseTimes));
  ArrayPrototypePush(res, formatValue(ctx, proxy[1], recurseTimes));
  ctx.indentationLvl -= 2;
  return reduceToSingleString(ctx, res, '', ['Proxy [', ']'], kArrayExtrasType, recurseTimes);
}

const emptyFormatter = () => NullProtoArray();

function formatRaw(ctx, value, recurseTimes) {
  const kind = brand(value);
  const constructor = getConstructorName(value, ctx, recurseTimes);
  let tag = '';
  try { tag = value[SymbolToStringTag]; } catch (e) { tag = ''; }
  if (typeof tag !== 'string' || (tag !== '' && ObjectPrototypePropertyIsEnumerable(value, SymbolToStringTag))) tag = '';
  let base = '';
  let formatter = emptyFormatter;
  let braces;
  let keys;
  let noIterator = true;
  let extrasType = kObjectType;
  if (SymbolIterator in value || constructor === null) {
    noIterator = false;
    if (ArrayIsArray(value)) {
      const prefix = constructor !== 'Array' || tag !== '' ? getPrefix(constructor, tag, 'Array', `(${value.length})`) : '';
      keys = getKeys(value, true);
      braces = [`${prefix}[`, ']'];
      if (value.length === 0 && keys.length === 0) return `${braces[0]}]`;
      extrasType = kArrayExtrasType;
      formatter = formatArray;
    } else if (kind === 'Set') {
      const size = SetPrototypeGetSize(value);
      const prefix = getPrefix(constructor, tag, 'Set', `(${size})`);
      keys = getKeys(value, false);
      formatter = formatSet;
      if (size === 0 && keys.length === 0) return `${prefix}{}`;
      braces = [`${prefix}{`, '}'];
    } else if (kind === 'Map') {
      const size = MapPrototypeGetSize(value);
      const prefix = getPrefix(constructor, tag, 'Map', `(${size})`);
      keys = getKeys(value, false);
      formatter = formatMap;
      if (size === 0 && keys.length === 0) return `${prefix}{}`;
      braces = [`${prefix}{`, '}'];
    } else if (kind === 'TypedArray') {
      keys = getKeys(value, true);
      const size = TypedArrayPrototypeGetLength(value);
      const fallback = constructor === null ? TypedArrayPrototypeGetSymbolToStringTag(value) : '';
      const prefix = getPrefix(constructor, tag, fallback, `(${size})`);
      braces = [`${prefix}[`, ']'];
      if (size === 0 && keys.length === 0) return `${braces[0]}]`;
      formatter = formatTypedArray;
      extrasType = kArrayExtrasType;
    } else if (kind === 'MapIterator' || kind === 'SetIterator') {
      keys = getKeys(value, false);
      const type = kind === 'MapIterator' ? 'Map' : 'Set';
      let t = tag;
      if (t !== `${type} Iterator`) {
        if (t !== '') t += '] [';
        t += `${type} Iterator`;
      }
      braces = [`[${t}] {`, '}'];
      formatter = (c, v, r) => formatIterator(c, v, r, braces);
    } else {
      noIterator = true;
    }
  }
  if (noIterator) {
    keys = getKeys(value, false);
    braces = ['{', '}'];
    if (typeof value === 'function') {
      base = getFunctionBase(value, constructor, tag, kind);
      if (keys.length === 0) return base;
    } else if (kind === 'Module') {
      braces[0] = `${getPrefix(constructor, tag, 'Module')}{`;  // an ES module namespace, as Node prints it
      if (keys.length === 0) return `${braces[0]}}`;
    } else if (constructor === 'Object' && kind !== 'NativeError' && kind !== 'Date' && kind !== 'RegExp' &&
               kind !== 'Promise' && kind !== 'WeakMap' && kind !== 'WeakSet' && kind !== 'ArrayBuffer' &&
               kind !== 'DataView' && kind !== 'Number' && kind !== 'String' && kind !== 'Boolean' &&
               kind !== 'BigInt' && kind !== 'Symbol' && !isErrorLike(value, kind)) {
      if (kind === 'Arguments') braces[0] = '[Arguments] {';
      else if (tag !== '') braces[0] = `${getPrefix(constructor, tag, 'Object')}{`;
      if (keys.length === 0) return `${braces[0]}}`;
    } else if (kind === 'RegExp') {
      base = `/${RegExpPrototypeGetSource(value)}/${regExpFlags(value)}`;
      const prefix = getPrefix(constructor, tag, 'RegExp');
      if (prefix !== 'RegExp ') base = `${prefix}${base}`;
      if (keys.length === 0 || recurseTimes > ctx.depth) return base;
    } else if (kind === 'Date') {
      const time = DatePrototypeGetTime(value);
      base = time !== time ? DatePrototypeToString(value) : DatePrototypeToISOString(value);
      const prefix = getPrefix(constructor, tag, 'Date');
      if (prefix !== 'Date ') base = `${prefix}${base}`;
      if (keys.length === 0) return base;
    } else if (isErrorLike(value, kind)) {
      base = formatError(value, constructor, tag, ctx, keys, ctx.uncaught === true && recurseTimes === 0);
      if (keys.length === 0) return base;
    } else if (kind === 'ArrayBuffer' || kind === 'SharedArrayBuffer') {
      braces[0] = `${getPrefix(constructor, tag, kind)}{`;
      formatter = formatArrayBuffer;
      ArrayPrototypeSplice(keys, 0, 0, 'byteLength');
    } else if (kind === 'DataView') {
      braces[0] = `${getPrefix(constructor, tag, 'DataView')}{`;
      ArrayPrototypeSplice(keys, 0, 0, 'byteLength', 'byteOffset', 'buffer');
    } else if (kind === 'Promise') {
      braces[0] = `${getPrefix(constructor, tag, 'Promise')}{`;
      formatter = formatPromise;
    } else if (kind === 'WeakSet' || kind === 'WeakMap') {
      braces[0] = `${getPrefix(constructor, tag, kind)}{`;
      formatter = () => {
        const output = NullProtoArray();
        ArrayPrototypePush(output, '<items unknown>');
        return output;
      };
    } else if (kind === 'Number' || kind === 'String' || kind === 'Boolean' || kind === 'BigInt' || kind === 'Symbol') {
      base = getBoxedBase(value, keys, constructor, tag, kind);
      if (keys.length === 0) return base;
    } else {
      if (keys.length === 0) return `${getCtxStyle(value, constructor, tag)}{}`;
      braces[0] = `${getCtxStyle(value, constructor, tag)}{`;
    }
  }
  if (recurseTimes > ctx.depth) {
    let name = StringPrototypeSlice(getCtxStyle(value, constructor, tag), 0, -1);
    if (constructor !== null) name = `[${name}]`;
    return name;
  }
  recurseTimes += 1;
  ArrayPrototypePush(ctx.seen, value);
  ctx.currentDepth = recurseTimes;
  const output = formatter(ctx, value, recurseTimes);
  for (let i = 0; i < keys.length; i++) {
    ArrayPrototypePush(output, formatProperty(ctx, value, recurseTimes, keys[i], extrasType, kind));
  }
  if (ctx.circular !== undefined) {
    const index = MapPrototypeGet(ctx.circular, value);
    if (index !== undefined) base = base === '' ? `<ref *${index}>` : `<ref *${index}> ${base}`;
  }
  ArrayPrototypePop(ctx.seen);
  return reduceToSingleString(ctx, output, base, braces, extrasType, recurseTimes, value);
}

// An Error by V8's brand, or by its prototype chain (Object.create(Error.prototype)).
const isErrorLike = (value, kind) => kind === 'NativeError' ||
  (typeof value === 'object' && FunctionPrototypeSymbolHasInstance(internals.primordials.Error, value));

function getBoxedBase(value, keys, constructor, tag, kind) {
  let primitive;
  if (kind === 'Number') primitive = NumberPrototypeValueOf(value);
  else if (kind === 'String') {
    primitive = StringPrototypeValueOf(value);
    ArrayPrototypeSplice(keys, 0, primitive.length);
  } else if (kind === 'Boolean') primitive = BooleanPrototypeValueOf(value);
  else if (kind === 'BigInt') primitive = BigIntPrototypeValueOf(value);
  else primitive = SymbolPrototypeValueOf(value);
  let base = `[${kind}`;
  if (kind !== constructor) base += constructor === null ? ' (null prototype)' : ` (${constructor})`;
  base += `: ${formatPrimitive(newContext({ breakLength: Infinity }), primitive)}]`;
  if (tag !== '' && tag !== constructor) base += ` [${tag}]`;
  return base;
}

function formatArray(ctx, value, recurseTimes) {
  const valLen = value.length;
  const len = MathMin(MathMax(0, ctx.maxArrayLength), valLen);
  const output = NullProtoArray();
  for (let i = 0; i < len; i++) {
    if (!ObjectPrototypeHasOwnProperty(value, i)) return formatSpecialArray(ctx, value, recurseTimes, len, output, i);
    ArrayPrototypePush(output, formatProperty(ctx, value, recurseTimes, i, kArrayType));
  }
  if (valLen - len > 0) ArrayPrototypePush(output, remainingText(valLen - len));
  return output;
}

// An array with holes: `<N empty items>` between the items it has.
function formatSpecialArray(ctx, value, recurseTimes, maxLength, output, i) {
  const keys = ObjectKeys(value);
  let index = i;
  for (; i < keys.length && output.length < maxLength; i++) {
    const key = keys[i];
    const tmp = Number(key);
    if (tmp > 2 ** 32 - 2) break;
    if (`${index}` !== key) {
      if (!isIndexKey(key)) break;
      ArrayPrototypePush(output, `<${plural(tmp - index, 'empty item')}>`);
      index = tmp;
      if (output.length === maxLength) break;
    }
    ArrayPrototypePush(output, formatProperty(ctx, value, recurseTimes, key, kArrayType));
    index++;
  }
  const remaining = value.length - index;
  if (output.length !== maxLength) {
    if (remaining > 0) ArrayPrototypePush(output, `<${plural(remaining, 'empty item')}>`);
  } else if (remaining > 0) {
    ArrayPrototypePush(output, remainingText(remaining));
  }
  return output;
}

function formatTypedArray(ctx, value) {
  const length = TypedArrayPrototypeGetLength(value);
  const maxLength = MathMin(MathMax(0, ctx.maxArrayLength), length);
  const output = NullProtoArray();
  for (let i = 0; i < maxLength; ++i) {
    const element = value[i];
    ArrayPrototypePush(output, typeof element === 'number' ? formatNumber(element) : `${element}n`);
  }
  if (length - maxLength > 0) ArrayPrototypePush(output, remainingText(length - maxLength));
  return output;
}

function formatArrayBuffer(ctx, value) {
  let bytes;
  const output = NullProtoArray();
  try { bytes = new Uint8Array(value); } catch (e) {
    ArrayPrototypePush(output, '(detached)');
    return output;
  }
  const length = TypedArrayPrototypeGetLength(bytes);
  const shown = MathMin(ctx.maxArrayLength, length);
  let str = '';
  for (let i = 0; i < shown; i++) str += (i > 0 ? ' ' : '') + StringPrototypePadStart(hex(bytes[i]), 2, '0');
  const remaining = length - ctx.maxArrayLength;
  if (remaining > 0) str += ` ... ${plural(remaining, 'more byte')}`;
  ArrayPrototypePush(output, `[Uint8Contents]: <${str}>`);
  return output;
}

// A Set's or Map's entries, at most maxArrayLength of them: `each(add)`
// walks the collection (captured SetPrototypeForEach/MapPrototypeForEach)
// and calls add(text) per entry; text() formats it only if it is shown.
function formatCollection(ctx, length, each) {
  const maxLength = MathMin(MathMax(0, ctx.maxArrayLength), length);
  const output = NullProtoArray();
  ctx.indentationLvl += 2;
  let i = 0;
  each((text) => {
    if (i++ < maxLength) ArrayPrototypePush(output, text());
  });
  if (length - maxLength > 0) ArrayPrototypePush(output, remainingText(length - maxLength));
  ctx.indentationLvl -= 2;
  return output;
}

const formatSet = (ctx, value, recurseTimes) => formatCollection(ctx, SetPrototypeGetSize(value), (add) => {
  SetPrototypeForEach(value, (v) => add(() => formatValue(ctx, v, recurseTimes)));
});

const formatMap = (ctx, value, recurseTimes) => formatCollection(ctx, MapPrototypeGetSize(value), (add) => {
  MapPrototypeForEach(value, (v, k) => add(() => `${formatValue(ctx, k, recurseTimes)} => ${formatValue(ctx, v, recurseTimes)}`));
});

// A Map or Set iterator: what it has left, as V8 previews it.
function formatIterator(ctx, value, recurseTimes, braces) {
  const preview = previewEntries(value);
  const entries = preview === undefined ? NullProtoArray() : preview[0];
  const output = NullProtoArray();
  const maxArrayLength = MathMax(ctx.maxArrayLength, 0);
  ctx.indentationLvl += 2;
  if (preview !== undefined && preview[1]) {
    const len = entries.length / 2;
    for (let i = 0; i < MathMin(maxArrayLength, len); i++) {
      const pair = NullProtoArray();
      ArrayPrototypePush(pair, formatValue(ctx, entries[i * 2], recurseTimes));
      ArrayPrototypePush(pair, formatValue(ctx, entries[i * 2 + 1], recurseTimes));
      ArrayPrototypePush(output, reduceToSingleString(ctx, pair, '', ['[', ']'], kArrayExtrasType, recurseTimes));
    }
    ctx.indentationLvl -= 2;
    if (len - maxArrayLength > 0) ArrayPrototypePush(output, remainingText(len - maxArrayLength));
    const open = braces[0];  // '[Map Iterator] {' -> '[Map Entries] {'
    if (StringPrototypeEndsWith(open, ' Iterator] {')) braces[0] = `${StringPrototypeSlice(open, 0, -12)} Entries] {`;
    return output;
  }
  for (let i = 0; i < MathMin(maxArrayLength, entries.length); i++) {
    ArrayPrototypePush(output, formatValue(ctx, entries[i], recurseTimes));
  }
  ctx.indentationLvl -= 2;
  if (entries.length - maxArrayLength > 0) ArrayPrototypePush(output, remainingText(entries.length - maxArrayLength));
  return output;
}

function formatPromise(ctx, value, recurseTimes) {
  const pair = promiseState(value);
  const output = NullProtoArray();
  if (pair[0] === 0) {
    ArrayPrototypePush(output, '<pending>');
  } else {
    ctx.indentationLvl += 2;
    const str = formatValue(ctx, pair[1], recurseTimes);
    ctx.indentationLvl -= 2;
    ArrayPrototypePush(output, pair[0] === 2 ? `<rejected> ${str}` : str);
  }
  return output;
}

// A DataView's or ArrayBuffer's own figures, read through the captured getters.
function builtinProperty(value, key, kind) {
  if (key === 'byteLength') {
    if (kind === 'DataView') return DataViewPrototypeGetByteLength(value);
    if (kind === 'ArrayBuffer') return ArrayBufferPrototypeGetByteLength(value);
  }
  if (key === 'byteOffset' && kind === 'DataView') return DataViewPrototypeGetByteOffset(value);
  if (key === 'buffer' && kind === 'DataView') return DataViewPrototypeGetBuffer(value);
  return value[key];
}

function formatProperty(ctx, value, recurseTimes, key, type, kind) {
  let desc = GetOwnPropertyDescriptor(value, key);
  if (desc === undefined) desc = { __proto__: null, value: builtinProperty(value, key, kind), enumerable: true };
  let str;
  if (desc.value !== undefined) {
    ctx.indentationLvl += 2;
    str = formatValue(ctx, desc.value, recurseTimes);
    ctx.indentationLvl -= 2;
  } else if (desc.get !== undefined) {
    str = desc.set !== undefined ? '[Getter/Setter]' : '[Getter]';
  } else if (desc.set !== undefined) {
    str = '[Setter]';
  } else {
    str = 'undefined';
  }
  if (type === kArrayType) return str;
  let name;
  if (typeof key === 'symbol') name = `[${strEscapeBare(SymbolPrototypeToString(key))}]`;
  else if (key === '__proto__') name = "['__proto__']";
  else if (desc.enumerable === false) name = `[${strEscapeBare(key)}]`;
  else if (isPlainKey(key)) name = key;
  else name = strEscape(key);
  return `${name}: ${str}`;
}

// strEscape without the quotes (symbol descriptions, non-enumerable keys).
const strEscapeBare = (s) => {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = StringPrototypeCharCodeAt(s, i);
    out += c < 0x20 || c === 0x27 || c === 0x5c || (c > 0x7e && c < 0xa0) ? metaEscape(c) : s[i];
  }
  return out;
};

function isBelowBreakLength(ctx, output, start, base) {
  let totalLength = output.length + start;
  if (totalLength + output.length > ctx.breakLength) return false;
  for (let i = 0; i < output.length; i++) {
    totalLength += output[i].length;
    if (totalLength > ctx.breakLength) return false;
  }
  return base === '' || !StringPrototypeIncludes(base, '\n');
}

// Node's groupArrayElements: more than six short items are laid out in
// aligned columns, about as many as make a square block of text.
function groupArrayElements(ctx, output, value) {
  let totalLength = 0;
  let maxLength = 0;
  let outputLength = output.length;
  if (ctx.maxArrayLength < output.length) outputLength--;  // leave out "... more items"
  const separatorSpace = 2;
  const dataLen = NullProtoArray();
  for (let i = 0; i < outputLength; i++) {
    const len = output[i].length;
    dataLen[i] = len;
    totalLength += len + separatorSpace;
    if (maxLength < len) maxLength = len;
  }
  const actualMax = maxLength + separatorSpace;
  if (actualMax * 3 + ctx.indentationLvl < ctx.breakLength &&
      (totalLength / actualMax > 5 || maxLength <= 6)) {
    const averageBias = MathSqrt(actualMax - totalLength / output.length);
    const biasedMax = MathMax(actualMax - 3 - averageBias, 1);
    const columns = MathMin(
      MathRound(MathSqrt(2.5 * biasedMax * outputLength) / biasedMax),
      MathFloor((ctx.breakLength - ctx.indentationLvl) / actualMax),
      ctx.compact * 4,
      15);
    if (columns <= 1) return output;
    const tmp = NullProtoArray();
    const maxLineLength = NullProtoArray();
    for (let i = 0; i < columns; i++) {
      let lineLength = 0;
      for (let j = i; j < output.length; j += columns) {
        if (dataLen[j] > lineLength) lineLength = dataLen[j];
      }
      maxLineLength[i] = lineLength + separatorSpace;
    }
    let padStart = true;
    if (value !== undefined) {
      for (let i = 0; i < output.length; i++) {
        if (typeof value[i] !== 'number' && typeof value[i] !== 'bigint') {
          padStart = false;
          break;
        }
      }
    }
    for (let i = 0; i < outputLength; i += columns) {
      const max = MathMin(i + columns, outputLength);
      let str = '';
      let j = i;
      for (; j < max - 1; j++) {
        const cell = `${output[j]}, `;
        str += padStart ? StringPrototypePadStart(cell, maxLineLength[j - i], ' ')
                        : StringPrototypePadEnd(cell, maxLineLength[j - i], ' ');
      }
      str += padStart ? StringPrototypePadStart(output[j], maxLineLength[j - i] - separatorSpace, ' ') : output[j];
      ArrayPrototypePush(tmp, str);
    }
    if (ctx.maxArrayLength < output.length) ArrayPrototypePush(tmp, output[outputLength]);
    return tmp;
  }
  return output;
}

function reduceToSingleString(ctx, output, base, braces, extrasType, recurseTimes, value) {
  const entries = output.length;
  if (extrasType === kArrayExtrasType && entries > 6) output = groupArrayElements(ctx, output, value);
  // Up to `compact` inner levels on one line, if it fits in breakLength.
  if (ctx.currentDepth - recurseTimes < ctx.compact && entries === output.length) {
    const start = output.length + ctx.indentationLvl + braces[0].length + base.length + 10;
    if (isBelowBreakLength(ctx, output, start, base)) {
      const joined = join(output, ', ');
      if (!StringPrototypeIncludes(joined, '\n')) {
        return `${base ? `${base} ` : ''}${braces[0]} ${joined} ${braces[1]}`;
      }
    }
  }
  const indentation = `\n${StringPrototypeRepeat(' ', ctx.indentationLvl)}`;
  return `${base ? `${base} ` : ''}${braces[0]}${indentation}  ${join(output, `,${indentation}  `)}${indentation}${braces[1]}`;
}


// inspect(value, top): `top` true formats a shell result as Node's REPL does
// (showProxy; a function prints its source); false as util.inspect does;
// 'raw' prints strings bare (console.log arguments). `options` (optional)
// overrides the context (breakLength, depth, ...).
const inspect = (value, top, options) => {
  try {
    if (top === 'raw' && typeof value === 'string') return value;
    if (top === true && typeof value === 'function' && proxyDetails(value) === undefined) {
      try { return FunctionPrototypeToString(value); } catch (e) { /* fall through */ }
    }
    const ctx = newContext({ showProxy: top === true, ...options });
    return formatValue(ctx, value, 0);
  } catch (e) {
    try {
      const message = e && e.message;  // the program's value: may throw again
      return `[value could not be inspected: ${typeof message === 'string' ? message : String(message)}]`;
    } catch (e2) {
      return '[value could not be inspected]';
    }
  }
};
internals.inspect = inspect;

// format(args): console.log's rendering of its argument list, with printf
// directives %s %d %i %f %j %o %O %c %% in a first string argument.
internals.format = (args) => {
  const out = NullProtoArray();
  let i = 0;
  if (args.length > 1 && typeof args[0] === 'string' && StringPrototypeIncludes(args[0], '%')) {
    let s = '';
    const fmt = args[0];
    i = 1;
    for (let k = 0; k < fmt.length; k++) {
      if (fmt[k] !== '%' || k + 1 >= fmt.length) { s += fmt[k]; continue; }
      const d = fmt[++k];
      if (d === '%') { s += '%'; continue; }
      if (i >= args.length || !StringPrototypeIncludes('sdifjoOc', d)) { s += '%' + d; continue; }
      const a = args[i++];
      if (d === 's') s += typeof a === 'string' ? a : inspect(a, false, { depth: 1 });
      else if (d === 'd' || d === 'i') s += typeof a === 'bigint' ? `${a}n` : String(d === 'i' ? parseInt(a) : Number(a));
      else if (d === 'f') s += String(parseFloat(a));
      else if (d === 'j') { try { s += JSONStringify(a); } catch (e) { s += '[Circular]'; } }
      else if (d === 'c') { /* CSS: ignored outside browsers */ }
      else if (d === 'o') s += inspect(a, false, { depth: 4 });
      else s += inspect(a, false);
    }
    ArrayPrototypePush(out, s);
  }
  for (; i < args.length; i++) ArrayPrototypePush(out, inspect(args[i], 'raw'));
  return ArrayPrototypeJoin(out, ' ');
};

// A value for a one-line listing: on one line, cut at `width` characters
// (at least 20).
const kListingWidth = 100;
const summary = (value, width) => {
  const text = inspect(value, false, { breakLength: Infinity, depth: 1, maxArrayLength: 10, maxStringLength: 80 });
  const line = replaceNewlines(text, ' ');
  const max = MathMax(width, 20);
  return line.length > max ? `${StringPrototypeSlice(line, 0, max - 4)} ...` : line;
};

// listGlobals(): the global properties a new heap does not have, one line
// each, `name: <value>` (values on one line and cut short; accessors as
// [Getter/Setter]), for `ken inspect`. internals.baselineGlobals is set by
// the host once the built-in scripts ran.
internals.listGlobals = () => {
  const baseline = new Set();
  const names = internals.baselineGlobals;
  for (let i = 0; i < names.length; i++) SetPrototypeAdd(baseline, names[i]);
  const own = ObjectGetOwnPropertyNames(global);
  let text = '';
  let lines = 0;
  for (let i = 0; i < own.length; i++) {
    const name = own[i];
    if (SetPrototypeHas(baseline, name)) continue;
    const d = GetOwnPropertyDescriptor(global, name);
    if (d === undefined) continue;
    const value = ObjectPrototypeHasOwnProperty(d, 'value') ? summary(d.value, kListingWidth - name.length - 2)
                                                            : '[Getter/Setter]';
    text += `${lines++ > 0 ? '\n' : ''}${name}: ${value}`;
  }
  return text;
};
