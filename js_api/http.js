// The HTTP binding: each request is one turn that calls the global
// `handleRequest(request, response)` or the function given to
// ken.http.onRequest(fn) (which wins if both exist).
//   request:  { method, uri, path, query, params, headers, body }  (body: string)
//   response: { statusCode: 200, headers: {}, body: '' }
// A body that is not a string is sent as JSON (content-type set if absent).
// The node sends the response only after the turn's commit is durable.
//
// Runs as `function (natives, internals)`; sets internals.httpDispatch and
// internals.httpResponseJson.
'use strict';
const {
  Error,
  JSONStringify,
  Number,
  NumberIsInteger,
  ObjectEntries,
  ObjectFreeze,
  ObjectKeys,
  RangeError,
  String,
  StringPrototypeToLowerCase,
  TypeError,
  globalThis: global,
} = internals.primordials;
{
  // Kept when this script runs again to upgrade an existing heap's built-ins.
  const state = internals.state.http !== undefined ? internals.state.http : { __proto__: null, handler: null };
  internals.state.http = state;
  const http = {
    onRequest(fn) {
      if (typeof fn !== 'function') throw new TypeError('ken.http.onRequest(handler): handler must be a function');
      state.handler = fn;
    },
  };
  internals.markNative(http.onRequest);
  internals.httpApi = ObjectFreeze(http);  // becomes ken.http (ken.js)

  // request: the fields above (own data properties, made by the host);
  // returns the response object the handler fills in. A handler that
  // returns a promise (an async function) is answered when the promise
  // settles, possibly in a later turn: it is tracked as reply `replyId`
  // (replies.js); a rejection answers 500 but does not roll the turn back.
  internals.httpDispatch = (request, replyId) => {
    const fn = state.handler !== null ? state.handler : global.handleRequest;
    if (typeof fn !== 'function') {
      throw new Error('no HTTP handler: define a global handleRequest(request, response) or call ken.http.onRequest(fn)');
    }
    const response = { statusCode: 200, headers: {}, body: '' };
    const result = fn(request, response);
    if (replyId !== undefined && internals.isThenable(result)) internals.trackReply(replyId, 'http', result, response);
    return response;
  };
  // The response as JSON text {"statusCode": n, "headers": {...}, "body": "..."},
  // normalised, for the host to parse. Written out here from primitives: a
  // toJSON on Object.prototype or a replaced JSON.stringify must not change
  // it. Only a body that is not a string goes through (the captured)
  // JSON.stringify: that is the program's own value.
  internals.httpResponseJson = (response) => {
    const status = Number(response.statusCode);
    if (!NumberIsInteger(status) || status < 100 || status > 599) {
      throw new RangeError(`response.statusCode ${String(response.statusCode)} is not an HTTP status (100-599)`);
    }
    const headers = { __proto__: null };  // lowercased name -> value
    const given = response.headers;
    if (given !== null && typeof given === 'object') {
      const entries = ObjectEntries(given);
      for (let i = 0; i < entries.length; i++) {
        const entry = entries[i];  // [key, value], made by Object.entries
        headers[StringPrototypeToLowerCase(String(entry[0]))] = String(entry[1]);
      }
    }
    let body = response.body;
    if (body === undefined || body === null) body = '';
    if (typeof body !== 'string') {
      body = JSONStringify(body);
      if (!('content-type' in headers)) headers['content-type'] = 'application/json';
    }
    let json = `{"statusCode":${status},"headers":{`;
    const names = ObjectKeys(headers);
    for (let i = 0; i < names.length; i++) {
      json += `${i > 0 ? ',' : ''}${JSONStringify(names[i])}:${JSONStringify(headers[names[i]])}`;
    }
    json += '}';
    // JSON.stringify(body) has no text for a function or a symbol: then, as
    // before, the response has no body and the host answers 500.
    if (typeof body === 'string') json += `,"body":${JSONStringify(body)}`;
    return `${json}}`;
  };
}
