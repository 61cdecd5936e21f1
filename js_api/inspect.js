// Formats values for the shell and console the way Node's util.inspect does
// (close enough for a Node user to feel at home): strings quoted inside
// containers, `[Function: f]`, `Map(1) { 'a' => 1 }`, `<ref *1>` cycles,
// depth 2, lines broken past 72 columns. At the shell's top level a function
// prints its source, as the issue's transcript shows.
//
// Runs as `function (natives, internals)`; sets internals.inspect.
'use strict';
const ReflectApply = Reflect.apply;
const objectToString = Object.prototype.toString;
const fnToString = Function.prototype.toString;
const errorToString = Error.prototype.toString;
const dateToISOString = Date.prototype.toISOString;
const dateGetTime = Date.prototype.getTime;
const regexpToString = RegExp.prototype.toString;
const symbolToString = Symbol.prototype.toString;
const mapEntries = Map.prototype.entries;
const setValues = Set.prototype.values;
const mapSize = Object.getOwnPropertyDescriptor(Map.prototype, 'size').get;
const setSize = Object.getOwnPropertyDescriptor(Set.prototype, 'size').get;
const TypedArray = Object.getPrototypeOf(Int8Array);
const typedArrayTag = Object.getOwnPropertyDescriptor(TypedArray.prototype, Symbol.toStringTag).get;
const abByteLength = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'byteLength').get;
const kBreakLength = 72;
const kMaxArrayItems = 100;
const kMaxStringLength = 10000;

const tagOf = (v) => ReflectApply(objectToString, v, []).slice(8, -1);

function quote(s) {
  let q = "'";
  if (s.includes("'")) q = !s.includes('"') ? '"' : (!s.includes('`') && !s.includes('${') ? '`' : "'");
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0);
    if (ch === q || ch === '\\') out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (ch === '\v') out += '\\v';
    else if (c < 0x20 || c === 0x7f) out += '\\x' + c.toString(16).toUpperCase().padStart(2, '0');
    else out += ch;
  }
  return q + out + q;
}

function formatKey(key) {
  if (typeof key === 'symbol') return '[' + ReflectApply(symbolToString, key, []) + ']';
  return /^[a-zA-Z_$][a-zA-Z_$0-9]*$/.test(key) ? key : quote(key);
}

function formatPrimitive(v, top) {
  switch (typeof v) {
    case 'string': {
      if (top === 'raw') return v;
      const s = v.length > kMaxStringLength ? v.slice(0, kMaxStringLength) : v;
      const more = v.length - s.length;
      return quote(s) + (more > 0 ? `... ${more} more character${more > 1 ? 's' : ''}` : '');
    }
    case 'number': return Object.is(v, -0) ? '-0' : String(v);
    case 'bigint': return String(v) + 'n';
    case 'symbol': return ReflectApply(symbolToString, v, []);
    case 'undefined': return 'undefined';
    default: return String(v);
  }
}

function functionLabel(fn) {
  let src = '';
  try { src = ReflectApply(fnToString, fn, []); } catch (e) { /* revoked proxy */ }
  const name = typeof fn.name === 'string' && fn.name ? fn.name : '';
  if (src.startsWith('class')) return name ? `[class ${name}]` : '[class (anonymous)]';
  const tag = tagOf(fn);
  const kind = tag === 'AsyncFunction' || tag === 'GeneratorFunction' || tag === 'AsyncGeneratorFunction' ? tag : 'Function';
  return name ? `[${kind}: ${name}]` : `[${kind} (anonymous)]`;
}

function constructorName(obj) {
  let proto = obj;
  for (let i = 0; i < 100 && proto !== null; i++) {
    const d = Object.getOwnPropertyDescriptor(proto, 'constructor');
    if (d && typeof d.value === 'function' && typeof d.value.name === 'string' && d.value.name) return d.value.name;
    proto = Object.getPrototypeOf(proto);
  }
  return null;
}

function errorText(err) {
  let stack;
  try { stack = err.stack; } catch (e) { /* getter threw */ }
  if (typeof stack === 'string' && stack) return stack;
  try { return ReflectApply(errorToString, err, []); } catch (e) { return '[Error]'; }
}

function isError(v) {
  return v instanceof Error || tagOf(v) === 'Error';
}

// ctx: { seen: [], refs: Map(obj -> id), depth }
function formatValue(ctx, v, depth, top) {
  if (v === null) return 'null';
  if (typeof v !== 'object' && typeof v !== 'function') return formatPrimitive(v, top);
  if (ctx.seen.includes(v)) {
    let id = ctx.refs.get(v);
    if (id === undefined) { id = ctx.refs.size + 1; ctx.refs.set(v, id); }
    return `[Circular *${id}]`;
  }
  if (typeof v === 'function' && top === true) {
    try { return ReflectApply(fnToString, v, []); } catch (e) { return functionLabel(v); }
  }
  const out = formatObject(ctx, v, depth, top);
  const id = ctx.refs.get(v);
  return id !== undefined ? `<ref *${id}> ${out}` : out;
}

