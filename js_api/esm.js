// ES modules: `import`/`export` in .mjs files and in .js files of a package
// whose package.json says "type": "module", `import()` from any code, and
// `import.meta` (url, filename, dirname, resolve). Native V8 module
// records, not a source transformation: V8 10.2's snapshots hold evaluated
// module records and their live bindings (docs/engine.md), so a module's
// state persists like any other object.
//
// Resolution is Node.js's ESM_RESOLVE (nodejs.org/api/esm.html,
// "Resolution algorithm"): relative and absolute specifiers and file: URLs
// name exact files (no extension or index.js search), bare specifiers go
// through node_modules, package "exports" with the conditions `ken`,
// `worker`, `browser`, `import`, `default`, else the package "main".
// CommonJS and JSON files imported from a module load through require
// (modules.js) and are seen through a facade module: `default` is
// module.exports, and each own enumerable key of it whose name is an
// identifier is a named export (Node finds named exports by a static scan).
//
// One load (the program, a .load, an import() of a module not loaded yet)
// compiles every module of its graph that no earlier load evaluated, links
// and evaluates them in the calling turn: files are read only then, as for
// require. A module record lives across turns, but the id JS links it by
// (esm.h's ModuleTable) is per turn: an earlier load's module is reached
// through its namespace object (state.esm), directly by import(), and
// through a facade by a later load's `import` (its values as they are at
// that load, without live binding).
//
// Natives: esmCompile, esmLink, esmInstantiate, esmEvaluate, esmNamespace,
// esmStatus (js_api/esm.h). Runs as `function (natives, internals)` after modules.js;
// sets internals.runMainModule, esmRequire, esmImport, esmImportMeta.
'use strict';
const {
  ArrayPrototypePush,
  Error,
  JSONParse,
  JSONStringify,
  Map,
  MapPrototypeGet,
  MapPrototypeSet,
  NullProtoArray,
  NumberPrototypeToString,
  ObjectKeys,
  Promise,
  PromisePrototypeThen,
  PromiseReject: PromiseRejectStatic,
  PromiseResolve: PromiseResolveStatic,
  ReflectApply,
  ReflectOwnKeys,
  StringPrototypeCharCodeAt,
  StringPrototypeCodePointAt,
  StringPrototypeIndexOf,
  StringPrototypeSlice,
  StringPrototypeStartsWith,
  StringPrototypeToUpperCase,
  TypeError,
} = internals.primordials;
{
  // Promise.resolve/reject need their constructor as `this`.
  const PromiseResolve = (v) => ReflectApply(PromiseResolveStatic, Promise, [v]);
  const PromiseReject = (e) => ReflectApply(PromiseRejectStatic, Promise, [e]);
  const compile = natives.esmCompile;
  const link = natives.esmLink;
  const instantiate = natives.esmInstantiate;
  const evaluate = natives.esmEvaluate;
  const namespaceOf = natives.esmNamespace;
  const statusOf = natives.esmStatus;
  const EVALUATED = 4;  // v8::Module::kEvaluated (also while awaiting at top level)
  const promiseState = natives.promiseState;
  const L = internals.moduleLoader;
  const state = L.state;
  // esm: filename -> namespace of each module an earlier load evaluated (or
  // is evaluating); pending: filename -> the evaluation promise of a module
  // still at a top-level await; facades: filename -> { exports, namespace }
  // of CommonJS/JSON files import()ed; files: namespace -> filename
  // (import.meta of a module first used in a later turn).
  if (state.esm === undefined) state.esm = { __proto__: null };
  if (state.esmPending === undefined) state.esmPending = { __proto__: null };
  if (state.esmFacades === undefined) state.esmFacades = { __proto__: null };
  if (state.esmFiles === undefined) state.esmFiles = new Map();
  // Files of the graph being loaded now (a CommonJS module it imports may
  // require or import one of them: a cycle through require).
  const loading = { __proto__: null };
  const CONDITIONS = { __proto__: null, ken: true, worker: true, browser: true, import: true, default: true };

  const importedBy = (parent) => {
    const pkg = L.packageOf(parent);
    return `imported from ${parent}${pkg === '' ? '' : `, in package '${pkg}'`}`;
  };
  const notFound = (message) => L.moduleError(message, 'ERR_MODULE_NOT_FOUND');
  // A lookup for modules.js's read(), whose refusal message names the request.
  const lookupFor = (specifier, parent) => L.makeLookup(specifier, { __proto__: null, filename: parent }, true);
  const known = (path) => state.esm[path] !== undefined || state.cache[path] !== undefined;

  // file:///a/b%20c -> /a/b c (its query and fragment dropped).
  const hexValue = (c) => (c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 70 ? c - 55 : c >= 97 && c <= 102 ? c - 87 : -1);
  const unit = (u) => `\\u${StringPrototypeSlice(`000${NumberPrototypeToString(u, 16)}`, -4)}`;
  // UTF-8 bytes -> the body of a JSON string (\u escapes); null if invalid.
  const utf8ToJson = (bytes) => {
    let s = '';
    for (let i = 0; i < bytes.length;) {
      const b = bytes[i];
      const n = b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
      if (n === 0 || i + n > bytes.length) return null;
      let cp = n === 1 ? b : b & (0xff >> (n + 1));
      for (let k = 1; k < n; k++) {
        if ((bytes[i + k] & 0xc0) !== 0x80) return null;
        cp = cp * 64 + (bytes[i + k] & 0x3f);
      }
      i += n;
      s += cp >= 0x10000 ? unit(0xd800 + ((cp - 0x10000) >> 10)) + unit(0xdc00 + ((cp - 0x10000) & 0x3ff)) : unit(cp);
    }
    return s;
  };
  const fileUrlToPath = (url) => {
    let rest = StringPrototypeSlice(url, 7);
    if (StringPrototypeStartsWith(rest, 'localhost/')) rest = StringPrototypeSlice(rest, 9);
    if (rest[0] !== '/') throw new TypeError(`import: '${url}' is not a file: URL of an absolute path`);
    let out = '';
    let bytes = NullProtoArray();
    const flush = () => {
      if (bytes.length === 0) return;
      const body = utf8ToJson(bytes);
      if (body === null) throw new TypeError(`import: '${url}' has a %-escape that is not UTF-8`);
      out += JSONParse(`"${body}"`);
      bytes = NullProtoArray();
    };
    for (let i = 0; i < rest.length; i++) {
      const hi = hexValue(StringPrototypeCharCodeAt(rest, i + 1));  // NaN past the end: -1
      const lo = hexValue(StringPrototypeCharCodeAt(rest, i + 2));
      if (rest[i] === '%' && hi >= 0 && lo >= 0) {
        ArrayPrototypePush(bytes, hi * 16 + lo);
        i += 2;
        continue;
      }
      flush();
      if (rest[i] === '?' || rest[i] === '#') break;
      out += rest[i];
    }
    flush();
    return out;
  };
  // /a/b c -> file:///a/b%20c (as Node's url.pathToFileURL encodes).
  const SAFE = "-._~!$&'()*+,;=:@/";
  const pathToFileUrl = (path) => {
    let out = 'file://';
    for (let i = 0; i < path.length; i++) {
      const cp = StringPrototypeCodePointAt(path, i);
      const c = path[i];
      if ((cp >= 48 && cp <= 57) || (cp >= 65 && cp <= 90) || (cp >= 97 && cp <= 122) ||
          (cp < 128 && StringPrototypeIndexOf(SAFE, c) >= 0)) {
        out += c;
        continue;
      }
      const bytes = NullProtoArray();
      if (cp < 0x80) {
        ArrayPrototypePush(bytes, cp);
      } else if (cp < 0x800) {
        ArrayPrototypePush(bytes, 0xc0 | (cp >> 6), 0x80 | (cp & 63));
      } else if (cp < 0x10000) {
        ArrayPrototypePush(bytes, 0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
      } else {
        ArrayPrototypePush(bytes, 0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
        i++;
      }
      for (let k = 0; k < bytes.length; k++) {
        out += `%${StringPrototypeToUpperCase(StringPrototypeSlice(`0${NumberPrototypeToString(bytes[k], 16)}`, -2))}`;
      }
    }
    return out;
  };

  // --- resolution (ESM_RESOLVE) -> { filename, format, text } ---
  // text: the file's text if this resolution read it, else null (the module
  // was loaded before).
  const resolved = (filename, format, text) => ({ __proto__: null, filename, format, text });
  const readFile = (lookup, path) => (known(path) ? true : L.read(lookup, path));
  const legacyMain = (lookup, pkgDir, main) => {
    const tries = NullProtoArray();
    if (typeof main === 'string' && main !== '') {
      const m = L.join(pkgDir, main);
      ArrayPrototypePush(tries, m, `${m}.js`, `${m}.json`, `${m}.node`, `${m}/index.js`, `${m}/index.json`,
                         `${m}/index.node`);
    }
    ArrayPrototypePush(tries, `${pkgDir}/index.js`, `${pkgDir}/index.json`, `${pkgDir}/index.node`);
    for (let i = 0; i < tries.length; i++) {
      const text = readFile(lookup, tries[i]);
      if (text !== null) return { __proto__: null, path: tries[i], text };
    }
    return null;
  };
  const packageResolve = (lookup, specifier, parent) => {
    const split = L.splitPackage(specifier);
    if (split === null || split.name === '' || StringPrototypeIndexOf(split.name, '\\') >= 0) {
      throw new TypeError(`import: '${specifier}' is not a valid package name (${importedBy(parent)})`);
    }
    const dirs = L.nodeModulesPaths(L.dirname(parent));
    for (let i = 0; i < dirs.length; i++) {
      const pkgDir = `${dirs[i]}/${split.name}`;
      const pkgText = L.read(lookup, `${pkgDir}/package.json`);
      const pkg = typeof pkgText === 'string' ? L.parsePackageJson(`${pkgDir}/package.json`, pkgText) : null;
      if (pkg !== null && typeof pkg === 'object' && pkg.exports !== undefined && pkg.exports !== null) {
        const path = L.resolveExports(pkgDir, split.subpath, pkg.exports, CONDITIONS);
        const text = readFile(lookup, path);
        if (text === null) {
          throw notFound(`Cannot find module '${path}', the "exports" target of '${specifier}' in ` +
                         `${pkgDir}/package.json (${importedBy(parent)})`);
        }
        return { __proto__: null, path, text };
      }
      if (split.subpath === '.') {
        if (pkgText === null) continue;  // no package here (or one without package.json and index.js)
        const r = legacyMain(lookup, pkgDir, pkg !== null && typeof pkg === 'object' ? pkg.main : undefined);
        if (r !== null) return r;
        throw notFound(`Cannot find the entry point of package '${split.name}' in ${pkgDir} (${importedBy(parent)})`);
      }
      const path = `${pkgDir}${StringPrototypeSlice(split.subpath, 1)}`;
      const text = readFile(lookup, path);
      if (text !== null) return { __proto__: null, path, text };
      if (pkgText !== null) {
        throw notFound(`Cannot find module '${path}' (${importedBy(parent)}); an import names the exact file`);
      }
    }
    throw notFound(`Cannot find package '${split.name}' (${importedBy(parent)})\nLooked for:` +
                   `${lookup.searched.length > 0 ? `\n  ${lookup.searched[0]}` : ''}` +
                   `${lookup.searched.length > 1 ? `\n  ... and ${lookup.searched.length - 1} more` : ''}`);
  };
  const esmResolve = (specifier, parent) => {
    if (typeof specifier !== 'string' || specifier === '') {
      throw new TypeError(`import: the module specifier must be a non-empty string (${importedBy(parent)})`);
    }
    const key = `esm\0${L.dirname(parent)}\0${specifier}`;
    const lookup = lookupFor(specifier, parent);
    const was = MapPrototypeGet(state.resolved, key);
    if (was !== undefined && known(was)) return resolved(was, L.formatOf(lookup, was), null);
    const bare = StringPrototypeStartsWith(specifier, 'node:') ? StringPrototypeSlice(specifier, 5) : specifier;
    if (L.NODE_BUILTINS[bare] || StringPrototypeStartsWith(specifier, 'node:')) {
      throw notFound(`Cannot find module '${specifier}': it is a Node.js built-in module, which Ken does not ` +
                     `provide (${importedBy(parent)})`);
    }
    let path;
    let text = null;
    if (StringPrototypeStartsWith(specifier, 'file:')) {
      if (!StringPrototypeStartsWith(specifier, 'file://')) {
        throw new TypeError(`import: '${specifier}' is not a file: URL of an absolute path`);
      }
      path = L.join('/', fileUrlToPath(specifier));
    } else if (specifier[0] === '/' || StringPrototypeStartsWith(specifier, './') ||
               StringPrototypeStartsWith(specifier, '../') || specifier === '.' || specifier === '..') {
      path = L.join(L.dirname(parent), specifier);
    } else if (StringPrototypeIndexOf(specifier, ':') > 0 && StringPrototypeIndexOf(specifier, ':') <
               (StringPrototypeIndexOf(specifier, '/') < 0 ? specifier.length : StringPrototypeIndexOf(specifier, '/'))) {
      throw L.moduleError(`Cannot import '${specifier}': only file: URLs and paths are supported ` +
                          `(${importedBy(parent)})`, 'ERR_UNSUPPORTED_ESM_URL_SCHEME');
    } else if (specifier[0] === '#') {
      const t = L.importsTarget(lookup, specifier, parent, CONDITIONS);
      if (typeof t.target === 'string') {
        path = t.target;
      } else {
        const r = packageResolve(lookup, t.target.bare, `${t.dir}/package.json`);
        path = r.path;
        text = r.text;
      }
    } else {
      const self = L.selfTarget(lookup, specifier, parent, CONDITIONS);
      if (self !== null) {
        path = self;
      } else {
        const r = packageResolve(lookup, specifier, parent);
        path = r.path;
        text = r.text;
      }
    }
    if (text === null) {
      text = readFile(lookup, path);
      if (text === null) {
        // Node names no candidates; Ken says which file was meant, if one exists.
        let hint = '';
        const alternatives = [`${path}.js`, `${path}.mjs`, `${path}/index.js`];
        for (let i = 0; i < alternatives.length && hint === ''; i++) {
          if (readFile(lookup, alternatives[i]) !== null) hint = `; did you mean '${alternatives[i]}'? (an import names the exact file)`;
        }
        throw notFound(`Cannot find module '${path}' (${importedBy(parent)})${hint}`);
      }
    }
    MapPrototypeSet(state.resolved, key, path);
    return resolved(path, L.formatOf(lookup, path), text === true ? null : text);
  };

  // --- loading a graph ---
  const isIdentifier = (name) => {
    if (name === '' || name === 'default') return false;
    for (let i = 0; i < name.length; i++) {
      const c = StringPrototypeCharCodeAt(name, i);
      const letter = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 36 || c === 95;
      if (!letter && !(i > 0 && c >= 48 && c <= 57)) return false;
    }
    return true;
  };
  // A facade: a module whose exports are `names` of `values` (read when it
  // evaluates), `default` among them if present.
  const compileFacade = (filename, names, values) => {
    let body = 'const v = import.meta.kenExports;\n';
    let list = '';
    for (let i = 0; i < names.length; i++) {
      body += `const _${i} = v[${JSONStringify(names[i])}];\n`;
      list += `${list === '' ? '' : ', '}_${i} as ${names[i]}`;
    }
    const r = compile(`${body}export { ${list} };\n`, filename, values);
    link(r[0], NullProtoArray());
    return r[0];
  };
  const cjsFacade = (filename, exports) => {
    const names = NullProtoArray();
    const values = { __proto__: null, default: exports };
    ArrayPrototypePush(names, 'default');
    if ((exports !== null && typeof exports === 'object') || typeof exports === 'function') {
      let keys;
      try {
        keys = ObjectKeys(exports);
      } catch {
        keys = NullProtoArray();  // a Proxy whose ownKeys throws: default only
      }
      for (let i = 0; i < keys.length; i++) {
        if (!isIdentifier(keys[i])) continue;
        ArrayPrototypePush(names, keys[i]);
        values[keys[i]] = exports[keys[i]];
      }
    }
    return compileFacade(filename, names, values);
  };
  const namespaceFacade = (filename, ns) => {
    const keys = ReflectOwnKeys(ns);  // (ObjectKeys would read each binding)
    const names = NullProtoArray();
    for (let i = 0; i < keys.length; i++) {
      if (keys[i] === 'default' || (typeof keys[i] === 'string' && isIdentifier(keys[i]))) {
        ArrayPrototypePush(names, keys[i]);
      }
    }
    return compileFacade(filename, names, ns);
  };
  // CommonJS or JSON through require (modules.js), from a module `parent`.
  const requireFile = (r, parent) => {
    const from = L.makeModule(parent, null);
    let text = r.text;
    if (text === null && state.cache[r.filename] === undefined) text = L.read(lookupFor(r.filename, parent), r.filename);
    return L.load({ __proto__: null, filename: r.filename, text }, from);
  };

  // A Node.js global missing in a module of `compiled`: the error names the
  // module (the one whose file comes first in the stack) and its package.
  const nodeGlobal = (e, compiled) => {
    const stack = e !== null && typeof e === 'object' && typeof e.stack === 'string' ? e.stack : '';
    let best = -1;
    let file = '';
    for (let i = 0; i < compiled.length; i++) {
      const at = StringPrototypeIndexOf(stack, `${compiled[i].filename}:`);
      if (at >= 0 && (best < 0 || at < best)) {
        best = at;
        file = compiled[i].filename;
      }
    }
    return file === '' ? e : L.nodeGlobalError(e, file);
  };

  const cycleError = (filename, parent) => L.moduleError(
      `Cannot load ${filename} (from ${parent}): it is an ES module of the graph being loaded, reached again ` +
      'through require or import() from a CommonJS module it imports', 'ERR_REQUIRE_CYCLE_MODULE');
  const stillAwaiting = (filename, parent) => L.moduleError(
      `Cannot import ${filename} statically (${importedBy(parent)}): it is still evaluating (a top-level await of ` +
      'an earlier load); use import(), which waits for it', 'ERR_MODULE_STILL_EVALUATING');

  // Compiles, links, instantiates and evaluates the graph of `filename`
  // (its text `text`). Returns { namespace, promise } (promise: the
  // evaluation's, when a module awaits at top level; else undefined).
  const loadGraph = (filename, text) => {
    if (loading[filename]) throw cycleError(filename, filename);
    const ids = new Map();
    const compiled = NullProtoArray();
    const visit = (file, source) => {
      if (typeof source !== 'string') source = L.read(lookupFor(file, file), file);
      if (source === null) throw notFound(`Cannot find module '${file}'`);
      let src = source;
      if (StringPrototypeStartsWith(src, '#!')) src = `//${StringPrototypeSlice(src, 2)}`;
      const r = compile(src, file);
      MapPrototypeSet(ids, file, r[0]);
      loading[file] = true;
      ArrayPrototypePush(compiled, { __proto__: null, filename: file, id: r[0] });
      const children = NullProtoArray();
      for (let i = 1; i < r.length; i++) ArrayPrototypePush(children, childOf(r[i], file));
      link(r[0], children);
      return r[0];
    };
    const childOf = (specifier, parent) => {
      const r = esmResolve(specifier, parent);
      const inGraph = MapPrototypeGet(ids, r.filename);
      if (inGraph !== undefined) return inGraph;
      let id;
      if (r.format === 'module') {
        const ns = state.esm[r.filename];
        if (ns !== undefined && state.esmPending[r.filename] !== undefined) throw stillAwaiting(r.filename, parent);
        id = ns !== undefined ? namespaceFacade(r.filename, ns) : visit(r.filename, r.text);
      } else if (r.format === 'commonjs' || r.format === 'json') {
        id = cjsFacade(r.filename, requireFile(r, parent));
      } else {
        throw L.moduleError(`Cannot import ${r.filename}: a native addon, which Ken cannot run ` +
                            `(${importedBy(parent)})`, 'ERR_DLOPEN_FAILED');
      }
      MapPrototypeSet(ids, r.filename, id);
      return id;
    };
    // Modules that did not evaluate are forgotten (a later load runs them
    // again, as a CommonJS module whose body threw); the others stay.
    const forget = () => {
      for (let i = 0; i < compiled.length; i++) {
        const c = compiled[i];
        delete state.esmPending[c.filename];
        if ((statusOf(c.id) & 7) !== EVALUATED) delete state.esm[c.filename];
      }
    };
    const forgetAll = () => {
      for (let i = 0; i < compiled.length; i++) {
        delete state.esm[compiled[i].filename];
        delete state.esmPending[compiled[i].filename];
      }
    };
    let evaluation;
    try {
      const root = visit(filename, text);
      instantiate(root);
      for (let i = 0; i < compiled.length; i++) {
        const c = compiled[i];
        const ns = namespaceOf(c.id);
        state.esm[c.filename] = ns;
        MapPrototypeSet(state.esmFiles, ns, c.filename);
      }
      try {
        evaluation = evaluate(root);
      } catch (e) {
        forgetAll();  // (a stack overflow at entry: nothing ran)
        throw e;
      }
    } finally {
      for (let i = 0; i < compiled.length; i++) delete loading[compiled[i].filename];
    }
    const settled = promiseState(evaluation);
    if (settled[0] === 2) {
      // (A handler now: the error is thrown here, not an unhandled rejection.)
      PromisePrototypeThen(evaluation, undefined, () => {});
      forget();
      throw nodeGlobal(settled[1], compiled);
    }
    if (settled[0] === 1) return { __proto__: null, namespace: state.esm[filename], promise: undefined };
    // Awaiting at top level: the modules that await, or import one that does,
    // are pending until it settles (the others have evaluated).
    for (let i = 0; i < compiled.length; i++) {
      if ((statusOf(compiled[i].id) & 8) !== 0) state.esmPending[compiled[i].filename] = evaluation;
    }
    const promise = PromisePrototypeThen(evaluation, () => {
      for (let i = 0; i < compiled.length; i++) delete state.esmPending[compiled[i].filename];
    }, (e) => {
      forget();
      throw e;
    });
    return { __proto__: null, namespace: state.esm[filename], promise };
  };

  // The program (or a .load) as an ES module.
  // A rejection after a top-level await is reported as unhandled.
  internals.runMainModule = (source, filename) => {
    loadGraph(filename, source);
  };

  // require() of an ES module (modules.js): its namespace, if its graph
  // finishes without awaiting.
  internals.esmRequire = (filename, text, parent) => {
    if (loading[filename]) throw cycleError(filename, parent);
    if (state.esmPending[filename] !== undefined) {
      throw L.moduleError(`Cannot require ${filename} (required by ${parent}): it is still evaluating (a ` +
                          'top-level await); load it with import', 'ERR_REQUIRE_ASYNC_MODULE');
    }
    if (state.esm[filename] !== undefined) return state.esm[filename];
    const g = loadGraph(filename, text);
    if (g.promise !== undefined) {
      throw L.moduleError(`Cannot require ${filename} (required by ${parent}): it awaits at top level ` +
                          '(its evaluation goes on); load it with import', 'ERR_REQUIRE_ASYNC_MODULE');
    }
    return g.namespace;
  };

  // import(specifier) from code of `referrer` (its script name): a promise
  // of the namespace. Loads in this turn; never throws.
  internals.esmImport = (specifier, referrer) => {
    try {
      let parent = typeof referrer === 'string' && referrer[0] === '/' ? referrer : null;
      if (parent === null) {
        if (state.main === null) throw new Error('import(): no program has been loaded');
        parent = state.main.filename;
      }
      const r = esmResolve(`${specifier}`, parent);
      if (r.format === 'module') {
        if (loading[r.filename]) throw cycleError(r.filename, parent);
        const ns = state.esm[r.filename];
        const pending = state.esmPending[r.filename];
        if (ns !== undefined && pending !== undefined) return PromisePrototypeThen(pending, () => ns);
        if (ns !== undefined) return PromiseResolve(ns);
        const g = loadGraph(r.filename, r.text);
        return g.promise === undefined ? PromiseResolve(g.namespace) : PromisePrototypeThen(g.promise, () => g.namespace);
      }
      if (r.format !== 'commonjs' && r.format !== 'json') {
        throw L.moduleError(`Cannot import ${r.filename}: a native addon, which Ken cannot run`, 'ERR_DLOPEN_FAILED');
      }
      const exports = requireFile(r, parent);
      const was = state.esmFacades[r.filename];
      if (was !== undefined && was.exports === exports) return PromiseResolve(was.namespace);
      const id = cjsFacade(r.filename, exports);
      instantiate(id);
      evaluate(id);  // a facade cannot throw: it reads the values it was given
      const namespace = namespaceOf(id);
      state.esmFacades[r.filename] = { __proto__: null, exports, namespace };
      return PromiseResolve(namespace);
    } catch (e) {
      return PromiseReject(e);
    }
  };

  // import.meta on its first use in a module (`filename` null: compiled in
  // an earlier turn, found by its namespace object).
  internals.esmImportMeta = (meta, filename, namespace) => {
    const file = filename !== null ? filename : MapPrototypeGet(state.esmFiles, namespace);
    if (typeof file !== 'string') return;
    meta.url = pathToFileUrl(file);
    meta.filename = file;
    meta.dirname = L.dirname(file);
    meta.resolve = function resolve(specifier) { return pathToFileUrl(esmResolve(`${specifier}`, file).filename); };
  };
}
