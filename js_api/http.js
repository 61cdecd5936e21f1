// The HTTP binding: each request is one turn that calls the global
// `handleRequest(request, response)` or the function given to
// ken.http.onRequest(fn) (which wins if both exist).
//   request:  { method, uri, path, query, headers, body }  (body: string)
//   response: { statusCode: 200, headers: {}, body: '' }
// A body that is not a string is sent as JSON (content-type set if absent).
// The node sends the response only after the turn's commit is durable.
//
// Runs as `function (natives, internals)`; sets internals.httpDispatch.
'use strict';
{
  let handler = null;
  const http = {
    onRequest(fn) {
      if (typeof fn !== 'function') throw new TypeError('ken.http.onRequest(handler): handler must be a function');
      handler = fn;
    },
  };
  internals.markNative(http.onRequest);
  internals.httpApi = Object.freeze(http);  // becomes ken.http (ken.js)

  // request: the fields above; returns the response as JSON text
  // {"statusCode": n, "headers": {...}, "body": "..."}, normalised.
  internals.httpDispatch = (request) => {
    const fn = handler !== null ? handler : globalThis.handleRequest;
    if (typeof fn !== 'function') {
      throw new Error('no HTTP handler: define a global handleRequest(request, response) or call ken.http.onRequest(fn)');
    }
    const response = { statusCode: 200, headers: {}, body: '' };
    fn(request, response);
    return response;
  };
  internals.httpResponseJson = (response) => {
    let status = Number(response.statusCode);
    if (!Number.isInteger(status) || status < 100 || status > 599) {
      throw new RangeError(`response.statusCode ${String(response.statusCode)} is not an HTTP status (100-599)`);
    }
    const headers = {};
    if (response.headers !== null && typeof response.headers === 'object') {
      for (const [k, v] of Object.entries(response.headers)) headers[String(k).toLowerCase()] = String(v);
    }
    let body = response.body;
    if (body === undefined || body === null) body = '';
    if (typeof body !== 'string') {
      body = JSON.stringify(body);
      if (!('content-type' in headers)) headers['content-type'] = 'application/json';
    }
    return JSON.stringify({ statusCode: status, headers, body });
  };
}