function ownEntries(ctx, obj, depth, skipIndices, skipKeys) {
  const parts = [];
  for (const key of Reflect.ownKeys(obj)) {
    if (skipIndices && typeof key === 'string' && /^(0|[1-9][0-9]*)$/.test(key)) continue;
    if (skipKeys && skipKeys.includes(key)) continue;
    const d = Object.getOwnPropertyDescriptor(obj, key);
    if (!d || !d.enumerable) continue;
    let val;
    if (d.get || d.set) val = d.get && d.set ? '[Getter/Setter]' : d.get ? '[Getter]' : '[Setter]';
    else val = formatValue(ctx, d.value, depth + 1, false);
    parts.push(`${formatKey(key)}: ${val}`);
  }
  return parts;
}

function wrapBraces(prefix, open, parts, close, depth) {
  if (parts.length === 0) {
    if (open === '[') return prefix ? `${prefix}[]` : '[]';
    return prefix ? `${prefix}{}` : '{}';
  }
  const single = `${prefix}${open} ${parts.join(', ')} ${close}`;
  if (single.length + depth * 2 <= kBreakLength && !single.includes('\n')) return single;
  const pad = '  '.repeat(depth + 1);
  return `${prefix}${open}\n${pad}${parts.map((p) => p.split('\n').join('\n' + pad)).join(',\n' + pad)}\n${'  '.repeat(depth)}${close}`;
}

function formatObject(ctx, v, depth, top) {
  const tag = tagOf(v);
  const ctor = constructorName(v);
  const proto = Object.getPrototypeOf(v);
  const nullProto = proto === null ? '[Object: null prototype] ' : '';

  if (typeof v === 'function') {
    const label = functionLabel(v);
    if (depth > ctx.depth) return label;
    ctx.seen.push(v);
    const parts = ownEntries(ctx, v, depth);
    ctx.seen.pop();
    return parts.length ? wrapBraces(label + ' ', '{', parts, '}', depth) : label;
  }
  if (isError(v)) {
    const text = errorText(v);
    if (!top && depth > 0) return `[${text.split('\n')[0]}]`;
    ctx.seen.push(v);
    const parts = ownEntries(ctx, v, depth, false, ['stack', 'message']);
    ctx.seen.pop();
    return parts.length ? wrapBraces(text + ' ', '{', parts, '}', depth) : text;
  }
  if (tag === 'Date' && v instanceof Date) {
    const t = ReflectApply(dateGetTime, v, []);
    return t !== t ? 'Invalid Date' : ReflectApply(dateToISOString, v, []);
  }
  if (tag === 'RegExp' && v instanceof RegExp) return ReflectApply(regexpToString, v, []);
  if (v instanceof Number || v instanceof String || v instanceof Boolean || v instanceof Symbol || v instanceof BigInt) {
    try {
      const prim = v.valueOf();
      const kind = typeof prim === 'bigint' ? 'BigInt' : typeof prim === 'symbol' ? 'Symbol' : tag;
      return `[${kind}: ${formatPrimitive(prim, false)}]`;
    } catch (e) { /* fall through */ }
  }
  if (depth > ctx.depth) {
    if (Array.isArray(v)) return '[Array]';
    return `[${ctor || tag || 'Object'}]`;
  }
  ctx.seen.push(v);
  try {
    if (Array.isArray(v)) {
      const parts = [];
      let holes = 0;
      const len = v.length;
      const shown = Math.min(len, kMaxArrayItems);
      for (let i = 0; i < shown; i++) {
        if (!Object.prototype.hasOwnProperty.call(v, i)) { holes++; continue; }
        if (holes) { parts.push(`<${holes} empty item${holes > 1 ? 's' : ''}>`); holes = 0; }
        parts.push(formatValue(ctx, v[i], depth + 1, false));
      }
      if (holes) parts.push(`<${holes} empty item${holes > 1 ? 's' : ''}>`);
      if (len > shown) parts.push(`... ${len - shown} more item${len - shown > 1 ? 's' : ''}`);
      parts.push(...ownEntries(ctx, v, depth, true, ['length']));
      const prefix = ctor && ctor !== 'Array' ? `${ctor}(${len}) ` : nullProto ? `[Array(${len}): null prototype] ` : '';
      return wrapBraces(prefix, '[', parts, ']', depth);
    }
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
      const name = ReflectApply(typedArrayTag, v, []);
      const len = v.length;
      const parts = [];
      for (let i = 0; i < Math.min(len, kMaxArrayItems); i++) parts.push(formatPrimitive(v[i], false));
      if (len > kMaxArrayItems) parts.push(`... ${len - kMaxArrayItems} more item${len - kMaxArrayItems > 1 ? 's' : ''}`);
      return wrapBraces(`${ctor || name}(${len}) `, '[', parts, ']', depth);
    }
    if (tag === 'ArrayBuffer' || tag === 'SharedArrayBuffer') {
      let n = 0;
      try { n = ReflectApply(abByteLength, v, []); } catch (e) { /* detached */ }
      const bytes = Array.from(new Uint8Array(v, 0, Math.min(n, 50)), (b) => b.toString(16).padStart(2, '0'));
      const contents = `[Uint8Contents]: <${bytes.join(' ')}${n > 50 ? ` ... ${n - 50} more byte${n - 50 > 1 ? 's' : ''}` : ''}>`;
      return wrapBraces(`${ctor || tag} `, '{', [contents, `byteLength: ${n}`, ...ownEntries(ctx, v, depth)], '}', depth);
    }
    if (v instanceof Map && tag === 'Map') {
      const parts = [];
      for (const [k, val] of ReflectApply(mapEntries, v, [])) {
        parts.push(`${formatValue(ctx, k, depth + 1, false)} => ${formatValue(ctx, val, depth + 1, false)}`);
      }
      parts.push(...ownEntries(ctx, v, depth));
      return wrapBraces(`${ctor || 'Map'}(${ReflectApply(mapSize, v, [])}) `, '{', parts, '}', depth);
    }
    if (v instanceof Set && tag === 'Set') {
      const parts = [];
      for (const val of ReflectApply(setValues, v, [])) parts.push(formatValue(ctx, val, depth + 1, false));
      parts.push(...ownEntries(ctx, v, depth));
      return wrapBraces(`${ctor || 'Set'}(${ReflectApply(setSize, v, [])}) `, '{', parts, '}', depth);
    }
    if (tag === 'WeakMap' || tag === 'WeakSet') return `${ctor || tag} { <items unknown> }`;
    if (tag === 'WeakRef') return `${ctor || tag} { ${formatValue(ctx, v.deref(), depth + 1, false)} }`;
    if (tag === 'Promise' && v instanceof Promise) {
      const [state, result] = natives.promiseState(v);
      const parts = [state === 0 ? '<pending>' : state === 2
        ? `<rejected> ${formatValue(ctx, result, depth + 1, false)}` : formatValue(ctx, result, depth + 1, false)];
      parts.push(...ownEntries(ctx, v, depth));
      return wrapBraces(`${ctor || 'Promise'} `, '{', parts, '}', depth);
    }
    let prefix = '';
    if (nullProto) prefix = nullProto;
    else if (tag === 'Arguments') prefix = '[Arguments] ';
    else if (ctor && ctor !== 'Object') prefix = `${ctor} `;
    else if (tag !== 'Object' && tag) prefix = `Object [${tag}] `;
    if (ctor && tag && tag !== 'Object' && tag !== ctor && !prefix.includes('[')) prefix = `${ctor} [${tag}] `;
    if (tag === 'Arguments') {
      const parts = Array.from(v, (x) => formatValue(ctx, x, depth + 1, false));
      return wrapBraces(prefix, '[', parts, ']', depth);
    }
    return wrapBraces(prefix, '{', ownEntries(ctx, v, depth), '}', depth);
  } finally {
    ctx.seen.pop();
  }
}

