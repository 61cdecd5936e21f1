// Formats values for the shell and console the way Node's util.inspect does
// (close enough for a Node user to feel at home): strings quoted inside
// containers, `[Function: f]`, `Map(1) { 'a' => 1 }`, `<ref *1>` cycles,
// depth 2, lines broken past 72 columns. At the shell's top level a function
// prints its source, as the issue's transcript shows.
//
// The values it formats are the program's, and may be hostile (a Proxy that
// throws, a getter that throws: then the text says the value could not be
// inspected). Its own workings use only intrinsics captured when the store
// was created (primordials.js): what kind of object a value is comes from
// brand checks (a captured Map size getter throws for anything that is not a
// Map), not from methods the program can replace.
//
// Runs as `function (natives, internals)`; sets internals.inspect,
// internals.format and internals.listGlobals.
'use strict';
const {
  ArrayBufferPrototypeGetByteLength,
  ArrayIsArray,
  ArrayPrototypeIncludes,
  ArrayPrototypeJoin,
  ArrayPrototypePop,
  ArrayPrototypePush,
  BigIntPrototypeValueOf,
  BooleanPrototypeValueOf,
  DatePrototypeGetTime,
  DatePrototypeToISOString,
  FunctionPrototype,
  Error,
  ErrorPrototypeToString,
  FunctionPrototypeSymbolHasInstance,
  GetOwnPropertyDescriptor,
  JSONStringify,
  Map,
  MapPrototypeForEach,
  MapPrototypeGet,
  MapPrototypeGetSize,
  MapPrototypeSet,
  MathMin,
  Number,
  NumberPrototypeToString,
  NumberPrototypeValueOf,
  NullProtoArray,
  ObjectGetOwnPropertyNames,
  ObjectGetPrototypeOf,
  ObjectIs,
  ObjectPrototypeHasOwnProperty,
  ObjectPrototypeToString,
  Promise,
  ReflectOwnKeys,
  RegExpPrototype,
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
  SetPrototypeHas,
  SetPrototypeGetSize,
  String,
  StringPrototypeCharCodeAt,
  StringPrototypeIncludes,
  StringPrototypeIndexOf,
  StringPrototypePadStart,
  StringPrototypeRepeat,
  StringPrototypeSlice,
  StringPrototypeStartsWith,
  StringPrototypeToUpperCase,
  StringPrototypeValueOf,
  SymbolPrototypeToString,
  SymbolPrototypeValueOf,
  TypedArrayPrototypeGetLength,
  TypedArrayPrototypeGetSymbolToStringTag,
  Uint8Array,
  WeakRefPrototypeDeref,
  globalThis: global,
  parseFloat,
  parseInt,
  uncurryThis,
} = internals.primordials;
// Ken's Function.prototype.toString (polyfills.js: built-ins written in JS
// print as native code), taken while no user code exists.
const FunctionPrototypeToString = uncurryThis(FunctionPrototype.toString);
const promiseState = natives.promiseState;
const kBreakLength = 72;
const kMaxArrayItems = 100;
const kMaxStringLength = 10000;

// The [object Tag] name, '' if the value's Symbol.toStringTag getter threw.
const tagOf = (v) => {
  try {
    return StringPrototypeSlice(ObjectPrototypeToString(v), 8, -1);
  } catch (e) {
    return '';
  }
};
// For a tag that says nothing (''), every brand check is worth a try.
const mayBe = (tag, name) => tag === name || tag === '';

const pushAll = (list, more) => {
  for (let i = 0; i < more.length; i++) ArrayPrototypePush(list, more[i]);
};
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
const firstLine = (s) => {
  const at = StringPrototypeIndexOf(s, '\n');
  return at === -1 ? s : StringPrototypeSlice(s, 0, at);
};
const plural = (n, word) => `${n} ${word}${n > 1 ? 's' : ''}`;

