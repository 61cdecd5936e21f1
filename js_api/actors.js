// Actors by key: ken.actor(kind, methods) defines a kind; ken.ref(kind, key)
// is a reference to the actor of that kind and key, created on first use
// (with methods.state(key)) on the node that owns the key, where its state
// lives in the heap like any other object. ref.call(method, ...args) is a
// ken.call to that node (the method runs with the state as `this`; its
// value, or its promise's, is the reply); ref.send(method, ...args) a
// ken.send. A call or send to an actor whose owner is this node is a turn
// of its own, as one to another node is: the method runs in a durable
// internal timer's turn (due at once; calls made in one turn run in the
// order made) on a structured clone of the arguments; a method that
// throws is rolled back with its turn, kept as a dead letter, and the
// caller's promise rejects with its error (e.node is this node); the
// result (or its promise's settlement) is cloned and settles the caller's
// promise in another turn.
//
// Placement: the owner of (kind, key) is the rendezvous-hashing winner
// (highest hash of kind, key and node id) over the kind's placement list:
// the config's `actors: KIND: placement:` list, else every node id. The
// list a kind uses is fixed the first time this heap uses the kind and
// kept: a later config change (a node added) never moves an actor away
// from its state. Every actor message carries the list its sender used;
// a node whose own list for the kind differs refuses the message (an error
// reply), so two nodes that disagree are told so instead of creating the
// same actor twice. And a node that fixes a kind's list asks every other
// node of the config which list it uses for the kind (method
// '@placement'; a node that never used it answers null); until all have
// answered, this node runs no method of the kind (calls wait in a queue),
// and if one uses another list it refuses every call of the kind (until a
// config that pins that list), so that a node added later, or one that
// never used the kind, cannot host a second copy of an actor.
//
// References are plain data when cloned ({'@kenRef': kind, key}); a
// delivered value holding such objects gets them back as references
// (reviveRefs, when the host saw the marker in the message's bytes).
//
// Runs as `function (natives, internals)` after ken.js and timers.js.
'use strict';
const {
  ArrayIsArray,
  ArrayPrototypeJoin,
  ArrayPrototypePush,
  ArrayPrototypeSort,
  DateNow,
  Error,
  JSONParse,
  JSONStringify,
  Map,
  MapPrototypeDelete,
  MapPrototypeForEach,
  MapPrototypeGet,
  MapPrototypeSet,
  MathImul,
  NullProtoArray,
  NumberIsSafeInteger,
  ObjectDefineProperty,
  ObjectGetPrototypeOf,
  ObjectKeys,
  ObjectPrototype,
  ObjectPrototypeHasOwnProperty,
  ObjectSetPrototypeOf,
  PromisePrototypeThen,
  ReflectApply,
  SetPrototypeAdd,
  SetPrototypeForEach,
  SetPrototypeHas,
  Set,
  StringPrototypeCharCodeAt,
  StringPrototypeSlice,
  TypeError,
} = internals.primordials;
{
  const nativeSendFrame = natives.sendFrame;
  const serializedSize = natives.serializedSize;
  const nativeClone = natives.clone;
  const KIND_ACTOR_CALL = 4;
  const KIND_ACTOR_SEND = 5;
  const MARKER = '@kenRef';
  const TIMEOUT = '@kenTimeout';  // own, non-enumerable: not cloned
  const PLACEMENT_QUERY = '@placement';  // the method name of a placement query (never an actor's)

  const state = internals.state.actors !== undefined ? internals.state.actors : {
    __proto__: null,
    kinds: new Map(),      // kind -> { state, methods (null-prototype object) }
    hosted: new Map(),     // kind -> Map(key tag -> { key, state, created, last, calls })
    config: null,          // the config's placement: { nodes: [...], kinds: { kind: [...] } }
    used: new Map(),       // kind -> placement list, fixed at the kind's first use
    configJson: '',
  };
  internals.state.actors = state;
  // kind -> { fingerprint, waiting (peers yet to answer), queue (thunks run
  // once all agree), refusal ('' or why this node refuses the kind) }. No
  // entry: agreed (or used before built-ins version 7, which did not ask).
  if (state.agreement === undefined) state.agreement = new Map();

  // As the config's `actors:` keys (cluster/config.cc), so that every kind
  // can be pinned: 1-100 printable ASCII characters, no spaces.
  const checkKind = (kind, where) => {
    if (typeof kind !== 'string' || kind === '') throw new TypeError(`${where}: the kind must be a non-empty string`);
    let printable = kind.length <= 100;
    for (let i = 0; i < kind.length && printable; i++) {
      const c = StringPrototypeCharCodeAt(kind, i);
      printable = c > 0x20 && c < 0x7f;
    }
    if (!printable) {
      throw new TypeError(`${where}: the kind must be 1-100 printable ASCII characters without spaces (as a config's `
                          + '`actors:` key), not ' + JSONStringify(StringPrototypeSlice(kind, 0, 120)));
    }
  };
  // Placement lists compared as sets (rendezvous hashing does not depend on
  // their order): the sorted ids, joined by ',' (ids never hold one).
  const canonical = (fingerprint) => {
    if (typeof fingerprint !== 'string' || fingerprint === '') return '';
    const ids = NullProtoArray();
    let from = 0;
    for (let i = 0; i <= fingerprint.length; i++) {
      if (i === fingerprint.length || StringPrototypeCharCodeAt(fingerprint, i) === 44) {
        ArrayPrototypePush(ids, StringPrototypeSlice(fingerprint, from, i));
        from = i + 1;
      }
    }
    ArrayPrototypeSort(ids);
    return ArrayPrototypeJoin(ids, ',');
  };
  // Whether two fingerprints name the same nodes: equal as sent (the common
  // case, no work on the delivery path), else as sets.
  const sameList = (x, y) => x === y || canonical(x) === canonical(y);
  const nodeName = () => (natives.me() === null ? 'this shell' : `node '${natives.me()}'`);
  const checkKey = (key, where) => {
    if (typeof key !== 'string' && !(typeof key === 'number' && NumberIsSafeInteger(key))) {
      throw new TypeError(`${where}: the key must be a string or a safe integer, not ${
        key === null ? 'null' : typeof key === 'number' ? `${key}` : typeof key}`);
    }
  };
  // Keys 1 and '1' are different actors.
  const keyTag = (key) => (typeof key === 'number' ? `n:${key}` : `s:${key}`);

  // A 53-bit hash of a string (cyrb53, public domain): the same on every node.
  const hash = (text) => {
    let h1 = 0xdeadbeef;
    let h2 = 0x41c6ce57;
    for (let i = 0; i < text.length; i++) {
      const c = StringPrototypeCharCodeAt(text, i);
      h1 = MathImul(h1 ^ c, 2654435761);
      h2 = MathImul(h2 ^ c, 1597334677);
    }
    h1 = MathImul(h1 ^ (h1 >>> 16), 2246822507) ^ MathImul(h2 ^ (h2 >>> 13), 3266489909);
    h2 = MathImul(h2 ^ (h2 >>> 16), 2246822507) ^ MathImul(h1 ^ (h1 >>> 13), 3266489909);
    return 4294967296 * (2097151 & h2) + (h1 >>> 0);
  };

  // The placement list of `kind`, fixed at its first use (which asks the
  // other nodes for theirs: startAgreement); null outside a cluster (every
  // actor is local).
  const placementOf = (kind) => {
    const used = MapPrototypeGet(state.used, kind);
    if (used !== undefined) return used;
    if (state.config === null) return null;
    const list = configListOf(kind);
    MapPrototypeSet(state.used, kind, list);
    startAgreement(kind, list);
    return list;
  };
  const configListOf = (kind) => {
    const kinds = state.config.kinds;
    return ObjectPrototypeHasOwnProperty(kinds, kind) ? kinds[kind] : state.config.nodes;
  };
  const ownerOf = (kind, key, list) => {
    let best = null;
    let bestScore = -1;
    const tag = keyTag(key);
    for (let i = 0; i < list.length; i++) {
      const score = hash(`${kind}\u0000${tag}\u0000${list[i]}`);
      if (score > bestScore || (score === bestScore && list[i] < best)) {
        best = list[i];
        bestScore = score;
      }
    }
    return best;
  };

  // Agreement on a kind's placement (see the top of this file).
  const AGREEMENT_RETRY_MS = 1000;
  const startAgreement = (kind, list) => {
    const me = natives.me();
    const fingerprint = ArrayPrototypeJoin(list, ',');
    const a = { __proto__: null, fingerprint, waiting: 0, queue: NullProtoArray(), refusal: '' };
    const nodes = state.config.nodes;
    for (let i = 0; i < nodes.length; i++) {
      if (nodes[i] !== me) a.waiting++;
    }
    if (a.waiting === 0) return;
    MapPrototypeSet(state.agreement, kind, a);
    for (let i = 0; i < nodes.length; i++) {
      if (nodes[i] !== me) ask(kind, a, nodes[i]);
    }
  };
  // Asks `peer` for its list of `kind` (again after a delay if it cannot
  // answer: an outbox full, an older Ken, ...; a call to a node that is
  // down waits until it is up: messages are retransmitted until acked).
  const ask = (kind, a, peer) => {
    const retry = () => {
      internals.addTimer(() => { if (MapPrototypeGet(state.agreement, kind) === a) ask(kind, a, peer); },
                         AGREEMENT_RETRY_MS);
    };
    let reply;
    try {
      reply = internals.startCall(peer, KIND_ACTOR_CALL, [kind, '', PLACEMENT_QUERY, [], a.fingerprint], Infinity,
                                  `the placement of ${kind} actors on '${peer}'`);
    } catch (error) {
      retry();
      return;
    }
    PromisePrototypeThen(reply, (theirs) => {
      if (MapPrototypeGet(state.agreement, kind) !== a || a.refusal !== '') return;
      if (theirs !== null && !sameList(theirs, a.fingerprint)) {
        refuse(kind, a, `node '${peer}' places ${kind} actors over [${theirs}] (fixed when it first used the kind) `
               + `but this node, '${natives.me()}', would place them over [${a.fingerprint}]; refusing every ${kind} `
               + 'call here so that no actor is hosted twice: pin the list the cluster uses in the config '
               + `(actors: ${kind}: placement: [${theirs}]) and restart this node`);
        return;
      }
      if (--a.waiting === 0) {
        MapPrototypeDelete(state.agreement, kind);
        for (let i = 0; i < a.queue.length; i++) a.queue[i].run();
        a.queue = NullProtoArray();
      }
    }, retry);
  };
  const refuse = (kind, a, why) => {
    a.refusal = why;
    natives.write(2, `actors: ${why}\n`);
    for (let i = 0; i < a.queue.length; i++) a.queue[i].refuse(why);
    a.queue = NullProtoArray();
  };
  // Runs `item.run()` now if the kind is agreed, later if this node still
  // waits for answers; throws the refusal if it refuses the kind.
  const whenAgreed = (kind, item) => {
    const a = MapPrototypeGet(state.agreement, kind);
    if (a === undefined) {
      item.run();
      return;
    }
    if (a.refusal !== '') throw new Error(`actor kind ${kind}: ${a.refusal}`);
    a.queue[a.queue.length] = item;
  };

  // The actor itself, created on first use.
  const instanceOf = (kind, key) => {
    const def = MapPrototypeGet(state.kinds, kind);
    if (def === undefined) {
      throw new Error(`actor kind '${kind}' is not defined on ${nodeName()} (ken.actor('${kind}', ...))`);
    }
    let table = MapPrototypeGet(state.hosted, kind);
    if (table === undefined) {
      table = new Map();
      MapPrototypeSet(state.hosted, kind, table);
    }
    const tag = keyTag(key);
    let actor = MapPrototypeGet(table, tag);
    if (actor === undefined) {
      const initial = def.state === undefined ? {} : ReflectApply(def.state, undefined, [key]);
      if (initial === null || (typeof initial !== 'object' && typeof initial !== 'function')) {
        throw new TypeError(`actor ${kind} '${key}': state() must return an object`);
      }
      if (internals.isThenable(initial)) {
        throw new TypeError(`actor ${kind} '${key}': state() must return the state itself, not a promise (it runs `
                            + 'when the actor is first used, in that call\'s turn)');
      }
      actor = { __proto__: null, key, state: initial, created: 0, last: 0, calls: 0 };
      actor.created = DateNow();
      MapPrototypeSet(table, tag, actor);
    }
    return { def, actor };
  };
  // Runs `method` of actor (kind, key) here; returns what it returned.
  const invoke = (kind, key, method, args) => {
    const { def, actor } = instanceOf(kind, key);
    const fn = typeof method === 'string' && ObjectPrototypeHasOwnProperty(def.methods, method) ? def.methods[method]
                                                                                              : undefined;
    if (fn === undefined) throw new TypeError(`actor kind '${kind}' has no method '${method}'`);
    actor.last = DateNow();
    actor.calls++;
    return ReflectApply(fn, actor.state, args);
  };

  // A message for an actor, from a peer: [kind, key, method, args, placement].
  internals.deliverToActor = (message, from, callId) => {
    if (!ArrayIsArray(message) || message.length !== 5 || !ArrayIsArray(message[3])) {
      throw new TypeError(`a malformed actor message from '${from}'`);
    }
    const kind = message[0];
    const key = message[1];
    const method = message[2];
    const args = message[3];
    const theirs = message[4];
    checkKind(kind, 'actor message');
    checkKey(key, 'actor message');
    if (method === PLACEMENT_QUERY) {
      // Another node asks which list this one uses (without fixing one).
      const used = MapPrototypeGet(state.used, kind);
      if (callId !== 0) internals.answerCall(from, callId, used === undefined ? null : ArrayPrototypeJoin(used, ','));
      return;
    }
    const list = placementOf(kind);
    const mine = list === null ? '' : ArrayPrototypeJoin(list, ',');
    if (!sameList(theirs, mine)) {
      throw new Error(`actor ${kind} '${key}': node '${from}' places ${kind} actors over [${theirs}] but node '${
        natives.me()}' over [${mine}] (fixed when each first used the kind); refusing, so that no actor is created `
        + `twice: if [${mine}] is the list the cluster uses, pin it in the config (actors: ${kind}: placement: [${
        mine}]) and restart node '${from}'`);
    }
    const owner = list === null ? natives.me() : ownerOf(kind, key, list);
    if (owner !== natives.me()) {
      throw new Error(`actor ${kind} '${key}' belongs to node '${owner}', not '${natives.me()}'`);
    }
    const run = () => {
      const result = invoke(kind, key, method, args);
      if (callId !== 0) internals.answerCall(from, callId, result);
    };
    if (MapPrototypeGet(state.agreement, kind) === undefined) {
      run();  // in this delivery's turn
      return;
    }
    whenAgreed(kind, {
      __proto__: null,
      // Later, in a turn of its own, as a call made here would be.
      run() {
        internals.addTimer(run, 0, callId === 0 ? undefined : (error) => { internals.callFailed(from, callId, error); });
      },
      refuse(why) {
        if (callId !== 0) internals.callFailed(from, callId, `Uncaught Error: actor kind ${kind}: ${why}`);
      },
    });
  };

  const refPrototype = { __proto__: null };
  const makeRef = (kind, key) => {
    const ref = { __proto__: refPrototype };
    ObjectDefineProperty(ref, MARKER, { __proto__: null, value: kind, enumerable: true });
    ObjectDefineProperty(ref, 'key', { __proto__: null, value: key, enumerable: true });
    return ref;
  };
  // Where (kind, key) lives: null for this node.
  const route = (ref) => {
    const kind = ref[MARKER];
    const key = ref.key;
    checkKind(kind, 'actor reference');
    checkKey(key, 'actor reference');
    const list = placementOf(kind);
    if (list === null) return { kind, key, owner: null, fingerprint: '' };
    const a = MapPrototypeGet(state.agreement, kind);
    if (a !== undefined && a.refusal !== '') throw new Error(`actor kind ${kind}: ${a.refusal}`);
    const owner = ownerOf(kind, key, list);
    return { kind, key, owner: owner === natives.me() ? null : owner, fingerprint: ArrayPrototypeJoin(list, ',') };
  };
  // A call (`id` >= 1: answered) or send (id 0) to actor (kind, key) of
  // this node, with `args` already cloned: its turn.
  const runLocally = (kind, key, method, args, id) => {
    internals.reviveRefs(args);
    const result = invoke(kind, key, method, args);
    if (id !== 0) internals.answerLocally(id, result);
  };
  const local = (kind, key, method, args, id) => {
    // Throws, as a send does, for what cannot be cloned or is too big.
    const copy = nativeClone(plainArray(args), internals.localMessageLimit(), `${kind} '${key}'.${method}() arguments`);
    whenAgreed(kind, {
      __proto__: null,
      run() {
        internals.addTimer(() => { runLocally(kind, key, method, copy, id); }, 0,
                           id === 0 ? undefined : (error) => { internals.localCallFailed(id, error); });
      },
      refuse(why) {
        if (id !== 0) internals.localCallFailed(id, `Uncaught Error: actor kind ${kind}: ${why}`);
      },
    });
  };
  const plainArray = (args) => {
    const out = [];
    for (let i = 0; i < args.length; i++) out[i] = args[i];
    return out;
  };
  const methods = {
    __proto__: null,
    // Calls `method` of the actor; a promise of its result.
    call(method, ...args) {
      const r = route(this);
      if (typeof method !== 'string') throw new TypeError('ref.call(method, ...args): method must be a string');
      const ms = ObjectPrototypeHasOwnProperty(this, TIMEOUT) ? this[TIMEOUT] : internals.callTimeoutMs(undefined);
      if (r.owner === null) {
        const id = internals.nextCallId();
        local(r.kind, r.key, method, args, id);
        return internals.awaitReply(id, natives.me(), ms, `${r.kind} '${r.key}'.${method}() on this node`);
      }
      return internals.startCall(r.owner, KIND_ACTOR_CALL, [r.kind, r.key, method, plainArray(args), r.fingerprint],
                                 ms, `${r.kind} '${r.key}'.${method}() on '${r.owner}'`);
    },
    // The same reference with another timeout for its calls (as ken.call's
    // options.timeout; not part of a clone: a received reference has the
    // default, 30 s).
    withTimeout(timeout) {
      const copy = makeRef(this[MARKER], this.key);
      ObjectDefineProperty(copy, TIMEOUT, { __proto__: null, value: internals.callTimeoutMs(timeout) });
      return copy;
    },
    // Sends `method` with `args` to the actor; no reply.
    send(method, ...args) {
      const r = route(this);
      if (typeof method !== 'string') throw new TypeError('ref.send(method, ...args): method must be a string');
      if (r.owner === null) {
        local(r.kind, r.key, method, args, 0);
        return undefined;
      }
      nativeSendFrame(r.owner, KIND_ACTOR_SEND, internals.nextCallId(),
                      [r.kind, r.key, method, plainArray(args), r.fingerprint]);
      return undefined;
    },
    toString() { return `[actor ${this[MARKER]} ${JSONStringify(this.key)}]`; },
  };
  const names = ObjectKeys(methods);
  for (let i = 0; i < names.length; i++) {
    ObjectDefineProperty(refPrototype, names[i], { __proto__: null, value: methods[names[i]], writable: true, configurable: true });
    internals.markNative(methods[names[i]]);
  }
  ObjectDefineProperty(refPrototype, 'kind', { __proto__: null, get() { return this[MARKER]; }, configurable: true });

  // Brings cloned references in a delivered value back to life.
  internals.reviveRefs = (value) => {
    const seen = new Set();
    const visit = (v) => {
      if (v === null || typeof v !== 'object' || SetPrototypeHas(seen, v)) return;
      SetPrototypeAdd(seen, v);
      if (ObjectGetPrototypeOf(v) === ObjectPrototype && ObjectPrototypeHasOwnProperty(v, MARKER) &&
          typeof v[MARKER] === 'string' && ObjectPrototypeHasOwnProperty(v, 'key')) {
        ObjectSetPrototypeOf(v, refPrototype);
        return;
      }
      if (v instanceof Map) {
        MapPrototypeForEach(v, (x, k) => { visit(k); visit(x); });
        return;
      }
      if (v instanceof Set) {
        const items = [];
        SetPrototypeForEach(v, (x) => { items[items.length] = x; });
        for (let i = 0; i < items.length; i++) visit(items[i]);
        return;
      }
      const keys = ObjectKeys(v);
      for (let i = 0; i < keys.length; i++) visit(v[keys[i]]);
    };
    visit(value);
  };

  internals.actorApi = {
    __proto__: null,
    actor(kind, definition) {
      checkKind(kind, 'ken.actor(kind, methods)');
      if (definition === null || typeof definition !== 'object') {
        throw new TypeError('ken.actor(kind, methods): methods must be an object of functions');
      }
      const def = { __proto__: null, state: undefined, methods: { __proto__: null } };
      const keys = ObjectKeys(definition);
      for (let i = 0; i < keys.length; i++) {
        const v = definition[keys[i]];
        if (typeof v !== 'function') throw new TypeError(`ken.actor('${kind}'): '${keys[i]}' is not a function`);
        if (keys[i] === 'state') def.state = v;
        else def.methods[keys[i]] = v;
      }
      // Defining a kind again replaces its methods; its actors keep their state.
      MapPrototypeSet(state.kinds, kind, def);
    },
    ref(kind, key) {
      checkKind(kind, 'ken.ref(kind, key)');
      checkKey(key, 'ken.ref(kind, key)');
      return makeRef(kind, key);
    },
    // The actors this node hosts (of `kind`, or all): a new array of
    // { kind, key, state, stateBytes, created, lastActive, calls }.
    actors(kind) {
      if (kind !== undefined) checkKind(kind, 'ken.actors(kind)');
      const out = [];
      MapPrototypeForEach(state.hosted, (table, k) => {
        if (kind !== undefined && k !== kind) return;
        MapPrototypeForEach(table, (a) => {
          let bytes = -1;
          try { bytes = serializedSize(a.state); } catch (e) { bytes = -1; }
          out[out.length] = { kind: k, key: a.key, state: a.state, stateBytes: bytes, created: a.created,
                              lastActive: a.last, calls: a.calls };
        });
      });
      return out;
    },
  };

  // The config's placement, given by the host at open when it differs.
  internals.setActorPlacement = (json) => {
    const parsed = JSONParse(json);
    const nodes = parsed.nodes;
    const kinds = { __proto__: null };
    const given = parsed.kinds;
    const names = ObjectKeys(given);
    for (let i = 0; i < names.length; i++) kinds[names[i]] = given[names[i]];
    state.config = { __proto__: null, nodes, kinds };
    state.configJson = json;
    const limit = parsed.max_message_bytes;
    state.maxMessageBytes = typeof limit === 'number' && limit > 0 ? limit : 0;
    // A kind this node refused is asked about afresh when the config now
    // gives it another list (say, the one the cluster uses, pinned).
    const retry = NullProtoArray();
    MapPrototypeForEach(state.agreement, (a, kind) => {
      if (a.refusal !== '' && !sameList(ArrayPrototypeJoin(configListOf(kind), ','), a.fingerprint)) {
        retry[retry.length] = kind;
      }
    });
    for (let i = 0; i < retry.length; i++) {
      MapPrototypeDelete(state.agreement, retry[i]);
      MapPrototypeDelete(state.used, retry[i]);
    }
    // Kinds already used keep their list; say so when the config moved on.
    MapPrototypeForEach(state.used, (list, kind) => {
      const now = configListOf(kind);
      if (!sameList(ArrayPrototypeJoin(now, ','), ArrayPrototypeJoin(list, ','))) {
        natives.write(2, `actors: ${kind} actors stay placed over [${ArrayPrototypeJoin(list, ',')}] (fixed at first `
                       + `use); the config now says [${ArrayPrototypeJoin(now, ',')}], which would move actors away `
                       + 'from their state');
      }
    });
  };
  internals.actorPlacementJson = () => state.configJson;
  // The config's max_message_bytes (0: none, outside a cluster), which the
  // clones of calls to actors of this node keep to as messages do.
  internals.localMessageLimit = () => (state.maxMessageBytes > 0 ? state.maxMessageBytes : 0);
}
