// The `ken` global: ken.me, ken.peers, ken.send(dest, value),
// ken.receive(handler). The handler lives in the heap like any other value,
// so it survives restarts; each delivered message runs it as one turn.
//
// Runs as `function (natives, internals)`; sets internals.deliver.
'use strict';
{
  let receiveHandler = null;
  const ken = {};
  Object.defineProperty(ken, 'me', { get() { return natives.me(); }, enumerable: true });
  Object.defineProperty(ken, 'peers', { get() { return natives.peers(); }, enumerable: true });
  Object.defineProperty(ken, 'send', {
    enumerable: true,
    value: function send(dest, value) {
      if (arguments.length < 2) throw new TypeError('ken.send(dest, value) needs a destination and a value');
      natives.send(dest, value);
    },
  });
  Object.defineProperty(ken, 'receive', {
    enumerable: true,
    value: function receive(handler) {
      if (typeof handler !== 'function') throw new TypeError('ken.receive(handler): handler must be a function');
      receiveHandler = handler;
    },
  });
  if (internals.httpApi) Object.defineProperty(ken, 'http', { value: internals.httpApi, enumerable: true });
  internals.markNative(ken.send, ken.receive, Object.getOwnPropertyDescriptor(ken, 'me').get,
                      Object.getOwnPropertyDescriptor(ken, 'peers').get);
  internals.deliver = (value, from) => {
    if (receiveHandler === null) {
      throw new Error(`no ken.receive handler is set; the message from '${from}' cannot be delivered`);
    }
    receiveHandler(value, from);
  };
  Object.defineProperty(globalThis, 'ken', { value: Object.freeze(ken), writable: false, enumerable: false, configurable: false });
}
