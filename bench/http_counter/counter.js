// The HTTP counter Ken serves in bench/http_counter/run.sh. `counter` lives
// in the heap: each request is a turn, and its response is sent only after
// the checkpoint holding the incremented counter is durable (fsync'd).
var counter = 0;
var handleRequest = function (request, response) {
  if (request.uri === "/counter") { response.statusCode = 200; response.body = "Counter: " + (counter++); }
  else { response.statusCode = 404; }
};