function quote(s) {
  let q = "'";
  if (StringPrototypeIncludes(s, "'")) {
    if (!StringPrototypeIncludes(s, '"')) q = '"';
    else if (!StringPrototypeIncludes(s, '`') && !StringPrototypeIncludes(s, '${')) q = '`';
  }
  let out = '';
  let from = 0;  // start of the run of characters that need no escape
  for (let i = 0; i < s.length; i++) {
    const c = StringPrototypeCharCodeAt(s, i);
    let esc;
    if (c === 0x5c) esc = '\\\\';
    else if (c === 0x0a) esc = '\\n';
    else if (c === 0x09) esc = '\\t';
    else if (c === 0x0d) esc = '\\r';
    else if (c === 0x08) esc = '\\b';
    else if (c === 0x0c) esc = '\\f';
    else if (c === 0x0b) esc = '\\v';
    else if (c < 0x20 || c === 0x7f) esc = '\\x' + StringPrototypePadStart(StringPrototypeToUpperCase(NumberPrototypeToString(c, 16)), 2, '0');
    else if (c === StringPrototypeCharCodeAt(q, 0)) esc = '\\' + q;
    else continue;
    out += StringPrototypeSlice(s, from, i) + esc;
    from = i + 1;
  }
  return q + (from === 0 ? s : out + StringPrototypeSlice(s, from)) + q;
}

