// Replies that a later turn completes: an HTTP handler (or an admin eval)
// may return a promise that is still pending when its turn ends, e.g. one
// that awaits a timer or a message. Its reply is tracked here, in the heap,
// by the id the host gave it; the host collects settled replies after each
// batch (takeSettledReplies, run in the batch's own commit) and releases
// them once that commit is durable. Replies the host no longer waits for
// (timed out, or from before a restart) are forgotten (forgetReplies).
//
// Runs as `function (natives, internals)`.
'use strict';
const {
  ArrayPrototypePush,
  Map,
  MapPrototypeDelete,
  MapPrototypeForEach,
  MapPrototypeGet,
  MapPrototypeGetSize,
  MapPrototypeSet,
  NullProtoArray,
  Promise,
  PromisePrototypeThen,
  PromiseResolve,
  ReflectApply,
} = internals.primordials;
{
  // Kept when this script runs again to upgrade an existing heap's built-ins.
  const state = internals.state.replies !== undefined
      ? internals.state.replies
      : { __proto__: null, pending: new Map() };  // id -> entry
  internals.state.replies = state;

  // Whether `value` is a thenable (reading `then` runs the program's code,
  // inside its turn).
  internals.isThenable = (value) =>
    value !== null && (typeof value === 'object' || typeof value === 'function') && typeof value.then === 'function';

  // Tracks `thenable` as reply `id` of `kind` ('http' with its response
  // object, or 'eval').
  internals.trackReply = (id, kind, thenable, response) => {
    const entry = { __proto__: null, id, kind, response, settled: false, ok: false, value: undefined };
    MapPrototypeSet(state.pending, id, entry);
    const promise = ReflectApply(PromiseResolve, Promise, [thenable]);
    PromisePrototypeThen(promise,
        (value) => { entry.settled = true; entry.ok = true; entry.value = value; },
        (error) => { entry.settled = true; entry.ok = false; entry.value = error; });
  };
  // Reply `id` if it has settled, removed from the table; null while it is
  // pending; undefined if it is not tracked.
  internals.takeReply = (id) => {
    const entry = MapPrototypeGet(state.pending, id);
    if (entry === undefined) return undefined;
    if (!entry.settled) return null;
    MapPrototypeDelete(state.pending, id);
    return entry;
  };
  // Every settled reply, removed from the table.
  internals.takeSettledReplies = () => {
    const out = NullProtoArray();
    MapPrototypeForEach(state.pending, (entry) => { if (entry.settled) ArrayPrototypePush(out, entry); });
    for (let i = 0; i < out.length; i++) MapPrototypeDelete(state.pending, out[i].id);
    return out;
  };
  // Forgets the replies whose ids are listed; every reply if `ids` is undefined.
  internals.forgetReplies = (ids) => {
    if (ids === undefined) {
      const all = NullProtoArray();
      MapPrototypeForEach(state.pending, (entry) => { ArrayPrototypePush(all, entry.id); });
      ids = all;
    }
    for (let i = 0; i < ids.length; i++) MapPrototypeDelete(state.pending, ids[i]);
  };
  internals.pendingReplies = () => MapPrototypeGetSize(state.pending);
}
