// The `ken` global: ken.me, ken.peers, ken.send(dest, value),
// ken.receive(handler), ken.call(dest, value, options) and ken.TimeoutError.
// The handler lives in the heap like any other value, so it survives
// restarts; each delivered message runs it as one turn.
//
// Request/reply (ken.call). A call is a message (same channel, same
// exactly-once delivery) framed as a call with an id (js_api/natives.h,
// MessageFrame); the callee's ken.receive handler runs on it, and its return
// value, or the settlement of the promise it returns (possibly turns later),
// goes back as a reply message framed with the same id. The caller's pending
// promise and its resolve/reject functions live in this heap's call table
// (state.calls), so a crash of either side loses nothing: the reply is
// delivered exactly once into the caller's heap and settles the promise
// there. A handler that throws (or times out) is rolled back like any aborted
// turn; the runtime then runs callFailed in its place, in the commit that
// keeps the dead letter, which sends the error reply. A timeout is a durable
// timer (timers.js): the promise rejects with ken.TimeoutError, and a reply
// that comes later is dropped and counted (ken.callStats()).
//
// Runs as `function (natives, internals)`; sets internals.deliver and
// internals.callFailed. Runs again when an existing heap's built-ins are
// upgraded: its state (internals.state.ken) is kept.
'use strict';
const {
  Error,
  EvalError,
  MapPrototypeDelete,
  MapPrototypeGet,
  MapPrototypeGetSize,
  MapPrototypeSet,
  Map,
  NumberIsFinite,
  ObjectDefineProperty,
  ObjectFreeze,
  ObjectGetOwnPropertyDescriptor,
  ObjectKeys,
  Promise,
  PromisePrototypeThen,
  PromiseResolve,
  RangeError,
  ReferenceError,
  ReflectApply,
  RegExpPrototypeExec,
  StringPrototypeIndexOf,
  StringPrototypeSlice,
  SyntaxError,
  TypeError,
  URIError,
  globalThis: global,
} = internals.primordials;
{
  const nativeSend = natives.send;
  const nativeSendFrame = natives.sendFrame;
  const nativeMe = natives.me;
  const nativePeers = natives.peers;
  const nativeClone = natives.clone;
  const KIND_CALL = 1;
  const KIND_REPLY = 2;
  const KIND_ERROR_REPLY = 3;
  const KIND_ACTOR_CALL = 4;
  const KIND_ACTOR_SEND = 5;
  const DEFAULT_TIMEOUT_MS = 30000;
  const REPLY_RETRY_MS = 250;  // a reply refused by back-pressure is sent again this much later

  const state = internals.state.ken !== undefined ? internals.state.ken : { __proto__: null, receiveHandler: null };
  internals.state.ken = state;
  if (state.calls === undefined) {
    state.calls = new Map();  // call id -> { dest, resolve, reject, timer }
    state.nextCallId = 1;
    state.timedOut = 0;       // calls rejected with TimeoutError
    state.lateReplies = 0;    // replies that found no pending call (it timed out)
    state.replyRetries = 0;   // replies sent again after back-pressure
  }

  // One class for the heap's life (kept across upgrades, so that instanceof
  // keeps working).
  if (state.TimeoutError === undefined) {
    state.TimeoutError = class TimeoutError extends Error {
      constructor(message) {
        super(message);
        ObjectDefineProperty(this, 'name', { __proto__: null, value: 'TimeoutError', writable: true, configurable: true });
      }
    };
  }
  const TimeoutError = state.TimeoutError;

  // ms from a number (> 0, Infinity: no timeout) or a duration string
  // ("250ms", "5s", "1.5m", "2h").
  const MAX_TIMEOUT_MS = 2147483647;  // a durable timer's longest delay (as browsers': 24.8 days)
  const timeoutMs = (timeout) => {
    if (timeout === undefined) return DEFAULT_TIMEOUT_MS;
    if (typeof timeout === 'number') {
      if (timeout === Infinity || (NumberIsFinite(timeout) && timeout > 0 && timeout <= MAX_TIMEOUT_MS)) return timeout;
    } else if (typeof timeout === 'string') {
      const m = RegExpPrototypeExec(/^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/, timeout);
      if (m !== null) {
        const n = +m[1] * (m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : m[2] === 'm' ? 60000 : 3600000);
        if (n > 0 && n <= MAX_TIMEOUT_MS) return n;
      }
    } else {
      throw new TypeError(`ken.call: options.timeout must be a number of ms or a duration such as "5s", not ${
        timeout === null ? 'null' : typeof timeout}`);
    }
    throw new RangeError(`ken.call: options.timeout must be more than 0 and at most ${MAX_TIMEOUT_MS} ms (24.8 days): `
                         + `a number of ms, Infinity (no timeout), or a duration such as "5s", not ${
      typeof timeout === 'string' ? `'${timeout}'` : `${timeout}`}`);
  };

  // What an error reply carries: the error's name, message and stack (own
  // data, so that it structured-clones whatever the program threw).
  // Reading them runs the program's getters: one that throws gives a
  // placeholder rather than no reply at all.
  const errorInfo = (error, prefix = '') => {
    let name = 'Error';
    let message;
    let stack = '';
    try {
      if (error !== null && (typeof error === 'object' || typeof error === 'function')) {
        const n = error.name;
        const m = error.message;
        const s = error.stack;
        if (typeof n === 'string' && n !== '') name = n;
        message = typeof m === 'string' ? m : internals.format([error]);
        if (typeof s === 'string') stack = s;
      } else {
        message = internals.format([error]);
      }
    } catch (unreadable) {
      name = 'Error';
      message = 'the callee failed with an error that could not be read';
    }
    return { name, message: `${prefix}${message}`, stack };
  };

  // The error a caller's promise rejects with, from an error reply of `from`.
  const standardErrors = { __proto__: null, Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError };
  const remoteError = (info, from) => {
    const name = info !== null && typeof info === 'object' && typeof info.name === 'string' ? info.name : 'Error';
    const message = info !== null && typeof info === 'object' && typeof info.message === 'string' ? info.message : '';
    const Ctor = standardErrors[name] !== undefined ? standardErrors[name] : Error;
    const error = new Ctor(message);
    if (Ctor === Error && name !== 'Error') {
      ObjectDefineProperty(error, 'name', { __proto__: null, value: name, writable: true, configurable: true });
    }
    ObjectDefineProperty(error, 'node', { __proto__: null, value: from, writable: true, configurable: true });
    const stack = info !== null && typeof info === 'object' && typeof info.stack === 'string' ? info.stack : '';
    ObjectDefineProperty(error, 'remoteStack', { __proto__: null, value: stack, writable: true, configurable: true });
    return error;
  };

  const isBackPressure = (error) =>
    error !== null && typeof error === 'object' && typeof error.message === 'string' &&
    StringPrototypeIndexOf(error.message, 'try again later') >= 0;

  // Sends reply `kind` for call `id` of `to`. Back-pressure (the outbox to
  // `to` is full): again on a durable timer. A value that cannot be sent
  // (not structured-clonable, too big) becomes an error reply saying so.
  const sendReply = (to, id, kind, value) => {
    try {
      nativeSendFrame(to, kind, id, value);
    } catch (error) {
      if (isBackPressure(error)) {
        state.replyRetries++;
        internals.addTimer(() => { sendReply(to, id, kind, value); }, REPLY_RETRY_MS);
      } else if (kind === KIND_REPLY) {
        sendReply(to, id, KIND_ERROR_REPLY, errorInfo(error, 'the reply could not be sent: '));
      } else {
        throw error;  // the channel is broken: the turn reports it
      }
    }
  };

  const ken = {};
  const me = { get() { return nativeMe(); } }.get;
  const peers = { get() { return nativePeers(); } }.get;
  const send = function send(dest, value) {
    if (arguments.length < 2) throw new TypeError('ken.send(dest, value) needs a destination and a value');
    nativeSend(dest, value);
  };
  const receive = function receive(handler) {
    if (typeof handler !== 'function') throw new TypeError('ken.receive(handler): handler must be a function');
    if (nativeMe() === null) {
      throw new TypeError('ken.receive: this node is not part of a cluster (started by ken shell), so no message '
                          + 'can arrive; run the program as a node of a cluster (ken run)');
    }
    state.receiveHandler = handler;
  };
  // Call `id`, made to `dest`: the promise its reply settles, or its
  // timeout (`ms`; `what` names the call in the TimeoutError's message).
  const awaitReply = (id, dest, ms, what) => {
    let resolve;
    let reject;
    const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
    const entry = { __proto__: null, dest, resolve, reject, timer: 0 };
    if (ms !== Infinity) {
      entry.timer = internals.addTimer(() => {
        if (MapPrototypeGet(state.calls, id) !== entry) return;
        MapPrototypeDelete(state.calls, id);
        state.timedOut++;
        reject(new TimeoutError(`${what} got no reply within ${ms} ms; whether it ran there is `
                                + 'unknown (a reply that comes later is dropped)'));
      }, ms);
    }
    MapPrototypeSet(state.calls, id, entry);
    return promise;
  };
  // Sends `value` to `dest` as a call of `kind` (a call, an actor call)
  // and returns the promise its reply settles; `what` names it in the
  // timeout's message. Throws as ken.send does (unknown node,
  // back-pressure, a value that cannot be cloned, ...).
  const startCall = (dest, kind, value, ms, what) => {
    const id = state.nextCallId++;
    nativeSendFrame(dest, kind, id, value);
    return awaitReply(id, dest, ms, what);
  };
  internals.startCall = startCall;
  internals.awaitReply = awaitReply;
  internals.callTimeoutMs = timeoutMs;
  internals.nextCallId = () => state.nextCallId++;

  // Answers call `id` of `from` with `result`: at once, or when the promise
  // (thenable) it is settles; `reply(to, id, kind, value)` sends it.
  const answer = (from, id, result, reply = sendReply) => {
    if (internals.isThenable(result)) {
      PromisePrototypeThen(ReflectApply(PromiseResolve, Promise, [result]),
          (v) => { reply(from, id, KIND_REPLY, v); },
          (e) => { reply(from, id, KIND_ERROR_REPLY, errorInfo(e)); });
    } else {
      reply(from, id, KIND_REPLY, result);
    }
  };
  // The reply to a call made on this node (to an actor here): a structured
  // clone, delivered by a turn of its own as a reply from a peer would be.
  const replyLocally = (to, id, kind, value) => {
    let copy;
    try {
      copy = nativeClone(value, internals.localMessageLimit !== undefined ? internals.localMessageLimit() : 0,
                         'the reply');
    } catch (error) {
      if (kind !== KIND_REPLY) throw error;  // errorInfo's plain data always clones
      kind = KIND_ERROR_REPLY;
      copy = errorInfo(error, 'the reply could not be sent: ');
    }
    internals.addTimer(() => { internals.deliver(copy, to, kind, id, true); }, 0);
  };
  internals.answerLocally = (id, result) => { answer(nativeMe(), id, result, replyLocally); };
  internals.answerCall = answer;

  const call = function call(dest, value, options) {
    if (arguments.length < 2) throw new TypeError('ken.call(dest, value[, options]) needs a destination and a value');
    if (options !== undefined && (options === null || typeof options !== 'object')) {
      throw new TypeError('ken.call: options must be an object such as { timeout: 5000 }');
    }
    if (options !== undefined) {
      const keys = ObjectKeys(options);
      for (let i = 0; i < keys.length; i++) {
        if (keys[i] !== 'timeout') throw new TypeError(`ken.call: unknown option '${keys[i]}' (the one option is timeout)`);
      }
    }
    const ms = timeoutMs(options === undefined ? undefined : options.timeout);
    return startCall(dest, KIND_CALL, value, ms, `ken.call to '${dest}'`);
  };
  const callStats = function callStats() {
    return { pending: MapPrototypeGetSize(state.calls), timedOut: state.timedOut, lateReplies: state.lateReplies,
             replyRetries: state.replyRetries };
  };

  // `ken` is frozen: a heap upgraded from before ken.call keeps the `ken`
  // it had (it answers calls, through internals.deliver, but cannot make
  // them); a new heap gets every member.
  if (ObjectGetOwnPropertyDescriptor(global, 'ken') === undefined) {
    const member = (name, value) => {
      ObjectDefineProperty(ken, name, { __proto__: null, enumerable: true, value });
    };
    ObjectDefineProperty(ken, 'me', { __proto__: null, get: me, enumerable: true });
    ObjectDefineProperty(ken, 'peers', { __proto__: null, get: peers, enumerable: true });
    member('send', send);
    member('receive', receive);
    member('call', call);
    member('callStats', callStats);
    member('TimeoutError', TimeoutError);
    // Actors (js_api/actors.js, which runs after this script).
    const actor = function actor(kind, methods) { return internals.actorApi.actor(kind, methods); };
    const ref = function ref(kind, key) { return internals.actorApi.ref(kind, key); };
    const actors = function actors(kind) { return internals.actorApi.actors(kind); };
    internals.markNative(actor, ref, actors);
    member('actor', actor);
    member('ref', ref);
    member('actors', actors);
    if (internals.httpApi) member('http', internals.httpApi);
    ObjectDefineProperty(global, 'ken', {
      __proto__: null, value: ObjectFreeze(ken), writable: false, enumerable: false, configurable: false,
    });
  }
  internals.markNative(send, receive, call, callStats, me, peers);

  internals.deliver = (value, from, kind, id, mayHoldRefs) => {
    if (mayHoldRefs === true && internals.reviveRefs !== undefined) internals.reviveRefs(value);
    if (kind === KIND_ACTOR_CALL || kind === KIND_ACTOR_SEND) {
      internals.deliverToActor(value, from, kind === KIND_ACTOR_CALL ? id : 0);
      return;
    }
    if (kind === KIND_REPLY || kind === KIND_ERROR_REPLY) {
      const entry = MapPrototypeGet(state.calls, id);
      if (entry === undefined || entry.dest !== from) {
        state.lateReplies++;  // its call timed out (or this heap never made it)
        return;
      }
      MapPrototypeDelete(state.calls, id);
      if (entry.timer !== 0) internals.clearTimer(entry.timer);
      if (kind === KIND_REPLY) entry.resolve(value);
      else entry.reject(remoteError(value, from));
      return;
    }
    const receiveHandler = state.receiveHandler;
    if (receiveHandler === null) {
      throw new Error(`no ken.receive handler is set; the ${kind === KIND_CALL ? 'call' : 'message'} from '${from}' `
                      + 'cannot be delivered');
    }
    const result = ReflectApply(receiveHandler, undefined, [value, from]);
    if (kind === KIND_CALL) answer(from, id, result);
  };

  // What a failed turn's error text ("Uncaught TypeError: ...\n    at ..."
  // or "turn aborted: ...") says: { name, message, stack }.
  const failureInfo = (text) => {
    let name = 'Error';
    let message = text;
    const at = StringPrototypeIndexOf(text, 'Uncaught ');
    if (at >= 0) {
      let rest = StringPrototypeSlice(text, at + 9);
      const stackAt = StringPrototypeIndexOf(rest, '\n    at ');
      if (stackAt >= 0) rest = StringPrototypeSlice(rest, 0, stackAt);
      const m = RegExpPrototypeExec(/^([A-Za-z_$][\w$]*): ([\s\S]*)$/, rest);
      if (m !== null) {
        name = m[1];
        message = m[2];
      } else {
        message = rest;
      }
    }
    return { name, message, stack: text };
  };
  // Call `id` of `from` failed (its turn aborted with `text`, the turn's
  // error): its error reply.
  internals.callFailed = (from, id, text) => {
    sendReply(from, id, KIND_ERROR_REPLY, failureInfo(text));
  };
  // A call made on this node to an actor here failed so: its error reply,
  // in a turn of its own (this runs in the failed turn's fallback).
  internals.localCallFailed = (id, text) => {
    const info = failureInfo(text);
    const me = nativeMe();
    internals.addTimer(() => { internals.deliver(info, me, KIND_ERROR_REPLY, id, false); }, 0);
  };
}