// /^[a-zA-Z_$][a-zA-Z_$0-9]*$/
const isIdentifier = (key) => {
  if (key.length === 0) return false;
  for (let i = 0; i < key.length; i++) {
    const c = StringPrototypeCharCodeAt(key, i);
    const word = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c === 0x24;
    if (!word && !(i > 0 && c >= 0x30 && c <= 0x39)) return false;
  }
  return true;
};
// /^(0|[1-9][0-9]*)$/
const isIndexKey = (key) => {
  if (key.length === 0 || (key.length > 1 && StringPrototypeCharCodeAt(key, 0) === 0x30)) return false;
  for (let i = 0; i < key.length; i++) {
    const c = StringPrototypeCharCodeAt(key, i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
};

function formatKey(key) {
  if (typeof key === 'symbol') return '[' + SymbolPrototypeToString(key) + ']';
  return isIdentifier(key) ? key : quote(key);
}

function formatPrimitive(v, top) {
  switch (typeof v) {
    case 'string': {
      if (top === 'raw') return v;
      const s = v.length > kMaxStringLength ? StringPrototypeSlice(v, 0, kMaxStringLength) : v;
      const more = v.length - s.length;
      return quote(s) + (more > 0 ? `... ${plural(more, 'more character')}` : '');
    }
    case 'number': return ObjectIs(v, -0) ? '-0' : String(v);
    case 'bigint': return String(v) + 'n';
    case 'symbol': return SymbolPrototypeToString(v);
    case 'undefined': return 'undefined';
    default: return String(v);
  }
}

function functionLabel(fn) {
  let src = '';
  try { src = FunctionPrototypeToString(fn); } catch (e) { /* revoked proxy */ }
  const name = typeof fn.name === 'string' && fn.name ? fn.name : '';
  if (StringPrototypeStartsWith(src, 'class')) return name ? `[class ${name}]` : '[class (anonymous)]';
  const tag = tagOf(fn);
  const kind = tag === 'AsyncFunction' || tag === 'GeneratorFunction' || tag === 'AsyncGeneratorFunction' ? tag : 'Function';
  return name ? `[${kind}: ${name}]` : `[${kind} (anonymous)]`;
}

function constructorName(obj) {
  let proto = obj;
  for (let i = 0; i < 100 && proto !== null; i++) {
    const d = GetOwnPropertyDescriptor(proto, 'constructor');
    if (d !== undefined && typeof d.value === 'function') {
      const name = d.value.name;
      if (typeof name === 'string' && name) return name;
    }
    proto = ObjectGetPrototypeOf(proto);
  }
  return null;
}

function errorText(err) {
  let stack;
  try { stack = err.stack; } catch (e) { /* getter threw */ }
  if (typeof stack === 'string' && stack) return stack;
  try { return ErrorPrototypeToString(err); } catch (e) { return '[Error]'; }
}

function isError(v) {
  return FunctionPrototypeSymbolHasInstance(Error, v) || tagOf(v) === 'Error';
}

// Brand checks: each captured getter or method throws for any other kind.
const isDate = (v) => { try { DatePrototypeGetTime(v); return true; } catch (e) { return false; } };
const isRegExp = (v) => {
  if (v === RegExpPrototype) return false;  // its source getter answers '(?:)'
  try { RegExpPrototypeGetSource(v); return true; } catch (e) { return false; }
};
const isMap = (v) => { try { MapPrototypeGetSize(v); return true; } catch (e) { return false; } };
const isSet = (v) => { try { SetPrototypeGetSize(v); return true; } catch (e) { return false; } };
const regExpText = (re) => {
  let flags = '';
  if (RegExpPrototypeGetHasIndices !== undefined && RegExpPrototypeGetHasIndices(re)) flags += 'd';
  if (RegExpPrototypeGetGlobal(re)) flags += 'g';
  if (RegExpPrototypeGetIgnoreCase(re)) flags += 'i';
  if (RegExpPrototypeGetMultiline(re)) flags += 'm';
  if (RegExpPrototypeGetDotAll(re)) flags += 's';
  if (RegExpPrototypeGetUnicode(re)) flags += 'u';
  if (RegExpPrototypeGetSticky(re)) flags += 'y';
  return `/${RegExpPrototypeGetSource(re)}/${flags}`;
};
// `[Number: 3]` for a boxed primitive, undefined for anything else.
const boxedKinds = [
  ['Number', NumberPrototypeValueOf], ['String', StringPrototypeValueOf], ['Boolean', BooleanPrototypeValueOf],
  ['Symbol', SymbolPrototypeValueOf], ['BigInt', BigIntPrototypeValueOf],
];
const boxedText = (v, tag) => {
  const kinds = boxedKinds;
  for (let i = 0; i < kinds.length; i++) {
    const kind = kinds[i];
    if (!mayBe(tag, kind[0])) continue;
    let prim;
    const valueOf = kind[1];
    try { prim = valueOf(v); } catch (e) { continue; }
    return `[${kind[0]}: ${formatPrimitive(prim, false)}]`;
  }
  return undefined;
};

// ctx: { seen: [objects being formatted], refs: Map(obj -> id), depth }
function formatValue(ctx, v, depth, top) {
  if (v === null) return 'null';
  if (typeof v !== 'object' && typeof v !== 'function') return formatPrimitive(v, top);
  if (ArrayPrototypeIncludes(ctx.seen, v)) {
    let id = MapPrototypeGet(ctx.refs, v);
    if (id === undefined) {
      id = MapPrototypeGetSize(ctx.refs) + 1;
      MapPrototypeSet(ctx.refs, v, id);
    }
    return `[Circular *${id}]`;
  }
  if (typeof v === 'function' && top === true) {
    try { return FunctionPrototypeToString(v); } catch (e) { return functionLabel(v); }
  }
  const out = formatObject(ctx, v, depth, top);
  const id = MapPrototypeGet(ctx.refs, v);
  return id !== undefined ? `<ref *${id}> ${out}` : out;
}

function ownEntries(ctx, obj, depth, skipIndices, skipKeys) {
  const parts = NullProtoArray();
  const keys = ReflectOwnKeys(obj);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    if (skipIndices && typeof key === 'string' && isIndexKey(key)) continue;
    if (skipKeys && ArrayPrototypeIncludes(skipKeys, key)) continue;
    const d = GetOwnPropertyDescriptor(obj, key);
    if (!d || !d.enumerable) continue;
    let val;
    if (d.get || d.set) val = d.get && d.set ? '[Getter/Setter]' : d.get ? '[Getter]' : '[Setter]';
    else val = formatValue(ctx, d.value, depth + 1, false);
    ArrayPrototypePush(parts, `${formatKey(key)}: ${val}`);
  }
  return parts;
}

function wrapBraces(prefix, open, parts, close, depth) {
  if (parts.length === 0) {
    if (open === '[') return prefix ? `${prefix}[]` : '[]';
    return prefix ? `${prefix}{}` : '{}';
  }
  const single = `${prefix}${open} ${ArrayPrototypeJoin(parts, ', ')} ${close}`;
  if (single.length + depth * 2 <= kBreakLength && !StringPrototypeIncludes(single, '\n')) return single;
  const pad = StringPrototypeRepeat('  ', depth + 1);
  let body = '';
  for (let i = 0; i < parts.length; i++) body += (i > 0 ? ',\n' + pad : '') + replaceNewlines(parts[i], '\n' + pad);
  return `${prefix}${open}\n${pad}${body}\n${StringPrototypeRepeat('  ', depth)}${close}`;
}

function formatObject(ctx, v, depth, top) {
  const tag = tagOf(v);
  const ctor = constructorName(v);
  const proto = ObjectGetPrototypeOf(v);
  const nullProto = proto === null ? '[Object: null prototype] ' : '';

  if (typeof v === 'function') {
    const label = functionLabel(v);
    if (depth > ctx.depth) return label;
    ArrayPrototypePush(ctx.seen, v);
    const parts = ownEntries(ctx, v, depth);
    ArrayPrototypePop(ctx.seen);
    return parts.length ? wrapBraces(label + ' ', '{', parts, '}', depth) : label;
  }
  if (isError(v)) {
    const text = errorText(v);
    if (!top && depth > 0) return `[${firstLine(text)}]`;
    ArrayPrototypePush(ctx.seen, v);
    const parts = ownEntries(ctx, v, depth, false, ['stack', 'message']);
    ArrayPrototypePop(ctx.seen);
    return parts.length ? wrapBraces(text + ' ', '{', parts, '}', depth) : text;
  }
  if (mayBe(tag, 'Date') && isDate(v)) {
    const t = DatePrototypeGetTime(v);
    return t !== t ? 'Invalid Date' : DatePrototypeToISOString(v);
  }
  if (mayBe(tag, 'RegExp') && isRegExp(v)) return regExpText(v);
  const boxed = boxedText(v, tag);
  if (boxed !== undefined) return boxed;
  if (depth > ctx.depth) {
    if (ArrayIsArray(v)) return '[Array]';
    return `[${ctor || tag || 'Object'}]`;
  }
  ArrayPrototypePush(ctx.seen, v);
  try {
    if (ArrayIsArray(v)) {
      const parts = NullProtoArray();
      let holes = 0;
      const len = v.length;
      const shown = MathMin(len, kMaxArrayItems);
      for (let i = 0; i < shown; i++) {
        if (!ObjectPrototypeHasOwnProperty(v, i)) { holes++; continue; }
        if (holes) { ArrayPrototypePush(parts, `<${plural(holes, 'empty item')}>`); holes = 0; }
        ArrayPrototypePush(parts, formatValue(ctx, v[i], depth + 1, false));
      }
      if (holes) ArrayPrototypePush(parts, `<${plural(holes, 'empty item')}>`);
      if (len > shown) ArrayPrototypePush(parts, `... ${plural(len - shown, 'more item')}`);
      pushAll(parts, ownEntries(ctx, v, depth, true, ['length']));
      const prefix = ctor && ctor !== 'Array' ? `${ctor}(${len}) ` : nullProto ? `[Array(${len}): null prototype] ` : '';
      return wrapBraces(prefix, '[', parts, ']', depth);
    }
    const typedName = TypedArrayPrototypeGetSymbolToStringTag(v);  // undefined unless a TypedArray
    if (typedName !== undefined) {
      const len = TypedArrayPrototypeGetLength(v);
      const parts = NullProtoArray();
      const shown = MathMin(len, kMaxArrayItems);
      for (let i = 0; i < shown; i++) ArrayPrototypePush(parts, formatPrimitive(v[i], false));
      if (len > kMaxArrayItems) ArrayPrototypePush(parts, `... ${plural(len - kMaxArrayItems, 'more item')}`);
      return wrapBraces(`${ctor || typedName}(${len}) `, '[', parts, ']', depth);
    }
    if (tag === 'ArrayBuffer' || tag === 'SharedArrayBuffer') {
      let n = 0;
      try { n = ArrayBufferPrototypeGetByteLength(v); } catch (e) { /* detached */ }
      const shown = MathMin(n, 50);
      const u8 = new Uint8Array(v, 0, shown);
      let bytes = '';
      for (let i = 0; i < shown; i++) bytes += (i > 0 ? ' ' : '') + StringPrototypePadStart(NumberPrototypeToString(u8[i], 16), 2, '0');
      const contents = `[Uint8Contents]: <${bytes}${n > 50 ? ` ... ${plural(n - 50, 'more byte')}` : ''}>`;
      const parts = NullProtoArray();
      ArrayPrototypePush(parts, contents);
      ArrayPrototypePush(parts, `byteLength: ${n}`);
      pushAll(parts, ownEntries(ctx, v, depth));
      return wrapBraces(`${ctor || tag} `, '{', parts, '}', depth);
    }
    if (mayBe(tag, 'Map') && isMap(v)) {
      const parts = NullProtoArray();
      MapPrototypeForEach(v, (val, k) => {
        ArrayPrototypePush(parts, `${formatValue(ctx, k, depth + 1, false)} => ${formatValue(ctx, val, depth + 1, false)}`);
      });
      pushAll(parts, ownEntries(ctx, v, depth));
      return wrapBraces(`${ctor || 'Map'}(${MapPrototypeGetSize(v)}) `, '{', parts, '}', depth);
    }
    if (mayBe(tag, 'Set') && isSet(v)) {
      const parts = NullProtoArray();
      SetPrototypeForEach(v, (val) => { ArrayPrototypePush(parts, formatValue(ctx, val, depth + 1, false)); });
      pushAll(parts, ownEntries(ctx, v, depth));
      return wrapBraces(`${ctor || 'Set'}(${SetPrototypeGetSize(v)}) `, '{', parts, '}', depth);
    }
    if (tag === 'WeakMap' || tag === 'WeakSet') return `${ctor || tag} { <items unknown> }`;
    if (mayBe(tag, 'WeakRef')) {
      let target;
      let isWeakRef = true;
      try { target = WeakRefPrototypeDeref(v); } catch (e) { isWeakRef = false; }
      if (isWeakRef) return `${ctor || 'WeakRef'} { ${formatValue(ctx, target, depth + 1, false)} }`;
    }
    if (mayBe(tag, 'Promise') && FunctionPrototypeSymbolHasInstance(Promise, v)) {
      let pair;
      try { pair = promiseState(v); } catch (e) { /* not a promise after all */ }
      if (pair !== undefined) {
        const state = pair[0];
        const result = pair[1];
        const parts = NullProtoArray();
        ArrayPrototypePush(parts, state === 0 ? '<pending>' : state === 2
          ? `<rejected> ${formatValue(ctx, result, depth + 1, false)}` : formatValue(ctx, result, depth + 1, false));
        pushAll(parts, ownEntries(ctx, v, depth));
        return wrapBraces(`${ctor || 'Promise'} `, '{', parts, '}', depth);
      }
    }
    let prefix = '';
    if (nullProto) prefix = nullProto;
    else if (tag === 'Arguments') prefix = '[Arguments] ';
    else if (ctor && ctor !== 'Object') prefix = `${ctor} `;
    else if (tag !== 'Object' && tag) prefix = `Object [${tag}] `;
    if (ctor && tag && tag !== 'Object' && tag !== ctor && !StringPrototypeIncludes(prefix, '[')) prefix = `${ctor} [${tag}] `;
    if (tag === 'Arguments') {
      const parts = NullProtoArray();
      const len = v.length;
      for (let i = 0; i < len; i++) ArrayPrototypePush(parts, formatValue(ctx, v[i], depth + 1, false));
      return wrapBraces(prefix, '[', parts, ']', depth);
    }
    return wrapBraces(prefix, '{', ownEntries(ctx, v, depth), '}', depth);
  } finally {
    ArrayPrototypePop(ctx.seen);
  }
}

// inspect(value, top): `top` true formats a shell result (functions print
// their source); 'raw' prints strings bare (console.log arguments).
const inspect = (value, top) => {
  try {
    return formatValue({ __proto__: null, seen: NullProtoArray(), refs: new Map(), depth: 2 }, value, 0, top);
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
      if (d === 's') s += typeof a === 'string' ? a : inspect(a, false);
      else if (d === 'd' || d === 'i') s += typeof a === 'bigint' ? `${a}n` : String(d === 'i' ? parseInt(a) : Number(a));
      else if (d === 'f') s += String(parseFloat(a));
      else if (d === 'j') { try { s += JSONStringify(a); } catch (e) { s += '[Circular]'; } }
      else if (d === 'c') { /* CSS: ignored outside browsers */ }
      else s += inspect(a, false);
    }
    ArrayPrototypePush(out, s);
  }
  for (; i < args.length; i++) ArrayPrototypePush(out, inspect(args[i], 'raw'));
  return ArrayPrototypeJoin(out, ' ');
};

// listGlobals(): the global properties a new heap does not have, one line
// each, `name: <value>` (accessors as [Getter/Setter]), for `ken inspect`.
// internals.baselineGlobals is set by the host once the built-in scripts ran.
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
    const value = ObjectPrototypeHasOwnProperty(d, 'value') ? inspect(d.value, false) : '[Getter/Setter]';
    text += `${lines++ > 0 ? '\n' : ''}${name}: ${value}`;
  }
  return text;
};
