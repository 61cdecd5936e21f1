// CommonJS modules: a global `require` for programs and shell inputs, with
// Node.js's resolution algorithm (nodejs.org/api/modules.html, "All
// together": relative and absolute paths, .js/.json, index.js,
// package.json "main", node_modules folders up the tree) and package
// "exports" (nodejs.org/api/packages.html: subpaths, patterns, conditions
// `ken`, `worker`, `browser`, `require`, `default`, as workerd resolves
// them). Modules are read only while a program loads (the node's script, a
// shell input or .load; the host refuses file reads in every other turn):
// their code and exports then live in the heap and persist like everything
// else, and a later `require` resolves only against what was loaded
// (internals.state.modules.resolved). Each file read is a host call whose
// answer is recorded with the turn in journal mode, so a replay reads
// nothing from disk.
//
// Natives: readModuleFile(path) -> its text, null (no such regular file) or
// false (reads refused in this turn; throws on an I/O error or a file over
// the size limit); compileModule(source, filename) -> the module function
// (exports, require, module, __filename, __dirname).
//
// Runs as `function (natives, internals)`; sets internals.setMainModule.
'use strict';
const {
  ArrayIsArray,
  ArrayPrototypeIndexOf,
  ArrayPrototypeJoin,
  ArrayPrototypePush,
  Error,
  JSONParse,
  Map,
  MapPrototypeGet,
  MapPrototypeSet,
  NullProtoArray,
  ObjectDefineProperty,
  ObjectKeys,
  ObjectPrototypeHasOwnProperty,
  ReflectApply,
  StringPrototypeEndsWith,
  StringPrototypeIndexOf,
  StringPrototypeLastIndexOf,
  StringPrototypeSlice,
  StringPrototypeStartsWith,
  SyntaxError,
  TypeError,
  globalThis: global,
} = internals.primordials;
{
  const readFile = natives.readModuleFile;
  const compile = natives.compileModule;
  // cache: filename -> module (require.cache); resolved: "dir\0request" ->
  // filename, every resolution made while loading; main: the pseudo-module
  // the global `require` resolves from (the program's file, or the shell's
  // working folder).
  const state = {
    __proto__: null,
    cache: { __proto__: null },
    resolved: new Map(),
    main: null,
  };
  internals.state.modules = state;

  const NODE_BUILTINS = { __proto__: null };
  const builtinNames = ['assert', 'async_hooks', 'buffer', 'child_process', 'cluster', 'console', 'constants',
    'crypto', 'dgram', 'diagnostics_channel', 'dns', 'domain', 'events', 'fs', 'http', 'http2', 'https',
    'inspector', 'module', 'net', 'os', 'path', 'perf_hooks', 'process', 'punycode', 'querystring', 'readline',
    'repl', 'stream', 'string_decoder', 'sys', 'timers', 'tls', 'trace_events', 'tty', 'url', 'util', 'v8', 'vm',
    'wasi', 'worker_threads', 'zlib', 'assert/strict', 'dns/promises', 'fs/promises', 'inspector/promises',
    'path/posix', 'path/win32', 'readline/promises', 'stream/consumers', 'stream/promises', 'stream/web',
    'timers/promises', 'util/types'];
  for (let i = 0; i < builtinNames.length; i++) NODE_BUILTINS[builtinNames[i]] = true;
  // Node's globals that Ken does not provide (its sandbox has no process
  // or file system): a module that uses one fails naming it.
  const NODE_GLOBALS = { __proto__: null, process: true, Buffer: true, global: true, setImmediate: true,
    clearImmediate: true, __non_webpack_require__: true };
  const CONDITIONS = { __proto__: null, ken: true, worker: true, browser: true, require: true, default: true };
  // Folder -> "module" or "commonjs": the "type" of the package.json that
  // governs the files in it (nodejs.org/api/packages.html, "type").
  if (state.packageScopes === undefined) state.packageScopes = new Map();

  // --- POSIX paths ---
  const normalize = (path) => {
    const parts = NullProtoArray();
    let start = 0;
    for (let i = 0; i <= path.length; i++) {
      if (i < path.length && path[i] !== '/') continue;
      const part = StringPrototypeSlice(path, start, i);
      start = i + 1;
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (parts.length > 0) parts.length--;
        continue;
      }
      ArrayPrototypePush(parts, part);
    }
    return `/${ArrayPrototypeJoin(parts, '/')}`;
  };
  const join = (dir, rel) => normalize(StringPrototypeStartsWith(rel, '/') ? rel : `${dir}/${rel}`);
  const dirname = (path) => {
    const i = StringPrototypeLastIndexOf(path, '/');
    return i <= 0 ? '/' : StringPrototypeSlice(path, 0, i);
  };

  const moduleError = (message, code) => {
    const e = new Error(message);
    e.code = code;
    return e;
  };
  // The package a file belongs to: the name after its last node_modules/.
  const packageOf = (filename) => {
    const i = StringPrototypeLastIndexOf(filename, '/node_modules/');
    if (i < 0) return '';
    const rest = StringPrototypeSlice(filename, i + 14);
    let end = StringPrototypeIndexOf(rest, '/');
    if (rest[0] === '@' && end >= 0) {
      const second = StringPrototypeIndexOf(StringPrototypeSlice(rest, end + 1), '/');
      end = second < 0 ? -1 : end + 1 + second;
    }
    return end < 0 ? rest : StringPrototypeSlice(rest, 0, end);
  };
  const requiredBy = (parent) => {
    const pkg = packageOf(parent.filename);
    return `required by ${parent.filename}${pkg === '' ? '' : `, in package '${pkg}'`}`;
  };

  // --- one resolution: every file it looks at, for the error message ---
  // `imported`: an ES module import (esm.js), named so in errors.
  const makeLookup = (request, parent, imported) => ({
    __proto__: null, request, parent, imported: imported === true, searched: NullProtoArray(),
  });
  // The text of `path`, or null if it is not a regular file.
  const read = (lookup, path) => {
    const text = readFile(path);
    if (text === false) {
      const by = lookup.imported ? `imported from ${lookup.parent.filename}` : requiredBy(lookup.parent);
      throw moduleError(
          `Cannot load module '${lookup.request}' (${by}): it was not loaded when the ` +
          'program loaded, and modules are read only then (the node\'s script, a shell input or .load), ' +
          'never by a later turn (a message, timer, HTTP request or eval); ' +
          `${lookup.imported ? 'import' : 'require'} it at the top of the program`,
          'KEN_MODULE_NOT_LOADED');
    }
    if (text === null) ArrayPrototypePush(lookup.searched, path);
    return text;
  };
  const found = (path, text) => ({ __proto__: null, filename: path, text });
  // A candidate already loaded is taken from require.cache first: in a
  // later turn (no file reads) `require('./x')` finds ./x.js if it was
  // loaded, from whichever folder it was first required.
  // An ES module an import loaded (esm.js): require gives its namespace.
  const esmLoaded = (filename) => state.esm !== undefined && state.esm[filename] !== undefined;
  const cachedOf = (candidates) => {
    for (let i = 0; i < candidates.length; i++) {
      if (state.cache[candidates[i]] !== undefined || esmLoaded(candidates[i])) return found(candidates[i], null);
    }
    return null;
  };
  const loadAsFile = (lookup, path) => {
    const exts = ['', '.js', '.json', '.node'];
    const cached = cachedOf([path, `${path}.js`, `${path}.json`]);
    if (cached !== null) return cached;
    for (let i = 0; i < exts.length; i++) {
      const text = read(lookup, path + exts[i]);
      if (text !== null) return found(path + exts[i], text);
    }
    return null;
  };
  const loadIndex = (lookup, dir) => {
    const names = ['index.js', 'index.json', 'index.node'];
    const cached = cachedOf([`${dir}/index.js`, `${dir}/index.json`]);
    if (cached !== null) return cached;
    for (let i = 0; i < names.length; i++) {
      const text = read(lookup, `${dir}/${names[i]}`);
      if (text !== null) return found(`${dir}/${names[i]}`, text);
    }
    return null;
  };
  // The fields of a package.json that resolution reads, own ones only (a
  // program may have put `type` or `exports` on Object.prototype).
  const parsePackageJson = (path, text) => {
    let pkg;
    try {
      pkg = JSONParse(text);
    } catch (e) {
      throw new SyntaxError(`${path}: not valid JSON: ${e.message}`);
    }
    const fields = { __proto__: null };
    if (pkg === null || typeof pkg !== 'object' || ArrayIsArray(pkg)) return fields;
    const names = ['main', 'exports', 'imports', 'type', 'name'];
    for (let i = 0; i < names.length; i++) {
      if (ObjectPrototypeHasOwnProperty(pkg, names[i])) fields[names[i]] = pkg[names[i]];
    }
    return fields;
  };
  const loadAsDirectory = (lookup, dir) => {
    const pkgText = read(lookup, `${dir}/package.json`);
    if (pkgText !== null) {
      const pkg = parsePackageJson(`${dir}/package.json`, pkgText);
      const main = pkg !== null && typeof pkg === 'object' ? pkg.main : undefined;
      if (typeof main === 'string' && main !== '') {
        const m = join(dir, main);
        const r = loadAsFile(lookup, m) || loadIndex(lookup, m) || loadIndex(lookup, dir);
        if (r !== null) return r;
        throw moduleError(`Cannot find module '${m}': the "main" of ${dir}/package.json (${requiredBy(lookup.parent)})`,
                          'MODULE_NOT_FOUND');
      }
    }
    return loadIndex(lookup, dir);
  };

  // Package "exports" (PACKAGE_EXPORTS_RESOLVE with the conditions above).
  const notExported = (pkgDir, subpath, imports) => (imports === true
    ? moduleError(`Package import specifier '${subpath}' is not defined by "imports" in ${pkgDir}/package.json`,
                  'ERR_PACKAGE_IMPORT_NOT_DEFINED')
    : moduleError(`Package subpath '${subpath}' is not defined by "exports" in ${pkgDir}/package.json`,
                  'ERR_PACKAGE_PATH_NOT_EXPORTED'));
  // `imports`: a package "imports" target, which may also name a package
  // (returned as { bare: name }, which the caller resolves from pkgDir).
  const resolveTarget = (pkgDir, target, patternMatch, conditions, imports) => {
    if (typeof target === 'string') {
      let t = target;
      if (patternMatch !== null) {
        let out = '';
        for (let i = 0; i < t.length; i++) out += t[i] === '*' ? patternMatch : t[i];
        t = out;
      }
      if (!StringPrototypeStartsWith(target, './')) {
        if (imports === true && !StringPrototypeStartsWith(target, '../') && target[0] !== '/' &&
            StringPrototypeIndexOf(target, ':') < 0) {
          return { __proto__: null, bare: t };
        }
        throw moduleError(`Invalid "${imports === true ? 'imports' : 'exports'}" target '${target}' in ` +
                          `${pkgDir}/package.json`, 'ERR_INVALID_PACKAGE_TARGET');
      }
      const path = join(pkgDir, t);
      if (path !== pkgDir && !StringPrototypeStartsWith(path, `${pkgDir}/`)) {
        throw moduleError(`Invalid target '${target}' in ${pkgDir}/package.json: it leaves the package`,
                          'ERR_INVALID_PACKAGE_TARGET');
      }
      return path;
    }
    if (ArrayIsArray(target)) {
      let last = undefined;
      for (let i = 0; i < target.length; i++) {
        try {
          const r = resolveTarget(pkgDir, target[i], patternMatch, conditions, imports);
          if (r === undefined) continue;
          return r;
        } catch (e) {
          if (e === null || typeof e !== 'object' || e.code !== 'ERR_INVALID_PACKAGE_TARGET') throw e;
          last = e;
        }
      }
      if (last !== undefined) throw last;
      return null;
    }
    if (target !== null && typeof target === 'object') {
      const keys = ObjectKeys(target);
      for (let i = 0; i < keys.length; i++) {
        if (!conditions[keys[i]]) continue;
        const r = resolveTarget(pkgDir, target[keys[i]], patternMatch, conditions, imports);
        if (r !== undefined) return r;
      }
      return undefined;
    }
    return null;  // null: explicitly not exported
  };
  // `imports`: `exports` is a package's "imports" map and `subpath` a
  // #name (PACKAGE_IMPORTS_RESOLVE).
  const resolveExports = (pkgDir, subpath, exports, conditions, imports) => {
    let map = exports;
    if (imports !== true && (typeof exports === 'string' || ArrayIsArray(exports) ||
        (exports !== null && typeof exports === 'object' && !StringPrototypeStartsWith(ObjectKeys(exports)[0] || '', '.')))) {
      map = { __proto__: null, '.': exports };
    }
    let target;
    let patternMatch = null;
    if (ObjectPrototypeHasOwnProperty(map, subpath) && StringPrototypeIndexOf(subpath, '*') < 0) {
      target = map[subpath];
    } else {
      let bestKey = '';
      const keys = ObjectKeys(map);
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i];
        const star = StringPrototypeIndexOf(key, '*');
        if (star < 0 || StringPrototypeIndexOf(StringPrototypeSlice(key, star + 1), '*') >= 0) continue;
        const prefix = StringPrototypeSlice(key, 0, star);
        const suffix = StringPrototypeSlice(key, star + 1);
        if (subpath === prefix || !StringPrototypeStartsWith(subpath, prefix)) continue;
        if (suffix !== '' && (!StringPrototypeEndsWith(subpath, suffix) || subpath.length < key.length)) continue;
        if (prefix.length > StringPrototypeIndexOf(bestKey, '*') ||
            (prefix.length === StringPrototypeIndexOf(bestKey, '*') && key.length > bestKey.length)) {
          bestKey = key;
          target = map[key];
          patternMatch = StringPrototypeSlice(subpath, prefix.length, subpath.length - suffix.length);
        }
      }
      if (bestKey === '') throw notExported(pkgDir, subpath, imports);
    }
    const r = resolveTarget(pkgDir, target, patternMatch, conditions, imports);
    if (r === null || r === undefined) throw notExported(pkgDir, subpath, imports);
    return r;
  };
  // NAME and SUBPATH of a bare request ('lodash/fp' -> 'lodash', './fp').
  const splitPackage = (request) => {
    let end = StringPrototypeIndexOf(request, '/');
    if (request[0] === '@') {
      if (end < 0) return null;
      const second = StringPrototypeIndexOf(StringPrototypeSlice(request, end + 1), '/');
      end = second < 0 ? -1 : end + 1 + second;
    }
    const name = end < 0 ? request : StringPrototypeSlice(request, 0, end);
    return { __proto__: null, name, subpath: end < 0 ? '.' : `.${StringPrototypeSlice(request, end)}` };
  };
  const nodeModulesPaths = (start) => {
    const dirs = NullProtoArray();
    let dir = start;
    for (;;) {
      if (!StringPrototypeEndsWith(dir, '/node_modules')) {
        ArrayPrototypePush(dirs, dir === '/' ? '/node_modules' : `${dir}/node_modules`);
      }
      if (dir === '/') break;
      dir = dirname(dir);
    }
    return dirs;
  };
  const loadNodeModules = (lookup, request, start) => {
    const split = splitPackage(request);
    const dirs = nodeModulesPaths(start);
    for (let i = 0; i < dirs.length; i++) {
      if (split !== null) {
        const pkgDir = `${dirs[i]}/${split.name}`;
        const pkgText = read(lookup, `${pkgDir}/package.json`);
        if (pkgText !== null) {
          const pkg = parsePackageJson(`${pkgDir}/package.json`, pkgText);
          if (pkg !== null && typeof pkg === 'object' && pkg.exports !== undefined && pkg.exports !== null) {
            const path = resolveExports(pkgDir, split.subpath, pkg.exports, CONDITIONS);
            const text = read(lookup, path);
            if (text === null) {
              throw moduleError(`Cannot find module '${path}', the "exports" target of '${request}' in ` +
                                `${pkgDir}/package.json (${requiredBy(lookup.parent)})`, 'MODULE_NOT_FOUND');
            }
            return found(path, text);
          }
        }
      }
      const path = `${dirs[i]}/${request}`;
      const r = loadAsFile(lookup, path) || loadAsDirectory(lookup, path);
      if (r !== null) return r;
    }
    return null;
  };

  // The package.json governing `filename` (the nearest up the tree, not
  // past a node_modules folder): { dir, fields }, or null.
  const packageScope = (lookup, filename) => {
    let dir = dirname(filename);
    for (;;) {
      if (StringPrototypeEndsWith(dir, '/node_modules')) return null;
      const text = read(lookup, `${dir}/package.json`);
      if (text !== null) return { __proto__: null, dir, fields: parsePackageJson(`${dir}/package.json`, text) };
      if (dir === '/') return null;
      dir = dirname(dir);
    }
  };
  // Package "imports" (#name, PACKAGE_IMPORTS_RESOLVE) from `parentFile`:
  // { dir: the package's folder, target: a file, or { bare } to resolve
  // from that folder }.
  const importsTarget = (lookup, request, parentFile, conditions) => {
    if (request === '#' || StringPrototypeStartsWith(request, '#/')) {
      throw moduleError(`Invalid module specifier '${request}' (from ${parentFile})`, 'ERR_INVALID_MODULE_SPECIFIER');
    }
    const scope = packageScope(lookup, parentFile);
    const imports = scope === null ? undefined : scope.fields.imports;
    if (imports === null || typeof imports !== 'object' || ArrayIsArray(imports)) {
      throw moduleError(`Package import specifier '${request}' is not defined (from ${parentFile}): ` +
                        `${scope === null ? 'no package.json governs that file' : `${scope.dir}/package.json has no "imports"`}`,
                        'ERR_PACKAGE_IMPORT_NOT_DEFINED');
    }
    return { __proto__: null, dir: scope.dir, target: resolveExports(scope.dir, request, imports, conditions, true) };
  };
  // A package importing itself by its name (PACKAGE_SELF_RESOLVE): the file
  // its "exports" give, or null if `request` does not name the package
  // governing `parentFile` (or that package has no "exports").
  const selfTarget = (lookup, request, parentFile, conditions) => {
    const split = splitPackage(request);
    if (split === null) return null;
    const scope = packageScope(lookup, parentFile);
    if (scope === null || scope.fields.name !== split.name) return null;
    const exports = scope.fields.exports;
    if (exports === undefined || exports === null) return null;
    return resolveExports(scope.dir, split.subpath, exports, conditions);
  };
  const foundOrMissing = (lookup, path, what) => {
    if (state.cache[path] !== undefined || esmLoaded(path)) return found(path, null);
    const text = read(lookup, path);
    if (text === null) {
      throw moduleError(`Cannot find module '${path}', ${what} (${requiredBy(lookup.parent)})`, 'MODULE_NOT_FOUND');
    }
    return found(path, text);
  };

  const resolve = (request, parent) => {
    if (typeof request !== 'string' || request === '') {
      throw new TypeError(`require: the module name must be a non-empty string (${requiredBy(parent)})`);
    }
    const bare = StringPrototypeStartsWith(request, 'node:') ? StringPrototypeSlice(request, 5) : request;
    if (NODE_BUILTINS[bare] || StringPrototypeStartsWith(request, 'node:')) {
      throw moduleError(`Cannot find module '${request}': it is a Node.js built-in module, which Ken does not ` +
                        `provide (${requiredBy(parent)})`, 'MODULE_NOT_FOUND');
    }
    const key = `${parent.path}\0${request}`;
    const known = MapPrototypeGet(state.resolved, key);
    if (known !== undefined && (state.cache[known] !== undefined || esmLoaded(known))) return found(known, null);
    const lookup = makeLookup(request, parent);
    let r;
    if (request[0] === '/' || StringPrototypeStartsWith(request, './') || StringPrototypeStartsWith(request, '../') ||
        request === '.' || request === '..') {
      const path = join(parent.path, request);
      r = loadAsFile(lookup, path) || loadAsDirectory(lookup, path);
    } else if (request[0] === '#') {
      const t = importsTarget(lookup, request, parent.filename, CONDITIONS);
      r = typeof t.target === 'string' ? foundOrMissing(lookup, t.target, `the "imports" target of '${request}'`)
                                       : loadNodeModules(lookup, t.target.bare, t.dir);
    } else {
      const self = selfTarget(lookup, request, parent.filename, CONDITIONS);
      r = self !== null ? foundOrMissing(lookup, self, `the "exports" target of '${request}' (its own package)`)
                        : loadNodeModules(lookup, request, parent.path);
    }
    if (r === null) {
      const shown = lookup.searched.length > 12 ? 12 : lookup.searched.length;
      let looked = '';
      for (let i = 0; i < shown; i++) looked += `\n  ${lookup.searched[i]}`;
      if (lookup.searched.length > shown) looked += `\n  ... and ${lookup.searched.length - shown} more`;
      throw moduleError(`Cannot find module '${request}' (${requiredBy(parent)})\nLooked for:${looked}`,
                        'MODULE_NOT_FOUND');
    }
    MapPrototypeSet(state.resolved, key, r.filename);
    return r;
  };

  // The "type" governing `filename` ("module" or "commonjs"): that of the
  // nearest package.json up the tree, not looking past a node_modules
  // folder (as Node's package scope lookup).
  const packageType = (lookup, filename) => {
    const seen = NullProtoArray();
    let dir = dirname(filename);
    let type = 'commonjs';
    for (;;) {
      const known = MapPrototypeGet(state.packageScopes, dir);
      if (known !== undefined) {
        type = known;
        break;
      }
      ArrayPrototypePush(seen, dir);
      if (StringPrototypeEndsWith(dir, '/node_modules')) break;
      const text = read(lookup, `${dir}/package.json`);
      if (text !== null) {
        const pkg = parsePackageJson(`${dir}/package.json`, text);
        if (pkg !== null && typeof pkg === 'object' && pkg.type === 'module') type = 'module';
        break;
      }
      if (dir === '/') break;
      dir = dirname(dir);
    }
    for (let i = 0; i < seen.length; i++) MapPrototypeSet(state.packageScopes, seen[i], type);
    return type;
  };
  // How a file loads: "module" (.mjs, or .js under "type": "module"),
  // "commonjs" (.cjs, .js otherwise, any other name), "json", "addon".
  const formatOf = (lookup, filename) => {
    if (StringPrototypeEndsWith(filename, '.mjs')) return 'module';
    if (StringPrototypeEndsWith(filename, '.cjs')) return 'commonjs';
    if (StringPrototypeEndsWith(filename, '.json')) return 'json';
    if (StringPrototypeEndsWith(filename, '.node')) return 'addon';
    if (StringPrototypeEndsWith(filename, '.js')) return packageType(lookup, filename);
    return 'commonjs';
  };

  // A ReferenceError for a Node.js global that Ken does not provide, thrown
  // by the module `filename`: an error naming the global and the package;
  // any other exception as it is.
  const nodeGlobalError = (e, filename) => {
    const m = e !== null && typeof e === 'object' && e.name === 'ReferenceError' && typeof e.message === 'string'
                  ? e.message : '';
    const word = StringPrototypeEndsWith(m, ' is not defined') ? StringPrototypeSlice(m, 0, m.length - 15) : '';
    if (!NODE_GLOBALS[word] || e.kenModule !== undefined) return e;
    const pkg = packageOf(filename);
    const err = new Error(`${pkg === '' ? 'module' : `package '${pkg}'`} (${filename}) needs the Node.js ` +
                          `global '${word}', which Ken does not provide`, { cause: e });
    err.code = 'KEN_NODE_GLOBAL';
    err.kenModule = filename;
    return err;
  };

  const makeModule = (filename, parent) => ({
    id: filename, path: dirname(filename), exports: {}, filename, loaded: false, children: [],
    parent: parent === null ? undefined : parent,
  });
  const load = (r, parent) => {
    // Cached (a cycle gets the exports as they are so far, as in Node).
    const cached = state.cache[r.filename];
    if (cached !== undefined) return cached.exports;
    if (r.text === null && !esmLoaded(r.filename)) {
      throw new Error(`require: ${r.filename} left require.cache during its resolution`);
    }
    const module = makeModule(r.filename, parent);
    state.cache[r.filename] = module;
    if (parent.children !== undefined) ArrayPrototypePush(parent.children, module);
    let ok = false;
    try {
      if (StringPrototypeEndsWith(r.filename, '.json')) {
        try {
          module.exports = JSONParse(r.text);
        } catch (e) {
          throw new SyntaxError(`${r.filename}: not valid JSON: ${e.message}`);
        }
      } else if (StringPrototypeEndsWith(r.filename, '.node')) {
        throw moduleError(`Cannot load ${r.filename}: a native addon, which Ken cannot run ` +
                          `(${requiredBy(parent)})`, 'ERR_DLOPEN_FAILED');
      } else if (formatOf(makeLookup(r.filename, parent), r.filename) === 'module') {
        // As Node.js 20.19+: require() of an ES module gives its namespace
        // (esm.js; an ES module that awaits at top level cannot be required).
        if (typeof internals.esmRequire !== 'function') {
          throw moduleError(`Cannot require ${r.filename}: an ES module (${requiredBy(parent)})`, 'ERR_REQUIRE_ESM');
        }
        module.exports = internals.esmRequire(r.filename, r.text, parent.filename);
      } else {
        let text = r.text;
        if (StringPrototypeStartsWith(text, '#!')) text = `//${StringPrototypeSlice(text, 2)}`;
        const fn = compile(text, r.filename);
        try {
          ReflectApply(fn, module.exports, [module.exports, makeRequire(module), module, r.filename, module.path]);
        } catch (e) {
          throw nodeGlobalError(e, r.filename);
        }
      }
      module.loaded = true;
      ok = true;
    } finally {
      // As Node: a module whose body threw is not cached (a later require
      // runs it again).
      if (!ok) delete state.cache[r.filename];
    }
    return module.exports;
  };
  const requireFrom = (parent, request) => load(resolve(request, parent), parent);
  const makeRequire = (module) => {
    const require = function require(id) { return requireFrom(module, id); };
    require.resolve = function resolve(request) { return resolve_(request, module); };
    require.cache = state.cache;
    require.main = state.main;
    return require;
  };
  const resolve_ = (request, parent) => resolve(request, parent).filename;

  // The global `require`: resolves from the main module of the program (the
  // script, a .load file, or the shell's working folder).
  const mainRequire = function require(id) {
    if (state.main === null) throw new Error('require: no program has been loaded');
    return requireFrom(state.main, id);
  };
  mainRequire.resolve = function resolve(request) {
    if (state.main === null) throw new Error('require.resolve: no program has been loaded');
    return resolve_(request, state.main);
  };
  mainRequire.cache = state.cache;
  internals.markNative(mainRequire, mainRequire.resolve);
  ObjectDefineProperty(global, 'require', {
    __proto__: null, value: mainRequire, writable: true, enumerable: false, configurable: true,
  });
  // A heap upgraded to this version: `require` is Ken's, not the program's
  // (a new heap's baseline is taken after every built-in script ran).
  const baseline = internals.baselineGlobals;
  if (ArrayIsArray(baseline) && ArrayPrototypeIndexOf(baseline, 'require') < 0) ArrayPrototypePush(baseline, 'require');

  // The host, before a program load or shell input: `filename` is its file
  // (absolute), or "<folder>/[repl]" for a typed shell input.
  // Returns true if that file is an ES module (js_api/esm.js runs it).
  internals.setMainModule = (filename) => {
    if (state.main === null || state.main.filename !== filename) {
      state.main = makeModule(filename, null);
      state.main.loaded = true;
    }
    if (StringPrototypeEndsWith(filename, '/[repl]')) return false;
    return formatOf(makeLookup(filename, state.main), filename) === 'module';
  };

  // For the ES module loader (esm.js, which runs next).
  internals.moduleLoader = {
    __proto__: null, state, NODE_BUILTINS, join, dirname, moduleError, packageOf, makeLookup, read,
    parsePackageJson, resolveExports, splitPackage, nodeModulesPaths, makeModule, load, formatOf, nodeGlobalError,
    importsTarget, selfTarget,
  };
}
