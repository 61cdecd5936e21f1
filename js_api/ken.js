// The `ken` global: ken.me, ken.peers, ken.send(dest, value),
// ken.receive(handler). The handler lives in the heap like any other value,
// so it survives restarts; each delivered message runs it as one turn.
//
// Runs as `function (natives, internals)`; sets internals.deliver.
'use strict';
const {
  Error,
  ObjectDefineProperty,
  ObjectFreeze,
  TypeError,
  globalThis: global,
} = internals.primordials;
{
  const nativeSend = natives.send;
  const nativeMe = natives.me;
  const nativePeers = natives.peers;
  const state = { __proto__: null, receiveHandler: null };
  internals.state.ken = state;
  const ken = {};
  const me = { get() { return nativeMe(); } }.get;
  const peers = { get() { return nativePeers(); } }.get;
  ObjectDefineProperty(ken, 'me', { __proto__: null, get: me, enumerable: true });
  ObjectDefineProperty(ken, 'peers', { __proto__: null, get: peers, enumerable: true });
  const send = function send(dest, value) {
    if (arguments.length < 2) throw new TypeError('ken.send(dest, value) needs a destination and a value');
    nativeSend(dest, value);
  };
  ObjectDefineProperty(ken, 'send', { __proto__: null, enumerable: true, value: send });
  const receive = function receive(handler) {
    if (typeof handler !== 'function') throw new TypeError('ken.receive(handler): handler must be a function');
    if (nativeMe() === null) {
      throw new TypeError('ken.receive: this node is not part of a cluster (started by ken shell), so no message '
                          + 'can arrive; run the program as a node of a cluster (ken run)');
    }
    state.receiveHandler = handler;
  };
  ObjectDefineProperty(ken, 'receive', { __proto__: null, enumerable: true, value: receive });
  if (internals.httpApi) ObjectDefineProperty(ken, 'http', { __proto__: null, value: internals.httpApi, enumerable: true });
  internals.markNative(send, receive, me, peers);
  internals.deliver = (value, from) => {
    const receiveHandler = state.receiveHandler;
    if (receiveHandler === null) {
      throw new Error(`no ken.receive handler is set; the message from '${from}' cannot be delivered`);
    }
    receiveHandler(value, from);
  };
  ObjectDefineProperty(global, 'ken', {
    __proto__: null, value: ObjectFreeze(ken), writable: false, enumerable: false, configurable: false,
  });
}