// inspect(value, top): `top` true formats a shell result (functions print
// their source); 'raw' prints strings bare (console.log arguments).
internals.inspect = (value, top) => {
  try {
    return formatValue({ seen: [], refs: new Map(), depth: 2 }, value, 0, top);
  } catch (e) {
    return `[value could not be inspected: ${e && e.message}]`;
  }
};

// format(args): console.log's rendering of its argument list, with printf
// directives %s %d %i %f %j %o %O %c %% in a first string argument.
internals.format = (args) => {
  const out = [];
  let i = 0;
  if (typeof args[0] === 'string' && args.length > 1 && args[0].includes('%')) {
    let s = '';
    const fmt = args[0];
    i = 1;
    for (let k = 0; k < fmt.length; k++) {
      if (fmt[k] !== '%' || k + 1 >= fmt.length) { s += fmt[k]; continue; }
      const d = fmt[++k];
      if (d === '%') { s += '%'; continue; }
      if (i >= args.length || !'sdifjoOc'.includes(d)) { s += '%' + d; continue; }
      const a = args[i++];
      if (d === 's') s += typeof a === 'string' ? a : internals.inspect(a, false);
      else if (d === 'd' || d === 'i') s += typeof a === 'bigint' ? `${a}n` : String(d === 'i' ? parseInt(a) : Number(a));
      else if (d === 'f') s += String(parseFloat(a));
      else if (d === 'j') { try { s += JSON.stringify(a); } catch (e) { s += '[Circular]'; } }
      else if (d === 'c') { /* CSS: ignored outside browsers */ }
      else s += internals.inspect(a, false);
    }
    out.push(s);
  }
  for (; i < args.length; i++) out.push(internals.inspect(args[i], 'raw'));
  return out.join(' ');
};
